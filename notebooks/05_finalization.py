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
# # 05 · Finalization: pack, check, ship, fill
#
# The model notebook 04 saved is still a full-size BERT: its pruned weights are zeros, and a matrix multiply
# spends as long on zeros as on anything else. This notebook turns it into something worth shipping. Packing cuts
# the dead heads and FFN neurons out and builds a smaller dense model that computes *the same function*; we check
# that it does, to the last few decimals, then save it in a folder that loads with or without this package, time
# it against the teacher, and finally "fill" it: fine-tune the packed model once more, so that the zeros left
# inside the surviving heads can grow back at no cost in speed.
#
# **Learning goals**
#
# - Say which heads and neurons are dead (the exact rule packing uses) and find them by hand.
# - Pack a pruned model, pad its FFN sizes to a multiple of 8, and check that the logits do not change.
# - Read a size report: parameters, linear parameters, fill rate, bytes on disk.
# - Save a packed model and load it back both with `bmp.packing.saving.load_packed` and with plain `transformers`
#   (`trust_remote_code=True`), with identical logits; ask it a question with `bmp.answer`.
# - Time the packed model against the dense teacher on the CPU, and explain why the speedup is smaller than the
#   parameter reduction.
# - Fill the packed model with a short distillation fine-tune, and compare F1 before and after.

# %%
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from IPython.display import display
from transformers import AutoModelForQuestionAnswering

from bmp.course import course_run, notebook_setup, save_figure
from bmp.models import load_saved, load_tokenizer
from bmp.packing.pack import live_heads, pack, structure
from bmp.packing.saving import load_packed, save_packed
from bmp.packing.size import size_report
from bmp.profiles import REPO_ROOT, get_profile
from bmp.pruning.anatomy import encoder_layers
from bmp.pruning.kept import kept_report
from bmp.results.records import load_records, results_dir, teacher_record
from bmp.speed.fresh import cpu_speedup
from bmp.squad import eval_collator
from bmp.squad.answer import answer
from bmp.training.finalize import finalize_run
from bmp.training.finetune import finetune_dense
from bmp.training.kit import evaluate_qa, prepare_data
from bmp.training.prune import prune_run, recipe_for

# %% tags=["parameters"]
PROFILE = os.environ.get("BMP_PROFILE", "course")
PRESET = "hybrid"
LAMBDA = None  # must name notebook 04's run; None: the profile's prune_lambda, as in notebook 04
SCORE_LR = None  # only used when notebook 04's model is missing and is made here; None: the profile's
ALIGN_FFN = 8  # pad each layer's FFN to a multiple of this many neurons
DO_FILL = True

# %%
profile = get_profile(PROFILE)
notebook_setup(profile)  # smoke records stay out of the committed data/results; quiet logs; plot theme
run = course_run(profile, PRESET, LAMBDA, SCORE_LR)  # the same folders in notebooks 04 and 05
LAMBDA, SCORE_LR = run.lam, run.score_lr
TEACHER, RUN_NAME, RUN_DIR = run.teacher, run.name, run.run_dir
TEACHER_DIR = TEACHER.parent
PRUNED = run.pruned
tokenizer = load_tokenizer(profile.model)
data = prepare_data(profile, tokenizer)
print(f"profile {profile.name}: {data}")
print(f"split: {data.splits.description}")

# %% [markdown]
# The pruned model comes from notebook 04 (`runs/nb04-<preset>-lam<λ>-<profile>/final`). If it is missing, run
# notebook 04 with the same `PRESET` and `LAMBDA`; the cell below otherwise makes it here with the same recipe
# (and the teacher first, if that is missing too), which takes seconds under `smoke` and many minutes under
# `course`.

# %%
if not (TEACHER / "config.json").is_file():
    print(f"no teacher in {TEACHER.relative_to(REPO_ROOT)} (notebook 03 makes it): training one now")
    finetune_dense(profile, output_dir=TEACHER_DIR, data=data)
if not (PRUNED / "config.json").is_file():
    print(f"no pruned model in {PRUNED.relative_to(REPO_ROOT)} (notebook 04 makes it): pruning now")
    prune_run(TEACHER, recipe_for(PRESET, LAMBDA, score_lr=SCORE_LR), profile, RUN_DIR, data=data, name=RUN_NAME,
              base_model=profile.model)
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
# A working solution is in place so that the notebook runs top to bottom. **Your turn: replace this solution
# with your own and rerun the cell and the check below.**


# %%
def my_live_heads(value_weight: torch.Tensor, value_bias: torch.Tensor, out_weight: torch.Tensor,
                  num_heads: int) -> torch.Tensor:
    # your turn: replace this solution and rerun
    head_dim = value_weight.shape[0] // num_heads
    value_used = (value_weight != 0).any(dim=1) | (value_bias != 0)  # (heads * head_dim,): rows in use
    value_alive = value_used.view(num_heads, head_dim).any(dim=1)
    out_alive = (out_weight != 0).any(dim=0).view(num_heads, head_dim).any(dim=1)
    return value_alive & out_alive


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
# ## Packing
#
# `bmp.packing.pack.structure` says what packing will keep, and `pack` builds a new, smaller `PackedBertForQuestionAnswering`
# (the pruned model is left untouched). Every layer gets its own number of heads and FFN neurons. Each FFN is
# padded with zero neurons up to a multiple of `ALIGN_FFN`: a zero neuron adds exactly nothing, and matrix sizes
# that are multiples of 8 suit vector units and tensor cores better than odd ones.

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
# the dense model's: it is what the matrix multiplies shrink by.

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
save_figure(fig, "05_packed_sizes")
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
# notebook 06 takes the method apart. Here the timing runs in this kernel, which has just trained; the records
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
# The speedup falls short of the reduction in linear parameters because not all the work is in the linear
# layers: the embeddings, the layer norms, the softmax and, above all, the attention scores (Q · Kᵀ and
# attention · V) cost the same for every head that survives, and under `hybrid` most heads survive while the
# FFN shrinks. On a tiny model the fixed overheads of each call dominate and the ratio means little.

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
# saves, evaluates, times and records that too (kind `filled`). Notebook 06 reads those records. As with
# training runs, a finished fill in `<run>/fill` is resumed rather than repeated.

# %%
print(f"filling for {profile.epochs:g} epoch(s): seconds under smoke, several minutes under course")
results = finalize_run(PRUNED, TEACHER, profile, output_dir=RUN_DIR, data=data, do_fill=DO_FILL,
                       align_ffn=ALIGN_FFN, name=RUN_NAME, base_model=profile.model)
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
save_figure(fig, "05_f1_by_stage")
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
# ## Questionnaire
#
# 1. Why does a head with all-zero query and key rows still change the layer's output?
# 2. Why must the value *bias* be zero, as well as the value weights, for a head to be dead?
# 3. Padding an FFN of 461 neurons to 464 adds three neurons. Why does it not change the function, and why can it
#    make the model faster?
# 4. The packed logits differ from the pruned ones by about 1e-6. Where does such a difference come from?
# 5. What does `trust_remote_code=True` let `from_pretrained` do, and why is it needed for this folder?
# 6. A packed model has a fill rate of 40% but runs only 1.6x faster. Name three costs that did not shrink.
# 7. Why does filling not change the model's speed, and why can it raise its F1?
#
# ## Further research
#
# - Lagunas et al., *Block Pruning For Faster Transformers* (2021), section 5: compare "hybrid" and "hybrid-filled".
#   How much F1 did filling recover there?
# - Rerun `pack` with `align_ffn=1`, 8 and 64 and time each with `cpu_speedup`. Does alignment matter on this CPU?
#   (`python -m bmp.bench align` measures it more carefully.)
# - Compare the packed model's speed with `bmp.speed.timing.dense_like(packed)`, a freshly initialised model of the same
#   shapes: is a packed model exactly as fast as one built small from the start?
# - Read `bmp/packed_bert.py`: how does a layer with no heads left avoid the reshape that infers the head count?
# - Fill for more epochs (`finalize_run(..., epochs=3)`): does F1 keep climbing, and does it pass the pruned model's?
