"""Gallery layout: recover participant tiles from a meeting screenshot.

Meeting apps draw equal-sized tiles on a flat, dark background, in rows (the last row may be shorter
and centred), with screen furniture around the grid (title bar, toolbar, taskbar, side panels, page
arrows). We find the background colour (the commonest flat dark colour), take what is not background
as connected regions, keep the regions that share the dominant tile size, split regions where two
tiles touch, fill tiles missing inside a row, and order tiles in reading order. A frame with no grid
(a webcam picture, a photo) is one tile covering the whole frame.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class LayoutOptions:
    work_width: int = 1920         # analyse a copy this wide (speed); boxes come back in source pixels
    pool_above: int = 1200         # wider working images find regions on 2x2 blocks (4x less work)
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
    return _find(_gray(frame), opts)[0]


def _gray(frame: np.ndarray) -> np.ndarray:
    import cv2

    return frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)


def _find(gray: np.ndarray, opts: LayoutOptions) -> tuple[list[Tile], int | None]:
    """(tiles, the background level they were found against; None where no grid was found): the
    grid across the whole frame, or in a meeting window found on it (`meeting_windows`), whichever
    holds more tiles."""
    import cv2

    h0, w0 = gray.shape[:2]
    scale = min(1.0, opts.work_width / w0)
    small = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else gray
    boxes, bg = _tile_boxes(small, opts)
    for wx, wy, ww, wh in ([] if _fills(boxes, small.shape) else meeting_windows(small, opts)):
        # the window at the capture's own resolution (a wide capture of several monitors was
        # halved above, and a small window's tiles with it), its tiles back in `small`'s pixels
        fx, fy, fw, fh = (int(round(v / scale)) for v in (wx, wy, ww, wh))
        crop = np.ascontiguousarray(gray[fy:fy + fh, fx:fx + fw])
        inner, inner_bg = _tile_boxes(crop, opts) if crop.size else ([], None)
        inner = [(x * scale + wx, y * scale + wy, w * scale, h * scale) for x, y, w, h in inner]
        covered = sum(w * h for _, _, w, h in inner)
        if len(inner) > max(1, len(boxes)) and covered >= 0.35 * ww * wh:
            boxes, bg = inner, inner_bg
    if len(boxes) <= 1:  # no gutters to go by: tiles that touch, split where one video meets the next
        for region, level in _grid_regions(small, boxes, opts):
            touching = seam_tiles(small, region, opts)
            if len(touching) > max(1, len(boxes)):
                boxes, bg = touching, level
    if not boxes:
        boxes, bg = [(0, 0, small.shape[1], small.shape[0])], None
    tiles = []
    for x, y, w, h in boxes:
        bx = (int(round(x / scale)), int(round(y / scale)), int(round(w / scale)), int(round(h / scale)))
        bx = _clip(bx, w0, h0)
        tiles.append(Tile(bx, _looks_camera_off(gray, bx, opts)))
    return tiles, bg


class LayoutMemory:
    """`find_tiles` that searches again only when the layout changes. A meeting's layout stays put
    for minutes; the search costs more than checking that it still holds. After a search, it keeps
    a sample of background pixels (gutters and margins around the tiles) and of each tile's inside;
    a later frame of the same size reuses the tiles when nearly all those background pixels still
    have the background's level and no tile has turned into background. A moved window, a new grid,
    a participant who joined or left move the gutters, and the next frame searches again. Camera-off
    is judged afresh on every frame. `searches` counts full searches (for tests and benchmarks)."""

    SAMPLES = 4000       # background pixels kept for the check
    HOLD = 0.97          # share of them that must still be background
    TILE_GONE = 0.9      # a tile this much background has gone
    NO_GRID_LEVELS = 8   # without a grid: thumbnail pixels (64 x 36) within this many grey levels are
    NO_GRID_HOLD = 0.95  # unchanged, and this share of them must be; a search at least every
    NO_GRID_FRAMES = 10  # this many frames all the same

    def __init__(self, opts: LayoutOptions = LayoutOptions(), seed: int = 0):
        self.opts = opts
        self.searches = 0
        self._rng = np.random.default_rng(seed)
        self._state = None  # (shape, tiles, bg, (ys, xs), [(ys, xs) per tile])
        self._lock = threading.Lock()

    def tiles(self, frame: np.ndarray) -> list[Tile]:
        gray = _gray(frame)
        with self._lock:
            return self._tiles(gray)

    def _tiles(self, gray: np.ndarray) -> list[Tile]:
        state = self._state
        if state is not None and state[0] == gray.shape and self._holds(gray, state):
            return [Tile(t.box, _looks_camera_off(gray, t.box, self.opts)) for t in state[1]]
        self.searches += 1
        tiles, bg = _find(gray, self.opts)
        self._state = self._remember(gray, tiles, bg)
        return tiles

    def _remember(self, gray: np.ndarray, tiles: list[Tile], bg: int | None):
        if bg is None or len(tiles) < 2:  # no grid: the same picture (a desktop, a webcam) has none either
            return gray.shape, tiles, None, _thumbnail(gray), [0]
        import cv2

        step = 4  # every 4th pixel each way is plenty to draw samples from
        sub = gray[::step, ::step]
        outside = np.full(sub.shape, 255, np.uint8)
        for x, y, tw, th in (t.box for t in tiles):  # a pixel's margin around each tile is left out
            outside[max(0, (y - 2) // step):(y + th + 2) // step + 1, max(0, (x - 2) // step):(x + tw + 2) // step + 1] = 0
        # Clearly background (half the tolerance): noise cannot push a sample across the line.
        half = self.opts.bg_tolerance // 2
        clear = cv2.bitwise_and(cv2.inRange(sub, max(0, bg - half), min(255, bg + half)), outside)
        ys, xs = np.nonzero(clear)
        if ys.size < 50:
            return None
        pick = self._rng.choice(ys.size, size=min(self.SAMPLES, ys.size), replace=False)
        ys, xs = ys * step, xs * step
        per_tile = []
        for x, y, tw, th in (t.box for t in tiles):
            per_tile.append((self._rng.integers(y, y + th, 64), self._rng.integers(x, x + tw, 64)))
        return gray.shape, tiles, bg, (ys[pick], xs[pick]), per_tile

    def _holds(self, gray: np.ndarray, state) -> bool:
        _, tiles, bg, sample, per_tile = state
        if bg is None:  # no grid last time: still none while the picture as a whole has not changed
            per_tile[0] += 1  # frames since the search; search again after NO_GRID_FRAMES regardless
            same = np.mean(np.abs(_thumbnail(gray).astype(np.int16) - sample) <= self.NO_GRID_LEVELS)
            return same >= self.NO_GRID_HOLD and per_tile[0] < self.NO_GRID_FRAMES
        ys, xs = sample
        tol = self.opts.bg_tolerance
        if np.mean(np.abs(gray[ys, xs].astype(np.int16) - bg) <= tol) < self.HOLD:
            return False
        if not all(np.mean(np.abs(gray[ty, tx].astype(np.int16) - bg) <= tol) < self.TILE_GONE for ty, tx in per_tile):
            return False
        import cv2

        is_bg = cv2.inRange(gray[::2, ::2], max(0, bg - tol), min(255, bg + tol)) // 255
        return not any(_gutter_across(is_bg, t.box) for t in tiles)


def _gutter_across(is_bg: np.ndarray, box: Box, step: int = 2) -> bool:
    """Whether a gutter now runs across the tile `box` (frame pixels; `is_bg`: the frame's
    background mask, 0/1, taken every `step` pixels each way): a row or column in its middle band
    (20-80% of its height or width) that is background from end to end (95% of it; the tile's outer
    5% left out), as when a 3x3 gallery becomes 4x4 as people join: the new gutters cross the old
    tiles while the old background stays background. Video has no such line of the background's
    level from edge to edge in its middle (the black bars of a letterboxed video lie along its
    edges); a camera-off panel is flat but not at the background's level."""
    x, y, w, h = (v // step for v in box)
    mx, my = max(1, w // 20), max(1, h // 20)
    rows = is_bg[y + h // 5:y + h - h // 5, x + mx:x + w - mx]
    cols = is_bg[y + my:y + h - my, x + w // 5:x + w - w // 5]
    if min(rows.shape + cols.shape) < 4:
        return False
    return bool(rows.mean(axis=1).max() >= 0.95 or cols.mean(axis=0).max() >= 0.95)


def _grid_regions(gray: np.ndarray, boxes: list[Box], opts: LayoutOptions):
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


def tiles_from_faces(faces: list[Box], width: int, height: int, gray: np.ndarray | None = None) -> list[Tile]:
    """Tiles made up from where faces are, for a gallery whose grid was not found (controls drawn
    over it, a layout of its own): faces in rows (centres within half a face's height). Given the
    picture (`gray`), each row is fitted to the lines the picture shows (`fit_row`): equal tiles
    whose every edge lies on a line, a window over part of the row allowed. Otherwise, and for a row
    no such grid fits, a tile a face, as wide as the spacing between neighbours in a row (or 2.5
    faces) and as tall as the spacing between rows (or 2 faces), centred on its face; the gallery
    then has at least as many tiles as faces. In reading order."""
    if not faces:
        return []
    if gray is not None:
        # the row with most faces first: its tiles' size is the one the other rows are fitted to
        # (one gallery, equal tiles)
        rows_ = sorted(_face_rows(faces), key=lambda r: -len(r))
        fitted: list[Box] = []
        size = None
        for row in rows_:
            cells = fit_row(gray, row, size=size)
            if cells is None:
                fitted = []
                break
            size = size or cells[0][2:]
            # two rows of faces in one row of tiles (a face higher in its tile) fit the same cells
            fitted += [c for c in cells if all(_iou(c, t) < 0.5 for t in fitted)]
        if fitted:
            return [Tile(c, _looks_camera_off(gray, c, LayoutOptions())) for c in sorted(fitted, key=lambda c: (c[1], c[0]))]
    fw = float(np.median([f[2] for f in faces]))
    fh = float(np.median([f[3] for f in faces]))
    centres = sorted(((f[0] + f[2] / 2, f[1] + f[3] / 2) for f in faces), key=lambda c: c[1])
    rows: list[list[tuple[float, float]]] = []
    for c in centres:
        if rows and abs(c[1] - np.mean([r[1] for r in rows[-1]])) < 0.5 * fh:
            rows[-1].append(c)
        else:
            rows.append([c])
    pitches = [b[0] - a[0] for row in rows for a, b in zip(sorted(row), sorted(row)[1:])]
    tw = float(np.median(pitches)) if pitches else 2.5 * fw
    gaps = [np.mean([c[1] for c in b]) - np.mean([c[1] for c in a]) for a, b in zip(rows, rows[1:])]
    th = float(np.median(gaps)) if gaps else 2.0 * fh
    tw, th = max(tw, 1.2 * fw), max(th, 1.2 * fh)
    q = 8  # on an 8-pixel grid: a face that moves a little keeps its tile (no new layout each frame)
    tw, th = q * round(tw / q), q * round(th / q)
    out = []
    for row in rows:
        for cx, cy in sorted(row):
            x, y = q * round((cx - tw / 2) / q), q * round((cy - th / 2) / q)
            out.append(Tile(_clip((int(x), int(y), int(tw), int(th)), width, height), False))
    return out


def _face_rows(faces: list[Box]) -> list[list[Box]]:
    """Faces grouped in rows: centres within half the median face's height of the row's mean."""
    fh = float(np.median([f[3] for f in faces]))
    rows: list[list[Box]] = []
    for f in sorted(faces, key=lambda f: f[1] + f[3] / 2):
        if rows and abs(f[1] + f[3] / 2 - np.mean([g[1] + g[3] / 2 for g in rows[-1]])) < 0.5 * fh:
            rows[-1].append(f)
        else:
            rows.append([f])
    return rows


def _line_share(diffs: np.ndarray, axis: int, jump: int = 12) -> np.ndarray:
    """For each line between two neighbouring rows or columns: the share of it along which the
    picture jumps by `jump` grey levels or more (1.0: an edge from end to end)."""
    return (np.abs(diffs) >= jump).mean(axis=axis)


def fit_row(gray: np.ndarray, row: list[Box], shape_range: tuple[float, float] = (0.9, 2.4),
            strong: float = 0.25, size: tuple[int, int] | None = None) -> list[Box] | None:
    """A row of equal tiles fitted to a row of faces and the lines of the picture around them, or
    None where none fits. A line is where the picture jumps along `strong` (25%) of its length at
    least (a window drawn over part of a row leaves a third of an edge in view); the frame's own
    edge counts as a weak one where a picture is cut off by it (not flat background). The row's top is one of the three strongest lines from two faces
    above the faces' tops down to them, its bottom one of the three strongest from their bottoms to
    three faces below; within each such band, tiles are the equal cells between two lines, every
    cut on a line (within 3 pixels), video-shaped (width over height within `shape_range`),
    holding every face's centre. The fit whose tiles have `size` (width, height: another row's,
    within 7%) wins, then the one with the most lines, then the strongest: a seam inside a video (a
    door frame) is one line, never a whole grid."""
    H, W = gray.shape[:2]
    fw = float(np.median([f[2] for f in row]))
    fh = float(np.median([f[3] for f in row]))
    x0 = int(max(0, min(f[0] for f in row) - fw))
    x1 = int(min(W, max(f[0] + f[2] for f in row) + fw))
    top = min(f[1] for f in row)
    bottom = max(f[1] + f[3] for f in row)
    g = gray.astype(np.int16)
    rows = np.zeros(H + 1)
    rows[1:H] = _line_share(np.diff(g[:, x0:x1], axis=0), axis=1)
    # the frame's edge: a weak line where a video is cut off by it, none where flat background is
    rows[0] = 0.5 * (np.ptp(g[:3, x0:x1]) > 7)
    rows[H] = 0.5 * (np.ptp(g[-3:, x0:x1]) > 7)

    def lines(lo: int, hi: int) -> list[int]:
        lo, hi = max(0, lo), min(H, hi)
        picked: list[int] = []
        for y in sorted(range(lo, hi + 1), key=lambda y: -rows[y]):  # strongest first, 3 pixels apart
            if rows[y] < strong or len(picked) == 3:
                break
            if all(abs(y - q) > 3 for q in picked):
                picked.append(y)
        return picked

    centres = [f[0] + f[2] / 2 for f in row]
    lo_c, hi_c = min(centres), max(centres)
    best_fit, best_score = None, (False, 0, 0.0)
    for y0 in lines(int(top - 2 * fh), int(top)):
        for y1 in lines(int(bottom), int(bottom + 3 * fh)):
            th = y1 - y0
            if th < 1.5 * fh:
                continue
            cols = np.zeros(W + 1)
            cols[1:W] = _line_share(np.diff(g[y0 + 1:y1 - 1], axis=1), axis=0)
            cols[0] = 0.5 * (np.ptp(g[y0:y1, :3]) > 7)
            cols[W] = 0.5 * (np.ptp(g[y0:y1, -3:]) > 7)
            peaks = [x for x in range(W + 1) if cols[x] >= strong and cols[x] == cols[max(0, x - 3):x + 4].max()]

            def at(c: float) -> float:
                return float(cols[max(0, int(round(c)) - 3):int(round(c)) + 4].max())

            for i, a in enumerate(peaks):
                if a > lo_c:
                    break
                for b in peaks[i + 1:]:
                    if b < hi_c:
                        continue
                    # the frame's two edges alone are no grid
                    for k in range(2 if (a, b) == (0, W) else 1, 9):
                        p = (b - a) / k
                        if p < shape_range[0] * th:
                            break
                        if p > shape_range[1] * th:
                            continue
                        cuts = [a + p * j for j in range(1, k)]
                        if any(at(c) < strong for c in cuts):
                            continue
                        same = size is not None and abs(p - size[0]) <= 0.07 * size[0] and abs(th - size[1]) <= 0.07 * size[1]
                        score = (same, k + 1, sum(at(c) for c in [a, *cuts, b]) + rows[y0] + rows[y1])
                        if score > best_score:
                            best_score = score
                            best_fit = [(int(round(a + p * j)), y0, int(round(p)), th) for j in range(k)]
    return best_fit

def _fills(boxes: list[Box], shape) -> bool:
    """A grid found across the frame that spans most of it (a gallery on the whole screen): no
    need to look for a window."""
    if len(boxes) < 2:
        return False
    x0, y0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
    x1, y1 = max(b[0] + b[2] for b in boxes), max(b[1] + b[3] for b in boxes)
    return (x1 - x0) * (y1 - y0) >= 0.5 * shape[0] * shape[1]


def meeting_windows(gray: np.ndarray, opts: LayoutOptions = LayoutOptions(), limit: int = 4) -> list[Box]:
    """Where a meeting's gallery may sit on a screen among other windows, a wallpaper, a taskbar
    and side panels: the boxes around large connected areas of one flat dark level (a gallery's
    background, joined up by its gutters), biggest first. Tiles are then looked for in each, against
    that window's own size (a 640-pixel window holds tiles too small to count on a 1920 screen).
    Connected at full size: a window's one-pixel border keeps its background apart from a dark
    wallpaper beside it (a smaller picture would blur the border away)."""
    import cv2

    H, W = gray.shape[:2]
    f = max(1, W // 480)
    small = cv2.resize(gray, (W // f, H // f), interpolation=cv2.INTER_AREA) if f > 1 else gray
    # flat pixels only (3x3 range <= 2): a meeting's background is drawn flat, a wallpaper photo
    # beside the window is not, though its mean may be the same grey
    kernel = np.ones((3, 3), np.uint8)
    flat = cv2.inRange(cv2.subtract(cv2.dilate(gray, kernel), cv2.erode(gray, kernel)), 0, 2)
    out: list[tuple[int, Box]] = []
    for level in background_levels(small, k=4):
        mask = cv2.bitwise_and(flat, cv2.inRange(gray, max(0, level - opts.bg_tolerance),
                                                 min(255, level + opts.bg_tolerance)))
        n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        for x, y, w, h, area in stats[1:]:
            if w * h < 0.03 * H * W or w < 0.12 * W or h < 0.12 * H:
                continue
            if w * h > 0.9 * H * W:  # the whole screen: that is the search over the whole frame
                continue
            if area < 0.08 * w * h:  # a thin outline (a frame, a line), not a background with tiles on it
                continue
            out.append((int(w * h), (int(x), int(y), int(w), int(h))))
    boxes: list[Box] = []
    for _, b in sorted(out, key=lambda t: -t[0]):
        if all(_iou(b, o) < 0.8 for o in boxes):
            boxes.append(b)
    return boxes[:limit]


def _iou(a: Box, b: Box) -> float:
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / float(a[2] * a[3] + b[2] * b[3] - inter) if inter else 0.0


def _thumbnail(gray: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.resize(gray, (64, 36), interpolation=cv2.INTER_AREA)


def background_levels(gray: np.ndarray, k: int = 3) -> list[int]:
    """Candidate background grey levels: the commonest levels among flat pixels (3x3 neighbourhood
    range <= 2), dark ones preferred, at least 8 levels apart and a tenth as common as the first,
    best first (a shared dark editor can have five times the background's flat pixels)."""
    import cv2

    kernel = np.ones((3, 3), np.uint8)
    flat = cv2.inRange(cv2.subtract(cv2.dilate(gray, kernel), cv2.erode(gray, kernel)), 0, 2)
    use = flat if cv2.countNonZero(flat) >= 0.02 * gray.size else None
    hist = cv2.calcHist([np.ascontiguousarray(gray)], [0], use, [256], [0, 256]).ravel().astype(float)
    hist[100:] *= 0.25  # meeting backgrounds are dark; big bright flat areas are walls or panels
    levels: list[int] = []
    for level in np.argsort(-hist):
        if hist[level] < 0.1 * hist.max() or len(levels) == k:
            break
        if all(abs(int(level) - other) >= 8 for other in levels):
            levels.append(int(level))
    return levels


def _tile_boxes(gray: np.ndarray, opts: LayoutOptions) -> tuple[list[Box], int | None]:
    """The tiling found against each candidate background level; the one with most tiles (then
    most area) wins: a side panel or camera-off tiles can be as flat and dark as the background,
    but measured against them the gallery falls apart into few regions."""
    best: list[Box] = []
    best_bg, score = None, (0, 0)
    step = 4 if gray.shape[1] >= opts.pool_above else 1  # the histogram needs no more
    sub = np.ascontiguousarray(gray[::step, ::step])
    full = None
    for bg in background_levels(sub):
        boxes, fg = _tiles_against(gray, bg, opts)
        s = (len(boxes), sum(w * h for _, _, w, h in boxes))
        if s > score:
            best, best_bg, score, full = boxes, bg, s, fg
    if best and gray.shape[1] >= opts.pool_above:  # found on 2x2 blocks: edges to the pixel
        best = [_snap(b, full) for b in best]
    return best, best_bg


def _tiles_against(gray: np.ndarray, bg: int, opts: LayoutOptions) -> tuple[list[Box], np.ndarray]:
    """Tiles against background level `bg` (in `gray`'s pixels, edges within a pixel or two where
    found on 2x2 blocks), and the full-resolution foreground mask (0/255) they came from."""
    import cv2

    lut = np.where(np.abs(np.arange(256) - bg) > opts.bg_tolerance, 255, 0).astype(np.uint8)
    full = cv2.LUT(gray, lut)
    f = 2 if gray.shape[1] >= opts.pool_above else 1
    fg = full
    if f > 1:  # 2x2 blocks that are all foreground: gutters can only widen, never close up
        h2, w2 = gray.shape[0] // 2, gray.shape[1] // 2
        fg = cv2.resize(full[:2 * h2, :2 * w2], (w2, h2), interpolation=cv2.INTER_AREA)
    # Thin foreground (text and lines in the gutters) is opened away, on the smaller image.
    fg = cv2.morphologyEx(cv2.threshold(fg, 250, 1, cv2.THRESH_BINARY)[1], cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    H, W = fg.shape
    n, _, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=4)
    min_w, min_h = opts.min_tile_frac * W, opts.min_tile_frac * H
    stats = _split_joined_rows(stats[1:], fg, min_w)
    x, y, w, h, area = stats.T.astype(np.int64)
    ok = (w >= min_w) & (h >= min_h) & (2 * area >= w * h) & (5 * w >= 2 * h) & (2 * w <= 9 * h)
    cands = [tuple(int(v) for v in row) for row in stats[ok, :4]]
    if not cands:
        return [], full
    tw, th = _dominant_size(cands, opts.size_tolerance)
    if not 0.8 <= tw / th <= 2.6:
        return [], full
    tiles = []
    for x, y, w, h in cands:
        if abs(h - th) > opts.size_tolerance * th:
            continue
        k = max(1, int(round(w / tw)))  # k tiles touching side by side
        if abs(w - k * tw) > opts.size_tolerance * tw * k + 2 * (k - 1):
            continue
        step = w / k
        tiles += [(int(round(x + i * step)), y, int(round(step)), h) for i in range(k)]
    tiles = _uncut_rows(_extend_grid(_fill_rows(tiles, tw, th, fg), tw, th, fg), tw, th, fg)
    return [(x * f, y * f, w * f, h * f) for x, y, w, h in tiles], full


def _split_joined_rows(stats: np.ndarray, fg: np.ndarray, min_w: float) -> np.ndarray:
    """Connected regions (x, y, w, h, area rows) with regions wider than a row of video tiles can
    be alone (over 2.6:1) split where they are mostly background from top to bottom: a bar or
    banner drawn across a row of tiles (a phone's meeting app draws its controls over the videos)
    joins the tiles and the gutters between them into one region, but the gutters stay background
    above and below it. Each part keeps the columns that are mostly video (a bar reaching past the
    grid leaves nothing there) and its own rows' extent; other regions unchanged."""
    out = []
    for x, y, w, h, area in stats:
        if w <= 2.6 * h:
            out.append((x, y, w, h, area))
            continue
        block = fg[y:y + h, x:x + w]
        video = np.flatnonzero(block.mean(axis=0) >= 0.5)
        runs = np.split(video, np.flatnonzero(np.diff(video) > 1) + 1) if len(video) else []
        parts = [(int(r[0]), int(r[-1]) + 1) for r in runs if len(r) >= min_w]
        widths = np.array([b - a for a, b in parts], float)
        gaps = np.array([a2 - b1 for (_, b1), (a2, _) in zip(parts, parts[1:])], float)
        # a row of tiles: alike in width, video-shaped, a gutter's width apart (not two stretches
        # of wallpaper either side of a window)
        if (len(parts) < 2 or widths.max() > 1.1 * widths.min() or gaps.max() > 0.2 * widths.min()
                or not (0.8 <= widths.min() / h and widths.max() / h <= 2.6)):
            out.append((x, y, w, h, area))
            continue
        for a, b in parts:
            rows = np.flatnonzero(block[:, a:b].mean(axis=1) >= 0.5)
            if len(rows):
                top, bottom = int(rows[0]), int(rows[-1]) + 1
                out.append((x + a, y + top, b - a, bottom - top, int(block[top:bottom, a:b].sum())))
    return np.array(out, dtype=np.int64).reshape(-1, 5)


def _snap(box: Box, fg: np.ndarray, reach: int = 2) -> Box:
    """A tile found on 2x2 blocks, each edge moved (by at most `reach` pixels) to the last line of
    full-resolution foreground (0/255) met going outwards from inside the tile, along the middle
    half of that side; the gutter stops the walk, so a neighbour is never reached."""
    x, y, w, h = box
    H, W = fg.shape
    ys, xs = slice(y + h // 4, y + 3 * h // 4), slice(x + w // 4, x + 3 * w // 4)

    def walk(inner: int, step: int, cols: bool) -> int:
        """From line `inner` (inside the tile) outwards by `step`: the last foreground line."""
        limit = W if cols else H
        edge = inner
        for k in range(inner, inner + step * (2 * reach + 1), step):
            if not 0 <= k < limit:
                break
            line = fg[ys, k] if cols else fg[k, xs]
            if line.size == 0 or line.mean() <= 127:
                break
            edge = k
        return edge

    left = walk(min(x + reach, x + w - 1), -1, True)
    right = walk(max(x + w - 1 - reach, x), 1, True)
    top = walk(min(y + reach, y + h - 1), -1, False)
    bottom = walk(max(y + h - 1 - reach, y), 1, False)
    if right <= left or bottom <= top:
        return box
    return left, top, right - left + 1, bottom - top + 1


def _dominant_size(cands: list[Box], tol: float) -> tuple[float, float]:
    """The tile size (w, h) that the most candidate area agrees with, among sizes that two tiles or
    more share where there are such: a shared screen or a speaker's video beside a strip of equal
    tiles is one region larger than all of them together, and the strip is the gallery. A candidate
    k tiles wide counts as k tiles of its width / k."""
    w = np.array([c[2] for c in cands], float)
    h = np.array([c[3] for c in cands], float)
    k = np.maximum(1, np.round(w[None, :] / w[:, None]))        # [j, i]: candidate i in tiles of size j
    per = w[None, :] / k
    members = (np.abs(h[None, :] - h[:, None]) <= tol * h[:, None]) & (np.abs(per - w[:, None]) <= tol * w[:, None])
    area = (members * (w * h)[None, :]).sum(axis=1)
    tiles = (members * k).sum(axis=1)
    if (tiles >= 2).any():
        area = np.where(tiles >= 2, area, -1.0)
    j = int(np.argmax(area))  # the first best, as before
    return float(np.median(per[j][members[j]])), float(np.median(h[members[j]]))


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
    columns = _starts([t[0] for t in tiles], tw)
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


def _starts(values: list[int], size: float) -> list[float]:
    """Grid lines (tile starts) from the tiles' starts along one axis: starts closer than half a
    tile are one line (their mean)."""
    lines: list[list[int]] = []
    for v in sorted(values):
        if lines and v - lines[-1][-1] <= 0.5 * size:
            lines[-1].append(v)
        else:
            lines.append([v])
    return [float(np.mean(g)) for g in lines]


def _uncut_rows(tiles: list[Box], tw: float, th: float, fg: np.ndarray) -> list[Box]:
    """Rows of tiles cut short by a bar or banner across them (both rows of a two-row grid, with a
    toolbar at the bottom and a notice at the top): where the outer edge of a row's first or last
    tile (video inside, background outside) runs on past the row's top or bottom, the row reaches
    that far. Then every row takes the tallest such height, the first row growing up, the others
    down (a toolbar covers the last row's bottom, even beyond the window found). Tiles in reading
    order; unchanged where no row runs on."""
    if len(tiles) < 2:
        return tiles
    H, W = fg.shape
    rows = _starts([t[1] for t in tiles], th)
    groups = [[t for t in tiles if min(range(len(rows)), key=lambda i: abs(rows[i] - t[1])) == k] for k in range(len(rows))]
    heights = [t[3] for t in tiles]
    pitches = np.diff(rows)
    if max(heights) > 1.05 * min(heights) or (len(pitches) and (pitches.max() > 1.05 * pitches.min()
                                                               or not 0 <= pitches.min() - th <= 0.15 * th)):
        return tiles  # only a regular grid (not a tilted picture, not tiles of mixed sizes)
    g = max(1, int(round(0.01 * tw)))

    def edge_runs(y: int, t: Box) -> bool:
        """At line y, the tile's left or right edge: video just inside, background just outside."""
        x0, x1 = t[0], t[0] + t[2]
        left = x0 - g >= 0 and fg[y, x0:x0 + 3 * g].mean() > 0.6 and fg[y, x0 - g:x0].mean() < 0.3
        right = x1 + g <= W and fg[y, x1 - 3 * g:x1].mean() > 0.6 and fg[y, x1:x1 + g].mean() < 0.3
        return left or right

    spans = []
    for row in groups:
        ends = [min(row, key=lambda t: t[0]), max(row, key=lambda t: t[0] + t[2])]
        top, bottom = min(t[1] for t in row), max(t[1] + t[3] for t in row)
        # both outer edges must run on (a bar or banner leaves the grid's sides), by half a tile at most
        while top > 0 and bottom - top < 1.5 * th and all(edge_runs(top - 1, t) for t in ends):
            top -= 1
        while bottom < H and bottom - top < 1.5 * th and all(edge_runs(bottom, t) for t in ends):
            bottom += 1
        spans.append([top, bottom])
    tall = max(b - a for a, b in spans)
    if tall <= 1.08 * th:
        return tiles
    grown = []
    for k, (a, b) in enumerate(spans):
        need = tall - (b - a)
        grown.append((a - need, b) if k == 0 and len(groups) > 1 else (a, b + need))
    if any(b > a2 for (_, b), (a2, _) in zip(grown, grown[1:])):
        return tiles  # the grown rows would overlap: not a grid cut by bars
    return [(t[0], a, t[2], b - a) for row, (a, b) in zip(groups, grown) for t in row]


def _extend_grid(tiles: list[Box], tw: float, th: float, fg: np.ndarray, most: int = 6) -> list[Box]:
    """Tiles hidden under controls or banners drawn over the gallery (a tablet's or a phone's
    meeting app draws its toolbar and notices over the videos): a bar across a row joins its tiles
    to the bar, a banner cuts them in two, and the background test finds neither. From two tiles
    found or more, the grid is continued by its own pitch, a row or column at a time outwards and
    at the gaps inside it, while cells are found there: a cell counts where its inside is mostly
    drawn (a video) and the gutter around it is mostly background (a side panel or a bar has no
    gutters). Returns tiles in reading order."""
    if len(tiles) < 2:
        return tiles
    H, W = fg.shape
    cols, rows = _starts([t[0] for t in tiles], tw), _starts([t[1] for t in tiles], th)
    gaps = [b - a - tw for a, b in zip(cols, cols[1:]) if b - a < 1.5 * tw]
    gaps += [b - a - th for a, b in zip(rows, rows[1:]) if b - a < 1.5 * th]
    if not gaps:
        return tiles
    gap = float(np.median(gaps))
    if not 1 <= gap <= 0.15 * min(tw, th):  # tiles that touch, or no regular grid
        return tiles
    px, py = tw + gap, th + gap
    g = max(1, int(round(gap)))
    w, h = int(round(tw)), int(round(th))

    def found(x: int, y: int) -> bool:
        if x - g < 0 or y - g < 0 or x + w + g > W or y + h + g > H:
            return False
        if any(min(t[0] + t[2], x + w) - max(t[0], x) > 0.1 * w and min(t[1] + t[3], y + h) - max(t[1], y) > 0.1 * h
               for t in tiles):
            return False
        inside = fg[y:y + h, x:x + w].mean()
        sides = [fg[y - g:y, x:x + w], fg[y + h:y + h + g, x:x + w], fg[y:y + h, x - g:x], fg[y:y + h, x + w:x + w + g]]
        ring = np.concatenate([s.ravel() for s in sides])
        # a gutter on three sides at least: a bar over a row covers one; a larger picture beside the
        # grid (a shared screen next to a strip of tiles) has no gutter inside it on two
        return inside >= 0.6 and ring.mean() <= 0.5 and sum(s.mean() <= 0.5 for s in sides) >= 3

    tiles = list(tiles)
    for axis, pitch, size in ((1, py, th), (0, px, tw)):  # rows first (a bar across a row), then columns
        starts = _starts([t[axis] for t in tiles], size)
        across = _starts([t[1 - axis] for t in tiles], tw if axis else th)
        first, last = starts[0], starts[-1]
        inner = [first + k * pitch for k in range(1, int(round((last - first) / pitch)))]
        for line in (inner, [first - k * pitch for k in range(1, most + 1)], [last + k * pitch for k in range(1, most + 1)]):
            for v in line:
                cells = [(int(round(c)), int(round(v))) if axis else (int(round(v)), int(round(c))) for c in across]
                new = [(x, y, w, h) for x, y in cells if found(x, y)]
                tiles += new
                if not new and line is not inner:
                    break  # outwards only while cells are found
    rows = _starts([t[1] for t in tiles], th)
    return sorted(tiles, key=lambda t: (min(range(len(rows)), key=lambda i: abs(rows[i] - t[1])), t[0]))


def _looks_camera_off(gray: np.ndarray, box: Box, opts: LayoutOptions) -> bool:
    """Camera-off tiles are a flat dark panel with a name on it, or with a letter avatar on it (a
    flat coloured square with one capital, as Zoom draws for someone without a photo): the panel's
    level and one other flat level then cover the tile as the panel alone covers a name tile. On
    the 13 shared real screenshots the video tiles reach at most 0.78 of the tile with two levels
    (a dark room), the camera-off ones 0.87 and more. Failing that, the panel's parts decide (see
    `_panel_parts`): a panel whose every part is a line of text (a long name) or a still picture (a
    profile photo) is camera-off."""
    x, y, w, h = box
    inner = gray[y + h // 20: y + h - h // 20, x + w // 20: x + w - w // 20]
    if inner.size == 0:
        return False
    sub = inner[::2, ::2]
    mode = int(np.bincount(sub.ravel(), minlength=256).argmax())
    near = np.abs(sub.astype(np.int16) - mode) <= 3
    share = float(near.mean())
    if mode < 90 and share >= opts.camera_off_uniform:
        return True
    rest = sub[~near]
    if rest.size == 0:
        return False
    second = int(np.bincount(rest.ravel(), minlength=256).argmax())
    near2 = np.abs(sub.astype(np.int16) - second) <= 3
    panel = near if mode < second else near2  # the darker of the two levels is the panel
    if min(mode, second) < 90 and panel.mean() >= 0.2 and (near | near2).mean() >= opts.camera_off_uniform:
        return True
    parts = _panel_parts(gray, box)
    return parts is not None and all(kind != "other" for kind, _ in parts)


def _panel_parts(gray: np.ndarray, tile: Box) -> list[tuple[str, Box]] | None:
    """The parts of a tile drawn on a flat dark panel, as (kind, box in the tile's pixels); None
    where the tile is no such panel (its commonest grey is 90 or lighter, or covers less than 30%,
    or what lies outside the parts is not 85% panel). The panel is the pixels within 3 grey levels
    of the commonest level; a part is a region of other pixels, small gaps closed. Kinds:

    - "picture": a still picture, as Zoom, Meet and Teams show for a camera that is off. Either it
      keeps a margin from every edge of the tile and covers at most half of it (an avatar, a round
      or square photo: a person on camera reaches the tile's bottom edge at least), or it is a
      photo filling the tile's height: a rectangle (90% of its box), about square (0.7 to 1.4),
      centred across the tile, with panel left and right of it.
    - "text": a line of text or an icon, at most a fifth of the tile's height (a name, a muted mark),
      or a third where it is three times as wide as tall and clear of the tile's edges (a name
      blurred into large blocks; shoulders reach the bottom edge).
    - "other": anything else (a body, a room: video).
    """
    import cv2

    x, y, w, h = tile
    sub = np.ascontiguousarray(gray[y:y + h:2, x:x + w:2])
    if sub.shape[0] < 16 or sub.shape[1] < 16:
        return None
    mode = int(cv2.calcHist([sub], [0], None, [256], [0, 256]).argmax())
    if mode >= 90:
        return None
    flat = cv2.inRange(sub, max(0, mode - 3), mode + 3) > 0
    if flat.mean() < 0.3:
        return None
    H, W = sub.shape
    k = max(3, min(H, W) // 40)
    off = cv2.morphologyEx((~flat).astype(np.uint8), cv2.MORPH_CLOSE, np.ones((k, k), np.uint8))
    # the tile's outer edge (a speaker's frame, rounded corners, the gutter a box may hold) is no part
    e = max(2, min(H, W) // 25)
    off[:e], off[-e:], off[:, :e], off[:, -e:] = 0, 0, 0, 0
    n, labels, stats, _ = cv2.connectedComponentsWithStats(off, connectivity=8)
    parts: list[tuple[str, Box]] = []
    rest = np.ones_like(flat)
    for i in range(1, n):
        px, py, pw, ph, area = (int(v) for v in stats[i])
        if area < 4:
            continue
        mx, my = 0.04 * W, 0.04 * H
        floating = px >= mx and py >= my and px + pw <= W - mx and py + ph <= H - my and pw * ph <= 0.5 * W * H
        photo = (area >= 0.9 * pw * ph and 0.7 <= pw / ph <= 1.4 and ph >= 0.6 * H
                 and abs(px + pw / 2 - W / 2) <= 0.08 * W and px >= 0.1 * W and px + pw <= 0.9 * W)
        edge = px <= e or py <= e or px + pw >= W - e or py + ph >= H - e  # cut off by the tile's edge
        if (ph <= H / 5 or (ph <= H / 3 and pw >= 3 * ph and not edge)) and not photo and pw * ph <= 0.5 * W * H:
            kind = "text"  # a line of text, or a name blurred into large blocks
        elif (floating and ph > H / 5) or photo:
            kind = "picture"
        else:
            kind = "other"
        parts.append((kind, (x + 2 * px, y + 2 * py, 2 * pw, 2 * ph)))
        rest[py:py + ph, px:px + pw] = False
    inside = rest[e:-e, e:-e]
    if not inside.any() or flat[e:-e, e:-e][inside].mean() < 0.85:
        return None
    return parts


def picture_on_panel(gray: np.ndarray, tile: Box, face: Box) -> bool:
    """Whether `face` (a box in `tile`) is a still picture on a camera-off tile, not video: a profile
    photo or avatar, which Zoom, Meet and Teams show on a flat dark panel while the camera is off
    (see `_panel_parts`): the face's centre lies in a "picture" part and nothing on the panel is
    video. A live video tile has a room, a wall's gradient and noise, or a body, around the face."""
    parts = _panel_parts(gray, tile)
    if not parts or any(kind == "other" for kind, _ in parts):
        return False
    cx, cy = face[0] + face[2] / 2, face[1] + face[3] / 2
    return any(kind == "picture" and px <= cx < px + pw and py <= cy < py + ph for kind, (px, py, pw, ph) in parts)


def _clip(box: Box, w: int, h: int) -> Box:
    x, y, bw, bh = box
    x, y = max(0, min(x, w - 1)), max(0, min(y, h - 1))
    return x, y, max(1, min(bw, w - x)), max(1, min(bh, h - y))
