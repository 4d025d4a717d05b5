import json

import numpy as np

from model import EmotionClassifier
from tests.conftest import call_cli, run_cli

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
    assert 0 < float(row["val_ece_mapped"]) < 1
    # and issue 31's measures: calm faces read negative, at full size, at 24 px and through a call
    # (24 px, JPEG 30)
    for k in ("val_neutral_negative", "val_neutral_negative_24px", "val_neutral_negative_24px_q30",
              "val_accuracy_24px", "val_accuracy_24px_q30"):
        assert 0 <= float(row[k]) <= 1, k

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
    r = call_cli("classmood-train", "--data", str(tmp_path / "missing.npz"), "--out", str(tmp_path / "o"))
    assert r.returncode == 2
    assert "missing.npz: no such file" in r.stderr
    assert "Traceback" not in r.stderr


def test_history_of_a_run_resumed_after_an_update_keeps_its_columns_aligned(tmp_path):
    import csv

    from training.loop import append_history

    hist = tmp_path / "history.csv"
    hist.write_text("epoch,accuracy,val_accuracy,seconds\n1,0.5,0.4,10.0\n")  # written before val_ece existed
    append_history(hist, {"epoch": 2, "accuracy": 0.6, "val_accuracy": 0.45, "val_ece": 0.08,
                          "val_ece_calibrated": 0.03, "seconds": 9.5})
    with open(hist, newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["epoch", "accuracy", "val_accuracy", "seconds", "val_ece", "val_ece_calibrated"]
    assert rows[0] == {"epoch": "1", "accuracy": "0.5", "val_accuracy": "0.4", "seconds": "10.0",
                       "val_ece": "", "val_ece_calibrated": ""}
    assert rows[1]["seconds"] == "9.5" and rows[1]["val_ece_calibrated"] == "0.03"
    append_history(hist, {"epoch": 3, "accuracy": 0.7, "val_accuracy": 0.5, "val_ece": 0.07,
                          "val_ece_calibrated": 0.02, "seconds": 9.0})  # same columns: appended as is
    fresh = tmp_path / "new.csv"
    append_history(fresh, {"epoch": 1, "val_accuracy": 0.4})
    assert fresh.read_bytes() == b"epoch,val_accuracy\n1,0.4\n"
    assert hist.read_text().splitlines()[-1] == "3,0.7,0.5,9.0,0.07,0.02"


def test_history_already_misaligned_by_an_older_resume_is_mended(tmp_path):
    import csv

    from training.loop import append_history

    hist = tmp_path / "history.csv"
    # an old header, then a row appended by the newer version before this fix: two values too many
    hist.write_text("epoch,val_accuracy,seconds\n1,0.4,10.0\n2,0.45,0.08,0.03,9.5\n")
    append_history(hist, {"epoch": 3, "val_accuracy": 0.5, "val_ece": 0.07, "val_ece_calibrated": 0.02,
                          "seconds": 9.0})
    with open(hist, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["seconds"] for r in rows] == ["10.0", "9.5", "9.0"]
    assert [r["val_ece"] for r in rows] == ["", "0.08", "0.07"]
    assert all(None not in r for r in rows)
