"""Reproduce the research's main table at the lab's scale.

Rows: student, teacher, Seeking (PostPKT), LaTen (PrePKT), LoRA, PiSSA; columns: tasks; cells:
mean ± std of the test score over seeds. Every transfer is a normal run directory under
`<out>/runs/`, so each cell can be inspected, and the table is written as Markdown and JSON.
"""
from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from .evaluate import evaluate_task
from .models.provider import MODELS
from .paradigms.base import get_paradigm, paradigm_names
from .runs import atomic_write_bytes, atomic_write_json
from .tasks import get_task
from .transfer import TransferRequest, run_transfer

REFERENCE_ROWS = {"student": "student (untouched)", "teacher": "teacher"}
Progress = Callable[[str], None]


def table_rows(paradigms: Sequence[str] | None = None) -> list[str]:
    """The table's rows: the untouched student and the teacher, then every paradigm in the
    registry's table order (or only those asked for, in that order)."""
    chosen = paradigm_names() if paradigms is None else [p for p in paradigm_names() if p in paradigms]
    return [*REFERENCE_ROWS, *chosen]


def row_title(row: str) -> str:
    return REFERENCE_ROWS.get(row) or get_paradigm(row).title


def _fmt(values: Sequence[float]) -> str:
    if not values:
        return "–"
    mean = 100 * statistics.fmean(values)
    if len(values) == 1:
        return f"{mean:.1f}"
    return f"{mean:.1f} ± {100 * statistics.stdev(values):.1f}"


def reproduce(teacher: str, student: str, tasks: Sequence[str], seeds: Sequence[int],
              out: str | Path, paradigms: Sequence[str] | None = None,
              settings: dict[str, dict[str, Any]] | None = None, eval_limit: int | None = None,
              progress: Progress | None = None) -> dict[str, Any]:
    """Run every paradigm on every task for every seed; write table.md and table.json to `out`."""
    say = progress or (lambda message: None)
    for name in paradigms or ():
        get_paradigm(name)  # refuse an unknown paradigm before any work
    rows = table_rows(paradigms)
    paradigms = rows[len(REFERENCE_ROWS):]
    task_objs = {name: get_task(name) for name in tasks}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    scores: dict[str, dict[str, list[float]]] = {row: {t: [] for t in tasks} for row in rows}
    runs: list[dict[str, Any]] = []
    base: dict[str, dict[str, Any]] = {}
    for role, ref in (("student", student), ("teacher", teacher)):
        loaded = MODELS.get(ref)
        for name, task in task_objs.items():
            say(f"scoring the {role} on {name}")
            result = evaluate_task(loaded.model, loaded.tokenizer, task, "test", eval_limit,
                                   model_name=ref)
            scores[role][name] = [result.score]  # no training: identical for every seed
            if role == "student":  # every transfer's "before" score (test items are seed-free)
                base[name] = {"score": result.score, "n": result.n, "extra": result.extra,
                              "items": result.items}
    for seed in seeds:
        for name in tasks:
            for paradigm in paradigms:
                say(f"seed {seed}: {paradigm} on {name}")
                req = TransferRequest(paradigm=paradigm, student=student, teacher=teacher,
                                      task=name, settings=dict((settings or {}).get(paradigm, {})),
                                      seed=seed, eval_limit=eval_limit,
                                      out=str(out / "runs" / f"{paradigm}-{name}-seed{seed}"))
                pinned = all(ex.source_split == "test" for ex in task_objs[name].split("test", seed))
                result = run_transfer(req, base_metrics=base[name] if pinned else None)
                scores[paradigm][name].append(result.metrics["result"]["score"])
                runs.append({"paradigm": paradigm, "task": name, "seed": seed,
                             "run_dir": str(result.run_dir.relative_to(out)),
                             "score": result.metrics["result"]["score"],
                             "seconds": result.metrics["seconds"]})
    seconds = round(time.perf_counter() - started, 1)
    budgets = {name: {k: len(v) for k, v in task_objs[name].splits(seeds[0]).items()}
               for name in tasks}
    if eval_limit:
        for name in tasks:
            budgets[name]["test"] = min(budgets[name]["test"], eval_limit)
    table = {"teacher": teacher, "student": student, "tasks": list(tasks), "seeds": list(seeds),
             "rows": {row: {t: {"values": scores[row][t],
                                "mean": statistics.fmean(scores[row][t]) if scores[row][t] else None,
                                "std": statistics.stdev(scores[row][t]) if len(scores[row][t]) > 1 else 0.0}
                            for t in tasks} for row in rows},
             "settings": settings or {}, "split_sizes": budgets, "runs": runs, "seconds": seconds}
    atomic_write_json(out / "table.json", table)
    atomic_write_bytes(out / "table.md", markdown_table(table).encode())
    return table


def markdown_table(table: dict[str, Any]) -> str:
    tasks = table["tasks"]
    lines = [f"| model | {' | '.join(tasks)} |", "|---|" + "---|" * len(tasks)]
    for row, cells in table["rows"].items():
        lines.append(f"| {row_title(row)} | " +
                     " | ".join(_fmt(cells[t]["values"]) for t in tasks) + " |")
    sizes = "; ".join(f"{t}: " + ", ".join(f"{k} {v}" for k, v in s.items())
                      for t, s in table["split_sizes"].items())
    lines += ["", f"Test accuracy / pass@1 in %, mean ± std over seeds {table['seeds']}. "
              f"Teacher `{table['teacher']}`, student `{table['student']}`. Data: {sizes}. "
              f"Wall time {table['seconds']:.0f} s."]
    return "\n".join(lines) + "\n"
