"""Moments: where a lesson's class mood, attention or engagement left the lesson's own level.

A lesson is judged against itself, never against fixed thresholds that a calm class can cross:

1. Each measure is read per window of the timeline (`bot.aggregate.timeline`): **mood** (valence,
   `bot.mood`), **attention** (share of faces facing the screen, `bot.attention`) and
   **engagement** (faces shown / participants present). A window counts where it holds at least
   `MIN_WEIGHT` faces (present participants, for engagement) and a quarter of the lesson's median
   window; a lesson needs `MIN_WINDOWS` such windows to be judged at all.
2. The lesson's **level** is the median of its windows; its **spread** is the larger of the windows'
   robust spread (1.4826 x the median absolute deviation) and their window-to-window noise (the same
   of successive differences, over the square root of 2), and at least `FLOOR` (a perfectly flat
   lesson's spread is not zero: one face more is not a moment).
3. A window's **z** is its distance from the level in spreads. A **stretch** is a run of adjacent
   windows each at least `EDGE_Z` spreads below (a drop) or above (a rise) the level, holding at
   least `CORE_MIN` windows `CORE_Z` spreads beyond it: one bad minute (a page change) is not a
   moment, and a calm lesson's windows scatter about their own median and almost never hold two
   beyond 2.5 spreads (about 1 in 500 lessons of 45 windows for independent normal noise).
4. Stretches of one direction that overlap or touch (across measures) are one **moment**; the
   drops come first, strongest first (the mean z of each stretch times the root of its length,
   summed), then the rises.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

MEASURES = {  # name: (timeline column, weight column, floor of the spread, words)
    "mood": ("valence", "faces", 0.05, "the class mood (valence)"),
    "attention": ("attention", "faces", 0.04, "the share facing the screen"),
    "engagement": ("engagement", "present", 0.04, "the share of those present showing a face"),
}
MIN_WEIGHT = 2       # faces (or present participants) a window needs to count
MIN_WINDOWS = 6      # windows a lesson needs before any moment is found
EDGE_Z = 1.5         # a stretch's windows all lie this many spreads beyond the level...
CORE_Z = 2.5         # ... and at least CORE_MIN of them this many
CORE_MIN = 2


@dataclass
class Stretch:
    measure: str          # "mood", "attention" or "engagement"
    direction: str        # "drop" or "rise"
    start_s: float
    end_s: float
    level: float          # the lesson's level of the measure (median window)
    during: float         # the measure over the stretch (its windows' mean, weighted)
    z: float              # the stretch's mean distance from the level, in spreads
    windows: int

    @property
    def strength(self) -> float:
        return abs(self.z) * float(np.sqrt(self.windows))

    def words(self) -> str:
        """"the class mood (valence) fell to -0.42, against +0.03 over the lesson"."""
        what = MEASURES[self.measure][3]
        verb = "fell" if self.direction == "drop" else "rose"
        fmt = (lambda v: f"{v:+.2f}") if self.measure == "mood" else (lambda v: f"{v:.0%}")
        return f"{what} {verb} to {fmt(self.during)}, against {fmt(self.level)} over the lesson"


@dataclass
class Moment:
    direction: str                    # "drop" (the lesson lost the class) or "rise"
    start_s: float
    end_s: float
    stretches: list[Stretch] = field(default_factory=list)

    @property
    def strength(self) -> float:
        return sum(s.strength for s in self.stretches)

    @property
    def measures(self) -> list[str]:
        return [s.measure for s in self.stretches]


def _series(timeline: pd.DataFrame, measure: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(window starts, window ends, values, counted) of one measure."""
    col, weight, _, _ = MEASURES[measure]
    starts = timeline["window_start"].to_numpy(float)
    ends = timeline["window_end"].to_numpy(float)
    values = pd.to_numeric(timeline[col], errors="coerce").to_numpy(float) if col in timeline else np.full(len(starts), np.nan)
    if measure == "mood" and "mood" in timeline:  # a window without faces has no mood
        values = np.where(timeline["mood"].isna().to_numpy(), np.nan, values)
    w = pd.to_numeric(timeline[weight], errors="coerce").fillna(0).to_numpy(float) \
        if weight in timeline else np.zeros(len(starts))
    if weight == "present" and "frames" in timeline:  # present is summed over a window's frames
        w = w / np.maximum(1.0, timeline["frames"].to_numpy(float))
    positive = w[w > 0]
    least = max(MIN_WEIGHT, 0.25 * float(np.median(positive))) if len(positive) else np.inf
    counted = np.isfinite(values) & (w >= least)
    return starts, ends, values, counted


def stretches(timeline: pd.DataFrame, measure: str) -> list[Stretch]:
    """The stretches of one measure (see the module): drops and rises."""
    if timeline is None or timeline.empty:
        return []
    starts, ends, values, counted = _series(timeline, measure)
    x = values[counted]
    if len(x) < MIN_WINDOWS:
        return []
    level = float(np.median(x))
    mad = 1.4826 * float(np.median(np.abs(x - level)))
    noise = 1.4826 * float(np.median(np.abs(np.diff(x)))) / np.sqrt(2.0)
    spread = max(mad, noise, MEASURES[measure][2])
    z = np.where(counted, (values - level) / spread, 0.0)
    weights = _series_weights(timeline, measure)
    out = []
    for direction, sign in (("drop", -1.0), ("rise", 1.0)):
        beyond = counted & (sign * z >= EDGE_Z)
        k = 0
        while k < len(z):
            if not beyond[k]:
                k += 1
                continue
            j = k
            while j + 1 < len(z) and beyond[j + 1] and abs(starts[j + 1] - ends[j]) < 1e-6:
                j += 1
            run = slice(k, j + 1)
            if int((sign * z[run] >= CORE_Z).sum()) >= CORE_MIN:
                wt = weights[run]
                during = float(np.average(values[run], weights=wt)) if wt.sum() > 0 else float(np.mean(values[run]))
                out.append(Stretch(measure, direction, float(starts[k]), float(ends[j]), level, during,
                                   float(np.mean(z[run])), j - k + 1))
            k = j + 1
    return out


def _series_weights(timeline: pd.DataFrame, measure: str) -> np.ndarray:
    col = MEASURES[measure][1]
    return pd.to_numeric(timeline[col], errors="coerce").fillna(0).to_numpy(float) if col in timeline \
        else np.ones(len(timeline))


def find_moments(timeline: pd.DataFrame, measures=tuple(MEASURES)) -> list[Moment]:
    """The lesson's moments (see the module): drops first, strongest first, then rises."""
    found = [s for m in measures for s in stretches(timeline, m)]
    moments: list[Moment] = []
    for direction in ("drop", "rise"):
        mine = sorted((s for s in found if s.direction == direction), key=lambda s: s.start_s)
        group: list[Moment] = []
        for s in mine:
            if group and s.start_s <= group[-1].end_s + 1e-6:
                group[-1].stretches.append(s)
                group[-1].end_s = max(group[-1].end_s, s.end_s)
            else:
                group.append(Moment(direction, s.start_s, s.end_s, [s]))
        moments += sorted(group, key=lambda m: -m.strength)
    return moments
