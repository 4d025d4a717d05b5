"""Make the LiteRT serving form of a `.keras` file and check it against that file on FER2013 val.

    python -m training.litert model/weights/classmood_fer_2026nov_kd4x32.keras [--data NPZ]

Converts the network with dynamic-range quantisation (weights stored as int8, activations quantised
per face at run time) into `<stem>.tflite` beside it, then scores both forms on the val split, with
one view and with the four test-time views. The card gets the `.keras` file's own figures (`val`,
`val_tta`) and, under `serving`, the LiteRT file, its sha256 and its figures. A LiteRT form that
loses more than `--max-drop` accuracy against the `.keras` file is refused: the file is deleted
and the card keeps no `serving` entry, so `EmotionClassifier` goes on serving the `.keras` file.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

from model.card import read_card, sha256_file, write_card
from model.classifier import TTA_VIEWS, EmotionClassifier, ModelLoadError
from model.emotions import EMOTIONS
from training.data import DatasetError, default_fer2013_path, load_dataset
from training.metrics import classification_report

FORMAT = "LiteRT flatbuffer, dynamic-range quantised (int8 weights, activations quantised per face)"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.litert", description=__doc__.split("\n")[0])
    ap.add_argument("weights", help="a .keras file")
    ap.add_argument("--data", help="FER2013 npz, csv or image folder with a val split (default: "
                                   "$CLASSMOOD_FER2013 or ../shared/data/fer2013/fer2013_trainval.npz)")
    ap.add_argument("--max-drop", type=float, default=0.005,
                    help="largest val accuracy loss against the .keras file that is accepted (default 0.005)")
    args = ap.parse_args(argv)
    try:
        card = attach(Path(args.weights), Path(args.data) if args.data else None, args.max_drop)
    except (DatasetError, ModelLoadError, ValueError) as e:
        print(f"litert: {e}", file=sys.stderr)
        return 2
    s = card["serving"]
    print(f"{s['file']}: {s['bytes'] / 1e6:.2f} MB; val {s['val']['accuracy']:.4f} "
          f"(.keras {card['val']['accuracy']:.4f}), with TTA {s['val_tta']['accuracy']:.4f} "
          f"(.keras {card['val_tta']['accuracy']:.4f}); same answer as the .keras file on "
          f"{s['agreement_with_keras']:.2%} of val faces")
    return 0


def convert(weights: Path, out: Path | None = None) -> Path:
    """Write the dynamic-range quantised LiteRT form of `weights` (default: beside it, `.tflite`)."""
    import keras
    import tensorflow as tf

    from model.network import custom_objects

    try:
        model = keras.saving.load_model(weights, custom_objects=custom_objects(), compile=False)
    except Exception as e:
        raise ModelLoadError(weights, f"not a readable Keras model ({type(e).__name__}: {e})") from e
    out = out or weights.with_suffix(".tflite")
    with tempfile.TemporaryDirectory() as tmp:
        model.export(tmp, format="tf_saved_model", verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        out.write_bytes(converter.convert())
    return out


def attach(weights: Path, data: Path | None = None, max_drop: float = 0.005) -> dict:
    """Convert `weights`, score both forms on val and record them in its card; returns the card."""
    import tensorflow as tf

    if not weights.is_file():
        raise ModelLoadError(weights, "no such file")
    data = data or default_fer2013_path()
    if data is None:
        raise DatasetError("checking the LiteRT form needs FER2013 val: pass --data or set CLASSMOOD_FER2013")
    splits = load_dataset(data)
    if "val" not in splits:
        raise DatasetError(f"{data}: no val (PublicTest) split to check the LiteRT form on")
    x, y = splits["val"]
    card = {k: v for k, v in (read_card(weights) or {"classes": list(EMOTIONS)}).items()
            if k not in ("serving", "val_flip_tta")}
    lite = convert(weights)
    card["serving"] = {"format": FORMAT, "file": lite.name, "sha256": sha256_file(lite),
                       "bytes": lite.stat().st_size, "converted_with": f"tensorflow {tf.__version__}",
                       "tta_views": list(TTA_VIEWS)}
    write_card(weights, card)
    by_backend = {}
    for backend in ("keras", "litert"):
        clf = EmotionClassifier.load(weights, backend=backend)
        by_backend[backend] = {tta: _probs(clf, x, tta) for tta in (False, True)}
    card.update(val=classification_report(y, by_backend["keras"][False]),
                val_tta=classification_report(y, by_backend["keras"][True]), val_scored_on=str(data))
    card["serving"].update(val=classification_report(y, by_backend["litert"][False]),
                           val_tta=classification_report(y, by_backend["litert"][True]),
                           agreement_with_keras=round(float(np.mean(
                               by_backend["litert"][True].argmax(1) == by_backend["keras"][True].argmax(1))), 4))
    drop = max(card["val"]["accuracy"] - card["serving"]["val"]["accuracy"],
               card["val_tta"]["accuracy"] - card["serving"]["val_tta"]["accuracy"])
    if drop > max_drop:
        card.pop("serving")
        write_card(weights, card)
        lite.unlink()
        raise ValueError(f"the LiteRT form loses {drop:.4f} val accuracy against {weights.name} "
                         f"(more than --max-drop {max_drop}); it was not kept")
    write_card(weights, card)
    return card


def _probs(clf: EmotionClassifier, x: np.ndarray, tta: bool, batch: int = 256) -> np.ndarray:
    return np.concatenate([clf.predict(x[i:i + batch], tta=tta) for i in range(0, len(x), batch)])


if __name__ == "__main__":
    raise SystemExit(main())
