"""Run directories: atomic writes, status, checkpoints, listing.

A run directory holds everything needed to inspect or repeat a transfer:
    config.json      the request and the paradigm's full config (enough to re-run)
    status.json      running | complete | failed | cancelled | interrupted, with a message; a
                     `running` one names its process, so a crashed run reads `interrupted`
    owner.json       optional opaque tag of whoever started it (e.g. an app session)
    log.jsonl        one JSON row per step (losses, learning rate, located layer counts)
    metrics.json     test-split scores of the base student and of the result
    artifacts.json   locate/similarity data the figures are drawn from
    checkpoints/     per-step state (LaTen's hypernetwork and located indices)
    model/           the transferred student, merged weights (a valid model reference)
    adapter/         the peft LoRA adapter, for LoRA-based paradigms
Only a run whose status is `complete` has a model/ directory and is shown as finished.
`RunDir.model_ref` is the one answer to "is this folder a run, and which model does it hold?":
the model loader, the visitors' run check (`policy.visible_run`) and `list_runs` (whose
`finished` the app's Runs and Compare read) all ask it.

Disk stays bounded with `prune_runs` (oldest first, never a live or kept run) and `delete_run`
(only a run directory strictly inside the runs root).
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Collection, Mapping

import torch

from . import paths

RUN_MARKER = "pkt_run"  # key in config.json that marks a directory as a PKT Lab run


def default_runs_root() -> Path:
    """Where new runs go (PKT_RUNS_DIR, else ./runs); see `paths.runs_root`."""
    return paths.runs_root()


def new_run_path(paradigm: str, task: str, root: str | Path | None = None) -> Path:
    """A run directory name nobody else picks: time, paradigm, task and a random suffix."""
    root = Path(root) if root is not None else default_runs_root()
    safe_task = "".join(c if c.isalnum() or c in "-_" else "-" for c in task)
    return root / f"{time.strftime('%Y%m%d-%H%M%S')}-{paradigm}-{safe_task}-{uuid.uuid4().hex[:6]}"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temp file in the same directory, then rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, json.dumps(obj, indent=2, default=_json_default).encode())


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, (Path, torch.dtype)):
        return str(obj)
    raise TypeError(f"not JSON-serialisable: {type(obj).__name__}")


class RunDirError(ValueError):
    """The output directory cannot hold a new run."""


def is_run_dir(path: Path) -> bool:
    """Whether PKT Lab wrote this folder as a run (its config.json carries RUN_MARKER): only such
    folders are listed, pruned or deleted."""
    try:
        return bool(json.loads((path / "config.json").read_text()).get(RUN_MARKER))
    except (OSError, ValueError):
        return False


# ---- who runs a run: a crashed run must not read `running` forever ----------------------------
INTERRUPTED_MESSAGE = "the process that ran it ended (crash or restart) without finishing"
_PROC = Path("/proc")  # read at call time: tests point it elsewhere to play a machine without it


def _boot_id() -> str | None:
    try:
        return (_PROC / "sys" / "kernel" / "random" / "boot_id").read_text().strip() or None
    except OSError:  # no /proc (macOS, Windows)
        return None


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in clock ticks since boot) from /proc/<pid>/stat; None when the
    process does not exist or there is no /proc."""
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and ')': the fields after the last ')' start at
    # field 3 (state), so field 22 (starttime) is the 20th of them.
    rest = text[text.rfind(")") + 2:].split()
    try:
        return rest[0], int(rest[19])
    except (IndexError, ValueError):
        return None


def _pid_exists(pid: int) -> bool:
    """Liveness without /proc. Windows' os.kill would terminate the process, so there a pid is
    taken as alive (a crashed run then still reads `running`, as it did before)."""
    if os.name == "nt":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    except OSError:
        return False
    return True


def process_identity(pid: int | None = None) -> dict[str, Any]:
    """What identifies a process across pid reuse and reboots: pid, boot id and start time (the
    last two are None where /proc is missing)."""
    pid = os.getpid() if pid is None else pid
    stat = _proc_stat(pid)
    return {"pid": pid, "boot_id": _boot_id(), "start_time": stat[1] if stat else None}


def owner_alive(info: Mapping[str, Any] | None) -> bool:
    """Whether the process recorded in `info` (see `process_identity`) is still running: False
    for another boot, a pid that is gone or a zombie, or a pid reused by a later process."""
    if not isinstance(info, Mapping) or not isinstance(info.get("pid"), int):
        # Every `running` status names its process since this field exists; one without it was
        # written by an older version, whose process a restart has ended.
        return False
    boot, here = info.get("boot_id"), _boot_id()
    if boot and here and boot != here:
        return False
    stat = _proc_stat(info["pid"])
    if stat is None:
        if (_PROC / "self" / "stat").exists():
            return False  # /proc works here and has no such pid
        return _pid_exists(info["pid"])  # no /proc (macOS): the pid alone, reuse undetectable
    state, start = stat
    if state in ("Z", "X"):  # killed but not yet reaped by its parent
        return False
    return info.get("start_time") is None or start == info["start_time"]


# `RunModel.state`: the folder holds a finished run's model / is a run without a usable model /
# is no run at all.
FINISHED, UNFINISHED, NOT_A_RUN = "finished", "unfinished", "not a run"


@dataclass(frozen=True)
class RunModel:
    """What `RunDir.model_ref` found in a folder."""
    state: str  # FINISHED, UNFINISHED or NOT_A_RUN
    status: str  # `RunDir.status`: complete, running, interrupted, failed, cancelled or unknown
    model: Path | None = None  # model/ of a finished run: a loadable model reference

    def why_no_model(self, name: str | Path) -> str:
        """Why the run `name` gives no model, in one sentence for the user."""
        if self.state == NOT_A_RUN:
            return f"'{name}' is not a run directory"
        if self.status == "complete":
            return f"run '{name}' finished without keeping its model (no model/ folder)"
        return f"run '{name}' is {self.status}, not complete; its model is not final"


@dataclass
class RunDir:
    path: Path

    @classmethod
    def create(cls, out: str | Path | None, paradigm: str, task: str) -> "RunDir":
        """A fresh run directory; refuses one that exists with content (no saved work is lost)."""
        if out is None:
            path = new_run_path(paradigm, task)
        else:
            path = Path(out)
            if path.exists() and not path.is_dir():
                raise RunDirError(f"output '{path}' exists and is a file, not a run directory")
            if path.is_dir() and any(path.iterdir()):
                what = "already holds a run" if is_run_dir(path) else "exists and is not a run"
                raise RunDirError(f"output directory '{path}' {what}; choose a new --out")
        path.mkdir(parents=True, exist_ok=True)
        return cls(path)

    def write_json(self, name: str, obj: Any) -> None:
        atomic_write_json(self.path / name, obj)

    def read_json(self, name: str, default: Any = None) -> Any:
        try:
            return json.loads((self.path / name).read_text())
        except (OSError, ValueError):
            return default

    def append_log(self, row: dict[str, Any]) -> None:
        # Appending one line is the journal's unit: a crash loses at most the line being written.
        with (self.path / "log.jsonl").open("a", encoding="utf-8") as handle:
            line = json.dumps({"time": round(time.time(), 3), **row}, default=_json_default)
            handle.write(line + "\n")

    def log_rows(self) -> list[dict[str, Any]]:
        """The log's rows; safe while the run appends (a half-written last line is skipped)."""
        try:
            lines = (self.path / "log.jsonl").read_text(encoding="utf-8").splitlines()
        except OSError:
            return []
        rows = []
        for line in lines:
            try:
                rows.append(json.loads(line))
            except ValueError:
                continue
        return rows

    def set_status(self, status: str, message: str = "", **info: Any) -> None:
        """Write status.json; a `running` status also names this process (`process`), so that a
        reader can tell a run whose process died (`interrupted`) from one still going."""
        if status == "running":
            info = {"process": process_identity(), **info}
        self.write_json("status.json", {"status": status, "message": message,
                                        "updated": time.strftime("%Y-%m-%d %H:%M:%S"), **info})

    def model_ref(self) -> RunModel:
        """Whether this folder is a run and what model it holds. A run is a folder PKT Lab wrote
        (`is_run_dir`) or one that holds a Hugging Face model in model/ (a run copied without its
        config); its model/ is final once the run is complete, or for a folder without any
        status.json (never run by this version's machinery, nothing to wait for)."""
        model = self.path / "model"
        if not is_run_dir(self.path) and not (model / "config.json").is_file():
            return RunModel(NOT_A_RUN, "unknown")
        status = self.status  # read once: a run may finish between two reads
        if status in ("complete", "unknown") and model.is_dir():
            return RunModel(FINISHED, status, model)
        return RunModel(UNFINISHED, status)

    @property
    def status(self) -> str:
        """The stored status, except `interrupted` for a `running` run whose process is gone."""
        record = self.read_json("status.json") or {}
        status = record.get("status", "unknown")
        if status == "running" and not owner_alive(record.get("process")):
            return "interrupted"
        return status

    def set_owner(self, tag: str) -> None:
        """Tag the run with who started it (opaque to PKT Lab, e.g. an app session's id)."""
        if not isinstance(tag, str) or not tag.strip():
            raise RunDirError("an owner tag must be a non-empty string")
        self.write_json("owner.json", {"owner": tag})

    def save_checkpoint(self, name: str, state: dict[str, Any]) -> None:
        import io

        buffer = io.BytesIO()
        torch.save(state, buffer)
        atomic_write_bytes(self.path / "checkpoints" / f"{name}.pt", buffer.getvalue())

    def checkpoints(self) -> list[Path]:
        return sorted((self.path / "checkpoints").glob("*.pt"))


def mark_interrupted(root: str | Path | None = None) -> list[Path]:
    """Rewrite status.json of each run under `root` whose process died while it was `running` to
    `interrupted` (e.g. at app start); `RunDir.status` reports it so either way."""
    marked = []
    for path in _run_paths(root):
        run = RunDir(path)
        stored = run.read_json("status.json") or {}
        if stored.get("status") == "running" and run.status == "interrupted":
            run.set_status("interrupted", INTERRUPTED_MESSAGE, process=stored.get("process"),
                           checkpoints=len(run.checkpoints()))
            marked.append(path)
    return marked


def _run_paths(root: str | Path | None, links: bool = True) -> list[Path]:
    """The run directories directly under `root`; links to runs elsewhere only with `links`
    (pruning never follows them out of the root). Runs being deleted (.deleted-*) are skipped."""
    root = Path(root) if root is not None else default_runs_root()
    if not root.is_dir():
        return []
    return [p for p in root.iterdir() if not p.name.startswith(".") and p.is_dir()
            and (links or not p.is_symlink()) and is_run_dir(p)]


def list_runs(root: str | Path | None = None) -> list[dict[str, Any]]:
    """Every run under `root`, newest first, with its status, config summary and scores."""
    rows = []
    for path in sorted(_run_paths(root), reverse=True):
        run = RunDir(path)
        config = run.read_json("config.json", {})
        metrics = run.read_json("metrics.json", {})
        found = run.model_ref()
        status = found.status
        rows.append({"name": path.name, "path": str(path), "status": status,
                     "paradigm": config.get("paradigm"), "task": config.get("task"),
                     "teacher": config.get("teacher"), "student": config.get("student"),
                     "seed": config.get("config", {}).get("seed"),
                     "base_score": metrics.get("base", {}).get("score"),
                     "result_score": metrics.get("result", {}).get("score"),
                     "finished": found.state == FINISHED})
    return rows


RUN_FILES = ("config.json", "status.json", "metrics.json", "artifacts.json", "log.jsonl",
             "example.json")


def export_run(src: Path, out: Path) -> list[Path]:
    """Copies of a run's JSON files and a zip of each weights folder (model/, adapter/) in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for name in RUN_FILES:
        if (src / name).is_file():
            shutil.copy2(src / name, out / name)
            files.append(out / name)
    for folder in ("model", "adapter"):
        if (src / folder).is_dir():
            archive = out / f"{folder}.zip"
            with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
                for f in sorted((src / folder).rglob("*")):
                    if f.is_file():
                        zf.write(f, f"{folder}/{f.relative_to(src / folder)}")
            files.append(archive)
    return files


# ---- owners and bounded disk ---------------------------------------------------------------------
def run_owner(path: str | Path) -> str | None:
    """The tag `RunDir.set_owner` stored, or None (untagged, or not readable)."""
    owner = RunDir(Path(path)).read_json("owner.json", {})
    tag = owner.get("owner") if isinstance(owner, dict) else None
    return tag if isinstance(tag, str) else None


def run_size_bytes(path: str | Path) -> int:
    """Bytes of the files under `path` (links are not followed, so nothing outside is counted)."""
    total = 0
    for folder, _, files in os.walk(path):  # os.walk does not descend into linked folders
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:  # removed while we walked
                continue
    return total


def _deletable(path: Path, root: Path) -> Path:
    """`path` resolved, if it is a run directory strictly inside `root`; RunDirError otherwise."""
    if path.is_symlink():
        raise RunDirError(f"'{path}' is a link, not a run directory; it is not deleted")
    if not paths.is_inside(path, root):
        raise RunDirError(f"'{path}' is not inside the runs folder '{root}'; it is not deleted")
    resolved = path.resolve()
    if not resolved.is_dir() or not is_run_dir(resolved):
        raise RunDirError(f"'{path}' is not a run directory; it is not deleted")
    return resolved


def delete_run(path: str | Path, root: str | Path | None = None) -> None:
    """Delete one run directory strictly inside `root` (default: the runs root). Refuses anything
    else (a path elsewhere, `..` out of the root, a link) and a run whose process is still going."""
    root = Path(root) if root is not None else default_runs_root()
    resolved = _deletable(Path(path), root)
    if RunDir(resolved).status == "running":
        raise RunDirError(f"run '{resolved.name}' is still running; cancel it first")
    # Renamed first (atomic), so no reader ever lists a half-deleted run; then removed.
    trash = resolved.with_name(f".deleted-{resolved.name}-{uuid.uuid4().hex[:6]}")
    resolved.rename(trash)
    shutil.rmtree(trash)


def _oldest_first(run_paths: list[Path]) -> list[Path]:
    """Oldest run first: config.json is written once, when the run starts; the name breaks ties."""
    def started(path: Path) -> tuple[float, str]:
        try:
            return (path / "config.json").stat().st_mtime, path.name
        except OSError:
            return 0.0, path.name
    return sorted(run_paths, key=started)


# A run directory gets config.json a moment before its `running` status: within this grace period
# a run without status is taken to be starting, and is not pruned.
STARTING_GRACE_S = 300


def _protected(path: Path, keep: set[Path]) -> bool:
    status = RunDir(path).status
    if path.resolve() in keep or status == "running":
        return True
    if status == "unknown":
        try:
            return time.time() - (path / "config.json").stat().st_mtime < STARTING_GRACE_S
        except OSError:
            return True
    return False


def prune_runs(root: str | Path | None, max_bytes: int,
               keep: Collection[str | Path] = ()) -> list[Path]:
    """Delete whole runs under `root`, oldest first, until they take at most `max_bytes`; never a
    run whose process is still running, nor one in `keep`. Returns the deleted runs' paths (it
    may stay over the cap when only protected runs are left)."""
    if max_bytes < 0:
        raise ValueError("max_bytes must be ≥ 0")
    root = Path(root) if root is not None else default_runs_root()
    if not root.is_dir():
        return []
    for leftover in root.glob(".deleted-*"):  # a delete that was interrupted half-way
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)
    runs = _oldest_first(_run_paths(root, links=False))
    sizes = {p: run_size_bytes(p) for p in runs}
    total = sum(sizes.values())
    kept = {Path(p).resolve() for p in keep}
    deleted = []
    for path in runs:
        if total <= max_bytes:
            break
        if _protected(path, kept):
            continue
        try:
            delete_run(path, root)
        except (RunDirError, OSError):  # started running or vanished meanwhile: leave it
            continue
        total -= sizes[path]
        deleted.append(path)
    return deleted
