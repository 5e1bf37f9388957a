"""The Torch-Pruning peer baseline: only heads and FFN neurons go, the density is hit, packing is exact, it resumes."""
import json

import pytest
import torch

pytest.importorskip("torch_pruning")

from bmp.cli import run  # noqa: E402
from bmp.models import load_tokenizer, tiny_bert  # noqa: E402
from bmp.packing.size import size_report  # noqa: E402
from bmp.pruning.anatomy import encoder_layers  # noqa: E402
from bmp.training import peer  # noqa: E402
from bmp.training.peer import PeerPruning, packed_from, plan_layers, torch_prune  # noqa: E402


def qa_batches(count=3, batch=4, seq=32):
    generator = torch.Generator().manual_seed(1)
    return [{"input_ids": torch.randint(0, 30000, (batch, seq), generator=generator),
             "attention_mask": torch.ones(batch, seq, dtype=torch.long),
             "token_type_ids": torch.zeros(batch, seq, dtype=torch.long),
             "start_positions": torch.randint(0, seq, (batch,), generator=generator),
             "end_positions": torch.randint(0, seq, (batch,), generator=generator)} for _ in range(count)]


def prune(importance, density=0.5):
    model = tiny_bert()
    spec = PeerPruning(density, importance, taylor_batches=3)
    return model, torch_prune(model, spec, qa_batches() if importance == "taylor" else None)


def inputs(seed=0, batch=2, seq=24):
    ids = torch.randint(0, 30000, (batch, seq), generator=torch.Generator().manual_seed(seed))
    mask = torch.ones_like(ids)
    mask[1, seq // 2:] = 0  # padding must be handled the same way too
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids)}


@pytest.mark.parametrize("importance", ["magnitude", "taylor"])
def test_only_heads_and_neurons_shrink(importance):
    dense, pruned = prune(importance)
    before, after = dense.state_dict(), pruned.model.state_dict()
    assert before.keys() == after.keys()
    encoder_linears = {f"bert.encoder.layer.{i}.{name}.{kind}" for i in range(2) for kind in ("weight", "bias")
                       for name in ("attention.self.query", "attention.self.key", "attention.self.value",
                                    "attention.output.dense", "intermediate.dense", "output.dense")}
    for key in before.keys() - encoder_linears:  # embeddings, LayerNorms, QA head: untouched
        assert torch.equal(before[key], after[key]), key
    for part in encoder_layers(pruned.model):
        assert (part.num_heads, part.ffn_size) == (2, 64)
        assert part.query.in_features == part.attn_out.out_features == part.ffn_out.out_features == 64  # hidden kept
    assert all(p.num_heads == 4 and p.ffn_size == 128 for p in encoder_layers(dense))  # the input is left alone


@pytest.mark.parametrize("density", [0.2, 0.3, 0.5, 0.8, 1.0])
def test_linear_density_is_within_tolerance(density):
    dense, pruned = prune("magnitude", density)
    packed = packed_from(dense, pruned)
    fill = size_report(packed, dense.config).fill_rate
    assert fill == pytest.approx(plan_layers(dense.config, density).density)
    assert abs(fill - density) < 0.03, (density, fill)


def test_density_plan_on_a_minilm_sized_config():
    config = tiny_bert().config.__class__(hidden_size=384, num_attention_heads=12, intermediate_size=1536,
                                          num_hidden_layers=6)
    for density in (0.1, 0.2, 0.3, 0.5, 0.7):
        plan = plan_layers(config, density)
        assert abs(plan.density - density) < 0.01 and plan.neurons % 8 == 0 and 1 <= plan.heads <= 12


@pytest.mark.parametrize("importance", ["magnitude", "taylor"])
def test_packed_logits_equal_torch_pruning_logits(importance):
    dense, pruned = prune(importance, 0.3)
    packed = packed_from(dense, pruned)
    with torch.no_grad():
        ours, theirs = packed(**inputs()), pruned.model(**inputs())
    torch.testing.assert_close(ours.start_logits, theirs.start_logits, atol=1e-4, rtol=0)
    torch.testing.assert_close(ours.end_logits, theirs.end_logits, atol=1e-4, rtol=0)
    assert [p.num_heads for p in encoder_layers(packed)] == [len(h) for h in pruned.kept_heads]


def test_kept_indices_are_the_rows_torch_pruning_kept():
    dense, pruned = prune("magnitude", 0.5)
    for before, after, heads, neurons in zip(encoder_layers(dense), encoder_layers(pruned.model), pruned.kept_heads,
                                             pruned.kept_neurons):
        rows = torch.tensor([h * before.head_dim + i for h in heads for i in range(before.head_dim)])
        assert torch.equal(after.query.weight, before.query.weight[rows])
        assert torch.equal(after.ffn_in.weight, before.ffn_in.weight[list(neurons)])


def test_head_counts_agree_with_the_attention_attributes():
    _, pruned = prune("magnitude", 0.3)
    for part, heads in zip(encoder_layers(pruned.model), pruned.kept_heads):
        attention = part.self_attention
        assert attention.num_attention_heads == len(heads) == part.query.out_features // attention.attention_head_size
        assert attention.all_head_size == part.query.out_features == part.key.out_features == part.value.out_features


@pytest.mark.parametrize("density", [0, -0.1, 1.5])
def test_a_density_outside_zero_one_names_the_range(density):
    with pytest.raises(ValueError, match=r"density must lie in \(0, 1\]"):
        PeerPruning(density)


def test_taylor_without_batches_names_the_fix():
    with pytest.raises(ValueError, match="magnitude"):
        torch_prune(tiny_bert(), PeerPruning(0.5, "taylor"))


def test_the_command_reports_a_bad_density(tmp_path, capsys):
    assert run(peer.main, ["--teacher", str(tmp_path), "--density", "1.5"]) == 2
    assert "density must lie in (0, 1]" in capsys.readouterr().err


@pytest.mark.slow
def test_end_to_end_on_the_smoke_profile_resumes_the_same_pruned_model(tmp_path, monkeypatch):
    from bmp.profiles import get_profile
    from bmp.training.kit import prepare_data

    monkeypatch.setenv("BMP_RESULTS_DIR", str(tmp_path / "results"))
    teacher_dir = tmp_path / "teacher"
    tiny_bert().save_pretrained(teacher_dir)
    load_tokenizer().save_pretrained(teacher_dir)
    profile = get_profile("smoke")
    data = prepare_data(profile, load_tokenizer(teacher_dir))
    kwargs = dict(profile=profile, output_dir=tmp_path / "run", data=data, importance="taylor", epochs=1,
                  disable_tqdm=True)
    result = peer.torch_pruning_run(teacher_dir, 0.3, **kwargs)
    record = json.loads(result.record_path.read_text())
    assert record["kind"] == "torch-pruning" and record["name"] == "torch-pruning-taylor-d0.3-smoke"
    assert record["config"]["target_density"] == 0.3 and record["config"]["importance"] == "taylor"
    metrics = result.metrics
    assert abs(metrics["fill_rate"] - 0.3) < 0.03 and metrics["heads_per_layer"] == [1, 1]
    assert metrics["train_steps"] > 0 and metrics["cpu_speedup"] > 0 and 0 <= metrics["f1"] <= 100
    kept = json.loads((tmp_path / "run" / "pruned" / peer.PRUNING_FILE).read_text())["kept_heads"]

    def no_second_pruning(*args, **kwargs):
        raise AssertionError("a resumed run must reuse the saved pruned model")

    monkeypatch.setattr(peer, "torch_prune", no_second_pruning)
    import bmp.speed.fresh

    monkeypatch.setattr(bmp.speed.fresh, "fresh_speedup", lambda *folders: {"cpu_speedup": 1.0})  # timed above
    again = peer.torch_pruning_run(teacher_dir, 0.3, **kwargs)
    assert again.metrics["train_steps"] == metrics["train_steps"]  # resumed from the last checkpoint: no new steps
    assert again.metrics["heads_per_layer"] == metrics["heads_per_layer"]
    assert json.loads(again.record_path.read_text())["config"]["kept_heads"] == kept
    with pytest.raises(ValueError, match="pruned with"):
        peer.torch_pruning_run(teacher_dir, 0.5, **kwargs)


def test_like_takes_the_budget_of_a_recorded_run(tmp_path, monkeypatch, capsys):
    from bmp.results.records import provenance, record

    results = tmp_path / "results"
    monkeypatch.setenv("BMP_RESULTS_DIR", str(results))
    record("hybrid-lam240-course-filled", "filled", {"f1": 60.0, "fill_rate": 0.2792533},
           provenance(base_model="embedded", data_split="x", profile="course"), directory=results)
    assert peer.recorded_fill_rate("hybrid-lam240-course-filled", [results]) == 0.279
    with pytest.raises(ValueError, match="no record named 'hybrid-lam999-course-filled'"):
        peer.recorded_fill_rate("hybrid-lam999-course-filled", [results])
    assert run(peer.main, ["--teacher", str(tmp_path), "--like", "hybrid-lam999-course-filled"]) == 2
    assert "give --density" in capsys.readouterr().err
