"""`classmood-train`: train the expression CNN on FER2013, resumably.

Selects on the validation split (PublicTest) only. Writes into `--out`:
  config.json   the resolved configuration (every option, the data file, versions), to rerun it
  last.keras    the latest state, optimizer included, for `--resume`
  best.keras    the best weights by val accuracy, without optimizer state (the serving file),
  best.json     its model card (sha256, recipe, command, val metrics)
  history.csv   one row per epoch
Runs on Keras 3 with whatever backend KERAS_BACKEND names (TensorFlow on CPU, JAX on GPU).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from model import EMOTIONS
from training.augment import AugmentConfig, augment_batch
from training.data import DatasetError, default_fer2013_path, load_dataset, stratified_sample


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="classmood-train", description=__doc__.split("\n")[0])
    ap.add_argument("--data", help="FER2013 npz, csv or image folder (default: $CLASSMOOD_FER2013 "
                                   "or ../shared/data/fer2013/fer2013_trainval.npz)")
    ap.add_argument("--out", default="runs/train", help="output folder (default: runs/train)")
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (AdamW, cosine decay)")
    ap.add_argument("--weight-decay", type=float, default=5e-4)
    ap.add_argument("--warmup-epochs", type=float, default=2.0)
    ap.add_argument("--label-smoothing", type=float, default=0.1)
    ap.add_argument("--width", type=int, default=32, help="channels of the first stage")
    ap.add_argument("--blocks", type=int, default=4)
    ap.add_argument("--dropout", type=float, default=0.4)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--limit", type=int, default=0, help="train on a stratified sample of this many faces")
    ap.add_argument("--val-limit", type=int, default=0, help="validate on a stratified sample")
    ap.add_argument("--steps", type=int, default=0, help="stop each epoch after this many steps (smoke runs)")
    ap.add_argument("--no-augment", action="store_true")
    ap.add_argument("--resume", action="store_true", help="continue from OUT/last.keras")
    return ap.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        return train(args, argv if argv is not None else sys.argv[1:])
    except DatasetError as e:
        print(f"classmood-train: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("classmood-train: interrupted; rerun with --resume to continue", file=sys.stderr)
        return 130


def train(args: argparse.Namespace, argv: list[str]) -> int:
    data_path = Path(args.data) if args.data else default_fer2013_path()
    if data_path is None:
        raise DatasetError("no FER2013 data: pass --data or set CLASSMOOD_FER2013")
    data = load_dataset(data_path)
    if "train" not in data or "val" not in data:
        raise DatasetError(f"{data_path}: need both a training and a validation (PublicTest) split")
    x_train, y_train = data["train"]
    x_val, y_val = data["val"]
    if args.limit:
        idx = stratified_sample(y_train, args.limit, seed=args.seed)
        x_train, y_train = x_train[idx], y_train[idx]
    if args.val_limit:
        idx = stratified_sample(y_val, args.val_limit, seed=args.seed)
        x_val, y_val = x_val[idx], y_val[idx]

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PYTHONHASHSEED", str(args.seed))

    import keras

    from model.network import custom_objects, make_model

    keras.utils.set_random_seed(args.seed)
    config = {k: v for k, v in vars(args).items() if k != "resume"}
    config.update(data=str(data_path.resolve()), train_size=int(len(y_train)), val_size=int(len(y_val)),
                  classes=list(EMOTIONS), backend=keras.backend.backend(), keras=keras.__version__,
                  augment=None if args.no_augment else dataclasses.asdict(AugmentConfig()),
                  command="classmood-train " + " ".join(shlex.quote(a) for a in argv))
    state_path, last_path = out / "state.json", out / "last.keras"
    state = {"epoch": 0, "best_val_accuracy": -1.0, "best_epoch": None}
    if args.resume and last_path.exists():
        state = json.loads(state_path.read_text())
        model = keras.saving.load_model(last_path, custom_objects=custom_objects())
        print(f"resuming after epoch {state['epoch']} (best val {state['best_val_accuracy']:.4f})")
    else:
        if args.resume:
            print(f"nothing to resume in {out}: starting afresh")
        model = make_model(width=args.width, blocks=args.blocks, dropout=args.dropout, seed=args.seed)
        steps_per_epoch = args.steps or int(np.ceil(len(y_train) / args.batch_size))
        schedule = keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=args.lr / 20, warmup_target=args.lr,
            warmup_steps=int(args.warmup_epochs * steps_per_epoch),
            decay_steps=max(1, args.epochs * steps_per_epoch - int(args.warmup_epochs * steps_per_epoch)))
        model.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=args.weight_decay),
                      loss=keras.losses.CategoricalCrossentropy(label_smoothing=args.label_smoothing),
                      metrics=["accuracy"])
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")

    batches = Batches(x_train, y_train, args.batch_size, seed=args.seed + state["epoch"],
                      augment=not args.no_augment, steps=args.steps)
    xv = x_val[..., None].astype(np.float32)
    yv = keras.utils.to_categorical(y_val, len(EMOTIONS))
    saver = Saver(out, config, state, x_val, y_val)
    model.fit(batches, epochs=args.epochs, initial_epoch=state["epoch"], validation_data=(xv, yv),
              callbacks=[saver], verbose=2)
    print(f"best val accuracy {saver.state['best_val_accuracy']:.4f} at epoch {saver.state['best_epoch']}; "
          f"weights in {out / 'best.keras'}")
    return 0


def _keras_base():
    import keras

    return keras


class Batches:
    """Shuffled, augmented training batches (a keras PyDataset, built lazily to keep imports light)."""

    def __new__(cls, x, y, batch_size, seed, augment=True, steps=0):
        keras = _keras_base()

        class _Batches(keras.utils.PyDataset):
            def __init__(self):
                super().__init__(workers=1, use_multiprocessing=False)
                self.rng = np.random.default_rng(seed)
                self.order = self.rng.permutation(len(y))

            def __len__(self):
                n = int(np.ceil(len(y) / batch_size))
                return min(n, steps) if steps else n

            def __getitem__(self, i):
                idx = self.order[i * batch_size:(i + 1) * batch_size]
                xb = augment_batch(x[idx], self.rng) if augment else x[idx].astype(np.float32)
                return xb[..., None], keras.utils.to_categorical(y[idx], len(EMOTIONS))

            def on_epoch_end(self):
                self.order = self.rng.permutation(len(y))

        return _Batches()


class Saver:
    """Keras callback: after each epoch save last.keras + state.json; on a new best val accuracy,
    save best.keras without optimizer state and its model card."""

    def __new__(cls, out, config, state, x_val, y_val):
        keras = _keras_base()

        class _Saver(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.state = dict(state)
                self.t0 = time.time()

            def on_epoch_end(self, epoch, logs=None):
                logs = logs or {}
                acc = float(logs.get("val_accuracy", 0.0))
                row = {"epoch": epoch + 1, **{k: round(float(v), 5) for k, v in logs.items()},
                       "seconds": round(time.time() - self.t0, 1)}
                hist = out / "history.csv"
                if not hist.exists():
                    hist.write_text(",".join(row) + "\n")
                with open(hist, "a") as f:
                    f.write(",".join(str(v) for v in row.values()) + "\n")
                self.t0 = time.time()
                if acc > self.state["best_val_accuracy"]:
                    self.state.update(best_val_accuracy=acc, best_epoch=epoch + 1)
                    export_serving(self.model, out / "best.keras", config, epoch + 1, x_val, y_val)
                self.state["epoch"] = epoch + 1
                self.model.save(out / "last.tmp.keras")
                os.replace(out / "last.tmp.keras", out / "last.keras")
                (out / "state.json").write_text(json.dumps(self.state) + "\n")

        return _Saver()


def export_serving(model, path: Path, config: dict, epoch: int, x_val, y_val) -> None:
    """Save `model` without optimizer state to `path` with a model card holding val metrics."""
    keras = _keras_base()
    from model.card import write_card
    from training.metrics import classification_report

    from model.network import custom_objects

    # A fresh, uncompiled copy: saving it leaves the optimizer state (3x the weights) behind.
    serving = keras.Model.from_config(model.get_config(), custom_objects=custom_objects())
    serving.set_weights(model.get_weights())
    tmp = path.with_suffix(".tmp.keras")
    serving.save(tmp)
    os.replace(tmp, path)
    probs = serving.predict(x_val[..., None].astype(np.float32), batch_size=256, verbose=0)
    report = classification_report(y_val, probs)
    write_card(path, model_card(config, epoch, report))


def model_card(config: dict, epoch: int, report: dict) -> dict:
    return {
        "name": "classmood-fer",
        "classes": list(EMOTIONS),
        "input": {"shape": [48, 48, 1], "dtype": "uint8 grayscale pixels 0-255 (float32 accepted)",
                  "layout": "NHWC"},
        "preprocessing": "none outside the graph: the model standardises each face "
                         "((x - mean) / std) in its first layer; crop the face square and loosely "
                         "(FER2013 framing), convert to gray, resize to 48x48",
        "data": {"name": "FER2013", "train": "Training split", "select": "PublicTest (val) split",
                 "file": config.get("data"), "train_size": config.get("train_size"),
                 "val_size": config.get("val_size")},
        "recipe": {k: config.get(k) for k in ("width", "blocks", "dropout", "batch_size", "lr",
                                               "weight_decay", "warmup_epochs", "label_smoothing",
                                               "augment", "backend", "keras")},
        "optimizer": "AdamW, linear warmup then cosine decay; label-smoothed cross-entropy",
        "seed": config.get("seed"),
        "epochs": config.get("epochs"),
        "best_epoch": epoch,
        "command": config.get("command"),
        "val": report,
        "date": dt.date.today().isoformat(),
    }


if __name__ == "__main__":
    raise SystemExit(main())
