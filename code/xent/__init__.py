"""xent: the reference code of the course *Softmax and cross-entropy*.

Submodules (imported on first use, so ``import xent`` stays light and
``xent.numpy`` never imports PyTorch):

- ``xent.numpy``   from-scratch NumPy versions of ``torch.nn.functional`` functions
- ``xent.torch``   the same functions built from elementary torch ops (autograd-ready)
- ``xent.grad``    closed-form gradients and Jacobians, and a numerical gradient checker
- ``xent.precise`` high-precision (mpmath) references, correctly rounded to float64
- ``xent.data``    deterministic datasets that need no download
- ``xent.plots``   the book's figure style and shared plotting helpers
- ``xent.metrics`` accuracy, calibration error, per-label F1 and average precision
- ``xent.training`` a seeded mini-batch training loop with a progress bar
- ``xent.scale``   exact cross-entropy for very large vocabularies: chunked, online, vocab-parallel
"""

import importlib

__version__ = "0.1.0"
_SUBMODULES = ["numpy", "torch", "grad", "precise", "data", "plots", "metrics", "training", "scale"]
__all__ = _SUBMODULES + ["setup_notebook", "glue"]


def __getattr__(name):
    if name in _SUBMODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'xent' has no attribute {name!r}")


def setup_notebook(seed=0):
    """Make a notebook deterministic and give it the book's look.

    Seeds Python's, NumPy's and PyTorch's global generators with ``seed``, runs
    PyTorch on one thread with deterministic algorithms only, fixes the print precision
    (4 digits) and applies the figure style of ``xent.plots``. Returns a fresh
    ``numpy.random.Generator`` seeded with ``seed``.
    """
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 (legacy global generator, for code that still uses it)
    np.set_printoptions(precision=4, suppress=True)
    try:
        import torch
    except ImportError:  # the NumPy-only chapters still work without PyTorch
        pass
    else:
        torch.manual_seed(seed)
        torch.set_printoptions(precision=4, sci_mode=False)
        # One thread: the book's tensors are tiny (threads only add overhead), and
        # a fixed summation order keeps results identical from run to run.
        torch.set_num_threads(1)
        # An operation without a deterministic implementation raises instead of
        # returning different bits from run to run.
        torch.use_deterministic_algorithms(True)
    from . import plots

    plots.use_style()
    return np.random.default_rng(seed)


# Significant digits that `glue` keeps when a call does not say, by the precision of the value's
# type. A float64 result carries 15-17 digits, of which a well-conditioned computation fixes far
# more than 6 on every CPU; float32 (unit roundoff 6e-8) loses a few more to every reduction, so 4
# is the most its printout can promise; float16 (unit roundoff 5e-4) keeps 2.
SIGNIFICANT_DIGITS = {"float64": 6, "float32": 4, "bfloat16": 2, "float16": 2}


def glue(name, value, sig=None):
    """Store ``value`` so that a chapter's prose can quote it as {glue:text}`name`.

    Does what ``myst_nb.glue(name, value, display=False)`` does (a hidden display
    output that MyST-NB reads at build time), without importing myst_nb's glue
    module, which costs seconds per notebook. A real number is first rounded to
    ``sig`` significant digits, so that the stored text, which nbval compares
    on every run, holds only digits that the computation fixes on every CPU:
    by default 6 for a Python float or float64 value, 4 for float32 and 2 for
    float16 (pass a NumPy scalar or a 0-d tensor, not ``.item()``, to have its
    dtype taken into account). Say ``sig`` for a value that is less certain
    than its type (a float64 result of a float32 computation, a quantity
    sensitive to rounding) or that needs more digits (an exactly computed one).
    Integers, strings and booleans are stored as they are. The number of digits
    kept is recorded in the output's metadata, where the book's tests check
    that the prose never displays more. Returns None, so that a cell ending in
    a glue call displays nothing.
    """
    import numbers

    from IPython.core.formatters import format_display_data
    from IPython.display import display

    dtype = getattr(value, "dtype", None)
    if dtype is not None and getattr(value, "ndim", 0) == 0:
        value = value.item()  # NumPy scalars and 0-d arrays or tensors
    dtype = str(dtype).removeprefix("torch.")
    if isinstance(value, (str, bool)):
        stored, sig = value, None
    elif isinstance(value, numbers.Integral):
        stored, sig = int(value), None
    elif isinstance(value, numbers.Real):
        if sig is None:
            sig = SIGNIFICANT_DIGITS.get(dtype, SIGNIFICANT_DIGITS["float64"])
        if not isinstance(sig, numbers.Integral) or not 1 <= sig <= 17:
            raise ValueError(f"sig must be an integer in [1, 17] (a float64 has 17); got {sig!r}")
        stored = float(f"{float(value):.{sig}g}")
    else:
        raise TypeError(f"glue stores numbers and strings; got {type(value).__name__}")
    bundle, metadata = format_display_data(stored)
    metadata["scrapbook"] = {"name": name, "mime_prefix": GLUE_PREFIX}
    if sig is not None:
        metadata[GLUE_DIGITS_KEY] = int(sig)
    display({GLUE_PREFIX + key: data for key, data in bundle.items()}, raw=True, metadata=metadata)


# The MIME prefix under which MyST-NB (and papermill's scrapbook) find glued values.
GLUE_PREFIX = "application/papermill.record/"
# The metadata key under which `glue` records how many significant digits it kept.
GLUE_DIGITS_KEY = "xent_significant_digits"


def __dir__():
    return sorted(set(globals()) | set(_SUBMODULES))
