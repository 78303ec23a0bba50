"""The one owner of loaded models: a small cache that the UI, transfers, `reproduce` and the CLI
share, so each model is read from disk once.

    MODELS.get(ref)     a shared model, for read-only use (locate, similarity, generation, scoring,
                        and a transfer's teacher)
    MODELS.take(ref)    a model the caller owns and may edit (a transfer's student): it leaves the
                        cache, or is loaded fresh, so a transfer never holds two copies of it and
                        never hands an edited model to the next reader
    MODELS.shape(ref)   the model's shape from its config alone
Every build holds `loading.BUILD_LOCK` (see there for why builds must be serialised).
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Sequence

import torch

from .architectures import ModelShape
from .loading import (BUILD_LOCK, LoadedModel, ModelRef, default_device, import_transformers,
                      inspect_model, load_model, parse_dtype, resolve_ref)

CacheKey = tuple[str, str, str]


class ModelProvider:
    """A least-recently-used cache of loaded models keyed by (location, device, dtype)."""

    def __init__(self, size: int = 6) -> None:
        self.size = size
        self.loads = 0  # models read from disk by this provider (tests and benchmarks read it)
        self._items: OrderedDict[CacheKey, LoadedModel] = OrderedDict()

    @staticmethod
    def _key(mref: ModelRef, device: str | None, dtype: Any) -> CacheKey:
        where = str(mref.path.resolve()) if mref.path else f"hub:{mref.hub_id}"
        where = f"shuffled:{where}" if mref.shuffled else where  # a control is another model
        device = device or default_device()  # so None and the default it means share one entry
        device = "cuda:0" if device == "cuda" else device  # as placement_kwargs places it
        return where, device, str(parse_dtype(dtype, device))

    def _load(self, mref: ModelRef, device: str | None, dtype: Any) -> LoadedModel:
        loaded = load_model(mref, device, dtype)
        self.loads += 1
        return loaded

    def get(self, ref: str, device: str | None = None, dtype: str | torch.dtype | None = None
            ) -> LoadedModel:
        """A shared model; callers must not change its weights (use `take` for that)."""
        import_transformers()
        mref = resolve_ref(ref)
        key = self._key(mref, device, dtype)
        with BUILD_LOCK:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            loaded = self._load(mref, device, dtype)
            self._items[key] = loaded
            while len(self._items) > self.size:
                self._items.popitem(last=False)
            return loaded

    def take(self, ref: str, device: str | None = None, dtype: str | torch.dtype | None = None
             ) -> LoadedModel:
        """A model the caller owns: removed from the cache when it is there, else loaded."""
        import_transformers()
        mref = resolve_ref(ref)
        with BUILD_LOCK:
            cached = self._items.pop(self._key(mref, device, dtype), None)
            return cached if cached is not None else self._load(mref, device, dtype)

    def loaded_bytes(self, placed: Sequence[tuple[str | None, str | None]],
                     dtype: str | torch.dtype | None = None) -> int:
        """Bytes of weights already loaded for these (reference, device) pairs: memory a transfer of
        theirs reuses rather than needs anew (the free-memory check credits it). A model named
        twice on one device counts once: `take` removes it, so the other use loads a copy."""
        keys = set()
        for ref, device in placed:
            if not ref:
                continue
            try:
                keys.add(self._key(resolve_ref(ref), device, dtype))
            except ValueError:  # not a model reference: nothing is loaded for it
                continue
        return sum(p.numel() * p.element_size() for key in keys if key in self._items
                   for p in self._items[key].model.parameters())

    def shape(self, ref: str) -> ModelShape:
        return inspect_model(ref)

    def cached(self) -> list[str]:
        """What is loaded now (for a status line and for tests)."""
        return [key[0] for key in self._items]

    def clear(self) -> None:
        with BUILD_LOCK:
            self._items.clear()


MODELS = ModelProvider()
