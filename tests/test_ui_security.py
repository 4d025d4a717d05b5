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
