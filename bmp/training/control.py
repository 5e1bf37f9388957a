"""The dense control: the teacher itself, trained further for as many steps as prune + fill, with the same
distillation from itself. Extra training alone lifts a student above a one-epoch teacher, so a pruned model is
compared with ``max(teacher, control)``, never with the teacher alone.

    python -m bmp control --teacher runs/teacher-course/final --profile course
"""
from __future__ import annotations

import argparse

from bmp.models import load_saved
from bmp.profiles import Profile, get_profile
from bmp.training.kit import (
    SEED,
    QAData,
    RunResult,
    add_run_arguments,
    distil_train,
    evaluate_both,
    open_run,
    record_run,
    run_name,
)


def control_run(teacher_dir, profile: Profile | None = None, output_dir=None, data: QAData | None = None,
                epochs: float | None = None, name: str | None = None, seed: int = SEED,
                **train_overrides) -> RunResult:
    """Distil the teacher into a copy of itself for ``epochs`` (default: the profile's prune + fill epochs, at the
    pruning learning rate, as prune and fill train); save, evaluate and record it as kind ``control``."""
    profile = profile or get_profile()
    run = open_run(teacher_dir, profile, name=name or run_name(f"control-{profile.name}", seed),
                   output_dir=output_dir, data=data, epochs=epochs)
    trainer, train_s = distil_train(load_saved(teacher_dir).train(), run.teacher, run.tokenizer, run.data, profile,
                                    run.output_dir, epochs=run.epochs, learning_rate=profile.prune_learning_rate,
                                    seed=seed, **train_overrides)
    final = run.output_dir / "final"
    trainer.save_model(str(final))
    model = load_saved(final)
    metrics = {**evaluate_both(model, run.data, run.tokenizer), "train_s": round(train_s, 1),
               "train_steps": trainer.state.global_step, "epochs": run.epochs}
    path = None
    if trainer.is_world_process_zero():
        path = record_run(run.name, "control", metrics, profile, run.data, seed=seed, teacher=teacher_dir,
                          output_dir=final, epochs=run.epochs)
    return RunResult(model, metrics, final, path)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bmp control", description=__doc__.splitlines()[0])
    add_run_arguments(parser)
    args = parser.parse_args(argv)
    print(control_run(args.teacher, get_profile(args.profile), args.output, epochs=args.epochs, name=args.name,
                      seed=args.seed))


if __name__ == "__main__":
    from bmp.cli import run

    raise SystemExit(run(main))
