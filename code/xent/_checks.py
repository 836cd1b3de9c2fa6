"""Argument checks shared by both backends.

Each check raises an exception whose message names the argument, the value it
got and the range it accepts, so that bad input never turns into a silent NaN.
Only plain-Python values are checked here; array-valued checks live with the
backend that owns the arrays.
"""

REDUCTIONS = ("none", "mean", "sum")


def check_reduction(reduction):
    """Raise ValueError unless ``reduction`` is 'none', 'mean' or 'sum'."""
    if reduction not in REDUCTIONS:
        raise ValueError(
            f"reduction must be one of 'none', 'mean' or 'sum'; got {reduction!r}"
        )


def check_in_closed_interval(name, value, low, high):
    """Raise ValueError unless ``low <= value <= high`` (NaN is rejected too)."""
    if not (low <= value <= high):
        raise ValueError(f"{name} must be in [{low}, {high}]; got {value!r}")


def check_positive(name, value):
    """Raise ValueError unless ``value > 0`` (NaN is rejected too)."""
    if not (value > 0):
        raise ValueError(f"{name} must be > 0; got {value!r}")


def check_non_negative(name, value):
    """Raise ValueError unless ``value >= 0`` (NaN is rejected too)."""
    if not (value >= 0):
        raise ValueError(f"{name} must be >= 0; got {value!r}")


def class_dim(ndim):
    """The class dimension PyTorch uses: 0 for a 1-D input, 1 for 2+ dims.

    Raises ValueError for a 0-d input, which has no class dimension.
    """
    if ndim == 0:
        raise ValueError("input must have at least 1 dimension (the classes); got a 0-d input")
    return 0 if ndim == 1 else 1
