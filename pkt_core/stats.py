"""Uncertainty in one place: intervals for a change in score, paired over test items and seeds.

A transfer changes a student's answers on the same test items, so its effect is a *paired*
difference. `paired_change_ci` resamples test items (and seeds, when there are several) with
replacement and takes the percentile interval of the mean change: the paired bootstrap. It
assumes nothing about the shape of the distribution and keeps each item's before/after together.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

METHOD = "paired bootstrap over test items and seeds (percentile interval, 2,000 resamples)"


@dataclass(frozen=True)
class ChangeInterval:
    change: float  # mean after − mean before
    lo: float
    hi: float
    level: float
    n_items: int
    n_seeds: int

    @property
    def excludes_zero(self) -> bool:
        return self.lo > 0 or self.hi < 0

    def as_list(self) -> list[float]:
        return [self.lo, self.hi]


def paired_change_ci(before: Sequence[float], after: Sequence[float] | Sequence[Sequence[float]],
                     level: float = 0.95, n_boot: int = 2000, seed: int = 0) -> ChangeInterval:
    """Interval of the change `after − before` in a mean score.

    before: [items] per-item scores of the untouched model (they do not depend on the seed), or
        [seeds, items] for a comparison of two transfers run with the same seeds (e.g. a teacher
        against its shuffled control);
    after: [items] or [seeds, items], the same items after the transfer, one row per seed.
    """
    b = np.atleast_2d(np.asarray(before, dtype=float))
    a = np.atleast_2d(np.asarray(after, dtype=float))
    if a.shape[1] != b.shape[1] or b.size == 0 or b.shape[0] not in (1, a.shape[0]):
        raise ValueError(f"before is {b.shape}, after {a.shape}: pair them item by item and seed "
                         "by seed")
    diff = a - b  # [seeds, items]
    rng = np.random.default_rng(seed)
    items = rng.integers(0, diff.shape[1], size=(n_boot, diff.shape[1]))  # resampled item sets
    seeds = rng.integers(0, diff.shape[0], size=(n_boot, diff.shape[0]))  # resampled seeds
    boot = np.array([diff[s][:, i].mean() for s, i in zip(seeds, items)])
    tail = (1 - level) / 2
    lo, hi = np.quantile(boot, [tail, 1 - tail])
    return ChangeInterval(float(diff.mean()), float(lo), float(hi), level, diff.shape[1], diff.shape[0])
