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


def ece_by_loops(probs, labels, n_bins):
    """An independent, deliberately plain ECE: explicit loops over bins and rows."""
    n = len(labels)
    total = 0.0
    for b in range(n_bins):
        low, high = b / n_bins, (b + 1) / n_bins
        members = []
        for row, label in zip(probs, labels, strict=True):
            confidence = max(row)
            last = b == n_bins - 1
            if low <= confidence < high or (last and confidence == 1.0):
                members.append((confidence, list(row).index(confidence) == label))
        if members:
            accuracy = sum(correct for _, correct in members) / len(members)
            confidence = sum(c for c, _ in members) / len(members)
            total += len(members) / n * abs(accuracy - confidence)
    return total


def test_ece_on_a_hand_computed_example():
    probs = np.array([
        [0.50, 0.30, 0.20],  # conf 0.50, bin [0.4, 0.6), right
        [0.45, 0.35, 0.20],  # conf 0.45, bin [0.4, 0.6), wrong
        [0.90, 0.05, 0.05],  # conf 0.90, bin [0.8, 1.0], right
        [0.10, 0.85, 0.05],  # conf 0.85, bin [0.8, 1.0], wrong
        [0.10, 0.15, 0.75],  # conf 0.75, bin [0.6, 0.8), right
    ])
    labels = np.array([0, 1, 0, 2, 2])
    # by hand: 2/5 |0.5 - 0.475| + 1/5 |1 - 0.75| + 2/5 |0.5 - 0.875| = 0.01 + 0.05 + 0.15
    assert metrics.expected_calibration_error(probs, labels, n_bins=5) == pytest.approx(0.21)
    assert ece_by_loops(probs, labels, 5) == pytest.approx(0.21)


@pytest.mark.parametrize("n_bins", [1, 3, 10, 15])
def test_ece_matches_the_loop_version_on_random_predictions(n_bins):
    rng = np.random.default_rng(n_bins)
    logits = rng.normal(scale=2.0, size=(200, 4))
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = rng.integers(0, 4, size=200)
    expected = ece_by_loops(probs, labels, n_bins)
    assert metrics.expected_calibration_error(probs, labels, n_bins) == pytest.approx(expected)


def test_ece_is_zero_when_perfectly_calibrated():
    # 10 predictions at confidence 0.8, 8 of them right; 5 at confidence 1, all right.
    probs = np.array([[0.8, 0.2]] * 10 + [[0.0, 1.0]] * 5)
    labels = np.array([0] * 8 + [1] * 2 + [1] * 5)
    assert metrics.expected_calibration_error(probs, labels) == pytest.approx(0.0, abs=1e-15)


def test_ece_equals_mean_confidence_when_always_wrong():
    probs = np.array([[0.9, 0.1], [0.3, 0.7], [0.6, 0.4], [0.25, 0.75]])
    labels = np.array([1, 0, 1, 0])
    assert metrics.expected_calibration_error(probs, labels) == pytest.approx(
        np.mean([0.9, 0.7, 0.6, 0.75])
    )


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
        assert best == pytest.approx(
            skm.f1_score(y_true[:, j], scores[:, j] >= thresholds[j], zero_division=0)
        )
        # brute force over a grid that includes every score: F1 = 2TP / (2TP + FP + FN)
        grid = np.r_[np.unique(scores[:, j]), np.linspace(-5, 5, 201)]
        predicted = scores[:, j][None, :] >= grid[:, None]
        positive = y_true[:, j].astype(bool)[None, :]
        tp = (predicted & positive).sum(1)
        wrong = (predicted != positive).sum(1)
        brute = np.max(np.where(2 * tp + wrong > 0, 2 * tp / np.maximum(2 * tp + wrong, 1), 0))
        assert best == pytest.approx(brute)


@pytest.mark.parametrize("seed", range(5))
def test_best_thresholds_take_the_smallest_score_among_equally_good_ones(seed):
    rng = np.random.default_rng(seed)
    y_true = (rng.random((40, 4)) < rng.random(4)).astype(int)  # a column may have no 1
    scores = np.round(rng.random((40, 4)), 1)  # many ties
    thresholds = metrics.best_thresholds(y_true, scores)
    for j in range(4):
        candidates = np.unique(scores[:, j])  # ascending
        f1 = [metrics.f1_per_label(y_true[:, [j]], scores[:, [j]] >= t)[0] for t in candidates]
        assert thresholds[j] == candidates[int(np.argmax(f1))]


def test_multilabel_shapes_and_values_are_checked():
    with pytest.raises(ValueError, match="same shape"):
        metrics.f1_per_label(np.zeros((3, 2)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="only 0 and 1"):
        metrics.f1_per_label(np.full((3, 2), 2), np.zeros((3, 2)))
