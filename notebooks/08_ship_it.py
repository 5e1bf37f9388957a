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
# # 08 · Ship it: ONNX, int8 and answering questions
#
# A packed model is a plain dense model, only smaller, so everything that serves BERT serves it. On CPUs, BERT
# question answering is usually served through ONNX Runtime, with the weights quantized to 8-bit integers. This
# notebook takes the model notebook 06 finalized, exports it to ONNX, quantizes it, runs it in ONNX Runtime, and
# checks at each step that the answers and the F1 hold while the latency falls.
#
# **Learning goals**
#
# - Export a packed model to ONNX with dynamic batch and sequence axes, and check it against torch.
# - Quantize its weights to int8 (dynamic quantization), per tensor and per output channel, and say why
#   per-channel loses less.
# - Run the model in an ONNX Runtime session with the threads set and spinning off, and answer questions with it.
# - Measure latency of five forms in one interleaved run and compute the combined speedup of pruning and int8.

# %%
import copy
import os
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import torch
from IPython.display import display

from bmp.course import course_run, notebook_setup, output_dir, save_figure, solution, time_banner
from bmp.deploy import OrtQAModel, export_onnx, ort_session, quantize_int8
from bmp.models import load_profile_model, load_saved, load_tokenizer
from bmp.packing.pack import pack
from bmp.packing.size import size_report
from bmp.profiles import get_profile
from bmp.pruning.granularity import preset
from bmp.pruning.masked import add_masks, masked_modules, set_threshold
from bmp.results.intervals import paired_gap, per_question_f1
from bmp.speed.timing import time_calls
from bmp.squad.answer import answer
from bmp.training.evaluation import evaluate_qa, prepare_data

# %% tags=["parameters"]
PROFILE = os.environ.get("BMP_PROFILE", "course")
PRESET = "hybrid"
LAMBDA = None  # notebook 05's run; None: the profile's prune_lambda
EVAL_QUESTIONS = 300  # held-out questions scored for every form
REPEATS = 5  # interleaved timing rounds
SOLUTIONS = os.environ.get("BMP_SOLUTIONS") == "1"  # True: the exercise's stub is replaced by the reference solution

# %%
print(time_banner("08_ship_it"))
profile = get_profile(PROFILE)
notebook_setup(profile)
torch.set_num_threads(2)
THREADS = torch.get_num_threads()
run = course_run(profile, PRESET, LAMBDA)
FILLED = run.run_dir / "filled"
tokenizer = load_tokenizer(profile.model)
data = prepare_data(profile.with_(max_train_samples=16, max_eval_samples=EVAL_QUESTIONS), tokenizer)  # scoring only
work = output_dir() / "onnx" / run.name  # the exported files; a rerun overwrites them
work.mkdir(parents=True, exist_ok=True)
print(f"profile {profile.name}: {data}")

# %% [markdown]
# ## The models
#
# The packed and filled model of notebook 06, and its dense teacher. Without them (notebook 06 not run yet), a
# stand-in is packed from the base model with random masks: the shapes and the timings are real, the answers
# are not.

# %%
if (FILLED / "config.json").is_file() and (run.teacher / "config.json").is_file():
    packed, dense = load_saved(FILLED), load_saved(run.teacher)
    source = f"notebook 06's filled model {FILLED.name}, and its teacher"
else:
    dense = load_profile_model(profile)[0].eval()
    stand_in = add_masks(copy.deepcopy(dense), preset(PRESET, method="topk",
                                                       **({"attention": (16, 16)} if profile.name == "smoke" else {})))
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for module in masked_modules(stand_in):
            module.scores.copy_(torch.randn(module.scores.shape, generator=generator))
    set_threshold(stand_in, 0.3)
    packed = pack(stand_in, align_ffn=8).eval()
    source = "a stand-in: the base model packed at random masks (run notebook 06 for a trained one)"
print(source)
print(size_report(packed))

# %% [markdown]
# ## Export to ONNX
#
# `export_onnx` traces the model once with `torch.onnx.export` (opset 17) and marks the batch and sequence axes
# dynamic, so one file serves any batch size and any sequence length. It then runs the file in ONNX Runtime on
# random inputs of two shapes, with padding in the attention mask, and refuses it if any logit differs from
# torch's by more than 1e-4. A layer left with no heads or no FFN neurons exports too: its matrices are empty.

# %%
exported = {name: export_onnx(model, work / f"{name}.onnx") for name, model in (("packed", packed), ("dense", dense))}
for name, result in exported.items():
    print(f"{name}: opset {result.opset}, largest |logit difference| vs torch {result.max_abs_diff:.1e}, "
          f"{Path(result.path).stat().st_size / 1e6:.1f} MB")

# %% [markdown]
# ## int8 by hand
#
# Dynamic quantization stores each weight matrix as 8-bit integers plus a scale, and quantizes the activations on
# the fly. Symmetric quantization of a matrix W with scale s = max|W| / 127 stores round(W / s), clipped to
# [-127, 127], and reads back s × q. One scale for the whole matrix (per tensor) lets a single large weight
# coarsen every other one; one scale per output row (per channel) keeps each row's own range.
#
# ## Exercise: per-channel quantization
#
# Write `my_quantize(weight, per_channel)`: return the *dequantized* matrix s × q, with one scale for the whole
# `(out, in)` matrix when `per_channel` is False, and one per row (output channel) when it is True. Rows that are
# all zero must stay zero (mind the division).
#
# **Your turn.** The cell below is a stub that raises `NotImplementedError`: replace its body, then run the check.
# (Headless runs set `BMP_SOLUTIONS=1`, which swaps in `notebooks/solutions/08_ship_it.py`.)


# %%
def my_quantize(weight: torch.Tensor, per_channel: bool) -> torch.Tensor:
    raise NotImplementedError("your turn: write my_quantize, then rerun this cell and the check below")


if SOLUTIONS:
    my_quantize = solution("08_ship_it", "my_quantize")

# %%
weight = packed.bert.encoder.layer[0].intermediate.dense.weight.detach()
errors = {}
for per_channel in (False, True):
    restored = my_quantize(weight, per_channel)
    assert restored.shape == weight.shape
    scale = weight.abs().amax(dim=1, keepdim=True) if per_channel else weight.abs().max()
    assert ((restored - weight).abs() <= scale / 127 / 2 + 1e-7).all(), "an error is larger than half a step"
    errors["per channel" if per_channel else "per tensor"] = (restored - weight).abs().mean().item()
assert errors["per channel"] <= errors["per tensor"]
print("mean |error| of the first FFN matrix: " + ", ".join(f"{k} {v:.2e}" for k, v in errors.items()))

# %% [markdown]
# `quantize_int8` does this with ONNX Runtime's `quantize_dynamic`, per channel by default; here both ways, for
# the packed model:

# %%
int8 = {"per channel": quantize_int8(exported["packed"].path, work / "packed-int8.onnx", per_channel=True),
        "per tensor": quantize_int8(exported["packed"].path, work / "packed-int8-tensor.onnx", per_channel=False)}
dense_int8 = quantize_int8(exported["dense"].path, work / "dense-int8.onnx")
for name, path in int8.items():
    print(f"packed, int8 {name}: {path.stat().st_size / 1e6:.1f} MB")

# %% [markdown]
# ## Run it: sessions and answers
#
# `ort_session` sets the thread count and turns off the worker threads' *spinning*: by default they keep
# polling for work after each run, which steals the cores from whatever runs next and skews interleaved timings.
# It also leaves out one of ONNX Runtime's graph rewrites, the skip + LayerNorm fusion, which made the int8 graphs
# slower on these CPUs (`bmp.deploy.runtime.DISABLED_OPTIMIZERS` says by how much).
# `OrtQAModel` wraps a session so that it is called like a Hugging Face model, and `bmp.answer` (the
# question-answering pipeline that transformers 5 removed) then works on any of the forms.

# %%
forms = {
    "torch dense fp32": dense,
    "torch packed fp32": packed,
    "ORT packed fp32": OrtQAModel(ort_session(exported["packed"].path, threads=THREADS)),
    "ORT packed int8": OrtQAModel(ort_session(int8["per channel"], threads=THREADS)),
    "ORT dense int8": OrtQAModel(ort_session(dense_int8, threads=THREADS)),
}
questions = data.splits.eval[:3]
rows = []
for example in questions:
    row = {"question": example["question"], "gold": example["answers"]["text"][0]}
    for name, model in forms.items():
        row[name] = answer(example["question"], example["context"], model, tokenizer,
                           max_length=profile.max_seq_length, doc_stride=profile.doc_stride).answer
    rows.append(row)
display(pd.DataFrame(rows).T)

# %% [markdown]
# ## What each form costs in F1
#
# The same held-out questions for every form (the first ones of the split, so the scores are comparable with each
# other, not with the full held-out F1 of the records):

# %%
print(time_banner("08_ship_it", "scoring five forms"))
evaluated = {name: evaluate_qa(model, data, tokenizer) for name, model in forms.items()}
evaluated["ORT packed int8 (per tensor)"] = evaluate_qa(OrtQAModel(ort_session(int8["per tensor"], threads=THREADS)),
                                                       data, tokenizer)
scores = {name: result["f1"] for name, result in evaluated.items()}
display(pd.Series(scores, name=f"F1 on {len(data.splits.eval)} held-out questions").round(2).to_frame())

# %% [markdown]
# Is a cost of a few tenths of a point real, or the luck of which questions were drawn? Every form answered the same
# questions, so each question's F1 difference is resampled (a paired bootstrap, `bmp.results.intervals.paired_gap`,
# the interval every gap in the README carries). An interval that holds zero says the questions can't tell the two
# forms apart; one that lies wholly below zero is a cost.

# %%
per_question = {name: per_question_f1(result["predictions"]) for name, result in evaluated.items()}
base = "torch packed fp32"
gaps = {name: paired_gap([per_question[name]], [per_question[base]])
        for name in ("ORT packed fp32", "ORT packed int8", "ORT packed int8 (per tensor)")}
display(pd.DataFrame({name: {f"F1 minus {base}": gap.estimate, "95% CI low": gap.low, "95% CI high": gap.high}
                      for name, gap in gaps.items()}).T.round(2))

# %% [markdown]
# ## Latency, in one interleaved run
#
# Every form runs once per round, the first one rotating, with the garbage collector off (`time_calls`); the median
# of the rounds is kept. Two settings: a batch of 8 windows (throughput) and a single short question (latency).

# %%
settings = {"batch 8 x 384": (8, 384), "batch 1 x 128": (1, 128)}
if profile.name == "smoke":
    settings = {"batch 2 x 64": (2, 64), "batch 1 x 32": (1, 32)}
latency = {}
for setting, (batch, seq) in settings.items():
    ids = torch.randint(1000, 2000, (batch, seq), generator=torch.Generator().manual_seed(0))
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "token_type_ids": torch.zeros_like(ids)}
    with torch.inference_mode():
        calls = {name: (lambda m=model: m(**inputs)) for name, model in forms.items()}
        times = time_calls(calls, repeats=REPEATS, warmup=1)
    latency[setting] = {name: 1000 * sorted(t)[len(t) // 2] for name, t in times.items()}
table = pd.DataFrame(latency).round(1)
table.columns = [f"{c} (ms)" for c in table.columns]
display(table)

# %%
fig, ax = plt.subplots(figsize=(8, 3.5))
pd.DataFrame(latency).plot.barh(ax=ax)
ax.set_xlabel("median milliseconds per call (lower is better)")
ax.set_title(f"five forms of the same model, {THREADS} threads, one interleaved run")
save_figure(fig, "08_latency")
plt.show()

# %% [markdown]
# The combined speedup: torch running the dense model against ONNX Runtime running the packed int8 model, and how
# much of it each step contributes.

# %%
first = next(iter(latency))
ms = latency[first]
steps = pd.Series({
    "pruning (torch dense -> torch packed)": ms["torch dense fp32"] / ms["torch packed fp32"],
    "ONNX Runtime (torch packed -> ORT packed fp32)": ms["torch packed fp32"] / ms["ORT packed fp32"],
    "int8 (ORT packed fp32 -> ORT packed int8)": ms["ORT packed fp32"] / ms["ORT packed int8"],
    "combined (torch dense -> ORT packed int8)": ms["torch dense fp32"] / ms["ORT packed int8"],
}, name=f"speedup at {first}")
display(steps.round(2).to_frame())
print(f"F1: torch dense {scores['torch dense fp32']:.1f}, ORT packed int8 {scores['ORT packed int8']:.1f}")

# %% [markdown]
# On these CPUs, the recorded figures (`python -m bmp.bench deploy`, which times the same five forms on the
# embedded model) and the F1 cost of int8 for the recorded models are in the README.
#
# ## Questionnaire
#
# 1. Why does one exported file serve every batch size and sequence length? What would a static export force?
# 2. Dynamic quantization quantizes the weights ahead of time and the activations when? Why not the other way?
# 3. Why does per-channel quantization lose less F1 than per-tensor? What does a single outlier weight do to a
#    per-tensor scale?
# 4. Why must ONNX Runtime's spinning be off when several forms are timed in turn?
# 5. Which part of the combined speedup did pruning contribute, and would int8 alone have got there?
# 6. If your int8 interval holds zero, does that show int8 costs nothing? What would more questions change?
#
# ## Further research
#
# - ONNX Runtime's transformer optimizer fuses attention for standard BERT; why can't it fuse a packed model whose
#   layers have different head counts? (`bmp/deploy/runtime.py` says what was tried.)
# - Static quantization calibrates activation ranges on sample data. Try it and compare F1 and latency.
