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
# # 01 · Movement scores from scratch
#
# Pruning a fine-tuned model asks one question of every weight: *do we keep it?* The oldest answer is its
# magnitude, |W|. Movement pruning answers differently: keep the weights that fine-tuning is pushing **away from
# zero**, and drop the ones it is pulling **towards zero**, however large they still are.
#
# This notebook builds movement pruning by hand on a problem small enough to see every weight, then checks each
# piece against the `bmp` package that the rest of the course uses.
#
# **Learning goals**
#
# - Say what a magnitude score and a movement score measure, and when they disagree.
# - Explain why a 0/1 mask has no useful gradient, and write a straight-through estimator as a
#   `torch.autograd.Function`.
# - Derive the straight-through update a score receives, ∂L/∂W′ ⊙ W (a surrogate: the true gradient is zero), and
#   show that SGD on the scores accumulates the movement −Σ (∂L/∂W′ ⊙ W).
# - Explain why a large weight that is shrinking gets a low score.
# - See that one score per *block* receives the sum of its weights' movement.

# %%
import os

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
import torch
from torch import nn

from bmp.course import save_figure, solution, time_banner
from bmp.profiles import get_profile
from bmp.pruning.binarizers import threshold_mask, topk_mask
from bmp.pruning.granularity import PruningConfig
from bmp.pruning.masked import MaskedLinear

# %% tags=["parameters"]
PROFILE = os.environ.get("BMP_PROFILE", "course")
SOLUTIONS = os.environ.get("BMP_SOLUTIONS") == "1"  # True: the exercise's stub is replaced by the reference solution

# %%
profile = get_profile(PROFILE)
torch.manual_seed(0)
sns.set_theme(style="white")
print(f"profile {profile.name}: everything in this notebook is a toy and takes seconds under every profile")
print(time_banner("01_movement_scores"))

# %% [markdown]
# ## A toy fine-tuning problem
#
# A linear layer `y = W x` with 8 outputs and 32 inputs plays the part of a pretrained matrix: `W0` is random,
# with weights of all sizes. The new task needs only a quarter of the weights (`task`, zero elsewhere). This is the
# situation of fine-tuning BERT: the pretrained weights are large for reasons that may not matter for the task
# at hand.

# %%
OUT_FEATURES, IN_FEATURES, SAMPLES = 8, 32, 512
W0 = torch.randn(OUT_FEATURES, IN_FEATURES)  # "pretrained" weights: (out, in)
matters = torch.rand(OUT_FEATURES, IN_FEATURES) < 0.25  # the weights the new task uses
task = torch.zeros(OUT_FEATURES, IN_FEATURES)
task[matters] = 1.5 * torch.randn(int(matters.sum()))

X = torch.randn(SAMPLES, IN_FEATURES)  # (N, in)
Y = X @ task.T + 0.1 * torch.randn(SAMPLES, OUT_FEATURES)  # (N, out)
print(f"{int(matters.sum())} of {matters.numel()} weights matter for the task")


# %%
def mse(weight: torch.Tensor) -> torch.Tensor:
    return ((X @ weight.T - Y) ** 2).mean()


print(f"loss of the pretrained weights: {mse(W0).item():.2f}; of the task weights: {mse(task).item():.3f}")

# %% [markdown]
# ## Two ways to score a weight
#
# - **Magnitude**: S = |W|. It looks at where a weight *is*. Before fine-tuning it can only reflect pretraining.
# - **Movement**: S = −Σₜ ∂L/∂Wₜ ⊙ Wₜ, summed over training steps. Each term is positive when the gradient step
#   (−∂L/∂W) has the same sign as W, that is, when training pushes the weight away from zero. It looks at where a
#   weight is *going*.
#
# The rest of the notebook shows where that second formula comes from. It is not a heuristic, but it is not the
# true gradient either: behind a hard mask the true gradient of the loss with respect to a score is zero (next
# cell). Movement is what the scores accumulate under the *straight-through* surrogate of that gradient, which
# treats the mask as the identity in the backward pass.

# %% [markdown]
# ## Why a mask has no gradient
#
# A mask keeps a weight when its score clears a threshold: M = 1[S > τ]. The step function is flat almost
# everywhere, so its true derivative is zero; in PyTorch the comparison simply leaves the graph.

# %%
scores = torch.zeros(3, requires_grad=True)
hard = (scores > -1.0).float()
print("the mask requires grad:", hard.requires_grad)
try:
    (hard * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
except RuntimeError as err:
    print("backward fails:", err)

# %% [markdown]
# ## The straight-through estimator, by hand
#
# The fix is to use the hard mask in the forward pass but *pretend* it was the identity in the backward pass:
# whatever gradient reaches the mask is handed to the scores unchanged. A `torch.autograd.Function` says exactly
# that in two methods.


# %%
class ThresholdSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, scores, tau):
        return (scores > tau).to(scores.dtype)  # a hard 0/1 mask

    @staticmethod
    def backward(ctx, grad_mask):
        return grad_mask, None  # straight through to the scores; the threshold gets no gradient


# %% [markdown]
# The package has the same estimator, `bmp.pruning.binarizers.threshold_mask`. Same masks, same gradients:

# %%
scores_mine = torch.randn(OUT_FEATURES, IN_FEATURES, requires_grad=True)
scores_lib = scores_mine.detach().clone().requires_grad_()
upstream = torch.randn(OUT_FEATURES, IN_FEATURES)  # any gradient arriving at the mask

mask_mine = ThresholdSTE.apply(scores_mine, 0.3)
mask_lib = threshold_mask(scores_lib, 0.3)
(mask_mine * upstream).sum().backward()
(mask_lib * upstream).sum().backward()

assert torch.equal(mask_mine, mask_lib)
assert torch.equal(scores_mine.grad, scores_lib.grad)
assert torch.equal(scores_mine.grad, upstream)  # straight through: nothing changed on the way
print(f"same mask ({int(mask_lib.sum())} of {mask_lib.numel()} kept) and same gradient as bmp.pruning.binarizers")

# %% [markdown]
# ## The update a score receives
#
# The layer computes with W′ = W ⊙ M(S). By the chain rule, with the straight-through surrogate ∂M/∂S := 1 in place
# of the true derivative (zero almost everywhere),
#
# ∂L/∂S = ∂L/∂W′ ⊙ ∂W′/∂M = ∂L/∂W′ ⊙ W.
#
# Autograd agrees:

# %%
weight = W0.clone().requires_grad_()
scores = torch.zeros_like(W0, requires_grad=True)
masked = weight * topk_mask(scores, 1.0)  # keep = 1.0: every weight kept, so W' = W
masked.retain_grad()
mse(masked).backward()

assert torch.allclose(scores.grad, masked.grad * weight.detach())
print("dL/dS == dL/dW' * W for all", scores.numel(), "scores")

# %% [markdown]
# ## Training weights and scores together
#
# Now fine-tune for a few steps with plain SGD, updating the weights *and* the scores. Keeping every weight
# (keep = 1.0) makes this ordinary fine-tuning: the scores only watch. Starting from S = 0, each SGD step adds
# −lr · ∂L/∂W′ ⊙ W to the scores, so after T steps
#
# S = −lr · Σₜ ∂L/∂W′ₜ ⊙ Wₜ,
#
# the accumulated movement. The loop keeps that sum separately and checks it at the end.
#
# The number of steps is small on purpose: fine-tuning moves weights only a little from their pretrained values.

# %%
LR, STEPS = 0.01, 30

weight = W0.clone().requires_grad_()
scores = torch.zeros_like(W0, requires_grad=True)
movement = torch.zeros_like(W0)
for step in range(STEPS):
    masked = weight * topk_mask(scores, 1.0)
    masked.retain_grad()
    loss = mse(masked)
    loss.backward()
    with torch.no_grad():
        movement -= LR * masked.grad * weight
        weight -= LR * weight.grad
        scores -= LR * scores.grad
    weight.grad = scores.grad = None

assert torch.allclose(scores, movement, atol=1e-6)
W = weight.detach()
print(f"loss {mse(W0).item():.1f} -> {loss.item():.1f} after {STEPS} steps; "
      f"mean |W - W0| = {(W - W0).abs().mean().item():.3f}, mean |W0| = {W0.abs().mean().item():.3f}")
print("the learned scores equal the accumulated movement")

# %% [markdown]
# ## Why a large weight can score low
#
# Take two weights and a loss that wants w = (0, 2): the first is large but useless, the second small but needed.
# After a few steps the useless one is still the larger, so magnitude keeps it. Its movement, however, is
# negative: every step pulls it towards zero, and −∂L/∂w · w < 0. The needed one moves away from zero and scores
# positive.

# %%
target = torch.tensor([0.0, 2.0])
w = torch.tensor([3.0, 0.5])
score = torch.zeros(2)
for step in range(5):
    grad = w - target  # the gradient of 0.5 * ||w - target||^2
    score -= 0.1 * grad * w
    w = w - 0.1 * grad

pd.DataFrame({"start": [3.0, 0.5], "task wants": target.tolist(), "after 5 steps": w.tolist(),
              "magnitude": w.abs().tolist(), "movement": score.tolist()},
             index=["useless, large", "needed, small"]).round(2)

# %% [markdown]
# ## Magnitude against movement on the toy
#
# Keep a quarter of the weights by each score and ask how many of the kept weights are ones the task uses.
# `topk_mask` keeps exactly round(keep × numel) of the highest scores.

# %%
KEEP = 0.25
magnitude_scores = W.abs()
movement_scores = scores.detach()
kept = {"magnitude": topk_mask(magnitude_scores, KEEP).bool(), "movement": topk_mask(movement_scores, KEEP).bool()}

precision = {name: (mask & matters).sum().item() / mask.sum().item() for name, mask in kept.items()}
for name, value in precision.items():
    print(f"{name:>9}: {value:.0%} of the kept weights matter (chance: {matters.float().mean().item():.0%})")

# %%
frame = pd.DataFrame({"|W| after fine-tuning": magnitude_scores.flatten(),
                      "movement score": movement_scores.flatten(),
                      "the task": ["uses it" if m else "ignores it" for m in matters.flatten().tolist()]})
fig, ax = plt.subplots(figsize=(6.5, 4.5))
sns.scatterplot(data=frame, x="|W| after fine-tuning", y="movement score", hue="the task", ax=ax, s=25)
ax.axvline(magnitude_scores.flatten().kthvalue(round((1 - KEEP) * W.numel())).values, ls="--", c="grey")
ax.axhline(movement_scores.flatten().kthvalue(round((1 - KEEP) * W.numel())).values, ls=":", c="grey")
ax.set_title(f"keep {KEEP:.0%}: magnitude keeps right of the dashed line, movement above the dotted one")
save_figure(fig, "01_magnitude_vs_movement_scatter")
plt.show()

# %% [markdown]
# Many large weights (right) the task ignores sit *below* zero on the movement axis: fine-tuning is shrinking
# them. Magnitude keeps them anyway. Movement is not perfect either: a needed weight whose pretrained sign is the
# wrong one must first shrink through zero, and scores low until it has crossed. The same masks, laid out as the
# matrix:

# %%
fig, axes = plt.subplots(1, 3, figsize=(13, 2.8), sharey=True)
panels = [("weights the task uses", matters), (f"magnitude keeps ({precision['magnitude']:.0%} useful)",
                                               kept["magnitude"]),
          (f"movement keeps ({precision['movement']:.0%} useful)", kept["movement"])]
for ax, (title, mask) in zip(axes, panels):
    sns.heatmap(mask.float(), ax=ax, cbar=False, cmap="Greys", vmin=0, vmax=1, linewidths=0.3, linecolor="white",
                xticklabels=False, yticklabels=False)
    ax.set_title(title)
    ax.set_xlabel("input")
axes[0].set_ylabel("output")
save_figure(fig, "01_magnitude_vs_movement_masks")
plt.show()

# %% [markdown]
# Had we fine-tuned to convergence, the useless weights would reach zero and magnitude would catch up. Movement
# pruning's point is that it does not need to wait: it reads the direction early, while the weights are still
# close to their pretrained values, which is the regime of fine-tuning a large pretrained model.

# %% [markdown]
# ## One score for a block of weights
#
# `bmp` rarely scores single weights. A `MaskedLinear` with a block shape keeps one score per block, and the mask
# repeats that score's decision over the block. The straight-through gradient then reaches the score once from
# every weight in the block: the block's score gradient is the **sum** of ∂L/∂W′ ⊙ W over the block. Here with
# 4 × 4 blocks on the toy matrix:

# %%
BLOCK = (4, 4)
config = PruningConfig(attention=BLOCK, ffn="dense", method="topk", initial_threshold=1.0)
linear = nn.Linear(IN_FEATURES, OUT_FEATURES, bias=False)
with torch.no_grad():
    linear.weight.copy_(W)
layer = MaskedLinear(linear, config, block=BLOCK, part="attention")
print(layer)

((layer(X) - Y) ** 2).mean().backward()
per_weight = layer.weight.grad * layer.weight.detach()  # dL/dW' * W (every weight kept, so dL/dW = dL/dW')
block_sums = per_weight.reshape(OUT_FEATURES // 4, 4, IN_FEATURES // 4, 4).sum(dim=(1, 3))  # (2, 8)
assert layer.scores.shape == block_sums.shape
assert torch.allclose(layer.scores.grad, block_sums, atol=1e-6)
print(f"{layer.scores.numel()} block scores, each receiving the summed movement of {BLOCK[0] * BLOCK[1]} weights")

# %% [markdown]
# The next notebook takes this to BERT, where a block can be 32 × 32 weights, a whole attention head or a whole
# FFN neuron.

# %% [markdown]
# ## Exercise: TopK by hand
#
# Write `my_topk_mask(scores, keep)`: a tensor shaped like `scores`, with 1.0 at the `round(keep * scores.numel())`
# highest scores and 0.0 elsewhere. (Forward only; the gradient is the straight-through one you already wrote.)
#
# **Your turn.** The cell below is a stub that raises `NotImplementedError`: replace its body with your own code,
# then run it and the check below. Hint: flatten, `torch.topk`, then put ones back in place.
#
# (Headless runs, `python -m bmp course` and `make test`, set `BMP_SOLUTIONS=1`, which swaps in the reference
# solution from `notebooks/solutions/01_movement_scores.py`. Look there only after trying.)


# %%
def my_topk_mask(scores: torch.Tensor, keep: float) -> torch.Tensor:
    raise NotImplementedError("your turn: write my_topk_mask, then rerun this cell and the check below")


if SOLUTIONS:
    my_topk_mask = solution("01_movement_scores", "my_topk_mask")


# %%
generator = torch.Generator().manual_seed(1)
for shape in [(8, 32), (5,), (3, 4, 5)]:
    for keep in (0.0, 0.1, 0.25, 0.5, 0.9, 1.0):
        trial = torch.randn(shape, generator=generator)
        expected = topk_mask(trial, keep)
        got = my_topk_mask(trial, keep)
        assert got.shape == trial.shape, f"shape {tuple(got.shape)}, expected {tuple(trial.shape)}"
        assert got.sum() == round(keep * trial.numel()), f"keep={keep} on {shape}: kept {int(got.sum())}"
        assert torch.equal(got, expected), f"keep={keep} on {shape}: not the highest scores"
print("my_topk_mask matches bmp.pruning.binarizers.topk_mask")

# %% [markdown]
# ## Questionnaire
#
# 1. What does a magnitude score measure, and what does a movement score measure?
# 2. Why does `(scores > tau).float()` give the scores no gradient, and what does the straight-through estimator
#    pretend instead?
# 3. Derive ∂L/∂S for W′ = W ⊙ M(S). Why does the weight W, not the masked weight W′, appear in it?
# 4. A weight is 3.0 and fine-tuning lowers it by 0.1 every step. What sign does its movement score have? Would
#    magnitude pruning keep it?
# 5. When does magnitude pruning do as well as movement pruning? (Think about how far fine-tuning moves the
#    weights.)
# 6. A 32 × 32 block shares one score. What gradient does that score receive?
# 7. With `topk_mask`, a pruned weight still sends a gradient to its score. Why does that matter for a weight that
#    was pruned early but becomes useful later?
#
# ## Further research
#
# - Read Sanh, Wolf and Rush, *Movement Pruning: Adaptive Sparsity by Fine-Tuning* (2020), sections 3 and 4, and
#   find the "soft movement" variant (`sigmoid_threshold` in `bmp.pruning.binarizers`). How does its score differ
#   from the TopK one?
# - Bengio, Léonard and Courville (2013) introduced the straight-through estimator. Try a variant that passes the
#   gradient only where the score is near the threshold, and compare the masks on the toy.
# - Rerun the toy with `STEPS = 300` or `LR = 0.05`. At what point does magnitude catch up with movement, and why?
# - Train with keep < 1 *inside* the loop (the pruned weights stop contributing to the loss). Do the kept weights
#   change? Do the scores still equal −lr · Σₜ ∂L/∂W′ₜ ⊙ Wₜ?
# - Replace the linear model by a two-layer MLP with a ReLU. Which hidden units does movement keep?
