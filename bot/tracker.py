"""`Tracker`: participants over time.

Consumes frame results (and the frame, for OCR) and
- names tiles by OCR of their name strips, run only when the layout changes;
- gives each participant a stable id: the name when read, else `tile-<i>`; when the layout changes
  and no names are legible, tiles are re-matched to earlier participants by a small face signature
  kept in memory only (never stored);
- smooths each participant's scores over time (exponential moving average);
- keeps time on camera and last-seen times;
- drops excluded participants (the teacher's self-view, students who opted out) before anything
  is stored.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable

import numpy as np

from model import EMOTIONS


def _norm(name: str) -> str:
    return " ".join(str(name).lower().split())


class Tracker:
    def __init__(self, exclude: Iterable[str] = (), smoothing: float = 0.6,
                 ocr: bool | Callable | None = None, layout_tolerance_px: int = 12):
        """`smoothing`: weight of the newest frame (1.0 = no smoothing). `ocr`: True/None uses
        Tesseract when installed, False never, or a callable (frame, tiles) -> names."""
        from bot import ocr as ocr_mod

        self._settings = dict(exclude=tuple(exclude), smoothing=smoothing, ocr=ocr,
                              layout_tolerance_px=layout_tolerance_px)
        self.exclude = {_norm(e) for e in exclude if str(e).strip()}
        self.alpha = float(smoothing)
        if ocr is False:
            self._ocr = None
        elif callable(ocr):
            self._ocr = ocr
        else:
            self._ocr = ocr_mod.read_names if ocr_mod.available() else None
        self.tol = layout_tolerance_px
        self._layout: list[tuple] | None = None
        self._names: list[str | None] = []
        self._ids: list[str] = []
        self._signatures: dict[str, np.ndarray] = {}
        self._smoothed: dict[str, np.ndarray] = {}
        self.time_on_camera: dict[str, float] = {}
        self.last_seen: dict[str, float] = {}
        self.first_seen: dict[str, float] = {}
        self.on_camera: dict[str, bool] = {}
        self._last_t: float | None = None
        self.layout_changes = 0

    def fresh(self) -> "Tracker":
        """A new tracker with the same settings and no history."""
        return Tracker(**self._settings)

    def update(self, result, frame: np.ndarray | None = None) -> dict:
        """Return the frame dict with names, stable participant ids and smoothed scores filled in,
        excluded participants removed."""
        d = copy.deepcopy(result if isinstance(result, dict) else result.to_dict())
        t = float(d.get("time_s", 0.0))
        dt = 0.0 if self._last_t is None else max(0.0, t - self._last_t)
        self._last_t = t
        tiles = d.get("tiles", [])
        faces = d.get("faces", [])
        if self._layout_changed(tiles):
            self._relayout(tiles, faces, frame)
        ids = self._ids
        keep_tiles = [i for i in range(len(tiles)) if _norm(ids[i]) not in self.exclude
                      and not (self._names[i] and _norm(self._names[i]) in self.exclude)]
        for i in range(len(tiles)):
            tiles[i]["name"] = self._names[i]
        kept_faces = []
        for f in faces:
            tile = f.get("tile")
            if tile is not None and tile not in keep_tiles:
                continue
            if tile is not None and f.get("role") == "participant":
                pid = ids[tile]
                f["participant"] = pid
                raw = np.array([f["scores"][e] for e in EMOTIONS], dtype=np.float64)
                prev = self._smoothed.get(pid)
                sm = raw if prev is None else self.alpha * raw + (1 - self.alpha) * prev
                self._smoothed[pid] = sm
                f["scores"] = {e: round(float(v), 4) for e, v in zip(EMOTIONS, sm)}
                f["emotion"] = EMOTIONS[int(sm.argmax())]
                if frame is not None:
                    self._signatures[pid] = _signature(frame, f["box"])
            else:
                f["participant"] = None
            kept_faces.append(f)
        visible = {f["participant"] for f in kept_faces if f.get("role") == "participant"}
        for i in keep_tiles:
            pid = ids[i]
            self.first_seen.setdefault(pid, t)
            self.last_seen[pid] = t
            on = pid in visible
            if on and self.on_camera.get(pid):
                self.time_on_camera[pid] = self.time_on_camera.get(pid, 0.0) + dt
            self.time_on_camera.setdefault(pid, 0.0)
            self.on_camera[pid] = on
        # keep tile indices pointing at the kept tiles
        remap = {old: new for new, old in enumerate(keep_tiles)}
        for f in kept_faces:
            if f.get("tile") is not None:
                f["tile"] = remap[f["tile"]]
        d["tiles"] = [tiles[i] for i in keep_tiles]
        d["faces"] = kept_faces
        return d

    def smoothed(self, participant: str) -> dict[str, float] | None:
        s = self._smoothed.get(participant)
        return None if s is None else dict(zip(EMOTIONS, map(float, s)))

    def _layout_changed(self, tiles) -> bool:
        boxes = [tuple(t["box"]) for t in tiles]
        if self._layout is None or len(boxes) != len(self._layout):
            return True
        return any(max(abs(a - b) for a, b in zip(p, q)) > self.tol for p, q in zip(boxes, self._layout))

    def _relayout(self, tiles, faces, frame) -> None:
        self.layout_changes += 1
        old_layout = self._layout is not None
        self._layout = [tuple(t["box"]) for t in tiles]
        names = list(self._ocr(frame, tiles)) if (self._ocr and frame is not None) else [None] * len(tiles)
        ids = [n if n else f"tile-{i}" for i, n in enumerate(names)]
        if old_layout and frame is not None and self._signatures:
            ids = self._rematch(ids, names, tiles, faces, frame)
        # two tiles with the same legible name stay apart
        seen: dict[str, int] = {}
        for i, pid in enumerate(ids):
            if pid in seen:
                ids[i] = f"{pid} ({i})"
            seen[pid] = i
        self._names, self._ids = names, ids

    def _rematch(self, ids, names, tiles, faces, frame) -> list[str]:
        """Unnamed tiles take the id of the earlier participant whose face signature matches best."""
        taken = {pid for pid, n in zip(ids, names) if n}
        for f in faces:
            i = f.get("tile")
            if i is None or f.get("role") != "participant" or names[i]:
                continue
            sig = _signature(frame, f["box"])
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
