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


def pytest_collection_modifyitems(items):
    """The notebooks first, then the modules holding slow or browser tests, then the rest (each group in collection
    order): under pytest-xdist the longest units start first instead of trailing at the end."""
    slow = {item.path for item in items if item.get_closest_marker("slow") or item.get_closest_marker("browser")}
    items.sort(key=lambda item: 0 if item.path.suffix == ".ipynb" else 1 if item.path in slow else 2)


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist: without it installed, never called
def pytest_xdist_make_scheduler(config, log):
    """pytest-xdist's scheduling by module, with every notebook in one unit, in the order collected; another ``--dist``
    than the default keeps its own scheduler."""
    if config.getvalue("dist") not in ("load", "loadscope", "loadfile"):
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ModulesAndTheCourse(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return "notebooks" if path.endswith(".ipynb") else path

    config.option.loadscopereorder = False  # the order above, not the units' sizes
    return ModulesAndTheCourse(config, log)
