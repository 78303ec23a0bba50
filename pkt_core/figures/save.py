"""Standalone offline HTML of a figure, with its data as JSON beside it."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import plotly.graph_objects as go


def _jsonable(obj: Any) -> Any:
    if hasattr(obj, "to_json") and callable(obj.to_json):
        obj = obj.to_json()
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def save_figure(fig: go.Figure, path_html: str | Path, data: Any = None) -> tuple[Path, Path | None]:
    """Write `x.html` (plotly.js embedded, so it opens offline) and, given data, `x.json` beside it.

    `data` may be a JSON-ready dict or a result object with `.to_json()`. Returns both paths.
    """
    path = Path(path_html)
    if path.suffix.lower() != ".html":
        path = path.with_name(path.name + ".html")
    path.parent.mkdir(parents=True, exist_ok=True)
    # A fixed div id makes the file a function of the figure alone: the same download prepared
    # twice is the same bytes, which Gradio's content-hashed cache stores once (a random id
    # made every click of "Prepare downloads" add another 5 MB copy of plotly.js).
    fig.write_html(path, include_plotlyjs=True, full_html=True, div_id=path.stem.replace(".", "-"))
    if data is None:
        return path, None
    json_path = path.with_suffix(".json")
    json_path.write_text(json.dumps(_jsonable(data), indent=2, allow_nan=False), encoding="utf-8")
    return path, json_path
