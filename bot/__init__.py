"""ClassMood's observer: gallery analysis, participants over time, sources, store, mood and alerts.

    from bot import GalleryAnalyzer, Tracker, analyze_path, run, summarize
    from bot import ScreenSource, VideoSource, ImageSource
    from bot.store import Store
"""

from bot.analyzer import AnalyzerOptions, FaceResult, FrameResult, GalleryAnalyzer, TileResult
from bot.mood import summarize
from bot.pipeline import analyze_path, run
from bot.sources import ImageSource, ScreenSource, SourceError, VideoSource
from bot.tracker import Tracker

__all__ = ["AnalyzerOptions", "FaceResult", "FrameResult", "GalleryAnalyzer", "ImageSource", "ScreenSource",
           "SourceError", "TileResult", "Tracker", "VideoSource", "analyze_path", "run", "summarize"]
