"""Shared test setup: never reach for the network, and keep tokenizers from spawning threads on 2 cores.

Under pytest-xdist (``make test`` runs the tests and the notebooks in one session on every core) each worker keeps
torch to one thread, so the workers share the cores instead of fighting over them; a test module's tests stay on one
worker, so its module fixtures are built once; and the notebooks stay together on one worker, in the course's order
(a notebook reuses the run of the one before it), while the tests fill the others."""
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


def pytest_xdist_make_scheduler(config, log):
    """pytest-xdist's scheduling by module, with every notebook in one unit, in collection order."""
    from xdist.scheduler import LoadScopeScheduling

    class ModulesAndTheCourse(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return "notebooks" if path.endswith(".ipynb") else path

    return ModulesAndTheCourse(config, log)
