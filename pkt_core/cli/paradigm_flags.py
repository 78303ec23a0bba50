"""The paradigm settings as flags (`--lr`, `--steps`, …), generated from the paradigms' config
dataclasses so each help text is written once; `transfer` and `reproduce` take them."""
from __future__ import annotations

import argparse
from typing import Any

DEST_PREFIX = "setting_"


def _settings_flags(paradigms: list[str]) -> dict[str, list[Any]]:
    """setting name → the SettingSpec of every paradigm that has it (`--lr` is each one's own
    lr)."""
    from ..paradigms import get_paradigm, settings_of

    flags: dict[str, list[Any]] = {}
    for name in paradigms:
        for spec in settings_of(name, get_paradigm(name).config_class):
            if spec.cli:
                flags.setdefault(spec.name, []).append(spec)
    return flags


def add_settings_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per paradigm setting, generated from the config dataclasses (help written once)."""
    from ..paradigms import paradigm_names

    group = parser.add_argument_group("paradigm settings (omitted: the research's defaults)")
    for name, specs in _settings_flags(paradigm_names()).items():
        said: dict[tuple[str, str], list[str]] = {}
        for spec in specs:
            default = "" if spec.default is None else f" (default {spec.default!r})"
            said.setdefault((spec.help, default), []).append(spec.paradigm)
        # argparse formats help with %, so a literal one is doubled.
        text = "; ".join(f"{'/'.join(owners)}: {help_}{default}".replace("%", "%%")
                         for (help_, default), owners in said.items())
        group.add_argument(specs[0].flag, dest=f"{DEST_PREFIX}{name}", default=None,
                           metavar=name.upper(), help=text)


def settings_from_args(args: argparse.Namespace, paradigms: list[str],
                       strict: bool = True) -> dict[str, dict[str, Any]]:
    """paradigm → the overrides given on the command line, each read with that paradigm's own
    type and range. With `strict`, a flag that none of `paradigms` has is refused."""
    from ..paradigms import coerce, get_paradigm, settings_of

    given = {key[len(DEST_PREFIX):]: value for key, value in vars(args).items()
             if key.startswith(DEST_PREFIX) and value is not None}
    out: dict[str, dict[str, Any]] = {}
    for paradigm in paradigms:
        specs = settings_of(paradigm, get_paradigm(paradigm).config_class)
        own = {spec.name: spec for spec in specs if spec.cli}
        out[paradigm] = {key: coerce(own[key], value) for key, value in given.items()
                         if key in own}
    unused = set(given) - {key for overrides in out.values() for key in overrides}
    if strict and unused:
        flags = ", ".join("--" + key.replace("_", "-") for key in sorted(unused))
        raise ValueError(f"{flags} does not apply to {', '.join(paradigms)}")
    return out
