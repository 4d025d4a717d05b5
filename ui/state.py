"""The app's state and handlers, apart from Gradio: testable without a browser.

`App` reads and deletes only through `bot.store.Store` and analyses only through
`bot.analyze_path` / `bot.GalleryAnalyzer`. Each tab module (`ui/tabs/`) builds its part of the page
from one `App` with `build(state)`.
"""

from __future__ import annotations

import atexit
import dataclasses
import itertools
import json
import logging
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from bot import GalleryAnalyzer, analyze_path
from bot.accounts import LOCAL, Accounts, Viewer, key_of
from bot.aggregate import SessionWindows
from bot.mood import summarize
from bot.pipeline import Analysis
from bot.roster import Roster
from bot.sources import SourceError, read_image
from bot.store import Store
from model import EMOTIONS
from bot import report as rp
from ui.annotate import annotate
from ui.handlers import explained, message_of
from bot import postclass
from bot.pipeline import session_parts
from bot.report import build_report, img_tag
from ui.term import term_html

log = logging.getLogger("classmood.ui")
VIDEO_TYPES = [".mp4", ".webm", ".mkv", ".avi", ".mov"]
IMAGE_TYPES = [".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"]
DOWNLOAD_MAX_AGE_S = 3600  # generated downloads, Gradio's cached copies and finished jobs live this long


@dataclass(frozen=True)
class AppConfig:
    db_path: str | None = None          # None: $CLASSMOOD_DB or the user data folder (as classmood-bot)
    refresh_s: float = 5.0              # the class tab re-reads the store this often (--refresh)
    recent_minutes: float = 5.0
    max_upload_bytes: int = 2 * 1024 ** 3        # one upload (--max-upload)
    max_upload_total_bytes: int = 4 * 1024 ** 3  # all uploads on disk together (--max-upload-total)
    allowed_origins: tuple[str, ...] = ()        # besides the app's own (--allowed-origin, for a reverse proxy)
    login_window_s: float = 60.0                 # failed sign-ins: at most 5 per address in this window
    login_max_failures: int = 5
    work_dir: str | None = None         # where generated downloads go (default: a temp folder)
    single_account: tuple[str, str] | None = field(default=None, repr=False)  # CLASSMOOD_AUTH: an admin
    sign_in_hours: float = 8.0          # a sign-in lasts this long (--sign-in-hours)


@dataclass
class ClassView:
    """What the class tab shows after one refresh."""
    choices: list[tuple[str, int]]
    selected: int | None
    headline: str
    glance_chart: str
    needs_attention: str
    charts: str
    participants: str
    alerts: str
    newest_alert: int
    toast: str | None = None  # new alerts since the last refresh, grouped, in one line


@dataclass
class Job:
    """One recording analysis, run in the background; kept (with its results) for an hour after it ends."""
    id: int
    name: str
    started: float
    status: str = "starting"   # starting, running, done, failed
    done: int = 0
    total: int = 0
    message: str = ""
    session_id: int | None = None
    report: object | None = None
    files: list[str] = field(default_factory=list)
    ended: float | None = None
    stage: str = ""            # what runs after the frames ("making the report: key frames, downloads")
    key: str = ""              # the upload's content and settings (`upload_key`): the same upload, the same job
    owner: str = ""            # the account that started it (a teacher sees their own jobs, an admin all)
    note: str = ""             # said above its results ("already analysed at 10:42: ...")
    first_done: float | None = None  # when the first frame was done (model loading and the first
    shown_left: tuple[float, float] | None = None  # layout search excluded from the rate); (when, left) as shown

    @property
    def running(self) -> bool:
        return self.status in ("starting", "running")

    def progress(self, done: int, total: int, now: float | None = None) -> None:
        now = time.time() if now is None else now
        if done >= 1 and self.first_done is None:
            self.first_done = now
        self.status, self.done, self.total = "running", done, total

    def progress_text(self, now: float | None = None) -> str:
        """"frame 12 of 94, about 40 s left" while it runs; how it ended afterwards. The time left
        is the rate since the first frame (which loads the model and searches the first layout),
        rounded (5 s under a minute, 30 s under ten, then minutes) and steady: it counts down
        between frames and moves to a new estimate only when that differs by a fifth or more."""
        if self.status == "done":
            return f"Done: {self.done} frame{'s' * (self.done != 1)} analysed in {_span(self.ended - self.started)}."
        if self.status == "failed":
            return f"Failed: {self.message}"
        if self.stage:
            return self.stage
        if not self.total:
            return "Opening the recording..."
        now = time.time() if now is None else now
        text = f"frame {self.done} of {self.total}"
        if self.first_done is not None and self.done >= 3 and now - self.first_done > 2:
            fresh = (now - self.first_done) / (self.done - 1) * (self.total - self.done)
            if self.shown_left is not None:
                at, left = self.shown_left
                counted = max(0.0, left - (now - at))
                if abs(fresh - counted) < 0.2 * max(counted, 5.0):
                    fresh = counted
                else:
                    self.shown_left = (now, fresh)
            else:
                self.shown_left = (now, fresh)
            text += f", about {_rounded(fresh)} left"
        return text

    def label(self) -> str:
        when = time.strftime("%H:%M", time.localtime(self.started))
        return f"{self.name}, {when}: " + {"done": "done", "failed": "failed"}.get(self.status, "running")


def _rounded(seconds: float) -> str:
    """A time left as a person says it: to 5 s under a minute, to 30 s under ten minutes, else to
    the minute."""
    step = 5 if seconds < 60 else 30 if seconds < 600 else 60
    return _span(max(step, round(seconds / step) * step))


def _span(seconds: float) -> str:
    s = max(0, int(round(seconds)))
    return f"{s // 60} min {s % 60:02d} s" if s >= 60 else f"{s} s"


class App:
    """State and handlers behind the Blocks (plain methods: testable without a browser)."""

    def __init__(self, config: AppConfig, store=None, analyzer=None):
        self.config = config
        self.store = store or Store(config.db_path)
        self.analyzer = analyzer or GalleryAnalyzer()
        self.work = Path(config.work_dir or tempfile.mkdtemp(prefix="classmood-ui-"))
        self.work.mkdir(parents=True, exist_ok=True)
        if config.work_dir is None:  # our own temporary folder of generated downloads: gone at exit
            atexit.register(shutil.rmtree, self.work, ignore_errors=True)
        self.jobs: dict[int, Job] = {}
        self._job_ids = itertools.count(1)
        self._jobs_lock = threading.Lock()
        self._reader_stores: list | None = None
        self._windows: dict = {}   # session id -> its SessionWindows: a refresh reads only open windows
        self._panels: dict = {}    # (session id, ended, frames) -> its "Last class: report" panel
        self._abandoned_checked: float | None = None  # when sessions of dead bots were last looked for
        # accounts on a connection of their own: each request's sign-in is checked on it, never
        # queued behind a long read of the class tab's
        self.accounts = Accounts(self.store.another(), config.single_account)

    def viewer(self, username: str | None) -> Viewer:
        """The account a request was signed in as (`bot.accounts.Accounts.viewer`): every handler
        reads through it."""
        return self.accounts.viewer(username)

    def visible_session(self, viewer: Viewer, session_id) -> dict | None:
        """Session `session_id` where `viewer` may read it, else None (the same answer as for a
        session that does not exist: a teacher learns nothing of another's classes)."""
        if session_id is None:
            return None
        s = self.store.session(int(session_id))
        return s if s is not None and viewer.sees(s["class_name"], s["teacher"]) else None

    @staticmethod
    def must_admin(viewer: Viewer, doing: str) -> None:
        if not viewer.admin:
            raise PermissionError(f"only the school's admin can {doing}")

    def set_class_only(self, viewer: Viewer, on: bool) -> bool:
        """The store-wide class-only mode (the admin's): every new session stores the class's counts
        alone. Sessions already stored are not changed. Returns the mode as stored."""
        self.must_admin(viewer, "change the class-only mode")
        self.store.set_setting("class_only", "1" if on else "0")
        return self.store.class_only

    # -- webcam -------------------------------------------------------------------------------
    def webcam(self, rgb: np.ndarray | None):
        """One webcam (or uploaded) frame, RGB -> (the annotated frame as an inline <img>,
        {emotion: probability}). Inline, not a gr.Image: Gradio writes each output image to disk."""
        import cv2

        if rgb is None or not isinstance(rgb, np.ndarray) or rgb.size == 0:
            return "", {}
        bgr = cv2.cvtColor(rgb[..., :3], cv2.COLOR_RGB2BGR)
        frame = self.analyzer.analyze(bgr)
        out = img_tag(annotate(bgr, frame, tiles=False), "annotated frame")
        faces = frame.participant_faces or frame.faces
        if not faces:
            return out, {}
        best = max(faces, key=lambda f: f.box[2] * f.box[3])
        return out, {e: round(float(v), 4) for e, v in zip(EMOTIONS, best.scores)}

    # -- sessions -----------------------------------------------------------------------------
    def session_choices(self, viewer: Viewer, sessions: pd.DataFrame | None = None
                        ) -> tuple[list[tuple[str, int]], int | None]:
        """(label, id) of every session `viewer` may read with at least one frame, newest first,
        and the one to show: the newest live session, else the newest. A session without frames (a
        bot that has not analysed anything yet, or one that crashed first) is not listed."""
        s = viewer.visible(self.store.sessions() if sessions is None else sessions)
        s = s[s["frames"] > 0]
        marks = {"live": " - live", "keep_faces": " - face images kept"}
        choices = [(f"{r.name} (#{r.id})" + "".join(m for k, m in marks.items() if getattr(r, k)), int(r.id))
                   for r in s.itertuples()]
        live = s[s["live"]]
        default = int(live.iloc[0]["id"]) if len(live) else (int(s.iloc[0]["id"]) if len(s) else None)
        return choices, default

    def term_view(self, viewer: Viewer) -> str:
        """The term at a glance (`ui.term`) of the lessons `viewer` may read."""
        lessons = viewer.visible(self.store.lessons())
        who = "" if not self.accounts.required() else (
            ": every class of the school" if viewer.admin else f": the classes of {viewer.label}")
        users = self.accounts.store.users()
        names = {key_of(n): f or n for n, f in zip(users["name"], users["full_name"])}
        names.update({key_of(f): f for f in users["full_name"] if f})
        return term_html(lessons, who, names)

    def open_lesson(self, viewer: Viewer, clicked) -> int:
        """The session id of a click in the term view ("<id>@<time>"), where `viewer` may read it;
        ValueError otherwise (the same for a lesson of another class as for one that is gone)."""
        text = str(clicked or "").split("@", 1)[0].strip()
        if not text.isdigit() or self.visible_session(viewer, int(text)) is None:
            raise ValueError("that lesson is not there any more")
        return int(text)

    def bot_command(self, viewer: Viewer = LOCAL) -> str:
        """The exact command that starts a bot writing to this app's database (for a teacher's
        account, as their lesson: `--teacher` names them, so that they see it)."""
        target = self.store.location if self.config.db_path else None
        teacher = f" --teacher {_quote(viewer.label)}" if viewer.name and not viewer.admin else ""
        return ("classmood-bot --interval 5 --session \"Period 3\"" + teacher
                + (f" --db {_quote(target)}" if target else ""))

    def class_view(self, viewer: Viewer, selected=None, pinned: bool = False, last_alert: int = 0) -> ClassView:
        """One refresh of the class tab for `viewer`: the sessions they may read listed again; the
        newest live one shown unless the teacher `pinned` another (`selected`); everything about
        it; new alerts since `last_alert` grouped into one toast."""

        self._end_abandoned()
        choices, default = self.session_choices(viewer)
        ids = {c[1] for c in choices}
        sid = int(selected) if pinned and selected in ids else default
        if sid is None:
            empty = rp.empty_class_html(self.bot_command(viewer))
            return ClassView(choices, None, empty, "", "", "", "", "", last_alert)
        r = rp.build_report(self.store, sid, self.config.recent_minutes, window_s=60.0, readers=self._readers(),
                            windows=self._session_windows(sid))
        newest = int(r.alerts["id"].max()) if len(r.alerts) else 0
        fresh = r.alerts[r.alerts["id"] > last_alert] if len(r.alerts) and last_alert >= 0 else r.alerts.iloc[0:0]
        toast = rp.alerts_toast(fresh) if len(fresh) and sid == selected else None
        # an ended class opens on its post-class report (moments, whom to follow up) where a live
        # one shows what needs attention now
        panel = self._last_class(sid, r) or rp.needs_attention_html(r)
        return ClassView(choices, sid, rp.headline_html(r), rp.mood_chart(r), panel,
                         rp.more_charts(r), rp.participants_html(r), rp.alerts_html(r), newest, toast)

    def _last_class(self, sid: int, r) -> str:
        """The "Last class: report" panel of an ended session (kept until it changes); "" while it runs."""
        if not r.finished:
            return ""
        key = (sid, str(r.session.get("ended")), int(r.now.frames))
        with self._jobs_lock:
            if key in self._panels:
                return self._panels[key]
        try:
            panel = postclass.panel_html(r, self.store.stage_images(sid))
        except Exception as e:  # noqa: BLE001 - the class view shows what it can
            log.warning("no report panel for session %s: %s", sid, e)
            return ""
        with self._jobs_lock:
            while len(self._panels) >= 4:
                self._panels.pop(next(iter(self._panels)))
            self._panels[key] = panel
        return panel

    def _end_abandoned(self, every_s: float = 60.0) -> None:
        """Mark sessions whose bot is plainly dead as ended (`Store.end_abandoned`), once a minute
        at most: an app that runs for weeks does not wait for its next start."""
        now = time.monotonic()
        if self._abandoned_checked is not None and now - self._abandoned_checked < every_s:
            return
        self._abandoned_checked = now
        try:
            self.store.end_abandoned()
        except Exception as e:  # noqa: BLE001 - the refresh shows what it can; the reads report errors
            log.warning("could not mark abandoned sessions: %s", e)

    def _session_windows(self, sid: int):
        """The kept windows of session `sid` (of the last few sessions shown)."""

        with self._jobs_lock:
            if sid not in self._windows:
                while len(self._windows) >= 4:
                    self._windows.pop(next(iter(self._windows)))
                self._windows[sid] = SessionWindows(sid, 60.0)
            return self._windows[sid]

    def _readers(self) -> list:
        """Two more connections to the store, opened once: a class tab refresh reads on three."""
        with self._jobs_lock:
            if self._reader_stores is None:
                self._reader_stores = [self.store.another() for _ in range(2)]
            return self._reader_stores

    def export(self, viewer: Viewer, session_id) -> list[str]:
        """CSV of observations and the HTML report of a stored session `viewer` may read."""

        if self.visible_session(viewer, session_id) is None:
            raise ValueError("choose a session first")
        sid = int(session_id)
        out = self._out_dir(f"session-{sid}")
        csv_path = out / f"classmood-session-{sid}.csv"
        self.session_csv(sid, csv_path)
        html_path = out / f"classmood-session-{sid}.html"
        html_path.write_text(self.report_of(sid), encoding="utf-8")
        faces = self.face_zip(sid, out)
        return [str(csv_path), str(html_path)] + ([str(faces)] if faces else [])

    def session_csv(self, sid: int, path: Path) -> None:
        """A session's rows as CSV: each face's expression, or a class-only session's windows."""
        rows = self.store.timeline(sid, 60.0) if self.store.aggregate_only(sid) else self.store.observations(sid)
        rows.to_csv(path, index=False)

    def report_of(self, sid: int) -> str:
        """The post-class report of an ended session as stored when it ended (made now where there
        is none); a live session's as of now."""
        session = self.store.session(sid)
        stored = self.store.report(sid) if session is not None and not session["live"] else None
        return stored[1] if stored else postclass.build(self.store, sid)[0]

    def delete_session(self, viewer: Viewer, session_id: int) -> bool:
        """Delete a session with all its data, and any face-image downloads made of it (an admin's)."""
        self.must_admin(viewer, "delete sessions")
        gone = self.store.delete_session(int(session_id))
        with self._jobs_lock:
            self._windows.pop(int(session_id), None)
        self._drop_face_zips(int(session_id))
        return gone

    def delete_face_images(self, viewer: Viewer, session_id: int) -> int:
        """Delete a session's face images (see `Store.delete_face_images`) and their downloads (an
        admin's)."""
        self.must_admin(viewer, "delete face images")
        n = self.store.delete_face_images(int(session_id))
        self._drop_face_zips(int(session_id))
        return n

    def _drop_face_zips(self, session_id: int) -> None:
        """Remove the session's face-image zips from our downloads folder and from Gradio's cache,
        which keeps a copy of every file it served."""
        from gradio.utils import get_upload_folder

        name = face_zip_name(session_id)
        for folder in (self.work, Path(get_upload_folder())):
            for p in folder.rglob(name) if folder.is_dir() else ():
                p.unlink(missing_ok=True)

    def face_zip(self, session_id: int, out: Path) -> Path | None:
        """A zip of a session's kept face images (`<participant>/<time>s_<emotion>.jpg`); None
        where the session kept none."""
        import zipfile

        df = self.store.face_images(int(session_id))
        if df.empty:
            return None
        path = out / face_zip_name(int(session_id))
        with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:  # JPEGs do not compress further
            for k, r in enumerate(df.itertuples(index=False)):
                who = "".join(c if c.isalnum() or c in "-_ " else "_" for c in str(r.participant or "unknown"))
                z.writestr(f"{who}/{r.time_s:09.1f}s_{r.emotion}_{k}.jpg", r.jpeg)
        return path

    def _out_dir(self, name: str) -> Path:
        """A new folder for one set of downloads; folders older than an hour go first."""
        self._sweep()
        return Path(tempfile.mkdtemp(prefix=name + "-", dir=self.work))

    def _sweep(self, max_age_s: float = DOWNLOAD_MAX_AGE_S) -> None:
        """Delete our download folders (reports, face-image zips, copies of uploaded images) older
        than `max_age_s`, as Gradio does with its own copies."""
        cutoff = time.time() - max_age_s
        for d in self.work.iterdir():
            if d.is_dir() and d.stat().st_mtime < cutoff:
                shutil.rmtree(d, ignore_errors=True)

    # -- recordings ---------------------------------------------------------------------------
    def check_upload(self, files) -> tuple[list[Path], str]:
        """The uploaded paths and what they are ("video" or "images"); ValueError saying what to do
        when they cannot be analysed together."""
        paths = [Path(f) for f in (files or [])]
        if not paths:
            raise ValueError("upload a class recording (mp4, webm, mkv, avi) or images first")
        kinds = {"video" if p.suffix.lower() in VIDEO_TYPES else "image" if p.suffix.lower() in IMAGE_TYPES
                 else "other" for p in paths}
        if "other" in kinds:
            bad = next(p.name for p in paths if p.suffix.lower() not in VIDEO_TYPES + IMAGE_TYPES)
            raise ValueError(f"{bad}: not a supported file; upload a video ({', '.join(VIDEO_TYPES)}) or images")
        if kinds == {"video", "image"} or (kinds == {"video"} and len(paths) > 1):
            raise ValueError("upload one video, or any number of images, at a time")
        return paths, "video" if kinds == {"video"} else "images"

    def analyze_upload(self, files, every: float, progress=None, keep_faces: bool = False, roster=None,
                       stage=None, key: str | None = None, viewer: Viewer = LOCAL):
        """Analyse uploaded files (one video, or images) -> (report, downloads, session id).
        `keep_faces`: the opt-in to keep participants' face images with the session;
        `progress(done, total)` after each frame; `stage(text)` when the frames are done and the
        report is made; `roster`: a class roster (file or `Roster`) the tiles are named after;
        `key`: the upload's `upload_key`, stored with the session (a second upload of it opens it);
        `viewer`: the account that uploaded it, the session's teacher (they see it)."""

        paths, kind = self.check_upload(files)
        work = self._out_dir("upload")
        if kind == "video":
            target, name = paths[0], paths[0].name
        else:
            target = work / "images"
            target.mkdir()
            for p in paths:
                shutil.copy(p, target / p.name)
            name = paths[0].name if len(paths) == 1 else f"{len(paths)} images"
        sid = self.store.start_session(name, f"upload:{name}", keep_faces=keep_faces, content_hash=key,
                                       teacher=viewer.name or None)
        try:
            tracker, sink = session_parts(self.store, sid, self.analyzer, recording=True, roster=roster)
            result = analyze_path(target, every=float(every), analyzer=self.analyzer, tracker=tracker, sink=sink,
                                  progress=progress)
        except SourceError as e:
            self.store.delete_session(sid)
            raise ValueError(str(e).replace(str(target.parent) + os.sep, "")) from None
        finally:
            if self.store.session(sid) is not None:
                self.store.end_session(sid)
        result = dataclasses.replace(result, source=name)
        if stage is not None:
            stage("Making the report: key frames and downloads...")
        class_only = self.store.aggregate_only(sid)
        report = build_report(self.store, sid, self.config.recent_minutes)
        # a class-only session keeps no pictures: no key frames either
        report.key_frames = [] if class_only else self.key_frames(target, result, keep_faces=keep_faces)
        made = postclass.make_report(self.store, sid, key_frames=report.key_frames)
        stem = Path(name).stem.replace(" ", "_") or "recording"
        json_path, csv_path, html_path = (work / f"{stem}.json", work / f"{stem}.csv", work / f"{stem}.html")
        json_path.write_text(json.dumps(result.to_dict(class_only=class_only), ensure_ascii=False, indent=1))
        self.session_csv(sid, csv_path)
        html_path.write_text(made.html, encoding="utf-8")
        faces = self.face_zip(sid, work)
        return report, [str(csv_path), str(json_path), str(html_path)] + ([str(faces)] if faces else []), sid

    def stored_upload(self, sid: int):
        """An upload's session read back from the store -> (report, downloads, session id): its
        report and observations (key frames and the JSON of the analysis are made only once)."""

        report = build_report(self.store, sid, self.config.recent_minutes)
        work = self._out_dir("upload")
        stem = Path(str(report.session["name"])).stem.replace(" ", "_") or "recording"
        csv_path, html_path = work / f"{stem}.csv", work / f"{stem}.html"
        self.session_csv(sid, csv_path)
        html_path.write_text(self.report_of(sid), encoding="utf-8")
        faces = self.face_zip(sid, work)
        return report, [str(csv_path), str(html_path)] + ([str(faces)] if faces else []), sid

    def start_job(self, viewer: Viewer, files, every: float, keep_faces: bool = False, roster=None) -> Job:
        """Start analysing an upload of `viewer`'s in the background (one at a time per app) and
        return its job; ValueError, at once, for an upload (or roster) that cannot be used or while
        another job runs."""

        paths, _ = self.check_upload(files)
        roster = Roster.from_file(roster) if roster else None
        every = float(every)
        if not every > 0:
            raise ValueError("analyse at least one frame every few seconds (a number above 0)")
        name = paths[0].name if len(paths) == 1 else f"{len(paths)} images"
        key = upload_key(paths, every, keep_faces, roster, owner=viewer.name)
        with self._jobs_lock:
            self._expire_jobs()
            same = next((j for j in self.jobs.values() if j.key == key and j.status == "done"), None)
            if same is not None:
                same.note = (f"{name} was analysed at {time.strftime('%H:%M', time.localtime(same.started))} with "
                             "the same settings: this is that analysis (no second session was made).")
                return same
            busy = next((j for j in self.jobs.values() if j.running), None)
            if busy is not None:
                if busy.owner == viewer.name or viewer.admin:
                    raise ValueError(f"{busy.name} is being analysed: wait for it to finish ({busy.progress_text()})")
                raise ValueError("another teacher's recording is being analysed: try again when it is done")
            job = Job(next(self._job_ids), name, time.time(), key=key, owner=viewer.name)
            self.jobs[job.id] = job
        stored = self.store.analysed(key)
        if stored is not None:  # analysed before this app started: opened from the store
            try:
                job.report, job.files, job.session_id = self.stored_upload(stored)
                job.note = (f"{name} was analysed before with the same settings (session #{stored}): "
                            "this is that analysis (no second session was made).")
                job.status = "done"
                return job
            finally:
                job.ended = time.time()

        progress = job.progress

        def work() -> None:
            try:
                job.report, job.files, job.session_id = self.analyze_upload(
                    [str(p) for p in paths], every, progress, keep_faces=keep_faces, roster=roster,
                    stage=lambda text: setattr(job, "stage", text), key=key, viewer=viewer)
                job.total = max(job.total, job.done)
                job.status = "done"
            except Exception as e:  # shown in the job list; the app goes on
                if not explained(e):
                    log.exception("analysis of %s failed", name)
                job.message, job.status = message_of(e), "failed"
            finally:
                job.ended = time.time()

        threading.Thread(target=work, name=f"classmood-job-{job.id}", daemon=True).start()
        return job

    def job_choices(self, viewer: Viewer) -> list[tuple[str, int]]:
        """The jobs still kept that `viewer` started (an admin: all), newest first."""
        with self._jobs_lock:
            self._expire_jobs()
            return [(j.label(), j.id) for j in sorted(self.jobs.values(), key=lambda j: -j.id)
                    if viewer.admin or j.owner == viewer.name]

    def job(self, viewer: Viewer, job_id) -> Job | None:
        """Job `job_id` where `viewer` started it (an admin: any), else None."""
        j = self.jobs.get(job_id) if job_id is not None else None
        return j if j is not None and (viewer.admin or j.owner == viewer.name) else None

    def busy(self) -> Job | None:
        return next((j for j in self.jobs.values() if j.running), None)

    def _expire_jobs(self) -> None:
        """Finished jobs go an hour after they ended (their downloads are swept then too)."""
        cutoff = time.time() - DOWNLOAD_MAX_AGE_S
        for k in [k for k, j in self.jobs.items() if j.ended is not None and j.ended < cutoff]:
            del self.jobs[k]

    def key_frames(self, target: Path, result: Analysis, n: int = 3, keep_faces: bool = False) -> list[tuple[str, np.ndarray]]:
        """Annotated frames at the lowest mood (frames with faces), then the highest. Unless face
        images were opted in, the picture under the boxes is blurred past recognition."""

        scored = [(summarize([f]).valence, k) for k, f in enumerate(result.frames) if f.faces]
        if not scored:
            return []
        scored.sort()
        picks = [("lowest mood", k) for _, k in scored[:n]]
        if len(scored) > n:
            picks.append(("highest mood", scored[-1][1]))
        out = []
        for what, k in picks:
            fr = result.frames[k]
            try:
                img = read_image(fr.file) if fr.file else (
                    read_image(target) if target.is_file() and target.suffix.lower() in IMAGE_TYPES
                    else video_frame(target, fr.time_s))
            except Exception as e:  # a key frame is a nicety: never fail the report for it
                log.warning("key frame at %.1fs unavailable: %s", fr.time_s, e)
                continue
            if not keep_faces:
                img = blur_past_recognition(img)
            caption = f"{what}: {fr.time_s:.0f} s" + (f" ({Path(fr.file).name})" if fr.file else "")
            out.append((caption, annotate(img, fr)))
        return out

    # -- privacy ------------------------------------------------------------------------------
    def model_card_table(self):
        val = self.analyzer.classifier.val_report
        rows = [{"expression": k, "recall (found when shown)": f"{v['recall']:.0%}",
                 "precision (right when said)": f"{v['precision']:.0%}", "validation faces": v["support"]}
                for k, v in val.get("per_class", {}).items()]
        return pd.DataFrame(rows), val.get("accuracy"), val.get("macro_f1")


def upload_key(paths, every: float, keep_faces: bool, roster=None, owner: str = "") -> str:
    """What makes two uploads the same analysis: the files' bytes (SHA-256, not their names), the
    sampling interval, the face-image opt-in, the roster's names and who uploaded it (one
    teacher's upload never opens another's session)."""
    import hashlib

    h = hashlib.sha256()
    for p in sorted(paths, key=lambda q: Path(q).name):
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        h.update(b"\0")
    names = sorted(roster.names) if roster is not None else []
    h.update(f"every={float(every):g};faces={bool(keep_faces)};roster={names}".encode())
    if owner:
        h.update(f";owner={owner}".encode())
    return h.hexdigest()


def blur_past_recognition(img: np.ndarray, side: int = 640) -> np.ndarray:
    """`img` blurred past recognition (sigma a fortieth of its shorter side), at its own size. The
    blur runs on a copy at most `side` pixels on its longer side, scaled back up: the same picture
    in milliseconds where a direct blur of an 8000x8000 screenshot took 21 s a key frame."""
    import cv2

    h, w = img.shape[:2]
    f = min(1.0, side / max(h, w))
    small = cv2.resize(img, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA) if f < 1 else img
    small = cv2.GaussianBlur(small, (0, 0), sigmaX=max(6.0 * f, min(h, w) * f / 40))
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR) if f < 1 else small


def face_zip_name(session_id: int) -> str:
    return f"classmood-session-{session_id}-faces.zip"


def _quote(text: str) -> str:
    return f'"{text}"' if any(c in text for c in " '\"$&;|") else text


def video_frame(path: Path, t: float) -> np.ndarray:
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        cap.set(cv2.CAP_PROP_POS_MSEC, t * 1000.0)
        ok, img = cap.read()
    finally:
        cap.release()
    if not ok:
        raise ValueError(f"no frame at {t:.1f}s")
    return img
