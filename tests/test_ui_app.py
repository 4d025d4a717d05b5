"""The app's handlers without a browser: where generated files go and when they are gone."""

import os
import time
import zipfile

import numpy as np

from bot.accounts import LOCAL
from tests.test_store import _faces, _picture, add_with_picture, face, frame


def _app(tmp_path):
    from bot.store import Store
    from ui.app import App, AppConfig

    work = tmp_path / "work"
    return App(AppConfig(db_path=str(tmp_path / "a.db"), work_dir=str(work)), store=Store(tmp_path / "a.db"),
               analyzer=object())


def test_export_zips_kept_faces_and_deleting_them_removes_the_zip(tmp_path):
    app = _app(tmp_path)
    plain = app.store.start_session("no opt-in", "t")
    add_with_picture(app.store, plain, frame(0.0, _faces()), _picture())
    assert [os.path.basename(p).rsplit(".", 1)[1] for p in app.export(LOCAL, plain)] == ["csv", "html"]
    sid = app.store.start_session("consented", "t", keep_faces=True)
    for t in (0.0, 5.0):
        add_with_picture(app.store, sid, frame(t, _faces()), _picture())
    files = app.export(LOCAL, sid)
    faces_zip = next(p for p in files if p.endswith("-faces.zip"))
    with zipfile.ZipFile(faces_zip) as z:
        assert sorted(n.split("/")[0] for n in z.namelist()) == ["ana", "ana"]
        assert all(n.endswith("_sad_0.jpg") or n.endswith("_sad_1.jpg") for n in z.namelist())
    assert app.delete_face_images(LOCAL, sid) == 2
    assert not os.path.exists(faces_zip) and app.store.face_images(sid).empty
    assert "face images kept" not in dict((v, k) for k, v in app.session_choices(LOCAL)[0])[sid]


def test_download_folders_older_than_an_hour_are_swept(tmp_path):
    from ui.app import DOWNLOAD_MAX_AGE_S

    app = _app(tmp_path)
    old, fresh = app._out_dir("old"), app._out_dir("fresh")
    (old / "report.html").write_text("x")
    past = time.time() - DOWNLOAD_MAX_AGE_S - 60
    os.utime(old, (past, past))
    new = app._out_dir("new")
    assert not old.exists() and fresh.exists() and new.exists()


def test_a_locked_database_is_a_readable_message_in_the_page(tmp_path):
    import sqlite3

    import gradio as gr
    import pytest

    from bot.store import Store
    from ui.handlers import guard

    app = _app(tmp_path)
    app.store.close()
    app.store = Store(tmp_path / "a.db", timeout=0.2)
    sid = app.store.start_session("x", "t", keep_faces=True)
    blocker = sqlite3.connect(tmp_path / "a.db", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    try:
        with pytest.raises(gr.Error, match=r"cannot write to the session database .*a\.db just now: database is locked"):
            guard(app.delete_face_images)(LOCAL, sid)
    finally:
        blocker.execute("ROLLBACK")
    assert app.store.keeps_faces(sid)  # nothing half-done


# -- the class tab's logic (issue: follows the live class, a glance, grouped alerts) --------------
def _frame_with(name, t):
    from model import EMOTIONS

    sc = {e: (0.8 if e == "neutral" else 0.2 / 6) for e in EMOTIONS}
    return {"time_s": float(t), "tiles": [{"box": [0, 0, 90, 60], "name": name, "camera_off": False}],
            "faces": [{"box": [10, 10, 40, 40], "tile": 0, "participant": name, "role": "participant",
                       "confidence": 0.9, "uncertain": False, "emotion": "neutral", "scores": sc}]}


def test_the_class_view_follows_the_newest_live_session_unless_one_is_pinned(tmp_path):
    app = _app(tmp_path)
    s = app.store
    old = s.start_session("yesterday", "t", interval_s=5)
    s.add_frame(old, _frame_with("Ana", 0))
    s.end_session(old)
    empty = s.start_session("crashed before its first frame", "t", interval_s=5)
    v = app.class_view(LOCAL, None, False, -1)
    assert [c[1] for c in v.choices] == [old] and v.selected == old  # no frames: not listed
    assert empty not in [c[1] for c in v.choices]
    live = s.start_session("Period 2", "t", interval_s=5)
    s.add_frame(live, _frame_with("Ben", 0))
    v = app.class_view(LOCAL, old, False, -1)
    assert v.selected == live and "Period 2" in v.headline and "live" in v.headline
    assert "Class mood now" in v.headline
    v = app.class_view(LOCAL, old, True, -1)  # the teacher picked yesterday's: it stays
    assert v.selected == old and "Class mood overall" in v.headline
    s.delete_session(old)
    assert app.class_view(LOCAL, old, True, -1).selected == live  # a pinned session that is gone: back to live


def test_an_empty_store_shows_the_command_that_starts_the_bot(tmp_path):
    app = _app(tmp_path)
    v = app.class_view(LOCAL, None, False, -1)
    assert v.selected is None and "No class is being watched" in v.headline
    assert f"classmood-bot --interval 5 --session \"Period 3\" --db {tmp_path / 'a.db'}" in v.headline.replace("&quot;", '"')


def test_alerts_are_grouped_newest_first_and_toasted_once():
    import pandas as pd

    from bot.report import alerts_toast, group_alerts

    rows = [(k + 1, 100.0 + 0.3 * k, "participant_absent", f"S{k}", f"S{k} has been off camera or away for 5 min")
            for k in range(20)]
    rows += [(30, 90.0, "class_valence", None, "class mood negative"), (31, 200.0, "participant_negative", "Ana",
                                                                         "Ana has looked negative for 5 minutes.")]
    df = pd.DataFrame(rows, columns=["id", "time_s", "rule", "participant", "message"])
    items = group_alerts(df)
    assert [it["kind"] for it in items] == ["participant", "burst", "class"]  # newest first
    assert items[1]["text"] == "20 left the view at once: page change?" and len(items[1]["participants"]) == 20
    toast = alerts_toast(df)
    assert toast.startswith("22 new alerts: class mood negative; 20 left the view at once")
    assert alerts_toast(df.iloc[0:0]) is None
    two = df[df["participant"].isin(["S0", "S1"])]  # two are not a burst
    assert [it["kind"] for it in group_alerts(two)] == ["participant", "participant"]


def test_job_progress_reads_frames_and_time_left():
    from ui.state import Job

    j = Job(1, "lesson.mp4", started=1000.0)
    j.progress(1, 40, now=1010.0)              # the first frame loads the model: not in the rate
    assert j.progress_text(now=1010.0) == "frame 1 of 40"
    j.progress(10, 40, now=1028.0)              # 2 s a frame since the first
    assert j.progress_text(now=1028.0) == "frame 10 of 40, about 1 min 00 s left"
    # a slow frame and a quick one move the estimate by less than a fifth: it counts down instead
    said = []
    for k, t in ((11, 1032.0), (12, 1033.0), (13, 1035.0), (14, 1037.0)):
        j.progress(k, 40, now=t)
        said.append(j.progress_text(now=t))
    assert said == ["frame 11 of 40, about 55 s left", "frame 12 of 40, about 55 s left",
                    "frame 13 of 40, about 55 s left", "frame 14 of 40, about 50 s left"], said
    j.stage = "Making the report: key frames and downloads..."
    assert j.progress_text(now=1100.0) == j.stage
    j.status, j.done, j.ended = "done", 40, 1080.0
    assert j.progress_text() == "Done: 40 frames analysed in 1 min 20 s." and not j.running


def test_charts_have_titles_units_and_gaps_where_no_face_was_seen():
    import pandas as pd

    from model import EMOTIONS
    from bot.charts import mood_line, presence_lines

    rows = []
    for k in range(6):
        seen = k not in (2, 3)
        rows.append({"window_start": 60.0 * k, "window_end": 60.0 * (k + 1), "frames": 12, "faces": 10 if seen else 0,
                     "participants": 1, "engagement": 0.8 if seen else 0.0, "valence": 0.1 if seen else 0.0,
                     **{f"share_{e}": (1.0 if e == "neutral" and seen else 0.0) for e in EMOTIONS},
                     "mood": "neutral" if seen else None, "attention": 0.9 if seen else None, "looking_down": 0.0})
    tl = pd.DataFrame(rows)
    svg = mood_line(tl)
    assert "Class mood over time" in svg and "class time (min:s)" in svg and ">valence<" in svg
    assert svg.count("<polyline") == 2  # two stretches with faces: the gap is not drawn as a value
    svg = presence_lines(tl.drop(index=[4]))  # a window missing altogether is a gap too
    # windows 0-1 joined, 2-3 without faces, 4 missing, 5 alone (a dot): one line each for
    # engagement and attention
    assert "share (%)" in svg and svg.count("<polyline") == 2


def test_key_frames_are_blurred_as_before_at_any_size():
    """The blur past recognition runs on a copy of at most 640 pixels: the same picture as a
    direct blur (within two grey levels on average), at the picture's own size; an 8000x8000
    screenshot's key frame no longer holds the report back for a minute and a half."""
    import cv2

    from ui.state import blur_past_recognition

    rng = np.random.default_rng(0)
    img = cv2.resize(rng.integers(0, 255, (90, 160, 3), dtype=np.uint8), (1600, 900), interpolation=cv2.INTER_CUBIC)
    direct = cv2.GaussianBlur(img, (0, 0), sigmaX=max(6.0, min(img.shape[:2]) / 40))
    ours = blur_past_recognition(img)
    assert ours.shape == img.shape and np.abs(ours.astype(int) - direct).mean() < 2.0
    assert np.abs(ours.astype(int) - img).mean() > 5.0  # blurred indeed
    small = img[:300, :400]
    assert np.array_equal(blur_past_recognition(small), cv2.GaussianBlur(small, (0, 0), sigmaX=7.5))


def test_an_ended_class_opens_with_its_report_and_a_class_only_one_says_why_no_one_is_listed(tmp_path):
    import pytest

    from bot.accounts import Viewer

    app = _app(tmp_path)
    s = app.store
    sid = s.start_session("Period 5", "screen:monitor 1", interval_s=5)
    for t in range(0, 900, 5):  # twelve calm minutes, three sad ones
        s.add_frame(sid, frame(float(t), [face(n, "sad" if 300 <= t < 480 else "neutral", tile=k)
                                          for k, n in enumerate(["ana", "ben", "cy", "dee"])], tiles=4))
    s.add_alert(sid, "participant_negative", "ana has looked negative for 5 minutes.", 480.0, "ana")
    live = app.class_view(LOCAL, None, False, -1)
    running = open(next(p for p in app.export(LOCAL, sid) if p.endswith(".html"))).read()
    assert "The class so far (still running): Period 5" in running  # a live class's export says so
    assert "Last class" not in live.needs_attention                       # a class that runs has no report yet
    s.end_session(sid)
    v = app.class_view(LOCAL, None, False, -1)         # opening the app: no click
    assert v.selected == sid and "Last class: report" in v.needs_attention
    assert "1 moment where the class dropped" in v.needs_attention and "5:00" in v.needs_attention
    assert "ana" in v.needs_attention and "has looked negative for 5 minutes" in v.needs_attention  # to follow up
    with pytest.raises(PermissionError):
        app.set_class_only(Viewer("t1", "teacher"), True)
    assert app.set_class_only(LOCAL, True) is True
    agg = s.start_session("Period 6", "screen:monitor 1", interval_s=5)
    for t in range(0, 120, 5):
        s.add_frame(agg, frame(float(t), [face("Zebulon", "happy"), face("Quintessa", "neutral", tile=1)]))
    live_agg = app.class_view(LOCAL, None, False, -1)
    assert "Class-only session" in live_agg.needs_attention and "Zebulon" not in live_agg.needs_attention
    s.end_session(agg)
    v = app.class_view(LOCAL, None, False, -1)
    assert v.selected == agg and "Class-only session" in v.participants and "Zebulon" not in v.participants
    assert "Participants present" in v.headline and "Class-only session" in v.needs_attention
    html_file = next(p for p in app.export(LOCAL, agg) if p.endswith(".html"))
    text = open(html_file).read()
    assert "class-only" in text and "Zebulon" not in text and "Quintessa" not in text
