"""Measure where our face detector's box sits inside FER2013's 48x48 framing.

    python -m training.fit_crop [--data NPZ] [--n 400]

Upscales seeded FER2013 val faces 4x, pads them, runs the detector, and prints the medians that
`model/crop.py` uses (crop side per box width / height, centre offset). Then checks the classifier on
crops re-made from the detections (`crop_faces`) against the original 48x48 faces.
"""

from __future__ import annotations

import argparse

import numpy as np

from model import EmotionClassifier
from model.crop import crop_faces
from model.detector import FaceDetector
from training.data import default_fer2013_path, load_npz, stratified_sample
from training.metrics import classification_report


def main(argv=None) -> int:
    import cv2

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=None)
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--upscale", type=int, default=4)
    args = ap.parse_args(argv)
    x, y = load_npz(args.data or default_fer2013_path())["val"]
    idx = stratified_sample(y, args.n, seed=0)
    det = FaceDetector(min_confidence=0.5)
    s = args.upscale
    rows, frames, boxes, kept = [], [], [], []
    for i in idx:
        up = cv2.resize(x[i], (48 * s, 48 * s), interpolation=cv2.INTER_CUBIC)
        pad = 24 * s
        canvas = cv2.copyMakeBorder(up, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        found = det.detect(canvas)
        if not found:
            continue
        d = max(found, key=lambda d: d.box[2] * d.box[3])
        bx, by, bw, bh = d.box
        rows.append(((bx - pad) / s, (by - pad) / s, bw / s, bh / s))
        frames.append(canvas)
        boxes.append(d.box)
        kept.append(i)
    a = np.array(rows)
    bw, bh = a[:, 2], a[:, 3]
    cx, cy = a[:, 0] + bw / 2, a[:, 1] + bh / 2
    print(f"detected {len(a)} of {len(idx)} upscaled FER2013 val faces")
    print(f"SIDE_PER_WIDTH  = {np.median(48 / bw):.3f}")
    print(f"SIDE_PER_HEIGHT = {np.median(48 / bh):.3f}")
    print(f"CENTER_DX       = {np.median((24 - cx) / bw):.3f}")
    print(f"CENTER_DY       = {np.median((24 - cy) / bh):.3f}")

    clf = EmotionClassifier.load()
    crops = np.stack([crop_faces(f, [b])[0] for f, b in zip(frames, boxes)])
    kept = np.array(kept)
    orig = classification_report(y[kept], clf.predict(x[kept]))["accuracy"]
    recrop = classification_report(y[kept], clf.predict(crops))["accuracy"]
    print(f"classifier accuracy on these faces: original 48x48 {orig:.4f}, "
          f"re-cropped from detector boxes {recrop:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
