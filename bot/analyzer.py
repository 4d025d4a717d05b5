"""`GalleryAnalyzer`: one frame in, tiles and classified faces out (stateless, no OCR).

Per frame: tiles from the layout; faces by YuNet on the whole frame at a reduced scale, then a
second, upscaled look only at tiles that show video but no face yet; faces assigned to tiles (the
largest central face of a tile is its participant, any other face is "other"); all faces cropped
FER-style and classified in one batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bot.layout import LayoutOptions, find_tiles
from bot.records import Box, FaceResult, FrameResult, TileResult
from model import EMOTIONS

__all__ = ["AnalyzerOptions", "Box", "FaceResult", "FrameResult", "GalleryAnalyzer", "TileResult"]


@dataclass(frozen=True)
class AnalyzerOptions:
    frame_max_side: int = 960         # whole-frame pass: longest side resized down to this
    second_look_height: int = 224     # tiles without a face are looked at again, upscaled to this height
    max_second_look_scale: float = 3.0
    min_confidence: float = 0.5       # detector score below which a detection is dropped
    tiny_face_px: int = 24            # faces smaller than this (shorter side, source pixels) are uncertain
    low_score: float = 0.4            # top class probability below this is uncertain
    nms_iou: float = 0.3
    layout: LayoutOptions = field(default_factory=LayoutOptions)


class GalleryAnalyzer:
    """`GalleryAnalyzer()` loads the bundled model and detector with default options;
    `.analyze(frame_bgr, time_s=0.0) -> FrameResult`."""

    def __init__(self, options: AnalyzerOptions | None = None, classifier=None, detector=None):
        from model import EmotionClassifier
        from model.detector import FaceDetector

        self.options = options or AnalyzerOptions()
        self.classifier = classifier or EmotionClassifier.load()
        self.detector = detector or FaceDetector(min_confidence=self.options.min_confidence)

    def analyze(self, frame: np.ndarray, time_s: float = 0.0, file: str | None = None) -> FrameResult:
        from model.crop import crop_faces

        frame = _as_bgr(frame)
        opts = self.options
        layout = find_tiles(frame, opts.layout)
        dets = self._detect(frame, layout)
        assigned = _assign(dets, [t.box for t in layout])
        probs = self.classifier.predict(crop_faces(frame, [d[0] for d in assigned])) if assigned else \
            np.zeros((0, len(EMOTIONS)), np.float32)
        faces = [FaceResult(box=box, tile=tile, participant=None, role=role, confidence=round(float(conf), 3),
                            uncertain=is_uncertain(box, p, opts), scores=p)
                 for (box, conf, tile, role), p in zip(assigned, probs)]
        with_face = {f.tile for f in faces if f.role == "participant"}
        tiles = [TileResult(t.box, None, t.camera_off and i not in with_face) for i, t in enumerate(layout)]
        return FrameResult(time_s=float(time_s), tiles=tiles, faces=faces, file=file)

    def _detect(self, frame: np.ndarray, layout) -> list[tuple[Box, float]]:
        opts = self.options
        h, w = frame.shape[:2]
        scale = min(1.0, opts.frame_max_side / max(h, w))
        dets = [(d.box, d.confidence) for d in self.detector.detect(frame, scale=scale)]
        for t in layout:
            if t.camera_off:
                continue
            x, y, tw, th = t.box
            if any(center_in(b, t.box) for b, _ in dets):
                continue
            s = min(opts.max_second_look_scale, opts.second_look_height / max(th, 1))
            if s <= scale * 1.2:  # the first pass already saw this tile at this scale
                continue
            # YuNet's score for a face moves with the scale: where the first size finds nothing,
            # a larger one gets a second chance (only tiles still without a face pay for it).
            for look in (s, min(opts.max_second_look_scale, s * 1.5)):
                found = self.detector.detect(frame[y:y + th, x:x + tw], scale=look)
                for d in found:
                    bx, by, bw, bh = d.box
                    dets.append(((bx + x, by + y, bw, bh), d.confidence))
                if found or look >= opts.max_second_look_scale:
                    break
        return _nms(dets, opts.nms_iou)


def is_uncertain(box: Box, scores: np.ndarray, opts: AnalyzerOptions) -> bool:
    """A face too small to read, or whose (calibrated) top score is low."""
    return bool(min(box[2], box[3]) < opts.tiny_face_px or float(np.max(scores)) < opts.low_score)


def _as_bgr(frame: np.ndarray) -> np.ndarray:
    import cv2

    if frame is None or not isinstance(frame, np.ndarray) or frame.size == 0:
        raise ValueError("empty image: nothing to analyse")
    if frame.ndim == 2:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    if frame.ndim == 3 and frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    if frame.ndim == 3 and frame.shape[2] == 3:
        return frame
    raise ValueError(f"expected a BGR, BGRA or gray image, got shape {frame.shape}")


def center_in(box: Box, tile: Box) -> bool:
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    return tile[0] <= cx < tile[0] + tile[2] and tile[1] <= cy < tile[1] + tile[3]


def iou(a: Box, b: Box) -> float:
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union else 0.0


def _nms(dets: list[tuple[Box, float]], threshold: float) -> list[tuple[Box, float]]:
    keep: list[tuple[Box, float]] = []
    for box, conf in sorted(dets, key=lambda d: -d[1]):
        if all(iou(box, k[0]) < threshold for k in keep):
            keep.append((box, conf))
    return keep


def _assign(dets, tiles: list[Box]) -> list[tuple[Box, float, int | None, str]]:
    """(box, confidence, tile index, role) per detection; in each tile the largest central face is
    the participant, other faces are "other"; faces outside every tile are "other"."""
    out = []
    best: dict[int, tuple[float, int]] = {}
    for k, (box, conf) in enumerate(dets):
        tile = next((i for i, t in enumerate(tiles) if center_in(box, t)), None)
        out.append([box, conf, tile, "other"])
        if tile is None:
            continue
        tx, ty, tw, th = tiles[tile]
        dx = (box[0] + box[2] / 2 - (tx + tw / 2)) / (tw / 2)
        dy = (box[1] + box[3] / 2 - (ty + th / 2)) / (th / 2)
        score = box[2] * box[3] * (1.0 - 0.5 * min(1.0, (dx * dx + dy * dy) ** 0.5))
        if tile not in best or score > best[tile][0]:
            best[tile] = (score, k)
    for _, k in best.values():
        out[k][3] = "participant"
    order = sorted(range(len(out)), key=lambda k: (out[k][2] if out[k][2] is not None else 1 << 30, out[k][3] != "participant"))
    return [tuple(out[k]) for k in order]
