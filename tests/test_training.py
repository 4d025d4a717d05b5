import json

import numpy as np

from model import EmotionClassifier
from tests.conftest import run_cli

TINY = ["--width", "8", "--blocks", "2", "--batch-size", "32", "--steps", "3"]


def test_training_smoke_saves_resumes_and_reloads(small_npz, tmp_path):
    out = tmp_path / "run"
    r = run_cli("classmood-train", "--data", str(small_npz), "--out", str(out), "--epochs", "1",
                "--limit", "140", *TINY)
    assert r.returncode == 0, r.stderr[-2000:]
    config = json.loads((out / "config.json").read_text())
    assert config["epochs"] == 1 and config["train_size"] == 140 and config["width"] == 8
    assert config["command"].startswith("classmood-train --data")
    state = json.loads((out / "state.json").read_text())
    assert state["epoch"] == 1

    r = run_cli("classmood-train", "--data", str(small_npz), "--out", str(out), "--epochs", "2",
                "--limit", "140", "--resume", *TINY)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "resuming after epoch 1" in r.stdout
    assert json.loads((out / "state.json").read_text())["epoch"] == 2
    history = (out / "history.csv").read_text().strip().splitlines()
    assert len(history) == 3  # header + 2 epochs
    row = dict(zip(history[0].split(","), history[-1].split(",")))  # calibration logged every epoch
    assert 0 < float(row["val_ece"]) < 1 and 0 < float(row["val_ece_calibrated"]) < 1

    best = out / "best.keras"
    card = json.loads((out / "best.json").read_text())
    assert card["val"]["n"] == 70 and 0 <= card["val"]["accuracy"] <= 1
    assert best.stat().st_size < (out / "last.keras").stat().st_size  # no optimizer state
    clf = EmotionClassifier.load(best)
    assert clf.predict(np.zeros((2, 48, 48), np.uint8)).shape == (2, 7)


def test_training_on_fer2013_sample(fer2013_path, tmp_path):
    out = tmp_path / "fer"
    r = run_cli("classmood-train", "--data", str(fer2013_path), "--out", str(out), "--epochs", "1",
                "--limit", "700", "--val-limit", "140", *TINY)
    assert r.returncode == 0, r.stderr[-2000:]
    config = json.loads((out / "config.json").read_text())
    assert config["train_size"] == 700
    card = json.loads((out / "best.json").read_text())
    # a stratified sample of the class-sorted val split holds every class
    assert all(m["support"] > 0 for m in card["val"]["per_class"].values())
    EmotionClassifier.load(out / "best.keras")


def test_training_without_data_is_a_clear_error(tmp_path):
    r = run_cli("classmood-train", "--data", str(tmp_path / "missing.npz"), "--out", str(tmp_path / "o"))
    assert r.returncode == 2
    assert "missing.npz: no such file" in r.stderr
    assert "Traceback" not in r.stderr
