"""Average the weights of a fine-tuned run with those of the model it started from (WiSE-FT,
Wortsman et al. 2022): `alpha x fine-tuned + (1 - alpha) x start`. A fine-tune for one thing
(small faces, say) often loses a little of what the start did well; the average keeps most of both.
Choose `alpha` on val only.

    python -m training.average runs/ft/best.keras START.keras --alpha 0.5 --out runs/ft_wise

Writes OUT/best.keras and OUT/best.json (the fine-tune's card, with `weight_average` saying how it
was made and the val figures of the average), ready for `python -m training.publish OUT`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from model import contrast
from model.card import ModelCard
from model.classifier import ModelLoadError
from model.network import read_keras
from training.data import DatasetError, load_val
from training.metrics import classification_report


def average(fine_tuned: Path, start: Path, alpha: float, out: Path, data: Path | None = None) -> dict:
    """Write the average to `out`/best.keras with its card; returns its val figures (.keras, one view)."""

    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"--alpha must be within 0-1, not {alpha}")
    tuned, base = read_keras(fine_tuned), read_keras(start)
    wt, wb = tuned.get_weights(), base.get_weights()
    if [w.shape for w in wt] != [w.shape for w in wb]:
        raise ValueError(f"{fine_tuned.name} and {start.name} are not the same network: their weights differ in shape")
    card = ModelCard.read(fine_tuned) or ModelCard()
    base.set_weights([alpha * a + (1 - alpha) * b for a, b in zip(wt, wb)])
    x, y, _ = load_val(data, "scoring the average")
    probs = base.predict(contrast.apply(x, card.contrast)[..., None], batch_size=512, verbose=0)
    out.mkdir(parents=True, exist_ok=True)
    dst = out / "best.keras"
    base.save(dst)  # loaded uncompiled: no optimizer state
    card.extra["val_fine_tuned"] = card.val
    card.val = classification_report(y, probs)
    card.extra["weight_average"] = {
        "alpha": alpha, "of": fine_tuned.name + " (this card's run)", "and": start.name,
        "rule": "weights = alpha x fine-tuned + (1 - alpha) x starting model (WiSE-FT), alpha chosen on val"}
    card.write(dst)
    return card.val


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("fine_tuned", help="the fine-tuned run's best.keras (its card beside it)")
    ap.add_argument("start", help="the model it was fine-tuned from (same network)")
    ap.add_argument("--alpha", type=float, default=0.5, help="weight of the fine-tuned model (0-1)")
    ap.add_argument("--out", required=True, help="folder for best.keras and best.json")
    ap.add_argument("--data", help="FER2013 with a val split (default: $CLASSMOOD_FER2013 or ../shared/data/fer2013)")
    args = ap.parse_args(argv)
    try:
        val = average(Path(args.fine_tuned), Path(args.start), args.alpha, Path(args.out),
                      Path(args.data) if args.data else None)
    except (DatasetError, ModelLoadError, OSError, ValueError) as e:
        print(f"average: {e}", file=sys.stderr)
        return 2
    print(f"{args.out}/best.keras: {args.alpha} x {Path(args.fine_tuned).name} + {1 - args.alpha:g} x "
          f"{Path(args.start).name}; val accuracy {val['accuracy']:.4f}, macro-F1 {val['macro_f1']:.4f} "
          "(.keras, one view)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
