"""Reproduce the research's main table at the lab's scale, with controls and intervals.

Rows: the untouched student, the teacher, then every paradigm in the registry's table order, each
of its named presets (`laten-lab`), and — for paradigms that read a teacher — the same transfer
from the teacher's shuffled control (`laten@shuffled`, see models.controls). Columns: tasks. A
cell holds the test scores over seeds, their mean ± std and, for a transfer, the 95 % interval of
its change against the untouched student, paired over test items and seeds (pkt_core.stats).
Every transfer is a normal run directory under `<out>/runs/`, so each cell can be inspected; the
table is written as Markdown and JSON with paths relative to `<out>`.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from ..models.controls import PREFIX as CONTROL_PREFIX
from ..models.provider import MODELS
from ..paradigms.base import get_paradigm, paradigm_names
from ..infra.runs import atomic_write_bytes, atomic_write_json
from ..stats import METHOD, paired_change_ci
from ..tasks import get_task
from ..transfer import TransferRequest, run_transfer, score_on_test

REFERENCE_ROWS = {"student": "student (untouched)", "teacher": "teacher"}
Progress = Callable[[str], None]


@dataclass(frozen=True)
class Row:
    """One transfer row: `<paradigm>[-<preset>][@shuffled]`."""
    paradigm: str
    preset: str = "research"
    shuffled: bool = False

    @classmethod
    def parse(cls, name: str) -> "Row":
        body, _, control = name.partition("@")
        paradigm, _, preset = body.partition("-")
        row = cls(paradigm, preset or "research", control == "shuffled")
        spec = get_paradigm(paradigm)
        spec.preset(row.preset)  # an unknown preset is refused here
        if control not in ("", "shuffled") or (row.shuffled and not spec.needs_teacher):
            raise ValueError(f"bad row '{name}': '@shuffled' needs a paradigm that reads a teacher")
        return row

    @property
    def name(self) -> str:
        preset = "" if self.preset == "research" else f"-{self.preset}"
        return f"{self.paradigm}{preset}{'@shuffled' if self.shuffled else ''}"


def table_rows(paradigms: Sequence[str] | None = None) -> list[str]:
    """The table's rows: the untouched student and the teacher, then every paradigm (in the
    registry's table order) with each of its presets, then the shuffled-teacher controls; or only
    the rows asked for (a paradigm, `laten-lab`, `seeking@shuffled`, …) in that order."""
    if paradigms is not None:
        return [*REFERENCE_ROWS, *(Row.parse(p).name for p in paradigms)]
    rows = [Row(p, preset) for p in paradigm_names() for preset in get_paradigm(p).presets]
    controls = [Row(r.paradigm, r.preset, True) for r in rows if get_paradigm(r.paradigm).needs_teacher]
    return [*REFERENCE_ROWS, *(r.name for r in rows + controls)]


def row_title(row: str) -> str:
    if row in REFERENCE_ROWS:
        return REFERENCE_ROWS[row]
    r = Row.parse(row)
    return (get_paradigm(r.paradigm).title + ("" if r.preset == "research" else f" · {r.preset} preset")
            + (" · from the shuffled teacher" if r.shuffled else ""))


def reproduce(teacher: str, student: str, tasks: Sequence[str], seeds: Sequence[int],
              out: str | Path, paradigms: Sequence[str] | None = None,
              settings: dict[str, dict[str, Any]] | None = None, eval_limit: int | None = None,
              progress: Progress | None = None) -> dict[str, Any]:
    """Run every paradigm on every task for every seed; write table.md and table.json to `out`."""
    say = progress or (lambda message: None)
    rows = table_rows(paradigms)  # refuses an unknown paradigm, preset or control before any work
    task_objs = {name: get_task(name) for name in tasks}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    cells: dict[str, dict[str, list[list[float]]]] = {row: {t: [] for t in tasks} for row in rows}
    base = _score_references(teacher, student, task_objs, eval_limit, cells, say)
    runs: list[dict[str, Any]] = []
    for seed in seeds:
        for name in tasks:
            for row in rows[len(REFERENCE_ROWS):]:
                say(f"seed {seed}: {row} on {name}")
                r = Row.parse(row)
                req = TransferRequest(
                    paradigm=r.paradigm, student=student, preset=r.preset, task=name, seed=seed,
                    teacher=f"{CONTROL_PREFIX}{teacher}" if r.shuffled else teacher,
                    settings=dict((settings or {}).get(r.paradigm, {})), eval_limit=eval_limit,
                    out=str(out / "runs" / f"{row.replace('@', '-at-')}-{name}-seed{seed}"))
                result = run_transfer(req, base_metrics=base[name])
                cells[row][name].append([float(i["correct"]) for i in result.metrics["result"]["items"]])
                runs.append({"row": row, "task": name, "seed": seed,
                             "run_dir": str(result.run_dir.relative_to(out)),
                             "score": result.metrics["result"]["score"],
                             "changed_outputs": result.metrics["effects"]["changed_outputs"],
                             "seconds": result.metrics["seconds"]})
    table = {"teacher": teacher, "student": student, "tasks": list(tasks), "seeds": list(seeds),
             "rows": {row: {t: _cell(cells[row][t], base[t], row in REFERENCE_ROWS) for t in tasks}
                      for row in rows},
             "interval": METHOD, "settings": settings or {}, "runs": runs,
             "split_sizes": _budgets(task_objs, seeds[0], eval_limit),
             "seconds": round(time.perf_counter() - started, 1)}
    atomic_write_json(out / "table.json", table)
    atomic_write_bytes(out / "table.md", markdown_table(table).encode())
    return table


def _score_references(teacher: str, student: str, task_objs: dict[str, Any],
                      eval_limit: int | None, cells: dict[str, dict[str, list[list[float]]]],
                      say: Progress) -> dict[str, dict[str, Any]]:
    """Score the untouched student and the teacher once (no training: the same for every seed);
    return the student's results, every transfer's "before"."""
    base: dict[str, dict[str, Any]] = {}
    for role, ref in (("student", student), ("teacher", teacher)):
        loaded = MODELS.get(ref)
        for name, task in task_objs.items():
            say(f"scoring the {role} on {name}")
            scored = score_on_test(loaded.model, loaded.tokenizer, task, eval_limit, name=ref)
            cells[role][name] = [[float(i["correct"]) for i in scored["items"]]]
            if role == "student":
                base[name] = scored
    return base


def _cell(per_seed: list[list[float]], base: dict[str, Any], reference: bool) -> dict[str, Any]:
    """A cell: the score of each seed, mean ± std and, for a transfer, the paired interval."""
    values = [sum(items) / len(items) for items in per_seed]
    cell = {"values": values, "mean": statistics.fmean(values) if values else None,
            "std": statistics.stdev(values) if len(values) > 1 else 0.0}
    if not reference and per_seed:
        ci = paired_change_ci([float(i["correct"]) for i in base["items"]], per_seed)
        cell.update(change=ci.change, change_ci95=ci.as_list(), excludes_zero=ci.excludes_zero)
    return cell


def _budgets(task_objs: dict[str, Any], seed: int, eval_limit: int | None) -> dict[str, Any]:
    budgets = {name: {k: len(v) for k, v in task.splits(seed).items()} for name, task in task_objs.items()}
    for sizes in budgets.values():
        sizes["test"] = min(sizes["test"], eval_limit) if eval_limit else sizes["test"]
    return budgets


def _fmt(cell: dict[str, Any]) -> str:
    values = cell["values"]
    if not values:
        return "–"
    text = f"{100 * cell['mean']:.1f}" + (f" ± {100 * cell['std']:.1f}" if len(values) > 1 else "")
    if "change_ci95" in cell:
        lo, hi = (100 * x for x in cell["change_ci95"])
        change = f"{100 * cell['change']:+.1f} [{lo:+.1f}, {hi:+.1f}]"
        text += f" ({'**' + change + '**' if cell['excludes_zero'] else change})"
    return text


def markdown_table(table: dict[str, Any]) -> str:
    tasks = table["tasks"]
    lines = [f"| model | {' | '.join(tasks)} |", "|---|" + "---|" * len(tasks)]
    for row, cells in table["rows"].items():
        lines.append(f"| {row_title(row)} | " + " | ".join(_fmt(cells[t]) for t in tasks) + " |")
    sizes = "; ".join(f"{t}: " + ", ".join(f"{k} {v}" for k, v in s.items())
                      for t, s in table["split_sizes"].items())
    lines += ["", f"Test accuracy / pass@1 in %, mean ± std over seeds {table['seeds']}; in "
              f"brackets, a transfer's change against the untouched student with its 95 % interval "
              f"({table.get('interval', METHOD)}), **bold** where the interval excludes 0. Teacher "
              f"`{table['teacher']}`, student `{table['student']}`. Data: {sizes}. Wall time "
              f"{table['seconds']:.0f} s."]
    return "\n".join(lines) + "\n"
