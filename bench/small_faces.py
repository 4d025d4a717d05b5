"""Faces of a few pixels, as small gallery tiles give them (a 7x7 gallery on a laptop screen or in a
720p recording): FER2013 val shrunk to a side of S pixels (area averaging) and enlarged back to 48 as
the classifier enlarges a small crop, and also compressed at that size as a video call's codec does
(JPEG at quality Q, or H.264 at constant rate factor CRF with 49 faces a frame as a 7x7 gallery's
stream; 0: not compressed). For each S and codec, models side by side: accuracy, the share
read as sad, neutral and happy, the class mood a calm class (neutral-labelled faces) reads, and the
share of neutral-labelled faces read angry, disgust, fear or sad (argmax, and confidently: at a
calibrated top score of `bot.mood.CONFIDENT`, where the mood counts them), the share of all faces
the mood counts, and the expected calibration error. Each model is calibrated two ways side by side:
"size", as the observer serves a gallery face (the card's calibration by size, told the face's side
S), and "full", the full-size calibration for every face (as served before size bands). The size
bands are fitted on val itself: their held-out figures are in the card (`size_calibration`). Needs
FER2013.

    python bench/small_faces.py [--models A.keras B.keras ...] [--sides 48,32,24,20,16] [--jpeg 0,30] [--h264 38]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from training.augment import shrink  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="*", default=[], help=".keras files with cards (default: the bundled one)")
    ap.add_argument("--sides", default="48,32,24,20,16")
    ap.add_argument("--jpeg", default="0,30", help="JPEG qualities at the small size (0: not compressed)")
    ap.add_argument("--h264", default="", help="H.264 constant rate factors at the small size, each its own "
                                               "rows (libx264, 7x7 faces a frame; 28: a good stream, 44: a poor one)")
    ap.add_argument("--data", help="FER2013 with a val split (default: $CLASSMOOD_FER2013 or ../shared/data/fer2013)")
    args = ap.parse_args()

    def ints(text: str, name: str, low: int, high: int) -> list[int]:
        try:
            values = [int(v) for v in text.split(",") if v.strip()]
        except ValueError:
            ap.error(f"--{name}: comma-separated whole numbers, not {text!r}")
        if any(not low <= v <= high for v in values):
            ap.error(f"--{name}: each value within {low}-{high}, not {text!r}")
        return values

    sides_px = ints(args.sides, "sides", 4, 48) or ap.error("--sides: at least one side")
    codecs = [("Q", q) for q in ints(args.jpeg, "jpeg", 0, 100)] + [("CRF", c) for c in ints(args.h264, "h264", 0, 51)]
    if not codecs:
        ap.error("--jpeg/--h264: at least one setting (--jpeg 0: uncompressed)")
    from bot.mood import CONFIDENT, NEG_IDX, valence_of
    from model import EMOTIONS, EmotionClassifier
    from training.calibrate import ece
    from training.data import DatasetError, load_val

    try:
        x, y, _ = load_val(args.data, "the small-faces bench")
    except DatasetError as e:
        print(e)
        return 2
    sad, neutral, happy = (EMOTIONS.index(e) for e in ("sad", "neutral", "happy"))
    models = [EmotionClassifier.load(m) for m in args.models] or [EmotionClassifier.load()]
    print(f"FER2013 val, {len(y)} faces shrunk to S px (compressed there: JPEG at quality Q, or H.264 at CRF; "
          "0: none) and enlarged back; "
          "as served (calibrated, card's views); calm: mean valence of neutral-labelled faces; neutral->neg: "
          f"neutral-labelled faces read angry, disgust, fear or sad (argmax / at a top score >= {CONFIDENT}); "
          "counted: faces the mood counts")
    print(f"{'model':<40} {'cal':>4} {'S':>3} {'codec':>6} {'accuracy':>9} {'sad':>6} {'neutral':>8} {'happy':>6} "
          f"{'happy recall':>13} {'calm':>6} {'neutral->neg':>13} {'confidently':>12} {'counted':>8} {'ECE':>6}")
    calm = y == neutral
    for side in sides_px:
        for codec, q in codecs:
            xs = shrink(x, side, q) if codec == "Q" else shrink(x, side, h264=q)
            label = f"{codec}{q}" if q else "-"
            for clf in models:
                for how, sides in (("size", [side] * len(xs)), ("full", None)):
                    if how == "size" and not clf.size_bands:
                        continue
                    p = clf.predict(xs, sides=sides, batch_size=512)
                    pred, top = p.argmax(1), p.max(1)
                    neg = np.isin(pred, NEG_IDX)
                    print(f"{clf.path.name:<40} {how:>4} {side:>3} {label:>6} {np.mean(pred == y):>9.1%} "
                          f"{np.mean(pred == sad):>6.1%} {np.mean(pred == neutral):>8.1%} {np.mean(pred == happy):>6.1%} "
                          f"{np.mean(pred[y == happy] == happy):>13.1%} {valence_of(p[calm]).mean():>+6.2f} "
                          f"{np.mean(neg[calm]):>13.1%} {np.mean(neg[calm] & (top[calm] >= CONFIDENT)):>12.1%} "
                          f"{np.mean(top >= CONFIDENT):>8.1%} {ece(p, y):>6.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
