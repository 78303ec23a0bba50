"""What arrives from the page, checked: numbers, text and a paradigm's settings form.

Every check raises `LabError` with one sentence a visitor can act on; `readable` turns any error
into that one line (never a traceback).
"""
from __future__ import annotations

from typing import Any, Mapping

from ..infra import policy
from ..models import ModelNotAvailable, UnsupportedArchitecture
from ..paradigms import TransferError, get_paradigm, settings_of
from ..paradigms.settings import parse, parse_number


def lab_limits() -> policy.Limits:
    """The limits the page runs under: the lab layer is the app's edge, so it builds them from
    the environment (PKT_PUBLIC, SPACE_ID, PKT_*) and passes them to everything it calls."""
    return policy.Limits.from_environment()


class LabError(ValueError):
    """Bad input or an impossible request, said in one sentence a visitor can act on."""


_READABLE = (LabError, ModelNotAvailable, UnsupportedArchitecture, ValueError,
             KeyError, FileNotFoundError, RuntimeError)


def readable(err: BaseException) -> str:
    """One line for the page: the message of a known error, never a traceback."""
    text = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
    text = text.strip() or type(err).__name__
    if isinstance(err, _READABLE):
        return text[0].upper() + text[1:]
    return f"{type(err).__name__}: {text}"


def as_number(value: Any, name: str) -> float:
    try:
        return parse_number(value, name)
    except TransferError as err:
        raise LabError(str(err)) from None


def as_int(value: Any, name: str, lo: int | None = None, hi: int | None = None,
           cap: str | None = None) -> int:
    """A whole number in [lo, hi]; `cap` names a `policy.LAB_CAPS` entry whose maximum (lower in
    public mode) replaces `hi`."""
    number = as_number(value, name)
    if number != int(number):
        raise LabError(f"{name} must be a whole number (got {value!r})")
    limits = lab_limits()
    if cap is not None:
        hi = limits.lab_cap(cap)
    if (lo is not None and number < lo) or (hi is not None and number > hi):
        bounds = (f"between {lo} and {hi}" if lo is not None and hi is not None
                  else f"at least {lo}" if lo is not None else f"at most {hi}")
        where = " in this public lab" if cap is not None and limits.public else ""
        raise LabError(f"{name} must be {bounds}{where} (got {int(number)})")
    return int(number)


def as_float(value: Any, name: str, lo: float | None = None, hi: float | None = None) -> float:
    number = as_number(value, name)
    if (lo is not None and number < lo) or (hi is not None and number > hi):
        raise LabError(f"{name} must be between {lo:g} and {hi:g} (got {number:g})")
    return number


def as_text(value: Any, name: str) -> str:
    text = (value or "").strip() if isinstance(value, str) or value is None else str(value).strip()
    if not text:
        raise LabError(f"{name} is empty: type something first")
    return text


def form_settings(paradigm: str, values: Mapping[str, Any], preset: str = "research"
                  ) -> dict[str, Any]:
    """A paradigm's settings form (setting name → typed-in value) as overrides of a preset.

    Only the paradigm's own UI settings are read; a blank optional setting keeps the default
    rule, and a value equal to the preset's is left out so config.json shows what was changed.
    """
    spec = get_paradigm(paradigm)
    start = spec.preset(preset)
    out: dict[str, Any] = {}
    for setting in settings_of(spec.name, spec.config_class):
        if not setting.ui or setting.name not in values:
            continue
        value = parse(setting, values[setting.name])  # checked once, by the config
        if value is not None and value != start.get(setting.name, setting.default):
            out[setting.name] = value
    return out
