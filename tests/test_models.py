"""Model references, the architecture table, loading, placement and pair checks."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch

from pkt_core.evaluate import generate
from pkt_core.models import (ModelNotAvailable, UnsupportedArchitecture,
                             arch_for_config, check_pair, inspect_model, load_model,
                             placement_kwargs, resolve_ref, supported_families)
from pkt_core.models.architectures import block_part
from pkt_core.models.synthetic import random_config
from pkt_core.tasks import render_chat


@pytest.mark.parametrize("family", ["llama", "mistral", "qwen2", "qwen3"])
def test_every_family_loads_through_the_public_loader_and_generates(tiny_models, family):
    loaded = load_model(str(tiny_models[family]))
    assert loaded.spec.family == family
    assert loaded.ref.kind == "local"
    assert loaded.shape.n_layers == 2 and loaded.shape.hidden == 64
    assert loaded.shape.n_params == sum(p.numel() for p in loaded.model.parameters())
    # the table's paths resolve on the real module tree
    for name in ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"):
        assert isinstance(block_part(loaded.model, loaded.spec, 1, name), torch.nn.Linear)
    out = generate(loaded.model, loaded.tokenizer, [render_chat("hello"), "x"], max_new_tokens=5)
    assert len(out) == 2 and all(isinstance(o, str) for o in out)


def test_gqa_head_counts_are_reported(tiny_models):
    shape = inspect_model(str(tiny_models["qwen3"]))
    assert (shape.n_heads, shape.n_kv_heads, shape.head_dim) == (4, 1, 16)


def test_unsupported_and_fused_architectures_are_refused_by_name():
    from transformers import GPT2Config, Phi3Config

    with pytest.raises(UnsupportedArchitecture, match="phi3.*gate_up.*Supported: llama"):
        arch_for_config(Phi3Config())
    with pytest.raises(UnsupportedArchitecture, match="gpt2"):
        arch_for_config(GPT2Config())
    assert set(supported_families()) >= {"llama", "mistral", "qwen2", "qwen3"}


def test_unknown_and_offline_references_fail_fast_with_a_list_of_what_is_available(tmp_path):
    with pytest.raises(ModelNotAvailable, match="unknown model"):
        resolve_ref("definitely not a model")
    with pytest.raises(ModelNotAvailable, match="no model given"):
        resolve_ref("  ")
    with pytest.raises(ModelNotAvailable, match="without a Hugging Face config.json"):
        resolve_ref(str(tmp_path))
    start = time.perf_counter()
    with pytest.raises(ModelNotAvailable, match="not available offline.*Available offline"):
        load_model("some-org/not-cached-model-xyz")
    assert time.perf_counter() - start < 5


def test_run_directory_is_a_model_reference(tiny_models, tmp_path):
    import shutil

    shutil.copytree(tiny_models["llama"], tmp_path / "run" / "model")
    ref = resolve_ref(str(tmp_path / "run"))
    assert ref.kind == "run" and ref.path == tmp_path / "run" / "model"


def test_placement_for_device_strings():
    cpu = placement_kwargs("cpu")
    assert cpu == {"dtype": torch.float32, "device_map": {"": "cpu"}}
    if not torch.cuda.is_available():  # decided by construction on machines without CUDA
        assert placement_kwargs("cuda:1") == {"dtype": torch.bfloat16, "device_map": {"": "cuda:1"}}
        assert placement_kwargs("cuda")["device_map"] == {"": "cuda:0"}
    assert placement_kwargs("cuda", shard=True)["device_map"] == "auto"
    assert placement_kwargs("cpu", dtype="bf16")["dtype"] == torch.bfloat16
    with pytest.raises(ValueError, match="unknown device"):
        placement_kwargs("tpu")
    with pytest.raises(ValueError, match="unknown dtype"):
        placement_kwargs("cpu", dtype="fp8")


def test_pair_checks_say_plainly_what_is_wrong(tiny_models):
    teacher = inspect_model(str(tiny_models["llama_deep"]))
    student = inspect_model(str(tiny_models["llama"]))
    ok = check_pair(teacher, student, same_tokenizer=True)
    assert ok.ok and ok.verdict().startswith("compatible")
    backwards = check_pair(student, teacher, same_tokenizer=True)
    assert not backwards.ok
    assert any("deeper" in p for p in backwards.problems)
    assert any("wider" in p for p in backwards.problems)
    # the models layer knows no paradigm: each paradigm's tokenizer rule is passed in
    rules = {"shared-vocab": (False, "its bases are indexed by a shared vocabulary"),
             "own-tokens": (True, "each model reads its own tokens")}
    diff_tok = check_pair(teacher, student, same_tokenizer=False, paradigm="shared-vocab",
                          tokenizer_rules=rules)
    assert not diff_tok.ok and "shared vocabulary" in diff_tok.verdict()
    assert check_pair(teacher, student, False, "own-tokens", tokenizer_rules=rules).ok
    either = check_pair(teacher, student, False, tokenizer_rules=rules)
    assert either.ok and "allowed for own-tokens; not for shared-vocab" in either.verdict()


def test_the_pair_check_reads_each_paradigms_own_tokenizer_rule(tiny_models):
    from pkt_core.paradigms import check_pair_for

    teacher = inspect_model(str(tiny_models["llama_deep"]))
    student = inspect_model(str(tiny_models["llama"]))
    report = check_pair_for(teacher, student, same_tokenizer=False, paradigm="laten")
    assert report.ok and "located on its own tokenization" in report.verdict()
    assert "allowed for seeking, laten, lora, pissa" in check_pair_for(teacher, student, False).verdict()


def test_random_config_matches_requested_shape():
    cfg = random_config("mistral", n_layers=3, hidden=32, ffn=40, n_heads=4, n_kv_heads=2)
    spec = arch_for_config(cfg)
    assert spec.family == "mistral" and cfg.num_key_value_heads == 2


def test_tf32_matmuls_only_on_cuda_and_restored():
    from pkt_core.models.loading import tf32_matmuls

    matmul = torch.backends.cuda.matmul
    before = matmul.fp32_precision
    with tf32_matmuls(torch.device("cpu")):
        assert matmul.fp32_precision == before  # the CPU is never touched
    with pytest.raises(RuntimeError):
        with tf32_matmuls(torch.device("cuda", 0)):
            assert matmul.fp32_precision == "tf32"
            raise RuntimeError("inside")
    assert matmul.fp32_precision == before  # restored even after an error
    first, second = tf32_matmuls(torch.device("cuda", 0)), tf32_matmuls(torch.device("cuda", 1))
    first.__enter__()  # two overlapping blocks (two threads): the first to end must not restore yet
    second.__enter__()
    first.__exit__(None, None, None)
    assert matmul.fp32_precision == "tf32"
    second.__exit__(None, None, None)
    assert matmul.fp32_precision == before
