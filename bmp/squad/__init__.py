"""SQuAD v1.1 for bmp: find/read/split the data (or take the user's own: load_squad), tokenize into windows, map
logits back to text, score.

Light to import: ``datasets`` and ``transformers`` load only when features are built.
"""
from bmp.squad.data import (
    SquadFormatError,
    SquadSplits,
    find_squad_file,
    load_sample,
    load_splits,
    parse_squad,
    read_squad_articles,
    read_squad_json,
    read_squad_raw,
    split_by_article,
    splits_for_profile,
)
from bmp.squad.features import (
    eval_collator,
    prepare_eval_features,
    prepare_train_features,
    tokenize_eval,
    tokenize_train,
    train_collator,
)
from bmp.squad.metric import exact_match, f1, normalize_answer, squad_scores, torchmetrics_scores
from bmp.squad.postprocess import postprocess_predictions
from bmp.squad.sources import load_squad

__all__ = [
    "SquadFormatError", "SquadSplits", "find_squad_file", "load_sample", "load_squad", "load_splits", "parse_squad",
    "read_squad_articles", "read_squad_json", "read_squad_raw", "split_by_article", "splits_for_profile",
    "prepare_eval_features", "prepare_train_features", "eval_collator", "tokenize_eval", "tokenize_train",
    "train_collator", "exact_match", "f1", "normalize_answer", "squad_scores", "torchmetrics_scores",
    "postprocess_predictions",
]
