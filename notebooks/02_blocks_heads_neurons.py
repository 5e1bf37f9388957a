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
# # 02 · Blocks, heads and neurons
#
# In notebook 01 one score decided the fate of one weight, or of a small block. In a BERT layer the choice of
# *what one score covers* matters more than anything else, because it decides whether the zeros we create ever
# make the model faster. A dense matrix multiply does not get cheaper when scattered weights are zero; it gets
# cheaper when whole rows and columns disappear, so that the matrices themselves shrink.
#
# **Learning goals**
#
# - Count what one score covers at each granularity: one weight, a 32 × 32 block, an attention head, an FFN
#   neuron.
# - Read a mask: recognise blocks, head stripes and neuron lines in the Q, K, V, attention-output and FFN
#   matrices.
# - Read what a masked model keeps with `kept_report`, per matrix and per layer.
# - Tell zeros that save compute from zeros that don't: only whole heads and whole neurons pack away into a
#   smaller dense model.
# - Recognise the error for a block shape that does not divide the matrices.

# %%
import copy
import os
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
import transformers

from bmp.course import save_figure, solution, time_banner
from bmp.models import load_profile_model
from bmp.profiles import get_profile
from bmp.pruning.anatomy import LINEAR_NAMES, encoder_layers
from bmp.pruning.granularity import PRESETS, PruningConfig, preset
from bmp.pruning.kept import kept_report
from bmp.pruning.masked import add_masks, score_parameters, set_threshold

# %% tags=["parameters"]
PROFILE = os.environ.get("BMP_PROFILE", "course")
SOLUTIONS = os.environ.get("BMP_SOLUTIONS") == "1"  # True: the exercise's stub is replaced by the reference solution

# %% [markdown]
# The profile picks the model: a tiny random BERT under `smoke` (2 layers, hidden 64, 4 heads of 16, FFN 128),
# the embedded 6-layer MiniLM under `course` (hidden 384, 12 heads of 32, FFN 1536). Nothing here trains, so
# either takes seconds.

# %%
profile = get_profile(PROFILE)
transformers.logging.set_verbosity_error()  # a fresh QA head and an unused pooler are expected, not news
transformers.logging.disable_progress_bar()
base, _tokenizer, base_name = load_profile_model(profile)
base.eval()
parts = encoder_layers(base)
first = parts[0]
HIDDEN, HEAD_DIM, HEADS, FFN = base.config.hidden_size, first.head_dim, first.num_heads, first.ffn_size
print(f"profile {profile.name}, model {base_name!r}: {len(parts)} layers, hidden {HIDDEN}, "
      f"{HEADS} heads of {HEAD_DIM}, FFN {FFN}")
print(time_banner("02_blocks_heads_neurons"))
sns.set_theme(style="white")

# %% [markdown]
# ## The six matrices of a layer
#
# Pruning scores the six linear layers of each encoder layer. PyTorch stores a linear layer's weight as
# (out, in): row *i* produces output *i*. A head owns `HEAD_DIM` consecutive **rows** of Q, K and V and the same
# `HEAD_DIM` **columns** of the attention output; an FFN neuron owns one **row** of FFN-in and one **column** of
# FFN-out.

# %%
pd.DataFrame([{"matrix": name, "shape (out, in)": tuple(module.weight.shape), "weights": module.weight.numel()}
              for name, module in first.linears().items()])

# %% [markdown]
# ## What one score covers
#
# | granularity | one score covers | scores per layer |
# |---|---|---|
# | `(1, 1)` | one weight | every weight |
# | `(32, 32)` | a 32 × 32 block of one matrix | weights / 1024 |
# | `"head"` | a head's rows in Q, K, V and its columns in the attention output | one per head |
# | `"neuron"` | a neuron's row in FFN-in and its column in FFN-out | one per neuron |
#
# The same counts for this model, worked out from the shapes:

# %%
ATTENTION_WEIGHTS = 4 * HIDDEN * HEADS * HEAD_DIM  # Q, K, V and the attention output
FFN_WEIGHTS = 2 * HIDDEN * FFN  # FFN in and FFN out


def covers(granularity) -> int:
    """How many weights one score covers: a block shape, "head" or "neuron"."""
    if granularity == "head":
        return 4 * HEAD_DIM * HIDDEN
    if granularity == "neuron":
        return 2 * HIDDEN
    rows, cols = granularity
    return rows * cols


rows = []
for name, config in PRESETS.items():
    attention, ffn = covers(config.attention), covers(config.ffn)
    rows.append({"preset": name, "attention": str(config.attention), "weights per attention score": attention,
                 "attention scores": ATTENTION_WEIGHTS // attention, "ffn": str(config.ffn),
                 "weights per FFN score": ffn, "FFN scores": FFN_WEIGHTS // ffn})
coverage = pd.DataFrame(rows).set_index("preset")
coverage

# %% [markdown]
# `add_masks` creates exactly these scores. Counting the score parameters of layer 0 for each preset confirms
# the table:

# %%
for name in PRESETS:
    model = add_masks(copy.deepcopy(base), preset(name))
    in_layer0 = sum(p.numel() for pname, p in score_parameters(model) if ".layer.0." in pname)
    expected = coverage.loc[name, "attention scores"] + coverage.loc[name, "FFN scores"]
    assert in_layer0 == expected, (name, in_layer0, expected)
    print(f"{name:>12}: {in_layer0:>9,} scores in layer 0")
del model

# %% [markdown]
# ## Masks under random scores
#
# To see the shapes the masks take, give every score a random value and keep the top half of each score tensor
# (`method="topk"`, keep 0.5). Training will learn the scores later; the *shape* of the masks is already fixed
# by the granularity.
#
# **What `set_threshold` means depends on the method.** With TopK, as in notebook 01 and here, the value is the
# share **kept**: `set_threshold(model, 0.5)` keeps the best-scored half of every score tensor, and a *higher*
# value keeps *more*. Notebook 05 (pruning) switches to `sigmoid_threshold`, where the value is a threshold on
# sigmoid(score) and a *higher* value prunes *more*; its section "From TopK to a sigmoid threshold" explains why.

# %%
KEEP = 0.5
generator = torch.Generator().manual_seed(0)
masked = {}
for name in PRESETS:
    model = add_masks(copy.deepcopy(base), preset(name, method="topk"))
    with torch.no_grad():
        for _, scores in score_parameters(model):
            scores.copy_(torch.randn(scores.shape, generator=generator))
    set_threshold(model, KEEP)
    masked[name] = model
print(f"{len(masked)} masked copies, each keeping {KEEP:.0%} of every score tensor")

# %% [markdown]
# The heatmaps show the top-left corner (up to 128 × 128) of every matrix of layer 0, **transposed where needed
# so that each column is one output unit**: a head is a stripe of `HEAD_DIM` columns in all four attention
# panels (red lines mark the head boundaries), an FFN neuron is a single column in both FFN panels. Black means
# kept.

# %%
CORNER = 128  # rows and columns shown per matrix; the full matrices are too large to draw cell by cell


def unit_columns(name: str, mask: torch.Tensor) -> torch.Tensor:
    """Lay a (out, in) mask out with one column per head dimension or neuron."""
    return mask if name in ("attn_out", "ffn_out") else mask.T


fig, axes = plt.subplots(len(masked), len(LINEAR_NAMES), figsize=(15, 2.6 * len(masked)))
for row, (preset_name, model) in enumerate(masked.items()):
    layer = encoder_layers(model)[0]
    for col, name in enumerate(LINEAR_NAMES):
        module = getattr(layer, name)
        mask = module.mask() if hasattr(module, "mask") else None
        mask = torch.ones_like(module.weight) if mask is None else mask
        corner = unit_columns(name, mask.detach())[:CORNER, :CORNER]
        ax = axes[row, col]
        sns.heatmap(corner.numpy(), ax=ax, cbar=False, cmap="Greys", vmin=0, vmax=1, rasterized=True,
                    xticklabels=False, yticklabels=False)
        if name in ("query", "key", "value", "attn_out"):
            for boundary in range(HEAD_DIM, corner.shape[1], HEAD_DIM):
                ax.axvline(boundary, color="tab:red", lw=0.8)
        if row == 0:
            ax.set_title(name + ("" if name in ("attn_out", "ffn_out") else " (transposed)"), fontsize=10)
        if col == 0:
            ax.set_ylabel(preset_name, fontsize=11)
fig.suptitle(f"layer 0 masks, random scores, keep {KEEP:.0%} (top-left corner; columns = output units)")
fig.tight_layout()
save_figure(fig, "02_masks_by_preset")
plt.show()

# %% [markdown]
# Things to notice:
#
# - `unstructured`: salt and pepper. Every head and every neuron keeps about half of its weights.
# - `block`: 32 × 32 squares, chosen independently in each matrix. A head dies only if *all* the blocks on its
#   V rows (or on its attention-output columns) die.
# - `struct`: whole stripes, identical in Q, K, V and the attention output (one score per head), and whole
#   columns shared by FFN-in and FFN-out (one score per neuron).
# - `hybrid`: blocks in attention, neurons in the FFN.

# %% [markdown]
# ## What a masked model keeps: `kept_report`
#
# `kept_report` reads the current masks (or, for a plain model, its zeros) and returns two tables. Per matrix:

# %%
reports = {name: kept_report(model) for name, model in masked.items()}
reports["hybrid"].matrices

# %% [markdown]
# Per layer, the heads and FFN neurons that are still alive. A head is alive while its V rows and its
# attention-output columns are not all zero; a neuron while its FFN-in row and FFN-out column are not all zero.
# These are the rules packing uses to decide what to cut.

# %%
reports["struct"].layers

# %%
for name, report in reports.items():
    print(f"{name:>12}: {report}")

# %% [markdown]
# ## Exercise: what a layer keeps once packed
#
# Packing (`bmp.packing.pack.pack`) cuts dead heads and neurons out and returns a smaller *dense* model. A layer with
# `heads` heads of `head_dim` and `neurons` FFN neurons at hidden size `hidden` then holds how many linear
# **weights** (leave the biases out, as `kept_report` does)?
#
# **Your turn.** The cell below is a stub that raises `NotImplementedError`: replace its body with your own code,
# then run it and the check below.
#
# (Headless runs, `python -m bmp course` and `make test`, set `BMP_SOLUTIONS=1`, which swaps in the reference
# solution from `notebooks/solutions/02_blocks_heads_neurons.py`. Look there only after trying.)


# %%
def weights_after_packing(hidden: int, head_dim: int, heads: int, neurons: int) -> int:
    raise NotImplementedError("your turn: write weights_after_packing, then rerun this cell and the check below")


if SOLUTIONS:
    weights_after_packing = solution("02_blocks_heads_neurons", "weights_after_packing")


# %% [markdown]
# The check compares your formula with the weights `kept_report` counts, layer by layer, in two structured
# models: the one above (half of each layer's heads and neurons) and one ranked *globally*
# (`method="topk_global"`), where heads and neurons of all layers compete for 30% of the places, so every layer
# keeps a different number.

# %%
struct_global = add_masks(copy.deepcopy(base), preset("struct", method="topk_global"))
with torch.no_grad():
    for _, scores in score_parameters(struct_global):
        scores.copy_(torch.randn(scores.shape, generator=generator))
set_threshold(struct_global, 0.3)

for model in (masked["struct"], struct_global):
    report = kept_report(model)
    kept_per_layer = report.matrices.groupby("layer")["kept"].sum()
    for layer, heads, neurons in zip(report.layers["layer"], report.heads, report.neurons):
        mine = weights_after_packing(HIDDEN, HEAD_DIM, heads, neurons)
        assert mine == kept_per_layer[layer], (
            f"layer {layer} with {heads} heads and {neurons} neurons keeps {kept_per_layer[layer]:,} weights, "
            f"your formula says {mine:,}")
    print(f"matches kept_report: heads {report.heads}, neurons {report.neurons}")

# %% [markdown]
# ## Which zeros make the model smaller
#
# For every preset, compare the share of linear weights that are non-zero after masking with the share that a
# packed model would still hold (your formula, applied to the heads and neurons left alive):

# %%
dense_weights = len(parts) * weights_after_packing(HIDDEN, HEAD_DIM, HEADS, FFN)
summary = pd.DataFrame([
    {"preset": name, "non-zero after masking": report.linear_density,
     "left after packing": sum(weights_after_packing(HIDDEN, HEAD_DIM, h, n)
                               for h, n in zip(report.heads, report.neurons)) / dense_weights,
     "heads alive": sum(report.heads), "neurons alive": sum(report.neurons)}
    for name, report in reports.items()]).set_index("preset")
summary.round(3)

# %%
long = summary[["non-zero after masking", "left after packing"]].reset_index().melt(
    id_vars="preset", var_name="measure", value_name="share of the dense linear weights")
fig, ax = plt.subplots(figsize=(7, 3.8))
sns.barplot(data=long, x="preset", y="share of the dense linear weights", hue="measure", ax=ax)
ax.axhline(KEEP, ls="--", c="grey", lw=1)
ax.set_ylim(0, 1.05)
ax.set_title(f"keep {KEEP:.0%} of the scores: what is zero vs what packing removes")
save_figure(fig, "02_masked_vs_packed")
plt.show()

# %% [markdown]
# Every preset zeroes half the weights, but only the zeros that line up into whole heads and whole neurons come
# out when the model is packed.
#
# - An unstructured mask essentially never empties a head or a neuron, so the packed model is as large as the
#   dense one. Its savings would need sparse kernels; the next section times them.
# - Blocks sit in between, and where depends on the model. In the embedded model a head's V rows span 12 blocks
#   that must all die, which random scores almost never do. In the tiny smoke model one 32-wide block row covers
#   two heads of 16, so heads do die by chance.
# - `struct` packs exactly what it masks.
# - `hybrid` packs its FFN neurons for certain and its attention only where whole heads died. It bets that
#   *learned* block scores, which are correlated within a head, empty whole heads far more often than random ones
#   do; "hybrid-filled" then packs those heads away and lets the zeros inside the surviving heads grow back in a
#   second fine-tune.

# %% [markdown]
# ## Do zeros make a matrix multiply faster?
#
# The claim behind everything above is that blocks only pay once they are packed away. Here it is measured on
# one FFN-in matrix of this model (`FFN` × `HIDDEN`, stored as (out, in)) applied to a batch of token vectors,
# five ways:
#
# - **dense**: the full matrix;
# - **50% zeros, dense tensor**: half the weights zeroed at random, still stored densely (what a mask does);
# - **50% zeros, CSR**: the same zeros, in PyTorch's compressed-sparse-row format, which skips them;
# - **50% zero blocks, BSR**: half the 32 × 32 blocks zeroed, in block-sparse-row format;
# - **packed**: half the neurons removed, a dense matrix half as tall (what packing leaves).
#
# Each is timed with `time.perf_counter`, one call of each per round (interleaved, see notebook 07), and the
# median of a few rounds is kept. Under `smoke` the matrices are the tiny model's, and the timings mean little.

# %%
TOKENS = 64 if profile.name == "smoke" else 1024  # rows of activations: 8 windows of 128 tokens under course
ROUNDS = 3 if profile.name == "smoke" else 10
BLOCK = 32
timer_rng = torch.Generator().manual_seed(0)
x = torch.randn(TOKENS, HIDDEN, generator=timer_rng)  # (tokens, in)
w = torch.randn(FFN, HIDDEN, generator=timer_rng)  # (out, in), like first.ffn_in.weight
zeros_50 = w * (torch.rand(w.shape, generator=timer_rng) < 0.5)
block_kept = torch.rand(FFN // BLOCK, HIDDEN // BLOCK, generator=timer_rng) < 0.5
blocks_50 = w * block_kept.repeat_interleave(BLOCK, 0).repeat_interleave(BLOCK, 1)
packed_half = w[: FFN // 2].clone()  # half the neurons gone: a smaller dense matrix
x_t = x.T.contiguous()  # sparse formats multiply from the left: (out, in) @ (in, tokens)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta"
    csr, bsr = zeros_50.to_sparse_csr(), blocks_50.to_sparse_bsr((BLOCK, BLOCK))

products = {
    "dense": (lambda: x @ w.T, x @ w.T),
    "50% zeros, dense tensor": (lambda: x @ zeros_50.T, x @ zeros_50.T),
    "50% zeros, CSR sparse": (lambda: csr @ x_t, (x @ zeros_50.T).T),
    f"50% zero {BLOCK}x{BLOCK} blocks, BSR sparse": (lambda: bsr @ x_t, (x @ blocks_50.T).T),
    "packed: half the neurons, dense": (lambda: x @ packed_half.T, x @ packed_half.T),
}
matmul_times = {name: [] for name in products}
with torch.inference_mode(), warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)
    for name, (run, expected) in products.items():
        assert torch.allclose(run(), expected, atol=1e-3), name  # the same product, whatever the format
        run()  # warm-up
    for round_ in range(ROUNDS):
        names = list(products)
        for name in names[round_ % len(names):] + names[:round_ % len(names)]:
            begin = time.perf_counter()
            products[name][0]()
            matmul_times[name].append(time.perf_counter() - begin)
matmul = pd.DataFrame({"median ms": {n: 1e3 * float(np.median(t)) for n, t in matmul_times.items()}})
matmul["vs dense"] = matmul.loc["dense", "median ms"] / matmul["median ms"]
print(f"({TOKENS} x {HIDDEN}) @ ({HIDDEN} x {FFN}), fp32, {torch.get_num_threads()} threads, median of {ROUNDS}")
matmul.round(3)

# %%
fig, ax = plt.subplots(figsize=(8, 3.2))
ax.barh(matmul.index, matmul["median ms"], color=["tab:gray", "tab:gray", "tab:red", "tab:red", "tab:green"])
ax.invert_yaxis()
ax.set_xlabel("median milliseconds per product")
ax.set_title(f"one FFN-in product ({FFN} x {HIDDEN}) on {TOKENS} tokens: which zeros save time")
save_figure(fig, "02_matmul_timing")
plt.show()
for name, row in matmul.iterrows():
    if name != "dense":
        print(f"{name}: {row['vs dense']:.2f}x the dense speed")

# %% [markdown]
# A zero stored in a dense tensor costs as much as any other number: the dense product does the same
# multiply-adds. A sparse format skips the zeros but pays for its indices and for irregular memory access; at
# densities like these, which are what pruning a BERT leaves, that usually costs more than it saves on a CPU (read
# your own table). The packed matrix is a plain dense product with fewer rows, and it is the one that gets
# faster, roughly in proportion to what was removed. That is why `bmp` prunes heads and neurons and packs them away.

# %% [markdown]
# ## When the block does not fit
#
# A block must tile every matrix it is applied to. A block of 32 × 40 cannot tile a matrix whose input size is
# not a multiple of 40; a granularity name that belongs to the other part is rejected when the config is built.
# Both errors say what to change:

# %%
raised = []
for build in (lambda: add_masks(copy.deepcopy(base), PruningConfig(attention=(32, 40))),
              lambda: PruningConfig(attention="neuron")):
    try:
        build()
    except ValueError as err:
        raised.append(err)
        print(f"ValueError: {err}\n")
assert len(raised) == 2, "both bad configurations should have been refused"

# %% [markdown]
# ## Questionnaire
#
# 1. How many weights does one score cover with 32 × 32 blocks, with one score per head, and with one score per
#    FFN neuron, in this model?
# 2. Why do a head's Q, K and V *rows* but its attention-output *columns* share one score?
# 3. A layer keeps 3 of 12 heads (of 32 dims) and 400 of 1,536 neurons at hidden size 384. How many linear
#    weights does it hold once packed? What fraction of the dense layer is that?
# 4. An unstructured mask keeps 10% of the weights. Why is the packed model still about as large as the dense
#    one?
# 5. Under the `block` preset, when does a head die? Why is that rarer in the embedded model than in the tiny
#    one?
# 6. `kept_report` treats a head whose Q and K rows are all zero as alive. Why is that right? (What does a head
#    with constant attention scores compute?)
# 7. What does `"hybrid"` gain over `"struct"`, and what does it give up?
#
# ## Further research
#
# - Draw the masks for `method="magnitude"` with `preset("block", method="magnitude")` on the embedded model. Do
#   the pretrained weights already favour some blocks or heads?
# - Michel, Levy and Neubig, *Are Sixteen Heads Really Better than One?* (2019), prune whole heads by an
#   importance score. How does their score relate to the movement of a head score?
# - Lagunas, Charlaix, Sanh and Rush, *Block Pruning For Faster Transformers* (2021), compare block sizes. Try
#   `(16, 16)` and `(64, 64)` here: how do the masks and the "left after packing" share change?
# - Compute the FLOPs of one layer for a sequence of 128 tokens, dense and packed, including the attention
#   score computation (which depends on the number of heads but not on the FFN). Which part dominates?
# - Read `bmp.packing.pack` and follow how a head found dead by `kept_report` is removed from Q, K, V and the attention
#   output.
