"""The Runs tab: saved runs (the visitor's own and the shipped examples), the results table as
bars, one run's details and its files for download. Paths that arrive from the page are checked
against the runs folders before anything is read."""
from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Sequence

from .. import paper
from ..infra import policy
from ..infra.policy import example_runs_root
from ..figures import alignment_heatmaps, loss_figure, runs_chart, save_figure
from ..models import ModelNotAvailable, resolve_ref
from ..experiments.reproduce import row_title, table_rows
from ..infra.runs import INTERRUPTED_MESSAGE, RunDir, default_runs_root, export_run, list_runs
from ..tasks.toyworld import TOY_TASKS
from .catalog import paradigm_title
from .inputs import LabError, as_text, lab_limits
from .views import RunDetailView, RunsView, result_markdown

RUN_COLUMNS = ["source", "run", "paradigm", "task", "teacher → student", "status", "base",
               "result", "change"]


def all_runs() -> list[dict[str, Any]]:
    """The user's runs (newest first), then the shipped examples, each tagged with its source."""
    out = []
    user, example = default_runs_root().resolve(), example_runs_root().resolve()
    limits = lab_limits()
    for root, source in ((user, "saved"), (example, "example")):
        if source == "example" and root == user:
            continue
        for row in list_runs(root):
            if (source == "saved" and limits.public
                    and policy.visible_run(row["path"], limits) is None):
                continue  # another visitor's run
            row["source"] = source
            out.append(row)
    return out


_STARTED = re.compile(r"^\d{4}(\d{2})(\d{2})-(\d{2})(\d{2})\d{2}-")  # new_run_path's prefix


def _run_label(row: dict[str, Any]) -> str:
    """A picker label short enough for a dropdown at 1024 px: what, on which task, when, the
    scores; the run's full name is in the Runs table and its path is the value."""
    scores = "" if row.get("result_score") is None else \
        f" · {row['base_score']:.2f} → {row['result_score']:.2f}"
    started = _STARTED.match(row["name"])
    when = (f"{started[1]}-{started[2]} {started[3]}:{started[4]}" if started
            else row["name"] if row["source"] != "example" else "example")
    status = "" if row.get("status") == "complete" else f" ({row.get('status')})"
    return f"{row['paradigm']} · {row['task']} · {when}{scores}{status}"


def run_choices(paradigm: str | None = None, finished_only: bool = True) -> list[tuple[str, str]]:
    return [(_run_label(r), r["path"]) for r in all_runs()
            if (paradigm is None or r["paradigm"] == paradigm) and (r["finished"] or not finished_only)]


def default_run(paradigm: str, student: str | None = None) -> str | None:
    rows = [r for r in all_runs() if r["paradigm"] == paradigm and r["finished"]]
    preferred = [r for r in rows if student and r["student"] == student]
    return (preferred or rows or [{"path": None}])[0]["path"]


def default_run_pick(current: str | None = None) -> str | None:
    """The Runs picker's value: `current` while it is still a run the picker offers, else the
    newest finished run (the visitor's own runs come first, newest first, then the shipped
    examples), else the newest run of any status, else None. A cancelled or failed run is never
    the default while a finished one exists: it has no scores to show."""
    rows = all_runs()
    if current and current in {r["path"] for r in rows}:
        return current
    finished = [r for r in rows if r["finished"]]
    return (finished or rows or [{"path": None}])[0]["path"]


def _round(x: Any) -> Any:
    return None if x is None else round(float(x), 3)


def runs_rows(mine: Sequence[str] = ()) -> list[list[Any]]:
    """Table rows of every run; `mine` (this session's run paths) are tagged 'this session'."""
    mine_set = {str(Path(p).resolve()) for p in mine or ()}
    rows = []
    for r in all_runs():
        source = "this session" if r["path"] in mine_set else r["source"]
        status = r["status"] if r["finished"] or r["status"] != "complete" else "complete (no weights)"
        base, res = r.get("base_score"), r.get("result_score")
        pair = f"{r['teacher'] or '(no teacher)'} → {r['student']}"
        rows.append([source, r["name"], r["paradigm"], r["task"], pair, status, _round(base),
                     _round(res), _round(res - base) if base is not None and res is not None else None])
    return rows


def model_scores(model: str | None) -> dict[str, float]:
    """A model's own test scores (task → score) from its model card (scores.json), when it has one."""
    if not model:
        return {}
    try:
        data = json.loads(((resolve_ref(model).path or Path()) / "scores.json").read_text())
        return {t: float(v["score"]) for t, v in data.get("scores", {}).items()}
    except (OSError, ValueError, ModelNotAvailable, KeyError, TypeError):
        return {}


def runs_view(mine: Sequence[str] = ()) -> RunsView:
    """The runs table and the bars: per task, the base student, the teacher and each paradigm
    in the research's row order."""
    runs = [r for r in all_runs() if r.get("result_score") is not None]
    tasks = sorted({r["task"] for r in runs}, key=lambda t: (t not in TOY_TASKS, t))
    series: dict[str, dict[str, list[float]]] = {row_title(row): {} for row in table_rows()}
    for r in runs:
        series[row_title("student")].setdefault(r["task"], []).append(r["base_score"])
        series.setdefault(paradigm_title(r["paradigm"]), {}).setdefault(r["task"], []).append(
            r["result_score"])
        score = model_scores(r["teacher"]).get(r["task"])  # from its model card
        if score is not None:
            series[row_title("teacher")].setdefault(r["task"], [score])
    return RunsView(runs_rows(mine), runs_chart(tasks, {k: v for k, v in series.items() if v}))


def published_rows() -> list[list[Any]]:
    return [list(row) for row in paper.TABLE]


def checked_run(path: str) -> Path:
    """A run directory under one of the runs roots that this visitor may see (never an arbitrary
    path on the server; in public mode only the examples and the session's own runs)."""
    text = as_text(path, "the run")
    run = policy.visible_run(text, lab_limits())
    if run is None:
        raise LabError(f"'{text}' is not a saved run you can open")
    return run


def run_detail(path: str) -> RunDetailView:
    """A run's summary (markdown), its loss curve and its config."""
    run = RunDir(checked_run(path))
    config, status = run.read_json("config.json", {}), run.read_json("status.json", {})
    if run.status == "interrupted":  # a crashed run's file may still say "running"
        status = {**status, "status": "interrupted", "message": INTERRUPTED_MESSAGE}
    metrics = run.read_json("metrics.json", {})
    title = paradigm_title(config.get("paradigm", "?"))
    md = (f"### `{run.path.name}`\n**{title}** on `{config.get('task')}` · teacher "
          f"`{config.get('teacher') or '—'}` → student `{config.get('student')}` · status "
          f"**{status.get('status')}** ({status.get('message', '')})\n\n")
    rows = run.log_rows()
    md += (result_markdown(metrics, title, rows) if metrics
           else "No scores (the run did not finish).")
    note = run.read_json("example.json")
    if note:
        md += f"\n\n*Shipped example run:* {note.get('note', '')}"
    return RunDetailView(md, loss_figure(rows, f"{title}: training loss"), config)


def downloads_root() -> Path:
    """Where run downloads are prepared: one folder per visitor session under the temp dir."""
    return Path(tempfile.gettempdir()) / "pkt-downloads"


def session_downloads(session: str | None) -> Path:
    return downloads_root() / (policy.session_tag(session) if session else "local")


def clear_downloads(session: str | None) -> None:
    """Remove a session's prepared downloads (its page was closed, or it asks for new ones)."""
    shutil.rmtree(session_downloads(session), ignore_errors=True)


def run_files(path: str) -> list[str]:
    """Copies of a run's files for download: config, metrics, log, figure HTML/JSON, model zip.

    They go into the visitor's own download folder, which holds one run at a time (the previous
    one is removed) and is deleted when the session ends, so downloads never pile up on disk."""
    src = checked_run(path)
    session = policy.current_session()
    clear_downloads(session)
    out = session_downloads(session) / src.name
    files = export_run(src, out)
    run = RunDir(src)
    rows = run.log_rows()
    files += [p for p in save_figure(loss_figure(rows, f"{src.name}: training loss"),
                                     out / "loss_figure.html", data={"log": rows}) if p]
    alignment = run.read_json("artifacts.json", {}).get("alignment")
    if isinstance(alignment, dict) and "matrices" in alignment:
        files += [p for p in save_figure(alignment_heatmaps(alignment),
                                         out / "alignment_figure.html", data=alignment) if p]
    return [str(f) for f in files]
