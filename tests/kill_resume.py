"""Run one run kind on the smoke profile, optionally SIGKILLing the process right after the checkpoint at step
``--kill-at`` is saved. Used by tests/test_resume.py:

    python tests/kill_resume.py KIND --teacher DIR --output DIR [--pruned DIR] [--kill-at N]
"""
import argparse
import os
import signal

from transformers import Trainer

from bmp.profiles import get_profile

STEPS, SAVE_EVERY = 6, 2


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=("finetune", "prune", "fill", "layer-drop"))
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
    profile = get_profile("smoke")
    quick = dict(max_steps=STEPS, save_steps=SAVE_EVERY, disable_tqdm=True)
    if args.kind == "finetune":
        from bmp.training.finetune import finetune_dense

        finetune_dense(profile, args.teacher, args.output, **quick)
    elif args.kind == "prune":
        from bmp.training.prune import prune_run, recipe_for

        prune_run(args.teacher, recipe_for("hybrid", 100.0, score_lr=0.5, attention=(16, 16)), profile,
                  args.output, **quick)
    elif args.kind == "fill":
        from bmp.training.finalize import finalize_run

        finalize_run(args.pruned, args.teacher, profile, args.output, record_packed=False, **quick)
    else:
        from bmp.training.layer_drop import layer_drop_run

        layer_drop_run(args.teacher, [0], profile, args.output, **quick)


if __name__ == "__main__":
    main()
