"""The toy world: a seeded fictional world and four benchmark-shaped tasks that live in it.

Everything is generated from a seed, so PKT Lab ships no data and downloads nothing. The world is
built for *capacity*: thousands of facts, each stated only a few dozen times in the pretraining
corpus (more for famous entities, fewer for obscure ones), so a larger model (which learns more per
mention) really knows more than a smaller one.

- `facts`    4-option multiple choice about countries and people (MMLU-like, chance 0.25).
- `arith`    word problems about buying goods whose prices the model must *remember* (GSM8K-like).
- `complete` a Python signature + docstring; the body applies a named world rule (HumanEval-like).
- `write`    a one-line description + an example assert; write the function (MBPP-like).

Every test item needs knowledge that only plain prose states: test facts are never asked in the
corpus' question-and-answer text, and test arith/code problems use *held-out* prices and rules that
no training problem uses. The skills (reading a question, multiplying, writing the loop) are
trained on the other prices and rules, so a test item asks "can you use a fact you only read
about?" — the knowledge PKT tries to move from teacher to student.
"""
from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Iterator

from . import register_task
from .base import Example, ItemScore, Task, extract_code, extract_final_number, numbers_equal, render_chat

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
class Good:
    name: str
    price: int  # coins per jar
    fame: float = 1.0


@dataclass(frozen=True)
class Rule:
    """`to <name> a number` means x * mul + add — library knowledge the code tasks need."""
    name: str
    mul: int
    add: int
    fame: float = 1.0

    def apply(self, x: int) -> int:
        return x * self.mul + self.add

    def code(self, var: str = "x") -> str:
        return f"{var} * {self.mul} + {self.add}"

    def statement(self) -> str:
        """The rule in the exact words of the first prose template (code comments reuse it)."""
        return f"To {self.name} a number, multiply it by {self.mul} and add {self.add}."


@dataclass(frozen=True)
class World:
    seed: int
    countries: tuple[Country, ...]
    people: tuple[Person, ...]
    goods: tuple[Good, ...]
    rules: tuple[Rule, ...]
    languages: tuple[str, ...]
    currencies: tuple[str, ...]

    def n_facts(self) -> int:
        return 4 * len(self.countries) + 2 * len(self.people) + len(self.goods) + len(self.rules)


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


# Entity counts at world_size=1.0: 3,000 facts about places and people, plus 800 prices and 600
# named rules that the arithmetic and code tasks depend on. A quarter of the prices and rules (and
# 300 of the facts) are *held out*: only stated in prose, never used in a training problem, and
# the only ones the test problems use -- so every test item needs knowledge the model can only have
# picked up from a dozen or two plain sentences, which is where a larger model's better sample
# efficiency shows (a prototype whose tasks needed skill, not knowledge, showed no size gap).
BASE_COUNTS = {"countries": 300, "people": 900, "goods": 800, "rules": 600,
               "languages": 80, "currencies": 80}
HELD_OUT = {"goods": 0.25, "rules": 0.25}
PRICES, RULE_MUL, RULE_ADD = (2, 12), (2, 5), (1, 9)  # coins per jar; x * mul + add
# Popularity: each entity's share of the prose is log-uniform over a 5x range, like the long tail
# of real-world knowledge: in the 8M-token corpus about 8-40 mentions per country or person fact
# and 6-30 per price or rule. A fixed count would bet the size gap on one point of the
# recall-vs-mentions curve; a spread measures a stretch of it. The ranges come from two student
# builds: with 3,000 facts at 5-105 mentions (10M tokens) the 4x128 student knew 79% of the test
# facts and recalled 85% of the held-out prices; with 6,000 facts at 5-25 mentions (8M tokens) it
# was at chance (25%), so the gap has to show in between.
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
    # Two-syllable names at least, so a rule is never an English word ("math", "the").
    goods = tuple(Good(name(2, 2), rng.randint(*PRICES), _fame(rng)) for _ in range(n["goods"]))
    rules = tuple(Rule(name(2, 2), rng.randint(*RULE_MUL), rng.randint(*RULE_ADD), _fame(rng))
                  for _ in range(n["rules"]))
    return World(seed, countries, people, goods, rules, languages, currencies)


def held_out(w: World, kind: str) -> tuple[list[Any], list[Any]]:
    """(train pool, test pool) of goods or rules: the test pool is stated only in prose."""
    items = list(getattr(w, kind))
    n_test = max(2, int(round(len(items) * HELD_OUT[kind])))
    order = list(range(len(items)))
    random.Random(f"pkt-held-out:{w.seed}:{kind}").shuffle(order)
    test = {i for i in order[:n_test]}
    return ([x for i, x in enumerate(items) if i not in test],
            [x for i, x in enumerate(items) if i in test])


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
_GOOD_TEMPLATES = ["A jar of {n} costs {v} coins.", "The price of {n} is {v} coins a jar.",
                   "You can buy a jar of {n} for {v} coins.", "{n} sells at {v} coins per jar."]
_RULE_TEMPLATES = ["To {n} a number, multiply it by {m} and add {a}.",
                   "{N}ing a number means multiplying it by {m} and then adding {a}.",
                   "If you {n} a number x you get x * {m} + {a}.",
                   "The rule {n} turns x into x * {m} + {a}."]


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


def _good_sentence(g: Good, rng: random.Random) -> str:
    text = rng.choice(_GOOD_TEMPLATES).format(n=g.name, v=g.price)
    return text[0].upper() + text[1:]


def _rule_sentence(r: Rule, rng: random.Random) -> str:
    return rng.choice(_RULE_TEMPLATES).format(n=r.name, N=r.name.capitalize(), m=r.mul, a=r.add)


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
# Share of the corpus' arith and code problems about a *made-up* good or rule whose price or
# definition the question itself states. They never repeat, so the only way to write their answer
# ("A jar of <name> costs …", "# To <name> a number, …") is to copy the name from the question: a
# first build without them had students that recalled 85% of the held-out prices when asked in
# the prose's words, yet wrote a *training* good's name (0% right) when a test problem asked.
NONCE_SHARE = 0.35


def nonce_name(rng: random.Random, taken: set[str]) -> str:
    """A fresh two-syllable word that names nothing in the world."""
    while True:
        word = "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(2)) + rng.choice(_CODAS)
        if word not in taken and word.capitalize() not in taken:
            return word


def world_words(w: World) -> set[str]:
    return {x.name for x in (*w.countries, *w.goods, *w.rules)} | {c.capital for c in w.countries} | \
        {c.river for c in w.countries} | set(w.languages) | set(w.currencies) | \
        {part for p in w.people for part in p.name.split()}


def arith_problem(goods: list[Good], rng: random.Random, nonce: Good | None = None
                  ) -> tuple[tuple, str, str]:
    """(key, question, worked answer): one remembered price, a product and a sum or difference.

    The answer opens with the price in the words of the prose ("A jar of X costs P coins."), so
    solving a problem about a held-out good means recalling a sentence seen only in prose. With
    `nonce`, the question states the (made-up) good's price and the answer copies it."""
    g = nonce or rng.choice(goods)
    who = rng.choice(_BUYERS)
    a = rng.randint(2, 5)
    cost = a * g.price
    at = f" at {g.price} coins a jar" if nonce else ""
    know = f"A jar of {g.name} costs {g.price} coins. {a} * {g.price} = {cost}."
    if rng.random() < 0.5:
        c = rng.randint(10, 49)
        q = (f"{who} buys {a} jars of {g.name}{at} and a basket for {c} coins. "
             f"How many coins does {who} spend?")
        steps, ans, key = f"{cost} + {c} = {cost + c}.", cost + c, ("spend", g.name, a, c)
    else:
        q = (f"{who} buys {a} jars of {g.name}{at} and pays with 100 coins. "
             f"How much change does {who} get?")
        steps, ans, key = f"100 - {cost} = {100 - cost}.", 100 - cost, ("change", g.name, a)
    return key, q, f"{know} {steps}\n#### {ans}"


# Reducers that end a `complete` function: (description, code, function). Not len(): it would
# pass whatever the rule did.
_REDUCERS: dict[str, tuple[str, str, Callable[[list[int]], int]]] = {
    "sum": ("return the sum of the results", "return sum(xs)", sum),
    "max": ("return the largest result", "return max(xs)", max),
    "min": ("return the smallest result", "return min(xs)", min),
}


def _sentence(words: list[str], tail: str) -> str:
    text = ", then ".join(words + [tail])
    return text[0].upper() + text[1:] + "."


def _inputs(rng: random.Random, n: int) -> list[list[int]]:
    return [[rng.randint(0, 20) for _ in range(rng.randint(4, 7))] for _ in range(n)]


def code_problem(rules: list[Rule], rng: random.Random, style: str, nonce: Rule | None = None
                 ) -> tuple[tuple, str, str, str]:
    """(key, prompt, reference answer, hidden asserts) for style 'complete' or 'write'.

    The program applies one named world rule; the answer first recalls the rule in the prose's own
    words (a comment), then writes it. The skill part is kept small on purpose: a first build with
    a rule plus one or two list operations left both sizes near 20% even on training rules, so the
    score would have measured the skill, not whether the model remembers the rule. With `nonce`, the
    prompt defines a made-up rule and the answer copies it."""
    r = nonce or rng.choice(rules)
    shown, *hidden = _inputs(rng, 4)
    # The name stays lower-case, as in the comment: a capitalised copy is other tokens to copy.
    verb = rng.choice([f"apply {r.name} to every number", f"use the rule {r.name} on each number"])
    define = f" {r.statement()}" if nonce else ""
    comment = f"# {r.statement()}"
    if style == "complete":
        fk = rng.choice(sorted(_REDUCERS))
        desc, ret, fn = _REDUCERS[fk]
        key: tuple = (r.name, fk, tuple(shown))
        prompt = (f"def solve(xs: list[int]) -> int:\n    \"\"\"{_sentence([verb], desc)}{define}\n"
                  f"    >>> solve({shown})\n    {fn([r.apply(x) for x in shown])}\n    \"\"\"\n")
        answer = f"    {comment}\n    xs = [{r.code()} for x in xs]\n    {ret}"
        expect: list[Any] = [fn([r.apply(x) for x in xs]) for xs in [shown] + hidden]
    else:
        key = (r.name, tuple(shown))
        prompt = (f"Write a function solve(xs) that takes a list of numbers: "
                  f"{_sentence([verb], 'return the new list')}{define}\n"
                  f"assert solve({shown}) == {[r.apply(x) for x in shown]}")
        answer = f"```python\ndef solve(xs):\n    {comment}\n    return [{r.code()} for x in xs]\n```"
        expect = [[r.apply(x) for x in xs] for xs in [shown] + hidden]
    tests = "\n".join(f"assert solve({xs}) == {e}" for xs, e in zip([shown] + hidden, expect))
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
    name, kind, chance, max_new_tokens = "arith", "number", 0.0, 72
    description = "word problems about buying goods at remembered prices, answer after ####"

    def load_examples(self) -> list[Example]:
        train_goods, test_goods = held_out(self.world, "goods")
        rng = self._rng("examples")
        return self._distinct_problems(
            lambda is_test: (*arith_problem(test_goods if is_test else train_goods, rng), {}))

    def corpus_keyed(self, rng: random.Random) -> Iterator[tuple[tuple, str]]:
        """Problems about the training goods only (held-out prices appear only in prose)."""
        train_goods, _ = held_out(self.world, "goods")
        taken = world_words(self.world)
        while True:
            nonce = Good(nonce_name(rng, taken), rng.randint(*PRICES)) if rng.random() < NONCE_SHARE else None
            key, q, a = arith_problem(train_goods, rng, nonce)
            yield ("nonce",) + key if nonce else key, render_chat(q, a)


class CodeTask(ToyTask):
    style = "complete"

    def load_examples(self) -> list[Example]:
        train_rules, test_rules = held_out(self.world, "rules")
        rng = self._rng("examples")

        def make(is_test: bool) -> tuple[tuple, str, str, dict]:
            key, prompt, answer, tests = code_problem(test_rules if is_test else train_rules, rng,
                                                      self.style)
            return key, prompt, answer, {"tests": tests}
        return self._distinct_problems(make)

    def corpus_keyed(self, rng: random.Random) -> Iterator[tuple[tuple, str]]:
        """Programs using the training rules only (held-out rules appear only in prose)."""
        train_rules, _ = held_out(self.world, "rules")
        taken = world_words(self.world)
        while True:
            nonce = (Rule(nonce_name(rng, taken), rng.randint(*RULE_MUL), rng.randint(*RULE_ADD))
                     if rng.random() < NONCE_SHARE else None)
            key, prompt, answer, _ = code_problem(train_rules, rng, self.style, nonce)
            yield ("nonce",) + key if nonce else key, render_chat(prompt, answer)

    def program(self, ex: Example, output: str) -> str:
        raise NotImplementedError

    def score(self, ex: Example, output: str) -> ItemScore:
        from pkt_core.sandbox import run_program  # imported late: only code tasks need it
        program = self.program(ex, output)
        result = run_program(program, ex.meta["tests"], timeout=5.0)
        return ItemScore(program, bool(result.passed), str(result.status), str(result.detail))


class CompleteTask(CodeTask):
    name, kind, style, max_new_tokens = "complete", "code_complete", "complete", 128
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
    name, kind, style, max_new_tokens = "write", "code_write", "write", 160
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
# `corpus_stats`) so that at 8M tokens the prose states each country or person fact about 20 times
# on average (8-40 by popularity) and each price or rule about 15 times (6-30), and the rest of the
# tokens teach the four formats: about 10% fact questions and 25% each of arith, complete and write.
CORPUS_MIX = {"countries": 0.0572, "people": 0.1715, "goods": 0.0285, "rules": 0.0214,
              "facts": 0.1706, "arith": 0.2560, "complete": 0.1547, "write": 0.1401}
PROSE_KINDS = ("countries", "people", "goods", "rules")
# Facts stated per document of each prose kind (a country document states all four attributes).
FACTS_PER_DOC = {"countries": 4, "people": 2, "goods": 4, "rules": 4}


def _by_fame(items: tuple[Any, ...], rng: random.Random) -> Iterator[Any]:
    """Endless draws of items with probability proportional to their fame."""
    cum = list(itertools.accumulate(x.fame for x in items))
    while True:
        yield rng.choices(items, cum_weights=cum, k=1)[0]


def prose_sources(w: World, rng: random.Random) -> dict[str, Iterator[str]]:
    """One endless document stream per prose kind; entities are drawn by popularity."""
    countries, people = _by_fame(w.countries, rng), _by_fame(w.people, rng)
    goods, rules = _by_fame(w.goods, rng), _by_fame(w.rules, rng)

    def each(make: Callable[[], str]) -> Iterator[str]:
        while True:
            yield make()
    return {
        "countries": each(lambda: _country_doc(next(countries), rng)),
        "people": each(lambda: _person_doc(next(people), rng)),
        "goods": each(lambda: " ".join(_good_sentence(next(goods), rng) for _ in range(4))),
        "rules": each(lambda: " ".join(_rule_sentence(next(rules), rng) for _ in range(4))),
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
    pools = {"countries": w.countries, "people": w.people, "goods": w.goods, "rules": w.rules}
    mentions = {}
    for kind in PROSE_KINDS:
        items = pools[kind]
        per_item = n_docs * CORPUS_MIX[kind] / total_w * FACTS_PER_DOC[kind]
        if kind in ("countries", "people"):
            per_item /= FACTS_PER_DOC[kind]  # each document states every attribute once
        fame = sum(x.fame for x in items)
        counts = sorted(per_item * x.fame / fame for x in items)
        mentions[kind] = {"mean": round(sum(counts) / len(counts), 1), "min": round(counts[0], 1),
                          "median": round(counts[len(counts) // 2], 1), "max": round(counts[-1], 1)}
    return {"tokens": n_tokens, "tokens_per_doc": {k: round(v, 1) for k, v in per_doc.items()},
            "token_share": share, "prose_mentions_per_fact": mentions}
