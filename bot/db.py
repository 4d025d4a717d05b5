"""Database backends of the session store: SQLite (one file, the default) and PostgreSQL (a school's
server, through psycopg 3). `bot.store.Store` writes its SQL once, with `?` placeholders, and asks
the backend for the few pieces where the dialects differ:

- placeholders: SQLite takes `?`, psycopg `%s` (the PostgreSQL backend converts; the store's SQL
  holds no literal `?` or `%`);
- `bucket(expr)`: whole windows of a time. SQLite's `CAST(x AS INTEGER)` truncates; PostgreSQL's
  rounds, so there it is `FLOOR` first (times are never negative, so both floor);
- `least(a, b)`: SQLite's two-argument `MIN`, PostgreSQL's `LEAST`;
- the id of a new row: SQLite's `lastrowid`, PostgreSQL's `RETURNING id`;
- `SUM` of a comparison: SQLite sums booleans, PostgreSQL refuses: the store sums `CASE` instead;
- `ROUND(x, n)` needs a NUMERIC on PostgreSQL (the store casts; psycopg returns `Decimal`, which
  `query()` turns back into floats);
- types: SQLite's `REAL` is 8 bytes, PostgreSQL's is 4 (`DOUBLE PRECISION` there); `BLOB` is `BYTEA`;
  SQLite's `INTEGER PRIMARY KEY` is an identity column there;
- `PRAGMA`s (WAL, foreign keys, secure delete) are SQLite's; PostgreSQL has MVCC and always
  enforces foreign keys;
- after a delete: SQLite checkpoints its WAL into the file, where `secure_delete` has zeroed the
  rows; PostgreSQL runs `VACUUM` on the tables concerned (see `scrub`).

A PostgreSQL password comes only from the URL, `PGPASSWORD` or `~/.pgpass` (libpq reads the last
two itself); `redact()` gives the URL as every message shows it: `postgresql://user@host:port/db`.
"""

from __future__ import annotations

import contextlib
import decimal
import os
import re
import sqlite3
import threading
from pathlib import Path
from urllib.parse import unquote, urlsplit


def is_url(target) -> bool:
    return isinstance(target, str) and bool(re.match(r"^(postgres(ql)?|sqlite)://", target.strip(), re.I))


UNREADABLE = "postgresql://(a URL that cannot be read)"


def url_problem(url: str) -> str | None:
    """Why a postgresql:// URL cannot be read safely, or None. Such a URL is never printed, nor
    handed to the driver (whose message would echo it, password and all): a password with `/`,
    `@`, `?`, `#` or `[` unencoded makes everything after it look like the host or the path."""
    rest = url.split("://", 1)[1] if "://" in url else ""
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if "@" in rest[len(authority):] or authority.count("@") > 1:
        return ("the postgresql:// URL cannot be read: a user name or password holding / @ ? or # must be "
                "percent-encoded (%2F %40 %3F %23)")
    try:
        urlsplit(url).port  # noqa: B018 - a bad host or port raises
    except ValueError:
        return "the postgresql:// URL cannot be read (a bad host or port; [ ] are for IPv6 addresses)"
    return None


def redact(url: str) -> str:
    """`url` without its password (and without query options, which may carry one):
    postgresql://user@host:port/db."""
    if url_problem(url):
        return UNREADABLE
    try:
        parts = urlsplit(url)
    except ValueError:
        return UNREADABLE
    user = unquote(parts.username) + "@" if parts.username else ""
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    host = parts.hostname or ""
    return f"{parts.scheme}://{user}{host}{port}{parts.path}"


def one_line(error: BaseException, secret: str | None = None) -> str:
    """A driver's message on one line, with `secret` (a password) blanked wherever it appears."""
    text = " ".join(str(error).split()) or type(error).__name__
    if secret:
        text = text.replace(secret, "***")
    return text


def is_postgres(target) -> bool:
    return isinstance(target, str) and bool(re.match(r"^postgres(ql)?://", target.strip(), re.I))


def describe(target) -> tuple[str, str | None]:
    """(how messages name the database, the password to blank in them): a PostgreSQL URL without
    its password, or the SQLite file's path."""
    if is_postgres(target):
        if url_problem(target.strip()):
            return UNREADABLE, target.strip()  # nothing of it is shown
        try:
            secret = urlsplit(target.strip()).password
        except ValueError:
            secret = None
        return redact(target.strip()), secret
    return str(sqlite_path(target)), None


def sqlite_path(target) -> Path:
    """A path, or a `sqlite:///path` URL (`sqlite:////abs/path`, as SQLAlchemy writes them)."""
    if isinstance(target, str) and target.lower().startswith("sqlite://"):
        rest = target[len("sqlite://"):]
        return Path(unquote(rest[1:] if rest.startswith("/") else rest)).expanduser()
    return Path(target).expanduser()


class SQLite:
    dialect = "sqlite"
    placeholder = "?"
    # sessions' ids never come back after a delete (AUTOINCREMENT): an id in an export, a report or
    # a log names one lesson for good
    types = {"pk": "INTEGER PRIMARY KEY", "session_pk": "INTEGER PRIMARY KEY AUTOINCREMENT", "real": "REAL",
             "blob": "BLOB"}
    Error = sqlite3.Error
    IntegrityError = sqlite3.IntegrityError

    def __init__(self, path: Path, timeout: float):
        self.path = path
        if not path.exists():
            # Names and expressions are personal data: a new database (and a folder we make for
            # it) is readable by its owner only; SQLite gives its -wal and -shm files the same mode.
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        self.db = sqlite3.connect(path, timeout=timeout, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        self.db.execute("PRAGMA secure_delete=ON")
        self._lock = threading.RLock()

    def create(self, statements: list[str]) -> None:
        with self.transaction() as tx:
            for sql in statements:
                tx.execute(sql)
        self._never_reuse_ids()

    def _never_reuse_ids(self) -> None:
        """A database made before session ids were AUTOINCREMENT gets its sessions table rebuilt so
        (SQLite cannot alter a key): rows, ids and the tables that refer to it unchanged."""
        sql = self.db.execute("SELECT sql FROM sqlite_master WHERE type='table' AND name='sessions'").fetchone()
        if sql is None or "AUTOINCREMENT" in sql[0].upper():
            return
        with self._lock:
            self.db.execute("PRAGMA foreign_keys=OFF")  # else dropping the old table cascades
            try:
                self.db.execute("BEGIN IMMEDIATE")
                try:
                    again = self.db.execute("SELECT sql FROM sqlite_master WHERE name='sessions'").fetchone()[0]
                    if "AUTOINCREMENT" not in again.upper():  # another process may have done it meanwhile
                        new = re.sub(r"\bid\s+INTEGER\s+PRIMARY\s+KEY\b", "id INTEGER PRIMARY KEY AUTOINCREMENT",
                                     again, count=1, flags=re.I)
                        new = re.sub(r"^\s*CREATE\s+TABLE\s+(IF\s+NOT\s+EXISTS\s+)?\"?sessions\"?",
                                     "CREATE TABLE sessions_autoinc", new, count=1, flags=re.I)
                        cols = ", ".join(r[1] for r in self.db.execute("PRAGMA table_info(sessions)"))
                        self.db.execute(new)
                        self.db.execute(f"INSERT INTO sessions_autoinc({cols}) SELECT {cols} FROM sessions")
                        self.db.execute("DROP TABLE sessions")
                        self.db.execute("ALTER TABLE sessions_autoinc RENAME TO sessions")
                        if self.db.execute("PRAGMA foreign_key_check").fetchall():
                            raise sqlite3.IntegrityError("foreign keys broken by the sessions table's rebuild")
                    self.db.execute("COMMIT")
                except BaseException:
                    self.db.execute("ROLLBACK")
                    raise
            finally:
                self.db.execute("PRAGMA foreign_keys=ON")

    def lock(self, key: str) -> None:
        """Serialise transactions about `key`: SQLite's write transactions (BEGIN IMMEDIATE) are
        serialised already."""

    @contextlib.contextmanager
    def transaction(self):
        with self._lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise

    def execute(self, sql: str, params=()):
        return self.db.execute(sql, params)

    def insert(self, sql: str, params=()) -> int:
        return self.db.execute(sql, params).lastrowid

    def executemany(self, sql: str, rows) -> None:
        self.db.executemany(sql, rows)

    def query(self, sql: str, params=()) -> tuple[list[str], list[tuple]]:
        with self._lock:
            cur = self.db.execute(sql, params)
            if cur.description is None:  # a statement that returns no rows
                return [], []
            return [d[0] for d in cur.description], cur.fetchall()

    def columns(self, table: str) -> set[str]:
        return {r[1] for r in self.db.execute(f"PRAGMA table_info({table})")}

    def bucket(self, expr: str) -> str:
        return f"CAST({expr} / ? AS INTEGER)"

    def least(self, a: str, b: str) -> str:
        return f"MIN({a}, {b})"

    def scrub(self, tables: list[str]) -> None:
        """Copy the WAL (which still holds the deleted rows' old pages) into the database, where
        `secure_delete` has zeroed them, and truncate it."""
        with self._lock:
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    def close(self) -> None:
        self.db.close()


class PostgreSQL:
    dialect = "postgresql"
    placeholder = "%s"
    types = {"pk": "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",  # identities never come back
             "session_pk": "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", "real": "DOUBLE PRECISION",
             "blob": "BYTEA"}

    def __init__(self, url: str, timeout: float):
        try:
            import psycopg
        except ImportError as e:  # pragma: no cover - a broken install
            raise RuntimeError("a postgresql:// database needs psycopg: pip install 'psycopg[binary]'") from e
        self.Error = psycopg.Error
        self.IntegrityError = psycopg.IntegrityError
        self.path = None
        self._lock = threading.RLock()
        self.db = psycopg.connect(url, autocommit=True, connect_timeout=max(1, int(round(timeout))),
                                  application_name="classmood")

    def create(self, statements: list[str]) -> None:
        """The schema, once, however many bots start at the same moment (CREATE ... IF NOT EXISTS
        alone races on PostgreSQL's catalogue)."""
        with self.transaction() as tx:
            tx.execute("SELECT pg_advisory_xact_lock(7261530)")  # any fixed number: ClassMood's schema lock
            for sql in statements:
                tx.execute(sql)

    @contextlib.contextmanager
    def transaction(self):
        with self._lock, self.db.transaction():
            yield self

    def lock(self, key: str) -> None:
        """Serialise transactions about `key` (a recording's hash) across connections, until this
        transaction ends."""
        self.db.execute("SELECT pg_advisory_xact_lock(7261531, hashtext(%s))", (key,))

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s")

    def execute(self, sql: str, params=()):
        return self.db.execute(self._sql(sql), params or None)

    def insert(self, sql: str, params=()) -> int:
        return self.db.execute(self._sql(sql) + " RETURNING id", params).fetchone()[0]

    def executemany(self, sql: str, rows) -> None:
        """All rows in one round trip (psycopg pipelines executemany)."""
        with self.db.cursor() as cur:
            cur.executemany(self._sql(sql), rows)

    def query(self, sql: str, params=()) -> tuple[list[str], list[tuple]]:
        with self._lock:
            cur = self.db.execute(self._sql(sql), params or None)
            if cur.description is None:  # a statement that returns no rows
                return [], []
            cols = [d.name for d in cur.description]
            rows = cur.fetchall()
        if rows and any(isinstance(v, decimal.Decimal) for v in rows[0]):
            rows = [tuple(float(v) if isinstance(v, decimal.Decimal) else v for v in r) for r in rows]
        return cols, rows

    def columns(self, table: str) -> set[str]:
        cur = self.db.execute("SELECT column_name FROM information_schema.columns WHERE table_name = %s"
                              " AND table_schema = current_schema()", (table,))
        return {r[0] for r in cur.fetchall()}

    def bucket(self, expr: str) -> str:
        return f"CAST(FLOOR({expr} / ?) AS BIGINT)"

    def least(self, a: str, b: str) -> str:
        return f"LEAST({a}, {b})"

    def scrub(self, tables: list[str]) -> None:
        """PostgreSQL keeps deleted rows in its table files until a vacuum: VACUUM the tables
        concerned (their TOAST tables, where face images live, with them), so no query, dump or
        backup can read the rows from then on. It needs the tables' owner (the role that created
        them, as the bots do); VACUUM cannot run inside a transaction, hence autocommit."""
        with self._lock:
            for table in tables:
                self.db.execute(f"VACUUM {table}")

    def close(self) -> None:
        self.db.close()


def lost(backend, error: BaseException) -> bool:
    """Whether `error` means the database cannot be reached just now and the same call may succeed
    later: PostgreSQL's connection lost or refused (a server restarting), an SQLite file locked
    past the timeout. Not: a bad statement, a full disk, a read-only file, a missing table."""
    if isinstance(backend, PostgreSQL):
        import psycopg

        return isinstance(error, (psycopg.OperationalError, psycopg.InterfaceError)) or \
            bool(getattr(backend.db, "closed", False) or getattr(backend.db, "broken", False))
    return isinstance(error, sqlite3.OperationalError) and any(
        w in str(error).lower() for w in ("database is locked", "database table is locked", "busy"))


def connect(target, timeout: float):
    """The backend for a path, a `sqlite:///` URL or a `postgresql://` URL."""
    if is_postgres(target):  # `Store` has refused a URL with a `url_problem` before this
        return PostgreSQL(target.strip(), timeout)
    return SQLite(sqlite_path(target), timeout)
