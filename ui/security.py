"""What the app refuses, and the headers it sends: an ASGI layer outside all of Gradio's.

- **Same origin only.** A request that carries an `Origin` header is served only when that origin
  is the app's own (the scheme, host and port the request was sent to: its `Host`) or one given
  with `--allowed-origin` (a reverse proxy's public address); any other gets 403 on every route,
  uploads and the login included, with or without a password, and no `Access-Control-Allow-*`
  header. Requests without an `Origin` (curl, `gradio_client`, scripts) are served as before: a
  browser always sends one with a cross-site POST or fetch, so a page elsewhere cannot drive the app.
- **Known hosts only** (DNS rebinding): every request's `Host` must name an address the app serves:
  127.0.0.1, localhost, [::1], the address it is bound to, the host of an `--allowed-origin`, and,
  when bound to every interface (0.0.0.0), any IP address and this machine's own names. A page on
  evil.example whose name was made to point at 127.0.0.1 sends `Host: evil.example`: 403, before
  any route, however its `Origin` matches.
- **Body caps on every route.** A request body larger than the per-file cap (`--max-upload`,
  default 2 GB; 32 MB on routes other than uploads, which take JSON), or that would bring what
  uploads hold on disk (Gradio's cache folder) plus the bodies being received at that moment over
  the total cap (`--max-upload-total`, default 4 GB), is refused with 413 from its `Content-Length`,
  before a byte of it is read or written; parallel requests count against each other. A body
  without a `Content-Length` (which browsers always send) gets 411. Gradio's `/process_recording`
  (the video component's webcam recorder, which this app does not use, and which writes to the
  system's temp folder) is refused. An upload cut off by its client leaves no partial file: Gradio's
  multipart parser deletes its files only on errors of its own, so `clean_partial_uploads` makes it
  delete them on any error, a client that gave up (`ClientDisconnect`) included.
- **Login throttling** (with a password): after `max_failures` (5) failed logins from one client
  address within `window_s` (60 s), every login from that address, right or wrong, gets 429 with
  `Retry-After` until the window has passed. The client address is the connection's own:
  `X-Forwarded-For` is believed only from a proxy named with `--trusted-proxy`.
- **Sign-ins that end** (with a password): the sign-in's cookie carries a `Max-Age` of the
  sign-in's lifetime (`--sign-in-hours`), and the app forgets the sign-in then too (`ui.signin`).
- **Headers on every response**, error pages (500) included: `X-Frame-Options: DENY` and CSP
  `frame-ancestors 'none'` (no framing, so no click-jacking), `X-Content-Type-Options: nosniff`,
  `Referrer-Policy: no-referrer`.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import math
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

GB = 1024 ** 3
MB = 1024 ** 2
API_BODY_CAP = 32 * MB            # a body on a route other than an upload (JSON calls)
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
WILDCARD_HOSTS = ("0.0.0.0", "::", "")
REFUSED_PATHS = ("/process_recording",)  # Gradio routes this app never uses
log = logging.getLogger("classmood.ui.security")
SECURITY_HEADERS = (
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)


@dataclass
class SecuritySettings:
    allowed_origins: tuple[str, ...] = ()      # besides the app's own origin, e.g. "https://classmood.school.org"
    max_upload_bytes: int = 2 * GB             # one upload request's body
    max_upload_total_bytes: int = 4 * GB       # everything uploads hold on disk together
    login_max_failures: int = 5
    login_window_s: float = 60.0
    upload_dir: Callable[[], Path] = field(default=lambda: Path(gradio_cache_dir()))
    bound_host: str = "127.0.0.1"              # the address the server is bound to (--host)
    clock: Callable[[], float] = time.monotonic  # seconds, for the sign-in throttle (tests pass their own)
    sign_in_lifetime_s: float = 8 * 3600.0     # a sign-in's cookie lasts this long (Max-Age; `ui.signin`)


def served_hosts(settings: SecuritySettings) -> tuple[frozenset[str], bool]:
    """(the host names a request's `Host` may carry, whether any IP address may): see the module."""
    hosts = {h.lower().strip("[]") for h in (*LOCAL_HOSTS, settings.bound_host)}
    for origin in settings.allowed_origins:
        o = normalise_origin(origin)
        if o:
            hosts.add(urlsplit(o).hostname or "")
    wildcard = settings.bound_host.strip("[]") in WILDCARD_HOSTS
    if wildcard:
        for name in (socket.gethostname(), socket.getfqdn()):
            if name:
                hosts.add(name.lower())
    hosts.discard("")
    return frozenset(hosts), wildcard


def host_of(header: str) -> str | None:
    """The host name of a `Host` header ("Evil.example:7901" -> "evil.example", "[::1]:80" -> "::1");
    None where it cannot be read."""
    try:
        name = urlsplit(f"//{header.strip()}").hostname
        urlsplit(f"//{header.strip()}").port  # noqa: B018 - a bad port raises
    except ValueError:
        return None
    return name.lower() if name else None


def gradio_cache_dir() -> str:
    """Where Gradio keeps uploads: $GRADIO_TEMP_DIR, else its default under the system's temp folder."""
    import tempfile

    return os.environ.get("GRADIO_TEMP_DIR") or str(Path(tempfile.gettempdir()) / "gradio")


def parse_size(text: str) -> int:
    """'2GB', '500MB', '64kb', '1048576' -> bytes (binary units)."""
    t = str(text).strip().lower().replace(" ", "")
    units = {"tb": 1024 ** 4, "gb": GB, "mb": 1024 ** 2, "kb": 1024, "b": 1}
    for unit, factor in units.items():
        if t.endswith(unit):
            number = t[: -len(unit)]
            break
    else:
        number, factor = t, 1
    try:
        value = float(number)
    except ValueError:
        raise ValueError(f"a size is a number with an optional unit (kb, mb, gb), got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"a size must be above 0, got {text!r}")
    return int(value * factor)


def normalise_origin(origin: str) -> str | None:
    """'HTTP://Host:80' -> 'http://host:80' with the default port made explicit; None if unparsable."""
    try:
        parts = urlsplit(origin.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return None
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}:{port}"


def _human(n: float) -> str:
    return f"{n / GB:.2f} GB" if n >= GB / 10 else f"{n / 1024 ** 2:.1f} MB"


class Guard:
    """ASGI middleware implementing the module's rules around `app`."""

    def __init__(self, app, settings: SecuritySettings, password: bool):
        self.app, self.settings, self.password = app, settings, password
        self.allowed = {o for o in (normalise_origin(a) for a in settings.allowed_origins) if o}
        self.hosts, self.any_ip = served_hosts(settings)
        self._failures: dict[str, list[float]] = {}
        self._locked_until: dict[str, float] = {}
        self._lock = threading.Lock()
        self._receiving = 0  # bytes of request bodies announced and not yet finished
        clean_partial_uploads()

    def host_allowed(self, headers: dict[str, str]) -> bool:
        name = host_of(headers.get("host", ""))
        if name is None:
            return False
        if name in self.hosts:
            return True
        if self.any_ip:
            try:
                ipaddress.ip_address(name)
                return True  # an address typed as such cannot be re-bound: no name to re-point
            except ValueError:
                return False
        return False

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if not self.host_allowed(headers):
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            await _respond(_with_headers(send), 403, f"request refused: the host {headers.get('host', '(none)')!r} "
                           "is not an address this app serves")
            return
        origin = headers.get("origin")
        if origin is not None and not self.origin_allowed(origin, scope, headers):
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            await _respond(_with_headers(send), 403, f"cross-origin request refused: {origin} is not this app's origin")
            return
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return

        started = {}
        plain_send = _with_headers(send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                started["yes"] = True
            await plain_send(message)

        path, method = scope.get("path", ""), scope.get("method", "GET")
        if path.rstrip("/").endswith(REFUSED_PATHS):
            await _respond(send_with_headers, 404, "not used by this app")
            return
        length = headers.get("content-length", "").strip()
        has_body = "transfer-encoding" in headers or (length != "" and (not length.isdigit() or int(length) > 0))
        reserved = 0
        if has_body:
            refusal, reserved = self.body_refusal(headers, path.rstrip("/").endswith("/upload"))
            if refusal:
                await _respond(send_with_headers, *refusal)
                return
        try:
            if method == "POST" and self.password and path.rstrip("/").endswith("/login"):
                await self.login(scope, receive, send_with_headers)
            else:
                await self.app(scope, receive, send_with_headers)
        except Exception as e:  # an error page with our headers, not the server's bare one
            if type(e).__name__ != "ClientDisconnect":  # a client that gave up is no error of ours
                log.exception("request %s %s failed", method, path)
            if not started:
                await _respond(send_with_headers, 500, "internal error: see the app's log")
        finally:
            if reserved:
                with self._lock:
                    self._receiving -= reserved

    def body_refusal(self, headers: dict[str, str], upload: bool) -> tuple[tuple[int, str] | None, int]:
        """(a refusal for a request with a body, or None; the bytes reserved for it, to give back
        when the request ends)."""
        s = self.settings
        length = headers.get("content-length")
        if "transfer-encoding" in headers or length is None or not length.strip().isdigit():
            return (411, "uploads must state their size (Content-Length)"), 0
        size = int(length)
        cap = s.max_upload_bytes if upload else min(s.max_upload_bytes, API_BODY_CAP)
        if size > cap:
            return (413, f"upload refused: {_human(size)} is over the limit of {_human(cap)} a file"), 0
        held = _folder_bytes(s.upload_dir()) if upload or size > 64 * 1024 else 0
        with self._lock:
            if held + self._receiving + size > s.max_upload_total_bytes:
                return (413, f"upload refused: uploads already hold {_human(held + self._receiving)} on disk "
                             f"and together may hold at most {_human(s.max_upload_total_bytes)}; try again once "
                             f"older ones expire"), 0
            self._receiving += size
        return None, size

    # -- origins -------------------------------------------------------------------------------
    def origin_allowed(self, origin: str, scope, headers: dict[str, str]) -> bool:
        o = normalise_origin(origin)
        if o is None:
            return False
        if o in self.allowed:
            return True
        host = headers.get("host")
        if not host:
            return False
        scheme = "https" if scope.get("scheme") in ("https", "wss") else "http"
        return o == normalise_origin(f"{scheme}://{host}")

    # -- logins --------------------------------------------------------------------------------
    async def login(self, scope, receive, send):
        client = (scope.get("client") or ("unknown", 0))[0]
        now = self.settings.clock()
        with self._lock:
            until = self._locked_until.get(client, 0.0)
            if until > now:
                wait = max(1, math.ceil(until - now))
                locked = True
            else:
                locked = False
                if until:
                    self._locked_until.pop(client, None)
                    self._failures.pop(client, None)
        if locked:
            await _respond(send, 429, f"too many failed sign-ins from {client}: try again in {wait} s",
                           extra=[(b"retry-after", str(wait).encode())])
            return
        status = {}

        async def watch(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message = {**message, "headers": [(k, _expiring(v, self.settings.sign_in_lifetime_s)
                                                   if k.lower() == b"set-cookie" else v)
                                                  for k, v in message.get("headers", [])]}
            await send(message)

        await self.app(scope, receive, watch)
        if status.get("code", 200) >= 400:
            self.record_failure(client)

    def record_failure(self, client: str) -> None:
        s = self.settings
        now = self.settings.clock()
        with self._lock:
            recent = [t for t in self._failures.get(client, []) if now - t < s.login_window_s] + [now]
            self._failures[client] = recent
            if len(recent) >= s.login_max_failures:
                self._locked_until[client] = now + s.login_window_s


def _expiring(cookie: bytes, lifetime_s: float) -> bytes:
    """A sign-in's `Set-Cookie` value with a `Max-Age` (the browser forgets it after `lifetime_s`)."""
    if b"max-age=" in cookie.lower():
        return cookie
    return cookie + f"; Max-Age={int(lifetime_s)}".encode()


def _with_headers(send):
    """`send`, with `SECURITY_HEADERS` added to the response's start."""
    async def sending(message):
        if message["type"] == "http.response.start":
            present = {k.lower() for k, _ in message.get("headers", [])}
            message = {**message, "headers": list(message.get("headers", []))
                       + [(k, v) for k, v in SECURITY_HEADERS if k not in present]}
        await send(message)
    return sending


def clean_partial_uploads() -> bool:
    """Make Gradio's multipart parser delete the files it was writing when parsing fails for any
    reason: it does so for its own errors (a file over the cap) but not when the client gives up
    half way (`ClientDisconnect`), which left the partial upload in its cache folder for good.
    Installed once; False (and a warning) where this Gradio has no such parser to wrap."""
    try:
        from gradio import route_utils

        parser = route_utils.GradioMultiPartParser
        parse = parser.parse
    except (ImportError, AttributeError):
        log.warning("this Gradio has no GradioMultiPartParser: uploads cut off by their client may leave "
                    "partial files in its cache folder until it is emptied")
        return False
    if getattr(parse, "classmood_cleans", False):
        return True

    async def parse_and_clean(self, *args, **kwargs):
        try:
            return await parse(self, *args, **kwargs)
        except BaseException:
            for f in list(getattr(self, "_files_to_close_on_error", [])):
                try:
                    f.close()
                    os.unlink(f.name)
                except OSError:  # Gradio deleted it itself (its own errors)
                    pass
            raise

    parse_and_clean.classmood_cleans = True
    parser.parse = parse_and_clean
    return True


def _folder_bytes(folder: Path) -> int:
    total = 0
    try:
        for root, _dirs, files in os.walk(folder):
            for f in files:
                try:
                    total += os.stat(os.path.join(root, f)).st_size
                except OSError:
                    pass
    except OSError:
        pass
    return total


async def _respond(send, status: int, message: str, extra: Iterable[tuple[bytes, bytes]] = ()) -> None:
    body = json.dumps({"error": message, "detail": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *extra]})
    await send({"type": "http.response.body", "body": body})


def outermost_lifespan(settings: SecuritySettings, password: bool, sign_ins=None):
    """A FastAPI lifespan that puts `Guard` outside every middleware Gradio adds (Gradio adds its own
    after the app is made, each outside the last; its CORS layer would otherwise answer cross-origin
    pre-flights itself and echo foreign origins back), then rebuilds the middleware stack before the
    server takes its first request. `sign_ins` (a `ui.signin.SignIns`) replaces Gradio's own
    mapping of sign-in tokens."""
    from contextlib import asynccontextmanager

    from starlette.middleware import Middleware

    @asynccontextmanager
    async def lifespan(app):
        if sign_ins is not None:
            app.tokens = sign_ins
        if not any(m.cls is Guard for m in app.user_middleware):
            app.user_middleware.insert(0, Middleware(Guard, settings=settings, password=password))
            app.middleware_stack = app.build_middleware_stack()
        yield

    return lifespan
