"""The options every training command takes: the user's data files, and the training settings that override the
profile's. ``python -m bmp finetune|prune|finalize|control|layer-drop|torch-pruning`` all read them the same way.

    python -m bmp prune --teacher runs/teacher/final --train-file my_train.jsonl --validation-file my_dev.json \\
        --max-seq-length 256 --batch-size 8 --gradient-accumulation-steps 4 --learning-rate 5e-5 --bf16
"""
from __future__ import annotations

import argparse

from bmp.profiles import SEED
from bmp.training.distill import HIDDEN_LOSSES

# flag -> TrainingArguments field, for the settings passed straight to the trainer
TRAINER_FLAGS = {"batch_size": "per_device_train_batch_size", "learning_rate": "learning_rate",
                 "gradient_accumulation_steps": "gradient_accumulation_steps", "max_steps": "max_steps",
                 "save_steps": "save_steps", "eval_steps": "eval_steps", "bf16": "bf16", "fp16": "fp16",
                 "epochs": "num_train_epochs"}


def add_run_flags(parser: argparse.ArgumentParser) -> None:
    """What every distillation run names: its teacher, profile, folder, record and seed."""
    parser.add_argument("--teacher", required=True, help="the dense teacher's folder")
    parser.add_argument("--profile", default=None, help="smoke | course | full (default: $BMP_PROFILE or course)")
    parser.add_argument("--output", default=None, help="run folder (default: runs/<name>)")
    parser.add_argument("--name", default=None, help="record name")
    parser.add_argument("--seed", type=int, default=SEED)


def add_data_flags(parser: argparse.ArgumentParser, *, eval_file: bool = True) -> None:
    group = parser.add_argument_group("your data (default: the profile's; files are used as given, nothing moved)")
    group.add_argument("--train-file", default=None, help="SQuAD v1.1 JSON, JSONL (squad columns), a saved "
                       "datasets folder, or (online) a hub dataset name")
    group.add_argument("--validation-file", default=None, help="for choosing settings; also scored when no "
                       "--eval-file is given")
    if eval_file:
        group.add_argument("--eval-file", default=None, help="the held-out set that is scored and recorded")


def add_training_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("training (default: the profile's)")
    group.add_argument("--max-seq-length", type=int, default=None)
    group.add_argument("--doc-stride", type=int, default=None)
    group.add_argument("--batch-size", type=int, default=None, help="per device")
    group.add_argument("--learning-rate", "--lr", dest="learning_rate", type=float, default=None)
    group.add_argument("--gradient-accumulation-steps", type=int, default=None)
    group.add_argument("--epochs", type=float, default=None)
    group.add_argument("--max-steps", type=int, default=None, help="stop after this many optimizer steps")
    group.add_argument("--save-steps", type=int, default=None, help="a checkpoint every this many steps")
    group.add_argument("--eval-steps", type=int, default=None, help="validation F1 every this many steps, "
                       "recorded as the run's validation_steps")
    precision = group.add_mutually_exclusive_group()
    precision.add_argument("--bf16", action="store_true", default=None, help="bf16 mixed precision")
    precision.add_argument("--fp16", action="store_true", default=None, help="fp16 mixed precision (GPU)")
    precision.add_argument("--fp32", action="store_true", default=None,
                           help="plain fp32, also where the CPU has fast bf16 (the default there): to match or "
                                "rebuild runs made on a CPU without it")
    group.add_argument("--overwrite", action="store_true",
                       help="start afresh in an --output folder that holds another run's checkpoints")


def add_hidden_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("hidden-state distillation (default: off, logits only)")
    group.add_argument("--hidden-distill", type=float, default=None, metavar="W",
                       help="add W times a layer-wise loss between the student's and the teacher's hidden states")
    group.add_argument("--hidden-loss", choices=HIDDEN_LOSSES, default=None,
                       help="mse (as CoFi, the default) or cosine (as DistilBERT)")


def hidden_from(args: argparse.Namespace) -> dict:
    """The hidden-state distillation the flags ask for, as :class:`~bmp.training.distill.Distillation` fields."""
    if args.hidden_distill is None:
        if args.hidden_loss is not None:
            raise ValueError("--hidden-loss only matters with --hidden-distill W: add a weight, e.g. "
                             "--hidden-distill 1")
        return {}
    return {"hidden": args.hidden_distill, **({"hidden_loss": args.hidden_loss} if args.hidden_loss else {})}


def data_from(args: argparse.Namespace):
    """The data the flags name, for :func:`bmp.training.skeleton.splits_of` (None: the profile's)."""
    files = {split: getattr(args, f"{split}_file", None) for split in ("train", "validation", "eval")}
    if not any(files.values()):
        return None
    if files["train"] is None:
        raise ValueError("--validation-file / --eval-file need a --train-file too (the run trains on it)")
    return {split: path for split, path in files.items() if path is not None}


def trainer_overrides(args: argparse.Namespace) -> dict:
    """The training flags that were given, as ``TrainingArguments`` fields (the profile fills in the rest)."""
    overrides = {field: getattr(args, flag) for flag, field in TRAINER_FLAGS.items()
                 if getattr(args, flag, None) is not None}
    if overrides.get("fp16"):
        overrides["bf16"] = False  # the profile turns bf16 on where the hardware has it; fp16 asked for wins
    if overrides.get("bf16"):
        overrides["fp16"] = False
    if getattr(args, "fp32", None):
        overrides.update(bf16=False, fp16=False)
    for flag in ("batch_size", "gradient_accumulation_steps", "max_steps", "save_steps", "eval_steps",
                 "max_seq_length"):
        value = getattr(args, flag, None)
        if value is not None and value <= 0:
            raise ValueError(f"--{flag.replace('_', '-')} must be positive, got {value}")
    if getattr(args, "doc_stride", None) is not None and args.doc_stride <= 0:
        raise ValueError(f"--doc-stride must be positive, got {args.doc_stride}")
    if getattr(args, "seed", None) is not None and args.seed < 0:
        raise ValueError(f"--seed must be 0 or more, got {args.seed}")
    for flag in ("learning_rate", "epochs"):
        value = getattr(args, flag, None)
        if value is not None and value <= 0:
            raise ValueError(f"--{flag.replace('_', '-')} must be positive, got {value:g}")
    return overrides


def sequence_from(args: argparse.Namespace) -> dict:
    """``max_seq_length`` / ``doc_stride`` for :func:`bmp.training.skeleton.qa_data`."""
    return {"max_seq_length": getattr(args, "max_seq_length", None), "doc_stride": getattr(args, "doc_stride", None)}


__all__ = ["TRAINER_FLAGS", "add_data_flags", "add_hidden_flags", "add_run_flags", "add_training_flags", "data_from",
           "hidden_from", "sequence_from", "trainer_overrides"]
