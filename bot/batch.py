"""`classmood-batch`: a term of recordings analysed on a Dask cluster, one session a recording.

Every recording becomes a task on `dask.distributed`: a `LocalCluster` of N worker processes by
default, or the scheduler at `--scheduler` (a real cluster: the same code). Each worker loads the
model once and analyses its recordings through the one pipeline (`bot.pipeline.run`), writing one
session a recording into the store (`--db`: SQLite for one machine, PostgreSQL for a cluster).

- Class, teacher and lesson date come from `--manifest` (CSV: path, class, teacher, date), else
  `--class`/`--teacher`; the date, else, from the file's own metadata (`creation_time`), else its
  modification time: never the time of the analysis. The session's start is the lesson's date.
- Resumable: a recording whose content (SHA-256) is already stored as an ended session is skipped.
  A session left unfinished by a worker that died is deleted before the retry.
- A corrupt recording is reported and the rest go on; a recording whose worker dies is retried
  once (`allowed-failures`), then reported.
- Threads: the classifier, the face detector's workers, OpenCV, the name reader's Tesseract
  processes and the video decoder of each Dask worker use `--threads-per-worker` threads (default:
  this machine's cores / N), so that N workers do not fight over the same cores. The name reader's
  PP-OCR (onnxruntime) runs one thread, one label at a time, in each worker.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import glob
import hashlib
import io
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bot.analyzer import GalleryAnalyzer
from bot.mood import mood_of, summarize
from bot.pipeline import run, session_parts
from bot.postclass import add_arguments, after_session, check_report_dir
from bot.sources import SourceError, VideoSource, check_seconds
from bot.store import Store, StoreError, patiently
from bot.textfile import NotText, read_text
from model import EmotionClassifier
from model.detector import FaceDetector

log = logging.getLogger("classmood.batch")

VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".ts")
LIST_SUFFIXES = (".txt", ".lst", ".list")


class BatchError(RuntimeError):
    """The batch cannot start: no recordings, an unreadable manifest, no scheduler."""


@dataclass
class Job:
    path: str
    class_name: str | None = None
    teacher: str | None = None
    date: float | None = None        # the lesson's start (epoch seconds); None: from the file
    date_source: str = ""
    aggregate_only: bool = False     # class-only: nothing per participant stored (--aggregate-only)
    stage: bool = True               # thumbnails of a shared screen for the report (--no-stage: none)
    report_dir: str | None = None    # where the post-class report is written too (--report-dir)


@dataclass
class Outcome:
    path: str
    status: str                      # "done", "skipped (already stored)", "failed: ..."
    class_name: str | None = None
    teacher: str | None = None
    session_id: int | None = None
    frames: int = 0
    minutes: float = 0.0
    valence: float | None = None
    date: float | None = None
    date_source: str = ""
    extra: dict = field(default_factory=dict)


# -- what to analyse ----------------------------------------------------------------------------
def collect(paths: list[str]) -> list[str]:
    """Recordings named by files, folders (recursively: video files), globs, or text files listing
    them (one a line; # comments); each once, in the order given."""
    out: list[str] = []

    def add(p: Path) -> None:
        s = str(p.resolve())
        if s not in out:
            out.append(s)

    for item in paths:
        p = Path(item).expanduser()
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_file() and f.suffix.lower() in VIDEO_SUFFIXES:
                    add(f)
        elif p.is_file() and p.suffix.lower() in LIST_SUFFIXES:
            try:
                listed = read_text(p)
            except (OSError, NotText) as e:
                raise BatchError(f"cannot read the list of recordings {p}: {getattr(e, 'strerror', None) or e}") from None
            for line in listed.splitlines():
                line = line.strip()
                if line and not line.startswith("#"):
                    q = Path(line).expanduser()
                    add(q if q.is_absolute() else p.parent / q)
        elif p.is_file():
            add(p)
        elif any(ch in item for ch in "*?["):
            for f in sorted(glob.glob(os.path.expanduser(item), recursive=True)):
                if Path(f).is_file():
                    add(Path(f))
        else:
            add(p)  # missing: reported as failed, the rest go on
    return out


def read_manifest(path: str) -> dict[str, dict]:
    """CSV with a header: path, class, teacher, date (ISO date or date and time; local time unless
    it says otherwise). Paths relative to the manifest's folder. Returns {resolved path: row}."""
    p = Path(path)
    try:
        rows = list(csv.DictReader(io.StringIO(read_text(p), newline="")))
    except (OSError, NotText) as e:
        raise BatchError(f"cannot read the manifest {p}: {getattr(e, 'strerror', None) or e}") from None
    except csv.Error as e:
        raise BatchError(f"cannot read the manifest {p} as CSV: {e}") from None
    if not rows:
        raise BatchError(f"{p}: an empty manifest (a header line and a row a recording: path, class, teacher, date)")
    out = {}
    for i, row in enumerate(rows, start=2):
        if None in row:  # csv puts fields beyond the header's under None
            raise BatchError(f"{p}, line {i}: more fields than the header has columns (path, class, teacher, "
                             f"date); quote a field that holds a comma")
        row = {(k or "").strip().lower().replace(" ", "_"): (v or "").strip() for k, v in row.items()}
        if not row.get("path"):
            raise BatchError(f"{p}, line {i}: no path (columns: path, class, teacher, date)")
        date = row.get("date") or row.get("lesson_date") or ""
        when = None
        if date:
            try:
                parsed = dt.datetime.fromisoformat(date)
            except ValueError:
                raise BatchError(f"{p}, line {i}: date {date!r} is not an ISO date such as 2026-03-14 "
                                 f"or 2026-03-14 09:30") from None
            if not 1971 <= parsed.year <= 2999:
                raise BatchError(f"{p}, line {i}: date {date!r} is no lesson's date (years 1971 to 2999)")
            when = parsed.timestamp()
        q = Path(row["path"]).expanduser()
        out[str((q if q.is_absolute() else p.parent / q).resolve())] = {
            "class": row.get("class") or None, "teacher": row.get("teacher") or None, "date": when}
    return out


def plan(paths: list[str], manifest: str | None = None, class_name: str | None = None,
         teacher: str | None = None) -> list[Job]:
    rows = read_manifest(manifest) if manifest else {}
    jobs = []
    for path in collect(paths):
        row = rows.get(path, {})
        jobs.append(Job(path, row.get("class") or class_name, row.get("teacher") or teacher, row.get("date"),
                        "manifest" if row.get("date") else ""))
    return jobs


def lesson_date(path: str) -> tuple[float, str]:
    """When the lesson was recorded: the container's `creation_time`, else the file's
    modification time (epoch seconds, and which it was)."""
    try:
        import av

        with av.open(path) as c:
            stamp = (c.metadata or {}).get("creation_time") or \
                (c.streams.video[0].metadata or {}).get("creation_time") if c.streams.video else None
        if stamp:
            when = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
            if when.tzinfo is None:
                when = when.replace(tzinfo=dt.timezone.utc)
            if when.year > 1971:  # some muxers write 1970 or 1904 for "unknown"
                return when.timestamp(), "file metadata"
    except Exception:  # noqa: BLE001 - unreadable metadata: the modification time below
        pass
    return os.stat(path).st_mtime, "file modification time"


def content_hash(path: str, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


# -- on a worker --------------------------------------------------------------------------------
_WORKER: dict = {}


def _worker_state(threads: int):
    """This worker process's analyser (model and detector loaded once) and stores, by target."""
    if _WORKER.get("threads") != threads:
        import cv2

        cv2.setNumThreads(threads)  # OpenCV's own pool (resizing, colour conversion) too
        old = _WORKER.get("analyzer")
        if old is not None:
            old.detector.close()
        _WORKER.update(threads=threads, stores={}, analyzer=GalleryAnalyzer(
            classifier=EmotionClassifier.load(threads=threads), detector=FaceDetector(workers=threads)))
    return _WORKER


def analyse(job: Job, db: str, every: float, threads: int, progress=None) -> Outcome:
    """One recording, on a worker: hash, skip if stored, else analyse into a new session."""

    out = Outcome(job.path, "failed", job.class_name, job.teacher, date=job.date, date_source=job.date_source)
    try:
        if not Path(job.path).is_file():
            raise SourceError(f"{job.path}: no such file")
        state = _worker_state(threads)
        store = state["stores"].get(db) or state["stores"].setdefault(db, Store(db, timeout=60))
        digest = content_hash(job.path)
        if out.date is None:
            out.date, out.date_source = lesson_date(job.path)
        # One thread: decoding does not run ahead in a thread of its own (that would be a second core).
        source = VideoSource(job.path, every=every, threads=threads, prefetch=2 if threads > 1 else 0)
        total = len(source)
        # stored already, or on another worker right now: skipped; a session a dead worker left is
        # replaced (one transaction: two workers given the same file never both analyse it)
        status, s = patiently(lambda: store.claim_recording(
            digest, Path(job.path).name, job.path, interval_s=every, class_name=job.class_name,
            teacher=job.teacher, started=out.date, aggregate_only=job.aggregate_only))
        if status != "started":
            out.status = "skipped (already stored)" if status == "done" else \
                f"skipped (being analysed by another worker, session {s['id']})"
            out.session_id, out.frames = int(s["id"]), int(s.get("frames", 0))
            out.date = s.get("started", out.date)
            return out
        sid = s["id"]
        analyzer = state["analyzer"]
        analyzer.forget()

        def tick(n, _total):
            if progress is not None:
                progress(job.path, n, total)

        tracker, sink = session_parts(store, sid, analyzer, stage=job.stage, recording=True)
        frames = run(source, analyzer, tracker, sink, progress=tick).frames
        if not frames:
            store.delete_session(sid)
            raise SourceError(f"{job.path}: no frame could be analysed")
        patiently(lambda: store.end_session(sid, at=out.date + (frames[-1].time_s if frames else 0.0)))
        after_session(store, sid, job.report_dir)
        out.status, out.session_id, out.frames = "done", sid, len(frames)
        out.minutes = round(source.duration_s / 60, 1)
        out.valence = summarize(frames).valence
    except (SourceError, StoreError, OSError) as e:
        out.status = f"failed: {e}"
    return out


def _progress_to_queue():
    """A progress callback that sends (path, done, total) to the client (best effort)."""
    try:
        from distributed import Queue

        q = Queue("classmood-progress")
    except Exception:  # noqa: BLE001 - not on a cluster: no progress
        return None
    last = [0.0]

    def send(path, done, total):
        now = time.monotonic()
        if now - last[0] >= 0.5 or done == total:
            last[0] = now
            try:
                q.put((path, done, total), timeout=1)
            except Exception:  # noqa: BLE001
                pass
    return send


def task(job: Job, db: str, every: float, threads: int) -> Outcome:
    return analyse(job, db, every, threads, _progress_to_queue())


# -- the client -----------------------------------------------------------------------------------
def run_batch(jobs: list[Job], db: str, every: float = 2.0, scheduler: str | None = None, workers: int | None = None,
              threads_per_worker: int | None = None, stream=sys.stderr, on_done=None) -> list[Outcome]:
    """Every job as a task on the cluster; outcomes in the jobs' order. `on_done(client, outcome)`
    after each recording (benchmarks watch the workers with it)."""
    import dask
    from distributed import Client, LocalCluster, Queue, as_completed

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    n = workers or (1 if scheduler else max(1, cores))
    threads = threads_per_worker or max(1, cores // n)
    # A recording whose worker dies is retried once, then reported (KilledWorker).
    # MALLOC_TRIM_THRESHOLD_, which Dask's nanny sets for its workers by default, turns off glibc's
    # adaptive mmap threshold: every frame-sized array is then mapped and unmapped afresh, page
    # faults and all (measured: a 116 s 1080p desktop recording in 6.3 s instead of 4.8 s). The
    # workers' memory stays flat without it (bench/batch.py).
    with dask.config.set({"distributed.scheduler.allowed-failures": 1,
                          "distributed.worker.daemon": False,
                          "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
        cluster = None
        if scheduler:
            try:
                client = Client(scheduler, timeout="30s")
            except (ValueError, TypeError) as e:  # not an address at all ("missing port number")
                raise BatchError(f"--scheduler {scheduler!r} is not a scheduler's address such as "
                                 f"tcp://10.0.0.5:8786 ({_short(e)})") from None
        else:
            # no dashboard (it would listen on every interface without a password), and the
            # scheduler and workers on the loopback address only
            cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                                   host="127.0.0.1", env=_thread_env(threads))
            client = Client(cluster)
        try:
            queue = Queue("classmood-progress", client=client)
            futures = {client.submit(task, job, db, every, threads, key=f"recording-{i}", pure=False): job
                       for i, job in enumerate(jobs)}
            bar = _Bar(len(jobs), stream)
            outcomes: list[Outcome] = []
            pending = as_completed(list(futures))
            while not pending.is_empty():
                _drain(queue, bar)
                if not pending.has_ready():  # nothing finished yet: keep the frame progress flowing
                    time.sleep(0.2)
                    continue
                fut = next(pending)
                job = futures[fut]
                try:
                    outcome = fut.result()
                except Exception as e:  # noqa: BLE001 - KilledWorker after the retry, or anything else
                    outcome = Outcome(job.path, f"failed: {type(e).__name__}: {_short(e)}", job.class_name,
                                      job.teacher, date=job.date)
                outcomes.append(outcome)
                bar.finished(outcome)
                if on_done is not None:
                    on_done(client, outcome)
            bar.close()
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    order = {job.path: i for i, job in enumerate(jobs)}
    return sorted(outcomes, key=lambda o: order.get(o.path, 0))


def _drain(queue, bar) -> None:
    try:
        items = queue.get(batch=True)  # whatever is waiting, without blocking
    except Exception:  # noqa: BLE001 - progress is best effort
        return
    for path, done, total in items:
        bar.frames(path, done, total)


def _short(e: BaseException) -> str:
    return " ".join(str(e).split())[:200]


def _thread_env(threads: int) -> dict:
    t = str(threads)
    return {"OMP_NUM_THREADS": t, "OMP_THREAD_LIMIT": t, "OPENBLAS_NUM_THREADS": t, "MKL_NUM_THREADS": t,
            "TF_NUM_INTRAOP_THREADS": t, "CLASSMOOD_OCR_WORKERS": t}


class _Bar:
    """One line: recordings done of all, and the frames of those in progress."""

    def __init__(self, total: int, stream):
        self.total, self.done, self.stream = total, 0, stream
        self.active: dict[str, tuple[int, int]] = {}
        self.t0 = time.monotonic()

    def frames(self, path, done, total) -> None:
        self.active[path] = (done, total)
        self._draw()

    def finished(self, outcome: Outcome) -> None:
        self.done += 1
        self.active.pop(outcome.path, None)
        self._draw()

    def _draw(self) -> None:
        width = 30
        frac = self.done / self.total if self.total else 1.0
        inflight = ", ".join(f"{Path(p).name} {d}/{t}" for p, (d, t) in list(self.active.items())[:3])
        self.stream.write(f"\r[{'#' * int(frac * width):<{width}}] {self.done}/{self.total} recordings"
                          f"{'; ' + inflight + ' frames' if inflight else ''}  {time.monotonic() - self.t0:.0f} s\x1b[K")
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")
        self.stream.flush()


def summary_table(outcomes: list[Outcome]) -> str:
    rows = [("recording", "class", "date", "frames", "minutes", "mood", "status")]
    for o in outcomes:
        mood = "" if o.valence is None else f"{mood_of(o.valence) or ''} ({o.valence:+.2f})"
        date = dt.datetime.fromtimestamp(o.date).strftime("%Y-%m-%d %H:%M") if o.date else ""
        rows.append((Path(o.path).name, o.class_name or "", date, str(o.frames), f"{o.minutes:g}", mood, o.status))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="classmood-batch",
                                 description="Analyse many recordings on a Dask cluster, one session each.")
    ap.add_argument("paths", nargs="+", help="recordings: files, folders, globs, or text files listing them")
    ap.add_argument("--db", required=True, help="session database: a path, sqlite:///path or postgresql://user@host:port/db")
    ap.add_argument("--every", type=float, default=2.0, metavar="S", help="sampling interval in each recording (s)")
    ap.add_argument("--scheduler", metavar="ADDRESS", help="a running Dask scheduler (default: a local cluster)")
    ap.add_argument("--workers", type=int, metavar="N", help="local workers (default: one a core)")
    ap.add_argument("--threads-per-worker", type=int, metavar="T", help="threads each worker's model, detector and "
                                                                         "decoder use (default: cores / N)")
    ap.add_argument("--manifest", metavar="CSV", help="CSV with columns path, class, teacher, date")
    ap.add_argument("--class", dest="class_name", metavar="NAME", help="the class of every recording without a manifest row")
    ap.add_argument("--teacher", metavar="NAME", help="the teacher of every recording without a manifest row")
    add_arguments(ap)
    args = ap.parse_args(argv)
    # Dask's own INFO lines (workers starting and stopping) would bury the progress bar; its
    # workers inherit the setting.
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "error")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    try:
        check_seconds(args.every, "the sampling interval (--every)")
        for name, v in (("--workers", args.workers), ("--threads-per-worker", args.threads_per_worker)):
            if v is not None and v < 1:
                raise BatchError(f"{name} must be at least 1, got {v}")
        jobs = plan(args.paths, args.manifest, args.class_name, args.teacher)
        if not jobs:
            raise BatchError("no recordings found in " + " ".join(args.paths))
        report_dir = str(check_report_dir(args.report_dir).resolve()) if args.report_dir else None
        for job in jobs:
            job.aggregate_only, job.stage, job.report_dir = args.aggregate_only, not args.no_stage, report_dir
        Store(args.db).close()  # the database must open before any work starts (and its schema exist)
    except (BatchError, SourceError, StoreError, ValueError) as e:
        print(f"classmood-batch: {e}", file=sys.stderr)
        return 2
    try:
        outcomes = run_batch(jobs, args.db, args.every, args.scheduler, args.workers, args.threads_per_worker)
    except BatchError as e:
        print(f"classmood-batch: {e}", file=sys.stderr)
        return 2
    except (OSError, TimeoutError) as e:
        print(f"classmood-batch: cannot reach the scheduler {args.scheduler}: {_short(e)}", file=sys.stderr)
        return 2
    print(summary_table(outcomes))
    failed = [o for o in outcomes if o.status.startswith("failed")]
    done = sum(o.status == "done" for o in outcomes)
    skipped = sum(o.status.startswith("skipped") for o in outcomes)
    print(f"{done} analysed, {skipped} already stored, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
