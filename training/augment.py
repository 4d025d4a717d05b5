"""Batch augmentation on the CPU, fast enough to feed a GPU (no Keras random layers: those ran
~100x slower on the GPU).

`augment_batch` transforms a whole uint8 batch `(B, H, W)`: random horizontal flip, a random affine
warp (rotation, scale, shift; bilinear, edges replicated) and random erasing. Parameters and erasing
masks are drawn for the whole batch at once in numpy; each warp is one `cv2.warpAffine` call
(~12 us per 48x48 face, 12x faster than a numpy gather). `mixup_batch` blends pairs of faces
and their targets, for distillation runs where the teacher labels the blend. `low_res_batch` gives
faces the few pixels a small gallery tile has: shrunk, then enlarged back as the classifier does;
`meeting_batch` adds what a video call does on top (light, blur, a low-bit-rate codec).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
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
    x = np.asarray(x)
    b, h, w = x.shape
    flip = rng.random(b) < cfg.flip
    theta = np.deg2rad(rng.uniform(-cfg.rotate_deg, cfg.rotate_deg, b))
    scale = rng.uniform(*cfg.scale, b)
    shift = rng.uniform(-cfg.shift, cfg.shift, (b, 2)) * (w, h)

    # Inverse maps (output pixel -> where to read): src = A (dst - c - t) + c, A = R(theta) / scale.
    c = np.array([(w - 1) / 2.0, (h - 1) / 2.0])
    cos, sin = np.cos(theta) / scale, np.sin(theta) / scale
    a = np.stack([np.stack([cos, sin], 1), np.stack([-sin, cos], 1)], 1)          # (B, 2, 2)
    offset = c - np.einsum("bij,bj->bi", a, c + shift)                          # (B, 2)
    maps = np.concatenate([a, offset[:, :, None]], axis=2)                      # (B, 2, 3)
    src = x.astype(np.float32)
    src[flip] = src[flip, :, ::-1]
    out = np.empty((b, h, w), np.float32)
    for i in range(b):
        cv2.warpAffine(src[i], maps[i], (w, h), dst=out[i],
                       flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)

    erase_batch(out, rng, cfg.erase, cfg.erase_size)
    return np.clip(out, 0, 255, out=out)


LOW_RES_SIDES = (14, 40)  # a shrunk face's side in pixels: a 7x7 gallery on a small screen or recording


def low_res_batch(x: np.ndarray, rng: np.random.Generator, p: float,
                  sides: tuple[int, int] = LOW_RES_SIDES) -> np.ndarray:
    """In place on a float32 batch `(B, H, W)`: with probability `p` a face is shrunk to a side drawn
    uniformly from `sides` (area averaging, as a small tile's pixels are) and enlarged back to its
    size bilinearly, as `EmotionClassifier.preprocess` enlarges a small crop. Faces seen that way read
    as blurred, and a network that never saw blur reads it as sad (FER2013 val shrunk to 24 px: 34%
    of faces called sad against 19%)."""
    b, h, w = x.shape
    pick = np.flatnonzero(rng.random(b) < p)
    side = rng.integers(sides[0], sides[1] + 1, len(pick))
    for i, s in zip(pick, side):
        small = cv2.resize(x[i], (int(s), int(round(s * h / w))), interpolation=cv2.INTER_AREA)
        x[i] = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    return x


MEETING_SIDES = (14, 48)     # a gallery face's side in pixels, from a 7x7 grid on a laptop to a large tile
MEETING_QUALITY = (10, 60)   # JPEG quality at that size: a video codec at a low bit rate (8x8 blocks, ringing)


def meeting_batch(x: np.ndarray, rng: np.random.Generator, p: float, sides: tuple[int, int] = MEETING_SIDES,
                  quality: tuple[int, int] = MEETING_QUALITY) -> np.ndarray:
    """In place on a float32 batch `(B, H, W)`: with probability `p` a face goes through what a video
    call does to it. Its light changes (gamma 0.6-1.6: low light, a bright window behind; contrast
    0.5-1 about its mean: a washed-out camera), it is shrunk to a side drawn from `sides` (area
    averaging, as a tile's pixels are), half of those are blurred at that size (defocus, sigma
    0.3-1.2 px), it is compressed as JPEG at a quality drawn from `quality`, and enlarged back
    bilinearly as the classifier enlarges a small crop. Light is drawn and applied for the batch at
    once in numpy; the rest is one OpenCV call a step a face. FER2013 val through 24 px and JPEG
    quality 30 read 47% of neutral faces as angry, disgust, fear or sad (23% shrunk alone)."""
    b, h, w = x.shape
    pick = np.flatnonzero(rng.random(b) < p)
    if not len(pick):
        return x
    n = len(pick)
    gamma = np.exp(rng.uniform(np.log(0.6), np.log(1.6), n))[:, None, None]
    contrast = rng.uniform(0.5, 1.0, n)[:, None, None]
    lit = 255.0 * (np.clip(x[pick], 0, 255) / 255.0) ** gamma
    mean = lit.mean(axis=(1, 2), keepdims=True)
    x[pick] = mean + contrast * (lit - mean)
    side = rng.integers(sides[0], sides[1] + 1, n)
    q = rng.integers(quality[0], quality[1] + 1, n)
    blur = np.where(rng.random(n) < 0.5, rng.uniform(0.3, 1.2, n), 0.0)
    for i, s, qi, sigma in zip(pick, side, q, blur):
        small = cv2.resize(x[i], (int(s), int(round(s * h / w))), interpolation=cv2.INTER_AREA)
        if sigma:
            small = cv2.GaussianBlur(small, (0, 0), float(sigma))
        ok, buf = cv2.imencode(".jpg", np.clip(small, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, int(qi)])
        if ok:
            small = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE).astype(np.float32)
        x[i] = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    return x


def shrink(x: np.ndarray, side: int, jpeg: int = 0) -> np.ndarray:
    """Faces (N, H, W) uint8 as a gallery of `side`-pixel faces gives them: shrunk to `side` (area
    averaging), compressed there as JPEG at quality `jpeg` (0: not; a call's codec at a low bit
    rate), and enlarged back bilinearly, as the classifier enlarges a small crop. A new array."""
    if side >= x.shape[1] and not jpeg:
        return x.copy()

    def one(f):
        small = cv2.resize(f, (side, side), interpolation=cv2.INTER_AREA) if side < x.shape[1] else f
        if jpeg:
            small = cv2.imdecode(cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, int(jpeg)])[1],
                                 cv2.IMREAD_GRAYSCALE)
        return cv2.resize(small, x.shape[1:][::-1], interpolation=cv2.INTER_LINEAR)
    return np.stack([one(f) for f in x]) if len(x) else x.copy()


def erase_batch(out: np.ndarray, rng: np.random.Generator, p: float = AugmentConfig.erase,
                size: tuple[float, float] = AugmentConfig.erase_size) -> np.ndarray:
    """Random erasing in place on a float32 batch `(B, H, W)`: with probability `p` a face gets one
    rectangle of uniform noise, each side a fraction `size` of the image's."""
    b, h, w = out.shape
    erase = rng.random(b) < p
    if erase.any():
        idx = np.flatnonzero(erase)
        eh = (rng.uniform(*size, idx.size) * h).astype(int)
        ew = (rng.uniform(*size, idx.size) * w).astype(int)
        y0 = rng.integers(0, h - eh + 1)
        x0 = rng.integers(0, w - ew + 1)
        rows = np.arange(h)[None, :, None]
        cols = np.arange(w)[None, None, :]
        mask = ((rows >= y0[:, None, None]) & (rows < (y0 + eh)[:, None, None])
                & (cols >= x0[:, None, None]) & (cols < (x0 + ew)[:, None, None]))
        noise = rng.uniform(0, 255, (idx.size, h, w)).astype(np.float32)
        out[idx] = np.where(mask, noise, out[idx])
    return out


def mixup_batch(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, alpha: float = 0.4,
                p: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Blend each face with a random partner of the batch: x' = l x + (1 - l) x[j], same for the
    target rows `y` (one-hot or probabilities). l ~ Beta(alpha, alpha), folded to >= 0.5 so the
    first face dominates; a fraction `1 - p` of the faces stays unmixed."""
    b = len(x)
    lam = rng.beta(alpha, alpha, b).astype(np.float32)
    lam = np.maximum(lam, 1 - lam)
    lam[rng.random(b) >= p] = 1.0
    j = rng.permutation(b)
    lx = lam.reshape(b, *([1] * (x.ndim - 1)))
    ly = lam.reshape(b, *([1] * (y.ndim - 1)))
    return (lx * x + (1 - lx) * x[j]).astype(np.float32), (ly * y + (1 - ly) * y[j]).astype(np.float32)
