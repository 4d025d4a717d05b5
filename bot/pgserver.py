"""A throwaway PostgreSQL server for tests and `bench/school.py` (never imported by the product): Debian's `postgresql` binaries, a
cluster in a temporary folder, listening on 127.0.0.1 on a free port (and a socket in that folder),
password authentication (scram-sha-256) for TCP, stopped and removed at the end.

`initdb` and `pg_ctl` refuse to run as root: as root (CI), the server runs as the `postgres` user
the Debian package creates (or `nobody`), through `runuser`."""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


def find_bin(name: str) -> str | None:
    """A PostgreSQL program: on PATH, else the newest /usr/lib/postgresql/<version>/bin."""
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                      key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    return versions[-1] if versions else None


def missing() -> str | None:
    """Why no server can be started here, or None."""
    for prog in ("initdb", "pg_ctl"):
        if not find_bin(prog):
            return f"PostgreSQL's {prog} not found (apt-get install postgresql)"
    if os.geteuid() == 0 and not shutil.which("runuser"):
        return "running as root without runuser: cannot start PostgreSQL as an unprivileged user"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    root: Path
    port: int
    user: str
    password: str
    _run_as: list[str]

    def url(self, db: str = "postgres", password: str | None = None, user: str | None = None) -> str:
        pw = self.password if password is None else password
        return f"postgresql://{user or self.user}:{pw}@127.0.0.1:{self.port}/{db}"

    def create_db(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self, mode: str = "fast") -> None:
        """Stop the server; `mode` "immediate" kills it as a crash would (no clean shutdown)."""
        subprocess.run([*self._run_as, find_bin("pg_ctl"), "-D", str(self.root / "data"), "-m", mode, "stop"],
                       capture_output=True, timeout=60)

    def start(self) -> None:
        pg_ctl = find_bin("pg_ctl")
        opts = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        r = subprocess.run([*self._run_as, pg_ctl, "-D", str(self.root / "data"), "-o", opts,
                            "-l", str(self.root / "server.log"), "-w", "-t", "60", "start"],
                           capture_output=True, text=True, timeout=90)
        if r.returncode != 0:
            log = (self.root / "server.log").read_text() if (self.root / "server.log").exists() else ""
            raise RuntimeError(f"pg_ctl start failed: {r.stderr.strip()} {log[-2000:]}")


def start() -> Server:
    """A new cluster, started; the caller stops it (`server.stop()`) and removes `server.root`."""
    run_as: list[str] = []
    owner = None
    if os.geteuid() == 0:
        for name in ("postgres", "nobody"):
            try:
                owner = pwd.getpwnam(name)
                break
            except KeyError:
                continue
        if owner is None:
            raise RuntimeError("no unprivileged user (postgres, nobody) to run PostgreSQL as")
        run_as = ["runuser", "-u", owner.pw_name, "--"]
    root = Path(tempfile.mkdtemp(prefix="classmood-pg-"))
    os.chmod(root, 0o700)
    password = secrets.token_urlsafe(16)
    (root / "pw").write_text(password + "\n")
    if owner is not None:
        for p in (root, root / "pw"):
            os.chown(p, owner.pw_uid, owner.pw_gid)
    r = subprocess.run([*run_as, find_bin("initdb"), "-D", str(root / "data"), "-U", "classmood_admin",
                        "--pwfile", str(root / "pw"), "--auth-local=trust", "--auth-host=scram-sha-256",
                        "-E", "UTF8", "--locale=C"], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError(f"initdb failed: {r.stderr.strip()[-2000:]}")
    server = Server(root, _free_port(), "classmood_admin", password, run_as)
    server.start()
    deadline = time.time() + 30
    while time.time() < deadline:  # accepting connections over TCP
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=1):
                break
        except OSError:
            time.sleep(0.2)
    return server


def remove(server: Server) -> None:
    server.stop()
    shutil.rmtree(server.root, ignore_errors=True)
