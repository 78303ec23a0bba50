"""The toy world: a seeded fictional world and four benchmark-shaped tasks that live in it.

Everything is generated from a seed, so PKT Lab ships no data and downloads nothing. The shipped
model family (assets/models) was trained on this world's corpus, so every draw below is part of
what those models learned: a change that moves one random draw changes the corpus.

- world.py      the entities (countries, people) and their facts
- prose.py      the facts stated as sentences: the only place the corpus states a test fact
- toy_task.py   what the four tasks share (seeded world, pinned test items, corpus streams)
- facts.py      `facts`: 4-option multiple choice about the world (MMLU-like, chance 0.25)
- arith.py      `arith`: multi-step shopping problems with a worked solution (GSM8K-like)
- programs.py   `complete` and `write`: chains of list operations (HumanEval- and MBPP-like)
- family.py     the four tasks as one family
- corpus.py     the pretraining corpus mixing prose and the tasks' formats, and its statistics

The task factories are registered here, at import of this package, so each one's origin in the
task registry reads `pkt_core.tasks.toyworld.<name>_task`.
"""
from __future__ import annotations

from typing import Any

from .. import register_task
from .arith import ARITH_COUNT, ARITH_PRICE, ARITH_WARES, ArithTask, arith_problem
from .corpus import CORPUS_MIX, corpus_documents, corpus_stats
from .facts import LETTERS, FactsTask, fact_question
from .family import TOY_TASKS, toy_tasks
from .programs import CODE_OPS, CodeTask, CompleteTask, WriteTask, code_problem
from .prose import PROSE_KINDS, prose_sources
from .toy_task import TEST_SIZE, ToyTask
from .world import (BASE_COUNTS, COUNTRY_ATTRIBUTES, PERSON_ATTRIBUTES, POPULARITY, PROFESSIONS,
                    Country, Person, World, make_world)


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


__all__ = ["ARITH_COUNT", "ARITH_PRICE", "ARITH_WARES", "ArithTask", "BASE_COUNTS", "CODE_OPS",
           "CORPUS_MIX", "COUNTRY_ATTRIBUTES", "CodeTask", "CompleteTask", "Country",
           "FactsTask", "LETTERS", "PERSON_ATTRIBUTES", "POPULARITY", "PROFESSIONS",
           "PROSE_KINDS", "Person", "TEST_SIZE", "TOY_TASKS", "ToyTask", "World", "WriteTask",
           "arith_problem", "arith_task", "code_problem", "complete_task", "corpus_documents",
           "corpus_stats", "fact_question", "facts_task", "make_world", "prose_sources",
           "toy_tasks", "write_task"]
