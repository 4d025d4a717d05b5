"""`classmood-ui`: the teacher's Gradio app.

Tabs: live webcam test; class mood (a live or stored session, auto-refreshing, alerts); recordings
(upload, analyse, report and downloads); privacy and about. Reads and deletes only through
`bot.store.Store`; analyses only through `bot.analyze_path` / `bot.GalleryAnalyzer`.
"""

from __future__ import annotations

import argparse
import atexit
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger("classmood.ui")
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
VIDEO_TYPES = [".mp4", ".webm", ".mkv", ".avi", ".mov"]
IMAGE_TYPES = [".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"]
DOWNLOAD_MAX_AGE_S = 3600  # generated downloads and Gradio's cached copies live this long
CSS = """
.cm-head{margin:4px 0 8px}.cm-title{font-size:20px;font-weight:600;margin-bottom:6px}
.cm-cards{display:flex;gap:12px;flex-wrap:wrap}.cm-card{border:1px solid #ddd;border-radius:8px;padding:8px 18px}
.cm-label{color:#666;font-size:13px}.cm-value{font-size:26px;font-weight:650}
.cm-notice{background:#fff4e5;border:1px solid #f0b37e;padding:8px 12px;border-radius:6px}
"""


@dataclass(frozen=True)
class AppConfig:
    db_path: str | None = None          # None: $CLASSMOOD_DB or the user data folder (as classmood-bot)
    refresh_s: float = 5.0
    recent_minutes: float = 5.0
    max_upload_bytes: int = 2 * 1024 ** 3        # one upload (--max-upload)
    max_upload_total_bytes: int = 4 * 1024 ** 3  # all uploads on disk together (--max-upload-total)
    allowed_origins: tuple[str, ...] = ()        # besides the app's own (--allowed-origin, for a reverse proxy)
    login_window_s: float = 60.0                 # failed sign-ins: at most 5 per address in this window
    login_max_failures: int = 5
    work_dir: str | None = None         # where generated downloads go (default: a temp folder)


class App:
    """State and handlers behind the Blocks (plain methods: testable without a browser)."""

    def __init__(self, config: AppConfig, store=None, analyzer=None):
        from bot import GalleryAnalyzer
        from bot.store import Store

        self.config = config
        self.store = store or Store(config.db_path)
        self.analyzer = analyzer or GalleryAnalyzer()
        self.work = Path(config.work_dir or tempfile.mkdtemp(prefix="classmood-ui-"))
        self.work.mkdir(parents=True, exist_ok=True)
        if config.work_dir is None:  # our own temporary folder of generated downloads: gone at exit
            atexit.register(shutil.rmtree, self.work, ignore_errors=True)

    # -- webcam -------------------------------------------------------------------------------
    def webcam(self, rgb: np.ndarray | None):
        """One webcam (or uploaded) frame, RGB -> (the annotated frame as an inline <img>,
        {emotion: probability}). Inline, not a gr.Image: Gradio writes each output image to disk."""
        import cv2

        from ui.annotate import annotate
        from ui.report import img_tag

        if rgb is None or not isinstance(rgb, np.ndarray) or rgb.size == 0:
            return "", {}
        bgr = cv2.cvtColor(rgb[..., :3], cv2.COLOR_RGB2BGR)
        frame = self.analyzer.analyze(bgr).to_dict()
        out = img_tag(annotate(bgr, frame, tiles=False), "annotated frame")
        faces = [f for f in frame["faces"] if f["role"] == "participant"] or frame["faces"]
        if not faces:
            return out, {}
        best = max(faces, key=lambda f: f["box"][2] * f["box"][3])
        return out, {k: float(v) for k, v in best["scores"].items()}

    # -- sessions -----------------------------------------------------------------------------
    def session_choices(self) -> tuple[list[tuple[str, int]], int | None]:
        s = self.store.sessions()
        marks = {"live": " - live", "keep_faces": " - face images kept"}
        choices = [(f"{r.name} (#{r.id})" + "".join(m for k, m in marks.items() if getattr(r, k)), int(r.id))
                   for r in s.itertuples()]
        live = s[s["live"]]
        default = int(live.iloc[0]["id"]) if len(live) else (int(s.iloc[0]["id"]) if len(s) else None)
        return choices, default

    def class_view(self, session_id, last_alert: int = 0):
        """(headline, charts, participants, alerts, newest alert id, new alert messages)."""
        import pandas as pd

        from ui.report import alerts_table, build_report, charts_html, headline_html, participants_table

        if session_id is None or self.store.session(int(session_id)) is None:
            empty = pd.DataFrame()
            return ("<p>No session yet: start <code>classmood-bot</code> or analyse a recording.</p>", "",
                    empty, empty, last_alert, [])
        r = build_report(self.store, int(session_id), self.config.recent_minutes, window_s=60.0)
        new = r.alerts[r.alerts["id"] > last_alert] if len(r.alerts) else r.alerts
        newest = int(r.alerts["id"].max()) if len(r.alerts) else last_alert
        return (headline_html(r), charts_html(r), participants_table(r), alerts_table(r), newest,
                list(new["message"]) if len(new) else [])

    def export(self, session_id) -> list[str]:
        """CSV of observations and the HTML report of a stored session."""
        from ui.report import build_report, report_html

        if session_id is None or self.store.session(int(session_id)) is None:
            raise ValueError("choose a session first")
        sid = int(session_id)
        out = self._out_dir(f"session-{sid}")
        csv_path = out / f"classmood-session-{sid}.csv"
        self.store.observations(sid).to_csv(csv_path, index=False)
        html_path = out / f"classmood-session-{sid}.html"
        html_path.write_text(report_html(build_report(self.store, sid, self.config.recent_minutes)))
        faces = self.face_zip(sid, out)
        return [str(csv_path), str(html_path)] + ([str(faces)] if faces else [])

    def delete_session(self, session_id: int) -> bool:
        """Delete a session with all its data, and any face-image downloads made of it."""
        gone = self.store.delete_session(int(session_id))
        self._drop_face_zips(int(session_id))
        return gone

    def delete_face_images(self, session_id: int) -> int:
        """Delete a session's face images (see `Store.delete_face_images`) and their downloads."""
        n = self.store.delete_face_images(int(session_id))
        self._drop_face_zips(int(session_id))
        return n

    def _drop_face_zips(self, session_id: int) -> None:
        """Remove the session's face-image zips from our downloads folder and from Gradio's cache,
        which keeps a copy of every file it served."""
        from gradio.utils import get_upload_folder

        name = _face_zip_name(session_id)
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
        path = out / _face_zip_name(int(session_id))
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
    def analyze_upload(self, files, every: float, progress=None, keep_faces: bool = False):
        """Analyse uploaded files (one video, or images) -> (report, downloads, session id).
        `keep_faces`: the opt-in to keep participants' face images with the session."""
        from bot import analyze_path
        from bot.sources import SourceError
        from bot.tracker import Tracker
        from ui.report import build_report, report_html

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
        work = self._out_dir("upload")
        if kinds == {"video"}:
            target, name = paths[0], paths[0].name
        else:
            target = work / "images"
            target.mkdir()
            for p in paths:
                shutil.copy(p, target / p.name)
            name = paths[0].name if len(paths) == 1 else f"{len(paths)} images"
        sid = self.store.start_session(name, f"upload:{name}", keep_faces=keep_faces)
        try:
            result = analyze_path(target, every=float(every), analyzer=self.analyzer, tracker=Tracker(),
                                  store=self.store, session_id=sid,
                                  progress=(lambda d, t: progress(d / max(t, 1), desc=f"frame {d} of {t}"))
                                  if progress else None)
        except SourceError as e:
            self.store.delete_session(sid)
            raise ValueError(str(e).replace(str(target.parent) + os.sep, "")) from None
        finally:
            self.store.end_session(sid)
        result["source"] = name
        report = build_report(self.store, sid, self.config.recent_minutes)
        report.key_frames = self.key_frames(target, result)
        stem = Path(name).stem.replace(" ", "_") or "recording"
        json_path, csv_path, html_path = (work / f"{stem}.json", work / f"{stem}.csv", work / f"{stem}.html")
        json_path.write_text(json.dumps(result, ensure_ascii=False, indent=1))
        self.store.observations(sid).to_csv(csv_path, index=False)
        html_path.write_text(report_html(report))
        faces = self.face_zip(sid, work)
        return report, [str(csv_path), str(json_path), str(html_path)] + ([str(faces)] if faces else []), sid

    def key_frames(self, target: Path, result: dict, n: int = 3) -> list[tuple[str, np.ndarray]]:
        """Annotated frames at the lowest mood (frames with faces), then the highest."""
        from bot.mood import summarize
        from bot.sources import read_image
        from ui.annotate import annotate

        scored = [(summarize([f])["valence"], k) for k, f in enumerate(result["frames"]) if f["faces"]]
        if not scored:
            return []
        scored.sort()
        picks = [("lowest mood", k) for _, k in scored[:n]]
        if len(scored) > n:
            picks.append(("highest mood", scored[-1][1]))
        out = []
        for what, k in picks:
            fr = result["frames"][k]
            try:
                img = read_image(fr["file"]) if fr.get("file") else (
                    read_image(target) if target.is_file() and target.suffix.lower() in IMAGE_TYPES
                    else _video_frame(target, fr["time_s"]))
            except Exception as e:  # a key frame is a nicety: never fail the report for it
                log.warning("key frame at %.1fs unavailable: %s", fr["time_s"], e)
                continue
            caption = f"{what}: {fr['time_s']:.0f} s" + (f" ({Path(fr['file']).name})" if fr.get("file") else "")
            out.append((caption, annotate(img, fr)))
        return out

    # -- privacy ------------------------------------------------------------------------------
    def model_card_table(self):
        import pandas as pd

        val = self.analyzer.classifier.val_report
        rows = [{"expression": k, "recall (found when shown)": f"{v['recall']:.0%}",
                 "precision (right when said)": f"{v['precision']:.0%}", "validation faces": v["support"]}
                for k, v in val.get("per_class", {}).items()]
        return pd.DataFrame(rows), val.get("accuracy"), val.get("macro_f1")


def _face_zip_name(session_id: int) -> str:
    return f"classmood-session-{session_id}-faces.zip"


def _video_frame(path: Path, t: float) -> np.ndarray:
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


def build_app(config: AppConfig | None = None, app: App | None = None):
    """The Gradio Blocks for `config` (models and the store are loaded here, never at import)."""
    import gradio as gr

    from ui.report import LOOKING_DOWN, NOTICE, STORED

    config = config or AppConfig()
    state = app or App(config)
    choices, default = state.session_choices()

    # Gradio keeps a copy of every upload and download in its cache folder: delete each an hour
    # after it was made (checked every 10 minutes), and all of them when the app stops.
    with gr.Blocks(title="ClassMood", delete_cache=(600, DOWNLOAD_MAX_AGE_S), analytics_enabled=False) as demo:
        gr.Markdown("# ClassMood\nHow is the class doing? Expression estimates from the meeting gallery.")
        gr.HTML(f'<div class="cm-notice">{NOTICE}</div>')
        with gr.Tabs():
            with gr.Tab("Live webcam", id="webcam"):
                gr.Markdown("Test the expression model on your own camera (frames are analysed in memory and "
                            "never written to disk), or upload a photo (its copy is deleted an hour later, or when "
                            "the app stops).")
                with gr.Row():
                    with gr.Column():
                        cam = gr.Image(sources=["webcam"], streaming=True, type="numpy", label="Webcam")
                        photo = gr.Image(sources=["upload"], type="numpy", label="Or a photo")
                    with gr.Column():
                        annotated = gr.HTML(label="Annotated", elem_id="cm-annotated")
                        scores = gr.Label(num_top_classes=7, label="Expression scores", elem_id="cm-scores")
                cam.stream(_guard(state.webcam), inputs=cam, outputs=[annotated, scores], stream_every=0.2,
                           concurrency_limit=2, show_progress="hidden")
                photo.upload(_guard(state.webcam), inputs=photo, outputs=[annotated, scores])

            with gr.Tab("Class mood", id="class"):
                with gr.Row():
                    session = gr.Dropdown(choices=choices, value=default, label="Session", scale=4,
                                          elem_id="cm-session")
                    reload_btn = gr.Button("Reload sessions", scale=1)
                    export_btn = gr.Button("Export CSV + HTML report", scale=1)
                head = gr.HTML(elem_id="cm-headline")
                gr.Markdown(f"<small>{LOOKING_DOWN}</small>", elem_id="cm-looking-down")
                charts = gr.HTML(elem_id="cm-charts")
                with gr.Row():
                    people = gr.Dataframe(label="Participants", interactive=False, elem_id="cm-participants")
                    alerts = gr.Dataframe(label="Alerts", interactive=False, elem_id="cm-alerts")
                exported = gr.File(label="Downloads", file_count="multiple", interactive=False)
                last_alert = gr.State(0)
                timer = gr.Timer(config.refresh_s)

                def refresh(sid, last):
                    h, c, p, a, newest, new = state.class_view(sid, last)
                    for msg in new[-3:]:
                        gr.Warning(f"New alert: {msg}")
                    return h, c, p, a, newest

                outs = [head, charts, people, alerts, last_alert]
                timer.tick(_guard(refresh), inputs=[session, last_alert], outputs=outs, show_progress="hidden")
                session.change(_guard(lambda sid: refresh(sid, 1 << 60)[:4] + (_max_alert(state, sid),)),
                               inputs=session, outputs=outs)
                demo.load(_guard(lambda sid: refresh(sid, 1 << 60)[:4] + (_max_alert(state, sid),)),
                          inputs=session, outputs=outs)

                def reload_sessions(sid):
                    ch, d = state.session_choices()
                    return gr.update(choices=ch, value=sid if sid in {c[1] for c in ch} else d)

                reload_btn.click(_guard(reload_sessions), inputs=session, outputs=session)
                export_btn.click(_guard(state.export), inputs=session, outputs=exported)

            with gr.Tab("Recordings", id="recordings"):
                gr.Markdown("Upload a class recording (mp4, webm, mkv, avi) or gallery screenshots. The "
                            "analysis is stored as a session; key frames are shown here and put in the HTML "
                            "report only.")
                with gr.Row():
                    upload = gr.File(label="Recording or images", file_count="multiple",
                                     file_types=VIDEO_TYPES + IMAGE_TYPES, type="filepath", elem_id="cm-upload")
                    with gr.Column():
                        every = gr.Slider(0.5, 30, value=2, step=0.5, label="Analyse one frame every (seconds)")
                        keep = gr.Checkbox(value=False, elem_id="cm-keep-faces",
                                           label="Keep face images with this session (only with the "
                                                 "participants' consent)")
                        go = gr.Button("Analyse", variant="primary", elem_id="cm-analyse")
                rec_head = gr.HTML(elem_id="cm-rec-headline")
                rec_charts = gr.HTML(elem_id="cm-rec-charts")
                with gr.Row():
                    rec_people = gr.Dataframe(label="Participants", interactive=False)
                    rec_alerts = gr.Dataframe(label="Alerts", interactive=False)
                keyframes = gr.HTML(elem_id="cm-keyframes")
                downloads = gr.File(label="Downloads: CSV, JSON, HTML report (and face images, if kept)",
                                    file_count="multiple", interactive=False, elem_id="cm-downloads")

                def analyse(files, every_s, keep_faces, progress=gr.Progress()):
                    from ui.report import alerts_table, charts_html, figures_html, headline_html, participants_table

                    report, files_out, sid = state.analyze_upload(files, every_s, progress, keep_faces=keep_faces)
                    ch, _ = state.session_choices()
                    frames = ("<h3>Key frames</h3>" + figures_html(report.key_frames)) if report.key_frames else ""
                    return (headline_html(report), charts_html(report), participants_table(report),
                            alerts_table(report), frames, files_out, gr.update(choices=ch))

                go.click(_guard(analyse), inputs=[upload, every, keep],
                         outputs=[rec_head, rec_charts, rec_people, rec_alerts, keyframes, downloads, session])

            with gr.Tab("Privacy & about", id="privacy") as privacy_tab:
                gr.Markdown(f"### What is recorded\n{STORED}\n\nThe bot never records the tiles of excluded "
                            "names (`classmood-bot --exclude`). Sessions older than the retention period are "
                            "deleted when you press *Save and apply retention now* and whenever the app or the "
                            "bot starts.\n\n"
                            f"### The law\n{NOTICE}")
                with gr.Row():
                    retention = gr.Number(value=state.store.retention_days, label="Keep sessions for (days)",
                                          minimum=1, precision=0)
                    save_ret = gr.Button("Save and apply retention now")
                ret_msg = gr.Markdown()
                with gr.Row():
                    del_session = gr.Dropdown(choices=choices, value=None, label="Session to delete")
                    del_btn = gr.Button("Delete session and all its data", variant="stop")
                    del_faces_btn = gr.Button("Delete its face images only", elem_id="cm-delete-faces")
                del_msg = gr.Markdown()
                table, acc, f1 = state.model_card_table()
                gr.Markdown("### How reliable is the model?\n"
                            f"On FER2013's validation faces it is right {acc:.0%} of the time overall "
                            f"(macro-F1 {f1:.2f}); per expression:" if acc is not None else
                            "### How reliable is the model?\nNo validation figures in the model card.")
                gr.Dataframe(value=table, interactive=False, label="Per-expression recall and precision")

                def save_retention(days):
                    if days is None or days < 1:
                        raise ValueError("retention must be at least 1 day")
                    state.store.set_setting("retention_days", int(days))
                    n = state.store.purge()
                    return f"Keeping sessions for {int(days)} days; {n} older session(s) deleted."

                def delete(sid):
                    if sid is None:
                        raise ValueError("choose a session to delete")
                    ok = state.delete_session(int(sid))
                    ch, d = state.session_choices()
                    return ("Session deleted." if ok else "That session was already gone.",
                            gr.update(choices=ch, value=None), gr.update(choices=ch, value=d))

                def delete_faces(sid):
                    if sid is None:
                        raise ValueError("choose a session first")
                    n = state.delete_face_images(int(sid))
                    return f"{n} face image(s) deleted; this session keeps no more.", reload_deletable(sid)

                def reload_deletable(sid):
                    """Choices as stored now: sessions started since the page loaded (an upload, the
                    bot) can be deleted too; a session that is gone is no longer selected."""
                    ch, _ = state.session_choices()
                    return gr.update(choices=ch, value=sid if sid in {c[1] for c in ch} else None)

                save_ret.click(_guard(save_retention), inputs=retention, outputs=ret_msg)
                privacy_tab.select(_guard(reload_deletable), inputs=del_session, outputs=del_session)
                del_faces_btn.click(_guard(delete_faces), inputs=del_session, outputs=[del_msg, del_session])
                del_btn.click(_guard(delete), inputs=del_session, outputs=[del_msg, del_session, session])
    demo.classmood = state
    return demo


def _max_alert(state: App, sid) -> int:
    if sid is None:
        return 0
    a = state.store.alerts(int(sid))
    return int(a["id"].max()) if len(a) else 0


def _guard(fn):
    """Errors become readable messages in the page, never tracebacks."""
    import functools

    import gradio as gr

    from bot.store import StoreError
    from model import ModelLoadError

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except (ValueError, KeyError, OSError, StoreError, ModelLoadError) as e:  # their messages say what to do
            raise gr.Error(str(e).strip("'\"")) from None
        except Exception as e:
            log.exception("handler %s failed", getattr(fn, "__name__", fn))
            raise gr.Error(f"Something went wrong ({type(e).__name__}); the details are in the app's log.") from None

    return wrapped


def _interrupt(signum, _frame):
    raise KeyboardInterrupt(signal.Signals(signum).name)


def read_auth(auth_file: str | None) -> tuple[str, str] | None:
    """`user:password` from --auth-file, else $CLASSMOOD_AUTH; None when neither is set."""
    text = None
    if auth_file:
        text = Path(auth_file).read_text().strip()
    elif os.environ.get("CLASSMOOD_AUTH"):
        text = os.environ["CLASSMOOD_AUTH"].strip()
    if not text:
        return None
    user, sep, password = text.partition(":")
    if not sep or not user or not password:
        raise ValueError("the password must be given as user:password")
    return user, password


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="classmood-ui", description="ClassMood's teacher app (Gradio).")
    ap.add_argument("--db", help="session database: a path, sqlite:///path or postgresql://user@host:port/db "
                                 "(default: $CLASSMOOD_DB or the user data folder)")
    ap.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this computer only)")
    ap.add_argument("--port", type=int, default=7860)
    ap.add_argument("--auth-file", help="file holding user:password (default: $CLASSMOOD_AUTH)")
    ap.add_argument("--allowed-origin", action="append", default=[], metavar="URL",
                    help="another origin allowed to call the app (e.g. a reverse proxy's https://host); "
                         "requests from any other origin but the app's own are refused")
    ap.add_argument("--max-upload", default="2GB", metavar="SIZE", help="largest upload (default 2GB)")
    ap.add_argument("--max-upload-total", default="4GB", metavar="SIZE",
                    help="what all uploads may hold on disk together (default 4GB)")
    ap.add_argument("--login-window", type=float, default=60.0, metavar="S",
                    help="after 5 failed sign-ins from one address within S seconds, sign-ins from it are "
                         "refused until S seconds have passed (default 60)")
    args = ap.parse_args(argv)
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # and analytics_enabled=False on the Blocks
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    from ui.security import SecuritySettings, normalise_origin, outermost_lifespan, parse_size

    try:
        auth = read_auth(args.auth_file)
        max_upload, max_total = parse_size(args.max_upload), parse_size(args.max_upload_total)
        bad = [o for o in args.allowed_origin if normalise_origin(o) is None]
        if bad:
            raise ValueError(f"--allowed-origin must be a URL such as https://classmood.school.org, got {bad[0]!r}")
        if not 0 < args.login_window < float("inf"):
            raise ValueError(f"--login-window must be a positive number of seconds, got {args.login_window}")
    except (OSError, ValueError) as e:
        print(f"classmood-ui: {e}", file=sys.stderr)
        return 2
    if args.host not in LOCAL_HOSTS and auth is None:
        print(f"classmood-ui: refusing to serve on {args.host} without a password: set CLASSMOOD_AUTH=user:password "
              "or pass --auth-file (or bind to 127.0.0.1)", file=sys.stderr)
        return 2
    from bot.store import StoreError
    from model import ModelLoadError

    try:
        config = AppConfig(db_path=args.db, max_upload_bytes=max_upload, max_upload_total_bytes=max_total,
                           allowed_origins=tuple(args.allowed_origin), login_window_s=args.login_window)
        state = App(config)
        purged = state.store.purge()
        if purged:
            log.info("retention: deleted %d old session(s)", purged)
        demo = build_app(config, state)
    except (StoreError, ModelLoadError) as e:
        print(f"classmood-ui: {e}", file=sys.stderr)
        return 2
    import gradio as gr

    # `docker stop`, systemd and `kill` send SIGTERM: stop as on Ctrl-C, so that Gradio's shutdown
    # deletes its cached uploads and downloads and ours go at exit.
    signal.signal(signal.SIGTERM, _interrupt)
    theme = gr.themes.Default(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
    security = SecuritySettings(allowed_origins=config.allowed_origins, max_upload_bytes=config.max_upload_bytes,
                                max_upload_total_bytes=config.max_upload_total_bytes,
                                login_max_failures=config.login_max_failures, login_window_s=config.login_window_s)
    demo.queue(default_concurrency_limit=2).launch(
        server_name=args.host, server_port=args.port, auth=auth, auth_message="ClassMood: sign in",
        max_file_size=config.max_upload_bytes, show_error=False, theme=theme, css=CSS, ssr_mode=False,
        app_kwargs={"lifespan": outermost_lifespan(security, password=auth is not None)},
        footer_links=[], quiet=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
