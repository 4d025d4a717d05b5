"""Temperature scaling (Guo et al., 2017): one scalar T divides the log-probabilities before the
softmax; fitted by minimising the negative log-likelihood on labelled faces. Reported as the NLL
and the expected calibration error (ECE, 15 equal-width confidence bins) before and after, on a
held-out half."""

from __future__ import annotations

import numpy as np

BINS = 15


def scale(probs: np.ndarray, t: float) -> np.ndarray:
    """Probabilities `probs` (N, K) at temperature `t`: softmax(log p / t)."""
    z = np.log(np.clip(np.asarray(probs, np.float64), 1e-12, 1)) / t
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def nll(probs: np.ndarray, y: np.ndarray) -> float:
    p = np.asarray(probs, np.float64)[np.arange(len(y)), np.asarray(y, int)]
    return float(-np.log(np.clip(p, 1e-12, 1)).mean())


def ece(probs: np.ndarray, y: np.ndarray, bins: int = BINS) -> float:
    """Expected calibration error: sum over equal-width confidence bins of |accuracy - confidence|
    weighted by the bin's share of faces."""
    probs = np.asarray(probs)
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == np.asarray(y)
    which = np.minimum((conf * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        m = which == b
        if m.any():
            total += m.mean() * abs(correct[m].mean() - conf[m].mean())
    return float(total)


def fit_temperature(probs: np.ndarray, y: np.ndarray, lo: float = 0.05, hi: float = 20.0) -> float:
    """The temperature minimising the NLL of `scale(probs, T)` on labels `y` (golden-section search
    on log T; the NLL is unimodal in T)."""
    a, b = np.log(lo), np.log(hi)
    g = (np.sqrt(5) - 1) / 2
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = nll(scale(probs, np.exp(c)), y), nll(scale(probs, np.exp(d)), y)
    for _ in range(80):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = nll(scale(probs, np.exp(c)), y)
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = nll(scale(probs, np.exp(d)), y)
    return float(np.exp((a + b) / 2))


def ece_floor(probs: np.ndarray, draws: int = 200, seed: int = 0) -> dict:
    """The ECE that perfectly calibrated probabilities `probs` would still show on this many faces:
    labels drawn from `probs` themselves, `draws` times (median and 90th percentile). Binning a
    finite sample is noisy; an ECE near this floor is as calibrated as the faces can show."""
    probs = np.asarray(probs, np.float64)
    rng = np.random.default_rng(seed)
    cum = np.cumsum(probs, axis=1)
    cum /= cum[:, -1:]
    found = [ece(probs, (rng.random((len(probs), 1)) > cum).sum(axis=1)) for _ in range(draws)]
    return {"median": round(float(np.median(found)), 4), "p90": round(float(np.percentile(found, 90)), 4),
            "draws": draws}


def calibrate(probs: np.ndarray, y: np.ndarray, seed: int = 0, refit: bool = True) -> dict:
    """Fit on one seeded half, report on the other (NLL and ECE before and after), then refit on all:
    the returned `temperature` is the one to ship (`refit=False`: the half's, for a quick look)."""
    y = np.asarray(y)
    order = np.random.default_rng(seed).permutation(len(y))
    fit, held = order[: len(y) // 2], order[len(y) // 2:]
    t_half = fit_temperature(probs[fit], y[fit])
    before, after, y_held = probs[held], scale(probs[held], t_half), y[held]
    return {
        "method": "temperature scaling, NLL", "bins": BINS, "seed": seed,
        "fit_faces": int(len(fit)), "held_out_faces": int(len(held)),
        "temperature_half": round(t_half, 4),
        "held_out": {"nll_before": round(nll(before, y_held), 4), "nll_after": round(nll(after, y_held), 4),
                     "ece_before": round(ece(before, y_held), 4), "ece_after": round(ece(after, y_held), 4)},
        "temperature": round(fit_temperature(probs, y) if refit else t_half, 4),
        **({"held_out_ece_floor": ece_floor(after)} if refit else {}),
    }
