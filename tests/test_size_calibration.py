"""Confidence that knows a face's size (issue 31, item 2): a small or blurred face is served a
calibration of its own size band, flatter than a sharp full-size face's, and never a different answer."""

from __future__ import annotations

import json

import numpy as np
import pytest

from model.calibration import (FULL_SIDE, calibrate, calibrate_by_size, check_sharpness_curve, check_size_bands,
                               sharpness, side_from_sharpness)
from model.classifier import DEFAULT_WEIGHTS, EmotionClassifier
from model.errors import ModelLoadError

BANDS = [{"side": 24, "temperature": 1.6, "top_label_map": []},
         {"side": 12, "temperature": 3.0, "top_label_map": []}]


def _probs(n: int = 200, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).dirichlet(np.full(7, 0.4), n)


def test_full_size_faces_take_the_full_size_calibration_and_smaller_ones_are_surer_of_less():
    p = _probs()
    full = calibrate(p, 0.8)
    for side in (48, 64, 300):
        np.testing.assert_allclose(calibrate_by_size(p, np.full(len(p), side), 0.8, None, BANDS), full, atol=1e-12)
    tops = [calibrate_by_size(p, np.full(len(p), s), 0.8, None, BANDS).max(1).mean() for s in (48, 40, 24, 16, 12, 6)]
    assert all(a > b for a, b in zip(tops, tops[1:4])), tops  # flatter with every step down to the last band
    assert tops[4] == pytest.approx(tops[5])  # below the smallest band: that band's
    for s in (47, 30, 24, 13):
        q = calibrate_by_size(p, np.full(len(p), s), 0.8, None, BANDS)
        assert (q.argmax(1) == p.argmax(1)).all()
        np.testing.assert_allclose(q.sum(1), 1, atol=1e-9)
    with pytest.raises(ValueError, match="finite"):
        calibrate_by_size(p[:2], [np.nan, 20], 0.8, None, BANDS)


def test_between_two_bands_the_answer_moves_smoothly_by_log_side():
    p = _probs(50)
    at24, at12 = (calibrate_by_size(p, np.full(50, s), 0.8, None, BANDS) for s in (24, 12))
    mid = calibrate_by_size(p, np.full(50, np.sqrt(24 * 12)), 0.8, None, BANDS)
    np.testing.assert_allclose(mid, 0.5 * (at24 + at12), atol=1e-12)
    just_below = calibrate_by_size(p, np.full(50, 47.9), 0.8, None, BANDS)
    assert np.abs(just_below - calibrate(p, 0.8)).max() < 0.01
    mixed = calibrate_by_size(p, np.r_[np.full(25, 48), np.full(25, 12)], 0.8, None, BANDS)
    np.testing.assert_allclose(mixed[:25], calibrate(p[:25], 0.8), atol=1e-12)
    np.testing.assert_allclose(mixed[25:], at12[25:], atol=1e-12)


@pytest.mark.parametrize("bands, says", [
    ([{"side": 48, "temperature": 1.0}], "below 48"),
    ([{"side": 20, "temperature": 0}], "temperature"),
    ([{"side": 20, "temperature": 1.0}, {"side": 20, "temperature": 2.0}], "repeat"),
    ([{"side": 20, "temperature": 1.0, "top_label_map": [[1, 1, 0]]}], "top-label map"),
    ([{"temperature": 1.0}], "numeric side"),
    ({"side": 20}, "must be an array"),
])
def test_a_bad_size_band_is_refused_saying_what_is_wrong(bands, says):
    with pytest.raises(ValueError, match=says):
        check_size_bands(bands, 7)


def test_sharpness_falls_as_a_face_is_shrunk_and_tells_its_side(fer2013):
    from training.augment import shrink

    x = fer2013["val"][0][::5]
    med = {s: float(np.median(sharpness(shrink(x, s)))) for s in (48, 40, 32, 24, 16)}
    assert med[48] > med[40] > med[32] > med[24] > med[16], med
    card = EmotionClassifier.load().card.size_calibration.sharpness
    curve = check_sharpness_curve(card)
    for s in (40, 24, 16):
        seen = np.median(side_from_sharpness(sharpness(shrink(x, s)), *curve))
        assert abs(seen - s) <= 0.2 * s, (s, seen)
    # contrast and brightness are not blur: a dimmed face is as sharp as it was
    dim = (x[:100] * 0.5).astype(np.uint8)
    assert np.median(np.abs(sharpness(dim) - sharpness(x[:100]))) < 0.1 * med[48]


def test_sharpness_of_a_flat_or_empty_batch_is_defined():
    assert sharpness(np.zeros((0, 48, 48), np.uint8)).shape == (0,)
    assert np.isfinite(sharpness(np.full((2, 48, 48), 128, np.uint8))).all()
    with pytest.raises(ValueError, match="larger side"):
        check_sharpness_curve({"sides": [48, 24], "median": [0.1, 0.3]})
    with pytest.raises(ValueError, match="sides and median"):
        check_sharpness_curve({"sides": [48], "median": [0.1, 0.3]})
    assert check_sharpness_curve(None) is None


def test_the_served_classifier_is_surer_of_less_on_a_small_face_and_keeps_its_answer(fer2013):
    from training.augment import shrink

    clf = EmotionClassifier.load()
    assert clf.size_bands and clf.sharpness_curve, "the bundled card has no calibration by size"
    x = fer2013["val"][0][::7]
    small = shrink(x, 20, 50)
    as_data = clf.predict(small)                       # an array of 48 px faces: the full-size calibration
    np.testing.assert_allclose(as_data, clf.predict(small, sides=None))
    in_a_frame = clf.predict(small, sides=[20] * len(small))
    assert (in_a_frame.argmax(1) == as_data.argmax(1)).all()
    assert in_a_frame.max(1).mean() < as_data.max(1).mean() - 0.03
    assert (in_a_frame.max(1) >= 0.5).sum() < (as_data.max(1) >= 0.5).sum()
    # a list of small crops says its own size
    crops = [cv2_resize(f, 20) for f in x[:20]]
    np.testing.assert_allclose(clf.predict(crops), clf.predict(np.stack([cv2_resize(c, 48) for c in crops]),
                                                               sides=[20] * 20), atol=1e-6)
    # a sharp face told it is large stays as the full-size calibration has it
    sharp = x[sharpness(x) > 0.6][:20]
    np.testing.assert_allclose(clf.predict(sharp, sides=[200] * len(sharp)), clf.predict(sharp), atol=1e-6)
    # but a blurred face is surer of less however large it was on the screen
    blurred = shrink(sharp, 16)
    assert clf.predict(blurred, sides=[200] * len(sharp)).max(1).mean() < clf.predict(blurred).max(1).mean()
    with pytest.raises(ValueError, match="one size a face"):
        clf.predict(small[:3], sides=[20, 20])
    batched = clf.predict(small, sides=[20] * len(small), batch_size=16)
    np.testing.assert_allclose(batched, in_a_frame, atol=1e-6)


def cv2_resize(face: np.ndarray, side: int) -> np.ndarray:
    import cv2

    return cv2.resize(face, (side, side), interpolation=cv2.INTER_AREA if side < face.shape[0] else cv2.INTER_LINEAR)


def test_a_card_with_a_broken_size_band_is_refused_at_load(tmp_path):
    import shutil

    for f in DEFAULT_WEIGHTS.parent.glob(DEFAULT_WEIGHTS.stem + ".*"):
        shutil.copy(f, tmp_path / f.name)
    card_file = tmp_path / DEFAULT_WEIGHTS.with_suffix(".json").name
    card = json.loads(card_file.read_text())
    card["size_calibration"]["bands"][0]["temperature"] = -1
    card_file.write_text(json.dumps(card))
    with pytest.raises(ModelLoadError, match="size band 0: temperature"):
        EmotionClassifier.load(tmp_path / DEFAULT_WEIGHTS.name)
    card["size_calibration"]["bands"][0]["temperature"] = 1.0
    card["size_calibration"]["sharpness"]["median"] = card["size_calibration"]["sharpness"]["median"][::-1]
    card_file.write_text(json.dumps(card))
    with pytest.raises(ModelLoadError, match="sharpness curve"):
        EmotionClassifier.load(tmp_path / DEFAULT_WEIGHTS.name)


def test_the_shipped_size_calibration_was_fitted_and_helps_where_faces_are_small():
    sc = EmotionClassifier.load().card.size_calibration
    assert [b["side"] for b in sc.bands] == sorted({b["side"] for b in sc.bands}, reverse=True)
    assert max(b["side"] for b in sc.bands) < FULL_SIDE
    rows = {r["side"]: r for r in sc.held_out}
    assert set(rows) >= {48, 24, 16}
    for side in (24, 16):
        r = rows[side]
        assert r["ece_by_size_and_sharpness"] < r["ece_full_size"]
        assert r["neutral_counted_negative_by_size_and_sharpness"] < r["neutral_counted_negative_full_size"]


def test_faces_through_a_video_codec_are_calibrated_by_size_too(fer2013):
    """The shipped bands were fitted with H.264 in their pool: on val faces of 24 px through H.264 at
    a poor rate (CRF 38, 49 faces a frame), the calibration by size is closer to the truth than the
    full-size one and counts fewer calm faces as surely negative, answers unchanged."""
    from training.augment import shrink
    from training.calibrate import NEGATIVE, NEUTRAL, ece

    clf = EmotionClassifier.load()
    assert clf.card.size_calibration.h264 and clf.card.size_calibration.jpeg
    x, y = fer2013["val"]
    coded = shrink(x, 24, h264=38)
    full, by_size = clf.predict(coded, batch_size=512), clf.predict(coded, sides=[24] * len(coded), batch_size=512)
    assert (full.argmax(1) == by_size.argmax(1)).all()
    assert ece(by_size, y) < 0.6 * ece(full, y)
    calm = y == NEUTRAL

    def sure_negative(p):
        return int((np.isin(p.argmax(1), NEGATIVE) & (p.max(1) >= 0.5))[calm].sum())
    assert sure_negative(by_size) < 0.5 * sure_negative(full)


def test_fitting_by_size_on_val_flattens_small_faces_on_the_held_out_half(fer2013):
    from training.calibrate import fit_size_calibration, fit_temperature, fit_top_label_map, scale

    clf = EmotionClassifier.load()
    x, y = fer2013["val"]
    pick = np.random.default_rng(3).permutation(len(y))[:900]
    x, y = x[pick], y[pick]
    raw = clf.predict(x, calibrated=False)
    t = fit_temperature(raw, y)
    m = fit_top_label_map(scale(raw, t), y)
    report = fit_size_calibration(lambda f: clf.predict(f, calibrated=False), x, y, t, m, sides=(20,), jpeg=(0, 40),
                                  h264=(38,))
    assert [b["side"] for b in report["bands"]] == [20]
    assert report["sharpness"]["sides"] == [48, 20]
    assert report["sharpness"]["median"][0] > report["sharpness"]["median"][1]
    rows = {r["side"]: r for r in report["held_out"]}
    assert rows[20]["ece_by_size"] < rows[20]["ece_full_size"]
    assert rows[20]["counted_by_size"] < rows[20]["counted_full_size"]
    assert report["held_out_faces"] == 450 and report["jpeg"] == [0, 40] and report["h264"] == [38]


def test_the_observer_tells_the_classifier_each_face_size(fer_faces):
    """Faces found in a gallery go to the classifier with their side in the frame; a gallery shrunk
    to a fifth gives faces below full size, served surer of less than the full-size calibration."""
    import cv2

    from bot import GalleryAnalyzer
    from bot.synthetic import render_gallery
    from model.crop import crop_faces, fer_square

    clf = EmotionClassifier.load()
    seen = []

    class Spy:
        def __getattr__(self, name):
            return getattr(clf, name)

        def predict(self, faces, *args, sides=None, **kw):
            seen.append((np.array(faces), None if sides is None else np.asarray(sides, float)))
            return clf.predict(faces, *args, sides=sides, **kw)

    analyzer = GalleryAnalyzer(classifier=Spy())
    g = render_gallery(fer_faces[40:], 9, seed=21)
    small = cv2.resize(g.image, None, fx=0.22, fy=0.22, interpolation=cv2.INTER_AREA)
    for image in (g.image, small):
        seen.clear()
        analyzer.forget()
        result = analyzer.analyze(image)
        assert len(result.faces) >= 7 and len(seen) == 1
        faces, sides = seen[0]
        assert sides is not None, "the analyser did not say how large its faces are"
        np.testing.assert_allclose(sides, [fer_square(f.box)[2] for f in result.faces], rtol=1e-6)
    assert np.median(sides) < 40
    crops = crop_faces(small, [f.box for f in result.faces])
    full = clf.predict(crops)
    served = np.array([f.scores for f in result.faces])
    assert (served.argmax(1) == full.argmax(1)).all()
    assert served.max(1).mean() < full.max(1).mean()


def test_real_calm_screenshots_shrunk_read_fewer_faces_surely_negative(real_galleries, real_galleries2, analyzer):
    """The shared real screenshots (calm classes, by eye) read as served and shrunk to 0.6x and 0.4x
    (a smaller screen, a larger gallery): none reads "negative" as it is, and shrunk, the faces read
    negative at a top score of 0.5 are far fewer than the full-size calibration reads them."""
    import cv2

    from bot.mood import CONFIDENT, NEG_IDX, mood_of, valence_of
    from model.crop import crop_faces

    clf = EmotionClassifier.load()
    counts = {}
    for scale in (1.0, 0.6, 0.4):
        sure_neg = {"size": 0, "full": 0}
        negative = {"size": 0, "full": 0}
        for g in real_galleries + real_galleries2:
            image = cv2.imread(str(g["path"]))
            if scale != 1:
                image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            analyzer.forget()
            faces = [f for f in analyzer.analyze(image).faces if f.role == "participant"]
            if not faces:
                continue
            served = np.array([f.scores for f in faces])
            full = clf.predict(crop_faces(image, [f.box for f in faces]))
            for how, p in (("size", served), ("full", full)):
                sure_neg[how] += int(np.sum((p.max(1) >= CONFIDENT) & np.isin(p.argmax(1), NEG_IDX)))
                negative[how] += mood_of(float(valence_of(p).mean())) == "negative"
        counts[scale] = (sure_neg, negative)
    assert counts[1.0][1]["size"] == 0, counts
    for scale in (0.6, 0.4):
        sure_neg, negative = counts[scale]
        assert sure_neg["size"] <= 0.7 * sure_neg["full"], counts
        assert negative["size"] <= negative["full"], counts
