"""Re-score a recorded model from its saved folder, keeping its answers question by question.

    python -m bmp rescore runs/hybrid-lam120-ffn240-course/filled --record hybrid-lam120-ffn240-course-filled

Records made before per-question predictions were saved hold only their mean scores, which can't be compared on the
same questions. This evaluates the saved model again on the held-out and validation questions of the record's own
profile (with the record's bf16 setting), checks the F1 it gets is the recorded one (within :data:`F1_TOLERANCE`:
the same model on the same questions), then writes the predictions beside the record and adds their path to it.
Every other field of the record is kept as it was: this is the one place code rewrites a tracked record.

A model rebuilt by rerunning its record's command (records to a scratch folder) is checked without evaluating it
again: ``--rebuilt outputs/rebuilt-front`` compares the scratch record's scores with the tracked one's and writes
nothing. Runs that start from a rebuilt model are the recorded ones' kin only when it passes.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

from bmp.models import load_saved, load_tokenizer
from bmp.profiles import Profile, get_profile
from bmp.results.records import PREDICTIONS_KEY, RESULTS_DIR, Predictions, load_records, write_predictions
from bmp.squad import splits_for_profile, tokenize_eval
from bmp.training.evaluation import QAData, evaluate_qa

F1_TOLERANCE = 0.05  # F1 points: bf16 autocast on another CPU may move a few answers, another model moves many
SCORED = {"heldout": ("f1", "exact_match"), "validation": ("validation_f1", "validation_exact_match")}


@dataclass(frozen=True)
class Rescored:
    """What :func:`rescore` found: the record rewritten, its sidecar, and each split's F1 recorded and recomputed."""

    record_path: Path
    predictions_path: str
    f1: dict[str, tuple[float, float]]  # split -> (recorded, recomputed)

    def __repr__(self) -> str:
        scores = ", ".join(f"{split} F1 {new:.2f} (recorded {old:.2f})" for split, (old, new) in self.f1.items())
        return f"Rescored({self.record_path.name}: {scores}; predictions in {self.predictions_path})"


def find_record(name: str, records_dir=None) -> dict:
    """The record called ``name`` in ``records_dir`` (default ``data/results``); it must hold a held-out F1."""
    found = [r for r in load_records(records_dir) if r.get("name") == name]
    where = records_dir or RESULTS_DIR
    if not found:
        raise ValueError(f"--record {name}: no record of that name in {where}; pass the record's name "
                         "(its JSON file is <kind>__<name>.json) and --records for another folder")
    if len(found) > 1:
        raise ValueError(f"--record {name}: {len(found)} records share the name in {where} "
                         f"({', '.join(Path(r['_path']).name for r in found)}); rescore from a folder holding one")
    if found[0].get("metrics", {}).get("f1") is None:
        raise ValueError(f"--record {name}: the record holds no held-out f1, so there is nothing to re-score")
    return found[0]


def profile_of(record: dict) -> Profile:
    """The profile the record was evaluated with: as its config stored it, else its named profile."""
    stored = record.get("config", {}).get("profile")
    if isinstance(stored, dict):
        return Profile(**stored)
    return get_profile(record.get("provenance", {}).get("profile"))


def evaluation_data(profile: Profile, tokenizer):
    """The profile's held-out and validation windows (no training windows: re-scoring trains nothing)."""

    splits = splits_for_profile(profile)
    windows = [None if not questions else tokenize_eval(questions, tokenizer, profile.max_seq_length,
                                                        profile.doc_stride)
               for questions in (splits.eval, splits.validation)]
    return QAData(splits, None, windows[0], profile.max_seq_length, windows[1])


def rescore(folder, record_name: str, records_dir=None) -> Rescored:
    """Evaluate the model saved in ``folder`` as the record ``record_name`` was, check its F1, and save its
    per-question predictions beside the record (raises, writing nothing, when the F1 differs)."""

    record = find_record(record_name, records_dir)
    metrics = record["metrics"]
    model = load_saved(folder)  # a wrong folder fails before the data is tokenized
    tokenizer = load_tokenizer(folder)
    data = evaluation_data(profile_of(record), tokenizer)
    bf16 = record.get("config", {}).get("bf16_autocast")
    splits = [s for s in SCORED if metrics.get(SCORED[s][0]) is not None]
    if "validation" in splits and data.validation_features is None:
        raise ValueError(f"record {record_name} has a validation F1 but its profile's data has no validation "
                         "articles here: the data file differs from the one the record was made with")
    predictions, compared = Predictions({}), {}
    for split in splits:
        scores = evaluate_qa(model, data, tokenizer, split=split, bf16=bf16)
        recorded = float(metrics[SCORED[split][0]])
        if abs(scores["f1"] - recorded) > F1_TOLERANCE:
            raise ValueError(
                f"{folder} scores {split} F1 {scores['f1']:.3f}, but record {record_name} says {recorded:.3f} "
                f"(more than {F1_TOLERANCE} apart): is it the record's model? The record names "
                f"{record.get('config', {}).get('output_dir', 'no folder')}; nothing was written")
        predictions = predictions | scores[PREDICTIONS_KEY]
        compared[split] = (recorded, float(scores["f1"]))
    record_path = Path(record["_path"])
    pointer = write_predictions(record_path, predictions)
    payload = {key: value for key, value in record.items() if key != "_path"}
    payload["metrics"] = {**metrics, PREDICTIONS_KEY: pointer}
    record_path.write_text(json.dumps(payload, indent=2, default=str) + "\n")  # as bmp.results.records.record does
    return Rescored(record_path, pointer, compared)


def reproduced(record_name: str, rebuilt_dir, records_dir=None) -> dict[str, tuple[float, float]]:
    """Each split's F1 as tracked and as rebuilt: the record ``record_name`` made again into ``rebuilt_dir`` by
    rerunning its command must score what the tracked one in ``records_dir`` does (raises otherwise)."""

    tracked_record, rebuilt_record = find_record(record_name, records_dir), find_record(record_name, rebuilt_dir)
    for key, what, fix in (("bf16_autocast", "bf16 autocast", "with the record's precision (--fp32 or --bf16)"),
                           ("output_dir", "its folder", "into the record's folder")):
        old, new = (record.get("config", {}).get(key) for record in (tracked_record, rebuilt_record))
        if old != new:
            raise ValueError(f"rebuilt {record_name} was made with {what} {new}, the tracked record with {old}: "
                             f"rebuild it {fix}")
    tracked, rebuilt = tracked_record["metrics"], rebuilt_record["metrics"]
    compared = {}
    for split, (key, _) in SCORED.items():
        if tracked.get(key) is None:
            continue
        if rebuilt.get(key) is None:
            raise ValueError(f"the rebuilt record {record_name} in {rebuilt_dir} holds no {key}: it was not "
                             "evaluated as the tracked one was; rebuild it with the record's own command")
        old, new = float(tracked[key]), float(rebuilt[key])
        if abs(new - old) > F1_TOLERANCE:
            raise ValueError(f"rebuilt {record_name} scores {split} F1 {new:.3f}, the tracked record {old:.3f} "
                             f"(more than {F1_TOLERANCE} apart): training did not reproduce here, so runs started "
                             "from it would not be the recorded runs' kin; rerun the whole comparison from one "
                             "teacher instead")
        compared[split] = (old, new)
    return compared


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bmp rescore", description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="the saved model of the record, e.g. runs/<run>/filled")
    parser.add_argument("--record", required=True, help="the record's name (its file is <kind>__<name>.json)")
    parser.add_argument("--records", default=None, help="folder of records (default data/results)")
    parser.add_argument("--rebuilt", default=None, metavar="DIR",
                        help="the folder was rebuilt by rerunning the record's command with its records in DIR: "
                             "compare those scores with the tracked record's instead of evaluating, write nothing")
    args = parser.parse_args(argv)
    for option, folder in (("--records", args.records), ("--rebuilt", args.rebuilt)):
        if folder is not None and not Path(folder).is_dir():
            raise FileNotFoundError(f"{option} {folder}: no such folder; pass a folder of records")
    if args.rebuilt is None:
        print(rescore(args.folder, args.record, args.records))
        return
    if not (Path(args.folder) / "config.json").is_file():
        raise FileNotFoundError(f"{args.folder}: no saved model there (no config.json); pass the rebuilt folder")
    compared = reproduced(args.record, args.rebuilt, args.records)
    print(f"{args.folder} reproduces {args.record}: " + ", ".join(
        f"{split} F1 {new:.2f} (recorded {old:.2f})" for split, (old, new) in compared.items()))


if __name__ == "__main__":
    from bmp.cli import run

    raise SystemExit(run(main))
