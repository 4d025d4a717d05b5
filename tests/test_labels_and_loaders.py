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
    bad.write_bytes(b"")  # an empty file: numpy raises EOFError
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


def test_votes_and_rows_have_their_own_accessors(small_npz):
    from tests.conftest import make_votes
    from training.data import load_rows, load_votes

    votes, rows = load_votes(small_npz), load_rows(small_npz)
    _, yv = load_npz(small_npz)["val"]  # (x, y) tuples as before
    assert set(votes) == set(rows) == {"train", "val"}
    assert votes["train"].shape == (210, 10) and votes["train"].dtype == np.uint8
    assert (votes["train"].sum(1) == 10).all()
    np.testing.assert_array_equal(votes["val"], make_votes(yv, seed=4))
    assert rows["train"][:3].tolist() == [1, 4, 7] and rows["val"].dtype == np.int64


def test_votes_accessors_on_files_without_votes(tmp_path):
    from training.data import load_rows, load_votes

    p = tmp_path / "plain.npz"
    np.savez(p, x_train=np.zeros((2, 48, 48), np.uint8), y_train=np.zeros(2, np.uint8))
    assert load_votes(p) == {} and load_rows(p) == {}
    assert load_votes(tmp_path / "fer.csv") == {}
    bad = tmp_path / "bad.npz"
    np.savez(bad, x_train=np.zeros((2, 48, 48), np.uint8), y_train=np.zeros(2, np.uint8),
             votes_train=np.zeros((3, 10), np.uint8))
    with pytest.raises(DatasetError, match="votes_train has 3 rows"):
        load_votes(bad)
    cols = tmp_path / "cols.npz"
    np.savez(cols, x_train=np.zeros((2, 48, 48), np.uint8), y_train=np.zeros(2, np.uint8),
             votes_train=np.zeros((2, 10), np.uint8), vote_columns=np.array(list("abcdefghij")))
    with pytest.raises(DatasetError, match="vote columns"):
        load_votes(cols)


def test_vote_distribution_drops_contempt_unknown_and_not_a_face():
    from training.data import vote_distribution

    #                  neu hap sur sad ang dis fea con unk NF
    votes = np.array([[0, 6, 0, 0, 0, 0, 0, 2, 1, 1],     # happy 6 of 6 of ours
                      [2, 0, 0, 2, 0, 0, 0, 0, 0, 0],     # neutral / sad
                      [0, 0, 0, 0, 0, 0, 0, 4, 3, 3]])    # nothing of ours
    dist, valid = vote_distribution(votes)
    assert valid.tolist() == [True, True, False]
    np.testing.assert_allclose(dist[0], np.eye(7)[3])
    np.testing.assert_allclose(dist[1], [0, 0, 0, 0, 0.5, 0, 0.5])  # EMOTIONS order: sad 4, neutral 6
    assert dist[2].sum() == 0


def test_ferplus_plurality_follows_the_issue_definition():
    from training.data import ferplus_plurality

    #                  neu hap sur sad ang dis fea con unk NF
    votes = np.array([[1, 7, 0, 0, 0, 0, 0, 0, 1, 1],     # happy
                      [0, 0, 0, 0, 0, 0, 0, 6, 2, 2],     # contempt most voted: none
                      [3, 0, 0, 3, 0, 0, 0, 0, 4, 0],     # unknown (4) beats the tie: none
                      [4, 0, 0, 4, 0, 0, 0, 0, 2, 0],     # tie neutral/sad, FER2013 label sad: sad
                      [4, 0, 0, 4, 0, 0, 0, 0, 2, 0],     # same tie, label angry: first tied = sad (4 < 6)
                      [0, 0, 0, 0, 0, 0, 0, 0, 0, 10]])   # not a face: none
    y = np.array([3, 0, 0, 4, 0, 6])
    label, valid = ferplus_plurality(votes, y)
    assert valid.tolist() == [True, False, False, True, True, False]
    assert label[valid].tolist() == [3, 4, 4]


def test_default_data_file_is_the_original_pixels():
    from training.data import DEFAULT_SHARED

    assert DEFAULT_SHARED.name == "fer2013_original_trainval.npz"


def test_original_pixel_file_has_votes_for_every_face(fer2013_path):
    from training.data import ferplus_plurality, load_rows, load_votes

    d, votes, rows = load_npz(fer2013_path), load_votes(fer2013_path), load_rows(fer2013_path)
    assert len(d["train"][1]) == len(votes["train"]) == len(rows["train"]) == 28560
    assert len(d["val"][1]) == len(votes["val"]) == 3579
    label, valid = ferplus_plurality(votes["val"], d["val"][1])
    agree = (label[valid] == d["val"][1][valid]).mean()
    assert valid.mean() > 0.95 and 0.6 < agree < 0.7  # FER+'s plurality agrees with the label on ~62%


def test_folder_loader_frames_faces_in_photos_like_the_product(fer_faces, tmp_path):
    """Photos (a face inside a larger picture, as in KDEF, JAFFE or CK+'s frames) become the face
    framed as FER2013 frames it; face crops, large or small, stay whole; a picture without a face is
    kept whole and counted."""
    faces = fer_faces[:12]
    for i, f in enumerate(faces):
        up = cv2.resize(f, (192, 192), interpolation=cv2.INTER_CUBIC)
        d = tmp_path / "photos" / EMOTIONS[i % 7]
        d.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(d / f"{i}.png"), cv2.copyMakeBorder(up, 96, 96, 96, 96, cv2.BORDER_REPLICATE))
        d = tmp_path / "crops" / EMOTIONS[i % 7]
        d.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(d / f"{i}.png"), f)
    noise = np.random.default_rng(0).integers(0, 256, (300, 400), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "photos" / "neutral" / "noise.png"), noise)

    def corr(a, b):  # on blurred copies: a crop a pixel or two off its original still matches
        a, b = (cv2.GaussianBlur(v.astype(np.float32), (0, 0), 2).ravel() for v in (a, b))
        return float(np.corrcoef(a, b)[0, 1])

    counts: dict[str, int] = {}
    x, _ = load_folders(tmp_path / "photos", faces="auto", framing=counts)["all"]
    whole, _ = load_folders(tmp_path / "photos", faces="as-is")["all"]
    assert counts == {"cropped": 12, "as_is": 1, "no_face": 1}
    # read class by class, files in name order: which face each image is
    names = [p.stem for c in sorted((tmp_path / "photos").iterdir()) for p in sorted(c.glob("*.png"))]
    framed = [corr(x[n], faces[int(k)]) for n, k in enumerate(names) if k != "noise"]
    as_is = [corr(whole[n], faces[int(k)]) for n, k in enumerate(names) if k != "noise"]
    assert np.median(framed) > 0.7 and np.median(framed) > np.median(as_is) + 0.2, (framed, as_is)
    assert sum(f > a for f, a in zip(framed, as_is)) >= 10, (framed, as_is)
    assert np.array_equal(x[names.index("noise")], whole[names.index("noise")])
    # face crops: 48 px ones are never looked at; the same crops at 192 px are face-framed already
    counts = {}
    x48, _ = load_folders(tmp_path / "crops", faces="auto", framing=counts)["all"]
    assert counts == {"cropped": 0, "as_is": 12, "no_face": 0}
    with pytest.raises(ValueError, match="faces must be one of"):
        load_folders(tmp_path / "crops", faces="crop")
