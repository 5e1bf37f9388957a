"""Dense SQuAD fine-tuning: the teacher, with a validation curve that says when more epochs stop paying.

    python -m bmp finetune --profile course --model embedded --output runs/teacher
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from transformers import Trainer

from bmp.models import load_base, load_profile_model
from bmp.profiles import Profile, get_profile
from bmp.results.records import provenance, record, repo_relative
from bmp.squad import train_collator
from bmp.training.kit import (
    SEED,
    QAData,
    RunResult,
    ValidationCurve,
    converged,
    evaluate_both,
    fast_bf16,
    prepare_data,
    resume_point,
    training_arguments,
)


def finetune_dense(profile: Profile | None = None, model_name: str | None = None, output_dir="runs/teacher",
                   data: QAData | None = None, record_name: str | None = None, **train_overrides) -> RunResult:
    """Fine-tune ``model_name`` (default: the profile's model) on SQuAD, save it to ``output_dir/final`` and record
    EM/F1."""
    profile = profile or get_profile()
    if model_name is None:
        model, tokenizer, model_name = load_profile_model(profile)
    else:
        model, tokenizer = load_base(model_name)
    data = data or prepare_data(profile, tokenizer)
    args = training_arguments(profile, output_dir, **train_overrides)
    curve = ValidationCurve(data, tokenizer)
    trainer = Trainer(model=model, args=args, train_dataset=data.train_features,
                      data_collator=train_collator(tokenizer), processing_class=tokenizer, callbacks=[curve])
    start = time.perf_counter()
    trainer.train(resume_from_checkpoint=resume_point(output_dir))
    train_s = time.perf_counter() - start
    final = Path(output_dir) / "final"
    trainer.save_model(str(final))  # with the tokenizer (processing_class)
    points = curve.curve(trainer.state)
    metrics = {**evaluate_both(trainer.model, data, tokenizer), "train_s": round(train_s, 1),
               "train_windows": len(data.train_features), "train_steps": trainer.state.global_step,
               "epochs": args.num_train_epochs, "validation_curve": points, "converged": converged(points)}
    path = None
    if trainer.is_world_process_zero():
        path = record(record_name or f"dense-{profile.name}", "dense", metrics,
                      provenance(base_model=model_name, data_split=data.splits.description, profile=profile.name,
                                 seed=args.seed),
                      config={"profile": profile.__dict__, "output_dir": repo_relative(final),
                              "bf16_autocast": fast_bf16(), **train_overrides})
    return RunResult(trainer.model, metrics, final, path)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Dense SQuAD fine-tune (the teacher for pruning).")
    parser.add_argument("--profile", default=None, help="smoke | course | full (default: $BMP_PROFILE or course)")
    parser.add_argument("--model", default=None, help="'embedded', 'tiny', a hub name or a folder "
                        "(default: the profile's model)")
    parser.add_argument("--output", default=None, help="output folder (default: runs/teacher-<profile>)")
    parser.add_argument("--epochs", type=float, default=None)
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--name", default=None, help="record name (default: dense-<profile>)")
    args = parser.parse_args(argv)
    profile = get_profile(args.profile)
    result = finetune_dense(profile, args.model, args.output or f"runs/teacher-{profile.name}",
                            record_name=args.name, epochs=args.epochs, learning_rate=args.lr, seed=args.seed)
    print(result)


if __name__ == "__main__":
    from bmp.cli import run

    raise SystemExit(run(main))
