"""`classmood-evaluate`: score a model on a FER2013 split; print a table, write JSON and a PNG.

Writes `metrics.json` (accuracy, macro-F1, per-class precision/recall/F1/support, confusion matrix)
and `confusion.png` (row-normalised confusion matrix) into `--out`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from model import EMOTIONS, EmotionClassifier, ModelLoadError
from model.classifier import BACKENDS
from model.emotions import CONFIDENT
from training.calibrate import ece, nll
from training.data import (FACES, DatasetError, default_fer2013_path, ferplus_plurality, load_dataset,
                           load_votes, stratified_sample)
from training.metrics import classification_report


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="classmood-evaluate", description=__doc__.split("\n")[0])
    ap.add_argument("--model", help="a .keras file (default: the bundled weights)")
    ap.add_argument("--data", help="FER2013 npz, csv or image folder (default: $CLASSMOOD_FER2013 "
                                   "or ../shared/data/fer2013/fer2013_original_trainval.npz)")
    ap.add_argument("--split", choices=["train", "val", "test", "all"],
                    help="default: val where the data has it, else test, else its only split (an image "
                         "folder of class folders, such as another expression dataset)")
    ap.add_argument("--faces", choices=FACES, default="auto",
                    help="image folders: how an image becomes a face. as-is: the whole image (face crops, "
                         "FER2013's own); detect: its largest face, found and framed as the product frames "
                         "faces in a meeting; auto (default): detect only in images larger than 96 px whose "
                         "face is framed more loosely than FER2013's (photos: KDEF, JAFFE, CK+ frames)")
    ap.add_argument("--limit", type=int, default=0, help="a stratified, seeded sample of this many faces")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tta", action=argparse.BooleanOptionalAction, default=None,
                    help="average over the four test-time views (as is, mirrored, zoomed, both); "
                         "default: as served (the card's views)")
    ap.add_argument("--backend", choices=BACKENDS, default="auto",
                    help="what serves: the card's LiteRT form (litert), the .keras file on TensorFlow "
                         "(keras), or the LiteRT form where there is one (auto, as served)")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--out", default="runs/eval", help="folder for metrics.json and confusion.png")
    return ap.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        report = evaluate(args)
    except (DatasetError, ModelLoadError, ValueError) as e:
        print(f"classmood-evaluate: {e}", file=sys.stderr)
        return 2
    print(format_report(report))
    print(f"wrote {Path(args.out) / 'metrics.json'} and {Path(args.out) / 'confusion.png'}")
    return 0


def evaluate(args: argparse.Namespace) -> dict:
    data_path = Path(args.data) if args.data else default_fer2013_path()
    if data_path is None:
        raise DatasetError("no FER2013 data: pass --data or set CLASSMOOD_FER2013")
    framing: dict[str, int] = {}
    data = load_dataset(data_path, faces=args.faces, framing=framing)
    split = args.split or next((s for s in ("val", "test") if s in data), None) or \
        (next(iter(data)) if len(data) == 1 else None)
    if split not in data:
        raise DatasetError(f"{data_path}: no {split or 'val'!r} split (has {', '.join(data)}): pass --split")
    x, y = data[split]
    if args.limit:
        idx = stratified_sample(y, args.limit, seed=args.seed)
        x, y = x[idx], y[idx]
    else:
        idx = None
    clf = EmotionClassifier.load(args.model, backend=args.backend)
    tta = clf.tta if args.tta is None else args.tta
    probs = np.concatenate([clf.predict(x[i:i + args.batch_size], tta=tta)
                            for i in range(0, len(x), args.batch_size)] or [np.zeros((0, 7), np.float32)])
    report = classification_report(y, probs)
    if len(y):  # of the probabilities as served (calibrated): how far to trust a face's top score
        report.update(ece=round(ece(probs, y), 4), nll=round(nll(probs, y), 4))
    votes = load_votes(data_path).get(split)
    if votes is not None:
        votes = votes[idx] if args.limit else votes
        label, ok = ferplus_plurality(votes, y)
        report["ferplus_plurality_agreement"] = round(float((probs.argmax(1)[ok] == label[ok]).mean()), 4)
    report.update(model=str(clf.path), backend=clf.backend, data=str(data_path), split=split, tta=tta,
                  limit=args.limit or None, seed=args.seed)
    if data_path.is_dir():  # how the folder's images became faces (all splits)
        report["faces"] = dict(mode=args.faces, **framing)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(report, indent=2) + "\n")
    write_confusion_png(np.asarray(report["confusion_matrix"]), out / "confusion.png")
    return report


def format_report(r: dict) -> str:
    served = f"  ({r['backend']}{', TTA' if r.get('tta') else ', one view'})" if "backend" in r else ""
    plural = (f"  FER+ plurality agreement {r['ferplus_plurality_agreement']:.4f}"
              if "ferplus_plurality_agreement" in r else "")
    calib = f"  ECE {r['ece']:.4f}  NLL {r['nll']:.4f}" if "ece" in r else ""
    lines = [f"{r['split']} n={r['n']}  accuracy {r['accuracy']:.4f}  macro-F1 {r['macro_f1']:.4f}{served}{plural}"
             f"{calib}",
             f"{'class':<10}{'precision':>10}{'recall':>8}{'f1':>8}{'support':>9}"]
    for name, m in r["per_class"].items():
        lines.append(f"{name:<10}{m['precision']:>10.3f}{m['recall']:>8.3f}{m['f1']:>8.3f}{m['support']:>9d}")
    if r.get("neutral_read_negative") is not None:
        lines.append(f"neutral-labelled faces read angry, disgust, fear or sad: {r['neutral_read_negative']:.1%} "
                     f"(at a top score of {CONFIDENT} or more, where the class mood counts them: "
                     f"{r['neutral_read_negative_confidently']:.1%})")
    if "faces" in r:
        f = r["faces"]
        lines.append(f"faces ({f['mode']}): {f['cropped']} cropped from detections, {f['as_is']} images taken "
                     f"whole, {f['no_face']} of them looked at and showed no face")
    return "\n".join(lines)


def write_confusion_png(cm: np.ndarray, path: Path, cell: int = 72) -> None:
    """Row-normalised confusion matrix drawn with OpenCV (rows: true class, columns: predicted)."""
    import cv2

    n = len(EMOTIONS)
    margin_l, margin_t = 110, 70
    img = np.full((margin_t + n * cell + 40, margin_l + n * cell + 20, 3), 255, np.uint8)
    rows = cm.sum(axis=1, keepdims=True)
    frac = np.divide(cm, rows, out=np.zeros(cm.shape, float), where=rows > 0)
    font = cv2.FONT_HERSHEY_SIMPLEX
    for i in range(n):
        for j in range(n):
            x0, y0 = margin_l + j * cell, margin_t + i * cell
            shade = int(255 * (1 - frac[i, j]))
            cv2.rectangle(img, (x0, y0), (x0 + cell - 1, y0 + cell - 1), (255, shade, shade), -1)
            color = (255, 255, 255) if frac[i, j] > 0.5 else (0, 0, 0)
            cv2.putText(img, f"{frac[i, j]:.2f}", (x0 + 12, y0 + cell // 2 - 2), font, 0.5, color, 1, cv2.LINE_AA)
            cv2.putText(img, f"{cm[i, j]}", (x0 + 12, y0 + cell // 2 + 18), font, 0.4, color, 1, cv2.LINE_AA)
        cv2.putText(img, EMOTIONS[i], (8, margin_t + i * cell + cell // 2 + 5), font, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(img, EMOTIONS[i][:7], (margin_l + i * cell + 6, margin_t - 12), font, 0.45, (0, 0, 0), 1,
                    cv2.LINE_AA)
    cv2.putText(img, "true (rows) vs predicted (columns)", (margin_l, margin_t + n * cell + 28), font, 0.5,
                (0, 0, 0), 1, cv2.LINE_AA)
    if not cv2.imwrite(str(path), img):
        raise ValueError(f"{path}: could not write the PNG")


if __name__ == "__main__":
    raise SystemExit(main())
