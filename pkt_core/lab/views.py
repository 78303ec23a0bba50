"""Typed views: what each tab shows, as Markdown and Plotly figures, with the Markdown written here.

A view is a plain dataclass whose field names say what they hold; app.py maps fields to widgets
by name. Computing a view is the job of pair_tabs.py, compare.py, saved_runs.py and jobs.py.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from ..analyse import LayerComparison, SimilarityResult, StabilityResult
from ..models import ModelShape


# ---- 1. pair --------------------------------------------------------------------------------------
@dataclass
class PairView:
    teacher_card: str
    student_card: str
    verdict: str
    ok: bool
    report: dict[str, Any] | None = None  # the pair check as JSON (for the API)


def model_card(role: str, ref: str, shape: ModelShape | None, source: str, error: str | None) -> str:
    icon = "🎓" if role == "teacher" else "🎒"
    head = f"### {icon} {role.title()} — `{ref or '(none)'}`\n"
    if error or shape is None:
        return head + f"\n⚠️ {error}\n"
    params = f"{shape.n_params / 1e6:,.2f} M" if shape.n_params else "?"
    rows = [("family", shape.family), ("layers", shape.n_layers), ("width (hidden)", shape.hidden),
            ("FFN width", shape.ffn),
            ("attention heads", f"{shape.n_heads} ({shape.n_kv_heads} KV) × {shape.head_dim}"),
            ("vocabulary", f"{shape.vocab:,}"), ("parameters", params), ("source", source)]
    return head + "\n| property | value |\n|---|---|\n" + "".join(f"| {k} | {v} |\n" for k, v in rows)


def verdict_markdown(ok: bool, problems: Sequence[str], notes: Sequence[str], ratio: str,
                     per_paradigm: Sequence[tuple[str, bool]], tokenizer_note: str) -> str:
    text = f"**✅ compatible** — {ratio}.\n\n" if ok else f"**❌ incompatible:** {'; '.join(problems)}.\n\n"
    marks = " · ".join(f"{title} {'✓' if fits else '✗'}" for title, fits in per_paradigm)
    text += f"Per paradigm: {marks} ({tokenizer_note})."
    if notes:
        text += "\n\nNotes: " + "; ".join(notes) + "."
    return text


# ---- 2. locate ------------------------------------------------------------------------------------
@dataclass
class LocateView:
    summary: str
    layer_ffn: Any  # figures: layer curves on the relative-depth axis
    layer_attn: Any
    teacher_ffn: Any  # neuron score maps (layer × neuron)
    student_ffn: Any
    teacher_attn: Any
    student_attn: Any
    top_rows: list[list[Any]]
    state: dict[str, Any]  # this visitor's last locate (JSON, kept in the page's state)
    seconds: float = 0.0


def _signed(x: float | None) -> str:
    return "n/a" if x is None else f"{x:+.2f}"


def token_label(text: str, token_id: int) -> str:
    """A token as the page shows it: its decoded text, quoted so that a leading space shows, and
    its id in brackets."""
    return f"`{text!r}` (id {token_id})"


def locate_summary(target: str, seconds: float, ffn: LayerComparison, attn: LayerComparison) -> str:
    """`target` is the answer's last token as `token_label` writes it."""
    maps = [", ".join(f"{p.teacher_layer}→{p.student_layer}" for p in c.pairs) for c in (ffn, attn)]
    k = ffn.top_k
    which = "strongest layer" if k == 1 else f"{k} strongest layers"
    lines = ["| | FFN | attention |", "|---|---|---|",
             f"| depth-profile agreement (Spearman ρ: +1 the curves rise and fall together, 0 "
             f"unrelated) | {_signed(ffn.profile_spearman)} | {_signed(attn.profile_spearman)} |",
             f"| top-{k} layer overlap (the share of the student's {which} that the teacher also "
             f"ranks top-{k} at the same relative depth) | {ffn.top_overlap:.2f} | "
             f"{attn.top_overlap:.2f} |",
             f"| LaTen's layer map (teacher → student) | {maps[0]} | {maps[1]} |"]
    return (f"**Target token** {target} — the answer's last token; every score is the change of "
            f"its log-probability · located in {seconds:.2f} s\n\n" + "\n".join(lines))


def stability_markdown(previous_prompt: str, rows: Sequence[tuple[str, str, StabilityResult]]) -> str:
    table = "\n".join(f"| {role} | {'FFN' if kind == 'ffn' else 'attention'} | top-{st.k} | "
                      f"{st.mean:.2f} | {st.chance:.2f} |" for role, kind, st in rows)
    return ("**Stability** against your previous example "
            f"(“{previous_prompt[:60]}…”): share of each layer's top neurons both examples pick — "
            "LaTen re-locates with every example, so low overlap means it moves different neurons "
            "each step.\n\n| model | kind | k | overlap | chance |\n|---|---|---|---|---|\n" + table)


# ---- 3. incompatibility -----------------------------------------------------------------------------
@dataclass
class SimilarityView:
    heatmaps: Any
    reference_rows: list[list[Any]]  # module, the paper's mean, ours (mean), ours (std)
    notes: str


def similarity_notes(result: SimilarityResult, task: str) -> str:
    """What the heatmaps were computed on (the texts actually used, `result.n_texts`), how to
    read them, and a hint that depends on the metric shown."""
    n_students, n_teachers = next(iter(result.matrices.values())).shape
    unit = "tokens" if result.token_aligned else "texts, each mean-pooled"
    meaning, hint = _similarity_reading(result.metric)
    text = (f"**{result.label}** on {result.n_texts} `{task}` test examples ({result.n_points} "
            f"{unit}). The paper's Llama-2 means are beside ours; its metric is unspecified (values "
            "go negative), so compare the *ranking* of modules and the sign, not the digits.\n\n"
            f"**How to read a heatmap:** row = student layer, column = teacher layer; {meaning} "
            "If the student were a shrunken copy of the teacher, a bright diagonal would run "
            f"corner to corner (student layer i like teacher layer {n_teachers / n_students:g}·i); "
            f"no such diagonal is the *representational* side of neural incompatibility. {hint}")
    if result.notes:
        text += "\n\n" + " ".join(result.notes)
    return text


def _similarity_reading(metric: str) -> tuple[str, str]:
    """(what the colours mean, which metric to try next) for the metric shown."""
    if metric == "cka":
        return ("1 = the two layers arrange the same tokens the same way (up to rotation and "
                "scale), 0 = no linear relation.",
                "This metric cannot go below 0: switch to the signed cosine to see the sign.")
    # The other metric is not named here: the app's tests tell the two notes apart by its name.
    return ("+1 = tokens one layer puts close together the other does too, 0 = unrelated, below "
            "0 = it puts them apart.",
            "This metric shows the sign, which the default metric (bounded by 0) hides.")


@dataclass
class ParametricView:
    curves: Any
    summary: str


@dataclass
class CurveView:
    curve_plot: Any
    curve_notes: str


def curve_markdown(curve: dict[str, Any], where: str) -> str:
    """The curve's numbers and what they say, per paradigm on it: does the teacher beat its
    shuffled control?"""
    tables = [_curve_table(curve, name, described, where if i == 0 else "")
              for i, (name, described) in enumerate(curve["paradigms"].items())]
    return "\n\n".join(tables)


def _curve_table(curve: dict[str, Any], name: str, described: dict[str, Any], where: str) -> str:
    teacher, control = curve["series"][name], curve["series"][f"{name}@shuffled"]
    knob, method = described["setting"], described["title"]
    rows = [f"| {t[knob]:.2g} | {t['relative_update']:.2g} | {t['change']:+.3f} "
            f"[{t['ci95'][0]:+.3f}, {t['ci95'][1]:+.3f}] | {c['relative_update']:.2g} | "
            f"{c['change']:+.3f} [{c['ci95'][0]:+.3f}, {c['ci95'][1]:+.3f}] | "
            f"{t['vs_shuffled']['change']:+.3f} [{t['vs_shuffled']['ci95'][0]:+.3f}, "
            f"{t['vs_shuffled']['ci95'][1]:+.3f}] |" for t, c in zip(teacher, control)]
    above = sum(t["vs_shuffled"]["ci95"][0] > 0 for t in teacher)
    below = sum(t["vs_shuffled"]["ci95"][1] < 0 for t in teacher)
    verdict = (f"{method}: the teacher beats its shuffled control at {above} of {len(teacher)} update sizes, "
               f"loses at {below}, and the two cannot be told apart at {len(teacher) - above - below}"
               " (paired 95 % interval of teacher − control).")
    head = (f"{where} Base score {curve['base_score']:.3f} on {curve['eval_limit']} "
            f"`{curve['task']}` test items; {len(curve['seeds'])} seeds per point; "
            f"{curve['interval']}.\n\n") if where else ""
    return (f"{head}**{verdict}**\n\n| {knob} | teacher: ‖ΔW‖/‖W‖ | teacher: change [95 %] | "
            "shuffled: ‖ΔW‖/‖W‖ | shuffled: change [95 %] | teacher − shuffled [95 %] |\n"
            "|---|---|---|---|---|---|\n" + "\n".join(rows))


# ---- 4. transfer -----------------------------------------------------------------------------------
@dataclass
class TransferView:
    """One poll of a transfer: what the Transfer tab shows while it runs and when it ends."""
    status: str
    loss: Any | None  # None = the curve did not change since the last view
    result: str | None  # None = keep what is shown
    running: bool
    run_path: str
    done: int = 0  # progress within the current phase
    total: int = 1
    message: str = ""
    finished: bool = False  # complete, with a model/ (it may be picked in Compare)
    cancelled: bool = False
    error: str | None = None


def result_markdown(metrics: dict[str, Any] | None, paradigm_title: str,
                    log_rows: Sequence[Mapping[str, Any]] | None = None) -> str:
    """A finished run's scores and effects; with its log rows, a one-line reading of its loss."""
    if not metrics:
        return ""
    base, res = metrics["base"], metrics["result"]
    table = (f"| test split of `{metrics['task']}` ({res['n']} items) | score |\n|---|---|\n"
             f"| base student | {base['score']:.3f} |\n| {paradigm_title} student | {res['score']:.3f} |\n"
             f"| change | {metrics['delta']:+.3f} |")
    effects = metrics.get("effects")
    text = table + ("\n\n" + effects_markdown(effects) if effects else "")
    reading = loss_reading(log_rows) if log_rows is not None else ""
    return text + (f"\n\n{reading}" if reading else "")


def loss_values(log_rows: Sequence[Mapping[str, Any]]) -> list[float]:
    """The loss per step, as the loss figure draws it (LaTen's LM loss, else the training loss)."""
    steps = [r for r in log_rows if "step" in r and ("loss" in r or "lm_loss" in r)]
    key = "lm_loss" if steps and "lm_loss" in steps[0] else "loss"
    return [float(r[key]) for r in steps if r.get(key) is not None]


def loss_trend(values: Sequence[float]) -> tuple[str, float, float, float] | None:
    """(fell | rose | flat, first-quarter mean, last-quarter mean, change in noise units).

    The rule: compare the mean of the first and of the last quarter of the steps with the noise
    of such a difference. A step's noise is the spread of step-to-step changes over √2 (a trend
    moves every step alike, so it hardly adds to that spread); the difference of two means of q
    steps has √(2/q) times it. Beyond two of those units the loss moved; within, it is flat.
    None with fewer than 3 steps (no noise to measure)."""
    y = np.asarray(values, dtype=float)
    if len(y) < 3:
        return None
    q = max(1, len(y) // 4)
    first, last = float(y[:q].mean()), float(y[-q:].mean())
    noise = float(np.std(np.diff(y), ddof=1)) / math.sqrt(2) * math.sqrt(2 / q)
    # a perfectly steady slope has only rounding noise: call it noiseless, not 10¹⁵ units
    tolerance = 1e-9 * max(float(np.abs(y).max()), 1e-12)
    if noise <= tolerance:
        units = math.inf if abs(last - first) > tolerance else 0.0
    else:
        units = abs(last - first) / noise
    if units <= 2:
        return "flat", first, last, units
    return ("fell" if last < first else "rose"), first, last, units


def loss_reading(log_rows: Sequence[Mapping[str, Any]]) -> str:
    """One line saying what the loss curve did (see `loss_trend` for the rule)."""
    values = loss_values(log_rows)
    trend = loss_trend(values)
    if trend is None:
        return (f"**Loss curve:** {len(values)} step{'s' if len(values) != 1 else ''} — too few to "
                "tell a trend from noise.")
    kind, first, last, units = trend
    size = "" if math.isinf(units) else f", {units:.1f}× the noise of that difference"
    where = f"(mean of the first vs the last quarter of {len(values)} steps{size})"
    if kind == "flat":
        return (f"**Loss curve:** stayed flat, {first:.3f} → {last:.3f} {where}: a change within its "
                "own noise — the update barely moved the student's loss on its training examples.")
    if kind == "fell":
        return (f"**Loss curve:** fell from {first:.3f} to {last:.3f} {where}: the student fits its "
                "training examples better; the test score above says whether that carried over.")
    return (f"**Loss curve:** rose from {first:.3f} to {last:.3f} {where}: training made the fit "
            "worse (a learning rate too high does this).")


def effects_markdown(effects: dict[str, Any]) -> str:
    """What the transfer did, in numbers and in words (runs saved before effects were measured
    have none, and say nothing here)."""
    lo, hi = effects["change_ci95"]
    flips = effects["flips"]
    update = effects.get("relative_update", {})
    rows = [f"| outputs that changed | {effects['changed_outputs']:.1%} of {effects['n']} |",
            f"| flips | {flips['wrong_to_right']} wrong → right, {flips['right_to_wrong']} right → wrong |",
            f"| 95 % interval of the change | {lo:+.3f} to {hi:+.3f} (paired bootstrap over items) |"]
    if "right_option_logprob_change" in effects:
        rows.append(f"| right option's log-likelihood | {effects['right_option_logprob_change']:+.4f} "
                    "nats on average |")
    if update:
        sizes = ", ".join(f"{m} {u['relative']:.2g}" for m, u in update.items())
        rows.append(f"| weight update ‖ΔW‖/‖W‖ | {sizes} |")
    text = "| what changed | |\n|---|---|\n" + "\n".join(rows)
    if effects["changed_outputs"] == 0:
        text += ("\n\n**Nothing changed:** every test answer is the base student's"
                 + (f" (the update is {max(u['relative'] for u in update.values()):.1e} of the "
                    "weights' size at most)." if update else ", and no weight moved."))
    elif lo <= 0 <= hi:
        text += "\n\n**No clear effect:** the interval of the change includes 0."
    return text


# ---- 5. compare -------------------------------------------------------------------------------------
@dataclass
class LikelihoodView:
    likelihoods: Any | None  # a figure, or None when the prompt is not a multiple-choice item
    likelihood_notes: str


@dataclass
class QuickEvalView:
    summary: str
    rows: list[list[Any]] = field(default_factory=list)  # model, item, reference, output, …


# ---- 6. runs ----------------------------------------------------------------------------------------
@dataclass
class RunsView:
    rows: list[list[Any]]
    chart: Any


@dataclass
class RunDetailView:
    summary: str
    loss: Any
    config: dict[str, Any]


def ladder_markdown(ladder: dict[str, Any]) -> str:
    """The ladder's pairs as a table: ratio, similarity, the teacher piece, locate agreement and,
    where shipped, each transfer's change from the teacher beside its shuffled control."""
    def change(p: dict[str, Any], row: str) -> str:
        cell = p.get("transfer", {}).get("rows", {}).get(row, {}).get(ladder.get("task", "facts"))
        return "—" if not cell else (f"{cell['change']:+.3f} [{cell['ci95'][0]:+.3f}, "
                                     f"{cell['ci95'][1]:+.3f}]")

    transfers = ladder.get("transfers", {})
    lines = ["| teacher → student | params ratio | mean CKA | mean signed cos | cos(BA, W) "
             "teacher piece | locate ρ FFN / attn | "
             + " | ".join(f"{title} change" for title in transfers.values()) + " |",
             "|---|---|---|---|---|---|" + "---|" * len(transfers)]
    for p in sorted(ladder["pairs"], key=lambda p: p["param_ratio"]):
        mean = {k: sum(p[k].values()) / len(p[k]) for k in ("cka", "cosine", "parametric")}
        rho = [p["locate"][k]["spearman"] for k in ("ffn", "attn")]
        rho_text = " / ".join("n/a" if r is None else f"{r:+.2f}" for r in rho)
        lines.append(f"| `{p['teacher']}` → `{p['student']}`{' (same size)' if p['same_size'] else ''}"
                     f" | {p['param_ratio']:.1f}× | {mean['cka']:.3f} | {mean['cosine']:.3f} | "
                     f"{mean['parametric']:+.3f} | {rho_text} | "
                     + " | ".join(change(p, row) for row in transfers) + " |")
    return ("\n".join(lines) + f"\n\nPrecomputed by `python -m pkt_core ladder` on "
            f"`{ladder.get('task')}` ({ladder.get('n_texts')} test texts, {ladder.get('n_examples')} "
            f"located examples) in {ladder.get('seconds', 0):.0f} s; see docs/INCOMPATIBILITY.md "
            "for what it answers.")
