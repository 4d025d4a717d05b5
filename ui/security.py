"""What the app refuses, and the headers it sends: an ASGI layer outside all of Gradio's.

- **Same origin only.** A request that carries an `Origin` header is served only when that origin
  is the app's own (the scheme, host and port the request was sent to: its `Host`) or one given
  with `--allowed-origin` (a reverse proxy's public address); any other gets 403 on every route,
  uploads and the login included, with or without a password, and no `Access-Control-Allow-*`
  header. Requests without an `Origin` (curl, `gradio_client`, scripts) are served as before: a
  browser always sends one with a cross-site POST or fetch, so a page elsewhere cannot drive the app.
- **Upload caps.** An upload whose body is larger than the per-file cap (`--max-upload`, default
  2 GB), or that would bring what uploads hold on disk (Gradio's cache folder) over the total cap
  (`--max-upload-total`, default 4 GB), is refused with 413 from its `Content-Length`, before a byte
  of it is read or written; an upload without a `Content-Length` (which browsers always send) gets
  411, so a partial file is never left behind.
- **Login throttling** (with a password): after `max_failures` (5) failed logins from one client
  address within `window_s` (60 s), every login from that address, right or wrong, gets 429 with
  `Retry-After` until the window has passed.
- **Headers on every response:** `X-Frame-Options: DENY` and CSP `frame-ancestors 'none'` (no
  framing, so no click-jacking), `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer`.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

GB = 1024 ** 3
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
        self._failures: dict[str, list[float]] = {}
        self._locked_until: dict[str, float] = {}
        self._lock = threading.Lock()

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        origin = headers.get("origin")
        if origin is not None and not self.origin_allowed(origin, scope, headers):
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            await _respond(send, 403, f"cross-origin request refused: {origin} is not this app's origin")
            return
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                message = {**message, "headers": list(message.get("headers", []))
                           + [(k, v) for k, v in SECURITY_HEADERS if k not in present]}
            await send(message)

        path, method = scope.get("path", ""), scope.get("method", "GET")
        if method == "POST" and path.rstrip("/").endswith("/upload"):
            refusal = self.upload_refusal(headers)
            if refusal:
                await _respond(send_with_headers, *refusal)
                return
        if method == "POST" and self.password and path.rstrip("/").endswith("/login"):
            await self.login(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)

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

    # -- uploads -------------------------------------------------------------------------------
    def upload_refusal(self, headers: dict[str, str]) -> tuple[int, str] | None:
        s = self.settings
        length = headers.get("content-length")
        if length is None or not length.strip().isdigit():
            return 411, "uploads must state their size (Content-Length)"
        size = int(length)
        if size > s.max_upload_bytes:
            return 413, f"upload refused: {_human(size)} is over the limit of {_human(s.max_upload_bytes)} a file"
        held = _folder_bytes(s.upload_dir())
        if held + size > s.max_upload_total_bytes:
            return 413, (f"upload refused: uploads already hold {_human(held)} on disk and together may hold "
                         f"at most {_human(s.max_upload_total_bytes)}; try again once older ones expire")
        return None

    # -- logins --------------------------------------------------------------------------------
    async def login(self, scope, receive, send):
        client = (scope.get("client") or ("unknown", 0))[0]
        now = time.monotonic()
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
            await send(message)

        await self.app(scope, receive, watch)
        if status.get("code", 200) >= 400:
            self.record_failure(client)

    def record_failure(self, client: str) -> None:
        s = self.settings
        now = time.monotonic()
        with self._lock:
            recent = [t for t in self._failures.get(client, []) if now - t < s.login_window_s] + [now]
            self._failures[client] = recent
            if len(recent) >= s.login_max_failures:
                self._locked_until[client] = now + s.login_window_s


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


def outermost_lifespan(settings: SecuritySettings, password: bool):
    """A FastAPI lifespan that puts `Guard` outside every middleware Gradio adds (Gradio adds its own
    after the app is made, each outside the last; its CORS layer would otherwise answer cross-origin
    pre-flights itself and echo foreign origins back), then rebuilds the middleware stack before the
    server takes its first request."""
    from contextlib import asynccontextmanager

    from starlette.middleware import Middleware

    @asynccontextmanager
    async def lifespan(app):
        if not any(m.cls is Guard for m in app.user_middleware):
            app.user_middleware.insert(0, Middleware(Guard, settings=settings, password=password))
            app.middleware_stack = app.build_middleware_stack()
        yield

    return lifespan
