"""PyTorch's own test inputs for the 25 functions, run against both backends.

PyTorch describes each operator of its test suite with an OpInfo
(``torch.testing._internal.common_methods_invocations.op_db``): sample inputs
(``sample_inputs_func``), harder reference inputs with NaN, infinities and odd
shapes (``reference_inputs_func``) and inputs it must refuse (``error_inputs_func``).
Each sample is a case the package's own tests did not choose. For every sample
in float64 and float32 on the CPU:

- if ``torch.nn.functional`` accepts it, ``xent.numpy`` and ``xent.torch`` return
  the same value (shape, dtype, NaN where PyTorch has NaN) and ``xent.torch`` the
  same gradient for every tensor PyTorch differentiates;
- if PyTorch refuses it, both backends raise TypeError, ValueError or IndexError.

The documented deviations are tested in ``test_deviations_*`` below. The samples
are taken in PyTorch's order, every ``STRIDE``-th of the long lists, so the run is
deterministic and takes a few seconds after the import of ``op_db`` (about 10 s:
that module builds the OpInfo of every PyTorch operator).
"""

import functools
import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import xent.numpy as xn
import xent.torch as xt

FUNCTIONS = [
    *["softmax", "log_softmax", "logsumexp"],
    *["sigmoid", "logsigmoid", "tanh", "relu", "relu6", "leaky_relu", "elu", "silu", "mish"],
    "softplus",
    *["nll_loss", "cross_entropy", "binary_cross_entropy", "binary_cross_entropy_with_logits"],
    "kl_div",
    *["soft_margin_loss", "multi_margin_loss", "hinge_embedding_loss"],
    *["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss"],
]
DTYPES = [torch.float64, torch.float32]
TOL = {torch.float64: dict(rtol=1e-10, atol=1e-12), torch.float32: dict(rtol=1e-5, atol=1e-5)}
MAX_SAMPLES = 40  # per function, dtype and kind; longer lists are thinned evenly
MAX_ELEMENTS = 4096  # per input of an activation; larger ones are thinned evenly
ELEMENTWISE = FUNCTIONS[3:13]  # the activations
WITH_ERROR_INPUTS = ["soft_margin_loss", "multi_margin_loss", "hinge_embedding_loss"]
WITH_ERROR_INPUTS += ["l1_loss", "huber_loss"]  # (op_db is imported on first use, not here)
# PyTorch's gradient at a NaN input depends on where the element sits (SIMD block or
# scalar tail): see test_deviations_pytorch_gradient_at_nan_depends_on_the_position.
GRADIENT_UNDEFINED_AT_NAN = {"relu6", "elu"}


@functools.cache
def opinfos():
    """The OpInfo of each function (its plain variant: no dtype= keyword, not masked)."""
    from torch.testing._internal.common_methods_invocations import op_db

    found = {}
    for op in op_db:
        name = op.name.removeprefix("nn.functional.")
        if name in FUNCTIONS and op.variant_test_name == "":
            found[name] = op
    return found


def thinned(samples):
    """At most MAX_SAMPLES of ``samples``, evenly spaced, in PyTorch's order."""
    samples = list(samples)
    stride = max(1, math.ceil(len(samples) / MAX_SAMPLES))
    return samples[::stride]


def shrunk(sample):
    """A sample of an elementwise function with at most MAX_ELEMENTS elements.

    The reference inputs of the activations include grids of a million values; an
    evenly spaced subset keeps their kinds of values (tiny, huge, extremal) and
    saves seconds.
    """
    x = sample.input
    if x.numel() <= MAX_ELEMENTS:
        return sample
    subset = x.detach().flatten()[:: math.ceil(x.numel() / MAX_ELEMENTS)].clone()
    subset.requires_grad_(x.requires_grad)
    return type(sample)(subset, args=sample.args, kwargs=sample.kwargs)


def samples_of(name, dtype):
    """PyTorch's sample and reference inputs, thinned (called directly: the OpInfo
    wrappers inspect the call stack on every call, which is slow under pytest)."""
    op = opinfos()[name]
    torch.manual_seed(0)
    samples = thinned(op.sample_inputs_func(op, "cpu", dtype, True))
    if op.reference_inputs_func is not None:
        samples += thinned(op.reference_inputs_func(op, "cpu", dtype, True))
    return [shrunk(sample) if name in ELEMENTWISE else sample for sample in samples]


def fresh(value):
    """A copy of every tensor in ``value`` (same requires_grad), so no call sees another's."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone().requires_grad_(value.requires_grad)
    if isinstance(value, list | tuple):
        return type(value)(fresh(v) for v in value)
    return value


def as_numpy(value):
    if isinstance(value, torch.Tensor):
        return value.detach().numpy().copy()
    if isinstance(value, list | tuple):
        return type(value)(as_numpy(v) for v in value)
    return value


def call(function, sample, convert):
    args = [convert(sample.input), *(convert(a) for a in sample.args)]
    kwargs = {k: convert(v) for k, v in sample.kwargs.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # kl_div's 'mean' advice
        return function(*args, **kwargs), args, kwargs


def in_float64(value):
    """``fresh``, with floating tensors in float64: PyTorch's exact-as-can-be float32 answer."""
    value = fresh(value)
    if isinstance(value, torch.Tensor) and value.is_floating_point():
        return value.detach().double().requires_grad_(value.requires_grad)
    if isinstance(value, list | tuple):
        return type(value)(in_float64(v) for v in value)
    return value


def value_and_gradients(function, sample, convert):
    """``function``'s value on ``sample`` and the gradient of ``sum(value * u)`` with respect
    to each tensor that requires it (None where unused), ``u`` fixed random numbers."""
    value, args, kwargs = call(function, sample, convert)
    inputs = [t for t in [*args, *kwargs.values()] if isinstance(t, torch.Tensor)]
    inputs = [t for t in inputs if t.requires_grad]
    if not (value.requires_grad and inputs):
        return value.detach(), [None] * len(inputs)
    seeded = torch.Generator().manual_seed(0)
    upstream = torch.randn(value.shape, dtype=torch.float64, generator=seeded).to(value.dtype)
    return value.detach(), torch.autograd.grad(value, inputs, upstream, allow_unused=True)


def close(actual, expected):
    """Same shape, the expected dtype, values within the dtype's tolerance (NaN where NaN)."""
    dtype = expected.dtype
    try:
        torch.testing.assert_close(actual, expected, equal_nan=True, **TOL[dtype])
    except AssertionError:
        return False
    return True


def check_sample(name, sample, dtype):
    """Run one sample through PyTorch and both backends; return 'accepted' or 'refused'.

    In float32 a result may instead match PyTorch's in float64 on the same numbers (cast
    back to float32): xent's float32 answer is sometimes the more accurate one (the
    gradient of logsumexp at inputs near 2000, where PyTorch loses |x| * 2**-24).
    """
    pytorch = getattr(F, name, None) or getattr(torch, name)
    try:
        oracles = [value_and_gradients(pytorch, sample, fresh)]
    except (RuntimeError, ValueError, TypeError, IndexError):
        for module, convert in [(xn, as_numpy), (xt, fresh)]:
            with pytest.raises((TypeError, ValueError, IndexError)):
                call(getattr(module, name), sample, convert)
        return "refused"
    if dtype == torch.float32:
        value, gradients = value_and_gradients(pytorch, sample, in_float64)
        gradients = [None if g is None else g.float() for g in gradients]
        oracles.append((value.to(oracles[0][0].dtype), gradients))
    ours, _, _ = call(getattr(xn, name), sample, as_numpy)
    ours = torch.from_numpy(np.asarray(ours))
    assert any(close(ours, value) for value, _ in oracles), f"xent.numpy: {name} {sample}"
    ours, our_gradients = value_and_gradients(getattr(xt, name), sample, fresh)
    assert any(close(ours, value) for value, _ in oracles), f"xent.torch: {name} {sample}"
    x = sample.input
    for i, ours in enumerate(our_gradients):
        theirs = [gradients[i] for _, gradients in oracles if gradients[i] is not None]
        if not theirs:
            continue  # PyTorch does not differentiate this argument
        ours = torch.zeros_like(theirs[0]) if ours is None else ours
        if name in GRADIENT_UNDEFINED_AT_NAN and i == 0:
            ours, theirs = ours[~x.isnan()], [g[~x.isnan()] for g in theirs]
        assert any(close(ours, g) for g in theirs), f"gradient {i} of xent.torch: {name} {sample}"
    return "accepted"


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("name", FUNCTIONS)
def test_pytorch_sample_inputs(name, dtype, record_property):
    outcomes = [check_sample(name, sample, dtype) for sample in samples_of(name, dtype)]
    assert outcomes, f"op_db has no samples for {name}"
    record_property("samples", len(outcomes))


@pytest.mark.parametrize("name", WITH_ERROR_INPUTS)
def test_pytorch_error_inputs(name):
    """Every input PyTorch refuses, both backends refuse with one of our exceptions."""
    op = opinfos()[name]
    errors = list(op.error_inputs_func(op, torch.device("cpu")))
    assert errors
    for error in errors:
        sample = error.sample_input
        for module, convert in [(xn, as_numpy), (xt, fresh)]:
            with pytest.raises((TypeError, ValueError, IndexError)):
                call(getattr(module, name), sample, convert)


def test_every_function_has_an_opinfo():
    assert sorted(opinfos()) == sorted(FUNCTIONS)
    with_errors = [name for name, op in opinfos().items() if op.error_inputs_func]
    assert sorted(with_errors) == sorted(WITH_ERROR_INPUTS)


@pytest.mark.parametrize("name", sorted(GRADIENT_UNDEFINED_AT_NAN))
def test_deviations_pytorch_gradient_at_nan_depends_on_the_position(name):
    """At a NaN input PyTorch's gradient of relu6 (0 or passed on) and elu (NaN or passed
    on) differs between the elements its vectorised loop handles and the scalar tail, so
    only the gradients at inputs other than NaN are compared. xent's is the same at every
    position: relu6 passes the gradient on (NaN is neither <= 0 nor >= 6), elu gives NaN."""
    x = torch.full((20,), math.nan, dtype=torch.float64, requires_grad=True)
    (theirs,) = torch.autograd.grad(getattr(F, name)(x).sum(), x)
    assert len({str(g) for g in theirs.tolist()}) > 1  # not the same at every position
    (ours,) = torch.autograd.grad(getattr(xt, name)(x).sum(), x)
    expected = torch.ones(20) if name == "relu6" else torch.full((20,), math.nan)
    torch.testing.assert_close(ours, expected.double(), equal_nan=True)
