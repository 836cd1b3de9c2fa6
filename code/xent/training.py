"""A small, seeded mini-batch training loop shared by the practice chapters.

``fit`` is deliberately plain: shuffle, forward, loss, backward, step, with a
progress bar over epochs and a history of per-epoch numbers. Chapters 6
(cross-entropy in PyTorch) and 7 (binary, multi-class and multi-label) train
every model with it, so that differences between runs come from the loss or
the output layer, never from the loop.
"""

import os

import torch

__all__ = ["fit", "mlp"]

OPTIMIZERS = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}


def mlp(n_outputs=10, *, seed=0, softmax_layer=False, dtype=torch.float64, n_inputs=64):
    """The practice chapters' network: 64 pixels -> 64 ReLU units -> ``n_outputs`` logits.

    n_inputs: the number of input features, 64 (one 8x8 digit) by default;
    chapter 7's strips of three digits (``xent.data.digit_sets``) have 192.

    ``torch.manual_seed(seed)`` is called first, so the same seed gives the same
    initial weights (and leaves PyTorch's global generator in the same state).
    softmax_layer: append ``nn.Softmax(dim=1)``, for the chapters that show what
    goes wrong when a network ends in probabilities. Input (N, n_inputs), output (N, n_outputs).
    dtype: of the weights. float64 by default: a float32 training run rounds
    differently on every CPU (SIMD width, BLAS kernels), and after thousands of
    steps the trained weights, and a test accuracy or two, differ in their
    printed digits; in float64 those differences stay far below the digits the
    chapters print.
    """
    if not isinstance(n_outputs, int) or n_outputs < 1:
        raise ValueError(f"n_outputs must be an integer >= 1; got {n_outputs!r}")
    if not isinstance(n_inputs, int) or n_inputs < 1:
        raise ValueError(f"n_inputs must be an integer >= 1; got {n_inputs!r}")
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64; got {dtype!r}")
    torch.manual_seed(seed)
    layers = [torch.nn.Linear(n_inputs, 64, dtype=dtype), torch.nn.ReLU(),
              torch.nn.Linear(64, n_outputs, dtype=dtype)]
    if softmax_layer:
        layers.append(torch.nn.Softmax(dim=1))
    return torch.nn.Sequential(*layers)


def _show_progress(progress):
    if progress is not None:
        return bool(progress)
    return os.environ.get("XENT_NO_PROGRESS", "") in ("", "0")


def fit(model, loss_fn, X, y, *, epochs=30, batch_size=64, lr=1e-3, optimizer="adam",
        seed=0, evaluate=None, progress=None, desc="training"):
    """Train ``model`` on ``(X, y)`` and return its history.

    Every epoch visits the N examples once in a random order drawn from a
    ``torch.Generator`` seeded with ``seed``, in mini-batches of ``batch_size``;
    each batch takes one optimizer step on ``loss_fn(model(X_batch), y_batch)``.

    model: a ``torch.nn.Module``; loss_fn: ``(output, target) -> scalar tensor``.
    X: (N, ...) float tensor; y: (N, ...) target tensor (class indices, or
    multi-hot floats, as ``loss_fn`` expects).
    optimizer: 'adam' or 'sgd', with learning rate ``lr`` (> 0).
    evaluate: optional ``model -> dict[str, float]``, called after every epoch
    under ``torch.no_grad()`` with the model in eval mode (e.g. test accuracy).
    progress: show a progress bar over the epochs. By default it is shown unless
    the environment variable XENT_NO_PROGRESS is set, as the Makefile does
    when it executes notebooks, so that stored outputs stay deterministic.

    Returns ``{"loss": [...], **evaluate's keys: [...]}``: one value per epoch,
    "loss" being the mean training loss over the epoch's examples.
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    if len(X) != len(y) or len(X) == 0:
        raise ValueError(f"X and y must hold the same number (>= 1) of examples; "
                         f"got {len(X)} and {len(y)}")
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1; got {value!r}")
    if not lr > 0:
        raise ValueError(f"lr must be > 0; got {lr!r}")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}; got {optimizer!r}")
    weights = {p.dtype for p in model.parameters() if p.is_floating_point()}
    if X.is_floating_point() and weights and X.dtype not in weights:
        raise TypeError(f"X is {X.dtype} but the model's weights are {weights.pop()}: convert one "
                        f"(X.double(), or mlp(..., dtype=torch.float32))")

    step = OPTIMIZERS[optimizer](model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    history = {"loss": []}
    epochs_range = range(epochs)
    if _show_progress(progress):
        from tqdm.auto import tqdm

        epochs_range = tqdm(epochs_range, desc=desc, unit="epoch")

    for _ in epochs_range:
        model.train()
        total, order = 0.0, torch.randperm(len(X), generator=generator)
        for start in range(0, len(X), batch_size):
            batch = order[start:start + batch_size]
            loss = loss_fn(model(X[batch]), y[batch])
            step.zero_grad()
            loss.backward()
            step.step()
            total += loss.item() * len(batch)
        history["loss"].append(total / len(X))
        if evaluate is not None:
            model.eval()
            with torch.no_grad():
                for key, value in evaluate(model).items():
                    history.setdefault(key, []).append(float(value))
        if hasattr(epochs_range, "set_postfix"):
            epochs_range.set_postfix(loss=f"{history['loss'][-1]:.4f}")
    model.eval()
    return history
