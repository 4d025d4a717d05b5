"""`Tracker`: participants over time.

Consumes frame results (and the frame, for OCR) and
- names tiles by OCR of their name strips, read only for a layout that is a gallery (two tiles or
  more, at least half of them showing a participant's face or a camera-off panel: never a desktop,
  a web page or a single webcam) and that holds (seen on `HOLD_SAMPLES` samples running; at once
  with `exclude`, whose names must be known before anything is stored), once per layout, voted
  over the readings of its frames seen so far (up to `VOTE_FRAMES`: `bot.ocr.vote`), in the
  background: the frame loop goes on while Tesseract reads. The records of a layout whose names are
  being read wait in the tracker and come out named, in order (`push` returns what is ready,
  `flush` the rest). A name read stays with its tile until the layout changes again; with a class
  roster, a tile takes the roster name its reading fits, or stays unnamed (`bot.roster`):
  misreadings mint no participants; a named tile's label text is kept (in memory) and a label
  showing the same text again later (a page that comes back) takes that participant at once,
  without being read again;
- gives each participant a stable id: the name when read, else `tile-<i>`; when the layout changes
  and no names are legible, tiles are re-matched to earlier participants by a small face signature
  kept in memory only (never stored);
- smooths each participant's scores over time (exponential moving average) and sets `uncertain`
  again from the smoothed scores;
- sets each face's `attention` ("facing", "away", "down") from its head pose against the
  participant's own baseline (`bot.attention`);
- drops excluded participants (the teacher's self-view, students who opted out) before anything
  is stored.

`push(result, frame)` takes the analyser's `FrameResult` and returns the tracked records now ready
(with their frames); `flush()` waits for the names being read and returns the rest; `update(result,
frame=None)` does both for one record (names read at once: a screenshot, a test). Times on camera
and first/last sightings are the store's to compute (`Store.participants`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from bot.attention import Baselines
from bot.records import FaceResult, FrameResult, TileResult

log = logging.getLogger("classmood.tracker")

HOLD_SAMPLES = 2  # a layout's names are read once it has been seen on this many samples running
VOTE_FRAMES = 3   # a layout's names are voted over the readings of up to this many of its frames


def _norm(name: str) -> str:
    return " ".join(str(name).lower().split())


_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _reader() -> ThreadPoolExecutor:
    """The one thread that reads names for every tracker of this process (Tesseract runs its own
    processes beside it: `bot.ocr.ocr_workers`)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="classmood-names")
        return _POOL


def is_gallery(result: FrameResult) -> bool:
    """Whether a frame's tiles look like a meeting's gallery, whose name labels are worth reading:
    two tiles or more, and at least half of them showing a participant's face or a camera-off
    panel. A desktop, a web page's grid of pictures, a single webcam window are not."""
    tiles = result.tiles
    if len(tiles) < 2:
        return False
    shown = {f.tile for f in result.faces if f.role == "participant" and f.tile is not None}
    return 2 * sum(1 for i, t in enumerate(tiles) if i in shown or t.camera_off) >= len(tiles)


@dataclasses.dataclass(eq=False)
class _Reading:
    """The names of one layout (or of one page of it): provisional ids until the reading is done."""
    ids: list[str]
    names: list[str | None]
    todo: list[int]                  # tiles whose names are still to be read
    texts: dict                      # tile -> its label's text mask when the layout was seen
    seen: int = 1                    # samples this layout has been seen on, running
    gallery: bool = False            # the last sample looked like a gallery (`is_gallery`)
    future: Future | None = None
    done: bool = False
    skipped: bool = False            # done unread: no gallery, or the layout went before it held
    frames: list = dataclasses.field(default_factory=list)  # its frames so far, to read names on


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
        self._votes = ocr is None or ocr is True
        if ocr is False:
            self._ocr = None
        elif callable(ocr):
            self._ocr = ocr
        else:
            self._ocr = functools.partial(ocr_mod.read_names, roster=roster) if ocr_mod.available() else None
        self.tol = layout_tolerance_px
        self._layout: list[tuple] | None = None
        self._cur = _Reading([], [], [], {}, done=True)
        self._signatures: dict[str, np.ndarray] = {}
        self._smoothed: dict[str, np.ndarray] = {}
        self._baselines = Baselines()
        self._strips: list[np.ndarray] = []  # each tile's name label when its name was read
        self._page = 0                        # name-label changes seen on one grid (a page change)
        self._labels: dict[str, tuple[np.ndarray, str | None]] = {}  # id -> (its label's text, its name)
        self._queue: deque = deque()          # (record, frame, reading): tracked, waiting for names
        self._reading: list[_Reading] = []    # readings in flight, oldest first
        self.reads = 0                        # name readings started (tiles read), for tests and benchmarks

    @property
    def _ids(self) -> list[str]:
        return self._cur.ids

    @property
    def _names(self) -> list[str | None]:
        return self._cur.names

    def fresh(self) -> "Tracker":
        """A new tracker with the same settings and no history."""
        return Tracker(**self._settings)

    def update(self, result: FrameResult, frame: np.ndarray | None = None) -> FrameResult:
        """A new `FrameResult` with tile names, stable participant ids, smoothed scores and
        `uncertain` from them; excluded participants' tiles and faces removed. `frame` (the picture
        analysed) serves OCR and face signatures. Names of a gallery are read at once (and waited
        for): one picture, or a caller that needs each record named as it comes."""
        out = self.push(result, frame)
        out += self.flush(hold=False)
        return out[-1][0]

    def push(self, result: FrameResult, frame: np.ndarray | None = None) -> list[tuple[FrameResult, np.ndarray | None]]:
        """Track one frame; returns the records now ready, oldest first, each with its frame. A
        record whose layout's names are still to be read (its layout has not held yet, or the
        reading is in flight) waits, and the records after it with it."""
        self._collect(wait=False)
        tiles, faces = result.tiles, result.faces
        if self._layout_changed(tiles):
            self._close(self._cur)
            self._relayout(tiles, faces, frame)
        else:
            self._cur.seen += 1
            if frame is not None and self._ocr and self._cur.done:
                self._renamed(tiles, frame, result)
        self._cur.gallery = is_gallery(result)
        r = self._cur
        if frame is not None and not r.done and r.future is None and len(r.frames) < VOTE_FRAMES:
            r.frames.append(np.array(frame, copy=True))  # the source may reuse its buffer
        self._start(r, frame, tiles)
        if r.done:
            r.frames = []
        self._queue.append((self._track(result, frame), frame, self._cur))
        return self._ready()

    def flush(self, hold: bool = False) -> list[tuple[FrameResult, np.ndarray | None]]:
        """Every record still waiting, named: the names of a gallery that was waiting to hold are
        read now (a recording's last layout, a single screenshot), and readings in flight are
        waited for. `hold=True` keeps a layout that has not held waiting (the frames go on)."""
        if not hold and self._queue:
            r = self._cur
            frame = self._queue[-1][1]
            if not r.done and r.future is None:
                self._start(r, frame, None, now=True)
        self._collect(wait=True)
        return self._ready()

    # -- names -------------------------------------------------------------------------------------

    def _start(self, r: _Reading, frame, tiles, now: bool = False) -> None:
        """Start reading `r`'s names in the background where it is due: a gallery seen on
        `HOLD_SAMPLES` samples (or at once with `exclude`, or `now`); a layout that is no gallery
        is done unread (a desktop, a web page)."""
        if r.done or r.future is not None:
            return
        if not r.todo or self._ocr is None or frame is None:
            r.done = True
            return
        if not r.gallery:
            r.done = r.skipped = True
            return
        if not (now or r.seen >= HOLD_SAMPLES or self.exclude):
            return
        tiles = tiles if tiles is not None else self._queue[-1][0].tiles
        if tiles is None or len(tiles) != len(r.ids):
            r.done = r.skipped = True
            return
        # the built-in reader votes over the frames seen so far (the video behind a label changes,
        # and with it Tesseract's mistakes); a callable given reads one frame
        pictures = r.frames or [np.array(frame, copy=True)]
        picture = pictures if self._votes else pictures[-1]
        r.frames = []
        r.future = _reader().submit(self._ocr, picture, [tiles[i] for i in r.todo])
        self.reads += len(r.todo)
        self._reading.append(r)

    def _close(self, r: _Reading) -> None:
        """A layout that changed before its names were read: its records go out unnamed."""
        if not r.done and r.future is None:
            r.done = r.skipped = True
        r.frames = []

    def _collect(self, wait: bool) -> None:
        """Apply the readings that are done (all, waiting for them, with `wait`), oldest first."""
        while self._reading and (wait or self._reading[0].future.done()):
            r = self._reading.pop(0)
            try:
                read = list(r.future.result())
            except Exception as e:  # noqa: BLE001 - a failed reading leaves the tiles unnamed
                log.warning("reading names failed: %s: %s", type(e).__name__, e)
                read = [None] * len(r.todo)
            self._apply(r, read + [None] * (len(r.todo) - len(read)))

    def _apply(self, r: _Reading, read: list[str | None]) -> None:
        """The names read for `r.todo`: each such tile takes its name as its id (two tiles with the
        same name stay apart), or keeps its provisional one; what the tracker keeps by id follows."""
        taken = {pid for k, pid in enumerate(r.ids) if k not in r.todo}
        for i, name in zip(r.todo, read):
            old = r.ids[i]
            pid = name if name else old
            if pid in taken:
                pid = f"{pid} ({i})"
            taken.add(pid)
            r.names[i], r.ids[i] = name, pid
            if pid != old and old.startswith("tile-"):
                for store in (self._smoothed, self._signatures):
                    if old in store and pid not in store:
                        store[pid] = store.pop(old)
                self._baselines.rename(old, pid)
        r.done = True
        self._remember_labels(r.texts, r)

    def _ready(self) -> list[tuple[FrameResult, np.ndarray | None]]:
        out = []
        while self._queue and self._queue[0][2].done:
            record, frame, r = self._queue.popleft()
            out.append((self._named(record, r), frame))
        return out

    def _named(self, record: FrameResult, r: _Reading) -> FrameResult:
        """A tracked record with its reading's ids and names; excluded participants' tiles and faces
        removed, tile indices pointing at the tiles kept."""
        ids, names = r.ids, r.names
        keep = [i for i in range(len(record.tiles)) if _norm(ids[i]) not in self.exclude
                and not (names[i] and _norm(names[i]) in self.exclude)]
        remap = {old: new for new, old in enumerate(keep)}
        faces = []
        for f in record.faces:
            if f.tile is not None and f.tile not in remap:
                continue
            pid = ids[f.tile] if f.tile is not None and f.role == "participant" else None
            faces.append(dataclasses.replace(f, participant=pid, tile=remap.get(f.tile)))
        return FrameResult(record.time_s, [dataclasses.replace(record.tiles[i], name=names[i]) for i in keep],
                           faces, record.file)

    # -- tracking ----------------------------------------------------------------------------------

    def _track(self, result: FrameResult, frame) -> FrameResult:
        """Smoothed scores, `uncertain` from them and attention, under each tile's current id."""
        from bot.analyzer import is_uncertain

        ids = self._ids
        faces = []
        for f in result.faces:
            if f.tile is not None and f.role == "participant":
                pid = ids[f.tile]
                prev = self._smoothed.get(pid)
                sm = f.scores if prev is None else self.alpha * f.scores + (1 - self.alpha) * prev
                self._smoothed[pid] = sm
                if frame is not None:
                    self._signatures[pid] = _signature(frame, f.box)
                f = dataclasses.replace(f, scores=sm, uncertain=is_uncertain(f.box, sm, self.options),
                                        attention=self._baselines.classify(pid, f.yaw, f.pitch))
            else:
                f = dataclasses.replace(f, attention=self._baselines.classify(None, f.yaw, f.pitch))
            faces.append(f)
        return FrameResult(result.time_s, list(result.tiles), faces, result.file)

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
        ids = [known[i][0] if i in known else f"tile-{i}" for i in range(len(tiles))]
        if old_layout and frame is not None and self._signatures:
            ids = self._rematch(ids, names, tiles, faces, frame)
        # two tiles with the same legible name stay apart
        seen: dict[str, int] = {}
        for i, pid in enumerate(ids):
            if pid in seen:
                ids[i] = f"{pid} ({i})"
            seen[pid] = i
        self._cur = _Reading(ids, names, [i for i in range(len(tiles)) if i not in known], texts)
        self._strips = [_strip_signature(frame, t) for t in tiles] if frame is not None else []

    def _renamed(self, tiles: list[TileResult], frame: np.ndarray, result: FrameResult) -> None:
        """Same grid, other names (a page change, someone replaced in a slot): tiles whose name
        label changed are read again, and only those (at once: the grid has held); a name read
        before stays with its tile. A grid left unread as no gallery that now is one (cameras
        turned on) is read too."""
        now = [_strip_signature(frame, t) for t in tiles]
        if len(now) != len(self._strips):
            self._strips = now
            return
        cur = self._cur
        relabelled = [i for i, (a, b) in enumerate(zip(self._strips, now)) if not _same_strip(a, b)]
        changed = relabelled
        if cur.skipped:  # left unread as no gallery: its labels mean nothing, unless it now is one
            if not is_gallery(result):
                self._strips = now
                return
            changed = sorted(set(changed) | {i for i, n in enumerate(cur.names) if not n})
        if not changed:
            return
        if relabelled:
            self._page += 1
        taken = {pid for k, pid in enumerate(cur.ids) if k not in changed}
        texts = {i: _label_text(frame, tiles[i]) for i in changed}
        known = self._known_labels(texts, taken)  # someone seen before, back again
        ids, names = list(cur.ids), list(cur.names)
        for i in changed:
            if i in known:
                ids[i], names[i] = known[i]
            elif i in relabelled:  # someone else in the slot
                names[i] = None
                ids[i] = f"tile-{i}" + (f".{self._page}" if self._page else "")
            if ids[i] in taken:
                ids[i] = f"{ids[i]} ({i})"
            taken.add(ids[i])
            self._strips[i] = now[i]
        self._cur = _Reading(ids, names, [i for i in changed if i not in known], texts, seen=HOLD_SAMPLES)
        self._remember_labels({i: texts[i] for i in known}, self._cur)

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

    def _remember_labels(self, texts: dict, r: _Reading) -> None:
        """Keep (in memory only) the label text of each named tile, for `_known_labels`; an unnamed
        tile's label is read again when it comes back (over another video it may read)."""
        for i, text in texts.items():
            if i < len(r.names) and r.names[i] and text.sum() >= 2:
                self._labels[r.ids[i]] = (text, r.names[i])

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
