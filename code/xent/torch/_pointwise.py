"""Helpers shared by the torch activations, margin losses and regression losses."""

import torch

from .._classification_checks import broadcast_shapes, check_broadcasts_to
from .._pointwise_checks import check_shapes_equal
from ._tensors import as_float_tensor


def as_compute_tensor(name, x):
    """Check ``x`` like ``as_float_tensor``; return ``(x in its compute dtype, x's dtype)``."""
    x, compute_dtype = as_float_tensor(name, x)
    return x.to(compute_dtype), x.dtype


def input_and_target(input, target):
    """Check the ``input`` and ``target`` of an elementwise loss.

    Both must be floating tensors of the same shape. Returns them in the compute
    dtype, with the dtype of the result: the promotion of the two dtypes (as in
    PyTorch's mse_loss), computed in float32 when that is a half type.
    """
    input, _ = as_float_tensor("input", input)
    target, _ = as_float_tensor("target", target)
    check_shapes_equal(input.shape, target.shape)
    result_dtype = torch.promote_types(input.dtype, target.dtype)
    half_types = (torch.float16, torch.bfloat16)
    compute_dtype = torch.float32 if result_dtype in half_types else result_dtype
    return input.to(compute_dtype), target.to(compute_dtype), result_dtype


def positive_part(z):
    """max(z, 0), keeping NaN; its gradient is 1 for z > 0 and 0 for z <= 0 (as relu's)."""
    return torch.where(z <= 0, 0.0, z)


def negative_part(z):
    """min(z, 0), keeping NaN; its gradient is 1 for z <= 0 (and NaN) and 0 for z > 0."""
    return torch.where(z > 0, 0.0, z)


def minus_abs(x):
    """-|x|, with gradient -1 at x = 0 (torch.abs has gradient 0 there, which
    would make the gradient of every function built on it wrong at 0)."""
    return torch.where(x >= 0, -x, x)


def check_labels_plus_minus_one(target):
    """Raise ValueError unless every element of ``target`` is -1 or +1."""
    bad = (target != 1) & (target != -1)
    if bad.any():
        index = tuple(int(i) for i in torch.nonzero(bad)[0])
        raise ValueError(
            "target must contain only the labels -1 and 1; "
            f"got {target[index].item()!r} at index {index}"
        )


def input_and_real_target(input, target, into_input_shape):
    """Check the ``input`` and ``target`` of a loss that takes any real target, as PyTorch.

    The target must broadcast to the input's shape (``into_input_shape``, as in
    soft_margin_loss) or with it (as in hinge_embedding_loss). Returns both in the
    compute dtype (their promotion; float32 for half types) and the result's dtype,
    the input's.
    """
    input, _ = as_float_tensor("input", input)
    target, _ = as_float_tensor("target", target)
    if into_input_shape:
        check_broadcasts_to("target", target.shape, input.shape)
    else:
        broadcast_shapes("input", input.shape, "target", target.shape)
    compute_dtype = torch.promote_types(input.dtype, target.dtype)
    compute_dtype = torch.promote_types(compute_dtype, torch.float32)  # half types in float32
    return input.to(compute_dtype), target.to(compute_dtype), input.dtype
