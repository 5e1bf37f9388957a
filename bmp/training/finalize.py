"""Finalization runs: pack a pruned model, time it, and the "filled" re-fine-tune of ``hybrid-filled``.

Packing removes dead heads and FFN neurons. Inside the heads that survive, block pruning left zeros; filling
fine-tunes the packed model (no masks, same shapes, so the same speed) with distillation, letting them grow back.

    python -m bmp finalize --pruned runs/hybrid-lam50-course/final --teacher runs/teacher-course/final
    python -m bmp finalize --pruned runs/hybrid-lam50-course/final --teacher runs/teacher-course/final \
        --epochs 2 --output runs/hybrid-lam50-course-fill2 --fill-only      # a longer fill, recorded apart
"""
from __future__ import annotations

import argparse
import copy
import os
import time
from dataclasses import asdict, is_dataclass
from pathlib import Path

from transformers import TrainingArguments

from bmp.models import load_saved
from bmp.packing.card import write_model_card
from bmp.packing.pack import ALIGN_FFN, pack
from bmp.packing.saving import save_packed
from bmp.profiles import SEED, Profile, get_profile
from bmp.results.records import repo_relative, teacher_base_model
from bmp.training import flags
from bmp.training.distill import Distillation
from bmp.training.evaluation import step_points
from bmp.training.skeleton import (
    FROM_ARGUMENTS,
    RunResult,
    distil_train,
    model_metrics,
    open_teacher,
    qa_data,
    record_run,
    run_arguments,
    run_settings,
    written,
)


def fill(packed_model, teacher, profile: Profile | None = None, output_dir="runs/filled", data=None,
         epochs: float | None = None, learning_rate: float | None = None,
         distillation: Distillation = Distillation(), args: TrainingArguments | None = None,
         overwrite: bool = False, pruned=None, **train_overrides):
    """Fine-tune a packed model with distillation from the teacher (a folder or an opened
    :class:`~bmp.training.skeleton.Teacher`); returns ``(trained packed model, trainer)``. ``pruned``: the folder
    it was packed from, part of the fill's identity for resuming."""
    profile = profile or get_profile()
    teacher = open_teacher(teacher)
    data = qa_data(data, teacher.tokenizer, profile)
    settings = {"kind": "filled", "teacher": str(teacher.folder), "structure": packed_model.config.heads_per_layer
                + packed_model.config.intermediate_per_layer, "distillation": asdict(distillation),
                "pruned": None if pruned is None else os.path.abspath(pruned)}
    trainer, _ = distil_train(packed_model, teacher, data, profile, output_dir, epochs=epochs or profile.epochs,
                              default_lr=learning_rate or profile.prune_learning_rate, settings=settings,
                              distillation=distillation, args=args, overwrite=overwrite, **train_overrides)
    return trainer.model.eval(), trainer


def finalize_run(pruned, teacher, profile: Profile | None = None, output_dir=None, data=None,
                 do_fill: bool = True, align_ffn: int = ALIGN_FFN, name: str | None = None,
                 base_model: str | None = None, record_packed: bool = True, args: TrainingArguments | None = None,
                 overwrite: bool = False, max_seq_length: int | None = None, doc_stride: int | None = None,
                 **fill_overrides) -> list[RunResult]:
    """Pack ``pruned`` (a folder saved by a pruning run, or its :class:`RunResult`), aligned; record it, then fill
    it and record that too: F1, fill rate, CPU speedup. The teacher is opened once, the model packed once.

    ``record_packed=False`` skips the packed record (e.g. a second, longer fill of a pruned model whose packed
    model is already recorded). Under torchrun only the main process saves, times and records."""
    if not (do_fill or record_packed):
        raise ValueError("nothing to do: with do_fill=False, leave record_packed=True")
    profile = profile or get_profile()
    pruned_dir = Path(pruned.output_dir if isinstance(pruned, RunResult) else pruned)
    output_dir = Path(output_dir or pruned_dir.parent)
    name = name or output_dir.name
    pruned_model = load_saved(pruned_dir)  # a plain BERT with zeros (bmp prune saves the baked model); checked first
    teacher = open_teacher(teacher)
    data = qa_data(data, teacher.tokenizer, profile, max_seq_length=max_seq_length, doc_stride=doc_stride)
    packed = pack(pruned_model, align_ffn=align_ffn)
    stages = [("packed", packed, 0.0)] if record_packed else []
    # the arguments that know the process topology (torchrun): the fill's, else the profile's for this folder
    fill_points = {}
    writer = args or run_arguments(profile, output_dir, None, default_epochs=profile.epochs, default_lr=1.0,
                                   **{key: fill_overrides[key] for key in ("bf16", "fp16") if key in fill_overrides})
    if do_fill:
        start = time.perf_counter()
        filled, trainer = fill(copy.deepcopy(packed), teacher, profile, output_dir / "fill", data, args=args,
                               overwrite=overwrite, pruned=pruned_dir, **fill_overrides)
        stages.append(("filled", filled, time.perf_counter() - start))
        writer, fill_points = trainer.args, step_points(trainer.state)
    made = run_settings(pruned_dir.parent) or {}  # how the pruned run was made, when it says
    pruning = {"preset": made.get("preset"), **made["recipe"]} if made.get("recipe") else None
    results = []
    teacher_dir = speed = None
    for kind, model, train_s in stages:
        recipe = {"stage": kind, "pruning": pruning, "pruned": repo_relative(pruned_dir),
                  "teacher": repo_relative(teacher.folder) if teacher.folder else None, "align_ffn": align_ffn,
                  "fill_epochs": fill_overrides.get("epochs") if kind == "filled" else None}
        folder = output_dir / kind
        model = written(writer, folder, lambda f, m=model: save_packed(m, f, teacher.tokenizer))
        metrics, path = {}, None
        if writer.should_save:  # one process times, records and writes the model card
            teacher_dir = teacher_dir or teacher.saved_folder(output_dir / "teacher")
            metrics = {**model_metrics(model, folder, teacher_dir, data, teacher.tokenizer, speed=speed,
                                             bf16=writer.bf16),
                       "train_s": round(train_s, 1), **(fill_points if kind == "filled" else {}),
                       **({"timed_as": results[0].metrics.get("timed_as", results[0].output_dir.name)}
                          if speed is not None else {})}
            speed = metrics  # the filled model has the packed model's shape: one timing serves both
            path = record_run(f"{name}-{kind}", kind, metrics, profile, data, seed=writer.seed, bf16=writer.bf16,
                              base_model=base_model, pruned=pruned_dir, teacher=teacher.folder,
                              align_ffn=align_ffn, output_dir=Path(folder),
                              **{key: asdict(value) if is_dataclass(value) else value
                                 for key, value in fill_overrides.items() if key not in FROM_ARGUMENTS})
            write_card(folder, recipe, metrics, path)
        results.append(RunResult(model, metrics, folder, path))
    return results


def write_card(folder: Path, recipe: dict, metrics: dict, record_path) -> None:
    """The model card of a packed or filled folder, from its recipe and the metrics just recorded."""
    base = teacher_base_model(recipe["teacher"]) if recipe.get("teacher") else None
    write_model_card(folder, base_model=base, recipe={**recipe, "record": repo_relative(record_path)
                                                      if record_path else None}, metrics=metrics)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Pack a pruned model, then fill it (hybrid-filled).")
    parser.add_argument("--pruned", required=True, help="folder saved by bmp.training.prune (…/final)")
    parser.add_argument("--teacher", required=True)
    parser.add_argument("--profile", default=None)
    parser.add_argument("--no-fill", action="store_true")
    parser.add_argument("--align-ffn", type=int, default=ALIGN_FFN)
    parser.add_argument("--output", default=None, help="run folder (default: the pruned run's folder)")
    parser.add_argument("--name", default=None, help="record name prefix (default: the run folder's name)")
    parser.add_argument("--fill-only", action="store_true", help="don't record the packed model again")
    parser.add_argument("--seed", type=int, default=SEED)
    flags.add_hidden_flags(parser)
    flags.add_data_flags(parser)
    flags.add_training_flags(parser)
    args = parser.parse_args(argv)
    overrides = flags.trainer_overrides(args)
    epochs = overrides.pop("num_train_epochs", None)
    hidden = flags.hidden_from(args)
    overrides = {"seed": args.seed, **({"epochs": epochs} if epochs else {}),
                 **({"distillation": Distillation(**hidden)} if hidden else {}), **overrides}
    for result in finalize_run(args.pruned, args.teacher, get_profile(args.profile), output_dir=args.output,
                               data=flags.data_from(args), do_fill=not args.no_fill, align_ffn=args.align_ffn,
                               name=args.name, record_packed=not args.fill_only, overwrite=args.overwrite,
                               **flags.sequence_from(args), **overrides):
        if result.metrics:  # the main process's result (under torchrun the others record nothing)
            print(result, {k: result.metrics[k] for k in ("f1", "fill_rate", "cpu_speedup")})


if __name__ == "__main__":
    from bmp.cli import run

    raise SystemExit(run(main))
