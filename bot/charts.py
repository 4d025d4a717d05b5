"""Small, dependency-free SVG charts (inline in the app and in self-contained HTML reports).

Every chart has a visible title, labelled axes with units, and leaves a gap where there is nothing
to draw (a stretch with no face is not a zero)."""

from __future__ import annotations

import html
import math

import pandas as pd

from bot.mood import MOOD_THRESHOLD
from model import EMOTIONS

COLORS = {"angry": "#d62728", "disgust": "#8c564b", "fear": "#9467bd", "happy": "#2ca02c",
          "sad": "#1f77b4", "surprise": "#ff7f0e", "neutral": "#b0b0b0"}
W, H, PAD_L, PAD_B, PAD_T, PAD_R = 760, 230, 60, 40, 30, 118


def fmt_time(s: float) -> str:
    s = int(s)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def _axes(x0: float, x1: float, y_ticks: list[tuple[float, str]], y_of, y_label: str) -> list[str]:
    out = [f'<line x1="{PAD_L}" y1="{H - PAD_B}" x2="{W - PAD_R}" y2="{H - PAD_B}" stroke="#888"/>']
    for v, label in y_ticks:
        y = y_of(v)
        out.append(f'<line x1="{PAD_L}" y1="{y:.1f}" x2="{W - PAD_R}" y2="{y:.1f}" stroke="#e2e2e2"/>')
        out.append(f'<text x="{PAD_L - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{label}</text>')
    for k in range(5):
        t = x0 + (x1 - x0) * k / 4
        x = PAD_L + (W - PAD_L - PAD_R) * k / 4
        out.append(f'<text x="{x:.1f}" y="{H - PAD_B + 14}" text-anchor="middle" font-size="11">{fmt_time(t)}</text>')
    out.append(f'<text x="{(PAD_L + W - PAD_R) / 2:.0f}" y="{H - 6}" text-anchor="middle" font-size="11" '
               f'fill="#666">class time (min:s)</text>')
    mid = (PAD_T + H - PAD_B) / 2
    out.append(f'<text x="11" y="{mid:.0f}" text-anchor="middle" font-size="11" fill="#666" '
               f'transform="rotate(-90 11 {mid:.0f})">{html.escape(y_label)}</text>')
    return out


def _x_of(x0, x1):
    span = max(x1 - x0, 1e-9)
    return lambda t: PAD_L + (W - PAD_L - PAD_R) * (t - x0) / span


def _svg(title: str, body: list[str], elem_class: str = "") -> str:
    head = (f'<text x="{PAD_L}" y="18" font-size="14" font-weight="600">{html.escape(title)}</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="100%" role="img" '
            f'class="cm-chart {elem_class}" aria-label="{html.escape(title)}" '
            f'style="max-width:{W}px;font-family:system-ui,sans-serif">'
            f'<title>{html.escape(title)}</title>{head}{"".join(body)}</svg>')


def _empty(title: str) -> str:
    return _svg(title, [f'<text x="{W / 2}" y="{H / 2}" text-anchor="middle" fill="#777">No frames yet</text>'])


def _runs(xs, ys) -> list[list[tuple[float, float]]]:
    """Consecutive points with a value, split where a value is missing (a gap in the line)."""
    runs, cur = [], []
    for x, y in zip(xs, ys):
        if y is None or (isinstance(y, float) and math.isnan(y)):
            if cur:
                runs.append(cur)
            cur = []
        else:
            cur.append((x, float(y)))
    if cur:
        runs.append(cur)
    return runs


def _line(xs, ys, x_of, y_of, color: str, width: float = 2.5, dash: str = "", dots: bool | None = None) -> list[str]:
    out = []
    dots = len(xs) <= 40 if dots is None else dots  # dots on each point where there are few
    for run in _runs(xs, ys):
        pts = " ".join(f"{x_of(x):.1f},{y_of(v):.1f}" for x, v in run)
        if len(run) > 1:
            out.append(f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="{width}"'
                       + (f' stroke-dasharray="{dash}"' if dash else "") + "/>")
        if dots or len(run) == 1:
            out += [f'<circle cx="{x_of(x):.1f}" cy="{y_of(v):.1f}" r="2.5" fill="{color}"/>' for x, v in run]
    return out


def _legend(items: list[tuple[str, str, str]]) -> list[str]:
    out = []
    for k, (label, color, dash) in enumerate(items):
        y = PAD_T + 8 + 18 * k
        out.append(f'<line x1="{W - PAD_R + 10}" y1="{y}" x2="{W - PAD_R + 28}" y2="{y}" stroke="{color}" '
                   f'stroke-width="2.5"' + (f' stroke-dasharray="{dash}"' if dash else "") + "/>"
                   f'<text x="{W - PAD_R + 33}" y="{y + 4}" font-size="12">{html.escape(label)}</text>')
    return out


def _full(timeline: pd.DataFrame) -> pd.DataFrame:
    """The timeline with a row for every window from its first to its last (windows without frames
    added, with no faces and no values), so that gaps show as gaps."""
    if len(timeline) < 2:
        return timeline.reset_index(drop=True)
    w = float((timeline["window_end"] - timeline["window_start"]).iloc[0]) or 1.0
    starts = timeline["window_start"].to_numpy()
    k = ((starts - starts[0]) / w).round().astype(int)
    if k[-1] + 1 == len(k):
        return timeline.reset_index(drop=True)
    full = pd.DataFrame({"window_start": starts[0] + w * pd.RangeIndex(k[-1] + 1)})
    full["window_end"] = full["window_start"] + w
    rest = timeline.drop(columns=["window_end"]).assign(window_start=starts[0] + w * k)
    out = full.merge(rest, on="window_start", how="left")
    out["faces"] = out["faces"].fillna(0)
    for c in ("mood", "attention", "looking_down"):
        if c in out:
            out[c] = out[c].astype(object).where(out[c].notna(), None)
    return out


MAX_WINDOWS = 120  # a chart shows at most this many windows: neighbours are merged beyond


def _display(timeline: pd.DataFrame) -> pd.DataFrame:
    """The timeline with every window present (`_full`), merged k by k into at most `MAX_WINDOWS`
    (values weighted by their faces): a chart 700 pixels wide shows no more, and its SVG stays small."""
    full = _full(timeline)
    k = int(math.ceil(len(full) / MAX_WINDOWS))
    if k <= 1:
        return full
    g = full.index // k
    faces = full["faces"].fillna(0).astype(float)
    out = pd.DataFrame({"window_start": full["window_start"].groupby(g).min(),
                        "window_end": full["window_end"].groupby(g).max(), "faces": faces.groupby(g).sum()})

    def weighted(col):
        v = pd.to_numeric(full[col], errors="coerce")
        w = faces.where(v.notna(), 0.0)
        tot = w.groupby(g).sum()
        return ((v.fillna(0) * w).groupby(g).sum() / tot.where(tot > 0)).astype(float)

    for col in ["valence", "attention", "engagement", *[f"share_{e}" for e in EMOTIONS]]:
        if col in full:
            out[col] = weighted(col)
    if "engagement" in full:  # engagement is defined where there were frames, faces or not
        out["engagement"] = pd.to_numeric(full["engagement"], errors="coerce").groupby(g).mean()
    out["mood"] = [None if (f == 0 or pd.isna(v)) else "x" for f, v in zip(out["faces"], out["valence"])]
    for col in ("attention",):
        if col in out:
            out[col] = out[col].astype(object).where(out[col].notna(), None)
    return out.reset_index(drop=True)


def _plot(timeline: pd.DataFrame, lo: float, ticks: list[tuple[float, str]], y_label: str):
    """A chart's frame: the timeline as drawn (`_display`), x and y to pixels (y from `lo` up to
    the last tick), and the axes."""
    x0, x1 = timeline["window_start"].min(), timeline["window_end"].max()
    hi = ticks[-1][0]
    y_of = lambda v: PAD_T + (H - PAD_T - PAD_B) * (1 - (v - lo) / (hi - lo))  # noqa: E731
    return _display(timeline), _x_of(x0, x1), y_of, _axes(x0, x1, ticks, y_of, y_label)


PERCENT = [(0, "0%"), (0.5, "50%"), (1, "100%")]


def _spans(spans, x_of) -> list[str]:
    """Shaded stretches of time (start_s, end_s, colour) behind a chart's lines: the report's moments."""
    out = []
    for start, end, color in spans or ():
        x0, x1 = max(PAD_L, x_of(start)), min(W - PAD_R, x_of(end))
        if x1 > x0:
            out.append(f'<rect x="{x0:.1f}" y="{PAD_T}" width="{x1 - x0:.1f}" height="{H - PAD_T - PAD_B}" '
                       f'fill="{color}" fill-opacity="0.16" class="cm-span"/>')
    return out


def _centres(timeline: pd.DataFrame) -> list[float]:
    return ((timeline["window_start"] + timeline["window_end"]) / 2).tolist()


def emotion_area(timeline: pd.DataFrame, title: str = "Expressions over time (share of faces)") -> str:
    """Stacked area of `share_<emotion>` per window (a timeline from `Store.timeline`); windows
    without faces are left blank."""
    if timeline.empty:
        return _empty(title)
    timeline, x_of, y_of, body = _plot(timeline, 0.0, PERCENT, "share of faces")
    for k, e in enumerate(EMOTIONS):
        body.append(f'<rect x="{W - PAD_R + 12}" y="{PAD_T + 4 + 18 * k}" width="12" height="12" fill="{COLORS[e]}"/>'
                    f'<text x="{W - PAD_R + 30}" y="{PAD_T + 14 + 18 * k}" font-size="12">{e}</text>')
    has = (timeline["faces"].fillna(0) > 0).tolist() if "faces" in timeline else [True] * len(timeline)
    rows = timeline.reset_index(drop=True)
    # stretches of windows with faces; a window without any stays blank
    for run in _runs(range(len(rows)), [1.0 if ok else None for ok in has]):
        part = rows.loc[[i for i, _ in run]]
        # each window's shares held across the window: steps, so that one window alone shows too
        xs = [x for a, b in zip(part["window_start"], part["window_end"]) for x in (a, b)]
        base = [0.0] * len(xs)
        for e in EMOTIONS:
            top = [b + v for b, v in zip(base, (v for v in part[f"share_{e}"] for _ in (0, 1)))]
            pts = [f"{x_of(x):.1f},{y_of(v):.1f}" for x, v in zip(xs, top)]
            pts += [f"{x_of(x):.1f},{y_of(v):.1f}" for x, v in zip(reversed(xs), reversed(base))]
            body.append(f'<polygon points="{" ".join(pts)}" fill="{COLORS[e]}" fill-opacity="0.88">'
                        f'<title>{e}</title></polygon>')
            base = top
    return _svg(title, body, "cm-emotions")


def mood_line(timeline: pd.DataFrame, title: str = "Class mood over time", spans=()) -> str:
    """Valence per window on [-1, +1] with the mood boundaries (+/-0.25) marked; a gap where a
    window had no face. `spans`: (start_s, end_s, colour) stretches shaded behind it."""

    if timeline.empty:
        return _empty(title)
    timeline, x_of, y_of, body = _plot(timeline, -1.0, [(-1, "-1"), (-MOOD_THRESHOLD, f"-{MOOD_THRESHOLD:g}"), (0, "0"),
                                                        (MOOD_THRESHOLD, f"+{MOOD_THRESHOLD:g}"), (1, "+1")], "valence")
    body.append(f'<rect x="{PAD_L}" y="{y_of(MOOD_THRESHOLD):.1f}" width="{W - PAD_L - PAD_R}" '
                f'height="{y_of(-MOOD_THRESHOLD) - y_of(MOOD_THRESHOLD):.1f}" fill="#f3f3f3"/>')
    body += _spans(spans, x_of)
    values = [None if m is None or pd.isna(m) else v for v, m in zip(timeline["valence"], timeline["mood"])]
    body += _line(_centres(timeline), values, x_of, y_of, "#2c7be5")
    body.append(f'<text x="{W - PAD_R + 10}" y="{y_of(0.6):.0f}" font-size="12" fill="#2ca02c">positive</text>'
                f'<text x="{W - PAD_R + 10}" y="{y_of(0) + 4:.0f}" font-size="12" fill="#555">neutral</text>'
                f'<text x="{W - PAD_R + 10}" y="{y_of(-0.6):.0f}" font-size="12" fill="#d62728">negative</text>')
    return _svg(title, body, "cm-mood")


def presence_lines(timeline: pd.DataFrame, title: str = "Engagement and attention", spans=()) -> str:
    """Engagement (faces visible / participants present) and attention (share of faces facing the
    screen) per window, both 0-100% on their own axis; gaps where a window had no face. `spans`:
    (start_s, end_s, colour) stretches shaded behind them."""
    if timeline.empty:
        return _empty(title)
    timeline, x_of, y_of, body = _plot(timeline, 0.0, PERCENT, "share (%)")
    body += _spans(spans, x_of)
    t = _centres(timeline)
    faces = timeline["faces"].fillna(0).tolist() if "faces" in timeline else [1] * len(t)
    eng = [v if n > 0 else None for v, n in zip(timeline["engagement"], faces)]
    body += _line(t, eng, x_of, y_of, "#6c757d", width=2)
    if "attention" in timeline:
        body += _line(t, timeline["attention"].tolist(), x_of, y_of, "#7b2cbf", dash="5 3")
    body += _legend([("engagement", "#6c757d", ""), ("facing screen", "#7b2cbf", "5 3")])
    return _svg(title, body, "cm-presence")


def heat_strip(cells: list[tuple[float, str]], x0: float, x1: float, window_s: float, label: str = "",
               width: int = 240, height: int = 14) -> str:
    """One participant's commonest expression per window as a row of coloured cells over the
    session (light grey where they were not seen); `cells` = (window_start, emotion). Drawn as a
    tiny PNG, a pixel a window, stretched: 50 participants stay a few kilobytes."""
    import base64

    import cv2
    import numpy as np

    n = max(1, int(np.ceil((x1 - x0) / max(window_s, 1e-9))))
    row = np.full((1, n, 3), 244, np.uint8)
    for start, emotion in cells:
        k = int((start - x0) // window_s)
        if 0 <= k < n:
            hx = COLORS.get(emotion, "#cccccc").lstrip("#")
            row[0, k] = (int(hx[4:6], 16), int(hx[2:4], 16), int(hx[0:2], 16))
    ok, png = cv2.imencode(".png", row)
    src = base64.b64encode(png.tobytes()).decode() if ok else ""
    alt = "expression over the session" + (f", {label}" if label else "")
    return (f'<img class="cm-strip" alt="{html.escape(alt)}" title="{html.escape(alt)}" width="{width}" '
            f'height="{height}" style="image-rendering:pixelated;width:{width}px;height:{height}px" '
            f'src="data:image/png;base64,{src}"/>')


def strip_legend() -> str:
    return " ".join(f'<span style="white-space:nowrap"><span style="display:inline-block;width:10px;height:10px;'
                    f'background:{COLORS[e]};margin-right:3px"></span>{e}</span>' for e in EMOTIONS)
