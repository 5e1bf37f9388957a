"""Fronts: every run from one teacher, made on one kind of CPU, each with its per-question predictions.

A front's runs start from its teacher, its control or its pruned models, and those live in the ignored ``runs/``,
which a fresh checkout lacks: they are rebuilt by rerunning their records' commands, and a rebuilt model is used only
when it scores what its record says (``python -m bmp rescore --rebuilt``). Training reproduces that closely on the
CPU kind that made it, not on another: the same fp32 run differs in the last bits between an Intel Xeon and an AMD
EPYC, and a whole training run drifts apart. So each CPU kind keeps its own front, and every comparison is made
within one front, held to that front's own reference. A front goes on only while its teacher can be rebuilt: its
record names the seed its new head was drawn with (``init_seed``). The first front (``data/results/target-front``,
an Intel Xeon's, which also holds the λ front its targets were set against) drew its teacher's head from an unseeded
generator, so it stands as recorded, and a further one is ``data/results/front-<cpu>`` (``-2``, ``-3``... after a
closed one).

    python -c "from bmp.results.fronts import front_of_this_cpu; print(front_of_this_cpu())"  # scripts/front.sh
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from bmp.results.records import INIT_SEED_KEY, RESULTS_DIR, cpu_model, load_records, repo_relative

FRONT_DIR = RESULTS_DIR / "target-front"  # the first front: targets against a λ front (scripts/target_front.sh)
FURTHER_FRONTS = "front-*"  # one per further CPU kind, begun by scripts/review_front.sh
TEACHER = "dense-course"  # each front's teacher, as notebook 04 trains it


@dataclass(frozen=True)
class Front:
    """A front's folder and its records; its CPU is the one its teacher was trained on."""

    folder: Path
    records: tuple[dict, ...]

    @property
    def teacher(self) -> dict | None:
        return next((r for r in self.records if r.get("kind") == "dense" and r.get("name") == TEACHER), None)

    @property
    def cpu(self) -> str | None:
        return None if self.teacher is None else self.teacher["provenance"]["hardware"].get("cpu_model")

    @property
    def open(self) -> bool:
        """Whether runs can still be added: its teacher is yet to be trained, or can be rebuilt (a seeded head)."""
        return self.teacher is None or self.teacher.get("config", {}).get(INIT_SEED_KEY) is not None

    @property
    def label(self) -> str:
        """The CPU in a few words ("Intel Xeon", "AMD EPYC"): the front's name in tables."""
        if self.cpu is None:
            return self.folder.name
        words = re.sub(r"\((R|TM)\)|\bProcessor\b|\bCPU\b|@.*", " ", self.cpu).split()
        return " ".join(words) or self.folder.name

    def any_filled(self) -> bool:
        return any(r.get("kind") == "filled" for r in self.records)


def front_dirs(results_dir=None) -> list[Path]:
    """Every front's folder: the first, then the further ones by name."""
    root = Path(results_dir) if results_dir is not None else RESULTS_DIR
    return [d for d in (root / FRONT_DIR.name, *sorted(root.glob(FURTHER_FRONTS))) if d.is_dir()]


def fronts(results_dir=None) -> list[Front]:
    return [Front(folder, tuple(load_records(folder))) for folder in front_dirs(results_dir)]


def front_of_cpu(cpu: str, results_dir=None) -> Path:
    """The open front whose teacher was trained on ``cpu``, else the folder a front begun on it gets (beside any
    closed one of that CPU)."""
    root = Path(results_dir) if results_dir is not None else RESULTS_DIR
    made = [front.folder for front in fronts(root) if front.cpu == cpu and front.open]
    if made:
        return made[0]
    base = FURTHER_FRONTS.replace("*", re.sub(r"[^a-z0-9]+", "-", cpu.lower()).strip("-") or "cpu")
    names = (base if n == 1 else f"{base}-{n}" for n in range(1, 1000))
    return next(root / name for name in names if not (root / name).exists())


def front_of_this_cpu() -> str:
    """This machine's front, repo-relative (what scripts/front.sh writes its records to)."""
    return repo_relative(front_of_cpu(cpu_model()))


__all__ = ["FRONT_DIR", "Front", "front_dirs", "front_of_cpu", "front_of_this_cpu", "fronts"]
