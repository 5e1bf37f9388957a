"""Deployment: ONNX export equals torch (padding, two shapes, empty layers), int8, the ORT wrapper, and answer()
equals evaluation's post-processing for torch and ORT models, over several windows and in batches."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from model_helpers import randomize_scores

from bmp.deploy import OrtQAModel, check_onnx, export_onnx, ort_session, quantize_int8
from bmp.deploy.runtime import DISABLED_OPTIMIZERS
from bmp.models import load_tokenizer, tiny_bert
from bmp.packing.pack import pack
from bmp.pruning.anatomy import encoder_layers
from bmp.pruning.granularity import preset
from bmp.pruning.masked import add_masks, set_threshold
from bmp.squad import load_sample
from bmp.squad.answer import Answer, answer
from bmp.squad.features import eval_collator, prepare_eval_features
from bmp.squad.postprocess import postprocess_predictions

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

MAX_LENGTH, STRIDE = 128, 32  # the sample's long history paragraphs then span several windows


def padded_inputs(seed, batch, seq):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1000, 5000, (batch, seq), generator=g)  # (B, T)
    types = torch.zeros_like(ids)
    types[:, seq // 3:] = 1
    mask = torch.ones_like(ids)
    for row in range(1, batch):
        mask[row, seq - 3 * row:] = 0  # every row after the first padded, each differently
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


def run_ort(session, x):
    start, end = session.run(["start_logits", "end_logits"], {k: v.numpy() for k, v in x.items()})
    return start, end


def packed_with_empty_layers():
    """A packed tiny BERT whose layer 0 has no heads and layer 1 no FFN neurons (as in test_masking), the other
    sizes partly pruned, with random biases so that the output biases of empty layers matter."""
    model = add_masks(tiny_bert(), preset("struct"))
    randomize_scores(model)
    with torch.no_grad():
        parts = encoder_layers(model)
        parts[0].layer.head_scores.scores.fill_(-10.0)
        parts[1].layer.neuron_scores.scores.fill_(-10.0)
    set_threshold(model, 0.1)
    packed = pack(model)
    assert packed.config.heads_per_layer[0] == 0 and packed.config.intermediate_per_layer[1] == 0
    assert packed.config.heads_per_layer[1] > 0 and packed.config.intermediate_per_layer[0] > 0
    return packed


@pytest.fixture(scope="module")
def qa_model():
    """Tiny random BERT with wide logits (init range 0.5): the best span beats the next by >= 2e-3 on the sample,
    far above fp32 noise, so ORT and torch, batched and single, must pick the same spans."""
    return tiny_bert(seed=3, initializer_range=0.5)


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer()


@pytest.fixture(scope="module")
def qa_onnx(qa_model, tmp_path_factory):
    return export_onnx(qa_model, tmp_path_factory.mktemp("onnx") / "qa.onnx").path


# ---------------------------------------------------------------- export

@pytest.mark.parametrize("kind", ["dense", "packed", "empty_layers"])
def test_export_equals_torch_with_padding_at_two_shapes(kind, tmp_path):
    model = {"dense": lambda: tiny_bert(seed=2), "packed": lambda: pack(pruned_by_masks()),
             "empty_layers": packed_with_empty_layers}[kind]()
    if kind == "packed":
        assert model.config.heads_per_layer == [2, 2] and max(model.config.intermediate_per_layer) < 100
    result = export_onnx(model, tmp_path / "model.onnx")
    assert result.path.is_file() and result.opset == 17 and result.max_abs_diff <= 1e-4
    session = ort_session(result.path)
    for seed, (batch, seq) in enumerate([(4, 19), (2, 61)]):
        x = padded_inputs(seed, batch, seq)
        with torch.no_grad():
            expected = model(**x)
        start, end = run_ort(session, x)
        assert start.shape == (batch, seq)
        np.testing.assert_allclose(start, expected.start_logits.numpy(), atol=1e-4, rtol=0)
        np.testing.assert_allclose(end, expected.end_logits.numpy(), atol=1e-4, rtol=0)


def pruned_by_masks():
    """A tiny BERT with masks that drop every other head and about half the FFN neurons of every layer."""
    masked = add_masks(tiny_bert(seed=2), preset("struct"))
    g = torch.Generator().manual_seed(4)
    with torch.no_grad():
        for parts in encoder_layers(masked):
            heads, neurons = parts.layer.head_scores.scores, parts.layer.neuron_scores.scores
            heads.fill_(5.0)[1::2] = -10.0
            neurons.copy_(torch.where(torch.rand(neurons.shape, generator=g) < 0.5, 5.0, -10.0))
    set_threshold(masked, 0.1)
    return masked


def test_validation_fails_on_a_file_of_another_model(tmp_path):
    path = export_onnx(tiny_bert(seed=0), tmp_path / "a.onnx").path
    with pytest.raises(ValueError, match=r"differs from the torch model by .* validate=False"):
        check_onnx(tiny_bert(seed=1), path)


def test_export_refuses_a_masked_model_with_the_fix(tmp_path):
    with pytest.raises(ValueError, match=r"Pack it first"):
        export_onnx(add_masks(tiny_bert(), preset("struct")), tmp_path / "m.onnx", validate=False)


def test_session_threads_and_no_spinning(qa_onnx):
    options = ort_session(qa_onnx, threads=3).get_session_options()
    assert options.intra_op_num_threads == 3 and options.inter_op_num_threads == 1
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL


# ---------------------------------------------------------------- int8

@pytest.mark.parametrize("per_channel", [True, False])
def test_int8_runs_and_tracks_fp32(per_channel, tmp_path):
    packed = packed_with_empty_layers()  # empty weights must be skipped, not crash per-channel quantisation
    fp32 = export_onnx(packed, tmp_path / "fp32.onnx").path
    int8 = quantize_int8(fp32, tmp_path / "int8.onnx", per_channel=per_channel)
    ops = {node.op_type for node in onnx.load(str(int8)).graph.node}
    assert "MatMulInteger" in ops or "DynamicQuantizeMatMul" in ops, ops
    x = padded_inputs(0, 4, 40)
    reference, _ = run_ort(ort_session(fp32), x)
    quantized, _ = run_ort(ort_session(int8), x)
    assert not np.array_equal(quantized, reference)  # the weights really are int8
    assert np.corrcoef(quantized.ravel(), reference.ravel())[0, 1] > 0.99


def test_int8_sessions_run_without_the_slow_skip_layernorm_fusion(tmp_path):
    fp32 = export_onnx(tiny_bert(), tmp_path / "fp32.onnx").path
    int8 = quantize_int8(fp32, tmp_path / "int8.onnx")

    def ran(disabled):
        path = tmp_path / f"optimized-{len(disabled)}.onnx"
        ort_session(int8, disabled_optimizers=disabled, optimized_path=path)
        return {node.op_type for node in onnx.load(str(path)).graph.node}

    assert "SkipLayerNormalization" in ran(())  # ORT would fuse it: the default must be what stops it
    assert "SkipLayerNormalization" not in ran(DISABLED_OPTIMIZERS)
    assert DISABLED_OPTIMIZERS == ("SkipLayerNormFusion",)


# ---------------------------------------------------------------- OrtQAModel

def test_ort_qa_model_is_called_like_a_hf_model(qa_model, qa_onnx):
    model = OrtQAModel(ort_session(qa_onnx))
    x = padded_inputs(1, 3, 25)
    out = model(**x)
    assert isinstance(out.start_logits, torch.Tensor) and out.start_logits.dtype == torch.float32
    assert out.start_logits.shape == out.end_logits.shape == (3, 25)
    with torch.no_grad():
        torch.testing.assert_close(out.end_logits, qa_model(**x).end_logits, atol=1e-4, rtol=0)
    only_ids = model(input_ids=x["input_ids"][:1].numpy())  # mask and token types default to ones and zeros
    with torch.no_grad():
        torch.testing.assert_close(only_ids.start_logits, qa_model(input_ids=x["input_ids"][:1]).start_logits,
                                   atol=1e-4, rtol=0)
    assert model.eval() is model and not model.training and next(model.parameters()).device.type == "cpu"
    with pytest.raises(ValueError, match="can't be trained"):
        model.train()


# ---------------------------------------------------------------- answer()

def evaluation_predictions(model, tokenizer, examples):
    """What evaluation does (bmp.finetune.predict_logits + postprocess_predictions), written out: windows, the
    eval collator's batches (padded to multiples of 8), logits padded with -1e4, post-processing."""
    features = prepare_eval_features({key: [e[key] for e in examples] for key in ("id", "question", "context")},
                                     tokenizer, MAX_LENGTH, STRIDE)
    rows = [dict(zip(features, values)) for values in zip(*features.values())]
    collate, starts, ends = eval_collator(tokenizer), [], []
    for first in range(0, len(rows), 16):
        batch = collate(rows[first:first + 16])
        with torch.no_grad():
            out = model(**batch)
        pad = MAX_LENGTH - out.start_logits.shape[1]
        starts.append(torch.nn.functional.pad(out.start_logits, (0, pad), value=-1e4).numpy())
        ends.append(torch.nn.functional.pad(out.end_logits, (0, pad), value=-1e4).numpy())
    predictions = postprocess_predictions(examples, features, np.concatenate(starts), np.concatenate(ends))
    return predictions, features


@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
def test_answer_equals_evaluation_postprocessing(backend, qa_model, qa_onnx, tokenizer):
    model = qa_model if backend == "torch" else OrtQAModel(ort_session(qa_onnx))
    examples = load_sample().eval
    expected, features = evaluation_predictions(model, tokenizer, examples)
    n_windows = {i: features["example_id"].count(i) for i in set(features["example_id"])}
    assert max(n_windows.values()) >= 3  # several windows per long context are exercised
    got = answer([e["question"] for e in examples], [e["context"] for e in examples], model, tokenizer,
                 max_length=MAX_LENGTH, doc_stride=STRIDE, batch_size=8)
    assert [a.answer for a in got] == [expected[e["id"]] for e in examples]
    assert len({a.answer for a in got}) > 5  # not one degenerate span everywhere
    for a, e in zip(got, examples):
        assert e["context"][a.start:a.end] == a.answer and np.isfinite(a.score)


def test_long_context_is_read_through_several_windows(tokenizer):
    """A model that only scores one word: the answer is found in the last window, at its character offsets."""
    target = tokenizer.convert_tokens_to_ids("zebra")

    def spotter(input_ids, attention_mask=None, token_type_ids=None):
        logits = (input_ids == target).float() * 5.0  # (B, T)
        return SimpleNamespace(start_logits=logits, end_logits=logits)

    context = " ".join(f"the river passes mill number {i} near the old bridge." for i in range(40))
    context += " A zebra lives here."
    n_windows = len(prepare_eval_features({"id": ["q"], "question": ["Who lives here?"], "context": [context]},
                                          tokenizer, 64, 16)["input_ids"])
    assert n_windows > 5
    got = answer("Who lives here?", context, spotter, tokenizer, max_length=64, doc_stride=16)
    assert got == Answer(answer="zebra", score=10.0, start=context.index("zebra"), end=context.index("zebra") + 5)


def test_batched_call_equals_one_by_one(qa_model, tokenizer):
    examples = load_sample().eval[:9]
    questions, contexts = [e["question"] for e in examples], [e["context"] for e in examples]
    together = answer(questions, contexts, qa_model, tokenizer, max_length=MAX_LENGTH, doc_stride=STRIDE,
                      batch_size=4)
    alone = [answer(q, c, qa_model, tokenizer, max_length=MAX_LENGTH, doc_stride=STRIDE) for q, c in
             zip(questions, contexts)]
    assert [(a.answer, a.start, a.end) for a in together] == [(a.answer, a.start, a.end) for a in alone]
    np.testing.assert_allclose([a.score for a in together], [a.score for a in alone], atol=1e-4)


def test_answer_arguments(qa_model, tokenizer):
    one = answer("Who founded it?", "Ada founded it in 1200.", qa_model, tokenizer)
    assert isinstance(one, Answer)
    shared = answer(["Who founded it?", "When?"], "Ada founded it in 1200.", qa_model, tokenizer)
    assert len(shared) == 2 and (shared[0].answer, shared[0].start, shared[0].end) == (one.answer, one.start, one.end)
    assert answer([], [], qa_model, tokenizer) == []
    with pytest.raises(ValueError, match="one context per question"):
        answer(["a", "b"], ["c", "d", "e"], qa_model, tokenizer)


def test_bench_deploy_quick_reports_every_ratio():
    from bmp.bench.deploy import FORMS, main

    result = main(["--quick", "--base", "random", "--shape", "fixed"])
    assert result["onnx_max_abs_diff"] <= 1e-4 and result["shape_source"] == "fixed"
    for key in ("ort_fp32_vs_torch_packed", "ort_int8_vs_torch_packed", "ort_int8_vs_torch_dense",
                "batch1_ort_int8_vs_torch_packed"):
        assert result[key] > 0
    assert set(result["batch1_latency_ms"]) == set(FORMS)
    assert result["heads_per_layer"] == [2, 4, 6, 5, 5, 1]


def test_bench_deploy_shape_from_the_chosen_setting(tmp_path):
    from bmp.bench.deploy import recorded_shape
    from bmp.results.records import provenance, record

    prov = provenance(base_model="embedded", data_split="test", profile="course")
    record("dense-t", "dense", {"f1": 70.0, "eval_split": "s"}, prov, {"output_dir": "runs/t/final"},
           directory=tmp_path)
    for name, speed, val, heads in (("hybrid-lam20-t-filled", 2.0, 69.0, [12] * 6),
                                    ("hybrid-lam140-t-filled", 4.4, 66.0, [3, 3, 3, 3, 3, 3]),
                                    ("hybrid-lam200-t-filled", 5.0, 60.0, [1] * 6)):
        record(name, "filled", {"f1": val, "validation_f1": val, "eval_split": "s", "cpu_speedup": speed,
                                "heads_per_layer": heads, "neurons_per_layer": [64] * 6},
               prov, {"teacher": "runs/t/final", "output_dir": f"runs/{name}"}, directory=tmp_path)
    heads, _, source = recorded_shape(tmp_path, "best:4", 6)
    assert source == "record hybrid-lam140-t-filled" and heads == (3,) * 6  # the best on validation at >= 4x
    record("hybrid-lam140-old-filled", "filled", {"f1": 80.0, "validation_f1": 80.0, "eval_split": "s",
                                                  "cpu_speedup": 4.5, "heads_per_layer": [2] * 6,
                                                  "neurons_per_layer": [64] * 6},
           prov, {"teacher": "runs/old/final", "output_dir": "runs/hybrid-lam140-old"}, directory=tmp_path)
    # the choice the targets make: from the teacher most runs came from, not the raw best of another teacher's
    assert recorded_shape(tmp_path, "best:4", 6)[2] == "record hybrid-lam140-t-filled"
    record("dense-old", "dense", {"f1": 75.0, "eval_split": "s"}, prov, {"output_dir": "runs/old/final"},
           directory=tmp_path)
    heads, _, source = recorded_shape(tmp_path, "best:4", 6, teacher="runs/old/final")  # that teacher's, when named
    assert source == "record hybrid-lam140-old-filled" and heads == (2,) * 6
    heads, _, source = recorded_shape(tmp_path, "best:4", 6, teacher="runs/t/final")  # only the given teacher's
    assert source == "record hybrid-lam140-t-filled" and heads == (3,) * 6
    with pytest.raises(ValueError, match="--shape best:9: no recorded pruned run"):
        recorded_shape(tmp_path, "best:9", 6)
