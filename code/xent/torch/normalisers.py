"""Softmax, log-softmax and log-sum-exp from elementary torch ops (Chapters 4 and 5).

The same decomposition as ``xent.numpy.normalisers`` (Blanchard, Higham and Higham,
2021): with ``m = max_j x_j`` and ``s`` the sum of ``exp(x_j - m)`` over every entry
but one maximal entry,

    logsumexp(x) = m + log1p(s),   log_softmax(x) = (x - m) - log1p(s),
    softmax(x) = exp(x - m) / (1 + s).

Built from amax, exp, log1p, sign and sum only, so autograd differentiates it; the
derivative comes out as the textbook ``softmax - one_hot`` (Chapter 4).

One maximal entry is left out of ``s`` without looking for its index (PyTorch's
max-with-indices is slow on CPU): ``-sign(x_j - m)`` is 1 below the maximum and 0
at it, so ``sum_j -sign(x_j - m) * exp(x_j - m)`` leaves out every maximal entry,
each worth exp(0) = 1, and adding back the count of the extra ones is exact.
"""

import math

import torch

from .._classification_checks import normalise_dim, normalise_dims
from ._tensors import as_float_tensor

__all__ = ["softmax", "log_softmax", "logsumexp"]


def gap_error(x, m, gap):
    """The rounding error of ``gap = fl(x - m)``: ``(x - m) - gap``, exactly (Chapter 5).

    Knuth's TwoSum; 0 where anything is infinite or NaN. ``exp(gap)`` magnifies the
    rounding of the gap by ``|gap|`` (relative), so the exponentials are corrected
    with it: ``exp(x - m) = exp(gap) * (1 + error)`` to within ``error**2``.
    """
    with torch.no_grad():
        x_part = gap + m
        m_part = gap - x_part
        return ((x - x_part) - (m + m_part)).nan_to_num_(0.0, 0.0, 0.0)


def gaps_from_max(x):
    """Split ``x`` along its last dim around the row maximum.

    Returns ``(m, gap, error, exps, s)``, each with the last dim kept: ``m`` the
    maximum (NaN if the row has a NaN); ``gap = fl(x - m)`` and its rounding
    ``error`` (a constant for autograd); ``exps = exp(x - m)``, corrected for that
    rounding, so 1 at the maximum; ``s`` the sum of ``exps`` but one maximal entry.
    """
    m = x.amax(dim=-1, keepdim=True)
    gap = x - m
    error = gap_error(x, m, gap)
    exps = gap.exp()
    exps = exps + exps * error  # exp(gap) * (1 + error), without rounding 1 + error
    below_max = -gap.detach().sign()  # 1 below the maximum, 0 at it
    extra_maxima = x.shape[-1] - 1 - below_max.sum(dim=-1, keepdim=True)
    s = (exps * below_max).sum(dim=-1, keepdim=True) + extra_maxima
    return m, gap, error, exps, s


def _along_last_dim(function, input, dim):
    """Apply ``function(gap, error, exps, s)`` to ``input`` with ``dim`` moved last.

    float16 is computed in float32. A row whose maximum is +inf, or whose entries
    are all -inf, gives NaN throughout, as in PyTorch (``x - m`` is ``inf - inf``).
    """
    x, compute_dtype = as_float_tensor("input", input)
    dim = normalise_dim(dim, x.ndim)
    rows = x.reshape(x.shape or (1,)).to(compute_dtype).movedim(dim, -1)
    if rows.numel() == 0:
        return x.clone()
    m, gap, error, exps, s = gaps_from_max(rows)
    result = function(gap, error, exps, s).masked_fill(~m.isfinite(), math.nan)
    return result.movedim(-1, dim).reshape(x.shape).to(x.dtype)


def logsumexp(input, dim, keepdim=False):
    """log(sum(exp(input))) along ``dim``, without overflow (Chapter 5).

    ``logsumexp(x) = m + log1p(sum_{j != k} exp(x_j - m))`` with ``m = x_k = max x``.

    Args:
        input: float tensor of any shape.
        dim: an int or a tuple of ints, the dims to reduce.
        keepdim: keep the reduced dims, with size 1.

    Returns the reduced tensor, of the input's dtype. An empty reduction gives -inf,
    a +inf entry +inf and a NaN NaN, as ``torch.logsumexp`` does.
    """
    x, compute_dtype = as_float_tensor("input", input)
    dims = normalise_dims(dim, x.ndim)
    if x.ndim == 0:  # one entry: dim 0 names it
        return logsumexp(x.reshape(1), 0, keepdim).reshape(())
    kept = [d for d in range(x.ndim) if d not in dims]
    kept_shape = [x.shape[d] for d in kept]
    rows = x.permute(kept + list(dims)).to(compute_dtype)
    rows = rows.reshape(kept_shape + [math.prod(x.shape[d] for d in dims)])
    if rows.shape[-1] == 0:  # log(0), still on the autograd graph (gradient 0)
        result = rows.sum(dim=-1) - math.inf
    else:
        m, _, _, _, s = gaps_from_max(rows)
        # An infinite maximum is the answer itself: +inf, or -inf for a row of -inf.
        result = torch.where(m.isfinite(), m + s.log1p(), m).squeeze(-1)
    if keepdim:
        for d in sorted(dims):
            result = result.unsqueeze(d)
    return result.to(x.dtype)


def log_softmax(input, dim):
    """log(softmax(input)) along ``dim``, accurate to a few ulp (Chapters 4 and 5).

    ``log_softmax(x)_i = (x_i - m) - log1p(sum_{j != k} exp(x_j - m))``, ``m = x_k = max x``.

    Args:
        input: float tensor of any shape.
        dim: the dim that holds the classes (1 for an ``(N, C)`` batch).

    Returns a tensor of the input's shape and dtype. A row whose maximum is +inf
    or whose entries are all -inf gives NaN, as in PyTorch.
    """
    return _along_last_dim(lambda gap, error, exps, s: (gap - s.log1p()) + error, input, dim)


def softmax(input, dim):
    """exp(input) normalised to sum to 1 along ``dim`` (Chapter 4).

    ``softmax(x)_i = exp(x_i - m) / (1 + sum_{j != k} exp(x_j - m))``, ``m = x_k = max x``.

    Args:
        input: float tensor of any shape.
        dim: the dim that holds the classes (1 for an ``(N, C)`` batch).

    Returns a tensor of the input's shape and dtype whose slices along ``dim`` sum
    to 1. A row whose maximum is +inf or whose entries are all -inf gives NaN, as
    in PyTorch.
    """
    return _along_last_dim(lambda gap, error, exps, s: exps / (1 + s), input, dim)
