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
    args = ap.parse_args(argv)
    src = Path(args.run) / "best.keras"
    card = read_card(src)
    if not src.exists() or card is None:
        print(f"publish: {src} or its card best.json is missing", file=sys.stderr)
        return 2
    dst = DEFAULT_WEIGHTS.parent / args.name
    shutil.copyfile(src, dst)
    card.pop("file", None)
    write_card(dst, card)
    print(f"published {dst} (val accuracy {card['val']['accuracy']}, epoch {card['best_epoch']})")
    print(json.dumps({k: v["recall"] for k, v in card["val"]["per_class"].items()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
