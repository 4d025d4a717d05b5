import csv

import cv2
import numpy as np
import pytest

from model import EMOTIONS
from training.data import (DatasetError, label_index, load_csv, load_dataset, load_folders, load_npz,
                           stratified_sample)


def test_emotions_are_fer2013_order():
    assert EMOTIONS == ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def test_label_index_uses_fer_order_and_aliases():
    assert [label_index(e) for e in EMOTIONS] == list(range(7))
    assert label_index("Happiness") == 3
    assert label_index("SURPRISED") == 5
    with pytest.raises(DatasetError, match="contempt"):
        label_index("contempt")


def test_npz_loader(small_npz):
    d = load_npz(small_npz)
    assert set(d) == {"train", "val"}
    x, y = d["train"]
    assert x.shape == (210, 48, 48) and x.dtype == np.uint8 and y.dtype == np.uint8
    assert np.bincount(y).tolist() == [30] * 7


def test_npz_loader_rejects_other_class_order(tmp_path):
    p = tmp_path / "alpha.npz"
    np.savez(p, x_train=np.zeros((2, 48, 48), np.uint8), y_train=np.zeros(2, np.uint8),
             classes=np.array(sorted(EMOTIONS)))
    with pytest.raises(DatasetError, match="class order"):
        load_npz(p)


def _write_csv(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["emotion", "pixels", "Usage"])
        w.writerows(rows)


def test_kaggle_csv_loader_keeps_labels_and_splits(tmp_path):
    rng = np.random.default_rng(0)
    faces = rng.integers(0, 256, (4, 48, 48), dtype=np.uint8)
    p = tmp_path / "fer2013.csv"
    _write_csv(p, [[6, " ".join(map(str, faces[0].ravel())), "Training"],
                   [0, " ".join(map(str, faces[1].ravel())), "Training"],
                   [3, " ".join(map(str, faces[2].ravel())), "PublicTest"],
                   [4, " ".join(map(str, faces[3].ravel())), "PrivateTest"]])
    d = load_dataset(p)
    assert d["train"][1].tolist() == [6, 0]
    assert np.array_equal(d["train"][0][0], faces[0])
    assert d["val"][1].tolist() == [3] and d["test"][1].tolist() == [4]
    assert np.array_equal(d["test"][0][0], faces[3])


def test_csv_loader_reports_bad_rows(tmp_path):
    p = tmp_path / "bad.csv"
    _write_csv(p, [[1, "1 2 3", "Training"]])
    with pytest.raises(DatasetError, match=r"bad.csv:2: expected 2304"):
        load_csv(p)


def test_folder_loader_maps_names_not_alphabetical_order(tmp_path):
    # Sorted folder names would make neutral 4, sad 5, surprise 6: the loader must not.
    for split in ("train", "test"):
        for i, name in enumerate(EMOTIONS):
            d = tmp_path / split / name
            d.mkdir(parents=True)
            img = np.full((48, 48), 10 * i, np.uint8)
            cv2.imwrite(str(d / f"{split}_{name}.png"), img)
    cv2.imwrite(str(tmp_path / "train" / "neutral" / "big.jpg"), np.full((96, 96, 3), 60, np.uint8))
    data = load_folders(tmp_path)
    assert set(data) == {"train", "test"}
    x, y = data["train"]
    assert x.shape[1:] == (48, 48)
    for img, label in zip(x, y):
        if img.mean() != 60:
            assert img.mean() == 10 * label  # pixel value encodes the folder's FER index
    assert sorted(y.tolist()) == [0, 1, 2, 3, 4, 5, 6, 6]
    assert data["test"][1].tolist().count(EMOTIONS.index("neutral")) == 1


def test_folder_loader_rejects_unknown_class(tmp_path):
    (tmp_path / "train" / "bored").mkdir(parents=True)
    with pytest.raises(DatasetError, match="bored"):
        load_folders(tmp_path)


def test_missing_and_unknown_inputs(tmp_path):
    with pytest.raises(DatasetError, match="no such file"):
        load_dataset(tmp_path / "nope.npz")
    bad = tmp_path / "x.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(DatasetError, match="not a readable npz"):
        load_dataset(bad)
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(DatasetError, match="expected an .npz"):
        load_dataset(tmp_path / "notes.txt")


def test_stratified_sample_is_seeded_and_keeps_proportions():
    y = np.repeat(np.arange(7), [400, 40, 400, 700, 480, 310, 500])  # sorted by class, like FER2013
    a, b = stratified_sample(y, 700, seed=3), stratified_sample(y, 700, seed=3)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, stratified_sample(y, 700, seed=4))
    assert len(set(a.tolist())) == len(a)
    counts = np.bincount(y[a], minlength=7)
    assert counts.tolist() == [99, 10, 99, 173, 119, 77, 124]
    assert not np.all(np.diff(y[a]) >= 0)  # shuffled, not sorted
