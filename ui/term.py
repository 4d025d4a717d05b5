"""A term at a glance: one row a class, its lessons as cells, for the viewer's classes.

Each cell is one lesson (a session), in the order they were held: its upper half coloured by the
lesson's mood (its mean valence, `bot.mood`: red below, green above, grey about calm, white
without faces), its lower half by attention (the share of faces with a head pose that faced the
screen: the darker the more; hatched without head poses). Beside each row, its attendance trend
(participants present per lesson, camera on or off, a line) and the lesson count; below, the lessons with the most
follow-ups (participants an alert was raised about). A click on a cell or a follow-up opens that
lesson's report in the class tab (`CLICK_JS` hands its id to the page's hidden `#cm-term-open`
and shows that tab).
Built from `bot.store.Store.lessons()` in one pass: 2,400 lessons in milliseconds.
"""

from __future__ import annotations

import html
import math
import time

import pandas as pd

from bot.accounts import key_of
from bot.mood import MOOD_THRESHOLD, mood_of

TOP_FOLLOW_UPS = 10
NO_CLASS = "(no class named)"

CSS = """
.cm-term{border-collapse:collapse;font-size:13px}.cm-term td,.cm-term th{padding:2px 6px;border-bottom:1px solid #eee;
text-align:left;vertical-align:middle}.cm-term .cm-cls{white-space:nowrap;max-width:220px;overflow:hidden;text-overflow:ellipsis}
.cm-cells{display:flex;flex-wrap:wrap;gap:2px;max-width:760px}
.cm-lesson{width:11px;height:18px;padding:0;border:1px solid #bbb;border-radius:2px;cursor:pointer;display:flex;
flex-direction:column;background:#fff}.cm-lesson:hover{outline:2px solid #333}
.cm-lesson i{display:block;flex:1}.cm-lesson.cm-live{border:2px solid #1565c0}
.cm-term-legend{font-size:12px;color:#555;margin:6px 0;display:flex;gap:12px;flex-wrap:wrap;align-items:center}
.cm-term-legend b{display:inline-block;width:12px;height:10px;border:1px solid #bbb;vertical-align:middle;margin-right:3px}
.cm-followups{padding-left:18px}.cm-followups a{cursor:pointer;color:#0b57d0;text-decoration:underline}
.cm-term-empty{border:1px dashed #bbb;border-radius:8px;padding:14px 18px}
"""

# A click on a lesson: its id into the hidden textbox, whose input event opens the lesson, and the
# class tab brought to the front (a listener on the document, attached once: the table is redrawn
# without losing it)
CLICK_JS = """() => {
  if (window.cmTermClicks) return; window.cmTermClicks = true;
  document.addEventListener('click', (e) => {
    const cell = e.target.closest('[data-lesson]');
    if (!cell) return;
    e.preventDefault();
    const box = document.querySelector('#cm-term-open textarea, #cm-term-open input');
    if (!box) return;
    box.value = cell.dataset.lesson + '@' + Date.now();
    box.dispatchEvent(new Event('input', {bubbles: true}));
    const tab = document.querySelector('button[role="tab"][data-tab-id="class"]');
    if (tab) tab.click();
  });
}"""


STEPS = 10  # colours are drawn from STEPS + 1 shades each (a class per shade: a cell is ~150 bytes)


def mood_step(valence: float | None) -> str:
    """The CSS class of a lesson's mood shade: "m0" (valence -1) to "m10" (+1); "mn" without faces."""
    if valence is None or not math.isfinite(valence):
        return "mn"
    return f"m{round((max(-1.0, min(1.0, float(valence))) + 1) / 2 * STEPS)}"


def attention_step(attention: float | None) -> str:
    """The CSS class of a lesson's attention shade: "a0" (none faced the screen) to "a10"; "an"
    without head poses."""
    if attention is None or not math.isfinite(attention):
        return "an"
    return f"a{round(max(0.0, min(1.0, float(attention))) * STEPS)}"


def mood_colour(valence: float | None) -> str:
    """Red (negative) to grey (calm) to green (positive); white without faces."""
    if valence is None or not math.isfinite(valence):
        return "#ffffff"
    v = max(-1.0, min(1.0, float(valence)))
    if abs(v) < MOOD_THRESHOLD / 2:
        return "#d9d9d9"
    strength = min(1.0, (abs(v) - MOOD_THRESHOLD / 2) / (1.0 - MOOD_THRESHOLD / 2))
    base = (44, 160, 44) if v > 0 else (214, 39, 40)
    rgb = [round(217 + (c - 217) * (0.35 + 0.65 * strength)) for c in base]
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def attention_colour(attention: float | None) -> str:
    """Light (few faced the screen) to dark blue (all did); a hatch without head poses."""
    if attention is None or not math.isfinite(attention):
        return "repeating-linear-gradient(45deg,#fff 0 2px,#ccc 2px 4px)"
    a = max(0.0, min(1.0, float(attention)))
    light, dark = (232, 240, 254), (21, 67, 140)
    rgb = [round(lo + (hi - lo) * a) for lo, hi in zip(light, dark)]
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def shades_css() -> str:
    """The cells' shades, one rule per class of `mood_step` and `attention_step`."""
    rules = [f".cm-lesson .m{k}{{background:{mood_colour(2 * k / STEPS - 1)}}}"
             f".cm-lesson .a{k}{{background:{attention_colour(k / STEPS)}}}" for k in range(STEPS + 1)]
    return "".join(rules) + (f".cm-lesson .mn{{background:{mood_colour(None)}}}"
                             f".cm-lesson .an{{background:{attention_colour(None)}}}")


def _pct(x: float | None) -> str:
    return "-" if x is None or not math.isfinite(x) else f"{x:.0%}"


def _title(r) -> str:
    when = pd.Timestamp(r.started).strftime("%a %d %b %Y %H:%M")
    mood = mood_of(r.valence) or "no faces"
    present = "-" if not math.isfinite(r.present) else f"{r.present:.1f}"
    return (f"{r.name}, {when}: mood {mood}" + (f" ({r.valence:+.2f})" if math.isfinite(r.valence) else "")
            + f", attention {_pct(r.attention)}, {present} present, {r.follow_ups} to follow up"
            + (" (live)" if r.live else ""))


def _sparkline(values: list[float], width: int = 90, height: int = 18) -> str:
    pts = [v for v in values if math.isfinite(v)]
    if len(pts) < 2:
        return ""
    lo, hi = min(pts), max(pts)
    span = (hi - lo) or 1.0
    xy = " ".join(f"{width * k / (len(pts) - 1):.1f},{height - 2 - (height - 4) * (v - lo) / span:.1f}"
                  for k, v in enumerate(pts))
    return (f'<svg width="{width}" height="{height}" role="img" aria-label="attendance per lesson">'
            f'<polyline points="{xy}" fill="none" stroke="#555" stroke-width="1.2"/></svg>')


def attendance_trend(present: list[float]) -> str:
    """"18.0 → 15.5" (the mean of the first three lessons to the last three's) and a sparkline."""
    pts = [v for v in present if math.isfinite(v)]
    if not pts:
        return "-"
    head, tail = pts[:3], pts[-3:]
    text = f"{sum(head) / len(head):.1f} &rarr; {sum(tail) / len(tail):.1f}" if len(pts) > 3 else f"{pts[-1]:.1f}"
    return f"{_sparkline(pts)} {text}"


def term_html(lessons: pd.DataFrame, who: str = "", teachers: dict[str, str] | None = None) -> str:
    """The term view of `lessons` (`Store.lessons()`, already cut to what the viewer may see);
    `teachers`: how to name a lesson's teacher (`key_of` their name or full name -> the account's
    full name), so that "amy" and "Ms Amy Lee" are one person."""
    teachers = teachers or {}
    if lessons.empty:
        return ('<div class="cm-term-empty"><b>No lessons to show yet.</b> A teacher sees the lessons of the classes '
                "they teach (the bot's <code>--teacher</code> or the classes the admin assigned them); an admin sees "
                "all.</div>")
    df = lessons.copy()
    # one row a class however its bots spelled it ("Year 9 Biology", "year 9  biology"): its commonest spelling
    df["key"] = [key_of(c) or NO_CLASS for c in df["class_name"]]
    spelled = {k: g.mode().iloc[0] if g.notna().any() else NO_CLASS
               for k, g in df.groupby("key")["class_name"]}
    df["cls"] = [" ".join(str(spelled[k]).split()) for k in df["key"]]
    df = df.sort_values(["started", "id"])
    first, last = df["started"].min(), df["started"].max()
    n = df["key"].nunique()
    out = [f'<div class="cm-term-head" data-read="{time.time():.3f}"><b>{n} class{"es" * (n != 1)}, {len(df)} lesson{"s" * (len(df) != 1)}</b> '
           f'from {first:%d %b %Y} to {last:%d %b %Y}{html.escape(who)}</div>',
           '<div class="cm-term-legend"><span>upper half, mood: <b style="background:#d62728"></b>negative '
           '<b style="background:#d9d9d9"></b>calm <b style="background:#2ca02c"></b>positive '
           '<b style="background:#fff"></b>no faces</span><span>lower half, attention: '
           f'<b style="background:{attention_colour(0.2)}"></b>few faced the screen '
           f'<b style="background:{attention_colour(1.0)}"></b>all did</span><span>click a lesson for its report</span></div>',
           '<table class="cm-term"><tr><th>class</th><th>teacher</th><th>lessons</th><th>present per lesson</th>'
           '<th>lessons (oldest first)</th></tr>']
    for _, g in sorted(df.groupby("key"), key=lambda kv: kv[0]):
        cls = g["cls"].iloc[0]
        named = {teachers.get(key_of(t), " ".join(t.split())) for t in g["teacher"] if key_of(t)}
        taught_by = ", ".join(sorted(named, key=str.casefold))
        cells = "".join(
            f'<button class="cm-lesson{" cm-live" if r.live else ""}" data-lesson="{int(r.id)}" '
            f'title="{html.escape(_title(r))}"><i class="{mood_step(r.valence)}"></i>'
            f'<i class="{attention_step(r.attention)}"></i></button>' for r in g.itertuples())
        out.append(f'<tr><td class="cm-cls" title="{html.escape(cls)}">{html.escape(cls)}</td>'
                   f'<td>{html.escape(taught_by) or "-"}</td><td>{len(g)}</td>'
                   f'<td>{attendance_trend(list(g["present"]))}</td><td><div class="cm-cells">{cells}</div></td></tr>')
    out.append("</table>")
    top = df[df["follow_ups"] > 0].sort_values(["follow_ups", "alerts", "started"], ascending=[False, False, False])
    out.append("<h4>Lessons with the most follow-ups</h4>")
    if top.empty:
        out.append("<p>No participant was flagged for a follow-up this term.</p>")
    else:
        items = "".join(
            f'<li><a data-lesson="{int(r.id)}" href="#">{html.escape(r.cls)}: {html.escape(str(r.name))}, '
            f'{pd.Timestamp(r.started):%d %b %H:%M}</a>: {r.follow_ups} participant{"s" * (r.follow_ups != 1)} to '
            f'follow up ({r.alerts} alert{"s" * (r.alerts != 1)})</li>' for r in top.head(TOP_FOLLOW_UPS).itertuples())
        out.append(f'<ol class="cm-followups">{items}</ol>')
    return "".join(out)


CSS += shades_css()
