"""The fixed list of augmented views under which teachers' answers are saved.

A teacher file (`training/teachers/<name>.npz`) holds the teachers' averaged probabilities for every
training face under each of `NUM_VIEWS` views. A student distilled from it on any machine draws one
view a face a step and must see exactly the pixels the teachers saw, so a view is a pure function of
the face's pixels, the view's index and the face's row in Kaggle's `fer2013.csv` (never its position
in an array or a batch):

- view 0: the face as is; 1: mirrored; 2: zoomed in by `model.classifier.TTA_ZOOM`; 3: zoomed and
  mirrored (the served test-time views);
- views 4 .. NUM_VIEWS-1: a random affine warp (rotation, scale, shift, as `training.augment`) and
  a coin-flip mirror, their parameters drawn from `default_rng([VIEW_SEED, view])` for every possible
  row at once and looked up by row.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from training.augment import AugmentConfig

NUM_VIEWS = 16
VIEW_SEED = 20261127
MAX_ROW = 1 << 16           # rows of fer2013.csv are 0..35886
ZOOM = 1.08                 # model.classifier.TTA_ZOOM (not imported: training must not need serving code)
SIDE = 48


def view_maps(view: int, rows: np.ndarray, cfg: AugmentConfig = AugmentConfig()) -> tuple[np.ndarray, np.ndarray]:
    """Inverse affine maps `(N, 2, 3)` (output pixel -> input pixel) and mirror flags `(N,)` of
    `view` for faces at `rows`."""
    rows = np.asarray(rows, dtype=np.int64)
    if not 0 <= view < NUM_VIEWS:
        raise ValueError(f"view must lie in 0-{NUM_VIEWS - 1}, not {view}")
    if rows.size and (rows.min() < 0 or rows.max() >= MAX_ROW):
        raise ValueError(f"rows must lie in 0-{MAX_ROW - 1}")
    n = len(rows)
    c = np.array([(SIDE - 1) / 2.0, (SIDE - 1) / 2.0])
    if view < 4:
        k = 1.0 / ZOOM if view >= 2 else 1.0
        a = np.broadcast_to(np.eye(2) * k, (n, 2, 2))
        offset = np.broadcast_to(c - k * c, (n, 2))
        flip = np.full(n, view % 2 == 1)
    else:
        u = _uniforms(view)[rows]
        theta = np.deg2rad((2 * u[:, 0] - 1) * cfg.rotate_deg)
        scale = cfg.scale[0] + u[:, 1] * (cfg.scale[1] - cfg.scale[0])
        shift = (2 * u[:, 2:4] - 1) * cfg.shift * SIDE
        flip = u[:, 4] < cfg.flip
        cos, sin = np.cos(theta) / scale, np.sin(theta) / scale
        a = np.stack([np.stack([cos, sin], 1), np.stack([-sin, cos], 1)], 1)
        offset = c - np.einsum("bij,bj->bi", a, c + shift)
    return np.concatenate([a, offset[:, :, None]], axis=2).astype(np.float64), flip


@lru_cache(maxsize=NUM_VIEWS)
def _uniforms(view: int) -> np.ndarray:
    """The view's five uniform numbers for every possible row (drawn once, read-only)."""
    u = np.random.default_rng([VIEW_SEED, view]).random((MAX_ROW, 5))
    u.flags.writeable = False
    return u


def render(x: np.ndarray, rows: np.ndarray, views: np.ndarray | int) -> np.ndarray:
    """Faces `x` (N, 48, 48) uint8 under `views` (one index for all, or one a face): float32 (N, 48, 48)."""
    x = np.asarray(x)
    views = np.broadcast_to(np.asarray(views), (len(x),))
    out = np.empty(x.shape, np.float32)
    for v in np.unique(views):
        sel = np.flatnonzero(views == v)
        maps, flip = view_maps(int(v), np.asarray(rows)[sel])
        for j, i in enumerate(sel):
            src = x[i, :, ::-1] if flip[j] else x[i]
            cv2.warpAffine(src.astype(np.float32), maps[j], (SIDE, SIDE), dst=out[i],
                           flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT_101)
    return out
