"""The layout's options (every constant a caller may tune, the fit's weights among them) and its tile."""

from __future__ import annotations

from dataclasses import dataclass

from bot.geometry import Box


@dataclass(frozen=True)
class LayoutOptions:
    work_width: int = 1920         # analyse a copy this wide (speed); boxes come back in source pixels
    pool_above: int = 1200         # wider working images find regions on 2x2 blocks (4x less work)
    bg_tolerance: int = 7          # grey levels around the background colour that count as background
    min_tile_frac: float = 0.06    # a tile is at least this fraction of the frame's width and height
    size_tolerance: float = 0.07   # tiles of one gallery differ in size by at most this fraction
    camera_off_uniform: float = 0.85  # share of a tile's pixels within 3 levels of its commonest grey
    # lines (`evidence.LineMap`, `faces.fit_row`, `fit.fit`): where one video meets the next
    line_jump: int = 8             # grey levels between neighbouring pixels that make a jump
    line_strong: float = 0.25      # share of a line that jumps for a cut between tiles (a window may cover the rest)
    tile_shapes: tuple[float, float] = (0.9, 2.4)  # width over height a fitted tile may have
    # the fit's weights (`bot.layout.fit.score`): what each piece of evidence is worth to a tiling
    fit_face: float = 1.0          # a tile holding a face of the gallery's size
    fit_outside: float = 1.0       # a face near the grid in none of the tiles (taken off)
    fit_beyond: float = 0.5        # a face beyond the grid found first (a shared screen's photo, an avatar's gallery)
    fit_shared: float = 0.5        # each face beyond the first of the gallery's size in one tile (taken off)
    fit_overlap: float = 1.0       # each pair of tiles that overlap (taken off)
    fit_empty: float = 0.25        # each video tile (not camera-off) holding no face (taken off)
    fit_lines: float = 1.0         # a tile's borders on lines (gutters, seams) less a half: -0.5 to 0.5 a tile


@dataclass(frozen=True)
class Tile:
    box: Box
    camera_off: bool
