"""The live pruning widget's pure part (remask_report) and its wiring, on a tiny pruned run with random scores."""
import os
import shutil
import subprocess
import sys

import pytest
import torch

from bmp.course.remask import eval_subset, load_live_run, remask_report
from bmp.course.tiny_run import make_tiny_run
from bmp.models import load_tokenizer
from bmp.packing.size import linear_params_of_layer
from bmp.profiles import get_profile
from bmp.pruning.masked import MaskedLinear, UnitScores
from bmp.training.evaluation import prepare_data

SMOKE = get_profile("smoke")


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer()


@pytest.fixture(scope="module")
def data(tokenizer):
    return prepare_data(SMOKE, tokenizer)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, tokenizer):
    return make_tiny_run(tmp_path_factory.mktemp("live"), tokenizer=tokenizer)


@pytest.fixture(scope="module")
def run(tiny, data, tokenizer):
    return load_live_run(tiny.run, tiny.teacher, data, tokenizer, subset=24)


def test_the_subset_keeps_the_first_questions_and_only_their_windows(data, tokenizer):
    small = eval_subset(data, tokenizer, 5)
    ids = [example["id"] for example in data.splits.eval[:5]]
    assert [example["id"] for example in small.splits.eval] == ids
    assert set(small.eval_features["example_id"]) == set(ids)
    assert len(small.eval_features) == sum(example_id in ids for example_id in data.eval_features["example_id"])
    with pytest.raises(ValueError, match="at least one"):
        eval_subset(data, tokenizer, 0)


def test_a_higher_threshold_keeps_less_and_changes_f1(run):
    reports = [remask_report(run, value, "sigmoid_threshold") for value in (0.0, 0.3, 0.6, 0.9)]
    densities = [report.linear_density for report in reports]
    assert densities[0] == pytest.approx(1.0) and densities == sorted(densities, reverse=True)
    assert len(set(densities)) == 4
    assert all(sum(a.neurons_per_layer) >= sum(b.neurons_per_layer) for a, b in zip(reports, reports[1:]))
    assert len({round(report.f1, 6) for report in reports}) > 1, "F1 did not move with the masks"
    assert reports[0].f1 == pytest.approx(run.teacher_f1)  # nothing masked: the teacher's weights, the same F1
    assert all(report.questions == 24 and report.packed_ms > 0 and report.teacher_ms > 0 for report in reports)


def test_topk_keeps_the_same_share_of_every_matrix(run):
    keep = 0.3
    report = remask_report(run, keep, "topk")
    attention = 16  # 64 x 64 matrices in 16 x 16 blocks
    neurons = 128
    expected = [round(keep * attention) / attention] * 4 + [round(keep * neurons) / neurons] * 2
    for layer in report.matrix_density:
        assert list(layer) == pytest.approx(expected)
    for module in run.model.modules():  # every score tensor keeps round(keep * n) of its n scores
        if isinstance(module, (MaskedLinear, UnitScores)) and module.scores is not None:
            n = module.scores.numel()
            assert module.method == "topk"
            assert int(module.mask().sum()) == round(keep * n) if isinstance(module, UnitScores) \
                else int(module.block_mask().sum()) == round(keep * n)
    # the same scores by a sigmoid threshold keep a different share in each layer
    sigmoid = remask_report(run, 0.5, "sigmoid_threshold")
    assert len({layer[4] for layer in sigmoid.matrix_density}) > 1


def test_the_packed_size_matches_the_heads_and_neurons_kept(run):
    report = remask_report(run, 0.7, "sigmoid_threshold")
    assert report.packed_heads_per_layer == report.heads_per_layer
    assert report.packed_neurons_per_layer == report.neurons_per_layer
    config = run.model.config
    head_dim = config.hidden_size // config.num_attention_heads
    expected = sum(linear_params_of_layer(config.hidden_size, heads, head_dim, neurons)
                   for heads, neurons in zip(report.heads_per_layer, report.neurons_per_layer))
    assert report.linear_params == expected
    dense = config.num_hidden_layers * linear_params_of_layer(config.hidden_size, config.num_attention_heads,
                                                              head_dim, config.intermediate_size)
    assert report.fill_rate == pytest.approx(expected / dense) and report.fill_rate < 1
    assert report.params < report.dense_params
    assert "fill rate" in report.summary() and "quick estimate" in report.summary()


def test_a_folder_without_scores_is_named_in_the_error(tiny, tmp_path, data, tokenizer):
    bare = tmp_path / "baked-only" / "final"
    shutil.copytree(tiny.run, bare)
    (bare / "masked.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match=r"baked-only/final holds no learned scores.*masked\.safetensors"):
        load_live_run(bare, tiny.teacher, data, tokenizer, subset=4)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_live_run(tmp_path / "nowhere", tiny.teacher, data, tokenizer, subset=4)
    with pytest.raises(ValueError, match="the live widget draws masks by one of"):
        remask_report(load_live_run(tiny.run, tiny.teacher, data, tokenizer, subset=4), 0.5, "magnitude")


def test_the_widget_follows_the_slider_and_the_toggle(run):
    from bmp.course.live import LivePruningWidget

    box = LivePruningWidget(run, method="sigmoid_threshold", value=0.2)
    first_numbers, first_masks = box.numbers.value, bytes(box.masks.value)
    assert "bmp-live-report" in first_numbers and first_masks.startswith(b"\x89PNG")
    box.slider.value = 0.8
    assert box.report.value == 0.8 and box.numbers.value != first_numbers
    assert bytes(box.masks.value) != first_masks
    density = box.report.linear_density
    box.method.value = "topk"  # starts at the share the threshold kept: same size, another shape
    assert box.report.method == "topk" and box.slider.value == pytest.approx(round(density, 2))
    assert box.report.linear_density == pytest.approx(density, abs=0.05)
    assert "TopK" in box.slider.description and box.slider.min > 0
    box.method.value = "sigmoid_threshold"
    assert box.slider.value == pytest.approx(0.8) and box.report.method == "sigmoid_threshold"
    assert box.slider.layout.width == "90%"


def test_bmp_exports_the_widgets_without_importing_them_early():
    code = ("import sys, bmp; assert 'ipywidgets' not in sys.modules and 'matplotlib' not in sys.modules; "
            "from bmp import live_pruning_widget, tradeoff_widget; "
            "assert live_pruning_widget.__module__ == 'bmp.course.live'; "
            "assert tradeoff_widget.__module__ == 'bmp.course.widgets'; "
            "assert {'live_pruning_widget', 'tradeoff_widget'} <= set(bmp.__all__)")
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})


def test_a_target_lands_on_the_runs_scores_and_leaves_the_run_alone(run):
    """The target form of notebook 05: a size asked for is the size packed (the budget counts what packing
    removes), the run's own masks are untouched, and an unreachable target is refused naming the limit."""
    from bmp.course.landing import land
    from bmp.training.target import Target

    before = [m.detach().clone() for m in run.model.parameters()]
    landing = land(run, Target(density=0.6))
    assert landing.fill_rate == pytest.approx(landing.predicted_fill_rate, abs=1e-3)
    assert abs(landing.fill_rate - 0.6) <= 0.1 and landing.measured_speedup > 0 and landing.questions == 24
    assert "asked a fill rate of 0.6" in str(landing)
    assert all(torch.equal(a, b) for a, b in zip(before, run.model.parameters()))
    with pytest.raises(ValueError, match="below the smallest model"):
        land(run, Target(density=0.001))


def test_the_widget_lands_a_target_speed_next_to_the_threshold(run, monkeypatch):
    """The target form of the live widget: a speed asked is landed on the run's own scores (predicted and
    measured shown side by side), the threshold's masks stay as they were, and a refusal is shown, not raised."""
    import bmp.training.target as target_module
    from bmp.course import live
    from bmp.course.live import LivePruningWidget
    from bmp.pruning.budget import CostModel
    from bmp.speed.latency import Architecture, LatencyModel

    def fake_calibration(config, **_):  # set costs, as if timed: a shared machine's timings are too noisy to test on
        cost, architecture = CostModel(1.0, 0.2, 1e-3, head_layer=0.1, unit="seconds"), Architecture.of(config)
        return LatencyModel(cost, architecture, {"threads": 2}, (), 0.0, cost.of(architecture.dense))

    monkeypatch.setattr(target_module, "calibrate", fake_calibration)
    box = LivePruningWidget(run, method="sigmoid_threshold", value=0.2)
    masks_before = [m.detach().clone() for m in run.model.parameters()]
    assert box.target.landing is None and "move the slider" in box.target.status.value
    assert box.target.kept.layout.display == "none"  # no empty image before a landing
    landing = box.target.land(1.5)
    assert landing is box.target.landing and landing.target.speedup == 1.5
    assert landing.predicted_speedup is not None and landing.measured_speedup > 0
    assert "bmp-live-target" in box.target.numbers.value and "1.5x" in box.target.numbers.value
    assert bytes(box.target.kept.value).startswith(b"\x89PNG") and box.target.status.value == ""
    assert box.target.kept.layout.display is None
    assert all(torch.equal(a, b) for a, b in zip(masks_before, run.model.parameters()))
    calibrated = landing.latency
    assert box.target.land(2.0).latency is calibrated  # calibrated once, reused for the next target

    def refuse(*args, **kwargs):
        raise ValueError("target_speedup=9 is beyond the smallest model this architecture packs to")

    monkeypatch.setattr(live, "land", refuse)
    assert box.target.land(3.0) is None and box.target.landing is None
    assert "refused" in box.target.status.value and "smallest model" in box.target.status.value
    assert box.target.numbers.value == "" and bytes(box.target.kept.value) == b""
    assert box.target.kept.layout.display == "none"
    with pytest.raises(ValueError, match="the slider spans"):  # never moved to the slider's end silently
        box.target.land(50.0)
