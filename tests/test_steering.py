"""A target followed by steering λ (the default target method): the controller, the projection onto the budget, the
trainer's λ and the refusals, on the tiny model of test_prune_to_target (which tests the resume of both methods)."""
import math
from dataclasses import replace

import pytest
import torch
from model_helpers import inputs, randomize_scores
from test_prune_to_target import fill_rate, masked_student
from transformers import TrainingArguments

from bmp.models import tiny_bert
from bmp.packing.pack import pack
from bmp.pruning.budget import Budget, UnitBudget
from bmp.pruning.masked import MaskedLinear, UnitScores, add_masks, masked_modules, set_threshold
from bmp.pruning.regularization import l1_sigmoid
from bmp.pruning.steering import Steering
from bmp.training.prune import recipe_for
from bmp.training.target import Target, density_cost, plan
from bmp.training.trainer import PruningRecipe, PruningTrainer

# ---------------------------------------------------------------- the controller

def test_lambda_rises_over_the_allowance_falls_under_it_and_stays_in_bounds():
    steering = Steering(initial=10.0, gain=2.0, lead=0.0, bounds=(1.0, 100.0))
    start = steering.start()
    over = steering.step(start, cost=60.0, allowance=50.0, dense=100.0, rate=0.5, response=4.0)
    assert over.lam == pytest.approx(10.0 * math.exp(2.0 * 0.5 * 0.1))  # 10% of the dense cost over
    assert steering.step(start, 40.0, 50.0, 100.0, 0.5, 4.0).lam == pytest.approx(10.0 / math.exp(0.1))
    assert steering.step(start, 50.0, 50.0, 100.0, 0.5, 4.0).lam == 10.0  # on the allowance: unchanged
    assert steering.step(replace(start, lam=99.0), 100.0, 0.0, 100.0, 5.0, 4.0).lam == 100.0  # never past the bounds
    assert steering.step(replace(start, lam=1.5), 0.0, 100.0, 100.0, 5.0, 4.0).lam == 1.0
    assert steering.regularization(4.0).attention == 4.0 and steering.regularization(4.0).ffn == 8.0


def test_the_gap_is_judged_ahead_at_its_trend():
    """Over the allowance but closing fast: a controller that looks ahead eases off before the scores arrive, where
    one that judges the gap as it is would still pull harder."""
    ahead, now = Steering(lead=1.0, smoothing=0.0), Steering(lead=0.0, smoothing=0.0)
    for steering, rises in ((now, True), (ahead, False)):
        state = steering.step(steering.start(), cost=80.0, allowance=50.0, dense=100.0, rate=0.05, response=40.0)
        closing = steering.step(state, cost=78.0, allowance=50.0, dense=100.0, rate=0.05, response=40.0)
        assert closing.trend == pytest.approx(-0.02) and closing.gap == pytest.approx(0.28)
        assert (closing.lam > state.lam) is rises  # 28% over, but at -2% a step it is gone in 14 of the 40 steps


@pytest.mark.parametrize("knobs,match", [
    (dict(initial=0.0), "initial"), (dict(initial=5.0, bounds=(10.0, 20.0)), "initial"),
    (dict(gain=0.0), "gain"), (dict(ffn_ratio=-1.0), "ffn_ratio"), (dict(lead=-1.0), "lead"),
    (dict(smoothing=1.0), "smoothing"),
])
def test_steering_knobs_out_of_range_are_refused(knobs, match):
    with pytest.raises(ValueError, match=match):
        Steering(**knobs)


# ---------------------------------------------------------------- the projection at the end of a steered run

def _thresholded(name="hybrid", threshold=0.5):
    model = masked_student(name)
    randomize_scores(model)
    set_threshold(model, threshold)  # sigmoid(score) > 0.5: about half the blocks, heads with holes in them
    return model


def _mask(module):
    return (module.mask() if isinstance(module, UnitScores) else module.block_mask()).detach()


@pytest.mark.parametrize("share", [0.6, 1.4])  # below and above what is alive
def test_the_projection_meets_the_budget_and_keeps_the_masks_inside_kept_units(share):
    model = _thresholded()
    budget = UnitBudget(model, Budget(density_cost(model.config), float("inf")))
    alive = budget.alive()
    cost = density_cost(model.config)
    alive_cost = cost.of(budget.shape_of(alive))
    before = [_mask(m).clone() for m in masked_modules(model)]
    dense = cost.of(budget.dense)
    density = min(share * alive_cost / dense, 0.95)
    budget = UnitBudget(model, plan(Target(density=density), model).budget)
    shape = budget.project(alive)
    assert fill_rate(model) == pytest.approx(density, abs=0.03)
    kept = budget.alive()
    modules = masked_modules(model)
    assert budget.shape_of(kept) == shape  # what packing keeps is the shape returned
    if share < 1:
        assert not (kept & ~alive).any()  # over the budget: units only dropped
    else:
        assert (kept & ~alive).any()  # under it: the best pruned units brought back
    importance = torch.cat([g.importance() for g in budget.groups])
    if share < 1:  # worst first: the alive units dropped score below those kept (each layer's FFN is rounded to
        dropped, stayed = importance[alive & ~kept], importance[alive & kept]  # whole multiples, so on average)
        assert dropped.numel() and dropped.mean() < stayed.mean()
    offset = 0
    for group in budget.groups:  # a kept unit keeps its own masks, a unit brought back gets all, a dropped one none
        span = slice(offset, offset + group.count)
        offset += group.count
        keep_, back_ = kept[span].float(), (kept & ~alive)[span].float()
        for source in group.sources:
            old = before[modules.index(source.module)]
            assert torch.equal(_mask(source.module), source.gate(keep_) * torch.maximum(old, source.gate(back_)))
    assert any(bool(((m.block_mask() == 0) & (m.block_mask().amax(dim=1, keepdim=True) > 0)).any())
               for m in modules if isinstance(m, MaskedLinear) and m.part == "attention")  # holes in kept heads
    x = inputs()
    torch.testing.assert_close(pack(model)(**x).start_logits, model(**x).start_logits, atol=1e-5, rtol=0)


# ---------------------------------------------------------------- the trainer

def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def test_the_steerer_pulls_harder_over_the_allowance_and_the_pull_is_in_the_loss(tmp_path):
    """One step of the controller inside the trainer: the size is read at the final threshold (the one in force is
    put back), λ rises when the scores point above the allowance and falls below it, and the loss carries λ."""
    from trainer_helpers import RECIPE, synthetic_qa

    recipe = PruningRecipe(pruning=RECIPE.pruning, score_learning_rate=0.5, target=Target(density=0.4))
    args = TrainingArguments(str(tmp_path), max_steps=10, per_device_train_batch_size=8, report_to=[], use_cpu=True,
                             disable_tqdm=True, dataloader_num_workers=0)
    trainer = PruningTrainer(model=add_masks(tiny_bert(seed=0), recipe.pruning), args=args,
                             train_dataset=synthetic_qa(), recipe=recipe, teacher=tiny_bert(seed=1))
    trainer.create_optimizer()
    trainer.state.max_steps, trainer.state.global_step = 10, 2  # in the ramp: the threshold in force is below 0.1
    schedule = trainer.current_schedule()
    steerer, scores = trainer.steerer, [m.scores for m in masked_modules(trainer.model)]

    def step_with_scores(value):
        with torch.no_grad():
            for s in scores:
                s.fill_(value)
        set_threshold(trainer.model, schedule(2))
        before = steerer.lam
        steerer.on_step_end(args, trainer.state, trainer.control)
        assert all(m.threshold == schedule(2) for m in masked_modules(trainer.model))  # the threshold in force
        return steerer.lam / before

    assert 0 < schedule(2) < sigmoid(-2.5) < schedule.final
    assert step_with_scores(-1.0) > 1  # sigmoid(-1) = 0.27: all alive at the final threshold, over the allowance
    assert step_with_scores(-2.5) < 1  # alive at the threshold in force, but not at the final one: under it
    trainer.model.train()
    batch = trainer.data_collator([synthetic_qa()[i] for i in range(8)])
    losses = []
    for lam in (1.0, 100.0):
        steerer.lam = lam
        torch.manual_seed(0)
        losses.append(float(trainer.compute_loss(trainer.model, batch).detach()))
    pull = [float(l1_sigmoid(trainer.model, recipe.steering.regularization(lam)).detach()) for lam in (1.0, 100.0)]
    assert pull[1] > pull[0] > 0
    assert losses[1] - losses[0] == pytest.approx(pull[1] - pull[0], rel=1e-4)  # the L1 pull, at λ, is in the loss


# ---------------------------------------------------------------- refusals

@pytest.mark.parametrize("make,match", [
    (lambda: PruningRecipe(target=Target(density=0.3), target_method="lagrangian"), "steer, topk"),
    (lambda: recipe_for("hybrid", 10, target_method="topk"), "no target was given"),
])
def test_target_methods_out_of_place_are_refused(make, match):
    with pytest.raises(ValueError, match=match):
        make()
