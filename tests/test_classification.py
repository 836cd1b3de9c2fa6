"""Tests of the classification losses of xent.numpy and xent.torch (Chapters 2, 6 and 7).

PyTorch's torch.nn.functional is the oracle for values, shapes, dtypes, edge cases
(empty batch, every target ignored, no classes, NaN and inf) and gradients.
Where PyTorch gives no gradient (the class weights of nll_loss and cross_entropy),
torch.autograd.gradcheck compares ours with central differences in float64.
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
import xent.torch.classification
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

BACKENDS = {"numpy": xn, "torch": xt}
DTYPES = [np.float16, np.float32, np.float64]
TOL = {
    np.float16: dict(rtol=4e-3, atol=2e-3),
    np.float32: dict(rtol=1e-5, atol=1e-6),
    np.float64: dict(rtol=1e-12, atol=1e-14),
}
GRAD_TOL = {
    np.float32: dict(rtol=1e-4, atol=1e-6),
    np.float64: dict(rtol=1e-11, atol=1e-14),
}
REDUCTIONS = ["none", "mean", "sum"]
N_CLASSES = 5
SHAPES = [(N_CLASSES,), (6, N_CLASSES), (3, N_CLASSES, 2, 4)]  # (C,), (N, C), (N, C, d1, d2)
SETTINGS = settings(max_examples=20, deadline=None)


def native(backend, array):
    """An array as the backend takes it (None stays None)."""
    if array is None or backend == "numpy":
        return array
    return torch.from_numpy(np.asarray(array))


def as_torch(array):
    return None if array is None else torch.from_numpy(np.asarray(array))


def as_numpy(result):
    return result.detach().numpy() if isinstance(result, torch.Tensor) else np.asarray(result)


def check(ours, theirs, dtype, label="", tolerance_of=None):
    """Same shape, dtype and values (NaN where PyTorch has NaN) as PyTorch's result.

    The tolerance is that of ``dtype``, or of ``tolerance_of`` if the result was
    computed in a narrower dtype than the one it is returned in.
    """
    ours, theirs = as_numpy(ours), theirs.detach().numpy()
    assert ours.shape == theirs.shape, label
    assert ours.dtype == theirs.dtype == dtype, label
    tolerance = TOL[np.dtype(tolerance_of or dtype).type]
    np.testing.assert_allclose(ours, theirs, **tolerance, err_msg=label)


def index_target_shape(shape):
    return () if len(shape) == 1 else (shape[0],) + shape[2:]


def make_case(rng, shape, dtype):
    """Logits, class indices (some -100), class probabilities and weights for one shape."""
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    t = rng.integers(0, shape[0 if len(shape) == 1 else 1], index_target_shape(shape))
    t_ignored = np.where(rng.random(t.shape) < 0.3, -100, t)
    class_dim = 0 if len(shape) == 1 else 1
    q = rng.random(shape)
    q = (q / q.sum(axis=class_dim, keepdims=True)).astype(dtype)
    w = (rng.random(shape[class_dim]) + 0.2).astype(dtype)
    return x, t, t_ignored, q, w


def assert_close(ours, theirs, **tolerance):
    """Tensors of the same dtype and shape, equal within the tolerance (NaN equal to NaN).

    (np.testing rather than torch.testing, whose first call spends seconds importing.)
    """
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), **tolerance)


@pytest.fixture
def rng():
    return np.random.default_rng(31415)


# --- nll_loss and cross_entropy against PyTorch ----------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_nll_loss_matches_pytorch(backend, dtype, shape, rng):
    x, t, t_ignored, _, w = make_case(rng, shape, dtype)
    log_p = np.log(
        as_numpy(F.softmax(torch.from_numpy(x.astype(np.float64)), 0 if len(shape) == 1 else 1))
    )
    log_p = log_p.astype(dtype)
    for reduction, weight, target in itertools.product(REDUCTIONS, [None, w], [t, t_ignored]):
        label = f"{reduction=} weighted={weight is not None} ignored={(target == -100).any()}"
        ours = BACKENDS[backend].nll_loss(
            native(backend, log_p),
            native(backend, target),
            native(backend, weight),
            reduction=reduction,
        )
        theirs = F.nll_loss(
            as_torch(log_p), as_torch(target), as_torch(weight), reduction=reduction
        )
        check(ours, theirs, dtype, label)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_cross_entropy_with_class_indices_matches_pytorch(backend, dtype, shape, rng):
    x, t, t_ignored, _, w = make_case(rng, shape, dtype)
    for reduction, weight, target, smoothing in itertools.product(
        REDUCTIONS, [None, w], [t, t_ignored], [0.0, 0.1, 1.0]
    ):
        label = f"{reduction=} weighted={weight is not None} {smoothing=}"
        ours = BACKENDS[backend].cross_entropy(
            native(backend, x),
            native(backend, target),
            native(backend, weight),
            reduction=reduction,
            label_smoothing=smoothing,
        )
        theirs = F.cross_entropy(
            as_torch(x),
            as_torch(target),
            as_torch(weight),
            reduction=reduction,
            label_smoothing=smoothing,
        )
        check(ours, theirs, dtype, label)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_cross_entropy_with_class_probabilities_matches_pytorch(backend, dtype, shape, rng):
    x, _, _, q, w = make_case(rng, shape, dtype)
    for reduction, weight, smoothing in itertools.product(REDUCTIONS, [None, w], [0.0, 0.25]):
        label = f"{reduction=} weighted={weight is not None} {smoothing=}"
        ours = BACKENDS[backend].cross_entropy(
            native(backend, x),
            native(backend, q),
            native(backend, weight),
            reduction=reduction,
            label_smoothing=smoothing,
        )
        theirs = F.cross_entropy(
            as_torch(x),
            as_torch(q),
            as_torch(weight),
            reduction=reduction,
            label_smoothing=smoothing,
        )
        check(ours, theirs, dtype, label)


@pytest.mark.parametrize("backend", BACKENDS)
def test_cross_entropy_probability_target_dtype_is_promoted(backend, rng):
    x, _, _, q, _ = make_case(rng, (4, N_CLASSES), np.float32)
    for x_dtype, q_dtype in [(np.float32, np.float64), (np.float16, np.float32)]:
        xx, qq = x.astype(x_dtype), q.astype(q_dtype)
        ours = BACKENDS[backend].cross_entropy(native(backend, xx), native(backend, qq))
        theirs = F.cross_entropy(as_torch(xx), as_torch(qq))
        check(ours, theirs, np.promote_types(x_dtype, q_dtype), tolerance_of=x_dtype)


# --- binary cross-entropy and KL divergence against PyTorch ----------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("shape", [(7,), (4, 3), (2, 3, 4)], ids=str)
def test_binary_cross_entropy_matches_pytorch(backend, dtype, shape, rng):
    p = rng.random(shape).astype(dtype)
    y = rng.random(shape).astype(dtype)
    y[..., 0] = 1.0
    p[0] = 0.0  # log(0) is clamped at -100 ...
    p[..., -1] = 1.0  # ... and so is log(1 - 1)
    weights = [None, rng.random(shape).astype(dtype), rng.random(shape[-1:]).astype(dtype)]
    for reduction, weight in itertools.product(REDUCTIONS, weights):
        label = f"{reduction=} weight shape={None if weight is None else weight.shape}"
        ours = BACKENDS[backend].binary_cross_entropy(
            native(backend, p), native(backend, y), native(backend, weight), reduction=reduction
        )
        theirs = F.binary_cross_entropy(
            as_torch(p), as_torch(y), as_torch(weight), reduction=reduction
        )
        check(ours, theirs, dtype, label)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("shape", [(7,), (4, 3), (2, 3, 4)], ids=str)
def test_binary_cross_entropy_with_logits_matches_pytorch(backend, dtype, shape, rng):
    x = (rng.standard_normal(shape) * 4).astype(dtype)
    x.flat[0] = 0.0
    y = rng.random(shape).astype(dtype)
    y.flat[1] = 1.0
    weights = [None, rng.random(shape[-1:]).astype(dtype)]
    pos_weights = [None, (rng.random(shape[-1:]) * 3).astype(dtype), np.array(2.5, dtype=dtype)]
    for reduction, weight, pos_weight in itertools.product(REDUCTIONS, weights, pos_weights):
        label = f"{reduction=} weighted={weight is not None} pos_weight={pos_weight}"
        ours = BACKENDS[backend].binary_cross_entropy_with_logits(
            native(backend, x),
            native(backend, y),
            native(backend, weight),
            reduction=reduction,
            pos_weight=native(backend, pos_weight),
        )
        theirs = F.binary_cross_entropy_with_logits(
            as_torch(x),
            as_torch(y),
            as_torch(weight),
            reduction=reduction,
            pos_weight=as_torch(pos_weight),
        )
        check(ours, theirs, dtype, label)


@pytest.mark.parametrize("backend", BACKENDS)
def test_binary_cross_entropy_with_logits_promotes_dtypes(backend, rng):
    x = rng.standard_normal((3, 4))
    for x_dtype, y_dtype in [(np.float16, np.float32), (np.float32, np.float64)]:
        xx, yy = x.astype(x_dtype), rng.random((3, 4)).astype(y_dtype)
        ours = BACKENDS[backend].binary_cross_entropy_with_logits(
            native(backend, xx), native(backend, yy)
        )
        theirs = F.binary_cross_entropy_with_logits(as_torch(xx), as_torch(yy))
        check(ours, theirs, np.promote_types(x_dtype, y_dtype), tolerance_of=x_dtype)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize(
    "input_shape, target_shape",
    [((6,), (6,)), ((4, 5), (4, 5)), ((2, 3, 4), (2, 3, 4)), ((4, 5), (5,)), ((5,), (4, 5))],
    ids=str,
)
def test_kl_div_matches_pytorch(backend, dtype, input_shape, target_shape, rng):
    log_q = np.log(rng.dirichlet(np.ones(input_shape[-1]), input_shape[:-1])).astype(dtype)
    p = rng.dirichlet(np.ones(target_shape[-1]), target_shape[:-1])
    p.flat[0] = 0.0  # 0 log 0 = 0
    p = p.astype(dtype)
    with np.errstate(divide="ignore"):
        log_p = np.log(p)
    for reduction, log_target in itertools.product([*REDUCTIONS, "batchmean"], [False, True]):
        label = f"{reduction=} {log_target=}"
        target = log_p if log_target else p
        ours = BACKENDS[backend].kl_div(
            native(backend, log_q),
            native(backend, target),
            reduction=reduction,
            log_target=log_target,
        )
        with warnings.catch_warnings():  # PyTorch warns that 'mean' is not the true KL
            warnings.simplefilter("ignore", UserWarning)
            theirs = F.kl_div(
                as_torch(log_q), as_torch(target), reduction=reduction, log_target=log_target
            )
        check(ours, theirs, dtype, label)


@pytest.mark.parametrize("backend", BACKENDS)
def test_kl_div_batchmean_is_the_kl_divergence_per_example(backend, rng):
    p, q = rng.dirichlet(np.ones(4), 3), rng.dirichlet(np.ones(4), 3)
    per_example = (p * np.log(p / q)).sum(axis=1)  # the definition, row by row
    ours = BACKENDS[backend].kl_div(
        native(backend, np.log(q)), native(backend, p), reduction="batchmean"
    )
    np.testing.assert_allclose(as_numpy(ours), per_example.mean(), rtol=1e-13)


# --- edge cases: empty, ignored, no classes, NaN and inf --------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_empty_batch(backend, reduction):
    module = BACKENDS[backend]
    x, t, p = np.zeros((0, 4)), np.zeros(0, dtype=np.int64), np.zeros((0, 4))
    cases = [
        ("nll_loss", (x, t), {}),
        ("cross_entropy", (x, t), {}),
        ("cross_entropy", (x, t), {"label_smoothing": 0.2}),
        ("cross_entropy", (x, p), {}),
        ("binary_cross_entropy", (p, p), {}),
        ("binary_cross_entropy_with_logits", (x, p), {}),
        ("kl_div", (x, p), {}),
    ]
    for name, args, kwargs in cases:
        ours = getattr(module, name)(
            *(native(backend, a) for a in args), reduction=reduction, **kwargs
        )
        with warnings.catch_warnings():  # PyTorch warns that kl_div's 'mean' is not the true KL
            warnings.simplefilter("ignore", UserWarning)
            theirs = getattr(F, name)(*(as_torch(a) for a in args), reduction=reduction, **kwargs)
        check(ours, theirs, np.float64, f"{name} {kwargs}")  # 'mean' of nothing is NaN


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(4,), (3, 4), (2, 4, 3)], ids=str)
def test_every_target_ignored(backend, reduction, shape, rng):
    x = rng.standard_normal(shape)
    t = np.full(index_target_shape(shape), -100)
    w = rng.random(4)
    for name, weight, smoothing in itertools.product(
        ["nll_loss", "cross_entropy"], [None, w], [0.0, 0.3]
    ):
        kwargs = {"reduction": reduction}
        if name == "cross_entropy":
            kwargs["label_smoothing"] = smoothing
        module = BACKENDS[backend]
        ours = getattr(module, name)(
            native(backend, x), native(backend, t), native(backend, weight), **kwargs
        )
        theirs = getattr(F, name)(as_torch(x), as_torch(t), as_torch(weight), **kwargs)
        check(ours, theirs, np.float64, f"{name} {kwargs}")  # 'mean' is 0 / 0 = NaN


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("ignore_index", [-1, 2, 7])
def test_ignore_index_other_than_the_default(backend, ignore_index, rng):
    x = rng.standard_normal((6, 4))
    t = np.array([0, ignore_index, 3, 1, ignore_index, 2]) % 8
    t = np.where(t == ignore_index % 8, ignore_index, t)
    for reduction in REDUCTIONS:
        ours = BACKENDS[backend].cross_entropy(
            native(backend, x), native(backend, t), ignore_index=ignore_index, reduction=reduction
        )
        theirs = F.cross_entropy(
            as_torch(x), as_torch(t), ignore_index=ignore_index, reduction=reduction
        )
        check(ours, theirs, np.float64, reduction)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_no_classes(backend, reduction):
    x, t = np.zeros((3, 0)), np.full(3, -100)
    for target, smoothing in [(t, 0.0), (t, 0.5), (x, 0.0), (x, 0.5)]:
        ours = BACKENDS[backend].cross_entropy(
            native(backend, x),
            native(backend, target),
            reduction=reduction,
            label_smoothing=smoothing,
        )
        theirs = F.cross_entropy(
            as_torch(x), as_torch(target), reduction=reduction, label_smoothing=smoothing
        )
        check(ours, theirs, np.float64, f"target dtype {target.dtype} {smoothing=}")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nan_and_inf_propagate_as_in_pytorch(backend, reduction):
    inf, nan = math.inf, math.nan
    x = np.array(
        [[0.0, -inf, 1.0], [-inf, -inf, -inf], [inf, 0.0, 1.0], [nan, 0.0, 1.0], [1.0, 2.0, 3.0]]
    )
    cases = [
        np.array([1, 0, 0, 1, 2]),
        np.array([0, 2, 1, 0, 2]),
        np.array([2, -100, -100, -100, 0]),
    ]
    w = np.array([1.0, 0.0, 2.0])
    for t, weight, smoothing in itertools.product(cases, [None, w], [0.0, 0.1]):
        label = f"{t=} weighted={weight is not None} {smoothing=}"
        ours = BACKENDS[backend].cross_entropy(
            native(backend, x),
            native(backend, t),
            native(backend, weight),
            reduction=reduction,
            label_smoothing=smoothing,
        )
        theirs = F.cross_entropy(
            as_torch(x),
            as_torch(t),
            as_torch(weight),
            reduction=reduction,
            label_smoothing=smoothing,
        )
        check(ours, theirs, np.float64, label)


@pytest.mark.parametrize("backend", BACKENDS)
def test_binary_losses_at_infinite_logits_and_kl_div_at_zero(backend):
    inf, nan = math.inf, math.nan
    x = np.array([-inf, inf, nan, 0.0, 800.0, -800.0, inf, -inf, 1e308])
    y = np.array([0.0, 1.0, 0.0, 0.5, 1.0, 0.0, 0.0, 1.0, 0.0])
    module = BACKENDS[backend]
    for pos_weight in [None, np.array(3.0), np.array(0.0), np.array(inf)]:
        ours = module.binary_cross_entropy_with_logits(
            native(backend, x),
            native(backend, y),
            reduction="none",
            pos_weight=native(backend, pos_weight),
        )
        theirs = F.binary_cross_entropy_with_logits(
            as_torch(x), as_torch(y), reduction="none", pos_weight=as_torch(pos_weight)
        )
        check(ours, theirs, np.float64, f"{pos_weight=}")
    log_q = np.array([-inf, -inf, 0.0, 1.0, nan, -1.0, inf, 0.0])
    p = np.array([0.0, 0.5, 0.0, -1.0, 0.5, nan, 0.0, inf])
    for log_target in [False, True]:
        ours = module.kl_div(
            native(backend, log_q), native(backend, p), reduction="none", log_target=log_target
        )
        theirs = F.kl_div(as_torch(log_q), as_torch(p), reduction="none", log_target=log_target)
        check(ours, theirs, np.float64, f"{log_target=}")


def test_numpy_losses_raise_no_warnings(rng):
    inf = math.inf
    x = np.array([[0.0, -inf, 1.0], [-inf, -inf, -inf], [inf, 0.0, 1.0], [1e4, -1e4, 0.0]])
    t = np.array([1, 0, 0, 2])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for reduction, smoothing in itertools.product(REDUCTIONS, [0.0, 0.2]):
            xn.cross_entropy(x, t, reduction=reduction, label_smoothing=smoothing)
            xn.cross_entropy(x, np.full(4, -100), reduction=reduction)
            xn.cross_entropy(x, np.eye(3)[t], reduction=reduction, label_smoothing=smoothing)
            xn.nll_loss(x, t, np.array([1.0, 0.0, 1.0]), reduction=reduction)
            xn.binary_cross_entropy(np.array([0.0, 1.0]), np.array([1.0, 0.0]), reduction=reduction)
            xn.binary_cross_entropy_with_logits(x, np.ones_like(x), reduction=reduction)
            xn.kl_div(x, np.array([0.0, 0.5, -1.0]), reduction=reduction)
            xn.kl_div(x, x, reduction=reduction, log_target=True)
            xn.cross_entropy(x.astype(np.float16), t, reduction=reduction)


# --- gradients of the torch backend ------------------------------------------------


def gradients(function, args, wrt, upstream_seed=0):
    """Gradients of sum(function(*args) * upstream) with respect to args[i] for i in wrt."""
    args = [a.clone().requires_grad_() if i in wrt else a for i, a in enumerate(args)]
    out = function(*args)
    upstream = torch.randn(
        out.shape, generator=torch.Generator().manual_seed(upstream_seed), dtype=out.dtype
    )
    return torch.autograd.grad((out * upstream).sum(), [args[i] for i in wrt])


def check_gradients(name, args, wrt, dtype, **kwargs):
    """xent.torch.<name> and torch.nn.functional.<name> have the same gradients."""
    ours = gradients(functools.partial(getattr(xt, name), **kwargs), args, wrt)
    with warnings.catch_warnings():  # PyTorch warns that kl_div's 'mean' is not the true KL
        warnings.simplefilter("ignore", UserWarning)
        theirs = gradients(functools.partial(getattr(F, name), **kwargs), args, wrt)
    for a, b in zip(ours, theirs, strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_allclose(a, b, **GRAD_TOL[dtype], err_msg=f"{name} {kwargs}")


@pytest.mark.parametrize(
    "dtype, shape",
    [(np.float64, shape) for shape in SHAPES] + [(np.float32, (6, N_CLASSES))],
    ids=str,
)
def test_cross_entropy_gradients_match_pytorch(dtype, shape, rng):
    x, _, t_ignored, q, w = (as_torch(a) for a in make_case(rng, shape, dtype))
    for reduction, weight, smoothing in itertools.product(REDUCTIONS, [None, w], [0.0, 0.1]):
        kwargs = dict(weight=weight, reduction=reduction, label_smoothing=smoothing)
        check_gradients("cross_entropy", (x, t_ignored), [0], dtype, **kwargs)
    for reduction, weight, smoothing in itertools.product(REDUCTIONS, [None, w], [0.0, 0.3]):
        kwargs = dict(weight=weight, reduction=reduction, label_smoothing=smoothing)
        check_gradients("cross_entropy", (x, q), [0, 1], dtype, **kwargs)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_nll_loss_gradients_match_pytorch(shape, rng):
    x, t, t_ignored, _, w = (as_torch(a) for a in make_case(rng, shape, np.float64))
    for reduction, weight, target in itertools.product(REDUCTIONS, [None, w], [t, t_ignored]):
        check_gradients(
            "nll_loss", (x, target), [0], np.float64, weight=weight, reduction=reduction
        )


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: d.__name__)
def test_binary_and_kl_gradients_match_pytorch(dtype, rng):
    shape = (4, 3)
    x = as_torch((rng.standard_normal(shape) * 3).astype(dtype))
    x[0, 0] = 0.0  # logsigmoid has a kink-free derivative of 1/2 here
    p = as_torch(rng.uniform(0.05, 0.95, shape).astype(dtype))
    y = as_torch(rng.random(shape).astype(dtype))
    w = as_torch(rng.random(3).astype(dtype))
    log_q = as_torch(np.log(rng.dirichlet(np.ones(3), 4)).astype(dtype))
    for reduction in REDUCTIONS:
        check_gradients("binary_cross_entropy", (p, y, w), [0, 1], dtype, reduction=reduction)
        for pos_weight in [None, w * 3]:
            check_gradients(
                "binary_cross_entropy_with_logits",
                (x, y, w),
                [0, 1],
                dtype,
                reduction=reduction,
                pos_weight=pos_weight,
            )
    p_target = log_q.exp().roll(1, 0)
    for reduction, log_target in itertools.product([*REDUCTIONS, "batchmean"], [False, True]):
        target = p_target.log() if log_target else p_target
        check_gradients(
            "kl_div", (log_q, target), [0, 1], dtype, reduction=reduction, log_target=log_target
        )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing, weighted", [(0.0, False), (0.3, True), (1.0, True)])
def test_cross_entropy_function_passes_gradcheck(reduction, smoothing, weighted, rng):
    """Central differences in float64 for the logits and, where given, the class weights."""
    x = as_torch(rng.standard_normal((3, 4, 2))).requires_grad_()
    t = as_torch(np.array([[0, 3], [-100, 1], [2, 2]]))
    w = as_torch(rng.random(4) + 0.5).requires_grad_() if weighted else None

    def loss(x, w):
        return xt.cross_entropy(x, t, w, reduction=reduction, label_smoothing=smoothing)

    assert torch.autograd.gradcheck(loss, (x, w))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss_weight_gradient_passes_gradcheck(reduction, rng):
    log_p = as_torch(rng.standard_normal((5, 4))).requires_grad_()
    w = as_torch(rng.random(4) + 0.5).requires_grad_()
    t = as_torch(np.array([0, 3, -100, 1, 3]))
    assert torch.autograd.gradcheck(
        lambda a, b: xt.nll_loss(a, t, b, reduction=reduction), (log_p, w)
    )


@pytest.mark.parametrize("block_elements", [1, 7, 20])
def test_cross_entropy_forward_in_blocks_of_rows(block_elements, monkeypatch, rng):
    """The Function's forward works on blocks of rows; make tiny blocks and a ragged last one."""
    monkeypatch.setattr(xent.torch.classification, "_BLOCK_ELEMENTS", block_elements)
    x, _, t_ignored, _, w = (as_torch(a) for a in make_case(rng, (9, N_CLASSES), np.float64))
    x[2, 1] = -math.inf
    for reduction, weight in itertools.product(REDUCTIONS, [None, w]):
        kwargs = dict(weight=weight, reduction=reduction, label_smoothing=0.1)
        ours = xt.cross_entropy(x, t_ignored, **kwargs)
        check(ours, F.cross_entropy(x, t_ignored, **kwargs), np.float64, str(kwargs))
        check_gradients("cross_entropy", (x, t_ignored), [0], np.float64, **kwargs)


@pytest.mark.parametrize("shape", [(4, 3), (3, 0)], ids=str)
def test_cross_entropy_backward_twice_with_retain_graph(shape, rng):
    """The backward turns its saved exponentials into the gradient; a second one recomputes."""
    x = as_torch(rng.standard_normal(shape)).requires_grad_()
    t = as_torch(np.array([0, 2, -100, 1][: shape[0]]) if shape[1] else np.full(3, -100))
    loss = xt.cross_entropy(x, t, label_smoothing=0.1, reduction="sum")
    (first,) = torch.autograd.grad(loss, x, retain_graph=True)
    (second,) = torch.autograd.grad(loss, x)
    reference = x.detach().clone().requires_grad_()
    (expected,) = torch.autograd.grad(
        F.cross_entropy(reference, t, label_smoothing=0.1, reduction="sum"), reference
    )
    assert_close(first, expected, rtol=1e-12, atol=1e-15)
    assert_close(second, expected, rtol=1e-12, atol=1e-15)


def test_binary_cross_entropy_gradient_where_the_log_is_clamped():
    """At p = 0 and p = 1 xent differentiates the clamped loss; PyTorch uses a formula.

    loss = -(y max(log p, -100) + (1 - y) max(log(1 - p), -100)), so at p = 0 the
    y-term is the constant 100 (derivative 0) and -(1 - y) log(1 - p) has derivative
    1 - y; at p = 1 mirror-wise. PyTorch returns (p - y) / max(p (1 - p), 1e-12).
    """
    p = torch.tensor([0.0, 0.0, 1.0, 1.0], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([1.0, 0.0, 0.0, 1.0], dtype=torch.float64)
    (ours,) = torch.autograd.grad(xt.binary_cross_entropy(p, y, reduction="sum"), p)
    (theirs,) = torch.autograd.grad(F.binary_cross_entropy(p, y, reduction="sum"), p)
    np.testing.assert_array_equal(ours.numpy(), [0.0, 1.0, 0.0, -1.0])
    np.testing.assert_allclose(theirs.numpy(), [-1e12, 0.0, 1e12, 0.0], rtol=1e-6)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_losses_weight_gradients_pass_gradcheck(reduction, rng):
    """PyTorch refuses these gradients too; central differences check ours."""
    x = as_torch(rng.standard_normal((3, 4))).requires_grad_()
    p = as_torch(rng.uniform(0.1, 0.9, (3, 4))).requires_grad_()
    y = as_torch(rng.random((3, 4)))
    w = as_torch(rng.random(4) + 0.5).requires_grad_()
    pos_weight = as_torch(rng.random(4) + 0.5).requires_grad_()

    def with_logits(x, w, pos_weight):
        return xt.binary_cross_entropy_with_logits(
            x, y, w, reduction=reduction, pos_weight=pos_weight
        )

    assert torch.autograd.gradcheck(with_logits, (x, w, pos_weight))
    assert torch.autograd.gradcheck(
        lambda p, w: xt.binary_cross_entropy(p, y, w, reduction=reduction), (p, w)
    )


def test_pytorch_gives_no_weight_gradient_but_xent_does(rng):
    """Why the weight gradient is checked by gradcheck rather than against PyTorch."""
    x = as_torch(rng.standard_normal((3, 4)))
    w = as_torch(rng.random(4)).requires_grad_()
    t = as_torch(np.array([0, 1, 2]))
    with pytest.raises(RuntimeError, match="not differentiable with respect to argument 'weight'"):
        F.cross_entropy(x, t, w)
    (grad,) = torch.autograd.grad(xt.cross_entropy(x, t, w), w)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_cross_entropy_with_indices_uses_the_analytic_backward(rng):
    x = as_torch(rng.standard_normal((3, 4))).requires_grad_()
    loss = xt.cross_entropy(x, as_torch(np.array([0, 1, 2])))
    assert "CrossEntropyWithIndices" in type(loss.grad_fn).__name__
    (grad,) = torch.autograd.grad(loss, x)
    expected = (F.softmax(x, 1) - F.one_hot(torch.tensor([0, 1, 2]), 4)) / 3
    assert_close(grad, expected, rtol=1e-12, atol=1e-15)


def test_torch_backend_takes_bfloat16(rng):
    x, t, _, q, w = (as_torch(a) for a in make_case(rng, (6, N_CLASSES), np.float32))
    x, q, w = x.bfloat16(), q.bfloat16(), w.bfloat16()
    for target in [t, q]:
        ours = xt.cross_entropy(x, target, w, label_smoothing=0.1)
        theirs = F.cross_entropy(x, target, w, label_smoothing=0.1)
        assert ours.dtype == theirs.dtype == torch.bfloat16
        assert_close(ours.float(), theirs.float(), rtol=2e-2)  # bfloat16: 8 bits


def test_float16_cross_entropy_gradient(rng):
    x, t, _, _, w = (as_torch(a) for a in make_case(rng, (6, N_CLASSES), np.float16))
    check = dict(rtol=1e-2, atol=2e-3)
    ours = gradients(lambda x: xt.cross_entropy(x, t, w, label_smoothing=0.1), (x,), [0])[0]
    theirs = gradients(lambda x: F.cross_entropy(x, t, w, label_smoothing=0.1), (x,), [0])[0]
    assert ours.dtype == torch.float16
    assert_close(ours, theirs, **check)


def test_torch_backend_never_calls_pytorch_losses(monkeypatch, rng):
    def forbidden(*args, **kwargs):
        raise AssertionError("xent.torch called a torch.nn.functional loss")

    for name in [
        "nll_loss",
        "cross_entropy",
        "binary_cross_entropy",
        "binary_cross_entropy_with_logits",
        "kl_div",
        "log_softmax",
        "softmax",
        "logsigmoid",
        "softplus",
    ]:
        monkeypatch.setattr(F, name, forbidden)
    for name in ["log_softmax", "softmax", "logsumexp", "binary_cross_entropy_with_logits"]:
        monkeypatch.setattr(torch, name, forbidden)
    x = as_torch(rng.standard_normal((3, 4))).requires_grad_()
    t = as_torch(np.array([0, 1, 3]))
    p = torch.sigmoid(x)
    total = (
        xt.nll_loss(x, t)
        + xt.cross_entropy(x, t, label_smoothing=0.1)
        + xt.cross_entropy(x, x.detach().exp())
        + xt.binary_cross_entropy(p, p.detach())
        + xt.binary_cross_entropy_with_logits(x, p.detach())
        + xt.kl_div(x, p.detach())
    )
    total.backward()
    assert torch.isfinite(x.grad).all()


# --- properties (hypothesis) ---------------------------------------------------------


@st.composite
def logits_and_targets(draw):
    n = draw(st.integers(1, 6))
    c = draw(st.integers(1, 7))
    x = draw(hnp.arrays(np.float64, (n, c), elements=st.floats(-60, 60, allow_nan=False)))
    t = draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, c - 1)))
    return x, t


@SETTINGS
@given(case=logits_and_targets(), smoothing=st.sampled_from([0.0, 0.2, 1.0]))
@pytest.mark.parametrize("backend", BACKENDS)
def test_cross_entropy_is_non_negative_nll_of_log_softmax(backend, case, smoothing):
    x, t = case
    module = BACKENDS[backend]
    loss = as_numpy(module.cross_entropy(native(backend, x), native(backend, t), reduction="none"))
    assert np.all(loss >= 0)
    log_p = module.log_softmax(native(backend, x), 1)
    nll = as_numpy(module.nll_loss(log_p, native(backend, t), reduction="none"))
    np.testing.assert_array_equal(loss, nll)
    smoothed = module.cross_entropy(
        native(backend, x), native(backend, t), label_smoothing=smoothing
    )
    assert as_numpy(smoothed) >= 0


@SETTINGS
@given(case=logits_and_targets(), smoothing=st.sampled_from([0.0, 0.2, 1.0]))
@pytest.mark.parametrize("backend", BACKENDS)
def test_one_hot_probabilities_give_the_index_loss(backend, case, smoothing):
    x, t = case
    module = BACKENDS[backend]
    one_hot = np.eye(x.shape[1])[t]
    w = np.linspace(0.5, 2.0, x.shape[1])
    # With weights, 'none' and 'sum' agree; 'mean' divides by different totals (see docstring).
    for reduction, weight in [("none", w), ("sum", w), ("mean", None)]:
        kwargs = dict(
            reduction=reduction, label_smoothing=smoothing, weight=native(backend, weight)
        )
        by_index = module.cross_entropy(native(backend, x), native(backend, t), **kwargs)
        by_probability = module.cross_entropy(
            native(backend, x), native(backend, one_hot), **kwargs
        )
        np.testing.assert_allclose(
            as_numpy(by_probability), as_numpy(by_index), rtol=1e-12, atol=1e-12
        )


# --- bad input -------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["nll_loss", "cross_entropy"])
def test_target_index_out_of_range(backend, name):
    x = native(backend, np.zeros((3, 5)))
    function = getattr(BACKENDS[backend], name)
    message = (
        r"target index 7 is out of range for 5 classes: "
        r"valid indices are 0\.\.4 \(or ignore_index=-100\)"
    )
    with pytest.raises(IndexError, match=message):
        function(x, native(backend, np.array([0, 7, 1])))
    with pytest.raises(
        IndexError, match=r"target index -1 is out of range .* \(or ignore_index=-100\)"
    ):
        function(x, native(backend, np.array([0, -1, 1])))
    with pytest.raises(IndexError, match=r"target index 5 .* \(or ignore_index=3\)"):
        function(x, native(backend, np.array([3, 5, 1])), ignore_index=3)
    with pytest.raises(IndexError, match="target index 0 is out of range for 0 classes"):
        function(native(backend, np.zeros((2, 0))), native(backend, np.array([0, -100])))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["nll_loss", "cross_entropy"])
def test_shapes_that_do_not_fit(backend, name):
    function = getattr(BACKENDS[backend], name)
    x = native(backend, np.zeros((3, 5, 2)))
    with pytest.raises(
        ValueError, match=r"target of class indices must have shape \(3, 2\) .* got shape \(3,\)"
    ):
        function(x, native(backend, np.zeros(3, dtype=np.int64)))
    with pytest.raises(ValueError, match=r"weight must be 1-D .* shape \(5,\); got shape \(4,\)"):
        function(x, native(backend, np.zeros((3, 2), dtype=np.int64)), native(backend, np.ones(4)))
    with pytest.raises(
        TypeError,
        match=r"weight must have the input's dtype (torch\.)?float64; got (torch\.)?float32",
    ):
        function(
            x,
            native(backend, np.zeros((3, 2), dtype=np.int64)),
            native(backend, np.ones(5, dtype=np.float32)),
        )
    with pytest.raises(ValueError, match="input must have at least 1 dimension"):
        function(native(backend, np.array(1.0)), native(backend, np.array(0)))


@pytest.mark.parametrize("backend", BACKENDS)
def test_float_target_of_the_wrong_shape(backend):
    x = native(backend, np.zeros((3, 5)))
    with pytest.raises(
        ValueError,
        match=r"class probabilities and must have the input's shape \(3, 5\); got shape \(3,\)",
    ):
        BACKENDS[backend].cross_entropy(x, native(backend, np.array([0.0, 1.0, 2.0])))
    with pytest.raises(ValueError, match="ignore_index=3 needs class-index targets"):
        BACKENDS[backend].cross_entropy(x, native(backend, np.full((3, 5), 0.2)), ignore_index=3)


@pytest.mark.parametrize("backend", BACKENDS)
def test_nll_loss_refuses_float_targets(backend):
    with pytest.raises(TypeError, match="target of class indices must have .*got .*float64"):
        BACKENDS[backend].nll_loss(native(backend, np.zeros((3, 5))), native(backend, np.zeros(3)))


def test_torch_backend_refuses_int32_targets_as_pytorch_does():
    x = torch.zeros(3, 5)
    with pytest.raises(TypeError, match=r"torch.int64 \(or torch.uint8\).*got torch.int32"):
        xt.cross_entropy(x, torch.zeros(3, dtype=torch.int32))
    with pytest.raises(RuntimeError, match="expected target dtype to be Long or Byte"):
        F.cross_entropy(x, torch.zeros(3, dtype=torch.int32))
    check(
        xt.cross_entropy(x, torch.zeros(3, dtype=torch.uint8)),
        F.cross_entropy(x, torch.zeros(3, dtype=torch.uint8)),
        np.float32,
    )


def test_numpy_backend_takes_any_integer_targets(rng):
    x = rng.standard_normal((3, 5))
    expected = xn.cross_entropy(x, np.array([0, 4, 2]))
    for dtype in [np.int32, np.uint8, np.int16]:
        assert xn.cross_entropy(x, np.array([0, 4, 2], dtype=dtype)) == expected


@pytest.mark.parametrize("backend", BACKENDS)
def test_unknown_reduction(backend):
    module = BACKENDS[backend]
    x, t, p = (
        native(backend, a)
        for a in (np.zeros((2, 3)), np.zeros(2, dtype=np.int64), np.full((2, 3), 0.5))
    )
    message = r"reduction must be one of 'none', 'mean' or 'sum'; got 'avg'"
    for call in [
        lambda: module.nll_loss(x, t, reduction="avg"),
        lambda: module.cross_entropy(x, t, reduction="avg"),
        lambda: module.cross_entropy(x, p, reduction="avg"),
        lambda: module.binary_cross_entropy(p, p, reduction="avg"),
        lambda: module.binary_cross_entropy_with_logits(x, p, reduction="avg"),
    ]:
        with pytest.raises(ValueError, match=message):
            call()
    with pytest.raises(ValueError, match="'sum' or 'batchmean'; got 'avg'"):
        module.kl_div(x, p, reduction="avg")
    with pytest.raises(ValueError, match="got 'batchmean'"):
        module.cross_entropy(x, t, reduction="batchmean")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("smoothing", [1.5, -0.1, math.nan])
def test_label_smoothing_outside_zero_one(backend, smoothing):
    x, t = native(backend, np.zeros((2, 3))), native(backend, np.zeros(2, dtype=np.int64))
    with pytest.raises(
        ValueError, match=rf"label_smoothing must be in \[0.0, 1.0\]; got {smoothing}"
    ):
        BACKENDS[backend].cross_entropy(x, t, label_smoothing=smoothing)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("which", ["input", "target"])
@pytest.mark.parametrize("bad", [1.5, -0.25, math.nan])
def test_binary_cross_entropy_refuses_what_is_not_a_probability(backend, which, bad):
    values = {"input": np.array([0.2, 0.4, 0.6]), "target": np.array([0.0, 1.0, 0.5])}
    values[which][1] = bad
    with pytest.raises(
        ValueError,
        match=rf"{which} of binary_cross_entropy must hold probabilities in \[0, 1\]; "
        rf"got {bad} at index \(1,\)",
    ):
        BACKENDS[backend].binary_cross_entropy(
            native(backend, values["input"]), native(backend, values["target"])
        )


@pytest.mark.parametrize("backend", BACKENDS)
def test_binary_losses_refuse_shapes_and_dtypes_that_do_not_fit(backend):
    module = BACKENDS[backend]
    p = native(backend, np.full((3, 2), 0.5))
    with pytest.raises(
        ValueError, match=r"target must have the input's shape \(3, 2\); got shape \(1, 2\)"
    ):
        module.binary_cross_entropy(p, native(backend, np.full((1, 2), 0.5)))
    with pytest.raises(
        ValueError, match=r"target must have the input's shape \(3, 2\); got shape \(3,\)"
    ):
        module.binary_cross_entropy_with_logits(p, native(backend, np.full(3, 0.5)))
    with pytest.raises(
        TypeError,
        match=r"target must have the input's dtype (torch\.)?float64; got (torch\.)?float32",
    ):
        module.binary_cross_entropy(p, native(backend, np.full((3, 2), 0.5, dtype=np.float32)))
    with pytest.raises(
        ValueError, match=r"weight of shape \(3,\) does not broadcast to the input's shape \(3, 2\)"
    ):
        module.binary_cross_entropy(p, p, native(backend, np.ones(3)))
    with pytest.raises(ValueError, match=r"weight of shape \(4, 3, 2\) does not broadcast"):
        module.binary_cross_entropy_with_logits(p, p, native(backend, np.ones((4, 3, 2))))
    with pytest.raises(ValueError, match=r"pos_weight of shape \(3,\) does not broadcast"):
        module.binary_cross_entropy_with_logits(p, p, pos_weight=native(backend, np.ones(3)))
    with pytest.raises(
        ValueError, match=r"input of shape \(3, 2\) and target of shape \(3,\) do not broadcast"
    ):
        module.kl_div(p, native(backend, np.full(3, 0.5)))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "name",
    [
        "nll_loss",
        "cross_entropy",
        "binary_cross_entropy",
        "binary_cross_entropy_with_logits",
        "kl_div",
    ],
)
def test_refuses_what_is_not_an_array_of_floats(backend, name):
    function = getattr(BACKENDS[backend], name)
    good_target = native(
        backend,
        np.zeros(2, dtype=np.int64)
        if name in ("nll_loss", "cross_entropy")
        else np.full((2, 3), 0.5),
    )
    foreign = torch.zeros(2, 3) if backend == "numpy" else np.zeros((2, 3))
    with pytest.raises(TypeError, match="input must be a .*; got list"):
        function([[0.5, 0.5, 0.5]] * 2, good_target)
    with pytest.raises(TypeError, match="input must be a .*; got (Tensor|ndarray)"):
        function(foreign, good_target)
    with pytest.raises(TypeError, match="input must have dtype .*; got .*int64"):
        function(native(backend, np.zeros((2, 3), dtype=np.int64)), good_target)
    with pytest.raises(TypeError, match="target must be a .*; got list"):
        function(native(backend, np.full((2, 3), 0.5)), [0, 1])
