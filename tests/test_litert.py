"""The LiteRT serving form: made from a `.keras` file, checked against it, recorded in the card."""

import json

import numpy as np

from model import EmotionClassifier
from model.card import read_card, sha256_file
from tests.conftest import call_cli, run_cli


def _copy(src, tmp_path):
    dst = tmp_path / "m.keras"
    dst.write_bytes(src.read_bytes())
    dst.with_suffix(".json").write_text(src.with_suffix(".json").read_text())
    return dst


def test_litert_cli_converts_scores_and_records_in_the_card(random_model_path, small_npz, tmp_path):
    weights = _copy(random_model_path, tmp_path)
    r = run_cli("python", "-m", "training.litert", str(weights), "--data", str(small_npz), "--max-drop", "1")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "m.tflite" in r.stdout and "same answer as the .keras file" in r.stdout
    card = read_card(weights)
    serving = card.serving
    lite = weights.with_suffix(".tflite")
    assert serving.file == "m.tflite" and serving.sha256 == sha256_file(lite)
    assert serving.bytes == lite.stat().st_size and serving.views == 1
    assert serving.val["n"] == serving.val_tta["n"] == card.val["n"] == 70
    assert serving.served == serving.val
    assert 0 <= serving.agreement_with_keras <= 1
    assert 0 <= serving.val["ferplus_plurality_agreement"] <= 1  # small_npz carries votes
    assert card.sha256 == sha256_file(weights) and card.extra["note"]  # the card's own fields kept
    from model.network import load_keras, multiply_adds

    assert card.multiply_adds.per_view == multiply_adds(load_keras(weights)) == card.multiply_adds.per_face
    assert card.temperature == card.calibration.temperature > 0
    assert set(card.calibration.held_out) == {"nll_before", "nll_after", "ece_before", "ece_after",
                                              "nll_after_map", "ece_after_map"}
    assert len(card.top_label_map) == 7 and all(len(row) == 3 for row in card.top_label_map)
    assert "top_label_map" not in card.calibration.to_dict()  # one copy of the map: the card's own field
    floor = card.calibration.held_out_ece_floor  # the ECE's own sampling noise on that half
    assert 0 < floor["median"] <= floor["p90"] < 0.5
    clf = EmotionClassifier.load(weights)
    assert clf.backend == "litert"
    faces = np.random.default_rng(0).integers(0, 256, (4, 48, 48), dtype=np.uint8)
    keras_probs = EmotionClassifier.load(weights, backend="keras").predict(faces)
    assert np.abs(clf.predict(faces) - keras_probs).max() < 0.1


def test_calibrate_cli_refits_a_cards_calibration(random_model_path, small_npz, tmp_path):
    weights = _copy(random_model_path, tmp_path)
    r = run_cli("python", "-m", "training.litert", str(weights), "--data", str(small_npz), "--max-drop", "1")
    assert r.returncode == 0, r.stderr[-2000:]
    card = read_card(weights)
    card.temperature, card.top_label_map, card.calibration = 1.0, [], {}  # {}: no calibration
    card.write(weights)
    r = run_cli("python", "-m", "training.calibrate", str(weights), "--data", str(small_npz))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "as served (litert, 1 view(s))" in r.stdout and "top-label map" in r.stdout
    again = read_card(weights)
    assert again.temperature > 0 and len(again.top_label_map) == 7 and again.serving == card.serving
    assert again.calibration.held_out_faces == 35 and "ece_after_map" in again.calibration.held_out
    assert "by size (held-out half" in r.stdout  # and the calibration by face size, with its curve
    assert [b["side"] for b in again.size_bands] == [40, 32, 24, 20, 16, 12]
    assert again.size_calibration.sharpness["sides"][0] == 48
    assert EmotionClassifier.load(weights).size_bands
    r = run_cli("python", "-m", "training.calibrate", str(weights), "--data", str(small_npz), "--full-size-only")
    assert r.returncode == 0 and "by size" not in r.stdout, r.stderr[-2000:]
    assert not read_card(weights).size_calibration and not EmotionClassifier.load(weights).size_bands
    for weights_arg, data_arg, why in ((tmp_path / "none.keras", small_npz, "no such weights file"),
                                       (weights, tmp_path / "none.npz", "no such file")):
        r = call_cli("python", "-m", "training.calibrate", str(weights_arg), "--data", str(data_arg))
        assert r.returncode == 2 and why in r.stderr and "Traceback" not in r.stderr, r.stderr[-800:]


def test_litert_form_that_loses_accuracy_is_not_kept(random_model_path, small_npz, tmp_path):
    weights = _copy(random_model_path, tmp_path)
    r = call_cli("python", "-m", "training.litert", str(weights), "--data", str(small_npz), "--max-drop", "-1")
    assert r.returncode == 2 and "was not kept" in r.stderr and "Traceback" not in r.stderr
    assert not weights.with_suffix(".tflite").exists()
    assert not read_card(weights).serving
    assert EmotionClassifier.load(weights).backend == "keras"


def test_litert_refuses_a_form_over_the_multiply_add_budget(random_model_path, small_npz, tmp_path):
    weights = _copy(random_model_path, tmp_path)
    r = call_cli("python", "-m", "training.litert", str(weights), "--data", str(small_npz), "--views", "4",
                "--max-multiply-adds", "1e6")
    assert r.returncode == 2 and "over the budget" in r.stderr and "Traceback" not in r.stderr
    assert not weights.with_suffix(".tflite").exists()


def test_litert_cli_clear_errors(tmp_path, small_npz):
    r = call_cli("python", "-m", "training.litert", str(tmp_path / "none.keras"), "--data", str(small_npz))
    assert r.returncode == 2 and "none.keras" in r.stderr and "no such file" in r.stderr
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"junk" * 10)
    r = call_cli("python", "-m", "training.litert", str(bad), "--data", str(small_npz))
    assert r.returncode == 2 and "not a readable Keras model" in r.stderr and "Traceback" not in r.stderr


def test_evaluate_cli_backend_and_tta_options(random_model_path, small_npz, tmp_path):
    weights = _copy(random_model_path, tmp_path)
    assert run_cli("python", "-m", "training.litert", str(weights), "--data", str(small_npz),
                   "--max-drop", "1").returncode == 0
    card = read_card(weights)
    for args, backend, tta, expected in ((["--backend", "keras", "--tta"], "keras", True, card.val_tta),
                                         (["--backend", "litert"], "litert", False, card.serving.val)):
        out = tmp_path / backend
        r = run_cli("classmood-evaluate", "--model", str(weights), "--data", str(small_npz), *args,
                    "--out", str(out))
        assert r.returncode == 0, r.stderr[-2000:]
        m = json.loads((out / "metrics.json").read_text())
        assert (m["backend"], m["tta"]) == (backend, tta) and backend in r.stdout
        assert m["accuracy"] == expected["accuracy"] and m["confusion_matrix"] == expected["confusion_matrix"]


def test_average_cli_mixes_two_runs_weights(random_model_path, small_npz, tmp_path):
    from model.network import load_keras

    (tmp_path / "start").mkdir()
    (tmp_path / "tuned").mkdir()
    start, tuned = _copy(random_model_path, tmp_path / "start"), _copy(random_model_path, tmp_path / "tuned")
    model = load_keras(tuned)
    model.set_weights([w * 0 + 1 for w in model.get_weights()])  # unlike the start
    model.save(tuned)
    out = tmp_path / "avg"
    r = run_cli("python", "-m", "training.average", str(tuned), str(start), "--alpha", "0.25", "--out", str(out),
                "--data", str(small_npz))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "val accuracy" in r.stdout
    got = load_keras(out / "best.keras").get_weights()
    for g, a, b in zip(got, load_keras(tuned).get_weights(), load_keras(start).get_weights()):
        np.testing.assert_allclose(g, 0.25 * a + 0.75 * b, rtol=1e-5, atol=1e-6)
    card = read_card(out / "best.keras")
    assert card.extra["weight_average"]["alpha"] == 0.25 and card.val["n"] == 70
    r = call_cli("python", "-m", "training.average", str(tuned), str(tmp_path / "none.keras"), "--out", str(out),
                 "--data", str(small_npz))
    assert r.returncode == 2 and "none.keras" in r.stderr and "Traceback" not in r.stderr
