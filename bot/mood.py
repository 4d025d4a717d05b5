"""Mood, defined once: which emotions are negative, valence, the mood word, the trend, summaries.
Everything that shows or acts on mood (`summarize`, `Store.timeline`, `Store.participants`, the
alerts, the app and its report) takes it from here.

Negative = angry, disgust, fear, sad; positive = happy; surprise and neutral are neither.

**valence** = share of faces showing a confident positive expression minus share showing a
confident negative one, in [-1, 1]; a face's expression is confident where its calibrated top
score is at least `CONFIDENT` (0.5). Each face counts +1, -1 or 0, and valence is their mean.

Why not mean P(happy) - mean P(negative), as before: with four negative classes, every face carries
some probability on them, so a neutral face reads negative. Measured on FER2013 val with the served,
calibrated model: faces labelled neutral scored -0.26 on average that way (25-face galleries of them
-0.37 to -0.14, 5th to 95th percentile: "negative" to a teacher), against -0.05 by confident shares
(galleries -0.20 to +0.08); sad galleries -0.68 to -0.32, angry -0.72 to -0.36, happy +0.83.

**mood**: "positive" above +0.25, "negative" below -0.25, else "neutral": the boundary lies
between the 5th percentile of neutral galleries (-0.20) and the 95th of sad ones (-0.32); strictly
beyond it, so that one face in four (a small class) is not yet a negative class. It is absolute: a single frame reads right on its own; the class's own history feeds only
the **trend** ("rising", "steady", "falling": the least-squares slope of valence over the last
`TREND_WINDOW_S` seconds, beyond +/-`TREND_STEP` a 10 minutes).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np

from bot.attention import attention_of
from bot.records import as_record
from model import EMOTIONS
from model.emotions import CONFIDENT, NEGATIVE, POSITIVE

NEG_IDX = [EMOTIONS.index(e) for e in NEGATIVE]
POS_IDX = [EMOTIONS.index(e) for e in POSITIVE]


MOOD_THRESHOLD = 0.25  # |valence| from which the mood is positive or negative
TREND_WINDOW_S = 900.0
TREND_STEP = 0.1       # valence change per 10 minutes that makes a trend


def valence_of(scores: np.ndarray) -> np.ndarray:
    """Per face (row of probabilities (N, 7) in EMOTIONS order): +1 for a confident positive
    expression, -1 for a confident negative one, 0 otherwise; the mean over faces is the valence."""
    scores = np.asarray(scores, dtype=np.float64).reshape(-1, len(EMOTIONS))
    if not len(scores):
        return np.zeros(0)
    top = scores.argmax(axis=1)
    sure = scores.max(axis=1) >= CONFIDENT
    return np.where(sure & np.isin(top, POS_IDX), 1.0, np.where(sure & np.isin(top, NEG_IDX), -1.0, 0.0))


def valence_sql() -> str:
    """The same per-face value as a SQL expression over an `emotion` column (the top class) and
    columns named after the emotions (its scores); AVG of it is the valence."""
    pos = " ".join(f"WHEN emotion = '{e}' AND {e} >= {CONFIDENT} THEN 1.0" for e in POSITIVE)
    neg = " ".join(f"WHEN emotion = '{e}' AND {e} >= {CONFIDENT} THEN -1.0" for e in NEGATIVE)
    return f"(CASE {pos} {neg} ELSE 0.0 END)"


def mood_of(valence: float | None) -> str | None:
    """"positive", "neutral" or "negative" (None without faces)."""
    if valence is None or not np.isfinite(valence):
        return None
    return "positive" if valence > MOOD_THRESHOLD else "negative" if valence < -MOOD_THRESHOLD else "neutral"


def trend_of(times, valences) -> str:
    """"rising", "falling" or "steady": the slope of valence over the last TREND_WINDOW_S seconds."""
    t = np.asarray(times, dtype=np.float64)
    v = np.asarray(valences, dtype=np.float64)
    keep = np.isfinite(v) & (t >= (t.max() if len(t) else 0.0) - TREND_WINDOW_S)
    t, v = t[keep], v[keep]
    if len(t) < 3 or np.ptp(t) < 60:
        return "steady"
    slope = np.polyfit(t, v, 1)[0] * 600.0  # valence change a 10 minutes
    return "rising" if slope >= TREND_STEP else "falling" if slope <= -TREND_STEP else "steady"


def negativity_of(scores: np.ndarray) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float64).reshape(-1, len(EMOTIONS))
    return scores[:, NEG_IDX].sum(axis=1)


def shares(labels: Iterable[str]) -> dict[str, float]:
    """Fraction of faces whose top emotion is each class (all 7 keys, zeros included)."""
    labels = list(labels)
    n = len(labels)
    return {e: (round(labels.count(e) / n, 4) if n else 0.0) for e in EMOTIONS}


@dataclass(frozen=True)
class Summary:
    """What `summarize` says of some frames (see the module for the words)."""
    frames: int
    faces: int                        # participant faces (faces of anyone else are left out)
    emotion_shares: dict[str, float]  # share of those faces whose top class is each emotion
    valence: float
    mood: str | None                  # None without faces
    trend: str
    attention: float | None           # share facing the screen among faces with a head pose

    def to_dict(self) -> dict:
        return asdict(self)


def summarize(frames) -> Summary:
    """Summary of frames (`FrameResult`s, or their `to_dict()` shape): frames, faces, emotion
    shares, valence, mood and trend over the participants' faces (faces with role "other",
    profile photos on camera-off tiles among them, are left out), and attention (`bot.attention`:
    share facing the screen among faces with a head pose).
    Mood and attention are None without faces; the trend follows each frame's valence over time."""

    records = [as_record(fr) for fr in frames]
    faces = [f for r in records for f in r.participant_faces]
    scores = np.array([f.scores for f in faces], dtype=np.float64).reshape(-1, len(EMOTIONS))
    valence = round(float(valence_of(scores).mean()), 4) if len(faces) else 0.0
    per_frame = [(r.time_s, float(valence_of(np.array([f.scores for f in r.participant_faces])).mean()))
                 for r in records if r.participant_faces]
    return Summary(frames=len(frames), faces=len(faces), emotion_shares=shares(f.emotion for f in faces),
                   valence=valence, mood=mood_of(valence) if len(faces) else None,
                   trend=trend_of([t for t, _ in per_frame], [v for _, v in per_frame]),
                   attention=attention_of(f.attention for f in faces))
