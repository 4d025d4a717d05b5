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
                           "../shared/data/fer2013/fer2013_trainval.npz")
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
                        classes=np.array(["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]))
    return p


@pytest.fixture(scope="session")
def random_model_path(tmp_path_factory) -> Path:
    """A randomly initialised network of the shipped architecture, saved as a .keras file with a card."""
    from model import EMOTIONS, make_model
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
