"""The Keras side of `classmood-train`: the batch source, the per-epoch scorer and saver, and the
serving export with its model card. Imported by `training.train` once a run starts (it loads Keras)."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

import keras
import numpy as np

from model import EMOTIONS
from model import contrast
from model.card import ModelCard
from model.network import custom_objects
from training import calibrate
from training import views as fixed_views
from training.augment import augment_batch, erase_batch, low_res_batch, meeting_batch, mixup_batch, shrink
from training.distill import student_of
from training.metrics import classification_report, neutral_negative

CALL_SIDE, CALL_JPEG = 24, 30  # the call-like val faces each epoch is also scored on

RECIPE_KEYS = ("width", "blocks", "convs", "dropout", "batch_size", "mixed_precision", "optimizer", "lr", "momentum",
               "weight_decay", "warmup_epochs", "label_smoothing", "mixup", "mixup_alpha", "augment",
               "teachers", "teacher_file", "kd_alpha", "kd_temperature", "teacher_flip", "teacher_zoom", "votes_mix",
               "erase", "low_res", "meeting", "meeting_codec", "time_limit", "contrast", "init", "freeze_bn", "backend", "keras")


class Batches(keras.utils.PyDataset):
    """Shuffled, augmented (optionally mixed-up) training batches.

    Targets are `targets` (N, 7) where given (e.g. labels mixed with FER+ votes), else one-hot `y`.
    With `teacher` (V, N, 7), saved teachers' answers under `training.views`, each face is drawn in
    one of those V views (`rows` locate it) and its target is `kd_alpha * target + (1 - kd_alpha) *
    teacher[view]`; random erasing (`erase`) still applies on top. `low_res`: the share of faces
    shrunk and enlarged back (`training.augment.low_res_batch`) before the contrast step, as a small
    tile's face reaches the network; `meeting`: the share that go through a video call's light, blur
    and codec (`training.augment.meeting_batch`) after that (`meeting_codec`: "both", JPEG and H.264,
    or "jpeg" alone). Their targets stay those of the sharp face."""

    def __init__(self, x, y, batch_size, seed, augment=True, steps=0, mixup=0.0, mixup_alpha=0.4, workers=1,
                 targets=None, teacher=None, rows=None, kd_alpha=0.2, erase=0.25, contrast="none", low_res=0.0,
                 meeting=0.0, meeting_codec="both"):
        super().__init__(workers=workers, use_multiprocessing=False)
        self.x, self.y, self.batch_size, self.seed = x, y, batch_size, seed
        self.augment, self.steps, self.mixup, self.mixup_alpha = augment, steps, mixup, mixup_alpha
        self.targets = targets if targets is not None else np.eye(len(EMOTIONS), dtype=np.float32)[y]
        self.teacher, self.rows, self.kd_alpha, self.erase = teacher, rows, kd_alpha, erase
        self.contrast, self.low_res, self.meeting = contrast, low_res, meeting
        self.meeting_h264 = meeting_codec != "jpeg"
        self.epoch = 0
        self.order = np.random.default_rng([seed, 0]).permutation(len(y))

    def __len__(self):
        n = int(np.ceil(len(self.y) / self.batch_size))
        return min(n, self.steps) if self.steps else n

    def __getitem__(self, i):
        # One generator per (epoch, batch): the same batches whatever the thread order.
        rng = np.random.default_rng([self.seed, self.epoch, i + 1])
        idx = self.order[i * self.batch_size:(i + 1) * self.batch_size]
        yb = self.targets[idx]
        if self.teacher is not None:
            v = rng.integers(0, len(self.teacher), len(idx)) if self.augment else np.zeros(len(idx), int)
            xb = fixed_views.render(self.x[idx], self.rows[idx], v)
            if self.augment and self.low_res:
                low_res_batch(xb, rng, self.low_res)
            if self.augment and self.meeting:
                meeting_batch(xb, rng, self.meeting, h264=self.meeting_h264)
            if self.contrast != "none":
                xb = contrast.apply(xb, self.contrast).astype(np.float32)
            if self.augment and self.erase:
                erase_batch(xb, rng, self.erase)
            yb = self.kd_alpha * yb + (1 - self.kd_alpha) * self.teacher[v, idx]
        else:
            xb = augment_batch(self.x[idx], rng) if self.augment else self.x[idx].astype(np.float32)
            if self.augment and self.low_res:
                low_res_batch(xb, rng, self.low_res)
            if self.augment and self.meeting:
                meeting_batch(xb, rng, self.meeting, h264=self.meeting_h264)
            if self.contrast != "none":
                xb = contrast.apply(xb, self.contrast).astype(np.float32)
        if self.mixup:
            xb, yb = mixup_batch(xb, yb, rng, alpha=self.mixup_alpha, p=self.mixup)
        return xb[..., None], yb.astype(np.float32)

    def on_epoch_end(self):
        self.epoch += 1
        self.order = np.random.default_rng([self.seed, self.epoch]).permutation(len(self.y))


class TimedCosine(keras.callbacks.Callback):
    """A cosine learning-rate schedule over as many epochs as fit in `seconds` (at most `epochs`):
    per-epoch linear warm-up, then cosine decay to zero over the planned epochs; the plan is
    re-estimated each epoch from the median duration of the recent epochs after the first two
    (compilation), and training stops at its end. The time a GPU gives is used to the full
    without guessing an epoch count that a slower or busier machine would cut off mid-schedule."""

    def __init__(self, peak: float, warmup_epochs: float, epochs: int, seconds: float):
        super().__init__()
        self.peak, self.warmup, self.planned, self.seconds = peak, max(warmup_epochs, 0.0), epochs, seconds
        self.max_epochs = epochs
        self.t0 = time.time()
        self.durations: list[float] = []
        self._t = None

    def lr_at(self, epoch: int) -> float:
        if epoch < self.warmup:
            return self.peak * (epoch + 1) / (self.warmup + 1)
        span = max(1.0, self.planned - self.warmup)
        return 0.5 * self.peak * (1 + np.cos(np.pi * min(1.0, (epoch - self.warmup) / span)))

    def on_epoch_begin(self, epoch, logs=None):
        if len(self.durations) >= 3:  # the first two may hold compilations (training, then validation)
            per = float(np.median(self.durations[2:][-8:]))
            left = self.seconds - (time.time() - self.t0)
            self.planned = min(self.max_epochs, epoch + max(1, int(left / per)))
        self.model.optimizer.learning_rate = float(self.lr_at(epoch))
        self._t = time.time()

    def on_epoch_end(self, epoch, logs=None):
        self.durations.append(time.time() - self._t)
        if logs is not None:
            logs["lr"] = float(self.lr_at(epoch))
            logs["planned_epochs"] = self.planned
        if epoch + 1 >= self.planned:
            self.model.stop_training = True


class Saver(keras.callbacks.Callback):
    """Keras callback: after each epoch, score the served network on val, append to history.csv,
    save last.keras + state.json, and on a new best val accuracy save best.keras (no optimizer
    state) with its model card."""

    def __init__(self, out: Path, config: dict, state: dict, x_val, y_val):
        super().__init__()
        self.out, self.config, self.state = out, config, dict(state)
        step = config.get("contrast", "none")
        # the faces a gallery gives too (issue 31's measures): val shrunk to CALL_SIDE px, and also
        # compressed there as a call does
        self.xsmall = contrast.apply(shrink(x_val, CALL_SIDE), step)[..., None].astype(np.float32)
        self.xcall = contrast.apply(shrink(x_val, CALL_SIDE, CALL_JPEG), step)[..., None].astype(np.float32)
        x_val = contrast.apply(x_val, step)
        self.xv, self.y_val = x_val[..., None].astype(np.float32), y_val
        self.t0 = time.time()

    def on_epoch_end(self, epoch, logs=None):
        out, y_val = self.out, self.y_val
        served = student_of(self.model)
        probs = served.predict(self.xv, batch_size=512, verbose=0)
        report = classification_report(y_val, probs)
        val_loss = float(-np.log(np.clip(probs[np.arange(len(y_val)), y_val], 1e-7, 1)).mean())
        acc = report["accuracy"]
        held = calibrate.calibrate(probs, y_val, refit=False)["held_out"]
        small = served.predict(self.xsmall, batch_size=512, verbose=0)
        call = served.predict(self.xcall, batch_size=512, verbose=0)
        row = {"epoch": epoch + 1, **{k: round(float(v), 5) for k, v in (logs or {}).items()},
               "val_loss": round(val_loss, 5), "val_accuracy": acc, "val_macro_f1": report["macro_f1"],
               "val_ece": held["ece_before"], "val_ece_calibrated": held["ece_after"],
               "val_ece_mapped": held["ece_after_map"], "val_neutral_negative": neutral_negative(probs, y_val),
               f"val_accuracy_{CALL_SIDE}px": round(float(np.mean(small.argmax(1) == y_val)), 4),
               f"val_neutral_negative_{CALL_SIDE}px": neutral_negative(small, y_val),
               f"val_accuracy_{CALL_SIDE}px_q{CALL_JPEG}": round(float(np.mean(call.argmax(1) == y_val)), 4),
               f"val_neutral_negative_{CALL_SIDE}px_q{CALL_JPEG}": neutral_negative(call, y_val),
               "seconds": round(time.time() - self.t0, 1)}
        print(" ".join(f"{k}={v}" for k, v in row.items()), flush=True)
        try:
            append_history(out / "history.csv", row)
        except (OSError, ValueError) as e:  # a log: training goes on without it
            print(f"history.csv not written: {e}", file=sys.stderr, flush=True)
        self.t0 = time.time()
        if acc > self.state["best_val_accuracy"]:
            self.state.update(best_val_accuracy=acc, best_epoch=epoch + 1)
            export_serving(served, out / "best.keras", self.config, epoch + 1, report)
        self.state["epoch"] = epoch + 1
        if (epoch + 1) % self.config["save_every"] == 0 or epoch + 1 == self.config["epochs"]:
            self.model.save(out / "last.tmp.keras")
            os.replace(out / "last.tmp.keras", out / "last.keras")
            (out / "state.json").write_text(json.dumps(self.state) + "\n")


def append_history(path: Path, row: dict) -> None:
    """Append `row` to the CSV at `path`. A file written by an older version (a run resumed after an
    update) whose header lacks some of the row's columns is rewritten first with them added, its
    old rows left empty there, so every row lines up with the header."""
    import csv

    columns = list(row)
    if path.exists():
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            header = list(reader.fieldnames or [])
            old = list(reader)
        for i, r in enumerate(old):
            extra = r.pop(None, None)  # a row longer than the header: appended by a newer version
            if extra:
                values = [r[h] for h in header] + extra
                old[i] = dict(zip(row, values)) if len(values) == len(row) else r
        missing = [c for c in columns if c not in header]
        columns = header + missing
        if missing:
            tmp = path.with_suffix(".tmp.csv")
            with open(tmp, "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=columns, restval="", lineterminator="\n")
                w.writeheader()
                w.writerows(old)
            os.replace(tmp, path)
    else:
        with open(path, "w", newline="") as f:
            csv.DictWriter(f, fieldnames=columns, lineterminator="\n").writeheader()
    with open(path, "a", newline="") as f:
        csv.DictWriter(f, fieldnames=columns, restval="", lineterminator="\n").writerow(row)


def export_serving(model, path: Path, config: dict, epoch: int, report: dict) -> None:
    """Save `model` without optimizer state to `path`, with a model card holding its val metrics."""
    # A fresh, uncompiled, all-float32 copy: saving it leaves the optimizer state (3x the weights)
    # behind, and a network trained in mixed precision is served in float32 (CPUs lack bfloat16).
    serving = keras.Model.from_config(float32_config(model.get_config()), custom_objects=custom_objects())
    serving.set_weights(model.get_weights())
    tmp = path.with_suffix(".tmp.keras")
    serving.save(tmp)
    os.replace(tmp, path)
    model_card(config, epoch, report).write(path)


def float32_config(config):
    """`config` with every layer's dtype policy set to float32 (weights are float32 either way)."""
    if isinstance(config, dict):
        if config.get("class_name") == "DTypePolicy":
            return {**config, "config": {**config.get("config", {}), "name": "float32"}}
        return {k: float32_config(v) for k, v in config.items()}
    if isinstance(config, list):
        return [float32_config(v) for v in config]
    return config


def model_card(config: dict, epoch: int, report: dict) -> ModelCard:
    optimizer = ("SGD with Nesterov momentum" if config.get("optimizer") == "sgd" else "AdamW")
    loss = "label-smoothed cross-entropy"
    labels = "the FER2013 label" + (f" mixed {config['votes_mix']} with the FER+ vote distribution"
                                    if config.get("votes_mix") else "")
    if config.get("teacher_file"):
        loss = (f"cross-entropy with {config['kd_alpha']} x {labels} + {round(1 - config['kd_alpha'], 4)} x "
                f"the saved teachers' answers on the view drawn (softened at T={config['kd_temperature']})")
    elif config.get("votes_mix"):
        loss = f"label-smoothed cross-entropy with {labels}"
    if config.get("teachers"):
        views = "the batch" + (", zoomed" if config.get("teacher_zoom") else "") + \
            (", mirrored" if config.get("teacher_flip", True) else "")
        loss = (f"distillation: {config['kd_alpha']} x cross-entropy with the labels + "
                f"{round(1 - config['kd_alpha'], 4)} x T^2 KL to the teachers' mean over views ({views}) at "
                f"T={config['kd_temperature']}")
    return ModelCard(
        name="classmood-fer",
        classes=list(EMOTIONS),
        input={"shape": [48, 48, 1], "dtype": "uint8 grayscale pixels 0-255 (float32 accepted)",
               "layout": "NHWC", "contrast": config.get("contrast", "none")},
        preprocessing="crop the face square and loosely (FER2013 framing), convert to gray, resize to "
                      "48x48, then the contrast step named in input.contrast (model.contrast); the "
                      "model standardises each face ((x - mean) / std) in its first layer",
        data={"name": "FER2013", "train": "Training split", "select": "PublicTest (val) split",
              "file": config.get("data"), "train_size": config.get("train_size"),
              "val_size": config.get("val_size")},
        recipe={k: config.get(k) for k in RECIPE_KEYS if k in config},
        optimizer=f"{optimizer}, linear warmup then cosine decay; {loss}",
        seed=config.get("seed"),
        epochs=config.get("epochs"),
        best_epoch=epoch,
        command=config.get("command"),
        val=report,
        date=dt.date.today().isoformat(),
    )
