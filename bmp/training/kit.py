"""The run kit: what every training run shares (data, arguments, evaluation, resume, the result it returns).

Runs are built on the Hugging Face ``Trainer``: checkpoints every ``save_steps``, resume from the newest complete
checkpoint in the output folder, and run under ``torchrun``/``accelerate launch`` for multi-GPU.
"""
from __future__ import annotations

import functools
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader
from transformers import TrainerCallback, TrainingArguments

from bmp.profiles import Profile
from bmp.squad import (
    SquadSplits,
    eval_collator,
    postprocess_predictions,
    splits_for_profile,
    squad_scores,
    tokenize_eval,
    tokenize_train,
)

MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


@functools.cache  # the answer can't change while the process runs; evaluation asks once per batch
def fast_bf16() -> bool:
    """bf16 autocast pays off on a GPU and on CPUs with AMX/AVX512-BF16 (3x faster inference, 1.5x training here);
    elsewhere it would be slower than fp32."""
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


@dataclass(frozen=True)
class QAData:
    """Tokenized once, reused by every run of a session: train windows, eval windows and the raw examples."""

    splits: SquadSplits
    train_features: object  # datasets.Dataset (None for evaluation-only data)
    eval_features: object  # datasets.Dataset, with example_id / offset_mapping
    max_seq_length: int
    validation_features: object = None  # datasets.Dataset of the validation articles (None when there are none)

    def __repr__(self) -> str:
        windows = len(self.train_features) if self.train_features is not None else 0
        return (f"QAData({len(self.splits.train):,} train questions -> {windows:,} windows, "
                f"{len(self.splits.validation):,} validation, "
                f"{len(self.splits.eval):,} held-out -> {len(self.eval_features):,}; {self.splits.split_name})")

    def split(self, name: str) -> tuple[list[dict], object]:
        """``(examples, features)`` of ``"heldout"`` (the reported split) or ``"validation"`` (for choosing)."""
        if name == "heldout":
            return self.splits.eval, self.eval_features
        if name == "validation":
            if self.validation_features is None:
                raise ValueError("this data has no validation articles: load it with validation_articles > 0")
            return self.splits.validation, self.validation_features
        raise ValueError(f"unknown split {name!r}: use 'heldout' or 'validation'")


def prepare_data(profile: Profile, tokenizer, path=None, splits: SquadSplits | None = None) -> QAData:
    """Windows of ``splits`` (default: the profile's data, read from ``path`` when given) at the profile's sequence
    length and stride."""
    splits = splits or splits_for_profile(profile, path)
    validation = (tokenize_eval(splits.validation, tokenizer, profile.max_seq_length, profile.doc_stride)
                  if splits.validation else None)
    return QAData(splits,
                  tokenize_train(splits.train, tokenizer, profile.max_seq_length, profile.doc_stride)
                  if splits.train else None,  # None: evaluation only
                  tokenize_eval(splits.eval, tokenizer, profile.max_seq_length, profile.doc_stride),
                  profile.max_seq_length, validation)


@torch.inference_mode()
def predict_logits(model, data: QAData, tokenizer, batch_size: int = 32, split: str = "heldout",
                   bf16: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(n_windows, max_seq_length) start and end logits; positions past a window's end hold -1e4. ``bf16``: run
    under bf16 autocast (default: where the CPU has fast bf16, as training does); ``False`` for plain fp32."""
    bf16 = fast_bf16() if bf16 is None else bf16
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    loader = DataLoader(data.split(split)[1], batch_size=batch_size, collate_fn=eval_collator(tokenizer))
    starts, ends = [], []
    for batch in loader:
        batch = {k: v.to(device) for k, v in batch.items() if k in MODEL_INPUTS}
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            out = model(**batch)
        pad = data.max_seq_length - out.start_logits.shape[1]
        starts.append(torch.nn.functional.pad(out.start_logits.float(), (0, pad), value=-1e4).cpu().numpy())
        ends.append(torch.nn.functional.pad(out.end_logits.float(), (0, pad), value=-1e4).cpu().numpy())
    model.train(was_training)
    return np.concatenate(starts), np.concatenate(ends)


def evaluate_qa(model, data: QAData, tokenizer, batch_size: int = 32, max_answer_length: int = 30,
                split: str = "heldout", bf16: bool | None = None) -> dict:
    """EM/F1 (official v1.1 rules, 0-100) on the held-out questions (or the validation ones), with their split;
    ``bf16`` as in :func:`predict_logits`. ``predictions`` holds each question's answer and scores
    (:class:`~bmp.results.records.Predictions`, under ``split``): recording the metrics saves them beside the record."""
    from bmp.results.records import PREDICTIONS_KEY, Predictions
    from bmp.squad.metric import question_scores

    examples, features = data.split(split)
    start = time.perf_counter()
    start_logits, end_logits = predict_logits(model, data, tokenizer, batch_size, split, bf16)
    model_s = time.perf_counter() - start
    predictions = postprocess_predictions(examples, features, start_logits, end_logits,
                                          max_answer_length=max_answer_length)
    scores = squad_scores(predictions, examples)
    per_question = {qid: (predictions.get(qid, ""), em, f1)
                    for qid, (em, f1) in question_scores(predictions, examples).items()}
    return {**scores, "eval_questions": len(examples), "eval_split": data.splits.split_name,
            "eval_model_s": round(model_s, 2), "eval_total_s": round(time.perf_counter() - start, 2),
            PREDICTIONS_KEY: Predictions({split: per_question})}


def evaluate_both(model, data: QAData, tokenizer) -> dict:
    """Held-out EM/F1 (reported) plus ``validation_f1`` / ``validation_exact_match`` (for choosing settings), and
    both splits' per-question ``predictions``."""
    from bmp.results.records import PREDICTIONS_KEY

    metrics = evaluate_qa(model, data, tokenizer)
    if data.validation_features is not None:
        val = evaluate_qa(model, data, tokenizer, split="validation")
        metrics.update(validation_f1=val["f1"], validation_exact_match=val["exact_match"],
                       validation_questions=val["eval_questions"])
        metrics[PREDICTIONS_KEY] = metrics[PREDICTIONS_KEY] | val[PREDICTIONS_KEY]
    return metrics


class ValidationCurve(TrainerCallback):
    """Validation F1 at the end of every epoch: the curve that says when more training stops paying."""

    def __init__(self, data: QAData, tokenizer):
        self.data, self.tokenizer = data, tokenizer

    def on_epoch_end(self, args, state, control, model=None, **kwargs):
        if self.data.validation_features is None or model is None:
            return control
        scores = evaluate_qa(model, self.data, self.tokenizer, split="validation")
        state.log_history.append({"epoch": state.epoch, "step": state.global_step,
                                  "validation_f1": scores["f1"]})  # saved in checkpoints: a resume keeps the curve
        return control

    def curve(self, state) -> list[dict]:
        """Every epoch's point, including those evaluated before a resume (read back from the log history)."""
        return [{"epoch": round(h["epoch"], 3), "step": h["step"], "validation_f1": round(h["validation_f1"], 2)}
                for h in state.log_history if "validation_f1" in h]


CONVERGED_GAIN = 0.3  # F1 per extra epoch below which a teacher counts as converged


def converged(curve: list[dict]) -> bool | None:
    """Whether the last epoch gained less than :data:`CONVERGED_GAIN` validation F1 (None with < 2 points): one
    curve's half of the convergence rule, which :func:`bmp.results.teachers.convergence` states whole."""
    if len(curve) < 2:
        return None
    return curve[-1]["validation_f1"] - curve[-2]["validation_f1"] < CONVERGED_GAIN


SEED = 42
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


CHECKPOINT_FILES = ("trainer_state.json", "optimizer.pt")  # written after the model: present means complete
MODEL_FILES = ("model.safetensors", "pytorch_model.bin")


def complete_checkpoint(folder: Path) -> bool:
    """Whether a ``checkpoint-N`` folder was written to the end (a save killed midway leaves files missing or a
    truncated model file)."""
    if not all((folder / name).is_file() for name in CHECKPOINT_FILES):
        return False
    model = next((folder / name for name in MODEL_FILES if (folder / name).is_file()), None)
    if model is None:
        return False
    if model.suffix == ".safetensors":
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(str(model), framework="pt") as handle:
                handle.keys()
        except (SafetensorError, OSError):
            return False
    return True


def resume_point(output_dir) -> str | None:
    """The newest *complete* checkpoint in ``output_dir``, so an interrupted run continues where it stopped; a
    half-written newer one (a killed save) is skipped with a warning."""
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        return None
    checkpoints = sorted((p for p in output_dir.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()),
                         key=lambda p: int(p.name.split("-")[-1]), reverse=True)
    for checkpoint in checkpoints:
        if complete_checkpoint(checkpoint):
            return str(checkpoint)
        warnings.warn(f"skipping {checkpoint}: it was not written to the end (a killed save?); resuming from an "
                      "older checkpoint. Delete it to silence this.", stacklevel=2)
    return None


# ---------------------------------------------------------------- records

def record_run(name: str, kind: str, metrics: dict, profile: Profile, data: QAData, *, seed: int,
               base_model: str | None = None, **config):
    """Record a run with its provenance; path-like config values are stored repo-relative. A run from a
    ``teacher`` names the teacher's base model unless ``base_model`` is given (the profile's model is only asked for,
    and the teacher may have been trained from another)."""
    from dataclasses import asdict

    from bmp.results.records import provenance, record, repo_relative, teacher_base_model

    if base_model is None and config.get("teacher") is not None:
        base_model = teacher_base_model(config["teacher"])

    paths = ("teacher", "output_dir", "pruned")
    config = {key: repo_relative(value) if isinstance(value, Path) or key in paths else value
              for key, value in config.items()}
    return record(name, kind, metrics,
                  provenance(base_model=base_model or profile.model, data_split=data.splits.description,
                             profile=profile.name, seed=seed),
                  config={"bf16_autocast": fast_bf16(), **config, "profile": asdict(profile)})


def run_name(base: str, seed: int) -> str:
    """``base``, with ``-s<seed>`` when the seed is not the default: the results group seeds by this suffix."""
    return base if seed == SEED else f"{base}-s{seed}"


SIZE_KEYS = ("total_params", "linear_params", "dense_linear_params", "fill_rate", "nonzero_fill_rate",
             "linear_reduction", "heads_per_layer", "neurons_per_layer", "dense_heads", "dense_neurons", "disk_bytes")


def model_metrics(model, folder: Path, teacher_dir, data: QAData, tokenizer, dense_config=None) -> dict:
    """What every model-making run records about the model it saved: held-out and validation scores, its size
    against the dense model, and its CPU speedup over the teacher timed in a fresh process."""
    from bmp.packing.size import size_report
    from bmp.speed.fresh import fresh_speedup

    size = size_report(model, dense_config, folder=folder).to_dict()
    return {**evaluate_both(model, data, tokenizer), **{k: size[k] for k in SIZE_KEYS if k in size},
            **fresh_speedup(teacher_dir, folder)}

