"""What the pickers offer: the default pair, models, preset pairs, paradigms and their settings,
tasks and their examples; plus the device banner and the warm-up after the server starts."""
from __future__ import annotations

import os
import threading
from typing import Any, Mapping

import torch

from ..models import PRESET_PAIRS, embedded_models, embedded_role, resolve_ref
from ..models.controls import PREFIX as CONTROL_PREFIX
from ..models.loading import embedded_pair, hub_cached_path
from ..models.provider import MODELS
from ..paradigms import SettingSpec, TransferError, get_paradigm, paradigm_names, settings_of
from ..infra.budget import format_bytes, format_duration
from ..tasks import get_task
from ..tasks.toyworld import TOY_TASKS
from ..transfer import TransferRequest, free_memory_for, prepare
from .inputs import LabError, as_int, as_text, lab_limits, form_settings, readable

__all__ = ["TOY_TASKS", "task_choices", "default_pair", "model_choices", "preset_choices", "preset_pair",
           "paradigm_choices", "paradigm_description", "paradigm_title", "presets",
           "default_preset", "ui_settings", "transfer_plan",
           "task_example", "device_banner", "warm_up"]


def task_choices() -> list[str]:
    """The toy tasks the page offers: in public mode without an adequate sandbox, not the ones
    that run model-written code (get_task would refuse them)."""
    from ..sandbox import isolation_adequate
    from ..tasks import CODE_TASKS

    if lab_limits().public and not isolation_adequate():
        return [t for t in TOY_TASKS if t not in CODE_TASKS]
    return list(TOY_TASKS)


def default_pair() -> tuple[str, str]:
    """The embedded teacher and student when built, else the embedded preset's names."""
    return embedded_pair() or (PRESET_PAIRS[0].teacher, PRESET_PAIRS[0].student)


def model_choices() -> list[tuple[str, str]]:
    """(label, reference) for the pickers: the embedded family, then the preset hub models."""
    out = [(f"{name} · embedded {embedded_role(name) or 'model'} · offline", name)
           for name in embedded_models()]
    # the controls: a teacher's own weights, shuffled (same statistics, no knowledge)
    out += [(f"{CONTROL_PREFIX}{name} · control: the {embedded_role(name)}'s weights shuffled",
             f"{CONTROL_PREFIX}{name}") for name in embedded_models()
            if embedded_role(name) not in (None, "student")]
    seen = {ref for _, ref in out}
    for preset in PRESET_PAIRS:
        for ref in (preset.teacher, preset.student):
            if ref in seen or "/" not in ref:
                continue
            seen.add(ref)
            cached = hub_cached_path(ref) is not None
            out.append((f"{ref} · {'cached locally' if cached else preset.note}", ref))
    return out


def preset_choices() -> list[tuple[str, str]]:
    t, s = default_pair()
    out = [(f"embedded tiny family ({t} → {s}) · offline, CPU", "embedded")]
    out += [(f"{p.name} · {p.note}", p.name) for p in PRESET_PAIRS[1:]]
    return out


def preset_pair(name: str | None) -> tuple[str, str]:
    if name in (None, "", "embedded"):
        return default_pair()
    for preset in PRESET_PAIRS:
        if preset.name == name:
            return preset.teacher, preset.student
    raise LabError(f"unknown preset pair '{name}'")


def paradigm_choices() -> list[tuple[str, str]]:
    """(title, name) of every registered paradigm, in the results table's order."""
    return [(get_paradigm(name).title, name) for name in paradigm_names()]


def paradigm_title(name: str) -> str:
    try:
        return get_paradigm(name).title
    except TransferError:
        return str(name)


def paradigm_description(name: str) -> str:
    return get_paradigm(name).description


def presets(paradigm: str) -> dict[str, dict[str, Any]]:
    """A paradigm's named defaults ('research' first), each as full setting values for its UI."""
    spec = get_paradigm(paradigm)
    base = {s.name: s.default for s in ui_settings(paradigm)}
    return {name: {**base, **{k: v for k, v in spec.preset(name).items() if k in base}}
            for name in spec.presets}


def default_preset(paradigm: str, teacher: str | None = None) -> str:
    """'lab' (tuned at the embedded family's width) for an embedded teacher when the paradigm has
    it, else 'research' (the paper's settings, made for 7B-13B widths)."""
    try:
        embedded = resolve_ref(teacher or default_pair()[0]).kind == "embedded"
    except ValueError:  # not a model (yet): the pair check says why; keep the paper's settings
        embedded = False
    return "lab" if embedded and "lab" in get_paradigm(paradigm).presets else "research"


def ui_settings(paradigm: str) -> list[SettingSpec]:
    """The settings a paradigm shows on the page, read from its config dataclass."""
    spec = get_paradigm(paradigm)
    return [s for s in settings_of(spec.name, spec.config_class) if s.ui]


def transfer_plan(paradigm: str, teacher: str | None, student: str, task: str,
                  settings: Mapping[str, Any] | None = None, preset: str | None = None,
                  eval_limit: Any = None) -> str:
    """What "Run transfer" would do, as Markdown, without loading any weights: the paradigm and
    its one-line description, the pair, the defaults and the expected run time
    (`transfer.prepare`'s estimate). `settings` is the settings form, read as changes to `preset`
    (None = the preset the page picks for this teacher); `eval_limit` None = the page's default,
    `UI_EVAL_LIMIT`. Any refusal is one readable line."""
    from .jobs import UI_EVAL_LIMIT  # jobs → housekeeping → saved_runs imports this module

    try:
        spec = get_paradigm(paradigm)
        preset = preset or default_preset(paradigm, teacher)
        items = as_int(UI_EVAL_LIMIT if eval_limit is None else eval_limit,
                       "the number of test items", 1, cap="eval_limit")
        request = TransferRequest(paradigm=paradigm, student=as_text(student, "the student"),
                                  teacher=(teacher or "").strip() or None,
                                  task=as_text(task, "the task"), preset=preset, eval_limit=items,
                                  settings=form_settings(paradigm, settings or {}, preset))
        prepared = prepare(request, lab_limits())
        pair = _pair_line(request.teacher if spec.needs_teacher else None, request.student,
                          spec.title)
    except Exception as err:  # noqa: BLE001 — the plan is advice: one line, never a traceback
        return f"⚠️ {readable(err)}"
    seconds, peak = prepared.estimated_seconds, prepared.estimated_peak_bytes
    when = ("the run time cannot be estimated for this paradigm" if seconds is None else
            f"expected run time **about {format_duration(seconds)}**")
    memory = "" if peak is None else f" · peak model memory about {format_bytes(peak)}"
    free = free_memory_for(request, spec.needs_teacher)  # as a public lab's refusal reads it
    if peak is not None and free is not None and peak > free:
        memory += f" — **more than the {format_bytes(free)} free here**"
    return (f"**{spec.title}** — {spec.description}.\n\n{pair} · `{preset}` defaults · {when}"
            f"{memory} ({items} test items scored before and after; estimated before any weight "
            f"loads)")


def _pair_line(teacher: str | None, student: str, title: str) -> str:
    def sized(ref: str) -> str:
        shape = MODELS.shape(ref)
        return f"`{ref}` ({shape.n_layers} × {shape.hidden})"

    if teacher is None:
        return f"student {sized(student)} · no teacher: {title} does not use one"
    return f"teacher {sized(teacher)} → student {sized(student)}"


def task_example(task: str, index: Any = 0, split: str = "extract") -> tuple[str, str]:
    """(prompt, answer) of one example of a task split, as LaTen locates it."""
    examples = get_task(as_text(task, "the task")).split(split)
    if not examples:
        raise LabError(f"the {split} split of '{task}' is empty")
    ex = examples[as_int(index, "the example number", 0, len(examples) - 1)]
    return ex.prompt, ex.answer


def device_banner() -> str:
    if os.environ.get("SPACES_ZERO_GPU"):
        return "⚡ **ZeroGPU Space**: every heavy action borrows a GPU for its duration."
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        count = torch.cuda.device_count()
        return (f"⚡ **GPU: {props.name}** ({props.total_memory / 2**30:.0f} GiB"
                f"{f', {count} devices' if count > 1 else ''}) — models load in bf16 (fp16 before Ampere).")
    n = torch.get_num_threads()
    return (f"🖥️ **CPU only** ({n} thread{'s' if n != 1 else ''}) — the embedded tiny family is "
            "made for this; hub pairs will be slow.")


def warm_up(load_models: bool = True) -> None:
    """Import the heavy libraries and inspect (and load) the default pair in a daemon thread, so
    the first visitor does not pay for it. Called after the server is up, never at import."""
    from .pair_tabs import pair_report

    def work() -> None:
        try:
            teacher, student = default_pair()
            pair_report(teacher, student)
            if load_models and not os.environ.get("SPACES_ZERO_GPU"):
                for ref in (student, teacher):
                    if resolve_ref(ref).kind == "embedded":
                        MODELS.get(ref)
        except Exception:  # noqa: BLE001 — a warm-up failure only means a slower first click
            pass

    threading.Thread(target=work, name="pkt-warm-up", daemon=True).start()
