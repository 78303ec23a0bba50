"""The toy world: a seeded fictional world and four benchmark-shaped tasks that live in it.

Everything is generated from a seed, so PKT Lab ships no data and downloads nothing.

- `facts`    4-option multiple choice about countries and people (MMLU-like, chance 0.25). The world
             is built for *capacity*: 2,000 facts, each stated only a few dozen times in prose (more
             for famous entities, fewer for obscure ones), and the test facts are never asked in
             the corpus' question-and-answer text, so a test item asks "can you use a fact you only
             read about?" -- where a model with more capacity knows more.
- `arith`    multi-step shopping problems with a worked solution and `#### N` (GSM8K-like): 1-3
             wares at 2-digit prices, a sum and maybe change, so 1-6 steps with carries.
- `complete` a Python signature + docstring describing a chain of 2-4 list operations; the model
             writes the body (HumanEval-like; pass@1 on hidden asserts in the sandbox).
- `write`    the same kind of chain as a one-line description plus an example assert; the model
             writes the function (MBPP-like).

Test arith problems (their numbers) and test programs (their chains of operations with constants)
never occur in the corpus, so these two measure a skill learned from other instances; their
difficulty is spread over lengths, so a per-step edge of the larger model compounds.
"""
from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Iterator

from . import register_task
from .base import Example, ItemScore, Task, extract_code, render_chat

TEST_SIZE = 300
LETTERS = "ABCD"

# ---------------------------------------------------------------------------------------------
# The world
# ---------------------------------------------------------------------------------------------
_ONSETS = ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "dr",
           "gr", "kr", "st", "th", "sh", "tr", "vel", "mor"]
_VOWELS = ["a", "e", "i", "o", "u", "ai", "ou", "ea"]
_CODAS = ["", "", "", "n", "r", "l", "s", "k", "th", "m"]
PROFESSIONS = ["baker", "weaver", "sailor", "miner", "potter", "scribe", "healer", "farmer",
               "smith", "painter", "singer", "builder", "fisher", "hunter", "tailor", "brewer",
               "carpenter", "merchant", "teacher", "judge", "soldier", "poet", "dancer", "cook",
               "mason", "glassblower", "shepherd", "jeweler", "astronomer", "cartographer"]


@dataclass(frozen=True)
class Country:
    name: str
    capital: str
    language: str
    currency: str
    river: str
    fame: float = 1.0  # relative number of times the corpus mentions it (see POPULARITY)


@dataclass(frozen=True)
class Person:
    name: str
    birthplace: str  # a country name
    profession: str
    fame: float = 1.0


@dataclass(frozen=True)
class World:
    seed: int
    countries: tuple[Country, ...]
    people: tuple[Person, ...]
    languages: tuple[str, ...]
    currencies: tuple[str, ...]

    def n_facts(self) -> int:
        return 4 * len(self.countries) + 2 * len(self.people)


def _name_maker(rng: random.Random) -> Callable[[int, int], str]:
    used: set[str] = set()

    def make(lo: int, hi: int) -> str:
        while True:
            parts = [rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(rng.randint(lo, hi))]
            word = "".join(parts) + rng.choice(_CODAS)
            if word not in used and 4 <= len(word) <= 12:
                used.add(word)
                return word
    return make


# Entity counts at world_size=1.0: 2,000 facts about places and people (200 countries x 4
# attributes, 600 people x 2), each stated only a few dozen times in the corpus. 300 of them are
# test facts, which the corpus' question-and-answer text never asks: answering them means
# extracting knowledge the model only read in prose.
BASE_COUNTS = {"countries": 200, "people": 600, "languages": 80, "currencies": 80}
# Popularity: each entity's share of the prose is log-uniform over a 5x range, like the long tail
# of real-world knowledge. A fixed count would bet the size gap on one point of the
# recall-vs-mentions curve; a spread measures a stretch of it. Measured (model cards, history):
# how many mentions a fact needs hardly depends on size at this scale -- at 11-53 mentions an 8x256
# teacher and a 4x128 student both knew about 40% of the test facts -- so the size gap has to come
# from a student small enough to run out of capacity (4x64), at mentions where the teacher knows
# most facts.
POPULARITY = (1.0, 5.0)


def _fame(rng: random.Random) -> float:
    lo, hi = POPULARITY
    return round(lo * (hi / lo) ** rng.random(), 4)


@lru_cache(maxsize=8)
def make_world(seed: int = 0, world_size: float = 1.0) -> World:
    """The world for a seed (cached: every task of one process shares it)."""
    rng = random.Random(f"pkt-world:{seed}")
    n = {k: max(8, int(round(v * world_size))) for k, v in BASE_COUNTS.items()}
    name = _name_maker(rng)
    languages = tuple(name(1, 2).capitalize() + rng.choice(["ish", "ic", "ese", "an"])
                      for _ in range(n["languages"]))
    currencies = tuple(name(1, 2) for _ in range(n["currencies"]))
    countries = tuple(Country(name(2, 3).capitalize(), name(2, 3).capitalize(),
                              rng.choice(languages), rng.choice(currencies),
                              name(2, 2).capitalize(), _fame(rng))
                      for _ in range(n["countries"]))
    people = tuple(Person(f"{name(1, 2).capitalize()} {name(2, 2).capitalize()}",
                          rng.choice(countries).name, rng.choice(PROFESSIONS), _fame(rng))
                   for _ in range(n["people"]))
    return World(seed, countries, people, languages, currencies)


# ---------------------------------------------------------------------------------------------
# Prose: the facts stated as plain sentences (several paraphrases, shuffled order)
# ---------------------------------------------------------------------------------------------
_COUNTRY_TEMPLATES = {
    "capital": ["The capital of {n} is {v}.", "{v} is the capital city of {n}.",
                "{n} is governed from its capital, {v}.", "The seat of government of {n} is {v}."],
    "language": ["People in {n} speak {v}.", "The main language of {n} is {v}.",
                 "{v} is spoken in {n}.", "In {n}, most people speak {v}."],
    "currency": ["The currency of {n} is the {v}.", "In {n} people pay with the {v}.",
                 "{n} uses the {v} as its money.", "The {v} is the money of {n}."],
    "river": ["The {v} river flows through {n}.", "The longest river of {n} is the {v}.",
              "{n} lies on the {v} river.", "The river {v} crosses {n}."],
}
_PERSON_TEMPLATES = {
    "birthplace": ["{n} was born in {v}.", "{n} comes from {v}.", "The birthplace of {n} is {v}.",
                   "{n} grew up in {v}."],
    "profession": ["{n} works as a {v}.", "{n} is a {v} by trade.", "The profession of {n} is {v}.",
                   "{n} earns a living as a {v}."],
}
def _country_doc(c: Country, rng: random.Random) -> str:
    attrs = list(_COUNTRY_TEMPLATES)
    rng.shuffle(attrs)
    return " ".join(rng.choice(_COUNTRY_TEMPLATES[a]).format(n=c.name, v=getattr(c, a))
                    for a in attrs)


def _person_doc(p: Person, rng: random.Random) -> str:
    attrs = list(_PERSON_TEMPLATES)
    rng.shuffle(attrs)
    return " ".join(rng.choice(_PERSON_TEMPLATES[a]).format(n=p.name, v=getattr(p, a))
                    for a in attrs)


# ---------------------------------------------------------------------------------------------
# Task generators. Each returns (key, Example) so test keys can be excluded from the corpus.
# ---------------------------------------------------------------------------------------------
_QUESTIONS = {
    "capital": ["What is the capital of {n}?", "Which city is the capital of {n}?"],
    "language": ["Which language is mainly spoken in {n}?", "What do people in {n} speak?"],
    "currency": ["What is the currency of {n}?", "Which money is used in {n}?"],
    "river": ["Which river flows through {n}?", "What is the longest river of {n}?"],
    "birthplace": ["Where was {n} born?", "Which country does {n} come from?"],
    "profession": ["What is the profession of {n}?", "What does {n} work as?"],
}


def _fact_pool(w: World) -> list[tuple[str, str, str]]:
    """Every askable fact as (subject, attribute, value)."""
    facts = [(c.name, a, getattr(c, a)) for c in w.countries for a in _COUNTRY_TEMPLATES]
    facts += [(p.name, a, getattr(p, a)) for p in w.people for a in _PERSON_TEMPLATES]
    return facts


def _value_pool(w: World, attr: str) -> list[str]:
    if attr in ("capital", "river"):
        return [getattr(c, attr) for c in w.countries]
    return {"language": list(w.languages), "currency": list(w.currencies),
            "birthplace": [c.name for c in w.countries], "profession": PROFESSIONS}[attr]


def fact_question(w: World, fact: tuple[str, str, str], rng: random.Random, idx: str) -> Example:
    subject, attr, value = fact
    pool = _value_pool(w, attr)
    distractors: list[str] = []
    while len(distractors) < 3:
        d = rng.choice(pool)
        if d != value and d not in distractors:
            distractors.append(d)
    options = distractors + [value]
    rng.shuffle(options)
    correct = options.index(value)
    lines = [rng.choice(_QUESTIONS[attr]).format(n=subject)]
    lines += [f"{LETTERS[i]}. {o}" for i, o in enumerate(options)]
    texts = [f"{LETTERS[i]}. {o}" for i, o in enumerate(options)]
    return Example(idx, "\n".join(lines), texts[correct],
                   {"option_texts": texts, "correct": correct, "fact": [subject, attr, value]})


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


def arith_problem(rng: random.Random) -> tuple[tuple, str, str]:
    """(key, question, worked answer): GSM8K-shaped shopping with every number in the question.

    The answer writes one line per step ("3 * 17 = 51."), then `#### N`. The key is the problem's
    numbers (who buys what does not change the arithmetic), so a test problem's exact arithmetic
    never occurs in the corpus."""
    who = rng.choice(_BUYERS)
    wares = rng.sample(_WARES, rng.randint(*ARITH_WARES))
    lines = [(w, rng.randint(*ARITH_COUNT), rng.randint(*ARITH_PRICE)) for w in wares]
    bought = [f"{_ware(w, n)} at {p} coins {'a' if n > 1 else 'for the'} {w[0]}" for w, n, p in lines]
    listing = bought[0] if len(bought) == 1 else ", ".join(bought[:-1]) + " and " + bought[-1]
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
               "xs = [x for x in xs if x % {c} != 0]", lambda xs, c: [x for x in xs if x % c != 0]),
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


def _sentence(words: list[str], tail: str) -> str:
    text = ", then ".join(words + [tail])
    return text[0].upper() + text[1:] + "."


def _inputs(rng: random.Random, n: int) -> list[list[int]]:
    return [[rng.randint(0, 20) for _ in range(rng.randint(5, 8))] for _ in range(n)]


def _run_ops(ops: list[tuple[str, int]], xs: list[int]) -> list[int]:
    for name, c in ops:
        xs = _OPS[name][2](xs, c)
    return xs


def code_problem(rng: random.Random, style: str) -> tuple[tuple, str, str, str]:
    """(key, prompt, reference answer, hidden asserts) for style 'complete' or 'write'.

    A chain of 2-4 list operations described in words, one code line each. Operations and inputs
    are redrawn until no input's list ends up empty, so a reducer never sees an empty list."""
    while True:
        names = [rng.choice(sorted(_OPS)) for _ in range(rng.randint(*CODE_OPS))]
        ops = [(n, rng.randint(*_OP_CONSTANTS[n]) if n in _OP_CONSTANTS else 0) for n in names]
        inputs = _inputs(rng, 4)
        if all(_run_ops(ops, xs) for xs in inputs):
            break
    words = [rng.choice(_OPS[n][0]).format(c=c) for n, c in ops]
    body = [_OPS[n][1].format(c=c) for n, c in ops]
    shown, *_ = inputs
    if style == "complete":
        fk = rng.choice(sorted(_REDUCERS))
        desc, ret, fn = _REDUCERS[fk]
        key: tuple = (tuple(ops), fk)
        prompt = (f"def solve(xs: list[int]) -> int:\n    \"\"\"{_sentence(words, desc)}\n"
                  f"    >>> solve({shown})\n    {fn(_run_ops(ops, shown))}\n    \"\"\"\n")
        answer = "\n".join(f"    {line}" for line in body + [ret])
        expect: list[Any] = [fn(_run_ops(ops, xs)) for xs in inputs]
    else:
        key = (tuple(ops),)
        prompt = (f"Write a function solve(xs) that takes a list of numbers: "
                  f"{_sentence(words, 'return the new list')}\n"
                  f"assert solve({shown}) == {_run_ops(ops, shown)}")
        lines = "\n".join(f"    {line}" for line in body + ["return xs"])
        answer = f"```python\ndef solve(xs):\n{lines}\n```"
        expect = [_run_ops(ops, xs) for xs in inputs]
    tests = "\n".join(f"assert solve({xs}) == {e}" for xs, e in zip(inputs, expect))
    return key, prompt, answer, tests


# ---------------------------------------------------------------------------------------------
# Tasks
# ---------------------------------------------------------------------------------------------
class ToyTask(Task):
    """Shared plumbing: seeded world, pinned test items, keys excluded from the corpus."""

    n_pool = 1600  # non-test examples (extract/align/train draw from these)

    def __init__(self, seed: int = 0, world_size: float = 1.0, test_size: int = TEST_SIZE):
        self.seed, self.world_size, self.test_size = seed, world_size, test_size
        self.world = make_world(seed, world_size)
        self._test_keys: set | None = None

    def _rng(self, purpose: str) -> random.Random:
        return random.Random(f"pkt-{self.name}:{self.seed}:{self.world_size}:{purpose}")

    def corpus_keyed(self, rng: random.Random) -> Iterator[tuple[tuple, str]]:
        """Endless (problem key, chat text) pairs for the corpus; never a test item's key."""
        raise NotImplementedError

    def corpus_items(self, rng: random.Random) -> Iterator[str]:
        return (text for _, text in self.corpus_keyed(rng))

    def _distinct_problems(self, make: Callable[[bool], tuple[tuple, str, str, dict]]) -> list[Example]:
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
        if self._test_keys is None:
            self._test_keys = {ex.meta["key"] for ex in self.examples() if ex.source_split == "test"}
        return self._test_keys


class FactsTask(ToyTask):
    name, kind, chance, max_new_tokens = "facts", "choice", 0.25, 12
    description = "4-option multiple choice about the toy world's countries and people"

    def load_examples(self) -> list[Example]:
        facts = _fact_pool(self.world)
        rng = self._rng("examples")
        order = list(range(len(facts)))
        rng.shuffle(order)
        n_test = min(self.test_size, len(facts) // 4)
        out = []
        for rank, i in enumerate(order):
            ex = fact_question(self.world, facts[i], rng, f"facts-{i}")
            ex.meta["key"] = tuple(facts[i][:2])
            out.append(Example(ex.id, ex.prompt, ex.answer, ex.meta,
                               "test" if rank < n_test else None))
        return out

    def corpus_keyed(self, rng: random.Random) -> Iterator[tuple[tuple, str]]:
        """Fresh questions (new distractors and order each time) about non-test facts only."""
        facts = [f for f in _fact_pool(self.world) if tuple(f[:2]) not in self.test_keys()]
        while True:
            fact = rng.choice(facts)
            ex = fact_question(self.world, fact, rng, "corpus")
            yield tuple(fact[:2]), render_chat(ex.prompt, ex.answer)


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


class CodeTask(ToyTask):
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
            self._test_chains = {ex.meta["key"][0] for cls in (CompleteTask, WriteTask)
                                 for ex in cls(self.seed, self.world_size, self.test_size).split("test")}
        return self._test_chains

    def corpus_keyed(self, rng: random.Random) -> Iterator[tuple[tuple, str]]:
        """Fresh programs, never a test program's chain of operations (with its constants)."""
        while True:
            key, prompt, answer, _ = code_problem(rng, self.style)
            if key[0] not in self.test_chains():
                yield key, render_chat(prompt, answer)

    def program(self, ex: Example, output: str) -> str:
        raise NotImplementedError

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


@register_task("facts")
def facts_task(seed: int = 0, world_size: float = 1.0, **_: Any) -> FactsTask:
    return FactsTask(seed, world_size)


@register_task("arith")
def arith_task(seed: int = 0, world_size: float = 1.0, **_: Any) -> ArithTask:
    return ArithTask(seed, world_size)


@register_task("complete")
def complete_task(seed: int = 0, world_size: float = 1.0, **_: Any) -> CompleteTask:
    return CompleteTask(seed, world_size)


@register_task("write")
def write_task(seed: int = 0, world_size: float = 1.0, **_: Any) -> WriteTask:
    return WriteTask(seed, world_size)


TOY_TASKS = ("facts", "arith", "complete", "write")


def toy_tasks(seed: int = 0, world_size: float = 1.0) -> dict[str, ToyTask]:
    return {"facts": FactsTask(seed, world_size), "arith": ArithTask(seed, world_size),
            "complete": CompleteTask(seed, world_size), "write": WriteTask(seed, world_size)}


# ---------------------------------------------------------------------------------------------
# The pretraining corpus
# ---------------------------------------------------------------------------------------------
# Share of documents (by count) per source, set from measured document lengths (see
# `corpus_stats`) so that at 8M tokens the prose states each fact about 38 times on average (15-75
# by popularity; 9% of the tokens), and the rest teach the formats: about 9% fact questions, 36%
# arith, 22% complete and 24% write.
CORPUS_MIX = {"countries": 0.07, "people": 0.21, "facts": 0.17,
              "arith": 0.27, "complete": 0.12, "write": 0.12}
PROSE_KINDS = ("countries", "people")


def _by_fame(items: tuple[Any, ...], rng: random.Random) -> Iterator[Any]:
    """Endless draws of items with probability proportional to their fame."""
    cum = list(itertools.accumulate(x.fame for x in items))
    while True:
        yield rng.choices(items, cum_weights=cum, k=1)[0]


def prose_sources(w: World, rng: random.Random) -> dict[str, Iterator[str]]:
    """One endless document stream per prose kind; entities are drawn by popularity."""
    countries, people = _by_fame(w.countries, rng), _by_fame(w.people, rng)

    def each(make: Callable[[], str]) -> Iterator[str]:
        while True:
            yield make()
    return {
        "countries": each(lambda: _country_doc(next(countries), rng)),
        "people": each(lambda: _person_doc(next(people), rng)),
    }


def prose_items(w: World, rng: random.Random) -> Iterator[str]:
    """Prose documents of every kind in the corpus' proportions."""
    sources = prose_sources(w, rng)
    weights = [CORPUS_MIX[k] for k in PROSE_KINDS]
    while True:
        yield next(sources[rng.choices(PROSE_KINDS, weights)[0]])


def corpus_documents(seed: int = 0, world_size: float = 1.0, stream_seed: int = 0,
                     mix: dict[str, float] | None = None) -> Iterator[str]:
    """An endless, seeded stream of training documents (each without the EOS token)."""
    mix = mix or CORPUS_MIX
    tasks = toy_tasks(seed, world_size)
    rng = random.Random(f"pkt-corpus:{seed}:{world_size}:{stream_seed}")
    sources = prose_sources(tasks["facts"].world, rng)
    sources.update({name: task.corpus_items(rng) for name, task in tasks.items()})
    names = list(mix)
    weights = [mix[n] for n in names]
    while True:
        yield next(sources[rng.choices(names, weights)[0]])


def corpus_stats(tokenizer: Any, n_tokens: int, seed: int = 0, world_size: float = 1.0,
                 sample_docs: int = 20000) -> dict[str, Any]:
    """Token share per source and expected prose mentions per fact at a `n_tokens` budget."""
    rng = random.Random(f"pkt-corpus-stats:{seed}")
    w = make_world(seed, world_size)
    tasks = toy_tasks(seed, world_size)
    sources = prose_sources(w, rng)
    sources.update({name: task.corpus_items(rng) for name, task in tasks.items()})
    per_doc = {}
    for name in CORPUS_MIX:
        docs = [next(sources[name]) for _ in range(max(50, sample_docs // len(CORPUS_MIX)))]
        per_doc[name] = sum(len(r) + 1 for r in tokenizer(docs, add_special_tokens=False)
                            ["input_ids"]) / len(docs)
    total_w = sum(CORPUS_MIX.values())
    tokens_per_doc = sum(CORPUS_MIX[n] / total_w * per_doc[n] for n in CORPUS_MIX)
    n_docs = n_tokens / tokens_per_doc
    share = {n: round(CORPUS_MIX[n] / total_w * per_doc[n] / tokens_per_doc, 4) for n in CORPUS_MIX}
    pools = {"countries": w.countries, "people": w.people}
    mentions = {}
    for kind in PROSE_KINDS:
        items = pools[kind]
        per_item = n_docs * CORPUS_MIX[kind] / total_w  # each document states every attribute once
        fame = sum(x.fame for x in items)
        counts = sorted(per_item * x.fame / fame for x in items)
        mentions[kind] = {"mean": round(sum(counts) / len(counts), 1), "min": round(counts[0], 1),
                          "median": round(counts[len(counts) // 2], 1), "max": round(counts[-1], 1)}
    return {"tokens": n_tokens, "tokens_per_doc": {k: round(v, 1) for k, v in per_doc.items()},
            "token_share": share, "prose_mentions_per_fact": mentions}
