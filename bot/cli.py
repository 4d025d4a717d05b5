"""Console scripts: `classmood-analyze` (images, folders, videos) and `classmood-bot` (live screen)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

from bot.alerts import AlertConfigError, load_rules
from bot.analyzer import GalleryAnalyzer
from bot.mood import summarize
from bot.pipeline import analyze_path, open_path, run, session_parts
from bot.postclass import add_arguments, after_session, check_report_dir
from bot.records import is_gallery, present
from bot.roster import Roster
from bot.sources import ScreenSource, SourceError, check_seconds, parse_region
from bot.store import Store, StoreError, patiently
from bot.tracker import Tracker
from model import ModelLoadError

log = logging.getLogger("classmood.bot")


def _parse(ap: argparse.ArgumentParser, argv) -> argparse.Namespace:
    """Add the options both commands share, parse, and set up logging."""
    ap.add_argument("--exclude", default="",
                    help="names never analysed or stored (the teacher, students who opted out), comma-separated")
    ap.add_argument("--roster", metavar="FILE",
                    help="the class list: one name a line, or the participant CSV that Zoom, Meet or Teams exports; "
                         "tiles are named after it, or left unnamed where no name fits")
    ap.add_argument("--keep-faces", action="store_true",
                    help="opt in to keeping each participant's face image (96x96 JPEG) in the session database; "
                         "only with the participants' informed consent. Off by default: no images are kept")
    add_arguments(ap)
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    if args.aggregate_only and args.keep_faces:
        ap.error("--aggregate-only stores nothing per participant: it cannot --keep-faces")
    _setup_logging(args.verbose)
    return args


NO_ROSTER = ("no class roster given: names are read from the tiles' labels, and a label too small or "
             "unclear to read leaves its tile unnamed; --roster FILE (a class list, or the participant CSV "
             "Zoom, Meet or Teams exports) is the sure way to get every name right")


def _roster(path: str | None):
    """The `--roster` file as a `Roster` (None without one); `RosterError` (a ValueError) says why not."""
    if not path:
        return None

    return Roster.from_file(path)


def status_line(record) -> str:
    """The bot's line for one tracked frame, in a teacher's words: how many are in view, how many
    faces were read and the class mood, or that no meeting is visible (no gallery, no face)."""

    m, sec = divmod(int(round(record.time_s)), 60)
    clock = f"{m // 60}:{m % 60:02d}:{sec:02d}"
    faces = record.participant_faces
    if not faces and not is_gallery(record):
        return f"{clock}  no meeting visible (no gallery, no face on screen)"
    if not faces:
        return f"{clock}  {present(record)} in view, no face to read (cameras off or turned away)"
    s = summarize([record])
    facing = f", {s.attention:.0%} facing the screen" if s.attention is not None else ""
    return f"{clock}  {present(record)} in view, {len(faces)} face(s) read: mood {s.mood} (valence {s.valence:+.2f}){facing}"


def _setup_logging(verbose: bool = False) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")


class ProgressBar:
    """A one-line text progress bar on stderr."""

    def __init__(self, stream=sys.stderr, width: int = 30):
        self.stream, self.width, self.t0 = stream, width, time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        frac = done / total if total else 1.0
        bar = "#" * int(frac * self.width)
        rate = done / max(1e-6, time.monotonic() - self.t0)
        self.stream.write(f"\r[{bar:<{self.width}}] {done}/{total} frames  {rate:.1f} frames/s")
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")


def analyze_main(argv=None) -> int:
    try:
        return _analyze(argv)
    except KeyboardInterrupt:  # before or after the session: the finally blocks have run
        print("classmood-analyze: interrupted", file=sys.stderr)
        return 130


def _analyze(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="classmood-analyze",
                                 description="Analyse a meeting screenshot, a folder of them or a recording.")
    ap.add_argument("path", help="an image, a folder of images (recursive) or a video file")
    ap.add_argument("--json", dest="json_out", metavar="OUT", help="write the full result as JSON here")
    ap.add_argument("--every", type=float, default=2.0, metavar="S", help="video sampling interval (s)")
    ap.add_argument("--db", help="also store the frames as a session in this database (a path, sqlite:///path "
                                 "or postgresql://user@host:port/db)")
    ap.add_argument("--class", dest="class_name", metavar="NAME", help="the class, stored with the session")
    ap.add_argument("--teacher", metavar="NAME", help="the teacher, stored with the session")
    args = _parse(ap, argv)

    if args.keep_faces and not args.db:
        ap.error("--keep-faces keeps images in a session database: give --db too")
    try:  # every check that can fail comes before a session is created
        check_seconds(args.every, "the sampling interval (--every)")
        if args.json_out:
            _check_writable(Path(args.json_out), "--json")
        open_path(args.path, args.every)
        roster = _roster(args.roster)
        if args.report_dir:
            check_report_dir(args.report_dir)
    except (SourceError, ValueError) as e:
        print(f"classmood-analyze: {e}", file=sys.stderr)
        return 2
    bar = ProgressBar()
    store = None
    scratch = None
    try:
        if args.db:
            store = Store(args.db)
            _apply_retention(store)
        elif args.report_dir or args.aggregate_only:  # the report is made from a session: a scratch one
            scratch = tempfile.TemporaryDirectory(prefix="classmood-")
            store = Store(Path(scratch.name) / "session.db")
        try:
            sid = store.start_session(Path(args.path).name, str(args.path), keep_faces=args.keep_faces,
                                      class_name=args.class_name, teacher=args.teacher,
                                      aggregate_only=args.aggregate_only) if store else None
        except ValueError as e:
            print(f"classmood-analyze: {e}", file=sys.stderr)
            return 2
        if roster is None and not (store and store.aggregate_only(sid)):  # once the analysis starts
            log.info(NO_ROSTER)
        try:
            if store:
                analyzer = GalleryAnalyzer()
                tracker, sink = session_parts(store, sid, analyzer, stage=not args.no_stage, recording=True,
                                              exclude=_names(args.exclude), roster=roster)
                result = analyze_path(args.path, every=args.every, progress=bar, analyzer=analyzer, tracker=tracker,
                                      sink=sink)
            else:
                result = analyze_path(args.path, every=args.every, progress=bar,
                                      tracker=Tracker(exclude=_names(args.exclude), roster=roster))
        finally:
            if store:
                patiently(lambda: store.end_session(sid))
        bar.close()
        if store:
            made = after_session(store, sid, args.report_dir)
            if made is not None and made.path:
                print(f"report: {made.path}")
        if args.json_out:
            out = result.to_dict(class_only=bool(store and store.aggregate_only(sid)))
            Path(args.json_out).write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")
    except (SourceError, StoreError, ModelLoadError, OSError) as e:
        bar.close()
        print(f"classmood-analyze: {e}", file=sys.stderr)
        return 2
    s = result.summary
    shares = ", ".join(f"{k} {v:.0%}" for k, v in sorted(s.emotion_shares.items(), key=lambda kv: -kv[1]) if v)
    print(f"{s.frames} frames, {s.faces} participant faces, valence {s.valence:+.2f}; {shares or 'no faces'}")
    if args.json_out:
        print(f"wrote {args.json_out}")
    if sid is not None and scratch is None:
        kept = f", with {int(store.session(sid)['face_images'])} face images" if args.keep_faces else ""
        print(f"stored as session {sid} in {store.location}{kept}")
    if scratch is not None:
        store.close()
        scratch.cleanup()
    return 0


def _check_writable(path: Path, option: str) -> None:
    """Refuse, before any work, an output file that could not be written at the end."""
    folder = path.parent
    if path.is_dir():
        raise ValueError(f"{option} {path}: a folder; give a file name")
    if not folder.is_dir():
        raise ValueError(f"{option} {path}: no such folder {folder}")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ValueError(f"{option} {path}: not writable here")


def _apply_retention(store) -> None:
    """Delete sessions older than the retention setting, as the app does when it starts: a school
    that runs only the bot keeps no more than it said it would."""
    n = store.purge()
    if n:
        log.info("retention (%g days): deleted %d old session(s) from %s", store.retention_days, n, store.location)


def _names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


def bot_main(argv=None) -> int:
    try:
        return _bot(argv)
    except KeyboardInterrupt:  # Ctrl-C while starting up, before the handler below is installed
        print("classmood-bot: interrupted", file=sys.stderr)
        return 130


def _bot(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="classmood-bot",
                                 description="Watch the meeting gallery on screen and record the class's mood.")
    where = ap.add_mutually_exclusive_group()
    where.add_argument("--monitor", type=int, default=0,
                       help="monitor to capture (default 0: all of them together, and the meeting is found on "
                            "whichever it is; 1 = the first)")
    where.add_argument("--region", help="x,y,w,h of the gallery on screen, in pixels")
    ap.add_argument("--interval", type=float, default=5.0, metavar="S", help="seconds between captures")
    ap.add_argument("--db", help="session database: a path, sqlite:///path or postgresql://user@host:port/db "
                                 "(default: $CLASSMOOD_DB or the user data folder)")
    ap.add_argument("--session", help="session name (default: class <date time>)")
    ap.add_argument("--class", dest="class_name", metavar="NAME", help="the class, stored with the session")
    ap.add_argument("--teacher", metavar="NAME", help="the teacher, stored with the session")
    ap.add_argument("--duration", type=float, metavar="S", help="stop after this many seconds")
    ap.add_argument("--alerts", metavar="FILE", help="TOML file overriding the default alert rules")
    args = _parse(ap, argv)

    try:  # every check that can fail comes before a session is created
        rules = load_rules(args.alerts)
        region = parse_region(args.region) if args.region else None
        source = ScreenSource(monitor=args.monitor, region=region, interval=args.interval, duration=args.duration)
        roster = _roster(args.roster)
        if args.report_dir:
            check_report_dir(args.report_dir)
        store = Store(args.db)
        _apply_retention(store)
        analyzer = GalleryAnalyzer()
    except (AlertConfigError, SourceError, StoreError, ModelLoadError, ValueError) as e:
        print(f"classmood-bot: {e}", file=sys.stderr)
        return 2
    name = args.session or time.strftime("class %Y-%m-%d %H:%M")
    try:
        sid = store.start_session(name, f"screen:{args.region or 'monitor ' + str(args.monitor)}", args.interval,
                                  keep_faces=args.keep_faces, class_name=args.class_name, teacher=args.teacher,
                                  aggregate_only=args.aggregate_only)
    except (StoreError, ValueError) as e:
        print(f"classmood-bot: {e}", file=sys.stderr)
        return 2
    class_only = store.aggregate_only(sid)
    tracker, sink = session_parts(store, sid, analyzer, rules=rules, stage=not args.no_stage,
                                  exclude=_names(args.exclude), roster=roster)

    def stop(signum, _frame):
        log.info("stopping (%s)", signal.Signals(signum).name)
        source.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("session %d %r: capturing every %gs into %s", sid, name, args.interval, store.location)
    log.info("to see the class live: classmood-ui --db %s, then open http://127.0.0.1:7860", args.db)
    if class_only:
        log.info("class-only session: only the class's counts are stored (no names, no per-face rows, no images)")
    elif roster is None:
        log.info(NO_ROSTER)
    if args.keep_faces:
        log.warning("keeping participants' face images in %s (--keep-faces): only with their consent", store.location)
    frames = 0

    def logged(record) -> None:
        nonlocal frames
        frames += 1
        log.info("%s", status_line(record))

    try:
        run(source, analyzer, tracker, sink, keep=False, on_frame=logged)
    finally:
        ended = False
        try:  # the database may be restarting: it gets a minute to come back
            patiently(lambda: store.end_session(sid))
            ended = True
        except StoreError as e:
            log.error("%s", e)
        source.close()
        if ended:
            after_session(store, sid, args.report_dir)
    log.info("session %d ended after %d frames", sid, frames)
    return 0
