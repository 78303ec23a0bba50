"""Honest baselines on the same budget as Seeking: LoRA (peft's default init) and PiSSA.

Both fine-tune a rank-16 LoRA on the train split exactly like Seeking does after its
initialisation, so any difference in the results table is due to where the LoRA starts.
(The untouched student and the teacher are the other two rows; they need no training.)
"""
from __future__ import annotations

from dataclasses import dataclass

from ..infra.budget import Work

from .base import Paradigm, ParadigmConfig, TransferContext, TransferError, TransferOutcome, register
from .common import LORA_MODULES, attach_lora, finetune, finetune_work
from .settings import setting


@dataclass
class LoRAConfig(ParadigmConfig):
    rank: int = setting(16, "rank r of the LoRA", label="LoRA rank", lo=1, hi=1024, step=1,
                     public_hi=64)
    alpha: float = setting(16.0, "LoRA alpha (the update is scaled by alpha / r)",
                           label="LoRA alpha", lo=1e-6, ui=False, public_hi=4096)
    modules: tuple[str, ...] = LORA_MODULES
    epochs: float = setting(3.0, "fine-tuning epochs over the train split", label="epochs",
                            lo=1e-4, hi=100, public_hi=10)
    lr: float = setting(3e-4, "fine-tuning learning rate (AdamW peak, one-cycle)",
                        label="learning rate", lo=1e-8, hi=0.999)
    batch_size: int = setting(64, "examples per optimiser step (gradient accumulation)",
                              label="batch size", lo=1, hi=4096, public_hi=256)
    max_len: int = setting(256, "tokens per example (truncated from the left)", label="max length",
                           lo=8, hi=8192, ui=False, public_hi=512)

    def validate(self) -> None:
        super().validate()  # every declared range
        unknown = set(self.modules) - set(LORA_MODULES)
        if unknown or not self.modules:
            raise TransferError(f"LoRA modules must be a non-empty subset of {', '.join(LORA_MODULES)}")
        self.modules = tuple(self.modules)


class _LoRABaseline(Paradigm):
    family = "baseline"
    needs_teacher = False
    needed_splits = ("train",)
    example_settings = {"epochs": 1.0}
    config_class = LoRAConfig
    init: str | bool = True

    def work(self, config: LoRAConfig, splits: dict) -> Work:  # type: ignore[override]
        return finetune_work(config, len(splits["train"]))

    def run(self, ctx: TransferContext, config: LoRAConfig) -> TransferOutcome:  # type: ignore[override]
        ctx.progress(0, 1, f"initialising LoRA ({self.title})")
        model = attach_lora(ctx.student, config.modules, config.rank, config.alpha, self.init)
        history = finetune(model, ctx.student.tokenizer, ctx.task, ctx.splits["train"], ctx,
                           epochs=config.epochs, lr=config.lr, batch_size=config.batch_size,
                           max_len=config.max_len, seed=config.seed)
        return TransferOutcome(model, "adapter", {"finetune": history})


@register
class LoRABaseline(_LoRABaseline):
    name, title, init = "lora", "LoRA (random init)", True
    description = "fine-tune a LoRA from peft's default start on Seeking's budget; no teacher"
    table_order = 30


@register
class PiSSABaseline(_LoRABaseline):
    # PiSSA starts the LoRA at the student's own top singular directions (peft computes the SVD
    # and leaves W minus that part as the frozen base).
    name, title, init = "pissa", "PiSSA (student's own SVD init)", "pissa"
    description = ("fine-tune a LoRA started at the student's own top singular directions on "
                   "Seeking's budget; no teacher")
    table_order = 40
