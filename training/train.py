"""`classmood-train`: train the expression CNN on FER2013, resumably, alone or distilled from teachers.

Selects on the validation split (PublicTest) only. Writes into `--out`:
  config.json   the resolved configuration (every option, the data file, versions), to rerun it
  last.keras    the latest state, optimizer included, for `--resume`
  best.keras    the best served network by val accuracy, without optimizer state (the serving file)
  best.json     its model card (sha256, recipe, command, val metrics)
  history.csv   one row per epoch
With `--teachers A.keras B.keras ...` the network is a student: it learns from the labels and from
the frozen teachers' flip-averaged ensemble on the same augmented batch (see training/distill.py).
With `--teacher-file training/teachers/NAME.npz` it learns from teachers' saved answers instead (no
teacher runs: a CPU is enough); `--votes-mix` mixes the FER+ votes into the labels.
Runs on Keras 3 with whatever backend KERAS_BACKEND names (TensorFlow on CPU, JAX on GPU).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import shlex
import sys
from pathlib import Path

import numpy as np

from model import EMOTIONS
from model.card import ModelCard, sha256_file
from model.contrast import CONTRASTS
from model.network import custom_objects, make_model
from training import distill  # registers the distiller's layers and loss (for --resume too)
from training.augment import AugmentConfig
from training.data import (
    FACES,
    DatasetError,
    default_fer2013_path,
    load_dataset,
    load_rows,
    load_votes,
    stratified_sample,
    vote_distribution,
)
from training.loop import Batches, Saver, TimedCosine
from training.teachers import load_teacher_file


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="classmood-train", description=__doc__.split("\n")[0])
    ap.add_argument("--data", help="FER2013 npz, csv or image folder (default: $CLASSMOOD_FER2013 "
                                   "or ../shared/data/fer2013/fer2013_original_trainval.npz)")
    ap.add_argument("--faces", choices=FACES, default="auto",
                    help="image folders: how an image becomes a face (as in classmood-evaluate: auto crops "
                         "the face out of photos larger than 96 px, keeps face crops whole)")
    ap.add_argument("--out", default="runs/train", help="output folder (default: runs/train)")
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--optimizer", choices=("adamw", "sgd"), default="adamw",
                    help="AdamW, or SGD with Nesterov momentum; both warm up then decay on a cosine")
    ap.add_argument("--lr", type=float, default=2e-3, help="peak learning rate")
    ap.add_argument("--momentum", type=float, default=0.9, help="SGD momentum")
    ap.add_argument("--weight-decay", type=float, default=5e-4)
    ap.add_argument("--warmup-epochs", type=float, default=2.0)
    ap.add_argument("--label-smoothing", type=float, default=0.1)
    ap.add_argument("--width", type=int, default=32, help="channels of the first stage")
    ap.add_argument("--blocks", type=int, default=4)
    ap.add_argument("--convs", type=int, default=2, help="3x3 convolutions per stage")
    ap.add_argument("--dropout", type=float, default=0.4)
    ap.add_argument("--mixup", type=float, default=0.0, help="fraction of faces blended with another")
    ap.add_argument("--mixup-alpha", type=float, default=0.4, help="Beta(alpha, alpha) blend weights")
    ap.add_argument("--teachers", nargs="+", default=[], metavar="KERAS",
                    help="distil from these frozen models (their flip-averaged mean)")
    ap.add_argument("--kd-alpha", type=float, default=0.2, help="weight of the labels; 1 - alpha on the teachers")
    ap.add_argument("--kd-temperature", type=float, default=2.0)
    ap.add_argument("--no-teacher-flip", dest="teacher_flip", action="store_false",
                    help="teachers see only the batch, not also its mirror image")
    ap.add_argument("--teacher-zoom", type=float, default=0.0, metavar="FACTOR",
                    help="teachers also see the batch zoomed in by FACTOR (and its mirror): with 1.08, "
                         "the student learns the mean of the served test-time views")
    ap.add_argument("--votes-mix", type=float, default=0.0, metavar="BETA",
                    help="targets (1 - BETA) x the FER2013 label + BETA x the FER+ vote distribution "
                         "(contempt, unknown, not-a-face dropped; faces without votes keep their label)")
    ap.add_argument("--teacher-file", metavar="NPZ",
                    help="distil from saved teachers' answers (training/teachers/*.npz, made by "
                         "python -m training.teachers): each face in one of the file's views")
    ap.add_argument("--erase", type=float, default=0.25,
                    help="with --teacher-file: probability of random erasing on top of the view")
    ap.add_argument("--low-res", type=float, default=0.0, metavar="P",
                    help="share of training faces shrunk to 14-40 px and enlarged back (a small gallery "
                         "tile's face), their targets unchanged")
    ap.add_argument("--meeting", type=float, default=0.0, metavar="P",
                    help="share of training faces put through what a video call and our detector do (the "
                         "detector's framing, light, shrunk to 14-48 px, defocus or motion blur, JPEG at quality "
                         "10-60 or H.264 at CRF 28-44, enlarged back; training.augment.meeting_batch), their "
                         "targets unchanged")
    ap.add_argument("--meeting-codec", choices=("both", "jpeg"), default="both",
                    help="the codec of --meeting's faces: half JPEG and half H.264 (PyAV), or JPEG alone "
                         "(a machine without PyAV, such as a GPU machine with only the Keras wheels)")
    ap.add_argument("--contrast", choices=CONTRASTS, default="none",
                    help="contrast step before the network, in training, validation and serving "
                         "(model.contrast; recorded in the card)")
    ap.add_argument("--time-limit", type=float, default=0.0, metavar="SECONDS",
                    help="plan a per-epoch cosine schedule over as many epochs as fit in SECONDS "
                         "(at most --epochs) and stop at its end")
    ap.add_argument("--init", metavar="KERAS",
                    help="start from this model's weights (same width, blocks and convs), e.g. to fine-tune")
    ap.add_argument("--freeze-bn", action="store_true",
                    help="with --init: keep its batch-normalisation layers as they are (their averages and "
                         "scales), so that augmented faces in a fine-tune do not move the statistics sharp "
                         "faces are read with")
    ap.add_argument("--mixed-precision", action="store_true",
                    help="compute in bfloat16 with float32 weights (GPU); best.keras is saved in float32")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=1, help="threads preparing batches")
    ap.add_argument("--limit", type=int, default=0, help="train on a stratified sample of this many faces")
    ap.add_argument("--val-limit", type=int, default=0, help="validate on a stratified sample")
    ap.add_argument("--steps", type=int, default=0, help="stop each epoch after this many steps (smoke runs)")
    ap.add_argument("--no-augment", action="store_true")
    ap.add_argument("--save-every", type=int, default=1, metavar="N",
                    help="save last.keras (for --resume) every N epochs and after the last")
    ap.add_argument("--resume", action="store_true", help="continue from OUT/last.keras")
    args = ap.parse_args(argv)
    if not 0.0 <= args.low_res <= 1.0:
        ap.error(f"--low-res is a share of faces, 0-1, not {args.low_res}")
    if not 0.0 <= args.meeting <= 1.0:
        ap.error(f"--meeting is a share of faces, 0-1, not {args.meeting}")
    if args.meeting and args.meeting_codec == "both" and importlib.util.find_spec("av") is None:
        ap.error("--meeting puts half its faces through H.264, which needs PyAV: pip install av "
                 "(or --meeting-codec jpeg)")
    return args


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
    missing = [t for t in args.teachers if not Path(t).is_file()]
    if missing:
        raise DatasetError(f"teacher model not found: {', '.join(missing)}")
    if args.init and not Path(args.init).is_file():
        raise DatasetError(f"--init model not found: {args.init}")
    if args.freeze_bn and not args.init:
        raise DatasetError("--freeze-bn keeps a starting model's batch normalisation: it needs --init")
    if args.teachers and args.teacher_file:
        raise DatasetError("--teachers and --teacher-file exclude each other")
    if not 0 <= args.votes_mix <= 1 or not 0 <= args.kd_alpha <= 1:
        raise DatasetError("--votes-mix and --kd-alpha must lie in [0, 1]")
    data = load_dataset(data_path, faces=args.faces)
    if "train" not in data or "val" not in data:
        raise DatasetError(f"{data_path}: need both a training and a validation (PublicTest) split")
    x_train, y_train = data["train"]
    x_val, y_val = data["val"]
    targets, teacher, rows = _targets(args, data_path, y_train)
    if args.limit:
        idx = stratified_sample(y_train, args.limit, seed=args.seed)
        x_train, y_train, targets = x_train[idx], y_train[idx], targets[idx]
        if teacher is not None:
            teacher, rows = teacher[:, idx], rows[idx]
    if args.val_limit:
        idx = stratified_sample(y_val, args.val_limit, seed=args.seed)
        x_val, y_val = x_val[idx], y_val[idx]

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PYTHONHASHSEED", str(args.seed))

    import keras

    keras.utils.set_random_seed(args.seed)
    if args.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    config = {k: v for k, v in vars(args).items() if k != "resume"}
    config.update(data=str(data_path.resolve()), train_size=int(len(y_train)), val_size=int(len(y_val)),
                  classes=list(EMOTIONS), backend=keras.backend.backend(), keras=keras.__version__,
                  augment=None if args.no_augment else dataclasses.asdict(AugmentConfig()),
                  command="classmood-train " + " ".join(shlex.quote(a) for a in argv))
    if args.teachers:
        config["teachers"] = [_teacher_summary(t) for t in args.teachers]
    if args.teacher_file:
        config["teacher_file"] = _teacher_file_summary(args.teacher_file)
    state_path, last_path = out / "state.json", out / "last.keras"
    state = {"epoch": 0, "best_val_accuracy": -1.0, "best_epoch": None}
    if args.resume and last_path.exists():
        state = json.loads(state_path.read_text())
        model = keras.saving.load_model(last_path, custom_objects=custom_objects())
        print(f"resuming after epoch {state['epoch']} (best val {state['best_val_accuracy']:.4f})")
    else:
        if args.resume:
            print(f"nothing to resume in {out}: starting afresh")
        model = make_model(width=args.width, blocks=args.blocks, convs=args.convs, dropout=args.dropout,
                           seed=args.seed)
        if args.init:
            _load_weights(model, args.init)
            config["init"] = _teacher_summary(args.init)
            if args.freeze_bn:
                frozen = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
                for layer in frozen:
                    layer.trainable = False  # Keras 3: a frozen BatchNormalization also runs on its averages
                config["freeze_bn"] = len(frozen)
        steps_per_epoch = args.steps or int(np.ceil(len(y_train) / args.batch_size))
        warmup = int(args.warmup_epochs * steps_per_epoch)
        schedule = keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=args.lr / 20, warmup_target=args.lr, warmup_steps=warmup,
            decay_steps=max(1, args.epochs * steps_per_epoch - warmup))
        if args.time_limit:
            schedule = args.lr / 20  # a variable that TimedCosine sets each epoch
        if args.optimizer == "sgd":
            optimizer = keras.optimizers.SGD(schedule, momentum=args.momentum, nesterov=True,
                                             weight_decay=args.weight_decay)
        else:
            optimizer = keras.optimizers.AdamW(schedule, weight_decay=args.weight_decay)
        if args.teachers:
            teachers = [_load_teacher(distill, t, i) for i, t in enumerate(args.teachers)]
            zoom = args.teacher_zoom or None
            config["teacher_ensemble_val_accuracy"] = round(
                distill.teacher_accuracy(teachers, x_val, y_val, flip=args.teacher_flip, zoom=zoom), 4)
            print(f"teacher ensemble val accuracy {config['teacher_ensemble_val_accuracy']:.4f}")
            model = distill.build_distiller(model, teachers, flip=args.teacher_flip, zoom=zoom)
            model.compile(optimizer=optimizer,
                          loss=distill.DistillLoss(args.kd_alpha, args.kd_temperature, args.label_smoothing),
                          metrics=[distill.student_accuracy])
        else:
            model.compile(optimizer=optimizer,
                          loss=keras.losses.CategoricalCrossentropy(label_smoothing=args.label_smoothing),
                          metrics=["accuracy"])
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")

    batches = Batches(x_train, y_train, args.batch_size, seed=args.seed + state["epoch"],
                      augment=not args.no_augment, steps=args.steps, mixup=args.mixup,
                      mixup_alpha=args.mixup_alpha, workers=args.workers, targets=targets,
                      teacher=teacher, rows=rows, kd_alpha=args.kd_alpha, erase=args.erase,
                      contrast=args.contrast, low_res=args.low_res, meeting=args.meeting,
                      meeting_codec=args.meeting_codec)
    saver = Saver(out, config, state, x_val, y_val)
    callbacks = [saver]
    if args.time_limit:  # after the saver, so that an epoch's time includes its validation

        callbacks.append(TimedCosine(args.lr, args.warmup_epochs, args.epochs, args.time_limit))
    model.fit(batches, epochs=args.epochs, initial_epoch=state["epoch"], callbacks=callbacks, verbose=2)
    print(f"best val accuracy {saver.state['best_val_accuracy']:.4f} at epoch {saver.state['best_epoch']}; "
          f"weights in {out / 'best.keras'}")
    return 0


def _targets(args, data_path: Path, y_train: np.ndarray):
    """Training targets (N, 7): the labels, mixed with the FER+ votes by `--votes-mix`; with
    `--teacher-file`, the saved teachers' answers (V, N, 7) aligned to the training faces and the
    faces' rows; else None, None."""
    targets = np.eye(len(EMOTIONS), dtype=np.float32)[y_train]
    if args.votes_mix:
        votes = load_votes(data_path).get("train")
        if votes is None:
            raise DatasetError(f"{data_path}: --votes-mix needs FER+ votes (votes_train), and it has none")
        dist, valid = vote_distribution(votes)
        targets[valid] = (1 - args.votes_mix) * targets[valid] + args.votes_mix * dist[valid]
    if not args.teacher_file:
        return targets, None, None

    rows = load_rows(data_path).get("train")
    if rows is None:
        raise DatasetError(f"{data_path}: --teacher-file needs each face's row (row_train), and it has none")
    probs = load_teacher_file(args.teacher_file, rows)
    if args.kd_temperature != 1:  # soften the saved answers as a temperature on their logits would
        probs = np.power(np.clip(probs, 1e-6, 1), 1 / args.kd_temperature)
        probs /= probs.sum(axis=-1, keepdims=True)
    return targets, probs.astype(np.float32), rows


def _load_teacher(distill, path: str, index: int):
    try:
        teacher = distill.load_teacher(path, index)
    except Exception as e:  # Keras raises ValueError, OSError, zipfile errors... for bad files
        raise DatasetError(f"teacher {path}: not a readable Keras model ({type(e).__name__}: {e})") from e
    if tuple(teacher.input_shape[1:]) != (48, 48, 1) or teacher.output_shape[-1] != len(EMOTIONS):
        raise DatasetError(f"teacher {path}: expected input (48, 48, 1) and {len(EMOTIONS)} outputs, "
                           f"got {teacher.input_shape} -> {teacher.output_shape}")
    return teacher


def _load_weights(model, path: str) -> None:
    import keras

    try:
        source = keras.saving.load_model(path, custom_objects=custom_objects(), compile=False)
        model.set_weights(source.get_weights())
    except Exception as e:  # unreadable file, or another architecture (set_weights: ValueError)
        raise DatasetError(f"--init {path}: cannot start from it ({type(e).__name__}: {e}); it must be "
                           "a readable .keras file of the same --width, --blocks and --convs") from e


def _teacher_file_summary(path: str) -> dict:
    with np.load(path, allow_pickle=False) as d:
        meta = json.loads(str(d["meta"])) if "meta" in d.files else {}
    return {"file": Path(path).name, "sha256": sha256_file(path), "ensemble": meta.get("ensemble"),
            "teachers": len(meta.get("teachers", []))}


def _teacher_summary(path: str) -> dict:
    card = ModelCard.read(path) or ModelCard()
    return {"file": str(Path(path).resolve()), "sha256": sha256_file(path),
            "val_accuracy": card.val.get("accuracy"), "command": card.command}


if __name__ == "__main__":
    raise SystemExit(main())
