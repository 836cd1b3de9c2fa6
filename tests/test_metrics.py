"""xent.metrics against scikit-learn (the oracle) and hand-computed cases."""

import numpy as np
import pytest
from sklearn import metrics as skm
from xent import metrics


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def random_probs(rng, n, c):
    logits = rng.normal(scale=2.0, size=(n, c))
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_accuracy_matches_sklearn(rng):
    probs = random_probs(rng, 200, 5)
    labels = rng.integers(0, 5, size=200)
    expected = skm.accuracy_score(labels, probs.argmax(axis=1))
    assert metrics.accuracy(probs, labels) == pytest.approx(expected)
    # logits give the same accuracy as their softmax
    assert metrics.accuracy(np.log(probs) + 3.0, labels) == pytest.approx(expected)


def test_ece_hand_computed():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    labels = np.array([0, 0, 0])
    # 2 bins on [0, 1]: all confidences (0.9, 0.8, 0.6) fall in (0.5, 1]
    # accuracy in bin = 2/3 (rows 0 and 2 correct), mean confidence = (0.9 + 0.8 + 0.6) / 3
    expected = abs(2 / 3 - (0.9 + 0.8 + 0.6) / 3)
    assert metrics.expected_calibration_error(probs, labels, n_bins=2) == pytest.approx(expected)
    # with 10 bins each row is alone: |1 - 0.9|, |0 - 0.8|, |1 - 0.6| weighted 1/3 each
    expected10 = (0.1 + 0.8 + 0.4) / 3
    assert metrics.expected_calibration_error(probs, labels, n_bins=10) == pytest.approx(expected10)


def test_ece_of_always_right_one_hot_is_zero_and_always_wrong_is_one():
    labels = np.array([0, 1, 2, 1])
    one_hot = np.eye(3)[labels]
    assert metrics.expected_calibration_error(one_hot, labels) == 0.0
    wrong = np.eye(3)[(labels + 1) % 3]
    assert metrics.expected_calibration_error(wrong, labels) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "probs, labels, n_bins, message",
    [
        (np.full((2, 2), 0.7), np.array([0, 1]), 10, "summing to 1"),
        (np.full((2, 2), 0.5), np.array([0, 2]), 10, "label 2 is out of range"),
        (np.full((2, 2), 0.5), np.array([0, 1]), 0, "n_bins must be a positive integer; got 0"),
        (np.full((2, 2), 0.5), np.array([0.0, 1.0]), 10, "integer class indices"),
        (np.full(4, 0.5), np.array([0, 1]), 10, r"shape \(N, C\)"),
    ],
)
def test_ece_rejects_bad_input(probs, labels, n_bins, message):
    with pytest.raises(ValueError, match=message):
        metrics.expected_calibration_error(probs, labels, n_bins=n_bins)


def test_f1_per_label_matches_sklearn(rng):
    y_true = rng.integers(0, 2, size=(300, 4))
    y_pred = rng.integers(0, 2, size=(300, 4))
    expected = skm.f1_score(y_true, y_pred, average=None, zero_division=0)
    np.testing.assert_allclose(metrics.f1_per_label(y_true, y_pred), expected)


def test_f1_of_a_label_never_present_nor_predicted_is_zero():
    y = np.zeros((5, 1), dtype=int)
    assert metrics.f1_per_label(y, y)[0] == 0.0


@pytest.mark.parametrize("ties", [False, True])
def test_average_precision_matches_sklearn(rng, ties):
    y_true = rng.integers(0, 2, size=500)
    scores = rng.normal(size=500) + y_true
    if ties:
        scores = np.round(scores, 1)  # many tied scores
    expected = skm.average_precision_score(y_true, scores)
    assert metrics.average_precision(y_true, scores) == pytest.approx(expected, rel=1e-12)


def test_mean_average_precision_matches_sklearn_macro(rng):
    y_true = rng.integers(0, 2, size=(400, 4))
    scores = rng.normal(size=(400, 4)) + 1.5 * y_true
    expected = skm.average_precision_score(y_true, scores, average="macro")
    assert metrics.mean_average_precision(y_true, scores) == pytest.approx(expected, rel=1e-12)


def test_average_precision_rejects_a_label_without_positives():
    with pytest.raises(ValueError, match="no positive example"):
        metrics.average_precision(np.zeros(4), np.arange(4.0))


def test_best_thresholds_maximise_f1_over_every_candidate(rng):
    y_true = rng.integers(0, 2, size=(120, 3))
    scores = rng.normal(size=(120, 3)) + y_true
    thresholds = metrics.best_thresholds(y_true, scores)
    for j in range(3):
        best = metrics.f1_per_label(y_true[:, [j]], scores[:, [j]] >= thresholds[j])[0]
        # brute force over a fine grid that includes every score
        grid = np.r_[np.unique(scores[:, j]), np.linspace(-5, 5, 201)]
        brute = max(skm.f1_score(y_true[:, j], scores[:, j] >= t, zero_division=0) for t in grid)
        assert best == pytest.approx(brute)


def test_multilabel_shapes_and_values_are_checked():
    with pytest.raises(ValueError, match="same shape"):
        metrics.f1_per_label(np.zeros((3, 2)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="only 0 and 1"):
        metrics.f1_per_label(np.full((3, 2), 2), np.zeros((3, 2)))
