"""What a task is: examples, the research's chat format, seeded splits and a scorer.

Every task (the toy world's, the four real benchmarks, a user's JSONL) is a `Task`. The evaluation
harness only calls `prompt`, `score` and, for multiple choice, `options`/`correct_option`, so a task
owns its prompt format and its scorer and nothing else needs to know which benchmark it is.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

USER_TAG = "<|user|>"
ASSISTANT_TAG = "<|assistant|>"
# Where a generated answer ends: the model starts a new turn (or the tokenizer's EOS, handled by
# the generator).
STOP_STRINGS: tuple[str, ...] = (USER_TAG, ASSISTANT_TAG)

# Research defaults (docs/SCIENCE.md §7): extract 20, align 80, train up to 1000.
DEFAULT_SPLIT_SIZES: dict[str, int] = {"extract": 20, "align": 80, "train": 1000}
SPLIT_NAMES = ("extract", "align", "train", "test")

KINDS = ("choice", "number", "code_complete", "code_write", "exact")


class TaskError(ValueError):
    """A task cannot be built or its data is malformed."""


@dataclass(frozen=True)
class Example:
    id: str
    prompt: str  # the user turn's content
    answer: str  # the reference assistant turn's content
    meta: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    source_split: str | None = None  # 'test' pins an example to the test split


@dataclass(frozen=True)
class ItemScore:
    extracted: str
    correct: bool
    status: str = "ok"  # 'ok', or a sandbox status for code tasks
    detail: str = ""


def render_chat(user: str, assistant: str | None = None) -> str:
    """The research's format: `<|user|>\\n{u}\\n\\n<|assistant|>\\n{a}\\n\\n`.

    Without an assistant turn it returns the generation prompt (ending in the assistant tag line).
    """
    text = f"{USER_TAG}\n{user}\n\n{ASSISTANT_TAG}\n"
    return text if assistant is None else f"{text}{assistant}\n\n"


def cut_at_stop(text: str, stops: Iterable[str] = STOP_STRINGS) -> str:
    """The generated answer up to the first stop string, trailing blank lines removed."""
    cut = len(text)
    for stop in stops:
        pos = text.find(stop)
        if pos != -1:
            cut = min(cut, pos)
    return text[:cut].rstrip()


_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def extract_final_number(text: str) -> str:
    """GSM8K rule: the number after '####' if present, else the last number in the text."""
    if "####" in text:
        text = text.split("####", 1)[1]
        found = _NUMBER.findall(text)
        return found[0].replace(",", "") if found else ""
    found = _NUMBER.findall(text)
    return found[-1].replace(",", "") if found else ""


def numbers_equal(a: str, b: str) -> bool:
    try:
        return math.isclose(float(a), float(b), rel_tol=0, abs_tol=1e-6)
    except ValueError:
        return False


_FENCE = re.compile(r"```(?:python|py)?\s*\n(.*?)(?:```|$)", re.S)


def extract_code(text: str) -> str:
    """The code in a generated answer: the first fenced block if any, else the whole text."""
    match = _FENCE.search(text)
    return match.group(1) if match else text


def normalise_text(text: str) -> str:
    return " ".join(text.strip().lower().rstrip(".").split())


def _stable_order(examples: list[Example], key: str) -> list[Example]:
    """A seeded order that depends only on ids, so adding a file row does not reshuffle others."""
    def rank(ex: Example) -> str:
        return hashlib.sha256(f"{key}:{ex.id}".encode()).hexdigest()
    return sorted(examples, key=rank)


def make_splits(
    examples: list[Example],
    seed: int = 0,
    sizes: dict[str, int] | None = None,
    test_size: int | None = None,
    task_name: str = "",
) -> dict[str, list[Example]]:
    """Disjoint extract/align/train/test splits chosen by a seeded, id-based rule.

    Examples whose `source_split` is 'test' form the test split (benchmarks ship one); otherwise the
    test split is carved from the seeded order first. extract, align and train then take, in that
    order, the requested number of the remaining examples (fewer when the data runs out).
    """
    sizes = {**DEFAULT_SPLIT_SIZES, **(sizes or {})}
    for name, size in sizes.items():
        if name not in DEFAULT_SPLIT_SIZES or size < 0:
            raise TaskError(f"bad split size {name}={size}")
    pinned = [ex for ex in examples if ex.source_split == "test"]
    rest = _stable_order([ex for ex in examples if ex.source_split != "test"], f"{task_name}:{seed}")
    if pinned:
        # One order for every seed (seed 0's): a limited evaluation then scores the same items
        # whatever the seed, so scores of different seeds pair item by item.
        test = _stable_order(pinned, f"{task_name}:0:test")
    else:
        n_test = test_size if test_size is not None else max(1, len(rest) // 4)
        test, rest = rest[:n_test], rest[n_test:]
    if test_size is not None:
        test = test[:test_size]
    splits: dict[str, list[Example]] = {"test": test}
    start = 0
    for name in ("extract", "align", "train"):
        splits[name] = rest[start:start + sizes[name]]
        start += len(splits[name])
    return {name: splits[name] for name in SPLIT_NAMES}


class Task(ABC):
    """One task: its examples, prompt format and scorer.

    Subclasses set `name`, `kind`, `description` and implement `load_examples`; scoring is provided
    per kind here (choice/number/exact) or by the code tasks themselves.
    """

    name: str = ""
    kind: str = "exact"
    description: str = ""
    max_new_tokens: int = 64
    chance: float = 0.0  # the score of guessing, shown beside results

    _cache: list[Example] | None = None

    @abstractmethod
    def load_examples(self) -> list[Example]:
        ...

    def examples(self) -> list[Example]:
        if self._cache is None:
            loaded = self.load_examples()
            if not loaded:
                raise TaskError(f"task '{self.name}' has no examples")
            self._cache = loaded
        return self._cache

    def splits(self, seed: int = 0, sizes: dict[str, int] | None = None,
               test_size: int | None = None) -> dict[str, list[Example]]:
        return make_splits(self.examples(), seed, sizes, test_size, self.name)

    def split(self, name: str, seed: int = 0, **kw: Any) -> list[Example]:
        if name not in SPLIT_NAMES:
            raise TaskError(f"unknown split '{name}'; choose one of {', '.join(SPLIT_NAMES)}")
        return self.splits(seed, **kw)[name]

    # ---- format -----------------------------------------------------------------------------
    def prompt(self, ex: Example) -> str:
        """The generation prompt in the research's chat format."""
        return render_chat(ex.prompt)

    def full_text(self, ex: Example) -> str:
        """Prompt plus reference answer: what training and attribution read."""
        return render_chat(ex.prompt, ex.answer)

    # ---- multiple choice (kind == 'choice') --------------------------------------------------
    def options(self, ex: Example) -> list[str]:
        """Continuations compared by likelihood, after the prompt."""
        return list(ex.meta.get("option_texts", []))

    def correct_option(self, ex: Example) -> int:
        return int(ex.meta["correct"])

    # ---- scoring ----------------------------------------------------------------------------
    def score(self, ex: Example, output: str) -> ItemScore:
        """Score one generated output (already cut at the stop strings)."""
        if self.kind == "number":
            got = extract_final_number(output)
            return ItemScore(got, numbers_equal(got, extract_final_number(ex.answer)))
        if self.kind == "choice":
            letters = "ABCDEFGH"[: len(self.options(ex)) or 4]
            match = re.search(rf"\b([{letters}])\b", output)
            got = match.group(1) if match else ""
            return ItemScore(got, got == letters[self.correct_option(ex)])
        if self.kind == "exact":
            return ItemScore(output.strip(), normalise_text(output) == normalise_text(ex.answer))
        raise NotImplementedError(f"task kind '{self.kind}' must implement score()")


def read_messages_jsonl(path: str | Path, source_split: str | None = None) -> list[Example]:
    """Read the research's JSONL format (docs/SCIENCE.md §7) into examples.

    Each line: {"id": ..., "messages": [{"role": "user", ...}, {"role": "assistant", ...}]}.
    """
    path = Path(path)
    examples: list[Example] = []
    with path.open(encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                messages = row["messages"]
                user = next(m["content"] for m in messages if m["role"] == "user")
                answer = next(m["content"] for m in messages if m["role"] == "assistant")
            except (ValueError, KeyError, StopIteration, TypeError) as err:
                raise TaskError(f"{path}:{lineno}: not a messages row ({err})") from err
            examples.append(Example(str(row.get("id", f"{path.stem}-{lineno}")), user, answer,
                                    {k: v for k, v in row.items() if k not in ("id", "messages")},
                                    source_split))
    return examples
