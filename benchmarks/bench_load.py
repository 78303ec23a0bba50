"""Public-mode load: many visitors at once, light and heavy endpoints mixed, answers checked.

    python benchmarks/bench_load.py [--sessions 8] [--seconds 120] [--family assets/models] [--port 0]

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
"""
from __future__ import annotations

import argparse
import ast
import json
import math
import os
import random
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.scratch import scratch_dir  # noqa: E402
from pkt_core.runs import run_size_bytes  # noqa: E402  (torch-light: runs.py imports torch only)

TARGETS = {"errors": 0, "mismatches": 0, "light_p95_while_heavy_s": 2.0}
QUOTA_WORDS = ("job running and one waiting", "busy", "public lab")
LIGHT_TIMEOUT_S = 60.0  # a light call unanswered this long is an error
HEAVY = ("transfer", "locate", "compare")
NEW_TOKENS = 8
EXTRACT_ITEMS = 20  # examples in the facts task's extract split


# ---- the server -----------------------------------------------------------------------------------
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


# ---- what happened ---------------------------------------------------------------------------------
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


# ---- reference answers, fetched one at a time before the load -------------------------------------
@dataclass
class Refs:
    teacher: str
    student: str
    preset: tuple
    examples: list[tuple[str, str]]  # facts extract split: (prompt, answer)
    example_runs: dict[str, dict]  # shipped example run name → its config
    compare: dict[tuple, tuple] = field(default_factory=dict)  # compare inputs → (4 texts, notes)
    api: set[str] = field(default_factory=set)


def fetch_refs(client: Any, sessions: int) -> Refs:
    """The pair (the API's defaults: lab.default_pair() in the server), the examples, the
    shipped example runs and the embedded preset, each asked once with nothing else running."""
    api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    defaults = {p["parameter_name"]: p["parameter_default"] for p in api["/check_pair"]["parameters"]}
    examples = [tuple(client.predict("facts", k, api_name="/task_example"))
                for k in range(min(EXTRACT_ITEMS, 2 * sessions))]
    rows = client.predict(defaults["student"], api_name="/runs")[0]["data"]
    example_runs = {row[1]: client.predict(row[1], api_name="/run_detail")[2]
                    for row in rows if row[0] == "example"}
    return Refs(defaults["teacher"], defaults["student"],
                tuple(client.predict("embedded", api_name="/preset_pair")), examples, example_runs,
                api={name.strip("/") for name in api})


def compare_ref(client: Any, refs: Refs, inputs: tuple) -> None:
    """The serial answer to one /compare input (also loads the models it needs)."""
    if inputs not in refs.compare:
        *texts, _, notes = client.predict(*inputs, api_name="/compare")
        refs.compare[inputs] = (tuple(texts), notes)


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)], 3)


def card_name(card: str, role: str) -> str | None:
    found = re.search(rf"{role} — `([^`]*)`", card)
    return found.group(1) if found else None


def row_names(table: Any) -> set[str]:
    """Names of the non-example runs of a runs table."""
    return {row[1] for row in (table or {}).get("data") or [] if row[0] != "example"}


def choice_names(update: Any) -> set[str]:
    """Run names among a run picker's choices (label, path)."""
    choices = update.get("choices") or [] if isinstance(update, dict) else []
    return {Path(str(c[1] if isinstance(c, (list, tuple)) else c)).name for c in choices}


# ---- one visitor ------------------------------------------------------------------------------------
class Visitor:
    """One browser session: its own Client, student, examples, seed and settings."""

    def __init__(self, index: int, sessions: int, url: str, refs: Refs, rec: Recorder) -> None:
        from gradio_client import Client

        self.index, self.refs, self.rec = index, refs, rec
        self.client = Client(url, verbose=False, download_files=False, analytics_enabled=False)
        self.teacher = refs.teacher
        self.student = refs.student if index % 2 == 0 else f"shuffled:{refs.student}"
        n = len(refs.examples)
        self.example_ids = [index % n, (index + sessions) % n]
        self.seed, self.epochs = 1000 + index, (0.2, 0.3, 0.5)[index % 3]
        runs = index % 4 < 2  # half the visitors compare against the shipped example runs
        example = {p: next((k for k in refs.example_runs if f"-{p}-" in k), None)
                   for p in ("seeking", "laten")}
        self.compare_in = (self.student, example["seeking"] if runs else None,
                           example["laten"] if runs else None, self.teacher, index % 3 != 2,
                           refs.examples[self.example_ids[0]][0], NEW_TOKENS, 0, 0)
        self.own: dict[str, str] = {}  # this visitor's finished runs: name → path
        self.seen: set[str] = set()  # non-example run names this visitor was shown
        self.pending: list[tuple[Any, str, float, dict]] = []
        self.lock = threading.Lock()
        self.rng = random.Random(index)
        self.turn = index

    # -- light calls: (endpoint, args, check) --
    def light_call(self, k: int) -> tuple[str, tuple, Any]:
        with self.lock:
            own = sorted(self.own.values())
        mine = own and self.rng.random() < 0.5  # half the time one of the visitor's own runs
        run = self.rng.choice(own) if mine else self.rng.choice(sorted(self.refs.example_runs))
        ex = self.rng.choice(self.example_ids)
        plan = [("check_pair", (self.teacher, self.student), self.check_pair),
                ("task_example", ("facts", ex), lambda out: self.check_example(out, ex)),
                ("runs", (self.student,), self.check_runs),
                ("run_detail", (run,), lambda out: self.check_detail(out, run)),
                ("preset_pair", ("embedded",), self.check_preset),
                ("run_files", (run,), self.check_files)]
        if "show_settings" in self.refs.api:
            plan.append(("show_settings", ("lora",), lambda out: None))
        return plan[k % len(plan)]

    def check_pair(self, out: tuple) -> str | None:
        got = (card_name(out[0], "Teacher"), card_name(out[1], "Student"))
        if got != (self.teacher, self.student):
            return (f"mismatch: asked {self.teacher} → {self.student}, "
                    f"cards name {got[0]} → {got[1]}")
        return None if "✅ compatible" in out[2] else f"error: verdict {out[2][:120]!r}"

    def check_example(self, out: tuple, ex: int) -> str | None:
        if tuple(out) != self.refs.examples[ex]:
            return f"mismatch: example {ex} came back as {out[0][:60]!r}"
        return None

    def check_preset(self, out: tuple) -> str | None:
        return None if tuple(out) == self.refs.preset else f"mismatch: embedded preset gave {out}"

    def check_runs(self, out: tuple) -> str | None:
        with self.lock:
            self.seen |= row_names(out[0])
            for update in out[2:]:
                self.seen |= choice_names(update)
        return None

    def check_files(self, out: Any) -> str | None:
        names = {Path(str(f.get("path") if isinstance(f, dict) else f)).name for f in out or []}
        return None if "config.json" in names else f"error: downloads without config.json: {names}"

    def check_detail(self, out: tuple, run: str) -> str | None:
        md, _, config = out
        name = Path(run).name
        header = re.search(r"### `([^`]*)`", md)
        if not header or header.group(1) != name:
            return f"mismatch: asked for run {name}, got {header.group(1) if header else md[:80]!r}"
        if name in self.refs.example_runs:
            same = config == self.refs.example_runs[name]
            return None if same else f"mismatch: example run {name} has another config"
        request, settings = config.get("request", {}), config.get("config", {})
        got = (request.get("seed"), config.get("student"), settings.get("epochs"))
        want = (self.seed, self.student, self.epochs)
        if got != want:
            return f"mismatch: run {name} has (seed, student, epochs) {got}, asked {want}"
        return None

    def light(self, k: int) -> None:
        endpoint, args, check = self.light_call(k)
        started = time.perf_counter()
        try:
            out = self.client.submit(*args, api_name=f"/{endpoint}").result(timeout=LIGHT_TIMEOUT_S)
        except Exception as err:  # noqa: BLE001 — every failure is counted, none ends the visitor
            outcome = self.rec.failure(endpoint, err)
        else:
            outcome = self.judge(endpoint, check(out))
        self.rec.add(Call(endpoint, started, time.perf_counter(), outcome, heavy=False))

    def judge(self, endpoint: str, verdict: str | None) -> str:
        if verdict is None:
            return "ok"
        kind, _, text = verdict.partition(": ")
        if kind == "mismatch":
            self.rec.mismatch(endpoint, text)
            return "mismatch"
        return self.rec.failure(endpoint, text)

    # -- heavy calls: submitted, checked when they end --
    def heavy_request(self) -> tuple[str, tuple, dict, Any]:
        endpoint = HEAVY[self.turn % len(HEAVY)]
        self.turn += 1
        if endpoint == "transfer":
            kwargs = {"paradigm": "lora", "teacher": self.teacher, "student": self.student,
                      "task": "facts", "seed": self.seed, "eval_limit": 10,
                      "lora_epochs": self.epochs}
            return endpoint, (), kwargs, self.check_transfer
        if endpoint == "locate":
            prompt, answer = self.refs.examples[self.example_ids[self.turn // 3 % 2]]
            args = (self.teacher, self.student, prompt, answer, True, True)
            return endpoint, args, {}, lambda out: self.check_locate(out, answer)
        return endpoint, self.compare_in, {}, self.check_compare

    def check_transfer(self, out: tuple) -> str | None:
        status, runs_table, pick = out[0], out[4], out[5]
        saved = re.search(r"saved as `([^`]*)`", status)
        if "finished" not in status or not saved:
            return f"error: transfer status {status[:160]!r}"
        name, path = saved.group(1), str((pick or {}).get("value") or "")
        if Path(path).name != name:
            return f"mismatch: status names run {name}, the run picker {Path(path).name}"
        with self.lock:
            self.own[name] = path
            self.seen |= row_names(runs_table)
        return None

    def check_locate(self, out: tuple, answer: str) -> str | None:
        summary, student_map = out[0], json.loads(out[4]["plot"])
        title = student_map["layout"]["title"]["text"]
        if f"<sup>{self.student}</sup>" not in title:
            return f"mismatch: student map of {self.student} titled {title!r}"
        target = re.search(r"Target token\*\* `(.+?)` \(id", summary)
        token = ast.literal_eval(target.group(1)).strip() if target else None
        if not token or token not in answer:
            return f"mismatch: target token {token!r} is not in the answer {answer!r}"
        previous = re.search(r"previous example \(“(.*?)…”\)", summary, re.S)
        mine = {self.refs.examples[i][0][:60] for i in self.example_ids}
        if previous and previous.group(1) not in mine:
            return f"mismatch: stability against another visitor's example {previous.group(1)!r}"
        return None

    def check_compare(self, out: tuple) -> str | None:
        texts, notes = tuple(out[:4]), out[5]
        want_texts, want_notes = self.refs.compare[self.compare_in]
        if texts != want_texts:
            return f"mismatch: answers {texts} differ from the serial ones {want_texts}"
        if notes != want_notes:
            return "mismatch: likelihood notes differ from the serial ones"
        return None

    def submit_heavy(self) -> None:
        endpoint, args, kwargs, check = self.heavy_request()
        started = time.perf_counter()
        job = self.client.submit(*args, **kwargs, api_name=f"/{endpoint}")
        entry = (job, endpoint, started, {"check": check})
        with self.lock:
            self.pending.append(entry)
        job.future.add_done_callback(lambda _: self.heavy_done(entry))

    def heavy_done(self, entry: tuple) -> None:
        job, endpoint, started, extra = entry
        ended = time.perf_counter()
        with self.lock:
            if entry not in self.pending:  # cancelled at the end and already counted
                return
            self.pending.remove(entry)
        try:
            out = job.result()
        except Exception as err:  # noqa: BLE001
            outcome = self.rec.failure(endpoint, err)
        else:
            try:
                outcome = self.judge(endpoint, extra["check"](out))
            except Exception as err:  # noqa: BLE001 — an answer of an unexpected shape
                outcome = self.rec.failure(endpoint, f"unexpected answer: {err!r}")
        self.rec.add(Call(endpoint, started, ended, outcome, heavy=True))

    # -- the loop --
    def run(self, deadline: float, drain_until: float, light_per_heavy: int, think: float) -> None:
        k = 0
        while time.perf_counter() < deadline:
            if k % light_per_heavy == light_per_heavy - 1:
                with self.lock:
                    room = len(self.pending) < 3  # three outstanding: the third meets the quota
                if room:
                    try:
                        self.submit_heavy()
                    except Exception as err:  # noqa: BLE001
                        self.rec.failure("submit", err)
            self.light(k)
            k += 1
            time.sleep(self.rng.uniform(0, 2 * think))
        while time.perf_counter() < drain_until:
            with self.lock:
                if not self.pending:
                    break
            time.sleep(0.2)
        self.abandon()

    def abandon(self) -> None:
        """Cancel the heavy jobs still outstanding after the drain; they count as unfinished."""
        with self.lock:
            left, self.pending = self.pending, []
        now = time.perf_counter()
        for job, endpoint, started, _ in left:
            self.rec.add(Call(endpoint, started, now, "unfinished", heavy=True))
            try:
                job.cancel()
            except Exception:  # noqa: BLE001 — the server goes down next anyway
                pass


def foreign_runs(visitors: list[Visitor], rec: Recorder) -> None:
    """A run another visitor made, shown to this one, is a mismatch (checked once all are known)."""
    for visitor in visitors:
        for owner in visitors:
            for name in sorted(visitor.seen & set(owner.own) if owner is not visitor else ()):
                rec.mismatch("runs", f"visitor {visitor.index} was shown run {name} of visitor "
                                     f"{owner.index}")


# ---- the report -------------------------------------------------------------------------------------
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
    """p95 of the light calls that overlapped an admitted (not refused) heavy call, and their count."""
    running = sorted((c.start, c.end) for c in calls if c.heavy and c.outcome != "quota")
    overlapped = [c.end - c.start for c in calls if not c.heavy and c.outcome in ("ok", "mismatch")
                  and any(s < c.end and e > c.start for s, e in running)]
    return percentile(overlapped, 95), len(overlapped)


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
