# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 05 · Pruning with distillation
#
# Notebooks 01 and 02 built the scores and the masks; notebook 04 trained the teacher. This notebook puts them
# together into one training run: a copy of the teacher learns its weights *and* its scores, while a threshold
# that rises on a schedule and a penalty on the scores push blocks and neurons out, and the teacher's own
# predictions keep the student close to what it knew. The outcome is a model with zeros in whole 32 × 32 blocks
# of its attention matrices and in whole FFN neurons, ready for notebook 06 to pack.
#
# **Learning goals**
#
# - Read a pruning recipe: granularity, sigmoid threshold, cubic schedule, L1 weight λ, score learning rate,
#   distillation temperature and mix.
# - Follow the cubic threshold schedule and the L1 penalty on sigmoid(scores) written out, checked against `bmp`.
# - Estimate, before training, whether a score learning rate can move scores past the threshold at all.
# - Write the distillation loss (KL divergence at a temperature) and explain the T² factor.
# - Run `prune_run` and read its log: threshold, density, heads and neurons alive over training.
# - Read what the pruned model kept, layer by layer, and compare it with other recorded runs.

# %%
import copy
import json
import math
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
import transformers
from IPython.display import display

from bmp import live_pruning_widget
from bmp.course import course_setup, ensure_teacher, output_dir, save_figure, solution, time_banner
from bmp.models import load_saved
from bmp.profiles import REPO_ROOT
from bmp.pruning.kept import kept_report
from bmp.pruning.masked import add_masks, score_parameters
from bmp.pruning.regularization import HEAD_SCALE, l1_sigmoid
from bmp.results.concepts import concept_records, empty_head_shares, movement_vs_magnitude
from bmp.results.expected import expected as expected_run
from bmp.results.plots import structure_heatmap
from bmp.results.records import load_records, results_dir, teacher_record
from bmp.squad import train_collator
from bmp.training.checkpoints import resume_point
from bmp.training.distill import kd_loss, qa_distillation_loss
from bmp.training.evaluation import evaluate_qa
from bmp.training.prune import prune_run, recipe_for
from bmp.training.skeleton import training_arguments
from bmp.training.trainer import ScoreSnapshots

# %% tags=["parameters"]
PROFILE = os.environ.get("BMP_PROFILE", "course")
PRESET = "hybrid"
LAMBDA = None  # the L1 weight on sigmoid(scores); None: the profile's prune_lambda
SCORE_LR = None  # the scores' learning rate; None: the profile's score_learning_rate
LIVE_QUESTIONS = 200  # held-out questions the live widget scores at each slider move
SOLUTIONS = os.environ.get("BMP_SOLUTIONS") == "1"  # True: the exercise's stub is replaced by the reference solution

# %% [markdown]
# The defaults depend on the profile, so they are filled in here rather than in the parameters cell (papermill
# replaces only what it is given). The score learning rate defaults to the profile's, as in `python -m bmp prune`:
# the reference's 1e-2 assumed about 20 epochs, and a run of one epoch needs faster scores. The section "How far
# can a score move?" below works out how fast.

# %%
print(time_banner("05_pruning_with_distillation"))
setup = course_setup(PROFILE, PRESET, LAMBDA, SCORE_LR)  # quiet logs, plot theme, the same folders as notebook 06
profile, run, tokenizer, data = setup.profile, setup.run, setup.tokenizer, setup.data
LAMBDA, SCORE_LR = run.lam, run.score_lr
TEACHER, RUN_NAME, RUN_DIR = run.teacher, run.name, run.run_dir

# %% [markdown]
# ## The teacher
#
# The student starts as a copy of the notebook-04 teacher and distils from it. The reference implementation
# (nn_pruning) starts elsewhere: from the *pre-trained* model, pruned for about 20 epochs, with the fine-tuned model
# only as the teacher. Both starts are legitimate; `bmp` uses the fine-tuned one because the course's runs are
# short (an epoch or so on a CPU), and a student that can already answer only has to keep that while blocks go.
# What it changes: the weights have already moved where the task wants them, so magnitude, which reads where a
# weight *is*, catches up with movement as a score, as notebook 01 showed for a converged fine-tune. Movement's edge
# is largest from a pre-trained start.
#
# Without a teacher on disk, run
# notebook 04 or `python -m bmp finetune --profile <profile>` (both save to `runs/teacher-<profile>/final`); the
# cell below trains one in their place, which takes seconds under `smoke` and, under `course`, most of the time
# notebook 04 takes (its measured time is printed below).

# %%
teacher = load_saved(ensure_teacher(setup)).eval()  # trained here first if notebook 04's is missing
print(f"teacher: {TEACHER.relative_to(REPO_ROOT)}, {sum(p.numel() for p in teacher.parameters()) / 1e6:.1f}M "
      "parameters")

# %% [markdown]
# ## The recipe
#
# `recipe_for` gathers every choice the pruning trainer adds to a plain fine-tune into one frozen
# `PruningRecipe`:

# %%
recipe = recipe_for(PRESET, LAMBDA, score_lr=SCORE_LR)
pruning, reg, kd = recipe.pruning, recipe.regularization, recipe.distillation
pd.Series({
    "attention granularity": str(pruning.attention), "FFN granularity": str(pruning.ffn),
    "mask": f"{pruning.method}: keep a block while sigmoid(score) > threshold",
    "head L1 scale (struct only)": f"{reg.head_scale:.3f}",
    "threshold": f"{pruning.initial_threshold} -> {pruning.final_threshold}, cubic",
    "flat at the start / end": f"{recipe.schedule_warmup:.0%} / {recipe.schedule_cooldown:.0%} of the steps",
    "L1 weight (attention, FFN)": f"{reg.attention:g}, {reg.ffn:g}",
    "score learning rate": f"{recipe.score_learning_rate:g}",
    "weight learning rate": f"{profile.prune_learning_rate:g}",
    "epochs": profile.prune_epochs,
    "distillation": f"KL at T = {kd.temperature:g}, weight {kd.alpha:g}; cross-entropy weight {1 - kd.alpha:g}",
}, name="recipe").to_frame()

# %% [markdown]
# ## From TopK to a sigmoid threshold
#
# Notebooks 01 and 02 used **TopK**: every matrix keeps exactly a chosen share of its blocks, the best-scored
# ones, so `set_threshold(model, 0.3)` means *keep 30%* and the density is fixed in advance (`topk_global`, in
# notebook 02, lets the layers differ, but the total share is still the one you chose). Here the method is
# **`sigmoid_threshold`**: a block is kept while sigmoid(score) > τ, so `set_threshold(model, 0.1)` means *drop
# what falls below 0.1*, and a higher value prunes more, the opposite of TopK. Nothing fixes how many blocks fall
# below τ: the L1 pull (λ) and the task's push decide it, block by block. So the total density is learned too,
# and λ, not a share you pick, sets how much goes; each layer ends up with its own density (the heads and neurons
# kept per layer, printed after training, show how unevenly).
#
# ## The threshold schedule
#
# A block is kept while sigmoid(score) > τ. Scores start at 0, so sigmoid(score) = 0.5 and everything is kept
# at first. The threshold τ stays at its initial value for the first 10% of the steps, rises along a cubic to its
# final value, and stays there for the rest: half of the run by default. (Short probes on the validation articles
# pruned more and scored higher with a long final stretch than with 10%: the weights get time to adapt to the final
# masks. The reference holds it for ten times its warm-up.)
#
# τ(t) = τ_final + (τ_initial − τ_final) · (1 − (t − t_warm) / (T − t_warm − t_cool))³
#
# The cubic rises fast at first and flattens towards the end, so that the last blocks go slowly while the
# weights have time to adapt. The same progress factor (0 → 1) also scales the L1 penalty.
#
# The run is this many steps long (the `Trainer`'s count: batches per epoch times epochs, rounded up):

# %%
steps_per_epoch = math.ceil(len(data.train_features) / profile.batch_size)
total_steps = math.ceil(profile.prune_epochs * steps_per_epoch)
schedule = recipe.schedule(total_steps)
print(f"{len(data.train_features):,} windows / batch {profile.batch_size} -> {steps_per_epoch} steps per epoch, "
      f"{total_steps} steps in all; {schedule}")


# %%
def my_threshold(step: int, initial: float, final: float, total: int, warmup: int, cooldown: int) -> float:
    ramp = total - warmup - cooldown
    if step < warmup:
        return initial
    if ramp <= 0 or step >= warmup + ramp:
        return final
    return final + (initial - final) * (1 - (step - warmup) / ramp) ** 3


for step in range(total_steps + 1):
    mine = my_threshold(step, schedule.initial, schedule.final, schedule.total_steps, schedule.warmup_steps,
                        schedule.cooldown_steps)
    assert abs(mine - schedule(step)) < 1e-12, (step, mine, schedule(step))
print(f"my_threshold matches CubicSchedule at all {total_steps + 1} steps")

# %%
steps = np.arange(total_steps + 1)
fig, ax = plt.subplots(figsize=(7, 3.5))
ax.plot(steps, [schedule(int(s)) for s in steps], label=f"this run ({total_steps} steps)")
long_run = recipe.schedule(1000)
ax.plot(steps[-1] * np.arange(1001) / 1000, [long_run(s) for s in range(1001)], ls=":", c="grey",
        label="the same shape at 1,000 steps, rescaled")
ax.set_xlabel("training step")
ax.set_ylabel("sigmoid threshold τ")
ax.set_title("cubic threshold schedule: flat, cubic ramp, flat")
ax.legend()
save_figure(fig, "05_cubic_schedule")
plt.show()

# %% [markdown]
# ## How far can a score move?
#
# To be pruned at the end, a score must fall from 0 to below logit(τ_final) = ln(τ / (1 − τ)), which is −2.2 for
# τ = 0.1. The scores are trained with Adam, which moves each parameter by *at most about its learning rate*
# per step, however large the gradient (it divides by the gradient's running magnitude). The learning rate
# itself warms up and then decays linearly, so the farthest a score can travel in the whole run is about the
# score learning rate times the sum of the schedule's factors. This costs nothing to check before training:

# %%
args = training_arguments(profile, output_dir() / "scratch", epochs=profile.prune_epochs,
                          learning_rate=profile.prune_learning_rate)
dummy = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
lr_schedule = transformers.get_linear_schedule_with_warmup(dummy, args.get_warmup_steps(total_steps), total_steps)
factors = []
for _ in range(total_steps):
    factors.append(lr_schedule.get_last_lr()[0])
    dummy.step()
    lr_schedule.step()
reach = SCORE_LR * sum(factors)
needed = -math.log(pruning.final_threshold / (1 - pruning.final_threshold))
print(f"score learning rate {SCORE_LR:g} x {sum(factors):.1f} (sum of the learning-rate factors over "
      f"{total_steps} steps) = {reach:.2f}; a score must fall by {needed:.2f} to be pruned")
if reach < needed:
    print("-> no score can reach the threshold: this run will prune nothing. Raise SCORE_LR or train longer.")
elif reach < 2 * needed:
    print("-> only scores pushed down at almost every step can make it: expect light pruning, whatever λ is.")
else:
    print("-> enough room: λ decides how many scores are pushed down far enough.")

# %% [markdown]
# Because Adam normalises the step, λ does not make scores fall *faster*; it decides *which way* they go, by
# weighing the penalty's pull against the task's (and distillation's) push on each score.
#
# ## L1 on sigmoid(scores)
#
# The penalty is λ times the mean of sigmoid(scores), averaged over the score tensors of each part (attention,
# FFN), each part with its own λ, and the sum is divided by the number of parts pruned (2 here). That division
# puts `bmp`'s λ on the reference implementation's scale, so its published range (5 to 40, over about 20 epochs)
# can be read directly. Whether a run of one epoch needs more is a question for the records, not for a rule of
# thumb: the cell below lists the λ values the recorded runs used, by profile and epochs, and says whether any of
# them used this run's λ.

# %%
lambda_rows = [{"profile": r["provenance"].get("profile"), "epochs": r["metrics"].get("epochs"),
                "λ": r["config"]["recipe"]["regularization"]["attention"]}
               for r in load_records(kind="pruned") if r.get("config", {}).get("recipe")]
if lambda_rows:
    display(pd.DataFrame(lambda_rows).groupby(["profile", "epochs"])["λ"]
            .agg(lambda values: ", ".join(f"{v:g}" for v in sorted(set(values)))).to_frame("λ of the recorded runs"))
at_default = [row for row in lambda_rows if row["profile"] == profile.name and row["λ"] == LAMBDA]
print(f"this run: λ = {LAMBDA:g} over {profile.prune_epochs:g} epoch(s) ({profile.name} profile); "
      + (f"{len(at_default)} recorded run(s) of this profile used the same λ" if at_default else
         f"no recorded run of the {profile.name} profile used it, so notebook 07 places your run against the "
         "recorded ones"))

# %% [markdown]
# Why the sigmoid and not the scores themselves? sigmoid(S) is what the threshold compares, and it is bounded.
# Its gradient σ′(S) = σ(S)(1 − σ(S)) is largest at S = 0, where every score starts (σ′ = 0.25), and fades as a
# score falls: at the threshold, S = logit(0.1) ≈ −2.2, it is already down to 0.09. So the pull is strongest on
# scores that are still undecided near 0, weaker on scores close to the threshold, and all but gone for
# scores far below it. A block that is clearly out stops being pushed.
#
# By hand, on a masked copy of the teacher with random scores:

# %%
student = add_masks(copy.deepcopy(teacher), pruning)
generator = torch.Generator().manual_seed(0)
with torch.no_grad():
    for _, scores in score_parameters(student):
        scores.copy_(2 * torch.randn(scores.shape, generator=generator))


def is_ffn(name: str) -> bool:
    return "neuron_scores" in name or ".intermediate." in name or (".output." in name and ".attention." not in name)


def is_head(name: str) -> bool:
    return "head_scores" in name


head_means = [torch.sigmoid(s).mean() for name, s in score_parameters(student) if is_head(name)]
attention_means = [torch.sigmoid(s).mean() for name, s in score_parameters(student)
                   if not is_ffn(name) and not is_head(name)]
ffn_means = [torch.sigmoid(s).mean() for name, s in score_parameters(student) if is_ffn(name)]
parts = [(reg.attention * reg.head_scale, head_means), (reg.attention, attention_means), (reg.ffn, ffn_means)]
mine = sum(lam * torch.stack(means).mean() for lam, means in parts if means) / sum(1 for _, m in parts if m)
library = l1_sigmoid(student, reg)
assert torch.allclose(mine, library), (mine, library)
print(f"{len(head_means) + len(attention_means)} attention and {len(ffn_means)} FFN score tensors; "
      f"penalty by hand {mine.item():.4f}, bmp.pruning.regularization.l1_sigmoid {library.item():.4f}")

# %% [markdown]
# ## One score per head: why `struct` needs a smaller pull on heads
#
# The `struct` preset gives each attention head one score, shared by its 32 rows of Q, K and V and its 32
# columns of the attention output: 4 × 32 × 384 weights. A score's gradient is the sum of the movement of every
# weight it covers, and across that many weights the contributions largely cancel. The L1 pull, on the other
# hand, does not cancel. So, relative to the noise in its own movement signal, a head feels the penalty about
# three times harder than a 32 × 32 block does (and a block a little harder than an FFN neuron). Under Adam
# that turns into a race that the heads lose first: early `struct` runs kept 0 to 4 heads per layer where
# `hybrid` kept 2 to 11, and scored 20 to 40 F1 lower at the same size. Two more facts make it worse: a head
# whose rows are all masked gets exactly zero movement gradient, so it never comes back, and nothing stops a
# layer from losing every head.
#
# `bmp` fixes this in two places:
#
# - **`Regularization.head_scale`** multiplies λ for head scores. Its default is the measured ratio of the
#   pull-to-noise on a block to that on a head. `python -m bmp.bench score_balance --teacher ...` measures
#   it on a teacher: for every score, |L1 gradient| over the spread of its movement gradient across batches.
# - **`PruningConfig.min_heads`** is an optional per-layer floor: the best-scored `min_heads` heads of a layer
#   stay whatever the threshold says (the reference keeps a minimum number of elements per matrix the same way).
#
# The cells below show the measurement that set the default and, when they are recorded, short probe runs that compare
# the choices on the validation articles (made by `scripts/probe_recipe.sh`). The floor's default is 0 (off) because of
# the last pair of probes: at the strongest λ probed, with and without a floor of one head, the cell below compares what
# each kept. A floor that never binds changes nothing; it stays available for stronger pruning.

# %%
print(f"default head_scale = {HEAD_SCALE:.3f}")
balance = [r for r in load_records(kind="bench") if r["name"] == "score_balance"]
if balance:
    m = balance[-1]["metrics"]
    print(f"measured on {m['teacher']}: pull / noise = {m['head_ratio']} for a head, {m['block_ratio']} for a "
          f"32x32 block, {m['neuron_ratio']} for an FFN neuron -> block / head = "
          f"{m['head_scale_for_block_balance']}")
probes = load_records(REPO_ROOT / "data" / "results" / "probes")
if probes:
    display(pd.DataFrame([{
        "probe": r["name"].removeprefix("probe-"), "validation F1": r["metrics"].get("validation_f1"),
        "linear density": r["metrics"]["linear_density"], "heads per layer": r["metrics"]["heads_per_layer"],
        "steps": r["metrics"].get("train_steps")} for r in probes]).round(3))
    by_name = {r["name"]: r["metrics"] for r in probes}
    for name, floored in by_name.items():
        plain = by_name.get(name.removesuffix("-floor1")) if name.endswith("-floor1") else None
        if plain is not None:
            same = plain["heads_per_layer"] == floored["heads_per_layer"]
            print(f"{name}: heads {floored['heads_per_layer']} with the floor, {plain['heads_per_layer']} without; "
                  f"validation F1 {floored['validation_f1']:.2f} vs {plain['validation_f1']:.2f}: "
                  + ("the floor never bound" if same else "the floor kept heads a layer would have lost"))
else:
    print("no probe records yet: scripts/probe_recipe.sh <teacher> makes them")

# %% [markdown]
# ## Distillation
#
# The student learns from the teacher's whole distribution over start (and end) positions, not just from the
# gold label. Both sets of logits are divided by a temperature T before the softmax, which flattens the
# distributions and lets the teacher's runner-up positions carry signal; the loss is the KL divergence
# KL(p_teacher ‖ p_student) of the softened distributions, averaged over windows and multiplied by T², because the
# gradients of softened logits shrink by 1/T² and the factor keeps their scale comparable across temperatures.
# Padded positions are left out of both softmaxes.
#
# The teacher's start distribution on one training window, at three temperatures:

# %%
collate = train_collator(tokenizer)
batch = collate([data.train_features[i] for i in range(min(8, len(data.train_features)))])
inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
with torch.inference_mode():
    teacher_out = teacher(**inputs)
real = int(batch["attention_mask"][0].sum())
fig, ax = plt.subplots(figsize=(8, 3.2))
for temperature in (1, 2, 4):
    probabilities = torch.softmax(teacher_out.start_logits[0, :real] / temperature, dim=-1)
    ax.plot(probabilities.numpy(), label=f"T = {temperature}")
ax.axvline(int(batch["start_positions"][0]), color="grey", ls="--", lw=1, label="gold start")
ax.set_xlabel("token position in the window")
ax.set_ylabel("teacher's start probability")
ax.set_title("softening: higher temperatures spread the teacher's probability")
ax.legend()
save_figure(fig, "05_temperature")
plt.show()

# %% [markdown]
# ## Exercise: the distillation loss
#
# Write `my_kd_loss(student, teacher, temperature, mask)` for (batch, tokens) logits and a 0/1 `mask` of the
# real tokens: the KL divergence KL(p_teacher ‖ p_student) of the softmaxes at `temperature` over the real tokens
# of each row, averaged over the rows, times `temperature²`. Careful with the padding: a position that is out of
# both softmaxes must add exactly nothing (0 · log 0 is 0, but `-inf - -inf` is `nan`).
#
# **Your turn.** The cell below is a stub that raises `NotImplementedError`: replace its body with your own code,
# then run it and the check below.
#
# (Headless runs, `python -m bmp course` and `make test`, set `BMP_SOLUTIONS=1`, which swaps in the reference
# solution from `notebooks/solutions/05_pruning_with_distillation.py`. Look there only after trying.)


# %%
def my_kd_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float,
               mask: torch.Tensor) -> torch.Tensor:
    raise NotImplementedError("your turn: write my_kd_loss, then rerun this cell and the check below")


if SOLUTIONS:
    my_kd_loss = solution("05_pruning_with_distillation", "my_kd_loss")


# %% [markdown]
# The check compares it with `bmp.training.distill.kd_loss` on random logits with random amounts of padding, at several
# temperatures, and on the teacher's own logits against a perturbed student.

# %%
generator = torch.Generator().manual_seed(1)
for temperature in (0.5, 1.0, 2.0, 4.0):
    student_logits = 3 * torch.randn(6, 40, generator=generator)
    teacher_logits = 3 * torch.randn(6, 40, generator=generator)
    lengths = torch.randint(5, 41, (6,), generator=generator)
    mask = (torch.arange(40)[None, :] < lengths[:, None]).long()  # (B, T): real tokens first, then padding
    expected = kd_loss(student_logits, teacher_logits, temperature, mask)
    got = my_kd_loss(student_logits, teacher_logits, temperature, mask)
    assert torch.isfinite(got), f"T={temperature}: the loss is {got}; do padded positions add nan?"
    assert torch.allclose(got, expected, rtol=1e-5, atol=1e-6), f"T={temperature}: {got} vs {expected}"
noisy = teacher_out.start_logits + torch.randn(teacher_out.start_logits.shape, generator=generator)
mask = batch["attention_mask"]
assert torch.allclose(my_kd_loss(noisy, teacher_out.start_logits, 2.0, mask),
                      kd_loss(noisy, teacher_out.start_logits, 2.0, mask), rtol=1e-5)
print("my_kd_loss matches bmp.training.distill.kd_loss")

# %% [markdown]
# The training loss mixes the two: α · ½ (KD on starts + KD on ends) + (1 − α) · the task's cross-entropy,
# with α = 0.9 and T = 2, as in the reference. A freshly masked student keeps everything (sigmoid(0) = 0.5 is
# above the initial threshold of 0), so it *is* the teacher: its distillation term is zero and only the task
# term remains.

# %%
fresh = add_masks(copy.deepcopy(teacher), pruning).eval()
with torch.inference_mode():
    out = fresh(**inputs, start_positions=batch["start_positions"], end_positions=batch["end_positions"])
total = qa_distillation_loss(out.start_logits, out.end_logits, teacher_out.start_logits, teacher_out.end_logits,
                             out.loss, kd, batch["attention_mask"])
assert torch.allclose(out.start_logits, teacher_out.start_logits, atol=1e-5)
assert torch.allclose(total, (1 - kd.alpha) * out.loss, atol=1e-5)
print(f"task loss {out.loss.item():.3f}; mixed loss {total.item():.3f} = {1 - kd.alpha:g} x task loss")
del student, fresh

# %% [markdown]
# ## The pruning run
#
# `prune_run` copies the teacher, adds the masks, trains with `PruningTrainer` (the `Trainer`, plus a score
# parameter group with its own learning rate, the threshold set from the schedule before every step, the L1
# penalty and distillation), multiplies the masks into the weights (`baked_copy`), saves that plain BERT with
# zeros to `<run>/final`, evaluates it and records it with kind `pruned`.
#
# The trainer logs the threshold, the density of the linear layers, and the heads and FFN neurons alive per
# layer at every logging step; short runs log every step so that the curves below have points.
#
# A finished run is not redone: the trainer resumes from the newest checkpoint in the run's folder, finds
# nothing left to train, and the cell only evaluates and records the model again. Delete the folder to start
# over; a different λ or preset writes to a folder of its own (a different `SCORE_LR` does not: delete the folder).

# What to expect: the course's own default run (this notebook's λ and epochs from notebook 04's teacher, filled
# by notebook 06) is recorded at several seeds in `data/results/expected` (`scripts/expected_run.sh`). With the
# defaults above, your run should land near it after notebook 06; another λ or preset lands elsewhere.

# %%
print(expected_run() or "no expected run is recorded yet: scripts/expected_run.sh records it after make course")

# %%
previous = resume_point(RUN_DIR)
if previous and Path(previous).stat().st_mtime < (TEACHER / "model.safetensors").stat().st_mtime:
    print(f"warning: {RUN_DIR.relative_to(REPO_ROOT)} holds a run that is older than the teacher, and it will be "
          "resumed as it is: delete the folder to prune the current teacher")
logging_steps = max(1, min(10, total_steps // 25))
print(time_banner("05_pruning_with_distillation", what=f"pruning for {total_steps} steps is the slow cell"))
snapshots = ScoreSnapshots(at=(0.1, 0.5, 1.0))  # the scores against the cut at three points of the schedule
result = prune_run(TEACHER, recipe, profile, RUN_DIR, data=data, name=RUN_NAME, base_model=profile.model,
                   logging_steps=logging_steps, callbacks=[snapshots])
metrics = result.metrics
print(f"{RUN_NAME}: EM {metrics['exact_match']:.1f}, F1 {metrics['f1']:.1f}, linear density "
      f"{metrics['linear_density']:.3f}, after {metrics['train_steps']} steps")
print(f"split: {data.splits.description}")

# %% [markdown]
# Against the teacher, scored on the same held-out questions (from its record when there is one, else
# evaluated now):


# %%
found = teacher_record(load_records(results_dir()), TEACHER, data.splits.split_name)
teacher_metrics = found["metrics"] if found else evaluate_qa(teacher, data, tokenizer)
comparison = pd.DataFrame({
    "EM": [teacher_metrics["exact_match"], metrics["exact_match"]],
    "F1": [teacher_metrics["f1"], metrics["f1"]],
    "linear density": [1.0, metrics["linear_density"]],
    "heads per layer": [None, metrics["heads_per_layer"]],
    "FFN neurons per layer": [None, metrics["neurons_per_layer"]],
}, index=["dense teacher", RUN_NAME])
display(comparison.round(3))
print(f"both on: {data.splits.description}")

# %% [markdown]
# ## What happened during training
#
# The log history is in `trainer_state.json` of the newest checkpoint (the `Trainer` saves one every 100 steps, 1000
# on a GPU, and one at the end, so even a run of a few steps has one).

# %%
checkpoint = resume_point(RUN_DIR)
if checkpoint is None:
    history = pd.DataFrame()
    print(f"no checkpoint in {RUN_DIR.relative_to(REPO_ROOT)}: no log history to plot")
else:
    state = json.loads((Path(checkpoint) / "trainer_state.json").read_text())
    history = pd.DataFrame([entry for entry in state["log_history"] if "density" in entry])
    print(f"{len(history)} logged steps from {Path(checkpoint).relative_to(REPO_ROOT)}")
layers = len(metrics["heads_per_layer"])
dense_heads, dense_neurons = teacher.config.num_attention_heads, teacher.config.intermediate_size

# %%
if len(history):
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.8))
    axes[0].plot(history["step"], history["threshold"], color="tab:red")
    axes[0].set_ylabel("sigmoid threshold τ")
    axes[0].set_title("the schedule")
    axes[1].plot(history["step"], history["density"])
    axes[1].set_ylabel("non-zero share of the linear weights")
    axes[1].set_ylim(0, 1.05)
    axes[1].set_title("linear density")
    for i in range(layers):
        axes[2].plot(history["step"], history[f"heads_{i}"] / dense_heads, color=f"C{i}", label=f"layer {i} heads")
        axes[2].plot(history["step"], history[f"neurons_{i}"] / dense_neurons, color=f"C{i}", ls="--",
                     label=f"layer {i} neurons")
    axes[2].set_ylabel("share alive")
    axes[2].set_ylim(-0.05, 1.05)
    axes[2].set_title("heads (solid) and FFN neurons (dashed) alive")
    axes[2].legend(fontsize=7, ncol=2)
    for ax in axes:
        ax.set_xlabel("training step")
    fig.suptitle(f"{RUN_NAME}: λ = {LAMBDA:g}, score learning rate {SCORE_LR:g}")
    fig.tight_layout()
    save_figure(fig, "05_pruning_curves")
    plt.show()

# %% [markdown]
# Nothing can go before the threshold rises; once it does, the density falls in step with it, and the pace
# is set by how fast the scores can move. Heads usually survive longer than the density suggests: a head
# dies only when all of its value rows or all of its output columns are gone, and blocks elsewhere in the head
# can fall long before that.

# %% [markdown]
# ## What the pruned model keeps
#
# `kept_report` on the saved model (a plain BERT whose pruned weights are zeros) counts the heads and neurons
# that are still alive, by the same rule packing will use:

# %%
pruned = load_saved(result.output_dir)
report = kept_report(pruned)
print(report)
fig = structure_heatmap(report.heads, report.neurons, dense_heads=dense_heads, dense_neurons=dense_neurons,
                        title=RUN_NAME, figsize=(7, 2.2))
save_figure(fig, "05_kept_per_layer")
display(fig)

# %% [markdown]
# Alive is not the same as dense. Inside the heads that survive, block pruning has left zeros, and inside the
# surviving neurons nothing was pruned. The density of each matrix tells the two apart:

# %%
density = report.matrices.pivot(index="matrix", columns="layer", values="density")
density = density.loc[["query", "key", "value", "attn_out", "ffn_in", "ffn_out"]]
fig, ax = plt.subplots(figsize=(1.2 * layers + 3, 3.2))
sns.heatmap(density, annot=True, fmt=".2f", vmin=0, vmax=1, cmap="viridis", ax=ax,
            cbar_kws={"label": "non-zero share"})
ax.set_title("density of each matrix after pruning")
save_figure(fig, "05_matrix_density")
plt.show()

# %% [markdown]
# ## Movement against magnitude, on the whole model
#
# Notebook 01 compared the two scores on one layer. Here they compete on the whole model, from the course's
# teacher: `scripts/probe_concepts.sh` pruned it in two short runs per density, TopK keeping the same share of
# every matrix's 32 × 32 blocks (so the densities are equal by construction) ranked once by the learned movement
# scores and once by |W|, with the same distillation and steps. It uses the block preset because that is the
# granularity both share: magnitude has no score for an FFN neuron as a whole. Settings are compared on the
# validation articles; the held-out F1 is shown beside. Notebook 01 predicted that magnitude catches up with
# movement when the student starts from a fine-tuned teacher, whose weights have already moved: the gap below says
# how far it caught up on this teacher, at two densities.

# %%
concepts = concept_records()
contest = pd.DataFrame(movement_vs_magnitude(concepts))
if len(contest):
    display(contest.drop(columns="name").round(3))
    fig, ax = plt.subplots(figsize=(6, 3.2))
    sns.barplot(contest, x="keep", y="validation_f1", hue="method", ax=ax,
                order=sorted(contest["keep"].unique(), reverse=True))
    ax.set(xlabel="share of every matrix's blocks kept", ylabel="validation F1",
           title=f"movement against magnitude, {contest['steps'].max()} steps from the course teacher")
    save_figure(fig, "05_movement_vs_magnitude")
    plt.show()
    for keep, group in contest.groupby("keep", sort=False):
        by = group.set_index("method")["validation_f1"]
        if {"movement", "magnitude"} <= set(by.index):
            print(f"keeping {keep:.0%} of every matrix: movement {by['movement']:.1f}, magnitude "
                  f"{by['magnitude']:.1f} validation F1 (movement {by['movement'] - by['magnitude']:+.1f})")
else:
    print("no probe records in data/results/concepts yet: scripts/probe_concepts.sh makes them")

# %% [markdown]
# ## Why blocks can empty whole heads
#
# Hybrid pruning bets on one thing: the 32 × 32 blocks that training drops line up inside the same heads, so
# whole heads go and packing can remove them. A head goes only when every block of its value rows or of its output
# columns is gone; blocks dropped at random line up like that only by chance. The probe
# (`python -m bmp.bench empty_heads`) counts the heads packing would remove from each run's saved model, then
# shuffles the same blocks within V and within the attention output (each matrix keeps exactly as many) and counts
# again, over many draws; the records say how many:

# %%
shares = pd.DataFrame(empty_head_shares(concepts))
if len(shares):
    x = np.arange(len(shares))
    fig, ax = plt.subplots(figsize=(1.6 * len(shares) + 2.5, 3.4))
    ax.bar(x - 0.2, shares["learned"], 0.4, label="learned blocks", color="tab:blue")
    low = shares["random"] - shares["random_range"].str[0]
    high = shares["random_range"].str[1] - shares["random"]
    ax.bar(x + 0.2, shares["random"], 0.4, yerr=[low, high], capsize=3, color="tab:gray",
           label="the same blocks shuffled (95% of draws)")
    ax.set_xticks(x, [f"{run}\n{density:.0%} of V and output kept" for run, density
                      in zip(shares["run"], shares["density"])], fontsize=7)
    ax.set_ylabel("share of heads packing removes")
    ax.legend(fontsize=8)
    save_figure(fig, "05_empty_heads")
    plt.show()
    for row in shares.itertuples():
        print(f"{row.run}: {row.learned:.0%} of {row.heads} heads empty with the learned blocks, "
              f"{row.random:.1%} with the same blocks shuffled (mean of {row.shuffles} draws)")
else:
    print("no empty-heads records in data/results/concepts yet: scripts/probe_concepts.sh makes them")

# %% [markdown]
# ## Prune it yourself, live
#
# The run saved its trained weights *before* masking, and every score, next to the baked model
# (`masked.safetensors`). So the masks can be redrawn at any threshold without training again: drag the slider
# and the widget re-masks the model, packs it, times it against the teacher for a few passes, and scores it on a
# small cached set of held-out questions. The toggle switches between the sigmoid threshold the run trained with
# (each layer keeps what its learned scores put above it) and TopK on the same scores (every matrix keeps the
# same share). Loosening the threshold brings back blocks the training pushed out; the scores, not the
# weights, decide what comes back first.

# %%
print(time_banner("05_pruning_with_distillation", "the live widget (each slider move re-scores the subset)"))
live = live_pruning_widget(result.output_dir, TEACHER, data, tokenizer, subset=LIVE_QUESTIONS)
display(live)
live.slider.value = min(0.3, live.slider.max)  # what moving it does, for headless runs
live.method.value = "topk"

# %% [markdown]
# ## The scores against the cut
#
# The masks come from one rule applied to the scores: with the sigmoid threshold, a block is kept while
# sigmoid(score) is above the threshold in force; TopK would keep the same *share* of every matrix, cutting each at
# its own quantile instead. Below, every score's sigmoid at three points of the schedule, with the threshold then
# (solid) and, for comparison, where one global TopK cut keeping as many would fall (dashed). Early on the scores
# sit in one lump at sigmoid(0) = 0.5, above a threshold near 0; as movement and the L1 pull act, they spread,
# and the threshold rises into the lower tail.

# %%
if snapshots.snapshots:
    fig, axes = plt.subplots(1, len(snapshots.snapshots), figsize=(4.2 * len(snapshots.snapshots), 3.0),
                             sharey=True)
    for ax, (step, threshold, values) in zip(np.atleast_1d(axes), snapshots.snapshots):
        ax.hist(values, bins=60, color="tab:blue", alpha=0.8)
        kept = float((values > threshold).mean()) if threshold is not None else 1.0
        ax.axvline(threshold or 0.0, color="black", label=f"threshold {threshold or 0:.3f} keeps {kept:.0%}")
        ax.axvline(float(np.quantile(values, 1 - kept)), color="tab:red", linestyle="--", label="TopK, same share")
        ax.set_title(f"step {step} of {total_steps}")
        ax.set_xlabel("sigmoid(score)")
        ax.legend(fontsize=7)
    np.atleast_1d(axes)[0].set_ylabel("scores")
    save_figure(fig, "05_score_histograms")
    plt.show()
else:
    print(f"no snapshots: the run in {RUN_DIR.relative_to(REPO_ROOT)} resumed past them; delete it to watch the "
          "scores move")

# %% [markdown]
# ## Or name a target instead of a λ
#
# A λ sets how hard the scores are pulled; how small the model ends up is found afterwards, and it moves with the
# score learning rate and the number of steps too. A target names the end instead:
# `python -m bmp prune --target-speedup 2.5` (or `bmp.prune(..., target_speedup=2.5)`) trains as a λ run does and
# lets the run set its own λ. After every step it reads the size the scores point at (the heads and FFN neurons
# alive at the final threshold) against a budget that shrinks on the same cubic schedule: above it, λ grows; below
# it, λ eases off. The last step projects onto the budget exactly. A head counts as gone only when all its blocks
# are, since that is what packing removes. A size (`--target-density`) is counted in linear weights; a speed in
# seconds, by a latency model: a few packed shapes timed on this machine at the recorded setting and fitted layer
# by layer. (`--target-method topk` follows the budget another way: at every step it keeps the best-scored heads
# and neurons that fit.)
#
# The live widget above has a last step like that too, under its threshold: the slider "or a target" keeps the
# best-scored heads and neurons of *this* run that fit, without training again. Pick 2.5× there (or set
# `TARGET_SPEEDUP` below) and compare what the latency model predicted with what the packed model measures against
# the teacher. The first landing calibrates the latency model on this machine (the slow part); later ones reuse it.
# The F1 is before any filling, and the scores were learned under this run's λ, not toward the budget: a target
# run trains toward it.

# %%
TARGET_SPEEDUP = 2.5  # try 1.5 or 4: a target beyond what this model can pack to is refused, naming the limit
landing = live.target.land(TARGET_SPEEDUP)  # what moving the widget's target slider to it does
display(live.target)  # the same form as in the widget above, now showing this landing
print(landing if landing is not None else "refused: the form above says why")

# %% [markdown]
# ## Other recorded pruning runs
#
# Every `prune_run` leaves a record of kind `pruned`: yours in `outputs/results`, the project's recorded runs in
# `data/results`. Those scored on the same split, this one marked:

# %%
rows = []
for record in load_records(results_dir(), kind="pruned") + load_records(kind="pruned"):
    if record["metrics"].get("eval_split") != data.splits.split_name:
        continue
    config = record["config"]
    recipe_config = config.get("recipe", {})
    rows.append({
        "run": record["name"] + (" (this notebook)" if record["name"] == RUN_NAME else ""),
        "attention": str(recipe_config.get("pruning", {}).get("attention")),
        "FFN": recipe_config.get("pruning", {}).get("ffn"),
        "λ": recipe_config.get("regularization", {}).get("attention"),
        "score lr": recipe_config.get("score_learning_rate"),
        "epochs": config.get("profile", {}).get("prune_epochs"),
        "F1": record["metrics"]["f1"], "linear density": record["metrics"]["linear_density"],
        "heads": record["metrics"]["heads_per_layer"], "neurons": record["metrics"]["neurons_per_layer"],
    })
runs_table = pd.DataFrame(rows).sort_values("linear density") if rows else pd.DataFrame()
display(runs_table.round(3))
if len(rows) < 2:
    print("only this run so far: try another LAMBDA here, or `python -m bmp prune --teacher "
          f"runs/teacher-{profile.name}/final --lam 60`, to see the trade-off")

# %% [markdown]
# ## Questionnaire
#
# 1. Why do the scores start at 0, and what does the initial threshold of 0 mean for the first steps?
# 2. What does the cubic shape of the schedule do that a linear ramp would not?
# 3. With Adam, doubling λ does not make the scores fall twice as fast. What does it change?
# 4. A run has 300 steps, a 10% warm-up and linear decay. Can a score learning rate of 1e-2 prune anything with a
#    final threshold of 0.1? What about 0.05?
# 5. Why is the penalty on sigmoid(scores) rather than on the scores themselves?
# 6. What does the temperature do to the teacher's distribution, and why is the KL term multiplied by T²?
# 7. In the matrix-density heatmap, a layer keeps all its heads but its attention matrices are half empty. What
#    will packing remove from it, and what will it leave?
# 8. In the empty-heads figure, compare each run's learned share with its shuffled one. Why does the difference
#    make the *learning* of blocks, not how many are dropped, what hybrid pruning's speed rests on?
#
# ## Further research
#
# - Sanh, Wolf and Rush, *Movement Pruning* (2020), and Lagunas et al., *Block Pruning For Faster Transformers*
#   (2021): compare their regularisation with the one here, and find where λ for the FFN differs from λ for
#   attention.
# - Hinton, Vinyals and Dean, *Distilling the Knowledge in a Neural Network* (2015), section 2, derives the T²
#   factor. Rerun with `distill=False` in `prune_run`: how much F1 does distillation buy at the same density?
# - Try `PRESET = "struct"` with the same λ: compare the density and the heads kept with the hybrid run.
# - Zhu and Gupta, *To prune, or not to prune* (2017), introduced the cubic schedule. Change `schedule_warmup` and
#   `schedule_cooldown` (e.g. with `dataclasses.replace(recipe, schedule_cooldown=0.3)`) and watch the curves.
# - Sweep λ and plot F1 against density from the `pruned` records (`python -m bmp.training.sweep --help`).
