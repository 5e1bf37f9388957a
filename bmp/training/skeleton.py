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
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
from torch import nn
from transformers import TrainingArguments

from bmp.models import load_saved, load_tokenizer
from bmp.packing.size import size_report
from bmp.profiles import SEED, Profile
from bmp.results.records import provenance, record, repo_relative, teacher_base_model
from bmp.results.run_id import with_seed
from bmp.speed.fresh import fresh_speedup
from bmp.squad import SquadSplits, load_squad, splits_for_profile, train_collator
from bmp.training.checkpoints import resume_point
from bmp.training.distill import Distillation
from bmp.training.evaluation import QAData, ValidationCurve, evaluate_both, fast_bf16, prepare_data
from bmp.training.trainer import DistillationTrainer

SETTINGS_FILE = "run_settings.json"  # what a run folder's checkpoints were made with; resume checks it
LATER_STAGES = ("final", "fill", "packed", "filled", "teacher")  # made from a run folder's checkpoints


# ---------------------------------------------------------------- arguments and results every run shares

SAVE_STEPS = 100  # a checkpoint every ~4 minutes of course-profile training on 2 CPU cores
GPU_SAVE_STEPS = 1000  # on a GPU 100 steps take seconds: saving model and optimizer that often would dominate
WEIGHT_DECAY = 0.01
WARMUP_SHARE = 0.1  # of the steps, for the learning rate


def training_arguments(profile: Profile, output_dir, *, epochs: float | None = None,
                       learning_rate: float | None = None, **overrides) -> TrainingArguments:
    cuda = torch.cuda.is_available()
    bf16 = fast_bf16()
    values = dict(
        output_dir=str(output_dir), num_train_epochs=epochs or profile.epochs,
        per_device_train_batch_size=profile.batch_size, learning_rate=learning_rate or profile.learning_rate,
        lr_scheduler_type="linear", warmup_steps=WARMUP_SHARE, weight_decay=WEIGHT_DECAY, save_strategy="steps",
        save_steps=GPU_SAVE_STEPS if cuda else SAVE_STEPS,
        save_total_limit=2, logging_steps=10, report_to=[], seed=SEED, bf16=bf16,
        use_cpu=not cuda,
        dataloader_num_workers=0, train_sampling_strategy="group_by_length",  # less padding: CPU time is precious
        disable_tqdm=False,
    )
    values.update(overrides)
    return TrainingArguments(**values)


@dataclass(frozen=True)
class RunResult:
    model: object
    metrics: dict
    output_dir: Path
    record_path: Path | None

    def __repr__(self) -> str:
        m = self.metrics
        em, f1 = m.get("exact_match", float("nan")), m.get("f1", float("nan"))
        return f"RunResult(EM {em:.1f}, F1 {f1:.1f}, {self.output_dir})"


# ---------------------------------------------------------------- the teacher, opened once

@dataclass(frozen=True)
class Teacher:
    """A dense fine-tuned model, its tokenizer and (when it is saved) its folder, opened once per run."""

    model: nn.Module
    tokenizer: object
    folder: Path | None  # None for a model that lives only in memory: timing it needs a folder, see saved_folder

    def copy(self) -> nn.Module:
        """A trainable copy: students start from the teacher without reading it from disk again. A trainer freezes
        the teacher it distils from, so the copy's weights are made trainable again."""
        return copy.deepcopy(self.model).train().requires_grad_(True)

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
    """``teacher`` as a :class:`Teacher`: a folder (``…/final``), a :class:`~bmp.training.skeleton.RunResult` of
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


@dataclass(frozen=True)
class DistilRun:
    """What a distillation run (control, layer-drop, the peer) starts from: the teacher opened once, the data, and
    the seed, name, folder and epochs it trains under."""

    teacher: Teacher
    data: object  # QAData
    seed: int
    name: str
    output_dir: Path
    epochs: float


def open_distil_run(teacher, data, profile: Profile, *, base: str, seed: int, name: str | None = None,
                    output_dir=None, epochs: float | None = None, args: TrainingArguments | None = None,
                    max_seq_length: int | None = None, doc_stride: int | None = None) -> DistilRun:
    """Open the teacher (first: a wrong folder fails before minutes of tokenizing), window the data, and settle
    the seed (the user's arguments carry the one that trains), the name (``base``, with the seed's part), the folder
    (``runs/<name>``) and the epochs (the profile's prune + fill, so every run kind trains as long as bmp's own)."""
    teacher = open_teacher(teacher)
    data = qa_data(data, teacher.tokenizer, profile, max_seq_length=max_seq_length, doc_stride=doc_stride)
    seed = args.seed if args is not None else seed
    name = name or with_seed(base, seed)
    return DistilRun(teacher, data, seed, name, Path(output_dir or Path("runs") / name),
                     epochs or profile.prune_epochs + profile.epochs)


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
    overrides.pop("seed", None)  # the run kinds pass their default seed; the user's arguments carry their own
    if overrides:
        raise ValueError(f"pass either your own TrainingArguments or the options {sorted(overrides)}, not both: "
                         "set them on your TrainingArguments")
    return args if Path(args.output_dir) == Path(output_dir) else replace(args, output_dir=str(output_dir))


# ---------------------------------------------------------------- resuming only what the same settings made

PRECISION = ("bf16", "fp16")  # the training's precision among a folder's settings


def claim_folder(output_dir, settings: dict, args: TrainingArguments, *, overwrite: bool = False) -> str | None:
    """Make ``output_dir`` this run's, and return the checkpoint to resume from (None: start afresh).

    A folder whose checkpoints were made with other settings (preset, lambda, target, data, teacher, and the
    training's seed, learning rate, batch, length and precision) is refused, naming both, unless ``overwrite``,
    which deletes its checkpoints and the models made from them (final, and a pruning run's fill, packed and
    filled) first."""
    output_dir = Path(output_dir)
    path = output_dir / SETTINGS_FILE
    batch = args.per_device_train_batch_size * args.gradient_accumulation_steps * max(args.world_size, 1)
    settings = {**settings, "seed": args.seed, "learning_rate": args.learning_rate, "batch": batch,
                "epochs": args.num_train_epochs, "max_steps": args.max_steps, "bf16": bool(args.bf16),
                "fp16": bool(args.fp16),
                **({"teacher": os.path.abspath(settings["teacher"])} if settings.get("teacher") not in (None, "None")
                   else {})}  # a teacher named two ways (relative, absolute) is one teacher
    settings = json.loads(json.dumps(settings, default=str))  # as it will read back
    previous = json.loads(path.read_text()) if path.is_file() else None
    if previous is not None:  # a folder from before the precision was kept says nothing of it
        previous = {**{key: settings[key] for key in PRECISION if key not in previous}, **previous}
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
                for old in [*output_dir.glob("checkpoint-*"), *(output_dir / name for name in LATER_STAGES)]:
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
                                  teacher=teacher.model, distillation=distillation or Distillation(),
                                  callbacks=[ValidationCurve(data, teacher.tokenizer, at_epochs=False)])
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


# ---------------------------------------------------------------- records

# what record_run takes from the run's arguments (the provenance's seed, the config's bf16_autocast): never passed
# again among a run's settings
FROM_ARGUMENTS = ("seed", "bf16", "fp16")


def record_run(name: str, kind: str, metrics: dict, profile: Profile, data: QAData, *, seed: int, bf16: bool,
               base_model: str | None = None, **config):
    """Record a run with its provenance; path-like config values are stored repo-relative, and ``bf16`` (whether
    the run trained and scored under bf16 autocast, as its arguments said) as ``bf16_autocast``. A run from a
    ``teacher`` names the teacher's base model unless ``base_model`` is given (the profile's model is only asked for,
    and the teacher may have been trained from another)."""
    if base_model is None and config.get("teacher") is not None:
        base_model = teacher_base_model(config["teacher"])

    paths = ("teacher", "output_dir", "pruned")
    config = {key: repo_relative(value) if value is not None and (isinstance(value, Path) or key in paths) else value
              for key, value in config.items()}
    return record(name, kind, metrics,
                  provenance(base_model=base_model or profile.model, data_split=data.splits.description,
                             profile=profile.name, seed=seed),
                  config={"bf16_autocast": bool(bf16), **config, "profile": asdict(profile)})


SIZE_KEYS = ("total_params", "linear_params", "dense_linear_params", "fill_rate", "nonzero_fill_rate",
             "linear_reduction", "heads_per_layer", "neurons_per_layer", "dense_heads", "dense_neurons", "disk_bytes")


SPEED_KEYS = ("cpu_speedup", "cpu_dense_median_s", "cpu_packed_median_s", "cpu_timing")


def model_metrics(model, folder: Path, teacher_dir, data: QAData, tokenizer, dense_config=None,
                  speed: dict | None = None, *, bf16: bool) -> dict:
    """What every model-making run records about the model it saved: held-out and validation scores, its size
    against the dense model, and its CPU speedup over the teacher timed in a fresh process. ``speed``: the timing
    of a model of the same shape, reused (a run's packed and filled models share their shape, hence their speed).
    ``bf16``: scored under bf16 autocast, as the run trained."""
    size = size_report(model, dense_config, folder=folder).to_dict()
    timed = fresh_speedup(teacher_dir, folder) if speed is None else {k: speed[k] for k in SPEED_KEYS if k in speed}
    return {**evaluate_both(model, data, tokenizer, bf16), **{k: size[k] for k in SIZE_KEYS if k in size}, **timed}


__all__ = ["SEED", "SETTINGS_FILE", "DistilRun", "RunResult", "Teacher", "claim_folder", "data_fingerprint",
           "distil_train", "main_first", "model_metrics", "open_distil_run", "open_teacher", "qa_data", "record_run",
           "run_arguments", "run_settings", "splits_of", "training_arguments", "written"]
