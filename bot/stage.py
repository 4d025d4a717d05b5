"""The meeting's stage: what a shared screen showed, as small thumbnails for the post-class report.

When someone shares their screen, Zoom, Meet and Teams put the participants' videos in one strip
(a row above the shared content, or a column beside it) and the shared content takes the rest of
the window. `stage_box` finds that content from the tiles the layout found: the largest part of the
picture beyond a strip of tiles, trimmed to what differs from the meeting's background. A gallery
of two rows or more has no stage; nor has a picture whose tiles fill most of it. A meeting in a
window on a desktop has its stage inside that window (`meeting_window`), never on the desktop.

A thumbnail never shows a tile or a face: it is cut from the stage alone, and every face found in it
(by the face detector, run on the stage at a low threshold, and the analyser's own faces there) is
covered by a flat grey box. A stage that looks like a camera's picture is a speaker's video, not
shared content, and no thumbnail is made of it: where its largest face covers more than
`SPEAKER_FACE_SHARE` of it, or where it has no dominant background (less than `SCREEN_DOMINANT` of
its pixels within `SCREEN_LEVELS` grey levels of its commonest shade). Measured on real screenshots
(`tests/test_postclass.py`): shared screens 0.55-0.63 (a browser, a small shared window), synthetic
slides and editors 0.79-0.87; camera tiles 0.04-0.25, and a speaker view whose video (a room, a
poll window over it) reads 0.39. A shared photo or video is taken for a camera too: not kept.

`StageRecorder` offers each analysed frame to the store: a thumbnail when the content changed
(`CHANGE_LEVEL`, `CHANGE_SHARE`), at most one every `MIN_GAP_S` seconds, and a row saying "no screen shared" when
the share ends. `--no-stage` (bot, analyze, batch) turns it off; an aggregate-only session keeps no
pictures at all.
"""

from __future__ import annotations

import logging

import numpy as np

from bot.geometry import Box
from bot.layout import meeting_windows

log = logging.getLogger("classmood.stage")

MIN_STAGE_SHARE = 0.25     # the stage covers at least this share of the picture...
MIN_STAGE_TILES = 3.0      # ... and at least this many tiles' area
CONTENT_LEVEL = 14         # a pixel differs from the background by this much (0-255) to be content
MIN_CONTENT_SHARE = 0.2    # content covers at least this share of the stage region
SPEAKER_FACE_SHARE = 0.03  # a face larger than this share of the stage: a speaker's video
SCREEN_DOMINANT = 0.45     # shared content has this share of its pixels or more...
SCREEN_LEVELS = 4          # ... within this many grey levels of its commonest shade
FACE_PAD = 0.3             # a masked face's box grows by this share on each side
THUMB_WIDTH = 360          # a thumbnail's width in pixels (its height follows)
THUMB_QUALITY = 70         # its JPEG quality
CHANGE_LEVEL = 8.0         # a cell of the 32x18 grey view changed by this much (0-255)...
CHANGE_SHARE = 0.02        # ... in this share of the cells: new content (a mouse pointer is one cell)
MIN_GAP_S = 20.0           # at most one thumbnail this often (a scrolled document changes at every frame)


def _is_strip(tiles: list[Box]) -> str | None:
    """"row" where the tiles share a row, "column" where they share a column, else None."""
    if not tiles:
        return None
    ys = [t[1] for t in tiles]
    xs = [t[0] for t in tiles]
    h = min(t[3] for t in tiles)
    w = min(t[2] for t in tiles)
    if max(ys) - min(ys) <= h / 3:
        return "row"
    if max(xs) - min(xs) <= w / 3:
        return "column"
    return None


def meeting_window(image: np.ndarray, tiles: list[Box]) -> Box | None:
    """The meeting's window on a desktop that holds `tiles` (`bot.layout.meeting_windows`), or None
    where the meeting fills the screen: the stage is looked for inside it, never on the desktop."""
    import cv2

    if not tiles:
        return None
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    x0, y0 = min(t[0] for t in tiles), min(t[1] for t in tiles)
    x1, y1 = max(t[0] + t[2] for t in tiles), max(t[1] + t[3] for t in tiles)
    slack = 4
    strip = _is_strip(tiles)
    th, tw = float(np.median([t[3] for t in tiles])), float(np.median([t[2] for t in tiles]))
    H, W = gray.shape[:2]
    for wx, wy, ww, wh in meeting_windows(gray):
        if wx - slack <= x0 and wy - slack <= y0 and x1 <= wx + ww + slack and y1 <= wy + wh + slack:
            # a dark area no wider than the strip's own band is the strip's background, not the
            # whole window (the shared content beside it is not dark): its length is the window's,
            # its other side is not known
            if strip == "row" and y0 - wy < th / 2 and wy + wh - y1 < th / 2:
                return (wx, 0, ww, H)
            if strip == "column" and x0 - wx < tw / 2 and wx + ww - x1 < tw / 2:
                return (0, wy, W, wh)
            return (wx, wy, ww, wh)
    return None


def stage_box(image: np.ndarray, tiles: list[Box], window: Box | None = None) -> Box | None:
    """The shared content's box (x, y, w, h) in `image`, or None where there is no stage: no tiles,
    tiles that are not one strip, too little room beside them, or nothing but background there.
    `window`: the meeting's window on a desktop (`meeting_window`): the stage lies inside it."""
    import cv2

    H, W = image.shape[:2]
    tiles = [tuple(int(v) for v in t) for t in tiles]
    strip = _is_strip(tiles)
    if strip is None:
        return None
    X0, Y0, X1, Y1 = (0, 0, W, H) if window is None else (window[0], window[1], window[0] + window[2],
                                                         window[1] + window[3])
    x0, y0 = min(t[0] for t in tiles), min(t[1] for t in tiles)
    x1, y1 = max(t[0] + t[2] for t in tiles), max(t[1] + t[3] for t in tiles)
    above, below = (X0, Y0, X1 - X0, y0 - Y0), (X0, y1, X1 - X0, Y1 - y1)
    left, right = (X0, Y0, x0 - X0, Y1 - Y0), (x1, Y0, X1 - x1, Y1 - Y0)
    regions = {"row": [above, below], "column": [left, right]}[strip] if len(tiles) > 1 else [above, below, left, right]
    x, y, w, h = max(regions, key=lambda r: max(0, r[2]) * max(0, r[3]))
    tile_area = float(np.mean([t[2] * t[3] for t in tiles]))
    if w * h < MIN_STAGE_SHARE * (X1 - X0) * (Y1 - Y0) or w * h < MIN_STAGE_TILES * tile_area or min(w, h) < 32:
        return None
    # the content's bounds, found on a view at most 480 pixels wide (a frame's stage in about 2 ms)
    f = max(1, int(np.ceil(max(w, h) / 480)))
    region = image[y:y + h - h % f, x:x + w - w % f]
    small = cv2.resize(region, (region.shape[1] // f, region.shape[0] // f), interpolation=cv2.INTER_AREA)
    gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    background = float(np.median(border))
    mask = (np.abs(gray.astype(np.int16) - background) > CONTENT_LEVEL).astype(np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    pts = cv2.findNonZero(mask)
    if pts is None:
        return None
    cx, cy, cw, ch = (v * f for v in cv2.boundingRect(pts))
    if cw * ch < MIN_CONTENT_SHARE * w * h:
        return None
    return (x + cx, y + cy, min(cw, w - cx), min(ch, h - cy))


def looks_like_screen(crop: np.ndarray) -> bool:
    """Whether a stage shows shared content (a slide, a document, an application: a dominant flat
    background) rather than a camera's picture (see the module)."""
    import cv2

    gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    scale = 640.0 / max(gray.shape)
    if scale < 1:
        gray = cv2.resize(gray, (max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale))),
                          interpolation=cv2.INTER_AREA)
    hist = np.bincount(gray.ravel(), minlength=256)
    peak = int(hist.argmax())
    return hist[max(0, peak - SCREEN_LEVELS):peak + SCREEN_LEVELS + 1].sum() >= SCREEN_DOMINANT * gray.size


def thumbnail(image: np.ndarray, box: Box, faces: list[Box] = (), detector=None) -> tuple[bytes, tuple[int, int]] | None:
    """A JPEG of the stage `box` of `image`, `THUMB_WIDTH` wide, every face in it covered; None
    where it is a speaker's video (a face larger than `SPEAKER_FACE_SHARE` of it, or a picture with
    no dominant background: `looks_like_screen`). `faces`: faces already found in the picture (its
    coordinates); `detector`: a `model.detector.FaceDetector` run on the stage too (None: only `faces`)."""
    import cv2

    x, y, w, h = (int(v) for v in box)
    crop = np.ascontiguousarray(image[y:y + h, x:x + w])
    if crop.ndim == 2:
        crop = cv2.cvtColor(crop, cv2.COLOR_GRAY2BGR)
    crop = crop[:, :, :3].copy()
    if not looks_like_screen(crop):
        return None
    found = [(fx - x, fy - y, fw, fh) for fx, fy, fw, fh in faces]
    if detector is not None:
        scale = min(1.0, 960.0 / max(w, h))
        found += [d.box for d in detector.detect(crop, scale=scale, min_confidence=0.3)]
    area = float(w * h)
    for fx, fy, fw, fh in found:
        if fx + fw <= 0 or fy + fh <= 0 or fx >= w or fy >= h:
            continue  # not on the stage
        if fw * fh > SPEAKER_FACE_SHARE * area:
            return None
        px, py = int(fw * FACE_PAD), int(fh * FACE_PAD)
        cv2.rectangle(crop, (max(0, fx - px), max(0, fy - py)), (min(w, fx + fw + px), min(h, fy + fh + py)),
                      (128, 128, 128), -1)
    tw = min(THUMB_WIDTH, w)
    th = max(1, round(h * tw / w))
    small = cv2.resize(crop, (tw, th), interpolation=cv2.INTER_AREA)
    ok, jpg = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, THUMB_QUALITY])
    return (jpg.tobytes(), (tw, th)) if ok else None


def signature(image: np.ndarray, box: Box) -> np.ndarray:
    """A 32x18 grey view of the stage, to tell new content from the same."""
    import cv2

    x, y, w, h = (int(v) for v in box)
    crop = image[y:y + h, x:x + w]
    crop = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    return cv2.resize(crop, (32, 18), interpolation=cv2.INTER_AREA).astype(np.float32)


class StageRecorder:
    """Offer it each analysed frame (`offer(time_s, image, record)`): it writes a thumbnail of the
    shared content to `store` under `session_id` when the content changed, and a "no screen
    shared" row when the share ends. Never fails a frame: a problem is logged once and the frame
    goes on without it."""

    def __init__(self, store, session_id: int, detector=None, min_gap_s: float = MIN_GAP_S):
        self.store, self.session_id, self.detector, self.min_gap_s = store, session_id, detector, min_gap_s
        self._sig: np.ndarray | None = None
        self._box: Box | None = None
        self._last_t: float | None = None
        self._shared = False
        self._warned = False
        self._layout: tuple | None = None
        self._window: Box | None = None
        self.stored = 0

    def offer(self, time_s: float, image, record) -> None:
        try:
            self._offer(float(time_s), image, record)
        except Exception as e:  # noqa: BLE001 - a thumbnail is a nicety: never fail the frame for it
            if not self._warned:
                log.warning("no stage thumbnail at %.1fs: %s: %s", time_s, type(e).__name__, e)
                self._warned = True

    def _offer(self, t: float, image, record) -> None:
        if not isinstance(image, np.ndarray) or image.ndim not in (2, 3) or image.size == 0:
            return
        tiles = [tuple(int(v) for v in tile.box) for tile in record.tiles]
        if tuple(tiles) != self._layout:  # the meeting's window, looked for once a layout
            self._layout = tuple(tiles)
            self._window = meeting_window(image, tiles) if _is_strip(tiles) else None
        box = stage_box(image, tiles, self._window)
        if box is None:
            if self._shared:
                self.store.add_stage_image(self.session_id, t, None)
                self._shared, self._sig, self._box = False, None, None
            return
        sig = signature(image, box)
        moved = self._box is None or max(abs(a - b) for a, b in zip(box, self._box)) > 0.05 * max(box[2], box[3])
        changed = moved or self._sig is None or float((np.abs(sig - self._sig) > CHANGE_LEVEL).mean()) >= CHANGE_SHARE
        if not changed or (self._last_t is not None and t - self._last_t < self.min_gap_s and self._shared):
            return
        made = thumbnail(image, box, [f.box for f in record.faces], self.detector)
        self._sig, self._box, self._last_t = sig, box, t
        if made is None:  # a speaker's video: nothing to show
            if self._shared:
                self.store.add_stage_image(self.session_id, t, None)
            self._shared = False
            return
        jpeg, size = made
        self.store.add_stage_image(self.session_id, t, jpeg, size)
        self._shared = True
        self.stored += 1
