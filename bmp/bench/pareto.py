"""The recorded trade-off in numbers: ``python -m bmp.bench pareto [--records DIR] [--split S]``

Reads the records (default ``data/results``) and reports, for the runs scored on one split:

- ``teacher_f1``: the dense teacher's F1 on that split;
- ``best_at_2x`` / ``best_at_3x``: ``{name, f1, cpu_speedup}`` of the most accurate pruned model (kinds packed and
  filled) at least that much faster on the CPU, or null;
- ``f1_gap_vs_distil_recipe``: how many F1 points the pruned front is above the distil-recipe students (layer-dropped
  models trained the same way) at the students' speeds, interpolated linearly along the front and averaged over the
  students; null without such students, or when every student is faster than every pruned model;
- ``left_out_other_splits``: how many runs were scored on other splits (never compared with these).
"""
from __future__ import annotations

import argparse
from collections import Counter

from bmp import tradeoff
from bmp.results import load_records


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bmp.bench pareto", description=__doc__.splitlines()[0])
    parser.add_argument("--records", default=None, help="folder of records (default: data/results or $BMP_RESULTS_DIR)")
    parser.add_argument("--split", default=None, help="eval split to compare on (default: the one most runs used)")
    parser.add_argument("--speed-key", default="cpu_speedup")
    return parser.parse_args(argv)


def _best(run) -> dict | None:
    return None if run is None else {"name": run.name, "f1": run.f1, "cpu_speedup": run.speedup}


def summarize(records, split: str | None = None, speed_key: str = "cpu_speedup") -> dict:
    split = tradeoff.pick_split(records, split)
    pruned = tradeoff.runs(records, kinds=tradeoff.PRUNED_KINDS, split=split, speed_key=speed_key)
    students = tradeoff.runs(records, kinds=("distil-recipe",), split=split, speed_key=speed_key)
    gap, details = tradeoff.f1_gap(pruned, students) if students else (None, [])
    other_splits = Counter(tradeoff.eval_split_of(r) for r in records
                           if r.get("kind") in tradeoff.RUN_KINDS and tradeoff.eval_split_of(r) != split)
    return {
        "bench": "pareto",
        "eval_split": split,
        "teacher_f1": tradeoff.teacher_f1(records, split),
        "pruned_runs": len(pruned),
        "distil_recipe_runs": len(students),
        "front": [run.name for run in tradeoff.front(pruned)],
        "best_at_2x": _best(tradeoff.best_at(pruned, 2.0)),
        "best_at_3x": _best(tradeoff.best_at(pruned, 3.0)),
        "f1_gap_vs_distil_recipe": None if gap is None else round(gap, 3),
        "f1_gap_details": details,
        "left_out_other_splits": dict(other_splits),
    }


def main(argv: list[str]) -> dict:
    args = parse_args(argv)
    return summarize(load_records(args.records), args.split, args.speed_key)
