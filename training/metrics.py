"""Classification metrics in plain numpy: accuracy, macro-F1, per-class precision/recall, confusion,
and the share of neutral-labelled faces read negative (what turns a calm class "negative")."""

from __future__ import annotations

import numpy as np

from model import EMOTIONS
from model.emotions import CONFIDENT, NEGATIVE

NEUTRAL = EMOTIONS.index("neutral")
NEGATIVE_IDX = [EMOTIONS.index(e) for e in NEGATIVE]


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n: int = len(EMOTIONS)) -> np.ndarray:
    cm = np.zeros((n, n), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true, int), np.asarray(y_pred, int)), 1)
    return cm


def neutral_negative(probs: np.ndarray, y: np.ndarray, confident: bool = False) -> float | None:
    """The share of neutral-labelled faces read angry, disgust, fear or sad (argmax; with
    `confident`, only where the top score reaches `CONFIDENT`, where the class mood counts a face:
    meaningful for calibrated probabilities); None without neutral-labelled faces."""
    calm = np.asarray(y) == NEUTRAL
    if not calm.any():
        return None
    p = np.asarray(probs)[calm]
    negative = np.isin(p.argmax(1), NEGATIVE_IDX)
    if confident:
        negative &= p.max(1) >= CONFIDENT
    return round(float(negative.mean()), 4)


def classification_report(y_true: np.ndarray, probs: np.ndarray) -> dict:
    """Metrics for probabilities `probs` (N, 7) against integer labels; rows are true classes.
    `neutral_read_negative` (and `..._confidently`, at a top score of `CONFIDENT`): the share of
    neutral-labelled faces read angry, disgust, fear or sad (None where there are none)."""
    y_true = np.asarray(y_true, int)
    y_pred = np.asarray(probs).argmax(axis=1)
    cm = confusion_matrix(y_true, y_pred)
    tp = np.diag(cm).astype(float)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(tp),
                   where=(precision + recall) > 0)
    present = support > 0
    return {
        "n": int(len(y_true)),
        "accuracy": round(float((y_pred == y_true).mean()) if len(y_true) else 0.0, 4),
        "macro_f1": round(float(f1[present].mean()) if present.any() else 0.0, 4),
        "per_class": {name: {"precision": round(float(precision[i]), 4), "recall": round(float(recall[i]), 4),
                             "f1": round(float(f1[i]), 4), "support": int(support[i])}
                      for i, name in enumerate(EMOTIONS)},
        "neutral_read_negative": neutral_negative(probs, y_true),
        "neutral_read_negative_confidently": neutral_negative(probs, y_true, confident=True),
        "confusion_matrix": cm.tolist(),
        "labels": list(EMOTIONS),
    }
