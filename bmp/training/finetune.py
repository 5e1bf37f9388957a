"""Dense SQuAD fine-tuning: the teacher, with a validation curve that says when more epochs stop paying.

    python -m bmp finetune --profile course --model embedded --output runs/teacher
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from transformers import Trainer, TrainingArguments, set_seed

from bmp.models import load_base, load_profile_model
from bmp.profiles import SEED, Profile, get_profile
from bmp.results.records import INIT_SEED_KEY, provenance, record, repo_relative
from bmp.squad import train_collator
from bmp.training import flags
from bmp.training.evaluation import ValidationCurve, converged, evaluate_both, step_points
from bmp.training.skeleton import RunResult, claim_folder, data_fingerprint, qa_data, run_arguments, written


def finetune_dense(profile: Profile | None = None, model_name: str | None = None, output_dir="runs/teacher",
                   data=None, record_name: str | None = None, args: TrainingArguments | None = None,
                   overwrite: bool = False, max_seq_length: int | None = None, doc_stride: int | None = None,
                   **train_overrides) -> RunResult:
    """Fine-tune ``model_name`` (default: the profile's model; ``"embedded"``, ``"tiny"``, a hub name or a folder)
    on SQuAD, save it to ``output_dir/final`` and record EM/F1. ``data`` and ``args`` as in
    :func:`bmp.training.prune.prune_run`."""
    profile = profile or get_profile()
    args = run_arguments(profile, output_dir, args, default_epochs=profile.epochs, default_lr=profile.learning_rate,
                         **train_overrides)
    set_seed(args.seed)  # the new question-answering head starts from the run's seed, not from the process's
    if model_name is None:
        model, tokenizer, model_name = load_profile_model(profile)
    else:
        model, tokenizer = load_base(model_name)
    data = qa_data(data, tokenizer, profile, max_seq_length=max_seq_length, doc_stride=doc_stride)
    settings = {"kind": "dense", "model": str(model_name), "data": data_fingerprint(data), "seed": args.seed,
                "epochs": args.num_train_epochs, "max_steps": args.max_steps, "learning_rate": args.learning_rate}
    resume = claim_folder(output_dir, settings, args, overwrite=overwrite)
    curve = ValidationCurve(data, tokenizer)
    trainer = Trainer(model=model, args=args, train_dataset=data.train_features,
                      data_collator=train_collator(tokenizer), processing_class=tokenizer, callbacks=[curve])
    start = time.perf_counter()
    trainer.train(resume_from_checkpoint=resume)
    train_s = time.perf_counter() - start
    final = Path(output_dir) / "final"
    model = written(args, final, lambda folder: trainer.save_model(str(folder)))  # with the tokenizer
    points = curve.curve(trainer.state)
    metrics, path = {}, None
    if args.should_save:  # one process evaluates and records
        metrics = {**evaluate_both(model, data, tokenizer, args.bf16), "train_s": round(train_s, 1),
                   "train_windows": len(data.train_features), "train_steps": trainer.state.global_step,
                   "epochs": args.num_train_epochs, "validation_curve": points, "converged": converged(points),
                   **step_points(trainer.state)}
        path = record(record_name or f"dense-{profile.name}", "dense", metrics,
                      provenance(base_model=str(model_name), data_split=data.splits.description,
                                 profile=profile.name, seed=args.seed),
                      config={"profile": profile.__dict__, "output_dir": repo_relative(final),
                              "bf16_autocast": bool(args.bf16), INIT_SEED_KEY: args.seed, **train_overrides})
    return RunResult(model, metrics, final, path)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Dense SQuAD fine-tune (the teacher for pruning).")
    parser.add_argument("--profile", default=None, help="smoke | course | full (default: $BMP_PROFILE or course)")
    parser.add_argument("--model", default=None, help="'embedded', 'tiny', a hub name or a folder "
                        "(default: the profile's model)")
    parser.add_argument("--output", default=None, help="output folder (default: runs/teacher-<profile>)")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--name", default=None, help="record name (default: dense-<profile>)")
    flags.add_data_flags(parser)
    flags.add_training_flags(parser)
    args = parser.parse_args(argv)
    profile = get_profile(args.profile)
    result = finetune_dense(profile, args.model, args.output or f"runs/teacher-{profile.name}",
                            data=flags.data_from(args), record_name=args.name, overwrite=args.overwrite,
                            **flags.sequence_from(args), seed=args.seed, **flags.trainer_overrides(args))
    print(result)


if __name__ == "__main__":
    from bmp.cli import run

    raise SystemExit(run(main))
