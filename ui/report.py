"""The class report for a stored session: headline figures, timeline charts, participants, alerts;
shown in the app and written as one self-contained HTML file (inline SVG charts and images)."""

from __future__ import annotations

import base64
import datetime as dt
import html
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ui.charts import emotion_area, valence_line

NOTICE = ("Emotion inference in workplaces and education institutions is prohibited in the EU since "
          "2 February 2025 (AI Act, article 5(1)(f)). Elsewhere it needs the informed consent of everyone "
          "observed. Expression estimates are uncertain: never judge a person by them.")
STORED = ("ClassMood stores, per session: its name and source, per analysed frame the number of tiles, "
          "faces and camera-off tiles, per face the participant's name or tile number, box, the seven "
          "expression scores and the top expression, its head pose (three angles) and whether it faced the "
          "screen, was turned away or looked down, and the alerts raised. It stores no images unless you "
          "opt in for a session (*Keep face images* below a recording, `--keep-faces` for the bot): then "
          "each participant's face is kept as a small 96x96 picture beside its expression, and only then. "
          "Opt in only with the participants' informed consent.")


@dataclass
class Report:
    session: dict
    window_s: float
    timeline: pd.DataFrame
    participants: pd.DataFrame
    alerts: pd.DataFrame
    now: dict
    key_frames: list[tuple[str, np.ndarray]] = field(default_factory=list)  # (caption, BGR image)


def mood_word(v: float | None) -> str:
    """The class's mood in a word, as `bot.mood` defines it."""
    from bot.mood import mood_of

    return mood_of(v) or "no faces yet"


def window_for(duration_s: float) -> float:
    """60 s windows for a class; shorter ones for short recordings (about 12 points)."""
    return 60.0 if duration_s >= 600 else float(max(2, round(duration_s / 12)))


def build_report(store, session_id: int, recent_minutes: float = 5.0, window_s: float | None = None) -> Report:
    session = store.session(session_id)
    if session is None:
        raise KeyError(f"no session {session_id}")
    frames = store.frames(session_id)
    duration = float(frames["time_s"].max()) if len(frames) else 0.0
    window_s = window_s or window_for(duration)
    timeline = store.timeline(session_id, window_s=window_s)
    parts = store.participants(session_id)
    if len(parts):
        recent = store.recent_dominant(session_id, since_s=duration - recent_minutes * 60)
        parts = parts.merge(recent.rename(f"dominant_last_{recent_minutes:g}_min"), how="left",
                            left_on="participant", right_index=True)
    alerts = store.alerts(session_id)
    now = {"participants": 0, "faces": 0, "valence": None, "time_s": duration, "trend": "steady",
           "attention": None, "looking_down": None}
    if len(frames):
        last = frames.iloc[-1]
        now.update(participants=int(last["participants"]), faces=int(last["faces"]))
    if len(timeline):
        now["valence"] = float(timeline["valence"].iloc[-1]) if timeline["mood"].iloc[-1] is not None else None
        seen = timeline[timeline["mood"].notna()]
        from bot.mood import trend_of

        now["trend"] = trend_of((seen["window_start"] + seen["window_end"]) / 2, seen["valence"])
        now["attention"], now["looking_down"] = timeline["attention"].iloc[-1], timeline["looking_down"].iloc[-1]
    return Report(session, window_s, timeline, parts, alerts, now)


def headline_html(r: Report) -> str:
    v = r.now["valence"]
    word = mood_word(v)
    color = {"positive": "#2ca02c", "negative": "#d62728"}.get(word, "#555")
    live = "&#9679; bot running" if r.session.get("live") else "not live"
    cells = [("Participants", r.now["participants"]), ("Faces visible now", r.now["faces"]),
             ("Class mood now", f'<span style="color:{color}">{word}</span>'
                                + (f' <small>({v:+.2f}, {r.now.get("trend", "steady")})</small>' if v is not None else "")),
             ("Facing the screen now", attention_text(r.now.get("attention"), r.now.get("looking_down")))]
    boxes = "".join(f'<div class="cm-card"><div class="cm-label">{k}</div><div class="cm-value">{val}</div></div>'
                    for k, val in cells)
    return (f'<div class="cm-head"><div class="cm-title">{html.escape(str(r.session["name"]))} '
            f'<small>{live}</small></div><div class="cm-cards">{boxes}</div></div>')


def attention_text(attention: float | None, looking_down: float | None) -> str:
    """The share facing the screen, with the share looking down beside it (which may be notes)."""
    if attention is None:
        return '<span title="no face with a head pose in the last window">-</span>'
    down = (f' <small title="{LOOKING_DOWN}">{looking_down:.0%} looking down</small>'
            if looking_down else "")
    return f"{attention:.0%}{down}"


LOOKING_DOWN = ("Looking down may be taking notes or reading: it is shown on its own, never counted as turned "
                "away, and raises no alert. Head pose is read from five points of each face; looking down is "
                "only seen when the head nods markedly.")


def charts_html(r: Report) -> str:
    return emotion_area(r.timeline) + valence_line(r.timeline)


def participants_table(r: Report) -> pd.DataFrame:
    if r.participants.empty:
        return pd.DataFrame(columns=["participant", "latest", "dominant (recent)", "on camera", "valence",
                                     "facing screen"])
    p = r.participants
    recent = [c for c in p.columns if c.startswith("dominant_last_")]
    return pd.DataFrame({
        "participant": p["participant"],
        "latest": p["latest_emotion"],
        "dominant (recent)": p[recent[0]].fillna("-") if recent else p["dominant_emotion"],
        "on camera": [_duration(s) for s in p["time_on_camera_s"]],
        "valence": p["valence"].round(2),
        "facing screen": ["-" if a is None or pd.isna(a) else f"{a:.0%}" for a in p["attention"]],
    })


def alerts_table(r: Report) -> pd.DataFrame:
    if r.alerts.empty:
        return pd.DataFrame(columns=["time", "alert"])
    return pd.DataFrame({"time": [_duration(t) for t in r.alerts["time_s"]], "alert": r.alerts["message"]})


def _duration(s: float) -> str:
    s = int(round(float(s)))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def img_tag(img_bgr: np.ndarray, alt: str = "", quality: int = 85) -> str:
    """An <img> holding the picture itself (a JPEG data URI): shown without being written to disk."""
    import cv2

    ok, jpg = cv2.imencode(".jpg", img_bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        return ""
    return (f'<img alt="{html.escape(alt)}" style="max-width:100%" '
            f'src="data:image/jpeg;base64,{base64.b64encode(jpg.tobytes()).decode()}"/>')


def figures_html(key_frames: list[tuple[str, np.ndarray]]) -> str:
    """Captioned key frames, inline."""
    return "".join(f"<figure>{img_tag(img, caption)}<figcaption>{html.escape(caption)}</figcaption></figure>"
                   for caption, img in key_frames)


def report_html(r: Report) -> str:
    """The whole report as one HTML file: no scripts, no external resources."""
    started = r.session.get("started")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ClassMood report: {html.escape(str(r.session['name']))}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:900px;margin:2em auto;color:#222}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:3px 8px;text-align:left}}
.cm-cards{{display:flex;gap:12px}}.cm-card{{border:1px solid #ddd;border-radius:8px;padding:8px 16px}}
.cm-label{{color:#666;font-size:13px}}.cm-value{{font-size:24px;font-weight:600}}.cm-title{{font-size:20px}}
.notice{{background:#fff4e5;border:1px solid #f0b37e;padding:8px 12px;border-radius:6px}}
figure{{display:inline-block;margin:6px}}figure img{{max-width:420px}}</style></head><body>
<h1>ClassMood report</h1>
<p>Session <b>{html.escape(str(r.session['name']))}</b> (source: {html.escape(str(r.session.get('source', '')))}),
started {html.escape(str(started)[:19])} UTC; windows of {r.window_s:g} s. Generated
{dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M')} UTC.</p>
<p class="notice">{html.escape(NOTICE)}</p>
{headline_html(r)}
<h2>Timeline</h2>{charts_html(r)}
<h2>Participants</h2>{participants_table(r).to_html(index=False, escape=True)}
<h2>Alerts</h2>{alerts_table(r).to_html(index=False, escape=True) if len(r.alerts) else '<p>No alerts.</p>'}
{'<h2>Key frames</h2>' + figures_html(r.key_frames) if r.key_frames else ''}
<h2>What is recorded</h2><p>{html.escape(STORED)}</p>
</body></html>"""
