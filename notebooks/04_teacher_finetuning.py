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
# # 04 · Fine-tuning the teacher
#
# Notebook 03 built the plumbing: windows and labels in, answers and scores out. This notebook trains the model in
# the middle, the **dense teacher**: the base model fine-tuned on SQuAD. Every later notebook starts from it.
# In this course the pruned student (notebook 05) begins as a copy of it and distils from it, and every pruned
# model's F1 is read against it. That start is a choice: the reference implementation (nn_pruning) starts its
# student from the *pre-trained* model and prunes it for about 20 epochs, with the fine-tuned model only as the
# teacher. Both are legitimate. Starting from the fine-tuned teacher suits this course's short runs (an epoch or
# so on a CPU): the student can already answer, and pruning only has to keep it so while blocks go. Its price is
# that the weights have already moved where the task wants them, so magnitude catches up with movement as a score
# (notebook 01). So it pays to know how the teacher was trained, what it scores, on which split, and
# whether it had finished learning.
#
# **Learning goals**
#
# - Write the loss the teacher trains on (the mean of a start and an end cross-entropy) and check it against the
#   model's own.
# - Fine-tune (or reload) the dense teacher, evaluate it in the three steps of notebook 03, and report its score
#   with the split it was measured on.
# - Read its training curve (loss and learning rate per step) and its validation curve (F1 per epoch).
# - Say why the course's teacher is short, why the recorded sweep starts from a converged one, and how to tell the
#   two apart from their records.

# %%
import json
import os
import shutil
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from IPython.display import display

from bmp.course import base_setup, save_figure, solution, time_banner
from bmp.models import load_saved
from bmp.profiles import REPO_ROOT
from bmp.results.records import RESULTS_DIR, load_records, results_dir, teacher_record
from bmp.results.teachers import CONVERGED_GAIN, convergence, teacher_epochs_of
from bmp.squad import (
    eval_collator,
    postprocess_predictions,
    prepare_eval_features,
    squad_scores,
    torchmetrics_scores,
    train_collator,
)
from bmp.squad import f1 as squad_f1
from bmp.training.checkpoints import resume_point
from bmp.training.evaluation import predict_logits
from bmp.training.finetune import finetune_dense

# %% tags=["parameters"]
PROFILE = os.environ.get("BMP_PROFILE", "course")
RETRAIN = False  # True deletes runs/teacher-<profile> and trains the teacher again
SOLUTIONS = os.environ.get("BMP_SOLUTIONS") == "1"  # True: the exercise's stub is replaced by the reference solution

# %% [markdown]
# Under `smoke` the model is a tiny *random* BERT and the data the project's small synthetic sample: the
# notebook runs in seconds and its scores mean nothing. Under `course` it is the embedded 6-layer MiniLM on
# SQuAD v1.1; only the official dev file exists offline, so it is split by article into a training part, a few
# validation articles and a held-out part. Your runs record their results under `outputs/results/`
# (git-ignored), so they never mix with the project's recorded runs in `data/results/`.

# %%
print(time_banner("04_teacher_finetuning"))
setup = base_setup(PROFILE)  # the profile, quiet logs, the base model, its tokenizer and the tokenized data
profile, base, tokenizer, data = setup.profile, setup.model, setup.tokenizer, setup.data
splits = data.splits

# %% [markdown]
# ## The task loss
#
# The model gives every token of a window a start logit and an end logit. Training reads each row of start logits
# as a softmax over the window's positions and asks it to put its mass on the start label; the same for the end.
# The loss of a batch is the **mean of the two cross-entropies**, each averaged over the windows. A window whose
# answer is not (wholly) inside it has both labels on `[CLS]` (position 0), so it still teaches something: "not
# here".
#
# ## Exercise: the span loss
#
# Write `my_qa_loss(start_logits, end_logits, start_positions, end_positions)` for (batch, tokens) logits and
# (batch,) integer labels. The check compares it with the loss the model itself returns when it is given the
# labels.
#
# **Your turn.** The cell below is a stub that raises `NotImplementedError`: replace its body with your own code,
# then run it and the check below.
#
# (Headless runs, `python -m bmp course` and `make test`, set `BMP_SOLUTIONS=1`, which swaps in the reference
# solution from `notebooks/solutions/04_teacher_finetuning.py`. Look there only after trying.)


# %%
def my_qa_loss(start_logits: torch.Tensor, end_logits: torch.Tensor, start_positions: torch.Tensor,
               end_positions: torch.Tensor) -> torch.Tensor:
    raise NotImplementedError("your turn: write my_qa_loss, then rerun this cell and the check below")


if SOLUTIONS:
    my_qa_loss = solution("04_teacher_finetuning", "my_qa_loss")

# %% [markdown]
# The check runs the *untrained* base model (its QA head is freshly initialised) on a batch of training windows.
# An untrained head spreads its probability almost evenly over the padded window, so its loss sits near ln of the
# window's width: the first logged training losses below start there.

# %%
batch = train_collator(tokenizer)([data.train_features[i] for i in range(min(8, len(data.train_features)))])
base.eval()
with torch.inference_mode():
    out = base(**batch)  # given start_positions and end_positions, the model returns its loss too
mine = my_qa_loss(out.start_logits, out.end_logits, batch["start_positions"], batch["end_positions"])
assert torch.allclose(mine, out.loss, atol=1e-5), (mine, out.loss)
generator = torch.Generator().manual_seed(0)
random_start, random_end = torch.randn(out.start_logits.shape, generator=generator), torch.randn(
    out.end_logits.shape, generator=generator)
reference = torch.nn.CrossEntropyLoss()
assert torch.allclose(my_qa_loss(random_start, random_end, batch["start_positions"], batch["end_positions"]),
                      (reference(random_start, batch["start_positions"])
                       + reference(random_end, batch["end_positions"])) / 2, atol=1e-6)
width = batch["input_ids"].shape[1]
print(f"my_qa_loss matches the model's loss: {mine.item():.3f} on a batch {width} tokens wide "
      f"(ln {width} = {np.log(width):.3f})")
del base

# %% [markdown]
# ## The teacher
#
# `bmp.training.finetune.finetune_dense` minimises that loss with the Hugging Face `Trainer` (AdamW, linear decay
# after a 10% warm-up, dynamic padding, length-grouped batches, bf16 autocast where the CPU supports it). At the
# end of every epoch it scores the validation articles (`ValidationCurve`), saves the model to
# `<output_dir>/final`, evaluates it on the held-out questions and records the scores and the validation curve in
# the results folder.
#
# **The course's teacher is short.** The `course` profile trains it for one epoch (`profile.epochs`), so that this
# notebook takes minutes on two CPU cores; one epoch on a few thousand questions leaves F1 on the table. The
# sweep that makes the project's recorded results (`scripts/sweep.sh`) starts from a converged teacher instead: it
# trains it for more epochs (`TEACHER_EPOCHS`, 4 by default) and its record keeps the validation curve. Runs
# recorded before that sweep came from a one-epoch teacher; every run record names its teacher
# (`config.teacher`), and each run is measured against its own. A teacher counts as converged when
# its last epoch gains less than `CONVERGED_GAIN` F1, or when a schedule twice as long (also recorded) never
# beats it by that much: on a few thousand questions, more epochs can overfit, and then the longer run is the
# evidence that training longer does not pay (the table at the end of this notebook reads every recorded teacher
# and says which rule applies). A short teacher matters later: a pruned model trains for more epochs than its
# teacher did, and can end up above it for that reason alone (notebook 06).
#
# Training is the slow cell of this notebook, so a teacher that is already on disk is reused: notebooks 05 and 06
# read it from `runs/teacher-<profile>/final`.

# %%
print(time_banner("04_teacher_finetuning", what="training the teacher is most of this notebook (skipped when "
                                                 "it is on disk)"))
TEACHER_DIR = REPO_ROOT / "runs" / f"teacher-{profile.name}"
TEACHER = TEACHER_DIR / "final"
if RETRAIN and TEACHER_DIR.exists():
    shutil.rmtree(TEACHER_DIR)  # checkpoints included: otherwise the trainer would resume the finished run
steps_per_epoch = int(np.ceil(len(data.train_features) / profile.batch_size))
if (TEACHER / "config.json").is_file():
    print(f"reusing the teacher in {TEACHER.relative_to(REPO_ROOT)} (set RETRAIN = True to train it again)")
    teacher = load_saved(TEACHER)
    trained_metrics = None
else:
    print(f"training the teacher: {steps_per_epoch * profile.epochs:.0f} steps of batch {profile.batch_size}")
    result = finetune_dense(profile, output_dir=TEACHER_DIR, data=data,
                            logging_steps=max(1, min(10, steps_per_epoch // 25)))  # a curve even for short runs
    teacher, trained_metrics = result.model, result.metrics
    print(f"saved to {result.output_dir.relative_to(REPO_ROOT)}; recorded in {result.record_path}")
teacher = teacher.eval()

# %% [markdown]
# Evaluation is the three steps of notebook 03: logits for every held-out window, post-processing into one
# answer per question, the metric. (`bmp.training.evaluation.evaluate_qa` runs the same three.)

# %%
start_logits, end_logits = predict_logits(teacher, data, tokenizer)
predictions = postprocess_predictions(splits.eval, data.eval_features, start_logits, end_logits)
scores = squad_scores(predictions, splits.eval)
if trained_metrics is not None:
    assert abs(scores["f1"] - trained_metrics["f1"]) < 1e-9, (scores, trained_metrics)
print(f"teacher: EM {scores['exact_match']:.1f}, F1 {scores['f1']:.1f} on {len(splits.eval):,} held-out questions")
print(f"split: {splits.description}")
if splits.split_name != "official":
    print("not comparable with published SQuAD v1.1 dev scores (those cover the whole official dev set, "
          "with a model trained on the official training set)")

# %% [markdown]
# The metric of notebook 03 (`bmp.squad.f1`, which your `my_f1` matched there), averaged by hand over the held-out
# questions (best over the golds, mean, times 100), gives the same F1; so does the independent `torchmetrics`
# implementation, up to the one rule where it departs from v1.1 (two empty strings score 1 there):

# %%
by_hand = 100 * np.mean([max(squad_f1(predictions[ex["id"]], gold) for gold in ex["answers"]["text"])
                         for ex in splits.eval])
assert abs(by_hand - scores["f1"]) < 1e-9, (by_hand, scores["f1"])
independent = torchmetrics_scores(predictions, splits.eval)
print(f"F1 by hand {by_hand:.3f}; bmp.squad {scores['f1']:.3f}; torchmetrics {independent['f1']:.3f} "
      f"({splits.split_name})")

# %% [markdown]
# Taking the best start and the best end *independently* is the tempting shortcut. On the teacher's logits it
# often gives no answer at all: the two land in the wrong order, outside the context, or too far apart.

# %%
MAX_ANSWER_LENGTH = 30
invalid = 0
for offsets, start_row, end_row in zip(data.eval_features["offset_mapping"], start_logits, end_logits):
    s, e = int(np.argmax(start_row)), int(np.argmax(end_row))
    in_context = s < len(offsets) and e < len(offsets) and offsets[s] is not None and offsets[e] is not None
    invalid += not (in_context and s <= e < s + MAX_ANSWER_LENGTH)
print(f"independent argmax: no valid span in {invalid} of {len(start_logits):,} held-out windows "
      f"({invalid / len(start_logits):.0%})")

# %% [markdown]
# What the teacher considers for the first held-out question: its five best valid spans over all windows, found
# exhaustively as in notebook 03.


# %%
def best_spans(context, features, start_rows, end_rows, top=5, max_answer_length=MAX_ANSWER_LENGTH):
    """The ``top`` best valid spans over all windows: (score, window, start, end, text)."""
    found = []
    for w, offsets in enumerate(features["offset_mapping"]):
        tokens = [t for t, pair in enumerate(offsets) if pair is not None]  # context tokens only
        found += [(float(start_rows[w][s] + end_rows[w][e]), w, s, e, context[offsets[s][0]:offsets[e][1]])
                  for s in tokens for e in tokens if s <= e < s + max_answer_length]
    return sorted(found, reverse=True)[:top]


question = splits.eval[0]
windows_q = prepare_eval_features({key: [value] for key, value in question.items()}, tokenizer,
                                  profile.max_seq_length, profile.doc_stride)
batch_q = eval_collator(tokenizer)([{k: windows_q[k][w] for k in windows_q}
                                    for w in range(len(windows_q["input_ids"]))])
with torch.inference_mode():
    out_q = teacher(**batch_q)
print(f"question: {question['question']}\ngold: {question['answers']['text']}")
pd.DataFrame(best_spans(question["context"], windows_q, out_q.start_logits.numpy(), out_q.end_logits.numpy()),
             columns=["score", "window", "start", "end", "text"]).round(2)

# %% [markdown]
# ## The training curve
#
# The `Trainer` writes its log history into `trainer_state.json` in every checkpoint it saves (every 100 steps,
# 1000 on a GPU, and at the end of training), so the newest checkpoint holds the whole curve. The first logged
# losses sit near the ln(width) of the untrained head, as the exercise's check predicted.

# %%
checkpoint = resume_point(TEACHER_DIR)
history, log_history = [], []
if checkpoint is None:
    print(f"no checkpoint in {TEACHER_DIR.relative_to(REPO_ROOT)}, so no log history to plot "
          "(was the teacher copied without its checkpoints?)")
else:
    log_history = json.loads((Path(checkpoint) / "trainer_state.json").read_text())["log_history"]
    history = pd.DataFrame([entry for entry in log_history if "loss" in entry])
    print(f"{len(history)} logged steps from {Path(checkpoint).relative_to(REPO_ROOT)}")

# %%
if len(history):
    fig, (loss_ax, lr_ax) = plt.subplots(1, 2, figsize=(12, 3.8))
    loss_ax.plot(history["step"], history["loss"], alpha=0.4, label="logged loss")
    loss_ax.plot(history["step"], history["loss"].rolling(5, min_periods=1).mean(), label="rolling mean of 5")
    loss_ax.set_xlabel("step")
    loss_ax.set_ylabel("mean of start and end cross-entropy")
    loss_ax.legend()
    loss_ax.set_title(f"teacher ({profile.name}): training loss")
    lr_ax.plot(history["step"], history["learning_rate"])
    lr_ax.set_xlabel("step")
    lr_ax.set_ylabel("learning rate")
    lr_ax.set_title("linear warm-up, then linear decay")
    fig.tight_layout()
    save_figure(fig, "04_teacher_training_curve")
    plt.show()

# %% [markdown]
# ## The validation curve: has it finished learning?
#
# The training loss says little about when to stop. The validation curve does: `finetune_dense` scores the
# validation articles at the end of every epoch and records the points in `metrics["validation_curve"]`, one per
# epoch, with `metrics["converged"]`: True when the last epoch gained less than `CONVERGED_GAIN` F1, False when it
# gained more, None with a single point (one epoch cannot tell). The curve comes from the teacher's record, or,
# for a teacher with no record here, from the log history of its last checkpoint, which holds every epoch's point
# but the last (that checkpoint is saved just before the final point is added).

# %%
records = load_records(results_dir()) + load_records(RESULTS_DIR)
own = teacher_record(records, TEACHER, splits.split_name)
curve = list((own or {}).get("metrics", {}).get("validation_curve") or [])
source = f"record {own['name']!r}" if curve else None
if not curve:  # no record with a curve: the checkpoint keeps the same points
    curve = [{"epoch": round(h["epoch"], 3), "step": h["step"], "validation_f1": round(h["validation_f1"], 2)}
             for h in log_history if "validation_f1" in h]
    source = "the checkpoint's log history" if curve else None
if curve:
    display(pd.DataFrame(curve))
    gains = np.diff([point["validation_f1"] for point in curve])
    verdict = ("one point: one epoch cannot say whether another would pay" if len(curve) < 2 else
               f"the last epoch gained {gains[-1]:+.2f} F1: "
               + ("converged" if gains[-1] < CONVERGED_GAIN else "not converged, more epochs would still pay"))
    print(f"{len(curve)} point(s) from {source}; {verdict} (threshold {CONVERGED_GAIN} F1 per epoch)")
else:
    print("no validation curve: no record of this teacher holds one (it predates the curve, or its record is in "
          "another results folder), and its checkpoint has no point before the last epoch's")

# %% [markdown]
# The teachers recorded in `data/results` (and yours, in `outputs/results`), each with its epochs and whether it
# converged; the curves of those scored on this split are drawn beside this notebook's:

# %%
rows = []
recorded = load_records(RESULTS_DIR, kind="dense") + load_records(results_dir(), kind="dense")
for r in recorded:
    m = r["metrics"]
    converged, why = convergence(recorded, r)  # its own last epoch, or a longer schedule that never beat it
    rows.append({"name": r["name"], "folder": os.path.relpath(Path(r["_path"]).parent, REPO_ROOT),
                 "profile": r["provenance"]["profile"],
                 "epochs": teacher_epochs_of(r), "EM": m["exact_match"], "F1": m["f1"],
                 "validation points": len(m.get("validation_curve") or []),
                 "converged": {True: "yes", False: "no", None: "unknown"}[converged], "why": why,
                 "eval split": m["eval_split"], "date": r["provenance"]["date"][:10]})
if rows:
    display(pd.DataFrame(rows).round(1))
else:
    print("no dense runs recorded yet")

# %%
fig, ax = plt.subplots(figsize=(7, 3.6))
if curve:
    ax.plot([p["epoch"] for p in curve], [p["validation_f1"] for p in curve], marker="o", lw=2,
            label=f"this notebook's teacher ({profile.name})")
for r in load_records(RESULTS_DIR, kind="dense"):
    points = r["metrics"].get("validation_curve") or []
    if points and r["metrics"]["eval_split"] == splits.split_name:
        ax.plot([p["epoch"] for p in points], [p["validation_f1"] for p in points], marker=".", ls="--",
                label=f"recorded: {r['name']}")
ax.set_xlabel("epoch")
ax.set_ylabel("validation F1")
ax.set_title("validation F1 at the end of each epoch")
if ax.lines:
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)
else:
    ax.text(0.5, 0.5, "no validation curve recorded yet", ha="center", va="center", transform=ax.transAxes)
save_figure(fig, "04_validation_curve")
plt.show()

# %% [markdown]
# Read the table before trusting a comparison with a teacher: a one-epoch teacher is a weak reference, and the
# sweep's runs are read against a converged one (`scripts/sweep.sh`, step 1). Which teacher the
# recorded runs came from, after how many epochs, is in the README's results block, regenerated from the records.
#
# ## Questionnaire
#
# 1. Why is the loss of an untrained QA head close to ln of the window's width?
# 2. A window that does not contain the answer has both labels on `[CLS]`. What does training on such windows
#    teach the model, and how does post-processing use it?
# 3. What share of held-out windows had no valid span under the independent argmax, and why does the search over
#    valid spans fix it?
# 4. The validation curve's last epoch gained 0.1 F1. Another teacher's gained 2 F1. Which one would you prune
#    from, and why?
# 5. Why can a model trained for more epochs than its teacher score above it, even after pruning?
# 6. The teacher here scores on held-out articles of the dev file. Why may that number not be set beside the
#    published BERT-base F1 of 88.5?
#
# ## Further research
#
# - Train a longer teacher from the command line (`python -m bmp finetune --profile course --epochs 3 --output
#   runs/teacher-course-3ep --name teacher-course-3ep`) and rerun the validation-curve cells: when does it
#   converge?
# - Raise `n_best` in `postprocess_predictions` to 100 and lower it to 1 on the teacher's logits: how often does
#   the answer change?
# - Devlin et al., *BERT* (2019), section 4.2, describes the same span scoring. Compare its training recipe with
#   `bmp.training.skeleton.training_arguments`.
# - Change the learning rate (`python -m bmp finetune --lr ...`) and compare the training curves: where does a
#   too-large rate show first?
