import numpy as np

from training.augment import AugmentConfig, augment_batch

NONE = AugmentConfig(flip=0.0, rotate_deg=0.0, scale=(1.0, 1.0), shift=0.0, erase=0.0)


def _faces(n=16):
    return np.random.default_rng(0).integers(0, 256, (n, 48, 48), dtype=np.uint8)


def test_identity_config_returns_the_input():
    x = _faces()
    np.testing.assert_allclose(augment_batch(x, np.random.default_rng(0), NONE), x, atol=1e-3)


def test_flip_only_mirrors_exactly():
    x = _faces()
    cfg = AugmentConfig(flip=1.0, rotate_deg=0.0, scale=(1.0, 1.0), shift=0.0, erase=0.0)
    np.testing.assert_allclose(augment_batch(x, np.random.default_rng(0), cfg), x[:, :, ::-1], atol=1e-3)


def test_default_augmentation_is_seeded_bounded_and_changes_images():
    x = _faces(64)
    a = augment_batch(x, np.random.default_rng(5))
    b = augment_batch(x, np.random.default_rng(5))
    assert a.shape == x.shape and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert a.min() >= 0 and a.max() <= 255
    changed = np.abs(a - x).reshape(64, -1).mean(axis=1) > 1
    assert changed.mean() > 0.9


def test_shift_moves_content():
    x = np.zeros((1, 48, 48), np.uint8)
    x[0, 20:28, 20:28] = 255
    cfg = AugmentConfig(flip=0.0, rotate_deg=0.0, scale=(1.0, 1.0), shift=0.1, erase=0.0)
    out = augment_batch(x, np.random.default_rng(1), cfg)[0]
    ys, xs = np.nonzero(out > 128)
    assert (ys.mean(), xs.mean()) != (23.5, 23.5)
    assert abs(out.sum() - x.sum()) / x.sum() < 0.1  # moved, not destroyed


def test_rotation_turns_content_about_the_centre():
    x = np.zeros((1, 48, 48), np.uint8)
    x[0, 23:25, 30:44] = 255  # a bar to the right of the centre
    cfg = AugmentConfig(flip=0.0, rotate_deg=90.0, scale=(1.0, 1.0), shift=0.0, erase=0.0)
    rng = np.random.default_rng(3)
    rng.random(1)  # augment_batch draws the flips first, then the angles
    angle = rng.uniform(-90, 90, 1)[0]
    out = augment_batch(x, np.random.default_rng(3), cfg)[0]
    ys, xs = np.nonzero(out > 128)
    got = np.degrees(np.arctan2(-(ys.mean() - 23.5), xs.mean() - 23.5))
    assert abs(abs(got) - abs(angle)) < 8, (got, angle)


def test_mixup_blends_images_and_targets_alike():
    from training.augment import mixup_batch

    rng = np.random.default_rng(0)
    x = np.stack([np.full((48, 48), 200.0), np.zeros((48, 48))]).astype(np.float32)
    y = np.eye(7, dtype=np.float32)[[3, 0]]
    xm, ym = mixup_batch(x, y, rng, alpha=1.0)
    np.testing.assert_allclose(ym.sum(axis=1), 1, atol=1e-6)
    for i in range(2):
        assert ym[i].max() >= 0.5  # the face's own label dominates
        if i == 0:  # a face mixed with a partner carries the partner's share in pixels and labels
            np.testing.assert_allclose(xm[0, 0, 0] / 200.0, ym[0, 3], atol=1e-5)
    xs, ys = mixup_batch(x, y, rng, p=0.0)
    np.testing.assert_array_equal(xs, x)
    np.testing.assert_array_equal(ys, y)


def test_low_res_shrinks_the_faces_drawn_and_keeps_the_rest():
    import cv2

    from training.augment import low_res_batch

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (400, 48, 48)).astype(np.float32)  # noise: all detail, no blur
    out = low_res_batch(x.copy(), np.random.default_rng(1), p=0.5)
    changed = np.abs(out - x).reshape(len(x), -1).max(axis=1) > 0
    assert 0.4 < changed.mean() < 0.6 and out.dtype == np.float32 and out.shape == x.shape
    # a changed face is what a tile of 14-40 px gives: shrunk, then enlarged back, its detail gone
    detail = np.abs(np.diff(out, axis=2)).mean(axis=(1, 2))
    assert detail[changed].max() < 0.6 * detail[~changed].min()
    i = np.flatnonzero(changed)[0]
    side = [s for s in range(14, 41) if np.allclose(cv2.resize(cv2.resize(x[i], (s, s), interpolation=cv2.INTER_AREA),
                                                               (48, 48), interpolation=cv2.INTER_LINEAR), out[i])]
    assert len(side) == 1
    np.testing.assert_array_equal(low_res_batch(x.copy(), np.random.default_rng(1), p=0.5), out)  # seeded
    np.testing.assert_array_equal(low_res_batch(x.copy(), rng, p=0.0), x)


def test_meeting_puts_the_faces_drawn_through_a_video_call_and_keeps_the_rest():
    """Framing, light, shrink, blur and a codec: a changed face has lost its detail and is no mere
    shrink-and-enlarge of its input; the others are untouched; seeded; p=0 changes nothing."""
    import cv2

    from training.augment import meeting_batch

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (400, 48, 48)).astype(np.float32)
    out = meeting_batch(x.copy(), np.random.default_rng(1), p=0.5)
    changed = np.abs(out - x).reshape(len(x), -1).max(axis=1) > 0
    assert 0.4 < changed.mean() < 0.6 and out.dtype == np.float32 and out.shape == x.shape
    assert out.min() >= 0 and out.max() <= 255
    detail = np.abs(np.diff(out, axis=2)).mean(axis=(1, 2))
    assert np.median(detail[changed]) < 0.6 * detail[~changed].min()  # (a large tile's face is only compressed)
    # compressed, not only shrunk: no face drawn is the mere shrink-and-enlarge of its input
    i = np.flatnonzero(changed)[0]
    plain = [cv2.resize(cv2.resize(x[i], (s, s), interpolation=cv2.INTER_AREA), (48, 48),
                        interpolation=cv2.INTER_LINEAR) for s in range(14, 49)]
    assert min(np.abs(p - out[i]).mean() for p in plain) > 1.0
    np.testing.assert_array_equal(meeting_batch(x.copy(), np.random.default_rng(1), p=0.5), out)
    np.testing.assert_array_equal(meeting_batch(x.copy(), rng, p=0.0), x)


def _smooth_faces(n=12, side=48):
    """Face-like smooth images: a bright oval on a ramp, with two dark eyes and a mouth (a codec keeps
    them roughly, unlike noise)."""
    import cv2

    out = []
    for k in range(n):
        f = np.tile(np.linspace(40, 120, side, dtype=np.float32), (side, 1))
        c = side // 2
        cv2.ellipse(f, (c + k % 3 - 1, c), (side // 3, side * 5 // 12), 0, 0, 360, 190.0, -1)
        for ex in (c - side // 7, c + side // 7):
            cv2.circle(f, (ex, c - side // 8), max(1, side // 16), 50.0, -1)
        cv2.line(f, (c - side // 8, c + side // 5 + k % 2), (c + side // 8, c + side // 5), 70.0, max(1, side // 24))
        out.append(f)
    return np.clip(np.stack(out), 0, 255).astype(np.uint8)


def test_h264_keeps_a_tile_roughly_and_loses_more_at_a_higher_rate_factor():
    """One H.264 frame through PyAV: the same pixels give the same answer, odd sizes come back whole,
    and the error grows with the constant rate factor (28: close; 44: blocks and smears)."""
    from training.augment import h264_frame, h264_tiles

    faces = _smooth_faces(10, 24)
    err = {}
    for crf in (20, 32, 44):
        tiles = h264_tiles(list(faces), crf, per_row=4)
        assert [t.shape for t in tiles] == [f.shape for f in faces] and tiles[0].dtype == np.uint8
        err[crf] = float(np.mean([np.abs(t.astype(int) - f).mean() for t, f in zip(tiles, faces)]))
    assert err[20] < 4 and err[20] < err[32] < err[44] and err[44] > 6, err
    odd = np.ascontiguousarray(_smooth_faces(1, 37)[0][:, :29])
    a, b = h264_frame(odd, 36), h264_frame(odd, 36)
    assert a.shape == odd.shape
    np.testing.assert_array_equal(a, b)
    # tiles of different sizes in one frame each come back at their own size, their own content
    mixed = h264_tiles([faces[0], _smooth_faces(1, 16)[0], _smooth_faces(1, 40)[0]], 24)
    assert [m.shape for m in mixed] == [(24, 24), (16, 16), (40, 40)]
    assert np.abs(mixed[1].astype(int) - _smooth_faces(1, 16)[0]).mean() < 8


def test_shrink_through_h264_is_a_gallery_stream_not_a_plain_shrink():
    from training.augment import shrink

    x = np.repeat(_smooth_faces(12, 48), 5, axis=0)  # 60 faces: two frames of a 7x7 gallery
    plain, coded = shrink(x, 24), shrink(x, 24, h264=40)
    assert coded.shape == x.shape and coded.dtype == np.uint8
    gap = np.abs(coded.astype(int) - plain).mean(axis=(1, 2))
    assert gap.min() > 0.5 and gap.mean() < 25
    np.testing.assert_array_equal(shrink(x, 24, h264=40), coded)
    # a harder rate loses more of the face
    assert np.abs(shrink(x, 24, h264=48).astype(int) - plain).mean() > gap.mean()


def test_reframe_moves_and_scales_the_crop_as_the_detector_does():
    from training.augment import reframe_batch

    disc = np.zeros((1, 48, 48), np.float32)
    disc[0, 14:34, 14:34] = 255  # a 20 px square centred in the frame
    same = reframe_batch(disc, np.random.default_rng(0), scale=(1.0, 1.0), shift=0.0)
    np.testing.assert_allclose(same, disc, atol=1e-3)
    wide = reframe_batch(disc, np.random.default_rng(0), scale=(1.25, 1.25), shift=0.0)  # a looser crop
    tight = reframe_batch(disc, np.random.default_rng(0), scale=(0.8, 0.8), shift=0.0)
    area = {k: float((v > 127).sum()) for k, v in (("same", same), ("wide", wide), ("tight", tight))}
    assert area["wide"] < 0.75 * area["same"] < 0.75 * area["tight"], area
    moved = reframe_batch(np.repeat(disc, 200, axis=0), np.random.default_rng(1))
    cx = np.array([np.nonzero((m > 127).any(axis=0))[0].mean() for m in moved])
    assert 1.5 < np.ptp(cx) <= 2 * 0.065 * 48 * 1.25 + 1  # moved, within the measured shift
    r = reframe_batch(disc.repeat(50, axis=0), np.random.default_rng(2))
    sides = (r > 127).any(axis=1).sum(axis=1)
    assert 20 / 1.19 - 1.5 <= sides.min() < sides.max() <= 20 / 0.82 + 1.5


def test_side_light_brightens_one_side_and_keeps_the_rest():
    from training.augment import side_light

    x = np.full((300, 48, 48), 100.0, np.float32)
    out = side_light(x.copy(), np.random.default_rng(0), p=0.5)
    spread = np.ptp(out.reshape(300, -1), axis=1)
    lit = spread > 0
    assert 0.4 < lit.mean() < 0.6 and (out[~lit] == 100).all()
    assert spread.max() <= 0.5 * 100 * np.sqrt(2) + 1 and np.median(spread[lit]) > 10
    np.testing.assert_allclose(out.mean(axis=(1, 2)), 100, atol=0.5)  # light moved across, not added


def test_motion_kernel_is_a_normalised_line_along_its_direction():
    from training.augment import motion_kernel

    for length in (2, 3, 4):
        for angle in (0, 30, 90, 135):
            k = motion_kernel(length, angle)
            assert abs(k.sum() - 1) < 1e-5 and k.shape[0] == k.shape[1] and k.shape[0] % 2 == 1
            yy, xx = np.mgrid[:k.shape[0], :k.shape[1]] - k.shape[0] // 2
            along = np.cos(np.deg2rad(angle)) * xx + np.sin(np.deg2rad(angle)) * yy
            across = -np.sin(np.deg2rad(angle)) * xx + np.cos(np.deg2rad(angle)) * yy
            # the spread along the line is that of a 1 px wide line length px long (2 px: barely)
            assert (k * along ** 2).sum() > (1.3 if length == 2 else 2.5) * (k * across ** 2).sum()


def test_meeting_needs_pyav_and_says_so(monkeypatch, capsys):
    import importlib.util

    import pytest

    from training import train

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "av" else real(name, *a))
    with pytest.raises(SystemExit):
        train.parse_args(["--meeting", "0.3"])
    assert "PyAV" in capsys.readouterr().err
    assert train.parse_args(["--meeting", "0"]).meeting == 0
    assert train.parse_args(["--meeting", "0.3", "--meeting-codec", "jpeg"]).meeting_codec == "jpeg"


def test_meeting_with_jpeg_alone_runs_without_pyav(monkeypatch):
    """`h264=False` (`--meeting-codec jpeg`) never touches PyAV; with it the H.264 step says what is missing."""
    import sys

    import pytest

    from training.augment import meeting_batch

    monkeypatch.setitem(sys.modules, "av", None)  # import av now raises ImportError
    x = np.repeat(_smooth_faces(8, 48), 8, axis=0).astype(np.float32)
    out = meeting_batch(x.copy(), np.random.default_rng(3), p=1.0, h264=False)
    assert (np.abs(out - x).reshape(len(x), -1).max(axis=1) > 0).all()
    with pytest.raises(RuntimeError, match="PyAV"):
        meeting_batch(x.copy(), np.random.default_rng(3), p=1.0)
