"""The toy world: a seeded fictional world and four benchmark-shaped tasks that live in it.

Everything is generated from a seed, so PKT Lab ships no data and downloads nothing. The world is
built for *capacity*: thousands of facts, each stated only a few dozen times in the pretraining
corpus, so a larger model (which learns more per exposure) really knows more than a smaller one.

- `facts`    4-option multiple choice about countries and people (MMLU-like, chance 0.25).
- `arith`    word problems about buying goods whose prices the model must *remember* (GSM8K-like).
- `complete` a Python signature + docstring; the body applies named world rules (HumanEval-like).
- `write`    a one-line description + an example assert; write the function (MBPP-like).

The knowledge each task needs (capitals, prices, what "to zorp a number" means) is stated in the
plain-prose part of the corpus. Test items are pinned: their facts are never asked in the corpus'
question-and-answer text and their exact problems are never generated for it.
"""
from __future__ import annotations

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


@dataclass(frozen=True)
class Person:
    name: str
    birthplace: str  # a country name
    profession: str


@dataclass(frozen=True)
class Good:
    name: str
    price: int  # coins per jar


@dataclass(frozen=True)
class Rule:
    """`to <name> a number` means x * mul + add — library knowledge the code tasks need."""
    name: str
    mul: int
    add: int

    def apply(self, x: int) -> int:
        return x * self.mul + self.add

    def code(self, var: str = "x") -> str:
        return f"{var} * {self.mul} + {self.add}"


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


# Entity counts at world_size=1.0: 1,500 facts about places and people plus 230 items of
# "library" knowledge (prices, rules) that the arithmetic and code tasks depend on. Sized so that
# each fact is stated ~80 times in the 3.5M-token corpus the shared CPU allowed: few enough
# exposures that the larger model's better sample efficiency shows, enough that it can reach the
# bar (a 1.5M-token pilot with ~32 exposures per fact left the student at chance).
BASE_COUNTS = {"countries": 150, "people": 450, "goods": 110, "rules": 120,
               "languages": 50, "currencies": 50}


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
                              name(2, 2).capitalize())
                      for _ in range(n["countries"]))
    people = tuple(Person(f"{name(1, 2).capitalize()} {name(2, 2).capitalize()}",
                          rng.choice(countries).name, rng.choice(PROFESSIONS))
                   for _ in range(n["people"]))
    goods = tuple(Good(name(2, 2), rng.randint(2, 20)) for _ in range(n["goods"]))
    rules = tuple(Rule(name(1, 2), rng.randint(2, 5), rng.randint(1, 9))
                  for _ in range(n["rules"]))
    return World(seed, countries, people, goods, rules, languages, currencies)


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


def arith_problem(w: World, rng: random.Random) -> tuple[tuple, str, str]:
    """(key, question, worked answer): one remembered price, a product and a sum or difference."""
    g = rng.choice(w.goods)
    who = rng.choice(_BUYERS)
    a = rng.randint(2, 9)
    cost = a * g.price
    know = f"A jar of {g.name} costs {g.price} coins. {a} * {g.price} = {cost}."
    if rng.random() < 0.5:
        c = rng.randint(10, 99)
        q = (f"{who} buys {a} jars of {g.name} and a basket for {c} coins. "
             f"How many coins does {who} spend?")
        steps, ans, key = f"{cost} + {c} = {cost + c}.", cost + c, ("spend", g.name, a, c)
    else:
        note = 100 if cost < 100 else 200
        q = (f"{who} buys {a} jars of {g.name} and pays with {note} coins. "
             f"How much change does {who} get?")
        steps, ans, key = f"{note} - {cost} = {note - cost}.", note - cost, ("change", g.name, a)
    return key, q, f"{know} {steps}\n#### {ans}"


# Standard list operations: (kind, description templates, code template, python function).
_OPS: dict[str, tuple[list[str], str, Callable[[list[int], int], list[int]]]] = {
    "add": (["add {k} to each number", "increase every number by {k}"],
            "xs = [x + {k} for x in xs]", lambda xs, k: [x + k for x in xs]),
    "sub": (["subtract {k} from each number", "decrease every number by {k}"],
            "xs = [x - {k} for x in xs]", lambda xs, k: [x - k for x in xs]),
    "mul": (["multiply each number by {k}", "scale every number by {k}"],
            "xs = [x * {k} for x in xs]", lambda xs, k: [x * k for x in xs]),
    "gt": (["keep only the numbers greater than {k}", "drop the numbers not above {k}"],
           "xs = [x for x in xs if x > {k}]", lambda xs, k: [x for x in xs if x > k]),
    "lt": (["keep only the numbers less than {k}", "drop the numbers not below {k}"],
           "xs = [x for x in xs if x < {k}]", lambda xs, k: [x for x in xs if x < k]),
    "even": (["keep only the even numbers", "remove the odd numbers"],
             "xs = [x for x in xs if x % 2 == 0]", lambda xs, k: [x for x in xs if x % 2 == 0]),
    "odd": (["keep only the odd numbers", "remove the even numbers"],
            "xs = [x for x in xs if x % 2 == 1]", lambda xs, k: [x for x in xs if x % 2 == 1]),
    "drop": (["drop the first {k} numbers", "skip the first {k} numbers"],
             "xs = xs[{k}:]", lambda xs, k: xs[k:]),
    "take": (["keep the first {k} numbers", "cut the list after {k} numbers"],
             "xs = xs[:{k}]", lambda xs, k: xs[:k]),
    "rev": (["reverse the list", "put the numbers in reverse order"],
            "xs = xs[::-1]", lambda xs, k: xs[::-1]),
    "sort": (["sort the numbers in increasing order", "sort the list from small to large"],
             "xs = sorted(xs)", lambda xs, k: sorted(xs)),
}
_OP_CONST = {"add": (1, 9), "sub": (1, 9), "mul": (2, 5), "gt": (3, 15), "lt": (10, 40),
             "drop": (1, 3), "take": (2, 5)}
# Reducers that end a `complete` function: (description, code, function).
_FINALS: dict[str, tuple[str, str, Callable[[list[int]], int]]] = {
    "sum": ("return the sum of what is left", "return sum(xs)", sum),
    "len": ("return how many numbers are left", "return len(xs)", len),
    "max": ("return the largest number left (0 if none)", "return max(xs, default=0)",
            lambda xs: max(xs, default=0)),
    "min": ("return the smallest number left (0 if none)", "return min(xs, default=0)",
            lambda xs: min(xs, default=0)),
}


def _code_plan(w: World, rng: random.Random) -> tuple[tuple, list[tuple[str, Any]]]:
    """A random program: one named world rule plus one or two standard operations."""
    kinds = rng.sample(sorted(_OPS), rng.randint(1, 2))
    plan: list[tuple[str, Any]] = [(k, rng.randint(*_OP_CONST[k]) if k in _OP_CONST else 0)
                                   for k in kinds]
    plan.insert(rng.randint(0, len(plan)), ("rule", rng.choice(w.rules)))
    key = tuple((k, v.name if isinstance(v, Rule) else v) for k, v in plan)
    return key, plan


def _run_plan(plan: list[tuple[str, Any]], xs: list[int]) -> list[int]:
    for kind, arg in plan:
        xs = [arg.apply(x) for x in xs] if kind == "rule" else _OPS[kind][2](xs, arg)
    return xs


def _describe(plan: list[tuple[str, Any]], rng: random.Random) -> tuple[list[str], list[str]]:
    words, lines = [], []
    for kind, arg in plan:
        if kind == "rule":
            words.append(rng.choice([f"{arg.name} each number", f"apply {arg.name} to every number"]))
            lines.append(f"xs = [{arg.code()} for x in xs]")
        else:
            words.append(rng.choice(_OPS[kind][0]).format(k=arg))
            lines.append(_OPS[kind][1].format(k=arg))
    return words, lines


def _sentence(words: list[str], tail: str) -> str:
    text = ", then ".join(words + [tail])
    return text[0].upper() + text[1:] + "."


def _inputs(rng: random.Random, n: int) -> list[list[int]]:
    return [[rng.randint(0, 20) for _ in range(rng.randint(5, 8))] for _ in range(n)]


def code_problem(w: World, rng: random.Random, style: str) -> tuple[tuple, str, str, str]:
    """(key, prompt, reference answer, hidden asserts) for style 'complete' or 'write'."""
    key, plan = _code_plan(w, rng)
    words, lines = _describe(plan, rng)
    shown, *hidden = _inputs(rng, 4)
    if style == "complete":
        fk = rng.choice(sorted(_FINALS))
        desc, ret, fn = _FINALS[fk]
        key = key + (fk,)
        prompt = (f"def solve(xs: list[int]) -> int:\n    \"\"\"{_sentence(words, desc)}\n"
                  f"    >>> solve({shown})\n    {fn(_run_plan(plan, shown))}\n    \"\"\"\n")
        answer = "\n".join("    " + ln for ln in lines + [ret])
        expect = [fn(_run_plan(plan, xs)) for xs in [shown] + hidden]
    else:
        prompt = (f"Write a function solve(xs) that takes a list of numbers: "
                  f"{_sentence(words, 'return the list')}\n"
                  f"assert solve({shown}) == {_run_plan(plan, shown)}")
        body = "\n".join("    " + ln for ln in lines + ["return xs"])
        answer = f"```python\ndef solve(xs):\n{body}\n```"
        expect = [_run_plan(plan, xs) for xs in [shown] + hidden]
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
        rng = self._rng("examples")
        seen: set = set()
        out: list[Example] = []
        while len(out) < self.test_size + self.n_pool:
            key, q, a = arith_problem(self.world, rng)
            if key in seen:
                continue
            seen.add(key)
            split = "test" if len(out) < self.test_size else None
            out.append(Example(f"arith-{len(out)}", q, a, {"key": key}, split))
        return out

    def corpus_keyed(self, rng: random.Random) -> Iterator[tuple[tuple, str]]:
        while True:
            key, q, a = arith_problem(self.world, rng)
            if key not in self.test_keys():
                yield key, render_chat(q, a)


class CodeTask(ToyTask):
    style = "complete"

    def load_examples(self) -> list[Example]:
        rng = self._rng("examples")
        seen: set = set()
        out: list[Example] = []
        while len(out) < self.test_size + self.n_pool:
            key, prompt, answer, tests = code_problem(self.world, rng, self.style)
            if key in seen:
                continue
            seen.add(key)
            split = "test" if len(out) < self.test_size else None
            out.append(Example(f"{self.name}-{len(out)}", prompt, answer,
                               {"key": key, "tests": tests}, split))
        return out

    def corpus_keyed(self, rng: random.Random) -> Iterator[tuple[tuple, str]]:
        while True:
            key, prompt, answer, _ = code_problem(self.world, rng, self.style)
            if key not in self.test_keys():
                yield key, render_chat(prompt, answer)

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
# Share of documents (by count) per source, chosen for about 45% prose / 10% questions / 15% each
# of arith, complete, write by tokens. Prose carries the knowledge; the chat items teach the four
# formats (and, for arith/code, restate the prices and rules they use).
CORPUS_MIX = {"prose": 0.66, "facts": 0.13, "arith": 0.11, "complete": 0.05, "write": 0.05}


def prose_items(w: World, rng: random.Random) -> Iterator[str]:
    """Documents about one entity (countries, people) or a few prices/rules, weighted so that
    every fact gets about the same number of statements."""
    weights = [len(w.countries) * 4, len(w.people) * 2, len(w.goods), len(w.rules)]
    while True:
        kind = rng.choices(range(4), weights)[0]
        if kind == 0:
            yield _country_doc(rng.choice(w.countries), rng)
        elif kind == 1:
            yield _person_doc(rng.choice(w.people), rng)
        elif kind == 2:
            yield " ".join(_good_sentence(rng.choice(w.goods), rng) for _ in range(4))
        else:
            yield " ".join(_rule_sentence(rng.choice(w.rules), rng) for _ in range(4))


def corpus_documents(seed: int = 0, world_size: float = 1.0, stream_seed: int = 0,
                     mix: dict[str, float] | None = None) -> Iterator[str]:
    """An endless, seeded stream of training documents (each without the EOS token)."""
    mix = mix or CORPUS_MIX
    tasks = toy_tasks(seed, world_size)
    rng = random.Random(f"pkt-corpus:{seed}:{world_size}:{stream_seed}")
    sources = {"prose": prose_items(tasks["facts"].world, rng)}
    sources.update({name: task.corpus_items(rng) for name, task in tasks.items()})
    names = list(mix)
    weights = [mix[n] for n in names]
    while True:
        yield next(sources[rng.choices(names, weights)[0]])
