"""Dashboard speed: cold start of `python app.py` and the main endpoints, driven by gradio_client.

    python benchmarks/bench_app.py [--teacher REF --student REF] [--laten-steps N] [--skip-transfer]

Prints one JSON object. Targets (2 CPU cores, embedded pair): cold start ≤ 10 s, locate ≤ 2 s,
heatmaps ≤ 5 s, first streamed token ≤ 1 s. "cold" numbers include loading the models into the
server's cache (the first visitor pays it once); "warm" numbers are the median of the repeats.
The machine's load average is reported beside the numbers: on a shared machine, other programs
holding the cores slow everything here.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.scratch import scratch_dir  # noqa: E402
TARGETS = {"cold_start_s": 10.0, "locate_warm_s": 2.0, "heatmaps_warm_s": 5.0,
           "compare_first_token_warm_s": 1.0}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http_200(url: str, proc: subprocess.Popen, timeout: float = 120.0) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"app.py exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return time.perf_counter() - started
        except OSError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"no HTTP 200 from {url} within {timeout} s")


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    started = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - started, out


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teacher", default=None)
    parser.add_argument("--student", default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--laten-steps", type=int, default=0, help="0 = LaTen's default (20)")
    parser.add_argument("--eval-limit", type=int, default=50)
    parser.add_argument("--skip-transfer", action="store_true")
    return parser.parse_args()


def first_token(client, kwargs: dict, api_name: str) -> tuple[float, float]:
    """Seconds to the first streamed partial output and to the end."""
    started = time.perf_counter()
    job = client.submit(**kwargs, api_name=api_name)
    first = None
    for _ in job:
        if first is None:
            first = time.perf_counter() - started
    job.result()
    total = time.perf_counter() - started
    return (first if first is not None else total), total


def measure_endpoints(client, out: dict, args: argparse.Namespace, teacher: str,
                      student: str) -> None:
    """Pair check, locate and heatmaps: cold (first call) and warm (median of the repeats)."""
    from pkt_core import lab

    prompt, answer = lab.task_example("facts", 0)

    def measure(name: str, fn, *a, **k) -> None:
        cold, _ = timed(fn, *a, **k)
        warm = [timed(fn, *a, **k)[0] for _ in range(args.repeats)]
        out[f"{name}_cold_s"] = round(cold, 3)
        out[f"{name}_warm_s"] = round(statistics.median(warm), 3)

    measure("pair_check", client.predict, teacher, student, api_name="/check_pair")
    measure("locate", client.predict, teacher, student, prompt, answer, True, True,
            api_name="/locate")
    measure("heatmaps", client.predict, teacher, student, "facts", "cka", 24,
            api_name="/similarity")


def measure_compare(client, out: dict, args: argparse.Namespace, teacher: str,
                    student: str) -> None:
    """The base student and the teacher side by side (no run chosen): first token and total."""
    from pkt_core import lab
    from pkt_core.paradigms import compared_paradigms

    prompt, _ = lab.task_example("facts", 0)
    compare_args = {"student": student, "teacher": teacher, "with_teacher": True,
                    "prompt": prompt, "max_new_tokens": 48, "temperature": 0, "seed": 0,
                    **{f"{paradigm}_run": None for paradigm in compared_paradigms()}}
    cold_first, cold_total = first_token(client, compare_args, "/compare")
    warm = [first_token(client, compare_args, "/compare") for _ in range(args.repeats)]
    out["compare_first_token_cold_s"] = round(cold_first, 3)
    out["compare_first_token_warm_s"] = round(statistics.median(w[0] for w in warm), 3)
    out["compare_48_tokens_x2_models_warm_s"] = round(statistics.median(w[1] for w in warm), 3)


def measure_transfer(client, out: dict, args: argparse.Namespace, teacher: str,
                     student: str) -> None:
    """One LaTen run through the page, end to end."""
    seconds, result = timed(client.predict, paradigm="laten", teacher=teacher, student=student,
                            task="facts", seed=0, eval_limit=args.eval_limit,
                            laten_steps=args.laten_steps or None, api_name="/transfer")
    out["laten_run_s"] = round(seconds, 1)
    out["laten_run"] = {"steps": args.laten_steps or "default (one per extract example)",
                        "eval_limit": args.eval_limit, "status": result[0]}


def measure_all(port: int, env: dict, out: dict, args: argparse.Namespace) -> None:
    """Every measurement against the running app (its runs folder in `env`)."""
    from gradio_client import Client

    os.environ.update({k: v for k, v in env.items() if k.startswith("PKT_")})
    from pkt_core import lab

    teacher, student = args.teacher, args.student
    if not (teacher and student):
        teacher, student = lab.default_pair()
    out["pair"] = [teacher, student]
    client = Client(f"http://127.0.0.1:{port}/", verbose=False)
    measure_endpoints(client, out, args, teacher, student)
    measure_compare(client, out, args, teacher, student)
    if not args.skip_transfer:
        measure_transfer(client, out, args, teacher, student)


def main() -> int:
    args = parse_args()
    port = free_port()
    cleanup = ExitStack()  # the runs folder goes however the benchmark ends
    runs = str(cleanup.enter_context(scratch_dir("pkt-bench-runs-")))
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "PKT_RUNS_DIR": runs,
           "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    out: dict = {"machine": {"cpus": os.cpu_count(), "load_avg_before": os.getloadavg(),
                             "python": platform.python_version()}}
    try:
        out["cold_start_s"] = round(wait_http_200(f"http://127.0.0.1:{port}/", proc), 2)
        measure_all(port, env, out, args)
        out["targets"] = TARGETS
        out["meets_targets"] = {k: out[k] <= v for k, v in TARGETS.items() if k in out}
        out["machine"]["load_avg_after"] = os.getloadavg()
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        cleanup.close()
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
