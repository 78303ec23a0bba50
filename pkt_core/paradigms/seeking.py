"""Seeking (PostPKT, docs/SCIENCE.md §4): sensitivity → layers → sub-block → SVD LoRA → fine-tune.

1. Sensitivity of every teacher projection on a few task examples: S = Σ_examples |θ ⊙ ∇θ L|.
2. Layer score = Σ S over the layer's matrices; keep the top L_S teacher layers in depth order;
   the k-th kept teacher layer feeds student layer k.
3. Each teacher matrix is cut to the student's shape: the contiguous sub-block with the largest
   summed sensitivity (summed-area table).
4. Rank-r SVD of that block gives the LoRA init B = U_r Σ_r, A = V_rᵀ (steps 3 and 4 are
   `subblock_lora_init` in pkt_core.analyse). The LoRA adds (alpha / rank)·BA — alpha and rank
   are separate settings, both 16 by default, so the scale is 1 unless they are set apart — and
   the student's W becomes W − (alpha / rank)·BA, so its starting function is unchanged.
5. The LoRA is fine-tuned on the train split with the same budget as the baselines.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch

from ..analyse import select_layers, subblock_lora_init
from ..infra.budget import Work
from ..models import block_part
from .base import CurveKnob, Paradigm, TransferContext, TransferError, TransferOutcome, register
from .baselines import LoRAConfig
from .common import answer_loss, attach_lora, finetune, finetune_work, lm_batch, lora_layers
from .settings import setting


@dataclass
class SeekingConfig(LoRAConfig):
    n_sensitivity_examples: int = setting(32, "task examples the teacher's sensitivity is "
                                          "measured on", label="sensitivity examples", lo=1,
                                          hi=4096, ui=False, public_hi=128)


def teacher_sensitivity(ctx: TransferContext, modules: tuple[str, ...], n_examples: int,
                        max_len: int) -> dict[tuple[int, str], torch.Tensor]:
    """Σ_examples |θ ⊙ ∇θ L| for every (layer, module) weight of the teacher (fp32).

    One backward per example: the absolute value is taken per example, so the examples cannot be
    pooled into one batch gradient. Each weight's gradient is folded into its sum by a hook the
    moment backward has produced it and then freed, so the teacher's gradients never exist all at
    once: the peak is the weights plus the fp32 sums (on the SmolLM2-360M shape 2.3 GB less than
    collecting every gradient first; bench_scale.py reports the peak).
    """
    teacher = ctx.teacher
    examples = (ctx.splits["extract"] + ctx.splits["align"] + ctx.splits["train"])[:n_examples]
    if not examples:
        raise TransferError("no examples to measure the teacher's sensitivity on")
    weights = {(layer, name): block_part(teacher.model, teacher.spec, layer, name).weight
               for layer in range(teacher.shape.n_layers) for name in modules}
    sensitivity = {key: torch.zeros(w.shape, dtype=torch.float32, device=w.device)
                   for key, w in weights.items()}

    def fold_into(key: tuple[int, str]):
        def hook(w: torch.Tensor) -> None:
            sensitivity[key].add_((w.detach().float() * w.grad.float()).abs())
            w.grad = None
        return hook

    for p in teacher.model.parameters():
        p.requires_grad_(False)
    hooks = []
    device = teacher.device
    try:
        for key, w in weights.items():
            w.requires_grad_(True)
            w.grad = None
            hooks.append(w.register_post_accumulate_grad_hook(fold_into(key)))
        for i, ex in enumerate(examples):
            ctx.check_cancel()
            batch = lm_batch(teacher.tokenizer, ctx.task, [ex], max_len).to(device)
            loss = answer_loss(teacher.model, batch)
            loss.backward()
            del loss
            ctx.progress(i + 1, len(examples), f"teacher sensitivity {i + 1}/{len(examples)}")
    finally:
        for handle in hooks:
            handle.remove()
        for w in weights.values():
            w.requires_grad_(False)
            w.grad = None
    return sensitivity


def layer_sensitivity(sensitivity: dict[tuple[int, str], torch.Tensor],
                      n_layers: int) -> list[float]:
    """Layer score = the summed sensitivity of the layer's matrices."""
    return [sum(float(s.sum()) for (layer, _), s in sensitivity.items() if layer == ell)
            for ell in range(n_layers)]


@register
class Seeking(Paradigm):
    name, title, family = "seeking", "Seeking (PostPKT)", "PostPKT"
    description = ("cut the teacher's most sensitive layers to the student's shape, start a LoRA "
                   "from their SVD, then fine-tune")
    needed_splits = ("train",)
    different_tokenizers = (True, "sensitivity is measured on the teacher's own tokenization")
    table_order = 10
    example_settings = {"epochs": 1.0}
    config_class = SeekingConfig
    compared = True
    # Its init leaves the student's function unchanged (W − BA + BA), so the honest size knob of
    # its update is the fine-tuning budget: epochs over the train split, at the research's settings.
    curve_knob = CurveKnob("epochs", 0.1, 3.0, "fine-tuning epochs", preset="research")
    ladder_preset = "research"
    learn = ("inject, then fine-tune — the teacher's most sensitive layers, cut to size, start "
             "a LoRA")

    def work(self, config: SeekingConfig, splits: dict) -> Work:  # type: ignore[override]
        tune = finetune_work(config, len(splits["train"]))
        n_sensitivity = min(config.n_sensitivity_examples,
                            sum(len(splits[s]) for s in ("extract", "align", "train")))
        # one backward per example through the teacher for its sensitivity, then LoRA fine-tuning
        return replace(tune, teacher_train=n_sensitivity, calls=tune.calls + n_sensitivity,
                       teacher_gradient_sums=True)

    def run(self, ctx: TransferContext,  # type: ignore[override]
            config: SeekingConfig) -> TransferOutcome:
        if ctx.teacher is None:
            raise TransferError("Seeking needs a teacher")
        student, teacher = ctx.student, ctx.teacher
        sens = teacher_sensitivity(ctx, config.modules, config.n_sensitivity_examples,
                                   config.max_len)
        layer_scores = layer_sensitivity(sens, teacher.shape.n_layers)
        layers = select_layers(layer_scores, student.shape.n_layers)  # top L_S, depth order
        model = attach_lora(student, config.modules, config.rank, config.alpha, init=True)
        wrapped = lora_layers(model, student, config.modules)
        scale = config.alpha / config.rank
        extraction: list[dict[str, Any]] = []
        skipped: list[str] = []
        with torch.no_grad():
            for s_layer, t_layer in enumerate(layers):
                for name in config.modules:
                    lora = wrapped[(s_layer, name)]
                    w_student = lora.base_layer.weight
                    w_teacher = block_part(teacher.model, teacher.spec, t_layer, name).weight
                    piece = subblock_lora_init(w_teacher, sens[(t_layer, name)],
                                               tuple(w_student.shape), config.rank,
                                               device=w_student.device)
                    if piece is None:
                        skipped.append(f"layer {s_layer} {name}: teacher {tuple(w_teacher.shape)} "
                                       f"smaller than student {tuple(w_student.shape)}")
                        continue
                    b, a = piece.lora_b, piece.lora_a
                    delta = (b @ a) * scale
                    lora.lora_B["default"].weight.copy_(b.to(lora.lora_B["default"].weight.dtype))
                    lora.lora_A["default"].weight.copy_(a.to(lora.lora_A["default"].weight.dtype))
                    # W ← W − (alpha/rank)·BA: the student starts exactly where it was.
                    w_student.copy_((w_student.float() - delta).to(w_student.dtype))
                    extraction.append({"student_layer": s_layer, "teacher_layer": t_layer,
                                       "module": name, "row0": piece.row0,
                                       "col0": piece.col0})
        # The fp32 sums are as large as twice the teacher's bf16 weights (51 GB for Llama-2 13B):
        # free them before fine-tuning instead of holding them to the end.
        del sens
        ctx.log({"phase": "extract", "teacher_layers": layers, "skipped": skipped})
        history = finetune(model, student.tokenizer, ctx.task, ctx.splits["train"], ctx,
                           epochs=config.epochs, lr=config.lr, batch_size=config.batch_size,
                           max_len=config.max_len, seed=config.seed)
        return TransferOutcome(model, "adapter", {
            "teacher_layers": layers, "teacher_layer_sensitivity": layer_scores,
            "extraction": extraction, "skipped": skipped, "finetune": history})
