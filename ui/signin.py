"""Sign-ins that end: Gradio's sign-in tokens, checked on every request.

Gradio keeps a sign-in as a token in a cookie and looks each request's token up in a mapping
(`app.tokens`), on every route: pages, API calls, the queue, files. `SignIns` is that mapping with
two rules of ours: a token lasts `lifetime_s` (8 hours by default, `classmood-ui --sign-in-hours`)
from its sign-in, and it holds only while `still_valid(user, signed_in_at)` says so (the account
exists, is not disabled, its password was not reset since: `bot.accounts.Accounts.active`), read
from the store at each lookup, so a disabled account is refused at its next request. The cookie
itself carries the same lifetime (`Max-Age`, added by `ui.security.Guard` to the sign-in's
response), so a browser forgets it too. Signing out (`/logout`) ends every sign-in of the account.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, MutableMapping

log = logging.getLogger("classmood.ui.signin")
DEFAULT_LIFETIME_S = 8 * 3600.0


class SignIns(MutableMapping):
    """token -> user name, for Gradio's `app.tokens`; `get` applies the module's rules."""

    def __init__(self, still_valid: Callable[[str, float], bool], lifetime_s: float = DEFAULT_LIFETIME_S,
                 clock: Callable[[], float] = time.time):
        self.still_valid, self.lifetime_s, self.clock = still_valid, float(lifetime_s), clock
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def __setitem__(self, token: str, user: str) -> None:  # a sign-in
        with self._lock:
            self._tokens[token] = (user, self.clock())
            self._expire()

    def get(self, token, default=None):
        """The user a request's token stands for, or `default` where it has none, or its sign-in
        has expired or no longer holds (the token is then forgotten)."""
        with self._lock:
            entry = self._tokens.get(token) if token else None
        if entry is None:
            return default
        user, at = entry
        try:
            ok = self.clock() - at <= self.lifetime_s and self.still_valid(user, at)
        except Exception as e:  # noqa: BLE001 - a store that cannot be read lets no one in
            log.warning("could not check the sign-in of %r: %s", user, e)
            return default
        if not ok:
            with self._lock:
                self._tokens.pop(token, None)
            return default
        return user

    def __getitem__(self, token: str) -> str:  # Gradio's sign-out reads the raw entries
        with self._lock:
            return self._tokens[token][0]

    def __delitem__(self, token: str) -> None:
        with self._lock:
            del self._tokens[token]

    def __contains__(self, token) -> bool:
        with self._lock:
            return token in self._tokens

    def __iter__(self) -> Iterator[str]:
        with self._lock:
            return iter(list(self._tokens))

    def __len__(self) -> int:
        return len(self._tokens)

    def _expire(self) -> None:
        """Forget expired tokens (at each sign-in: the mapping stays as small as the signed-in)."""
        now = self.clock()
        for token in [t for t, (_, at) in self._tokens.items() if now - at > self.lifetime_s]:
            del self._tokens[token]
