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
In float64 the sum ``s`` is also kept exactly as a pair of floats (``_row_sums``), and
``log1p`` is corrected for the part rounding left out. With the small terms added
first, the three are within 1 ulp of the correctly rounded value in float64
(tests/test_accuracy.py), so within 1.5 ulp of the exact value; not always faithful,
since exp and log1p are themselves rounded and the last step adds half an ulp.
Rows are processed a cache-sized block at a time, the blocks of a large input in
threads (NumPy itself is single-threaded).
"""

import math
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .._arrays import as_float_array
from .._classification_checks import normalise_dim, normalise_dims

__all__ = ["softmax", "log_softmax", "logsumexp"]


BLOCK = 1 << 18  # elements per block of rows (1 MiB of float32): its passes stay in the cache
PARALLEL_ELEMENTS = 1 << 20  # inputs at least this large are shared among the CPUs


def _for_each_block(work, n_rows, row_length):
    """Call ``work(rows)`` for slices of ``range(n_rows)`` of about ``BLOCK`` elements each.

    Working through the rows a block at a time lets the dozen passes of
    ``_gaps_from_max`` run over cached memory instead of main memory. The blocks
    are independent (each writes its own rows of the result), so a large input
    is shared among the CPUs in threads, as PyTorch shares its kernels; NumPy
    releases the GIL inside its loops. The result does not depend on the split.
    """
    step = max(1, BLOCK // max(row_length, 1))
    blocks = [slice(start, start + step) for start in range(0, n_rows, step)]
    workers = min(len(blocks), os.cpu_count() or 1)
    if n_rows * row_length < PARALLEL_ELEMENTS or workers < 2:
        for block in blocks:
            work(block)
        return
    with ThreadPoolExecutor(workers) as pool:
        for _ in pool.map(work, blocks):  # (re-raises a worker's exception)
            pass


def _two_sum(x, y):
    """``(total, error)`` with ``total = fl(x + y)`` and ``x + y == total + error`` exactly.

    Knuth's TwoSum (TAOCP vol. 2, section 4.2.2), elementwise.
    """
    total = x + y
    y_part = total - x
    return total, (x - (total - y_part)) + (y - y_part)


def _row_sums(a):
    """``a.sum(axis=1, keepdims=True)`` for an ``(M, C)`` array, as ``(sum, error)``.

    A float64 sum of C terms can be off by several ulp (NumPy adds 8 running sums
    of 16 terms each before it pairs them), the largest error of the normalisers
    (Chapter 5). So in float64 the columns are added pairwise, each addition's
    rounding error is recovered exactly by TwoSum, and the errors are added at the
    end: ``sum + error`` is then the exact sum to within ``C * 2**-106`` relative
    (``sum`` correctly rounded, ``error`` what rounding it left out). float32 (and
    float16, computed in float32) keeps NumPy's sum, with ``error`` 0.
    """
    if a.dtype != np.float64:
        total = a.sum(axis=1, keepdims=True)
        return total, np.zeros_like(total)
    errors = np.zeros((a.shape[0], 1))
    while a.shape[1] > 1:
        half = a.shape[1] // 2
        total, error = _two_sum(a[:, :half], a[:, half : 2 * half])
        errors += error.sum(axis=1, keepdims=True)
        if a.shape[1] % 2:  # the odd column out joins the first
            total[:, :1], error = _two_sum(total[:, :1], a[:, -1:])
            errors += error
        a = total
    return _two_sum(a, errors)


def _gaps_from_max(x):
    """Split ``x``, an ``(M, C)`` array, along its rows around the row maximum.

    Returns ``(m, gap, gap_error, exps, s, s_error)``, each ``(M, C)`` or ``(M, 1)``:
    ``m = x_k``, the maximum (the first one, if it is tied);
    ``gap = fl(x - m)`` and ``gap_error = (x - m) - gap`` exactly (0 where x or m is infinite);
    ``exps = exp(x - m)``, corrected for the rounding of the gap, so ``exps[k] = 1``;
    ``s + s_error``, the sum of ``exps`` over every entry but ``k`` (see ``_row_sums``).
    Call it inside ``np.errstate``: an infinite maximum gives ``inf - inf``.
    """
    rows = np.arange(x.shape[0])
    k = np.argmax(x, axis=1)  # a NaN counts as the maximum
    m = x[rows, k][:, None]
    gap = x - m
    # TwoSum: x - m == gap + gap_error exactly (Knuth, TAOCP vol. 2, section 4.2.2).
    # (out= reuses the temporaries.)
    x_part = gap + m
    m_part = np.subtract(gap, x_part)
    gap_error = np.subtract(x, x_part, out=x_part)
    gap_error -= np.add(m, m_part, out=m_part)
    if np.isnan(gap_error.sum()):  # inf - inf where x or m is infinite: no error there
        np.copyto(gap_error, 0.0, where=np.isnan(gap_error))
    exps = np.exp(gap, out=m_part)
    exps += exps * gap_error  # exp(gap + error) = exp(gap) * (1 + error), to within error**2
    exps[rows, k] = 0.0  # leave out exactly one maximal entry...
    s, s_error = _row_sums(exps)
    exps[rows, k] = 1.0  # ...and put its exp(0) = 1 back
    return m, gap, gap_error, exps, s, s_error


def _minus_log1p(small, s, s_error, out):
    """``out = (small - correction) - log1p(s)``, where ``log1p(s) + correction`` is
    ``log1p(s + s_error)`` to first order; the small terms first. (No correction
    outside float64, where ``s_error`` is 0.) Returns ``out``."""
    if s.dtype == np.float64:
        np.subtract(small, s_error / (1 + s), out=out)
        out -= np.log1p(s)
    else:
        np.subtract(small, np.log1p(s), out=out)
    return out


def _along_last_axis(function, input, dim):
    """``function(gap, gap_error, exps, s, s_error, out)`` on ``input``, ``dim`` moved last.

    ``function`` writes its result into ``out`` and may overwrite its other
    arguments. Handles the dtype (float16 is computed in float32), works a block
    of rows at a time, and applies PyTorch's rule that a row whose maximum is +inf,
    or whose entries are all -inf, gives NaN throughout (``x - m`` is ``inf - inf``).
    """
    x, compute_dtype = as_float_array("input", input)
    dim = normalise_dim(dim, x.ndim)
    rows = np.moveaxis(x.reshape(x.shape or (1,)).astype(compute_dtype, copy=False), dim, -1)
    if rows.size == 0:
        return np.zeros_like(x)
    result = np.empty(rows.shape, dtype=compute_dtype)
    rows_2d, result_2d = rows.reshape(-1, rows.shape[-1]), result.reshape(-1, rows.shape[-1])

    def work(block):
        with np.errstate(invalid="ignore", over="ignore"):  # (per thread)
            m, gap, gap_error, exps, s, s_error = _gaps_from_max(rows_2d[block])
            out = result_2d[block]
            function(gap, gap_error, exps, s, s_error, out)
            out[~np.isfinite(m[:, 0])] = np.nan

    _for_each_block(work, *rows_2d.shape)
    with np.errstate(over="ignore"):  # float16 overflows to inf, as in PyTorch
        return np.moveaxis(result, -1, dim).reshape(x.shape).astype(x.dtype, copy=False)


def log_softmax_at(rows, indices):
    """``log_softmax(rows, -1)[i, indices[i]]`` for an ``(M, C)`` array and ``(M,)`` indices.

    The same arithmetic as ``log_softmax``, without writing its ``(M, C)`` result:
    what ``cross_entropy`` needs for class-index targets.
    """
    picked = np.empty(rows.shape[0], dtype=rows.dtype)

    def work(block):
        with np.errstate(invalid="ignore", over="ignore"):
            m, gap, gap_error, _, s, s_error = _gaps_from_max(rows[block])
            at = np.arange(gap.shape[0]), indices[block]
            out = _minus_log1p(gap_error[at], s[:, 0], s_error[:, 0], picked[block])
            out += gap[at]
            out[~np.isfinite(m[:, 0])] = np.nan

    _for_each_block(work, *rows.shape)
    return picked


def logsumexp(input, dim, keepdim=False):
    r"""log(sum(exp(input))) along ``dim``, without overflow (Chapter 5).

    .. math::

        \operatorname{LSE}(\mathbf z) = \log \sum_k e^{z_k}
        = m + \log\Bigl(1 + \sum_{k \ne j} e^{z_k - m}\Bigr),

    where :math:`m = z_j = \max_k z_k` (the log term is computed with ``log1p``).

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
    result = np.full(kept_shape, -np.inf, dtype=compute_dtype)  # an empty row: log(0)
    rows_2d, result_1d = rows.reshape(result.size, rows.shape[-1]), result.reshape(-1)

    def work(block):
        with np.errstate(invalid="ignore", over="ignore"):
            m, _, _, _, s, s_error = _gaps_from_max(rows_2d[block])
            log1p_s = -_minus_log1p(0.0, s, s_error, np.empty_like(s))
            # An infinite maximum is the answer itself: +inf, or -inf for a row of -inf.
            result_1d[block] = np.where(np.isfinite(m), log1p_s + m, m)[:, 0]

    if rows.shape[-1] > 0:
        _for_each_block(work, *rows_2d.shape)
    if keepdim:
        result = np.expand_dims(result, dims)
    with np.errstate(over="ignore"):  # float16 overflows to inf, as in PyTorch
        return result.astype(x.dtype, copy=False)


def log_softmax(input, dim):
    r"""log(softmax(input)) along ``dim`` (Chapters 4 and 5).

    .. math::

        \log p_i = (z_i - m) - \log\Bigl(1 + \sum_{k \ne j} e^{z_k - m}\Bigr),

    where :math:`m = z_j = \max_k z_k` (the log term is computed with ``log1p``).

    In float64 the result is within 1 ulp of the correctly rounded value (so within
    1.5 ulp of the exact one), as ``tests/test_accuracy.py`` checks.

    Args:
        input: float array of any shape.
        dim: the dim that holds the classes (1 for an ``(N, C)`` batch).

    Returns an array of the input's shape and dtype. A row whose maximum is +inf
    or whose entries are all -inf gives NaN, as in PyTorch.
    """

    def log_p(gap, gap_error, exps, s, s_error, out):  # the small terms first
        _minus_log1p(gap_error, s, s_error, out)
        out += gap

    return _along_last_axis(log_p, input, dim)


def softmax(input, dim):
    r"""exp(input) normalised to sum to 1 along ``dim`` (Chapter 4).

    .. math::

        p_i = \frac{e^{z_i}}{\sum_k e^{z_k}}
        = \frac{e^{z_i - m}}{1 + \sum_{k \ne j} e^{z_k - m}},

    where :math:`m = z_j = \max_k z_k`.

    Args:
        input: float array of any shape.
        dim: the dim that holds the classes (1 for an ``(N, C)`` batch).

    Returns an array of the input's shape and dtype whose slices along ``dim`` sum
    to 1. A row whose maximum is +inf or whose entries are all -inf gives NaN, as
    in PyTorch.
    """

    def p(gap, gap_error, exps, s, s_error, out):
        np.divide(exps, (1 + s) + s_error, out=out)

    return _along_last_axis(p, input, dim)
