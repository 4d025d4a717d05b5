"""Proposer: tiles from the faces found (faces first), fitted to the lines of the picture."""

from __future__ import annotations

import numpy as np

from bot.geometry import Box, center_in, clip, iou, overlaps
from bot.layout.evidence import LineMap, looks_camera_off
from bot.layout.gutters import reading_order
from bot.layout.options import LayoutOptions, Tile


def tiles_from_faces(faces: list[Box], width: int, height: int, gray: np.ndarray | None = None,
                     lines: LineMap | None = None, opts: LayoutOptions = LayoutOptions()) -> list[Tile]:
    """Tiles made up from where faces are, for a gallery whose grid was not found (controls drawn
    over it, a layout of its own): faces in rows (centres within half a face's height). Given the
    picture (`gray`), each row is fitted to the lines the picture shows (`fit_row`): equal tiles
    whose every edge lies on a line, a window over part of the row allowed; a row no such grid fits
    (or only many cells of their own size round a stray face), once another row's tile size is
    known, gets a tile a face of that size (`_face_cells`). Where no row fits, and without the
    picture, a tile a face, as wide as the spacing between neighbours in a row (or 2.5
    faces) and as tall as the spacing between rows (or 2 faces), centred on its face; the gallery
    then has at least as many tiles as faces. In reading order."""
    if not faces:
        return []
    if gray is not None:
        lines = lines or LineMap(gray, opts.line_jump)
        # the row with most faces first: its tiles' size is the one the other rows are fitted to
        # (one gallery, equal tiles)
        rows_ = sorted(face_rows(faces), key=lambda r: -len(r))
        fitted: list[Box] = []
        size = None
        unfit: list[list[Box]] = []  # rows no cells fit before a size was known: tried again with it

        def keep(cells: list[Box]) -> None:
            # two rows of faces in one row of tiles (a face higher in its tile) fit the same cells
            fitted.extend(c for c in cells if all(iou(c, t) < 0.5 for t in fitted))

        # where no equal cells on the picture's lines hold a row's faces apart (photos of unequal
        # widths side by side), a tile a face of the size the other rows fitted: each face stays someone's
        for row in rows_:
            cells = fit_row(gray, row, opts.tile_shapes, opts.line_strong, size=size, lines=lines)
            if cells is None and size is None:
                unfit.append(row)
                continue
            size = size or cells[0][2:]
            keep(cells or _face_cells(row, size, width, height))
        for row in unfit if size is not None else []:
            keep(fit_row(gray, row, opts.tile_shapes, opts.line_strong, size=size, lines=lines)
                 or _face_cells(row, size, width, height))
        if fitted:
            return [Tile(c, looks_camera_off(gray, c, opts))
                    for c in sorted(fitted, key=lambda c: (c[1], c[0]))]
    fw = float(np.median([f[2] for f in faces]))
    fh = float(np.median([f[3] for f in faces]))
    centres = sorted(((f[0] + f[2] / 2, f[1] + f[3] / 2) for f in faces), key=lambda c: c[1])
    rows: list[list[tuple[float, float]]] = []
    for c in centres:
        if rows and abs(c[1] - np.mean([r[1] for r in rows[-1]])) < 0.5 * fh:
            rows[-1].append(c)
        else:
            rows.append([c])
    pitches = [b[0] - a[0] for row in rows for a, b in zip(sorted(row), sorted(row)[1:])]
    tw = float(np.median(pitches)) if pitches else 2.5 * fw
    gaps = [np.mean([c[1] for c in b]) - np.mean([c[1] for c in a]) for a, b in zip(rows, rows[1:])]
    th = float(np.median(gaps)) if gaps else 2.0 * fh
    tw, th = max(tw, 1.2 * fw), max(th, 1.2 * fh)
    q = 8  # on an 8-pixel grid: a face that moves a little keeps its tile (no new layout each frame)
    tw, th = q * round(tw / q), q * round(th / q)
    out = []
    for row in rows:
        for cx, cy in sorted(row):
            x, y = q * round((cx - tw / 2) / q), q * round((cy - th / 2) / q)
            out.append(Tile(clip((int(x), int(y), int(tw), int(th)), width, height), False))
    return out


def _face_cells(row: list[Box], size: tuple[int, int], width: int, height: int) -> list[Box]:
    """Tiles of `size` (width, height) in a line, one centred on each of a row's faces, the faces a
    little above the middle (where a camera frames a head); a face less than half a tile from a
    larger one shares its tile (someone behind), and tiles closer than a tile meet half-way."""
    tw, th = size
    y = int(round(float(np.median([f[1] + f[3] / 2 for f in row])) - 0.45 * th))
    centres: list[float] = []
    for f in sorted(row, key=lambda f: -f[2]):  # the larger faces first
        c = f[0] + f[2] / 2
        if all(abs(c - d) >= tw / 2 for d in centres):
            centres.append(c)
    xs = sorted(int(round(c - tw / 2)) for c in centres)
    out: list[Box] = []
    for i, x in enumerate(xs):
        left = x if i == 0 else (xs[i - 1] + tw + x) // 2 if xs[i - 1] + tw > x else x
        right = x + tw if i == len(xs) - 1 or x + tw <= xs[i + 1] else (x + tw + xs[i + 1]) // 2
        out.append(clip((left, y, right - left, th), width, height))
    return out


def face_rows(faces: list[Box]) -> list[list[Box]]:
    """Faces grouped in rows: centres within half the median face's height of the row's mean."""
    fh = float(np.median([f[3] for f in faces]))
    rows: list[list[Box]] = []
    for f in sorted(faces, key=lambda f: f[1] + f[3] / 2):
        if rows and abs(f[1] + f[3] / 2 - np.mean([g[1] + g[3] / 2 for g in rows[-1]])) < 0.5 * fh:
            rows[-1].append(f)
        else:
            rows.append([f])
    return rows


def fit_row(gray: np.ndarray, row: list[Box], shape_range: tuple[float, float] = (0.9, 2.4), strong: float = 0.25,
            size: tuple[int, int] | None = None, lines: LineMap | None = None) -> list[Box] | None:
    """A row of equal tiles fitted to a row of faces and the lines of the picture around them, or
    None where none fits. A line is where the picture jumps (`LineMap`) along `strong` (25%) of
    its length at least (a window drawn over part of a row leaves a third of an edge in view); the
    frame's own edge counts as a weak one where a picture is cut off by it (not flat background).
    The row's top is one of the three strongest lines from two faces above the faces' tops down to
    them, its bottom one of the three strongest from their bottoms to three faces below; within
    each such band, tiles are the equal cells between two lines (of the six strongest left of the
    faces and right of them), every cut on a line (within 3 pixels), video-shaped (width over
    height within `shape_range`), holding every face's centre, never two faces more than 0.65 of a
    cell apart in one cell (two videos) nor, in cells of a size other than `size`, faces crowded in
    (`crowded`: two cells with two or more, or one with three). The fit whose tiles have `size`
    (width, height: another row's, within 7%) wins, then the one with the most lines, then the
    strongest: a seam inside a video (a door frame) is one line, never a whole grid. Given `size`,
    more than 2n + 1 cells of a size of their own round n faces (a stray face or two) are None."""
    H, W = gray.shape[:2]
    fw = float(np.median([f[2] for f in row]))
    fh = float(np.median([f[3] for f in row]))
    x0 = int(max(0, min(f[0] for f in row) - fw))
    x1 = int(min(W, max(f[0] + f[2] for f in row) + fw))
    top = min(f[1] for f in row)
    bottom = max(f[1] + f[3] for f in row)
    lines = lines or LineMap(gray)
    rows = lines.rows(x0, x1)  # rows[y]: the line between picture rows y - 1 and y; the frame's edges weak

    def strongest(lo: int, hi: int) -> list[int]:
        lo, hi = max(0, lo), min(H, hi)
        picked: list[int] = []
        for y in lo + np.argsort(-rows[lo:hi + 1], kind="stable"):  # strongest first, 3 pixels apart
            if rows[y] < strong or len(picked) == 3:
                break
            if all(abs(int(y) - q) > 3 for q in picked):
                picked.append(int(y))
        return picked

    tops, bottoms = strongest(int(top - 2 * fh), int(top)), strongest(int(bottom), int(bottom + 3 * fh))
    xs = np.array([f[0] + f[2] / 2 for f in row])  # the faces' centres
    lo_c, hi_c = xs.min(), xs.max()
    bands = []
    for y0 in tops:
        for y1 in bottoms:
            th = y1 - y0
            if th < 1.5 * fh:
                continue
            cols = lines.cols(y0 + 1, y1 - 1)
            near = np.lib.stride_tricks.sliding_window_view(np.pad(cols, 3), 7).max(axis=1)  # within 3 pixels
            peaks = np.flatnonzero((cols >= strong) & (cols == near))
            # the six strongest lines each side of the faces: a row's outer edges are among them
            left, right = peaks[peaks <= lo_c], peaks[peaks >= hi_c]
            lefts = left[np.argsort(-cols[left], kind="stable")[:6]].tolist()
            rights = right[np.argsort(-cols[right], kind="stable")[:6]].tolist()
            bands.append((y0, y1, near, lefts, rights, rows[y0] + rows[y1]))

    def best(sized: bool):
        fit, top_score = None, (False, 0, 0.0)
        for y0, y1, near, lefts, rights, edge in bands:
            th = y1 - y0
            if sized and abs(th - size[1]) > 0.07 * size[1]:
                continue
            for a in lefts:
                for b in rights:
                    kmin = max(2 if (a, b) == (0, W) else 1, int(np.ceil((b - a) / (shape_range[1] * th))))
                    kmax = min(8, int((b - a) / (shape_range[0] * th)))  # the frame's two edges alone are no grid
                    ks = [int(round((b - a) / size[0]))] if sized else range(kmin, kmax + 1)
                    for k in ks:
                        if not kmin <= k <= kmax:
                            continue
                        p = (b - a) / k
                        at = near[(a + p * np.arange(k + 1) + 0.5).astype(int)]  # a, every cut, b
                        if k > 1 and at[1:-1].min() < strong:
                            continue
                        same = size is not None and abs(p - size[0]) <= 0.07 * size[0] \
                            and abs(th - size[1]) <= 0.07 * size[1]
                        cell = np.clip(((xs - a) // p).astype(int), 0, k - 1)
                        held = np.bincount(cell, minlength=k)
                        if not same and ((held >= 2).sum() >= 2 or held.max() >= 3):
                            continue  # cells of a size of their own with faces crowded in (`crowded`)
                        if any(np.ptp(xs[cell == j]) > 0.65 * p for j in np.flatnonzero(held >= 2)):
                            continue  # two faces a cell apart in one cell: two videos, not two people at one camera
                        if sized and not same:
                            continue
                        score = (same, k + 1, float(at.sum()) + edge)
                        if score > top_score:
                            top_score = score
                            fit = [(int(round(a + p * j)), y0, int(round(p)), th) for j in range(k)]
        return fit

    # tiles of the size wanted first (one count of tiles between two lines), any size where none fits,
    # but not many cells of a size of their own round a stray face or two: no row of the gallery
    if size is None:
        return best(False)
    fit = best(True) or best(False)
    return None if fit and len(fit) > 2 * len(row) + 1 and abs(fit[0][2] - size[0]) > 0.07 * size[0] else fit


def missed_tiles(layout: list[Tile], faces: list[Box], gray: np.ndarray, roi: Box,
                 opts: LayoutOptions = LayoutOptions(), lines: LineMap | None = None) -> list[Tile]:
    """The layout with a tile for each face of the gallery's size near its grid (inside `roi`, or
    a tile's size beyond it: a row the search missed below or beside the grid) but in none of its
    tiles: a tile the search missed (its gutter washed out by compression, a window drawn over
    it), fitted to the face and the picture's lines with the grid's own tile size (`fit_row`),
    added where it overlaps no tile. The layout itself where its tiles are not of one size or no
    such tile fits."""
    sizes = np.array([t.box[2:] for t in layout], float)
    size = np.median(sizes, axis=0)
    if len(layout) < 2 or np.abs(sizes - size).max(initial=0) > opts.size_tolerance * size.max():
        return layout  # no one grid of equal tiles
    inside = [f for f in faces if any(center_in(f, t.box) for t in layout)]
    if not inside:
        return layout
    med = float(np.median([f[2] for f in inside]))
    lines = lines or LineMap(gray, opts.line_jump)
    out = list(layout)
    tw, th = int(size[0]), int(size[1])
    near = (roi[0] - tw, roi[1] - th, roi[2] + 2 * tw, roi[3] + 2 * th)
    for f in faces:
        if f in inside or not center_in(f, near) or not med / 2.5 <= f[2] <= 2.5 * med:
            continue
        for c in fit_row(gray, [f], opts.tile_shapes, opts.line_strong, (int(size[0]), int(size[1])), lines) or []:
            tol = opts.size_tolerance
            same = abs(c[2] - size[0]) <= tol * size[0] and abs(c[3] - size[1]) <= tol * size[1]
            if same and center_in(f, c) and not any(overlaps(c, t.box) for t in out):
                out.append(Tile(c, looks_camera_off(gray, c, opts)))
    if len(out) == len(layout):
        return layout
    return sorted(out, key=lambda t: (round((t.box[1] + t.box[3] / 2) / size[1]), t.box[0]))


def crowded(layout: list[Tile], faces: list[Box]) -> bool:
    """Whether the tiles hold rows of faces of one size: at least two tiles with two or more faces
    each, and on average three or more faces a tile that has any, or two or more in every tile
    that has any where none of those is shaped like a video (16:9 or 4:3, within 25%: a 3x2
    gallery whose gutter between its rows a codec blurred away, read as three tall tiles of two
    faces each). That is several videos taken for one tile (a gallery whose videos touch, with no
    gutters to find), not two people sharing a camera (a second face in one tile of many stays
    "other")."""
    med = float(np.median([f[2] for f in faces]))
    per_tile: dict[int, int] = {}
    for f in faces:
        if f[2] < med / 2.5:
            continue  # someone far behind
        k = next((i for i, t in enumerate(layout) if center_in(f, t.box)), None)
        if k is not None:
            per_tile[k] = per_tile.get(k, 0) + 1
    shared = sum(n >= 2 for n in per_tile.values())
    if shared >= 2 and shared == len(per_tile) and not any(_video_shaped(layout[k].box) for k in per_tile):
        return True
    return shared >= 2 and sum(per_tile.values()) >= 3 * len(per_tile)


VIDEO_SHAPE = 0.25  # a box is shaped like a video where its sides' ratio is within this log ratio of 16:9 or 4:3


def _misfit(w: float, h: float) -> float:
    """How far a w x h box is from a video's shape: the log ratio to the nearer of 16:9 and 4:3."""
    return min(abs(float(np.log((w / max(h, 1e-6)) / a))) for a in (16 / 9, 4 / 3))


def _video_shaped(box: Box) -> bool:
    """Whether a box is shaped like a video (16:9 or 4:3, within `VIDEO_SHAPE`)."""
    return _misfit(box[2], box[3]) < VIDEO_SHAPE


def split_crowded(layout: list[Tile], faces: list[Box], gray: np.ndarray | None = None,
                  opts: LayoutOptions | None = None) -> list[Tile]:
    """Each tile that holds two or more faces of the gallery's size cut into a grid of equal cells
    shaped like video (16:9 or 4:3) with one face at most a cell, where such a grid exists: the
    videos a tile was made of. Other tiles stay as they are. With `gray`, a cell is camera-off
    where it looks so (`looks_camera_off`: a block of tiles can hold camera-off ones)."""
    med = float(np.median([f[2] for f in faces]))
    out = []
    for t in layout:
        x, y, w, h = t.box
        inside = [f for f in faces if f[2] >= med / 2.5 and center_in(f, t.box)]
        if len(inside) < 2:
            out.append(t)
            continue
        grids = []
        for cols in range(1, 2 * len(inside) + 2):
            for rows in range(1, 2 * len(inside) + 2):
                if cols * rows < len(inside) or cols * rows > 2 * len(inside) + 2:
                    continue
                cw, ch = w / cols, h / rows
                cells = {(int((f[0] + f[2] / 2 - x) // cw), int((f[1] + f[3] / 2 - y) // ch)) for f in inside}
                if len(cells) < len(inside):
                    continue  # two faces in one cell
                misfit = _misfit(cw, ch)
                if misfit < VIDEO_SHAPE:
                    grids.append((misfit, cols * rows, cols, rows))
        if not grids:
            out.append(t)
            continue
        # the best shaped; of grids about as well shaped (a 1x2 and a 2x3 grid of 16:9 cells over
        # two faces), the fewest cells
        least = min(g[0] for g in grids)
        _, _, cols, rows = min((g for g in grids if g[0] <= least + 0.05), key=lambda g: (g[1], g[0]))
        cw, ch = w / cols, h / rows
        cells = [(int(x + c * cw), int(y + r * ch), int(cw), int(ch)) for r in range(rows) for c in range(cols)]
        out += [Tile(c, gray is not None and looks_camera_off(gray, c, opts or LayoutOptions())) for c in cells]
    by_box = {t.box: t for t in out}
    return [by_box[b] for b in reading_order(list(by_box), float(np.median([t.box[3] for t in out])))]
