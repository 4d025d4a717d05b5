"""Class-tab refresh time on a big session: 50 participants x 8 hours, one observation per 5 s
(~290k rows). Target: the class tab's data and figures in <= 1 s. Also the store's cost per frame
of 49 faces with its 1080p picture, without and with the face-image opt-in.

    python bench/dashboard.py [--participants 50] [--hours 8] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402


def fill(store, participants: int, hours: float, every: float = 5.0) -> int:
    from model import EMOTIONS

    rng = np.random.default_rng(0)
    sid = store.start_session("bench: 8 h class", "bench", interval_s=every)
    names = [f"Student {i:02d}" for i in range(participants)]
    tiles = [{"box": [0, 0, 100, 60], "name": n, "camera_off": False} for n in names]
    for t in np.arange(0, hours * 3600, every):
        p = rng.dirichlet(np.ones(7) * 0.6, size=participants)
        faces = [{"box": [10, 10, 40, 40], "tile": i, "participant": names[i], "role": "participant",
                  "confidence": 0.9, "uncertain": False, "emotion": EMOTIONS[int(p[i].argmax())],
                  "scores": dict(zip(EMOTIONS, p[i].round(4).tolist())),
                  "pose": [float(rng.normal(0, 15)), float(rng.normal(0, 8)), 0.0],
                  "attention": str(rng.choice(["facing", "facing", "facing", "away", "down"]))}
                 for i in range(participants)]
        store.add_frame(sid, {"time_s": float(t), "tiles": tiles, "faces": faces})
    return sid


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--participants", type=int, default=50)
    ap.add_argument("--hours", type=float, default=8.0)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    from bot.store import Store
    from model import EMOTIONS
    from bot.accounts import LOCAL
    from ui.app import App, AppConfig

    with tempfile.TemporaryDirectory() as d:
        store = Store(Path(d) / "bench.db")
        t = time.perf_counter()
        sid = fill(store, args.participants, args.hours)
        rows = len(store.observations(sid))
        print(f"session: {args.participants} participants x {args.hours:g} h at 5 s = {rows:,} observations "
              f"(written in {time.perf_counter() - t:.0f} s)")
        config = AppConfig(db_path=str(Path(d) / "bench.db"))
        # a page opened on the session: a new app, nothing kept (the session list, headline,
        # needs-attention panel, 3 charts, participants with heat strips, alerts)
        cold = []
        for _ in range(args.repeats):
            app = App(config, store=store, analyzer=_NoAnalyzer())
            t = time.perf_counter()
            view = app.class_view(LOCAL, sid, True, 0)
            cold.append(time.perf_counter() - t)
        # the live class: a frame of all participants arrives, then the refresh tick
        live, t_s = [], 8 * 3600.0
        names = [f"Student {i:02d}" for i in range(args.participants)]
        for _ in range(args.repeats * 4):
            t_s += 5.0
            store.add_frame(sid, {"time_s": t_s, "tiles": [{"box": [0, 0, 100, 60], "name": n} for n in names],
                                  "faces": [{"box": [10, 10, 40, 40], "tile": i, "participant": n, "role": "participant",
                                             "confidence": 0.9, "emotion": "neutral",
                                             "scores": {e: 0.9 if e == "neutral" else 0.1 / 6 for e in EMOTIONS}}
                                            for i, n in enumerate(names)]})
            t = time.perf_counter()
            app.class_view(LOCAL, sid, True, 0)
            live.append(time.perf_counter() - t)
        print(f"class tab refresh: page opened on the session (nothing kept) median {statistics.median(cold) * 1000:.0f} ms "
              f"(min {min(cold) * 1000:.0f}, max {max(cold) * 1000:.0f}) over {args.repeats}; live, a new frame before each "
              f"tick: median {statistics.median(live) * 1000:.0f} ms (max {max(live) * 1000:.0f}) over {len(live)}; "
              f"{view.participants.count('<tr>') - 1} participant rows, "
              f"{sum(len(getattr(view, k)) for k in ('headline', 'glance_chart', 'needs_attention', 'charts', 'participants', 'alerts')) / 1e3:.0f} kB of HTML")
        from bot.report import build_report

        readers = app._readers()
        side = {"one connection": [], "three side by side": []}
        for _ in range(args.repeats):  # the report's reads alone, nothing kept, both ways, interleaved
            for label, extra in (("one connection", None), ("three side by side", readers)):
                t = time.perf_counter()
                build_report(store, sid, 5.0, window_s=60.0, readers=extra)
                side[label].append(time.perf_counter() - t)
        print("  a report with nothing kept (build_report), medians side by side: " +
              "; ".join(f"{k} {statistics.median(v) * 1000:.0f} ms" for k, v in side.items()))
        write_cost(store)
    return 0


def write_cost(store, frames: int = 100) -> None:
    """Median time to store a frame of 49 faces with a 1080p picture, in sessions without and with
    `keep_faces` (measured alternately, side by side): with the opt-in, the pipeline cuts and encodes
    the faces (`bot.pipeline.face_images`) and the store keeps the bytes."""
    from bot.pipeline import face_images
    from bot.records import as_record
    from model import EMOTIONS

    picture = np.random.default_rng(1).integers(0, 255, (1080, 1920, 3), dtype=np.uint8)
    faces = [{"box": [40 + 270 * (k % 7), 20 + 150 * (k // 7), 70, 80], "tile": k, "participant": f"p{k}",
              "role": "participant", "confidence": 0.9, "uncertain": False, "emotion": "happy",
              "scores": {e: 1 / 7 for e in EMOTIONS}} for k in range(49)]
    sids = {keep: store.start_session(f"bench: keep_faces={keep}", "bench", keep_faces=keep) for keep in (False, True)}
    times: dict[bool, list[float]] = {False: [], True: []}
    for i in range(frames):
        for keep, sid in sids.items():
            t = time.perf_counter()
            record = as_record({"time_s": float(i), "tiles": [], "faces": faces})
            store.add_frame(sid, record, face_images(picture, record) if store.keeps_faces(sid) else None)
            times[keep].append(time.perf_counter() - t)
    size = store.face_images(sids[True])["jpeg"].map(len).median()
    print(f"store, one frame of 49 faces: median {statistics.median(times[False]) * 1000:.2f} ms; with face images "
          f"kept {statistics.median(times[True]) * 1000:.2f} ms ({size / 1024:.1f} KB a face)")


class _NoAnalyzer:
    """The dashboard needs no model."""

    classifier = type("C", (), {"card": {}})()


if __name__ == "__main__":
    raise SystemExit(main())
