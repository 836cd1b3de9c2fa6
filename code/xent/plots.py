"""The book's figure style and the plotting helpers that several chapters share.

``use_style()`` gives every figure the same look: a 6.4 x 4.0 inch canvas drawn
at 110 dpi, DejaVu Sans (it ships with Matplotlib, so nothing is fetched from
the web), the Okabe-Ito colour-blind-safe palette as the colour cycle, a light
grid and no top or right spine. ``xent.setup_notebook()`` calls it.

Every helper takes an optional ``ax`` (it draws a new figure when none is
given), labels its axes, adds a legend and returns what it drew on; none calls
``plt.show()``.

- ``function_and_derivative``  an activation and its derivative (chapter 1)
- ``losses_vs_margin``         losses as functions of the margin y·s (chapters 7, 8)
- ``training_curves``          loss and accuracy per epoch for several runs (chapters 3, 6, 7)
- ``reliability_diagram``      calibration (chapters 6, 7); ``expected_calibration_error`` is
  ``xent.metrics``' and is re-exported here
- ``simplex_heatmap``          a function over the 3-class probability simplex (chapter 2)
"""

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator
from matplotlib.tri import Triangulation

from .metrics import calibration_bins, expected_calibration_error

__all__ = [
    "PALETTE",
    "COLORS",
    "STYLE",
    "use_style",
    "function_and_derivative",
    "losses_vs_margin",
    "training_curves",
    "expected_calibration_error",
    "reliability_diagram",
    "simplex_heatmap",
]

# Okabe & Ito (2008), "Color Universal Design": eight colours that stay distinct
# for the common forms of colour-vision deficiency.
PALETTE = {
    "blue": "#0072B2",
    "orange": "#E69F00",
    "bluish green": "#009E73",
    "vermillion": "#D55E00",
    "sky blue": "#56B4E9",
    "reddish purple": "#CC79A7",
    "yellow": "#F0E442",
    "black": "#000000",
}
# The colour cycle, in the order above: the high-contrast colours first, the
# pale yellow (hard to see on white) late.
COLORS = list(PALETTE.values())

STYLE = {
    "figure.figsize": (6.4, 4.0),
    "figure.dpi": 110,  # the inline backend draws PNGs at the figure's dpi
    "savefig.dpi": 110,
    "savefig.bbox": "tight",
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "mathtext.fontset": "dejavusans",
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "axes.prop_cycle": mpl.cycler(color=COLORS),
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#d9d9d9",
    "grid.linewidth": 0.6,
    "grid.alpha": 1.0,
    "axes.axisbelow": True,
    "lines.linewidth": 1.8,
    "image.cmap": "viridis",
    "svg.hashsalt": "xent",  # fixed ids inside SVG output (its date still changes)
}


def use_style():
    """Apply the book's figure style (``STYLE``) to Matplotlib's rcParams.

    Only the keys in ``STYLE`` change; calling it twice is the same as once.
    Works with any backend (Agg in tests, the inline backend in notebooks).
    """
    mpl.rcParams.update(STYLE)


def _new_axes_if_none(ax):
    if ax is None:
        _, ax = plt.subplots()
    return ax


def _values_on_grid(f, x, what):
    """Call ``f(x)`` and check that it returned one value per point of ``x``."""
    y = np.asarray(f(x), dtype=float)
    if y.shape != x.shape:
        raise ValueError(f"{what} must return an array of shape {x.shape}; got shape {y.shape}")
    return y


def _grid(x, default, name):
    if x is None:
        return default
    x = np.asarray(x, dtype=float)
    if x.ndim != 1 or x.size < 3:
        raise ValueError(f"{name} must be a 1-D array of at least 3 points; got shape {x.shape}")
    return x


def function_and_derivative(f, df, x=None, name="f", ax=None):
    """Plot ``f`` (solid) and its derivative ``df`` (dashed) on one axes.

    Args:
        f: callable mapping an array of inputs to an array of the same shape.
        df: its derivative, the same kind of callable.
        x: the 1-D grid of inputs; default ``numpy.linspace(-5, 5, 501)``.
        name: how the legend names the function, e.g. ``"tanh"`` or ``r"$\\sigma$"``;
            the legend reads ``name(x)`` and ``name′(x)``.

    Returns:
        The axes. Chapter 1 draws every activation this way.
    """
    x = _grid(x, np.linspace(-5.0, 5.0, 501), "x")
    y = _values_on_grid(f, x, "f")
    dy = _values_on_grid(df, x, "df")
    ax = _new_axes_if_none(ax)
    (line,) = ax.plot(x, y, label=f"{name}(x)")
    ax.plot(x, dy, linestyle="--", color=line.get_color(), label=f"{name}′(x)")
    ax.set_xlabel("input $x$")
    ax.set_ylabel("output")
    ax.legend()
    return ax


def losses_vs_margin(losses, margins=None, ax=None, derivative=False):
    """Plot margin-based losses, or their derivatives, against the margin m = y·s.

    For a label y in {-1, +1} and a score s, the margin y·s is positive when the prediction
    is right.

    Args:
        losses: dict label -> callable mapping an array of margins to an array of
            losses of the same shape, e.g. ``{"logistic": lambda m: np.log1p(np.exp(-m))}``.
        margins: 1-D grid of margins; default ``numpy.linspace(-3, 3, 601)``.
        derivative: plot d loss / d m instead, by central differences on the grid
            (``numpy.gradient``, second order at the ends too), so a kink shows
            as a step.

    Returns:
        The axes. Chapters 7 and 8 compare losses this way.
    """
    if not losses:
        raise ValueError("losses must be a non-empty dict label -> callable; got an empty one")
    margins = _grid(margins, np.linspace(-3.0, 3.0, 601), "margins")
    ax = _new_axes_if_none(ax)
    for label, loss in losses.items():
        values = _values_on_grid(loss, margins, f"losses[{label!r}]")
        if derivative:
            values = np.gradient(values, margins, edge_order=2)
        ax.plot(margins, values, label=label)
    ax.set_xlabel("margin  y·s")
    ax.set_ylabel("d loss / d margin" if derivative else "loss")
    ax.legend()
    return ax


def training_curves(histories, metrics=("loss", "accuracy"), axes=None):
    """Plot per-epoch metrics of several training runs, one subplot per metric.

    Args:
        histories: dict run name -> dict metric name -> list of per-epoch values,
            e.g. ``{"logits + CE": {"loss": [...], "accuracy": [...]}}``; every run
            must record every metric in ``metrics``. Epochs are numbered from 1.
        metrics: names of the metrics to plot, in subplot order.
        axes: a sequence of ``len(metrics)`` axes to draw on; default a new figure.

    Returns:
        ``(fig, axes)`` with ``axes`` a 1-D array of Axes. A run keeps its colour across
        subplots. Chapters 3, 6 and 7 compare training runs this way.
    """
    if not histories:
        raise ValueError("histories must be a non-empty dict run -> metrics; got an empty one")
    metrics = list(metrics)
    if not metrics:
        raise ValueError("metrics must name at least one metric; got none")
    for run, history in histories.items():
        for metric in metrics:
            if metric not in history:
                raise ValueError(
                    f"histories[{run!r}] has no metric {metric!r}; it has {sorted(history)}"
                )
    if axes is None:
        width, height = mpl.rcParams["figure.figsize"]
        fig, axes = plt.subplots(1, len(metrics), figsize=(width, height * 0.8), squeeze=False)
        axes = axes[0]
    else:
        axes = np.asarray(axes, dtype=object).ravel()
        if len(axes) != len(metrics):
            raise ValueError(
                f"axes must hold one axes per metric ({len(metrics)}); got {len(axes)}"
            )
        fig = axes[0].figure
    for ax, metric in zip(axes, metrics, strict=True):
        for color, (run, history) in zip(_cycle(), histories.items(), strict=False):
            values = np.asarray(history[metric], dtype=float)
            epochs = np.arange(1, len(values) + 1)
            ax.plot(epochs, values, color=color, marker="o", markersize=3, label=run)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.legend()
    return fig, axes


def _cycle():
    """The current colour cycle, repeated forever."""
    colors = mpl.rcParams["axes.prop_cycle"].by_key()["color"]
    while True:
        yield from colors


def reliability_diagram(probs, labels, n_bins=10, ax=None, label=None):
    """Draw accuracy against confidence per bin, with the diagonal of perfect calibration.

    Arguments as in ``expected_calibration_error``; ``label`` names the model in
    the legend (the legend also shows its ECE). Each non-empty bin is a point
    at (mean confidence, accuracy): points below the diagonal are
    over-confident. Calling it again on the same ``ax`` overlays another model.
    Returns ``(ax, ece)``. Chapters 6 and 8.
    """
    count, mean_confidence, accuracy = calibration_bins(probs, labels, n_bins)
    ece = expected_calibration_error(probs, labels, n_bins)
    ax = _new_axes_if_none(ax)
    if not any(line.get_gid() == "perfect calibration" for line in ax.lines):
        ax.plot(
            [0, 1], [0, 1], linestyle=":", color="0.4", label="perfect calibration",
            gid="perfect calibration",
        )
    filled = count > 0
    text = f"ECE = {ece:.3f}" if label is None else f"{label} (ECE = {ece:.3f})"
    ax.plot(mean_confidence[filled], accuracy[filled], marker="o", label=text)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_xlabel("confidence (largest predicted probability)")
    ax.set_ylabel("accuracy")
    ax.legend(loc="upper left")
    return ax, ece


def _simplex_triangles(n):
    """Split the probability simplex into n² small triangles.

    Returns the lattice points' probability vectors (P, 3), the triangles as
    (n², 3) indices into them, and each triangle's centroid (n², 3), which is
    strictly inside the simplex (every coordinate >= 1 / (3n)).
    """
    # Lattice point (i, j) is q = (n - i - j, i, j) / n.
    ij = [(i, j) for j in range(n + 1) for i in range(n + 1 - j)]
    index = {point: k for k, point in enumerate(ij)}
    lattice = np.array([(n - i - j, i, j) for i, j in ij], dtype=np.int64)
    triangles = []
    for i, j in ij:
        if i + j <= n - 1:  # pointing up
            triangles.append((index[i, j], index[i + 1, j], index[i, j + 1]))
        if i + j <= n - 2:  # pointing down
            triangles.append((index[i + 1, j], index[i + 1, j + 1], index[i, j + 1]))
    triangles = np.array(triangles, dtype=np.int64)
    # Sum of three lattice points, over 3n: exact integers first, one division last.
    centroids = lattice[triangles].sum(axis=1) / (3 * n)
    return lattice / n, triangles, centroids


# Where the vertices q = e1, e2, e3 sit in the plane: an equilateral triangle.
_CORNERS = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, np.sqrt(3) / 2]])


def simplex_heatmap(
    f,
    ax=None,
    resolution=200,
    labels=(r"$\mathbf e_1$", r"$\mathbf e_2$", r"$\mathbf e_3$"),
    marker=None,
    cmap="viridis",
    colorbar_label=None,
):
    r"""Draw the values of ``f`` over the 3-class probability simplex as a triangle.

    The vertex labelled ``labels[k]`` is the one-hot vector e_k; a point p is
    drawn at p1·corner1 + p2·corner2 + p3·corner3 (barycentric coordinates).

    Args:
        f: callable mapping an (M, 3) array of probability vectors, all strictly
            inside the simplex, to (M,) values, e.g. ``lambda p: -np.log(p) @ q``
            for the cross-entropy H(q, p) of the models p at a fixed target q.
        labels: the names of the three vertices, the one-hot vectors (default
            :math:`\mathbf e_1, \mathbf e_2, \mathbf e_3`).
        resolution: each edge is cut into this many parts; f is evaluated at the
            centroids of the resolution² small triangles.
        marker: an optional probability 3-vector to mark with a star (e.g. the
            minimiser q).

    Returns:
        The axes, with its x and y axes hidden (only the triangle means anything). Chapter 2.
    """
    if isinstance(resolution, bool) or not isinstance(resolution, int | np.integer):
        raise ValueError(f"resolution must be an integer >= 1; got {resolution!r}")
    if resolution < 1:
        raise ValueError(f"resolution must be an integer >= 1; got {resolution}")
    if len(labels) != 3:
        raise ValueError(f"labels must name the 3 vertices; got {len(labels)} labels")
    if marker is not None:
        marker = np.asarray(marker, dtype=float)
        if (
            marker.shape != (3,)
            or not np.all((marker >= 0) & (marker <= 1))
            or abs(marker.sum() - 1) > 1e-6
        ):
            raise ValueError(f"marker must be a probability 3-vector; got {marker.tolist()}")
    points, triangles, centroids = _simplex_triangles(resolution)
    values = np.asarray(f(centroids), dtype=float)
    if values.shape != (len(centroids),):
        raise ValueError(
            f"f must map an (M, 3) array to shape (M,) = ({len(centroids)},); "
            f"got shape {values.shape}"
        )
    ax = _new_axes_if_none(ax)
    xy = points @ _CORNERS
    mesh = ax.tripcolor(
        Triangulation(xy[:, 0], xy[:, 1], triangles), facecolors=values, cmap=cmap
    )
    ax.figure.colorbar(mesh, ax=ax, label=colorbar_label, shrink=0.85)
    outline = _CORNERS[[0, 1, 2, 0]]
    ax.plot(outline[:, 0], outline[:, 1], color="black", linewidth=1.0)
    offsets = [(-0.04, -0.05), (0.04, -0.05), (0.0, 0.04)]
    alignments = ["right", "left", "center"]
    for (x, y), (dx, dy), text, ha in zip(_CORNERS, offsets, labels, alignments, strict=True):
        ax.text(x + dx, y + dy, text, ha=ha, va="center")
    if marker is not None:
        mx, my = marker @ _CORNERS
        ax.plot(
            [mx], [my], linestyle="none", marker="*", markersize=14, color="white",
            markeredgecolor="black",
        )
    ax.set_aspect("equal")
    ax.set_xlim(-0.12, 1.12)
    ax.set_ylim(-0.1, np.sqrt(3) / 2 + 0.1)
    ax.axis("off")
    return ax
