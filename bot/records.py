"""The typed records of a frame's journey: the `Frame` a source yields, and the `FrameResult` the
analyser makes of it, which the tracker, the alerts and the store pass on.

`FrameResult` holds `TileResult`s and `FaceResult`s; a face's `scores` is an array in `EMOTIONS`
order (smoothed by the tracker, the analyser's kept as `raw_scores`) and its `emotion` the top class
of those scores; its `yaw`, `pitch`, `roll` (degrees) come
from its landmarks and its `attention` from the tracker. `to_dict()` is for the JSON edge only
(`classmood-analyze --json`, the app's report); `FrameResult.from_dict` reads that shape back (stored
or replayed JSON). No image code here: the store imports this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bot.geometry import Box
from model.emotions import EMOTIONS


@dataclass(frozen=True)
class Frame:
    """One picture into the pipeline, as every source yields it.

    `time_s`: seconds from the source's start (video time; wall time since a screen capture began;
    0.0 for a picture). `image`: BGR (or gray) pixels. `file`: the picture it came from, for a
    folder's pictures (None otherwise). `new_scene`: unrelated to the frame before (a folder's
    pictures): it is read afresh, with a tracker of its own."""
    time_s: float
    image: np.ndarray = field(repr=False)
    file: str | None = None
    new_scene: bool = False


@dataclass
class TileResult:
    box: Box
    name: str | None = None
    camera_off: bool = False
    picture: bool = False  # camera off, a profile photo or avatar shown instead (its name bottom-left)
    participant: str | None = None  # the tracker's id of whoever the tile shows (None straight out of the analyser)

    def to_dict(self) -> dict:
        return {"box": [int(v) for v in self.box], "name": self.name, "camera_off": bool(self.camera_off),
                "picture": bool(self.picture), "participant": self.participant}

    @classmethod
    def from_dict(cls, d: dict) -> "TileResult":
        return cls(tuple(int(v) for v in d["box"]), d.get("name"), bool(d.get("camera_off", False)),
                   bool(d.get("picture", False)), d.get("participant"))


@dataclass
class FaceResult:
    box: Box
    tile: int | None
    participant: str | None        # set by the tracker (None straight out of the analyser)
    role: str                      # "participant" (the tile's main face, on video) or "other" (any
                                   # other face, a profile photo on a camera-off tile included)
    confidence: float              # detector score in [0, 1]
    uncertain: bool                # tiny face or low top score (set again after smoothing)
    scores: np.ndarray = field(repr=False)  # (7,) float probabilities in EMOTIONS order
    yaw: float | None = None       # head pose in degrees (`model.headpose`); None without landmarks
    pitch: float | None = None
    roll: float | None = None
    attention: str | None = None   # "facing", "away" or "down" (`bot.attention`), set by the tracker
    covered: bool = False          # partly behind a flat panel or its tile's edge (`bot.occlusion`):
                                   # its answer is kept, its confidence capped, so the mood does not count it
    masked: bool = False           # behind a mask (`model.mask`): the same, the expression model cannot read it
    # the analyser's own scores where the tracker smoothed `scores` over the participant's frames
    # (None: `scores` are the analyser's); in memory only, never stored or written to JSON
    raw_scores: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def emotion(self) -> str:
        return EMOTIONS[int(np.argmax(self.scores))]

    def to_dict(self) -> dict:
        return {"box": [int(v) for v in self.box], "tile": self.tile, "participant": self.participant,
                "role": self.role, "confidence": round(float(self.confidence), 3), "uncertain": bool(self.uncertain),
                "emotion": self.emotion, "scores": {e: round(float(v), 4) for e, v in zip(EMOTIONS, self.scores)},
                "pose": None if self.yaw is None else [round(float(v), 1) for v in (self.yaw, self.pitch, self.roll)],
                "attention": self.attention, "covered": bool(self.covered),
                "masked": bool(self.masked)}

    @classmethod
    def from_dict(cls, d: dict) -> "FaceResult":
        scores = d["scores"]
        scores = np.array([scores[e] for e in EMOTIONS] if isinstance(scores, dict) else scores, dtype=np.float64)
        pose = d.get("pose") or (None, None, None)
        return cls(tuple(int(v) for v in d["box"]), d.get("tile"), d.get("participant"),
                   d.get("role", "participant"), float(d.get("confidence") or 0.0), bool(d.get("uncertain")), scores,
                   *(None if v is None else float(v) for v in pose), d.get("attention"), bool(d.get("covered")),
                   bool(d.get("masked")))


@dataclass
class FrameResult:
    time_s: float
    tiles: list[TileResult]
    faces: list[FaceResult]
    file: str | None = None

    @property
    def participant_faces(self) -> list[FaceResult]:
        return [f for f in self.faces if f.role == "participant"]

    def to_dict(self) -> dict:
        return {"time_s": round(float(self.time_s), 3), "file": self.file,
                "tiles": [t.to_dict() for t in self.tiles], "faces": [f.to_dict() for f in self.faces]}

    @classmethod
    def from_dict(cls, d: dict) -> "FrameResult":
        return cls(float(d.get("time_s", 0.0)), [TileResult.from_dict(t) for t in d.get("tiles", [])],
                   [FaceResult.from_dict(f) for f in d.get("faces", [])], d.get("file"))


def is_gallery(result: FrameResult) -> bool:
    """Whether a frame's tiles look like a meeting's gallery, whose tiles are participants and whose
    name labels are worth reading: two tiles or more, and at least half of them showing a
    participant's face or a camera-off panel. A desktop, a web page's grid of pictures, a single
    webcam window are not (`Store.add_frame` then counts the faces alone as present, and the app
    and the bot say "no meeting visible" where there is none)."""
    tiles = result.tiles
    if len(tiles) < 2:
        return False
    shown = {f.tile for f in result.faces if f.role == "participant" and f.tile is not None}
    return 2 * sum(1 for i, t in enumerate(tiles) if i in shown or t.camera_off) >= len(tiles)


def present(result: FrameResult) -> int:
    """Participants present in a frame: every tile of a grid where someone is (a participant's face
    or a camera-off panel: a class whose students mostly turned away still counts them all), else
    the participant faces seen (a webcam); 0 on a desktop whose windows look like tiles and show no
    one. One count for the store, the alerts and the bot's line. (Looser than `is_gallery`, which
    decides whether labels are worth reading.)"""
    tiles = result.tiles
    someone = any(f.role == "participant" and f.tile is not None for f in result.faces) or any(t.camera_off for t in tiles)
    return len(tiles) if len(tiles) >= 2 and someone else len(result.participant_faces)


def as_record(frame: "FrameResult | dict") -> FrameResult:
    """A FrameResult as it is, or the `to_dict()` shape read back."""
    return frame if isinstance(frame, FrameResult) else FrameResult.from_dict(frame)
