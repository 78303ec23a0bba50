"""Public-mode load: many visitors at once, light and heavy endpoints mixed, answers checked.

    python benchmarks/bench_load.py [--sessions 8] [--seconds 120] [--family assets/models]
                                    [--port 0]

Launches `python app.py` in public mode (PKT_PUBLIC=1) on localhost in a child process, with a
fresh runs folder, temp dir and Gradio cache, on the given model family (the shipped embedded one
by default). Reference answers are fetched one call at a time first; then N visitors (one
gradio_client.Client each, in its own thread) loop for `--seconds`: light calls (/check_pair,
/task_example, /runs, /run_detail, /preset_pair, /run_files, /show_settings when public), and one
heavy call (/transfer, /locate, /compare; submitted, not awaited, so a visitor can hold up to three
at once and meet the per-session quota) after every `--light-per-heavy` light ones. After the
deadline nothing new is submitted, heavy jobs get `--drain` seconds to finish (the rest are
cancelled and counted as `unfinished`), and the server is stopped whatever happened.

Every answer is checked against the visitor's own inputs (its student, a plain or a `shuffled:`
one; its examples; its seed and epochs) and the serial references: an answer showing another
visitor's input, or differing from the serial answer to the same input, is a `mismatch`. Failures
saying "job running and one waiting", "busy" or "public lab" are `quota_refusals`; anything else is
an error (the first distinct messages are kept in `error_samples`).

Prints one JSON object: calls, errors, quota refusals, mismatches, per-endpoint latency (p50, p95,
max, in seconds, from the call to its answer), `light_p95_while_heavy` (light calls that overlapped
an admitted heavy call: the heavy slot works whenever one is admitted, so that is "while a heavy
job runs"), and `disk_growth_mb`: bytes added to the runs folder, the server's `pkt-downloads`
folder and Gradio's cache during the load. Targets: no errors besides quota refusals, no
mismatches, light p95 while heavy < 2 s.

The visitors and their checks live in load_visitor.py, the call records and latency statistics
in load_calls.py; this script runs the server, drives the visitors and prints the report.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.load_calls import Recorder, endpoint_stats, light_while_heavy  # noqa: E402
from benchmarks.load_visitor import (LIGHT_TIMEOUT_S, Refs, Visitor, compare_ref,  # noqa: E402
                                     fetch_refs, foreign_runs)
from benchmarks.scratch import scratch_dir  # noqa: E402
from pkt_core.infra.runs import run_size_bytes  # noqa: E402  (torch-light: runs.py imports torch only)

TARGETS = {"errors": 0, "mismatches": 0, "light_p95_while_heavy_s": 2.0}


# ---- the server ----------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """`python app.py` in public mode, with its own runs folder, temp dir and Gradio cache."""
    family: Path
    port: int
    work: Path  # runs, temp and Gradio cache folders live here (main's scratch_dir)
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def measured(self) -> dict[str, Path]:
        return {"runs": self.work / "runs", "pkt-downloads": self.work / "tmp" / "pkt-downloads",
                "gradio": self.work / "gradio"}

    def start(self, timeout: float = 180.0) -> float:
        for sub in ("runs", "tmp", "gradio"):
            (self.work / sub).mkdir()
        env = {**os.environ, "PKT_PUBLIC": "1", "PKT_EMBEDDED_DIR": str(self.family),
               "PKT_RUNS_DIR": str(self.work / "runs"), "TMPDIR": str(self.work / "tmp"),
               "GRADIO_TEMP_DIR": str(self.work / "gradio"), "GRADIO_SERVER_PORT": str(self.port),
               "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1",
               "OMP_WAIT_POLICY": "PASSIVE", "PYTHONUNBUFFERED": "1"}
        log = (self.work / "server.log").open("w")
        self.proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env,
                                     stdout=log, stderr=subprocess.STDOUT)
        started = time.perf_counter()
        while time.perf_counter() - started < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"app.py exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url, timeout=2) as response:
                    if response.status == 200:
                        return time.perf_counter() - started
            except OSError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"no HTTP 200 from {self.url} within {timeout} s\n{self.log_tail()}")

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return (self.work / "server.log").read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def disk_bytes(self) -> dict[str, int]:
        return {name: run_size_bytes(path) for name, path in self.measured.items()}


# ---- the report ----------------------------------------------------------------------------------
def report(args: argparse.Namespace, rec: Recorder, refs: Refs, extra: dict) -> dict:
    calls = rec.calls
    p95, n_overlap = light_while_heavy(calls)
    out = {"sessions": args.sessions, "seconds": args.seconds, "calls": len(calls),
           "errors": rec.errors, "error_samples": rec.error_samples,
           "quota_refusals": rec.quota, "mismatches": rec.mismatches,
           "mismatch_samples": rec.mismatch_samples,
           "unfinished": sum(c.outcome == "unfinished" for c in calls), **extra,
           "endpoints": endpoint_stats(calls), "light_p95_while_heavy": p95,
           "light_calls_while_heavy": n_overlap, "pair": [refs.teacher, refs.student],
           "targets": TARGETS}
    out["met"] = bool(rec.errors == TARGETS["errors"] and rec.mismatches == TARGETS["mismatches"]
                      and p95 is not None and p95 < TARGETS["light_p95_while_heavy_s"])
    return out


def drive(args: argparse.Namespace, server: Server, rec: Recorder) -> tuple[Refs, dict]:
    """References first (serially), then the visitors in parallel until the deadline and drain."""
    from gradio_client import Client

    client = Client(server.url, verbose=False, download_files=False, analytics_enabled=False)
    started = time.perf_counter()
    refs = fetch_refs(client, args.sessions)
    visitors = [Visitor(i, args.sessions, server.url, refs, rec) for i in range(args.sessions)]
    for visitor in visitors:
        compare_ref(client, refs, visitor.compare_in)
    extra = {"references_s": round(time.perf_counter() - started, 1)}
    before = server.disk_bytes()
    deadline = time.perf_counter() + args.seconds
    drain_until = deadline + args.drain
    threads = [threading.Thread(target=v.run, daemon=True, name=f"visitor-{v.index}",
                                args=(deadline, drain_until, args.light_per_heavy, args.think))
               for v in visitors]
    for thread in threads:
        thread.start()
    for thread in threads:  # a light call is bounded by LIGHT_TIMEOUT_S; so is the wait
        thread.join(max(0.0, drain_until - time.perf_counter()) + LIGHT_TIMEOUT_S + 5)
    extra["stuck_visitors"] = sum(t.is_alive() for t in threads)
    foreign_runs(visitors, rec)
    after = server.disk_bytes()
    growth = {k: round((after[k] - before[k]) / 2**20, 2) for k in after}
    extra.update(disk_growth_mb=round(sum(growth.values()), 2), disk_growth_mb_by_folder=growth,
                 disk_after_mb=round(sum(after.values()) / 2**20, 2),
                 load_s=round(time.perf_counter() - deadline + args.seconds, 1))
    return refs, extra


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=8, help="parallel visitors")
    parser.add_argument("--seconds", type=float, default=120.0, help="how long visitors submit")
    parser.add_argument("--family", default="assets/models", help="embedded model family folder")
    parser.add_argument("--port", type=int, default=0, help="0 = a free port")
    parser.add_argument("--drain", type=float, default=45.0,
                        help="seconds heavy jobs get to finish after the deadline")
    parser.add_argument("--light-per-heavy", type=int, default=4,
                        help="light calls per heavy submission")
    parser.add_argument("--think", type=float, default=0.25,
                        help="mean pause between a visitor's calls, seconds")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (server.log)")
    args = parser.parse_args()

    family = (ROOT / args.family).resolve()  # an absolute --family stays as it is
    rec = Recorder()
    machine = {"cpus": os.cpu_count(), "load_avg_before": [round(x, 2) for x in os.getloadavg()]}
    with scratch_dir("pkt-bench-load-", keep=args.keep) as work:
        server = Server(family, args.port or free_port(), work)
        try:
            cold = server.start()
            refs, extra = drive(args, server, rec)
        finally:
            server.stop()
            if args.keep:
                print(f"work folder kept: {server.work}", file=sys.stderr)
    machine["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
    out = report(args, rec, refs, {"cold_start_s": round(cold, 1), **extra, "machine": machine})
    print(json.dumps(out, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
