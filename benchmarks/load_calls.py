"""What happened during bench_load.py's load: every call and its outcome, the errors and
mismatches counted (with the first distinct samples), and the latency statistics of the report."""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass

QUOTA_WORDS = ("job running and one waiting", "busy", "public lab")


@dataclass
class Call:
    endpoint: str
    start: float
    end: float
    outcome: str  # ok | quota | error | mismatch | unfinished (mismatch: answered, but wrongly)
    heavy: bool


class Recorder:
    """Every call, error and mismatch of every visitor (thread-safe)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: list[Call] = []
        self.error_samples: list[str] = []
        self.mismatch_samples: list[str] = []
        self.errors = self.quota = self.mismatches = 0

    def add(self, call: Call) -> None:
        with self.lock:
            self.calls.append(call)

    def failure(self, endpoint: str, err: BaseException | str) -> str:
        """Count a failed call; returns its outcome (quota or error)."""
        text = " ".join(str(err).split()) or type(err).__name__
        with self.lock:
            if any(word in text.lower() for word in QUOTA_WORDS):
                self.quota += 1
                return "quota"
            self.errors += 1
            sample = f"/{endpoint}: {text[:300]}"
            if sample not in self.error_samples and len(self.error_samples) < 5:
                self.error_samples.append(sample)
        return "error"

    def mismatch(self, endpoint: str, text: str) -> None:
        with self.lock:
            self.mismatches += 1
            sample = f"/{endpoint}: {text[:300]}"
            if sample not in self.mismatch_samples and len(self.mismatch_samples) < 5:
                self.mismatch_samples.append(sample)


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)], 3)


def endpoint_stats(calls: list[Call]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for name in sorted({c.endpoint for c in calls}):
        mine = [c for c in calls if c.endpoint == name]
        answered = [c.end - c.start for c in mine if c.outcome in ("ok", "mismatch")]
        out[name] = {"calls": len(mine), "p50": percentile(answered, 50),
                     "p95": percentile(answered, 95),
                     "max": round(max(answered), 3) if answered else None,
                     **{k: sum(c.outcome == k for c in mine)
                        for k in ("quota", "error", "mismatch", "unfinished")
                        if any(c.outcome == k for c in mine)}}
    return out


def light_while_heavy(calls: list[Call]) -> tuple[float | None, int]:
    """p95 of the light calls that overlapped an admitted (not refused) heavy call, and their
    count."""
    running = sorted((c.start, c.end) for c in calls if c.heavy and c.outcome != "quota")
    overlapped = [c.end - c.start for c in calls if not c.heavy and c.outcome in ("ok", "mismatch")
                  and any(s < c.end and e > c.start for s, e in running)]
    return percentile(overlapped, 95), len(overlapped)
