"""A pruning run: teacher -> masked student -> PruningTrainer -> baked model, evaluated and recorded.

    python -m bmp prune --teacher runs/teacher-course/final --preset hybrid --lam 100
    python -m bmp prune --teacher runs/teacher-course/final --preset hybrid --target-speedup 2.5
    python -m bmp prune --teacher runs/teacher-course/final --preset struct --target-density 0.3
    python -m bmp prune --teacher runs/teacher-course/final --preset block --method magnitude --keep 0.25

``--lam`` sets how hard the L1 pull is and lets the size fall where it falls. A target sets the size instead: the
packed encoder's linear weights as a share of the teacher's (``--target-density``, the fill rate ``finalize``
reports) or a speed at the recorded CPU setting (``--target-speedup``, through a latency model timed on this machine
first and recorded with the run, its prediction beside what ``finalize`` measures). The pruned model lands on it
whatever the number of steps (:mod:`bmp.training.target`), by steering λ so that the size follows the schedule
(``--target-method steer``, the default) or by keeping the best-scored heads and neurons that fit at every step
(``--target-method topk``). ``--method topk`` or ``--method magnitude`` keep a fixed
share of every matrix instead (``--keep``, reached on the same cubic schedule): TopK on the learned movement scores
(Sanh et al.'s TopK variant, no L1 pull needed) or on the weights' magnitudes (the classic baseline, nothing learned).

The student starts as a copy of the fine-tuned teacher and distils from it. The reference work (nn_pruning) starts
the student from the *pre-trained* model instead and prunes it for 20 epochs, with the fine-tuned model only as the
teacher. Both are sound; starting from the converged teacher suits runs of one or two epochs on a CPU, at a price:
the weights have already moved, so magnitude catches up with movement as a score (notebook 01).
"""
from __future__ import annotations

import argparse
import time
from dataclasses import asdict
from pathlib import Path

from transformers import TrainingArguments

from bmp.profiles import SEED, Profile, get_profile
from bmp.pruning.granularity import KEEP_FRACTION_METHODS, preset, preset_of
from bmp.pruning.kept import kept_report
from bmp.pruning.masked import add_masks, baked_copy, save_masked
from bmp.pruning.regularization import Regularization
from bmp.pruning.steering import Steering
from bmp.results.run_id import RunId, with_seed
from bmp.squad import train_collator
from bmp.training import flags
from bmp.training.distill import Distillation
from bmp.training.evaluation import ValidationCurve, evaluate_both, step_points
from bmp.training.skeleton import (
    FROM_ARGUMENTS,
    RunResult,
    claim_folder,
    data_fingerprint,
    main_first,
    open_teacher,
    qa_data,
    record_run,
    run_arguments,
    written,
)
from bmp.training.target import Target, TargetPlan, made_once, plan, save_latency, saved_latency
from bmp.training.trainer import TARGET_METHODS, PruningRecipe, PruningTrainer


def prune_run(teacher, recipe: PruningRecipe, profile: Profile | None = None, output_dir="runs/pruned",
              data=None, name: str | None = None, distill: bool = True, base_model: str | None = None,
              args: TrainingArguments | None = None, overwrite: bool = False, max_seq_length: int | None = None,
              doc_stride: int | None = None, callbacks=(), **train_overrides) -> RunResult:
    """Prune a copy of the teacher under ``recipe``; save the baked model to ``output_dir/final`` and record it.

    ``teacher``: a folder, a :class:`RunResult` or a model (see :func:`bmp.training.skeleton.open_teacher`);
    ``data``: anything :func:`bmp.training.skeleton.splits_of` takes; ``args``: your own ``TrainingArguments``
    (else the profile's, with ``train_overrides``); ``callbacks``: more ``TrainerCallback``s (e.g.
    :class:`~bmp.training.trainer.ScoreSnapshots`). A folder holding a run made with other settings is refused
    unless ``overwrite``. With ``recipe.target`` the run prunes to that size or speed; the record adds what the
    plan predicted (``predicted_fill_rate``, and ``predicted_speedup`` with the latency model in its config)."""
    profile = profile or get_profile()
    teacher = open_teacher(teacher)
    student = add_masks(teacher.copy(), recipe.pruning)
    args = run_arguments(profile, output_dir, args, default_epochs=profile.prune_epochs,
                         default_lr=profile.prune_learning_rate, **train_overrides)
    # before the data: a target the model can't reach fails in seconds, not after tokenizing
    target_plan = _plan(recipe.target, student, output_dir, args, overwrite) if recipe.target else None
    data = qa_data(data, teacher.tokenizer, profile, max_seq_length=max_seq_length, doc_stride=doc_stride)
    settings = {"kind": "pruned", "preset": preset_of(recipe.pruning), "recipe": asdict(recipe), "distill": distill,
                "teacher": str(teacher.folder),
                "data": data_fingerprint(data), "seed": args.seed, "epochs": args.num_train_epochs,
                "max_steps": args.max_steps}
    resume = claim_folder(output_dir, settings, args, overwrite=overwrite)
    if target_plan is not None and target_plan.latency is not None:
        with main_first(args):
            if args.should_save:
                save_latency(output_dir, target_plan.latency)  # a resumed run reuses it
    trainer = PruningTrainer(model=student, args=args, train_dataset=data.train_features,
                             data_collator=train_collator(teacher.tokenizer), processing_class=teacher.tokenizer,
                             recipe=recipe, teacher=teacher.model if distill else None, target_plan=target_plan,
                             callbacks=[ValidationCurve(data, teacher.tokenizer, at_epochs=False), *callbacks])
    start = time.perf_counter()
    trainer.train(resume_from_checkpoint=resume)
    train_s = time.perf_counter() - start
    final = Path(output_dir) / "final"

    def save(folder: Path) -> None:
        baked_copy(trainer.model).save_pretrained(str(folder))
        teacher.tokenizer.save_pretrained(str(folder))
        save_masked(trainer.model, recipe.pruning, folder)  # the learned scores, for re-masking without retraining

    baked = written(args, final, save)
    metrics, path = {}, None
    if args.should_save:  # one process evaluates and records
        metrics = {**evaluate_both(baked, data, teacher.tokenizer, args.bf16), **kept_report(baked).to_dict(),
                   "train_s": round(train_s, 1), "train_steps": trainer.state.global_step,
                   "epochs": args.num_train_epochs, **step_points(trainer.state)}
        extra = {}
        if target_plan is not None:
            metrics.update(target_plan.predicted(trainer.final_shape, baked.config))
            if trainer.steerer is not None:  # the λ the run steered itself to, at its end
                metrics["final_lambda"] = round(trainer.steerer.lam, 3)
            extra = {"align_ffn": target_plan.budget.align_ffn}
            if target_plan.latency is not None:
                extra["latency_model"] = target_plan.latency.to_dict()
        path = record_run(name or Path(output_dir).name, "pruned", metrics, profile, data, seed=args.seed,
                          bf16=args.bf16, base_model=base_model, recipe=asdict(recipe), teacher=teacher.folder,
                          distill=distill, output_dir=final, **extra,
                          **{key: value for key, value in train_overrides.items() if key not in FROM_ARGUMENTS})
    return RunResult(baked, metrics, final, path)


def _plan(target: Target, student, output_dir, args, overwrite: bool) -> TargetPlan:
    """The target's plan, made once for every process; a speed target reuses the latency model saved in the run
    folder (a resumed run keeps the budget it started with) unless ``overwrite``."""
    latency = None if overwrite or target.speedup is None else saved_latency(output_dir, student.config)
    return made_once(args, lambda: plan(target, student, latency=latency))


def recipe_for(preset_name: str, lam: float, lam_ffn: float | None = None, score_lr: float = 1e-2,
               cooldown: float | None = None, head_scale: float | None = None,
               distillation: Distillation = Distillation(), target: Target | None = None,
               target_method: str | None = None, steering: Steering | None = None,
               **pruning_changes) -> PruningRecipe:
    """The recipe of ``python -m bmp prune``: a preset, lambdas on the reference's scale (none with a ``target``,
    which ``target_method`` follows: steering λ by default, with ``steering``'s knobs), the default schedule and
    distillation."""
    if target_method is not None and target is None:
        raise method_without_target(f"target_method={target_method!r}", "target_density or target_speedup",
                                    "target_method")
    if steering is not None and (target is None or target_method not in (None, "steer")):
        raise steering_without_steer("steering", None if target else "target_density or target_speedup",
                                     "target_method='topk'")
    if target is None:
        regularization = Regularization(attention=lam, ffn=lam if lam_ffn is None else lam_ffn,
                                        **({} if head_scale is None else {"head_scale": head_scale}))
    else:
        regularization = Regularization(0.0, 0.0)
    schedule = {} if cooldown is None else {"schedule_cooldown": cooldown}
    return PruningRecipe(pruning=preset(preset_name, **pruning_changes), regularization=regularization,
                         distillation=distillation, score_learning_rate=score_lr, target=target,
                         **({"target_method": target_method} if target_method else {}),
                         **({"steering": steering} if steering else {}), **schedule)


def method_without_target(given: str, targets: str, method: str) -> ValueError:
    """The refusal of a target method with no target, spelt as the user gave it (keywords or flags)."""
    return ValueError(f"{given} says how a size or speed target is followed, and no target was given: add {targets}, "
                      f"or drop {method}")


def target_from(density: float | None, speedup: float | None, *, lam_flags: dict) -> Target | None:
    """The target ``prune`` was given, or None. ``lam_flags``: the lambda options by name, refused when given with a
    target (they would fight it). The recipe refuses the presets a target can't go with."""
    if density is None and speedup is None:
        return None
    target = Target(density=density, speedup=speedup)  # refuses both at once, and values out of range
    given = [flag for flag, value in lam_flags.items() if value is not None]
    if given:
        ratio = {"--lam-ffn": " (with a target, --ffn-ratio sets how much harder the FFN is pulled)",
                 "lam_ffn": " (with a target, steering=bmp.Steering(ffn_ratio=...) sets how much harder the FFN is "
                            "pulled)"}
        ratio = next((ratio[flag] for flag in given if flag in ratio), "")
        raise ValueError(f"{' and '.join(given)} set an L1 pull, and {target} sets how much is pruned: they would "
                         f"fight; drop {' and '.join(given)} (or the target){ratio}")
    return target


def steering_without_steer(given: str, targets: str | None, topk: str) -> ValueError:
    """The refusal of steering's knobs where no λ is steered: no target (``targets`` names how to give one), or a
    target followed by a top-k of units (``targets`` None)."""
    fix = f"add {targets} (steered by default)" if targets else f"drop {topk} (steering is the default)"
    return ValueError(f"{given} tunes how λ is steered to a size or speed target, and no λ is steered here: {fix}, "
                      f"or drop {given}")


PRUNE_METHODS = ("sigmoid_threshold", "topk", "magnitude")  # how prune turns scores into masks (--method)


def method_changes(method: str, keep: float | None, target: Target | None) -> dict:
    """The pruning config's changes for ``--method`` and ``--keep`` (none for the default method); a keep fraction
    without a keep-fraction method, or a method other than the default with a target, is refused naming the fix."""
    if method not in PRUNE_METHODS:
        raise ValueError(f"method {method!r}: prune with one of {', '.join(PRUNE_METHODS)}")
    if method not in KEEP_FRACTION_METHODS:
        if keep is not None:
            raise ValueError(f"--keep {keep:g} is a share kept by --method topk or magnitude; with {method} the "
                             "size comes from --lam or a target: add --method topk, or drop --keep")
        return {}
    if target is not None:
        raise ValueError(f"{target} picks heads and neurons by a budget, and --method {method} keeps a share of "
                         "every matrix: drop one of them")
    if keep is None:
        raise ValueError(f"--method {method} keeps a fixed share of every matrix: say which with --keep, e.g. 0.25")
    if not 0 < keep <= 1:
        raise ValueError(f"--keep {keep:g}: the share of each matrix kept lies in (0, 1], e.g. 0.25")
    return {"method": method, "final_threshold": keep}


def keep_run_folder(preset_name: str, method: str, keep: float, profile_name: str, seed: int = SEED) -> str:
    """Where a run that keeps a fixed share goes by default: ``runs/block-magnitude-keep0.25-course[-s43]``."""
    return f"runs/{with_seed(f'{preset_name}-{method}-keep{keep:g}-{profile_name}', seed)}"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Block movement pruning of a fine-tuned teacher.")
    parser.add_argument("--teacher", required=True, help="folder of the dense fine-tuned model")
    parser.add_argument("--preset", default="hybrid", help="unstructured | block | struct | hybrid")
    parser.add_argument("--lam", type=float, default=None,
                        help="L1 weight on sigmoid(scores), attention, on the reference's scale "
                             "(default: the profile's prune_lambda)")
    parser.add_argument("--lam-ffn", type=float, default=None, help="L1 weight for the FFN (default: --lam)")
    parser.add_argument("--target-density", type=float, default=None,
                        help="prune to this share of the teacher's encoder linear weights after packing (the fill "
                             "rate finalize reports), e.g. 0.3; instead of --lam")
    parser.add_argument("--target-speedup", type=float, default=None,
                        help="prune to this speedup at the recorded CPU timing setting, through a latency model "
                             "timed here first, e.g. 2.5; instead of --lam")
    parser.add_argument("--target-method", choices=TARGET_METHODS, default=None,
                        help="how a target is followed: steer (default: a λ run whose λ is set each step to follow "
                             "the size schedule) or topk (the best-scored heads and neurons that fit, each step)")
    parser.add_argument("--ffn-ratio", type=float, default=None,
                        help=f"with a steered target: the FFN's λ over attention's (default: {Steering.ffn_ratio:g})")
    parser.add_argument("--steer-lead", type=float, default=None,
                        help="with a steered target: how many of the scores' response times ahead the size gap is "
                             f"judged (default: {Steering.lead:g}; see bmp.pruning.steering)")
    parser.add_argument("--method", choices=PRUNE_METHODS, default=PRUNE_METHODS[0],
                        help="how scores become masks: the learned sigmoid threshold with an L1 pull (default), or "
                             "a fixed share of every matrix by TopK on the learned scores or on |W| (see --keep)")
    parser.add_argument("--keep", type=float, default=None,
                        help="with --method topk or magnitude: the share of each matrix kept at the end, e.g. 0.25")
    parser.add_argument("--head-scale", type=float, default=None,
                        help="multiplies --lam for one-score-per-head attention (default: bmp.pruning.regularization)")
    parser.add_argument("--min-heads", type=int, default=0, help="keep at least this many heads per layer (struct)")
    parser.add_argument("--cooldown", type=float, default=None, help="share of steps at the final threshold")
    parser.add_argument("--score-lr", type=float, default=None, help="learning rate of the scores "
                        "(default: the profile's)")
    parser.add_argument("--profile", default=None)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--output", default=None)
    parser.add_argument("--name", default=None, help="record name (default: the output folder's name)")
    parser.add_argument("--no-distill", action="store_true")
    parser.add_argument("--alpha", type=float, default=None,
                        help=f"weight of the distillation loss against the task loss (default: {Distillation.alpha})")
    parser.add_argument("--temperature", type=float, default=None,
                        help=f"softmax temperature of the distillation loss (default: {Distillation.temperature})")
    flags.add_hidden_flags(parser)
    flags.add_data_flags(parser)
    flags.add_training_flags(parser)
    args = parser.parse_args(argv)
    profile = get_profile(args.profile)
    target = target_from(args.target_density, args.target_speedup,
                         lam_flags={"--lam": args.lam, "--lam-ffn": args.lam_ffn, "--head-scale": args.head_scale})
    if args.target_method and target is None:  # the recipe refuses it too, in its keywords' spelling
        raise method_without_target(f"--target-method {args.target_method}", "--target-density or --target-speedup",
                                    "--target-method")
    knobs = {key: value for key, value in (("ffn_ratio", args.ffn_ratio), ("lead", args.steer_lead))
             if value is not None}
    if knobs and (target is None or args.target_method == "topk"):
        given = " and ".join(f"--{'steer-lead' if key == 'lead' else 'ffn-ratio'}" for key in knobs)
        raise steering_without_steer(given, None if target else "--target-density or --target-speedup",
                                     "--target-method topk")
    steering = Steering(**knobs) if knobs else None  # refuses values out of range before the teacher loads
    changes = method_changes(args.method, args.keep, target)
    # a keep fraction sets the size, so no L1 pull unless asked for (Sanh et al.'s TopK runs use none)
    lam = (0.0 if changes else profile.prune_lambda) if args.lam is None else args.lam
    run_id = RunId(args.preset, None if target else lam, None if target else args.lam_ffn,
                   target=target.as_pair() if target else None, profile=profile.name, seed=args.seed)
    output = args.output or f"runs/{run_id.name}"  # the sweep's name for the point
    if changes.get("method") and not args.output:  # a keep fraction is not a λ point: its own folder
        output = keep_run_folder(args.preset, args.method, args.keep, profile.name, args.seed)
    if args.score_lr is not None and args.score_lr <= 0:
        raise ValueError(f"--score-lr must be positive, got {args.score_lr:g}")
    score_lr = args.score_lr or profile.score_learning_rate
    changes = {**changes, **({"min_heads": args.min_heads} if args.min_heads else {})}
    tuned = {key: value for key, value in (("alpha", args.alpha), ("temperature", args.temperature))
             if value is not None}
    if tuned and args.no_distill:
        options = " and ".join(f"--{key}" for key in tuned)
        raise ValueError(f"{options} only matter with distillation, which --no-distill turns off: drop one")
    hidden = flags.hidden_from(args)
    if hidden and args.no_distill:
        raise ValueError("--hidden-distill distils from the teacher, which --no-distill turns off: drop one")
    distillation = Distillation(**tuned, **hidden)  # checked before the teacher loads
    overrides = {"seed": args.seed, **flags.trainer_overrides(args)}
    data = flags.data_from(args)
    result = prune_run(args.teacher, recipe_for(args.preset, lam, args.lam_ffn, score_lr, args.cooldown,
                                                args.head_scale, distillation, target, args.target_method,
                                                steering, **changes),
                       profile, output, data=data, name=args.name, distill=not args.no_distill,
                       overwrite=args.overwrite, **flags.sequence_from(args), **overrides)
    print(result, result.metrics)


if __name__ == "__main__":
    from bmp.cli import run

    raise SystemExit(run(main))
