"""Copy a run's best weights into `model/weights/` under the bundled, versioned name, with its card.

    python -m training.publish runs/gpu_kd/student --tta \
        --recipe "TEACHERS=3 T_BF16=all T_EPOCHS=75 S_EPOCHS=80 bash training/recipes/gpu_distill.sh"
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from model.card import read_card, write_card
from model.classifier import DEFAULT_WEIGHTS


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run", help="a classmood-train output folder holding best.keras and best.json")
    ap.add_argument("--name", default=DEFAULT_WEIGHTS.name, help="file name in model/weights/")
    ap.add_argument("--tta", action="store_true", help="also record val metrics with flip test-time augmentation")
    ap.add_argument("--recipe", help="the command line that produced the run (e.g. a recipe script), for the card")
    ap.add_argument("--device", help="where it was trained, for the card")
    args = ap.parse_args(argv)
    src = Path(args.run) / "best.keras"
    card = read_card(src)
    if not src.exists() or card is None:
        print(f"publish: {src} or its card best.json is missing", file=sys.stderr)
        return 2
    dst = DEFAULT_WEIGHTS.parent / args.name
    shutil.copyfile(src, dst)
    card.update({k: v for k, v in (("recipe_command", args.recipe), ("trained_on", args.device)) if v})
    write_card(dst, card)
    served = _served_reports(dst, card, args.tta)
    if served:
        # Score the published file as it is served (TensorFlow, float32) rather than trust the
        # training backend's figures; those stay as val_at_training.
        card["val_at_training"] = card["val"]
        card.update(served)
        write_card(dst, card)
    print(f"published {dst} (val accuracy {card['val']['accuracy']}, epoch {card['best_epoch']})")
    print(json.dumps({k: v["recall"] for k, v in card["val"]["per_class"].items()}))
    return 0


def _served_reports(weights: Path, card: dict, tta: bool) -> dict:
    """`val` (and `val_flip_tta`) of the published file through `EmotionClassifier`, where the
    val split is at hand: the card's data file, else this machine's FER2013 copy."""
    import numpy as np

    from model import EmotionClassifier
    from training.data import default_fer2013_path, load_dataset
    from training.metrics import classification_report

    data = Path(card["data"]["file"] or "")
    if not data.is_file():  # trained elsewhere (a GPU machine)
        data = default_fer2013_path()
    if data is None:
        print("publish: no FER2013 copy here; the card keeps the training run's val figures", file=sys.stderr)
        return {}
    x, y = load_dataset(data)["val"]
    clf = EmotionClassifier.load(weights)
    out = {"val_scored_on": str(data)}
    for key, flip in (("val", False), ("val_flip_tta", True)):
        if flip and not tta:
            continue
        probs = np.concatenate([clf.predict(x[i:i + 256], tta=flip) for i in range(0, len(x), 256)])
        out[key] = classification_report(y, probs)
    return out


if __name__ == "__main__":
    raise SystemExit(main())
