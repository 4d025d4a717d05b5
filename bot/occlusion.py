"""Faces partly covered by something flat on the screen: a window over the gallery (polls, chat,
participants), a name label, or the edge of the face's own tile when the face runs out of it. The
model reads such a face as whatever its visible half suggests (a face half behind a Polls window
read "fear" at 0.87), so its answer is kept but not counted (`cap_top`).

The rule (`covered_marks`): one of the detector's five landmarks (eyes, nose tip, mouth corners:
where the detector puts the features, guessed where they are hidden) lies behind a **straight,
axis-aligned step edge** that crosses at least `MIN_RUN` of the face box on one pixel line, and the
pixels between that landmark and the edge are a **uniform panel**: their spread (5th to 95th
percentile) at most `PANEL_SPREAD` grey levels and no step between neighbours above
`PANEL_STEP` (95th percentile), beyond the edge's own two pixels of antialiasing. A screen's
panels are drawn flat and meet the video on one pixel line; a face's skin, however smooth, has
shading and features between a landmark and any edge, and a face's own outlines (hair, jaw,
glasses) are not straight lines along a pixel row or column for half the face.

Measured (`docs/architecture.md`): of 376 participants' faces in the 13 shared real screenshots at
1x, 0.6x and 0.4x, the only ones flagged are the 4 partial faces (two behind a Polls window, two
cut by their tile's bottom edge above the mouth); of 1,046 FER2013 val faces (whole, detected
at 2x), 1 (eyes behind dark sunglasses).
"""

from __future__ import annotations

import numpy as np

STEP = 24.0          # grey levels across two pixels that make an edge
MIN_RUN = 0.5        # share of the face box's side that one straight edge must cross
PANEL_SPREAD = 10.0  # grey levels (5th-95th percentile) of the panel between a landmark and the edge
PANEL_STEP = 2.0     # grey levels between neighbouring panel pixels (95th percentile)
BAND = 3             # rows either side of the landmark that its band to the edge spans


def _longest_runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each column of a boolean (H, W) array: the longest run of True down it, and the row just
    past that run's end."""
    h = mask.shape[0]
    rows = np.arange(h)[:, None]
    last_false = np.maximum.accumulate(np.where(mask, -1, rows), axis=0)
    length = rows - last_false  # length of the run of True ending at each row
    return length.max(axis=0), length.argmax(axis=0) + 1


def _covered_along(arr: np.ndarray, pts: np.ndarray) -> set[int]:
    """Landmarks behind an edge between columns of `arr` (H, W); `pts` (5, 2) as (column, row)."""
    h, w = arr.shape
    found: set[int] = set()
    if w < 8 or h < 8:
        return found
    d = arr[:, 2:] - arr[:, :-2]  # d[:, j]: the step from column j to column j + 2
    need = max(MIN_RUN * h, 8)
    for sign in (1.0, -1.0):
        edge = sign * d >= STEP
        cols = np.flatnonzero(edge.sum(axis=0) >= need)  # a run needs that many steps at least
        if not len(cols):
            continue
        run, end = _longest_runs(edge[:, cols])
        for j, r, e in zip(cols, run, end):
            if r < need:
                continue
            top, bottom = int(e - r), int(e)
            for q, (across, along) in enumerate(pts):
                if q in found or not top <= along < bottom:
                    continue
                r0, r1 = max(top, int(along) - BAND), min(bottom, int(along) + BAND + 1)
                if across < j - 1:    # the landmark on the near side: the band from it up to the edge
                    band = arr[r0:r1, max(0, int(np.floor(across)) - 1):j - 1]
                elif across > j + 3:  # on the far side
                    band = arr[r0:r1, j + 4:min(w, int(np.ceil(across)) + 2)]
                else:
                    continue
                if band.shape[0] < 1 or band.shape[1] < 3:
                    continue
                lo, hi = np.percentile(band, [5, 95])
                jumps = np.percentile(np.abs(np.diff(band, axis=1)), 95)
                if hi - lo <= PANEL_SPREAD and jumps <= PANEL_STEP:
                    found.add(q)
    return found


def covered_marks(gray: np.ndarray, box, landmarks) -> list[int]:
    """Indices (0-4, `model.detector.Detection.landmarks` order) of the landmarks of the face in
    `box` (x, y, w, h) that lie behind a flat panel with a straight edge in `gray` (the frame, one
    channel); [] for a whole face, or where there are no landmarks."""
    if landmarks is None:
        return []
    pts = np.asarray(landmarks, dtype=np.float64).reshape(-1, 2)
    x, y, w, h = (int(v) for v in box)
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(gray.shape[1], x + w), min(gray.shape[0], y + h)
    if x1 - x0 < 8 or y1 - y0 < 8:
        return []
    g = np.asarray(gray[y0:y1, x0:x1], dtype=np.float32)
    local = pts - (x0, y0)
    found = _covered_along(g, local) | _covered_along(g.T, local[:, ::-1])
    return sorted(found)


def cap_top(scores: np.ndarray, top: float) -> np.ndarray:
    """Probabilities (7,) mixed with the uniform distribution just enough that the top one is at
    most `top`: the order and the answer stay, the confidence goes."""
    p = np.asarray(scores, dtype=np.float64)
    k = len(p)
    peak = float(p.max())
    if peak <= top or peak <= 1.0 / k:
        return np.asarray(scores)
    a = (top - 1.0 / k) / (peak - 1.0 / k)
    return (a * p + (1.0 - a) / k).astype(np.asarray(scores).dtype)
