"""The four toy tasks as one family, in the order results and cards list them."""
from __future__ import annotations

from .arith import ArithTask
from .facts import FactsTask
from .programs import CompleteTask, WriteTask
from .toy_task import ToyTask

TOY_TASKS = ("facts", "arith", "complete", "write")


def toy_tasks(seed: int = 0, world_size: float = 1.0) -> dict[str, ToyTask]:
    """Each toy task of one world, by name (all four share the cached world)."""
    return {"facts": FactsTask(seed, world_size), "arith": ArithTask(seed, world_size),
            "complete": CompleteTask(seed, world_size), "write": WriteTask(seed, world_size)}
