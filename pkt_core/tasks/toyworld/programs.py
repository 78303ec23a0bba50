"""The two code tasks, both built on chains of 2-4 list operations:

- `complete` a Python signature + docstring describing the chain; the model writes the body
             (HumanEval-like; pass@1 on hidden asserts in the sandbox).
- `write`    the same kind of chain as a one-line description plus an example assert; the model
             writes the function (MBPP-like).

Test programs (their chains of operations with constants) never occur in either task's corpus,
so both measure a skill learned from other compositions.
"""
from __future__ import annotations

import random
from abc import abstractmethod
from typing import Any, Callable, Iterator

from ..base import Example, ItemScore, extract_code, render_chat
from .toy_task import ToyTask

# List operations the code tasks compose: (phrasings, code line, function). Each program chains
# 2-4 of them with their constants, then a reducer, so it is a new composition (the test programs
# never occur in the corpus) written one line per phrase.
_OPS: dict[str, tuple[tuple[str, ...], str, Callable[[list[int], int], list[int]]]] = {
    "add": (("add {c} to each number", "increase every number by {c}"),
            "xs = [x + {c} for x in xs]", lambda xs, c: [x + c for x in xs]),
    "sub": (("subtract {c} from each number", "decrease every number by {c}"),
            "xs = [x - {c} for x in xs]", lambda xs, c: [x - c for x in xs]),
    "mul": (("multiply each number by {c}", "scale every number by {c}"),
            "xs = [x * {c} for x in xs]", lambda xs, c: [x * c for x in xs]),
    "gt": (("keep the numbers greater than {c}", "drop the numbers up to {c}"),
           "xs = [x for x in xs if x > {c}]", lambda xs, c: [x for x in xs if x > c]),
    "lt": (("keep the numbers less than {c}", "drop the numbers from {c} up"),
           "xs = [x for x in xs if x < {c}]", lambda xs, c: [x for x in xs if x < c]),
    "notdiv": (("remove the multiples of {c}", "drop the numbers divisible by {c}"),
               "xs = [x for x in xs if x % {c} != 0]",
               lambda xs, c: [x for x in xs if x % c != 0]),
    "even": (("keep the even numbers", "drop the odd numbers"),
             "xs = [x for x in xs if x % 2 == 0]", lambda xs, c: [x for x in xs if x % 2 == 0]),
    "odd": (("keep the odd numbers", "drop the even numbers"),
            "xs = [x for x in xs if x % 2 == 1]", lambda xs, c: [x for x in xs if x % 2 == 1]),
    "square": (("square each number", "replace every number by its square"),
               "xs = [x * x for x in xs]", lambda xs, c: [x * x for x in xs]),
    "rev": (("reverse the list", "put the numbers in reverse order"),
            "xs = xs[::-1]", lambda xs, c: xs[::-1]),
    "sort": (("sort the numbers", "put the numbers in increasing order"),
             "xs = sorted(xs)", lambda xs, c: sorted(xs)),
    "head": (("keep the first {c} numbers", "take only the first {c} numbers"),
             "xs = xs[:{c}]", lambda xs, c: xs[:c]),
}
_OP_CONSTANTS = {"add": (1, 9), "sub": (1, 9), "mul": (2, 9), "gt": (2, 12), "lt": (5, 15),
                 "notdiv": (3, 7), "head": (2, 5)}
CODE_OPS = (2, 4)
# Reducers that end a `complete` function: (description, code, function). Not len(): it would
# pass whatever a map did.
_REDUCERS: dict[str, tuple[str, str, Callable[[list[int]], int]]] = {
    "sum": ("return the sum", "return sum(xs)", sum),
    "max": ("return the largest number", "return max(xs)", max),
    "min": ("return the smallest number", "return min(xs)", min),
}
Chain = list[tuple[str, int]]  # (operation name, constant) per step; 0 where it takes none


def _sentence(words: list[str], tail: str) -> str:
    text = ", then ".join(words + [tail])
    return text[0].upper() + text[1:] + "."


def _inputs(rng: random.Random, n: int) -> list[list[int]]:
    return [[rng.randint(0, 20) for _ in range(rng.randint(5, 8))] for _ in range(n)]


def _run_ops(ops: Chain, xs: list[int]) -> list[int]:
    for name, c in ops:
        xs = _OPS[name][2](xs, c)
    return xs


def _draw_chain(rng: random.Random) -> tuple[Chain, list[list[int]]]:
    """A chain of operations and four inputs, redrawn until no input's list ends up empty, so a
    reducer never sees an empty list."""
    while True:
        names = [rng.choice(sorted(_OPS)) for _ in range(rng.randint(*CODE_OPS))]
        ops = [(n, rng.randint(*_OP_CONSTANTS[n]) if n in _OP_CONSTANTS else 0) for n in names]
        inputs = _inputs(rng, 4)
        if all(_run_ops(ops, xs) for xs in inputs):
            return ops, inputs


def _complete_problem(rng: random.Random, ops: Chain, words: list[str], body: list[str],
                      inputs: list[list[int]]) -> tuple[tuple, str, str, list[Any]]:
    """(key, prompt, answer, expected results): a docstring to complete, ending in a reducer."""
    shown = inputs[0]
    reducer = rng.choice(sorted(_REDUCERS))
    desc, ret, fn = _REDUCERS[reducer]
    prompt = (f"def solve(xs: list[int]) -> int:\n    \"\"\"{_sentence(words, desc)}\n"
              f"    >>> solve({shown})\n    {fn(_run_ops(ops, shown))}\n    \"\"\"\n")
    answer = "\n".join(f"    {line}" for line in body + [ret])
    return (tuple(ops), reducer), prompt, answer, [fn(_run_ops(ops, xs)) for xs in inputs]


def _write_problem(ops: Chain, words: list[str], body: list[str],
                   inputs: list[list[int]]) -> tuple[tuple, str, str, list[Any]]:
    """(key, prompt, answer, expected results): a one-line description and an example assert."""
    shown = inputs[0]
    prompt = (f"Write a function solve(xs) that takes a list of numbers: "
              f"{_sentence(words, 'return the new list')}\n"
              f"assert solve({shown}) == {_run_ops(ops, shown)}")
    lines = "\n".join(f"    {line}" for line in body + ["return xs"])
    answer = f"```python\ndef solve(xs):\n{lines}\n```"
    return (tuple(ops),), prompt, answer, [_run_ops(ops, xs) for xs in inputs]


def code_problem(rng: random.Random, style: str) -> tuple[tuple, str, str, str]:
    """(key, prompt, reference answer, hidden asserts) for style 'complete' or 'write'.

    A chain of 2-4 list operations described in words, one code line each. The key's first item
    is the chain with its constants, shared by both styles."""
    ops, inputs = _draw_chain(rng)
    words = [rng.choice(_OPS[n][0]).format(c=c) for n, c in ops]
    body = [_OPS[n][1].format(c=c) for n, c in ops]
    if style == "complete":
        key, prompt, answer, expect = _complete_problem(rng, ops, words, body, inputs)
    else:
        key, prompt, answer, expect = _write_problem(ops, words, body, inputs)
    tests = "\n".join(f"assert solve({xs}) == {e}" for xs, e in zip(inputs, expect))
    return key, prompt, answer, tests


class CodeTask(ToyTask):
    """A code task: its programs are scored by running them on hidden asserts in the sandbox."""

    style = "complete"
    _test_chains: set | None = None  # filled on first use by test_chains()

    def load_examples(self) -> list[Example]:
        rng = self._rng("examples")

        def make(is_test: bool) -> tuple[tuple, str, str, dict]:
            key, prompt, answer, tests = code_problem(rng, self.style)
            return key, prompt, answer, {"tests": tests}
        return self._distinct_problems(make)

    def test_chains(self) -> set:
        """The operation chains of *both* code tasks' test programs: neither corpus uses them, so
        a test program is a new composition for `complete` and `write` alike."""
        if self._test_chains is None:
            self._test_chains = {
                ex.meta["key"][0] for cls in (CompleteTask, WriteTask)
                for ex in cls(self.seed, self.world_size, self.test_size).split("test")}
        return self._test_chains

    def corpus_keyed(self, rng: random.Random) -> Iterator[tuple[tuple, str]]:
        """Fresh programs, never a test program's chain of operations (with its constants)."""
        while True:
            key, prompt, answer, _ = code_problem(rng, self.style)
            if key[0] not in self.test_chains():
                yield key, render_chat(prompt, answer)

    @abstractmethod
    def program(self, ex: Example, output: str) -> str:
        """The whole program a generated output stands for, ready to run with the asserts."""

    def score(self, ex: Example, output: str) -> ItemScore:
        from pkt_core.sandbox import run_program  # imported late: only code tasks need it
        program = self.program(ex, output)
        result = run_program(program, ex.meta["tests"], timeout=5.0)
        return ItemScore(program, bool(result.passed), str(result.status), str(result.detail))


class CompleteTask(CodeTask):
    name, kind, style, max_new_tokens = "complete", "code_complete", "complete", 96
    description = "complete a Python function body from its signature and docstring"

    def program(self, ex: Example, output: str) -> str:
        code = extract_code(output) if "```" in output else output
        if code.lstrip().startswith("def "):  # the model rewrote the whole function
            return code
        lines = code.split("\n")
        # Generators or harnesses may strip the first line's indent; put it back.
        if lines and lines[0].strip() and not lines[0].startswith(" "):
            lines[0] = "    " + lines[0]
        return ex.prompt + "\n".join(lines) + "\n"


class WriteTask(CodeTask):
    name, kind, style, max_new_tokens = "write", "code_write", "write", 128
    description = "write a Python function from a one-line description and an example assert"

    def program(self, ex: Example, output: str) -> str:
        return extract_code(output)
