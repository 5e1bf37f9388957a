"""What the notebooks call: where the course keeps its runs and outputs, and the setup every training notebook shares.

Figures land in the same folder whether a notebook runs under the headless runner (:mod:`bmp.course.runner`),
under ``pytest --nbmake`` or in JupyterLab.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from bmp.profiles import REPO_ROOT

OUTPUT_ENV = "BMP_OUTPUT_DIR"
DEFAULT_OUTPUT = "outputs"


# ---------------------------------------------------------------- outputs (used inside the notebooks)

@dataclass(frozen=True)
class CourseRun:
    """Where the course keeps notebook 03's teacher and notebook 04's pruned run, so 04 and 05 agree."""

    teacher: Path  # the teacher's final folder
    name: str  # notebook 04's run (and record) name
    run_dir: Path
    lam: float  # the L1 weight the run prunes with
    score_lr: float  # the scores' learning rate

    @property
    def pruned(self) -> Path:
        return self.run_dir / "final"


def course_run(profile, preset: str, lam: float | None = None, score_lr: float | None = None) -> CourseRun:
    """Notebook 04's run for ``profile`` and ``preset``; ``lam`` and ``score_lr`` default to the profile's
    ``prune_lambda`` and ``score_learning_rate``, as in ``python -m bmp.training.prune``."""
    lam = float(lam if lam is not None else profile.prune_lambda)
    score_lr = float(score_lr if score_lr is not None else profile.score_learning_rate)
    name = f"nb04-{preset}-lam{lam:g}-{profile.name}"
    runs = REPO_ROOT / "runs"
    return CourseRun(runs / f"teacher-{profile.name}" / "final", name, runs / name, lam, score_lr)


def notebook_setup(profile) -> None:
    """What a training notebook sets first: library logs and progress bars are quieted, and plots get the course's
    theme. (A notebook's records go to the ignored ``outputs/results``, as every run's do by default.)"""
    import datasets
    import pandas as pd
    import seaborn as sns
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    datasets.disable_progress_bars()
    sns.set_theme(style="whitegrid")
    pd.set_option("display.max_colwidth", 120)


def output_dir() -> Path:
    """``$BMP_OUTPUT_DIR`` or ``outputs/``; a relative path is taken from the repository root, not the kernel's cwd."""
    path = Path(os.environ.get(OUTPUT_ENV, DEFAULT_OUTPUT))
    return path if path.is_absolute() else REPO_ROOT / path


def save_figure(fig, name: str, dpi: int = 120) -> Path:
    """Save ``fig`` as ``<output>/figures/<name>.png`` and return the path (the notebook still shows it inline)."""
    path = output_dir() / "figures" / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path


