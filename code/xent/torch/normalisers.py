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


def two_sum(x, y):
    """``(total, error)``: ``total = fl(x + y)`` and ``x + y == total + error`` exactly (TwoSum)."""
    total = x + y
    y_part = total - x
    return total, (x - (total - y_part)) + (y - y_part)


def row_sums(a):
    """``(sum, error)`` of ``a`` along its last dim, constants for autograd.

    In float64 the entries are added pairwise and each rounding error is recovered
    by TwoSum (a plain float64 sum can be off by several ulp, the largest error of
    the normalisers otherwise): ``sum`` is correctly rounded and ``sum + error`` the
    exact sum to within ``C * 2**-106`` relative. Other dtypes: torch's sum, error 0.
    """
    with torch.no_grad():
        if a.dtype != torch.float64:
            total = a.sum(dim=-1, keepdim=True)
            return total, torch.zeros_like(total)
        errors = a.new_zeros(a.shape[:-1] + (1,))
        while a.shape[-1] > 1:
            half = a.shape[-1] // 2
            total, error = two_sum(a[..., :half], a[..., half : 2 * half])
            errors += error.sum(dim=-1, keepdim=True)
            if a.shape[-1] % 2:  # the odd entry out joins the first
                total[..., :1], error = two_sum(total[..., :1], a[..., -1:])
                errors += error
            a = total
        return two_sum(a, errors)


def log1p_parts(s, s_error):
    """``(log1p(s), correction)``: ``log1p(s + s_error)`` to first order in ``s_error``."""
    return s.log1p(), s_error / (1 + s.detach())


def gaps_from_max(x):
    """Split ``x`` along its last dim around the row maximum.

    Returns ``(m, gap, error, exps, s, s_error)``, each with the last dim kept:
    ``m`` the maximum (NaN if the row has a NaN); ``gap = fl(x - m)`` and its
    rounding ``error`` (a constant for autograd); ``exps = exp(x - m)``, corrected
    for that rounding, so 1 at the maximum; ``s + s_error`` the sum of ``exps`` but
    one maximal entry (``s`` differentiable, ``s_error`` a constant; see ``row_sums``).
    """
    m = x.amax(dim=-1, keepdim=True)
    gap = x - m
    error = gap_error(x, m, gap)
    exps = gap.exp()
    exps = exps + exps * error  # exp(gap) * (1 + error), without rounding 1 + error
    below_max = -gap.detach().sign()  # 1 below the maximum, 0 at it
    extra_maxima = x.shape[-1] - 1 - below_max.sum(dim=-1, keepdim=True)
    terms = exps * below_max
    plain = terms.sum(dim=-1, keepdim=True)  # differentiable
    accurate, s_error = row_sums(terms.detach())
    with torch.no_grad():
        accurate, extra_error = two_sum(accurate, extra_maxima)
        s_error = (s_error + extra_error).nan_to_num_(0.0, 0.0, 0.0)
    # plain + (accurate - plain) is accurate exactly (the two are ulps apart), and
    # the gradient is the plain sum's.
    s = plain + extra_maxima + (accurate - (plain + extra_maxima)).detach()
    return m, gap, error, exps, s, s_error


def _along_last_dim(function, input, dim):
    """Apply ``function(gap, error, exps, s, s_error)`` to ``input`` with ``dim`` moved last.

    float16 is computed in float32. A row whose maximum is +inf, or whose entries
    are all -inf, gives NaN throughout, as in PyTorch (``x - m`` is ``inf - inf``).
    """
    x, compute_dtype = as_float_tensor("input", input)
    dim = normalise_dim(dim, x.ndim)
    rows = x.reshape(x.shape or (1,)).to(compute_dtype).movedim(dim, -1)
    if rows.numel() == 0:
        return x.clone()
    m, gap, error, exps, s, s_error = gaps_from_max(rows)
    result = function(gap, error, exps, s, s_error).masked_fill(~m.isfinite(), math.nan)
    return result.movedim(-1, dim).reshape(x.shape).to(x.dtype)


def logsumexp(input, dim, keepdim=False):
    r"""log(sum(exp(input))) along ``dim``, without overflow (Chapter 5).

    .. math::

        \operatorname{LSE}(\mathbf z) = \log \sum_k e^{z_k}
        = m + \log\Bigl(1 + \sum_{k \ne j} e^{z_k - m}\Bigr),

    where :math:`m = z_j = \max_k z_k` (the log term is computed with ``log1p``).

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
        m, _, _, _, s, s_error = gaps_from_max(rows)
        log1p_s, correction = log1p_parts(s, s_error)
        # An infinite maximum is the answer itself: +inf, or -inf for a row of -inf.
        result = torch.where(m.isfinite(), (correction + log1p_s) + m, m).squeeze(-1)
    if keepdim:
        for d in sorted(dims):
            result = result.unsqueeze(d)
    return result.to(x.dtype)


def log_softmax(input, dim):
    r"""log(softmax(input)) along ``dim`` (Chapters 4 and 5).

    .. math::

        \log p_i = (z_i - m) - \log\Bigl(1 + \sum_{k \ne j} e^{z_k - m}\Bigr),

    where :math:`m = z_j = \max_k z_k` (the log term is computed with ``log1p``).

    In float64 the result is within 1 ulp of the correctly rounded value (so within
    1.5 ulp of the exact one), as ``tests/test_accuracy.py`` checks.

    Args:
        input: float tensor of any shape.
        dim: the dim that holds the classes (1 for an ``(N, C)`` batch).

    Returns a tensor of the input's shape and dtype. A row whose maximum is +inf
    or whose entries are all -inf gives NaN, as in PyTorch.
    """

    def log_p(gap, error, exps, s, s_error):  # the small terms first
        log1p_s, correction = log1p_parts(s, s_error)
        return ((error - correction) - log1p_s) + gap

    return _along_last_dim(log_p, input, dim)


def softmax(input, dim):
    r"""exp(input) normalised to sum to 1 along ``dim`` (Chapter 4).

    .. math::

        p_i = \frac{e^{z_i}}{\sum_k e^{z_k}}
        = \frac{e^{z_i - m}}{1 + \sum_{k \ne j} e^{z_k - m}},

    where :math:`m = z_j = \max_k z_k`.

    Args:
        input: float tensor of any shape.
        dim: the dim that holds the classes (1 for an ``(N, C)`` batch).

    Returns a tensor of the input's shape and dtype whose slices along ``dim`` sum
    to 1. A row whose maximum is +inf or whose entries are all -inf gives NaN, as
    in PyTorch.
    """
    return _along_last_dim(
        lambda gap, error, exps, s, s_error: exps / ((1 + s) + s_error), input, dim
    )
