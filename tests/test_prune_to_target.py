"""Pruning to a target (a packed size or a speed) instead of a lambda: the budget, the latency model, the trainer,
the run's record and the refusals, on a tiny model.

The tiny teacher has hidden size 128 and 3 layers of 4 heads of 32 (so hybrid's and block's 32x32 blocks fit a head
exactly) and an FFN of 256. One head is then 4.2% of the encoder's linear weights and one block-preset FFN unit (32
neurons) 2.1%, fine enough for the packed fill rate to land within 0.03 of the target.
"""
import json
from pathlib import Path

import pytest
import torch
from model_helpers import inputs, randomize_scores
from transformers import TrainingArguments

from bmp.models import load_tokenizer, tiny_bert
from bmp.packing.pack import ALIGN_FFN, pack
from bmp.packing.size import size_report
from bmp.pruning.budget import Budget, CostModel, Shape, UnitBudget
from bmp.pruning.granularity import preset
from bmp.pruning.masked import add_masks, masked_modules, set_threshold
from bmp.speed.latency import Architecture, LatencyModel, calibrate
from bmp.speed.timing import SpeedSetting
from bmp.training.prune import recipe_for, target_from
from bmp.training.target import Target, density_cost, plan
from bmp.training.trainer import PruningRecipe, PruningTrainer

DIMS = dict(hidden_size=128, num_attention_heads=4, intermediate_size=256, num_hidden_layers=3)
PRESETS = ("hybrid", "struct", "block")
# the tiny model at the recorded batch and sequence: 20-150 ms a pass, enough compute for a head to show
QUICK_TIMING = dict(setting=SpeedSetting(batch=8, seq=384), shapes=3, repeats=3)


def tiny_teacher(seed=1):
    return tiny_bert(seed, **DIMS)


def masked_student(name: str, seed=1):
    return add_masks(tiny_teacher(seed), preset(name))


def fill_rate(model) -> float:
    """What finalize reports: the packed model (FFN padded to ALIGN_FFN) against the teacher's dense size."""
    return size_report(pack(model, align_ffn=ALIGN_FFN), tiny_teacher().config).fill_rate


def fake_latency(config, **_) -> LatencyModel:
    """A latency model with set costs, as if timed (a shared machine's timings are too noisy to test on): 1 s
    fixed, a head 0.2 s, a neuron 1 ms, a layer's attention 0.1 s; the dense shape timed as it predicts."""
    cost = CostModel(1.0, 0.2, 1e-3, head_layer=0.1, unit="seconds")
    shapes = ({"heads_per_layer": [4, 4, 4], "neurons_per_layer": [256] * 3, "min_s": 4.5, "predicted_s": 4.468},)
    return LatencyModel(cost, Architecture.of(config), {"device": "cpu", "threads": 2}, shapes, 0.007, 4.468)


# ---------------------------------------------------------------- the budget: units, cost, selection

def test_density_cost_counts_as_packing_does():
    config = tiny_teacher().config
    cost = density_cost(config)
    for shape in (Shape((4, 4, 4), (256, 256, 256)), Shape((1, 0, 3), (8, 0, 200))):
        packed = tiny_bert(**DIMS)
        size = size_report(pack(_with_shape(packed, shape)), config)
        assert cost.of(shape) == size.linear_params


def _with_shape(model, shape: Shape):
    """Zero all but the first heads and neurons of each layer, so that packing gives ``shape``."""
    from bmp.pruning.anatomy import encoder_layers

    with torch.no_grad():
        for part, heads, neurons in zip(encoder_layers(model), shape.heads, shape.neurons):
            part.value.weight[heads * part.head_dim:] = 0
            part.value.bias[heads * part.head_dim:] = 0
            part.ffn_out.weight[:, neurons:] = 0
    return model


@pytest.mark.parametrize("name", PRESETS)
@pytest.mark.parametrize("density", [0.08, 0.3, 0.62, 1.0])
def test_the_final_selection_packs_to_the_target(name, density):
    model = masked_student(name)
    randomize_scores(model)
    target_plan = plan(Target(density=density), model, align_ffn=ALIGN_FFN)
    budget = UnitBudget(model, target_plan.budget)
    assert budget.apply(0.0) == budget.dense  # the schedule starts dense
    shape = budget.apply(1.0)
    assert fill_rate(model) == pytest.approx(density, abs=0.03)
    predicted = target_plan.predicted(shape, model.config)["predicted_fill_rate"]
    assert predicted == pytest.approx(fill_rate(model), abs=1e-4)  # the budget counts what packing keeps
    assert all(n % ALIGN_FFN == 0 for n in shape.neurons)  # nothing for packing to pad
    x = inputs()
    torch.testing.assert_close(pack(model)(**x).start_logits, model(**x).start_logits, atol=1e-5, rtol=0)


def test_a_head_counts_only_when_all_its_blocks_go():
    """Hybrid's blocks follow their head: a dropped head loses every block in Q, K, V and the output, a kept one
    keeps all of them, so no head survives on a stray block."""
    model = masked_student("hybrid")
    randomize_scores(model)
    budget = UnitBudget(model, plan(Target(density=0.3), model).budget)
    shape = budget.apply(1.0)
    from bmp.pruning.anatomy import encoder_layers

    for part, heads in zip(encoder_layers(model), shape.heads):
        for name in ("query", "key", "value"):
            rows = part.get(name).block_mask().amax(dim=1)  # (heads,): 32-row blocks are heads here
            assert rows.sum() == heads and bool((part.get(name).block_mask() == rows[:, None]).all())
        assert part.attn_out.block_mask().amax(dim=0).sum() == heads


def test_units_are_kept_best_first_and_the_best_head_always():
    model = masked_student("struct")
    with torch.no_grad():
        for layer, module in enumerate(m for m in masked_modules(model) if m.kind == "head"):
            module.scores.copy_(torch.tensor([0.0, 1.0, 2.0, 3.0]) + 10 * layer)  # layer 2's heads are the best
        for module in (m for m in masked_modules(model) if m.kind == "neuron"):
            module.scores.fill_(-100.0)  # every neuron below every head
    density = density_cost(model.config)
    dense = density.of(Shape((4,) * 3, (256,) * 3))
    shape = UnitBudget(model, Budget(density, 0.26 * dense)).apply(1.0)
    assert shape.heads == (0, 2, 4) and 0 < sum(shape.neurons) < 20  # layer 2, layer 1's best two, a few neurons
    tiny = UnitBudget(model, Budget(density, density.of(Shape((1, 0, 0), (0, 0, 0))))).apply(1.0)
    assert tiny == Shape((0, 0, 1), (0, 0, 0))  # the smallest model: the best head, nothing else


def test_a_layers_fixed_price_is_paid_once_and_saved_by_emptying_it():
    """With a price for running a layer's attention at all, the selection counts it once per layer that keeps a
    head, and never spends past the allowance."""
    model = masked_student("struct")
    randomize_scores(model)
    latency = fake_latency(model.config)
    budget = UnitBudget(model, Budget(latency.cost, latency.seconds(latency.architecture.dense) / 2.0))
    for progress in (0.3, 0.7, 1.0):
        shape = budget.apply(progress)
        assert latency.cost.of(shape) <= budget.allowance(progress) + 1e-9
    assert latency.speedup(shape) == pytest.approx(2.0, rel=0.02)


def test_set_threshold_hands_the_masks_back_to_the_method():
    model = masked_student("hybrid")
    randomize_scores(model)
    UnitBudget(model, plan(Target(density=0.3), model).budget).apply(1.0)
    set_threshold(model, 0.0)  # sigmoid threshold 0 keeps everything again
    assert all(m.hard is None for m in masked_modules(model))
    assert fill_rate(model) == 1.0


# ---------------------------------------------------------------- the latency model

def test_latency_model_is_fitted_on_timed_shapes_and_reads_back():
    config = tiny_teacher().config
    latency = calibrate(config, **QUICK_TIMING)
    assert latency.cost.unit == "seconds" and latency.matches(config)
    assert len(latency.shapes) == 5 + 3 and all(row["min_s"] > 0 for row in latency.shapes)
    assert latency.shapes[0]["heads_per_layer"] == [4, 4, 4]  # the dense shape is timed too
    assert latency.speedup(latency.architecture.dense) == pytest.approx(1.0)
    again = LatencyModel.from_dict(json.loads(json.dumps(latency.to_dict())))
    assert again == latency
    assert not latency.matches(tiny_bert(**{**DIMS, "num_hidden_layers": 2}).config)


# ---------------------------------------------------------------- training to a target

def sample_windows(tokenizer, count=48):
    from bmp.squad import load_sample, tokenize_train

    return tokenize_train(load_sample().train[:count], tokenizer, 128, 48)


@pytest.fixture(scope="module")
def windows():
    return sample_windows(load_tokenizer("tiny"))


def train_to(name: str, target: Target, steps: int, windows, folder, **recipe_changes) -> PruningTrainer:
    from bmp.squad import train_collator

    tokenizer = load_tokenizer("tiny")
    recipe = PruningRecipe(**{"pruning": preset(name), "score_learning_rate": 0.5, "target": target,
                              **recipe_changes})
    args = TrainingArguments(str(folder), max_steps=steps, per_device_train_batch_size=8, learning_rate=1e-3,
                             report_to=[], use_cpu=True, save_strategy="no", logging_steps=1, disable_tqdm=True,
                             seed=0, data_seed=0, dataloader_num_workers=0)
    trainer = PruningTrainer(model=add_masks(tiny_teacher(), recipe.pruning), args=args, train_dataset=windows,
                             data_collator=train_collator(tokenizer), recipe=recipe, teacher=tiny_teacher())
    trainer.train()
    return trainer


@pytest.mark.parametrize("name,steps,method", [*((name, steps, "steer") for name in PRESETS for steps in (4, 40)),
                                               ("hybrid", 40, "topk")])
def test_training_lands_on_the_target_density_whatever_the_steps(name, steps, method, windows, tmp_path):
    trainer = train_to(name, Target(density=0.4), steps, windows, tmp_path, target_method=method)
    lambdas = {row["lambda"] for row in trainer.state.log_history if "lambda" in row}
    assert bool(lambdas) == (method == "steer") and (len(lambdas) > 1 or steps == 4 or not lambdas)  # logged, moved
    assert fill_rate(trainer.model) == pytest.approx(0.4, abs=0.03)
    packed = pack(trainer.model, align_ffn=ALIGN_FFN)
    assert tuple(packed.config.heads_per_layer) == trainer.final_shape.heads
    assert tuple(packed.config.intermediate_per_layer) == trainer.final_shape.neurons
    budgets = [row["budget"] for row in trainer.state.log_history if "budget" in row]
    assert budgets[0] > budgets[-1] == pytest.approx(0.4, abs=0.03)  # the allowance shrank on the schedule


@pytest.mark.parametrize("method", ["steer", "topk"])
def test_a_resumed_target_run_chooses_the_same_units(method, tmp_path):
    """Both target methods resume exactly; a steered run carries its λ on through the checkpoint."""
    from trainer_helpers import RECIPE, StopAt, masks_of, synthetic_qa

    recipe = PruningRecipe(pruning=RECIPE.pruning, score_learning_rate=0.5, schedule_warmup=0.0,
                           schedule_cooldown=0.25, target=Target(density=0.5), target_method=method)

    def trainer(folder):
        args = TrainingArguments(str(folder), max_steps=8, per_device_train_batch_size=8, learning_rate=1e-3,
                                 save_strategy="steps", save_steps=4, report_to=[], seed=0, data_seed=0,
                                 use_cpu=True, disable_tqdm=True, dataloader_num_workers=0)
        return PruningTrainer(model=add_masks(tiny_bert(seed=0), recipe.pruning), args=args,
                              train_dataset=synthetic_qa(), recipe=recipe, teacher=tiny_bert(seed=1))

    full = trainer(tmp_path / "full")
    full.train()
    cut = trainer(tmp_path / "cut")
    cut.add_callback(StopAt(4))
    cut.train()
    resumed = trainer(tmp_path / "cut")
    if method == "steer":  # a fresh trainer starts from the initial λ, the checkpoint holds where it had got to
        assert resumed.steerer.lam == recipe.steering.initial != cut.steerer.lam
    resumed.train(resume_from_checkpoint=str(tmp_path / "cut" / "checkpoint-4"))
    if method == "steer":
        assert resumed.steerer.lam == pytest.approx(full.steerer.lam, rel=1e-6)
    assert resumed.final_shape == full.final_shape
    for a, b in zip(masks_of(full.model), masks_of(resumed.model)):
        assert torch.equal(a, b)


def test_a_speed_target_records_its_prediction_and_calibration(tmp_path, monkeypatch):
    """bmp.prune with target_speedup: the record holds the target, the predicted speedup and the latency model it
    came from, and the run folder keeps the calibration for a resume."""
    import bmp
    import bmp.training.target as target_module
    from bmp.squad import load_sample

    monkeypatch.setenv("BMP_RESULTS_DIR", str(tmp_path / "results"))
    monkeypatch.setattr(target_module, "calibrate", fake_latency)
    teacher_dir = tmp_path / "teacher"
    tiny_teacher().save_pretrained(teacher_dir)
    load_tokenizer("tiny").save_pretrained(teacher_dir)
    sample = load_sample()
    data = bmp.load_squad(train=sample.train[:32], validation=sample.eval[:8], eval=sample.eval[8:16])
    args = TrainingArguments(str(tmp_path / "run"), max_steps=4, per_device_train_batch_size=8, report_to=[],
                             use_cpu=True, save_strategy="no", disable_tqdm=True, seed=0)
    run = bmp.prune(teacher_dir, data, preset="hybrid", target_speedup=2.5, output_dir=tmp_path / "run", args=args,
                    profile="smoke", score_lr=0.5)
    record = json.loads(Path(run.record_path).read_text())
    metrics, config = record["metrics"], record["config"]
    assert metrics["target_speedup"] == 2.5 and config["recipe"]["target"] == {"density": None, "speedup": 2.5}
    assert metrics["predicted_speedup"] == pytest.approx(2.5, rel=0.03)
    latency = LatencyModel.from_dict(config["latency_model"])
    shape = Shape(tuple(metrics["heads_per_layer"]), tuple(metrics["neurons_per_layer"]))
    assert latency.speedup(shape) == pytest.approx(metrics["predicted_speedup"], rel=1e-3)
    assert config["latency_model"]["shapes"] and config["latency_model"]["setting"]["threads"] == 2
    assert (tmp_path / "run" / target_module.LATENCY_FILE).is_file()
    assert metrics["predicted_fill_rate"] == pytest.approx(fill_rate(run.model), abs=1e-4)


# ---------------------------------------------------------------- refusals, each naming the fix

@pytest.mark.parametrize("values,match", [
    (dict(density=0.0), r"\(0, 1\]"), (dict(density=1.2), r"\(0, 1\]"), (dict(speedup=1.0), "above 1"),
    (dict(speedup=0.5), "above 1"), (dict(density=0.3, speedup=2.0), "not both"), (dict(), "needs"),
])
def test_targets_out_of_range_are_refused(values, match):
    with pytest.raises(ValueError, match=match):
        Target(**values)


def test_a_target_with_lambda_is_refused(tmp_path):
    import bmp

    with pytest.raises(ValueError, match="drop --lam"):
        target_from(None, 2.5, lam_flags={"--lam": 10.0, "--lam-ffn": None})
    with pytest.raises(ValueError, match="drop lam_ffn"):  # before the teacher is even looked for
        bmp.prune(tmp_path / "no teacher", preset="struct", lam_ffn=20, target_density=0.3)
    with pytest.raises(ValueError, match="not both"):
        bmp.prune(tmp_path / "no teacher", target_density=0.3, target_speedup=2.0)


@pytest.mark.parametrize("make,match", [
    (lambda: recipe_for("unstructured", 10, target=Target(density=0.3)), "hybrid, struct or block"),
    (lambda: recipe_for("struct", 10, target=Target(density=0.3), min_heads=1), "min_heads"),
    (lambda: recipe_for("block", 10, target=Target(speedup=2.0), method="magnitude"), "learned"),
    (lambda: PruningRecipe(target=Target(density=0.3), regularization=recipe_for("hybrid", 20).regularization),
     "drop the lambda"),
])
def test_recipes_a_target_cant_go_with_are_refused(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_a_target_beyond_the_architecture_is_refused_naming_the_reach():
    model = masked_student("hybrid")
    with pytest.raises(ValueError, match=r"packs to, 0\.0436 .*at least that"):  # one head: 17,248 of 395,904
        plan(Target(density=0.01), model)
    with pytest.raises(ValueError, match=r"3\.44x .*at most that"):  # 4.468 s dense, 1.3 s with one head
        plan(Target(speedup=50.0), model, latency=fake_latency(model.config))


# ---------------------------------------------------------------- a fixed share instead: --method topk | magnitude

@pytest.mark.parametrize("method", ["topk", "magnitude"])
def test_a_keep_fraction_lands_on_its_share_of_every_matrix(method, windows, tmp_path):
    """``--method topk|magnitude --keep K``: every masked matrix keeps K of its blocks at the end of the schedule,
    so movement and magnitude compare at one density by construction."""
    from bmp.training.prune import method_changes

    changes = method_changes(method, 0.25, None)
    trainer = train_to("block", None, 8, windows, tmp_path, **{"pruning": preset("block", **changes)})
    for module in masked_modules(trainer.model):
        assert float(module.mask().detach().float().mean()) == pytest.approx(0.25, abs=0.02)


@pytest.mark.parametrize("method,keep,target,match", [
    ("sigmoid_threshold", 0.3, None, "add --method topk"),
    ("topk", None, None, "--keep"),
    ("magnitude", 1.5, None, r"\(0, 1\]"),
    ("topk", 0.3, Target(density=0.3), "drop one"),
    ("movement", 0.3, None, "prune with one of"),
])
def test_keep_fractions_out_of_place_are_refused(method, keep, target, match):
    from bmp.training.prune import method_changes

    with pytest.raises(ValueError, match=match):
        method_changes(method, keep, target)


def test_cli_refuses_a_method_without_its_share_without_a_traceback(tmp_path, capsys):
    from bmp.cli import main

    assert main(["prune", "--teacher", str(tmp_path / "none"), "--method", "magnitude"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "--keep" in err and "Traceback" not in err


# ---------------------------------------------------------------- steering's knobs: --ffn-ratio, --steer-lead

def test_steering_knobs_reach_the_recipe_of_a_steered_target_only():
    from bmp.pruning.steering import Steering

    knobs = Steering(ffn_ratio=4.0, lead=1.0)
    recipe = recipe_for("hybrid", 10, target=Target(speedup=2.5), steering=knobs)
    assert recipe.steered and recipe.steering == knobs
    assert recipe.steering.regularization(10.0).ffn == 40.0
    assert recipe_for("hybrid", 10, target=Target(speedup=2.5)).steering == Steering()  # the default, unchanged
    with pytest.raises(ValueError, match="no λ is steered"):
        recipe_for("hybrid", 10, steering=knobs)  # a λ run: nothing is steered
    with pytest.raises(ValueError, match="no λ is steered"):
        recipe_for("hybrid", 10, target=Target(speedup=2.5), target_method="topk", steering=knobs)


@pytest.mark.parametrize("argv,culprit", [
    (["--steer-lead", "1"], "--steer-lead"),                                           # no target
    (["--ffn-ratio", "4", "--target-density", "0.3", "--target-method", "topk"], "--ffn-ratio"),
    (["--ffn-ratio", "0", "--target-density", "0.3"], "ffn_ratio"),                      # out of range
])
def test_cli_refuses_steering_knobs_out_of_place_before_the_teacher_loads(argv, culprit, tmp_path, capsys):
    from bmp.cli import main

    assert main(["prune", "--teacher", str(tmp_path / "none"), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and culprit in err and "Traceback" not in err and "none" not in err
