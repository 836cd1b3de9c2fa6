"""Activation functions from elementary torch ops (Chapter 1, Activation functions).

Every function takes a floating tensor of any shape and returns a tensor of the
same shape and dtype (half types are computed in float32 and rounded once at the
end). Names and arguments are those of ``torch.nn.functional``, plus ``swish``.
They are built from exp, expm1, log1p, erfc and where, never from
``torch.nn.functional`` or ``torch.sigmoid``, and autograd differentiates them
with PyTorch's gradients, including PyTorch's choice at the kinks (relu'(0) = 0,
leaky_relu'(0) = negative_slope, elu'(0) = alpha, relu6'(6) = 0).

The exponentials never overflow: sigmoid, logsigmoid, softplus and tanh only
evaluate ``exp`` of a number <= 0, so their values and gradients stay finite at
+-1e4 and +-inf. Where an infinity meets a zero (``silu(-inf) = -inf * 0``)
the result is NaN, as in PyTorch.
"""

import math

import torch

from .._pointwise_checks import (
    check_choice,
    check_finite,
    check_not_nan,
    check_positive_finite,
)
from ._pointwise import as_compute_tensor, minus_abs, negative_part, positive_part

__all__ = [
    "sigmoid",
    "logsigmoid",
    "tanh",
    "relu",
    "relu6",
    "leaky_relu",
    "elu",
    "prelu",
    "silu",
    "swish",
    "mish",
    "softplus",
    "gelu",
]


# --- the stable building blocks (compute dtype in, compute dtype out) -------------


def _sigmoid(x):
    """1 / (1 + exp(-x)), using e = exp(-|x|) <= 1 so that nothing overflows."""
    e = torch.exp(minus_abs(x))
    return torch.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _softplus(z):
    """log(1 + exp(z)) = max(z, 0) + log(1 + exp(-|z|)), which never overflows."""
    return torch.where(z >= 0, z, 0.0) + torch.log1p(torch.exp(minus_abs(z)))


def _tanh(x):
    """tanh(x) = 2 sigmoid(2x) - 1 = (1 - exp(-2|x|)) / (1 + exp(-2|x|)) with the sign of x.

    Written with m = expm1(-2|x|) as -m / (2 + m), so that there is no
    cancellation near 0 (where 2 sigmoid(2x) - 1 would lose every digit).
    """
    m = torch.expm1(2 * minus_abs(x))
    t = -m / (2 + m)
    return torch.where(x >= 0, t, -t)


def _tanh_softplus(x):
    """tanh(softplus(x)) = ((1 + e^x)^2 - 1) / ((1 + e^x)^2 + 1), written with n = exp(-|x|) <= 1:

        1 - 2n^2 / (1 + 2n + 2n^2)         for x >= 0
        n (n + 2) / (n (n + 2) + 2)        for x < 0

    Nothing cancels and nothing overflows, not even in the gradient of x * g(x)
    at the largest finite x (the terms are grouped so that x is only ever
    multiplied by numbers <= 1), where mish'(x) = 1 as in PyTorch.
    """
    n = torch.exp(minus_abs(x))
    return torch.where(
        x >= 0, 1 - 2 * n * n / (1 + 2 * n + 2 * n * n), n * ((n + 2) / (n * (n + 2) + 2))
    )


# --- the activations ---------------------------------------------------------------


def sigmoid(input):
    r"""Logistic sigmoid, :math:`\sigma(x) = 1 / (1 + e^{-x})`, elementwise.

    Computed as 1 / (1 + e) for x >= 0 and e / (1 + e) for x < 0, with
    :math:`e = e^{-\lvert x\rvert}`, so it never overflows; sigmoid(-inf) = 0 and sigmoid(inf) = 1.
    Gradient sigma(x) (1 - sigma(x)).

    Args:
        input: floating tensor, any shape.

    Returns:
        Tensor of the same shape and dtype, values in [0, 1]. Chapter 1.
    """
    x, dtype = as_compute_tensor("input", input)
    return _sigmoid(x).to(dtype)


def logsigmoid(input):
    r"""Log of the sigmoid,
    :math:`\log\sigma(x) = -\log(1 + e^{-x}) = -\operatorname{softplus}(-x)`, elementwise.

    Computed as :math:`\min(x, 0) - \operatorname{log1p}(e^{-\lvert x\rvert})`: exact for large
    :math:`\lvert x\rvert` (logsigmoid(-1e4)
    = -1e4, where log(sigmoid(x)) would give -inf). Gradient sigma(-x).

    Args:
        input: floating tensor, any shape.

    Returns:
        Tensor of the same shape and dtype, values in [-inf, 0]. Chapter 1.
    """
    x, dtype = as_compute_tensor("input", input)
    return (-_softplus(-x)).to(dtype)


def tanh(input):
    r"""Hyperbolic tangent, :math:`\tanh x = (e^x - e^{-x}) / (e^x + e^{-x}) = 2\sigma(2x) - 1`.

    ``torch.tanh`` is an elementary op and would be allowed here; this version is
    built from ``expm1`` instead, to show the identity with the sigmoid:
    :math:`\tanh x = \operatorname{sign}(x)\,(1 - e^{-2\lvert x\rvert}) / (1 + e^{-2\lvert
    x\rvert})`, written as -m / (2 + m)
    with :math:`m = \operatorname{expm1}(-2\lvert x\rvert)` so that it stays accurate near 0
    (within a few ulps of
    ``torch.tanh`` everywhere). Gradient 1 - tanh(x)^2.

    Args:
        input: floating tensor, any shape.

    Returns:
        Tensor of the same shape and dtype, values in [-1, 1]. Chapter 1.
    """
    x, dtype = as_compute_tensor("input", input)
    return _tanh(x).to(dtype)


def relu(input):
    r"""Rectified linear unit, :math:`\operatorname{relu}(x) = \max(x, 0)`, elementwise (NaN stays
    NaN).

    Gradient 1 for x > 0 and 0 for x <= 0 (0 at the kink, as in PyTorch).

    Args:
        input: floating tensor, any shape.

    Returns:
        Tensor of the same shape and dtype. Chapter 1.
    """
    x, dtype = as_compute_tensor("input", input)
    return positive_part(x).to(dtype)


def relu6(input):
    r"""ReLU capped at 6, :math:`\operatorname{relu6}(x) = \min(\max(x, 0), 6)`, elementwise (NaN
    stays NaN).

    Gradient 1 for 0 < x < 6 and 0 elsewhere, including at the kinks 0 and 6.

    Args:
        input: floating tensor, any shape.

    Returns:
        Tensor of the same shape and dtype, values in [0, 6]. Chapter 1.
    """
    x, dtype = as_compute_tensor("input", input)
    return torch.where(x >= 6, 6.0, positive_part(x)).to(dtype)


def leaky_relu(input, negative_slope=0.01):
    r"""Leaky ReLU: :math:`x` for :math:`x > 0`, ``negative_slope * x`` otherwise, elementwise.

    Gradient 1 for x > 0 and negative_slope for x <= 0.

    Args:
        input: floating tensor, any shape.
        negative_slope: finite real number, the slope for x <= 0 (default 0.01).
            As in PyTorch, leaky_relu(-inf) with slope 0 is NaN (-inf * 0).

    Returns:
        Tensor of the same shape and dtype. Chapter 1.
    """
    check_finite("negative_slope", negative_slope)
    x, dtype = as_compute_tensor("input", input)
    return torch.where(x > 0, x, negative_slope * x).to(dtype)


def elu(input, alpha=1.0):
    r"""Exponential linear unit: :math:`x` for :math:`x > 0`, :math:`\alpha (e^x - 1)` otherwise.

    The negative branch uses ``expm1`` (accurate near 0) of min(x, 0) (which
    cannot overflow, so no inf reaches the gradient); elu(-inf) = -alpha.
    Gradient 1 for x > 0 and alpha * exp(x) for x <= 0 (alpha at 0, as in PyTorch).

    Args:
        input: floating tensor, any shape.
        alpha: finite real number, the value approached as x -> -inf is -alpha
            (default 1.0).

    Returns:
        Tensor of the same shape and dtype. Chapter 1.
    """
    check_finite("alpha", alpha)
    x, dtype = as_compute_tensor("input", input)
    return torch.where(x <= 0, alpha * torch.expm1(negative_part(x)), x).to(dtype)


def prelu(input, weight):
    r"""Parametric ReLU: :math:`x` for :math:`x > 0`, :math:`a_c x` otherwise, with a learned slope
    :math:`a_c` per channel :math:`c`.

    Differentiable in ``input`` and in ``weight`` (the gradient of a_c is the sum
    of the upstream gradient times x over the elements x <= 0 of channel c).

    Args:
        input: floating tensor of shape ``(N, C, *)`` (the channels are dim 1), or of
            0 or 1 dims (one channel).
        weight: tensor of the same dtype as ``input``, of shape () or (1,) (one
            slope shared by all channels) or (C,) (one slope per channel).

    Returns:
        Tensor of the same shape and dtype as ``input``. Chapter 1.
    """
    x, dtype = as_compute_tensor("input", input)
    a, weight_dtype = as_compute_tensor("weight", weight)
    if weight_dtype != dtype:
        raise TypeError(
            f"weight must have the dtype of input ({dtype}); got weight of dtype {weight_dtype}"
        )
    channels = x.shape[1] if x.dim() >= 2 else 1
    if a.dim() > 1 or a.numel() not in (1, channels):
        allowed = "() or (1,)" if channels == 1 else f"(), (1,) or ({channels},)"
        raise ValueError(
            f"weight must have shape {allowed} (one slope, or one per channel of input, "
            f"dim 1 of shape {tuple(x.shape)}); got weight of shape {tuple(a.shape)}"
        )
    if a.numel() > 1:  # one slope per channel: put the channels on dim 1
        a = a.reshape((channels,) + (1,) * (x.dim() - 2))
    return torch.where(x > 0, x, a * negative_part(x)).to(dtype)


def silu(input):
    r"""Sigmoid linear unit, :math:`\operatorname{silu}(x) = x\,\sigma(x)`, elementwise (swish with
    :math:`\beta = 1`).

    silu(-inf) is NaN (-inf * 0), as in PyTorch. Gradient sigma(x) (1 + x (1 - sigma(x))).

    Args:
        input: floating tensor, any shape.

    Returns:
        Tensor of the same shape and dtype. Chapter 1.
    """
    x, dtype = as_compute_tensor("input", input)
    return (x * _sigmoid(x)).to(dtype)


def swish(input, beta=1.0):
    r"""Swish, :math:`\operatorname{swish}(x) = x\,\sigma(\beta x)`, elementwise; ``swish(x, 1) ==
    silu(x)``.

    No PyTorch twin. beta = 0 gives x / 2, and beta -> inf approaches relu.

    Args:
        input: floating tensor, any shape.
        beta: finite real number (default 1.0), or a floating tensor whose shape
            broadcasts to the shape of ``input`` (for example a 0-d tensor with
            ``requires_grad=True``, to learn beta; autograd differentiates in it).

    Returns:
        Tensor of the same shape and dtype as ``input``. Chapter 1.
    """
    x, dtype = as_compute_tensor("input", input)
    if isinstance(beta, torch.Tensor):
        beta, _ = as_compute_tensor("beta", beta)
        try:
            shape = torch.broadcast_shapes(beta.shape, x.shape)
        except RuntimeError:  # the shapes do not broadcast at all
            shape = None
        if shape != x.shape:
            raise ValueError(
                "beta must broadcast to the shape of input "
                f"{tuple(x.shape)}; got beta of shape {tuple(beta.shape)}"
            )
        beta = beta.to(x.dtype)
    else:
        check_finite("beta", beta)
    return (x * _sigmoid(beta * x)).to(dtype)


def mish(input):
    r"""Mish,
    :math:`\operatorname{mish}(x) = x \tanh(\operatorname{softplus}(x)) = x\,\frac{(1 + e^x)^2 -
    1}{(1 + e^x)^2 + 1}`, elementwise.

    :math:`\tanh(\operatorname{softplus}(x))` is computed from
    :math:`n = e^{-\lvert x\rvert} \le 1` in a form without
    cancellation or overflow (see ``_tanh_softplus``).

    mish(-inf) is NaN (-inf * 0), as in PyTorch.

    Args:
        input: floating tensor, any shape.

    Returns:
        Tensor of the same shape and dtype. Chapter 1.
    """
    x, dtype = as_compute_tensor("input", input)
    return (x * _tanh_softplus(x)).to(dtype)


def softplus(input, beta=1.0, threshold=20.0):
    r"""Softplus, :math:`\operatorname{softplus}(x) = \log(1 + e^{\beta x}) / \beta`, elementwise,
    a smooth relu.

    As in PyTorch, the function reverts to x where beta * x > threshold. Below
    the threshold it is computed as
    :math:`(\max(z, 0) + \operatorname{log1p}(e^{-\lvert z\rvert})) / \beta` with
    z = beta * x, which never overflows (PyTorch overflows to inf there when the
    threshold is large, say softplus(100.0) in float32 with threshold 1000).
    Gradient sigmoid(beta * x), and 1 above the threshold.

    Args:
        input: floating tensor, any shape.
        beta: number in (0, inf) (default 1.0); larger beta is closer to relu.
        threshold: real number, not NaN (default 20.0).

    Returns:
        Tensor of the same shape and dtype, values >= 0. Chapter 1.
    """
    check_positive_finite("beta", beta)
    check_not_nan("threshold", threshold)
    x, dtype = as_compute_tensor("input", input)
    z = beta * x
    return torch.where(z > threshold, x, _softplus(z) / beta).to(dtype)


def gelu(input, approximate="none"):
    r"""Gaussian error linear unit, :math:`\operatorname{gelu}(x) = x\,\Phi(x)`, with :math:`\Phi`
    the standard normal CDF.

    approximate='none': Phi(x) = erfc(-x / sqrt(2)) / 2 (the same as (1 + erf(x / sqrt(2))) / 2,
    written with erfc so that it keeps its digits for negative x).
    approximate='tanh': Phi(x) ~ (1 + tanh(u)) / 2 with u = sqrt(2 / pi) (x + 0.044715 x^3),
    computed as sigmoid(2u), the same number without the cancellation in 1 + tanh(u).
    gelu(-inf) is NaN (-inf * 0), as in PyTorch.

    Args:
        input: floating tensor, any shape.
        approximate: 'none' (default) or 'tanh'.

    Returns:
        Tensor of the same shape and dtype. Chapter 1.
    """
    check_choice("approximate", approximate, ("none", "tanh"))
    x, dtype = as_compute_tensor("input", input)
    if approximate == "none":
        cdf = 0.5 * torch.erfc(-x / math.sqrt(2))
    else:
        u = math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)
        cdf = _sigmoid(2 * u)
    return (x * cdf).to(dtype)
