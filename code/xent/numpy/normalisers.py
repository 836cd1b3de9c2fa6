"""Softmax, log-softmax and log-sum-exp in NumPy (Chapters 4 and 5).

All three rest on one decomposition, the one analysed by Blanchard, Higham and
Higham (2021). With ``m = max_j x_j``, reached at index ``k``,

    logsumexp(x)     = m + log1p(s),        s = sum_{j != k} exp(x_j - m)
    log_softmax(x)_i = (x_i - m) - log1p(s)
    softmax(x)_i     = exp(x_i - m) / (1 + s)

Every exponent is <= 0, so nothing overflows; and leaving the largest term out of
``s`` keeps the tiny ``s`` of a near-certain prediction that ``log(1 + s)`` would
round away. One more step (Chapter 5): the difference ``x_j - m`` is rounded, and
``exp`` magnifies that rounding by ``|x_j - m|``; ``_gaps_from_max`` also returns
the rounding error (exactly, by Knuth's TwoSum) so ``exp(x_j - m)`` can be corrected.
"""

import math

import numpy as np

from .._arrays import as_float_array
from .._classification_checks import normalise_dim, normalise_dims

__all__ = ["softmax", "log_softmax", "logsumexp"]


def _gaps_from_max(x):
    """Split ``x`` along its last axis around the row maximum.

    Returns ``(m, gap, gap_error, exps, s)``, each with the last axis kept:
    ``m = x_k``, the maximum (the first one, if it is tied);
    ``gap = fl(x - m)`` and ``gap_error = (x - m) - gap`` exactly (0 where x or m is infinite);
    ``exps = exp(x - m)``, corrected for the rounding of the gap, so ``exps[k] = 1``;
    ``s``, the sum of ``exps`` over every entry but ``k``.
    Call it inside ``np.errstate``: an infinite maximum gives ``inf - inf``.
    """
    k = np.argmax(x, axis=-1, keepdims=True)  # a NaN counts as the maximum
    m = np.take_along_axis(x, k, axis=-1)
    gap = x - m
    # TwoSum: x - m == gap + gap_error exactly (Knuth, TAOCP vol. 2, section 4.2.2).
    # (out= reuses the temporaries: these arrays are as large as the input.)
    x_part = gap + m
    m_part = np.subtract(gap, x_part)
    gap_error = np.subtract(x, x_part, out=x_part)
    gap_error -= np.add(m, m_part, out=m_part)
    np.copyto(gap_error, 0.0, where=np.isnan(gap_error))  # inf - inf where x or m is infinite
    exps = np.exp(gap, out=m_part)
    exps += exps * gap_error  # exp(gap + error) = exp(gap) * (1 + error), to within error**2
    np.put_along_axis(exps, k, 0.0, axis=-1)  # leave out exactly one maximal entry...
    s = exps.sum(axis=-1, keepdims=True)
    np.put_along_axis(exps, k, 1.0, axis=-1)  # ...and put its exp(0) = 1 back
    return m, gap, gap_error, exps, s


def _along_last_axis(function, input, dim):
    """Apply ``function(gap, gap_error, exps, s)`` to ``input`` with ``dim`` moved last.

    Handles the dtype (float16 is computed in float32) and PyTorch's rule that a
    row whose maximum is +inf, or whose entries are all -inf, gives NaN throughout
    (``x - m`` is ``inf - inf`` there).
    """
    x, compute_dtype = as_float_array("input", input)
    dim = normalise_dim(dim, x.ndim)
    rows = np.moveaxis(x.reshape(x.shape or (1,)).astype(compute_dtype, copy=False), dim, -1)
    if rows.size == 0:
        return np.zeros_like(x)
    with np.errstate(invalid="ignore", over="ignore"):
        m, gap, gap_error, exps, s = _gaps_from_max(rows)
        result = function(gap, gap_error, exps, s)
        result[~np.isfinite(m[..., 0])] = np.nan
        return np.moveaxis(result, -1, dim).reshape(x.shape).astype(x.dtype, copy=False)


def logsumexp(input, dim, keepdim=False):
    """log(sum(exp(input))) along ``dim``, without overflow (Chapter 5).

    ``logsumexp(x) = m + log1p(sum_{j != k} exp(x_j - m))`` with ``m = x_k = max x``.

    Args:
        input: float array of any shape.
        dim: an int or a tuple of ints, the dims to reduce.
        keepdim: keep the reduced dims, with size 1.

    Returns the reduced array, of the input's dtype. An empty reduction gives -inf,
    a +inf entry +inf and a NaN NaN, as ``torch.logsumexp`` does.
    """
    x, compute_dtype = as_float_array("input", input)
    dims = normalise_dims(dim, x.ndim)
    if x.ndim == 0:
        return x.copy()
    kept = [d for d in range(x.ndim) if d not in dims]
    kept_shape = [x.shape[d] for d in kept]
    rows = np.transpose(x, kept + list(dims)).astype(compute_dtype, copy=False)
    rows = rows.reshape(kept_shape + [math.prod(x.shape[d] for d in dims)])
    if rows.shape[-1] == 0:
        result = np.full(kept_shape, -np.inf, dtype=compute_dtype)
    else:
        with np.errstate(invalid="ignore", over="ignore"):
            m, _, _, _, s = _gaps_from_max(rows)
            # An infinite maximum is the answer itself: +inf, or -inf for a row of -inf.
            result = np.where(np.isfinite(m), m + np.log1p(s), m)[..., 0]
    if keepdim:
        result = np.expand_dims(result, dims)
    with np.errstate(over="ignore"):  # float16 overflows to inf, as in PyTorch
        return result.astype(x.dtype, copy=False)


def log_softmax(input, dim):
    """log(softmax(input)) along ``dim``, accurate to a few ulp (Chapters 4 and 5).

    ``log_softmax(x)_i = (x_i - m) - log1p(sum_{j != k} exp(x_j - m))``, ``m = x_k = max x``.

    Args:
        input: float array of any shape.
        dim: the dim that holds the classes (1 for an ``(N, C)`` batch).

    Returns an array of the input's shape and dtype. A row whose maximum is +inf
    or whose entries are all -inf gives NaN, as in PyTorch.
    """
    return _along_last_axis(
        lambda gap, gap_error, exps, s: (gap - np.log1p(s)) + gap_error, input, dim
    )


def softmax(input, dim):
    """exp(input) normalised to sum to 1 along ``dim`` (Chapter 4).

    ``softmax(x)_i = exp(x_i - m) / (1 + sum_{j != k} exp(x_j - m))``, ``m = x_k = max x``.

    Args:
        input: float array of any shape.
        dim: the dim that holds the classes (1 for an ``(N, C)`` batch).

    Returns an array of the input's shape and dtype whose slices along ``dim`` sum
    to 1. A row whose maximum is +inf or whose entries are all -inf gives NaN, as
    in PyTorch.
    """
    return _along_last_axis(lambda gap, gap_error, exps, s: exps / (1 + s), input, dim)
