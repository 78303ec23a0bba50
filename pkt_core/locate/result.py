"""LocateResult: the scores of one locate call, their rankings, and their JSON forms."""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Mapping

import numpy as np

from .config import KINDS, LocateConfig, LocateError

SCORE_KEYS = ("attn_layer_scores", "ffn_layer_scores", "ffn_neuron_scores", "attn_neuron_scores")


def rank_indices(scores: np.ndarray, n: int | None) -> list[int]:
    """The first `n` indices (all when None) by score, descending; ties go to the lower index."""
    # a stable sort: equal scores keep index order
    return np.argsort(-scores, kind="stable")[:n].tolist()


def top_neurons_per_layer(scores: np.ndarray, k: int) -> np.ndarray:
    """[L, width] scores → [L, k] indices of each layer's k best neurons (k ≥ 0)."""
    ranked = [rank_indices(row, k) for row in scores]
    return np.array(ranked, dtype=np.int64).reshape(len(scores), -1)


@dataclass
class LocateResult:
    target_token_ids: list[int]
    attn_layer_scores: np.ndarray  # [L]
    ffn_layer_scores: np.ndarray  # [L]
    ffn_neuron_scores: np.ndarray  # [L, f]
    attn_neuron_scores: np.ndarray  # [L, n_heads * head_dim], index h * head_dim + j
    top_attn_layers: list[int]
    top_ffn_layers: list[int]
    top_ffn_neurons: np.ndarray  # [L, top_k]
    top_attn_neurons: np.ndarray  # [L, top_k]
    used_matrix_cache: bool
    seconds: float
    config: LocateConfig = field(default_factory=LocateConfig)
    # forward / matrices / scoring seconds
    timings: dict[str, float] = field(default_factory=dict)

    def _scores(self, kind: str, what: str) -> np.ndarray:
        if kind not in KINDS:
            raise LocateError(f"kind must be one of {KINDS}, got {kind!r}")
        return getattr(self, f"{kind}_{what}_scores")

    def layer_scores(self, kind: str) -> np.ndarray:
        """[L] (the stored array, not a copy)."""
        return self._scores(kind, "layer")

    def neuron_scores(self, kind: str) -> np.ndarray:
        """[L, width] (the stored array, not a copy)."""
        return self._scores(kind, "neuron")

    @property
    def target_token_id(self) -> int:
        """The first example's target."""
        return self.target_token_ids[0]

    def top_layers(self, kind: str, n: int | None = None) -> list[int]:
        """Layer indices by score, descending; ties go to the lower index."""
        return rank_indices(self.layer_scores(kind), n)

    def top_neurons(self, kind: str, layer: int, n: int) -> list[int]:
        # Raw scores, ties to the lower index (the released code rounds to 4 decimals, so its
        # ~1e-4 scores tie).
        return rank_indices(self.neuron_scores(kind)[layer], n)

    def to_json(self) -> dict[str, Any]:
        return {
            "target_token_id": self.target_token_id,
            "target_token_ids": self.target_token_ids,
            "n_examples": len(self.target_token_ids),
            **{key: getattr(self, key).tolist() for key in SCORE_KEYS},
            "top_attn_layers": self.top_attn_layers,
            "top_ffn_layers": self.top_ffn_layers,
            "top_ffn_neurons": self.top_ffn_neurons.tolist(),
            "top_attn_neurons": self.top_attn_neurons.tolist(),
            "used_matrix_cache": self.used_matrix_cache,
            "seconds": self.seconds,
            "timings": self.timings,
            "config": dict(self.config.__dict__),
        }

    def to_state(self) -> dict[str, Any]:
        """Only what `from_json` needs (target ids, the four score arrays), as JSON-able lists."""
        return {"target_token_ids": list(self.target_token_ids),
                **{key: getattr(self, key).tolist() for key in SCORE_KEYS}}

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, top_k: int = 10) -> LocateResult:
        """The inverse of `to_json`; also reads `to_state`'s dict. Missing top_* fields are ranked
        from the scores as locate ranks them (`top_k` neurons a layer); other bookkeeping gets
        defaults."""
        ids = _target_ids(data)
        scores = _checked_scores(data, ids)
        n_layers = scores["ffn_layer_scores"].shape[0]
        top = _rankings(data, scores, n_layers, max(0, int(top_k)))
        known = {f.name for f in fields(LocateConfig)}
        config = {key: v for key, v in (data.get("config") or {}).items() if key in known}
        return cls([int(t) for t in ids], **scores, **top,
                   used_matrix_cache=bool(data.get("used_matrix_cache")),
                   seconds=float(data.get("seconds", 0.0)),
                   timings=dict(data.get("timings") or {}),
                   config=LocateConfig(**config))


def _target_ids(data: Mapping[str, Any]) -> list:
    """The target ids of a `to_json` / `to_state` dict (or an older one with a single id)."""
    single = [data["target_token_id"]] if "target_token_id" in data else []
    return data.get("target_token_ids", single)


def _checked_scores(data: Mapping[str, Any], ids: list) -> dict[str, np.ndarray]:
    """The four score arrays as float64, after checking that they (and the ids) are there and that
    their shapes agree: [L] layer and [L, width] neuron scores, L ≥ 1."""
    missing = [key for key in SCORE_KEYS if key not in data]
    if not ids:
        missing.append("target_token_ids")
    if missing:
        raise LocateError(f"not a locate result: missing {', '.join(missing)}")
    scores = {key: np.asarray(data[key], dtype=np.float64) for key in SCORE_KEYS}
    n_layers = scores["ffn_layer_scores"].shape[:1]  # (L,), or () for a scalar
    misshapen = any(array.ndim != (1 if "layer" in key else 2) or array.shape[:1] != n_layers
                    for key, array in scores.items())
    if misshapen or not n_layers[0]:  # (not misshapen: then n_layers is (L,))
        raise LocateError("expected [L] layer and [L, width] neuron scores, L ≥ 1; got "
                          + ", ".join(f"{key} {array.shape}" for key, array in scores.items()))
    return scores


def _rankings(data: Mapping[str, Any], scores: dict[str, np.ndarray], n_layers: int,
              n_top: int) -> dict[str, Any]:
    """The top_* fields: those `data` gives win; missing ones are ranked as locate ranks them."""
    top: dict[str, Any] = {}
    for kind in KINDS:
        top[f"top_{kind}_layers"] = rank_indices(scores[f"{kind}_layer_scores"], None)
    for kind in KINDS:
        top[f"top_{kind}_neurons"] = top_neurons_per_layer(scores[f"{kind}_neuron_scores"], n_top)
    for key in top:
        given = data.get(key)
        if given is None:
            continue
        if "neurons" in key:
            top[key] = np.asarray(given, dtype=np.int64).reshape(n_layers, -1)
        else:
            top[key] = [int(i) for i in given]
    return top
