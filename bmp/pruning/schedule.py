"""Cubic threshold schedule (Zhu & Gupta 2017, as used by movement pruning): pure functions of the step."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CubicSchedule:
    """``initial`` for the first ``warmup_steps``, then a cubic ramp to ``final``, flat for the last ``cooldown_steps``.

    The reference recipe keeps 1x the LR warm-up flat at the start and 10x at the end; :meth:`from_fractions` builds
    that from shares of the total number of steps.
    """

    initial: float
    final: float
    total_steps: int
    warmup_steps: int = 0
    cooldown_steps: int = 0

    def __post_init__(self):
        if self.total_steps <= 0:
            raise ValueError(f"total_steps must be positive, got {self.total_steps}")
        if self.warmup_steps < 0 or self.cooldown_steps < 0:
            raise ValueError("warmup_steps and cooldown_steps must be >= 0")
        if self.warmup_steps + self.cooldown_steps > self.total_steps:
            raise ValueError(
                f"warmup ({self.warmup_steps}) + cooldown ({self.cooldown_steps}) exceed total_steps "
                f"({self.total_steps}): shorten them or train longer")

    @classmethod
    def from_fractions(cls, initial: float, final: float, total_steps: int, warmup: float = 0.1,
                       cooldown: float = 0.1) -> "CubicSchedule":
        return cls(initial, final, total_steps, int(round(warmup * total_steps)), int(round(cooldown * total_steps)))

    def progress(self, step: int) -> float:
        """0 during warm-up, 1 from the start of the cool-down on, cubic in between."""
        ramp = self.total_steps - self.warmup_steps - self.cooldown_steps
        if step < self.warmup_steps:
            return 0.0
        if ramp <= 0 or step >= self.warmup_steps + ramp:
            return 1.0
        t = (step - self.warmup_steps) / ramp
        return 1.0 - (1.0 - t) ** 3

    def __call__(self, step: int) -> float:
        return self.initial + (self.final - self.initial) * self.progress(step)
