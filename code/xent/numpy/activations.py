"""Activation functions in NumPy (Chapter 1, Activation functions).

Every function takes a floating NumPy array of any shape and returns an array of
the same shape and dtype (float16 is computed in float32 and rounded once at the
end). Names and arguments are those of ``torch.nn.functional``, plus ``swish``.

The exponentials are arranged so that they never overflow: sigmoid, logsigmoid,
softplus and tanh only ever evaluate ``exp`` of a number <= 0. Where an
infinity meets a zero (``silu(-inf) = -inf * 0``) the result is NaN, as in
PyTorch, without NumPy's warning.
"""

import math

import numpy as np

from .._pointwise_checks import (
    check_choice,
    check_finite,
    check_not_nan,
    check_positive_finite,
)
from ._pointwise import as_compute_array, as_result

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

# math.erfc applied elementwise; it works in float64 whatever the input dtype.
_erfc = np.vectorize(math.erfc, otypes=[np.float64])


# --- the stable building blocks (compute dtype in, compute dtype out) -------------


def _sigmoid(x):
    """1 / (1 + exp(-x)), using e = exp(-|x|) <= 1 so that nothing overflows."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _softplus(z):
    """log(1 + exp(z)) = max(z, 0) + log(1 + exp(-|z|)), which never overflows."""
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


def _tanh(x):
    """tanh(x) = 2 sigmoid(2x) - 1 = (1 - exp(-2|x|)) / (1 + exp(-2|x|)) with the sign of x.

    Written with m = expm1(-2|x|) as -m / (2 + m), so that there is no
    cancellation near 0 (where 2 sigmoid(2x) - 1 would lose every digit).
    """
    with np.errstate(over="ignore"):  # -2|x| may be -inf: then m = -1 and tanh = +-1
        m = np.expm1(-2 * np.abs(x))
    return np.copysign(-m / (2 + m), x)


def _tanh_softplus(x):
    """tanh(softplus(x)) = ((1 + e^x)^2 - 1) / ((1 + e^x)^2 + 1), written with n = exp(-|x|) <= 1:

        1 - 2n^2 / (1 + 2n + 2n^2)         for x >= 0
        n (n + 2) / (n (n + 2) + 2)        for x < 0

    Nothing cancels (1 - a small positive number stays accurate) and nothing overflows.
    """
    n = np.exp(-np.abs(x))
    positive = 1 - 2 * n * n / (1 + 2 * n + 2 * n * n)
    negative = n * ((n + 2) / (n * (n + 2) + 2))
    return np.where(x >= 0, positive, negative)


# --- the activations ---------------------------------------------------------------


def sigmoid(input):
    r"""Logistic sigmoid, :math:`\sigma(x) = 1 / (1 + e^{-x})`, elementwise.

    Computed as 1 / (1 + e) for x >= 0 and e / (1 + e) for x < 0, with
    :math:`e = e^{-\lvert x\rvert}`, so it never overflows; sigmoid(-inf) = 0 and sigmoid(inf) = 1.

    Args:
        input: floating array, any shape.

    Returns:
        Array of the same shape and dtype, values in [0, 1]. Chapter 1.
    """
    x, dtype = as_compute_array("input", input)
    return as_result(_sigmoid(x), dtype)


def logsigmoid(input):
    r"""Log of the sigmoid,
    :math:`\log\sigma(x) = -\log(1 + e^{-x}) = -\operatorname{softplus}(-x)`, elementwise.

    Computed as :math:`\min(x, 0) - \operatorname{log1p}(e^{-\lvert x\rvert})`: exact for large
    :math:`\lvert x\rvert` (logsigmoid(-1e4)
    = -1e4, where log(sigmoid(x)) would give -inf).

    Args:
        input: floating array, any shape.

    Returns:
        Array of the same shape and dtype, values in [-inf, 0]. Chapter 1.
    """
    x, dtype = as_compute_array("input", input)
    return as_result(np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x))), dtype)


def tanh(input):
    r"""Hyperbolic tangent, :math:`\tanh x = (e^x - e^{-x}) / (e^x + e^{-x}) = 2\sigma(2x) - 1`.

    Built from ``expm1`` to show the identity with the sigmoid (NumPy's own
    ``np.tanh`` is an elementary function too and agrees to a few ulps):
    :math:`\tanh x = \operatorname{sign}(x)\,(1 - e^{-2\lvert x\rvert}) / (1 + e^{-2\lvert
    x\rvert})`.

    Args:
        input: floating array, any shape.

    Returns:
        Array of the same shape and dtype, values in [-1, 1]. Chapter 1.
    """
    x, dtype = as_compute_array("input", input)
    return as_result(_tanh(x), dtype)


def relu(input):
    r"""Rectified linear unit, :math:`\operatorname{relu}(x) = \max(x, 0)`, elementwise (NaN stays
    NaN).

    Args:
        input: floating array, any shape.

    Returns:
        Array of the same shape and dtype. Chapter 1.
    """
    x, dtype = as_compute_array("input", input)
    return as_result(np.maximum(x, 0), dtype)


def relu6(input):
    r"""ReLU capped at 6, :math:`\operatorname{relu6}(x) = \min(\max(x, 0), 6)`, elementwise (NaN
    stays NaN).

    Args:
        input: floating array, any shape.

    Returns:
        Array of the same shape and dtype, values in [0, 6]. Chapter 1.
    """
    x, dtype = as_compute_array("input", input)
    return as_result(np.minimum(np.maximum(x, 0), 6), dtype)


def leaky_relu(input, negative_slope=0.01):
    r"""Leaky ReLU: :math:`x` for :math:`x > 0`, ``negative_slope * x`` otherwise, elementwise.

    Args:
        input: floating array, any shape.
        negative_slope: finite real number, the slope for x <= 0 (default 0.01).
            As in PyTorch, leaky_relu(-inf) with slope 0 is NaN (-inf * 0).

    Returns:
        Array of the same shape and dtype. Chapter 1.
    """
    check_finite("negative_slope", negative_slope)
    x, dtype = as_compute_array("input", input)
    with np.errstate(over="ignore", invalid="ignore"):  # IEEE results, as in PyTorch
        return as_result(np.where(x > 0, x, negative_slope * x), dtype)


def elu(input, alpha=1.0):
    r"""Exponential linear unit: :math:`x` for :math:`x > 0`, :math:`\alpha (e^x - 1)` otherwise.

    The negative branch uses ``expm1`` (accurate near 0) of min(x, 0) (which
    cannot overflow); elu(-inf) = -alpha.

    Args:
        input: floating array, any shape.
        alpha: finite real number, the value approached as x -> -inf is -alpha
            (default 1.0).

    Returns:
        Array of the same shape and dtype. Chapter 1.
    """
    check_finite("alpha", alpha)
    x, dtype = as_compute_array("input", input)
    return as_result(np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0))), dtype)


def prelu(input, weight):
    r"""Parametric ReLU: :math:`x` for :math:`x > 0`, :math:`a_c x` otherwise, with a learned slope
    :math:`a_c` per channel :math:`c`.

    Args:
        input: floating array of shape ``(N, C, *)`` (the channels are dim 1), or of
            0 or 1 dims (one channel).
        weight: array of the same dtype as ``input``, of shape () or (1,) (one
            slope shared by all channels) or (C,) (one slope per channel).

    Returns:
        Array of the same shape and dtype as ``input``. Chapter 1.
    """
    x, dtype = as_compute_array("input", input)
    a, weight_dtype = as_compute_array("weight", weight)
    if weight_dtype != dtype:
        raise TypeError(
            f"weight must have the dtype of input ({dtype}); got weight of dtype {weight_dtype}"
        )
    channels = x.shape[1] if x.ndim >= 2 else 1
    if a.ndim > 1 or a.size not in (1, channels):
        allowed = "() or (1,)" if channels == 1 else f"(), (1,) or ({channels},)"
        raise ValueError(
            f"weight must have shape {allowed} (one slope, or one per channel of input, "
            f"dim 1 of shape {x.shape}); got weight of shape {a.shape}"
        )
    if a.size > 1:  # one slope per channel: put the channels on dim 1
        a = a.reshape((channels,) + (1,) * (x.ndim - 2))
    with np.errstate(over="ignore", invalid="ignore"):  # IEEE results, as in PyTorch
        return as_result(np.where(x > 0, x, a * x), dtype)


def silu(input):
    r"""Sigmoid linear unit, :math:`\operatorname{silu}(x) = x\,\sigma(x)`, elementwise (swish with
    :math:`\beta = 1`).

    silu(-inf) is NaN (-inf * 0), as in PyTorch.

    Args:
        input: floating array, any shape.

    Returns:
        Array of the same shape and dtype. Chapter 1.
    """
    x, dtype = as_compute_array("input", input)
    with np.errstate(invalid="ignore"):  # -inf * 0 = NaN, as in PyTorch
        return as_result(x * _sigmoid(x), dtype)


def swish(input, beta=1.0):
    r"""Swish, :math:`\operatorname{swish}(x) = x\,\sigma(\beta x)`, elementwise; ``swish(x, 1) ==
    silu(x)``.

    No PyTorch twin. beta = 0 gives x / 2, and beta -> inf approaches relu.

    Args:
        input: floating array, any shape.
        beta: finite real number (default 1.0). In ``xent.torch`` it may be a
            tensor, to be learned.

    Returns:
        Array of the same shape and dtype. Chapter 1.
    """
    check_finite("beta", beta)
    x, dtype = as_compute_array("input", input)
    with np.errstate(over="ignore", invalid="ignore"):  # IEEE results, as in PyTorch
        return as_result(x * _sigmoid(beta * x), dtype)


def mish(input):
    r"""Mish,
    :math:`\operatorname{mish}(x) = x \tanh(\operatorname{softplus}(x)) = x\,\frac{(1 + e^x)^2 -
    1}{(1 + e^x)^2 + 1}`, elementwise.

    :math:`\tanh(\operatorname{softplus}(x))` is computed from
    :math:`n = e^{-\lvert x\rvert} \le 1` in a form without
    cancellation or overflow (see ``_tanh_softplus``).

    mish(-inf) is NaN (-inf * 0), as in PyTorch.

    Args:
        input: floating array, any shape.

    Returns:
        Array of the same shape and dtype. Chapter 1.
    """
    x, dtype = as_compute_array("input", input)
    with np.errstate(invalid="ignore"):  # -inf * 0 = NaN, as in PyTorch
        return as_result(x * _tanh_softplus(x), dtype)


def softplus(input, beta=1.0, threshold=20.0):
    r"""Softplus, :math:`\operatorname{softplus}(x) = \log(1 + e^{\beta x}) / \beta`, elementwise,
    a smooth relu.

    As in PyTorch, the function reverts to x where beta * x > threshold. Below
    the threshold it is computed as
    :math:`(\max(z, 0) + \operatorname{log1p}(e^{-\lvert z\rvert})) / \beta` with
    z = beta * x, which never overflows (PyTorch overflows to inf there when the
    threshold is large, say softplus(100.0) in float32 with threshold 1000).

    Args:
        input: floating array, any shape.
        beta: number in (0, inf) (default 1.0); larger beta is closer to relu.
        threshold: real number, not NaN (default 20.0).

    Returns:
        Array of the same shape and dtype, values >= 0. Chapter 1.
    """
    check_positive_finite("beta", beta)
    check_not_nan("threshold", threshold)
    x, dtype = as_compute_array("input", input)
    with np.errstate(over="ignore"):  # beta * x = +-inf is handled below
        z = beta * x
    return as_result(np.where(z > threshold, x, _softplus(z) / beta), dtype)


def gelu(input, approximate="none"):
    r"""Gaussian error linear unit, :math:`\operatorname{gelu}(x) = x\,\Phi(x)`, with :math:`\Phi`
    the standard normal CDF.

    approximate='none': Phi(x) = erfc(-x / sqrt(2)) / 2 (the same as (1 + erf(x / sqrt(2))) / 2,
    written with erfc so that it keeps its digits for negative x).
    approximate='tanh': Phi(x) ~ (1 + tanh(u)) / 2 with u = sqrt(2 / pi) (x + 0.044715 x^3),
    computed as sigmoid(2u), the same number without the cancellation in 1 + tanh(u).
    gelu(-inf) is NaN (-inf * 0), as in PyTorch.

    Args:
        input: floating array, any shape.
        approximate: 'none' (default) or 'tanh'.

    Returns:
        Array of the same shape and dtype. Chapter 1.
    """
    check_choice("approximate", approximate, ("none", "tanh"))
    x, dtype = as_compute_array("input", input)
    with np.errstate(over="ignore", invalid="ignore"):  # IEEE results, as in PyTorch
        if approximate == "none":
            cdf = 0.5 * _erfc(-x / math.sqrt(2)).astype(x.dtype)
        else:
            u = math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)
            cdf = _sigmoid(2 * u)
        return as_result(x * cdf, dtype)
