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
"""

import importlib

__version__ = "0.1.0"
_SUBMODULES = ["numpy", "torch", "grad", "precise", "data", "plots", "metrics", "training"]
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
    PyTorch on one thread, fixes the print precision (4 digits) and applies the figure style of
    ``xent.plots``. Returns a fresh ``numpy.random.Generator`` seeded with ``seed``.
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
    from . import plots

    plots.use_style()
    return np.random.default_rng(seed)


def glue(name, value, digits=8):
    """Store ``value`` so that a chapter's prose can quote it as {glue:text}`name`.

    Does what ``myst_nb.glue(name, value, display=False)`` does (a hidden display
    output that MyST-NB reads at build time), without importing myst_nb's glue
    module, which costs seconds per notebook. Real numbers are first rounded to
    ``digits`` decimals (numbers too small for that, to 8 significant digits), so
    that the stored text (which nbval compares on every run) does not depend on
    the last bits a particular CPU produces; integers,
    strings and booleans are stored as they are. Returns None, so that a cell
    ending in a glue call displays nothing.
    """
    import numbers

    from IPython.core.formatters import format_display_data
    from IPython.display import display

    if isinstance(value, (str, bool)):
        stored = value
    elif isinstance(value, numbers.Integral):
        stored = int(value)
    elif isinstance(value, numbers.Real):
        value = float(value)
        if value != 0 and abs(value) < 10.0**-digits:
            # so small that `digits` decimals would print it as 0: keep 8 significant digits
            stored = float(f"{value:.8g}")
        else:
            stored = round(value, digits)
    else:
        raise TypeError(f"glue stores numbers and strings; got {type(value).__name__}")
    bundle, metadata = format_display_data(stored)
    metadata["scrapbook"] = {"name": name, "mime_prefix": GLUE_PREFIX}
    display({GLUE_PREFIX + key: data for key, data in bundle.items()}, raw=True, metadata=metadata)


# The MIME prefix under which MyST-NB (and papermill's scrapbook) find glued values.
GLUE_PREFIX = "application/papermill.record/"


def __dir__():
    return sorted(set(globals()) | set(_SUBMODULES))
