"""Where the compared speedups come from: one timing run of every model, or each record's own timing.

A record's own ``cpu_speedup`` was measured when its model was made, in its own process and on its own day; two
such numbers differ by more than some of the gaps being compared. A ``timing`` record
(``python -m bmp.bench timing --device cpu --record``) times every model in one interleaved run, so when the newest
one covers every compared run, its speedups are used for all of them ("one-run"); otherwise every run keeps its
own ("per-record"), and the runs the timing record lacks are named so the user knows what to time.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from bmp.results.records import hardware_label
from bmp.speed.timing import CPU_SETTING

ONE_RUN, PER_RECORD = "one-run", "per-record"
MEDIAN = "median-of-runs"  # a one-run source whose speedups are each model's median over several timing runs
# the shape and precision every speed target is stated at (the records' own cpu_speedup uses the same)
TIMED = {"device": "cpu", "dtype": CPU_SETTING.dtype, "batch": CPU_SETTING.batch, "seq": CPU_SETTING.seq}


@dataclass(frozen=True)
class SpeedSource:
    """The one place a comparison's speedups come from, passed around as a single value.

    ``one-run``: ``speedups`` maps record names to the speedups of one timing run measured on ``where``;
    ``per-record``: each record's ``metrics[speed_key]``. ``timing_record`` names the timing record used (or, for
    ``per-record``, the newest one that was not complete); ``missing`` lists the compared runs it lacked."""

    kind: str
    speedups: Mapping[str, float] = field(default_factory=dict, hash=False)
    where: str | None = None
    timing_record: str | None = None
    date: str | None = None
    speed_key: str = "cpu_speedup"
    missing: tuple[str, ...] = ()
    runs: tuple[str, ...] = ()  # the timing records a median over several runs is taken from, oldest first

    def __post_init__(self):
        if self.kind not in (ONE_RUN, PER_RECORD):
            raise ValueError(f"SpeedSource kind {self.kind!r} is unknown: use {ONE_RUN!r} or {PER_RECORD!r}")
        if self.kind == ONE_RUN and not self.speedups:
            raise ValueError("a one-run SpeedSource needs its speedups ({record name: speedup}); "
                             "use SpeedSource.per_record() when there is no timing run")

    @classmethod
    def per_record(cls, speed_key: str = "cpu_speedup", *, timing_record: str | None = None,
                   missing: Iterable[str] = ()) -> "SpeedSource":
        return cls(PER_RECORD, speed_key=speed_key, timing_record=timing_record, missing=tuple(sorted(missing)))

    @classmethod
    def from_timing(cls, record: dict, group: str = "speedups") -> "SpeedSource":
        """The speedups of a ``timing`` record (``group`` "speedups": runs vs the dense base)."""
        if record.get("kind") != "timing":
            raise ValueError(f"record {record.get('name')!r} is of kind {record.get('kind')!r}, not 'timing': pass "
                             "a record written by python -m bmp.bench timing --record")
        metrics, prov = record.get("metrics", {}), record.get("provenance", {})
        hardware = metrics.get("hardware") or hardware_label(prov.get("hardware", {}))
        return cls(ONE_RUN, speedups=dict(metrics.get(group) or {}), where=f"{hardware}, {metrics.get('dtype')}",
                   timing_record=record.get("name"), date=(prov.get("date") or "")[:10] or None)

    @classmethod
    def given(cls, speedups: Mapping[str, float], where: str) -> "SpeedSource":
        """Speedups measured elsewhere (``{record name: speedup}``), all in one run on ``where``."""
        return cls(ONE_RUN, speedups=dict(speedups), where=where)

    @property
    def one_run(self) -> bool:
        return self.kind == ONE_RUN

    def speedup_of(self, record: dict) -> float | None:
        value = (self.speedups.get(record.get("name")) if self.one_run
                 else record.get("metrics", {}).get(self.speed_key))
        return None if value is None else float(value)

    def where_of(self, record: dict) -> str:
        return self.where if self.one_run else speed_label(record, self.speed_key)

    def describe(self) -> str:
        """One line for the README: where the speeds come from, and why not from one run when they don't."""
        if self.one_run:
            return (f"all timed in one run ({self.where}" + (f", {self.date}" if self.date else "") +
                    (f", `{self.timing_record}`" if self.timing_record else "") + ")")
        if self.timing_record is None:
            return "each record's own timing (no CPU fp32 batch 8 x 384 timing record yet)"
        shown = ", ".join(self.missing[:5]) + (f" and {len(self.missing) - 5} more" if len(self.missing) > 5 else "")
        return f"each record's own timing (the newest one-run timing, `{self.timing_record}`, lacks {shown})"

    @property
    def basis(self) -> str:
        """What each speedup is: :data:`MEDIAN` over several timing runs, one timing run's, or each record's own."""
        return MEDIAN if self.one_run and len(self.runs) > 1 else self.kind

    def to_dict(self) -> dict:
        return {"kind": self.kind, "basis": self.basis, "where": self.where, "timing_record": self.timing_record,
                "date": self.date, "speed_key": self.speed_key, "missing": list(self.missing), "runs": list(self.runs)}


def speed_label(record: dict, speed_key: str = "cpu_speedup") -> str:
    """Where a record's ``speed_key`` was measured: the CPU and its threads for ``cpu_speedup``."""
    hw = record.get("provenance", {}).get("hardware", {}) or {}
    if speed_key == "cpu_speedup":
        threads = (record.get("metrics", {}).get("cpu_timing") or {}).get("threads", hw.get("torch_threads", "?"))
        return f"CPU {hw.get('cpu', '?')}, {threads} threads"
    return hardware_label(hw)


def newest_timing(records, shape: Mapping[str, object] = TIMED) -> dict | None:
    """The newest ``timing`` record measured at ``shape`` (device, dtype, batch, seq), or None."""
    matching = [r for r in records if r.get("kind") == "timing"
                and all(r.get("metrics", {}).get(key) == value for key, value in shape.items())]
    return max(matching, key=lambda r: r.get("provenance", {}).get("date", ""), default=None)


def speed_source(records, names: Iterable[str], speed_key: str = "cpu_speedup") -> SpeedSource:
    """One-run speeds when the newest CPU fp32 timing record times every run in ``names``, else per-record ones."""
    names = set(names)
    timing = newest_timing(records)
    if timing is None:
        return SpeedSource.per_record(speed_key)
    source = SpeedSource.from_timing(timing)
    missing = names - set(source.speedups)
    if not names or missing:
        return SpeedSource.per_record(speed_key, timing_record=timing.get("name"), missing=missing)
    return source


__all__ = ["MEDIAN", "ONE_RUN", "PER_RECORD", "TIMED", "SpeedSource", "newest_timing", "speed_label", "speed_source"]
