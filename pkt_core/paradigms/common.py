"""Pieces several paradigms share: answer-only LM batches and the LoRA fine-tuning loop."""
from __future__ import annotations

import functools
import math
import random
from dataclasses import dataclass
from typing import Any, Sequence

import torch

from ..infra.budget import Work, lora_params
from ..models.architectures import PROJECTIONS
from ..tasks import Example, Task
from .base import TransferContext, check_finite

IGNORE = -100


@dataclass
class LMBatch:
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor  # -100 on prompt and padding: the loss reads the answer tokens only

    def to(self, device: torch.device | str) -> "LMBatch":
        return LMBatch(self.input_ids.to(device), self.attention_mask.to(device), self.labels.to(device))

    @property
    def n_answer_tokens(self) -> int:
        return int((self.labels[:, 1:] != IGNORE).sum())  # the shifted targets the loss reads


def encode_example(tokenizer: Any, task: Task, ex: Example, max_len: int) -> tuple[list[int], list[int]]:
    """Token ids of prompt + answer and the labels (answer part only), truncated from the left."""
    prompt_ids = tokenizer(task.prompt(ex))["input_ids"]
    answer_ids = tokenizer(f"{ex.answer}\n\n", add_special_tokens=False)["input_ids"]
    if tokenizer.eos_token_id is not None:  # teach the answer to end
        answer_ids = answer_ids + [tokenizer.eos_token_id]
    ids = (prompt_ids + answer_ids)[-max_len:]
    labels = ([IGNORE] * len(prompt_ids) + answer_ids)[-max_len:]
    return ids, labels


def lm_batch(tokenizer: Any, task: Task, examples: Sequence[Example], max_len: int = 256,
             pad_left: bool = False) -> LMBatch:
    """A padded batch. Right padding by default; left padding puts every answer at the end, so
    the unembedding can be applied to the last few positions only (see `answer_span`)."""
    rows = [encode_example(tokenizer, task, ex, max_len) for ex in examples]
    width = max(len(ids) for ids, _ in rows)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros_like(ids)
    labels = torch.full_like(ids, IGNORE)
    for r, (row_ids, row_labels) in enumerate(rows):
        span = slice(width - len(row_ids), width) if pad_left else slice(0, len(row_ids))
        ids[r, span] = torch.tensor(row_ids)
        mask[r, span] = 1
        labels[r, span] = torch.tensor(row_labels)
    return LMBatch(ids, mask, labels)


def answer_span(batch: LMBatch) -> int:
    """For a left-padded batch: how many final positions hold every answer token (+1 for the
    position that predicts the first one)."""
    has_label = (batch.labels != IGNORE).any(0).nonzero()
    return int(batch.labels.shape[1] - has_label.min()) + 1 if len(has_label) else 1


def answer_loss(model: Any, batch: LMBatch, reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy on the answer tokens, computed in fp32 whatever the model's dtype."""
    logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
    logits = logits[:, :-1].float()
    targets = batch.labels[:, 1:]
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                             targets.reshape(-1), ignore_index=IGNORE,
                                             reduction=reduction)


def one_cycle_lr(step: int, total: int, peak: float, warmup_frac: float = 0.1) -> float:
    """Linear warm-up then cosine decay to zero (the one-cycle shape the research uses)."""
    warmup = max(1, int(round(total * warmup_frac)))
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return peak * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def finetune_work(config: Any, n_train: int, micro_batch: int = 16) -> Work:
    """The work of `finetune` with a config's epochs, batch size and max length."""
    batch = min(config.batch_size, max(n_train, 1))
    steps = max(1, int(round(config.epochs * math.ceil(max(n_train, 1) / config.batch_size))))
    return Work(student_train=steps * batch, calls=steps * math.ceil(batch / micro_batch),
                max_len=config.max_len, micro_batch=micro_batch,
                trained_params=functools.partial(_lora_params, rank=config.rank))


def _lora_params(student: Any, teacher: Any, rank: int) -> int:
    return lora_params(student, rank)


def finetune(model: Any, tokenizer: Any, task: Task, train: Sequence[Example], ctx: TransferContext,
             *, epochs: float, lr: float, batch_size: int, micro_batch: int = 16,
             max_len: int = 256, seed: int = 0, weight_decay: float = 0.0) -> list[dict[str, float]]:
    """Fine-tune the trainable parameters of `model` (a peft LoRA model) on answer tokens.

    Gradient accumulation over micro-batches keeps the research's batch size (64) on small
    memory. Each optimiser step is logged; a NaN loss stops the run (TransferError).
    """
    if not train:
        raise ValueError("the train split is empty")
    params = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    rng = random.Random(seed)
    steps_per_epoch = max(1, math.ceil(len(train) / batch_size))
    total = max(1, int(round(epochs * steps_per_epoch)))
    device = next(model.parameters()).device
    order: list[Example] = []
    history: list[dict[str, float]] = []
    model.train()
    for step in range(total):
        ctx.check_cancel()
        if len(order) < batch_size:  # reshuffle each epoch, seeded
            epoch_items = list(train)
            rng.shuffle(epoch_items)
            order.extend(epoch_items)
        batch_items, order = order[:batch_size], order[batch_size:]
        for group in optimiser.param_groups:
            group["lr"] = one_cycle_lr(step, total, lr)
        optimiser.zero_grad(set_to_none=True)
        batches = [lm_batch(tokenizer, task, batch_items[i:i + micro_batch], max_len).to(device)
                   for i in range(0, len(batch_items), micro_batch)]
        n_tokens = sum(b.n_answer_tokens for b in batches)
        total_loss = 0.0
        for batch in batches:
            # summed loss over all answer tokens of the step = the mean over the whole batch
            loss = answer_loss(model, batch, reduction="sum") / max(1, n_tokens)
            check_finite(loss, step)
            loss.backward()
            total_loss += loss.item()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimiser.step()
        row = {"step": step + 1, "loss": round(total_loss, 5), "lr": optimiser.param_groups[0]["lr"],
               "tokens": n_tokens}
        history.append(row)
        ctx.log(row)
        ctx.progress(step + 1, total, f"fine-tune step {step + 1}/{total} loss {total_loss:.3f}")
    model.eval()
    return history


# ---- LoRA on the student (shared by Seeking and the LoRA/PiSSA baselines) ----------------------
LORA_MODULES = PROJECTIONS  # LoRA adapts every projection of a block, as the research does


def attach_lora(student: Any, modules: Sequence[str], rank: int, alpha: float,
                init: str | bool = True) -> Any:
    """Wrap the student's model in a peft LoRA on the table's modules (by their leaf names)."""
    from peft import LoraConfig, get_peft_model

    leaf_names = sorted({student.spec.block_module(m).split(".")[-1] for m in modules})
    config = LoraConfig(r=rank, lora_alpha=alpha, target_modules=leaf_names, lora_dropout=0.0,
                        bias="none", init_lora_weights=init, task_type="CAUSAL_LM")
    return get_peft_model(student.model, config)


def lora_layers(peft_model: Any, student: Any, modules: Sequence[str]) -> dict[tuple[int, str], Any]:
    """(layer, module short name) → the peft LoRA layer wrapping it."""
    from ..models import block_part

    base = peft_model.get_base_model()
    return {(layer, name): block_part(base, student.spec, layer, name)
            for layer in range(student.shape.n_layers) for name in modules}
