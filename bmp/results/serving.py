"""What serving gives, checked on the records: ONNX Runtime int8 against torch, and what int8 costs in F1.

Two kinds of record feed it:

- the deploy bench (``python -m bmp.bench deploy --shape best:4 --record``): torch dense fp32, torch packed and
  ONNX Runtime fp32 / int8 timed in one run at the shape of the best model at >= 4x;
- ship records (``python -m bmp ship --best S``, kind ``deploy-accuracy``): a trained model's held-out F1 in torch
  fp32, ONNX Runtime fp32 and ONNX Runtime int8, and each form's answers; the int8 cost of each shipped model is
  judged on its paired interval by the one verdict rule (:func:`bmp.results.intervals.judge`).

The combined speedup (ONNX Runtime int8 packed against torch dense fp32) is paired with the int8 F1 of the run whose
shape was timed, measured against the reference of :mod:`bmp.results.analysis`.
"""
from __future__ import annotations

from dataclasses import dataclass

from bmp.deploy.runtime import DISABLED_OPTIMIZERS
from bmp.results.analysis import Analysis
from bmp.results.intervals import combine, paired_gap, verdict
from bmp.results.seeds import setting_name
from bmp.results.shipped import Int8Drop, shipped
from bmp.results.speeds import TIMED
from bmp.results.targets import MET, MISSED, NOT_MEASURED, SPEED_TARGETS

SHAPE_PREFIX = "record "  # how the deploy bench names a shape taken from a run record
# the settings the targets speak of; a deploy record made otherwise (--quick, --threads, --fuse-skip-layernorm)
# checks nothing
LATENCY_SHAPE = (1, 128)  # batch x sequence of the latency targets; throughput is the timed CPU setting's
TARGET_SHAPES = {"throughput_shape": [TIMED["batch"], TIMED["seq"]], "latency_shape": list(LATENCY_SHAPE)}
BIG, SMALL = (" x ".join(map(str, shape)) for shape in TARGET_SHAPES.values())  # "8 x 384", "1 x 128"
TARGET_THREADS = 2  # the CPU the targets were set on: 2 cores
NO_ANSWERS = "its ship record has no per-question answers: rerun `python -m bmp ship`"


@dataclass(frozen=True)
class ServingTarget:
    key: str
    text: str
    threshold: float


# ratios are the slower form's time over the faster one's; F1 drops are in points
INT8_VS_TORCH_PACKED = ServingTarget("int8_vs_torch_packed", "ONNX Runtime int8 >= {t:g}x torch on the same packed "
                                     f"model at batch {BIG}", 1.4)
BATCH1_INT8_VS_TORCH_PACKED = ServingTarget("batch1_int8_vs_torch_packed", "ONNX Runtime int8 >= {t:g}x torch on the "
                                            f"same packed model at batch {SMALL}", 1.5)
INT8_F1_COST = ServingTarget("int8_f1_cost", "int8 costs <= {t:.1f} F1 (each shipped model)", 1.0)
COMBINED = ServingTarget("combined", f">= {{t:g}}x torch dense fp32 at batch {BIG} (ONNX Runtime int8, packed), "
                         "within 3 F1 of the reference", 6.0)
COMBINED_MAX_F1_DROP = 3.0


@dataclass(frozen=True)
class Serving:
    """The deploy bench's ratios, at the shape of run ``shape_run`` (None for a fixed shape). ``off_target`` says
    how the record's settings differ from those the targets name (empty when they match)."""

    shape_source: str
    shape_run: str | None
    int8_vs_torch_packed: float
    batch1_int8_vs_torch_packed: float
    combined: float
    date: str
    commit: str | None
    off_target: str = ""


@dataclass(frozen=True)
class ServingCheck:
    key: str
    text: str
    status: str
    value: float | None
    note: str

    def to_dict(self) -> dict:
        return {"key": self.key, "target": self.text, "status": self.status, "value": self.value, "note": self.note}


def serving(records) -> Serving | None:
    """The newest deploy bench record, or None."""
    benches = [r for r in records if r.get("kind") == "bench" and r.get("metrics", {}).get("bench") == "deploy"]
    newest = max(benches, key=lambda r: r.get("provenance", {}).get("date", ""), default=None)
    if newest is None:
        return None
    m, prov = newest["metrics"], newest.get("provenance", {})
    source = str(m.get("shape_source", ""))
    return Serving(shape_source=source,
                   shape_run=source[len(SHAPE_PREFIX):] if source.startswith(SHAPE_PREFIX) else None,
                   int8_vs_torch_packed=float(m["ort_int8_vs_torch_packed"]),
                   batch1_int8_vs_torch_packed=float(m["batch1_ort_int8_vs_torch_packed"]),
                   combined=float(m["ort_int8_vs_torch_dense"]), date=str(prov.get("date", ""))[:10],
                   commit=prov.get("git_commit"), off_target=_off_target(m))


def _off_target(metrics: dict) -> str:
    wanted = {**TARGET_SHAPES, "threads": TARGET_THREADS, "ort_disabled_optimizers": list(DISABLED_OPTIMIZERS)}
    return ", ".join(f"{key} {metrics.get(key)} (the targets need {value})" for key, value in wanted.items()
                     if metrics.get(key) != value)


def _at_least(target: ServingTarget, value: float, note: str) -> ServingCheck:
    return ServingCheck(target.key, target.text.format(t=target.threshold),
                        MET if value >= target.threshold else MISSED, value, note)


def int8_verdict(ship: Int8Drop) -> str:
    """A shipped model held to the int8 cost target by the one verdict rule: its paired interval of int8 minus torch
    fp32 against the margin (inconclusive without one)."""
    return verdict(ship.interval, INT8_F1_COST.threshold)


def _int8_gap_text(ship: Int8Drop) -> str:
    gap = ship.interval
    return ", no interval" if gap is None else f", 95% CI [{gap.low:+.2f}, {gap.high:+.2f}]"


def check_serving(records, analysis: Analysis) -> list[ServingCheck]:
    """The serving targets, each "not measured" while its record is missing."""
    bench, ships = serving(records), shipped(records)
    checks = []
    if bench is None or bench.off_target:
        why = "no deploy bench record (python -m bmp.bench deploy --record)" if bench is None else \
            f"the deploy bench record was made with {bench.off_target}: rerun it with the defaults"
        for target in (INT8_VS_TORCH_PACKED, BATCH1_INT8_VS_TORCH_PACKED):
            checks.append(ServingCheck(target.key, target.text.format(t=target.threshold), NOT_MEASURED, None, why))
    else:
        where = f"at the shape of {bench.shape_run or bench.shape_source}, one run ({bench.date})"
        checks.append(_at_least(INT8_VS_TORCH_PACKED, bench.int8_vs_torch_packed,
                                f"{bench.int8_vs_torch_packed:.2f}x {where}"))
        checks.append(_at_least(BATCH1_INT8_VS_TORCH_PACKED, bench.batch1_int8_vs_torch_packed,
                                f"{bench.batch1_int8_vs_torch_packed:.2f}x {where}"))
    cost_text = INT8_F1_COST.text.format(t=INT8_F1_COST.threshold)
    if ships:
        worst = max(ships, key=lambda s: s.f1_drop)
        each = [int8_verdict(s) for s in ships]
        unpaired = [s.run or s.record for s in ships if s.interval is None]
        flag = f"; no interval for {', '.join(unpaired)} ({NO_ANSWERS})" if unpaired else ""
        checks.append(ServingCheck(INT8_F1_COST.key, cost_text, combine(*each), worst.f1_drop,
                                   f"largest drop {worst.f1_drop:.2f} F1 ({worst.run or worst.record}: int8 minus "
                                   f"torch fp32 {-worst.f1_drop:+.2f}{_int8_gap_text(worst)}), over {len(ships)} "
                                   f"shipped model(s), each judged on its interval{flag}"))
    else:
        checks.append(ServingCheck(INT8_F1_COST.key, cost_text, NOT_MEASURED, None,
                                   "no ship record (python -m bmp ship --best 4)"))
    checks.append(_check_combined(bench, ships, analysis))
    return checks


def _check_combined(bench: Serving | None, ships: list[Int8Drop], analysis: Analysis) -> ServingCheck:
    """The combined speedup at the timed shape, with the int8 F1 of the run that shape came from measured against
    that run's own reference (its teacher's, or its control's when higher): the int8 answers against the
    reference's, paired over the held-out questions, judged by the one verdict rule (no interval: inconclusive).
    The speed is one deploy bench run's, so it is held to the line as a point."""
    text = COMBINED.text.format(t=COMBINED.threshold)
    if bench is None or bench.off_target:
        why = "no deploy bench record" if bench is None else f"the deploy bench record was made with {bench.off_target}"
        return ServingCheck(COMBINED.key, text, NOT_MEASURED, None, why)
    where = f"{bench.combined:.2f}x at the shape of {bench.shape_run or bench.shape_source}"
    if bench.shape_run is None:
        return ServingCheck(COMBINED.key, text, NOT_MEASURED, bench.combined,
                            f"{where}, which is no trained run's: no F1 to pair it with")
    of_shape = [s for s in ships if s.run == bench.shape_run]
    setting = next((s for s in analysis.settings if s.name == setting_name(bench.shape_run)
                    and bench.shape_run in s.runs), None)
    reference = None if setting is None else setting.reference_f1
    if not of_shape or reference is None:
        why = "no ship record of that run" if not of_shape else "no reference F1 for that run"
        return ServingCheck(COMBINED.key, text, NOT_MEASURED, bench.combined, f"{where}; {why}")
    ship = of_shape[-1]
    drop = reference - ship.ort_int8_f1
    gap, ci = _int8_against_reference(ship, setting, analysis)
    status = combine(verdict(gap, COMBINED_MAX_F1_DROP), MET if bench.combined >= COMBINED.threshold else MISSED)
    flag = "; no control recorded, so against the teacher alone" if setting.control_missing else ""
    return ServingCheck(COMBINED.key, text, status, bench.combined,
                        f"{bench.combined:.2f}x for {bench.shape_run}, whose int8 F1 is {ship.ort_int8_f1:.1f}, "
                        f"{drop:.1f} below its reference {reference:.1f} ({ci}){flag}")


def _int8_against_reference(ship: Int8Drop, setting, analysis: Analysis):
    """``(gap, words)``: int8 minus the setting's reference, paired over the held-out questions both answered,
    with its interval in words; or no gap, with every reason there is none."""
    against, _ = analysis.reference_scores(setting)
    why = [NO_ANSWERS] if ship.int8_scores is None else []
    if against is None:
        why.append("its reference has no per-question predictions (rerun `python -m bmp rescore` on the reference)")
    elif ship.int8_scores is not None and not all(set(scores) == set(ship.int8_scores) for scores in against):
        why.append(f"it was scored on other questions ({ship.split}) than its reference ({analysis.split}): "
                   "ship it with the run's own profile and data")
    if why:
        return None, "no interval: " + "; ".join(why)
    gap = paired_gap([ship.int8_scores], against)
    return gap, f"int8 minus the reference {gap.estimate:+.2f}, 95% CI [{gap.low:+.2f}, {gap.high:+.2f}]"


def serving_summary(records, analysis: Analysis) -> dict:
    """Plain JSON values for ``python -m bmp.bench pareto``."""
    bench = serving(records)
    return {
        "bench": None if bench is None else {
            "shape_source": bench.shape_source, "ort_int8_vs_torch_packed": bench.int8_vs_torch_packed,
            "batch1_ort_int8_vs_torch_packed": bench.batch1_int8_vs_torch_packed,
            "combined_speedup": bench.combined, "date": bench.date, "git_commit": bench.commit},
        "shipped": [{"record": s.record, "run": s.run, "torch_fp32_f1": s.torch_fp32_f1,
                     "ort_fp32_f1": s.ort_fp32_f1, "ort_int8_f1": s.ort_int8_f1, "int8_f1_drop": s.f1_drop,
                     "int8_f1_drop_ci95": s.drop_ci95, "verdict": int8_verdict(s), "role": headline_role(s, analysis)}
                    for s in shipped(records)],
        "targets": [c.to_dict() for c in check_serving(records, analysis)],
    }


def headline_role(ship: Int8Drop, analysis: Analysis) -> str:
    """Which speed target's chosen setting a shipped model is a run of ("the best at >= 4x"), or that it is not
    (an earlier choice, before later records moved it)."""
    setting = None if ship.run is None else setting_name(ship.run)
    roles = [f">= {t.min_speedup:g}x" for t in SPEED_TARGETS
             if (choice := analysis.best_at(t.min_speedup)) is not None and choice.setting.name == setting]
    return f"the best at {' and '.join(roles)}" if roles else "no longer a headline choice"


def _model_lines(records, analysis: Analysis) -> list[str]:
    """Each shipped model's F1 per form, its int8 cost with the cost's interval and verdict, and its role."""
    return [f"- shipped {s.run or s.record} ({headline_role(s, analysis)}): F1 {s.torch_fp32_f1:.1f} torch fp32, "
            f"{'–' if s.ort_fp32_f1 is None else format(s.ort_fp32_f1, '.1f')} ONNX Runtime fp32, "
            f"{s.ort_int8_f1:.1f} ONNX Runtime int8 (**{-s.f1_drop:+.2f}**{_int8_gap_text(s)}: {int8_verdict(s)})"
            for s in shipped(records)]


def _check_lines(checks) -> list[str]:
    return [f"- {c.text}: **{c.status}**; {c.note}." for c in checks]


def shipped_lines(records, analysis: Analysis) -> list[str]:
    """README lines for a front: the shipped models, then the int8 cost target (nothing without ship records)."""
    if not shipped(records):
        return []
    return [*_model_lines(records, analysis),
            *_check_lines(c for c in check_serving(records, analysis) if c.key == INT8_F1_COST.key)]


def serving_lines(records, analysis: Analysis) -> list[str]:
    """README lines: the shipped models, then every serving target."""
    return [*_model_lines(records, analysis), *_check_lines(check_serving(records, analysis))]


__all__ = ["COMBINED", "LATENCY_SHAPE", "TARGET_THREADS", "Serving", "ServingCheck", "check_serving", "headline_role",
           "serving", "serving_lines", "serving_summary", "shipped_lines"]
