"""A paradigm's settings, described once on its config dataclass and read by the CLI and the UI.

A config field declared with `setting(default, help, …)` carries its help text, a label and its
range in the dataclass field's metadata (as peft's `field(metadata={"help": …})` does). The CLI
builds its flags from it, the UI its controls, `parse` turns a typed-in value into the field's
type, and `coerce` also checks its range and choices. A config checks every declared setting
when it is made (`ParadigmConfig.validate`), so a value is validated once, however it arrived;
a public lab checks its lower caps in `transfer.prepare`. Only cross-field checks stay in each
config's own `validate()`.
"""
from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass
from typing import Any

from ..infra import policy
from .base import TransferError

_SCALARS = (bool, int, float, str)


def setting(default: Any, help: str, *, label: str | None = None, lo: float | None = None,
            hi: float | None = None, step: float | None = None, ui: bool = True,
            cli: bool = True, public_hi: float | None = None,
            choices: tuple[str, ...] | None = None) -> Any:
    """A config field with its help text and range (or, for text, its choices). `ui`/`cli` =
    False keeps an expert-only field out of the page / the command line (it can still be set
    from Python or a saved config). `public_hi` is the lower maximum a public lab allows (see
    `policy`); without it, `hi`."""
    return dataclasses.field(default=default, metadata={
        "help": help, "label": label or help, "lo": lo, "hi": hi, "step": step, "ui": ui,
        "cli": cli, "public_hi": public_hi, "choices": choices})


@dataclass(frozen=True)
class SettingSpec:
    """One user-facing setting of a paradigm, as the CLI and the UI present it."""
    paradigm: str
    name: str
    kind: type  # bool | int | float | str
    optional: bool  # None is allowed (it means "the research's default rule")
    default: Any
    help: str
    label: str
    lo: float | None
    hi: float | None
    step: float | None
    ui: bool
    cli: bool
    public_hi: float | None = None
    choices: tuple[str, ...] | None = None  # the values a text setting may take

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def public_cap(self) -> float | None:
        """The most a public lab allows (None for text and switches)."""
        return self.public_hi if self.public_hi is not None else self.hi

    def max_under(self, limits: policy.Limits | None = None) -> float | None:
        """The maximum under these limits: the public cap in a public lab, else `hi`."""
        return self.public_cap if policy.given(limits).public else self.hi


def _scalar_type(hint: Any) -> tuple[type | None, bool]:
    """(scalar type, optional) of a field annotation; (None, …) for tuples and other shapes."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return (rest[0] if len(rest) == 1 and rest[0] in _SCALARS else None), True
    return (hint if hint in _SCALARS else None), False


def settings_of(paradigm: str, config_class: type) -> list[SettingSpec]:
    """The declared settings of a config class, in field order (fields without help are internal)."""
    hints = typing.get_type_hints(config_class)
    out = []
    for f in dataclasses.fields(config_class):
        if "help" not in f.metadata:
            continue
        kind, optional = _scalar_type(hints[f.name])
        if kind is None:
            raise TypeError(f"{config_class.__name__}.{f.name}: only bool/int/float/str settings "
                            "can be declared with setting()")
        m = f.metadata
        out.append(SettingSpec(paradigm, f.name, kind, optional, f.default, m["help"], m["label"],
                               m["lo"], m["hi"], m["step"], m["ui"], m["cli"], m.get("public_hi"),
                               m.get("choices")))
    return out


def parse_number(value: Any, label: str) -> float:
    """A finite number from what was typed, or TransferError naming the setting."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TransferError(f"{label} must be a number (got {value!r})") from None
    if not math.isfinite(number):
        raise TransferError(f"{label} must be a finite number (got {value!r})")
    return number


def parse(spec: SettingSpec, value: Any) -> Any:
    """A typed-in value as the setting's type (blank = None for an optional setting), not yet
    checked against its range. Raises TransferError with one sentence naming the setting."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if spec.optional:
            return None
        raise TransferError(f"{spec.label} is empty: give a value (default {spec.default})")
    if spec.kind is str:
        return str(value).strip()
    if spec.kind is bool:
        if isinstance(value, str):
            return value.strip().lower() in ("1", "true", "yes", "on")
        return bool(value)
    number = parse_number(value, spec.label)
    if spec.kind is int:
        if number != int(number):
            raise TransferError(f"{spec.label} must be a whole number (got {value!r})")
        number = int(number)
    return number


def coerce(spec: SettingSpec, value: Any, limits: policy.Limits | None = None) -> Any:
    """`parse`, then the setting's choices, or its range under `limits`. Raises TransferError
    with one sentence naming the setting."""
    number = parse(spec, value)
    if number is None or spec.kind is bool:
        return number
    if spec.kind is str:
        if spec.choices is not None and number not in spec.choices:
            raise TransferError(f"{spec.label} must be one of {', '.join(spec.choices)} "
                                f"(got {number!r})")
        return number
    lim = policy.given(limits)
    hi = spec.max_under(lim)
    if (spec.lo is not None and number < spec.lo) or (hi is not None and number > hi):
        bounds = (f"between {spec.lo:g} and {hi:g}" if spec.lo is not None and hi is not None
                  else f"at least {spec.lo:g}" if spec.lo is not None else f"at most {hi:g}")
        where = " in this public lab" if lim.public and hi != spec.hi else ""
        raise TransferError(f"{spec.label} must be {bounds}{where} (got {number:g})")
    return number
