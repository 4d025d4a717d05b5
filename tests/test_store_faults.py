"""Faults that must lose no data: a PostgreSQL server restarting mid-lesson, retention of a batch of
old lessons, ids after a delete, a bot killed with SIGKILL, one recording on two workers at once."""

import sqlite3
import threading
import time

import numpy as np
import pytest

from bot import store as store_module
from bot.pipeline import Backlog, Sink, run
from bot.records import FaceResult, Frame, FrameResult, TileResult
from bot.store import Store, StoreUnavailable, patiently
from model import EMOTIONS
from tests.conftest import require
from tests.test_store import _sql, face, frame, store  # noqa: F401 - the fixture of both backends


class _Analyzer:
    """Stands in for `GalleryAnalyzer`: a frame "is" its time, two faces on it (the store, not the
    model, is under test here)."""

    def analyze(self, image, time_s=0.0, file=None):
        scores = np.full(len(EMOTIONS), 0.1)
        scores[EMOTIONS.index("happy")] = 0.4
        tiles = [TileResult((0, 0, 100, 60)), TileResult((100, 0, 100, 60))]
        faces = [FaceResult((10 + 100 * k, 10, 40, 40), k, f"p{k}", "participant", 0.9, False, scores / scores.sum())
                 for k in range(2)]
        return FrameResult(float(time_s), tiles, faces)


class _Tracker:
    def push(self, result, frame):
        return [(result, frame)]

    def flush(self):
        return []


def test_a_postgresql_restart_mid_lesson_loses_no_frame(tmp_path):
    from bot import pgserver

    why = pgserver.missing()
    require(why is None, why or "")
    server = pgserver.start()
    try:
        url = server.create_db("restart")
        bot_store, app_store = Store(url, timeout=2), Store(url, timeout=2)
        sid = bot_store.start_session("lesson", "screen", interval_s=0.1)
        n = 40

        def source():
            for i in range(n):
                if i == 8:  # the server goes down as if killed, mid-lesson ...
                    server.stop(mode="immediate")
                if i == 20:  # ... and comes back after a while, on the same port
                    server.start()
                yield Frame(float(i), np.zeros((60, 200, 3), np.uint8))
                time.sleep(0.2 if 8 <= i < 20 else 0.0)  # about 2.5 s down

        frames = run(source(), _Analyzer(), _Tracker(), Sink(bot_store, sid, drain_s=60), keep=True).frames
        assert len(frames) == n
        stored = bot_store.frames(sid)
        assert stored["time_s"].tolist() == [float(i) for i in range(n)]  # none lost, in order, none twice
        assert len(bot_store.observations(sid)) == 2 * n
        bot_store.end_session(sid)
        # the app's connection, which was open across the restart, reads again without a restart
        s = patiently(app_store.sessions, 30)
        assert int(s.loc[0, "frames"]) == n and s.loc[0, "ended"] is not None
    finally:
        pgserver.remove(server)


def test_frames_wait_in_order_while_the_database_is_unreachable_and_the_wait_is_bounded(tmp_path):
    class Flaky:
        location = "test database"

        def __init__(self):
            self.up, self.rows = False, []

        def keeps_faces(self, sid):
            if not self.up:
                raise StoreUnavailable("down")
            return False

        def add_frame(self, sid, record, images):
            if not self.up:
                raise StoreUnavailable("down")
            self.rows.append(record.time_s)

        def add_alert(self, *a):
            pass

    db = Flaky()
    b = Backlog(db, 1, limit=5)
    for t in range(8):
        b.add(FrameResult(float(t), [], []), None, [])
    assert list(r.time_s for r, _, _, _ in b.pending) == [3.0, 4.0, 5.0, 6.0, 7.0] and b.dropped == 3
    assert not b.drain(0.1, sleep=lambda s: None)  # still down: nothing written, nothing lost from memory
    db.up = True
    b.add(FrameResult(8.0, [], []), None, [])
    assert db.rows == [3.0, 4.0, 5.0, 6.0, 7.0, 8.0] and not b.pending  # written in order once it is back


def test_a_locked_sqlite_file_holds_frames_until_the_lock_goes(tmp_path):
    s = Store(tmp_path / "l.db", timeout=0.2)
    sid = s.start_session("x", "t")
    other = sqlite3.connect(tmp_path / "l.db", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    b = Backlog(s, sid)
    b.add(FrameResult(0.0, [], []), None, [])
    b.add(FrameResult(1.0, [], []), None, [])
    assert len(b.pending) == 2
    other.execute("ROLLBACK")
    time.sleep(0.6)  # past the store's backoff
    assert b.flush()
    assert s.frames(sid)["time_s"].tolist() == [0.0, 1.0]


def test_a_batch_of_old_lessons_survives_a_restart(store):  # noqa: F811
    """Retention counts from when the data was stored, not from the lesson's date: a term analysed
    tonight, its lessons dated three months back, is still there when the app starts tomorrow."""
    term = time.time() - 90 * 86400
    ids = [store.start_session(f"lesson {k}", f"rec{k}.mp4", started=term + k * 86400, content_hash=f"h{k}")
           for k in range(5)]
    for sid in ids:
        store.add_frame(sid, frame(0.0, [face("ana", "happy")]))
        store.end_session(sid, at=term + 3600)
    assert store.purge() == 0  # what the app, the bot and classmood-analyze --db do when they start
    again = Store(store.test_target)
    assert again.purge(now=time.time() + 86400) == 0
    assert sorted(again.sessions()["id"]) == sorted(ids)
    assert again.purge(now=time.time() + 31 * 86400) == 5  # a retention of 30 days from tonight
    again.close()


def test_session_ids_never_come_back_after_a_delete(store):  # noqa: F811
    a = store.start_session("a", "t")
    b = store.start_session("b", "t")
    assert store.delete_session(b)
    c = store.start_session("c", "t")
    assert c > b > a


def test_an_old_sqlite_database_stops_reusing_ids_and_keeps_its_rows(tmp_path):
    db = tmp_path / "old.db"
    con = sqlite3.connect(db)
    con.execute("PRAGMA foreign_keys=ON")
    con.execute("CREATE TABLE sessions (id INTEGER PRIMARY KEY, name TEXT NOT NULL, source TEXT, started REAL NOT NULL,"
                " ended REAL, last_heartbeat REAL, interval_s REAL)")
    con.execute("CREATE TABLE frames (id INTEGER PRIMARY KEY, session_id INTEGER NOT NULL REFERENCES sessions(id)"
                " ON DELETE CASCADE, time_s REAL NOT NULL, created REAL NOT NULL, file TEXT, tiles INTEGER NOT NULL,"
                " camera_off INTEGER NOT NULL, faces INTEGER NOT NULL, participants INTEGER NOT NULL)")
    for k in range(3):
        con.execute("INSERT INTO sessions(name, source, started) VALUES (?, 't', 1.0)", (f"old {k}",))
        con.execute("INSERT INTO frames(session_id, time_s, created, tiles, camera_off, faces, participants)"
                    " VALUES (?, 0, 0, 1, 0, 1, 1)", (k + 1,))
    con.commit()
    con.close()
    s = Store(db)
    assert sorted(s.sessions()["id"]) == [1, 2, 3] and s.frames(3)["time_s"].tolist() == [0.0]
    assert s.delete_session(3) and s.frames(3).empty  # the cascade still works after the rebuild
    assert s.start_session("new", "t") == 4
    s.close()


def test_a_bot_killed_without_a_word_is_ended_at_its_last_heartbeat(store):  # noqa: F811
    sid = store.start_session("lesson", "screen", interval_s=5)
    store.add_frame(sid, frame(0.0, [face("ana", "happy")]))
    beat = time.time() - 3600
    _sql(store, "UPDATE sessions SET last_heartbeat=? WHERE id=?", (beat, sid))
    alive = store.start_session("now", "screen", interval_s=5)
    assert store.purge() == 0  # the next start of the app, the bot or classmood-analyze
    s = store.session(sid)
    assert s["interrupted"] and abs(s["ended"].timestamp() - beat) < 1 and not s["live"]
    assert store.session(alive)["ended"] is pd_nat() and not store.session(alive)["interrupted"]
    store.heartbeat(sid)  # it was only cut off: it lives again when it writes
    s = store.session(sid)
    assert not s["interrupted"] and s["ended"] is pd_nat() and s["live"]


def pd_nat():
    import pandas as pd

    return pd.NaT


def test_one_recording_on_two_workers_at_once_is_analysed_once(store):  # noqa: F811
    others = [Store(store.test_target) for _ in range(4)]
    answers, barrier = [], threading.Barrier(len(others))

    def worker(s):
        barrier.wait()
        answers.append(s.claim_recording("abc", "rec.mp4", "/rec.mp4", interval_s=2.0))

    threads = [threading.Thread(target=worker, args=(s,)) for s in others]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(a[0] for a in answers)
    assert statuses == ["busy", "busy", "busy", "started"]
    sid = next(info["id"] for status, info in answers if status == "started")
    assert {info["id"] for _, info in answers} == {sid} and len(store.sessions()) == 1
    store.add_frame(sid, frame(0.0, [face("ana", "happy")]))
    store.end_session(sid)
    status, info = store.claim_recording("abc", "rec.mp4", "/rec.mp4")
    assert status == "done" and info["id"] == sid and info["frames"] == 1
    # a worker that died on another recording: its partial session is replaced, once it is plainly dead
    status, dead = store.claim_recording("def", "b.mp4", "/b.mp4")
    assert store.claim_recording("def", "b.mp4", "/b.mp4")[0] == "busy"
    _sql(store, "UPDATE sessions SET last_heartbeat=? WHERE id=?",
         (time.time() - 2 * store_module.DEAD_AFTER_S, dead["id"]))
    status, new = store.claim_recording("def", "b.mp4", "/b.mp4")
    assert status == "started" and new["id"] > dead["id"] and store.session(dead["id"]) is None
    for s in others:
        s.close()


def test_an_interrupted_recording_is_analysed_again(store):  # noqa: F811
    status, info = store.claim_recording("xyz", "c.mp4", "/c.mp4")
    _sql(store, "UPDATE sessions SET last_heartbeat=? WHERE id=?",
         (time.time() - 2 * store_module.DEAD_AFTER_S, info["id"]))
    store.purge()  # marks it ended, interrupted
    assert store.session(info["id"])["interrupted"]
    status, again = store.claim_recording("xyz", "c.mp4", "/c.mp4")
    assert status != "done"  # not "already stored"
    assert status == "started" and store.session(info["id"]) is None


def test_a_store_error_that_is_no_outage_is_not_retried(store):  # noqa: F811
    calls = []

    def bad():
        calls.append(1)
        raise store_module.StoreError("no such session")

    with pytest.raises(store_module.StoreError):
        patiently(bad, 5)
    assert calls == [1]


def test_a_bot_killed_with_sigkill_on_this_machine_is_ended_at_once(tmp_path):
    import os
    import signal
    import subprocess
    import sys

    from tests.conftest import REPO

    db = tmp_path / "k.db"
    code = ("import sys, time; sys.path.insert(0, sys.argv[2]); from bot.store import Store;"
            "from tests.test_store import face, frame; s = Store(sys.argv[1]);"
            "sid = s.start_session('lesson', 'screen', interval_s=5); s.add_frame(sid, frame(0.0, [face('ana', 'sad')]));"
            "print(sid, flush=True); time.sleep(600)")
    p = subprocess.Popen([sys.executable, "-c", code, str(db), str(REPO)], stdout=subprocess.PIPE, text=True)
    sid = int(p.stdout.readline())
    s = Store(db)
    assert s.end_abandoned() == 0  # alive: left alone
    os.kill(p.pid, signal.SIGKILL)
    p.wait(30)
    assert s.purge() == 0 and s.end_abandoned() == 0  # the purge marked it; nothing deleted
    row = s.session(sid)
    assert row["interrupted"] and row["ended"] == row["last_heartbeat"] and len(s.frames(sid)) == 1
    s.close()
