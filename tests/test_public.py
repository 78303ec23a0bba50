"""Public mode and the checks that hold in every mode, one test per finding of the hostile-visitor
probe (issue: "Safe as a public Space"). The app over HTTP is in test_public_app.py."""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from pkt_core.infra import policy
from pkt_core.lab import housekeeping
from pkt_core.lab.gate import HeavyGate, QuotaExceeded
from pkt_core.lab.inputs import LabError
from pkt_core.lab.saved_runs import checked_run, downloads_root, run_files, session_downloads
from pkt_core.models import ModelNotAvailable, inspect_model, loading, resolve_ref
from pkt_core.models.config_check import ConfigRefused, params_from_config
from pkt_core.paradigms import TransferError, get_paradigm, paradigm_names, settings_of
from pkt_core.infra.runs import RunDir, atomic_write_json
from pkt_core.transfer import TransferRequest, prepare

HUGE = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 16384,
        "intermediate_size": 53248, "num_hidden_layers": 126, "num_attention_heads": 128,
        "num_key_value_heads": 8, "vocab_size": 128256, "max_position_embeddings": 4096}


@pytest.fixture
def public(monkeypatch, tmp_path):
    monkeypatch.setenv("PKT_PUBLIC", "1")
    monkeypatch.setenv("PKT_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.delenv("PKT_ALLOWED_MODELS", raising=False)
    return tmp_path


def fake_run(path: Path, owner: str | None = None, status: str = "complete") -> Path:
    """A finished run directory (config, status, a model config) without training anything."""
    (path / "model").mkdir(parents=True)
    atomic_write_json(path / "config.json", {"pkt_run": True, "paradigm": "lora", "task": "facts",
                                             "student": "pkt-tiny-student"})
    atomic_write_json(path / "model" / "config.json", {"model_type": "llama"})
    run = RunDir(path)
    if owner is not None:
        run.set_owner(policy.session_tag(owner))
    run.set_status(status)
    return path


def test_public_mode_is_on_in_a_space_unless_turned_off(monkeypatch):
    monkeypatch.delenv("PKT_PUBLIC", raising=False)
    monkeypatch.delenv("SPACE_ID", raising=False)
    assert not policy.public_mode()
    monkeypatch.setenv("SPACE_ID", "someone/pkt-lab")
    assert policy.public_mode()
    monkeypatch.setenv("PKT_PUBLIC", "0")
    assert not policy.public_mode()


# ---- 1, 2: local folders can neither be loaded nor probed --------------------------------------
def test_local_paths_are_refused_alike_whether_they_exist_or_not(public, tiny_models):
    existing_model, plain_dir, missing = tiny_models["llama"], public, public / "nope"
    messages = []
    for path in (existing_model, plain_dir, missing, Path("/root"), Path("/nonexistent")):
        with pytest.raises(ModelNotAvailable) as err:
            resolve_ref(str(path))
        messages.append(str(err.value).replace(str(path), "PATH"))
    assert len(set(messages)) == 1 and "public" in messages[0]


def test_public_models_are_the_family_its_controls_and_the_allow_list(public, monkeypatch):
    assert resolve_ref("pkt-tiny-student").kind == "embedded"
    assert resolve_ref("shuffled:pkt-tiny-teacher").shuffled
    assert resolve_ref("Qwen/Qwen2.5-0.5B-Instruct").kind == "hub"  # a preset pair's model
    with pytest.raises(ModelNotAvailable):
        resolve_ref("someone/private-model")
    with pytest.raises(ModelNotAvailable):
        resolve_ref("shuffled:someone/private-model")
    monkeypatch.setenv("PKT_ALLOWED_MODELS", "someone/private-model, other/one")
    assert resolve_ref("someone/private-model").kind == "hub"


def test_a_visitor_may_load_only_their_own_runs_and_the_examples(public):
    runs = public / "runs"
    mine = fake_run(runs / "20260101-lora-facts-aaaaaa", owner="visitor-a")
    with policy.visitor("visitor-a"):
        assert resolve_ref(str(mine)).kind == "run"
        assert checked_run(mine.name) == mine.resolve()
    for session in ("visitor-b", None):
        with policy.visitor(session), pytest.raises(ModelNotAvailable):
            resolve_ref(str(mine))
    example = next(p for p in policy.example_runs_root().iterdir() if (p / "model").is_dir())
    with policy.visitor("visitor-b"):
        assert resolve_ref(str(example)).kind == "run"


# ---- 3, 5: configs are checked before anything is built or downloaded --------------------------
def test_an_absurd_config_is_refused_at_once_without_the_build_lock(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({**HUGE, "num_hidden_layers": 20_000,
                                                       "hidden_size": 64, "intermediate_size": 64,
                                                       "num_attention_heads": 4,
                                                       "num_key_value_heads": 4}))
    outcome: list[BaseException] = []

    def inspect() -> None:
        try:
            inspect_model(str(tmp_path))
        except BaseException as err:  # noqa: BLE001
            outcome.append(err)

    with loading.BUILD_LOCK:  # another visitor's build holds the lock: the check must not wait
        worker = threading.Thread(target=inspect, daemon=True)
        worker.start()
        worker.join(60)
    assert not worker.is_alive(), "reading a config waited for the build lock"
    assert isinstance(outcome[0], ConfigRefused) and "20000 " in str(outcome[0]).replace(",", "")


def test_the_parameter_count_from_a_config_is_exact(tiny_models):
    from transformers import AutoConfig, AutoModelForCausalLM

    for path in tiny_models.values():
        config = AutoConfig.from_pretrained(path)
        model = AutoModelForCausalLM.from_config(config)
        assert params_from_config(config) == sum(p.numel() for p in model.parameters())


def test_a_hub_model_over_the_cap_never_starts_a_weight_download(public, monkeypatch, tmp_path):
    import huggingface_hub

    config_dir = tmp_path / "snap"
    config_dir.mkdir()
    (config_dir / "config.json").write_text(json.dumps(HUGE))
    fetched = []
    monkeypatch.setenv("PKT_ALLOWED_MODELS", "big/llama-405b")
    monkeypatch.setattr(loading, "hub_cached_path", lambda hub_id: None)
    monkeypatch.setattr(loading, "_hub_reachable", lambda timeout=3.0: True)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download",
                        lambda repo, name, **kw: fetched.append(name) or str(config_dir / name))

    def no_weights(*args, **kwargs):
        raise AssertionError("weights were downloaded")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", no_weights)
    with pytest.raises(ConfigRefused, match="cap"):
        loading.load_model("big/llama-405b")
    with pytest.raises(ConfigRefused, match="cap"):
        inspect_model("big/llama-405b")
    monkeypatch.setenv("PKT_PUBLIC", "0")  # locally: the pair check reads the config only
    assert inspect_model("big/llama-405b").n_params > 4e11
    assert fetched == ["config.json"] * 3


# ---- 4, 7: run files are served from the runs folders only, into per-session folders ----------
def test_run_files_refuse_paths_outside_the_run_roots(public, tmp_path):
    outside = fake_run(tmp_path / "elsewhere" / "run")
    (public / "runs").mkdir(exist_ok=True)
    link = public / "runs" / "link"
    link.symlink_to(outside)
    for text in (str(outside), str(link), "../elsewhere/run", "/etc", str(public / "runs")):
        with pytest.raises(LabError, match="not a saved run"):
            checked_run(text)
    with policy.visitor("visitor-a"), pytest.raises(LabError):
        run_files(str(outside))


def test_downloads_go_to_one_folder_per_session_removed_when_it_ends(monkeypatch, tmp_path):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    first_run, second_run = [p for p in sorted(policy.example_runs_root().iterdir())
                             if (p / "status.json").is_file()][:2]
    with policy.visitor("visitor-a"):
        run_files(str(first_run))
        first = sorted(session_downloads("visitor-a").rglob("*"))
        run_files(str(second_run))  # the second replaces the first: no pile-up
        assert [p.name for p in session_downloads("visitor-a").iterdir()] == [second_run.name]
    assert downloads_root().is_relative_to(tmp_path) and first
    housekeeping.session_ended("visitor-a")
    assert not session_downloads("visitor-a").exists()


# ---- 6: quotas ---------------------------------------------------------------------------------
def test_every_numeric_setting_has_a_public_cap():
    for name in paradigm_names():
        for spec in settings_of(name, get_paradigm(name).config_class):
            if spec.kind in (int, float):
                assert spec.public_cap is not None, f"{name}.{spec.name} has no public cap"


def test_huge_settings_and_long_transfers_are_refused_up_front(public, monkeypatch):
    request = dict(paradigm="lora", student="pkt-tiny-student", task="facts", eval_limit=50)
    for epochs in (1e6, 50):  # 50 is allowed locally (≤ 100), over the public cap of 10
        with pytest.raises(TransferError, match="between 0.0001 and 10 in this public lab"):
            prepare(TransferRequest(**request, settings={"epochs": epochs}))
    monkeypatch.setenv("PKT_MAX_TRANSFER_MINUTES", "0.001")
    with pytest.raises(TransferError, match="would take about"):
        prepare(TransferRequest(**request))
    monkeypatch.setenv("PKT_PUBLIC", "0")  # locally the same run is allowed, with its estimate
    assert prepare(TransferRequest(**request)).estimated_seconds > 0


def test_a_transfer_over_the_free_memory_is_refused_publicly_and_flagged_locally(public, monkeypatch):
    """The peak estimate (budget.memory_phases) against the memory free now: a public lab refuses
    before loading anything; locally the plan line says so and the run is allowed."""
    from pkt_core import lab, transfer

    lab.MODELS.clear()  # nothing loaded yet: the whole estimate must fit in the free memory
    request = TransferRequest(paradigm="seeking", student="pkt-tiny-student", teacher="pkt-tiny-teacher",
                              task="facts", eval_limit=10)
    peak = prepare(request).estimated_peak_bytes
    assert 2**20 < peak < 2**30  # the embedded pair: tens of MiB
    monkeypatch.setattr(transfer, "available_memory_bytes", lambda device: peak / 2)
    with pytest.raises(TransferError, match="need about .* of memory at its peak, more than"):
        prepare(request)
    # weights already loaded count as reused: with the pair loaded, free + their bytes suffices
    loaded = sum(p.numel() * p.element_size() for ref in ("pkt-tiny-student", "pkt-tiny-teacher")
                 for p in lab.MODELS.get(ref).model.parameters())
    monkeypatch.setattr(transfer, "available_memory_bytes", lambda device: peak - loaded + 1)
    assert prepare(request).estimated_peak_bytes == peak
    lab.MODELS.clear()
    with pytest.raises(TransferError, match="more than"):
        prepare(request)
    monkeypatch.setenv("PKT_PUBLIC", "0")
    assert prepare(request).estimated_peak_bytes == peak
    monkeypatch.setattr(transfer, "available_memory_bytes", lambda device: 2.0**50)
    assert "more than the" not in lab.transfer_plan("seeking", "pkt-tiny-teacher", "pkt-tiny-student", "facts")
    monkeypatch.setattr(transfer, "available_memory_bytes", lambda device: peak / 2)
    assert "more than the" in lab.transfer_plan("seeking", "pkt-tiny-teacher", "pkt-tiny-student", "facts")


def test_a_session_holds_one_running_and_one_waiting_heavy_job(public):
    gate, started, release = HeavyGate(), threading.Event(), threading.Event()

    def job(session: str) -> None:
        with gate.hold(session):
            started.set()
            release.wait(30)

    first = threading.Thread(target=job, args=("a",), daemon=True)
    first.start()
    assert started.wait(10)
    second = threading.Thread(target=job, args=("a",), daemon=True)
    second.start()
    deadline = time.time() + 10
    while gate.load("a") < 2 and time.time() < deadline:
        time.sleep(0.01)
    with pytest.raises(QuotaExceeded):  # a third is refused at once, not queued
        with gate.hold("a"):
            pass
    other = threading.Thread(target=job, args=("b",), daemon=True)
    other.start()  # another visitor may still queue
    time.sleep(0.2)
    assert gate.load("b") == 1
    release.set()
    for t in (first, second, other):
        t.join(10)
    assert gate.load("a") == gate.load("b") == 0


def test_laten_keeps_only_its_last_and_best_checkpoints_in_public_mode(public):
    request = TransferRequest(paradigm="laten", teacher="pkt-tiny-teacher", student="pkt-tiny-student",
                              task="facts", preset="lab", eval_limit=10)
    assert prepare(request).config.keep_checkpoints == "last-best"


# ---- 7: a session's runs go some hours after it ended; the folder has a size cap ---------------
def test_expired_sessions_runs_are_deleted_and_the_folder_is_capped(public, monkeypatch):
    runs = public / "runs"
    gone = fake_run(runs / "20260101-000000-lora-facts-aaaaaa", owner="gone")
    live = fake_run(runs / "20260101-000001-lora-facts-bbbbbb", owner="live")
    cli = fake_run(runs / "20260101-000002-lora-facts-cccccc")  # not a visitor's run
    housekeeping.session_seen("live")
    housekeeping.session_ended("gone")
    assert gone.exists()  # not yet expired
    later = time.time() + 7 * 3600
    assert housekeeping.tidy_runs(runs, now=later) == [gone]
    assert live.exists() and cli.exists()
    (live / "model" / "weights.bin").write_bytes(b"0" * 2**20)
    monkeypatch.setenv("PKT_RUNS_MAX_MB", "0.5")
    assert housekeeping.tidy_runs(runs, now=later) == [live]  # oldest first, until under the cap
    assert cli.exists()


def test_prepared_downloads_are_the_same_bytes_each_time_and_expire(monkeypatch, tmp_path):
    """Gradio's cache stores a file once per content hash: repeated "Prepare downloads" clicks
    must produce identical files (a random plot id made each click add 5 MB)."""
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    example = next(p for p in sorted(policy.example_runs_root().iterdir())
                   if (p / "status.json").is_file())
    with policy.visitor("visitor-a"):
        first = {Path(f).name: Path(f).read_bytes() for f in run_files(str(example))}
        second = {Path(f).name: Path(f).read_bytes() for f in run_files(str(example))}
    assert first == second and "loss_figure.html" in first
    assert housekeeping.tidy_downloads() == []  # fresh: kept
    assert housekeeping.tidy_downloads(now=time.time() + 2 * 3600) == [session_downloads("visitor-a")]


def test_limits_arrive_as_an_object_from_the_edge(tiny_models, tmp_path, monkeypatch):
    """The core checks what it is given: public limits passed in apply with no public
    environment, and the local object allows what they refuse."""
    for name in ("PKT_PUBLIC", "SPACE_ID"):
        monkeypatch.delenv(name, raising=False)
    public = policy.Limits(public=True, max_params=10**9, max_transfer_s=3600.0)
    local_path = TransferRequest(paradigm="lora", student=str(tiny_models["llama"]), task="facts",
                                 out=str(tmp_path / "a"))
    assert prepare(local_path, policy.LOCAL).limits is policy.LOCAL
    with pytest.raises(ModelNotAvailable, match="public lab"):
        prepare(local_path, public)
    with pytest.raises(ModelNotAvailable, match="public lab"):
        resolve_ref(str(tiny_models["llama"]), public)
    many = TransferRequest(paradigm="laten", teacher="pkt-tiny-teacher",
                           student="pkt-tiny-student", task="facts", settings={"steps": 5000},
                           out=str(tmp_path / "b"))
    with pytest.raises(TransferError, match="in this public lab"):
        prepare(many, public)
    assert prepare(many, policy.LOCAL).config.steps == 5000
    forced = prepare(TransferRequest(**{**many.__dict__, "settings": {"steps": 2}}), public)
    assert forced.config.as_dict().items() >= get_paradigm("laten").public_settings.items()
    tiny_cap = policy.Limits(public=True, max_params=1000)
    with pytest.raises(ConfigRefused, match="cap"):
        inspect_model("pkt-tiny-student", limits=tiny_cap)
