"""The class mood of real meeting screenshots, models side by side (no labels: the shared ones,
`../shared/data/galleries` and `galleries2`, show calm classes by eye, so none should read
"negative"). Each screenshot goes through the analyser as the bot's frames do; for each model: the
participants' faces, their median box side, the class valence and mood (`bot.mood`), the faces read
angry, disgust, fear or sad at a calibrated top score of `bot.mood.CONFIDENT` (where the mood counts
them), the faces the mood counts, and those found partly covered (`bot.occlusion`: behind a window or
label, or cut by their tile's edge; never counted), and those behind a mask (`model.mask`; never
counted either). Then, per model, how many screenshots read "negative".
`--scales 1,0.5` reads each screenshot again shrunk (area averaging): the same people as a smaller
screen or a larger gallery shows them, their faces a few pixels across.

    python bench/real_mood.py [--models A.keras B.keras ...] [--dirs DIR ...] [--scales 1,0.5] [--compare-covered]
                              [--compare-masks]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared/data"
PICTURES = (".png", ".jpg", ".jpeg")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="*", default=[], help=".keras files with cards (default: the bundled one)")
    ap.add_argument("--dirs", nargs="*", default=[str(SHARED / "galleries"), str(SHARED / "galleries2")],
                    help="folders of screenshots (default: the shared real ones)")
    ap.add_argument("--scales", default="1", help="comma-separated scales each screenshot is read at (default: 1)")
    ap.add_argument("--compare-covered", action="store_true",
                    help="also read with each model without the covered-face check, side by side")
    ap.add_argument("--compare-masks", action="store_true",
                    help="also read with each model without the mask check, side by side")
    args = ap.parse_args()
    try:
        scales = [float(v) for v in args.scales.split(",")]
        if not all(0 < v <= 4 for v in scales):
            raise ValueError
    except ValueError:
        print(f"--scales: expected numbers above 0 and at most 4, separated by commas, not {args.scales!r}")
        return 2
    import cv2

    from bot.analyzer import AnalyzerOptions, GalleryAnalyzer
    from bot.mood import CONFIDENT, NEG_IDX, mood_of, valence_of
    from model import EmotionClassifier
    from model.errors import ModelLoadError

    shots = sorted(p for d in args.dirs for p in Path(d).glob("*") if p.suffix.lower() in PICTURES)
    if not shots:
        print(f"no screenshots in {', '.join(args.dirs)}")
        return 2
    try:
        models = [EmotionClassifier.load(m) for m in args.models] or [EmotionClassifier.load()]
    except ModelLoadError as e:
        print(e)
        return 2
    names = [f"{c.path.parent.name}/{c.path.name}" if c.path.name == "best.keras" else c.path.name for c in models]
    analysers = [GalleryAnalyzer(classifier=clf) for clf in models]
    base, base_names = list(models), list(names)
    if args.compare_covered:
        names += [f"{n} without the covered check" for n in names]
        analysers += [GalleryAnalyzer(AnalyzerOptions(covered_check=False), classifier=clf) for clf in models]
        models = models + models
    if args.compare_masks:
        names += [f"{n} without the mask check" for n in base_names]
        analysers += [GalleryAnalyzer(AnalyzerOptions(mask_check=False), classifier=clf) for clf in base]
        models = models + base
    print(f"{len(shots)} real screenshots through the analyser; per model: participants' faces (median box side), "
          f"valence, mood, faces read negative at a top score >= {CONFIDENT}, faces counted")
    for scale in scales:
        negative, neg_faces, all_faces, counted, covered, masks = ([0] * len(models) for _ in range(6))
        for path in shots:
            image = cv2.imread(str(path))
            if image is None:
                print(f"{path.name}: not a picture")
                continue
            if scale != 1:
                image = cv2.resize(image, None, fx=scale, fy=scale,
                                   interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
            cells = []
            for k, (name, analyser) in enumerate(zip(names, analysers)):
                analyser.forget()
                faces = [f for f in analyser.analyze(image).faces if f.role == "participant"]
                if not faces:
                    cells.append(f"{name}: no faces")
                    continue
                scores = np.array([f.scores for f in faces])
                valence = float(valence_of(scores).mean())
                mood = mood_of(valence)
                negative[k] += mood == "negative"
                sure = scores.max(axis=1) >= CONFIDENT
                neg = int(np.sum(sure & np.isin(scores.argmax(axis=1), NEG_IDX)))
                neg_faces[k] += neg
                all_faces[k] += len(faces)
                counted[k] += int(sure.sum())
                hidden = sum(f.covered for f in faces)
                covered[k] += hidden
                masked = sum(f.masked for f in faces)
                masks[k] += masked
                side = int(np.median([f.box[2] for f in faces]))
                cells.append(f"{name}: {len(faces)} faces ({side} px) valence {valence:+.2f} {mood}, "
                             f"negative {neg}, counted {int(sure.sum())}, covered {hidden}, masked {masked}")
            print(f"{path.name} at {scale:g}x\n  " + "\n  ".join(cells))
        for name, n, neg, total, c, h, m in zip(names, negative, neg_faces, all_faces, counted, covered, masks):
            print(f"at {scale:g}x, {name}: {n} of {len(shots)} screenshots read \"negative\" [0]; {neg} of {total} "
                  f"faces read negative surely; {c} counted; {h} covered; {m} masked")
    return 0


if __name__ == "__main__":
    sys.exit(main())
