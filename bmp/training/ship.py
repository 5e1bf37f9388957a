"""What shipping costs in accuracy: a trained model's held-out F1 in torch fp32, ONNX Runtime fp32 and ONNX Runtime
int8 (dynamic, per-channel), recorded as kind ``deploy-accuracy``. ``bench pareto`` reads the int8 drop from it.

    python -m bmp ship --model runs/hybrid-lam60-course/filled/final --teacher runs/teacher-course-8ep/final
    python -m bmp ship --best 4 --teacher runs/teacher-course-8ep/final   # the setting chosen at >= 4x

``--best S`` ships the run that the results choose at ``S``x or faster (on validation F1, from the records), so
the sweep can ship its headline models without naming them. The torch model runs in plain fp32 here, without the
bf16 autocast the training runs evaluate with on CPUs that have it: the comparison is of number formats.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from bmp.profiles import REPO_ROOT, Profile, get_profile
from bmp.training.kit import SEED, evaluate_qa, prepare_data, record_run

KIND = "deploy-accuracy"


def chosen_run(min_speedup: float, records_dir=None) -> tuple[str, Path, str | None]:
    """``(record name, model folder, its teacher)`` of the setting chosen at ``min_speedup``x or faster: the run of
    the default seed when there is one."""
    from bmp.results.analysis import analyse
    from bmp.results.records import load_records

    records = load_records(records_dir)
    choice = analyse(records).best_at(min_speedup)
    if choice is None:
        raise ValueError(f"--best {min_speedup}: no recorded pruned run is {min_speedup}x faster; run the sweep "
                         "first (scripts/sweep.sh) or name a model with --model")
    by_name = {r["name"]: r for r in records}
    name = choice.setting.name if choice.setting.name in by_name else choice.setting.runs[0]
    config = by_name[name].get("config", {})
    folder = config.get("output_dir")
    if not folder or not (REPO_ROOT / folder).is_dir():
        raise FileNotFoundError(f"--best {min_speedup} chose {name}, whose model folder {folder!r} is not here: "
                                "rerun its part of scripts/sweep.sh, or name a model with --model")
    return name, REPO_ROOT / folder, config.get("teacher")


def _shipped(run: str) -> bool:
    from bmp.results.records import load_records, results_dir

    return any(r.get("kind") == KIND and r.get("config", {}).get("run") == run
               for r in load_records(results_dir()))


def ship_accuracy(model_dir, profile: Profile | None = None, *, threads: int = 2, name: str | None = None,
                  run: str | None = None, teacher=None, onnx_dir=None) -> dict:
    """Held-out F1 (and EM, and the evaluation's model time) of ``model_dir`` in the three forms; recorded."""
    from bmp.deploy import OrtQAModel, export_onnx, ort_session, quantize_int8
    from bmp.deploy.export import DEFAULT_OPSET
    from bmp.models import load_saved, load_tokenizer

    profile = profile or get_profile()
    model_dir = Path(model_dir)
    model = load_saved(model_dir).float().eval()  # a wrong folder fails before the data is tokenized
    tokenizer = load_tokenizer(model_dir)
    data = prepare_data(profile, tokenizer)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(onnx_dir or scratch)
        exported = export_onnx(model, folder / "model.onnx")
        int8 = quantize_int8(exported.path, folder / "model-int8.onnx", per_channel=True)
        forms = {"torch_fp32": model, "ort_fp32": OrtQAModel(ort_session(exported.path, threads)),
                 "ort_int8": OrtQAModel(ort_session(int8, threads))}
        scores = {form: evaluate_qa(runner, data, tokenizer, bf16=False) for form, runner in forms.items()}
        int8_mb = round(int8.stat().st_size / 2**20, 1)
        fp32_mb = round(exported.path.stat().st_size / 2**20, 1)
    metrics = {f"{form}_{key}": round(value, 3) if key != "eval_model_s" else value
               for form, score in scores.items() for key, value in score.items()
               if key in ("f1", "exact_match", "eval_model_s")}
    metrics.update(eval_questions=scores["torch_fp32"]["eval_questions"],
                   eval_split=scores["torch_fp32"]["eval_split"],
                   int8_f1_drop=round(scores["torch_fp32"]["f1"] - scores["ort_int8"]["f1"], 3),
                   onnx_max_abs_diff=exported.max_abs_diff, onnx_fp32_mb=fp32_mb, onnx_int8_mb=int8_mb)
    name = name or f"ship-{run or model_dir.parent.name + '-' + model_dir.name}"
    optional = {key: value for key, value in (("run", run), ("teacher", teacher)) if value is not None}
    record_run(name, KIND, metrics, profile, data, seed=SEED, model=model_dir, threads=threads, opset=DEFAULT_OPSET,
               quantization="dynamic int8, per-channel weights", **optional)
    return metrics


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bmp ship", description=__doc__.splitlines()[0])
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--model", help="a saved model folder (packed, filled or dense)")
    which.add_argument("--best", type=float, help="ship the run the results choose at this speedup or faster")
    parser.add_argument("--teacher", default=None, help="the teacher's folder, kept in the record")
    parser.add_argument("--profile", default=None, help="smoke | course | full (default: $BMP_PROFILE or course)")
    parser.add_argument("--threads", type=int, default=2, help="ONNX Runtime intra-op threads (default 2)")
    parser.add_argument("--records", default=None, help="records --best reads (default data/results)")
    parser.add_argument("--name", default=None, help="record name (default ship-<run>-<profile>)")
    parser.add_argument("--unless-recorded", action="store_true",
                        help="do nothing when the run already has a ship record (for rerunnable scripts)")
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error(f"--threads {args.threads}: need at least 1")
    run, model_dir, teacher = ((None, Path(args.model), None) if args.model
                               else chosen_run(args.best, args.records))
    if args.unless_recorded and run is not None and _shipped(run):
        print(f"have a ship record of {run}")
        return
    if not model_dir.is_dir():
        raise FileNotFoundError(f"--model {model_dir}: no such folder; pass a saved model folder "
                                "(for example runs/<run>/filled/final)")
    metrics = ship_accuracy(model_dir, get_profile(args.profile), threads=args.threads, name=args.name, run=run,
                            teacher=args.teacher or teacher)
    print({k: metrics[k] for k in ("torch_fp32_f1", "ort_fp32_f1", "ort_int8_f1", "int8_f1_drop")})


if __name__ == "__main__":
    from bmp.cli import run

    raise SystemExit(run(main))
