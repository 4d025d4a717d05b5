"""Gallery layout: the participant tiles of a meeting's picture, as one gallery model fitted to evidence.

A gallery is a grid of equal tiles (16:9, 4:3 or 1:1; a gap, or none where videos touch; rows and
columns; a centred shorter last row; rounded corners allowed) that may sit beside a stage (a shared
screen or the speaker) and inside a window on a desktop. The package's parts:

- `geometry`: boxes and what is measured with them; `options`: `LayoutOptions` (every constant a
  caller may tune, the fit's weights among them) and `Tile`.
- proposers: `gutters` (connected regions against the background), `windows` (a meeting's window
  on a desktop), `seams` (videos that touch), `faces` (tiles from the faces found, fitted to the
  picture's lines).
- `evidence`: gutters across a tile, camera-off panels with a name, a letter avatar or a profile
  photo on them (never the grid, never a participant), lines along a tile's borders.
- `fit`: `search` proposes from the picture, `fit` weighs that against what the faces propose
  and keeps the best; `memory`: `LayoutMemory` re-checks the last layout before searching again.

A frame with no grid (a webcam picture, a photo) is one tile covering the whole frame.
"""

from bot.geometry import Box, center_in, detection_roi, iou, overlaps
from bot.layout.evidence import LineMap, border_lines, border_sides, looks_camera_off, panel_parts, picture_on_panel
from bot.layout.faces import fit_row, tiles_from_faces
from bot.layout.fit import find_tiles, fit, score, search, search_all
from bot.layout.gutters import background_levels
from bot.layout.memory import LayoutMemory
from bot.layout.options import LayoutOptions, Tile
from bot.layout.seams import seam_tiles
from bot.layout.windows import meeting_windows

__all__ = ["background_levels", "border_lines", "border_sides", "Box", "center_in", "detection_roi",
           "find_tiles", "fit", "fit_row", "iou", "LayoutMemory", "LayoutOptions", "LineMap",
           "looks_camera_off", "meeting_windows", "overlaps", "panel_parts", "picture_on_panel", "score",
           "seam_tiles", "search", "search_all", "Tile", "tiles_from_faces"]
