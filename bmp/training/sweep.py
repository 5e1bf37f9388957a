"""Several pruning runs in a row, sharing one tokenized dataset: prune -> pack -> fill, each recorded.

    python -m bmp sweep --profile course --teacher runs/teacher-course/final hybrid:60 hybrid:100 struct:60@43
    python -m bmp sweep --profile course --teacher runs/teacher-course/final --best 2.5 4 --seed 43

A point is ``PRESET:LAMBDA`` with an optional ``/LAMBDA_FFN`` (the FFN's own L1 weight; default LAMBDA) and an
optional ``@SEED``: ``hybrid:120/240@43``. ``--best S`` adds the setting the results choose (on
validation F1) among the teacher's runs at S x or faster, run again with ``--seed``: the headline's second seed,
whichever λ won. A run whose records already exist is skipped, and an interrupted one resumes from its newest
checkpoint, so the sweep can be stopped and restarted at will.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from bmp.models import load_tokenizer
from bmp.profiles import Profile, get_profile
from bmp.pruning.granularity import PRESETS
from bmp.results.records import load_records, results_dir
from bmp.training.finalize import finalize_run
from bmp.training.kit import SEED, prepare_data
from bmp.training.prune import prune_run, recipe_for


@dataclass(frozen=True)
class SweepPoint:
    preset: str
    lam: float
    seed: int = SEED
    lam_ffn: float | None = None  # None: the FFN is pulled as hard as attention

    def __post_init__(self):
        if self.preset not in PRESETS:
            raise ValueError(f"sweep point preset {self.preset!r} is unknown: choose one of {', '.join(PRESETS)}")
        if self.lam < 0 or (self.lam_ffn is not None and self.lam_ffn < 0):
            raise ValueError(f"sweep point lambda {self.lam:g} (FFN {self.lam_ffn}) is negative: use 0 or more, "
                             "e.g. hybrid:60 or hybrid:60/120")

    @classmethod
    def parse(cls, text: str) -> "SweepPoint":
        try:
            point, _, seed = text.partition("@")
            name, lams = point.split(":")
            lam, slash, lam_ffn = lams.partition("/")
            ffn = float(lam_ffn) if slash else None  # "hybrid:60/" is refused: float("") raises
            return cls(name, float(lam), int(seed) if seed else SEED, None if ffn == float(lam) else ffn)
        except ValueError as err:
            if "sweep point" in str(err):
                raise
            raise ValueError(f"sweep point {text!r} must look like PRESET:LAMBDA[/LAMBDA_FFN][@SEED], e.g. "
                             "hybrid:60, hybrid:60/120 or hybrid:60@43") from err

    def run_name(self, profile: Profile) -> str:
        seed = "" if self.seed == SEED else f"-s{self.seed}"
        ffn = "" if self.lam_ffn is None else f"-ffn{self.lam_ffn:g}"
        return f"{self.preset}-lam{self.lam:g}{ffn}-{profile.name}{seed}"

    def __str__(self) -> str:
        ffn = "" if self.lam_ffn is None else f"/{self.lam_ffn:g}"
        return f"{self.preset}:{self.lam:g}{ffn}@{self.seed}"

    @classmethod
    def of_run(cls, name: str, profile: Profile, seed: int = SEED) -> "SweepPoint":
        """The point (with ``seed``) whose run is named ``name`` (any seed; a ``-packed``/``-filled`` stage too)."""
        base = name.removesuffix("-filled").removesuffix("-packed")
        for preset in PRESETS:
            prefix = f"{preset}-lam"
            if not base.startswith(prefix):
                continue
            parts = base[len(prefix):].split("-")
            try:
                lam = float(parts[0])
                lam_ffn = float(parts[1][3:]) if len(parts) > 1 and parts[1].startswith("ffn") else None
            except ValueError:
                continue
            default_seed_name = cls(preset, lam, lam_ffn=lam_ffn).run_name(profile)
            if base == default_seed_name or base.startswith(f"{default_seed_name}-s"):
                return cls(preset, lam, seed, lam_ffn)
        raise ValueError(f"run {name!r} was not made by the sweep under the {profile.name} profile (its names "
                         f"read PRESET-lamLAMBDA[-ffnLAMBDA]-{profile.name}[-sSEED]): name its point as "
                         "PRESET:LAMBDA instead")


def chosen_points(min_speedups, teacher_dir, profile: Profile, seed: int, records_dir=None) -> list[SweepPoint]:
    """The point of the setting chosen at each of ``min_speedups`` x (on validation F1, among ``teacher_dir``'s
    runs, as ``bmp ship --best`` chooses), with ``seed``; a setting chosen twice is listed once."""
    from bmp.training.ship import chosen_run

    points = [SweepPoint.of_run(chosen_run(speedup, records_dir, teacher=teacher_dir).run, profile, seed)
              for speedup in min_speedups]
    return list(dict.fromkeys(points))


def run_sweep(points: list[SweepPoint], teacher_dir, profile: Profile, runs_dir="runs", fill: bool = True,
              score_lr: float | None = None) -> None:
    tokenizer = load_tokenizer(teacher_dir)
    data = prepare_data(profile, tokenizer)
    for point in points:
        done = {r["name"] for r in load_records(results_dir())}
        name = point.run_name(profile)
        output = Path(runs_dir) / name
        if name not in done:
            recipe = recipe_for(point.preset, point.lam, point.lam_ffn,
                                score_lr=score_lr or profile.score_learning_rate)
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
    points = [SweepPoint.parse(p) for p in args.points]  # every point checked before the first run starts
    if args.best:
        points += chosen_points(args.best, args.teacher, profile, args.seed, results_dir())
        print("sweep points:", " ".join(map(str, points)))
    run_sweep(points, args.teacher, profile, args.runs_dir, fill=not args.no_fill, score_lr=args.score_lr)


if __name__ == "__main__":
    from bmp.cli import run

    raise SystemExit(run(main))
