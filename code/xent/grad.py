"""Gradients in closed form, and a numerical gradient checker (NumPy).

- ``softmax_jacobian``: d softmax / d logits = diag(s) - s s^T (chapter 4)
- ``cross_entropy_grad``: d cross_entropy / d logits = p - y, weighted (chapters 4, 6)
- ``binary_cross_entropy_with_logits_grad``: sigmoid(z) - y, weighted (chapter 7)
- ``numerical_grad``, ``check_gradient``: central differences and a report (chapter 4)

Each closed form takes the arguments of the ``torch.nn.functional`` loss it
differentiates, and the tests hold it to ``torch.autograd``. For reduction
'none' the loss is an array, and its gradient here is that of ``loss.sum()``:
every loss depends on its own logits only, so this is each loss's own gradient.
"""

from dataclasses import dataclass

import numpy as np

from ._arrays import as_float_array
from ._checks import check_in_closed_interval, check_positive, check_reduction, class_dim
from ._classification_checks import (
    check_broadcasts_to,
    check_class_weight_shape,
    check_index_target_shape,
    check_probability_target_shape,
    check_same_shape,
    target_out_of_range,
)
from .numpy import sigmoid, softmax

__all__ = [
    "softmax_jacobian",
    "cross_entropy_grad",
    "binary_cross_entropy_with_logits_grad",
    "numerical_grad",
    "check_gradient",
    "GradientCheck",
]


def softmax_jacobian(input):
    """The Jacobian of the softmax, J[i, j] = d s_i / d z_j = s_i (delta_ij - s_j).

    In matrix form J = diag(s) - s s^T with s = softmax(z). It is symmetric; its
    rows sum to 0 (J 1 = 0: adding a constant to every logit changes nothing, so
    J is singular) and so do its columns (1^T J = 0: the outputs always sum to 1).
    Chapter 4.

    input: logits z of shape (C,), or a batch (N, C) with the classes last.
    Returns (C, C), or (N, C, C) with one Jacobian per row, in the input's dtype.
    """
    x, compute_dtype = as_float_array("input", input)
    if x.ndim not in (1, 2):
        raise ValueError(f"input must have shape (C,) or (N, C); got shape {x.shape}")
    s = softmax(x.astype(compute_dtype), -1)
    jacobian = -s[..., :, None] * s[..., None, :]  # -s_i s_j
    i = np.arange(x.shape[-1])
    jacobian[..., i, i] += s  # + s_i on the diagonal
    return jacobian.astype(x.dtype)


def _class_weight(weight, x, compute_dtype):
    """None, or the (C,) weight per class checked like the loss checks it."""
    if weight is None:
        return None
    weight, _ = as_float_array("weight", weight)
    if weight.dtype != x.dtype:
        raise TypeError(f"weight must have the input's dtype {x.dtype}; got {weight.dtype}")
    check_class_weight_shape(weight.shape, x.shape[class_dim(x.ndim)])
    return weight.astype(compute_dtype)


def _index_target(target, x, ignore_index):
    """(indices, ignored) for a class-index target; ignored entries point at class 0."""
    target = np.asarray(target)
    if not np.issubdtype(target.dtype, np.integer):
        raise TypeError(f"target of class indices must have an integer dtype; got {target.dtype}")
    check_index_target_shape(x.shape, target.shape)
    n_classes = x.shape[class_dim(x.ndim)]
    target = target.astype(np.int64)
    ignored = target == ignore_index
    out_of_range = ~ignored & ((target < 0) | (target >= n_classes))
    if out_of_range.any():
        raise target_out_of_range(target[out_of_range].flat[0], n_classes, ignore_index)
    return np.where(ignored, 0, target), ignored


def cross_entropy_grad(
    input, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0
):
    r"""Gradient of ``torch.nn.functional.cross_entropy`` with respect to ``input``.

    Derivation (chapter 4). With :math:`\mathbf p = \operatorname{softmax}(\mathbf z)` over the
    classes, :math:`\partial(-\log p_c)/\partial z_j = p_j - [j = c]`. One example's loss is a
    weighted sum of such terms, :math:`\ell = \sum_c r_c (-\log p_c)`, where
    :math:`\mathbf r = \mathbf w \odot \mathbf q'` combines the class weights :math:`\mathbf w`
    (all 1 by default) and the smoothed target
    :math:`\mathbf q' = (1 - \varepsilon)\mathbf q + \varepsilon / C` (:math:`\mathbf q` one-hot
    for a class index, :math:`\varepsilon` = ``label_smoothing``). So

    .. math::

        \nabla_{\mathbf z} \ell = \mathbf p \textstyle\sum_c r_c - \mathbf r,

    which is :math:`\mathbf p - \mathbf q'` without weights (then :math:`\sum_c r_c = 1`).
    An ignored target (class index == ignore_index) has r = 0 and a zero gradient. Reductions:
    'sum' adds the examples' gradients; 'mean' divides them by
    sum_n w[t_n] over the targets that are not ignored (class indices, as
    PyTorch does, even with label smoothing) or by the number of examples
    (class probabilities). When that weight sum is 0 the mean is 0/0 and the
    gradient is NaN, except for ignored targets (0), as in PyTorch.

    Arguments are those of ``cross_entropy`` (see ``xent.numpy.cross_entropy``).

    Args:
        input: logits (C,), (N, C) or (N, C, d1, ..., dk), classes in dim 1 (dim 0 for (C,)).
        target: class indices of the input's shape without the class dim, or
            class probabilities (floats) of the input's shape.
        weight: optional (C,) weight per class.
        ignore_index: class-index targets only.
        reduction: 'none' (gradient of loss.sum()), 'mean' or 'sum'.
        label_smoothing: eps in [0, 1].

    Returns:
        An array of the input's shape and dtype.
    """
    x, compute_dtype = as_float_array("input", input)
    check_reduction(reduction)
    check_in_closed_interval("label_smoothing", label_smoothing, 0.0, 1.0)
    dim = class_dim(x.ndim)
    n_classes = x.shape[dim]
    w = _class_weight(weight, x, compute_dtype)
    out_dtype = x.dtype
    probability_target = isinstance(target, np.ndarray) and np.issubdtype(
        target.dtype, np.floating
    )
    if probability_target:
        if ignore_index != -100:
            raise ValueError(
                f"ignore_index={ignore_index} needs class-index targets; "
                "target holds class probabilities"
            )
        check_probability_target_shape(x.shape, target.shape)
        out_dtype = np.result_type(x, target)
        compute_dtype = np.result_type(compute_dtype, target)
        q = np.moveaxis(target.astype(compute_dtype), dim, -1)  # classes last
        ignored = np.zeros(q.shape[:-1], dtype=bool)
    else:
        indices, ignored = _index_target(target, x, ignore_index)
        if w is None:  # the common case, without building a dense one-hot target
            return _index_grad(x, dim, compute_dtype, indices, ignored, reduction, label_smoothing)
        q = (indices[..., None] == np.arange(n_classes)).astype(compute_dtype)

    p = softmax(np.moveaxis(x.astype(compute_dtype), dim, -1), -1)  # classes last
    if label_smoothing > 0 and n_classes > 0:
        q = (1 - label_smoothing) * q + label_smoothing / n_classes
    y = q if w is None else q * w
    y = np.where(ignored[..., None], 0, y)
    grad = p * y.sum(axis=-1, keepdims=True) - y

    if reduction == "mean":
        if probability_target:
            grad = grad / max(ignored.size, 1)
        else:
            target_weight = np.ones(indices.shape) if w is None else w[indices]
            total = np.where(ignored, 0, target_weight).sum()
            with np.errstate(invalid="ignore", divide="ignore"):
                grad = grad / total if total != 0 else np.full_like(grad, np.nan)
            grad = np.where(ignored[..., None], 0, grad)
    return np.moveaxis(grad, -1, dim).astype(out_dtype)


def _index_grad(x, dim, compute_dtype, indices, ignored, reduction, label_smoothing):
    """cross_entropy_grad for class indices without class weights, in place on softmax.

    The target row y = (1 - eps) e_t + eps / C sums to 1, so the gradient p - y is
    softmax minus eps / C everywhere, minus (1 - eps) more at the target class.
    """
    n_classes = x.shape[dim]
    p = softmax(np.moveaxis(x.astype(compute_dtype, copy=False), dim, -1), -1)  # classes last
    grad = np.ascontiguousarray(p)  # so that the reshape below is a view
    if n_classes == 0:
        return np.moveaxis(grad, -1, dim).astype(x.dtype)
    if label_smoothing > 0:
        grad -= label_smoothing / n_classes
    rows = grad.reshape(-1, n_classes)
    rows[np.arange(rows.shape[0]), indices.reshape(-1)] -= 1 - label_smoothing
    rows[ignored.reshape(-1)] = 0
    if reduction == "mean":
        kept = ignored.size - np.count_nonzero(ignored)
        if kept:
            grad /= kept
    return np.moveaxis(grad, -1, dim).astype(x.dtype, copy=False)


def binary_cross_entropy_with_logits_grad(
    input, target, weight=None, reduction="mean", pos_weight=None
):
    """Gradient of ``torch.nn.functional.binary_cross_entropy_with_logits`` w.r.t. ``input``.

    Derivation (chapter 7). The loss of one logit z with target y is
    loss = -w [pw y log sigma(z) + (1 - y) log(1 - sigma(z))], with weight w and
    pos_weight pw. As d log sigma(z)/dz = 1 - sigma(z) and
    d log(1 - sigma(z))/dz = -sigma(z),

        d loss / dz = w [(1 + (pw - 1) y) sigma(z) - pw y],

    which is sigma(z) - y when w = pw = 1. Reductions: 'sum' keeps these,
    'mean' divides by the number of elements, 'none' is the gradient of loss.sum().

    input: logits z, any shape; target: y, same shape (usually in [0, 1]);
    weight: optional, broadcasts to the input's shape; pos_weight: optional,
    broadcasts to the input's shape (one per class along the last dim).
    Returns an array of the input's shape, in the dtype of ``input`` and ``target`` combined.
    """
    x, _ = as_float_array("input", input)
    y, _ = as_float_array("target", target)
    check_reduction(reduction)
    check_same_shape("target", y.shape, x.shape)
    out_dtype = np.result_type(x, y)
    compute_dtype = np.result_type(out_dtype, np.float32)
    factors = []
    for name, value in [("weight", weight), ("pos_weight", pos_weight)]:
        if value is not None:
            value, _ = as_float_array(name, value)
            check_broadcasts_to(name, value.shape, x.shape)
            value = value.astype(compute_dtype)
        factors.append(value)
    w, pw = factors
    x, y = x.astype(compute_dtype), y.astype(compute_dtype)
    s = sigmoid(x)
    grad = s - y if pw is None else (1 + (pw - 1) * y) * s - pw * y
    if w is not None:
        grad = w * grad
    if reduction == "mean":
        grad = grad / max(x.size, 1)
    return grad.astype(out_dtype)


def _float64_array(x):
    x = np.array(x, dtype=np.float64)  # a copy: the caller's array is never touched
    if not np.isfinite(x).all():
        raise ValueError("x must be finite to take differences around it; got inf or NaN")
    return x


def _scalar(value):
    value = np.asarray(value)
    if value.size != 1:
        raise ValueError(f"f must return a scalar; got an array of shape {value.shape}")
    return float(value.reshape(()))


def numerical_grad(f, x, eps=None):
    r"""Central-difference gradient of a scalar function f at x.

    .. math::

        g_i = \frac{f(\mathbf x + h_i \mathbf e_i) - f(\mathbf x - h_i \mathbf e_i)}
                   {(x_i + h_i) - (x_i - h_i)},

    dividing by the distance between the two points as stored in float64, so
    the rounding of :math:`x_i \pm h_i` costs nothing. The error is :math:`O(h^2)` from the
    curvature of f plus :math:`O(u \lvert f\rvert / h)` from rounding f (:math:`u` the machine
    epsilon); the default step :math:`h_i = u^{1/3} \max(1, \lvert x_i\rvert)
    \approx 6 \cdot 10^{-6} \max(1, \lvert x_i\rvert)` balances the two, leaving about 1e-10
    relative error for smooth f. Chapter 4.

    Args:
        f: maps a float64 array of x's shape to a scalar.
        x: the point, any shape (converted to float64; never modified).
        eps: a fixed step h for every element, instead of the default.

    Returns:
        A float64 array of x's shape.
    """
    x = _float64_array(x)
    if eps is None:
        steps = np.cbrt(np.finfo(np.float64).eps) * np.maximum(1.0, np.abs(x))
    else:
        check_positive("eps", eps)
        steps = np.full(x.shape, float(eps))
    grad = np.empty_like(x)
    for i in np.ndindex(x.shape):
        forward, backward = x.copy(), x.copy()
        forward[i] += steps[i]
        backward[i] -= steps[i]
        grad[i] = (_scalar(f(forward)) - _scalar(f(backward))) / (forward[i] - backward[i])
    return grad


@dataclass(frozen=True)
class GradientCheck:
    """What ``check_gradient`` found: the largest errors, where, and the verdict."""

    max_abs_error: float
    max_rel_error: float
    worst_index: tuple
    rtol: float
    passed: bool

    def __str__(self):
        verdict = "passed" if self.passed else f"FAILED (worst at index {self.worst_index})"
        return f"max relative error {self.max_rel_error:.1e} (tolerance {self.rtol:g}): {verdict}"


def check_gradient(f, grad_f, x, eps=None, rtol=1e-6):
    r"""Compare a gradient function with central differences at x.

    The error of each element is relative,
    :math:`\lvert a - n\rvert / \max(\lvert a\rvert, \lvert n\rvert, \text{tiny})`, with
    a = grad_f(x), n = numerical_grad(f, x, eps) and tiny the smallest normal
    float64, which only keeps 0 / 0 away (two exact zeros agree: error 0).
    Relative error suits gradients whose entries differ by orders of magnitude;
    its blind spot is an entry that should be exactly 0 but whose numerical
    estimate is rounding noise (say 1e-11): that reads as error 1, so look at
    ``max_abs_error`` too before blaming grad_f. Chapter 4.

    Args:
        f: scalar function of an array.
        grad_f: its claimed gradient, an array of x's shape.
        x: the point.
        eps: step, as in ``numerical_grad``.
        rtol: the largest relative error that passes.

    Returns:
        A ``GradientCheck``; ``print`` it for a one-line verdict.
    """
    check_positive("rtol", rtol)
    x = _float64_array(x)
    analytic = np.asarray(grad_f(x.copy()), dtype=np.float64)
    if analytic.shape != x.shape:
        raise ValueError(
            f"grad_f must return an array of x's shape {x.shape}; got shape {analytic.shape}"
        )
    numeric = numerical_grad(f, x, eps)
    abs_error = np.abs(analytic - numeric)
    scale = np.maximum(np.maximum(np.abs(analytic), np.abs(numeric)), np.finfo(np.float64).tiny)
    rel_error = abs_error / scale
    if x.size == 0:
        return GradientCheck(0.0, 0.0, (), rtol, True)
    # a NaN error (grad_f gave NaN, say) counts as the worst
    worst = np.unravel_index(np.argmax(np.where(np.isnan(rel_error), np.inf, rel_error)), x.shape)
    max_rel = float(rel_error[worst])
    return GradientCheck(
        max_abs_error=float(np.max(abs_error)),
        max_rel_error=max_rel,
        worst_index=tuple(int(i) for i in worst),
        rtol=rtol,
        passed=bool(max_rel <= rtol),
    )
