"""Evaluation metrics the practice chapters share (NumPy).

Multi-class: ``accuracy``, ``calibration_bins`` and ``expected_calibration_error``
(drawn by ``xent.plots.reliability_diagram``).
Multi-label: ``f1_per_label``, ``average_precision``, ``mean_average_precision``,
``best_thresholds`` (per-label thresholds chosen on validation data).
Chapters 6 (cross-entropy in PyTorch) and 7 (binary, multi-class, multi-label)
explain them; scikit-learn's implementations are the tests' oracle.
"""

import operator

import numpy as np

__all__ = [
    "accuracy",
    "calibration_bins",
    "expected_calibration_error",
    "f1_per_label",
    "average_precision",
    "mean_average_precision",
    "best_thresholds",
]


def _labels_for(probs, labels):
    probs, labels = np.asarray(probs, dtype=np.float64), np.asarray(labels)
    if probs.ndim != 2:
        raise ValueError(f"probs must have shape (N, C); got shape {probs.shape}")
    if labels.shape != probs.shape[:1]:
        raise ValueError(f"labels must have shape ({probs.shape[0]},); got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integer class indices; got dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= probs.shape[1]):
        bad = labels[(labels < 0) | (labels >= probs.shape[1])][0]
        raise ValueError(
            f"label {bad} is out of range for {probs.shape[1]} classes: "
            f"valid labels are 0..{probs.shape[1] - 1}"
        )
    return probs, labels


def accuracy(scores, labels):
    """Fraction of rows whose largest score is at the true label.

    ``scores`` (N, C): logits or probabilities (argmax is the same for both,
    because softmax preserves order); ``labels`` (N,) integer class indices.
    """
    scores, labels = _labels_for(scores, labels)
    return float(np.mean(scores.argmax(axis=1) == labels))


def _check_probs_and_labels(probs, labels, n_bins):
    probs = np.asarray(probs)
    labels = np.asarray(labels)
    if probs.ndim != 2 or probs.shape[0] == 0 or probs.shape[1] == 0:
        raise ValueError(f"probs must have shape (N, C) with N, C >= 1; got shape {probs.shape}")
    if not np.issubdtype(probs.dtype, np.number) or np.issubdtype(probs.dtype, np.complexfloating):
        raise ValueError(f"probs must hold real numbers; got dtype {probs.dtype}")
    probs = probs.astype(np.float64)
    if np.isnan(probs).any() or (probs < 0).any() or (probs > 1).any():
        bad = float(probs[np.isnan(probs) | (probs < 0) | (probs > 1)][0])
        raise ValueError(f"probs must be probabilities in [0, 1]; got {bad}")
    sums = probs.sum(axis=1)
    off = np.abs(sums - 1.0) > 1e-3
    if off.any():
        row = int(np.flatnonzero(off)[0])
        raise ValueError(
            f"each row of probs must sum to 1 (within 1e-3); row {row} sums to {float(sums[row])}"
        )
    if labels.shape != (probs.shape[0],):
        raise ValueError(
            f"labels must have shape ({probs.shape[0]},) to match probs; got shape {labels.shape}"
        )
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integer class indices; got dtype {labels.dtype}")
    n_classes = probs.shape[1]
    out_of_range = (labels < 0) | (labels >= n_classes)
    if out_of_range.any():
        bad = int(labels[out_of_range][0])
        raise ValueError(f"labels must be in [0, {n_classes - 1}]; got {bad}")
    if isinstance(n_bins, bool):
        raise ValueError(f"n_bins must be an integer >= 1; got {n_bins!r}")
    try:
        n_bins = operator.index(n_bins)
    except TypeError:
        raise ValueError(f"n_bins must be an integer >= 1; got {n_bins!r}") from None
    if n_bins < 1:
        raise ValueError(f"n_bins must be an integer >= 1; got {n_bins}")
    return probs, labels, n_bins


def calibration_bins(probs, labels, n_bins=10):
    """Per-bin ``(count, mean confidence, accuracy)``; empty bins hold 0, NaN, NaN.

    The confidence of a prediction is its largest probability, and it is
    correct when that probability's class is the label. Bin b holds the
    confidences in [b/n_bins, (b+1)/n_bins); the last bin also holds 1.
    """
    probs, labels, n_bins = _check_probs_and_labels(probs, labels, n_bins)
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.digitize(confidence, edges[1:-1])  # 0 .. n_bins - 1
    count = np.bincount(which, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(which, weights=confidence, minlength=n_bins) / count
        accuracy = np.bincount(which, weights=correct, minlength=n_bins) / count
    return count, mean_confidence, accuracy


def expected_calibration_error(probs, labels, n_bins=10):
    r"""Expected calibration error,
    :math:`\mathrm{ECE} = \sum_b \frac{n_b}{N} \lvert \mathrm{acc}_b - \mathrm{conf}_b\rvert`.

    Args:
        probs: (N, C) predicted class probabilities (rows sum to 1).
        labels: (N,) integer true classes in [0, C).
        n_bins: number of equal-width confidence bins on [0, 1].

    Each prediction goes to the bin of its confidence (largest probability);
    n_b is the bin's size, acc_b the fraction of its predictions whose argmax is
    the label, conf_b its mean confidence; empty bins add nothing. 0 means
    perfectly calibrated. Returns a Python float. Chapters 6 and 7.
    """
    count, mean_confidence, accuracy = calibration_bins(probs, labels, n_bins)
    filled = count > 0
    gaps = np.abs(accuracy[filled] - mean_confidence[filled])
    return float(np.sum(count[filled] / count.sum() * gaps))


def _multilabel(y_true, other, other_name):
    y_true, other = np.asarray(y_true), np.asarray(other)
    if y_true.ndim != 2 or other.shape != y_true.shape:
        raise ValueError(
            f"y_true and {other_name} must have the same shape (N, L); got {y_true.shape} "
            f"and {other.shape}"
        )
    if not np.isin(y_true, (0, 1)).all():
        raise ValueError("y_true must contain only 0 and 1 (multi-hot targets)")
    return y_true.astype(bool), other


def f1_per_label(y_true, y_pred):
    """F1 = 2 TP / (2 TP + FP + FN) for each label (column); 0 where a label has
    no positive in either ``y_true`` or ``y_pred``. Both (N, L) arrays of 0/1."""
    y_true, y_pred = _multilabel(y_true, y_pred, "y_pred")
    y_pred = y_pred.astype(bool)
    tp = (y_true & y_pred).sum(axis=0)
    fp = (~y_true & y_pred).sum(axis=0)
    fn = (y_true & ~y_pred).sum(axis=0)
    denominator = 2 * tp + fp + fn
    return np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1), 0.0)


def average_precision(y_true, scores):
    """Average precision of one label: AP = sum_k (R_k - R_{k-1}) P_k.

    Rank the N examples by decreasing score; P_k and R_k are the precision
    and recall of the top-k set at each distinct score threshold (tied scores
    enter together). Equals the area under the step-wise precision-recall curve,
    the definition scikit-learn uses. ``y_true`` (N,) of 0/1 with at least one 1.
    """
    y_true, scores = np.asarray(y_true).astype(bool), np.asarray(scores, dtype=np.float64)
    if y_true.shape != scores.shape or y_true.ndim != 1:
        raise ValueError(f"y_true and scores must both have shape (N,); got {y_true.shape}, "
                         f"{scores.shape}")
    if not y_true.any():
        raise ValueError("average precision is undefined for a label with no positive example")
    order = np.argsort(-scores, kind="stable")
    scores, y_true = scores[order], y_true[order]
    last_of_tie = np.r_[scores[1:] != scores[:-1], True]
    tp = np.cumsum(y_true)[last_of_tie]
    k = np.arange(1, len(scores) + 1)[last_of_tie]
    precision, recall = tp / k, tp / y_true.sum()
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def mean_average_precision(y_true, scores):
    """Mean over labels (columns) of ``average_precision``; both (N, L)."""
    y_true, scores = _multilabel(y_true, scores, "scores")
    return float(np.mean([average_precision(y_true[:, j], scores[:, j])
                          for j in range(y_true.shape[1])]))


def best_thresholds(y_true, scores):
    """For each label, the score threshold t maximising F1 of ``scores >= t``.

    Candidates are the label's distinct scores (choose them on validation data,
    then apply them to the test set). Returns an (L,) array.
    """
    y_true, scores = _multilabel(y_true, scores, "scores")
    thresholds = np.empty(y_true.shape[1])
    for j in range(y_true.shape[1]):
        # Rank by decreasing score: predicting scores >= s[k] selects the first k + 1
        # examples, so one cumulative sum gives TP at every candidate at once.
        order = np.argsort(-scores[:, j], kind="stable")
        s, positive = scores[order, j], y_true[order, j]
        true_pos = np.cumsum(positive)
        last_of_value = np.r_[np.flatnonzero(s[1:] != s[:-1]), len(s) - 1]
        predicted = last_of_value + 1
        f1 = 2 * true_pos[last_of_value] / (predicted + positive.sum())  # 2TP / (2TP+FP+FN)
        # candidates run from the largest score down; among ties the smallest wins
        best = len(f1) - 1 - int(np.argmax(f1[::-1]))
        thresholds[j] = s[last_of_value[best]]
    return thresholds
