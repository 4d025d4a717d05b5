"""Make the LiteRT serving form of a `.keras` file, check it against that file on FER2013 val,
calibrate it and record it all in the model card.

    python -m training.litert model/weights/classmood_fer_2026nov_lowres4x32.keras [--data NPZ] [--views 1]

Converts the network with dynamic-range quantisation (weights stored as int8, activations quantised
per face at run time) into `<stem>.tflite` beside it, then scores both forms on the val split, with
one view and with the four test-time views. The card gets the `.keras` file's own figures (`val`,
`val_tta`), under `serving` the LiteRT file, its sha256, the views it serves by default and its
figures, `multiply_adds` (a view, and a face as served), and its calibration fitted on val: the
full-size one and one for each face size (`training.calibrate`: fitted on one seeded half and
reported on the other, then refitted on all).
A LiteRT form that loses more than `--max-drop` accuracy against the `.keras` file, or a served
form over `--max-multiply-adds`, is refused: the file is deleted and the card keeps no `serving`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

from model.card import Calibration, ModelCard, MultiplyAdds, Serving, sha256_file
from model.classifier import TTA_VIEWS, EmotionClassifier, ModelLoadError
from model.contrast import CONTRASTS
from model.network import multiply_adds, read_keras
from training.calibrate import set_calibration, set_size_calibration, size_summary, summary
from training.data import DatasetError, ferplus_plurality, load_val, load_votes
from training.metrics import classification_report

FORMAT = "LiteRT flatbuffer, dynamic-range quantised (int8 weights, activations quantised per face)"
BUDGET = 120_000_000  # multiply-adds a face as served, all views included
BATCH = 256  # faces a call when scoring val


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.litert", description=__doc__.split("\n")[0])
    ap.add_argument("weights", help="a .keras file")
    ap.add_argument("--data", help="FER2013 npz, csv or image folder with a val split (default: "
                                   "$CLASSMOOD_FER2013 or ../shared/data/fer2013/fer2013_original_trainval.npz)")
    ap.add_argument("--views", type=int, choices=(1, len(TTA_VIEWS)), default=1,
                    help="test-time views served by default (1, or the four TTA views)")
    ap.add_argument("--contrast", choices=CONTRASTS, help="set the card's contrast step (default: keep it)")
    ap.add_argument("--max-drop", type=float, default=0.005,
                    help="largest val accuracy loss against the .keras file that is accepted (default 0.005)")
    ap.add_argument("--max-multiply-adds", type=float, default=BUDGET,
                    help=f"largest multiply-adds a face as served (default {BUDGET:,})")
    args = ap.parse_args(argv)
    try:
        card = attach(Path(args.weights), Path(args.data) if args.data else None, args.max_drop,
                      views=args.views, contrast=args.contrast, budget=args.max_multiply_adds)
    except (DatasetError, ModelLoadError, ValueError) as e:
        print(f"litert: {e}", file=sys.stderr)
        return 2
    s = card.serving
    print(f"{s.file}: {s.bytes / 1e6:.2f} MB, {s.views} view(s), "
          f"{card.multiply_adds.per_face / 1e6:.1f} M multiply-adds a face; val as served "
          f"{s.served['accuracy']:.4f} (one view {s.val['accuracy']:.4f}, .keras {card.val['accuracy']:.4f}; "
          f"four views {s.val_tta['accuracy']:.4f}); same answer as the .keras file on "
          f"{s.agreement_with_keras:.2%} of val faces; {summary(card.calibration.to_dict())}")
    print(size_summary(card.size_calibration.to_dict()))
    return 0


def convert(weights: Path, out: Path | None = None, quantize: bool = True) -> Path:
    """Write the dynamic-range quantised LiteRT form of `weights` (default: beside it, `.tflite`);
    `quantize=False`: float32 (a small network, where int8 weights would save little)."""
    import tensorflow as tf

    model = read_keras(weights)
    out = out or weights.with_suffix(".tflite")
    with tempfile.TemporaryDirectory() as tmp:
        model.export(tmp, format="tf_saved_model", verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp)
        if quantize:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        out.write_bytes(converter.convert())
    return out


def attach(weights: Path, data: Path | None = None, max_drop: float = 0.005, views: int = 1,
           contrast: str | None = None, budget: float = BUDGET) -> ModelCard:
    """Convert `weights`, score both forms on val, calibrate, and record it all in its card."""
    import tensorflow as tf

    if not weights.is_file():
        raise ModelLoadError(weights, "no such file")
    x, y, data = load_val(data, "checking the LiteRT form")
    card = ModelCard.read(weights) or ModelCard()
    card.extra.pop("val_flip_tta", None)
    if contrast:
        card.input.contrast = contrast
    per_view = multiply_adds(read_keras(weights))
    card.multiply_adds = MultiplyAdds(per_view=per_view, views=views, per_face=per_view * views,
                                      counted="convolutions and dense layers, one face")
    if per_view * views > budget:
        raise ValueError(f"{weights.name} costs {per_view * views / 1e6:.1f} M multiply-adds a face in {views} "
                         f"view(s), over the budget of {budget / 1e6:.0f} M")
    card.temperature, card.top_label_map, card.calibration = 1.0, [], Calibration()
    card.size_calibration = {}
    lite = convert(weights)
    card.serving = Serving(format=FORMAT, file=lite.name, sha256=sha256_file(lite), bytes=lite.stat().st_size,
                           converted_with=f"tensorflow {tf.__version__}", views=views,
                           view_names=list(TTA_VIEWS[:views]) if views == len(TTA_VIEWS) else ["as is"])
    card.write(weights)
    by_backend = {}
    for backend in ("keras", "litert"):
        clf = EmotionClassifier.load(weights, backend=backend)
        by_backend[backend] = {tta: clf.predict(x, tta, calibrated=False, batch_size=BATCH) for tta in (False, True)}
    votes = load_votes(data).get("val")
    report = lambda p: _report(y, p, votes)  # noqa: E731
    card.val, card.val_tta = report(by_backend["keras"][False]), report(by_backend["keras"][True])
    card.extra["val_scored_on"] = Path(data).name
    served = by_backend["litert"][views > 1]
    s = card.serving
    s.val, s.val_tta, s.served = report(by_backend["litert"][False]), report(by_backend["litert"][True]), report(served)
    s.agreement_with_keras = round(float(np.mean(served.argmax(1) == by_backend["keras"][views > 1].argmax(1))), 4)
    drop = max(card.val["accuracy"] - s.val["accuracy"], card.val_tta["accuracy"] - s.val_tta["accuracy"])
    if drop > max_drop:
        card.serving = Serving()
        card.write(weights)
        lite.unlink()
        raise ValueError(f"the LiteRT form loses {drop:.4f} val accuracy against {weights.name} "
                         f"(more than --max-drop {max_drop}); it was not kept")
    set_calibration(card, served, y)
    set_size_calibration(card, clf, x, y, BATCH)  # clf: the LiteRT form, as it serves
    card.write(weights)
    return card


def _report(y: np.ndarray, probs: np.ndarray, votes: np.ndarray | None) -> dict:
    r = classification_report(y, probs)
    if votes is not None:
        label, ok = ferplus_plurality(votes, y)
        r["ferplus_plurality_agreement"] = round(float((probs.argmax(1)[ok] == label[ok]).mean()), 4)
        r["ferplus_plurality_faces"] = int(ok.sum())
    return r


if __name__ == "__main__":
    raise SystemExit(main())
