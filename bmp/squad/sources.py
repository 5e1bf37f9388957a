"""The user's own questions, in every form they have them: SQuAD JSON, JSON Lines, ``datasets`` folders and objects,
lists of dicts and hub names.

:func:`load_squad` takes train / validation / eval data as given: nothing is moved between splits, cut, or replaced
by a profile's data. Every record is checked up front, so a bad one is reported by file, line (or record) and question
id, with the fix, instead of surfacing as a tokenizer error deep inside a run.
"""
from __future__ import annotations

import json
import os
import re
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

from bmp.squad.data import SquadFormatError, SquadSplits, load_splits, parse_squad, read_squad_raw

SPLIT_NAME = "user-files"
ROLES = ("train", "validation", "eval")
DICT_SPLITS = {"train": "train", "validation": "validation", "eval": "test"}  # role -> its DatasetDict split
# A missing path with one of these endings is a typo'd file, never a hub name: say so instead of asking the hub.
FILE_SUFFIXES = {".json", ".jsonl", ".zip", ".txt", ".gz", ".csv", ".parquet", ".arrow"}
HUB_NAME = re.compile(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?")
TITLE_WORDS = 6
RECORD_KEYS = "id, context, question and answers {'text': [...], 'answer_start': [...]}"


@dataclass(frozen=True)
class Given:
    """One piece of user data before it is read: a file Path, a list of records, a Dataset or a DatasetDict."""
    data: object
    name: str  # short, for the one-line description
    source: str  # full, for SquadSplits.source and error messages
    folder: bool = False  # a save_to_disk folder: each DatasetDict split is a sub-folder the user can pass

    def split(self, split: str, role: str) -> "Given":
        if split not in self.data:
            fix = (f"pass the folder {Path(self.source) / '<split>'}" if self.folder
                   else "pass dataset_dict['<split>']")
            raise SquadFormatError(f"{self.source}: a DatasetDict with splits {sorted(self.data)}, none named "
                                   f"{split!r} (what {role} reads); {fix} for the one you mean")
        if self.folder:
            return Given(self.data[split], f"{self.name}{split}", str(Path(self.source) / split))
        return Given(self.data[split], f"{self.name}[{split!r}]", f"{self.source}[{split!r}]")


def load_squad(train=None, validation=None, eval=None, *, strict: bool = True) -> SquadSplits:
    """The user's SQuAD v1.1 questions as :class:`SquadSplits` (``split_name`` "user-files"), used as given.

    Each of ``train`` / ``validation`` / ``eval`` may be
    - a path (str or Path, any name or extension) to an official SQuAD v1.1 JSON file, a ``.zip`` holding one, a
      JSON Lines file of records (a ``.json`` that is really JSON Lines works too), or a JSON list of records;
    - a folder written by ``datasets``' ``save_to_disk``, or a ``datasets.Dataset`` / ``DatasetDict``: a
      DatasetDict gives its split of the same name ("train", "validation", "test" for eval);
    - a list of record dicts;
    - a string that is no existing path: a hub dataset name, ``datasets.load_dataset(name)`` (online only).

    A record is ``{id, title, context, question, answers: {"text": [...], "answer_start": [...]}}`` (the ``datasets``
    squad columns; ``answers`` may also be the official list of ``{"text", "answer_start"}``). Integer ids become
    strings. A record without ``title`` gets its context's first six words, so the questions on one paragraph stay
    together wherever titles group questions into articles. Other keys are dropped.

    Every record is checked: a missing key, unequal ``text`` / ``answer_start`` lists, no answers, a duplicate id,
    or (``strict``) an answer whose text is not at ``answer_start`` in the context raises SquadFormatError naming the
    file, the line or record, the question id and the fix. With ``strict=False`` such answers are dropped, and
    questions left without any, with one warning giving the counts.

    Without ``eval`` the validation data is also what gets scored. A DatasetDict (object, folder or hub name) given
    as ``train`` alone supplies its train and validation splits. With nothing given this is :func:`load_splits`.

    Example::

        >>> import json, tempfile
        >>> from pathlib import Path
        >>> from bmp.squad import load_squad
        >>> record = {"id": "q1", "title": "Seldale", "context": "Seldale was founded in 1216.",
        ...           "question": "When was Seldale founded?", "answers": {"text": ["1216"], "answer_start": [23]}}
        >>> path = Path(tempfile.mkdtemp()) / "my questions.jsonl"
        >>> _ = path.write_text(json.dumps(record) + "\\n")
        >>> splits = load_squad(train=path, validation=[dict(record, id="v1")])
        >>> print(splits.description)  # doctest: +NORMALIZE_WHITESPACE
        user data: train = my questions.jsonl (1 q), validation = list given as validation (1 q),
        eval = validation (validation data also scored)
        >>> splits.eval[0]["answers"]
        {'text': ['1216'], 'answer_start': [23]}
    """
    if train is None and validation is None and eval is None:
        return load_splits()
    given = {role: _open(value, role) for role, value in zip(ROLES, (train, validation, eval)) if value is not None}
    note = ""
    if set(given) == {"train"} and _is_dataset_dict(given["train"].data):
        whole = given["train"]
        given = {"train": whole.split("train", "train")}
        if "validation" in whole.data:
            given["validation"] = whole.split("validation", "validation")
            note = f"; both splits of {whole.name}, given as train"
        else:
            note = f"; {whole.name}, given as train, has no validation split"
    else:
        given = {role: piece.split(DICT_SPLITS[role], role) if _is_dataset_dict(piece.data) else piece
                 for role, piece in given.items()}
    examples = {role: _read(piece, strict) for role, piece in given.items()}
    parts = [f"{role} = {given[role].name} ({len(examples[role]):,} q)" for role in ROLES if role in given]
    if "eval" not in given and "validation" in given:
        what = "file" if isinstance(given["validation"].data, Path) else "data"
        examples["eval"] = list(examples["validation"])
        parts.append(f"eval = validation (validation {what} also scored)")
    missing = [role for role in ROLES if role not in examples]
    description = "user data: " + ", ".join(parts) + note
    if missing:
        description += f"; no {' or '.join(missing)} data given"
    return SquadSplits(train=examples.get("train", []), eval=examples.get("eval", []), split_name=SPLIT_NAME,
                       description=description, source=", ".join(piece.source for piece in given.values()),
                       validation=examples.get("validation", []))


# --- opening: what kind of thing the user gave -----------------------------------------------------------------------

def _is_dataset_dict(data) -> bool:
    # an object can only be a datasets one if datasets is imported; checking this way keeps bmp.squad light
    return "datasets" in sys.modules and isinstance(data, sys.modules["datasets"].DatasetDict)


def _open(value, role: str) -> Given:
    if isinstance(value, (str, os.PathLike)):
        path = Path(value).expanduser()
        if path.is_file():
            return Given(path, path.name, str(path))
        if path.is_dir():
            return Given(_load_folder(path), f"{path.name}/", str(path), folder=True)
        if isinstance(value, str) and HUB_NAME.fullmatch(value) and Path(value).suffix.lower() not in FILE_SUFFIXES:
            return Given(_load_hub(value), f"hub:{value}", f"hf:{value}")
        raise FileNotFoundError(f"{value} (given as {role}) does not exist (relative to {Path.cwd()}): check the path")
    if isinstance(value, (list, tuple)):
        return Given(list(value), f"list given as {role}", f"list given as {role}")
    if "datasets" in sys.modules:
        datasets = sys.modules["datasets"]
        if isinstance(value, datasets.DatasetDict):
            return Given(value, "DatasetDict", f"DatasetDict given as {role}")
        if isinstance(value, datasets.Dataset):
            return Given(value, f"Dataset given as {role}", f"Dataset given as {role}")
    raise TypeError(f"{role}: cannot read a {type(value).__name__}; pass a file path, a save_to_disk folder, a "
                    "datasets Dataset or DatasetDict, a list of record dicts, or a hub dataset name")


def _load_folder(path: Path):
    if not ((path / "dataset_dict.json").is_file() or (path / "state.json").is_file()):
        raise SquadFormatError(f"{path}: a folder, but not one written by datasets' save_to_disk (it has no "
                               "dataset_dict.json or state.json); pass a SQuAD JSON or JSON Lines file, or "
                               "load_splits(folder) for a folder holding train-v1.1.json / dev-v1.1.json")
    from datasets import load_from_disk

    return load_from_disk(str(path))


def _load_hub(name: str):
    try:
        from datasets import load_dataset

        return load_dataset(name)
    except Exception as err:  # offline, no such dataset, datasets missing: the user's next step is the same
        raise FileNotFoundError(
            f"{name!r} is not an existing file or folder (relative to {Path.cwd()}), and it could not be loaded "
            f"from the Hugging Face hub as a dataset name ({type(err).__name__}: {err}); check the path, or "
            "connect to the internet for a hub dataset") from err


# --- reading: files and objects to checked records ------------------------------------------------------------------

def _read(piece: Given, strict: bool) -> list[dict]:
    data, source = piece.data, piece.source
    if isinstance(data, Path):
        examples = _read_file(data, strict)
    elif isinstance(data, list):
        examples = _check([(f"record [{i}]", record) for i, record in enumerate(data)], source, strict)
    else:  # a datasets.Dataset
        absent = [key for key in ("id", "context", "question", "answers") if key not in data.column_names]
        if absent:
            raise SquadFormatError(f"{source}: no column {', '.join(map(repr, absent))} (it has {data.column_names})"
                                   "; rename its columns to the squad ones (Dataset.rename_column)")
        examples = _check([(f"row {i}", record) for i, record in enumerate(data.to_list())], source, strict)
    if not examples:
        raise SquadFormatError(f"{source}: no questions in it; pass a file or dataset that holds some")
    return examples


def _read_file(path: Path, strict: bool) -> list[dict]:
    if path.suffix.lower() == ".zip":
        return _from_json(read_squad_raw(path), str(path), strict)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise SquadFormatError(f"{path}: not UTF-8 text (byte {err.start}); bmp reads SQuAD JSON or JSON Lines: "
                               "load other formats with datasets and pass the Dataset") from err
    if not text.strip():
        raise SquadFormatError(f"{path}: the file is empty; expected SQuAD v1.1 JSON or JSON Lines (one question "
                               "record per line)")
    try:
        root = json.loads(text)
    except json.JSONDecodeError as err:
        # a whole first value followed by more is JSON Lines (whatever the file is called), not broken JSON
        if err.msg == "Extra data":
            return _check(_jsonl_records(text, path), str(path), strict)
        raise SquadFormatError(f"{path}: line {err.lineno}: not valid JSON ({err.msg} at column {err.colno}); "
                               "fix it there, or write one JSON record per line (JSON Lines)") from err
    return _from_json(root, str(path), strict)


def _jsonl_records(text: str, path: Path) -> list[tuple[str, object]]:
    records = []
    for n, line in enumerate(text.split("\n"), 1):  # not splitlines(): contexts may hold U+2028 and friends
        if not line.strip():
            continue
        try:
            records.append((f"line {n}", json.loads(line)))
        except json.JSONDecodeError as err:
            raise SquadFormatError(f"{path}: line {n}: not valid JSON ({err.msg} at column {err.colno}); each line "
                                   "of a JSON Lines file must be one complete JSON record") from err
    return records


def _from_json(root, source: str, strict: bool) -> list[dict]:
    if isinstance(root, list):
        return _check([(f"record [{i}]", record) for i, record in enumerate(root)], source, strict)
    if isinstance(root, dict) and "data" in root:
        data = root["data"]
        if isinstance(data, list) and data and isinstance(data[0], dict) and "question" in data[0]:
            return _check([(f"data[{i}]", record) for i, record in enumerate(data)], source, strict)
        return [example for _, examples in parse_squad(root, source, strict=strict) for example in examples]
    if isinstance(root, dict) and "question" in root:  # JSON Lines with a single line
        return _check([("line 1", root)], source, strict)
    raise SquadFormatError(f"{source}: the top level is a {type(root).__name__} that is neither official SQuAD v1.1 "
                           "({\"data\": [articles]}) nor a record; write SQuAD v1.1 JSON, a JSON list of records, "
                           "or JSON Lines (one record per line)")


# --- checking one record at a time ----------------------------------------------------------------------------------

def _check(records: list[tuple[str, object]], source: str, strict: bool) -> list[dict]:
    """Checked examples in order; ``records`` pairs each record with its place ("line 3", "record [2]", "row 0")."""
    examples, first_seen = [], {}
    bad_answers = dropped = 0
    for place, record in records:
        example, bad = _example(record, f"{source}: {place}", strict)
        qid = str(record["id"])
        if qid in first_seen:
            raise SquadFormatError(f"{source}: {place} (question id {qid!r}): duplicate id, already used at "
                                   f"{first_seen[qid]}; ids must be unique (answers are matched to questions "
                                   "by id): give one of them a new id")
        first_seen[qid] = place
        bad_answers += bad
        if example is None:
            dropped += 1
        else:
            examples.append(example)
    if bad_answers or dropped:
        warnings.warn(f"{source}: dropped {bad_answers} answer(s) whose text does not match the context at "
                      f"answer_start, and {dropped} question(s) left without answers", stacklevel=4)
    return examples


def _example(record, where: str, strict: bool) -> tuple[dict | None, int]:
    """The record in the project's schema (None when ``strict=False`` dropped all its answers), and how many of its
    answers were dropped."""
    if not isinstance(record, dict):
        raise SquadFormatError(f"{where}: expected a record (an object with {RECORD_KEYS}), "
                               f"got a {type(record).__name__}")
    qid = record.get("id")
    if isinstance(qid, int) and not isinstance(qid, bool):
        qid = str(qid)
    if isinstance(qid, str) and qid:
        where = f"{where} (question id {qid!r})"
    missing = [key for key in ("id", "context", "question", "answers") if record.get(key) is None]
    if missing:
        raise SquadFormatError(f"{where}: missing {', '.join(map(repr, missing))}; every record needs {RECORD_KEYS}")
    if not isinstance(qid, str) or not qid:
        raise SquadFormatError(f"{where}: id must be a non-empty string, got {qid!r}")
    context, question, title = record["context"], record["question"], record.get("title")
    for key, value in (("context", context), ("question", question)):
        if not isinstance(value, str) or not value.strip():
            raise SquadFormatError(f"{where}: {key} must be non-empty text, got {value!r:.60}")
    if title is None:
        title = " ".join(context.split()[:TITLE_WORDS])
    elif not isinstance(title, str):
        raise SquadFormatError(f"{where}: title must be text, got {title!r:.60}; quote it or leave it out")
    texts, starts, bad = [], [], 0
    for text, start in _answers(record["answers"], where):
        found = context[start:start + len(text)]
        if found != text:
            if strict:
                raise SquadFormatError(
                    f"{where}: answer {text!r} does not match the context at answer_start={start} (found {found!r})"
                    "; fix answer_start (the answer's character offset in the context), or read with strict=False "
                    "to drop such answers")
            bad += 1
            continue
        texts.append(text)
        starts.append(start)
    if not texts:
        if strict:
            raise SquadFormatError(f"{where}: no answers; SQuAD v1.1 questions need at least one: add it, remove the "
                                   "question, or read with strict=False to drop unanswered questions")
        return None, bad
    return {"id": qid, "title": title, "context": context, "question": question,
            "answers": {"text": texts, "answer_start": starts}}, bad


def _answers(answers, where: str) -> list[tuple[str, int]]:
    """``(text, answer_start)`` pairs from the datasets form (two lists) or the official one (a list of objects)."""
    if isinstance(answers, list) and all(isinstance(answer, dict) for answer in answers):
        answers = {"text": [answer.get("text") for answer in answers],
                   "answer_start": [answer.get("answer_start") for answer in answers]}
    if not (isinstance(answers, dict) and isinstance(answers.get("text"), list)
            and isinstance(answers.get("answer_start"), list)):
        raise SquadFormatError(f"{where}: answers must be {{'text': [...], 'answer_start': [...]}}, got "
                               f"{answers!r:.80}")
    texts, starts = answers["text"], answers["answer_start"]
    if len(texts) != len(starts):
        raise SquadFormatError(f"{where}: answers has {len(texts)} text(s) but {len(starts)} answer_start(s); "
                               "give one answer_start per text")
    for text, start in zip(texts, starts):
        if not isinstance(text, str) or not isinstance(start, int) or isinstance(start, bool):
            raise SquadFormatError(f"{where}: each answer needs text (a string) and answer_start (an integer), got "
                                   f"text={text!r:.60}, answer_start={start!r}")
    return list(zip(texts, starts))
