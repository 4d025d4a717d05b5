"""The Gradio app in Debian's headless Chromium (Playwright drives the system browser)."""

from __future__ import annotations

import json
import re
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import REPO, face_video, require

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture skips (or fails under CI) with the reason
    expect = None

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--disable-quic"]
ARTIFACTS = REPO / "artifacts" / "screenshots"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(db: Path, env_extra: dict | None = None, *args: str):
    port = _free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", **(env_extra or {})}
    env.pop("CLASSMOOD_AUTH", None) if "CLASSMOOD_AUTH" not in (env_extra or {}) else None
    exe = Path(sys.executable).parent / "classmood-ui"
    p = subprocess.Popen([str(exe), "--db", str(db), "--port", str(port), *args], env=env, cwd=REPO,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if p.poll() is not None:
            raise RuntimeError(f"classmood-ui exited: {p.stdout.read()[-3000:]}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return p, url
        except Exception:
            time.sleep(0.5)
    p.kill()
    raise RuntimeError("classmood-ui did not start in time")


def stop_app(p):
    p.terminate()
    try:
        p.wait(20)
    except subprocess.TimeoutExpired:
        p.kill()


def seed_store(db: Path) -> int:
    from bot.store import Store
    from model import EMOTIONS

    s = Store(db)
    sid = s.start_session("Period 3 Biology", "screen:monitor 1", interval_s=5)
    for t in range(0, 600, 5):
        faces = []
        for k, (name, emo) in enumerate([("Ana Perez", "happy"), ("Ben Novak", "sad" if t > 300 else "neutral")]):
            sc = {e: (0.8 if e == emo else 0.2 / 6) for e in EMOTIONS}
            faces.append({"box": [10 + 100 * k, 10, 40, 40], "tile": k, "participant": name, "role": "participant",
                          "confidence": 0.9, "uncertain": False, "emotion": emo, "scores": sc})
        s.add_frame(sid, {"time_s": float(t), "tiles": [{"box": [0, 0, 90, 60], "name": None, "camera_off": False}] * 3,
                          "faces": faces})
    s.add_alert(sid, "participant_negative", "Ben Novak has looked negative for 5 minutes.", 600.0, "Ben Novak")
    s.end_session(sid)  # a class that has ended: the same page whenever the test runs
    s.close()
    return sid


@pytest.fixture(scope="module")
def browser():
    require(Path(CHROMIUM).exists(), "Debian's chromium not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require(False, "the playwright Python package is not installed (pip install -e '.[dev]')")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield pw, b
        b.close()


GRADIO_CACHE: dict[str, Path] = {}  # app url -> the Gradio cache folder it was started with


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    db = tmp_path_factory.mktemp("ui") / "classmood.db"
    seed_store(db)
    cache = tmp_path_factory.mktemp("gradio-cache")
    p, url = start_app(db, {"GRADIO_TEMP_DIR": str(cache)})
    GRADIO_CACHE[url] = cache
    yield url
    stop_app(p)


def _cached_files(url: str) -> set[Path]:
    return {p for p in GRADIO_CACHE[url].rglob("*") if p.is_file()}


def _page(browser, url, viewport_size=(1400, 1000), **ctx):
    _, b = browser
    context = b.new_context(viewport={"width": viewport_size[0], "height": viewport_size[1]}, **ctx)
    page = context.new_page()
    outside = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(("http://127.0.0.1", "data:", "blob:")) else None)
    page.goto(url)
    page.wait_for_selector("text=ClassMood", timeout=60000)
    return page, outside


def test_every_tab_renders_and_nothing_is_fetched_from_outside(browser, app):
    page, outside = _page(browser, app)
    for tab, marker in [("Live webcam", "#cm-scores"), ("Class mood", "#cm-participants"),
                        ("Term", "#cm-term .cm-term"), ("Recordings", "#cm-analyse"),
                        ("Privacy & about", "text=What is recorded")]:
        page.get_by_role("tab", name=tab).click()
        page.locator(marker).first.wait_for(timeout=30000)
        page.screenshot(path=str(ARTIFACTS / f"tab-{tab.split()[0].lower()}.png"), full_page=True)
    assert page.get_by_text("prohibited in the EU since 2 February 2025").first.is_visible()
    assert outside == []


def test_class_tab_shows_the_stored_session(browser, app):
    page, _ = _page(browser, app)
    page.get_by_role("tab", name="Class mood").click()
    expect(page.locator("#cm-participants")).to_contain_text("Ana Perez", timeout=30000)
    assert "Period 3 Biology" in page.locator("#cm-headline").inner_text()
    head = page.locator("#cm-headline").inner_text()
    # a class that has ended reads over the whole session, not "now"
    assert "Participants seen" in head and "Faces per frame" in head and "Class mood overall" in head
    assert "now" not in head.lower()
    assert page.locator("#cm-charts svg polygon").count() == 7  # the stacked emotion areas
    titles = [t.text_content() for t in page.locator("#cm-glance-chart svg > text, #cm-charts svg > text").all()]
    assert {"Class mood over time", "Engagement and attention", "Expressions over time (share of faces)"} <= set(titles)
    assert "class time (min:s)" in titles and "valence" in titles and "share (%)" in titles
    expect(page.locator("#cm-alerts")).to_contain_text("Ben Novak has looked negative")
    # the class has ended: the page opens on its post-class report, no click needed
    last = page.locator("#cm-needs-attention")
    expect(last).to_contain_text("Last class: report")
    expect(last).to_contain_text("Where the lesson lost the class")
    expect(last).to_contain_text("Ben Novak")  # to follow up, with the alert he raised
    page.screenshot(path=str(ARTIFACTS / "class-session.png"), full_page=True)


def test_class_glance_fits_a_laptop_screen(browser, app):
    """At 1366x768 the headline, the needs-attention panel and the mood chart lie inside the
    viewport, without scrolling; the participants' columns are not cut off."""
    page, _ = _page(browser, app, viewport_size=(1366, 768))
    page.locator("#cm-headline .cm-cards").wait_for(timeout=60000)
    page.locator("#cm-glance-chart svg").wait_for(timeout=30000)
    for sel in ("#cm-headline .cm-cards", "#cm-needs-attention .cm-na", "#cm-glance-chart svg"):
        box = page.locator(sel).first.bounding_box()
        assert box and box["x"] >= 0 and box["y"] >= 0, sel
        assert box["x"] + box["width"] <= 1366 and box["y"] + box["height"] <= 768, (sel, box)
    page.screenshot(path=str(ARTIFACTS / "class-glance-1366x768.png"))
    table = page.locator("#cm-participants table").first
    table.scroll_into_view_if_needed()
    tbox = table.bounding_box()
    assert tbox["x"] + tbox["width"] <= 1366
    last = page.locator("#cm-participants th").last.bounding_box()
    assert last["x"] + last["width"] <= 1366  # the heat-strip column is not cut off
    assert page.locator("#cm-participants img.cm-strip").count() == 2
    assert "Ben Novak" in page.locator("#cm-participants tr").nth(1).inner_text()  # most concerning first


def test_a_page_open_before_the_bot_starts_follows_it(browser, tmp_path):
    """An empty database shows how to start the bot; a session without frames stays hidden; the
    bot's first frame appears within a refresh, without a click; a newer live class replaces an
    older one, unless the teacher picked a session."""
    from bot.store import Store
    from model import EMOTIONS

    db = tmp_path / "live.db"
    Store(db).close()
    p, url = start_app(db, {}, "--refresh", "1")
    try:
        page, _ = _page(browser, url, viewport_size=(1366, 768))
        expect(page.locator("#cm-headline")).to_contain_text("No class is being watched", timeout=30000)
        expect(page.locator("#cm-headline")).to_contain_text(f"classmood-bot --interval 5 --session \"Period 3\" --db {db}")
        store = Store(db)
        sid = store.start_session("Period 4 Maths", "screen:monitor 1", interval_s=1)
        time.sleep(3)  # three refreshes: a session without frames is not shown
        assert "No class is being watched" in page.locator("#cm-headline").inner_text()
        sc = {e: (0.8 if e == "happy" else 0.2 / 6) for e in EMOTIONS}
        face = {"box": [10, 10, 40, 40], "tile": 0, "participant": "Dana", "role": "participant", "confidence": 0.9,
                "uncertain": False, "emotion": "happy", "scores": sc}
        store.add_frame(sid, {"time_s": 0.0, "tiles": [{"box": [0, 0, 90, 60], "name": "Dana", "camera_off": False}],
                              "faces": [face]})
        t0 = time.monotonic()
        expect(page.locator("#cm-headline")).to_contain_text("Period 4 Maths", timeout=10000)
        followed_in = time.monotonic() - t0
        expect(page.locator("#cm-participants")).to_contain_text("Dana")
        # a newer class starts: the page moves to it by itself
        store.end_session(sid)
        new = store.start_session("Period 5 History", "screen:monitor 1", interval_s=1)
        store.add_frame(new, {"time_s": 0.0, "tiles": [{"box": [0, 0, 90, 60], "name": "Eli", "camera_off": False}],
                              "faces": [dict(face, participant="Eli")]})
        expect(page.locator("#cm-headline")).to_contain_text("Period 5 History", timeout=10000)
        # the teacher picks the earlier one: it stays, though the live class goes on
        page.get_by_label("Session (follows the live class)").click()
        page.get_by_role("option", name=re.compile(r"Period 4 Maths")).click()
        expect(page.locator("#cm-headline")).to_contain_text("Period 4 Maths", timeout=10000)
        store.heartbeat(new)
        time.sleep(2.5)
        assert "Period 4 Maths" in page.locator("#cm-headline").inner_text()
        page.locator("#cm-follow").click()
        expect(page.locator("#cm-headline")).to_contain_text("Period 5 History", timeout=10000)
        page.screenshot(path=str(ARTIFACTS / "class-follows-live.png"))
        store.close()
        assert followed_in < 5
    finally:
        stop_app(p)


def test_plain_states_no_meeting_and_a_quiet_bot(browser, tmp_path):
    """A live class whose screen shows no meeting (an empty desktop: two windows the analyser took
    for tiles, no face) reads "no meeting visible", 0 present and no mood; a bot silent for 15 s
    (one slow frame) is still live and says so; the alert and the flag agree and give reasons."""
    from bot.store import Store
    from model import EMOTIONS

    db = tmp_path / "states.db"
    store = Store(db)
    sid = store.start_session("Period 2 Chemistry", "screen:monitor 1", interval_s=2)
    sc = {e: (0.8 if e == "sad" else 0.2 / 6) for e in EMOTIONS}
    face = {"box": [10, 10, 40, 40], "tile": 0, "participant": "Gil", "role": "participant", "confidence": 0.9,
            "uncertain": False, "emotion": "sad", "scores": sc}
    for t in range(0, 120, 2):
        store.add_frame(sid, {"time_s": float(t), "tiles": [{"box": [0, 0, 90, 60], "name": "Gil", "camera_off": False},
                                                            {"box": [100, 0, 90, 60], "name": None, "camera_off": True}],
                              "faces": [face]})
    desktop = [{"box": [0, 0, 500, 400], "name": None, "camera_off": False},
               {"box": [520, 0, 500, 400], "name": None, "camera_off": False}]
    store.add_frame(sid, {"time_s": 120.0, "tiles": desktop, "faces": []})
    p, url = start_app(db, {}, "--refresh", "1")
    try:
        page, _ = _page(browser, url, viewport_size=(1366, 768))
        head = page.locator("#cm-headline")
        expect(head).to_contain_text("no meeting visible", timeout=30000)
        text = head.inner_text()
        assert re.search(r"Participants present\s*0", text) and re.search(r"Class mood now\s*-", text), text
        flagged = page.locator("#cm-needs-attention").inner_text()
        assert "Gil" in flagged and "read mostly as sad" in flagged, flagged  # a flag gives its reason
        assert "Gil" in page.locator("#cm-alerts").inner_text()                # ... and the Alerts agree
        page.screenshot(path=str(ARTIFACTS / "state-no-meeting.png"))
        with store._db.transaction() as tx:  # the bot's last heartbeat 15 s ago: a slow frame
            tx.execute("UPDATE sessions SET last_heartbeat = last_heartbeat - 15 WHERE id=?", (sid,))
        expect(head).to_contain_text("no update for", timeout=15000)
        assert "live" in head.inner_text() and "finished" not in head.inner_text()
        page.screenshot(path=str(ARTIFACTS / "state-quiet-bot.png"))
    finally:
        store.close()
        stop_app(p)


def test_needs_attention_shows_the_class_alert_first_and_groups_a_burst(browser, tmp_path):
    from bot.store import Store
    from model import EMOTIONS

    db = tmp_path / "burst.db"
    store = Store(db)
    sid = store.start_session("Period 6 Art", "screen", interval_s=5)
    sc = {e: (0.8 if e == "sad" else 0.2 / 6) for e in EMOTIONS}
    for t in range(0, 300, 5):
        store.add_frame(sid, {"time_s": float(t), "tiles": [{"box": [0, 0, 90, 60], "name": None, "camera_off": False}] * 20,
                              "faces": [{"box": [10, 10, 40, 40], "tile": 0, "participant": "Fay", "role": "participant",
                                         "confidence": 0.9, "uncertain": False, "emotion": "sad", "scores": sc}]})
    for k in range(20):  # a page change: everyone on page 1 "gone" within a few seconds
        store.add_alert(sid, "participant_absent", f"Student {k:02d} has been off camera or away for 5 min",
                        280.0 + k * 0.2, f"Student {k:02d}")
    store.add_alert(sid, "class_valence", "class mood negative: valence -0.62 below -0.25 for 3 min", 250.0)
    store.close()
    p, url = start_app(db, {}, "--refresh", "2")
    try:
        page, _ = _page(browser, url, viewport_size=(1366, 768))
        panel = page.locator("#cm-needs-attention")
        expect(panel).to_contain_text("20 left the view at once: page change?", timeout=30000)
        items = panel.locator("li")
        assert "class mood negative" in items.first.inner_text()
        assert "left the view" in items.nth(1).inner_text()
        assert items.count() <= 4  # twenty alerts read as one line, not twenty
        page.screenshot(path=str(ARTIFACTS / "needs-attention-burst.png"))
    finally:
        stop_app(p)


def _analyse_upload(browser, app, video: Path, keep_faces: bool = False, every: float | None = None):
    """Open the Recordings tab, upload `video` (ticking *Keep face images* if asked) and press
    Analyse; returns the page once the new analysis is the one shown."""
    page, _ = _page(browser, app)
    page.get_by_role("tab", name="Recordings").click()
    page.locator("#cm-analyse").wait_for(timeout=30000)
    expect(page.locator("#cm-analyse")).to_be_enabled(timeout=240000)  # an earlier analysis has finished
    if keep_faces:
        page.locator("#cm-keep-faces input[type=checkbox]").check()
    if every is not None:  # typed into the slider's box; the slider itself must show it before Analyse
        box = page.locator("#cm-every input[type=number]")
        box.fill(str(every))
        box.press("Enter")
        box.press("Tab")
        expect(page.locator("#cm-every input[type=range]")).to_have_value(str(every), timeout=10000)
    page.locator("#cm-upload input[type=file]").set_input_files(str(video))
    # Gradio draws the name as stem and suffix in two spans, sometimes with white space between them
    shown = re.compile(re.escape(video.stem) + r"\s*" + re.escape(video.suffix))
    expect(page.locator("#cm-upload")).to_contain_text(shown, timeout=60000)
    page.locator("#cm-analyse").click()
    expect(page.locator("#cm-jobs input")).to_have_value(re.compile(re.escape(video.name)), timeout=60000)
    return page


def test_recording_upload_gives_timeline_and_downloads(browser, app, fer_faces, tmp_path):
    video = face_video(tmp_path / "lesson.mp4", fer_faces[200:], seconds=10, fps=5)
    page = _analyse_upload(browser, app, video)
    links = page.locator("#cm-downloads a")
    links.nth(2).wait_for(timeout=180000)
    assert page.locator("#cm-rec-charts svg polyline").count() >= 1
    hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
    bodies = {Path(h.split("?")[0]).suffix: page.request.get(h if h.startswith("http") else app + h).body()
              for h in hrefs}
    assert set(bodies) == {".csv", ".json", ".html"}
    assert bodies[".csv"].decode().splitlines()[0].startswith("time_s,participant")
    result = json.loads(bodies[".json"])
    assert result["source"] == "lesson.mp4" and [f["time_s"] for f in result["frames"]] == [0.0, 2.0, 4.0, 6.0, 8.0]
    html = bodies[".html"].decode()
    assert "<svg" in html and "data:image/jpeg;base64" in html and "http" not in html.split("<body>")[1].replace("http://www.w3.org", "")
    # the report in a recording's words: its length, no "Now", its Markdown rendered
    assert "recording, 0:08 long" in html and "<th>Now</th>" not in html and "<th>Seen</th>" in html
    assert "*Keep face images*" not in html and "<em>Keep face images</em>" in html
    # it is the post-class report, made as the recording's last frame was stored
    assert "After the class: lesson.mp4" in html and "Where the lesson lost the class" in html and "Attendance" in html
    expect(page.locator("#cm-rec-headline")).to_be_in_viewport()  # the result came into view when done
    page.screenshot(path=str(ARTIFACTS / "recording-report.png"), full_page=True)
    # the same file again: the first analysis opens, no second session
    page.evaluate("window.scrollTo(0, 0)")
    page.locator("#cm-upload").get_by_role("button", name="Clear").click()
    page.locator("#cm-upload input[type=file]").set_input_files(str(video))
    expect(page.locator("#cm-upload")).to_contain_text(re.compile(r"lesson\s*\.mp4"), timeout=60000)
    page.locator("#cm-analyse").click()
    expect(page.locator("#cm-rec-progress")).to_contain_text("this is that analysis (no second session was made)",
                                                              timeout=60000)
    expect(page.locator("#cm-rec-headline")).to_be_in_viewport()
    page.screenshot(path=str(ARTIFACTS / "recording-uploaded-twice.png"))


def test_face_images_are_kept_only_when_ticked_and_can_be_deleted(browser, app, fer_faces, tmp_path):
    import io
    import zipfile

    video = face_video(tmp_path / "consented.mp4", fer_faces[300:], seconds=4, fps=5)
    page = _analyse_upload(browser, app, video, keep_faces=True)
    links = page.locator("#cm-downloads a")
    links.nth(3).wait_for(timeout=180000)
    hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
    zips = [h for h in hrefs if h.split("?")[0].endswith("-faces.zip")]
    assert len(zips) == 1, hrefs
    body = page.request.get(zips[0] if zips[0].startswith("http") else app + zips[0]).body()
    with zipfile.ZipFile(io.BytesIO(body)) as z:
        names = z.namelist()
        assert len(names) == 4 and all(n.endswith(".jpg") for n in names)  # two faces, frames at 0 and 2 s
        pic = cv2.imdecode(np.frombuffer(z.read(names[0]), np.uint8), cv2.IMREAD_COLOR)
        assert pic.shape == (96, 96, 3)
    page.get_by_role("tab", name="Privacy & about").click()
    page.get_by_label("Session to delete").click()
    page.get_by_role("option", name=re.compile(r"consented\.mp4 .* - face images kept")).click()
    page.locator("#cm-delete-faces").click()
    page.get_by_text("4 face image(s) deleted; this session keeps no more.").wait_for(timeout=30000)
    # the download went with them (ours and the copy Gradio served)
    assert page.request.get(zips[0] if zips[0].startswith("http") else app + zips[0]).status in (403, 404)
    expect(page.get_by_label("Session to delete")).to_have_value(re.compile(r"consented\.mp4 \(#\d+\)$"))
    page.screenshot(path=str(ARTIFACTS / "face-images-deleted.png"), full_page=True)


def test_a_recordings_progress_counts_frames_and_its_result_survives_a_reload(browser, app, fer_faces, tmp_path):
    video = face_video(tmp_path / "long-lesson.mp4", fer_faces[100:], seconds=120, fps=5)
    page = _analyse_upload(browser, app, video, every=0.5)
    progress = page.locator("#cm-rec-progress")
    expect(progress).to_contain_text(re.compile(r"frame \d+ of 240"), timeout=120000)
    assert page.locator("#cm-analyse").is_disabled()  # one analysis at a time
    assert "frame" in progress.inner_text() and "Analysing long-lesson.mp4" in progress.inner_text()
    page.screenshot(path=str(ARTIFACTS / "recording-progress.png"))
    page.reload()  # the job goes on, and its result is reachable from the fresh page
    page.get_by_role("tab", name="Recordings").click()
    page.locator("#cm-downloads a").nth(2).wait_for(timeout=240000)
    expect(page.locator("#cm-jobs input")).to_have_value(re.compile(r"long-lesson\.mp4, .*: done"))
    expect(page.locator("#cm-rec-headline")).to_contain_text("Participants seen")
    assert "now" not in page.locator("#cm-rec-headline").inner_text().lower()  # labels of a finished recording
    assert page.locator("#cm-analyse").is_enabled()
    thumbs = page.locator("#cm-keyframes details.cm-kf")
    assert thumbs.count() >= 1
    small = thumbs.first.locator("img").bounding_box()["width"]
    thumbs.first.locator("summary").click()
    assert thumbs.first.locator("img").bounding_box()["width"] > 2 * small  # a thumbnail opens large
    page.screenshot(path=str(ARTIFACTS / "recording-after-reload.png"), full_page=True)


def test_the_report_blurs_faces_unless_they_were_opted_in(tmp_path, fer_faces):
    """Key frames in the app and the HTML report: boxes on a blurred frame, unless face images were
    opted in for the session."""
    from bot.store import Store
    from ui.state import App, AppConfig

    video = face_video(tmp_path / "lesson.mp4", fer_faces[40:], seconds=4, fps=5)
    app = App(AppConfig(db_path=str(tmp_path / "r.db"), work_dir=str(tmp_path / "w")), store=Store(tmp_path / "r.db"))
    def detail(img, box):  # sharpness inside a face, away from the box drawn round it
        x, y, w, h = box
        inner = cv2.cvtColor(img[y + h // 4: y + 3 * h // 4, x + w // 4: x + 3 * w // 4], cv2.COLOR_BGR2GRAY)
        return cv2.Laplacian(inner, cv2.CV_64F).var()

    raw = cv2.VideoCapture(str(video)).read()[1]
    sharp = []
    for keep in (False, True):
        report, files, _ = app.analyze_upload([str(video)], 2.0, keep_faces=keep)
        result = json.loads(Path(next(f for f in files if f.endswith(".json"))).read_text())
        box = result["frames"][0]["faces"][0]["box"]
        sharp.append(detail(report.key_frames[0][1], box))
        html_text = Path(next(f for f in files if f.endswith(".html"))).read_text()
        assert html_text.count("data:image/jpeg;base64") == len(report.key_frames)
    assert sharp[0] < 0.1 * detail(raw, box)   # no opt-in: blurred past recognition
    assert sharp[1] > 0.5 * detail(raw, box)   # opted in: the face as it was


def test_privacy_tab_shows_the_stored_retention_and_asks_before_deleting(browser, tmp_path):
    from bot.store import Store

    db = tmp_path / "p.db"
    seed_store(db)
    store = Store(db)
    store.set_setting("retention_days", 7)
    store.close()
    p, url = start_app(db, {})
    try:
        page, _ = _page(browser, url)
        page.get_by_role("tab", name="Privacy & about").click()
        expect(page.locator("#cm-retention input")).to_have_value("7", timeout=30000)
        page.locator("#cm-retention input").fill("12")
        page.locator("#cm-save-retention").click()
        expect(page.locator("#cm-retention-msg")).to_contain_text("Keeping sessions for 12 days")
        page.reload()
        page.get_by_role("tab", name="Privacy & about").click()
        expect(page.locator("#cm-retention input")).to_have_value("12", timeout=30000)

        # the store-wide class-only mode: ticked, saved, stored; new sessions follow it
        expect(page.locator("#cm-class-only-msg")).to_contain_text("An admin can switch", timeout=30000)
        page.locator("#cm-class-only input").check()
        page.locator("#cm-save-class-only").click()
        expect(page.locator("#cm-class-only-msg")).to_contain_text("Class-only mode is on", timeout=15000)
        assert Store(db).class_only

        # an error (nothing chosen) is a toast; no control is left blocked
        page.locator("#cm-delete").click()
        page.get_by_text("choose a session to delete").first.wait_for(timeout=15000)
        assert page.locator("#cm-del-session .error, #cm-delete-msg .error").count() == 0
        page.get_by_label("Session to delete").click()
        page.get_by_role("option", name=re.compile(r"Period 3 Biology")).click()
        page.locator("#cm-delete").click()
        confirm = page.locator("#cm-confirm")
        expect(confirm).to_be_visible(timeout=15000)
        expect(page.locator("#cm-confirm-text")).to_contain_text("Period 3 Biology")
        page.screenshot(path=str(ARTIFACTS / "delete-confirmation.png"))
        page.locator("#cm-confirm-no").click()
        expect(confirm).to_be_hidden()
        assert Store(db).session(1) is not None  # cancelled: nothing deleted
        page.locator("#cm-delete").click()
        page.locator("#cm-confirm-yes").click()
        expect(page.locator("#cm-delete-msg")).to_contain_text("Session deleted.", timeout=15000)
        assert Store(db).session(1) is None
    finally:
        stop_app(p)


def test_corrupt_upload_gives_a_readable_error(browser, app, tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(os.urandom(5000))
    page = _analyse_upload(browser, app, bad)
    page.get_by_text("not a video OpenCV can open").first.wait_for(timeout=60000)
    assert "Traceback" not in page.content()
    page.screenshot(path=str(ARTIFACTS / "corrupt-upload.png"), full_page=True)


def write_y4m(path: Path, frames: list[np.ndarray], fps: int = 10) -> Path:
    h, w = frames[0].shape[:2]
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for img in frames:
            f.write(b"FRAME\n")
            f.write(cv2.cvtColor(img, cv2.COLOR_BGR2YUV_I420).tobytes())
    return path


def test_webcam_tab_annotates_the_fake_camera(browser, app, fer_faces, tmp_path):
    pw, _ = browser
    face = cv2.cvtColor(cv2.resize(fer_faces[5], (360, 360), interpolation=cv2.INTER_CUBIC), cv2.COLOR_GRAY2BGR)
    frame = cv2.copyMakeBorder(face, 60, 60, 140, 140, cv2.BORDER_REPLICATE)
    y4m = write_y4m(tmp_path / "faces.y4m", [frame] * 10)
    b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS + [
        "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={y4m}"])
    try:
        context = b.new_context(viewport={"width": 1400, "height": 1000})
        context.grant_permissions(["camera"], origin=app)
        page = context.new_page()
        page.goto(app)
        before = _cached_files(app)
        page.get_by_role("tab", name="Live webcam").click(timeout=60000)
        page.get_by_text("Click to Access Webcam").first.click(timeout=60000)
        page.locator("button").filter(has_text=re.compile(r"^\W*Start test\W*$")).first.click(timeout=60000)
        page.locator("#cm-annotated img").first.wait_for(timeout=90000)
        page.locator("#cm-scores").get_by_text("%").first.wait_for(timeout=60000)
        text = page.locator("#cm-scores").inner_text()
        assert any(e in text for e in ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"))
        time.sleep(2)  # several more frames streamed and answered
        assert _cached_files(app) == before  # camera frames and their annotations never reach the disk
        page.screenshot(path=str(ARTIFACTS / "tab-webcam-live.png"), full_page=True)
    finally:
        b.close()


def test_password_is_required_and_wrong_one_refused(browser, tmp_path):
    p, url = start_app(tmp_path / "a.db", {"CLASSMOOD_AUTH": "teacher:s3cret-pass"})
    try:
        _, b = browser
        page = b.new_context().new_page()
        page.goto(url)
        page.get_by_label("username").fill("teacher")
        page.get_by_label("password").fill("wrong")
        page.get_by_role("button", name="Login").click()
        page.get_by_text("Incorrect").first.wait_for(timeout=30000)
        page.screenshot(path=str(ARTIFACTS / "login-refused.png"))
        with pytest.raises(Exception):
            urllib.request.urlopen(url + "/config", timeout=5)
        page.get_by_label("username").fill("teacher")
        page.get_by_label("password").fill("s3cret-pass")
        page.get_by_role("button", name="Login").click()
        page.get_by_role("tab", name="Class mood").wait_for(timeout=60000)
    finally:
        stop_app(p)


def test_stopping_the_app_deletes_its_cached_uploads(tmp_path):
    cache = tmp_path / "cache"
    p, url = start_app(tmp_path / "c.db", {"GRADIO_TEMP_DIR": str(cache)})
    try:
        photo = tmp_path / "student.jpg"
        cv2.imwrite(str(photo), np.full((64, 64, 3), 128, np.uint8))
        boundary = "classmood-test"
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"student.jpg\"\r\n"
                f"Content-Type: image/jpeg\r\n\r\n").encode() + photo.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
        req = urllib.request.Request(url + "/gradio_api/upload", data=body, method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        stored = json.loads(urllib.request.urlopen(req, timeout=30).read())
        assert len(stored) == 1 and Path(stored[0]).is_file() and cache in Path(stored[0]).parents
    finally:
        stop_app(p)  # SIGTERM, as docker stop and systemd send
    assert p.returncode == 0
    assert [f for f in cache.rglob("*") if f.is_file()] == []


def test_refuses_public_bind_without_password(tmp_path):
    exe = Path(sys.executable).parent / "classmood-ui"
    env = {k: v for k, v in os.environ.items() if k != "CLASSMOOD_AUTH"}
    r = subprocess.run([str(exe), "--host", "0.0.0.0", "--db", str(tmp_path / "x.db")], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "refusing to serve on 0.0.0.0 without a password" in r.stderr


def test_files_outside_the_app_cannot_be_downloaded(app):
    for path in ("/gradio_api/file=/etc/passwd", "/file=/etc/passwd", "/gradio_api/file=" + str(REPO / "pyproject.toml")):
        try:
            body = urllib.request.urlopen(app + path, timeout=10).read()
        except urllib.error.HTTPError as e:
            assert e.code in (403, 404), path
        else:
            assert b"root:" not in body and b"[project]" not in body, path
