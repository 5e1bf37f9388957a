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

from bmp.results.records import load_records
from bmp.results.targets import summarize


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bmp.bench pareto", description=__doc__.splitlines()[0])
    parser.add_argument("--records", default=None, help="folder of records (default: data/results or $BMP_RESULTS_DIR)")
    parser.add_argument("--split", default=None, help="eval split to compare on (default: the one most runs used)")
    parser.add_argument("--speed-key", default="cpu_speedup")
    return parser.parse_args(argv)


def main(argv: list[str]) -> dict:
    args = parse_args(argv)
    return summarize(load_records(args.records), args.split, args.speed_key)
