"""The session store: the only way anything reads or writes ClassMood's data.

`Store(target)`: a path or `sqlite:///path` (SQLite, WAL; the default: `$CLASSMOOD_DB`, else the
user's data folder, `~/.local/share/classmood/classmood.db` on Linux, `~/Library/Application
Support/ClassMood` on macOS, `%LOCALAPPDATA%\\ClassMood` on Windows), or `postgresql://user@host:port/db`
(a school's server, many bots at once; see `bot.db` for where the two differ). Same methods, same
columns, same guarantees on both. One transaction per frame: a killed writer loses at most the frame
in flight, and readers never block the writer. Stored: sessions, per-frame counts, per-face expressions (participant id,
box, the 7 scores, head pose angles and attention state) and alerts. No images, unless a session is started with `keep_faces=True` (the
user opted in, with the participants' consent): then each participant's face crop (96x96 JPEG, the
FER-style square the model saw, in colour) is kept beside its observation, and nobody else's. Deleted
rows are overwritten on disk (`secure_delete`), not just unlinked, on SQLite; on PostgreSQL the tables
concerned are vacuumed after a delete (see docs/privacy.md, "What is recorded, in full", for what each promises).

Session ids are integers: a Python `int` or a numpy integer (as `sessions()["id"]` holds) alike;
anything else (a string, a float, a bool) raises `TypeError`. An unknown id is no error: `session()`
returns None, `delete_session()` False, `delete_face_images()` 0, `keeps_faces()` False, and reads
return empty DataFrames with their columns; writes to it raise `StoreError` (no such session).
`StoreError` means that the database cannot be opened, read or written; its message names the
database (a PostgreSQL URL without its password) and the reason, on one line.

Reads return pandas DataFrames with these columns:
- `sessions()`: id, name, source, started, ended, last_heartbeat (datetimes, UTC), interval_s,
  live (not ended, heartbeat within `LIVE_INTERVALS` intervals or `LIVE_GRACE_S`), frames, observations, keep_faces,
  face_images, class_name, teacher, interrupted (its writer died: ended at its last heartbeat),
  aggregate_only (class-only: per-frame class counts in `class_frames`, nothing per participant)
- `observations(id)`: time_s, participant, tile, role, emotion, confidence, uncertain,
  x, y, w, h, angry, disgust, fear, happy, sad, surprise, neutral, yaw, pitch, roll (head pose,
  degrees; NaN without one), attention ("facing", "away", "down" or None), valence
- `timeline(id, window_s=60)`: window_start, window_end, frames, faces, participants, engagement,
  valence, share_<emotion> for the 7 emotions, mood (None in a window without faces), attention,
  looking_down (shares of faces with a head pose; None without one), present (participants
  present, summed over the window's frames)
- `participants(id)`: participant, first_seen, last_seen, observations, time_on_camera_s,
  latest_emotion, dominant_emotion, valence, mood, present (seen in the latest frame), attention
(valence and mood as `bot.mood` defines them, computed there or in SQL from `valence_sql()`;
attention as `bot.attention` defines it, from `attention_sql()`)
- `expression_strips(id, window_s=60)`: participant, window_start, emotion (their commonest top
  emotion in the window), faces
- `alerts(id)`: id, time_s, created (datetime), rule, participant, message
- `face_images(id)`: time_s, participant, emotion, jpeg (bytes)
- `stage_images(id)`: time_s, jpeg (a shared screen's thumbnail, faces masked; None: no share from
  then), width, height; `report(id)`: (created, html) of the post-class report (`bot.postclass`)
- `lessons()`: a row per session with frames, for the term view (see the method), from each ended
  lesson's summary (`lesson_summaries`, made when it ends)
- `users()`: name, full_name, role, password_hash, disabled, created, password_changed, classes (the
  accounts of `bot.accounts`, which alone hashes and checks passwords)
"""

from __future__ import annotations

import functools
import logging
import numbers
import os
import socket
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from bot import aggregate
from bot import db as backends
from bot.attention import attention_sql
from bot.mood import valence_of, valence_sql
from bot.records import FrameResult, as_record, present
from model import EMOTIONS

log = logging.getLogger("classmood.store")
DEFAULT_RETENTION_DAYS = 30
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS sessions (
    id {{session_pk}}, name TEXT NOT NULL, source TEXT, started {{real}} NOT NULL, ended {{real}},
    last_heartbeat {{real}}, interval_s {{real}}, keep_faces INTEGER NOT NULL DEFAULT 0,
    class_name TEXT, teacher TEXT, content_hash TEXT, stored {{real}}, interrupted INTEGER NOT NULL DEFAULT 0,
    writer TEXT, aggregate_only INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS frames (
    id {{pk}}, session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    time_s {{real}} NOT NULL, created {{real}} NOT NULL, file TEXT, tiles INTEGER NOT NULL,
    camera_off INTEGER NOT NULL, faces INTEGER NOT NULL, participants INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS frames_session ON frames(session_id, time_s);
CREATE TABLE IF NOT EXISTS observations (
    id {{pk}}, session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    frame_id INTEGER NOT NULL REFERENCES frames(id) ON DELETE CASCADE, time_s {{real}} NOT NULL,
    participant TEXT, tile INTEGER, role TEXT NOT NULL, emotion TEXT NOT NULL, confidence {{real}},
    uncertain INTEGER NOT NULL, x INTEGER, y INTEGER, w INTEGER, h INTEGER,
    {", ".join(f"{e} {{real}} NOT NULL" for e in EMOTIONS)}, yaw {{real}}, pitch {{real}}, roll {{real}}, attention TEXT);
CREATE INDEX IF NOT EXISTS observations_session ON observations(session_id, time_s);
CREATE INDEX IF NOT EXISTS observations_frame ON observations(frame_id);
CREATE TABLE IF NOT EXISTS alerts (
    id {{pk}}, session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    time_s {{real}} NOT NULL, created {{real}} NOT NULL, rule TEXT NOT NULL, participant TEXT,
    message TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS alerts_session ON alerts(session_id, time_s);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS face_images (
    id {{pk}}, session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    observation_id INTEGER NOT NULL REFERENCES observations(id) ON DELETE CASCADE, jpeg {{blob}} NOT NULL);
CREATE INDEX IF NOT EXISTS face_images_session ON face_images(session_id);
CREATE INDEX IF NOT EXISTS face_images_observation ON face_images(observation_id);
CREATE TABLE IF NOT EXISTS users (
    id {{pk}}, name TEXT NOT NULL UNIQUE, full_name TEXT, role TEXT NOT NULL, password_hash TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0, created {{real}} NOT NULL, password_changed {{real}} NOT NULL);
CREATE TABLE IF NOT EXISTS class_teachers (
    class_key TEXT NOT NULL, class_name TEXT NOT NULL,
    user_name TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE ON UPDATE CASCADE,
    PRIMARY KEY (class_key, user_name));
CREATE TABLE IF NOT EXISTS lesson_summaries (
    session_id INTEGER PRIMARY KEY REFERENCES sessions(id) ON DELETE CASCADE, frames INTEGER NOT NULL,
    observations INTEGER NOT NULL, faces INTEGER NOT NULL, participants INTEGER NOT NULL, present {{real}}, valence {{real}}, attention {{real}},
    alerts INTEGER NOT NULL, follow_ups INTEGER NOT NULL, first_s {{real}}, last_s {{real}}, ended {{real}} NOT NULL);
CREATE TABLE IF NOT EXISTS class_frames (
    frame_id INTEGER PRIMARY KEY REFERENCES frames(id) ON DELETE CASCADE,
    session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE, time_s {{real}} NOT NULL,
    n INTEGER NOT NULL, {", ".join(f"n_{e} INTEGER NOT NULL" for e in EMOTIONS)}, positive INTEGER NOT NULL,
    negative INTEGER NOT NULL, facing INTEGER NOT NULL, posed INTEGER NOT NULL, down INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS class_frames_session ON class_frames(session_id, time_s);
CREATE TABLE IF NOT EXISTS camera_off_tiles (
    id {{pk}}, session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    frame_id INTEGER NOT NULL REFERENCES frames(id) ON DELETE CASCADE, time_s {{real}} NOT NULL,
    participant TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS camera_off_tiles_session ON camera_off_tiles(session_id, participant);
CREATE INDEX IF NOT EXISTS camera_off_tiles_frame ON camera_off_tiles(frame_id);
CREATE TABLE IF NOT EXISTS stage_images (
    id {{pk}}, session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE, time_s {{real}} NOT NULL,
    jpeg {{blob}}, width INTEGER, height INTEGER);
CREATE INDEX IF NOT EXISTS stage_images_session ON stage_images(session_id, time_s);
CREATE TABLE IF NOT EXISTS reports (
    session_id INTEGER PRIMARY KEY REFERENCES sessions(id) ON DELETE CASCADE, created {{real}} NOT NULL,
    html TEXT NOT NULL);
"""
# Columns added after a database may have been created: (table, column, definition). A database
# from before is upgraded in place when opened; their sessions kept no faces, named no class, and
# their observations have no head pose (NULL: left out of attention, as a face without landmarks).
_ADDED = [("sessions", "keep_faces", "INTEGER NOT NULL DEFAULT 0"), ("sessions", "class_name", "TEXT"),
          ("sessions", "teacher", "TEXT"), ("sessions", "content_hash", "TEXT"), ("sessions", "stored", "{real}"),
          ("sessions", "interrupted", "INTEGER NOT NULL DEFAULT 0"), ("sessions", "writer", "TEXT"),
          ("observations", "yaw", "{real}"), ("observations", "pitch", "{real}"), ("observations", "roll", "{real}"),
          ("observations", "attention", "TEXT"), ("sessions", "aggregate_only", "INTEGER NOT NULL DEFAULT 0")]
# a heartbeat; a session marked ended because its writer seemed dead lives again when it writes
_BEAT = ("UPDATE sessions SET last_heartbeat=?, ended=CASE WHEN interrupted=1 THEN NULL ELSE ended END,"
         " interrupted=0 WHERE id=?")
_TABLES = ["face_images", "stage_images", "reports", "class_frames", "camera_off_tiles", "alerts", "observations",
           "frames", "sessions"]  # vacuumed after deletes


def _pose(v) -> float | None:
    return None if v is None or not np.isfinite(v) else round(float(v), 1)


def session_id_of(value) -> int:
    """`value` as a session id: any integer (Python or numpy) as an int; anything else a TypeError."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"a session id is an integer, not {type(value).__name__} {value!r}")
    return int(value)


def _takes_session_id(method):
    """Store methods whose first argument is a session id accept any integer (see the module)."""
    @functools.wraps(method)
    def wrapper(self, session_id, *args, **kwargs):
        return method(self, session_id_of(session_id), *args, **kwargs)
    return wrapper


class StoreError(RuntimeError):
    """The database cannot be opened or written; the message names the file and the reason."""


class StoreUnavailable(StoreError):
    """The database cannot be reached just now (a server restarting, a network cut, an SQLite file
    locked past the timeout): the same call may succeed later. The store reconnects by itself, with
    a backoff, on the next call after `retry_in` seconds."""

    def __init__(self, message: str, retry_in: float = 0.0):
        super().__init__(message)
        self.retry_in = retry_in


# A session not ended is live while its bot's heartbeat is this recent (and this many intervals):
# one slow frame (a new window layout searched, names read) must not show a running class as finished.
LIVE_GRACE_S = 60.0
LIVE_INTERVALS = 5
# A session whose writer stopped sending heartbeats this long ago (and at least this many of its
# intervals) is plainly dead (a bot killed with SIGKILL, a machine switched off): `end_abandoned`
# marks it ended at its last heartbeat, `interrupted`. A writer that comes back revives it.
DEAD_AFTER_S = 600.0
DEAD_AFTER_INTERVALS = 20
RECONNECT_MAX_S = 30.0  # the longest wait between two reconnection attempts


@functools.lru_cache(maxsize=1)
def _process_space() -> str:
    """Where this process's id means something: the host name, and on Linux this boot and this
    process-id namespace (two containers that share a host name do not share process ids)."""
    parts = [socket.gethostname()]
    try:
        parts.append(Path("/proc/sys/kernel/random/boot_id").read_text().strip()[:8])
        parts.append(os.readlink("/proc/self/ns/pid").strip("pid:[]"))
    except OSError:
        pass
    return "/".join(parts)


def writer_id() -> str:
    """This process as a session's writer: where its process id means something, and that id."""
    return f"{_process_space()}:{os.getpid()}"


def writer_dead(writer: str | None) -> bool:
    """Whether the process that wrote a session is plainly gone: it ran in this machine's process
    space (same host, boot and process-id namespace) and no process has its id now. Another
    machine's writer, another container's, or an unknown one is never judged here: only its
    heartbeat tells."""
    space, _, pid = (writer or "").rpartition(":")
    if space != _process_space() or not pid.isdigit() or sys.platform == "win32":
        return False
    if int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # another user's process: alive
        return False
    return False


def patiently(call, timeout_s: float = 60.0, sleep=time.sleep):
    """`call()`, tried again while it raises `StoreUnavailable` (the database restarting), for up
    to `timeout_s` seconds; then its last `StoreUnavailable` is raised."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return call()
        except StoreUnavailable as e:
            if time.monotonic() >= deadline:
                raise
            sleep(min(max(0.2, e.retry_in), max(0.05, deadline - time.monotonic()), 5.0))


def default_db_path() -> Path | str:
    """`$CLASSMOOD_DB` (a path or a URL), else the user data folder's classmood.db."""
    env = os.environ.get("CLASSMOOD_DB")
    if env:
        return env.strip() if backends.is_url(env) else Path(env).expanduser()
    home = Path.home()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", home / "AppData" / "Local")) / "ClassMood"
    elif sys.platform == "darwin":
        base = home / "Library" / "Application Support" / "ClassMood"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME", home / ".local" / "share")) / "classmood"
    return base / "classmood.db"


class Store:
    """`Store(target=None)`: open (creating if needed) the database at `target` (a path, a
    `sqlite:///` URL or a `postgresql://` URL) or `default_db_path()`. `location` names it in
    messages (a URL without its password); `path` is the SQLite file (None on PostgreSQL)."""

    def __init__(self, path: str | os.PathLike | None = None, timeout: float = 10.0):
        target = path if path is not None else default_db_path()
        self._target, self._timeout = target, timeout
        self._backoff, self._retry_at = 0.0, 0.0
        self._aggregate: dict[int, bool] = {}
        self.location, self._secret = backends.describe(target)
        problem = backends.url_problem(target.strip()) if backends.is_postgres(target) else None
        if problem:  # the URL is not repeated: it may hold a password
            raise StoreError(f"cannot open the session database: {problem}")
        try:
            self._db = backends.connect(target if not isinstance(target, os.PathLike) else Path(target), timeout)
            self.path = self._db.path
            self.dialect = self._db.dialect
            self._db.create([stmt.strip() for stmt in _SCHEMA.format(**self._db.types).split(";") if stmt.strip()])
            self._upgrade()
        except Exception as e:  # sqlite3, psycopg or OS errors: all mean "cannot open"
            if isinstance(e, (TypeError, ValueError)) and not _driver_error(e):
                raise
            raise StoreError(f"cannot open the session database {self.location}: "
                             f"{backends.one_line(e, self._secret)}") from None

    def another(self) -> "Store":
        """A second connection to the same database (reads on it run beside this one's)."""
        return Store(self._target, self._timeout)

    def _upgrade(self) -> None:
        """Bring a database from an earlier version up to date, in place (see `_ADDED`)."""
        for table, column, definition in _ADDED:
            if column in self._db.columns(table):
                continue
            try:
                with self._db.transaction() as tx:
                    tx.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition.format(**self._db.types)}")
            except self._db.Error as e:
                if "duplicate column" not in str(e) and "already exists" not in str(e):
                    raise  # else another process added it first: fine

    def close(self) -> None:
        self._db.close()

    # -- a server that goes away and comes back ------------------------------------------------
    def _unavailable(self, e: BaseException, doing: str) -> StoreUnavailable:
        return StoreUnavailable(f"cannot {doing} the session database {self.location} just now: "
                                f"{backends.one_line(e, self._secret)}", max(0.0, self._retry_at - time.monotonic()))

    def _reconnect(self, cause: BaseException, doing: str) -> None:
        """A new connection in place of a lost one, at most once per backoff period (0.5 s, then
        doubling up to `RECONNECT_MAX_S`); `StoreUnavailable` where it cannot be had yet."""
        now = time.monotonic()
        if now < self._retry_at:
            raise self._unavailable(cause, doing)
        try:
            self._db.close()
        except Exception:  # noqa: BLE001 - a lost connection may fail to close
            pass
        try:
            self._db = backends.connect(self._target if not isinstance(self._target, os.PathLike)
                                        else Path(self._target), min(self._timeout, 5.0))
        except Exception as e:  # noqa: BLE001 - refused, timed out, DNS: all mean "not yet"
            self._backoff = min(RECONNECT_MAX_S, max(0.5, 2 * self._backoff))
            self._retry_at = now + self._backoff
            raise self._unavailable(e, doing) from None
        log.warning("reconnected to the session database %s", self.location)
        self._backoff, self._retry_at = 0.0, 0.0

    def _retrying(self, call, doing: str):
        """`call()` on the connection; where the connection was lost (`backends.lost`), once more
        on a new one (see `_reconnect`)."""
        try:
            return call()
        except Exception as e:
            if not backends.lost(self._db, e):
                raise
            cause = e
        if backends.is_postgres(self._target):
            self._reconnect(cause, doing)
        elif time.monotonic() < self._retry_at:  # SQLite: locked; the file needs no new connection
            raise self._unavailable(cause, doing)
        try:
            out = call()
        except Exception as e:
            if backends.lost(self._db, e):
                self._backoff = min(RECONNECT_MAX_S, max(0.5, 2 * self._backoff))
                self._retry_at = time.monotonic() + self._backoff
                raise self._unavailable(e, doing) from None
            raise
        self._backoff, self._retry_at = 0.0, 0.0
        return out

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- writing -------------------------------------------------------------------------------
    def _write(self, sql_calls):
        def attempt():
            with self._db.transaction() as tx:
                return sql_calls(tx)

        try:
            return self._retrying(attempt, "write to")
        except StoreError:
            raise
        except self._db.IntegrityError as e:
            if "foreign key" in str(e).lower():
                raise StoreError(f"{self.location}: no such session (it was never started or has been deleted)") from None
            raise StoreError(f"cannot write to the session database {self.location}: "
                             f"{backends.one_line(e, self._secret)}") from None
        except self._db.Error as e:
            raise StoreError(f"cannot write to the session database {self.location}: "
                             f"{backends.one_line(e, self._secret)}") from None

    def start_session(self, name: str, source: str = "", interval_s: float | None = None,
                      keep_faces: bool = False, class_name: str | None = None, teacher: str | None = None,
                      started: float | None = None, content_hash: str | None = None,
                      aggregate_only: bool = False) -> int:
        """A new session; `keep_faces=True` is the opt-in to keep participants' face images;
        `class_name` and `teacher` say whose lesson it is (many bots, one database); `started`
        (epoch seconds, default now) is when the lesson began (a recording's own date);
        `content_hash` identifies the recording it came from. `aggregate_only`: class-only, nothing
        per participant is stored (also whenever the store-wide `class_only` setting is on: see
        `add_frame`); it cannot keep faces (`ValueError`)."""
        aggregate_only = self.class_only_mode(aggregate_only, keep_faces)
        return self._write(lambda db: _insert_session(db, name, source, interval_s, keep_faces, class_name, teacher,
                                                      started, content_hash, aggregate_only))

    @property
    def class_only(self) -> bool:
        """The store-wide class-only setting (the app's Privacy tab): every new session is
        aggregate-only, whatever its bot asks."""
        return self.get_setting("class_only", "0") == "1"

    def class_only_mode(self, asked: bool, keep_faces: bool = False) -> bool:
        """Whether a new session is aggregate-only: asked for, or the store-wide setting is on.
        Keeping faces in one is refused (`ValueError`, with the reason)."""
        on = bool(asked) or self.class_only
        if on and keep_faces:
            why = "this database is set to class-only" if not asked else "class-only mode (--aggregate-only)"
            raise ValueError(f"{why} stores nothing per participant: face images cannot be kept")
        return on

    def claim_recording(self, content_hash: str, name: str, source: str = "", interval_s: float | None = None,
                        class_name: str | None = None, teacher: str | None = None, started: float | None = None,
                        busy_after_s: float = DEAD_AFTER_S, aggregate_only: bool = False) -> tuple[str, dict]:
        """Start the session of a recording unless it is stored or being analysed, atomically (two
        workers given the same file at once: one analyses it, the other is told "busy"). Returns
        ("done", {"id", "frames", "ended", "started"}) where an ended session of this content exists; ("busy",
        {"id"}) where another writer's session of it sent a heartbeat in the last `busy_after_s`
        seconds and that writer is not plainly dead (`writer_dead`: a killed worker on this machine);
        else ("started", {"id"}): unfinished sessions of it (a writer that died) deleted,
        a new one started."""
        now = time.time()
        aggregate_only = self.class_only_mode(aggregate_only)

        def calls(db):
            db.lock(content_hash)
            _, rows = db.query("SELECT id, ended, interrupted, last_heartbeat, started,"
                               " (SELECT COUNT(*) FROM frames f WHERE f.session_id = s.id), writer FROM sessions s"
                               " WHERE content_hash = ? ORDER BY id DESC", (content_hash,))
            for sid, ended, interrupted, beat, begun, n, _w in rows:
                if ended is not None and not interrupted:
                    return "done", {"id": int(sid), "frames": int(n), "ended": True, "started": float(begun)}
            for sid, ended, interrupted, beat, begun, n, who in rows:
                if ended is None and beat is not None and now - float(beat) < busy_after_s and not writer_dead(who):
                    return "busy", {"id": int(sid)}
            for sid, *_ in rows:  # a worker died on it before: its partial session goes
                db.execute("DELETE FROM sessions WHERE id=?", (int(sid),))
            sid = _insert_session(db, name, source, interval_s, False, class_name, teacher, started, content_hash,
                                  aggregate_only)
            return ("started", {"id": int(sid), "replaced": len(rows)})

        status, info = self._write(calls)
        if info.get("replaced"):
            self._scrub()
        return status, info

    def analysed(self, content_hash: str) -> int | None:
        """The newest session of this content that ended whole (not interrupted), or None: an
        upload analysed before, to open rather than analyse again."""
        _, rows = self._query("SELECT id FROM sessions WHERE content_hash = ? AND ended IS NOT NULL"
                              " AND interrupted = 0 ORDER BY id DESC", (content_hash,))
        return int(rows[0][0]) if rows else None

    def end_abandoned(self, now: float | None = None) -> int:
        """Mark sessions whose writer is plainly dead (no heartbeat for `DEAD_AFTER_S` seconds and
        `DEAD_AFTER_INTERVALS` of its intervals; or, on this machine, its process gone:
        `writer_dead`) ended at their last heartbeat, `interrupted`. Returns how many. A
        recording's interrupted session is analysed again by the next batch."""
        now = time.time() if now is None else float(now)
        _, rows = self._query("SELECT id, last_heartbeat, interval_s, writer FROM sessions WHERE ended IS NULL")
        dead = [(float(beat), int(sid)) for sid, beat, interval, who in rows if beat is not None and (
            writer_dead(who) or now - float(beat) > max(DEAD_AFTER_S, DEAD_AFTER_INTERVALS * float(interval or 0.0)))]
        for beat, sid in dead:
            self._write(lambda db, beat=beat, sid=sid: db.execute(
                "UPDATE sessions SET ended=?, interrupted=1 WHERE id=? AND ended IS NULL AND last_heartbeat=?",
                (beat, sid, beat)))
        if dead:
            log.info("marked %d session(s) without a heartbeat for %g min as ended (interrupted)",
                     len(dead), DEAD_AFTER_S / 60)
        return len(dead)

    @_takes_session_id
    def keeps_faces(self, session_id: int) -> bool:
        """Whether the session still keeps face images (read each time: another process may have
        withdrawn it with `delete_face_images`)."""
        row = self._read_one("SELECT keep_faces FROM sessions WHERE id=?", (session_id,))
        return bool(row and row[0])

    @_takes_session_id
    def aggregate_only(self, session_id: int) -> bool:
        """Whether the session is class-only: it stores per-frame class counts (`class_frames`) and
        nothing per participant (no names, no per-face rows, no face images, no participant's alert).
        Fixed when the session starts, so read once."""
        if session_id not in self._aggregate:
            row = self._read_one("SELECT aggregate_only FROM sessions WHERE id=?", (session_id,))
            if row is None:
                return False
            self._aggregate[session_id] = bool(row[0])
        return self._aggregate[session_id]

    @_takes_session_id
    def add_frame(self, session_id: int, frame: FrameResult | dict,
                  face_images: Sequence[bytes | None] | None = None) -> int:
        """Store one tracked frame (a `FrameResult`, or its `to_dict()` shape, e.g. replayed JSON) in
        one transaction. Returns the frame's id.

        `face_images`: a JPEG (or None) per face of the frame, made by the pipeline; kept only in a
        session that keeps faces, and only for participants; otherwise ignored."""
        frame = as_record(frame)
        if self.aggregate_only(session_id):
            return self._add_class_frame(session_id, frame)
        faces, tiles = frame.faces, frame.tiles
        jpegs = list(face_images) if face_images is not None and self.keeps_faces(session_id) else [None] * len(faces)
        if len(jpegs) != len(faces):
            raise ValueError(f"{len(jpegs)} face images for {len(faces)} faces")
        jpegs = [j if f.role == "participant" else None for f, j in zip(faces, jpegs)]
        now = time.time()

        def calls(db):
            fid = _insert_frame(db, session_id, frame, now)
            rows = [(session_id, fid, float(frame.time_s), f.participant, f.tile, f.role, f.emotion,
                     float(f.confidence), int(bool(f.uncertain)), *[int(v) for v in f.box],
                     *[float(v) for v in f.scores], *[_pose(v) for v in (f.yaw, f.pitch, f.roll)],
                     f.attention) for f in faces]
            sql = (f"INSERT INTO observations(session_id, frame_id, time_s, participant, tile, role, emotion,"
                   f" confidence, uncertain, x, y, w, h, {', '.join(EMOTIONS)}, yaw, pitch, roll, attention)"
                   f" VALUES ({', '.join('?' * (17 + len(EMOTIONS)))})")
            plain = [row for row, jpeg in zip(rows, jpegs) if jpeg is None]
            if plain:  # one batch: a single round trip to a PostgreSQL server
                db.executemany(sql, plain)
            for row, jpeg in zip(rows, jpegs):
                if jpeg is not None:  # the image row needs its observation's id
                    oid = db.insert(sql, row)
                    db.execute("INSERT INTO face_images(session_id, observation_id, jpeg) VALUES (?,?,?)",
                               (session_id, oid, bytes(jpeg)))
            off = [(session_id, fid, float(frame.time_s), t.participant) for t in tiles if t.camera_off and t.participant]
            if off:  # who was there with the camera off: attendance
                db.executemany("INSERT INTO camera_off_tiles(session_id, frame_id, time_s, participant)"
                               " VALUES (?,?,?,?)", off)
            db.execute(_BEAT, (now, session_id))
            db.execute("DELETE FROM lesson_summaries WHERE session_id=?", (session_id,))  # counts changed
            return fid

        return self._write(calls)

    def _add_class_frame(self, session_id: int, frame: FrameResult) -> int:
        """An aggregate-only session's frame: its counts (`frames`) and its participants' faces
        summed (`class_frames`: faces by top emotion, confident positive and negative, attention)."""
        faces = frame.participant_faces
        scores = np.array([f.scores for f in faces], dtype=np.float64).reshape(-1, len(EMOTIONS))
        per_face = valence_of(scores)
        top = [f.emotion for f in faces]
        att = [f.attention for f in faces]
        row = (len(faces), *[top.count(e) for e in EMOTIONS], int((per_face > 0).sum()), int((per_face < 0).sum()),
               att.count("facing"), sum(a is not None for a in att), att.count("down"))
        now = time.time()

        def calls(db):
            fid = _insert_frame(db, session_id, frame, now)
            db.execute(f"INSERT INTO class_frames(frame_id, session_id, time_s, n, {', '.join(aggregate.COUNTS)},"
                       f" positive, negative, facing, posed, down) VALUES ({', '.join('?' * (9 + len(EMOTIONS)))})",
                       (fid, session_id, float(frame.time_s), *row))
            db.execute(_BEAT, (now, session_id))
            db.execute("DELETE FROM lesson_summaries WHERE session_id=?", (session_id,))
            return fid

        return self._write(calls)

    @_takes_session_id
    def add_alert(self, session_id: int, rule: str, message: str, time_s: float = 0.0,
                  participant: str | None = None) -> int | None:
        """Store an alert; a participant's alert in an aggregate-only session is not stored (None)."""
        if participant is not None and self.aggregate_only(session_id):
            return None

        def calls(db):
            db.execute("DELETE FROM lesson_summaries WHERE session_id=?", (session_id,))
            return db.insert("INSERT INTO alerts(session_id, time_s, created, rule, participant, message)"
                             " VALUES (?,?,?,?,?,?)", (session_id, float(time_s), time.time(), rule, participant, message))
        return self._write(calls)

    @_takes_session_id
    def rename_participant(self, session_id: int, old: str, new: str) -> int:
        """A participant first stored under `old` (unnamed: "tile-3") is `new` (their name, read
        later): their earlier observations and alerts take the new id. Returns the rows changed."""
        if self.aggregate_only(session_id):
            return 0

        def calls(db):
            db.execute("DELETE FROM lesson_summaries WHERE session_id=?", (session_id,))
            n = db.execute("UPDATE observations SET participant=? WHERE session_id=? AND participant=?",
                           (new, session_id, old)).rowcount
            n += db.execute("UPDATE camera_off_tiles SET participant=? WHERE session_id=? AND participant=?",
                            (new, session_id, old)).rowcount
            return n + db.execute("UPDATE alerts SET participant=? WHERE session_id=? AND participant=?",
                                  (new, session_id, old)).rowcount
        return self._write(calls)

    @_takes_session_id
    def heartbeat(self, session_id: int) -> None:
        self._write(lambda db: db.execute(_BEAT, (time.time(), session_id)))

    @_takes_session_id
    def end_session(self, session_id: int, at: float | None = None) -> None:
        """The session has ended (`at`: epoch seconds, default now; a recording's own end)."""
        self._write(lambda db: db.execute("UPDATE sessions SET ended=? WHERE id=? AND ended IS NULL",
                                          (time.time() if at is None else float(at), session_id)))
        summary = self._summaries([session_id])  # the term view's row, made once
        self._write(lambda db: _store_summaries(db, summary))

    @_takes_session_id
    def delete_session(self, session_id: int) -> bool:
        gone = self._write(lambda db: db.execute("DELETE FROM sessions WHERE id=?", (session_id,)).rowcount) > 0
        self._scrub()
        return gone

    @_takes_session_id
    def delete_face_images(self, session_id: int) -> int:
        """Delete a session's face images, keep its expressions, and stop keeping new ones (a live
        bot stops at its next frame). Returns how many images went."""
        def calls(db):
            db.execute("UPDATE sessions SET keep_faces=0 WHERE id=?", (session_id,))
            return db.execute("DELETE FROM face_images WHERE session_id=?", (session_id,)).rowcount

        n = self._write(calls)
        self._scrub()
        return n

    def _scrub(self, tables: list[str] | None = None) -> None:
        """After a delete, make the deleted rows unreadable: on SQLite, copy the WAL (which still
        holds the deleted rows' old pages) into the database, where `secure_delete` has zeroed them,
        and truncate it; on PostgreSQL, VACUUM the tables concerned. Best effort: a reader that is
        mid-query keeps what it reads until the next scrub."""
        try:
            self._db.scrub(tables or _TABLES)
        except self._db.Error as e:
            log.warning("could not scrub %s after a delete: %s", self.location, backends.one_line(e, self._secret))

    # -- accounts (see `bot.accounts`: hashing and the rules live there) -------------------------
    def add_user(self, name: str, role: str, password_hash: str, full_name: str | None = None) -> None:
        """A new account; `StoreError` where the name is taken."""
        now = time.time()
        try:
            self._write(lambda db: db.execute(
                "INSERT INTO users(name, full_name, role, password_hash, disabled, created, password_changed)"
                " VALUES (?,?,?,?,0,?,?)", (name, full_name, role, password_hash, now, now)))
        except StoreError as e:
            if "unique" in str(e).lower() or "duplicate" in str(e).lower():
                raise StoreError(f"there is already an account named {name!r}") from None
            raise

    def user(self, name: str) -> dict | None:
        """One account: name, full_name, role, password_hash, disabled, created, password_changed
        (epoch seconds), classes (the class names assigned to it); None where there is none."""
        df = self.users(name)
        return None if df.empty else df.iloc[0].to_dict()

    def users(self, name: str | None = None) -> pd.DataFrame:
        """Every account (or the one named), by name, with the classes assigned to each."""
        where, params = ("", ()) if name is None else (" WHERE name=?", (name,))
        df = self._frame("SELECT name, full_name, role, password_hash, disabled, created, password_changed FROM users"
                         f"{where} ORDER BY name", params)
        df["disabled"] = df["disabled"].astype(bool)
        df["full_name"] = df["full_name"].astype(object).where(df["full_name"].notna(), None)
        _, rows = self._query("SELECT user_name, class_name FROM class_teachers ORDER BY class_name")
        classes: dict[str, list[str]] = {}
        for user, cls in rows:
            classes.setdefault(user, []).append(cls)
        df["classes"] = [tuple(classes.get(u, ())) for u in df["name"]]
        return df

    def has_users(self) -> bool:
        return self._read_one("SELECT COUNT(*) FROM users")[0] > 0

    def update_user(self, name: str, **fields) -> bool:
        """Change an account's `role`, `full_name`, `disabled` or `password_hash` (which also sets
        `password_changed`: sign-ins made before it end). False where there is no such account."""
        allowed = {"role", "full_name", "disabled", "password_hash"}
        if not fields or set(fields) - allowed:
            raise ValueError(f"an account's fields are {sorted(allowed)}, got {sorted(fields)}")
        if "disabled" in fields:
            fields["disabled"] = int(bool(fields["disabled"]))
        if "password_hash" in fields:
            fields["password_changed"] = time.time()
        sets = ", ".join(f"{k}=?" for k in fields)
        return self._write(lambda db: db.execute(f"UPDATE users SET {sets} WHERE name=?",
                                                 (*fields.values(), name)).rowcount) > 0

    def remove_user(self, name: str) -> bool:
        """Delete an account and its class assignments; its password hash is scrubbed from disk."""
        def calls(db):
            db.execute("DELETE FROM class_teachers WHERE user_name=?", (name,))
            return db.execute("DELETE FROM users WHERE name=?", (name,)).rowcount
        gone = self._write(calls) > 0
        if gone:
            self._scrub(["class_teachers", "users"])
        return gone

    def assign_class(self, name: str, class_name: str, class_key: str) -> bool:
        """Give the account `name` the class `class_name` (`class_key`: how sessions' class names are
        matched to it, `bot.accounts.key_of`). False where it had it already."""
        def calls(db):
            _, rows = db.query("SELECT 1 FROM class_teachers WHERE class_key=? AND user_name=?", (class_key, name))
            if rows:
                return False
            db.execute("INSERT INTO class_teachers(class_key, class_name, user_name) VALUES (?,?,?)",
                       (class_key, class_name, name))
            return True
        return self._write(calls)

    def unassign_class(self, name: str, class_key: str) -> bool:
        return self._write(lambda db: db.execute("DELETE FROM class_teachers WHERE class_key=? AND user_name=?",
                                                 (class_key, name)).rowcount) > 0

    # -- a term at a glance ----------------------------------------------------------------------
    def lessons(self) -> pd.DataFrame:
        """Every session with at least one frame, as one row each for the term view: id, name,
        class_name, teacher, started, ended (datetimes, UTC), live, frames, faces (participants'
        faces seen), participants (how many different ones), present (participants on camera per
        frame, mean), valence (mean of `bot.mood`'s per-face value), attention (share of faces with
        a head pose that faced the screen; NaN without one), alerts, follow_ups (participants with an
        alert), first_s and last_s (the lesson's clock).

        An ended session's figures are read from `lesson_summaries`, made when it ended (or here,
        once, for one ended otherwise: an interrupted bot, a database from before): the term of a
        school reads 2,400 small rows, not its millions of observations. A live session's figures
        are computed afresh at each read."""
        df = self._frame(
            "SELECT s.id, s.name, s.class_name, s.teacher, s.started, s.ended, s.last_heartbeat, s.interval_s,"
            " l.ended AS summed_to, l.frames, l.observations, l.faces, l.participants, l.present, l.valence,"
            " l.attention, l.alerts, l.follow_ups, l.first_s, l.last_s FROM sessions s LEFT JOIN lesson_summaries l ON l.session_id = s.id"
            " ORDER BY s.started, s.id")
        for col in ("started", "ended", "last_heartbeat", "interval_s", "summed_to"):
            df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
        stale = df["summed_to"].isna() | df["ended"].isna() | (df["summed_to"] != df["ended"])
        if stale.any():
            ids = [int(i) for i in df.loc[stale, "id"]]
            fresh = self._summaries(ids)
            ended = set(int(i) for i in df.loc[stale & df["ended"].notna(), "id"])
            keep = [row for row in fresh if row[0] in ended]
            if keep:
                self._write(lambda db: _store_summaries(db, keep))
            cols = ["frames", "observations", "faces", "participants", "present", "valence", "attention", "alerts",
                    "follow_ups", "first_s", "last_s"]
            by_id = {row[0]: row[1:] for row in fresh}
            idx = df.index[stale]
            df[cols] = df[cols].astype(object)
            df.loc[idx, cols] = [list(by_id.get(int(i), (0, 0, 0, 0, None, None, None, 0, 0, None, None)))
                                 for i in df.loc[idx, "id"]]
        num = ["frames", "observations", "faces", "participants", "alerts", "follow_ups"]
        df[num] = df[num].fillna(0).astype(int)
        for col in ("present", "valence", "attention", "first_s", "last_s"):
            df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
        now = time.time()
        interval = df["interval_s"].fillna(10.0).clip(lower=1.0)
        df["live"] = df["ended"].isna() & ((now - df["last_heartbeat"]) <= np.maximum(LIVE_GRACE_S, LIVE_INTERVALS * interval))
        for col in ("started", "ended"):
            df[col] = pd.to_datetime(df[col], unit="s", utc=True)
        df = df[df["frames"] > 0]
        return df[["id", "name", "class_name", "teacher", "started", "ended", "live", "frames", "faces", "participants",
                   "present", "valence", "attention", "alerts", "follow_ups", "first_s", "last_s"]].reset_index(drop=True)

    def _summaries(self, ids: list[int]) -> list[tuple]:
        """(session id, frames, observations, faces, participants, present, valence, attention, alerts,
        follow_ups, first_s, last_s) for each of `ids`, aggregated in SQL (500 sessions a query)."""
        out = []
        for k in range(0, len(ids), 500):
            chunk = ids[k:k + 500]
            marks = ",".join("?" * len(chunk))
            _, fr = self._query(f"SELECT session_id, COUNT(*), AVG(participants), MIN(time_s), MAX(time_s) FROM frames"
                                f" WHERE session_id IN ({marks}) GROUP BY session_id", chunk)
            part = "role = 'participant'"
            _, ob = self._query(f"SELECT session_id, COUNT(*), SUM(CASE WHEN {part} THEN 1 ELSE 0 END),"
                                f" COUNT(DISTINCT CASE WHEN {part} THEN participant END),"
                                f" AVG(CASE WHEN {part} THEN {valence_sql()} END),"
                                f" SUM(CASE WHEN {part} THEN {attention_sql()} ELSE 0 END),"
                                f" SUM(CASE WHEN {part} AND attention IS NOT NULL THEN 1 ELSE 0 END)"
                                f" FROM observations WHERE session_id IN ({marks}) GROUP BY session_id", chunk)
            _, al = self._query(f"SELECT session_id, COUNT(*), COUNT(DISTINCT participant) FROM alerts"
                                f" WHERE session_id IN ({marks}) GROUP BY session_id", chunk)
            _, cf = self._query(f"SELECT session_id, 0, SUM(n), 0, SUM(positive - negative) * 1.0 / NULLIF(SUM(n), 0),"
                                f" SUM(facing), SUM(posed) FROM class_frames WHERE session_id IN ({marks})"
                                f" GROUP BY session_id", chunk)
            ob = [*ob, *cf]  # an aggregate-only session has class rows and no observations
            frames = {int(r[0]): r[1:] for r in fr}
            obs = {int(r[0]): r[1:] for r in ob}
            alerts = {int(r[0]): r[1:] for r in al}
            for sid in chunk:
                n, present, first, last = frames.get(sid, (0, None, None, None))
                rows, faces, people, valence, facing, posed = obs.get(sid, (0, 0, 0, None, 0, 0))
                attention = float(facing) / float(posed) if posed else None
                n_alerts, follow = alerts.get(sid, (0, 0))
                out.append((sid, int(n), int(rows), int(faces or 0), int(people), None if present is None else float(present),
                            None if valence is None else float(valence), attention, int(n_alerts), int(follow),
                            None if first is None else float(first), None if last is None else float(last)))
        return out

    def get_setting(self, key: str, default: str | None = None) -> str | None:
        row = self._read_one("SELECT value FROM settings WHERE key=?", (key,))
        return row[0] if row else default

    def set_setting(self, key: str, value) -> None:
        self._write(lambda db: db.execute("INSERT INTO settings(key, value) VALUES (?, ?) "
                                          "ON CONFLICT(key) DO UPDATE SET value=excluded.value", (key, str(value))))

    @property
    def retention_days(self) -> float:
        return float(self.get_setting("retention_days", str(DEFAULT_RETENTION_DAYS)))

    def purge(self, now: float | None = None) -> int:
        """Delete sessions stored more than `retention_days` ago; returns how many went. Retention
        counts from when the data was stored (`stored`: when the session was written first), not
        from the lesson's date (`started`): a term of recordings analysed tonight is kept for the
        whole period from tonight. Sessions from before `stored` existed count from their last
        heartbeat (their last write). Sessions whose writer is plainly dead are marked ended first
        (`end_abandoned`)."""
        now = time.time() if now is None else float(now)
        self.end_abandoned(now)
        cutoff = now - self.retention_days * 86400
        n = self._write(lambda db: db.execute(
            "DELETE FROM sessions WHERE COALESCE(stored, last_heartbeat, started) < ?", (cutoff,)).rowcount)
        if n:
            self._scrub()
        return n

    # -- reading -------------------------------------------------------------------------------
    def _read_one(self, sql, params=()):
        cols, rows = self._query(sql, params)
        return rows[0] if rows else None

    def _query(self, sql, params=()):
        try:
            return self._retrying(lambda: self._db.query(sql, params), "read")
        except StoreError:
            raise
        except self._db.Error as e:
            raise StoreError(f"cannot read the session database {self.location}: "
                             f"{backends.one_line(e, self._secret)}") from None

    def _frame(self, sql, params=()) -> pd.DataFrame:
        cols, rows = self._query(sql, params)
        return pd.DataFrame.from_records(rows, columns=cols)

    def sessions(self) -> pd.DataFrame:
        return self._sessions()

    def _sessions(self, session_id: int | None = None) -> pd.DataFrame:
        where, params = ("", ()) if session_id is None else (" WHERE s.id=?", (session_id,))
        # an ended session's counts come from its summary (`lessons`) where it is up to date: a
        # school's list of 2,400 lessons would otherwise count millions of rows at every refresh
        summed = "s.ended IS NOT NULL AND l.ended = s.ended"
        df = self._frame(
            "SELECT s.id, s.name, s.source, s.started, s.ended, s.last_heartbeat, s.interval_s,"
            f" CASE WHEN {summed} THEN l.frames ELSE (SELECT COUNT(*) FROM frames f WHERE f.session_id = s.id) END"
            " AS frames,"
            f" CASE WHEN {summed} THEN l.observations ELSE"
            " (SELECT COUNT(*) FROM observations o WHERE o.session_id = s.id) END AS observations,"
            " s.keep_faces, (SELECT COUNT(*) FROM face_images i WHERE i.session_id = s.id) AS face_images,"
            " s.class_name, s.teacher, s.interrupted, s.aggregate_only FROM sessions s LEFT JOIN lesson_summaries l ON l.session_id = s.id"
            f"{where} ORDER BY s.started DESC", params)
        now = time.time()
        for col in ("started", "ended", "last_heartbeat", "interval_s"):  # None -> NaN on an empty result too
            df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
        interval = df["interval_s"].fillna(10.0).clip(lower=1.0)
        df["live"] = df["ended"].isna() & ((now - df["last_heartbeat"]) <= np.maximum(LIVE_GRACE_S, LIVE_INTERVALS * interval))
        df["keep_faces"] = df["keep_faces"].astype(bool)
        df["interrupted"] = df["interrupted"].fillna(0).astype(bool)
        df["aggregate_only"] = df["aggregate_only"].fillna(0).astype(bool)
        for col in ("started", "ended", "last_heartbeat"):
            df[col] = pd.to_datetime(df[col], unit="s", utc=True)
        return df[["id", "name", "source", "started", "ended", "last_heartbeat", "interval_s", "live",
                   "frames", "observations", "keep_faces", "face_images", "class_name", "teacher", "interrupted",
                   "aggregate_only"]]

    @_takes_session_id
    def session(self, session_id: int) -> dict | None:
        """One row of `sessions()` as a dict (its counts read for this session only), or None."""
        df = self._sessions(session_id)
        return None if df.empty else df.iloc[0].to_dict()

    @_takes_session_id
    def observations(self, session_id: int) -> pd.DataFrame:
        df = self._frame(f"SELECT time_s, participant, tile, role, emotion, confidence, uncertain, x, y, w, h,"
                         f" {', '.join(EMOTIONS)}, yaw, pitch, roll, attention FROM observations"
                         f" WHERE session_id=? ORDER BY time_s, id",
                         (session_id,))
        df["uncertain"] = df["uncertain"].astype(bool)
        df["valence"] = valence_of(df[list(EMOTIONS)].to_numpy()) if len(df) else pd.Series(dtype=float)
        for c in ("yaw", "pitch", "roll"):
            df[c] = df[c].astype(float)
        df["attention"] = df["attention"].astype(object).where(df["attention"].notna(), None)
        return df

    @_takes_session_id
    def frames(self, session_id: int) -> pd.DataFrame:
        return self._frame("SELECT time_s, file, tiles, camera_off, faces, participants FROM frames"
                           " WHERE session_id=? ORDER BY time_s, id", (session_id,))

    def _frame_windows(self, session_id: int, w: float, since_s: float = 0.0, until_s: float = 1e18) -> pd.DataFrame:
        """Per window of `w` seconds of the session's frames from `since_s` to before `until_s`:
        bucket, frames, faces, present (`bot.aggregate.FRAME_STATS`)."""
        fw = self._frame(f"SELECT {self._db.bucket('time_s')} AS bucket, COUNT(*) AS frames, SUM(faces) AS faces,"
                         f" SUM(participants) AS present FROM frames WHERE session_id=? AND time_s >= ?"
                         f" AND time_s < ? GROUP BY bucket", (w, session_id, since_s, until_s))
        if not fw.empty:
            fw[["frames", "faces", "present"]] = fw[["frames", "faces", "present"]].astype(int)
        return fw

    @_takes_session_id
    def window_stats(self, session_id: int, window_s: float = 60.0, since_s: float = 0.0,
                     until_s: float | None = None, gap: float | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The per-window statistics that `bot.aggregate` derives the timeline, participants and
        heat strips from, for the frames from `since_s` to before `until_s`: (per window: frames,
        faces, present; per participant and window: faces by top emotion, when each emotion was
        last on top, sums of valence, attention and time on camera, first and last seen). `gap`:
        the session's typical gap (`bot.aggregate.typical_gap`), read from its frames if not given.
        Aggregated in SQL, one pass over the span's observations."""
        if gap is None:
            gap = aggregate.typical_gap(self.frames(session_id)["time_s"])
        until = 1e18 if until_s is None else float(until_s)
        w = float(window_s)
        fw = self._frame_windows(session_id, w, float(since_s), until)
        if fw.empty:
            return aggregate.empty_stats()
        if self.aggregate_only(session_id):
            return fw, self._class_windows(session_id, w, float(since_s), until)
        per = ", ".join(f"SUM(CASE WHEN emotion = '{e}' THEN 1 ELSE 0 END) AS n_{e},"
                        f" MAX(CASE WHEN emotion = '{e}' THEN o.time_s END) AS last_{e}" for e in EMOTIONS)
        # each observation stands for the gap to its session's next frame, at most 3x the typical
        # gap; the frames' gaps are taken over the frames from since_s on, so that the last frame
        # of the span reaches to the next one
        st = self._frame(
            f"WITH g0 AS (SELECT id, time_s, {self._db.least('COALESCE(LEAD(time_s) OVER (ORDER BY time_s, id) - time_s, ?)', '?')}"
            f" AS gap FROM frames WHERE session_id=? AND time_s >= ?),"
            f" g AS (SELECT id, time_s, gap FROM g0 WHERE time_s < ?)"
            f" SELECT o.participant, {self._db.bucket('g.time_s')} AS bucket, COUNT(*) AS n, {per},"
            f" SUM({valence_sql()}) AS valence_sum, SUM({attention_sql()}) AS facing,"
            f" SUM(CASE WHEN attention IS NULL THEN 0 ELSE 1 END) AS posed,"
            f" SUM(CASE WHEN attention = 'down' THEN 1 ELSE 0 END) AS down,"
            f" MIN(o.time_s) AS first_seen, MAX(o.time_s) AS last_seen, SUM(g.gap) AS gap"
            f" FROM g JOIN observations o ON o.frame_id = g.id WHERE o.role = 'participant'"
            f" GROUP BY o.participant, bucket",
            (gap, 3 * gap, session_id, float(since_s), until, w))
        if st.empty:
            st = pd.DataFrame(columns=aggregate.STATS)
        num = [c for c in aggregate.STATS if c not in ("participant", "bucket")]
        st[num] = st[num].astype(float)  # PostgreSQL's NUMERIC sums arrive as Decimal
        return fw, st[aggregate.STATS]

    def _class_windows(self, session_id: int, w: float, since_s: float, until_s: float) -> pd.DataFrame:
        """An aggregate-only session's `window_stats` rows: one a window, its participant None."""
        per = ", ".join(f"SUM(n_{e}) AS n_{e}, MAX(CASE WHEN n_{e} > 0 THEN time_s END) AS last_{e}" for e in EMOTIONS)
        st = self._frame(f"SELECT NULL AS participant, {self._db.bucket('time_s')} AS bucket, SUM(n) AS n, {per},"
                         f" SUM(positive - negative) AS valence_sum, SUM(facing) AS facing, SUM(posed) AS posed,"
                         f" SUM(down) AS down, MIN(time_s) AS first_seen, MAX(time_s) AS last_seen, 0 AS gap"
                         f" FROM class_frames WHERE session_id=? AND time_s >= ? AND time_s < ? GROUP BY bucket",
                         (w, session_id, since_s, until_s))
        if st.empty:
            return pd.DataFrame(columns=aggregate.STATS)
        num = [c for c in aggregate.STATS if c not in ("participant", "bucket")]
        st[num] = st[num].astype(float)
        st["participant"] = None
        return st[aggregate.STATS]

    @_takes_session_id
    def present_now(self, session_id: int) -> set:
        """The participants seen on camera in the session's latest frame."""
        _, rows = self._query("SELECT DISTINCT participant FROM observations WHERE frame_id ="
                              " (SELECT id FROM frames WHERE session_id=? ORDER BY time_s DESC, id DESC LIMIT 1)"
                              " AND role='participant' AND participant IS NOT NULL", (session_id,))
        return {r[0] for r in rows}

    @_takes_session_id
    def timeline(self, session_id: int, window_s: float = 60.0) -> pd.DataFrame:
        """Per window of `window_s` seconds: counts, engagement (faces visible / participants
        present), valence and the share of participants' faces showing each emotion, mood, and
        attention (share of faces with a head pose facing the screen; `looking_down`: the share
        looking down; both None where no face had a pose). See `bot.aggregate`."""
        w = float(window_s)
        fw = self._frame_windows(session_id, w)
        if fw.empty:
            return aggregate.timeline(*aggregate.empty_stats(), w)
        if self.aggregate_only(session_id):
            return aggregate.timeline(fw, self._class_windows(session_id, w, 0.0, 1e18), w)
        counts = ", ".join(f"SUM(CASE WHEN emotion = '{e}' THEN 1 ELSE 0 END) AS n_{e}" for e in EMOTIONS)
        # one row a window, straight from the observations: a timeline on its own needs no
        # per-participant sums (the class tab shares window_stats' with the participants table)
        st = self._frame(f"SELECT {self._db.bucket('time_s')} AS bucket, COUNT(*) AS n, {counts},"
                         f" SUM({valence_sql()}) AS valence_sum, SUM({attention_sql()}) AS facing,"
                         f" SUM(CASE WHEN attention IS NULL THEN 0 ELSE 1 END) AS posed,"
                         f" SUM(CASE WHEN attention = 'down' THEN 1 ELSE 0 END) AS down,"
                         f" COUNT(DISTINCT participant) AS participants"
                         f" FROM observations WHERE session_id=? AND role='participant' GROUP BY bucket",
                         (w, session_id))
        num = [c for c in st.columns if c != "bucket"]
        st[num] = st[num].astype(float)  # PostgreSQL's NUMERIC sums arrive as Decimal
        return aggregate.timeline(fw, st, w)

    @_takes_session_id
    def participants(self, session_id: int) -> pd.DataFrame:
        """Per participant: first and last seen, observations, time on camera (each observation
        stands for the gap to the next frame, capped at 3x the typical gap), latest and dominant
        emotion, mean valence and its mood, `present`: seen on camera in the session's latest
        frame (False: off camera now, or left), and `attention`: the share of their faces with a
        head pose that faced the screen (None: none had one). See `bot.aggregate`."""
        _, st = self.window_stats(session_id, 3600.0)
        return aggregate.participants(st, self.present_now(session_id))

    @_takes_session_id
    def expression_strips(self, session_id: int, window_s: float = 60.0) -> pd.DataFrame:
        """Each participant's commonest top emotion per window of `window_s` seconds (a row per
        participant and window they were seen in; ties go to the alphabetically first emotion):
        participant, window_start, emotion, faces. For the heat strips of the app and the report."""
        _, st = self.window_stats(session_id, window_s)
        return aggregate.strips(st, float(window_s))

    @_takes_session_id
    def recent_dominant(self, session_id: int, since_s: float) -> pd.Series:
        """Each participant's commonest top emotion since video/session time `since_s`."""
        df = self._frame("SELECT participant, emotion, COUNT(*) AS n FROM observations WHERE session_id=?"
                         " AND role='participant' AND participant IS NOT NULL AND time_s >= ?"
                         " GROUP BY participant, emotion", (session_id, since_s))
        if df.empty:
            return pd.Series(dtype=object, name="dominant")
        return df.sort_values("n", ascending=False).drop_duplicates("participant").set_index("participant")[
            "emotion"].rename("dominant")

    @_takes_session_id
    def alerts(self, session_id: int) -> pd.DataFrame:
        df = self._frame("SELECT id, time_s, created, rule, participant, message FROM alerts"
                         " WHERE session_id=? ORDER BY time_s, id", (session_id,))
        df["created"] = pd.to_datetime(df["created"], unit="s", utc=True)
        return df

    @_takes_session_id
    def camera_off(self, session_id: int, gap: float | None = None) -> pd.DataFrame:
        """Per participant seen on a camera-off tile (a name panel, an avatar, a profile photo):
        participant, first_off, last_off, camera_off_s (each such tile stands for the gap to the
        session's next frame, at most 3x the typical gap, as time on camera does). Empty for a
        class-only session, which keeps no one's tile. `gap`: the session's typical gap
        (`bot.aggregate.typical_gap`), read from its frames if not given."""
        if gap is None:
            gap = aggregate.typical_gap(self.frames(session_id)["time_s"])
        df = self._frame(
            f"WITH g AS (SELECT id, {self._db.least('COALESCE(LEAD(time_s) OVER (ORDER BY time_s, id) - time_s, ?)', '?')}"
            f" AS gap FROM frames WHERE session_id=?)"
            f" SELECT c.participant, MIN(c.time_s) AS first_off, MAX(c.time_s) AS last_off, SUM(g.gap) AS camera_off_s"
            f" FROM camera_off_tiles c JOIN g ON g.id = c.frame_id WHERE c.session_id=? GROUP BY c.participant"
            f" ORDER BY c.participant", (gap, 3 * gap, session_id, session_id))
        for c in ("first_off", "last_off", "camera_off_s"):
            df[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
        return df

    @_takes_session_id
    def face_counts(self, session_id: int, small_px: int = 32) -> dict:
        """What the figures rest on: participants' faces read, those uncertain (a tiny face or a low
        top score), those smaller than `small_px` a side; an aggregate-only session's class counts
        hold no box or score: its uncertain and small are None."""
        if self.aggregate_only(session_id):
            row = self._read_one("SELECT COALESCE(SUM(n), 0) FROM class_frames WHERE session_id=?", (session_id,))
            return {"faces": int(row[0] or 0), "uncertain": None, "small": None}
        row = self._read_one("SELECT COUNT(*), COALESCE(SUM(uncertain), 0), COALESCE(SUM(CASE WHEN h < ? THEN 1 ELSE 0 END), 0)"
                             " FROM observations WHERE session_id=? AND role='participant'", (int(small_px), session_id))
        return {"faces": int(row[0] or 0), "uncertain": int(row[1] or 0), "small": int(row[2] or 0)}

    @_takes_session_id
    def add_stage_image(self, session_id: int, time_s: float, jpeg: bytes | None, size: tuple[int, int] = (0, 0)) -> None:
        """What the meeting's stage (a shared screen) showed from `time_s` on: a thumbnail of the
        shared content with any face in it masked (`bot.stage`); None: no screen shared from then.
        Never in an aggregate-only session (it keeps no picture at all)."""
        if self.aggregate_only(session_id):
            return
        self._write(lambda db: db.execute("INSERT INTO stage_images(session_id, time_s, jpeg, width, height)"
                                          " VALUES (?,?,?,?,?)", (session_id, float(time_s),
                                                                  None if jpeg is None else bytes(jpeg), *map(int, size))))

    @_takes_session_id
    def stage_images(self, session_id: int) -> pd.DataFrame:
        """time_s, jpeg (bytes, or None: no screen shared from then), width, height; in time order."""
        return self._frame("SELECT time_s, jpeg, width, height FROM stage_images WHERE session_id=?"
                           " ORDER BY time_s, id", (session_id,))

    @_takes_session_id
    def save_report(self, session_id: int, html: str) -> None:
        """The post-class report of a session (`bot.postclass`), replacing an earlier one."""
        def calls(db):
            db.execute("DELETE FROM reports WHERE session_id=?", (session_id,))
            db.execute("INSERT INTO reports(session_id, created, html) VALUES (?,?,?)", (session_id, time.time(), html))
        self._write(calls)

    @_takes_session_id
    def report(self, session_id: int) -> tuple[float, str] | None:
        """(created, html) of the session's stored post-class report, or None."""
        row = self._read_one("SELECT created, html FROM reports WHERE session_id=?", (session_id,))
        return (float(row[0]), str(row[1])) if row else None

    @_takes_session_id
    def face_images(self, session_id: int) -> pd.DataFrame:
        """The kept face images of a session (none unless it was started with `keep_faces=True`)."""
        return self._frame("SELECT o.time_s, o.participant, o.emotion, i.jpeg FROM face_images i"
                           " JOIN observations o ON o.id = i.observation_id WHERE i.session_id=?"
                           " ORDER BY o.time_s, o.id", (session_id,))


def _insert_session(db, name, source, interval_s, keep_faces, class_name, teacher, started, content_hash,
                    aggregate_only=False) -> int:
    """A new session row (in the caller's transaction): stored now, by this process."""
    now = time.time()
    return db.insert("INSERT INTO sessions(name, source, started, last_heartbeat, interval_s, keep_faces, class_name,"
                     " teacher, content_hash, stored, writer, aggregate_only) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                     (name, source, now if started is None else float(started), now, interval_s,
                      int(bool(keep_faces)), class_name, teacher, content_hash, now, writer_id(),
                      int(bool(aggregate_only))))


def _insert_frame(db, session_id: int, frame: FrameResult, now: float) -> int:
    """A frame's row (in the caller's transaction): its tiles, camera-off tiles, participants' faces
    visible and participants present (`bot.records.present`); returns its id."""
    return db.insert("INSERT INTO frames(session_id, time_s, created, file, tiles, camera_off, faces, participants)"
                     " VALUES (?,?,?,?,?,?,?,?)",
                     (session_id, float(frame.time_s), now, frame.file, len(frame.tiles),
                      sum(bool(t.camera_off) for t in frame.tiles), len(frame.participant_faces), int(present(frame))))


def _store_summaries(db, rows: list[tuple]) -> None:
    """Write `Store._summaries` rows (in the caller's transaction), replacing older ones, each
    with the end of the session it sums up: it stands while the session's `ended` is that (a
    session revived and ended again, at any clock's time, is summed again)."""
    for row in rows:
        _, ended = db.query("SELECT ended FROM sessions WHERE id=?", (row[0],))
        if not ended or ended[0][0] is None:  # deleted meanwhile, or live again: nothing to keep
            continue
        db.execute("DELETE FROM lesson_summaries WHERE session_id=?", (row[0],))
        db.execute("INSERT INTO lesson_summaries(session_id, frames, observations, faces, participants, present, valence,"
                   " attention, alerts, follow_ups, first_s, last_s, ended) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                   (*row, float(ended[0][0])))


def _driver_error(e: BaseException) -> bool:
    """Whether `e` comes from a database driver (sqlite3, psycopg) rather than from our own code."""
    mod = type(e).__module__ or ""
    return mod.startswith(("sqlite3", "psycopg"))
