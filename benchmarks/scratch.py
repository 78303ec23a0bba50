"""One scratch folder per benchmark run, removed however the run ends: normally, by an exception,
Ctrl-C or SIGTERM (`timeout`, a CI step killed). Every benchmark takes its temporary folders here,
so none leaves random models behind (bench_transfer.py used to leave 37 MB per run)."""
from __future__ import annotations

import shutil
import signal
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def _exit_on_sigterm(signum, frame):  # → SystemExit, so `finally` blocks run and the folder goes
    raise SystemExit(128 + signum)


@contextmanager
def scratch_dir(prefix: str, parent: str | Path | None = None, keep: bool = False) -> Iterator[Path]:
    """A new folder `prefix…` (under `parent` if given), removed on leaving unless `keep`."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
    if parent is not None:
        Path(parent).mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    try:
        yield path
    finally:
        if not keep:
            shutil.rmtree(path, ignore_errors=True)
