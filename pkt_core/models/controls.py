"""Control models: a model with its knowledge destroyed but its statistics kept.

`shuffled:REF` names REF with the entries of every weight matrix permuted by a seeded permutation
(one per matrix, seeded by the matrix's name): shapes, Frobenius norms and the distribution of
values are exactly the teacher's, the arrangement that stores what it knows is gone. A transfer
from `shuffled:REF` is the control for a transfer from REF: what it gains, the teacher's
knowledge did not bring. Built in memory when loaded; nothing is written to disk.
"""
from __future__ import annotations

import zlib

import torch

PREFIX = "shuffled:"
SEED = 0  # one fixed control per model, so runs that name it compare the same weights


def split_control(text: str) -> tuple[bool, str]:
    """('shuffled:REF') → (True, 'REF'); anything else → (False, text)."""
    if text.startswith(PREFIX):
        return True, text[len(PREFIX):].strip()
    return False, text


@torch.no_grad()
def shuffle_weights(model: torch.nn.Module, seed: int = SEED) -> int:
    """Permute the entries of every weight matrix (ndim ≥ 2) in place; returns how many.

    Tied matrices (an lm_head sharing the embedding) are shuffled once, as one tensor."""
    seen: set[int] = set()
    for name, param in model.named_parameters(remove_duplicate=True):
        if param.ndim < 2 or id(param) in seen:
            continue
        seen.add(id(param))
        generator = torch.Generator(device="cpu").manual_seed(seed + zlib.crc32(name.encode()))
        order = torch.randperm(param.numel(), generator=generator).to(param.device)
        param.copy_(param.reshape(-1)[order].reshape(param.shape))
    return len(seen)
