"""Tests of xent.scale (Chapter 9): chunked linear + cross-entropy, the online normaliser,
vocabulary-parallel cross-entropy on real gloo processes, and the process runner.

The oracle is PyTorch: ``F.cross_entropy(F.linear(h, W, b), t, ...)`` (and PyTorch 2.13's own
``F.linear_cross_entropy``) for values and gradients, ``torch.logsumexp`` for the normaliser,
and ``F.cross_entropy`` of the concatenated logits in this process for the vocabulary-parallel
loss. The gloo tests start processes twice per run (2 and 4 ranks), each running a batch of
cases, plus two short runs that check how the runner fails.
"""

import itertools
import math
import re
import time

import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F
from xent import scale

# Relative to the largest entry of the expected tensor: a gradient entry is a sum of terms of
# both signs, so one that is nearly 0 carries the absolute error of the largest terms.
RTOL = {torch.float32: 2e-5, torch.float64: 1e-12}


def assert_close(actual, expected, dtype, msg=None, floor=0.0):
    """Equal to round-off: entrywise within RTOL times the largest entry of ``expected``.

    ``floor``: a least size of the terms, for a result that is 0 only by cancellation.
    """
    finite = expected[expected.isfinite()]
    scale_ = max(finite.abs().max().item() if finite.numel() else 0.0, floor)
    torch.testing.assert_close(
        actual,
        expected,
        rtol=RTOL[dtype],
        atol=RTOL[dtype] * scale_ + 1e-30,
        equal_nan=True,
        msg=msg,
    )


REDUCTIONS = ["none", "mean", "sum"]


def make_problem(shape, d, n_classes, dtype, *, seed=0, ignore_every=3, bias=True):
    """Hidden states, weight, bias (or None), class weights and targets (some ignored)."""
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(*shape, d, generator=g, dtype=dtype)
    w = torch.randn(n_classes, d, generator=g, dtype=dtype) / math.sqrt(max(d, 1)) * 3
    b = torch.randn(n_classes, generator=g, dtype=dtype) if bias else None
    class_weight = torch.rand(n_classes, generator=g, dtype=dtype) + 0.1
    t = torch.randint(n_classes, shape, generator=g)
    if ignore_every:
        t.view(-1)[::ignore_every] = -100
    return h, w, b, class_weight, t


def leaves(*tensors):
    return [None if x is None else x.detach().clone().requires_grad_(True) for x in tensors]


def loss_and_grads(fn, h, w, b, t, grad_output_seed, **kwargs):
    """The loss of ``fn`` and the gradients of h, w, b after backward with a fixed upstream grad."""
    h, w, b = leaves(h, w, b)
    loss = fn(h, w, b, t, **kwargs)
    if loss.ndim:  # 'none': a random upstream gradient per element
        g = torch.Generator().manual_seed(grad_output_seed)
        upstream = torch.randn(loss.shape, generator=g, dtype=loss.dtype)
    else:
        upstream = torch.tensor(3.0, dtype=loss.dtype)  # as (loss * 3).backward()
    (loss * upstream).sum().backward()
    grads = [x.grad if x is not None else None for x in (h, w, b)]
    return loss.detach(), grads


def naive(h, w, b, t, **kwargs):
    logits = F.linear(h, w, b)
    return F.cross_entropy(logits.reshape(-1, w.shape[0]), t.reshape(-1), **kwargs).reshape(
        t.shape if kwargs.get("reduction") == "none" else ()
    )


def chunked(h, w, b, t, **kwargs):
    return scale.linear_cross_entropy(h, w, t, linear_bias=b, **kwargs)


def assert_same(got, expected, dtype, floor=0.0):
    loss, grads = got
    ref_loss, ref_grads = expected
    assert_close(loss, ref_loss, dtype)
    for name, a, e in zip(("input", "linear_weight", "linear_bias"), grads, ref_grads, strict=True):
        if e is None:
            assert a is None, name
        else:
            assert_close(a, e, dtype, msg=lambda m, n=name: f"{n}: {m}", floor=floor)


# --------------------------------------------------------------------------------------------
# linear_cross_entropy against F.cross_entropy(F.linear(...))
# --------------------------------------------------------------------------------------------

SHAPE_CASES = [  # (rows shape, d, classes, chunk sizes)
    ((0,), 4, 9, [4]),  # empty batch
    ((), 5, 6, [4]),  # a single example: input (d,), target ()
    ((1,), 3, 1, [1]),  # one class
    ((13,), 7, 50, [1, 7, 10, 64, None]),  # chunks that do not / do divide C, larger than C
    ((2, 5), 4, 23, [5]),  # 3-d input (B, T, d), as in a language model
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(("shape", "d", "n_classes", "chunks"), SHAPE_CASES, ids=str)
def test_linear_cross_entropy_matches_naive_composition(
    shape, d, n_classes, chunks, reduction, dtype
):
    h, w, b, class_weight, t = make_problem(shape, d, n_classes, dtype)
    if n_classes == 1:
        t = torch.zeros_like(t)
    options = itertools.product([b, None], [None, class_weight], [0.0, 0.25], chunks)
    for bias, weight, smoothing, chunk in options:
        kwargs = dict(weight=weight, reduction=reduction, label_smoothing=smoothing)
        expected = loss_and_grads(naive, h, w, bias, t, 1, **kwargs)
        got = loss_and_grads(chunked, h, w, bias, t, 1, chunk_size=chunk, **kwargs)
        assert got[0].shape == expected[0].shape
        assert got[0].dtype == dtype
        # One class: every gradient is 0, by the cancellation of terms of size about 1.
        assert_same(got, expected, dtype, floor=1.0 if n_classes == 1 else 0.0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_large_logits_and_a_maximum_that_moves_between_chunks(dtype):
    """Logits around 1,000 whose row maxima sit in a late chunk: no overflow, no lost digits."""
    h, w, b, class_weight, t = make_problem((11,), 6, 40, dtype, seed=3)
    b = b + torch.linspace(1000.0, 1010.0, 40, dtype=dtype)  # each chunk beats the one before
    for smoothing, weight in [(0.0, None), (0.3, class_weight)]:
        kwargs = dict(weight=weight, label_smoothing=smoothing)
        expected = loss_and_grads(naive, h, w, b, t, 2, **kwargs)
        got = loss_and_grads(chunked, h, w, b, t, 2, chunk_size=6, **kwargs)
        assert_same(got, expected, dtype)


@pytest.mark.parametrize("smoothing", [0.0, 0.4])
def test_every_target_ignored_gives_what_pytorch_gives(smoothing):
    """'mean' of no targets is NaN (0 / 0) with zero gradients; 'sum' is 0; 'none' all 0."""
    h, w, b, class_weight, t = make_problem((6,), 3, 10, torch.float64)
    t = torch.full_like(t, -100)
    for reduction, weight in itertools.product(REDUCTIONS, [None, class_weight]):
        kwargs = dict(weight=weight, reduction=reduction, label_smoothing=smoothing)
        expected = loss_and_grads(naive, h, w, b, t, 0, **kwargs)
        got = loss_and_grads(chunked, h, w, b, t, 0, chunk_size=4, **kwargs)
        if reduction == "mean":
            assert expected[0].isnan() and got[0].isnan()
        assert_same(got, expected, torch.float64)


def test_ignore_index_that_is_a_class_and_uint8_targets():
    h, w, b, _, t = make_problem((12,), 4, 8, torch.float64, ignore_every=0)
    for ignore_index in (0, 3):
        kwargs = dict(ignore_index=ignore_index, label_smoothing=0.1)
        expected = loss_and_grads(naive, h, w, b, t, 0, **kwargs)
        assert_same(
            loss_and_grads(chunked, h, w, b, t, 0, chunk_size=3, **kwargs), expected, torch.float64
        )
    expected = loss_and_grads(naive, h, w, b, t, 0)
    assert_same(
        loss_and_grads(chunked, h, w, b, t.to(torch.uint8), 0, chunk_size=3),
        expected,
        torch.float64,
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_matches_pytorch_linear_cross_entropy_reference_and_chunked(reduction, dtype):
    """PyTorch 2.13's F.linear_cross_entropy, plain and with its chunked options."""
    h, w, b, class_weight, t = make_problem((33,), 8, 70, dtype)
    for bias, weight in itertools.product([None, b], [None, class_weight]):
        for options in (None, torch.nn.LinearCrossEntropyOptions(batch_chunk_size=8)):

            def pytorch(h, w, b, t, options=options, **kwargs):
                return F.linear_cross_entropy(h, w, t, linear_bias=b, options=options, **kwargs)

            kwargs = dict(weight=weight, reduction=reduction)
            expected = loss_and_grads(pytorch, h, w, bias, t, 5, **kwargs)
            got = loss_and_grads(chunked, h, w, bias, t, 5, chunk_size=16, **kwargs)
            assert_same(got, expected, dtype)


def test_only_the_needed_gradients_and_a_second_backward():
    """Gradients flow to the leaves that need them only; retain_graph gives the same twice."""
    h, w, b, _, t = make_problem((9,), 5, 20, torch.float64)
    h, w, b = leaves(h, w, b)
    w.requires_grad_(False)
    loss = scale.linear_cross_entropy(h, w, t, linear_bias=b, chunk_size=6)
    loss.backward(retain_graph=True)
    first = h.grad.clone(), b.grad.clone()
    loss.backward()
    torch.testing.assert_close(h.grad, 2 * first[0])
    torch.testing.assert_close(b.grad, 2 * first[1])
    assert w.grad is None
    with torch.no_grad():  # no graph: just the loss
        torch.testing.assert_close(
            scale.linear_cross_entropy(h, w, t, linear_bias=b, chunk_size=6),
            F.cross_entropy(F.linear(h, w, b), t),
        )


def test_double_backward_is_refused_clearly():
    """create_graph=True raises instead of a graph without second derivatives."""
    h, w, b, _, t = make_problem((4,), 3, 6, torch.float64)
    h, w = leaves(h, w)
    loss = scale.linear_cross_entropy(h, w, t, chunk_size=4)
    with pytest.raises(RuntimeError, match="differentiable once.*F.cross_entropy"):
        torch.autograd.grad(loss, h, create_graph=True)


def test_default_chunk_size():
    assert scale.default_chunk_size(4096, 32768) == 512
    assert scale.default_chunk_size(10, 50) == 50  # never more than the vocabulary
    assert scale.default_chunk_size(1 << 20, 10**6) == 256  # at least 256 columns
    assert scale.default_chunk_size(0, 7) == 7


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------


def bad_call(**changes):
    h, w, b, cw, t = make_problem((5,), 4, 7, torch.float32)
    kwargs = dict(input=h, linear_weight=w, target=t, linear_bias=b)
    kwargs.update(changes)
    return scale.linear_cross_entropy(**kwargs)


@pytest.mark.parametrize(
    ("changes", "error", "match"),
    [
        (
            dict(input=torch.ones(5, 4, dtype=torch.int64)),
            TypeError,
            "input must have dtype float32 or float64",
        ),
        (dict(input=torch.ones(5, 4, dtype=torch.float16)), TypeError, "input must have dtype"),
        (dict(input=[[1.0] * 4] * 5), TypeError, "input must be a torch.Tensor"),
        (
            dict(linear_weight=torch.ones(7, 4, dtype=torch.float64)),
            TypeError,
            "linear_weight must have input's dtype",
        ),
        (dict(linear_weight=torch.ones(7, 3)), ValueError, r"shape \(C, d\) with d = 4"),
        (dict(linear_weight=torch.ones(7)), ValueError, r"shape \(C, d\)"),
        (dict(linear_weight=torch.ones(0, 4)), ValueError, "at least one row"),
        (dict(input=torch.tensor(1.0)), ValueError, "at least 1 dim"),
        (dict(linear_bias=torch.ones(6)), ValueError, r"linear_bias must have shape \(7,\)"),
        (
            dict(linear_bias=torch.ones(7, dtype=torch.float64)),
            TypeError,
            "linear_bias must have input's dtype",
        ),
        (
            dict(target=torch.zeros(4, dtype=torch.int64)),
            ValueError,
            r"target must have shape \(5,\)",
        ),
        (
            dict(target=torch.zeros(5, 7)),
            TypeError,
            "class-probability targets are not supported.*torch.nn.functional.cross_entropy",
        ),
        (dict(target=torch.zeros(5, dtype=torch.int32)), TypeError, "torch.int64"),
        (
            dict(target=torch.tensor([0, 1, 7, 2, 3])),
            IndexError,
            r"target index 7 is out of range for 7 classes: valid indices are 0..6",
        ),
        (
            dict(target=torch.tensor([0, 1, -1, 2, 3])),
            IndexError,
            "target index -1 is out of range",
        ),
        (
            dict(weight=torch.ones(6)),
            ValueError,
            r"weight must be 1-D with one entry per class, shape \(7,\)",
        ),
        (
            dict(weight=torch.ones(7, dtype=torch.float64)),
            TypeError,
            "weight must have the logits' dtype",
        ),
        (dict(weight=torch.ones(7, requires_grad=True)), ValueError, "must not require grad"),
        (dict(reduction="batchmean"), ValueError, "reduction must be one of"),
        (dict(label_smoothing=1.5), ValueError, r"label_smoothing must be in \[0.0, 1.0\]"),
        (dict(label_smoothing=-0.1), ValueError, r"label_smoothing must be in \[0.0, 1.0\]"),
        (dict(label_smoothing=math.nan), ValueError, "label_smoothing"),
        (dict(chunk_size=0), ValueError, "chunk_size must be an int >= 1; got 0"),
        (dict(chunk_size=2.5), TypeError, "chunk_size must be an int >= 1"),
        (dict(chunk_size=True), TypeError, "chunk_size must be an int >= 1"),
    ],
    ids=lambda x: x if isinstance(x, str) else None,
)
def test_bad_input_raises_a_clear_error(changes, error, match):
    with pytest.raises(error, match=match):
        bad_call(**changes)


# --------------------------------------------------------------------------------------------
# online_logsumexp
# --------------------------------------------------------------------------------------------

INF, NAN = math.inf, math.nan


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("chunk_size", [1, 3, 4, 100])
def test_online_logsumexp_matches_torch_logsumexp(chunk_size, dtype):
    g = torch.Generator().manual_seed(1)
    rows = [
        torch.randn(12, generator=g, dtype=dtype) * 30,
        torch.arange(12, dtype=dtype) * 50,  # the maximum grows in every chunk
        torch.arange(12, 0, -1, dtype=dtype) * 50,  # the maximum is in the first chunk
        torch.tensor([-INF] * 5 + [2.0] + [-INF] * 6, dtype=dtype),  # -inf entries
        torch.full((12,), -INF, dtype=dtype),  # all -inf: -inf
        torch.tensor([1.0] * 7 + [INF] + [3.0] * 4, dtype=dtype),  # +inf: +inf
        torch.tensor([-INF] * 3 + [INF] + [-INF] * 8, dtype=dtype),
        torch.tensor([INF] * 12, dtype=dtype),
        torch.tensor([1.0] * 9 + [NAN] + [1.0] * 2, dtype=dtype),  # NaN: NaN
        torch.tensor([INF] + [NAN] + [1.0] * 10, dtype=dtype),
        torch.tensor([1e30, -1e30] * 6, dtype=dtype)
        if dtype == torch.float32
        else torch.tensor([1e300, -1e300] * 6, dtype=dtype),  # huge: no overflow
    ]
    x = torch.stack(rows)
    expected = torch.logsumexp(x, dim=1)
    torch.testing.assert_close(
        scale.online_logsumexp(x, dim=1, chunk_size=chunk_size),
        expected,
        rtol=RTOL[dtype],
        atol=0.0,
        equal_nan=True,
    )
    torch.testing.assert_close(
        scale.online_logsumexp(x.T, dim=0, chunk_size=chunk_size),
        expected,
        rtol=RTOL[dtype],
        atol=0.0,
        equal_nan=True,
    )


def test_online_logsumexp_shapes_and_errors():
    x = torch.randn(2, 3, 5, dtype=torch.float64)
    for dim in range(-3, 3):
        torch.testing.assert_close(
            scale.online_logsumexp(x, dim, chunk_size=2), torch.logsumexp(x, dim)
        )
    torch.testing.assert_close(scale.online_logsumexp(torch.tensor(2.0)), torch.tensor(2.0))
    assert scale.online_logsumexp(torch.zeros(3, 0)).tolist() == [-INF] * 3  # empty: -inf
    with pytest.raises(
        IndexError, match="dim 3 is out of range for a 3-d input: valid dims are -3..2"
    ):
        scale.online_logsumexp(x, 3)
    with pytest.raises(TypeError, match="float32 or float64"):
        scale.online_logsumexp(torch.ones(3, dtype=torch.int64))
    with pytest.raises(ValueError, match="chunk_size must be an int >= 1; got -2"):
        scale.online_logsumexp(x, chunk_size=-2)


# --------------------------------------------------------------------------------------------
# Vocabulary-parallel cross-entropy on gloo processes
# --------------------------------------------------------------------------------------------


def vocab_parallel_cases(world_size, seed):
    """Cases for one batch: (case for the workers, what to compare with)."""
    g = torch.Generator().manual_seed(seed)
    cases = []
    n_classes = 13 if world_size == 2 else 21
    splits_options = [
        [n_classes // world_size + (r < n_classes % world_size) for r in range(world_size)]
    ]
    splits_options.append([1] + [0] * (world_size - 2) + [n_classes - 1])  # uneven, an empty rank
    splits_options.append([n_classes - world_size + 1] + [1] * (world_size - 1))
    for splits, dtype, reduction in itertools.product(
        splits_options, [torch.float32, torch.float64], REDUCTIONS
    ):
        for smoothing, weighted in [(0.0, False), (0.3, True), (0.2, False)]:
            shape = (7,) if reduction != "none" else (3, 4)
            logits = 3 * torch.randn(*shape, n_classes, generator=g, dtype=dtype)
            target = torch.randint(n_classes, shape, generator=g)
            target.view(-1)[::3] = -100
            kwargs = dict(reduction=reduction, label_smoothing=smoothing)
            if weighted:
                kwargs["weight"] = torch.rand(n_classes, generator=g, dtype=dtype) + 0.1
            grad_output = (
                torch.randn(shape, generator=g, dtype=dtype)
                if reduction == "none"
                else (torch.tensor(3.0, dtype=dtype))
            )
            cases.append(
                dict(
                    logits=logits,
                    target=target,
                    splits=splits,
                    kwargs=kwargs,
                    grad_output=grad_output,
                )
            )
    # every target ignored, 'mean': NaN with zero gradients, as F.cross_entropy
    logits = torch.randn(5, n_classes, generator=g, dtype=torch.float64)
    cases.append(dict(logits=logits, target=torch.full((5,), -100), splits=splits_options[0]))
    return cases


BAD_CASES = {  # name: (changes to a good case, expected exception type, message pattern)
    "rows differ": (dict(rows={1: 3}), "ValueError", r"same number of rows.*the ranks have \[6, 3"),
    "target out of range": (
        dict(target=torch.tensor([0, 1, 99, 2, 3, -100])),
        "IndexError",
        "target index 99 is out of range for 13 classes",
    ),
    "float target": (dict(target=torch.zeros(6, 13)), "ValueError", "class indices"),
    "smoothing": (dict(kwargs=dict(label_smoothing=2.0)), "ValueError", "label_smoothing"),
    "dtypes differ": (dict(dtype={1: torch.float32}), "ValueError", "same logits dtype"),
    "target shape": (
        dict(target=torch.tensor([0, 1, 2, 3, 4])),
        "ValueError",
        r"target must have shape \(6,\) \(logits_shard's shape without its last dim\)",
    ),
    "class weight shape": (
        dict(kwargs=dict(weight=torch.ones(12, dtype=torch.float64))),
        "ValueError",
        r"weight must be 1-D with one entry per class, shape \(13,\)",
    ),
    "int logits on rank 0": (
        dict(dtype={0: torch.int64}),
        "ValueError",
        r"on rank 0: logits_shard must be a float32 or float64|rank\(s\) \[0\] of the group",
    ),
}


def bad_vocab_parallel_cases(world_size):
    logits = torch.randn(6, 13, dtype=torch.float64)
    good = dict(
        logits=logits,
        target=torch.tensor([0, 1, 12, 2, 3, -100]),
        splits=[7, 6] if world_size == 2 else [4, 3, 3, 3],
    )
    return [dict(good, **changes) for changes, _, _ in BAD_CASES.values()]


@pytest.fixture(scope="module", params=[2, 4], ids=lambda w: f"{w} ranks")
def gloo_batch(request):
    """Start ``world_size`` gloo processes once and run every case there."""
    world_size = request.param
    cases = vocab_parallel_cases(world_size, seed=world_size)
    bad = bad_vocab_parallel_cases(world_size)
    results = scale.run_distributed(
        scale._vocab_parallel_cases, world_size, cases + bad, timeout=120
    )
    return world_size, cases, bad, results


def test_vocab_parallel_equals_single_process_cross_entropy(gloo_batch):
    world_size, cases, _, results = gloo_batch
    for i, case in enumerate(cases):
        logits = case["logits"].clone().requires_grad_(True)
        kwargs = case.get("kwargs", {})
        flat = F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), case["target"].reshape(-1), **kwargs
        )
        expected = flat.reshape(case["target"].shape) if kwargs.get("reduction") == "none" else flat
        grad_output = case.get("grad_output")
        (expected if grad_output is None else expected * grad_output).sum().backward()
        pieces = []
        for rank in range(world_size):
            result = results[rank][i]
            assert "error" not in result, (i, result)
            assert_close(result["loss"], expected.detach(), logits.dtype)
            pieces.append(result["grad"])
        assert_close(torch.cat(pieces, dim=-1), logits.grad, logits.dtype)


def test_vocab_parallel_communicates_only_n_element_vectors(gloo_batch):
    """Per step: one all-gather of 5 int64, an all-reduce of N, one of 2N (3N with smoothing)."""
    world_size, cases, _, results = gloo_batch
    for i, case in enumerate(cases):
        n_rows = case["target"].numel()
        size = case["logits"].element_size()
        sums = 3 if case.get("kwargs", {}).get("label_smoothing", 0) > 0 else 2
        for rank in range(world_size):
            assert results[rank][i]["collectives"] == [
                ("all_gather", 5 * 8),
                ("all_reduce", n_rows * size),
                ("all_reduce", sums * n_rows * size),
            ]


def test_vocab_parallel_bad_shards_raise_on_every_rank(gloo_batch):
    world_size, cases, bad, results = gloo_batch
    for j, (name, (_, error, match)) in enumerate(BAD_CASES.items()):
        for rank in range(world_size):
            result = results[rank][len(cases) + j]
            assert "error" in result, (name, rank)
            kind, message = result["error"]
            assert kind == error and re.search(match, message), (name, rank, message)


def test_run_vocab_parallel_reports_exact_results_and_traffic():
    report = scale.run_vocab_parallel(
        2, n_rows=64, vocab_size=3000, splits=[1000, 2000], dtype=torch.float64, label_smoothing=0.1
    )
    assert report.losses[0] == report.losses[1]
    assert report.max_loss_difference < 1e-12 and report.max_grad_difference < 1e-15
    assert report.measured_bytes == (40 + 4 * 64 * 8,) * 2 == (report.formula_bytes,) * 2
    assert report.all_gather_logits_bytes == 64 * 3000 * 8


def test_run_distributed_surfaces_an_exception_without_hanging():
    """Rank 0 raises (log of 0) while rank 1 finishes: the parent raises, naming rank 0."""
    started = time.perf_counter()
    with pytest.raises(RuntimeError, match=r"rank 0 of 2 raised:(.|\n)*math domain error"):
        scale.run_distributed(math.log, 2, timeout=60)
    assert time.perf_counter() - started < 30


def test_run_distributed_stops_at_its_timeout():
    started = time.perf_counter()
    with pytest.raises(TimeoutError, match="had not finished after 0.2 s"):
        scale.run_distributed(dist.barrier, 2, timeout=0.2)
    assert time.perf_counter() - started < 10
