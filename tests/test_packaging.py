"""pyproject.toml: what `pip install .` would declare and ship (read offline, nothing installed)."""
from __future__ import annotations

import fnmatch
import importlib
from pathlib import Path

import pytest

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "pkt_core"


@pytest.fixture(scope="module")
def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


@pytest.fixture(scope="module")
def expanded() -> dict:
    """The configuration as setuptools reads it: dynamic fields filled, packages found."""
    from setuptools.config.pyprojecttoml import read_configuration

    return read_configuration(ROOT / "pyproject.toml")


def _requirements_txt() -> list[Requirement]:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    return [Requirement(line.split("#")[0].strip()) for line in lines
            if line.split("#")[0].strip()]


def test_project_metadata(pyproject):
    assert pyproject["build-system"]["build-backend"] == "setuptools.build_meta"
    project = pyproject["project"]
    assert project["name"] == "pkt-lab" and project["requires-python"] == ">=3.10"


def test_console_script_is_the_module_cli(pyproject, capsys):
    module, _, attr = pyproject["project"]["scripts"]["pkt"].partition(":")
    main = getattr(importlib.import_module(module), attr)
    assert callable(main)
    from pkt_core.__main__ import main as module_main  # what `python -m pkt_core` runs

    assert main is module_main
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0 and "models" in capsys.readouterr().out


def test_dependencies_are_requirements_txt_pins(expanded):
    declared = [Requirement(r) for r in expanded["project"]["dependencies"]]
    pinned = _requirements_txt()
    assert len(pinned) >= 10
    assert {r.name: str(r.specifier) for r in declared} == \
        {r.name: str(r.specifier) for r in pinned}
    assert len(declared) == len(pinned)
    torch = next(r for r in declared if r.name == "torch")
    assert str(torch.specifier) == "==2.13.0"
    assert all(str(r.specifier) for r in declared), "every dependency is pinned or bounded"


def test_every_pkt_core_subpackage_is_included(expanded):
    found = set(expanded["tool"]["setuptools"]["packages"])
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in PACKAGE.rglob("__init__.py")}
    assert {"pkt_core", "pkt_core.models", "pkt_core.paradigms", "pkt_core.tasks"} <= on_disk
    assert found == on_disk
    # A folder of modules without __init__.py would be left out of the wheel: refuse it.
    code_dirs = {p.parent for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts}
    assert all((d / "__init__.py").is_file() for d in code_dirs), code_dirs


def _shipped_data(root: Path, patterns: list[str], excluded: list[str]) -> set[str]:
    """What setuptools ships as package data of `root/pkt_core`: each pattern globbed under the
    package, minus what matches an exclude pattern joined to the package folder (fnmatch, so
    "*" also crosses "/")."""
    package = root / "pkt_core"
    matched = {p for pattern in patterns for p in package.glob(pattern) if p.is_file()}
    return {p.relative_to(root).as_posix() for p in matched
            if not any(fnmatch.fnmatch(p.relative_to(root).as_posix(), f"pkt_core/{x}")
                       for x in excluded)}


def _non_python_files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in (root / "pkt_core").rglob("*")
            if p.is_file() and "__pycache__" not in p.parts
            and p.suffix not in (".py", ".pyc", ".pyo")}


def test_every_non_python_file_under_pkt_core_ships_as_package_data(pyproject, tmp_path):
    setuptools_cfg = pyproject["tool"]["setuptools"]
    patterns = setuptools_cfg["package-data"]["pkt_core"]
    excluded = setuptools_cfg["exclude-package-data"]["*"]
    # A made-up tree, so the rule is checked even while pkt_core holds no data file.
    for name in ("__init__.py", "guide.md", "lab/__init__.py", "lab/learn.md", "lab/views.py",
                 "tasks/data/world.json", "__pycache__/zoo.cpython-311.pyc"):
        (tmp_path / "pkt_core" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "pkt_core" / name).write_text("x")
    assert _shipped_data(tmp_path, patterns, excluded) == {
        "pkt_core/guide.md", "pkt_core/lab/learn.md", "pkt_core/tasks/data/world.json"}
    assert _shipped_data(ROOT, patterns, excluded) == _non_python_files(ROOT)


def test_tests_import_the_working_tree_package():
    import pkt_core

    assert Path(pkt_core.__file__).resolve().parent == PACKAGE
