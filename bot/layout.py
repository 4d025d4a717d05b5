"""Gallery layout: recover participant tiles from a meeting screenshot.

Meeting apps draw equal-sized tiles on a flat, dark background, in rows (the last row may be shorter
and centred), with screen furniture around the grid (title bar, toolbar, taskbar, side panels, page
arrows). We find the background colour (the commonest flat dark colour), take what is not background
as connected regions, keep the regions that share the dominant tile size, split regions where two
tiles touch, fill tiles missing inside a row, and order tiles in reading order. A frame with no grid
(a webcam picture, a photo) is one tile covering the whole frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class LayoutOptions:
    work_width: int = 1920         # analyse a copy this wide (speed); boxes come back in source pixels
    bg_tolerance: int = 7          # grey levels around the background colour that count as background
    min_tile_frac: float = 0.06    # a tile is at least this fraction of the frame's width and height
    size_tolerance: float = 0.07   # tiles of one gallery differ in size by at most this fraction
    camera_off_uniform: float = 0.85  # share of a tile's pixels within 3 levels of its commonest grey


@dataclass(frozen=True)
class Tile:
    box: Box
    camera_off: bool


def find_tiles(frame: np.ndarray, opts: LayoutOptions = LayoutOptions()) -> list[Tile]:
    """Tiles of a gallery frame (BGR or gray) in reading order."""
    import cv2

    h0, w0 = frame.shape[:2]
    scale = min(1.0, opts.work_width / w0)
    gray = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    small = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else gray
    boxes = _tile_boxes(small, opts)
    if not boxes:
        boxes = [(0, 0, small.shape[1], small.shape[0])]
    tiles = []
    for x, y, w, h in boxes:
        bx = (int(round(x / scale)), int(round(y / scale)), int(round(w / scale)), int(round(h / scale)))
        bx = _clip(bx, w0, h0)
        tiles.append(Tile(bx, _looks_camera_off(gray, bx, opts)))
    return tiles


def background_levels(gray: np.ndarray, k: int = 3) -> list[int]:
    """Candidate background grey levels: the commonest levels among flat pixels (3x3 neighbourhood
    range <= 2), dark ones preferred, at least 8 levels apart, best first."""
    import cv2

    kernel = np.ones((3, 3), np.uint8)
    flat = (cv2.dilate(gray, kernel) - cv2.erode(gray, kernel)) <= 2
    vals = gray[flat]
    if vals.size < 0.02 * gray.size:
        vals = gray.ravel()
    hist = np.bincount(vals, minlength=256).astype(float)
    hist[100:] *= 0.25  # meeting backgrounds are dark; big bright flat areas are walls or panels
    levels: list[int] = []
    for level in np.argsort(-hist):
        if hist[level] < 0.2 * hist.max() or len(levels) == k:
            break
        if all(abs(int(level) - other) >= 8 for other in levels):
            levels.append(int(level))
    return levels


def _tile_boxes(gray: np.ndarray, opts: LayoutOptions) -> list[Box]:
    """The tiling found against each candidate background level; the one with most tiles (then
    most area) wins: a side panel or camera-off tiles can be as flat and dark as the background,
    but measured against them the gallery falls apart into few regions."""
    best: list[Box] = []
    score = (0, 0)
    for bg in background_levels(gray):
        boxes = _tiles_against(gray, bg, opts)
        s = (len(boxes), sum(w * h for _, _, w, h in boxes))
        if s > score:
            best, score = boxes, s
    return best


def _tiles_against(gray: np.ndarray, bg: int, opts: LayoutOptions) -> list[Box]:
    import cv2

    H, W = gray.shape
    fg = (np.abs(gray.astype(np.int16) - bg) > opts.bg_tolerance).astype(np.uint8)
    fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    n, _, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=4)
    min_w, min_h = opts.min_tile_frac * W, opts.min_tile_frac * H
    cands = []
    for x, y, w, h, area in stats[1:]:
        if w >= min_w and h >= min_h and area >= 0.5 * w * h and 0.4 <= w / h <= 4.5:
            cands.append((int(x), int(y), int(w), int(h)))
    if not cands:
        return []
    tw, th = _dominant_size(cands, opts.size_tolerance)
    if not 0.8 <= tw / th <= 2.6:
        return []
    tiles = []
    for x, y, w, h in cands:
        if abs(h - th) > opts.size_tolerance * th:
            continue
        k = max(1, int(round(w / tw)))  # k tiles touching side by side
        if abs(w - k * tw) > opts.size_tolerance * tw * k + 2 * (k - 1):
            continue
        step = w / k
        tiles += [(int(round(x + i * step)), y, int(round(step)), h) for i in range(k)]
    return _fill_rows(tiles, tw, th, fg)


def _dominant_size(cands: list[Box], tol: float) -> tuple[float, float]:
    best, best_support = None, -1.0
    for _, _, w, h in cands:
        members = [(cw, ch) for _, _, cw, ch in cands if abs(ch - h) <= tol * h
                   and abs(cw / max(1, round(cw / w)) - w) <= tol * w]
        support = sum(cw * ch for cw, ch in members)
        if support > best_support:
            best_support = support
            best = (float(np.median([cw / max(1, round(cw / w)) for cw, _ in members])),
                    float(np.median([ch for _, ch in members])))
    return best


def _fill_rows(tiles: list[Box], tw: float, th: float, fg: np.ndarray) -> list[Box]:
    """Group tiles into rows and add tiles the background test missed (a dark video blends into a
    dark background): gaps inside a row, and grid columns missing from a row aligned with the grid.
    A position is filled only where something is drawn. Returns tiles in reading order."""
    rows: list[list[Box]] = []
    for t in sorted(tiles, key=lambda b: b[1]):
        for row in rows:
            if abs(row[0][1] - t[1]) < 0.3 * th:
                row.append(t)
                break
        else:
            rows.append([t])
    columns: list[float] = []
    for x in sorted(t[0] for t in tiles):
        if not columns or x - columns[-1] > 0.5 * tw:
            columns.append(x)
    pitches = [b[0] - a[0] for row in rows for a, b in zip(sorted(row), sorted(row)[1:]) if b[0] - a[0] < 1.5 * tw]
    pitch = float(np.median(pitches)) if pitches else None
    out = []
    for row in sorted(rows, key=lambda r: r[0][1]):
        row = sorted(row)
        y, h = row[0][1], row[0][3]
        candidates = []
        if pitch:
            for a, b in zip(row, row[1:]):
                k = int(round((b[0] - a[0]) / pitch))
                candidates += [a[0] + i * pitch for i in range(1, k)]
        if all(min(abs(t[0] - c) for c in columns) < 0.1 * tw for t in row):
            candidates += columns
        for x in candidates:
            x = int(round(x))
            if any(min(t[0] + t[2], x + tw) - max(t[0], x) > 0.1 * tw for t in row) or x < 0 or x + tw > fg.shape[1]:
                continue
            region = fg[y:y + h, x:x + int(tw)]
            if region.size and region.mean() > 0.2:
                row.append((x, y, int(round(tw)), h))
        out += sorted(row)
    return out


def _looks_camera_off(gray: np.ndarray, box: Box, opts: LayoutOptions) -> bool:
    """Camera-off tiles are a flat dark panel with a name on it."""
    x, y, w, h = box
    inner = gray[y + h // 20: y + h - h // 20, x + w // 20: x + w - w // 20]
    if inner.size == 0:
        return False
    sub = inner[::2, ::2]
    mode = int(np.bincount(sub.ravel(), minlength=256).argmax())
    near = np.abs(sub.astype(np.int16) - mode) <= 3
    return bool(mode < 90 and near.mean() >= opts.camera_off_uniform)


def _clip(box: Box, w: int, h: int) -> Box:
    x, y, bw, bh = box
    x, y = max(0, min(x, w - 1)), max(0, min(y, h - 1))
    return x, y, max(1, min(bw, w - x)), max(1, min(bh, h - y))
