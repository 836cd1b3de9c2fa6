"""Tests of xent.plots: the book's style and the shared plotting helpers."""

import io

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib import font_manager
from xent import plots

OKABE_ITO = {  # Okabe & Ito (2008), typed in from the source, not from xent
    "#000000", "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7",
}


@pytest.fixture(autouse=True)
def agg_and_clean_rcparams():
    """Draw with Agg, restore rcParams afterwards and close every figure."""
    plt.switch_backend("Agg")
    with mpl.rc_context():
        plots.use_style()
        yield
    plt.close("all")


# --- use_style ----------------------------------------------------------------------------


def test_use_style_sets_the_book_rcparams():
    rc = mpl.rcParams
    assert tuple(rc["figure.figsize"]) == (6.4, 4.0)
    assert rc["figure.dpi"] == 110
    assert rc["savefig.bbox"] == "tight"
    assert rc["axes.grid"] is True
    assert rc["axes.spines.top"] is False and rc["axes.spines.right"] is False
    assert rc["font.sans-serif"][0] == "DejaVu Sans"
    cycle = [c.upper() for c in rc["axes.prop_cycle"].by_key()["color"]]
    assert set(cycle) == OKABE_ITO and len(cycle) == 8
    assert cycle == [c.upper() for c in plots.COLORS]
    assert {c.upper() for c in plots.PALETTE.values()} == OKABE_ITO


def test_the_font_resolves_to_dejavu_sans_shipped_with_matplotlib():
    path = font_manager.findfont(
        font_manager.FontProperties(family=mpl.rcParams["font.family"]), fallback_to_default=False
    )
    assert path.endswith("DejaVuSans.ttf")


def test_use_style_overrides_earlier_changes_and_is_idempotent():
    mpl.rcParams["figure.dpi"] = 50
    mpl.rcParams["axes.spines.top"] = True
    plots.use_style()
    first = {key: mpl.rcParams[key] for key in plots.STYLE}
    plots.use_style()
    assert {key: mpl.rcParams[key] for key in plots.STYLE} == first
    assert mpl.rcParams["figure.dpi"] == 110 and mpl.rcParams["axes.spines.top"] is False


def _render(fmt):
    fig, ax = plt.subplots()
    ax.plot([0, 1, 2], [0, 1, 4], label="a")
    ax.legend()
    buffer = io.BytesIO()
    # SVG files carry the date they were written; everything else must repeat
    metadata = {"Date": None} if fmt == "svg" else None
    fig.savefig(buffer, format=fmt, metadata=metadata)
    plt.close(fig)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", ["png", "svg"])
def test_rendering_is_byte_for_byte_deterministic(fmt):
    assert _render(fmt) == _render(fmt)


def test_new_figures_get_the_book_size_and_dpi():
    fig, _ = plt.subplots()
    assert tuple(fig.get_size_inches()) == (6.4, 4.0)
    assert fig.dpi == 110


# --- function_and_derivative ---------------------------------------------------------------


def test_function_and_derivative_draws_f_solid_and_df_dashed_in_one_colour():
    ax = plots.function_and_derivative(np.tanh, lambda x: 1 - np.tanh(x) ** 2, name="tanh")
    assert len(ax.lines) == 2
    f_line, df_line = ax.lines
    x = np.linspace(-5, 5, 501)
    np.testing.assert_array_equal(f_line.get_xdata(), x)
    np.testing.assert_allclose(f_line.get_ydata(), np.tanh(x))
    np.testing.assert_allclose(df_line.get_ydata(), 1 / np.cosh(x) ** 2)
    assert f_line.get_linestyle() == "-" and df_line.get_linestyle() == "--"
    assert f_line.get_color() == df_line.get_color()
    assert ax.get_xlabel() and ax.get_ylabel()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["tanh(x)", "tanh′(x)"]


def test_function_and_derivative_uses_the_given_axes_and_grid():
    fig, (left, right) = plt.subplots(1, 2)
    returned = plots.function_and_derivative(np.exp, np.exp, x=np.linspace(0, 1, 11), ax=right)
    assert returned is right and len(left.lines) == 0
    assert len(right.lines[0].get_xdata()) == 11


def test_function_and_derivative_rejects_a_function_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r"df must return an array of shape \(501,\)"):
        plots.function_and_derivative(np.tanh, lambda x: 1.0)


# --- losses_vs_margin ----------------------------------------------------------------------

LOSSES = {
    "logistic": lambda m: np.log1p(np.exp(-m)),
    "hinge": lambda m: np.maximum(0.0, 1.0 - m),
    "exponential": lambda m: np.exp(-m),
}


def test_losses_vs_margin_draws_one_labelled_line_per_loss():
    ax = plots.losses_vs_margin(LOSSES)
    assert len(ax.lines) == 3
    assert [line.get_label() for line in ax.lines] == list(LOSSES)
    assert ax.get_xlabel() == "margin  y·s"
    assert ax.get_ylabel() == "loss"
    assert len(ax.get_legend().get_texts()) == 3
    m = ax.lines[1].get_xdata()
    assert m[0] == -3 and m[-1] == 3
    np.testing.assert_allclose(ax.lines[1].get_ydata(), np.maximum(0, 1 - m))


def test_losses_vs_margin_derivative_matches_the_calculus():
    margins = np.linspace(-3, 3, 601)
    ax = plots.losses_vs_margin(LOSSES, margins=margins, derivative=True)
    logistic, hinge, exponential = (line.get_ydata() for line in ax.lines)
    # d/dm log(1 + e^-m) = -1 / (1 + e^m);  d/dm e^-m = -e^-m
    np.testing.assert_allclose(logistic, -1 / (1 + np.exp(margins)), atol=1e-4)
    np.testing.assert_allclose(exponential[1:-1], -np.exp(-margins[1:-1]), rtol=1e-4)
    away_from_kink = np.abs(margins - 1) > 0.02
    np.testing.assert_allclose(hinge[away_from_kink], np.where(margins < 1, -1.0, 0.0)[
        away_from_kink], atol=1e-12)
    assert ax.get_ylabel() == "d loss / d margin"


def test_losses_vs_margin_rejects_empty_dict_and_short_grids():
    with pytest.raises(ValueError, match="losses"):
        plots.losses_vs_margin({})
    with pytest.raises(ValueError, match="margins must be a 1-D array of at least 3 points"):
        plots.losses_vs_margin(LOSSES, margins=[0.0, 1.0])


# --- training_curves -----------------------------------------------------------------------

HISTORIES = {
    "logits + CE": {"loss": [2.0, 1.0, 0.5, 0.4], "accuracy": [0.3, 0.6, 0.8, 0.85]},
    "softmax + MSE": {"loss": [0.9, 0.8, 0.7, 0.65], "accuracy": [0.2, 0.4, 0.5, 0.6]},
}


def test_training_curves_one_subplot_per_metric_one_line_per_run():
    fig, axes = plots.training_curves(HISTORIES)
    assert len(axes) == 2 and all(ax.figure is fig for ax in axes)
    for ax, metric in zip(axes, ["loss", "accuracy"], strict=True):
        assert ax.get_xlabel() == "epoch"
        assert ax.get_ylabel() == metric
        assert [line.get_label() for line in ax.lines] == list(HISTORIES)
        np.testing.assert_array_equal(ax.lines[0].get_xdata(), [1, 2, 3, 4])
        np.testing.assert_array_equal(ax.lines[1].get_ydata(), HISTORIES["softmax + MSE"][metric])
    # a run keeps its colour across subplots; different runs differ
    assert axes[0].lines[0].get_color() == axes[1].lines[0].get_color()
    assert axes[0].lines[0].get_color() != axes[0].lines[1].get_color()


def test_training_curves_single_metric_on_given_axes():
    fig, ax = plt.subplots()
    returned_fig, axes = plots.training_curves(HISTORIES, metrics=["loss"], axes=[ax])
    assert returned_fig is fig and list(axes) == [ax] and len(ax.lines) == 2


def test_training_curves_rejects_missing_metric_and_wrong_number_of_axes():
    with pytest.raises(ValueError, match="'top5'"):
        plots.training_curves(HISTORIES, metrics=["loss", "top5"])
    _, ax = plt.subplots()
    with pytest.raises(ValueError, match="one axes per metric"):
        plots.training_curves(HISTORIES, axes=[ax])


# --- reliability_diagram (the ECE itself is tested in test_metrics.py) ---------------------


def test_reliability_diagram_plots_bins_and_diagonal_and_returns_the_ece():
    rng = np.random.default_rng(0)
    logits = rng.normal(scale=3.0, size=(300, 3))
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = rng.integers(0, 3, size=300)
    ax, ece = plots.reliability_diagram(probs, labels, n_bins=10, label="random")
    assert ece == plots.expected_calibration_error(probs, labels, 10)
    assert len(ax.lines) == 2
    diagonal, curve = ax.lines
    np.testing.assert_array_equal(diagonal.get_xdata(), [0, 1])
    np.testing.assert_array_equal(diagonal.get_ydata(), [0, 1])
    confidence = probs.max(axis=1)
    filled_bins = len(set(np.minimum((confidence * 10).astype(int), 9)))
    assert len(curve.get_xdata()) == filled_bins
    assert curve.get_label() == f"random (ECE = {ece:.3f})"
    assert ax.get_xlabel() and ax.get_ylabel() == "accuracy"
    # a second model on the same axes adds its curve, not a second diagonal
    plots.reliability_diagram(probs[::-1], labels, ax=ax)
    assert len(ax.lines) == 3


@pytest.mark.parametrize(
    ("probs", "labels", "n_bins", "match"),
    [
        ([[0.5, 0.6]], [0], 10, "row 0 sums to 1.1"),
        ([[2.0, -1.0]], [0], 10, r"probs must be probabilities in \[0, 1\]; got 2.0"),
        ([[0.5, 0.5]], [2], 10, r"labels must be in \[0, 1\]; got 2"),
        ([[0.5, 0.5]], [-1], 10, "got -1"),
        ([[0.5, 0.5]], [0.0], 10, "integer"),
        ([[0.5, 0.5]], [0, 1], 10, r"labels must have shape \(1,\)"),
        ([[0.5, 0.5]], [0], 0, "n_bins must be an integer >= 1; got 0"),
        ([[0.5, 0.5]], [0], 2.5, "n_bins must be an integer >= 1; got 2.5"),
        ([0.5, 0.5], [0], 10, r"shape \(N, C\)"),
    ],
)
def test_calibration_rejects_bad_input(probs, labels, n_bins, match):
    with pytest.raises(ValueError, match=match):
        plots.expected_calibration_error(np.array(probs), np.array(labels), n_bins)
    with pytest.raises(ValueError, match=match):
        plots.reliability_diagram(np.array(probs), np.array(labels), n_bins)


# --- simplex_heatmap -----------------------------------------------------------------------


def test_simplex_heatmap_evaluates_f_strictly_inside_the_simplex():
    seen = []

    def f(q):
        seen.append(q)
        return q[:, 0]

    ax = plots.simplex_heatmap(f, resolution=12)
    (q,) = seen
    assert q.shape == (144, 3)
    assert (q > 0).all()
    np.testing.assert_allclose(q.sum(axis=1), 1.0, rtol=0, atol=1e-15)
    (mesh,) = ax.collections
    np.testing.assert_array_equal(mesh.get_array(), q[:, 0])
    assert len(ax.figure.axes) == 2  # the heatmap and its colour bar
    corners = [r"$\mathbf e_1$", r"$\mathbf e_2$", r"$\mathbf e_3$"]
    assert [t.get_text() for t in ax.texts] == corners
    assert not ax.axison


def test_simplex_heatmap_cross_entropy_is_smallest_near_p_and_marker_sits_at_p():
    p = np.array([0.2, 0.3, 0.5])
    seen = []

    def cross_entropy(q):
        seen.append(q)
        return -np.log(q) @ p

    ax = plots.simplex_heatmap(cross_entropy, resolution=30, marker=p, colorbar_label="H(p, q)")
    (mesh,) = ax.collections
    q_min = seen[0][np.argmin(mesh.get_array())]
    np.testing.assert_allclose(q_min, p, atol=0.03)
    star = [line for line in ax.lines if line.get_marker() == "*"]
    assert len(star) == 1
    # corners (0, 0), (1, 0), (1/2, sqrt(3)/2): p lands at 0.3 e2 + 0.5 e3
    np.testing.assert_allclose(star[0].get_xydata(), [[0.3 + 0.25, 0.5 * np.sqrt(3) / 2]])
    assert ax.figure.axes[1].get_ylabel() == "H(p, q)"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"resolution": 0}, "resolution must be an integer >= 1; got 0"),
        ({"marker": [0.5, 0.6, 0.1]}, "marker must be a probability 3-vector"),
        ({"labels": ("a", "b")}, "labels"),
    ],
)
def test_simplex_heatmap_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        plots.simplex_heatmap(lambda q: q[:, 0], **kwargs)


def test_simplex_heatmap_rejects_f_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r"f must map an \(M, 3\) array to shape \(M,\)"):
        plots.simplex_heatmap(lambda q: q, resolution=4)
