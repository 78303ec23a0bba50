"""Shared fixtures. Tests never touch the network: the hub is forced offline before any import."""
from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# OpenMP's default spin-waiting makes small matmuls 10–1000× slower on a busy 2-core machine.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(2)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `cuda` run wherever CUDA is present and are skipped, saying why, elsewhere."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (none here); benchmarks/gpu_check.sh runs these")
    for item in items:
        if item.get_closest_marker("cuda") is not None:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Random tiny models of every supported family, saved in Hugging Face format."""
    from pkt_core.models.synthetic import save_random_model

    root = tmp_path_factory.mktemp("tiny_models")
    dirs = {
        "llama": save_random_model(root / "llama", family="llama"),
        "mistral": save_random_model(root / "mistral", family="mistral", n_kv_heads=2),
        "qwen2": save_random_model(root / "qwen2", family="qwen2", n_kv_heads=2),
        "qwen3": save_random_model(root / "qwen3", family="qwen3", n_kv_heads=1),
        "llama_deep": save_random_model(root / "llama_deep", family="llama", n_layers=4,
                                        hidden=96, ffn=256, n_heads=4),
    }
    return dirs
