"""LocateCache: the B matrices kept across locate calls, checked against their weights."""
from __future__ import annotations

import weakref
from typing import Callable

import torch
import torch.nn as nn


def weights_fingerprint(*tensors: torch.Tensor) -> tuple:
    """Storage pointer, version counter, shape, dtype and float64 sum of each tensor."""
    # float64 sum: any real change of an fp32 weight (≥ 1 ulp) moves it, even a 1e-9 injection
    return tuple((t.data_ptr(), t._version, tuple(t.shape), t.dtype,
                  float(t.detach().sum(dtype=torch.float64))) for t in tensors)


class LocateCache:
    """B matrices (stored transposed, [neurons, V], fp32) kept across calls, per model and layer.

    Keyed by model identity (weakly: entries die with the model) and layer, and validated by a
    fingerprint of the weights they came from: storage pointer, autograd version counter (catches
    in-place edits such as `W[idx] += d`) and a float64 sum (catches edits through `.data`, which
    bypass the version counter). Holds at most `max_mb` (default: half the call's memory budget).
    """

    def __init__(self, max_mb: float | None = None) -> None:
        self.max_mb = max_mb
        # model → {layer: (fingerprint, {kind: Bᵀ})}
        self._store: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    @property
    def nbytes(self) -> int:
        return sum(B.nbytes for per_model in self._store.values()
                   for _, matrices in per_model.values() for B in matrices.values())

    def clear(self) -> None:
        self._store.clear()

    def get_or_compute(self, model: nn.Module, layer: int, shared_fingerprint: tuple,
                       weights: dict[str, torch.Tensor], size: int, cap: float,
                       compute: Callable[[], dict[str, torch.Tensor]]
                       ) -> dict[str, torch.Tensor] | None:
        """{kind: Bᵀ} of a layer from the cache, computed and stored if it fits, else None.

        `shared_fingerprint` covers the weights every layer's B depends on (W_U, g), `weights` the
        layer's own; `size` is the bytes `compute()` would add, `cap` the cache's limit in bytes.
        """
        per_model = self._store.setdefault(model, {})
        entry = per_model.get(layer)
        if entry is None and self.nbytes + size > cap:
            return None  # would not fit: skip even the fingerprint
        fingerprint = shared_fingerprint + weights_fingerprint(*weights.values())
        if entry is not None and entry[0] == fingerprint:
            return entry[1]
        per_model.pop(layer, None)  # stale: the weights changed since
        if self.nbytes + size > cap:
            return None
        per_model[layer] = (fingerprint, compute())
        return per_model[layer][1]
