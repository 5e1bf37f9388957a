"""The recorded trade-off in numbers: the teacher, the best pruned models at each speed target, the gap to the
layer-dropped students. ``python -m bmp.bench pareto`` prints it; the README's summary checks it.
"""
from __future__ import annotations

from collections import Counter

from bmp.results import tradeoff


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
