"""After the class: moments found against the lesson's own level, shared-screen thumbnails that
never show a face, the post-class report made and stored at every session end, and class-only
sessions that store nothing per participant."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from bot import postclass
from bot.moments import find_moments
from bot.pipeline import run, session_parts
from bot.stage import StageRecorder, looks_like_screen, meeting_window, stage_box, thumbnail
from bot.records import Frame, FrameResult, TileResult
from bot.store import Store
from bot.synthetic import SlideLesson, detectable_faces, render_gallery, render_share
from tests.conftest import REPO, call_cli, require, run_cli
from tests.test_names import NAMES, compared

ARTIFACTS = REPO / "artifacts" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run"]


# -- moments, on timelines whose truth is known ----------------------------------------------------
def _timeline(valence: np.ndarray, faces: int = 60, attention=None, engagement=None) -> pd.DataFrame:
    n = len(valence)
    return pd.DataFrame({"window_start": np.arange(n) * 60.0, "window_end": np.arange(n) * 60.0 + 60,
                         "frames": 12, "faces": faces, "present": 12 * 6, "valence": valence,
                         "mood": ["neutral"] * n, "attention": attention if attention is not None else np.full(n, 0.9),
                         "engagement": engagement if engagement is not None else np.full(n, 0.95)})


def _calm(rng, n=45, faces=60, p=(0.12, 0.1)) -> np.ndarray:
    """A calm class's window valences: each of `faces` faces confidently negative with p[0], positive with p[1]."""
    neg = rng.binomial(faces, p[0], n)
    pos = rng.binomial(faces, p[1], n)
    return (pos - neg) / faces


def test_a_calm_lesson_has_no_moment_and_a_drop_is_found_where_it_is():
    rng = np.random.default_rng(0)
    calm_hits, found = 0, 0
    for k in range(300):
        v = _calm(rng, p=(rng.uniform(0.02, 0.3), rng.uniform(0.0, 0.3)))  # calm classes of every kind
        att = np.clip(rng.normal(0.85, 0.04, 45), 0, 1)
        calm_hits += any(m.direction == "drop" for m in find_moments(_timeline(v, attention=att)))
        sad = v.copy()
        sad[12:18] -= 0.45  # slides 7-9 of a lesson with slides every 2 minutes
        drops = [m for m in find_moments(_timeline(sad, attention=att)) if m.direction == "drop"]
        if drops and 11 * 60 <= drops[0].start_s <= 13 * 60 and 17 * 60 <= drops[0].end_s <= 19 * 60:
            found += 1
    assert calm_hits <= 3, calm_hits      # at most 1% of calm lessons show a drop
    assert found >= 297, found           # the drop is found, in its place


def test_a_moment_names_what_fell_and_merges_measures_that_fell_together():
    rng = np.random.default_rng(3)
    v = _calm(rng)
    att = np.clip(rng.normal(0.9, 0.03, 45), 0, 1)
    v[20:25] -= 0.5
    att[21:26] -= 0.4
    ms = find_moments(_timeline(v, attention=att))
    assert ms[0].direction == "drop" and set(ms[0].measures) == {"mood", "attention"}
    assert (ms[0].start_s, ms[0].end_s) == (20 * 60.0, 26 * 60.0)
    text = ms[0].stretches[0].words()
    assert re.search(r"fell to -0\.\d\d, against [+-]0\.\d\d over the lesson", text), text
    assert find_moments(_timeline(v[:5])) == []  # too short to judge


def test_one_bad_minute_is_not_a_moment_and_a_rise_is_listed_after_the_drops():
    rng = np.random.default_rng(5)
    v = _calm(rng)
    v[20] -= 0.6          # a page change: one window
    v[30:33] += 0.5       # a joke that landed
    ms = find_moments(_timeline(v))
    assert [m.direction for m in ms] == ["rise"] and ms[0].start_s == 30 * 60.0


# -- the stage: shared content only, never a face ------------------------------------------------
def test_the_stage_is_the_shared_content_beside_a_strip_and_none_in_a_gallery(fer_faces):
    g = render_share(fer_faces[:6], 6, "top", slide=3)
    box = stage_box(g.image, g.tiles)
    assert box is not None
    x, y, w, h = box
    assert y >= max(t[1] + t[3] for t in g.tiles)                      # below the strip: no tile in it
    assert w * h > 0.4 * g.image.shape[0] * g.image.shape[1]
    r = render_share(fer_faces[:4], 4, "right")
    bx, by, bw, bh = stage_box(r.image, r.tiles)
    assert bx + bw <= min(t[0] for t in r.tiles)                        # left of the column of tiles
    grid = render_gallery(fer_faces[:9], 9, size=(1600, 900), seed=2)
    assert stage_box(grid.image, grid.tiles) is None                    # a gallery has no stage


def test_a_meeting_in_a_window_has_its_stage_inside_the_window_never_on_the_desktop(fer_faces, analyzer, tmp_path):
    from bot.synthetic import desktop_with

    shot = render_share(fer_faces[:5], 5, "top", slide=2).image
    desk, (dx, dy, s) = desktop_with(shot, 0.6, "centre", seed=3)
    analyzer.forget()
    r = analyzer.analyze(desk)
    tiles = [t.box for t in r.tiles]
    wx, wy, ww, wh = meeting_window(desk, tiles)
    assert abs(wx - dx) <= 4 and abs(wy - dy) <= 4 and abs(ww - shot.shape[1] * s) <= 6
    assert stage_box(desk, tiles)[2] == desk.shape[1]           # without the window: the desktop too
    x, y, w, h = stage_box(desk, tiles, (wx, wy, ww, wh))
    assert wx <= x and x + w <= wx + ww and wy <= y and y + h <= wy + wh  # with it: the meeting's own stage
    store = Store(tmp_path / "s.db")
    sid = store.start_session("x", "test")
    StageRecorder(store, sid, analyzer.detector).offer(0.0, desk, r)     # the recorder looks for the window
    thumb = cv2.imdecode(np.frombuffer(store.stage_images(sid)["jpeg"].iloc[0], np.uint8), cv2.IMREAD_COLOR)
    assert abs(thumb.shape[0] / thumb.shape[1] - h / w) < 0.02


def test_a_face_on_the_shared_screen_is_masked_and_a_speakers_video_is_not_kept(fer_faces, analyzer):
    g = render_share(fer_faces[:5], 5, "top", slide=2)
    img = g.image.copy()
    box = stage_box(img, g.tiles)
    face = cv2.resize(fer_faces[40], (110, 110), interpolation=cv2.INTER_CUBIC)
    fx, fy = box[0] + box[2] - 400, box[1] + 60  # a photo of a face on the slide
    img[fy:fy + 110, fx:fx + 110] = cv2.cvtColor(face, cv2.COLOR_GRAY2BGR)
    assert analyzer.detector.detect(img[box[1]:box[1] + box[3], box[0]:box[0] + box[2]])  # it is a face
    jpeg, (tw, th) = thumbnail(img, box, [], analyzer.detector)
    thumb = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert thumb.shape[:2] == (th, tw) and tw == 360
    up = cv2.resize(thumb, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)
    assert analyzer.detector.detect(up, min_confidence=0.3) == []       # no face left in the thumbnail
    s = box[2] / tw
    patch = thumb[int((fy - box[1]) / s) + 3:int((fy - box[1] + 110) / s) - 3, int((fx - box[0]) / s) + 3:int((fx - box[0] + 110) / s) - 3]
    assert patch.std() < 6 and abs(float(patch.mean()) - 128) < 8       # a flat grey box where it was
    big = cv2.resize(fer_faces[41], (400, 400), interpolation=cv2.INTER_CUBIC)
    speaker = g.image.copy()
    cx, cy = box[0] + box[2] // 2 - 200, box[1] + 40
    speaker[cy:cy + 400, cx:cx + 400] = cv2.cvtColor(big, cv2.COLOR_GRAY2BGR)
    assert thumbnail(speaker, box, [], analyzer.detector) is None       # a speaker's video: not kept
    room = cv2.resize(fer_faces[42], (box[2], box[3]), interpolation=cv2.INTER_CUBIC)  # a camera's picture,
    camera = g.image.copy()                                                          # too close to hold a face
    camera[box[1]:box[1] + box[3], box[0]:box[0] + box[2]] = cv2.cvtColor(room, cv2.COLOR_GRAY2BGR)
    assert not looks_like_screen(camera[box[1]:box[1] + box[3], box[0]:box[0] + box[2]])
    assert thumbnail(camera, box, [], None) is None


def test_on_real_screenshots_only_the_shared_screen_is_kept(real_galleries, real_galleries2, analyzer):
    """A real Zoom screen share (a browser shared, six students on top) gives a thumbnail of the
    browser alone; a real speaker view (a room's video with a poll window over it) gives none; no
    gallery of the 13 has a stage."""
    kept = {}
    for g in real_galleries + real_galleries2:
        img = cv2.imread(str(g["path"]))
        analyzer.forget()
        r = analyzer.analyze(img)
        tiles = [t.box for t in r.tiles]
        box = stage_box(img, tiles, meeting_window(img, tiles))  # as the stage recorder finds it
        made = thumbnail(img, box, [f.box for f in r.faces], analyzer.detector) if box else None
        if made is not None:
            kept[g["file"]] = (box, r, made)
    assert set(kept) == {"zoom_slava_14.png"}, set(kept)
    (x, y, w, h), r, (jpeg, size) = kept["zoom_slava_14.png"]
    assert y >= max(t.box[1] + t.box[3] for t in r.tiles)                 # below the strip: no tile
    assert not any(y <= f.box[1] + f.box[3] / 2 <= y + h for f in r.faces)  # no student's face inside
    thumb = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    up = cv2.resize(thumb, None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC)
    assert analyzer.detector.detect(up, min_confidence=0.3) == []


# -- a simulated lesson, through the pipeline ------------------------------------------------------
@pytest.fixture(scope="module")
def lesson_faces(fer2013):
    """FER2013 val faces the served model reads as calm (neutral) and as sad, surely: the lesson
    measures the report, not the model."""
    from model import EmotionClassifier

    x, y = fer2013["val"]
    p = EmotionClassifier.load().predict(x)
    sure = p.max(1) >= 0.8
    calm = detectable_faces(x[(y == 6) & (p.argmax(1) == 6) & sure][:20])[:6]
    sad = detectable_faces(x[(y == 4) & (p.argmax(1) == 4) & sure][:20])[:6]
    assert len(calm) == len(sad) == 6
    return calm, sad


def _run_lesson(tmp_path, analyzer, lesson, name, **start):
    store = Store(tmp_path / f"{name}.db")
    sid = store.start_session(name, "screen:simulated", lesson.every, **start)
    tracker, sink = session_parts(store, sid, analyzer, ocr=False)
    run(lesson, analyzer, tracker, sink, keep=False)
    store.end_session(sid)
    return store, sid, postclass.make_report(store, sid, tmp_path / "reports")


def _slide_of(thumb_jpeg: bytes, lesson: SlideLesson) -> int:
    """The slide a thumbnail shows: the rendered slide it is nearest to."""
    thumb = cv2.imdecode(np.frombuffer(thumb_jpeg, np.uint8), cv2.IMREAD_GRAYSCALE).astype(np.float32)
    dist = {}
    for k in range(1, int(lesson.minutes * 60 / lesson.slide_s) + 1):
        g = render_share(lesson.calm, lesson.n, lesson.strip, size=lesson.size, slide=k, title=f"Slide {k}")
        x, y, w, h = stage_box(g.image, g.tiles)
        ref = cv2.resize(cv2.cvtColor(g.image[y:y + h, x:x + w], cv2.COLOR_BGR2GRAY), thumb.shape[::-1],
                         interpolation=cv2.INTER_AREA).astype(np.float32)
        dist[k] = float(np.abs(ref - thumb).mean())
    return min(dist, key=dist.get)


@pytest.fixture(scope="module")
def sad_lesson(lesson_faces, analyzer, tmp_path_factory):
    """A 45-minute lesson that turned sad on slides 7 to 9, run once for the tests of its report:
    the lesson, its store and session, and the report made at its end."""
    calm, sad = lesson_faces
    lesson = SlideLesson(calm, sad, n=6, minutes=45, every=30.0, sad_slides=(7, 8, 9))
    return lesson, *_run_lesson(tmp_path_factory.mktemp("sad"), analyzer, lesson, "Biology, period 3")


@pytest.mark.slow  # a whole lesson through the analyser (a browser, a subprocess)
def test_the_report_of_a_lesson_that_turned_sad_on_slides_7_to_9(sad_lesson):
    lesson, store, sid, made = sad_lesson
    first = made.moments[0]
    assert first.direction == "drop" and "mood" in first.measures
    assert 720 <= first.start_s < 840 and 1020 <= first.end_s <= 1140, (first.start_s, first.end_s)
    thumbs = postclass.stage_on_screen(store.stage_images(sid), first.start_s, first.end_s, 60.0)
    assert [_slide_of(j, lesson) for _, j in thumbs] == [7, 8, 9]
    assert base64_of(thumbs[0][1]) in made.html                        # slide 7 is in the report itself
    assert len([m for m in made.moments if m.direction == "drop"]) == 1
    # stored with the session, and written as one self-contained file
    assert store.report(sid)[1] == made.html and made.path.read_text() == made.html
    assert len(made.html.encode()) < 2 * 1024 * 1024
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", made.html) and "<script" not in made.html
    for section in ("Where the lesson lost the class", "Attendance", "To follow up", "What these figures cannot tell",
                    "prohibited in the EU"):
        assert section in made.html
    assert made.html.count('class="cm-stage"') == 3


def base64_of(jpeg: bytes) -> str:
    import base64

    return base64.b64encode(jpeg).decode()


@pytest.mark.slow  # a whole lesson through the analyser (a browser, a subprocess)
def test_a_calm_lesson_reports_no_moment_where_the_class_was_lost(lesson_faces, analyzer, tmp_path):
    calm, sad = lesson_faces
    lesson = SlideLesson(calm, sad, n=6, minutes=45, every=30.0)
    store, sid, made = _run_lesson(tmp_path, analyzer, lesson, "calm")
    assert [m for m in made.moments if m.direction == "drop"] == []
    assert "the class held steady" in made.html
    assert len(store.stage_images(sid)) == 23  # a thumbnail a slide: 45 minutes, one every 2


@pytest.mark.slow  # a whole lesson through the analyser (a browser, a subprocess)
def test_the_report_prints_to_a4_and_its_screenshot_is_kept(sad_lesson, tmp_path):
    require(Path(CHROMIUM).exists(), "Debian's chromium not installed (apt-get install chromium)")
    made = sad_lesson[-1]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot, pdf = ARTIFACTS / "report-a4.png", tmp_path / "report.pdf"
    # 210 x 297 mm at 96 dpi: 794 x 1123 CSS pixels
    for extra in ([f"--screenshot={shot}", "--window-size=794,1123", "--hide-scrollbars"], [f"--print-to-pdf={pdf}", "--no-pdf-header-footer"]):
        p = subprocess.run([CHROMIUM, "--headless", *FLAGS, *extra, made.path.as_uri()], capture_output=True,
                           text=True, timeout=120)
        assert p.returncode == 0, p.stderr[-2000:]
    img = cv2.imread(str(shot))
    assert img.shape[:2] == (1123, 794) and img.std() > 20
    raw = pdf.read_bytes()
    boxes = {tuple(round(float(v)) for v in m.groups()) for m in
             re.finditer(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", raw)}
    assert boxes == {(595, 842)}, boxes                                  # A4 in points, every page
    assert len(re.findall(rb"/Type\s*/Page\b", raw)) >= 2


# -- class-only sessions ---------------------------------------------------------------------------
def _every_value(db: Path) -> tuple[dict, list]:
    """Row counts of every table, and every text and blob value, read straight from the file."""
    import sqlite3

    con = sqlite3.connect(db)
    tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    counts, values = {}, []
    for t in tables:
        rows = con.execute(f"SELECT * FROM {t}").fetchall()
        counts[t] = len(rows)
        values += [v for row in rows for v in row if isinstance(v, (str, bytes))]
    con.close()
    return counts, values


def _names_in(values: list) -> set[str]:
    """The true names (their hashes, tests/test_names.py) found in any run of words of any value."""
    truth = {h.split()[0] for names in NAMES.values() for h in names if h}
    found = set()
    for v in values:
        words = compared(v.decode("utf-8", "ignore") if isinstance(v, bytes) else v).split()
        for i in range(len(words)):
            for j in range(i + 1, min(len(words), i + 4) + 1):
                h = hashlib.sha256(" ".join(words[i:j]).encode()).hexdigest()[:12]
                if h in truth:
                    found.add(h)
    return found


class _Repeat:
    """A real screenshot shown for `seconds`, captured every `every` seconds as a video call
    delivers it: re-encoded as JPEG at a quality that varies."""

    def __init__(self, path: Path, seconds: float, every: float):
        self.image, self.times = cv2.imread(str(path)), np.arange(0.0, seconds + 1e-6, every)

    def __len__(self):
        return len(self.times)

    def __iter__(self):
        rng = np.random.default_rng(1)
        for t in self.times:
            ok, buf = cv2.imencode(".jpg", self.image, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(70, 95))])
            yield Frame(float(t), cv2.imdecode(buf, cv2.IMREAD_COLOR))


def test_class_only_stores_no_name_and_no_per_face_row_after_ten_minutes_of_a_real_gallery(
        real_galleries2, analyzer, tmp_path):
    shot = next(g for g in real_galleries2 if g["file"] == "zoom_6tiles_names.jpg")
    # the same gallery stored as usual: its names are in the database (the check below can fail)
    plain = tmp_path / "plain.db"
    store = Store(plain)
    sid = store.start_session("plain", "test", 10.0)
    tracker, sink = session_parts(store, sid, analyzer)
    run(_Repeat(shot["path"], 20, 10), analyzer, tracker, sink, keep=False)
    store.end_session(sid)
    store.close()
    counts, values = _every_value(plain)
    assert counts["observations"] > 0 and len(_names_in(values)) >= 3
    # class-only: ten minutes of the same gallery, report included
    db = tmp_path / "class-only.db"
    store = Store(db)
    sid = store.start_session("Period 3", "test", 10.0, aggregate_only=True)
    tracker, sink = session_parts(store, sid, analyzer)
    run(_Repeat(shot["path"], 600, 10), analyzer, tracker, sink, keep=False)
    store.end_session(sid)
    made = postclass.make_report(store, sid)
    tl = store.timeline(sid, 60.0)
    assert tl["faces"].sum() >= 61 * 4 and tl["attention"].notna().all()   # the class's counts are there
    assert "Class-only session" in made.html
    store.close()
    counts, values = _every_value(db)
    assert counts["frames"] == counts["class_frames"] == 61
    assert counts["observations"] == counts["face_images"] == counts["stage_images"] == 0
    assert _names_in(values) == set()
    with Store(db) as s:
        assert s.alerts(sid)["participant"].isna().all() and s.participants(sid).empty
        assert s.expression_strips(sid).empty


def test_stage_recorder_keeps_one_thumbnail_per_slide_and_marks_the_end_of_a_share(fer_faces, tmp_path, analyzer):
    store = Store(tmp_path / "s.db")
    sid = store.start_session("x", "test")
    rec = StageRecorder(store, sid, analyzer.detector)
    for t, slide in [(0, 1), (5, 1), (10, 1), (30, 2), (35, 2), (60, None)]:
        if slide is None:
            g = render_gallery(fer_faces[:6], 6, size=(1920, 1080), seed=1)
        else:
            g = render_share(fer_faces[:6], 6, "top", slide=slide, title=f"Slide {slide}")
        rec.offer(t, g.image, FrameResult(t, [TileResult(b) for b in g.tiles], []))
    st = store.stage_images(sid)
    assert list(st["time_s"]) == [0.0, 30.0, 60.0] and st["jpeg"].iloc[-1] is None


@pytest.mark.slow  # a whole lesson through the analyser (a browser, a subprocess)
def test_the_analyze_cli_writes_the_report_of_a_recording_and_refuses_faces_in_class_only(
        lesson_faces, tmp_path):
    calm, sad = lesson_faces
    lesson = SlideLesson(calm, sad, n=5, minutes=4, every=1.0, slide_s=30.0, sad_slides=(3, 4), size=(1280, 720))
    video = tmp_path / "lesson.mp4"
    w = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 1, (1280, 720))
    for f in lesson:
        w.write(f.image)
    w.release()
    db, out = tmp_path / "a.db", tmp_path / "reports"
    p = run_cli("classmood-analyze", str(video), "--every", "5", "--db", str(db), "--report-dir", str(out))
    assert p.returncode == 0, p.stderr[-3000:]
    files = list(out.glob("classmood-report-*-lesson.mp4.html"))
    assert len(files) == 1 and f"report: {files[0]}" in p.stdout
    text = files[0].read_text()
    with Store(db) as s:
        sid = int(s.sessions()["id"].iloc[0])
        assert s.report(sid)[1] == text
        first = postclass.find_moments(postclass.rp.build_report(s, sid).timeline)[0]
    assert first.direction == "drop" and 60 <= first.start_s <= 70 and 'class="cm-stage"' in text
    bad = call_cli("classmood-analyze", str(video), "--db", str(db), "--aggregate-only", "--keep-faces")
    assert bad.returncode == 2 and "cannot --keep-faces" in bad.stderr


def test_attendance_lists_who_was_there_with_the_camera_off(tmp_path):
    from tests.test_store import face, frame

    store = Store(tmp_path / "a.db")
    sid = store.start_session("Period 1", "screen:monitor 1", 5.0)
    for t in range(0, 600, 5):
        f = frame(float(t), [face("Ana Perez", "neutral")] + ([face("Ben Novak", "happy", tile=1)] if t < 300 else []),
                  tiles=3)
        f["tiles"] = [{"box": [0, 0, 100, 60], "camera_off": False, "participant": "Ana Perez"},
                      {"box": [100, 0, 100, 60], "camera_off": t >= 300, "participant": "Ben Novak"},
                      {"box": [200, 0, 100, 60], "camera_off": True, "participant": "Cy Lee"}]
        store.add_frame(sid, f)
    store.end_session(sid)
    text = postclass.make_report(store, sid).html
    rows = {m.group(1): m.group(2) for m in re.finditer(r"<tr><td>([^<]+)</td>((?:<td>[^<]*</td>){6})</tr>", text)}
    cells = {k: re.findall(r"<td>([^<]*)</td>", v) for k, v in rows.items()}
    # first seen, last seen, minutes present, on camera, camera off, face not read
    assert cells["Ana Perez"] == ["0:00", "9:55", "10", "10", "0", "0"]
    assert cells["Ben Novak"] == ["0:00", "9:55", "10", "5", "5", "0"]
    assert cells["Cy Lee"] == ["0:00", "9:55", "10", "0", "10", "0"]   # never on camera, there all lesson


def test_a_calm_student_who_turned_sad_is_flagged_with_the_sad_stretch_named(tmp_path):
    """Neutral for five and a half minutes, then sad: the session's valence is negative while the
    expression read most is neutral. The reason names both, never "negative (read mostly as
    neutral)", which reads as a contradiction; one read sad all along keeps "read mostly as sad"."""
    from bot.report import build_report, concern_table
    from tests.test_store import face, frame

    store = Store(tmp_path / "c.db")
    sid = store.start_session("Period 3", "screen:monitor 1", 5.0)
    for t in range(0, 600, 5):
        store.add_frame(sid, frame(float(t), [face("Ben Novak", "neutral" if t < 330 else "sad"),
                                              face("Gil Ortiz", "sad", tile=1)]))
    store.end_session(sid)
    reasons = dict(concern_table(build_report(store, sid))[["participant", "reasons"]].to_numpy())
    assert reasons["Ben Novak"] == "looks negative (read as sad at times, mostly neutral)"
    assert reasons["Gil Ortiz"] == "looks negative (read mostly as sad)"
