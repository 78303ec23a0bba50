"""Run directories: atomic writes, status, checkpoints, listing.

A run directory holds everything needed to inspect or repeat a transfer:
    config.json      the request and the paradigm's full config (enough to re-run)
    status.json      running | complete | failed | cancelled, with a message
    log.jsonl        one JSON row per step (losses, learning rate, located layer counts)
    metrics.json     test-split scores of the base student and of the result
    artifacts.json   locate/similarity data the figures are drawn from
    checkpoints/     per-step state (LaTen's hypernetwork and located indices)
    model/           the transferred student, merged weights (a valid model reference)
    adapter/         the peft LoRA adapter, for LoRA-based paradigms
Only a run whose status is `complete` has a model/ directory and is shown as finished.
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
from typing import Any

import torch

RUN_MARKER = "pkt_run"  # key in config.json that marks a directory as a PKT Lab run


def default_runs_root() -> Path:
    return Path(os.environ.get("PKT_RUNS_DIR", "runs"))


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
    try:
        return bool(json.loads((path / "config.json").read_text()).get(RUN_MARKER))
    except (OSError, ValueError):
        return False


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
            handle.write(json.dumps({"time": round(time.time(), 3), **row}, default=_json_default) + "\n")

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
        self.write_json("status.json", {"status": status, "message": message,
                                        "updated": time.strftime("%Y-%m-%d %H:%M:%S"), **info})

    @property
    def status(self) -> str:
        return (self.read_json("status.json") or {}).get("status", "unknown")

    def save_checkpoint(self, name: str, state: dict[str, Any]) -> None:
        import io

        buffer = io.BytesIO()
        torch.save(state, buffer)
        atomic_write_bytes(self.path / "checkpoints" / f"{name}.pt", buffer.getvalue())

    def checkpoints(self) -> list[Path]:
        return sorted((self.path / "checkpoints").glob("*.pt"))


def list_runs(root: str | Path | None = None) -> list[dict[str, Any]]:
    """Every run under `root`, newest first, with its status, config summary and scores."""
    root = Path(root) if root is not None else default_runs_root()
    if not root.is_dir():
        return []
    rows = []
    for path in sorted(root.iterdir(), reverse=True):
        if not path.is_dir() or not is_run_dir(path):
            continue
        run = RunDir(path)
        config = run.read_json("config.json", {})
        metrics = run.read_json("metrics.json", {})
        rows.append({"name": path.name, "path": str(path), "status": run.status,
                     "paradigm": config.get("paradigm"), "task": config.get("task"),
                     "teacher": config.get("teacher"), "student": config.get("student"),
                     "seed": config.get("config", {}).get("seed"),
                     "base_score": metrics.get("base", {}).get("score"),
                     "result_score": metrics.get("result", {}).get("score"),
                     "finished": run.status == "complete" and (path / "model").is_dir()})
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
