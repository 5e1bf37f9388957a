"""Several pruning runs in a row, sharing one tokenized dataset: prune -> pack -> fill, each recorded.

    python -m bmp.sweep --profile course --teacher runs/teacher-course/final hybrid:60 hybrid:240 struct:120

A run whose records already exist is skipped, and an interrupted one resumes from its newest checkpoint, so the
sweep can be stopped and restarted at will.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from .fill import finalize_run
from .finetune import prepare_data
from .models import load_tokenizer
from .profiles import Profile, get_profile
from .prune import prune_run, recipe_for
from .results import load_records, results_dir


@dataclass(frozen=True)
class SweepPoint:
    preset: str
    lam: float

    @classmethod
    def parse(cls, text: str) -> "SweepPoint":
        try:
            name, lam = text.split(":")
            return cls(name, float(lam))
        except ValueError as err:
            raise ValueError(f"sweep point {text!r} must look like PRESET:LAMBDA, e.g. hybrid:60") from err

    def run_name(self, profile: Profile) -> str:
        return f"{self.preset}-lam{self.lam:g}-{profile.name}"


def run_sweep(points: list[SweepPoint], teacher_dir, profile: Profile, runs_dir="runs", fill: bool = True,
              score_lr: float | None = None) -> None:
    tokenizer = load_tokenizer(teacher_dir)
    data = prepare_data(profile, tokenizer)
    done = {r["name"] for r in load_records(results_dir())}
    for point in points:
        name = point.run_name(profile)
        output = Path(runs_dir) / name
        if name not in done:
            prune_run(teacher_dir, recipe_for(point.preset, point.lam, score_lr=score_lr or profile.score_learning_rate), profile, output, data=data,
                      name=name)
        final_kind = "filled" if fill and point.preset != "unstructured" else "packed"
        if f"{name}-{final_kind}" not in done:
            # unstructured sparsity packs to (almost) nothing: record it packed, filling would undo the pruning
            finalize_run(output / "final", teacher_dir, profile, output, data=data, name=name,
                         do_fill=final_kind == "filled")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="A sweep of pruning runs from one teacher.")
    parser.add_argument("points", nargs="+", help="PRESET:LAMBDA, e.g. hybrid:60 struct:120 unstructured:30")
    parser.add_argument("--teacher", required=True)
    parser.add_argument("--profile", default=None)
    parser.add_argument("--runs-dir", default="runs")
    parser.add_argument("--score-lr", type=float, default=None, help="default: the profile's")
    parser.add_argument("--no-fill", action="store_true")
    args = parser.parse_args(argv)
    run_sweep([SweepPoint.parse(p) for p in args.points], args.teacher, get_profile(args.profile), args.runs_dir,
              fill=not args.no_fill, score_lr=args.score_lr)


if __name__ == "__main__":
    main()
