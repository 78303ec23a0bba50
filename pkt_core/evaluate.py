"""Evaluation: batched greedy generation, per-task scoring, per-item logs.

This module owns generation: one decoding loop (`_decode`) behind `generate` (batched, for
scoring) and `stream_generate` (one prompt, token by token, for the UI's side-by-side view).
`evaluate_task(model, tokenizer, task, split)` is the one function every score in PKT Lab comes
from (the CLI, the zoo's scores.json, transfer runs, the UI), so numbers agree wherever shown.
Multiple-choice tasks are scored by the likelihood of each option after the prompt, as MMLU
evaluations do; the generated-letter score is kept beside it in `extra['letter_score']`.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterator, Sequence

import torch

from .tasks import Example, Task
from .tasks.base import STOP_STRINGS, cut_at_stop, extract_code, extract_final_number

Progress = Callable[[int, int], None]


class EvaluationError(ValueError):
    """Bad evaluation input (empty prompt, empty split, bad limit)."""


@dataclass
class EvalResult:
    model: str
    task: str
    split: str
    n: int
    score: float
    items: list[dict[str, Any]]
    extra: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _device_of(model: Any) -> torch.device:
    return next(model.parameters()).device


def _stop_token_ids(model: Any, tokenizer: Any) -> set[int]:
    """Every token id that ends an answer: the tokenizer's EOS and the generation config's."""
    ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    extra = model.generation_config.eos_token_id
    return ids | set(extra if isinstance(extra, list) else [extra] if extra is not None else [])


def _next_tokens(logits: torch.Tensor, temperature: float, generator: torch.Generator) -> torch.Tensor:
    """[B, V] logits → [B] tokens: argmax at temperature 0, else a seeded sample."""
    if temperature <= 0:
        return logits.argmax(-1)
    probs = torch.softmax(logits / temperature, -1).cpu()
    return torch.multinomial(probs, 1, generator=generator)[:, 0].to(logits.device)


@torch.no_grad()
def _decode(model: Any, tokenizer: Any, prompts: Sequence[str], max_new_tokens: int,
            temperature: float = 0.0, seed: int = 0,
            stop_strings: Sequence[str] = STOP_STRINGS) -> Iterator[list[list[int]]]:
    """The one decoding loop behind `generate` and `stream_generate`.

    A left-padded batch goes through the model once, then one token per row per step with a KV
    cache; yields every row's new token ids after each step. A row ends at an end token (not
    kept) or once a stop string appears in its text (the caller cuts there); the loop ends when
    every row has. Sampling uses a private generator, so concurrent streams do not share
    randomness.
    """
    if any(not p.strip() for p in prompts):
        raise EvaluationError("empty prompt: type some text to continue")
    if max_new_tokens < 1:
        raise EvaluationError("max_new_tokens must be at least 1")
    device = _device_of(model)
    enc = tokenizer(list(prompts), return_tensors="pt", padding=True)
    ids, mask = enc["input_ids"].to(device), enc["attention_mask"].to(device)  # [B, T]
    limit = getattr(model.config, "max_position_embeddings", None)
    if limit and ids.shape[1] + 1 > limit:
        raise EvaluationError(f"the prompt is {ids.shape[1]} tokens; this model reads at most {limit}")
    steps = min(max_new_tokens, limit - ids.shape[1]) if limit else max_new_tokens
    positions = (mask.cumsum(-1) - 1).clamp(min=0)  # [B, T]: left padding does not shift RoPE
    stop_ids = _stop_token_ids(model, tokenizer)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    generator = torch.Generator(device="cpu").manual_seed(seed)
    new: list[list[int]] = [[] for _ in prompts]
    live = [True] * len(prompts)
    past, step_ids, step_pos = None, ids, positions
    for _ in range(steps):
        out = model(input_ids=step_ids, attention_mask=mask, position_ids=step_pos,
                    past_key_values=past, use_cache=True, logits_to_keep=1)
        past = out.past_key_values
        tokens = _next_tokens(out.logits[:, -1].float(), temperature, generator).tolist()  # [B]
        for row, token in enumerate(tokens):
            if not live[row]:
                tokens[row] = pad
            elif token in stop_ids:
                live[row], tokens[row] = False, pad
            else:
                new[row].append(token)
                # a stop string is a few tokens at most: decode only the tail to look for it
                tail = tokenizer.decode(new[row][-16:], skip_special_tokens=False)
                live[row] = not any(stop in tail for stop in stop_strings)
        yield new
        if not any(live):
            return
        mask = torch.cat([mask, mask.new_ones(len(prompts), 1)], dim=1)
        step_pos = step_pos[:, -1:] + 1
        step_ids = torch.tensor(tokens, device=device)[:, None]


def generate(model: Any, tokenizer: Any, prompts: Sequence[str], max_new_tokens: int = 64,
             batch_size: int = 16, stop_strings: Sequence[str] = STOP_STRINGS,
             progress: Progress | None = None) -> list[str]:
    """Greedy continuations of `prompts`, batched with left padding, cut at the stop strings."""
    if any(not p.strip() for p in prompts):
        raise EvaluationError("empty prompt: type some text to continue")
    # Sort by length so each batch pads little; restore the caller's order at the end.
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    outputs: list[str] = [""] * len(prompts)
    old_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            final: list[list[int]] = [[] for _ in idx]
            for final in _decode(model, tokenizer, [prompts[i] for i in idx], max_new_tokens,
                                 stop_strings=stop_strings):
                pass
            for i, row in zip(idx, final):
                outputs[i] = cut_at_stop(tokenizer.decode(row, skip_special_tokens=True), stop_strings)
            if progress:
                progress(min(start + batch_size, len(order)), len(order))
    finally:
        tokenizer.padding_side = old_side
    return outputs


def stream_generate(model: Any, tokenizer: Any, prompt: str, max_new_tokens: int = 64,
                    temperature: float = 0.0, seed: int = 0,
                    stop_strings: Sequence[str] = STOP_STRINGS) -> Iterator[str]:
    """One prompt, token by token: yields the answer so far, cut at the stop strings as
    `generate` cuts it (the same decoding loop). Greedy at temperature 0, else seeded sampling."""
    for new in _decode(model, tokenizer, [prompt], max_new_tokens, temperature, seed, stop_strings):
        if new[0]:
            yield cut_at_stop(tokenizer.decode(new[0], skip_special_tokens=True), stop_strings)


@torch.no_grad()
def continuation_logprobs(model: Any, tokenizer: Any, pairs: Sequence[tuple[str, str]],
                          batch_size: int = 32) -> list[float]:
    """Summed log-probability of each continuation given its context (right-padded batches).

    Context and continuation are tokenised separately and concatenated, so the scored tokens are
    exactly the continuation's, whatever BPE would merge across the boundary.
    """
    device = _device_of(model)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    scores: list[float] = []
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start:start + batch_size]
        rows, spans = [], []
        for context, cont in chunk:
            ctx_ids = tokenizer(context)["input_ids"]
            cont_ids = tokenizer(cont, add_special_tokens=False)["input_ids"]
            if not cont_ids:
                raise EvaluationError(f"option {cont!r} tokenises to nothing")
            rows.append(ctx_ids + cont_ids)
            spans.append((len(ctx_ids), len(ctx_ids) + len(cont_ids)))
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for r, row in enumerate(rows):
            ids[r, :len(row)] = torch.tensor(row)
            mask[r, :len(row)] = 1
        logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float()
        logp = torch.log_softmax(logits, dim=-1)
        for r, (lo, hi) in enumerate(spans):
            targets = ids[r, lo:hi].to(device)
            scores.append(logp[r, lo - 1:hi - 1].gather(-1, targets[:, None]).sum().item())
    return scores


def _score_choice_by_likelihood(model: Any, tokenizer: Any, task: Task, examples: list[Example],
                                batch_size: int) -> list[dict[str, Any]]:
    pairs, owners = [], []
    for e, ex in enumerate(examples):
        for option in task.options(ex):
            pairs.append((task.prompt(ex), option))
            owners.append(e)
    logps = continuation_logprobs(model, tokenizer, pairs, batch_size)
    per_example: list[list[float]] = [[] for _ in examples]
    for e, lp in zip(owners, logps):
        per_example[e].append(lp)
    rows = []
    for ex, lps in zip(examples, per_example):
        best = max(range(len(lps)), key=lambda k: lps[k])
        rows.append({"option_logprobs": [round(x, 4) for x in lps], "chosen": best,
                     "correct_option": task.correct_option(ex),
                     "correct": best == task.correct_option(ex)})
    return rows


def evaluate_task(model: Any, tokenizer: Any, task: Task, split: str = "test",
                  limit: int | None = None, seed: int = 0, batch_size: int = 32,
                  max_new_tokens: int | None = None, model_name: str = "",
                  examples: list[Example] | None = None,
                  progress: Progress | None = None) -> EvalResult:
    """Score a model on a task split; every item's prompt, output, extraction and verdict is kept."""
    if limit is not None and limit < 1:
        raise EvaluationError(f"limit must be at least 1 (got {limit})")
    started = time.perf_counter()
    items_src = examples if examples is not None else task.split(split, seed)
    items_src = items_src[:limit] if limit else items_src
    if not items_src:
        raise EvaluationError(f"the {split} split of task '{task.name}' is empty")
    prompts = [task.prompt(ex) for ex in items_src]
    outputs = generate(model, tokenizer, prompts, max_new_tokens or task.max_new_tokens,
                       batch_size=batch_size, progress=progress)
    items: list[dict[str, Any]] = []
    for ex, prompt, output in zip(items_src, prompts, outputs):
        verdict = task.score(ex, output)
        items.append({"id": ex.id, "prompt": prompt, "reference": ex.answer, "output": output,
                      "extracted": verdict.extracted, "correct": bool(verdict.correct),
                      "status": verdict.status, "detail": verdict.detail})
    n = len(items)
    extra: dict[str, Any] = {"chance": task.chance, "kind": task.kind}
    if task.kind == "choice" and task.options(items_src[0]):
        likelihood = _score_choice_by_likelihood(model, tokenizer, task, items_src, batch_size)
        extra["letter_score"] = sum(it["correct"] for it in items) / n
        extra["scored_by"] = "option likelihood (generated letter in letter_score)"
        for item, row in zip(items, likelihood):
            item["letter_correct"] = item["correct"]
            item.update(row)
    score = sum(it["correct"] for it in items) / n
    return EvalResult(model_name, task.name, split, n, score, items, extra,
                      round(time.perf_counter() - started, 3))


def evaluate(model_ref: str, task_name: str, split: str = "test", limit: int | None = None,
             seed: int = 0, device: str | None = None, batch_size: int = 32,
             task_options: dict[str, Any] | None = None,
             progress: Progress | None = None) -> EvalResult:
    """Load a model by reference and evaluate it (the CLI's `evaluate`)."""
    from .models.provider import MODELS
    from .tasks import get_task

    task = get_task(task_name, **(task_options or {}))
    loaded = MODELS.get(model_ref, device=device)
    return evaluate_task(loaded.model, loaded.tokenizer, task, split, limit, seed, batch_size,
                         model_name=loaded.name, progress=progress)


def item_line(item: dict[str, Any], kind: str, id_width: int = 0) -> str:
    """One item of the per-item log: id, ✓/✗, the answer scored vs the reference (shortened)."""
    def _short(text: Any, width: int = 40) -> str:  # quoted, on one line, cut with '…'
        flat = " ".join(str("" if text is None else text).split())
        return f'"{flat if len(flat) <= width else flat[:width - 1] + "…"}"'

    reference = item.get("reference", "")
    if "chosen" in item:  # a choice task scores the likeliest option; the generated letter aside
        answer = (f"{chr(ord('A') + item['chosen'])} (likeliest option; generated "
                  f"{_short(item.get('extracted'), 12)})")
    elif kind.startswith("code"):  # the code written (the program run repeats the prompt's header)
        answer, reference = _short(extract_code(item.get("output", ""))), extract_code(reference)
    else:  # a number task's reference is worked: compare with its final number
        answer = _short(item.get("extracted"))
        reference = extract_final_number(reference) or reference if kind == "number" else reference
    status, detail = item.get("status") or "ok", " ".join(str(item.get("detail") or "").split())
    note = "" if status == "ok" else f"  [{status}{': ' + detail[:60] if detail else ''}]"
    mark = "✓" if item["correct"] else "✗"
    return f"  {item['id']:<{id_width}}  {mark}  {answer} vs {_short(reference)}{note}"
