"""Batch augmentation in vectorised numpy (no Keras random layers: those ran ~100x slower on GPU).

One call transforms a whole uint8 batch `(B, 48, 48)`: random horizontal flip, a random affine warp
(rotation, scale, shift) sampled bilinearly with edge replication, and random erasing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AugmentConfig:
    flip: float = 0.5          # probability of a horizontal flip
    rotate_deg: float = 12.0   # uniform in [-rotate_deg, rotate_deg]
    scale: tuple[float, float] = (0.88, 1.12)
    shift: float = 0.08        # fraction of the side, uniform in [-shift, shift]
    erase: float = 0.4         # probability of erasing one rectangle
    erase_size: tuple[float, float] = (0.15, 0.4)  # side of the rectangle, fraction of the image


def augment_batch(x: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig = AugmentConfig()) -> np.ndarray:
    """Return an augmented float32 copy of `x` (B, H, W), values in 0-255."""
    x = np.asarray(x, dtype=np.float32)
    b, h, w = x.shape
    flip = rng.random(b) < cfg.flip
    theta = np.deg2rad(rng.uniform(-cfg.rotate_deg, cfg.rotate_deg, b))
    scale = rng.uniform(*cfg.scale, b)
    tx = rng.uniform(-cfg.shift, cfg.shift, b) * w
    ty = rng.uniform(-cfg.shift, cfg.shift, b) * h

    # Inverse map: for every output pixel, where to read in the source image.
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    xo = (xx - cx)[None] - tx[:, None, None]
    yo = (yy - cy)[None] - ty[:, None, None]
    cos, sin = (np.cos(theta) / scale)[:, None, None], (np.sin(theta) / scale)[:, None, None]
    xs = cos * xo + sin * yo
    ys = -sin * xo + cos * yo
    xs = np.where(flip[:, None, None], -xs, xs) + cx
    ys = ys + cy
    out = _bilinear(x, xs, ys)

    erase = rng.random(b) < cfg.erase
    if erase.any():
        idx = np.flatnonzero(erase)
        eh = (rng.uniform(*cfg.erase_size, idx.size) * h).astype(int)
        ew = (rng.uniform(*cfg.erase_size, idx.size) * w).astype(int)
        y0 = rng.integers(0, h - eh + 1)
        x0 = rng.integers(0, w - ew + 1)
        rows = np.arange(h)[None, :, None]
        cols = np.arange(w)[None, None, :]
        mask = ((rows >= y0[:, None, None]) & (rows < (y0 + eh)[:, None, None])
                & (cols >= x0[:, None, None]) & (cols < (x0 + ew)[:, None, None]))
        noise = rng.uniform(0, 255, (idx.size, h, w)).astype(np.float32)
        out[idx] = np.where(mask, noise, out[idx])
    return out


def _bilinear(img: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    b, h, w = img.shape
    xs = np.clip(xs, 0, w - 1)
    ys = np.clip(ys, 0, h - 1)
    x0 = np.floor(xs).astype(np.int32)
    y0 = np.floor(ys).astype(np.int32)
    x1 = np.minimum(x0 + 1, w - 1)
    y1 = np.minimum(y0 + 1, h - 1)
    fx = xs - x0
    fy = ys - y0
    flat = img.reshape(b, -1)
    base = (np.arange(b) * h * w)[:, None, None]

    def at(yi, xi):
        return flat.reshape(-1)[base + yi * w + xi]

    top = at(y0, x0) * (1 - fx) + at(y0, x1) * fx
    bottom = at(y1, x0) * (1 - fx) + at(y1, x1) * fx
    return (top * (1 - fy) + bottom * fy).astype(np.float32)
