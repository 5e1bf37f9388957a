"""Shared test setup: never reach for the network, and keep tokenizers from spawning threads on 2 cores. Under
pytest-xdist (``make test`` runs two workers) each worker keeps torch to one thread, so the workers share the cores
instead of fighting over them."""
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
if os.environ.get("PYTEST_XDIST_WORKER"):
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parents[1]
