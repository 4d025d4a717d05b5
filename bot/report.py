"""The class view of a stored session: the glance (headline and needs-attention panel), timeline
charts, participants with their heat strips, alerts; shown in the app's class tab, and the parts the
post-class report (`bot.postclass`: one self-contained HTML file, inline SVG charts and images, no
scripts) is made of."""

from __future__ import annotations

import base64
import datetime as dt
import html
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bot import aggregate
from bot.alerts import who
from bot.mood import mood_of, trend_of
from bot.charts import emotion_area, fmt_time, heat_strip, mood_line, presence_lines, strip_legend
from model.emotions import NEGATIVE

LOOKING_DOWN = ("Looking down may be taking notes or reading: it is shown on its own, never counted as turned "
                "away, and raises no alert. Head pose is read from five points of each face; looking down is "
                "only seen when the head nods markedly.")
CLASS_RULES = ("class_valence", "low_engagement")
BURST = {"participant_absent": "{n} left the view at once: page change?",
         "participant_turned_away": "{n} turned away at once: something off screen?",
         "participant_negative": "{n} looked negative at once"}
CLASS_ONLY_PEOPLE = ("Class-only session: nothing is stored per participant (no names, no per-face rows, no "
                     "pictures), so no one is listed here and no participant's alert is raised. The class's "
                     "figures above and its alerts are all there is.")
RECENT_S = 600.0      # the needs-attention panel of a live class looks back this far
BURST_S = 15.0        # alerts of one rule this close together are one burst...
BURST_MIN = 3         # ... when there are at least this many
STRIP_CELLS = 60      # a heat strip has at most this many windows
QUIET_INTERVALS = 3   # a live class whose bot has been silent this many intervals says so


@dataclass
class Now:
    """A session's latest state (a live class) and its figures over the whole session (after it)."""
    time_s: float                         # how long it has run
    frames: int = 0
    participants: int = 0                 # present in the latest frame (`bot.records.present`)
    faces: int = 0                        # visible in the latest frame
    valence: float | None = None          # the latest window's (None without faces)
    trend: str = "steady"
    attention: float | None = None        # the latest window's share facing the screen
    looking_down: float | None = None
    overall: float | None = None          # valence over the whole session, each window by its faces
    attention_overall: float | None = None
    faces_per_frame: float | None = None
    present_max: int = 0                  # the most participants present in one frame


@dataclass
class Report:
    session: dict
    window_s: float
    timeline: pd.DataFrame
    participants: pd.DataFrame
    alerts: pd.DataFrame
    now: Now
    key_frames: list[tuple[str, np.ndarray]] = field(default_factory=list)  # (caption, BGR image)
    strips: pd.DataFrame = field(default_factory=pd.DataFrame)
    strip_window_s: float = 60.0
    frames: pd.DataFrame = field(default_factory=pd.DataFrame)  # `Store.frames`, as read for it

    @property
    def finished(self) -> bool:
        """A session that has ended: its bot or recording said so, or its heartbeat has been
        silent longer than `bot.store.LIVE_GRACE_S` and `LIVE_INTERVALS` intervals."""
        return not bool(self.session.get("live"))

    @property
    def class_only(self) -> bool:
        """An aggregate-only session: the class's counts alone, nothing per participant."""
        return bool(self.session.get("aggregate_only"))

    @property
    def recording(self) -> bool:
        """A recording's or a screenshot's analysis, not a live class watched by the bot."""
        return not str(self.session.get("source") or "").startswith("screen:")

    @property
    def no_meeting(self) -> bool:
        """The latest frame of a live class showed no meeting: no gallery and no face."""
        return not self.finished and self.now.frames > 0 and self.now.participants == 0 and self.now.faces == 0

    @property
    def interval_s(self) -> float:
        v = self.session.get("interval_s")
        return float(v) if v is not None and not pd.isna(v) and v > 0 else 10.0

    @property
    def silent_s(self) -> float | None:
        """Seconds since the session's last heartbeat (None without one)."""
        beat = self.session.get("last_heartbeat")
        if beat is None or pd.isna(beat):
            return None
        return max(0.0, dt.datetime.now(dt.timezone.utc).timestamp() - pd.Timestamp(beat).timestamp())


def mood_word(v: float | None) -> str:
    """The class's mood in a word, as `bot.mood` defines it."""

    return mood_of(v) or "no faces yet"


def window_for(duration_s: float) -> float:
    """60 s windows for a class; shorter ones for short recordings (about 12 points)."""
    return 60.0 if duration_s >= 600 else float(max(2, round(duration_s / 12)))


def build_report(store, session_id: int, recent_minutes: float = 5.0, window_s: float | None = None,
                 readers: list | None = None, windows=None) -> Report:
    """Everything about a session. `readers`: more connections to the same store (`Store.another`),
    over which the session's windows are read side by side; `windows`: a `bot.aggregate.SessionWindows`
    of this session and `window_s` kept from an earlier report (only its open windows are read again)."""

    session = store.session(session_id)
    if session is None:
        raise KeyError(f"no session {session_id}")
    frames = store.frames(session_id)
    duration = float(frames["time_s"].max()) if len(frames) else 0.0
    window_s = float(window_s or window_for(duration))
    if windows is None or (windows.session_id, windows.window_s) != (int(session_id), window_s):
        windows = aggregate.SessionWindows(session_id, window_s)
    fw, st = windows.read(store, frames["time_s"], readers or ())
    per = max(1, int(np.ceil(max(duration, 1.0) / (STRIP_CELLS * window_s))))  # windows a strip cell
    timeline = aggregate.timeline(fw, st, window_s)
    parts = aggregate.participants(st, store.present_now(session_id))
    strips, strip_w = aggregate.strips(st, window_s, per), per * window_s
    if len(parts):
        recent = store.recent_dominant(session_id, since_s=duration - recent_minutes * 60)
        parts = parts.merge(recent.rename(f"dominant_last_{recent_minutes:g}_min"), how="left",
                            left_on="participant", right_index=True)
    alerts = store.alerts(session_id)
    now = Now(time_s=duration)
    if len(frames):
        last = frames.iloc[-1]
        now.participants, now.faces, now.frames = int(last["participants"]), int(last["faces"]), len(frames)
        now.faces_per_frame = float(frames["faces"].mean())
        now.present_max = int(frames["participants"].max())
    if len(timeline):
        now.valence = float(timeline["valence"].iloc[-1]) if timeline["mood"].iloc[-1] is not None else None
        seen = timeline[timeline["mood"].notna()]
        now.trend = trend_of((seen["window_start"] + seen["window_end"]) / 2, seen["valence"])
        now.attention, now.looking_down = timeline["attention"].iloc[-1], timeline["looking_down"].iloc[-1]
        if len(seen) and seen["faces"].sum() > 0:  # the whole session, each window by its faces
            now.overall = float(np.average(seen["valence"], weights=seen["faces"]))
        att = timeline[timeline["attention"].notna()]
        if len(att) and att["faces"].sum() > 0:
            now.attention_overall = float(np.average(att["attention"].astype(float), weights=att["faces"]))
    return Report(session, window_s, timeline, parts, alerts, now, strips=strips, strip_window_s=strip_w, frames=frames)


# -- the glance ---------------------------------------------------------------------------------
def _card(label: str, value: str, note: str = "") -> str:
    return (f'<div class="cm-card"><div class="cm-label">{label}</div><div class="cm-value">{value}</div>'
            + (f'<div class="cm-note">{note}</div>' if note else "") + "</div>")


def _mood_value(v: float | None, trend: str | None = None) -> str:
    word = mood_word(v)
    color = {"positive": "#2ca02c", "negative": "#d62728"}.get(word, "#444")
    arrow = {"rising": " &#8599;", "falling": " &#8600;"}.get(trend or "", "")
    return f'<span style="color:{color}">{word}{arrow}</span>'


def headline_html(r: Report) -> str:
    """The session's name and state, then four cards: mood (with its trend), participants, faces
    and the share facing the screen; "now" while the class runs, over the whole session after."""
    n = r.now
    if r.finished:
        att = n.attention_overall
        cells = [_card("Class mood overall", _mood_value(n.overall),
                       f"valence {n.overall:+.2f}" if n.overall is not None else ""),
                 _card("Participants present", str(n.present_max), "the most at once; class-only: no one listed")
                 if r.class_only else _card("Participants seen", str(len(r.participants))),
                 _card("Faces per frame", f"{n.faces_per_frame:.1f}" if n.faces_per_frame is not None else "-",
                       f"over {fmt_time(n.time_s)}"),
                 _card("Facing the screen", "-" if att is None else f"{att:.0%}", "share of faces, whole session")]
        state = "recording" if r.recording else "finished"
    elif r.no_meeting:
        cells = [_card("Class mood now", "-", "no meeting visible"),
                 _card("Participants present", "0", f"{len(r.participants)} seen in all"),
                 _card("Faces visible now", "0"),
                 _card("Facing the screen now", "-")]
        state = "&#9679; live: no meeting visible (no gallery, no face on screen)"
    else:
        v = n.valence
        present = int(r.participants["present"].sum()) if len(r.participants) else 0
        cells = [_card("Class mood now", _mood_value(v, n.trend),
                       f"valence {v:+.2f}, {n.trend}" if v is not None else ""),
                 _card("Participants present", str(n.participants),
                       f"{present} on camera, {len(r.participants)} seen in all"),
                 _card("Faces visible now", str(n.faces)),
                 _card("Facing the screen now", attention_text(n.attention, n.looking_down))]
        state = "&#9679; live"
    if not r.finished and r.silent_s is not None and r.silent_s > QUIET_INTERVALS * r.interval_s:
        state += f", no update for {fmt_time(r.silent_s)} (the bot is busy or stopped)"
    title = html.escape(str(r.session["name"]))
    clock = f'{fmt_time(n.time_s)} long' if r.finished and r.recording else f'{fmt_time(n.time_s)} in'
    return (f'<div class="cm-head"><div class="cm-title">{title} <small class="cm-state">{state}, '
            f'{clock}</small></div><div class="cm-cards">{"".join(cells)}</div></div>')


def attention_text(attention: float | None, looking_down: float | None) -> str:
    """The share facing the screen, with the share looking down beside it (which may be notes)."""
    if attention is None or (isinstance(attention, float) and np.isnan(attention)):
        return '<span title="no face with a head pose in the last minute">-</span>'
    down = (f' <small title="{html.escape(LOOKING_DOWN)}">{looking_down:.0%} down</small>'
            if looking_down else "")
    return f"{attention:.0%}{down}"


def group_alerts(alerts: pd.DataFrame) -> list[dict]:
    """Alerts as the teacher should read them, newest first: class-level ones on their own; alerts
    of one participant rule raised within `BURST_S` of each other, `BURST_MIN` or more, as one burst
    ("20 left the view at once: page change?"); the others one by one.
    Each item: time_s, kind ("class", "burst", "participant"), text, participants."""
    if alerts is None or alerts.empty:
        return []
    items = []
    for _, a in alerts[alerts["rule"].isin(CLASS_RULES)].iterrows():
        items.append({"time_s": float(a["time_s"]), "kind": "class", "text": str(a["message"]), "participants": []})
    rest = alerts[~alerts["rule"].isin(CLASS_RULES)].sort_values("time_s")
    for rule, group in rest.groupby("rule", sort=False):
        times, rows = group["time_s"].to_numpy(float), group.to_dict("records")
        start = 0
        for i in range(1, len(rows) + 1):
            if i == len(rows) or times[i] - times[i - 1] > BURST_S:
                chunk = rows[start:i]
                if len(chunk) >= BURST_MIN:
                    text = BURST.get(rule, "{n} alerts at once").format(n=len(chunk))
                    items.append({"time_s": float(chunk[-1]["time_s"]), "kind": "burst", "text": text,
                                  "participants": [c["participant"] for c in chunk if c["participant"]]})
                else:
                    items += [{"time_s": float(c["time_s"]), "kind": "participant", "text": str(c["message"]),
                               "participants": [c["participant"]] if c["participant"] else []} for c in chunk]
                start = i
    order = {"class": 0, "burst": 1, "participant": 2}
    return sorted(items, key=lambda it: (-it["time_s"], order[it["kind"]]))


def alerts_toast(new_alerts: pd.DataFrame) -> str | None:
    """New alerts since the last refresh in one line, grouped (None when there are none)."""
    items = group_alerts(new_alerts)
    if not items:
        return None
    items.sort(key=lambda it: ({"class": 0, "burst": 1, "participant": 2}[it["kind"]], -it["time_s"]))
    head = [it["text"] for it in items[:2]]
    more = len(items) - len(head)
    n = len(new_alerts)
    return (f"{n} new alerts: " if n > 1 else "New alert: ") + "; ".join(head) + (f"; and {more} more" if more > 0 else "")


def concern_table(r: Report) -> pd.DataFrame:
    """Participants with a concern score and its reasons, most concerning first."""
    p = r.participants.copy()
    if p.empty:
        return p.assign(concern=[], reasons=[])
    since = r.now.time_s - RECENT_S if not r.finished else -1.0
    recent = r.alerts[(r.alerts["time_s"] >= since) & r.alerts["participant"].notna()] if len(r.alerts) else r.alerts
    alerted = recent.groupby("participant")["rule"].apply(set).to_dict() if len(recent) else {}
    scores, reasons = [], []
    recent_col = next((c for c in p.columns if c.startswith("dominant_last_")), None)
    for row in p.to_dict("records"):
        s, why = 0.0, []
        if row["mood"] == "negative":
            mostly = row.get(recent_col) if recent_col and not r.finished else None
            mostly = mostly if isinstance(mostly, str) else row.get("dominant_emotion")
            s, why = s + 3, why + [_negative_reason(r, row["participant"], mostly, since)]
        rules = alerted.get(row["participant"], set())
        if "participant_negative" in rules and row["mood"] != "negative":
            s, why = s + 2, why + ["looked negative for a while (alert)"]
        if "participant_turned_away" in rules:
            s, why = s + 2, why + ["turned away from the screen (alert)"]
        att = row["attention"]
        if att is not None and not pd.isna(att) and att < 0.5:
            s, why = s + 1, why + [f"faced the screen {att:.0%} of the time"]
        if not row["present"] and not r.finished:
            s, why = s + 0.5, why + ["not on camera now"]
        scores.append(s)
        reasons.append(", ".join(why))
    p["concern"], p["reasons"] = scores, reasons
    return p.sort_values(["concern", "participant"], ascending=[False, True], kind="stable")


def _negative_reason(r: Report, participant: str, mostly, since: float) -> str:
    """Why a participant looks negative, in words: the expression read most where that is a
    negative one; where it is not (calm most of the time, sad for a stretch), the negative one
    read most in the participant's strip cells since `since` as well, so that the reason does not
    read "negative (mostly neutral)"."""
    if not isinstance(mostly, str):
        return "looks negative"
    if mostly in NEGATIVE:
        return f"looks negative (read mostly as {mostly})"
    st = r.strips
    if len(st) and {"participant", "window_start", "emotion", "faces"} <= set(st.columns):
        mine = st[(st["participant"] == participant) & (st["window_start"] >= since) & st["emotion"].isin(NEGATIVE)]
        if len(mine):
            worst = mine.groupby("emotion")["faces"].sum().sort_index().idxmax()
            return f"looks negative (read as {worst} at times, mostly {mostly})"
    return f"looks negative (read mostly as {mostly})"


def needs_attention_html(r: Report) -> str:
    """The class-level alert first, then the participants to look at, bursts grouped; newest first.
    For a live class, the last ten minutes; for a finished session, all of it."""
    since = r.now.time_s - RECENT_S if not r.finished else -1.0
    recent = r.alerts[r.alerts["time_s"] >= since] if len(r.alerts) else r.alerts
    items = group_alerts(recent)
    items.sort(key=lambda it: (it["kind"] != "class", -it["time_s"]))
    lines = []
    for it in items[:12]:
        cls = {"class": "cm-na-class", "burst": "cm-na-burst", "participant": "cm-na-person"}[it["kind"]]
        who = (f'<div class="cm-na-who">{html.escape(", ".join(it["participants"][:8]))}'
               + (f" and {len(it['participants']) - 8} more" if len(it["participants"]) > 8 else "") + "</div>"
               if it["kind"] == "burst" and it["participants"] else "")
        lines.append(f'<li class="{cls}"><span class="cm-na-time">{fmt_time(it["time_s"])}</span> '
                     f'{html.escape(it["text"])}{who}</li>')
    if len(items) > 12:
        lines.append(f'<li class="cm-na-more">and {len(items) - 12} earlier (see Alerts below)</li>')
    for who, why in flagged(r, items)[:6]:
        lines.append(f'<li class="cm-na-person"><b>{html.escape(who)}</b>: {html.escape(why)}</li>')
    span = "in the last 10 minutes" if not r.finished else "in this session"
    body = (f'<ul class="cm-na-list">{"".join(lines)}</ul>' if lines
            else f'<p class="cm-na-calm">Nothing needs your attention {span}.</p>')
    if r.class_only:
        body += ('<p class="cm-note">Class-only session: only the class\'s own alerts are raised; no participant is '
                 "named or flagged here.</p>")
    return f'<div class="cm-na"><div class="cm-na-title">Needs attention <small>{span}</small></div>{body}</div>'


def mood_chart(r: Report) -> str:
    return mood_line(r.timeline)


def more_charts(r: Report) -> str:
    return f'<div class="cm-charts-row">{presence_lines(r.timeline)}{emotion_area(r.timeline)}</div>'


def charts_html(r: Report) -> str:
    return f'<div class="cm-charts-row">{mood_line(r.timeline)}{presence_lines(r.timeline)}{emotion_area(r.timeline)}</div>'


def participants_html(r: Report) -> str:
    """Participants as a table, most concerning first: present now or left, mood, share facing
    the screen, time on camera, latest expression, and a heat strip of their expression over the
    session."""
    if r.class_only:
        return (f'<div class="cm-people"><p>{CLASS_ONLY_PEOPLE}</p></div>')
    p = concern_table(r)
    if p.empty:
        return '<div class="cm-people"><p>No participants seen yet.</p></div>'
    x0 = 0.0
    x1 = max(r.now.time_s, float(r.strips["window_start"].max()) + r.strip_window_s if len(r.strips) else 0.0)
    cells = {name: list(zip(g["window_start"], g["emotion"])) for name, g in r.strips.groupby("participant")} \
        if len(r.strips) else {}
    span = f"{fmt_time(x0)} to {fmt_time(x1)}"
    rows = []
    for row in p.itertuples(index=False):
        if r.finished:
            now = f"seen {fmt_time(row.first_seen)}-{fmt_time(row.last_seen)}"
        else:
            now = "present" if row.present else f"left at {fmt_time(row.last_seen)}"
        mood = row.mood or "-"
        color = {"positive": "#2ca02c", "negative": "#d62728"}.get(mood, "#444")
        att = "-" if row.attention is None or pd.isna(row.attention) else f"{row.attention:.0%}"
        flag = f' <small class="cm-why">{html.escape(row.reasons)}</small>' if row.reasons else ""
        rows.append(
            f"<tr><td><b>{html.escape(who(str(row.participant)))}</b>{flag}</td><td>{now}</td>"
            f'<td style="color:{color}">{mood}</td><td>{att}</td><td>{_duration(row.time_on_camera_s)}</td>'
            f"<td>{html.escape(str(row.latest_emotion))}</td>"
            f"<td>{heat_strip(cells.get(row.participant, []), x0, x1, r.strip_window_s, span)}</td></tr>")
    head = (f"<tr><th>Participant</th><th>{'Seen' if r.finished else 'Now'}</th><th>Mood</th><th>Facing screen</th><th>On camera</th>"
            "<th>Latest</th><th>Expression over the session</th></tr>")
    unnamed = sum(1 for pid in p["participant"] if who(str(pid)) != str(pid))
    note = (f'<p class="cm-note">{unnamed} participant{"s" * (unnamed != 1)} unnamed: their name labels could not be '
            "read. A class roster names every tile surely (<code>classmood-bot --roster FILE</code>, or the roster "
            "field of the Recordings tab).</p>" if unnamed else "")
    return (f'<div class="cm-people"><table class="cm-table">{head}{"".join(rows)}</table>{note}'
            f'<div class="cm-legend">{strip_legend()}</div></div>')


def flagged(r: Report, items: list[dict] | None = None) -> list[tuple[str, str]]:
    """Participants the needs-attention panel flags without an alert of theirs in its span (their
    mood or attention over the session so far), with the reasons: (participant, reasons). The
    panel and the Alerts section list the same ones."""
    if items is None:
        since = r.now.time_s - RECENT_S if not r.finished else -1.0
        items = group_alerts(r.alerts[r.alerts["time_s"] >= since] if len(r.alerts) else r.alerts)
    people = concern_table(r)
    watch = people[people["concern"] >= 2] if len(people) else people
    already = {p for it in items for p in it["participants"]}
    return [(who(str(row.participant)), str(row.reasons)) for row in watch.itertuples(index=False)
            if row.participant not in already]


def alerts_html(r: Report) -> str:
    """Every alert of the session, newest first, text wrapped; then the participants the
    needs-attention panel flags without an alert, with the reasons (one list: the panel's)."""
    rows = "".join(f'<tr><td>{fmt_time(a.time_s)}</td><td>{html.escape(str(a.message))}</td></tr>'
                   for a in r.alerts.sort_values(["time_s", "id"], ascending=False).itertuples(index=False))
    span = "now" if not r.finished else "over the session"
    rows += "".join(f'<tr><td>{span}</td><td><b>{html.escape(name)}</b>: {html.escape(why)} (flagged, no alert '
                    f'raised)</td></tr>' for name, why in flagged(r))
    if not rows:
        return '<div class="cm-alerts"><p>No alerts, and no one flagged.</p></div>'
    return f'<div class="cm-alerts"><table class="cm-table"><tr><th>Time</th><th>Alert</th></tr>{rows}</table></div>'


def empty_class_html(command: str) -> str:
    return ('<div class="cm-empty"><div class="cm-title">No class is being watched</div>'
            "<p>Start the bot on the computer that shows the meeting's gallery view, then this page follows "
            "it by itself:</p>"
            f"<pre><code>{html.escape(command)}</code></pre>"
            "<p>Or analyse a recording in the Recordings tab.</p></div>")


def _duration(s: float) -> str:
    s = int(round(float(s)))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def img_tag(img_bgr: np.ndarray, alt: str = "", quality: int = 85, css_class: str = "") -> str:
    """An <img> holding the picture itself (a JPEG data URI): shown without being written to disk."""
    import cv2

    ok, jpg = cv2.imencode(".jpg", img_bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        return ""
    return (f'<img alt="{html.escape(alt)}" style="max-width:100%"' + (f' class="{css_class}"' if css_class else "")
            + f' src="data:image/jpeg;base64,{base64.b64encode(jpg.tobytes()).decode()}"/>')


def figures_html(key_frames: list[tuple[str, np.ndarray]]) -> str:
    """Captioned key frames as thumbnails; a click opens one large (no script: <details>)."""
    return "".join(f'<details class="cm-kf"><summary>{img_tag(img, caption)}'
                   f"<span>{html.escape(caption)}</span></summary></details>" for caption, img in key_frames)


CSS = """
.cm-head{margin:2px 0 6px}.cm-title{font-size:19px;font-weight:600;margin-bottom:6px}
.cm-state{font-weight:400;color:#666;font-size:13px}
.cm-cards{display:flex;gap:10px;flex-wrap:wrap}.cm-card{border:1px solid #ddd;border-radius:8px;padding:6px 14px;min-width:130px}
.cm-label{color:#666;font-size:13px}.cm-value{font-size:24px;font-weight:650}.cm-note{color:#777;font-size:12px}
.cm-notice{background:#fff4e5;border:1px solid #f0b37e;padding:4px 10px;border-radius:6px;font-size:13px}
.cm-na{border:1px solid #ddd;border-radius:8px;padding:8px 12px;max-height:330px;overflow-y:auto}
.cm-na-title{font-weight:600;font-size:16px;margin-bottom:4px}.cm-na-title small{font-weight:400;color:#777}
.cm-na-list{list-style:none;padding:0;margin:0}.cm-na-list li{padding:4px 0;border-bottom:1px solid #f0f0f0;font-size:14px}
.cm-na-class{color:#b00020;font-weight:600}.cm-na-burst{color:#8a5a00}.cm-na-time{color:#777;font-size:12px;margin-right:4px}
.cm-na-who{color:#777;font-size:12px}.cm-na-calm{color:#2c7a2c}
.cm-table{border-collapse:collapse;width:100%}.cm-table td,.cm-table th{border-bottom:1px solid #eee;padding:3px 8px;
text-align:left;vertical-align:middle;white-space:normal;word-break:break-word;font-size:14px}
.cm-why{color:#b00020}.cm-legend{font-size:12px;color:#555;margin-top:4px;display:flex;gap:10px;flex-wrap:wrap}
.cm-kf{display:inline-block;margin:4px;vertical-align:top}.cm-kf summary{list-style:none;cursor:zoom-in}
.cm-kf summary::-webkit-details-marker{display:none}.cm-kf img{width:220px;border:1px solid #ccc}
.cm-kf[open]{display:block}.cm-kf[open] img{width:100%;max-width:1100px;cursor:zoom-out}
.cm-kf span{display:block;font-size:12px;color:#555}
.cm-empty{border:1px dashed #bbb;border-radius:8px;padding:14px 18px}
.cm-charts-row{display:flex;flex-wrap:wrap;gap:8px}.cm-charts-row svg{flex:1 1 560px;min-width:0}
.cm-progress{border:1px solid #ddd;border-radius:8px;padding:8px 12px}.cm-failed{color:#b00020}
.cm-moment{border-left:4px solid #d62728;padding:2px 8px;margin:6px 0;font-size:14px}
.cm-moment-rise{border-left-color:#2ca02c}.cm-moment-head{font-weight:600}
.cm-stages{display:flex;gap:6px;flex-wrap:wrap;margin-top:4px}.cm-stages figure{margin:0}
.cm-stage{width:150px;border:1px solid #bbb}.cm-stages figcaption{font-size:11px;color:#666}
.cm-follow{padding-left:18px;margin:2px 0}.cm-follow li{margin:3px 0}.cm-said{font-size:13px;color:#555}
.cm-last{border:2px solid #2c7be5}.cm-last h4{margin:8px 0 2px}
"""


def inline_markdown(text: str) -> str:
    """`text` escaped for HTML with its inline Markdown rendered: *emphasis*, `code`."""
    import re

    out = html.escape(text)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    return re.sub(r"\*([^*]+)\*", r"<em>\1</em>", out)
