"""The app on a network: real HTTP requests against `classmood-ui` started here (issue: same-origin
API, upload caps, login throttling, security headers)."""

from __future__ import annotations

import http.client
import json
import os
import time
import uuid
from pathlib import Path

import pytest

from tests.test_ui_browser import start_app, stop_app

HEADERS = {"x-frame-options": "DENY", "x-content-type-options": "nosniff", "referrer-policy": "no-referrer"}


def request(url: str, method: str, path: str, body: bytes = b"", headers: dict | None = None):
    host = url.split("//", 1)[1]
    conn = http.client.HTTPConnection(host, timeout=60)
    try:
        conn.request(method, path, body=body or None, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def multipart(name: str, content: bytes) -> tuple[bytes, dict]:
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{name}\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + content + f"\r\n--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def files_in(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


@pytest.fixture(scope="module")
def open_app(tmp_path_factory):
    """No password, on 127.0.0.1, small caps set by the test."""
    cache = tmp_path_factory.mktemp("cache")
    p, url = start_app(tmp_path_factory.mktemp("db") / "c.db", {"GRADIO_TEMP_DIR": str(cache)},
                       "--max-upload", "64kb", "--max-upload-total", "160kb",
                       "--allowed-origin", "https://classmood.school.example")
    yield url, cache
    stop_app(p)


@pytest.fixture(scope="module")
def locked_app(tmp_path_factory):
    """With a password and a short sign-in window."""
    cache = tmp_path_factory.mktemp("cache")
    p, url = start_app(tmp_path_factory.mktemp("db") / "c.db",
                       {"GRADIO_TEMP_DIR": str(cache), "CLASSMOOD_AUTH": "teacher:s3cret-pass"},
                       "--login-window", "6")
    yield url, cache
    stop_app(p)


def _upload(url, content=b"x" * 1000, origin=None, name="x.txt"):
    body, headers = multipart(name, content)
    if origin:
        headers["Origin"] = origin
    return request(url, "POST", "/gradio_api/upload", body, headers)


def test_foreign_origin_is_refused_everywhere_and_nothing_written(open_app):
    url, cache = open_app
    before = files_in(cache)
    evil = "http://evil.example"
    status, headers, body = _upload(url, origin=evil)
    assert status == 403 and "cross-origin" in json.loads(body)["error"]
    assert "access-control-allow-origin" not in headers
    assert files_in(cache) == before
    for method, path in (("GET", "/"), ("GET", "/gradio_api/info"), ("GET", "/config"),
                         ("POST", "/gradio_api/queue/join")):
        status, headers, _ = request(url, method, path, b"{}" if method == "POST" else b"", {"Origin": evil})
        assert status == 403 and "access-control-allow-origin" not in headers, path
    # a browser's pre-flight from elsewhere gets no CORS grant either
    status, headers, _ = request(url, "OPTIONS", "/gradio_api/upload", headers={
        "Origin": evil, "Access-Control-Request-Method": "POST"})
    assert status == 403 and "access-control-allow-origin" not in headers
    # another port on the same machine is another origin
    other_port = url.rsplit(":", 1)[0] + ":1"
    assert _upload(url, origin=other_port)[0] == 403


def test_same_origin_allowed_origin_and_origin_less_requests_work(open_app):
    url, cache = open_app
    for origin in (url, "https://classmood.school.example", None):
        status, _, body = _upload(url, origin=origin)
        assert status == 200, (origin, body[:300])
        assert len(json.loads(body)) == 1
    assert request(url, "GET", "/config", headers={"Origin": url})[0] == 200


def test_upload_over_the_file_cap_is_refused_before_writing(open_app):
    url, cache = open_app
    before = files_in(cache)
    status, headers, body = _upload(url, content=os.urandom(100 * 1024))
    assert status == 413 and "over the limit" in json.loads(body)["error"]
    assert files_in(cache) == before  # no partial file


def test_uploads_together_are_capped_on_disk(open_app):
    url, cache = open_app
    statuses = [_upload(url, content=os.urandom(40 * 1024), name=f"f{i}.bin")[0] for i in range(6)]
    held = sum(p.stat().st_size for p in files_in(cache))
    assert statuses[0] == 200 and 413 in statuses
    assert held <= 160 * 1024
    status, _, body = _upload(url, content=os.urandom(40 * 1024))
    assert status == 413 and "together" in json.loads(body)["error"]


def test_upload_without_a_length_is_refused(open_app):
    url, cache = open_app
    host = url.split("//", 1)[1]
    conn = http.client.HTTPConnection(host, timeout=30)
    body, headers = multipart("x.txt", b"y" * 100)
    conn.putrequest("POST", "/gradio_api/upload")
    for k, v in {**headers, "Transfer-Encoding": "chunked"}.items():
        conn.putheader(k, v)
    conn.endheaders()
    conn.send(f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n")
    r = conn.getresponse()
    assert r.status == 411
    conn.close()


@pytest.mark.parametrize("path", ["/", "/gradio_api/info", "/config", "/favicon.ico", "/gradio_api/file=nothing"])
def test_security_headers_on_every_response(open_app, locked_app, path):
    for url, _ in (open_app, locked_app):
        status, headers, _ = request(url, "GET", path)
        for k, v in HEADERS.items():
            assert headers.get(k) == v, (url, path, status, k)
        assert "frame-ancestors 'none'" in headers.get("content-security-policy", "")


def test_password_app_refuses_foreign_origins_and_throttles_sign_ins(locked_app):
    url, _ = locked_app
    status, headers, _ = request(url, "GET", "/config", headers={"Origin": "http://evil.example"})
    assert status == 403 and "access-control-allow-origin" not in headers
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    wrong = b"username=teacher&password=nope"
    right = b"username=teacher&password=s3cret-pass"
    time.sleep(6.2)  # a fresh window
    codes = [request(url, "POST", "/login", wrong, form)[0] for _ in range(5)]
    assert codes == [400] * 5
    status, headers, body = request(url, "POST", "/login", right, form)  # 6th: right, yet refused
    assert status == 429 and 1 <= int(headers["retry-after"]) <= 6 and "too many" in json.loads(body)["error"]
    assert request(url, "POST", "/login", wrong, form)[0] == 429
    time.sleep(int(headers["retry-after"]) + 0.5)
    status, headers, _ = request(url, "POST", "/login", right, form)
    assert status == 200 and "set-cookie" in headers


@pytest.fixture(scope="module")
def strict_app(tmp_path_factory):
    """No password, small caps, a cache folder of its own (the parallel and cut-off uploads)."""
    cache = tmp_path_factory.mktemp("cache")
    p, url = start_app(tmp_path_factory.mktemp("db") / "c.db", {"GRADIO_TEMP_DIR": str(cache)},
                       "--max-upload", "64kb", "--max-upload-total", "160kb")
    yield url, cache
    stop_app(p)


def test_a_forged_host_is_refused_on_every_route(open_app):
    """DNS rebinding: evil.example made to point at 127.0.0.1 sends its own name as Host, and its
    own origin, which then matches the Host: both are refused, uploads, API calls and pages alike."""
    url, cache = open_app
    port = url.rsplit(":", 1)[1]
    before = files_in(cache)
    evil = {"Host": f"evil.example:{port}", "Origin": f"http://evil.example:{port}"}
    body, headers = multipart("x.txt", b"x" * 100)
    status, h, answer = request(url, "POST", "/gradio_api/upload", body, {**headers, **evil})
    assert status == 403 and "not an address this app serves" in json.loads(answer)["error"]
    assert h.get("x-frame-options") == "DENY"
    for method, path in (("POST", "/gradio_api/call/refresh"), ("GET", "/config"), ("GET", "/"),
                         ("GET", "/gradio_api/info")):
        assert request(url, method, path, b"{}" if method == "POST" else b"", evil)[0] == 403, path
        assert request(url, method, path, b"{}" if method == "POST" else b"",
                       {"Host": f"evil.example:{port}"})[0] == 403, path  # without an Origin too
    assert files_in(cache) == before
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", "classmood.school.example"):
        assert request(url, "GET", "/config", headers={"Host": host})[0] == 200, host  # the app's own names


def test_process_recording_is_refused_and_writes_nothing(strict_app):
    url, cache = strict_app
    import tempfile

    tmp = Path(tempfile.gettempdir())
    before, before_tmp = files_in(cache), set(tmp.iterdir())
    body, headers = multipart("v.webm", os.urandom(50 * 1024))
    status, h, _ = request(url, "POST", "/gradio_api/process_recording",
                           body.replace(b'name="files"', b'name="video"'), headers)
    assert status == 404 and h.get("x-content-type-options") == "nosniff"
    new_tmp = [p for p in set(tmp.iterdir()) - before_tmp if p.is_file() and p.stat().st_size >= 50 * 1024]
    assert files_in(cache) == before and not new_tmp  # nothing kept in the cache or the system's temp folder
    status, _, answer = request(url, "POST", "/gradio_api/queue/join", b"{" + b" " * 70 * 1024 + b"}",
                                {"Content-Type": "application/json"})
    assert status == 413, answer  # a body on any route counts against the cap


def test_parallel_uploads_count_against_the_total_and_a_cut_off_upload_leaves_nothing(strict_app):
    import socket

    url, cache = strict_app
    host, port = url.split("//", 1)[1].split(":")
    body, headers = multipart("big.bin", os.urandom(50 * 1024))
    held = []
    for _ in range(3):  # three uploads of 50 KB in flight at once, each under the 64 KB cap
        s = socket.create_connection((host, int(port)), timeout=30)
        head = "".join(f"{k}: {v}\r\n" for k, v in {**headers, "Host": f"{host}:{port}",
                                                       "Content-Length": str(len(body))}.items())
        s.sendall(f"POST /gradio_api/upload HTTP/1.1\r\n{head}\r\n".encode() + body[:len(body) // 2])
        held.append(s)
    time.sleep(1.5)
    partial = [p for p in cache.iterdir() if p.is_file() and p.name.startswith("tmp")]
    assert partial  # Gradio is writing them
    status, _, answer = _upload(url, content=os.urandom(20 * 1024))
    assert status == 413 and "together" in json.loads(answer)["error"]  # 150 KB in flight + 20 KB > 160 KB
    for s in held:  # the clients give up half way
        s.close()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and [p for p in cache.iterdir() if p.is_file() and p.name.startswith("tmp")]:
        time.sleep(0.2)
    assert not [p for p in cache.iterdir() if p.is_file() and p.name.startswith("tmp")]  # no partial file left
    status, _, answer = _upload(url, content=os.urandom(20 * 1024))
    assert status == 200, answer  # what was reserved for them is free again


def test_rotating_x_forwarded_for_gets_no_extra_sign_in_guesses(locked_app):
    url, _ = locked_app
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    wrong = b"username=teacher&password=nope"
    time.sleep(6.2)  # a fresh window
    codes = [request(url, "POST", "/login", wrong, {**form, "X-Forwarded-For": f"203.0.113.{i}"})[0]
             for i in range(8)]
    assert codes == [400] * 5 + [429] * 3
    time.sleep(6.2)


def test_an_error_page_carries_the_security_headers():
    """A route that fails answers 500 with the headers (Starlette's own error page, outside the
    app's middleware, would have none): the guard is exercised with a handler that raises."""
    import asyncio

    from ui.security import Guard, SecuritySettings

    async def failing(scope, receive, send):
        raise RuntimeError("boom")

    sent = []

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    guard = Guard(failing, SecuritySettings(upload_dir=lambda: Path("/nonexistent")), password=False)
    scope = {"type": "http", "method": "GET", "path": "/x", "headers": [(b"host", b"127.0.0.1:7860")]}
    asyncio.run(guard(scope, receive, send))
    start = sent[0]
    assert start["status"] == 500
    assert dict(start["headers"])[b"x-frame-options"] == b"DENY"
    assert b"boom" not in sent[1]["body"]  # no internals in the page


def test_the_sign_in_throttle_on_a_clock_of_its_own():
    """The throttle's rule, in process and without sleeping: 5 failures from one address within the
    window lock it (right or wrong: 429 with Retry-After counting down), other addresses are not
    touched, and the lock lifts once the window has passed. (The end-to-end tests above check the
    same through a real server, with real time.)"""
    import asyncio

    from ui.security import Guard, SecuritySettings

    now = [1000.0]

    async def sign_in(scope, receive, send):  # the app behind: 200 for the right password, else 400
        body = (await receive())["body"]
        await send({"type": "http.response.start", "status": 200 if b"password=right" in body else 400,
                    "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    guard = Guard(sign_in, SecuritySettings(upload_dir=lambda: Path("/nonexistent"), login_window_s=60.0,
                                            clock=lambda: now[0]), password=True)

    def login(password: str, client: str = "198.51.100.7") -> tuple[int, dict]:
        sent = []

        async def send(message):
            sent.append(message)

        async def receive():
            return {"type": "http.request", "body": f"username=t&password={password}".encode(), "more_body": False}

        scope = {"type": "http", "method": "POST", "path": "/login", "client": (client, 5000),
                 "headers": [(b"host", b"127.0.0.1:7860"), (b"content-length", b"30")]}
        asyncio.run(guard(scope, receive, send))
        return sent[0]["status"], dict(sent[0]["headers"])

    assert [login("wrong")[0] for _ in range(5)] == [400] * 5
    status, headers = login("right")
    assert status == 429 and headers[b"retry-after"] == b"60"
    now[0] += 45
    status, headers = login("right")
    assert status == 429 and headers[b"retry-after"] == b"15"
    assert login("right", client="198.51.100.8")[0] == 200  # another address is not held back
    now[0] += 15.5
    assert login("right")[0] == 200  # the window has passed
    now[0] += 1000
    assert [login("wrong")[0] for _ in range(4)] + [login("right")[0]] == [400] * 4 + [200]  # 4 are allowed
