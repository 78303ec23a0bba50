"""One registry of tasks: the toy world's four, the four real benchmarks, and user JSONL data.

`get_task(name, **options)` is the only way the rest of PKT Lab obtains a task. Modules register
their factories at import; the registry imports them lazily so `datasets` is loaded only when a
real benchmark is asked for.
"""
from __future__ import annotations

import importlib
import sys
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


def get_task(name: str, *, limits: Any = None, **options: Any) -> Task:
    """A task by name (`facts`, `arith`, `complete`, `write`, `mmlu`, `gsm8k`, `humaneval`,
    `mbpp`), or a directory of user JSONL files via `get_task('jsonl', path=...)`. A code task
    is refused under public `limits` (a `policy.Limits`) where isolation is inadequate."""
    _load_modules()
    if name not in _FACTORIES:
        raise TaskError(f"unknown task '{name}'; choose one of {', '.join(sorted(_FACTORIES))}")
    task = _FACTORIES[name](**options)
    if task.kind.startswith("code"):
        _check_code_isolation(task.name, limits)
    return task


# Tasks whose scoring runs model-written programs in pkt_core.sandbox.
CODE_TASKS = ("complete", "write", "humaneval", "mbpp")
_warned_isolation = False


def _check_code_isolation(name: str, limits: Any) -> None:
    """Code tasks run model-written programs. Without adequate isolation (no namespaces and no
    Landlock here) a public lab refuses them; locally they run, with a warning on stderr."""
    global _warned_isolation
    from ..infra import policy
    from ..sandbox import SandboxUnavailable, isolation_adequate, isolation_label, isolation_mode

    if isolation_adequate():
        return
    try:
        label = isolation_label(isolation_mode())
    except SandboxUnavailable as err:  # PKT_SANDBOX_MODE forces a mode this machine lacks
        raise TaskError(f"task '{name}' cannot run here: {err}") from err
    if policy.given(limits).public:
        raise TaskError(f"task '{name}' runs model-written code, and this machine offers no "
                        f"adequate sandbox ({label}); this public lab does not run it")
    if not _warned_isolation:
        _warned_isolation = True
        print(f"warning: task '{name}' runs model-written code with weak isolation ({label}): "
              f"programs could read your files and environment", file=sys.stderr)


__all__ = ["CODE_TASKS", "DEFAULT_SPLIT_SIZES", "SPLIT_NAMES", "Example", "ItemScore", "Task", "TaskError",
           "get_task", "list_tasks", "make_splits", "read_messages_jsonl", "register_task",
           "render_chat"]
