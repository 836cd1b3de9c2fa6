"""Tests of softmax, log_softmax and logsumexp in xent.numpy and xent.torch (Chapters 4, 5).

PyTorch is the oracle: values, shapes, dtypes and gradients must match
``torch.softmax``, ``torch.log_softmax`` and ``torch.logsumexp``. Extreme inputs
live in test_extremes.py and accuracy against mpmath in test_accuracy.py.
"""

import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import xent.numpy as xn
import xent.torch as xt
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

BACKENDS = {"numpy": xn, "torch": xt}
DTYPES = [np.float16, np.float32, np.float64]
TOL = {
    np.float16: dict(rtol=2e-3, atol=1e-3),
    np.float32: dict(rtol=2e-6, atol=1e-6),
    np.float64: dict(rtol=1e-13, atol=1e-15),
}
SHAPES_AND_DIMS = [((7,), 0), ((7,), -1), ((4, 6), 0), ((4, 6), 1), ((4, 6), -1)] + [
    ((2, 3, 4, 5), d) for d in (0, 1, 2, 3, -2)
]
SETTINGS = settings(max_examples=20, deadline=None)
TORCH_NORMALISERS = {
    "softmax": F.softmax,
    "log_softmax": F.log_softmax,
    "logsumexp": torch.logsumexp,
}


def native(backend, array):
    """The array as the backend takes it: a NumPy array or a torch tensor."""
    return torch.from_numpy(array) if backend == "torch" else array


def as_numpy(result):
    return result.detach().numpy() if isinstance(result, torch.Tensor) else result


def check_matches_torch(ours, theirs, dtype):
    """Same shape and dtype as PyTorch's result, and the same values within TOL."""
    ours, theirs = as_numpy(ours), theirs.detach().numpy()
    assert ours.shape == theirs.shape
    assert ours.dtype == theirs.dtype == dtype
    np.testing.assert_allclose(ours, theirs, **TOL[dtype])


def assert_close(ours, theirs, **tolerance):
    """Tensors of the same dtype and shape, equal within the tolerance (NaN equal to NaN).

    (np.testing rather than torch.testing, whose first call spends seconds importing.)
    """
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), **tolerance)


@pytest.fixture
def rng():
    return np.random.default_rng(20240605)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("shape, dim", SHAPES_AND_DIMS)
@pytest.mark.parametrize("name", TORCH_NORMALISERS)
def test_matches_pytorch(backend, dtype, shape, dim, name, rng):
    x = (rng.standard_normal(shape) * 4).astype(dtype)
    ours = getattr(BACKENDS[backend], name)(native(backend, x), dim)
    check_matches_torch(ours, TORCH_NORMALISERS[name](torch.from_numpy(x), dim), dtype)


@pytest.mark.parametrize("name", TORCH_NORMALISERS)
def test_torch_backend_takes_bfloat16(name, rng):
    x = torch.from_numpy(rng.standard_normal((4, 6)) * 4).bfloat16()
    ours, theirs = getattr(xt, name)(x, 1), TORCH_NORMALISERS[name](x, 1)
    assert ours.dtype == theirs.dtype == torch.bfloat16
    assert_close(ours.float(), theirs.float(), rtol=1e-2, atol=1e-2)  # bfloat16: 8 bits


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dim", [(0, 2), (3, 1), (-1, 0, 2), [1, 2, 3], (0, 1, 2, 3)])
@pytest.mark.parametrize("keepdim", [False, True])
def test_logsumexp_over_several_dims(backend, dim, keepdim, rng):
    x = rng.standard_normal((2, 3, 4, 5)) * 10
    ours = BACKENDS[backend].logsumexp(native(backend, x), dim, keepdim=keepdim)
    theirs = torch.logsumexp(torch.from_numpy(x), dim, keepdim=keepdim)
    check_matches_torch(ours, theirs, np.float64)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", TORCH_NORMALISERS)
@pytest.mark.parametrize("dim", [0, -1])
def test_zero_dimensional_input(backend, name, dim):
    x = np.array(2.5)
    ours = getattr(BACKENDS[backend], name)(native(backend, x), dim)
    theirs = TORCH_NORMALISERS[name](torch.from_numpy(x), dim)
    check_matches_torch(ours, theirs, np.float64)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", TORCH_NORMALISERS)
@pytest.mark.parametrize("shape, dim", [((0, 5), 1), ((0, 5), 0), ((3, 0), 1), ((3, 0), 0)])
def test_empty_input(backend, name, shape, dim):
    x = np.zeros(shape)
    ours = getattr(BACKENDS[backend], name)(native(backend, x), dim)
    theirs = TORCH_NORMALISERS[name](torch.from_numpy(x), dim)
    check_matches_torch(ours, theirs, np.float64)  # logsumexp over nothing is -inf


@pytest.mark.parametrize("name", TORCH_NORMALISERS)
@pytest.mark.parametrize("shape, dim", [((5,), 0), ((3, 5), 1), ((2, 4, 3), 1), ((2, 4, 3), 2)])
def test_torch_gradients_match_pytorch(name, shape, dim, rng):
    x = torch.from_numpy(rng.standard_normal(shape) * 3)
    ours_x, theirs_x = x.clone().requires_grad_(), x.clone().requires_grad_()
    ours = getattr(xt, name)(ours_x, dim)
    theirs = TORCH_NORMALISERS[name](theirs_x, dim)
    upstream = torch.from_numpy(rng.standard_normal(tuple(theirs.shape)))
    (ours * upstream).sum().backward()
    (theirs * upstream).sum().backward()
    assert_close(ours_x.grad, theirs_x.grad, rtol=1e-12, atol=1e-14)


def test_torch_gradients_with_tied_maxima():
    # The maximum is taken from one entry; ties must not disturb the derivative.
    x = torch.tensor([[2.0, 2.0, 1.0, 2.0], [0.0, 0.0, 0.0, 0.0]], dtype=torch.float64)
    for name in TORCH_NORMALISERS:
        ours_x, theirs_x = x.clone().requires_grad_(), x.clone().requires_grad_()
        weights = torch.arange(1.0, 5.0, dtype=torch.float64)
        ours, theirs = getattr(xt, name)(ours_x, 1), TORCH_NORMALISERS[name](theirs_x, 1)
        (ours * (weights if ours.ndim == 2 else 1)).sum().backward()
        (theirs * (weights if theirs.ndim == 2 else 1)).sum().backward()
        assert_close(ours_x.grad, theirs_x.grad, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", TORCH_NORMALISERS)
def test_torch_gradcheck(name, rng):
    x = torch.from_numpy(rng.standard_normal((3, 4))).requires_grad_()
    assert torch.autograd.gradcheck(lambda x: getattr(xt, name)(x, 1), (x,))


def test_torch_logsumexp_gradient_over_several_dims(rng):
    x = torch.from_numpy(rng.standard_normal((2, 3, 4)))
    ours_x, theirs_x = x.clone().requires_grad_(), x.clone().requires_grad_()
    xt.logsumexp(ours_x, (0, 2)).sum().backward()
    torch.logsumexp(theirs_x, (0, 2)).sum().backward()
    assert_close(ours_x.grad, theirs_x.grad, rtol=1e-12, atol=1e-14)


def test_torch_backend_builds_them_from_elementary_ops(monkeypatch, rng):
    """Fail if xent.torch reaches for PyTorch's own softmax, log_softmax or logsumexp."""

    def forbidden(*args, **kwargs):
        raise AssertionError("xent.torch called a PyTorch normaliser")

    for owner, names in [
        (F, ["softmax", "log_softmax", "softmin"]),
        (torch, ["softmax", "log_softmax", "logsumexp"]),
        (torch.Tensor, ["softmax", "log_softmax", "logsumexp"]),
        (torch.special, ["softmax", "log_softmax", "logsumexp"]),
    ]:
        for name in names:
            monkeypatch.setattr(owner, name, forbidden)
    x = torch.from_numpy(rng.standard_normal((3, 4))).requires_grad_()
    total = xt.softmax(x, 1).sum() + xt.log_softmax(x, 1).sum() + xt.logsumexp(x, 1).sum()
    total.backward()
    assert x.grad is not None


def test_numpy_backend_never_imports_torch():
    code = (
        "import sys, numpy as np, xent.numpy as xn\n"
        "xn.log_softmax(np.zeros((2, 3)), 1)\n"
        "assert 'torch' not in sys.modules, 'xent.numpy imported torch'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_numpy_backend_raises_no_warnings(rng):
    x = rng.standard_normal((4, 6)) * 1e3
    x[0] = -np.inf
    x[1, 2] = np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in TORCH_NORMALISERS:
            getattr(xn, name)(x, 1)


# --- properties (hypothesis) -------------------------------------------------

finite_logits = hnp.arrays(
    np.float64,
    hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=8),
    elements=st.floats(-300, 300, allow_nan=False, allow_infinity=False),
)


@SETTINGS
@given(x=finite_logits)
@pytest.mark.parametrize("backend", BACKENDS)
def test_softmax_is_a_distribution(backend, x):
    p = as_numpy(BACKENDS[backend].softmax(native(backend, x), 1))
    assert np.all(p >= 0) and np.all(p <= 1)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-14 * x.shape[1])


@SETTINGS
@given(x=finite_logits, shift=st.floats(-1e3, 1e3))
@pytest.mark.parametrize("backend", BACKENDS)
def test_softmax_is_shift_invariant(backend, x, shift):
    # x + shift is rounded, so compare on inputs that shift exactly: multiples of 2^-20.
    x = np.round(x * 2**20) / 2**20
    shift = round(shift * 2**20) / 2**20
    module = BACKENDS[backend]
    p = as_numpy(module.softmax(native(backend, x), 1))
    p_shifted = as_numpy(module.softmax(native(backend, x + shift), 1))
    np.testing.assert_allclose(p_shifted, p, rtol=1e-13, atol=1e-300)


@SETTINGS
@given(x=finite_logits)
@pytest.mark.parametrize("backend", BACKENDS)
def test_log_softmax_is_at_most_zero_and_logsumexp_at_least_max(backend, x):
    module = BACKENDS[backend]
    assert np.all(as_numpy(module.log_softmax(native(backend, x), 1)) <= 0)
    assert np.all(as_numpy(module.logsumexp(native(backend, x), 1)) >= x.max(axis=1))


@SETTINGS
@given(x=finite_logits)
@pytest.mark.parametrize("backend", BACKENDS)
def test_log_softmax_is_x_minus_logsumexp(backend, x):
    module = BACKENDS[backend]
    log_p = as_numpy(module.log_softmax(native(backend, x), 1))
    lse = as_numpy(module.logsumexp(native(backend, x), 1, keepdim=True))
    np.testing.assert_allclose(log_p, x - lse, rtol=1e-13, atol=1e-13 * np.abs(lse).max())


@SETTINGS
@given(
    a=st.floats(-40, 40, allow_nan=False),
    b=st.floats(-40, 40, allow_nan=False),
)
@pytest.mark.parametrize("backend", BACKENDS)
def test_two_class_softmax_is_sigmoid_of_the_difference(backend, a, b):
    p = as_numpy(BACKENDS[backend].softmax(native(backend, np.array([a, b])), 0))
    d = a - b
    np.testing.assert_allclose(p[0], 1 / (1 + np.exp(-d)), rtol=1e-13)


# --- bad input ---------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", TORCH_NORMALISERS)
def test_refuses_what_is_not_an_array_of_floats(backend, name):
    module = BACKENDS[backend]
    function = getattr(module, name)
    foreign = torch.zeros(3) if backend == "numpy" else np.zeros(3)
    with pytest.raises(TypeError, match="input must be a .*; got list"):
        function([1.0, 2.0], 0)
    with pytest.raises(TypeError, match="got (Tensor|ndarray)"):
        function(foreign, 0)
    with pytest.raises(TypeError, match="got float"):
        function(1.5, 0)
    integers = np.arange(3)
    with pytest.raises(TypeError, match="dtype .*int64"):
        function(native(backend, integers), 0)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", TORCH_NORMALISERS)
def test_refuses_a_dim_out_of_range(backend, name):
    x = native(backend, np.zeros((2, 3)))
    function = getattr(BACKENDS[backend], name)
    with pytest.raises(IndexError, match=r"dim 2 is out of range .* valid dims are -2\.\.1"):
        function(x, 2)
    with pytest.raises(IndexError, match=r"dim -3 is out of range"):
        function(x, -3)
    with pytest.raises(TypeError, match="dim must be an int"):
        function(x, 1.0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_logsumexp_refuses_repeated_or_no_dims(backend):
    x = native(backend, np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"dim \(1, -1\) names the same dimension twice"):
        BACKENDS[backend].logsumexp(x, (1, -1))
    with pytest.raises(ValueError, match="dim must name at least one dimension"):
        BACKENDS[backend].logsumexp(x, ())


@pytest.mark.parametrize("backend", BACKENDS)
def test_softmax_refuses_a_tuple_of_dims(backend):
    with pytest.raises(TypeError, match=r"dim must be a single int here; got \(0, 1\)"):
        BACKENDS[backend].softmax(native(backend, np.zeros((2, 3))), (0, 1))


def test_large_inputs_shared_among_threads_give_the_single_thread_result(monkeypatch):
    """xent.numpy splits an input of 2**20 or more elements among threads, a block of
    rows each: the result is the same, bit for bit, and matches PyTorch."""
    import xent.numpy.normalisers as normalisers

    x = np.random.default_rng(5).standard_normal((1100, 1000)).astype(np.float32) * 3
    x[5, 3], x[7, :], x[9, 2] = np.inf, -np.inf, np.nan  # NaN rows, as in PyTorch
    t = np.arange(1100) % 1000
    assert x.size >= normalisers.PARALLEL_ELEMENTS
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no NumPy warning from a worker thread either
        threaded = [xn.log_softmax(x, 1), xn.softmax(x, 1), xn.logsumexp(x, 1)]
        threaded.append(xn.cross_entropy(x, t, reduction="none"))
    monkeypatch.setattr(normalisers, "PARALLEL_ELEMENTS", 2**62)
    single = [xn.log_softmax(x, 1), xn.softmax(x, 1), xn.logsumexp(x, 1)]
    single.append(xn.cross_entropy(x, t, reduction="none"))
    for a, b in zip(threaded, single, strict=True):
        np.testing.assert_array_equal(a, b)
    expected = F.log_softmax(torch.from_numpy(x), 1).numpy()
    np.testing.assert_allclose(threaded[0], expected, rtol=1e-5, atol=1e-5)
