"""Command-line SQuAD v1.1 evaluator, a drop-in for the official ``evaluate-v1.1.py``.

    python -m bmp.squad.evaluate DATA_FILE PREDICTIONS_JSON

DATA_FILE is an official-format dataset (json or zip); PREDICTIONS_JSON maps question ids to answer strings.
Warnings go to stderr; the last stdout line is ``{"exact_match": .., "f1": ..}``.
"""
from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

from bmp.squad.data import parse_squad, read_squad_raw
from bmp.squad.metric import squad_scores

EXPECTED_VERSION = "1.1"


def read_predictions(path: str | Path) -> dict[str, str]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"predictions file {path} not found")
    try:
        predictions = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from err
    if not isinstance(predictions, dict) or not all(isinstance(v, str) for v in predictions.values()):
        raise ValueError(f"{path}: expected a JSON object mapping question ids to answer strings, "
                         'like {"56be4db0acb8001400a502ec": "Denver Broncos"}')
    return predictions


def evaluate_files(data_file: str | Path, predictions_file: str | Path, *, strict: bool = True) -> dict[str, float]:
    data_file = Path(data_file)
    if not data_file.is_file():
        raise FileNotFoundError(f"dataset file {data_file} not found (expected e.g. data/squad/dev-v1.1.json.zip)")
    root = read_squad_raw(data_file)
    if isinstance(root, dict) and root.get("version") != EXPECTED_VERSION:
        warnings.warn(f"{data_file} has version {root.get('version')!r}; this evaluator implements v{EXPECTED_VERSION}")
    examples = [example for _, article in parse_squad(root, str(data_file), strict=strict) for example in article]
    return squad_scores(read_predictions(predictions_file), examples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Evaluation for SQuAD v1.1 (official rules)")
    parser.add_argument("data_file", help="dataset file, json or zip (e.g. data/squad/dev-v1.1.json.zip)")
    parser.add_argument("predictions_file", help="JSON object {question id: answer text}")
    parser.add_argument("--lenient", action="store_true",
                        help="drop gold answers whose answer_start does not match the context instead of failing")
    args = parser.parse_args(argv)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            scores = evaluate_files(args.data_file, args.predictions_file, strict=not args.lenient)
        except (FileNotFoundError, ValueError) as err:  # SquadFormatError is a ValueError
            scores, error = None, err
    for warning in caught:
        print(f"warning: {warning.message}", file=sys.stderr)
    if scores is None:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(json.dumps(scores))
    return 0


if __name__ == "__main__":
    sys.exit(main())
