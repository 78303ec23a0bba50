"""What the four toy tasks share: a seeded world, pinned test items, and a corpus stream that
never contains a test item's key."""
from __future__ import annotations

import random
from abc import abstractmethod
from typing import Callable, Iterator

from ..base import Example, Task
from .world import make_world

TEST_SIZE = 300


class ToyTask(Task):
    """Shared plumbing: seeded world, pinned test items, keys excluded from the corpus."""

    n_pool = 1600  # non-test examples (extract/align/train draw from these)

    def __init__(self, seed: int = 0, world_size: float = 1.0,
                 test_size: int = TEST_SIZE) -> None:
        self.seed, self.world_size, self.test_size = seed, world_size, test_size
        self.world = make_world(seed, world_size)
        self._test_keys: set | None = None

    def _rng(self, purpose: str) -> random.Random:
        return random.Random(f"pkt-{self.name}:{self.seed}:{self.world_size}:{purpose}")

    @abstractmethod
    def corpus_keyed(self, rng: random.Random) -> Iterator[tuple[tuple, str]]:
        """Endless (problem key, chat text) pairs for the corpus; never a test item's key."""

    def corpus_items(self, rng: random.Random) -> Iterator[str]:
        return (text for _, text in self.corpus_keyed(rng))

    def _distinct_problems(
            self, make: Callable[[bool], tuple[tuple, str, str, dict]]) -> list[Example]:
        """`test_size` test problems, then `n_pool` others, no two sharing a key; `make(is_test)`
        draws one problem as (key, prompt, answer, extra meta)."""
        seen: set = set()
        out: list[Example] = []
        while len(out) < self.test_size + self.n_pool:
            is_test = len(out) < self.test_size
            key, prompt, answer, meta = make(is_test)
            if key in seen:
                continue
            seen.add(key)
            out.append(Example(f"{self.name}-{len(out)}", prompt, answer, {"key": key, **meta},
                               "test" if is_test else None))
        return out

    def test_keys(self) -> set:
        """The keys of the test items, which the corpus stream leaves out."""
        if self._test_keys is None:
            self._test_keys = {ex.meta["key"] for ex in self.examples()
                               if ex.source_split == "test"}
        return self._test_keys
