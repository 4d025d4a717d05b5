"""Evidence about a tile that the layout's parts read: a gutter across it, a camera-off panel and
the pictures and text on it, the lines along its borders."""

from __future__ import annotations

import numpy as np

from bot.geometry import Box
from bot.layout.options import LayoutOptions


def gutter_across(is_bg: np.ndarray, box: Box, step: int = 2) -> bool:
    """Whether a gutter now runs across the tile `box` (frame pixels; `is_bg`: the frame's
    background mask, 0/1, taken every `step` pixels each way): a row or column in its middle band
    (20-80% of its height or width) that is background from end to end (95% of it; the tile's outer
    5% left out), as when a 3x3 gallery becomes 4x4 as people join: the new gutters cross the old
    tiles while the old background stays background. Video has no such line of the background's
    level from edge to edge in its middle (the black bars of a letterboxed video lie along its
    edges); a camera-off panel is flat but not at the background's level."""
    x, y, w, h = (v // step for v in box)
    mx, my = max(1, w // 20), max(1, h // 20)
    rows = is_bg[y + h // 5:y + h - h // 5, x + mx:x + w - mx]
    cols = is_bg[y + my:y + h - my, x + w // 5:x + w - w // 5]
    if min(rows.shape + cols.shape) < 4:
        return False
    return bool(rows.mean(axis=1).max() >= 0.95 or cols.mean(axis=0).max() >= 0.95)


def looks_camera_off(gray: np.ndarray, box: Box, opts: LayoutOptions) -> bool:
    """Camera-off tiles are a flat dark panel with a name on it, or with a letter avatar on it (a
    flat coloured square with one capital, as Zoom draws for someone without a photo): the panel's
    level and one other flat level then cover the tile as the panel alone covers a name tile. On
    the 13 shared real screenshots the video tiles reach at most 0.78 of the tile with two levels
    (a dark room), the camera-off ones 0.87 and more. Failing that, the panel's parts decide (see
    `panel_parts`): a panel whose every part is a line of text (a long name) or a still picture (a
    profile photo) is camera-off."""
    x, y, w, h = box
    inner = gray[y + h // 20: y + h - h // 20, x + w // 20: x + w - w // 20]
    if inner.size == 0:
        return False
    sub = inner[::2, ::2]
    mode = int(np.bincount(sub.ravel(), minlength=256).argmax())
    near = np.abs(sub.astype(np.int16) - mode) <= 3
    share = float(near.mean())
    if mode < 90 and share >= opts.camera_off_uniform:
        return True
    rest = sub[~near]
    if rest.size == 0:
        return False
    second = int(np.bincount(rest.ravel(), minlength=256).argmax())
    near2 = np.abs(sub.astype(np.int16) - second) <= 3
    panel = near if mode < second else near2  # the darker of the two levels is the panel
    if min(mode, second) < 90 and panel.mean() >= 0.2 and (near | near2).mean() >= opts.camera_off_uniform:
        return True
    parts = panel_parts(gray, box)
    return parts is not None and all(kind != "other" for kind, _ in parts)


def panel_parts(gray: np.ndarray, tile: Box) -> list[tuple[str, Box]] | None:
    """The parts of a tile drawn on a flat dark panel, as (kind, box in the tile's pixels); None
    where the tile is no such panel (its commonest grey is 90 or lighter, or covers less than 30%,
    or what lies outside the parts is not 85% panel). The panel is the pixels within 3 grey levels
    of the commonest level; a part is a region of other pixels, small gaps closed. Kinds:

    - "picture": a still picture, as Zoom, Meet and Teams show for a camera that is off. Either it
      keeps a margin from every edge of the tile and covers at most half of it (an avatar, a round
      or square photo: a person on camera reaches the tile's bottom edge at least), or it is a
      photo filling the tile's height: a rectangle (90% of its box), about square (0.7 to 1.4),
      centred across the tile, with panel left and right of it.
    - "text": a line of text or an icon, at most a fifth of the tile's height (a name, a muted mark),
      or a third where it is three times as wide as tall and clear of the tile's top and bottom
      edges (a name blurred into large blocks; shoulders reach the bottom edge).
    - "other": anything else (a body, a room: video).
    """
    import cv2

    x, y, w, h = tile
    sub = np.ascontiguousarray(gray[y:y + h:2, x:x + w:2])
    if sub.shape[0] < 16 or sub.shape[1] < 16:
        return None
    mode = int(cv2.calcHist([sub], [0], None, [256], [0, 256]).argmax())
    if mode >= 90:
        return None
    flat = cv2.inRange(sub, max(0, mode - 3), mode + 3) > 0
    if flat.mean() < 0.3:
        return None
    H, W = sub.shape
    k = max(3, min(H, W) // 40)
    off = cv2.morphologyEx((~flat).astype(np.uint8), cv2.MORPH_CLOSE, np.ones((k, k), np.uint8))
    # the tile's outer edge (a speaker's frame, rounded corners, the gutter a box may hold) is no part
    e = max(2, min(H, W) // 25)
    off[:e], off[-e:], off[:, :e], off[:, -e:] = 0, 0, 0, 0
    n, labels, stats, _ = cv2.connectedComponentsWithStats(off, connectivity=8)
    parts: list[tuple[str, Box]] = []
    rest = np.ones_like(flat)
    for i in range(1, n):
        px, py, pw, ph, area = (int(v) for v in stats[i])
        if area < 4:
            continue
        mx, my = 0.04 * W, 0.04 * H
        floating = px >= mx and py >= my and px + pw <= W - mx and py + ph <= H - my and pw * ph <= 0.5 * W * H
        photo = (area >= 0.9 * pw * ph and 0.7 <= pw / ph <= 1.4 and ph >= 0.6 * H
                 and abs(px + pw / 2 - W / 2) <= 0.08 * W and px >= 0.1 * W and px + pw <= 0.9 * W)
        edge = py <= e or py + ph >= H - e  # cut off by the tile's top or bottom edge (a long name may span its width)
        if (ph <= H / 5 or (ph <= H / 3 and pw >= 3 * ph and not edge)) and not photo and pw * ph <= 0.5 * W * H:
            kind = "text"  # a line of text, or a name blurred into large blocks
        elif (floating and ph > H / 5) or photo:
            kind = "picture"
        else:
            kind = "other"
        parts.append((kind, (x + 2 * px, y + 2 * py, 2 * pw, 2 * ph)))
        rest[py:py + ph, px:px + pw] = False
    inside = rest[e:-e, e:-e]
    if not inside.any() or flat[e:-e, e:-e][inside].mean() < 0.85:
        return None
    return parts


def picture_on_panel(gray: np.ndarray, tile: Box, face: Box) -> bool:
    """Whether `face` (a box in `tile`) is a still picture on a camera-off tile, not video: a profile
    photo or avatar, which Zoom, Meet and Teams show on a flat dark panel while the camera is off
    (see `panel_parts`): the face's centre lies in a "picture" part and nothing on the panel is
    video. A live video tile has a room, a wall's gradient and noise, or a body, around the face."""
    parts = panel_parts(gray, tile)
    if not parts or any(kind == "other" for kind, _ in parts):
        return False
    cx, cy = face[0] + face[2] / 2, face[1] + face[3] / 2
    return any(kind == "picture" and px <= cx < px + pw and py <= cy < py + ph for kind, (px, py, pw, ph) in parts)


class LineMap:
    """Where the picture jumps by `jump` grey levels or more between neighbouring pixels, kept as
    running sums (integral images, made when whole profiles are first asked for), so that how much
    of any line (between two neighbouring rows or columns, over any stretch) jumps is read at once.
    A line from end to end on a gutter, or where one video meets the next, jumps along most of it;
    a video's own texture along some of it."""

    def __init__(self, gray: np.ndarray, jump: int = 8):
        self.gray = np.ascontiguousarray(gray)
        self.H, self.W = self.gray.shape[:2]
        self.jump = jump
        self._sums: tuple[np.ndarray, np.ndarray] | None = None  # made on the first use of rows/cols

    def _integrals(self) -> tuple[np.ndarray, np.ndarray]:
        """(across, down) running sums: across[y, x] counts the jumps between columns x - 1 and x
        in rows above y, down[y, x] those between rows y - 1 and y in columns left of x."""
        if self._sums is None:
            import cv2

            g = self.gray
            across = (cv2.absdiff(g[:, 1:], g[:, :-1]) >= self.jump).astype(np.uint8)
            down = (cv2.absdiff(g[1:], g[:-1]) >= self.jump).astype(np.uint8)
            self._sums = cv2.integral(across), cv2.integral(down)  # (H + 1, W), (H, W + 1)
        return self._sums

    def _edge(self, part: np.ndarray) -> float:
        """The frame's edge as a line: a weak one where a picture is cut off by it, none along flat
        background."""
        return 0.5 if part.size and int(part.max()) - int(part.min()) > 7 else 0.0

    def rows(self, x0: int, x1: int) -> np.ndarray:
        """share[y] for y in 0..H: of the line between picture rows y - 1 and y, over columns x0..x1."""
        d = self._integrals()[1]
        out = np.zeros(self.H + 1)
        if x1 > x0:
            out[1:self.H] = (d[1:, x1] - d[1:, x0] - d[:-1, x1] + d[:-1, x0]) / (x1 - x0)
        out[0], out[self.H] = self._edge(self.gray[:3, x0:x1]), self._edge(self.gray[-3:, x0:x1])
        return out

    def cols(self, y0: int, y1: int) -> np.ndarray:
        """share[x] for x in 0..W: of the line between picture columns x - 1 and x, over rows y0..y1."""
        a = self._integrals()[0]
        out = np.zeros(self.W + 1)
        if y1 > y0:
            out[1:self.W] = (a[y1, 1:] - a[y1, :-1] - a[y0, 1:] + a[y0, :-1]) / (y1 - y0)
        out[0], out[self.W] = self._edge(self.gray[y0:y1, :3]), self._edge(self.gray[y0:y1, -3:])
        return out

    def row(self, y: int, x0: int, x1: int) -> float | None:
        """The share of one line between rows y - 1 and y (None: the frame's edge)."""
        if y <= 0 or y >= self.H or x1 <= x0:
            return None
        if self._sums is None:  # a few lines: read them off the picture
            g = self.gray
            return float((np.abs(g[y, x0:x1].astype(np.int16) - g[y - 1, x0:x1]) >= self.jump).mean())
        d = self._sums[1]
        return float(d[y, x1] - d[y, x0] - d[y - 1, x1] + d[y - 1, x0]) / (x1 - x0)

    def col(self, x: int, y0: int, y1: int) -> float | None:
        """The share of one line between columns x - 1 and x (None: the frame's edge)."""
        if x <= 0 or x >= self.W or y1 <= y0:
            return None
        if self._sums is None:
            g = self.gray
            return float((np.abs(g[y0:y1, x].astype(np.int16) - g[y0:y1, x - 1]) >= self.jump).mean())
        a = self._sums[0]
        return float(a[y1, x] - a[y1, x - 1] - a[y0, x] + a[y0, x - 1]) / (y1 - y0)


def border_lines(lines: LineMap, box: Box, reach: int = 2) -> float:
    """How much of a tile's border lies on lines, 0 to 1: the mean of `border_sides`."""
    return float(np.mean(border_sides(lines, box, reach)))


def border_sides(lines: LineMap, box: Box, reach: int = 2) -> list[float]:
    """How much of each side of a tile (top, bottom, left, right) lies on a line, 0 to 1: the share of
    the side along which the picture jumps across it (`LineMap`; the line within `reach` pixels
    of the side that jumps most), less the share of the lines 6 and 12 pixels inside (a video's own
    texture jumps anywhere); a side on the frame's edge counts half where a picture is cut off
    there. A side on a gutter or where one video meets the next scores high, a cut through the
    middle of a video near 0."""
    H, W = lines.H, lines.W
    x, y, w, h = (int(v) for v in box)
    if w < 30 or h < 30:
        return [0.0] * 4
    xa, xb = max(0, x + w // 20), min(W, x + w - w // 20)
    ya, yb = max(0, y + h // 20), min(H, y + h - h // 20)
    sides = []
    for line, edge, inward in ((lambda r: lines.row(r, xa, xb), y, 1), (lambda r: lines.row(r, xa, xb), y + h, -1),
                               (lambda c: lines.col(c, ya, yb), x, 1), (lambda c: lines.col(c, ya, yb), x + w, -1)):
        near = [v for v in (line(edge + o) for o in range(-reach, reach + 1)) if v is not None]
        if not near:  # the frame's edge
            sides.append(0.5)
            continue
        inner = [v for v in (line(edge + inward * d) for d in (6, 12)) if v is not None]
        base = float(np.mean(inner)) if inner else 0.0
        sides.append(max(0.0, min(1.0, max(near) - base)))
    return sides
