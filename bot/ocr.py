"""Participant names from tile name strips with Debian's `tesseract-ocr` (optional: without it,
`read_names` returns None for every tile and participants stay `tile-<i>`).

Languages: `$CLASSMOOD_OCR_LANG` where set (Tesseract's codes, e.g. "kor+eng"), else every language
pack installed beside English, English last (e.g. with `tesseract-ocr-kor`: "kor+eng"). On two
real Zoom screenshots with Korean names (38 tiles), "kor+eng" read 21 names exactly, "eng+kor" 2
and "eng" none; on one with 16 Latin names, "kor+eng" and "eng" agreed on 15 tiles (on the
sixteenth both were wrong). With more than `MAX_AUTO_LANGS` other packs (e.g. `tesseract-ocr-all`)
each call would get slow, so English alone is used unless the variable says otherwise.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor

import numpy as np

log = logging.getLogger("classmood.ocr")
_CLEAN = re.compile(r"[^\w .'()\-]+", re.UNICODE)
MAX_AUTO_LANGS = 3
_NOT_LANGUAGES = {"eng", "osd", "equ"}  # English goes last; orientation and equation models are no language


def available() -> bool:
    return shutil.which("tesseract") is not None


@functools.lru_cache(maxsize=1)
def installed_langs() -> tuple[str, ...]:
    """Tesseract's installed language packs (`tesseract --list-langs`); () where it cannot run."""
    try:
        out = subprocess.run(["tesseract", "--list-langs"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return ()
    lines = (out.stdout + "\n" + out.stderr).splitlines()
    return tuple(ln.strip() for ln in lines if re.fullmatch(r"[A-Za-z_]+(/[A-Za-z_]+)?", ln.strip()))


def default_lang() -> str:
    """`$CLASSMOOD_OCR_LANG`, else the installed language packs with English last (see above)."""
    env = os.environ.get("CLASSMOOD_OCR_LANG", "").strip()
    if env:
        return env
    langs = installed_langs()
    others = [lang for lang in langs if lang not in _NOT_LANGUAGES and "/" not in lang]
    if len(others) > MAX_AUTO_LANGS:
        log.info("%d Tesseract language packs installed: reading names in English only; set "
                 "CLASSMOOD_OCR_LANG (e.g. kor+eng) to choose", len(others))
        others = []
    return "+".join(others + (["eng"] if "eng" in langs or not others else []))


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


# Tesseract's OpenMP threads on a one-line strip cost more than they give (measured: 233 ms a call
# with its default threads, 155 ms with one, on 2 cores); the caller's own setting wins.
_TESSERACT_ENV = {**os.environ, "OMP_THREAD_LIMIT": os.environ.get("OMP_THREAD_LIMIT", "1")}


def ocr_line(img: np.ndarray, lang: str = "eng", timeout: float = 10.0) -> str | None:
    import cv2

    ok, png = cv2.imencode(".png", img)
    if not ok:
        return None
    try:
        out = subprocess.run(["tesseract", "stdin", "stdout", "--psm", "7", "-l", lang],
                             input=png.tobytes(), capture_output=True, timeout=timeout, env=_TESSERACT_ENV)
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
    """A name per tile (None where nothing legible or without Tesseract). `lang` takes
    Tesseract's codes, e.g. "kor+eng" (default: `default_lang()`)."""
    if not available():
        return [None] * len(tiles)
    lang = lang or default_lang()

    def one(t):
        box, off = (t["box"], t.get("camera_off", False)) if isinstance(t, dict) else (t.box, t.camera_off)
        # a camera-off tile shows the name large in its centre: read that first
        name = ocr_line(name_strip(frame, box, True), lang) if off else None
        return name or ocr_line(name_strip(frame, box, False), lang)

    with ThreadPoolExecutor(max_workers=ocr_workers()) as pool:
        return list(pool.map(one, tiles))


def ocr_workers() -> int:
    """Tesseract processes run at once: `$CLASSMOOD_OCR_WORKERS` (classmood-batch sets it to its
    threads per worker), else 2."""
    try:
        return max(1, int(os.environ.get("CLASSMOOD_OCR_WORKERS", "2")))
    except ValueError:
        return 2
