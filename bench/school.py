"""A school on one store: 50 simulated bots, each adding a 49-face frame every 2 s, while the class
tab's reads run every 5 s for 10 of them; on PostgreSQL and on one SQLite file, side by side.
Prints frames lost, write latency p50/p99 and read latency p50/p99.

    python bench/school.py [--bots 50] [--minutes 5] [--readers 10] [--postgres URL] [--only postgresql]
    python bench/school.py --case term [--classes 40] [--lessons 60] [--participants 20] [--frames 60] [--browser]

`--case term`: a term of `classes` x `lessons` ended lessons (each `frames` frames of
`participants` faces, written in bulk by SQL) on PostgreSQL, an admin and a teacher; prints the
median of 9 of the term tab's read and render (`ui.state.App.term_view`, the admin's whole school
and one teacher's class), side by side with the class tab's read of one lesson (`App.class_view`,
a page opened on it), and the first read of a term whose summaries are missing (a database from
before them). `--browser`: the same two in Debian's Chromium, from the click until painted.

Without --postgres, a PostgreSQL server is started in a temporary folder (Debian's postgresql
package, as the tests do) and removed afterwards. Bots are threads in 5 processes (10 each, every
bot its own connection); readers run in a process of their own.
"""

from __future__ import annotations

import argparse
import contextlib
import json
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


def _fill_term(url: str, classes: int, lessons: int, participants: int, frames: int) -> tuple[int, float]:
    """The term's sessions (a lesson every other day from a term's start), their frames, faces and
    some alerts, written by SQL on the server; then each lesson ended through the store, which
    makes its summary. Returns (a lesson's id, seconds per lesson to end it)."""
    import psycopg

    from bot.store import Store
    from model import EMOTIONS

    store = Store(url, timeout=30)
    start = time.time() - lessons * 2 * 86400
    for c in range(classes):
        for k in range(lessons):
            store.start_session(f"Class {c:02d} lesson {k + 1}", "bench", 5.0, class_name=f"Class {c:02d}",
                                teacher=f"Teacher {c:02d}", started=start + k * 2 * 86400 + c * 600)
    emotion = "(ARRAY[" + ",".join(f"'{e}'" for e in EMOTIONS) + "])[1 + (p + f + s.id) % 7]"
    scores = ", ".join(f"CASE WHEN {emotion} = '{e}' THEN 0.8 ELSE {0.2 / 6:.4f} END" for e in EMOTIONS)
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(f"INSERT INTO frames(session_id, time_s, created, file, tiles, camera_off, faces, participants)"
                   f" SELECT s.id, f * 5.0, s.started + f * 5.0, NULL, {participants}, 0, {participants} - (s.id % 3),"
                   f" {participants} - (s.id % 3) FROM sessions s, generate_series(0, {frames - 1}) f")
        db.execute(f"INSERT INTO observations(session_id, frame_id, time_s, participant, tile, role, emotion, confidence,"
                   f" uncertain, x, y, w, h, {', '.join(EMOTIONS)}, yaw, pitch, roll, attention)"
                   f" SELECT s.id, fr.id, fr.time_s, 'Student ' || p, p, 'participant', {emotion}, 0.8, 0, 0, 0, 40, 40,"
                   f" {scores}, 0, 0, 0, CASE WHEN (p * 7 + f + s.id) % 5 = 0 THEN 'away' ELSE 'facing' END"
                   f" FROM sessions s JOIN frames fr ON fr.session_id = s.id, LATERAL (SELECT CAST(fr.time_s / 5.0 AS INTEGER) AS f) t,"
                   f" generate_series(0, {participants} - 1 - (s.id % 3)) p")
        db.execute("INSERT INTO alerts(session_id, time_s, created, rule, participant, message)"
                   " SELECT s.id, 120.0, s.started + 120, 'participant_negative', 'Student ' || (s.id % 5),"
                   " 'has looked negative for 5 min' FROM sessions s WHERE s.id % 4 = 0")
        db.execute("ANALYZE")
    ids = [int(i) for i in store.sessions()["id"]]
    t = time.perf_counter()
    for sid in ids:
        store.end_session(sid, at=time.time())
    per = (time.perf_counter() - t) / len(ids)
    store.close()
    return ids[len(ids) // 2], per


def _in_browser(url: str, sid: int, repeats: int) -> dict:
    """The same in Debian's Chromium against `classmood-ui` on the term's database, signed in as
    the admin: "Read again" on the term tab until the new table is painted, side by side with a
    click on a lesson until the class tab shows it (a lesson and its neighbour in turn)."""
    import os
    import statistics

    from playwright.sync_api import sync_playwright

    repo = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(repo))
    from tests.test_ui_browser import CHROMIUM, FLAGS, start_app, stop_app

    os.environ.pop("CLASSMOOD_AUTH", None)
    p, app_url = start_app(url, {})
    paint = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
    out: dict[str, list[float]] = {"term tab, admin: Read again until painted": [],
                                   "class tab: a lesson clicked until shown": []}
    try:
        with sync_playwright() as pw:
            b = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
            page = b.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(app_url)
            page.get_by_label("username").fill("head")
            page.get_by_label("password").fill("bench-admin-password")
            page.get_by_role("button", name="Login").click()
            page.locator("#cm-who").wait_for(timeout=120000)
            page.get_by_role("tab", name="Term").click()
            page.locator("#cm-term .cm-term").wait_for(timeout=120000)
            names = {}
            for k in range(repeats):
                page.get_by_role("tab", name="Term").click()
                before = page.locator("#cm-term .cm-term-head").get_attribute("data-read")
                t = time.perf_counter()
                page.locator("#cm-term-refresh").click()
                page.wait_for_function(f"() => {{ const h = document.querySelector('#cm-term .cm-term-head');"
                                       f" return h && h.dataset.read !== '{before}'; }}", timeout=60000)
                page.evaluate(paint)
                out["term tab, admin: Read again until painted"].append(time.perf_counter() - t)
                lesson = sid + k % 2
                cell = page.locator(f'#cm-term button[data-lesson="{lesson}"]')
                name = names.setdefault(lesson, cell.get_attribute("title").split(",")[0])
                t = time.perf_counter()
                cell.click()
                page.wait_for_function(f"() => (document.querySelector('#cm-headline') || {{}}).innerText"
                                       f"?.includes({json.dumps(name)})", timeout=60000)
                page.evaluate(paint)
                out["class tab: a lesson clicked until shown"].append(time.perf_counter() - t)
            b.close()
    finally:
        stop_app(p)
    res = {}
    for label, v in out.items():
        res[label] = statistics.median(v)
        print(f"  {label:<40} median of {repeats} {res[label] * 1000:.0f} ms (min {min(v) * 1000:.0f}, "
              f"max {max(v) * 1000:.0f})", flush=True)
    return res


def run_term(url: str, classes: int, lessons: int, participants: int, frames: int, repeats: int = 9,
             browser: bool = False) -> dict:
    """The term case (see the module)."""
    import statistics

    from bot.accounts import Accounts
    from bot.store import Store
    from ui.state import App, AppConfig

    t = time.perf_counter()
    sid, end_per = _fill_term(url, classes, lessons, participants, frames)
    store = Store(url, timeout=30)
    accounts = Accounts(store)
    accounts.add("head", "admin", "bench-admin-password")
    accounts.add("t00", "teacher", "bench-teacher-password", full_name="Teacher 00")
    rows = store._read_one("SELECT COUNT(*) FROM observations")[0]
    print(f"  a term of {classes} classes x {lessons} lessons, {participants} participants x {frames} frames each: "
          f"{rows:,} observations (written in {time.perf_counter() - t:.0f} s); ending a lesson (its summary) "
          f"{end_per * 1000:.1f} ms", flush=True)
    config = AppConfig(db_path=url)
    times: dict[str, list[float]] = {"term, admin (all classes)": [], "term, one teacher": [],
                                     "class tab, a page opened on one lesson": []}
    sizes = {}
    for _ in range(repeats):  # side by side: each round reads all three, on a new app (nothing kept)
        app = App(config, store=store, analyzer=object())
        head, teacher = app.viewer("head"), app.viewer("t00")
        for label, call in (("term, admin (all classes)", lambda: app.term_view(head)),
                            ("term, one teacher", lambda: app.term_view(teacher)),
                            ("class tab, a page opened on one lesson", lambda: app.class_view(head, sid, True, 0))):
            t = time.perf_counter()
            out = call()
            times[label].append(time.perf_counter() - t)
            sizes[label] = len(out) if isinstance(out, str) else None
    res = {label: statistics.median(v) for label, v in times.items()}
    for label, v in res.items():
        size = f", {sizes[label] / 1024:.0f} KB of HTML" if sizes[label] else ""
        print(f"  {label:<40} median of {repeats} {v * 1000:.0f} ms (min {min(times[label]) * 1000:.0f}, "
              f"max {max(times[label]) * 1000:.0f}){size}", flush=True)
    if browser:
        res.update(_in_browser(url, sid, repeats))
    store._write(lambda db: db.execute("DELETE FROM lesson_summaries"))
    t = time.perf_counter()
    store.lessons()
    cold = time.perf_counter() - t
    t = time.perf_counter()
    store.lessons()
    again = time.perf_counter() - t
    print(f"  a term without summaries (a database from before them): first read {cold * 1000:.0f} ms (the "
          f"summaries made and stored), the next {again * 1000:.0f} ms", flush=True)
    store.close()
    res["cold"] = cold
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--case", choices=["bots", "term"], default="bots",
                    help="bots: many bots writing while class tabs read (default); term: a term at a glance")
    ap.add_argument("--classes", type=int, default=40)
    ap.add_argument("--lessons", type=int, default=60)
    ap.add_argument("--participants", type=int, default=20)
    ap.add_argument("--frames", type=int, default=60, help="frames per lesson in the term case (default 60)")
    ap.add_argument("--browser", action="store_true",
                    help="term case: also time the term tab and the class tab in Debian's Chromium")
    ap.add_argument("--bots", type=int, default=50)
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--readers", type=int, default=10)
    ap.add_argument("--postgres", metavar="URL", help="an existing, empty PostgreSQL database (default: a temporary server)")
    ap.add_argument("--only", choices=["postgresql", "sqlite"])
    args = ap.parse_args()
    from cpu import vector_extensions

    if args.case == "term":
        return term_main(args, vector_extensions())
    print(f"{args.bots} bots x {args.minutes:g} min, a {FACES}-face frame every {EVERY_S:g} s each; class-tab reads "
          f"every {READ_EVERY_S:g} s for {args.readers} of them ({vector_extensions()}):", flush=True)
    if args.only != "sqlite":
        with postgres(args.postgres, "school") as url:
            run(url, "PostgreSQL", args.bots, args.minutes, args.readers)
    if args.only != "postgresql":
        with tempfile.TemporaryDirectory() as d:
            run(str(Path(d) / "school.db"), "SQLite", args.bots, args.minutes, args.readers)
    print("  targets on PostgreSQL: 0 frames lost, write p99 <= 200 ms, class-tab read p99 <= 1 s")
    return 0


@contextlib.contextmanager
def postgres(url: str | None, name: str):
    """`url`, else a database `name` on a PostgreSQL server started in a temporary folder (Debian's
    postgresql package, as the tests do) and removed afterwards."""
    if url is not None:
        yield url
        return
    from bot import pgserver

    why = pgserver.missing()
    if why:
        sys.exit(f"bench/school.py: {why}; or pass --postgres URL")
    server = pgserver.start()
    try:
        yield server.create_db(name)
    finally:
        pgserver.remove(server)


def term_main(args, cpu: str) -> int:
    print(f"A term at a glance on PostgreSQL ({cpu}):", flush=True)
    with postgres(args.postgres, "term") as url:
        run_term(url, args.classes, args.lessons, args.participants, args.frames, browser=args.browser)
    print("  target: the term view of 2,400 lessons read and rendered within 1 s (median of 9)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
