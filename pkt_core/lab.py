"""PKT Lab's UI-facing service layer: everything the dashboard (app.py) shows, as plain Python.

Each function takes and returns plain values (strings, numbers, table rows, Plotly figures) and
raises `LabError` with one readable sentence on bad input. Nothing here imports gradio, so tests,
notebooks and the CLI can call exactly what the page calls.

    pair_report(t, s)                  architecture cards + compatibility verdict
    locate_pair(t, s, prompt, answer)  layer curves, neuron maps, top neurons, stability
    similarity_view / parametric_view  the neural-incompatibility figures beside the paper's numbers
    TransferJob                        a transfer in a worker thread, polled for progress and losses
    compare_stream / quick_eval        side-by-side streamed generation and a per-item evaluation
    runs_rows / runs_chart / run_files the saved runs (shipped examples + the user's own)
    build_example_runs                 the small finished runs shipped under assets/runs
"""
from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import threading
import time
import uuid
import zipfile
from collections import OrderedDict
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import torch

from .models import (PRESET_PAIRS, IncompatiblePair, ModelNotAvailable, UnsupportedArchitecture,
                     check_pair, inspect_model, embedded_models, embedded_role, load_model, resolve_ref)
from .models import loading as _loading
from .runs import RunDir, default_runs_root, is_run_dir, list_runs

TOY_TASKS = ("facts", "arith", "complete", "write")
PARADIGM_ORDER = ("laten", "seeking", "lora", "pissa")
PLOT_HEIGHT = 340  # px, for the small live plots built here (figures.py fixes its own)
# The research's main table (PAPER_NOTES §8; Llama-2 chat 13B → 7B, as re-reported by SemAlign).
PUBLISHED_TABLE: tuple[tuple[str, float, float, float, float], ...] = (
    ("7B (student)", 44.20, 16.07, 14.05, 17.80),
    ("13B (teacher)", 52.90, 20.55, 18.75, 19.20),
    ("Seeking (PostPKT)", 49.60, 28.23, 15.44, 20.60),
    ("LaTen (PrePKT)", 44.40, 20.47, 14.63, 18.20),
    ("SemAlign", 50.30, 19.21, 17.34, 18.78),
)
PUBLISHED_COLUMNS = ("model", "MMLU", "GSM8K", "HumanEval", "MBPP")
TOY_FOR_BENCHMARK = {"facts": "MMLU", "arith": "GSM8K", "complete": "HumanEval", "write": "MBPP"}


class LabError(ValueError):
    """Bad input or an impossible request, said in one sentence a visitor can act on."""


_READABLE = (LabError, ModelNotAvailable, IncompatiblePair, UnsupportedArchitecture, ValueError,
             KeyError, FileNotFoundError, RuntimeError)


def readable(err: BaseException) -> str:
    """One line for the page: the message of a known error, never a traceback."""
    text = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
    text = text.strip() or type(err).__name__
    if isinstance(err, _READABLE):
        return text[0].upper() + text[1:] if text else text
    return f"{type(err).__name__}: {text}"


def _int(value: Any, name: str, lo: int | None = None, hi: int | None = None) -> int:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise LabError(f"{name} must be a number (got {value!r})") from None
    if not math.isfinite(number) or number != int(number):
        raise LabError(f"{name} must be a whole number (got {value!r})")
    number = int(number)
    if (lo is not None and number < lo) or (hi is not None and number > hi):
        raise LabError(f"{name} must be between {lo} and {hi} (got {number})")
    return number


def _float(value: Any, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise LabError(f"{name} must be a number (got {value!r})") from None
    if not math.isfinite(number):
        raise LabError(f"{name} must be a finite number (got {value!r})")
    return number


def _text(value: Any, name: str) -> str:
    text = (value or "").strip() if isinstance(value, str) or value is None else str(value).strip()
    if not text:
        raise LabError(f"{name} is empty: type something first")
    return text


# ==== models ====================================================================================
def default_pair() -> tuple[str, str]:
    """The embedded teacher and student when built, else the embedded preset's names."""
    roles = {embedded_role(name): name for name in embedded_models()}
    if "teacher" in roles and "student" in roles:
        return roles["teacher"], roles["student"]
    return PRESET_PAIRS[0].teacher, PRESET_PAIRS[0].student


def model_choices() -> list[tuple[str, str]]:
    """(label, reference) for the pickers: the embedded family, then the preset hub models."""
    out = [(f"{name} · embedded {embedded_role(name) or 'model'} · offline", name)
           for name in embedded_models()]
    seen = {ref for _, ref in out}
    for preset in PRESET_PAIRS:
        for ref in (preset.teacher, preset.student):
            if ref in seen or "/" not in ref:
                continue
            seen.add(ref)
            cached = _loading.hub_cached_path(ref) is not None
            out.append((f"{ref} · {'cached locally' if cached else preset.note}", ref))
    return out


def preset_choices() -> list[tuple[str, str]]:
    t, s = default_pair()
    out = [(f"embedded tiny family ({t} → {s}) · offline, CPU", "embedded")]
    out += [(f"{p.name} · {p.note}", p.name) for p in PRESET_PAIRS[1:]]
    return out


def preset_pair(name: str) -> tuple[str, str]:
    if name in (None, "", "embedded"):
        return default_pair()
    for preset in PRESET_PAIRS:
        if preset.name == name:
            return preset.teacher, preset.student
    raise LabError(f"unknown preset pair '{name}'")


# transformers switches torch's process-wide default dtype while it builds a model (to the
# config's dtype: bf16 for the embedded family). A build in one thread would then make a
# computation in another create bf16 tensors ("Expected scalar type Float but found BFloat16"),
# so builds here are serialised and never switch the default away from fp32.
_BUILD_LOCK = threading.RLock()


_IMPORT_LOCK = threading.Lock()
_TRANSFORMERS_READY = threading.Event()


def _import_transformers() -> None:
    """Import transformers' auto classes once, under a lock: its lazy module is not thread-safe,
    and two first requests at once could see it half-imported ("cannot import name …")."""
    if _TRANSFORMERS_READY.is_set():
        return
    with _IMPORT_LOCK:
        if not _TRANSFORMERS_READY.is_set():
            import transformers

            for name in ("AutoConfig", "AutoModelForCausalLM", "AutoTokenizer"):
                getattr(transformers, name)  # resolves the lazy attribute: imports its module
            _TRANSFORMERS_READY.set()


def inspect_shape(ref: str) -> Any:
    """`inspect_model`, serialised with the lab's other model builds (see _BUILD_LOCK)."""
    _import_transformers()
    with _BUILD_LOCK:
        return inspect_model(_text(ref, "the model reference"))


class ModelCache:
    """A few loaded models kept warm (keyed by resolved location); loads happen under a lock."""

    def __init__(self, size: int = 6) -> None:
        self.size = size
        self._items: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.RLock()

    def get(self, ref: str) -> Any:
        _import_transformers()
        ref = _text(ref, "the model reference")
        mref = resolve_ref(ref)
        key = f"{mref.kind}:{(mref.path.resolve() if mref.path else mref.hub_id)}"
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            with _BUILD_LOCK:
                loaded = load_model(mref)
            self._items[key] = loaded
            while len(self._items) > self.size:
                self._items.popitem(last=False)
            return loaded

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


MODELS = ModelCache()


def device_banner() -> str:
    if os.environ.get("SPACES_ZERO_GPU"):
        return "⚡ **ZeroGPU Space**: every heavy action borrows a GPU for its duration."
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        return (f"⚡ **GPU: {props.name}** ({props.total_memory / 2**30:.0f} GiB"
                f"{f', {torch.cuda.device_count()} devices' if torch.cuda.device_count() > 1 else ''})"
                " — models load in bf16 (fp16 before Ampere).")
    n = torch.get_num_threads()
    return (f"🖥️ **CPU only** ({n} thread{'s' if n != 1 else ''}) — the embedded tiny family is "
            "made for this; hub pairs will be slow.")


def warm_up(load_models: bool = True) -> None:
    """Import the heavy libraries and inspect (and load) the default pair in a daemon thread, so
    the first visitor does not pay for it. Called after the server is up, never at import."""
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


# ==== 1. pair ===================================================================================
@dataclass
class PairView:
    teacher_card: str
    student_card: str
    verdict: str
    ok: bool
    report: dict[str, Any] | None = None


def _availability(ref: str) -> str:
    mref = resolve_ref(ref)
    if mref.kind == "embedded":
        return "embedded, offline"
    if mref.kind == "run":
        return "a PKT Lab run directory"
    return _loading.ref_availability(mref)


def _card(role: str, ref: str, shape: Any, error: str | None) -> str:
    icon = "🎓" if role == "teacher" else "🎒"
    head = f"### {icon} {role.title()} — `{ref or '(none)'}`\n"
    if error:
        return head + f"\n⚠️ {error}\n"
    params = f"{shape.n_params / 1e6:,.2f} M" if shape.n_params else "?"
    rows = [("family", shape.family), ("layers", shape.n_layers), ("width (hidden)", shape.hidden),
            ("FFN width", shape.ffn),
            ("attention heads", f"{shape.n_heads} ({shape.n_kv_heads} KV) × {shape.head_dim}"),
            ("vocabulary", f"{shape.vocab:,}"), ("parameters", params),
            ("source", _availability(ref))]
    return head + "\n| property | value |\n|---|---|\n" + "".join(f"| {k} | {v} |\n" for k, v in rows)


def _local_tokenizer_vocab(ref: str) -> dict[str, int] | None:
    """The vocabulary when the model's files are here (never downloads)."""
    _import_transformers()
    from transformers import AutoTokenizer

    mref = resolve_ref(ref)
    path = mref.path or (_loading.hub_cached_path(mref.hub_id or "") if mref.hub_id else None)
    if path is None:
        return None
    return AutoTokenizer.from_pretrained(path).get_vocab()


def pair_report(teacher: str, student: str) -> PairView:
    """Cards side by side and the verdict; problems are reported inline, never raised."""
    shapes, errors = {}, {}
    for role, ref in (("teacher", teacher), ("student", student)):
        try:
            shapes[role] = inspect_shape(_text(ref, f"the {role}"))
        except Exception as err:  # noqa: BLE001 — shown in the card
            errors[role] = readable(err)
    cards = [_card(role, ref, shapes.get(role), errors.get(role))
             for role, ref in (("teacher", teacher), ("student", student))]
    if errors:
        said = "; ".join(f"{role}: {err.rstrip('.')}" for role, err in errors.items())
        verdict = f"**❌ cannot check this pair** — {said}."
        return PairView(*cards, verdict, False)
    try:
        vt, vs = _local_tokenizer_vocab(teacher), _local_tokenizer_vocab(student)
        same = True if vt is None or vs is None else vt == vs
        tok_note = "same tokenizer" if vt is not None and vs is not None and same else (
            "different tokenizers" if not same else "tokenizers not compared (not downloaded yet)")
    except Exception:  # noqa: BLE001
        same, tok_note = True, "tokenizers not compared"
    t, s = shapes["teacher"], shapes["student"]
    report = check_pair(t, s, same)
    from .paradigms import get_paradigm

    per = []
    for name in PARADIGM_ORDER:
        ok = check_pair(t, s, same, name).ok
        per.append(f"{get_paradigm(name).title} {'✓' if ok else '✗'}")
    ratio = f"{t.n_layers} × {t.hidden} → {s.n_layers} × {s.hidden}"
    if t.n_params and s.n_params:
        ratio += f"; the teacher has {t.n_params / s.n_params:.1f}× the parameters"
    if report.ok:
        verdict = f"**✅ compatible** — {ratio}.\n\n"
    else:
        verdict = f"**❌ incompatible:** {'; '.join(report.problems)}.\n\n"
    verdict += f"Per paradigm: {' · '.join(per)} ({tok_note})."
    if report.notes:
        verdict += "\n\nNotes: " + "; ".join(report.notes) + "."
    return PairView(*cards, verdict, report.ok, report.as_dict())


# ==== 2. locate =================================================================================
def task_example(task: str, index: Any = 0, split: str = "extract") -> tuple[str, str]:
    """(prompt, answer) of one example of a task split, as LaTen locates it."""
    from .tasks import get_task

    examples = get_task(_text(task, "the task")).split(split)
    if not examples:
        raise LabError(f"the {split} split of '{task}' is empty")
    ex = examples[_int(index, "the example number", 0, None) % len(examples)]
    return ex.prompt, ex.answer


@dataclass
class LocateView:
    layer_ffn: Any
    layer_attn: Any
    maps: dict[str, Any]  # 'teacher_ffn', 'student_ffn', 'teacher_attn', 'student_attn' → figure
    top_rows: list[list[Any]]
    summary: str
    state: dict[str, Any]
    seconds: float = 0.0


def _top_rows(role: str, data: dict[str, Any], layers: int = 3, neurons: int = 5) -> list[list[Any]]:
    import numpy as np

    rows = []
    for kind in ("ffn", "attn"):
        layer_scores = np.asarray(data[f"{kind}_layer_scores"], dtype=float)
        scores = np.asarray(data[f"{kind}_neuron_scores"], dtype=float)
        for layer in np.argsort(-layer_scores, kind="stable")[:layers].tolist():
            for rank, k in enumerate(np.argsort(-scores[layer], kind="stable")[:neurons].tolist(), 1):
                rows.append([role, "FFN" if kind == "ffn" else "attention", layer, rank, k,
                             round(float(scores[layer, k]), 6)])
    return rows


def _neuron_only(data: dict[str, Any]) -> dict[str, Any]:
    keys = ("ffn_neuron_scores", "attn_neuron_scores", "ffn_layer_scores", "attn_layer_scores")
    return {k: data[k] for k in keys}


def locate_pair(teacher: str, student: str, prompt: str, answer: str, chat: bool = True,
                normalise: bool = True, previous: dict[str, Any] | None = None) -> LocateView:
    """Logit-lens attribution in teacher and student for one example, with the figures.

    `previous` is the `state` of this session's last locate; when it was the same pair on another
    example, the summary says how stable the top neurons are between the two examples.
    """
    from .analyse import compare_layer_attribution, locate_stability
    from .figures import layer_score_curves, neuron_score_map
    from .locate import LocateConfig, locate
    from .tasks import render_chat

    prompt, answer = _text(prompt, "the prompt"), _text(answer, "the answer")
    started = time.perf_counter()
    text_prompt = render_chat(prompt) if chat else prompt
    results = {}
    for role, ref in (("teacher", teacher), ("student", student)):
        loaded = MODELS.get(ref)
        res = locate(loaded.model, loaded.tokenizer, loaded.spec, [(text_prompt, answer)],
                     LocateConfig(), top_k=10)
        results[role] = res.to_json()
    t_json, s_json = results["teacher"], results["student"]
    figs = {}
    for role, ref in (("teacher", teacher), ("student", student)):
        for kind in ("ffn", "attn"):
            fig = neuron_score_map(results[role], kind)
            what = "FFN neurons" if kind == "ffn" else "attention neurons"
            fig.update_layout(title={"text": f"{role}: {what}<br><sup>{ref}</sup>"})
            figs[f"{role}_{kind}"] = fig
    lines = ["| | FFN | attention |", "|---|---|---|"]
    cmp = {k: compare_layer_attribution(t_json, s_json, k) for k in ("ffn", "attn")}

    def fmt(x: Any) -> str:
        return "n/a" if x is None else f"{x:+.2f}"

    lines.append(f"| depth-profile agreement (Spearman ρ) | {fmt(cmp['ffn']['profile_spearman'])} | "
                 f"{fmt(cmp['attn']['profile_spearman'])} |")
    lines.append(f"| top-{cmp['ffn']['top_k']} layer overlap | {cmp['ffn']['top_overlap']:.2f} | "
                 f"{cmp['attn']['top_overlap']:.2f} |")
    maps = [", ".join(f"{p['teacher_layer']}→{p['student_layer']}" for p in cmp[k]["pairs"])
            for k in ("ffn", "attn")]
    lines.append(f"| LaTen's layer map (teacher → student) | {maps[0]} | {maps[1]} |")
    summary = (f"**Target token** `{t_json['target_token_id']}` · located in "
               f"{time.perf_counter() - started:.2f} s\n\n" + "\n".join(lines))
    state = {"teacher": teacher, "student": student, "prompt": prompt, "answer": answer,
             "teacher_json": _neuron_only(t_json), "student_json": _neuron_only(s_json)}
    if previous and previous.get("teacher") == teacher and previous.get("student") == student \
            and (previous.get("prompt"), previous.get("answer")) != (prompt, answer):
        parts = []
        for role in ("teacher", "student"):
            for kind in ("ffn", "attn"):
                st = locate_stability(previous[f"{role}_json"], state[f"{role}_json"], kind)
                parts.append(f"| {role} | {'FFN' if kind == 'ffn' else 'attention'} | top-{st['k']} "
                             f"| {st['mean']:.2f} | {st['chance']:.2f} |")
        summary += ("\n\n**Stability** against your previous example "
                    f"(“{previous['prompt'][:60]}…”): share of each layer's top neurons both "
                    "examples pick — LaTen re-locates with every example, so low overlap means it "
                    "moves different neurons each step.\n\n| model | kind | k | overlap | chance |\n"
                    "|---|---|---|---|---|\n" + "\n".join(parts))
    else:
        summary += ("\n\n*Locate a second example with the same pair to see how stable the top "
                    "neurons are.*")
    return LocateView(layer_score_curves(t_json, s_json, "ffn", normalise=normalise),
                      layer_score_curves(t_json, s_json, "attn", normalise=normalise), figs,
                      _top_rows("teacher", t_json) + _top_rows("student", s_json), summary, state,
                      time.perf_counter() - started)


# ==== 3. incompatibility ========================================================================
def similarity_view(teacher: str, student: str, task: str = "facts", metric: str = "cka",
                    n_texts: Any = 24, max_tokens: int = 768) -> tuple[Any, list[list[Any]], str]:
    """Representation-similarity heatmaps, the table beside the paper's means, and notes."""
    from .analyse import METRICS, representation_similarity
    from .figures import published_reference_table, similarity_heatmaps
    from .tasks import get_task

    if metric not in METRICS:
        raise LabError(f"unknown metric '{metric}'; choose cka or cosine")
    n = _int(n_texts, "the number of texts", 2, 256)
    task_obj = get_task(_text(task, "the task"))
    examples = task_obj.split("test")[:n]
    texts = [task_obj.full_text(ex) for ex in examples]
    t, s = MODELS.get(teacher), MODELS.get(student)
    result = representation_similarity(t, s, texts, metric=metric, max_tokens=max_tokens,
                                       inputs_description=f"{len(texts)} {task}/test examples")
    rows = [[r["module"], r["published_mean"],
             round(r["our_mean"], 3) if "our_mean" in r else None,
             round(r["our_std"], 3) if "our_std" in r else None]
            for r in published_reference_table(result)]
    notes = (f"**{result.label}** on {result.inputs_description}. The paper's Llama-2 means are "
             "beside ours; its metric is unspecified (values go negative), so compare the "
             "*ranking* of modules and the sign, not the digits — try the signed cosine.")
    if result.notes:
        notes += "\n\n" + " ".join(result.notes)
    return similarity_heatmaps(result), rows, notes


def parametric_view(teacher: str, student: str, rank: Any = 16) -> tuple[Any, str]:
    from .analyse import parametric_similarity
    from .figures import parametric_curves

    r = _int(rank, "the LoRA rank", 1, 256)
    result = parametric_similarity(MODELS.get(teacher), MODELS.get(student), rank=r)
    summary = result.summary()
    lines = ["| init | cos(BA, W) | cos(BA, W − BA) | the paper (Llama-2) |", "|---|---|---|---|"]
    paper = {"pissa": "≈ 0.15 · ≈ 0", "seeking": "≈ 0 · ≈ −0.12"}
    for method in ("pissa", "seeking"):
        vals = summary.get(method, {})
        orig = [v["vs_original"] for v in vals.values() if v["vs_original"] == v["vs_original"]]
        rem = [v["vs_remainder"] for v in vals.values() if v["vs_remainder"] == v["vs_remainder"]]
        avg = lambda xs: f"{sum(xs) / len(xs):+.3f}" if xs else "n/a"  # noqa: E731
        lines.append(f"| {method} | {avg(orig)} | {avg(rem)} | {paper[method]} |")
    text = ("Mean over layers and modules. A Seeking-style piece taken from the teacher is "
            "nearly orthogonal to what the student already has — the *parametric* side of "
            "neural incompatibility.\n\n" + "\n".join(lines))
    return parametric_curves(result), text


# ==== 4. transfer ===============================================================================
def paradigm_choices() -> list[tuple[str, str]]:
    from .paradigms import get_paradigm

    return [(f"{get_paradigm(n).title}", n) for n in PARADIGM_ORDER]


def paradigm_title(name: str) -> str:
    from .paradigms import TransferError, get_paradigm

    try:
        return get_paradigm(name).title
    except TransferError:
        return str(name)


def paradigm_defaults(name: str) -> dict[str, Any]:
    """The research's defaults, read from the paradigm's config dataclass (one place for them)."""
    from .paradigms import get_paradigm

    cls = get_paradigm(name).config_class
    return {f.name: f.default for f in fields(cls) if f.default is not MISSING}


def transfer_settings(paradigm: str, steps: Any = 0, transfer_rate: Any = None,
                      laten_lr: Any = None, rank: Any = None, epochs: Any = None,
                      lora_lr: Any = None, batch_size: Any = None) -> dict[str, Any]:
    """The UI's controls → the paradigm's config overrides (range checks stay in the config)."""
    if paradigm == "laten":
        out: dict[str, Any] = {}
        n = _int(steps if steps not in (None, "") else 0, "steps", 0, 10_000)
        if n:
            out["steps"] = n
        if transfer_rate not in (None, ""):
            out["transfer_rate"] = _float(transfer_rate, "the transfer rate")
        if laten_lr not in (None, ""):
            out["lr"] = _float(laten_lr, "the learning rate")
        return out
    if paradigm in ("seeking", "lora", "pissa"):
        out = {}
        if rank not in (None, ""):
            out["rank"] = _int(rank, "the LoRA rank", 1, 1024)
        if epochs not in (None, ""):
            out["epochs"] = _float(epochs, "epochs")
        if lora_lr not in (None, ""):
            out["lr"] = _float(lora_lr, "the learning rate")
        if batch_size not in (None, ""):
            out["batch_size"] = _int(batch_size, "the batch size", 1, 4096)
        return out
    raise LabError(f"unknown paradigm '{paradigm}'; choose one of {', '.join(PARADIGM_ORDER)}")


def new_run_dir(paradigm: str, task: str, root: Path | None = None) -> Path:
    """A run directory nobody else can pick: time + paradigm + task + a random suffix."""
    root = Path(root) if root is not None else default_runs_root()
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in task)
    return root / f"{time.strftime('%Y%m%d-%H%M%S')}-{paradigm}-{safe}-{uuid.uuid4().hex[:6]}"


def log_rows(run_dir: Path) -> list[dict[str, Any]]:
    """A run's log rows, read while the run may be appending (a half-written line is skipped)."""
    try:
        lines = (Path(run_dir) / "log.jsonl").read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    rows = []
    for line in lines:
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue
    return rows


@dataclass
class Snapshot:
    status: str  # 'running' | 'complete' | 'failed' | 'cancelled'
    done: int
    total: int
    message: str
    elapsed: float
    eta: float | None
    rows: list[dict[str, Any]]
    run_dir: Path
    error: str | None = None
    metrics: dict[str, Any] | None = None


class TransferJob:
    """One transfer in a worker thread; the page polls it (progress, log rows) and may cancel it."""

    def __init__(self, request: Any) -> None:
        self.request = request
        self.run_dir = Path(request.out)
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._progress = (0, 1, "starting")
        self._phase: tuple[int, str, float, int] = (1, "", time.perf_counter(), 0)
        self.started = time.perf_counter()
        self.result: Any = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="pkt-transfer", daemon=True)

    def start(self) -> "TransferJob":
        _import_transformers()
        from .transfer import prepare

        try:
            with _BUILD_LOCK:  # prepare() inspects both models (see _BUILD_LOCK)
                prepare(self.request)  # every refusal happens here, before a thread or a directory
        except Exception as err:  # noqa: BLE001
            raise LabError(readable(err)) from err
        self._thread.start()
        return self

    def _say(self, done: int, total: int, message: str) -> None:
        with self._lock:
            head = message.split(" ")[0]
            total_prev, head_prev, t0, done0 = self._phase
            if total != total_prev or head != head_prev:
                self._phase = (total, head, time.perf_counter(), done)
            self._progress = (done, total, message)

    def _work(self) -> None:
        from .transfer import run_transfer

        try:
            self.result = run_transfer(self.request, self._say, self._cancel.is_set)
        except BaseException as err:  # noqa: BLE001 — reported through snapshot()
            self.error = err

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def snapshot(self) -> Snapshot:
        from .paradigms.base import TransferCancelled

        with self._lock:
            done, total, message = self._progress
            total_p, _, t0, done0 = self._phase
        now = time.perf_counter()
        eta = None
        if done > done0 and total > done:
            eta = (now - t0) / (done - done0) * (total - done)
        rows = log_rows(self.run_dir)
        if self.running:
            return Snapshot("running", done, total, message, now - self.started, eta, rows, self.run_dir)
        if self.error is not None:
            status = "cancelled" if isinstance(self.error, TransferCancelled) else "failed"
            return Snapshot(status, done, total, message, now - self.started, None, rows,
                            self.run_dir, readable(self.error))
        return Snapshot("complete", total, total, "done", now - self.started, 0.0, rows,
                        self.run_dir, metrics=self.result.metrics if self.result else None)

    def watch(self, every: float = 0.5) -> Iterator[Snapshot]:
        """Snapshots while the job runs (one per `every` seconds), then the final one."""
        while self.running:
            yield self.snapshot()
            self._thread.join(every)
        yield self.snapshot()


class JobRegistry:
    """The running transfer of each visitor session, so that session's cancel button finds it."""

    def __init__(self) -> None:
        self._jobs: dict[str, TransferJob] = {}
        self._lock = threading.Lock()

    def busy(self, key: str) -> bool:
        with self._lock:
            job = self._jobs.get(key)
            return job is not None and job.running

    def add(self, key: str, job: TransferJob) -> None:
        with self._lock:
            self._jobs[key] = job

    def remove(self, key: str, job: TransferJob) -> None:
        with self._lock:
            if self._jobs.get(key) is job:
                del self._jobs[key]

    def cancel(self, key: str) -> bool:
        with self._lock:
            job = self._jobs.get(key)
        if job is None or not job.running:
            return False
        job.cancel()
        return True


JOBS = JobRegistry()


def start_transfer(paradigm: str, teacher: str, student: str, task: str,
                   settings: dict[str, Any], seed: Any = 0, eval_limit: Any = 50,
                   root: Path | None = None, session: str | None = None) -> TransferJob:
    """Validate and start a transfer in a worker thread, in a fresh run directory of its own."""
    from .transfer import TransferRequest

    if session is not None and JOBS.busy(session):
        raise LabError("a transfer is already running in this session; cancel it or wait")

    if paradigm not in PARADIGM_ORDER:
        raise LabError(f"unknown paradigm '{paradigm}'; choose one of {', '.join(PARADIGM_ORDER)}")
    task = _text(task, "the task")
    request = TransferRequest(paradigm=paradigm, student=_text(student, "the student"),
                              teacher=(teacher or "").strip() or None, task=task,
                              settings=settings, seed=_int(seed, "the seed", 0, 2**31 - 1),
                              out=str(new_run_dir(paradigm, task, root)),
                              eval_limit=_int(eval_limit, "the number of test items", 1, 10_000))
    job = TransferJob(request).start()
    if session is not None:
        JOBS.add(session, job)
    return job


def loss_figure(rows: Sequence[dict[str, Any]], title: str = "") -> Any:
    """The live loss curve of a run's log rows (LaTen: LM loss per example; LoRA: batch loss)."""
    import plotly.graph_objects as go

    steps = [r for r in rows if "step" in r and ("loss" in r or "lm_loss" in r)]
    fig = go.Figure()
    if steps and "lm_loss" in steps[0]:
        fig.add_trace(go.Scatter(x=[r["step"] for r in steps], y=[r["lm_loss"] for r in steps],
                                 mode="lines+markers", name="LM loss (mean per example)",
                                 hovertemplate="step %{x}<br>LM loss %{y:.4f}<extra></extra>"))
    elif steps:
        fig.add_trace(go.Scatter(x=[r["step"] for r in steps], y=[r["loss"] for r in steps],
                                 mode="lines+markers", name="training loss",
                                 hovertemplate="step %{x}<br>loss %{y:.4f}<extra></extra>"))
    fig.update_layout(height=PLOT_HEIGHT, title={"text": title or "Training loss"},
                      xaxis={"title": {"text": "step"}, **({"dtick": 1} if len(steps) <= 25 else {})},
                      yaxis={"title": {"text": "loss (answer tokens)"}},
                      margin={"t": 60, "b": 50, "l": 60, "r": 20}, showlegend=True)
    if not steps:
        fig.add_annotation(text="waiting for the first step…", showarrow=False, x=0.5, y=0.5,
                           xref="paper", yref="paper")
    return fig


def snapshot_markdown(snap: Snapshot, paradigm_title: str) -> str:
    if snap.status == "running":
        eta = f" · ETA {snap.eta:.0f} s" if snap.eta is not None else ""
        return (f"⏳ **{paradigm_title}** — {snap.message} ({snap.done}/{snap.total}){eta} · "
                f"{snap.elapsed:.0f} s elapsed")
    if snap.status == "complete":
        return f"✅ **{paradigm_title}** finished in {snap.elapsed:.0f} s — saved as `{snap.run_dir.name}`"
    icon = "⏹️" if snap.status == "cancelled" else "❌"
    return (f"{icon} **{paradigm_title} {snap.status}** after {snap.elapsed:.0f} s: {snap.error}. "
            f"Completed checkpoints are kept in `{snap.run_dir.name}`.")


def result_markdown(metrics: dict[str, Any] | None, paradigm_title: str) -> str:
    if not metrics:
        return ""
    base, res = metrics["base"], metrics["result"]
    return (f"| test split of `{metrics['task']}` ({res['n']} items) | score |\n|---|---|\n"
            f"| base student | {base['score']:.3f} |\n| {paradigm_title} student | {res['score']:.3f} |\n"
            f"| change | {metrics['delta']:+.3f} |")


# ==== 5. compare ================================================================================
SLOTS = ("base student", "PostPKT · Seeking", "PrePKT · LaTen", "teacher")


def lineup(student: str, seeking_run: str | None, laten_run: str | None, teacher: str | None,
           with_teacher: bool) -> list[tuple[str, str | None]]:
    """The four Compare slots as (label, reference or None)."""
    refs = [student, seeking_run, laten_run, teacher if with_teacher else None]
    return [(label, (ref or "").strip() or None) for label, ref in zip(SLOTS, refs)]


def _empty_slot(label: str) -> str:
    if label == "teacher":
        return "(teacher not included)"
    return f"(no {label.split('· ')[-1]} run chosen — pick a saved run or run a transfer)"


@torch.no_grad()
def _token_stream(loaded: Any, prompt: str, max_new_tokens: int, temperature: float,
                  seed: int) -> Iterator[str]:
    """Greedy (or seeded sampling) decoding one token at a time with a KV cache; yields the text
    so far, cut at the chat stop strings, as `pkt_core.evaluate.generate` cuts it."""
    from .tasks.base import STOP_STRINGS, cut_at_stop

    tok, model = loaded.tokenizer, loaded.model
    device = next(model.parameters()).device
    ids = tok(prompt, return_tensors="pt")["input_ids"].to(device)
    limit = getattr(model.config, "max_position_embeddings", None)
    if limit and ids.shape[1] + 1 > limit:
        raise LabError(f"the prompt is {ids.shape[1]} tokens; this model reads at most {limit}")
    if limit:
        max_new_tokens = min(max_new_tokens, limit - ids.shape[1])
    gen = torch.Generator(device="cpu").manual_seed(seed)
    eos = {tok.eos_token_id} if tok.eos_token_id is not None else set()
    extra = model.generation_config.eos_token_id
    eos |= set(extra if isinstance(extra, list) else [extra] if extra is not None else [])
    past, step_ids, out_ids = None, ids, []
    for _ in range(max_new_tokens):
        out = model(input_ids=step_ids, past_key_values=past, use_cache=True)
        past = out.past_key_values
        logits = out.logits[0, -1].float()
        if temperature > 0:
            probs = torch.softmax(logits / temperature, -1).cpu()
            nxt = int(torch.multinomial(probs, 1, generator=gen))
        else:
            nxt = int(logits.argmax())
        if nxt in eos:
            break
        out_ids.append(nxt)
        raw = tok.decode(out_ids, skip_special_tokens=False)
        if any(s in raw for s in STOP_STRINGS):
            yield cut_at_stop(tok.decode(out_ids, skip_special_tokens=True))
            return
        yield cut_at_stop(tok.decode(out_ids, skip_special_tokens=True))
        step_ids = torch.tensor([[nxt]], device=device)


def compare_stream(slots: Sequence[tuple[str, str | None]], prompt: str, max_new_tokens: Any = 64,
                   temperature: Any = 0.0, seed: Any = 0, chat: bool = True) -> Iterator[list[str]]:
    """Side-by-side generation: every round, each model adds one token; yields all texts."""
    from .tasks import render_chat

    prompt = _text(prompt, "the prompt")
    n_new = _int(max_new_tokens, "max new tokens", 1, 1024)
    temp = _float(temperature, "the temperature")
    if not 0 <= temp <= 5:
        raise LabError(f"the temperature must be between 0 and 5 (got {temp})")
    seed_i = _int(seed, "the seed", 0, 2**31 - 1)
    text = render_chat(prompt) if chat else prompt
    streams: list[Iterator[str] | None] = []
    texts: list[str] = []
    for label, ref in slots:
        if ref is None:
            streams.append(None)
            texts.append(_empty_slot(label))
            continue
        streams.append(_token_stream(MODELS.get(ref), text, n_new, temp, seed_i))
        texts.append("")
    live = [s is not None for s in streams]
    while any(live):
        for i, stream in enumerate(streams):
            if not live[i]:
                continue
            try:
                texts[i] = next(stream)  # type: ignore[arg-type]
            except StopIteration:
                live[i] = False
        yield list(texts)
    final = [t if t.strip() else "(empty answer: the model stopped at once)" for t in texts]
    yield final


def quick_eval(slots: Sequence[tuple[str, str | None]], task: str, n_items: Any = 10
               ) -> tuple[str, list[list[Any]]]:
    """Each chosen model on the first N test items: a score line each and a per-item table."""
    from .evaluate import evaluate_task
    from .tasks import get_task

    n = _int(n_items, "the number of test items", 1, 300)
    task_obj = get_task(_text(task, "the task"))
    chosen = [(label, ref) for label, ref in slots if ref]
    if not chosen:
        raise LabError("choose at least one model to evaluate")
    lines = [f"| model | `{task}` score on {n} test items |", "|---|---|"]
    rows: list[list[Any]] = []
    for label, ref in chosen:
        loaded = MODELS.get(ref)
        res = evaluate_task(loaded.model, loaded.tokenizer, task_obj, "test", n, model_name=ref)
        lines.append(f"| {label} (`{Path(ref).name if os.sep in ref else ref}`) | {res.score:.3f} |")
        for item in res.items:
            rows.append([label, item["id"], _short(item["reference"]), _short(item["output"]),
                         _short(item["extracted"], 60), "✓" if item["correct"] else "✗"])
    return "\n".join(lines), rows


def _short(text: Any, n: int = 160) -> str:
    text = str(text or "")
    return text if len(text) <= n else text[: n - 1] + "…"


# ==== 6. runs ===================================================================================
def example_runs_root() -> Path:
    """Finished example runs shipped with the lab (read-only)."""
    return Path(os.environ.get("PKT_EXAMPLE_RUNS_DIR", _loading.ASSETS_DIR / "runs"))


def all_runs() -> list[dict[str, Any]]:
    """The user's runs (newest first), then the shipped examples, each tagged with its source."""
    out = []
    user, example = default_runs_root().resolve(), example_runs_root().resolve()
    for root, source in ((user, "saved"), (example, "example")):
        if source == "example" and root == user:
            continue
        for row in list_runs(root):
            row["source"] = source
            out.append(row)
    return out


def _run_label(row: dict[str, Any]) -> str:
    scores = "" if row.get("result_score") is None else \
        f" · {row['base_score']:.2f} → {row['result_score']:.2f}"
    tag = "example" if row["source"] == "example" else "saved"
    return f"{row['name']} ({tag}; {row['task']}{scores})"


def run_choices(paradigm: str | None = None, finished_only: bool = True) -> list[tuple[str, str]]:
    return [(_run_label(r), r["path"]) for r in all_runs()
            if (paradigm is None or r["paradigm"] == paradigm) and (r["finished"] or not finished_only)]


def default_run(paradigm: str, student: str | None = None) -> str | None:
    rows = [r for r in all_runs() if r["paradigm"] == paradigm and r["finished"]]
    preferred = [r for r in rows if student and r["student"] == student]
    return (preferred or rows or [{"path": None}])[0]["path"]


RUN_COLUMNS = ["source", "run", "paradigm", "task", "teacher → student", "status", "base",
               "result", "change"]


def runs_rows(mine: Sequence[str] = ()) -> list[list[Any]]:
    """Table rows of every run; `mine` (this session's run paths) are tagged 'this session'."""
    mine_set = {str(Path(p).resolve()) for p in mine or ()}
    rows = []
    for r in all_runs():
        if r["path"] in mine_set:
            r["source"] = "this session"
        status = r["status"] if r["finished"] or r["status"] != "complete" else "complete (no weights)"
        base, res = r.get("base_score"), r.get("result_score")
        pair = f"{r['teacher']} → {r['student']}" if r["teacher"] else f"(no teacher) → {r['student']}"
        rows.append([r["source"], r["name"], r["paradigm"], r["task"], pair, status, _round(base), _round(res),
                     _round(res - base) if base is not None and res is not None else None])
    return rows


def _round(x: Any) -> Any:
    return None if x is None else round(float(x), 3)


def _teacher_scores(teacher: str | None) -> dict[str, float]:
    if not teacher:
        return {}
    try:
        mref = resolve_ref(teacher)
        data = json.loads(((mref.path or Path()) / "scores.json").read_text())
        return {t: float(v["score"]) for t, v in data.get("scores", {}).items()}
    except (OSError, ValueError, ModelNotAvailable, KeyError, TypeError):
        return {}


def runs_chart() -> Any:
    """Bars in the shape of the research's table: per task, the student, the teacher and each
    paradigm (mean over runs, whiskers = min/max)."""
    import plotly.graph_objects as go

    runs = [r for r in all_runs() if r.get("result_score") is not None]
    tasks = sorted({r["task"] for r in runs}, key=lambda t: (t not in TOY_TASKS, t))
    series: dict[str, dict[str, list[float]]] = {"student (base)": {}}
    teacher_row: dict[str, list[float]] = {}
    for r in runs:
        series["student (base)"].setdefault(r["task"], []).append(r["base_score"])
        title = paradigm_title(r["paradigm"])
        series.setdefault(title, {}).setdefault(r["task"], []).append(r["result_score"])
        for task, score in _teacher_scores(r["teacher"]).items():
            if task == r["task"]:
                teacher_row.setdefault(task, [score])
    # the research's row order: student, teacher, Seeking, LaTen, then the baselines
    order = ["student (base)", "teacher (scores.json)"] + [paradigm_title(p) for p in
                                                           ("seeking", "laten", "lora", "pissa")]
    if teacher_row:
        series["teacher (scores.json)"] = teacher_row
    series = dict(sorted(series.items(),
                         key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)))
    fig = go.Figure()
    for name, per_task in series.items():
        means = [sum(per_task[t]) / len(per_task[t]) if per_task.get(t) else None for t in tasks]
        lo = [m - min(per_task[t]) if per_task.get(t) else 0 for m, t in zip(means, tasks)]
        hi = [max(per_task[t]) - m if per_task.get(t) else 0 for m, t in zip(means, tasks)]
        counts = [len(per_task.get(t, [])) for t in tasks]
        fig.add_trace(go.Bar(name=name, x=tasks, y=means, customdata=counts,
                             error_y={"type": "data", "symmetric": False, "array": hi,
                                      "arrayminus": lo},
                             hovertemplate=(f"{name}<br>%{{x}}: %{{y:.3f}} (%{{customdata}} runs)"
                                            "<extra></extra>")))
    fig.update_layout(barmode="group", height=380,
                      title={"text": "Test scores by task — the research's table at the lab's scale"},
                      xaxis={"title": {"text": "task"}},
                      yaxis={"title": {"text": "test score"}, "range": [0, 1]},
                      margin={"t": 60, "b": 50, "l": 60, "r": 20})
    if not runs:
        fig.add_annotation(text="no finished runs yet", showarrow=False, x=0.5, y=0.5,
                           xref="paper", yref="paper")
    return fig


def published_rows() -> list[list[Any]]:
    return [list(row) for row in PUBLISHED_TABLE]


def _checked_run(path: str) -> Path:
    """A run directory under one of the runs roots (never an arbitrary path on the server)."""
    text = _text(path, "the run")
    candidate = Path(text).resolve()
    roots = [default_runs_root().resolve(), example_runs_root().resolve()]
    if not any(candidate.is_relative_to(root) for root in roots):
        for root in roots:  # a bare run name
            if (root / text).is_dir():
                candidate = (root / text).resolve()
                break
        else:
            raise LabError(f"'{text}' is not a saved run")
    if not is_run_dir(candidate):
        raise LabError(f"'{text}' is not a saved run")
    return candidate


def run_detail(path: str) -> tuple[str, Any, dict[str, Any]]:
    """A run's summary (markdown), its loss curve and its config."""
    run = RunDir(_checked_run(path))
    config, status = run.read_json("config.json", {}), run.read_json("status.json", {})
    metrics = run.read_json("metrics.json", {})
    title = paradigm_title(config.get("paradigm", "?"))
    md = (f"### `{run.path.name}`\n**{title}** on `{config.get('task')}` · teacher "
          f"`{config.get('teacher') or '—'}` → student `{config.get('student')}` · status "
          f"**{status.get('status')}** ({status.get('message', '')})\n\n")
    md += result_markdown(metrics, title) if metrics else "No scores (the run did not finish)."
    note = run.read_json("example.json")
    if note:
        md += f"\n\n*Shipped example run:* {note.get('note', '')}"
    return md, loss_figure(log_rows(run.path), f"{title}: training loss"), config


def run_files(path: str) -> list[str]:
    """Copies of a run's files for download: config, metrics, log, figure HTML/JSON, model zip."""
    from .figures import save_figure

    src = _checked_run(path)
    out = Path(tempfile.mkdtemp(prefix="pkt-download-")) / src.name
    out.mkdir(parents=True)
    files = []
    for name in ("config.json", "status.json", "metrics.json", "artifacts.json", "log.jsonl",
                 "example.json"):
        if (src / name).is_file():
            shutil.copy2(src / name, out / name)
            files.append(str(out / name))
    run, rows = RunDir(src), log_rows(src)
    html, data = save_figure(loss_figure(rows, f"{src.name}: training loss"),
                             out / "loss_figure.html", data={"log": rows})
    files += [str(html), str(data)]
    artifacts = run.read_json("artifacts.json", {})
    if isinstance(artifacts.get("alignment"), dict) and "matrices" in artifacts["alignment"]:
        from .figures import alignment_heatmaps

        html, data = save_figure(alignment_heatmaps(artifacts["alignment"]),
                                 out / "alignment_figure.html", data=artifacts["alignment"])
        files += [str(html), str(data)]
    for folder in ("model", "adapter"):
        if (src / folder).is_dir():
            archive = out / f"{folder}.zip"
            with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
                for f in sorted((src / folder).rglob("*")):
                    if f.is_file():
                        zf.write(f, f"{folder}/{f.relative_to(src / folder)}")
            files.append(str(archive))
    return files


# ==== example runs =============================================================================
EXAMPLE_SETTINGS: dict[str, dict[str, Any]] = {
    "laten": {"steps": 4},  # the paper's best step for MMLU is 2; 4 shows a curve
    "seeking": {"epochs": 1.0},
    "lora": {"epochs": 1.0},
    "pissa": {"epochs": 1.0},
}


def _to_bf16(model_dir: Path) -> None:
    """Rewrite a saved model's safetensors in bf16 (the embedded family is stored so too)."""
    from safetensors.torch import load_file, save_file

    for path in sorted(model_dir.glob("*.safetensors")):
        tensors = {k: (v.to(torch.bfloat16) if v.is_floating_point() else v).contiguous()
                   for k, v in load_file(path).items()}
        save_file(tensors, str(path), metadata={"format": "pt"})


def _dir_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def build_example_runs(out: str | Path = "assets/runs", teacher: str | None = None,
                       student: str | None = None, task: str = "facts",
                       paradigms: Sequence[str] = PARADIGM_ORDER,
                       keep_weights: Sequence[str] = ("laten", "seeking"),
                       settings: dict[str, dict[str, Any]] | None = None, eval_limit: int = 50,
                       seed: int = 0, overwrite: bool = False,
                       progress: Callable[[str], None] | None = print) -> dict[str, Any]:
    """One small finished run per paradigm for the embedded pair, so Compare and Runs are alive
    on a visitor's first load.

    Size policy (assets/ must stay small): checkpoints/ and adapter/ are dropped; model/ is kept
    only for `keep_weights` (what Compare needs) and rewritten in bf16 — the embedded student is
    stored in bf16 already, so only the transferred change is rounded. The stored model is scored
    again on the same items and the score written beside the original in metrics.json, so what
    the page shows is what the shipped weights do. Other runs keep config, log, metrics and
    artifacts (their bars and curves) without weights.
    """
    from .transfer import TransferRequest, run_transfer

    say = progress or (lambda message: None)
    t_default, s_default = default_pair()
    teacher, student = teacher or t_default, student or s_default
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {"out": str(root), "runs": {}}
    for paradigm in paradigms:
        run_dir = root / f"example-{paradigm}-{task}"
        if run_dir.exists():
            if not overwrite:
                say(f"{run_dir} exists; kept (overwrite=True rebuilds it)")
                summary["runs"][paradigm] = {"path": str(run_dir), "skipped": True}
                continue
            shutil.rmtree(run_dir)
        started = time.perf_counter()
        say(f"{paradigm}: running on {teacher} → {student}, task {task}")
        req = TransferRequest(paradigm=paradigm, student=student, teacher=teacher, task=task,
                              settings={**EXAMPLE_SETTINGS.get(paradigm, {}),
                                        **(settings or {}).get(paradigm, {})},
                              seed=seed, out=str(run_dir), eval_limit=eval_limit)
        result = run_transfer(req)
        for folder in ("checkpoints", "adapter"):
            shutil.rmtree(run_dir / folder, ignore_errors=True)
        run = RunDir(run_dir)
        metrics = run.read_json("metrics.json", {})
        if paradigm in keep_weights:
            _to_bf16(run_dir / "model")
            from .evaluate import evaluate_task
            from .tasks import get_task

            stored = load_model(str(run_dir))
            res = evaluate_task(stored.model, stored.tokenizer, get_task(task), "test", eval_limit,
                                seed)
            metrics["stored_weights"] = {"dtype": "bfloat16", "score": res.score, "n": res.n,
                                         "note": "score of the shipped bf16 weights on the same items"}
            note = "weights stored in bf16; checkpoints and adapter removed to keep assets/ small"
        else:
            shutil.rmtree(run_dir / "model", ignore_errors=True)
            note = "weights not shipped (config, log, metrics and artifacts only) to keep assets/ small"
        run.write_json("metrics.json", metrics)
        run.write_json("example.json", {"built_by": "pkt_core.lab.build_example_runs", "note": note,
                                        "settings": req.settings, "eval_limit": eval_limit})
        summary["runs"][paradigm] = {
            "path": str(run_dir), "base": result.metrics["base"]["score"],
            "result": result.metrics["result"]["score"],
            "stored": metrics.get("stored_weights", {}).get("score"),
            "mb": round(_dir_mb(run_dir), 2), "seconds": round(time.perf_counter() - started, 1)}
        say(f"{paradigm}: {summary['runs'][paradigm]}")
    summary["total_mb"] = round(_dir_mb(root), 2)
    return summary


# ==== 7. learn ==================================================================================
LEARN_MD = """
## What is parametric knowledge transfer?

A big language model (the **teacher**) knows things a small one (the **student**) does not.
The usual way to pass knowledge down is *distillation*: the teacher writes text and the student
learns from it. **Parametric knowledge transfer (PKT)** tries something bolder: copy a *piece of
the teacher's weights* into the student. Three steps: **extract** the piece that matters for a
task, **align** it to the student's smaller shape, **inject** it.

## Two ways to do it

* **PostPKT — inject first, then fine-tune** (*Seeking*, PostPKT). Measure which teacher weights
  matter for the task, cut them down to the student's shape, start a LoRA from them, and then
  fine-tune on ~1000 task examples so the student learns to use the piece. → **Transfer** tab,
  paradigm *Seeking*.
* **PrePKT — align first, never fine-tune** (*LaTen*). Find the teacher's and the student's
  *knowledge neurons* for a task, train a tiny translator network on a handful of examples, add the
  translated neurons to the student, done. → **Transfer** tab, paradigm *LaTen*.

Two honest baselines use the same budget as Seeking: **LoRA** (random start) and **PiSSA**
(start from the student's own weights). If Seeking does not beat them, the teacher's piece did
not help.

## Neural incompatibility: why it is hard

1. **Behaviour.** Run **Locate** on one example. The layer curves show *where* each model
   pushes the answer; on a shared relative-depth axis the teacher and student rarely agree, and
   the top neurons change from one example to the next (the stability table).
2. **Representations.** **Incompatibility → heatmaps**: every student layer against every teacher
   layer. There is no clean diagonal — a student layer is not a "smaller copy" of any one
   teacher layer. The paper's Llama-2 means sit beside ours.
3. **Parameters.** **Incompatibility → parametric similarity**: a piece taken from the teacher is
   almost orthogonal to what the student already has (cosine ≈ 0), unlike the student's own
   top directions (PiSSA).

## What to expect

The research's main table (Llama-2 13B → 7B) shows that transfer helps **a little, unevenly
and unstably**: Seeking gains on some tasks (after fine-tuning, which does most of the work),
LaTen barely moves the student. **Runs** shows the same table at the lab's scale — run a few
seeds and see how much the bars move.

## Try it in class (15 minutes)

1. **Pair** → check the embedded pair. Note the 2× depth and width.
2. **Locate** → the default example; then another one. Compare the stability table.
3. **Incompatibility** → heatmaps with CKA, then the signed cosine.
4. **Compare** → ask a toy-world question; the base student, Seeking and LaTen answer side by
   side. **Quick evaluation** on 20 items tells who is right.
5. **Transfer** → a short LaTen run (steps = 4); watch the loss; see it appear in **Runs**.
"""
