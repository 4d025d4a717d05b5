"""Calibration, fitted on labelled faces (what `model.calibration` applies when serving).

1. Temperature scaling (Guo et al., 2017): one scalar T divides the log-probabilities before the
   softmax; fitted by minimising the negative log-likelihood.
2. Then a top-label map: for each predicted class, a beta calibration map (Kull et al., 2017) of the
   top probability, fitted by maximum likelihood of "the top class is the label" with a, b >= 0
   (monotone); a class predicted for fewer than `MIN_FACES` fitting faces takes the map fitted on
   all of them.
3. Then by the face's size (`fit_size_calibration`): for each side of `SIZE_SIDES` pixels, both
   steps again, fitted on val shrunk to that side and compressed there at each JPEG quality of
   `SIZE_JPEG` and each H.264 rate factor of `SIZE_H264` (a call's codec, `training.augment.shrink`),
   all pooled: the observer knows a face's size, never how hard the call compressed it. A face between two sides is served a mix of
   both (`model.calibration.calibrate_by_size`).
Reported as the NLL and the expected calibration error (ECE, 15 equal-width confidence bins) before
and after each step, on a held-out half (for the sizes also the faces the mood counts and the calm
faces it counts negative); then refitted on all faces for the card.

`python -m training.calibrate WEIGHTS` refits a card's calibration on FER2013 val without
converting anything again.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from model.calibration import (FULL_SIDE, apply_top_label_map, beta_features, calibrate as calibrated,
                               calibrate_by_size, sharpness, side_from_sharpness, temperature_scale)
from model.card import ModelCard
from model.classifier import EmotionClassifier, ModelLoadError
from model.emotions import CONFIDENT, EMOTIONS
from training.augment import shrink
from training.data import DatasetError, load_val
from training.metrics import NEGATIVE_IDX as NEGATIVE, NEUTRAL

BINS = 15
MIN_FACES = 50  # fitting faces a class needs to get its own top-label map
SIZE_SIDES = (40, 32, 24, 20, 16, 12)  # face sides (px) that get a calibration of their own
SIZE_JPEG = (0, 90, 70, 50, 30)        # JPEG qualities pooled at each side (0: not compressed)
SIZE_H264 = (32, 38)                   # and H.264 rate factors (a gallery's stream, 7x7 faces a frame)

scale = temperature_scale  # `scale(probs, t)`: probabilities at temperature t


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


def fit_beta(conf: np.ndarray, correct: np.ndarray) -> list[float]:
    """The beta calibration map `(a, b, m)` (a, b >= 0) maximising the likelihood of `correct`
    (0/1) given confidences `conf`."""
    from scipy.optimize import minimize

    x = beta_features(conf)
    z = np.asarray(correct, np.float64)

    def loss(w):
        s = x @ w
        return float(np.sum(np.logaddexp(0.0, s) - z * s)), x.T @ (1.0 / (1.0 + np.exp(-s)) - z)

    found = minimize(loss, np.array([1.0, 1.0, 0.0]), jac=True, method="L-BFGS-B",
                     bounds=[(0, None), (0, None), (None, None)])
    return [round(float(v), 6) for v in found.x]


def fit_top_label_map(probs: np.ndarray, y: np.ndarray, min_faces: int = MIN_FACES) -> list[list[float]]:
    """One `(a, b, m)` row a class (`model.calibration.apply_top_label_map`): the beta map of the
    top probability of the faces predicted as that class, or of all faces for a class predicted
    fewer than `min_faces` times."""
    probs, y = np.asarray(probs, np.float64), np.asarray(y)
    top, conf = probs.argmax(axis=1), probs.max(axis=1)
    correct = top == y
    shared = fit_beta(conf, correct)
    return [fit_beta(conf[top == k], correct[top == k]) if (top == k).sum() >= min_faces else shared
            for k in range(probs.shape[1])]


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
    """Fit on one seeded half, report on the other (NLL and ECE before, after the temperature and
    after the top-label map too), then refit on all: the returned `temperature` and `top_label_map`
    are the ones to ship (`refit=False`: the half's, for a quick look)."""
    probs, y = np.asarray(probs, np.float64), np.asarray(y)
    order = np.random.default_rng(seed).permutation(len(y))
    fit, held = order[: len(y) // 2], order[len(y) // 2:]
    t_half = fit_temperature(probs[fit], y[fit])
    before, after, y_held = probs[held], scale(probs[held], t_half), y[held]
    held_out = {"nll_before": round(nll(before, y_held), 4), "nll_after": round(nll(after, y_held), 4),
                "ece_before": round(ece(before, y_held), 4), "ece_after": round(ece(after, y_held), 4)}
    half_map = fit_top_label_map(scale(probs[fit], t_half), y[fit])
    final = apply_top_label_map(after, half_map)
    held_out.update(nll_after_map=round(nll(final, y_held), 4), ece_after_map=round(ece(final, y_held), 4))
    t_all = fit_temperature(probs, y) if refit else t_half
    report = {"method": "temperature scaling, NLL, then a beta map of the top probability for each predicted "
                        f"class (a, b >= 0; classes predicted fewer than {MIN_FACES} times share one), likelihood",
              "bins": BINS, "seed": seed, "fit_faces": int(len(fit)), "held_out_faces": int(len(held)),
              "temperature_half": round(t_half, 4),
              "top_label_map": fit_top_label_map(scale(probs, t_all), y) if refit else half_map,
              "held_out": held_out, "temperature": round(t_all, 4)}
    if refit:
        report["held_out_ece_floor"] = ece_floor(final)
    return report


def set_calibration(card, probs: np.ndarray, y: np.ndarray) -> dict:
    """Fit both steps on (`probs` uncalibrated as served, labels `y`) and put them in `card`: its
    `temperature`, `top_label_map` and the `calibration` report. Returns the report."""
    report = calibrate(probs, y)
    card.top_label_map = report.pop("top_label_map")
    card.temperature = report["temperature"]
    card.calibration = report
    return report


def _size_figures(probs: np.ndarray, y: np.ndarray) -> dict:
    """NLL, ECE, the share of faces the mood counts, and of neutral-labelled faces it counts negative."""
    top, calm = probs.max(axis=1), y == NEUTRAL
    sure_negative = np.isin(probs.argmax(axis=1), NEGATIVE) & (top >= CONFIDENT)
    return {"nll": round(nll(probs, y), 4), "ece": round(ece(probs, y), 4),
            "counted": round(float(np.mean(top >= CONFIDENT)), 4),
            "neutral_counted_negative": round(float(np.mean(sure_negative[calm])), 4) if calm.any() else None}


def fit_size_calibration(predict, x: np.ndarray, y: np.ndarray, temperature: float, top_label_map,
                         sides=SIZE_SIDES, jpeg=SIZE_JPEG, h264=SIZE_H264, seed: int = 0) -> dict:
    """The `size_calibration` section of a card: for each side of `sides`, a temperature and a
    top-label map fitted on val faces `x` (N, 48, 48) shrunk to it and compressed there at every
    JPEG quality of `jpeg` and every H.264 rate factor of `h264`, pooled; and the sharpness curve
    (the median sharpness of the faces shrunk to each side, uncompressed, 48 px included).
    `predict(faces)` gives the uncalibrated probabilities as served. Fitted on one seeded half of
    the faces (each face with all its codecs) and reported on the other, a row a side (48 px too:
    full-size faces through the codecs): the full-size calibration (`temperature`,
    `top_label_map`) for every face, the calibration by the face's side, and by the smaller of its
    side and the side its sharpness shows (as the observer serves). Then refitted on all."""
    x, y = np.asarray(x), np.asarray(y)
    order = np.random.default_rng(seed).permutation(len(y))
    fit, held = order[: len(y) // 2], order[len(y) // 2:]
    all_sides = sorted({int(s) for s in sides} | {FULL_SIDE}, reverse=True)
    probs, sharp = {}, {}
    for side in all_sides:
        faces = [shrink(x, side, q) for q in jpeg] + [shrink(x, side, h264=c) for c in h264]
        probs[side] = np.stack([np.asarray(predict(f), np.float64) for f in faces])  # (Q, N, K)
        sharp[side] = np.stack([sharpness(f) for f in faces])                        # (Q, N)
    plain = list(jpeg).index(0) if 0 in jpeg else 0
    codecs = len(jpeg) + len(h264)

    def curve(idx):
        """Sides (largest first) and their faces' median sharpness, made monotone (a larger side is
        never less sharp: two close medians, 16 and 20 px, can swap on a sample)."""
        med = np.array([np.median(sharp[s][plain, idx]) for s in all_sides])
        return all_sides, [float(v) for v in np.maximum.accumulate(med[::-1])[::-1]]

    k = len(EMOTIONS)

    def bands_on(idx):
        out = []
        for side in all_sides[1:]:
            p, yy = probs[side][:, idx].reshape(-1, k), np.tile(y[idx], codecs)
            t = fit_temperature(p, yy)
            out.append({"side": side, "temperature": round(t, 4), "top_label_map": fit_top_label_map(scale(p, t), yy)})
        return out

    half_bands, half_curve, rows = bands_on(fit), curve(fit), []
    for side in all_sides:
        ph, yh = probs[side][:, held].reshape(-1, k), np.tile(y[held], codecs)
        seen = np.minimum(side, side_from_sharpness(sharp[side][:, held].reshape(-1), *half_curve))
        figures = {"full_size": calibrated(ph, temperature, top_label_map),
                   "by_size": calibrate_by_size(ph, np.full(len(ph), side), temperature, top_label_map, half_bands),
                   "by_size_and_sharpness": calibrate_by_size(ph, seen, temperature, top_label_map, half_bands)}
        rows.append({"side": side, **{f"{name}_{how}": v for how, p in figures.items()
                                      for name, v in _size_figures(p, yh).items()}})
    sides_all, med_all = curve(order)
    return {"method": "for each face side: val shrunk to it (area), JPEG at each quality (0: none) and H.264 at "
                      "each rate factor (7x7 faces a frame) there, enlarged back, all pooled; temperature (NLL), then a beta map of the top probability for each "
                      "predicted class; between sides the answers mix by log side; a face's side is the smaller of "
                      "its pixels and the side its sharpness shows",
            "jpeg": [int(q) for q in jpeg], "h264": [int(c) for c in h264], "seed": seed, "fit_faces": int(len(fit)),
            "held_out_faces": int(len(held)), "bands": bands_on(order),
            "sharpness": {"sides": sides_all, "median": [round(v, 4) for v in med_all]}, "held_out": rows}


def set_size_calibration(card, clf: EmotionClassifier, x: np.ndarray, y: np.ndarray, batch_size: int = 512) -> dict:
    """Fit the calibration by size for `clf` as it serves (its views, uncalibrated) and put it in
    `card` (the full-size calibration must be fitted first). Returns the section."""
    report = fit_size_calibration(lambda f: clf.predict(f, calibrated=False, batch_size=batch_size), x, y,
                                  card.temperature, card.top_label_map or None)
    card.size_calibration = report
    return report


def size_summary(report: dict) -> str:
    """One line for a `fit_size_calibration` report: each side's held-out ECE, calm faces counted
    negative and faces counted, full-size calibration -> as the observer serves."""
    parts = [f"{r['side']} px ECE {r['ece_full_size']} -> {r['ece_by_size_and_sharpness']}, calm faces counted "
             f"negative {r['neutral_counted_negative_full_size']:.1%} -> "
             f"{r['neutral_counted_negative_by_size_and_sharpness']:.1%}, counted {r['counted_full_size']:.1%} -> "
             f"{r['counted_by_size_and_sharpness']:.1%}"
             for r in report.get("held_out") or []]
    codecs = "JPEG " + "/".join(map(str, report.get("jpeg") or []))
    if report.get("h264"):
        codecs += ", H.264 " + "/".join(map(str, report["h264"]))
    return f"by size (held-out half, {codecs}): " + "; ".join(parts)


def summary(report: dict) -> str:
    """One line for a `calibrate` report."""
    h = report["held_out"]
    line = (f"temperature {report['temperature']} (held-out half of {report['held_out_faces']} faces: ECE "
            f"{h['ece_before']} -> {h['ece_after']}, NLL {h['nll_before']} -> {h['nll_after']}; with the "
            f"top-label map ECE {h['ece_after_map']}, NLL {h['nll_after_map']}")
    floor = report.get("held_out_ece_floor")
    return line + (f"; perfectly calibrated faces would show an ECE of {floor['median']} on that half)"
                   if floor else ")")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.calibrate",
                                 description="Refit a model card's calibration (temperature, then the "
                                             "top-label map, then both for each face size) on FER2013 val, "
                                             "as the model serves.")
    ap.add_argument("weights", help="a .keras file with a card beside it")
    ap.add_argument("--data", help="FER2013 npz/csv/folder with a val split (default: $CLASSMOOD_FER2013 or "
                                   "../shared/data/fer2013/fer2013_original_trainval.npz)")
    ap.add_argument("--full-size-only", action="store_true",
                    help="fit no calibration by face size (every face takes the full-size one)")
    args = ap.parse_args(argv)
    weights = Path(args.weights)
    try:
        x, y, _ = load_val(args.data, "calibrating")
        card = ModelCard.read(weights) if weights.is_file() else None
        if card is None:
            raise ModelLoadError(weights, "no such weights file with a model card beside it")
        clf = EmotionClassifier.load(weights)
        report = set_calibration(card, clf.predict(x, calibrated=False, batch_size=256), y)
        sizes = set_size_calibration(card, clf, x, y) if not args.full_size_only else None
        if sizes is None:
            card.size_calibration = {}
        card.write(weights)
    except (DatasetError, ModelLoadError, OSError, ValueError) as e:
        print(f"calibrate: {e}", file=sys.stderr)
        return 2
    print(f"{weights.name} as served ({clf.backend}, {clf.views} view(s)): {summary(report)}")
    if sizes is not None:
        print(size_summary(sizes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
