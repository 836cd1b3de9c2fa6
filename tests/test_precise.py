"""Tests of xent.precise: high-precision references, correctly rounded to float64.

The references here are computed independently: straight from the definitions
(no max subtraction, no log1p) at 1200 bits with mpmath, then rounded with
Python's int / int division, which CPython rounds correctly (subnormals included).
With inputs below 2^10 in size, their absolute error is below about 2^-1180:
far under half the smallest subnormal, 2^-1075, so even results that are 0 or
tiny (where the naive formulas cancel) round correctly. One more condition: a
result can sit on an exact midpoint between two floats, plus log1p(t) with
t = sum of e^(x_i - max); the reference resolves that only while log1p(t) is far
above 2^-1180, so random rows keep their entries within 600 of each other.
"""

import math
from fractions import Fraction

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from xent import precise

HIGH = 1200  # bits, far beyond the module's working precision


def nearest_float(value):
    """Round an mpf to the nearest float64 through exact rationals (ties to even)."""
    if not mpmath.isfinite(value):
        return float(value)
    mantissa, exponent = value.man_exp  # of |value|
    exact = Fraction(mantissa) * Fraction(2) ** exponent * (-1 if value < 0 else 1)
    return exact.numerator / exact.denominator


def ref_logsumexp(row):
    with mpmath.workprec(HIGH):
        return nearest_float(mpmath.log(mpmath.fsum(mpmath.exp(mpmath.mpf(v)) for v in row)))


def ref_softmax(row):
    with mpmath.workprec(HIGH):
        exps = [mpmath.exp(mpmath.mpf(v)) for v in row]
        total = mpmath.fsum(exps)
        return [nearest_float(e / total) for e in exps]


def ref_log_softmax(row):
    with mpmath.workprec(HIGH):
        log_total = mpmath.log(mpmath.fsum(mpmath.exp(mpmath.mpf(v)) for v in row))
        return [nearest_float(mpmath.mpf(v) - log_total) for v in row]


finite_rows = hnp.arrays(
    np.float64,
    st.integers(1, 8),
    elements=st.floats(-300, 300, allow_nan=False, allow_infinity=False),
)
rows_with_minus_inf = hnp.arrays(
    np.float64,
    st.integers(2, 8),
    elements=st.one_of(st.floats(-60, 60), st.just(-np.inf)),
).filter(lambda row: np.isfinite(row).any())


# --- closed forms ---------------------------------------------------------------------------


@pytest.mark.parametrize("x", [0.0, -3.7, 1e-3, 700.25, -1e300, 5e-324])
@pytest.mark.parametrize("n", [1, 2, 3, 10, 1000])
def test_logsumexp_of_n_equal_values_is_x_plus_log_n(x, n):
    with mpmath.workprec(HIGH):
        expected = nearest_float(mpmath.mpf(x) + mpmath.log(n))
    assert precise.logsumexp(np.full(n, x), 0) == expected


def test_softmax_of_zero_and_log2_is_about_one_third_two_thirds():
    log2 = math.log(2)  # the float64 nearest log 2, not log 2 itself
    with mpmath.workprec(HIGH):
        e = mpmath.exp(mpmath.mpf(log2))
        expected = [nearest_float(1 / (1 + e)), nearest_float(e / (1 + e))]
    result = precise.softmax(np.array([0.0, log2]), 0)
    np.testing.assert_array_equal(result, expected)
    assert result[0] == pytest.approx(1 / 3, rel=1e-15)


def test_softmax_of_equal_values_is_exactly_uniform():
    np.testing.assert_array_equal(precise.softmax(np.full(4, -2.5), 0), [0.25] * 4)
    np.testing.assert_array_equal(precise.softmax(np.full(3, 9.0), 0), [1 / 3] * 3)


def test_log_softmax_of_a_dominant_logit_keeps_its_tiny_value():
    # -log(1 + e^-40) = -4.248354255291589e-18: log(S) with S ~ 1 would give 0
    with mpmath.workprec(HIGH):
        expected = nearest_float(-mpmath.log(1 + mpmath.exp(-40)))
    result = precise.log_softmax(np.array([0.0, -40.0]), 0)
    assert result[0] == expected and expected < 0
    assert result[1] == ref_log_softmax([0.0, -40.0])[1]


def test_logsumexp_with_catastrophic_cancellation():
    # n copies of fl(-log n): the exact result is log n - fl(log n), about 1e-17.
    for n in [2, 3, 7, 10, 1000]:
        x = -math.log(n)
        with mpmath.workprec(HIGH):
            expected = nearest_float(mpmath.log(n) + mpmath.mpf(x))
        result = precise.logsumexp(np.full(n, x), 0)
        assert result == expected, n
        assert 0 < abs(result) < 1e-15


def test_subnormal_results_are_rounded_once():
    row = np.array([0.0, -740.0, -744.4, -745.0, -746.0])
    result = precise.softmax(row, 0)
    np.testing.assert_array_equal(result, ref_softmax(row))
    assert 0 < result[1] < 2.0**-1022 and result[4] == 0.0  # subnormal, then underflow
    assert precise.logsumexp(np.array([-745.0, -745.5]), 0) == ref_logsumexp([-745.0, -745.5])


def odd_float_near(x):
    """x, or its neighbour towards 0, whichever has an odd last bit."""
    x = np.float64(x)
    return float(x if x.view(np.int64) & 1 else np.nextafter(x, 0))


def test_log_softmax_on_an_exact_midpoint_rounds_by_the_tiny_term():
    # x0 - 371 has one bit more than a float64 holds: exactly halfway between two
    # floats. log_softmax = (x0 - 371) - log1p(t), t ~ e^-1024: the tiny term decides.
    x0 = odd_float_near(-653.48724405)
    d = Fraction(x0) - 371
    assert Fraction(float(d)) != d  # not a float: a midpoint
    row = np.array([x0, 371.0, 0.0])
    assert precise.log_softmax(row, 0)[0] == ref_log_softmax(row)[0]
    assert precise.log_softmax(row, 0)[0] < d  # below the midpoint, as the exact value is
    # the same with t ~ e^(-1.7e308), far too small to add exactly: only its sign counts
    row = np.array([x0, 371.0, -1.7e308])
    below = precise.log_softmax(row, 0)[0]
    assert below < d and abs(Fraction(below) - d) == abs(Fraction(np.spacing(below))) / 2


def test_softmax_of_a_midpoint_plus_a_hair():
    # softmax([a, a + 3 2^-52])_1 = 1/2 + 3 2^-54 - O(2^-156): just below a midpoint
    row = np.array([-0.6931471805599463, -0.6931471805599456])
    expected = ref_softmax(row)
    np.testing.assert_array_equal(precise.softmax(row, 0), expected)
    assert expected[1] == 0.5 + 2.0**-53
    assert precise.logsumexp(row, 0) == ref_logsumexp(row)


def test_cross_entropy_mean_on_a_midpoint():
    # losses 700 + e^-700 and 700 + 2^-43 + e^-700: their mean is a midpoint plus a hair
    b = np.nextafter(700.0, 1000.0)
    logits = np.array([[0.0, -700.0], [0.0, -b]])
    target = np.array([1, 1])
    mean = precise.cross_entropy(logits, target, reduction="mean")
    assert mean == b  # rounds up, where the midpoint alone would round to even (700)
    # 700 + b is a midpoint too: float addition ties to even (1400), the exact sum is above
    total = precise.cross_entropy(logits, target, reduction="sum")
    assert 700.0 + b == 1400.0 and total == np.nextafter(1400.0, 2000.0)


def test_rounding_to_float64_in_the_subnormal_range_breaks_ties_to_even():
    tiny = mpmath.mpf(2) ** -1075  # half the smallest subnormal
    assert precise._to_float64(tiny) == 0.0
    assert precise._to_float64(3 * tiny) == 2 * 5e-324
    assert precise._to_float64(5 * tiny) == 2 * 5e-324
    with mpmath.workprec(200):
        assert precise._to_float64(tiny * (1 + mpmath.mpf(2) ** -150)) == 5e-324
    assert precise._to_float64(-3 * tiny) == -2 * 5e-324


# --- correct rounding on random inputs ---------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(finite_rows)
def test_correctly_rounded_on_random_finite_rows(row):
    assert precise.logsumexp(row, 0) == ref_logsumexp(row)
    np.testing.assert_array_equal(precise.softmax(row, 0), ref_softmax(row))
    np.testing.assert_array_equal(precise.log_softmax(row, 0), ref_log_softmax(row))


@settings(max_examples=25, deadline=None)
@given(rows_with_minus_inf)
def test_minus_inf_entries_are_masked_out(row):
    finite = row[np.isfinite(row)]
    masked = np.isneginf(row)
    assert precise.logsumexp(row, 0) == ref_logsumexp(finite)
    s = precise.softmax(row, 0)
    np.testing.assert_array_equal(s[~masked], ref_softmax(finite))
    assert (s[masked] == 0).all()
    ls = precise.log_softmax(row, 0)
    np.testing.assert_array_equal(ls[~masked], ref_log_softmax(finite))
    assert np.isneginf(ls[masked]).all()


def test_rows_of_minus_inf_and_rows_with_plus_inf():
    all_masked = np.full(3, -np.inf)
    assert precise.logsumexp(all_masked, 0) == -np.inf
    assert np.isnan(precise.softmax(all_masked, 0)).all()
    assert np.isnan(precise.log_softmax(all_masked, 0)).all()
    with_inf = np.array([1.0, np.inf, -np.inf])
    assert precise.logsumexp(with_inf, 0) == np.inf
    np.testing.assert_array_equal(precise.softmax(with_inf, 0), [0.0, np.nan, 0.0])
    np.testing.assert_array_equal(precise.log_softmax(with_inf, 0), [-np.inf, np.nan, -np.inf])


def test_log_softmax_overflows_to_minus_inf_like_ieee():
    # -1.5e308 - 1.5e308 is not a float64: it rounds to -inf
    result = precise.log_softmax(np.array([1.5e308, -1.5e308]), 0)
    np.testing.assert_array_equal(result, [0.0, -np.inf])


# --- shapes, dims, dtypes, bad input ----------------------------------------------------------


@pytest.mark.parametrize("dim", [0, 1, 2, -1, -3])
def test_every_dim_of_a_3d_array(dim):
    x = np.random.default_rng(dim + 5).normal(scale=4, size=(2, 3, 4))
    moved = np.moveaxis(x, dim, -1)
    rows = moved.reshape(-1, moved.shape[-1])
    expected = np.array([ref_softmax(row) for row in rows]).reshape(moved.shape)
    np.testing.assert_array_equal(precise.softmax(x, dim), np.moveaxis(expected, -1, dim))
    expected = np.array([ref_log_softmax(row) for row in rows]).reshape(moved.shape)
    np.testing.assert_array_equal(precise.log_softmax(x, dim), np.moveaxis(expected, -1, dim))
    expected = np.array([ref_logsumexp(row) for row in rows]).reshape(moved.shape[:-1])
    np.testing.assert_array_equal(precise.logsumexp(x, dim), expected)
    keep = precise.logsumexp(x, dim, keepdim=True)
    assert keep.shape == tuple(1 if i == dim % 3 else n for i, n in enumerate(x.shape))
    np.testing.assert_array_equal(keep.squeeze(dim), expected)


def test_zero_d_and_empty_inputs():
    assert precise.softmax(np.float64(3.0), 0) == 1.0
    assert precise.logsumexp(np.float64(3.0), -1) == 3.0
    assert precise.softmax(np.zeros((0, 3)), 1).shape == (0, 3)
    np.testing.assert_array_equal(precise.logsumexp(np.zeros((2, 0)), 1), [-np.inf, -np.inf])


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_narrow_floats_are_converted_exactly(dtype):
    x = np.random.default_rng(1).normal(size=5).astype(dtype)
    np.testing.assert_array_equal(precise.softmax(x, 0), ref_softmax(x.astype(np.float64)))
    assert precise.softmax(x, 0).dtype == np.float64


def test_bad_input():
    with pytest.raises(ValueError, match=r"x must not contain NaN; got NaN at index \(1, 0\)"):
        precise.softmax(np.array([[0.0, 1.0], [np.nan, 2.0]]), 1)
    with pytest.raises(IndexError, match=r"dim must be in \[-2, 1\] for a 2-d input; got 2"):
        precise.logsumexp(np.zeros((2, 3)), 2)
    with pytest.raises(TypeError, match="int64"):
        precise.log_softmax(np.array([1, 2]), 0)


# --- cross_entropy ----------------------------------------------------------------------------


def test_cross_entropy_is_minus_log_softmax_at_the_target():
    rng = np.random.default_rng(2)
    logits = rng.normal(scale=5, size=(6, 4))
    target = rng.integers(0, 4, size=6)
    losses = precise.cross_entropy(logits, target)
    assert losses.shape == (6,) and losses.dtype == np.float64
    for i in range(6):
        assert losses[i] == -ref_log_softmax(logits[i])[target[i]]
    single = precise.cross_entropy(logits[0], np.int64(target[0]))
    assert single.shape == () and single == losses[0]


def test_cross_entropy_reductions_round_the_exact_sum_once():
    rng = np.random.default_rng(3)
    logits = rng.normal(scale=3, size=(7, 5))
    target = rng.integers(0, 5, size=7)
    with mpmath.workprec(HIGH):
        exact_losses = [
            mpmath.log(mpmath.fsum(mpmath.exp(mpmath.mpf(v)) for v in row)) - mpmath.mpf(row[t])
            for row, t in zip(logits, target, strict=True)
        ]
        expected_sum = nearest_float(mpmath.fsum(exact_losses))
        expected_mean = nearest_float(mpmath.fsum(exact_losses) / 7)
    assert precise.cross_entropy(logits, target, reduction="sum") == expected_sum
    assert precise.cross_entropy(logits, target, reduction="mean") == expected_mean


def test_cross_entropy_edge_cases():
    assert np.isnan(precise.cross_entropy(np.zeros((0, 3)), np.zeros(0, np.int64), "mean"))
    assert precise.cross_entropy(np.zeros((0, 3)), np.zeros(0, np.int64), "sum") == 0.0
    logits = np.array([[0.0, -np.inf], [0.0, np.inf], [np.inf, 0.0]])
    np.testing.assert_array_equal(
        precise.cross_entropy(logits, np.array([1, 0, 0])), [np.inf, np.inf, np.nan]
    )


def test_cross_entropy_bad_input():
    logits = np.zeros((2, 3))
    with pytest.raises(IndexError, match=r"target must be in \[0, 2\]; got 3"):
        precise.cross_entropy(logits, np.array([0, 3]))
    with pytest.raises(IndexError, match="got -100"):
        precise.cross_entropy(logits, np.array([0, -100]))
    with pytest.raises(ValueError, match=r"target must have shape \(2,\)"):
        precise.cross_entropy(logits, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="reduction"):
        precise.cross_entropy(logits, np.array([0, 1]), reduction="avg")
    with pytest.raises(ValueError, match=r"shape \(C,\) or \(N, C\)"):
        precise.cross_entropy(np.zeros((2, 3, 4)), np.zeros((2, 4), np.int64))


# --- ulp_error --------------------------------------------------------------------------------


def test_ulp_error_of_neighbouring_floats():
    one = np.float64(1.0)
    assert precise.ulp_error(np.nextafter(one, 2), one) == 1.0
    # below a power of two the floats are twice as dense: the next one down is half an ulp
    assert precise.ulp_error(np.nextafter(one, 0), one) == 0.5
    x = np.float64(3.7)
    steps = x + 5 * np.spacing(x)
    assert precise.ulp_error(steps, x) == 5.0
    assert precise.ulp_error(-steps, -x) == 5.0
    assert precise.ulp_error(5e-324, 0.0) == 1.0
    assert precise.ulp_error(0.1 + 0.2, 0.3) == 1.0  # the famous one


def test_ulp_error_special_values():
    computed = np.array([2.0, np.inf, -np.inf, np.inf, 1.0, np.nan, np.nan, 0.0])
    exact = np.array([2.0, np.inf, -np.inf, -np.inf, np.inf, np.nan, 1.0, -0.0])
    np.testing.assert_array_equal(
        precise.ulp_error(computed, exact), [0, 0, 0, np.inf, np.inf, 0, np.inf, 0]
    )


def test_ulp_error_of_huge_opposite_values_does_not_overflow():
    big = 1e308
    expected = float(2 * Fraction(big) / Fraction(float(np.spacing(big))))
    assert precise.ulp_error(big, -big) == expected


def test_ulp_error_in_float32_units_and_broadcasting():
    exact = np.float64(1.0)
    assert precise.ulp_error(1 + 2.0**-23, exact, dtype=np.float32) == 1.0
    errors = precise.ulp_error(1 + np.arange(3) * 2.0**-52, exact)
    np.testing.assert_array_equal(errors, [0.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="dtype"):
        precise.ulp_error(1.0, 1.0, dtype=np.int32)
