"""bmp.squad: reading/splitting, features, post-processing and the official v1.1 metric.

Tests on the real dev file skip when it is not found (data/squad/ or ../shared/data/squad/).
"""
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from bmp.squad import (
    SquadFormatError,
    eval_collator,
    exact_match,
    f1,
    find_squad_file,
    load_sample,
    load_splits,
    normalize_answer,
    postprocess_predictions,
    prepare_train_features,
    read_squad_json,
    squad_scores,
    tokenize_eval,
    tokenize_train,
    torchmetrics_scores,
    train_collator,
)
from bmp.squad import data as squad_data
from bmp.squad.evaluate import main as evaluate_main
from bmp.squad.sample import build_sample

REPO = Path(__file__).resolve().parents[1]
DEV_CANDIDATES = [REPO / "data/squad/dev-v1.1.json.zip", REPO / "data/squad/dev-v1.1.json",
                  REPO.parent / "shared/data/squad/dev-v1.1.json.zip"]
DEV_FILE = next((path for path in DEV_CANDIDATES if path.is_file()), None)
needs_dev = pytest.mark.skipif(DEV_FILE is None, reason="real SQuAD v1.1 dev file not found (see data/squad/)")


@pytest.fixture(scope="module")
def tokenizer():
    from bmp.models import load_tokenizer

    return load_tokenizer()


@pytest.fixture(scope="module")
def sample():
    return load_sample()


@pytest.fixture(scope="module")
def dev_splits():
    return load_splits(DEV_FILE)


def _write_squad(path: Path, articles: list) -> Path:
    path.write_text(json.dumps({"version": "1.1", "data": articles}))
    return path


def _tiny_article(prefix="", **answer):
    context = "Seldale was founded in 1216 by Elena Wyckley."
    gold = {"text": "1216", "answer_start": 23, **answer}
    return {"title": "Seldale", "paragraphs": [{"context": context, "qas": [
        {"id": prefix + "q1", "question": "When was Seldale founded?", "answers": [gold]},
        {"id": prefix + "q2", "question": "Who founded Seldale?",
         "answers": [{"text": "Elena Wyckley", "answer_start": 31}]},
    ]}]}


# --- metric ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("The Cat!", "cat"),
    ("an apple, a  pear", "apple pear"),
    ("Theatre of the Absurd", "theatre of absurd"),  # articles only as whole words
    ("U.S.  Army\n", "us army"),
    ("  ", ""),
])
def test_normalize_answer(text, expected):
    assert normalize_answer(text) == expected


def test_exact_match_and_f1():
    assert exact_match("the Denver Broncos.", "Denver Broncos") == 1.0
    assert f1("the cat sat", "cat sat on mat") == pytest.approx(2 / 3)  # precision 1, recall 1/2
    assert f1("dog", "cat") == 0.0
    # official v1.1: answers that both normalise to nothing match exactly but have no token overlap
    assert exact_match(".", "the") == 1.0 and f1(".", "the") == 0.0


def test_scores_take_the_best_gold():
    references = [{"id": "q", "answers": {"text": ["Broncos", "Denver Broncos"], "answer_start": [0, 0]}}]
    scores = squad_scores({"q": "Denver"}, references)
    assert scores["exact_match"] == 0.0
    assert scores["f1"] == pytest.approx(100 * 2 / 3)  # against "Denver Broncos": p 1, r 1/2
    assert squad_scores({"q": "broncos"}, {"q": ["Broncos", "Denver Broncos"]}) == {"exact_match": 100.0, "f1": 100.0}


def test_missing_predictions_score_zero_and_warn():
    references = {"a": ["x"], "b": ["y"], "c": ["z"], "d": ["w"]}
    with pytest.warns(UserWarning, match=r"2 of 4 question\(s\) have no prediction"):
        scores = squad_scores({"a": "x", "b": "y"}, references)
    assert scores == {"exact_match": 50.0, "f1": 50.0}


def test_unknown_prediction_ids_warn_and_are_ignored():
    with pytest.warns(UserWarning, match=r"3 prediction\(s\) have ids that are not in the reference set.*'zz1'"):
        scores = squad_scores({"a": "x", "zz1": "x", "zz2": "x", "zz3": "x"}, {"a": ["x"]})
    assert scores == {"exact_match": 100.0, "f1": 100.0}


def test_torchmetrics_agrees_on_a_small_set():
    references = {"a": ["Denver Broncos"], "b": ["in 1843", "1843"], "c": ["the river"]}
    predictions = {"a": "Broncos", "b": "1843", "c": "a river bank"}
    ours, theirs = squad_scores(predictions, references), torchmetrics_scores(predictions, references)
    assert ours == pytest.approx(theirs, abs=1e-4)


# --- evaluator CLI -------------------------------------------------------------------------------------------------

def _mixed_predictions(examples) -> dict:
    """Gold, truncated, padded and wrong answers, some questions left out, and a couple of stray ids."""
    predictions = {}
    for i, example in enumerate(examples):
        gold, kind = example["answers"]["text"][0], i % 5
        if kind == 0:
            predictions[example["id"]] = gold
        elif kind == 1:  # truncated; never empty (empty-vs-"." is where torchmetrics departs from v1.1)
            words = gold.split()
            predictions[example["id"]] = " ".join(words[:-1]) if len(words) > 1 else gold[: max(1, len(gold) // 2)]
        elif kind == 2:
            predictions[example["id"]] = f"{gold} and some more words"
        elif kind == 3:
            predictions[example["id"]] = " ".join(example["context"].split()[:3])
        # kind 4: no prediction
    predictions.update({"not-a-question-1": "x", "not-a-question-2": "y"})
    return predictions


@needs_dev
def test_evaluator_cli_matches_torchmetrics_on_real_dev(tmp_path):
    examples = read_squad_json(DEV_FILE)
    predictions = _mixed_predictions(examples)
    predictions_file = tmp_path / "predictions.json"
    predictions_file.write_text(json.dumps(predictions))
    run = subprocess.run([sys.executable, "-m", "bmp.squad.evaluate", str(DEV_FILE), str(predictions_file)],
                         capture_output=True, text=True, cwd=REPO, timeout=120)
    assert run.returncode == 0, run.stderr
    scores = json.loads(run.stdout.strip().splitlines()[-1])
    assert "2 prediction(s) have ids that are not in the reference set" in run.stderr
    assert f"{len(examples) // 5} of {len(examples)} question(s) have no prediction" in run.stderr
    reference = torchmetrics_scores(predictions, examples)
    assert 20 < scores["f1"] < 80
    # torchmetrics sums in float32; 1e-6 relative is about the most its 10,570-term sums can promise
    assert scores["exact_match"] == pytest.approx(reference["exact_match"], rel=1e-6)
    assert scores["f1"] == pytest.approx(reference["f1"], rel=1e-6)


def test_evaluator_cli_on_sample_and_its_errors(tmp_path, capsys, repo_root):
    data_file = repo_root / "data" / "squad_sample.json"
    examples = read_squad_json(data_file)
    predictions_file = tmp_path / "p.json"
    predictions_file.write_text(json.dumps({e["id"]: e["answers"]["text"][-1] for e in examples}))
    assert evaluate_main([str(data_file), str(predictions_file)]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1]) == {"exact_match": 100.0, "f1": 100.0}

    assert evaluate_main([str(tmp_path / "nope.json"), str(predictions_file)]) == 1
    assert "nope.json not found" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text('{"q1": ["a list"]}')
    assert evaluate_main([str(data_file), str(bad)]) == 1
    assert "mapping question ids to answer strings" in capsys.readouterr().err
    bad.write_text("{not json")
    assert evaluate_main([str(data_file), str(bad)]) == 1
    assert "not valid JSON" in capsys.readouterr().err


# --- reading, validating, finding, splitting -----------------------------------------------------------------------

def test_read_flattens_to_the_datasets_schema_and_reads_zips(tmp_path):
    plain = _write_squad(tmp_path / "dev-v1.1.json", [_tiny_article()])
    zipped = tmp_path / "dev-v1.1.json.zip"
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.write(plain, "dev-v1.1.json")
    examples = read_squad_json(zipped)
    assert examples == read_squad_json(plain)
    assert examples[1] == {"id": "q2", "title": "Seldale", "context": "Seldale was founded in 1216 by Elena Wyckley.",
                           "question": "Who founded Seldale?",
                           "answers": {"text": ["Elena Wyckley"], "answer_start": [31]}}


def test_missing_key_names_file_and_place(tmp_path):
    article = _tiny_article("b-")
    del article["paragraphs"][0]["qas"][1]["answers"]
    path = _write_squad(tmp_path / "broken.json", [_tiny_article(), article])
    expected = r"broken\.json: data\[1\]\.paragraphs\[0\]\.qas\[1\]: missing 'answers'"
    with pytest.raises(SquadFormatError, match=expected):
        read_squad_json(path)


def test_mismatched_answer_start_names_the_question(tmp_path):
    path = _write_squad(tmp_path / "shifted.json", [_tiny_article(answer_start=22)])
    with pytest.raises(SquadFormatError, match=r"question id 'q1'.*answer_start=22"):
        read_squad_json(path)
    with pytest.warns(UserWarning, match=r"dropped 1 answer\(s\).*1 question\(s\)"):
        examples = read_squad_json(path, strict=False)
    assert [e["id"] for e in examples] == ["q2"]


def test_invalid_json_is_a_format_error(tmp_path):
    path = tmp_path / "dev-v1.1.json"
    path.write_text('{"data": [')
    with pytest.raises(SquadFormatError, match="not valid JSON"):
        read_squad_json(path)


def test_find_squad_file_search_order(tmp_path, monkeypatch):
    explicit, env, default = (tmp_path / name for name in ("explicit", "env", "default"))
    for folder in (explicit, env, default):
        folder.mkdir()
    monkeypatch.setattr(squad_data, "DEFAULT_DIR", default)
    monkeypatch.setenv("BMP_SQUAD_DIR", str(env))
    assert find_squad_file("dev") is None
    _write_squad(default / "dev-v1.1.json", [])
    assert find_squad_file("dev") == default / "dev-v1.1.json"
    (env / "dev-v1.1.json.zip").write_bytes(b"")
    assert find_squad_file("dev") == env / "dev-v1.1.json.zip"
    _write_squad(explicit / "dev-v1.1.json", [])
    assert find_squad_file("dev", explicit) == explicit / "dev-v1.1.json"
    assert find_squad_file("train", explicit) is None
    with pytest.raises(FileNotFoundError, match="does not exist"):
        find_squad_file("dev", tmp_path / "typo")


def test_no_data_anywhere_says_where_to_put_it(tmp_path, monkeypatch):
    monkeypatch.setattr(squad_data, "DEFAULT_DIR", tmp_path)
    monkeypatch.delenv("BMP_SQUAD_DIR", raising=False)

    def offline():
        raise ConnectionError("no internet")

    monkeypatch.setattr(squad_data, "_load_from_hub", offline)
    for download in (True, False):
        with pytest.raises(FileNotFoundError) as err:
            load_splits(download=download)
        message = str(err.value)
        assert "dev-v1.1.json.zip" in message and str(tmp_path) in message
        assert "BMP_SQUAD_DIR" in message and "make data" in message and "shared/data/squad" in message


def test_official_split_when_both_files_exist(tmp_path, monkeypatch):
    monkeypatch.setattr(squad_data, "DEFAULT_DIR", tmp_path / "empty")
    article = _tiny_article()
    _write_squad(tmp_path / "train-v1.1.json", [article])
    _write_squad(tmp_path / "dev-v1.1.json", [dict(_tiny_article("dev-"), title="Other")])
    splits = load_splits(tmp_path)
    assert splits.split_name == "official"
    assert [e["title"] for e in splits.eval] == ["Other", "Other"]
    assert "official" in splits.description


@needs_dev
def test_dev_split_by_article(dev_splits):
    train, validation, held_out = dev_splits.train, dev_splits.validation, dev_splits.eval
    assert (len(train), len(validation), len(held_out)) == (7628, 954, 1988)
    titles = [{e["title"] for e in part} for part in (train, validation, held_out)]
    assert [len(t) for t in titles] == [34, 4, 10]
    assert not (titles[0] & titles[1] or titles[0] & titles[2] or titles[1] & titles[2])
    contexts = [{e["context"] for e in part} for part in (train, validation, held_out)]
    assert not (contexts[0] & contexts[1] or contexts[0] & contexts[2] or contexts[1] & contexts[2])
    assert dev_splits.split_name == "dev-by-article"
    assert dev_splits.description == ("SQuAD v1.1 dev split by article: train = articles 0-33 (7,628 q), "
                                      "validation = articles 34-37 (954 q), held-out = articles 38-47 (1,988 q)")
    capped = dev_splits.head(100, 50)
    assert (len(capped.train), len(capped.eval)) == (100, 50) and "first 100 train / 50" in capped.description


def test_shipped_sample_is_current_small_and_split_by_article(sample, repo_root, tokenizer):
    path = repo_root / "data" / "squad_sample.json"
    assert json.loads(path.read_text(encoding="utf-8")) == build_sample(), \
        "data/squad_sample.json is stale: run `python -m bmp.squad.sample`"
    assert path.stat().st_size < 300_000
    assert sample.split_name == "sample"
    assert 150 <= len(sample.train) + len(sample.eval) <= 260
    assert {e["title"] for e in sample.train}.isdisjoint({e["title"] for e in sample.eval})
    assert len({e["title"] for e in sample.eval}) == 3
    long_contexts = {e["context"] for e in sample.train if len(tokenizer(e["context"])["input_ids"]) > 200}
    assert len(long_contexts) >= 5


# --- features ------------------------------------------------------------------------------------------------------

def _columns(examples: list[dict]) -> dict:
    return {key: [e[key] for e in examples] for key in examples[0]}


def test_train_labels_decode_to_the_answer_and_outside_is_cls(sample, tokenizer):
    examples = sample.train + sample.eval
    features = prepare_train_features(_columns(examples), tokenizer, 128, 48, keep_offsets=True)
    by_id = {e["id"]: e for e in examples}
    labelled, at_cls = set(), 0
    for i, example_id in enumerate(features["example_id"]):
        example, offsets = by_id[example_id], features["offset_mapping"][i]
        start, end = features["start_positions"][i], features["end_positions"][i]
        answer, answer_start = example["answers"]["text"][0], example["answers"]["answer_start"][0]
        type_ids = features["token_type_ids"][i]
        context = [j for j, t in enumerate(type_ids) if t == 1][:-1]  # drop the final [SEP]
        window = (offsets[context[0]][0], offsets[context[-1]][1])
        if (start, end) == (0, 0):
            at_cls += 1
            assert not (window[0] <= answer_start and answer_start + len(answer) <= window[1])
            continue
        assert context[0] <= start <= end <= context[-1]
        span = example["context"][offsets[start][0]:offsets[end][1]]
        assert normalize_answer(span) == normalize_answer(answer), (example_id, span, answer)
        labelled.add(example_id)
    assert len(features["input_ids"]) > len(examples)  # long contexts became several windows
    assert at_cls > 50  # ...and many of those windows miss the answer
    assert labelled == set(by_id)  # yet with a stride every answer is inside some window
    assert max(len(ids) for ids in features["input_ids"]) <= 128


@needs_dev
def test_train_labels_on_real_dev(dev_splits, tokenizer):
    examples = dev_splits.eval[:300]
    features = prepare_train_features(_columns(examples), tokenizer, 192, 64, keep_offsets=True)
    by_id = {e["id"]: e for e in examples}
    labelled, exact = 0, 0
    for i, example_id in enumerate(features["example_id"]):
        start, end = features["start_positions"][i], features["end_positions"][i]
        if start == 0:
            continue
        example, offsets = by_id[example_id], features["offset_mapping"][i]
        first_char = example["answers"]["answer_start"][0]
        answer = example["answers"]["text"][0]
        # the smallest token span that covers the answer (a few golds start or end inside a word: "e third" of "are")
        assert offsets[start][0] <= first_char < offsets[start][1]
        assert offsets[end][0] < first_char + len(answer) <= offsets[end][1]
        span = example["context"][offsets[start][0]:offsets[end][1]]
        exact += normalize_answer(span) == normalize_answer(answer)
        labelled += 1
    assert labelled >= 300
    assert exact >= 0.98 * labelled


def test_question_whitespace_is_stripped_and_long_questions_are_cut(tokenizer):
    base = {"id": ["a"], "context": ["Seldale was founded in 1216."],
            "answers": [{"text": ["1216"], "answer_start": [23]}]}
    plain = prepare_train_features({**base, "question": ["When?"]}, tokenizer, 64, 16)
    padded = prepare_train_features({**base, "question": ["      When?"]}, tokenizer, 64, 16)
    assert plain["input_ids"] == padded["input_ids"]
    with pytest.warns(UserWarning, match="cut to 44 tokens"):
        long = prepare_train_features({**base, "question": ["why " * 80]}, tokenizer, 64, 16)
    assert all(len(ids) <= 64 for ids in long["input_ids"])


def test_datasets_and_collators(sample, tokenizer):
    train = tokenize_train(sample.train[:20], tokenizer, 128, 48)
    assert set(train.column_names) == {"input_ids", "token_type_ids", "attention_mask",
                                       "start_positions", "end_positions"}
    batch = train_collator(tokenizer)([train[i] for i in range(5)])
    assert batch["input_ids"].shape[1] % 8 == 0 and batch["start_positions"].shape == (5,)

    evaluation = tokenize_eval(sample.eval[:10], tokenizer, 128, 48)
    assert {"example_id", "offset_mapping"} <= set(evaluation.column_names)
    first = evaluation[0]
    assert first["offset_mapping"][0] is None  # [CLS]
    assert all((pair is None) == (t == 0 or j == len(first["input_ids"]) - 1)
               for j, (pair, t) in enumerate(zip(first["offset_mapping"], first["token_type_ids"])))
    batch = eval_collator(tokenizer)([evaluation[i] for i in range(4)])
    assert set(batch) == {"input_ids", "token_type_ids", "attention_mask"}


# --- post-processing -----------------------------------------------------------------------------------------------

def test_perfect_logits_recover_gold_answers(sample, tokenizer):
    examples = sample.eval
    features = tokenize_eval(examples, tokenizer, 128, 48)
    by_id = {e["id"]: e for e in examples}
    width = 136  # wider than any window, as when batches padded to different lengths are concatenated
    start_logits = np.full((len(features), width), -100.0)
    end_logits = np.full((len(features), width), -100.0)
    for i, (example_id, offsets) in enumerate(zip(features["example_id"], features["offset_mapping"])):
        n = len(offsets)
        start_logits[i, :n] = end_logits[i, :n] = 0.0
        start_logits[i, n:] = end_logits[i, n:] = 100.0  # junk past the window must be ignored
        gold = by_id[example_id]["answers"]
        first_char = gold["answer_start"][0]
        last_char = first_char + len(gold["text"][0])
        starts = [j for j, pair in enumerate(offsets) if pair and pair[0] == first_char]
        ends = [j for j, pair in enumerate(offsets) if pair and pair[1] == last_char]
        if starts and ends:
            start_logits[i, starts[0]] = end_logits[i, ends[0]] = 10.0
    predictions = postprocess_predictions(examples, features, start_logits, end_logits)
    assert predictions == {e["id"]: e["answers"]["text"][0] for e in examples}
    assert squad_scores(predictions, examples) == {"exact_match": 100.0, "f1": 100.0}
    with pytest.raises(ValueError, match="rows of logits"):
        postprocess_predictions(examples, features, start_logits[:-1], end_logits[:-1])
