"""Run run kinds on the smoke profile, optionally SIGKILLing the process right after the checkpoint at step
``--kill-at`` is saved. Used by tests/test_resume.py:

    python tests/kill_resume.py KIND --teacher DIR --output DIR [--pruned DIR] [--kill-at N]
    python tests/kill_resume.py prune fill finetune layer-drop --teacher DIR --output DIR   # each in DIR/KIND

Several kinds run one after the other in this one process, each in its own folder (fill fills ``DIR/prune/final``
unless ``--pruned`` names another): the uninterrupted runs the killed ones are compared with, without paying for a
new Python process each. The models are not timed (the runs' records get a speedup of 1): weights are what the
resume tests compare, and timing has its own tests.
"""
import argparse
import os
import signal
from pathlib import Path

from transformers import Trainer

import bmp.training.skeleton
from bmp.profiles import get_profile

STEPS, SAVE_EVERY = 6, 2
KINDS = ("finetune", "prune", "fill", "layer-drop")


def run(kind: str, teacher: str, output: Path, pruned: str | None) -> None:
    profile = get_profile("smoke")
    quick = dict(max_steps=STEPS, save_steps=SAVE_EVERY, disable_tqdm=True)
    if kind == "finetune":
        from bmp.training.finetune import finetune_dense

        finetune_dense(profile, teacher, output, **quick)
    elif kind == "prune":
        from bmp.training.prune import prune_run, recipe_for

        prune_run(teacher, recipe_for("hybrid", 100.0, score_lr=0.5, attention=(16, 16)), profile, output, **quick)
    elif kind == "fill":
        from bmp.training.finalize import finalize_run

        finalize_run(pruned, teacher, profile, output, record_packed=False, **quick)
    else:
        from bmp.training.layer_drop import layer_drop_run

        layer_drop_run(teacher, [0], profile, output, **quick)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kinds", nargs="+", choices=KINDS)
    parser.add_argument("--teacher", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--pruned", default=None)
    parser.add_argument("--kill-at", type=int, default=None)
    args = parser.parse_args()
    if args.kill_at is not None:
        save = Trainer._save_checkpoint

        def save_then_die(self, *a, **k):
            save(self, *a, **k)
            if self.state.global_step >= args.kill_at:
                os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no atexit: as a killed job dies

        Trainer._save_checkpoint = save_then_die
    bmp.training.skeleton.fresh_speedup = lambda *folders: {"cpu_speedup": 1.0}
    output = Path(args.output)
    for kind in args.kinds:
        folder = output if len(args.kinds) == 1 else output / kind
        run(kind, args.teacher, folder, args.pruned or str(output / "prune" / "final"))


if __name__ == "__main__":
    main()
