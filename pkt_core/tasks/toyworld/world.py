"""The toy world's entities: countries and people with seeded, made-up names and their facts.

The world is built for *capacity*: 2,000 facts at world_size=1.0 (200 countries x 4 attributes,
600 people x 2), each with a popularity (`fame`) that sets how often the corpus states it.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

_ONSETS = ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "dr",
           "gr", "kr", "st", "th", "sh", "tr", "vel", "mor"]
_VOWELS = ["a", "e", "i", "o", "u", "ai", "ou", "ea"]
_CODAS = ["", "", "", "n", "r", "l", "s", "k", "th", "m"]
PROFESSIONS = ["baker", "weaver", "sailor", "miner", "potter", "scribe", "healer", "farmer",
               "smith", "painter", "singer", "builder", "fisher", "hunter", "tailor", "brewer",
               "carpenter", "merchant", "teacher", "judge", "soldier", "poet", "dancer", "cook",
               "mason", "glassblower", "shepherd", "jeweler", "astronomer", "cartographer"]
# The attributes each entity has, in the order the fact pool and the prose list them (part of
# the seeded draws: reordering changes the corpus).
COUNTRY_ATTRIBUTES = ("capital", "language", "currency", "river")
PERSON_ATTRIBUTES = ("birthplace", "profession")


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
        return (len(COUNTRY_ATTRIBUTES) * len(self.countries)
                + len(PERSON_ATTRIBUTES) * len(self.people))


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
    # The draws below run in a fixed order: reordering them changes every name in the world
    # (and so the corpus the shipped models were trained on).
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
