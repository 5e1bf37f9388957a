"""SQuAD v1.1 scoring: the official evaluator's rules, as small importable functions.

Scores are on 0-100 over *every* question of the reference set, so a run that forgets questions is not flattered:
an unanswered question scores 0 (with a warning), and predictions for unknown ids are ignored (with a warning).
"""
from __future__ import annotations

import re
import string
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Mapping

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """Lower-case, drop punctuation and the articles a/an/the, collapse whitespace (official v1.1 order)."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def f1(prediction: str, gold: str) -> float:
    """Token-overlap F1 of the normalised strings.

    As in the official v1.1 script (unlike v2.0 and torchmetrics), two strings that both normalise to nothing
    score 0, not 1; this only matters for the three dev answers that are a bare ".".
    """
    pred_tokens = normalize_answer(prediction).split()
    gold_tokens = normalize_answer(gold).split()
    overlap = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if overlap == 0:
        return 0.0
    precision = overlap / len(pred_tokens)
    recall = overlap / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def max_over_golds(metric: Callable[[str, str], float], prediction: str, golds: Iterable[str]) -> float:
    """Crowd workers disagree on span boundaries, so a prediction gets its best score against any gold answer."""
    golds = list(golds)
    if not golds:
        raise ValueError("A question has no gold answers: drop it from the reference set before scoring")
    return max(metric(prediction, gold) for gold in golds)


def gold_answers(references) -> dict[str, list[str]]:
    """``{id: [gold texts]}`` from examples (HF schema, or official ``answers`` lists) or an id -> texts mapping."""
    if isinstance(references, Mapping):
        return {str(qid): list(texts) for qid, texts in references.items()}
    golds: dict[str, list[str]] = {}
    for example in references:
        answers = example["answers"]
        texts = answers["text"] if isinstance(answers, Mapping) else [answer["text"] for answer in answers]
        golds[str(example["id"])] = list(texts)
    return golds


def question_scores(predictions: Mapping[str, str], references) -> dict[str, tuple[float, float]]:
    """``{id: (exact match, F1)}`` on 0-1 for every question in ``references``, by the official rules: the scores
    :func:`squad_scores` averages, kept per question so two models can be compared on the same questions. A question
    without a prediction scores ``(0.0, 0.0)``; predictions for unknown ids are left out (silently: see
    :func:`squad_scores` for the warnings)."""
    golds = gold_answers(references)
    return {qid: (max_over_golds(exact_match, predictions[qid], texts), max_over_golds(f1, predictions[qid], texts))
            if qid in predictions else (0.0, 0.0) for qid, texts in golds.items()}


def squad_scores(predictions: Mapping[str, str], references) -> dict[str, float]:
    """``{"exact_match", "f1"}`` on 0-100 over every question in ``references`` (examples or ``{id: [golds]}``)."""
    golds = gold_answers(references)
    if not golds:
        raise ValueError("The reference set is empty: nothing to score")
    unknown = [qid for qid in predictions if qid not in golds]
    if unknown:
        shown = ", ".join(repr(qid) for qid in unknown[:3])
        warnings.warn(f"{len(unknown)} prediction(s) have ids that are not in the reference set and were ignored "
                      f"(e.g. {shown}): were they made for another split?", stacklevel=2)
    missing = sum(qid not in predictions for qid in golds)
    if missing:
        warnings.warn(f"{missing} of {len(golds)} question(s) have no prediction and score 0", stacklevel=2)
    scores = question_scores(predictions, golds).values()
    em_total = f1_total = 0.0
    for em, f1_ in scores:
        em_total += em
        f1_total += f1_
    return {"exact_match": 100.0 * em_total / len(golds), "f1": 100.0 * f1_total / len(golds)}


def torchmetrics_scores(predictions: Mapping[str, str], references, chunk: int = 64) -> dict[str, float]:
    """The same scores from ``torchmetrics.text.SQuAD``, to cross-check :func:`squad_scores`.

    torchmetrics sums in float32, which drifts by ~1e-4 over the 10,570 dev questions; feeding it small chunks into
    float64 states keeps the cross-check meaningful to ~1e-7. One real difference remains: it scores F1 = 1 when a
    prediction and a gold both normalise to nothing (v1.1 says 0).
    """
    import torch
    from torchmetrics.text import SQuAD

    golds = list(gold_answers(references).items())
    metric = SQuAD()
    metric.set_dtype(torch.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # it warns once per unanswered question; squad_scores already counts them
        for i in range(0, len(golds), chunk):
            part = golds[i:i + chunk]
            preds = [{"id": qid, "prediction_text": predictions[qid]} for qid, _ in part if qid in predictions]
            targets = [{"id": qid, "answers": {"text": texts, "answer_start": [0] * len(texts)}} for qid, texts in part]
            metric.update(preds, targets)
        scores = metric.compute()
    return {name: float(value) for name, value in scores.items()}
