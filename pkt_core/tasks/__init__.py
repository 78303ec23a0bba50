"""One registry of tasks: the toy world's four, the four real benchmarks, and user JSONL data.

`get_task(name, **options)` is the only way the rest of PKT Lab obtains a task. Modules register
their factories at import; the registry imports them lazily so `datasets` is loaded only when a
real benchmark is asked for.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable

from .base import (DEFAULT_SPLIT_SIZES, SPLIT_NAMES, Example, ItemScore, Task, TaskError,
                   make_splits, read_messages_jsonl, render_chat)

_FACTORIES: dict[str, Callable[..., Task]] = {}
# Modules that register tasks when imported.
_TASK_MODULES = ("pkt_core.tasks.toyworld", "pkt_core.tasks.benchmarks", "pkt_core.tasks.jsonl")
_loaded = False


def _origin(factory: Callable[..., Task]) -> str:
    """Where a factory is defined: `module.qualname` (the same after a reload of its module)."""
    module = getattr(factory, "__module__", "?")
    return f"{module}.{getattr(factory, '__qualname__', repr(factory))}"


def register_task(name: str) -> Callable[[Callable[..., Task]], Callable[..., Task]]:
    """Register a task factory under `name`; a second, different factory for a name is refused.

    The same definition registering again (its module re-executed, e.g. by importlib.reload)
    replaces the old entry quietly, so re-importing a task module never breaks.
    """
    def wrap(factory: Callable[..., Task]) -> Callable[..., Task]:
        existing = _FACTORIES.get(name)
        if existing is not None and _origin(existing) != _origin(factory):
            raise TaskError(f"task '{name}' is already registered by {_origin(existing)}; "
                            f"{_origin(factory)} cannot register it again (choose another name)")
        _FACTORIES[name] = factory
        return factory
    return wrap


def _load_modules() -> None:
    global _loaded
    if not _loaded:
        for module in _TASK_MODULES:
            importlib.import_module(module)
        _loaded = True


def list_tasks() -> list[str]:
    _load_modules()
    return sorted(_FACTORIES)


def get_task(name: str, **options: Any) -> Task:
    """A task by name (`facts`, `arith`, `complete`, `write`, `mmlu`, `gsm8k`, `humaneval`,
    `mbpp`), or a directory of user JSONL files via `get_task('jsonl', path=...)`."""
    _load_modules()
    if name not in _FACTORIES:
        raise TaskError(f"unknown task '{name}'; choose one of {', '.join(sorted(_FACTORIES))}")
    return _FACTORIES[name](**options)


__all__ = ["DEFAULT_SPLIT_SIZES", "SPLIT_NAMES", "Example", "ItemScore", "Task", "TaskError",
           "get_task", "list_tasks", "make_splits", "read_messages_jsonl", "register_task",
           "render_chat"]
