"""Masks, binarizers and the straight-through gradient, on a tiny random BERT."""
import pytest
import torch
from model_helpers import inputs, randomize_scores

from bmp.models import tiny_bert
from bmp.pruning.anatomy import UnsupportedModelError, encoder_layers
from bmp.pruning.binarizers import TopK, global_topk_masks, sigmoid_threshold_mask
from bmp.pruning.granularity import PruningConfig, preset
from bmp.pruning.kept import kept_report
from bmp.pruning.masked import MaskedLinear, UnitScores, add_masks, baked_copy, masked_modules, set_threshold
from bmp.pruning.schedule import CubicSchedule

GRANULARITIES = {
    "unstructured": PruningConfig(attention=(1, 1), ffn=(1, 1)),
    "block16": PruningConfig(attention=(16, 16), ffn=(16, 32)),
    "block_rect": PruningConfig(attention=(8, 32), ffn=(32, 4)),
    "struct": PruningConfig(attention="head", ffn="neuron"),
    "hybrid": PruningConfig(attention=(16, 16), ffn="neuron"),
}


@pytest.mark.parametrize("name", GRANULARITIES)
def test_all_ones_mask_reproduces_dense_logits(name):
    dense = tiny_bert()
    masked = add_masks(tiny_bert(), GRANULARITIES[name])  # threshold 0, scores 0: sigmoid 0.5 > 0 keeps all
    x = inputs()
    torch.testing.assert_close(masked(**x).start_logits, dense(**x).start_logits, rtol=0, atol=0)
    torch.testing.assert_close(masked(**x).end_logits, dense(**x).end_logits, rtol=0, atol=0)


@pytest.mark.parametrize("name", GRANULARITIES)
def test_baked_copy_equals_masked_model(name):
    masked = add_masks(tiny_bert(), GRANULARITIES[name])
    randomize_scores(masked)
    set_threshold(masked, 0.5)
    baked = baked_copy(masked)
    assert not any(isinstance(m, (MaskedLinear, UnitScores)) for m in baked.modules())
    x = inputs()
    torch.testing.assert_close(baked(**x).start_logits, masked(**x).start_logits)
    assert kept_report(baked).to_dict() == kept_report(masked).to_dict()


def _effective_weight_grads(model, x):
    """Run forward/backward while keeping dL/dW' and dL/db' for every masked layer (W' = W * M)."""
    kept = {}
    for module in model.modules():
        if isinstance(module, MaskedLinear):
            original = module.masked_weight_and_bias

            def capture(module=module, original=original):
                weight, bias = original()
                weight.retain_grad()
                if bias is not None:
                    bias.retain_grad()
                kept[module] = (weight, bias)
                return weight, bias

            module.masked_weight_and_bias = capture
    out = model(**x)
    (out.start_logits.square().sum() + out.end_logits.sum()).backward()
    return kept


@pytest.mark.parametrize("name", GRANULARITIES)
def test_straight_through_gradient_is_block_summed_movement(name):
    """dL/dS = sum over the block of (dL/dW') * W, summed over every matrix that shares the score."""
    model = add_masks(tiny_bert(), GRANULARITIES[name])
    randomize_scores(model)
    set_threshold(model, 0.3)
    kept = _effective_weight_grads(model, inputs())
    for module in masked_modules(model):
        expected = torch.zeros_like(module.scores)
        if isinstance(module, MaskedLinear):
            bh, bw = module.block
            movement = kept[module][0].grad * module.weight
            r, c = expected.shape
            expected += movement.reshape(r, bh, c, bw).sum(dim=(1, 3))
        else:  # unit scores: rows of the layers that take them as rows, columns of the others; biases get no vote
            for linear, (weight, bias) in kept.items():
                if linear.row_scores is module:
                    movement = (weight.grad * linear.weight).sum(dim=1)
                    expected += movement.view(-1, module.unit).sum(dim=1)
                if linear.col_scores is module:
                    movement = (weight.grad * linear.weight).sum(dim=0)
                    expected += movement.view(-1, module.unit).sum(dim=1)
        torch.testing.assert_close(module.scores.grad, expected, rtol=1e-4, atol=1e-6)


def test_topk_keeps_exact_count():
    scores = torch.randn(37, 11)
    for keep in (0.0, 0.1, 0.333, 0.5, 1.0):
        assert TopK.apply(scores, keep).sum().item() == round(keep * scores.numel())
    tensors = [torch.randn(5, 7), torch.randn(13), torch.randn(2, 3)]
    for keep in (0.2, 0.75):
        total = sum(t.numel() for t in tensors)
        assert sum(m.sum().item() for m in global_topk_masks(tensors, keep)) == int(keep * total + 0.5)


def test_topk_global_counts_the_weights_each_score_covers():
    """A head score covering 64 weights must not trade one-for-one with a neuron score covering 1."""
    heads, neurons = torch.tensor([5.0, 1.0]), torch.linspace(0, 4, 128)
    masks = global_topk_masks([heads, neurons], keep=0.5, covers=[64, 1])  # 256 weights; budget 128
    kept = 64 * masks[0].sum() + masks[1].sum()
    assert masks[0].tolist() == [1.0, 0.0]  # the best head (64) plus the 64 best neurons, not 64 of 130 scores
    assert kept == 128 and masks[1][-64:].all() and not masks[1][:64].any()


def test_topk_global_on_model_keeps_exact_count():
    model = add_masks(tiny_bert(), PruningConfig(attention=(16, 16), ffn=(16, 16), method="topk_global",
                                                 initial_threshold=1.0, final_threshold=0.25))
    randomize_scores(model)
    set_threshold(model, 0.25)
    masks = [m.block_mask() for m in masked_modules(model)]
    total = sum(m.numel() for m in masks)
    assert sum(m.sum().item() for m in masks) == int(0.25 * total + 0.5)


def test_magnitude_keeps_largest_blocks():
    model = add_masks(tiny_bert(), PruningConfig(attention=(16, 16), ffn=(16, 16), method="magnitude",
                                                 initial_threshold=1.0, final_threshold=0.5))
    set_threshold(model, 0.5)
    layer = encoder_layers(model)[0].query
    blocks = layer.weight.detach().abs().reshape(4, 16, 4, 16).sum(dim=(1, 3))
    mask = layer.block_mask()
    assert mask.sum().item() == 8
    assert blocks[mask.bool()].min() >= blocks[~mask.bool()].max()


def test_schedule_hits_endpoints_and_is_monotone():
    schedule = CubicSchedule.from_fractions(0.0, 0.1, total_steps=100, warmup=0.1, cooldown=0.2)
    assert schedule(0) == 0.0 and schedule(9) == 0.0
    assert schedule(80) == pytest.approx(0.1) and schedule(100) == pytest.approx(0.1)
    values = [schedule(s) for s in range(101)]
    assert all(a <= b for a, b in zip(values, values[1:]))
    keep = CubicSchedule(1.0, 0.2, total_steps=50)
    assert keep(0) == 1.0 and keep(50) == pytest.approx(0.2)


def test_every_head_of_a_layer_pruned_is_allowed_and_reported():
    model = add_masks(tiny_bert(), preset("struct"))
    part = encoder_layers(model)[0]
    with torch.no_grad():
        part.layer.head_scores.scores.fill_(-10.0)
    set_threshold(model, 0.1)
    report = kept_report(model)
    assert report.heads == [0, 4]
    assert torch.isfinite(model(**inputs()).start_logits).all()


def test_bias_of_a_dead_row_is_masked():
    model = add_masks(tiny_bert(), preset("struct"))
    part = encoder_layers(model)[0]
    with torch.no_grad():
        part.ffn_in.bias.uniform_(0.5, 1.0)  # BERT initialises biases at zero
        part.layer.neuron_scores.scores[:5] = -10.0
    set_threshold(model, 0.1)
    _, bias = part.ffn_in.masked_weight_and_bias()
    assert (bias[:5] == 0).all() and (bias[5:] != 0).all()


@pytest.mark.parametrize("bad", [
    lambda: add_masks(tiny_bert(), PruningConfig(attention=(24, 16))),
    lambda: PruningConfig(final_threshold=1.5),
    lambda: PruningConfig(method="topk", final_threshold=-0.1),
    lambda: PruningConfig(attention="neuron"),
    lambda: PruningConfig(method="magnitude", attention="head"),
    lambda: sigmoid_threshold_mask(torch.zeros(3), 1.2),
    lambda: CubicSchedule(0, 1, total_steps=10, warmup_steps=6, cooldown_steps=6),
])
def test_bad_configuration_names_the_fix(bad):
    with pytest.raises(ValueError) as err:
        bad()
    assert any(word in str(err.value) for word in ("choose", "must", "use", "lies", "shorten", "fraction"))


def test_block_error_says_what_divides():
    with pytest.raises(ValueError, match="does not divide a 64x64"):
        add_masks(tiny_bert(), PruningConfig(attention=(24, 16)))


def test_unsupported_model_is_named():
    with pytest.raises(UnsupportedModelError, match="expected model.bert.encoder.layer"):
        add_masks(torch.nn.Sequential(torch.nn.Linear(4, 4)), preset("hybrid"))


SYNCING = ("item", "tolist", "numpy", "nonzero", "__bool__", "__int__", "__float__", "__index__")


def test_masked_forward_makes_no_host_sync(monkeypatch):
    """A value read back to the host (.item(), bool(t), .tolist(), nonzero ...) in forward would force a GPU sync
    each step. With CUDA, its sync debug mode raises on any; on CPU every such Tensor method is spied on."""
    model = add_masks(tiny_bert(), preset("hybrid", attention=(16, 16)))
    set_threshold(model, 0.05)
    x = inputs()
    dense_calls = []
    for name in SYNCING:
        original = getattr(torch.Tensor, name)
        monkeypatch.setattr(torch.Tensor, name, lambda self, *a, _o=original, _n=name, **k:
                            (dense_calls.append(_n), _o(self, *a, **k))[1])
    tiny_bert()(**x)  # how many the plain model makes (transformers' own checks), to subtract
    baseline = list(dense_calls)
    dense_calls.clear()
    model(**x)
    assert sorted(dense_calls) == sorted(baseline), f"masking added host syncs: {dense_calls} vs {baseline}"
    if torch.cuda.is_available():
        cuda_model, cuda_x = model.cuda(), {k: v.cuda() for k, v in x.items()}
        torch.cuda.set_sync_debug_mode("error")
        try:
            cuda_model(**cuda_x)
        finally:
            torch.cuda.set_sync_debug_mode("default")


def test_layer_with_every_head_and_neuron_masked_packs_exactly():
    """Output biases survive when all heads (or neurons) die: the layer computes LayerNorm(residual + bias)."""
    from bmp.packing.pack import pack

    model = add_masks(tiny_bert(), preset("struct"))
    randomize_scores(model)
    parts = encoder_layers(model)
    with torch.no_grad():
        parts[0].layer.head_scores.scores.fill_(-10.0)
        parts[1].layer.neuron_scores.scores.fill_(-10.0)
    set_threshold(model, 0.1)
    assert kept_report(model).heads[0] == 0 and kept_report(model).neurons[1] == 0
    x = inputs()
    packed = pack(model)
    torch.testing.assert_close(packed(**x).start_logits, model(**x).start_logits, atol=1e-5, rtol=0)


# ---------------------------------------------------------------- recipe: every method starts dense, struct balance

PRESET_METHODS = [(name, method) for name in ("unstructured", "block", "struct", "hybrid")
                  for method in ("sigmoid_threshold", "threshold", "topk", "topk_global", "magnitude")
                  if not (method == "magnitude" and name in ("struct", "hybrid"))]


@pytest.mark.parametrize("name,method", PRESET_METHODS)
def test_every_preset_and_method_starts_dense(name, method):
    from bmp.training.trainer import PruningRecipe

    config = preset(name, method=method, **({"attention": (16, 16), "ffn": (16, 16)} if name == "block" else
                                           {"attention": (16, 16)} if name == "hybrid" else {}))
    model = add_masks(tiny_bert(), config)
    set_threshold(model, PruningRecipe(pruning=config).schedule(100)(0))
    assert kept_report(model).linear_density == 1.0


def test_magnitude_with_heads_or_neurons_is_refused_with_the_fix():
    with pytest.raises(ValueError, match="use block granularities"):
        preset("struct", method="magnitude")


@pytest.mark.parametrize("bad,match", [
    (lambda: PruningConfig(method="topk", initial_threshold=0.1, final_threshold=0.5), "must not grow"),
    (lambda: PruningConfig(method="threshold", initial_threshold=0.0), "masks every score"),
    (lambda: PruningConfig(attention=(16, 16), min_heads=1), "needs attention='head'"),
])
def test_recipes_that_would_not_start_dense_are_refused(bad, match):
    with pytest.raises(ValueError, match=match):
        bad()


@pytest.mark.parametrize("method,value", [("sigmoid_threshold", -0.1), ("sigmoid_threshold", 1.0),
                                          ("topk", 1.5), ("topk_global", -0.2)])
def test_set_threshold_refuses_values_outside_the_methods_range(method, value):
    model = add_masks(tiny_bert(), preset("hybrid", attention=(16, 16), method=method))
    with pytest.raises(ValueError, match=f"threshold={value}"):
        set_threshold(model, value)


def test_rectangular_attention_block_masks_the_output_columns_and_packs_exactly():
    """A (1, hidden) block is one score per Q/K/V row, and one per attention-output *column*."""
    from bmp.packing.pack import pack

    model = add_masks(tiny_bert(), PruningConfig(attention=(1, 64), ffn="dense"))
    part = encoder_layers(model)[0]
    assert part.query.scores.shape == (64, 1) and part.attn_out.scores.shape == (1, 64)
    randomize_scores(model)
    head = slice(16, 32)  # head 1 of 4 (head_dim 16): kill its V rows and its output columns
    with torch.no_grad():
        part.value.scores[head] = -10.0
        part.attn_out.scores[:, head] = -10.0
    set_threshold(model, 0.5)
    out_mask = part.attn_out.mask()
    assert not out_mask[:, head].any() and out_mask.any(dim=0).sum() <= 64 - 16
    packed = pack(model)
    x = inputs()
    torch.testing.assert_close(packed(**x).start_logits, model(**x).start_logits, rtol=1e-4, atol=1e-4)
    assert packed.config.heads_per_layer[0] <= 3


def test_head_floor_keeps_the_best_heads_of_every_layer():
    model = add_masks(tiny_bert(), preset("struct", min_heads=2))
    with torch.no_grad():
        for part in encoder_layers(model):
            part.layer.head_scores.scores.copy_(torch.tensor([-9.0, -5.0, -7.0, -8.0]))
    set_threshold(model, 0.1)
    assert kept_report(model).heads == [2, 2]
    kept = encoder_layers(model)[0].layer.head_scores.mask()
    assert kept.tolist() == [0.0, 1.0, 1.0, 0.0]


def test_bias_mask_passes_no_gradient_to_scores():
    """Unit scores, like block scores, learn from the weights' movement only (the bias follows, without a vote)."""
    model = add_masks(tiny_bert(), preset("struct"))
    randomize_scores(model)
    set_threshold(model, 0.3)
    part = encoder_layers(model)[0]
    _, bias = part.ffn_in.masked_weight_and_bias()
    scores = part.layer.neuron_scores.scores
    (grad,) = torch.autograd.grad(bias.sum(), scores, allow_unused=True)
    assert grad is None or not grad.any()


def test_saved_scores_redraw_the_same_masks(tmp_path):
    from bmp.pruning.masked import load_masked, save_masked

    config = preset("hybrid", attention=(16, 16))
    model = add_masks(tiny_bert(), config)
    randomize_scores(model)
    set_threshold(model, 0.4)
    save_masked(model, config, tmp_path)
    again, loaded_config = load_masked(baked_copy(model), tmp_path)
    assert loaded_config == config
    for threshold in (0.4, 0.2, 0.7):  # 0.2 keeps blocks the bake zeroed: only the saved weights have them
        set_threshold(model, threshold)
        set_threshold(again, threshold)
        x = inputs()
        torch.testing.assert_close(again(**x).start_logits, model(**x).start_logits, rtol=0, atol=0)


PACK_PRESETS = {"unstructured": {}, "block": {"attention": (16, 16), "ffn": (16, 16)}, "struct": {},
                "hybrid": {"attention": (16, 16)}}


@pytest.mark.parametrize("name", PACK_PRESETS)
@pytest.mark.parametrize("activation", ["relu", "gelu", "gelu_new"])
@pytest.mark.parametrize("align_ffn", [1, 8])
def test_packed_equals_masked_at_every_preset(name, activation, align_ffn):
    """Random scores, random biases, one layer with everything pruned: the packed model computes the masked
    model's function, whatever the preset, the activation and the alignment padding."""
    from bmp.packing.pack import pack

    model = add_masks(tiny_bert(num_hidden_layers=3, hidden_act=activation), preset(name, **PACK_PRESETS[name]))
    randomize_scores(model, seed=3)
    with torch.no_grad():
        for module in masked_modules(encoder_layers(model)[1].layer):
            module.scores.fill_(-10.0)  # layer 1 loses every head and neuron
    set_threshold(model, 0.5)
    packed = pack(model, align_ffn=align_ffn)
    assert packed.config.heads_per_layer[1] == 0 and packed.config.intermediate_per_layer[1] == 0
    assert all(n % align_ffn == 0 for n in packed.config.intermediate_per_layer)
    x = inputs()
    for key in ("start_logits", "end_logits"):
        torch.testing.assert_close(getattr(packed(**x), key), getattr(model(**x), key), rtol=1e-4, atol=1e-4)
