import subprocess
import sys

import numpy as np
import pytest

from model import EMOTIONS, EmotionClassifier, ModelLoadError
from model.classifier import DEFAULT_WEIGHTS
from model.card import read_card, sha256_file


@pytest.fixture(scope="module")
def clf(random_model_path):
    return EmotionClassifier.load(random_model_path)


def test_import_loads_neither_tensorflow_nor_keras():
    code = ("import sys, model; from model import EmotionClassifier, EMOTIONS, ModelLoadError, make_model; "
            "print(sorted(m for m in ('tensorflow', 'keras', 'jax') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_model_load_error_is_runtime_error_naming_path(tmp_path):
    missing = tmp_path / "gone.keras"
    with pytest.raises(ModelLoadError) as e:
        EmotionClassifier.load(missing)
    assert isinstance(e.value, RuntimeError)
    assert str(missing) in str(e.value) and "no such file" in str(e.value)


def test_corrupt_file_raises_model_load_error(tmp_path):
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"\x00garbage" * 100)
    with pytest.raises(ModelLoadError, match="not a readable Keras model"):
        EmotionClassifier.load(bad)


def test_checksum_mismatch_raises(tmp_path, random_model_path):
    copy = tmp_path / "tampered.keras"
    data = bytearray(random_model_path.read_bytes())
    copy.write_bytes(bytes(data))
    card = read_card(random_model_path)
    (tmp_path / "tampered.json").write_text(__import__("json").dumps({**card, "sha256": "0" * 64}))
    with pytest.raises(ModelLoadError, match="sha256"):
        EmotionClassifier.load(copy)


def test_card_with_other_class_order_is_refused(tmp_path, random_model_path):
    import json

    copy = tmp_path / "m.keras"
    copy.write_bytes(random_model_path.read_bytes())
    (tmp_path / "m.json").write_text(json.dumps({"classes": sorted(EMOTIONS), "sha256": sha256_file(copy)}))
    with pytest.raises(ModelLoadError, match="classes"):
        EmotionClassifier.load(copy)


def test_predict_batch_shapes_and_sums(clf):
    faces = np.random.default_rng(0).integers(0, 256, (5, 48, 48), dtype=np.uint8)
    p = clf.predict(faces)
    assert p.shape == (5, 7) and p.dtype == np.float32
    assert np.all(np.isfinite(p)) and np.all(p >= 0)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-5)


def test_predict_zero_faces(clf):
    assert clf.predict(np.zeros((0, 48, 48), np.uint8)).shape == (0, 7)
    assert clf.predict([]).shape == (0, 7)


def test_predict_list_of_any_size_gray_and_bgr(clf):
    rng = np.random.default_rng(1)
    gray = rng.integers(0, 256, (120, 90), dtype=np.uint8)
    bgr = rng.integers(0, 256, (30, 33, 3), dtype=np.uint8)
    bgra = rng.integers(0, 256, (64, 64, 4), dtype=np.uint8)
    p = clf.predict([gray, bgr, bgra])
    assert p.shape == (3, 7)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-5)


def test_bgr_crop_equals_its_gray_conversion(clf):
    import cv2

    bgr = np.random.default_rng(2).integers(0, 256, (48, 48, 3), dtype=np.uint8)
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    np.testing.assert_allclose(clf.predict([bgr]), clf.predict(gray[None]), atol=1e-6)


def test_batch_equals_single_predictions(clf):
    faces = np.random.default_rng(3).integers(0, 256, (4, 48, 48), dtype=np.uint8)
    batch = clf.predict(faces)
    singles = np.concatenate([clf.predict(faces[i:i + 1]) for i in range(4)])
    np.testing.assert_allclose(batch, singles, atol=1e-5)


def test_tta_averages_with_mirror(clf):
    faces = np.random.default_rng(4).integers(0, 256, (3, 48, 48), dtype=np.uint8)
    expected = (clf.predict(faces) + clf.predict(faces[:, :, ::-1].copy())) / 2
    np.testing.assert_allclose(clf.predict(faces, tta=True), expected, atol=1e-5)


def test_bad_faces_give_clear_errors(clf):
    with pytest.raises(ValueError, match="face 1 is empty"):
        clf.predict([np.zeros((10, 10), np.uint8), np.zeros((0, 5), np.uint8)])
    with pytest.raises(ValueError, match="shape"):
        clf.predict([np.zeros((10, 10, 2), np.uint8)])


def test_bundled_weights_and_card():
    assert DEFAULT_WEIGHTS.exists(), f"bundled weights missing: {DEFAULT_WEIGHTS}"
    assert DEFAULT_WEIGHTS.stat().st_size <= 8 * 1024 * 1024
    card = read_card(DEFAULT_WEIGHTS)
    for key in ("classes", "input", "preprocessing", "data", "recipe", "seed", "epochs", "val", "date",
                "sha256", "command"):
        assert key in card, key
    assert card["classes"] == list(EMOTIONS)
    assert card["sha256"] == sha256_file(DEFAULT_WEIGHTS)
    clf = EmotionClassifier.load()
    assert clf.path == DEFAULT_WEIGHTS
    p = clf.predict(np.full((2, 48, 48), 128, np.uint8))
    assert p.shape == (2, 7)
