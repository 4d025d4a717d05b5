"""The calibration a card carries, applied to served probabilities (numpy only; fitting is
`training.calibrate`'s).

1. **Temperature** (Guo et al., 2017): `softmax(log p / T)`, one scalar for every face.
2. **Top-label map** (optional, after the temperature): the top probability `c` of a face whose top
   class is `k` becomes `sigmoid(a_k ln c - b_k ln(1 - c) + m_k)`, a beta calibration map (Kull,
   Silva Filho & Flach, 2017) with its own `(a, b, m)` for each predicted class, `a, b >= 0` so that
   a more confident face never ends up less confident. The other classes share what is left in their
   old proportions, and the top class stays on top, at least `TOP_MARGIN` times the runner-up (so a
   rounded score still shows it first): the answer never changes, only how sure it is.
   One temperature cannot mend a model that is over-confident in some classes and under-confident in
   others (FER2013's neutral against its happy); the per-class map can.
3. **By the face's size** (optional): a face `FULL_SIDE` pixels across or more takes the two steps
   above; a smaller one takes a temperature and a top-label map of its own *size band*, fitted on
   FER2013 val shrunk to that side and compressed there as a call's codec does
   (`training.calibrate.fit_size_calibration`). Between two bands a face takes a mix of both answers,
   weighted by where its side lies between theirs on a log scale, so its confidence moves smoothly
   with its size. A small, blurred face is sure of less than a sharp one, and its answer never
   changes: every step keeps the top class.
   A face's size is the smaller of its side in pixels and the side its *sharpness* shows
   (`sharpness`, `side_from_sharpness`): a face enlarged from a low-resolution stream, or blurred
   by a codec, is as unsure as a face that few pixels across, however large it is on the screen.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from model.emotions import INPUT_SIZE

TOP_MARGIN = 1.01  # the top class's remapped probability stays at least this times the runner-up's
FULL_SIDE = INPUT_SIZE  # a face this many pixels across (its FER2013-style crop) or more is served at full size


def temperature_scale(probs: np.ndarray, t: float) -> np.ndarray:
    """Probabilities (N, K) at temperature `t`: softmax(log p / t), float64."""
    z = np.log(np.clip(np.asarray(probs, np.float64), 1e-12, 1)) / t
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def beta_features(conf: np.ndarray) -> np.ndarray:
    """(ln c, -ln(1 - c), 1) for each confidence: the map is a logistic regression on these."""
    c = np.clip(np.asarray(conf, np.float64), 1e-6, 1 - 1e-6)
    return np.stack([np.log(c), -np.log1p(-c), np.ones_like(c)], axis=-1)


def beta_map(conf: np.ndarray, params: Sequence[float]) -> np.ndarray:
    """The beta calibration map `(a, b, m)` at confidences `conf`."""
    s = beta_features(conf) @ np.asarray(params, np.float64)
    return 0.5 * (1.0 + np.tanh(0.5 * s))  # the logistic function, without overflow


def check_top_label_map(params, classes: int) -> np.ndarray:
    """The map as a (classes, 3) float array; a ValueError that says what is wrong otherwise."""
    a = np.asarray(params, dtype=np.float64)
    if a.shape != (classes, 3) or not np.isfinite(a).all():
        raise ValueError(f"top-label map: expected {classes} rows of (a, b, m), got shape {a.shape}")
    if (a[:, :2] < 0).any():
        raise ValueError("top-label map: a and b must be >= 0 (a map that is monotone in the confidence)")
    return a


def apply_top_label_map(probs: np.ndarray, params) -> np.ndarray:
    """`probs` (N, K) with each face's top probability remapped by its top class's row of `params`
    (K, 3); rows still sum to 1 and keep their argmax."""
    q = np.asarray(probs, np.float64)
    if not len(q):
        return q
    params = check_top_label_map(params, q.shape[1])
    top, c = q.argmax(axis=1), q.max(axis=1)
    new = np.empty_like(c)
    for k in np.unique(top):
        m = top == k
        new[m] = beta_map(c[m], params[k])
    return with_top(q, new)


def with_top(probs: np.ndarray, new_top: np.ndarray) -> np.ndarray:
    """`probs` (N, K) with each face's top probability set to `new_top` (N,) where that keeps it at
    least `TOP_MARGIN` times the runner-up (else as near as that allows); the other classes share
    what is left in their old proportions. Rows sum to 1 and keep their argmax."""
    q = np.asarray(probs, np.float64)
    rows = np.arange(len(q))
    top = q.argmax(axis=1)
    c = q[rows, top]
    new = np.asarray(new_top, np.float64)
    rest = 1.0 - c
    second = np.partition(q, -2, axis=1)[:, -2] if q.shape[1] > 1 else np.zeros_like(c)
    # the top class stays on top: c' >= M * second * (1 - c') / (1 - c)  <=>  c' >= M * second / (1 - c + M * second)
    floor = np.divide(TOP_MARGIN * second, rest + TOP_MARGIN * second, out=np.zeros_like(c),
                      where=(rest + second) > 0)
    new = np.clip(np.maximum(new, floor), 0.0, 1.0)
    out = q * np.divide(1.0 - new, rest, out=np.zeros_like(c), where=rest > 1e-12)[:, None]
    out[rows, top] = np.where(rest > 1e-12, new, c)
    return out / out.sum(axis=1, keepdims=True)


def calibrate(probs: np.ndarray, temperature: float, top_label_map=None) -> np.ndarray:
    """Steps 1 and 2: `probs` (N, K) at `temperature`, then through `top_label_map` where there is one."""
    q = temperature_scale(probs, temperature)
    return apply_top_label_map(q, top_label_map) if top_label_map is not None and len(top_label_map) else q


def check_size_bands(bands, classes: int, full_side: float = FULL_SIDE) -> list[dict]:
    """The size bands as dicts `{"side", "temperature", "top_label_map"}` sorted from the largest
    side down; a ValueError that says what is wrong otherwise (a side that is not below
    `full_side` or repeats, a temperature that is no positive number, a map of the wrong shape)."""
    if not isinstance(bands, (list, tuple)):
        raise ValueError(f"size bands must be an array, not {bands!r}")
    out = []
    for i, b in enumerate(bands):
        if not isinstance(b, dict):
            raise ValueError(f"size band {i} must be an object with side, temperature, top_label_map")
        try:
            side, t = float(b["side"]), float(b["temperature"])
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"size band {i} needs a numeric side and temperature, got {b!r}") from None
        if not (math.isfinite(side) and 0 < side < full_side):
            raise ValueError(f"size band {i}: side must be above 0 and below {full_side} px, not {side}")
        if not (math.isfinite(t) and t > 0):
            raise ValueError(f"size band {i}: temperature must be a finite number above 0, not {t}")
        m = b.get("top_label_map")
        m = [] if m is None else m
        out.append({"side": side, "temperature": t,
                    "top_label_map": check_top_label_map(m, classes) if len(m) else None})
    sides = [b["side"] for b in out]
    if len(set(sides)) != len(sides):
        raise ValueError(f"size bands repeat a side: {sorted(sides)}")
    return sorted(out, key=lambda b: -b["side"])


def size_anchors(temperature: float, top_label_map, bands, classes: int, full_side: float = FULL_SIDE) -> list[dict]:
    """The calibrations a face's size picks from, largest side first: the full-size one (steps 1 and
    2) at `full_side`, then the checked `bands` (`check_size_bands`). Made once, used every call."""
    full = {"side": float(full_side), "temperature": float(temperature),
            "top_label_map": check_top_label_map(top_label_map, classes) if top_label_map is not None
            and len(top_label_map) else None}
    return [full] + check_size_bands(bands, classes, full_side)


def mix_by_size(probs: np.ndarray, sides, anchors: list[dict]) -> np.ndarray:
    """Uncalibrated `probs` (N, K) of faces `sides` (N,) pixels across, calibrated by `anchors`
    (`size_anchors`): at the first anchor's side or more, its calibration; at or below the last's,
    the last's; between two, the mix of both answers weighted by log side. Rows sum to 1 and keep
    their argmax (both answers do)."""
    q = np.asarray(probs, np.float64)
    s = np.asarray(sides, np.float64).reshape(-1)
    if s.shape != (len(q),):
        raise ValueError(f"sides: expected {len(q)} face sizes, got {s.size}")
    if not np.isfinite(s).all():
        raise ValueError("sides: every face size must be a finite number of pixels")
    s = np.clip(s, 1.0, None)
    at = np.array([a["side"] for a in anchors])
    # the last anchor at least as large as the face, and the next one below it
    i = np.clip(np.searchsorted(-at, -s, side="right") - 1, 0, len(at) - 1)
    j = np.minimum(i + 1, len(at) - 1)
    between = (i != j) & (s < at[0])
    w = np.divide(np.log(at[i] / s), np.log(at[i] / at[j]), out=np.zeros_like(s), where=between)
    w = np.clip(w, 0.0, 1.0)
    out = np.zeros_like(q)
    for k, a in enumerate(anchors):
        weight = np.where(i == k, 1.0 - w, 0.0) + np.where((j == k) & (i != k), w, 0.0)
        rows = weight > 0
        if rows.any():
            out[rows] += weight[rows, None] * calibrate(q[rows], a["temperature"], a["top_label_map"])
    return out / out.sum(axis=1, keepdims=True) if len(q) else out


def calibrate_by_size(probs: np.ndarray, sides, temperature: float, top_label_map, bands,
                      full_side: float = FULL_SIDE) -> np.ndarray:
    """Step 3 in one call: `mix_by_size` over the full-size calibration (`temperature`,
    `top_label_map`) and the size `bands`."""
    q = np.asarray(probs, np.float64)
    return mix_by_size(q, sides, size_anchors(temperature, top_label_map, bands, q.shape[-1], full_side))


SHARP_MARGIN = 4  # pixels of a 48 px face left out of its sharpness (the crop's edges, its padding)


def sharpness(faces: np.ndarray) -> np.ndarray:
    """(N,) how much fine detail each gray face (N, H, W) uint8 holds: the mean absolute 4-neighbour
    Laplacian over the face inside a `SHARP_MARGIN` border, over its standard deviation (+ 2, for a
    flat face): a dim or washed-out face is not taken for a blurred one (half the contrast: 4% less).
    FER2013 val at 48 px: a median of about 0.56; shrunk to 24 px and enlarged back: 0.21."""
    f = np.asarray(faces, np.float32)
    if f.ndim == 4:
        f = f[..., 0]
    if not len(f):
        return np.zeros(0)
    c = f[:, 1:-1, 1:-1]
    lap = f[:, :-2, 1:-1] + f[:, 2:, 1:-1] + f[:, 1:-1, :-2] + f[:, 1:-1, 2:] - 4 * c
    m = SHARP_MARGIN - 1
    inner = (slice(None), slice(m, -m or None), slice(m, -m or None))
    return np.abs(lap[inner]).mean(axis=(1, 2)) / (c[inner].std(axis=(1, 2)) + 2.0)


def side_from_sharpness(values, curve_sides, curve_values) -> np.ndarray:
    """The face side (px) whose typical sharpness is `values`: interpolated on a curve of sides and
    the median sharpness of faces shrunk to each (the card's), at most its largest side."""
    order = np.argsort(np.asarray(curve_values, np.float64))
    xs = np.asarray(curve_values, np.float64)[order]
    ys = np.asarray(curve_sides, np.float64)[order]
    return np.interp(np.asarray(values, np.float64), xs, ys)


def check_sharpness_curve(curve) -> tuple[list[float], list[float]] | None:
    """`{"sides": [...], "median": [...]}` as two lists (None for none); a ValueError that says
    what is wrong otherwise (lengths, numbers, a curve whose sharpness does not fall with the side)."""
    if not curve:
        return None
    try:
        sides = [float(v) for v in curve["sides"]]
        med = [float(v) for v in curve["median"]]
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"sharpness curve needs arrays sides and median of numbers, got {curve!r}") from None
    if len(sides) != len(med) or len(sides) < 2 or not all(map(math.isfinite, sides + med)):
        raise ValueError("sharpness curve: sides and median must be two or more finite numbers each, as many")
    pairs = sorted(zip(sides, med))
    if any(b[1] < a[1] for a, b in zip(pairs, pairs[1:])):
        raise ValueError("sharpness curve: a larger side must not be less sharp than a smaller one")
    return sides, med
