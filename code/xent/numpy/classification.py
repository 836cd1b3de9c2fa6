"""Classification losses in NumPy: NLL, cross-entropy, binary cross-entropy, KL.

Shapes follow ``torch.nn.functional``: the classes sit in dim 1 of an ``(N, C)`` or
``(N, C, d1, ..., dk)`` input and in dim 0 of a single ``(C,)`` example. A class-index
target has the input's shape without the class dim; every loss is computed per
element and then reduced ('none', 'mean' or 'sum').
"""

import math

import numpy as np

from .._arrays import as_float_array, reduce_loss
from .._checks import check_in_closed_interval, check_reduction, class_dim
from .._classification_checks import (
    broadcast_shapes,
    check_broadcasts_to,
    check_class_weight_shape,
    check_index_target_shape,
    check_kl_reduction,
    check_probability_target_shape,
    check_same_shape,
    target_out_of_range,
)
from .normalisers import log_softmax, log_softmax_at

__all__ = [
    "nll_loss",
    "cross_entropy",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "kl_div",
]


def _class_indices(target, input_shape, ignore_index):
    """Check a class-index target; return ``(indices, ignored)``.

    ``indices`` is int64 with every ignored entry replaced by class 0, so it can
    index safely; ``ignored`` marks the entries equal to ``ignore_index``.
    """
    if isinstance(target, np.integer):
        target = np.asarray(target)
    if not isinstance(target, np.ndarray):
        raise TypeError(f"target must be a numpy.ndarray of ints; got {type(target).__name__}")
    if not np.issubdtype(target.dtype, np.integer):
        raise TypeError(f"target of class indices must have an integer dtype; got {target.dtype}")
    check_index_target_shape(input_shape, target.shape)
    n_classes = input_shape[class_dim(len(input_shape))]
    target = target.astype(np.int64, copy=False)
    ignored = target == ignore_index
    out_of_range = ~ignored & ((target < 0) | (target >= n_classes))
    if out_of_range.any():
        raise target_out_of_range(target[out_of_range].flat[0], n_classes, ignore_index)
    return np.where(ignored, 0, target), ignored


def _class_weight(weight, x, compute_dtype):
    """Check a per-class ``weight`` (None, or shape ``(C,)`` and the input's dtype)."""
    if weight is None:
        return None
    weight, _ = as_float_array("weight", weight)
    if weight.dtype != x.dtype:
        raise TypeError(f"weight must have the input's dtype {x.dtype}; got {weight.dtype}")
    check_class_weight_shape(weight.shape, x.shape[class_dim(x.ndim)])
    return weight.astype(compute_dtype, copy=False)


def _picked_log_probs(log_p, indices, ignored, weight):
    """Per element: ``-weight[t] * log_p[t]`` (0 where ignored) and ``weight[t]`` (0 too)."""
    dim = class_dim(log_p.ndim)
    if log_p.shape[dim] == 0:  # no classes: every target is ignored
        picked = np.zeros(indices.shape, dtype=log_p.dtype)
    else:
        picked = np.take_along_axis(log_p, np.expand_dims(indices, dim), axis=dim)
        picked = picked.squeeze(dim)
    return _weighted_losses(picked, indices, ignored, weight)


def _target_log_probs(logits, indices):
    """``log_softmax(logits, class dim)`` at the target classes, without the rest."""
    dim = class_dim(logits.ndim)
    n_classes = logits.shape[dim]
    if n_classes == 0:  # no classes: every target is ignored
        return np.zeros(indices.shape, dtype=logits.dtype)
    rows = np.moveaxis(logits, dim, -1).reshape(-1, n_classes)
    return log_softmax_at(rows, indices.reshape(-1)).reshape(indices.shape)


def _weighted_losses(picked, indices, ignored, weight):
    """``-weight[t] * picked`` (0 where ignored) and ``weight[t]`` (0 where ignored)."""
    w_t = np.ones_like(picked) if weight is None else weight[indices]
    w_t = np.where(ignored, 0, w_t).astype(picked.dtype)
    loss = np.where(ignored, 0, -(w_t * picked))
    return loss, w_t


def _weighted_reduce(loss, total_weight, reduction):
    """'mean' divides by the total weight of the targets (NaN if it is 0), as PyTorch."""
    if reduction != "mean":
        return reduce_loss(loss, reduction)
    return np.divide(loss.sum(), total_weight.sum())


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    r"""Negative log-likelihood of class indices, given log-probabilities (Chapter 6).

    With :math:`x_{n,k}` the input (log-probabilities), :math:`y_n` the class index
    of example :math:`n` and :math:`w_k` the class weight (1 without ``weight``):
    :math:`\ell_n = -w_{y_n} x_{n, y_n}`, and 0 where :math:`y_n` is ``ignore_index``.
    'mean' divides the sum by :math:`\sum_n w_{y_n}` over the examples not ignored.

    Args:
        input: log-probabilities, ``(C,)``, ``(N, C)`` or ``(N, C, d1, ..., dk)``.
        target: integer class indices in ``0..C-1``, the input's shape without dim C.
        weight: optional ``(C,)`` weight per class, same dtype as ``input``.
        ignore_index: a target value that contributes neither loss nor weight.
        reduction: 'none' (the target's shape), 'mean' or 'sum' (a scalar).
    """
    x, compute_dtype = as_float_array("input", input)
    check_reduction(reduction)
    indices, ignored = _class_indices(target, x.shape, ignore_index)
    w = _class_weight(weight, x, compute_dtype)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        loss, w_t = _picked_log_probs(x.astype(compute_dtype, copy=False), indices, ignored, w)
        return np.asarray(_weighted_reduce(loss, w_t, reduction)).astype(x.dtype)


def cross_entropy(
    input, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0
):
    r"""Cross-entropy between softmax(input) and the target (Chapters 2, 3 and 6).

    With :math:`\log p_{n,k}` = ``log_softmax(input, dim)``, :math:`C` classes,
    :math:`\varepsilon` = ``label_smoothing`` and :math:`w_k` the class weight (1
    without ``weight``):

    - class indices :math:`y_n`:
      :math:`\ell_n = -(1 - \varepsilon)\, w_{y_n} \log p_{n, y_n}
      - \frac{\varepsilon}{C} \sum_k w_k \log p_{n,k}`, 0 where :math:`y_n` is
      ``ignore_index``; 'mean' divides the sum by :math:`\sum_n w_{y_n}` over the
      examples not ignored;
    - class probabilities :math:`q_{n,k}` (a float target of the input's shape):
      :math:`\ell_n = -\sum_k w_k\, q'_{n,k} \log p_{n,k}` with
      :math:`q' = (1 - \varepsilon)\, q + \varepsilon / C`; 'mean' divides by the
      number of examples.

    Args:
        input: logits, ``(C,)``, ``(N, C)`` or ``(N, C, d1, ..., dk)``.
        target: integer class indices (the input's shape without dim C) or float
            class probabilities (the input's shape).
        weight: optional ``(C,)`` weight per class, same dtype as ``input``.
        ignore_index: a class index to skip (class-index targets only).
        reduction: 'none', 'mean' or 'sum'.
        label_smoothing: ``eps`` in [0, 1], the share of the target spread over all classes.
    """
    x, compute_dtype = as_float_array("input", input)
    check_reduction(reduction)
    check_in_closed_interval("label_smoothing", label_smoothing, 0.0, 1.0)
    dim = class_dim(x.ndim)
    w = _class_weight(weight, x, compute_dtype)
    w_along_classes = None if w is None else w.reshape((-1,) + (1,) * (x.ndim - dim - 1))
    logits = x.astype(compute_dtype, copy=False)
    eps, n_classes = label_smoothing, x.shape[dim]
    share = eps / n_classes if n_classes else math.nan  # no classes: NaN, as in PyTorch
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        if isinstance(target, np.ndarray) and np.issubdtype(target.dtype, np.floating):
            log_p = log_softmax(logits, dim)
            return _cross_entropy_with_probabilities(
                x, log_p, target, w_along_classes, ignore_index, reduction, eps, share
            )
        indices, ignored = _class_indices(target, x.shape, ignore_index)
        if eps == 0:  # only the targets' log-probabilities are needed
            picked = _target_log_probs(logits, indices)
            loss, w_t = _weighted_losses(picked, indices, ignored, w)
        else:
            log_p = log_softmax(logits, dim)
            loss, w_t = _picked_log_probs(log_p, indices, ignored, w)
            spread = log_p if w is None else log_p * w_along_classes
            smooth = np.where(ignored, 0, -spread.sum(axis=dim))
            loss = (1 - eps) * loss + share * smooth
        return np.asarray(_weighted_reduce(loss, w_t, reduction)).astype(x.dtype)


def _cross_entropy_with_probabilities(x, log_p, q, w, ignore_index, reduction, eps, share):
    """``cross_entropy`` for class-probability targets (``w`` shaped to broadcast)."""
    if ignore_index != -100:
        raise ValueError(
            f"ignore_index={ignore_index} needs class-index targets; "
            "target holds class probabilities"
        )
    check_probability_target_shape(x.shape, q.shape)
    out_dtype = np.result_type(x, q)
    q = q.astype(np.result_type(log_p, q), copy=False)
    if eps > 0:
        q = q * (1 - eps) + share
    terms = q * log_p if w is None else q * log_p * w
    dim = class_dim(x.ndim)
    loss = reduce_loss(-terms.sum(axis=dim), reduction)
    if reduction == "mean" and x.shape[dim] == 0:
        loss = np.full_like(loss, np.nan)  # PyTorch divides by numel / C = 0 / 0
    return np.asarray(loss).astype(out_dtype)


def _check_probabilities(name, p):
    """Raise ValueError unless every entry of ``p`` is in [0, 1] (NaN is refused too)."""
    bad = ~((p >= 0) & (p <= 1))
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{name} of binary_cross_entropy must hold probabilities in [0, 1]; "
            f"got {p[where]} at index {where}"
        )


def _elementwise_weight(name, weight, input_shape, compute_dtype):
    """Check an optional weight that broadcasts to the input's shape."""
    if weight is None:
        return None
    weight, _ = as_float_array(name, weight)
    check_broadcasts_to(name, weight.shape, input_shape)
    return weight.astype(compute_dtype, copy=False)


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    r"""Binary cross-entropy between probabilities and targets (Chapter 7).

    Elementwise :math:`\ell = -w\,\bigl(q \log p + (1 - q) \log(1 - p)\bigr)` for a
    predicted probability :math:`p`, a target :math:`q \in [0, 1]` and a weight
    :math:`w` (1 without ``weight``), each log clamped at -100 as in PyTorch, so a
    confident mistake costs at most 100, never inf.

    Args:
        input: predicted probabilities :math:`p` in [0, 1], any shape.
        target: target probabilities :math:`q` in [0, 1], same shape and dtype as
            ``input``.
        weight: optional weight that broadcasts to the input's shape.
        reduction: 'none', 'mean' or 'sum'.
    """
    p, compute_dtype = as_float_array("input", input)
    y, _ = as_float_array("target", target)
    check_reduction(reduction)
    check_same_shape("target", y.shape, p.shape)
    if y.dtype != p.dtype:
        raise TypeError(f"target must have the input's dtype {p.dtype}; got {y.dtype}")
    _check_probabilities("input", p)
    _check_probabilities("target", y)
    w = _elementwise_weight("weight", weight, p.shape, compute_dtype)
    out_dtype = p.dtype
    p, y = p.astype(compute_dtype, copy=False), y.astype(compute_dtype, copy=False)
    with np.errstate(divide="ignore", over="ignore"):
        log_p = np.maximum(np.log(p), -100)
        log_not_p = np.maximum(np.log1p(-p), -100)
        loss = -(y * log_p + (1 - y) * log_not_p)
        if w is not None:
            loss = loss * w
        return np.asarray(reduce_loss(loss, reduction)).astype(out_dtype)


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean", pos_weight=None):
    r"""Binary cross-entropy of sigmoid(input), computed from the logits (Chapter 7).

    Elementwise, for a logit :math:`x`, a target :math:`q`, a weight :math:`w` and a
    positive-class weight :math:`a` (``pos_weight``; both 1 when not given):

    .. math::

        \ell = -w\,\bigl(a\, q \log \sigma(x) + (1 - q) \log(1 - \sigma(x))\bigr)
              = w\,\bigl((1 - q)\, x - (1 + (a - 1)\, q) \log \sigma(x)\bigr),

    computed in the second form with
    :math:`\log \sigma(x) = \min(x, 0) - \log(1 + e^{-|x|})`, which never overflows.

    Args:
        input: logits :math:`x`, any shape.
        target: :math:`q`, same shape as ``input`` (usually in [0, 1]; not checked, as
            PyTorch).
        weight: optional weight that broadcasts to the input's shape.
        reduction: 'none', 'mean' or 'sum'.
        pos_weight: optional weight of the positive term, broadcast along the last
            dim (one per class in multi-label problems).
    """
    x, _ = as_float_array("input", input)
    y, _ = as_float_array("target", target)
    check_reduction(reduction)
    check_same_shape("target", y.shape, x.shape)
    out_dtype = np.result_type(x, y)
    compute_dtype = np.result_type(out_dtype, np.float32)
    w = _elementwise_weight("weight", weight, x.shape, compute_dtype)
    pw = _elementwise_weight("pos_weight", pos_weight, x.shape, compute_dtype)
    x, y = x.astype(compute_dtype, copy=False), y.astype(compute_dtype, copy=False)
    with np.errstate(invalid="ignore", over="ignore"):
        log_sigmoid = np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x)))
        positive_weight = 1 if pw is None else 1 + (pw - 1) * y
        loss = (1 - y) * x - positive_weight * log_sigmoid
        if w is not None:
            loss = loss * w
        return np.asarray(reduce_loss(loss, reduction)).astype(out_dtype)


def kl_div(input, target, reduction="mean", log_target=False):
    r"""Kullback-Leibler divergence :math:`\mathrm{KL}(q \,\|\, p)` of the model's
    distribution :math:`p` from the target :math:`q` (Chapter 2).

    ``input`` holds :math:`\log p` and ``target`` holds :math:`q` (or :math:`\log q`
    with ``log_target=True``). Elementwise :math:`\ell = q\,(\log q - \log p)`, 0
    where :math:`q = 0`. 'batchmean' divides the sum by the batch size
    ``input.shape[0]``, which gives the KL divergence per example; 'mean' divides by
    the number of elements, as PyTorch does.

    Args:
        input: the model's log-probabilities :math:`\log p`; broadcasts with ``target``.
        target: the target probabilities :math:`q` (or :math:`\log q` if ``log_target``).
        reduction: 'none', 'batchmean', 'mean' or 'sum'.
        log_target: whether ``target`` holds log-probabilities.
    """
    x, _ = as_float_array("input", input)
    t, _ = as_float_array("target", target)
    check_kl_reduction(reduction)
    out_dtype = np.result_type(x, t)
    compute_dtype = np.result_type(out_dtype, np.float32)
    broadcast_shapes("input", x.shape, "target", t.shape)
    x, t = x.astype(compute_dtype, copy=False), t.astype(compute_dtype, copy=False)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        if log_target:
            loss = np.exp(t) * (t - x)
        else:
            loss = np.where(t == 0, 0, t * np.log(t)) - t * x
        if reduction == "batchmean":
            loss = loss.sum() / (x.shape[0] if x.ndim else 1)
        else:
            loss = reduce_loss(loss, reduction)
        return np.asarray(loss).astype(out_dtype)
