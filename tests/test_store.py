import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from bot.store import Store, StoreError, default_db_path
from model import EMOTIONS


def face(participant, emotion, tile=0, role="participant", p=0.8):
    scores = {e: (p if e == emotion else (1 - p) / 6) for e in EMOTIONS}
    return {"box": [10, 10, 40, 40], "tile": tile, "participant": participant, "role": role,
            "confidence": 0.9, "uncertain": False, "emotion": emotion, "scores": scores}


def frame(t, faces, tiles=2):
    return {"time_s": t, "file": None,
            "tiles": [{"box": [0, 0, 100, 60], "name": None, "camera_off": False}] * tiles, "faces": faces}


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    """The store on each backend: a SQLite file, and a fresh database on a real PostgreSQL server."""
    target = tmp_path / "db" / "classmood.db" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    s = Store(target)
    s.test_target = target  # to open a second connection to the same database
    s.test_server = request.getfixturevalue("pg_server") if request.param == "postgresql" else None
    yield s
    s.close()


def _sql(store, sql, params=()):
    """Raw SQL on the store's own connection, either backend (tests only)."""
    with store._db.transaction() as tx:
        tx.execute(sql, params)


def _count(store, table) -> int:
    return int(store._db.query(f"SELECT COUNT(*) FROM {table}")[1][0][0])


def test_default_path_honours_env(monkeypatch, tmp_path):
    monkeypatch.setenv("CLASSMOOD_DB", str(tmp_path / "x.db"))
    assert default_db_path() == tmp_path / "x.db"
    monkeypatch.setenv("CLASSMOOD_DB", "postgresql://bot:pw@db.school.org:5433/classmood")
    assert default_db_path() == "postgresql://bot:pw@db.school.org:5433/classmood"  # a URL stays a URL
    monkeypatch.setenv("CLASSMOOD_DB", f"sqlite:///{tmp_path}/u.db")
    s = Store()
    assert s.path == tmp_path / "u.db" and s.location == str(tmp_path / "u.db") and (tmp_path / "u.db").exists()
    s.close()
    monkeypatch.delenv("CLASSMOOD_DB")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    if sys.platform.startswith("linux"):
        assert default_db_path() == tmp_path / "data" / "classmood" / "classmood.db"


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")
def test_a_new_database_is_private_to_its_owner(tmp_path):
    s = Store(tmp_path / "data" / "classmood.db")
    sid = s.start_session("x", "t")
    s.add_frame(sid, frame(0.0, [face("ana", "sad")]))
    assert (tmp_path / "data").stat().st_mode & 0o777 == 0o700
    for suffix in ("", "-wal", "-shm"):
        assert (tmp_path / "data" / f"classmood.db{suffix}").stat().st_mode & 0o777 == 0o600, suffix
    s.close()


def test_wal_and_tables(tmp_path):
    store = Store(tmp_path / "w.db")
    db = sqlite3.connect(store.path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"sessions", "frames", "observations", "alerts", "settings"} <= tables
    cols = {r[1] for r in db.execute("PRAGMA table_info(observations)")}
    assert not any("image" in c or "pixels" in c for c in cols)  # no images stored


def test_session_frames_observations_timeline_participants(store):
    sid = store.start_session("maths 3B", "test", interval_s=5)
    # two participants over two 60 s windows; ana happy, ben sad then off camera
    for t in range(0, 120, 10):
        faces = [face("ana", "happy", tile=0)]
        if t < 60:
            faces.append(face("ben", "sad", tile=1))
        faces.append(face(None, "neutral", tile=None, role="other"))
        store.add_frame(sid, frame(float(t), faces))
    obs = store.observations(sid)
    assert {"time_s", "participant", "emotion", *EMOTIONS, "valence"} <= set(obs.columns)
    assert len(obs) == 12 + 6 + 12
    tl = store.timeline(sid, window_s=60)
    assert list(tl["window_start"]) == [0.0, 60.0]
    assert list(tl["frames"]) == [6, 6]
    assert list(tl["faces"]) == [12, 6]
    assert tl["engagement"].tolist() == [1.0, 0.5]  # faces visible / participants present (2 tiles)
    assert tl.loc[0, "share_happy"] == 0.5 and tl.loc[0, "share_sad"] == 0.5 and tl.loc[1, "share_happy"] == 1.0
    # confident happy counts +1, confident sad -1 (bot.mood): the same valence in SQL as in Python
    assert tl.loc[0, "valence"] == pytest.approx(0.0) and tl.loc[0, "mood"] == "neutral"
    assert tl.loc[1, "valence"] == pytest.approx(1.0) and tl.loc[1, "mood"] == "positive"
    parts = store.participants(sid).set_index("participant")
    assert list(parts.index) == ["ana", "ben"]
    assert parts.loc["ana", "time_on_camera_s"] == pytest.approx(120.0)
    assert parts.loc["ben", "time_on_camera_s"] == pytest.approx(60.0)
    assert parts.loc["ben", "dominant_emotion"] == "sad" and parts.loc["ana", "latest_emotion"] == "happy"
    assert bool(parts.loc["ana", "present"]) and not bool(parts.loc["ben", "present"])  # ben left at 60 s
    s = store.sessions()
    assert s.loc[0, "name"] == "maths 3B" and bool(s.loc[0, "live"]) and s.loc[0, "frames"] == 12
    assert isinstance(s.loc[0, "started"], pd.Timestamp)
    store.end_session(sid)
    assert not bool(store.sessions().loc[0, "live"])


def test_live_needs_recent_heartbeat(store):
    """A live class stays live through one slow frame (12 s at a 2 s interval: a window layout
    searched, names read), and is finished once its bot has been silent a minute and five intervals."""
    from bot.store import LIVE_GRACE_S

    sid = store.start_session("x", "screen", interval_s=2)
    assert bool(store.sessions().loc[0, "live"])
    _sql(store, "UPDATE sessions SET last_heartbeat = last_heartbeat - 12 WHERE id=?", (sid,))
    assert bool(store.sessions().loc[0, "live"])
    _sql(store, "UPDATE sessions SET last_heartbeat = last_heartbeat - ? WHERE id=?", (LIVE_GRACE_S, sid))
    assert not bool(store.sessions().loc[0, "live"])
    store.heartbeat(sid)
    assert bool(store.sessions().loc[0, "live"])


def test_alerts_delete_settings_purge(store):
    sid = store.start_session("a", "t")
    store.add_frame(sid, frame(0.0, [face("ana", "sad")]))
    store.add_alert(sid, "participant_negative", "ana has looked negative", 300.0, "ana")
    a = store.alerts(sid)
    assert a.loc[0, "rule"] == "participant_negative" and a.loc[0, "participant"] == "ana"
    old = store.start_session("old", "t")
    store.add_frame(old, frame(0.0, [face("ben", "happy")]))
    assert store.retention_days == 30
    store.set_setting("retention_days", 7)
    assert store.get_setting("retention_days") == "7"
    assert store.purge(now=time.time() + 8 * 86400) == 2
    assert store.sessions().empty
    sid = store.start_session("b", "t")
    store.add_frame(sid, frame(0.0, [face("ana", "sad")]))
    assert store.delete_session(sid)
    assert store.observations(sid).empty and store.alerts(sid).empty
    assert _count(store, "observations") == 0


def test_empty_session_reads(store):
    sid = store.start_session("empty", "t")
    assert store.timeline(sid).empty and store.participants(sid).empty and store.observations(sid).empty


def test_unwritable_path_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreError, match="cannot open the session database .*file"):
        Store(blocker / "classmood.db")


def test_locked_database_is_a_clear_error(tmp_path):
    s = Store(tmp_path / "l.db", timeout=0.2)
    sid = s.start_session("x", "t")
    other = sqlite3.connect(tmp_path / "l.db", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    with pytest.raises(StoreError, match="locked"):
        s.add_frame(sid, frame(0.0, [face("ana", "happy")]))
    other.execute("ROLLBACK")
    s.add_frame(sid, frame(0.0, [face("ana", "happy")]))  # nothing lost: works once the lock is gone
    assert len(s.observations(sid)) == 1


def test_readers_do_not_block_the_writer(tmp_path):
    s = Store(tmp_path / "r.db", timeout=0.5)
    sid = s.start_session("x", "t")
    s.add_frame(sid, frame(0.0, [face("ana", "happy")]))
    reader = sqlite3.connect(tmp_path / "r.db", isolation_level=None)
    reader.execute("BEGIN")
    assert reader.execute("SELECT COUNT(*) FROM observations").fetchone()[0] == 1  # open read snapshot
    t = time.monotonic()
    s.add_frame(sid, frame(1.0, [face("ana", "happy")]))
    assert time.monotonic() - t < 0.4
    assert reader.execute("SELECT COUNT(*) FROM observations").fetchone()[0] == 1  # snapshot unchanged
    reader.execute("COMMIT")
    assert reader.execute("SELECT COUNT(*) FROM observations").fetchone()[0] == 2


WRITER = r"""
import sys, time
sys.path.insert(0, sys.argv[2])
from bot.store import Store
from model import EMOTIONS
s = Store(sys.argv[1])
sid = s.start_session("killed", "test")
f = {"box": [1, 2, 3, 4], "tile": 0, "participant": "ana", "role": "participant", "confidence": 0.9,
     "uncertain": False, "emotion": "happy", "scores": {e: 1 / 7 for e in EMOTIONS}}
i = 0
while True:
    s.add_frame(sid, {"time_s": float(i), "tiles": [{"box": [0, 0, 9, 9], "name": None, "camera_off": False}],
                      "faces": [f] * 5})
    print(i, flush=True)
    i += 1
"""


def test_sigkill_leaves_a_readable_store(tmp_path):
    from tests.conftest import REPO

    db = tmp_path / "k.db"
    p = subprocess.Popen([sys.executable, "-c", WRITER, str(db), str(REPO)], stdout=subprocess.PIPE, text=True)
    written = -1
    while written < 50:
        written = int(p.stdout.readline())
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    s = Store(db)
    assert sqlite3.connect(db).execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    sid = int(s.sessions().loc[0, "id"])
    frames = s.frames(sid)
    assert len(frames) >= written + 1  # every frame reported written is there
    assert len(s.observations(sid)) == 5 * len(frames)  # no half-written frame


def add_with_picture(store, sid, fr, picture):
    """As the pipeline stores a frame: each participant's face cut from the picture once, as JPEG
    bytes (the store receives bytes, never the picture)."""
    from bot.pipeline import face_images
    from bot.records import as_record

    return store.add_frame(sid, fr, face_images(picture, as_record(fr)))


def _picture():
    """A 200x300 BGR picture: noise, with a red square where the participant's face is and a blue
    one where someone else's is."""
    img = np.random.default_rng(0).integers(0, 255, (200, 300, 3), dtype=np.uint8)
    img[10:50, 10:50] = (0, 0, 255)
    img[10:50, 100:140] = (255, 0, 0)
    return img


def _faces():
    other = face("ana", "happy", role="other")
    other["box"] = [100, 10, 40, 40]
    return [face("ana", "sad"), other]


def test_no_face_images_without_the_opt_in(store):
    sid = store.start_session("default", "t")
    add_with_picture(store, sid, frame(0.0, _faces()), _picture())
    assert store.face_images(sid).empty
    s = store.sessions().iloc[0]
    assert not s["keep_faces"] and s["face_images"] == 0
    assert _count(store, "face_images") == 0


def test_opted_in_session_keeps_participant_faces_only(store):
    sid = store.start_session("consented", "t", keep_faces=True)
    add_with_picture(store, sid, frame(0.0, _faces()), _picture())
    store.add_frame(sid, frame(5.0, _faces()))  # no picture given: expressions only
    imgs = store.face_images(sid)
    assert list(imgs.columns) == ["time_s", "participant", "emotion", "jpeg"]
    assert len(imgs) == 1 and imgs.loc[0, "participant"] == "ana" and imgs.loc[0, "emotion"] == "sad"
    pic = cv2.imdecode(np.frombuffer(imgs.loc[0, "jpeg"], np.uint8), cv2.IMREAD_COLOR)
    assert pic.shape == (96, 96, 3)
    b, g, r = pic[40:56, 40:56].reshape(-1, 3).mean(0)  # the red face, in colour, not the blue one
    assert r > 200 and b < 60 and g < 60
    s = store.sessions().iloc[0]
    assert s["keep_faces"] and s["face_images"] == 1
    assert len(store.observations(sid)) == 4


def test_an_empty_picture_stores_the_expressions_without_images(store):
    sid = store.start_session("consented", "t", keep_faces=True)
    add_with_picture(store, sid, frame(0.0, _faces()), np.zeros((0, 0, 3), np.uint8))
    assert len(store.observations(sid)) == 2 and store.face_images(sid).empty


def _on_disk(path) -> bytes:
    wal = Path(str(path) + "-wal")
    return Path(path).read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def _gone_on_postgres(store, marker: bytes, tables) -> bool:
    """PostgreSQL: no dead rows left in `tables` nor in their TOAST tables (pgstattuple scans every
    page), and after a checkpoint `marker` is in none of the database's table files (the
    write-ahead log keeps it until its segments are recycled: docs/privacy.md, "What is recorded, in full")."""
    _sql(store, "CREATE EXTENSION IF NOT EXISTS pgstattuple")
    for table in tables:
        for rel in (table, f"(SELECT reltoastrelid FROM pg_class WHERE relname = '{table}')::regclass"):
            arg = f"'{rel}'" if rel == table else rel
            _, rows = store._db.query(f"SELECT dead_tuple_count FROM pgstattuple({arg})")
            if rows[0][0] != 0:
                return False
    store._db.query("CHECKPOINT")
    oid = store._db.query("SELECT oid FROM pg_database WHERE datname = current_database()")[1][0][0]
    base = store.test_server.root / "data" / "base" / str(oid)  # this test's database only
    return not any(marker in f.read_bytes() for f in base.rglob("*") if f.is_file())


def test_deleting_face_images_keeps_expressions_withdraws_consent_and_scrubs_the_file(store):
    sid = store.start_session("consented", "t", keep_faces=True)
    add_with_picture(store, sid, frame(0.0, _faces()), _picture())
    jpeg = store.face_images(sid).loc[0, "jpeg"]
    marker = jpeg[len(jpeg) // 2: len(jpeg) // 2 + 48]
    if store.path:
        assert marker in _on_disk(store.path)
    else:  # control: before the delete, the image is in the table files
        store._db.query("CHECKPOINT")
        assert not _gone_on_postgres(store, marker, [])
    # the UI's connection, while the bot keeps writing through `store`
    other = Store(store.test_target)
    assert other.delete_face_images(sid) == 1
    other.close()
    assert store.face_images(sid).empty and len(store.observations(sid)) == 2
    if store.path:
        assert marker not in _on_disk(store.path)
    else:  # PostgreSQL: the delete was followed by a VACUUM of the table
        assert _gone_on_postgres(store, marker, ["face_images"])
    add_with_picture(store, sid, frame(5.0, _faces()), _picture())  # consent withdrawn: nothing new kept
    assert store.face_images(sid).empty and not store.keeps_faces(sid)


def test_the_disk_check_sees_rows_deleted_without_secure_delete(tmp_path):
    """Control for the two tests above: where deleted rows are only unlinked, `_on_disk` finds them."""
    con = sqlite3.connect(tmp_path / "plain.db", isolation_level=None)
    con.execute("PRAGMA secure_delete=0")
    con.execute("CREATE TABLE t (b BLOB)")
    blob = np.random.default_rng(1).bytes(6000)
    con.execute("INSERT INTO t VALUES (?)", (blob,))
    con.execute("DELETE FROM t")
    con.close()
    assert blob[3000:3048] in _on_disk(tmp_path / "plain.db")


def test_deleting_a_session_deletes_its_face_images_from_disk(store):
    sid = store.start_session("consented", "t", keep_faces=True)
    add_with_picture(store, sid, frame(0.0, _faces()), _picture())
    jpeg = store.face_images(sid).loc[0, "jpeg"]
    marker = jpeg[len(jpeg) // 2: len(jpeg) // 2 + 48]
    assert store.delete_session(sid)
    assert _count(store, "face_images") == 0
    if store.path:
        assert marker not in _on_disk(store.path)
    else:
        assert _gone_on_postgres(store, marker, ["face_images", "observations", "frames", "sessions"])


def test_a_database_from_before_the_opt_in_is_upgraded(tmp_path):
    db = tmp_path / "old.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE sessions (id INTEGER PRIMARY KEY, name TEXT NOT NULL, source TEXT, started REAL NOT NULL,"
                " ended REAL, last_heartbeat REAL, interval_s REAL)")
    con.execute("INSERT INTO sessions(name, source, started) VALUES ('old class', 't', 1.0)")
    con.commit()
    con.close()
    s = Store(db)
    old = s.sessions()
    assert list(old["name"]) == ["old class"] and not old.loc[0, "keep_faces"]
    sid = s.start_session("new", "t", keep_faces=True)
    add_with_picture(s, sid, frame(0.0, _faces()), _picture())
    assert len(s.face_images(sid)) == 1
    s.close()
    Store(db).close()  # opening it again changes nothing


# -- ids ---------------------------------------------------------------------------------------------
READS = ("observations", "frames", "timeline", "participants", "alerts", "face_images")


@pytest.mark.parametrize("as_id", [int, np.int64, np.int32, np.uint16], ids=["int", "int64", "int32", "uint16"])
def test_every_method_honours_any_integer_id(store, as_id):
    s = store
    sid = s.start_session("c", keep_faces=True)
    other = s.start_session("other")
    given = as_id(s.sessions().set_index("name").loc["c", "id"])  # the DataFrame's own id, as the app passes it
    assert s.keeps_faces(given)
    add_with_picture(s, given, frame(0.0, _faces()), _picture())
    add_with_picture(s, given, frame(1.0, _faces()), _picture())
    s.add_alert(given, "class_valence", "low", 1.0)
    s.heartbeat(given)
    assert s.session(given)["frames"] == 2
    for read in READS:
        assert len(getattr(s, read)(given)) > 0, read
    assert len(s.recent_dominant(given, 0.0)) > 0
    assert s.delete_face_images(given) == len(_faces())
    assert not s.keeps_faces(given)
    s.end_session(given)
    assert s.delete_session(given) and s.session(sid) is None
    assert s.session(other) is not None  # only that session went


def test_one_session_is_its_row_of_the_list(store):
    """`session(id)` counts one session's rows only, and gives exactly its `sessions()` row."""
    a = store.start_session("a", keep_faces=True)
    b = store.start_session("b")
    for t in range(3):
        add_with_picture(store, a, frame(float(t), _faces()), _picture())
    store.add_frame(b, frame(0.0, [face("Ann", "happy")]))
    store.end_session(b)
    rows = store.sessions().set_index("id")
    for sid, frames, faces, pictures, live in ((a, 3, 3 * len(_faces()), 3, True), (b, 1, 1, 0, False)):
        one = store.session(sid)
        assert (one["frames"], one["observations"], one["face_images"], bool(one["live"])) == (frames, faces, pictures, live)
        pd.testing.assert_series_equal(pd.Series(one, dtype=object),
                                       pd.Series({"id": sid, **rows.loc[sid].to_dict()}, dtype=object))


@pytest.mark.parametrize("bad", ["1", 1.0, True, None, np.float64(1), [1]])
def test_a_non_integer_id_is_a_type_error(store, bad):
    sid = store.start_session("c")
    store.add_frame(sid, frame(0.0, [face("Ann", "happy")]))
    for name in ("session", "keeps_faces", "delete_session", "delete_face_images", "heartbeat", "end_session",
                 *READS):
        with pytest.raises(TypeError, match="session id is an integer"):
            getattr(store, name)(bad)
    with pytest.raises(TypeError):
        store.add_frame(bad, frame(1.0, []))
    with pytest.raises(TypeError):
        store.add_alert(bad, "r", "m")
    assert store.session(sid)["frames"] == 1  # nothing happened to the real session


def test_an_unknown_id_keeps_the_documented_contract(store):
    sid = store.start_session("c")
    store.add_frame(sid, frame(0.0, [face("Ann", "happy")]))
    unknown = sid + 100
    assert store.session(unknown) is None
    assert store.delete_session(unknown) is False
    assert store.delete_face_images(unknown) == 0
    assert store.keeps_faces(unknown) is False
    for read in READS:
        df = getattr(store, read)(unknown)
        assert df.empty and len(df.columns) > 0, read
    with pytest.raises(StoreError, match="no such session"):
        store.add_frame(unknown, frame(0.0, [face("Ann", "happy")]))
    with pytest.raises(StoreError, match="no such session"):
        store.add_alert(unknown, "r", "m")
    assert len(store.observations(sid)) == 1


def test_the_store_takes_bytes_and_imports_no_image_code():
    import subprocess
    import sys

    code = "import sys, bot.store; print(sorted(m for m in ('cv2', 'model.crop') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_face_images_must_match_the_faces(store):
    sid = store.start_session("consented", "t", keep_faces=True)
    with pytest.raises(ValueError, match="1 face images for 2 faces"):
        store.add_frame(sid, frame(0.0, _faces()), [b"x"])
    assert store.observations(sid).empty  # nothing half-written


def _oracle(store, sid, w):
    """The timeline, participants and strips computed in pandas from the raw observations and
    frames: an independent check of the SQL aggregation and of what `bot.aggregate` derives."""
    from bot.aggregate import typical_gap
    from bot.mood import mood_of

    obs, frames = store.observations(sid), store.frames(sid)
    t = np.sort(frames["time_s"].to_numpy(float))
    g = typical_gap(t)
    gap = dict(zip(t, np.minimum(np.append(np.diff(t), g), 3 * g)))
    part = obs[obs["role"] == "participant"].copy()
    part["bucket"] = (part["time_s"] // w).astype(int)
    part["gap"] = part["time_s"].map(gap)
    part["facing"] = part["attention"].map({"facing": 1.0, "away": 0.0, "down": 0.0})
    tl = {}
    for b, f in frames.groupby((frames["time_s"] // w).astype(int)):
        o = part[part["bucket"] == b]
        posed = o["facing"].notna().sum()
        tl[b] = {"frames": len(f), "faces": int(f["faces"].sum()), "participants": o["participant"].nunique(),
                 "valence": o["valence"].mean() if len(o) else 0.0,
                 "mood": mood_of(o["valence"].mean()) if len(o) else None,
                 "share_happy": (o["emotion"] == "happy").mean() if len(o) else 0.0,
                 "attention": round(o["facing"].mean(), 4) if posed else None,
                 "looking_down": round((o["attention"] == "down").sum() / posed, 4) if posed else None}
    named = part[part["participant"].notna()]
    last_frame = obs[obs["time_s"] == t[-1]]
    parts = {}
    for p, o in named.groupby("participant"):
        counts = o["emotion"].value_counts()
        parts[p] = {"first_seen": o["time_s"].min(), "last_seen": o["time_s"].max(), "observations": len(o),
                    "time_on_camera_s": round(o["gap"].sum(), 1), "valence": round(o["valence"].mean(), 4),
                    "dominant_emotion": sorted(counts[counts == counts.max()].index)[0],
                    "latest_emotion": o.sort_values("time_s")["emotion"].iloc[-1],
                    "present": p in set(last_frame["participant"]),
                    "attention": round(o["facing"].mean(), 4) if o["facing"].notna().any() else None}
    strips = {}
    for (p, b), o in named.groupby(["participant", "bucket"]):
        counts = o["emotion"].value_counts()
        strips[(p, b * w)] = sorted(counts[counts == counts.max()].index)[0]
    return tl, parts, strips


def _agrees(tl, parts, strips, oracle, w):
    want_tl, want_parts, want_strips = oracle
    assert len(tl) == len(want_tl) and len(parts) == len(want_parts) and len(strips) == len(want_strips)
    for row in tl.to_dict("records"):
        want = want_tl[int(row["window_start"] // w)]
        for k, v in want.items():
            assert row[k] == (pytest.approx(v) if isinstance(v, float) else v), (row["window_start"], k)
    for row in parts.to_dict("records"):
        for k, v in want_parts[row["participant"]].items():
            assert row[k] == (pytest.approx(v) if isinstance(v, float) else v), (row["participant"], k)
    assert {(r.participant, r.window_start): r.emotion for r in strips.itertuples()} == want_strips


def test_windows_kept_between_refreshes_agree_with_the_raw_observations(store):
    """A live session read after every frame, keeping closed windows (`SessionWindows`, on three
    connections), against pandas over the raw rows; and the store's own summaries the same."""
    from bot import aggregate

    rng = np.random.default_rng(3)
    sid = store.start_session("live", "test", interval_s=5)
    readers = [store.another() for _ in range(2)]
    kept, w = aggregate.SessionWindows(sid, 20.0), 20.0
    t = 0.0
    for i in range(40):
        t += 5.0 if i != 25 else 60.0    # a pause in the capture: capped at 3x the typical gap
        faces = []
        for k, name in enumerate(["ana", "ben", "cleo", None]):
            if name == "ben" and 12 <= i < 30 or rng.random() < 0.15:
                continue                   # ben left for a while; anyone may be missed in a frame
            f = face(name, str(rng.choice(["happy", "sad", "neutral", "angry"])), tile=k, p=float(rng.uniform(0.3, 0.95)))
            f["pose"] = [float(rng.normal(0, 25)), 0.0, 0.0] if rng.random() < 0.8 else None
            f["attention"] = None if f["pose"] is None else str(rng.choice(["facing", "away", "down"]))
            faces.append(f)
        faces.append(face(None, "happy", tile=None, role="other"))   # not a participant: left out
        store.add_frame(sid, frame(t, faces, tiles=4))
        if i % 3 == 0 or i == 39:
            fw, st = kept.read(store, store.frames(sid)["time_s"], readers if i % 2 else ())
            oracle = _oracle(store, sid, w)
            _agrees(aggregate.timeline(fw, st, w), aggregate.participants(st, store.present_now(sid)),
                    aggregate.strips(st, w), oracle, w)
    assert kept.closed_until == (t // w) * w      # the windows before the latest one were kept...
    _agrees(store.timeline(sid, window_s=w), store.participants(sid), store.expression_strips(sid, window_s=w),
            oracle, w)                           # ... and give what a fresh read gives
    # a strip cell of two windows holds the commonest emotion of both
    two = aggregate.strips(st, w, per=2)
    assert set(two["window_start"] % (2 * w)) == {0.0} and len(two) < len(aggregate.strips(st, w))


def test_kept_windows_are_read_again_when_earlier_frames_appear(store):
    from bot import aggregate

    sid = store.start_session("rewritten", "test", interval_s=5)
    for t in range(0, 200, 5):
        store.add_frame(sid, frame(float(t), [face("ana", "happy")]))
    kept = aggregate.SessionWindows(sid, 60.0)
    kept.read(store, store.frames(sid)["time_s"])
    assert kept.closed_until == 180.0
    store.add_frame(sid, frame(62.5, [face("ben", "sad")]))    # a frame inside a kept window
    fw, st = kept.read(store, store.frames(sid)["time_s"])
    assert "ben" in set(aggregate.participants(st, set())["participant"])
    assert int(fw["frames"].sum()) == 41


def test_a_class_only_session_stores_the_class_counts_and_nothing_per_participant(store):
    sid = store.start_session("Period 3", "t", 5.0, aggregate_only=True)
    for t in range(0, 600, 5):
        faces = [face("Zebulon Quist", "sad" if 300 <= t < 420 else "happy"), face("Ada", "neutral", tile=1),
                 face("Bo", "happy", tile=2, role="other")]
        faces[0]["attention"], faces[1]["attention"] = "facing", "away"
        store.add_frame(sid, frame(float(t), faces, tiles=3), [b"jpeg"] * 3)
    assert store.add_alert(sid, "participant_negative", "Zebulon Quist has looked negative", 400.0, "Zebulon Quist") is None
    store.add_alert(sid, "class_valence", "The class has looked negative for 3 minutes.", 400.0)
    assert store.rename_participant(sid, "tile-1", "Zebulon Quist") == 0
    store.end_session(sid)
    assert store.observations(sid).empty and store.face_images(sid).empty and store.participants(sid).empty
    assert store.expression_strips(sid).empty and list(store.alerts(sid)["participant"]) == [None]
    tl = store.timeline(sid, 60.0)
    assert list(tl["faces"]) == [24] * 10 and list(tl["present"]) == [36] * 10
    assert tl["valence"].iloc[0] == 0.5 and tl["valence"].iloc[5] == -0.5      # (+1 + 0) / 2, (-1 + 0) / 2
    assert tl["attention"].iloc[0] == 0.5 and tl["share_happy"].iloc[0] == 0.5
    fw, st = store.window_stats(sid, 60.0)
    assert st["participant"].isna().all() and st["n"].sum() == 240
    lesson = store.lessons().set_index("id").loc[sid]
    assert lesson["faces"] == 240 and lesson["participants"] == 0
    assert abs(lesson["valence"] - (96 - 24) / 240) < 1e-9  # 96 frames happy, 24 sad
    assert bool(store.session(sid)["aggregate_only"]) and store.face_counts(sid)["faces"] == 240


def test_the_store_wide_class_only_setting_and_faces_refused(store):
    store.set_setting("class_only", "1")
    sid = store.start_session("x", "test")
    assert store.aggregate_only(sid) and store.class_only
    with pytest.raises(ValueError, match="class-only"):
        store.start_session("y", "test", keep_faces=True)
    with pytest.raises(ValueError, match="class-only"):
        store.start_session("y", "test", keep_faces=True, aggregate_only=True)
    store.set_setting("class_only", "0")
    assert not store.aggregate_only(store.start_session("z", "test"))
    status, info = store.claim_recording("abc", "rec.mp4", aggregate_only=True)
    assert status == "started" and store.aggregate_only(info["id"])


def test_thumbnails_and_reports_are_kept_with_their_session_and_go_with_it(store):
    sid = store.start_session("x", "test")
    store.add_stage_image(sid, 3.0, b"\xff\xd8thumbnail-bytes", (360, 200))
    store.add_stage_image(sid, 9.0, None)
    store.save_report(sid, "<html>first</html>")
    store.save_report(sid, "<html>the report</html>")
    st = store.stage_images(sid)
    assert list(st["time_s"]) == [3.0, 9.0] and bytes(st["jpeg"].iloc[0]) == b"\xff\xd8thumbnail-bytes"
    assert st["jpeg"].iloc[1] is None and store.report(sid)[1] == "<html>the report</html>"
    agg = store.start_session("class only", "test", aggregate_only=True)
    store.add_stage_image(agg, 1.0, b"\xff\xd8never", (10, 10))
    assert store.stage_images(agg).empty
    assert store.delete_session(sid)
    assert store.stage_images(sid).empty and store.report(sid) is None
    if store.path is not None:  # SQLite: the deleted rows are overwritten in the file
        raw = store.path.read_bytes()
        assert b"thumbnail-bytes" not in raw and b"the report" not in raw


def test_who_was_there_with_the_camera_off_is_kept_for_attendance_and_renamed(store):
    sid = store.start_session("x", "t", 5.0)
    for t in range(0, 60, 5):
        f = frame(float(t), [face("ana", "happy")], tiles=3)
        f["tiles"] = [{"box": [0, 0, 100, 60], "name": "ana", "camera_off": False, "participant": "ana"},
                      {"box": [100, 0, 100, 60], "name": None, "camera_off": True, "participant": "tile-1"},
                      {"box": [200, 0, 100, 60], "name": None, "camera_off": t >= 30, "participant": "bo"}]
        store.add_frame(sid, f)
    store.rename_participant(sid, "tile-1", "Cy Lee")
    off = store.camera_off(sid).set_index("participant")
    assert list(off.index) == ["Cy Lee", "bo"]
    assert off.loc["Cy Lee", "camera_off_s"] == 60.0 and off.loc["bo", "first_off"] == 30.0  # 12 and 6 frames of 5 s
    assert off.loc["bo", "camera_off_s"] == 30.0
    agg = store.start_session("class only", "t", 5.0, aggregate_only=True)
    store.add_frame(agg, {**frame(0.0, [], tiles=1), "tiles": [{"box": [0, 0, 9, 9], "camera_off": True,
                                                                 "participant": "Cy Lee"}]})
    assert store.camera_off(agg).empty
