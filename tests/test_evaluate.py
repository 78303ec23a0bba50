"""The evaluation harness: batched greedy generation, likelihood scoring, per-item logs."""
from __future__ import annotations

import pytest
import torch

from pkt_core.evaluate import EvaluationError, continuation_logprobs, evaluate_task, generate
from pkt_core.models import load_model
from pkt_core.tasks import Example
from pkt_core.tasks.base import Task


@pytest.fixture(scope="module")
def llama(tiny_models):
    return load_model(str(tiny_models["llama"]))


def test_batched_left_padded_generation_equals_one_by_one(llama):
    prompts = ["a", "The capital of Velora is", "def add(a, b):"]
    batched = generate(llama.model, llama.tokenizer, prompts, max_new_tokens=6, batch_size=3,
                       stop_strings=())
    single = [generate(llama.model, llama.tokenizer, [p], max_new_tokens=6, stop_strings=())[0]
              for p in prompts]
    assert batched == single


def test_empty_prompt_is_refused(llama):
    with pytest.raises(EvaluationError, match="empty prompt"):
        generate(llama.model, llama.tokenizer, ["  "])


def test_continuation_logprob_matches_a_direct_computation(llama):
    tok, model = llama.tokenizer, llama.model
    ctx, cont = "The capital", " of Velora"
    got = continuation_logprobs(model, tok, [(ctx, cont), ("x", "yz")])[0]
    ids = tok(ctx)["input_ids"] + tok(cont, add_special_tokens=False)["input_ids"]
    n_ctx = len(tok(ctx)["input_ids"])
    with torch.no_grad():
        logp = torch.log_softmax(model(torch.tensor([ids])).logits[0], -1)
    want = sum(logp[i - 1, ids[i]].item() for i in range(n_ctx, len(ids)))
    assert got == pytest.approx(want, abs=1e-4)


class _ChoiceTask(Task):
    name, kind, chance = "toy-choice", "choice", 0.25

    def load_examples(self):
        return [Example(f"c{i}", f"Pick {i}", "A. yes",
                        {"option_texts": [" yes", " no", " maybe", " never"], "correct": i % 4},
                        source_split="test") for i in range(8)]


def test_choice_tasks_are_scored_by_likelihood_with_the_letter_score_beside(llama):
    result = evaluate_task(llama.model, llama.tokenizer, _ChoiceTask(), limit=8, model_name="m")
    assert result.n == 8 and 0 <= result.score <= 1
    assert result.extra["scored_by"].startswith("option likelihood")
    assert 0 <= result.extra["letter_score"] <= 1
    item = result.items[0]
    assert {"prompt", "output", "extracted", "correct", "option_logprobs", "chosen"} <= item.keys()
    # the verdict follows the chosen option
    assert all(it["correct"] == (it["chosen"] == int(it["id"][1:]) % 4) for it in result.items)


def test_bad_limit_is_refused(llama):
    with pytest.raises(EvaluationError, match="limit"):
        evaluate_task(llama.model, llama.tokenizer, _ChoiceTask(), limit=0)


@pytest.mark.parametrize("family", ["embedded", "llama", "qwen3"])
def test_the_one_decoding_loop_matches_transformers_generate(tiny_models, family):
    """`generate` (and `stream_generate`, the same loop) give what transformers' own greedy
    generate gives, on a left-padded batch of different lengths (positions, cache, stop rules)."""
    from pkt_core.evaluate import stream_generate
    from pkt_core.models import load_model
    from pkt_core.tasks.base import STOP_STRINGS, cut_at_stop

    from pkt_core.tasks import get_task

    # the shipped student (trained: its answers depend on every position) and random GQA models
    loaded = load_model("pkt-tiny-student" if family == "embedded" else str(tiny_models[family]))
    tok, model = loaded.tokenizer, loaded.model
    arith = [get_task("arith").prompt(ex) for ex in get_task("arith").split("test")[:2]]
    prompts = ["The capital of Velora is", "2 + 3 =", *arith, "def add(a, b):\n    return"]
    ours = generate(model, tok, prompts, max_new_tokens=24, batch_size=8)
    tok.padding_side = "left"
    enc = tok(prompts, return_tensors="pt", padding=True)
    out = model.generate(**enc, max_new_tokens=24, do_sample=False, pad_token_id=tok.pad_token_id,
                         stop_strings=list(STOP_STRINGS), tokenizer=tok)
    theirs = [cut_at_stop(t) for t in tok.batch_decode(out[:, enc["input_ids"].shape[1]:],
                                                       skip_special_tokens=True)]
    assert ours == theirs and any(ours)
    streamed = list(stream_generate(model, tok, prompts[2], max_new_tokens=24))
    assert streamed and streamed[-1] == ours[2] and len(streamed) > 1
