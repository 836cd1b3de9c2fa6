"""Evaluation metrics the practice chapters share (NumPy).

Multi-class: ``accuracy``, ``expected_calibration_error``.
Multi-label: ``f1_per_label``, ``average_precision``, ``mean_average_precision``,
``best_thresholds`` (per-label thresholds chosen on validation data).
Chapters 6 (cross-entropy in PyTorch) and 7 (binary, multi-class, multi-label)
explain them; scikit-learn's implementations are the tests' oracle.
"""

import numpy as np

__all__ = [
    "accuracy",
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


def expected_calibration_error(probs, labels, n_bins=10):
    """ECE = sum_b (n_b / N) |accuracy_b - confidence_b|.

    The confidence of a row is its largest probability; rows are grouped into
    ``n_bins`` equal-width bins of confidence on [0, 1] (a confidence equal to
    a bin's upper edge belongs to that bin); accuracy_b and confidence_b are a
    bin's mean correctness and mean confidence. ``probs`` (N, C) rows summing to
    1; ``labels`` (N,) integers. Returns a float in [0, 1].
    """
    probs, labels = _labels_for(probs, labels)
    if int(n_bins) != n_bins or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer; got {n_bins!r}")
    if not np.allclose(probs.sum(axis=1), 1.0, atol=1e-4) or (probs < 0).any():
        raise ValueError("probs must be non-negative with rows summing to 1 (apply softmax first)")
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    bins = np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)
    ece = 0.0
    for b in range(int(n_bins)):
        in_bin = bins == b
        if in_bin.any():
            ece += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(ece)


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
        candidates = np.unique(scores[:, j])
        f1 = [f1_per_label(y_true[:, [j]], scores[:, [j]] >= t)[0] for t in candidates]
        thresholds[j] = candidates[int(np.argmax(f1))]
    return thresholds
