"""Tests of the margin and regression losses of xent.numpy and xent.torch (Chapter 8).

PyTorch's torch.nn.functional is the oracle for the twins (values, dtypes, NaN/inf
propagation, reductions, gradients); the losses without a twin (hinge,
squared hinge, exponential, mean squared log error) are checked against their
formulas written out in float64 and against autograd through those formulas.
Where xent deliberately differs from PyTorch, a test says so and checks the
exact value instead.
"""

import math
import warnings

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
SHAPES = [(13,), (4, 5), (2, 3, 4, 5), (), (0,), (3, 0)]
REDUCTIONS = ["none", "mean", "sum"]
BACKENDS = ["numpy", "torch"]
VALUE_TOL = {
    torch.float16: dict(rtol=2e-3, atol=2e-3),
    torch.float32: dict(rtol=1e-5, atol=1e-6),
    torch.float64: dict(rtol=1e-10, atol=1e-12),
}
GRAD_TOL = {torch.float32: dict(rtol=1e-5, atol=1e-6), torch.float64: dict(rtol=1e-10, atol=1e-12)}
# Modest example counts; no timing health check, since the test machine is shared.
SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])

REGRESSION_TWINS = [
    ("mse_loss", {}),
    ("l1_loss", {}),
    ("smooth_l1_loss", {}),
    ("smooth_l1_loss", {"beta": 0.0}),
    ("smooth_l1_loss", {"beta": 0.5}),
    ("smooth_l1_loss", {"beta": 2.0}),
    ("huber_loss", {}),
    ("huber_loss", {"delta": 0.5}),
    ("huber_loss", {"delta": 2.0}),
]
LABEL_TWINS = [
    ("soft_margin_loss", {}),
    ("hinge_embedding_loss", {}),
    ("hinge_embedding_loss", {"margin": 0.5}),
    ("hinge_embedding_loss", {"margin": 2.0}),
]


def case_id(case):
    name, kwargs = case
    return name + "".join(f"-{key}={value}" for key, value in kwargs.items())


# Differences that sit exactly on a kink: 0 (l1), +-0.5, +-1, +-2 (beta, delta, margin).
KINKS = [0.0, 0.5, -0.5, 1.0, -1.0, 2.0, -2.0]


def sample(shape, dtype, seed=0, scale=3.0):
    """Deterministic normal values times ``scale``, the kinks first."""
    values = np.random.default_rng(seed).normal(size=shape) * scale
    flat = values.reshape(-1)
    flat[: len(KINKS)] = KINKS[: flat.size]
    return torch.tensor(values, dtype=dtype)


def pair(shape, dtype, seed=0):
    """An input and a target whose differences include the kinks exactly."""
    target = sample(shape, dtype, seed=seed + 1)
    target.reshape(-1)[: len(KINKS)] = 0.0
    return sample(shape, dtype, seed=seed), target


def labels(shape, dtype, seed=0):
    """Labels -1 and +1."""
    signs = np.random.default_rng(seed).choice([-1.0, 1.0], size=shape)
    return torch.tensor(signs, dtype=dtype)


def run(backend, name, *tensors, **kwargs):
    """xent.<backend>.<name> on tensors, as a tensor; NumPy warnings are errors."""
    if backend == "torch":
        return getattr(xt, name)(*tensors, **kwargs)

    def to_numpy(value):
        return value.detach().numpy() if isinstance(value, torch.Tensor) else value

    arrays = [to_numpy(tensor) for tensor in tensors]
    kwargs = {key: to_numpy(value) for key, value in kwargs.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # NumPy's overflow and invalid-value warnings included
        result = getattr(xn, name)(*arrays, **kwargs)
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


# --- regression losses against PyTorch ---------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", REGRESSION_TWINS, ids=case_id)
def test_regression_losses_match_pytorch(backend, case):
    """1-D, 2-D, 4-D, 0-d and empty inputs, three dtypes, each reduction."""
    name, kwargs = case
    for dtype in DTYPES:
        for shape in SHAPES:
            x, y = pair(shape, dtype)
            for reduction in REDUCTIONS:
                expected = getattr(F, name)(x, y, reduction=reduction, **kwargs)
                actual = run(backend, name, x, y, reduction=reduction, **kwargs)
                assert_same(actual, expected, VALUE_TOL[dtype], (dtype, shape, reduction))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", REGRESSION_TWINS, ids=case_id)
def test_regression_losses_propagate_inf_and_nan_as_pytorch(backend, case):
    name, kwargs = case
    inf, nan = math.inf, math.nan
    for dtype in DTYPES:
        big = torch.finfo(dtype).max
        x = torch.tensor([inf, inf, -inf, nan, 0.0, 1e4, big, -big, 3.0, inf], dtype=dtype)
        y = torch.tensor([0.0, inf, inf, 0.0, nan, -1e4, -big, big, -inf, -inf], dtype=dtype)
        expected = getattr(F, name)(x, y, reduction="none", **kwargs)
        actual = run(backend, name, x, y, reduction="none", **kwargs)
        assert_same(actual, expected, VALUE_TOL[dtype], dtype)


@pytest.mark.parametrize("backend", BACKENDS)
def test_mixed_dtypes_are_promoted(backend):
    """As PyTorch's mse_loss, l1_loss and smooth_l1_loss do. Its huber_loss returns the
    input's dtype instead; xent promotes there too (soft_margin_loss and hinge_embedding_loss
    return the input's dtype, as PyTorch's: see the test below)."""
    pairs = [(torch.float32, torch.float64), (torch.float16, torch.float32)]
    pairs += [(torch.float64, torch.float16)]
    for input_dtype, target_dtype in pairs:
        x, y = sample((4, 5), input_dtype), sample((4, 5), target_dtype, seed=1)
        promoted = torch.promote_types(input_dtype, target_dtype)
        for name in ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss"]:
            target = y
            expected = getattr(F, name)(x, target)
            if name in ["mse_loss", "l1_loss", "smooth_l1_loss"]:
                assert expected.dtype == promoted
            actual = run(backend, name, x, target)
            assert actual.dtype == promoted
            # PyTorch computes these three in the input's dtype, float16 included
            oracle_dtype = min(expected.dtype, promoted, key=lambda d: torch.finfo(d).bits)
            tol = VALUE_TOL[oracle_dtype]
            assert_same(actual, expected.to(promoted), tol, (name, input_dtype))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["soft_margin_loss", "hinge_embedding_loss"])
def test_real_valued_targets_broadcast_and_keep_the_input_dtype_as_in_pytorch(backend, name):
    """PyTorch's formulas hold for any real y (log(1 + exp(-y x)); [y != 1] max(0, margin - x)
    + [y != -1] x), the target broadcasts, and the result has the input's dtype."""
    nan, inf = math.nan, math.inf
    special = torch.tensor([-1.0, 1.0, 0.0, 0.5, -2.5, 3.0, nan, inf, -inf, 1.0])
    for input_dtype, target_dtype in [
        (torch.float64, torch.float64),
        (torch.float32, torch.float64),
    ]:
        x = sample((3, 10), input_dtype).requires_grad_()
        ys = [special.to(target_dtype), sample((3, 10), target_dtype, seed=2)]
        for y in ys:
            for reduction in ["none", "sum"]:
                expected = getattr(F, name)(x, y, reduction=reduction)
                actual = run(backend, name, x, y, reduction=reduction)
                assert_same(actual, expected, VALUE_TOL[input_dtype], (name, y))
                if backend == "torch" and reduction == "sum" and name == "hinge_embedding_loss":
                    (ours,) = torch.autograd.grad(actual, x)
                    (theirs,) = torch.autograd.grad(expected, x)
                    assert_same(ours, theirs, GRAD_TOL[input_dtype], (name, y))
    if name == "hinge_embedding_loss":  # broadcasts both ways
        x, y = sample((1, 4), torch.float64), sample((3, 1), torch.float64)
        assert_same(
            run(backend, name, x, y, reduction="none"),
            F.hinge_embedding_loss(x, y, reduction="none"),
            VALUE_TOL[torch.float64],
        )
    with pytest.raises(ValueError, match="not broadcast"):
        run(
            backend, name, torch.ones(2, 3, dtype=torch.float64), torch.ones(4, dtype=torch.float64)
        )


@pytest.mark.parametrize("backend", BACKENDS)
def test_float16_is_rounded_once_at_the_end(backend):
    """A documented difference: PyTorch rounds each float16 square (300^2 -> inf) before
    the mean; xent computes in float32 and rounds the mean, 45000, which float16 holds."""
    x = torch.tensor([300.0, 0.0], dtype=torch.float16)
    y = torch.zeros(2, dtype=torch.float16)
    assert torch.isinf(F.mse_loss(x, y))  # the behaviour we improve on
    expected = torch.tensor(45000.0, dtype=torch.float16)
    assert_same(run(backend, "mse_loss", x, y), expected, VALUE_TOL[torch.float16])
    overflow = run(backend, "mse_loss", x, y, reduction="sum")  # 90000 is too large for float16
    assert overflow.dtype == torch.float16 and torch.isinf(overflow)


@pytest.mark.parametrize("case", REGRESSION_TWINS, ids=case_id)
def test_regression_gradients_match_pytorch(case):
    """In input and target, at random points, on the kinks (l1'(0) = 0) and at +-inf."""
    name, kwargs = case
    for dtype in [torch.float32, torch.float64]:
        for shape in [(13,), (2, 3, 4, 5)]:
            x, y = pair(shape, dtype, seed=2)
            x.reshape(-1)[-2:] = torch.tensor([math.inf, -1e4])
            for reduction in REDUCTIONS:
                results = []
                for loss in (getattr(F, name), getattr(xt, name)):
                    leaves = [x.clone().requires_grad_(True), y.clone().requires_grad_(True)]
                    output = loss(*leaves, reduction=reduction, **kwargs)
                    upstream = torch.ones_like(output)
                    results.append(torch.autograd.grad(output, leaves, upstream))
                for actual, expected in zip(results[1], results[0], strict=True):
                    assert_same(actual, expected, GRAD_TOL[dtype], (dtype, shape, reduction))


# --- binary margin losses against PyTorch ------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", LABEL_TWINS, ids=case_id)
def test_label_losses_match_pytorch(backend, case):
    """Scores in a range where PyTorch's soft margin loss does not overflow."""
    name, kwargs = case
    for dtype in DTYPES:
        for shape in SHAPES:
            x, y = sample(shape, dtype), labels(shape, dtype)
            for reduction in REDUCTIONS:
                expected = getattr(F, name)(x, y, reduction=reduction, **kwargs)
                actual = run(backend, name, x, y, reduction=reduction, **kwargs)
                assert_same(actual, expected, VALUE_TOL[dtype], (dtype, shape, reduction))
        special = torch.tensor([math.inf, -math.inf, math.nan, 0.0, 10.0, -10.0], dtype=dtype)
        for y in [torch.ones_like(special), -torch.ones_like(special)]:
            expected = getattr(F, name)(special, y, reduction="none", **kwargs)
            actual = run(backend, name, special, y, reduction="none", **kwargs)
            assert_same(actual, expected, VALUE_TOL[dtype], (dtype, "special"))


@pytest.mark.parametrize("case", LABEL_TWINS, ids=case_id)
def test_label_loss_gradients_match_pytorch(case):
    """Including the hinge x = margin of hinge_embedding_loss (slope -1 there, as PyTorch)."""
    name, kwargs = case
    for dtype in [torch.float32, torch.float64]:
        x, y = sample((4, 5), dtype, seed=3), labels((4, 5), dtype, seed=4)
        x[0, :] = torch.tensor([kwargs.get("margin", 1.0), 0.0, -1e4, math.inf, -math.inf])
        y[0, :] = -1.0
        for reduction in REDUCTIONS:
            grads = []
            for loss in (getattr(F, name), getattr(xt, name)):
                leaf = x.clone().requires_grad_(True)
                output = loss(leaf, y, reduction=reduction, **kwargs)
                (grad,) = torch.autograd.grad(output, leaf, torch.ones_like(output))
                grads.append(grad)
            if name == "soft_margin_loss":  # PyTorch's overflows at -1e4 and inf (see below)
                grads = [grad[1:] for grad in grads]
            assert_same(grads[1], grads[0], GRAD_TOL[dtype], (dtype, reduction))


@pytest.mark.parametrize("backend", BACKENDS)
def test_soft_margin_loss_does_not_overflow(backend):
    """A documented difference: PyTorch computes log(1 + exp(-y s)) as written, which is
    inf once exp overflows; xent gives the exact loss, -y s + log1p(exp(y s))."""
    for dtype in DTYPES:
        s = torch.tensor([-1e4, 200.0, -100.0], dtype=dtype)
        y = torch.tensor([1.0, -1.0, 1.0], dtype=dtype)
        if dtype != torch.float64:
            assert torch.isinf(F.soft_margin_loss(s, y, reduction="none")).all()
        expected = torch.tensor([1e4, 200.0, 100.0], dtype=dtype)
        actual = run(backend, "soft_margin_loss", s, y, reduction="none")
        assert_same(actual, expected, VALUE_TOL[dtype], dtype)
    s = torch.tensor([-1e4, 1e4, math.inf], dtype=torch.float64, requires_grad=True)
    xt.soft_margin_loss(s, torch.ones(3, dtype=torch.float64), reduction="sum").backward()
    np.testing.assert_allclose(s.grad.numpy(), [-1.0, 0.0, 0.0], rtol=1e-15, atol=0)


# --- multi_margin_loss against PyTorch ---------------------------------------------


def multi_margin_cases(dtype):
    """(input, target) pairs: (N, C), a batch with ties on the hinge, and (C,) inputs."""
    x = sample((6, 5), dtype, seed=5, scale=1.0)
    target = torch.tensor([0, 4, 2, 2, 1, 3])
    hinges = torch.tensor([[1.0, 0.0, 0.5, 1.0, -2.0]], dtype=dtype)  # margin - 1 + 0 = 0
    return [
        (x, target),
        (hinges, torch.tensor([0])),
        (x[1], torch.tensor(4)),
        (x[2], torch.tensor([2])),
        (sample((0, 5), dtype), torch.zeros(0, dtype=torch.long)),
    ]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("p", [1, 2])
def test_multi_margin_loss_matches_pytorch(backend, p):
    """Each margin, weight and reduction. PyTorch has no float16 kernel: its float32 result
    on the same numbers, rounded to float16, is the oracle there. Empty batches are left to
    the next test: PyTorch returns uninitialised memory for them."""
    for dtype in DTYPES:
        oracle_dtype = torch.float32 if dtype == torch.float16 else dtype
        weight = torch.tensor([1.0, 2.0, 0.5, 3.0, 0.25], dtype=dtype)
        for x, target in multi_margin_cases(dtype)[:-1]:
            for margin in [1.0, 0.5]:
                for w in [None, weight]:
                    for reduction in REDUCTIONS:
                        kwargs = dict(p=p, margin=margin, reduction=reduction)
                        expected = F.multi_margin_loss(
                            x.to(oracle_dtype),
                            target,
                            weight=None if w is None else w.to(oracle_dtype),
                            **kwargs,
                        ).to(dtype)
                        actual = run(backend, "multi_margin_loss", x, target, weight=w, **kwargs)
                        context = (dtype, tuple(x.shape), margin, w is None, reduction)
                        assert_same(actual, expected, VALUE_TOL[dtype], context)


@pytest.mark.parametrize("backend", BACKENDS)
def test_multi_margin_loss_empty_batch_and_nan(backend):
    """Documented differences: an empty batch gives NaN ('mean') and 0 ('sum'), like the
    other losses; a NaN score gives a NaN loss (PyTorch silently skips NaN terms)."""
    x, target = multi_margin_cases(torch.float64)[-1]
    assert run(backend, "multi_margin_loss", x, target, reduction="none").shape == (0,)
    assert torch.isnan(run(backend, "multi_margin_loss", x, target))
    assert run(backend, "multi_margin_loss", x, target, reduction="sum").item() == 0.0
    scores = torch.tensor([[math.nan, 0.0, 0.0], [0.0, math.nan, 0.0], [0.5, 0.0, 0.0]])
    loss = run(backend, "multi_margin_loss", scores, torch.tensor([0, 0, 0]), reduction="none")
    assert torch.isnan(loss[:2]).all() and loss[2].item() == pytest.approx(1 / 3)
    infinite = torch.tensor([[-math.inf, 0.0], [math.inf, 0.0], [0.0, math.inf]])
    expected = F.multi_margin_loss(infinite, torch.tensor([0, 0, 0]), reduction="none")
    actual = run(backend, "multi_margin_loss", infinite, torch.tensor([0, 0, 0]), reduction="none")
    assert_same(actual, expected, VALUE_TOL[torch.float32])


@pytest.mark.parametrize("p", [1, 2])
def test_multi_margin_loss_gradients_match_pytorch(p):
    """Including scores exactly on the hinge, where PyTorch's gradient is 0."""
    for dtype in [torch.float32, torch.float64]:
        weight = torch.tensor([1.0, 2.0, 0.5, 3.0, 0.25], dtype=dtype)
        for x, target in multi_margin_cases(dtype)[:-1]:
            for w in [None, weight]:
                for reduction in REDUCTIONS:
                    kwargs = dict(p=p, margin=1.0, weight=w, reduction=reduction)
                    grads = []
                    for loss in (F.multi_margin_loss, xt.multi_margin_loss):
                        leaf = x.clone().requires_grad_(True)
                        output = loss(leaf, target, **kwargs)
                        (grad,) = torch.autograd.grad(output, leaf, torch.ones_like(output))
                        grads.append(grad)
                    context = (dtype, tuple(x.shape), w is None, reduction)
                    assert_same(grads[1], grads[0], GRAD_TOL[dtype], context)


# --- losses without a PyTorch twin ----------------------------------------------------


def hinge_formula(s, y, margin=1.0):
    return torch.clamp(margin - y * s, min=0)


def squared_hinge_formula(s, y, margin=1.0):
    return torch.clamp(margin - y * s, min=0) ** 2


def exponential_formula(s, y):
    return torch.exp(-y * s)


def msle_formula(x, y):
    return (torch.log1p(x) - torch.log1p(y)) ** 2


NON_TWINS = [
    ("hinge_loss", {}, hinge_formula),
    ("hinge_loss", {"margin": 0.5}, hinge_formula),
    ("squared_hinge_loss", {}, squared_hinge_formula),
    ("squared_hinge_loss", {"margin": 2.0}, squared_hinge_formula),
    ("exponential_loss", {}, exponential_formula),
    ("msle_loss", {}, msle_formula),
]
NON_TWIN_IDS = [case_id(case[:2]) for case in NON_TWINS]


def non_twin_arguments(name, shape, dtype, seed=0):
    """Scores and labels that stay off the hinges, or positive values for msle."""
    if name == "msle_loss":
        x = torch.tensor(np.random.default_rng(seed).gamma(2.0, size=shape), dtype=dtype)
        y = torch.tensor(np.random.default_rng(seed + 1).gamma(2.0, size=shape), dtype=dtype)
        return x, y
    scores = np.random.default_rng(seed).uniform(-3, 3, size=shape).round(1) + 0.05
    return torch.tensor(scores, dtype=dtype), labels(shape, dtype, seed)


def reduce(loss, reduction):
    return {"none": loss, "mean": loss.mean(), "sum": loss.sum()}[reduction]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("name", "kwargs", "formula"), NON_TWINS, ids=NON_TWIN_IDS)
def test_losses_without_twin_match_their_formula(backend, name, kwargs, formula):
    """The formula is evaluated in float64 and rounded to the dtype under test."""
    for dtype in DTYPES:
        for shape in SHAPES:
            x, y = non_twin_arguments(name, shape, dtype)
            for reduction in REDUCTIONS:
                exact = reduce(formula(x.double(), y.double(), **kwargs), reduction)
                actual = run(backend, name, x, y, reduction=reduction, **kwargs)
                assert_same(actual, exact.to(dtype), VALUE_TOL[dtype], (dtype, shape, reduction))


@pytest.mark.parametrize(("name", "kwargs", "formula"), NON_TWINS, ids=NON_TWIN_IDS)
def test_losses_without_twin_have_autograd_gradients(name, kwargs, formula):
    for dtype in [torch.float32, torch.float64]:
        x, y = non_twin_arguments(name, (4, 5), dtype, seed=6)
        for reduction in REDUCTIONS:
            leaves = [x.clone().requires_grad_(True), y.clone().requires_grad_(True)]
            output = reduce(formula(*leaves, **kwargs), reduction)
            expected = torch.autograd.grad(output, leaves, torch.ones_like(output))
            leaves = [x.clone().requires_grad_(True), y.clone().requires_grad_(True)]
            output = getattr(xt, name)(*leaves, reduction=reduction, **kwargs)
            actual = torch.autograd.grad(output, leaves, torch.ones_like(output))
            for actual_grad, expected_grad in zip(actual, expected, strict=True):
                assert_same(actual_grad, expected_grad, GRAD_TOL[dtype], (dtype, reduction))


def test_hinge_gradient_is_zero_on_the_hinge():
    """At y s = margin the hinge has no derivative; xent takes 0, as PyTorch's multi_margin_loss."""
    s = torch.tensor([1.0, -1.0, 0.5], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([1.0, -1.0, 1.0], dtype=torch.float64)
    xt.hinge_loss(s, y, reduction="sum").backward()
    np.testing.assert_array_equal(s.grad.numpy(), [0.0, 0.0, -1.0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_losses_without_twin_at_extremes(backend):
    inf, nan = math.inf, math.nan
    s = torch.tensor([inf, -inf, nan, 1e4, -1e4], dtype=torch.float64)
    y = torch.tensor([1.0, 1.0, 1.0, -1.0, -1.0], dtype=torch.float64)
    expected = {
        "hinge_loss": [0.0, inf, nan, 1e4 + 1, 0.0],
        "squared_hinge_loss": [0.0, inf, nan, (1e4 + 1) ** 2, 0.0],
        "exponential_loss": [0.0, inf, nan, inf, 0.0],
    }
    for name, values in expected.items():
        actual = run(backend, name, s, y, reduction="none")
        assert_same(actual, torch.tensor(values, dtype=torch.float64), VALUE_TOL[torch.float64])
    x = torch.tensor([inf, 0.0, nan, -0.5, 1e300], dtype=torch.float64)
    t = torch.tensor([0.0, inf, 0.0, -0.5, 0.0], dtype=torch.float64)
    expected = torch.tensor([inf, inf, nan, 0.0, math.log1p(1e300) ** 2], dtype=torch.float64)
    actual = run(backend, "msle_loss", x, t, reduction="none")
    assert_same(actual, expected, VALUE_TOL[torch.float64])


# --- properties ---------------------------------------------------------------------

finite = st.floats(-50.0, 50.0, allow_nan=False)
shapes = hnp.array_shapes(min_dims=1, max_dims=2, max_side=6)


@st.composite
def scores_and_labels(draw):
    shape = draw(shapes)
    s = draw(hnp.arrays(np.float64, shape, elements=finite))
    y = draw(hnp.arrays(np.float64, shape, elements=st.sampled_from([-1.0, 1.0])))
    return s, y


@st.composite
def inputs_and_targets(draw):
    shape = draw(shapes)
    return tuple(draw(hnp.arrays(np.float64, shape, elements=finite)) for _ in range(2))


def both(name, *arrays, **kwargs):
    """xent.numpy.<name> and xent.torch.<name> on float64 arrays, as NumPy arrays."""
    from_torch = getattr(xt, name)(*map(torch.from_numpy, arrays), **kwargs).numpy()
    return [getattr(xn, name)(*arrays, **kwargs), from_torch]


@SETTINGS
@given(inputs_and_targets(), st.sampled_from([0.25, 1.0, 3.0]))
def test_regression_identities(arrays, delta):
    x, y = arrays
    for huber, smooth_l1 in zip(
        both("huber_loss", x, y, delta=delta, reduction="none"),
        both("smooth_l1_loss", x, y, beta=delta, reduction="none"),
        strict=True,
    ):
        np.testing.assert_allclose(huber, delta * smooth_l1, rtol=1e-13, atol=1e-300)
    for l1, smooth_l1 in zip(
        both("l1_loss", x, y, reduction="none"),
        both("smooth_l1_loss", x, y, beta=0.0, reduction="none"),
        strict=True,
    ):
        np.testing.assert_array_equal(l1, smooth_l1)
    l1_none = both("l1_loss", x, y, reduction="none")
    for mse, l1 in zip(both("mse_loss", x, y), l1_none, strict=True):
        np.testing.assert_allclose(mse, np.mean(l1**2), rtol=1e-13)
    positive_x, positive_y = np.abs(x), np.abs(y)
    for msle, mse in zip(
        both("msle_loss", positive_x, positive_y),
        both("mse_loss", np.log1p(positive_x), np.log1p(positive_y)),
        strict=True,
    ):
        np.testing.assert_allclose(msle, mse, rtol=1e-13)


@SETTINGS
@given(scores_and_labels(), st.sampled_from([0.5, 1.0, 2.0]))
def test_margin_identities(arrays, margin):
    s, y = arrays
    softplus = xn.softplus(-y * s, threshold=math.inf)
    for soft_margin in both("soft_margin_loss", s, y, reduction="none"):
        np.testing.assert_allclose(soft_margin, softplus, rtol=1e-14)
        np.testing.assert_allclose(soft_margin, -xn.logsigmoid(y * s), rtol=1e-14)
    hinges = both("hinge_loss", s, y, margin=margin, reduction="none")
    squared = both("squared_hinge_loss", s, y, margin=margin, reduction="none")
    for hinge, squared_hinge in zip(hinges, squared, strict=True):
        np.testing.assert_allclose(squared_hinge, hinge**2, rtol=1e-14)
    for exponential, hinge in zip(
        both("exponential_loss", s, y, reduction="none"),
        both("hinge_loss", s, y, reduction="none"),
        strict=True,
    ):
        assert (exponential >= hinge).all()  # exp(-z) >= max(0, 1 - z)
    for embedding in both("hinge_embedding_loss", s, np.ones_like(s), reduction="sum"):
        np.testing.assert_allclose(embedding, s.sum(), rtol=1e-13, atol=1e-12)


# --- bad input ----------------------------------------------------------------------

LABEL_LOSSES = ["soft_margin_loss", "hinge_embedding_loss", "hinge_loss", "squared_hinge_loss"]
LABEL_LOSSES += ["exponential_loss"]
ELEMENTWISE = ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "msle_loss"] + LABEL_LOSSES
BROADCASTING = ["soft_margin_loss", "hinge_embedding_loss"]  # and any real target, as PyTorch


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ELEMENTWISE)
def test_elementwise_losses_refuse_bad_arrays_and_reductions(backend, name):
    ones = torch.ones(2, 3, dtype=torch.float64)
    if name in BROADCASTING:  # as PyTorch
        with pytest.raises(ValueError, match=r"target of shape \(4,\) do(es)? not broadcast"):
            run(backend, name, ones, torch.ones(4, dtype=torch.float64))
    else:
        with pytest.raises(
            ValueError, match=r"same shape; got input \(2, 3\) and target \(3,\)"
        ):  # PyTorch would broadcast
            run(backend, name, ones, torch.ones(3, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"reduction must be one of .*; got 'avg'"):
        run(backend, name, ones, ones, reduction="avg")
    with pytest.raises(TypeError, match="target must have dtype .*int64"):
        run(backend, name, ones, torch.ones(2, 3, dtype=torch.int64))
    module, wrong = (xn, torch.ones(3)) if backend == "numpy" else (xt, np.ones(3))
    with pytest.raises(TypeError, match=f"input must be a .*; got {type(wrong).__name__}"):
        getattr(module, name)(wrong, wrong)
    with pytest.raises(TypeError, match="got list"):
        getattr(module, name)([1.0], [1.0])


BAD_PARAMETERS = [
    ("smooth_l1_loss", {"beta": -1.0}, ValueError, r"beta must be in \[0, inf\); got -1.0"),
    ("smooth_l1_loss", {"beta": math.nan}, ValueError, r"beta must be in \[0, inf\); got nan"),
    ("smooth_l1_loss", {"beta": math.inf}, ValueError, r"beta must be in \[0, inf\); got inf"),
    ("huber_loss", {"delta": 0.0}, ValueError, r"delta must be in \(0, inf\); got 0.0"),
    ("huber_loss", {"delta": -2.0}, ValueError, r"delta must be in \(0, inf\); got -2.0"),
    ("huber_loss", {"delta": "1"}, TypeError, r"delta must be a real number; got str"),
    ("hinge_embedding_loss", {"margin": math.nan}, ValueError, r"margin .* finite .*; got nan"),
    ("hinge_loss", {"margin": math.inf}, ValueError, r"margin .* finite .*; got inf"),
    ("squared_hinge_loss", {"margin": None}, TypeError, r"margin must be a real number"),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("name", "kwargs", "error", "message"), BAD_PARAMETERS)
def test_bad_parameters_are_refused(backend, name, kwargs, error, message):
    ones = torch.ones(3, dtype=torch.float64)
    with pytest.raises(error, match=message):
        run(backend, name, ones, ones, **kwargs)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", [name for name in LABEL_LOSSES if name not in BROADCASTING])
def test_labels_other_than_plus_minus_one_are_refused(backend, name):
    """The losses without a PyTorch twin accept only the labels -1 and 1."""
    s = torch.zeros(2, 3, dtype=torch.float64)
    for bad in [0.0, 0.5, math.nan, 2.0, -math.inf]:
        y = torch.ones(2, 3, dtype=torch.float64)
        y[1, 2] = bad
        message = rf"labels -1 and 1; got {bad!r} at index \(1, 2\)"
        with pytest.raises(ValueError, match=message):
            run(backend, name, s, y)


@pytest.mark.parametrize("backend", BACKENDS)
def test_msle_refuses_values_at_or_below_minus_one(backend):
    ok = torch.zeros(4, dtype=torch.float64)
    bad_values = [("input", -1.0), ("input", -2.5), ("target", -1.0), ("input", -math.inf)]
    for argument, value in bad_values:
        bad = ok.clone()
        bad[3] = value
        x, y = (bad, ok) if argument == "input" else (ok, bad)
        message = rf"{argument} must be > -1 everywhere; got {value!r} at index \(3,\)"
        with pytest.raises(ValueError, match=message):
            run(backend, "msle_loss", x, y)


MULTI_MARGIN_ERRORS = [
    ({"p": 3}, None, ValueError, r"p must be 1 or 2; got 3"),
    ({"p": True}, None, ValueError, r"p must be 1 or 2; got True"),
    ({"margin": math.nan}, None, ValueError, r"margin must be a finite real number; got nan"),
    ({"reduction": "max"}, None, ValueError, r"reduction must be one of .*; got 'max'"),
    ({}, torch.tensor([0.0, 1.0, 2.0]), TypeError, r"target must hold class indices .*float"),
    ({}, torch.tensor([0, 1]), ValueError, r"target must have shape \(3,\) .*got .*\(2,\)"),
    ({}, torch.tensor([[0], [1], [2]]), ValueError, r"target must have shape \(3,\)"),
    ({}, torch.tensor([0, 4, 1]), IndexError, r"class indices in \[0, 3\]; got 4"),
    ({}, torch.tensor([0, -1, 1]), IndexError, r"class indices in \[0, 3\]; got -1"),
    ({"weight": torch.ones(3, dtype=torch.float64)}, None, ValueError, r"shape \(4,\).*\(3,\)"),
    ({"weight": torch.ones(4)}, None, TypeError, r"weight must have the dtype of input"),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("kwargs", "target", "error", "message"), MULTI_MARGIN_ERRORS)
def test_multi_margin_loss_refuses_bad_arguments(backend, kwargs, target, error, message):
    x = torch.zeros(3, 4, dtype=torch.float64)
    target = torch.tensor([0, 1, 3]) if target is None else target
    with pytest.raises(error, match=message):
        run(backend, "multi_margin_loss", x, target, **kwargs)


@pytest.mark.parametrize("backend", BACKENDS)
def test_multi_margin_loss_refuses_bad_input_shapes(backend):
    for shape, target in [((2, 3, 4), torch.tensor([0, 1])), ((2, 0), None)]:
        target = torch.zeros(2, dtype=torch.long) if target is None else target
        with pytest.raises(ValueError, match="input must "):
            run(backend, "multi_margin_loss", torch.zeros(shape, dtype=torch.float64), target)
    with pytest.raises(ValueError, match=r"target must have shape \(\) or \(1,\)"):
        run(backend, "multi_margin_loss", torch.zeros(4, dtype=torch.float64), torch.tensor([0, 1]))


@pytest.mark.parametrize("backend", BACKENDS)
def test_multi_margin_loss_reads_a_0d_input_as_one_sample_of_one_class(backend):
    """As PyTorch: loss 0 (no wrong class), of the target's shape; class 1 is out of range."""
    x = torch.tensor(2.5, dtype=torch.float64, requires_grad=True)
    for target in [torch.tensor(0), torch.tensor([0])]:
        for reduction in REDUCTIONS:
            expected = F.multi_margin_loss(x, target, reduction=reduction)
            actual = run(backend, "multi_margin_loss", x, target, reduction=reduction)
            assert_same(actual, expected, VALUE_TOL[torch.float64])
    with pytest.raises(IndexError, match=r"class indices in \[0, 0\]; got 1"):
        run(backend, "multi_margin_loss", x, torch.tensor(1))


def test_torch_backend_builds_losses_from_elementary_ops(monkeypatch):
    """Forward and backward pass with every public torch.nn.functional function disabled."""

    def forbidden(*args, **kwargs):
        raise AssertionError("xent.torch called a torch.nn.functional function")

    for name in dir(F):
        if not name.startswith("_") and callable(getattr(F, name)):
            monkeypatch.setattr(F, name, forbidden)
    for name in ["sigmoid", "tanh", "relu"]:
        monkeypatch.setattr(torch, name, forbidden)
    x = sample((4, 5), torch.float64).requires_grad_(True)
    y, signs = sample((4, 5), torch.float64, seed=1), labels((4, 5), torch.float64)
    outputs = [getattr(xt, name)(x, y, **kwargs) for name, kwargs in REGRESSION_TWINS]
    outputs += [getattr(xt, name)(x, signs) for name in LABEL_LOSSES]
    outputs += [xt.msle_loss(x.abs(), y.abs()), xt.multi_margin_loss(x, torch.tensor([0, 1, 2, 3]))]
    sum(outputs).backward()
    assert torch.isfinite(x.grad).all()
