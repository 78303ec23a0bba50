"""The Learn tab: a guided path through the live tabs (lab.learn_steps), each step a text and a
button that opens its tab with its inputs filled in; opening Learn fills in the live numbers."""
from __future__ import annotations

from typing import Any

import gradio as gr

from pkt_core import lab

from .glue import HEAVY, NAV, heavy, safe


def learn_tab() -> list[tuple[Any, Any, Any]]:
    """One Markdown and one button per step of lab.learn_steps() (no model is loaded here: the
    live numbers are filled when the tab is opened, see wire_learn)."""
    out = []
    for step in lab.learn_steps():
        text = gr.Markdown(f"## {step.title}\n\n{step.markdown}")
        out.append((step, text, gr.Button(step.button, size="sm")))
    return out


def _learn_widgets(step: Any, tabs_by_id: dict[str, Any]) -> list[Any]:
    """The widgets a Learn step fills, in the order of its inputs: `teacher`/`student` are the
    Pair tab's pickers, `preset` the Transfer tab's preset of the step's paradigm."""
    out = []
    for name in step.inputs:
        if name in ("teacher", "student"):
            out.append(getattr(tabs_by_id["pair"], name))
        elif name == "preset" and step.tab == "transfer":
            out.append(tabs_by_id["transfer"].presets[step.inputs["paradigm"]])
        else:
            out.append(getattr(tabs_by_id[step.tab], name))
    return out


def wire_learn(learn: Any, steps: list[tuple[Any, Any, Any]], tabs: gr.Tabs,
               tabs_by_id: dict[str, Any]) -> None:
    """Each step's button opens its tab with its inputs filled in; opening Learn fills the live
    numbers (the first example's agreement, …), which needs the models: a heavy job."""
    for step, _, button in steps:
        button.click(lambda s=step: [gr.Tabs(selected=s.tab), *s.inputs.values()], None,
                     [tabs, *_learn_widgets(step, tabs_by_id)], api_name=f"goto_learn_{step.key}",
                     **NAV)

    @safe
    @heavy(duration=60)
    def learn_live():
        return [f"## {s.title}\n\n{s.markdown}" for s in lab.learn_steps(live=True)]

    learn.select(learn_live, None, [text for _, text, _ in steps], api_name="learn_live", **HEAVY)
