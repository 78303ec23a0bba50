"""The Learn tab: a guided path through the live tabs, one step per tab, each with the inputs the
page fills in when its button opens that tab.

The prose is `learn.md`, a template: every number in it is filled here from its source — the
models' configs, `paper.py`, the lab's defaults, the paradigm registry, the shipped results
(assets/results/RESULTS.json, the shipped incompatibility curve) and, with `live=True`, a locate of the
first example — so Learn cannot drift from what the tabs show.
"""
from __future__ import annotations

import functools
import inspect
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from .. import paper
from ..analyse import compare_layer_attribution
from ..models import ModelShape, resolve_ref
from ..models.config_check import checked_shape
from ..models.controls import PREFIX as CONTROL_PREFIX
from ..models.provider import MODELS
from ..paradigms import (compared_paradigms, default_paradigm, get_paradigm,
                         paradigm_names)
from ..infra.paths import results_dir
from ..stats import paired_change_ci
from .catalog import default_pair, default_preset, task_example
from .compare import QUICK_EVAL_ITEMS, default_prompt
from .inputs import lab_limits
from .pair_tabs import curve_file, locate_both
from .saved_runs import default_run_pick, model_scores
from .views import token_label

TEMPLATE = Path(__file__).with_name("learn.md")
TABS = ("pair", "locate", "incompat", "transfer", "compare", "runs")  # the page's tab ids
# Learn's worked example: the first extract example of this task (what Locate opens with).
LEARN_TASK, LEARN_EXAMPLE = "facts", 0


@dataclass(frozen=True)
class LearnStep:
    """One step of the path: its text and the tab its button opens, with the inputs to fill.

    `inputs` maps the target tab's widget names to values ("teacher"/"student" are the Pair
    tab's pickers, which every tab shares)."""
    key: str
    title: str
    markdown: str
    tab: str  # one of TABS
    inputs: dict[str, Any] = field(default_factory=dict)
    button: str = ""


def learn_steps(live: bool = False) -> list[LearnStep]:
    """The guided path, in order. `live=True` locates the first example in the default pair (it
    loads the models, a few seconds once) so that step states what Locate will show; without it
    no model is loaded and that step says what to look for instead."""
    facts = learn_facts(live)
    targets = _targets(facts)
    steps = []
    for key, title, body in _sections():
        tab, inputs, button = targets[key]
        steps.append(LearnStep(key, title, body.format_map(facts).strip(), tab, inputs, button))
    return steps


def learn_markdown(live: bool = False) -> str:
    """The whole path as one Markdown text (the Learn tab's text; see `learn_steps`)."""
    return "\n\n".join(f"## {s.title}\n\n{s.markdown}" for s in learn_steps(live))


def _sections() -> list[tuple[str, str, str]]:
    """(key, title, body) of each step of the template, in order."""
    text = re.sub(r"<!--(?!\s*step:).*?-->", "", TEMPLATE.read_text(encoding="utf-8"), flags=re.S)
    parts = re.split(r"<!--\s*step:\s*(\w+)\s*-->", text)[1:]
    out = []
    for key, chunk in zip(parts[::2], parts[1::2]):
        heading, _, body = chunk.strip().partition("\n")
        out.append((key, heading.lstrip("# ").strip(), body))
    return out


def _targets(facts: dict[str, str]) -> dict[str, tuple[str, dict[str, Any], str]]:
    """key → (tab, inputs, button label) of each step."""
    teacher, student = facts["teacher"], facts["student"]
    prompt, answer = task_example(LEARN_TASK, LEARN_EXAMPLE)
    paradigm = default_paradigm()
    chosen = {"paradigm": paradigm, "task": LEARN_TASK, "preset": facts["transfer_preset"]}
    return {
        "pair": ("pair", {"preset": "embedded", "teacher": teacher, "student": student},
                 "Open Pair with the embedded pair"),
        "locate": ("locate", {"task": LEARN_TASK, "index": LEARN_EXAMPLE, "prompt": prompt,
                              "answer": answer},
                   f"Open Locate on {LEARN_TASK} example {LEARN_EXAMPLE}"),
        "incompat": ("incompat", {"task": LEARN_TASK, "metric": "cka"},
                     "Open the heatmaps (linear CKA)"),
        "transfer": ("transfer", {**chosen, "teacher": teacher},
                     f"Open Transfer: {get_paradigm(paradigm).title}, "
                     f"{facts['transfer_preset']} defaults"),
        "control": ("transfer", {**chosen, "teacher": facts["control"]},
                    f"Open Transfer from the control {facts['control']}"),
        "compare": ("compare", {"prompt": default_prompt(), "quick_task": LEARN_TASK,
                                "quick_n": int(facts["quick_items"])},
                    f"Open Compare with a {LEARN_TASK} question"),
        "runs": ("runs", {"pick": default_run_pick()}, "Open Runs at the newest finished run"),
    }


def learn_facts(live: bool = False) -> dict[str, str]:
    """Every value the template quotes, formatted as it appears (name → text)."""
    teacher, student = default_pair()
    facts = {"teacher": teacher, "student": student, "task": LEARN_TASK,
             **_pair_facts(teacher, student), **_paper_facts(), **_lab_facts(teacher)}
    facts["locate_reading"] = _locate_reading(teacher, student) if live else _LOCATE_HINT
    facts["results_reading"] = _results_reading(teacher, student, float(facts["level"]))
    lead = [model_scores(m).get(LEARN_TASK) for m in (teacher, student)]
    facts["teacher_lead"] = "?" if None in lead else f"{100 * (lead[0] - lead[1]):.1f}"
    return facts


def ratio(big: float, small: float) -> str:
    """A ratio as Learn writes it: whole when it is whole (2, 4), else one decimal (13.5)."""
    r = big / small
    return f"{r:.0f}" if abs(r - round(r)) < 1e-9 else f"{r:.1f}"


def config_shape(ref: str) -> ModelShape:
    """A model's shape from its config: a local model's config.json read directly (the page
    builds Learn at start, and importing transformers for AutoConfig takes seconds), else the
    provider's."""
    mref = resolve_ref(ref)
    config = (mref.path / "config.json") if mref.path is not None else None
    if config is not None and config.is_file():
        return checked_shape(SimpleNamespace(**json.loads(config.read_text(encoding="utf-8"))), ref)
    return MODELS.shape(ref)


def _pair_facts(teacher: str, student: str) -> dict[str, str]:
    try:
        t, s = config_shape(teacher), config_shape(student)
    except Exception:  # noqa: BLE001 — a hub pair offline: Learn still reads, with gaps
        return dict.fromkeys(("t_layers", "t_hidden", "s_layers", "s_hidden", "depth_ratio",
                              "width_ratio", "param_ratio"), "?")
    return {"t_layers": str(t.n_layers), "t_hidden": str(t.hidden), "s_layers": str(s.n_layers),
            "s_hidden": str(s.hidden), "depth_ratio": ratio(t.n_layers, s.n_layers),
            "width_ratio": ratio(t.hidden, s.hidden),
            "param_ratio": ratio(t.n_params, s.n_params) if t.n_params and s.n_params else "?"}


def published(row: str, column: str) -> float:
    """One cell of the paper's main table: the row whose name contains `row` (e.g. 'student')."""
    col = paper.TABLE_COLUMNS.index(column)
    return float(next(r for r in paper.TABLE if row in r[0])[col])


def _paper_facts() -> dict[str, str]:
    # The two benchmarks quoted are the table's first two (MMLU, GSM8K), named from its header.
    mmlu, gsm = paper.TABLE_COLUMNS[1:3]
    out = {"paper_pair": paper.PAIR, "mmlu_column": mmlu, "gsm_column": gsm}
    # the student, the teacher and every compared paradigm the paper's table has a row for
    rows = ["student", "teacher", *(get_paradigm(name).title for name in compared_paradigms())]
    cells = [f"{short_title(row)} {published(row, mmlu):.2f} / {published(row, gsm):.2f}"
             for row in rows if any(row in r[0] for r in paper.TABLE)]
    out["paper_numbers"] = ", ".join(cells)
    means = paper.SIMILARITY_MEANS
    low, high = min(means, key=means.get), max(means, key=means.get)
    out["sim_low"] = f"{means[low]:.3f} ({low})"
    out["sim_high"] = f"{means[high]:.3f} ({high})"
    vs_w, vs_rest = paper.PARAMETRIC_COSINES["teacher_piece"].split(" · ")
    out["piece_cosines"] = f"{vs_w} with W, {vs_rest} with W − BA"
    return out


def short_title(title: str) -> str:
    """A paradigm's title without its parenthesis ('Seeking (PostPKT)' → 'Seeking'), for prose
    that says the family beside it or reads aloud."""
    return title.split(" (")[0]


def _lab_facts(teacher: str) -> dict[str, str]:
    defaults = inspect.signature(paired_change_ci).parameters
    out = {"control": f"{CONTROL_PREFIX}{teacher}",
           "level": f"{100 * defaults['level'].default:g}",
           "resamples": f"{defaults['n_boot'].default:,}",
           "quick_items": str(min(QUICK_EVAL_ITEMS, lab_limits().lab_cap("quick_eval_items"))),
           "transfer_preset": default_preset(default_paradigm(), teacher)}
    compared = [get_paradigm(name) for name in compared_paradigms()]
    out["paradigm_list"] = "\n".join(
        f"* **{spec.family}** (*{short_title(spec.title)}*): {spec.learn or spec.description}."
        for spec in compared)
    out["compared_students"] = " and ".join(short_title(spec.title) for spec in compared) + " students"
    free = [get_paradigm(n).title for n in paradigm_names() if not get_paradigm(n).needs_teacher]
    out["teacher_free"] = " and ".join(f"**{short_title(title)}**" for title in free) or "Baselines"
    return out


_LOCATE_HINT = ("The summary's Spearman ρ says whether the two depth profiles rise and fall "
                "together; the top-k layer overlap, whether their strongest layers sit at the "
                "same relative depth. One example is not a rule: locate a second, read the "
                "stability table.")


def _signed(rho: float | None) -> str:
    return "n/a" if rho is None else f"{rho:+.2f}"  # as the Locate summary prints it


def _agreement(rho: float | None) -> str:
    """Words for a Spearman ρ, judged at the two decimals the summary prints."""
    if rho is None:
        return "cannot be compared (a flat curve)"
    rho = round(rho, 2)
    if rho >= 0.7:
        return "largely agree"
    if rho >= 0.4:
        return "partly agree"
    return "barely relate" if rho > -0.4 else "run opposite"


@functools.lru_cache(maxsize=4)
def _locate_reading(teacher: str, student: str) -> str:
    """What Locate shows on the first example, in words, with its numbers (cached per pair)."""
    try:
        prompt, answer = task_example(LEARN_TASK, LEARN_EXAMPLE)
        results = locate_both(teacher, student, prompt, answer)
    except Exception:  # noqa: BLE001 — Learn must read even when the models cannot be loaded
        return _LOCATE_HINT
    ffn, attn = (compare_layer_attribution(results["teacher"], results["student"], kind)
                 for kind in ("ffn", "attn"))
    target_id = results["teacher"].target_token_id
    target = token_label(MODELS.get(teacher).tokenizer.decode([target_id]), target_id)
    n = len(ffn.student_scores)
    step = 12 / (n * (n * n - 1)) if n > 1 else 0.0  # Spearman's ρ moves in steps of 12/(n³−n)
    shared = {0.0: "their strongest layers sit at different depths",
              1.0: "their strongest layers sit at the same depth"}
    overlap = shared.get(ffn.top_overlap if ffn.top_overlap == attn.top_overlap else -1.0,
                         "they share some of their strongest layers")
    overlaps = (f"{ffn.top_overlap:.2f} for both" if ffn.top_overlap == attn.top_overlap else
                f"{ffn.top_overlap:.2f} (FFN) and {attn.top_overlap:.2f} (attention)")
    return (f"**The first `{LEARN_TASK}` example** (target {target}): the FFN depth profiles "
            f"{_agreement(ffn.profile_spearman)} (Spearman ρ {_signed(ffn.profile_spearman)}), the "
            f"attention ones {_agreement(attn.profile_spearman)} ({_signed(attn.profile_spearman)})"
            f"; with {n} student layers ρ moves in steps of {step:.2g}. Top-{ffn.top_k} layer "
            f"overlap {overlaps}: {overlap}. A second example fills the stability table.")


# ---- the embedded pair's measured results (the last step) ------------------------------------------
def _points(x: float) -> str:
    return f"{100 * x:+.1f}"


def _sci(x: float) -> str:
    """5.9e-04 → '5.9 × 10⁻⁴'."""
    mantissa, exponent = f"{x:.1e}".split("e")
    return f"{mantissa} × 10" + str(int(exponent)).translate(str.maketrans("-0123456789",
                                                                          "⁻⁰¹²³⁴⁵⁶⁷⁸⁹"))


def beats_control(series: list[dict[str, Any]]) -> int:
    """Points of a curve series where the teacher's paired interval against its control is above 0."""
    return sum(point["vs_shuffled"]["ci95"][0] > 0 for point in series)


def _results_reading(teacher: str, student: str, level: float) -> str:
    """The measured results of this pair in a few sentences, or a line saying why there are none."""
    try:
        results = json.loads((results_dir() / "RESULTS.json").read_text(encoding="utf-8"))
        curve = json.loads(curve_file(teacher, student, LEARN_TASK).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "*The measured results (docs/RESULTS.md) are not part of this installation.*"
    if (results.get("teacher"), results.get("student")) != (teacher, student):
        return f"*The measured results are for {results.get('teacher')} → {results.get('student')}.*"
    try:
        return _results_sentences(results, curve, level)
    except (KeyError, IndexError, StopIteration, TypeError):  # files of another format
        return "*The measured results (docs/RESULTS.md) could not be read here.*"


def _change(cell: dict[str, Any]) -> str:
    lo, hi = cell["change_ci95"]
    return f"{_points(cell['change'])} points [{_points(lo)}, {_points(hi)}]"


def _teacher_sentence(name: str, rows: dict[str, Any], tasks: list[str]) -> str:
    """One paradigm's row of the results against its shuffled-teacher control, in words."""
    title, task = short_title(get_paradigm(name).title), LEARN_TASK
    cell, control = rows[name][task], rows[f"{name}@shuffled"][task]
    # Does the teacher add anything? Not if its lead over the shuffled control is inside half the
    # width of the paradigm's own interval.
    lead = cell["change"] - control["change"]
    half_width = (cell["change_ci95"][1] - cell["change_ci95"][0]) / 2
    verdict = ("the teacher adds nothing beyond it" if abs(lead) <= half_width
               else f"the teacher adds {_points(lead)} points over it")
    with_zero = sum(lo <= 0 <= hi for lo, hi in (rows[name][t]["change_ci95"] for t in tasks))
    around = ("every interval around zero" if with_zero == len(tasks)
              else f"{with_zero} of {len(tasks)} intervals around zero")
    return (f"{title}: `{task}` {_change(cell)}, shuffled control "
            f"{_points(control['change'])}, so {verdict}; all tasks "
            f"({', '.join(_points(rows[name][t]['change']) for t in tasks)}): {around}.")


def _results_sentences(results: dict[str, Any], curve: dict[str, Any], level: float) -> str:
    rows, tasks, task = results["rows"], results["tasks"], LEARN_TASK
    with_control = [n for n in paradigm_names() if n in rows and f"{n}@shuffled" in rows]
    free = [n for n in paradigm_names() if n in rows and not get_paradigm(n).needs_teacher]
    sentences = [_teacher_sentence(name, rows, tasks) for name in with_control]
    if free:
        sentences.append(" and ".join(short_title(get_paradigm(n).title) for n in free)
                         + ", with no teacher: "
                         + " and ".join(_points(rows[n][task]["change"]) for n in free) + ".")
    series, described = curve["series"], curve.get("paradigms", {})
    wins = [f"{beats_control(series[n])} of {len(series[n])} {short_title(d['title'])} points"
            for n, d in described.items()]
    comparisons = sum(len(series[n]) for n in described)
    chance = 100 * (1 - (level / 100) ** comparisons)
    return (f"**Shows** ({len(results['seeds'])} seeds, {len(tasks)} tasks, docs/RESULTS.md): "
            + " ".join(sentences)
            + f" On the curve the teacher beats its control at {' and '.join(wins)}; in "
            f"{comparisons} comparisons at {level:g} %, chance alone gives one such win "
            f"{chance:.0f} % of the time.")
