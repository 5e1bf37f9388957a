"""Run profiles: one frozen config chosen by ``BMP_PROFILE`` (smoke | course | full).

A profile sets sample sizes, sequence length and training length for every heavy step of the course, so that
one environment variable moves the whole project between CI seconds, CPU minutes and GPU paper scale.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

PROFILE_ENV = "BMP_PROFILE"
SEED = 42  # every run's default seed; a run with another seed is named for it (``-s<seed>``)
REPO_ROOT = Path(__file__).resolve().parent.parent  # the checkout: data/, runs/, outputs/ and notebooks/ live here


@dataclass(frozen=True)
class Profile:
    name: str
    data: str  # "sample" (the shipped toy set) or "squad" (official files, dev split by article offline)
    max_train_samples: int | None  # questions; None = all
    max_eval_samples: int | None
    max_seq_length: int
    doc_stride: int
    epochs: float
    batch_size: int
    learning_rate: float
    prune_epochs: float
    prune_learning_rate: float
    score_learning_rate: float  # short runs need faster scores: the reference's 1e-2 assumes ~20 epochs
    prune_lambda: float  # the course's default L1 weight, on the reference's scale (notebooks 05 and 06 share it)
    model: str = "embedded"  # "tiny" (random, for seconds-long smoke runs), "embedded", or a hub name / folder
    # notebook 06's fill, in epochs; None: ``epochs``, as every recorded run fills (``bmp finalize``, the sweep)
    notebook_fill_epochs: float | None = None

    @property
    def course_fill_epochs(self) -> float:
        """How long notebook 06 fills the learner's packed model."""
        return self.epochs if self.notebook_fill_epochs is None else self.notebook_fill_epochs

    def __post_init__(self):
        if self.data not in ("sample", "squad"):
            raise ValueError(f"Profile.data must be 'sample' or 'squad', got {self.data!r}")
        if self.doc_stride >= self.max_seq_length:
            raise ValueError("Profile.doc_stride must be smaller than max_seq_length: lower doc_stride")
        for field in ("epochs", "batch_size", "learning_rate", "prune_epochs", "prune_learning_rate",
                      "score_learning_rate"):
            if getattr(self, field) <= 0:
                raise ValueError(f"Profile.{field} must be positive")
        if self.notebook_fill_epochs is not None and self.notebook_fill_epochs <= 0:
            raise ValueError("Profile.notebook_fill_epochs must be positive, or None to fill for `epochs`")

    def with_(self, **changes) -> "Profile":
        return replace(self, **changes)


PROFILES = {
    "smoke": Profile(
        name="smoke", data="sample", max_train_samples=64, max_eval_samples=32, max_seq_length=128, doc_stride=48,
        epochs=1, batch_size=16, learning_rate=5e-4, prune_epochs=1, prune_learning_rate=5e-4,
        score_learning_rate=1.0, prune_lambda=100.0, model="tiny",  # 7 steps: scores must move fast to prune anything
    ),
    "course": Profile(
        name="course", data="squad", max_train_samples=6000, max_eval_samples=None, max_seq_length=192, doc_stride=64,
        epochs=1, batch_size=16, learning_rate=3e-4, prune_epochs=1, prune_learning_rate=2e-4, score_learning_rate=5e-2,
        prune_lambda=20.0,
        # a full epoch of fill took notebook 06 13 min and `make course` 48 min on 2 cores (2026-11-27); half an
        # epoch keeps the course within 45 min. The recorded runs fill for a full epoch.
        notebook_fill_epochs=0.5,
    ),
    "full": Profile(
        name="full", data="squad", max_train_samples=None, max_eval_samples=None, max_seq_length=384, doc_stride=128,
        epochs=3, batch_size=32, learning_rate=1e-4, prune_epochs=10, prune_learning_rate=1e-4,
        score_learning_rate=1e-2, prune_lambda=10.0,
        model="bert-base-uncased",  # offline, load_profile_model falls back to the embedded model, and says so
    ),
}


def get_profile(name: str | None = None) -> Profile:
    """The profile named ``name``, else ``$BMP_PROFILE``, else ``course``."""
    name = name or os.environ.get(PROFILE_ENV) or "course"
    if name not in PROFILES:
        raise ValueError(f"Unknown profile {name!r}: set {PROFILE_ENV} to one of {', '.join(PROFILES)}")
    return PROFILES[name]
