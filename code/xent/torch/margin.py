"""Margin losses from elementary torch ops (Chapter 8, A tour of loss functions).

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
Differentiable in input; at a hinge (max(0, z) with z = 0) the gradient is 0, as
PyTorch's multi_margin_loss has it.
"""

import torch

from .._checks import check_reduction
from .._pointwise_checks import check_finite
from ._pointwise import (
    as_compute_tensor,
    check_labels_plus_minus_one,
    input_and_real_target,
    input_and_target,
    positive_part,
)
from ._tensors import as_float_tensor, reduce_loss
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
    gives the right finite loss and gradient (PyTorch evaluates
    log(1 + exp(-y s)) as written and returns inf, with a NaN gradient, once exp
    overflows, for margins below about -88 in float32).

    Args:
        input: floating tensor of scores, any shape.
        target: floating tensor of labels y (the book uses -1 and +1; any real y is
            accepted, as in PyTorch), broadcastable to the input's shape.
        reduction: 'none' | 'mean' | 'sum'.

    Returns:
        0-d tensor ('mean', 'sum') or tensor of input's shape ('none'), of the
        input's dtype. Chapter 8.
    """
    check_reduction(reduction)
    s, y, dtype = input_and_real_target(input, target, into_input_shape=True)
    loss = _softplus(-y * s)
    return reduce_loss(loss, reduction).to(dtype)


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
    At the hinge (x_i = margin) the gradient of the second term is -1, as in PyTorch.

    Args:
        input: floating tensor, any shape (typically distances, >= 0).
        target: floating tensor of labels (the book uses -1 and +1; any real y is
            accepted, as in PyTorch), broadcastable with ``input``.
        margin: finite real number (default 1.0).
        reduction: 'none' | 'mean' | 'sum'.

    Returns:
        0-d tensor ('mean', 'sum') or tensor of the broadcast shape ('none'), of
        the input's dtype. Chapter 8.
    """
    check_finite("margin", margin)
    check_reduction(reduction)
    x, y, dtype = input_and_real_target(input, target, into_input_shape=False)
    hinge = (margin - x).clamp_min(0)  # slope -1 at x = margin, 0 at a NaN x: as PyTorch
    loss = torch.where(y != 1, hinge, 0.0) + torch.where(y != -1, x, 0.0)
    return reduce_loss(loss, reduction).to(dtype)


def hinge_loss(input, target, margin=1.0, reduction="mean"):
    r"""Hinge loss (the SVM loss) :math:`\ell_i = \max(0, \Delta - y_i s_i)`, then ``reduction``.

    :math:`\Delta` is ``margin``.

    No PyTorch twin (``multi_margin_loss`` is its multi-class version). Gradient
    -y_i where y_i s_i < margin, and 0 elsewhere (also at the hinge).

    Args:
        input: floating tensor of scores, any shape.
        target: floating tensor of labels, -1 or +1, of the same shape as ``input``.
        margin: finite real number (default 1.0).
        reduction: 'none' | 'mean' | 'sum'.

    Returns:
        0-d tensor ('mean', 'sum') or tensor of input's shape ('none'). Chapter 8.
    """
    check_finite("margin", margin)
    s, y, dtype = _scores_and_labels(input, target, reduction)
    loss = positive_part(margin - y * s)
    return reduce_loss(loss, reduction).to(dtype)


def squared_hinge_loss(input, target, margin=1.0, reduction="mean"):
    r"""Squared hinge loss :math:`\ell_i = \max(0, \Delta - y_i s_i)^2`, then ``reduction``.

    :math:`\Delta` is ``margin``.

    No PyTorch twin. Differentiable at the hinge, unlike ``hinge_loss``:
    gradient -2 y_i max(0, margin - y_i s_i).

    Args:
        input: floating tensor of scores, any shape.
        target: floating tensor of labels, -1 or +1, of the same shape as ``input``.
        margin: finite real number (default 1.0).
        reduction: 'none' | 'mean' | 'sum'.

    Returns:
        0-d tensor ('mean', 'sum') or tensor of input's shape ('none'). Chapter 8.
    """
    check_finite("margin", margin)
    s, y, dtype = _scores_and_labels(input, target, reduction)
    loss = positive_part(margin - y * s) ** 2
    return reduce_loss(loss, reduction).to(dtype)


def exponential_loss(input, target, reduction="mean"):
    r"""Exponential loss (the AdaBoost loss) :math:`\ell_i = e^{-y_i s_i}`, then ``reduction``.

    No PyTorch twin. Grows exponentially with a wrong margin: it overflows to
    inf once -y s exceeds about 88 in float32 or 709 in float64. Gradient
    -y_i exp(-y_i s_i).

    Args:
        input: floating tensor of scores, any shape.
        target: floating tensor of labels, -1 or +1, of the same shape as ``input``.
        reduction: 'none' | 'mean' | 'sum'.

    Returns:
        0-d tensor ('mean', 'sum') or tensor of input's shape ('none'). Chapter 8.
    """
    s, y, dtype = _scores_and_labels(input, target, reduction)
    loss = torch.exp(-y * s)
    return reduce_loss(loss, reduction).to(dtype)


_INTEGER_DTYPES = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)


def _check_class_targets(target, input_shape):
    """Check the class indices of multi_margin_loss against the input's shape (C,) or (N, C)."""
    if not isinstance(target, torch.Tensor):
        raise TypeError(f"target must be a torch.Tensor of integers; got {type(target).__name__}")
    if target.dtype not in _INTEGER_DTYPES:
        raise TypeError(f"target must hold class indices of an integer dtype; got {target.dtype}")
    expected = [(input_shape[0],)] if len(input_shape) == 2 else [(), (1,)]
    if tuple(target.shape) not in expected:
        allowed = " or ".join(str(shape) for shape in expected)
        raise ValueError(
            f"target must have shape {allowed} for input of shape {input_shape}; "
            f"got target of shape {tuple(target.shape)}"
        )
    classes = input_shape[-1]
    bad = (target < 0) | (target >= classes)
    if bad.any():
        raise IndexError(
            f"target must hold class indices in [0, {classes - 1}]; "
            f"got {target[bad].reshape(-1)[0].item()} (input has {classes} classes)"
        )
    return target.long()


def _check_class_weights(weight, dtype, classes):
    """Check the per-class weights of multi_margin_loss: shape (C,), the input's dtype."""
    weight, _ = as_float_tensor("weight", weight)
    if weight.dtype != dtype:
        raise TypeError(
            f"weight must have the dtype of input ({dtype}); got weight of dtype {weight.dtype}"
        )
    if weight.shape != (classes,):
        raise ValueError(
            f"weight must have shape ({classes},) (one per class); "
            f"got weight of shape {tuple(weight.shape)}"
        )
    return weight


def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, reduction="mean"):
    r"""Multi-class hinge loss, then ``reduction``. For a sample with scores :math:`\mathbf z`
    and class :math:`y`, with :math:`\Delta` = ``margin`` and :math:`\kappa` = ``p``:

    .. math::

        \ell = \frac{1}{C} \sum_{k \ne y} w_y \max(0, \Delta - z_y + z_k)^{\kappa}.

    Each wrong class :math:`k` costs something until its score is :math:`\Delta`
    below the right class's score :math:`z_y`. At a hinge (margin - x_y + x_j = 0) the gradient is
    0, as in PyTorch.

    Shapes: input (N, C) with target (N,), or input (C,) with target () or (1,);
    a 0-d input is one sample of one class (C = 1), as in PyTorch.

    Args:
        input: floating tensor of scores, shape (N, C), (C,) or (), C >= 1.
        target: integer tensor of class indices in [0, C).
        p: 1 or 2, the power of the hinge (default 1).
        margin: finite real number (default 1.0).
        weight: optional floating tensor of shape (C,) and input's dtype, a weight
            per class, applied to the samples of that class (differentiable, where
            PyTorch's is not).
        reduction: 'none' (shape of target) | 'mean' (over the N samples) | 'sum'.

    Unlike PyTorch, a NaN score gives a NaN loss (PyTorch skips the NaN terms
    and returns a number), an empty batch gives NaN for 'mean' and 0 for 'sum'
    (PyTorch returns an uninitialised number), half types are accepted, and so
    is any integer dtype of target.

    Returns:
        0-d tensor ('mean', 'sum') or tensor of target's shape ('none'). Chapter 8.
    """
    check_reduction(reduction)
    if isinstance(p, bool) or p not in (1, 2):
        raise ValueError(f"p must be 1 or 2; got {p!r}")
    check_finite("margin", margin)
    x, dtype = as_compute_tensor("input", input)
    if x.dim() == 0:  # one sample of one class, as in PyTorch
        x = x.reshape(1)
    if x.dim() > 2 or x.shape[-1] == 0:
        raise ValueError(
            "input must have shape (), (C,) or (N, C) with C >= 1; "
            f"got input of shape {tuple(x.shape)}"
        )
    classes = x.shape[-1]
    target = _check_class_targets(target, tuple(x.shape))
    if weight is not None:
        weight = _check_class_weights(weight, dtype, classes)
    scores = x.reshape(-1, classes)  # (N, C)
    labels = target.reshape(-1)  # (N,)
    label_scores = scores.gather(1, labels[:, None])  # (N, 1)
    gaps = margin - label_scores + scores  # (N, C)
    # the term j = y is left out of the sum
    is_label = torch.arange(classes, device=x.device) == labels[:, None]
    terms = torch.where(is_label, 0.0, positive_part(gaps)) ** p
    if weight is not None:
        terms = terms * weight.to(scores.dtype)[labels][:, None]
    loss = (terms.sum(dim=1) / classes).reshape(target.shape)
    return reduce_loss(loss, reduction).to(dtype)
