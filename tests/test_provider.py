"""One owner of loaded models: a UI transfer reads each model from disk once, a transfer's
student is its own (never the cached copy others read), and the CLI uses the same provider."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
import torch

from pkt_core.models.provider import ModelProvider


@pytest.fixture
def counted_loads(monkeypatch):
    """Every from_pretrained of a model, by the folder it reads."""
    import transformers

    calls: Counter[str] = Counter()
    original = transformers.AutoModelForCausalLM.from_pretrained

    def counting(path, *args, **kwargs):
        calls[str(Path(path).resolve())] += 1
        return original(path, *args, **kwargs)

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", staticmethod(counting))
    return calls


def test_one_ui_transfer_loads_each_model_once(tiny_models, tmp_path, counted_loads):
    from pkt_core import lab

    lab.MODELS.clear()
    teacher, student = str(tiny_models["llama_deep"]), str(tiny_models["llama"])
    lab.pair_report(teacher, student)  # the Pair tab's check reads configs, never weights
    assert not counted_loads
    prompt, answer = lab.task_example("facts", 0)
    lab.locate_pair(teacher, student, prompt, answer)  # the visitor looks first: both load here
    job = lab.start_transfer("laten", teacher, student, "facts", {"steps": 2}, eval_limit=2,
                             root=tmp_path)
    final = list(job.views(0.2))[-1]
    assert final.finished, final.error
    assert counted_loads == Counter({str(Path(teacher).resolve()): 1,
                                     str(Path(student).resolve()): 1})
    # the transfer reused both (the student taken out of the cache, not read again); the teacher
    # stays cached for the next reader, the edited student did not go back
    assert lab.MODELS.cached() == [str(Path(teacher).resolve())]
    lab.MODELS.clear()


def test_take_hands_over_the_cached_copy_and_get_never_returns_an_edited_one(tiny_models,
                                                                         counted_loads):
    models = ModelProvider()
    ref = str(tiny_models["llama"])
    shared = models.get(ref)
    assert models.get(ref) is shared and models.loads == 1
    mine = models.take(ref)
    assert mine is shared and models.cached() == []  # handed over, not copied
    with torch.no_grad():
        next(mine.model.parameters()).add_(1.0)
    fresh = models.get(ref)
    assert fresh is not mine and models.loads == 2
    assert not torch.equal(next(fresh.model.parameters()), next(mine.model.parameters()))
    assert models.get(ref, device="cpu") is fresh  # None and the default device share one entry


def test_a_transfer_whose_teacher_is_its_student_never_edits_the_teacher(tiny_models, tmp_path):
    from pkt_core.models import load_model
    from pkt_core.transfer import TransferRequest, run_transfer

    models = ModelProvider()
    ref = str(tiny_models["llama"])
    models.get(ref)  # cached before the transfer, as after a Locate in the UI
    run_transfer(TransferRequest(paradigm="laten", teacher=ref, student=ref, task="facts",
                                 settings={"steps": 1, "transfer_rate": 1.0, "init_std": 0.1},
                                 out=str(tmp_path / "run"), eval_limit=1), models=models)
    merged = json.loads((tmp_path / "run" / "artifacts.json").read_text())["delta_norms"]
    assert any(v > 0 for v in merged.values())  # the student did change …
    on_disk = load_model(ref).model.state_dict()
    cached = models.get(ref).model.state_dict()  # … the model others read did not
    assert all(torch.equal(on_disk[k], cached[k]) for k in on_disk)


def test_loaded_bytes_counts_each_loaded_model_once_on_its_own_device(monkeypatch):
    """What the free-memory check credits: weights loaded for a (reference, device), once each."""
    from pkt_core import transfer
    from pkt_core.transfer import TransferRequest, free_memory_for

    provider = ModelProvider()
    loaded = provider.get("pkt-tiny-student", device="cpu")
    size = sum(p.numel() * p.element_size() for p in loaded.model.parameters())
    assert provider.loaded_bytes([("pkt-tiny-student", "cpu")]) == size
    assert provider.loaded_bytes([("pkt-tiny-student", "cpu"), ("pkt-tiny-student", None)]) == size
    assert provider.loaded_bytes([("pkt-tiny-student", "cuda:1"), ("pkt-tiny-teacher", "cpu"),
                                  (None, "cpu"), ("no/such-model", "cpu")]) == 0
    # a pair on two devices may use the free memory of both
    monkeypatch.setattr(transfer, "available_memory_bytes", {"cpu": 100.0, "cuda:1": 20.0}.get)
    monkeypatch.setattr(transfer, "MODELS", provider)
    req = TransferRequest(paradigm="laten", student="pkt-tiny-student", teacher="pkt-tiny-teacher",
                          student_device="cpu", teacher_device="cuda:1")
    assert free_memory_for(req, with_teacher=True) == 120.0 + size
    assert free_memory_for(req, with_teacher=False) == 100.0 + size
    monkeypatch.setattr(transfer, "available_memory_bytes", lambda device: None)
    assert free_memory_for(req, with_teacher=True) is None
