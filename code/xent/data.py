"""Deterministic datasets that need no download.

- ``digits``             scikit-learn's bundled 8x8 handwritten digits, 10 classes
                         (chapters 3, 6, 8)
- ``digits_multilabel``  the same images with four non-exclusive yes/no attributes
                         (derived from the digit, so a function of one class)
- ``digit_sets``         strips of several digits side by side, labelled with the
                         set of digits present: labels that vary independently
                         (chapter 7)
- ``blobs``              2-D Gaussian blobs, for pictures of decision regions (chapters 3, 4)

The digits ship inside scikit-learn (``sklearn.datasets.load_digits`` reads a
file installed with it), so nothing touches the network. Every split is drawn
from ``numpy.random.default_rng(seed)``: the same seed gives the same arrays on
every machine.
"""

from dataclasses import dataclass

import numpy as np

from ._checks import check_positive

__all__ = ["Split", "MultiLabelSplit", "ATTRIBUTES", "digits", "digits_multilabel",
           "digit_sets", "blobs", "blob_centres"]

N_PIXELS = 64  # 8 x 8 images, flattened row by row


@dataclass(frozen=True, repr=False)
class Split:
    """A train / validation / test split of a classification dataset.

    X_*: (n, 64) pixels in [0, 1]; y_*: (n,) int64 class indices. The
    validation arrays have n = 0 when no validation set was asked for.
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray

    def __repr__(self):
        return (
            f"{type(self).__name__}(train={len(self.y_train)}, val={len(self.y_val)}, "
            f"test={len(self.y_test)}, features={self.X_train.shape[1]}, {self.X_train.dtype})"
        )


@dataclass(frozen=True, repr=False)
class MultiLabelSplit(Split):
    """A ``Split`` whose images also carry multi-hot attribute targets.

    Y_*: (n, A) multi-hot targets, Y[i, a] = 1 when image i has attribute
    ``label_names[a]``; y_* still holds the digit, for reference (for
    ``digit_sets``: the digit in each slot, shape (n, slots), -1 if blank).
    """

    Y_train: np.ndarray
    Y_val: np.ndarray
    Y_test: np.ndarray
    label_names: tuple

    def __repr__(self):
        return super().__repr__()[:-1] + f", labels={list(self.label_names)})"


# Attribute -> the digits that have it. A 4 is written both open and closed;
# it is counted open here.
ATTRIBUTES = {
    "even": (0, 2, 4, 6, 8),
    "prime": (2, 3, 5, 7),
    "at least 5": (5, 6, 7, 8, 9),
    "closed loop": (0, 6, 8, 9),
}


def _check_int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")


def _check_fractions(test_fraction, val_fraction):
    for name, value in [("test_fraction", test_fraction), ("val_fraction", val_fraction)]:
        if not (0 <= value < 1):
            raise ValueError(f"{name} must be in [0, 1); got {value!r}")
    if not (test_fraction + val_fraction < 1):
        raise ValueError(
            "test_fraction + val_fraction must be < 1 to leave training data; "
            f"got {test_fraction!r} + {val_fraction!r} = {test_fraction + val_fraction!r}"
        )


def _check_dtype(dtype):
    dtype = np.dtype(dtype)
    if dtype not in (np.float16, np.float32, np.float64):
        raise ValueError(f"dtype must be float16, float32 or float64; got {dtype}")
    return dtype


def _stratified_split(y, test_fraction, val_fraction, rng):
    """Indices (train, val, test): in each class, round(n_c * fraction) go to test and val.

    Each returned index array is shuffled, so the classes are mixed.
    """
    parts = {"train": [], "val": [], "test": []}
    for c in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == c))
        n_test = round(len(members) * test_fraction)
        n_val = round(len(members) * val_fraction)
        if n_test + n_val >= len(members):
            raise ValueError(
                f"test_fraction={test_fraction!r} and val_fraction={val_fraction!r} leave no "
                f"training image of class {c} ({len(members)} images)"
            )
        parts["test"].append(members[:n_test])
        parts["val"].append(members[n_test : n_test + n_val])
        parts["train"].append(members[n_test + n_val :])
    return [rng.permutation(np.concatenate(parts[key])) for key in ("train", "val", "test")]


def _load_digits(dtype):
    from sklearn.datasets import load_digits  # a file installed with scikit-learn

    bunch = load_digits()
    X = (bunch.data / 16.0).astype(dtype)  # pixel intensities 0..16 -> [0, 1]
    y = bunch.target.astype(np.int64)
    return X, y


def digits(seed=0, test_fraction=0.25, val_fraction=0.0, dtype=np.float32):
    """The 1797 8x8 handwritten digits, split into train / validation / test.

    The split is stratified: in each class, round(n_c * fraction) images go to each held-out
    set, so every set has the classes in (nearly) the proportions of the whole.

    Args:
        seed: seeds ``numpy.random.default_rng``; the same seed gives identical arrays.
        test_fraction: the share of each digit's images that goes to the test set, in [0, 1).
        val_fraction: the share that goes to the validation set, in [0, 1); together with
            ``test_fraction`` less than 1. The rest is for training.
        dtype: floating dtype of the pixels (float16, float32 or float64).

    Returns:
        A ``Split`` with ``X_*`` of shape (n, 64), pixels scaled to [0, 1] (divided by 16),
        and ``y_*`` of shape (n,), int64 digits 0..9. Chapters 3, 6, 8.
    """
    _check_fractions(test_fraction, val_fraction)
    dtype = _check_dtype(dtype)
    X, y = _load_digits(dtype)
    rng = np.random.default_rng(seed)
    train, val, test = _stratified_split(y, test_fraction, val_fraction, rng)
    return Split(X[train], y[train], X[val], y[val], X[test], y[test])


def _attribute_targets(y, dtype):
    """(n, 4) multi-hot: column a is 1 where the digit has attribute a of ATTRIBUTES."""
    return np.stack([np.isin(y, members) for members in ATTRIBUTES.values()], axis=1).astype(
        dtype
    )


def digits_multilabel(seed=0, test_fraction=0.25, val_fraction=0.2, dtype=np.float32):
    """The digits, each tagged with four yes/no attributes that can hold together.

    The attributes (``ATTRIBUTES``, in this column order) are derived from the digit:
    "even" (0, 2, 4, 6, 8), "prime" (2, 3, 5, 7), "at least 5" (5..9) and
    "closed loop" (0, 6, 8, 9). A 4 is written both open and closed; it is
    counted open here. So a 6 is [1, 0, 1, 1] and a 1 is [0, 0, 0, 0].
    Arguments as in ``digits`` (the split is stratified by digit, and the same
    seed and fractions pick the same images as ``digits``); Y_* are in ``dtype``.
    Returns a ``MultiLabelSplit``: X_*, y_* as in ``digits``, Y_* of shape (n, 4),
    and ``label_names``. Chapter 7.
    """
    _check_fractions(test_fraction, val_fraction)
    dtype = _check_dtype(dtype)
    X, y = _load_digits(dtype)
    rng = np.random.default_rng(seed)
    train, val, test = _stratified_split(y, test_fraction, val_fraction, rng)
    Y = _attribute_targets(y, dtype)
    return MultiLabelSplit(
        X[train], y[train], X[val], y[val], X[test], y[test],
        Y_train=Y[train], Y_val=Y[val], Y_test=Y[test], label_names=tuple(ATTRIBUTES),
    )


def _compose(pool_X, pool_y, n_images, n_slots, blank, rng):
    """``n_images`` strips of ``n_slots`` cells drawn from one pool of 8x8 images."""
    picks = rng.integers(len(pool_y), size=(n_images, n_slots))
    empty = rng.random((n_images, n_slots)) < blank
    digit = np.where(empty, -1, pool_y[picks])
    cells = pool_X[picks].reshape(n_images, n_slots, 8, 8)
    cells = np.where(empty[:, :, None, None], 0, cells).astype(pool_X.dtype)
    # the cells side by side: 8 rows of 8 * n_slots pixels, flattened row by row
    X = cells.transpose(0, 2, 1, 3).reshape(n_images, N_PIXELS * n_slots)
    Y = np.zeros((n_images, 10), dtype=pool_X.dtype)
    rows = np.repeat(np.arange(n_images), n_slots)
    present = digit.ravel() >= 0
    Y[rows[present], digit.ravel()[present]] = 1
    return X, digit, Y


def digit_sets(seed=0, n_slots=3, blank=0.25, n_train=2000, n_val=1000, n_test=1000,
               dtype=np.float32):
    """Strips of ``n_slots`` digits side by side, labelled with the set of digits present.

    A multi-label data set whose labels vary independently of each other (unlike
    ``digits_multilabel``, whose attributes are a function of one digit). Each
    image is ``n_slots`` cells of 8x8 pixels in a row; each cell is left blank
    (all zeros) with probability ``blank`` and otherwise holds a digit image drawn
    uniformly at random. Label d is 1 when the digit d appears in at least one
    cell, so an image has 0 to ``n_slots`` labels. The cells of the training,
    validation and test strips come from disjoint sets of scikit-learn's digits
    (``digits(seed, test_fraction=0.25, val_fraction=0.2)``), so no handwritten
    digit of the test strips was seen in training.

    Args:
        seed: seeds ``numpy.random.default_rng``; the same arguments give identical
            arrays on every machine.
        n_slots: cells per image, an integer in [1, 8].
        blank: probability that a cell is empty, in [0, 1).
        n_train: number of training strips (an integer >= 1); likewise ``n_val``
            and ``n_test``.
        n_val: number of validation strips.
        n_test: number of test strips.
        dtype: floating dtype of pixels and targets (float16, float32 or float64).

    Returns:
        A ``MultiLabelSplit`` with ``X_*`` of shape (n, 64 * n_slots), pixels in
        [0, 1], 8 rows of 8 * n_slots pixels flattened row by row; ``y_*`` of shape
        (n, n_slots), int64, the digit in each cell (-1 if blank); ``Y_*`` of shape
        (n, 10), multi-hot in ``dtype``; and ``label_names`` ("0", ..., "9"). Chapter 7.
    """
    _check_int("n_slots", n_slots, 1)
    if n_slots > 8:
        raise ValueError(f"n_slots must be an integer in [1, 8]; got {n_slots!r}")
    if not (0 <= blank < 1):
        raise ValueError(f"blank must be in [0, 1); got {blank!r}")
    for name, value in (("n_train", n_train), ("n_val", n_val), ("n_test", n_test)):
        _check_int(name, value, 1)
    dtype = _check_dtype(dtype)
    pools = digits(seed=seed, test_fraction=0.25, val_fraction=0.2, dtype=dtype)
    rng = np.random.default_rng([seed, n_slots])
    out = {}
    for part, n in (("train", n_train), ("val", n_val), ("test", n_test)):
        pool_X, pool_y = getattr(pools, f"X_{part}"), getattr(pools, f"y_{part}")
        out[part] = _compose(pool_X, pool_y, n, n_slots, blank, rng)
    return MultiLabelSplit(
        out["train"][0], out["train"][1], out["val"][0], out["val"][1],
        out["test"][0], out["test"][1],
        Y_train=out["train"][2], Y_val=out["val"][2], Y_test=out["test"][2],
        label_names=tuple(str(d) for d in range(10)),
    )


BLOB_RADIUS = 3.0  # distance of every blob centre from the origin


def blob_centres(n_classes=3):
    """The centres ``blobs`` uses: BLOB_RADIUS * (cos 2πk/K, sin 2πk/K), k = 0..K-1.

    Returns a (K, 2) float64 array (K = n_classes >= 2). Chapter 3 uses them to
    compute the exact Bayes posterior of the blobs.
    """
    _check_int("n_classes", n_classes, 2)
    angles = 2 * np.pi * np.arange(n_classes) / n_classes
    return BLOB_RADIUS * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def blobs(n_per_class=100, n_classes=3, seed=0, spread=1.0):
    """Seeded 2-D Gaussian blobs, one per class, with centres on a circle.

    Class k is centred at BLOB_RADIUS * (cos 2πk/K, sin 2πk/K) and its points
    are centre + spread * (standard normal noise).
    n_per_class: points per class (>= 1); n_classes: K (>= 2);
    seed: seeds ``numpy.random.default_rng``; spread: standard deviation (> 0).
    Returns ``(X, y)``: X of shape (K * n_per_class, 2) float64 and y of shape
    (K * n_per_class,) int64, in shuffled order. Chapters 3 and 4.
    """
    _check_int("n_per_class", n_per_class, 1)
    _check_int("n_classes", n_classes, 2)
    check_positive("spread", spread)
    rng = np.random.default_rng(seed)
    centres = blob_centres(n_classes)
    y = np.repeat(np.arange(n_classes, dtype=np.int64), n_per_class)
    X = centres[y] + spread * rng.standard_normal((len(y), 2))
    order = rng.permutation(len(y))
    return X[order], y[order]
