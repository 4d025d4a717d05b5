"""A school's accounts: who may sign in to the app, and which lessons each one sees.

Accounts live in the session store (both SQLite and PostgreSQL; a database from before gains the
tables when it is opened). Roles: `teacher` and `admin`. Passwords are hashed with Argon2id
(`argon2-cffi`, the reference implementation's maintained binding, with its default cost: about
0.1 s and 64 MiB a check), never stored, printed or logged in clear; a password is read from the
terminal (asked twice) or from standard input, never from the command line, where `ps` would show
it. The first admin is made with `classmood-admin add NAME --role admin`: there is no default
password.

Who sees what (`Viewer.sees`): an admin sees every session; a teacher sees the sessions whose
teacher (the bot's `--teacher`, the batch manifest's `teacher`, or the account that uploaded it)
is their account's name or full name, and those of the classes assigned to them
(`classmood-admin assign NAME CLASS`). Names and classes are matched ignoring case and repeated
spaces. A session with neither a teacher nor a class is an admin's alone.

`classmood-admin [--db DB] add|disable|enable|remove|reset-password|list|assign|unassign`: see
docs/admin.md, "Accounts".
"""

from __future__ import annotations

import argparse
import getpass
import hmac
import logging
import sys
from dataclasses import dataclass, field

import pandas as pd

from bot import db as backends
from bot.store import Store, StoreError, default_db_path

log = logging.getLogger("classmood.accounts")
ROLES = ("teacher", "admin")
MIN_PASSWORD = 10


def key_of(text) -> str:
    """A name or class as matched: case and repeated spaces ignored ("  Ms  Smith" -> "ms smith")."""
    return " ".join(text.split()).casefold() if isinstance(text, str) else ""


def _hasher():
    from argon2 import PasswordHasher

    return PasswordHasher()


def hash_password(password: str) -> str:
    """An Argon2id hash (with its salt and cost) of `password`."""
    return _hasher().hash(password)


def password_problem(name: str, password: str) -> str | None:
    """Why `password` will not do for account `name`, or None."""
    if len(password) < MIN_PASSWORD:
        return f"a password has at least {MIN_PASSWORD} characters"
    if key_of(password) == key_of(name):
        return "a password is not the account's name"
    return None


@dataclass(frozen=True)
class Viewer:
    """Who is looking: an account's name and role, its full name, its classes (as `key_of`)."""
    name: str
    role: str
    full_name: str | None = None
    classes: frozenset[str] = field(default_factory=frozenset)

    @property
    def admin(self) -> bool:
        return self.role == "admin"

    @property
    def label(self) -> str:
        return self.full_name or self.name or "this computer"

    def sees(self, class_name, teacher) -> bool:
        """Whether this viewer may read a session of `class_name` taught by `teacher`."""
        if self.admin:
            return True
        who = key_of(teacher)
        if who and who in {key_of(self.name), key_of(self.full_name)} - {""}:
            return True
        return bool(key_of(class_name)) and key_of(class_name) in self.classes

    def visible(self, sessions: pd.DataFrame) -> pd.DataFrame:
        """The rows of `sessions` (with class_name and teacher columns) this viewer may read."""
        if self.admin or sessions.empty:
            return sessions
        mask = [self.sees(c, t) for c, t in zip(sessions["class_name"], sessions["teacher"])]
        return sessions[mask]


# One teacher's own computer: no sign-in, everything visible (the app on 127.0.0.1 without accounts).
LOCAL = Viewer("", "admin")


class Accounts:
    """The accounts of one store: made, changed and checked here; `Store` only keeps the rows."""

    def __init__(self, store: Store, single: tuple[str, str] | None = None):
        """`single`: a (user, password) pair from `CLASSMOOD_AUTH` or `--auth-file`, an admin
        account of its own beside the store's (one teacher's own machine)."""
        self.store, self.single = store, single
        self._dummy: str | None = None

    # -- signing in ----------------------------------------------------------------------------
    def required(self) -> bool:
        """Whether the app must ask for a password: a single account is set or the store has any."""
        return self.single is not None or self.store.has_users()

    def check(self, name: str, password: str) -> bool:
        """Whether `name` may sign in with `password` (a disabled account may not). Takes about as
        long for an unknown name as for a known one."""
        from argon2.exceptions import InvalidHashError, VerificationError

        if self.single is not None and hmac.compare_digest(key_of(name).encode(), key_of(self.single[0]).encode()):
            return hmac.compare_digest(password.encode(), self.single[1].encode())
        row = self.store.user(key_of(name))
        if row is None:
            self._dummy = self._dummy or hash_password("not an account's password")
            stored, ok_so_far = self._dummy, False
        else:
            stored, ok_so_far = row["password_hash"], not row["disabled"]
        try:
            _hasher().verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False
        return ok_so_far

    def active(self, name: str, signed_in_at: float) -> bool:
        """Whether a sign-in of `name` made at `signed_in_at` (epoch seconds) still holds: the
        account exists, is not disabled, and its password has not been reset since."""
        if self.single is not None and key_of(name) == key_of(self.single[0]):
            return True
        row = self.store.user(key_of(name))
        return row is not None and not row["disabled"] and float(row["password_changed"]) <= signed_in_at

    def viewer(self, name: str | None) -> Viewer:
        """The viewer signed in as `name`; `LOCAL` where the app asks for no password (None).
        PermissionError for an account that is gone or disabled."""
        if name is None:
            if self.required():
                raise PermissionError("sign in first")
            return LOCAL
        if self.single is not None and key_of(name) == key_of(self.single[0]):
            return Viewer(key_of(name), "admin")
        row = self.store.user(key_of(name))
        if row is None or row["disabled"]:
            raise PermissionError(f"the account {name!r} is disabled or no longer exists: sign in again")
        return Viewer(row["name"], row["role"], row["full_name"], frozenset(key_of(c) for c in row["classes"]))

    # -- managing ------------------------------------------------------------------------------
    def add(self, name: str, role: str, password: str, full_name: str | None = None) -> str:
        """A new account; returns its name as stored (`key_of`). ValueError for a bad name, role or
        password; StoreError where the name is taken."""
        key = key_of(name)
        if not key or ":" in key or len(key) > 64:
            raise ValueError(f"an account's name is 1 to 64 characters without ':', got {name!r}")
        if role not in ROLES:
            raise ValueError(f"a role is one of {', '.join(ROLES)}, got {role!r}")
        problem = password_problem(key, password)
        if problem:
            raise ValueError(problem)
        self.store.add_user(key, role, hash_password(password), " ".join(full_name.split()) if full_name else None)
        return key

    def set_password(self, name: str, password: str) -> None:
        problem = password_problem(name, password)
        if problem:
            raise ValueError(problem)
        self._must(self.store.update_user(key_of(name), password_hash=hash_password(password)), name)

    def set_disabled(self, name: str, disabled: bool) -> None:
        if disabled:
            self._not_the_last_admin(name, "disable")
        self._must(self.store.update_user(key_of(name), disabled=disabled), name)

    def remove(self, name: str) -> None:
        self._not_the_last_admin(name, "remove")
        self._must(self.store.remove_user(key_of(name)), name)

    def assign(self, name: str, class_name: str, assigned: bool = True) -> bool:
        row = self.store.user(key_of(name))
        self._must(row is not None, name)
        if not key_of(class_name):
            raise ValueError("name the class (as the bot's --class or the manifest's class gives it)")
        if assigned:
            return self.store.assign_class(row["name"], " ".join(class_name.split()), key_of(class_name))
        return self.store.unassign_class(row["name"], key_of(class_name))

    def _not_the_last_admin(self, name: str, doing: str) -> None:
        users = self.store.users()
        admins = users[(users["role"] == "admin") & ~users["disabled"]]
        if list(admins["name"]) == [key_of(name)]:
            raise ValueError(f"{key_of(name)!r} is the last active admin: add another admin before you {doing} it")

    @staticmethod
    def _must(found: bool, name: str) -> None:
        if not found:
            raise KeyError(f"there is no account named {key_of(name)!r}")


# -- classmood-admin ---------------------------------------------------------------------------
def _read_password(args, name: str) -> str:
    if args.password_stdin:
        line = sys.stdin.readline()
        if not line.strip():
            raise ValueError("no password on standard input")
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise ValueError("no terminal to ask for the password on: pass --password-stdin and write it there")
    first = getpass.getpass(f"Password for {key_of(name)}: ")
    if getpass.getpass("The same again: ") != first:
        raise ValueError("the two passwords differ")
    return first


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="classmood-admin", description="A school's ClassMood accounts: who may sign "
                                 "in to the app, and which classes each teacher sees.")
    ap.add_argument("--db", help="session database: a path, sqlite:///path or postgresql://user@host:port/db "
                                 "(default: $CLASSMOOD_DB or the user data folder)")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add = sub.add_parser("add", help="a new account (the password is asked for, or read with --password-stdin)")
    add.add_argument("name")
    add.add_argument("--role", choices=ROLES, default="teacher")
    add.add_argument("--full-name", help="the name the bot's --teacher or the batch manifest gives (e.g. 'Ms Smith')")
    for cmd, text in (("reset-password", "a new password (sign-ins made before it end)"),):
        p = sub.add_parser(cmd, help=text)
        p.add_argument("name")
    for p in (add, sub.choices["reset-password"]):
        p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    for cmd, text in (("disable", "refuse the account's sign-ins, at once (its data stays)"),
                      ("enable", "let a disabled account sign in again"), ("remove", "delete the account")):
        sub.add_parser(cmd, help=text).add_argument("name")
    sub.add_parser("list", help="the accounts, their roles and classes (never their passwords)")
    for cmd, text in (("assign", "let a teacher see a class's sessions"), ("unassign", "take a class back")):
        p = sub.add_parser(cmd, help=text)
        p.add_argument("name")
        p.add_argument("class_name", metavar="CLASS")
    args = ap.parse_args(argv)
    try:
        target = args.db if args.db is not None else default_db_path()
        if args.command != "add" and not backends.is_postgres(target) and not backends.sqlite_path(target).exists():
            # a mistyped path would otherwise be a new, empty database: "no accounts", "no such account"
            raise ValueError(f"no session database at {backends.sqlite_path(target)} (classmood-admin add makes one)")
        with Store(target) as store:
            accounts = Accounts(store)
            name = getattr(args, "name", "")
            if args.command == "add":
                stored = accounts.add(name, args.role, _read_password(args, name), args.full_name)
                print(f"added {args.role} {stored!r}")
            elif args.command == "reset-password":
                accounts.set_password(name, _read_password(args, name))
                print(f"new password for {key_of(name)!r}; its earlier sign-ins have ended")
            elif args.command in ("disable", "enable"):
                accounts.set_disabled(name, args.command == "disable")
                print(f"{key_of(name)!r} {args.command}d" + (": its sign-ins are refused from now on"
                                                             if args.command == "disable" else ""))
            elif args.command == "remove":
                accounts.remove(name)
                print(f"removed {key_of(name)!r} (the sessions of its classes stay)")
            elif args.command in ("assign", "unassign"):
                changed = accounts.assign(name, args.class_name, args.command == "assign")
                verb = "now sees" if args.command == "assign" else "no longer sees"
                print(f"{key_of(name)!r} {verb} {args.class_name!r}" + ("" if changed else " (no change)"))
            else:
                users = store.users()
                if users.empty:
                    print("no accounts: add the first admin with classmood-admin add NAME --role admin")
                for r in users.itertuples():
                    print(f"{r.name:<20} {r.role:<8} {'disabled' if r.disabled else 'active':<9} "
                          f"{r.full_name or '-':<24} classes: {', '.join(r.classes) or '-'}")
    except (ValueError, KeyError, StoreError) as e:
        print(f"classmood-admin: {e.args[0] if isinstance(e, KeyError) else e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("classmood-admin: stopped, nothing changed", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
