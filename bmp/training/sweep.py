"""Several pruning runs in a row, sharing one tokenized dataset: prune -> pack -> fill, each recorded.

    python -m bmp sweep --profile course --teacher runs/teacher-course/final hybrid:60 hybrid:100 struct:60@43
    python -m bmp sweep --profile course --teacher runs/teacher-course/final --best 2.5 4 --seed 43

A point is ``PRESET:LAMBDA`` with an optional ``/LAMBDA_FFN`` (the FFN's own L1 weight; default LAMBDA) and an
optional ``@SEED``: ``hybrid:120/240@43``; or a target instead of a λ: ``hybrid:speedup=2.5``,
``struct:density=0.3`` (:class:`bmp.results.run_id.RunId` spells and reads every run's name). ``--best S`` adds the
setting the results choose (on validation F1) among the teacher's runs at S x or faster, run again with ``--seed``:
the headline's second seed, whichever λ won. A run whose records already exist is skipped, and an interrupted one
resumes from its newest checkpoint, so the sweep can be stopped and restarted at will.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from bmp.models import load_tokenizer
from bmp.profiles import SEED, Profile, get_profile
from bmp.results.records import load_records, results_dir
from bmp.results.run_id import RunId
from bmp.training.evaluation import prepare_data
from bmp.training.finalize import finalize_run
from bmp.training.prune import prune_run, recipe_for
from bmp.training.ship import chosen_run
from bmp.training.target import Target


def of_run(name: str, profile: Profile, seed: int) -> RunId:
    """The point (with ``seed``) whose run is named ``name`` (any seed; a ``-packed``/``-filled`` stage too)."""
    try:
        run = RunId.parse(name)
    except ValueError as err:
        raise ValueError(f"run {name!r} was not made by the sweep: {err}; name its point as PRESET:LAMBDA "
                         "instead") from err
    if run.profile != profile.name or run.prefix is not None:
        raise ValueError(f"run {name!r} was not made by the sweep under the {profile.name} profile: name its point "
                         "as PRESET:LAMBDA instead")
    return run.with_(seed=seed, stage=None)


def chosen_points(min_speedups, teacher_dir, profile: Profile, seed: int, records_dir=None) -> list[RunId]:
    """The point of the setting chosen at each of ``min_speedups`` x (on validation F1, among ``teacher_dir``'s
    runs, as ``bmp ship --best`` chooses), with ``seed``; a setting chosen twice is listed once."""

    points = [of_run(chosen_run(speedup, records_dir, teacher=teacher_dir).run, profile, seed)
              for speedup in min_speedups]
    return list(dict.fromkeys(points))


def run_sweep(points: list[RunId], teacher_dir, profile: Profile, runs_dir="runs", fill: bool = True,
              score_lr: float | None = None) -> None:
    tokenizer = load_tokenizer(teacher_dir)
    data = prepare_data(profile, tokenizer)
    for point in points:
        done = {r["name"] for r in load_records(results_dir())}
        name = point.with_(profile=profile.name).name
        output = Path(runs_dir) / name
        if name not in done:
            target = None if point.target is None else Target(**{point.target[0]: point.target[1]})
            recipe = recipe_for(point.preset, point.lam or 0.0, point.lam_ffn,
                                score_lr=score_lr or profile.score_learning_rate, target=target)
            prune_run(teacher_dir, recipe, profile, output, data=data, name=name, seed=point.seed)
        final_kind = "filled" if fill and point.preset != "unstructured" else "packed"
        if f"{name}-{final_kind}" not in done:
            # unstructured sparsity packs to (almost) nothing: record it packed, filling would undo the pruning
            finalize_run(output / "final", teacher_dir, profile, output, data=data, name=name,
                         do_fill=final_kind == "filled", seed=point.seed)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bmp sweep", description=__doc__.splitlines()[0])
    parser.add_argument("points", nargs="*", help="PRESET:LAMBDA[/LAMBDA_FFN][@SEED], e.g. hybrid:60 struct:60 "
                                                  "hybrid:60/120 hybrid:60@43")
    parser.add_argument("--best", type=float, nargs="+", default=(), metavar="S",
                        help="also the setting chosen at S x or faster (on validation F1), run with --seed")
    parser.add_argument("--seed", type=int, default=None, help="the seed of the --best runs (not the default's)")
    parser.add_argument("--teacher", required=True)
    parser.add_argument("--profile", default=None)
    parser.add_argument("--runs-dir", default="runs")
    parser.add_argument("--score-lr", type=float, default=None, help="default: the profile's")
    parser.add_argument("--no-fill", action="store_true")
    args = parser.parse_args(argv)
    if not args.points and not args.best:
        raise ValueError("no sweep point: name at least one (e.g. hybrid:60), or --best S")
    if args.best and (args.seed is None or args.seed == SEED):
        raise ValueError(f"--best runs a chosen setting again: give it a --seed other than the default {SEED}, "
                         "e.g. --seed 43")
    profile = get_profile(args.profile)
    points = [RunId.point(p, profile.name) for p in args.points]  # every point checked before the first run starts
    if args.best:
        points += chosen_points(args.best, args.teacher, profile, args.seed, results_dir())
        print("sweep points:", " ".join(map(str, points)))
    run_sweep(points, args.teacher, profile, args.runs_dir, fill=not args.no_fill, score_lr=args.score_lr)


if __name__ == "__main__":
    from bmp.cli import run

    raise SystemExit(run(main))
