"""Bounded disk for a public lab: visitors' sessions, their runs' lifetime, and their downloads.

A session is *seen* while its page makes requests and *ended* when the page is closed (Gradio's
unload event). In public mode its runs are deleted `PKT_RUN_TTL_HOURS` after it ended, and the
visitors' runs folder is pruned oldest first above `PKT_RUNS_MAX_MB`. After a restart nobody's
end time is known, so a run whose owner is not a live session is deleted once it is older than
the TTL. Locally nothing is deleted: the runs are the user's own.
"""
from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

from ..infra import policy
from ..infra.runs import RunDirError, default_runs_root, delete_run, list_runs, prune_runs, run_owner
from .inputs import lab_limits
from .saved_runs import clear_downloads, downloads_root

_LOCK = threading.Lock()
_ENDED: dict[str, float] = {}  # session tag → when its page was closed
_LIVE: dict[str, float] = {}  # session tag → last seen


def session_seen(session: str | None) -> None:
    if session:
        with _LOCK:
            _LIVE[policy.session_tag(session)] = time.time()


def session_ended(session: str | None) -> None:
    """The visitor closed the page: drop their downloads now, their runs after the TTL."""
    clear_downloads(session)
    if session:
        tag = policy.session_tag(session)
        with _LOCK:
            _LIVE.pop(tag, None)
            _ENDED[tag] = time.time()
    tidy_runs()


DOWNLOADS_MAX_AGE_S = 3600  # a prepared download is kept this long at most


def tidy_downloads(now: float | None = None) -> list[Path]:
    """Remove sessions' prepared downloads older than an hour: an API client never closes a page,
    so the unload hook alone would leave one run's copies per client."""
    now = time.time() if now is None else now
    removed = []
    root = downloads_root()
    for folder in root.iterdir() if root.is_dir() else ():
        try:
            old = now - folder.stat().st_mtime > DOWNLOADS_MAX_AGE_S
        except OSError:
            continue
        if old and folder.is_dir() and not folder.is_symlink():
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _expired(path: Path, ttl_s: float, now: float) -> bool:
    tag = run_owner(path)
    if tag is None:
        return False  # not a visitor's run (e.g. made from the command line)
    with _LOCK:
        if tag in _LIVE:
            return False
        ended = _ENDED.get(tag)
    if ended is not None:
        return now - ended > ttl_s
    try:  # owner unknown to this process (a restart): judge by the run's age
        return now - (path / "config.json").stat().st_mtime > ttl_s
    except OSError:
        return False


def tidy_runs(root: Path | None = None, now: float | None = None) -> list[Path]:
    """Public mode: delete expired sessions' runs, then prune the folder to its size cap.
    Returns what was deleted; does nothing locally."""
    tidy_downloads(now)
    lim = lab_limits()
    if not lim.public:
        return []
    root = root if root is not None else default_runs_root()
    now = time.time() if now is None else now
    deleted = []
    for path in (Path(row["path"]) for row in list_runs(root)):
        if _expired(path, lim.run_ttl_hours * 3600, now):
            try:
                delete_run(path, root)
                deleted.append(path)
            except (RunDirError, OSError):
                continue  # still running, or gone meanwhile
    return deleted + prune_runs(root, int(lim.runs_max_mb * 2**20))
