# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 03 · SQuAD: windows, labels, answers and the metric
#
# Everything later in the course prunes, distils from or is compared with one model: a dense BERT fine-tuned for
# extractive question answering, which notebook 04 trains. Before training it, this notebook takes apart the
# plumbing around it. A SQuAD question is not one input but several overlapping windows. Its answer is a pair of
# token positions in one of them. A prediction only becomes text after a search over spans, and "correct" is
# decided by a normalised token overlap. Mistakes in any of these steps cost more F1 than most pruning does, and
# they are invisible in the training loss.
#
# **Learning goals**
#
# - Turn a (question, context, answer) example into model features: windows of at most `max_seq_length` tokens,
#   `doc_stride` tokens of overlap, offset mappings back to the characters of the context.
# - Say how the answer's character span becomes start and end token labels, and check the labels by mapping
#   them back to text.
# - Measure what dynamic padding saves over padding every window to the maximum length.
# - Turn start and end logits into an answer: valid spans, the n-best shortcut, the maximum answer length, the
#   best span over all windows.
# - Compute the official SQuAD v1.1 exact match and F1 from scratch.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from transformers.trainer_pt_utils import LengthGroupedSampler

from bmp.course import base_setup, save_figure, solution, time_banner
from bmp.squad import f1 as squad_f1
from bmp.squad import (
    normalize_answer,
    postprocess_predictions,
    prepare_eval_features,
    prepare_train_features,
    train_collator,
)

# %% tags=["parameters"]
PROFILE = os.environ.get("BMP_PROFILE", "course")
SOLUTIONS = os.environ.get("BMP_SOLUTIONS") == "1"  # True: the exercise's stubs are replaced by the solutions

# %% [markdown]
# Under `smoke` the model is a tiny *random* BERT and the data the project's small synthetic sample: the
# notebook runs in seconds and its scores mean nothing. Under `course` it is the embedded 6-layer MiniLM on
# SQuAD v1.1; only the official dev file exists offline, so it is split by article into a training part and a
# held-out part. Your runs record their results under `outputs/results/` (git-ignored), so they never mix with
# the project's recorded runs in `data/results/`.

# %%
print(time_banner("03_squad_data_and_metric"))
setup = base_setup(PROFILE)  # the profile, quiet logs, the base model, its tokenizer and the tokenized data
profile, tokenizer, data = setup.profile, setup.tokenizer, setup.data
splits = data.splits
del setup  # this notebook only needs the tokenizer: the base model's weights are not used here

# %% [markdown]
# ## One example
#
# An example is a context paragraph, a question, and one or more gold answers, each given as text and the
# character where it starts in the context. Several crowd workers answered each dev question, so the golds
# often differ in where they start and stop.


# %%
def as_batch(example: dict) -> dict:
    """One example in the column layout (lists of values) that feature functions receive from datasets.map."""
    return {key: [value] for key, value in example.items()}


def window_summary(example: dict) -> tuple[bool, int]:
    """(does the answer lie whole in more than one window?, how many windows)"""
    features = prepare_train_features(as_batch(example), tokenizer, profile.max_seq_length, profile.doc_stride)
    return sum(start > 0 for start in features["start_positions"]) > 1, len(features["input_ids"])


# among the first 300, an example with many windows whose answer sits where two windows overlap
example = max(splits.train[:300], key=window_summary)
answers = example["answers"]
print(f"question: {example['question']}")
print(f"context: {len(example['context']):,} characters, {window_summary(example)[1]} windows")
for text, start in zip(answers["text"], answers["answer_start"]):
    assert example["context"][start:start + len(text)] == text
    print(f"gold answer {text!r} at character {start}")

# %% [markdown]
# ## Windows, offsets and sequence ids
#
# The tokenizer puts the question first and the context second: `[CLS] question [SEP] context [SEP]`. A
# context too long for `max_seq_length` is cut into several windows (`truncation="only_second"` never cuts the
# question), and consecutive windows share `doc_stride` tokens, so that an answer shorter than that, cut in two
# by one window's edge, lies whole inside its neighbour.
#
# Two things come back with every window: the **offset mapping**, the (first, end) characters each token covers
# in its own text, and the **sequence ids**, which say whether a token belongs to the question (0), the
# context (1) or neither (`None` for special tokens). The start of window 0:

# %%
train_windows = prepare_train_features(as_batch(example), tokenizer, profile.max_seq_length, profile.doc_stride,
                                       keep_offsets=True)
encoded = tokenizer(example["question"].lstrip(), example["context"], truncation="only_second",
                    max_length=profile.max_seq_length, stride=profile.doc_stride, return_overflowing_tokens=True)
assert encoded["input_ids"] == train_windows["input_ids"]  # the same windows, now with their sequence ids
pd.DataFrame({"token": tokenizer.convert_ids_to_tokens(train_windows["input_ids"][0]),
              "sequence id": encoded.sequence_ids(0), "offsets": train_windows["offset_mapping"][0]}).head(24).T

# %% [markdown]
# Question tokens carry offsets into the question and context tokens offsets into the context, so the sequence
# ids are what tells them apart. Consecutive windows overlap by exactly `doc_stride` context tokens:

# %%
def context_offsets(window: int) -> list[tuple[int, int]]:
    return [tuple(pair) for pair, sid in zip(train_windows["offset_mapping"][window], encoded.sequence_ids(window))
            if sid == 1]


windows = [context_offsets(w) for w in range(len(train_windows["input_ids"]))]
for w in range(len(windows) - 1):
    shared = set(windows[w]) & set(windows[w + 1])
    assert len(shared) == profile.doc_stride, (w, len(shared))
print(f"{len(windows)} windows of {[len(c) for c in windows]} context tokens; "
      f"each pair of neighbours shares {profile.doc_stride} tokens")

# %% [markdown]
# ## Answer labels
#
# Training needs two integers per window: the token where the answer starts and the token where it ends. The
# first gold answer's character span is looked up in the window's offsets: the start label is the context token
# that contains the answer's first character, the end label the one that contains its last. A window that holds
# only part of the answer, or none of it, points both labels at `[CLS]` (position 0): "no answer in here".
#
# Mapping the labels back through the offsets recovers the answer text:

# %%
rows = []
for w, (start, end) in enumerate(zip(train_windows["start_positions"], train_windows["end_positions"])):
    offsets = windows[w]
    label = ("[CLS]: the answer is not (wholly) in this window" if start == 0 else
             example["context"][train_windows["offset_mapping"][w][start][0]:
                                train_windows["offset_mapping"][w][end][1]])
    rows.append({"window": w, "tokens": len(train_windows["input_ids"][w]),
                 "context characters": f"{offsets[0][0]}-{offsets[-1][1]}",
                 "start label": start, "end label": end, "labelled text": label,
                 "decoded tokens": tokenizer.decode(train_windows["input_ids"][w][start:end + 1]) if start else ""})
pd.DataFrame(rows).set_index("window")

# %% [markdown]
# The decoded tokens are lower-cased word pieces (the tokenizer is uncased); the offsets give back the exact
# characters, which is what the metric will compare. The same check on every training window:

# %%
all_windows = prepare_train_features({key: [ex[key] for ex in splits.train] for key in splits.train[0]}, tokenizer,
                                     profile.max_seq_length, profile.doc_stride, keep_offsets=True)
by_id = {ex["id"]: ex for ex in splits.train}
exact, snapped, no_answer = 0, [], 0
for example_id, offsets, start, end in zip(all_windows["example_id"], all_windows["offset_mapping"],
                                           all_windows["start_positions"], all_windows["end_positions"]):
    if start == 0:
        no_answer += 1
        continue
    gold = by_id[example_id]["answers"]["text"][0].strip()
    found = by_id[example_id]["context"][offsets[start][0]:offsets[end][1]]
    if found == gold:
        exact += 1
    else:
        snapped.append((gold, found))
total = len(all_windows["input_ids"])
print(f"{total:,} training windows: {no_answer:,} labelled [CLS], {exact:,} whose labels give back the answer "
      f"exactly, {len(snapped):,} where the answer does not start or end on a token boundary")
for gold, found in snapped[:5]:
    print(f"  gold {gold!r} -> labelled {found!r}")
assert exact > 0.9 * (total - no_answer), "labels should recover the gold answer in the vast majority of windows"

# %% [markdown]
# A few answers start or stop inside a word piece ("1990s" answered as "1990", say); their labels snap outwards
# to whole tokens, and no model predicting tokens can match them exactly.

# %% [markdown]
# ## Dynamic padding
#
# A batch is a rectangle: every window in it is padded to the same length. Padding everything to
# `max_seq_length` is simple and wasteful, since most windows are shorter. The project's collator pads each
# batch only to its own longest window (rounded up to a multiple of 8), and training draws batches of windows
# of similar length (`train_sampling_strategy="group_by_length"` in `bmp.training.skeleton.training_arguments`). The
# cost of each choice, counted over one epoch of the training windows:

# %%
lengths = np.array([len(ids) for ids in data.train_features["input_ids"]])
BATCH = profile.batch_size


def padded_tokens(order) -> int:
    """Tokens the model processes when windows come in ``order``, each batch padded to its longest (x8)."""
    total = 0
    for i in range(0, len(order), BATCH):
        batch = lengths[list(order[i:i + BATCH])]
        total += len(batch) * int(np.ceil(batch.max() / 8) * 8)
    return total


generator = torch.Generator().manual_seed(0)
random_order = torch.randperm(len(lengths), generator=generator).tolist()
grouped_order = list(LengthGroupedSampler(BATCH, lengths=lengths.tolist(), generator=generator))
padding = pd.DataFrame({
    "processed tokens": [len(lengths) * profile.max_seq_length, padded_tokens(random_order),
                         padded_tokens(grouped_order)],
}, index=["pad to max_seq_length", "dynamic, random batches", "dynamic, grouped by length"])
padding["real tokens"] = lengths.sum()
padding["padding"] = padding["processed tokens"] - padding["real tokens"]
padding["share that is padding"] = padding["padding"] / padding["processed tokens"]
padding.round(3)

# %% [markdown]
# Dynamic padding on its own can save little: one full-length window is enough to pad its whole batch to the
# maximum, and every context longer than a window produces full-length windows, so most random batches hold one.
# Grouping windows of similar length into batches is what turns dynamic padding into savings.
#
# The collator itself agrees with the arithmetic on the first grouped batch:

# %%
first_batch = [data.train_features[i] for i in grouped_order[:BATCH]]
padded = train_collator(tokenizer)(first_batch)["input_ids"]
expected_width = int(np.ceil(lengths[grouped_order[:BATCH]].max() / 8) * 8)
assert tuple(padded.shape) == (len(first_batch), expected_width), (tuple(padded.shape), expected_width)
print(f"one batch: {tuple(padded.shape)} (windows, tokens), "
      f"{int((padded == tokenizer.pad_token_id).sum())} of them padding")

# %%
fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
sns.histplot(lengths, bins=30, ax=left)
left.axvline(profile.max_seq_length, color="tab:red", ls="--", label=f"max_seq_length = {profile.max_seq_length}")
left.set_xlabel("tokens in a training window")
left.set_ylabel("windows")
left.legend()
left.set_title("lengths of the training windows")
stacked = padding[["real tokens", "padding"]] / 1e3
stacked.plot.barh(stacked=True, ax=right, color=["tab:blue", "lightgray"])
right.set_xlabel("thousands of tokens processed per epoch")
right.invert_yaxis()
right.set_title(f"batch {BATCH}: what the model computes on")
fig.tight_layout()
save_figure(fig, "03_dynamic_padding")
plt.show()

# %% [markdown]
# Token counts understate the saving: self-attention costs grow with the *square* of the length. Pruning will
# shrink the model's matrices; dynamic padding has already shrunk the inputs, for free, and the timings of
# later notebooks are measured on unpadded synthetic batches of fixed length so the two effects stay apart.

# %% [markdown]
# ## From logits to an answer
#
# The model gives every token of a window a start logit and an end logit. The answer is the span (s, e) with the
# highest `start[s] + end[e]` such that
#
# - both tokens are in the context (not the question, not a special token),
# - s ≤ e, and the span is at most `max_answer_length` tokens (30 by default),
#
# searched over all windows of the question; the span's offsets then cut the answer out of the context.
# Checking every pair is quadratic in the window length, so the library only pairs the `n_best` = 20 highest
# starts with the 20 highest ends of each window: 400 candidates, which almost always contain the best valid
# span. A question none of whose windows offers a valid span gets the empty answer.
#
# By hand, exhaustively, on made-up logits: random noise, plus a bump on the tokens where the first gold answer
# starts and ends, in each window that holds it.

# %%
MAX_ANSWER_LENGTH = 30
eval_windows = prepare_eval_features(as_batch(example), tokenizer, profile.max_seq_length, profile.doc_stride)
rng = np.random.default_rng(0)
width = max(len(ids) for ids in eval_windows["input_ids"])
fake_start = rng.normal(size=(len(eval_windows["input_ids"]), width))  # (windows, tokens)
fake_end = rng.normal(size=fake_start.shape)
gold_first = answers["answer_start"][0]
gold_end = gold_first + len(answers["text"][0])
for w, offsets in enumerate(eval_windows["offset_mapping"]):
    for t, pair in enumerate(offsets):
        if pair is not None and pair[0] <= gold_first < pair[1]:
            fake_start[w, t] += 6.0
        if pair is not None and pair[0] < gold_end <= pair[1]:
            fake_end[w, t] += 6.0


def span_candidates(offsets, start_logits, end_logits, max_answer_length=MAX_ANSWER_LENGTH):
    """Every span (score, start token, end token) of one window that post-processing allows."""
    context = [t for t, pair in enumerate(offsets) if pair is not None]
    return [(float(start_logits[s] + end_logits[e]), s, e) for s in context for e in context
            if s <= e < s + max_answer_length]


def best_answers(context, features, start_logits, end_logits, top=5, max_answer_length=MAX_ANSWER_LENGTH):
    """The ``top`` best spans over all windows: (score, window, start, end, text)."""
    found = []
    for w, offsets in enumerate(features["offset_mapping"]):
        for score, s, e in span_candidates(offsets, start_logits[w], end_logits[w], max_answer_length):
            found.append((score, w, s, e, context[offsets[s][0]:offsets[e][1]]))
    return sorted(found, reverse=True)[:top]


candidates = best_answers(example["context"], eval_windows, fake_start, fake_end)
library = postprocess_predictions([example], eval_windows, fake_start, fake_end)[example["id"]]
assert candidates[0][4] == library, (candidates[0], library)
print(f"best span by hand: {candidates[0][4]!r}; postprocess_predictions: {library!r}")
pd.DataFrame(candidates, columns=["score", "window", "start", "end", "text"]).round(2)

# %% [markdown]
# Why 30 tokens? The training labels say how long answers are. Capping the length costs the answers longer than
# the cap, and saves the model from ever proposing a whole paragraph:

# %%
answer_tokens = np.array([end - start + 1 for start, end in zip(all_windows["start_positions"],
                                                                 all_windows["end_positions"]) if start > 0])
print(f"answer length in tokens over {len(answer_tokens):,} labelled windows: median {np.median(answer_tokens):.0f}, "
      f"95th percentile {np.percentile(answer_tokens, 95):.0f}, longest {answer_tokens.max()}; "
      f"{(answer_tokens > MAX_ANSWER_LENGTH).mean():.2%} are longer than {MAX_ANSWER_LENGTH}")

# %% [markdown]
# ## Exact match and F1
#
# SQuAD v1.1 compares a prediction with each gold answer after **normalising** both: lower-case, remove
# punctuation, remove the articles *a*, *an* and *the*, collapse whitespace. **Exact match** is 1 when the
# normalised strings are equal. **F1** treats each normalised string as a bag of words: precision is the share
# of predicted words found in the gold, recall the share of gold words predicted. A question scores its best
# value over the golds, and the dataset's score is the mean over questions, times 100.
#
# ## Exercise: the official metric from scratch
#
# Write `my_normalize(text)` and `my_f1(prediction, gold)`. Mind the order of the steps (punctuation is removed
# *before* the articles are), and count repeated words as often as they occur in both strings (a multiset
# intersection). Following the v1.1 script, two strings with no word in common score 0 (even when both are empty).
#
# **Your turn.** The cell below holds two stubs that raise `NotImplementedError`: replace their bodies with your
# own code, then run it and the check below. (`re`, `string` and `collections.Counter` are all you need.)
#
# (Headless runs, `python -m bmp course` and `make test`, set `BMP_SOLUTIONS=1`, which swaps in the reference
# solutions from `notebooks/solutions/03_squad_data_and_metric.py`. Look there only after trying.)


# %%
def my_normalize(text: str) -> str:
    raise NotImplementedError("your turn: write my_normalize, then rerun this cell and the check below")


def my_f1(prediction: str, gold: str) -> float:
    raise NotImplementedError("your turn: write my_f1, then rerun this cell and the check below")


if SOLUTIONS:
    my_normalize = solution("03_squad_data_and_metric", "my_normalize")
    my_f1 = solution("03_squad_data_and_metric", "my_f1")


# %% [markdown]
# The check compares both with `bmp.squad.metric` on tricky pairs and on perturbed versions of every held-out
# gold answer.

# %%
tricky = [("The Eiffel Tower", "eiffel tower"), ("an apple a day", "apple day"), ("U.S.A.", "usa"),
          ("the the the", "the"), ("", "."), ("Paris, France", "Paris"), ("1,000", "1000"),
          ("New York New York", "New York"), ("theatre", "the atre"), ("  spaced\tout ", "spaced out")]
golds = [text for ex in splits.eval for text in ex["answers"]["text"]]
perturbed = [(gold, variant) for gold in golds
             for variant in (gold, f"the {gold}", gold.upper(), f"{gold} and more", gold[: len(gold) // 2],
                             gold.replace(" ", ", "))]
for prediction, gold in tricky + perturbed:
    assert my_normalize(prediction) == normalize_answer(prediction), (prediction, my_normalize(prediction))
    assert abs(my_f1(prediction, gold) - squad_f1(prediction, gold)) < 1e-12, (prediction, gold)
print(f"my_normalize and my_f1 agree with bmp.squad.metric on {len(tricky) + len(perturbed):,} pairs")

# %% [markdown]
# The pipeline is complete: features in, logits out (from whatever model), answers back as text, scored by the
# official rules. Notebook 04 trains the model that fills the middle, the dense teacher, and runs this whole
# evaluation on it.
#
# ## Questionnaire
#
# 1. Why does the tokenizer truncate only the second sequence, and what would go wrong if the question could be
#    cut?
# 2. With `max_seq_length` 192 and `doc_stride` 64, what is the longest answer that is guaranteed to lie whole in
#    at least one window? What happens to the windows that hold only part of it?
# 3. How do sequence ids and offsets together turn a character span into start and end labels?
# 4. Why does grouping windows by length save more padding than dynamic padding alone, and what could it cost
#    the optimisation?
# 5. Why can't the answer be the independent argmax of the start logits and of the end logits?
# 6. A gold answer is "the 1990s" and the model predicts "1990s". What are the exact match and the F1? And for
#    "in the 1990s"?
#
# ## Further research
#
# - Rajpurkar et al., *SQuAD: 100,000+ Questions for Machine Comprehension of Text* (2016): read how the answers
#   were collected, and why the evaluation takes the best score over several golds.
# - Change `doc_stride` (with `profile.with_(doc_stride=...)`) and count windows and training tokens. Where does
#   a small stride start to cost F1?
# - Read the `Trainer`'s `LengthGroupedSampler`: how does it keep some randomness while grouping by length?
# - `span_candidates` above checks every pair of tokens; `postprocess_predictions` pairs only the `n_best` best
#   starts and ends. On the made-up logits, how small can `n_best` get before the best span changes?
