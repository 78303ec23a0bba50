"""The small interface every transfer paradigm implements, plus the registry.

A paradigm receives the loaded pair, the task's splits, its validated config, and three plain
callables (progress, cancel check, log sink); it returns the transferred student and artifacts.
It never writes files itself except through `save_checkpoint`, so the run directory format lives
in one place (`pkt_core.runs`). Adding a paradigm = one new module that calls `register`.
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Callable

import torch

from ..tasks import Example, Task

Progress = Callable[[int, int, str], None]  # (done, total, message)
CancelCheck = Callable[[], bool]
LogSink = Callable[[dict[str, Any]], None]
CheckpointSink = Callable[[str, dict[str, Any]], None]  # (name, tensors/JSON-able state)


class TransferError(ValueError):
    """A transfer cannot start (bad settings) or had to stop (NaN loss)."""


class TransferCancelled(RuntimeError):
    """The user pressed cancel; completed checkpoints are kept."""


@dataclass
class ParadigmConfig:
    """Fields shared by every paradigm; subclasses add theirs with the research's defaults."""
    seed: int = 0

    def validate(self) -> None:
        if self.seed < 0:
            raise TransferError("seed must be ≥ 0")

    def __post_init__(self) -> None:
        self.validate()

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "ParadigmConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise TransferError(f"unknown setting(s) {', '.join(sorted(unknown))} for {cls.__name__}")
        return cls(**values)


@dataclass
class TransferContext:
    """What a paradigm works with. `teacher` is None for teacher-free baselines."""
    student: Any  # LoadedModel
    teacher: Any | None
    task: Task
    splits: dict[str, list[Example]]
    progress: Progress = lambda done, total, msg: None
    cancelled: CancelCheck = lambda: False
    log: LogSink = lambda row: None
    checkpoint: CheckpointSink = lambda name, state: None

    def check_cancel(self) -> None:
        if self.cancelled():
            raise TransferCancelled("cancelled by the user")


@dataclass
class TransferOutcome:
    model: Any  # the transferred student (plain transformers model, weights merged) or a peft model
    kind: str  # 'merged' (full weights) or 'adapter' (peft LoRA on the base student)
    artifacts: dict[str, Any] = field(default_factory=dict)  # JSON-able data for figures


def check_finite(loss: torch.Tensor, step: int) -> None:
    value = float(loss.detach())
    if not math.isfinite(value):
        raise TransferError(f"the loss became {value} at step {step}; the run stopped and "
                            f"keeps its last good checkpoint (try a lower learning rate)")


class Paradigm(ABC):
    name: str = ""
    title: str = ""  # shown in the UI
    family: str = ""  # 'PrePKT' | 'PostPKT' | 'baseline'
    needs_teacher: bool = True
    config_class: type[ParadigmConfig] = ParadigmConfig

    @abstractmethod
    def run(self, ctx: TransferContext, config: ParadigmConfig) -> TransferOutcome:
        ...


PARADIGMS: dict[str, Paradigm] = {}


def register(cls: type[Paradigm]) -> type[Paradigm]:
    """Class decorator: one instance of each paradigm lives in the registry."""
    PARADIGMS[cls.name] = cls()
    return cls


def get_paradigm(name: str) -> Paradigm:
    from . import baselines, laten, seeking  # noqa: F401  (modules register themselves)

    if name not in PARADIGMS:
        raise TransferError(f"unknown paradigm '{name}'; choose one of {', '.join(sorted(PARADIGMS))}")
    return PARADIGMS[name]
