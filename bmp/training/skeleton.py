"""The run skeleton every run kind shares: open the teacher and its tokenizer once, turn the user's data into
windows, build the training arguments (the user's own win), refuse to resume another run's checkpoints, and let
only the main process write.

Under ``torchrun`` or ``accelerate launch`` every process runs the same script. Training is spread over them by
``Trainer``; everything that writes (final folders, packed models, records, model cards, timing) happens on the main
process only, inside :func:`main_first`: the other processes wait at a barrier, then read what it wrote.
"""
from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from torch import nn
from transformers import TrainingArguments

from bmp.models import load_saved, load_tokenizer
from bmp.profiles import Profile
from bmp.squad import SquadSplits, load_squad, splits_for_profile, train_collator
from bmp.training.distill import Distillation
from bmp.training.kit import QAData, RunResult, prepare_data, resume_point, training_arguments
from bmp.training.trainer import DistillationTrainer

SETTINGS_FILE = "run_settings.json"  # what a run folder's checkpoints were made with; resume checks it


# ---------------------------------------------------------------- the teacher, opened once

@dataclass(frozen=True)
class Teacher:
    """A dense fine-tuned model, its tokenizer and (when it is saved) its folder, opened once per run."""

    model: nn.Module
    tokenizer: object
    folder: Path | None  # None for a model that lives only in memory: timing it needs a folder, see saved_folder

    def copy(self) -> nn.Module:
        """A trainable copy: students start from the teacher without reading it from disk again."""
        return copy.deepcopy(self.model).train()

    def saved_folder(self, scratch: Path) -> Path:
        """The teacher's folder; a teacher given as a model object is saved once under ``scratch`` first (the
        fresh-process timing and the records need a folder)."""
        if self.folder is not None:
            return self.folder
        scratch = Path(scratch)
        if not (scratch / "config.json").is_file():
            self.model.save_pretrained(str(scratch))
            self.tokenizer.save_pretrained(str(scratch))
        return scratch


def open_teacher(teacher, tokenizer=None) -> Teacher:
    """``teacher`` as a :class:`Teacher`: a folder (``…/final``), a :class:`~bmp.training.kit.RunResult` of
    :func:`bmp.finetune`, a ``Teacher``, or a model object (then pass its ``tokenizer``)."""
    if isinstance(teacher, Teacher):
        return teacher
    if isinstance(teacher, RunResult):
        return Teacher(teacher.model.eval(), tokenizer or load_tokenizer(teacher.output_dir), teacher.output_dir)
    if isinstance(teacher, nn.Module):
        if tokenizer is None:
            raise ValueError(f"a teacher given as a model object ({type(teacher).__name__}) needs its tokenizer: "
                             "pass tokenizer=..., or pass the teacher's folder instead")
        return Teacher(teacher.eval(), tokenizer, None)
    if isinstance(teacher, (str, Path)):
        folder = Path(teacher)
        model = load_saved(folder)  # first: a wrong folder fails before minutes of tokenizing
        return Teacher(model, tokenizer or load_tokenizer(folder), folder)
    raise TypeError(f"teacher must be a folder, a RunResult, a Teacher or a model, not {type(teacher).__name__}")


# ---------------------------------------------------------------- the data, as the user has it

def splits_of(data, profile: Profile) -> SquadSplits:
    """The user's data as :class:`SquadSplits`, used as given: ``None`` is the profile's default (the dev file split
    by article, or the shipped sample); anything else goes through :func:`bmp.squad.load_squad` untouched (no
    profile cap, no sample swapped in)."""
    if data is None:
        return splits_for_profile(profile)
    if isinstance(data, SquadSplits):
        return data
    if isinstance(data, dict) and set(data) <= {"train", "validation", "eval"}:
        return load_squad(**data)
    return load_squad(data)


def qa_data(data, tokenizer, profile: Profile, *, max_seq_length: int | None = None,
            doc_stride: int | None = None) -> QAData:
    """Windows of the user's data (see :func:`splits_of`) at the profile's sequence length unless told otherwise.
    A :class:`QAData` (already windowed) is reused as it is, unless another sequence length is asked for."""
    if isinstance(data, QAData):
        if max_seq_length is not None and data.max_seq_length != max_seq_length:
            raise ValueError(f"the data was tokenized at max_seq_length {data.max_seq_length}, but this run asks "
                             f"for {max_seq_length}: pass the raw data (or splits) instead, or the same length")
        return data
    length = max_seq_length or profile.max_seq_length
    stride = doc_stride or (profile.doc_stride if length == profile.max_seq_length else length // 3)
    if stride >= length:
        raise ValueError(f"doc_stride {stride} must be smaller than max_seq_length {length}: lower --doc-stride")
    return prepare_data(profile.with_(max_seq_length=length, doc_stride=stride), tokenizer, splits=splits_of(data,
                                                                                                             profile))


def data_fingerprint(data: QAData) -> dict:
    """What identifies a run's data for resuming: its source, split and the questions (hashed ids)."""
    splits = data.splits
    ids = hashlib.sha1("\n".join(example["id"] for example in splits.train).encode()).hexdigest()[:12]
    return {"source": splits.source, "split": splits.split_name, "train_questions": len(splits.train),
            "train_ids": ids, "max_seq_length": data.max_seq_length}


# ---------------------------------------------------------------- the training arguments

def run_arguments(profile: Profile, output_dir, args: TrainingArguments | None = None, *, default_epochs: float,
                  default_lr: float, **overrides) -> TrainingArguments:
    """The user's own ``TrainingArguments`` when given (their precision, accumulation, ``report_to``, checkpoint
    steps and learning rate win; only ``output_dir`` is set to the run's folder), else the profile's, with
    ``overrides`` (the command-line flags, as ``TrainingArguments`` fields) on top of the run kind's default epochs
    and learning rate."""
    if args is None:
        epochs = overrides.pop("num_train_epochs", default_epochs)
        learning_rate = overrides.pop("learning_rate", default_lr)
        return training_arguments(profile, output_dir, epochs=epochs, learning_rate=learning_rate, **overrides)
    if overrides:
        raise ValueError(f"pass either your own TrainingArguments or the options {sorted(overrides)}, not both: "
                         "set them on your TrainingArguments")
    return args if Path(args.output_dir) == Path(output_dir) else replace(args, output_dir=str(output_dir))


# ---------------------------------------------------------------- resuming only what the same settings made

def claim_folder(output_dir, settings: dict, args: TrainingArguments, *, overwrite: bool = False) -> str | None:
    """Make ``output_dir`` this run's, and return the checkpoint to resume from (None: start afresh).

    A folder whose checkpoints were made with other settings (preset, lambda, target, data, seed, teacher...) is
    refused, naming both, unless ``overwrite``, which deletes its checkpoints and final folders first."""
    output_dir = Path(output_dir)
    path = output_dir / SETTINGS_FILE
    settings = json.loads(json.dumps(settings, default=str))  # as it will read back
    previous = json.loads(path.read_text()) if path.is_file() else None
    started = resume_point(output_dir) is not None or (output_dir / "final").exists()
    if started and previous != settings and not overwrite:
        changed = sorted(k for k in set(settings) | set(previous or {})
                         if (previous or {}).get(k) != settings.get(k))
        theirs = {k: (previous or {}).get(k) for k in changed}
        ours = {k: settings.get(k) for k in changed}
        raise ValueError(f"{output_dir} holds a run made with other settings ({theirs if previous else 'unknown'}); "
                         f"this run asks for {ours}. Rerun with --overwrite (overwrite=True) to start afresh there, "
                         "or pick another --output")
    with main_first(args):
        if args.should_save:
            if overwrite and started:
                for old in [*output_dir.glob("checkpoint-*"), output_dir / "final"]:
                    shutil.rmtree(old, ignore_errors=True)
            output_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(settings, indent=1, sort_keys=True) + "\n")
    return resume_point(output_dir)


def run_settings(run_dir) -> dict | None:
    """The settings a run folder was made with (None for a folder made before they were written)."""
    path = Path(run_dir) / SETTINGS_FILE
    return json.loads(path.read_text()) if path.is_file() else None


# ---------------------------------------------------------------- training, with distillation

def distil_train(student: nn.Module, teacher: Teacher, data: QAData, profile: Profile, output_dir, *, epochs: float,
                 default_lr: float, settings: dict, distillation=None, args: TrainingArguments | None = None,
                 overwrite: bool = False, **overrides):
    """Train ``student`` on the training windows with distillation from ``teacher``, resuming from the newest
    checkpoint that the same ``settings`` made in ``output_dir``; returns ``(trainer, train_seconds)``. A
    ``learning_rate`` in ``overrides`` (a flag) wins over ``default_lr``. Fill,
    control, layer-drop and the peer baseline all train this way."""
    args = run_arguments(profile, output_dir, args, default_epochs=epochs, default_lr=default_lr, **overrides)
    resume = claim_folder(output_dir, {**settings, "data": data_fingerprint(data), "seed": args.seed,
                                       "epochs": args.num_train_epochs, "max_steps": args.max_steps}, args,
                          overwrite=overwrite)
    trainer = DistillationTrainer(model=student, args=args, train_dataset=data.train_features,
                                  data_collator=train_collator(teacher.tokenizer), processing_class=teacher.tokenizer,
                                  teacher=teacher.model, distillation=distillation or Distillation())
    start = time.perf_counter()
    trainer.train(resume_from_checkpoint=resume)
    return trainer, time.perf_counter() - start


# ---------------------------------------------------------------- one writer

@contextlib.contextmanager
def main_first(args: TrainingArguments):
    """The main process runs the block first; the others wait at a barrier, then run it (guard writes with
    ``args.should_save`` inside, and load what the main process wrote). A no-op barrier on one process."""
    with args.main_process_first(local=False, desc="bmp writes"):
        yield


def written(args: TrainingArguments, folder, save: Callable[[Path], object]) -> nn.Module:
    """The main process calls ``save(folder)``; then every process loads the folder, which is also what users will
    load (the trained object may still carry the trainer's wrappers)."""
    folder = Path(folder)
    with main_first(args):
        if args.should_save:
            save(folder)
    return load_saved(folder)


__all__ = ["SETTINGS_FILE", "Teacher", "claim_folder", "data_fingerprint", "distil_train", "main_first",
           "open_teacher", "qa_data", "run_arguments", "run_settings", "splits_of", "written"]
