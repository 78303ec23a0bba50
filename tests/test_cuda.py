"""The GPU paths on a real CUDA device: placement and dtype, locate, Seeking's sensitivity, LaTen
and Seeking transfers whose saved model reloads with the same outputs, generation, the two-GPU
placement and the memory estimate against the measured peak.

Every test here is marked `cuda`: without a CUDA device it is skipped (conftest.py), with one it
runs in the ordinary suite and alone with `python -m pytest tests -m cuda`
(benchmarks/gpu_check.sh).
CPU runs are the reference: fp32 on both devices must agree to float rounding.
"""
from __future__ import annotations

import json

import pytest
import torch

from pkt_core.models import load_model
from pkt_core.models.loading import default_dtype

pytestmark = pytest.mark.cuda

EXAMPLES = [("The capital of Velora is", " Amrit"), ("2 + 3 =", " 5")]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("cuda-data")
    for split, n in {"extract": 3, "align": 6, "train": 8, "test": 2}.items():
        rows = [{"id": f"{split}-{i}",
                 "messages": [{"role": "user", "content": f"What is {i} plus {i}?"},
                              {"role": "assistant", "content": f"{2 * i}"}]}
                for i in range(n)]
        (root / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def test_models_load_on_the_gpu_in_its_half_precision(tiny_models):
    loaded = load_model(str(tiny_models["llama"]), device="cuda")
    assert loaded.device == torch.device("cuda:0")
    expected = torch.bfloat16 if torch.cuda.get_device_capability(0)[0] >= 8 else torch.float16
    assert default_dtype("cuda") == expected
    assert {p.dtype for p in loaded.model.parameters()} == {expected}
    reference = load_model(str(tiny_models["llama"]), device="cpu")
    ids = torch.tensor([[5, 17, 42, 99, 7]])
    with torch.no_grad():
        gpu = loaded.model(ids.cuda()).logits.float().cpu()
        cpu = reference.model(ids).logits
    assert torch.isfinite(gpu).all()
    assert (gpu - cpu).abs().max() <= 0.05 * cpu.abs().max()  # half-precision rounding only


def test_a_sharded_load_spreads_over_the_visible_gpus(tiny_models):
    """accelerate's device_map='auto' (`shard=True`): every parameter on some GPU, outputs
    finite."""
    loaded = load_model(str(tiny_models["llama_deep"]), device="cuda", shard=True)
    devices = {p.device.type for p in loaded.model.parameters()}
    assert devices == {"cuda"}
    with torch.no_grad():
        logits = loaded.model(torch.tensor([[5, 17, 42]], device=loaded.device)).logits
    assert torch.isfinite(logits.float()).all()


def test_locate_on_the_gpu_agrees_with_the_cpu(tiny_models):
    from pkt_core.locate import locate

    results = {}
    for device in ("cpu", "cuda"):
        m = load_model(str(tiny_models["llama_deep"]), device=device, dtype="float32")
        results[device] = locate(m.model, m.tokenizer, m.spec, EXAMPLES, top_k=5)
    cpu, gpu = results["cpu"], results["cuda"]
    for kind in ("ffn", "attn"):
        torch.testing.assert_close(torch.as_tensor(gpu.layer_scores(kind)),
                                   torch.as_tensor(cpu.layer_scores(kind)), rtol=1e-3, atol=1e-5)
    for kind in ("ffn", "attn"):  # neuron scores use TF32 products on the GPU: agree to ~1e-3
        a, b = (torch.as_tensor(r.neuron_scores(kind)).flatten() for r in (gpu, cpu))
        assert torch.corrcoef(torch.stack([a, b]))[0, 1] > 0.999
        assert (a - b).abs().max() <= 1e-2 * b.abs().max()


def test_seeking_sensitivity_on_the_gpu_agrees_with_the_cpu(tiny_models, data_dir):
    from pkt_core.paradigms.base import TransferContext
    from pkt_core.paradigms.common import LORA_MODULES
    from pkt_core.paradigms.seeking import teacher_sensitivity
    from pkt_core.tasks import get_task

    task = get_task("jsonl", path=str(data_dir))
    sums = {}
    for device in ("cpu", "cuda"):
        teacher = load_model(str(tiny_models["llama_deep"]), device=device, dtype="float32")
        ctx = TransferContext(teacher, teacher, task, task.splits())
        sums[device] = teacher_sensitivity(ctx, LORA_MODULES, 2, 64)
    for key, value in sums["cpu"].items():
        torch.testing.assert_close(sums["cuda"][key].cpu(), value, rtol=1e-3, atol=1e-6)


def _transfer(tiny_models, data_dir, tmp_path, paradigm, settings, teacher_device, student_device):
    from pkt_core.transfer import TransferRequest, run_transfer

    req = TransferRequest(paradigm=paradigm, student=str(tiny_models["llama"]),
                          teacher=str(tiny_models["llama_deep"]), data=str(data_dir),
                          settings=settings,
                          out=str(tmp_path / f"run-{paradigm}-{teacher_device}"), eval_limit=2,
                          task_options={"max_new_tokens": 4}, student_device=student_device,
                          teacher_device=teacher_device, dtype="bfloat16")
    result = run_transfer(req)
    assert result.status == "complete"
    model = result.outcome.model
    model = model.get_base_model() if hasattr(model, "get_base_model") else model
    reloaded = load_model(str(result.run_dir / "model"), device=student_device, dtype="bfloat16")
    ids = torch.arange(1, 17, device=student_device)[None]
    with torch.no_grad():
        before = model(input_ids=ids).logits.float()
        after = reloaded.model(input_ids=ids).logits.float()
    assert torch.isfinite(after).all()
    assert (before - after).abs().max() <= 1e-2 * max(1.0, before.abs().max().item())
    return result


@pytest.mark.parametrize("paradigm,settings", [
    ("laten", {"steps": 2, "lr": 1e-2, "init_std": 1e-2}),
    ("seeking", {"epochs": 0.5, "batch_size": 8, "n_sensitivity_examples": 2}),
])
def test_bf16_transfers_on_the_gpu_reload_with_the_same_outputs(tiny_models, data_dir, tmp_path,
                                                                paradigm, settings):
    _transfer(tiny_models, data_dir, tmp_path, paradigm, settings, "cuda:0", "cuda:0")


def test_the_pair_on_two_gpus(tiny_models, data_dir, tmp_path):
    if torch.cuda.device_count() < 2:
        pytest.skip("one CUDA device: the two-GPU placement needs two")
    result = _transfer(tiny_models, data_dir, tmp_path, "laten", {"steps": 2}, "cuda:1", "cuda:0")
    assert result.metrics is not None


def test_generation_on_the_gpu_matches_the_cpu(tiny_models):
    """The same next-token logits as the CPU in fp32, and the page's decoding loop runs there
    (greedy tokens are not compared: a near-tie on a random model may flip with rounding)."""
    from pkt_core.evaluate import generate

    prompts = ["The capital of", "2 + 3"]
    logits, texts = {}, {}
    for device in ("cpu", "cuda"):
        m = load_model(str(tiny_models["llama"]), device=device, dtype="float32")
        ids = m.tokenizer(prompts[0], return_tensors="pt").input_ids.to(m.device)
        with torch.no_grad():
            logits[device] = m.model(ids).logits[0, -1].cpu()
        texts[device] = generate(m.model, m.tokenizer, prompts, max_new_tokens=6)
    torch.testing.assert_close(logits["cuda"], logits["cpu"], rtol=1e-4, atol=1e-5)
    assert len(texts["cuda"]) == 2 and all(isinstance(t, str) for t in texts["cuda"])


def test_the_memory_estimate_bounds_a_measured_laten_step(tmp_path):
    """budget.memory_phases against torch's peak for one LaTen training step (`LaTenEngine.step`,
    the step LaTen runs: 16 examples, optimiser and alignment included) in bf16 on a
    ~100M-parameter random pair (the estimate may be high, never low)."""
    from pkt_core.infra.budget import memory_phases
    from pkt_core.models.synthetic import save_random_model
    from pkt_core.paradigms.base import get_paradigm
    from pkt_core.paradigms.common import lm_batch
    from pkt_core.paradigms.laten import LaTenConfig, LaTenEngine
    from pkt_core.tasks import Example
    from pkt_core.tasks.base import Task

    dirs = [save_random_model(tmp_path / role, n_layers=n, hidden=d, ffn=4 * d, n_heads=8,
                              vocab=8000)
            for role, n, d in (("teacher", 12, 768), ("student", 6, 512))]
    teacher, student = (load_model(str(d), device="cuda", dtype="bfloat16") for d in dirs)
    examples = [Example(f"e{i}", "word " * 40, " answer") for i in range(16)]  # ~200 byte tokens

    class _Text(Task):
        name, kind = "cuda-text", "exact"

        def load_examples(self):
            return examples

    task, config = _Text(), LaTenConfig()  # 15 align examples + the step's own
    engine = LaTenEngine(teacher, student, config)
    located = engine.locate_many([(task.prompt(examples[0]), examples[0].answer)])
    engine.start_training(1)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    engine.step(0, task, examples[0], examples[1:], located[0])
    torch.cuda.synchronize()
    measured = torch.cuda.max_memory_allocated()
    work = get_paradigm("laten").work(config, {"extract": examples[:1], "align": examples[1:]})
    batch = lm_batch(student.tokenizer, task, examples, config.max_len)
    tokens = float(batch.attention_mask.sum()) / len(examples)
    estimated = memory_phases(work, student.shape, teacher.shape, 2, tokens)["training"]
    assert measured <= estimated, (measured / 2**20, estimated / 2**20)
