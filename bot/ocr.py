"""Participant names from tile name strips with Debian's `tesseract-ocr` (optional: without it,
`read_names` returns None for every tile and participants stay `tile-<i>`)."""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor

import numpy as np

log = logging.getLogger("classmood.ocr")
_CLEAN = re.compile(r"[^\w .'()\-]+", re.UNICODE)


def available() -> bool:
    return shutil.which("tesseract") is not None


def name_strip(frame: np.ndarray, box, camera_off: bool = False) -> np.ndarray:
    """The tile's bottom-left name label (or, on a camera-off tile, the centred name), prepared
    for OCR: grey, upscaled, inverted to dark text on light. Meeting apps draw the label as light text on a
    dark box: the crop keeps the dark run of columns from the left edge, so the video beside the
    label does not reach the OCR."""
    import cv2

    x, y, w, h = box
    if camera_off:
        roi = frame[y + int(0.35 * h): y + int(0.65 * h), x + int(0.05 * w): x + int(0.95 * w)]
    else:
        roi = frame[y + int(0.85 * h): y + h - max(1, h // 100), x: x + int(0.75 * w)]
    if roi.size == 0:
        return np.full((8, 8), 255, np.uint8)
    gray = cv2.cvtColor(roi, cv2.COLOR_BGR2GRAY) if roi.ndim == 3 else roi
    if not camera_off:
        gray = _label_box(gray)
    if gray.size == 0 or gray.shape[1] < 4:
        return np.full((8, 8), 255, np.uint8)
    scale = max(2.0, 48.0 / gray.shape[0])  # tesseract reads best with text ~30 px high
    gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    inv = cv2.normalize(255 - gray, None, 0, 255, cv2.NORM_MINMAX)  # dark text on light
    return cv2.copyMakeBorder(inv, 12, 12, 12, 12, cv2.BORDER_REPLICATE)


def _label_box(gray: np.ndarray) -> np.ndarray:
    """The dark label box starting at the strip's left edge (text holes closed), else the strip."""
    import cv2

    dark = (gray < 100).astype(np.uint8)
    k = max(3, gray.shape[0] // 4)
    dark = cv2.morphologyEx(dark, cv2.MORPH_CLOSE, np.ones((k, k), np.uint8))
    n, _, stats, _ = cv2.connectedComponentsWithStats(dark, connectivity=4)
    best = None
    for x, y, w, h, area in stats[1:]:
        if x <= 0.1 * gray.shape[1] and h >= 0.3 * gray.shape[0] and w >= 2 * h and (best is None or area > best[4]):
            best = (x, y, w, h, area)
    if best is None:
        return gray
    x, y, w, h, _ = best
    return gray[y:y + h, x:x + w]


def ocr_line(img: np.ndarray, lang: str = "eng", timeout: float = 10.0) -> str | None:
    import cv2

    ok, png = cv2.imencode(".png", img)
    if not ok:
        return None
    try:
        out = subprocess.run(["tesseract", "stdin", "stdout", "--psm", "7", "-l", lang],
                             input=png.tobytes(), capture_output=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        log.warning("tesseract failed: %s", e)
        return None
    return clean_name(out.stdout.decode("utf-8", "replace"))


def clean_name(text: str) -> str | None:
    tokens = _CLEAN.sub(" ", text).split()
    # icons (microphone, video) read as stray 1-character tokens at either end
    while tokens and len(re.sub(r"\W", "", tokens[-1])) <= 1:
        tokens.pop()
    while tokens and len(re.sub(r"\W", "", tokens[0])) <= 1:
        tokens.pop(0)
    text = " ".join(tokens).strip(" .-'")
    if len(re.sub(r"\W", "", text)) < 2:
        return None
    return text[:60]


def read_names(frame: np.ndarray, tiles, lang: str | None = None) -> list[str | None]:
    """A name per tile (None where nothing legible or without Tesseract). `lang` (default
    `$CLASSMOOD_OCR_LANG` or "eng") takes Tesseract's codes, e.g. "eng+kor" with tesseract-ocr-kor."""
    lang = lang or os.environ.get("CLASSMOOD_OCR_LANG", "eng")
    if not available():
        return [None] * len(tiles)

    def one(t):
        box, off = (t["box"], t.get("camera_off", False)) if isinstance(t, dict) else (t.box, t.camera_off)
        # a camera-off tile shows the name large in its centre: read that first
        name = ocr_line(name_strip(frame, box, True), lang) if off else None
        return name or ocr_line(name_strip(frame, box, False), lang)

    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(one, tiles))
