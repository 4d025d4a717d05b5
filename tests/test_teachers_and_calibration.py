"""Saved teachers' answers (training/teachers/*.npz), the fixed views they were saved under, soft
targets from the FER+ votes, the time-planned schedule, and temperature scaling."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO, call_cli, run_cli
from training import views
from training.data import DatasetError

TEACHER_FILES = sorted((REPO / "training" / "teachers").glob("*.npz"))


def test_fixed_views_depend_on_the_row_not_the_position():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (6, 48, 48), dtype=np.uint8)
    rows = np.array([5, 900, 17, 35886, 3, 12000])
    a = views.render(x, rows, 7)
    perm = np.array([3, 0, 5, 1, 4, 2])
    b = views.render(x[perm], rows[perm], 7)
    np.testing.assert_array_equal(a[perm], b)
    assert not np.array_equal(views.render(x, rows, 8), a)  # another view, other warps
    np.testing.assert_array_equal(views.render(x, rows, 0), x.astype(np.float32))
    np.testing.assert_array_equal(views.render(x, rows, 1), x[:, :, ::-1].astype(np.float32))
    with pytest.raises(ValueError, match="view"):
        views.render(x, rows, views.NUM_VIEWS)


def test_zoom_views_are_the_served_zoom_views():
    from model.classifier import tta_views

    x = np.random.default_rng(1).integers(0, 256, (3, 48, 48), dtype=np.uint8)
    served = tta_views(x[..., None])
    rows = np.arange(3)
    for v in (2, 3):
        diff = np.abs(views.render(x, rows, v) - served[v][..., 0].astype(np.float32))
        assert diff.max() <= 1.0  # the served view is rounded to uint8


def _teacher_file(path: Path, rows: np.ndarray, probs: np.ndarray | None = None) -> Path:
    if probs is None:
        probs = np.random.default_rng(0).dirichlet(np.ones(7), (views.NUM_VIEWS, len(rows)))
    np.savez(path, probs=probs.astype(np.float16), row_train=rows.astype(np.int32),
             val_probs=np.zeros((1, 7), np.float16), meta=np.array(json.dumps({"ensemble": {"val_accuracy_4views": 0.5},
                                                                               "teachers": [{}, {}]})))
    return path


def test_teacher_file_is_aligned_by_row(tmp_path):
    from training.teachers import load_teacher_file

    rows = np.array([10, 20, 30, 40])
    probs = np.zeros((views.NUM_VIEWS, 4, 7))
    probs[:, np.arange(4), np.arange(4)] = 1  # face at row 10 -> class 0, row 20 -> class 1, ...
    f = _teacher_file(tmp_path / "t.npz", rows, probs)
    got = load_teacher_file(f, np.array([30, 10]))
    assert got.shape == (views.NUM_VIEWS, 2, 7)
    assert got[0].argmax(1).tolist() == [2, 0]
    with pytest.raises(DatasetError, match="no saved answers for 1"):
        load_teacher_file(f, np.array([10, 99]))
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(DatasetError, match="not a readable teacher file"):
        load_teacher_file(tmp_path / "junk.npz", rows)


@pytest.mark.parametrize("path", TEACHER_FILES, ids=[p.name for p in TEACHER_FILES])
def test_shipped_teacher_files_are_tracked_and_match_the_training_set(path, fer2013_path):
    from training.data import load_rows
    from training.teachers import load_teacher_file

    tracked = subprocess.run(["git", "ls-files", "--error-unmatch", str(path.relative_to(REPO))], cwd=REPO,
                             capture_output=True, text=True)
    assert tracked.returncode == 0, f"{path.name} is not tracked by git (.gitignore must let it through)"
    assert path.stat().st_size < 12e6
    with np.load(path) as d:
        assert d["probs"].dtype == np.float16 and set(d.files) >= {"probs", "row_train", "meta"}
        assert not any(k.startswith("x_") for k in d.files)  # answers only, never pixels
        meta = json.loads(str(d["meta"]))
    rows = load_rows(fer2013_path)["train"]
    probs = load_teacher_file(path, rows)  # every training face has its answers
    assert probs.shape == (views.NUM_VIEWS, len(rows), 7)
    np.testing.assert_allclose(probs.sum(-1), 1, atol=0.02)
    assert meta["views"]["count"] == views.NUM_VIEWS and meta["views"]["seed"] == views.VIEW_SEED
    assert meta["teachers"] and "val_accuracy_4views" in meta["ensemble"]


def test_student_trains_from_a_teacher_file_and_votes(small_npz, tmp_path):
    from training.data import load_rows

    rows = load_rows(small_npz)["train"]
    f = _teacher_file(tmp_path / "t.npz", rows)
    out = tmp_path / "student"
    r = run_cli("classmood-train", "--data", str(small_npz), "--out", str(out), "--epochs", "2", "--steps", "2",
                "--batch-size", "16", "--width", "8", "--blocks", "3", "--teacher-file", str(f),
                "--votes-mix", "0.5", "--kd-alpha", "0.3", "--kd-temperature", "2", "--contrast", "equalize",
                "--time-limit", "600", "--low-res", "0.5", "--meeting", "0.4", env={"KERAS_BACKEND": "tensorflow"})
    assert r.returncode == 0, r.stderr[-3000:]
    card = json.loads((out / "best.json").read_text())
    assert card["recipe"]["teacher_file"]["file"] == "t.npz" and card["recipe"]["votes_mix"] == 0.5
    assert card["recipe"]["low_res"] == 0.5 and card["recipe"]["meeting"] == 0.4
    assert card["input"]["contrast"] == "equalize" and "saved teachers' answers" in card["optimizer"]
    other = _teacher_file(tmp_path / "other.npz", rows + 1000)
    r = call_cli("classmood-train", "--data", str(small_npz), "--out", str(tmp_path / "s2"), "--epochs", "1",
                "--steps", "1", "--width", "8", "--teacher-file", str(other))
    assert r.returncode == 2 and "made from another training set" in r.stderr and "Traceback" not in r.stderr


def test_soft_targets_mix_labels_and_votes(small_npz):
    from training.data import load_votes, vote_distribution
    from training.train import _targets, parse_args

    from training.data import load_npz

    y = load_npz(small_npz)["train"][1]
    args = parse_args(["--votes-mix", "0.4"])
    targets, teacher, rows = _targets(args, small_npz, y)
    dist, valid = vote_distribution(load_votes(small_npz)["train"])
    np.testing.assert_allclose(targets[valid], 0.6 * np.eye(7)[y[valid]] + 0.4 * dist[valid], atol=1e-6)
    np.testing.assert_allclose(targets.sum(1), 1, atol=1e-6)
    assert teacher is None and rows is None


def test_timed_cosine_plans_from_epoch_times_and_stops():
    from training.loop import TimedCosine

    class Opt:
        learning_rate = 0.0

    class Model:
        optimizer, stop_training = Opt(), False

    cb = TimedCosine(peak=1.0, warmup_epochs=1, epochs=100, seconds=50)
    cb.set_model(Model())
    clock = [0.0]
    import training.loop as loop

    real_time = loop.time.time
    loop.time.time = lambda: clock[0]
    try:
        cb.t0 = 0.0
        lrs, e = [], 0
        for e in range(100):
            cb.on_epoch_begin(e)
            lrs.append(cb.model.optimizer.learning_rate)
            clock[0] += 20.0 if e < 2 else 5.0  # two slow epochs (compilation), then 5 s each
            cb.on_epoch_end(e, {})
            if cb.model.stop_training:
                break
    finally:
        loop.time.time = real_time
    # 45 s spent after three epochs, 5 s (one 5-s epoch) left: four epochs in all
    assert e + 1 == cb.planned == 4
    assert lrs[0] == 0.5 and max(lrs) == 1.0 and lrs[-1] < lrs[1]


def test_temperature_scaling_recovers_a_known_temperature():
    from training.calibrate import calibrate, ece, fit_temperature, scale

    rng = np.random.default_rng(0)
    true = scale(np.exp(rng.normal(0, 2, (6000, 7))), 1.0)
    y = np.array([rng.choice(7, p=p) for p in true])
    overconfident = scale(true, 1 / 1.7)  # a model whose logits are 1.7x too large
    assert abs(fit_temperature(overconfident, y) - 1.7) < 0.1
    assert abs(fit_temperature(true, y) - 1.0) < 0.08
    report = calibrate(overconfident, y, seed=3)
    held = report["held_out"]
    assert held["ece_after"] < held["ece_before"] and held["nll_after"] < held["nll_before"]
    assert report["fit_faces"] + report["held_out_faces"] == 6000
    assert ece(true, y) < 0.03


def _class_wise_miscalibrated(n: int, seed: int):
    """Calibrated probabilities, labels drawn from them, then faces whose top class is 0 made
    over-confident and those of class 1 under-confident: no single temperature mends both."""
    from model.calibration import apply_top_label_map

    rng = np.random.default_rng(seed)
    z = rng.normal(0, 2, (n, 7))
    z[:, :2] += 1.0  # classes 0 and 1 predicted often enough to fit their own maps
    true = np.exp(z - z.max(axis=1, keepdims=True))
    true /= true.sum(axis=1, keepdims=True)
    y = (rng.random((n, 1)) > np.cumsum(true, axis=1)).sum(axis=1)
    distort = [[3.0, 0.0, 1.0], [0.4, 0.4, -0.3]] + [[1.0, 1.0, 0.0]] * 5  # row 2-6: the identity
    return true, apply_top_label_map(true, distort), y


def test_top_label_map_mends_what_one_temperature_cannot():
    from model.calibration import apply_top_label_map, beta_map
    from training.calibrate import calibrate, ece, fit_top_label_map

    true, seen, y = _class_wise_miscalibrated(12000, seed=4)
    report = calibrate(seen, y, seed=2)
    held = report["held_out"]
    assert held["ece_after"] > 2 * held["ece_after_map"]
    assert held["nll_after_map"] < held["nll_after"]
    assert held["ece_after_map"] < 1.5 * report["held_out_ece_floor"]["p90"]  # about as good as it can show
    assert len(report["top_label_map"]) == 7
    # on calibrated probabilities the maps found are about the identity; the answer never changes
    grid = np.linspace(0.3, 0.95, 14)
    for row in fit_top_label_map(true, y):
        assert np.abs(beta_map(grid, row) - grid).max() < 0.05, row
    fixed = apply_top_label_map(seen, report["top_label_map"])
    np.testing.assert_array_equal(fixed.argmax(1), seen.argmax(1))
    np.testing.assert_allclose(fixed.sum(1), 1)
    assert ece(true, y) < ece(seen, y)


def test_top_label_map_keeps_the_answer_and_the_order_of_confidence():
    from model.calibration import TOP_MARGIN, apply_top_label_map, beta_map, check_top_label_map

    rng = np.random.default_rng(5)
    p = rng.dirichlet(np.full(7, 0.3), 4000)
    harsh = [[0.0, 0.0, -8.0]] * 7  # sends every top probability towards 0
    q = apply_top_label_map(p, harsh)
    np.testing.assert_array_equal(q.argmax(1), p.argmax(1))  # held on top all the same, and visibly so
    top2 = np.sort(q, axis=1)[:, -2:]
    assert np.all(top2[:, 1] >= TOP_MARGIN * top2[:, 0] * (1 - 1e-9))
    np.testing.assert_allclose(q.sum(1), 1)
    rows = [[0.5 + k / 4, 1.5 - k / 8, k / 5 - 0.5] for k in range(7)]
    grid = np.linspace(0.01, 0.99, 99)
    for row in rows:  # a, b >= 0: a surer face is never made less sure than a less sure one
        assert np.all(np.diff(beta_map(grid, row)) > 0)
    q = apply_top_label_map(p, rows)
    k = p.argmax(1)
    free = q[np.arange(len(q)), k] > np.sort(q, 1)[:, -2] * TOP_MARGIN * 1.001  # keeping the answer did not bind
    np.testing.assert_allclose(q[np.arange(len(q)), k][free], [beta_map(c, rows[i]) for c, i in
                                                               zip(p.max(1)[free], k[free])], rtol=1e-6)
    assert apply_top_label_map(np.zeros((0, 7)), rows).shape == (0, 7)
    with pytest.raises(ValueError, match="7 rows"):
        check_top_label_map(rows[:6], 7)
    with pytest.raises(ValueError, match="monotone"):
        check_top_label_map([[1.0, -0.1, 0.0]] * 7, 7)


def test_ece_floor_is_the_noise_of_a_calibrated_sample():
    from training.calibrate import ece, ece_floor, scale

    rng = np.random.default_rng(1)
    z = rng.normal(0, 2, (16000, 7))
    true = np.exp(z - z.max(axis=1, keepdims=True))
    true /= true.sum(axis=1, keepdims=True)
    y = np.array([rng.choice(7, p=p) for p in true])
    small, large = ece_floor(true[:1000]), ece_floor(true)
    assert small["median"] <= small["p90"] and small["draws"] == 200
    assert 2.5 < small["median"] / large["median"] < 6  # sampling noise: about 1 / sqrt(faces)
    # calibrated faces show about the floor, not zero; a 3x overconfident model shows more
    found = [ece(true[i:i + 1000], y[i:i + 1000]) for i in range(0, 16000, 1000)]
    assert 0.5 * small["median"] < np.median(found) < 1.5 * small["median"]
    assert ece(scale(true[:1000], 1 / 3), y[:1000]) > 2 * small["p90"]


def test_ece_uses_fifteen_equal_width_bins():
    from training.calibrate import ece

    probs = np.array([[0.95, 0.05], [0.95, 0.05], [0.55, 0.45], [0.55, 0.45]])
    y = np.array([0, 0, 0, 1])
    # bin 14: confidence 0.95, accuracy 1 -> 0.05; bin 8: confidence 0.55, accuracy 0.5 -> 0.05
    assert ece(probs, y) == pytest.approx(0.5 * 0.05 + 0.5 * 0.05)


def test_teachers_command_reports_bad_input(tmp_path, small_npz):
    r = call_cli("python", "-m", "training.teachers", "--name", "x", "--data", str(small_npz),
                 "--models", str(tmp_path / "gone.keras"), "--dest", str(tmp_path))
    assert r.returncode == 2 and "gone.keras" in r.stderr and "Traceback" not in r.stderr
    (tmp_path / "bad.npz").write_bytes(b"junk")
    r = call_cli("python", "-m", "training.teachers", "--name", "x", "--data", str(tmp_path / "bad.npz"),
                 "--models", str(tmp_path / "gone.keras"), "--dest", str(tmp_path))
    assert r.returncode == 2 and "bad.npz" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "x.npz").exists()


def test_teachers_command_saves_answers_for_every_training_face(tmp_path, small_npz, random_model_path):
    r = run_cli("python", "-m", "training.teachers", "--name", "tiny", "--data", str(small_npz),
                "--models", str(random_model_path), str(random_model_path), "--dest", str(tmp_path),
                env={"KERAS_BACKEND": "tensorflow"})
    assert r.returncode == 0, r.stderr[-2000:]
    from training.data import load_rows
    from training.teachers import load_teacher_file

    probs = load_teacher_file(tmp_path / "tiny.npz", load_rows(small_npz)["train"])
    assert probs.shape == (views.NUM_VIEWS, 210, 7) and np.allclose(probs.sum(-1), 1, atol=0.02)
    with np.load(tmp_path / "tiny.npz") as d:
        meta = json.loads(str(d["meta"]))
        assert d["val_probs"].shape == (70, 7)
    assert len(meta["teachers"]) == 2 and 0 <= meta["ensemble"]["val_accuracy_4views"] <= 1


def test_teacher_commands_carry_the_label_smoothing_and_cycle_the_votes_mix(tmp_path):
    import argparse

    from training.teachers import teacher_command

    args = argparse.Namespace(data="d.npz", width=64, convs=3, epochs=300, batch_size=256, lr=3e-3,
                              label_smoothing=0.0, votes_mix=[0.0, 0.3], workers=3, mixed_precision=True,
                              steps=0)
    cmds = [teacher_command(args, i, tmp_path / f"t{i}", 200) for i in range(3)]
    opt = [dict(zip(c[3::1], c[4::1])) for c in cmds]  # option -> the value after it
    assert [o["--label-smoothing"] for o in opt] == ["0.0"] * 3
    assert [o["--votes-mix"] for o in opt] == ["0.0", "0.3", "0.0"]
    assert [o["--seed"] for o in opt] == ["1", "2", "3"] and all("--mixed-precision" in c for c in cmds)


def test_gpu_recipe_runs_end_to_end_on_a_cpu(small_npz, tmp_path):
    """training/recipes/gpu_teachers.sh as a GPU session runs it, shrunk to seconds (TensorFlow on
    this CPU instead of JAX on the GPU): teachers side by side, their answers saved, then the named
    students distilled from that file; with no students named it stops after the teacher file."""
    import os
    import sys

    env = dict(os.environ, PYTHON=sys.executable, KERAS_BACKEND="tensorflow", DATA=str(small_npz),
               NAME="smoke", OUT=str(tmp_path / "gpu"), T_SECONDS="20", S_SECONDS="10",
               T_ARGS="--teachers 2 --votes-mix 0 0.3 --label-smoothing 0 --width 8 --convs 1 --steps 2 "
                      "--epochs 2 --batch-size 32 --grace 60",
               S_COMMON="--epochs 2 --steps 2 --batch-size 32 --width 8 --blocks 2 --save-every 100000",
               STUDENTS="s1 --kd-alpha 0.2 --votes-mix 0.3")
    recipe = str(REPO / "training" / "recipes" / "gpu_teachers.sh")
    r = subprocess.run(["bash", recipe], cwd=REPO, env=env, capture_output=True, text=True, timeout=400)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    with np.load(tmp_path / "gpu" / "smoke.npz") as d:
        meta = json.loads(str(d["meta"]))
        assert d["probs"].shape == (views.NUM_VIEWS, 210, 7)
    assert len(meta["teachers"]) == 2
    assert "best val accuracy" in r.stdout and (tmp_path / "gpu" / "s1" / "best.keras").exists()
    card = (tmp_path / "gpu" / "s1" / "best.json").read_text()
    assert f"--teacher-file {tmp_path / 'gpu' / 'smoke.npz'}" in card  # distilled from the file just saved
    env.update(STUDENTS="", OUT=str(tmp_path / "gpu2"),  # one teacher of one step: only the ending is asked here
               T_ARGS="--teachers 1 --label-smoothing 0 --width 8 --convs 1 --steps 1 --epochs 1 --batch-size 32")
    r = subprocess.run(["bash", recipe], cwd=REPO, env=env, capture_output=True, text=True, timeout=400)
    assert r.returncode == 0 and "no STUDENTS named" in r.stdout, (r.stdout + r.stderr)[-3000:]
    assert (tmp_path / "gpu2" / "smoke.npz").exists() and not (tmp_path / "gpu2" / "s1").exists()
