"""Per-window statistics of a session, and what the store's summaries derive from them.

One SQL aggregation (`Store.window_stats`) reduces a session's observations to a row per participant
and window of `window_s` seconds: counts per top emotion, when each was last seen, sums of valence,
attention and time on camera. Those sums add up: the timeline, the participants table and the heat
strips are derived from them here (`timeline`, `participants`, `strips`), and `SessionWindows`
keeps the rows of the windows that have closed, so a refresh of a live class reads only its open
window. The store's `timeline()`, `participants()` and `expression_strips()` are these functions
over a fresh read: one definition, whichever way it is read.
"""

from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from bot.mood import mood_of
from model import EMOTIONS

COUNTS = [f"n_{e}" for e in EMOTIONS]      # faces whose top emotion was e
LASTS = [f"last_{e}" for e in EMOTIONS]    # the latest time e was the top emotion (NaN: never)
STATS = ["participant", "bucket", "n", *COUNTS, *LASTS, "valence_sum", "facing", "posed", "down",
         "first_seen", "last_seen", "gap"]
FRAME_STATS = ["bucket", "frames", "faces", "present"]
TIMELINE = ["window_start", "window_end", "frames", "faces", "participants", "engagement", "valence",
            *[f"share_{e}" for e in EMOTIONS], "mood", "attention", "looking_down", "present"]
PARTICIPANTS = ["participant", "first_seen", "last_seen", "observations", "time_on_camera_s",
                "latest_emotion", "dominant_emotion", "valence", "mood", "present", "attention"]
STRIPS = ["participant", "window_start", "emotion", "faces"]
_ALPHABETICAL = np.argsort(EMOTIONS)       # ties between emotions go to the first in this order


def typical_gap(times) -> float:
    """The median gap between a session's frames, to two significant digits (0 with fewer than two
    frames): the time an observation stands for when no later frame tells (the session's last),
    and a third of the most any one stands for (a pause in the capture is not time on camera).
    Rounded so that the jitter of a live capture's clock does not change it at every frame."""
    gaps = np.diff(np.unique(np.asarray(times, float)))
    if not len(gaps):
        return 0.0
    med = float(np.median(gaps))
    return 0.0 if med <= 0 else round(med, 1 - int(math.floor(math.log10(med))))


def empty_stats() -> tuple[pd.DataFrame, pd.DataFrame]:
    return pd.DataFrame(columns=FRAME_STATS), pd.DataFrame(columns=STATS)


def _top(counts: np.ndarray) -> np.ndarray:
    """Index (in EMOTIONS order) of each row's largest count; ties to the alphabetically first."""
    return _ALPHABETICAL[np.argmax(np.asarray(counts, float)[:, _ALPHABETICAL], axis=1)]


def _share(num, den) -> list:
    """num / den rounded to 4 places, None where den is 0 (no face had what is counted)."""
    return [None if not d else round(float(n) / float(d), 4) for n, d in zip(num, den)]


def timeline(frame_stats: pd.DataFrame, stats: pd.DataFrame, window_s: float) -> pd.DataFrame:
    """`Store.timeline`'s table from per-window statistics (see the store's module for its columns):
    `stats` per participant and window (`Store.window_stats`), or already summed a window with a
    `participants` column (`Store.timeline` on its own)."""
    if frame_stats.empty:
        return pd.DataFrame(columns=TIMELINE)
    fw = frame_stats.groupby("bucket", as_index=False)[["frames", "faces", "present"]].sum()
    sums = ["n", *COUNTS, "valence_sum", "facing", "posed", "down"]
    if len(stats) and "participants" in stats:  # already one row a window, its participants counted
        ow = stats.groupby("bucket")[[*sums, "participants"]].sum().reset_index()
    elif len(stats):
        ow = stats.groupby("bucket").agg(**{c: (c, "sum") for c in sums},
                                         participants=("participant", "nunique")).reset_index()
    else:
        ow = pd.DataFrame(columns=["bucket", *sums, "participants"])
    out = fw.merge(ow.astype({"bucket": fw["bucket"].dtype}), on="bucket", how="left").sort_values("bucket")
    out[sums + ["participants"]] = out[sums + ["participants"]].fillna(0)
    n = out["n"].astype(float)
    seen = n > 0
    for e in EMOTIONS:
        out[f"share_{e}"] = np.where(seen, out[f"n_{e}"] / n.where(seen, 1.0), 0.0)
    present = out["present"].astype(float)
    out["engagement"] = np.where(present > 0, out["faces"] / present.where(present > 0, 1.0), 0.0).clip(0, 1)
    out["valence"] = np.where(seen, out["valence_sum"].astype(float) / n.where(seen, 1.0), 0.0)
    out["mood"] = [mood_of(float(v)) if k else None for v, k in zip(out["valence"], seen)]
    out["attention"] = _share(out["facing"], out["posed"])
    out["looking_down"] = _share(out["down"], out["posed"])
    out["participants"] = out["participants"].astype(int)
    out["frames"], out["faces"] = out["frames"].astype(int), out["faces"].astype(int)
    out["present"] = out["present"].astype(int)
    out["window_start"] = out["bucket"].astype(float) * window_s
    out["window_end"] = out["window_start"] + window_s
    return out[TIMELINE].reset_index(drop=True)


def participants(stats: pd.DataFrame, present: set) -> pd.DataFrame:
    """`Store.participants`' table from per-window statistics and the names in the latest frame."""
    named = stats[stats["participant"].notna()] if len(stats) else stats
    if named.empty:
        return pd.DataFrame(columns=PARTICIPANTS)
    g = named.groupby("participant", sort=True)
    sums = g[["n", *COUNTS, "valence_sum", "facing", "posed", "gap"]].sum()
    lasts = g[LASTS].max()
    out = pd.DataFrame({"participant": sums.index,
                        "first_seen": g["first_seen"].min().astype(float).to_numpy(),
                        "last_seen": g["last_seen"].max().astype(float).to_numpy(),
                        "observations": sums["n"].astype(int).to_numpy(),
                        "time_on_camera_s": sums["gap"].astype(float).round(1).to_numpy()})
    out["latest_emotion"] = [EMOTIONS[i] for i in _top(lasts.astype(float).fillna(-np.inf).to_numpy())]
    out["dominant_emotion"] = [EMOTIONS[i] for i in _top(sums[COUNTS].to_numpy())]
    out["valence"] = (sums["valence_sum"].astype(float) / sums["n"].astype(float)).round(4).to_numpy()
    out["mood"] = [mood_of(float(v)) for v in out["valence"]]
    out["present"] = out["participant"].isin(present)
    out["attention"] = _share(sums["facing"], sums["posed"])
    return out[PARTICIPANTS].reset_index(drop=True)


def strips(stats: pd.DataFrame, window_s: float, per: int = 1) -> pd.DataFrame:
    """Each participant's commonest top emotion (ties: alphabetical) per strip cell of `per`
    windows of `window_s` seconds: participant, window_start (of the cell), emotion, faces."""
    named = stats[stats["participant"].notna()] if len(stats) else stats
    if named.empty:
        return pd.DataFrame(columns=STRIPS)
    cell = named["bucket"].astype(np.int64) // int(per)
    counts = named[COUNTS].astype(float).groupby([named["participant"], cell]).sum()
    top = _top(counts.to_numpy())
    out = pd.DataFrame({"participant": counts.index.get_level_values(0),
                        "window_start": counts.index.get_level_values(1).astype(float) * window_s * per,
                        "emotion": [EMOTIONS[i] for i in top],
                        "faces": counts.to_numpy()[np.arange(len(top)), top].astype(int)})
    return out.sort_values(["participant", "window_start"]).reset_index(drop=True)


class SessionWindows:
    """The per-window statistics of one session, kept for the windows that have closed.

    `read()` returns the statistics of the whole session. The first read aggregates every window
    (split by time over the connections it is given, side by side); later ones only the windows
    from the first still open. The kept windows are read again from scratch when frames appeared
    before them (a session rewritten or cut by retention) or the session's typical gap changed."""

    def __init__(self, session_id: int, window_s: float):
        self.session_id, self.window_s = int(session_id), float(window_s)
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self.closed_until = 0.0      # windows before this time are kept
        self._frames_before = 0      # frames the kept windows were read from
        self._gap = None
        self._kept = empty_stats()

    def read(self, store, times, readers=()) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(frame statistics, participant statistics) of the session whose frame times are `times`
        (as `Store.frames` gives them); `readers`: more connections to the store."""
        times = np.sort(np.asarray(times, float))
        if not len(times):
            return empty_stats()
        w = self.window_s
        gap = typical_gap(times)
        with self._lock:
            before = int(np.searchsorted(times, self.closed_until, side="left"))
            if gap != self._gap or before != self._frames_before:
                self._reset()
                self._gap = gap
            closing = math.floor(times[-1] / w) * w          # the latest frame's window is still open
            spans = []
            if closing > self.closed_until:
                conns = 1 + len(readers)
                windows = int(round((closing - self.closed_until) / w))
                cuts = sorted({self.closed_until + w * round(windows * k / conns) for k in range(conns + 1)})
                spans = list(zip(cuts[:-1], cuts[1:]))
            jobs = [*spans, (max(closing, self.closed_until), None)]
            got = _run(store, list(readers), self.session_id, w, jobs, gap)
            closed = [self._kept, *got[:-1]]
            self._kept = tuple(_concat([c[i] for c in closed]) for i in range(2))
            self.closed_until = max(closing, self.closed_until)
            self._frames_before = int(np.searchsorted(times, self.closed_until, side="left"))
            return _concat([self._kept[0], got[-1][0]]), _concat([self._kept[1], got[-1][1]])


def _concat(parts: list[pd.DataFrame]) -> pd.DataFrame:
    full = [p for p in parts if len(p)]
    if not full:
        return parts[0]
    return pd.concat(full, ignore_index=True) if len(full) > 1 else full[0]


def _run(store, readers: list, session_id: int, w: float, spans: list, gap: float) -> list:
    """`Store.window_stats` over each time span; spans dealt to the connections in turn, each
    connection reading its spans one after another, the connections side by side."""
    def one(span, conn):
        return conn.window_stats(session_id, w, since_s=span[0], until_s=span[1], gap=gap)

    conns = [store, *readers]
    if len(spans) == 1 or len(conns) == 1:
        return [one(s, store) for s in spans]
    mine = {i: [k for k in range(len(spans)) if k % len(conns) == i] for i in range(len(conns))}
    with ThreadPoolExecutor(len(conns)) as pool:
        futures = {i: pool.submit(lambda ks, c: [one(spans[k], c) for k in ks], ks, conns[i])
                   for i, ks in mine.items() if ks}
        done = {k: r for i, f in futures.items() for k, r in zip(mine[i], f.result())}
    return [done[k] for k in range(len(spans))]
