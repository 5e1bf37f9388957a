"""What a learner should expect from `make course`: the course's own default run, recorded at several seeds.

``scripts/expected_run.sh`` records it in ``data/results/expected``: notebook 04's teacher, notebook 05's run
(hybrid at the course profile's λ and pruning epochs) and notebook 06's fill, the default seed being `make course`
itself (its records adopted from the learner's folder by :func:`adopt`) and the other seeds the same settings from
the command line. :func:`expected` reads them back, with the course's recorded wall time::

    print(expected())  # "expect about <F1> (<low>-<high> over <n> seeds) ..., at <speedup>x ..., after about <m> min"

    python -m bmp expected                          # that sentence, from the records
    python -m bmp expected adopt --from outputs/results --to data/results/expected \
        --teacher runs/teacher-course/final --run course-hybrid-lam20-course
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
from dataclasses import dataclass
from pathlib import Path

from bmp.profiles import SEED
from bmp.results.records import (
    PREDICTIONS_KEY,
    RESULTS_DIR,
    load_records,
    predictions_path,
    record_path_of,
    repo_relative,
    teacher_record,
)
from bmp.results.run_id import seed_in, without_seed

EXPECTED_DIR = RESULTS_DIR / "expected"


def _seed(name: str) -> int:
    """The seed a run's name spells; the default one (`make course`'s) when it spells none."""
    seed = seed_in(name)
    return SEED if seed is None else seed


@dataclass(frozen=True)
class Expected:
    """The course's default run over its recorded seeds: the filled model's held-out F1 and CPU speedup, its
    teacher's F1 and the course's recorded wall time."""

    name: str  # the run's name without its seed part
    f1: tuple[float, ...]  # per seed, the filled model's held-out F1
    speedup: tuple[float, ...]  # per seed, against the dense teacher, in the run's own timing
    seeds: tuple[int, ...]
    teacher_f1: float | None
    course_minutes: float | None  # the newest recorded `make course` (its course-times record)
    questions: int

    @property
    def mean_f1(self) -> float:
        return statistics.fmean(self.f1)

    @property
    def mean_speedup(self) -> float:
        return statistics.fmean(self.speedup)

    def __str__(self) -> str:
        spread = (f" ({min(self.f1):.1f}-{max(self.f1):.1f} over {len(self.seeds)} seeds)" if len(self.seeds) > 1
                  else " (one seed)")
        teacher = f"; its teacher scores {self.teacher_f1:.1f}" if self.teacher_f1 is not None else ""
        minutes = f", after about {self.course_minutes:.0f} min of `make course`" if self.course_minutes else ""
        return (f"expect about {self.mean_f1:.1f} F1{spread} on the {self.questions:,} held-out questions{teacher}, "
                f"at {self.mean_speedup:.1f}x the teacher's speed{minutes}")


def expected(directory: str | Path = EXPECTED_DIR, times=None) -> Expected | None:
    """The expected result from the filled records in ``directory`` (None when there are none), with the newest
    ``course-times`` record of ``times`` (default: the tracked ``data/results``)."""
    directory = Path(directory)
    records = load_records(directory) if directory.is_dir() else []
    filled = sorted((r for r in records if r["kind"] == "filled"), key=lambda r: _seed(r["name"]))
    if not filled:
        return None
    names = {without_seed(r["name"]) for r in filled}
    if len(names) > 1:
        raise ValueError(f"{directory} holds filled runs of several settings ({sorted(names)}): it should hold the "
                         "course's default run only, at several seeds")
    teachers = {r.get("config", {}).get("teacher") for r in filled}
    dense = teacher_record(records, teachers.pop()) if len(teachers) == 1 else None
    if times is None:
        times = load_records(RESULTS_DIR, kind="course-times") if RESULTS_DIR.is_dir() else []
    course = sorted((r for r in times if r.get("kind") == "course-times" and r["name"] == "course"),
                    key=lambda r: r["provenance"]["date"])
    return Expected(
        name=names.pop(), f1=tuple(float(r["metrics"]["f1"]) for r in filled),
        speedup=tuple(float(r["metrics"]["cpu_speedup"]) for r in filled),
        seeds=tuple(_seed(r["name"]) for r in filled),
        teacher_f1=float(dense["metrics"]["f1"]) if dense else None,
        course_minutes=course[-1]["metrics"]["total_s"] / 60 if course else None,
        questions=int(filled[0]["metrics"]["eval_questions"]))


def adopt(source: str | Path, target: str | Path, teacher_dir, run: str) -> list[Path]:
    """Copy `make course`'s records of the teacher saved in ``teacher_dir`` (its dense record, found by folder) and
    of ``run`` (pruned, packed, filled) from the learner's folder ``source`` into ``target``, with their
    predictions; each keeps its provenance, and notes where it came from. A record already in ``target`` is left as
    it is. Returns the records written."""
    source, target = Path(source), Path(target)
    teacher = teacher_record(load_records(source), teacher_dir) if source.is_dir() else None
    wanted = [("pruned", run), ("packed", f"{run}-packed"), ("filled", f"{run}-filled")]
    missing = [repo_relative(record_path_of(name, kind, source)) for kind, name in wanted
               if not record_path_of(name, kind, source).is_file()]
    if teacher is None:
        missing.insert(0, f"a dense record of {repo_relative(teacher_dir)}")
    if missing:
        raise FileNotFoundError(f"no {', '.join(missing)} in {repo_relative(source)}: run `make course` first (its "
                                "notebooks 04-06 record the default run there)")
    wanted.insert(0, ("dense", teacher["name"]))
    written = []
    for kind, name in wanted:
        old, new = record_path_of(name, kind, source), record_path_of(name, kind, target)
        if new.is_file():
            continue
        payload = json.loads(old.read_text())
        if isinstance(payload["metrics"].get(PREDICTIONS_KEY), str):
            predictions_path(new).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(predictions_path(old), predictions_path(new))
            payload["metrics"][PREDICTIONS_KEY] = repo_relative(predictions_path(new))
        payload["config"]["adopted_from"] = repo_relative(old)
        new.parent.mkdir(parents=True, exist_ok=True)
        new.write_text(json.dumps(payload, indent=2, default=str) + "\n")
        written.append(new)
    return written


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    take = sub.add_parser("adopt", help="copy make course's records of the default run into the expected folder")
    take.add_argument("--from", dest="source", required=True)
    take.add_argument("--to", dest="target", default=str(EXPECTED_DIR))
    take.add_argument("--teacher", required=True, help="the teacher's folder, e.g. runs/teacher-course/final")
    take.add_argument("--run", required=True, help="the run's record name, e.g. course-hybrid-lam20-course")
    args = parser.parse_args(argv)
    if args.command == "adopt":
        for path in adopt(args.source, args.target, args.teacher, args.run):
            print(f"adopted {repo_relative(path)}")
        return
    found = expected()
    print(found if found else f"no expected run recorded in {repo_relative(EXPECTED_DIR)}: scripts/expected_run.sh")
