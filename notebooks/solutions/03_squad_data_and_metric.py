"""Reference solution of notebook 03's exercise (the official SQuAD v1.1 metric from scratch). Headless runs
(``BMP_SOLUTIONS=1``) use it in place of the notebook's stubs; try the exercise before reading it."""
import re
import string
from collections import Counter

PUNCTUATION = set(string.punctuation)


def my_normalize(text: str) -> str:
    """Lower-case, drop punctuation, then the articles a/an/the, and collapse whitespace (in that order)."""
    text = "".join(ch for ch in text.lower() if ch not in PUNCTUATION)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def my_f1(prediction: str, gold: str) -> float:
    """Bag-of-words F1 of the normalised strings; 0 when they share no word (even when both are empty)."""
    predicted, wanted = my_normalize(prediction).split(), my_normalize(gold).split()
    common = sum((Counter(predicted) & Counter(wanted)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(wanted)
    return 2 * precision * recall / (precision + recall)
