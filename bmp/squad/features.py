"""Examples -> model features: question + context windows, with answer labels (train) or offsets (eval).

A context longer than ``max_length`` becomes several overlapping windows ("features"), ``doc_stride`` tokens of
overlap apart. Padding is left to the collator (dynamic padding), which is what keeps CPU runs affordable.
Heavy libraries are imported inside functions so that ``bmp.squad`` (and its evaluator) loads in a blink.
"""
from __future__ import annotations

import warnings

CLS_INDEX = 0  # an answer outside the window points both labels at [CLS], the "no answer here" position
EVAL_ONLY_COLUMNS = ("example_id", "offset_mapping")  # post-processing needs them; the model must not see them


def _fit_questions(questions: list[str], tokenizer, max_length: int, doc_stride: int) -> list[str]:
    """Strip leading whitespace (it only wastes tokens) and cut questions that leave no room for a context window.

    The fast tokenizer panics (an uncatchable-looking Rust error) when question + 3 special tokens + doc_stride
    reach ``max_length``; cutting at a token boundary keeps the pipeline running on odd data.
    """
    questions = [question.lstrip() for question in questions]
    budget = max_length - doc_stride - 4  # [CLS] q [SEP] c [SEP], plus at least one context token per step
    if budget < 1:
        raise ValueError(f"doc_stride={doc_stride} leaves no room for a question in max_length={max_length}: "
                         "lower doc_stride or raise max_length")
    # A word piece covers at least one character, so only questions longer than the budget in characters can be
    # too long in tokens: tokenize just those.
    suspects = [i for i, question in enumerate(questions) if len(question) > budget]
    cut = 0
    if suspects:
        encoded = tokenizer([questions[i] for i in suspects], add_special_tokens=False, return_offsets_mapping=True)
        for i, offsets in zip(suspects, encoded["offset_mapping"]):
            if len(offsets) > budget:
                questions[i] = questions[i][:offsets[budget - 1][1]]
                cut += 1
    if cut:
        warnings.warn(f"{cut} question(s) were cut to {budget} tokens to fit max_length={max_length} with "
                      f"doc_stride={doc_stride}", stacklevel=3)
    return questions


def _tokenize(examples: dict, tokenizer, max_length: int, doc_stride: int):
    if tokenizer.padding_side != "right":
        raise ValueError("bmp.squad features assume the question comes first and padding on the right: "
                         "set tokenizer.padding_side = 'right'")
    return tokenizer(
        _fit_questions(examples["question"], tokenizer, max_length, doc_stride), examples["context"],
        truncation="only_second", max_length=max_length, stride=doc_stride,
        return_overflowing_tokens=True, return_offsets_mapping=True, padding=False,
    )


def _context_bounds(sequence_ids: list) -> tuple[int, int]:
    """First and last token index of the context (sequence 1) in one window."""
    first = sequence_ids.index(1)
    last = len(sequence_ids) - 1 - sequence_ids[::-1].index(1)
    return first, last


def _label_window(offsets, sequence_ids, answer_start: int, answer_end: int) -> tuple[int, int]:
    """Token positions of the character span [answer_start, answer_end) in this window, or CLS if not all inside."""
    first, last = _context_bounds(sequence_ids)
    if offsets[first][0] > answer_start or offsets[last][1] < answer_end:
        return CLS_INDEX, CLS_INDEX
    start = first
    while start + 1 <= last and offsets[start + 1][0] <= answer_start:
        start += 1
    end = last
    while end - 1 >= first and offsets[end - 1][1] >= answer_end:
        end -= 1
    return start, end


def prepare_train_features(examples: dict, tokenizer, max_length: int, doc_stride: int,
                           keep_offsets: bool = False) -> dict:
    """Batched (HF ``map(batched=True)`` style) examples -> windows with ``start_positions``/``end_positions``.

    Labels use the first gold answer. ``keep_offsets`` also returns ``example_id`` and ``offset_mapping``, for
    checking labels by hand; leave it off for training (the collator can't pad those columns).
    """
    encoded = _tokenize(examples, tokenizer, max_length, doc_stride)
    example_index = encoded.pop("overflow_to_sample_mapping")
    offset_mapping = encoded.pop("offset_mapping")
    starts, ends = [], []
    for i, offsets in enumerate(offset_mapping):
        answers = examples["answers"][example_index[i]]
        if not answers["text"]:
            starts.append(CLS_INDEX), ends.append(CLS_INDEX)
            continue
        text = answers["text"][0]
        answer_start = answers["answer_start"][0] + len(text) - len(text.lstrip())  # spaces belong to no token
        start, end = _label_window(offsets, encoded.sequence_ids(i), answer_start,
                                   answer_start + len(text.strip()))
        starts.append(start), ends.append(end)
    features = dict(encoded)
    features["start_positions"], features["end_positions"] = starts, ends
    if keep_offsets:
        features["example_id"] = [examples["id"][j] for j in example_index]
        features["offset_mapping"] = [[tuple(pair) for pair in offsets] for offsets in offset_mapping]
    return features


def prepare_eval_features(examples: dict, tokenizer, max_length: int, doc_stride: int) -> dict:
    """Batched examples -> windows with ``example_id`` and ``offset_mapping`` (None outside the context), which
    is all :func:`bmp.squad.postprocess.postprocess_predictions` needs to map logits back to answer text."""
    encoded = _tokenize(examples, tokenizer, max_length, doc_stride)
    example_index = encoded.pop("overflow_to_sample_mapping")
    offset_mapping = encoded.pop("offset_mapping")
    features = dict(encoded)
    features["example_id"] = [examples["id"][j] for j in example_index]
    features["offset_mapping"] = [
        [tuple(pair) if sequence_id == 1 else None for pair, sequence_id in zip(offsets, encoded.sequence_ids(i))]
        for i, offsets in enumerate(offset_mapping)
    ]
    return features


def _examples_dataset(examples: list[dict]):
    from datasets import Dataset

    if not examples:
        raise ValueError("No examples to tokenize: the split is empty (check max_train_samples / max_eval_samples)")
    return Dataset.from_list(list(examples))


def tokenize_train(examples: list[dict], tokenizer, max_length: int, doc_stride: int):
    """Example dicts (HF squad schema) -> a ``datasets.Dataset`` of training windows, ready for the collator."""
    dataset = _examples_dataset(examples)
    return dataset.map(prepare_train_features, batched=True, remove_columns=dataset.column_names,
                       fn_kwargs=dict(tokenizer=tokenizer, max_length=max_length, doc_stride=doc_stride),
                       desc="train features")


def tokenize_eval(examples: list[dict], tokenizer, max_length: int, doc_stride: int):
    """Example dicts -> a ``datasets.Dataset`` of eval windows (model inputs + ``example_id`` + ``offset_mapping``)."""
    dataset = _examples_dataset(examples)
    return dataset.map(prepare_eval_features, batched=True, remove_columns=dataset.column_names,
                       fn_kwargs=dict(tokenizer=tokenizer, max_length=max_length, doc_stride=doc_stride),
                       desc="eval features")


def train_collator(tokenizer):
    """Pads each batch to its longest window, rounded up to a multiple of 8 (tensor-core and cache friendly)."""
    from transformers import DataCollatorWithPadding

    return DataCollatorWithPadding(tokenizer, pad_to_multiple_of=8, return_tensors="pt")


def eval_collator(tokenizer):
    """Like :func:`train_collator`, dropping ``example_id`` / ``offset_mapping`` so eval features can be batched."""
    pad = train_collator(tokenizer)

    def collate(features: list[dict]):
        return pad([{k: v for k, v in feature.items() if k not in EVAL_ONLY_COLUMNS} for feature in features])

    return collate
