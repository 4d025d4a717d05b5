"""Zoom-like gallery screenshots with known tiles and faces, for tests and benchmarks (never imported
by the product: the bot, the app and the model do not depend on it).

Faces are real photographs supplied by the caller (e.g. FER2013 faces, upscaled); the renderer adds
the meeting chrome: a dark background, title bar, toolbar, optional side panel, name labels,
camera-off tiles with a centred name, an active-speaker border, uneven last rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bot.geometry import Box
from bot.records import FaceResult, Frame, FrameResult, TileResult
from model import EMOTIONS
from model.detector import FaceDetector

FIRST = ["Ana", "Ben", "Chloe", "David", "Emma", "Farid", "Grace", "Hugo", "Ines", "Jon", "Kira", "Liam",
         "Mia", "Noah", "Olga", "Pavel", "Quinn", "Rosa", "Sam", "Tara", "Umar", "Vera", "Will", "Xena",
         "Yuki", "Zoe"]
LAST = ["Perez", "Smith", "Nguyen", "Okafor", "Rossi", "Kim", "Silva", "Novak", "Haddad", "Meyer"]


@dataclass
class Gallery:
    image: np.ndarray
    tiles: list[Box]
    camera_off: list[bool]
    names: list[str]
    faces: list[Box]            # the pasted face photo's square, in image pixels
    face_tiles: list[int] = field(default_factory=list)


def detectable_faces(faces: np.ndarray, upscale: int = 4) -> np.ndarray:
    """The faces our detector finds on their own (upscaled, padded). About 3% of FER2013 images are
    drawings, profiles or occluded faces no detector finds anywhere; galleries built from the rest
    measure what the gallery pipeline (layout, scales, second looks) loses, not what the detector
    cannot see at all."""
    import cv2

    det = FaceDetector()
    keep = []
    for i, f in enumerate(faces):
        side = f.shape[0] * upscale
        up = cv2.resize(f, (side, side), interpolation=cv2.INTER_CUBIC)
        if det.detect(cv2.copyMakeBorder(up, side // 2, side // 2, side // 2, side // 2, cv2.BORDER_REPLICATE)):
            keep.append(i)
    return faces[keep]


def grid_shape(n: int) -> tuple[int, int]:
    cols = math.ceil(math.sqrt(n))
    return cols, math.ceil(n / cols)


def render_gallery(faces: np.ndarray, n_tiles: int, size: tuple[int, int] = (1920, 1080), *,
                   camera_off: int = 0, sidebar: bool = False, seed: int = 0,
                   face_frac: tuple[float, float] = (0.42, 0.6), names: list[str] | None = None,
                   gap: int | None = None) -> Gallery:
    """Render `n_tiles` tiles; `camera_off` of them show only a name. `faces`: gray or BGR face
    photos (N, h, w[, 3]), used in order (cycled). `names`: the tiles' names (cycled; default
    made-up Latin ones, drawn with OpenCV's stroke font); given names are drawn as a meeting app
    draws them, with Pillow in a CJK font (Hangul and Latin alike), at least 12 pixels high.
    `gap`: pixels between tiles (default about 0.25% of the width; 0: tiles that touch)."""
    import cv2

    global _PILLOW_NAMES
    _PILLOW_NAMES = bool(names)
    rng = np.random.default_rng(seed)
    W, H = size
    img = np.full((H, W, 3), 26, np.uint8)
    top, bottom = int(0.03 * H), int(0.07 * H)
    img[:top] = (242, 242, 242)
    cv2.putText(img, "Zoom Meeting", (10, top - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (40, 40, 40), 1, cv2.LINE_AA)
    img[H - bottom:] = (30, 30, 30)
    for i, label in enumerate(["Mute", "Stop Video", "Participants", "Chat", "Share", "Record"]):
        x = int(W * (0.05 + 0.12 * i))
        cv2.rectangle(img, (x, H - bottom + 8), (x + 22, H - bottom + 26), (200, 200, 200), 2)
        cv2.putText(img, label, (x - 8, H - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (220, 220, 220), 1, cv2.LINE_AA)
    cv2.rectangle(img, (W - 110, H - bottom + 12), (W - 20, H - 12), (40, 40, 200), -1)
    right = W
    if sidebar:
        right = int(W * 0.8)
        img[top:H - bottom, right:] = (45, 45, 45)
        for k in range(8):
            cv2.putText(img, f"{FIRST[k]} {LAST[k % len(LAST)]}", (right + 20, top + 40 + 30 * k),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.5, (230, 230, 230), 1, cv2.LINE_AA)
    cols, rows = grid_shape(n_tiles)
    gap = max(2, W // 400) if gap is None else gap  # 0: tiles that touch
    area_w, area_h = right - 40, H - top - bottom - 40
    tw = min((area_w - (cols - 1) * gap) / cols, ((area_h - (rows - 1) * gap) / rows) * 16 / 9)
    th = tw * 9 / 16
    tw, th = int(tw), int(th)
    grid_h = rows * th + (rows - 1) * gap
    y0 = top + 20 + (area_h - grid_h) // 2
    off = set(rng.choice(n_tiles, size=camera_off, replace=False).tolist()) if camera_off else set()
    speaker = int(rng.integers(n_tiles))
    g = Gallery(img, [], [], [], [])
    k = 0
    for r in range(rows):
        in_row = min(cols, n_tiles - r * cols)
        row_w = in_row * tw + (in_row - 1) * gap
        x0 = (right - row_w) // 2
        for c in range(in_row):
            i = r * cols + c
            x, y = x0 + c * (tw + gap), y0 + r * (th + gap)
            name = names[i % len(names)] if names else f"{FIRST[i % len(FIRST)]} {LAST[(i * 7) % len(LAST)]}"
            g.tiles.append((x, y, tw, th))
            g.names.append(name)
            g.camera_off.append(i in off)
            tile = img[y:y + th, x:x + tw]
            if i in off:
                tile[:] = (35, 35, 35)
                scale = max(0.5, th / 160)
                (tw_, th_), _ = cv2.getTextSize(name, cv2.FONT_HERSHEY_SIMPLEX, scale, 2)
                cv2.putText(tile, name, ((tw - tw_) // 2, (th + th_) // 2), cv2.FONT_HERSHEY_SIMPLEX, scale,
                            (240, 240, 240), 2, cv2.LINE_AA)
                continue
            _room(tile, rng)
            face = faces[k % len(faces)]
            k += 1
            side = int(th * rng.uniform(*face_frac))
            face = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC)
            if face.ndim == 2:
                tint = rng.uniform(0.85, 1.15, 3)
                face = np.clip(face[..., None] * tint, 0, 255).astype(np.uint8)
            fx = int((tw - side) / 2 + rng.uniform(-0.15, 0.15) * tw)
            fy = int((th - side) / 2 + rng.uniform(-0.1, 0.05) * th)
            fx, fy = min(max(0, fx), tw - side), min(max(0, fy), th - side)
            tile[fy:fy + side, fx:fx + side] = face
            g.faces.append((x + fx, y + fy, side, side))
            g.face_tiles.append(i)
            _label(tile, name, th)
            if i == speaker:
                cv2.rectangle(tile, (0, 0), (tw - 1, th - 1), (0, 230, 230), max(2, th // 80))
    return g


def _room(tile: np.ndarray, rng) -> None:
    """A plausible video background: a wall colour with a gradient and a shelf or a window."""
    import cv2

    h, w = tile.shape[:2]
    base = rng.integers(60, 220, 3)
    grad = np.linspace(0.8, 1.1, w)[None, :, None]
    tile[:] = np.clip(base[None, None, :] * grad, 0, 255).astype(np.uint8)
    if rng.random() < 0.5:
        x = int(rng.uniform(0, 0.6) * w)
        cv2.rectangle(tile, (x, int(0.1 * h)), (x + w // 4, int(0.5 * h)), tuple(int(v) for v in rng.integers(0, 255, 3)), -1)
    noise = rng.normal(0, 4, tile.shape)
    tile[:] = np.clip(tile + noise, 0, 255).astype(np.uint8)


def with_profile_pictures(g: Gallery, faces: np.ndarray, frac: float, shape: str,
                          panel: tuple[int, int, int] = (35, 35, 35)) -> np.ndarray:
    """`g`'s image with a profile photo on each camera-off tile instead of the centred name, as
    meeting apps show one while the camera is off: `faces` (gray, used in order) `frac` of the tile's
    height, a little above its centre, as a circle (Meet, Teams) or a square (Zoom), on the flat
    panel, the name in the bottom-left label."""
    import cv2

    img = g.image.copy()
    k = 0
    for (x, y, w, h), off, name in zip(g.tiles, g.camera_off, g.names):
        if not off:
            continue
        side = int(h * frac)
        photo = cv2.cvtColor(cv2.resize(faces[k % len(faces)], (side, side), interpolation=cv2.INTER_CUBIC),
                             cv2.COLOR_GRAY2BGR)
        k += 1
        tile = img[y:y + h, x:x + w]
        tile[:] = panel
        fx, fy = (w - side) // 2, (h - side) // 2 - h // 12
        mask = np.full((side, side), 255, np.uint8)
        if shape == "circle":
            mask[:] = 0
            cv2.circle(mask, (side // 2, side // 2), side // 2, 255, -1)
        roi = tile[fy:fy + side, fx:fx + side]
        roi[mask > 0] = photo[mask > 0]
        _label(tile, name, h)
    return img


def render_share(faces: np.ndarray, n: int, strip: str, content: tuple[int, int, int] = (250, 250, 250),
                 camera_off: tuple[int, ...] = (), size: tuple[int, int] = (1920, 1080), radius: int = 12,
                 seed: int = 0, title: str = "Lecture 4: Photosynthesis", slide: int | None = None) -> Gallery:
    """A screen share as Zoom, Meet and Teams lay it out, Meet's look (dark grey background, tiles
    with rounded corners, a coloured initial on camera-off tiles): the shared screen (a slide, or a
    dark editor: `content`) takes most of the window and the `n` participants' videos are a strip
    beside it, a column on the right (`strip="right"`) or a row above (`"top"`). `title`: the
    slide's heading; `slide`: a slide number, whose own bar chart is drawn below it (None: none)."""
    import cv2

    rng = np.random.default_rng(seed)
    W, H = size
    img = np.full((H, W, 3), (36, 33, 32), np.uint8)
    ink = tuple(255 - v for v in content)
    gap = 8
    if strip == "right":
        tw, th = W // 6, W // 6 * 9 // 16
        cv2.rectangle(img, (20, 20), (W - tw - 40, H - 100), content, -1)
        cells = [(W - tw - 20, 20 + i * (th + gap)) for i in range(n)]
    elif strip == "top":
        tw, th = W // 8, W // 8 * 9 // 16
        cv2.rectangle(img, (W // 10, th + 60), (W - W // 10, H - 100), content, -1)
        x0 = (W - (n * tw + (n - 1) * gap)) // 2
        cells = [(x0 + i * (tw + gap), 30) for i in range(n)]
    else:
        raise ValueError(f"strip must be 'right' or 'top', got {strip!r}")
    if any(x < 0 or y < 0 or x + tw > W or y + th > H for x, y in cells):
        raise ValueError(f"{n} tiles of {tw}x{th} do not fit a {strip} strip of a {W}x{H} window")
    cv2.putText(img, title, (W // 10 + 40, H // 2), cv2.FONT_HERSHEY_SIMPLEX, 2 * W / 1920, ink, max(1, 3 * W // 1920))
    if slide is not None:  # each slide its own figure: bars of its own heights and colour
        own = np.random.default_rng(1000 + slide)
        colour = tuple(int(v) for v in own.integers(40, 200, 3))
        bx, by, bw = W // 10 + 40, H // 2 + H // 14, W // 40
        for k in range(8):
            bh = int(own.integers(H // 30, H // 6))
            cv2.rectangle(img, (bx + k * 2 * bw, by + H // 6 - bh), (bx + k * 2 * bw + bw, by + H // 6), colour, -1)
    cv2.putText(img, "10:32 | abc-defg-hij", (30, H - 40), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (230, 230, 230), 1)
    g = Gallery(img, [], [], [], [])
    mask = np.zeros((th, tw), np.uint8)
    cv2.rectangle(mask, (radius, 0), (tw - radius, th), 255, -1)
    cv2.rectangle(mask, (0, radius), (tw, th - radius), 255, -1)
    for cx, cy in ((radius, radius), (tw - radius, radius), (radius, th - radius), (tw - radius, th - radius)):
        cv2.circle(mask, (cx, cy), radius, 255, -1)
    for i, (x, y) in enumerate(cells):
        name = f"{FIRST[i % len(FIRST)]} {LAST[(i * 7) % len(LAST)]}"
        tile = np.zeros((th, tw, 3), np.uint8)
        if i in camera_off:
            tile[:] = (67, 64, 60)
            cv2.circle(tile, (tw // 2, th // 2), th // 5, (int(rng.integers(50, 200)), 120, 200), -1)
            cv2.putText(tile, name[0], (tw // 2 - th // 12, th // 2 + th // 12), cv2.FONT_HERSHEY_SIMPLEX,
                        th / 150, (255, 255, 255), 2)
        else:
            _room(tile, rng)
            side = int(th * 0.55)
            face = cv2.cvtColor(cv2.resize(faces[i % len(faces)], (side, side), interpolation=cv2.INTER_CUBIC),
                                cv2.COLOR_GRAY2BGR)
            fx, fy = (tw - side) // 2, (th - side) // 2
            tile[fy:fy + side, fx:fx + side] = face
            g.faces.append((x + fx, y + fy, side, side))
            g.face_tiles.append(i)
        _label(tile, name, th)
        roi = img[y:y + th, x:x + tw]
        roi[mask > 0] = tile[mask > 0]
        g.tiles.append((x, y, tw, th))
        g.names.append(name)
        g.camera_off.append(i in camera_off)
    return g


def dark_room_tile(face: np.ndarray, size: tuple[int, int] = (480, 270), level: int = 18) -> np.ndarray:
    """A live camera in a dark room, its background flat black (`level`): the face with the
    shoulders below it, reaching the tile's bottom edge."""
    import cv2

    w, h = size
    tile = np.full((h, w, 3), level, np.uint8)
    side = int(0.5 * h)
    fx, fy = (w - side) // 2, int(0.15 * h)
    cv2.ellipse(tile, (w // 2, h), (int(0.42 * w), int(0.3 * h)), 0, 180, 360, (70, 60, 120), -1)
    tile[fy:fy + side, fx:fx + side] = cv2.cvtColor(cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC),
                                                    cv2.COLOR_GRAY2BGR)
    return tile


_PILLOW_NAMES = False  # set by render_gallery(names=...): given names are drawn as a meeting app does


def cjk_font() -> str | None:
    """A font file that draws Hangul and Latin alike (Noto Sans CJK: Debian's fonts-noto-cjk)."""
    import glob
    import subprocess

    try:
        out = subprocess.run(["fc-match", "-f", "%{file}", "Noto Sans CJK KR"], capture_output=True, text=True,
                             timeout=20).stdout.strip()
        if "CJK" in out and Path(out).exists():
            return out
    except (OSError, subprocess.TimeoutExpired):
        pass
    found = sorted(glob.glob("/usr/share/fonts/**/NotoSansCJK*.tt*", recursive=True))
    return found[0] if found else None


def _label(tile: np.ndarray, name: str, th: int) -> None:
    import cv2

    if not name.isascii() or _PILLOW_NAMES:
        return _label_unicode(tile, name, th)
    scale = max(0.35, th / 400)
    (tw_, th_), _ = cv2.getTextSize(name, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    pad = 4
    y1 = tile.shape[0] - 3
    sub = tile[y1 - th_ - 2 * pad: y1, 3: 3 + tw_ + 2 * pad]
    sub[:] = (sub * 0.35).astype(np.uint8)
    cv2.putText(tile, name, (3 + pad, y1 - pad), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)


def _label_unicode(tile: np.ndarray, name: str, th: int) -> None:
    """The name label as a meeting app draws it (white on a dark box, bottom left), in Pillow with
    a CJK font: cv2.putText draws only ASCII."""
    from PIL import Image, ImageDraw, ImageFont

    path = cjk_font()
    if path is None:
        raise RuntimeError("no CJK font (apt-get install fonts-noto-cjk) to draw the name " + name)
    font = ImageFont.truetype(path, max(12, int(th / 15)))
    left, top, right, bottom = font.getbbox(name)
    pad = 4
    w_, h_ = right - left, bottom - top
    y1 = tile.shape[0] - 3
    sub = tile[y1 - h_ - 2 * pad: y1, 3: 3 + w_ + 2 * pad]
    sub[:] = (sub * 0.35).astype(np.uint8)
    im = Image.fromarray(tile[..., ::-1].copy())
    ImageDraw.Draw(im).text((3 + pad - left, y1 - pad - h_ - top), name, font=font, fill=(255, 255, 255))
    tile[:] = np.asarray(im)[..., ::-1]


POSITIONS = ("top-left", "top-right", "bottom-left", "centre")


def desktop_with(shot: np.ndarray, width_frac: float, position: str = "centre", seed: int = 0,
                 size: tuple[int, int] = (1920, 1080)) -> tuple[np.ndarray, tuple[int, int, float]]:
    """`shot` (a meeting screenshot) as a window on a desktop: a photo-like wallpaper, two other
    windows with text, a taskbar, and the meeting window with its title bar, `width_frac` of the
    screen's width, at `position` (`POSITIONS`). Returns the desktop and (x, y, scale): where the
    screenshot's pixel (0, 0) lies and how it was resized, to map boxes found on it."""
    import cv2

    rng = np.random.default_rng(seed)
    W, H = size
    yy, xx = np.mgrid[0:H, 0:W]
    base = rng.integers(40, 200, 3)
    wall = base[None, None, :] * (0.6 + 0.4 * np.sin(xx[..., None] / rng.uniform(150, 400) + yy[..., None] / 300.0))
    desk = np.clip(wall + rng.normal(0, 12, (H, W, 3)), 0, 255).astype(np.uint8)
    desk = cv2.GaussianBlur(desk, (0, 0), 2)
    for k in range(6):  # desktop icons: small squares with a label
        x, y = 20, 20 + 90 * k
        cv2.rectangle(desk, (x, y), (x + 48, y + 48), tuple(int(v) for v in rng.integers(0, 255, 3)), -1)
        cv2.putText(desk, f"file{k}.pdf", (x - 6, y + 66), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    for k in range(2):  # other windows: a title bar, white body, lines of text
        ww, wh = int(rng.uniform(0.25, 0.45) * W), int(rng.uniform(0.3, 0.55) * H)
        x, y = int(rng.uniform(0.05, 0.6) * W), int(rng.uniform(0.05, 0.4) * H)
        cv2.rectangle(desk, (x, y), (x + ww, y + wh), (250, 250, 250), -1)
        cv2.rectangle(desk, (x, y), (x + ww, y + 28), (210, 210, 215), -1)
        cv2.putText(desk, ["Slides - Lesson 4", "Gradebook.xlsx"][k], (x + 10, y + 19), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                    (30, 30, 30), 1, cv2.LINE_AA)
        for j in range(2, wh // 22):
            cv2.putText(desk, "Lorem ipsum dolor sit amet, consectetur " * 2, (x + 12, y + 20 + 22 * j),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.45, (60, 60, 60), 1, cv2.LINE_AA)
    bar = 48
    desk[H - bar:] = (28, 30, 36)
    for k in range(8):
        cv2.rectangle(desk, (200 + 56 * k, H - bar + 8), (232 + 56 * k, H - 8), tuple(int(v) for v in rng.integers(80, 255, 3)), -1)
    cv2.putText(desk, "10:42", (W - 80, H - 18), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (230, 230, 230), 1, cv2.LINE_AA)
    scale = width_frac * W / shot.shape[1]
    win = cv2.resize(shot, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    title = 32
    wh, ww = win.shape[0] + title, win.shape[1]
    room_h = H - bar
    x = {"top-left": 40, "top-right": W - ww - 40, "bottom-left": 40, "centre": (W - ww) // 2}[position]
    y = {"top-left": 30, "top-right": 30, "bottom-left": room_h - wh - 20, "centre": (room_h - wh) // 2}[position]
    x, y = max(0, min(x, W - ww)), max(0, min(y, room_h - wh))
    cv2.rectangle(desk, (x - 1, y - 1), (x + ww, y + wh), (90, 90, 90), 1)
    desk[y:y + title, x:x + ww] = (236, 236, 236)
    cv2.putText(desk, "Zoom Meeting", (x + 12, y + 21), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (20, 20, 20), 1, cv2.LINE_AA)
    h_fit = min(win.shape[0], room_h - (y + title))
    desk[y + title:y + title + h_fit, x:x + ww] = win[:h_fit]
    return desk, (x, y + title, scale)


OVERLAYS = ("toolbar", "banner", "both")


def controls_over(image: np.ndarray, tiles: list, kind: str) -> np.ndarray:
    """`image` with what a tablet's or a phone's meeting app draws over the videos: "toolbar", a
    translucent bar of buttons across the whole width over the bottom fifth of the last row;
    "banner", a translucent notice across the middle half of the width inside the first row;
    "both"."""
    import cv2

    out = image.copy()
    H, W = out.shape[:2]
    last, first = tiles[-1], tiles[0]
    bars = []
    if kind in ("toolbar", "both"):
        bh = max(12, int(0.2 * last[3]))
        bars.append(((0, last[1] + last[3] - bh, W, bh), ["Mute", "Video", "Share", "More"]))
    if kind in ("banner", "both"):
        bars.append(((W // 4, first[1] + first[3] // 10, W // 2, max(14, first[3] // 5)), ["Recording..."]))
    for (x, y, w, h), labels in bars:
        roi = out[y:y + h, x:x + w]
        roi[:] = (0.75 * np.array((40, 40, 40)) + 0.25 * roi).astype(np.uint8)
        for k, label in enumerate(labels):
            cv2.putText(out, label, (x + 10 + k * w // len(labels), y + h // 2 + 5), cv2.FONT_HERSHEY_SIMPLEX,
                        0.45, (240, 240, 240), 1, cv2.LINE_AA)
    return out


class ScreenRecording:
    """A teacher's whole-desktop screen recording, frame by frame (`frame(t)`), as uploaded: a
    desktop (wallpaper, icons, a taskbar) with a browser whose page scrolls in bursts for most of it
    (text, photos without faces, a dark section of captioned cards that looks like a gallery), no
    face for `browse_s`; then a webcam window with a moving face over it until `webcam_end_s`; then
    a photo viewer showing a photo of a phone, tilted, whose screen shows a meeting of six faces.

    `faces`: gray or BGR face photos (FER2013's, upscaled); `size`: the screen; the scene keeps its
    proportions at any size. `phone_faces` says how many faces the phone shows (6)."""

    def __init__(self, faces: np.ndarray, size: tuple[int, int] = (1920, 1080), seconds: float = 116.0,
                 browse_s: float = 78.0, webcam_end_s: float = 100.0, seed: int = 0):
        import cv2

        self.size, self.seconds = size, float(seconds)
        self.browse_s, self.webcam_end_s = float(browse_s), float(webcam_end_s)
        self.phone_faces = 6
        rng = np.random.default_rng(seed)
        W, H = size
        u = W / 1920  # the scene's unit: one pixel at 1920 wide
        self.u = u
        desk, _ = desktop_with(np.zeros((8, 8, 3), np.uint8), 0.01, "top-left", seed=seed, size=size)
        desk[: int(80 * u)] = desk[int(80 * u): int(160 * u)]  # no tiny "meeting window" left over
        self.desk = desk
        # the browser: its window and a long page that scrolls in it
        self.win = (int(60 * u), int(30 * u), int(1500 * u), int(980 * u))
        x, y, w, h = self.win
        chrome = int(84 * u)
        self.view = (x, y + chrome, w, h - chrome)
        self.browser = np.full((h, w, 3), 250, np.uint8)
        self.browser[:chrome] = (222, 224, 228)
        for k, tab in enumerate(["Fractions - Khan Academy", "Class notes", "Worksheet 4.pdf"]):
            cv2.rectangle(self.browser, (int((10 + 230 * k) * u), int(6 * u)), (int((230 + 230 * k) * u), int(38 * u)),
                          (250, 250, 250) if k == 0 else (205, 207, 212), -1)
            cv2.putText(self.browser, tab, (int((20 + 230 * k) * u), int(28 * u)), cv2.FONT_HERSHEY_SIMPLEX,
                        0.45 * u, (30, 30, 30), 1, cv2.LINE_AA)
        cv2.rectangle(self.browser, (int(120 * u), int(46 * u)), (w - int(120 * u), int(76 * u)), (250, 250, 250), -1)
        cv2.putText(self.browser, "https://www.example.org/learn/fractions-and-decimals", (int(134 * u), int(67 * u)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.5 * u, (60, 60, 60), 1, cv2.LINE_AA)
        self.page = self._page(rng, w, int(9000 * u))
        # the scroll: a burst of 1 s every 4 s (a wheel's steps, eased), and back up once
        self.bursts = [(2.0 + 4.0 * k, (380 if k != 9 else -900) * u) for k in range(int((browse_s - 2) // 4))]
        self.face = faces[3]
        self.webcam_bg = np.zeros((int(480 * u), int(640 * u), 3), np.uint8)
        _room(self.webcam_bg, rng)
        self.phone_photo = self._phone(faces, rng)

    def _page(self, rng, w: int, h: int) -> np.ndarray:
        """The web page: headings, paragraphs, photos (smooth colour fields, no faces) and a dark
        section of captioned cards in a grid, like a video site's."""
        import cv2

        u = self.u
        page = np.full((h, w, 3), 252, np.uint8)
        y = int(40 * u)
        k = 0
        while y < h - int(1200 * u):  # room for the tallest block (a dark section, 740 px)
            kind = k % 4
            if kind == 0:  # heading and paragraphs
                cv2.putText(page, f"{k // 4 + 1}. Fractions, decimals and percentages", (int(80 * u), y + int(30 * u)),
                            cv2.FONT_HERSHEY_SIMPLEX, 1.0 * u, (20, 20, 20), 2, cv2.LINE_AA)
                y += int(60 * u)
                for j in range(int(rng.integers(6, 14))):
                    cv2.putText(page, "A fraction names a part of a whole; its denominator says how many equal parts "
                                "the whole has"[: int(rng.integers(60, 100))], (int(80 * u), y + int(24 * u)),
                                cv2.FONT_HERSHEY_SIMPLEX, 0.6 * u, (50, 50, 50), 1, cv2.LINE_AA)
                    y += int(30 * u)
            elif kind == 1:  # a photo with a caption
                pw, ph = int(rng.uniform(600, 1000) * u), int(rng.uniform(300, 480) * u)
                page[y:y + ph, int(80 * u):int(80 * u) + pw] = _smooth_photo(rng, ph, pw)
                cv2.putText(page, "Figure: a pizza cut into eighths", (int(80 * u), y + ph + int(26 * u)),
                            cv2.FONT_HERSHEY_SIMPLEX, 0.5 * u, (90, 90, 90), 1, cv2.LINE_AA)
                y += ph + int(60 * u)
            elif kind == 2:  # a dark section: cards in a grid, white captions (a video site's)
                cols, rows = 4, 2
                sh = int(2 * 330 * u + 80 * u)
                page[y:y + sh] = (24, 24, 28)
                cw, ch = int(300 * u), int(170 * u)
                for r in range(rows):
                    for c in range(cols):
                        cx, cy = int((80 + c * 330) * u), y + int((30 + r * 330) * u)
                        page[cy:cy + ch, cx:cx + cw] = _smooth_photo(rng, ch, cw)
                        cv2.putText(page, f"Lesson {r * cols + c + 1}: comparing fractions", (cx, cy + ch + int(28 * u)),
                                    cv2.FONT_HERSHEY_SIMPLEX, 0.55 * u, (235, 235, 235), 1, cv2.LINE_AA)
                        cv2.putText(page, f"{int(rng.integers(2, 90))}K views", (cx, cy + ch + int(54 * u)),
                                    cv2.FONT_HERSHEY_SIMPLEX, 0.45 * u, (160, 160, 160), 1, cv2.LINE_AA)
                y += sh + int(40 * u)
            else:  # a table
                for r in range(8):
                    for c in range(4):
                        x0 = int((80 + c * 250) * u)
                        cv2.rectangle(page, (x0, y), (x0 + int(250 * u), y + int(36 * u)), (180, 180, 180), 1)
                        cv2.putText(page, f"{(r + 1) * (c + 2)}/{(c + 2) * 4}", (x0 + int(10 * u), y + int(25 * u)),
                                    cv2.FONT_HERSHEY_SIMPLEX, 0.55 * u, (40, 40, 40), 1, cv2.LINE_AA)
                    y += int(36 * u)
                y += int(40 * u)
            k += 1
        return page

    def _phone(self, faces: np.ndarray, rng) -> np.ndarray:
        """A photo viewer, full screen: a dark surround and a photo of a phone (tilted 3 degrees, a
        little soft) whose screen shows a meeting of six people in a 2 x 3 grid."""
        import cv2

        W, H = self.size
        u = self.u
        pw, ph = int(430 * u), int(880 * u)
        phone = np.full((ph, pw, 3), 12, np.uint8)
        sx, sy, sw, sh = int(18 * u), int(60 * u), pw - int(36 * u), ph - int(130 * u)
        screen = np.full((sh, sw, 3), 30, np.uint8)
        cols, rows, gap = 2, 3, max(2, int(4 * u))
        tw, th = (sw - gap) // cols, (sh - 2 * gap) // rows
        for i in range(self.phone_faces):
            r, c = divmod(i, cols)
            tile = screen[r * (th + gap):r * (th + gap) + th, c * (tw + gap):c * (tw + gap) + tw]
            _room(tile, rng)
            side = int(tw * 0.62)
            f = _square_bgr(faces[(7 + 5 * i) % len(faces)], side)
            fx, fy = (tw - side) // 2, int(th * 0.2)
            tile[fy:fy + side, fx:fx + side] = f
            _label(tile, f"{FIRST[i]} {LAST[i]}", th)
        phone[sy:sy + sh, sx:sx + sw] = screen
        img = np.full((H, W, 3), 18, np.uint8)
        x0, y0 = (W - pw) // 2, (H - ph) // 2
        img[y0:y0 + ph, x0:x0 + pw] = phone
        rot = cv2.getRotationMatrix2D((W / 2, H / 2), 3.0, 1.0)
        img = cv2.warpAffine(img, rot, (W, H), flags=cv2.INTER_LINEAR, borderValue=(18, 18, 18))
        img = cv2.GaussianBlur(img, (0, 0), 0.8)
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 70])
        return cv2.imdecode(buf, cv2.IMREAD_COLOR)

    def scroll(self, t: float) -> int:
        """The page's scroll offset at time t (pixels)."""
        off = 0.0
        for start, dist in self.bursts:
            if t >= start + 1.0:
                off += dist
            elif t > start:
                a = (t - start)
                off += dist * a * a * (3 - 2 * a)
        view_h = self.view[3]
        return int(min(max(0.0, off), self.page.shape[0] - view_h))

    def faces_at(self, t: float) -> int:
        """How many faces the screen shows at time t."""
        return 0 if t < self.browse_s else (1 if t < self.webcam_end_s else self.phone_faces)

    def frame(self, t: float) -> np.ndarray:
        if t >= self.webcam_end_s:
            return self.phone_photo.copy()
        u = self.u
        img = self.desk.copy()
        x, y, w, h = self.win
        img[y:y + h, x:x + w] = self.browser
        vx, vy, vw, vh = self.view
        off = self.scroll(min(t, self.browse_s))
        img[vy:vy + vh, vx:vx + vw] = self.page[off:off + vh, :vw]
        if t >= self.browse_s:  # the webcam window, its face moving
            cam = self.webcam_bg.copy()
            ch, cw = cam.shape[:2]
            side = int(220 * u)
            face = _square_bgr(self.face, side)
            i = t * 25
            ox, oy = int((170 + 120 * np.sin(i / 40)) * u), int((100 + 40 * np.cos(i / 55)) * u)
            ox, oy = min(max(0, ox), cw - side), min(max(0, oy), ch - side)
            cam[oy:oy + side, ox:ox + side] = face
            wx, wy, bar = int(1200 * u), int(260 * u), int(30 * u)
            img[wy:wy + bar, wx:wx + cw] = (60, 60, 64)
            img[wy + bar:wy + bar + ch, wx:wx + cw] = cam
        return img


def _square_bgr(face: np.ndarray, side: int) -> np.ndarray:
    """`face` resized to `side` x `side`, in BGR."""
    import cv2

    f = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC)
    return f if f.ndim == 3 else np.repeat(f[..., None], 3, axis=2)


def _smooth_photo(rng, h: int, w: int) -> np.ndarray:
    """A photo without faces: smooth colour fields (a landscape, a still life) with some grain."""
    import cv2

    small = rng.integers(30, 230, (4, 6, 3)).astype(np.uint8)
    img = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    return np.clip(img + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8)


def h264_screen_frame(bgr: np.ndarray, crf: int) -> np.ndarray:
    """`bgr` as the first frame of an H.264 stream at rate factor `crf` (libx264 through PyAV,
    preset medium, one thread so that the same pixels always give the same frame, yuv420p, as a
    screen recording carries it; an odd side's last row or column repeated, then cut off again).
    `bench/real_layout.py` reads the real screenshots through it."""
    import io

    import av
    import cv2

    h, w = bgr.shape[:2]
    img = cv2.copyMakeBorder(bgr, 0, h % 2, 0, w % 2, cv2.BORDER_REPLICATE)
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        st = out.add_stream("libx264", rate=10)
        st.width, st.height, st.pix_fmt = img.shape[1], img.shape[0], "yuv420p"
        st.options = {"crf": str(crf), "preset": "medium", "threads": "1"}
        for _ in range(3):
            for packet in st.encode(av.VideoFrame.from_ndarray(img, format="bgr24")):
                out.mux(packet)
        for packet in st.encode():
            out.mux(packet)
    buf.seek(0)
    with av.open(buf) as video:
        return next(video.decode(video=0)).to_ndarray(format="bgr24")[:h, :w]


def write_video(path, frame_at, seconds: float, fps: int = 25, size: tuple[int, int] = (1920, 1080),
                keyframe_s: float = 10.0, crf: int = 23) -> Path:
    """A video as a screen recorder writes it: H.264 (libx264, veryfast, B frames), yuv420p, a
    keyframe every `keyframe_s`; frame i is `frame_at(i / fps)` (BGR, `size`)."""
    import av

    w, h = size
    with av.open(str(path), "w") as out:
        st = out.add_stream("libx264", rate=fps)
        st.width, st.height, st.pix_fmt = w, h, "yuv420p"
        key = str(int(fps * keyframe_s))
        st.codec_context.options = {"preset": "veryfast", "crf": str(crf), "keyint": key, "min-keyint": key,
                                    "sc_threshold": "0"}
        for i in range(int(round(seconds * fps))):
            for packet in st.encode(av.VideoFrame.from_ndarray(frame_at(i / fps), format="bgr24")):
                out.mux(packet)
        for packet in st.encode():
            out.mux(packet)
    return Path(path)


def seen_gallery(time_s: float, boxes: list[Box]):
    """The analyser's record of a gallery whose every tile shows its participant's face (a neutral
    one, in the tile's centre): what the tracker needs to take tiles for a gallery worth naming."""

    scores = np.full(len(EMOTIONS), 0.1, np.float32)
    scores[EMOTIONS.index("neutral")] = 0.4
    faces = [FaceResult((x + w // 3, y + h // 4, w // 3, w // 3), k, None, "participant", 0.9, False, scores / scores.sum())
             for k, (x, y, w, h) in enumerate(boxes)]
    return FrameResult(float(time_s), [TileResult(tuple(b)) for b in boxes], faces)


class SlideLesson:
    """A lesson given over a shared slide deck, frame by frame as the bot would capture it: slide k
    (1-based) is shared from `(k - 1) * slide_s` on, `n` participants' videos in a strip above it
    (`render_share`). Participant i shows `calm[i]` (cycled), and `sad[i]` while one of `sad_slides`
    is shared; each frame gets a little sensor noise. Iterating yields `bot.records.Frame`s every
    `every` seconds for `minutes`."""

    def __init__(self, calm: np.ndarray, sad: np.ndarray | None = None, n: int = 6, minutes: float = 45.0,
                 every: float = 5.0, slide_s: float = 120.0, sad_slides: tuple[int, ...] = (),
                 size: tuple[int, int] = (1920, 1080), strip: str = "top", seed: int = 0):
        self.calm, self.sad, self.n = calm, sad if sad is not None else calm, n
        self.minutes, self.every, self.slide_s = float(minutes), float(every), float(slide_s)
        self.sad_slides, self.size, self.strip, self.seed = tuple(sad_slides), size, strip, seed

    def slide_at(self, t: float) -> int:
        return int(t // self.slide_s) + 1

    def times(self) -> np.ndarray:
        return np.arange(0.0, self.minutes * 60.0, self.every)

    def __len__(self) -> int:
        return len(self.times())

    def frame(self, t: float) -> np.ndarray:
        k = self.slide_at(t)
        pool = self.sad if k in self.sad_slides else self.calm
        faces = np.stack([pool[i % len(pool)] for i in range(self.n)])
        img = render_share(faces, self.n, self.strip, size=self.size, seed=self.seed, slide=k,
                           title=f"Slide {k}: {TOPICS[(k - 1) % len(TOPICS)]}").image
        noise = np.random.default_rng(self.seed * 100003 + int(t * 10)).normal(0, 2.0, img.shape)
        return np.clip(img.astype(np.float32) + noise, 0, 255).astype(np.uint8)

    def __iter__(self):
        for t in self.times():
            yield Frame(float(t), self.frame(float(t)))


TOPICS = ["Light and leaves", "Chlorophyll", "The light reactions", "Water splits", "ATP and NADPH",
          "The Calvin cycle", "Carbon fixation", "Limiting factors", "Rates and graphs", "C4 plants",
          "CAM plants", "Experiments", "Summary", "Quiz", "Homework"]
