"""More than BERT: RoBERTa, ELECTRA and DistilBERT prune, pack, save, load and export through one table of layer
anatomy, each staying equal to itself at every step (masked = dense at full density, packed = masked, loaded =
saved, ONNX = torch); the packed folders carry a model card; anything else is refused by name."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
import yaml
from model_helpers import randomize_scores
from transformers import (
    AutoModelForQuestionAnswering,
    BertConfig,
    BertForQuestionAnswering,
    DistilBertConfig,
    DistilBertForQuestionAnswering,
    ElectraConfig,
    ElectraForQuestionAnswering,
    RobertaConfig,
    RobertaForQuestionAnswering,
)

import bmp  # noqa: F401  (registers the packed types with the Auto classes)
from bmp.models import load_saved
from bmp.packing.pack import pack
from bmp.packing.packed_bert import LAYOUTS, PACKED_BY_TYPE, PACKED_MODELS
from bmp.packing.saving import load_packed, save_packed
from bmp.packing.size import size_report
from bmp.pruning.anatomy import ANATOMIES, UnsupportedModelError, anatomy_of, anatomy_of_config, encoder_layers
from bmp.pruning.granularity import preset
from bmp.pruning.kept import kept_report
from bmp.pruning.masked import add_masks, set_threshold

FAMILIES = ("bert", "roberta", "electra", "distilbert")
SHAPE = dict(vocab_size=1000, max_position_embeddings=128)
BERT_SHAPE = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
                  hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
CONFIGS = {  # tiny random models of each family; ELECTRA's embeddings (32) are projected up to the hidden size (64)
    "bert": lambda: (BertForQuestionAnswering, BertConfig(**SHAPE, **BERT_SHAPE)),
    "roberta": lambda: (RobertaForQuestionAnswering, RobertaConfig(**SHAPE, **BERT_SHAPE)),
    "electra": lambda: (ElectraForQuestionAnswering, ElectraConfig(**SHAPE, **BERT_SHAPE, embedding_size=32)),
    "distilbert": lambda: (DistilBertForQuestionAnswering,
                           DistilBertConfig(**SHAPE, dim=64, n_layers=2, n_heads=4, hidden_dim=128, dropout=0.0,
                                            attention_dropout=0.0)),
}
TOL = 1e-5


def tiny(family: str, seed: int = 0):
    """A tiny random QA model with random biases and LayerNorms (stock init makes them 0 and 1, hiding bias bugs)."""
    model_class, config = CONFIGS[family]()
    torch.manual_seed(seed)
    model = model_class(config).eval()
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith("bias") or "LayerNorm" in name or "layer_norm" in name:
                parameter.add_(0.1 * torch.randn_like(parameter))
    return model


def inputs_for(model, seed: int = 0, batch: int = 3, seq: int = 12) -> dict:
    """Random tokens with padding (the pad token where the mask is 0, as a tokenizer gives); token types for the
    families that take them."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, model.config.vocab_size, (batch, seq), generator=g)  # (B, T)
    mask = torch.ones_like(ids)
    for row in range(1, batch):  # every row after the first padded, each to another length
        mask[row, seq - row * seq // (batch + 1):] = 0
    ids[mask == 0] = model.config.pad_token_id
    x = {"input_ids": ids, "attention_mask": mask}
    if anatomy_of(model).token_types:
        x["token_type_ids"] = (torch.arange(seq) >= seq // 3).long().expand(batch, seq).clone()
    return x


def logits(model, x) -> torch.Tensor:
    with torch.no_grad():
        out = model(**x)
    return torch.stack([out.start_logits, out.end_logits])  # (2, B, T)


def pruned(family: str, kind: str = "struct", seed: int = 1):
    """A masked model with random scores: struct also empties layer 0's attention and layer 1's FFN."""
    model = add_masks(tiny(family, seed), preset(kind))
    randomize_scores(model, seed)
    if kind == "struct":
        parts = encoder_layers(model)
        with torch.no_grad():
            parts[0].layer.head_scores.scores.fill_(-10.0)
            parts[1].layer.neuron_scores.scores.fill_(-10.0)
    set_threshold(model, 0.3)
    return model


# ---------------------------------------------------------------- the table

@pytest.mark.parametrize("family", FAMILIES)
def test_the_table_finds_the_six_linears_of_every_layer(family):
    model = tiny(family)
    parts = encoder_layers(model)
    assert anatomy_of(model).family == family == anatomy_of_config(model.config).family
    assert [(p.num_heads, p.ffn_size, p.head_dim) for p in parts] == [(4, 128, 16)] * 2
    assert all(isinstance(linear, torch.nn.Linear) for p in parts for linear in p.linears().values())


def test_the_packed_file_agrees_with_the_table():
    """packed_bert.py keeps its own copy (it is shipped as remote code, without bmp): the two must not drift."""
    assert set(PACKED_MODELS) == set(LAYOUTS) == {anatomy.family for anatomy in ANATOMIES}
    for anatomy in ANATOMIES:
        layout = LAYOUTS[anatomy.family]
        assert layout.layers == f"{anatomy.body}.{anatomy.layers}"
        assert {name: getattr(layout, name) for name in anatomy.paths()} == anatomy.paths()
        assert PACKED_BY_TYPE[f"packed_{anatomy.family}"] is PACKED_MODELS[anatomy.family]


def test_an_unsupported_model_names_the_supported_families():
    from transformers import GPT2Config, GPT2ForQuestionAnswering

    gpt2 = GPT2ForQuestionAnswering(GPT2Config(vocab_size=100, n_positions=32, n_embd=32, n_layer=1, n_head=2))
    for step in (lambda: add_masks(gpt2, preset("hybrid")), lambda: pack(gpt2), lambda: kept_report(gpt2)):
        with pytest.raises(UnsupportedModelError, match="BERT, RoBERTa, ELECTRA, DistilBERT") as err:
            step()
        assert "'gpt2'" in str(err.value) or "'transformer'" in str(err.value)
    with pytest.raises(UnsupportedModelError, match="DistilBERT"):
        anatomy_of_config(gpt2.config)


# ---------------------------------------------------------------- masked = dense, packed = masked

@pytest.mark.parametrize("family", FAMILIES)
def test_all_ones_masks_give_the_original_logits(family):
    dense = tiny(family)
    x = inputs_for(dense)
    expected = logits(dense, x)
    for kind, method, threshold in (("hybrid", "sigmoid_threshold", 0.1), ("struct", "topk", 1.0)):
        masked = add_masks(tiny(family), preset(kind, method=method))
        set_threshold(masked, threshold)  # fresh sigmoid scores keep everything; top-k keeps the whole share
        assert kept_report(masked).linear_density == 1.0
        assert (logits(masked, x) - expected).abs().max() <= 1e-6


@pytest.mark.parametrize("kind", ["struct", "hybrid"])
@pytest.mark.parametrize("family", FAMILIES)
def test_packed_equals_masked(family, kind):
    masked = pruned(family, kind)
    packed = pack(masked)
    assert type(packed) is PACKED_MODELS[family]
    assert packed.config.model_type == f"packed_{family}"
    report = kept_report(masked)
    assert packed.config.heads_per_layer == report.heads and packed.config.intermediate_per_layer == report.neurons
    assert report.linear_density < 0.9 and sum(report.neurons) < 256  # something was cut
    if kind == "struct":
        assert report.heads[0] == 0 and report.neurons[1] == 0  # the empty layers
    x = inputs_for(masked, seed=2)
    assert (logits(packed, x) - logits(masked, x)).abs().max() <= TOL
    aligned = pack(masked, align_heads=2, align_ffn=8)  # padding heads and neurons are zeros: still exact
    assert all(n % 8 == 0 for n in aligned.config.intermediate_per_layer)
    assert (logits(aligned, x) - logits(masked, x)).abs().max() <= TOL


# ---------------------------------------------------------------- save = load, with and without bmp

@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """One packed, saved folder per family (each with a card), and the logits the saved model gave."""
    root = tmp_path_factory.mktemp("packed")
    folders = {}
    for family in FAMILIES:
        packed = pack(pruned(family))
        x = inputs_for(packed, seed=3)
        card = {"base_model": f"tiny-{family}", "recipe": {"preset": "struct", "lam": 20, "epochs": 2.5},
                "metrics": {"f1": 71.25, "exact_match": 60.5, "cpu_speedup": 2.75}, "datasets": ["squad"]}
        folder = save_packed(packed, root / f"packed-{family}", card=card)
        torch.save(x, folder / "inputs.pt")
        folders[family] = (packed, folder, x, logits(packed, x))
    return folders


@pytest.mark.parametrize("family", FAMILIES)
def test_save_load_and_auto_class_give_identical_logits(saved, family):
    packed, folder, x, expected = saved[family]
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == f"packed_{family}"
    assert config["auto_map"]["AutoModelForQuestionAnswering"] == \
        f"modeling_packed_bert.{PACKED_MODELS[family].__name__}"
    for loaded in (load_packed(folder), load_saved(folder),
                   AutoModelForQuestionAnswering.from_pretrained(folder).eval()):  # no trust_remote_code
        assert type(loaded) is PACKED_MODELS[family]
        assert torch.equal(logits(loaded, x), expected)


def test_the_remote_code_loads_every_family_without_bmp(saved, tmp_path):
    """What a user without bmp runs: a fresh process that never imports bmp loads each folder's own code."""
    script = (
        "import sys, torch\n"
        "from transformers import AutoModelForQuestionAnswering\n"
        "results = {}\n"
        "for folder in sys.argv[2:]:\n"
        "    model = AutoModelForQuestionAnswering.from_pretrained(folder, trust_remote_code=True).eval()\n"
        "    assert type(model).__module__.startswith('transformers_modules'), type(model).__module__\n"
        "    with torch.no_grad():\n"
        "        out = model(**torch.load(folder + '/inputs.pt'))\n"
        "    results[folder] = torch.stack([out.start_logits, out.end_logits])\n"
        "assert not [name for name in sys.modules if name.split('.')[0] == 'bmp']\n"
        "torch.save(results, sys.argv[1])\n")
    out = tmp_path / "remote.pt"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(tmp_path / "modules")}
    env.pop("PYTHONPATH", None)
    folders = [str(saved[family][1]) for family in FAMILIES]
    done = subprocess.run([sys.executable, "-c", script, str(out), *folders], cwd=tmp_path, env=env,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    results = torch.load(out)
    for family in FAMILIES:
        _, folder, _, expected = saved[family]
        assert torch.equal(results[str(folder)], expected), family


# ---------------------------------------------------------------- the model card

def card_of(folder) -> tuple[dict, str]:
    text = (folder / "README.md").read_text()
    assert text.startswith("---\n")
    header, body = text[4:].split("\n---\n", 1)
    return yaml.safe_load(header), body


def test_the_card_header_parses_and_the_numbers_come_through(saved):
    packed, folder, _, _ = saved["roberta"]
    header, body = card_of(folder)
    assert header == {"base_model": "tiny-roberta", "library_name": "transformers",
                      "tags": ["question-answering", "pruning", "block-movement-pruning", "bmp"],
                      "datasets": ["squad"], "pipeline_tag": "question-answering"}
    assert "RoBERTa" in body
    for text in ("**Preset**: `struct`", "λ (regularization weight)**: 20", "epochs**: 2.5", "**F1**: 71.25",
                 "**Exact match**: 60.5", "2.75×", "trust_remote_code=True", "bmp.load_packed"):
        assert text in body, text
    for layer, (heads, neurons) in enumerate(zip(packed.config.heads_per_layer, packed.config.intermediate_per_layer)):
        assert f"| {layer} | {heads} of 4 | {neurons} of 128 |" in body
    fill = size_report(packed).fill_rate  # not passed in: computed from config.json the way size_report counts
    assert f"**Fill rate** (from config.json): {fill:.4g}" in body


def test_without_a_card_the_card_says_only_the_structure(tmp_path):
    packed = pack(pruned("distilbert"))
    folder = save_packed(packed, tmp_path / "minimal")
    header, body = card_of(folder)
    assert "base_model" not in header and "datasets" not in header
    assert header["pipeline_tag"] == "question-answering" and "bmp" in header["tags"]
    assert "DistilBERT" in body and "| 0 | 0 of 4 |" in body
    assert "## Results" not in body and "## How it was made" not in body and "F1" not in body
    with pytest.raises(TypeError, match="write_model_card does not take"):
        save_packed(packed, tmp_path / "bad", card={"f1": 70.0})
    from bmp.packing.card import write_model_card

    path = write_model_card(folder, base_model=None, recipe={"target": 2.5, "teacher": "runs/teacher"},
                            metrics={"fill_rate": 0.4321})
    _, body = card_of(folder)
    assert path.name == "README.md" and "**Fill rate** (as recorded): 0.4321" in body
    assert "**Target**: 2.5" in body and "`runs/teacher`" in body


# ---------------------------------------------------------------- ONNX = torch

@pytest.mark.parametrize("family", FAMILIES)
def test_onnx_equals_torch(family, tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from bmp.deploy import OrtQAModel, export_onnx, ort_session

    packed = pack(pruned(family))  # layer 0 without heads, layer 1 without FFN neurons
    result = export_onnx(packed, tmp_path / f"{family}.onnx")  # validated at two other shapes, with padding
    assert result.max_abs_diff <= 1e-4
    session = ort_session(result.path)
    names = [node.name for node in session.get_inputs()]
    assert ("token_type_ids" in names) == (family != "distilbert")
    x = inputs_for(packed, seed=4, batch=2, seq=21)
    out = OrtQAModel(session)(**x)
    got = torch.stack([out.start_logits, out.end_logits])
    assert (got - logits(packed, x)).abs().max() <= 1e-4
