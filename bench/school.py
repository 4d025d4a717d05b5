"""A school on one store: 50 simulated bots, each adding a 49-face frame every 2 s, while the class
tab's reads run every 5 s for 10 of them; on PostgreSQL and on one SQLite file, side by side.
Prints frames lost, write latency p50/p99 and read latency p50/p99.

    python bench/school.py [--bots 50] [--minutes 5] [--readers 10] [--postgres URL] [--only postgresql]

Without --postgres, a PostgreSQL server is started in a temporary folder (Debian's postgresql
package, as the tests do) and removed afterwards. Bots are threads in 5 processes (10 each, every
bot its own connection); readers run in a process of their own.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

FACES = 49
EVERY_S = 2.0
READ_EVERY_S = 5.0


def _frame(t: float, rng) -> dict:
    from model import EMOTIONS

    p = rng.dirichlet([0.6] * 7, size=FACES)
    faces = [{"box": [40 + 270 * (k % 7), 20 + 150 * (k // 7), 70, 80], "tile": k, "participant": f"Student {k:02d}",
              "role": "participant", "confidence": 0.9, "uncertain": False, "emotion": EMOTIONS[int(p[k].argmax())],
              "scores": dict(zip(EMOTIONS, p[k].round(4).tolist()))} for k in range(FACES)]
    tiles = [{"box": [0, 0, 100, 60], "name": f"Student {k:02d}", "camera_off": False} for k in range(FACES)]
    return {"time_s": t, "tiles": tiles, "faces": faces}


def _bots(target: str, sids: list[int], start: float, seconds: float, out) -> None:
    """Writer process: one thread a bot, each with its own connection."""
    import threading

    import numpy as np

    from bot.store import Store

    results = []

    def bot(k: int, sid: int) -> None:
        rng = np.random.default_rng(sid)
        store = Store(target, timeout=30)
        lat, lost, written = [], 0, 0
        phase = (k % 20) * EVERY_S / 20  # bots started at different moments
        i = 0
        while True:
            due = start + phase + i * EVERY_S
            if due - start >= seconds:
                break
            wait = due - time.time()
            if wait > 0:
                time.sleep(wait)
            fr = _frame(float(i * EVERY_S), rng)
            t = time.perf_counter()
            try:
                store.add_frame(sid, fr)
                written += 1
                lat.append(time.perf_counter() - t)
            except Exception as e:  # noqa: BLE001 - a lost frame, counted
                lost += 1
                print(f"bot {k}: {e}", file=sys.stderr)
            i += 1
        store.close()
        results.append((sid, written, lost, lat))

    threads = [threading.Thread(target=bot, args=(k, sid)) for k, sid in enumerate(sids)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put(("bots", results))


def _readers(target: str, sids: list[int], start: float, seconds: float, out) -> None:
    """The class tab of `len(sids)` teachers, refreshed every 5 s: the store reads it makes."""
    import threading

    from bot.store import Store

    lat: list[float] = []
    errors = [0]

    def reader(k: int, sid: int) -> None:
        store = Store(target, timeout=30)
        i = 0
        while True:
            due = start + 1.0 + k * READ_EVERY_S / len(sids) + i * READ_EVERY_S
            if due - start >= seconds:
                break
            wait = due - time.time()
            if wait > 0:
                time.sleep(wait)
            t = time.perf_counter()
            try:
                store.sessions()
                store.timeline(sid, window_s=60.0)
                store.participants(sid)
                store.alerts(sid)
                store.recent_dominant(sid, 0.0)
                lat.append(time.perf_counter() - t)
            except Exception as e:  # noqa: BLE001
                errors[0] += 1
                print(f"reader {k}: {e}", file=sys.stderr)
            i += 1
        store.close()

    threads = [threading.Thread(target=reader, args=(k, sid)) for k, sid in enumerate(sids)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put(("readers", (lat, errors[0])))


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(round(q * (len(v) - 1))))] * 1000


def run(target: str, label: str, bots: int, minutes: float, readers: int) -> dict:
    from bot.store import Store

    store = Store(target, timeout=30)
    sids = [store.start_session(f"bench bot {k}", "bench", EVERY_S, class_name=f"class {k}", teacher=f"teacher {k}")
            for k in range(bots)]
    seconds = minutes * 60
    start = time.time() + 3.0
    out = mp.Queue()
    groups = [sids[i::5] for i in range(5)]
    procs = [mp.Process(target=_bots, args=(target, g, start, seconds, out)) for g in groups if g]
    procs.append(mp.Process(target=_readers, args=(target, sids[:readers], start, seconds, out)))
    for p in procs:
        p.start()
    bot_results, read = [], ([], 0)
    for _ in procs:
        kind, payload = out.get(timeout=seconds + 600)
        if kind == "bots":
            bot_results += payload
        else:
            read = payload
    for p in procs:
        p.join()
    expected = sum(len([i for i in range(10 ** 6) if (k % 20) * EVERY_S / 20 + i * EVERY_S < seconds])
                   for k in range(bots))
    stored = sum(int(store.session(sid)["frames"]) for sid in sids)
    written = sum(r[1] for r in bot_results)
    lost = sum(r[2] for r in bot_results) + (written - stored)
    writes = [x for r in bot_results for x in r[3]]
    store.close()
    res = {"label": label, "expected": expected, "stored": stored, "lost": lost, "w50": _pct(writes, 0.5),
           "w99": _pct(writes, 0.99), "r50": _pct(read[0], 0.5), "r99": _pct(read[0], 0.99), "reads": len(read[0]),
           "read_errors": read[1]}
    print(f"  {label:<11} frames {stored:,} of {expected:,} stored, lost {lost}; write p50 {res['w50']:.0f} ms, "
          f"p99 {res['w99']:.0f} ms; class-tab reads ({res['reads']}) p50 {res['r50']:.0f} ms, p99 {res['r99']:.0f} ms"
          f"{f', {read[1]} failed' if read[1] else ''}", flush=True)
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bots", type=int, default=50)
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--readers", type=int, default=10)
    ap.add_argument("--postgres", metavar="URL", help="an existing, empty PostgreSQL database (default: a temporary server)")
    ap.add_argument("--only", choices=["postgresql", "sqlite"])
    args = ap.parse_args()
    from cpu import vector_extensions

    print(f"{args.bots} bots x {args.minutes:g} min, a {FACES}-face frame every {EVERY_S:g} s each; class-tab reads "
          f"every {READ_EVERY_S:g} s for {args.readers} of them ({vector_extensions()}):", flush=True)
    server = None
    try:
        if args.only != "sqlite":
            url = args.postgres
            if url is None:
                from bot import pgserver

                why = pgserver.missing()
                if why:
                    sys.exit(f"bench/school.py: {why}; or pass --postgres URL")
                server = pgserver.start()
                url = server.create_db("school")
            run(url, "PostgreSQL", args.bots, args.minutes, args.readers)
        if args.only != "postgresql":
            with tempfile.TemporaryDirectory() as d:
                run(str(Path(d) / "school.db"), "SQLite", args.bots, args.minutes, args.readers)
    finally:
        if server is not None:
            from bot import pgserver

            pgserver.remove(server)
    print("  targets on PostgreSQL: 0 frames lost, write p99 <= 200 ms, class-tab read p99 <= 1 s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
