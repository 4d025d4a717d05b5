"""Copy a run's best weights into `model/weights/` under the bundled, versioned name, with its card.

    python -m training.publish runs/vgg4x32 [--name classmood_fer_2026nov_vgg4x32.keras]
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
    args = ap.parse_args(argv)
    src = Path(args.run) / "best.keras"
    card = read_card(src)
    if not src.exists() or card is None:
        print(f"publish: {src} or its card best.json is missing", file=sys.stderr)
        return 2
    dst = DEFAULT_WEIGHTS.parent / args.name
    shutil.copyfile(src, dst)
    write_card(dst, card)
    if args.tta:
        card["val_flip_tta"] = _tta_report(dst, card)
        write_card(dst, card)
    print(f"published {dst} (val accuracy {card['val']['accuracy']}, epoch {card['best_epoch']})")
    print(json.dumps({k: v["recall"] for k, v in card["val"]["per_class"].items()}))
    return 0


def _tta_report(weights: Path, card: dict) -> dict:
    import numpy as np

    from model import EmotionClassifier
    from training.data import load_dataset
    from training.metrics import classification_report

    x, y = load_dataset(card["data"]["file"])["val"]
    clf = EmotionClassifier.load(weights)
    probs = np.concatenate([clf.predict(x[i:i + 256], tta=True) for i in range(0, len(x), 256)])
    r = classification_report(y, probs)
    return {k: r[k] for k in ("n", "accuracy", "macro_f1", "per_class")}


if __name__ == "__main__":
    raise SystemExit(main())
