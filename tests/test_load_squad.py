"""bmp.squad.load_squad: the user's own questions in every form they have them, used as given, and every bad record
reported by file, place and question id."""
import doctest
import json
import zipfile
from pathlib import Path

import pytest

from bmp.squad import SquadFormatError, load_splits, load_squad, sources, tokenize_eval, tokenize_train
from bmp.squad import data as squad_data

FOUNDING = "Seldale was founded in 1216 by Elena Wyckley."
RIVER = "The Arn river runs past the old mill of Seldale."
RECORDS = [
    {"id": "q1", "title": "Seldale", "context": FOUNDING, "question": "When was Seldale founded?",
     "answers": {"text": ["1216"], "answer_start": [23]}},
    {"id": "q2", "title": "Seldale", "context": FOUNDING, "question": "Who founded Seldale?",
     "answers": {"text": ["Elena Wyckley", "Wyckley"], "answer_start": [31, 37]}},
    {"id": "q3", "title": "Arn", "context": RIVER, "question": "What runs past the old mill?",
     "answers": {"text": ["The Arn river"], "answer_start": [0]}},
]


def records(prefix: str = "", *, count: int = 3) -> list[dict]:
    return [dict(record, id=prefix + record["id"]) for record in RECORDS[:count]]


def ids(examples: list[dict]) -> list[str]:
    return [example["id"] for example in examples]


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def official(rows: list[dict]) -> dict:
    """The same questions in the official SQuAD v1.1 layout (one article per title, one paragraph per context)."""
    articles: dict[str, dict[str, list]] = {}
    for row in rows:
        paragraphs = articles.setdefault(row["title"], {})
        gold = row["answers"]
        answers = [{"text": t, "answer_start": s} for t, s in zip(gold["text"], gold["answer_start"])]
        paragraphs.setdefault(row["context"], []).append({"id": row["id"], "question": row["question"],
                                                          "answers": answers})
    return {"version": "1.1", "data": [
        {"title": title, "paragraphs": [{"context": c, "qas": qas} for c, qas in paragraphs.items()]}
        for title, paragraphs in articles.items()]}


# --- every form, read to the same examples ---------------------------------------------------------------------------

def _official_json(path):
    path.write_text(json.dumps(official(RECORDS)))


def _official_zip(path):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("dev-v1.1.json", json.dumps(official(RECORDS)))


def _json_list(path):
    path.write_text(json.dumps(RECORDS, indent=2))


def _jsonl(path):
    write_jsonl(path, RECORDS)


@pytest.mark.parametrize("name, write", [
    ("dev-v1.1.json", _official_json),
    ("dev-v1.1.json.zip", _official_zip),
    ("squad official", _official_json),  # no extension: the content decides
    ("my data.jsonl", _jsonl),
    ("records.json", _jsonl),  # a .json that is really JSON Lines
    ("questions.txt", _jsonl),
    ("questions", _jsonl),
    ("list.json", _json_list),
])
def test_every_file_form_reads_to_the_same_examples(tmp_path, name, write):
    write(tmp_path / name)
    splits = load_squad(train=tmp_path / name)
    assert splits.train == RECORDS
    assert (splits.validation, splits.eval) == ([], [])
    assert splits.split_name == "user-files"
    assert splits.description == f"user data: train = {name} (3 q); no validation or eval data given"
    assert splits.source == str(tmp_path / name)
    assert load_squad(train=str(tmp_path / name)).train == RECORDS  # a str path reads the same


def test_records_are_put_in_the_project_schema(tmp_path):
    rows = [
        {"id": 7, "context": FOUNDING, "question": "When was Seldale founded?", "extra": "dropped",
         "answers": [{"text": "1216", "answer_start": 23}]},  # int id, no title, official-style answers
        {"id": "q2", "title": None, "context": RIVER, "question": "What runs past the old mill?",
         "answers": {"text": ["The Arn river"], "answer_start": [0]}},
    ]
    examples = load_squad(train=write_jsonl(tmp_path / "odd.jsonl", rows)).train
    assert examples == [
        {"id": "7", "title": "Seldale was founded in 1216 by", "context": FOUNDING,
         "question": "When was Seldale founded?", "answers": {"text": ["1216"], "answer_start": [23]}},
        {"id": "q2", "title": "The Arn river runs past the", "context": RIVER,
         "question": "What runs past the old mill?", "answers": {"text": ["The Arn river"], "answer_start": [0]}},
    ]


def test_a_list_of_dicts_and_a_single_line_file(tmp_path):
    splits = load_squad(train=records(), eval=records("e-", count=1))
    assert ids(splits.train) == ["q1", "q2", "q3"] and ids(splits.eval) == ["e-q1"] and splits.validation == []
    assert splits.description == ("user data: train = list given as train (3 q), eval = list given as eval (1 q); "
                                  "no validation data given")
    one = tmp_path / "one.json"
    one.write_text(json.dumps(RECORDS[0]))
    assert load_squad(train=one).train == RECORDS[:1]


# --- roles: what is scored, and what the description says ----------------------------------------------------------

def test_validation_is_also_scored_without_eval(tmp_path):
    train = write_jsonl(tmp_path / "train.jsonl", records())
    validation = write_jsonl(tmp_path / "dev questions.jsonl", records("v-", count=2))
    splits = load_squad(train, validation)
    assert ids(splits.train) == ["q1", "q2", "q3"]
    assert ids(splits.validation) == ids(splits.eval) == ["v-q1", "v-q2"]
    assert splits.description == ("user data: train = train.jsonl (3 q), validation = dev questions.jsonl (2 q), "
                                  "eval = validation (validation file also scored)")
    assert splits.source == f"{train}, {validation}"


def test_three_files_are_used_as_given(tmp_path):
    paths = [write_jsonl(tmp_path / f"{role}.jsonl", records(f"{role}-", count=n))
             for role, n in (("train", 3), ("validation", 1), ("eval", 2))]
    splits = load_squad(*paths)
    assert ids(splits.train) == ["train-q1", "train-q2", "train-q3"]
    assert ids(splits.validation) == ["validation-q1"]
    assert ids(splits.eval) == ["eval-q1", "eval-q2"]
    assert splits.description == ("user data: train = train.jsonl (3 q), validation = validation.jsonl (1 q), "
                                  "eval = eval.jsonl (2 q)")


def test_nothing_given_is_load_splits(tmp_path, monkeypatch):
    monkeypatch.setattr(squad_data, "DEFAULT_DIR", tmp_path)
    monkeypatch.delenv("BMP_SQUAD_DIR", raising=False)
    rows = [dict(record, id=f"a{a}-{record['id']}", title=f"Article {a}") for a in range(16) for record in RECORDS]
    (tmp_path / "dev-v1.1.json").write_text(json.dumps(official(rows)))
    splits = load_squad()
    assert splits == load_splits()
    assert splits.split_name == "dev-by-article" and (len(splits.train), len(splits.eval)) == (6, 30)


# --- datasets: folders, objects, hub names ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def squad_dict():
    from datasets import Dataset, DatasetDict

    return DatasetDict({"train": Dataset.from_list(records("t-")),
                        "validation": Dataset.from_list(records("v-", count=2)),
                        "test": Dataset.from_list(records("x-", count=1))})


def test_saved_dataset_folder(tmp_path, squad_dict):
    squad_dict["validation"].save_to_disk(tmp_path / "dev set")
    splits = load_squad(train=records(), validation=tmp_path / "dev set")
    assert splits.validation == splits.eval == records("v-", count=2)
    assert "validation = dev set/ (2 q)" in splits.description


def test_saved_dataset_dict_given_as_train_gives_train_and_validation(tmp_path, squad_dict):
    squad_dict.save_to_disk(tmp_path / "saved")
    splits = load_squad(train=tmp_path / "saved")
    assert splits.train == records("t-")
    assert ids(splits.validation) == ids(splits.eval) == ["v-q1", "v-q2"]
    assert splits.description == (
        "user data: train = saved/train (3 q), validation = saved/validation (2 q), eval = validation (validation "
        "data also scored); both splits of saved/, given as train")
    assert splits.source == f"{tmp_path / 'saved' / 'train'}, {tmp_path / 'saved' / 'validation'}"

    each = load_squad(tmp_path / "saved", tmp_path / "saved", tmp_path / "saved")  # each role takes its own split
    assert (ids(each.train), ids(each.validation), ids(each.eval)) == (["t-q1", "t-q2", "t-q3"], ["v-q1", "v-q2"],
                                                                       ["x-q1"])


def test_dataset_and_dataset_dict_objects(squad_dict):
    splits = load_squad(train=squad_dict["train"], eval=squad_dict)
    assert splits.train == records("t-") and ids(splits.eval) == ["x-q1"]
    assert splits.description == ("user data: train = Dataset given as train (3 q), eval = DatasetDict['test'] "
                                  "(1 q); no validation data given")
    whole = load_squad(train=squad_dict)
    assert (ids(whole.train), ids(whole.eval)) == (["t-q1", "t-q2", "t-q3"], ["v-q1", "v-q2"])
    from datasets import DatasetDict

    alone = load_squad(train=DatasetDict({"train": squad_dict["train"]}))
    assert (ids(alone.train), alone.validation, alone.eval) == (["t-q1", "t-q2", "t-q3"], [], [])
    assert alone.description == ("user data: train = DatasetDict['train'] (3 q); DatasetDict, given as train, has no "
                                 "validation split; no validation or eval data given")


def test_a_dataset_dict_without_the_split(squad_dict):
    from datasets import DatasetDict

    with pytest.raises(SquadFormatError, match=r"DatasetDict given as eval: a DatasetDict with splits "
                                               r"\['train', 'validation'\], none named 'test'"):
        load_squad(train=records(), eval=DatasetDict({k: squad_dict[k] for k in ("train", "validation")}))


def test_a_dataset_without_squad_columns(squad_dict):
    with pytest.raises(SquadFormatError, match=r"Dataset given as train: no column 'answers'.*rename_column"):
        load_squad(train=squad_dict["train"].remove_columns("answers"))


def test_a_bad_dataset_row_is_named(squad_dict):
    from datasets import Dataset

    rows = records()
    rows[1] = dict(rows[1], answers={"text": ["Elena"], "answer_start": [0]})
    with pytest.raises(SquadFormatError, match=r"Dataset given as validation: row 1 \(question id 'q2'\): answer "
                                               r"'Elena' does not match the context at answer_start=0"):
        load_squad(train=records(), validation=Dataset.from_list(rows))


def test_a_folder_not_written_by_save_to_disk(tmp_path):
    (tmp_path / "folder").mkdir()
    with pytest.raises(SquadFormatError, match=r"folder: a folder, but not one written by datasets' save_to_disk"):
        load_squad(train=tmp_path / "folder")


# --- bad data: the message names the file and the place ------------------------------------------------------------

def test_missing_file_and_unreachable_hub(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"my data\.jsonl \(given as validation\) does not exist"):
        load_squad(train=records(), validation="my data.jsonl")
    with pytest.raises(FileNotFoundError, match=r"questions\.txt \(given as train\) does not exist"):
        load_squad(train=tmp_path / "questions.txt")
    # a name that could be a hub dataset is tried there; offline (the test setup) that fails, and says both things
    with pytest.raises(FileNotFoundError, match=r"'squad_typo' is not an existing file or folder .* could not be "
                                                r"loaded from the Hugging Face hub"):
        load_squad(train="squad_typo")


@pytest.mark.parametrize("text", ["", "\n  \n"])
def test_empty_file(tmp_path, text):
    (tmp_path / "empty.jsonl").write_text(text)
    with pytest.raises(SquadFormatError, match=r"empty\.jsonl: the file is empty"):
        load_squad(train=tmp_path / "empty.jsonl")


def test_a_file_with_no_questions(tmp_path):
    (tmp_path / "none.json").write_text("[]")
    with pytest.raises(SquadFormatError, match=r"none\.json: no questions in it"):
        load_squad(train=tmp_path / "none.json")


@pytest.mark.parametrize("name", ["bad.jsonl", "bad.json"])
def test_a_line_that_is_not_json(tmp_path, name):
    path = tmp_path / name
    path.write_text(json.dumps(RECORDS[0]) + "\n\n" + json.dumps(RECORDS[1]) + "\n" + '{"id": "q3", oops}\n')
    with pytest.raises(SquadFormatError, match=rf"{name.replace('.', '[.]')}: line 4: not valid JSON"):
        load_squad(train=path)


def test_broken_json_names_its_line(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(RECORDS, indent=2)[:-20])
    with pytest.raises(SquadFormatError, match=r"broken\.json: line \d+: not valid JSON"):
        load_squad(train=path)


@pytest.mark.parametrize("change, message", [
    (lambda r: r.pop("answers"), r"line 2 \(question id 'q2'\): missing 'answers'"),
    (lambda r: r.pop("context"), r"line 2 \(question id 'q2'\): missing 'context'"),
    (lambda r: r.update(answers={"text": ["Elena Wyckley"], "answer_start": []}),
     r"line 2 \(question id 'q2'\): answers has 1 text\(s\) but 0 answer_start\(s\)"),
    (lambda r: r.update(answers={"text": [], "answer_start": []}), r"line 2 \(question id 'q2'\): no answers"),
    (lambda r: r.update(answers={"text": ["Elena Wyckley"], "answer_start": ["31"]}),
     r"line 2 \(question id 'q2'\): each answer needs text .* answer_start \(an integer\)"),
    (lambda r: r.update(id="q1"), r"line 2 \(question id 'q1'\): duplicate id, already used at line 1"),
    (lambda r: r.update(question="  "), r"line 2 \(question id 'q2'\): question must be non-empty text"),
])
def test_a_bad_record_names_file_line_and_id(tmp_path, change, message):
    rows = records()
    change(rows[1])
    path = write_jsonl(tmp_path / "my data.jsonl", rows)
    with pytest.raises(SquadFormatError, match=r"my data\.jsonl: " + message):
        load_squad(train=path)


def test_a_bad_record_in_a_json_list_names_its_index(tmp_path):
    rows = records()
    del rows[2]["answers"]
    (tmp_path / "list.json").write_text(json.dumps(rows))
    with pytest.raises(SquadFormatError, match=r"list\.json: record \[2\] \(question id 'q3'\): missing 'answers'"):
        load_squad(train=tmp_path / "list.json")


def test_answer_start_mismatch_is_an_error_or_dropped_with_a_warning(tmp_path):
    rows = records()
    rows[0]["answers"] = {"text": ["1216"], "answer_start": [22]}
    rows[1]["answers"] = {"text": ["Elena Wyckley", "Wyckley"], "answer_start": [31, 30]}
    path = write_jsonl(tmp_path / "shifted.jsonl", rows)
    with pytest.raises(SquadFormatError, match=r"shifted\.jsonl: line 1 \(question id 'q1'\): answer '1216' does not "
                                               r"match the context at answer_start=22 \(found ' 121'\); fix "):
        load_squad(train=path)
    with pytest.warns(UserWarning, match=r"shifted\.jsonl: dropped 2 answer\(s\).* and 1 question\(s\) left"):
        examples = load_squad(train=path, strict=False).train
    assert ids(examples) == ["q2", "q3"]
    assert examples[0]["answers"] == {"text": ["Elena Wyckley"], "answer_start": [31]}


def test_an_unreadable_value():
    with pytest.raises(TypeError, match=r"validation: cannot read a int"):
        load_squad(train=records(), validation=3)


# --- the loaded examples run through the existing feature code unchanged -------------------------------------------

def test_loaded_jsonl_tokenizes(tmp_path):
    from bmp.models import load_tokenizer

    tokenizer = load_tokenizer()
    splits = load_squad(write_jsonl(tmp_path / "train.jsonl", records()),
                        write_jsonl(tmp_path / "dev.jsonl", records("v-")))
    train = tokenize_train(splits.train, tokenizer, 64, 16)
    assert len(train) == 3 and train["start_positions"][0] > 0  # each short context is one labelled window
    first = train[0]
    assert tokenizer.decode(first["input_ids"][first["start_positions"]:first["end_positions"] + 1]) == "1216"
    evaluation = tokenize_eval(splits.eval, tokenizer, 64, 16)
    assert evaluation["example_id"] == ["v-q1", "v-q2", "v-q3"]


def test_the_docstring_example_runs():
    assert doctest.testmod(sources).failed == 0
