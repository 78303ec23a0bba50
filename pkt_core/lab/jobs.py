"""Long work in worker threads (a transfer, the incompatibility curve): the page starts a job,
polls it for progress, may cancel it; a registry finds each visitor session's running job."""
from __future__ import annotations

import contextvars
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from ..figures import loss_figure
from ..paradigms import TransferCancelled, get_paradigm, paradigm_names
from ..infra.runs import RunDir, new_run_path
from ..transfer import PreparedTransfer, TransferRequest, prepare, run_transfer
from .housekeeping import tidy_runs
from .inputs import LabError, as_int, as_text, form_settings, lab_limits, readable
from .views import TransferView, result_markdown


@dataclass
class Snapshot:
    status: str  # 'running' | 'complete' | 'failed' | 'cancelled'
    done: int
    total: int
    message: str
    elapsed: float
    eta: float | None
    rows: list[dict[str, Any]]
    run_dir: Path
    error: str | None = None
    metrics: dict[str, Any] | None = None


Work = Callable[[Callable[[int, int, str], None], Callable[[], bool]], Any]


class Job:
    """`work(progress, cancelled)` in a worker thread; the page polls it and may cancel it."""

    def __init__(self, work: Work, name: str = "pkt-job") -> None:
        self.work = work
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._progress = (0, 1, "starting")
        # (total, first word of the message, when it began, done then): the ETA is per phase
        self._phase: tuple[int, str, float, int] = (1, "", time.perf_counter(), 0)
        self.started = time.perf_counter()
        self.result: Any = None
        self.error: BaseException | None = None
        # The worker runs in a copy of the caller's context, so it acts for the same visitor
        # (policy.visitor: which runs it may load, whose runs it writes).
        context = contextvars.copy_context()
        self._thread = threading.Thread(target=context.run, args=(self._work,), name=name,
                                        daemon=True)

    def start(self) -> "Job":
        self._thread.start()
        return self

    def _say(self, done: int, total: int, message: str) -> None:
        with self._lock:
            head = message.split(" ")[0]
            total_prev, head_prev, _, _ = self._phase
            if total != total_prev or head != head_prev:
                self._phase = (total, head, time.perf_counter(), done)
            self._progress = (done, total, message)

    def _work(self) -> None:
        try:
            self.result = self.work(self._say, self._cancel.is_set)
        except BaseException as err:  # noqa: BLE001 — reported through snapshot()
            self.error = err

    def cancel(self) -> None:
        self._cancel.set()

    def stop(self, timeout: float = 600.0) -> bool:
        """Cancel and wait for the worker to end (it stops after its current step); True when it
        has. Whoever holds the heavy slot waits here, so the next job never shares the models
        with a worker that is still running."""
        self.cancel()
        self._thread.join(timeout)
        return not self.running

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def progress(self) -> tuple[int, int, str, float | None]:
        """(done, total, message, seconds left in this phase or None)."""
        with self._lock:
            done, total, message = self._progress
            _, _, t0, done0 = self._phase
        now = time.perf_counter()
        eta = (now - t0) / (done - done0) * (total - done) if done > done0 and total > done else None
        return done, total, message, eta

    def wait(self, every: float) -> None:
        self._thread.join(every)


class TransferJob(Job):
    """One prepared transfer in a worker thread, with its run directory's log."""

    def __init__(self, prepared: PreparedTransfer) -> None:
        if not prepared.request.out:
            raise LabError("a transfer job needs its run directory chosen before it starts")
        super().__init__(lambda say, cancelled: run_transfer(prepared, say, cancelled),
                         "pkt-transfer")
        self.prepared = prepared
        self.run_dir = Path(prepared.request.out)

    def snapshot(self) -> Snapshot:
        done, total, message, eta = self.progress()
        rows = RunDir(self.run_dir).log_rows()
        elapsed = time.perf_counter() - self.started
        if self.running:
            return Snapshot("running", done, total, message, elapsed, eta, rows, self.run_dir)
        if self.error is not None:
            status = "cancelled" if isinstance(self.error, TransferCancelled) else "failed"
            return Snapshot(status, done, total, message, elapsed, None, rows, self.run_dir,
                            readable(self.error))
        return Snapshot("complete", total, total, "done", elapsed, 0.0, rows, self.run_dir,
                        metrics=self.result.metrics if self.result else None)

    def watch(self, every: float = 0.5) -> Iterator[Snapshot]:
        """Snapshots while the job runs (one per `every` seconds), then the final one."""
        while self.running:
            yield self.snapshot()
            self.wait(every)
        yield self.snapshot()

    def views(self, every: float = 0.5) -> Iterator[TransferView]:
        """What the Transfer tab shows, once per poll: the loss figure only when it changed."""
        title = get_paradigm(self.prepared.paradigm.name).title
        shown = -1
        for snap in self.watch(every):
            loss = None
            if len(snap.rows) != shown or snap.status != "running":
                shown, loss = len(snap.rows), loss_figure(snap.rows, f"{title}: training loss")
            running = snap.status == "running"
            yield TransferView(status=snapshot_markdown(snap, title), loss=loss,
                               result=(result_markdown(snap.metrics, title, snap.rows) if not running
                                       else "" if shown <= 1 else None),
                               running=running, run_path=str(snap.run_dir.resolve()),
                               done=snap.done, total=snap.total, message=snap.message,
                               finished=snap.status == "complete",
                               cancelled=snap.status == "cancelled", error=snap.error)


def snapshot_markdown(snap: Snapshot, title: str) -> str:
    if snap.status == "running":
        eta = f" · ETA {snap.eta:.0f} s" if snap.eta is not None else ""
        return (f"⏳ **{title}** — {snap.message} ({snap.done}/{snap.total}){eta} · "
                f"{snap.elapsed:.0f} s elapsed")
    if snap.status == "complete":
        return f"✅ **{title}** finished in {snap.elapsed:.0f} s — saved as `{snap.run_dir.name}`"
    icon = "⏹️" if snap.status == "cancelled" else "❌"
    return (f"{icon} **{title} {snap.status}** after {snap.elapsed:.0f} s: {snap.error}. "
            f"Completed checkpoints are kept in `{snap.run_dir.name}`.")


class JobRegistry:
    """The running transfer of each visitor session, so that session's cancel button finds it."""

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def busy(self, key: str) -> bool:
        with self._lock:
            job = self._jobs.get(key)
            return job is not None and job.running

    def add(self, key: str, job: Job) -> None:
        with self._lock:
            self._jobs[key] = job

    def remove(self, key: str, job: Job) -> None:
        """Forget a session's job once its worker has ended (a running one keeps the session busy)."""
        with self._lock:
            if self._jobs.get(key) is job and not job.running:
                del self._jobs[key]

    def cancel(self, key: str) -> bool:
        with self._lock:
            job = self._jobs.get(key)
        if job is None or not job.running:
            return False
        job.cancel()
        return True


JOBS = JobRegistry()


# Test items scored before and after a transfer started from the page: fewer than the CLI's 100,
# so a visitor's run stays short.
UI_EVAL_LIMIT = 50


def start_transfer(paradigm: str, teacher: str | None, student: str, task: str,
                   settings: Mapping[str, Any], seed: Any = 0, eval_limit: Any = UI_EVAL_LIMIT,
                   root: Path | None = None, session: str | None = None,
                   preset: str = "research") -> TransferJob:
    """Check the form, prepare the transfer (every refusal happens here, before a thread or a
    directory exists) and start it in a fresh run directory of its own.

    `settings` is the paradigm's settings form (setting name → typed-in value), read as changes
    to the paradigm's `preset`."""
    if session is not None and JOBS.busy(session):
        raise LabError("a transfer is already running in this session; cancel it or wait")
    if paradigm not in paradigm_names():
        raise LabError(f"unknown paradigm '{paradigm}'; choose one of {', '.join(paradigm_names())}")
    task = as_text(task, "the task")
    request = TransferRequest(paradigm=paradigm, student=as_text(student, "the student"),
                              teacher=(teacher or "").strip() or None, task=task,
                              settings=form_settings(paradigm, settings, preset), preset=preset,
                              seed=as_int(seed, "the seed", 0, 2**31 - 1),
                              out=str(new_run_path(paradigm, task, root)),
                              eval_limit=as_int(eval_limit, "the number of test items", 1, cap="eval_limit"))
    tidy_runs()  # public mode: expired visitors' runs go before a new one is written
    try:
        prepared = prepare(request, lab_limits())
    except Exception as err:  # noqa: BLE001 — one readable line
        raise LabError(readable(err)) from err
    job = TransferJob(prepared).start()
    if session is not None:
        JOBS.add(session, job)
    return job
