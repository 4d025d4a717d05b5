"""The post-class report: made by itself when a session ends, stored with it, and written as one
self-contained HTML file (no scripts, no network; prints to A4).

It answers a teacher's questions after a lesson, in order: where did the lesson lose the class (the
**moments**, `bot.moments`, each with the shared screen of that time where one was shared: a
thumbnail of the shared content alone, faces masked, `bot.stage`), how the class's mood and
attention went over the lesson's clock, who was there (**attendance**: first and last seen, time
on camera, time seen off camera; the camera-off panels), whom to follow up (with the reasons and
the alerts they raised), and what the figures cannot tell.

`make_report(store, session_id, report_dir=None)` builds it from the store, stores it
(`Store.save_report`) and, given a folder, writes it there; every session end calls it: the bot's
`--duration`, Ctrl-C or SIGTERM, a recording's last frame, a batch item, an upload in the app. An
aggregate-only session's report shows the class's figures alone.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bot import aggregate
from bot import report as rp
from bot.alerts import who
from bot.charts import emotion_area, fmt_time, mood_line, presence_lines
from bot.legal import NOTICE, STORED
from bot.moments import Moment, find_moments

log = logging.getLogger("classmood.report")

DROP_COLOR, RISE_COLOR = "#d62728", "#2ca02c"
MAX_MOMENTS = 6          # moments of each kind shown (the strongest)
MAX_THUMBS = 3           # shared-screen thumbnails a moment shows
SMALL_FACE_PX = 32       # a face smaller than this a side is read less surely (docs/teacher.md)


@dataclass
class Made:
    """What `make_report` made: the HTML, the file written (None: none asked), how long it took."""
    html: str
    path: Path | None
    seconds: float
    moments: list[Moment]


def stage_on_screen(stage: pd.DataFrame, start_s: float, end_s: float, window_s: float) -> list[tuple[float, bytes]]:
    """The shared-screen thumbnails on screen during [start_s, end_s), in time order, each (time
    shown from, jpeg), at most `MAX_THUMBS`: those shown from within the stretch, and one shown from
    before it that stayed at least half a window into it (a slide that left in its first seconds
    belongs to the time before); none where no screen was shared then."""
    if stage is None or stage.empty:
        return []
    t = stage["time_s"].to_numpy(float)
    nxt = np.append(t[1:], np.inf)
    shown = []
    for k, (begin, stop) in enumerate(zip(t, nxt)):
        jpeg = stage["jpeg"].iloc[k]
        if jpeg is None or (isinstance(jpeg, float) and np.isnan(jpeg)):
            continue
        overlap = min(stop, end_s) - max(begin, start_s)
        # a slide shown only for the first seconds of the stretch belongs to the time before it
        if overlap > 0 and (overlap >= min(window_s / 2, end_s - start_s) or begin >= start_s):
            shown.append((float(begin), bytes(jpeg)))
    return shown[:MAX_THUMBS]


def _thumb(jpeg: bytes, alt: str) -> str:
    return (f'<img class="cm-stage" alt="{html.escape(alt)}" '
            f'src="data:image/jpeg;base64,{base64.b64encode(jpeg).decode()}"/>')


def _clock(r: rp.Report, t: float) -> str:
    """Lesson time, and the wall clock where the session has a start (the bot's local time)."""
    started = r.session.get("started")
    if started is None or pd.isna(started):
        return fmt_time(t)
    at = (pd.Timestamp(started).floor('s').to_pydatetime() + dt.timedelta(seconds=float(t))).astimezone()
    return f"{fmt_time(t)} <small>({at.strftime('%H:%M')})</small>"


def moments_html(r: rp.Report, moments: list[Moment], stage: pd.DataFrame, aggregate_only: bool = False) -> str:
    """The moments: where the lesson lost the class (drops, strongest first), then where it came
    alive (rises); each with its time, what moved, and the shared screen of that time."""
    drops = [m for m in moments if m.direction == "drop"][:MAX_MOMENTS]
    rises = [m for m in moments if m.direction == "rise"][:MAX_MOMENTS]
    if len(r.timeline) and int((r.timeline["faces"] > 0).sum()) < 6:
        calm = "The lesson is too short (under six windows with faces) to tell its moments from its own level."
    else:
        calm = ("No stretch where the class's mood, attention or engagement fell clearly below the lesson's own "
                "level: the class held steady.")

    def one(m: Moment, k: int) -> str:
        what = "; ".join(s.words() for s in m.stretches)
        thumbs = [] if aggregate_only else stage_on_screen(stage, m.start_s, m.end_s, r.window_s)
        if thumbs:
            pics = "".join(f'<figure>{_thumb(j, f"shared screen at {fmt_time(t)}")}<figcaption>shared screen from '
                           f'{fmt_time(t)}</figcaption></figure>' for t, j in thumbs)
        elif aggregate_only:
            pics = '<p class="cm-note">Class-only session: no picture of the shared screen is kept.</p>'
        else:
            pics = '<p class="cm-note">No screen was being shared then.</p>'
        cls = "cm-moment-drop" if m.direction == "drop" else "cm-moment-rise"
        return (f'<div class="cm-moment {cls}"><div class="cm-moment-head">{k}. {_clock(r, m.start_s)} to '
                f'{_clock(r, m.end_s)} <small>({fmt_time(m.end_s - m.start_s)} long)</small></div>'
                f'<div>{html.escape(what[:1].upper() + what[1:])}.</div><div class="cm-stages">{pics}</div></div>')

    body = "".join(one(m, k + 1) for k, m in enumerate(drops)) or f'<p class="cm-na-calm">{calm}</p>'
    if rises:
        body += "<h3>Where the class came alive</h3>" + "".join(one(m, k + 1) for k, m in enumerate(rises))
    how = (f"A moment is a stretch of two windows ({r.window_s:g} s each) or more that lie well beyond this lesson's "
           "own level: its median window, measured in its own window-to-window spread (docs/teacher.md, \"Moments\").")
    return f'<div class="cm-moments">{body}<p class="cm-note">{html.escape(how)}</p></div>'


def attendance(r: rp.Report, camera_off: pd.DataFrame, gap: float) -> pd.DataFrame:
    """Everyone seen, on camera or on a camera-off tile: participant, first_seen, last_seen,
    present_s (first to last seen), on_camera_s, camera_off_s, unseen_s (present, face not read
    and no camera-off tile: turned away, covered, off the page)."""
    cols = ["participant", "first_seen", "last_seen", "present_s", "on_camera_s", "camera_off_s", "unseen_s"]
    on = r.participants[["participant", "first_seen", "last_seen", "time_on_camera_s"]] if len(r.participants) \
        else pd.DataFrame(columns=["participant", "first_seen", "last_seen", "time_on_camera_s"])
    off = camera_off if camera_off is not None and len(camera_off) else \
        pd.DataFrame(columns=["participant", "first_off", "last_off", "camera_off_s"])
    both = on.merge(off, on="participant", how="outer")
    if both.empty:
        return pd.DataFrame(columns=cols)
    first = both[["first_seen", "first_off"]].astype(float).min(axis=1)
    last = both[["last_seen", "last_off"]].astype(float).max(axis=1)
    on_s = both["time_on_camera_s"].astype(float).fillna(0.0)
    off_s = both["camera_off_s"].astype(float).fillna(0.0)
    present = (last - first + gap).clip(lower=0.0)
    out = pd.DataFrame({"participant": both["participant"], "first_seen": first, "last_seen": last,
                        "present_s": present, "on_camera_s": on_s, "camera_off_s": off_s,
                        "unseen_s": (present - on_s - off_s).clip(lower=0.0)})
    return out.sort_values(["first_seen", "participant"]).reset_index(drop=True)


def attendance_html(r: rp.Report, frames: pd.DataFrame, camera_off: pd.DataFrame | None = None) -> str:
    """Each participant: first and last seen, minutes present, on camera, with the camera off, and
    present with the face not read; the class's camera-off panels over the lesson."""
    gap = aggregate.typical_gap(frames["time_s"]) if len(frames) else 0.0
    off = float((frames["camera_off"].astype(float) * gap).sum()) / 60 if len(frames) else 0.0
    most_off = int(frames["camera_off"].max()) if len(frames) else 0
    present = frames["participants"].astype(float) if len(frames) else pd.Series(dtype=float)
    head = (f'<p>Participants present: {int(present.median()) if len(present) else 0} (median of the frames), '
            f'{int(present.max()) if len(present) else 0} at most. Camera-off panels: {off:.0f} panel-minutes in all, '
            f'{most_off} at once at most.</p>')
    if r.session.get("aggregate_only"):
        return head + ('<p class="cm-note">Class-only session: nothing was stored per participant, so there is no '
                       "attendance by name.</p>")
    people = attendance(r, camera_off, gap)
    if people.empty:
        return head + "<p>No participant was seen.</p>"
    minutes = lambda s: f"{s / 60:.0f}"  # noqa: E731
    rows = [f"<tr><td>{html.escape(who(str(p.participant)))}</td><td>{fmt_time(p.first_seen)}</td>"
            f"<td>{fmt_time(p.last_seen)}</td><td>{minutes(p.present_s)}</td><td>{minutes(p.on_camera_s)}</td>"
            f"<td>{minutes(p.camera_off_s)}</td><td>{minutes(p.unseen_s)}</td></tr>"
            for p in people.itertuples(index=False)]
    return head + ('<table class="cm-table"><tr><th>Participant</th><th>First seen</th><th>Last seen</th>'
                   "<th>Minutes present</th><th>On camera</th><th>Camera off</th><th>Face not read</th></tr>"
                   f'{"".join(rows)}</table><p class="cm-note">Minutes present run from first to last seen, on '
                   "camera or on a camera-off tile (their name panel, avatar or photo); \"face not read\" is the rest "
                   "of that time: turned away, covered, or on another page of the gallery.</p>")


def follow_up_html(r: rp.Report) -> str:
    """Participants to follow up: the flagged ones and those who raised an alert, with the reasons
    and their alerts."""
    if r.session.get("aggregate_only"):
        return ('<p class="cm-note">Class-only session: nothing was stored per participant, so no one can be '
                "named for a follow-up. The class's own alerts are below.</p>")
    concern = rp.concern_table(r)
    alerts = r.alerts[r.alerts["participant"].notna()] if len(r.alerts) else r.alerts
    by_person = {pid: g.sort_values("time_s") for pid, g in alerts.groupby("participant")} if len(alerts) else {}
    rows = []
    for row in concern.itertuples(index=False):
        mine = by_person.get(row.participant)
        if row.concern < 2 and mine is None:
            continue
        said = "".join(f"<li>{fmt_time(a.time_s)}: {html.escape(str(a.message))}</li>"
                       for a in (mine.itertuples(index=False) if mine is not None else []))
        rows.append(f"<li><b>{html.escape(who(str(row.participant)))}</b>"
                    + (f": {html.escape(row.reasons)}" if row.reasons else "")
                    + (f'<ul class="cm-said">{said}</ul>' if said else "") + "</li>")
    if not rows:
        return '<p class="cm-na-calm">No one to follow up: no participant raised an alert or looked negative.</p>'
    return f'<ul class="cm-follow">{"".join(rows)}</ul>'


def class_alerts_html(r: rp.Report) -> str:
    a = r.alerts[r.alerts["rule"].isin(rp.CLASS_RULES)] if len(r.alerts) else r.alerts
    if a.empty:
        return "<p>No class alert.</p>"
    return ('<table class="cm-table"><tr><th>Time</th><th>Class alert</th></tr>'
            + "".join(f"<tr><td>{_clock(r, x.time_s)}</td><td>{html.escape(str(x.message))}</td></tr>"
                      for x in a.itertuples(index=False)) + "</table>")


def limits_html(r: rp.Report, quality: dict) -> str:
    """What the figures cannot tell."""
    n = quality.get("faces") or 0
    items = ["An expression is not a feeling: a face read as sad may be concentrating, tired or lit from "
             "one side; the figures describe faces on a screen, never a student's state of mind."]
    if n and quality.get("uncertain") is not None:
        items.append(f"{quality['uncertain']} of {n} faces read ({quality['uncertain'] / n:.0%}) were uncertain "
                     f"(tiny, partly covered by a window or cut by their tile, behind a mask, or no expression "
                     f"clearly on top) "
                     f"and count for neither side of the mood.")
        items.append(f"{quality['small']} of {n} faces ({quality['small'] / n:.0%}) were under {SMALL_FACE_PX} "
                     "pixels a side: small faces in a large gallery or a screen-share strip are read less surely, "
                     "and count only where their expression is clear at that size, so a class of small faces "
                     "reads neutral more often, whichever way it feels.")
    elif n:
        items.append("Class-only session: how sure each face was is not stored.")
    items.append("Cameras that were off, faces turned away and participants on other pages of the gallery "
                 "are not read at all.")
    items.append("Moments compare the lesson with itself: a class that was low all lesson has no drop.")
    lis = "".join(f"<li>{html.escape(x)}</li>" for x in items)
    return (f"<ul>{lis}</ul><p class=\"cm-notice\">{html.escape(NOTICE)}</p>"
            f"<p><small>{rp.inline_markdown(STORED)}</small></p>")


PRINT_CSS = """
body{font-family:system-ui,sans-serif;max-width:1000px;margin:1.5em auto;color:#222;padding:0 12px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:18px 0 6px;border-bottom:1px solid #ddd}
h3{font-size:15px;margin:12px 0 4px}
.cm-moment{font-size:16px;margin:8px 0;break-inside:avoid}.cm-stage{width:220px}
@page{size:A4;margin:12mm}
@media print{body{max-width:none;margin:0;padding:0;font-size:12px}.cm-chart{max-width:100%!important}
h2{break-after:avoid}.cm-table tr{break-inside:avoid}.cm-charts-row svg{flex:1 1 100%}}
"""


def report_html(r: rp.Report, moments: list[Moment], stage: pd.DataFrame, frames: pd.DataFrame,
                quality: dict, camera_off: pd.DataFrame | None = None) -> str:
    """The whole post-class report as one HTML document: no scripts, no external resources."""
    agg = bool(r.session.get("aggregate_only"))
    name = html.escape(str(r.session["name"]))
    started = r.session.get("started")
    when = (pd.Timestamp(started).floor('s').to_pydatetime().astimezone().strftime("%Y-%m-%d %H:%M %Z")
            if started is not None and not pd.isna(started) else "")
    spans = [(m.start_s, m.end_s, DROP_COLOR if m.direction == "drop" else RISE_COLOR) for m in moments]
    mode = (' <span class="cm-notice">class-only: no names, no per-face rows, no pictures were stored</span>'
            if agg else "")
    people = "" if agg else f"<h2>Participants</h2>{rp.participants_html(r)}"
    keys = f"<h2>Key frames</h2>{rp.figures_html(r.key_frames)}" if r.key_frames else ""
    generated = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ClassMood report: {name}</title>
<style>{rp.CSS}{PRINT_CSS}</style></head><body>
<h1>{"After the class" if r.finished else "The class so far (still running)"}: {name}</h1>
<p>{html.escape(str(r.session.get('class_name') or ''))}{' &middot; ' if r.session.get('class_name') else ''}started
{html.escape(when)}, {fmt_time(r.now.time_s)} of lesson; windows of {r.window_s:g} s.{mode}
<small>Made {generated} by ClassMood.</small></p>
{rp.headline_html(r)}
<h2>Where the lesson lost the class</h2>{moments_html(r, moments, stage, agg)}
<h2>The lesson, minute by minute</h2>
<div class="cm-charts-row">{mood_line(r.timeline, spans=spans)}{presence_lines(r.timeline, spans=spans)}</div>
<div class="cm-charts-row">{emotion_area(r.timeline)}</div>
<h2>Attendance</h2>{attendance_html(r, frames, camera_off)}
<h2>To follow up</h2>{follow_up_html(r)}
<h2>Class alerts</h2>{class_alerts_html(r)}
{people}{keys}
<h2>What these figures cannot tell</h2>{limits_html(r, quality)}
</body></html>"""


def panel_html(r: rp.Report, stage: pd.DataFrame) -> str:
    """The app's "Last class: report" panel for an ended session, beside its glance in place of the
    needs-attention panel: its moments (with the shared screen of their time) and whom to follow
    up; the whole report is one click away (Export)."""
    agg = bool(r.session.get("aggregate_only"))
    moments = find_moments(r.timeline)
    drops = sum(m.direction == "drop" for m in moments)
    lead = (f"{drops} moment{'s' * (drops != 1)} where the class dropped" if drops
            else "no moment where the class dropped")
    return (f'<div class="cm-na cm-last"><div class="cm-na-title">Last class: report '
            f'<small>{html.escape(str(r.session["name"]))}, {fmt_time(r.now.time_s)}: {lead}</small></div>'
            f'<h4>Where the lesson lost the class</h4>{moments_html(r, moments, stage, agg)}'
            f'<h4>To follow up</h4>{follow_up_html(r)}'
            '<p class="cm-note">The whole report (attendance, the lesson minute by minute, what the figures cannot '
            'tell) is stored with the session: <b>Export CSV + HTML report</b> downloads it.</p></div>')


def build(store, session_id: int, key_frames=None) -> tuple[str, list[Moment]]:
    """The report of a stored session: (HTML, its moments)."""
    r = rp.build_report(store, session_id)
    if key_frames:
        r.key_frames = list(key_frames)
    moments = find_moments(r.timeline)
    stage = store.stage_images(session_id)
    gap = aggregate.typical_gap(r.frames["time_s"]) if len(r.frames) else 0.0
    return report_html(r, moments, stage, r.frames, store.face_counts(session_id, SMALL_FACE_PX),
                       store.camera_off(session_id, gap)), moments


def file_name(session: dict, session_id: int) -> str:
    """classmood-report-<id>-<session name, safe for any file system>.html"""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", str(session.get("name") or "")).strip("-.")[:60]
    return f"classmood-report-{int(session_id)}" + (f"-{slug}" if slug else "") + ".html"


def make_report(store, session_id: int, report_dir: str | Path | None = None, key_frames=None) -> Made:
    """Build the session's report, store it with the session, and write it into `report_dir`
    (None: not written). Raises what the store raises; the callers log it and go on."""
    t0 = time.perf_counter()
    text, moments = build(store, session_id, key_frames)
    store.save_report(session_id, text)
    path = None
    if report_dir is not None:
        folder = Path(report_dir)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / file_name(store.session(session_id) or {}, session_id)
        path.write_text(text, encoding="utf-8")
    return Made(text, path, time.perf_counter() - t0, moments)


def after_session(store, session_id: int, report_dir: str | Path | None = None) -> Made | None:
    """`make_report` at a session's end, never failing it: a problem is logged; None then."""
    try:
        made = make_report(store, session_id, report_dir)
    except Exception as e:  # noqa: BLE001 - the session's data is stored; the report can be made again
        log.error("the post-class report of session %s could not be made: %s: %s", session_id, type(e).__name__, e)
        return None
    drops = sum(m.direction == "drop" for m in made.moments)
    log.info("post-class report of session %s made in %.1f s (%d moment%s where the class dropped)%s", session_id,
             made.seconds, drops, "" if drops == 1 else "s", f": {made.path}" if made.path else "")
    return made


def add_arguments(ap) -> None:
    """The options every command that ends sessions shares (bot, analyze, batch): --aggregate-only,
    --report-dir, --no-stage."""
    ap.add_argument("--aggregate-only", action="store_true",
                    help="class-only: store only the class's counts per frame (faces, participants present, "
                         "confident positive and negative faces, attention); no names, no per-face rows, no "
                         "images, no participant's alert")
    ap.add_argument("--report-dir", metavar="DIR",
                    help="also write the post-class report (one self-contained HTML file) into this folder when "
                         "a session ends (for a batch: a folder every worker can reach); it is stored with the "
                         "session either way")
    ap.add_argument("--no-stage", action="store_true",
                    help="keep no thumbnails of a shared screen for the report's moments (kept by default: the "
                         "shared content only, any face in it masked)")


def check_report_dir(path: str | Path) -> Path:
    """The `--report-dir` folder, made if missing; ValueError where it cannot be written."""
    import os

    p = Path(path)
    if p.exists() and not p.is_dir():
        raise ValueError(f"--report-dir {p}: a file, not a folder")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(f"--report-dir {p}: cannot be made ({e.strerror or e})") from None
    if not os.access(p, os.W_OK):
        raise ValueError(f"--report-dir {p}: not writable here")
    return p
