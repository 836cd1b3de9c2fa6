"""Margin losses in NumPy (Chapter 8, A tour of loss functions).

A margin loss scores a real-valued ``input`` s (a score, unbounded) against a
label y in {-1, +1} through the margin y * s, which is positive when the sign of
the score is right. ``multi_margin_loss`` is the multi-class version, with class
indices as targets. ``reduction`` is 'none', 'mean' (default; NaN for an empty
input) or 'sum' (0 for an empty input).

``soft_margin_loss`` and ``hinge_embedding_loss`` accept what PyTorch accepts:
any real target (the formulas below are PyTorch's, defined for every y; the book
teaches y in {-1, +1}), a target that broadcasts, and a result of the input's dtype.
The losses without a PyTorch twin (hinge, squared hinge, exponential) are stricter:
input and target of the same shape, every label -1 or +1, and the promoted dtype
of the two. Half types are computed in float32 and rounded once.
"""

import numpy as np

from .._arrays import as_float_array, reduce_loss
from .._checks import check_reduction
from .._pointwise_checks import check_finite
from ._pointwise import (
    as_compute_array,
    as_result,
    check_labels_plus_minus_one,
    input_and_real_target,
    input_and_target,
)
from .activations import _softplus

__all__ = [
    "soft_margin_loss",
    "hinge_embedding_loss",
    "multi_margin_loss",
    "hinge_loss",
    "squared_hinge_loss",
    "exponential_loss",
]


def _scores_and_labels(input, target, reduction):
    """Check the arguments shared by the binary margin losses."""
    check_reduction(reduction)
    s, y, dtype = input_and_target(input, target)
    check_labels_plus_minus_one(y)
    return s, y, dtype


def soft_margin_loss(input, target, reduction="mean"):
    r"""Soft margin (logistic) loss :math:`\ell_i = \log(1 + e^{-y_i s_i})`, then ``reduction``.

    Computed as softplus(-y s) in its stable form, so a large negative margin
    gives the right finite loss (PyTorch evaluates log(1 + exp(-y s)) as written
    and returns inf once exp overflows, for margins below about -88 in float32).

    Args:
        input: floating array of scores, any shape.
        target: floating array of labels y (the book uses -1 and +1; any real y is
            accepted, as in PyTorch), broadcastable to the input's shape.
        reduction: 'none' | 'mean' | 'sum'.

    Returns:
        0-d array ('mean', 'sum') or array of input's shape ('none'), of the
        input's dtype. Chapter 8.
    """
    check_reduction(reduction)
    s, y, dtype = input_and_real_target(input, target, into_input_shape=True)
    loss = _softplus(-y * s)
    return as_result(reduce_loss(loss, reduction), dtype)


def hinge_embedding_loss(input, target, margin=1.0, reduction="mean"):
    r"""Hinge embedding loss, then ``reduction``, with PyTorch's formula

    .. math::

        \ell_i = \mathbb 1[y_i \ne 1]\, \max(0, \Delta - x_i)
                + \mathbb 1[y_i \ne -1]\, x_i,

    with :math:`\Delta` = ``margin``: that is :math:`x_i` if :math:`y_i = 1` and
    :math:`\max(0, \Delta - x_i)` if :math:`y_i = -1` (the book's case), and the sum
    of the two for any other real :math:`y_i`.
    Used with x_i a distance between two embeddings: similar pairs (y = 1) are
    pulled together, dissimilar pairs (y = -1) pushed at least ``margin`` apart.

    Args:
        input: floating array, any shape (typically distances, >= 0).
        target: floating array of labels (the book uses -1 and +1; any real y is
            accepted, as in PyTorch), broadcastable with ``input``.
        margin: finite real number (default 1.0).
        reduction: 'none' | 'mean' | 'sum'.

    Returns:
        0-d array ('mean', 'sum') or array of the broadcast shape ('none'), of
        the input's dtype. Chapter 8.
    """
    check_finite("margin", margin)
    check_reduction(reduction)
    x, y, dtype = input_and_real_target(input, target, into_input_shape=False)
    loss = np.where(y != 1, np.maximum(margin - x, 0), 0) + np.where(y != -1, x, 0)
    return as_result(reduce_loss(loss, reduction), dtype)


def hinge_loss(input, target, margin=1.0, reduction="mean"):
    r"""Hinge loss (the SVM loss) :math:`\ell_i = \max(0, \Delta - y_i s_i)`, then ``reduction``.

    :math:`\Delta` is ``margin``.

    No PyTorch twin (``multi_margin_loss`` is its multi-class version).

    Args:
        input: floating array of scores, any shape.
        target: floating array of labels, -1 or +1, of the same shape as ``input``.
        margin: finite real number (default 1.0).
        reduction: 'none' | 'mean' | 'sum'.

    Returns:
        0-d array ('mean', 'sum') or array of input's shape ('none'). Chapter 8.
    """
    check_finite("margin", margin)
    s, y, dtype = _scores_and_labels(input, target, reduction)
    loss = np.maximum(margin - y * s, 0)
    return as_result(reduce_loss(loss, reduction), dtype)


def squared_hinge_loss(input, target, margin=1.0, reduction="mean"):
    r"""Squared hinge loss :math:`\ell_i = \max(0, \Delta - y_i s_i)^2`, then ``reduction``.

    :math:`\Delta` is ``margin``.

    No PyTorch twin. Differentiable at the hinge, unlike ``hinge_loss``.

    Args:
        input: floating array of scores, any shape.
        target: floating array of labels, -1 or +1, of the same shape as ``input``.
        margin: finite real number (default 1.0).
        reduction: 'none' | 'mean' | 'sum'.

    Returns:
        0-d array ('mean', 'sum') or array of input's shape ('none'). Chapter 8.
    """
    check_finite("margin", margin)
    s, y, dtype = _scores_and_labels(input, target, reduction)
    with np.errstate(over="ignore"):  # a square beyond the dtype's range is inf
        loss = np.maximum(margin - y * s, 0) ** 2
        return as_result(reduce_loss(loss, reduction), dtype)


def exponential_loss(input, target, reduction="mean"):
    r"""Exponential loss (the AdaBoost loss) :math:`\ell_i = e^{-y_i s_i}`, then ``reduction``.

    No PyTorch twin. Grows exponentially with a wrong margin: it overflows to
    inf (without a warning) once -y s exceeds about 88 in float32 or 709 in float64.

    Args:
        input: floating array of scores, any shape.
        target: floating array of labels, -1 or +1, of the same shape as ``input``.
        reduction: 'none' | 'mean' | 'sum'.

    Returns:
        0-d array ('mean', 'sum') or array of input's shape ('none'). Chapter 8.
    """
    s, y, dtype = _scores_and_labels(input, target, reduction)
    with np.errstate(over="ignore"):  # exp beyond the dtype's range is inf
        loss = np.exp(-y * s)
        return as_result(reduce_loss(loss, reduction), dtype)


def _check_class_targets(target, input_shape):
    """Check the class indices of multi_margin_loss against the input's shape (C,) or (N, C)."""
    if not isinstance(target, np.ndarray | np.integer):
        raise TypeError(f"target must be a numpy.ndarray of integers; got {type(target).__name__}")
    target = np.asarray(target)
    if target.dtype.kind not in "iu":
        raise TypeError(f"target must hold class indices of an integer dtype; got {target.dtype}")
    expected = [(input_shape[0],)] if len(input_shape) == 2 else [(), (1,)]
    if target.shape not in expected:
        allowed = " or ".join(str(shape) for shape in expected)
        raise ValueError(
            f"target must have shape {allowed} for input of shape {input_shape}; "
            f"got target of shape {target.shape}"
        )
    classes = input_shape[-1]
    bad = (target < 0) | (target >= classes)
    if bad.any():
        raise IndexError(
            f"target must hold class indices in [0, {classes - 1}]; "
            f"got {target[bad].flat[0]} (input has {classes} classes)"
        )
    return target


def _check_class_weights(weight, dtype, classes):
    """Check the per-class weights of multi_margin_loss: shape (C,), the input's dtype."""
    weight, _ = as_float_array("weight", weight)
    if weight.dtype != dtype:
        raise TypeError(
            f"weight must have the dtype of input ({dtype}); got weight of dtype {weight.dtype}"
        )
    if weight.shape != (classes,):
        raise ValueError(
            f"weight must have shape ({classes},) (one per class); "
            f"got weight of shape {weight.shape}"
        )
    return weight


def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, reduction="mean"):
    r"""Multi-class hinge loss, then ``reduction``. For a sample with scores :math:`\mathbf z`
    and class :math:`y`, with :math:`\Delta` = ``margin`` and :math:`\kappa` = ``p``:

    .. math::

        \ell = \frac{1}{C} \sum_{k \ne y} w_y \max(0, \Delta - z_y + z_k)^{\kappa}.

    Each wrong class :math:`k` costs something until its score is :math:`\Delta`
    below the right class's score :math:`z_y`.

    Shapes: input (N, C) with target (N,), or input (C,) with target () or (1,);
    a 0-d input is one sample of one class (C = 1), as in PyTorch.

    Args:
        input: floating array of scores, shape (N, C), (C,) or (), C >= 1.
        target: integer array of class indices in [0, C).
        p: 1 or 2, the power of the hinge (default 1).
        margin: finite real number (default 1.0).
        weight: optional floating array of shape (C,) and input's dtype, a weight
            per class, applied to the samples of that class.
        reduction: 'none' (shape of target) | 'mean' (over the N samples) | 'sum'.

    Unlike PyTorch, a NaN score gives a NaN loss (PyTorch skips the NaN terms
    and returns a number), an empty batch gives NaN for 'mean' and 0 for 'sum',
    and float16 is accepted.

    Returns:
        0-d array ('mean', 'sum') or array of target's shape ('none'). Chapter 8.
    """
    check_reduction(reduction)
    if isinstance(p, bool) or p not in (1, 2):
        raise ValueError(f"p must be 1 or 2; got {p!r}")
    check_finite("margin", margin)
    x, dtype = as_compute_array("input", input)
    if x.ndim == 0:  # one sample of one class, as in PyTorch
        x = x.reshape(1)
    if x.ndim > 2 or x.shape[-1] == 0:
        raise ValueError(
            f"input must have shape (), (C,) or (N, C) with C >= 1; got input of shape {x.shape}"
        )
    classes = x.shape[-1]
    target = _check_class_targets(target, x.shape)
    if weight is not None:
        weight = _check_class_weights(weight, dtype, classes)
    scores = x.reshape(-1, classes)  # (N, C)
    labels = target.reshape(-1)  # (N,)
    with np.errstate(over="ignore", invalid="ignore"):  # IEEE results, as in PyTorch
        label_scores = scores[np.arange(len(labels)), labels][:, None]  # (N, 1)
        gaps = margin - label_scores + scores  # (N, C)
        # the term j = y is left out of the sum
        is_label = np.arange(classes) == labels[:, None]
        terms = np.where(is_label, 0, np.maximum(gaps, 0)) ** p
        if weight is not None:
            terms = terms * weight.astype(scores.dtype)[labels][:, None]
        loss = (terms.sum(axis=1) / classes).reshape(target.shape)
        return as_result(reduce_loss(loss, reduction), dtype)
