"""Packing keeps the function exactly; packed models save, load and answer questions."""
from __future__ import annotations

import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch
from torch import nn

from bmp.models import load_tokenizer, tiny_bert
from bmp.packing.pack import pack, structure
from bmp.packing.packed_bert import PackedBertConfig, PackedBertForQuestionAnswering
from bmp.packing.saving import CorruptCheckpointError, load_packed, save_packed
from bmp.packing.size import linear_params_of_layer, size_report
from bmp.pruning.anatomy import encoder_layers
from bmp.speed.timing import dense_like, synthetic_batch, time_forward

TOL = 1e-4
HEAD_DIM = 16  # tiny_bert: hidden 64, 4 heads


# ---------------------------------------------------------------- helpers: zeros at every granularity

def head_rows(head: int) -> slice:
    return slice(head * HEAD_DIM, (head + 1) * HEAD_DIM)


@torch.no_grad()
def zero_head(parts, head: int, *, qkv=True, v=False, o=False) -> None:
    rows = head_rows(head)
    for linear in ((parts.query, parts.key, parts.value) if qkv else (parts.value,) if v else ()):
        linear.weight[rows] = 0
        linear.bias[rows] = 0
    if qkv or o:
        parts.attn_out.weight[:, rows] = 0


@torch.no_grad()
def zero_neurons(parts, neurons, *, via: str) -> None:
    if via == "in":
        parts.ffn_in.weight[neurons] = 0
        parts.ffn_in.bias[neurons] = 0
    else:
        parts.ffn_out.weight[:, neurons] = 0


@torch.no_grad()
def zero_scattered(parts, seed: int) -> None:
    """1×1 zeros and 16×16 blocks inside live heads and neurons: pack must keep them all."""
    generator = torch.Generator().manual_seed(seed)
    for linear in parts.linears().values():
        weight = linear.weight
        weight[torch.rand(weight.shape, generator=generator) < 0.2] = 0
        rows, cols = weight.shape
        for _ in range(3):
            r = int(torch.randint(0, max(rows - 16, 1), (1,), generator=generator))
            c = int(torch.randint(0, max(cols - 16, 1), (1,), generator=generator))
            weight[r:r + 16, c:c + 16] = 0


def random_bert(seed: int = 0, layers: int = 2) -> nn.Module:
    """tiny_bert with random biases and LayerNorms (BERT initialises them to 0 and 1, which would hide bias bugs)."""
    model = tiny_bert(seed, num_hidden_layers=layers)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith("bias") or "LayerNorm" in name:
                parameter.add_(0.1 * torch.randn_like(parameter))
    return model


def pruned_model(seed: int = 0, layers: int = 3) -> nn.Module:
    """Layer 0: mixed dead heads and neurons plus scattered zeros; layer 1: all heads dead; layer 2: all neurons
    dead; with ``layers=4``, layer 3 has both."""
    model = random_bert(seed, layers)
    parts = encoder_layers(model)
    zero_scattered(parts[0], seed)
    zero_head(parts[0], 0)  # whole head
    zero_head(parts[0], 1, qkv=False, v=True)  # only V: dead
    zero_head(parts[0], 2, qkv=False, o=True)  # only O columns: dead
    with torch.no_grad():  # head 3: zero Q and K only, still live (uniform attention over V)
        parts[0].query.weight[head_rows(3)] = 0
        parts[0].key.weight[head_rows(3)] = 0
    generator = torch.Generator().manual_seed(seed)
    neurons = torch.randperm(128, generator=generator)
    zero_neurons(parts[0], neurons[:30], via="in")
    zero_neurons(parts[0], neurons[30:50], via="out")
    for head in range(4):
        zero_head(parts[1], head, qkv=head % 2 == 0, v=head == 1, o=head == 3)
    zero_neurons(parts[2], torch.arange(128), via="in" if seed % 2 else "out")
    if layers > 3:
        for head in range(4):
            zero_head(parts[3], head)
        zero_neurons(parts[3], torch.arange(128), via="in")
    return model


def batch(seed: int = 0, size: int = 3, seq: int = 12):
    generator = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(0, 30522, (size, seq), generator=generator)
    attention_mask = torch.ones_like(input_ids)
    attention_mask[1, seq // 2:] = 0  # padding
    attention_mask[2, seq - 2:] = 0
    return {"input_ids": input_ids, "attention_mask": attention_mask}


def logits(model, inputs) -> torch.Tensor:
    with torch.no_grad():
        out = model(**inputs)
    return torch.stack([out.start_logits, out.end_logits])


def snapshot(model) -> dict:
    return {key: value.clone() for key, value in model.state_dict().items()}


# ---------------------------------------------------------------- pack

def test_structure_finds_exactly_the_dead_heads_and_neurons():
    kept = structure(pruned_model(layers=4))
    assert kept.kept_heads[0] == (3,)  # zero Q/K alone does not kill head 3
    assert kept.heads_per_layer == (1, 0, 4, 0)
    assert kept.intermediate_per_layer == (78, 128, 0, 0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pack_is_exact_and_leaves_input_untouched(seed):
    model = pruned_model(seed, layers=4)
    before = snapshot(model)
    inputs = batch(seed)
    packed = pack(model)
    assert type(model) is not PackedBertForQuestionAnswering
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert packed.config.heads_per_layer == [1, 0, 4, 0]
    assert (logits(packed, inputs) - logits(model, inputs)).abs().max() <= TOL


def test_aligned_padding_is_exact_and_sizes_are_multiples():
    model = pruned_model(layers=4)
    packed = pack(model, align_heads=2, align_ffn=8)
    assert packed.config.heads_per_layer == [2, 0, 4, 0]
    assert packed.config.intermediate_per_layer == [80, 128, 0, 0]
    for parts, heads, neurons in zip(encoder_layers(packed), [2, 0, 4, 0], [80, 128, 0, 0]):
        assert parts.num_heads == heads and parts.ffn_size == neurons
    inputs = batch(3)
    assert (logits(packed, inputs) - logits(model, inputs)).abs().max() <= TOL
    assert structure(packed).heads_per_layer == (1, 0, 4, 0)  # the padding is dead by construction


def test_zero_weights_with_live_bias_are_kept():
    """V rows zero but V bias not: the head adds a constant. W1 row zero but bias not: the neuron adds a constant."""
    model = random_bert(11, layers=1)
    parts = encoder_layers(model)[0]
    with torch.no_grad():
        parts.value.weight[head_rows(0)] = 0
        parts.ffn_in.weight[:10] = 0
    assert structure(model).heads_per_layer == (4,) and structure(model).intermediate_per_layer == (128,)
    inputs = batch(11)
    assert (logits(pack(model), inputs) - logits(model, inputs)).abs().max() <= TOL


def test_pack_of_packed_and_of_dense_model():
    model = random_bert(4)
    inputs = batch(4)
    packed = pack(model)
    assert packed.config.heads_per_layer == [4, 4] and packed.config.intermediate_per_layer == [128, 128]
    repacked = pack(pack(pruned_model(), align_ffn=8))
    assert repacked.config.intermediate_per_layer == [78, 128, 0]
    assert (logits(packed, inputs) - logits(model, inputs)).abs().max() <= TOL
    assert (logits(repacked, inputs) - logits(pruned_model(), inputs)).abs().max() <= TOL


def test_bad_alignment_is_refused():
    with pytest.raises(ValueError, match="align_ffn"):
        pack(tiny_bert(), align_ffn=0)


def test_empty_layer_is_layernorm_of_residual_plus_biases():
    model = random_bert(5, layers=1)
    parts = encoder_layers(model)[0]
    for head in range(4):
        zero_head(parts, head)
    zero_neurons(parts, torch.arange(128), via="in")
    packed = pack(model)
    assert packed.config.heads_per_layer == [0] and packed.config.intermediate_per_layer == [0]
    layer = packed.bert.encoder.layer[0]
    hidden = torch.randn(2, 5, 64)
    with torch.no_grad():
        attention = layer.attention.output.LayerNorm(hidden + layer.attention.output.dense.bias)
        expected = layer.output.LayerNorm(attention + layer.output.dense.bias)
        got = layer(hidden, attention_mask=None)
    got = got[0] if isinstance(got, tuple) else got
    assert (got - expected).abs().max() <= 1e-5
    inputs = batch(5)
    assert (logits(packed, inputs) - logits(model, inputs)).abs().max() <= TOL


def test_masked_model_packs_exactly():
    """Masks (whole-head rows, 16x16 blocks, neurons) are baked in through bmp.pruning.masked.baked_copy, then
    packed."""
    from bmp.pruning import masked
    from bmp.pruning.granularity import PruningConfig

    model = masked.add_masks(random_bert(12), PruningConfig(attention=(16, 16), ffn="neuron")).eval()
    masked.set_threshold(model, 0.1)
    generator = torch.Generator().manual_seed(12)
    with torch.no_grad():
        for _, scores in masked.score_parameters(model):
            scores.copy_(3 * torch.randn(scores.shape, generator=generator))  # about a quarter below logit(0.1)
        encoder_layers(model)[0].value.scores[0] = -5  # every block of head 0's V rows: head 0 dead
    before = snapshot(model)
    kept = structure(model, align_ffn=8)
    packed = pack(model, align_ffn=8)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert 0 not in kept.kept_heads[0] and sum(kept.live_neurons_per_layer) < 2 * 128
    assert packed.config.intermediate_per_layer == list(kept.intermediate_per_layer) == \
        [-(-n // 8) * 8 for n in kept.live_neurons_per_layer]
    inputs = batch(12)
    assert (logits(packed, inputs) - logits(model, inputs)).abs().max() <= TOL


# ---------------------------------------------------------------- config

def test_config_checks_per_layer_sizes():
    with pytest.raises(ValueError, match="num_hidden_layers"):
        PackedBertConfig(num_hidden_layers=2, heads_per_layer=[1, 2, 3])
    with pytest.raises(ValueError, match="negative"):
        PackedBertConfig(num_hidden_layers=2, intermediate_per_layer=[1, -2])
    config = PackedBertConfig(num_hidden_layers=3, num_attention_heads=12, intermediate_size=100)
    assert config.heads_per_layer == [12, 12, 12] and config.intermediate_per_layer == [100] * 3


# ---------------------------------------------------------------- save / load

@pytest.fixture
def saved(tmp_path):
    model = pruned_model(7, layers=4)
    packed = pack(model, align_ffn=8)
    folder = save_packed(packed, tmp_path / "packed", tokenizer=load_tokenizer())
    return model, packed, folder


def test_save_load_and_remote_code_give_identical_logits(saved):
    from transformers import AutoModelForQuestionAnswering

    _, packed, folder = saved
    inputs = batch(7)
    expected = logits(packed, inputs)
    assert "auto_map" not in packed.config.to_dict()  # saving left the model's config alone
    loaded = load_packed(folder)
    assert type(loaded) is PackedBertForQuestionAnswering
    assert torch.equal(logits(loaded, inputs), expected)
    # bmp registers its packed types, and transformers prefers registered classes even when remote code is trusted;
    # the folder's own copy (what people without bmp run) is loaded in a fresh process in test_architectures
    auto = AutoModelForQuestionAnswering.from_pretrained(folder, trust_remote_code=True).eval()
    assert type(auto) is PackedBertForQuestionAnswering
    assert torch.equal(logits(auto, inputs), expected)


def test_missing_folder_and_config(tmp_path, saved):
    with pytest.raises(FileNotFoundError, match="save_packed"):
        load_packed(tmp_path / "nowhere")
    _, _, folder = saved
    (folder / "config.json").unlink()
    with pytest.raises(FileNotFoundError, match="no config.json"):
        load_packed(folder)


def test_plain_bert_folder_is_refused(tmp_path):
    tiny_bert().save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="pack it"):
        load_packed(tmp_path)


def test_missing_weights(saved):
    _, _, folder = saved
    (folder / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="no weights"):
        load_packed(folder)


def test_truncated_safetensors_is_reported_corrupt(saved):
    _, _, folder = saved
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptCheckpointError, match="corrupt.*Re-save"):
        load_packed(folder)


def test_shapes_that_disagree_with_config_are_refused(saved):
    _, _, folder = saved
    path = folder / "config.json"
    config = json.loads(path.read_text())
    config["intermediate_per_layer"][0] -= 8
    path.write_text(json.dumps(config))
    with pytest.raises(CorruptCheckpointError, match="different saves"):
        load_packed(folder)


def test_save_packed_wants_a_packed_model(tmp_path):
    with pytest.raises(TypeError, match="pack it first"):
        save_packed(tiny_bert(), tmp_path)


# ---------------------------------------------------------------- question answering end to end

QUESTION, CONTEXT = "Who wrote the book?", "The book was written by Ada Lovelace in London in 1843."


def test_packed_model_answers_a_question():
    """Tokenizer with offsets -> packed model -> best span -> text: what the QA pipeline did."""
    tokenizer = load_tokenizer()
    packed = pack(pruned_model(8))
    encoded = tokenizer(QUESTION, CONTEXT, return_offsets_mapping=True, return_tensors="pt")
    offsets = encoded.pop("offset_mapping")[0]
    in_context = torch.tensor([s == 1 for s in encoded.sequence_ids(0)])
    with torch.no_grad():
        out = packed(**encoded)
    start_logits = out.start_logits[0].masked_fill(~in_context, float("-inf"))
    end_logits = out.end_logits[0].masked_fill(~in_context, float("-inf"))
    scores = start_logits[:, None] + end_logits[None, :]  # (T, T): start x end
    scores = scores.masked_fill(~torch.ones_like(scores, dtype=torch.bool).triu(), float("-inf"))
    start, end = divmod(int(scores.argmax()), scores.shape[1])
    answer = CONTEXT[int(offsets[start, 0]):int(offsets[end, 1])]
    assert answer and answer in CONTEXT


# ---------------------------------------------------------------- size and timing

def test_size_report_counts_match_the_tensors(saved):
    model, packed, folder = saved
    report = size_report(packed, folder=folder)
    dense_total = sum(p.numel() for p in model.parameters())  # counted on the unpacked model, not by size_report
    dense_linear = sum(linear_params_of_layer(64, 4, HEAD_DIM, model.config.intermediate_size)
                       for _ in range(model.config.num_hidden_layers))
    encoder = sum(p.numel() for name, p in packed.bert.encoder.named_parameters() if "LayerNorm" not in name)
    assert report.linear_params == encoder
    expected = sum(linear_params_of_layer(64, h, HEAD_DIM, f) for h, f in
                   zip(packed.config.heads_per_layer, packed.config.intermediate_per_layer))
    assert report.linear_params == expected
    assert report.total_params == dense_total - (dense_linear - expected)  # only encoder linears shrink
    assert report.dense_linear_params == size_report(model).linear_params
    assert 0 < report.fill_rate < 1 and report.weights_bytes < report.disk_bytes
    assert report.to_dict()["fill_rate"] == report.fill_rate and "% of dense" in repr(report)


class Sleeper(nn.Module):
    """A "model" whose passes take scripted times, and which notes the call order and whether gc was on."""

    def __init__(self, name, durations, log):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))
        self.name, self.durations, self.log = name, list(durations), log

    def forward(self, input_ids, attention_mask=None):
        import gc
        import time

        self.log.append((self.name, gc.isenabled()))
        time.sleep(self.durations.pop(0) if self.durations else 0.0)


@pytest.mark.filterwarnings("ignore:timing of:RuntimeWarning")
def test_timing_measures_each_pass_interleaved_with_gc_off():
    import gc

    from bmp.speed.timing import time_interleaved

    log = []
    slow = Sleeper("slow", [0, 0.08, 0.02, 0.05], log)  # one warm-up pass, then three timed ones
    fast = Sleeper("fast", [0, 0.002, 0.002, 0.002], log)
    input_ids, attention_mask = synthetic_batch(100, 1, 4, seed=0)
    result = time_interleaved({"slow": slow, "fast": fast}, input_ids, attention_mask, repeats=3, warmup=1)
    slow_ = result["slow"]  # a busy machine can only oversleep, so each bound is one-sided
    assert 0.02 <= slow_.min_s < 0.05 <= slow_.median_s < 0.08 <= slow_.max_s
    assert result["fast"].median_s < slow_.min_s
    timed = [name for name, _ in log[2:]]  # after one warm-up pass each, the first model rotates every round
    assert timed == ["slow", "fast", "fast", "slow", "slow", "fast"]
    assert not any(enabled for _, enabled in log[2:]) and gc.isenabled()  # off while timed, on again after


def test_dense_like_has_the_packed_shapes():
    packed = pack(pruned_model(10))
    same_shape = dense_like(packed)
    assert [p.shape for p in same_shape.parameters()] == [p.shape for p in packed.parameters()]
    input_ids, attention_mask = synthetic_batch(30522, 2, 16, seed=0)
    result = time_forward(packed, input_ids, attention_mask, repeats=1, warmup=0)
    assert (result.batch, result.seq, result.device) == (2, 16, "cpu") and not packed.training


def test_timing_unwraps_a_training_loops_autocast_forward():
    from types import MethodType

    from bmp.speed.timing import without_training_wrapper

    model = pack(pruned_model(11)).eval()
    # what accelerate's prepare_model does under mixed precision: forward becomes an autocast version of itself
    model._original_forward = model.forward
    model.forward = MethodType(torch.autocast("cpu", dtype=torch.bfloat16)(model.forward.__func__), model)
    input_ids, attention_mask = synthetic_batch(30522, 1, 8, seed=1)
    first_linear = next(m for m in model.modules() if isinstance(m, nn.Linear))

    def linear_dtype(m):
        seen = []
        handle = next(x for x in m.modules() if isinstance(x, nn.Linear)).register_forward_hook(
            lambda _m, _i, out: seen.append(out.dtype))
        with torch.inference_mode():
            m(input_ids=input_ids, attention_mask=attention_mask)
        handle.remove()
        return seen[0]

    assert linear_dtype(model) == torch.bfloat16  # the wrapper is live
    with pytest.warns(RuntimeWarning, match="mixed-precision forward wrapper"):
        clean = without_training_wrapper(model)
    assert clean is not model and linear_dtype(clean) == torch.float32
    assert "_original_forward" in vars(model) and first_linear.weight.dtype == torch.float32  # caller's model kept
    with pytest.warns(RuntimeWarning, match="mixed-precision forward wrapper"):
        result = time_forward(model, input_ids, attention_mask, repeats=1, warmup=0)
    assert result.dtype == "float32"
    plain = pack(pruned_model(11))
    assert without_training_wrapper(plain) is plain


def test_size_report_counts_non_zero_linear_parameters():
    model = tiny_bert(seed=3)
    with torch.no_grad():  # HF initialises biases to zero: give them values, or they'd count as pruned
        for part in encoder_layers(model):
            for linear in part.linears().values():
                linear.bias.uniform_(0.1, 0.2)
    dense = size_report(model)
    assert dense.nonzero_linear_params == dense.linear_params and dense.nonzero_fill_rate == pytest.approx(1.0)
    first = encoder_layers(model)[0].linears()
    with torch.no_grad():
        weight = next(iter(first.values())).weight
        weight[:, ::2] = 0  # scattered zeros: nothing to pack, half a matrix fewer kept weights
    sparse = size_report(model)
    assert sparse.linear_params == dense.linear_params
    assert dense.nonzero_linear_params - sparse.nonzero_linear_params == weight.numel() // 2
    assert sparse.to_dict()["nonzero_fill_rate"] == sparse.nonzero_fill_rate < 1


def test_speedup_of_saved_folders_in_a_fresh_process(saved, tmp_path):
    from bmp.models import load_saved
    from bmp.speed.fresh import fresh_speedup

    _, packed, folder = saved
    dense_dir = tmp_path / "dense"
    tiny_bert(seed=7, num_hidden_layers=4).save_pretrained(dense_dir)
    assert isinstance(load_saved(folder), PackedBertForQuestionAnswering)
    assert not isinstance(load_saved(dense_dir), PackedBertForQuestionAnswering)
    result = fresh_speedup(dense_dir, folder, batch=1, seq=16, repeats=2)
    import os

    assert result["cpu_timing"]["fresh_process"] and result["cpu_timing"]["pid"] != os.getpid()
    with pytest.raises(FileNotFoundError, match="no saved model in"):
        load_saved(tmp_path / "nowhere")
    with pytest.raises(RuntimeError, match="fresh process failed"):
        fresh_speedup(tmp_path / "nowhere", folder, batch=1, seq=16, repeats=1)
