"""Is a face's lower half behind a mask? The expression model learnt from faces that show their
mouths (FER2013); a face behind a surgical or cloth mask reads as its eyes alone suggest, often sad
or fear. `MaskCheck` finds such faces so that the observer can show them without counting them.

    check = MaskCheck.load()              # model/weights/mask_check.tflite and its card
    masked = check(crops)                 # bool (N,) for uint8 gray crops (N, 48, 48), `crop_faces`
    p = check.probability(crops)          # float (N,)

The network (a depthwise-separable CNN, about 1.8 M multiply-adds a face; `training/mask.py` trains
it, its card `mask_check.json` names the data, the held-out figures and the threshold) runs on the
same 48x48 crops as the expression model, through LiteRT: no TensorFlow at run time.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from model.card import sha256_bytes
from model.classifier import WEIGHTS_DIR, LiteRTRunner
from model.emotions import INPUT_SIZE
from model.errors import ModelLoadError

MASK_FILE = "mask_check.tflite"
CARD_NAME = "mask_check.json"
WHAT = "mask check"


class MaskCheck:
    def __init__(self, runner: LiteRTRunner, threshold: float, card: dict):
        self.runner = runner
        self.threshold = float(threshold)
        self.card = card

    @classmethod
    def load(cls, folder: str | Path | None = None, threads: int = 1) -> "MaskCheck":
        """The check in `folder` (default: the bundled one): its card, then the LiteRT file the card
        names, checked against the card's sha256. Raises `ModelLoadError` saying what is wrong."""
        folder = Path(folder) if folder is not None else WEIGHTS_DIR
        card_path = folder / CARD_NAME
        try:
            card = json.loads(card_path.read_text())
            threshold = float(card["threshold"])
            name = str(card.get("file") or MASK_FILE)
        except OSError as e:
            raise ModelLoadError(card_path, f"its card is unreadable ({e.strerror or e})", WHAT) from e
        except (ValueError, KeyError, TypeError) as e:
            raise ModelLoadError(card_path, f"not a mask check's card ({type(e).__name__}: {e})", WHAT) from e
        if not 0 < threshold < 1:
            raise ModelLoadError(card_path, f"threshold {threshold} is not a probability", WHAT)
        path = folder / name
        try:
            content = path.read_bytes()
        except OSError as e:
            raise ModelLoadError(path, f"unreadable ({e.strerror or e})", WHAT) from e
        if card.get("sha256") and card["sha256"] != sha256_bytes(content):
            raise ModelLoadError(path, "sha256 differs from its card: the file is corrupt or was replaced", WHAT)
        return cls(LiteRTRunner(content, path, threads, outputs=1, what=WHAT), threshold, card)

    def probability(self, faces: np.ndarray) -> np.ndarray:
        """float32 (N,): how sure the check is that each uint8 gray crop (N, 48, 48) wears a mask."""
        faces = np.asarray(faces)
        if faces.ndim != 3 or faces.shape[1:] != (INPUT_SIZE, INPUT_SIZE):
            raise ValueError(f"faces: expected (N, 48, 48) crops, got shape {faces.shape}")
        if not len(faces):
            return np.zeros(0, np.float32)
        return self.runner(faces[..., None].astype(np.float32))[:, 0].astype(np.float32)

    def __call__(self, faces: np.ndarray) -> np.ndarray:
        return self.probability(faces) >= self.threshold

    @property
    def multiply_adds(self) -> int | None:
        v = self.card.get("multiply_adds")
        return int(v) if v is not None else None
