"""`EmotionClassifier`: load the bundled (or a given) model once, classify many faces per call.

The `.keras` file is the source of truth; its model card (`model.card.ModelCard`) names the LiteRT
form made from it (`python -m training.litert`: weights int8, activations quantised per face at run
time), which serves through the small `ai-edge-litert` interpreter: neither TensorFlow nor Keras is
imported. Without a usable LiteRT form, the `.keras` file serves through Keras on TensorFlow (the
fallback, with a warning). The card also gives the contrast step before the network, the number of
test-time views served by default and the temperature that calibrates the probabilities.
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from model import contrast as contrast_steps
from model.calibration import (FULL_SIDE, calibrate, check_sharpness_curve, check_size_bands, check_top_label_map,
                               mix_by_size, sharpness, side_from_sharpness, size_anchors)
from model.card import ModelCard, Serving, sha256_bytes, sha256_file
from model.emotions import EMOTIONS, INPUT_SIZE
from model.errors import ModelLoadError
from model.network import read_keras

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_WEIGHTS = WEIGHTS_DIR / "classmood_fer_2026nov_lowres4x32.keras"
BACKENDS = ("auto", "litert", "keras")
# Test-time augmentation (`tta=True`): each face is classified as it is, mirrored, zoomed in 8% and
# zoomed in and mirrored; the four answers are averaged (four times the multiply-adds).
TTA_ZOOM = 1.08
TTA_VIEWS = ("as is", "mirrored", f"zoomed {TTA_ZOOM}x", f"zoomed {TTA_ZOOM}x, mirrored")

log = logging.getLogger(__name__)


class EmotionClassifier:
    """Seven-class facial-expression classifier (FER2013 classes, in `EMOTIONS` order).

    >>> clf = EmotionClassifier.load()
    >>> probs = clf.predict(faces)          # (N, 7) float32, calibrated, rows sum to 1

    `backend` says what serves: "litert" (the card's LiteRT file) or "keras" (TensorFlow).
    """

    def __init__(self, runner, path: Path, card: ModelCard | None = None, backend: str = "litert",
                 tta: bool | None = None):
        self.path = Path(path)
        self.card = card or ModelCard()
        self.backend = backend
        self.tta = bool(self.card.views > 1) if tta is None else bool(tta)
        self.contrast = self.card.contrast
        self.temperature = float(self.card.temperature)
        self.top_label_map = (check_top_label_map(self.card.top_label_map, len(EMOTIONS))
                              if self.card.top_label_map else None)
        self.size_bands = check_size_bands(self.card.size_bands, len(EMOTIONS))
        self._anchors = size_anchors(self.temperature, self.top_label_map, self.size_bands, len(EMOTIONS))
        self.sharpness_curve = check_sharpness_curve(self.card.size_calibration.sharpness)
        self._lock = threading.Lock()
        self._fn = runner

    @classmethod
    def load(cls, path: str | Path | None = None, backend: str = "auto", tta: bool | None = None,
             threads: int | None = None) -> "EmotionClassifier":
        """Read the bundled weights (or `path`), checking the model card's sha256 where there is one.
        Raises `ModelLoadError` naming the file and the reason.

        `backend="auto"` serves the card's LiteRT form where there is a sound one and falls back to
        the `.keras` file on TensorFlow (with a warning) where it is missing or corrupt; "litert"
        insists on it; "keras" never uses it. `tta`: `predict`'s default (None: the card's served
        views). `threads`: CPU threads for LiteRT (default: all this process may use)."""
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, not {backend!r}")
        p = Path(path) if path is not None else DEFAULT_WEIGHTS
        if not p.exists():
            raise ModelLoadError(p, "no such file")
        if not p.is_file():
            raise ModelLoadError(p, "not a file")
        try:
            card = ModelCard.read(p)
        except (OSError, ValueError, TypeError) as e:
            raise ModelLoadError(p, f"model card {p.with_suffix('.json').name} is unreadable ({e})") from e
        if card is None:
            log.warning("%s has no model card (%s) beside it: served without its calibration and without a "
                        "checksum", p, p.with_suffix(".json").name)
        else:
            if card.sha256 and card.sha256 != sha256_file(p):
                raise ModelLoadError(p, "sha256 differs from the model card: the file is corrupt or was replaced")
            if tuple(card.classes) != EMOTIONS:
                raise ModelLoadError(p, f"model card classes {card.classes} differ from {list(EMOTIONS)}")
            if card.contrast not in contrast_steps.CONTRASTS:
                raise ModelLoadError(p, f"model card names an unknown contrast step {card.contrast!r}")
            try:
                if card.top_label_map:
                    check_top_label_map(card.top_label_map, len(EMOTIONS))
                check_size_bands(card.size_bands, len(EMOTIONS))
                check_sharpness_curve(card.size_calibration.sharpness)
            except ValueError as e:
                raise ModelLoadError(p, f"model card: {e}") from e
        litert_error = None
        if backend != "keras":
            try:
                return cls(LiteRTRunner.from_card(p, card, threads), p, card, "litert", tta)
            except ModelLoadError as e:
                if backend == "litert":
                    raise
                if card is not None and card.serving:  # a card without a LiteRT form is no news
                    log.warning("%s; serving the .keras file with TensorFlow instead", e)
                    litert_error = e
        try:
            runner = _keras_runner(p)
        except ModelLoadError as e:
            if litert_error is not None:
                raise ModelLoadError(p, f"{litert_error.reason}, and the fallback failed too: {e.reason}") from e
            raise
        return cls(runner, p, card, "keras", tta)

    @staticmethod
    def preprocess(faces: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """Faces to the model's input: uint8 (N, 48, 48, 1). Accepts a uint8 array (N, 48, 48) or a
        list of crops of any size, each gray (h, w) or BGR (h, w, 3) / BGRA (h, w, 4)."""
        if isinstance(faces, np.ndarray) and faces.ndim == 3 and faces.shape[1:] == (INPUT_SIZE, INPUT_SIZE):
            return _to_uint8(faces)[..., None]
        if isinstance(faces, np.ndarray) and faces.ndim == 4 and faces.shape[1:] == (INPUT_SIZE, INPUT_SIZE, 1):
            return _to_uint8(faces)
        if isinstance(faces, np.ndarray) and faces.ndim not in (3, 4):
            raise ValueError(f"faces: expected (N, 48, 48) or a list of crops, got an array of shape {faces.shape}")
        out = np.empty((len(faces), INPUT_SIZE, INPUT_SIZE, 1), dtype=np.uint8)
        for i, face in enumerate(faces):
            out[i, ..., 0] = _to_gray48(face, i)
        return out

    def predict(self, faces: np.ndarray | Sequence[np.ndarray], tta: bool | None = None,
                calibrated: bool = True, batch_size: int | None = None, sides=None) -> np.ndarray:
        """Probabilities (N, 7) float32 in `EMOTIONS` order, one batched call for all faces (or one
        call per `batch_size` faces: a whole data set without holding all its views at once).

        Faces go through the card's contrast step, then the network in one view (or, with `tta`,
        the mean over `TTA_VIEWS`: four times the work, in the same call); `calibrated` applies the
        card's temperature, then its top-label map where it has one (`model.calibration`: the
        answer stays, its probability is what a face of that class shows that often).

        `sides`: how many pixels across each face was where it was found (its FER2013-style crop's
        side in the frame, `model.crop.fer_square`), for the card's calibration by size: a face
        smaller than `FULL_SIDE` is sure of less, and so is a blurred one (its sharpness gives a
        side too, and the smaller counts). None: a list of crops gives each crop's shorter side,
        an array of 48x48 faces (a data set's) takes the full-size calibration."""
        if sides is None and not isinstance(faces, np.ndarray):
            sides = [min(np.shape(f)[:2]) if np.ndim(f) >= 2 else FULL_SIDE for f in faces]
        if sides is not None and len(sides) != len(faces):
            raise ValueError(f"sides: expected one size a face ({len(faces)}), got {len(sides)}")
        if batch_size is not None and len(faces) > batch_size:
            if batch_size < 1:
                raise ValueError(f"batch_size must be at least 1, got {batch_size}")
            return np.concatenate([self.predict(faces[i:i + batch_size], tta, calibrated,
                                                sides=None if sides is None else sides[i:i + batch_size])
                                   for i in range(0, len(faces), batch_size)])
        x = self.preprocess(faces)
        if sides is not None and self.sharpness_curve is not None and len(x):
            sides = np.minimum(np.asarray(sides, np.float64).reshape(-1),
                               side_from_sharpness(sharpness(x), *self.sharpness_curve))
        x = contrast_steps.apply(x, self.contrast)
        if len(x) == 0:
            return np.zeros((0, len(EMOTIONS)), dtype=np.float32)
        views = tta_views(x) if (self.tta if tta is None else tta) else [x]
        batch = np.concatenate(views).astype(np.float32)
        with self._lock:
            probs = np.asarray(self._fn(batch), dtype=np.float32)
        probs = probs.reshape(len(views), len(x), len(EMOTIONS)).mean(axis=0)
        probs = np.clip(probs, 1e-12, None)
        if calibrated and sides is not None and self.size_bands:
            return mix_by_size(probs, sides, self._anchors).astype(np.float32)
        if calibrated and (self.temperature != 1.0 or self.top_label_map is not None):
            return calibrate(probs, self.temperature, self.top_label_map).astype(np.float32)
        return (probs / probs.sum(axis=1, keepdims=True)).astype(np.float32)

    @property
    def views(self) -> int:
        """Views each face is classified in by default."""
        return len(TTA_VIEWS) if self.tta else 1

    @property
    def multiply_adds(self) -> int | None:
        """Multiply-adds a face as served by default (all views), from the card; None without it."""
        per_view = self.card.multiply_adds.per_view
        return int(per_view) * self.views if per_view else None

    @property
    def val_report(self) -> dict:
        """The card's FER2013 val figures for the way this classifier serves (backend, views);
        {} without them."""
        return self.card.figures(self.backend, self.views)

    def __repr__(self) -> str:
        acc = self.val_report.get("accuracy")
        return (f"EmotionClassifier({self.path.name}, backend={self.backend}, views={self.views}, "
                f"val_accuracy={acc})")


def tta_views(x: np.ndarray) -> list[np.ndarray]:
    """The `TTA_VIEWS` of uint8 faces `(N, 48, 48, 1)`, each the same shape."""
    import cv2

    c = (INPUT_SIZE - 1) / 2
    m = cv2.getRotationMatrix2D((c, c), 0, TTA_ZOOM)
    zoomed = np.stack([cv2.warpAffine(f[..., 0], m, (INPUT_SIZE, INPUT_SIZE), flags=cv2.INTER_LINEAR,
                                      borderMode=cv2.BORDER_REFLECT_101) for f in x])[..., None]
    return [x, x[:, :, ::-1], zoomed, zoomed[:, :, ::-1]]


class LiteRTRunner:
    """The LiteRT form of a model: `runner(x)` maps float32 `(N, 48, 48, 1)` to `(N, outputs)` (7
    for the expression model). Activations are quantised per face, so a face's answer does not
    depend on its batch."""

    def __init__(self, content: bytes, path: Path, threads: int | None = None, outputs: int = len(EMOTIONS),
                 what: str = "expression model"):
        self.path = Path(path)
        interpreter_cls = _interpreter_class()
        if interpreter_cls is None:
            raise ModelLoadError(path, "no LiteRT interpreter here (pip install ai-edge-litert)", what)
        try:
            with warnings.catch_warnings():  # tf.lite.Interpreter warns that it moved to ai_edge_litert
                warnings.simplefilter("ignore")
                self._it = interpreter_cls(model_content=content, num_threads=threads or _cpu_threads())
            self._in = self._it.get_input_details()[0]
            self._out = self._it.get_output_details()[0]
            self._it.allocate_tensors()
        except Exception as e:  # the interpreter raises ValueError/RuntimeError for bad flatbuffers
            raise ModelLoadError(path, f"not a readable LiteRT model ({type(e).__name__}: {e})", what) from e
        shape = tuple(int(v) for v in self._in["shape_signature"][1:])
        if shape != (INPUT_SIZE, INPUT_SIZE, 1) or int(self._out["shape"][-1]) != outputs:
            raise ModelLoadError(path, f"expected input (48, 48, 1) and {outputs} outputs, got {shape} -> "
                                       f"{tuple(self._out['shape'])}", what)
        self._shape = None

    @classmethod
    def from_card(cls, weights: Path, card: ModelCard | None, threads: int | None = None) -> "LiteRTRunner":
        """The LiteRT file the card of `weights` names, checked against the card's sha256."""
        serving = card.serving if card is not None else Serving()
        if not serving.file:
            raise ModelLoadError(weights, "its model card names no LiteRT form")
        f = weights.parent / serving.file
        try:
            content = f.read_bytes()
        except OSError as e:
            raise ModelLoadError(f, f"the LiteRT form is unreadable ({e.strerror or e})") from e
        if serving.sha256 and serving.sha256 != sha256_bytes(content):
            raise ModelLoadError(f, "sha256 differs from the model card: the file is corrupt or was replaced")
        return cls(content, f, threads)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if x.shape != self._shape:
            self._it.resize_tensor_input(self._in["index"], x.shape)
            self._it.allocate_tensors()
            self._shape = x.shape
        self._it.set_tensor(self._in["index"], np.ascontiguousarray(x, dtype=np.float32))
        self._it.invoke()
        return self._it.get_tensor(self._out["index"])


def _interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter  # LiteRT's own package, where installed

        return Interpreter
    except ImportError:
        pass
    try:
        import tensorflow as tf

        return tf.lite.Interpreter
    except (ImportError, AttributeError):
        return None


def _cpu_threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def _keras_runner(path: Path):
    """The `.keras` file as a function float32 (N, 48, 48, 1) -> (N, 7): the fallback, on TensorFlow."""
    model = read_keras(path)
    shape = tuple(model.input_shape[1:])
    if shape != (INPUT_SIZE, INPUT_SIZE, 1) or model.output_shape[-1] != len(EMOTIONS):
        raise ModelLoadError(path, f"expected input (48, 48, 1) and 7 outputs, got {shape} -> {model.output_shape}")
    return _compile_inference(model)


def _compile_inference(model):
    """A traced, retrace-free inference function on TensorFlow; plain batched calls elsewhere."""
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        fn = tf.function(lambda x: model(x, training=False), reduce_retracing=True,
                         input_signature=[tf.TensorSpec([None, INPUT_SIZE, INPUT_SIZE, 1], tf.float32)])
        return lambda x: fn(tf.constant(x)).numpy()
    return lambda x: keras.ops.convert_to_numpy(model(x, training=False))


def _to_uint8(a: np.ndarray) -> np.ndarray:
    if a.dtype == np.uint8:
        return a
    return np.clip(np.rint(a), 0, 255).astype(np.uint8)


def _to_gray48(face, i: int) -> np.ndarray:
    import cv2

    face = np.asarray(face)
    if face.size == 0:
        raise ValueError(f"face {i} is empty (shape {face.shape})")
    face = _to_uint8(face)
    if face.ndim == 3 and face.shape[2] == 1:
        face = face[..., 0]
    elif face.ndim == 3 and face.shape[2] == 3:
        face = cv2.cvtColor(face, cv2.COLOR_BGR2GRAY)
    elif face.ndim == 3 and face.shape[2] == 4:
        face = cv2.cvtColor(face, cv2.COLOR_BGRA2GRAY)
    elif face.ndim != 2:
        raise ValueError(f"face {i}: expected a gray (h, w) or BGR (h, w, 3) image, got shape {face.shape}")
    if face.shape != (INPUT_SIZE, INPUT_SIZE):
        shrink = face.shape[0] > INPUT_SIZE or face.shape[1] > INPUT_SIZE
        face = cv2.resize(face, (INPUT_SIZE, INPUT_SIZE),
                          interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return face
