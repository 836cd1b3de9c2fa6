"""Accuracy of log_softmax, logsumexp and cross_entropy in float64 (Chapter 5).

Each input set is run through xent.numpy, xent.torch and PyTorch, and every result
is compared with the correctly rounded value from xent.precise (mpmath). The error
is measured in units in the last place (ulp) of the correctly rounded result. xent
must be within 1 ulp of it everywhere: the result is the correctly rounded value or
one of its two neighbours, so it is within 1.5 ulp of the exact value.

That is not faithful rounding (one of the two floats around the exact value): the
neighbour on the far side also scores 1. Measured against the exact value (mpmath at
4000 bits, 60 rows of each set), xent's worst log-softmax entry is 1.40 ulp away, on
the set "one max, 999 equal others"; the random set reaches 1.02.

What it takes (xent.numpy.normalisers): the gap x - m is kept exactly as a pair
of floats (TwoSum), the sum of the exponentials is added pairwise with every
rounding error recovered (a plain float64 sum of 999 equal terms is off by 4 ulp),
log1p gets the first-order correction for what rounding that sum left out, and the
small terms are added first. Without these the errors reach 2 to 4 ulp; PyTorch's
reach 1e15 ulp where its log(sum(exp)) rounds a near-certain probability to 1.

Faithful (or correctly rounded, 0.5 ulp) results would need extended precision
throughout: exp and log1p are themselves rounded, and the last subtraction adds half
an ulp of its own. Which of the neighbours a result lands on is luck, so the table
does not rank xent against PyTorch where both are within 1 ulp.

The sets are well conditioned: logsumexp is not close to 0, where the sum
m + log1p(s) cancels and no float64 algorithm can promise a few ulp (the relative
condition number, sum_i |x_i| softmax_i / |logsumexp|, is then unbounded).
Run with ``pytest -s`` to see the table of maximum errors.
"""

import mpmath
import numpy as np
import pytest
import torch
import torch.nn.functional as F
import xent.numpy as xn
import xent.torch as xt
from xent import precise

WITHIN_ONE_ULP = 1  # ulp from the correctly rounded value: the bound xent meets
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

    sets.update(adversarial_sets(rng))
    cases = {}
    for name, x in sets.items():
        targets = rng.integers(0, x.shape[1], x.shape[0])
        if name == "one dominant logit":
            targets[::2] = 0  # half the rows predict their class with near certainty
        if name in ("masked (-inf entries)", "60% masked"):
            targets = np.zeros(x.shape[0], dtype=np.int64)
        if name.startswith("near-certain") or name == "one max, 999 equal others":
            targets = np.argmax(x, axis=1)  # the loss is log1p(s), as small as 1e-300
        cases[name] = (x, targets)
    return cases


def adversarial_sets(rng):
    """Sets chosen to break one step each of the computation (issue 14)."""
    sets = {}
    # log p(max) = -log1p(s) close to -1e-300: 49 logits about 690 below the maximum.
    x = rng.uniform(-2, 2, (60, 50))
    x[:, 0] = x[:, 1:].max(axis=1) + 690.0 - np.log(50) + rng.uniform(-1, 1, 60)
    sets["near-certain, log p near -1e-300"] = x
    # Gaps x - m that float64 cannot hold (37.x minus 1e-3-sized numbers): exp magnifies it.
    x = rng.standard_normal((100, 20)) * 1e-3
    x[:, 0] = 37.0 + rng.random(100)
    sets["near-certain, inexact gaps"] = x
    # 999 equal terms: the plain float64 sum of their exponentials rounds the same way
    # each time and ends 4 ulp off.
    x = -np.ones((20, 1000)) * rng.uniform(5, 40, (20, 1))
    x[:, 0] = 0.0
    sets["one max, 999 equal others"] = x
    # Offsets from 1e3 to 1e15: the gaps are exact, the answer is the offset plus little.
    offsets = rng.choice([-1, 1], (100, 1)) * 10.0 ** rng.uniform(3, 15, (100, 1))
    sets["huge offsets (1e3 to 1e15)"] = rng.standard_normal((100, 10)) * 3 + offsets
    sets["near ties, 3000 classes"] = 7.5 + rng.standard_normal((4, 3000)) * 1e-12
    sets["5000 classes"] = rng.standard_normal((4, 5000)) * 4
    sets["magnitudes 1e-6 to 300"] = rng.choice([-1, 1], (100, 30)) * 10.0 ** rng.uniform(
        -6, 2.5, (100, 30)
    )
    x = rng.standard_normal((100, 40)) * 5 + 12
    x[rng.random((100, 40)) < 0.6] = -np.inf
    x[:, 0] = 12 + rng.standard_normal(100)  # one finite entry per row, the target
    sets["60% masked"] = x
    return sets


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
def test_xent_is_within_one_ulp_of_the_correctly_rounded_value(max_ulp_errors, name, function):
    """Within 1 ulp of the correctly rounded value, on every set, in both backends."""
    row = max_ulp_errors[name, function]
    for implementation in ["xent.numpy", "xent.torch"]:
        assert row[implementation] <= WITHIN_ONE_ULP, (implementation, row)


def test_the_equal_terms_set_defeats_a_plain_float64_sum():
    """The set is a real test: summing the exponentials with NumPy's sum costs 4 ulp."""
    x, t = CASES["one max, 999 equal others"]
    shifted = x - x.max(axis=1, keepdims=True)
    s = np.exp(shifted[:, 1:]).sum(axis=1)  # the maximum left out, as xent does
    errors = precise.ulp_error(np.log1p(s), precise.cross_entropy(x, t, reduction="none"))
    assert errors.max() >= 2


def test_the_dominant_logit_set_defeats_the_textbook_formula():
    """The set is a real test: log(sum exp(x - m)) loses every digit of log1p(tiny)."""
    x, t = CASES["one dominant logit"]
    shifted = x - x.max(axis=1, keepdims=True)
    textbook = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    errors = precise.ulp_error(textbook, precise.log_softmax(x, 1))
    assert errors.max() > 1e6


def test_xent_is_not_always_faithful():
    """The docs' claim, exactly: a log-softmax entry 1.31 ulp from the exact value.

    It is the correctly rounded value's neighbour on the far side of the exact value:
    within 1 ulp of the correctly rounded value, more than 1 ulp from the exact one.
    If xent becomes faithful this fails, and the claims in Chapter 5, the README and
    the docstrings must be updated with it.
    """


    z = np.array([
        -0.7515379395329951, -1.5349911871787572, 1.2946066998280248, 1.307695678558406,
        0.6065394543686834, 0.6666306449127025, -5.502726187644366, -4.8645282741313505,
        -2.5312514892798363, 0.8302033588256217,
    ])
    with mpmath.workprec(3000):
        log_sum = mpmath.log(mpmath.fsum(mpmath.exp(mpmath.mpf(v)) for v in z))
        exact = mpmath.mpf(z[5]) - log_sum
        for computed in (xn.log_softmax(z, 0)[5], xt.log_softmax(torch.tensor(z), 0)[5].item()):
            error = abs(mpmath.mpf(float(computed)) - exact)
            from_exact = float(error) / np.spacing(abs(float(exact)))
            assert 1 < from_exact <= 1.5
            from_rounded = precise.ulp_error(computed, precise.log_softmax(z, 0)[5])
            assert from_rounded <= WITHIN_ONE_ULP
