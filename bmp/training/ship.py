"""What shipping costs in accuracy: a trained model's held-out F1 in torch fp32, ONNX Runtime fp32 and ONNX Runtime
int8 (dynamic, per-channel), recorded as kind ``deploy-accuracy`` with each form's per-question answers beside it.
``bench pareto`` reads the int8 drop from it, with a paired interval over the questions.

    python -m bmp ship --model runs/hybrid-lam60-course/filled
    python -m bmp ship --best 4 --teacher runs/teacher-course-8ep/final   # the setting chosen at >= 4x

``--best S`` ships the run that the results choose at ``S``x or faster (on validation F1, among the runs of
``--teacher`` when it is given), so the sweep can ship its headline models without naming them. A ``--model``
folder that a run record names is shipped as that run. The torch model runs in plain fp32 here, without the bf16
autocast the training runs evaluate with on CPUs that have it, and on the same number of threads as ONNX Runtime:
the comparison is of number formats.
"""
from __future__ import annotations

import argparse
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from bmp.models import load_saved, load_tokenizer
from bmp.profiles import REPO_ROOT, SEED, Profile, get_profile
from bmp.results.analysis import analyse
from bmp.results.records import PREDICTIONS_KEY, Predictions, load_records, repo_relative, results_dir
from bmp.results.shipped import SHIP_KIND
from bmp.results.tradeoff import RUN_KINDS
from bmp.training.evaluation import evaluate_qa, prepare_data
from bmp.training.skeleton import record_run

KIND = SHIP_KIND


@dataclass(frozen=True)
class Shipped:
    """The model to ship: its folder, and the run record that made it (None for a folder no record names)."""

    folder: Path
    record: dict | None = None

    @property
    def run(self) -> str | None:
        return None if self.record is None else self.record["name"]

    @property
    def config(self) -> dict:
        return {} if self.record is None else self.record.get("config", {})

    @property
    def provenance(self) -> dict:
        return {} if self.record is None else self.record.get("provenance", {})


def _run_records(records_dir=None) -> list[dict]:
    return [r for r in load_records(records_dir) if r.get("kind") in RUN_KINDS]


def chosen_run(min_speedup: float, records_dir=None, teacher=None) -> Shipped:
    """The run of the setting a ``min_speedup``x target is judged on (its default-seed run when it has one), as the
    targets choose it (:meth:`bmp.results.analysis.Analysis.best_at`: on validation F1 among the main teacher's runs,
    or the attempt to close the gap that beat that choice), among the runs distilled from ``teacher`` when given."""

    records = load_records(records_dir)
    if teacher is not None:
        wanted = repo_relative(teacher)
        records = [r for r in records if r.get("kind") not in RUN_KINDS
                   or repo_relative(REPO_ROOT / str(r.get("config", {}).get("teacher", ""))) == wanted]
    choice = analyse(records).best_at(min_speedup)
    if choice is None:
        of = f" distilled from {repo_relative(teacher)}" if teacher is not None else ""
        raise ValueError(f"--best {min_speedup:g}: no recorded pruned run{of} is {min_speedup:g}x faster; run the "
                         "sweep first (scripts/sweep.sh) or name a model with --model")
    by_name = {r["name"]: r for r in records}
    name = choice.setting.name if choice.setting.name in by_name else choice.setting.runs[0]
    return Shipped(REPO_ROOT / by_name[name].get("config", {}).get("output_dir", ""), by_name[name])


def run_of_folder(folder, records_dir=None) -> Shipped:
    """``folder`` with the newest run record that saved its model there (or none)."""
    wanted = repo_relative(folder)
    made = [r for r in _run_records(records_dir)
            if repo_relative(REPO_ROOT / str(r.get("config", {}).get("output_dir", ""))) == wanted]
    newest = max(made, key=lambda r: r.get("provenance", {}).get("date", ""), default=None)
    return Shipped(Path(folder), newest)


def already_shipped(shipped: Shipped) -> bool:
    """Whether a ship record of this run, made after the run itself and keeping each form's answers (older ship
    records have none, so their int8 cost has no interval), is among the new records."""
    if shipped.run is None:
        return False
    made = shipped.provenance.get("date", "")
    return any(r.get("kind") == KIND and r.get("config", {}).get("run") == shipped.run
               and isinstance(r.get("metrics", {}).get(PREDICTIONS_KEY), str)
               and r.get("provenance", {}).get("date", "") >= made for r in load_records(results_dir()))


def ship_accuracy(model_dir, profile: Profile | None = None, *, threads: int = 2, name: str | None = None,
                  run: str | None = None, seed: int = SEED, teacher=None, onnx_dir=None) -> dict:
    """Held-out F1 (and EM, and the evaluation's model time) of ``model_dir`` in the three forms; recorded.
    ``run`` (the run record that made the model) and ``seed`` (its seed) go into the record."""
    from bmp.deploy import OrtQAModel, export_onnx, ort_session, quantize_int8
    from bmp.deploy.export import DEFAULT_OPSET

    profile = profile or get_profile()
    model_dir = Path(model_dir)
    model = load_saved(model_dir).float().eval()  # a wrong folder fails before the data is tokenized
    tokenizer = load_tokenizer(model_dir)
    data = prepare_data(profile, tokenizer)
    torch_threads = torch.get_num_threads()
    torch.set_num_threads(threads)  # torch and ONNX Runtime on the same cores
    try:
        with tempfile.TemporaryDirectory() as scratch:
            folder = Path(onnx_dir or scratch)
            exported = export_onnx(model, folder / "model.onnx")
            int8 = quantize_int8(exported.path, folder / "model-int8.onnx", per_channel=True)
            forms = {"torch_fp32": model, "ort_fp32": OrtQAModel(ort_session(exported.path, threads)),
                     "ort_int8": OrtQAModel(ort_session(int8, threads))}
            scores = {form: evaluate_qa(runner, data, tokenizer, bf16=False) for form, runner in forms.items()}
            sizes = {"onnx_fp32_mb": exported.path.stat().st_size, "onnx_int8_mb": int8.stat().st_size}
    finally:
        torch.set_num_threads(torch_threads)
    metrics = {f"{form}_{key}": score[key] for form, score in scores.items()
               for key in ("f1", "exact_match", "eval_model_s")}
    # each form's answers on the held-out questions, a "split" per form: the int8 cost gets a paired interval
    metrics[PREDICTIONS_KEY] = Predictions({form: score[PREDICTIONS_KEY]["heldout"] for form, score in scores.items()})
    metrics.update(eval_questions=scores["torch_fp32"]["eval_questions"],
                   eval_split=scores["torch_fp32"]["eval_split"],
                   int8_f1_drop=scores["torch_fp32"]["f1"] - scores["ort_int8"]["f1"],
                   onnx_max_abs_diff=exported.max_abs_diff,
                   **{key: round(size / 2**20, 1) for key, size in sizes.items()})
    name = name or f"ship-{run or model_dir.parent.name + '-' + model_dir.name}"
    optional = {key: value for key, value in (("run", run), ("teacher", teacher)) if value is not None}
    record_run(name, KIND, metrics, profile, data, seed=seed, bf16=False, model=model_dir, threads=threads,
               opset=DEFAULT_OPSET, quantization="dynamic int8, per-channel weights", **optional)
    return metrics


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bmp ship", description=__doc__.splitlines()[0])
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--model", help="a saved model folder (packed, filled or dense), e.g. runs/<run>/filled")
    which.add_argument("--best", type=float, help="ship the run the results choose at this speedup or faster")
    parser.add_argument("--teacher", default=None, help="--best chooses among this teacher's runs; kept in the record")
    parser.add_argument("--profile", default=None, help="smoke | course | full (default: the run's own profile, else "
                                                        "$BMP_PROFILE or course)")
    parser.add_argument("--threads", type=int, default=2, help="torch and ONNX Runtime threads (default 2)")
    parser.add_argument("--records", default=None, help="the run records to read (default data/results)")
    parser.add_argument("--name", default=None, help="record name (default ship-<run>, or ship-<folder's last two "
                                                     "parts> for a folder no record names)")
    parser.add_argument("--unless-recorded", action="store_true",
                        help="do nothing when the run already has a ship record newer than it (for scripts)")
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error(f"--threads {args.threads}: need at least 1")
    shipped = (run_of_folder(args.model, args.records) if args.model
               else chosen_run(args.best, args.records, args.teacher))
    if args.unless_recorded and already_shipped(shipped):
        print(f"have a ship record of {shipped.run}")
        return
    if not shipped.folder.is_dir():
        where = f"{args.model}" if args.model else f"{shipped.run}'s model folder {shipped.folder}"
        raise FileNotFoundError(f"{where}: no such folder; pass a saved model folder (for example "
                                "runs/<run>/filled), or rerun the run's part of scripts/sweep.sh")
    profile = get_profile(args.profile or shipped.provenance.get("profile"))
    teacher = args.teacher or shipped.config.get("teacher")
    metrics = ship_accuracy(shipped.folder, profile, threads=args.threads, name=args.name, run=shipped.run,
                            seed=shipped.provenance.get("seed") or SEED, teacher=teacher)
    print({k: round(metrics[k], 2) for k in ("torch_fp32_f1", "ort_fp32_f1", "ort_int8_f1", "int8_f1_drop")})


if __name__ == "__main__":
    from bmp.cli import run

    raise SystemExit(run(main))
