"""Per-program overhead of the sandbox: ~30 trivial passing programs per mode, one JSON object on stdout.

Run as `python benchmarks/bench_sandbox.py` (every mode that works here; the first is the one
`isolation_mode()` picks) or `python benchmarks/bench_sandbox.py landlock` for one mode. The target
is < 150 ms per program; most of the cost is interpreter startup, which is why the sandbox runs
`python -I -S` (site imports alone cost ~40 ms).
"""
from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pkt_core.sandbox import (available_modes, isolation_adequate, isolation_label, isolation_mode,  # noqa: E402
                              run_program)

PROGRAMS = 30
TARGET_MS = 150


def bench(mode: str) -> dict:
    run_program("pass", "", mode=mode)  # warm the page cache for the interpreter and stdlib
    times_ms = []
    for i in range(PROGRAMS):
        start = time.perf_counter()
        result = run_program(f"def f(x):\n    return x + {i}", f"assert f(1) == {i + 1}", mode=mode)
        times_ms.append((time.perf_counter() - start) * 1000)
        if not result.passed:
            raise SystemExit(f"trivial program {i} did not pass in mode {mode}: {result}")
    times_ms.sort()
    return {
        "isolation": isolation_label(mode),
        "adequate": isolation_adequate(mode),
        "programs": PROGRAMS,
        "mean_ms_per_program": round(statistics.fmean(times_ms), 1),
        "p95_ms": round(times_ms[int(0.95 * (PROGRAMS - 1))], 1),
        "target_ms": TARGET_MS,
    }


def main() -> None:
    chosen = isolation_mode()  # the one-off probes are not part of the per-program cost
    modes = sys.argv[1:] or available_modes()
    print(json.dumps({"sandbox": {"mode": chosen, "modes": {mode: bench(mode) for mode in modes}}}))


if __name__ == "__main__":
    main()
