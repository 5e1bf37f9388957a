"""The dense control: the teacher itself, trained further for as many steps as prune + fill, with the same
distillation from itself. Extra training alone lifts a student above a one-epoch teacher, so a pruned model is
compared with ``max(teacher, control)``, never with the teacher alone.

    python -m bmp control --teacher runs/teacher-course/final --profile course
"""
from __future__ import annotations

import argparse
from dataclasses import asdict

from transformers import TrainingArguments

from bmp.profiles import SEED, Profile, get_profile
from bmp.training import flags
from bmp.training.distill import Distillation
from bmp.training.evaluation import evaluate_both, step_points
from bmp.training.skeleton import RunResult, distil_train, open_distil_run, record_run, written


def control_run(teacher, profile: Profile | None = None, output_dir=None, data=None, epochs: float | None = None,
                name: str | None = None, seed: int = SEED, args: TrainingArguments | None = None,
                overwrite: bool = False, distillation: Distillation | None = None, max_seq_length: int | None = None,
                doc_stride: int | None = None, **train_overrides) -> RunResult:
    """Distil the teacher into a copy of itself for ``epochs`` (default: the profile's prune + fill epochs, at the
    pruning learning rate, as prune and fill train); save, evaluate and record it as kind ``control``."""
    profile = profile or get_profile()
    run = open_distil_run(teacher, data, profile, base=f"control-{profile.name}", seed=seed, name=name,
                          output_dir=output_dir, epochs=epochs, args=args, max_seq_length=max_seq_length,
                          doc_stride=doc_stride)
    teacher, data, seed, name, output_dir, epochs = (run.teacher, run.data, run.seed, run.name, run.output_dir,
                                                     run.epochs)
    trainer, train_s = distil_train(teacher.copy(), teacher, data, profile, output_dir, epochs=epochs,
                                    default_lr=profile.prune_learning_rate, args=args, overwrite=overwrite,
                                    distillation=distillation, seed=seed,
                                    settings={"kind": "control", "teacher": str(teacher.folder),
                                              "distillation": asdict(distillation or Distillation())},
                                    **train_overrides)
    final = output_dir / "final"
    model = written(trainer.args, final, lambda folder: trainer.save_model(str(folder)))
    metrics, path = {}, None
    if trainer.args.should_save:
        metrics = {**evaluate_both(model, data, teacher.tokenizer, trainer.args.bf16), "train_s": round(train_s, 1),
                   "train_steps": trainer.state.global_step, "epochs": epochs, **step_points(trainer.state)}
        path = record_run(name, "control", metrics, profile, data, seed=seed, bf16=trainer.args.bf16,
                          teacher=teacher.folder,
                          output_dir=final, epochs=epochs, distillation=asdict(distillation or Distillation()))
    return RunResult(model, metrics, final, path)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bmp control", description=__doc__.splitlines()[0])
    flags.add_run_flags(parser)
    flags.add_hidden_flags(parser)
    flags.add_data_flags(parser)
    flags.add_training_flags(parser)
    args = parser.parse_args(argv)
    distillation = Distillation(**flags.hidden_from(args))
    overrides = flags.trainer_overrides(args)
    print(control_run(args.teacher, get_profile(args.profile), args.output, data=flags.data_from(args),
                      epochs=overrides.pop("num_train_epochs", None), name=args.name, seed=args.seed,
                      overwrite=args.overwrite, distillation=distillation, **flags.sequence_from(args), **overrides))


if __name__ == "__main__":
    from bmp.cli import run

    raise SystemExit(run(main))
