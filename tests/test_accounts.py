"""A school's accounts (issue: each teacher their classes, the admin all, a term at a glance): the
accounts in both stores, `classmood-admin`, who sees what in the app's handlers, sign-ins that end,
and the app's API called over HTTP with two teachers' and an admin's sign-ins, on SQLite and on
PostgreSQL."""

from __future__ import annotations

import http.client
import io
import json
import sqlite3
import time

import pytest

from bot.accounts import LOCAL, Accounts, Viewer, key_of
from bot.store import Store, StoreError
from model import EMOTIONS
from tests.conftest import call_cli
from tests.test_ui_browser import browser  # noqa: F401 - the fixture
from ui.signin import SignIns

PASSWORDS = {"head": "head-teacher-pw-1", "amy": "amy-teaches-bio-1", "ben": "ben-teaches-phys-1"}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def target(request, tmp_path):
    """Both stores: an SQLite file, and a fresh PostgreSQL database (a real server: slow)."""
    if request.param == "sqlite":
        return str(tmp_path / "school.db")
    return request.getfixturevalue("pg_url")


def _kind(target: str) -> str:
    return "postgresql" if target.startswith("postgresql") else "sqlite"


def lesson(store: Store, name: str, class_name: str | None, teacher: str | None, emotion: str = "happy",
           frames: int = 4, alert: bool = True) -> int:
    """An ended lesson of one participant showing `emotion`, with an alert about them."""
    sid = store.start_session(name, "screen", 5.0, class_name=class_name, teacher=teacher)
    for t in range(frames):
        scores = {e: (0.8 if e == emotion else 0.2 / 6) for e in EMOTIONS}
        store.add_frame(sid, {"time_s": 5.0 * t, "tiles": [{"box": [0, 0, 90, 60], "name": "Pat", "camera_off": False}],
                              "faces": [{"box": [10, 10, 40, 40], "tile": 0, "participant": "Pat", "role": "participant",
                                         "confidence": 0.8, "uncertain": False, "emotion": emotion, "scores": scores,
                                         "attention": "facing", "yaw": 0.0, "pitch": 0.0, "roll": 0.0}]})
    if alert:
        store.add_alert(sid, "participant_negative", "Pat has looked negative for 5 min", 15.0, "Pat")
    store.end_session(sid)
    return sid


def school(target: str) -> dict:
    """An admin, two teachers (amy by her full name as the bot's --teacher; ben by an assigned
    class), and a lesson each plus one nobody teaches: their ids."""
    with Store(target) as s:
        a = Accounts(s)
        a.add("Head", "admin", PASSWORDS["head"])
        a.add("amy", "teacher", PASSWORDS["amy"], full_name="Ms Amy  Lee")
        a.add("ben", "teacher", PASSWORDS["ben"])
        a.assign("ben", "Year 9  Physics")
        return {"amy": lesson(s, "Biology lesson", "Year 9 Biology", "ms amy lee"),
                "ben": lesson(s, "Physics lesson", "year 9 physics", "Mr Substitute", emotion="sad"),
                "nobody": lesson(s, "Unclaimed lesson", None, None)}


# -- the store and the rules ---------------------------------------------------------------------
def test_accounts_in_both_stores_hash_passwords_and_match_teachers_and_classes(target):
    ids = school(target)
    with Store(target) as s:
        a = Accounts(s)
        users = s.users()
        assert list(users["name"]) == ["amy", "ben", "head"] and list(users["role"]) == ["teacher", "teacher", "admin"]
        assert users.set_index("name").loc["ben", "classes"] == ("Year 9 Physics",)
        for name, pw in PASSWORDS.items():
            stored = s.user(name)["password_hash"]
            assert stored.startswith("$argon2id$") and pw not in stored
            assert a.check(name.upper(), pw) and not a.check(name, pw + "x")
        assert not a.check("nobody", PASSWORDS["amy"])
        lessons = s.lessons()
        seen = {u: sorted(a.viewer(u).visible(lessons)["id"]) for u in ("amy", "ben", "head")}
        assert seen == {"amy": [ids["amy"]], "ben": [ids["ben"]], "head": sorted(ids.values())}
        a.set_disabled("amy", True)
        assert not a.check("amy", PASSWORDS["amy"])
        with pytest.raises(PermissionError, match="disabled"):
            a.viewer("amy")
        with pytest.raises(ValueError, match="last active admin"):
            a.set_disabled("head", True)
        with pytest.raises(ValueError, match="at least 10"):
            a.add("cy", "teacher", "short")
        with pytest.raises(StoreError, match="already an account named 'ben'"):
            a.add("BEN", "teacher", "another-password-1")
        a.remove("ben")
        assert s.user("ben") is None and list(s.users()["name"]) == ["amy", "head"]
    if not target.startswith("postgresql"):  # the removed account's hash is gone from the file too
        assert b"ben-teaches" not in open(target, "rb").read()


def test_the_term_rows_come_from_summaries_made_when_a_lesson_ends(target):
    ids = school(target)
    with Store(target) as s:
        rows = s.lessons().set_index("id")
        amy, ben = rows.loc[ids["amy"]], rows.loc[ids["ben"]]
        assert (amy.frames, amy.faces, amy.participants, amy.alerts, amy.follow_ups) == (4, 4, 1, 1, 1)
        assert amy.valence == 1.0 and ben.valence == -1.0 and amy.attention == 1.0 and amy.present == 1.0
        assert amy.last_s == 15.0 and not amy.live
        # an alert added after the lesson ended is counted at the next read
        s.add_alert(ids["amy"], "participant_absent", "Kim left", 16.0, "Kim")
        assert s.lessons().set_index("id").loc[ids["amy"], "follow_ups"] == 2
        # a bot whose clock runs ahead ends its lesson "in the future": the summary still stands
        ahead = lesson(s, "clock ahead", "Year 9 Biology", "amy", alert=False)
        s.end_session(ahead, at=time.time() + 3600)  # already ended: its end stays, as written first
        s._write(lambda db: db.execute("UPDATE sessions SET ended = ended + 3600 WHERE id = ?", (ahead,)))
        assert s.lessons().set_index("id").loc[ahead, "frames"] == 4
        assert s._read_one("SELECT ended FROM lesson_summaries WHERE session_id = ?", (ahead,))[0] == \
            s._read_one("SELECT ended FROM sessions WHERE id = ?", (ahead,))[0]
        # a live lesson is summed afresh at each read
        live = s.start_session("live now", "screen", 5.0, class_name="Year 9 Biology", teacher="amy")
        s.add_frame(live, {"time_s": 0.0, "tiles": [], "faces": []})
        row = s.lessons().set_index("id").loc[live]
        assert row.live and row.frames == 1 and row.faces == 0


def test_a_database_from_before_accounts_gains_them_in_place(tmp_path):
    db = tmp_path / "old.db"
    with Store(db) as s:
        sid = lesson(s, "old lesson", "3B", "Ms Kim")
    con = sqlite3.connect(db)
    for table in ("class_teachers", "users", "lesson_summaries"):
        con.execute(f"DROP TABLE {table}")
    con.commit()
    con.close()
    with Store(db) as s:  # upgraded when opened: the tables are there, the old lesson summed on first read
        assert not s.has_users()
        assert list(s.lessons()["id"]) == [sid]
        Accounts(s).add("kim", "teacher", "kim-password-1", full_name="Ms Kim")
        assert list(Accounts(s).viewer("kim").visible(s.lessons())["id"]) == [sid]


def test_sign_ins_expire_and_end_when_the_account_is_disabled_or_its_password_reset(tmp_path):
    with Store(tmp_path / "a.db") as s:
        a = Accounts(s)
        a.add("admin", "admin", "admin-password-1")
        a.add("amy", "teacher", "amy-password-1")
        now = [time.time() + 1]
        tokens = SignIns(a.active, lifetime_s=3600, clock=lambda: now[0])
        tokens["t1"] = "amy"
        assert tokens.get("t1") == "amy" and tokens.get("nope") is None
        now[0] += 3599
        assert tokens.get("t1") == "amy"
        now[0] += 2
        assert tokens.get("t1") is None and "t1" not in tokens  # expired, and forgotten
        now[0] = time.time() + 1
        tokens["t2"] = "amy"
        a.set_disabled("amy", True)
        assert tokens.get("t2") is None  # refused at its next request
        a.set_disabled("amy", False)
        tokens["t3"] = "amy"
        time.sleep(1.5)
        a.set_password("amy", "amy-new-password-1")
        assert tokens.get("t3") is None  # a sign-in from before the reset
        now[0] = time.time() + 1
        tokens["t4"] = "amy"
        assert tokens.get("t4") == "amy"


def test_viewers_match_names_and_classes_ignoring_case_and_spaces():
    v = Viewer("amy", "teacher", "Ms Amy Lee", frozenset({key_of("Year 9  Biology")}))
    assert v.sees(None, " MS  amy lee") and v.sees("YEAR 9 biology", None) and v.sees(None, "Amy")
    assert not v.sees(None, None) and not v.sees(float("nan"), float("nan")) and not v.sees("Year 10", "Ben")
    assert LOCAL.sees(None, None) and Viewer("x", "admin").sees("any", "one")


# -- classmood-admin -----------------------------------------------------------------------------
def _admin(monkeypatch, db, *args, stdin=""):
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return call_cli("classmood-admin", "--db", str(db), *args)


def test_classmood_admin_manages_accounts_and_never_shows_a_password(tmp_path, monkeypatch):
    db = tmp_path / "a.db"
    r = _admin(monkeypatch, db, "list")  # a mistyped path is no new, empty database
    assert r.returncode == 2 and f"no session database at {db}" in r.stderr and not db.exists()
    (tmp_path / "corrupt.db").write_bytes(b"not a database")
    r = _admin(monkeypatch, tmp_path / "corrupt.db", "list")
    assert r.returncode == 2 and "cannot open the session database" in r.stderr and r.stderr.count("\n") == 1
    Store(db).close()
    r = _admin(monkeypatch, db, "list")
    assert r.returncode == 0 and "add the first admin" in r.stdout
    r = _admin(monkeypatch, db, "add", "Head", "--role", "admin", "--password-stdin", stdin="head-password-1\n")
    assert r.returncode == 0 and "added admin 'head'" in r.stdout
    r = _admin(monkeypatch, db, "add", "amy", "--full-name", "Ms Amy Lee", "--password-stdin", stdin="amy-password-1\n")
    assert r.returncode == 0
    assert _admin(monkeypatch, db, "assign", "amy", "Year 9 Biology").returncode == 0
    r = _admin(monkeypatch, db, "list")
    assert "amy" in r.stdout and "Ms Amy Lee" in r.stdout and "Year 9 Biology" in r.stdout
    assert "argon2" not in r.stdout and "password-1" not in r.stdout + r.stderr
    # refusals: one line, exit 2, nothing changed
    for args, stdin, why in [(("add", "cy", "--password-stdin"), "short\n", "at least 10 characters"),
                             (("add", "cy"), "", "no terminal to ask for the password on"),
                             (("add", "amy", "--password-stdin"), "another-password\n", "already an account named 'amy'"),
                             (("disable", "head"), "", "last active admin"),
                             (("remove", "zed"), "", "no account named 'zed'"),
                             (("add", "a:b", "--password-stdin"), "long-enough-pw\n", "without ':'"),
                             (("add", "cy", "--password-stdin"), "\n", "no password on standard input"),
                             (("assign", "nobody", "3B"), "", "no account named 'nobody'")]:
        r = _admin(monkeypatch, db, *args, stdin=stdin)
        assert r.returncode == 2 and why in r.stderr and r.stderr.count("\n") == 1, (args, r.stderr)
    assert _admin(monkeypatch, db, "disable", "amy").returncode == 0
    assert Store(db).user("amy")["disabled"]
    r = _admin(monkeypatch, db, "reset-password", "amy", "--password-stdin", stdin="amy-password-2\n")
    with Store(db) as s:
        assert r.returncode == 0 and not Accounts(s).check("amy", "amy-password-2")  # a new password, still disabled
        assert _admin(monkeypatch, db, "enable", "amy").returncode == 0
        assert Accounts(s).check("amy", "amy-password-2") and not Accounts(s).check("amy", "amy-password-1")
        assert _admin(monkeypatch, db, "remove", "amy").returncode == 0 and s.user("amy") is None


# -- the app's handlers --------------------------------------------------------------------------
def test_each_handler_shows_a_teacher_their_classes_and_an_admin_all(target, tmp_path):
    from ui.state import App, AppConfig

    ids = school(target)
    app = App(AppConfig(db_path=target, work_dir=str(tmp_path / "w")), store=Store(target), analyzer=object())
    amy, ben, head = (app.viewer(u) for u in ("amy", "ben", "head"))
    assert [c[1] for c in app.class_view(amy).choices] == [ids["amy"]]
    v = app.class_view(amy, ids["ben"], True, -1)  # another teacher's lesson asked for: her own shown
    assert v.selected == ids["amy"] and "Physics" not in v.headline + v.participants + v.alerts
    assert sorted(c[1] for c in app.class_view(head).choices) == sorted(ids.values())
    with pytest.raises(ValueError, match="choose a session first"):
        app.export(amy, ids["ben"])
    assert app.export(ben, ids["ben"])
    term = app.term_view(amy)
    assert "Biology lesson" in term and "Physics lesson" not in term and "Unclaimed" not in term
    assert "<td>Ms Amy Lee</td>" in term  # the bot's "ms amy lee" is her account
    assert all(n in app.term_view(head) for n in ("Biology lesson", "Physics lesson", "Unclaimed lesson"))
    assert app.open_lesson(amy, f"{ids['amy']}@123") == ids["amy"]
    with pytest.raises(ValueError, match="not there"):
        app.open_lesson(amy, f"{ids['ben']}@123")
    for doing in (lambda: app.delete_session(amy, ids["amy"]), lambda: app.delete_face_images(ben, ids["ben"])):
        with pytest.raises(PermissionError, match="only the school's admin"):
            doing()
    assert app.store.session(ids["amy"]) is not None
    assert app.delete_session(head, ids["nobody"]) and app.store.session(ids["nobody"]) is None
    with pytest.raises(PermissionError, match="sign in first"):
        app.viewer(None)  # accounts exist: nobody is this computer's owner
    app.store.add_user("cy", "teacher", "unused hash", "Mr Cy Park")
    assert '--teacher "Mr Cy Park"' in app.class_view(app.viewer("cy")).headline.replace("&quot;", '"')


# -- the app over HTTP ---------------------------------------------------------------------------
class Client:
    """One browser's worth of cookies against the app: sign in, call an API route, sign out."""

    def __init__(self, url: str):
        self.host = url.split("//", 1)[1]
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: bytes = b"", headers: dict | None = None):
        conn = http.client.HTTPConnection(self.host, timeout=120)
        try:
            h = dict(headers or {})
            if self.cookies:
                h["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
            conn.request(method, path, body=body or None, headers=h)
            r = conn.getresponse()
            data = r.read()
            set_cookies = [v for k, v in r.getheaders() if k.lower() == "set-cookie"]
            for c in set_cookies:
                name, _, value = c.split(";", 1)[0].partition("=")
                if value and "max-age=0" not in c.lower() and "expires=thu, 01 jan 1970" not in c.lower():
                    self.cookies[name] = value
                else:
                    self.cookies.pop(name, None)
            return r.status, set_cookies, data
        finally:
            conn.close()

    def sign_in(self, user: str, password: str) -> tuple[int, list[str]]:
        status, cookies, _ = self.request("POST", "/login", f"username={user}&password={password}".encode(),
                                          {"Content-Type": "application/x-www-form-urlencoded"})
        return status, cookies

    def call(self, api: str, *data):
        """(HTTP status, the route's outputs or its error message)."""
        status, _, body = self.request("POST", f"/gradio_api/call/{api}", json.dumps({"data": list(data)}).encode(),
                                       {"Content-Type": "application/json"})
        if status != 200:
            return status, body.decode()
        event = json.loads(body)["event_id"]
        status, _, body = self.request("GET", f"/gradio_api/call/{api}/{event}")
        text = body.decode()
        kind = next((line[7:] for line in text.splitlines() if line.startswith("event: ")), "")
        data_line = [line[6:] for line in text.splitlines() if line.startswith("data: ")][-1]
        return status, (json.loads(data_line) if kind == "complete" else f"{kind}: {data_line}")


@pytest.mark.slow  # a real server
@pytest.mark.timeout(600)
def test_two_teachers_and_an_admin_through_the_api(target, tmp_path, monkeypatch):
    from tests.test_ui_browser import start_app, stop_app

    ids = school(target)
    p, url = start_app(target, {"GRADIO_TEMP_DIR": str(tmp_path / "cache")})
    try:
        anon = Client(url)
        assert anon.call("term")[0] == 401  # no sign-in, no data: accounts exist in the store
        clients = {}
        for user in ("amy", "ben", "head"):
            c = clients[user] = Client(url)
            status, cookies = c.sign_in(user, PASSWORDS[user])
            assert status == 200 and all("Max-Age=28800" in k for k in cookies), cookies
        assert Client(url).sign_in("amy", "wrong-password")[0] == 400
        amy, ben, head = clients["amy"], clients["ben"], clients["head"]
        # the class tab's read, asked for the other teacher's lesson: only their own comes back
        for who, own, other in ((amy, "Biology lesson", "Physics lesson"), (ben, "Physics lesson", "Biology lesson")):
            status, out = who.call("class_view", ids["ben"] if who is amy else ids["amy"])
            assert status == 200 and own in json.dumps(out) and other not in json.dumps(out), out
            status, out = who.call("choose_session", ids["ben"] if who is amy else ids["amy"])
            assert status == 200 and own in json.dumps(out) and other not in json.dumps(out), out
            status, out = who.call("term")
            assert own in out[0] and other not in out[0] and "Unclaimed" not in out[0]
            status, out = who.call("open_lesson", f"{ids['ben'] if who is amy else ids['amy']}@1")
            assert other not in json.dumps(out)
        status, out = amy.call("export", ids["ben"])
        assert "error" in out and "choose a session first" in out
        status, out = amy.call("export", ids["amy"])
        assert status == 200 and any(str(f).endswith(".csv") for f in json.dumps(out).split('"'))
        term = head.call("term")[1][0]
        assert all(n in term for n in ("Biology lesson", "Physics lesson", "Unclaimed lesson"))
        # deleting is the admin's: a teacher's call deletes nothing
        amy.call("delete_session", ids["amy"])
        amy.call("set_retention", 1)
        with Store(target) as s:
            assert s.session(ids["amy"]) is not None and s.retention_days == 30
        head.call("delete_session", ids["nobody"])
        head.call("set_retention", 45)
        with Store(target) as s:
            assert s.session(ids["nobody"]) is None and s.retention_days == 45
        # a disabled account is refused at its very next request
        assert _admin(monkeypatch, target, "disable", "ben").returncode == 0
        assert ben.call("term")[0] == 401 and ben.request("GET", "/config")[0] == 401
        assert amy.call("term")[0] == 200
        # signing out ends the sign-in on the server, not only in the browser
        stale = dict(amy.cookies)
        assert amy.request("GET", "/logout")[0] in (302, 307)
        amy.cookies = stale
        assert amy.call("term")[0] == 401
    finally:
        stop_app(p)


# -- the app in Chromium -------------------------------------------------------------------------
def _sign_in_page(browser, url, user):
    from playwright.sync_api import expect

    _, b = browser
    page = b.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    outside = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(("http://127.0.0.1", "data:", "blob:"))
            else None)
    page.goto(url)
    page.get_by_label("username").fill(user)
    page.get_by_label("password").fill(PASSWORDS[user])
    page.get_by_role("button", name="Login").click()
    expect(page.locator("#cm-who")).to_contain_text("Signed in as", timeout=60000)
    return page, outside


@pytest.mark.timeout(600)
def test_a_teacher_and_the_admin_in_the_browser_term_view_opens_a_lesson(browser, target, tmp_path):
    from playwright.sync_api import expect

    from tests.test_ui_browser import ARTIFACTS, start_app, stop_app

    db = target
    ids = school(db)
    with Store(db) as s:  # a term for amy's class: more lessons, the last one sad
        more = [lesson(s, f"Biology {k}", "Year 9 Biology", "amy", emotion="sad" if k == 5 else "happy",
                       alert=k == 5) for k in range(2, 6)]
    p, url = start_app(db, {"GRADIO_TEMP_DIR": str(tmp_path / "cache")})
    try:
        page, outside = _sign_in_page(browser, url, "amy")
        expect(page.locator("#cm-who")).to_contain_text("Ms Amy Lee (teacher)")
        page.get_by_role("tab", name="Term").click()
        term = page.locator("#cm-term")
        expect(term).to_contain_text("1 class, 5 lessons", timeout=30000)
        assert "Physics" not in term.inner_text() and "Unclaimed" not in term.inner_text()
        cells = term.locator("[data-lesson]")
        assert sorted(int(c.get_attribute("data-lesson")) for c in cells.all()) == \
            sorted([ids["amy"], *more, ids["amy"], more[-1]])  # five cells and two follow-up links
        page.screenshot(path=str(ARTIFACTS / f"term-teacher-{_kind(db)}.png"), full_page=True)
        expect(page.locator("#cm-headline")).to_contain_text("Biology 5")  # the newest, before the click
        term.locator(f'button[data-lesson="{ids["amy"]}"]').click()  # her first lesson
        expect(page.locator("#cm-headline")).to_contain_text("Biology lesson", timeout=30000)
        expect(page.get_by_role("tab", name="Class mood")).to_have_attribute("aria-selected", "true")
        page.get_by_role("tab", name="Privacy & about").click()
        expect(page.locator("#cm-admin-only")).to_contain_text("the school admin's", timeout=30000)
        expect(page.locator("#cm-delete")).to_be_hidden()
        page.locator("#cm-sign-out").click()
        page.get_by_role("button", name="Login").wait_for(timeout=30000)
        assert outside == []
        page.context.close()

        page, _ = _sign_in_page(browser, url, "head")
        page.get_by_role("tab", name="Term").click()
        expect(page.locator("#cm-term")).to_contain_text("3 classes, 7 lessons", timeout=30000)
        page.screenshot(path=str(ARTIFACTS / f"term-admin-{_kind(db)}.png"), full_page=True)
        page.locator(f'#cm-term button[data-lesson="{ids["ben"]}"]').click()
        expect(page.locator("#cm-headline")).to_contain_text("Physics lesson", timeout=30000)
        page.get_by_role("tab", name="Privacy & about").click()
        expect(page.locator("#cm-delete")).to_be_visible(timeout=30000)
        page.context.close()

        page, _ = _sign_in_page(browser, url, "ben")  # the other teacher: his assigned class only
        page.get_by_role("tab", name="Term").click()
        expect(page.locator("#cm-term")).to_contain_text("1 class, 1 lesson", timeout=30000)
        assert "Physics lesson" in page.locator("#cm-term").inner_html() and "Biology" not in page.content()
        with Store(db) as s:  # disabled while his page is open: it goes back to the sign-in form
            Accounts(s).set_disabled("ben", True)
        page.get_by_role("button", name="Login").wait_for(timeout=15000)
        assert "Physics" not in page.content()
        page.context.close()
    finally:
        stop_app(p)


def test_the_app_refuses_a_bad_sign_in_lifetime_and_a_public_bind_without_accounts(tmp_path):
    for hours in ("0", "-1", "nan", "1000"):
        r = call_cli("classmood-ui", "--db", str(tmp_path / "a.db"), "--sign-in-hours", hours)
        assert r.returncode == 2 and "--sign-in-hours must be above 0 and at most 720" in r.stderr, (hours, r.stderr)
    r = call_cli("classmood-ui", "--db", str(tmp_path / "a.db"), "--host", "0.0.0.0", env={"CLASSMOOD_AUTH": ""})
    assert r.returncode == 2 and "add accounts with classmood-admin" in r.stderr
