"""Accuracy of log_softmax, logsumexp and cross_entropy in float64 (Chapter 5).

Each input set is run through xent.numpy, xent.torch and PyTorch, and every result
is compared with the correctly rounded value from xent.precise (mpmath). The error
is measured in units in the last place (ulp) of the exact result. xent must stay
within 4 ulp everywhere and be at least as accurate as PyTorch on every set.

"At least as accurate" compares the maximum errors with a floor of 1 ulp: where
both are faithfully rounded (at most 1 ulp off, as both logsumexps are: the last
step m + log1p(s) rounds once more whatever log1p's own error), which of the two
neighbouring floats each lands on is luck, and a set of a few rows can give
PyTorch 0 and xent 1, or the reverse, with another seed.

The sets are well conditioned: logsumexp is not close to 0, where the sum
m + log1p(s) cancels and no float64 algorithm can promise a few ulp (the relative
condition number, sum_i |x_i| softmax_i / |logsumexp|, is then unbounded).
Run with ``pytest -s`` to see the table of maximum errors.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import xent.numpy as xn
import xent.torch as xt
from xent import precise

MAX_ULP = 4
FAITHFUL = 1  # ulp: below this, ranking two implementations is luck (see the docstring)
FUNCTIONS = ["log_softmax", "logsumexp", "cross_entropy"]
IMPLEMENTATIONS = ["xent.numpy", "xent.torch", "PyTorch"]


def input_sets():
    """(logits, class indices) of shape (N, C) and (N,) for each named set."""
    rng = np.random.default_rng(2021)
    sets = {}

    x = rng.standard_normal((200, 10)) * 3
    sets["random"] = x

    # Magnitudes from 0.01 to 1000: exponents that underflow next to ones that do not.
    x = rng.choice([-1, 1], (200, 10)) * 10.0 ** rng.uniform(-2, 3, (200, 10))
    sets["huge dynamic range"] = x

    # Entries within 1e-9 of each other: softmax close to uniform. (|offset| >= 5 keeps
    # logsumexp = offset + log(10) away from 0.)
    offset = rng.choice([-1, 1], (200, 1)) * rng.uniform(5, 50, (200, 1))
    x = offset + rng.standard_normal((200, 10)) * 1e-9
    sets["near ties"] = x

    # One logit 20 to 700 above the rest: p close to 1, where log(1 + tiny) matters.
    x = rng.standard_normal((200, 10)) * 2
    x[:, 0] += rng.uniform(20, 700, 200)
    sets["one dominant logit"] = x

    sets["thousands of classes"] = rng.standard_normal((6, 2000)) * 2

    # Masked entries (-inf), as in attention and constrained decoding. With few finite
    # entries left, a negative maximum could cancel against log1p(s): +10 keeps it positive.
    x = rng.standard_normal((200, 10)) * 3 + 10
    x[rng.random((200, 10)) < 0.3] = -np.inf
    x[:, 0] = rng.standard_normal(200) * 3 + 10  # keep one finite entry per row
    sets["masked (-inf entries)"] = x

    cases = {}
    for name, x in sets.items():
        targets = rng.integers(0, x.shape[1], x.shape[0])
        if name == "one dominant logit":
            targets[::2] = 0  # half the rows predict their class with near certainty
        if name == "masked (-inf entries)":
            targets = np.zeros(x.shape[0], dtype=np.int64)
        cases[name] = (x, targets)
    return cases


CASES = input_sets()


def compute(implementation, function, x, t):
    """One function of one implementation on float64 logits, as a NumPy array."""
    if implementation == "xent.numpy":
        module, x, t = xn, x, t
    else:
        module = xt if implementation == "xent.torch" else F
        x, t = torch.from_numpy(x), torch.from_numpy(t)
    if function == "cross_entropy":
        result = module.cross_entropy(x, t, reduction="none")
    elif function == "logsumexp":
        result = (torch.logsumexp if module is F else module.logsumexp)(x, 1)
    else:
        result = module.log_softmax(x, 1)
    return result.numpy() if isinstance(result, torch.Tensor) else result


def exact(function, x, t):
    if function == "cross_entropy":
        return precise.cross_entropy(x, t, reduction="none")
    if function == "logsumexp":
        return precise.logsumexp(x, 1)
    return precise.log_softmax(x, 1)


@pytest.fixture(scope="module")
def max_ulp_errors():
    """{(set, function): {implementation: max ulp error}} over all the input sets."""
    errors = {}
    for name, (x, t) in CASES.items():
        for function in FUNCTIONS:
            reference = exact(function, x, t)
            errors[name, function] = {
                implementation: float(
                    precise.ulp_error(compute(implementation, function, x, t), reference).max()
                )
                for implementation in IMPLEMENTATIONS
            }
    return errors


def format_table(errors):
    header = "| input set | function | " + " | ".join(IMPLEMENTATIONS) + " |"
    lines = [header, "|" + "---|" * (2 + len(IMPLEMENTATIONS))]
    for (name, function), row in errors.items():
        cells = " | ".join(f"{row[i]:.3g}" for i in IMPLEMENTATIONS)
        lines.append(f"| {name} | {function} | {cells} |")
    return "\n".join(lines)


def test_report_max_ulp_errors(max_ulp_errors, record_property):
    """Print the table of maximum ulp errors (visible with -s) and attach it to the report."""
    table = format_table(max_ulp_errors)
    print("\nMaximum error in ulp against xent.precise (float64)\n" + table)
    record_property("max_ulp_errors", table)
    assert len(max_ulp_errors) == len(CASES) * len(FUNCTIONS)


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("name", CASES)
def test_xent_is_within_4_ulp_and_no_worse_than_pytorch(max_ulp_errors, name, function):
    row = max_ulp_errors[name, function]
    for implementation in ["xent.numpy", "xent.torch"]:
        assert row[implementation] <= MAX_ULP, (implementation, row)
        assert row[implementation] <= max(row["PyTorch"], FAITHFUL), (implementation, row)


def test_the_dominant_logit_set_defeats_the_textbook_formula():
    """The set is a real test: log(sum exp(x - m)) loses every digit of log1p(tiny)."""
    x, t = CASES["one dominant logit"]
    shifted = x - x.max(axis=1, keepdims=True)
    textbook = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    errors = precise.ulp_error(textbook, precise.log_softmax(x, 1))
    assert errors.max() > 1e6
