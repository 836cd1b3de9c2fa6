"""xent.training.fit: determinism, learning, history, progress switch, bad input."""

import pytest
import torch
from xent.training import fit


def separable_data(seed=0, n=200):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 2, generator=g)
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).long()
    return X, y


def make_model(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Linear(2, 2)


def accuracy_on(X, y):
    return lambda model: {"accuracy": (model(X).argmax(1) == y).float().mean().item()}


def test_same_seed_gives_identical_history_and_weights():
    X, y = separable_data()
    runs = []
    for _ in range(2):
        model = make_model()
        history = fit(model, torch.nn.functional.cross_entropy, X, y, epochs=5, batch_size=16,
                      lr=0.05, seed=3, evaluate=accuracy_on(X, y), progress=False)
        runs.append((history, model.weight.detach().clone()))
    assert runs[0][0] == runs[1][0]
    assert torch.equal(runs[0][1], runs[1][1])


def test_a_different_seed_shuffles_differently():
    X, y = separable_data()
    histories = [fit(make_model(), torch.nn.functional.cross_entropy, X, y, epochs=2,
                     batch_size=16, lr=0.05, seed=s, progress=False) for s in (1, 2)]
    assert histories[0]["loss"] != histories[1]["loss"]


def test_it_learns_and_records_one_value_per_epoch():
    X, y = separable_data()
    history = fit(make_model(), torch.nn.functional.cross_entropy, X, y, epochs=20,
                  batch_size=32, lr=0.1, evaluate=accuracy_on(X, y), progress=False)
    assert len(history["loss"]) == len(history["accuracy"]) == 20
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert history["accuracy"][-1] > 0.95


def test_the_epoch_loss_is_the_mean_over_examples():
    # lr tiny and one epoch: the recorded loss is the mean of the per-batch losses weighted
    # by batch size, i.e. the loss over the whole set at (almost) the initial weights
    X, y = separable_data(n=50)
    model = make_model()
    expected = torch.nn.functional.cross_entropy(model(X), y).item()
    history = fit(model, torch.nn.functional.cross_entropy, X, y, epochs=1, batch_size=7,
                  lr=1e-12, optimizer="sgd", progress=False)
    assert history["loss"][0] == pytest.approx(expected, rel=1e-6)


def test_progress_bar_follows_the_environment(monkeypatch, capsys):
    X, y = separable_data(n=20)
    monkeypatch.setenv("XENT_NO_PROGRESS", "1")
    fit(make_model(), torch.nn.functional.cross_entropy, X, y, epochs=2, lr=0.1)
    assert capsys.readouterr().err == ""
    monkeypatch.delenv("XENT_NO_PROGRESS")
    fit(make_model(), torch.nn.functional.cross_entropy, X, y, epochs=2, lr=0.1)
    assert "2/2" in capsys.readouterr().err


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"epochs": 0}, ValueError, "epochs must be an integer >= 1; got 0"),
        ({"batch_size": 2.5}, ValueError, "batch_size must be an integer >= 1; got 2.5"),
        ({"lr": -1.0}, ValueError, "lr must be > 0; got -1.0"),
        ({"optimizer": "rmsprop"}, ValueError, "optimizer must be one of .*got 'rmsprop'"),
    ],
)
def test_bad_arguments_are_refused(kwargs, error, message):
    X, y = separable_data(n=10)
    with pytest.raises(error, match=message):
        fit(make_model(), torch.nn.functional.cross_entropy, X, y, progress=False, **kwargs)


def test_mismatched_data_and_non_modules_are_refused():
    X, y = separable_data(n=10)
    with pytest.raises(ValueError, match="same number"):
        fit(make_model(), torch.nn.functional.cross_entropy, X, y[:5], progress=False)
    with pytest.raises(TypeError, match="torch.nn.Module; got function"):
        fit(lambda x: x, torch.nn.functional.cross_entropy, X, y, progress=False)


def test_mlp_is_seeded_and_shaped():
    from xent.training import mlp

    a, b, c = mlp(3, seed=5), mlp(3, seed=5), mlp(3, seed=6)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)
    pairs = zip(a.parameters(), c.parameters(), strict=True)
    assert not all(torch.equal(pa, pc) for pa, pc in pairs)
    x = torch.randn(7, 64, dtype=torch.float64)
    assert a(x).shape == (7, 3) and a(x).dtype == torch.float64
    assert mlp(3, dtype=torch.float32)(x.float()).dtype == torch.float32
    probs = mlp(softmax_layer=True)(x)
    assert probs.shape == (7, 10) and torch.allclose(probs.sum(dim=1), torch.ones(7).double())
    # the softmax layer is appended: dropping it gives the logits of the same weights
    logits_model = mlp(softmax_layer=True)[:-1]
    assert torch.allclose(torch.softmax(logits_model(x), dim=1), probs)


@pytest.mark.parametrize("n_outputs", [0, -1, 2.0, "3"])
def test_mlp_refuses_bad_output_counts(n_outputs):
    from xent.training import mlp

    with pytest.raises(ValueError, match="n_outputs must be an integer >= 1"):
        mlp(n_outputs)


def test_mlp_takes_other_input_widths():
    from xent.training import mlp

    net = mlp(10, n_inputs=192)
    assert net(torch.zeros(2, 192, dtype=torch.float64)).shape == (2, 10)
    with pytest.raises(ValueError, match="n_inputs must be an integer >= 1; got 0"):
        mlp(3, n_inputs=0)


def test_mlp_refuses_other_dtypes():
    from xent.training import mlp

    with pytest.raises(ValueError, match="dtype must be torch.float32 or torch.float64"):
        mlp(3, dtype=torch.float16)


def test_fit_names_a_dtype_mismatch():
    from xent.training import mlp

    X, y = torch.rand(8, 64), torch.zeros(8, dtype=torch.int64)  # float32 pixels
    with pytest.raises(TypeError, match="X is torch.float32 but the model.s weights are torch.flo"):
        fit(mlp(), torch.nn.functional.cross_entropy, X, y, progress=False)
    fit(mlp(dtype=torch.float32), torch.nn.functional.cross_entropy, X, y, epochs=1, progress=False)
