"""Runs: the training loss, the results as the research's table in bars, the incompatibility
curve, and how one multiple-choice item is scored."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import plotly.graph_objects as go

from ..paper import PAIR, TABLE, TABLE_COLUMNS
from .common import HEIGHT, LIVE_HEIGHT, captioned, legend_below


def _loss_caption(steps: Sequence[Mapping[str, Any]], key: str) -> str:
    per = "one example per step, so it jumps around" if key == "lm_loss" else "one batch per step"
    if not steps:
        data = "No step has finished yet."
    else:
        data = (f"{len(steps)} steps so far: {float(steps[0][key]):.3f} at step {steps[0]['step']}, "
                f"{float(steps[-1][key]):.3f} at step {steps[-1]['step']}.")
    return ("How to read: x is the training step, y the loss on the answer tokens (lower = the "
            f"answers are predicted better; {per}). {data}")


def loss_figure(rows: Sequence[Mapping[str, Any]], title: str = "") -> go.Figure:
    """The loss curve of a run's log rows (LaTen: LM loss per example; LoRA: batch loss)."""
    steps = [r for r in rows if "step" in r and ("loss" in r or "lm_loss" in r)]
    key, name = ("lm_loss", "LM loss (mean per example)") if steps and "lm_loss" in steps[0] \
        else ("loss", "training loss")
    fig = go.Figure()
    if steps:
        fig.add_trace(go.Scatter(x=[r["step"] for r in steps], y=[r[key] for r in steps],
                                 mode="lines+markers", name=name,
                                 hovertemplate=f"step %{{x}}<br>{name.split(' (')[0]} %{{y:.4f}}"
                                               "<extra></extra>"))
    fig.update_layout(height=LIVE_HEIGHT, title={"text": title or "Training loss"},
                      xaxis={"title": {"text": "step"}, **({"dtick": 1} if len(steps) <= 25 else {})},
                      yaxis={"title": {"text": "loss (answer tokens)"}},
                      margin={"t": 60, "b": 50, "l": 60, "r": 20}, showlegend=True)
    legend_below(fig)
    if not steps:
        fig.add_annotation(text="waiting for the first step…", showarrow=False, x=0.5, y=0.5,
                           xref="paper", yref="paper")
    return captioned(fig, _loss_caption(steps, key))


def _paper_mmlu() -> str:
    """The paper's MMLU column in words: student → each transfer (teacher)."""
    col = TABLE_COLUMNS.index("MMLU")
    mmlu = {row[0]: row[col] for row in TABLE}
    student = next(v for k, v in mmlu.items() if "student" in k)
    teacher = next(v for k, v in mmlu.items() if "teacher" in k)
    moved = ", ".join(f"{k.split(' (')[0]} {v:.2f}" for k, v in mmlu.items()
                      if "student" not in k and "teacher" not in k)
    return f"MMLU {student:.2f} for the student → {moved} (teacher {teacher:.2f})"


def _runs_caption(tasks: Sequence[str], series: Mapping[str, Mapping[str, Sequence[float]]]) -> str:
    runs = max((len(v) for per in series.values() for v in per.values()), default=0)
    data = (f"here {len(tasks)} task{'s' if len(tasks) != 1 else ''}, up to {runs} run"
            f"{'s' if runs != 1 else ''} per bar" if tasks and series else "no finished runs yet")
    return ("How to read: one group of bars per task; each bar is one row of the research's table, "
            "at its mean test score over the lab's runs (0 = no item right, 1 = all), whiskers from "
            f"the lowest to the highest run; {data}. For {PAIR} the paper found transfer helps a "
            f"little and unevenly: {_paper_mmlu()}, in %.")


def runs_chart(tasks: Sequence[str], series: Mapping[str, Mapping[str, Sequence[float]]]) -> go.Figure:
    """Bars in the shape of the research's table: per task, one bar per row of `series` (row →
    task → scores over runs), at the mean, with whiskers from the lowest to the highest run.
    The legend names are the rows' titles as given (reproduce.row_title: "teacher", …)."""
    fig = go.Figure()
    for name, per_task in series.items():
        values = [list(per_task.get(t, ())) for t in tasks]
        means = [sum(v) / len(v) if v else None for v in values]
        fig.add_trace(go.Bar(
            name=name, x=list(tasks), y=means, customdata=[len(v) for v in values],
            error_y={"type": "data", "symmetric": False,
                     "array": [max(v) - m if v else 0 for v, m in zip(values, means)],
                     "arrayminus": [m - min(v) if v else 0 for v, m in zip(values, means)]},
            hovertemplate=f"{name}<br>%{{x}}: %{{y:.3f}} (%{{customdata}} runs)<extra></extra>"))
    fig.update_layout(barmode="group", height=380,
                      title={"text": "Test scores by task — the research's table at the lab's scale"},
                      xaxis={"title": {"text": "task"}},
                      yaxis={"title": {"text": "test score"}, "range": [0, 1]},
                      margin={"t": 60, "b": 50, "l": 60, "r": 20})
    legend_below(fig)
    if not series or not tasks:
        fig.add_annotation(text="no finished runs yet", showarrow=False, x=0.5, y=0.5,
                           xref="paper", yref="paper")
    return captioned(fig, _runs_caption(tasks, series))


# A teacher series and its control share a hue (the control lighter, dotted); paradigms take the
# palette in the order the curve lists them.
CURVE_PALETTE = (("#d62728", "#7f7f7f"), ("#1f77b4", "#9ecae1"), ("#2ca02c", "#98df8a"),
                 ("#9467bd", "#c5b0d5"))
CONTROL_SUFFIX = "@shuffled"  # as pkt_core.experiments.curve names a control's series


def _curve_series_style(curve: Mapping[str, Any], series: str) -> tuple[str, str, str]:
    """(legend name, colour, knob) of a curve series, from the curve's own `paradigms` entry."""
    control = series.endswith(CONTROL_SUFFIX)
    name = series[: -len(CONTROL_SUFFIX)] if control else series
    described = curve.get("paradigms", {})
    order = list(described).index(name) if name in described else len(described)
    colour = CURVE_PALETTE[order % len(CURVE_PALETTE)][int(control)]
    title = described.get(name, {}).get("title", name)
    label = (f"{title} from the shuffled teacher (control)" if control
             else f"{title} from the teacher ({curve.get('teacher', '')})")
    return label, colour, described.get(name, {}).get("setting", "")


def _curve_caption(curve: Mapping[str, Any]) -> str:
    real = [p for s, pts in curve.get("series", {}).items() if not s.endswith(CONTROL_SUFFIX)
            for p in pts if "vs_shuffled" in p]
    beat = sum(1 for p in real if p["vs_shuffled"]["ci95"][0] > 0)
    data = (f"Here the teacher beat its control (95 % interval above 0) at {beat} of {len(real)} "
            "points. " if real else "")
    return ("How to read: x is the size of a transfer's update (‖ΔW‖/‖W‖, log scale), y the change "
            "in test score against the untouched student, with 95 % intervals; solid lines transfer "
            "from the teacher, dotted ones from a shuffled copy of it, so where a solid line overlaps "
            "its dotted control the teacher's parameters added nothing that random ones of the same "
            f"size would not. {data}The paper's lesson for {PAIR}: transfer helps a little, "
            "unevenly and unstably.")


def incompatibility_curve_figure(curve: Mapping[str, Any]) -> go.Figure:
    """Score change against update size (log x), the real teacher beside its shuffled control,
    with 95 % intervals: where the two overlap, the teacher's parameters added nothing."""
    fig = go.Figure()
    for series, points in curve.get("series", {}).items():
        x = [p["relative_update"] for p in points]
        y = [p["change"] for p in points]
        name, colour, knob = _curve_series_style(curve, series)
        fig.add_trace(go.Scatter(
            x=x, y=y, mode="lines+markers", name=name,
            line={"color": colour, "dash": "dot" if series.endswith(CONTROL_SUFFIX) else "solid"},
            error_y={"type": "data", "symmetric": False,
                     "array": [p["ci95"][1] - p["change"] for p in points],
                     "arrayminus": [p["change"] - p["ci95"][0] for p in points]},
            customdata=[[p[knob], p["ci95"][0], p["ci95"][1]] for p in points],
            hovertemplate=(f"‖ΔW‖/‖W‖ %{{x:.2g}} ({knob} %{{customdata[0]:.2g}})<br>change "
                           "%{y:+.3f} [%{customdata[1]:+.3f}, %{customdata[2]:+.3f}]<extra></extra>")))
    fig.add_hline(y=0, line={"color": "black", "width": 1, "dash": "dot"})
    seeds = len(curve.get("seeds", []))
    fig.update_layout(
        height=HEIGHT, title={"text": "The incompatibility curve: a transfer's effect against the "
                              f"size of its update<br><sup>{curve.get('task')} · {seeds} seeds × "
                              f"{curve.get('eval_limit')} test items · 95 % paired intervals</sup>"},
        xaxis={"title": {"text": "relative update ‖ΔW‖/‖W‖ (log)"}, "type": "log"},
        yaxis={"title": {"text": "score change against the untouched student"}},
        margin={"t": 80, "b": 90, "l": 70, "r": 20})
    legend_below(fig)
    return captioned(fig, _curve_caption(curve))


def _option_caption(labels: Sequence[str], per_model: Mapping[str, Sequence[float]],
                    correct: int) -> str:
    picks = []
    for model, logprobs in per_model.items():
        best = max(range(len(logprobs)), key=lambda k: logprobs[k]) if len(logprobs) else None
        picks.append(f"{model} {'right' if best == correct else 'wrong'}")
    return ("How to read: each bar is a model's log-probability of one answer option after the "
            "prompt (closer to 0 = more likely); the model picks its highest bar (outlined) and is "
            "right when that is the ✓ option" + (f" — here: {', '.join(picks)}." if picks else "."))


def option_likelihoods_figure(options: Sequence[str], per_model: Mapping[str, Sequence[float]],
                              correct: int) -> go.Figure:
    """Each model's summed log-likelihood of every option after the prompt (how a multiple-choice
    item is scored: the highest bar is the model's pick); the reference option is marked."""
    labels = [f"✓ {o}" if i == correct else o for i, o in enumerate(options)]
    fig = go.Figure()
    for model, logprobs in per_model.items():
        best = max(range(len(logprobs)), key=lambda k: logprobs[k])
        fig.add_trace(go.Bar(name=model, x=labels, y=list(logprobs),
                             marker={"line": {"width": [3 if k == best else 0 for k in range(len(logprobs))],
                                              "color": "black"}},
                             hovertemplate=f"{model}<br>%{{x}}: log p = %{{y:.2f}}<extra></extra>"))
    fig.update_layout(barmode="group", height=LIVE_HEIGHT,
                      title={"text": "How this item is scored: log-likelihood of each option<br><sup>"
                                     "each model picks its highest bar (outlined); ✓ = the reference"
                                     "</sup>"},
                      yaxis={"title": {"text": "log p(option | prompt)"}},
                      margin={"t": 70, "b": 50, "l": 60, "r": 20})
    legend_below(fig, gap_px=45.0)  # no x-axis title, only the option labels
    return captioned(fig, _option_caption(labels, per_model, correct))
