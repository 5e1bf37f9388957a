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
# # 07 · Speed and size: measuring the trade-off
#
# A pruned model is only worth shipping if it is faster, and "faster" is a measurement, easy to get wrong. A
# timing taken on a cold model, on a busy machine, or around a GPU call that has not finished yet can be off by
# a factor of ten, which is more than pruning gains. This notebook first takes timing apart, then uses it: it
# times the architectures of well-known compressed BERTs on this machine, draws every recorded run, and your own
# run from notebooks 05 and 06, against F1, speed and size beside the published models, measures how large the
# noise in those numbers is, and ends with a slider that picks the model to ship for a given F1 budget.
#
# **Learning goals**
#
# - Time a forward pass properly: warm-up, several repeats, the median, the thread count, models interleaved;
#   and on a GPU, CUDA events after synchronising.
# - Explain why a speedup measured here and one published elsewhere are different numbers.
# - Say what DistilBERT and TinyBERT are and how they were trained, and why dropping layers is not the same.
# - Explain why fp16 on a GPU wants matrix sizes in multiples of 8 or 64, and how padding keeps packing exact.
# - Find the Pareto front of a set of models by hand.
# - Place your own run against the recorded front, and say how large a gap must be before the noise of seeds and
#   timings stops explaining it.
# - Read the F1–speedup and F1–fill-rate figures, and say why their two panels must not be compared point
#   by point.
# - Choose a model for an F1 budget with `bmp.results.tradeoff.choose` and its widget.

# %%
import copy
import inspect
import os
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
import transformers
from IPython.display import Markdown, display

from bmp.course import save_figure, solution, time_banner
from bmp.course.widgets import keeping_teacher, tradeoff_widget
from bmp.models import load_profile_model
from bmp.profiles import REPO_ROOT, get_profile
from bmp.results import tradeoff
from bmp.results.noise import noise, noise_figure
from bmp.results.pareto import pareto_front
from bmp.results.plots import f1_vs_fill_rate, f1_vs_speedup
from bmp.results.records import RESULTS_DIR, hardware_label, load_records
from bmp.results.references import published_speedups, reference_architectures, reference_models
from bmp.results.summary import targets
from bmp.results.yours import your_runs
from bmp.speed import timing
from bmp.speed.architectures import time_references
from bmp.speed.timing import synthetic_batch, time_forward, time_interleaved

# %% tags=["parameters"]
PROFILE = os.environ.get("BMP_PROFILE", "course")
REFERENCES = None  # reference architectures to time besides BERT-base; None: a subset that suits the profile
SLIDER_VALUES = (0.5, 3.0)  # F1 points given up, for the non-interactive run of the chooser
SOLUTIONS = os.environ.get("BMP_SOLUTIONS") == "1"  # True: the exercise's stub is replaced by the reference solution

# %%
print(time_banner("07_speed_and_size"))
profile = get_profile(PROFILE)
transformers.logging.set_verbosity_error()
sns.set_theme(style="whitegrid")
pd.set_option("display.max_colwidth", 80)
model, _, model_name = load_profile_model(profile)
model.eval()
BATCH, SEQ = (4, 64) if profile.name == "smoke" else (8, 128)
input_ids, attention_mask = synthetic_batch(model.config.vocab_size, BATCH, SEQ)
print(f"profile {profile.name}: timing the {model_name!r} model on random batches of {BATCH} x {SEQ} tokens; "
      f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
      f"{'a GPU: ' + torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no GPU'}")

# %% [markdown]
# ## Timing a forward pass
#
# The simplest timing wraps one call in a clock. `time.perf_counter` is the clock to use: monotonic and of the
# highest resolution available (`time.time` can jump when the system clock is adjusted). Passes are run under
# `torch.inference_mode()`, in eval mode, as a deployed model would run. Twenty passes in a row:

# %%
PASSES = 20
pass_times = []
with torch.inference_mode():
    for _ in range(PASSES):
        begin = time.perf_counter()
        model(input_ids=input_ids, attention_mask=attention_mask)
        pass_times.append(time.perf_counter() - begin)
pass_times = np.array(pass_times)
steady = pass_times[2:]
print(f"first pass {pass_times[0] * 1e3:.1f} ms; after it: median {np.median(steady) * 1e3:.1f} ms, "
      f"mean {steady.mean() * 1e3:.1f} ms, min {steady.min() * 1e3:.1f} ms, max {steady.max() * 1e3:.1f} ms")

# %%
fig, ax = plt.subplots(figsize=(8, 3.3))
ax.plot(np.arange(1, PASSES + 1), pass_times * 1e3, marker="o")
ax.axhline(np.median(steady) * 1e3, color="grey", ls="--", label="median after warm-up")
ax.set_xlabel("pass")
ax.set_ylabel("milliseconds")
ax.set_xticks(np.arange(1, PASSES + 1, 2))
ax.set_title(f"{model_name}: {BATCH} x {SEQ} tokens, {torch.get_num_threads()} threads, one pass after another")
ax.legend()
save_figure(fig, "07_pass_times")
plt.show()

# %% [markdown]
# What the plot usually shows, and the rule each thing suggests:
#
# - **Warm-up.** The first passes pay for one-off work: memory allocation, choosing and caching kernels,
#   filling caches. Discard a few passes before timing.
# - **Noise.** The other passes scatter, more on a shared machine: another process, a frequency change, the
#   garbage collector. Repeat, and report the **median**, which one slow pass cannot drag; the mean can. The
#   spread (slowest over fastest) tells how far to trust it; `bmp.speed.timing` flags a spread over 1.3 as unstable.
#
# ## Threads
#
# PyTorch runs a CPU matrix multiply on several threads. On a quiet machine more threads are faster; on a busy one
# they wait for each other and can be much slower. Either way the thread count is part of the measurement, and
# `bmp.speed.timing` records it with every result.

# %%
threads = torch.get_num_threads()
by_threads = {}
for count in sorted({1, threads}):
    torch.set_num_threads(count)
    by_threads[count] = time_forward(model, input_ids, attention_mask, repeats=5, warmup=2)
torch.set_num_threads(threads)
for count, result in by_threads.items():
    print(f"{count} thread(s): median {result.median_s * 1e3:.1f} ms (spread {result.spread:.2f})")

# %% [markdown]
# ## Comparing two models: interleave
#
# A speedup is a ratio of two timings, and the two must be taken under the same conditions. Timing model A for a
# minute and then model B for a minute lets a slow spell of the machine land on one of them only.
# `bmp.speed.timing.time_interleaved` runs one pass of each model per round, rotating which goes first, so a slow spell
# hits both. A useful sanity check is an *A/A test*: two copies of the same model should come out at 1.00×.

# %%
twin = copy.deepcopy(model)
one_after_other = time_forward(model, input_ids, attention_mask, repeats=5).median_s / \
    time_forward(twin, input_ids, attention_mask, repeats=5).median_s
interleaved = time_interleaved({"A": model, "B": twin}, input_ids, attention_mask, repeats=5)
print(f"A/A ratio timed one after the other: {one_after_other:.3f}; interleaved: "
      f"{interleaved['A'].median_s / interleaved['B'].median_s:.3f}")
del twin

# %% [markdown]
# ## On a GPU: CUDA events
#
# A CUDA call returns as soon as its kernels are *queued*; the GPU runs them later. A clock read right after
# `model(...)` measures the queuing, not the work. The correct timing waits for the GPU (`synchronize`) before
# starting, and measures with CUDA events recorded into the same queue as the kernels, so that the clock runs
# on the GPU itself. This is what the reference implementation measured, and what `bmp.speed.timing` does on CUDA:

# %%
print(inspect.getsource(timing.time_one_call))
if torch.cuda.is_available():
    gpu_model = copy.deepcopy(model).cuda()
    gpu_ids, gpu_mask = input_ids.cuda(), attention_mask.cuda()
    with torch.inference_mode():
        for _ in range(3):
            gpu_model(input_ids=gpu_ids, attention_mask=gpu_mask)  # warm-up
        torch.cuda.synchronize()
        begin = time.perf_counter()
        gpu_model(input_ids=gpu_ids, attention_mask=gpu_mask)
        queued = time.perf_counter() - begin
    events = time_forward(gpu_model, gpu_ids, gpu_mask, repeats=10)
    print(f"perf_counter without synchronising: {queued * 1e3:.2f} ms; CUDA events: {events.median_s * 1e3:.2f} ms")
    del gpu_model
else:
    print("no GPU on this machine: the timings below use perf_counter on the CPU")

# %% [markdown]
# ## The reference models: what DistilBERT and TinyBERT are
#
# The compressed BERTs that pruning is usually set against were not pruned: they are smaller models **trained by
# distillation** from BERT.
#
# - **DistilBERT** (Sanh et al., 2019) keeps 6 of BERT-base's 12 layers at full width (hidden 768, 12 heads,
#   FFN 3072). The student is initialised from the teacher by taking every other layer, then distilled during
#   *pre-training*, on the same corpus as BERT, with three losses: a soft-target loss on the teacher's masked-word
#   distribution at a temperature, the masked-language-model loss itself, and a cosine loss that aligns the
#   student's hidden states with the teacher's. The result is a general-purpose model that is then fine-tuned on
#   SQuAD like BERT (its SQuAD score was also distilled again during fine-tuning).
# - **TinyBERT** (Jiao et al., 2020) comes in two sizes: TinyBERT-6 (6 layers of hidden 768, DistilBERT's shape)
#   and TinyBERT-4 (4 layers of hidden **312**, FFN 1200: narrow as well as shallow). Its distillation goes
#   deeper and happens twice: the student learns to match the teacher's embeddings, its attention maps, its hidden
#   states (through a learned projection where the widths differ) and its predictions, once during general
#   pre-training and again on the task, on a training set enlarged by data augmentation (words replaced by BERT's
#   and GloVe's nearest candidates).
# - **MobileBERT** (Sun et al., 2020) is 24 layers deep but thin inside (bottlenecks of 128), distilled
#   layer by layer from a specially trained teacher.
#
# Their published scores and speedups, as `data/reference_models.json` records them with their sources (F1 on the
# official SQuAD v1.1 dev set, with full training data):

# %%
published = reference_models().set_index("name")
published.loc[["BERT-base", "DistilBERT", "TinyBERT-6", "TinyBERT-4", "MobileBERT"],
              ["exact_match", "f1", "linear_params", "speedups", "architecture", "source"]]

# %% [markdown]
# The project's own "DistilBERT recipe" (`python -m bmp layer-drop`, below) copies only the first step: keep
# every other layer of the fine-tuned teacher and distil on SQuAD alone. It does no distillation during
# pre-training and keeps the teacher's width, so its students are not DistilBERT or TinyBERT; they are the
# cheapest way to get a model of the same depth from the same teacher.
#
# ## The reference architectures, timed here
#
# Published speedups were measured on other hardware, at other batch sizes, or only claimed. Speed depends on the
# shapes, not on the weight values, so `bmp.speed.architectures.time_references` rebuilds each reference
# architecture with random weights and times it against a random BERT-base in one interleaved run. On the CPU the
# default batch is small; here the profile keeps the cost to seconds (`smoke`) or well under a minute (`course`,
# on an idle machine). BERT-large is left out on the CPU: it would cost more than everything else together.

# %%
print(time_banner("07_speed_and_size", what="timing the reference architectures is the slow cell"))
on_gpu = torch.cuda.is_available()
if REFERENCES is None:
    REFERENCES = (["TinyBERT-4"] if profile.name == "smoke" else
                  ["DistilBERT", "TinyBERT-6", "TinyBERT-4", "MobileBERT"] + (["BERT-large WWM"] if on_gpu else []))
reference_sizes = dict(batch=1, seq=32, repeats=2) if profile.name == "smoke" else \
    (dict(repeats=5) if on_gpu else dict(batch=4, seq=128, repeats=5))
start = time.perf_counter()
references = time_references(reference_architectures(), names=REFERENCES, published=published_speedups(),
                             **reference_sizes)
print(f"timed {len(references)} architectures in {time.perf_counter() - start:.0f} s")
references[["name", "measured_speedup", "published_speedup", "published_hardware", "median_s", "spread",
            "params", "batch", "seq", "threads"]].round(3)

# %%
shown = references.set_index("name")[["measured_speedup", "published_speedup"]]
fig, ax = plt.subplots(figsize=(8, 3.5))
shown.rename(columns={"measured_speedup": f"measured here ({references['device'].iloc[0]}, "
                                          f"{references['batch'].iloc[0]} x {references['seq'].iloc[0]})",
                      "published_speedup": "published (see the table for where)"}).plot.bar(ax=ax, rot=0)
ax.axhline(1, color="grey", lw=1)
ax.set_ylabel("speedup over BERT-base")
ax.set_title("same architectures, different machines and batches")
save_figure(fig, "07_reference_speedups")
plt.show()

# %% [markdown]
# DistilBERT and TinyBERT-6 share one architecture (6 layers of BERT-base's width), so they time alike: speed is
# a property of the shapes, not of how the weights were trained. MobileBERT is the case to read carefully. It
# does far less arithmetic than BERT-base, but in 24 layers of thin matrix multiplies, and how much of that saving
# turns into speed depends on the hardware and the batch: a large GPU batch keeps BERT-base's big multiplies
# efficient while MobileBERT's small ones leave the device under-used, whereas a CPU, which has far less arithmetic
# to spare, turns the saving into speed more fully. So on a CPU MobileBERT can run well *above* the RTX 3090 figure
# in the reference table. That figure is not MobileBERT's own claim: it was measured on an RTX 3090 by the authors
# of the block-pruning reference (nn_pruning) for their comparison, while MobileBERT's paper reports latency on a
# phone, a different measurement altogether. The table's `speedups` column says, for every model, where its figure
# was measured, or whether it was only claimed.
#
# The project's recorded timing run timed every reference architecture together with the pruned models, on the
# machine that recorded it (named below; not necessarily the one running this notebook). The cell prints what it
# measured beside the reference table's figure:

# %%
timing_records = sorted(load_records(RESULTS_DIR, kind="timing"), key=lambda r: r["provenance"]["date"])
published_speed = published_speedups()
if timing_records:
    newest = timing_records[-1]
    m = newest["metrics"]
    where = m.get("hardware") or hardware_label(newest["provenance"]["hardware"])
    print(f"timing record {newest['name']!r}: {where}, {m.get('dtype')}, batch {m.get('batch')} x {m.get('seq')}, "
          f"{newest['provenance']['date'][:10]}")
    for name, measured in (m.get("reference_speedups") or {}).items():
        if name == "BERT-base":
            continue
        claim = published_speed.get(name, {})
        relation = ("above" if measured > claim.get("speedup", float("inf")) else "below") \
            if claim.get("speedup") is not None else "with nothing published to compare"
        print(f"  {name:>12}: {measured:.2f}x in that timing run, {relation} the reference table's "
              f"{claim.get('speedup', float('nan')):g}x ({claim.get('hardware') or 'hardware not stated'}, "
              f"{claim.get('how')})")
else:
    print("no timing record yet: python -m bmp.bench timing --device cpu --record makes one")

# %% [markdown]
# ## fp16 on a GPU: why packed sizes are padded
#
# On a GPU, fp16 (and bf16) matrix multiplies run on tensor cores, which compute on fixed tiles of the matrices:
# every dimension is consumed in chunks of at least 8 elements, and the fastest kernels tile by 64 or 128. A
# dimension that is a multiple of the tile fills every tile. An FFN of 461 neurons leaves a ragged last tile: the
# kernel computes the whole tile anyway and throws part of it away, and with a size that is not even a multiple
# of 8 the library may have to choose a slower kernel. Packing produces exactly such ragged sizes, since every
# layer keeps its own number of neurons.
#
# The fix costs no accuracy. `pack(model, align_ffn=64)` (notebook 06 used 8) pads each layer's FFN with zero
# neurons up to the next multiple, here 461 → 512; a zero neuron adds exactly nothing to the sum over neurons
# (notebook 06), so the function is unchanged. On a CPU in fp32 it matters little. On a GPU in fp16 it is expected
# to matter, but how much is a measurement, and it needs a GPU: `python -m bmp.bench align --record` (or
# `bash scripts/gpu_check.sh`, which runs it after the GPU timing run) times a BERT-base-shaped packed model with an
# unaligned FFN against the same model padded to a multiple of 64, both against dense BERT-base, in fp16, and
# records the result in `data/results` (kind `align`). The cell below runs it only under the `full` profile on a
# GPU, and otherwise shows the recorded measurement, or says that there is none yet.

# %%
if profile.name == "full" and torch.cuda.is_available():
    from bmp.speed.alignment import AlignmentProbe, measure_alignment

    aligned = measure_alignment(AlignmentProbe(batch=64, seq=384, repeats=10))
    print(f"FFN {aligned['ffn_unaligned']} -> {aligned['ffn_aligned']} neurons in each of {aligned['layers']} layers "
          f"({aligned['heads_per_layer']} heads), {aligned['dtype']}, batch {aligned['batch']} x {aligned['seq']} on "
          f"{aligned['gpu']}: the unaligned model takes {aligned['ratio']:.2f}x the aligned one's time; over dense "
          f"BERT-base {aligned['speedup_unaligned']:.2f}x unaligned, {aligned['speedup_aligned']:.2f}x aligned "
          f"(padding changed the fp32 logits by {aligned['max_abs_logit_diff_fp32']:.1e})")
else:
    print(f"skipped: the fp16 alignment measurement runs only under the full profile on a GPU (here: profile "
          f"{profile.name}, {'a GPU' if torch.cuda.is_available() else 'no GPU'}); on a GPU, run "
          "python -m bmp.bench align")
aligned_records = load_records(RESULTS_DIR, kind="align")
for r in aligned_records:
    m = r["metrics"]
    print(f"recorded {r['name']!r} ({r['provenance']['date'][:10]}, {m.get('gpu') or m.get('device')}): unaligned / "
          f"aligned time {m['ratio']:.2f}, FFN {m['ffn_unaligned']} -> {m['ffn_aligned']}, {m['dtype']}, "
          f"batch {m['batch']} x {m['seq']}")
if not aligned_records:
    print(f"no alignment measurement is recorded in {RESULTS_DIR.relative_to(REPO_ROOT)} yet: on a machine with a GPU, "
          "python -m bmp.bench align --record makes one")

# %% [markdown]
# ## Exercise: the Pareto front
#
# Among several models, the interesting ones are those that no other model beats on every axis at once: the
# **Pareto front**. With (F1, speedup), both to maximise, a model is *dominated* when another is at least as good
# on both and strictly better on one. Write `my_pareto_front(points, maximize)`: a bool array, True for the rows of
# `points` (shape (n, 2)) on the front; `maximize[j]` says whether bigger is better in column j. A row with a NaN is
# never on the front and never pushes another row off it; equal rows are all kept.
#
# **Your turn.** The cell below is a stub that raises `NotImplementedError`: replace its body with your own code,
# then run it and the check below.
#
# (Headless runs, `python -m bmp course` and `make test`, set `BMP_SOLUTIONS=1`, which swaps in the reference
# solution from `notebooks/solutions/07_speed_and_size.py`. Look there only after trying.)


# %%
def my_pareto_front(points, maximize=(True, True)) -> np.ndarray:
    raise NotImplementedError("your turn: write my_pareto_front, then rerun this cell and the check below")


if SOLUTIONS:
    my_pareto_front = solution("07_speed_and_size", "my_pareto_front")


# %%
rng = np.random.default_rng(0)
for trial in range(200):
    n = int(rng.integers(1, 12))
    points = rng.integers(0, 6, size=(n, 2)).astype(float)  # small integers: plenty of ties
    points[rng.random((n, 2)) < 0.1] = np.nan
    for maximize in [(True, True), (True, False)]:
        expected = pareto_front(points, maximize)
        got = np.asarray(my_pareto_front(points, maximize), dtype=bool)
        assert np.array_equal(got, expected), f"points {points.tolist()}, maximize {maximize}: {got} vs {expected}"
print("my_pareto_front matches bmp.results.pareto.pareto_front on 400 random sets (with ties and NaNs)")

# %% [markdown]
# ## The recorded runs, and yours
#
# Every finalized model left a record: F1 on its held-out split, speedup over its dense teacher, fill rate. The
# project's recorded runs live in the tracked `data/results` (written by the recorded sweep, `scripts/sweep.sh`).
# Their speedups come from **timing runs**, each of which timed every model in one interleaved session
# (`python -m bmp.bench timing --record`): each model's speedup is its median over the runs that time it, on the
# machine that recorded them, not the one running this notebook; the table names them. Only runs scored on the same
# split are compared.
#
# Your own runs (notebook 06, or `python -m bmp prune` then `python -m bmp finalize`) are recorded elsewhere: in
# the results folder `bmp.results.records.results_dir()` names, the git-ignored `outputs/results` unless
# `$BMP_RESULTS_DIR` says otherwise. `bmp.results.yours.your_runs` loads them beside the recorded ones. Yours keep
# the speedup timed when notebook 06 packed them, on your machine, since the timing run never saw them; the noise
# section below says how far two such timings can disagree.

# %%
tracked = load_records()
mine = your_runs(tracked)
records = mine.records  # the recorded runs, and yours scored on the same split
split = tradeoff.pick_split(tracked)
speed = tradeoff.compared_speed(records, split)
chosen_runs = tradeoff.runs(records, split=split, speed=speed)
print(f"{len(tracked)} records in {RESULTS_DIR.relative_to(REPO_ROOT)}, {mine.found} of yours in "
      f"{mine.directory}; {len(chosen_runs)} runs on split {split!r}; speeds: {speed.describe()}")
if chosen_runs:
    table = pd.DataFrame([run.to_dict() for run in chosen_runs])
    table.insert(0, "whose", table["yours"].map({True: "your run", False: "recorded"}))
    display(table[["whose", "name", "kind", "f1", "speedup", "fill_rate", "heads_per_layer", "neurons_per_layer",
                   "speed_hardware"]].sort_values(["whose", "speedup"], ascending=[False, True]).round(3))
else:
    print("no packed or filled runs recorded yet: run notebooks 04-06 (`make course`), or prune and finalize "
          "from the command line (`python -m bmp prune ...`, then `python -m bmp finalize ...`), "
          "then rerun this notebook. The figures below still show the published models.")

# %% [markdown]
# Where did your run land? Each of your runs is read against the front of the recorded runs *at its own speed*
# (`bmp.results.tradeoff.front_f1_at`, between two front models), with what the records say may explain the
# difference: its teacher against the recorded runs' teacher, and how long each trained after its teacher. The
# course's own runs start from notebook 04's short teacher, the recorded runs from one trained longer (notebook 04's
# table of teachers says how long), so a gap between them can say as much about the teacher as about pruning.

# %%
display(Markdown(mine.report()))

# %% [markdown]
# ## F1 against speed
#
# Left, our runs: F1 on the held-out split, speedups over the dense teacher from the timing runs (their machine
# is named under the axis), the front drawn through the recorded runs no other recorded run beats; your runs are
# the red stars labelled "your run". Right, the published models: F1 on the official SQuAD v1.1 dev set, speedups
# as the reference table gives them (the legend says on which hardware). The two panels differ in evaluation set,
# base model and hardware, so a point on the left must never be read against a point on the right. What can be
# compared is the *shape*: how much F1 each side gives up for each step of speed.

# %%
fig = f1_vs_speedup(records, split=split, speed=speed)
save_figure(fig, "07_f1_vs_speedup")
display(fig)

# %% [markdown]
# ## F1 against size
#
# The same with the fill rate, the share of the encoder's linear parameters that is kept (smaller to the right).
# Unstructured pruning reaches tiny fill rates but keeps the dense shapes, so it buys no speed without sparse
# kernels; it is drawn hollow.

# %%
fig = f1_vs_fill_rate(records, split=split)
save_figure(fig, "07_f1_vs_fill_rate")
display(fig)

# %% [markdown]
# ## Against the DistilBERT recipe
#
# Pruning has to beat the obvious alternative: keep every other layer of the same teacher (the first step of
# DistilBERT's recipe) and distil it on the same data for as many epochs as pruning plus filling took
# (`python -m bmp.training.layer_drop --keep 3` keeps every other layer of six). `--keep 2` keeps two evenly spaced
# layers, the first and the fourth, which is no longer every other one, and matches no published model: TinyBERT-4
# has four layers, and is narrow as well. These students are the triangles on the left panels. The
# checks below compare each pruned model with its own reference, max(teacher, control) (notebook 06 says why),
# and each student with the front of the pruned models that trained no longer than it did, read at the student's
# speed. `python -m bmp.bench pareto` prints the same as JSON.

# %%
display(Markdown(targets(tracked)))

# %% [markdown]
# ## How big is the noise?
#
# Every number above is one measurement, and most points are one seed. Before a gap between two of them means
# anything, it has to be larger than what chance alone moves them by. The records hold two measures of that:
#
# - **Seeds.** The dense control and a few pruning settings were run with more than one seed: same data, same
#   recipe, another random order and initialisation of the new parts. Their spread is what the seed alone does.
# - **Timings.** The timing run keeps each model's fastest and slowest repeat, and each run's record keeps a
#   second, independent timing made when the model was packed. Their disagreement is what timing alone does.
#
# `bmp.results.noise` reads both from the records; the paragraph and the figure below are computed from them.

# %%
spread = noise(tracked, split)
display(Markdown(spread.describe()))
fig = noise_figure(spread)
save_figure(fig, "07_noise")
display(fig)

# %% [markdown]
# Read the front and the targets with this in mind: a target missed or met by less than the seed spread is
# undecided until more seeds are run, and two models whose speedups differ by less than the timing disagreement
# run at the same speed as far as these measurements can tell. The same holds for your run against the front.

# %% [markdown]
# ## Which model to ship?
#
# Turn the question around: *how much F1 may I give up?* `bmp.results.tradeoff.choose` answers with the fastest
# model whose F1 is within that budget of its own reference (the stronger of its teacher and the dense control
# trained as long), or, given `min_speedup`, the most accurate model at least that fast. It only ever picks among
# the models on the front that are faster than the dense teacher (`tradeoff.shippable`): a model another one beats
# on both axes, or one no faster than the teacher, is never worth shipping. When no pruned model meets the budget
# it says so, and says how far the teacher itself sits below the reference, since keeping the teacher gives up
# F1 too when its control scored higher. Like every choice in this course, it is made on the validation articles
# whenever every candidate was scored there: the held-out F1 is the one reported, and a number you chose on would
# flatter the model you chose, so the chosen model may land a little further below its reference on held-out F1
# than the budget. Your runs are among the candidates. The widget puts a slider on the
# budget and shows the chosen model's heads and FFN neurons per layer. Move it in a live notebook; below, it is
# also driven from code so that the effect shows in a notebook that was executed headless.

# %%
box = tradeoff_widget(records, dense_heads=model.config.num_attention_heads,
                      dense_neurons=model.config.intermediate_size)
display(box)

# %%
teacher_f1 = tradeoff.teacher_f1(records, split)
keeping = keeping_teacher(tradeoff.teacher_reference(records, split)).strip()
if teacher_f1 is None:
    print(f"no dense teacher recorded on split {split!r}, so no F1 budget can be measured: run notebook 04 (or "
          "`python -m bmp.training.finetune`) to record one")
for budget in SLIDER_VALUES if teacher_f1 is not None else ():
    box.slider.value = budget  # what moving the slider does (values beyond its end stop at the end)
    chosen = box.chosen
    assert (chosen or {}).get("name") == (tradeoff.choose(records, max_f1_drop=box.slider.value, split=split)
                                          or {}).get("name")
    if chosen is None:
        print(f"give up {box.slider.value:g} F1: no pruned model on the front qualifies. {keeping}")
    else:
        print(f"give up {box.slider.value:g} F1: {chosen['name']} ({chosen['kind']}), F1 {chosen['f1']:.1f} "
              f"(reference {chosen['reference_f1']:.1f}; chosen on {chosen['chosen_on']} F1), "
              f"{chosen['speedup']:.2f}x faster, "
              f"fill rate {chosen['fill_rate']:.0%}, "
              f"heads {chosen['heads_per_layer']}")
if split:
    print(f"scores: {tradeoff.split_title(split)}")

# %% [markdown]
# The other way round, the most accurate model at least a given speedup faster than the teacher:

# %%
MIN_SPEEDUP = 1.5
fast = tradeoff.choose(records, min_speedup=MIN_SPEEDUP, split=split)
print(f"at least {MIN_SPEEDUP:g}x: " + ("none recorded" if fast is None else
      f"{fast['name']}: F1 {fast['f1']:.1f}, {fast['speedup']:.2f}x ({fast['speed_hardware']})"))

# %% [markdown]
# ## Questionnaire
#
# 1. Why discard the first passes, and why report the median rather than the mean?
# 2. On a machine shared with a training run, 2 threads were slower than 1. How can that be?
# 3. What does interleaving protect against that repeating does not?
# 4. Why does a clock read right after a CUDA forward pass underestimate its cost, and how do CUDA events fix it?
# 5. DistilBERT's paper reports one speedup on a CPU, and the reference table another measured on a GPU (both in
#    the table of reference models above). Which is right?
# 6. Why may our runs' F1 not be compared with the published models' F1, and what comparison between the two
#    panels *is* meaningful?
# 7. A model is on the F1–fill-rate front but not on the F1–speedup front. How can that happen?
# 8. Why must a layer-dropped student be compared with pruned models that trained no longer than it did?
#
# ## Further research
#
# - Rerun the reference timings at batch 1 × 128 and at 16 × 384 (`time_references(batch=..., seq=...)`). Which
#   speedups grow with the batch, and why?
# - On a GPU, time a packed model of your own in fp16 with `align_ffn=1`, 8 and 64, as the alignment section does
#   for a random one. Which alignment does your GPU prefer?
# - Read the TinyBERT paper's ablations (Jiao et al., 2020): which of its distillation losses matters most, and
#   what does the data augmentation add on SQuAD?
# - Read `compare_at_speed` in `bmp/results/analysis.py`: it meets each layer-dropped student with the pruned setting
#   chosen on validation F1 among those as fast, trained as long from the same teacher. Record a student
#   (`python -m bmp layer-drop`) and find its row in `python -m bmp.bench pareto`'s `f1_gap_vs_distil_recipe`.
# - Compare `torch.utils.benchmark.Timer` with `bmp.speed.timing`: what does it do about warm-up, threads and
#   statistics?
# - Sweep λ from the command line (`python -m bmp.training.sweep`) to fill in the front, and watch the slider's choices
#   change.
