"""A pruning run: teacher -> masked student -> PruningTrainer -> baked model, evaluated and recorded.

    python -m bmp.prune --teacher runs/teacher-course/final --preset hybrid --lam 50

The student starts as a copy of the fine-tuned teacher (as in the reference work) and distils from it.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import asdict
from pathlib import Path

from transformers import AutoModelForQuestionAnswering

from .distill import Distillation
from .finetune import QAData, RunResult, evaluate_qa, fast_bf16, prepare_data, resume_point, training_arguments
from .granularity import preset
from .masked import add_masks, baked_copy
from .models import load_tokenizer
from .profiles import Profile, get_profile
from .regularization import Regularization
from .report import kept_report
from .results import provenance, record
from .squad import train_collator
from .trainer import PruningRecipe, PruningTrainer


def load_teacher(folder) -> AutoModelForQuestionAnswering:
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(
            f"no fine-tuned teacher in {folder}: run notebook 03 or `python -m bmp.finetune --profile <profile>` "
            "first (it saves to runs/teacher-<profile>/final)")
    return AutoModelForQuestionAnswering.from_pretrained(str(folder))


def prune_run(teacher_dir, recipe: PruningRecipe, profile: Profile | None = None, output_dir="runs/pruned",
              data: QAData | None = None, name: str | None = None, distill: bool = True,
              base_model: str | None = None, **train_overrides) -> RunResult:
    """Prune a copy of the teacher under ``recipe``; save the baked model to ``output_dir/final`` and record it."""
    profile = profile or get_profile()
    tokenizer = load_tokenizer(teacher_dir if (Path(teacher_dir) / "tokenizer.json").is_file() else None)
    data = data or prepare_data(profile, tokenizer)
    teacher = load_teacher(teacher_dir)
    student = add_masks(load_teacher(teacher_dir), recipe.pruning)
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
    report = kept_report(baked)
    metrics = {**evaluate_qa(baked, data, tokenizer), **report.to_dict(), "train_s": round(train_s, 1),
               "train_steps": trainer.state.global_step}
    name = name or Path(output_dir).name
    path = None
    if trainer.is_world_process_zero():
        path = record(name, "pruned", metrics,
                      provenance(base_model=base_model or profile.model, data_split=data.splits.description, profile=profile.name),
                      config={"recipe": asdict(recipe), "teacher": str(teacher_dir), "distill": distill,
                              "output_dir": str(final), "bf16_autocast": fast_bf16(), "profile": asdict(profile),
                              **train_overrides})
    return RunResult(baked, metrics, final, path)


def recipe_for(preset_name: str, lam: float, lam_ffn: float | None = None, score_lr: float = 1e-2,
               **pruning_changes) -> PruningRecipe:
    return PruningRecipe(pruning=preset(preset_name, **pruning_changes),
                         regularization=Regularization(attention=lam, ffn=lam if lam_ffn is None else lam_ffn),
                         distillation=Distillation(), score_learning_rate=score_lr)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Block movement pruning of a fine-tuned teacher.")
    parser.add_argument("--teacher", required=True, help="folder of the dense fine-tuned model")
    parser.add_argument("--preset", default="hybrid", help="unstructured | block | struct | hybrid")
    parser.add_argument("--lam", type=float, default=10.0, help="L1 weight on sigmoid(scores), attention")
    parser.add_argument("--lam-ffn", type=float, default=None, help="L1 weight for the FFN (default: --lam)")
    parser.add_argument("--score-lr", type=float, default=None, help="default: the profile's")
    parser.add_argument("--profile", default=None)
    parser.add_argument("--epochs", type=float, default=None)
    parser.add_argument("--output", default=None)
    parser.add_argument("--no-distill", action="store_true")
    args = parser.parse_args(argv)
    profile = get_profile(args.profile)
    if args.epochs:
        profile = profile.with_(prune_epochs=args.epochs)
    output = args.output or f"runs/{args.preset}-lam{args.lam:g}-{profile.name}"
    score_lr = args.score_lr or profile.score_learning_rate
    result = prune_run(args.teacher, recipe_for(args.preset, args.lam, args.lam_ffn, score_lr), profile,
                       output, distill=not args.no_distill)
    print(result, result.metrics)


if __name__ == "__main__":
    main()
