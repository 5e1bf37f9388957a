"""The dense control: the teacher itself, trained further for as many steps as prune + fill, with the same
distillation from itself. Extra training alone lifts a student above a one-epoch teacher, so a pruned model is
compared with ``max(teacher, control)``, never with the teacher alone.

    python -m bmp control --teacher runs/teacher-course/final --profile course
"""
from __future__ import annotations

import argparse
from pathlib import Path

from bmp.models import load_saved, load_tokenizer
from bmp.profiles import Profile, get_profile
from bmp.training.kit import SEED, QAData, RunResult, distil_train, evaluate_both, prepare_data, record_run


def control_run(teacher_dir, profile: Profile | None = None, output_dir=None, data: QAData | None = None,
                epochs: float | None = None, name: str | None = None, seed: int = SEED, **train_overrides) -> RunResult:
    """Distil the teacher into a copy of itself for ``epochs`` (default: the profile's prune + fill epochs, at the
    pruning learning rate, as prune and fill train); save, evaluate and record it as kind ``control``."""
    profile = profile or get_profile()
    name = name or f"control-{profile.name}" + ("" if seed == SEED else f"-s{seed}")
    output_dir = Path(output_dir or Path("runs") / name)
    teacher = load_saved(teacher_dir)  # first: a wrong folder fails before minutes of tokenizing
    tokenizer = load_tokenizer(teacher_dir)
    data = data or prepare_data(profile, tokenizer)
    epochs = epochs or profile.prune_epochs + profile.epochs
    trainer, train_s = distil_train(load_saved(teacher_dir).train(), teacher, tokenizer, data,
                                    profile, output_dir, epochs=epochs,
                                    learning_rate=profile.prune_learning_rate, seed=seed, **train_overrides)
    final = output_dir / "final"
    trainer.save_model(str(final))
    model = load_saved(final)
    metrics = {**evaluate_both(model, data, tokenizer), "train_s": round(train_s, 1),
               "train_steps": trainer.state.global_step, "epochs": epochs}
    path = None
    if trainer.is_world_process_zero():
        path = record_run(name, "control", metrics, profile, data, seed=seed, teacher=Path(teacher_dir),
                          output_dir=final, epochs=epochs)
    return RunResult(model, metrics, final, path)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bmp control", description=__doc__.splitlines()[0])
    parser.add_argument("--teacher", required=True, help="the dense teacher's folder")
    parser.add_argument("--profile", default=None)
    parser.add_argument("--epochs", type=float, default=None, help="default: the profile's prune + fill epochs")
    parser.add_argument("--output", default=None)
    parser.add_argument("--name", default=None)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    result = control_run(args.teacher, get_profile(args.profile), args.output, epochs=args.epochs, name=args.name,
                         seed=args.seed)
    print(result)


if __name__ == "__main__":
    from bmp.cli import run

    raise SystemExit(run(main))
