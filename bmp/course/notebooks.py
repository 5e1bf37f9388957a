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
from bmp.results.run_id import RunId

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
    name = RunId(preset, lam, profile=profile.name, prefix="course").name
    runs = REPO_ROOT / "runs"
    return CourseRun(runs / f"teacher-{profile.name}" / "final", name, runs / name, lam, score_lr)


@dataclass(frozen=True)
class CourseSetup:
    """What notebooks 05 and 06 start from: the profile, notebook 05's run folders, the tokenizer and the data."""

    profile: object  # bmp.profiles.Profile
    run: CourseRun
    preset: str
    tokenizer: object
    data: object  # bmp.training.evaluation.QAData


def course_setup(profile_name: str, preset: str, lam: float | None = None,
                 score_lr: float | None = None) -> CourseSetup:
    """The setup cell of notebooks 05 and 06: the profile, quiet logs and the plot theme, the run's folders, the
    tokenizer and the tokenized data, with a line on each."""
    from bmp.models import load_tokenizer
    from bmp.profiles import get_profile
    from bmp.training.evaluation import prepare_data

    profile = get_profile(profile_name)
    notebook_setup(profile)
    run = course_run(profile, preset, lam, score_lr)
    tokenizer = load_tokenizer(profile.model)
    data = prepare_data(profile, tokenizer)
    print(f"profile {profile.name}: {data}")
    print(f"split: {data.splits.description}")
    print(f"this run: {_shown(run.run_dir)} (teacher {_shown(run.teacher)})")
    return CourseSetup(profile, run, preset, tokenizer, data)


@dataclass(frozen=True)
class BaseSetup:
    """What notebooks 03 and 04 start from: the profile, the untrained base model with a fresh QA head, its
    tokenizer and name, and the tokenized data."""

    profile: object  # bmp.profiles.Profile
    model: object  # the base model with a freshly initialised QA head
    tokenizer: object
    base_name: str
    data: object  # bmp.training.evaluation.QAData


def base_setup(profile_name: str) -> BaseSetup:
    """The setup cell of notebooks 03 and 04: the profile, quiet logs and the plot theme, the base model, its
    tokenizer and the tokenized data, with a line on each."""
    from bmp.models import load_profile_model
    from bmp.profiles import get_profile
    from bmp.training.evaluation import prepare_data

    profile = get_profile(profile_name)
    notebook_setup(profile)  # quiet logs (a fresh QA head and an unused pooler are expected, not news); plot theme
    model, tokenizer, base_name = load_profile_model(profile)
    data = prepare_data(profile, tokenizer)
    print(f"profile {profile.name}: base model {base_name!r}, max_seq_length {profile.max_seq_length}, doc_stride "
          f"{profile.doc_stride}, {profile.epochs:g} epoch(s), batch {profile.batch_size}, learning rate "
          f"{profile.learning_rate:g}")
    print(data)
    print("split:", data.splits.description)
    return BaseSetup(profile, model, tokenizer, base_name, data)


def ensure_teacher(setup: CourseSetup) -> Path:
    """Notebook 04's teacher folder; when it is missing, the teacher is trained here first, as notebook 04 does
    (seconds under ``smoke``; under ``course``, the time notebook 04's banner gives)."""
    teacher = setup.run.teacher
    if not (teacher / "config.json").is_file():
        from bmp.training.finetune import finetune_dense

        print(time_banner("04_teacher_finetuning", what="no teacher on disk, so it is trained here (notebook 04's "
                                                        "training cell)"))
        print(f"no teacher in {_shown(teacher)}: training one now with finetune_dense (notebook 04 does the same "
              "and explains it)")
        finetune_dense(setup.profile, output_dir=teacher.parent, data=setup.data)
    return teacher


def ensure_pruned(setup: CourseSetup) -> Path:
    """Notebook 05's pruned folder; when it is missing, it is pruned here with notebook 05's recipe (and the teacher
    trained first, if that is missing too)."""
    ensure_teacher(setup)
    run = setup.run
    if not (run.pruned / "config.json").is_file():
        from bmp.training.prune import prune_run, recipe_for

        print(time_banner("05_pruning_with_distillation", what="no pruned model on disk, so it is pruned here"))
        print(f"no pruned model in {_shown(run.pruned)} (notebook 05 makes it): pruning now")
        prune_run(run.teacher, recipe_for(setup.preset, run.lam, score_lr=run.score_lr), setup.profile,
                  run.run_dir, data=setup.data, name=run.name)  # the record names the teacher's base
    return run.pruned


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


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
