"""Start/end logits of every window -> one answer string per question (numpy only).

For each example, the best span over all its windows wins: the highest ``start_logit + end_logit`` among the
``n_best`` top starts x ``n_best`` top ends of a window that lie in the context, in order, and at most
``max_answer_length`` tokens long.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

import numpy as np


def _column(rows, name: str) -> list:
    """``rows[name]`` for a ``datasets.Dataset`` or a dict of lists; gathered by hand for a list of dicts."""
    if isinstance(rows, Mapping) or hasattr(rows, "column_names"):
        return list(rows[name])
    return [row[name] for row in rows]


def _best_span(offsets: list, start_logits: np.ndarray, end_logits: np.ndarray, n_best: int,
               max_answer_length: int) -> tuple[float, int, int] | None:
    """(score, first char, end char) of the best valid span in one window, or None if it has none."""
    length = min(len(offsets), len(start_logits))  # logits beyond the window's own tokens are batch padding
    in_context = np.array([pair is not None for pair in offsets[:length]], dtype=bool)
    if not in_context.any():
        return None
    start_scores = np.where(in_context, start_logits[:length], -np.inf)
    end_scores = np.where(in_context, end_logits[:length], -np.inf)
    starts = np.argsort(start_scores)[::-1][:n_best]
    ends = np.argsort(end_scores)[::-1][:n_best]
    span = ends[None, :] - starts[:, None]  # (n_best, n_best): end - start
    valid = in_context[starts][:, None] & in_context[ends][None, :] & (span >= 0) & (span < max_answer_length)
    if not valid.any():
        return None
    scores = np.where(valid, start_scores[starts][:, None] + end_scores[ends][None, :], -np.inf)
    i, j = np.unravel_index(np.argmax(scores), scores.shape)
    return float(scores[i, j]), offsets[starts[i]][0], offsets[ends[j]][1]


def postprocess_predictions(examples, features, start_logits: np.ndarray, end_logits: np.ndarray,
                            n_best: int = 20, max_answer_length: int = 30) -> dict[str, str]:
    """``{example id: answer text}`` for every example; "" when no window offers a valid span.

    ``examples`` need ``id`` and ``context``; ``features`` need ``example_id`` and ``offset_mapping`` (None for
    non-context tokens), one row per row of the logits. Logits may be padded past a window's length (e.g. with
    -100 when batches were concatenated); those positions are ignored.
    """
    start_logits, end_logits = np.asarray(start_logits), np.asarray(end_logits)
    example_ids, offset_mapping = _column(features, "example_id"), _column(features, "offset_mapping")
    if start_logits.shape != end_logits.shape or start_logits.ndim != 2:
        raise ValueError(f"start_logits {start_logits.shape} and end_logits {end_logits.shape} must be the same "
                         "(n_features, sequence) shape")
    if len(start_logits) != len(example_ids):
        raise ValueError(f"{len(start_logits)} rows of logits for {len(example_ids)} features: pass the logits of "
                         "exactly the features given, in the same order")
    windows = defaultdict(list)
    for row, example_id in enumerate(example_ids):
        windows[example_id].append(row)

    predictions = {}
    for example_id, context in zip(_column(examples, "id"), _column(examples, "context")):
        best = None
        for row in windows.get(example_id, []):
            span = _best_span(offset_mapping[row], start_logits[row], end_logits[row], n_best, max_answer_length)
            if span is not None and (best is None or span[0] > best[0]):
                best = span
        predictions[example_id] = "" if best is None else context[best[1]:best[2]]
    return predictions
