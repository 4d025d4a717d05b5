"""Copy a run's best weights into `model/weights/` under the bundled, versioned name, with its card.

    python -m training.publish runs/gpu_kd/student \
        --recipe "TEACHERS=3 T_BF16=all T_EPOCHS=75 S_EPOCHS=80 bash training/recipes/gpu_distill.sh"
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from model.card import ModelCard
from model.classifier import DEFAULT_WEIGHTS, ModelLoadError
from model.contrast import CONTRASTS
from training.data import DatasetError
from training.litert import attach


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run", help="a classmood-train output folder holding best.keras and best.json")
    ap.add_argument("--name", default=DEFAULT_WEIGHTS.name, help="file name in model/weights/")
    ap.add_argument("--recipe", help="the command line that produced the run (e.g. a recipe script), for the card")
    ap.add_argument("--device", help="where it was trained, for the card")
    ap.add_argument("--views", type=int, choices=(1, 4), default=1, help="test-time views served by default")
    ap.add_argument("--contrast", choices=CONTRASTS, help="override the card's contrast step")
    args = ap.parse_args(argv)
    src = Path(args.run) / "best.keras"
    card = ModelCard.read(src)
    if not src.exists() or card is None:
        print(f"publish: {src} or its card best.json is missing", file=sys.stderr)
        return 2
    dst = DEFAULT_WEIGHTS.parent / args.name
    shutil.copyfile(src, dst)
    card.extra.update({k: v for k, v in (("recipe_command", args.recipe), ("trained_on", args.device)) if v})
    card.extra["val_at_training"] = card.val  # the training backend's figure; attach() re-scores as served
    card.write(dst)
    data = Path(card.data.file or "")
    try:  # the LiteRT serving form, and every figure scored as served on this machine's TensorFlow
        card = attach(dst, data if data.is_file() else None, views=args.views, contrast=args.contrast)
    except (DatasetError, ModelLoadError, ValueError) as e:
        print(f"publish: {e}; the .keras file alone will serve", file=sys.stderr)
    print(f"published {dst} (val accuracy {card.val['accuracy']}, epoch {card.best_epoch})")
    print(json.dumps({k: v["recall"] for k, v in card.val["per_class"].items()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
