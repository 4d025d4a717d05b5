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
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

TOP_MARGIN = 1.01  # the top class's remapped probability stays at least this times the runner-up's


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
    return 1.0 / (1.0 + np.exp(-s))


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
