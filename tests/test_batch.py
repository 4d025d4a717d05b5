"""`classmood-batch` on a real LocalCluster of 2 workers: a folder with a corrupt file, a recording
already analysed and a manifest row; lesson dates from the manifest, the file's metadata and its
modification time; a worker killed mid-recording and the recording retried; PostgreSQL as target."""

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bot.batch import BatchError, collect, lesson_date, plan, read_manifest
from bot.store import Store
from tests.conftest import call_cli, face_video, run_cli

pytest.importorskip("distributed", reason="dask[distributed] is a dependency of classmood-batch")


def _batch(*args, timeout=600):
    return run_cli("classmood-batch", *args, timeout=timeout, env={"DASK_LOGGING__DISTRIBUTED": "error"})


def _with_creation_time(src: Path, dst: Path, when: str) -> Path:
    """A copy of `src` (remuxed by PyAV) whose container says it was recorded at `when`."""
    import av

    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        out.metadata["creation_time"] = when
        s_in = inp.streams.video[0]
        s_out = out.add_stream_from_template(s_in)
        for packet in inp.demux(s_in):
            if packet.dts is None:
                continue
            packet.stream = s_out
            out.mux(packet)
    return dst


@pytest.fixture(scope="module")
def term(tmp_path_factory, fer_faces):
    d = tmp_path_factory.mktemp("term")
    a = face_video(d / "monday.mp4", fer_faces, seconds=12, fps=5)
    b = face_video(d / "tuesday.mp4", fer_faces[10:], seconds=12, fps=5)
    (d / "sub").mkdir()
    raw = face_video(tmp_path_factory.mktemp("raw") / "raw.mp4", fer_faces[20:], seconds=12, fps=5)
    c = _with_creation_time(raw, d / "sub" / "wednesday.mp4", "2026-03-18T08:15:00.000000Z")
    os.utime(b, (dt.datetime(2026, 3, 17, 10, 0).timestamp(),) * 2)
    (d / "broken.mp4").write_bytes(np.random.default_rng(0).bytes(4000))
    (d / "notes.txt").write_text("not a recording\n")
    manifest = d / "manifest.csv"
    manifest.write_text("path,class,teacher,date\nmonday.mp4,Maths 3B,Ms Kim,2026-03-16 09:30\n")
    return {"dir": d, "monday": a, "tuesday": b, "wednesday": c, "manifest": manifest}


def test_collect_and_manifest(term, tmp_path):
    listing = tmp_path / "list.txt"
    listing.write_text(f"# this week\n{term['monday']}\n{term['tuesday']}\n")
    got = collect([str(term["dir"])])
    assert sorted(Path(p).name for p in got) == ["broken.mp4", "monday.mp4", "tuesday.mp4", "wednesday.mp4"]
    assert collect([str(listing)]) == [str(term["monday"]), str(term["tuesday"])]
    assert collect([str(term["dir"] / "*day.mp4")]) == [str(term["monday"]), str(term["tuesday"])]
    rows = read_manifest(str(term["manifest"]))
    assert rows[str(term["monday"])]["class"] == "Maths 3B"
    jobs = {Path(j.path).name: j for j in plan([str(term["dir"])], str(term["manifest"]), teacher="Mr Lee")}
    assert jobs["monday.mp4"].teacher == "Ms Kim" and jobs["tuesday.mp4"].teacher == "Mr Lee"
    bad = tmp_path / "bad.csv"
    bad.write_text("path,class,teacher,date\nx.mp4,a,b,next tuesday\n")
    with pytest.raises(BatchError, match="line 2: date 'next tuesday' is not an ISO date"):
        read_manifest(str(bad))


def test_lesson_date_from_metadata_else_modification_time(term):
    when, source = lesson_date(str(term["wednesday"]))
    assert source == "file metadata"
    assert when == dt.datetime(2026, 3, 18, 8, 15, tzinfo=dt.timezone.utc).timestamp()
    when, source = lesson_date(str(term["tuesday"]))
    assert source == "file modification time" and when == dt.datetime(2026, 3, 17, 10, 0).timestamp()


def test_batch_on_a_folder_with_two_workers(term, tmp_path):
    db = tmp_path / "term.db"
    first = _batch(str(term["tuesday"]), "--db", str(db), "--workers", "1", "--every", "2")
    assert first.returncode == 0, first.stderr[-3000:]
    before = time.time()
    r = _batch(str(term["dir"]), "--db", str(db), "--workers", "2", "--threads-per-worker", "1", "--every", "2",
               "--manifest", str(term["manifest"]), "--teacher", "Mr Lee", "--report-dir", str(tmp_path / "reports"))
    assert r.returncode == 1, r.stderr[-3000:]  # one recording failed: said in the exit status
    table = {line.split()[0]: line for line in r.stdout.splitlines() if line.endswith(("done", "stored)")) or
             "failed" in line}
    assert "failed" in table["broken.mp4"] and "skipped (already stored)" in table["tuesday.mp4"]
    assert table["monday.mp4"].endswith("done") and table["wednesday.mp4"].endswith("done")
    assert "2 analysed, 1 already stored, 1 failed" in r.stdout
    assert "Traceback" not in r.stderr and "recordings" in r.stderr  # the progress bar
    s = Store(db).sessions().set_index("name")
    assert sorted(s.index) == ["monday.mp4", "tuesday.mp4", "wednesday.mp4"]  # tuesday once, broken none
    assert (s["frames"] == 6).all() and s["ended"].notna().all()
    assert s.loc["monday.mp4", "class_name"] == "Maths 3B" and s.loc["monday.mp4", "teacher"] == "Ms Kim"
    assert s.loc["wednesday.mp4", "teacher"] == "Mr Lee"
    started = {k: v.timestamp() for k, v in s["started"].items()}
    assert started["monday.mp4"] == dt.datetime(2026, 3, 16, 9, 30).timestamp()  # the manifest's date
    assert started["wednesday.mp4"] == dt.datetime(2026, 3, 18, 8, 15, tzinfo=dt.timezone.utc).timestamp()
    assert started["tuesday.mp4"] == dt.datetime(2026, 3, 17, 10, 0).timestamp()
    assert all(v < before for v in started.values())  # never the time of the analysis
    # each recording's post-class report, stored with its session; written where asked
    written = sorted(p.name.split("-", 3)[3] for p in (tmp_path / "reports").glob("classmood-report-*.html"))
    assert written == ["monday.mp4.html", "wednesday.mp4.html"]
    with Store(db) as st:
        assert all(st.report(int(i)) is not None for i in s["id"])


def test_bad_arguments_are_one_line_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    for args, msg in [(["--workers", "0"], "--workers must be at least 1"),
                      (["--every", "0"], "finite number of seconds above 0"),
                      ([], "no recordings found")]:
        r = call_cli("classmood-batch", str(tmp_path / "empty"), "--db", str(tmp_path / "x.db"), *args)
        lines = [x for x in r.stderr.splitlines() if x.strip()]
        assert r.returncode == 2 and len(lines) == 1 and msg in lines[0], r.stderr


def _children(pid: int) -> list[int]:
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                if int(Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(p))
            except (OSError, IndexError, ValueError):
                continue
    return out


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc to find the worker")
def test_a_worker_killed_mid_recording_is_retried(fer_faces, tmp_path):
    video = face_video(tmp_path / "long.mp4", fer_faces, seconds=90, fps=5, galleries=3)
    db = tmp_path / "k.db"
    exe = Path(sys.executable).parent / "classmood-batch"
    p = subprocess.Popen([str(exe), str(video), "--db", str(db), "--workers", "1", "--every", "0.2"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env={**os.environ, "DASK_LOGGING__DISTRIBUTED": "error"})
    killed = None
    deadline = time.time() + 240
    while time.time() < deadline and killed is None and p.poll() is None:
        time.sleep(0.3)
        try:
            s = Store(db).sessions()
        except Exception:  # noqa: BLE001 - not created yet
            continue
        if len(s) and s.loc[0, "frames"] >= 20 and s["ended"].isna().all():
            # the worker that analyses: the child of the batch process that has children (the detector's)
            workers = [c for c in _children(p.pid) if _children(c)]
            assert workers, "no Dask worker process found"
            os.kill(workers[0], signal.SIGKILL)
            killed = workers[0]
    out, err = p.communicate(timeout=600)
    assert killed is not None, "the recording finished before the worker could be killed"
    assert p.returncode == 0, err[-3000:]
    assert "1 analysed, 0 already stored, 0 failed" in out
    s = Store(db).sessions()
    assert len(s) == 1 and s.loc[0, "frames"] == 450 and s.loc[0, "ended"] is not None  # the half session went


def test_batch_into_postgresql(term, pg_url):
    r = _batch(str(term["monday"]), str(term["wednesday"]), "--db", pg_url, "--workers", "2",
               "--class", "History 2A", "--every", "3", "--aggregate-only")
    assert r.returncode == 0, r.stderr[-3000:]
    assert pg_url.split(":")[2].split("@")[0] not in r.stdout + r.stderr
    store = Store(pg_url)
    s = store.sessions()
    assert sorted(s["name"]) == ["monday.mp4", "wednesday.mp4"] and (s["class_name"] == "History 2A").all()
    assert (s["frames"] == 4).all() and s["aggregate_only"].all() and (s["observations"] == 0).all()
    for sid in s["id"]:  # class-only: the class's counts, the report, and nothing per participant
        assert store.timeline(int(sid), 6.0)["faces"].sum() > 0 and store.participants(int(sid)).empty
        assert "Class-only session" in store.report(int(sid))[1]


def test_one_recording_given_twice_at_once_is_analysed_once(fer_faces, tmp_path):
    """Two copies of one file (one content hash) on two workers at the same moment: one session."""
    import shutil

    video = face_video(tmp_path / "a.mp4", fer_faces, seconds=40, fps=5)
    shutil.copy(video, tmp_path / "copy_of_a.mp4")
    db = tmp_path / "twice.db"
    r = _batch(str(tmp_path / "a.mp4"), str(tmp_path / "copy_of_a.mp4"), "--db", str(db), "--workers", "2",
               "--threads-per-worker", "1", "--every", "1")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "1 analysed, 1 already stored, 0 failed" in r.stdout or "being analysed by another worker" in r.stdout
    s = Store(db).sessions()
    assert len(s) == 1 and s.loc[0, "frames"] == 40 and not s.loc[0, "interrupted"]


def test_the_local_cluster_listens_on_loopback_without_a_dashboard(monkeypatch):
    """Dask's dashboard of a LocalCluster listened on 0.0.0.0 without authentication; its workers
    keep glibc's adaptive mmap threshold (Dask's MALLOC_TRIM_THRESHOLD_ cost 30% on 1080p frames)."""
    import distributed

    from bot.batch import Job, run_batch

    seen = {}

    class Refused(Exception):
        pass

    def fake_cluster(**kwargs):
        import dask
        from distributed.nanny import _get_env_variables

        seen.update(kwargs, environ=_get_env_variables("distributed.nanny.pre-spawn-environ"))
        assert dask.config.get("distributed.nanny.pre-spawn-environ.OMP_NUM_THREADS") is not None
        raise Refused

    monkeypatch.setattr(distributed, "LocalCluster", fake_cluster)
    with pytest.raises(Refused):
        run_batch([Job("x.mp4")], "x.db", workers=1)
    assert seen["dashboard_address"] is None and seen["host"] == "127.0.0.1"
    # glibc keeps its adaptive mmap threshold in the workers: frames are not mapped afresh each time
    assert "MALLOC_TRIM_THRESHOLD_" not in seen["environ"] and "OMP_NUM_THREADS" in seen["environ"]
