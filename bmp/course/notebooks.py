"""What the notebooks call: where the course keeps its runs and outputs, the setup every training notebook shares,
the exercises' reference solutions, and the measured time of each notebook.

Figures land in the same folder whether a notebook runs under the headless runner (:mod:`bmp.course.runner`),
under ``pytest --nbmake`` or in JupyterLab.
"""
from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from bmp.profiles import REPO_ROOT

OUTPUT_ENV = "BMP_OUTPUT_DIR"
DEFAULT_OUTPUT = "outputs"
SOLUTIONS_ENV = "BMP_SOLUTIONS"  # "1": the exercises' stubs are replaced by the reference solutions (headless runs)
SOLUTIONS_DIR = REPO_ROOT / "notebooks" / "solutions"


# ---------------------------------------------------------------- outputs (used inside the notebooks)

@dataclass(frozen=True)
class CourseRun:
    """Where the course keeps notebook 04's teacher and notebook 05's pruned run, so 05 and 06 agree."""

    teacher: Path  # the teacher's final folder
    name: str  # notebook 05's run (and record) name
    run_dir: Path
    lam: float  # the L1 weight the run prunes with
    score_lr: float  # the scores' learning rate

    @property
    def pruned(self) -> Path:
        return self.run_dir / "final"


def course_run(profile, preset: str, lam: float | None = None, score_lr: float | None = None) -> CourseRun:
    """Notebook 05's run for ``profile`` and ``preset``; ``lam`` and ``score_lr`` default to the profile's
    ``prune_lambda`` and ``score_learning_rate``, as in ``python -m bmp.training.prune``. (Runs recorded before the
    course was renumbered are named ``nb04-...``.)"""
    lam = float(lam if lam is not None else profile.prune_lambda)
    score_lr = float(score_lr if score_lr is not None else profile.score_learning_rate)
    name = f"course-{preset}-lam{lam:g}-{profile.name}"
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




# ---------------------------------------------------------------- exercises

def solutions_enabled() -> bool:
    """True when ``$BMP_SOLUTIONS`` is "1" (headless runs: ``python -m bmp course``, ``make test``)."""
    return os.environ.get(SOLUTIONS_ENV) == "1"


def solution(notebook: str, name: str, directory: str | Path | None = None):
    """The reference solution ``name`` of ``notebook``'s exercise, from ``notebooks/solutions/<notebook>.py``.

    A learner's notebook ships with stubs that raise ``NotImplementedError``; headless runs set
    ``BMP_SOLUTIONS=1`` and replace each stub with this."""
    folder = Path(directory) if directory is not None else SOLUTIONS_DIR
    path = folder / f"{notebook}.py"
    if not path.is_file():
        have = sorted(p.stem for p in folder.glob("*.py")) if folder.is_dir() else []
        raise FileNotFoundError(f"no solutions file {path} for notebook {notebook!r}"
                                + (f"; there are solutions for {', '.join(have)}" if have else ""))
    spec = importlib.util.spec_from_file_location(f"bmp_solutions_{notebook}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not hasattr(module, name):
        defined = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_")
                         and getattr(v, "__module__", None) == module.__name__)
        raise AttributeError(f"{path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path} has no "
                             f"{name!r}; it defines {', '.join(defined) or 'nothing callable'}")
    return getattr(module, name)


# ---------------------------------------------------------------- measured times

# notebooks made by splitting an older one -> the notebook whose recorded time covered them all
SPLIT_FROM = {"03_squad_data_and_metric": "03_squad_finetuning", "04_teacher_finetuning": "03_squad_finetuning"}


def _topic(stem: str) -> str:
    """``"05_finalization"`` -> ``"finalization"``: records made before a renumbering still match by topic."""
    number, _, topic = stem.partition("_")
    return topic if number.isdigit() and topic else stem


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 60 else f"{seconds / 60:.1f} min"


def _newest_time(records: list[dict], topic: str):
    """``(notebook stem as recorded, seconds, record)`` of the newest recorded time of ``topic``, or None."""
    found = None
    for r in sorted(records, key=lambda r: r.get("provenance", {}).get("date", "")):  # the newest wins
        for stem, seconds in r.get("metrics", {}).get("notebooks_s", {}).items():
            if _topic(stem) == topic:
                found = (stem, seconds, r)
    return found


def time_banner(notebook: str, what: str | None = None, profile: str = "course",
                records: list[dict] | None = None) -> str:
    """One line saying how long ``notebook`` (e.g. ``"04_teacher_finetuning"``) took when the course was timed,
    read from the ``course-times`` records in ``data/results`` (``python -m bmp course`` writes them) for
    ``profile``; ``what`` names a slow cell the line is printed before. Never a number typed by hand: a notebook
    no record covers is "not timed yet"."""
    from bmp.results.records import RESULTS_DIR, hardware_label, load_records

    if records is None:
        records = load_records(RESULTS_DIR, kind="course-times") if RESULTS_DIR.is_dir() else []
    rows = [r for r in records if r.get("kind") == "course-times"
            and r.get("provenance", {}).get("profile") == profile]
    lead = f"{what}; " if what else ""
    scope = "the whole notebook " if what else ""

    def measured(stem, seconds, r) -> str:
        prov = r.get("provenance", {})
        return (f"{_duration(seconds)} on {hardware_label(prov.get('hardware', {}))} ({profile} profile, "
                f"{prov.get('date', '?')[:10]})")

    found = _newest_time(rows, _topic(notebook))
    if found is not None:
        stem, seconds, r = found
        renamed = "" if stem == notebook else f"; timed as {stem}, before the notebooks were renumbered"
        return f"{lead}{scope}measured{'' if what else ':'} {measured(stem, seconds, r)}{renamed}"
    parent = next((old for new, old in SPLIT_FROM.items() if _topic(new) == _topic(notebook)), None)
    earlier = _newest_time(rows, _topic(parent)) if parent else None
    if earlier is not None:
        stem, seconds, r = earlier
        together = " and ".join(sorted(new for new, old in SPLIT_FROM.items() if old == parent))
        return (f"{lead}not timed since the split: before it, {stem} (now {together}) measured "
                f"{measured(stem, seconds, r)}")
    return f"{lead}not timed yet under the {profile} profile (python -m bmp course --profile {profile} times it)"
