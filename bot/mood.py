"""Mood arithmetic, defined once: which emotions are negative, valence, shares, summaries.

Negative = angry, disgust, fear, sad; positive = happy; surprise and neutral are neither.
valence = mean P(happy) - mean P(negative), in [-1, 1].
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from model import EMOTIONS

NEGATIVE: tuple[str, ...] = ("angry", "disgust", "fear", "sad")
POSITIVE: tuple[str, ...] = ("happy",)
NEG_IDX = [EMOTIONS.index(e) for e in NEGATIVE]
POS_IDX = [EMOTIONS.index(e) for e in POSITIVE]


def valence_of(scores: np.ndarray) -> np.ndarray:
    """Per-row valence P(positive) - P(negative) of probabilities (N, 7) in EMOTIONS order."""
    scores = np.asarray(scores, dtype=np.float64).reshape(-1, len(EMOTIONS))
    return scores[:, POS_IDX].sum(axis=1) - scores[:, NEG_IDX].sum(axis=1)


def valence_sql() -> str:
    """The same valence as a SQL expression over columns named after the emotions."""
    return f"(({' + '.join(POSITIVE)}) - ({' + '.join(NEGATIVE)}))"


def negativity_of(scores: np.ndarray) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float64).reshape(-1, len(EMOTIONS))
    return scores[:, NEG_IDX].sum(axis=1)


def shares(labels: Iterable[str]) -> dict[str, float]:
    """Fraction of faces whose top emotion is each class (all 7 keys, zeros included)."""
    labels = list(labels)
    n = len(labels)
    return {e: (round(labels.count(e) / n, 4) if n else 0.0) for e in EMOTIONS}


def summarize(frames) -> dict:
    """Summary of frames (`FrameResult`s, or their `to_dict()` shape): frames, faces, emotion
    shares and valence over the participants' faces (faces with role "other" are left out)."""
    from bot.records import as_record

    faces = [f for fr in frames for f in as_record(fr).participant_faces]
    scores = np.array([f.scores for f in faces], dtype=np.float64).reshape(-1, len(EMOTIONS))
    return {
        "frames": len(frames),
        "faces": len(faces),
        "emotion_shares": shares(f.emotion for f in faces),
        "valence": round(float(valence_of(scores).mean()), 4) if len(faces) else 0.0,
    }
