"""The one pipeline: a source's frames through `GalleryAnalyzer`, `Tracker`, the store and alerts."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from bot.mood import summarize
from bot.sources import IMAGE_SUFFIXES, ImageSource, SourceError, VideoSource

log = logging.getLogger("classmood.pipeline")

Progress = Callable[[int, int], None]


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


def analyze_path(path: str | Path, every: float = 2.0, progress: Progress | None = None, *,
                 analyzer=None, tracker=None, store=None, session_id: int | None = None) -> dict:
    """Analyse an image, a folder of images or a video sampled every `every` seconds.

    Returns {"source", "frames", "summary"} (the `classmood-analyze --json` shape). `progress(done,
    total)` is called after each frame. With `store` and `session_id` (from `store.start_session`),
    frames are also stored (with face images only where that session was started with `keep_faces`).
    A frame that fails is logged and left out; the run goes on. Images of a folder are unrelated
    pictures: each gets a fresh tracker (no smoothing across them)."""
    from bot.analyzer import GalleryAnalyzer
    from bot.tracker import Tracker

    source = open_path(path, every)
    analyzer = analyzer or GalleryAnalyzer()
    tracker = tracker or Tracker()
    is_folder = isinstance(source, ImageSource) and Path(path).is_dir()
    items = source.items() if isinstance(source, ImageSource) else ((t, f, None) for t, f in source)
    total = len(source)
    frames: list[dict] = []
    done = 0
    for t, frame, file in items:
        try:
            result = analyzer.analyze(frame, time_s=t,
                                      file=str(Path(path) / file.relative_to(path)) if is_folder else None)
            d = (tracker.fresh() if is_folder else tracker).update(result, frame)
        except Exception as e:  # one bad frame never ends the run
            log.warning("frame at %.1fs skipped: %s: %s", t, type(e).__name__, e)
            continue
        frames.append(d)
        if store is not None and session_id is not None:
            store.add_frame(session_id, d, image=frame)
        done += 1
        if progress:
            progress(done, max(total, done))
    if not frames:
        raise SourceError(f"{path}: no frame could be analysed")
    return {"source": str(path), "frames": frames, "summary": summarize(frames)}
