"""Does ONNX Runtime (fp32 and int8) speed up packed models on the CPU? ``python -m bmp.bench deploy [--repeats 10]``

Packs the embedded model (random weights of its shape when the package is missing) at a recorded run's per-layer
shape -- the most accurate packed or filled record at >= 3x CPU speed, else the fastest one, else a fixed hybrid
shape -- keeping random heads and neurons (only the shape matters for speed). Exports the packed and the dense
model with :func:`bmp.deploy.export_onnx` (checked against torch), quantises both to per-channel int8, and times
five forms in one run: torch dense fp32, torch packed fp32, ORT packed fp32, ORT packed int8, ORT dense int8.

Each round times every form once (the order rotates); the median over ``--repeats`` rounds is reported, after
warm-up passes, with the garbage collector off, torch and ORT on the same number of threads (ORT's spinning
workers off, so no form steals the cores of the next). Two settings: batch 8 x 384 (throughput) and 1 x 128
(latency). Ratios are the reference's time over the form's, so > 1 means the form is faster. Targets: ORT int8 vs
torch packed >= 1.4x at 8 x 384 and >= 1.5x at 1 x 128. On a shared CPU the numbers are noisy (``spread`` is each
form's slowest / fastest round): compare forms within one run only, and look at ``ratios_from_fastest`` too.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import torch

from bmp.bench.packing import base_model, zero_random_structure
from bmp.deploy import check_onnx, export_onnx, ort_session, quantize_int8
from bmp.deploy.export import DEFAULT_OPSET
from bmp.deploy.runtime import DISABLED_OPTIMIZERS, INPUT_NAMES, INSTALL_HINT
from bmp.packing.pack import pack
from bmp.results.serving import LATENCY_SHAPE, TARGET_THREADS
from bmp.speed.timing import CPU_SETTING, time_calls

FIXED_HEADS = (2, 4, 6, 5, 5, 1)
FIXED_FFN = (552, 520, 392, 152, 104, 104)
RECORD_KINDS = ("packed", "filled")
MIN_RECORD_SPEEDUP = 3.0
SETTINGS = {"throughput": (CPU_SETTING.batch, CPU_SETTING.seq), "latency": LATENCY_SHAPE}
QUICK_SETTINGS = {"throughput": (2, 128), "latency": (1, 64)}
FORMS = ("torch_dense", "torch_packed", "ort_fp32_packed", "ort_int8_packed", "ort_int8_dense")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bmp.bench deploy", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=None, help="timed rounds per setting (default 10; 2 quick)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed passes per form first (default 2; 1 quick)")
    parser.add_argument("--threads", type=int, default=TARGET_THREADS,
                        help=f"torch and ORT intra-op threads (default {TARGET_THREADS})")
    parser.add_argument("--quick", action="store_true", help="a dry run: 2 rounds at batch 2 x 128 and 1 x 64")
    parser.add_argument("--shape", default=None, help="a record name to take the per-layer shape from, 'best:S' for "
                                                      "the setting the results choose at S x or faster, or 'fixed' "
                                                      "(default: chosen from the records, see above)")
    parser.add_argument("--records", default=None, help="records to read (default data/results)")
    parser.add_argument("--teacher", default=None, help="with --shape best:S, choose among this teacher's runs")
    parser.add_argument("--base", choices=("embedded", "random"), default="embedded")
    parser.add_argument("--out", default=None, help="keep the ONNX files in this folder (default: a temporary one)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fuse-skip-layernorm", action="store_true",
                        help="let ONNX Runtime fuse skip + LayerNorm (off by default: slower, see bmp.deploy.runtime)")
    args = parser.parse_args(argv)
    args.repeats = args.repeats if args.repeats is not None else 2 if args.quick else 10
    args.warmup = args.warmup if args.warmup is not None else 1 if args.quick else 2
    if args.repeats < 1 or args.warmup < 0 or args.threads < 1:
        parser.error("need --repeats >= 1, --warmup >= 0 and --threads >= 1")
    return args


def unrecordable(argv: list[str]) -> str | None:
    """Why these options can't be recorded (the serving targets read the record as made at their settings)."""
    args = parse_args(argv)
    changed = [flag for flag, on in (("--quick", args.quick), ("--fuse-skip-layernorm", args.fuse_skip_layernorm),
                                     (f"--threads {args.threads}", args.threads != TARGET_THREADS)) if on]
    if not changed:
        return None
    return (f"with {', '.join(changed)} would replace the deploy record the serving targets read (batch 8 x 384 "
            "and 1 x 128, 2 threads, the default ONNX Runtime rewrites): drop --record to compare, or those options")


def recorded_shape(records_dir: str | None, name: str | None, layers: int,
                   teacher: str | None = None) -> tuple[tuple, tuple, str]:
    """``(heads per layer, FFN neurons per layer, source)`` from a record, or the fixed shape; ``best:S`` chooses
    among ``teacher``'s runs when it is given, as ``bmp ship --best S --teacher`` does."""
    if name == "fixed":
        return FIXED_HEADS, FIXED_FFN, "fixed"
    from bmp.results.records import load_records

    candidates = [r for r in load_records(records_dir) if r.get("kind") in RECORD_KINDS
                  and len(r.get("metrics", {}).get("heads_per_layer") or ()) == layers
                  and len(r["metrics"].get("neurons_per_layer") or ()) == layers]
    if name is not None and name.startswith("best:"):
        name = _best_run(records_dir, name, teacher)
    if name is not None:
        chosen = [r for r in candidates if r["name"] == name]
        if not chosen:
            known = sorted(r["name"] for r in candidates)
            raise ValueError(f"--shape {name!r}: no packed or filled record of that name with {layers} layers; "
                             f"choose one of {known} or 'fixed'")
        record = chosen[0]
    else:
        timed = [r for r in candidates if r["metrics"].get("cpu_speedup")]
        fast = [r for r in timed if r["metrics"]["cpu_speedup"] >= MIN_RECORD_SPEEDUP]
        if fast:
            record = max(fast, key=lambda r: (r["metrics"].get("f1", 0.0), r["metrics"]["cpu_speedup"]))
        elif timed:
            record = max(timed, key=lambda r: r["metrics"]["cpu_speedup"])
        else:
            return FIXED_HEADS, FIXED_FFN, "fixed"
    metrics = record["metrics"]
    return tuple(metrics["heads_per_layer"]), tuple(metrics["neurons_per_layer"]), f"record {record['name']}"


def _best_run(records_dir, spec: str, teacher: str | None = None) -> str:
    """The run named by ``best:S``: the run ``python -m bmp ship --best S`` would ship."""
    from bmp.training.ship import chosen_run

    try:
        speedup = float(spec.removeprefix("best:"))
    except ValueError:
        raise ValueError(f"--shape {spec!r}: write best:S with S a speedup, e.g. best:4") from None
    try:
        return chosen_run(speedup, records_dir, teacher=teacher).run
    except ValueError:
        raise ValueError(f"--shape {spec}: no recorded pruned run is {speedup:g}x faster; run the sweep first, or "
                         "pass a record name or 'fixed'") from None


def inputs_for(config, batch: int, seq: int, seed: int) -> dict[str, torch.Tensor]:
    """A synthetic unpadded batch, question tokens (type 0) then context tokens (type 1); all ``(batch, seq)``."""
    generator = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(0, config.vocab_size, (batch, seq), generator=generator)  # (B, T)
    token_type_ids = torch.zeros_like(input_ids)
    token_type_ids[:, seq // 4:] = 1
    return {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids), "token_type_ids": token_type_ids}


def _torch_form(model, batch):
    def run():
        with torch.inference_mode():
            model(**batch)
    return run


def _ort_form(session, batch):
    feed = {name: batch[name].numpy() for name in INPUT_NAMES}
    return lambda: session.run(None, feed)


def _ratio(times: dict, reference: str, form: str, summary=statistics.median) -> float:
    return round(summary(times[reference]) / summary(times[form]), 3)


def _ratios(big: dict, small: dict, summary=statistics.median) -> dict:
    return {"ort_fp32_vs_torch_packed": _ratio(big, "torch_packed", "ort_fp32_packed", summary),
            "ort_int8_vs_torch_packed": _ratio(big, "torch_packed", "ort_int8_packed", summary),
            "ort_int8_vs_torch_dense": _ratio(big, "torch_dense", "ort_int8_packed", summary),
            "ort_int8_dense_vs_torch_dense": _ratio(big, "torch_dense", "ort_int8_dense", summary),
            "batch1_ort_int8_vs_torch_packed": _ratio(small, "torch_packed", "ort_int8_packed", summary)}


def main(argv: list[str]) -> dict:
    args = parse_args(argv)
    try:
        import onnxruntime
    except ImportError as err:
        from bmp.cli import UserError

        raise UserError(f"the deploy bench needs onnxruntime: {INSTALL_HINT}") from err

    torch.set_num_threads(args.threads)
    dense, source = base_model(args.base, args.seed)
    heads, ffn, shape_source = recorded_shape(args.records, args.shape, dense.config.num_hidden_layers,
                                              args.teacher)
    packed = pack(zero_random_structure(dense, heads, ffn, args.seed))

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(args.out or scratch)
        exported = export_onnx(packed, folder / "packed.onnx")
        exported_dense = export_onnx(dense, folder / "dense.onnx")
        int8_packed = quantize_int8(exported.path, folder / "packed-int8.onnx")
        int8_dense = quantize_int8(exported_dense.path, folder / "dense-int8.onnx")
        disabled = tuple(name for name in DISABLED_OPTIMIZERS
                         if not (args.fuse_skip_layernorm and name == "SkipLayerNormFusion"))
        sessions = {"ort_fp32_packed": ort_session(exported.path, args.threads, disabled),
                    "ort_int8_packed": ort_session(int8_packed, args.threads, disabled),
                    "ort_int8_dense": ort_session(int8_dense, args.threads, disabled)}
        # int8 changes the function a little: how much, on random inputs with padding (no limit enforced)
        int8_diff = check_onnx(packed, int8_packed, atol=float("inf"), session=sessions["ort_int8_packed"])
        sizes_mb = {path.stem: round(path.stat().st_size / 2**20, 1) for path in
                    (exported.path, exported_dense.path, int8_packed, int8_dense)}

        settings = QUICK_SETTINGS if args.quick else SETTINGS
        timings = {}
        for setting, (batch_size, seq) in settings.items():
            batch = inputs_for(dense.config, batch_size, seq, args.seed)
            forms = {"torch_dense": _torch_form(dense, batch), "torch_packed": _torch_form(packed, batch),
                     **{name: _ort_form(session, batch) for name, session in sessions.items()}}
            timings[setting] = time_calls({name: forms[name] for name in FORMS}, repeats=args.repeats,
                                          warmup=args.warmup)

    big, small = timings["throughput"], timings["latency"]
    label = {setting: "x".join(map(str, shape)) for setting, shape in settings.items()}
    return {
        "bench": "deploy",
        "base": source,
        "onnx_max_abs_diff": exported.max_abs_diff,
        "onnx_max_abs_diff_dense": exported_dense.max_abs_diff,
        "int8_max_abs_diff": int8_diff,
        **_ratios(big, small),
        # the same ratios from each form's fastest round: a busy CPU only ever adds time, so on a shared machine
        # these are the less disturbed estimate (torch's thread barriers suffer from other load far more than ORT)
        "ratios_from_fastest": _ratios(big, small, min),
        "batch1_latency_ms": {name: round(1000 * statistics.median(small[name]), 2) for name in FORMS},
        "packed_vs_torch_dense": {label[setting]: _ratio(timings[setting], "torch_dense", "torch_packed")
                                  for setting in settings},
        "median_ms": {label[setting]: {name: round(1000 * statistics.median(times[name]), 2) for name in FORMS}
                      for setting, times in timings.items()},
        "fastest_ms": {label[setting]: {name: round(1000 * min(times[name]), 2) for name in FORMS}
                       for setting, times in timings.items()},
        "spread": {label[setting]: {name: round(max(times[name]) / min(times[name]), 2) for name in FORMS}
                   for setting, times in timings.items()},
        "throughput_shape": list(settings["throughput"]),
        "latency_shape": list(settings["latency"]),
        "shape_source": shape_source,
        "heads_per_layer": list(packed.config.heads_per_layer),
        "intermediate_per_layer": list(packed.config.intermediate_per_layer),
        "onnx_size_mb": sizes_mb,
        "threads": args.threads,
        "ort_disabled_optimizers": list(disabled),
        "opset": DEFAULT_OPSET,
        "repeats": args.repeats,
        "warmup": args.warmup,
        "torch_version": torch.__version__,
        "onnxruntime_version": onnxruntime.__version__,
    }
