"""The bot against a real X display: Xvfb shows a gallery with feh, mss captures it."""

import contextlib
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from bot.stage import stage_box
from bot.synthetic import render_gallery, render_share
from bot.store import Store
from tests.conftest import REPO, require

SIZE = (1280, 720)


def _free_display() -> int:
    for n in range(90, 200):
        if not Path(f"/tmp/.X{n}-lock").exists() and not Path(f"/tmp/.X11-unix/X{n}").exists():
            return n
    raise RuntimeError("no free X display number")


@pytest.fixture(scope="module")
def screen(tmp_path_factory, fer_faces):
    require(shutil.which("Xvfb") is not None, "Xvfb not installed (Debian: xvfb)")
    require(shutil.which("feh") is not None, "feh not installed (Debian: feh)")
    n = _free_display()
    xvfb = subprocess.Popen(["Xvfb", f":{n}", "-screen", "0", f"{SIZE[0]}x{SIZE[1]}x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = {**os.environ, "DISPLAY": f":{n}"}
    for _ in range(100):
        if Path(f"/tmp/.X11-unix/X{n}").exists():
            break
        time.sleep(0.05)
    g = render_gallery(fer_faces[300:], 6, size=SIZE, camera_off=1, seed=21)
    shown = tmp_path_factory.mktemp("screen") / "gallery.png"
    cv2.imwrite(str(shown), g.image)
    feh = subprocess.Popen(["feh", "--fullscreen", "--hide-pointer", str(shown)], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.5)
    yield {"env": env, "display": f":{n}", "gallery": g, "image": g.image}
    feh.terminate()
    xvfb.terminate()
    feh.wait(5)
    xvfb.wait(5)


def test_mss_captures_the_display_pixel_exact(screen, monkeypatch):
    from bot import ScreenSource

    monkeypatch.setenv("DISPLAY", screen["display"])
    src = ScreenSource(monitor=1)
    frame = src.grab()
    assert frame.shape == (SIZE[1], SIZE[0], 3) and src.scale == 1.0
    assert np.array_equal(frame, screen["image"])
    region = ScreenSource(region=(100, 50, 300, 200)).grab()
    assert np.array_equal(region, screen["image"][50:250, 100:400])
    src.close()


@contextlib.contextmanager
def _showing(screen, image, path: Path):
    """`image` full screen on the display (feh, over the gallery) for the time of the block."""
    cv2.imwrite(str(path), image)
    feh = subprocess.Popen(["feh", "--fullscreen", "--hide-pointer", str(path)], env=screen["env"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.5)
        yield
    finally:
        feh.terminate()
        feh.wait(5)


def _bot(screen, db, *args):
    exe = Path(sys.executable).parent / "classmood-bot"
    # its own process group, as a terminal gives a command: Ctrl-C reaches the bot and its detector worker
    return subprocess.Popen([str(exe), "--db", str(db), *args], env=screen["env"], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def test_bot_records_a_session_from_the_screen(screen, tmp_path):
    db = tmp_path / "bot.db"
    g = screen["gallery"]
    p = _bot(screen, db, "--interval", "2", "--duration", "9", "--session", "xvfb class",
             "--exclude", g.names[0], "--keep-faces")
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, err[-3000:]
    s = Store(db)
    sessions = s.sessions()
    assert list(sessions["name"]) == ["xvfb class"]
    assert pd_notna(sessions.loc[0, "ended"]) and not sessions.loc[0, "live"]
    sid = int(sessions.loc[0, "id"])
    frames = s.frames(sid)
    assert len(frames) >= 4
    assert (frames["tiles"] == len(g.tiles) - 1).all()  # the excluded tile is never stored
    assert (frames["camera_off"] == 1).all()
    obs = s.observations(sid)
    part = obs[obs["role"] == "participant"]
    assert part.groupby("time_s").size().min() >= 4  # 5 faces on camera, one of them excluded
    assert not any(g.names[0] in str(p) for p in obs["participant"])
    off = s.camera_off(sid)  # the camera-off tile's participant: present, for the report's attendance
    assert len(off) == 1 and off["camera_off_s"].iloc[0] >= 6 and g.names[0] not in set(off["participant"])
    imgs = s.face_images(sid)  # kept, as asked, for every participant stored and for nobody excluded
    assert len(imgs) == len(part) and set(imgs["participant"]) == set(part["participant"])
    assert "session" in err and "ended" in err
    assert f"classmood-ui --db {db}" in err                    # where to see the class live
    assert "in view," in err and "face(s) read: mood" in err  # a plain line a tick


@pytest.mark.parametrize("how", ["SIGTERM", "Ctrl-C"])
def test_bot_stops_cleanly_without_traceback_and_keeps_true_time(screen, tmp_path, how):
    db, reports = tmp_path / "term.db", tmp_path / "reports"
    p = _bot(screen, db, "--interval", "1", "--session", "Period 4", "--report-dir", str(reports))
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if db.exists():
                s = Store(db)
                if not s.sessions().empty and s.sessions().loc[0, "frames"] >= 6:
                    break
            time.sleep(0.5)
        if how == "SIGTERM":
            p.send_signal(signal.SIGTERM)
        else:  # a terminal's Ctrl-C: SIGINT to the whole foreground process group
            os.killpg(p.pid, signal.SIGINT)
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, err[-3000:]
    assert ("SIGTERM" if how == "SIGTERM" else "SIGINT") in err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err[-3000:]
    sessions = Store(db).sessions()
    assert pd_notna(sessions.loc[0, "ended"]) and sessions.loc[0, "frames"] >= 6
    times = Store(db).frames(int(sessions.loc[0, "id"]))["time_s"].to_numpy()
    assert (np.diff(times) > 0).all(), times  # strictly increasing: no burst after the slow first frame
    assert (np.abs(times - np.round(times)) <= 0.2).all(), times  # on the 1 s grid
    # the post-class report, made as the bot stopped: stored with the session and written as asked
    written = list(reports.glob("classmood-report-*-Period-4.html"))
    assert len(written) == 1 and "post-class report" in err
    with Store(db) as s:
        stored = s.report(int(sessions.loc[0, "id"]))
    assert stored is not None and stored[1] == written[0].read_text() and "After the class: Period 4" in stored[1]


def test_a_class_only_bot_stores_the_class_counts_and_nothing_per_participant(screen, tmp_path):
    db = tmp_path / "class-only.db"
    p = _bot(screen, db, "--interval", "1", "--duration", "6", "--aggregate-only")
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, err[-3000:]
    assert "class-only session" in err
    con = sqlite3.connect(db)
    n = {t: con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
         for t in ("frames", "class_frames", "observations", "face_images", "stage_images")}
    faces = con.execute("SELECT SUM(n) FROM class_frames").fetchone()[0]
    named = con.execute("SELECT COUNT(*) FROM alerts WHERE participant IS NOT NULL").fetchone()[0]
    con.close()
    assert n["frames"] >= 4 and n["class_frames"] == n["frames"] and faces >= 4 * n["frames"]
    assert n["observations"] == n["face_images"] == n["stage_images"] == named == 0
    text = db.read_bytes()
    assert not any(name.encode() in text for name in screen["gallery"].names)  # no name anywhere in the file
    bad = _bot(screen, db, "--aggregate-only", "--keep-faces", "--duration", "2")
    _, err = bad.communicate(timeout=120)
    assert bad.returncode == 2 and "cannot --keep-faces" in err


def test_the_bot_keeps_the_shared_screen_for_the_report_and_no_face(screen, tmp_path, fer_faces):
    g = render_share(fer_faces[300:], 5, "top", size=SIZE, slide=4, title="Slide 4: Fractions")
    db, nostage = tmp_path / "share.db", tmp_path / "nostage.db"
    with _showing(screen, g.image, tmp_path / "share.png"):
        p = _bot(screen, db, "--interval", "1", "--duration", "4", "--session", "share")
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-3000:]
        q = _bot(screen, nostage, "--interval", "1", "--duration", "3", "--no-stage")
        q.communicate(timeout=300)
    with Store(db) as s:
        sid = int(s.sessions().loc[0, "id"])
        st = s.stage_images(sid)
        assert s.observations(sid)["participant"].nunique() >= 4
    assert len(st) == 1  # one slide, one thumbnail
    thumb = cv2.imdecode(np.frombuffer(st["jpeg"].iloc[0], np.uint8), cv2.IMREAD_COLOR)
    x, y, w, h = stage_box(g.image, g.tiles)  # the slide alone, below the strip of tiles
    assert y >= max(t[1] + t[3] for t in g.tiles)
    ref = cv2.resize(g.image[y:y + h, x:x + w], (thumb.shape[1], thumb.shape[0]), interpolation=cv2.INTER_AREA)
    assert thumb.shape[1] == 360
    assert float(np.abs(thumb.astype(float) - ref.astype(float)).mean()) < 6  # the captured slide itself
    with Store(nostage) as s:
        assert s.stage_images(int(s.sessions().loc[0, "id"])).empty


def test_an_empty_desktop_is_no_meeting_for_the_bot_and_the_store(screen, tmp_path, fer_faces):
    """The screen shows a desktop (a browser with a page of pictures and captioned cards, windows,
    a taskbar) and no meeting: the bot says "no meeting visible" every tick, and the session holds
    no one present, no face, no mood. (Before: "Participants present 2", "tiles=2 faces=0".)"""
    from bot.synthetic import ScreenRecording

    desk = ScreenRecording(fer_faces[:40], size=SIZE).frame(40.0)  # the cards: 8 "tiles" to the analyser
    db = tmp_path / "desk.db"
    with _showing(screen, desk, tmp_path / "desktop.png"):
        p = _bot(screen, db, "--interval", "1", "--duration", "5", "--session", "no class")
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-3000:]
    ticks = [line for line in (out + err).splitlines() if re.search(r"\d:\d\d:\d\d  ", line)]
    assert len(ticks) >= 3 and all("no meeting visible" in t for t in ticks), (out + err)[-3000:]
    s = Store(db)
    sid = int(s.sessions().loc[0, "id"])
    frames = s.frames(sid)
    assert len(frames) >= 3 and (frames["participants"] == 0).all() and (frames["faces"] == 0).all()
    assert s.observations(sid).empty and s.timeline(sid)["mood"].isna().all()


def test_bot_refuses_a_region_off_the_screen(screen, tmp_path):
    db = tmp_path / "off.db"
    p = _bot(screen, db, "--region", f"{SIZE[0] - 100},0,400,300", "--duration", "3")
    out, err = p.communicate(timeout=120)
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert p.returncode == 2 and len(lines) == 1 and "not on the screen" in lines[0], err[-2000:]
    assert not db.exists() or Store(db).sessions().empty


def pd_notna(v):
    import pandas as pd

    return not pd.isna(v)
