"""Tests of the activation functions of xent.numpy and xent.torch (Chapter 1).

PyTorch's torch.nn.functional is the oracle for values, dtypes, NaN/inf
propagation and gradients; mpmath is the oracle for accuracy; swish, which has
no PyTorch twin, is checked against its formula written out in float64.
"""

import functools
import math
import subprocess
import sys
import warnings

import mpmath
import numpy as np
import pytest
import torch
import torch.nn.functional as F
import xent.numpy as xn
import xent.torch as xt
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

DTYPES = [torch.float16, torch.float32, torch.float64]
SHAPES = [(13,), (4, 5), (2, 3, 4, 5)]
# Tolerances for values and gradients, per dtype: a few units in the last place
# (PyTorch rounds float16 after each op; xent computes half in float32 and rounds once).
VALUE_TOL = {
    torch.float16: dict(rtol=2e-3, atol=1e-3),
    torch.float32: dict(rtol=1e-5, atol=1e-6),
    torch.float64: dict(rtol=1e-10, atol=1e-12),
}
# PyTorch computes some gradients from the rounded output (sigmoid: y (1 - y)),
# which loses relative accuracy where y is close to 1; hence the absolute part.
GRAD_TOL = {
    torch.float16: dict(rtol=1e-2, atol=2e-3),
    torch.float32: dict(rtol=1e-4, atol=1e-6),
    torch.float64: dict(rtol=1e-9, atol=1e-12),
}
BACKENDS = ["numpy", "torch"]
# Modest example counts; no timing health check, since the test machine is shared.
SETTINGS = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# (xent name, keyword arguments, the PyTorch function it must match)
TWINS = [
    ("sigmoid", {}, torch.sigmoid),
    ("logsigmoid", {}, F.logsigmoid),
    ("tanh", {}, torch.tanh),
    ("relu", {}, F.relu),
    ("relu6", {}, F.relu6),
    ("leaky_relu", {}, F.leaky_relu),
    ("leaky_relu", {"negative_slope": 0.2}, F.leaky_relu),
    ("leaky_relu", {"negative_slope": -0.5}, F.leaky_relu),
    ("elu", {}, F.elu),
    ("elu", {"alpha": 0.5}, F.elu),
    ("elu", {"alpha": 2.0}, F.elu),
    ("silu", {}, F.silu),
    ("mish", {}, F.mish),
    ("softplus", {}, F.softplus),
    ("softplus", {"beta": 2.0}, F.softplus),
    ("softplus", {"beta": 0.5, "threshold": 5.0}, F.softplus),
    ("softplus", {"threshold": 1.0}, F.softplus),
    ("gelu", {}, F.gelu),
    ("gelu", {"approximate": "none"}, F.gelu),
    ("gelu", {"approximate": "tanh"}, F.gelu),
]
TWIN_IDS = [name + "".join(f"-{k}={v}" for k, v in kwargs.items()) for name, kwargs, _ in TWINS]
# Points where a function has a kink or switches formula: the gradient there is a choice.
KINKS = [0.0, -0.0, 6.0, 1.0, 2.5, 10.0, 20.0]
EXTREMES = [-math.inf, -1e4, -100.0, -21.0, -20.0, -1.0, -0.0, 0.0, 1e-7, 1.0, 20.0, 21.0, 100.0]
EXTREMES += [1e4, math.inf, math.nan]


def sample(shape, dtype, seed=0, scale=4.0):
    """Deterministic normal inputs times ``scale``, with the kinks among them."""
    values = np.random.default_rng(seed).normal(size=shape) * scale
    flat = values.reshape(-1)
    flat[: len(KINKS)] = KINKS[: flat.size]
    return torch.tensor(values, dtype=dtype)


def extremes(dtype):
    """The special values, plus the largest finite numbers of ``dtype``."""
    largest = torch.finfo(dtype).max
    return torch.tensor(EXTREMES + [largest, -largest], dtype=dtype)


def run(backend, name, x, **kwargs):
    """xent.<backend>.<name> on the tensor ``x``, as a tensor; NumPy warnings are errors."""
    if backend == "torch":
        return getattr(xt, name)(x, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # NumPy's overflow and invalid-value warnings included
        result = getattr(xn, name)(x.detach().numpy(), **kwargs)
    assert isinstance(result, np.ndarray)
    return torch.from_numpy(result)


def assert_same(actual, expected, tol, context=""):
    """Same shape and dtype, values close, NaN where the oracle has NaN, infinities equal.

    (NumPy's comparison rather than torch.testing.assert_close, which imports
    torch.distributed on first use: seconds of a fast test run.)
    """
    assert actual.shape == expected.shape, context
    assert actual.dtype == expected.dtype, context
    actual, expected = as_float64(actual), as_float64(expected)
    if not np.isclose(actual, expected, equal_nan=True, **tol).all():  # the quick check
        np.testing.assert_allclose(actual, expected, equal_nan=True, err_msg=str(context), **tol)


def as_float64(tensor):
    return tensor.detach().to(torch.float64).numpy()


# --- values against PyTorch ----------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("name", "kwargs", "oracle"), TWINS, ids=TWIN_IDS)
def test_values_match_pytorch(backend, name, kwargs, oracle):
    """1-D, 2-D and 4-D inputs in three dtypes, and inputs with no element or no dimension."""
    for dtype in DTYPES:
        for shape in SHAPES + [(0,), (), (3, 0, 2)]:
            x = sample(shape, dtype)
            expected = oracle(x, **kwargs)
            assert_same(run(backend, name, x, **kwargs), expected, VALUE_TOL[dtype], (dtype, shape))


def limits(name, kwargs):
    """The values at -inf and +inf: the limits, or for x * g(x) with g -> 0, IEEE's -inf * 0 = NaN.

    silu, mish and gelu are x times a factor that tends to 0 at -inf; their defining formula
    evaluated in IEEE arithmetic (with exact g) gives NaN there, and so does PyTorch on every CPU.
    """
    slope, alpha = kwargs.get("negative_slope", 0.01), kwargs.get("alpha", 1.0)
    return {
        "sigmoid": (0.0, 1.0), "logsigmoid": (-math.inf, 0.0), "tanh": (-1.0, 1.0),
        "relu": (0.0, math.inf), "relu6": (0.0, 6.0), "leaky_relu": (-math.inf * slope, math.inf),
        "elu": (-alpha, math.inf), "silu": (math.nan, math.inf), "mish": (math.nan, math.inf),
        "softplus": (0.0, math.inf), "gelu": (math.nan, math.inf),
    }[name]


def expected_at_extremes(name, kwargs, oracle, x):
    """The exact answer at ``extremes``: the table at +-inf, NaN at NaN, else PyTorch in float64.

    PyTorch is not the oracle at the infinities, where its answer depends on the CPU: on an
    AVX-512 Xeon, PyTorch 2.13's vectorised erf makes float32 and float16 ``gelu(+inf)`` NaN
    (float64 and ``approximate='tanh'`` give +inf). At finite points its float64 result, rounded
    to ``x``'s dtype, is the reference on every CPU path.
    """
    expected = oracle(x.double(), **kwargs)
    low, high = limits(name, kwargs)
    expected[x == -math.inf], expected[x == math.inf] = low, high
    return expected.to(x.dtype)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("name", "kwargs", "oracle"), TWINS, ids=TWIN_IDS)
def test_extremes_are_exact(backend, name, kwargs, oracle):
    """+-inf, NaN, +-1e4, the dtype's largest numbers: the table and PyTorch's float64."""
    for dtype in DTYPES:
        x = extremes(dtype)
        expected = expected_at_extremes(name, kwargs, oracle, x)
        assert_same(run(backend, name, x, **kwargs), expected, VALUE_TOL[dtype], dtype)


@pytest.mark.parametrize(("name", "kwargs", "oracle"), TWINS, ids=TWIN_IDS)
def test_pytorch_float64_reaches_the_limits(name, kwargs, oracle):
    """PyTorch's float64 agrees with the table at +-inf (a check of the table, not of xent)."""
    x = torch.tensor([-math.inf, math.inf], dtype=torch.float64)
    np.testing.assert_array_equal(oracle(x, **kwargs).numpy(), limits(name, kwargs))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["sigmoid", "logsigmoid", "softplus", "silu", "mish", "tanh"])
def test_stable_functions_are_finite_where_the_math_is(backend, name):
    """No overflow to inf or NaN at +-1e4, in every dtype (float16 from its largest numbers)."""
    for dtype in DTYPES:
        big = 6e4 if dtype == torch.float16 else 1e4
        x = torch.tensor([-big, -30.0, 30.0, big], dtype=dtype)
        assert torch.isfinite(run(backend, name, x)).all(), (name, dtype)
    exact = {"logsigmoid": [-1e4, -0.0], "softplus": [0.0, 1e4], "sigmoid": [0.0, 1.0]}
    if name in exact:
        x = torch.tensor([-1e4, 1e4], dtype=torch.float64)
        np.testing.assert_array_equal(run(backend, name, x).numpy(), exact[name])


@pytest.mark.parametrize("backend", BACKENDS)
def test_softplus_does_not_overflow_below_a_large_threshold(backend):
    """A documented difference: with threshold 1000 PyTorch's float32 softplus(100) is inf."""
    x = torch.tensor([100.0, 500.0, -500.0], dtype=torch.float32)
    assert torch.isinf(F.softplus(x, threshold=1000.0)[:2]).all()  # the behaviour we improve on
    expected = torch.tensor([100.0, 500.0, 0.0])
    assert_same(run(backend, "softplus", x, threshold=1000.0), expected, VALUE_TOL[torch.float32])
    huge = torch.tensor([1e4], dtype=torch.float64)
    assert_same(run(backend, "softplus", huge, threshold=math.inf), huge, VALUE_TOL[torch.float64])


# --- gradients against PyTorch's autograd ------------------------------------------------


def gradients(function, x, upstream, **kwargs):
    """d(sum(upstream * function(x))) / dx."""
    x = x.detach().clone().requires_grad_(True)
    y = function(x, **kwargs)
    (grad,) = torch.autograd.grad(y, x, upstream)
    return grad


@pytest.mark.parametrize(("name", "kwargs", "oracle"), TWINS, ids=TWIN_IDS)
def test_gradients_match_pytorch(name, kwargs, oracle):
    """Random points and the kinks (relu'(0) = 0, relu6'(6) = 0, elu'(0) = alpha, ...)."""
    for dtype in [torch.float32, torch.float64]:
        for shape in [(13,), (2, 3, 4, 5)]:  # elementwise: the shape only checks the plumbing
            x = sample(shape, dtype, seed=1)
            upstream = sample(shape, dtype, seed=2, scale=1.0)
            expected = gradients(oracle, x, upstream, **kwargs)
            actual = gradients(getattr(xt, name), x, upstream, **kwargs)
            assert_same(actual, expected, GRAD_TOL[dtype], (dtype, shape))


@pytest.mark.parametrize(("name", "kwargs", "oracle"), TWINS, ids=TWIN_IDS)
def test_gradients_at_extremes_match_pytorch(name, kwargs, oracle):
    """+-inf, +-1e4 and the largest numbers (NaN inputs are left out: there PyTorch's own
    gradient depends on whether its vectorised or scalar loop handled the element)."""
    for dtype in DTYPES:
        x = extremes(dtype)
        x = x[~torch.isnan(x)]
        upstream = torch.ones_like(x)
        # PyTorch's float16 gradients are computed from float16 intermediates; the float32
        # gradient at the same points, rounded to float16, is the better oracle.
        reference = torch.float32 if dtype == torch.float16 else dtype
        expected = gradients(oracle, x.to(reference), upstream.to(reference), **kwargs)
        actual = gradients(getattr(xt, name), x, upstream, **kwargs)
        assert_same(actual, expected.to(dtype), GRAD_TOL[dtype], dtype)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
def test_half_gradients_have_the_input_dtype(dtype):
    x = torch.tensor([-2.0, 0.5, 3.0], dtype=dtype, requires_grad=True)
    xt.mish(x).sum().backward()
    assert x.grad.dtype == dtype
    expected = gradients(F.mish, x.detach().float(), torch.ones(3))
    np.testing.assert_allclose(as_float64(x.grad), as_float64(expected), rtol=1e-2, atol=1e-2)


# --- accuracy against mpmath ----------------------------------------------------------

EXACT = {
    "sigmoid": lambda x: 1 / (1 + mpmath.exp(-x)),
    "logsigmoid": lambda x: -mpmath.log1p(mpmath.exp(-x)),
    "softplus": lambda x: mpmath.log1p(mpmath.exp(x)),
    "tanh": mpmath.tanh,
    "silu": lambda x: x / (1 + mpmath.exp(-x)),
    "mish": lambda x: x * mpmath.tanh(mpmath.log1p(mpmath.exp(x))),
    "elu": lambda x: x if x > 0 else mpmath.expm1(x),
    "gelu": lambda x: x * mpmath.erfc(-x / mpmath.sqrt(2)) / 2,
}
ACCURACY_POINTS = np.concatenate(
    [np.linspace(-30.0, 30.0, 121), [1e-300, -1e-300, 1e-10, -1e-10, 3e-8, -3e-8, 700.0, -700.0]]
)


@functools.cache
def exact_values(name):
    """EXACT[name] at ACCURACY_POINTS, rounded to float64."""
    with mpmath.workdps(50):
        return np.array([float(EXACT[name](mpmath.mpf(float(v)))) for v in ACCURACY_POINTS])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", sorted(EXACT))
def test_float64_accuracy_against_mpmath(backend, name):
    """Within 4 ulps of the exact value (softplus with threshold=inf, to test the formula).

    gelu's bound grows like x^2: erfc(-x / sqrt(2)) is that sensitive to the rounding
    of its argument for negative x (PyTorch's 1 + erf(x / sqrt(2)) loses every digit there).
    """
    x = ACCURACY_POINTS
    kwargs = {"threshold": math.inf} if name == "softplus" else {}
    actual = run(backend, name, torch.from_numpy(x), **kwargs).numpy()
    exact = exact_values(name)
    allowed_ulps = 4 + 2 * x**2 if name == "gelu" else 4
    ulps = np.abs(actual - exact) / np.spacing(np.abs(exact))
    assert (ulps <= allowed_ulps).all(), (x[ulps > allowed_ulps], ulps[ulps > allowed_ulps])


# --- properties ---------------------------------------------------------------------

finite_arrays = hnp.arrays(
    np.float64,
    hnp.array_shapes(min_dims=1, max_dims=3, max_side=5),
    elements=st.floats(-60.0, 60.0, allow_nan=False),
)


def both(name, x, **kwargs):
    """xent.numpy.<name>(x) and xent.torch.<name>(x) as NumPy arrays, for a float64 array x."""
    from_torch = getattr(xt, name)(torch.from_numpy(x), **kwargs).numpy()
    return [getattr(xn, name)(x, **kwargs), from_torch]


@SETTINGS
@given(finite_arrays)
def test_sigmoid_symmetry_and_tanh_identity(x):
    sigmoids = zip(both("sigmoid", x), both("sigmoid", -x), both("sigmoid", 2 * x), strict=True)
    outputs = zip(sigmoids, both("tanh", x), strict=True)
    for (sigmoid, sigmoid_minus_x, sigmoid_2x), tanh in outputs:
        np.testing.assert_allclose(sigmoid_minus_x, 1 - sigmoid, rtol=0, atol=2e-16)
        np.testing.assert_allclose(tanh, 2 * sigmoid_2x - 1, rtol=0, atol=5e-16)
    for tanh, minus_tanh in zip(both("tanh", x), both("tanh", -x), strict=True):
        np.testing.assert_array_equal(minus_tanh, -tanh)  # odd, exactly


@SETTINGS
@given(finite_arrays, st.sampled_from([0.5, 1.0, 3.0]))
def test_softplus_and_logsigmoid_identities(x, beta):
    plus = both("softplus", x, beta=beta, threshold=math.inf)
    minus = both("softplus", -x, beta=beta, threshold=math.inf)
    for softplus_x, softplus_minus_x in zip(plus, minus, strict=True):
        np.testing.assert_allclose(softplus_x - softplus_minus_x, x, rtol=1e-14, atol=1e-14)
    unit = both("softplus", -x, threshold=math.inf)
    for logsigmoid, softplus_minus_x in zip(both("logsigmoid", x), unit, strict=True):
        np.testing.assert_array_equal(logsigmoid, -softplus_minus_x)
    scaled = both("softplus", beta * x, threshold=math.inf)
    for softplus_beta, softplus_scaled in zip(plus, scaled, strict=True):
        np.testing.assert_allclose(softplus_beta, softplus_scaled / beta, rtol=1e-14, atol=1e-300)


@SETTINGS
@given(finite_arrays, st.floats(-2.0, 2.0))
def test_piecewise_linear_identities(x, slope):
    for relu, relu_minus in zip(both("relu", x), both("relu", -x), strict=True):
        np.testing.assert_array_equal(relu - relu_minus, x)
    for leaky, relu, relu_minus in zip(
        both("leaky_relu", x, negative_slope=slope), both("relu", x), both("relu", -x), strict=True
    ):
        np.testing.assert_allclose(leaky, relu - slope * relu_minus, rtol=1e-15, atol=0)
    for relu6 in both("relu6", x):
        np.testing.assert_array_equal(relu6, np.clip(x, 0, 6))
    for elu in both("elu", x, alpha=abs(slope)):
        np.testing.assert_array_equal(elu[x > 0], x[x > 0])
        assert (elu >= -abs(slope)).all()


@SETTINGS
@given(finite_arrays)
def test_self_gated_identities(x):
    """f(x) - f(-x) = x for f(x) = x g(x) with g(x) + g(-x) = 1, and swish(beta=1) = silu."""
    for name, kwargs in [("silu", {}), ("gelu", {}), ("gelu", {"approximate": "tanh"})]:
        for f_x, f_minus_x in zip(both(name, x, **kwargs), both(name, -x, **kwargs), strict=True):
            np.testing.assert_allclose(f_x - f_minus_x, x, rtol=1e-14, atol=1e-14)
    for swish, silu in zip(both("swish", x, beta=1.0), both("silu", x), strict=True):
        np.testing.assert_array_equal(swish, silu)
    for gelu, gelu_tanh in zip(both("gelu", x), both("gelu", x, approximate="tanh"), strict=True):
        np.testing.assert_allclose(gelu, gelu_tanh, rtol=0, atol=1e-3)  # a close approximation


# --- prelu --------------------------------------------------------------------------


def run_prelu(backend, x, weight):
    """xent.<backend>.prelu on tensors, with NumPy warnings as errors."""
    if backend == "torch":
        return xt.prelu(x, weight)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return torch.from_numpy(xn.prelu(x.numpy(), weight.numpy()))


PRELU_CASES = [((7,), (1,)), ((7,), ()), ((4, 5), (5,)), ((4, 5), (1,)), ((2, 3, 4, 5), (3,))]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("shape", "weight_shape"), PRELU_CASES, ids=str)
def test_prelu_matches_pytorch(backend, shape, weight_shape):
    for dtype in DTYPES:
        x = sample(shape, dtype)
        weight = torch.linspace(-0.5, 0.75, math.prod(weight_shape), dtype=dtype)
        weight = weight.reshape(weight_shape)
        assert_same(run_prelu(backend, x, weight), F.prelu(x, weight), VALUE_TOL[dtype], dtype)
        special = torch.tensor([-math.inf, -1.0, -0.0, 0.0, 2.0, math.inf, math.nan], dtype=dtype)
        slope = torch.tensor([0.25], dtype=dtype)
        expected = F.prelu(special, slope)
        assert_same(run_prelu(backend, special, slope), expected, VALUE_TOL[dtype], dtype)


@pytest.mark.parametrize(("shape", "weight_shape"), PRELU_CASES, ids=str)
def test_prelu_gradients_match_pytorch(shape, weight_shape):
    """Gradients in the input (weight at x <= 0, as PyTorch) and in the weight."""
    for dtype in [torch.float32, torch.float64]:
        x = sample(shape, dtype, seed=3)
        upstream = sample(shape, dtype, seed=4, scale=1.0)
        weight = torch.linspace(0.1, 0.9, math.prod(weight_shape), dtype=dtype)
        weight = weight.reshape(weight_shape)
        results = []
        for prelu in (F.prelu, xt.prelu):
            leaves = [x.clone().requires_grad_(True), weight.clone().requires_grad_(True)]
            results.append(torch.autograd.grad(prelu(*leaves), leaves, upstream))
        for actual, expected in zip(results[1], results[0], strict=True):
            assert_same(actual, expected, GRAD_TOL[dtype], dtype)


def test_prelu_weight_gradient_ignores_positive_infinity():
    """+inf is on the identity side: it must not put inf * 0 = NaN into the weight's gradient."""
    x = torch.tensor([[-2.0, math.inf, 3.0]], dtype=torch.float64)
    weight = torch.tensor([0.25], dtype=torch.float64, requires_grad=True)
    xt.prelu(x, weight).sum().backward()
    np.testing.assert_array_equal(weight.grad.numpy(), [-2.0])


# --- swish (no PyTorch twin) --------------------------------------------------------


def swish_formula(x, beta):
    """x / (1 + exp(-beta x)), as written: exact enough in float64 for |beta x| <= 60."""
    return x / (1 + torch.exp(-beta * x))


@pytest.mark.parametrize("backend", BACKENDS)
def test_swish_matches_its_formula(backend):
    for beta in [0.0, 0.5, 1.0, 1.702, 4.0, -1.0]:
        for shape in SHAPES:
            x = sample(shape, torch.float64)
            expected = swish_formula(x, beta)
            actual = run(backend, "swish", x, beta=beta)
            assert_same(actual, expected, VALUE_TOL[torch.float64], (beta, shape))


@pytest.mark.parametrize("backend", BACKENDS)
def test_swish_keeps_the_dtype_and_matches_silu(backend):
    for dtype in DTYPES:
        x = extremes(dtype)
        assert_same(run(backend, "swish", x), F.silu(x), VALUE_TOL[dtype], dtype)
        halved = run(backend, "swish", sample((9,), dtype), beta=0.0)
        assert_same(halved, sample((9,), dtype) / 2, VALUE_TOL[dtype], dtype)


@pytest.mark.parametrize("beta_shape", [(), (1,), (1, 3, 1, 1)], ids=str)
def test_swish_with_a_learned_beta_has_autograd_gradients(beta_shape):
    """The gradient in x and in a tensor beta, against autograd through the formula."""
    x = sample((2, 3, 4, 5), torch.float64, seed=5)
    upstream = sample((2, 3, 4, 5), torch.float64, seed=6, scale=1.0)
    beta = torch.linspace(0.5, 2.0, math.prod(beta_shape), dtype=torch.float64).reshape(beta_shape)
    results = []
    for swish in (swish_formula, xt.swish):
        leaves = [x.clone().requires_grad_(True), beta.clone().requires_grad_(True)]
        output = swish(*leaves)
        assert output.shape == x.shape
        results.append(torch.autograd.grad(output, leaves, upstream))
    for actual, expected in zip(results[1], results[0], strict=True):
        assert_same(actual, expected, GRAD_TOL[torch.float64])


def test_swish_float_beta_gradient_matches_autograd():
    x = sample((13,), torch.float64, seed=7)
    expected = gradients(swish_formula, x, torch.ones_like(x), beta=1.5)
    actual = gradients(xt.swish, x, torch.ones_like(x), beta=1.5)
    assert_same(actual, expected, GRAD_TOL[torch.float64])


# --- bad input ----------------------------------------------------------------------

ALL_NAMES = ["sigmoid", "logsigmoid", "tanh", "relu", "relu6", "leaky_relu", "elu", "silu"]
ALL_NAMES += ["swish", "mish", "softplus", "gelu"]


@pytest.mark.parametrize("name", ALL_NAMES)
def test_numpy_backend_refuses_what_is_not_a_float_array(name):
    not_float_arrays = [
        ([1.0, 2.0], "input must be a numpy.ndarray of floats; got list"),
        (1.5, "got float"),
        (torch.ones(2), "got Tensor"),
        (np.arange(3), "input must have dtype float16, float32 or float64; got int64"),
    ]
    for value, message in not_float_arrays:
        with pytest.raises(TypeError, match=message):
            getattr(xn, name)(value)


@pytest.mark.parametrize("name", ALL_NAMES)
def test_torch_backend_refuses_what_is_not_a_float_tensor(name):
    not_float_tensors = [
        (np.ones(2), "input must be a torch.Tensor of floats; got ndarray"),
        (1.5, "got float"),
        (torch.arange(3), "input must have dtype .*; got torch.int64"),
    ]
    for value, message in not_float_tensors:
        with pytest.raises(TypeError, match=message):
            getattr(xt, name)(value)


BAD_ARGUMENTS = [
    ("softplus", {"beta": 0.0}, ValueError, r"beta must be in \(0, inf\); got 0.0"),
    ("softplus", {"beta": -1.0}, ValueError, r"beta must be in \(0, inf\); got -1.0"),
    ("softplus", {"beta": math.inf}, ValueError, r"beta .* got inf"),
    ("softplus", {"beta": math.nan}, ValueError, r"beta .* got nan"),
    ("softplus", {"beta": "2"}, TypeError, r"beta must be a real number; got str '2'"),
    ("softplus", {"threshold": math.nan}, ValueError, r"threshold .* not NaN; got nan"),
    ("leaky_relu", {"negative_slope": math.nan}, ValueError, r"negative_slope must be .*nan"),
    ("leaky_relu", {"negative_slope": -math.inf}, ValueError, r"negative_slope must be .*-inf"),
    ("elu", {"alpha": math.inf}, ValueError, r"alpha must be a finite real number; got inf"),
    ("elu", {"alpha": None}, TypeError, r"alpha must be a real number; got NoneType"),
    ("swish", {"beta": math.nan}, ValueError, r"beta must be a finite real number; got nan"),
    ("gelu", {"approximate": "erf"}, ValueError, r"must be 'none' or 'tanh'; got 'erf'"),
    ("gelu", {"approximate": None}, ValueError, r"approximate must be .*; got None"),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("name", "kwargs", "error", "message"), BAD_ARGUMENTS)
def test_bad_arguments_are_refused(backend, name, kwargs, error, message):
    x = torch.linspace(-2, 2, 5, dtype=torch.float64)
    with pytest.raises(error, match=message):
        run(backend, name, x, **kwargs)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("shape", "weight", "error", "message"),
    [
        ((4, 5), np.ones(3), ValueError, r"weight must have shape \(\), \(1,\) or \(5,\).*\(3,\)"),
        ((7,), np.ones(7), ValueError, r"weight must have shape \(\) or \(1,\) .*\(7,\)"),
        ((4, 5), np.ones((1, 5)), ValueError, r"got weight of shape \(1, 5\)"),
        ((4, 5), np.ones(5, dtype=np.float32), TypeError, r"input \((torch\.)?float64\).*float32"),
        ((4, 5), np.ones(5, dtype=np.int64), TypeError, r"weight must have dtype .*int64"),
    ],
)
def test_prelu_refuses_bad_weights(backend, shape, weight, error, message):
    x = np.ones(shape)
    with pytest.raises(error, match=message):
        if backend == "numpy":
            xn.prelu(x, weight)
        else:
            xt.prelu(torch.from_numpy(x), torch.from_numpy(weight))


def test_torch_swish_refuses_a_bad_beta_tensor():
    x = torch.ones(2, 3)
    with pytest.raises(ValueError, match=r"beta must broadcast to the shape .*\(2, 3\).*\(4,\)"):
        xt.swish(x, torch.ones(4))
    with pytest.raises(ValueError, match=r"beta must broadcast.*\(2, 2, 3\)"):
        xt.swish(x, torch.ones(2, 2, 3))
    with pytest.raises(TypeError, match=r"beta must have dtype .*torch.int64"):
        xt.swish(x, torch.tensor(1))


def test_numpy_backend_does_not_import_torch():
    code = "import sys, xent.numpy; assert 'torch' not in sys.modules, 'torch was imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def forbid_library_activations(monkeypatch):
    """Make every public torch.nn.functional function, and torch's own activations, raise."""

    def forbidden(*args, **kwargs):
        raise AssertionError("xent.torch called a library activation or loss")

    for name in dir(F):
        if not name.startswith("_") and callable(getattr(F, name)):
            monkeypatch.setattr(F, name, forbidden)
    for name in ["sigmoid", "tanh", "relu", "prelu", "selu", "celu", "rrelu"]:
        monkeypatch.setattr(torch, name, forbidden)
    monkeypatch.setattr(torch.special, "expit", forbidden)


def test_torch_backend_builds_activations_from_elementary_ops(monkeypatch):
    """Forward and backward pass with torch.nn.functional and torch.sigmoid & co. disabled."""
    x = sample((2, 3, 4), torch.float64).requires_grad_(True)
    forbid_library_activations(monkeypatch)
    outputs = [getattr(xt, name)(x, **kwargs) for name, kwargs, _ in TWINS]
    outputs += [xt.swish(x, beta=torch.tensor(1.5)), xt.prelu(x, torch.ones(3, dtype=x.dtype))]
    sum(output.sum() for output in outputs).backward()
    assert torch.isfinite(x.grad).all()
