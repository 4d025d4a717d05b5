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
    """Light, shrink, blur and JPEG: a changed face has lost its detail and carries a codec's 8x8
    blocks at the small size; the others are untouched; seeded; p=0 changes nothing."""
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
