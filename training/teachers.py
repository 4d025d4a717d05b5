"""The teacher recipe: train larger teachers side by side on a GPU, then save their averaged answers
on every training face under the fixed views of `training.views`, so that a student can be
distilled from them later on any machine, a CPU included (`classmood-train --teacher-file`).

    python -m training.teachers --name NAME [--teachers 4] [--seconds 240] [--votes-mix 0 0.3 0.6 0.3]
    python -m training.teachers --name NAME --models runs/teachers/t1/best.keras ...   # answers only

Writes `training/teachers/NAME.npz` (tracked; no pixels): `probs` float16 (views, faces, 7), the
teachers' mean probability of each class for each training face (rows in the order of `row_train`,
the faces' rows in Kaggle's fer2013.csv) under each view; `row_train` int32; `val_probs` float16
(3,579, 7), the ensemble's mean over the served views on val; `meta`, a JSON string (views, teachers,
their val figures, commands, seconds). Every run selects its best epoch on val (PublicTest) only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from model import EMOTIONS
from model.network import custom_objects
from training import views
from training.data import DatasetError, default_fer2013_path, ferplus_plurality, load_dataset, load_rows, load_votes

TEACHER_DIR = Path(__file__).resolve().parent / "teachers"


def load_teacher_file(path: str | os.PathLike, rows: np.ndarray) -> np.ndarray:
    """Saved teachers' answers `(views, len(rows), 7)` float32 for the faces at `rows`, in that order.
    Raises `DatasetError` when the file is unreadable, of the wrong shape, or lacks one of the rows."""
    p = Path(path)
    try:
        with np.load(p, allow_pickle=False) as d:
            probs, saved = d["probs"], d["row_train"].astype(np.int64)
    except (OSError, ValueError, KeyError) as e:
        raise DatasetError(f"{p}: not a readable teacher file ({type(e).__name__}: {e})") from e
    if probs.ndim != 3 or probs.shape[1:] != (len(saved), len(EMOTIONS)) or probs.shape[0] != views.NUM_VIEWS:
        raise DatasetError(f"{p}: probs must be ({views.NUM_VIEWS}, {len(saved)}, {len(EMOTIONS)}), got {probs.shape}")
    order = np.argsort(saved)
    pos = np.searchsorted(saved[order], rows)
    pos = np.minimum(pos, len(saved) - 1)
    found = saved[order][pos] == rows
    if not found.all():
        raise DatasetError(f"{p}: no saved answers for {int((~found).sum())} of the {len(rows)} training faces "
                           f"(rows {rows[~found][:5].tolist()}...): it was made from another training set")
    return probs[:, order[pos]].astype(np.float32)


def teacher_command(args, i: int, out: Path, seconds: float) -> list[str]:
    return [sys.executable, "-m", "training.train", "--data", str(args.data), "--out", str(out),
            "--seed", str(i + 1), "--width", str(args.width), "--convs", str(args.convs),
            "--epochs", str(args.epochs), "--time-limit", str(int(seconds)),
            "--batch-size", str(args.batch_size), "--lr", str(args.lr), "--weight-decay", "5e-4",
            "--label-smoothing", str(args.label_smoothing), "--votes-mix", str(args.votes_mix[i % len(args.votes_mix)]),
            "--workers", str(args.workers), "--save-every", "100000"] + \
        (["--mixed-precision"] if args.mixed_precision else []) + (["--steps", str(args.steps)] if args.steps else [])


def train_teachers(args) -> list[Path]:
    """Train `args.teachers` teachers side by side, each for `args.seconds`; their best.keras files."""
    runs = Path(args.runs)
    runs.mkdir(parents=True, exist_ok=True)
    procs = []
    for i in range(args.teachers):
        out = runs / f"t{i + 1}"
        cmd = teacher_command(args, i, out, args.seconds)
        log = open(runs / f"t{i + 1}.log", "w")
        print("+", " ".join(cmd), flush=True)
        procs.append((subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT), out, log))
    done = []
    deadline = time.time() + args.seconds + args.grace
    for proc, out, log in procs:
        try:
            proc.wait(timeout=max(1.0, deadline - time.time()))
        except subprocess.TimeoutExpired:  # its best epoch so far is on disk already
            print(f"teacher {out} overran its time by {args.grace:.0f} s: stopped", file=sys.stderr)
            proc.kill()
            proc.wait()
        log.close()
        if (out / "best.keras").exists():
            done.append(out / "best.keras")
        else:
            print(f"teacher {out} failed (exit {proc.returncode}): see {out}.log", file=sys.stderr)
    return done


def dump(args, models: list[Path], seconds: float | None) -> Path:
    import keras

    data = load_dataset(args.data)
    (x_tr, _), (x_val, y_val) = data["train"], data["val"]
    rows = load_rows(args.data).get("train")
    if rows is None:
        raise DatasetError(f"{args.data}: no row_train: teacher answers are keyed by it")
    teachers = []
    for m in models:
        try:
            teachers.append(keras.saving.load_model(m, custom_objects=custom_objects(), compile=False))
        except Exception as e:  # Keras raises ValueError, OSError, zipfile errors... for bad files
            raise DatasetError(f"teacher {m}: not a readable Keras model ({type(e).__name__}: {e})") from e
    served = [0, 1, 2, 3]
    val_rows = np.arange(len(y_val)) % views.MAX_ROW  # served views 0-3 do not depend on the row
    t0 = time.time()
    val_each = []
    for t in teachers:
        val_each.append(np.mean([t.predict(views.render(x_val, val_rows, v)[..., None], batch_size=2048, verbose=0)
                                 for v in served], axis=0))
    val_probs = np.mean(val_each, axis=0)
    probs = np.zeros((views.NUM_VIEWS, len(x_tr), len(EMOTIONS)), np.float32)
    for v in range(views.NUM_VIEWS):
        xv = views.render(x_tr, rows, v)[..., None]
        probs[v] = np.mean([t.predict(xv, batch_size=2048, verbose=0) for t in teachers], axis=0)
    votes = load_votes(args.data).get("val")
    plural = None
    if votes is not None:
        lab, ok = ferplus_plurality(votes, y_val)
        plural = round(float((val_probs.argmax(1)[ok] == lab[ok]).mean()), 4)
    cards = [json.loads(Path(m).with_suffix(".json").read_text()) if Path(m).with_suffix(".json").exists() else {}
             for m in models]
    meta = {
        "name": args.name, "date": dt.date.today().isoformat(), "data": Path(args.data).name,
        "views": {"count": views.NUM_VIEWS, "seed": views.VIEW_SEED, "zoom": views.ZOOM,
                  "spec": "0 as is, 1 mirrored, 2 zoomed, 3 zoomed+mirrored, 4.. random affine (training.views)"},
        "teachers": [{"val_accuracy_4views": round(float((p.argmax(1) == y_val).mean()), 4),
                      "val_accuracy": c.get("val", {}).get("accuracy"), "best_epoch": c.get("best_epoch"),
                      "recipe": c.get("recipe"), "command": c.get("command")} for p, c in zip(val_each, cards)],
        "ensemble": {"val_accuracy_4views": round(float((val_probs.argmax(1) == y_val).mean()), 4),
                     "val_accuracy_1view": round(float((np.mean([np.asarray(
                         t.predict(x_val[..., None].astype(np.float32), batch_size=2048, verbose=0))
                         for t in teachers], axis=0).argmax(1) == y_val).mean()), 4),
                     "ferplus_plurality_agreement_4views": plural},
        "train_seconds": seconds, "dump_seconds": round(time.time() - t0, 1),
    }
    dest = Path(args.dest) / f"{args.name}.npz"
    dest.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(dest, probs=probs.astype(np.float16), row_train=rows.astype(np.int32),
                        val_probs=val_probs.astype(np.float16), meta=np.array(json.dumps(meta)))
    print(json.dumps(meta, indent=1))
    print(f"saved {dest} ({dest.stat().st_size / 1e6:.1f} MB)")
    return dest


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.teachers", description=__doc__.split("\n")[0])
    ap.add_argument("--name", required=True, help="the teacher file's name (training/teachers/NAME.npz)")
    ap.add_argument("--data", default=None, help="FER2013 npz with row_train (default: the shared original-pixel file)")
    ap.add_argument("--runs", default="runs/teachers", help="where the teachers train")
    ap.add_argument("--dest", default=str(TEACHER_DIR))
    ap.add_argument("--models", nargs="+", help="skip training: save these models' answers")
    ap.add_argument("--teachers", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=240, help="training time of each teacher (side by side)")
    ap.add_argument("--grace", type=float, default=90, help="seconds a teacher may overrun before it is stopped")
    ap.add_argument("--epochs", type=int, default=300, help="at most this many epochs")
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--convs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--votes-mix", type=float, nargs="+", default=[0.0, 0.3, 0.6, 0.3],
                    help="teacher i mixes the FER+ votes into its labels by the i-th value (cycled)")
    ap.add_argument("--label-smoothing", type=float, default=0.1,
                    help="every teacher's label smoothing (0.1 made fer_orig_vgg64c3x4; smoothing and votes cap "
                         "the teachers' confidence, which their students inherit: see docs/training.md on calibration)")
    ap.add_argument("--mixed-precision", action="store_true", help="bfloat16 (GPU)")
    ap.add_argument("--workers", type=int, default=3)
    ap.add_argument("--steps", type=int, default=0, help="steps an epoch (smoke runs)")
    args = ap.parse_args(argv)
    args.data = args.data or default_fer2013_path()
    if args.data is None:
        print("python -m training.teachers: no FER2013 data: pass --data or set CLASSMOOD_FER2013", file=sys.stderr)
        return 2
    try:
        t0 = time.time()
        models = [Path(m) for m in args.models] if args.models else train_teachers(args)
        if not models:
            print("no teacher finished", file=sys.stderr)
            return 1
        dump(args, models, None if args.models else round(time.time() - t0, 1))
    except DatasetError as e:
        print(f"python -m training.teachers: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
