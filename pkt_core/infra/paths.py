"""Where PKT Lab's files are: the one module that knows.

Shipped files live in the repository's top-level `assets/` folder:
    models/    the embedded model family (`python -m pkt_core zoo build`)
    runs/      the small finished example runs (`python -m pkt_core zoo examples`)
    curves/    the precomputed incompatibility curve of the embedded pair
    ladder/    the precomputed scale ladder
    results/   the measured results the lab quotes (`reproduce --json` saved as RESULTS*.json)
`pip install .` ships that folder inside the package as `pkt_core/assets` (pyproject.toml maps
it there), so an installed lab reads its own copy; from a source checkout, where the package has
no such folder, the checkout's `assets/` is used.

The environment can point the lab elsewhere (read at every call, so tests and operators may
change it): PKT_EMBEDDED_DIR (the model family), PKT_EXAMPLE_RUNS_DIR (the example runs) and
PKT_RUNS_DIR (where new runs go; `runs/` under the working directory by default).
"""
from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

PACKAGE = "pkt_core"
ASSETS = "assets"  # the folder's name, both in the checkout and inside the installed package


def package_dir() -> Path:
    """The folder the imported pkt_core package lives in (installed or checked out)."""
    location = files(PACKAGE)
    if not isinstance(location, Path):  # e.g. a zip import, which PKT Lab does not support
        raise RuntimeError(f"pkt_core must be installed as files on disk, not in {location}")
    return location


def source_tree() -> Path | None:
    """The checkout pkt_core was imported from, or None for an installed package."""
    candidate = package_dir().parent
    is_checkout = (candidate / "pyproject.toml").is_file() and (candidate / ASSETS).is_dir()
    return candidate if is_checkout else None


def assets_root() -> Path:
    """The shipped files: the installed package's copy, else the checkout's `assets/`."""
    installed = package_dir() / ASSETS
    if installed.is_dir():
        return installed
    return package_dir().parent / ASSETS


def shipped_models_dir() -> Path:
    """The embedded family as shipped (what `zoo build` writes by default)."""
    return assets_root() / "models"


def embedded_dir() -> Path:
    """The embedded family the lab loads: PKT_EMBEDDED_DIR (e.g. a micro build for tests), else
    the shipped one."""
    override = os.environ.get("PKT_EMBEDDED_DIR")
    return Path(override) if override else shipped_models_dir()


def example_runs_dir() -> Path:
    """The finished example runs (read-only): PKT_EXAMPLE_RUNS_DIR, else the shipped ones."""
    override = os.environ.get("PKT_EXAMPLE_RUNS_DIR")
    return Path(override) if override else assets_root() / "runs"


def curves_dir() -> Path:
    """Precomputed incompatibility curves, one JSON per pair and task."""
    return assets_root() / "curves"


def ladder_dir() -> Path:
    """The precomputed scale ladder, one JSON per task."""
    return assets_root() / "ladder"


def results_dir() -> Path:
    """Measured results read at run time: RESULTS*.json (`reproduce --json` output)."""
    return assets_root() / "results"


def runs_root() -> Path:
    """Where new runs go: PKT_RUNS_DIR, else `runs/` under the working directory."""
    return Path(os.environ.get("PKT_RUNS_DIR") or "runs")


def is_inside(path: str | Path, root: str | Path) -> bool:
    """Whether `path` lies strictly inside `root`. Both are resolved first (symlinks and `..`
    followed), so a link that points out of the root is outside; the root itself is not inside
    it. A symlink loop counts as outside."""
    try:
        resolved, resolved_root = Path(path).resolve(), Path(root).resolve()
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop on Python < 3.13
        return False
    return resolved != resolved_root and resolved.is_relative_to(resolved_root)


def shown(path: str | Path) -> str:
    """A path as committed files record it (never a machine path): `assets/…` for a shipped
    file, relative to the checkout for another file in it, else the bare name."""
    resolved = Path(path).resolve()
    assets = assets_root().resolve()
    if resolved == assets or is_inside(resolved, assets):
        return Path(ASSETS, resolved.relative_to(assets)).as_posix()
    checkout = source_tree()
    if checkout is not None and is_inside(resolved, checkout):
        return resolved.relative_to(checkout.resolve()).as_posix()
    return resolved.name
