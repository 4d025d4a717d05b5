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
  misreadings mint no participants;
- gives each participant one id for the whole session (the name when read, else `tile-<i>`),
  across page changes, reflowed grids, a window moved or resized and the full-screen/window
  switch, by what is no biometric data: the label's text, kept in memory (a label showing it
  again, moved or a little larger or smaller, takes that participant at once, unread if named); the same slot of a grid that
  only shifted; the tile's place between neighbours it knows, in the order of an earlier layout;
  a name read that fits a known one (a label cut short or a letter off). No face template is kept,
  not even in memory. A participant handed out unnamed and named later is renamed in what was
  stored (`take_renames`, `Store.rename_participant`);
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

from bot import ocr as ocr_mod
from bot.analyzer import AnalyzerOptions, is_uncertain
from bot.attention import Baselines
from bot.geometry import iou
from bot.records import FaceResult, FrameResult, TileResult, is_gallery  # noqa: F401 - is_gallery: also ours to export
from bot.roster import Roster

log = logging.getLogger("classmood.tracker")

HOLD_SAMPLES = 2  # a layout's names are read once it has been seen on this many samples running
VOTE_FRAMES = 3   # a layout's names are voted over the readings of up to this many of its frames
MAX_LABELS = 1000  # label texts kept in memory (the most recent participants')


def _norm(name: str) -> str:
    return " ".join(str(name).lower().split())


_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _reader() -> ThreadPoolExecutor:
    """The one thread that reads names for every tracker of this process (Tesseract runs its own
    processes beside it: `bot.ocr.ocr_workers`; PP-OCR one onnxruntime thread)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="classmood-names")
        return _POOL


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
        self._smoothed: dict[str, np.ndarray] = {}
        self._baselines = Baselines()
        self._strips: list[np.ndarray] = []  # each tile's name label when its name was read
        self._labels: dict[str, tuple[np.ndarray, str | None]] = {}  # id -> (its label's text, its name)
        self._known: dict[str, str | None] = {}  # every participant of a gallery so far: id -> name (None: unread)
        self._minted: set[str] = set()        # every id given so far: a new person gets a new one
        self._emitted: set[str] = set()       # ids in records handed out
        self._orders: deque = deque(maxlen=6)  # the layouts before (their readings), oldest first
        self.renames: list[tuple[str, str]] = []  # (old, new): an id handed out, then named (`take_renames`)
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
        analysed) serves OCR and the labels' texts. Names of a gallery are read at once (and waited
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
            if r.gallery:
                self._remember_labels(r.texts, r)  # unread, still told apart by their labels
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
        """The names read for `r.todo`. Each such tile takes the id of the participant its name is
        (`_known_name`); else, where its place between tiles now known names someone of an earlier
        layout (`_guess`), that participant: named, when the reading fits their name (a label cut
        short: "David" for "David Rossi"); unnamed before, they take the name now read (their
        earlier records are renamed: `take_renames`); else a new name is a new participant, and a
        tile left unread keeps the id it had. Two tiles with the same name stay apart."""
        taken = {pid for k, pid in enumerate(r.ids) if k not in r.todo}
        sure: list[str | None] = [None if k in r.todo else pid for k, pid in enumerate(r.ids)]
        for i, name in zip(r.todo, read):
            if name and name in self._known:
                sure[i] = name
        guess = self._guess(sure)
        for i, name in zip(r.todo, read):
            old = r.ids[i]
            others = taken | {r.ids[k] for k in r.todo if k != i}
            g = guess[i] if guess[i] not in others else None
            merged = None
            if name:
                pid = self._known_name(name, others)
                if pid == name and name not in self._known and g is not None:
                    known = self._known.get(g)
                    if known is None and g.startswith("tile-"):
                        merged = g           # unnamed before, named now
                    elif known and self.roster is None and _fits(name, known):
                        pid, name = g, known  # a cut-off or misread label of someone known
            else:  # unread: their place says who, or the id it was given, and its name
                pid = g if g is not None else old
                name = self._known.get(pid)
            if pid in taken:
                pid = f"{pid} ({i})"
            taken.add(pid)
            r.names[i], r.ids[i] = name, pid
            for was in {old, merged} - {None, pid}:
                if not was.startswith("tile-"):
                    continue
                if was in self._smoothed and pid not in self._smoothed:
                    self._smoothed[pid] = self._smoothed.pop(was)
                    self._baselines.rename(was, pid)
                self._labels.pop(was, None)
                self._known.pop(was, None)
                for other in {id(x): x for x in [*self._orders, *(q[2] for q in self._queue)]}.values():
                    if other is not r and was in other.ids:  # records still waiting: out under the new id
                        k = other.ids.index(was)
                        other.ids[k], other.names[k] = pid, name
                if was in self._emitted:  # records already out under the old id: one person, one participant
                    self.renames.append((was, pid))
        r.done = True
        self._remember_labels(r.texts, r)

    def _guess(self, ids: list[str | None]) -> list[str | None]:
        """`ids` with unknown tiles (None) named by their neighbours in the layouts seen before,
        the latest first (`_between`)."""
        for past in reversed(self._orders):
            if None not in ids:
                break
            ids = _between(ids, past.ids)
        return ids

    def _ready(self) -> list[tuple[FrameResult, np.ndarray | None]]:
        out = []
        while self._queue and self._queue[0][2].done:
            record, frame, r = self._queue.popleft()
            named = self._named(record, r)
            self._emitted.update(f.participant for f in named.faces if f.participant)
            out.append((named, frame))
        return out

    def take_renames(self) -> list[tuple[str, str]]:
        """The (old id, new id) pairs since the last call: a participant handed out unnamed (an
        unreadable label, kept by its label's text or its place) whose name was read later; the
        store renames their earlier records (`Store.rename_participant`)."""
        out, self.renames = self.renames, []
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
        return FrameResult(record.time_s, [dataclasses.replace(record.tiles[i], name=names[i], participant=ids[i])
                                           for i in keep], faces, record.file)

    # -- tracking ----------------------------------------------------------------------------------

    def _track(self, result: FrameResult, frame) -> FrameResult:
        """Smoothed scores (the analyser's kept as `raw_scores`), `uncertain` from them and attention,
        under each tile's current id."""

        ids = self._ids
        faces = []
        for f in result.faces:
            if f.tile is not None and f.role == "participant":
                pid = ids[f.tile]
                prev = self._smoothed.get(pid)
                sm = f.scores if prev is None else self.alpha * f.scores + (1 - self.alpha) * prev
                self._smoothed[pid] = sm
                f = dataclasses.replace(f, scores=sm, raw_scores=f.scores,
                                        uncertain=f.covered or f.masked or is_uncertain(f.box, sm, self.options),
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
        """A new layout (a window moved or resized, full screen and back, a grid reflowed, another
        page): each tile keeps its participant where it can tell, by what is no biometric data:
        its label's text, seen before (`_known_labels`); the same slot of a grid
        that only shifted; its place between tiles whose people it knows, in the order they were
        in (`_between`). The rest get new ids, and every tile not known by name is read."""
        old = self._layout
        old_ids, old_texts = list(self._cur.ids), self._cur.texts
        if self._cur.ids:
            self._orders.append(self._cur)  # its ids as they end up (a reading may still name them)
        self._layout = [tuple(t.box) for t in tiles]
        n = len(tiles)
        texts = {i: _label_text(frame, t) for i, t in enumerate(tiles)} if frame is not None else {}
        known = self._known_labels(texts, set())
        ids: list[str | None] = [known[i][0] if i in known else None for i in range(n)]
        if old is not None and len(old) == n and all(iou(a, b) >= 0.5 for a, b in zip(old, self._layout)):
            for i in range(n):  # the same grid, shifted: the same people in the same slots
                same = i not in texts or i not in old_texts or min(texts[i].sum(), old_texts[i].sum()) < 2 \
                    or _label_diff(texts[i], old_texts[i]) <= 1.5 * LABEL_SAME
                if ids[i] is None and old_ids[i] not in ids and same:
                    ids[i] = old_ids[i]
        elif old is not None:
            ids = self._guess(ids)
        for i in range(n):
            if ids[i] is None:
                ids[i] = self._mint(f"tile-{i}")
        # two tiles with the same legible name stay apart
        seen: dict[str, int] = {}
        for i, pid in enumerate(ids):
            if pid in seen:
                ids[i] = f"{pid} ({i})"
            seen[pid] = i
        self._minted.update(ids)
        names = [self._known.get(pid) for pid in ids]
        self._cur = _Reading(ids, names, [i for i in range(n) if not (i in known and known[i][1])], texts)
        self._strips = [_strip_signature(frame, t) for t in tiles] if frame is not None else []

    def _mint(self, base: str) -> str:
        """`base`, or `base.k` with the first k not given before: a new person, a new id."""
        pid, k = base, 0
        while pid in self._minted:
            k += 1
            pid = f"{base}.{k}"
        self._minted.add(pid)
        return pid

    def _known_name(self, name: str, taken: set) -> str:
        """The id of a name read: a participant seen before whose name it is, or nearly is (OCR
        read one letter otherwise at another size: rapidfuzz ratio 88 or more, names of six
        letters or more; not with a roster, whose names are exact), and who is not on screen now
        (`taken`); else the name itself."""
        if name in self._known or len(name) < 6 or self.roster is not None:
            return name  # (a roster's names are exact: two of them are two people)
        from rapidfuzz import fuzz

        best = max(((fuzz.ratio(_norm(name), _norm(n)), pid) for pid, n in self._known.items()
                    if n and pid not in taken and len(n) >= 6), default=(0.0, None))
        return best[1] if best[0] >= 88 else name

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
        taken = {pid for k, pid in enumerate(cur.ids) if k not in changed}
        texts = {i: _label_text(frame, tiles[i]) for i in changed}
        known = self._known_labels(texts, taken)  # someone seen before, back again
        ids, names = list(cur.ids), list(cur.names)
        for i in changed:
            if i in known:
                ids[i], names[i] = known[i]
            elif i in relabelled:  # someone else in the slot
                names[i] = None
                ids[i] = self._mint(f"tile-{i}")
            if ids[i] in taken:
                ids[i] = f"{ids[i]} ({i})"
            taken.add(ids[i])
            self._strips[i] = now[i]
        self._cur = _Reading(ids, names, [i for i in changed if not (i in known and known[i][1])], texts,
                             seen=HOLD_SAMPLES)
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
            diffs = sorted((_label_diff(text, ref), pid) for pid, (ref, _) in free.items())
            if diffs and diffs[0][0] <= LABEL_SAME and (len(diffs) == 1 or diffs[0][0] < 0.6 * diffs[1][0]):
                pid = diffs[0][1]
                out[i] = (pid, free.pop(pid)[1])
        return out

    def _remember_labels(self, texts: dict, r: _Reading) -> None:
        """Keep (in memory only) the label text of each tile and its name (None where unread), for
        `_known_labels`; an unnamed tile that comes back takes its id and is read again (over
        another video it may read)."""
        for i, pid in enumerate(r.ids):
            self._known[pid] = r.names[i]
        for i, text in texts.items():
            if i < len(r.names) and text.sum() >= 2:
                self._labels.pop(r.ids[i], None)  # the newest last: the oldest go first
                self._labels[r.ids[i]] = (text, r.names[i])
        while len(self._labels) > MAX_LABELS:  # 12 KB each: a day of flickering layouts stays small
            self._labels.pop(next(iter(self._labels)))

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


LABEL_SAME = 0.2  # label texts this close are the same name (`_label_text`, `_label_diff`). Measured on
                  # 25 synthetic labels (Latin and Hangul) drawn twice over other videos, at 1920x1080 and
                  # 1280x720: the same name 0.03 median, 0.09 at most; two names 0.38 at least. Across a
                  # large resize (full screen to a small window) one name differs by 0.29 median: names
                  # and neighbours carry it there, not the labels
LABEL_H, LABEL_W = 16, 192  # a label's text is compared at this height, its width to scale


def _label_text(frame: np.ndarray, tile) -> np.ndarray:
    """The text of a tile's name label as a small grey mask: light pixels with the dark label box
    right beside them, inside the tile's border (a highlighted speaker's frame is no text), so the
    video around the label does not count; cropped to the text and scaled to `LABEL_H` pixels high,
    its width to scale (left-aligned in `LABEL_W`), blurred a little: the same label over another
    video, or moved, is the same mask; drawn a little larger or smaller, nearly (`LABEL_SAME`)."""
    import cv2

    out = np.zeros((LABEL_H, LABEL_W), np.float32)
    h = int((tile.box if hasattr(tile, "box") else tile["box"])[3])
    g = _label_strip(frame, tile, inset=max(2, h // 40))
    if g is None:
        return out
    k = max(3, (h // 40) | 1)
    boxed = cv2.erode(g, np.ones((k, k), np.uint8)) < 90
    sure = (g > 200) & boxed
    rows, cols = np.flatnonzero(sure.any(axis=1)), np.flatnonzero(sure.any(axis=0))
    if len(rows) < 3 or len(cols) < 3:
        return out
    # grey, not a threshold: the anti-aliased edges of strokes drawn at two sizes then agree
    text = np.clip((g.astype(np.float32) - 100.0) / 120.0, 0.0, 1.0) * boxed
    text = text[rows[0]: rows[-1] + 1, cols[0]: cols[-1] + 1]
    width = min(LABEL_W, max(1, round(text.shape[1] * LABEL_H / text.shape[0])))
    out[:, :width] = cv2.resize(text, (width, LABEL_H), interpolation=cv2.INTER_AREA)
    return cv2.GaussianBlur(out, (5, 5), 1.2)  # strokes a pixel thick, drawn at two sizes, overlap


def _text_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).sum()) / max(float(a.sum()), float(b.sum()), 1e-6)


def _label_diff(a: np.ndarray, b: np.ndarray) -> float:
    """How far apart two label texts (`_label_text`) are: where their widths are within 15% (one
    text drawn at two sizes: its height and width do not scale alike to the pixel), `_text_diff`
    with the second stretched to the first's width; where the shorter shows 70% of the longer or
    more (a smaller tile cut a long label off), over the width both show."""
    import cv2

    wa, wb = (int(np.flatnonzero(m.any(axis=0))[-1]) + 1 if m.any() else 0 for m in (a, b))
    if min(wa, wb) == 0:
        return _text_diff(a, b)
    if 0.85 <= wa / wb <= 1 / 0.85:
        return _text_diff(a[:, :wa], cv2.resize(b[:, :wb], (wa, b.shape[0]), interpolation=cv2.INTER_LINEAR))
    w = min(wa, wb)
    if w < 0.7 * max(wa, wb):
        return _text_diff(a, b)
    return _text_diff(a[:, :w], b[:, :w])


def _same_strip(a: np.ndarray, b: np.ndarray) -> bool:
    """Two label masks show the same text: little white either way, or closely the same."""
    return (a.sum() < 2 and b.sum() < 2) or _text_diff(a, b) <= 0.25


def _between(ids: list[str | None], old: list[str]) -> list[str | None]:
    """Unknown tiles (None) named by their neighbours: a run of unknown tiles between two known
    ones (or the grid's start or end) takes the people who were between the same two, in the
    same order, in the layout before, where there were as many of them and none is on screen.
    A reflowed grid, a resized window and a page that comes back keep their order in meeting apps."""
    out = list(ids)
    pos = {pid: k for k, pid in enumerate(old)}
    shown = {pid for pid in ids if pid is not None}
    anchors = [-1] + [i for i, pid in enumerate(ids) if pid is not None and pid in pos] + [len(ids)]
    for left, right in zip(anchors, anchors[1:]):
        run = list(range(left + 1, right))
        if not run or any(out[i] is not None for i in run):
            continue
        lo = pos[ids[left]] if left >= 0 else -1
        hi = pos[ids[right]] if right < len(ids) else len(old)
        if lo >= hi or (left < 0 and right >= len(ids)):
            continue  # order not kept, or nothing known to go by
        gap = old[lo + 1:hi]
        if len(gap) == len(run) and not shown & set(gap):
            for i, pid in zip(run, gap):
                out[i] = pid
    return out


def _fits(reading: str, name: str) -> bool:
    """Whether a name read can be `name` read short or a letter off: its words are among the
    name's ("David", "Silva" for "David Rossi", "Jon Silva"), or it is nearly the name or a part
    of it (rapidfuzz: ratio 80, or partial ratio 90 for four letters or more)."""
    from rapidfuzz import fuzz

    a, b = _norm(reading), _norm(name)
    if a and set(a.split()) <= set(b.split()):
        return True
    return fuzz.ratio(a, b) >= 80 or (len(a) >= 4 and fuzz.partial_ratio(a, b) >= 90)
