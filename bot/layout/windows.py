"""Proposer: where a meeting's window sits on a desktop, to search its tiles at its own size."""

from __future__ import annotations

import numpy as np

from bot.geometry import Box, iou
from bot.layout.gutters import background_levels
from bot.layout.options import LayoutOptions


def meeting_windows(gray: np.ndarray, opts: LayoutOptions = LayoutOptions(), limit: int = 4) -> list[Box]:
    """Where a meeting's gallery may sit on a screen among other windows, a wallpaper, a taskbar
    and side panels: the boxes around large connected areas of one flat dark level (a gallery's
    background, joined up by its gutters), biggest first. Tiles are then looked for in each, against
    that window's own size (a 640-pixel window holds tiles too small to count on a 1920 screen).
    Connected at full size: a window's one-pixel border keeps its background apart from a dark
    wallpaper beside it (a smaller picture would blur the border away)."""
    import cv2

    H, W = gray.shape[:2]
    f = max(1, W // 480)
    small = cv2.resize(gray, (W // f, H // f), interpolation=cv2.INTER_AREA) if f > 1 else gray
    # flat pixels only (3x3 range <= 2): a meeting's background is drawn flat, a wallpaper photo
    # beside the window is not, though its mean may be the same grey
    kernel = np.ones((3, 3), np.uint8)
    flat = cv2.inRange(cv2.subtract(cv2.dilate(gray, kernel), cv2.erode(gray, kernel)), 0, 2)
    out: list[tuple[int, Box]] = []
    for level in background_levels(small, k=4):
        mask = cv2.bitwise_and(flat, cv2.inRange(gray, max(0, level - opts.bg_tolerance),
                                                 min(255, level + opts.bg_tolerance)))
        n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        for x, y, w, h, area in stats[1:]:
            if w * h < 0.03 * H * W or w < 0.12 * W or h < 0.12 * H:
                continue
            if w * h > 0.9 * H * W:  # the whole screen: that is the search over the whole frame
                continue
            if area < 0.08 * w * h:  # a thin outline (a frame, a line), not a background with tiles on it
                continue
            out.append((int(w * h), (int(x), int(y), int(w), int(h))))
    boxes: list[Box] = []
    for _, b in sorted(out, key=lambda t: -t[0]):
        if all(iou(b, o) < 0.8 for o in boxes):
            boxes.append(b)
    return boxes[:limit]
