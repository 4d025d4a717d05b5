"""`LayoutMemory`: the last layout re-checked on each frame before searching again."""

from __future__ import annotations

import threading

import numpy as np

from bot.layout.evidence import gutter_across, looks_camera_off
from bot.layout.fit import search_all
from bot.layout.geometry import gray_of, thumbnail
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

    def __init__(self, opts: LayoutOptions = LayoutOptions(), seed: int = 0):
        self.opts = opts
        self.searches = 0
        self._rng = np.random.default_rng(seed)
        self._state = None  # (shape, tiles, bg, (ys, xs), [(ys, xs) per tile])
        self.others: list[list[Tile]] = []  # the tilings the last search proposed and did not keep
        self._lock = threading.Lock()

    def tiles(self, frame: np.ndarray) -> list[Tile]:
        gray = gray_of(frame)
        with self._lock:
            return self._tiles(gray)

    def _tiles(self, gray: np.ndarray) -> list[Tile]:
        state = self._state
        if state is not None and state[0] == gray.shape and self._holds(gray, state):
            return [Tile(t.box, looks_camera_off(gray, t.box, self.opts)) for t in state[1]]
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
