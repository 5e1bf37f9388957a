"""A run's identity, in one home: what a pruning run was (preset, λ or a target, the FFN's λ, profile, seed, stage)
and the name its folder and records carry, spelled by :attr:`RunId.name` and read back by :meth:`RunId.parse`.

    RunId("hybrid", lam=120, lam_ffn=240, seed=43, stage="filled").name   # 'hybrid-lam120-ffn240-course-s43-filled'
    RunId.parse("hybrid-lam120-ffn240-course-s43-filled").setting          # 'hybrid-lam120-ffn240-course-filled'
    RunId.point("hybrid:120/240@43")                                     # the sweep's command-line form

The seed rule is shared by every record, pruning run or not (``control-course-s43``): a name carries ``-s<seed>``
unless the seed is the default, and :func:`with_seed` / :func:`without_seed` / :func:`seed_in` are its only home.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace

from bmp.profiles import PROFILES, SEED
from bmp.pruning.granularity import PRESETS

SEED_PART = re.compile(r"-s(\d+)(?=-|$)")
STAGES = ("packed", "filled")  # a pruning run's later models; the pruned model itself has no stage
TARGETS = ("density", "speedup")  # what a run may be pruned to instead of a λ
PREFIXES = ("course",)  # runs of the notebooks carry their origin first: course-hybrid-lam20-course
NAME_FORM = ("[course-]PRESET-lamLAMBDA[-ffnLAMBDA]-PROFILE[-sSEED][-packed|-filled] or "
             "[course-]PRESET-speedupS|-densityD-PROFILE[-sSEED][-STAGE]")


def with_seed(base: str, seed: int) -> str:
    """``base``, with ``-s<seed>`` when the seed is not the default: the results group seeds by this part."""
    return base if seed == SEED else f"{base}-s{seed}"


def without_seed(name: str) -> str:
    """``name`` without its ``-s<seed>`` part: the name every seed of a setting shares."""
    return SEED_PART.sub("", name, count=1)


def seed_in(name: str) -> int | None:
    """The seed a name spells (None: the name has no seed part, so the default one)."""
    match = SEED_PART.search(name)
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class RunId:
    preset: str
    lam: float | None = None  # the L1 weight on attention scores; None with a target
    lam_ffn: float | None = None  # None: the FFN is pulled as hard as attention
    target: tuple[str, float] | None = None  # ("speedup", 2.5) or ("density", 0.3), instead of a λ
    profile: str = "course"
    seed: int = SEED
    stage: str | None = None  # None: the pruned model; "packed" or "filled"
    prefix: str | None = None  # "course" for the notebooks' own runs

    def __post_init__(self):
        if self.preset not in PRESETS:
            raise ValueError(f"run preset {self.preset!r} is unknown: choose one of {', '.join(PRESETS)}")
        if (self.lam is None) == (self.target is None):
            raise ValueError("a run is pruned either with a λ or to a target: give exactly one")
        if self.lam is not None and (self.lam < 0 or (self.lam_ffn is not None and self.lam_ffn < 0)):
            raise ValueError(f"run λ {self.lam:g} (FFN {self.lam_ffn}) is negative: use 0 or more, e.g. hybrid:60")
        if self.target is not None and (self.target[0] not in TARGETS or self.target[1] <= 0):
            raise ValueError(f"run target {self.target} must be one of {TARGETS} with a positive value")
        if self.stage not in (None, *STAGES):
            raise ValueError(f"run stage {self.stage!r}: use one of {STAGES} or None for the pruned model")
        if self.prefix not in (None, *PREFIXES):
            raise ValueError(f"run prefix {self.prefix!r}: use one of {PREFIXES} or None")
        if self.lam_ffn is not None and self.lam_ffn == self.lam:
            object.__setattr__(self, "lam_ffn", None)  # the same recipe: one name

    @property
    def recipe(self) -> str:
        """What the run was pruned with: ``lam120-ffn240`` or ``speedup2.5``."""
        if self.target is not None:
            return f"{self.target[0]}{self.target[1]:g}"
        return f"lam{self.lam:g}" + ("" if self.lam_ffn is None else f"-ffn{self.lam_ffn:g}")

    @property
    def name(self) -> str:
        parts = [self.prefix, self.preset, self.recipe, self.profile]
        base = with_seed("-".join(part for part in parts if part), self.seed)
        return base if self.stage is None else f"{base}-{self.stage}"

    @property
    def setting(self) -> str:
        """The name without the seed: what every seed of this setting shares."""
        return replace(self, seed=SEED).name

    def with_(self, **changes) -> "RunId":
        return replace(self, **changes)

    def __str__(self) -> str:
        """The sweep's command-line form (``hybrid:120/240@43``)."""
        ffn = "" if self.lam_ffn is None else f"/{self.lam_ffn:g}"
        what = f"{self.target[0]}={self.target[1]:g}" if self.target else f"{self.lam:g}{ffn}"
        return f"{self.preset}:{what}@{self.seed}"

    @classmethod
    def point(cls, text: str, profile: str = "course") -> "RunId":
        """``PRESET:LAMBDA[/LAMBDA_FFN][@SEED]`` (or ``PRESET:speedup=S`` / ``PRESET:density=D``), as the sweep
        takes points on its command line."""
        try:
            spec, _, seed = text.partition("@")
            preset, what = spec.split(":")
            if "=" in what:
                kind, value = what.split("=")
                return cls(preset, target=(kind, float(value)), profile=profile, seed=int(seed) if seed else SEED)
            lam, slash, lam_ffn = what.partition("/")
            ffn = float(lam_ffn) if slash else None  # "hybrid:60/" is refused: float("") raises
            return cls(preset, float(lam), ffn, profile=profile, seed=int(seed) if seed else SEED)
        except ValueError as err:
            if str(err).startswith("run "):
                raise
            raise ValueError(f"sweep point {text!r} must look like PRESET:LAMBDA[/LAMBDA_FFN][@SEED], e.g. hybrid:60, "
                             "hybrid:60/120 or hybrid:60@43 (or PRESET:speedup=2.5)") from err

    @classmethod
    def parse(cls, name: str) -> "RunId":
        """The run a name spells (see :data:`NAME_FORM`); ValueError for a name no pruning run carries."""
        parts = name.split("-")
        prefix = parts.pop(0) if parts and parts[0] in PREFIXES and len(parts) > 1 and parts[1] in PRESETS else None
        stage = parts.pop() if parts and parts[-1] in STAGES else None
        seed = SEED
        if parts and re.fullmatch(r"s\d+", parts[-1]):
            seed = int(parts.pop()[1:])
        try:
            preset, recipe, profile = parts[0], parts[1:-1], parts[-1]
            if profile not in PROFILES or not recipe:
                raise ValueError
            kind = next((t for t in TARGETS if recipe[0].startswith(t)), None)
            if kind is not None and len(recipe) == 1:
                return cls(preset, target=(kind, float(recipe[0][len(kind):])), profile=profile, seed=seed,
                           stage=stage, prefix=prefix)
            if not recipe[0].startswith("lam") or len(recipe) > 2 or (len(recipe) == 2
                                                                      and not recipe[1].startswith("ffn")):
                raise ValueError
            lam_ffn = float(recipe[1][3:]) if len(recipe) == 2 else None
            return cls(preset, float(recipe[0][3:]), lam_ffn, profile=profile, seed=seed, stage=stage, prefix=prefix)
        except (ValueError, IndexError) as err:
            if str(err).startswith("run "):
                raise
            raise ValueError(f"{name!r} is not the name of a pruning run (they read {NAME_FORM})") from err


__all__ = ["NAME_FORM", "RunId", "SEED_PART", "seed_in", "with_seed", "without_seed"]
