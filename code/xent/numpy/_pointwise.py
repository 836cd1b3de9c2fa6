"""Helpers shared by the NumPy activations, margin losses and regression losses."""

import numpy as np

from .._arrays import as_float_array
from .._classification_checks import broadcast_shapes, check_broadcasts_to
from .._pointwise_checks import check_shapes_equal


def as_compute_array(name, x):
    """Check ``x`` like ``as_float_array``; return ``(x in its compute dtype, x's dtype)``."""
    x, compute_dtype = as_float_array(name, x)
    return x.astype(compute_dtype, copy=False), x.dtype


def input_and_target(input, target):
    """Check the ``input`` and ``target`` of an elementwise loss.

    Both must be floating arrays of the same shape. Returns them in the compute
    dtype, with the dtype of the result: the promotion of the two dtypes (as in
    PyTorch's mse_loss), computed in float32 when that is float16.
    """
    input, _ = as_float_array("input", input)
    target, _ = as_float_array("target", target)
    check_shapes_equal(input.shape, target.shape)
    result_dtype = np.result_type(input.dtype, target.dtype)
    compute_dtype = np.float32 if result_dtype == np.float16 else result_dtype
    input = input.astype(compute_dtype, copy=False)
    target = target.astype(compute_dtype, copy=False)
    return input, target, result_dtype


def as_result(values, dtype):
    """Return ``values`` as an array of ``dtype``.

    A float16 result is rounded once, at the end; a value beyond float16's range
    becomes +-inf without NumPy's overflow warning, as in PyTorch.
    """
    with np.errstate(over="ignore"):
        return np.asarray(values).astype(dtype, copy=False)


def check_labels_plus_minus_one(target):
    """Raise ValueError unless every element of ``target`` is -1 or +1."""
    bad = (target != 1) & (target != -1)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            "target must contain only the labels -1 and 1; "
            f"got {target[index].item()!r} at index {index}"
        )


def input_and_real_target(input, target, into_input_shape):
    """Check the ``input`` and ``target`` of a loss that takes any real target, as PyTorch.

    The target must broadcast to the input's shape (``into_input_shape``, as in
    soft_margin_loss) or with it (as in hinge_embedding_loss). Returns both in the
    compute dtype (their promotion; float32 for float16) and the result's dtype,
    the input's.
    """
    input, _ = as_float_array("input", input)
    target, _ = as_float_array("target", target)
    if into_input_shape:
        check_broadcasts_to("target", target.shape, input.shape)
    else:
        broadcast_shapes("input", input.shape, "target", target.shape)
    result_dtype = input.dtype
    compute_dtype = np.result_type(input.dtype, target.dtype, np.float32)
    input = input.astype(compute_dtype, copy=False)
    target = target.astype(compute_dtype, copy=False)
    return input, target, result_dtype
