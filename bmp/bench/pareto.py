"""The recorded trade-off and the targets: ``python -m bmp.bench pareto [--records DIR] [--split S]``

Reads the records (default ``data/results``) and prints :func:`bmp.results.targets.summarize` for the runs scored
on one split:

- ``teacher_f1``, ``teacher_epochs``, ``control_f1`` (its controls trained ``control_epochs``, as long as the runs)
  and ``reference_f1`` (the larger of the two) of the teacher most runs came from; every F1 drop is taken from each
  run's own teacher's reference, with controls trained as long as that run;
- ``best_at_2_5x`` / ``best_at_4x`` (one per speed target): the pruned setting chosen on mean validation F1 among
  those that may be that fast (the top of their speed's interval over several timing runs reaching it), reported on
  held-out F1 as ``{run, f1, f1_std, seeds, speedup, validation_f1, f1_drop}``, with its ``speed_interval`` over the
  timing runs; ``instead_of`` names the plain run it replaced when an attempt at
  that target won on validation (the headline recipe is then the attempt's);
- ``struct_gap_vs_hybrid``, ``f1_gap_vs_distil_recipe``, ``f1_gap_vs_torch_pruning``: comparisons at equal speed,
  like for like (same teacher, epochs and FFN balance), each point meeting the rival chosen on validation F1 among
  those at least as fast: ``{about, mean, ci95, verdict, front_chosen_on, rivals_used, seeds, points}``;
- ``speed_source`` (``median-of-runs``, ``one-run`` or ``per-record``), ``timing_runs`` (the fewest timing records
  any compared run's speed comes from: each run's speed is its median over the runs that time it; 0: each record's
  own timing) and ``speed_note``;
- ``int8_f1_drop`` from a ``deploy-accuracy`` record, or null;
- ``targets``: each target of :data:`bmp.results.targets.TARGETS` with its threshold, ``ci95`` (the paired 95%
  interval of its gap, null without per-question predictions), ``verdict`` (met / missed / inconclusive, by
  :func:`bmp.results.intervals.judge`; null when not measured), ``front_chosen_on``, ``seeds`` per side,
  ``timing_runs`` (for a speed target, those behind its chosen run's speed), ``so_far`` (what the rule says when
  too few seeds leave the target "not measured"), and for a speed target its chosen ``run``, the ``reference`` it
  is held to, and what it ``replaced`` (the plain run an attempt beat on validation, with its own status and ``ci95``;
  null when none);
- ``attempts`` (:mod:`bmp.results.attempts`): each change of the headline recipe at its target, its gap to its own
  reference against the headline run's, on validation (what decides) and held-out (``ci95``, ``verdict``);
- ``serving`` (:mod:`bmp.results.serving`): the deploy bench's ratios, each shipped model's F1 per form, and the
  serving targets (int8 against torch, the int8 F1 cost, the combined speedup).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from bmp.results.analysis import analyse
from bmp.results.records import load_records
from bmp.results.serving import serving_summary
from bmp.results.speeds import SpeedSource
from bmp.results.targets import summarize


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bmp.bench pareto", description=__doc__.splitlines()[0])
    parser.add_argument("--records", default=None, help="folder of records (default: data/results)")
    parser.add_argument("--split", default=None, help="eval split to compare on (default: the one most runs used)")
    parser.add_argument("--speed-key", default=None,
                        help="use each record's own metrics[KEY] as its speedup (default: one timing run of every "
                             "model when recorded, else each record's cpu_speedup)")
    return parser.parse_args(argv)


def main(argv: list[str]) -> dict:
    args = parse_args(argv)
    if args.records is not None and not Path(args.records).is_dir():
        raise FileNotFoundError(f"--records {args.records}: no such folder; pass the folder of the records "
                                "(default data/results)")
    speed = None if args.speed_key is None else SpeedSource.per_record(args.speed_key)
    records = load_records(args.records)
    return {**summarize(records, args.split, speed),
            "serving": serving_summary(records, analyse(records, args.split, speed))}
