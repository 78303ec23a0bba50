"""One bench_load.py visitor: a browser session with its own gradio_client.Client, student,
examples, seed and settings, looping over light calls with a heavy one submitted now and then,
and checking every answer against its own inputs and the serial reference answers."""
from __future__ import annotations

import ast
import json
import random
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.load_calls import Call, Recorder

LIGHT_TIMEOUT_S = 60.0  # a light call unanswered this long is an error
HEAVY = ("transfer", "locate", "compare")
NEW_TOKENS = 8
EXTRACT_ITEMS = 20  # examples in the facts task's extract split


# ---- reference answers, fetched one at a time before the load ------------------------------------
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
    defaults = {p["parameter_name"]: p["parameter_default"]
                for p in api["/check_pair"]["parameters"]}
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


# ---- one visitor ---------------------------------------------------------------------------------
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
