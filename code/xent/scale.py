"""Exact cross-entropy over vocabularies too large for memory or for one machine (Chapter 9).

Three ideas, each exact (the same loss and gradients as the plain composition, to round-off):

- ``online_logsumexp``: the normaliser ``log sum_j exp(x_j)`` in one pass over chunks,
  keeping a running maximum ``m`` and the sum ``s`` of ``exp(x_j - m)`` rescaled by
  ``exp(m_old - m_new)`` whenever the maximum grows (Milakov and Gimelshein, 2018).
- ``linear_cross_entropy``: ``cross_entropy(linear(h, W, b), target)`` without ever holding
  the ``N x V`` logits or their gradient, walking the vocabulary in chunks of columns.
- ``vocab_parallel_cross_entropy``: each rank of a ``torch.distributed`` group holds a
  slice of the vocabulary; the loss needs two all-reduces of ``N``-element vectors and the
  backward needs none (Megatron-LM's vocabulary-parallel cross-entropy).

``run_distributed`` starts local gloo processes for the book and the tests, and
``run_vocab_parallel`` runs the vocabulary-parallel loss on them and measures its traffic.

**How ``linear_cross_entropy`` computes its gradient, and why.** With ``z = h W^T + b`` and
``G = d loss / d z`` (``G[n] = g_n (p_n - y_n)``, ``p_n = softmax(z_n)``, ``y_n`` the one-hot
or smoothed target, ``g_n`` the upstream gradient of row ``n``), the three gradients are
``d h = G W``, ``d W = G^T h`` and ``d b = sum_n G[n]``: with the logits, three matrix
products of size ``N x V x d``. A chunked method can arrange them in two ways.

1. *Gradients during the forward* (PyTorch 2.13's chunked ``F.linear_cross_entropy`` for
   'mean' and 'sum', and Liger's fused kernel): walk blocks of rows, each with the whole
   vocabulary, so a block's softmax is complete at once; form ``G`` for the block and add
   its share to ``d h`` and ``d W`` straight away. Three products in all, the minimum; the
   backward only multiplies the stored gradients by the scalar ``grad_output``. The price:
   the ``V x d`` and ``N x d`` gradients live from the forward to the backward; every block
   adds a rank-``B`` update into the whole ``V x d`` gradient (little arithmetic per byte
   when blocks are thin); and the trick needs a scalar loss. With ``reduction='none'`` the
   upstream gradient differs per row and is unknown during the forward, so PyTorch's
   'none' path recomputes everything in backward (four products); a second backward needs
   a copy kept aside (``allow_retain_graph``); higher-order and forward-mode AD are out.
2. *Recompute chunk by chunk in the backward* (this module, as Apple's Cut Cross-Entropy
   does): the forward walks chunks of vocabulary columns for all rows with the online
   log-sum-exp and keeps only ``lse`` (``N`` numbers); the backward walks the chunks again,
   recomputes each chunk's logits, forms ``G`` for that chunk from ``exp(z - lse)`` and
   writes its rows of ``d W`` once, with a long inner dimension ``N``. Four products instead
   of three, but between forward and backward nothing larger than ``N`` numbers is kept;
   ``reduction='none'`` with any per-row ``grad_output`` costs the same as 'mean'; a second
   backward (``retain_graph=True``) just recomputes. On this course's CPU the better-shaped
   products more than make up for the extra one: ``tools/bench_scale.py`` measures, at
   ``N = 4096, d = 512, V = 32768``, about 0.75x the CPU time of PyTorch's chunked path
   (1.06x the plain composition) and 0.4x to 0.6x its peak memory; at ``V = 128256`` with
   ``N = 256``, where PyTorch's heuristic picks blocks of one row, 0.1x its time.

Both need the ``V x d`` weight gradient (any method does) and some scratch (``B x V`` for
blocks of ``B`` rows, ``N x chunk`` here); the peak beyond the inputs and the gradients is
``O(N * chunk)`` here, plus ``O(N)`` kept from forward to backward. Neither
supports double backward: the backward is written by hand, so autograd cannot differentiate
it again (``create_graph=True`` raises here rather than silently dropping the second
derivatives); compose ``F.cross_entropy(F.linear(...))`` for Hessian-vector products.
Probability (float) targets are refused: such a target is itself ``N x V``, so there is
nothing left to save.
"""

import contextlib
import dataclasses
import datetime
import math
import numbers
import pickle
import queue
import socket
import time
import traceback

import torch
import torch.distributed as dist

from ._checks import check_in_closed_interval, check_reduction
from ._classification_checks import target_out_of_range

__all__ = [
    "online_logsumexp",
    "linear_cross_entropy",
    "default_chunk_size",
    "vocab_parallel_cross_entropy",
    "record_collectives",
    "run_distributed",
    "run_vocab_parallel",
    "VocabParallelReport",
]

_FLOATS = (torch.float32, torch.float64)


# ---------------------------------------------------------------------------------------------
# Argument checks
# ---------------------------------------------------------------------------------------------


def _check_float(name, x, dtypes=_FLOATS):
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of floats; got {type(x).__name__}")
    if x.dtype not in dtypes:
        allowed = " or ".join(str(d).removeprefix("torch.") for d in dtypes)
        raise TypeError(
            f"{name} must have dtype {allowed}; got {x.dtype} (cast it, e.g. {name}.float())"
        )


def _check_chunk_size(chunk_size):
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, numbers.Integral):
        raise TypeError(f"chunk_size must be an int >= 1 (or None); got {chunk_size!r}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be an int >= 1; got {chunk_size}")
    return int(chunk_size)


def _check_index_target(target, shape, what):
    """Check an int64 (or uint8) class-index target of ``shape``; return it as int64."""
    if not isinstance(target, torch.Tensor):
        raise TypeError(
            f"target must be a torch.Tensor of class indices; got {type(target).__name__}"
        )
    if target.is_floating_point():
        raise TypeError(
            f"target holds floats ({target.dtype}): class-probability targets are not supported "
            f"here, because such a target is itself as large as the logits, so chunking saves "
            "nothing; use torch.nn.functional.cross_entropy on the full logits"
        )
    if target.dtype not in (torch.int64, torch.uint8):
        raise TypeError(
            f"target of class indices must have dtype torch.int64 (or torch.uint8), as in "
            f"PyTorch; got {target.dtype}"
        )
    if tuple(target.shape) != tuple(shape):
        raise ValueError(
            f"target must have shape {tuple(shape)} ({what}); got shape {tuple(target.shape)}"
        )
    return target.long()


def _check_targets_in_range(target, n_classes, ignore_index):
    ignored = target == ignore_index
    bad = ~ignored & ((target < 0) | (target >= n_classes))
    if bad.any():
        raise target_out_of_range(int(target[bad][0]), n_classes, ignore_index)
    return ignored


def _check_class_weight(weight, n_classes, dtype):
    if weight is None:
        return None
    _check_float("weight", weight)
    if weight.dtype != dtype:
        raise TypeError(f"weight must have the logits' dtype {dtype}; got {weight.dtype}")
    if tuple(weight.shape) != (n_classes,):
        raise ValueError(
            f"weight must be 1-D with one entry per class, shape ({n_classes},); "
            f"got shape {tuple(weight.shape)}"
        )
    if weight.requires_grad:
        raise ValueError(
            "weight (the class weights) must not require grad: the loss is not differentiated "
            "with respect to it, as in torch.nn.functional.cross_entropy"
        )
    return weight


def _check_loss_options(reduction, label_smoothing):
    check_reduction(reduction)
    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, numbers.Real):
        raise TypeError(f"label_smoothing must be a float in [0, 1]; got {label_smoothing!r}")
    check_in_closed_interval("label_smoothing", label_smoothing, 0.0, 1.0)
    return float(label_smoothing)


# ---------------------------------------------------------------------------------------------
# The online normaliser
# ---------------------------------------------------------------------------------------------


def _shift(m):
    """The number subtracted before ``exp``: the running maximum, or 0 where it is +-inf.

    As in ``torch.logsumexp``: an infinite maximum cannot be subtracted (inf - inf is NaN),
    and with a shift of 0 the infinities come out right by themselves; NaN stays NaN.
    """
    return torch.where(m.isinf(), 0.0, m)


def _online_step(m, s, chunk):
    """Fold a chunk (last dim) into the running maximum ``m`` and sum ``s``.

    Invariant: ``s = sum over the entries seen so far of exp(x - shift(m))``. A new maximum
    rescales the old sum by ``exp(shift(m_old) - shift(m_new)) <= 1``.
    """
    m_new = torch.maximum(m, chunk.amax(dim=-1))
    shift_new = _shift(m_new)
    s = s * torch.exp(_shift(m) - shift_new) + (chunk - shift_new[..., None]).exp_().sum(dim=-1)
    return m_new, s


def online_logsumexp(input, dim=-1, chunk_size=1024):
    r"""Log-sum-exp along ``dim`` in one pass over chunks (online normaliser, Chapter 9).

    Returns :math:`\log \sum_j e^{x_j}`, like ``torch.logsumexp(input, dim)``, reading the
    entries ``chunk_size`` at a time and keeping two numbers per row: the running maximum
    :math:`m` and the sum :math:`s = \sum_{j \text{ seen}} e^{x_j - m}`. A chunk with a new
    maximum :math:`m'` rescales the old sum by :math:`e^{m - m'} \le 1` before adding its own
    terms, so nothing overflows and the result :math:`m + \log s` is exact up to round-off
    (Milakov and Gimelshein, 2018). Infinities and NaN give what ``torch.logsumexp`` gives:
    a row with a NaN is NaN, a row with :math:`+\infty` is :math:`+\infty`, a row that is all
    :math:`-\infty` (or empty) is :math:`-\infty`.

    Args:
        input: float32 or float64 tensor of any shape.
        dim: the dimension to reduce (an int; negative counts from the end).
        chunk_size: entries of ``dim`` read per step, an int >= 1.

    Returns:
        A tensor of ``input``'s shape without ``dim``, of ``input``'s dtype.
    """
    _check_float("input", input)
    chunk = _check_chunk_size(chunk_size)
    if isinstance(dim, bool) or not isinstance(dim, numbers.Integral):
        raise TypeError(f"dim must be an int; got {dim!r}")
    ndim = max(input.ndim, 1)
    if not -ndim <= dim < ndim:
        raise IndexError(
            f"dim {dim} is out of range for a {input.ndim}-d input: valid dims are "
            f"{-ndim}..{ndim - 1}"
        )
    x = input.reshape(1) if input.ndim == 0 else input.movedim(dim, -1)
    m = x.new_full(x.shape[:-1], -math.inf)
    s = x.new_zeros(x.shape[:-1])
    for start in range(0, x.shape[-1], chunk):
        m, s = _online_step(m, s, x[..., start : start + chunk])
    result = s.log() + m
    return result.reshape(()) if input.ndim == 0 else result


# ---------------------------------------------------------------------------------------------
# Chunked linear + cross-entropy
# ---------------------------------------------------------------------------------------------


def default_chunk_size(n_rows, vocab_size):
    """The number of vocabulary columns per chunk that ``linear_cross_entropy`` uses by default.

    About :math:`2^{21}` logits per chunk (8 MiB in float32), at least 256 columns so that the
    matrix products stay efficient, and never more than the vocabulary.
    """
    return max(1, min(vocab_size, max(256, (1 << 21) // max(n_rows, 1))))


class _RowTargets:
    """Per-row bookkeeping shared by the forward and backward passes of the chunked losses.

    ``t`` (the targets counted from ``start``, the first class of the logits at hand; ignored
    rows at ``-1 - start``, before every chunk), ``ignored``, ``w_t`` (the class weight of each
    row's target, 0 where ignored), and for each chunk of ``chunk`` columns the rows whose
    target falls in it (found once, by sorting the rows by target).
    """

    def __init__(self, target, ignored, weight, dtype, n_classes, chunk, start=0):
        self.t = target.masked_fill(ignored, -1) - start  # ignored rows: below every chunk
        self.ignored = ignored
        if weight is None:
            w_t = torch.ones(target.shape, dtype=dtype, device=target.device)
        else:
            w_t = weight[target.masked_fill(ignored, 0)]
        self.w_t = w_t.masked_fill(ignored, 0)
        self.order = torch.argsort(self.t)
        edges = [*range(0, max(n_classes, 1), chunk), n_classes]  # chunk k is edges[k:k + 2]
        edges = torch.tensor(edges, dtype=self.t.dtype, device=target.device)
        self.bounds = torch.searchsorted(self.t[self.order], edges).tolist()
        self.chunk = chunk

    def rows_in(self, k):
        """``(rows, columns)``: the rows whose target lies in chunk ``k``, and its column there."""
        rows = self.order[self.bounds[k] : self.bounds[k + 1]]
        return rows, self.t[rows] - k * self.chunk


def _chunk_logits(buffer, input, linear_weight, linear_bias, start, stop):
    """``input @ linear_weight[start:stop].T + linear_bias[start:stop]`` into ``buffer``."""
    z = buffer[:, : stop - start]
    torch.mm(input, linear_weight[start:stop].T, out=z)
    if linear_bias is not None:
        z += linear_bias[start:stop]
    return z


def _loss_from_parts(rows, eps, n_classes, total_class_weight, m, log_s, target_gap, smooth):
    """Per-row loss from the normaliser parts (all relative to one reference per row).

    ``nll = log s - (z_t - m)``, as ``log_softmax`` computes it; with smoothing ``eps``,
    ``-sum_c w_c log p_c = W (m + log s) - sum_c w_c z_c`` with ``W = sum_c w_c``.
    """
    nll = log_s - target_gap
    loss = rows.w_t.to(nll.dtype) * nll
    if eps > 0:
        loss = (1 - eps) * loss + (eps / n_classes) * (total_class_weight * (m + log_s) - smooth)
    return loss.masked_fill(rows.ignored, 0)


def _row_gradients(rows, grad_output, reduction, total_weight, eps, n_classes, total_class_weight):
    """For ``G[n, j] = coef_n p_nj - hit_n [j = t_n] - spread_n w_j``: ``(coef, hit, spread)``.

    ``g_n = d reduced / d loss_n`` (``grad_output``, divided by ``sum_n w_t_n`` for 'mean'),
    0 for ignored rows; ``hit = g (1 - eps) w_t``, ``spread = g eps / C`` and
    ``coef = hit + spread W`` (the probabilities' total coefficient, so each row of ``G``
    sums to 0).
    """
    if reduction == "mean":
        grad_output = grad_output / total_weight
    g = grad_output.reshape(-1).expand(rows.t.shape[0]).masked_fill(rows.ignored, 0)
    hit = g * (1 - eps) * rows.w_t.to(g.dtype)
    spread = g * (eps / n_classes)
    return hit + spread * total_class_weight, hit, spread


def _logits_gradient_(z, lse, coef, hit, spread, rows, k, weight_chunk):
    """Turn a chunk of logits ``z`` into its chunk of ``G = d loss / d z``, in place."""
    z.sub_(lse[:, None]).exp_().mul_(coef[:, None])  # coef_n * p_nj
    r, c = rows.rows_in(k)
    z.index_put_((r, c), -hit[r], accumulate=True)
    if spread is not None:
        if weight_chunk is None:
            z.sub_(spread[:, None])
        else:
            z.addr_(spread, weight_chunk, alpha=-1)
    return z


def _refuse_double_backward(name, alternative):
    """Raise if autograd is recording the backward (``create_graph=True``).

    The backward is written by hand from detached tensors, so a graph of it would hold no
    second derivative: a gradient penalty built on it would silently get none.
    """
    if torch.is_grad_enabled():
        raise RuntimeError(
            f"{name} is differentiable once: its backward cannot be differentiated again "
            f"(create_graph=True); for second derivatives compose {alternative}"
        )


class _LinearCrossEntropy(torch.autograd.Function):
    """``cross_entropy(input @ linear_weight.T + linear_bias, target)`` in chunks of columns.

    Forward: one pass over the chunks with the online log-sum-exp; saves ``lse`` (``N``).
    Backward: a second pass recomputing each chunk's logits and its share of every gradient.
    """

    @staticmethod
    def forward(ctx, input, linear_weight, linear_bias, rows, weight, reduction, eps, chunk):
        n_rows, n_classes = input.shape[0], linear_weight.shape[0]
        total_class_weight = n_classes if weight is None else weight.sum()
        m = input.new_full((n_rows,), -math.inf)
        s = input.new_zeros(n_rows)
        target_gap = input.new_zeros(n_rows)  # z_t - reference
        smooth = input.new_zeros(n_rows) if eps > 0 else None  # sum_c w_c (z_c - reference)
        buffer = input.new_empty(n_rows, min(chunk, n_classes))
        reference = None
        for k, start in enumerate(range(0, n_classes, chunk)):
            stop = min(start + chunk, n_classes)
            z = _chunk_logits(buffer, input, linear_weight, linear_bias, start, stop)
            if reference is None:  # each row's maximum over the first chunk
                reference = _shift(z.amax(dim=1))
            z -= reference[:, None]  # sums of logits relative to it lose no digits to cancellation
            r, c = rows.rows_in(k)
            target_gap[r] = z[r, c]
            if smooth is not None:
                smooth += z.sum(dim=1) if weight is None else z @ weight[start:stop]
            m_new = torch.maximum(m, z.amax(dim=1))
            shift_new = _shift(m_new)
            s.mul_(torch.exp(_shift(m) - shift_new))
            s += z.sub_(shift_new[:, None]).exp_().sum(dim=1)
            m = m_new
        log_s = s.log()
        loss = _loss_from_parts(
            rows, eps, n_classes, total_class_weight, m, log_s, target_gap - m, smooth
        )
        total_weight = rows.w_t.sum().to(loss.dtype)
        if reduction == "mean":
            loss = loss.sum() / total_weight
        elif reduction == "sum":
            loss = loss.sum()
        lse = reference + (m + log_s)
        ctx.save_for_backward(input, linear_weight, linear_bias, weight, lse)
        ctx.rows, ctx.reduction, ctx.eps, ctx.chunk = rows, reduction, eps, chunk
        ctx.total_weight, ctx.total_class_weight = total_weight, total_class_weight
        return loss

    @staticmethod
    def backward(ctx, grad_output):
        _refuse_double_backward("linear_cross_entropy", "F.cross_entropy(F.linear(...))")
        input, linear_weight, linear_bias, weight, lse = ctx.saved_tensors
        rows, eps, chunk = ctx.rows, ctx.eps, ctx.chunk
        n_rows, n_classes = input.shape[0], linear_weight.shape[0]
        coef, hit, spread = _row_gradients(
            rows,
            grad_output,
            ctx.reduction,
            ctx.total_weight,
            eps,
            n_classes,
            ctx.total_class_weight,
        )
        need_input, need_weight, need_bias = ctx.needs_input_grad[:3]
        new = dict(dtype=input.dtype, device=input.device)
        grad_input = torch.zeros(input.shape, **new) if need_input else None
        grad_weight = torch.empty(linear_weight.shape, **new) if need_weight else None
        grad_bias = torch.empty(n_classes, **new) if need_bias else None
        buffer = input.new_empty(n_rows, min(chunk, n_classes))
        for k, start in enumerate(range(0, n_classes, chunk)):
            stop = min(start + chunk, n_classes)
            z = _chunk_logits(buffer, input, linear_weight, linear_bias, start, stop)
            weight_chunk = None if weight is None else weight[start:stop]
            dz = _logits_gradient_(
                z, lse, coef, hit, spread if eps > 0 else None, rows, k, weight_chunk
            )
            if need_input:
                grad_input.addmm_(dz, linear_weight[start:stop])
            if need_weight:
                torch.mm(dz.T, input, out=grad_weight[start:stop])
            if need_bias:
                torch.sum(dz, dim=0, out=grad_bias[start:stop])
        return grad_input, grad_weight, grad_bias, None, None, None, None, None


def linear_cross_entropy(
    input,
    linear_weight,
    target,
    *,
    linear_bias=None,
    weight=None,
    reduction="mean",
    ignore_index=-100,
    label_smoothing=0.0,
    chunk_size=None,
):
    r"""Cross-entropy of a linear layer's logits, without ever holding the logits (Chapter 9).

    The same loss and gradients (for ``input``, ``linear_weight`` and ``linear_bias``) as
    ``F.cross_entropy(F.linear(input, linear_weight, linear_bias), target, ...)`` for
    class-index targets, up to round-off: with :math:`z_n = W h_n + b`,

    .. math::

        \ell_n = (1 - \varepsilon)\, w_{t_n} \bigl(\operatorname{lse}(z_n) - z_{n t_n}\bigr)
        + \frac{\varepsilon}{C} \sum_c w_c \bigl(\operatorname{lse}(z_n) - z_{nc}\bigr),

    0 where :math:`t_n` is ``ignore_index``; 'mean' divides :math:`\sum_n \ell_n` by
    :math:`\sum_n w_{t_n}` over the rows that are not ignored (NaN if that is 0, as PyTorch).
    The vocabulary is walked ``chunk_size`` columns at a time, for all rows: the forward
    keeps a running maximum and rescaled sum per row (``online_logsumexp``), and only
    :math:`\operatorname{lse}(z_n)`; the backward recomputes each chunk's logits and turns
    them into :math:`G = g_n (p_n - y_n)` to add :math:`G W_{\text{chunk}}` to the input's
    gradient and write :math:`G^\top h` into the chunk's rows of the weight's gradient. Peak
    memory beyond the inputs and gradients is :math:`O(N \cdot \text{chunk} + N)`; the module
    docstring explains the choice (four matrix products instead of three). Differentiable
    once (no double backward, no forward-mode AD).

    Unlike ``F.cross_entropy(F.linear(...))``, whose class dim is dim 1, the classes are the
    last dim of the logits, as in a language model: ``input`` of shape ``(B, T, d)`` with a
    target ``(B, T)`` gives the loss of all ``B * T`` positions.

    Args:
        input: hidden states :math:`h`, ``(d,)``, ``(N, d)`` or ``(*, d)``; float32 or float64.
        linear_weight: :math:`W`, ``(C, d)``, the dtype of ``input``; ``C >= 1`` classes.
        target: int64 class indices in ``0..C-1`` (or ``ignore_index``), shape ``(*)``:
            ``input``'s shape without its last dim. Float (probability) targets are refused.
        linear_bias: optional :math:`b`, ``(C,)``.
        weight: optional class weights :math:`w`, ``(C,)``, not differentiated.
        reduction: 'none' (a loss of ``target``'s shape), 'mean' or 'sum'.
        ignore_index: a target value whose row contributes neither loss nor weight.
        label_smoothing: :math:`\varepsilon` in [0, 1].
        chunk_size: vocabulary columns per chunk, an int >= 1; None picks
            ``default_chunk_size(N, C)`` (about :math:`2^{21}` logits).

    Returns:
        The loss in ``input``'s dtype, a scalar, or of ``target``'s shape for 'none'.
    """
    _check_float("input", input)
    _check_float("linear_weight", linear_weight)
    if linear_weight.dtype != input.dtype:
        raise TypeError(
            f"linear_weight must have input's dtype {input.dtype}; got {linear_weight.dtype}"
        )
    if input.ndim < 1:
        raise ValueError("input must have at least 1 dim (the features d); got a 0-d tensor")
    if linear_weight.ndim != 2 or linear_weight.shape[1] != input.shape[-1]:
        raise ValueError(
            f"linear_weight must have shape (C, d) with d = {input.shape[-1]} (input's last dim); "
            f"got shape {tuple(linear_weight.shape)}"
        )
    n_classes = linear_weight.shape[0]
    if n_classes < 1:
        raise ValueError("linear_weight must have at least one row (one class); got 0 rows")
    if linear_bias is not None:
        _check_float("linear_bias", linear_bias)
        if linear_bias.dtype != input.dtype:
            raise TypeError(
                f"linear_bias must have input's dtype {input.dtype}; got {linear_bias.dtype}"
            )
        if tuple(linear_bias.shape) != (n_classes,):
            raise ValueError(
                f"linear_bias must have shape ({n_classes},), one entry per class; "
                f"got shape {tuple(linear_bias.shape)}"
            )
    t = _check_index_target(target, input.shape[:-1], "input's shape without its last dim")
    weight = _check_class_weight(weight, n_classes, input.dtype)
    eps = _check_loss_options(reduction, label_smoothing)
    h = input.reshape(-1, input.shape[-1])
    chunk = (
        default_chunk_size(h.shape[0], n_classes)
        if chunk_size is None
        else _check_chunk_size(chunk_size)
    )
    chunk = min(chunk, n_classes)
    t = t.reshape(-1)
    ignored = _check_targets_in_range(t, n_classes, ignore_index)
    rows = _RowTargets(t, ignored, weight, input.dtype, n_classes, chunk)
    loss = _LinearCrossEntropy.apply(
        h, linear_weight, linear_bias, rows, weight, reduction, eps, chunk
    )
    return loss.reshape(target.shape) if reduction == "none" else loss


# ---------------------------------------------------------------------------------------------
# Vocabulary-parallel cross-entropy
# ---------------------------------------------------------------------------------------------

_RECORDS = None  # a list while ``record_collectives`` is active


@contextlib.contextmanager
def record_collectives():
    """Record the collectives that ``xent.scale`` issues on this process.

    Within the ``with`` block each collective appends ``(name, n_bytes)`` to the list it
    yields: ``n_bytes`` is the size of the tensor this rank passes in (``numel * element
    size``; for ``all_gather``, this rank's contribution). It counts the payload the call
    asks for, not the bytes on the wire, which depend on the algorithm (a ring all-reduce of
    ``n`` bytes sends ``2 (W - 1) / W * n`` from each of ``W`` ranks).

    Example::

        with record_collectives() as log:
            loss = vocab_parallel_cross_entropy(shard, target)
        sum(n for _, n in log)
    """
    global _RECORDS
    outer, _RECORDS = _RECORDS, []
    try:
        yield _RECORDS
    finally:
        _RECORDS = outer


def _record(name, tensor):
    if _RECORDS is not None:
        _RECORDS.append((name, tensor.numel() * tensor.element_size()))


def _all_reduce(tensor, op, group):
    _record("all_reduce", tensor)
    dist.all_reduce(tensor, op=op, group=group)
    return tensor


def _all_gather(tensor, group):
    _record("all_gather", tensor)
    parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size(group))]
    dist.all_gather(parts, tensor, group=group)
    return torch.stack(parts)


def _target_checksum(target):
    """An int64 fingerprint of the target (wrapping arithmetic), to compare across ranks."""
    positions = torch.arange(1, target.numel() + 1, device=target.device)
    return int((target.reshape(-1) * positions).sum()) if target.numel() else 0


def _vocab_parallel_layout(logits_shard, target, group):
    """Check the arguments on every rank together; return ``(start, n_classes)``.

    One all-gather of five int64 per rank (an error flag, the rows, this shard's classes,
    a checksum of the target and the logits' dtype) lets every rank see every shard, so
    that a mismatch raises the same exception on all ranks instead of hanging one of them
    in a collective that the others never reach.
    """
    problem = None
    if not isinstance(logits_shard, torch.Tensor) or logits_shard.dtype not in _FLOATS:
        problem = "logits_shard must be a float32 or float64 torch.Tensor"
    elif logits_shard.ndim < 1:
        problem = "logits_shard must have at least 1 dim (this rank's classes)"
    elif not isinstance(target, torch.Tensor) or target.is_floating_point():
        problem = "target must be a tensor of class indices (float targets are not supported)"
    elif tuple(target.shape) != tuple(logits_shard.shape[:-1]):
        problem = (
            f"target must have shape {tuple(logits_shard.shape[:-1])} (logits_shard's "
            f"shape without its last dim); got shape {tuple(target.shape)}"
        )
    rank, world = dist.get_rank(group), dist.get_world_size(group)
    if problem is None:
        info = [
            0,
            target.numel(),
            logits_shard.shape[-1],
            _target_checksum(target),
            _FLOATS.index(logits_shard.dtype),
        ]
    else:
        info = [1, -1, -1, 0, -1]
    device = logits_shard.device if isinstance(logits_shard, torch.Tensor) else "cpu"
    table = _all_gather(torch.tensor(info, dtype=torch.int64, device=device), group).tolist()
    if problem is not None:
        raise ValueError(f"vocab_parallel_cross_entropy on rank {rank}: {problem}")
    bad = [r for r in range(world) if table[r][0]]
    if bad:
        raise ValueError(
            f"vocab_parallel_cross_entropy: rank(s) {bad} of the group got bad "
            "input (their own exception says what)"
        )
    for column, what in (
        (1, "number of rows (target.numel())"),
        (3, "target"),
        (4, "logits dtype"),
    ):
        values = [row[column] for row in table]
        if len(set(values)) > 1:
            shown = values if column != 3 else "differing checksums"
            raise ValueError(
                f"vocab_parallel_cross_entropy: every rank must have the same {what}, since each "
                f"holds all rows and a slice of the classes; the ranks have {shown}"
            )
    sizes = [row[2] for row in table]
    return sum(sizes[:rank]), sum(sizes)


class _VocabParallelCrossEntropy(torch.autograd.Function):
    """Cross-entropy of vocabulary-sharded logits: two all-reduces forward, none backward."""

    @staticmethod
    def forward(ctx, shard, rows, weight, start, n_classes, group, reduction, eps):
        n_rows, width = shard.shape
        total_class_weight = n_classes if weight is None else weight.sum()
        weight_shard = None if weight is None else weight[start : start + width]
        # 1. The row maxima over all classes: one all-reduce (max) of N numbers.
        m = shard.amax(dim=1) if width else shard.new_full((n_rows,), -math.inf)
        _all_reduce(m, dist.ReduceOp.MAX, group)
        shift = _shift(m)
        # 2. Three sums over all classes in one all-reduce (sum) of 2N or 3N numbers:
        #    sum_j exp(z_j - m), the target's z_t - m (0 on ranks without it), sum_c w_c (z_c - m).
        gaps = shard - shift[:, None]
        parts = shard.new_zeros(3 if eps > 0 else 2, n_rows)
        parts[0] = gaps.exp().sum(dim=1)
        r, c = rows.rows_in(0)
        parts[1, r] = gaps[r, c]
        if eps > 0:
            parts[2] = gaps.sum(dim=1) if weight is None else gaps @ weight_shard
        _all_reduce(parts, dist.ReduceOp.SUM, group)
        log_s = parts[0].log()
        smooth = parts[2] if eps > 0 else None
        loss = _loss_from_parts(
            rows,
            eps,
            n_classes,
            total_class_weight,
            m - shift,
            log_s,
            parts[1] - (m - shift),
            smooth,
        )
        total_weight = rows.w_t.sum().to(loss.dtype)
        if reduction == "mean":
            loss = loss.sum() / total_weight
        elif reduction == "sum":
            loss = loss.sum()
        ctx.save_for_backward(shard, weight_shard, shift + log_s)
        ctx.rows, ctx.reduction, ctx.eps, ctx.n_classes = rows, reduction, eps, n_classes
        ctx.total_weight, ctx.total_class_weight = total_weight, total_class_weight
        return loss

    @staticmethod
    def backward(ctx, grad_output):
        _refuse_double_backward("vocab_parallel_cross_entropy", "F.cross_entropy")
        shard, weight_shard, lse = ctx.saved_tensors
        coef, hit, spread = _row_gradients(
            ctx.rows,
            grad_output,
            ctx.reduction,
            ctx.total_weight,
            ctx.eps,
            ctx.n_classes,
            ctx.total_class_weight,
        )
        grad = _logits_gradient_(
            shard.clone(),
            lse,
            coef,
            hit,
            spread if ctx.eps > 0 else None,
            ctx.rows,
            0,
            weight_shard,
        )
        return grad, None, None, None, None, None, None, None


def vocab_parallel_cross_entropy(
    logits_shard,
    target,
    group=None,
    *,
    weight=None,
    reduction="mean",
    ignore_index=-100,
    label_smoothing=0.0,
):
    r"""Cross-entropy of logits split by vocabulary across a process group (Chapter 9).

    Rank :math:`r` of ``group`` holds the logits of a contiguous slice of the classes,
    :math:`[s_r, s_r + C_r)`, in rank order (:math:`s_r = C_0 + \dots + C_{r-1}`, so the
    slices may have different sizes); every rank holds all :math:`N` rows and the same
    target. The result, on every rank, is ``F.cross_entropy`` of the concatenated logits
    (same loss and, for each rank's shard, the same gradient), with the classes in the last
    dim. The forward needs, beyond one all-gather of five integers per rank (the shard
    sizes, from which each rank learns its :math:`s_r`, and checks that the ranks agree),
    only two all-reduces of :math:`N`-element vectors, whatever :math:`C`:

    1. max: :math:`m_n = \max_r \max_{j \in r} z_{nj}`;
    2. sum, one stacked call: :math:`\sum_j e^{z_{nj} - m_n}`, the target's
       :math:`z_{n t_n} - m_n` (from the rank that holds :math:`t_n`, 0 elsewhere) and, for
       label smoothing, :math:`\sum_c w_c (z_{nc} - m_n)`.

    Then :math:`\operatorname{lse}_n = m_n + \log \sum_j e^{z_{nj} - m_n}` and the loss are
    the same numbers on every rank. The backward is local, no communication: rank
    :math:`r`'s gradient is its slice of :math:`g_n (p_n - y_n)`, where
    :math:`p_{nj} = e^{z_{nj} - \operatorname{lse}_n}` and :math:`y_n` is the (smoothed,
    weighted) target. Each rank sends :math:`(1 + 2)\,N` numbers (:math:`(1 + 3)\,N` with
    smoothing) instead of the :math:`N C` of all-gathering the logits.

    Args:
        logits_shard: this rank's logits, ``(N, C_r)`` or ``(*, C_r)``; float32 or float64.
        target: int64 global class indices in ``0..C-1`` (or ``ignore_index``), shape
            ``(*)``, the same on every rank.
        group: the ``torch.distributed`` process group (None: the default group).
        weight: optional class weights for all :math:`C` classes, ``(C,)``, the same on every
            rank; not differentiated.
        reduction: 'none', 'mean' or 'sum', as in ``F.cross_entropy``.
        ignore_index: a target value whose row contributes neither loss nor weight.
        label_smoothing: :math:`\varepsilon` in [0, 1].

    Returns:
        The loss, the same on every rank, a scalar, or of ``target``'s shape for 'none'.

    Raises:
        ValueError: on every rank if any rank's shard or target does not fit the others
            (different numbers of rows, targets or dtypes), TypeError or IndexError for a bad
            dtype or a target out of range.
    """
    eps = _check_loss_options(reduction, label_smoothing)
    start, n_classes = _vocab_parallel_layout(logits_shard, target, group)
    t = _check_index_target(
        target, logits_shard.shape[:-1], "logits_shard's shape without its last dim"
    ).reshape(-1)
    if n_classes < 1:
        raise ValueError("the group's shards hold 0 classes in all; at least one is needed")
    weight = _check_class_weight(weight, n_classes, logits_shard.dtype)
    ignored = _check_targets_in_range(t, n_classes, ignore_index)
    width = logits_shard.shape[-1]
    rows = _RowTargets(t, ignored, weight, logits_shard.dtype, width, max(width, 1), start=start)
    shard = logits_shard.reshape(t.shape[0], width)
    loss = _VocabParallelCrossEntropy.apply(
        shard, rows, weight, start, n_classes, group, reduction, eps
    )
    return loss.reshape(target.shape) if reduction == "none" else loss


# ---------------------------------------------------------------------------------------------
# Running on local processes
# ---------------------------------------------------------------------------------------------


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank, world_size, port, timeout, fn, args, results):
    """The body of each process that ``run_distributed`` starts."""
    try:
        torch.set_num_threads(1)  # W processes share the machine's cores
        dist.init_process_group(
            "gloo",
            init_method=f"tcp://127.0.0.1:{port}",
            rank=rank,
            world_size=world_size,
            timeout=datetime.timedelta(seconds=timeout),
        )
        try:
            value = fn(rank, world_size, *args)
        finally:
            dist.destroy_process_group()
        results.put(("ok", rank, pickle.dumps(value)))
    except BaseException:  # noqa: BLE001 (every failure must reach the parent)
        results.put(("error", rank, traceback.format_exc()))


def run_distributed(fn, world_size, *args, timeout=60.0):
    """Run ``fn(rank, world_size, *args)`` on ``world_size`` local processes; return the results.

    Each process is started fresh (``spawn``), joins a gloo process group on 127.0.0.1 (a
    free port is picked), calls ``fn``, and leaves the group. ``fn`` must be a module-level
    function of an importable module (``spawn`` pickles it by name; a notebook's own
    functions cannot be pickled): ``xent.scale``'s workers are. The arguments and results
    travel by pickle. If any rank raises, or dies, or the whole run takes longer than
    ``timeout`` seconds, every process is stopped and the parent raises (``RuntimeError``
    with the rank's traceback, or ``TimeoutError``): a failure never leaves it waiting.

    Args:
        fn: a picklable callable ``fn(rank, world_size, *args)``.
        world_size: the number of processes, an int >= 1.
        *args: picklable arguments passed to every rank.
        timeout: seconds allowed for the whole run, start-up included.

    Returns:
        A list of ``world_size`` results, ``results[rank]``.
    """
    if (
        isinstance(world_size, bool)
        or not isinstance(world_size, numbers.Integral)
        or world_size < 1
    ):
        raise ValueError(f"world_size must be an int >= 1; got {world_size!r}")
    if not timeout > 0:
        raise ValueError(f"timeout must be > 0 seconds; got {timeout!r}")
    context = torch.multiprocessing.get_context("spawn")
    messages = context.Queue()
    port = _free_port()
    processes = [
        context.Process(
            target=_worker, args=(rank, world_size, port, timeout, fn, args, messages), daemon=True
        )
        for rank in range(world_size)
    ]
    deadline = time.monotonic() + timeout
    results, done = [None] * world_size, set()
    try:
        for process in processes:
            process.start()
        while len(done) < world_size:
            try:
                status, rank, payload = messages.get(timeout=0.05)
            except queue.Empty:
                dead = [
                    r for r, p in enumerate(processes) if r not in done and p.exitcode is not None
                ]
                if dead:  # a rank that ended without reporting: killed, or crashed in C
                    # (its message may still be in the pipe: give it a moment)
                    try:
                        status, rank, payload = messages.get(timeout=1.0)
                    except queue.Empty:
                        code = processes[dead[0]].exitcode
                        raise RuntimeError(
                            f"rank {dead[0]} of {world_size} exited with code "
                            f"{code} without a result"
                        ) from None
                elif time.monotonic() > deadline:
                    raise TimeoutError(
                        f"run_distributed: ranks {sorted(set(range(world_size)) - done)} of "
                        f"{world_size} had not finished after {timeout} s"
                    ) from None
                else:
                    continue
            if status == "error":
                raise RuntimeError(f"rank {rank} of {world_size} raised:\n{payload}")
            results[rank] = pickle.loads(payload)
            done.add(rank)
    finally:
        for process in processes:
            process.join(timeout=0 if len(done) < world_size else 5)
            if process.is_alive():
                process.kill()
                process.join()
        messages.close()
    return results


def _vocab_parallel_cases(rank, world_size, cases):
    """Worker for ``run_distributed``: run ``vocab_parallel_cross_entropy`` on each case.

    A case is a dict with ``logits`` (all ``N x C``, or ``demo``: ``(seed, N, C, dtype)`` to
    generate this rank's slice, see ``_demo_logits``), ``target``, ``splits`` (the classes of
    each rank), optional ``kwargs`` for the loss, ``grad_output`` (default: ones) and
    ``rows`` and ``dtype`` (``{rank: n}``, ``{rank: dtype}``: give that rank only the first
    ``n`` rows, or its shard in that dtype, to test the checks).
    Returns, per case, a dict with this rank's ``loss``, the ``grad`` of its shard, the
    ``collectives`` of the step, or ``error``: ``(exception type name, message)``.
    """
    out = []
    for case in cases:
        start = sum(case["splits"][:rank])
        stop = start + case["splits"][rank]
        if "demo" in case:
            shard = _demo_logits(*case["demo"], start, stop)
        else:
            shard = case["logits"][..., start:stop].clone()
        target = case["target"]
        if rank in case.get("rows", {}):
            shard, target = shard[: case["rows"][rank]], target[: case["rows"][rank]]
        if rank in case.get("dtype", {}):
            shard = shard.to(case["dtype"][rank])
        shard.requires_grad_(shard.is_floating_point())
        try:
            with record_collectives() as log:
                loss = vocab_parallel_cross_entropy(shard, target, **case.get("kwargs", {}))
                grad_output = case.get("grad_output")
                (loss if grad_output is None else loss * grad_output).sum().backward()
        except Exception as error:  # noqa: BLE001 (reported to the parent, which checks it)
            out.append({"error": (type(error).__name__, str(error))})
            continue
        out.append({"loss": loss.detach(), "grad": shard.grad, "collectives": list(log)})
    return out


def _demo_logits(seed, n_rows, n_classes, dtype, start=0, stop=None):
    """Columns ``start:stop`` of a reproducible ``n_rows x n_classes`` matrix of logits.

    Generated in blocks of 1,024 columns, each from its own seed, so that a rank makes its
    own slice without ever making the whole matrix.
    """
    stop = n_classes if stop is None else stop
    block = 1024
    pieces = []
    for b in range(start // block, -(-stop // block)):
        generator = torch.Generator().manual_seed(seed * 1_000_003 + b)
        width = min(block, n_classes - b * block)
        values = 2 * torch.randn(n_rows, width, generator=generator, dtype=dtype)
        lo, hi = max(start - b * block, 0), min(stop - b * block, width)
        pieces.append(values[:, lo:hi])
    return torch.cat(pieces, dim=1) if pieces else torch.empty(n_rows, 0, dtype=dtype)


@dataclasses.dataclass(frozen=True)
class VocabParallelReport:
    """What ``run_vocab_parallel`` measured (bytes are per rank, per forward + backward step).

    Attributes:
        world_size: :math:`W`, the number of processes.
        n_rows: :math:`N`, the rows.
        vocab_size: :math:`C`, the classes.
        splits: the classes each rank held.
        losses: the loss each rank computed.
        reference_loss: ``F.cross_entropy`` of the whole logits in one process.
        max_loss_difference: the largest ``|losses[r] - reference_loss|``.
        max_grad_difference: the largest entry of ``|concatenated shard gradients - reference
            gradient|``.
        collectives: ``(name, bytes)`` of each collective rank 0 called in the step.
        measured_bytes: per rank, the bytes passed to the collectives (the sum of the above).
        formula_bytes: the same, computed: ``5 * 8`` (the layout all-gather) ``+ (1 + k) N s``
            with ``k = 2`` sums (3 with label smoothing) and ``s`` the element size.
        all_gather_logits_bytes: :math:`N C s`, the logits that all-gathering would move.
        formula: ``formula_bytes`` spelt out.
    """

    world_size: int
    n_rows: int
    vocab_size: int
    splits: tuple
    losses: tuple
    reference_loss: float
    max_loss_difference: float
    max_grad_difference: float
    collectives: tuple
    measured_bytes: tuple
    formula_bytes: int
    all_gather_logits_bytes: int
    formula: str


def run_vocab_parallel(
    world_size=2,
    n_rows=512,
    vocab_size=32768,
    *,
    splits=None,
    dtype=torch.float32,
    label_smoothing=0.0,
    ignore_fraction=0.1,
    seed=0,
    timeout=60.0,
):
    """Run ``vocab_parallel_cross_entropy`` on ``world_size`` local gloo processes and check it.

    Makes reproducible logits ``2 * randn(n_rows, vocab_size)`` and targets (a fraction
    ``ignore_fraction`` of them ignored), splits the vocabulary across the ranks (evenly,
    the first ranks taking one extra class, unless ``splits`` says), runs one forward and
    backward step of the loss ('mean') on every rank, recording its collectives, and
    compares the losses and the gradient with ``F.cross_entropy`` of the whole logits in this
    process. Each rank generates only its own slice of the logits.

    Args:
        world_size: the number of processes.
        n_rows: :math:`N`, the rows (token positions).
        vocab_size: :math:`C`, the classes.
        splits: optional classes per rank (ints summing to ``vocab_size``).
        dtype: the logits' dtype, torch.float32 or torch.float64.
        label_smoothing: passed to both losses.
        ignore_fraction: the share of targets set to ``ignore_index`` (-100).
        seed: the seed of the logits and targets.
        timeout: seconds allowed for the run (see ``run_distributed``).

    Returns:
        A ``VocabParallelReport``.
    """
    if splits is None:
        splits = [
            vocab_size // world_size + (r < vocab_size % world_size) for r in range(world_size)
        ]
    splits = [int(v) for v in splits]
    if len(splits) != world_size or sum(splits) != vocab_size or min(splits) < 0:
        raise ValueError(
            f"splits must be {world_size} non-negative ints summing to vocab_size = "
            f"{vocab_size}; got {splits}"
        )
    generator = torch.Generator().manual_seed(seed)
    target = torch.randint(vocab_size, (n_rows,), generator=generator)
    target[torch.rand(n_rows, generator=generator) < ignore_fraction] = -100
    kwargs = {"label_smoothing": label_smoothing}
    case = {
        "demo": (seed, n_rows, vocab_size, dtype),
        "target": target,
        "splits": splits,
        "kwargs": kwargs,
    }
    results = [
        r[0] for r in run_distributed(_vocab_parallel_cases, world_size, [case], timeout=timeout)
    ]
    for rank, result in enumerate(results):
        if "error" in result:
            raise RuntimeError(f"rank {rank} raised {result['error'][0]}: {result['error'][1]}")
    logits = _demo_logits(seed, n_rows, vocab_size, dtype).requires_grad_(True)
    reference = torch.nn.functional.cross_entropy(logits, target, **kwargs)
    reference.backward()
    reference = reference.detach()
    grad = torch.cat([r["grad"] for r in results], dim=1)
    size = torch.empty((), dtype=dtype).element_size()
    sums = 3 if label_smoothing > 0 else 2
    return VocabParallelReport(
        world_size=world_size,
        n_rows=n_rows,
        vocab_size=vocab_size,
        splits=tuple(splits),
        losses=tuple(float(r["loss"]) for r in results),
        reference_loss=float(reference),
        max_loss_difference=max(abs(float(r["loss"]) - float(reference)) for r in results),
        max_grad_difference=float((grad - logits.grad).abs().max()) if grad.numel() else 0.0,
        collectives=tuple(results[0]["collectives"]),
        measured_bytes=tuple(sum(n for _, n in r["collectives"]) for r in results),
        formula_bytes=5 * 8 + (1 + sums) * n_rows * size,
        all_gather_logits_bytes=n_rows * vocab_size * size,
        formula=f"5 * 8 + (1 + {sums}) * N * s = 40 + {1 + sums} * {n_rows} * {size} bytes",
    )
