"""Data and evaluation for every run: the user's questions turned into windows (:class:`QAData`), logits, EM/F1
with per-question predictions, and the validation curve that says when more training stops paying.
"""
from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader
from transformers import TrainerCallback

from bmp.profiles import Profile
from bmp.results.records import PREDICTIONS_KEY, Predictions
from bmp.results.teachers import CONVERGED_GAIN
from bmp.squad import (
    SquadSplits,
    eval_collator,
    postprocess_predictions,
    splits_for_profile,
    squad_scores,
    tokenize_eval,
    tokenize_train,
)
from bmp.squad.metric import question_scores

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


def evaluate_both(model, data: QAData, tokenizer, bf16: bool | None = None) -> dict:
    """Held-out EM/F1 (reported) plus ``validation_f1`` / ``validation_exact_match`` (for choosing settings), and
    both splits' per-question ``predictions``; ``bf16`` as in :func:`predict_logits` (a run passes its own)."""
    metrics = evaluate_qa(model, data, tokenizer, bf16=bf16)
    if data.validation_features is not None:
        val = evaluate_qa(model, data, tokenizer, split="validation", bf16=bf16)
        metrics.update(validation_f1=val["f1"], validation_exact_match=val["exact_match"],
                       validation_questions=val["eval_questions"])
        metrics[PREDICTIONS_KEY] = metrics[PREDICTIONS_KEY] | val[PREDICTIONS_KEY]
    return metrics


class ValidationCurve(TrainerCallback):
    """Validation F1 at the end of every epoch (``at_epochs``: the curve that says when more training stops paying)
    and every ``args.eval_steps`` steps when the run's arguments set it (``--eval-steps``; the trainer's own
    evaluation stays off: bmp scores answers, not a loss). Points are kept in the log history, so a resume keeps
    the curve."""

    def __init__(self, data: QAData, tokenizer, *, at_epochs: bool = True):
        self.data, self.tokenizer, self.at_epochs = data, tokenizer, at_epochs

    def _point(self, args, state, model, key: str) -> None:
        if self.data.validation_features is None or model is None:
            return
        scores = evaluate_qa(model, self.data, self.tokenizer, split="validation", bf16=args.bf16)
        state.log_history.append({"epoch": state.epoch, "step": state.global_step, key: scores["f1"]})

    def on_epoch_end(self, args, state, control, model=None, **kwargs):
        if self.at_epochs:
            self._point(args, state, model, "validation_f1")
        return control

    def on_step_end(self, args, state, control, model=None, **kwargs):
        every = args.eval_steps if not args.eval_steps or args.eval_steps >= 1 else \
            max(1, round(args.eval_steps * state.max_steps))  # transformers reads a value below 1 as a share
        if every and state.global_step % int(every) == 0:
            self._point(args, state, model, "validation_f1_at_step")
        return control

    def curve(self, state) -> list[dict]:
        """Every epoch's point, including those evaluated before a resume (read back from the log history)."""
        return [{"epoch": round(h["epoch"], 3), "step": h["step"], "validation_f1": round(h["validation_f1"], 2)}
                for h in state.log_history if "validation_f1" in h]



def step_points(state) -> dict:
    """``{"validation_steps": [...]}`` for a run's metrics when ``--eval-steps`` took points, else ``{}``."""
    points = [{"step": h["step"], "validation_f1": round(h["validation_f1_at_step"], 2)}
              for h in state.log_history if "validation_f1_at_step" in h]
    return {"validation_steps": points} if points else {}


def converged(curve: list[dict]) -> bool | None:
    """Whether the last epoch gained less than :data:`CONVERGED_GAIN` validation F1 (None with < 2 points): one
    curve's half of the convergence rule, which :func:`bmp.results.teachers.convergence` states whole."""
    if len(curve) < 2:
        return None
    return curve[-1]["validation_f1"] - curve[-2]["validation_f1"] < CONVERGED_GAIN
