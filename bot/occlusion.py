"""Faces partly covered by something flat on the screen: a window over the gallery (polls, chat,
participants), a name label, or the edge of the face's own tile when the face runs out of it. The
model reads such a face as whatever its visible half suggests (a face half behind a Polls window
read "fear" at 0.87), so its answer is kept but not counted (`cap_top`).

Both rules look for a **straight, axis-aligned step edge** (`STEP` grey levels across two pixels)
that crosses at least `MIN_RUN` of the face box on one pixel line, with a **uniform panel** on one
side: a spread (5th to 95th percentile) of at most `PANEL_SPREAD` grey levels and no step between
neighbours above `PANEL_STEP` (95th percentile), beyond the edge's own two pixels of
antialiasing. A face is covered (`is_covered`) where
- one of the detector's five landmarks (eyes, nose tip, mouth corners: where the detector puts the
  features, guessed where they are hidden) lies behind such an edge, across it from the face box's
  centre, with only panel between them (`covered_marks`), or
- the panel beside such an edge fills at least `MIN_PANEL` of the face box (`panel_share`): where
  the detector drew its landmarks on the visible half, the box still reaches behind the panel.
A screen's panels are drawn flat and meet the video on one pixel line; a face's skin, however
smooth, has shading and features, and a face's own outlines (hair, jaw, glasses) are not straight
lines along a pixel row or column for half the face.

A face its own tile cuts is found from the layout instead (`cut_by_tile`): the tile's edge is
known, the gutter beyond it is often too thin to fill a share of the box, and the detector puts a
cut-off mouth's corners just above the edge, in view. So: the box reaches past a real edge of its
tile (a flat gutter or the frame's edge beyond it), and the features the expression needs lie at
that edge.

Measured (`docs/architecture.md`): of 376 participants' faces in the 13 shared real screenshots at
1x, 0.6x and 0.4x, the only ones flagged are partial faces (two behind a Polls window, three cut by
their tile's bottom edge at the mouth); of 1,046 whole FER2013 val faces (detected at 2x), none.
"""

from __future__ import annotations

import numpy as np

STEP = 24.0          # grey levels across two pixels that make an edge
MIN_RUN = 0.5        # share of the face box's side that one straight edge must cross
PANEL_SPREAD = 10.0  # grey levels (5th-95th percentile) of the panel between a landmark and the edge
PANEL_STEP = 2.0     # grey levels between neighbouring panel pixels (95th percentile)
BAND = 3             # rows either side of the landmark that its band to the edge spans
MIN_PANEL = 0.15     # share of the face box a panel beside such an edge covers that makes it covered
CUT_OUT = 0.075      # share of the face box past its tile's edge ...
CUT_MOUTH = 0.45     # ... with the mouth corners this near the tile's bottom edge (eye-to-mouth distances)
CUT_EYES = 0.3       # ... the eyes this near its top edge (eye-to-mouth distances: the brows are cut)
CUT_SIDE = 0.3       # ... the outermost landmark this near a side edge (distances between the eyes)


def _longest_runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each column of a boolean (H, W) array: the longest run of True down it, and the row just
    past that run's end."""
    h = mask.shape[0]
    rows = np.arange(h)[:, None]
    last_false = np.maximum.accumulate(np.where(mask, -1, rows), axis=0)
    length = rows - last_false  # length of the run of True ending at each row
    return length.max(axis=0), length.argmax(axis=0) + 1


def _uniform(region: np.ndarray, axes=(1,)) -> bool:
    """Whether pixels are a flat panel: spread and neighbour steps (along `axes`) within bounds."""
    lo, hi = np.percentile(region, [5, 95])
    if hi - lo > PANEL_SPREAD:
        return False
    return all(region.shape[a] < 2 or np.percentile(np.abs(np.diff(region, axis=a)), 95) <= PANEL_STEP
               for a in axes)


def _scan(arr: np.ndarray, pts: np.ndarray | None, centre: float) -> tuple[set[int], float]:
    """Edges between columns of `arr` (H, W): the landmarks behind one (`pts` (5, 2) as (column,
    row), or None), that is across it from the face box's centre (`centre`, a column), and the
    largest share of `arr` a panel beside one covers."""
    h, w = arr.shape
    found: set[int] = set()
    share = 0.0
    if w < 8 or h < 8:
        return found, share
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
            for lo_c, hi_c in ((0, j - 1), (j + 4, w)):  # each side, beyond the edge's antialiasing
                area = (bottom - top) * max(0, hi_c - lo_c) / (h * w)
                if area > share and hi_c - lo_c >= 3 and _uniform(arr[top:bottom, lo_c:hi_c], (0, 1)):
                    share = area
            for q, (across, along) in enumerate(pts if pts is not None else ()):
                if q in found or not top <= along < bottom:
                    continue
                r0, r1 = max(top, int(along) - BAND), min(bottom, int(along) + BAND + 1)
                # the edge must lie between the landmark and the face's centre: a feature on the
                # face's own side of a name label's edge is in view, however flat its skin
                if across < j - 1 and centre > j + 3:  # the landmark on the near side: the band up to the edge
                    band = arr[r0:r1, max(0, int(np.floor(across)) - 1):j - 1]
                elif across > j + 3 and centre < j - 1:  # on the far side
                    band = arr[r0:r1, j + 4:min(w, int(np.ceil(across)) + 2)]
                else:
                    continue
                if band.shape[0] >= 1 and band.shape[1] >= 3 and _uniform(band):
                    found.add(q)
    return found, share


def _box_scan(gray: np.ndarray, box, landmarks) -> tuple[list[int], float]:
    x, y, w, h = (int(v) for v in box)
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(gray.shape[1], x + w), min(gray.shape[0], y + h)
    if x1 - x0 < 8 or y1 - y0 < 8:
        return [], 0.0
    g = np.asarray(gray[y0:y1, x0:x1], dtype=np.float32)
    local = None if landmarks is None else np.asarray(landmarks, dtype=np.float64).reshape(-1, 2) - (x0, y0)
    marks_v, share_v = _scan(g, local, x + w / 2 - x0)
    marks_h, share_h = _scan(g.T, None if local is None else local[:, ::-1], y + h / 2 - y0)
    return sorted(marks_v | marks_h), max(share_v, share_h)


def covered_marks(gray: np.ndarray, box, landmarks) -> list[int]:
    """Indices (0-4, `model.detector.Detection.landmarks` order) of the landmarks of the face in
    `box` (x, y, w, h) that lie behind a flat panel with a straight edge in `gray` (the frame, one
    channel); [] for a whole face, or where there are no landmarks."""
    if landmarks is None:
        return []
    return _box_scan(gray, box, landmarks)[0]


def panel_share(gray: np.ndarray, box) -> float:
    """The largest share of the face box (x, y, w, h) that a flat panel with a straight edge across
    the box covers in `gray`; 0.0 for none."""
    return _box_scan(gray, box, None)[1]


def is_covered(gray: np.ndarray, box, landmarks) -> bool:
    """Whether the face in `box` is partly behind a flat panel: a landmark behind it
    (`covered_marks`), or the panel filling at least `MIN_PANEL` of the box (`panel_share`)."""
    marks, share = _box_scan(gray, box, landmarks)
    return bool(marks) or share >= MIN_PANEL


def _gutter(gray: np.ndarray, line: int, horizontal: bool, lo: int, hi: int, outward: int) -> bool:
    """Whether a tile's edge at `line` (a row if `horizontal`, else a column; the first one past the
    tile where `outward` is 1, the tile's own first where it is -1) is a real edge over `lo`..`hi`:
    the frame ends there, or one of the lines just beyond it is flat (a gutter between tiles, a
    window's background), not a face's texture running on (a layout that split a video wrongly)."""
    size = gray.shape[0] if horizontal else gray.shape[1]
    first = line if outward > 0 else line - 1
    if not 0 <= first < size:
        return True  # the frame's own edge
    span = gray.shape[1] if horizontal else gray.shape[0]
    lo, hi = max(0, lo), min(span, hi)
    if hi - lo < 4:
        return False
    for k in (-1, 0, 1, 2):  # a layout's edge may be a pixel off
        r = first + outward * k
        if 0 <= r < size:
            seg = gray[r, lo:hi] if horizontal else gray[lo:hi, r]
            if _uniform(np.asarray(seg, dtype=np.float32)[None, :]):
                return True
    return False


def cut_by_tile(gray: np.ndarray, box, landmarks, tile) -> bool:
    """Whether the face in `box` (x, y, w, h) runs out of its `tile` (x, y, w, h) far enough that
    a feature its expression needs is cut: the box reaches at least `CUT_OUT` of its side past one
    of the tile's edges, where the tile really ends (`_gutter`: a flat gutter or the frame's edge
    beyond it), and
    - at the bottom edge, the mouth corners lie within `CUT_MOUTH` eye-to-mouth distances of it (a
      student sitting low: the lips or the chin gone);
    - at the top edge, the eyes within `CUT_EYES` of them (the brows gone);
    - at a side, the outermost landmark within `CUT_SIDE` distances between the eyes.
    The detector guesses hidden landmarks inside what it sees, so a cut mouth's corners are put just
    above the edge. False where there are no landmarks."""
    if landmarks is None:
        return False
    pts = np.asarray(landmarks, dtype=np.float64).reshape(-1, 2)
    if len(pts) < 5:
        return False
    x, y, w, h = (int(v) for v in box)
    tx, ty, tw, th = (int(v) for v in tile)
    if w <= 0 or h <= 0:
        return False
    eyes, mouth = pts[:2].mean(axis=0), pts[3:5].mean(axis=0)
    unit = float(np.linalg.norm(mouth - eyes))
    iod = float(np.linalg.norm(pts[1] - pts[0]))
    if unit <= 0 or iod <= 0:
        return False
    sides = (  # (share of the box past the edge, how near the features are, the edge's check)
        ((y + h - (ty + th)) / h, (ty + th - mouth[1]) / unit / CUT_MOUTH, (ty + th, True, x, x + w, 1)),
        ((ty - y) / h, (eyes[1] - ty) / unit / CUT_EYES, (ty, True, x, x + w, -1)),
        ((tx - x) / w, (pts[:, 0].min() - tx) / iod / CUT_SIDE, (tx, False, y, y + h, -1)),
        ((x + w - (tx + tw)) / w, (tx + tw - pts[:, 0].max()) / iod / CUT_SIDE, (tx + tw, False, y, y + h, 1)),
    )
    return any(out >= CUT_OUT and near <= 1.0 and _gutter(gray, *edge) for out, near, edge in sides)


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
