r"""Prune to a speed by steering λ with a look-ahead (``Steering(lead=...)``, a Python-only knob of the recipe),
otherwise as ``python -m bmp prune --target-speedup S`` does: the experiment that tests a look-ahead against the
default (``lead=0``, the size gap judged as it is).

    python scripts/steer_lead.py --teacher runs/teacher-course/final --target-speedup 4 --lead 1 \
        --output runs/hybrid-speedup4-lead1-course --name hybrid-speedup4-lead1-course

Then pack and fill it with ``python -m bmp finalize --pruned OUTPUT/final``. The record's recipe holds the steering.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bmp from this checkout, installed or not

from bmp.cli import run
from bmp.profiles import get_profile
from bmp.training.prune import prune_run, recipe_for
from bmp.training.target import Target


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--teacher", required=True)
    parser.add_argument("--target-speedup", type=float, required=True)
    parser.add_argument("--lead", type=float, required=True, help="response times ahead the size gap is judged")
    parser.add_argument("--profile", default="course")
    parser.add_argument("--output", required=True)
    parser.add_argument("--name", required=True)
    args = parser.parse_args(argv)
    profile = get_profile(args.profile)
    recipe = recipe_for("hybrid", profile.prune_lambda, score_lr=profile.score_learning_rate,
                        target=Target(speedup=args.target_speedup))
    recipe = replace(recipe, steering=replace(recipe.steering, lead=args.lead))
    result = prune_run(args.teacher, recipe, profile, args.output, name=args.name)
    print(result, result.metrics)


if __name__ == "__main__":
    sys.exit(run(main))
