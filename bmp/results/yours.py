"""The learner's own runs beside the recorded ones: where each landed against the recorded front, and why.

A learner's runs are recorded in the ignored scratch folder (:func:`~bmp.results.records.results_dir`:
``$BMP_RESULTS_DIR``, else ``outputs/results``), never in the tracked ``data/results``. :func:`your_runs` loads them
beside the tracked records, keeps those scored on the same split (the others can't share an axis), and reads each
one against the front of the recorded runs at its own speed::

    mine = your_runs(load_records())
    mine.records          # tracked + yours: pass them to the figures and the trade-off widget
    print(mine.report())  # where each of your runs landed, or that none was found
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bmp.results import tradeoff
from bmp.results.records import RESULTS_DIR, load_records, repo_relative, results_dir
from bmp.results.speeds import SpeedSource
from bmp.results.teachers import reference_for


def learner_records(directory: str | Path | None = None) -> list[dict]:
    """The learner's own records, marked (:func:`~bmp.results.tradeoff.is_yours`): those in ``directory`` (default
    :func:`~bmp.results.records.results_dir`, where notebooks and commands record: ``$BMP_RESULTS_DIR``, else the
    ignored ``outputs/results``). None when that folder is missing or is the tracked ``data/results`` (a recorded
    sweep writes there: its runs are the project's, not a learner's)."""
    directory = Path(directory) if directory is not None else results_dir()
    if not directory.is_dir() or directory.resolve() == RESULTS_DIR.resolve():
        return []
    return [{**record, tradeoff.YOURS: True} for record in load_records(directory)]


def with_learner_records(tracked, learner, split: str | None = None) -> tuple[list[dict], list[dict]]:
    """``(records, elsewhere)``: the ``tracked`` records plus the ``learner`` ones scored on the tracked comparison's
    split (``split``, default :func:`~bmp.results.tradeoff.pick_split` of ``tracked``), and the learner's runs scored
    on another split, which can't share an axis with the tracked ones (e.g. smoke runs on the synthetic sample)."""
    tracked = list(tracked)
    split = tradeoff.pick_split(tracked, split)
    same = [r for r in learner if tradeoff.eval_split_of(r) == split]
    elsewhere = [r for r in learner if r.get("kind") in tradeoff.RUN_KINDS and tradeoff.eval_split_of(r) != split]
    return tracked + same, elsewhere


@dataclass(frozen=True)
class Landing:
    """Where one of the learner's runs landed against the recorded front, read at the run's own speed."""

    name: str
    kind: str
    f1: float
    speedup: float | None
    front_f1: float | None  # the recorded front's F1 at this speed; None: faster than every recorded front run
    fastest_recorded: float | None  # the recorded front's top speed
    on_front: bool  # no recorded run is at least as fast and as accurate: it joins the front
    reference_f1: float | None  # its own reference (its teacher, or that teacher's control)
    teacher_f1: float | None  # its own teacher's F1
    recorded_teacher_f1: float | None  # the recorded runs' teacher's
    train_epochs: float | None  # its training after its teacher
    recorded_train_epochs: tuple[float, ...] = ()  # those of the recorded front runs

    @property
    def gap(self) -> float | None:
        """F1 above (> 0) or below (< 0) the recorded front at the run's speed."""
        return None if self.front_f1 is None else self.f1 - self.front_f1

    def describe(self) -> str:
        head = f"your run **{self.name}** ({self.kind}): F1 {self.f1:.1f}"
        if self.speedup is None:
            return f"{head}, no speedup recorded, so it has no place on the speed axis"
        head += f" at {self.speedup:.2f}x"
        if self.front_f1 is None:
            where = ("faster than every recorded front model" + (f" (the fastest is {self.fastest_recorded:.2f}x)"
                     if self.fastest_recorded is not None else "") + ": there is no recorded F1 to read it against")
        else:
            where = (f"the recorded front reaches {self.front_f1:.1f} at that speed, so it lands "
                     f"{abs(self.gap):.1f} F1 {'above' if self.gap >= 0 else 'below'} it")
        joins = ", and joins the front" if self.on_front else ""
        return f"{head}; {where}{joins}." + (f" Why: {'; '.join(self.reasons())}." if self.reasons() else "")

    def reasons(self) -> list[str]:
        """What differs from the recorded runs, as the records say: the teacher, the training, the reference."""
        why = []
        if self.teacher_f1 is not None and self.recorded_teacher_f1 is not None:
            why.append(f"its teacher scored {self.teacher_f1:.1f}, the recorded runs' {self.recorded_teacher_f1:.1f}")
        if self.train_epochs is not None and self.recorded_train_epochs:
            low, high = min(self.recorded_train_epochs), max(self.recorded_train_epochs)
            span = f"{low:g}" if low == high else f"{low:g} to {high:g}"
            why.append(f"it trained {self.train_epochs:g} epoch(s) after its teacher, the recorded front {span}")
        if self.reference_f1 is not None:
            drop = self.reference_f1 - self.f1
            why.append(f"it sits {abs(drop):.1f} F1 {'below' if drop >= 0 else 'above'} its own reference "
                       f"{self.reference_f1:.1f}")
        return why


def landings(records, *, split: str | None = None, speed: SpeedSource | None = None) -> list[Landing]:
    """Where each of the learner's runs in ``records`` (:func:`~bmp.results.tradeoff.is_yours`) landed against the
    front of the tracked runs on the same split, at its own speed (:func:`~bmp.results.tradeoff.front_f1_at`)."""
    picked = tradeoff.pick_split(records, split)
    speed = speed or tradeoff.compared_speed(records, picked)
    every = tradeoff.runs(records, split=picked, speed=speed)
    recorded = [run for run in every if not run.yours]
    recorded_front = tradeoff.front(recorded)
    fastest = max((run.speedup for run in recorded_front), default=None)
    recorded_teacher = tradeoff.teacher_f1(records, picked)
    found = []
    for run in (run for run in every if run.yours):
        own = reference_for(records, run.teacher, picked) if run.teacher is not None else None
        found.append(Landing(
            name=run.name, kind=run.kind, f1=run.f1, speedup=run.speedup,
            front_f1=None if run.speedup is None else tradeoff.front_f1_at(recorded_front, run.speedup),
            fastest_recorded=fastest,
            on_front=run.speedup is not None and run in tradeoff.front(recorded + [run]),
            reference_f1=None if own is None else own.reference_f1,
            teacher_f1=None if own is None else own.teacher_f1, recorded_teacher_f1=recorded_teacher,
            train_epochs=run.train_epochs,
            recorded_train_epochs=tuple(r.train_epochs for r in recorded_front if r.train_epochs is not None)))
    return found


@dataclass(frozen=True)
class YourRuns:
    """The tracked records with the learner's beside them (``records``), the learner's runs scored on another
    split (``elsewhere``), where the comparable ones landed (``landings``), and the folder they came from."""

    directory: Path
    tracked_folder: bool  # the scratch folder is data/results itself (a recorded sweep): nothing of the learner's
    found: int  # records of the learner's, of any kind
    records: list[dict] = field(default_factory=list)
    elsewhere: list[dict] = field(default_factory=list)
    landings: list[Landing] = field(default_factory=list)
    split: str | None = None

    @property
    def names(self) -> list[str]:
        return [landing.name for landing in self.landings]

    def report(self) -> str:
        """Markdown: where each of the learner's runs landed, or why none is shown."""
        where = f"`{repo_relative(self.directory)}`"
        if self.tracked_folder:
            return (f"The results folder is the tracked {where} (`$BMP_RESULTS_DIR` points there): every run in it "
                    "is a recorded one, so there is no run of yours to set apart.")
        lines = []
        if self.landings:
            lines += [f"- {landing.describe()}" for landing in self.landings]
        for record in self.elsewhere:
            lines.append(f"- your run **{record['name']}** ({record['kind']}) was scored on "
                         f"{tradeoff.split_title(tradeoff.eval_split_of(record))}, the recorded runs on "
                         f"{tradeoff.split_title(self.split)}: scores on different splits can't share an axis, so "
                         "it is listed here and not drawn")
        if not lines:
            what = (f"{self.found} record(s) of yours but no packed or filled run" if self.found
                    else "no run of yours")
            return (f"Found {what} in {where}. Notebooks 04 to 06 (`make course`), or `python -m bmp prune` then "
                    "`python -m bmp finalize`, record there; the figures below show the recorded runs only.")
        return f"Your runs, from {where}, against the recorded front:\n\n" + "\n".join(lines)


def your_runs(tracked, directory: str | Path | None = None, *, split: str | None = None) -> YourRuns:
    """The learner's records in ``directory`` (default :func:`~bmp.results.records.results_dir`) beside ``tracked``
    (:func:`with_learner_records`), and where each comparable run landed (:func:`landings`)."""
    directory = Path(directory) if directory is not None else results_dir()
    tracked = list(tracked)
    picked = tradeoff.pick_split(tracked, split)
    is_tracked = directory.resolve() == RESULTS_DIR.resolve()
    learner = learner_records(directory)
    records, elsewhere = with_learner_records(tracked, learner, picked)
    found = landings(records, split=picked) if any(tradeoff.is_yours(r) for r in records) else []
    return YourRuns(directory=directory, tracked_folder=is_tracked, found=len(learner), records=records,
                    elsewhere=elsewhere, landings=found, split=picked)


__all__ = ["Landing", "YourRuns", "landings", "learner_records", "with_learner_records", "your_runs"]
