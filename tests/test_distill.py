"""Distillation: frozen teachers, the loss, the student that comes out, mixed-precision export."""

import json
import zipfile

import numpy as np
import pytest

from model import EmotionClassifier
from model.network import make_model
from tests.conftest import call_cli, run_cli

TINY = ["--width", "8", "--blocks", "2", "--batch-size", "32", "--steps", "3"]


@pytest.fixture(scope="module")
def teacher_files(tmp_path_factory):
    """Two small teachers of different shapes, each with dropout (which must not fire while teaching)."""
    d = tmp_path_factory.mktemp("teachers")
    paths = []
    for i, convs in enumerate((2, 3)):
        m = make_model(width=8, blocks=2, convs=convs, dropout=0.5, seed=i)
        m.set_weights([w + np.random.default_rng(i).normal(0, 0.05, w.shape).astype(w.dtype) for w in m.get_weights()])
        p = d / f"t{i}.keras"
        m.save(p)
        paths.append(p)
    return paths


def _faces(n=16, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (n, 48, 48, 1)).astype("float32")


def test_teachers_answer_the_same_while_the_student_trains(teacher_files):
    import keras

    from training import distill

    teachers = [distill.load_teacher(p, i) for i, p in enumerate(teacher_files)]
    assert [t.name for t in teachers] == ["teacher0", "teacher1"]
    x = _faces()
    expected = np.mean([t.predict(v, verbose=0) for t in teachers for v in (x, x[:, :, ::-1])], axis=0)
    distiller = distill.build_distiller(make_model(width=8, blocks=2, seed=5), teachers)
    out = keras.ops.convert_to_numpy(distiller(x, training=True))
    assert out.shape == (16, 14)
    np.testing.assert_allclose(out[:, 7:], expected, atol=1e-5)
    np.testing.assert_allclose(out.sum(axis=1), 2.0, atol=1e-4)

    before = [w.copy() for t in teachers for w in t.get_weights()]
    student = distill.student_of(distiller)
    student_before = [w.copy() for w in student.get_weights()]
    distiller.compile(optimizer=keras.optimizers.Adam(1e-2), loss=distill.DistillLoss(0.2, 2.0),
                      metrics=[distill.student_accuracy])
    y = np.eye(7, dtype="float32")[np.arange(16) % 7]
    distiller.fit(x, y, epochs=1, batch_size=8, verbose=0)
    after = [w for t in teachers for w in t.get_weights()]
    assert all(np.array_equal(a, b) for a, b in zip(before, after)), "a teacher changed"
    assert any(not np.array_equal(a, b) for a, b in zip(student_before, student.get_weights()))


def test_distill_loss_halves():
    from training.distill import DistillLoss

    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(7), 8).astype("float32")
    q = rng.dirichlet(np.ones(7), 8).astype("float32")
    y = np.eye(7, dtype="float32")[rng.integers(0, 7, 8)]
    ce = float(np.mean(-np.log(p[np.arange(8), y.argmax(1)])))
    # alpha = 1: plain cross-entropy with the labels, whatever the teachers say
    assert float(DistillLoss(1.0, 2.0)(y, np.concatenate([p, q], 1))) == pytest.approx(ce, rel=1e-4)
    # alpha = 0 and a student that agrees with its teachers: nothing to learn
    assert float(DistillLoss(0.0, 2.0)(y, np.concatenate([q, q], 1))) == pytest.approx(0.0, abs=1e-5)
    assert float(DistillLoss(0.0, 2.0)(y, np.concatenate([p, q], 1))) > 0.01


def test_student_cli_run_keeps_only_the_student(small_npz, teacher_files, tmp_path):
    out = tmp_path / "student"
    r = run_cli("classmood-train", "--data", str(small_npz), "--out", str(out), "--epochs", "2",
                "--teachers", *map(str, teacher_files), "--mixup", "0.5", "--save-every", "5",
                "--label-smoothing", "0", *TINY)
    assert r.returncode == 0, r.stderr[-2000:]
    config = json.loads((out / "config.json").read_text())
    assert [t["sha256"] for t in config["teachers"]] and 0 <= config["teacher_ensemble_val_accuracy"] <= 1
    card = json.loads((out / "best.json").read_text())
    assert "distillation" in card["optimizer"] and len(card["recipe"]["teachers"]) == 2
    clf = EmotionClassifier.load(out / "best.keras")
    student = make_model(width=8, blocks=2)
    from model.network import load_keras

    assert load_keras(out / "best.keras").count_params() == student.count_params()  # no teacher inside
    assert clf.predict(np.zeros((2, 48, 48), np.uint8)).shape == (2, 7)
    # --save-every 5 over 2 epochs: saved once, after the last epoch
    assert json.loads((out / "state.json").read_text())["epoch"] == 2
    rows = (out / "history.csv").read_text().strip().splitlines()
    assert len(rows) == 3 and "val_accuracy" in rows[0]

    missing = call_cli("classmood-train", "--data", str(small_npz), "--out", str(tmp_path / "x"),
                       "--teachers", str(tmp_path / "gone.keras"), *TINY)
    assert missing.returncode == 2 and "teacher model not found" in missing.stderr
    corrupt = tmp_path / "corrupt.keras"
    corrupt.write_bytes(b"not a keras file")
    bad = call_cli("classmood-train", "--data", str(small_npz), "--out", str(tmp_path / "y"),
                   "--teachers", str(corrupt), *TINY)
    assert bad.returncode == 2 and "corrupt.keras: not a readable Keras model" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_mixed_precision_run_is_served_in_float32(small_npz, tmp_path):
    out = tmp_path / "bf16"
    r = run_cli("classmood-train", "--data", str(small_npz), "--out", str(out), "--epochs", "1",
                "--mixed-precision", *TINY)
    assert r.returncode == 0, r.stderr[-2000:]
    with zipfile.ZipFile(out / "last.keras") as z:
        assert "bfloat16" in z.read("config.json").decode()
    with zipfile.ZipFile(out / "best.keras") as z:
        assert "bfloat16" not in z.read("config.json").decode()
    probs = EmotionClassifier.load(out / "best.keras").predict(np.full((3, 48, 48), 128, np.uint8))
    assert probs.dtype == np.float32 and np.allclose(probs.sum(axis=1), 1, atol=1e-5)


def test_teacher_zoom_view_is_the_served_zoom_view():
    from model.classifier import TTA_ZOOM, tta_views
    from training.distill import CentreZoom

    faces = np.random.default_rng(8).integers(0, 256, (4, 48, 48, 1)).astype(np.uint8)
    served = tta_views(faces)[2].astype("float32")  # uint8 there: differs by rounding only
    ours = np.asarray(CentreZoom(TTA_ZOOM)(faces.astype("float32")))
    assert np.abs(served - ours).max() <= 0.5 + 1e-3
    assert np.abs(ours - faces).mean() > 10  # it is not the identity


def test_distiller_with_zoom_averages_the_four_views(teacher_files):
    import keras

    from training import distill

    teacher = distill.load_teacher(teacher_files[0], 0)
    x = _faces(6, seed=3)
    zoomed = np.asarray(distill.CentreZoom(1.08)(x))
    views = (x, zoomed, x[:, :, ::-1], zoomed[:, :, ::-1])
    expected = np.mean([teacher.predict(v, verbose=0) for v in views], axis=0)
    distiller = distill.build_distiller(make_model(width=8, blocks=2, seed=5), [teacher], zoom=1.08)
    out = keras.ops.convert_to_numpy(distiller(x, training=True))
    np.testing.assert_allclose(out[:, 7:], expected, atol=1e-5)
    # in log space, where a tiny teacher's saturated answers (0.9999...) still show it: the zoomed
    # views count, the average is not that of the two unzoomed views alone
    np.testing.assert_allclose(np.log(out[:, 7:]), np.log(expected), atol=1e-3)
    unzoomed = np.mean([teacher.predict(v, verbose=0) for v in views[::2]], axis=0)
    assert np.abs(np.log(expected) - np.log(unzoomed)).max() > 1e-2


def test_init_starts_from_a_model_and_refuses_another_shape(small_npz, teacher_files, tmp_path):
    import keras

    start = make_model(width=8, blocks=2, seed=9)
    start_file = tmp_path / "start.keras"
    start.save(start_file)
    out = tmp_path / "ft"
    r = run_cli("classmood-train", "--data", str(small_npz), "--out", str(out), "--epochs", "1", "--lr", "0",
                "--warmup-epochs", "0", "--init", str(start_file), "--teachers", str(teacher_files[0]),
                "--teacher-zoom", "1.08", *TINY)
    assert r.returncode == 0, r.stderr[-2000:]
    config = json.loads((out / "config.json").read_text())
    assert config["init"]["sha256"] and config["teacher_zoom"] == 1.08
    assert "zoomed, mirrored" in json.loads((out / "best.json").read_text())["optimizer"]
    # learning rate 0: the served weights are the starting weights (batch-norm statistics aside)
    trained = keras.saving.load_model(out / "best.keras", compile=False)
    convs = [(a, b) for a, b in zip(start.weights, trained.weights) if "kernel" in a.path]
    assert convs and all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in convs)

    frozen = tmp_path / "frozen"
    r = run_cli("classmood-train", "--data", str(small_npz), "--out", str(frozen), "--epochs", "1", "--lr", "0.01",
                "--warmup-epochs", "0", "--init", str(start_file), "--freeze-bn", "--meeting", "0.5", *TINY)
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads((frozen / "config.json").read_text())["freeze_bn"] == 2 * 2 + 1  # two a block, and fc_bn
    tuned = keras.saving.load_model(frozen / "best.keras", compile=False)
    pairs = list(zip(start.weights, tuned.weights))
    bn = [(a, b) for a, b in pairs if "_bn" in a.path]
    assert len(bn) == 4 * 5 and all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in bn)
    assert any(not np.array_equal(np.asarray(a), np.asarray(b)) for a, b in pairs if "kernel" in a.path)
    alone = call_cli("classmood-train", "--data", str(small_npz), "--out", str(tmp_path / "alone"), "--freeze-bn", *TINY)
    assert alone.returncode == 2 and "needs --init" in alone.stderr

    other = tmp_path / "other.keras"
    make_model(width=16, blocks=2, seed=9).save(other)
    bad = call_cli("classmood-train", "--data", str(small_npz), "--out", str(tmp_path / "bad"),
                  "--init", str(other), *TINY)
    assert bad.returncode == 2 and "same --width" in bad.stderr and "Traceback" not in bad.stderr
