"""`EmotionClassifier`: load the bundled (or a given) `.keras` file once, classify many faces per call."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from model.card import read_card, sha256_file
from model.emotions import EMOTIONS, INPUT_SIZE

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_WEIGHTS = WEIGHTS_DIR / "classmood_fer_2026nov_kd4x32.keras"


class ModelLoadError(RuntimeError):
    """The weights file is missing, corrupt, or does not match its model card."""

    def __init__(self, path: str | Path, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"cannot load expression model {self.path}: {reason}")


class EmotionClassifier:
    """Seven-class facial-expression classifier (FER2013 classes, in `EMOTIONS` order).

    >>> clf = EmotionClassifier.load()
    >>> probs = clf.predict(faces)          # (N, 7) float32, rows sum to 1
    """

    def __init__(self, keras_model, path: Path, card: dict | None = None):
        self.model = keras_model
        self.path = Path(path)
        self.card = card or {}
        self._lock = threading.Lock()
        self._fn = _compile_inference(keras_model)

    @classmethod
    def load(cls, path: str | Path | None = None) -> "EmotionClassifier":
        """Read the bundled weights (or `path`), checking the model card's sha256 where there is one.
        Raises `ModelLoadError` naming the file and the reason."""
        p = Path(path) if path is not None else DEFAULT_WEIGHTS
        if not p.exists():
            raise ModelLoadError(p, "no such file")
        if not p.is_file():
            raise ModelLoadError(p, "not a file")
        try:
            card = read_card(p)
        except (OSError, ValueError) as e:
            raise ModelLoadError(p, f"model card {p.with_suffix('.json').name} is unreadable ({e})") from e
        if card is not None:
            if card.get("sha256") and card["sha256"] != sha256_file(p):
                raise ModelLoadError(p, "sha256 differs from the model card: the file is corrupt or was replaced")
            if "classes" in card and tuple(card["classes"]) != EMOTIONS:
                raise ModelLoadError(p, f"model card classes {card['classes']} differ from {list(EMOTIONS)}")
        try:
            import keras

            from model.network import custom_objects

            model = keras.saving.load_model(p, custom_objects=custom_objects(), compile=False)
        except Exception as e:  # Keras raises ValueError, OSError, zipfile errors... for bad files
            raise ModelLoadError(p, f"not a readable Keras model ({type(e).__name__}: {e})") from e
        shape = tuple(model.input_shape[1:])
        if shape != (INPUT_SIZE, INPUT_SIZE, 1) or model.output_shape[-1] != len(EMOTIONS):
            raise ModelLoadError(p, f"expected input (48, 48, 1) and 7 outputs, got {shape} -> {model.output_shape}")
        return cls(model, p, card)

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

    def predict(self, faces: np.ndarray | Sequence[np.ndarray], tta: bool = False) -> np.ndarray:
        """Probabilities (N, 7) float32 in `EMOTIONS` order, one batched call for all faces.
        `tta=True` averages with the mirrored faces (twice the work)."""
        x = self.preprocess(faces)
        if len(x) == 0:
            return np.zeros((0, len(EMOTIONS)), dtype=np.float32)
        if tta:
            x = np.concatenate([x, x[:, :, ::-1]])
        with self._lock:
            probs = np.asarray(self._fn(x.astype(np.float32)), dtype=np.float32)
        if tta:
            probs = (probs[: len(probs) // 2] + probs[len(probs) // 2:]) / 2
        probs = np.clip(probs, 0.0, None)
        return (probs / probs.sum(axis=1, keepdims=True)).astype(np.float32)

    def __repr__(self) -> str:
        acc = self.card.get("val", {}).get("accuracy")
        return f"EmotionClassifier({self.path.name}, val_accuracy={acc})"


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
