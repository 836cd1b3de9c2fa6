"""Extreme logits: nothing overflows, and every result equals PyTorch's (Chapter 5).

Logits of +-1e4 and +-3e38 (where even x - max overflows in float32), -inf entries
(masking), rows that are all -inf, +inf and NaN entries, and float16 logits above
11, where exp already overflows float16's largest value, 65504. Every value, inf
and NaN must be where PyTorch puts it; xent.numpy must raise no RuntimeWarning.
"""

import functools
import itertools
import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import xent.numpy as xn
import xent.torch as xt

BACKENDS = {"numpy": xn, "torch": xt}
TOL = {
    np.float16: dict(rtol=2e-3, atol=1e-3),
    np.float32: dict(rtol=1e-6, atol=1e-6),
    np.float64: dict(rtol=1e-13, atol=1e-13),
}
inf, nan = math.inf, math.nan

# Rows of logits for each dtype; every row has 4 classes.
ROWS = {
    np.float64: [
        [1e4, -1e4, 0.0, 1.0],
        [1e4, 1e4 - 1, -1e4, 1e4],
        [-1e4, -1e4 + 0.5, -1e4 + 1, -1e4],
        [3e38, -3e38, 0.0, 3e38],
        [1.7e308, -1.7e308, 1.0, 0.0],  # x - max overflows float64
        [0.0, -inf, 1.0, -inf],  # masked entries
        [-inf, -inf, -inf, -inf],  # everything masked
        [-inf, 3.0, -inf, -inf],
        [inf, 0.0, 1.0, -inf],
        [nan, 0.0, 1.0, 2.0],
        [-inf, nan, -inf, -inf],
    ],
    np.float32: [
        [1e4, -1e4, 0.0, 1.0],
        [3e38, -3e38, 0.0, 1.0],  # x - max overflows float32
        [3.4e38, 3.4e38, -3.4e38, 1e38],
        [-3e38, -3e38, -3e38, -3e38],
        [-3e38, -inf, 1.0, -3e38],
        [-inf, -inf, -inf, -inf],
        [inf, -inf, 1.0, 2.0],
        [nan, -inf, 1.0, 2.0],
    ],
    np.float16: [
        [12.0, 11.5, -3.0, 0.0],  # exp(12) = 162755 > 65504
        [60000.0, -60000.0, 0.0, 1.0],
        [65504.0, 65504.0, -65504.0, 0.0],
        [-60000.0, -60000.0, -59904.0, -inf],
        [11.1, 11.1, 11.1, 11.1],
        [-inf, -inf, -inf, -inf],
        [inf, 0.0, 0.0, 0.0],
        [nan, 0.0, 0.0, 0.0],
    ],
}
DTYPES = list(ROWS)


def logits(dtype):
    with warnings.catch_warnings():  # the float literals are exact or round to inf on purpose
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.array(ROWS[dtype], dtype=np.float64).astype(dtype)


def native(backend, array):
    return torch.from_numpy(array) if backend == "torch" and array is not None else array


def as_numpy(result):
    return result.detach().numpy() if isinstance(result, torch.Tensor) else np.asarray(result)


def check(ours, pytorch, args, dtype, label=""):
    """``ours`` equals ``pytorch(*args)`` within the dtype's tolerance, infs and NaNs included.

    xent computes float16 in float32 and rounds once at the end, so its float16
    results are compared with PyTorch's in float32, rounded to float16: where a
    logit gap exceeds 65504, PyTorch's float16 log_softmax overflows to -inf on the
    way and turns a finite loss (say 6000) into inf. NaNs must still sit where
    PyTorch's own float16 computation puts them.
    """
    tensors = [torch.from_numpy(a) if isinstance(a, np.ndarray) else a for a in args]
    theirs = pytorch(*tensors).detach().numpy()
    ours = as_numpy(ours)
    assert ours.dtype == theirs.dtype == dtype, label
    assert ours.shape == theirs.shape, label
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs), err_msg=f"NaN: {label}")
    if dtype == np.float16:
        in_float32 = [
            t.float() if isinstance(t, torch.Tensor) and t.is_floating_point() else t
            for t in tensors
        ]
        with np.errstate(over="ignore"):
            theirs = pytorch(*in_float32).detach().numpy().astype(np.float16)
    np.testing.assert_allclose(ours, theirs, **TOL[dtype], err_msg=label)


def assert_close(ours, theirs, **tolerance):
    """Tensors of the same dtype and shape, equal within the tolerance (NaN equal to NaN).

    (np.testing rather than torch.testing, whose first call spends seconds importing.)
    """
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), **tolerance)


@pytest.fixture
def no_warnings():
    """Turn every warning into an error: xent.numpy must not trip overflow or invalid."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("name", ["softmax", "log_softmax", "logsumexp"])
def test_normalisers(backend, dtype, name, no_warnings):
    x = logits(dtype)
    theirs_function = torch.logsumexp if name == "logsumexp" else getattr(F, name)
    for dim in (1, 0):
        ours = getattr(BACKENDS[backend], name)(native(backend, x), dim)
        check(ours, theirs_function, (x, dim), dtype, f"{dim=}")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_cross_entropy_for_every_target(backend, dtype, no_warnings):
    x = logits(dtype)
    weight = np.array([1.0, 0.5, 2.0, 0.0], dtype=dtype)
    for target_class, w, smoothing in itertools.product(range(4), [None, weight], [0.0, 0.1]):
        t = np.full(len(x), target_class)
        kwargs = dict(reduction="none", label_smoothing=smoothing)
        ours = BACKENDS[backend].cross_entropy(
            native(backend, x), native(backend, t), native(backend, w), **kwargs
        )
        label = f"{target_class=} weighted={w is not None} {smoothing=}"
        check(ours, functools.partial(F.cross_entropy, **kwargs), (x, t, w), dtype, label)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_cross_entropy_reductions_and_probability_targets(backend, dtype, no_warnings):
    x = logits(dtype)
    finite_rows = np.isfinite(x).all(axis=1)
    t = np.argmin(x, axis=1)  # the least likely class: the largest losses
    probabilities = np.full(x.shape, 0.25, dtype=dtype)
    for reduction in ["none", "mean", "sum"]:
        for target in [t, probabilities]:
            for rows in [finite_rows, slice(None)]:
                ours = BACKENDS[backend].cross_entropy(
                    native(backend, x[rows]), native(backend, target[rows]), reduction=reduction
                )
                check(
                    ours,
                    functools.partial(F.cross_entropy, reduction=reduction),
                    (x[rows], target[rows]),
                    dtype,
                    f"{reduction=} target dtype {target.dtype}",
                )


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_cross_entropy_gradient_at_extreme_finite_logits(dtype):
    x = torch.from_numpy(logits(dtype))
    rows = torch.isfinite(x).all(dim=1)
    x = x[rows]
    t = torch.from_numpy(np.argmin(x.numpy(), axis=1))
    ours_x, theirs_x = x.clone().requires_grad_(), x.clone().requires_grad_()
    (ours,) = torch.autograd.grad(xt.cross_entropy(ours_x, t, label_smoothing=0.1), ours_x)
    (theirs,) = torch.autograd.grad(F.cross_entropy(theirs_x, t, label_smoothing=0.1), theirs_x)
    assert torch.isfinite(ours).all()
    assert_close(ours, theirs, **TOL[dtype])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
def test_binary_cross_entropy_with_logits(backend, dtype, no_warnings):
    x = logits(dtype)
    y = np.tile(np.array([0.0, 1.0, 0.5, 1.0], dtype=dtype), (len(x), 1))
    pos_weight = np.array([1.0, 3.0, 0.5, 2.0], dtype=dtype)
    for pw in [None, pos_weight]:
        ours = BACKENDS[backend].binary_cross_entropy_with_logits(
            native(backend, x), native(backend, y), reduction="none", pos_weight=native(backend, pw)
        )
        check(
            ours,
            lambda x, y, pw: F.binary_cross_entropy_with_logits(
                x, y, reduction="none", pos_weight=pw
            ),
            (x, y, pw),
            dtype,
            f"pos_weight={pw}",
        )


@pytest.mark.parametrize("backend", BACKENDS)
def test_float16_keeps_a_finite_loss_where_pytorch_overflows_on_the_way(backend):
    """The one documented difference: PyTorch rounds log_softmax to float16 before the loss."""
    x = np.array([[60000.0, -60000.0, 0.0]], dtype=np.float16)
    t = np.array([0])
    ours = as_numpy(
        BACKENDS[backend].cross_entropy(native(backend, x), native(backend, t), label_smoothing=0.1)
    )
    pytorch_half = F.cross_entropy(torch.from_numpy(x), torch.from_numpy(t), label_smoothing=0.1)
    exact = 0.1 / 3 * (120000 + 60000)  # only the smoothing term is not 0
    assert torch.isinf(pytorch_half)
    assert ours.dtype == np.float16
    np.testing.assert_allclose(ours, exact, rtol=1e-3)


@pytest.mark.parametrize("backend", BACKENDS)
def test_float16_logits_above_11_would_overflow_a_naive_softmax(backend, no_warnings):
    """The test is real: exp of these logits is inf in float16, so softmax by the book is NaN."""
    x = np.array([[12.0, 11.5, 11.2]], dtype=np.float16)
    with np.errstate(over="ignore", invalid="ignore"):
        naive = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    assert np.isnan(naive).all()
    p = as_numpy(BACKENDS[backend].softmax(native(backend, x), 1))
    assert p.dtype == np.float16 and np.isfinite(p).all()
    np.testing.assert_allclose(p.astype(np.float64).sum(), 1.0, atol=2e-3)
