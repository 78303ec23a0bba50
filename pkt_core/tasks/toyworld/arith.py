"""`arith`: multi-step shopping problems with a worked solution and `#### N` (GSM8K-like).

1-3 wares at 2-digit prices, a sum and maybe change, so 1-6 steps with carries. Test problems
(their numbers) never occur in the corpus, so the task measures a skill learned from other
instances; difficulty is spread over lengths, so a per-step edge of the larger model compounds.
"""
from __future__ import annotations

import random
from typing import Iterator

from ..base import Example, render_chat
from .toy_task import ToyTask

_BUYERS = ["Mira", "Tobin", "Lena", "Arlo", "Suri", "Pell", "Nadi", "Korr", "Ivy", "Dane"]
_WARES = [("jar", "jars", "honey"), ("loaf", "loaves", "bread"), ("basket", "baskets", "plums"),
          ("candle", "candles", None), ("rope", "ropes", None), ("lamp", "lamps", None),
          ("sack", "sacks", "flour"), ("bottle", "bottles", "oil"), ("box", "boxes", "nails"),
          ("cup", "cups", None), ("bowl", "bowls", None), ("pot", "pots", None)]
# Difficulty is spread, not fixed: 1-3 wares (each a product), then a sum and maybe change, so a
# problem takes 1-6 written steps; a model's score measures a stretch of the accuracy-vs-steps
# curve, where a per-step edge of the larger model compounds.
ARITH_WARES, ARITH_COUNT, ARITH_PRICE = (1, 3), (2, 9), (11, 39)


def _ware(w: tuple[str, str, str | None], n: int) -> str:
    unit = w[0] if n == 1 else w[1]
    return f"{n} {unit} of {w[2]}" if w[2] else f"{n} {unit}"


def _listing(lines: list[tuple[tuple[str, str, str | None], int, int]]) -> str:
    """The wares bought, as one phrase: '2 jars of honey at 13 coins a jar and 1 lamp at ...'."""
    bought = [f"{_ware(w, n)} at {p} coins {'a' if n > 1 else 'for the'} {w[0]}"
              for w, n, p in lines]
    return bought[0] if len(bought) == 1 else ", ".join(bought[:-1]) + " and " + bought[-1]


def arith_problem(rng: random.Random) -> tuple[tuple, str, str]:
    """(key, question, worked answer): GSM8K-shaped shopping with every number in the question.

    The answer writes one line per step ("3 * 17 = 51."), then `#### N`. The key is the problem's
    numbers (who buys what does not change the arithmetic), so a test problem's exact arithmetic
    never occurs in the corpus."""
    who = rng.choice(_BUYERS)
    wares = rng.sample(_WARES, rng.randint(*ARITH_WARES))
    lines = [(w, rng.randint(*ARITH_COUNT), rng.randint(*ARITH_PRICE)) for w in wares]
    listing = _listing(lines)
    steps = [f"{n} * {p} = {n * p}." for _, n, p in lines]
    total = lines[0][1] * lines[0][2]
    for _, n, p in lines[1:]:
        steps.append(f"{total} + {n * p} = {total + n * p}.")
        total += n * p
    pay = None
    if rng.random() < 0.5:
        pay = (total // 100 + rng.randint(1, 3)) * 100
        q = f"{who} buys {listing}. {who} pays with {pay} coins. How much change does {who} get?"
        steps.append(f"{pay} - {total} = {pay - total}.")
        ans = pay - total
    else:
        q = f"{who} buys {listing}. How many coins does {who} spend?"
        ans = total
    key = (tuple((n, p) for _, n, p in lines), pay)
    return key, q, " ".join(steps) + f"\n#### {ans}"


class ArithTask(ToyTask):
    name, kind, chance, max_new_tokens = "arith", "number", 0.0, 96
    description = "multi-step shopping word problems with a worked solution, answer after ####"

    def load_examples(self) -> list[Example]:
        rng = self._rng("examples")
        return self._distinct_problems(lambda is_test: (*arith_problem(rng), {}))

    def corpus_keyed(self, rng: random.Random) -> Iterator[tuple[tuple, str]]:
        """Fresh problems, never one whose numbers a test problem has."""
        while True:
            key, q, a = arith_problem(rng)
            if key not in self.test_keys():
                yield key, render_chat(q, a)
