"""Proposer: tiles that touch (no gutter), cut where one video meets the next."""

from __future__ import annotations

import numpy as np

from bot.geometry import Box
from bot.layout.gutters import background_levels
from bot.layout.options import LayoutOptions


def grid_regions(gray: np.ndarray, boxes: list[Box], opts: LayoutOptions):
    """Where a grid of touching tiles may be: the one box found, and against each candidate
    background level the box around the largest area that is not background (the grid, without
    the title bar, toolbar and margins around it); (region, background level) pairs. Never the
    whole picture: a photo's edges are too easily taken for seams."""
    import cv2

    if boxes:
        yield boxes[0], None
    H, W = gray.shape[:2]
    for level in background_levels(gray):
        lut = np.where(np.abs(np.arange(256) - level) > opts.bg_tolerance, 255, 0).astype(np.uint8)
        fg = cv2.morphologyEx(cv2.LUT(gray, lut), cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))
        n, _, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=4)
        if n < 2:
            continue
        x, y, w, h, _ = stats[1 + int(np.argmax(stats[1:, 4]))]
        if 0.2 * H * W <= w * h <= 0.97 * H * W:  # a grid with background around it, not the whole picture
            yield (int(x), int(y), int(w), int(h)), level


def seam_tiles(gray: np.ndarray, region: Box, opts: LayoutOptions = LayoutOptions()) -> list[Box]:
    """Tiles that touch, with no gutter between them: the region is cut into rows, then each row
    into tiles, where one video meets the next (a line along which many pixels change at once: the
    jump a quarter of them make at least is several times the typical line's). A shorter
    last row keeps its own width (it is centred in meeting apps). [] where no regular grid of at
    least four tiles of one size and a tile's shape is found."""
    x0, y0, w, h = region
    roi = gray[y0:y0 + h, x0:x0 + w].astype(np.int16)
    if roi.shape[0] < 40 or roi.shape[1] < 40:
        return []
    # a line's strength: the jump that a quarter of its pixels make at least (two videos meeting
    # differ along much of the line, though neighbours may share a colour here and there)
    rows = _split(np.percentile(np.abs(np.diff(roi, axis=0)), 75, axis=1))
    # columns from the whole region: a cut between two videos runs through every full row
    cols = _split(np.percentile(np.abs(np.diff(roi, axis=1)), 75, axis=0))
    tw = w / cols
    out: list[Box] = []
    bounds = [round(h * k / rows) for k in range(rows + 1)]
    for a, b in zip(bounds, bounds[1:]):
        band = roi[a:b]
        # the row's extent: columns that are not one flat colour from top to bottom (margins); a
        # shorter last row is centred, with its own cuts
        busy = np.nonzero(np.ptp(band[:: max(1, (b - a) // 16)], axis=0) > opts.bg_tolerance)[0]
        if busy.size == 0:
            continue
        left, right = int(busy[0]), int(busy[-1]) + 1
        k = max(1, int(round((right - left) / tw)))
        if k == cols:
            left, right = 0, w
        edges = [left + round((right - left) * i / k) for i in range(k + 1)]
        out += [(x0 + c0, y0 + a, c1 - c0, b - a) for c0, c1 in zip(edges, edges[1:])]
    if len(out) < 4:  # two touching tiles are too like one picture with an edge across it
        return []
    ws = np.array([t[2] for t in out], float)
    hs = np.array([t[3] for t in out], float)
    if np.ptp(ws) > opts.size_tolerance * ws.max() + 2 or not 0.8 <= np.median(ws / hs) <= 2.6:
        return []
    return out


def _split(profile: np.ndarray, most: int = 8) -> int:
    """How many equal parts a run of seam strengths (one a line) falls into: the most parts whose
    every cut lies on a line (within two pixels) far stronger than the typical one."""
    n = len(profile) + 1
    strong = max(8.0, 4.0 * float(np.median(profile)))
    best = 1
    for m in range(2, most + 1):
        cuts = [round(n * k / m) - 1 for k in range(1, m)]
        if all(profile[max(0, c - 2):c + 3].max(initial=0) >= strong for c in cuts):
            best = m
    return best
