"""The one loop: a source's frames through `GalleryAnalyzer`, `Tracker`, the store and the alerts.

`run()` drives `classmood-bot` (the screen), `classmood-analyze` and the app's uploads (files,
folders, recordings) alike: analyse, track, store, alerts. Recordings raise alerts on their own
clock (video time). A frame that fails is logged and left out; the run goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bot.mood import summarize
from bot.records import FrameResult
from bot.sources import IMAGE_SUFFIXES, ImageSource, SourceError, VideoSource

log = logging.getLogger("classmood.pipeline")

Progress = Callable[[int, int], None]
FACE_IMAGE_PX = 96        # side of a kept face image (the FER-style square the model saw, in colour)
FACE_IMAGE_QUALITY = 90   # its JPEG quality


def open_path(path: str | Path, every: float = 2.0):
    """An ImageSource for an image or a folder, a VideoSource for anything else OpenCV can open."""
    if not str(path).strip():
        raise SourceError("no path given (an empty path is not taken to mean the current folder)")
    p = Path(path)
    if not p.exists():
        raise SourceError(f"{p}: no such file or folder")
    if p.is_dir() or p.suffix.lower() in IMAGE_SUFFIXES:
        return ImageSource(p)
    return VideoSource(p, every=every)


def run(source, analyzer, tracker, store=None, session_id: int | None = None, alerts=None,
        progress: Progress | None = None, *, keep: bool = True,
        on_frame: Callable[[FrameResult], None] | None = None,
        stop_on_store_error: bool = False) -> tuple[list[FrameResult], list]:
    """Analyse every frame of `source` (an iterable of `(time_s, frame)`; an `ImageSource` gives
    each image's path too), track it, store it in `store` under `session_id` (with the opted-in
    participants' face images, cropped here once and encoded), and feed `alerts` (an `AlertEngine`),
    storing what it raises. Images of a folder are unrelated pictures: each gets a fresh tracker.

    Returns the tracked frames (none with `keep=False`: a live bot runs for hours) and the alerts
    raised. `progress(done, total)` after each frame; `on_frame(record)` too. A store that cannot
    be written is one more failed frame for a live bot (the lock may pass), and ends the run with
    its `StoreError` where `stop_on_store_error` (a recording: nothing would be kept)."""
    from bot.store import StoreError

    folder = isinstance(source, ImageSource) and source.path.is_dir()
    items = source.items() if isinstance(source, ImageSource) else ((t, f, None) for t, f in source)
    total = len(source) if hasattr(source, "__len__") else 0
    frames: list[FrameResult] = []
    raised: list = []
    done = 0
    for t, frame, file in items:
        try:
            result = analyzer.analyze(frame, time_s=t, file=str(file) if folder else None)
            record = (tracker.fresh() if folder else tracker).update(result, frame)
            if store is not None and session_id is not None:
                images = face_images(frame, record) if store.keeps_faces(session_id) else None
                store.add_frame(session_id, record, images)
            new = alerts.update(record) if alerts is not None else []
            for a in new:
                log.warning("ALERT %s", a.message)
                if store is not None and session_id is not None:
                    store.add_alert(session_id, a.rule, a.message, a.time_s, a.participant)
        except Exception as e:  # a crash in one frame never ends the run
            if stop_on_store_error and isinstance(e, StoreError):
                raise
            log.error("frame at %.1fs failed: %s: %s", t, type(e).__name__, e)
            if store is not None and session_id is not None:
                try:
                    store.heartbeat(session_id)
                except Exception:
                    pass
            continue
        raised += new
        if keep:
            frames.append(record)
        done += 1
        if on_frame:
            on_frame(record)
        if progress:
            progress(done, max(total, done))
    return frames, raised


def face_images(frame: np.ndarray, record: FrameResult) -> list[bytes | None]:
    """A JPEG of each participant's face (FER-style square, `FACE_IMAGE_PX` a side, colour); None
    for faces of anyone else in a tile, and for all when the picture is unusable."""
    import cv2

    from model.crop import crop_faces

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
                 roster=None) -> dict:
    """Analyse an image, a folder of images or a video sampled every `every` seconds, through `run`.

    Returns {"source", "frames", "summary", "alerts"} (the `classmood-analyze --json` shape: frames
    as `to_dict()`). With `store` and `session_id` (from `store.start_session`), frames and alerts
    are also stored (with face images only where that session keeps faces). `alerts`: an
    `AlertEngine` (default: the default rules; recordings raise alerts on video time). `roster`: the
    class list (a `bot.roster.Roster`, names or a file) the default tracker names tiles after."""
    from bot.alerts import AlertEngine
    from bot.analyzer import GalleryAnalyzer
    from bot.tracker import Tracker

    source = open_path(path, every)
    frames, raised = run(source, analyzer or GalleryAnalyzer(), tracker or Tracker(roster=roster), store, session_id,
                         alerts if alerts is not None else AlertEngine(), progress, stop_on_store_error=True)
    if not frames:
        raise SourceError(f"{path}: no frame could be analysed")
    return {"source": str(path), "frames": [f.to_dict() for f in frames], "summary": summarize(frames),
            "alerts": [{"time_s": a.time_s, "rule": a.rule, "participant": a.participant, "message": a.message}
                       for a in raised]}
