"""Random models of any supported family, for tests and benchmarks (no downloads).

They are saved through `save_pretrained` and loaded back through the same public loader a user
calls, so the tests exercise the real path. The tokenizer is a small byte-level BPE trained on a
few sentences: enough to round-trip any text.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

# config classes by family; head_dim etc. follow from hidden/heads.
_CONFIGS = {"llama": "LlamaConfig", "mistral": "MistralConfig", "qwen2": "Qwen2Config",
            "qwen3": "Qwen3Config"}
_TOKENIZER_TEXT = ["The capital of Velora is Amrit.", "2 + 3 = 5", "def add(a, b):\n    return a + b",
                   "<|user|>\nQuestion?\n\n<|assistant|>\nAnswer.\n\n"] * 4


def random_config(family: str = "llama", n_layers: int = 2, hidden: int = 64, ffn: int = 172,
                  n_heads: int = 4, n_kv_heads: int | None = None, vocab: int = 512,
                  max_positions: int = 512) -> Any:
    import transformers

    if family not in _CONFIGS:
        raise ValueError(f"no random config for family '{family}'")
    kwargs = dict(vocab_size=vocab, hidden_size=hidden, intermediate_size=ffn,
                  num_hidden_layers=n_layers, num_attention_heads=n_heads,
                  num_key_value_heads=n_kv_heads or n_heads, max_position_embeddings=max_positions,
                  tie_word_embeddings=False, bos_token_id=None, eos_token_id=1, pad_token_id=0)
    if family == "qwen3":
        kwargs["head_dim"] = hidden // n_heads
    return getattr(transformers, _CONFIGS[family])(**kwargs)


def random_model(seed: int = 0, dtype: torch.dtype = torch.float32, **config_kw: Any) -> Any:
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(random_config(**config_kw)).to(dtype)
    return model.eval()


def byte_tokenizer(vocab: int = 300) -> Any:
    """A tiny byte-level BPE tokenizer (id 0 = pad, 1 = EOS) in Hugging Face form."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab, special_tokens=["<|pad|>", "<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(_TOKENIZER_TEXT, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>",
                                   pad_token="<|pad|>")


def save_random_model(out_dir: str | Path, seed: int = 0, **config_kw: Any) -> Path:
    """Write a random model + byte tokenizer as a Hugging Face directory; returns the path."""
    out = Path(out_dir)
    tokenizer = byte_tokenizer()
    config_kw.setdefault("vocab", max(len(tokenizer), 320))
    random_model(seed, **config_kw).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
