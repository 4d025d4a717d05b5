"""FER2013 loaders for the three layouts users have, with the label order pinned to `EMOTIONS`.

- our npz (`x_train`, `y_train`, `x_val`, `y_val`, optional `x_test`, `y_test`),
- Kaggle's `fer2013.csv` (`emotion,pixels,Usage` with Usage Training / PublicTest / PrivateTest),
- image folders `train/<class>/*.jpg` and `test/<class>/*.jpg` (also `val/`), class folders named
  after the emotions. Folder labels are mapped through `EMOTIONS` by name, never by sorted order;
  the other expression datasets' spellings (anger, happiness, sadness...) are accepted, and folders
  of classes we do not have (contempt; FER+'s unknown and not-a-face) are skipped with a warning.
  Images that are photos rather than face crops (a head and shoulders, a background: KDEF, JAFFE,
  CK+'s frames) can be framed the way the product frames a face (`faces="detect"` or `"auto"`:
  the largest face found, cropped like FER2013 by `model.crop.crop_faces`).

Every loader returns a `Dataset`: a dict of split name ("train", "val", "test"; "all" for a folder of
class folders with no split folders) to `(x, y)` with
`x` uint8 `(N, 48, 48)` and `y` uint8 `(N,)`. The FER+ votes (ten annotators a face) and each face's
row in Kaggle's `fer2013.csv`, where an npz carries them, have their own accessors: `load_votes`,
`load_rows`; `vote_distribution` and `ferplus_plurality` turn votes into targets and labels.
"""

from __future__ import annotations

import csv
import logging
import os
from pathlib import Path

import numpy as np

from model import EMOTIONS
from model.crop import crop_faces, fer_square
from model.detector import FaceDetector

Split = tuple[np.ndarray, np.ndarray]
Dataset = dict[str, Split]

# Other spellings seen in expression datasets, mapped onto EMOTIONS (FER+ and RAF-DB style names).
_ALIASES = {
    "anger": "angry", "disgusted": "disgust", "fearful": "fear", "happiness": "happy",
    "sadness": "sad", "surprised": "surprise",
}
# Classes of other datasets with no counterpart among ours: their folders are skipped, not refused.
_NOT_OURS = {"contempt", "unknown", "nf", "not_face", "not-a-face", "notface"}
_CSV_SPLITS = {"training": "train", "publictest": "val", "privatetest": "test"}
_FOLDER_SPLITS = {"train": "train", "training": "train", "val": "val", "validation": "val",
                  "publictest": "val", "test": "test", "privatetest": "test"}
_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".pgm", ".tif", ".tiff", ".webp"}
SIDE = 48

DEFAULT_NAME = "fer2013_original_trainval.npz"  # FER2013's original pixels, with FER+ votes
DEFAULT_SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "fer2013" / DEFAULT_NAME
# FER+'s vote columns (its order, not ours) and where each of our classes is among them; contempt,
# unknown and not-a-face (NF) have no class of ours.
VOTE_COLUMNS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt",
                "unknown", "NF")


log = logging.getLogger(__name__)
_NPZ_ERRORS = (OSError, ValueError, EOFError)  # what numpy raises for a file that is no npz (EOF: empty)


class DatasetError(ValueError):
    """The data is missing or not in a layout we understand; the message says which file and why."""


def label_index(name: str) -> int:
    """Index of a class name in `EMOTIONS` (case-insensitive, common aliases accepted)."""
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    try:
        return EMOTIONS.index(key)
    except ValueError:
        raise DatasetError(f"unknown expression class {name!r}; expected one of {', '.join(EMOTIONS)}") from None


def default_fer2013_path() -> Path | None:
    """The FER2013 npz named by `$CLASSMOOD_FER2013`, else `../shared/data/fer2013` beside the repo."""
    env = os.environ.get("CLASSMOOD_FER2013")
    if env:
        p = Path(env)
        return p if p.exists() else None
    return DEFAULT_SHARED if DEFAULT_SHARED.exists() else None


def load_val(path: str | os.PathLike | None, purpose: str) -> tuple[np.ndarray, np.ndarray, Path]:
    """FER2013 val (PublicTest) `(x, y, path)` from `path`, else the default file; `purpose` says
    what needs it in the DatasetError raised when there is no such data or no val split."""
    p = Path(path) if path else default_fer2013_path()
    if p is None:
        raise DatasetError(f"{purpose} needs FER2013 val: pass --data or set CLASSMOOD_FER2013")
    splits = load_dataset(p)
    if "val" not in splits:
        raise DatasetError(f"{p}: no val (PublicTest) split for {purpose}")
    x, y = splits["val"]
    return x, y, p


def load_dataset(path: str | os.PathLike, faces: str = "as-is", framing: dict[str, int] | None = None) -> Dataset:
    """Load any supported layout, chosen by what `path` is; `faces` and `framing` apply to image
    folders (see `load_folders`)."""
    p = Path(path)
    if not p.exists():
        raise DatasetError(f"{p}: no such file or folder")
    if p.is_dir():
        return load_folders(p, faces, framing)
    if p.suffix == ".npz":
        return load_npz(p)
    if p.suffix == ".csv":
        return load_csv(p)
    raise DatasetError(f"{p}: expected an .npz file, a FER2013 .csv file or an image folder")


def load_npz(path: str | os.PathLike) -> Dataset:
    p = Path(path)
    try:
        with np.load(p, allow_pickle=False) as d:
            files = set(d.files)
            out = {}
            for split in ("train", "val", "test"):
                if f"x_{split}" in files and f"y_{split}" in files:
                    out[split] = (_check_x(d[f"x_{split}"], p), _check_y(d[f"y_{split}"], p))
            if "classes" in files and tuple(str(c) for c in d["classes"]) != EMOTIONS:
                raise DatasetError(f"{p}: class order {list(d['classes'])} differs from {list(EMOTIONS)}")
    except _NPZ_ERRORS as e:
        if isinstance(e, DatasetError):
            raise
        raise DatasetError(f"{p}: not a readable npz file ({e})") from e
    if not out:
        raise DatasetError(f"{p}: no x_train/y_train, x_val/y_val or x_test/y_test arrays")
    return out


def load_votes(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The FER+ votes of an npz, split name -> uint8 `(N, 10)` in `VOTE_COLUMNS` order, rows aligned
    with `load_npz`'s faces; {} when the file has none."""
    return _load_extra(path, "votes", lambda a, p: _check_votes(a, p))


def load_rows(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Each face's row in Kaggle's `fer2013.csv` (int64, the key of saved teacher answers), split
    name -> `(N,)`; {} when the file has none."""
    return _load_extra(path, "row", lambda a, p: np.asarray(a).reshape(-1).astype(np.int64))


def vote_distribution(votes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """FER+ votes `(N, 10)` as a distribution over `EMOTIONS` `(N, 7)` float32, and a mask of the faces
    that have any vote for one of our classes. Votes for contempt, unknown and not-a-face are
    dropped and the rest renormalised; a face with no vote left gets all zeros (mask False)."""
    votes = np.asarray(votes, dtype=np.float32)
    ours = votes[:, [VOTE_COLUMNS.index(c) for c in _VOTE_NAMES]]
    total = ours.sum(axis=1, keepdims=True)
    valid = total[:, 0] > 0
    return np.where(valid[:, None], ours / np.maximum(total, 1), 0).astype(np.float32), valid


def ferplus_plurality(votes: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The FER+ plurality label of each face `(N,)` and a mask of the faces that have one.

    The emotion with the most votes among our seven; faces whose most-voted column (of all ten) is
    contempt, unknown or not-a-face have none; on a tie the FER2013 label `y` wins where it is among
    the tied, else the first tied emotion in `EMOTIONS` order."""
    votes = np.asarray(votes, dtype=np.int64)
    y = np.asarray(y).reshape(-1)
    ours = votes[:, [VOTE_COLUMNS.index(c) for c in _VOTE_NAMES]]
    top = ours.max(axis=1)
    valid = (top > 0) & (top >= votes.max(axis=1))
    tied = ours == top[:, None]
    label = np.where(tied[np.arange(len(y)), y], y, np.argmax(tied, axis=1))
    return label.astype(np.uint8), valid


def load_csv(path: str | os.PathLike) -> Dataset:
    """Kaggle's fer2013.csv: `emotion` (0-6, FER2013 order), `pixels` (2304 space-separated), `Usage`."""
    p = Path(path)
    xs: dict[str, list[np.ndarray]] = {}
    ys: dict[str, list[int]] = {}
    with open(p, newline="") as f:
        reader = csv.DictReader(f)
        fields = {k.strip().lower(): k for k in (reader.fieldnames or [])}
        if not {"emotion", "pixels"} <= fields.keys():
            raise DatasetError(f"{p}: expected columns emotion,pixels[,Usage]; found {reader.fieldnames}")
        for line, row in enumerate(reader, start=2):
            usage = row.get(fields.get("usage", ""), "Training") or "Training"
            split = _CSV_SPLITS.get(usage.strip().lower())
            if split is None:
                raise DatasetError(f"{p}:{line}: unknown Usage {usage!r}")
            pixels = np.array(row[fields["pixels"]].split(), dtype=np.int32)
            if pixels.size != SIDE * SIDE or pixels.min() < 0 or pixels.max() > 255:
                raise DatasetError(f"{p}:{line}: expected {SIDE * SIDE} pixel values in 0-255, got {pixels.size}")
            label = int(row[fields["emotion"]])
            if not 0 <= label < len(EMOTIONS):
                raise DatasetError(f"{p}:{line}: emotion {label} outside 0-{len(EMOTIONS) - 1}")
            xs.setdefault(split, []).append(pixels.astype(np.uint8).reshape(SIDE, SIDE))
            ys.setdefault(split, []).append(label)
    if not xs:
        raise DatasetError(f"{p}: no rows")
    return {s: (np.stack(xs[s]), np.asarray(ys[s], dtype=np.uint8)) for s in xs}


FACES = ("as-is", "detect", "auto")
# "auto" takes an image this small (shorter side) as a face crop already: FER2013, CK+48, ...
AUTO_MIN_SIDE = 2 * SIDE
# ... and a larger one too where the FER-style crop of its largest face would span at least this
# share of its shorter side (a face crop at a higher resolution: RAF-DB's aligned 100 px faces,
# AffectNet's crops), so that a tight crop is never padded out by edge replication.
AUTO_FRAMED = 0.85
DETECT_SIDE = 640  # images are looked at with their longer side at most this (YuNet's sweet spot)


def load_folders(root: str | os.PathLike, faces: str = "as-is", framing: dict[str, int] | None = None) -> Dataset:
    """`root/<split>/<class>/*.jpg`; a root that directly holds class folders (another expression
    dataset, say) is one split named "all".

    `faces` says how an image becomes a 48x48 face: "as-is" resizes the whole image (FER2013's own
    crops); "detect" crops every image's largest detected face the way the product crops faces in a
    meeting (`model.crop.crop_faces`, FER2013's framing), keeping the whole image where no face is
    found; "auto" does that only for images larger than `AUTO_MIN_SIDE` whose face is framed more
    loosely than FER2013 frames it. `framing`, where given, counts what happened: "as_is",
    "cropped" and "no_face" (images that were looked at and showed no face)."""
    import cv2

    if faces not in FACES:
        raise ValueError(f"faces must be one of {', '.join(FACES)}, got {faces!r}")
    root = Path(root)
    split_dirs = {_FOLDER_SPLITS[d.name.lower()]: d for d in sorted(root.iterdir())
                  if d.is_dir() and d.name.lower() in _FOLDER_SPLITS}
    if not split_dirs:
        split_dirs = {"all": root}
    counts = framing if framing is not None else {}
    for k in ("as_is", "cropped", "no_face"):
        counts.setdefault(k, 0)
    framer = _FaceFramer(faces, counts)
    out: Dataset = {}
    try:
        for split, sdir in split_dirs.items():
            xs, ys = [], []
            for cdir in sorted(d for d in sdir.iterdir() if d.is_dir()):
                if cdir.name.strip().lower() in _NOT_OURS:
                    n = sum(1 for f in cdir.rglob("*") if f.suffix.lower() in _IMAGE_SUFFIXES)
                    log.warning("%s: %d images skipped: %r is not one of the seven classes (%s)", cdir, n,
                                cdir.name, ", ".join(EMOTIONS))
                    continue
                label = label_index(cdir.name)
                for f in sorted(cdir.rglob("*")):
                    if f.suffix.lower() not in _IMAGE_SUFFIXES:
                        continue
                    img = cv2.imread(str(f), cv2.IMREAD_GRAYSCALE)
                    if img is None or img.size == 0:
                        raise DatasetError(f"{f}: not a readable image")
                    xs.append(framer.add(img))
                    ys.append(label)
            if xs:
                out[split] = (np.stack(framer.finish(xs)), np.asarray(ys, dtype=np.uint8))
    finally:
        framer.close()
    if not out:
        raise DatasetError(f"{root}: no images under <split>/<class>/ folders named after {', '.join(EMOTIONS)}")
    if counts["cropped"] or counts["no_face"]:
        log.info("%s: %d faces cropped from detections, %d images taken whole (%d of them showed no face)",
                 root, counts["cropped"], counts["as_is"], counts["no_face"])
    return out


def _resized(img: np.ndarray) -> np.ndarray:
    import cv2

    return img if img.shape == (SIDE, SIDE) else cv2.resize(img, (SIDE, SIDE), interpolation=cv2.INTER_AREA)


class _FaceFramer:
    """Turns images into 48x48 faces for `load_folders`: `add` returns the face now, or a
    placeholder index where the image waits for detection, which runs in batches on the detector's
    workers; `finish` swaps the placeholders for the faces."""

    BATCH = 32

    def __init__(self, faces: str, counts: dict[str, int]):
        self.faces, self.counts = faces, counts
        self.detector = None
        self.pending: list[np.ndarray] = []
        self.done: list[np.ndarray] = []

    def add(self, img: np.ndarray):
        h, w = img.shape
        if self.faces == "as-is" or (self.faces == "auto" and min(h, w) <= AUTO_MIN_SIDE):
            self.counts["as_is"] += 1
            return _resized(img)
        self.pending.append(img)
        if len(self.pending) >= self.BATCH:
            self._run()
        return len(self.done) + len(self.pending) - 1

    def finish(self, xs: list) -> list[np.ndarray]:
        self._run()
        return [self.done[v] if isinstance(v, int) else v for v in xs]

    def close(self) -> None:
        if self.detector is not None:
            self.detector.close()
            self.detector = None

    def _run(self) -> None:
        if not self.pending:
            return

        if self.detector is None:
            self.detector = FaceDetector(min_confidence=0.5)
        jobs = [(img, min(1.0, DETECT_SIDE / max(img.shape))) for img in self.pending]
        for img, found in zip(self.pending, self.detector.detect_many(jobs)):
            face = max(found, key=lambda d: d.box[2] * d.box[3], default=None)
            if face is None:
                self.counts["no_face"] += 1
            elif self.faces == "detect" or fer_square(face.box)[2] < AUTO_FRAMED * min(img.shape):
                self.counts["cropped"] += 1
                self.done.append(crop_faces(img, [face.box])[0])
                continue
            self.counts["as_is"] += 1
            self.done.append(_resized(img))
        self.pending = []


def stratified_sample(y: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Indices of a seeded sample of about `n` items keeping class proportions (at least one per class
    present), returned shuffled. FER2013's arrays are sorted by class: never take `[:n]`."""
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    if n >= len(y):
        return rng.permutation(len(y))
    classes, counts = np.unique(y, return_counts=True)
    quota = np.maximum(1, np.round(counts * n / len(y)).astype(int))
    picks = [rng.choice(np.flatnonzero(y == c), size=min(q, cnt), replace=False)
             for c, q, cnt in zip(classes, quota, counts)]
    return rng.permutation(np.concatenate(picks))


_VOTE_NAMES = ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral")  # EMOTIONS order


def _load_extra(path, prefix: str, check) -> dict[str, np.ndarray]:
    p = Path(path)
    if p.suffix != ".npz":
        return {}
    try:
        with np.load(p, allow_pickle=False) as d:
            if "vote_columns" in d.files and prefix == "votes" and \
                    tuple(str(c) for c in d["vote_columns"]) != VOTE_COLUMNS:
                raise DatasetError(f"{p}: vote columns {list(d['vote_columns'])} differ from {list(VOTE_COLUMNS)}")
            out = {s: check(d[f"{prefix}_{s}"], p) for s in ("train", "val", "test") if f"{prefix}_{s}" in d.files}
            for s, a in out.items():
                if f"y_{s}" in d.files and len(a) != len(d[f"y_{s}"]):
                    raise DatasetError(f"{p}: {prefix}_{s} has {len(a)} rows, y_{s} {len(d[f'y_{s}'])}")
            return out
    except _NPZ_ERRORS as e:
        if isinstance(e, DatasetError):
            raise
        raise DatasetError(f"{p}: not a readable npz file ({e})") from e


def _check_votes(v: np.ndarray, p: Path) -> np.ndarray:
    v = np.asarray(v)
    if v.ndim != 2 or v.shape[1] != len(VOTE_COLUMNS) or (v.size and v.min() < 0):
        raise DatasetError(f"{p}: votes must be (N, {len(VOTE_COLUMNS)}) non-negative counts, got {v.shape}")
    return v.astype(np.uint8)


def _check_x(x: np.ndarray, p: Path) -> np.ndarray:
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim != 3 or x.shape[1:] != (SIDE, SIDE):
        raise DatasetError(f"{p}: images must be (N, {SIDE}, {SIDE}), got {x.shape}")
    return x.astype(np.uint8, copy=False)


def _check_y(y: np.ndarray, p: Path) -> np.ndarray:
    y = np.asarray(y).reshape(-1)
    if y.size and (y.min() < 0 or y.max() >= len(EMOTIONS)):
        raise DatasetError(f"{p}: labels must lie in 0-{len(EMOTIONS) - 1}")
    return y.astype(np.uint8)
