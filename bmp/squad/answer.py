"""Answer questions about contexts with any extractive QA model: what transformers' removed ``question-answering``
pipeline did, on the evaluation's own code path.

The questions are cut into the same windows as evaluation (:func:`bmp.squad.features.prepare_eval_features`), run
through the model in batches, and each question gets the best span over all its windows by the rule of
:mod:`bmp.squad.postprocess`, so ``answer`` returns exactly the text that evaluation scores. The model is
duck-typed: anything called as ``model(input_ids=..., attention_mask=..., token_type_ids=...)`` that returns
``.start_logits`` and ``.end_logits`` of shape ``(batch, sequence)`` -- a torch QA model (dense, masked or packed)
or an ONNX Runtime session wrapped by ``bmp.deploy.OrtQAModel``.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from bmp.squad.features import EVAL_ONLY_COLUMNS, prepare_eval_features
from bmp.squad.postprocess import _best_span

NO_ANSWER_SCORE = float("-inf")


@dataclass(frozen=True)
class Answer:
    """One answer: ``context[start:end] == answer`` (character offsets, as the old pipeline gave).

    ``score`` is ``start_logit + end_logit`` of the chosen span: the quantity evaluation maximises to pick it.
    It is not a probability (no softmax over spans), so it ranks answers of one model but can't be compared across
    models. A question with no valid span in any window gets ``answer=""``, ``start=end=0`` and ``score=-inf``.
    """

    answer: str
    score: float
    start: int
    end: int


def answer(questions: str | list[str], contexts: str | list[str], model, tokenizer, *, max_length: int = 384,
           doc_stride: int = 128, max_answer_length: int = 30, batch_size: int = 32,
           n_best: int = 20) -> Answer | list[Answer]:
    """The best answer span to each question in its context.

    ``questions`` and ``contexts`` are two equally long lists (one context may also serve every question), or one
    question and one context, which gives one :class:`Answer` instead of a list. Contexts longer than
    ``max_length`` tokens are read as windows ``doc_stride`` tokens of overlap apart; the best span over all of a
    question's windows wins. ``batch_size`` windows go through the model at once.
    """
    single = isinstance(questions, str)
    questions = [questions] if single else list(questions)
    if isinstance(contexts, str):
        contexts = [contexts] * len(questions)
    contexts = list(contexts)
    if len(questions) != len(contexts):
        raise ValueError(f"{len(questions)} questions but {len(contexts)} contexts: give one context per question, "
                         "or a single context string for all of them")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if not questions:
        return []
    ids = [str(i) for i in range(len(questions))]
    features = prepare_eval_features({"id": ids, "question": questions, "context": contexts}, tokenizer,
                                     max_length, doc_stride)
    start_logits, end_logits = window_logits(model, features, tokenizer, batch_size)
    spans = best_spans(features, start_logits, end_logits, n_best=n_best, max_answer_length=max_answer_length)
    answers = []
    for example_id, context in zip(ids, contexts):
        score, start, end = spans.get(example_id, (NO_ANSWER_SCORE, 0, 0))
        answers.append(Answer(answer=context[start:end], score=score, start=start, end=end))
    return answers[0] if single else answers


def window_logits(model, features: dict, tokenizer, batch_size: int = 32) -> tuple[list, list]:
    """Start and end logits of every window, one float32 array per window (cut to the window's own length), from
    ``batch_size`` windows per call, each batch padded to its longest window."""
    import torch

    inputs = {key: values for key, values in features.items() if key not in EVAL_ONLY_COLUMNS}
    lengths = [len(ids) for ids in inputs["input_ids"]]
    device = _device(model)
    was_training = getattr(model, "training", False)
    if was_training:
        model.eval()
    starts, ends = [], []
    try:
        with torch.inference_mode():
            for first in range(0, len(lengths), batch_size):
                rows = {key: values[first:first + batch_size] for key, values in inputs.items()}
                batch = tokenizer.pad(rows, return_tensors="pt")  # (B, T) each, T = longest window of the batch
                out = model(**{key: value.to(device) for key, value in batch.items()})
                start, end = _numpy(out.start_logits), _numpy(out.end_logits)  # (B, T)
                for row, length in enumerate(lengths[first:first + batch_size]):
                    starts.append(start[row, :length])
                    ends.append(end[row, :length])
    finally:
        if was_training:
            model.train(True)
    return starts, ends


def best_spans(features: dict, start_logits, end_logits, *, n_best: int = 20,
               max_answer_length: int = 30) -> dict[str, tuple[float, int, int]]:
    """``{example id: (score, first char, end char)}`` of the best span over each example's windows, for examples
    with any valid span.

    The rule and tie-breaking of :func:`bmp.squad.postprocess.postprocess_predictions` (same per-window search,
    the earlier window wins a tie), which returns only the text; here the score and offsets come along.
    ``start_logits`` / ``end_logits`` hold one row per window, as a 2-D array or a list of 1-D arrays.
    """
    windows = defaultdict(list)
    for row, example_id in enumerate(features["example_id"]):
        windows[example_id].append(row)
    best = {}
    for example_id, rows in windows.items():
        for row in rows:
            span = _best_span(features["offset_mapping"][row], np.asarray(start_logits[row]),
                              np.asarray(end_logits[row]), n_best, max_answer_length)
            if span is not None and (example_id not in best or span[0] > best[example_id][0]):
                best[example_id] = span
    return best


def _device(model):
    """Where the model's inputs go: its first parameter's device, else the CPU."""
    import torch

    parameters = getattr(model, "parameters", None)
    first = next(iter(parameters()), None) if callable(parameters) else None
    return first.device if first is not None else torch.device("cpu")


def _numpy(logits) -> np.ndarray:
    if hasattr(logits, "detach"):  # a torch tensor, possibly bf16 or on a GPU
        logits = logits.detach().float().cpu().numpy()
    return np.asarray(logits, dtype=np.float32)


__all__ = ["Answer", "NO_ANSWER_SCORE", "answer", "best_spans", "window_logits"]
