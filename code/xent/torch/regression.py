"""Regression losses from elementary torch ops (Chapter 8, A tour of loss functions).

Each loss compares a prediction ``input`` with a ``target`` of the same shape,
element by element, then applies ``reduction``: 'none' (the elementwise losses,
same shape as input), 'mean' (default; NaN for empty input) or 'sum' (0 for
empty input). Unlike PyTorch, which broadcasts an input and a target of
different shapes (with a UserWarning), xent requires the two shapes to be equal
and raises ValueError otherwise. The result has the promoted dtype of input and
target, as PyTorch's mse_loss has it (its huber_loss keeps the input's dtype
instead); half types are computed in float32 and rounded once, at the end.
Differentiable in input and target, with PyTorch's gradients (l1's is 0 where
input = target).
"""

import torch

from .._checks import check_reduction
from .._pointwise_checks import check_non_negative_finite, check_positive_finite
from ._pointwise import input_and_target
from ._tensors import reduce_loss

__all__ = ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "msle_loss"]


def mse_loss(input, target, reduction="mean"):
    r"""Mean squared error, :math:`\ell_i = (x_i - y_i)^2`, then ``reduction``.

    Args:
        input: floating tensor, any shape.
        target: floating tensor of the same shape as ``input``.
        reduction: 'none' | 'mean' | 'sum'.

    Returns:
        0-d tensor ('mean', 'sum') or tensor of input's shape ('none'). Chapter 8.
    """
    check_reduction(reduction)
    x, y, dtype = input_and_target(input, target)
    loss = (x - y) ** 2
    return reduce_loss(loss, reduction).to(dtype)


def l1_loss(input, target, reduction="mean"):
    r"""Mean absolute error, :math:`\ell_i = \lvert x_i - y_i\rvert`, then ``reduction``.

    Args:
        input: floating tensor, any shape.
        target: floating tensor of the same shape as ``input``.
        reduction: 'none' | 'mean' | 'sum'.

    Returns:
        0-d tensor ('mean', 'sum') or tensor of input's shape ('none'). Chapter 8.
    """
    check_reduction(reduction)
    x, y, dtype = input_and_target(input, target)
    loss = torch.abs(x - y)
    return reduce_loss(loss, reduction).to(dtype)


def _split_at(d, width):
    """Split the differences d at |d| = width (width > 0).

    Returns |d|, the mask |d| >= width of the linear part, and d where the
    quadratic part is used (0 elsewhere, so that a huge or infinite d cannot put
    inf * 0 = NaN into the gradient of the branch that is not used). NaN falls
    in the quadratic part, so its gradient is NaN, as in PyTorch.
    """
    a = torch.abs(d)
    linear = a >= width
    return a, linear, torch.where(linear, 0.0, d)


def smooth_l1_loss(input, target, reduction="mean", beta=1.0):
    r"""Smooth L1 loss, then ``reduction``. With :math:`d = x_i - y_i`:

    .. math::

        \ell_i = \begin{cases} 0.5\, d^2 / \beta & \text{if } \lvert d\rvert < \beta \\
                 \lvert d\rvert - 0.5\, \beta & \text{otherwise} \end{cases}

    Quadratic near 0, linear (slope 1) in the tails; beta = 0 gives l1_loss.

    Args:
        input: floating tensor, any shape.
        target: floating tensor of the same shape as ``input``.
        reduction: 'none' | 'mean' | 'sum'.
        beta: number in [0, inf), where the quadratic part ends (default 1.0).

    Returns:
        0-d tensor ('mean', 'sum') or tensor of input's shape ('none'). Chapter 8.
    """
    check_reduction(reduction)
    check_non_negative_finite("beta", beta)
    x, y, dtype = input_and_target(input, target)
    d = x - y
    if beta == 0:
        loss = torch.abs(d)
    else:
        a, linear, inner = _split_at(d, beta)
        loss = torch.where(linear, a - 0.5 * beta, 0.5 * inner * inner / beta)
    return reduce_loss(loss, reduction).to(dtype)


def huber_loss(input, target, reduction="mean", delta=1.0):
    r"""Huber loss, then ``reduction``. With :math:`d = x_i - y_i`:

    .. math::

        \ell_i = \begin{cases} 0.5\, d^2 & \text{if } \lvert d\rvert < \delta \\
                 \delta\,(\lvert d\rvert - 0.5\, \delta) & \text{otherwise} \end{cases}

    Quadratic near 0, linear (slope delta) in the tails: huber_loss(delta) =
    delta * smooth_l1_loss(beta=delta).

    Args:
        input: floating tensor, any shape.
        target: floating tensor of the same shape as ``input``.
        reduction: 'none' | 'mean' | 'sum'.
        delta: number in (0, inf), where the quadratic part ends (default 1.0).

    Returns:
        0-d tensor ('mean', 'sum') or tensor of input's shape ('none'). Chapter 8.
    """
    check_reduction(reduction)
    check_positive_finite("delta", delta)
    x, y, dtype = input_and_target(input, target)
    a, linear, inner = _split_at(x - y, delta)
    loss = torch.where(linear, delta * (a - 0.5 * delta), 0.5 * inner * inner)
    return reduce_loss(loss, reduction).to(dtype)


def _check_above_minus_one(name, x):
    """Raise ValueError unless every element of ``x`` is > -1 (NaN passes, and propagates)."""
    bad = x <= -1
    if bad.any():
        index = tuple(int(i) for i in torch.nonzero(bad)[0])
        value = x[index].item()
        raise ValueError(f"{name} must be > -1 everywhere; got {value!r} at index {index}")


def msle_loss(input, target, reduction="mean"):
    r"""Mean squared log error, :math:`\ell_i = (\log(1 + x_i) - \log(1 + y_i))^2`, then
    ``reduction``.

    No PyTorch twin. The squared error of log1p(input) against log1p(target): it
    weighs relative errors, for positive quantities such as counts or prices.
    Gradient in x_i: 2 (log1p(x_i) - log1p(y_i)) / (1 + x_i) (before the reduction).

    Args:
        input: floating tensor, any shape, every element > -1.
        target: floating tensor of the same shape as ``input``, every element > -1.
        reduction: 'none' | 'mean' | 'sum'.

    Returns:
        0-d tensor ('mean', 'sum') or tensor of input's shape ('none'). Chapter 8.

    Raises:
        ValueError: an element of input or target is <= -1 (log1p is undefined).
    """
    check_reduction(reduction)
    x, y, dtype = input_and_target(input, target)
    _check_above_minus_one("input", x)
    _check_above_minus_one("target", y)
    loss = (torch.log1p(x) - torch.log1p(y)) ** 2
    return reduce_loss(loss, reduction).to(dtype)
