"""pyproject.toml: what `pip install .` declares and ships, read offline, and a real install
into a fresh virtual environment used from another folder."""
from __future__ import annotations

import fnmatch
import importlib
import json
import os
import shutil
import subprocess
import sys
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
    setuptools_cfg = expanded["tool"]["setuptools"]
    found = set(setuptools_cfg["packages"])
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in PACKAGE.rglob("__init__.py")
               if "__pycache__" not in p.parts}
    assert {"pkt_core", "pkt_core.models", "pkt_core.paradigms", "pkt_core.tasks"} <= on_disk
    # The list is written out (see pyproject.toml): a new subpackage must be added to it.
    assert found - {"pkt_core.assets"} == on_disk, "add it to [tool.setuptools] packages"
    # The top-level assets/ folder ships inside the package, where pkt_core.infra.paths looks.
    assert "pkt_core.assets" in found
    assert setuptools_cfg["package-dir"]["pkt_core.assets"] == "assets"
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


# ---- a real install, used from another folder ------------------------------------------------
# Not copied into the build: machine state, caches and earlier builds (a stale build/lib would
# ship files the current configuration no longer names). Top-level names only: assets/runs/ is
# shipped, the top-level runs/ is a user's.
_TOP_LEVEL_SKIPPED = {".git", ".venv", "build", "runs", "test-artifacts", ".pytest_cache"}
_SKIPPED_ANYWHERE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")


def _not_sources(folder: str, names: list[str]) -> set[str]:
    skipped = set(_SKIPPED_ANYWHERE(folder, names))
    return skipped | (_TOP_LEVEL_SKIPPED & set(names) if Path(folder) == ROOT else set())
# What the installed lab reports about itself, run by the venv's python from another folder.
_PROBE = """
import json, pkt_core, importlib.metadata
from pkt_core.infra import paths
print(json.dumps({"package": pkt_core.__file__, "assets": str(paths.assets_root()),
                  "embedded": str(paths.embedded_dir()), "source_tree": str(paths.source_tree()),
                  "version": importlib.metadata.version("pkt-lab")}))
"""


def _clean_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a user who has just installed the lab: nothing points at the checkout."""
    env = {k: v for k, v in os.environ.items() if k not in (
        "PYTHONPATH", "PKT_EMBEDDED_DIR", "PKT_EXAMPLE_RUNS_DIR", "PKT_PUBLIC", "SPACE_ID")}
    return {**env, "PKT_RUNS_DIR": str(tmp_path / "runs"), "HF_HUB_OFFLINE": "1",
            "HF_DATASETS_OFFLINE": "1", "OMP_WAIT_POLICY": "PASSIVE"}


def _installed(tmp_path: Path) -> Path:
    """A venv (seeing this machine's packages, so no network) with `pip install .` of a copy of
    the checkout, non-editable; returns the venv's scripts folder."""
    source, venv = tmp_path / "source", tmp_path / "venv"
    shutil.copytree(ROOT, source, ignore=_not_sources)
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip",
                    str(venv)], check=True, timeout=120)
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    # pip comes from the system site-packages and installs into the venv running it.
    install = subprocess.run(
        [str(bin_dir / "python"), "-m", "pip", "install", "--no-deps", "--no-build-isolation",
         "--no-input", "--quiet", str(source)], capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr[-3000:]
    shutil.rmtree(source)  # the installed lab must not need its sources
    return bin_dir


def test_a_clean_install_works_from_another_folder(tmp_path):
    bin_dir = _installed(tmp_path)
    env, cwd = _clean_env(tmp_path), tmp_path

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)

    probe = run(str(bin_dir / "python"), "-c", _PROBE)
    assert probe.returncode == 0, probe.stderr[-3000:]
    where = json.loads(probe.stdout)
    site = bin_dir.parent.resolve()
    for key in ("package", "assets", "embedded"):  # the installed copy, not the checkout
        assert Path(where[key]).resolve().is_relative_to(site), (key, where)
    assert where["source_tree"] == "None" and where["version"]
    shipped = {p.relative_to(ROOT / "assets").as_posix() for p in (ROOT / "assets").rglob("*")
               if p.is_file() and "__pycache__" not in p.parts}
    installed = {p.relative_to(where["assets"]).as_posix() for p in Path(where["assets"]).rglob("*")
                 if p.is_file()}
    assert installed == shipped

    models = run(str(bin_dir / "pkt"), "models", "--json")
    assert models.returncode == 0, models.stderr[-3000:]
    embedded = {r["name"] for r in json.loads(models.stdout) if r["kind"] == "embedded"}
    assert {"pkt-tiny-teacher", "pkt-tiny-student"} <= embedded

    out = tmp_path / "run"
    transfer = run(str(bin_dir / "pkt"), "transfer", "--paradigm", "lora",
                   "--teacher", "pkt-tiny-teacher", "--student", "pkt-tiny-student",
                   "--task", "facts", "--epochs", "1", "--eval-limit", "2",
                   "--out", str(out), "--json")
    assert transfer.returncode == 0, transfer.stderr[-3000:]
    assert json.loads(transfer.stdout)["status"] == "complete"
    assert (out / "model" / "config.json").is_file()
