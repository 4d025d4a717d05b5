"""Draw an analysed frame: tile outlines, face boxes, emotion, confidence and "uncertain" (or
"covered": partly behind a window or cut by its tile, `bot.occlusion`; "masked": behind a mask,
`model.mask`)."""

from __future__ import annotations

import numpy as np

from bot.records import FrameResult
from bot.charts import COLORS


def _bgr(hex_color: str) -> tuple[int, int, int]:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return b, g, r


def face_label(f) -> str:
    """A face's label: its emotion and top score, and why the mood does not count it where it does not."""
    note = " covered" if f.covered else " masked" if f.masked else " uncertain" if f.uncertain else ""
    return f"{f.emotion} {float(np.max(f.scores)):.0%}{note}"


def annotate(image: np.ndarray, frame: FrameResult, tiles: bool = True) -> np.ndarray:
    """A copy of `image` (BGR) with the analysis `frame` drawn on it."""
    import cv2

    img = image.copy()
    scale = max(0.4, min(img.shape[:2]) / 900)
    thick = max(1, int(round(2 * scale)))
    if tiles and len(frame.tiles) > 1:
        for t in frame.tiles:
            x, y, w, h = (int(v) for v in t.box)
            cv2.rectangle(img, (x, y), (x + w, y + h), (90, 90, 90) if t.camera_off else (200, 200, 200), 1)
    for f in frame.faces:
        x, y, w, h = (int(v) for v in f.box)
        color = _bgr(COLORS[f.emotion]) if f.role == "participant" else (160, 160, 160)
        cv2.rectangle(img, (x, y), (x + w, y + h), color, thick + 1)
        label = face_label(f)
        fs = 0.5 * scale + 0.15
        (tw, th), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, fs, thick)
        # above the box, else below it, else (a face filling the picture, as a webcam gives) inside its top
        ty = y - 4 if y - th - 8 > 0 else y + h + th + 4 if y + h + th + 8 < img.shape[0] else max(y, 0) + th + 6
        lx = max(0, min(x, img.shape[1] - tw - 6))
        cv2.rectangle(img, (lx, ty - th - 4), (lx + tw + 6, ty + 4), color, -1)
        cv2.putText(img, label, (lx + 3, ty), cv2.FONT_HERSHEY_SIMPLEX, fs, (255, 255, 255), thick, cv2.LINE_AA)
    return img
