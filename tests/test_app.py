"""The dashboard end to end over HTTP: build_app() is launched on a free port and every endpoint
is driven with gradio_client on a micro build of the embedded family (built once per session).

Also: two clients keep separate state, bad input gives one readable line, transfers can be
cancelled without losing saved runs, and README's Space front matter matches requirements.txt.
"""
from __future__ import annotations

import json
import re
import socket
import threading
import time
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
TINY = {"laten": {"steps": 2}, "seeking": {"epochs": 0.01, "batch_size": 8},
        "lora": {"epochs": 0.01, "batch_size": 8}, "pissa": {"epochs": 0.01, "batch_size": 8}}


# ---- shared set-up (also imported by test_browser.py) -----------------------------------------
def micro_family(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The micro family, built once per test session (both app test modules reuse it)."""
    out = tmp_path_factory.getbasetemp() / "pkt-micro-family"
    if not (out / "build_summary.json").is_file():
        from pkt_core.zoo import build_zoo

        # One single-threaded process per size whose idle OpenMP threads sleep: on a busy 2-core
        # machine this takes ~20 s, where one 2-thread process that spin-waits can take minutes.
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("OMP_WAIT_POLICY", "PASSIVE")
            build_zoo(out, micro=True, progress=False, parallel=True, sizes=("student", "teacher"))
    return out


def examples_dir(tmp_path_factory: pytest.TempPathFactory, family: Path) -> Path:
    """The example runs are read-only to the app: one build per family and test session."""
    return tmp_path_factory.getbasetemp() / f"example-runs-{abs(hash(str(family))):x}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# build_app() launched with prevent_thread_lock in a child process: the test process never
# imports gradio (tests/test_figures.py checks that pkt_core alone does not pull it in), and the
# child gets OMP_WAIT_POLICY=PASSIVE before torch loads, as `python app.py` does.
LAUNCH = """
import json, sys, time
import app
from pkt_core import lab
started = time.perf_counter()
demo = app.build_app()
fns = {fn.api_name: [fn.concurrency_id, fn.concurrency_limit, fn.api_visibility]
       for fn in demo.fns.values() if fn.name != "session_closed"}  # unload has no api_name
info = {"build_s": time.perf_counter() - started, "models_loaded": lab.MODELS.loads,
        "fns": fns, "max_size": demo._queue.max_size}
demo.launch(server_name="127.0.0.1", server_port=int(sys.argv[1]), prevent_thread_lock=True,
            quiet=True, **app.launch_options())
print("PKT-APP-INFO " + json.dumps(info), flush=True)
demo.block_thread()
"""


class LabServer:
    """build_app() on a free port (in a child process) with its own family and run folders."""

    def __init__(self, family: Path, work: Path, examples: Path | None = None) -> None:
        """`examples`: where the example runs are (built there when missing); None = none."""
        self.family, self.work = family, work
        self.runs = work / "runs"
        self.examples = examples if examples is not None else work / "no-example-runs"
        self.build_examples = examples is not None

    def __enter__(self) -> "LabServer":
        import os
        import subprocess
        import sys
        import urllib.request

        from pkt_core import lab
        from pkt_core.models import loading

        self.mp = pytest.MonkeyPatch()
        # loading.EMBEDDED_DIR is read from the environment at import: point the module at ours.
        self.mp.setattr(loading, "EMBEDDED_DIR", self.family)
        self.mp.setenv("PKT_EMBEDDED_DIR", str(self.family))
        self.mp.setenv("PKT_RUNS_DIR", str(self.runs))
        self.mp.setenv("PKT_EXAMPLE_RUNS_DIR", str(self.examples))
        # conftest asks for 2 threads; with OpenMP's default spin-waiting on a busy 2-core machine
        # every tiny matmul then stalls. One thread is plenty for the micro models.
        self.threads = torch.get_num_threads()
        torch.set_num_threads(1)
        self.teacher, self.student = lab.default_pair()
        if self.build_examples and not (self.examples / "summary.json").is_file():
            from pkt_core.example_runs import build_example_runs

            summary = build_example_runs(self.examples, self.teacher, self.student,
                                         settings=TINY, eval_limit=3, progress=None)
            (self.examples / "summary.json").write_text(json.dumps(summary))
        self.example_summary = json.loads((self.examples / "summary.json").read_text()) \
            if self.build_examples else None
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "GRADIO_ANALYTICS_ENABLED": "False",
               "PYTHONUNBUFFERED": "1"}
        self.log = self.work / "server.log"
        self.proc = subprocess.Popen([sys.executable, "-c", LAUNCH, str(self.port)], cwd=ROOT,
                                     env=env, stdout=subprocess.PIPE,
                                     stderr=self.log.open("w"), text=True)
        line = self.proc.stdout.readline()  # printed once the server answers
        if not line.startswith("PKT-APP-INFO "):
            self.proc.kill()
            raise RuntimeError(f"the app did not start: {line}\n{self.log.read_text()[-3000:]}")
        self.info = json.loads(line.split(" ", 1)[1])
        with urllib.request.urlopen(self.url, timeout=30) as response:
            assert response.status == 200
        return self

    def client(self):
        from gradio_client import Client

        return Client(self.url, verbose=False)

    def __exit__(self, *exc) -> None:
        from pkt_core import lab

        self.proc.terminate()
        try:
            self.proc.wait(15)
        except Exception:  # noqa: BLE001
            self.proc.kill()
        lab.MODELS.clear()
        torch.set_num_threads(self.threads)
        self.mp.undo()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    family = micro_family(tmp_path_factory)
    with LabServer(family, tmp_path_factory.mktemp("app"), examples_dir(tmp_path_factory, family)) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server):
    return server.client()


TRANSFER_OUT = ("status", "loss", "result", "cancel_note", "runs", "run_pick", "seeking_pick",
                "laten_pick")


def transfer_args(server, paradigm, eval_limit=3, teacher=None, student=None, **settings):
    """/transfer's inputs by name: the form, and `<paradigm>_<setting>` for its settings."""
    args = {"paradigm": paradigm, "teacher": teacher or server.teacher,
            "student": student or server.student, "task": "facts", "seed": 0,
            "eval_limit": eval_limit}
    args |= {f"{paradigm}_{name}": value for name, value in settings.items()}
    return args


def _transfer(client, server, paradigm, **over):
    """A transfer through the page's API; the outputs by name (TRANSFER_OUT)."""
    small = {"laten": {}, "seeking": {"epochs": 0.01, "batch_size": 8, "rank": 4}}.get(paradigm, {})
    out = client.predict(**transfer_args(server, paradigm, **{**small, **over}), api_name="/transfer")
    return dict(zip(TRANSFER_OUT, out))


def _error_text(excinfo) -> str:
    text = str(excinfo.value)
    assert "Traceback" not in text and text.strip()
    return text


# ---- the page's structure ---------------------------------------------------------------------
def test_every_event_has_an_api_name_and_heavy_work_shares_one_slot(server, client):
    fns = server.info["fns"]
    assert fns and all(fns), "every event has an api_name"
    assert {"check_pair", "preset_pair", "task_example", "locate", "similarity", "parametric",
            "transfer", "cancel_transfer", "compare", "quick_eval", "runs", "run_detail",
            "run_files", "page_load"} <= set(fns)
    for name in ("locate", "similarity", "parametric", "transfer", "compare", "quick_eval"):
        # the heavy group only holds waiting handlers; lab.GATE runs them one at a time
        assert fns[name][0] == "heavy", name
    assert fns["cancel_transfer"][0] != "heavy"
    assert server.info["max_size"]
    named = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    # gr.Examples adds its own private 'load_example'; every public event is callable by name
    assert {f"/{name}" for name, f in fns.items() if f[2] == "public"} <= set(named)
    hidden = {n for n, f in fns.items() if f[2] != "public"}
    assert all(n in ("load_example", "show_settings", "clear_transfer") or n.startswith("goto_")
               or n.endswith(("_preset_values", "_preset_for_teacher")) for n in hidden), hidden


def test_building_the_app_is_fast_and_loads_no_model(server):
    assert server.info["models_loaded"] == 0
    assert server.info["build_s"] < 10


# ---- pair ---------------------------------------------------------------------------------------
def test_pair_check_shows_cards_verdict_and_presets(client, server):
    t_card, s_card, verdict = client.predict(server.teacher, server.student, api_name="/check_pair")
    assert "layers" in t_card and "parameters" in s_card and server.teacher in t_card
    assert "✅ compatible" in verdict and "incompatible" not in verdict
    assert "LaTen (PrePKT) ✓" in verdict and "Seeking (PostPKT) ✓" in verdict
    teacher, student = client.predict("embedded", api_name="/preset_pair")
    assert (teacher, student) == (server.teacher, server.student)
    # a preset hub pair is offered, and offline it says so inline instead of failing
    _, _, verdict = client.predict("HuggingFaceTB/SmolLM2-360M-Instruct", server.student,
                                   api_name="/check_pair")
    assert "not available offline" in verdict
    _, _, verdict = client.predict(server.student, server.teacher, api_name="/check_pair")
    assert "❌ incompatible" in verdict and "deeper" in verdict and "✅" not in verdict


# ---- locate, with per-session stability --------------------------------------------------------
def test_locate_draws_curves_maps_and_top_neurons(client, server):
    prompt, answer = client.predict("facts", 0, api_name="/task_example")
    assert prompt and answer
    out = client.predict(server.teacher, server.student, prompt, answer, True, True,
                         api_name="/locate")
    summary, layer_ffn, layer_attn, *maps, top = out[:8]
    captions = out[8:]  # each plot's "how to read this", after the view's outputs
    assert len(captions) == 6 and all("How to read" in c for c in captions)
    assert "Target token" in summary and "Spearman" in summary
    for plot in (layer_ffn, layer_attn, *maps):
        fig = json.loads(plot["plot"])
        assert fig["data"] and fig["layout"]["height"] > 0
        assert fig["layout"]["xaxis"]["title"]["text"]
    assert "relative depth" in json.loads(layer_ffn["plot"])["layout"]["xaxis"]["title"]["text"]
    assert {row[0] for row in top["data"]} == {"teacher", "student"}


def test_two_clients_in_parallel_keep_separate_state(server):
    """A locates two examples (sees stability between them); B, at the same time, locates one
    (sees no stability: A's examples are not B's)."""
    a, b = server.client(), server.client()
    ex = [a.predict("facts", i, api_name="/task_example") for i in range(3)]
    results: dict[str, list[str]] = {"a": [], "b": []}

    def run(name, client, examples):
        for prompt, answer in examples:
            results[name].append(client.predict(server.teacher, server.student, prompt, answer,
                                                True, True, api_name="/locate")[0])

    threads = [threading.Thread(target=run, args=("a", a, ex[:2])),
               threading.Thread(target=run, args=("b", b, ex[2:]))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(results["a"]) == 2 and len(results["b"]) == 1
    assert "Stability" not in results["a"][0] and "Stability" in results["a"][1]
    assert "Stability" not in results["b"][0]


def test_light_events_beside_heavy_work_do_not_disturb_it(server):
    """Pair checks (not in the heavy slot) run while models compute in another request; building
    a model switches torch's global default dtype, which must not leak into that computation."""
    light, heavy = server.client(), server.client()
    errors: list[str] = []

    def checks():
        for _ in range(6):
            try:
                light.predict(server.teacher, server.student, api_name="/check_pair")
            except Exception as err:  # noqa: BLE001
                errors.append(f"check_pair: {err}")

    thread = threading.Thread(target=checks)
    thread.start()
    for _ in range(3):
        try:
            heavy.predict(server.teacher, server.student, "facts", "cosine", 8, api_name="/similarity")
            heavy.predict(server.student, None, None, server.teacher, True, "Hello", 8, 0, 0,
                          api_name="/compare")
        except Exception as err:  # noqa: BLE001
            errors.append(f"heavy: {err}")
    thread.join(120)
    assert not errors, errors


# ---- incompatibility -----------------------------------------------------------------------------
@pytest.mark.parametrize("metric", ["cka", "cosine"])
def test_similarity_heatmaps_beside_the_published_numbers(client, server, metric):
    heat, table, notes, caption = client.predict(server.teacher, server.student, "facts", metric,
                                                 8, api_name="/similarity")
    assert "How to read" in caption
    fig = json.loads(heat["plot"])
    assert len([t for t in fig["data"] if t["type"] == "heatmap"]) == 4
    rows = {r[0]: r for r in table["data"]}
    assert rows["up_proj"][1] == 0.691 and rows["o_proj"][1] == 0.411
    assert all(isinstance(r[2], float) for r in rows.values())
    assert ("CKA" in notes) == (metric == "cka")


def test_parametric_similarity(client, server):
    plot, text, caption = client.predict(server.teacher, server.student, 4, api_name="/parametric")
    assert "How to read" in caption
    assert json.loads(plot["plot"])["data"] and "pissa" in text and "seeking" in text


# ---- transfer, compare, runs -------------------------------------------------------------------
@pytest.fixture(scope="module")
def my_runs(client, server):
    """A short LaTen and a short Seeking run made through the page."""
    out = {}
    for paradigm in ("laten", "seeking"):
        got = _transfer(client, server, paradigm, **({"steps": 2} if paradigm == "laten" else {}))
        assert "finished" in got["status"], got["status"]
        assert "base student" in got["result"] and "change" in got["result"]
        assert json.loads(got["loss"]["plot"])["data"], "the loss plot has a curve"
        out[paradigm] = got["run_pick"]["value"]
        assert got[f"{paradigm}_pick"]["value"] == out[paradigm]
        assert any(r[0] == "this session" and r[1] == Path(out[paradigm]).name
                   for r in got["runs"]["data"])
    return out


def test_transfers_are_saved_in_unique_run_directories(my_runs, server):
    from pkt_core.runs import list_runs

    rows = {r["path"]: r for r in list_runs(server.runs)}
    for paradigm, path in my_runs.items():
        assert Path(path).parent == server.runs.resolve()
        assert rows[path]["status"] == "complete" and rows[path]["finished"]
        assert rows[path]["paradigm"] == paradigm
    assert len(set(my_runs.values())) == 2


def test_compare_streams_side_by_side(client, server, my_runs):
    from pkt_core.evaluate import generate
    from pkt_core.models import load_model
    from pkt_core.tasks import render_chat

    prompt = "What is the capital of Velora?"
    job = client.submit(server.student, my_runs["seeking"], my_runs["laten"], server.teacher, True,
                        prompt, 12, 0, 0, api_name="/compare")
    *final, plot, notes, _ = job.result()
    partials = job.outputs()
    assert len(partials) > 2, "outputs arrive token by token"
    assert len(final) == 4 and all(text.strip() for text in final)
    assert "Not a multiple-choice item" in notes  # a free prompt is scored as generated
    # greedy streaming gives what the batch generator gives
    student = load_model(server.student)
    expected = generate(student.model, student.tokenizer, [render_chat(prompt)], 12)[0]
    assert final[0] == (expected or "(empty answer: the model stopped at once)")


def test_compare_with_empty_slots_says_why(client, server):
    *final, _, _, _ = client.predict(server.student, None, None, server.teacher, False, "Hello", 4,
                                     0, 0, api_name="/compare")
    assert "no Seeking (PostPKT) run" in final[1] and "teacher not included" in final[3]


def test_quick_eval_per_item_table(client, server, my_runs):
    summary, table = client.predict(server.student, my_runs["seeking"], my_runs["laten"],
                                    server.teacher, True, "facts", 3, api_name="/quick_eval")
    assert summary.count("|") > 8 and "base student" in summary
    models = {row[0] for row in table["data"]}
    assert len(models) == 4 and len(table["data"]) == 12
    assert {row[6] for row in table["data"]} <= {"✓", "✗"}
    assert "by likelihood" in summary and all(row[4] != "—" for row in table["data"])


def test_compare_shows_how_a_multiple_choice_item_is_scored(client, server):
    from pkt_core import lab

    *answers, plot, notes, _ = client.predict(server.student, None, None, server.teacher, True,
                                           lab.default_prompt(), 8, 0, 0, api_name="/compare")
    bars = json.loads(plot["plot"])["data"]
    assert [b["name"] for b in bars] == ["base student", "teacher"]
    assert all(len(b["y"]) == 4 for b in bars) and sum("✓" in x for x in bars[0]["x"]) == 1
    assert "reference **D. Drilou**" in notes and "likelihood pick" in notes


def test_runs_list_detail_and_downloads(client, server, my_runs):
    runs, chart, seek_dd, laten_dd, run_dd, _ = client.predict(server.student, None, None,
                                                            api_name="/runs")
    sources = {row[0] for row in runs["data"]}
    assert {"this session", "example"} <= sources  # this client made the transfers
    other = server.client().predict(server.student, None, None, api_name="/runs")[0]
    assert {"saved", "example"} == {row[0] for row in other["data"]}  # another visitor sees "saved"
    names = {row[1] for row in runs["data"]}
    assert {f"example-{p}-facts" for p in ("laten", "seeking", "lora", "pissa")} <= names
    assert json.loads(chart["plot"])["data"]
    assert any(v == my_runs["laten"] for _, v in laten_dd["choices"])
    detail, loss, config, loss_caption = client.predict(my_runs["laten"], api_name="/run_detail")
    assert "How to read" in loss_caption
    assert "LaTen" in detail and config["paradigm"] == "laten"
    files = client.predict(my_runs["laten"], api_name="/run_files")
    names = {Path(f).name for f in files}
    assert {"config.json", "metrics.json", "loss_figure.html", "loss_figure.json", "model.zip"} <= names
    with pytest.raises(Exception) as err:
        client.predict("/etc", api_name="/run_files")
    assert "not a saved run" in _error_text(err)


def test_example_runs_are_small_and_usable(server):
    summary = server.example_summary
    for paradigm in ("laten", "seeking", "lora", "pissa"):
        run = Path(summary["runs"][paradigm]["path"])
        assert not (run / "checkpoints").exists() and not (run / "adapter").exists()
        assert json.loads((run / "status.json").read_text())["status"] == "complete"
        has_model = (run / "model").is_dir()
        assert has_model == (paradigm in ("laten", "seeking"))
        if has_model:
            from safetensors import safe_open

            with safe_open(str(run / "model" / "model.safetensors"), "pt") as f:
                assert all(f.get_tensor(k).dtype == torch.bfloat16 for k in list(f.keys())[:3])
            metrics = json.loads((run / "metrics.json").read_text())
            assert metrics["stored_weights"]["dtype"] == "bfloat16"


def test_cancel_stops_a_transfer_and_keeps_saved_runs(server, my_runs):
    client = server.client()
    before = {p: (Path(p) / "model" / "model.safetensors").stat().st_mtime for p in my_runs.values()}
    job = client.submit(**transfer_args(server, "laten", steps=400), api_name="/transfer")
    deadline = time.time() + 60
    while time.time() < deadline:
        outs = job.outputs()
        if outs and "LaTen step" in str(outs[-1][0]):
            break
        time.sleep(0.2)
    note = client.predict(api_name="/cancel_transfer")
    assert "Cancelling" in note
    final = dict(zip(TRANSFER_OUT, job.result()))
    assert "cancelled" in final["status"]
    run_dir = Path(final["run_pick"]["value"])
    assert json.loads((run_dir / "status.json").read_text())["status"] == "cancelled"
    assert not (run_dir / "model").exists() and list((run_dir / "checkpoints").glob("*.pt"))
    after = {p: (Path(p) / "model" / "model.safetensors").stat().st_mtime for p in my_runs.values()}
    assert before == after
    # another session has nothing to cancel
    assert "Nothing to cancel" in server.client().predict(api_name="/cancel_transfer")


# ---- bad input: one readable line, never a traceback ------------------------------------------
def test_bad_inputs_give_readable_errors(client, server):
    cases = [
        (lambda: client.predict(server.teacher, server.student, "  ", "x", True, True,
                                api_name="/locate"), "prompt is empty"),
        (lambda: client.predict("nobody/nothing", server.student, "q", "a", True, True,
                                api_name="/locate"), "not available offline"),
        (lambda: client.predict("not a model", server.student, "facts", "cka", 8,
                                api_name="/similarity"), "unknown model"),
        (lambda: _transfer(client, server, "laten", steps=2, lr=5.0), "learning rate"),
        (lambda: _transfer(client, server, "seeking", epochs=-1), "epochs"),
        (lambda: _transfer(client, server, "laten", transfer_rate=5.0), "maximum"),
        (lambda: _transfer(client, server, "laten", steps=2, teacher=server.student,
                           student=server.teacher), "incompatible"),
        (lambda: client.predict(server.student, None, None, server.teacher, True, "", 8, 0, 0,
                                api_name="/compare"), "prompt is empty"),
    ]
    for call, expected in cases:
        with pytest.raises(Exception) as err:
            call()
        assert expected in _error_text(err).lower(), (expected, str(err.value))
    # refused transfers leave no run directory behind
    from pkt_core.runs import list_runs

    assert all(r["status"] in ("complete", "cancelled") for r in list_runs(server.runs))


# ---- the Space ---------------------------------------------------------------------------------
def parse_front_matter(text: str) -> dict:
    """The README's simple YAML front matter (scalars and `- item` lists), parsed by hand."""
    assert text.startswith("---\n"), "README.md must start with the Space front matter"
    block = text[4:text.index("\n---\n", 4)]
    data: dict = {}
    key = None
    for line in block.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        item = re.match(r"^\s+-\s+(.*)$", line)
        if item and key:
            data.setdefault(key, []).append(item.group(1).strip().strip("'\""))
            continue
        match = re.match(r"^([A-Za-z_][\w-]*):\s*(.*)$", line)
        assert match, f"unparsable front-matter line: {line!r}"
        key, value = match.group(1), match.group(2).strip().strip("'\"")
        if value:
            data[key] = value
    return data


def test_readme_front_matter_matches_the_gradio_pin():
    meta = parse_front_matter((ROOT / "README.md").read_text(encoding="utf-8"))
    pin = re.search(r"^gradio==([\w.]+)\s*$", (ROOT / "requirements.txt").read_text(), re.M)
    assert pin, "requirements.txt pins gradio"
    assert meta["sdk"] == "gradio" and meta["sdk_version"] == pin.group(1)
    assert meta["app_file"] == "app.py" and (ROOT / meta["app_file"]).is_file()
    assert meta["title"] == "PKT Lab" and meta.get("emoji")
    assert 0 < len(meta["short_description"]) <= 60
    from pkt_core.models import PRESET_PAIRS

    hub = {ref for p in PRESET_PAIRS for ref in (p.teacher, p.student) if "/" in ref}
    assert "HuggingFaceTB/SmolLM2-360M-Instruct" in meta["models"]
    assert set(meta["models"]) <= hub


def test_readme_keeps_the_quick_start_test_command():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "pip install -r requirements-dev.txt && python -m pytest tests -q" in text
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python -m pytest tests -q" in ci
