"""Tests of xent.grad: closed-form gradients against torch.autograd, and the checker."""

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import xent
from xent import grad

SHAPES = [(5,), (6, 5), (3, 5, 4), (2, 5, 3, 2)]  # the classes (5) in dim 0 or 1


def torch_grad(loss_function, x, *args, **kwargs):
    """d loss.sum() / d x by autograd, for NumPy arguments."""
    x_t = torch.tensor(x, requires_grad=True)
    args = [torch.tensor(a) for a in args]
    kwargs = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    loss_function(x_t, *args, **kwargs).sum().backward()
    return x_t.grad.numpy()


def logits_and_targets(shape, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(scale=2.0, size=shape)
    target_shape = () if len(shape) == 1 else (shape[0],) + shape[2:]
    target = rng.integers(0, shape[1 if len(shape) > 1 else 0], size=target_shape)
    return x, np.asarray(target, dtype=np.int64), rng


# --- cross_entropy_grad ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "weighted", "label_smoothing"),
    list(itertools.product(SHAPES, [False, True], [0.0, 0.25, 1.0])),
)
def test_cross_entropy_grad_matches_autograd_for_class_indices(shape, weighted, label_smoothing):
    x, target, rng = logits_and_targets(shape, seed=len(shape))
    weight = rng.uniform(0.2, 3.0, size=5) if weighted else None
    for reduction in ["none", "mean", "sum"]:
        kwargs = {"weight": weight, "reduction": reduction, "label_smoothing": label_smoothing}
        expected = torch_grad(F.cross_entropy, x, target, **kwargs)
        result = grad.cross_entropy_grad(x, target, **kwargs)
        assert result.shape == x.shape and result.dtype == np.float64
        np.testing.assert_allclose(result, expected, rtol=1e-12, atol=1e-15, err_msg=reduction)


@pytest.mark.parametrize("shape", SHAPES[1:])
@pytest.mark.parametrize("ignore_index", [-100, 2])
def test_cross_entropy_grad_with_ignored_targets(shape, ignore_index):
    x, target, rng = logits_and_targets(shape, seed=7)
    target.flat[::3] = ignore_index  # a class (2) can be the ignored one
    weight = rng.uniform(0.5, 2.0, size=5)
    for reduction in ["none", "mean", "sum"]:
        kwargs = {"weight": weight, "ignore_index": ignore_index, "reduction": reduction,
                  "label_smoothing": 0.1}
        result = grad.cross_entropy_grad(x, target, **kwargs)
        np.testing.assert_allclose(result, torch_grad(F.cross_entropy, x, target, **kwargs),
                                   rtol=1e-12, atol=1e-15, err_msg=reduction)
        ignored_rows = np.moveaxis(result, 1, -1)[target == ignore_index]
        assert (ignored_rows == 0).all()


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_grad_matches_autograd_for_class_probabilities(shape, weighted):
    rng = np.random.default_rng(11)
    x = rng.normal(size=shape)
    dim = 0 if len(shape) == 1 else 1
    target = np.moveaxis(rng.dirichlet(np.ones(5), size=x.size // 5), -1, 0)
    target = np.moveaxis(target.reshape((5,) + tuple(np.delete(shape, dim))), 0, dim)
    weight = rng.uniform(0.2, 3.0, size=5) if weighted else None
    for label_smoothing, reduction in itertools.product([0.0, 0.3], ["none", "mean", "sum"]):
        kwargs = {"weight": weight, "reduction": reduction, "label_smoothing": label_smoothing}
        np.testing.assert_allclose(
            grad.cross_entropy_grad(x, target, **kwargs),
            torch_grad(F.cross_entropy, x, target, **kwargs),
            rtol=1e-12, atol=1e-15,
        )


def test_cross_entropy_grad_is_softmax_minus_one_hot():
    x = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    target = np.array([2, 0])
    e = np.exp(x)
    p = e / e.sum(axis=1, keepdims=True)
    one_hot = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    np.testing.assert_allclose(grad.cross_entropy_grad(x, target, reduction="sum"), p - one_hot)
    np.testing.assert_allclose(grad.cross_entropy_grad(x, target), (p - one_hot) / 2)


def test_cross_entropy_grad_edge_cases_follow_pytorch():
    x, target, _ = logits_and_targets((4, 3), seed=3)
    everything_ignored = np.full(4, -100)
    result = grad.cross_entropy_grad(x, everything_ignored)
    np.testing.assert_array_equal(result, torch_grad(F.cross_entropy, x, everything_ignored))
    assert (result == 0).all()
    # every target has weight 0: the mean is 0/0 and the gradient NaN, as in PyTorch
    weight = np.array([0.0, 1.0, 1.0])
    zero_weight_targets = np.zeros(4, dtype=np.int64)
    result = grad.cross_entropy_grad(x, zero_weight_targets, weight=weight)
    expected = torch_grad(F.cross_entropy, x, zero_weight_targets, weight=weight)
    assert np.isnan(expected).all() and np.isnan(result).all()
    # an empty batch has an empty gradient
    empty = grad.cross_entropy_grad(np.zeros((0, 3)), np.zeros(0, dtype=np.int64))
    assert empty.shape == (0, 3)


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_cross_entropy_grad_dtypes(dtype):
    x, target, _ = logits_and_targets((6, 5), seed=5)
    x = x.astype(dtype)
    result = grad.cross_entropy_grad(x, target, label_smoothing=0.1)
    assert result.dtype == dtype
    expected = torch_grad(F.cross_entropy, x.astype(np.float64), target, label_smoothing=0.1)
    tolerance = 1e-6 if dtype == np.float32 else 2e-3
    np.testing.assert_allclose(result.astype(np.float64), expected, atol=tolerance)


def test_cross_entropy_grad_rejects_bad_arguments():
    x, target, _ = logits_and_targets((4, 3), seed=1)
    with pytest.raises(ValueError, match="reduction"):
        grad.cross_entropy_grad(x, target, reduction="avg")
    with pytest.raises(ValueError, match=r"label_smoothing must be in \[0.0, 1.0\]; got 1.5"):
        grad.cross_entropy_grad(x, target, label_smoothing=1.5)
    with pytest.raises(IndexError, match="target index 3 is out of range for 3 classes"):
        grad.cross_entropy_grad(x, np.array([0, 1, 3, 0]))
    with pytest.raises(IndexError, match="target index -1"):
        grad.cross_entropy_grad(x, np.array([0, 1, -1, 0]))
    with pytest.raises(ValueError, match=r"must have shape \(4,\)"):
        grad.cross_entropy_grad(x, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"weight must be 1-D with one entry per class"):
        grad.cross_entropy_grad(x, target, weight=np.ones(4))
    with pytest.raises(ValueError, match="ignore_index=1 needs class-index targets"):
        grad.cross_entropy_grad(x, np.full((4, 3), 1 / 3), ignore_index=1)
    with pytest.raises(ValueError, match=r"input's shape \(4, 3\)"):
        grad.cross_entropy_grad(x, np.full((4, 2), 0.5))


# --- binary_cross_entropy_with_logits_grad --------------------------------------------------


BCE_CASES = [
    ((7,), None, None),
    ((6, 4), None, (4,)),
    ((6, 4), (4,), None),
    ((6, 4), (6, 4), (4,)),
    ((3, 4, 2), (1, 2), (2,)),
]


@pytest.mark.parametrize(("shape", "weight_shape", "pos_weight_shape"), BCE_CASES)
def test_bce_with_logits_grad_matches_autograd(shape, weight_shape, pos_weight_shape):
    rng = np.random.default_rng(len(shape))
    x = rng.normal(scale=3.0, size=shape)
    y = rng.uniform(size=shape)  # soft targets too
    y[..., 0] = np.round(y[..., 0])
    kwargs = {}
    if weight_shape:
        kwargs["weight"] = rng.uniform(0.2, 2.0, size=weight_shape)
    if pos_weight_shape:
        kwargs["pos_weight"] = rng.uniform(0.5, 4.0, size=pos_weight_shape)
    for reduction in ["none", "mean", "sum"]:
        expected = torch_grad(F.binary_cross_entropy_with_logits, x, y, reduction=reduction,
                              **kwargs)
        result = grad.binary_cross_entropy_with_logits_grad(x, y, reduction=reduction, **kwargs)
        assert result.shape == x.shape and result.dtype == np.float64
        np.testing.assert_allclose(result, expected, rtol=1e-12, atol=1e-15, err_msg=reduction)


def test_bce_with_logits_grad_is_sigmoid_minus_target_and_stays_finite():
    x = np.array([-800.0, -2.0, 0.0, 3.0, 800.0])
    y = np.array([1.0, 0.0, 1.0, 1.0, 0.0])
    expected = np.array([-1.0, 1 / (1 + np.exp(2.0)), -0.5, 1 / (1 + np.exp(-3.0)) - 1, 1.0])
    result = grad.binary_cross_entropy_with_logits_grad(x, y, reduction="sum")
    np.testing.assert_allclose(result, expected, rtol=1e-15)


def test_bce_with_logits_grad_rejects_bad_arguments():
    x = np.zeros((3, 4))
    with pytest.raises(ValueError, match=r"target must have the input's shape \(3, 4\)"):
        grad.binary_cross_entropy_with_logits_grad(x, np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"pos_weight of shape \(3,\) does not broadcast"):
        grad.binary_cross_entropy_with_logits_grad(x, x, pos_weight=np.ones(3))
    with pytest.raises(ValueError, match="reduction"):
        grad.binary_cross_entropy_with_logits_grad(x, x, reduction="max")


# --- softmax_jacobian -----------------------------------------------------------------------


@pytest.mark.parametrize("n_classes", [1, 2, 5])
def test_softmax_jacobian_matches_autograd(n_classes):
    z = np.random.default_rng(n_classes).normal(scale=2.0, size=n_classes)
    expected = torch.autograd.functional.jacobian(
        lambda t: torch.softmax(t, dim=0), torch.tensor(z)
    ).numpy()
    np.testing.assert_allclose(grad.softmax_jacobian(z), expected, rtol=1e-12, atol=1e-16)


def test_softmax_jacobian_of_a_batch_and_its_properties():
    z = np.random.default_rng(0).normal(scale=3.0, size=(4, 6))
    jacobians = grad.softmax_jacobian(z)
    assert jacobians.shape == (4, 6, 6)
    for row, jacobian in zip(z, jacobians, strict=True):
        expected = torch.autograd.functional.jacobian(
            lambda t: torch.softmax(t, dim=0), torch.tensor(row)
        ).numpy()
        np.testing.assert_allclose(jacobian, expected, rtol=1e-12, atol=1e-16)
        np.testing.assert_array_equal(jacobian, jacobian.T)  # symmetric
        np.testing.assert_allclose(jacobian.sum(axis=1), 0.0, atol=1e-16)  # rows sum to 0
        assert np.linalg.matrix_rank(jacobian) == 5  # singular: J 1 = 0
        assert (np.linalg.eigvalsh(jacobian) > -1e-15).all()  # positive semi-definite


def test_softmax_jacobian_keeps_dtype_and_rejects_other_shapes():
    assert grad.softmax_jacobian(np.zeros(3, dtype=np.float32)).dtype == np.float32
    np.testing.assert_allclose(
        grad.softmax_jacobian(np.zeros(2)), [[0.25, -0.25], [-0.25, 0.25]], rtol=1e-15
    )
    with pytest.raises(ValueError, match=r"shape \(C,\) or \(N, C\)"):
        grad.softmax_jacobian(np.zeros((2, 3, 4)))


# --- numerical_grad and check_gradient ------------------------------------------------------


def wavy(x):
    return np.sum(np.sin(x) * x**2)


def wavy_grad(x):
    return np.cos(x) * x**2 + 2 * x * np.sin(x)


def test_numerical_grad_of_a_known_function():
    x = np.random.default_rng(0).normal(scale=3.0, size=(3, 4))
    original = x.copy()
    np.testing.assert_allclose(grad.numerical_grad(wavy, x), wavy_grad(x), rtol=1e-8, atol=1e-9)
    np.testing.assert_array_equal(x, original)  # x is not modified
    # a fixed step
    np.testing.assert_allclose(
        grad.numerical_grad(wavy, x, eps=1e-4), wavy_grad(x), rtol=1e-6, atol=1e-6
    )


def test_numerical_grad_scales_its_step_with_x():
    # at x = 1e8, a fixed step of 6e-6 would be lost in rounding; the scaled one is not
    x = np.array([1e8, -3e7])
    np.testing.assert_allclose(grad.numerical_grad(lambda v: np.sum(v**2), x), 2 * x, rtol=1e-9)


def test_numerical_grad_rejects_bad_input():
    with pytest.raises(ValueError, match=r"f must return a scalar; got an array of shape \(2,\)"):
        grad.numerical_grad(lambda v: v, np.zeros(2))
    with pytest.raises(ValueError, match="finite"):
        grad.numerical_grad(wavy, np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="eps must be > 0; got 0"):
        grad.numerical_grad(wavy, np.zeros(2), eps=0)


def test_check_gradient_passes_a_right_gradient():
    x = np.random.default_rng(1).normal(size=5)
    report = grad.check_gradient(wavy, wavy_grad, x)
    assert report.passed and report.max_rel_error < 1e-8 and report.max_abs_error < 1e-8
    assert str(report).startswith("max relative error ")
    assert str(report).endswith("(tolerance 1e-06): passed")


def test_check_gradient_flags_a_wrong_gradient():
    x = np.random.default_rng(2).normal(size=5)
    report = grad.check_gradient(wavy, lambda v: np.cos(v) * v**2 + x * np.sin(v), x)
    assert not report.passed and report.max_rel_error > 1e-2
    assert "FAILED" in str(report)
    # a sign slip in one entry only is found, and where
    def off_by_sign(v):
        g = wavy_grad(v)
        g[3] = -g[3]
        return g

    report = grad.check_gradient(wavy, off_by_sign, x)
    assert not report.passed and report.worst_index == (3,)
    assert report.max_rel_error == pytest.approx(2.0, rel=1e-6)


def test_check_gradient_on_the_book_cross_entropy():
    x, target, _ = logits_and_targets((4, 5), seed=9)

    def loss(z):
        return xent.numpy.cross_entropy(z, target, label_smoothing=0.1)

    def loss_grad(z):
        return grad.cross_entropy_grad(z, target, label_smoothing=0.1)

    assert grad.check_gradient(loss, loss_grad, x).passed
    assert not grad.check_gradient(loss, lambda z: grad.cross_entropy_grad(z, target), x).passed


def test_check_gradient_treats_exact_zeros_as_agreement():
    x = np.array([-2.0, -0.5, 0.7, 1.5])
    report = grad.check_gradient(lambda v: np.sum(np.maximum(v, 0) ** 2),
                                 lambda v: 2 * np.maximum(v, 0), x)
    assert report.passed


def test_check_gradient_rejects_a_gradient_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r"grad_f must return an array of x's shape \(3,\)"):
        grad.check_gradient(wavy, lambda v: np.zeros(2), np.zeros(3))
