"""User-supplied data in the research's JSONL `messages` format (docs/SCIENCE.md §7).

A directory with `extract.jsonl`, `align.jsonl`, `train.jsonl` and `test.jsonl` runs the research's
own splits: the files *are* the splits (no reshuffling). Answers are scored as free-text exact
match unless a task kind is given (`number` applies the GSM8K final-number rule).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from . import register_task
from .base import SPLIT_NAMES, Example, Task, TaskError, read_messages_jsonl

SCORABLE_KINDS = ("exact", "number")


class JsonlTask(Task):
    def __init__(self, path: str | Path, kind: str = "exact", name: str | None = None,
                 max_new_tokens: int = 128) -> None:
        self.root = Path(path).expanduser()
        if not self.root.is_dir():
            raise TaskError(f"data directory '{self.root}' does not exist")
        if kind not in SCORABLE_KINDS:
            raise TaskError(f"task kind '{kind}' is not available for JSONL data; "
                            f"choose one of {', '.join(SCORABLE_KINDS)}")
        missing = [s for s in SPLIT_NAMES if not (self.root / f"{s}.jsonl").is_file()]
        if missing:
            raise TaskError(f"{self.root} lacks {', '.join(m + '.jsonl' for m in missing)}")
        self.kind, self.max_new_tokens = kind, max_new_tokens
        self.name = name or f"jsonl:{self.root.name}"
        self.description = f"user data from {self.root}"
        self._files: dict[str, list[Example]] = {}

    def _split_file(self, split: str) -> list[Example]:
        if split not in self._files:
            self._files[split] = read_messages_jsonl(self.root / f"{split}.jsonl", split)
        return self._files[split]

    def load_examples(self) -> list[Example]:
        return [ex for s in SPLIT_NAMES for ex in self._split_file(s)]

    def splits(self, seed: int = 0, sizes: dict[str, int] | None = None,
               test_size: int | None = None) -> dict[str, list[Example]]:
        out = {s: list(self._split_file(s)) for s in SPLIT_NAMES}
        if test_size is not None:
            out["test"] = out["test"][:test_size]
        for s, n in (sizes or {}).items():
            out[s] = out[s][:n]
        return out


@register_task("jsonl")
def jsonl_task(path: str | None = None, kind: str = "exact", source: str | None = None,
               **options: Any) -> JsonlTask:
    """`source` is accepted as a synonym of `path`, as for the real benchmarks."""
    if not (path or source):
        raise TaskError("the jsonl task needs a data directory (path=... or --source DIR)")
    return JsonlTask(path or source or "", kind, **options)
