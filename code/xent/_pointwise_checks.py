"""Checks of the plain-Python arguments of the activations and of the margin
and regression losses (both backends).

Like ``xent._checks``, each check names the argument, the value it got and the
values it accepts. A number is a Python or NumPy real number; ``bool`` is not.
"""

import math
import numbers


def check_real(name, value):
    """Raise TypeError unless ``value`` is a real number (bool excluded)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {type(value).__name__} {value!r}")


def check_finite(name, value):
    """Raise unless ``value`` is a finite real number (NaN and +-inf are rejected)."""
    check_real(name, value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite real number; got {value!r}")


def check_positive_finite(name, value):
    """Raise unless ``value`` is in (0, inf)."""
    check_real(name, value)
    if not (0 < value < math.inf):
        raise ValueError(f"{name} must be in (0, inf); got {value!r}")


def check_non_negative_finite(name, value):
    """Raise unless ``value`` is in [0, inf)."""
    check_real(name, value)
    if not (0 <= value < math.inf):
        raise ValueError(f"{name} must be in [0, inf); got {value!r}")


def check_not_nan(name, value):
    """Raise unless ``value`` is a real number other than NaN (+-inf are accepted)."""
    check_real(name, value)
    if math.isnan(value):
        raise ValueError(f"{name} must be a real number or +-inf, not NaN; got {value!r}")


def check_choice(name, value, choices):
    """Raise ValueError unless ``value`` is one of ``choices``."""
    if not isinstance(value, str) or value not in choices:
        allowed = " or ".join(repr(choice) for choice in choices)
        raise ValueError(f"{name} must be {allowed}; got {value!r}")


def check_shapes_equal(input_shape, target_shape):
    """Raise ValueError unless input and target have the same shape (no broadcasting)."""
    if tuple(input_shape) != tuple(target_shape):
        raise ValueError(
            "input and target must have the same shape; "
            f"got input {tuple(input_shape)} and target {tuple(target_shape)}"
        )
