"""ClassMood's observer: gallery analysis, participants over time, sources, store, mood and alerts.

    from bot import GalleryAnalyzer, Tracker, analyze_path, run, summarize
    from bot import ScreenSource, VideoSource, ImageSource
    from bot.store import Store

The names below load their module on first use (PEP 562), so that `import bot.store` (the app's
reads, a batch worker's writes) loads no image code and no detector.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_HOME = {"AnalyzerOptions": "bot.analyzer", "GalleryAnalyzer": "bot.analyzer",
         "FaceResult": "bot.records", "FrameResult": "bot.records", "TileResult": "bot.records",
         "summarize": "bot.mood", "analyze_path": "bot.pipeline", "run": "bot.pipeline",
         "ImageSource": "bot.sources", "ScreenSource": "bot.sources", "SourceError": "bot.sources",
         "VideoSource": "bot.sources", "Tracker": "bot.tracker"}
__all__ = ["AnalyzerOptions", "FaceResult", "FrameResult", "GalleryAnalyzer", "ImageSource", "ScreenSource",
           "SourceError", "TileResult", "Tracker", "VideoSource", "analyze_path", "run", "summarize"]

if TYPE_CHECKING:  # what editors and type checkers see
    from bot.analyzer import AnalyzerOptions, GalleryAnalyzer
    from bot.mood import summarize
    from bot.pipeline import analyze_path, run
    from bot.records import FaceResult, FrameResult, TileResult
    from bot.sources import ImageSource, ScreenSource, SourceError, VideoSource
    from bot.tracker import Tracker


def __getattr__(name: str):
    if name not in _HOME:
        raise AttributeError(f"module 'bot' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOME[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
