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
