"""The Torch-Pruning peer baseline: only heads and FFN neurons go, the density is hit in both scopes, its choices are
Torch-Pruning's own (local and global), packing is exact, iterative steps rescore on fresh batches, it resumes."""
import copy
import json

import pytest
import torch

tp = pytest.importorskip("torch_pruning")

from bmp.cli import run  # noqa: E402
from bmp.models import load_tokenizer, tiny_bert  # noqa: E402
from bmp.packing.size import size_report  # noqa: E402
from bmp.pruning.anatomy import base_model, encoder_layers  # noqa: E402
from bmp.training import peer, peer_plan  # noqa: E402
from bmp.training.peer import PeerPruning, packed_from, torch_prune, zero_pruned  # noqa: E402
from bmp.training.peer_plan import allocate, budget, plan_layers, recorded_fill_rate  # noqa: E402


def qa_batches(count=3, batch=4, seq=32):
    generator = torch.Generator().manual_seed(1)
    return [{"input_ids": torch.randint(0, 30000, (batch, seq), generator=generator),
             "attention_mask": torch.ones(batch, seq, dtype=torch.long),
             "token_type_ids": torch.zeros(batch, seq, dtype=torch.long),
             "start_positions": torch.randint(0, seq, (batch,), generator=generator),
             "end_positions": torch.randint(0, seq, (batch,), generator=generator)} for _ in range(count)]


@pytest.fixture(scope="module")
def squad_batches():
    """Eight batches of 4 real training windows of the project's sample (128 tokens)."""
    from torch.utils.data import DataLoader

    from bmp.squad import load_sample, tokenize_train, train_collator

    tokenizer = load_tokenizer()
    features = tokenize_train(load_sample().train[:40], tokenizer, max_length=128, doc_stride=64)
    loader = DataLoader(features, batch_size=4, collate_fn=train_collator(tokenizer))
    return [batch for batch, _ in zip(loader, range(8))]


def prune(importance, density=0.5, scope="per-layer", **kwargs):
    model = tiny_bert()
    spec = PeerPruning(density, importance, taylor_batches=3, scope=scope, **kwargs)
    return model, torch_prune(model, spec, qa_batches() if importance == "taylor" else None)


def uneven_bert():
    """Layer 0's heads 0, 2, 3 and its first 100 neurons are 5x weaker than the rest: its importance is concentrated
    in few units, layer 1's is spread evenly."""
    model = tiny_bert(seed=3)
    part = encoder_layers(model)[0]
    with torch.no_grad():
        for head in (0, 2, 3):
            rows = slice(16 * head, 16 * head + 16)
            for linear in (part.query, part.key, part.value):
                linear.weight[rows] *= 0.2
            part.attn_out.weight[:, rows] *= 0.2
        part.ffn_in.weight[:100] *= 0.2
        part.ffn_out.weight[:, :100] *= 0.2
    return model


def inputs(seed=0, batch=2, seq=24):
    ids = torch.randint(0, 30000, (batch, seq), generator=torch.Generator().manual_seed(seed))
    mask = torch.ones_like(ids)
    mask[1, seq // 2:] = 0  # padding must be handled the same way too
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids)}


def kept_rows(before, after):
    """Which rows of ``before`` survive in ``after`` (pruning keeps rows in order)."""
    return [next(i for i in range(len(before)) if torch.equal(before[i], row)) for row in after]


def metapruner_choice(model, density, importance, batches, global_pruning, align_ffn=8):
    """What Torch-Pruning's ``MetaPruner`` keeps (heads, neurons per layer) when it counts and cuts itself: local
    pruning with the per-layer plan's ratios (the peer's code before scopes), or global pruning at the encoder's
    totals, heads and FFN neurons each ranked in their own scope."""
    model = copy.deepcopy(model).float().eval().requires_grad_(True)
    dense = [(p.query.weight.clone(), p.ffn_in.weight.clone()) for p in encoder_layers(model)]
    parts, config = encoder_layers(model), model.config
    heads, ffn, layers = config.num_attention_heads, config.intermediate_size, config.num_hidden_layers
    if global_pruning:
        total = budget(config, density, "global", align_ffn)
        head_ratio, ffn_ratio = 1 - (total.heads + 0.5) / (heads * layers), 1 - (total.neurons + 0.5) / (ffn * layers)
        ratios = {tuple(p.ffn_in for p in parts): ffn_ratio, tuple(p.query for p in parts): 0.01}
        head_options = {"head_pruning_ratio": head_ratio}
    else:
        plan = plan_layers(config, density, align_ffn)
        head_ratio, ffn_ratio = (heads - plan.heads - 0.5) / heads, 1 - (plan.neurons + 0.5) / ffn
        ratios = {**{p.ffn_in: ffn_ratio for p in parts}, **{p.query: head_ratio for p in parts}}
        head_options = {"head_pruning_ratio_dict": {linear: head_ratio for p in parts
                                                    for linear in (p.query, p.key, p.value)}}
    example = {name: torch.ones(1, 16, dtype=torch.long) for name in ("input_ids", "attention_mask", "token_type_ids")}
    scorer = (tp.importance.GroupTaylorImportance() if importance == "taylor"
              else tp.importance.GroupMagnitudeImportance(p=2))
    pruner = tp.pruner.MetaPruner(
        model, example, importance=scorer, global_pruning=global_pruning, pruning_ratio=0.0, pruning_ratio_dict=ratios,
        num_heads={linear: heads for p in parts for linear in (p.query, p.key, p.value)}, prune_num_heads=True,
        prune_head_dims=False, ignored_layers=[base_model(model).embeddings, model.qa_outputs],
        in_channel_groups={}, out_channel_groups={}, **head_options,
        output_transform=lambda out: out.start_logits.sum() + out.end_logits.sum())
    if importance == "taylor":
        peer._accumulate_gradients(model, batches, 3)
    pruner.step()
    d = parts[0].head_dim
    return (tuple(tuple(sorted({r // d for r in kept_rows(q, p.query.weight)})) for (q, _), p in zip(dense, parts)),
            tuple(tuple(kept_rows(f, p.ffn_in.weight)) for (_, f), p in zip(dense, parts)))


@pytest.mark.parametrize("importance", ["magnitude", "taylor"])
@pytest.mark.parametrize("density", [0.3, 0.5])
def test_per_layer_keeps_what_metapruners_local_pruning_kept(importance, density, squad_batches):
    model = tiny_bert(seed=3)
    pruned = torch_prune(model, PeerPruning(density, importance, taylor_batches=3, scope="per-layer"), squad_batches)
    assert (pruned.kept_heads, pruned.kept_neurons) == metapruner_choice(model, density, importance, squad_batches,
                                                                         global_pruning=False)


def test_per_layer_keeps_the_heads_it_kept_before_scopes(squad_batches):
    """Recorded with the one-shot per-layer code this replaced, on the same model and batches."""
    kept = {(importance, density): torch_prune(tiny_bert(seed=3), PeerPruning(density, importance, taylor_batches=3,
                                                                              scope="per-layer"), squad_batches)
            for importance in ("magnitude", "taylor") for density in (0.3, 0.5)}
    assert {key: value.kept_heads for key, value in kept.items()} == {
        ("magnitude", 0.3): ((1,), (2,)), ("magnitude", 0.5): ((1, 2), (2, 3)),
        ("taylor", 0.3): ((1,), (0,)), ("taylor", 0.5): ((1, 2), (0, 2))}
    assert [len(n) for n in kept["taylor", 0.3].kept_neurons] == [48, 48]
    assert kept["magnitude", 0.3].kept_neurons[0][:8] == (3, 5, 7, 9, 10, 11, 14, 15)


@pytest.mark.parametrize("importance", ["magnitude", "taylor"])
def test_global_ranks_like_metapruners_global_pruning(importance, squad_batches):
    model = uneven_bert()
    pruned = torch_prune(model, PeerPruning(0.5, importance, taylor_batches=3, align_ffn=1), squad_batches)
    assert (pruned.kept_heads, pruned.kept_neurons) == metapruner_choice(model, 0.5, importance, squad_batches,
                                                                         global_pruning=True, align_ffn=1)


@pytest.mark.parametrize("importance", ["magnitude", "taylor"])
def test_global_layers_differ_where_importance_does(importance, squad_batches):
    model = uneven_bert()
    spec = PeerPruning(0.5, importance, taylor_batches=3)
    pruned = torch_prune(model, spec, squad_batches)
    heads, neurons = [len(h) for h in pruned.kept_heads], [len(n) for n in pruned.kept_neurons]
    assert heads == [1, 3] and neurons[0] < neurons[1] and all(n % 8 == 0 for n in neurons)
    uniform = torch_prune(model, PeerPruning(0.5, importance, taylor_batches=3, scope="per-layer"), squad_batches)
    assert [len(h) for h in uniform.kept_heads] == [2, 2]
    assert sum(heads) == 4 and sum(neurons) == budget(model.config, 0.5, "global", 8).neurons


@pytest.mark.parametrize("scope", ["global", "per-layer"])
@pytest.mark.parametrize("density", [0.2, 0.3, 0.5, 0.8, 1.0])
def test_linear_density_is_within_tolerance(scope, density):
    dense, pruned = prune("magnitude", density, scope)
    fill = size_report(packed_from(dense, pruned), dense.config).fill_rate
    assert fill == pytest.approx(budget(dense.config, density, scope, 8).density)
    assert abs(fill - density) < (0.02 if scope == "global" else 0.03), (density, fill)


@pytest.mark.parametrize("scope", ["global", "per-layer"])
def test_density_plan_on_a_minilm_sized_config(scope):
    config = tiny_bert().config.__class__(hidden_size=384, num_attention_heads=12, intermediate_size=1536,
                                          num_hidden_layers=6)
    for density in (0.1, 0.15, 0.2, 0.28, 0.3, 0.5, 0.7):
        total = budget(config, density, scope, 8)
        assert abs(total.density - density) < 0.01 and total.neurons % 8 == 0 and 6 <= total.heads <= 72
    assert plan_layers(config, 0.3, 8).heads * 6 == budget(config, 0.3, "per-layer", 8).heads


def test_allocate_keeps_the_best_a_floor_per_layer_and_aligned_widths():
    scores = [torch.tensor([9.0, 8.0, 7.0, 6.0]), torch.tensor([1.0, 0.5, 0.2, 0.1])]
    assert allocate(scores, 4) == [3, 1]  # one each at least, then the best across layers
    assert allocate(scores, 4, minimum=0) == [4, 0]
    # unrounded [6, 10]: equal remainders, the first layer takes the chunk; unrounded [5, 11]: the larger remainder
    assert allocate([torch.arange(16.0), torch.arange(16.0) + 4], 16, unit=4, minimum=4) == [8, 8]
    assert allocate([torch.arange(16.0), torch.arange(16.0) + 6], 16, unit=4, minimum=4) == [4, 12]


@pytest.mark.parametrize("scope,steps", [("global", 1), ("global", 3), ("per-layer", 3)])
def test_packed_logits_equal_torch_pruning_and_zeroed_dense_logits(scope, steps):
    dense, pruned = prune("taylor", 0.3, scope, iterative_steps=steps)
    packed = packed_from(dense, pruned)
    zeroed = zero_pruned(dense, pruned.kept_heads, pruned.kept_neurons)
    with torch.no_grad():
        ours, theirs, masked = packed(**inputs()), pruned.model(**inputs()), zeroed(**inputs())
    for other in (theirs, masked):
        torch.testing.assert_close(ours.start_logits, other.start_logits, atol=1e-4, rtol=0)
        torch.testing.assert_close(ours.end_logits, other.end_logits, atol=1e-4, rtol=0)
    assert [p.num_heads for p in encoder_layers(packed)] == [len(h) for h in pruned.kept_heads]


def test_iterative_steps_rescore_on_fresh_batches(monkeypatch, squad_batches):
    seen, accumulate = [], peer._accumulate_gradients

    def spy(model, batches, limit):
        seen.append([id(batch) for batch in batches])
        accumulate(model, batches, limit)

    monkeypatch.setattr(peer, "_accumulate_gradients", spy)
    model = uneven_bert()
    spec = PeerPruning(0.3, "taylor", taylor_batches=2, iterative_steps=4)
    pruned = torch_prune(model, spec, squad_batches)
    assert seen == [[id(b) for b in squad_batches[2 * k:2 * k + 2]] for k in range(4)]  # 8 batches, none reused
    assert [step["density"] for step in pruned.steps] == [0.825, 0.65, 0.475, 0.3]
    for before, after in zip(pruned.steps, pruned.steps[1:]):  # a step only removes
        assert all(a <= b for a, b in zip(after["heads"] + after["neurons"], before["heads"] + before["neurons"]))
    total = budget(model.config, 0.3, "global", 8)
    assert (sum(pruned.steps[-1]["heads"]), sum(pruned.steps[-1]["neurons"])) == (total.heads, total.neurons)
    one_shot = torch_prune(model, PeerPruning(0.3, "taylor", taylor_batches=2), squad_batches)
    assert pruned.kept_neurons != one_shot.kept_neurons  # rescored on the smaller model, it chooses otherwise


def test_only_heads_and_neurons_shrink():
    dense, pruned = prune("taylor", 0.5, "global", iterative_steps=2)
    before, after = dense.state_dict(), pruned.model.state_dict()
    assert before.keys() == after.keys()
    encoder_linears = {f"bert.encoder.layer.{i}.{name}.{kind}" for i in range(2) for kind in ("weight", "bias")
                       for name in ("attention.self.query", "attention.self.key", "attention.self.value",
                                    "attention.output.dense", "intermediate.dense", "output.dense")}
    for key in before.keys() - encoder_linears:  # embeddings, LayerNorms, QA head: untouched
        assert torch.equal(before[key], after[key]), key
    for part in encoder_layers(pruned.model):
        assert part.query.in_features == part.attn_out.out_features == part.ffn_out.out_features == 64  # hidden kept
    assert all(p.num_heads == 4 and p.ffn_size == 128 for p in encoder_layers(dense))  # the input is left alone


def test_kept_indices_are_the_rows_torch_pruning_kept():
    dense, pruned = prune("magnitude", 0.5, "global", iterative_steps=2)
    for before, after, heads, neurons in zip(encoder_layers(dense), encoder_layers(pruned.model), pruned.kept_heads,
                                             pruned.kept_neurons):
        rows = torch.tensor([h * before.head_dim + i for h in heads for i in range(before.head_dim)])
        assert torch.equal(after.query.weight, before.query.weight[rows])
        assert torch.equal(after.value.weight, before.value.weight[rows])
        assert torch.equal(after.ffn_in.weight, before.ffn_in.weight[list(neurons)])


def test_head_counts_agree_with_the_attention_attributes():
    _, pruned = prune("magnitude", 0.3, "global")
    for part, heads in zip(encoder_layers(pruned.model), pruned.kept_heads):
        attention = part.self_attention
        assert attention.num_attention_heads == len(heads) == part.query.out_features // attention.attention_head_size
        assert attention.all_head_size == part.query.out_features == part.key.out_features == part.value.out_features


def test_the_label_tells_the_variants_apart():
    assert PeerPruning(0.3).label == "taylor-global"
    assert PeerPruning(0.3, scope="global", iterative_steps=4).label == "taylor-global-it4"
    assert PeerPruning(0.3, taylor_batches=16, scope="per-layer").label == "taylor-per-layer-tb16"
    assert PeerPruning(0.3, "magnitude", taylor_batches=16, scope="per-layer").label == "magnitude-per-layer"


@pytest.mark.parametrize("density", [0, -0.1, 1.5])
def test_a_density_outside_zero_one_names_the_range(density):
    with pytest.raises(ValueError, match=r"density must lie in \(0, 1\]"):
        PeerPruning(density)


@pytest.mark.parametrize("options,message", [
    ({"scope": "layerwise"}, "choose --scope global"),
    ({"iterative_steps": 0}, "--iterative-steps must be a whole number >= 1"),
    ({"iterative_steps": 2.5}, "--iterative-steps must be a whole number >= 1"),
    ({"taylor_batches": 0}, "--taylor-batches must be a whole number >= 1"),
])
def test_bad_settings_name_the_fix(options, message):
    with pytest.raises(ValueError, match=message):
        PeerPruning(0.3, **options)


def test_taylor_without_batches_names_the_fix():
    with pytest.raises(ValueError, match="magnitude"):
        torch_prune(tiny_bert(), PeerPruning(0.5, "taylor"))


@pytest.mark.parametrize("flags,message", [
    (["--density", "1.5"], "density must lie in (0, 1]"),
    (["--density", "0.3", "--iterative-steps", "0"], "--iterative-steps must be a whole number >= 1"),
    (["--density", "0.3", "--taylor-batches", "0"], "--taylor-batches must be a whole number >= 1"),
])
def test_the_command_reports_bad_flags(tmp_path, capsys, flags, message):
    assert run(peer.main, ["--teacher", str(tmp_path), *flags]) == 2
    assert message in capsys.readouterr().err


def test_the_command_refuses_an_unknown_scope(tmp_path, capsys):
    with pytest.raises(SystemExit):
        peer.main(["--teacher", str(tmp_path), "--density", "0.3", "--scope", "layerwise"])
    assert "invalid choice: 'layerwise'" in capsys.readouterr().err


def test_a_folder_pruned_before_scopes_resumes_as_per_layer_one_shot(tmp_path, monkeypatch):
    teacher, folder = tiny_bert(), tmp_path / "pruned"
    spec = PeerPruning(0.5, "magnitude", scope="per-layer")
    _, info = peer.pruned_model(teacher, spec, folder, load_tokenizer())
    saved = json.loads((folder / peer.PRUNING_FILE).read_text())
    saved["spec"] = {k: v for k, v in saved["spec"].items() if k not in ("scope", "iterative_steps")}
    (folder / peer.PRUNING_FILE).write_text(json.dumps(saved))
    monkeypatch.setattr(peer, "torch_prune", lambda *a: pytest.fail("a resumed run must reuse the saved model"))
    _, again = peer.pruned_model(teacher, spec, folder, load_tokenizer())
    assert again["kept_heads"] == [list(h) for h in info["kept_heads"]]
    with pytest.raises(ValueError, match="pruned with"):
        peer.pruned_model(teacher, PeerPruning(0.5, "magnitude"), folder, load_tokenizer())


@pytest.mark.slow
def test_end_to_end_on_the_smoke_profile_resumes_the_same_pruned_model(tmp_path, monkeypatch):
    from bmp.profiles import get_profile
    from bmp.training.evaluation import prepare_data

    monkeypatch.setenv("BMP_RESULTS_DIR", str(tmp_path / "results"))
    teacher_dir = tmp_path / "teacher"
    tiny_bert().save_pretrained(teacher_dir)
    load_tokenizer().save_pretrained(teacher_dir)
    profile = get_profile("smoke")
    data = prepare_data(profile, load_tokenizer(teacher_dir))
    kwargs = dict(profile=profile, output_dir=tmp_path / "run", data=data, importance="taylor", epochs=1,
                  disable_tqdm=True, iterative_steps=2)
    result = peer.torch_pruning_run(teacher_dir, 0.3, **kwargs)
    record = json.loads(result.record_path.read_text())
    assert record["kind"] == "torch-pruning" and record["name"] == "torch-pruning-taylor-global-it2-d0.3-smoke"
    config = record["config"]
    assert config["target_density"] == 0.3 and config["importance"] == "taylor" and config["scope"] == "global"
    assert config["iterative_steps"] == 2 and config["taylor_batches"] == 8
    metrics = result.metrics
    assert abs(metrics["fill_rate"] - 0.3) < 0.02 and sum(metrics["heads_per_layer"]) == 2
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
        peer.torch_pruning_run(teacher_dir, 0.3, **{**kwargs, "scope": "per-layer"})


def test_like_takes_the_budget_of_a_recorded_run(tmp_path, monkeypatch, capsys):
    from bmp.results.records import provenance, record

    results = tmp_path / "results"
    monkeypatch.setenv("BMP_RESULTS_DIR", str(results))
    record("hybrid-lam240-course-filled", "filled", {"f1": 60.0, "fill_rate": 0.2792533},
           provenance(base_model="embedded", data_split="x", profile="course"), directory=results)
    assert recorded_fill_rate("hybrid-lam240-course-filled", [results]) == 0.279
    assert peer.recorded_fill_rate is peer_plan.recorded_fill_rate  # the command's
    with pytest.raises(ValueError, match="no record named 'hybrid-lam999-course-filled'"):
        recorded_fill_rate("hybrid-lam999-course-filled", [results])
    assert run(peer.main, ["--teacher", str(tmp_path), "--like", "hybrid-lam999-course-filled"]) == 2
    assert "give --density" in capsys.readouterr().err
