"""The one loop: a source's frames through `GalleryAnalyzer`, `Tracker`, the store and the alerts.

`run()` drives `classmood-bot` (the screen), `classmood-analyze` and the app's uploads (files,
folders, recordings) alike: analyse, track, store, alerts. Recordings raise alerts on their own
clock (video time). A frame that fails is logged and left out; the run goes on.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.alerts import Alert, AlertEngine, load_rules
from bot.analyzer import GalleryAnalyzer
from bot.mood import Summary, summarize
from bot.records import FrameResult, present
from bot.stage import StageRecorder
from bot.sources import IMAGE_SUFFIXES, ImageSource, SourceError, VideoSource, check_seconds
from bot.store import StoreError, StoreUnavailable
from bot.tracker import Tracker
from model.crop import crop_faces

log = logging.getLogger("classmood.pipeline")

Progress = Callable[[int, int], None]
FACE_IMAGE_PX = 96        # side of a kept face image (the FER-style square the model saw, in colour)
FACE_IMAGE_QUALITY = 90   # its JPEG quality
# Frames analysed while the database cannot be reached (a server restarting) wait in memory, in
# order, and are written when it is back: at most this many (at the bot's 5 s, 2 h 45 min; a
# frame holds its faces' boxes and scores, and their 96x96 JPEGs where faces are kept). Past it
# the oldest go, counted.
MAX_PENDING_FRAMES = 2000
DRAIN_S = 120.0  # at the end of a run, how long to keep trying to write what waits


class Backlog:
    """What a run has analysed and not yet stored: (record, face images, alerts) a frame, written
    in order to `store` under `session_id`. `add` writes at once where it can; while the database
    is unreachable (`StoreUnavailable`) frames wait (see `MAX_PENDING_FRAMES`) and are written,
    oldest first, at the next `flush` that reaches it; the store reconnects with a backoff."""

    def __init__(self, store, session_id: int, limit: int = MAX_PENDING_FRAMES):
        self.store, self.session_id = store, session_id
        self.pending: deque = deque()
        self.limit, self.dropped, self.written = limit, 0, 0
        self._keeps: bool | None = None
        self._down_since: float | None = None

    def keeps_faces(self) -> bool:
        """Whether the session keeps face images (read each frame; the last answer while the
        database is unreachable)."""

        try:
            self._keeps = self.store.keeps_faces(self.session_id)
        except StoreUnavailable:
            pass
        return bool(self._keeps)

    def add(self, record: FrameResult, images, alerts, renames=()) -> None:
        """A tracked record, its face images (None: none kept), the alerts it raised, and the
        participants renamed since (`Tracker.take_renames`: written after it)."""
        self.pending.append((record, images, alerts, list(renames)))
        try:
            self.flush()
        finally:
            while len(self.pending) > self.limit:
                self.pending.popleft()
                self.dropped += 1
                if self.dropped == 1 or self.dropped % 100 == 0:
                    log.error("the database %s has been unreachable too long: %d oldest frame(s) dropped "
                              "(%d kept in memory)", self.store.location, self.dropped, self.limit)

    def flush(self) -> bool:
        """Write what waits, oldest first; True when nothing waits. A frame the database refuses
        for another reason (`StoreError`) is raised; it is no longer pending."""

        while self.pending:
            record, images, alerts, renames = self.pending[0]
            try:
                if record is not None:
                    self.store.add_frame(self.session_id, record, images)
                    self.pending[0] = (None, None, alerts, renames)  # stored: never written twice
                for a in alerts:
                    self.store.add_alert(self.session_id, a.rule, a.message, a.time_s, a.participant)
                self.pending[0] = (None, None, [], renames)
                for old, new in renames:
                    self.store.rename_participant(self.session_id, old, new)
            except StoreUnavailable as e:
                if self._down_since is None:
                    self._down_since = time.monotonic()
                    log.warning("%s; keeping frames in memory until it is back", e)
                return False
            except Exception:
                self.pending.popleft()
                raise
            self.pending.popleft()
            self.written += 1
            if self._down_since is not None:
                log.warning("the database %s is back after %.0f s: writing the frames kept meanwhile",
                            self.store.location, time.monotonic() - self._down_since)
                self._down_since = None
        return True

    def drain(self, timeout_s: float = DRAIN_S, sleep=time.sleep) -> bool:
        """Keep trying to write what waits for up to `timeout_s` (the store's backoff paces the
        attempts); True when all is written."""
        deadline = time.monotonic() + timeout_s
        while not self.flush():
            if time.monotonic() >= deadline:
                log.error("the database %s is still unreachable: %d frame(s) analysed and not stored",
                          self.store.location, len(self.pending))
                return False
            sleep(min(1.0, max(0.05, deadline - time.monotonic())))
        return True


@dataclass
class RunResult:
    """What `run` returns: the tracked frames (none with `keep=False`) and the alerts raised."""
    frames: list[FrameResult]
    alerts: list[Alert]


@dataclass
class Analysis:
    """What `analyze_path` returns: the path, its tracked frames, their `Summary` and the alerts
    raised. `to_dict()` is the `classmood-analyze --json` shape (the edge: files and exports)."""
    source: str
    frames: list[FrameResult]
    summary: Summary
    alerts: list[Alert]

    def to_dict(self, class_only: bool = False) -> dict:
        """`class_only`: the class's counts alone, as a class-only session stores them: each frame's
        time, faces read and participants present, no face and no participant."""
        if class_only:
            frames = [{"time_s": round(float(f.time_s), 3), "faces": len(f.participant_faces), "participants": present(f)}
                      for f in self.frames]
            return {"source": self.source, "class_only": True, "frames": frames, "summary": self.summary.to_dict(),
                    "alerts": [{"time_s": a.time_s, "rule": a.rule, "message": a.message}
                               for a in self.alerts if a.participant is None]}
        return {"source": self.source, "frames": [f.to_dict() for f in self.frames], "summary": self.summary.to_dict(),
                "alerts": [{"time_s": a.time_s, "rule": a.rule, "participant": a.participant, "message": a.message}
                           for a in self.alerts]}


def open_path(path: str | Path, every: float = 2.0):
    """An ImageSource for an image or a folder, a VideoSource for anything else OpenCV can open."""
    if not str(path).strip():
        raise SourceError("no path given (an empty path is not taken to mean the current folder)")
    every = check_seconds(every, "the sampling interval (every)")  # images too: one rule for every path
    p = Path(path)
    if not p.exists():
        raise SourceError(f"{p}: no such file or folder")
    if p.is_dir() or p.suffix.lower() in IMAGE_SUFFIXES:
        return ImageSource(p)
    return VideoSource(p, every=every)


@dataclass
class Sink:
    """Where a run's tracked records go: the `alerts` engine (an `AlertEngine`; None: no alerts), and
    the `store` under `session_id` (None: not stored), with the opted-in participants' face images,
and the `stage` recorder (thumbnails of a shared screen, faces masked; None: none).

    `recording`: a store that cannot be written ends the run with its `StoreError` (nothing would be
    kept); for a live bot it is one more failed frame (the lock may pass). A database that cannot be
    reached loses nothing either way: frames wait in a `Backlog` and are written in order when it is
    back; at the end the run waits up to `drain_s` for it, then (a recording) raises
    `StoreUnavailable`."""
    store: object = None
    session_id: int | None = None
    alerts: AlertEngine | None = None
    recording: bool = False
    drain_s: float = DRAIN_S
    stage: object = None  # a `bot.stage.StageRecorder`: thumbnails of a shared screen (None: none kept)


def session_parts(store, session_id: int, analyzer=None, *, rules=None, stage: bool = True, recording: bool = False,
                  drain_s: float = DRAIN_S, exclude=(), roster=None, ocr=None) -> tuple[Tracker, Sink]:
    """The tracker and the sink of a stored session, as its mode asks. A class-only session
    (`Store.aggregate_only`: asked for, or the store's setting) reads no name labels unless some
    names must be excluded (`exclude`: the teacher, students who opted out), takes no roster, raises
    the class's alerts alone (`AlertRules.class_only`) and keeps no pictures. Any other session keeps
    thumbnails of a shared screen (`bot.stage.StageRecorder`, with `analyzer`'s face detector)
    unless `stage` is False. `rules`: the alert rules (default: `bot/alerts.toml`)."""
    rules = rules or load_rules()
    if store.aggregate_only(session_id):
        tracker = Tracker(exclude=exclude, ocr=ocr if exclude else False)
        return tracker, Sink(store, session_id, AlertEngine(rules.class_only()), recording=recording, drain_s=drain_s)
    recorder = StageRecorder(store, session_id, getattr(analyzer, "detector", None)) if stage else None
    return (Tracker(exclude=exclude, roster=roster, ocr=ocr),
            Sink(store, session_id, AlertEngine(rules), recording=recording, drain_s=drain_s, stage=recorder))


def run(source, analyzer, tracker, sink: Sink | None = None, *, progress: Progress | None = None,
        keep: bool = True, on_frame: Callable[[FrameResult], None] | None = None) -> RunResult:
    """Analyse every `Frame` of `source` (any iterable of them: a screen, a video, pictures), track
    it and hand it to the `sink` (alerts, the store). A frame that starts a `new_scene` (a folder's
    unrelated pictures) gets a fresh tracker.

    Returns a `RunResult`: the tracked frames (none with `keep=False`: a live bot runs for hours)
    and the alerts raised. `progress(done, total)` after each frame analysed; `on_frame(record)` as each tracked
    record is ready (the tracker holds a gallery's records back while their names are read in the
    background: `Tracker.push`; the rest come at the end, `Tracker.flush`)."""
    sink = sink or Sink()
    store, session_id, alerts = sink.store, sink.session_id, sink.alerts

    total = len(source) if hasattr(source, "__len__") else 0
    frames: list[FrameResult] = []
    raised: list = []
    done = 0
    backlog = Backlog(store, session_id) if store is not None and session_id is not None else None

    renames: list[tuple[str, str]] = []

    def emit(ready) -> None:
        """Alerts and the store for the tracked records now ready (the tracker holds a layout's
        records back while its names are read), in order; participants handed out unnamed and
        named since are renamed in what was stored and kept before."""
        taken = getattr(tracker, "take_renames", None)
        renames.extend(taken() if taken else [])
        if renames and keep:
            old_new = dict(renames)
            frames[:] = [dataclasses.replace(r, faces=[dataclasses.replace(f, participant=old_new.get(f.participant, f.participant))
                                                        for f in r.faces],
                                             tiles=[dataclasses.replace(t, participant=old_new.get(t.participant, t.participant))
                                                    for t in r.tiles]) for r in frames]
        for record, frame in ready:
            try:
                new = alerts.update(record) if alerts is not None else []
                for a in new:
                    log.warning("ALERT %s", a.message)
                if backlog is not None:
                    backlog.add(record, face_images(frame, record) if backlog.keeps_faces() else None, new, renames)
                renames.clear()
                if sink.stage is not None:
                    sink.stage.offer(record.time_s, frame, record)
            except Exception as e:  # a crash in one frame never ends the run
                if sink.recording and isinstance(e, StoreError):
                    raise
                failed(record.time_s, e)
                continue
            raised.extend(new)
            if keep:
                frames.append(record)
            if on_frame:
                on_frame(record)

    def beat() -> None:
        """Tell the store the session is alive without a frame to write (one failed, or the tracker
        holds it while names are read): the app must not take a live class for a finished one."""
        if store is not None and session_id is not None:
            try:
                store.heartbeat(session_id)
            except Exception:
                pass

    def failed(t: float, e: Exception) -> None:
        log.error("frame at %.1fs failed: %s: %s", t, type(e).__name__, e)
        beat()

    for frame in source:
        try:
            result = analyzer.analyze(frame.image, time_s=frame.time_s, file=frame.file)
            if frame.new_scene:  # an unrelated picture: its own tracker, named at once
                ready = [(tracker.fresh().update(result, frame.image), frame.image)]
            else:
                ready = tracker.push(result, frame.image)
        except Exception as e:  # a crash in one frame never ends the run
            failed(frame.time_s, e)
            continue
        emit(ready)
        if not ready:
            beat()
        done += 1
        if progress:
            progress(done, max(total, done))
    emit(tracker.flush())  # the last layout's names, and the records that waited for them
    if backlog is not None and backlog.pending and not backlog.drain(sink.drain_s) and sink.recording:
        raise StoreUnavailable(f"the session database {store.location} was unreachable to the end: "
                               f"{len(backlog.pending)} frame(s) not stored")
    return RunResult(frames, raised)


def face_images(frame: np.ndarray, record: FrameResult) -> list[bytes | None]:
    """A JPEG of each participant's face (FER-style square, `FACE_IMAGE_PX` a side, colour); None
    for faces of anyone else in a tile, and for all when the picture is unusable."""
    import cv2

    out: list[bytes | None] = [None] * len(record.faces)
    keep = [k for k, f in enumerate(record.faces) if f.role == "participant"]
    if not keep or not isinstance(frame, np.ndarray) or frame.size == 0 or frame.ndim not in (2, 3):
        return out  # no usable picture: the expressions are stored all the same
    frame = frame if frame.ndim == 3 else cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    crops = crop_faces(frame[:, :, :3], [record.faces[k].box for k in keep], size=FACE_IMAGE_PX, color=True)
    for k, crop in zip(keep, crops):
        ok, buf = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, FACE_IMAGE_QUALITY])
        out[k] = buf.tobytes() if ok else None
    return out


def analyze_path(path: str | Path, every: float = 2.0, progress: Progress | None = None, *,
                 analyzer=None, tracker=None, store=None, session_id: int | None = None, alerts=None,
                 roster=None, drain_s: float = DRAIN_S, sink: Sink | None = None) -> Analysis:
    """Analyse an image, a folder of images or a video sampled every `every` seconds, through `run`.

    Returns an `Analysis` (its `to_dict()`: the `classmood-analyze --json` shape). With `store` and `session_id` (from `store.start_session`), frames and alerts
    are also stored (with face images only where that session keeps faces). `alerts`: an
    `AlertEngine` (default: the default rules; recordings raise alerts on video time). `roster`: the
    class list (a `bot.roster.Roster`, names or a file) the default tracker names tiles after.
    `drain_s`: how long to keep trying a database that cannot be reached at the end (`run`).
    `sink`: the whole sink instead (`session_parts`: a stored session as its mode asks); a recording's."""

    source = open_path(path, every)
    if sink is None:
        sink = Sink(store, session_id, alerts if alerts is not None else AlertEngine(), recording=True, drain_s=drain_s)
    else:
        sink = dataclasses.replace(sink, recording=True)
    done = run(source, analyzer or GalleryAnalyzer(), tracker or Tracker(roster=roster), sink, progress=progress)
    if not done.frames:
        raise SourceError(f"{path}: no frame could be analysed")
    return Analysis(str(path), done.frames, summarize(done.frames), done.alerts)
