"""Small, dependency-free SVG charts (inline in the app and in self-contained HTML reports)."""

from __future__ import annotations

import html

import pandas as pd

from model import EMOTIONS

COLORS = {"angry": "#d62728", "disgust": "#8c564b", "fear": "#9467bd", "happy": "#2ca02c",
          "sad": "#1f77b4", "surprise": "#ff7f0e", "neutral": "#b0b0b0"}
W, H, PAD_L, PAD_B, PAD_T, PAD_R = 760, 220, 46, 26, 12, 110


def _fmt_time(s: float) -> str:
    s = int(s)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def _axes(x0: float, x1: float, y_ticks: list[tuple[float, str]], y_of) -> list[str]:
    out = [f'<line x1="{PAD_L}" y1="{H - PAD_B}" x2="{W - PAD_R}" y2="{H - PAD_B}" stroke="#888"/>']
    for v, label in y_ticks:
        y = y_of(v)
        out.append(f'<line x1="{PAD_L}" y1="{y:.1f}" x2="{W - PAD_R}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{PAD_L - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{label}</text>')
    for k in range(5):
        t = x0 + (x1 - x0) * k / 4
        x = PAD_L + (W - PAD_L - PAD_R) * k / 4
        out.append(f'<text x="{x:.1f}" y="{H - 8}" text-anchor="middle" font-size="11">{_fmt_time(t)}</text>')
    return out


def _x_of(x0, x1):
    span = max(x1 - x0, 1e-9)
    return lambda t: PAD_L + (W - PAD_L - PAD_R) * (t - x0) / span


def _svg(title: str, body: list[str]) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="100%" role="img" '
            f'aria-label="{html.escape(title)}" style="max-width:{W}px;font-family:system-ui,sans-serif">'
            f'<title>{html.escape(title)}</title>{"".join(body)}</svg>')


def emotion_area(timeline: pd.DataFrame, title: str = "Emotion shares over time") -> str:
    """Stacked area of `share_<emotion>` per window (a timeline from `Store.timeline`)."""
    if timeline.empty:
        return _svg(title, [f'<text x="{W / 2}" y="{H / 2}" text-anchor="middle">No data yet</text>'])
    t = ((timeline["window_start"] + timeline["window_end"]) / 2).tolist()
    x0, x1 = timeline["window_start"].min(), timeline["window_end"].max()
    x_of = _x_of(x0, x1)
    y_of = lambda v: PAD_T + (H - PAD_T - PAD_B) * (1 - v)  # noqa: E731
    body = _axes(x0, x1, [(0, "0%"), (0.5, "50%"), (1, "100%")], y_of)
    if len(t) == 1:
        t = [x0, x1]
        timeline = pd.concat([timeline, timeline])
    base = [0.0] * len(t)
    for k, e in enumerate(EMOTIONS):
        top = [b + v for b, v in zip(base, timeline[f"share_{e}"].tolist())]
        pts = [f"{x_of(x):.1f},{y_of(v):.1f}" for x, v in zip(t, top)]
        pts += [f"{x_of(x):.1f},{y_of(v):.1f}" for x, v in zip(reversed(t), reversed(base))]
        body.append(f'<polygon points="{" ".join(pts)}" fill="{COLORS[e]}" fill-opacity="0.85">'
                    f'<title>{e}</title></polygon>')
        body.append(f'<rect x="{W - PAD_R + 12}" y="{PAD_T + 4 + 18 * k}" width="12" height="12" fill="{COLORS[e]}"/>'
                    f'<text x="{W - PAD_R + 30}" y="{PAD_T + 14 + 18 * k}" font-size="12">{e}</text>')
        base = top
    return _svg(title, body)


def valence_line(timeline: pd.DataFrame, title: str = "Class mood (valence) over time") -> str:
    """Valence per window on [-1, 1], with engagement as a dashed line on [0, 1] scaled to [-1, 1]."""
    if timeline.empty:
        return _svg(title, [f'<text x="{W / 2}" y="{H / 2}" text-anchor="middle">No data yet</text>'])
    x0, x1 = timeline["window_start"].min(), timeline["window_end"].max()
    x_of = _x_of(x0, x1)
    y_of = lambda v: PAD_T + (H - PAD_T - PAD_B) * (1 - (v + 1) / 2)  # noqa: E731
    body = _axes(x0, x1, [(-1, "-1"), (-0.5, ""), (0, "0"), (0.5, ""), (1, "+1")], y_of)
    t = ((timeline["window_start"] + timeline["window_end"]) / 2).tolist()
    val = [f"{x_of(x):.1f},{y_of(v):.1f}" for x, v in zip(t, timeline["valence"])]
    eng = [f"{x_of(x):.1f},{y_of(2 * v - 1):.1f}" for x, v in zip(t, timeline["engagement"])]
    body.append(f'<polyline points="{" ".join(eng)}" fill="none" stroke="#999" stroke-dasharray="4 3" stroke-width="1.5"/>')
    body.append(f'<polyline points="{" ".join(val)}" fill="none" stroke="#2c7be5" stroke-width="2.5"/>')
    for x, v in zip(t, timeline["valence"]):
        body.append(f'<circle cx="{x_of(x):.1f}" cy="{y_of(v):.1f}" r="2.5" fill="#2c7be5"/>')
    body.append(f'<text x="{W - PAD_R + 10}" y="{PAD_T + 14}" font-size="12" fill="#2c7be5">valence</text>'
                f'<text x="{W - PAD_R + 10}" y="{PAD_T + 32}" font-size="12" fill="#777">engagement</text>'
                f'<text x="{W - PAD_R + 10}" y="{PAD_T + 46}" font-size="10" fill="#777">(0-100%)</text>')
    return _svg(title, body)
