"""The fit: candidate tilings from the proposers, each scored against the evidence, the best kept.

Two steps. `search` (on a new picture, a moved window, a changed grid) proposes tilings from the
picture alone: the grid against the background across the frame (`gutters`), or in a meeting
window on it (`windows`), or where videos touch (`seams`), the one with most tiles kept. Once the
faces are found, on the whole frame where the layout was searched (faces first), `fit` weighs that
tiling against the tilings the faces propose (`faces`: a tile the search missed around a face,
tiles holding rows of faces cut into videos, rows of tiles fitted to the faces and the picture's
lines) by the evidence (`score`): faces of the gallery's size one to a tile, none left outside,
tiles whose borders lie on gutters or seams, none overlapping. Weights are `LayoutOptions.fit_*`.
"""

from __future__ import annotations

import numpy as np

from bot.geometry import Box, center_in, clip, detection_roi, overlaps
from bot.layout.evidence import LineMap, border_sides, looks_camera_off
from bot.layout.faces import crowded, missed_tiles, split_crowded, tiles_from_faces
from bot.layout.gutters import fills, gutter_tiles
from bot.layout.images import gray_of
from bot.layout.options import LayoutOptions, Tile
from bot.layout.seams import grid_regions, seam_tiles
from bot.layout.windows import meeting_windows


def find_tiles(frame: np.ndarray, opts: LayoutOptions = LayoutOptions()) -> list[Tile]:
    """Tiles of a gallery frame (BGR or gray) in reading order."""
    return search(gray_of(frame), opts)[0]


def search(gray: np.ndarray, opts: LayoutOptions) -> tuple[list[Tile], int | None]:
    """(tiles, the background level they were found against; None where no grid was found): the
    grid across the whole frame, or in a meeting window found on it (`meeting_windows`), whichever
    holds more tiles; where neither holds two, tiles that touch (`seam_tiles`)."""
    tiles, bg, _ = search_all(gray, opts)
    return tiles, bg


def search_all(gray: np.ndarray, opts: LayoutOptions) -> tuple[list[Tile], int | None, list[list[Tile]]]:
    """`search`, and the other tilings of two tiles or more it proposed and did not keep (for `fit`
    to weigh against the faces: a window's grid of fewer tiles than the whole frame's may be the
    one that holds the faces)."""
    import cv2

    h0, w0 = gray.shape[:2]
    scale = min(1.0, opts.work_width / w0)
    small = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else gray
    boxes, bg = gutter_tiles(small, opts)
    others: list[list] = []
    for wx, wy, ww, wh in ([] if fills(boxes, small.shape) else meeting_windows(small, opts)):
        # the window at the capture's own resolution (a wide capture of several monitors was
        # halved above, and a small window's tiles with it), its tiles back in `small`'s pixels
        fx, fy, fw, fh = (int(round(v / scale)) for v in (wx, wy, ww, wh))
        crop = np.ascontiguousarray(gray[fy:fy + fh, fx:fx + fw])
        inner, inner_bg = gutter_tiles(crop, opts) if crop.size else ([], None)
        inner = [(x * scale + wx, y * scale + wy, w * scale, h * scale) for x, y, w, h in inner]
        covered = sum(w * h for _, _, w, h in inner)
        if len(inner) > max(1, len(boxes)) and covered >= 0.35 * ww * wh:
            others.append(boxes)
            boxes, bg = inner, inner_bg
        else:
            others.append(inner)
    if len(boxes) <= 1:  # no gutters to go by: tiles that touch, split where one video meets the next
        for region, level in grid_regions(small, boxes, opts):
            touching = seam_tiles(small, region, opts)
            if len(touching) > max(1, len(boxes)):
                others.append(boxes)
                boxes, bg = touching, level
            else:
                others.append(touching)
    if not boxes:
        boxes, bg = [(0, 0, small.shape[1], small.shape[0])], None

    def tiles_of(found) -> list[Tile]:
        out = []
        for x, y, w, h in found:
            bx = (int(round(x / scale)), int(round(y / scale)), int(round(w / scale)), int(round(h / scale)))
            bx = clip(bx, w0, h0)
            out.append(Tile(bx, looks_camera_off(gray, bx, opts)))
        return out

    kept = tiles_of(boxes)
    seen = {tuple(t.box for t in kept)}
    alternatives = []
    for found in others:
        if len(found) >= 2:
            alt = tiles_of(found)
            if tuple(t.box for t in alt) not in seen:
                seen.add(tuple(t.box for t in alt))
                alternatives.append(alt)
    return kept, bg, alternatives


def fit(layout: list[Tile], faces: list[Box], gray: np.ndarray, opts: LayoutOptions = LayoutOptions(),
        searched: bool = True, others: list[list[Tile]] = ()) -> list[Tile]:
    """The tiling that the evidence favours: `layout` (from `search` or kept by `LayoutMemory`),
    or one the faces (boxes of confident detections) propose. Where every face of the gallery's size
    is alone in a tile, `layout` stands without more ado, unless it was `searched` on this frame
    and holds a video tile without a face (a tile cut out of a video?); on the frames after a
    search, only a face in none of the tiles (someone where the layout has no tile) opens the fit
    again: what the fit chose is kept with the layout (`LayoutMemory.adopt`). One face much larger than
    the median (a room with people far behind someone) proposes nothing: a room is no gallery.
    `others`: the tilings the search proposed and did not keep (`search_all`), weighed too."""
    if not faces:
        return layout
    H, W = gray.shape[:2]
    med = float(np.median([f[2] for f in faces]))
    main = [f for f in faces if f[2] >= med / 2.5]  # smaller ones: people far behind someone in a tile
    per = [sum(center_in(f, t.box) for f in main) for t in layout]
    held = all(any(center_in(f, t.box) for t in layout) for f in main)
    if held and not (searched and (max(per, default=0) > 1 or any(n == 0 and not t.camera_off
                                                                  for n, t in zip(per, layout)))):
        return layout
    roi = detection_roi(layout, W, H)
    if held and (max(per, default=0) <= 1 or (len(layout) > 1 and not crowded(layout, main))):
        # every face in a tile, a second face in a tile of a grid here and there (two people at one
        # camera), never several in the one tile of a frame with no grid; and every side of every
        # video tile a gap away from the next tile (a gutter: evidence of its own, though a dark
        # video's edge jumps little from a dark gutter) or on a line where it touches the next: no
        # tiling the faces propose does better. Only where tiles touch are lines looked at.
        touching = [(t.box, k) for t in layout if not t.camera_off for k in range(4) if _touches(t.box, k, layout)]
        if not touching:
            return layout
        lines = LineMap(gray, opts.line_jump)
        if all(border_sides(lines, box)[k] >= opts.line_strong for box, k in touching):
            return layout
    else:
        lines = LineMap(gray, opts.line_jump)
    known: dict = {}  # border evidence by box: the candidates share most of their tiles
    cands = [layout, *others]
    missed = missed_tiles(layout, main, gray, roi, opts, lines)
    if missed is not layout:
        cands.append(missed)
    if len(main) >= 3 and max(f[2] for f in faces) <= 2.5 * med:
        for base in list(cands):
            if len(base) > 1 and crowded(base, main):
                cands.append(split_crowded(base, main, gray, opts))
        cands.append(tiles_from_faces(main, W, H, gray, lines, opts))
    scores = [score(c, main, lines, roi, opts, known) for c in cands]
    return cands[int(np.argmax(scores))]  # the first of equals: the layout searched, then the nearest to it


def score(tiles: list[Tile], faces: list[Box], lines: LineMap, roi: Box, opts: LayoutOptions = LayoutOptions(),
          known: dict | None = None) -> float:
    """What the evidence says for a tiling (see `LayoutOptions.fit_*`): each tile holding a face
    earns `fit_face`; each face in no tile costs `fit_outside` near the grid (inside `roi`) or
    `fit_beyond` beyond it; each face beyond the first in a tile `fit_shared`; each pair of
    overlapping tiles `fit_overlap`; each video tile without a face `fit_empty` (a tile cut out of
    a video holds none); each tile earns `fit_lines` times how much of its border lies on lines
    (`evidence.border_sides`, their mean) less a half: borders on gutters or seams earn, a cut
    through a video costs (a camera-off tile, flat, at least nothing)."""
    held: dict[int, int] = {}
    s = 0.0
    for f in faces:
        k = next((i for i, t in enumerate(tiles) if center_in(f, t.box)), None)
        if k is None:
            s -= opts.fit_outside if center_in(f, roi) else opts.fit_beyond
        else:
            held[k] = held.get(k, 0) + 1
    s += opts.fit_face * len(held) - opts.fit_shared * sum(n - 1 for n in held.values())
    s -= opts.fit_overlap * sum(overlaps(a.box, b.box) for i, a in enumerate(tiles) for b in tiles[i + 1:])
    s -= opts.fit_empty * sum(1 for i, t in enumerate(tiles) if i not in held and not t.camera_off)
    known = {} if known is None else known
    for t in tiles:
        if t.box not in known:
            known[t.box] = float(np.mean(border_sides(lines, t.box)))
    # a camera-off panel is evidence of its own (`looks_camera_off`): its borders never count against it
    s += opts.fit_lines * sum(max(known[t.box], 0.5) if t.camera_off else known[t.box] for t in tiles) \
        - opts.fit_lines * 0.5 * len(tiles)
    return float(s)


def _touches(box: Box, side: int, tiles: list[Tile]) -> bool:
    """Whether another tile touches side `side` (0 top, 1 bottom, 2 left, 3 right) of `box`, within
    2 pixels and along a third of the side at least: tiles that touch with no gap between them
    meet at a cut that must lie on a line; a gutter between tiles is evidence of its own."""
    x, y, w, h = box
    for t in tiles:
        u, v, tw, th = t.box
        if (u, v, tw, th) == box:
            continue
        if side < 2:
            edge, other = (y, v + th) if side == 0 else (y + h, v)
            along = min(x + w, u + tw) - max(x, u) > w / 3
        else:
            edge, other = (x, u + tw) if side == 2 else (x + w, u)
            along = min(y + h, v + th) - max(y, v) > h / 3
        if along and abs(edge - other) <= 2:
            return True
    return False
