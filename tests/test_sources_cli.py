"""Sources on real files, the CLIs as users run them, and bad input."""

import dataclasses
import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from bot import ImageSource, VideoSource
from bot.sources import SourceError, parse_region
from tests.conftest import call_cli, face_video, run_cli


def _frame_index(frame):
    return sum(1 << bit for bit in range(8) if frame[4:12, 16 * bit + 4:16 * bit + 12].mean() > 128)


@pytest.fixture(scope="module")
def video(tmp_path_factory, fer_faces):
    return face_video(tmp_path_factory.mktemp("video") / "class.mp4", fer_faces, seconds=12, fps=5)


def test_video_source_timestamps_and_frames(video):
    src = VideoSource(video, every=2.0)
    got = [(f.time_s, _frame_index(f.image)) for f in src]
    assert [t for t, _ in got] == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
    for (t, i), want in zip(got, [0, 10, 20, 30, 40, 50]):  # the decoded frame is the one at t
        assert i == want, (t, i)
    assert len(src) == 6 and src.duration_s == pytest.approx(12.0)


def test_video_source_seeks_for_long_steps(video, monkeypatch):
    monkeypatch.setattr(VideoSource, "SEEK_AFTER_FRAMES", 5)
    got = [(f.time_s, _frame_index(f.image)) for f in VideoSource(video, every=3.0)]
    assert [round(t, 1) for t, _ in got] == [0.0, 3.0, 6.0, 9.0]
    for t, i in got:
        assert i == round(t * 5), (t, i)


def test_image_source_recursive(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    img = np.full((40, 60, 3), 100, np.uint8)
    for name in ("a/one.png", "a/b/two.jpg", "three.webp", "four.bmp"):
        cv2.imwrite(str(tmp_path / name), img)
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG garbage")
    frames = list(ImageSource(tmp_path))
    assert sorted(Path(f.file).name for f in frames) == ["four.bmp", "one.png", "three.webp", "two.jpg"]
    assert all(f.time_s == 0.0 and f.image.shape == (40, 60, 3) and f.new_scene for f in frames)
    one = list(ImageSource(tmp_path / "four.bmp"))  # a single picture: no folder, no new scene
    assert len(one) == 1 and one[0].file is None and not one[0].new_scene


def test_bad_sources(tmp_path):
    with pytest.raises(SourceError, match="no such file"):
        VideoSource(tmp_path / "none.mp4")
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(os.urandom(4096))
    with pytest.raises(SourceError, match="bad.mp4"):
        VideoSource(bad)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(SourceError, match="empty or not a readable image"):
        list(ImageSource(empty))
    (tmp_path / "d").mkdir()
    with pytest.raises(SourceError, match="no images"):
        ImageSource(tmp_path / "d")
    with pytest.raises(SourceError, match="x,y,w,h"):
        parse_region("1,2,3")
    assert parse_region("10,20,300,200") == (10, 20, 300, 200)


def test_screen_source_without_display(monkeypatch):
    from bot import ScreenSource

    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(SourceError, match="no display"):
        ScreenSource()


def _check_shape(result, n_frames=None):
    assert set(result) == {"source", "frames", "summary", "alerts"}  # the keys of old, and the alerts raised
    assert all(set(a) == {"time_s", "rule", "participant", "message"} for a in result["alerts"])
    assert set(result["summary"]) == {"frames", "faces", "emotion_shares", "valence", "mood", "trend", "attention"}
    for fr in result["frames"]:
        assert set(fr) == {"time_s", "file", "tiles", "faces"}
        for t in fr["tiles"]:
            assert set(t) == {"box", "name", "camera_off", "picture", "participant"} and len(t["box"]) == 4
        for f in fr["faces"]:
            assert set(f) == {"box", "tile", "participant", "role", "confidence", "uncertain", "emotion", "scores",
                              "pose", "attention", "covered", "masked"}
            assert isinstance(f["covered"], bool) and (f["uncertain"] or not f["covered"])
            assert isinstance(f["masked"], bool) and (f["uncertain"] or not f["masked"])
            assert 0 <= f["confidence"] <= 1 and f["role"] in ("participant", "other")
            assert f["pose"] is None or (len(f["pose"]) == 3 and all(-180 <= a <= 180 for a in f["pose"]))
            assert f["attention"] in (None, "facing", "away", "down")
            assert list(f["scores"]) == ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
            assert f["emotion"] == max(f["scores"], key=f["scores"].get)
    if n_frames is not None:
        assert len(result["frames"]) == n_frames


def test_analyze_cli_video_json_and_db(video, tmp_path):
    out, db = tmp_path / "r.json", tmp_path / "s.db"
    r = run_cli("classmood-analyze", str(video), "--json", str(out), "--every", "4", "--db", str(db))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "3/3 frames" in r.stderr  # the progress bar
    res = json.loads(out.read_text())
    _check_shape(res, 3)
    assert [f["time_s"] for f in res["frames"]] == [0.0, 4.0, 8.0]
    assert all(f["file"] is None for f in res["frames"])
    assert all(sum(x["role"] == "participant" for x in f["faces"]) == 2 for f in res["frames"])
    from bot.store import Store

    s = Store(db)
    sid = int(s.sessions().loc[0, "id"])
    assert len(s.frames(sid)) == 3 and len(s.observations(sid)) >= 6
    assert "stored as session" in r.stdout and "face images" not in r.stdout
    assert s.face_images(sid).empty  # no images without the opt-in


def test_analyze_cli_applies_the_retention_setting(real_galleries, tmp_path):
    import sqlite3

    from bot.store import Store

    db = tmp_path / "r.db"
    s = Store(db)
    s.set_setting("retention_days", 7)
    old, recent = s.start_session("old class", "t"), s.start_session("last week's class", "t")
    s.close()
    con = sqlite3.connect(db)
    # retention counts from when a session was stored (not the lesson's date): one stored 8 days ago
    # goes, one stored 6 days ago (of a lesson dated a year back) stays
    con.execute("UPDATE sessions SET stored = stored - 8 * 86400, last_heartbeat = last_heartbeat - 8 * 86400"
                " WHERE id = ?", (old,))
    con.execute("UPDATE sessions SET stored = stored - 6 * 86400, started = started - 365 * 86400 WHERE id = ?",
                (recent,))
    con.commit()
    con.close()
    r = run_cli("classmood-analyze", str(real_galleries[0]["path"]), "--db", str(db))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "deleted 1 old session(s)" in r.stderr
    assert sorted(Store(db).sessions()["name"]) == ["last week's class", real_galleries[0]["path"].name]


def test_analyze_cli_keeps_faces_only_when_asked(video, tmp_path):
    db = tmp_path / "faces.db"
    r = call_cli("classmood-analyze", str(video), "--every", "4", "--keep-faces")
    assert r.returncode == 2 and "--keep-faces keeps images in a session database: give --db too" in r.stderr
    r = run_cli("classmood-analyze", str(video), "--every", "4", "--db", str(db), "--keep-faces")
    assert r.returncode == 0, r.stderr[-2000:]
    from bot.store import Store

    s = Store(db)
    sid = int(s.sessions().loc[0, "id"])
    obs, imgs = s.observations(sid), s.face_images(sid)
    assert len(imgs) == (obs["role"] == "participant").sum() == 6  # two faces in each of three frames
    assert f"with {len(imgs)} face images" in r.stdout
    for jpeg in imgs["jpeg"]:
        pic = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert pic.shape == (96, 96, 3) and pic.std() > 10  # a picture, not a blank


def test_analyze_cli_folder_paths(real_galleries, tmp_path):
    out = tmp_path / "g.json"
    folder = real_galleries[0]["path"].parent
    r = run_cli("classmood-analyze", str(folder), "--json", str(out))
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads(out.read_text())
    _check_shape(res, len(real_galleries))
    assert sorted(f["file"] for f in res["frames"]) == sorted(str(folder / g["file"]) for g in real_galleries)
    assert all(f["time_s"] == 0.0 for f in res["frames"])


@pytest.mark.parametrize("name,content,expect", [
    ("x.mp4", os.urandom(2000), "x.mp4: not a video OpenCV can open"),
    ("e.png", b"", "empty or not a readable image"),
    ("missing.mkv", None, "no such file"),
])
def test_analyze_cli_bad_input(tmp_path, name, content, expect):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    r = call_cli("classmood-analyze", str(path))
    assert r.returncode == 2
    assert expect in r.stderr and "Traceback" not in r.stderr


def test_analyze_cli_read_only_db(tmp_path, real_galleries):
    blocker = tmp_path / "ro"
    blocker.write_text("a file where the database folder should be")
    r = call_cli("classmood-analyze", str(real_galleries[0]["path"]), "--db", str(blocker / "x.db"))
    assert r.returncode == 2 and "cannot open the session database" in r.stderr and "Traceback" not in r.stderr


def test_bot_cli_without_display(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    import subprocess
    import sys
    from pathlib import Path

    exe = Path(sys.executable).parent / "classmood-bot"
    r = subprocess.run([str(exe), "--duration", "2", "--db", str(tmp_path / "b.db")], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "no display" in r.stderr and "Traceback" not in r.stderr


def test_bot_cli_bad_alerts_file(tmp_path):
    (tmp_path / "a.toml").write_text("[nope]\n")
    r = call_cli("classmood-bot", "--alerts", str(tmp_path / "a.toml"), "--db", str(tmp_path / "b.db"))
    assert r.returncode == 2 and "unknown rule" in r.stderr


# -- true time -------------------------------------------------------------------------------------
class _FakeMSS:
    monitors = [{"left": 0, "top": 0, "width": 160, "height": 90}, {"left": 0, "top": 0, "width": 160, "height": 90}]

    def grab(self, area):
        return np.zeros((area["height"], area["width"], 4), np.uint8)

    def close(self):
        pass


class _Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now

    def sleep(self, s):
        assert s > 0
        self.now += s


def _run_screen(monkeypatch, interval, duration, work):
    """Captures of a ScreenSource on a fake screen and clock; `work(i)` is the time the pipeline
    spends on frame i. Returns the capture times and the clock when the source ended."""
    import mss

    from bot import ScreenSource

    monkeypatch.setattr(mss, "MSS", lambda *a, **k: _FakeMSS())
    clock = _Clock()
    src = ScreenSource(interval=interval, duration=duration, clock=clock, sleep=clock.sleep)
    times = []
    for i, frame in enumerate(src):
        assert frame.image.shape == (90, 160, 3) and frame.file is None and not frame.new_scene
        times.append(frame.time_s)
        clock.now += work(i)
    return times, clock.now - 1000.0


def test_screen_source_skips_missed_ticks_instead_of_bursting(monkeypatch):
    # a slow first frame (3.4 s), then 0.34 s a frame, at --interval 1 for 10 s
    times, ended = _run_screen(monkeypatch, 1.0, 10.0, lambda i: 3.4 if i == 0 else 0.34)
    assert times == [0.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]  # ticks 1-3 skipped, none made up
    assert all(b > a for a, b in zip(times, times[1:]))
    assert 10.0 - 1.0 <= ended <= 10.0 + 1.0
    # --interval 2 with 2.1 s frames: never two frames with the same time
    times, _ = _run_screen(monkeypatch, 2.0, 20.0, lambda i: 2.1)
    assert times == [0.0, 4.0, 8.0, 12.0, 16.0]


@pytest.mark.parametrize("interval", [0.5, 1.0, 7.0, 40.0, 60.0])
def test_screen_source_keeps_the_duration_whatever_the_interval(monkeypatch, interval):
    times, ended = _run_screen(monkeypatch, interval, 5.0, lambda i: 0.3)
    assert times[0] == 0.0 and all(t < 5.0 for t in times)
    assert all(abs(t / interval - round(t / interval)) * interval < 1e-6 for t in times)  # on the grid
    assert abs(ended - 5.0) <= 1.0  # never 40 s for --duration 5, nor 0.3 s


@pytest.mark.parametrize("kwargs,message", [
    ({"interval": float("nan")}, "interval"), ({"interval": float("inf")}, "interval"),
    ({"interval": 0}, "interval"), ({"interval": -1}, "interval"),
    ({"duration": -5}, "duration"), ({"duration": float("inf")}, "duration"), ({"duration": float("nan")}, "duration"),
    ({"region": (100, 50, 300, 200)}, "not on the screen"), ({"region": (-10, 0, 50, 50)}, "not on the screen"),
])
def test_screen_source_refuses_bad_times_and_regions(monkeypatch, kwargs, message):
    import mss

    from bot import ScreenSource

    monkeypatch.setattr(mss, "MSS", lambda *a, **k: _FakeMSS())
    with pytest.raises(SourceError, match=message):
        ScreenSource(**kwargs)


def test_video_source_refuses_steps_below_one_frame(video):
    with pytest.raises(SourceError, match="at least one frame"):
        VideoSource(video, every=1e-9)
    for bad in (float("nan"), float("inf"), 0.0, -2.0):
        with pytest.raises(SourceError, match="finite number of seconds above 0"):
            VideoSource(video, every=bad)
    assert len(list(VideoSource(video, every=0.2))) == 60  # exactly one frame period: every frame


def _one_line_error(r, prog):
    lines = [line for line in r.stderr.strip().splitlines() if line.strip()]
    assert r.returncode == 2 and len(lines) == 1 and lines[0].startswith(f"{prog}: "), r.stderr[-2000:]
    return lines[0]


@pytest.mark.parametrize("args,message", [
    (["--every", "nan"], "--every"), (["--every", "inf"], "--every"), (["--every", "-1"], "--every"),
    (["--every", "1e-9"], "at least one frame"),
])
def test_analyze_cli_bad_times_are_one_line_errors_and_store_nothing(video, tmp_path, args, message):
    db = tmp_path / "a.db"
    r = run_cli("classmood-analyze", str(video), "--db", str(db), *args, timeout=60)
    assert message in _one_line_error(r, "classmood-analyze")
    assert not db.exists()  # no session created


def test_analyze_cli_empty_path_is_not_the_current_folder(tmp_path):
    r = run_cli("classmood-analyze", "", "--db", str(tmp_path / "a.db"), timeout=60)
    assert "no path given" in _one_line_error(r, "classmood-analyze")
    assert not (tmp_path / "a.db").exists()


@pytest.mark.parametrize("args,message", [
    (["--interval", "nan"], "--interval"), (["--interval", "inf"], "--interval"), (["--interval", "0"], "--interval"),
    (["--duration", "-5"], "--duration"), (["--duration", "nan"], "--duration"),
])
def test_bot_cli_bad_times_are_one_line_errors_and_store_nothing(tmp_path, args, message):
    db = tmp_path / "b.db"
    r = run_cli("classmood-bot", "--db", str(db), *args, timeout=60)
    assert message in _one_line_error(r, "classmood-bot")
    assert not db.exists()


def test_a_recording_raises_alerts_on_its_own_clock(video, tmp_path):
    from bot import analyze_path
    from bot.alerts import AlertEngine, load_rules
    from bot.store import Store

    rules = load_rules()
    rules.participant_negative = dataclasses.replace(rules.participant_negative, threshold=-1.0, minutes=0.1,
                                                     cooldown_minutes=60)  # fires after 6 s
    store = Store(tmp_path / "a.db")
    sid = store.start_session("recording", "t")
    res = analyze_path(video, every=2.0, store=store, session_id=sid, alerts=AlertEngine(rules))
    fired = [a for a in res.alerts if a.rule == "participant_negative"]
    people = sorted(set(store.observations(sid)["participant"]))
    assert len(people) == 2 and sorted(a.participant for a in fired) == people
    assert all(a.time_s == 6.0 for a in fired)  # video time, not the wall clock
    stored = store.alerts(sid)
    assert sorted(stored.loc[stored["rule"] == "participant_negative", "participant"]) == people
    default = analyze_path(video, every=4.0)  # the default rules run on recordings too
    assert isinstance(default.alerts, list) and isinstance(default.to_dict()["alerts"], list)


def test_a_recording_stops_with_the_stores_error_when_it_cannot_be_written(video, tmp_path):
    """A live bot logs a locked database and goes on (the lock may pass); a recording whose frames
    cannot be kept ends with the store's own message, not 'no frame could be analysed'."""
    import sqlite3

    from bot import analyze_path
    from bot.store import Store, StoreError

    store = Store(tmp_path / "locked.db", timeout=0.2)
    sid = store.start_session("recording", "t")
    other = sqlite3.connect(tmp_path / "locked.db", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreError, match="locked"):
            analyze_path(video, every=4.0, store=store, session_id=sid, drain_s=1.0)  # the CLI's: 120 s
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert store.frames(sid).empty


def test_the_bots_line_a_tick_says_no_meeting_or_the_class_in_plain_words():
    from bot.cli import status_line
    from bot.records import FrameResult, TileResult
    from bot.synthetic import seen_gallery

    desktop = FrameResult(65.0, [TileResult((0, 0, 960, 540)), TileResult((960, 0, 960, 540))], [])
    assert status_line(desktop) == "0:01:05  no meeting visible (no gallery, no face on screen)"
    boxes = [(0, 0, 400, 225), (410, 0, 400, 225), (0, 235, 400, 225)]
    line = status_line(seen_gallery(3723.0, boxes))
    assert line.startswith("1:02:03  3 in view, 3 face(s) read: mood neutral") and "valence" in line
    off = FrameResult(10.0, [TileResult(b, None, True) for b in boxes], [])
    assert status_line(off) == "0:00:10  3 in view, no face to read (cameras off or turned away)"
