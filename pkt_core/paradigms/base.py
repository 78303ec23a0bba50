"""The small interface every transfer paradigm implements, plus the registry.

A paradigm receives the loaded pair, the task's splits, its validated config, and three plain
callables (progress, cancel check, log sink); it returns the transferred student and artifacts.
It never writes files itself except through `save_checkpoint`, so the run directory format lives
in one place (`pkt_core.infra.runs`).

A paradigm declares everything about itself on its class: the splits it reads, whether it copes
with different tokenizers, its place in the results table, its example-run settings, and (on its
config dataclass, via `settings.setting`) the help, label and range of every setting. The CLI, the
UI, `reproduce` and the pair check read those declarations, so adding a paradigm = one new module
that calls `register` (listed in `BUILT_IN`, or named in the `PKT_PARADIGMS` environment variable
as a comma-separated list of importable modules).
"""
from __future__ import annotations

import importlib
import math
import os
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Callable, ClassVar

import numpy as np
import torch

from ..infra import policy
from ..infra.budget import Work
from ..models import ModelShape, PairReport, check_pair
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
        """Every declared setting within its range and choices, checked once here whichever way
        the config was made (preset, CLI, page, saved config); a subclass adds only the checks
        that involve several fields."""
        from .settings import coerce, settings_of  # (settings imports this module)

        if self.seed < 0:
            raise TransferError("seed must be ≥ 0")
        for spec in settings_of(type(self).__name__, type(self)):
            coerce(spec, getattr(self, spec.name), policy.LOCAL)

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


@dataclass(frozen=True)
class CurveKnob:
    """The one setting the incompatibility curve varies for a paradigm: its update-size knob,
    log-spaced over [low, high]. `preset` is what every other setting starts from (None: the
    preset the curve was asked for)."""
    setting: str
    low: float
    high: float
    meaning: str  # e.g. "the hypernetwork's learning rate", for the curve's notes
    preset: str | None = None

    def values(self, points: int) -> list[float]:
        if points < 2:
            raise ValueError("the curve needs at least 2 points")
        return [float(x) for x in np.geomspace(self.low, self.high, points)]


class Paradigm(ABC):
    name: ClassVar[str] = ""
    title: ClassVar[str] = ""  # shown in the UI and the results table
    family: ClassVar[str] = ""  # 'PrePKT' | 'PostPKT' | 'baseline'
    description: ClassVar[str] = ""  # one line for the UI and `transfer --help`
    needs_teacher: ClassVar[bool] = True
    needed_splits: ClassVar[tuple[str, ...]] = ()  # an empty one is refused before any work
    # Whether teacher and student may tokenize differently, and why (shown in the pair check).
    different_tokenizers: ClassVar[tuple[bool, str]] = (True, "the teacher is not used")
    table_order: ClassVar[int] = 100  # rows of the results table and the UI's choices, ascending
    example_settings: ClassVar[dict[str, Any]] = {}  # the small shipped example run's overrides
    example_preset: ClassVar[str] = "research"  # … and the preset they start from
    # Named starting points for the config: "research" is the config's own defaults (the
    # research's); a paradigm may add others, e.g. LaTen's "lab" preset for small widths.
    presets: ClassVar[dict[str, dict[str, Any]]] = {"research": {}}
    # Settings a public lab imposes whatever was asked (e.g. LaTen keeps only two checkpoints).
    public_settings: ClassVar[dict[str, Any]] = {}
    config_class: ClassVar[type[ParadigmConfig]] = ParadigmConfig
    # Its place in the rest of the lab, which iterates the registry and never names a paradigm:
    compared: ClassVar[bool] = False  # a column on Compare (its example run then keeps weights)
    curve_knob: ClassVar[CurveKnob | None] = None  # what the incompatibility curve varies, if any
    curve_default: ClassVar[bool] = False  # on the curve unless the caller names the paradigms
    ladder_preset: ClassVar[str | None] = None  # its preset on the scale ladder; None: not run there
    learn: ClassVar[str] = ""  # its paragraph on the Learn tab (Markdown, plain words)
    ui_default: ClassVar[bool] = False  # the Transfer tab's first choice (the first such one)

    def preset(self, name: str) -> dict[str, Any]:
        """A preset's overrides of the research defaults; an unknown name is refused."""
        if name not in self.presets:
            raise TransferError(f"{self.title} has no preset '{name}'; choose one of "
                                f"{', '.join(self.presets)}")
        return dict(self.presets[name])

    @abstractmethod
    def run(self, ctx: TransferContext, config: ParadigmConfig) -> TransferOutcome:
        ...

    def work(self, config: ParadigmConfig, splits: dict[str, list[Example]]) -> Work | None:
        """How many examples `run` passes through each model with these settings (for the time
        estimate, `budget.estimate_seconds`); None = unknown, which a public lab refuses."""
        return None


PARADIGMS: dict[str, Paradigm] = {}
BUILT_IN = ("pkt_core.paradigms.laten", "pkt_core.paradigms.seeking", "pkt_core.paradigms.baselines")


def register(cls: type[Paradigm]) -> type[Paradigm]:
    """Class decorator: one instance of each paradigm lives in the registry; another paradigm
    under a taken name is refused (a typo never silently replaces a method), as tasks are."""
    if not cls.name or not cls.title:
        raise TypeError(f"{cls.__name__} must set a name and a title")
    taken = type(PARADIGMS[cls.name]) if cls.name in PARADIGMS else None
    same_class = taken is not None and (taken.__module__, taken.__qualname__) == (cls.__module__,
                                                                                 cls.__qualname__)
    if taken is not None and not same_class:  # (the same class again = its module was reloaded)
        raise ValueError(f"paradigm name '{cls.name}' is taken by {taken.__module__}.{taken.__qualname__}")
    PARADIGMS[cls.name] = cls()
    return cls


def _load_paradigm_modules() -> None:
    """Import the built-in paradigm modules and any named in PKT_PARADIGMS (they register)."""
    extra = [m.strip() for m in os.environ.get("PKT_PARADIGMS", "").split(",") if m.strip()]
    for module in (*BUILT_IN, *extra):
        try:
            importlib.import_module(module)
        except ImportError as err:
            raise TransferError(f"cannot import paradigm module '{module}': {err}") from err


def get_paradigm(name: str) -> Paradigm:
    _load_paradigm_modules()
    if name not in PARADIGMS:
        raise TransferError(f"unknown paradigm '{name}'; choose one of {', '.join(paradigm_names())}")
    return PARADIGMS[name]


def paradigm_names() -> list[str]:
    """Every registered paradigm in results-table order."""
    _load_paradigm_modules()
    return sorted(PARADIGMS, key=lambda n: (PARADIGMS[n].table_order, n))


def default_paradigm() -> str:
    """The Transfer tab's first choice: the first paradigm declaring `ui_default`, else the
    first in table order."""
    names = paradigm_names()
    return next((name for name in names if PARADIGMS[name].ui_default), names[0])


def compared_paradigms() -> list[str]:
    """The paradigms with a column on Compare, in results-table order."""
    return [name for name in paradigm_names() if PARADIGMS[name].compared]


def curve_paradigms(default_only: bool = False) -> list[str]:
    """The paradigms the incompatibility curve can vary (those with a knob), in table order."""
    return [name for name in paradigm_names() if PARADIGMS[name].curve_knob is not None
            and (PARADIGMS[name].curve_default or not default_only)]


def tokenizer_rules() -> dict[str, tuple[bool, str]]:
    """paradigm → (copes with different tokenizers, why), for the pair check."""
    return {name: get_paradigm(name).different_tokenizers for name in paradigm_names()}


def check_pair_for(teacher: ModelShape, student: ModelShape, same_tokenizer: bool,
                   paradigm: str | None = None) -> PairReport:
    """The pair check with each paradigm's own tokenizer rule (see `different_tokenizers`)."""
    return check_pair(teacher, student, same_tokenizer, paradigm, tokenizer_rules())
