"""The Compare tab: the base student, a PostPKT student, a PrePKT student and the teacher answer
one prompt side by side (streamed), and a per-item quick evaluation of the same models."""
from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any, Iterator, Sequence

from ..evaluate import continuation_logprobs, evaluate_task, stream_generate
from ..figures import option_likelihoods_figure
from ..models.provider import MODELS
from ..paradigms import compared_paradigms, get_paradigm
from ..tasks import Example, Task, get_task, render_chat
from ..tasks.toyworld import TOY_TASKS
from .inputs import LabError, as_float, as_int, as_text
from .views import LikelihoodView, QuickEvalView

# Compare's first prompt: a facts test item on which the shipped teacher is right (by likelihood
# and in its text) and the shipped student wrong (tests/test_controls.py checks it still is).
DEFAULT_EXAMPLE = ("facts", "facts-1992")
DEFAULT_NEW_TOKENS = 128  # arith's worked answers need ~96 tokens (its max_new_tokens)
# The quick evaluation's default number of test items: the page's slider starts here and Learn
# quotes it, so the two cannot disagree.
QUICK_EVAL_ITEMS = 10

Slot = tuple[str, str | None]


def slot_labels() -> tuple[str, ...]:
    """The Compare slots: the base student, a run of each compared paradigm (the registry's
    `compared` ones, in table order), the teacher."""
    return ("base student", *(get_paradigm(p).title for p in compared_paradigms()), "teacher")


def lineup(student: str, runs: dict[str, str | None], teacher: str | None,
           with_teacher: bool) -> list[Slot]:
    """The Compare slots as (label, reference or None); `runs` maps a compared paradigm's name to
    the run chosen for it (a missing name: no run chosen). An unknown name is refused."""
    unknown = sorted(set(runs) - set(compared_paradigms()))
    if unknown:
        raise LabError(f"no Compare column for {', '.join(unknown)}; the columns are "
                       f"{', '.join(compared_paradigms())}")
    refs = [student, *(runs.get(p) for p in compared_paradigms()),
            teacher if with_teacher else None]
    return [(label, (ref or "").strip() or None) for label, ref in zip(slot_labels(), refs)]


def _empty_slot(label: str) -> str:
    if label == "teacher":
        return "(teacher not included)"
    return f"(no {label} run chosen — pick a saved run or run a transfer)"


def compare_stream(slots: Sequence[Slot], prompt: str, max_new_tokens: Any = 64,
                   temperature: Any = 0.0, seed: Any = 0, chat: bool = True) -> Iterator[list[str]]:
    """Side-by-side generation: every round, each model adds one token; yields all texts."""
    prompt = as_text(prompt, "the prompt")
    n_new = as_int(max_new_tokens, "max new tokens", 1, cap="max_new_tokens")
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


def default_prompt() -> str:
    task, item = DEFAULT_EXAMPLE
    return next(ex.prompt for ex in get_task(task).split("test") if ex.id == item)


# The splits a Compare prompt may come from: the page's examples (test), Locate's (extract), align.
REFERENCE_SPLITS = ("test", "extract", "align")


@functools.lru_cache(maxsize=1)
def _prompt_index() -> dict[str, tuple[str, str, str]]:
    """Every toy-task item's prompt → (task, split, item id); built once (the splits are fixed)."""
    index: dict[str, tuple[str, str, str]] = {}
    for name in TOY_TASKS:
        for split in REFERENCE_SPLITS:
            for ex in get_task(name).split(split):
                index.setdefault(ex.prompt.strip(), (name, split, ex.id))
    return index


def task_item(prompt: str) -> tuple[Task, str, Example] | None:
    """(task, split, example) of the toy-task item whose prompt this is, if it is one."""
    found = _prompt_index().get((prompt or "").strip())
    if found is None:
        return None
    name, split, item = found
    task = get_task(name)
    return task, split, next(ex for ex in task.split(split) if ex.id == item)


def prompt_reference(prompt: str) -> str:
    """The reference answer beside the answers, as Markdown, when the prompt is a toy-task item
    (the right option of a multiple-choice item, else the task's answer); else a short note."""
    found = task_item(prompt)
    if found is None:
        return "*Reference answer: none — this prompt is not an item of a toy task.*"
    task, split, ex = found
    where = f"`{task.name}` {split} item `{ex.id}`"
    options = task.options(ex) if task.kind == "choice" else None
    if options:
        return f"**Reference answer** ({where}): **{options[task.correct_option(ex)]}**"
    answer = ex.answer.strip()
    block = answer if answer.startswith("```") else f"```\n{answer}\n```"  # code comes fenced
    return f"**Reference answer** ({where}):\n\n{block}"


def _choice_item(prompt: str) -> tuple[Task, Example] | None:
    """The multiple-choice task item whose question is this prompt, if it is one."""
    found = task_item(prompt)
    if found is None or found[0].kind != "choice" or not found[0].options(found[2]):
        return None
    return found[0], found[2]


def likelihood_view(slots: Sequence[Slot], prompt: str) -> LikelihoodView:
    """For a multiple-choice item: each model's log-likelihood of every option (what is scored)."""
    found = _choice_item(prompt)
    if found is None:
        note = ("*Not a multiple-choice item of a toy task: no option likelihoods to show (free "
                "text is scored as generated).*")
        reference = prompt_reference(prompt) if task_item(prompt) else ""
        return LikelihoodView(None, note + (f"\n\n{reference}" if reference else ""))
    task, ex = found
    options, correct = task.options(ex), task.correct_option(ex)
    per_model, rows = {}, []
    for label, ref in slots:
        if ref:
            loaded = MODELS.get(ref)
            per_model[label] = continuation_logprobs(loaded.model, loaded.tokenizer,
                                                     [(task.prompt(ex), o) for o in options])
            pick = max(range(len(options)), key=lambda k: per_model[label][k])
            rows.append(f"| {label} | {options[pick]} | {'✓' if pick == correct else '✗'} |")
    notes = (f"`{task.name}` item `{ex.id}`, reference **{options[correct]}**. Multiple choice is "
             "scored by likelihood: the option the model finds most probable after the prompt is "
             "its answer, whatever letter its text writes.\n\n| model | likelihood pick | right |\n"
             "|---|---|---|\n" + "\n".join(rows))
    return LikelihoodView(option_likelihoods_figure(options, per_model, correct), notes)


def _short(text: Any, n: int = 160) -> str:
    text = str(text or "")
    return text if len(text) <= n else text[: n - 1] + "…"


def quick_eval(slots: Sequence[Slot], task: str, n_items: Any = QUICK_EVAL_ITEMS) -> QuickEvalView:
    """Each chosen model on the first N test items: a score line each and a per-item table."""
    n = as_int(n_items, "the number of test items", 1, cap="quick_eval_items")
    task_obj = get_task(as_text(task, "the task"))
    chosen = [(label, ref) for label, ref in slots if ref]
    if not chosen:
        raise LabError("choose at least one model to evaluate")
    lines = [_scoring_note(task_obj), "", f"| model | `{task}` score on {n} test items |", "|---|---|"]
    rows: list[list[Any]] = []
    for label, ref in chosen:
        loaded = MODELS.get(ref)
        res = evaluate_task(loaded.model, loaded.tokenizer, task_obj, "test", n, model_name=ref)
        lines.append(f"| {label} (`{Path(ref).name if os.sep in ref else ref}`) | {res.score:.3f} |")
        examples = {ex.id: ex for ex in task_obj.split("test")[:n]}
        for item in res.items:
            pick = (task_obj.options(examples[item["id"]])[item["chosen"]] if "chosen" in item
                    else "—")
            rows.append([label, item["id"], _short(item["reference"]), _short(item["output"]),
                         _short(pick, 60), _short(item["extracted"], 60),
                         "✓" if item["correct"] else "✗"])
    return QuickEvalView("\n".join(lines), rows)


def _scoring_note(task: Task) -> str:
    if task.kind == "choice":
        return ("*How it is scored:* by likelihood — the option the model finds most probable "
                "after the prompt is its answer (“likelihood pick”); the letter its text writes "
                "(“generated”) is shown but not scored.")
    return f"*How it is scored:* on the generated text ({task.kind}); “generated” is what was read."
