import json

import cv2
import numpy as np

from tests.conftest import call_cli, run_cli
from training.metrics import classification_report


def test_classification_report_on_known_predictions():
    y = np.array([0, 0, 1, 3, 3, 3])
    probs = np.eye(7)[[0, 3, 1, 3, 3, 0]]
    r = classification_report(y, probs)
    assert r["accuracy"] == round(4 / 6, 4)
    assert r["per_class"]["angry"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert r["per_class"]["happy"]["recall"] == round(2 / 3, 4)
    assert r["confusion_matrix"][0] == [1, 0, 0, 1, 0, 0, 0]
    assert r["per_class"]["fear"]["support"] == 0
    # macro-F1 over classes present: angry 0.5, disgust 1.0, happy 2/3
    assert r["macro_f1"] == round((0.5 + 1.0 + 2 / 3) / 3, 4)
    assert r["neutral_read_negative"] is None  # no neutral-labelled face


def test_neutral_read_negative_argmax_and_confidently():
    """Four neutral-labelled faces read sad (sure), angry (unsure), neutral and surprise: half read
    negative, a quarter where the mood would count it; a sad face read sad is no calm face."""
    y = np.array([6, 6, 6, 6, 4])
    probs = np.array([[0, 0, 0, 0, .8, 0, .2], [.4, 0, 0, .3, 0, 0, .3], [0, 0, 0, 0, .1, 0, .9],
                      [0, 0, 0, 0, 0, .6, .4], [0, 0, 0, 0, 1, 0, 0]])
    r = classification_report(y, probs)
    assert r["neutral_read_negative"] == 0.5
    assert r["neutral_read_negative_confidently"] == 0.25


def test_evaluate_cli_writes_json_and_png(small_npz, random_model_path, tmp_path):
    out = tmp_path / "eval"
    r = run_cli("classmood-evaluate", "--model", str(random_model_path), "--data", str(small_npz),
                "--split", "val", "--limit", "35", "--out", str(out))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "accuracy" in r.stdout and "disgust" in r.stdout
    m = json.loads((out / "metrics.json").read_text())
    assert m["n"] == 35 and m["split"] == "val"
    assert 0 <= m["ece"] <= 1 and m["nll"] > 0 and f"ECE {m['ece']:.4f}" in r.stdout
    assert f"read angry, disgust, fear or sad: {m['neutral_read_negative']:.1%}" in r.stdout
    assert set(m["per_class"]) == {"angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"}
    assert np.asarray(m["confusion_matrix"]).sum() == 35
    png = cv2.imread(str(out / "confusion.png"))
    assert png is not None and png.shape[0] > 400 and png.shape[1] > 400


def test_evaluate_cli_bad_model_and_split(small_npz, tmp_path):
    r = call_cli("classmood-evaluate", "--model", str(tmp_path / "none.keras"), "--data", str(small_npz),
                 "--out", str(tmp_path / "e"))
    assert r.returncode == 2 and "none.keras" in r.stderr and "Traceback" not in r.stderr
    r = call_cli("classmood-evaluate", "--data", str(small_npz), "--split", "test", "--out", str(tmp_path / "e"))
    assert r.returncode == 2 and "no 'test' split" in r.stderr


def test_evaluate_cli_on_another_datasets_class_folders(random_model_path, tmp_path):
    """Another expression dataset as it comes: class folders in its own spelling (CK+'s anger,
    sadness...), colour images of any size, a class we do not have (contempt), no split folders."""
    root = tmp_path / "ck"
    rng = np.random.default_rng(0)
    for name, n in (("anger", 3), ("happy", 4), ("sadness", 2), ("contempt", 5)):
        (root / name).mkdir(parents=True)
        for i in range(n):
            cv2.imwrite(str(root / name / f"{i}.png"), rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    out = tmp_path / "eval"
    r = run_cli("classmood-evaluate", "--model", str(random_model_path), "--data", str(root), "--out", str(out))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "5 images skipped: 'contempt' is not one of the seven classes" in r.stderr
    m = json.loads((out / "metrics.json").read_text())
    assert m["split"] == "all" and m["n"] == 9
    support = {k: v["support"] for k, v in m["per_class"].items() if v["support"]}
    assert support == {"angry": 3, "happy": 4, "sad": 2}
    # 64 px images are taken as face crops: whole, never looked at for a face
    assert m["faces"] == {"mode": "auto", "cropped": 0, "as_is": 9, "no_face": 0}
    assert "faces (auto): 0 cropped from detections, 9 images taken whole" in r.stdout
    (root / "bored").mkdir()
    r = call_cli("classmood-evaluate", "--model", str(random_model_path), "--data", str(root), "--out", str(out))
    assert r.returncode == 2 and "unknown expression class 'bored'" in r.stderr and "Traceback" not in r.stderr


def test_probe_views_are_the_named_transforms():
    from training.probe import SERVED, views

    x = np.random.default_rng(0).integers(0, 255, (5, 48, 48), dtype=np.uint8)
    v = views(x)
    assert len(v) == 20 and set(SERVED) <= set(v)
    assert np.array_equal(v["as is"], x) and np.array_equal(v["as is, mirrored"], x[:, :, ::-1])
    assert np.array_equal(v["right 2"][:, :, 2:], x[:, :, :-2])  # content moved two pixels right
    assert not np.array_equal(v["zoom 1.08"], x)
