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
                   face_frac: tuple[float, float] = (0.42, 0.6), names: list[str] | None = None) -> Gallery:
    """Render `n_tiles` tiles; `camera_off` of them show only a name. `faces`: gray or BGR face
    photos (N, h, w[, 3]), used in order (cycled). `names`: the tiles' names (cycled; default
    made-up Latin ones); a name outside ASCII (Hangul, say) is drawn with Pillow in a CJK font."""
    import cv2

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
    gap = max(2, W // 400)
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

    if not name.isascii():
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
