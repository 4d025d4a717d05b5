"""Whole-desktop screen recordings: names read only for a gallery that holds, once, in the
background; a scrolling page or a moving webcam face is no new layout; the records still come out
in order and named. (The speed itself is measured by `bench/gallery.py --part recording`.)"""

import threading
import time

import numpy as np

from bot.layout import LayoutMemory
from bot.records import Frame, FrameResult, TileResult
from bot.tracker import HOLD_SAMPLES, Tracker, is_gallery
from bot.synthetic import seen_gallery

GRID = [(0, 0, 100, 60), (110, 0, 100, 60), (0, 70, 100, 60), (110, 70, 100, 60)]
OTHER_GRID = [(0, 0, 150, 90), (160, 0, 150, 90)]


def _reader(names=("Ana Perez", "Ben Smith", "Chloe Nguyen", "David Okafor")):
    """A fake OCR that records what it was asked to read (the tiles' count, per call)."""
    calls: list[int] = []

    def ocr(frame, tiles):
        calls.append(len(tiles))
        return list(names[:len(tiles)])
    return ocr, calls


def _picture():
    return np.zeros((140, 320, 3), np.uint8)


def test_a_gallery_is_named_once_it_holds_and_its_first_record_waits_for_the_names():
    ocr, calls = _reader()
    tr = Tracker(ocr=ocr)
    out = tr.push(seen_gallery(0.0, GRID), _picture())
    assert out == [] and calls == []                 # seen once: not read yet, the record waits
    out = tr.push(seen_gallery(2.0, GRID), _picture())
    assert tr.reads == 4                             # held on two samples running: read, once
    out += tr.flush()
    assert calls == [4]                              # (read in the background: done by the flush)
    assert [r.time_s for r, _ in out] == [0.0, 2.0]  # in order, the first named too
    for r, _ in out:
        assert [t.name for t in r.tiles] == ["Ana Perez", "Ben Smith", "Chloe Nguyen", "David Okafor"]
        assert [f.participant for f in r.faces] == ["Ana Perez", "Ben Smith", "Chloe Nguyen", "David Okafor"]
    more = tr.push(seen_gallery(4.0, GRID), _picture())
    assert calls == [4] and [f.participant for f in more[0][0].faces][0] == "Ana Perez"  # never read again


def test_no_gallery_is_never_read_and_its_records_come_out_at_once():
    ocr, calls = _reader()
    tr = Tracker(ocr=ocr)
    pictures = FrameResult(0.0, [TileResult(b) for b in GRID], [])  # a web page's grid of pictures: no one there
    assert not is_gallery(pictures)
    out = [tr.push(FrameResult(float(t), pictures.tiles, []), _picture()) for t in range(5)]
    assert all(len(o) == 1 for o in out) and calls == []
    webcam = FrameResult(0.0, [TileResult((0, 0, 320, 140))], seen_gallery(0, [(0, 0, 320, 140)]).faces)
    assert not is_gallery(webcam)                    # one picture, even with a face, is no gallery
    assert len(tr.push(webcam, _picture())) == 1 and calls == []
    assert tr.flush() == [] and calls == []


def test_a_layout_gone_before_it_held_is_never_read():
    ocr, calls = _reader()
    tr = Tracker(ocr=ocr)
    assert tr.push(seen_gallery(0.0, GRID), _picture()) == []
    out = tr.push(seen_gallery(2.0, OTHER_GRID), _picture())  # a scroll, a window moved: another layout
    assert [r.time_s for r, _ in out] == [0.0] and calls == []
    assert [f.participant for f in out[0][0].faces] == ["tile-0", "tile-1", "tile-2", "tile-3"]
    out = tr.flush()                                 # the last layout: read at the end (a recording's last)
    assert calls == [2] and [t.name for t in out[0][0].tiles] == ["Ana Perez", "Ben Smith"]


def test_with_exclusions_names_are_read_at_once_and_the_excluded_never_come_out():
    ocr, calls = _reader(("Ana Perez", "Mr Teacher", "Chloe Nguyen", "David Okafor"))
    tr = Tracker(ocr=ocr, exclude=["mr teacher"])
    out = tr.push(seen_gallery(0.0, GRID), _picture()) + tr.flush()
    assert calls == [4]
    assert [t.name for t in out[0][0].tiles] == ["Ana Perez", "Chloe Nguyen", "David Okafor"]
    assert "Mr Teacher" not in {f.participant for f in out[0][0].faces} and [f.tile for f in out[0][0].faces] == [0, 1, 2]


def test_names_are_read_in_the_background_while_frames_go_on():
    release, started = threading.Event(), threading.Event()

    def slow_ocr(frame, tiles):
        started.set()
        assert release.wait(10)
        return ["Ana Perez", "Ben Smith", None, "David Okafor"][:len(tiles)]

    tr = Tracker(ocr=slow_ocr)
    out = []
    for k in range(HOLD_SAMPLES + 3):
        out += tr.push(seen_gallery(2.0 * k, GRID), _picture())  # returns while Tesseract still reads
    assert started.wait(10) and out == []            # all wait for the names, in order
    release.set()
    out += tr.flush()
    assert [r.time_s for r, _ in out] == [2.0 * k for k in range(HOLD_SAMPLES + 3)]
    assert all([f.participant for f in r.faces] == ["Ana Perez", "Ben Smith", "tile-2", "David Okafor"] for r, _ in out)


def test_a_failed_reading_leaves_the_tiles_unnamed_and_loses_no_record():
    def broken(frame, tiles):
        raise RuntimeError("tesseract crashed")

    tr = Tracker(ocr=broken)
    out = tr.push(seen_gallery(0.0, GRID), _picture()) + tr.push(seen_gallery(2.0, GRID), _picture()) + tr.flush()
    assert len(out) == 2 and all(f.participant.startswith("tile-") for r, _ in out for f in r.faces)


def test_the_pipeline_stores_the_named_records_in_order(tmp_path):
    from bot.pipeline import Sink, run
    from bot.store import Store

    class Fixed:  # the analyser's records for a gallery, made by hand
        def analyze(self, frame, time_s=0.0, file=None):
            return seen_gallery(time_s, GRID)

    ocr, calls = _reader()
    store = Store(tmp_path / "s.db")
    sid = store.start_session("lesson", "recording")
    seen, beats = [], []

    def source():
        for k in range(4):
            beats.append(store.sessions().set_index("id").loc[sid, "last_heartbeat"])
            time.sleep(0.02)
            yield Frame(2.0 * k, _picture())

    done = run(source(), Fixed(), Tracker(ocr=ocr), Sink(store, sid), on_frame=lambda r: seen.append(r.time_s))
    assert seen == [0.0, 2.0, 4.0, 6.0] == [r.time_s for r in done.frames] and calls == [4]
    assert beats[1] > beats[0]  # the first record waited for its names: the session said it was alive
    obs = store.observations(sid)
    assert set(obs["participant"]) == {"Ana Perez", "Ben Smith", "Chloe Nguyen", "David Okafor"}
    assert len(obs) == 16


# -- the layout memory's cheap checks ------------------------------------------------------------


def _page(h=3000, w=1200, seed=0):
    """A long web page: lines of text, headings and photos (smooth colour fields), no face."""
    import cv2

    rng = np.random.default_rng(seed)
    page = np.full((h, w), 250, np.uint8)
    y = 20
    while y < h - 300:
        if rng.random() < 0.25:
            ph = int(rng.integers(120, 260))
            small = rng.integers(30, 230, (3, 5)).astype(np.uint8)
            page[y:y + ph, 60:60 + 600] = cv2.resize(small, (600, ph), interpolation=cv2.INTER_CUBIC)
            y += ph + 30
        else:
            cv2.putText(page, "Fractions and decimals, a part of a whole " * 2, (60, y + 20), cv2.FONT_HERSHEY_SIMPLEX,
                        0.6, 40, 1, cv2.LINE_AA)
            y += 30
    return page


def _desktop(page, offset, size=(1280, 720)):
    W, H = size
    img = np.full((H, W), 90, np.uint8)
    img[:, :] = np.linspace(60, 140, W, dtype=np.uint8)[None, :]
    img[40:50] = 200  # the browser's chrome
    img[50:680, 40:1240] = page[offset:offset + 630]
    img[H - 30:] = 30  # a taskbar
    return img


def test_a_scrolling_page_is_no_new_layout():
    mem = LayoutMemory()
    page = _page()
    start = [t.box for t in mem.tiles(_desktop(page, 0))]
    mem.saw([])
    first = mem.searches
    assert len(start) == 1  # no grid: one tile, the picture
    for k, off in enumerate([300, 300, 650, 900, 900, 1300]):  # scrolled, read, scrolled again...
        img = _desktop(page, off)
        img[695:715, 1200:1270] = 255 * (k % 2)     # ... while the taskbar's clock ticks
        tiles = mem.tiles(img)
        mem.saw([])
        assert [t.box for t in tiles] == start
    assert mem.searches == first and mem.kept == 4
    for off in range(1340, 1340 + 40 * LayoutMemory.NO_GRID_FRAMES, 40):  # a page scrolling on and on
        mem.tiles(_desktop(page, off))
        mem.saw([])
    assert mem.searches == first + 1                # is searched all the same every NO_GRID_FRAMES frames


def test_a_scroll_where_a_face_was_or_another_picture_is_searched():
    mem = LayoutMemory()
    page = _page()
    mem.tiles(_desktop(page, 0))
    mem.saw([(300, 200, 80, 80)])                   # a face on the page (a photo of a person): look again
    mem.tiles(_desktop(page, 300))
    assert mem.searches == 2 and mem.kept == 0
    mem.saw([])
    other = _desktop(_page(seed=5), 0)              # not a scroll: another page altogether
    mem.tiles(other)
    assert mem.searches == 3 and mem.kept == 0


def test_a_face_moving_in_a_webcam_picture_is_no_new_layout_but_a_window_opening_is():
    import cv2

    rng = np.random.default_rng(1)
    base = np.full((720, 1280), 120, np.uint8)
    cv2.rectangle(base, (100, 100), (900, 650), 60, -1)
    face = cv2.resize(rng.integers(0, 255, (12, 12)).astype(np.uint8), (240, 240), interpolation=cv2.INTER_NEAREST)

    def frame(x):
        img = base.copy()
        img[200:440, x:x + 240] = face
        return img

    mem = LayoutMemory()
    mem.tiles(frame(300))
    last = 300
    for x in (360, 440, 330):
        mem.saw([(last, 200, 240, 240)])             # where the face was on the last frame
        assert len(mem.tiles(frame(x))) == 1
        last = x
    assert mem.searches == 1 and mem.kept == 3
    mem.saw([(330, 200, 240, 240)])
    opened = frame(330)
    opened[50:650, 950:1250] = rng.integers(0, 255, (600, 300))  # a new window beside it
    mem.tiles(opened)
    assert mem.searches == 2


def test_a_desktop_recording_is_read_and_searched_only_where_a_meeting_shows(tmp_path, fer_faces):
    """A short whole-desktop recording (a page scrolling, a webcam window, a phone's photo of six
    faces) through the one loop: no name read before the phone's gallery, a search for few of the
    scrolled frames, the webcam's face and the phone's faces found."""
    from bot.analyzer import GalleryAnalyzer
    from bot.pipeline import run
    from bot.sources import VideoSource
    from bot.synthetic import ScreenRecording, write_video

    rec = ScreenRecording(fer_faces, size=(1280, 720), seconds=40, browse_s=26, webcam_end_s=34)
    path = write_video(tmp_path / "desktop.mp4", rec.frame, rec.seconds, size=(1280, 720))
    asked: list[float] = []
    ocr, _ = _reader(tuple(f"Name {k}" for k in range(20)))
    times = {}

    def reading(frame, tiles):
        asked.append(times["now"])
        return ocr(frame, tiles)

    analyzer = GalleryAnalyzer()
    orig = analyzer.analyze

    def analyze(frame, time_s=0.0, file=None):
        times["now"] = time_s
        return orig(frame, time_s, file)

    analyzer.analyze = analyze
    frames = run(VideoSource(path, every=2.0), analyzer, Tracker(ocr=reading)).frames
    assert [f.time_s for f in frames] == [2.0 * k for k in range(20)]
    assert all(t >= rec.webcam_end_s for t in asked) and len(asked) <= 1, asked  # the phone's gallery only
    scrolled = sum(rec.scroll(t) != rec.scroll(t - 2.0) for t in np.arange(2.0, rec.browse_s, 2.0))
    assert scrolled >= 5 and analyzer.layouts.kept >= scrolled - 1, (scrolled, analyzer.layouts.kept)
    assert analyzer.layouts.searches <= 6, analyzer.layouts.searches
    webcam = [f for f in frames if rec.browse_s <= f.time_s < rec.webcam_end_s]
    phone = [f for f in frames if f.time_s >= rec.webcam_end_s + 2]
    assert all(len(f.faces) == 1 for f in webcam) and all(len(f.faces) >= 5 for f in phone)
    assert not any(f.faces for f in frames if f.time_s < rec.browse_s)


def test_a_face_that_scrolls_into_view_is_found(fer_faces):
    """A scrolled page is looked at only where it shows new rows: a face photo further down the
    page is found once it scrolls in, though the frame is no new layout."""
    import cv2

    from bot.analyzer import GalleryAnalyzer

    page = _page(seed=3)
    face = cv2.resize(fer_faces[10], (160, 160), interpolation=cv2.INTER_CUBIC)
    page[900:1060, 700:860] = face
    analyzer = GalleryAnalyzer()
    found = []
    for off in (0, 300, 600, 600):
        r = analyzer.analyze(cv2.cvtColor(_desktop(page, off), cv2.COLOR_GRAY2BGR), time_s=float(off))
        found.append(len(r.faces))
    assert analyzer.layouts.kept >= 2 and analyzer.layouts.searches == 1
    assert found[0] == 0 and found[2] == 1 and found[3] == 1, found


def test_a_grid_that_becomes_a_gallery_is_read_then_and_its_people_keep_their_ids():
    """Tiles first seen without faces (cameras warming up) are no gallery and are not read; once
    faces show, the unnamed tiles are read, and a name read becomes the tile's id from then on,
    while a tile still unnamed keeps its id (one person, one participant)."""
    ocr, calls = _reader(("Ana Perez", None, "Chloe Nguyen", "David Okafor"))
    tr = Tracker(ocr=ocr)
    empty = FrameResult(0.0, [TileResult(b) for b in GRID], [])
    out = tr.push(empty, _picture()) + tr.push(FrameResult(2.0, empty.tiles, []), _picture())
    assert calls == [] and [f.participant for r, _ in out for f in r.faces] == []
    out = tr.push(seen_gallery(4.0, GRID), _picture()) + tr.flush()
    assert calls == [4]
    assert [f.participant for f in out[-1][0].faces] == ["Ana Perez", "tile-1", "Chloe Nguyen", "David Okafor"]


def test_a_meeting_window_moved_down_is_searched_again_not_taken_for_a_scroll(real_galleries, analyzer):
    """A meeting window dragged straight down shifts its picture like a scrolled page; the faces
    in it say it is a gallery, and the analyser searches again and finds its tiles where they are."""
    import cv2

    from bot.synthetic import desktop_with

    g = next(r for r in real_galleries if r["tiles"] >= 16)
    shot = cv2.imread(str(g["path"]))
    analyzer.forget()
    first, _ = desktop_with(shot, 0.65, "top-left", seed=1)
    moved, (x1, y1, _) = desktop_with(shot, 0.65, "bottom-left", seed=1)
    a = analyzer.analyze(first)
    searches = analyzer.layouts.searches
    b = analyzer.analyze(moved)
    assert analyzer.layouts.searches == searches + 1 and analyzer.layouts.scrolled is None
    assert len(b.tiles) == len(a.tiles) == g["tiles"] and min(t.box[1] for t in b.tiles) >= y1 - 2
