"""Probe cheap ways to serve a trained model better, on FER2013 val only, without training.

    python -m training.probe MODEL.keras [--others M2.keras ...] [--data NPZ] [--splits 5]

Prints, each measured on the whole val split and on random halves of it (a gain that only one half
shows is noise):
- the served four test-time views, and 20 views (shifts, small rotations and zooms, mirrored);
- views added greedily by val accuracy, one to eight;
- the served model averaged with each of `--others` (weights 0.3, 0.5, 1);
- per-class score biases fitted on one half and scored on the other.
"""

from __future__ import annotations

import argparse
import os

import numpy as np

from model import contrast
from model.card import ModelCard
from model.network import load_keras
from training.data import default_fer2013_path, load_npz

SHIFTS = {"as is": {}, "zoom 1.08": dict(zoom=1.08), "zoom 1.16": dict(zoom=1.16), "zoom 0.95": dict(zoom=0.95),
          "rotate +6": dict(angle=6), "rotate -6": dict(angle=-6), "right 2": dict(dx=2), "left 2": dict(dx=-2),
          "down 2": dict(dy=2), "up 2": dict(dy=-2)}
SERVED = ("as is", "as is, mirrored", "zoom 1.08", "zoom 1.08, mirrored")


def views(x: np.ndarray) -> dict[str, np.ndarray]:
    """20 views of uint8 faces (N, 48, 48): each of `SHIFTS`, as is and mirrored."""
    import cv2

    out = {}
    c = (x.shape[1] - 1) / 2
    for name, kw in SHIFTS.items():
        m = cv2.getRotationMatrix2D((c, c), kw.get("angle", 0.0), kw.get("zoom", 1.0))
        m[:, 2] += (kw.get("dx", 0), kw.get("dy", 0))
        v = np.stack([cv2.warpAffine(f, m, x.shape[1:], flags=cv2.INTER_LINEAR,
                                     borderMode=cv2.BORDER_REFLECT_101) for f in x])
        out[name], out[name + ", mirrored"] = v, v[:, :, ::-1]
    return out


def probabilities(path: str, faces: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    card = ModelCard.read(path) or ModelCard()
    model = load_keras(path)
    return {k: model.predict(contrast.apply(v, card.contrast)[..., None], batch_size=512, verbose=0)
            for k, v in faces.items()}


def report(name: str, p: np.ndarray, y: np.ndarray, halves) -> None:
    acc = [(p[h].argmax(1) == y[h]).mean() for h in halves]
    print(f"  {name:<44} {(p.argmax(1) == y).mean():.2%}   halves {acc[0]:.2%} / {acc[1]:.2%}")


def fit_biases(logp: np.ndarray, y: np.ndarray, rounds: int = 3) -> np.ndarray:
    """Per-class additive biases on log-probabilities, by coordinate search for accuracy."""
    b = np.zeros(logp.shape[1])
    for _ in range(rounds):
        for c in range(len(b)):
            scores = []
            for v in np.linspace(-1, 1, 41):
                b[c] = v
                scores.append(((logp + b).argmax(1) == y).mean())
            b[c] = np.linspace(-1, 1, 41)[int(np.argmax(scores))]
    return b


def main(argv=None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    ap = argparse.ArgumentParser(prog="python -m training.probe", description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("--others", nargs="*", default=[], help="other .keras models to average with")
    ap.add_argument("--data", help="FER2013 npz (default: $CLASSMOOD_FER2013 or ../shared/data/fer2013)")
    ap.add_argument("--splits", type=int, default=5, help="random halvings of val for the bias check")
    args = ap.parse_args(argv)

    path = args.data or default_fer2013_path()
    if path is None:
        ap.error("FER2013 not found: pass --data or set CLASSMOOD_FER2013")
    x, y = load_npz(path)["val"]
    faces = views(x)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(y))
    halves = (order[: len(y) // 2], order[len(y) // 2:])
    probs = probabilities(args.model, faces)
    mean = lambda names, p=probs: sum(p[n] for n in names) / len(names)  # noqa: E731
    print(f"{args.model} on {len(y):,} val faces")
    report("served: four views", mean(SERVED), y, halves)
    report("all 20 views", mean(list(probs)), y, halves)
    chosen: list[str] = []
    for _ in range(8):
        best = max((n for n in probs if n not in chosen),
                   key=lambda n: (mean(chosen + [n]).argmax(1) == y).mean())
        chosen.append(best)
        report(f"greedy {len(chosen)}: + {best}", mean(chosen), y, halves)
    for other in args.others:
        po = probabilities(other, {n: faces[n] for n in SERVED})
        for w in (0.3, 0.5, 1.0):
            label = os.path.join(os.path.basename(os.path.dirname(other)), os.path.basename(other))
            report(f"+ {w:g} x {label}", mean(SERVED) + w * mean(SERVED, po), y, halves)
    logp = np.log(mean(SERVED) + 1e-9)
    for s in range(args.splits):
        perm = np.random.default_rng(s).permutation(len(y))
        a, b = perm[: len(y) // 2], perm[len(y) // 2:]
        for fit, test in ((a, b), (b, a)):
            bias = fit_biases(logp[fit], y[fit])
            before = (logp[test].argmax(1) == y[test]).mean()
            after = ((logp[test] + bias).argmax(1) == y[test]).mean()
            print(f"  biases fitted on one half (split {s}): other half {before:.2%} -> {after:.2%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
