"""The measurements behind the mood definition and the alert defaults (bot/mood.py, bot/alerts.toml):
valence of FER2013 val faces by label and of 25-face galleries of them, by the old mean-probability
formula and by confident shares; how often each default alert fires in simulated 45-minute classes
of calm (neutral-labelled) faces, and how soon the class alert fires in sad ones. Scores are the
served, calibrated model's on val. Needs FER2013. `--side S --jpeg Q`: the faces as a gallery of
S-pixel faces gives them (shrunk, JPEG at quality Q there, enlarged back; `training.augment.shrink`)
and calibrated for that size as the observer serves them; `--full-size-calibration`: calibrated as
full-size faces instead (as before the calibration by size), to compare.

    python bench/mood.py [--classes 20] [--side 24 --jpeg 30] [--full-size-calibration]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--classes", type=int, default=20)
    ap.add_argument("--side", type=int, default=48, help="face side in pixels (default 48: as FER2013 has them)")
    ap.add_argument("--jpeg", type=int, default=0, help="JPEG quality at that side (default 0: none)")
    ap.add_argument("--full-size-calibration", action="store_true",
                    help="calibrate every face as a full-size one, whatever --side says")
    args = ap.parse_args()
    if not 4 <= args.side <= 48 or not 0 <= args.jpeg <= 100:
        print(f"--side must lie in 4-48 px and --jpeg in 0-100, not {args.side} and {args.jpeg}")
        return 2
    from bot.alerts import AlertEngine
    from bot.mood import NEG_IDX, POS_IDX, mood_of, valence_of
    from bot.records import FaceResult, FrameResult, TileResult
    from bot.tracker import Tracker
    from model import EMOTIONS, EmotionClassifier
    from training.augment import shrink
    from training.data import default_fer2013_path, load_npz

    x, y = load_npz(default_fer2013_path())["val"]
    if args.side < 48 or args.jpeg:
        x = shrink(x, args.side, args.jpeg)
        print(f"faces of {args.side} px, JPEG quality {args.jpeg or 'none'}, calibrated "
              + ("as full-size faces" if args.full_size_calibration else "for their size (as served)"))
    sides = None if args.full_size_calibration or args.side >= 48 else [args.side] * len(x)
    p = EmotionClassifier.load().predict(x, sides=sides, batch_size=512)
    old = p[:, POS_IDX].sum(1) - p[:, NEG_IDX].sum(1)
    new = valence_of(p)
    rng = np.random.default_rng(0)
    print("FER2013 val, served calibrated model: mean valence by label (old mean-probability formula; confident shares)")
    for label in ("neutral", "happy", "surprise", "sad", "angry", "fear"):
        m = y == EMOTIONS.index(label)
        print(f"  {label:<9} {m.sum():>4} faces: old {old[m].mean():+.2f}; now {new[m].mean():+.2f}")
    print("25-face galleries (500 each), valence 5th / 50th / 95th percentile and share read as each mood, now:")
    for label in ("neutral", "happy", "sad", "angry", "fear"):
        pool = np.where(y == EMOTIONS.index(label))[0]
        picks = [rng.choice(pool, 25) for _ in range(500)]
        o = np.array([old[k].mean() for k in picks])
        v = np.array([new[k].mean() for k in picks])
        moods = [mood_of(float(a)) for a in v]
        share = {w: moods.count(w) / len(moods) for w in ("positive", "neutral", "negative")}
        print(f"  {label:<9} old {np.percentile(o, 5):+.2f} / {np.median(o):+.2f} / {np.percentile(o, 95):+.2f}; now "
              f"{np.percentile(v, 5):+.2f} / {np.median(v):+.2f} / {np.percentile(v, 95):+.2f}: "
              + ", ".join(f"{w} {s:.0%}" for w, s in share.items()))

    def simulate(label_of_participant, minutes=45, every=5.0):
        """A class of 25: each participant has 8 faces of their label and shows one of them each
        frame (expressions vary); tracked (smoothing) and fed to the default alerts."""
        pools = [rng.choice(np.where(y == EMOTIONS.index(lab))[0], 8) for lab in label_of_participant]
        tracker, engine, alerts = Tracker(ocr=False), AlertEngine(), []
        for i in range(int(minutes * 60 / every)):
            faces = [FaceResult(box=(10 * k, 10, 40, 40), tile=k, participant=None, role="participant",
                                confidence=0.9, uncertain=False, scores=p[rng.choice(pool)])
                     for k, pool in enumerate(pools)]
            fr = FrameResult(time_s=i * every, tiles=[TileResult((60 * k, 0, 50, 50), f"P{k}", False)
                                                      for k in range(len(pools))], faces=faces)
            alerts += engine.update(tracker.update(fr, None))
        return alerts

    print(f"default alerts in simulated 45-minute classes of 25 ({args.classes} classes each):")
    for what, labels in (("calm (all neutral-labelled faces)", ["neutral"] * 25),
                         ("calm with 3 sad students", ["neutral"] * 22 + ["sad"] * 3),
                         ("sad (all sad-labelled faces)", ["sad"] * 25)):
        counts: dict[str, int] = {}
        first = []
        for _ in range(args.classes):
            got = simulate(labels)
            for a in got:
                counts[a.rule] = counts.get(a.rule, 0) + 1
            cls = [a.time_s for a in got if a.rule == "class_valence"]
            if cls:
                first.append(cls[0])
        per = ", ".join(f"{r} {n / args.classes:.2f}" for r, n in sorted(counts.items())) or "none"
        when = f"; class alert first after {np.median(first) / 60:.1f} min (median)" if first else ""
        print(f"  {what}: alerts a class: {per}{when}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
