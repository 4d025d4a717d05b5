"""Train the mask check (`model.mask`): is the lower half of a face behind a mask?

The expression model learnt from FER2013, whose faces show their mouths; a face behind a surgical
or cloth mask reads as its eyes suggest, often sad or fear. The observer therefore shows such a face
but never counts it in the class mood. This trains the small network that finds them:

    python -m training.mask --masked ../Face-Mask-Detection/dataset/with_mask \\
        --unmasked ../Face-Mask-Detection/dataset/without_mask --out runs/mask --publish

- *Faces*: each image's largest face found by our detector (`model.detector`, on the image padded
  by a quarter of its side, so that a tight crop still shows a whole head), cropped as the observer
  crops a face in a meeting (`model.crop.crop_faces`, 48x48 gray); images with no face are counted
  and skipped (`--faces as-is` takes every image whole, as face crops). FER2013's training faces
  (`--fer`, default `$CLASSMOOD_FER2013` or `../shared`) join the unmasked ones: many more people,
  ages, lights and hands, and the framing the expression model was trained on.
- *Split*: a seeded 20% of the masked and unmasked images is held out for selection (`--val`).
- *Training*: a depthwise-separable CNN of about 1.8 M multiply-adds a face (`make_mask_model`),
  faces augmented in numpy as the expression model's are (`training.augment`: flip, rotation,
  scale, shift; then, on `--meeting` of them, what a video call does: the detector's framing,
  light, size, blur, JPEG or H.264), a cosine schedule, binary cross-entropy.
- *Threshold*: the lowest on a grid whose held-out unmasked faces (the split's and FER2013 val's,
  pooled; as they are and through a call) are flagged at most `--max-false` of the time, so that
  few students lose their reading to the check.
- *Serving*: a float32 LiteRT file beside a JSON card (threshold, held-out figures, sha256,
  multiply-adds, the exact command); `--publish` copies both into `model/weights`.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib.util
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from model.card import sha256_bytes
from model.crop import crop_faces
from model.detector import FaceDetector
from model.emotions import INPUT_SIZE
from model.mask import CARD_NAME, MASK_FILE, WEIGHTS_DIR
from model.network import custom_objects, multiply_adds
from training.augment import AugmentConfig, augment_batch, meeting_batch
from training.data import DatasetError, default_fer2013_path, load_npz
from training.litert import convert

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
DETECT_SIDE = 640
THRESHOLDS = np.round(np.arange(0.5, 0.99, 0.02), 2)
CHUNK = 128
NO_ERASE = AugmentConfig(erase=0.0)  # an erased patch over a mouth would teach a mask that is not there


def read_faces(folder: Path, faces: str = "detect", counts: dict | None = None) -> np.ndarray:
    """uint8 (N, 48, 48) faces of the images under `folder` (see the module's doc)."""
    import cv2

    if not Path(folder).is_dir():
        raise DatasetError(f"{folder}: no such folder")
    files = sorted(f for f in Path(folder).rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DatasetError(f"{folder}: no images")
    counts = counts if counts is not None else {}
    out = []
    detector = FaceDetector(min_confidence=0.5) if faces == "detect" else None
    try:
        for f in files:
            img = cv2.imread(str(f))
            if img is None or img.size == 0:
                counts["unreadable"] = counts.get("unreadable", 0) + 1
                continue
            if detector is None:
                out.append(cv2.resize(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), (INPUT_SIZE, INPUT_SIZE),
                                      interpolation=cv2.INTER_AREA))
                continue
            s = min(1.0, DETECT_SIDE / max(img.shape[:2]))
            if s < 1:
                img = cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
            pad = max(img.shape[:2]) // 4
            img = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
            found = detector.detect(img)
            if not found:
                counts["no_face"] = counts.get("no_face", 0) + 1
                continue
            face = max(found, key=lambda d: d.box[2] * d.box[3])
            out.append(crop_faces(img, [face.box])[0])
    finally:
        if detector is not None:
            detector.close()
    counts["faces"] = counts.get("faces", 0) + len(out)
    if not out:
        raise DatasetError(f"{folder}: no face found in {len(files)} images")
    return np.stack(out)


def make_mask_model(seed: int = 0):
    """Per-face standardisation (as the expression model's), a 3x3 convolution, four depthwise-
    separable stages (32, 64, 64, 128 channels; 24, 12, 12, 6 px), global average pooling and one
    sigmoid: about 19 k parameters and 1.8 M multiply-adds a face."""
    import keras
    from keras import layers

    init = keras.initializers.HeNormal(seed=seed)
    inputs = keras.Input((INPUT_SIZE, INPUT_SIZE, 1), name="pixels")
    x = custom_objects()["classmood>PerImageStandardize"](name="standardize")(inputs)
    x = layers.Conv2D(16, 3, strides=2, padding="same", use_bias=False, kernel_initializer=init)(x)
    x = layers.ReLU()(layers.BatchNormalization()(x))
    for channels, stride in ((32, 1), (64, 2), (64, 1), (128, 2)):
        x = layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False)(x)
        x = layers.ReLU()(layers.BatchNormalization()(x))
        x = layers.Conv2D(channels, 1, use_bias=False, kernel_initializer=init)(x)
        x = layers.ReLU()(layers.BatchNormalization()(x))
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(1, activation="sigmoid", name="masked")(x), name="mask_check")


def degrade(x: np.ndarray, rng: np.random.Generator, meeting: float, codec: bool = True) -> np.ndarray:
    """An augmented float32 copy of uint8 faces `x`: warped, then on `meeting` of them through a call
    (in batches of `CHUNK`, as training batches go: one H.264 mosaic a batch)."""
    out = augment_batch(x, rng, NO_ERASE)
    if meeting > 0:
        for i in range(0, len(out), CHUNK):
            out[i:i + CHUNK] = meeting_batch(out[i:i + CHUNK], rng, meeting, h264=codec)
    return out


def flagged(p: np.ndarray, threshold: float) -> float:
    return float((p >= threshold).mean()) if len(p) else 0.0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.mask", description=__doc__.split("\n")[0])
    ap.add_argument("--masked", required=True, help="folder of images of people wearing masks")
    ap.add_argument("--unmasked", required=True, help="folder of images of people without masks")
    ap.add_argument("--fer", help="FER2013 npz whose training faces join the unmasked ones "
                                  "(default: $CLASSMOOD_FER2013 or ../shared; 'none': without)")
    ap.add_argument("--fer-faces", type=int, default=6000, help="how many FER2013 training faces (default 6000)")
    ap.add_argument("--faces", choices=("detect", "as-is"), default="detect",
                    help="detect: each image's largest face, cropped as in a meeting; as-is: images are face crops")
    ap.add_argument("--out", default="runs/mask")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--meeting", type=float, default=0.6, help="share of faces put through a video call")
    ap.add_argument("--val", type=float, default=0.2, help="share of the images held out for selection")
    ap.add_argument("--max-false", type=float, default=0.01,
                    help="the threshold flags at most this share of held-out unmasked faces")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--publish", action="store_true", help="copy the LiteRT file and card into model/weights")
    argv = list(sys.argv[1:] if argv is None else argv)
    args = ap.parse_args(argv)
    if not 0 < args.val < 1 or not 0 <= args.meeting <= 1 or not 0 < args.max_false < 1 or args.epochs < 1:
        ap.error("--val and --max-false must be in (0, 1), --meeting in [0, 1], --epochs at least 1")
    try:
        codec = importlib.util.find_spec("av") is not None  # H.264 in the call's codec step, where PyAV is
        counts: dict[str, dict] = {"masked": {}, "unmasked": {}}
        pos = read_faces(Path(args.masked), args.faces, counts["masked"])
        neg = read_faces(Path(args.unmasked), args.faces, counts["unmasked"])
        fer_path = None if args.fer == "none" else Path(args.fer) if args.fer else default_fer2013_path()
        fer_train = fer_val = np.zeros((0, INPUT_SIZE, INPUT_SIZE), np.uint8)
        if fer_path is not None:
            splits = load_npz(fer_path)
            rng0 = np.random.default_rng(args.seed)
            xt = splits["train"][0]
            fer_train = xt[rng0.choice(len(xt), min(args.fer_faces, len(xt)), replace=False)]
            fer_val = splits["val"][0] if "val" in splits else fer_val
    except DatasetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    command = "python -m training.mask " + " ".join(argv)
    return train(args, pos, neg, fer_train, fer_val, fer_path, counts, codec, command)


def train(args, pos, neg, fer_train, fer_val, fer_path, counts, codec: bool, command: str) -> int:
    import keras

    rng = np.random.default_rng(args.seed)
    keras.utils.set_random_seed(args.seed)

    def split(x):
        i = rng.permutation(len(x))
        k = max(1, int(round(args.val * len(x))))
        return x[i[k:]], x[i[:k]]

    pos_tr, pos_va = split(pos)
    neg_tr, neg_va = split(neg)
    x = np.concatenate([pos_tr, neg_tr, fer_train])
    y = np.concatenate([np.ones(len(pos_tr)), np.zeros(len(neg_tr) + len(fer_train))]).astype(np.float32)
    # held out: as they are, and through a call (seeded, the same for every epoch)
    vrng = np.random.default_rng(args.seed + 1)
    held = {"masked": pos_va, "unmasked": neg_va, "fer_val": fer_val}
    views = {k: (v.astype(np.float32), degrade(v, vrng, 1.0, codec) if len(v) else v.astype(np.float32))
             for k, v in held.items()}
    model = make_mask_model(args.seed)
    model.compile(keras.optimizers.AdamW(args.lr, weight_decay=1e-4), "binary_crossentropy")
    weight = len(y) / (2 * max(1.0, y.sum()))  # the masked faces weigh as much as all unmasked together
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    history = []
    for epoch in range(args.epochs):
        t = time.time()
        model.optimizer.learning_rate.assign(args.lr * 0.5 * (1 + np.cos(np.pi * epoch / args.epochs)))
        xb = degrade(x, rng, args.meeting, codec)[..., None]
        fit = model.fit(xb, y, batch_size=args.batch_size, epochs=1, verbose=0, shuffle=True,
                        class_weight={0: 1.0, 1: weight})
        history.append({"epoch": epoch + 1, "loss": round(float(fit.history["loss"][-1]), 4),
                        "seconds": round(time.time() - t, 1)})
        print(f"epoch {epoch + 1}/{args.epochs}: loss {history[-1]['loss']:.4f} ({history[-1]['seconds']:.0f} s)",
              flush=True)
    scores = {k: [model.predict(v[..., None], verbose=0, batch_size=256)[:, 0] if len(v) else np.zeros(0)
                  for v in pair] for k, pair in views.items()}
    # the lowest threshold that keeps held-out unmasked faces (the split's and FER2013 val's, pooled:
    # the split's few hundred carry some label noise, a mask or a cup among them), as they are and
    # through a call, flagged at most --max-false of the time
    pooled = [np.concatenate([scores[k][view] for k in ("unmasked", "fer_val")]) for view in (0, 1)]
    threshold = next((float(t) for t in THRESHOLDS if all(flagged(p, t) <= args.max_false for p in pooled)),
                     float(THRESHOLDS[-1]))
    report = {k: {"faces": int(len(held[k])), "flagged": round(flagged(scores[k][0], threshold), 4),
                  "flagged_through_a_call": round(flagged(scores[k][1], threshold), 4)}
              for k in held if len(held[k])}
    report["unmasked_pooled"] = {"faces": int(len(pooled[0])), "flagged": round(flagged(pooled[0], threshold), 4),
                                 "flagged_through_a_call": round(flagged(pooled[1], threshold), 4)}
    model.save(out / "mask_check.keras")
    convert(out / "mask_check.keras", out / MASK_FILE, quantize=False)
    content = (out / MASK_FILE).read_bytes()
    card = {
        "name": "mask_check", "file": MASK_FILE, "sha256": sha256_bytes(content), "bytes": len(content),
        "input": "uint8 gray faces (N, 48, 48, 1), cropped by model.crop.crop_faces; standardised in the graph",
        "output": "probability that the lower face is behind a mask",
        "threshold": threshold, "multiply_adds": int(multiply_adds(model)),
        "data": {"masked": str(args.masked), "unmasked": str(args.unmasked),
                 "fer2013": fer_path.name if fer_path else None,
                 "fer2013_train_faces": int(len(fer_train)), "faces": counts, "held_out_share": args.val},
        "recipe": {k: getattr(args, k) for k in ("epochs", "batch_size", "lr", "meeting", "max_false", "seed")},
        "held_out": report, "history": history,
        "command": command,
        "date": _dt.date.today().isoformat(),
    }
    (out / CARD_NAME).write_text(json.dumps(card, indent=1) + "\n")
    print(f"threshold {threshold:.2f}; held out: " + "; ".join(
        f"{k} {v['faces']} faces, flagged {v['flagged']:.1%} (through a call {v['flagged_through_a_call']:.1%})"
        for k, v in report.items()))
    print(f"{card['multiply_adds'] / 1e6:.2f} M multiply-adds a face; wrote {out / MASK_FILE} and {out / CARD_NAME}")
    if args.publish:
        for name in (MASK_FILE, CARD_NAME):
            shutil.copyfile(out / name, WEIGHTS_DIR / name)
        print(f"published into {WEIGHTS_DIR}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
