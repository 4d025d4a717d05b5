"""Shared fixtures. Tests that need FER2013 or a system tool skip with the reason, except under
CI (`CI=true`), where a missing requirement is a failure."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


# `make test-fast` (-m "not slow") leaves out what needs a real server, browser, display or
# training run, or whole recordings through subprocesses: these modules, and any test that uses
# one of these fixtures (or is marked slow itself). `make test` runs everything, as CI does.
SLOW_MODULES = {
    "test_ui_browser": "the app in headless Chromium",
    "test_ui_security": "the app as a real server (its in-process checks are marked fast below)",
    "test_screen_bot": "the bot on a real X display", "test_meeting_window": "a real X display",
    "test_batch": "Dask clusters", "test_store_postgres": "a real PostgreSQL server",
    "test_store_faults": "a real PostgreSQL server stopped mid-lesson",
    "test_distill": "training runs", "test_training": "training runs",
    "test_teachers_and_calibration": "training runs", "test_litert": "conversions and CLI runs",
    "test_evaluate": "CLI runs", "test_bench_isa": "the benches under another ISA",
    "test_desktop_recordings": "whole screen recordings", "test_names": "Tesseract on every real screenshot",
}
SLOW_FIXTURES = {"pg_server", "pg_url", "browser", "app", "open_app", "locked_app", "strict_app"}
FAST = {"test_the_sign_in_throttle_on_a_clock_of_its_own", "test_an_error_page_carries_the_security_headers"}


def pytest_collection_modifyitems(items):
    for item in items:
        module = item.module.__name__.rsplit(".", 1)[-1]
        if item.originalname in FAST:
            continue
        if module in SLOW_MODULES or SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


def require(condition: bool, reason: str) -> None:
    """Skip (fail under CI) when `condition` is false."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required under CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def fer2013_path() -> Path:
    from training.data import default_fer2013_path

    p = default_fer2013_path()
    require(p is not None, "FER2013 not found: set CLASSMOOD_FER2013 to the npz file or place it at "
                           "../shared/data/fer2013/fer2013_original_trainval.npz")
    return p


@pytest.fixture(scope="session")
def fer2013(fer2013_path):
    from training.data import load_npz

    return load_npz(fer2013_path)


def make_faces(n: int, seed: int = 0) -> np.ndarray:
    """Synthetic 48x48 'faces' whose class is visible (a bright blob at a class-specific place),
    so a tiny net can learn something in a few steps."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 7
    x = rng.integers(0, 60, (n, 48, 48)).astype(np.uint8)
    for i, c in enumerate(y):
        r, col = divmod(int(c), 3)
        x[i, 4 + r * 14: 16 + r * 14, 4 + col * 14: 16 + col * 14] = 220
    return x, y.astype(np.uint8)


@pytest.fixture(scope="session")
def small_npz(tmp_path_factory) -> Path:
    """A small FER-layout npz, sorted by class like the real one."""
    x, y = make_faces(210, seed=1)
    xv, yv = make_faces(70, seed=2)
    order, order_v = np.argsort(y, kind="stable"), np.argsort(yv, kind="stable")
    p = tmp_path_factory.mktemp("data") / "small.npz"
    np.savez_compressed(p, x_train=x[order], y_train=y[order], x_val=xv[order_v], y_val=yv[order_v],
                        votes_train=make_votes(y[order], seed=3), votes_val=make_votes(yv[order_v], seed=4),
                        row_train=np.arange(len(y), dtype=np.int32) * 3 + 1,
                        row_val=np.arange(len(yv), dtype=np.int32) * 3 + 2,
                        classes=np.array(["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]),
                        vote_columns=np.array(VOTE_COLUMNS))
    return p


VOTE_COLUMNS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt", "unknown", "NF")
_OUR_VOTE_COLUMN = (4, 5, 6, 1, 3, 2, 0)  # EMOTIONS order -> FER+ column


def make_votes(y: np.ndarray, seed: int = 0) -> np.ndarray:
    """Ten annotators a face: most vote for the label, some for another class or contempt/unknown/NF."""
    rng = np.random.default_rng(seed)
    votes = np.zeros((len(y), 10), np.uint8)
    for i, c in enumerate(y):
        for _ in range(10):
            col = _OUR_VOTE_COLUMN[int(c)] if rng.random() < 0.7 else int(rng.integers(0, 10))
            votes[i, col] += 1
    return votes


@pytest.fixture(scope="session")
def random_model_path(tmp_path_factory) -> Path:
    """A randomly initialised network of the shipped architecture, saved as a .keras file with a card."""
    from model import EMOTIONS
    from model.network import make_model
    from model.card import write_card

    p = tmp_path_factory.mktemp("model") / "random.keras"
    make_model(width=8, blocks=3, seed=0).save(p)
    write_card(p, {"classes": list(EMOTIONS), "note": "random weights for contract tests"})
    return p


def run_cli(*args: str, timeout: int = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run a console script of ours from the venv, as a user does."""
    exe = Path(sys.executable).parent / args[0]
    return subprocess.run([str(exe), *args[1:]], capture_output=True, text=True, timeout=timeout,
                          cwd=REPO, env={**os.environ, **(env or {})})


def call_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """`run_cli`'s answer without a new process: the command's `main(argv)` called here, its stdout,
    stderr and log lines captured (the logging it configures is undone after). For error paths:
    a bad argument or file costs milliseconds instead of a Python start and TensorFlow's import."""
    import contextlib
    import importlib
    import io
    import logging
    import signal
    import tomllib

    if args[0] == "python":
        assert args[1] == "-m", args
        module, func, argv = args[2], "main", list(args[3:])
    else:
        scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
        module, func = scripts[args[0]].split(":")
        argv = list(args[1:])
    main = getattr(importlib.import_module(module), func)
    out, err = io.StringIO(), io.StringIO()
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM),
             dict(os.environ))
    root.handlers = []  # so that the command's logging.basicConfig writes to the captured stderr
    os.environ.update(env or {})
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as e:  # argparse's usage errors
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    finally:
        for h in root.handlers:
            h.close()
        root.handlers, level, sigint, sigterm, environ = saved
        root.setLevel(level)
        signal.signal(signal.SIGINT, sigint)
        signal.signal(signal.SIGTERM, sigterm)
        os.environ.clear()
        os.environ.update(environ)
    return subprocess.CompletedProcess(list(args), int(code or 0), out.getvalue(), err.getvalue())


GALLERIES = Path(os.environ.get("CLASSMOOD_GALLERIES", REPO.parent / "shared" / "data" / "galleries"))


GALLERIES2 = Path(os.environ.get("CLASSMOOD_GALLERIES2", REPO.parent / "shared" / "data" / "galleries2"))


def named_gallery(names, faces=None, size=(1600, 900), seed: int = 4):
    """A synthetic gallery whose tiles carry `names` drawn as meeting apps draw them; `faces` by
    default face-free noise tiles (the names are what is read)."""
    from bot.synthetic import render_gallery

    if faces is None:
        faces = np.random.default_rng(0).integers(60, 200, (len(names), 48, 48), dtype=np.uint8)
    return render_gallery(faces, len(names), size=size, names=names, seed=seed)


def read_manifest(folder: Path, variable: str) -> list[dict]:
    """A folder of real meeting screenshots with its MANIFEST.tsv rows (counts as ints)."""
    import csv

    manifest = folder / "MANIFEST.tsv"
    require(manifest.exists(), f"real meeting screenshots not found at {folder} (set {variable})")
    rows = list(csv.DictReader(manifest.open(), delimiter="\t"))
    for r in rows:
        for k in ("tiles", "participant_faces", "partial_faces", "camera_off_tiles"):
            r[k] = int(r[k])
        r["path"] = folder / r["file"]
    return rows


@pytest.fixture(scope="session")
def real_galleries() -> list[dict]:
    """The real Zoom screenshots with their MANIFEST.tsv rows (counts as ints)."""
    return read_manifest(GALLERIES, "CLASSMOOD_GALLERIES")


@pytest.fixture(scope="session")
def real_galleries2() -> list[dict]:
    """The second set: meeting windows, Google Meet, screen shares, speaker view, avatars."""
    return read_manifest(GALLERIES2, "CLASSMOOD_GALLERIES2")


@pytest.fixture(scope="session")
def fer_faces(fer2013) -> np.ndarray:
    """Seeded FER2013 val faces for synthetic galleries (stratified: every expression)."""
    from bot.synthetic import detectable_faces
    from training.data import stratified_sample

    x, y = fer2013["val"]
    return detectable_faces(x[stratified_sample(y, 700, seed=7)])


@pytest.fixture(scope="session")
def analyzer():
    from bot import GalleryAnalyzer

    return GalleryAnalyzer()


def face_video(path: Path, faces: np.ndarray, seconds: float, fps: float = 10.0, size=(640, 360),
               galleries: int = 1) -> Path:
    """An mp4 written by OpenCV: a two-tile gallery of real faces; the frame index is drawn in the
    top row as 8 bits, one black or white 16x16 square each (survives lossy compression).

    `galleries` above 1: each frame shows the next of that many galleries (other faces), so that
    no frame repeats the last one and each costs a full analysis (a recording that takes a while)."""
    import cv2

    from bot.synthetic import render_gallery

    shown = [render_gallery(faces[2 * k:], 2, size=size, seed=3 + k) for k in range(galleries)]
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    assert w.isOpened()
    for i in range(int(seconds * fps)):
        img = shown[i % galleries].image.copy()
        for bit in range(8):
            img[:16, 16 * bit:16 * bit + 16] = 255 if (i >> bit) & 1 else 0
        w.write(img)
    w.release()
    return path


@pytest.fixture(scope="session")
def pg_server():
    """A real PostgreSQL server for the session (see tests/pgserver.py); skipped (failed under CI)
    where PostgreSQL is not installed."""
    from bot import pgserver

    why = pgserver.missing()
    require(why is None, why or "")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        require(False, "psycopg is not installed (pip install 'psycopg[binary]')")
    server = pgserver.start()
    yield server
    pgserver.remove(server)


_DB_COUNT = iter(range(1, 1 << 30))


@pytest.fixture
def pg_url(pg_server):
    """A fresh, empty PostgreSQL database for one test: its URL (with the password)."""
    return pg_server.create_db(f"classmood_test_{next(_DB_COUNT)}")
