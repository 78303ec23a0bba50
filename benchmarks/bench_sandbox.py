"""Per-program overhead of the sandbox: ~30 trivial passing programs, one JSON object on stdout.

Run as `python benchmarks/bench_sandbox.py`. The target is < 150 ms per program; most of the cost is
interpreter startup, which is why the sandbox runs `python -I -S` (site imports alone cost ~40 ms).
"""
from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pkt_core.sandbox import isolation_label, isolation_mode, run_program  # noqa: E402

PROGRAMS = 30
TARGET_MS = 150


def main() -> None:
    mode = isolation_mode()  # the one-off probe is not part of the per-program cost
    run_program("pass", "")  # warm the page cache for the interpreter and stdlib
    times_ms = []
    for i in range(PROGRAMS):
        start = time.perf_counter()
        result = run_program(f"def f(x):\n    return x + {i}", f"assert f(1) == {i + 1}")
        times_ms.append((time.perf_counter() - start) * 1000)
        if not result.passed:
            raise SystemExit(f"trivial program {i} did not pass: {result}")
    times_ms.sort()
    print(json.dumps({"sandbox": {
        "isolation": isolation_label(mode),
        "programs": PROGRAMS,
        "mean_ms_per_program": round(statistics.fmean(times_ms), 1),
        "p95_ms": round(times_ms[int(0.95 * (PROGRAMS - 1))], 1),
        "target_ms": TARGET_MS,
    }}))


if __name__ == "__main__":
    main()
