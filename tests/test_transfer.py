"""Transfer paradigms and run directories on tiny random models (teacher 4×96, student 2×64)."""
from __future__ import annotations

import json

import pytest
import torch

from pkt_core.models import load_model
from pkt_core.paradigms.base import TransferContext, TransferError, get_paradigm
from pkt_core.infra.runs import RunDir, RunDirError, list_runs
from pkt_core.tasks import get_task
from pkt_core.transfer import TransferRequest, prepare, run_transfer

# Rows (0) or columns (1) of each moved matrix that hold one neuron each.
NEURON_AXIS = {"up_proj": 0, "down_proj": 1, "v_proj": 0, "o_proj": 1}


def injected_weights(engine, loc, deltas) -> dict[str, torch.Tensor]:
    """The reference LaTen's injection hooks are held to: each located layer's W + δ as a copy
    (index_add accumulates where several attention heads share one k/v row, as in GQA)."""
    out = {}
    spec = engine.student.spec
    for module, i, weight, idx, delta in engine._targets(loc, deltas):
        axis = NEURON_AXIS[module]
        out[f"{spec.layers}.{i}.{spec.block_module(module)}.weight"] = weight.float().index_add(
            axis, idx, delta if axis == 0 else delta.T).to(weight.dtype)
    return out


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """A small user dataset in the research's messages format."""
    root = tmp_path_factory.mktemp("data")
    sizes = {"extract": 4, "align": 8, "train": 12, "test": 4}
    for split, n in sizes.items():
        rows = [{"id": f"{split}-{i}", "messages": [
            {"role": "user", "content": f"What is {i} plus {i}?"},
            {"role": "assistant", "content": f"{2 * i}"}]} for i in range(n)]
        (root / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def _request(tiny_models, data_dir, tmp_path, paradigm, **settings):
    defaults = {"laten": {"steps": 2}, "seeking": {"epochs": 1, "batch_size": 8,
                                                    "n_sensitivity_examples": 3}}
    return TransferRequest(paradigm=paradigm, student=str(tiny_models["llama"]),
                           teacher=str(tiny_models["llama_deep"]), data=str(data_dir),
                           settings={**defaults.get(paradigm, {"epochs": 1, "batch_size": 8}),
                                     **settings},
                           out=str(tmp_path / f"run-{paradigm}"), eval_limit=2,
                           task_options={"max_new_tokens": 6})


def _context(tiny_models, data_dir):
    student = load_model(str(tiny_models["llama"]))
    teacher = load_model(str(tiny_models["llama_deep"]))
    task = get_task("jsonl", path=str(data_dir))
    return TransferContext(student, teacher, task, task.splits())


def test_seeking_init_leaves_the_students_function_unchanged(tiny_models, data_dir):
    from pkt_core.paradigms import seeking

    ctx = _context(tiny_models, data_dir)
    ids = torch.tensor([[5, 17, 42, 99, 7]])
    with torch.no_grad():
        before = ctx.student.model(ids).logits.clone()
    config = seeking.SeekingConfig(epochs=1, batch_size=8, n_sensitivity_examples=2)
    # run only the initialisation: patch fine-tuning out
    original = seeking.finetune
    seeking.finetune = lambda *a, **k: []
    try:
        outcome = get_paradigm("seeking").run(ctx, config)
    finally:
        seeking.finetune = original
    with torch.no_grad():
        after = outcome.model(ids).logits
    assert torch.allclose(before, after, atol=1e-4)
    # the LoRA really holds teacher material (non-zero B) at depth-ordered teacher layers
    layers = outcome.artifacts["teacher_layers"]
    assert layers == sorted(layers) and len(layers) == 2
    lora_b = [m.lora_B["default"].weight for m in outcome.model.modules() if hasattr(m, "lora_B")
              and "default" in m.lora_B]
    assert lora_b and all(float(b.abs().sum()) > 0 for b in lora_b)


def test_seeking_sensitivity_is_per_example_and_never_holds_every_gradient(tiny_models, data_dir):
    """Σ_examples |θ ⊙ ∇θ L| equals an independent per-example computation, while at most one of the
    teacher's weight gradients exists at any moment (the memory a 13B teacher cannot spare)."""
    from pkt_core.models.architectures import block_part
    from pkt_core.paradigms.common import LORA_MODULES, answer_loss, lm_batch
    from pkt_core.paradigms.seeking import teacher_sensitivity

    ctx = _context(tiny_models, data_dir)
    teacher = ctx.teacher
    weights = [block_part(teacher.model, teacher.spec, layer, name).weight
               for layer in range(teacher.shape.n_layers) for name in LORA_MODULES]
    held = []

    def observe(_):  # registered first, so it runs before the sensitivity hook frees the gradient
        held.append(sum(w.grad is not None for w in weights))

    observers = [w.register_post_accumulate_grad_hook(observe) for w in weights]
    try:
        sens = teacher_sensitivity(ctx, LORA_MODULES, 3, 64)
    finally:
        for handle in observers:
            handle.remove()
    assert held and max(held) == 1
    assert all(w.grad is None and not w.requires_grad for w in weights)
    examples = (ctx.splits["extract"] + ctx.splits["align"])[:3]
    for layer, name in [(0, "q_proj"), (teacher.shape.n_layers - 1, "down_proj")]:
        w = block_part(teacher.model, teacher.spec, layer, name).weight
        expected = torch.zeros_like(w, dtype=torch.float32)
        for ex in examples:
            w.requires_grad_(True)
            loss = answer_loss(teacher.model, lm_batch(teacher.tokenizer, ctx.task, [ex], 64))
            (grad,) = torch.autograd.grad(loss, [w])
            w.requires_grad_(False)
            expected += (w.detach().float() * grad.float()).abs()
        torch.testing.assert_close(sens[(layer, name)], expected)


@pytest.mark.parametrize("paradigm", ["seeking", "lora", "pissa"])
def test_lora_paradigms_write_a_complete_run(tiny_models, data_dir, tmp_path, paradigm):
    result = run_transfer(_request(tiny_models, data_dir, tmp_path, paradigm))
    run = result.run_dir
    assert (run / "model" / "config.json").is_file() and (run / "adapter").is_dir()
    assert json.loads((run / "status.json").read_text())["status"] == "complete"
    metrics = json.loads((run / "metrics.json").read_text())
    assert {"base", "result", "delta"} <= metrics.keys() and metrics["result"]["n"] == 2
    config = json.loads((run / "config.json").read_text())
    assert config["paradigm"] == paradigm and config["config"]["rank"] == 16
    rows = RunDir(run).log_rows()
    assert rows and all("loss" in r for r in rows if "step" in r)
    # a finished run is a model reference
    reloaded = load_model(str(run))
    assert reloaded.ref.kind == "run"


def test_same_seed_same_result(tiny_models, data_dir, tmp_path):
    a = run_transfer(_request(tiny_models, data_dir, tmp_path / "a", "lora"))
    b = run_transfer(_request(tiny_models, data_dir, tmp_path / "b", "lora"))
    wa = load_model(str(a.run_dir)).model.state_dict()
    wb = load_model(str(b.run_dir)).model.state_dict()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert [r["loss"] for r in RunDir(a.run_dir).log_rows()] == \
        [r["loss"] for r in RunDir(b.run_dir).log_rows()]


@pytest.mark.parametrize("settings, message", [
    ({"transfer_rate": 0.0}, "transfer rate"),
    ({"transfer_rate": 1.5}, "transfer rate"),
    ({"steps": 0}, "steps"),
    ({"keep_checkpoints": "some"}, "checkpoints kept must be one of all, last-best"),
    ({"nonsense": 1}, "unknown setting"),
])
def test_bad_laten_settings_are_refused_before_work(tiny_models, data_dir, tmp_path, settings, message):
    with pytest.raises(TransferError, match=message):
        prepare(_request(tiny_models, data_dir, tmp_path, "laten", **settings))


def test_other_bad_requests_are_refused_before_work(tiny_models, data_dir, tmp_path):
    req = _request(tiny_models, data_dir, tmp_path, "laten")
    req.paradigm = "magic"
    with pytest.raises(TransferError, match="unknown paradigm"):
        prepare(req)
    req = _request(tiny_models, data_dir, tmp_path, "laten")
    req.teacher, req.student = req.student, req.teacher
    with pytest.raises(TransferError, match="deeper"):
        prepare(req)
    empty = tmp_path / "empty-data"
    empty.mkdir()
    for split in ("extract", "align", "train", "test"):
        (empty / f"{split}.jsonl").write_text("" if split == "align" else (data_dir / f"{split}.jsonl").read_text())
    req = _request(tiny_models, data_dir, tmp_path, "laten")
    req.data = str(empty)
    with pytest.raises(TransferError, match="align split .* is empty"):
        prepare(req)


def test_output_directory_that_is_not_a_run_is_refused(tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "precious.txt").write_text("keep me")
    with pytest.raises(RunDirError, match="exists and is not a run"):
        RunDir.create(tmp_path / "taken", "laten", "facts")
    assert (tmp_path / "taken" / "precious.txt").read_text() == "keep me"


def test_failed_runs_are_marked_and_not_presented_as_finished(tiny_models, data_dir, tmp_path):
    req = _request(tiny_models, data_dir, tmp_path, "lora", epochs=4)
    calls = {"n": 0}

    def cancel_after_two() -> bool:
        calls["n"] += 1
        return calls["n"] > 2

    from pkt_core.paradigms.base import TransferCancelled

    with pytest.raises(TransferCancelled):
        run_transfer(req, cancelled=cancel_after_two)
    runs = list_runs(tmp_path)
    assert len(runs) == 1 and runs[0]["status"] == "cancelled" and not runs[0]["finished"]
    assert not (tmp_path / "run-lora" / "model").exists()


def test_laten_run_merges_the_delta_and_reloads_identically(tiny_models, data_dir, tmp_path):
    result = run_transfer(_request(tiny_models, data_dir, tmp_path, "laten", steps=2, init_std=0.02))
    run = result.run_dir
    assert sorted(p.name for p in RunDir(run).checkpoints()) == ["step-001.pt", "step-002.pt"]
    state = torch.load(run / "checkpoints" / "step-002.pt")
    assert set(state["hypernetwork"]) and state["located"]["teacher_layers"]["ffn"]
    rows = [r for r in RunDir(run).log_rows() if "step" in r]
    assert [r["step"] for r in rows] == [1, 2]
    assert all({"lm_loss", "reg", "lr", "teacher_ffn_layers"} <= r.keys() for r in rows)
    base = load_model(str(tiny_models["llama"])).model
    merged = load_model(str(run)).model
    ids = torch.tensor([[5, 17, 42, 99, 7]])
    with torch.no_grad():
        out_base, out_merged = base(ids).logits, merged(ids).logits
        again = load_model(str(run)).model(ids).logits
    assert not torch.allclose(out_base, out_merged)  # the delta is really in the saved weights
    assert torch.equal(out_merged, again)
    changed = [k for k, v in merged.state_dict().items() if not torch.equal(v, base.state_dict()[k])]
    assert changed and all(any(m in k for m in ("up_proj", "down_proj", "v_proj", "o_proj"))
                           for k in changed)


def test_laten_gradients_reach_only_the_hypernetwork(tiny_models, data_dir):
    from pkt_core.paradigms.laten import LaTenConfig, LaTenEngine

    ctx = _context(tiny_models, data_dir)
    engine = LaTenEngine(ctx.teacher, ctx.student, LaTenConfig(init_std=0.02))
    ex = ctx.splits["extract"][0]
    loc = engine.locate((ex.prompt, ex.answer))
    assert len(loc.teacher_layers["ffn"]) == ctx.student.shape.n_layers
    assert loc.teacher_layers["ffn"] == sorted(loc.teacher_layers["ffn"])
    n_ffn = int(0.1 * ctx.student.shape.ffn)
    assert all(len(n) == n_ffn for n in loc.student_neurons["ffn"])
    extracted = engine.extract(loc)
    assert extracted["up_proj"].shape == (2, n_ffn, ctx.teacher.shape.hidden)
    deltas = engine.translate(extracted)
    assert deltas["o_proj"].shape[-1] == ctx.student.shape.hidden
    weights = injected_weights(engine, loc, deltas)
    sum(w.sum() for w in weights.values()).backward()
    assert all(p.grad is not None for p in engine.hyper.parameters())
    assert all(p.grad is None for p in ctx.student.model.parameters())


def test_laten_injecting_hooks_compute_the_injected_weights_without_copying_them(tiny_models):
    """Training injects by forward hooks: the same logits and hypernetwork gradients as a forward
    with W + δ (GQA student, repeated k/v rows included), no student weight edited or copied."""
    from torch.func import functional_call

    from pkt_core.paradigms.laten import LaTenConfig, LaTenEngine

    student, teacher = load_model(str(tiny_models["qwen2"])), load_model(str(tiny_models["llama_deep"]))
    engine = LaTenEngine(teacher, student, LaTenConfig(init_std=0.05, transfer_rate=0.5))
    loc = engine.locate(("What is 2 plus 2?", " 4"))
    rows = [r for i, n in enumerate(loc.student_neurons["attn"])
            for r in [(k // student.shape.head_dim) // (student.shape.n_heads // student.shape.n_kv_heads)
                      for k in n]]
    assert len(rows) > len(set(rows))  # some located attention neurons share a k/v row
    ids = torch.tensor([[5, 17, 42, 99, 7, 3]])
    before = {k: v.clone() for k, v in student.model.state_dict().items()}

    def logits_and_grads(run):
        engine.hyper.zero_grad(set_to_none=True)
        logits = run(engine.translate(engine.extract(loc)))
        logits.pow(2).sum().backward()
        return logits.detach(), [p.grad.clone() for p in engine.hyper.parameters()]

    def by_hooks(deltas):
        with engine.injecting(loc, deltas):
            return student.model(input_ids=ids).logits

    hooked, hooked_grads = logits_and_grads(by_hooks)
    copied, copied_grads = logits_and_grads(
        lambda deltas: functional_call(student.model, injected_weights(engine, loc, deltas), args=(),
                                       kwargs={"input_ids": ids}, strict=False).logits)
    with torch.no_grad():
        plain = student.model(input_ids=ids).logits
    assert (hooked - plain).abs().max() > 1e-4  # the injection moves the output…
    torch.testing.assert_close(hooked, copied, rtol=1e-5, atol=1e-6)  # …exactly as W + δ does
    for a, b in zip(hooked_grads, copied_grads):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-6 * float(b.abs().max()))
    assert all(not m._forward_hooks for m in student.model.modules())  # the hooks are gone
    assert all(torch.equal(before[k], v) for k, v in student.model.state_dict().items())


def test_nan_loss_stops_with_a_clear_message_and_keeps_checkpoints(tiny_models, data_dir, tmp_path):
    req = _request(tiny_models, data_dir, tmp_path, "laten", steps=3, init_std=0.02)
    from pkt_core.paradigms import laten

    original = laten._per_example_loss
    calls = {"n": 0}

    def poisoned(*args, **kwargs):
        calls["n"] += 1
        loss = original(*args, **kwargs)
        return loss * float("nan") if calls["n"] >= 2 else loss

    laten._per_example_loss = poisoned
    try:
        with pytest.raises(TransferError, match="loss became nan at step 2"):
            run_transfer(req)
    finally:
        laten._per_example_loss = original
    run = tmp_path / "run-laten"
    assert json.loads((run / "status.json").read_text())["status"] == "failed"
    assert [p.name for p in RunDir(run).checkpoints()] == ["step-001.pt"]
    assert not (run / "model").exists()


def test_laten_alignment_heatmap_data_is_saved(tiny_models, data_dir, tmp_path):
    result = run_transfer(_request(tiny_models, data_dir, tmp_path, "laten", steps=2, init_std=0.02))
    artifacts = json.loads((result.run_dir / "artifacts.json").read_text())
    alignment = artifacts["alignment"]
    for module in ("up_proj", "down_proj", "v_proj", "o_proj"):
        for method in ("hypernetwork", "naive"):
            matrix = alignment["matrices"][module][method]
            assert len(matrix) == 2 and all(len(row) == 4 for row in matrix)  # S layers × T layers
            assert all(-1.0 <= v <= 1.0 for row in matrix for v in row)
    assert len(alignment["per_step"]) == 2
    assert set(alignment["per_step"][0]["up_proj"]) == {"hypernetwork", "naive"}
    from pkt_core.figures import alignment_curves, alignment_heatmaps

    fig = alignment_heatmaps(alignment)
    assert fig.layout.height and fig.layout.xaxis.title.text == "teacher layer"
    assert alignment_curves(alignment).data


def test_prepare_compares_the_tokenizers_and_refuses_a_mismatch_where_the_paradigm_must(
        tiny_models, tmp_path):
    """A paradigm that needs one tokenizer is refused a pair whose vocabularies differ; the same
    pair passes for a paradigm that copes, and its report says the tokenizers differ."""
    from pkt_core.models.synthetic import byte_tokenizer, save_random_model
    from pkt_core.paradigms import PARADIGMS, register
    from pkt_core.paradigms.baselines import LoRABaseline
    from pkt_core.transfer import TransferRequest, prepare

    other = save_random_model(tmp_path / "other-tokenizer", family="llama")
    byte_tokenizer(vocab=400).save_pretrained(other)  # another vocabulary, same model shape

    class OneTokenizer(LoRABaseline):
        name, title = "one-tokenizer", "One tokenizer (test)"
        needs_teacher = True
        different_tokenizers = (False, "it maps token ids one to one")

    register(OneTokenizer)
    request = dict(teacher=str(other), student=str(tiny_models["llama"]), task="facts",
                   out=str(tmp_path / "run"))
    try:
        with pytest.raises(TransferError, match="tokenizer"):
            prepare(TransferRequest(paradigm="one-tokenizer", **request))
        same = prepare(TransferRequest(paradigm="one-tokenizer",
                                       **{**request, "teacher": str(tiny_models["llama_deep"])}))
    finally:
        PARADIGMS.pop("one-tokenizer", None)
    assert same.pair.same_tokenizer
    copes = prepare(TransferRequest(paradigm="laten", **request))
    assert not copes.pair.same_tokenizer and "different tokenizers" in " ".join(copes.pair.notes)
