"""The small finished runs shipped under assets/runs, so Compare and Runs are alive on a
visitor's first load (`python -m pkt_core zoo examples`).

Size policy (assets/ must stay small): checkpoints/ and adapter/ are dropped; model/ is kept only
for `keep_weights` (what Compare needs) and rewritten in bf16 — the embedded student is stored in
bf16 already, so only the transferred change is rounded. The stored model is scored again on the
same items and the score written beside the original in metrics.json, so what the page shows is
what the shipped weights do. Other runs keep config, log, metrics and artifacts without weights.
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from ..infra import paths
from ..evaluate import evaluate_task
from ..models import load_model
from ..models.loading import embedded_pair
from ..paradigms import compared_paradigms, get_paradigm, paradigm_names
from ..infra.runs import RunDir
from ..tasks import get_task
from ..transfer import TransferRequest, run_transfer


def _to_bf16(model_dir: Path) -> None:
    """Rewrite a saved model's safetensors in bf16 (the embedded family is stored so too)."""
    from safetensors.torch import load_file, save_file

    for path in sorted(model_dir.glob("*.safetensors")):
        tensors = {k: (v.to(torch.bfloat16) if v.is_floating_point() else v).contiguous()
                   for k, v in load_file(path).items()}
        save_file(tensors, str(path), metadata={"format": "pt"})


def _dir_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def _slim(run_dir: Path, keep: bool, task: str, eval_limit: int, seed: int) -> str:
    """Apply the size policy to one finished run; return the note stored beside it."""
    for folder in ("checkpoints", "adapter"):
        shutil.rmtree(run_dir / folder, ignore_errors=True)
    run = RunDir(run_dir)
    metrics = run.read_json("metrics.json", {})
    if keep:
        _to_bf16(run_dir / "model")
        stored = load_model(str(run_dir))  # read back as shipped, not through the shared cache
        res = evaluate_task(stored.model, stored.tokenizer, get_task(task), "test", eval_limit, seed)
        metrics["stored_weights"] = {"dtype": "bfloat16", "score": res.score, "n": res.n,
                                     "note": "score of the shipped bf16 weights on the same items"}
        note = "weights stored in bf16; checkpoints and adapter removed to keep assets/ small"
    else:
        shutil.rmtree(run_dir / "model", ignore_errors=True)
        note = "weights not shipped (config, log, metrics and artifacts only) to keep assets/ small"
    run.write_json("metrics.json", metrics)
    return note


def build_example_runs(out: str | Path | None = None, teacher: str | None = None,
                       student: str | None = None, task: str = "facts",
                       paradigms: Sequence[str] | None = None,
                       keep_weights: Sequence[str] | None = None,
                       settings: dict[str, dict[str, Any]] | None = None, eval_limit: int = 50,
                       seed: int = 0, overwrite: bool = False,
                       progress: Callable[[str], None] | None = print) -> dict[str, Any]:
    """One small finished run per paradigm (each with its own `example_settings`). Weights are
    kept for `keep_weights` (default: the paradigms with a Compare column, which loads them)."""
    say = progress or (lambda message: None)
    keep_weights = compared_paradigms() if keep_weights is None else keep_weights
    if teacher is None or student is None:
        pair = embedded_pair()
        if pair is None:
            raise FileNotFoundError("the embedded family is not built (python -m pkt_core zoo build)")
        teacher, student = teacher or pair[0], student or pair[1]
    root = paths.example_runs_dir() if out is None else Path(out)  # default: the shipped ones
    root.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {"out": str(root), "runs": {}}
    for paradigm in paradigms or paradigm_names():
        run_dir = root / f"example-{paradigm}-{task}"
        if run_dir.exists() and not overwrite:
            say(f"{run_dir} exists; kept (overwrite=True rebuilds it)")
            summary["runs"][paradigm] = {"path": str(run_dir), "skipped": True}
            continue
        shutil.rmtree(run_dir, ignore_errors=True)
        started = time.perf_counter()
        say(f"{paradigm}: running on {teacher} → {student}, task {task}")
        spec = get_paradigm(paradigm)
        req = TransferRequest(paradigm=paradigm, student=student, teacher=teacher, task=task,
                              settings={**spec.example_settings, **(settings or {}).get(paradigm, {})},
                              preset=spec.example_preset, seed=seed, out=str(run_dir),
                              eval_limit=eval_limit)
        result = run_transfer(req)
        note = _slim(run_dir, paradigm in keep_weights, task, eval_limit, seed)
        RunDir(run_dir).write_json("example.json", {
            "built_by": "python -m pkt_core zoo examples", "note": note, "settings": req.settings,
            "preset": req.preset, "eval_limit": eval_limit})
        stored = RunDir(run_dir).read_json("metrics.json", {}).get("stored_weights", {})
        summary["runs"][paradigm] = {
            "path": str(run_dir), "base": result.metrics["base"]["score"],
            "result": result.metrics["result"]["score"], "stored": stored.get("score"),
            "mb": round(_dir_mb(run_dir), 2), "seconds": round(time.perf_counter() - started, 1)}
        say(f"{paradigm}: {summary['runs'][paradigm]}")
    summary["total_mb"] = round(_dir_mb(root), 2)
    return summary
