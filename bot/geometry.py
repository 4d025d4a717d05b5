"""Boxes: (x, y, w, h) in a frame's pixels, and what the analyser, the layout and the tracker measure
with them (one home: no copies)."""

from __future__ import annotations

Box = tuple[int, int, int, int]


def center_in(box: Box, tile: Box) -> bool:
    """Whether `box`'s centre lies in `tile`."""
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    return tile[0] <= cx < tile[0] + tile[2] and tile[1] <= cy < tile[1] + tile[3]


def overlaps(a: Box, b: Box, share: float = 0.1) -> bool:
    """Whether two boxes share more than `share` of the smaller one's width and of its height."""
    ix = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    iy = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return ix > share * min(a[2], b[2]) and iy > share * min(a[3], b[3])


def clip(box: Box, w: int, h: int) -> Box:
    x, y, bw, bh = box
    x, y = max(0, min(x, w - 1)), max(0, min(y, h - 1))
    return x, y, max(1, min(bw, w - x)), max(1, min(bh, h - y))


def iou(a: Box, b: Box) -> float:
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / float(a[2] * a[3] + b[2] * b[3] - inter) if inter else 0.0


def detection_roi(layout, width: int, height: int) -> Box:
    """Where the whole-frame pass looks: the box around the tiles that show video, with a margin
    (side panels, toolbars, the taskbar and camera-off tiles at the grid's end are skipped; faces
    in the gutters or in a tile the layout missed inside the grid are still seen). The whole frame
    where there is no grid, or where every tile looks camera-off."""
    video = [t.box for t in layout if not t.camera_off] or [t.box for t in layout]
    if len(layout) < 2 or not video:
        return 0, 0, width, height
    m = int(0.02 * max(width, height))
    x0 = max(0, min(b[0] for b in video) - m)
    y0 = max(0, min(b[1] for b in video) - m)
    x1 = min(width, max(b[0] + b[2] for b in video) + m)
    y1 = min(height, max(b[1] + b[3] for b in video) + m)
    return x0, y0, x1 - x0, y1 - y0
