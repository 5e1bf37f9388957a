"""A pruning run: teacher -> masked student -> PruningTrainer -> baked model, evaluated and recorded.

    python -m bmp prune --teacher runs/teacher-course/final --preset hybrid --lam 100

The student starts as a copy of the fine-tuned teacher (as in the reference work) and distils from it.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import asdict
from pathlib import Path

from bmp.models import load_saved, load_tokenizer
from bmp.profiles import Profile, get_profile
from bmp.pruning.granularity import preset
from bmp.pruning.kept import kept_report
from bmp.pruning.masked import add_masks, baked_copy, save_masked
from bmp.pruning.regularization import Regularization
from bmp.squad import train_collator
from bmp.training.distill import Distillation
from bmp.training.kit import (
    SEED,
    QAData,
    RunResult,
    evaluate_both,
    prepare_data,
    record_run,
    resume_point,
    training_arguments,
)
from bmp.training.trainer import PruningRecipe, PruningTrainer


def prune_run(teacher_dir, recipe: PruningRecipe, profile: Profile | None = None, output_dir="runs/pruned",
              data: QAData | None = None, name: str | None = None, distill: bool = True,
              base_model: str | None = None, **train_overrides) -> RunResult:
    """Prune a copy of the teacher under ``recipe``; save the baked model to ``output_dir/final`` and record it."""
    profile = profile or get_profile()
    teacher = load_saved(teacher_dir)  # first: a wrong folder fails before minutes of tokenizing
    student = add_masks(load_saved(teacher_dir), recipe.pruning)
    tokenizer = load_tokenizer(teacher_dir if (Path(teacher_dir) / "tokenizer.json").is_file() else None)
    data = data or prepare_data(profile, tokenizer)
    args = training_arguments(profile, output_dir, epochs=profile.prune_epochs,
                              learning_rate=profile.prune_learning_rate, **train_overrides)
    trainer = PruningTrainer(model=student, args=args, train_dataset=data.train_features,
                             data_collator=train_collator(tokenizer), processing_class=tokenizer, recipe=recipe,
                             teacher=teacher if distill else None)
    start = time.perf_counter()
    trainer.train(resume_from_checkpoint=resume_point(output_dir))
    train_s = time.perf_counter() - start
    baked = baked_copy(trainer.model)
    final = Path(output_dir) / "final"
    baked.save_pretrained(str(final))
    tokenizer.save_pretrained(str(final))
    save_masked(trainer.model, recipe.pruning, final)  # the learned scores, for re-masking without retraining
    report = kept_report(baked)
    metrics = {**evaluate_both(baked, data, tokenizer), **report.to_dict(), "train_s": round(train_s, 1),
               "train_steps": trainer.state.global_step, "epochs": args.num_train_epochs}
    name = name or Path(output_dir).name
    path = None
    if trainer.is_world_process_zero():
        path = record_run(name, "pruned", metrics, profile, data, seed=args.seed, base_model=base_model,
                          recipe=asdict(recipe), teacher=Path(teacher_dir), distill=distill, output_dir=final,
                          **{key: value for key, value in train_overrides.items() if key != "seed"})
    return RunResult(baked, metrics, final, path)


def recipe_for(preset_name: str, lam: float, lam_ffn: float | None = None, score_lr: float = 1e-2,
               cooldown: float | None = None, head_scale: float | None = None,
               distillation: Distillation = Distillation(), **pruning_changes) -> PruningRecipe:
    """The recipe of ``python -m bmp prune``: a preset, lambdas on the reference's scale, the default schedule and
    distillation."""
    regularization = Regularization(attention=lam, ffn=lam if lam_ffn is None else lam_ffn,
                                    **({} if head_scale is None else {"head_scale": head_scale}))
    schedule = {} if cooldown is None else {"schedule_cooldown": cooldown}
    return PruningRecipe(pruning=preset(preset_name, **pruning_changes), regularization=regularization,
                         distillation=distillation, score_learning_rate=score_lr, **schedule)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Block movement pruning of a fine-tuned teacher.")
    parser.add_argument("--teacher", required=True, help="folder of the dense fine-tuned model")
    parser.add_argument("--preset", default="hybrid", help="unstructured | block | struct | hybrid")
    parser.add_argument("--lam", type=float, default=None,
                        help="L1 weight on sigmoid(scores), attention, on the reference's scale "
                             "(default: the profile's prune_lambda)")
    parser.add_argument("--lam-ffn", type=float, default=None, help="L1 weight for the FFN (default: --lam)")
    parser.add_argument("--head-scale", type=float, default=None,
                        help="multiplies --lam for one-score-per-head attention (default: bmp.pruning.regularization)")
    parser.add_argument("--min-heads", type=int, default=0, help="keep at least this many heads per layer (struct)")
    parser.add_argument("--cooldown", type=float, default=None, help="share of steps at the final threshold")
    parser.add_argument("--score-lr", type=float, default=None, help="default: the profile's")
    parser.add_argument("--profile", default=None)
    parser.add_argument("--epochs", type=float, default=None)
    parser.add_argument("--max-steps", type=int, default=None, help="stop after this many steps (short probes)")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--output", default=None)
    parser.add_argument("--name", default=None, help="record name (default: the output folder's name)")
    parser.add_argument("--no-distill", action="store_true")
    parser.add_argument("--alpha", type=float, default=None,
                        help=f"weight of the distillation loss against the task loss (default: {Distillation.alpha})")
    parser.add_argument("--temperature", type=float, default=None,
                        help=f"softmax temperature of the distillation loss (default: {Distillation.temperature})")
    args = parser.parse_args(argv)
    profile = get_profile(args.profile)
    if args.epochs:
        profile = profile.with_(prune_epochs=args.epochs)
    lam = profile.prune_lambda if args.lam is None else args.lam
    ffn = "" if args.lam_ffn is None or args.lam_ffn == lam else f"-ffn{args.lam_ffn:g}"
    output = args.output or f"runs/{args.preset}-lam{lam:g}{ffn}-{profile.name}"  # the sweep's name for the point
    score_lr = args.score_lr or profile.score_learning_rate
    changes = {"min_heads": args.min_heads} if args.min_heads else {}
    tuned = {key: value for key, value in (("alpha", args.alpha), ("temperature", args.temperature))
             if value is not None}
    if tuned and args.no_distill:
        options = " and ".join(f"--{key}" for key in tuned)
        raise ValueError(f"{options} only matter with distillation, which --no-distill turns off: drop one")
    distillation = Distillation(**tuned)  # checked before the teacher loads
    overrides = {"seed": args.seed, **({"max_steps": args.max_steps} if args.max_steps else {})}
    result = prune_run(args.teacher, recipe_for(args.preset, lam, args.lam_ffn, score_lr, args.cooldown,
                                                args.head_scale, distillation, **changes),
                       profile, output, name=args.name, distill=not args.no_distill, **overrides)
    print(result, result.metrics)


if __name__ == "__main__":
    from bmp.cli import run

    raise SystemExit(run(main))
