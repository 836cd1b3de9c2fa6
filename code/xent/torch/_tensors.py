"""Input checks for the PyTorch backend (the twin of ``xent._arrays``)."""

import torch

FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def as_float_tensor(name, x):
    """Return ``(x, compute_dtype)`` for a floating ``torch.Tensor`` ``x``.

    Raises TypeError for anything that is not a tensor of dtype float16,
    bfloat16, float32 or float64. ``compute_dtype`` is float32 for the half
    types and the input's own dtype otherwise; cast the result back with
    ``result.to(x.dtype)``.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of floats; got {type(x).__name__}")
    if x.dtype not in FLOAT_DTYPES:
        raise TypeError(
            f"{name} must have dtype float16, bfloat16, float32 or float64; got {x.dtype}"
        )
    compute_dtype = torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype
    return x, compute_dtype


def reduce_loss(loss, reduction):
    """Apply ``reduction`` ('none', 'mean' or 'sum') to elementwise losses.

    'mean' of an empty tensor is NaN and 'sum' is 0, as in PyTorch. The caller
    has already checked ``reduction``.
    """
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.mean()
