"""Steer λ to a budget: a λ run whose pull is set each step so that the packed size follows the schedule.

A λ run prunes well but lands where it lands; a budget says where to land. Steering trains as a λ run does
(sigmoid-threshold masks moving on the threshold schedule, the L1 pull on sigmoid(scores), the FFN pulled
``ffn_ratio`` times as hard as attention) and makes λ the one thing that is controlled. Two things differ: the pull
is λ itself from the first step (a λ run ramps it in with the schedule; here the controller does), and λ moves.
After every step the size the scores point at (the heads and FFN neurons alive at the *final* threshold, counted as
packing counts them) is set against the allowance of the schedule at that step (the dense cost at its start, the
budget from its cool-down on), and log λ moves by ``gain`` times the gap as a share of the dense cost, times the
scores' learning rate as scheduled at that step: over the allowance, pull harder; under it, ease off. An integral
controller in log space, so λ stays positive and a gap moves it by the same factor at any scale; with ``lead``, the
gap is judged that many response times ahead, at its present trend (a derivative look-ahead).

The size is read at the final threshold because the threshold in force lags on its schedule (and keeps everything
during warm-up) whatever the scores say. The scores' learning rate sets how fast they can answer a change of pull
(a score crosses the final threshold after about ``|logit(0.1)| / rate`` steps of steady push, the response
time), so λ moves no faster than that, and stops with them as the rate decays.

Overshoot, as recorded: judging the gap as it is (``lead=0``, the default), the steered course run to 2.5x
(``data/results/target-front``) kept raising λ while the scores were still on their way, pruned well past its
budget in the ramp and never grew back as λ came down; the projection at the end brought back the best pruned units
whole, and the fill trained them in again. ``lead=1`` (ease off while the size is still falling fast) was meant
against that, and measured from the same teacher (``python -m bmp prune --steer-lead 1``): asked 4x, it pruned
further still (15 heads against 19, λ ending at 115 against 109) and timed at 4.70x against 3.77x for ``lead=0`` in
the same timing runs, outside the ±10% a target must land in, and scored less after the fill (56.2 validation F1
against 57.0). Early in the ramp the size lags the falling allowance, so the gap's trend points up and a look-ahead
pulls harder, not softer. So the default stays ``lead=0``.

The run ends with a projection onto the budget (:meth:`bmp.pruning.budget.UnitBudget.project`), which changes only
the units at the margin when the controller has kept up with the schedule.

Why steer rather than rank units by their scores directly (the ``topk`` target method): the top-k runs to a
speed from the course's teacher (``data/results/landing``) spread the FFN evenly over the layers and scored well
below λ runs of the same speed, which prune the last layers' FFN hardest; ranking units from different layers by
their raw scores is what a λ run avoids, since its pull is the same everywhere and each score answers it alone.
``scripts/target_front.sh`` sets both methods against a λ front from one teacher (``docs/results.md``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from bmp.pruning.regularization import Regularization


@dataclass(frozen=True)
class SteeringState:
    """Where the controller is: ``lam``, the last gap (cost minus allowance, as a share of the dense cost; None
    before the first step) and ``trend``, the gap's smoothed change per step."""

    lam: float
    gap: float | None = None
    trend: float = 0.0


@dataclass(frozen=True)
class Steering:
    """How λ is steered. ``initial``: λ at the first step, on the reference's scale; ``gain``: the change of log λ per
    step for a gap of the whole dense cost, per unit of the scores' learning rate (at a rate of 0.05, a gap of 10%
    of the dense cost moves λ by ``exp(0.1 * 0.05 * gain)``, 1% at the default gain, a step); ``lead``: how far
    ahead the gap is judged, in the scores' response times (the gap then, at its present trend: a controller that
    waited for the scores to arrive would keep pulling while they are on their way, and overshoot); ``smoothing``:
    of the trend, per step; ``ffn_ratio``: the FFN's λ over attention's (2: the balance of the recorded front's best
    points); ``bounds``: λ never leaves them."""

    initial: float = 10.0
    gain: float = 2.0
    lead: float = 0.0  # the recorded steered runs judged the gap as it is (see the module's note on overshoot)
    smoothing: float = 0.9
    ffn_ratio: float = 2.0
    bounds: tuple[float, float] = (1e-2, 1e4)

    def __post_init__(self):
        low, high = self.bounds
        if not (0 < low <= self.initial <= high and math.isfinite(high)):
            raise ValueError(f"steering needs 0 < bounds[0] <= initial <= bounds[1] < inf, got initial={self.initial}"
                             f" and bounds={self.bounds}")
        if not (self.gain > 0 and self.ffn_ratio > 0 and self.lead >= 0 and 0 <= self.smoothing < 1):
            raise ValueError(f"steering needs a gain > 0, an ffn_ratio > 0, a lead >= 0 and a smoothing in [0, 1), got "
                             f"gain={self.gain}, ffn_ratio={self.ffn_ratio}, lead={self.lead}, "
                             f"smoothing={self.smoothing}")

    def start(self) -> SteeringState:
        return SteeringState(self.initial)

    def step(self, state: SteeringState, cost: float, allowance: float, dense: float, rate: float,
             response: float) -> SteeringState:
        """The state after a step whose packed ``cost`` met the schedule's ``allowance`` (both in the unit of the
        ``dense`` cost), with the scores' learning ``rate`` and their ``response`` (steps a score takes to cross the
        final threshold at that rate, capped by the caller at the steps left)."""
        if not (dense > 0 and rate > 0 and response >= 0):
            raise ValueError(f"the dense cost and the scores' learning rate must be positive and the response time "
                             f"not negative, got {dense}, {rate} and {response}")
        gap = (cost - allowance) / dense
        change = 0.0 if state.gap is None else gap - state.gap
        trend = self.smoothing * state.trend + (1 - self.smoothing) * change
        ahead = gap + self.lead * response * trend
        low, high = self.bounds
        return SteeringState(min(max(state.lam * math.exp(self.gain * rate * ahead), low), high), gap, trend)

    def regularization(self, lam: float) -> Regularization:
        """The L1 pull at λ: attention at ``lam``, the FFN at ``ffn_ratio`` times it."""
        return Regularization(attention=lam, ffn=lam * self.ffn_ratio)


__all__ = ["Steering", "SteeringState"]
