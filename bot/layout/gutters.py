"""Proposer: tiles as the connected regions that are not background (the commonest flat dark
level), kept where they share the dominant tile size; regions joined by a bar split, missing tiles
in a row filled, the grid continued under controls drawn over it."""

from __future__ import annotations

import numpy as np

from bot.geometry import Box, overlaps
from bot.layout.options import LayoutOptions


def background_levels(gray: np.ndarray, k: int = 3) -> list[int]:
    """Candidate background grey levels: the commonest levels among flat pixels (3x3 neighbourhood
    range <= 2), dark ones preferred, at least 8 levels apart and a tenth as common as the first,
    best first (a shared dark editor can have five times the background's flat pixels)."""
    import cv2

    kernel = np.ones((3, 3), np.uint8)
    flat = cv2.inRange(cv2.subtract(cv2.dilate(gray, kernel), cv2.erode(gray, kernel)), 0, 2)
    use = flat if cv2.countNonZero(flat) >= 0.02 * gray.size else None
    hist = cv2.calcHist([np.ascontiguousarray(gray)], [0], use, [256], [0, 256]).ravel().astype(float)
    hist[100:] *= 0.25  # meeting backgrounds are dark; big bright flat areas are walls or panels
    levels: list[int] = []
    for level in np.argsort(-hist):
        if hist[level] < 0.1 * hist.max() or len(levels) == k:
            break
        if all(abs(int(level) - other) >= 8 for other in levels):
            levels.append(int(level))
    return levels


def gutter_tiles(gray: np.ndarray, opts: LayoutOptions) -> tuple[list[Box], int | None]:
    """The tiling found against each candidate background level; the one with most tiles (then
    most area) wins: a side panel or camera-off tiles can be as flat and dark as the background,
    but measured against them the gallery falls apart into few regions."""
    best: list[Box] = []
    best_bg, score = None, (0, 0)
    step = 4 if gray.shape[1] >= opts.pool_above else 1  # the histogram needs no more
    sub = np.ascontiguousarray(gray[::step, ::step])
    full = None
    for bg in background_levels(sub):
        boxes, fg = _tiles_against(gray, bg, opts)
        s = (len(boxes), sum(w * h for _, _, w, h in boxes))
        if s > score:
            best, best_bg, score, full = boxes, bg, s, fg
    if best and gray.shape[1] >= opts.pool_above:  # found on 2x2 blocks: edges to the pixel
        best = [_snap(b, full) for b in best]
    return best, best_bg


def _tiles_against(gray: np.ndarray, bg: int, opts: LayoutOptions) -> tuple[list[Box], np.ndarray]:
    """Tiles against background level `bg` (in `gray`'s pixels, edges within a pixel or two where
    found on 2x2 blocks), and the full-resolution foreground mask (0/255) they came from."""
    import cv2

    lut = np.where(np.abs(np.arange(256) - bg) > opts.bg_tolerance, 255, 0).astype(np.uint8)
    full = cv2.LUT(gray, lut)
    f = 2 if gray.shape[1] >= opts.pool_above else 1
    fg = full
    if f > 1:  # 2x2 blocks that are all foreground: gutters can only widen, never close up
        h2, w2 = gray.shape[0] // 2, gray.shape[1] // 2
        fg = cv2.resize(full[:2 * h2, :2 * w2], (w2, h2), interpolation=cv2.INTER_AREA)
    # Thin foreground (text and lines in the gutters) is opened away, on the smaller image.
    fg = cv2.morphologyEx(cv2.threshold(fg, 250, 1, cv2.THRESH_BINARY)[1], cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    H, W = fg.shape
    n, _, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=4)
    min_w, min_h = opts.min_tile_frac * W, opts.min_tile_frac * H
    stats = _split_joined_rows(stats[1:], fg, min_w)
    x, y, w, h, area = stats.T.astype(np.int64)
    ok = (w >= min_w) & (h >= min_h) & (2 * area >= w * h) & (5 * w >= 2 * h) & (2 * w <= 9 * h)
    # a pixel-wide gutter, blended by the scaling or a codec, is only near the background level:
    # twice as near counts between rows and round a cell the grid is continued to (on 2x2 blocks,
    # the blocks have widened the gutters already)
    loose = fg if f > 1 else (np.abs(gray.astype(np.int16) - bg) > 2 * opts.bg_tolerance).astype(np.uint8)
    cands, spare = _split_stacked([tuple(int(v) for v in row) for row in stats[ok, :4]], fg, opts.size_tolerance,
                                  loose=loose)
    if not cands:
        return [], full
    # an L's cells are tiles found too: where the gutter between two rows blends away, an L of
    # three tiles can be the only place the tile's size shows
    tw, th = _dominant_size(cands + spare, opts.size_tolerance)
    if not _cuts_hold(cands, tw, th, gray, loose, f, opts.size_tolerance):
        tw, th = _dominant_size(cands + spare, opts.size_tolerance, whole=True)
    if not 0.8 <= tw / th <= 2.6:
        return [], full
    tiles = []
    for x, y, w, h in cands:
        if abs(h - th) > opts.size_tolerance * th:
            continue
        k = max(1, int(round(w / tw)))  # k tiles touching side by side
        if not _fits(k, w, tw, opts.size_tolerance):
            continue
        step = w / k
        tiles += [(int(round(x + i * step)), y, int(round(step)), h) for i in range(k)]
    grid = _uncut_rows(_extend_grid(_fill_rows(tiles, tw, th, fg), tw, th, fg, loose=loose), tw, th, fg)
    # an L's cells where the grid did not reach them (their edges take in a speaker's highlight, so
    # the grid found from the other tiles is the better fit wherever it reaches): the grid again,
    # from the grid found and them
    missed = [c for c in spare if grid and abs(c[3] - th) <= opts.size_tolerance * th + 2
              and not any(overlaps(c, t) for t in grid)]
    if missed:
        grid = _uncut_rows(_extend_grid(_fill_rows(grid + missed, tw, th, fg), tw, th, fg, loose=loose), tw, th, fg)
    return [(x * f, y * f, w * f, h * f) for x, y, w, h in grid], full


def _split_joined_rows(stats: np.ndarray, fg: np.ndarray, min_w: float) -> np.ndarray:
    """Connected regions (x, y, w, h, area rows) with regions wider than a row of video tiles can
    be alone (over 2.6:1) split where they are mostly background from top to bottom: a bar or
    banner drawn across a row of tiles (a phone's meeting app draws its controls over the videos)
    joins the tiles and the gutters between them into one region, but the gutters stay background
    above and below it. Each part keeps the columns that are mostly video (a bar reaching past the
    grid leaves nothing there) and its own rows' extent; other regions unchanged."""
    out = []
    for x, y, w, h, area in stats:
        if w <= 2.6 * h:
            out.append((x, y, w, h, area))
            continue
        block = fg[y:y + h, x:x + w]
        parts = _video_runs(block, min_w)
        widths = np.array([b - a for a, b in parts], float)
        gaps = np.array([a2 - b1 for (_, b1), (a2, _) in zip(parts, parts[1:])], float)
        # a row of tiles: alike in width, video-shaped, a gutter's width apart (not two stretches
        # of wallpaper either side of a window)
        if (len(parts) < 2 or widths.max() > 1.1 * widths.min() or gaps.max() > 0.2 * widths.min()
                or not (0.8 <= widths.min() / h and widths.max() / h <= 2.6)):
            out.append((x, y, w, h, area))
            continue
        for a, b in parts:
            rows = np.flatnonzero(block[:, a:b].mean(axis=1) >= 0.5)
            if len(rows):
                top, bottom = int(rows[0]), int(rows[-1]) + 1
                out.append((x + a, y + top, b - a, bottom - top, int(block[top:bottom, a:b].sum())))
    return np.array(out, dtype=np.int64).reshape(-1, 5)


def _video_runs(block: np.ndarray, least: float) -> list[tuple[int, int]]:
    """The runs of `block`'s columns that are mostly foreground (mean >= 0.5), as (start, end),
    those at least `least` wide."""
    video = np.flatnonzero(block.mean(axis=0) >= 0.5)
    runs = np.split(video, np.flatnonzero(np.diff(video) > 1) + 1) if len(video) else []
    return [(int(r[0]), int(r[-1]) + 1) for r in runs if len(r) >= least]


def _row_lines(region: Box, sh: float, tol: float, most: int, loose: np.ndarray) -> list[int] | None:
    """The lines between `region`'s rows where it is m rows (2 to `most`) of tiles `sh` high and
    every such line is background (0 in `loose`) over at least `INNER_GUTTER` of its width, within a
    pixel; else None."""
    x, y, w, h = region
    m = int(round(h / sh))
    if not 2 <= m <= most or not _fits(m, h, sh, tol):
        return None
    lines = [int(round(y + i * h / m)) for i in range(1, m)]
    return lines if all(_background_line(loose, r, x, x + w) >= INNER_GUTTER for r in lines) else None


def _split_stacked(cands: list[Box], fg: np.ndarray, tol: float, most: int = 7,
                   loose: np.ndarray | None = None) -> tuple[list[Box], list[Box]]:
    """Regions that are rows of tiles stacked with no gutter the background test could see between
    them, split into those rows: in a small window the gutters are a pixel wide, and a speaker's
    highlight, a name label or a blur bridges them, so two rows of videos come out as one region.
    A region is split into m rows (2 to `most`) where it is k by m tiles of another region's size
    (a video-shaped tile found alone, k >= 1), and where every line between its rows is background
    (0 in `loose`, default `fg`: the caller passes a looser mask, twice the background tolerance, as
    a pixel-wide gutter blends with the videos beside it) over at least `INNER_GUTTER` of its
    width, within a pixel: a speaker's video that happens to be as large as four tiles has no such
    lines inside. Where those rows would overlap another region (an L of tiles round a tile found
    alone), the region stays whole (the grid found from the other tiles fills it, to the pixel), and
    where the lines between its k columns are such lines too, its k by m cells, less those
    overlapping another region and those not mostly foreground in `fg`, are returned apart: spare
    cells, for where the grid does not reach. `most` is 7: Zoom, Meet and Teams show 7 rows of
    tiles at most. Returns (regions, spare cells)."""
    loose = fg if loose is None else loose
    sizes = sorted({(w, h) for _, _, w, h in cands if 0.8 <= w / h <= 2.6}, key=lambda s: s[1])

    out, spare = [], []

    def _staggered(region: Box, others: list[Box]) -> list[Box]:
        """Rows that do not line up (a centred last row half a tile off the row above), each cut to
        its own tiles (`_staggered_rows`); else the region whole."""
        rows = next((r for sw, sh in sizes if (r := _staggered_rows(region, fg, loose, others, sw, sh, tol, most))),
                    None)
        return rows or [region]

    for x, y, w, h in cands:
        split = None
        for sw, sh in sizes:  # the smallest tile that fits, with its gutters in the picture
            k = max(1, int(round(w / sw)))
            lines = _row_lines((x, y, w, h), sh, tol, most, loose) if _fits(k, w, sw, tol) else None
            if lines:
                split = (k, lines)
                break
        others = [c for c in cands if c != (x, y, w, h)]
        if split is None:
            out += _staggered((x, y, w, h), others)
            continue
        k, lines = split
        ys = [y, *lines, y + h]
        rows = [(x, a, w, b - a) for a, b in zip(ys, ys[1:])]
        if not any(overlaps(r, c) for r in rows for c in others):
            out += rows
            continue
        # an L of tiles round another region: its cells, less those the other region holds, where
        # the lines between its columns are gutters too
        xs = [x] + [int(round(x + i * w / k)) for i in range(1, k)] + [x + w]
        out.append((x, y, w, h))
        if not all(_background_line(loose.T, c, y, y + h) >= INNER_GUTTER for c in xs[1:-1]):
            continue
        cells = [(a, c, b - a, d - c) for c, d in zip(ys, ys[1:]) for a, b in zip(xs, xs[1:])]
        kept = [cell for cell in cells if not any(overlaps(cell, o) for o in others)
                and fg[cell[1]:cell[1] + cell[3], cell[0]:cell[0] + cell[2]].mean() >= 0.5]
        spare += kept + _beside_cells(fg, (x, y, w, h), kept + others, sw, sh, tol)
    return out, spare


def _staggered_rows(region: Box, fg: np.ndarray, loose: np.ndarray, others: list[Box], sw: float, sh: float,
                    tol: float, most: int) -> list[Box] | None:
    """`region` as m rows (2 to `most`) of tiles of size (sw, sh) that do not line up column by
    column: m such rows fit its height, every line between them is background over `INNER_GUTTER`
    of its width (in `loose`), and in each row the foreground of `fg` outside the `others` regions
    is runs (0.6 of a tile wide at least) that are whole tiles side by side, of the narrowest run's
    width. The rows cut to those runs; None where any of that fails."""
    x, y, w, h = region
    lines = _row_lines(region, sh, tol, most, loose)
    if not lines:
        return None
    ys = [y, *lines, y + h]
    rows = []
    for a, b in zip(ys, ys[1:]):
        band = (fg[a:b, x:x + w] > 0).astype(np.float32)
        for ox, oy, ow, oh in others:  # another region's pixels are its own
            if oy < b and oy + oh > a:
                band[:, max(0, ox - x):max(0, ox - x + ow)] = 0
        runs = _video_runs(band, 0.6 * sw)
        if not runs:
            return None
        rows.append((a, b, runs))
    # the tile's width is the narrowest run's (the size found alone may be a pillarboxed video's
    # narrower picture): video-shaped, and every run whole tiles of it
    unit = min(r1 - r0 for _, _, runs in rows for r0, r1 in runs)
    if not 0.8 <= unit / sh <= 2.6:
        return None
    out = []
    for a, b, runs in rows:
        for r0, r1 in runs:
            if not _fits(max(1, int(round((r1 - r0) / unit))), r1 - r0, unit, tol):
                return None
            out.append((x + r0, a, r1 - r0, b - a))
    return out


def _beside_cells(fg: np.ndarray, region: Box, taken: list[Box], sw: float, sh: float, tol: float) -> list[Box]:
    """The tiles of `region` that are none of the boxes `taken` (its cells, other regions): a
    centred last row is half a tile off the grid's columns, so its tile straddles two cells and
    fills neither; what is left of the region's foreground once those are taken out, where it is
    a tile of size (sw, sh) (a speaker's highlight, drawn round it, within a few pixels)."""
    import cv2

    x, y, w, h = region
    rest = (fg[y:y + h, x:x + w] > 0).astype(np.uint8)
    for cx, cy, cw, ch in taken:  # with a pixel round each (clipped: another region may lie outside)
        rest[max(0, cy - y - 1):max(0, cy - y + ch + 1), max(0, cx - x - 1):max(0, cx - x + cw + 1)] = 0
    _, _, stats, _ = cv2.connectedComponentsWithStats(rest, connectivity=4)
    return [(x + int(a), y + int(b), int(c), int(d)) for a, b, c, d, area in stats[1:]
            if abs(c - sw) <= tol * sw + 4 and abs(d - sh) <= tol * sh + 4 and 2 * area >= c * d]


def _fits(n: int, length: float, size: float, tol: float) -> bool:
    """Whether `length` is n tiles of `size` (within `tol` of it each) and the gutters between them
    (2 pixels at most each): tiles that touch, or whose gutters the background test did not see."""
    return abs(length - n * size) <= tol * size * n + 2 * (n - 1)


def reading_order(tiles: list[Box], th: float) -> list[Box]:
    """Tiles by row (starts within half a tile's height are one row), then left to right."""
    if not tiles:
        return tiles
    rows = _starts([t[1] for t in tiles], th)
    return sorted(tiles, key=lambda t: (min(range(len(rows)), key=lambda i: abs(rows[i] - t[1])), t[0]))


INNER_GUTTER = 0.4  # share of a line between stacked rows that must be background (`_split_stacked`)


def _background_line(fg: np.ndarray, row: int, x0: int, x1: int) -> float:
    """The share of columns x0..x1 where row `row` of `fg` (0: background), or a row next to it, is
    background."""
    band = fg[max(0, row - 1):row + 2, max(0, x0):max(0, x1)]
    return float((band == 0).any(axis=0).mean()) if band.size else 0.0


def _snap(box: Box, fg: np.ndarray, reach: int = 2) -> Box:
    """A tile found on 2x2 blocks, each edge moved (by at most `reach` pixels) to the last line of
    full-resolution foreground (0/255) met going outwards from inside the tile, along the middle
    half of that side; the gutter stops the walk, so a neighbour is never reached."""
    x, y, w, h = box
    H, W = fg.shape
    ys, xs = slice(y + h // 4, y + 3 * h // 4), slice(x + w // 4, x + 3 * w // 4)

    def walk(inner: int, step: int, cols: bool) -> int:
        """From line `inner` (inside the tile) outwards by `step`: the last foreground line."""
        limit = W if cols else H
        edge = inner
        for k in range(inner, inner + step * (2 * reach + 1), step):
            if not 0 <= k < limit:
                break
            line = fg[ys, k] if cols else fg[k, xs]
            if line.size == 0 or line.mean() <= 127:
                break
            edge = k
        return edge

    left = walk(min(x + reach, x + w - 1), -1, True)
    right = walk(max(x + w - 1 - reach, x), 1, True)
    top = walk(min(y + reach, y + h - 1), -1, False)
    bottom = walk(max(y + h - 1 - reach, y), 1, False)
    if right <= left or bottom <= top:
        return box
    return left, top, right - left + 1, bottom - top + 1


def _dominant_size(cands: list[Box], tol: float, whole: bool = False) -> tuple[float, float]:
    """The tile size (w, h) that the most candidate area agrees with, among sizes that two tiles or
    more share where there are such: a shared screen or a speaker's video beside a strip of equal
    tiles is one region larger than all of them together, and the strip is the gallery. A candidate
    k tiles wide counts as k tiles of its width / k (tiles that touch), unless `whole`."""
    w = np.array([c[2] for c in cands], float)
    h = np.array([c[3] for c in cands], float)
    k = np.maximum(1, np.round(w[None, :] / w[:, None]))        # [j, i]: candidate i in tiles of size j
    per = w[None, :] / k
    members = (np.abs(h[None, :] - h[:, None]) <= tol * h[:, None]) & (np.abs(per - w[:, None]) <= tol * w[:, None])
    if whole:
        members &= k == 1  # no member but at its own width
    area = (members * (w * h)[None, :]).sum(axis=1)
    tiles = (members * k).sum(axis=1)
    # two regions or more of the size itself, where a size has them: a piece of one tile (a
    # pillarboxed video's dark bars cut it) must not halve every tile it divides
    alone = (members & (k == 1)).sum(axis=1)
    if (alone >= 2).any():
        area = np.where(alone >= 2, area, -1.0)
    elif (tiles >= 2).any():
        area = np.where(tiles >= 2, area, -1.0)
    j = int(np.argmax(area))  # the first best, as before
    return float(np.median(per[j][members[j]])), float(np.median(h[members[j]]))


def _cuts_hold(cands: list[Box], tw: float, th: float, gray: np.ndarray, loose: np.ndarray, f: int,
               tol: float) -> bool:
    """Whether the cuts that tile size (tw, th) makes in the candidates (k tiles touching side by
    side) lie where one video meets the next, for the most part: a gutter blended by scaling or a
    codec (background on the `loose` mask) or a step from one picture to the next, along half the
    cut's height at least. A piece of one tile (a pillarboxed video's dark bar cut it off) makes
    every whole tile two of its width, and those cuts run through the middle of a video.
    Candidates in `loose`'s pixels; `gray` is `f` times larger."""
    held = cuts = 0
    for x, y, w, h in cands:
        k = int(round(w / tw))
        if k < 2 or abs(h - th) > tol * th or not _fits(k, w, tw, tol):
            continue
        for i in range(1, k):
            c = int(round(x + i * w / k))
            gap = loose[y:y + h, max(0, c - 1):c + 2].min(axis=1) == 0  # background near the cut, row by row
            g = gray[y * f:(y + h) * f:f].astype(np.int16)
            a, b = max(0, (c - 2) * f), min(g.shape[1] - 1, (c + 2) * f)
            step = np.abs(g[:, b] - g[:, a]) >= 16  # a picture's edge across the cut
            cuts += 1
            held += (gap | step).mean() >= 0.5
    return cuts == 0 or 2 * held >= cuts


def _fill_rows(tiles: list[Box], tw: float, th: float, fg: np.ndarray) -> list[Box]:
    """Group tiles into rows and add tiles the background test missed (a dark video blends into a
    dark background): gaps inside a row, and grid columns missing from a row aligned with the grid
    (the columns of the other rows: a centred last row is half a tile off them, and is filled only
    between its own tiles). A position is filled only where something is drawn. Returns tiles in
    reading order."""
    rows: list[list[Box]] = []
    for t in sorted(tiles, key=lambda b: b[1]):
        for row in rows:
            if abs(row[0][1] - t[1]) < 0.3 * th:
                row.append(t)
                break
        else:
            rows.append([t])
    pitches = [b[0] - a[0] for row in rows for a, b in zip(sorted(row), sorted(row)[1:]) if b[0] - a[0] < 1.5 * tw]
    pitch = float(np.median(pitches)) if pitches else None

    def grid_columns(among: list[Box]) -> list[float]:
        columns = _starts([t[0] for t in among], tw)
        if pitch:  # a grid column no tile was found in yet (a column of tiles joined to their neighbours)
            inner = []
            for a, b in zip(columns, columns[1:]):
                k = int(round((b - a) / pitch))
                if k >= 2 and abs(b - a - k * pitch) <= 0.1 * tw:
                    inner += [a + i * (b - a) / k for i in range(1, k)]
            columns = sorted(columns + inner)
        return columns

    out = []
    for row in sorted(rows, key=lambda r: r[0][1]):
        row = sorted(row)
        y, h = row[0][1], row[0][3]
        candidates = []
        if pitch:
            for a, b in zip(row, row[1:]):
                k = int(round((b[0] - a[0]) / pitch))
                candidates += [a[0] + i * pitch for i in range(1, k)]
        # the grid's columns, from the other rows where there are others: a centred last row,
        # half a tile off them, is no column of theirs
        others = [t for t in tiles if t not in row]
        columns = grid_columns(others or tiles)
        if all(min(abs(t[0] - c) for c in columns) < 0.1 * tw for t in row):
            candidates += columns
        for x in candidates:
            x = int(round(x))
            if any(min(t[0] + t[2], x + tw) - max(t[0], x) > 0.1 * tw for t in row) or x < 0 or x + tw > fg.shape[1]:
                continue
            region = fg[y:y + h, x:x + int(tw)]
            if region.size and region.mean() > 0.2:
                row.append((x, y, int(round(tw)), h))
        out += sorted(row)
    return out


def _starts(values: list[int], size: float) -> list[float]:
    """Grid lines (tile starts) from the tiles' starts along one axis: starts closer than half a
    tile are one line (their mean)."""
    lines: list[list[int]] = []
    for v in sorted(values):
        if lines and v - lines[-1][-1] <= 0.5 * size:
            lines[-1].append(v)
        else:
            lines.append([v])
    return [float(np.mean(g)) for g in lines]


def _uncut_rows(tiles: list[Box], tw: float, th: float, fg: np.ndarray) -> list[Box]:
    """Rows of tiles cut short by a bar or banner across them (both rows of a two-row grid, with a
    toolbar at the bottom and a notice at the top): where the outer edge of a row's first or last
    tile (video inside, background outside) runs on past the row's top or bottom, the row reaches
    that far. Then every row takes the tallest such height, the first row growing up, the others
    down (a toolbar covers the last row's bottom, even beyond the window found). Tiles in reading
    order; unchanged where no row runs on."""
    if len(tiles) < 2:
        return tiles
    H, W = fg.shape
    rows = _starts([t[1] for t in tiles], th)
    groups = [[t for t in tiles if min(range(len(rows)), key=lambda i: abs(rows[i] - t[1])) == k] for k in range(len(rows))]
    heights = [t[3] for t in tiles]
    pitches = np.diff(rows)
    if max(heights) > 1.05 * min(heights) or (len(pitches) and (pitches.max() > 1.05 * pitches.min()
                                                               or not 0 <= pitches.min() - th <= 0.15 * th)):
        return tiles  # only a regular grid (not a tilted picture, not tiles of mixed sizes)
    g = max(1, int(round(0.01 * tw)))

    def edge_runs(y: int, t: Box) -> bool:
        """At line y, the tile's left or right edge: video just inside, background just outside."""
        x0, x1 = t[0], t[0] + t[2]
        left = x0 - g >= 0 and fg[y, x0:x0 + 3 * g].mean() > 0.6 and fg[y, x0 - g:x0].mean() < 0.3
        right = x1 + g <= W and fg[y, x1 - 3 * g:x1].mean() > 0.6 and fg[y, x1:x1 + g].mean() < 0.3
        return left or right

    spans = []
    for row in groups:
        ends = [min(row, key=lambda t: t[0]), max(row, key=lambda t: t[0] + t[2])]
        top, bottom = min(t[1] for t in row), max(t[1] + t[3] for t in row)
        # both outer edges must run on (a bar or banner leaves the grid's sides), by half a tile at most
        while top > 0 and bottom - top < 1.5 * th and all(edge_runs(top - 1, t) for t in ends):
            top -= 1
        while bottom < H and bottom - top < 1.5 * th and all(edge_runs(bottom, t) for t in ends):
            bottom += 1
        spans.append([top, bottom])
    tall = max(b - a for a, b in spans)
    if tall <= 1.08 * th:
        return tiles
    grown = []
    for k, (a, b) in enumerate(spans):
        need = tall - (b - a)
        grown.append((a - need, b) if k == 0 and len(groups) > 1 else (a, b + need))
    if any(b > a2 for (_, b), (a2, _) in zip(grown, grown[1:])):
        return tiles  # the grown rows would overlap: not a grid cut by bars
    return [(t[0], a, t[2], b - a) for row, (a, b) in zip(groups, grown) for t in row]


def _extend_grid(tiles: list[Box], tw: float, th: float, fg: np.ndarray, most: int = 6,
                 loose: np.ndarray | None = None) -> list[Box]:
    """Tiles hidden under controls or banners drawn over the gallery (a tablet's or a phone's
    meeting app draws its toolbar and notices over the videos): a bar across a row joins its tiles
    to the bar, a banner cuts them in two, and the background test finds neither. From two tiles
    found or more, the grid is continued by its own pitch, a row or column at a time outwards and
    at the gaps inside it, while cells are found there: a cell counts where its inside is mostly
    drawn (a video) and the gutter around it is mostly background (a side panel or a bar has no
    gutters). Then each row is continued along its own columns (a centred last row's are not the
    grid's), and the gap is measured between neighbours in a row. `loose`: the mask the gutter
    round a cell is read on (twice the background's tolerance: a codec blurs a gutter of two or
    three pixels into the videos beside it); default `fg`. Returns tiles in reading order."""
    if len(tiles) < 2:
        return tiles
    H, W = fg.shape
    rows = _starts([t[1] for t in tiles], th)
    gaps = [b - a - th for a, b in zip(rows, rows[1:]) if b - a < 1.5 * th]
    for y in rows:  # between neighbours in a row (a centred last row's columns are its own)
        xs = sorted(t[0] for t in tiles if abs(t[1] - y) <= 0.5 * th)
        gaps += [b - a - tw for a, b in zip(xs, xs[1:]) if b - a < 1.5 * tw]
    if not gaps:
        return tiles
    gap = float(np.median(gaps))
    if not 1 <= gap <= 0.15 * min(tw, th):  # tiles that touch, or no regular grid
        return tiles
    px, py = tw + gap, th + gap
    g = max(1, int(round(gap)))
    w, h = int(round(tw)), int(round(th))

    ring_of = fg if loose is None else loose  # a gutter a codec blurred is only near the background

    def found(x: int, y: int) -> bool:
        if x - g < 0 or y - g < 0 or x + w + g > W or y + h + g > H:
            return False
        if any(min(t[0] + t[2], x + w) - max(t[0], x) > 0.1 * w and min(t[1] + t[3], y + h) - max(t[1], y) > 0.1 * h
               for t in tiles):
            return False
        inside = fg[y:y + h, x:x + w].mean()
        sides = [ring_of[y - g:y, x:x + w], ring_of[y + h:y + h + g, x:x + w], ring_of[y:y + h, x - g:x],
                 ring_of[y:y + h, x + w:x + w + g]]
        ring = np.concatenate([s.ravel() for s in sides])
        # a gutter on three sides at least: a bar over a row covers one; a larger picture beside the
        # grid (a shared screen next to a strip of tiles) has no gutter inside it on two
        return inside >= 0.6 and ring.mean() <= 0.5 and sum(s.mean() <= 0.5 for s in sides) >= 3

    def extend(axis: int, pitch: float, size: float, among: list[Box], across: list[float]) -> None:
        """The lines of `among`'s starts along `axis`, continued by `pitch` inwards and outwards,
        cells at `across` on each."""
        starts = _starts([t[axis] for t in among], size)
        first, last = starts[0], starts[-1]
        inner = [first + k * pitch for k in range(1, int(round((last - first) / pitch)))]
        for line in (inner, [first - k * pitch for k in range(1, most + 1)], [last + k * pitch for k in range(1, most + 1)]):
            for v in line:
                cells = [(int(round(c)), int(round(v))) if axis else (int(round(v)), int(round(c))) for c in across]
                new = [(x, y, w, h) for x, y in cells if found(x, y)]
                tiles.extend(new)
                if not new and line is not inner:
                    break  # outwards only while cells are found

    tiles = list(tiles)
    for axis, pitch, size in ((1, py, th), (0, px, tw)):  # rows first (a bar across a row), then columns
        extend(axis, pitch, size, list(tiles), _starts([t[1 - axis] for t in tiles], tw if axis else th))
    # a centred last row's columns are not the grid's: each row along its own
    for y in _starts([t[1] for t in tiles], th):
        extend(0, px, tw, [t for t in tiles if abs(t[1] - y) <= 0.5 * th], [y])
    return reading_order(tiles, th)


def fills(boxes: list[Box], shape) -> bool:
    """A grid found across the frame that spans most of it (a gallery on the whole screen): no
    need to look for a window."""
    if len(boxes) < 2:
        return False
    x0, y0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
    x1, y1 = max(b[0] + b[2] for b in boxes), max(b[1] + b[3] for b in boxes)
    return (x1 - x0) * (y1 - y0) >= 0.5 * shape[0] * shape[1]
