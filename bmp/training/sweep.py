"""Several pruning runs in a row, sharing one tokenized dataset: prune -> pack -> fill, each recorded.

    python -m bmp sweep --profile course --teacher runs/teacher-course/final hybrid:60 hybrid:100 struct:60@43

A point is ``PRESET:LAMBDA`` with an optional ``@SEED``. A run whose records already exist is skipped, and an
interrupted one resumes from its newest checkpoint, so the sweep can be stopped and restarted at will.
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

    def __post_init__(self):
        if self.preset not in PRESETS:
            raise ValueError(f"sweep point preset {self.preset!r} is unknown: choose one of {', '.join(PRESETS)}")
        if self.lam < 0:
            raise ValueError(f"sweep point lambda {self.lam:g} is negative: use 0 or more, e.g. hybrid:60")

    @classmethod
    def parse(cls, text: str) -> "SweepPoint":
        try:
            point, _, seed = text.partition("@")
            name, lam = point.split(":")
            return cls(name, float(lam), int(seed) if seed else SEED)
        except ValueError as err:
            if "sweep point" in str(err):
                raise
            raise ValueError(f"sweep point {text!r} must look like PRESET:LAMBDA[@SEED], e.g. hybrid:60 or "
                             "hybrid:60@43") from err

    def run_name(self, profile: Profile) -> str:
        seed = "" if self.seed == SEED else f"-s{self.seed}"
        return f"{self.preset}-lam{self.lam:g}-{profile.name}{seed}"


def run_sweep(points: list[SweepPoint], teacher_dir, profile: Profile, runs_dir="runs", fill: bool = True,
              score_lr: float | None = None) -> None:
    tokenizer = load_tokenizer(teacher_dir)
    data = prepare_data(profile, tokenizer)
    for point in points:
        done = {r["name"] for r in load_records(results_dir())}
        name = point.run_name(profile)
        output = Path(runs_dir) / name
        if name not in done:
            recipe = recipe_for(point.preset, point.lam, score_lr=score_lr or profile.score_learning_rate)
            prune_run(teacher_dir, recipe, profile, output, data=data, name=name, seed=point.seed)
        final_kind = "filled" if fill and point.preset != "unstructured" else "packed"
        if f"{name}-{final_kind}" not in done:
            # unstructured sparsity packs to (almost) nothing: record it packed, filling would undo the pruning
            finalize_run(output / "final", teacher_dir, profile, output, data=data, name=name,
                         do_fill=final_kind == "filled", seed=point.seed)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bmp sweep", description=__doc__.splitlines()[0])
    parser.add_argument("points", nargs="+", help="PRESET:LAMBDA[@SEED], e.g. hybrid:60 struct:60 hybrid:60@43")
    parser.add_argument("--teacher", required=True)
    parser.add_argument("--profile", default=None)
    parser.add_argument("--runs-dir", default="runs")
    parser.add_argument("--score-lr", type=float, default=None, help="default: the profile's")
    parser.add_argument("--no-fill", action="store_true")
    args = parser.parse_args(argv)
    points = [SweepPoint.parse(p) for p in args.points]  # every point checked before the first run starts
    run_sweep(points, args.teacher, get_profile(args.profile), args.runs_dir, fill=not args.no_fill,
              score_lr=args.score_lr)


if __name__ == "__main__":
    from bmp.cli import run

    raise SystemExit(run(main))
