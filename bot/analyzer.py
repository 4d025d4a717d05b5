"""`GalleryAnalyzer`: one frame in, tiles and classified faces out (no OCR, no participants).

Per frame: tiles from the layout; faces by YuNet around the video tiles at a reduced scale, then
a second, upscaled look only at tiles that show video but no face yet (and a larger one where that
look saw a weak candidate); faces assigned to tiles (the largest central face of a tile is its
participant, any other face is "other", and so is a still picture on a camera-off tile's panel, a
profile photo or avatar: its tile is camera-off and `picture`, see `bot.layout.picture_on_panel`);
all faces cropped FER-style and classified in one batch; a face partly behind a flat panel (a
window over the gallery, a name label) or cut by its tile's edge keeps its answer but not the
confidence that would count it (`bot.occlusion`), and so does a face behind a mask, which the
expression model, trained on faces that show their mouths, cannot read (`model.mask`); each face's
head pose from its five landmarks (`model.headpose`).
Between frames of one meeting, the layout and the detections of unchanged areas are reused; on a
page that scrolled (`LayoutMemory.scrolled`), only the rows it newly shows are looked at.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from bot.geometry import center_in, detection_roi, iou, overlaps
from bot.layout import LayoutMemory, LayoutOptions, find_tiles, fit, picture_on_panel
from bot.occlusion import cap_top, cut_by_tile, is_covered
from bot.records import Box, FaceResult, FrameResult, TileResult
from model import EMOTIONS, EmotionClassifier
from model.crop import crop_faces, fer_square
from model.detector import Detection, FaceDetector
from model.errors import ModelLoadError
from model.headpose import head_pose
from model.mask import MaskCheck

log = logging.getLogger(__name__)

__all__ = ["AnalyzerOptions", "Box", "FaceResult", "FrameResult", "GalleryAnalyzer", "Placed", "TileResult"]


@dataclass(frozen=True)
class AnalyzerOptions:
    frame_max_side: int = 960         # whole-frame pass: longest side resized down to this
    second_look_height: int = 256     # tiles without a face are looked at again, upscaled to this height
    max_second_look_scale: float = 3.0
    min_confidence: float = 0.5       # detector score below which a detection is dropped
    second_face_confidence: float = 0.7  # ... and a second face in a tile that has its participant
    hint_confidence: float = 0.2      # a weaker candidate in a tile earns that tile a larger second look
    tiny_face_px: int = 24            # faces smaller than this (shorter side, source pixels) are uncertain
    low_score: float = 0.4            # top class probability below this is uncertain
    nms_iou: float = 0.3
    roi: bool = True                  # whole-frame pass only around the video tiles (False: the whole frame)
    reuse_layout: bool = True         # search the layout again only when it changes (`LayoutMemory`)
    reuse_detections: bool = True     # look again only where the picture changed since the last frame
    full_pass_every: int = 30         # ... and look at everything again at least every this many frames
    track_faces: bool = True          # a face that moved is looked for close around where it was (`_track`)
    crowded_look: bool = True         # a tile with several faces: each looked at closely before one is chosen
    larger_look: str = "hinted"       # "hinted": only tiles where a look saw a weak candidate; "always"
    mirrored_look: bool = True        # ... and where those looks confirmed none, once more mirrored (a profile)
    covered_check: bool = True        # a face partly behind a flat panel or its tile's edge (`bot.occlusion`)...
    covered_top: float = 0.35         # ... keeps its answer at most this sure: uncertain, never counted
    mask_check: bool = True           # a face behind a mask (`model.mask`) is treated alike: read, never counted
    layout: LayoutOptions = field(default_factory=LayoutOptions)


class GalleryAnalyzer:
    """`GalleryAnalyzer()` loads the bundled model and detector with default options;
    `.analyze(frame_bgr, time_s=0.0) -> FrameResult`.

    Successive frames of one meeting share work: the layout is searched again only when it changes
    and faces are looked for again only where the picture changed (`reuse_layout`,
    `reuse_detections`). Unrelated pictures are each analysed in full; `forget()` starts afresh."""

    def __init__(self, options: AnalyzerOptions | None = None, classifier=None, detector=None, masks=None):
        self.options = options or AnalyzerOptions()
        self.classifier = classifier or EmotionClassifier.load()
        # `masks`: a `model.mask.MaskCheck` (default: the bundled one; none where `mask_check` is off)
        self.masks = None if not self.options.mask_check else masks if masks is not None else _load_masks()
        self.detector = detector or FaceDetector(min_confidence=self.options.min_confidence)
        self.layouts = LayoutMemory(self.options.layout) if self.options.reuse_layout else None
        self._seen: _Seen | None = None
        self._seen_lock = threading.Lock()
        self._faces_outside = False  # the last whole look saw faces the layout's tiles do not explain
        # the covered and mask checks' answers for each detection of the last frame: a detection kept
        # from it (`_Seen`: its pixels did not change) keeps its answers too
        self._covered: dict[int, tuple[Detection, bool]] = {}
        self._masked: dict[int, tuple[Detection, bool]] = {}
        self._closer: dict[int, tuple[Detection, float]] = {}  # `_crowded`'s answers, kept alike
        self.stage_ms: dict[str, float] = {}  # the last frame's time in each stage (crop and classify together)

    def analyze(self, frame: np.ndarray, time_s: float = 0.0, file: str | None = None) -> FrameResult:
        import cv2

        frame = _as_bgr(frame)
        opts = self.options
        t0 = time.perf_counter()
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)  # once a frame: the layout and the change check read it
        searches = self.layouts.searches if self.layouts else None
        layout = self.layouts.tiles(gray) if self.layouts else find_tiles(gray, opts.layout)
        # faces first: where the layout was searched on this frame (a new picture, a moved window, a
        # changed grid) it is not trusted yet, and the whole frame is looked at: a wrong layout (three
        # avatar squares taken for the gallery) must never hide a face the detector can see
        searched = self.layouts is None or self.layouts.searches != searches
        t1 = time.perf_counter()
        dets = self._detect(frame, layout, gray, whole=searched or self._faces_outside)
        others = self.layouts.others if searched and self.layouts is not None else []
        sure = [d.box for d in dets if d.confidence >= opts.min_confidence]
        if self.layouts is not None:
            self.layouts.saw(sure)  # where faces were, the next frame's layout is never kept unsearched
        fitted = fit(layout, sure, gray, opts.layout, searched, others)
        if fitted is not layout and self.layouts is not None:
            self.layouts.adopt(fitted)  # the next frames reuse what the fit chose, not what the search found
        if fitted is not layout:  # the looks went by the tiles searched: the fitted ones' too
            dets = self._look_again(frame, fitted, dets)
        layout = fitted
        t2 = time.perf_counter()
        assigned = _assign(dets, [t.box for t in layout])
        # where a tile holds several faces, each is looked at closely: that look's word chooses the
        # participant (a hand or a name label taken for a face loses to the face) and which second
        # faces are kept
        sure = self._crowded(frame, layout, assigned)
        if sure:
            assigned = _assign(dets, [t.box for t in layout], [sure.get(id(d), d.confidence) for d in dets])
        # a weak second face beside a tile's participant is rather a guitar or a poster than a
        # second person sharing the camera (who is seen as clearly as the first)
        assigned = [a for a in assigned if a.role == "participant" or a.tile is None
                    or sure.get(id(a.det), a.det.confidence) >= opts.second_face_confidence
                    or not any(b.tile == a.tile and b.role == "participant" for b in assigned)]
        # a profile photo or avatar on a camera-off tile is no participant's face on video
        pictures = {a.tile for a in assigned
                    if a.role == "participant" and picture_on_panel(gray, layout[a.tile].box, a.det.box)}
        assigned = [a._replace(role="other") if a.tile in pictures else a for a in assigned]
        # each face's size in the frame goes with it: a small face's answer is calibrated as surer of less
        boxes = [a.det.box for a in assigned]
        crops = crop_faces(frame, boxes)
        probs = self.classifier.predict(crops, sides=[fer_square(b)[2] for b in boxes]) \
            if assigned else np.zeros((0, len(EMOTIONS)), np.float32)
        # a face behind a mask reads as its eyes alone suggest (sad, fear): kept, not counted
        masked = self._are_masked(crops, [a.det for a in assigned])
        self._masked = {id(a.det): (a.det, bool(m)) for a, m in zip(assigned, masked)}
        # a face half behind a poll window reads as its visible half suggests: kept, not counted
        # ... and so does a face its tile cuts (a student sitting low: the mouth below the tile)
        panels = [self._is_covered(gray, a.det) for a in assigned]
        self._covered = {id(a.det): (a.det, c) for a, c in zip(assigned, panels)}
        covered = [c or (opts.covered_check and a.tile is not None
                         and cut_by_tile(gray, a.det.box, a.det.landmarks, layout[a.tile].box))
                   for a, c in zip(assigned, panels)]
        probs = [cap_top(p, opts.covered_top) if c or m else p for p, c, m in zip(probs, covered, masked)]
        t3 = time.perf_counter()
        self.stage_ms = {"layout": (t1 - t0) * 1e3, "detection": (t2 - t1) * 1e3, "classification": (t3 - t2) * 1e3}
        poses = _poses([a.det for a in assigned])
        faces = [FaceResult(box=tuple(a.det.box), tile=a.tile, participant=None, role=a.role,
                            confidence=round(float(a.det.confidence), 3),
                            uncertain=c or bool(m) or is_uncertain(a.det.box, p, opts),
                            scores=p, yaw=pose[0], pitch=pose[1], roll=pose[2], covered=c, masked=bool(m))
                 for a, p, pose, c, m in zip(assigned, probs, poses, covered, masked)]
        with_face = {f.tile for f in faces if f.role == "participant"}
        tiles = [TileResult(t.box, None, (t.camera_off and i not in with_face) or i in pictures, i in pictures)
                 for i, t in enumerate(layout)]
        return FrameResult(time_s=float(time_s), tiles=tiles, faces=faces, file=file)

    @property
    def detector_workers(self) -> int:
        return int(getattr(self.detector, "workers", 1))

    def forget(self) -> None:
        """Drop what was remembered of earlier frames (layout, detections): the next frame is
        analysed as if it were the first."""
        if self.layouts:
            self.layouts = LayoutMemory(self.options.layout)
        with self._seen_lock:
            self._seen = None
            self._faces_outside = False
        self._covered = {}
        self._masked = {}
        self._closer = {}

    def _is_covered(self, gray: np.ndarray, det: Detection) -> bool:
        """`bot.occlusion.is_covered` for a detection, reused where the detection is the last frame's."""
        if not self.options.covered_check:
            return False
        last = _kept(self._covered, det)
        if last is not None:
            return last
        return is_covered(gray, det.box, det.landmarks)

    def _crowded(self, frame: np.ndarray, layout, assigned: list[Placed]) -> dict[int, float]:
        """For each face in a tile with several (by `id` of its detection): the mean of three looks'
        confidences, the pass that found it and a close look around it (as `_track` looks: about 64
        px tall), as it is and mirrored. What the close looks find is pooled, one box a face, and
        each box confirms the face it overlaps most, at IoU >= 0.5 (none: 0). A face holds at
        another scale and mirrored; a hand, a name label or a second box on one face, which the
        frame-wide pass took for a face, rarely holds at the other scale, and a guitar's body not
        mirrored (measured on real screenshots: docs/architecture.md). A detection kept from the
        last frame keeps its answer."""
        counts: dict[int, int] = {}
        for a in assigned:
            if a.tile is not None:
                counts[a.tile] = counts.get(a.tile, 0) + 1
        crowd = [a for a in assigned if self.options.crowded_look and counts.get(a.tile, 0) > 1]
        out, looks = {}, []
        for a in crowd:
            last = _kept(self._closer, a.det)
            if last is not None:
                out[id(a.det)] = last
                continue
            look = _close_region(a.det.box, layout[a.tile].box, self.options.max_second_look_scale)
            if look is not None:
                looks.append((a.det, look))
        if looks:
            faces = [a.det for a in crowd]
            regions = [look for _, look in looks]
            confirmed = [_confirmed(faces, _nms(found, 0.5))
                         for found in (self._look(frame, regions), self._look(frame, regions, mirror=True))]
            for det, _ in looks:
                out[id(det)] = (det.confidence + sum(c.get(id(det), 0.0) for c in confirmed)) / 3
        self._closer = {id(a.det): (a.det, out[id(a.det)]) for a in crowd if id(a.det) in out}
        return out

    def _are_masked(self, crops: np.ndarray, dets: list[Detection]) -> np.ndarray:
        """The mask check's answer for each crop; a detection kept from the last frame keeps its answer."""
        out = np.zeros(len(dets), bool)
        if self.masks is None or not dets:
            return out
        new = []
        for i, det in enumerate(dets):
            last = _kept(self._masked, det)
            if last is not None:
                out[i] = last
            else:
                new.append(i)
        if new:
            out[new] = self.masks(crops[new])
        return out

    def _detect(self, frame: np.ndarray, layout, gray: np.ndarray, whole: bool = False) -> list[Detection]:
        """Faces as (box, confidence). One pass over the frame (around the video tiles, reduced to
        `frame_max_side`); then, for tiles that show video but no face, an upscaled second look, and
        a larger one only where a look saw a face-like candidate it could not confirm (a score
        between `hint_confidence` and `min_confidence`): an empty room costs one look, not two.

        With `reuse_detections`, what did not change since the previous frame is not looked at
        again (see `_Seen`). `whole`: the whole-frame pass looks at the whole frame, not only around
        the tiles (a layout searched on this frame is not trusted yet)."""
        opts = self.options
        h, w = frame.shape[:2]
        scale = min(1.0, opts.frame_max_side / max(h, w))
        roi = detection_roi(layout, w, h) if opts.roi else (0, 0, w, h)
        with self._seen_lock:
            memory = self._seen if opts.reuse_detections else None
            changed = memory.changes(gray, roi, scale, opts.full_pass_every) if memory else None
            scroll = self.layouts.scrolled if self.layouts is not None else None
            if changed is not None and scroll is not None and not whole:
                memory.scrolled(changed, *scroll)  # a page that scrolled: only the rows it newly shows
            tracked: list[Detection] = []
            if changed is not None and opts.track_faces and not whole:
                tracked, done = self._track(frame, memory, layout, changed)
                memory.settle(changed, done)
            if changed is not None and memory.too_much(changed, roi):
                changed, tracked = None, []  # another picture: everything again
            if changed is None:
                parts = bands(roi, layout, self.detector_workers)
                seen = self._first_pass(frame, [b for b, _ in parts], scale, [c for _, c in parts])
                memory = _Seen(gray, roi, scale, seen) if opts.reuse_detections else None
            else:
                regions = memory.regions(changed, roi)
                done = memory.settled
                seen = [d for d in memory.seen if not any(overlaps(d.box, r, 0.0) for r in regions)
                        and not any(center_in(d.box, t) for t in done)]
                seen += tracked + self._first_pass(frame, regions, scale)
                memory.update(changed, seen)
            dets = [d for d in seen if d.confidence >= opts.min_confidence]
            if whole:  # faces first: the rest of the frame too, at the same scale (not kept as `seen`)
                around = [(r, c) for r, c in around_roi(roi, w, h, int(64 / scale), int(0.05 * max(w, h)))
                          if not _flat(gray, c)]
                outside = [d for d in self._first_pass(frame, [r for r, _ in around], scale, [c for _, c in around])
                           if d.confidence >= opts.min_confidence] if around else []
                self._faces_outside = bool(outside)  # then the next frames look outside again too
                dets += outside
            self._second_looks(frame, layout, dets, seen, scale, memory)
            self._seen = memory
        return _nms(dets, opts.nms_iou)

    def _second_looks(self, frame: np.ndarray, layout, dets: list[Detection], seen: list[Detection],
                      scale: float, memory: "_Seen | None") -> None:
        """Tiles of `layout` that show video but none of the faces `dets`: an upscaled second look,
        and a larger one where a look saw a hint of a face (see `_detect`). What they find joins
        `dets` (confident) and `seen` (all candidates), and `memory` keeps both."""
        opts = self.options
        pending = []
        for t in layout:
            if t.camera_off or any(center_in(d.box, t.box) for d in dets):
                continue
            if memory is not None and memory.still_empty(t.box):
                continue  # looked at closely before, nothing there, and nothing has changed since
            s = min(opts.max_second_look_scale, opts.second_look_height / max(t.box[3], 1))
            if s > scale * 1.2:  # else the first pass already saw this tile at this scale
                pending.append((t.box, s))
        first = list(pending)
        looked = [box for box, _ in first]
        for step in (0, 1, 2):
            if step == 1:  # the larger look: tiles with a hint of a face, unless already at the largest scale
                pending = [(box, _larger(s, scale, opts.max_second_look_scale)) for box, s in pending
                           if (opts.larger_look == "always" or any(center_in(d.box, box) for d in seen))]
            if step == 2:  # the mirrored look, at the first look's scale: a hint of a face still unconfirmed
                pending = [(box, s) for box, s in first if opts.mirrored_look
                           and any(center_in(d.box, box) for d in seen)
                           and not any(center_in(d.box, box) for d in dets)]
            if not pending:
                continue
            found = self._look(frame, pending, mirror=step == 2)
            seen += found
            sure = [d for d in found if d.confidence >= opts.min_confidence]
            dets += sure
            pending = [(box, s) for box, s in pending if not any(center_in(d.box, box) for d in sure)]
        if memory is not None:  # all candidates, those of second looks too, stand until their area changes
            memory.seen = list(seen)
            memory.looked_empty([box for box in looked if not any(center_in(d.box, box) for d in dets)])

    def _look_again(self, frame: np.ndarray, layout, dets: list[Detection]) -> list[Detection]:
        """`dets` and the faces the second looks find in the tiles of `layout` that hold none of them:
        on a frame whose layout was searched, the looks went by the tiles the search proposed, and
        the fit to the faces may have chosen others (a strip of tiles the search did not see as a
        grid): a dim face in one of those is found on this frame, not only on the next."""
        h, w = frame.shape[:2]
        scale = min(1.0, self.options.frame_max_side / max(h, w))
        with self._seen_lock:
            memory = self._seen if self.options.reuse_detections else None
            seen = list(memory.seen) if memory is not None else list(dets)
            dets = list(dets)
            self._second_looks(frame, layout, dets, seen, scale, memory)
        return _nms(dets, self.options.nms_iou)

    def _track(self, frame: np.ndarray, memory: "_Seen", layout, changed: np.ndarray):
        """A face seen on the last frame, alone in its video tile, that moved: looked for again
        close around where it was (its box grown by 0.4 of its size each way, inside the tile),
        resized so that it is about 64 pixels tall, instead of in the tile's part of the frame-wide
        pass and its upscaled second looks; a tile that was empty when last looked at closely goes
        to that close look again without the pass first. YuNet's time goes with the pixels it is
        given: 18 such looks cost a third of one pass over a 25-tile gallery's region (measured:
        28 against 85 ms) and found all 18 faces of the real 5x5 gallery again (at 40 pixels 17; on
        FER2013's low-resolution faces, 48 pixels found 11 of 14, 64 all).
        Returns (detections, the tiles settled: the face found again, or empty before); the other
        tiles are looked at as before. A face that joins a tracked tile is found by the next full
        pass (`full_pass_every`)."""
        opts = self.options
        c = memory.CELL
        looks, done = [], []
        for t in layout:
            x, y, w, h = t.box
            if t.camera_off or not changed[y // c:(y + h) // c + 1, x // c:(x + w) // c + 1].any():
                continue
            inside = [d for d in memory.seen if d.confidence >= opts.min_confidence and center_in(d.box, t.box)]
            if not inside and memory.still_empty(t.box):
                done.append(t.box)  # empty when last looked at closely: the close look again, no pass first
                continue
            if len(inside) != 1:
                continue
            look = _close_region(inside[0].box, t.box, opts.max_second_look_scale)
            if look is not None:
                looks.append((t.box, *look))
        if not looks:
            return [], done
        found_all = self.detector.detect_many([(frame[y:y + h, x:x + w], s) for _, (x, y, w, h), s in looks],
                                              self.options.hint_confidence)
        out = []
        for (tile, (x, y, _, _), _), found in zip(looks, found_all):
            sure = [d.moved(x, y) for d in found if d.confidence >= opts.min_confidence]
            sure = [d for d in sure if center_in(d.box, tile)]
            if len(sure) == 1:
                out += sure
                done.append(tile)
        return out, done

    def _first_pass(self, frame: np.ndarray, regions: list[Box], scale: float,
                    cores: list[Box] | None = None) -> list[Detection]:
        """Detections in each region; where `cores` are given, only those centred in the region's core."""
        jobs = [(frame[y:y + h, x:x + w], scale) for x, y, w, h in regions]
        out = []
        found_all = self.detector.detect_many(jobs, self.options.hint_confidence)
        for k, ((x, y, _, _), found) in enumerate(zip(regions, found_all)):
            moved = [d.moved(x, y) for d in found]
            out += [d for d in moved if cores is None or center_in(d.box, cores[k])]
        return out

    def _look(self, frame: np.ndarray, looks: list[tuple[Box, float]], mirror: bool = False) -> list[Detection]:
        """Detections (down to `hint_confidence`) in the tiles `looks` (box, scale), each resized by
        its scale, shared out among the detector's workers. One image a tile: a mosaic of the tiles
        in one image was measured slower (YuNet's time per pixel grows on large images), and a trip
        to a worker costs 0.3 ms. `mirror`: each tile mirrored left to right (YuNet scores a face
        in profile differently each way round), the detections mapped back."""
        jobs = [(frame[y:y + th, x:x + tw], s) for (x, y, tw, th), s in looks]
        if mirror:
            jobs = [(np.ascontiguousarray(img[:, ::-1]), s) for img, s in jobs]
        out = []
        for ((x, y, tw, _), _), found in zip(looks, self.detector.detect_many(jobs, self.options.hint_confidence)):
            out += [(d.mirrored(tw) if mirror else d).moved(x, y) for d in found]
        return out


def _poses(dets: list[Detection]) -> list[tuple[float | None, float | None, float | None]]:
    """(yaw, pitch, roll) in degrees per detection, from its landmarks; Nones where it has none."""
    out: list[tuple] = [(None, None, None)] * len(dets)
    have = [k for k, d in enumerate(dets) if d.landmarks is not None]
    if have:
        for k, pose in zip(have, head_pose(np.stack([dets[k].landmarks for k in have]))):
            if np.isfinite(pose).all():
                out[k] = tuple(round(float(v), 1) for v in pose)
    return out


class _Seen:
    """What the detector saw on the last frames, to skip what has not changed since.

    A grey thumbnail (1/`CELL` of the frame a side) is kept of the pixels the detections were made
    on. On the next frame, cells whose mean grey moved by more than `LEVELS` have changed (camera
    noise and compression averaged out over a cell do not). Only boxes around the changed cells
    (with a margin, grown to cover any earlier detection they touch) are looked at again, at the
    same scale; detections elsewhere are kept. Tiles whose second looks found nothing are not
    looked at again until something in them changes. Everything is looked at again when the frame
    size, the region looked at or the scale change, when over half the region changed (another
    picture), and every `full_pass_every` frames."""

    CELL = 8
    LEVELS = 6
    MARGIN = 6  # cells around a change that are looked at again with it

    def __init__(self, gray: np.ndarray, roi: Box, scale: float, seen: list[Detection]):
        self.shape, self.roi, self.scale = gray.shape, roi, scale
        self.ref = self._thumb(gray)
        self.seen = list(seen)
        self.empty: set[Box] = set()
        self.settled: list[Box] = []
        self.age = 0
        self._changed: np.ndarray | None = None

    def _thumb(self, gray: np.ndarray) -> np.ndarray:
        import cv2

        h, w = gray.shape[:2]
        return cv2.resize(gray, (max(1, w // self.CELL), max(1, h // self.CELL)), interpolation=cv2.INTER_AREA)

    def changes(self, gray: np.ndarray, roi: Box, scale: float, full_every: int) -> np.ndarray | None:
        """The changed cells (uint8 mask) of this frame (gray), or None when everything must be
        looked at again."""
        import cv2

        if gray.shape != self.shape or roi != self.roi or scale != self.scale or self.age + 1 >= full_every:
            return None
        thumb = self._thumb(gray)
        changed = (cv2.absdiff(thumb, self.ref) > self.LEVELS).astype(np.uint8)
        self._thumb_now = thumb
        self.settled = []
        return changed

    def scrolled(self, changed: np.ndarray, region: Box, d: int) -> None:
        """`region` scrolled (its row y shows the last frame's row y + d; `LayoutMemory` saw no
        face there): only the rows it newly shows are changed (taken out of `changed` elsewhere in
        the region, in place, and the region's cells show what is there now); the weak candidates
        seen there moved with the page and are dropped."""
        c = self.CELL
        x, y, w, h = region
        top, bottom = (y + h - d, y + h) if d > 0 else (y, y - d)
        region_cells = np.zeros(changed.shape, bool)
        region_cells[y // c:(y + h) // c + 1, x // c:(x + w) // c + 1] = True
        m = max(2, h // (10 * c))  # ... and a tenth of the region beside them: a face cut by the edge
        region_cells[max(0, top // c - m):bottom // c + m + 1, :] = False  # is seen whole on the next frame
        changed[region_cells] = 0
        self.ref[region_cells] = self._thumb_now[region_cells]
        self.seen = [d for d in self.seen if not center_in(d.box, region)]

    def settle(self, changed: np.ndarray, tiles: list[Box]) -> None:
        """Tiles whose faces were found again where they were (`GalleryAnalyzer._track`): their
        changes need no other look (taken out of `changed`, in place), and their cells show what
        was seen."""
        c = self.CELL
        for x, y, w, h in tiles:
            changed[y // c:(y + h) // c + 1, x // c:(x + w) // c + 1] = 0
        self.settled = list(tiles)

    def too_much(self, changed: np.ndarray, roi: Box) -> bool:
        """Over half the region looked at changed (another picture): everything must be looked at again."""
        x0, y0, rw, rh = (v // self.CELL for v in roi)
        return bool(changed[y0:y0 + rh + 1, x0:x0 + rw + 1].mean() > 0.5)

    def regions(self, changed: np.ndarray, roi: Box) -> list[Box]:
        """Boxes (frame pixels, inside `roi`) around the changed cells, to look at again."""
        import cv2

        c = self.CELL
        grown = cv2.dilate(changed, np.ones((2 * self.MARGIN + 1, 2 * self.MARGIN + 1), np.uint8))
        n, _, stats, _ = cv2.connectedComponentsWithStats(grown, connectivity=8)
        boxes = [(int(x) * c, int(y) * c, int(w) * c, int(h) * c) for x, y, w, h, _ in stats[1:n]]
        kept = [d.box for d in self.seen if not any(center_in(d.box, t) for t in self.settled)]
        for _ in range(2):  # grow each box over earlier detections it touches: no face is cut in two
            boxes = [_union([b] + [d for d in kept if overlaps(d, b, 0.0)]) for b in boxes]
        rx, ry, rw, rh = roi
        out = []
        for x, y, w, h in boxes:
            x1, y1 = max(x, rx), max(y, ry)
            x2, y2 = min(x + w, rx + rw), min(y + h, ry + rh)
            if x2 - x1 >= 8 and y2 - y1 >= 8:
                out.append((x1, y1, x2 - x1, y2 - y1))
        self._regions = out
        return out

    def update(self, changed: np.ndarray, seen: list[Detection]) -> None:
        c = self.CELL
        grown = np.zeros_like(changed)
        for x, y, w, h in self._regions + self.settled:  # the cells looked at again now show what was seen
            grown[y // c:(y + h) // c + 1, x // c:(x + w) // c + 1] = 1
        self.ref[grown > 0] = self._thumb_now[grown > 0]
        self.seen = list(seen)
        self.empty = {t for t in self.empty if not grown[t[1] // c:(t[1] + t[3]) // c + 1,
                                                          t[0] // c:(t[0] + t[2]) // c + 1].any()}
        self.age += 1

    def still_empty(self, tile: Box) -> bool:
        return tile in self.empty

    def looked_empty(self, tiles: list[Box]) -> None:
        self.empty.update(tiles)


def _union(boxes: list[Box]) -> Box:
    x0, y0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
    x1, y1 = max(b[0] + b[2] for b in boxes), max(b[1] + b[3] for b in boxes)
    return x0, y0, x1 - x0, y1 - y0


def bands(roi: Box, layout, parts: int) -> list[Box]:
    """`roi` cut into horizontal bands at gutters between rows of tiles (no face is cut: a face
    lies inside its tile), one band a detector worker, each about the same height and reaching a
    little past its cut (YuNet scores a face by an image's edge lower). Returns (band, core) pairs:
    a band's detections count where their centre lies in its core (the part between its cuts; the
    rest belongs to the neighbour, who sees those faces whole); `[(roi, roi)]` where there is no
    grid or one worker."""
    x0, y0, w, h = roi
    if parts < 2 or len(layout) < 2:
        return [(roi, roi)]
    tops = sorted({t.box[1] for t in layout})
    bottoms = sorted({t.box[1] + t.box[3] for t in layout})
    gutters = [(b + t) // 2 for b in bottoms for t in tops if 0 <= t - b <= 64]  # between stacked rows
    cuts: list[int] = []
    for k in range(1, parts):
        want = y0 + h * k // parts
        best = min(gutters, key=lambda g: abs(g - want), default=None)
        if best is not None and y0 < best < y0 + h and best not in cuts and abs(best - want) < h // (2 * parts):
            cuts.append(best)
    edges = [y0] + sorted(cuts) + [y0 + h]
    m = max(8, h // 25)  # each band reaches a little past its cut: tiles beside it keep their context
    return [((x0, max(y0, a - m), w, min(y0 + h, b + m) - max(y0, a - m)), (x0, a, w, b - a))
            for a, b in zip(edges, edges[1:]) if b > a]


def _flat(gray: np.ndarray, box: Box, spread: float = 4.0) -> bool:
    """Whether `box` of the frame is one flat level (a letterbox's bars, an empty margin): no
    face can be there. Read on every 4th pixel."""
    import cv2

    x, y, w, h = box
    part = gray[y:y + h:4, x:x + w:4]
    return part.size == 0 or float(cv2.meanStdDev(part)[1][0][0]) < spread


def around_roi(roi: Box, width: int, height: int, reach: int, thinnest: int = 0) -> list[tuple[Box, Box]]:
    """The frame outside `roi` as (region, core) pairs: a band above, below, left and right of it,
    each reaching `reach` pixels into it (a face on the line is seen whole); a detection counts
    where its centre lies in the core, outside `roi`. Bands whose core is thinner than `thinnest`
    are left out (the margin of a gallery that fills the screen); none where `roi` is the frame."""
    x0, y0, rw, rh = roi
    x1, y1 = x0 + rw, y0 + rh
    x0, y0 = (x0 if x0 >= thinnest else 0), (y0 if y0 >= thinnest else 0)
    x1, y1 = (x1 if width - x1 >= thinnest else width), (y1 if height - y1 >= thinnest else height)
    rh = y1 - y0
    out = []
    if y0 > 0:
        out.append(((0, 0, width, min(height, y0 + reach)), (0, 0, width, y0)))
    if y1 < height:
        top = max(0, y1 - reach)
        out.append(((0, top, width, height - top), (0, y1, width, height - y1)))
    if x0 > 0:
        out.append(((0, y0, min(width, x0 + reach), rh), (0, y0, x0, rh)))
    if x1 < width:
        left = max(0, x1 - reach)
        out.append(((left, y0, width - left, rh), (x1, y0, width - x1, rh)))
    return out


def is_uncertain(box: Box, scores: np.ndarray, opts: AnalyzerOptions) -> bool:
    """A face too small to read, or whose (calibrated) top score is low."""
    return bool(min(box[2], box[3]) < opts.tiny_face_px or float(np.max(scores)) < opts.low_score)


_MASKS_MISSING: list[str] = []  # said once a process, not once a frame or an analyser


def _load_masks() -> MaskCheck | None:
    """The bundled mask check, or None (faces are then read as before, masked or not) with a warning
    saying why, where its file is missing or corrupt: a deleted file never ends a session."""
    try:
        return MaskCheck.load()
    except ModelLoadError as e:
        if str(e) not in _MASKS_MISSING:
            _MASKS_MISSING.append(str(e))
            log.warning("%s; faces behind masks are read and counted like any other", e)
        return None


def _as_bgr(frame: np.ndarray) -> np.ndarray:
    import cv2

    if frame is None or not isinstance(frame, np.ndarray) or frame.size == 0:
        raise ValueError("empty image: nothing to analyse")
    if frame.ndim == 2:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    if frame.ndim == 3 and frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    if frame.ndim == 3 and frame.shape[2] == 3:
        return frame
    raise ValueError(f"expected a BGR, BGRA or gray image, got shape {frame.shape}")


def _nms(dets: list[Detection], threshold: float) -> list[Detection]:
    keep: list[Detection] = []
    for d in sorted(dets, key=lambda d: -d.confidence):
        if all(iou(d.box, k.box) < threshold for k in keep):
            keep.append(d)
    return keep


class Placed(NamedTuple):
    """A detection, the tile it lies in (None: outside every tile) and its role there."""
    det: Detection
    tile: int | None
    role: str  # "participant" (the tile's largest central face) or "other"


def _kept(memo: dict, det: Detection):
    """What `memo` (id -> (detection, answer), the last frame's) holds for `det` where `det` is that
    very detection, one kept from the last frame (`_Seen`: its pixels did not change); else None."""
    hit = memo.get(id(det))
    return hit[1] if hit is not None and hit[0] is det else None


def _confirmed(faces: list[Detection], found: list[Detection]) -> dict[int, float]:
    """For faces (by `id`) that a box of `found` overlaps at IoU >= 0.5, more than any other face:
    the surest such box's confidence."""
    out: dict[int, float] = {}
    for d in found:
        best = max(faces, key=lambda f: iou(d.box, f.box))
        if iou(d.box, best.box) >= 0.5:
            out[id(best)] = max(out.get(id(best), 0.0), d.confidence)
    return out


def _larger(s: float, first: float, top: float) -> float:
    """The scale of the larger look after a second look at `s` (the pass over the frame was at
    `first`): 1.5 times larger, at most `top`; where that is hardly larger (the second look was near
    the top already), between the pass and the second look instead."""
    if min(top, s * 1.5) >= s * 1.2:
        return min(top, s * 1.5)
    return (s * first) ** 0.5


def _close_region(face: Box, tile: Box, max_scale: float = 3.0) -> tuple[Box, float] | None:
    """Where to look closely for `face` in `tile`: its box grown by 0.4 of its size each way, inside
    the tile, and the scale that makes it about 64 px tall (None: too little of it inside)."""
    x, y, w, h = tile
    fx, fy, fw, fh = face
    gx, gy = max(x, int(fx - 0.4 * fw)), max(y, int(fy - 0.4 * fh))
    gx2, gy2 = min(x + w, int(fx + 1.4 * fw)), min(y + h, int(fy + 1.4 * fh))
    if gx2 - gx < 8 or gy2 - gy < 8:
        return None
    return (gx, gy, gx2 - gx, gy2 - gy), min(max_scale, max(0.1, 64.0 / max(fh, 1)))


def _assign(dets: list[Detection], tiles: list[Box], weights: list[float] | None = None) -> list[Placed]:
    """Each detection `Placed` in its tile; in each tile the largest central face is the
    participant (its size weighed by `weights`, where given), other faces are "other"; faces
    outside every tile are "other"."""
    out = []
    best: dict[int, tuple[float, int]] = {}
    for k, d in enumerate(dets):
        box = d.box
        tile = next((i for i, t in enumerate(tiles) if center_in(box, t)), None)
        out.append([d, tile, "other"])
        if tile is None:
            continue
        tx, ty, tw, th = tiles[tile]
        dx = (box[0] + box[2] / 2 - (tx + tw / 2)) / (tw / 2)
        dy = (box[1] + box[3] / 2 - (ty + th / 2)) / (th / 2)
        score = box[2] * box[3] * (1.0 - 0.5 * min(1.0, (dx * dx + dy * dy) ** 0.5))
        score *= weights[k] if weights else 1.0
        if tile not in best or score > best[tile][0]:
            best[tile] = (score, k)
    for _, k in best.values():
        out[k][2] = "participant"
    order = sorted(range(len(out)), key=lambda k: (out[k][1] if out[k][1] is not None else 1 << 30, out[k][2] != "participant"))
    return [Placed(*out[k]) for k in order]
