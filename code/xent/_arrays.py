"""Input checks for the NumPy backend.

``as_float_array`` is how every function of ``xent.numpy`` receives its arrays:
it refuses what is not a floating NumPy array and tells the function which
dtype to compute in (float16 is computed in float32, as PyTorch does on CPU).
"""

import numpy as np

FLOAT_DTYPES = (np.float16, np.float32, np.float64)


def as_float_array(name, x):
    """Return ``(x, compute_dtype)`` for a floating NumPy array ``x``.

    Raises TypeError for anything that is not a ``numpy.ndarray`` (or NumPy
    floating scalar) of dtype float16, float32 or float64. ``compute_dtype``
    is float32 for float16 input and the input's own dtype otherwise; cast the
    result back with ``result.astype(x.dtype)``.
    """
    if isinstance(x, np.floating):
        x = np.asarray(x)
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray of floats; got {type(x).__name__}")
    if x.dtype not in FLOAT_DTYPES:
        raise TypeError(
            f"{name} must have dtype float16, float32 or float64; got {x.dtype}"
        )
    compute_dtype = np.dtype(np.float32) if x.dtype == np.float16 else x.dtype
    return x, compute_dtype


def reduce_loss(loss, reduction):
    """Apply ``reduction`` ('none', 'mean' or 'sum') to elementwise losses.

    'mean' of an empty array is NaN and 'sum' is 0, as in PyTorch, without
    NumPy's empty-slice warning. The caller has already checked ``reduction``.
    """
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    if loss.size == 0:
        return np.array(np.nan, dtype=loss.dtype)
    return loss.mean()
