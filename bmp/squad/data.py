"""Finding, reading, validating and splitting SQuAD v1.1 files.

Examples use the Hugging Face ``datasets`` squad schema:
``{id, title, context, question, answers: {"text": [...], "answer_start": [...]}}``.
Offline only the official dev file exists, so it is split *by article* (no paragraph is seen in both parts);
every :class:`SquadSplits` carries ``split_name`` and ``description`` so each score can say which split it used.
"""
from __future__ import annotations

import json
import os
import warnings
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DIR = REPO_ROOT / "data" / "squad"
SAMPLE_FILE = REPO_ROOT / "data" / "squad_sample.json"
SHARED_DIR = "../shared/data/squad"
ENV_DIR = "BMP_SQUAD_DIR"
HUB_NAME = "rajpurkar/squad"
FILE_STEMS = {"train": "train-v1.1", "dev": "dev-v1.1"}

Article = tuple[str, list[dict]]  # (title, examples in file order)


class SquadFormatError(ValueError):
    """A SQuAD file that does not follow the official v1.1 layout; the message names the file and the place."""


# --- finding files -------------------------------------------------------------------------------------------------

def _candidates(folder: Path, split: str) -> list[Path]:
    stem = FILE_STEMS[split]
    return [folder / f"{stem}.json", folder / f"{stem}.json.zip", folder / f"{stem}.zip"]


def find_squad_file(split: str, path: str | Path | None = None) -> Path | None:
    """The local file for ``split`` ("train" or "dev"), or None.

    Looks in: ``path`` (a file is taken as is; a folder is searched), then ``$BMP_SQUAD_DIR``, then
    ``<repo>/data/squad/``, for ``train-v1.1.json`` / ``dev-v1.1.json`` or their ``.zip`` forms.
    """
    split = "dev" if split == "validation" else split
    if split not in FILE_STEMS:
        raise ValueError(f"split must be 'train' or 'dev', got {split!r}")
    folders = []
    if path is not None:
        path = Path(path).expanduser()
        if path.is_file():
            return path
        if not path.is_dir():
            raise FileNotFoundError(f"{path} does not exist: pass a SQuAD json/zip file or a folder holding one")
        folders.append(path)
    if os.environ.get(ENV_DIR):
        folders.append(Path(os.environ[ENV_DIR]).expanduser())
    folders.append(DEFAULT_DIR)
    for folder in folders:
        for candidate in _candidates(folder, split):
            if candidate.is_file():
                return candidate
    return None


# --- reading and validating ----------------------------------------------------------------------------------------

def read_squad_raw(path: str | Path) -> dict:
    """The parsed JSON of a dataset file (json, or a zip holding one json), before any validation."""
    path = Path(path)
    try:
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as archive:
                members = [name for name in archive.namelist() if name.endswith(".json")]
                if len(members) != 1:
                    raise SquadFormatError(f"{path}: expected exactly one .json inside the zip, found {members}")
                raw = archive.read(members[0])
        else:
            raw = path.read_bytes()
        return json.loads(raw)
    except json.JSONDecodeError as err:
        raise SquadFormatError(f"{path}: not valid JSON ({err})") from err
    except zipfile.BadZipFile as err:
        raise SquadFormatError(f"{path}: not a valid zip file ({err})") from err


def _require(node, key: str, kind: type, where: str, source: str):
    if not isinstance(node, dict):
        raise SquadFormatError(f"{source}: {where}: expected an object, got {type(node).__name__}")
    if key not in node:
        raise SquadFormatError(f"{source}: {where}: missing {key!r}")
    value = node[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise SquadFormatError(f"{source}: {where}.{key}: expected {kind.__name__}, got {type(value).__name__}")
    return value


def parse_squad(root: dict, source: str = "<squad data>", *, strict: bool = True) -> list[Article]:
    """Validate an official-format SQuAD v1.1 object and return ``[(title, examples), ...]`` in file order.

    ``strict`` (default): an answer whose text differs from ``context[answer_start:answer_start + len(text)]`` is an
    error. Otherwise such answers are dropped (and questions left with none), with one warning giving the counts.
    """
    articles: list[Article] = []
    seen_ids: set[str] = set()
    bad_answers = dropped_questions = 0
    for a, article in enumerate(_require(root, "data", list, "top level", source)):
        where_a = f"data[{a}]"
        title = _require(article, "title", str, where_a, source)
        examples = []
        for p, paragraph in enumerate(_require(article, "paragraphs", list, where_a, source)):
            where_p = f"{where_a}.paragraphs[{p}]"
            context = _require(paragraph, "context", str, where_p, source)
            for q, qa in enumerate(_require(paragraph, "qas", list, where_p, source)):
                where_q = f"{where_p}.qas[{q}]"
                qid = _require(qa, "id", str, where_q, source)
                question = _require(qa, "question", str, where_q, source)
                if qid in seen_ids:
                    raise SquadFormatError(f"{source}: {where_q}: duplicate question id {qid!r}")
                seen_ids.add(qid)
                texts, starts = [], []
                for n, answer in enumerate(_require(qa, "answers", list, where_q, source)):
                    where_n = f"{where_q}.answers[{n}]"
                    text = _require(answer, "text", str, where_n, source)
                    start = _require(answer, "answer_start", int, where_n, source)
                    found = context[start:start + len(text)]
                    if found != text:
                        if strict:
                            raise SquadFormatError(
                                f"{source}: {where_n} (question id {qid!r}): answer {text!r} does not match the "
                                f"context at answer_start={start} (found {found!r}); fix answer_start, "
                                "or read with strict=False to drop such answers")
                        bad_answers += 1
                        continue
                    texts.append(text)
                    starts.append(start)
                if not texts:
                    if not strict:
                        dropped_questions += 1
                        continue
                    raise SquadFormatError(f"{source}: {where_q} (question id {qid!r}): no answers; "
                                           "SQuAD v1.1 questions need at least one")
                examples.append({"id": qid, "title": title, "context": context, "question": question,
                                 "answers": {"text": texts, "answer_start": starts}})
        articles.append((title, examples))
    if bad_answers or dropped_questions:
        warnings.warn(f"{source}: dropped {bad_answers} answer(s) whose text does not match the context at "
                      f"answer_start, and {dropped_questions} question(s) left without answers", stacklevel=3)
    return articles


def read_squad_articles(path: str | Path, *, strict: bool = True) -> list[Article]:
    """Read an official-format SQuAD v1.1 file (json or zip) as ``[(title, examples), ...]``; see parse_squad."""
    return parse_squad(read_squad_raw(path), str(path), strict=strict)


def read_squad_json(path: str | Path, *, strict: bool = True) -> list[dict]:
    """Read an official-format SQuAD v1.1 file (json or zip) and flatten it to examples in file order."""
    return [example for _, examples in read_squad_articles(path, strict=strict) for example in examples]


# --- splits --------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SquadSplits:
    train: list[dict] = field(repr=False)
    eval: list[dict] = field(repr=False)
    split_name: str  # "official" | "sample" | "user-files" | "{dev,train,file}-by-article"
    description: str  # one line to print next to every score
    source: str  # file(s) or hub name the examples came from
    # articles carved off the training side for choosing settings (lambda, epochs); never trained on, never reported
    validation: list[dict] = field(default_factory=list, repr=False)

    def head(self, max_train: int | None = None, max_eval: int | None = None) -> "SquadSplits":
        """The first ``max_train`` / ``max_eval`` questions (None keeps all); the description records the cut."""
        train = self.train if max_train is None else self.train[:max_train]
        eval_ = self.eval if max_eval is None else self.eval[:max_eval]
        if len(train) == len(self.train) and len(eval_) == len(self.eval):
            return self
        return replace(self, train=train, eval=eval_,
                       description=f"{self.description}; using the first {len(train):,} train / "
                                   f"{len(eval_):,} held-out questions")

    def __str__(self) -> str:
        return self.description


def split_by_article(articles: list[Article], heldout_articles: int,
                     validation_articles: int = 0) -> tuple[list[dict], list[dict], str, list[dict]]:
    """The first articles (file order) train, the next ``validation_articles`` validate, the last
    ``heldout_articles`` are held out; no shuffling, so the split is the same everywhere, and no article (hence no
    paragraph) lands in two parts. Returns ``(train, held_out, summary, validation)``."""
    if not 0 < heldout_articles < len(articles) - validation_articles or validation_articles < 0:
        raise ValueError(f"heldout_articles ({heldout_articles}) + validation_articles ({validation_articles}) must "
                         f"leave at least one training article of the file's {len(articles)}, with 1 or more held out")
    cut = len(articles) - heldout_articles
    val_cut = cut - validation_articles
    train = [example for _, examples in articles[:val_cut] for example in examples]
    validation = [example for _, examples in articles[val_cut:cut] for example in examples]
    held_out = [example for _, examples in articles[cut:] for example in examples]
    summary = f"train = articles 0-{val_cut - 1} ({len(train):,} q), "
    if validation_articles:
        span = f"article {val_cut}" if validation_articles == 1 else f"articles {val_cut}-{cut - 1}"
        summary += f"validation = {span} ({len(validation):,} q), "
    summary += f"held-out = articles {cut}-{len(articles) - 1} ({len(held_out):,} q)"
    return train, held_out, summary, validation


def carve_validation(train: list[dict], articles: int) -> tuple[list[dict], list[dict]]:
    """Split the last ``articles`` titles (file order) off a flat training list: ``(train, validation)``."""
    titles = list(dict.fromkeys(example["title"] for example in train))
    if not 0 <= articles < len(titles):
        raise ValueError(f"cannot carve {articles} validation articles out of {len(titles)} training articles")
    held = set(titles[len(titles) - articles:]) if articles else set()
    return ([e for e in train if e["title"] not in held], [e for e in train if e["title"] in held])


def _split_file(path: Path, heldout_articles: int, validation_articles: int) -> SquadSplits:
    """One file split by article; named after the file (``dev-by-article`` for the dev file, the usual case)."""
    split = next((name for name, stem in FILE_STEMS.items() if path.name.startswith(stem)), None)
    label = f"SQuAD v1.1 {split}" if split else f"SQuAD file {path.name}"
    train, held_out, summary, validation = split_by_article(read_squad_articles(path), heldout_articles,
                                                            validation_articles)
    return SquadSplits(train=train, eval=held_out, split_name=f"{split or 'file'}-by-article",
                       description=f"{label} split by article: {summary}", source=str(path), validation=validation)


def _load_from_hub() -> tuple[list[dict], list[dict]]:
    from datasets import load_dataset

    dataset = load_dataset(HUB_NAME)
    return dataset["train"].to_list(), dataset["validation"].to_list()


def missing_data_message() -> str:
    return (f"No SQuAD v1.1 files found and {HUB_NAME!r} could not be downloaded. Put dev-v1.1.json (or "
            f"dev-v1.1.json.zip), and train-v1.1.json if you have it, in {DEFAULT_DIR}/, or set {ENV_DIR} to the "
            f"folder holding them, or pass path=... . `make data` copies them from {SHARED_DIR} if present. "
            "Without any of these, load_sample() gives the small synthetic set shipped with the project.")


VALIDATION_ARTICLES = 4  # dev-v1.1 articles 34-37 (954 q): beyond the course's first 6,000 training questions
OFFICIAL_VALIDATION_ARTICLES = 20  # the last 20 of train-v1.1's 442 articles, when the official split is used


def _official(train: list[dict], dev: list[dict], label: str, source: str) -> SquadSplits:
    titles = len(dict.fromkeys(example["title"] for example in train))
    carved = min(OFFICIAL_VALIDATION_ARTICLES, titles - 1)  # a tiny file keeps at least one training article
    train, validation = carve_validation(train, carved)
    return SquadSplits(train=train, eval=dev, split_name="official",
                       description=f"{label}: train ({len(train):,} q), validation = its last "
                                   f"{carved} articles ({len(validation):,} q), "
                                   f"dev ({len(dev):,} q)", source=source, validation=validation)


def load_splits(path: str | Path | None = None, *, heldout_articles: int = 10,
                validation_articles: int = VALIDATION_ARTICLES, download: bool = True) -> SquadSplits:
    """Train, validation and held-out examples from the best SQuAD v1.1 source available.

    - train-v1.1 and dev-v1.1 both found (see :func:`find_squad_file`): the official train/dev split, with the
      last training articles carved off for validation.
    - only one file found, or ``path`` is a file: that file split by article, the last ``heldout_articles`` held
      out and the ``validation_articles`` before them kept for choosing settings (dev-v1.1: articles 0-33 train
      7,628 questions, 34-37 validate 954, 38-47 held-out 1,988).
    - nothing local: ``datasets.load_dataset("rajpurkar/squad")`` when ``download`` (needs the internet).
    """
    if path is not None and Path(path).is_file():
        return _split_file(Path(path), heldout_articles, validation_articles)
    train_file, dev_file = find_squad_file("train", path), find_squad_file("dev", path)
    if train_file and dev_file:
        return _official(read_squad_json(train_file), read_squad_json(dev_file), "SQuAD v1.1 official split",
                         f"{train_file}, {dev_file}")
    if dev_file or train_file:
        return _split_file(dev_file or train_file, heldout_articles, validation_articles)
    if download:
        try:
            train, dev = _load_from_hub()
        except Exception as err:  # offline, hub down, datasets missing: all end in the same advice
            raise FileNotFoundError(missing_data_message()) from err
        return _official(train, dev, "SQuAD v1.1 official split (hub)", f"hf:{HUB_NAME}")
    raise FileNotFoundError(missing_data_message())


def load_sample(path: str | Path | None = None, *, heldout_articles: int = 3) -> SquadSplits:
    """The project's synthetic sample (``data/squad_sample.json``), split by article like the dev file.

    When the file is absent (e.g. an installed package without the repo) the same data is generated in memory.
    """
    from bmp.squad.sample import build_sample

    if path is not None or SAMPLE_FILE.is_file():
        path = Path(path or SAMPLE_FILE)
        articles, source = read_squad_articles(path), str(path)
    else:
        source = "bmp.squad.sample (generated in memory)"
        articles = parse_squad(build_sample(), source)
    train, held_out, summary, validation = split_by_article(articles, heldout_articles, validation_articles=1)
    return SquadSplits(train=train, eval=held_out, split_name="sample",
                       description=f"bmp synthetic sample split by article: {summary}", source=source,
                       validation=validation)


def splits_for_profile(profile, path: str | Path | None = None) -> SquadSplits:
    """The splits a :class:`bmp.profiles.Profile` asks for (``data`` and the ``max_*_samples`` caps)."""
    splits = load_sample() if profile.data == "sample" else load_splits(path)
    return splits.head(profile.max_train_samples, profile.max_eval_samples)
