"""High-precision references for softmax and friends, correctly rounded to float64.

These are the yardsticks of chapter 5: compute a value in float32 or float64 with
``xent.numpy`` or PyTorch, compute it here, and ``ulp_error`` says how many units
in the last place the fast version is off.

How it works. Every float64 is a dyadic rational, so ``mpmath.mpf(x)`` holds it
exactly. For one slice x_1..x_n along ``dim`` with finite maximum m = x_k we form

    d_i = x_i - m <= 0,    e_i = exp(d_i),    t = sum_{i != k} e_i,    S = sum_i e_i = 1 + t

and return

    logsumexp     = m + log1p(t)
    softmax_i     = e_i / (1 + t)
    log_softmax_i = d_i - log1p(t)            (two terms <= 0: no cancellation)
    cross_entropy = -d_target + log1p(t)      (two terms >= 0: no cancellation)

Writing log S as log1p(t) keeps log_softmax accurate when one logit dominates
(t tiny), where log(S) would lose every digit to S ~ 1.

Only exp, log1p, the sum t and the division round, at a working precision of p
bits; the differences d_i and the final additions above are exact. Each rounded
term is within 2^-p (2n + 6) < 2^(bit_length(n) + 8 - p) of exact, relative
(exp, log1p and / are within 2 units of 2^-p; summing n terms adds n units;
log1p is well conditioned for t >= 0), so every result comes with an error bound.
The result is rounded to float64 only when the whole interval value +- bound
rounds to one float64 (Ziv's strategy); otherwise the slice is recomputed with
twice the bits. This is what makes the rounding correct, not merely likely:
structured inputs put exact values astonishingly close to the midpoint between
two floats. softmax([a, a + 2^-52]) is 1/2 + 2^-54 + O(2^-156), a midpoint plus
a hair; -653.48724405 - 371 is exactly a midpoint, so log_softmax there rounds
on the sign of a log1p(t) of about 1e-160. The first attempt uses

    p = 53 + 60 + 8 + bit_length(n)

bits, 60 more than the float64 result needs, so a second attempt is rare.

Every float64 and every midpoint between two float64s is a multiple of 2^-1075,
and so is every d_i. A term below 2^-1077 added to such a number can only decide
the rounding through its sign: it is replaced by +-2^-1078, which keeps the
exact sums short (log1p(e^(-1e308)) would otherwise need 10^308 bits).
Subnormal results are rounded by hand (Python's float() would round twice).

Infinities follow extended-real arithmetic, element by element:

- a -inf entry has e_i = 0: it is masked out (softmax 0, log_softmax -inf);
- a slice whose entries are all -inf (or that is empty) has S = 0: logsumexp
  -inf, softmax and log_softmax NaN (0/0 and -inf - -inf);
- a slice with a +inf entry has S = +inf: logsumexp +inf; softmax 0 and
  log_softmax -inf at the finite and -inf entries, NaN at the +inf entries
  (inf/inf). PyTorch returns NaN for the whole slice there.

Results beyond the float64 range round to +-inf, as IEEE arithmetic does
(log_softmax of [1.5e308, -1.5e308] is [0, -inf]). NaN input is refused with
ValueError: NaN is not a number to be exact about.
"""

import math

import numpy as np
from mpmath import libmp, mp

from ._checks import check_reduction, class_dim

__all__ = ["logsumexp", "softmax", "log_softmax", "cross_entropy", "ulp_error"]

GUARD_BITS = 60  # bits beyond float64's 53 on the first attempt
_ERROR_BITS = 8  # each rounded term is within 2^(bit_length(n) + 8 - p), relative
_FLOAT64_BITS = 53
_MAX_PRECISION = 1 << 16  # give up (RuntimeError) beyond this many bits


def _to_float64(value):
    """Round an mpf to the nearest float64, ties to even, with subnormals and overflow."""
    return _raw_to_float64(value._mpf_)


def _raw_to_float64(raw):
    """``_to_float64`` for mpmath's raw form (sign, mantissa, exponent, bit count)."""
    sign, mantissa, exponent, bits = raw  # |value| = mantissa 2^exponent
    if mantissa == 0:  # zero, an infinity or NaN
        return libmp.to_float(raw)
    if exponent + bits > -1022:  # a normal number, or beyond the range: +-inf
        return libmp.to_float(raw, rnd=libmp.round_nearest)
    # |value| < 2^-1022: a subnormal k 2^-1074, k = mantissa 2^(exponent + 1074) rounded.
    shift = -(exponent + 1074)
    if shift <= 0:
        k = mantissa << -shift
    else:
        k, remainder = divmod(mantissa, 1 << shift)
        half = 1 << (shift - 1)
        if remainder > half or (remainder == half and k % 2 == 1):
            k += 1
    return math.ldexp(-k if sign else k, -1074)


def _error_bound(term, prec, n):
    """Error bound of a term rounded at ``prec`` bits in a slice of n: a power of two."""
    _, mantissa, exponent, bits = term._mpf_
    if mantissa == 0:  # zero, an infinity or NaN
        return mp.zero
    # |term| < 2^(exponent + bits)
    return mp.make_mpf((0, 1, exponent + bits + max(n, 1).bit_length() + _ERROR_BITS - prec, 1))


# Half the gap between multiples of 2^-1075 is 2^-1076; a factor 2 below it
# leaves room for the rounding of the test itself.
_NEGLIGIBLE = mp.ldexp(1, -1077)


def _exact_sum(a, b):
    return mp.make_mpf(libmp.mpf_add(a._mpf_, b._mpf_, 0))  # precision 0: no rounding


def _unless_negligible(term, error):
    """(term, error) to add to a multiple of 2^-1074, or (+-2^-1078, 0) if it is negligible.

    A term below 2^-1077 (with its error) leaves the sum strictly between that
    multiple and the nearest other multiple of 2^-1075, so only its sign matters;
    the replacement keeps the exact sum short and the result certain.
    """
    if term != 0 and abs(term) + error < _NEGLIGIBLE:
        return mp.ldexp(mp.sign(term), -1078), mp.zero
    return term, error


def _round_if_certain(value, error):
    """The float64 nearest to every number within ``error`` of ``value``, or None."""
    if error == 0:
        return _to_float64(value)
    # value -+ error, exactly (precision 0 means no rounding in mpmath's raw functions)
    low = _raw_to_float64(libmp.mpf_sub(value._mpf_, error._mpf_, 0))
    high = _raw_to_float64(libmp.mpf_add(value._mpf_, error._mpf_, 0))
    return low if low == high else None


def _correctly_rounded(compute, n):
    """Round the (value, error) pairs of compute(prec) to float64, doubling the precision
    until every rounding is certain (Ziv's strategy). n: the slice length."""
    prec = _FLOAT64_BITS + GUARD_BITS + _ERROR_BITS + max(n, 1).bit_length()
    while prec <= _MAX_PRECISION:
        with mp.workprec(prec):
            pairs = compute(prec)
        rounded = [_round_if_certain(value, error) for value, error in pairs]
        if None not in rounded:
            return rounded
        prec *= 2
    raise RuntimeError(f"no correct rounding within {_MAX_PRECISION} bits; please report this")


def _as_float64(name, x):
    """Check and convert to float64, exactly: only float16, float32 and float64 are accepted."""
    x = np.asarray(x)
    if x.dtype not in (np.float16, np.float32, np.float64):
        raise TypeError(f"{name} must hold float16, float32 or float64 values; got {x.dtype}")
    if np.isnan(x).any():
        where = tuple(int(i) for i in np.argwhere(np.isnan(x))[0])
        raise ValueError(f"{name} must not contain NaN; got NaN at index {where}")
    return x.astype(np.float64)


def _check_dim(dim, ndim):
    """The dim as a non-negative index, or IndexError naming the valid range."""
    if isinstance(dim, bool) or not isinstance(dim, int | np.integer):
        raise TypeError(f"dim must be an integer; got {dim!r}")
    low, high = -max(ndim, 1), max(ndim, 1) - 1
    if not low <= dim <= high:
        raise IndexError(f"dim must be in [{low}, {high}] for a {ndim}-d input; got {dim}")
    return int(dim) % max(ndim, 1)


def _map_slices(x, dim, row_function, keep_slice):
    """Apply ``row_function`` to every 1-D slice of x along dim.

    row_function maps a 1-D float64 array of length n to a list of n floats
    (keep_slice=True) or to one float (keep_slice=False, the dim is removed).
    """
    original_ndim = x.ndim
    if original_ndim == 0:
        x = x.reshape(1)
    dim = _check_dim(dim, original_ndim)
    moved = np.moveaxis(x, dim, -1)
    rows = moved.reshape(math.prod(moved.shape[:-1]), moved.shape[-1])
    results = np.array([row_function(row) for row in rows], dtype=np.float64)
    if keep_slice:
        out = np.moveaxis(results.reshape(moved.shape), -1, dim)
        return out.reshape(()) if original_ndim == 0 else out
    return results.reshape(moved.shape[:-1])


def _kind(row):
    """'empty' (no entry above -inf), 'infinite' (a +inf entry) or 'finite' (finite maximum)."""
    if row.size == 0 or np.all(row == -np.inf):
        return "empty"
    if np.any(row == np.inf):
        return "infinite"
    return "finite"


def _shifted_exps(row):
    """At the current precision, for a slice with finite maximum m = row[k]:
    (m, d, e, t) with d_i = x_i - m exactly, e_i = exp(d_i) and t = sum of e_i over i != k."""
    k = int(np.argmax(row))
    m = mp.mpf(row[k])
    # x_i - m exactly (raw functions at precision 0); -inf stays -inf
    d = [mp.make_mpf(libmp.mpf_sub(libmp.from_float(value), m._mpf_, 0)) for value in row]
    e = [mp.exp(value) for value in d]  # exp(-inf) = 0
    t = mp.fsum(e[:k] + e[k + 1 :])
    return m, d, e, t


def _logsumexp_row(row):
    kind = _kind(row)
    if kind != "finite":
        return -math.inf if kind == "empty" else math.inf

    def compute(prec):
        m, _, _, t = _shifted_exps(row)
        log_s = mp.log1p(t)
        # m < 0 < log_s can cancel: the error bound then dwarfs the result and
        # the precision doubles until it does not.
        log_s, error = _unless_negligible(log_s, _error_bound(log_s, prec, row.size))
        return [(_exact_sum(m, log_s), error)]

    return _correctly_rounded(compute, row.size)[0]


def _softmax_row(row):
    kind = _kind(row)
    if kind == "empty":
        return [math.nan] * row.size
    if kind == "infinite":
        return [math.nan if value == np.inf else 0.0 for value in row]

    def compute(prec):
        _, _, e, t = _shifted_exps(row)
        total = 1 + t
        quotients = [value / total for value in e]
        return [(q, _error_bound(q, prec, row.size)) for q in quotients]

    return _correctly_rounded(compute, row.size)


def _log_softmax_row(row):
    kind = _kind(row)
    if kind == "empty":
        return [math.nan] * row.size
    if kind == "infinite":
        return [math.nan if value == np.inf else -math.inf for value in row]

    def compute(prec):
        _, d, _, t = _shifted_exps(row)
        minus_log_s = -mp.log1p(t)  # negating is exact at the same precision
        error = _error_bound(minus_log_s, prec, row.size)
        minus_log_s, error = _unless_negligible(minus_log_s, error)
        return [(_exact_sum(value, minus_log_s), error) for value in d]

    return _correctly_rounded(compute, row.size)


def logsumexp(x, dim, keepdim=False):
    """log(sum_i exp(x_i)) along ``dim``, correctly rounded to float64.

    x: float16/32/64 array of any shape (converted exactly to float64), no NaN.
    dim: the dimension to reduce; keepdim: keep it with size 1.
    Infinities as in the module docstring (an all -inf or empty slice gives -inf).
    Chapters 4 and 5.
    """
    x = _as_float64("x", x)
    out = _map_slices(x, dim, _logsumexp_row, keep_slice=False)
    if keepdim:
        out = np.expand_dims(out, _check_dim(dim, x.ndim)) if x.ndim else out
    return out


def softmax(x, dim):
    """softmax(x)_i = exp(x_i) / sum_j exp(x_j) along ``dim``, correctly rounded to float64.

    x: float16/32/64 array of any shape (converted exactly to float64), no NaN.
    Returns a float64 array of x's shape. Infinities as in the module docstring.
    Chapters 4 and 5.
    """
    return _map_slices(_as_float64("x", x), dim, _softmax_row, keep_slice=True)


def log_softmax(x, dim):
    """log_softmax(x)_i = x_i - logsumexp(x) along ``dim``, correctly rounded to float64.

    x: float16/32/64 array of any shape (converted exactly to float64), no NaN.
    Returns a float64 array of x's shape. Infinities as in the module docstring.
    Chapters 4 and 5.
    """
    return _map_slices(_as_float64("x", x), dim, _log_softmax_row, keep_slice=True)


def _cross_entropy_losses(rows, targets, reduction):
    """The compute(prec) function for ``_correctly_rounded``: (value, error) pairs.

    Each finite loss is -d_target (exact) + log1p(t) (rounded). The sum adds the
    exact parts exactly and the log1p(t) >= 0 parts at the working precision (no
    cancellation), then the two exactly; the mean divides that by N.
    """
    n_classes = rows.shape[1]

    def compute(prec):
        pairs = []
        for row, target in zip(rows, targets, strict=True):
            kind = _kind(row)
            if kind == "empty" or row[target] == np.inf:
                pairs.append((mp.nan, None))
            elif kind == "infinite" or row[target] == -np.inf:
                pairs.append((mp.inf, None))
            else:
                _, d, _, t = _shifted_exps(row)
                minus_d = mp.make_mpf(libmp.mpf_neg(d[target]._mpf_))  # exact
                pairs.append((minus_d, mp.log1p(t)))
        if reduction == "none":
            [(minus_d, log_s)] = pairs  # one row at a time
            if log_s is None:
                return [(minus_d, mp.zero)]
            log_s, error = _unless_negligible(log_s, _error_bound(log_s, prec, n_classes))
            return [(_exact_sum(minus_d, log_s), error)]
        if any(log_s is None for _, log_s in pairs):  # NaN if any is NaN, else +inf
            return [(mp.fsum(minus_d for minus_d, log_s in pairs if log_s is None), mp.zero)]
        exact_part = mp.zero
        for minus_d, _ in pairs:
            exact_part = _exact_sum(exact_part, minus_d)
        log_part = mp.fsum(log_s for _, log_s in pairs)
        log_part, error = _unless_negligible(
            log_part, _error_bound(log_part, prec, n_classes * len(pairs))
        )
        total = _exact_sum(exact_part, log_part)
        if reduction == "sum":
            return [(total, error)]
        mean = total / len(pairs)
        if error == 0 and mp.fmul(mean, len(pairs), exact=True) == total:  # exact division
            return [(mean, mp.zero)]
        # the sum's error shrinks with the division (doubled for its rounding) and
        # the division adds at most one unit of 2^-prec
        return [(mean, 2 * error / len(pairs) + mp.ldexp(1, mp.mag(mean) + 1 - prec))]

    return compute


def cross_entropy(input, target, reduction="none"):
    """Cross-entropy loss -log softmax(input)[target], correctly rounded to float64.

    Args:
        input: logits of shape (C,) or (N, C), float16/32/64 (converted exactly), no NaN.
        target: integer class indices in [0, C), of shape () or (N,).
        reduction: 'none' gives (N,) losses (or a 0-d array for (C,) input);
            'sum' their sum; 'mean' their mean (NaN for N = 0, as in PyTorch).

    The sum and mean are of the exact losses, rounded once. Losses follow the
    module docstring's infinities: a -inf target logit gives +inf, a +inf
    target logit NaN. Chapters 3 and 5.
    """
    check_reduction(reduction)
    x = _as_float64("input", input)
    target = np.asarray(target)
    if x.ndim not in (1, 2):
        raise ValueError(f"input must have shape (C,) or (N, C); got shape {x.shape}")
    n_classes = x.shape[class_dim(x.ndim)]
    if n_classes == 0:
        raise ValueError(f"input must have at least one class; got shape {x.shape}")
    expected_shape = () if x.ndim == 1 else (x.shape[0],)
    if target.shape != expected_shape:
        raise ValueError(
            f"target must have shape {expected_shape} for input of shape {x.shape}; "
            f"got shape {target.shape}"
        )
    if not np.issubdtype(target.dtype, np.integer):
        raise TypeError(f"target must hold integer class indices; got dtype {target.dtype}")
    bad = (target < 0) | (target >= n_classes)
    if bad.any():
        value = int(target[bad][0]) if target.ndim else int(target)
        raise IndexError(f"target must be in [0, {n_classes - 1}]; got {value}")

    rows = x.reshape(-1, n_classes)
    targets = [int(t) for t in target.reshape(-1)]
    if reduction == "mean" and not targets:
        return np.float64(math.nan)
    if reduction == "none":
        # one row at a time, so that one hard row does not recompute the others
        losses = [
            _correctly_rounded(_cross_entropy_losses(row[None], [t], "none"), n_classes)[0]
            for row, t in zip(rows, targets, strict=True)
        ]
        return np.array(losses, dtype=np.float64).reshape(expected_shape)
    compute = _cross_entropy_losses(rows, targets, reduction)
    return np.float64(_correctly_rounded(compute, n_classes + len(targets))[0])


def ulp_error(computed, exact, dtype=np.float64):
    r"""Elementwise :math:`\lvert c - e\rvert / \operatorname{ulp}(e)`: the error of a computed
    value :math:`c` in units in the last place of the exact value :math:`e`. Chapter 5.

    Args:
        computed: an array.
        exact: an array of the same (or a broadcastable) shape; typically a correctly rounded
            result of this module, so a correctly rounded ``computed`` scores 0 and a faithful
            one at most 1 (the converse fails: the neighbour on the far side of the exact
            value also scores 1).
        dtype: the format whose ulp is the unit; :math:`\operatorname{ulp}(v)` is
            ``numpy.spacing(abs(v))`` in that format (the gap from :math:`\lvert v\rvert` to the
            next larger number; :math:`2^{-1074}` at 0 in float64). With dtype=numpy.float32,
            ``exact`` is first rounded to float32.

    Returns:
        A float64 array, 0 where the two are equal (equal infinities and two NaNs included)
        and inf where one is infinite or NaN and the other is not.
    """
    dtype = np.dtype(dtype)
    if dtype not in (np.float16, np.float32, np.float64):
        raise ValueError(f"dtype must be float16, float32 or float64; got {dtype}")
    computed = np.asarray(computed, dtype=np.float64)
    exact = np.asarray(exact, dtype=np.float64)
    computed, exact = np.broadcast_arrays(computed, exact)
    unit = np.spacing(np.abs(exact.astype(dtype))).astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        difference = np.abs(computed - exact)
        # Two huge numbers of opposite signs overflow; halving both first is exact there.
        overflowed = np.isinf(difference) & np.isfinite(computed) & np.isfinite(exact)
        halved = np.abs(computed / 2 - exact / 2)
        error = np.where(overflowed, halved / unit * 2, difference / unit)
    same = (computed == exact) | (np.isnan(computed) & np.isnan(exact))
    error = np.where(same, 0.0, error)
    error = np.where(~same & ~(np.isfinite(computed) & np.isfinite(exact)), np.inf, error)
    return error
