"""Faces of a few pixels, as small gallery tiles give them (a 7x7 gallery on a laptop screen or in a
720p recording): FER2013 val shrunk to a side of S pixels (area averaging) and enlarged back to 48 as
the classifier enlarges a small crop; accuracy, the share read as sad, neutral and happy, and the
class mood a calm class (neutral-labelled faces) reads, for each S, models side by side. Needs FER2013.

    python bench/small_faces.py [--models A.keras B.keras ...] [--sides 48,32,24,20,16]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402


def shrunk(x: np.ndarray, side: int) -> np.ndarray:
    """Faces (N, 48, 48) uint8 shrunk to `side` pixels and enlarged back."""
    import cv2

    if side >= x.shape[1]:
        return x
    return np.stack([cv2.resize(cv2.resize(f, (side, side), interpolation=cv2.INTER_AREA), x.shape[1:][::-1],
                                interpolation=cv2.INTER_LINEAR) for f in x])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="*", default=[], help=".keras files with cards (default: the bundled one)")
    ap.add_argument("--sides", default="48,32,24,20,16")
    ap.add_argument("--data", help="FER2013 with a val split (default: $CLASSMOOD_FER2013 or ../shared/data/fer2013)")
    args = ap.parse_args()
    from bot.mood import valence_of
    from model import EMOTIONS, EmotionClassifier
    from training.data import DatasetError, load_val

    try:
        x, y, _ = load_val(args.data, "the small-faces bench")
    except DatasetError as e:
        print(e)
        return 2
    sad, neutral, happy = (EMOTIONS.index(e) for e in ("sad", "neutral", "happy"))
    models = [EmotionClassifier.load(m) for m in args.models] or [EmotionClassifier.load()]
    print(f"FER2013 val, {len(y)} faces shrunk to S px and enlarged back; as served (calibrated, card's views); "
          "calm: mean valence of neutral-labelled faces")
    print(f"{'model':<40} {'S':>3} {'accuracy':>9} {'sad':>6} {'neutral':>8} {'happy':>6} {'happy recall':>13} {'calm':>6}")
    for side in (int(s) for s in args.sides.split(",")):
        xs = shrunk(x, side)
        for clf in models:
            p = np.concatenate([clf.predict(xs[i:i + 512]) for i in range(0, len(xs), 512)])
            pred = p.argmax(1)
            print(f"{clf.path.name:<40} {side:>3} {np.mean(pred == y):>9.1%} {np.mean(pred == sad):>6.1%} "
                  f"{np.mean(pred == neutral):>8.1%} {np.mean(pred == happy):>6.1%} "
                  f"{np.mean(pred[y == happy] == happy):>13.1%} {valence_of(p[y == neutral]).mean():>+6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
