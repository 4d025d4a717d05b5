"""How the app's handlers fail: a readable message in the page, never a traceback.

`guard` (an error toast) and `soft` (a warning toast, the outputs left as they were) wrap the tabs'
handlers; `explained` and `message_of` say which errors carry a message a teacher can act on, for
them and for the background analyses of `ui.state`. `as_viewer` gives a handler the account that
called it (from the request, never from the page), so that every route checks who asks.
"""

from __future__ import annotations

import functools
import inspect
import logging

from bot.store import StoreError
from model import ModelLoadError

log = logging.getLogger("classmood.ui")


def explained(e: BaseException) -> bool:
    """Errors whose message says what to do (the rest are logged with their traceback)."""
    return isinstance(e, (ValueError, KeyError, OSError, StoreError, ModelLoadError))


def message_of(e: BaseException) -> str:
    """What a teacher reads for an error: the message of errors that say what to do, else a pointer
    to the log (never a traceback)."""
    return str(e).strip("'\"") if explained(e) else \
        f"Something went wrong ({type(e).__name__}); the details are in the app's log."


def _handled(fn, on_error):
    """`fn`, with any error but Gradio's own logged where unexpected and handed to `on_error(message)`."""
    import gradio as gr  # the app's pages only: importing this module stays light

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except Exception as e:
            if not explained(e):
                log.exception("handler %s failed", getattr(fn, "__name__", fn))
            return on_error(message_of(e))

    return wrapped


def guard(fn):
    """Errors become readable messages in the page (an error toast), never tracebacks."""
    import gradio as gr

    def fail(message):
        raise gr.Error(message) from None

    return _handled(fn, fail)


def soft(fn, outputs: int):
    """As `guard`, but the message is a warning toast and the `outputs` outputs are left as they
    were: no component is left showing an error state, every control stays usable."""
    import gradio as gr

    def warn(message):
        gr.Warning(message)
        return gr.skip() if outputs == 1 else tuple(gr.skip() for _ in range(outputs))

    return _handled(fn, warn)


def as_viewer(fn, viewer_of):
    """`fn(viewer, *inputs)` as a Gradio handler of `inputs`: Gradio passes each call's request
    (hidden from the page and the API), and `viewer_of(username)` (`ui.state.App.viewer`) makes
    the viewer of its signed-in account; PermissionError for a disabled or removed one."""
    import gradio as gr

    params = list(inspect.signature(fn).parameters.values())[1:]

    def called(*args):
        *inputs, request = args
        return fn(viewer_of(getattr(request, "username", None)), *inputs)

    called.__name__ = called.__qualname__ = getattr(fn, "__name__", "handler")
    called.__signature__ = inspect.Signature(
        params + [inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None)])
    called.__annotations__ = {"request": gr.Request}  # how Gradio knows to pass it
    return called
