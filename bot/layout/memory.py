"""`LayoutMemory`: the last layout re-checked on each frame before searching again.

Two cheap checks come before a search where the last layout no longer holds as it was: a region
that scrolled (a document or a web page: its content shifted up or down, the rest unchanged) where
no face was, and, where there is no grid, faces that moved where they were (a webcam's picture). A
scrolling page is content, not a new meeting layout: its tiles (a page's grid of pictures) are
dropped and the rest stands; the analyser then looks for faces only in the rows the page newly
shows (`scrolled`). Measured on a 2-minute desktop recording (a browser scrolling for 78 s, then a
webcam window, then a phone's photo): 26 searches of about 150 ms with their whole-frame look in 58
samples before, 7 after, 3 of them the search due every `NO_GRID_FRAMES` frames without a grid
(`bench/gallery.py --part recording`)."""

from __future__ import annotations

import threading

import numpy as np

from bot.geometry import Box, center_in, overlaps
from bot.layout.evidence import gutter_across, looks_camera_off
from bot.layout.fit import search_all
from bot.layout.images import gray_of, thumbnail
from bot.layout.options import LayoutOptions, Tile


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
    SMALL = 4            # the cheap checks look at the frame this many times smaller a side
    CHANGED = 12         # ... where a pixel moved by more than this many grey levels,
    CELL = 8             # ... in cells of this many of their pixels, a cell changed where 2% did
    FACE_MOVED = 0.2     # a face that moved: at most this share of the cells changed, all around faces
    ELSEWHERE = 0.1      # a scroll: changed cells outside its region, at most this share of its own
    SCROLL_SAME = 0.85   # a scroll: this share of the shifted region's pixels match its last frame
                         # (within CHANGED; measured on H.264 screen recordings: 0.92-0.95 where a
                         # page scrolled, 0.11-0.47 for a window opening or a face moving)

    def __init__(self, opts: LayoutOptions = LayoutOptions(), seed: int = 0):
        self.opts = opts
        self.searches = 0
        self._rng = np.random.default_rng(seed)
        self._state = None  # (shape, tiles, bg, (ys, xs), [(ys, xs) per tile])
        self.others: list[list[Tile]] = []  # the tilings the last search proposed and did not keep
        self.kept = 0  # frames whose changed layout the cheap checks kept (a scroll, faces that moved)
        self.scrolled: tuple[Box, int] | None = None  # this frame: (region, d), its row y the last's y + d
        self._faces: list[Box] | None = None  # faces on the last frame (`saw`); None: not told
        self._gray: np.ndarray | None = None   # the last frame (grey)
        self._lock = threading.Lock()

    def tiles(self, frame: np.ndarray) -> list[Tile]:
        gray = gray_of(frame)
        with self._lock:
            return self._tiles(gray)

    def saw(self, faces: list[Box]) -> None:
        """The faces found on the frame just analysed. The cheap checks run on the next frame only
        where the caller told this (the analyser does, every frame), and never keep a layout where a
        face was, except around a face that moved."""
        with self._lock:
            self._faces = [tuple(int(v) for v in f) for f in faces]

    def _tiles(self, gray: np.ndarray) -> list[Tile]:
        state = self._state
        last, self._gray = self._gray, gray  # the frame is not copied: the caller makes a new one each time
        faces, self._faces = self._faces, None  # where faces were on the last frame, if `saw` told
        self.scrolled = None
        if state is not None and state[0] == gray.shape:
            if self._holds(gray, state):
                return [Tile(t.box, looks_camera_off(gray, t.box, self.opts)) for t in state[1]]
            due = state[2] is None and state[4][0] >= self.NO_GRID_FRAMES  # no grid: a search is due anyway
            kept = self._moved(gray, state, last, faces) \
                if last is not None and last.shape == gray.shape and faces is not None and not due else None
            if kept is not None:
                self.kept += 1
                return kept
            self.scrolled = None
        self.searches += 1
        tiles, bg, self.others = search_all(gray, self.opts)
        self._state = self._remember(gray, tiles, bg)
        return tiles

    def adopt(self, tiles: list[Tile]) -> None:
        """Keep `tiles` as the layout found by the last search (the fit preferred them to what the
        search found: `bot.layout.fit`), checked on later frames as that one would have been."""
        with self._lock:
            state = self._state
            if state is None:
                return
            shape, _, bg, sample, per_tile = state
            if bg is not None:
                per_tile = [(self._rng.integers(y, y + th, 64), self._rng.integers(x, x + tw, 64))
                            for x, y, tw, th in (t.box for t in tiles)]
            self._state = shape, list(tiles), bg, sample, per_tile

    def _remember(self, gray: np.ndarray, tiles: list[Tile], bg: int | None):
        if bg is None or len(tiles) < 2:  # no grid: the same picture (a desktop, a webcam) has none either
            return gray.shape, tiles, None, thumbnail(gray), [0]
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
            same = np.mean(np.abs(thumbnail(gray).astype(np.int16) - sample) <= self.NO_GRID_LEVELS)
            return same >= self.NO_GRID_HOLD and per_tile[0] < self.NO_GRID_FRAMES
        ys, xs = sample
        tol = self.opts.bg_tolerance
        if np.mean(np.abs(gray[ys, xs].astype(np.int16) - bg) <= tol) < self.HOLD:
            return False
        if not all(np.mean(np.abs(gray[ty, tx].astype(np.int16) - bg) <= tol) < self.TILE_GONE for ty, tx in per_tile):
            return False
        import cv2

        is_bg = cv2.inRange(gray[::2, ::2], max(0, bg - tol), min(255, bg + tol)) // 255
        return not any(gutter_across(is_bg, t.box) for t in tiles)

    def _moved(self, gray: np.ndarray, state, last: np.ndarray, faces: list[Box]) -> list[Tile] | None:
        """The layout kept where what changed since the last frame (`last`) is a region that
        scrolled, with no face in it, or (no grid) only faces that moved where they were: the last
        tiles less those in the scrolled region (the whole frame where none is left), remembered
        as a search's would be. `last`: the last frame (grey); `faces`: the faces found on it (the
        checks run only where the caller said, `saw`: a moved meeting window is no scroll). None: search."""
        import cv2

        k, s = self.CELL, self.SMALL
        size = (max(1, gray.shape[1] // s), max(1, gray.shape[0] // s))
        cur, small = (cv2.resize(g, size, interpolation=cv2.INTER_AREA) for g in (gray, last))
        diff = (cv2.absdiff(cur, small) > self.CHANGED).astype(np.float32)
        ch, cw = cur.shape[0] // k, cur.shape[1] // k
        if ch < 2 or cw < 2:
            return None
        cells = cv2.resize(diff[:ch * k, :cw * k], (cw, ch), interpolation=cv2.INTER_AREA) > 0.02
        ys, xs = np.nonzero(cells)
        if ys.size == 0:
            return None
        _, tiles, bg, _, _ = state
        if bg is None and faces and ys.size <= self.FACE_MOVED * cells.size and all(
                any(center_in((int(x) * k * s + k * s // 2, int(y) * k * s + k * s // 2, 1, 1), _grown(f))
                    for f in faces) for y, x in zip(ys, xs)):
            return self._keep(gray, tiles, bg, state)  # a face moving in its webcam's picture: no new layout
        # the largest stretch of change is what may have scrolled; little else may have changed (a
        # clock, the pointer, a face moving elsewhere)
        n, labels, stats, _ = cv2.connectedComponentsWithStats(cv2.dilate(cells.astype(np.uint8), np.ones((3, 3), np.uint8)),
                                                               connectivity=8)
        main = cells & (labels == 1 + int(np.argmax(stats[1:n, cv2.CC_STAT_AREA])))
        if ys.size - int(main.sum()) > max(4, self.ELSEWHERE * main.sum()):
            return None
        ys, xs = np.nonzero(main)
        region = (int(xs.min()) * k * s, int(ys.min()) * k * s, int(np.ptp(xs) + 1) * k * s, int(np.ptp(ys) + 1) * k * s)
        inside = [t for t in tiles if overlaps(t.box, region, 0.0)]
        if any(center_in(f, region) for f in faces) or \
                (len(inside) >= 2 and 2 * sum(t.camera_off for t in inside) >= len(inside)):
            return None  # a gallery (faces, camera-off panels) may be what moved: search
        x, y, w, h = region
        shift = _scrolled(gray[y:y + h, x:x + w], last[y:y + h, x:x + w], s, self.CHANGED, self.SCROLL_SAME) \
            if h >= 96 else None
        if shift is None:
            return None
        self.scrolled = (region, shift)
        if len(tiles) < 2:  # no grid: the picture as it was found
            return self._keep(gray, tiles, None, state)
        rest = [t for t in tiles if not overlaps(t.box, region, 0.0)]
        if len(rest) < 2:  # no grid left: the whole frame, as a search finds where there is none
            H, W = gray.shape[:2]
            rest, bg = [Tile((0, 0, W, H), False)], None
        return self._keep(gray, rest, bg, state)

    def _keep(self, gray: np.ndarray, tiles: list[Tile], bg: int | None, state) -> list[Tile] | None:
        """`tiles` remembered as a search's would be; without a grid, the frames since the last
        search go on counting (a search at least every NO_GRID_FRAMES, however long a page scrolls)."""
        kept = [Tile(t.box, looks_camera_off(gray, t.box, self.opts)) for t in tiles]
        remembered = self._remember(gray, kept, bg if len(kept) >= 2 else None)
        if remembered is None:
            return None
        if remembered[2] is None and state[2] is None:
            remembered[4][0] = state[4][0]
        self._state = remembered
        return kept


def _grown(face: Box) -> Box:
    """A face's box grown by twice its size each way: where it may have moved to between two
    samples (measured: a webcam's face moved by up to 1.8 of its width in 2 s)."""
    x, y, w, h = face
    return x - 2 * w, y - 2 * h, 5 * w, 5 * h


def _scrolled(cur: np.ndarray, prev: np.ndarray, small: int, levels: int, same: float) -> int | None:
    """How far the region `cur` (full resolution) is `prev` shifted (a page scrolled: `cur`'s row y
    shows `prev`'s row y + d), or None: the shift that best lines up their row profiles at 1/`small`
    of the size, refined to the pixel at full size, where a share `same` of the pixels the two show
    (every 4th row, every 2nd column; at least a third of the rows) lie within `levels`. A flat
    region (no profile) is no scroll."""
    import cv2

    h, w = cur.shape[:2]
    sh, sw = max(1, h // small), max(1, w // small)
    pc = cv2.resize(cur, (sw, sh), interpolation=cv2.INTER_AREA).mean(axis=1)
    pp = cv2.resize(prev, (sw, sh), interpolation=cv2.INTER_AREA).mean(axis=1)
    n = sh
    if n < 24 or pc.std() < 3.0 or pp.std() < 3.0:
        return None
    best, best_err = 0, np.inf
    for dy in range(-(2 * n) // 3, (2 * n) // 3 + 1):
        if dy == 0:
            continue
        a, b = max(0, -dy), n - max(0, dy)
        err = float(np.mean(np.abs(pc[a:b] - pp[a + dy:b + dy])))
        if err < best_err:
            best, best_err = dy, err
    share, shift = 0.0, None
    for d in range(small * best - small, small * best + small + 1):
        a, b = max(0, -d), h - max(0, d)
        if d == 0 or b - a < h // 3:
            continue
        diff = np.abs(cur[a:b:4, ::2].astype(np.int16) - prev[a + d:b + d:4, ::2])
        match = float(np.mean(diff <= levels))
        if match > share:
            share, shift = match, d
    return shift if share >= same else None
