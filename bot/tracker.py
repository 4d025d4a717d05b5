"""`Tracker`: participants over time.

Consumes frame results (and the frame, for OCR) and
- names tiles by OCR of their name strips, run only when the layout changes (a name read then stays
  with its tile until the layout changes again); with a class roster, a tile takes the roster
  name its reading fits, or stays unnamed (`bot.roster`): misreadings mint no participants; a
  named tile's label text is kept (in memory) and a label showing the same text again later (a
  page that comes back) takes that participant without being read again;
- gives each participant a stable id: the name when read, else `tile-<i>`; when the layout changes
  and no names are legible, tiles are re-matched to earlier participants by a small face signature
  kept in memory only (never stored);
- smooths each participant's scores over time (exponential moving average) and sets `uncertain`
  again from the smoothed scores;
- sets each face's `attention` ("facing", "away", "down") from its head pose against the
  participant's own baseline (`bot.attention`);
- drops excluded participants (the teacher's self-view, students who opted out) before anything
  is stored.

`update(result, frame=None)` takes the analyser's `FrameResult` and returns a new one; times on
camera and first/last sightings are the store's to compute (`Store.participants`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable

import numpy as np

from bot.attention import Baselines
from bot.records import FaceResult, FrameResult, TileResult


def _norm(name: str) -> str:
    return " ".join(str(name).lower().split())


class Tracker:
    def __init__(self, exclude: Iterable[str] = (), smoothing: float = 0.6,
                 ocr: bool | Callable | None = None, layout_tolerance_px: int = 12, options=None, roster=None):
        """`smoothing`: weight of the newest frame (1.0 = no smoothing). `ocr`: True/None uses
        Tesseract when installed, False never, or a callable (frame, tiles) -> names. `options`:
        the analyser's `AnalyzerOptions`, whose thresholds say when a smoothed face is uncertain.
        `roster`: a `bot.roster.Roster`, a list of names, or a roster file's path: tiles are named
        after it (OCR readings matched to it), and left unnamed where no name fits."""
        import functools

        from bot import ocr as ocr_mod
        from bot.analyzer import AnalyzerOptions
        from bot.roster import Roster

        if roster is not None and not isinstance(roster, Roster):
            roster = Roster.from_file(roster) if isinstance(roster, (str, os.PathLike)) else Roster(roster)
        self.roster = roster
        self._settings = dict(exclude=tuple(exclude), smoothing=smoothing, ocr=ocr,
                              layout_tolerance_px=layout_tolerance_px, options=options, roster=roster)
        self.options = options or AnalyzerOptions()
        self.exclude = {_norm(e) for e in exclude if str(e).strip()}
        self.alpha = float(smoothing)
        if ocr is False:
            self._ocr = None
        elif callable(ocr):
            self._ocr = ocr
        else:
            self._ocr = functools.partial(ocr_mod.read_names, roster=roster) if ocr_mod.available() else None
        self.tol = layout_tolerance_px
        self._layout: list[tuple] | None = None
        self._names: list[str | None] = []
        self._ids: list[str] = []
        self._signatures: dict[str, np.ndarray] = {}
        self._smoothed: dict[str, np.ndarray] = {}
        self._baselines = Baselines()
        self._strips: list[np.ndarray] = []  # each tile's name label when its name was read
        self._page = 0                        # name-label changes seen on one grid (a page change)
        self._labels: dict[str, tuple[np.ndarray, str | None]] = {}  # id -> (its label's text, its name)

    def fresh(self) -> "Tracker":
        """A new tracker with the same settings and no history."""
        return Tracker(**self._settings)

    def update(self, result: FrameResult, frame: np.ndarray | None = None) -> FrameResult:
        """A new `FrameResult` with tile names, stable participant ids, smoothed scores and
        `uncertain` from them; excluded participants' tiles and faces removed. `frame` (the picture
        analysed) serves OCR and face signatures."""
        from bot.analyzer import is_uncertain

        tiles, faces = result.tiles, result.faces
        if self._layout_changed(tiles):
            self._relayout(tiles, faces, frame)
        elif frame is not None and self._ocr:
            self._renamed(tiles, frame)
        ids = self._ids
        keep_tiles = [i for i in range(len(tiles)) if _norm(ids[i]) not in self.exclude
                      and not (self._names[i] and _norm(self._names[i]) in self.exclude)]
        remap = {old: new for new, old in enumerate(keep_tiles)}  # tile indices point at the kept tiles
        kept_faces = []
        for f in faces:
            if f.tile is not None and f.tile not in remap:
                continue
            if f.tile is not None and f.role == "participant":
                pid = ids[f.tile]
                prev = self._smoothed.get(pid)
                sm = f.scores if prev is None else self.alpha * f.scores + (1 - self.alpha) * prev
                self._smoothed[pid] = sm
                if frame is not None:
                    self._signatures[pid] = _signature(frame, f.box)
                f = dataclasses.replace(f, participant=pid, scores=sm, uncertain=is_uncertain(f.box, sm, self.options),
                                        attention=self._baselines.classify(pid, f.yaw, f.pitch))
            else:
                f = dataclasses.replace(f, participant=None, attention=self._baselines.classify(None, f.yaw, f.pitch))
            kept_faces.append(dataclasses.replace(f, tile=remap.get(f.tile)))
        return FrameResult(result.time_s, [dataclasses.replace(tiles[i], name=self._names[i]) for i in keep_tiles],
                           kept_faces, result.file)

    def _layout_changed(self, tiles: list[TileResult]) -> bool:
        boxes = [tuple(t.box) for t in tiles]
        if self._layout is None or len(boxes) != len(self._layout):
            return True
        return any(max(abs(a - b) for a, b in zip(p, q)) > self.tol for p, q in zip(boxes, self._layout))

    def _relayout(self, tiles: list[TileResult], faces: list[FaceResult], frame) -> None:
        old_layout = self._layout is not None
        self._layout = [tuple(t.box) for t in tiles]
        texts = {i: _label_text(frame, t) for i, t in enumerate(tiles)} if frame is not None else {}
        known = self._known_labels(texts, set())
        names = [known[i][1] if i in known else None for i in range(len(tiles))]
        todo = [i for i in range(len(tiles)) if i not in known]
        if self._ocr and frame is not None and todo:
            for i, name in zip(todo, self._ocr(frame, [tiles[i] for i in todo])):
                names[i] = name
        ids = [known[i][0] if i in known else (n if n else f"tile-{i}") for i, n in enumerate(names)]
        if old_layout and frame is not None and self._signatures:
            ids = self._rematch(ids, names, tiles, faces, frame)
        # two tiles with the same legible name stay apart
        seen: dict[str, int] = {}
        for i, pid in enumerate(ids):
            if pid in seen:
                ids[i] = f"{pid} ({i})"
            seen[pid] = i
        self._names, self._ids = names, ids
        self._strips = [_strip_signature(frame, t) for t in tiles] if frame is not None else []
        self._remember_labels(texts)

    def _renamed(self, tiles: list[TileResult], frame: np.ndarray) -> None:
        """Same grid, other names (a page change, someone replaced in a slot): tiles whose name
        label changed are read again, and only those; a name read before stays with its tile."""
        now = [_strip_signature(frame, t) for t in tiles]
        if len(now) != len(self._strips):
            self._strips = now
            return
        changed = [i for i, (a, b) in enumerate(zip(self._strips, now)) if not _same_strip(a, b)]
        if not changed:
            return
        self._page += 1
        taken = {pid for k, pid in enumerate(self._ids) if k not in changed}
        texts = {i: _label_text(frame, tiles[i]) for i in changed}
        known = self._known_labels(texts, taken)  # someone seen before, back again
        todo = [i for i in changed if i not in known]
        read = dict(zip(todo, self._ocr(frame, [tiles[i] for i in todo]))) if todo else {}
        for i in changed:
            if i in known:
                pid, name = known[i]
            else:
                name = read[i]
                pid = name if name else f"tile-{i}" + (f".{self._page}" if self._page else "")
                if pid in taken:
                    pid = f"{pid} ({i})"
            self._names[i], self._ids[i] = name, pid
            taken.add(pid)
            self._strips[i] = now[i]
        self._remember_labels(texts)

    def _known_labels(self, texts: dict, taken: set) -> dict[int, tuple[str, str | None]]:
        """Tiles whose name label text (`texts`: tile -> `_label_text`) is the same, pixel for pixel,
        as the label of a participant seen before and not on screen now (`taken`): {tile: (their id,
        name)}. A page that comes back keeps its people, however OCR would read their names now."""
        out: dict[int, tuple[str, str | None]] = {}
        free = {pid: v for pid, v in self._labels.items() if pid not in taken}
        for i, text in texts.items():
            if not free or text.sum() < 2:
                continue
            diffs = sorted((_text_diff(text, ref), pid) for pid, (ref, _) in free.items())
            if diffs and diffs[0][0] <= LABEL_SAME and (len(diffs) == 1 or diffs[0][0] < 0.6 * diffs[1][0]):
                pid = diffs[0][1]
                out[i] = (pid, free.pop(pid)[1])
        return out

    def _remember_labels(self, texts: dict) -> None:
        """Keep (in memory only) the label text of each named tile, for `_known_labels`; an unnamed
        tile's label is read again when it comes back (over another video it may read)."""
        for i, text in texts.items():
            if self._names[i] and text.sum() >= 2:
                self._labels[self._ids[i]] = (text, self._names[i])

    def _rematch(self, ids, names, tiles, faces, frame) -> list[str]:
        """Unnamed tiles take the id of the earlier participant whose face signature matches best."""
        taken = {pid for pid, n in zip(ids, names) if n}
        for f in faces:
            i = f.tile
            if i is None or f.role != "participant" or names[i]:
                continue
            sig = _signature(frame, f.box)
            best, best_sim = None, 0.8
            for pid, ref in self._signatures.items():
                if pid in taken:
                    continue
                sim = float(np.dot(sig, ref))
                if sim > best_sim:
                    best, best_sim = pid, sim
            if best is not None:
                ids[i] = best
                taken.add(best)
        return ids


def _label_strip(frame: np.ndarray, tile, inset: int = 0) -> np.ndarray | None:
    """The grey strip where meeting apps draw a tile's name label (bottom left; `inset` pixels in
    from the tile's edges); None where it is empty."""
    import cv2

    x, y, w, h = (int(v) for v in (tile.box if hasattr(tile, "box") else tile["box"]))
    roi = frame[y + int(0.85 * h): y + h - inset, x + inset: x + int(0.75 * w)]
    if roi.size == 0:
        return None
    return cv2.cvtColor(roi, cv2.COLOR_BGR2GRAY) if roi.ndim == 3 else roi


def _strip_signature(frame: np.ndarray, tile) -> np.ndarray:
    """The white pixels of a tile's name strip as a small mask: it changes when the name does, not
    when the video behind the label moves (a change detector: the video beside the label counts too,
    so a new label over a light video is not missed)."""
    import cv2

    g = _label_strip(frame, tile)
    if g is None:
        return np.zeros((8, 64), np.float32)
    return cv2.resize((g > 200).astype(np.float32), (64, 8), interpolation=cv2.INTER_AREA)


LABEL_SAME = 0.16  # label texts this close are the same name (measured on 3 x 75 synthetic labels,
                  # Latin and Hangul: the same name drawn again over another video 0.00-0.14, median
                  # 0.013; two different names 0.197 and up, 1% below 0.48)


def _label_text(frame: np.ndarray, tile) -> np.ndarray:
    """The text of a tile's name label as a small mask (256x24): white pixels with the dark label
    box right beside them, inside the tile's border (a highlighted speaker's frame is no text), so
    the video around the label does not count."""
    import cv2

    h = int((tile.box if hasattr(tile, "box") else tile["box"])[3])
    g = _label_strip(frame, tile, inset=max(2, h // 40))
    if g is None:
        return np.zeros((24, 256), np.float32)
    k = max(3, (h // 40) | 1)
    text = (g > 200) & (cv2.erode(g, np.ones((k, k), np.uint8)) < 90)
    return cv2.resize(text.astype(np.float32), (256, 24), interpolation=cv2.INTER_AREA)


def _text_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).sum()) / max(float(a.sum()), float(b.sum()), 1e-6)


def _same_strip(a: np.ndarray, b: np.ndarray) -> bool:
    """Two label masks show the same text: little white either way, or closely the same."""
    return (a.sum() < 2 and b.sum() < 2) or _text_diff(a, b) <= 0.25


def _signature(frame: np.ndarray, box) -> np.ndarray:
    """A 16x16 normalised grey thumbnail of the face (in memory only)."""
    import cv2

    x, y, w, h = (int(v) for v in box)
    roi = frame[max(0, y): y + h, max(0, x): x + w]
    if roi.size == 0:
        return np.zeros(256)
    g = cv2.cvtColor(roi, cv2.COLOR_BGR2GRAY) if roi.ndim == 3 else roi
    v = cv2.resize(g, (16, 16), interpolation=cv2.INTER_AREA).astype(np.float64).ravel()
    v -= v.mean()
    n = np.linalg.norm(v)
    return v / n if n > 0 else v
