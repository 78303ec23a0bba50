"""House rules that keep the code readable, checked on the source (they fail on a regression):
short functions and modules, no gradio below the UI, no machine paths in committed files, the
layers of docs/ARCHITECTURE.md, and paradigms named only in their own modules."""
from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
UI = [ROOT / "app.py", *sorted((ROOT / "ui").rglob("*.py"))]
PKT_CORE = sorted((ROOT / "pkt_core").rglob("*.py"))
SOURCES = [*UI, *PKT_CORE]
# Tests and benchmarks are read as closely as the lab's own code.
EVERY_PYTHON_FILE = [*SOURCES, *sorted((ROOT / "tests").rglob("*.py")),
                     *sorted((ROOT / "benchmarks").rglob("*.py")),
                     *sorted((ROOT / "docs").rglob("*.py"))]
MAX_FUNCTION, MAX_MODULE = 60, 500


def _functions(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}", node.end_lineno - node.lineno + 1)
            for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]


def test_no_function_longer_than_60_lines_and_no_module_longer_than_500():
    long_functions = [(name, n) for path in EVERY_PYTHON_FILE for name, n in _functions(path)
                      if n > MAX_FUNCTION]
    long_modules = [(str(p.relative_to(ROOT)), n) for p in EVERY_PYTHON_FILE
                    if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE]
    assert not long_functions, long_functions
    assert not long_modules, long_modules


def test_pkt_core_never_imports_gradio():
    pattern = re.compile(r"^\s*(import gradio|from gradio)", re.M)
    offenders = [str(p.relative_to(ROOT)) for p in PKT_CORE if pattern.search(p.read_text())]
    assert not offenders, offenders


def test_committed_text_carries_no_machine_paths():
    """Run directories and results are written relative to the repository or an output folder.
    (tests/ is not scanned: the sandbox tests aim escapes at such paths on purpose.)"""
    machine = re.compile(r"(/tmp/|/root/|/home/[a-z]|/Users/[A-Za-z]|[A-Z]:\\\\Users)")
    texts = [*SOURCES, ROOT / "README.md",
             *[p for folder in ("docs", "assets", "benchmarks") for p in (ROOT / folder).rglob("*")
               if p.suffix in (".json", ".md", ".py", ".jsonl") and p.is_file()]]
    offenders = [str(p.relative_to(ROOT)) for p in texts
                 if machine.search(p.read_text(encoding="utf-8", errors="replace"))]
    assert not offenders, offenders


# The layers of pkt_core, lowest first (docs/ARCHITECTURE.md draws them): data flows one way, so
# a module imports only from its own layer or lower ones, never from a higher one.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("infra", "paper", "stats", "sandbox"),  # infrastructure: paths, runs, policy, budget
    ("models", "tasks"),  # what is transferred, and on what
    ("locate", "analyse", "evaluate", "effects"),  # the science that reads models
    ("paradigms",),  # the transfer methods, one module each
    ("transfer",),  # prepare → run directory → paradigm → evaluate
    ("experiments",),  # built on transfers: curve, ladder, reproduce, zoo, example_runs
    ("figures",),  # Plotly builders of every result
    ("lab",),  # what the UI calls
    ("cli", "__main__"),  # the command line
)
# Within a layer, these never import each other (models know nothing of tasks, and back).
INDEPENDENT = {("models", "tasks"), ("tasks", "models")}
RANK = {name: rank for rank, layer in enumerate(LAYERS) for name in layer}


def _pkt_imports(path: Path) -> set[str]:
    """The pkt_core subpackages/modules a file imports (relative imports resolved)."""
    package = path.relative_to(ROOT).with_suffix("").parts[:-1]  # e.g. ('pkt_core', 'lab')
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = list(package[:len(package) - node.level + 1]) if node.level else []
            parts = base + (node.module.split(".") if node.module else [])
            names = [parts] if node.module else [parts + [a.name] for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name.split(".") for a in node.names]
        else:
            continue
        found |= {p[1] for p in names if len(p) > 1 and p[0] == "pkt_core"}
    return found


def _top(path: Path) -> str:
    return path.relative_to(ROOT / "pkt_core").with_suffix("").parts[0]


def test_every_module_of_pkt_core_has_a_layer():
    unplaced = sorted({_top(p) for p in PKT_CORE} - set(RANK) - {"__init__"})
    assert not unplaced, f"add these to LAYERS (and docs/ARCHITECTURE.md): {unplaced}"


def test_lower_layers_never_import_higher_ones():
    broken = []
    for path in PKT_CORE:
        own = _top(path)
        for name in sorted(_pkt_imports(path) - {own}):
            if name in RANK and (RANK[name] > RANK.get(own, 0) or (own, name) in INDEPENDENT):
                broken.append(f"{path.relative_to(ROOT)} imports pkt_core.{name}")
    assert not broken, broken
    # the check reads imports: these are known to exist
    assert "paradigms" in _pkt_imports(ROOT / "pkt_core" / "transfer.py")
    assert "infra" in _pkt_imports(ROOT / "pkt_core" / "models" / "loading.py")


def test_architecture_doc_draws_the_layers_this_test_checks():
    doc = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    missing = [name for layer in LAYERS for name in layer if f"`{name}" not in doc]
    assert not missing, missing


# ---- a paradigm is one file ---------------------------------------------------------------------
# LoRA is also the adapter every fine-tuning paradigm trains (peft's), so identifiers such as
# `svd_lora_init` name that shared mechanism, not the `lora` baseline; strings still may not.
SHARED_MECHANISMS = {"lora"}


def _docstrings(tree: ast.AST) -> set[int]:
    kinds = (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    return {id(node.body[0].value) for node in ast.walk(tree)
            if isinstance(node, kinds) and node.body and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)}


def _identifier(node: ast.AST) -> str | None:
    for kind, attribute in ((ast.Name, "id"), (ast.arg, "arg"), (ast.Attribute, "attr"),
                            (ast.FunctionDef, "name"), (ast.ClassDef, "name")):
        if isinstance(node, kind):
            return getattr(node, attribute)
    return None


def paradigm_mentions(path: Path, names: list[str]) -> list[str]:
    """Where a file names a paradigm by hand: a string (not a docstring) holding the name as a
    word, or an identifier with the name as one of its `_`-separated parts."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docs, found = _docstrings(tree), []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            hits = [n for n in names if re.search(rf"(?<![A-Za-z]){n}(?![A-Za-z])", node.value)]
        elif (ident := _identifier(node)) is not None:
            hits = [n for n in names
                    if n not in SHARED_MECHANISMS and n in ident.lower().split("_")]
        else:
            continue
        found += [f"{path.relative_to(ROOT)}:{node.lineno} names {n}" for n in hits]
    return found


def test_a_paradigm_is_named_only_in_its_own_module():
    """The UI, the experiments, the budget and the figures iterate the registry: adding a
    paradigm is one file under pkt_core/paradigms/ (its tests and docs aside)."""
    from pkt_core.paradigms import paradigm_names

    outside = [p for p in SOURCES if "paradigms" not in p.relative_to(ROOT).parts]
    mentions = [m for path in outside for m in paradigm_mentions(path, paradigm_names())]
    assert not mentions, mentions


def test_the_name_check_sees_a_paradigm_named_by_hand(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    bad = tmp_path / "bad.py"
    bad.write_text('"""Docstrings may say laten."""\nruns = {"laten": 1}\n'
                   "def f(seeking_run):\n    return svd_lora_init\n")
    found = paradigm_mentions(bad, ["laten", "seeking", "lora"])
    assert found == ["bad.py:2 names laten", "bad.py:3 names seeking"], found
