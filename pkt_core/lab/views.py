"""Typed views: what each tab shows, as Markdown and Plotly figures, with the Markdown written here.

A view is a plain dataclass whose field names say what they hold; app.py maps fields to widgets
by name. Computing a view is the job of pair_tabs.py, compare.py, saved_runs.py and jobs.py.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from ..analyse import LayerComparison, StabilityResult
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


def locate_summary(target: str, seconds: float, ffn: LayerComparison, attn: LayerComparison) -> str:
    maps = [", ".join(f"{p.teacher_layer}→{p.student_layer}" for p in c.pairs) for c in (ffn, attn)]
    lines = ["| | FFN | attention |", "|---|---|---|",
             f"| depth-profile agreement (Spearman ρ) | {_signed(ffn.profile_spearman)} | "
             f"{_signed(attn.profile_spearman)} |",
             f"| top-{ffn.top_k} layer overlap | {ffn.top_overlap:.2f} | {attn.top_overlap:.2f} |",
             f"| LaTen's layer map (teacher → student) | {maps[0]} | {maps[1]} |"]
    return f"**Target token** {target} · located in {seconds:.2f} s\n\n" + "\n".join(lines)


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


@dataclass
class ParametricView:
    curves: Any
    summary: str


@dataclass
class CurveView:
    curve_plot: Any
    curve_notes: str


def curve_markdown(curve: dict[str, Any], where: str) -> str:
    """The curve's numbers and what they say: does the teacher beat its shuffled control?"""
    text = _curve_table(curve, "teacher", "shuffled", "lr", where, "LaTen")
    if "seeking" in curve["series"]:
        text += "\n\n" + _curve_table(curve, "seeking", "seeking_shuffled", "epochs", "", "Seeking")
    return text


def _curve_table(curve: dict[str, Any], real: str, shuffled: str, knob: str, where: str,
                 method: str) -> str:
    teacher, control = curve["series"][real], curve["series"][shuffled]
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


def result_markdown(metrics: dict[str, Any] | None, paradigm_title: str) -> str:
    if not metrics:
        return ""
    base, res = metrics["base"], metrics["result"]
    table = (f"| test split of `{metrics['task']}` ({res['n']} items) | score |\n|---|---|\n"
             f"| base student | {base['score']:.3f} |\n| {paradigm_title} student | {res['score']:.3f} |\n"
             f"| change | {metrics['delta']:+.3f} |")
    effects = metrics.get("effects")
    return table + ("\n\n" + effects_markdown(effects) if effects else "")


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
