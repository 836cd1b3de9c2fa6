"""Plain-Python checks shared by the normalisers and classification losses.

Both backends call these with shapes (tuples of ints) and Python numbers, so the
rules and the wording of every error message are the same in ``xent.numpy`` and
``xent.torch``. Each message names the argument, the value it got and what is valid.
"""

import numbers

from ._checks import REDUCTIONS, class_dim

KL_REDUCTIONS = (*REDUCTIONS, "batchmean")


def normalise_dims(dim, ndim):
    """Return ``dim`` (an int or a tuple of ints) as a tuple of dims in ``0..ndim-1``.

    Negative dims count from the end, as in PyTorch; a 0-d array accepts 0 and -1.
    Raises IndexError for a dim out of range and ValueError for a repeated dim or
    an empty tuple.
    """
    dims = tuple(dim) if isinstance(dim, tuple | list) else (dim,)
    if not dims:
        raise ValueError("dim must name at least one dimension; got an empty tuple")
    size = max(ndim, 1)
    result = []
    for d in dims:
        if not isinstance(d, numbers.Integral) or isinstance(d, bool):
            raise TypeError(f"dim must be an int or a tuple of ints; got {d!r}")
        d = int(d)
        if not -size <= d < size:
            raise IndexError(
                f"dim {d} is out of range for a {ndim}-d input: valid dims are {-size}..{size - 1}"
            )
        result.append(d % size)
    if len(set(result)) != len(result):
        raise ValueError(f"dim {dim!r} names the same dimension twice")
    return tuple(result)


def normalise_dim(dim, ndim):
    """A single dim (an int) as an index in ``0..ndim-1``; see ``normalise_dims``."""
    if isinstance(dim, tuple | list):
        raise TypeError(f"dim must be a single int here; got {dim!r}")
    return normalise_dims(dim, ndim)[0]


def check_kl_reduction(reduction):
    """Raise ValueError unless ``reduction`` is 'none', 'mean', 'sum' or 'batchmean'."""
    if reduction not in KL_REDUCTIONS:
        raise ValueError(
            f"reduction must be one of 'none', 'mean', 'sum' or 'batchmean'; got {reduction!r}"
        )


def index_target_shape(input_shape):
    """The shape a class-index target must have: the input's shape without the class dim.

    ``(C,) -> ()``, ``(N, C) -> (N,)``, ``(N, C, d1, ..., dk) -> (N, d1, ..., dk)``.
    """
    dim = class_dim(len(input_shape))
    return tuple(input_shape[:dim]) + tuple(input_shape[dim + 1 :])


def check_index_target_shape(input_shape, target_shape):
    """Raise ValueError unless a class-index target fits an input of ``input_shape``."""
    expected = index_target_shape(input_shape)
    if tuple(target_shape) != expected:
        raise ValueError(
            f"target of class indices must have shape {expected} for an input of shape "
            f"{tuple(input_shape)} (the input's shape without the class dim "
            f"{class_dim(len(input_shape))}); got shape {tuple(target_shape)}"
        )


def check_probability_target_shape(input_shape, target_shape):
    """Raise ValueError unless a class-probability target has the input's shape."""
    if tuple(target_shape) != tuple(input_shape):
        raise ValueError(
            f"target holds floats, so it is read as class probabilities and must have the "
            f"input's shape {tuple(input_shape)}; got shape {tuple(target_shape)} "
            "(for class indices, pass an integer target)"
        )


def check_class_weight_shape(weight_shape, n_classes):
    """Raise ValueError unless a per-class ``weight`` has shape ``(n_classes,)``."""
    if tuple(weight_shape) != (n_classes,):
        raise ValueError(
            f"weight must be 1-D with one entry per class, shape ({n_classes},); "
            f"got shape {tuple(weight_shape)}"
        )


def target_out_of_range(bad_index, n_classes, ignore_index):
    """The IndexError for a class index that is neither a class nor ``ignore_index``."""
    valid = f"0..{n_classes - 1}" if n_classes > 0 else "none (the input has 0 classes)"
    return IndexError(
        f"target index {bad_index} is out of range for {n_classes} classes: "
        f"valid indices are {valid} (or ignore_index={ignore_index})"
    )


def check_same_shape(name, shape, input_shape):
    """Raise ValueError unless ``shape`` equals the input's shape."""
    if tuple(shape) != tuple(input_shape):
        raise ValueError(
            f"{name} must have the input's shape {tuple(input_shape)}; got shape {tuple(shape)}"
        )


def check_broadcasts_to(name, shape, input_shape):
    """Raise ValueError unless an array of ``shape`` broadcasts to ``input_shape``.

    Broadcasting may add leading dims of 1 and stretch dims of size 1, but must not
    change the shape of the result (PyTorch's rule for ``weight`` and ``pos_weight``).
    """
    shape, input_shape = tuple(shape), tuple(input_shape)
    fits = len(shape) <= len(input_shape) and all(
        s in (1, n) for s, n in zip(reversed(shape), reversed(input_shape), strict=False)
    )
    if not fits:
        raise ValueError(
            f"{name} of shape {shape} does not broadcast to the input's shape {input_shape}"
        )


def broadcast_shapes(name_a, shape_a, name_b, shape_b):
    """The broadcast shape of two shapes, or ValueError naming both (NumPy's rules)."""
    shape_a, shape_b = tuple(shape_a), tuple(shape_b)
    n = max(len(shape_a), len(shape_b))
    a = (1,) * (n - len(shape_a)) + shape_a
    b = (1,) * (n - len(shape_b)) + shape_b
    result = []
    for sa, sb in zip(a, b, strict=True):
        if sa != sb and 1 not in (sa, sb):
            raise ValueError(
                f"{name_a} of shape {shape_a} and {name_b} of shape {shape_b} do not broadcast"
            )
        result.append(sb if sa == 1 else sa)
    return tuple(result)
