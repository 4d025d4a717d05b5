"""The calibrations tried for the served model, each fitted on one seeded half of FER2013 val and
scored on the other (ECE, 15 equal-width bins, and NLL), on the card's half (seed 0) and on many
others: the figures behind the calibration table of docs/training.md and the choice of the served one. Needs
FER2013.

    python bench/calibration.py [--seeds 0-9,100-139] [--model M.keras]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _affine_logits(log_p: np.ndarray, y: np.ndarray, per_class_scale: bool) -> tuple[np.ndarray, np.ndarray]:
    """Scale(s) and a bias a class on the log-probabilities, by NLL (vector scaling; with one
    shared scale: temperature plus class biases)."""
    from scipy.optimize import minimize

    k = log_p.shape[1]
    n_scale = k if per_class_scale else 1

    def loss(w):
        z = log_p * w[:n_scale] + w[n_scale:]
        z = z - z.max(axis=1, keepdims=True)
        return -(z[np.arange(len(y)), y] - np.log(np.exp(z).sum(axis=1))).mean()

    w = minimize(loss, np.r_[np.ones(n_scale), np.zeros(k)], method="L-BFGS-B").x
    return w[:n_scale], w[n_scale:]


def methods(p_fit, y_fit, p_held):
    """Each calibration, fitted on (p_fit, y_fit), applied to p_held."""
    from scipy.optimize import isotonic_regression

    from model.calibration import apply_top_label_map, with_top
    from training.calibrate import MIN_FACES, fit_beta, fit_temperature, fit_top_label_map, scale

    t = fit_temperature(p_fit, y_fit)
    q_fit, q_held = scale(p_fit, t), scale(p_held, t)
    lf, lh = np.log(np.clip(p_fit, 1e-12, 1)), np.log(np.clip(p_held, 1e-12, 1))
    yield "none", p_held
    yield "temperature", q_held
    a, b = _affine_logits(lf, y_fit, False)
    yield "temperature and a bias a class", _softmax(lh * a + b)
    a, b = _affine_logits(lf, y_fit, True)
    yield "vector scaling (a scale and a bias a class)", _softmax(lh * a + b)
    per_class, k_fit, k_held = q_held.copy(), p_fit.argmax(1), p_held.argmax(1)
    for k in range(p_fit.shape[1]):
        if (k_fit == k).sum() >= MIN_FACES:
            per_class[k_held == k] = scale(p_held[k_held == k], fit_temperature(p_fit[k_fit == k], y_fit[k_fit == k]))
    yield "a temperature a predicted class", per_class
    shared = fit_beta(q_fit.max(1), q_fit.argmax(1) == y_fit)
    yield "temperature, then one beta map for all classes", apply_top_label_map(q_held, [shared] * p_fit.shape[1])
    order = np.argsort(q_fit.max(1))
    xs, fitted = q_fit.max(1)[order], isotonic_regression((q_fit.argmax(1) == y_fit)[order].astype(float)).x
    iso = np.clip(fitted[np.clip(np.searchsorted(xs, q_held.max(1), side="right") - 1, 0, len(xs) - 1)], 1e-4, 1 - 1e-4)
    yield "temperature, then isotonic regression of the top probability", with_top(q_held, iso)
    yield "temperature, then a beta map a predicted class (served)", apply_top_label_map(q_held, fit_top_label_map(q_fit, y_fit))


def _seeds(text: str) -> list[int]:
    out = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out += list(range(int(lo), int(hi or lo) + 1))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", default="0-9,100-139", help="seeded halves, e.g. 0-9,100-139 (0: the card's)")
    ap.add_argument("--model", help="a .keras file with its card (default: the bundled one)")
    ap.add_argument("--data", help="FER2013 with a val split (default: $CLASSMOOD_FER2013 or ../shared/data/fer2013)")
    args = ap.parse_args()
    from model import EmotionClassifier
    from training.calibrate import ece, nll
    from training.data import DatasetError, load_val

    try:
        x, y, _ = load_val(args.data, "the calibration bench")
    except DatasetError as e:
        print(e)
        return 2
    clf = EmotionClassifier.load(args.model)
    p = clf.predict(x, calibrated=False, batch_size=256).astype(np.float64)
    seeds = _seeds(args.seeds)
    found: dict[str, list[tuple[int, float, float]]] = {}
    for s in seeds:
        order = np.random.default_rng(s).permutation(len(y))
        fit, held = order[: len(y) // 2], order[len(y) // 2:]
        for name, q in methods(p[fit], y[fit], p[held]):
            found.setdefault(name, []).append((s, ece(q, y[held]), nll(q, y[held])))
    print(f"{clf.path.name} as served ({clf.backend}, {clf.views} view(s)), FER2013 val {len(y)} faces; "
          f"fitted on one seeded half, scored on the other; {len(seeds)} halves")
    print(f"{'calibration':<64} {'ECE seed 0':>10} {'ECE median':>10} {'ECE p90':>8} {'<= 0.03':>8} {'NLL median':>10}")
    for name, rows in found.items():
        r = np.array(rows)
        seed0 = f"{r[r[:, 0] == 0][0, 1]:.4f}" if (r[:, 0] == 0).any() else "-"
        print(f"{name:<64} {seed0:>10} {np.median(r[:, 1]):>10.4f} {np.percentile(r[:, 1], 90):>8.4f} "
              f"{int((r[:, 1] <= 0.03).sum()):>8} {np.median(r[:, 2]):>10.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
