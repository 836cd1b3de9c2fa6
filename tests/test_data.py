"""Tests of xent.data: deterministic, download-free datasets."""

import dataclasses

import numpy as np
import pytest
from sklearn.datasets import load_digits
from xent import data

N_IMAGES = 1797
# Digit -> [even, prime, at least 5, closed loop], typed in by hand (4 counts as open).
ATTRIBUTE_TABLE = {
    0: [1, 0, 0, 1],
    1: [0, 0, 0, 0],
    2: [1, 1, 0, 0],
    3: [0, 1, 0, 0],
    4: [1, 0, 0, 0],
    5: [0, 1, 1, 0],
    6: [1, 0, 1, 1],
    7: [0, 1, 1, 0],
    8: [1, 0, 1, 1],
    9: [0, 0, 1, 1],
}


@pytest.fixture(scope="module")
def full():
    bunch = load_digits()
    return bunch.data / 16.0, bunch.target


def sorted_rows(X, y):
    """The rows of [X | y] in lexicographic order: a multiset fingerprint of a dataset."""
    table = np.column_stack([np.asarray(X, dtype=np.float64), y])
    return table[np.lexsort(table.T[::-1])]


def parts(split):
    return [
        (split.X_train, split.y_train),
        (split.X_val, split.y_val),
        (split.X_test, split.y_test),
    ]


# --- digits --------------------------------------------------------------------------------


def test_digits_shapes_dtypes_and_pixel_range():
    split = data.digits()
    for X, y in parts(split):
        assert X.dtype == np.float32 and y.dtype == np.int64
        assert X.ndim == 2 and X.shape[1] == 64 and y.shape == (len(X),)
    assert len(split.y_val) == 0
    X = np.concatenate([split.X_train, split.X_test])
    assert X.min() == 0.0 and X.max() == 1.0
    assert len(split.y_train) + len(split.y_test) == N_IMAGES
    assert len(split.y_test) == pytest.approx(0.25 * N_IMAGES, abs=5)


@pytest.mark.parametrize("val_fraction", [0.0, 0.2])
def test_digits_splits_are_disjoint_and_cover_every_image(full, val_fraction):
    split = data.digits(seed=3, val_fraction=val_fraction, dtype=np.float64)
    X_all = np.concatenate([X for X, _ in parts(split)])
    y_all = np.concatenate([y for _, y in parts(split)])
    assert len(y_all) == N_IMAGES
    np.testing.assert_array_equal(sorted_rows(X_all, y_all), sorted_rows(*full))


def test_digits_same_seed_same_arrays_different_seed_different_split():
    a, b, c = data.digits(seed=7), data.digits(seed=7), data.digits(seed=8)
    for (Xa, ya), (Xb, yb) in zip(parts(a), parts(b), strict=True):
        np.testing.assert_array_equal(Xa, Xb)
        np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(a.X_test, c.X_test)


def test_digits_is_stratified(full):
    _, y_full = full
    overall = np.bincount(y_full) / len(y_full)
    split = data.digits(seed=1, test_fraction=0.3, val_fraction=0.2)
    for _, y in parts(split):
        np.testing.assert_allclose(np.bincount(y, minlength=10) / len(y), overall, atol=0.006)
    # within each class: round(n_c * fraction) images held out
    for c in range(10):
        n_c = np.sum(y_full == c)
        assert np.sum(split.y_test == c) == round(n_c * 0.3)
        assert np.sum(split.y_val == c) == round(n_c * 0.2)


def test_digits_splits_are_shuffled_not_sorted_by_class():
    split = data.digits()
    assert np.any(np.diff(split.y_train) < 0)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_digits_dtype(dtype, full):
    split = data.digits(dtype=dtype)
    assert split.X_train.dtype == dtype
    # 0..16 / 16 is exact in every float format
    assert set(np.unique(split.X_train).tolist()) <= set(np.unique(full[0]).tolist())


def test_split_is_frozen_and_has_a_short_repr():
    split = data.digits()
    with pytest.raises(dataclasses.FrozenInstanceError):
        split.X_train = None
    assert repr(split) == "Split(train=1347, val=0, test=450, features=64, float32)"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"test_fraction": 1.0}, r"test_fraction must be in \[0, 1\); got 1.0"),
        ({"test_fraction": -0.1}, "got -0.1"),
        ({"val_fraction": float("nan")}, "val_fraction must be in"),
        ({"test_fraction": 0.6, "val_fraction": 0.5}, "test_fraction \\+ val_fraction must be < 1"),
        ({"test_fraction": 0.5, "val_fraction": 0.499}, "no training image of class"),
        ({"dtype": np.int64}, "dtype must be float16, float32 or float64; got int64"),
    ],
)
def test_digits_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        data.digits(**kwargs)
    with pytest.raises(ValueError, match=match):
        data.digits_multilabel(**kwargs)


# --- digits_multilabel ---------------------------------------------------------------------


def test_multilabel_targets_follow_the_attribute_table():
    split = data.digits_multilabel()
    assert split.label_names == ("even", "prime", "at least 5", "closed loop")
    for Y, y in [(split.Y_train, split.y_train), (split.Y_val, split.y_val),
                 (split.Y_test, split.y_test)]:
        assert Y.dtype == np.float32 and Y.shape == (len(y), 4)
        expected = np.array([ATTRIBUTE_TABLE[int(d)] for d in y], dtype=np.float32)
        np.testing.assert_array_equal(Y, expected)


def test_multilabel_labels_are_not_exclusive():
    Y = data.digits_multilabel().Y_train
    per_image = Y.sum(axis=1)
    assert per_image.max() == 3 and per_image.min() == 0  # 6 and 8 have three; 1 has none


def test_multilabel_split_sizes_determinism_and_same_images_as_digits():
    a, b = data.digits_multilabel(seed=5), data.digits_multilabel(seed=5)
    np.testing.assert_array_equal(a.Y_val, b.Y_val)
    np.testing.assert_array_equal(a.X_train, b.X_train)
    assert len(a.y_train) + len(a.y_val) + len(a.y_test) == N_IMAGES
    assert len(a.y_val) == pytest.approx(0.2 * N_IMAGES, abs=5)
    plain = data.digits(seed=5, val_fraction=0.2)
    np.testing.assert_array_equal(plain.X_test, a.X_test)
    np.testing.assert_array_equal(plain.y_train, a.y_train)


def test_multilabel_dtype_applies_to_pixels_and_targets():
    split = data.digits_multilabel(dtype=np.float64)
    assert split.X_train.dtype == np.float64 and split.Y_train.dtype == np.float64


# --- blobs ---------------------------------------------------------------------------------


def test_blobs_shapes_dtypes_and_class_counts():
    X, y = data.blobs(n_per_class=40, n_classes=5)
    assert X.shape == (200, 2) and X.dtype == np.float64
    assert y.shape == (200,) and y.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(y), [40] * 5)


def test_blobs_are_deterministic_and_depend_on_the_seed():
    X1, y1 = data.blobs(seed=2)
    X2, y2 = data.blobs(seed=2)
    X3, _ = data.blobs(seed=3)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(X1, X3)


def test_blob_centres_lie_on_a_circle_and_spread_scales_the_noise():
    X, y = data.blobs(n_per_class=4000, n_classes=4, spread=0.5)
    for k in range(4):
        centre = X[y == k].mean(axis=0)
        expected = 3.0 * np.array([np.cos(k * np.pi / 2), np.sin(k * np.pi / 2)])
        np.testing.assert_allclose(centre, expected, atol=0.05)
        np.testing.assert_allclose(X[y == k].std(axis=0), [0.5, 0.5], rtol=0.05)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_classes": 1}, "n_classes must be an integer >= 2; got 1"),
        ({"n_per_class": 0}, "n_per_class must be an integer >= 1; got 0"),
        ({"n_per_class": 2.5}, "got 2.5"),
        ({"spread": 0.0}, "spread must be > 0; got 0.0"),
    ],
)
def test_blobs_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        data.blobs(**kwargs)


def test_blob_centres_are_the_class_means_of_blobs():
    X, y = data.blobs(n_per_class=4000, n_classes=5, seed=3, spread=0.5)
    centres = data.blob_centres(5)
    assert centres.shape == (5, 2)
    np.testing.assert_allclose(np.linalg.norm(centres, axis=1), data.BLOB_RADIUS)
    for k in range(5):
        # the sample mean of 4000 points with sd 0.5 is within 0.05 of the centre
        np.testing.assert_allclose(X[y == k].mean(axis=0), centres[k], atol=0.05)


# --- digit_sets ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def strips():
    return data.digit_sets(n_train=300, n_val=100, n_test=100, dtype=np.float64)


def test_digit_sets_shapes_and_dtypes(strips):
    for part, n in (("train", 300), ("val", 100), ("test", 100)):
        X, y, Y = (getattr(strips, f"{k}_{part}") for k in ("X", "y", "Y"))
        assert X.shape == (n, 192) and X.dtype == np.float64
        assert y.shape == (n, 3) and y.dtype == np.int64
        assert Y.shape == (n, 10) and Y.dtype == np.float64
        assert X.min() >= 0 and X.max() <= 1
    assert strips.label_names == tuple("0123456789")


def test_digit_sets_labels_are_the_digits_placed(strips, full):
    X_full, y_full = full
    for part in ("train", "val", "test"):
        X, y, Y = (getattr(strips, f"{k}_{part}") for k in ("X", "y", "Y"))
        for n in range(len(y)):
            placed = {int(d) for d in y[n] if d >= 0}
            assert set(np.flatnonzero(Y[n]).tolist()) == placed
            cells = X[n].reshape(8, 3, 8).transpose(1, 0, 2).reshape(3, 64)
            for cell, digit in zip(cells, y[n], strict=True):
                if digit < 0:  # a blank cell is all zeros
                    assert not cell.any()
                else:  # a real image of that digit, taken from scikit-learn's set
                    same = np.all(X_full == cell, axis=1)
                    assert same.any() and digit in y_full[same]


def test_digit_sets_vary_in_size_and_blank_zero_fills_every_cell():
    counts = data.digit_sets(n_train=2000, n_val=1, n_test=1).Y_train.sum(axis=1)
    assert set(np.unique(counts).tolist()) == {0, 1, 2, 3}
    full_strips = data.digit_sets(blank=0.0, n_train=200, n_val=1, n_test=1)
    assert np.all(full_strips.y_train >= 0)


def test_digit_sets_test_cells_are_not_training_cells():
    split = data.digit_sets(n_slots=1, blank=0.0, n_train=2000, n_val=1, n_test=500)
    train = {row.tobytes() for row in split.X_train}
    # a handful of scikit-learn's digits are exact duplicates of each other, so allow a few
    shared = sum(row.tobytes() in train for row in split.X_test)
    assert shared <= 5


def test_digit_sets_are_deterministic_and_depend_on_the_seed():
    a = data.digit_sets(seed=4, n_train=50, n_val=10, n_test=10)
    b = data.digit_sets(seed=4, n_train=50, n_val=10, n_test=10)
    c = data.digit_sets(seed=5, n_train=50, n_val=10, n_test=10)
    for field in ("X_train", "y_train", "Y_train", "X_test", "Y_val"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a.X_train, c.X_train)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_slots": 0}, r"n_slots must be an integer >= 1; got 0"),
        ({"n_slots": 9}, r"n_slots must be an integer in \[1, 8\]; got 9"),
        ({"n_slots": 2.0}, "n_slots must be an integer"),
        ({"blank": 1.0}, r"blank must be in \[0, 1\); got 1.0"),
        ({"blank": -0.5}, "blank must be in"),
        ({"n_train": 0}, "n_train must be an integer >= 1; got 0"),
        ({"n_test": -3}, "n_test must be an integer >= 1"),
        ({"dtype": np.int32}, "dtype must be float16, float32 or float64"),
    ],
)
def test_digit_sets_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        data.digit_sets(**kwargs)
