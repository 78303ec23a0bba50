"""The Compare tab: the base student, a PostPKT student, a PrePKT student and the teacher answer
one prompt side by side (streamed), and a per-item quick evaluation of the same models."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator, Sequence

from ..evaluate import evaluate_task, stream_generate
from ..models.provider import MODELS
from ..paradigms import get_paradigm
from ..tasks import get_task, render_chat
from .inputs import LabError, as_float, as_int, as_text
from .views import QuickEvalView

# The research's two paradigms, side by side: PostPKT (Seeking) and PrePKT (LaTen).
COMPARED = ("seeking", "laten")
Slot = tuple[str, str | None]


def slot_labels() -> tuple[str, ...]:
    """The Compare slots: the base student, a run of each compared paradigm, the teacher."""
    return ("base student", *(get_paradigm(p).title for p in COMPARED), "teacher")


def lineup(student: str, seeking_run: str | None, laten_run: str | None, teacher: str | None,
           with_teacher: bool) -> list[Slot]:
    """The four Compare slots as (label, reference or None)."""
    refs = [student, seeking_run, laten_run, teacher if with_teacher else None]
    return [(label, (ref or "").strip() or None) for label, ref in zip(slot_labels(), refs)]


def _empty_slot(label: str) -> str:
    if label == "teacher":
        return "(teacher not included)"
    return f"(no {label} run chosen — pick a saved run or run a transfer)"


def compare_stream(slots: Sequence[Slot], prompt: str, max_new_tokens: Any = 64,
                   temperature: Any = 0.0, seed: Any = 0, chat: bool = True) -> Iterator[list[str]]:
    """Side-by-side generation: every round, each model adds one token; yields all texts."""
    prompt = as_text(prompt, "the prompt")
    n_new = as_int(max_new_tokens, "max new tokens", 1, 1024)
    temp = as_float(temperature, "the temperature", 0, 5)
    seed_i = as_int(seed, "the seed", 0, 2**31 - 1)
    text = render_chat(prompt) if chat else prompt
    streams: list[Iterator[str] | None] = []
    texts: list[str] = []
    for label, ref in slots:
        loaded = MODELS.get(ref) if ref else None
        streams.append(stream_generate(loaded.model, loaded.tokenizer, text, n_new, temp, seed_i)
                       if loaded else None)
        texts.append("" if loaded else _empty_slot(label))
    live = [s is not None for s in streams]
    while any(live):
        for i, stream in enumerate(streams):
            if live[i]:
                try:
                    texts[i] = next(stream)  # type: ignore[arg-type]
                except StopIteration:
                    live[i] = False
        yield list(texts)
    yield [t if t.strip() else "(empty answer: the model stopped at once)" for t in texts]


def _short(text: Any, n: int = 160) -> str:
    text = str(text or "")
    return text if len(text) <= n else text[: n - 1] + "…"


def quick_eval(slots: Sequence[Slot], task: str, n_items: Any = 10) -> QuickEvalView:
    """Each chosen model on the first N test items: a score line each and a per-item table."""
    n = as_int(n_items, "the number of test items", 1, 300)
    task_obj = get_task(as_text(task, "the task"))
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
    return QuickEvalView("\n".join(lines), rows)
