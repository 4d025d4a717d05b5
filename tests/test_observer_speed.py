"""The observer's speed work, checked for behaviour: recordings decoded only as far as the samples
need (same frames, true times), the layout and detections reused between frames of one meeting
only while the picture allows it, the detector's workers side by side, bands cut at gutters."""

import threading
import time

import numpy as np
import pytest

from bot.analyzer import AnalyzerOptions, GalleryAnalyzer, bands
from bot.geometry import center_in, detection_roi, iou
from bot.layout import LayoutMemory, LayoutOptions, find_tiles
from bot.sources import SourceError, VideoSource, _read_ahead
from bot.synthetic import render_gallery

av = pytest.importorskip("av", reason="PyAV is a dependency of the observer: pip install av")


def _stamp(img: np.ndarray, i: int) -> np.ndarray:
    """The frame number as 10 black/white 16x16 squares in the top row (survives compression)."""
    for bit in range(10):
        img[:16, 16 * bit:16 * bit + 16] = 255 if (i >> bit) & 1 else 0
    return img


def _index(frame: np.ndarray) -> int:
    return sum(1 << bit for bit in range(10) if frame[4:12, 16 * bit + 4:16 * bit + 12].mean() > 128)


def _h264(path, times, size=(320, 240), keyint=10, rate=10):
    """An H.264 file (B frames, a keyframe every `keyint` frames) with a frame at each of `times`
    (seconds; variable frame rate where they are uneven), frame k stamped with k."""
    from fractions import Fraction

    w, h = size
    with av.open(str(path), "w") as out:
        st = out.add_stream("libx264", rate=rate)
        st.width, st.height, st.pix_fmt = w, h, "yuv420p"
        st.time_base = Fraction(1, 1000)
        st.codec_context.options = {"preset": "veryfast", "keyint": str(keyint), "min-keyint": str(keyint),
                                    "sc_threshold": "0", "bframes": "3"}
        rng = np.random.default_rng(0)
        base = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
        for k, t in enumerate(times):
            img = _stamp(np.roll(base, k, axis=1).copy(), k)
            frame = av.VideoFrame.from_ndarray(img, format="bgr24")
            frame.pts, frame.time_base = int(round(t * 1000)), Fraction(1, 1000)
            for p in st.encode(frame):
                out.mux(p)
        for p in st.encode():
            out.mux(p)
    return path


@pytest.fixture(scope="module")
def h264(tmp_path_factory):
    return _h264(tmp_path_factory.mktemp("h264") / "rec.mp4", [k / 10 for k in range(300)])


def _all_frames(path):
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]


@pytest.mark.parametrize("every", [0.1, 0.5, 2.0, 3.7, 7.0])
def test_pyav_source_gives_the_frames_a_full_decode_gives(h264, every):
    """Skipping non-reference frames, converting only samples and seeking past keyframes must not
    change a single pixel of what is sampled (7 s is longer than the 1 s keyframe interval: seeks)."""
    full = _all_frames(h264)
    src = VideoSource(h264, every=every, backend="pyav")
    got = [(f.time_s, f.image) for f in src]
    want = [round(k * every * 10) for k in range(len(got))]
    assert [_index(f) for _, f in got] == want
    assert [t for t, _ in got] == [round(i / 10, 3) for i in want]
    assert all(np.array_equal(full[i], f) for i, (_, f) in zip(want, got))
    assert len(got) == len(src) == len([k for k in range(400) if round(k * every * 10) < 300])
    opencv = [(f.time_s, f.image) for f in VideoSource(h264, every=every, backend="opencv")]
    assert [_index(f) for _, f in opencv] == want  # the fallback samples the same frames


def test_pyav_source_reports_true_times_on_variable_frame_rate(tmp_path):
    """A recording that paused (no frames from 1.0 s to 4.0 s): samples carry the video's own
    clock, and the pause is not filled with copies."""
    times = [k / 10 for k in range(10)] + [4 + k / 10 for k in range(30)]
    path = _h264(tmp_path / "vfr.mp4", times)
    got = [(f.time_s, _index(f.image)) for f in VideoSource(path, every=1.0, backend="pyav")]
    assert got == [(0.0, 0), (4.0, 10), (5.0, 20), (6.0, 30)]


def test_pyav_source_reads_a_raw_stream_without_timestamps(tmp_path):
    """A bare H.264 stream (no container, no timestamps): frames are timed by their count."""
    path = tmp_path / "raw.h264"
    with av.open(str(path), "w", format="h264") as out:
        st = out.add_stream("libx264", rate=10)
        st.width, st.height, st.pix_fmt = 320, 240, "yuv420p"
        base = np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8)
        for k in range(60):
            for p in st.encode(av.VideoFrame.from_ndarray(_stamp(np.roll(base, k, axis=1).copy(), k), format="bgr24")):
                out.mux(p)
        for p in st.encode():
            out.mux(p)
    src = VideoSource(path, every=1.0, backend="pyav")
    got = [(f.time_s, _index(f.image)) for f in src]
    step = src.fps  # the frame rate the stream declares or FFmpeg guesses: times follow it
    assert [i for _, i in got] == [round(k * step) for k in range(len(got))] and len(got) >= 2
    assert [t for t, _ in got] == [round(k * 1.0, 3) for k in range(len(got))]


def test_pyav_source_reads_past_a_damaged_stretch(tmp_path, caplog):
    path = _h264(tmp_path / "ok.mp4", [k / 10 for k in range(200)], keyint=20)
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid:mid + 3000] = bytes(3000)  # a hole in the middle of the picture data
    bad = tmp_path / "damaged.mp4"
    bad.write_bytes(bytes(data))
    got = [(f.time_s, _index(f.image)) for f in VideoSource(bad, every=1.0, backend="pyav")]
    assert got[0] == (0.0, 0) and got[-1][0] >= 18.0  # the frames after the hole are still read
    with pytest.raises(SourceError, match="not a video"):
        (tmp_path / "noise.mp4").write_bytes(np.random.default_rng(1).bytes(5000))
        VideoSource(tmp_path / "noise.mp4", backend="pyav")


def test_read_ahead_overlaps_and_hands_on_errors():
    produced = []

    def frames(fail_at=None):
        for i in range(6):
            if i == fail_at:
                raise ValueError("decoder broke")
            produced.append(i)
            yield i

    assert list(_read_ahead(frames(), 2)) == list(range(6))
    with pytest.raises(ValueError, match="decoder broke"):
        list(_read_ahead(frames(3), 2))
    produced.clear()
    it = _read_ahead(frames(), 1)
    assert next(it) == 0
    time.sleep(0.3)
    assert len(produced) <= 3  # bounded read-ahead, not the whole file
    it.close()  # the consumer stops early: the thread ends
    time.sleep(0.3)
    assert not any(t.name == "classmood-decode" for t in threading.enumerate())


def _camera_noise(img, tiles, rng, level=3):
    out = img.copy()
    for x, y, w, h in tiles:
        part = out[y:y + h, x:x + w].astype(np.int16) + rng.integers(-level, level + 1, (h, w, 3))
        out[y:y + h, x:x + w] = np.clip(part, 0, 255).astype(np.uint8)
    return out


def test_layout_memory_reuses_until_the_layout_changes(fer_faces):
    rng = np.random.default_rng(0)
    g = render_gallery(fer_faces, 16, size=(1280, 720), camera_off=2, seed=4)
    mem = LayoutMemory()
    first = mem.tiles(g.image)
    assert [t.box for t in first] == [t.box for t in find_tiles(g.image)] and mem.searches == 1
    for _ in range(3):  # the same meeting, moments later: no new search, same tiles
        assert [t.box for t in mem.tiles(_camera_noise(g.image, g.tiles, rng))] == [t.box for t in first]
    assert mem.searches == 1
    dark = g.image.copy()  # a camera turned off: judged afresh on a reused layout
    k = next(i for i, off in enumerate(g.camera_off) if not off)
    x, y, w, h = g.tiles[k]
    dark[y:y + h, x:x + w] = 40
    assert mem.tiles(dark)[k].camera_off and mem.searches == 1
    moved = np.full_like(g.image, 26)  # the window moved 60 px right
    moved[:, 60:] = g.image[:, :-60]
    tiles = mem.tiles(moved)
    assert mem.searches == 2 and tiles[0].box[0] == first[0].box[0] + 60
    other = render_gallery(fer_faces, 25, size=(1280, 720), camera_off=1, seed=5)  # someone joined
    assert len(mem.tiles(other.image)) == 25 and mem.searches == 3


def test_layout_memory_without_a_grid_searches_again_when_the_picture_changes():
    rng = np.random.default_rng(1)
    desk = np.zeros((720, 1280, 3), np.uint8)
    desk[..., 0] = np.linspace(90, 200, 1280, dtype=np.uint8)[None, :]
    desk[..., 1] = np.linspace(60, 140, 720, dtype=np.uint8)[:, None]
    mem = LayoutMemory()
    assert len(mem.tiles(desk)) == 1
    for _ in range(5):
        assert len(mem.tiles(_camera_noise(desk, [(900, 300, 200, 150)], rng, 20))) == 1
    assert mem.searches == 1
    other = desk.copy()
    other[100:600, 100:1000] = 30  # a window opened: searched again at once
    mem.tiles(other)
    assert mem.searches == 2
    for _ in range(LayoutMemory.NO_GRID_FRAMES):  # and, however still the picture, now and then
        mem.tiles(other)
    assert mem.searches == 3


def test_pooled_layout_matches_the_full_resolution_search(fer_faces):
    for n, size in [(49, (1920, 1080)), (25, (1920, 1080)), (30, (2560, 1440)), (9, (1366, 768))]:
        g = render_gallery(fer_faces, n, size=size, camera_off=2, seed=n)
        fast = find_tiles(g.image)
        full = find_tiles(g.image, LayoutOptions(pool_above=10 ** 9))
        assert len(fast) == len(full) == n
        assert min(iou(a.box, b.box) for a, b in zip(fast, full)) >= 0.97
        assert sum(max(iou(t.box, gt) for t in fast) >= 0.95 for gt in g.tiles) == n


class _Counting:
    """A detector that counts the pixels it is asked to look at."""

    def __init__(self, inner):
        self.inner, self.pixels, self.calls = inner, 0, 0
        self.workers = inner.workers

    def detect_many(self, jobs, min_confidence=None):
        self.calls += len(jobs)
        self.pixels += sum(int(img.shape[0] * img.shape[1] * s * s) for img, s in jobs)
        return self.inner.detect_many(jobs, min_confidence)


def _reusing_and_fresh(fer_faces, analyzer):
    """A 16-tile gallery (2 camera-off), its video tiles, a counting detector, an analyser that
    reuses work through it (the gallery analysed once: its first frame) and one that reuses nothing;
    and the pixels the first frame cost."""
    g = render_gallery(fer_faces, 16, size=(1280, 720), camera_off=2, seed=8)
    video = [b for b, off in zip(g.tiles, g.camera_off) if not off]
    det = _Counting(analyzer.detector)
    reuse = GalleryAnalyzer(classifier=analyzer.classifier, detector=det)
    fresh = GalleryAnalyzer(AnalyzerOptions(reuse_detections=False, reuse_layout=False),
                            classifier=analyzer.classifier, detector=analyzer.detector)
    first = reuse.analyze(g.image)
    assert len(first.faces) == len(g.faces)
    return g, video, det, reuse, fresh, det.pixels


def test_detections_are_reused_only_where_nothing_changed(fer_faces, analyzer):
    rng = np.random.default_rng(2)
    g, video, det, reuse, fresh, cost_first = _reusing_and_fresh(fer_faces, analyzer)
    # A still class: camera noise only. Nothing is looked at again, and nothing is lost.
    for _ in range(3):
        frame = _camera_noise(g.image, video, rng)
        r, want = reuse.analyze(frame), fresh.analyze(frame)
        assert len(r.faces) == len(want.faces) == len(g.faces)
        assert all(max(iou(a.box, b.box) for b in want.faces) > 0.7 for a in r.faces)
    assert det.pixels - cost_first < 0.05 * cost_first
    # One participant moves: only around them is looked at again, and their face is found there.
    k = g.face_tiles[0]
    x, y, w, h = g.faces[0]
    moved = g.image.copy()
    tx, ty, tw, th = g.tiles[k]
    moved[ty:ty + th, tx:tx + tw] = g.image[ty:ty + th, tx:tx + tw].mean(axis=(0, 1)).astype(np.uint8)
    dx = min(w // 2, tx + tw - (x + w))
    moved[y:y + h, x + dx:x + dx + w] = g.image[y:y + h, x:x + w]
    before = det.pixels
    r = reuse.analyze(moved)
    assert 0 < det.pixels - before < 0.5 * cost_first
    assert any(center_in(f.box, (x + dx, y, w, h)) for f in r.faces)
    assert not any(center_in(f.box, (x, y, w // 2, h)) for f in r.faces)  # the old place is empty
    assert len(r.faces) == len(g.faces)
    # Another picture altogether: everything is looked at again.
    other = render_gallery(fer_faces[20:], 9, size=(1280, 720), seed=9)
    assert len(reuse.analyze(other.image).faces) == len(other.faces)
    reuse.forget()
    before = det.pixels
    reuse.analyze(g.image)
    assert det.pixels - before >= 0.9 * cost_first  # forget(): the next frame is a first frame


def test_faces_that_all_moved_are_found_close_to_where_they_were(fer_faces, analyzer):
    """Every face moves between two frames (the picture in each video tile shifted a little): each
    is looked for close around where it was, at a fraction of a first frame's pixels, and found
    where a fresh analysis finds it. A face that moved too far for that close look (to the tile's
    other side) is still found, by the usual pass."""
    g, video, det, a, fresh, cost_first = _reusing_and_fresh(fer_faces, analyzer)
    frame = g.image
    for d in (3, -3, 3):
        frame = frame.copy()
        for x, y, w, h in video:
            frame[y:y + h, x:x + w] = np.roll(frame[y:y + h, x:x + w], (d, d), axis=(0, 1))
        before = det.pixels
        r, want = a.analyze(frame), fresh.analyze(frame)
        assert len(a._seen.settled) >= len(g.faces) - 1  # found again close by, nearly all of them
        assert det.pixels - before < 0.4 * cost_first
        assert len(r.faces) == len(want.faces) == len(g.faces)
        # the same faces (a box at another scale differs by a few pixels: IoU 0.66 to 0.8 measured)
        assert all(sum(center_in(f.box, w.box) and center_in(w.box, f.box) for w in want.faces) == 1 for f in r.faces)
    k = g.face_tiles[0]
    tx, ty, tw, th = g.tiles[k]
    x, y, w, h = r.faces[[f.tile for f in r.faces].index(k)].box
    far = frame.copy()
    far[ty:ty + th, tx:tx + tw] = frame[ty:ty + th, tx:tx + tw].mean(axis=(0, 1)).astype(np.uint8)
    nx = tx + 4 if x - tx > tw // 2 else tx + tw - w - 4
    far[y:y + h, nx:nx + w] = frame[y:y + h, x:x + w]
    r = a.analyze(far)
    assert k not in a._seen.settled
    assert any(f.tile == k and center_in(f.box, (nx, y, w, h)) for f in r.faces)
    assert len(r.faces) == len(g.faces)


def test_an_empty_tile_is_not_searched_again_until_it_changes(fer_faces, analyzer):
    g = render_gallery(fer_faces, 9, size=(1280, 720), seed=12)
    frame = g.image.copy()
    k = g.face_tiles[0]
    x, y, w, h = g.faces[0]
    frame[y:y + h, x:x + w] = frame[y - 5:y - 4, x:x + w]  # an empty room: this tile has no face now
    det = _Counting(analyzer.detector)
    a = GalleryAnalyzer(classifier=analyzer.classifier, detector=det)
    a.analyze(frame)
    looks = det.calls
    assert looks >= 2  # the pass over the gallery, then a closer look at the empty tile
    a.analyze(frame)
    assert det.calls == looks  # nothing changed: no pass, no second look
    back = frame.copy()
    back[y:y + h, x:x + w] = g.image[y:y + h, x:x + w]  # they sit down again
    r = a.analyze(back)
    assert det.calls > looks and any(f.tile == k and center_in(f.box, g.faces[0]) for f in r.faces)


def test_detector_workers_run_side_by_side_with_the_same_answers(fer_faces):
    from model.detector import FaceDetector

    imgs = [render_gallery(fer_faces[i * 5:], 4, size=(640, 360), seed=i).image for i in range(4)]
    one, two = FaceDetector(workers=1), FaceDetector(workers=2)
    try:
        want = [one.detect(img) for img in imgs]
        assert two.detect_many([(img, 1.0) for img in imgs]) == want
        assert len(two.worker_pids) == 2 and len(set(two.worker_pids)) == 2
        assert two.detect_many([]) == [] and two.detect_many([(np.zeros((0, 0, 3), np.uint8), 1.0)]) == [[]]
    finally:
        one.close(), two.close()
    assert two.worker_pids == []
    with pytest.raises(ValueError, match="at least 1"):
        FaceDetector(workers=0)


def test_bands_cut_only_at_gutters(fer_faces):
    for n, size in [(25, (1920, 1080)), (16, (1280, 720)), (7, (1244, 705))]:
        g = render_gallery(fer_faces, n, size=size, seed=n)
        layout = find_tiles(g.image)
        roi = detection_roi(layout, size[0], size[1])
        parts = bands(roi, layout, 2)
        assert len(parts) == 2
        cores = [c for _, c in parts]
        assert cores[0][1] == roi[1] and cores[-1][1] + cores[-1][3] == roi[1] + roi[3]
        assert cores[0][1] + cores[0][3] == cores[1][1]  # the cores share out the region exactly
        cut = cores[1][1]
        assert not any(t.box[1] < cut < t.box[1] + t.box[3] for t in layout)  # no tile is cut
        for band, core in parts:  # each band holds its core and a margin past the cut
            assert band[1] <= core[1] and band[1] + band[3] >= core[1] + core[3]
    assert bands((0, 0, 100, 100), find_tiles(g.image), 1) == [((0, 0, 100, 100), (0, 0, 100, 100))]


def test_layout_memory_follows_a_growing_and_shrinking_class(fer_faces):
    """People join and leave: 2 tiles become 49 and back, one gallery after another on one screen.
    A grid that grows inside the old one keeps the old background where it was (3x3 to 4x4 at
    1080p), so the old tiles are checked for a gutter across them as well."""
    mem = LayoutMemory()
    sizes = [2, 3, 4, 6, 9, 12, 16, 25, 36, 49, 30, 16, 9, 5, 2]
    for size in ((1920, 1080), (1280, 720)):
        for k, n in enumerate(sizes):
            g = render_gallery(fer_faces, n, size=size, camera_off=n // 8, seed=40 + k)
            tiles = mem.tiles(g.image)
            assert len(tiles) == n, (size, n, len(tiles))
            assert [t.camera_off for t in tiles] == g.camera_off, (size, n)
    assert mem.searches == 2 * len(sizes)  # and each new gallery was searched once, not reused
