"""Finalization runs: pack a pruned model, time it, and the "filled" re-fine-tune of ``hybrid-filled``.

Packing removes dead heads and FFN neurons. Inside the heads that survive, block pruning left zeros; filling
fine-tunes the packed model (no masks, same shapes, so the same speed) with distillation, letting them grow back.

    python -m bmp finalize --pruned runs/hybrid-lam50-course/final --teacher runs/teacher-course/final
    python -m bmp finalize --pruned runs/hybrid-lam50-course/final --teacher runs/teacher-course/final \
        --epochs 2 --output runs/hybrid-lam50-course-fill2 --fill-only      # a longer fill, recorded apart
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from bmp.models import load_saved, load_tokenizer
from bmp.packing.pack import pack
from bmp.packing.saving import load_packed, save_packed
from bmp.profiles import Profile, get_profile
from bmp.training.distill import Distillation
from bmp.training.kit import SEED, QAData, RunResult, distil_train, model_metrics, prepare_data, record_run

ALIGN_FFN = 8  # multiples of 8 keep tensor cores and CPU vector units busy; exact either way


def fill(packed_model, teacher_dir, profile: Profile | None = None, output_dir="runs/filled",
         data: QAData | None = None, epochs: float | None = None, learning_rate: float | None = None,
         distillation: Distillation = Distillation(), **train_overrides):
    """Fine-tune a packed model with distillation from the teacher; returns the trained packed model."""
    profile = profile or get_profile()
    tokenizer = load_tokenizer(teacher_dir)
    data = data or prepare_data(profile, tokenizer)
    trainer, _ = distil_train(packed_model, load_saved(teacher_dir), tokenizer, data, profile, output_dir,
                              epochs=epochs or profile.epochs,
                              learning_rate=learning_rate or profile.prune_learning_rate,
                              distillation=distillation, **train_overrides)
    return trainer.model.eval(), trainer


def finalize_run(pruned_dir, teacher_dir, profile: Profile | None = None, output_dir=None, data: QAData | None = None,
                 do_fill: bool = True, align_ffn: int = ALIGN_FFN, name: str | None = None,
                 base_model: str | None = None, record_packed: bool = True, **fill_overrides) -> list[RunResult]:
    """Pack ``pruned_dir`` (aligned), record it, then fill it and record that too: F1, fill rate, CPU speedup.

    ``record_packed=False`` skips the packed record (e.g. a second, longer fill of a pruned model whose packed
    model is already recorded)."""
    if not (do_fill or record_packed):
        raise ValueError("nothing to do: with do_fill=False, leave record_packed=True")
    profile = profile or get_profile()
    pruned_dir = Path(pruned_dir)
    output_dir = Path(output_dir or pruned_dir.parent)
    name = name or output_dir.name
    pruned = load_saved(pruned_dir)  # a plain BERT with zeros (bmp prune saves the baked model); checked first
    load_saved(teacher_dir)  # fail on a wrong teacher folder now, not after the pruned model is tokenized for
    tokenizer = load_tokenizer(teacher_dir)
    data = data or prepare_data(profile, tokenizer)
    packed = pack(pruned, align_ffn=align_ffn)
    results = []
    stages = [("packed", packed, 0.0)] if record_packed else []
    if do_fill:
        start = time.perf_counter()
        filled, _ = fill(pack(pruned, align_ffn=align_ffn), teacher_dir, profile, output_dir / "fill", data,
                         **fill_overrides)
        stages.append(("filled", filled, time.perf_counter() - start))
    for kind, model, train_s in stages:
        folder = save_packed(model, output_dir / kind, tokenizer)
        model = load_packed(folder)  # what users will load, checked end to end
        metrics = {**model_metrics(model, folder, teacher_dir, data, tokenizer), "train_s": round(train_s, 1)}
        path = record_run(f"{name}-{kind}", kind, metrics, profile, data, seed=fill_overrides.get("seed", SEED),
                          base_model=base_model, pruned=Path(pruned_dir), teacher=Path(teacher_dir),
                          align_ffn=align_ffn, output_dir=Path(folder),
                          **{key: value for key, value in fill_overrides.items() if key != "seed"})
        results.append(RunResult(model, metrics, folder, path))
    return results


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Pack a pruned model, then fill it (hybrid-filled).")
    parser.add_argument("--pruned", required=True, help="folder saved by bmp.training.prune (…/final)")
    parser.add_argument("--teacher", required=True)
    parser.add_argument("--profile", default=None)
    parser.add_argument("--no-fill", action="store_true")
    parser.add_argument("--epochs", type=float, default=None)
    parser.add_argument("--align-ffn", type=int, default=ALIGN_FFN)
    parser.add_argument("--output", default=None, help="run folder (default: the pruned run's folder)")
    parser.add_argument("--name", default=None, help="record name prefix (default: the run folder's name)")
    parser.add_argument("--fill-only", action="store_true", help="don't record the packed model again")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    overrides = {"seed": args.seed, **({"epochs": args.epochs} if args.epochs else {})}
    for result in finalize_run(args.pruned, args.teacher, get_profile(args.profile), output_dir=args.output,
                               do_fill=not args.no_fill, align_ffn=args.align_ffn, name=args.name,
                               record_packed=not args.fill_only, **overrides):
        print(result, {k: result.metrics[k] for k in ("f1", "fill_rate", "cpu_speedup")})


if __name__ == "__main__":
    from bmp.cli import run

    raise SystemExit(run(main))
