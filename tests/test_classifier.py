import subprocess
import sys

import numpy as np
import pytest

from model import EMOTIONS, EmotionClassifier, ModelLoadError
from model.classifier import DEFAULT_WEIGHTS, tta_views
from model.card import read_card, sha256_file


@pytest.fixture(scope="module")
def clf(random_model_path):
    return EmotionClassifier.load(random_model_path)


def test_import_loads_neither_tensorflow_nor_keras():
    code = ("import sys, model; from model import EmotionClassifier, EMOTIONS, ModelLoadError; "
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
    (tmp_path / "tampered.json").write_text(__import__("json").dumps({**card.to_dict(), "sha256": "0" * 64}))
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


def test_tta_views_are_the_face_mirrored_and_zoomed():
    face = np.zeros((1, 48, 48, 1), np.uint8)
    face[0, 14:34, 14:34] = 200  # a centred 20-pixel square
    face[0, 20:28, 4:8] = 90     # a mark on the left
    plain, mirrored, zoomed, zoomed_mirrored = tta_views(face)
    np.testing.assert_array_equal(plain, face)
    np.testing.assert_array_equal(mirrored[0, :, ::-1], face[0])
    np.testing.assert_array_equal(zoomed_mirrored[0, :, ::-1], zoomed[0])
    width = lambda img: int((img[0, 24, :, 0] > 100).sum())  # noqa: E731
    assert width(face) == 20 and width(zoomed) == 22  # zoomed in 8% about the centre
    assert zoomed[0, 24, 24, 0] == 200 and face[0, 24, 3, 0] == 0 and zoomed[0, 24, 3, 0] == 90  # moved out
    assert zoomed[0, 24, 1, 0] == 0


def test_tta_is_the_mean_over_the_views_and_follows_the_card(clf, random_model_path):
    faces = np.random.default_rng(4).integers(0, 256, (3, 48, 48), dtype=np.uint8)
    views = tta_views(faces[..., None])
    expected = np.mean([clf.predict(v, tta=False) for v in views], axis=0)
    assert not clf.tta and clf.views == 1  # its card names no served views: one
    np.testing.assert_allclose(clf.predict(faces, tta=True), expected, atol=1e-5)
    assert np.abs(clf.predict(faces) - expected).max() > 1e-4  # the views do differ
    four = EmotionClassifier.load(random_model_path, tta=True)
    assert four.views == 4
    np.testing.assert_allclose(four.predict(faces), expected, atol=1e-5)


def _with_card(src, tmp_path, **fields):
    import json

    dst = tmp_path / "m.keras"
    dst.write_bytes(src.read_bytes())
    card = {**read_card(src).to_dict(), **fields}
    (tmp_path / "m.json").write_text(json.dumps(card))
    return dst


def test_card_contrast_step_applies_before_the_network(tmp_path, random_model_path):
    from model.contrast import equalize

    faces = _face_like(4, seed=9) // 3 + 40  # dull, low-contrast faces
    plain = EmotionClassifier.load(random_model_path)
    eq = EmotionClassifier.load(_with_card(random_model_path, tmp_path, input={"contrast": "equalize"}))
    assert eq.contrast == "equalize" and plain.contrast == "none"
    np.testing.assert_allclose(eq.predict(faces), plain.predict(equalize(faces)), atol=1e-6)
    assert np.abs(eq.predict(faces) - plain.predict(faces)).max() > 1e-4
    bad = tmp_path / "bad"
    bad.mkdir()
    with pytest.raises(ModelLoadError, match="contrast"):
        EmotionClassifier.load(_with_card(random_model_path, bad, input={"contrast": "sepia"}))


def test_card_temperature_calibrates_the_probabilities(tmp_path, random_model_path):
    faces = _face_like(6, seed=10)
    plain = EmotionClassifier.load(random_model_path)
    hot = EmotionClassifier.load(_with_card(random_model_path, tmp_path, temperature=2.5))
    p, q = plain.predict(faces), hot.predict(faces)
    expected = np.exp(np.log(p) / 2.5)
    np.testing.assert_allclose(q, expected / expected.sum(1, keepdims=True), atol=1e-5)
    np.testing.assert_array_equal(p.argmax(1), q.argmax(1))  # calibration never changes the answer
    assert q.max() < p.max()
    np.testing.assert_allclose(hot.predict(faces, calibrated=False), p, atol=1e-6)


def test_card_top_label_map_follows_the_temperature(tmp_path, random_model_path):
    from model.calibration import apply_top_label_map, temperature_scale

    faces = _face_like(8, seed=11)
    plain = EmotionClassifier.load(random_model_path)
    rows = [[0.0, 1.0, -1.0]] * 3 + [[1.0, 0.5, 0.5]] * 4  # less sure for classes 0-2, surer for 3-6
    mapped = EmotionClassifier.load(_with_card(random_model_path, tmp_path, temperature=1.5, top_label_map=rows))
    p, q = plain.predict(faces), mapped.predict(faces)
    np.testing.assert_allclose(q, apply_top_label_map(temperature_scale(p, 1.5), rows), atol=1e-5)
    assert np.abs(q - temperature_scale(p, 1.5)).max() > 1e-3  # the map did something
    np.testing.assert_array_equal(p.argmax(1), q.argmax(1))
    np.testing.assert_allclose(q.sum(1), 1, atol=1e-5)
    np.testing.assert_allclose(mapped.predict(faces, calibrated=False), p, atol=1e-6)
    for bad, why in (([[1.0, 1.0, 0.0]] * 6, "7 rows"), ([[-1.0, 1.0, 0.0]] * 7, "monotone")):
        folder = tmp_path / why.replace(" ", "")
        folder.mkdir()
        with pytest.raises(ModelLoadError, match=why):
            EmotionClassifier.load(_with_card(random_model_path, folder, top_label_map=bad))


def test_bad_faces_give_clear_errors(clf):
    with pytest.raises(ValueError, match="face 1 is empty"):
        clf.predict([np.zeros((10, 10), np.uint8), np.zeros((0, 5), np.uint8)])
    with pytest.raises(ValueError, match="shape"):
        clf.predict([np.zeros((10, 10, 2), np.uint8)])


def test_bundled_weights_and_card():
    assert DEFAULT_WEIGHTS.exists(), f"bundled weights missing: {DEFAULT_WEIGHTS}"
    assert sum(f.stat().st_size for f in DEFAULT_WEIGHTS.parent.iterdir()) <= 8 * 1024 * 1024
    card = read_card(DEFAULT_WEIGHTS).to_dict()
    for key in ("classes", "input", "preprocessing", "data", "recipe", "seed", "epochs", "val", "date",
                "sha256", "command", "temperature", "calibration", "multiply_adds"):
        assert key in card, key
    assert card["classes"] == list(EMOTIONS)
    assert card["sha256"] == sha256_file(DEFAULT_WEIGHTS)
    assert card["data"]["val_size"] == 3579 or card["val"]["n"] == 3579  # original-pixel val
    serving = card["serving"]
    assert serving["sha256"] == sha256_file(DEFAULT_WEIGHTS.parent / serving["file"])
    assert serving["val"]["accuracy"] >= card["val"]["accuracy"] - 0.005  # checked at conversion
    assert card["multiply_adds"]["per_face"] == card["multiply_adds"]["per_view"] * serving["views"] <= 120e6
    held = card["calibration"]["held_out"]  # the temperature minimises NLL: on the held-out half too
    assert held["nll_after"] <= held["nll_before"] and 0 < held["ece_after"] < 0.1
    clf = EmotionClassifier.load()
    assert clf.path == DEFAULT_WEIGHTS and clf.backend == "litert" and clf.views == serving["views"]
    assert clf.multiply_adds == card["multiply_adds"]["per_face"]
    assert clf.val_report == serving["served"]  # what the app shows teachers is what serves
    assert EmotionClassifier.load(backend="keras", tta=False).val_report == card["val"]
    p = clf.predict(np.full((2, 48, 48), 128, np.uint8))
    assert p.shape == (2, 7)


@pytest.fixture(scope="module")
def served():
    return EmotionClassifier.load()


@pytest.fixture(scope="module")
def on_keras():
    return EmotionClassifier.load(backend="keras")


def test_litert_form_answers_like_the_keras_file(served, on_keras):
    faces = _face_like(32, seed=5)
    for tta in (False, True):
        a, b = served.predict(faces, tta=tta), on_keras.predict(faces, tta=tta)
        diff = np.abs(a - b).max()
        assert 0 < diff < 0.06, diff  # int8 weights: close to the .keras file, yet a different program
        assert np.mean(a.argmax(1) == b.argmax(1)) >= 0.9


def test_litert_answer_does_not_depend_on_the_batch(served):
    faces = _face_like(9, seed=6)
    batch = served.predict(faces, tta=False)
    singles = np.concatenate([served.predict(faces[i:i + 1], tta=False) for i in range(len(faces))])
    np.testing.assert_allclose(batch, singles, atol=1e-6)
    darker = faces.copy()
    darker[1:] //= 4  # activations are quantised per face, not per batch
    np.testing.assert_allclose(served.predict(darker, tta=False)[0], batch[0], atol=1e-6)


@pytest.fixture
def bundled_copy(tmp_path):
    for f in DEFAULT_WEIGHTS.parent.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    return tmp_path / DEFAULT_WEIGHTS.name


def test_missing_litert_file_falls_back_to_keras_with_a_warning(bundled_copy, caplog, on_keras):
    lite = bundled_copy.with_suffix(".tflite")
    lite.unlink()
    with caplog.at_level("WARNING", logger="model.classifier"):
        clf = EmotionClassifier.load(bundled_copy)
    assert clf.backend == "keras"
    assert str(lite) in caplog.text and "serving the .keras file" in caplog.text
    faces = _face_like(3, seed=7)
    np.testing.assert_allclose(clf.predict(faces), on_keras.predict(faces), atol=1e-6)
    with pytest.raises(ModelLoadError, match="LiteRT form is unreadable") as e:
        EmotionClassifier.load(bundled_copy, backend="litert")
    assert str(lite) in str(e.value)


def test_corrupt_litert_file_is_refused(bundled_copy, caplog):
    import json

    lite = bundled_copy.with_suffix(".tflite")
    lite.write_bytes(b"\x00not a flatbuffer" * 64)
    with caplog.at_level("WARNING", logger="model.classifier"):
        assert EmotionClassifier.load(bundled_copy).backend == "keras"
    assert "sha256 differs" in caplog.text
    card_file = bundled_copy.with_suffix(".json")
    card = json.loads(card_file.read_text())
    card["serving"]["sha256"] = sha256_file(lite)  # a card that vouches for the bad file
    card_file.write_text(json.dumps(card))
    with pytest.raises(ModelLoadError, match="not a readable LiteRT model"):
        EmotionClassifier.load(bundled_copy, backend="litert")


def test_serving_imports_neither_tensorflow_nor_keras():
    """A fresh process that loads the bundled model and classifies 49 faces never imports them."""
    code = ("import sys, numpy as np; from model import EmotionClassifier; clf = EmotionClassifier.load(); "
            "p = clf.predict(np.random.default_rng(0).integers(0, 256, (49, 48, 48), dtype=np.uint8)); "
            "assert p.shape == (49, 7) and clf.backend == 'litert'; "
            "print(sorted(m for m in ('tensorflow', 'keras', 'jax') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr[-2000:]


def test_corrupt_litert_without_tensorflow_is_a_clear_error(bundled_copy):
    """No usable LiteRT form and no TensorFlow to fall back on: a ModelLoadError that says both."""
    import json

    lite = bundled_copy.with_suffix(".tflite")
    lite.write_bytes(b"\x00not a flatbuffer" * 64)
    card_file = bundled_copy.with_suffix(".json")
    card = json.loads(card_file.read_text())
    card["serving"]["sha256"] = sha256_file(lite)
    card_file.write_text(json.dumps(card))
    code = ("import sys; sys.modules['tensorflow'] = None; sys.modules['keras'] = None\n"
            "from model import EmotionClassifier, ModelLoadError\n"
            "try:\n"
            f"    EmotionClassifier.load({str(bundled_copy)!r})\n"
            "except ModelLoadError as e:\n"
            "    print('ModelLoadError:', e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr[-2000:]
    msg = out.stdout
    assert msg.startswith("ModelLoadError:") and str(bundled_copy) in msg
    assert "not a readable LiteRT model" in msg and "not installed" in msg


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="backend"):
        EmotionClassifier.load(backend="onnx")


def _face_like(n: int, seed: int) -> np.ndarray:
    """Smooth, face-sized gray images (not FER2013: these tests run without the dataset)."""
    import cv2

    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, 12, 12)).astype(np.uint8)
    return np.stack([cv2.resize(f, (48, 48), interpolation=cv2.INTER_CUBIC) for f in x])
