"""Another expression dataset as photos, not face crops (KDEF, JAFFE and CK+'s frames show a head in
a larger picture): FER2013 val faces enlarged 4x (192 px) and set in a 384 px picture (edges
replicated), written as class folders, then scored as served by `classmood-evaluate` with each
`--faces` mode, beside the original 48 px crops; and the same faces enlarged with no margin (a
high-resolution face crop, like RAF-DB's or AffectNet's), which "auto" must leave whole. Needs FER2013.

    python bench/photos.py [--limit N] [--data NPZ]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def write_folders(root: Path, x, y, upscale: int, margin: float) -> None:
    """Class folders of the faces `x` enlarged `upscale` times with `margin` (a share of the enlarged
    side) of replicated edge around them."""
    import cv2

    from model import EMOTIONS

    for i, (face, label) in enumerate(zip(x, y)):
        side = face.shape[0] * upscale
        img = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC)
        pad = int(round(margin * side))
        if pad:
            img = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        d = root / EMOTIONS[int(label)]
        d.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(d / f"{i:05d}.png"), img)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--limit", type=int, default=0, help="a stratified, seeded sample of this many val faces")
    ap.add_argument("--data", help="FER2013 with a val split (default: $CLASSMOOD_FER2013 or ../shared/data/fer2013)")
    args = ap.parse_args()
    from training.data import DatasetError, load_val, stratified_sample
    from training.evaluate import evaluate, parse_args

    try:
        x, y, path = load_val(args.data, "the photos bench")
    except DatasetError as e:
        print(f"bench/photos.py: {e}", file=sys.stderr)
        return 2
    if args.limit:
        idx = stratified_sample(y, args.limit, seed=0)
        x, y = x[idx], y[idx]
    print(f"FER2013 val ({path.name}): {len(y)} faces, as served (one view)")
    print(f"{'images':<44}{'--faces':<9}{'accuracy':>9}{'macro-F1':>9}{'ECE':>7}"
          f"{'cropped':>9}{'whole':>7}{'no face':>9}{'s':>6}")
    with tempfile.TemporaryDirectory(prefix="classmood-photos-") as tmp:
        sets = {"48 px FER2013 crops": (1, 0.0), "photos: 192 px face in a 384 px picture": (4, 0.5),
                "192 px face crops (no margin)": (4, 0.0)}
        for name, (upscale, margin) in sets.items():
            root = Path(tmp) / name.split(":")[0].replace(" ", "_")
            write_folders(root, x, y, upscale, margin)
            for mode in (("as-is", "auto", "detect") if upscale > 1 else ("auto",)):
                t0 = time.perf_counter()
                r = evaluate(parse_args(["--data", str(root), "--faces", mode, "--out", str(Path(tmp) / "eval")]))
                f = r["faces"]
                print(f"{name:<44}{mode:<9}{r['accuracy']:>9.1%}{r['macro_f1']:>9.3f}{r['ece']:>7.3f}"
                      f"{f['cropped']:>9}{f['as_is']:>7}{f['no_face']:>9}{time.perf_counter() - t0:>6.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
