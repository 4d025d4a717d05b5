"""Attention, defined once: is a face turned to the screen, turned away, or looking down?

Each face's head pose (yaw, pitch, roll: `model.headpose`, from the detector's five landmarks) is
compared with the participant's own **baseline**: the median pose of their last `BASELINE_SPAN`
observations, once there are `BASELINE_MIN` of them (before that, and for faces without a
participant, the camera's axis). A webcam sits above or beside the screen, so someone reading the
screen is seldom square to the camera; the baseline is that offset, held within `BASELINE_LIMIT`
of the camera's axis so that a student who spends the lesson turned away does not become the norm.

- **away**: yaw more than `AWAY_YAW` (30) degrees from the baseline, or the face raised more
  than `AWAY_UP` (30) above it;
- **down**: the face lowered more than `DOWN_PITCH` (20) degrees below the baseline. Looking down
  may be taking notes or reading: it is reported on its own and never raises an alert;
- **facing**: otherwise.

**attention** over a set of faces is the share facing the screen among those with a pose (None
without one). A face the detector cannot find (a profile beyond about 60 degrees, a head turned
right round) has no pose: it counts in the engagement figure (faces visible), not here.
Thresholds and their measurements: docs/teacher.md, "Attention".
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

import numpy as np

STATES: tuple[str, ...] = ("facing", "away", "down")
AWAY_YAW = 30.0        # degrees of yaw off the baseline beyond which a face is turned away
AWAY_UP = 30.0         # degrees raised above the baseline beyond which a face is turned away
DOWN_PITCH = 20.0      # degrees lowered below the baseline beyond which a face looks down
BASELINE_MIN = 10      # observations before a participant's own baseline counts
BASELINE_SPAN = 300    # the baseline is the median of this many latest observations
BASELINE_LIMIT = 25.0  # a baseline lies at most this far (degrees) off the camera's axis


def state_of(yaw: float | None, pitch: float | None, baseline: tuple[float, float] = (0.0, 0.0)) -> str | None:
    """"facing", "away" or "down" for one pose against a (yaw, pitch) baseline; None without a pose."""
    if yaw is None or pitch is None or not (np.isfinite(yaw) and np.isfinite(pitch)):
        return None
    dy, dp = float(yaw) - baseline[0], float(pitch) - baseline[1]
    if abs(dy) > AWAY_YAW or dp > AWAY_UP:
        return "away"
    if dp < -DOWN_PITCH:
        return "down"
    return "facing"


def attention_of(states: Iterable[str | None]) -> float | None:
    """Share of faces facing the screen among those with a state (None when none has one)."""
    known = [s for s in states if s in STATES]
    return round(sum(s == "facing" for s in known) / len(known), 4) if known else None


def attention_sql() -> str:
    """The same per-face value in SQL over an `attention` column: 1 facing, 0 away or down, NULL
    without a pose; AVG of it is the attention share (AVG skips the NULLs, as `attention_of` does)."""
    return "(CASE WHEN attention = 'facing' THEN 1.0 WHEN attention IS NULL THEN NULL ELSE 0.0 END)"


class Baselines:
    """Each participant's baseline pose, learnt from their own observations (in memory only)."""

    def __init__(self):
        self._poses: dict[str, deque] = {}

    def baseline(self, participant: str | None) -> tuple[float, float]:
        poses = self._poses.get(participant) if participant else None
        if not poses or len(poses) < BASELINE_MIN:
            return 0.0, 0.0
        yaw, pitch = np.median(np.asarray(poses), axis=0)
        return (float(np.clip(yaw, -BASELINE_LIMIT, BASELINE_LIMIT)),
                float(np.clip(pitch, -BASELINE_LIMIT, BASELINE_LIMIT)))

    def rename(self, old: str, new: str) -> None:
        """`old`'s poses become `new`'s, where `new` has none yet (a provisional id named)."""
        if old in self._poses and new not in self._poses:
            self._poses[new] = self._poses.pop(old)

    def classify(self, participant: str | None, yaw: float | None, pitch: float | None) -> str | None:
        """The face's state against the participant's baseline so far; the pose then joins it."""
        state = state_of(yaw, pitch, self.baseline(participant))
        if state is not None and participant:
            self._poses.setdefault(participant, deque(maxlen=BASELINE_SPAN)).append((float(yaw), float(pitch)))
        return state
