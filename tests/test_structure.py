"""House rules that keep the code readable, checked on the source (they fail on a regression):
short functions and modules, no gradio below app.py, no machine paths in committed files."""
from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
UI = [ROOT / "app.py", ROOT / "ui_glue.py"]
PKT_CORE = sorted((ROOT / "pkt_core").rglob("*.py"))
SOURCES = [*UI, *PKT_CORE]
MAX_FUNCTION, MAX_MODULE = 80, 600


def _functions(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}", node.end_lineno - node.lineno + 1)
            for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]


def test_no_function_longer_than_80_lines_and_no_module_longer_than_600():
    long_functions = [(name, n) for path in SOURCES for name, n in _functions(path) if n > MAX_FUNCTION]
    long_modules = [(str(p.relative_to(ROOT)), n) for p in SOURCES
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


# Which parts of pkt_core each layer may not import: data flows one way (ARCHITECTURE.md), so a
# lower layer never reaches up.
FORBIDDEN = {
    "models": ("tasks", "paradigms", "lab", "figures", "transfer", "reproduce", "analyse", "locate"),
    "tasks": ("models", "paradigms", "lab", "figures", "transfer", "reproduce"),
    "paradigms": ("lab", "figures", "transfer", "reproduce", "example_runs"),
    "locate": ("paradigms", "lab", "figures", "transfer", "analyse"),
    "analyse": ("paradigms", "lab", "figures", "transfer"),
    "figures": ("paradigms", "lab", "transfer"),
    "transfer": ("lab", "figures"),
}


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


def test_lower_layers_never_import_higher_ones():
    broken = []
    for path in PKT_CORE:
        parts = path.relative_to(ROOT / "pkt_core").with_suffix("").parts
        rules = FORBIDDEN.get(parts[0], ())
        broken += [f"{path.relative_to(ROOT)} imports pkt_core.{name}"
                   for name in sorted(_pkt_imports(path) & set(rules))]
    assert not broken, broken
    assert "paradigms" in _pkt_imports(ROOT / "pkt_core" / "transfer.py")  # the check reads imports
