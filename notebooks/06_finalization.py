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
# # 06 · Finalization: pack, check, ship, fill
#
# The model notebook 05 saved is still a full-size BERT: its pruned weights are zeros, and a matrix multiply
# spends as long on zeros as on anything else. This notebook turns it into something worth shipping. Packing cuts
# the dead heads and FFN neurons out and builds a smaller dense model that computes *the same function*; we check
# that it does, to the last few decimals, then save it in a folder that loads with or without this package, time
# it against the teacher, and finally "fill" it: fine-tune the packed model once more, so that the zeros left
# inside the surviving heads can grow back at no cost in speed.
#
# **Learning goals**
#
# - Say which heads and neurons are dead (the exact rule packing uses) and find them by hand.
# - Write the attention output as a sum over heads and the FFN as a sum over neurons, and say why that makes
#   packing exact, and why the hidden size cannot be packed the same way.
# - Pack a pruned model, pad its FFN sizes to a multiple of 8, and check that the logits do not change.
# - Read a size report: parameters, linear parameters, fill rate, bytes on disk.
# - Save a packed model and load it back both with `bmp.packing.saving.load_packed` and with plain `transformers`
#   (`trust_remote_code=True`), with identical logits; ask it a question with `bmp.answer`.
# - Time the packed model against the dense teacher on the CPU, compare the speedup with the reduction in linear
#   parameters, and say why it is usually smaller and when it is not.
# - Fill the packed model with a short distillation fine-tune, and compare F1 before and after.
# - Say why a pruned model can score above its teacher, and what the fair reference is.

# %%
import math
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from IPython.display import display
from transformers import AutoModelForQuestionAnswering
from transformers.activations import ACT2FN

from bmp.course import course_setup, ensure_pruned, save_figure, solution, time_banner
from bmp.models import load_saved
from bmp.packing.pack import live_heads, live_neurons, pack, structure
from bmp.packing.saving import load_packed, save_packed
from bmp.packing.size import size_report
from bmp.profiles import REPO_ROOT
from bmp.pruning.anatomy import encoder_layers
from bmp.pruning.kept import kept_report
from bmp.results import tradeoff
from bmp.results.records import RESULTS_DIR, load_records, results_dir, teacher_record
from bmp.results.teachers import reference_for
from bmp.speed.fresh import cpu_speedup
from bmp.squad import eval_collator
from bmp.squad.answer import answer
from bmp.training.evaluation import evaluate_qa
from bmp.training.finalize import finalize_run

# %% tags=["parameters"]
PROFILE = os.environ.get("BMP_PROFILE", "course")
PRESET = "hybrid"
LAMBDA = None  # must name notebook 05's run; None: the profile's prune_lambda, as in notebook 05
SCORE_LR = None  # only used when notebook 05's model is missing and is made here; None: the profile's
ALIGN_FFN = 8  # pad each layer's FFN to a multiple of this many neurons
DO_FILL = True
FILL_EPOCHS = None  # None: the profile's course_fill_epochs (half an epoch under course; recorded runs fill for 1)
SOLUTIONS = os.environ.get("BMP_SOLUTIONS") == "1"  # True: the exercise's stub is replaced by the reference solution

# %%
print(time_banner("06_finalization"))
setup = course_setup(PROFILE, PRESET, LAMBDA, SCORE_LR)  # quiet logs, plot theme, the same folders as notebook 05
profile, run, tokenizer, data = setup.profile, setup.run, setup.tokenizer, setup.data
LAMBDA, SCORE_LR = run.lam, run.score_lr
TEACHER, RUN_NAME, RUN_DIR, PRUNED = run.teacher, run.name, run.run_dir, run.pruned

# %% [markdown]
# The pruned model comes from notebook 05 (`runs/course-<preset>-lam<λ>-<profile>/final`). If it is missing, run
# notebook 05 with the same `PRESET` and `LAMBDA`; the cell below otherwise makes it here with the same recipe
# (and the teacher first, if that is missing too), which takes seconds under `smoke` and, under `course`, about
# as long as notebooks 04 and 05 (their measured times are printed when it happens).

# %%
ensure_pruned(setup)  # pruned here (and the teacher trained first) when notebook 05's run is missing
teacher = load_saved(TEACHER).eval()
pruned = load_saved(PRUNED).eval()  # a plain BERT whose pruned weights are zeros
print(f"pruned model {PRUNED.relative_to(REPO_ROOT)}: {kept_report(pruned)}")

# %% [markdown]
# ## Which heads and neurons are dead
#
# Zeros only pay off when they empty a whole unit:
#
# - **A head** contributes nothing when its value rows (weights *and* biases) are all zero, because its context
#   vectors are then zero; or when its columns of the attention output are all zero, because its context is then
#   thrown away. Zero query or key rows do *not* kill a head: its attention becomes uniform, and it still adds
#   the mean of its values.
# - **An FFN neuron** contributes nothing when its FFN-out column is zero, or when its FFN-in row and bias are
#   zero (GELU maps 0 to 0).
#
# ## Exercise: find the live heads
#
# Write `my_live_heads(value_weight, value_bias, out_weight, num_heads)`: a bool tensor with one entry per head,
# True when the head can change the layer's output. `value_weight` is (heads · head_dim, hidden), `value_bias`
# (heads · head_dim,), and `out_weight` (hidden, heads · head_dim), as PyTorch stores them.
#
# **Your turn.** The cell below is a stub that raises `NotImplementedError`: replace its body with your own code,
# then run it and the check below.
#
# (Headless runs, `python -m bmp course` and `make test`, set `BMP_SOLUTIONS=1`, which swaps in the reference
# solution from `notebooks/solutions/06_finalization.py`. Look there only after trying.)


# %%
def my_live_heads(value_weight: torch.Tensor, value_bias: torch.Tensor, out_weight: torch.Tensor,
                  num_heads: int) -> torch.Tensor:
    raise NotImplementedError("your turn: write my_live_heads, then rerun this cell and the check below")


if SOLUTIONS:
    my_live_heads = solution("06_finalization", "my_live_heads")


# %% [markdown]
# The check compares it with `bmp.packing.pack.live_heads` on every layer of the pruned model, and on a copy of the
# teacher's first layer doctored into the tricky cases: head 0 loses its value weights but keeps their bias,
# head 1 loses its query and key rows, head 2 loses its value weights *and* bias, and the last head loses its
# attention-output columns.

# %%
def check_layer(parts) -> torch.Tensor:
    expected = live_heads(parts)
    got = my_live_heads(parts.value.weight.detach(), parts.value.bias.detach(), parts.attn_out.weight.detach(),
                        parts.num_heads)
    assert torch.equal(got.bool(), expected), f"layer {parts.index}: yours {got.tolist()}, bmp {expected.tolist()}"
    return expected


for parts in encoder_layers(pruned):
    check_layer(parts)

doctored = load_saved(TEACHER).eval()
parts = encoder_layers(doctored)[0]
d, last = parts.head_dim, parts.num_heads - 1
with torch.no_grad():
    parts.value.weight[0:d] = 0  # head 0: value weights gone, bias kept -> alive (it adds a constant)
    parts.query.weight[d:2 * d] = 0  # head 1: no query and key -> uniform attention, still alive
    parts.key.weight[d:2 * d] = 0
    parts.query.bias[d:2 * d] = 0
    parts.key.bias[d:2 * d] = 0
    parts.value.weight[2 * d:3 * d] = 0  # head 2: value weights and bias gone -> dead
    parts.value.bias[2 * d:3 * d] = 0
    parts.attn_out.weight[:, last * d:] = 0  # last head: output columns gone -> dead
alive = check_layer(parts)
assert alive[:2].all() and not alive[2] and not alive[last]
print(f"my_live_heads matches bmp.packing.pack.live_heads on {len(encoder_layers(pruned))} pruned layers and on the "
      f"doctored one: {alive.int().tolist()}")
del doctored

# %% [markdown]
# ## Why removing a dead head or neuron is exact
#
# Packing is not an approximation, and the reason is that both halves of a layer are **sums over independent
# units**.
#
# **Attention.** Each head h computes its own context C_h = softmax(Q_h K_hᵀ / √d) V_h from its own rows of Q, K
# and V, (tokens × head_dim). The heads are concatenated and multiplied by the attention-output matrix W_O. Split
# W_O's input columns by head, and the product falls apart into one term per head:
#
# concat(C_1, …, C_H) W_Oᵀ + b_O = Σ_h C_h W_O[:, cols of h]ᵀ + b_O.
#
# A dead head's term is exactly zero: its V rows and bias are zero, so C_h = 0, or its columns of W_O are zero.
# Leaving it out of the sum changes nothing, and nothing else reads its Q, K or V rows.
#
# **FFN.** Writing w1_j for the j-th row of FFN-in and W2[:, j] for the j-th column of FFN-out,
#
# W2 gelu(W1 x + b1) + b2 = Σ_j W2[:, j] · gelu(w1_j · x + b1_j) + b2,
#
# one term per neuron. A neuron whose FFN-out column is zero, or whose FFN-in row and bias are zero (gelu(0) = 0),
# adds exactly zero.
#
# **Why the hidden size cannot shrink the same way.** Heads and neurons live *inside* a sub-layer, between a
# projection in and a projection out, where nothing else sees them. The hidden dimension is the opposite: every
# sub-layer writes into the residual stream, x ← LayerNorm(x + sublayer(x)), so the embeddings, every layer's
# input and output and the QA head all share it. A hidden component could only go everywhere at once, and
# LayerNorm takes its mean and variance over all the components: remove one, even one that is zero, and every
# other component is normalised differently. So packing keeps the hidden size and shrinks only what is inside.
#
# The check below takes layer 0 of the pruned model on a few held-out windows, captures what its attention-output
# and FFN-out projections really compute in a forward pass, and rebuilds both as sums over heads and over
# neurons: over all of them, and over the live ones only.

# %%
check_batch = eval_collator(tokenizer)([data.eval_features[i] for i in range(min(4, len(data.eval_features)))])
layer0 = encoder_layers(pruned)[0]
seen = {}
hooks = [layer0.attn_out.register_forward_hook(lambda m, args, out: seen.update(attn_out=out)),
         layer0.ffn_in.register_forward_hook(lambda m, args, out: seen.update(ffn_x=args[0])),
         layer0.ffn_out.register_forward_hook(lambda m, args, out: seen.update(ffn_out=out))]
with torch.no_grad():  # not inference mode: the captured tensors are used again below
    hidden = pruned(**check_batch, output_hidden_states=True).hidden_states[0]  # the input of layer 0
    for hook in hooks:
        hook.remove()
    d, H = layer0.head_dim, layer0.num_heads
    B, T, _ = hidden.shape

    def by_head(linear):  # (B, T, H * d) -> (B, H, T, d)
        return linear(hidden).view(B, T, H, d).transpose(1, 2)

    q, k, v = by_head(layer0.query), by_head(layer0.key), by_head(layer0.value)
    padding = (1 - check_batch["attention_mask"][:, None, None, :].float()) * torch.finfo(torch.float32).min
    context = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d) + padding, dim=-1) @ v  # (B, H, T, d)
    w_o, b_o = layer0.attn_out.weight, layer0.attn_out.bias
    head_terms = torch.stack([context[:, h] @ w_o[:, h * d:(h + 1) * d].T for h in range(H)])  # (H, B, T, hidden)
    heads_alive = live_heads(layer0)

    act = ACT2FN[pruned.config.hidden_act](layer0.ffn_in(seen["ffn_x"]))  # (B, T, FFN): one column per neuron
    w2, b2 = layer0.ffn_out.weight, layer0.ffn_out.bias
    neurons_alive = live_neurons(layer0, pruned.config.hidden_act)

    real = check_batch["attention_mask"].bool()
    checks = {
        "attention: sum over all heads": (head_terms.sum(0) + b_o, seen["attn_out"]),
        f"attention: sum over the {int(heads_alive.sum())} live heads of {H}": (
            head_terms[heads_alive].sum(0) + b_o, seen["attn_out"]),
        "FFN: sum over all neurons": (act @ w2.T + b2, seen["ffn_out"]),
        f"FFN: sum over the {int(neurons_alive.sum())} live neurons of {act.shape[-1]}": (
            act[..., neurons_alive] @ w2[:, neurons_alive].T + b2, seen["ffn_out"]),
    }
for name, (rebuilt, actual) in checks.items():
    error = (rebuilt - actual)[real].abs().max().item()
    print(f"{name:>45}: max |difference| from the layer's own output {error:.1e}")
    assert error <= 1e-4 * max(1.0, actual.abs().max().item()), name
dead_terms = head_terms[~heads_alive]
print("the dead heads' terms: " + ("no head of layer 0 is dead" if not len(dead_terms) else
                                   f"largest |value| {dead_terms.abs().max().item():g}"))
assert not len(dead_terms) or dead_terms.abs().max().item() == 0.0

# %% [markdown]
# ## Packing
#
# `bmp.packing.pack.structure` says what packing will keep, and `pack` builds a new, smaller
# `PackedBertForQuestionAnswering` (the pruned model is left untouched). Every layer gets its own number of heads
# and FFN neurons. Each FFN is padded with zero neurons up to a multiple of `ALIGN_FFN`: a zero neuron adds exactly
# nothing (it is one more zero term in the sum over neurons above), and matrix sizes that are multiples of 8 suit
# vector units and tensor cores better than odd ones (notebook 07 explains why; the effect is a GPU matter, and
# notebook 07 shows the command that measures it on one).

# %%
kept = structure(pruned, align_ffn=ALIGN_FFN)
dense_heads, dense_neurons = teacher.config.num_attention_heads, teacher.config.intermediate_size
layer_table = pd.DataFrame({
    "heads alive": kept.live_heads_per_layer, "heads packed": kept.heads_per_layer,
    "neurons alive": kept.live_neurons_per_layer, f"FFN packed (x{ALIGN_FFN})": kept.intermediate_per_layer,
}, index=pd.Index(range(len(kept.heads_per_layer)), name="layer"))
packed = pack(pruned, align_ffn=ALIGN_FFN)
assert list(packed.config.heads_per_layer) == list(kept.heads_per_layer)
assert list(packed.config.intermediate_per_layer) == list(kept.intermediate_per_layer)
print(f"dense: {dense_heads} heads and {dense_neurons} FFN neurons in every layer")
layer_table

# %% [markdown]
# ## The equivalence check
#
# Packing must not change a single prediction. The pruned model (zeros included) and the packed model see the same
# batch of held-out windows, in fp32; their logits may differ only by float rounding, because the packed model
# adds up fewer (all the non-zero) terms in a different order.

# %%
windows = [data.eval_features[i] for i in range(min(16, len(data.eval_features)))]
batch = eval_collator(tokenizer)(windows)
with torch.inference_mode():
    out_pruned, out_packed, out_teacher = pruned(**batch), packed(**batch), teacher(**batch)
real = batch["attention_mask"].bool()


def max_diff(a, b) -> float:
    """Largest |difference| of start and end logits over the real tokens."""
    return max((a.start_logits - b.start_logits)[real].abs().max().item(),
               (a.end_logits - b.end_logits)[real].abs().max().item())


packing_error = max_diff(out_pruned, out_packed)
print(f"max |pruned - packed| over {int(real.sum()):,} token logits: {packing_error:.2e}")
print(f"for scale, max |teacher - pruned|: {max_diff(out_teacher, out_pruned):.2f} (what pruning itself changed)")
assert packing_error <= 1e-4, f"packing changed the logits by {packing_error}"

# %% [markdown]
# ## How big is it now?
#
# `size_report` counts parameters from the tensors. On the pruned model the zeros still count (same shapes as
# the teacher); on the packed model only what is left. The **fill rate** is the encoder's linear parameters over
# the dense model's. It is what the *linear* layers' matrix multiplies (Q, K, V, attention output, FFN in and
# out) shrink by, and only those: the attention products Q Kᵀ and attention · V cost the same for every head
# that survives, however much the FFN shrank (they scale with the heads kept and with the square of the sequence
# length), and the embeddings, the layer norms and the QA head do not shrink at all.

# %%
sizes = {"pruned (zeros)": size_report(pruned), "packed": size_report(packed)}
pd.DataFrame({name: {"parameters (M)": r.total_params / 1e6, "linear parameters (M)": r.linear_params / 1e6,
                     "fill rate": r.fill_rate, "linear reduction": r.linear_reduction,
                     "heads per layer": list(r.heads_per_layer), "FFN per layer": list(r.neurons_per_layer)}
              for name, r in sizes.items()}).T

# %%
layers = np.arange(len(kept.heads_per_layer))
fig, (heads_ax, ffn_ax) = plt.subplots(1, 2, figsize=(12, 3.6))
heads_ax.bar(layers, [dense_heads] * len(layers), color="lightgray", label="dense")
heads_ax.bar(layers, kept.heads_per_layer, label="packed")
heads_ax.set_ylabel("attention heads")
heads_ax.set_title("heads per layer")
ffn_ax.bar(layers, [dense_neurons] * len(layers), color="lightgray", label="dense")
ffn_ax.bar(layers, kept.intermediate_per_layer, color="tab:orange", label=f"packed (padded to x{ALIGN_FFN})")
ffn_ax.bar(layers, kept.live_neurons_per_layer, color="tab:blue", label="alive")
ffn_ax.set_ylabel("FFN neurons")
ffn_ax.set_title("FFN size per layer")
for ax in (heads_ax, ffn_ax):
    ax.set_xlabel("layer")
    ax.set_xticks(layers)
    ax.legend(fontsize=8)
fig.suptitle(f"{RUN_NAME} packed: fill rate {sizes['packed'].fill_rate:.1%}")
fig.tight_layout()
save_figure(fig, "06_packed_sizes")
plt.show()

# %% [markdown]
# ## Saving and loading
#
# `save_packed` writes the weights, a config with the per-layer sizes, the tokenizer, and a copy of the model's
# code (`modeling_packed_bert.py`). So the folder loads two ways: with `bmp.packing.saving.load_packed` (bmp's classes,
# checking every shape first), and with plain `transformers`, which runs the copied code when asked to trust it.
# Both must give the logits we just checked.

# %%
PACKED_DIR = RUN_DIR / "packed"
save_packed(packed, PACKED_DIR, tokenizer)
with_bmp = load_packed(PACKED_DIR)
with_transformers = AutoModelForQuestionAnswering.from_pretrained(PACKED_DIR, trust_remote_code=True).eval()
with torch.inference_mode():
    out_bmp, out_transformers = with_bmp(**batch), with_transformers(**batch)
print(f"transformers loaded a {type(with_transformers).__name__} from {type(with_transformers).__module__}")
for name, out in (("load_packed", out_bmp), ("from_pretrained(trust_remote_code=True)", out_transformers)):
    error = max_diff(out_packed, out)
    print(f"{name:>40}: max |difference| {error:.1e}")
    assert error <= 1e-6, name
on_disk = size_report(with_bmp, folder=PACKED_DIR)
teacher_bytes = sum(p.stat().st_size for p in TEACHER.glob("*.safetensors"))
print(f"weights on disk: {on_disk.weights_bytes / 2**20:.1f} MiB packed, {teacher_bytes / 2**20:.1f} MiB for the "
      f"teacher (the pruned model with its zeros is as large as the teacher)")

# %% [markdown]
# ## Asking it a question
#
# transformers 5 removed the `question-answering` pipeline, so `bmp.squad.answer.answer` does the same steps in a
# few lines: windows with offsets, one forward pass, the best span mapped back to the context.

# %%
question = data.splits.eval[0]
print(f"question: {question['question']}\ngold answers: {question['answers']['text']}")
for name, model in (("teacher", teacher), ("pruned", pruned), ("packed", packed)):
    reply = answer(question["question"], question["context"], model, tokenizer,
                   max_length=profile.max_seq_length, doc_stride=profile.doc_stride)
    print(f"{name:>8}: {reply.answer!r} (score {reply.score:.1f}, characters {reply.start}-{reply.end})")

# %% [markdown]
# ## Is it faster?
#
# `cpu_speedup` times the dense teacher and the packed model on the same synthetic batch (by default 8 windows of
# 384 tokens, fp32; smaller under `smoke`), one pass of each in turn after a warm-up, and compares the medians;
# notebook 07 takes the method apart. Here the timing runs in this kernel, which has just trained; the records
# that `finalize_run` writes time the saved folders in a fresh Python process instead
# (`bmp.speed.fresh.fresh_speedup`), since a process that has trained runs the same passes measurably slower.

# %%
timing_sizes = dict(batch=2, seq=128, repeats=3) if profile.name == "smoke" else dict(batch=8, seq=384, repeats=5)
speed = cpu_speedup(packed, teacher, **timing_sizes)
timing = speed["cpu_timing"]
print(f"packed: {speed['cpu_speedup']:.2f}x faster than the teacher "
      f"({speed['cpu_dense_median_s'] * 1e3:.0f} ms -> {speed['cpu_packed_median_s'] * 1e3:.0f} ms per pass; "
      f"batch {timing['batch']} x {timing['seq']}, {timing['threads']} threads, median of {timing['repeats']})")
print(f"linear parameters: {sizes['packed'].linear_reduction:.2f}x fewer")

# %% [markdown]
# The speedup usually falls short of the reduction in linear parameters because not all the work is in the linear
# layers: the embeddings, the layer norms, the softmax and, above all, the attention products (Q · Kᵀ and
# attention · V) cost the same for every head that survives. Under `hybrid` the FFN loses neurons one by one,
# while a head only goes once all its value rows or output columns are gone, so the attention products need not
# shrink as fast as the linear parameters. The rule is not a law, though: when heads go faster than the linear
# parameters, the attention products shrink faster too, and the speedup can exceed the linear reduction. The
# recorded packed runs, all timed in one run, show both cases. On a tiny model the fixed overheads of each call
# dominate and the ratio means little.

# %%
tracked = load_records(RESULTS_DIR)
tracked_split = tradeoff.pick_split(tracked)
packed_runs = [r for r in tradeoff.runs(tracked, kinds=("packed",), split=tracked_split,
                                        speed=tradeoff.compared_speed(tracked, tracked_split))
               if r.speedup is not None and r.fill_rate and not r.scattered]
if packed_runs:
    versus = pd.DataFrame([{"run": r.name, "speedup": r.speedup, "linear reduction": 1 / r.fill_rate,
                            "speedup / reduction": r.speedup * r.fill_rate} for r in packed_runs])
    display(versus.sort_values("speedup / reduction").round(2))
    above = versus[versus["speedup / reduction"] > 1]
    print(f"{len(above)} of {len(versus)} recorded packed runs are faster than their linear reduction"
          + (f" ({', '.join(above['run'])})" if len(above) else "")
          + f"; speeds: {packed_runs[0].speed_hardware}")
else:
    print("no packed runs recorded in data/results yet")

# %% [markdown]
# How many heads survive depends on λ; the recorded `hybrid` runs say how many each kept, against the share of FFN
# neurons kept.

# %%
hybrid_rows = []
dense_sizes = {}  # base model -> (heads, FFN neurons) per dense layer, as the packed records state them
for r in load_records(RESULTS_DIR, kind="packed"):
    if r["metrics"].get("dense_heads"):
        dense_sizes[r["provenance"]["base_model"]] = (r["metrics"]["dense_heads"], r["metrics"]["dense_neurons"])
for record in load_records(RESULTS_DIR, kind="pruned"):
    m, recipe_config = record["metrics"], record.get("config", {}).get("recipe", {})
    pruning_config = recipe_config.get("pruning", {})
    sizes = dense_sizes.get(record["provenance"]["base_model"])
    if pruning_config.get("ffn") != "neuron" or pruning_config.get("attention") in ("head", None) or not sizes:
        continue  # hybrid: blocks in attention, neurons in the FFN
    layers_n = len(m["heads_per_layer"])
    hybrid_rows.append({"run": record["name"], "λ": recipe_config.get("regularization", {}).get("attention"),
                        "heads kept": sum(m["heads_per_layer"]) / (sizes[0] * layers_n),
                        "FFN neurons kept": sum(m["neurons_per_layer"]) / (sizes[1] * layers_n),
                        "heads per layer": m["heads_per_layer"]})
if hybrid_rows:
    kept_table = pd.DataFrame(hybrid_rows).sort_values("heads kept", ascending=False)
    display(kept_table.round(3))
    print(f"{int((kept_table['heads kept'] > 0.5).sum())} of {len(kept_table)} recorded hybrid runs kept more than "
          f"half their heads; {int((kept_table['heads kept'] > kept_table['FFN neurons kept']).sum())} kept a "
          "larger share of their heads than of their FFN neurons")
else:
    print("no hybrid pruning runs recorded in data/results yet")

# %% [markdown]
# ## Filling
#
# Inside the heads that survived, block pruning left zero blocks; packing kept them, since only whole heads can
# go. *Filling* fine-tunes the packed model once more, with distillation from the teacher and no masks, so
# those weights are free to grow back. The shapes do not change, so neither does the speed: whatever F1 filling
# recovers is free.
#
# `finalize_run` is the library's one call for this whole notebook: it packs the pruned model, saves it, evaluates
# and times it and records it (kind `packed`), then fills a second packed copy for the profile's epochs, and
# saves, evaluates, times and records that too (kind `filled`). Notebook 07 reads those records. As with
# training runs, a finished fill in `<run>/fill` is resumed rather than repeated.

# %%
fill_epochs = FILL_EPOCHS or profile.course_fill_epochs
print(time_banner("06_finalization", what=f"filling for {fill_epochs:g} epoch(s) is the slow cell"))
results = finalize_run(PRUNED, TEACHER, profile, output_dir=RUN_DIR, data=data, do_fill=DO_FILL,
                       align_ffn=ALIGN_FFN, name=RUN_NAME, base_model=profile.model, epochs=fill_epochs)
stages = dict(zip(["packed", "filled"], results))  # the filled one only with DO_FILL
for stage, result in stages.items():
    print(f"{stage}: saved to {result.output_dir.relative_to(REPO_ROOT)}, recorded in "
          f"{Path(result.record_path).name}")

# %% [markdown]
# Where the F1 went at each stage, all on the same held-out questions. The teacher's and the pruned model's
# scores come from their records when there are any. Evaluation uses bf16 autocast on CPUs that support it, so
# the pruned and packed scores can differ by a little rounding even though the logits agree in fp32.


# %%
def recorded(kind: str, match) -> dict | None:
    for record in load_records(results_dir(), kind=kind):
        if match(record) and record["metrics"].get("eval_split") == data.splits.split_name:
            return record["metrics"]
    return None


found = teacher_record(load_records(results_dir()), TEACHER, data.splits.split_name)
teacher_metrics = found["metrics"] if found else evaluate_qa(teacher, data, tokenizer)
pruned_metrics = recorded("pruned", lambda r: r["name"] == RUN_NAME) or evaluate_qa(pruned, data, tokenizer)
table = pd.DataFrame({
    "dense teacher": {"F1": teacher_metrics["f1"], "EM": teacher_metrics["exact_match"], "fill rate": 1.0,
                      "CPU speedup": 1.0},
    "pruned (zeros)": {"F1": pruned_metrics["f1"], "EM": pruned_metrics["exact_match"], "fill rate": 1.0,
                       "CPU speedup": np.nan},
    **{stage: {"F1": r.metrics["f1"], "EM": r.metrics["exact_match"], "fill rate": r.metrics["fill_rate"],
               "CPU speedup": r.metrics["cpu_speedup"]} for stage, r in stages.items()},
}).T
display(table.round(3))
print(f"split: {data.splits.description}")

# %%
fig, ax = plt.subplots(figsize=(7.5, 3.6))
colors = ["lightgray", "tab:gray", "tab:blue", "tab:green"][:len(table)]
ax.bar(table.index, table["F1"], color=colors)
for i, (name, row) in enumerate(table.iterrows()):
    label = f"F1 {row['F1']:.1f}" + ("" if np.isnan(row["CPU speedup"]) else f"\n{row['CPU speedup']:.2f}x")
    ax.annotate(label, (i, row["F1"]), ha="center", va="bottom", fontsize=8, xytext=(0, 2),
                textcoords="offset points")
ax.set_ylabel(f"F1 on the {data.splits.split_name} split")
ax.set_ylim(0, max(table["F1"].max() * 1.2, 1))
ax.set_title(f"{RUN_NAME}: F1 at each stage, and the CPU speedup over the teacher")
save_figure(fig, "06_f1_by_stage")
plt.show()

# %% [markdown]
# Filling changes values, not shapes: the fill rate and the speed stay, while the zeros inside the surviving
# heads are gone.

# %%
if "filled" in stages:
    filled = stages["filled"].model
    before, after = kept_report(stages["packed"].model), kept_report(filled)
    print(f"non-zero share of the packed model's linear weights: {before.linear_density:.3f} before filling, "
          f"{after.linear_density:.3f} after")
    assert size_report(filled).linear_params == size_report(stages["packed"].model).linear_params
    reply = answer(question["question"], question["context"], filled, tokenizer,
                   max_length=profile.max_seq_length, doc_stride=profile.doc_stride)
    print(f"filled model: {question['question']} -> {reply.answer!r}")

# %% [markdown]
# ## Above its teacher?
#
# A pruned and filled model sometimes scores *above* its dense teacher, and some of the recorded runs do (the
# table below). Pruning did not make the model better. The student trains on after its teacher's own training
# (a recorded run for `prune_epochs + epochs` epochs; this notebook's run for `prune_epochs` plus the shorter
# fill above), distilling from the teacher all the while, and that extra training alone is worth F1.
#
# The **dense control** measures how much: it is the teacher trained as long again with the same distillation and
# nothing pruned (`python -m bmp control`, recorded with kind `control`). The recorded controls and their teachers
# are printed below; a control above its teacher is F1 that a pruned run would get from the extra training alone,
# even when the teacher had converged. So the fair reference is not the teacher alone but
# **max(teacher, dense control)**, and a pruned model only gets credit for what the extra training would not have
# given it. `bmp.results.teachers.reference_for` computes that reference from the records, and the README's
# results use it for every run. For this notebook's run:

# %%
every_record = load_records(results_dir()) + load_records(RESULTS_DIR)
print(reference_for(every_record, TEACHER, data.splits.split_name).describe())
recorded_records = load_records(RESULTS_DIR)
recorded_split = tradeoff.pick_split(recorded_records)
for control in load_records(RESULTS_DIR, kind="control"):
    ref = reference_for(recorded_records, control["config"]["teacher"], recorded_split)
    if ref.teacher_f1 is not None and ref.control_f1 is not None:
        print(f"recorded control {control['name']} (seed {control['provenance'].get('seed')}): F1 "
              f"{control['metrics']['f1']:.1f}; its teacher {ref.teacher} ({ref.teacher_epochs:g} epochs) "
              f"{ref.teacher_f1:.1f}; the extra training alone is worth {ref.control_f1 - ref.teacher_f1:+.1f} F1 "
              "(mean over the control's seeds)")

# %%
above_rows = []
for recorded_run in tradeoff.runs(recorded_records, kinds=("packed", "filled"), split=recorded_split):
    ref = reference_for(recorded_records, recorded_run.teacher, recorded_split)
    teacher_f1 = ref.teacher_f1 if ref.teacher_f1 is not None else tradeoff.teacher_f1(recorded_records,
                                                                                       recorded_split)
    above_rows.append({"run": recorded_run.name, "F1": recorded_run.f1, "teacher F1": teacher_f1,
                       "control F1": ref.control_f1, "epochs after the teacher": recorded_run.train_epochs,
                       "above the teacher": teacher_f1 is not None and recorded_run.f1 > teacher_f1})
if above_rows:
    above_table = pd.DataFrame(above_rows).sort_values("F1", ascending=False)
    display(above_table.round(1))
    beat = above_table[above_table["above the teacher"]]
    with_control = int(beat["control F1"].notna().sum())
    print(f"{len(beat)} of {len(above_table)} recorded packed or filled runs score above their teacher; "
          f"{with_control} of those have a control recorded to be read against instead")
else:
    print("no packed or filled runs recorded in data/results yet")

# %% [markdown]
# ## Questionnaire
#
# 1. Why does a head with all-zero query and key rows still change the layer's output?
# 2. Why must the value *bias* be zero, as well as the value weights, for a head to be dead?
# 3. Padding an FFN of 461 neurons to 464 adds three neurons. Why does it not change the function, and why can it
#    make the model faster?
# 4. The packed logits differ from the pruned ones by about 1e-6. Where does such a difference come from?
# 5. What does `trust_remote_code=True` let `from_pretrained` do, and why is it needed for this folder?
# 6. A packed model has a fill rate of 40% but runs only 1.6x faster. Name three costs that did not shrink.
# 7. Why does filling not change the model's speed, and why can it raise its F1, sometimes above the teacher's?
#    What is the fair reference then?
# 8. Why can packing remove a dead head exactly, but not one component of the hidden size, even one whose
#    weights are all zero?
#
# ## Further research
#
# - Lagunas et al., *Block Pruning For Faster Transformers* (2021), section 5: compare "hybrid" and "hybrid-filled".
#   How much F1 did filling recover there?
# - Rerun `pack` with `align_ffn=1`, 8 and 64 and time each with `cpu_speedup`. Does alignment matter on this CPU?
#   (`python -m bmp.bench align` measures it more carefully.)
# - Compare the packed model's speed with `bmp.speed.timing.dense_like(packed)`, a freshly initialised model of the same
#   shapes: is a packed model exactly as fast as one built small from the start?
# - Read `bmp/packing/packed_bert.py`: how does a layer with no heads left avoid the reshape that infers the head count?
# - Fill for more epochs (`finalize_run(..., epochs=3)`): does F1 keep climbing, and does it pass the pruned model's?
