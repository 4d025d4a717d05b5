"""`classmood-ui`: the teacher's Gradio app.

Tabs (one module each in `ui/tabs/`, built from the state in `ui/state.py`): class mood (follows the
live class, a glance, participants, alerts); term (a term at a glance); recordings (background
analyses with progress, kept for an hour); live webcam test; privacy and about. Who signs in and what
each account sees: `bot.accounts` (accounts in the store, made with `classmood-admin`) and
`ui.signin` (sign-ins that expire). Reads and deletes only through `bot.store.Store`;
analyses only through `bot.analyze_path` / `bot.GalleryAnalyzer`.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import signal
import sys
from pathlib import Path

from bot.store import Store, StoreError
from model import ModelLoadError
from ui.handlers import as_viewer, soft
from bot.report import CSS as REPORT_CSS
from bot.legal import NOTICE
from ui.security import SecuritySettings, normalise_origin, outermost_lifespan, parse_size
from ui.signin import SignIns
from ui.state import DOWNLOAD_MAX_AGE_S, App, AppConfig
from ui.tabs import live, privacy, recordings, term, webcam
from ui.term import CSS as TERM_CSS

log = logging.getLogger("classmood.ui")
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
LAYOUT_CSS = """
.gradio-container{max-width:1500px !important}
#cm-top h1{font-size:22px;margin:0}#cm-top p{margin:0;color:#555}
.cm-hidden{display:none !important}#cm-who{text-align:right}
"""


# Gradio's own words where ours are plainer: its streaming webcam's button says "Record" beside our
# promise that nothing is recorded (the app has no audio component the same words would reach)
WORDS = {"audio.record": "Start test", "audio.stop": "Stop test"}


# With sign-in: a page whose sign-in has ended (expired, signed out elsewhere, the account disabled
# or its password reset) goes back to the sign-in form within one refresh, instead of showing what
# it had read before (the server refuses its requests at once, but Gradio's page says nothing)
SIGNED_IN_JS = """() => {
  if (window.cmSignedIn) return;
  window.cmSignedIn = setInterval(async () => {
    try {
      const r = await fetch(new URL('gradio_api/login_check', location.href), {credentials: 'same-origin'});
      if (r.status === 401) location.reload();
    } catch (e) {}
  }, EVERY_MS);
}"""


def build_app(config: AppConfig | None = None, app: App | None = None):
    """The Gradio Blocks for `config` (models and the store are loaded here, never at import): one
    module a tab (`ui/tabs/`), each built from the same `App`."""
    import gradio as gr

    config = config or AppConfig()
    state = app or App(config)

    # Gradio keeps a copy of every upload and download in its cache folder: delete each an hour
    # after it was made (checked every 10 minutes), and all of them when the app stops.
    with gr.Blocks(title="ClassMood", delete_cache=(600, DOWNLOAD_MAX_AGE_S), analytics_enabled=False) as demo:
        with gr.Row(elem_id="cm-top"):
            gr.Markdown("# ClassMood\nHow is the class doing? Expression estimates from the meeting gallery.")
            if state.accounts.required():
                who = gr.Markdown(elem_id="cm-who")
                gr.Button("Sign out", link="/logout", size="sm", scale=0, elem_id="cm-sign-out")
                demo.load(soft(as_viewer(lambda viewer: f"Signed in as **{viewer.label}** ({viewer.role})",
                                         state.viewer), 1), outputs=who, api_name=False)
                demo.load(None, js=SIGNED_IN_JS.replace("EVERY_MS", str(int(config.refresh_s * 1000))))
        gr.HTML(f'<div class="cm-notice">{NOTICE}</div>')
        with gr.Tabs(selected="class"):
            with gr.Tab("Class mood", id="class"):
                class_tab = live.build(state, demo)
            with gr.Tab("Term", id="term") as term_tab:
                clicked = term.build(state, demo, term_tab, class_tab)
            with gr.Tab("Recordings", id="recordings"):
                recordings.build(state, demo)
            with gr.Tab("Live webcam", id="webcam"):
                webcam.build(state)
            with gr.Tab("Privacy & about", id="privacy") as tab:
                privacy.build(state, demo, tab)
        clicked.render()
    demo.classmood = state
    return demo


def _interrupt(signum, _frame):
    raise KeyboardInterrupt(signal.Signals(signum).name)


def read_auth(auth_file: str | None) -> tuple[str, str] | None:
    """`user:password` from --auth-file, else $CLASSMOOD_AUTH; None when neither is set."""
    text = None
    if auth_file:
        text = Path(auth_file).read_text().strip()
    elif os.environ.get("CLASSMOOD_AUTH"):
        text = os.environ["CLASSMOOD_AUTH"].strip()
    if not text:
        return None
    user, sep, password = text.partition(":")
    if not sep or not user or not password:
        raise ValueError("the password must be given as user:password")
    return user, password


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="classmood-ui", description="ClassMood's teacher app (Gradio).")
    ap.add_argument("--db", help="session database: a path, sqlite:///path or postgresql://user@host:port/db "
                                 "(default: $CLASSMOOD_DB or the user data folder)")
    ap.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this computer only)")
    ap.add_argument("--port", type=int, default=7860)
    ap.add_argument("--auth-file", help="file holding user:password, a single admin account beside the store's "
                                        "(default: $CLASSMOOD_AUTH); a school's accounts: classmood-admin")
    ap.add_argument("--allowed-origin", action="append", default=[], metavar="URL",
                    help="another origin allowed to call the app (e.g. a reverse proxy's https://host); "
                         "requests from any other origin but the app's own are refused")
    ap.add_argument("--trusted-proxy", action="append", default=[], metavar="ADDRESS",
                    help="the IP address of a reverse proxy in front of the app: only its X-Forwarded-For is "
                         "believed (for the sign-in throttle's client address); by default no one's is")
    ap.add_argument("--sign-in-hours", type=float, default=8.0, metavar="H",
                    help="a sign-in lasts H hours, then the browser asks for the password again (default 8)")
    ap.add_argument("--max-upload", default="2GB", metavar="SIZE", help="largest upload (default 2GB)")
    ap.add_argument("--max-upload-total", default="4GB", metavar="SIZE",
                    help="what all uploads may hold on disk together (default 4GB)")
    ap.add_argument("--refresh", type=float, default=5.0, metavar="S",
                    help="the class tab reads the session database again every S seconds (default 5)")
    ap.add_argument("--login-window", type=float, default=60.0, metavar="S",
                    help="after 5 failed sign-ins from one address within S seconds, sign-ins from it are "
                         "refused until S seconds have passed (default 60)")
    args = ap.parse_args(argv)
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # and analytics_enabled=False on the Blocks
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        auth = read_auth(args.auth_file)
        max_upload, max_total = parse_size(args.max_upload), parse_size(args.max_upload_total)
        bad = [o for o in args.allowed_origin if normalise_origin(o) is None]
        if bad:
            raise ValueError(f"--allowed-origin must be a URL such as https://classmood.school.org, got {bad[0]!r}")
        for proxy in args.trusted_proxy:
            try:
                ipaddress.ip_address(proxy)
            except ValueError:
                raise ValueError(f"--trusted-proxy must be an IP address, got {proxy!r}") from None
        if not 0 < args.login_window < float("inf"):
            raise ValueError(f"--login-window must be a positive number of seconds, got {args.login_window}")
        if not 0 < args.sign_in_hours <= 24 * 30:
            raise ValueError(f"--sign-in-hours must be above 0 and at most 720, got {args.sign_in_hours}")
        if not 0.5 <= args.refresh < float("inf"):
            raise ValueError(f"--refresh must be a number of seconds of at least 0.5, got {args.refresh}")
    except (OSError, ValueError) as e:
        print(f"classmood-ui: {e}", file=sys.stderr)
        return 2
    try:
        config = AppConfig(db_path=args.db, max_upload_bytes=max_upload, max_upload_total_bytes=max_total,
                           allowed_origins=tuple(args.allowed_origin), login_window_s=args.login_window,
                           refresh_s=args.refresh, single_account=auth, sign_in_hours=args.sign_in_hours)
        store = Store(args.db)
        password = auth is not None or store.has_users()
        if args.host not in LOCAL_HOSTS and not password:
            print(f"classmood-ui: refusing to serve on {args.host} without a password: add accounts with "
                  "classmood-admin, or set CLASSMOOD_AUTH=user:password or pass --auth-file (or bind to 127.0.0.1)",
                  file=sys.stderr)
            return 2
        state = App(config, store=store)
        purged = state.store.purge()
        if purged:
            log.info("retention: deleted %d old session(s)", purged)
        demo = build_app(config, state)
    except (StoreError, ModelLoadError) as e:
        print(f"classmood-ui: {e}", file=sys.stderr)
        return 2
    import gradio as gr

    # uvicorn (under Gradio) takes the client's address from X-Forwarded-For when the connection
    # comes from a trusted address, by default the loopback one: the app itself is there, so any
    # local client could rotate that header past the sign-in throttle. Only a named proxy is trusted.
    os.environ["FORWARDED_ALLOW_IPS"] = ",".join(args.trusted_proxy) or "none"
    # `docker stop`, systemd and `kill` send SIGTERM: stop as on Ctrl-C, so that Gradio's shutdown
    # deletes its cached uploads and downloads and ours go at exit.
    signal.signal(signal.SIGTERM, _interrupt)
    theme = gr.themes.Default(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
    security = SecuritySettings(allowed_origins=config.allowed_origins, max_upload_bytes=config.max_upload_bytes,
                                max_upload_total_bytes=config.max_upload_total_bytes,
                                login_max_failures=config.login_max_failures, login_window_s=config.login_window_s,
                                bound_host=args.host, sign_in_lifetime_s=config.sign_in_hours * 3600)
    sign_ins = SignIns(state.accounts.active, config.sign_in_hours * 3600) if password else None
    try:
        demo.queue(default_concurrency_limit=2).launch(
            server_name=args.host, server_port=args.port, auth=state.accounts.check if password else None,
            auth_message="ClassMood: sign in", max_file_size=config.max_upload_bytes, show_error=False, theme=theme,
            css=REPORT_CSS + TERM_CSS + LAYOUT_CSS,
            ssr_mode=False,
            app_kwargs={"lifespan": outermost_lifespan(security, password=password, sign_ins=sign_ins)},
            footer_links=[], quiet=False, i18n=gr.I18n(en=WORDS, **{"en-US": WORDS, "en-GB": WORDS}))
    except KeyboardInterrupt:  # stopped while the server was still starting, before Gradio's own
        demo.close()           # wait loop catches it: the same clean shutdown (cached uploads go)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
