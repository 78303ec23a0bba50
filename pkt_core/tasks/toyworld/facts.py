"""`facts`: 4-option multiple choice about the world's countries and people (MMLU-like, chance
0.25). Test facts are never asked in the corpus' question-and-answer text, only stated in prose.
"""
from __future__ import annotations

import random
from typing import Iterator

from ..base import Example, render_chat
from .toy_task import ToyTask
from .world import COUNTRY_ATTRIBUTES, PERSON_ATTRIBUTES, PROFESSIONS, World

LETTERS = "ABCD"

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
    facts = [(c.name, a, getattr(c, a)) for c in w.countries for a in COUNTRY_ATTRIBUTES]
    facts += [(p.name, a, getattr(p, a)) for p in w.people for a in PERSON_ATTRIBUTES]
    return facts


def _value_pool(w: World, attr: str) -> list[str]:
    """Every value an attribute can take: where a question's distractors come from."""
    if attr in ("capital", "river"):
        return [getattr(c, attr) for c in w.countries]
    return {"language": list(w.languages), "currency": list(w.currencies),
            "birthplace": [c.name for c in w.countries], "profession": PROFESSIONS}[attr]


def fact_question(w: World, fact: tuple[str, str, str], rng: random.Random, idx: str) -> Example:
    """A 4-option question about `fact`: three distinct distractors, options in a random order."""
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
    texts = [f"{LETTERS[i]}. {o}" for i, o in enumerate(options)]
    prompt = "\n".join([rng.choice(_QUESTIONS[attr]).format(n=subject)] + texts)
    return Example(idx, prompt, texts[correct],
                   {"option_texts": texts, "correct": correct, "fact": [subject, attr, value]})


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
