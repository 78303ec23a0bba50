"""Prose: the world's facts stated as plain sentences (several paraphrases, shuffled order).

Prose is the only place the corpus states a test fact, so a test question asks whether a model
can use knowledge it only read about. Entities are drawn in proportion to their fame.
"""
from __future__ import annotations

import itertools
import random
from typing import Any, Callable, Iterator

from .world import COUNTRY_ATTRIBUTES, PERSON_ATTRIBUTES, Country, Person, World

# The kinds of prose document, as named in the corpus mix.
PROSE_KINDS = ("countries", "people")

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


def _entity_doc(entity: Country | Person, attributes: tuple[str, ...],
                templates: dict[str, list[str]], rng: random.Random) -> str:
    """One document stating every attribute of an entity once, in a shuffled order."""
    attrs = list(attributes)
    rng.shuffle(attrs)
    return " ".join(rng.choice(templates[a]).format(n=entity.name, v=getattr(entity, a))
                    for a in attrs)


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
        "countries": each(lambda: _entity_doc(next(countries), COUNTRY_ATTRIBUTES,
                                              _COUNTRY_TEMPLATES, rng)),
        "people": each(lambda: _entity_doc(next(people), PERSON_ATTRIBUTES,
                                           _PERSON_TEMPLATES, rng)),
    }
