"""Zoom-like gallery screenshots with known tiles and faces, for tests and benchmarks.

Faces are real photographs supplied by the caller (e.g. FER2013 faces, upscaled); the renderer adds
the meeting chrome: a dark background, title bar, toolbar, optional side panel, name labels,
camera-off tiles with a centred name, an active-speaker border, uneven last rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from pathlib import Path

import numpy as np

Box = tuple[int, int, int, int]
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

    from model.detector import FaceDetector

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
                 seed: int = 0) -> Gallery:
    """A screen share as Zoom, Meet and Teams lay it out, Meet's look (dark grey background, tiles
    with rounded corners, a coloured initial on camera-off tiles): the shared screen (a slide, or a
    dark editor: `content`) takes most of the window and the `n` participants' videos are a strip
    beside it, a column on the right (`strip="right"`) or a row above (`"top"`)."""
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
    cv2.putText(img, "Lecture 4: Photosynthesis", (W // 10 + 40, H // 2), cv2.FONT_HERSHEY_SIMPLEX, 2, ink, 3)
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
