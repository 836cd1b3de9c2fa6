"""Classification losses from elementary torch ops: NLL, cross-entropy, BCE, KL.

Shapes follow ``torch.nn.functional``: the classes sit in dim 1 of an ``(N, C)`` or
``(N, C, d1, ..., dk)`` input and in dim 0 of a single ``(C,)`` example; a class-index
target has the input's shape without the class dim.

``cross_entropy`` with class indices runs through ``_CrossEntropyWithIndices``, an
autograd Function whose backward is the closed form of Chapter 4,
``d loss / d logits = softmax - one_hot`` (scaled by the weights, label smoothing
and reduction), instead of autograd's walk back through every forward op.
"""

import math

import torch
from torch.autograd.function import once_differentiable

from .._checks import check_in_closed_interval, check_reduction, class_dim
from .._classification_checks import (
    broadcast_shapes,
    check_broadcasts_to,
    check_class_weight_shape,
    check_index_target_shape,
    check_kl_reduction,
    check_probability_target_shape,
    check_same_shape,
    target_out_of_range,
)
from ._tensors import as_float_tensor, reduce_loss
from .normalisers import log_softmax, row_sums, two_sum

__all__ = [
    "nll_loss",
    "cross_entropy",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "kl_div",
]


def _class_indices(target, input_shape, ignore_index):
    """Check a class-index target; return ``(indices, ignored)``.

    ``indices`` is int64 with every ignored entry replaced by class 0, so it can
    index safely; ``ignored`` marks the entries equal to ``ignore_index``.
    """
    if not isinstance(target, torch.Tensor):
        raise TypeError(f"target must be a torch.Tensor of ints; got {type(target).__name__}")
    if target.dtype not in (torch.int64, torch.uint8):
        raise TypeError(
            f"target of class indices must have dtype torch.int64 (or torch.uint8), "
            f"as in PyTorch; got {target.dtype}"
        )
    check_index_target_shape(input_shape, target.shape)
    n_classes = input_shape[class_dim(len(input_shape))]
    target = target.long()
    ignored = target == ignore_index
    out_of_range = ~ignored & ((target < 0) | (target >= n_classes))
    if out_of_range.any():
        raise target_out_of_range(int(target[out_of_range][0]), n_classes, ignore_index)
    return target.masked_fill(ignored, 0), ignored


def _class_weight(weight, x, compute_dtype):
    """Check a per-class ``weight`` (None, or shape ``(C,)`` and the input's dtype)."""
    if weight is None:
        return None
    weight, _ = as_float_tensor("weight", weight)
    if weight.dtype != x.dtype:
        raise TypeError(f"weight must have the input's dtype {x.dtype}; got {weight.dtype}")
    check_class_weight_shape(weight.shape, x.shape[class_dim(x.ndim)])
    return weight.to(compute_dtype)


def _picked_log_probs(log_p, indices, ignored, weight):
    """Per element: ``-weight[t] * log_p[t]`` (0 where ignored) and ``weight[t]`` (0 too)."""
    dim = class_dim(log_p.ndim)
    if log_p.shape[dim] == 0:  # no classes: every target is ignored
        picked = log_p.new_zeros(indices.shape)
    else:
        picked = log_p.gather(dim, indices.unsqueeze(dim)).squeeze(dim)
    w_t = torch.ones_like(picked) if weight is None else weight[indices]
    w_t = w_t.masked_fill(ignored, 0)
    return (-(w_t * picked)).masked_fill(ignored, 0), w_t


def _weighted_reduce(loss, total_weight, reduction):
    """'mean' divides by the total weight of the targets (NaN if it is 0), as PyTorch."""
    if reduction != "mean":
        return reduce_loss(loss, reduction)
    return loss.sum() / total_weight.sum()


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    r"""Negative log-likelihood of class indices, given log-probabilities (Chapter 6).

    With :math:`x_{n,k}` the input (log-probabilities), :math:`y_n` the class index
    of example :math:`n` and :math:`w_k` the class weight (1 without ``weight``):
    :math:`\ell_n = -w_{y_n} x_{n, y_n}`, and 0 where :math:`y_n` is ``ignore_index``.
    'mean' divides the sum by :math:`\sum_n w_{y_n}` over the examples not ignored.
    Differentiable with respect to ``input`` and ``weight``.

    Args:
        input: log-probabilities, ``(C,)``, ``(N, C)`` or ``(N, C, d1, ..., dk)``.
        target: int64 class indices in ``0..C-1``, the input's shape without dim C.
        weight: optional ``(C,)`` weight per class, same dtype as ``input``.
        ignore_index: a target value that contributes neither loss nor weight.
        reduction: 'none' (the target's shape), 'mean' or 'sum' (a scalar).
    """
    x, compute_dtype = as_float_tensor("input", input)
    check_reduction(reduction)
    indices, ignored = _class_indices(target, x.shape, ignore_index)
    w = _class_weight(weight, x, compute_dtype)
    loss, w_t = _picked_log_probs(x.to(compute_dtype), indices, ignored, w)
    return _weighted_reduce(loss, w_t, reduction).to(x.dtype)


_BLOCK_ELEMENTS = 1 << 20  # 4 MiB of float32: a block's passes stay in the (L3) cache, and few
# blocks mean few of the parallel regions whose start and end cost most on a busy machine


@torch.no_grad()
def _softmax_parts(logits, target, weight, smoothing):
    """The forward pass of ``_CrossEntropyWithIndices``, block by block and in place.

    The same steps as ``normalisers.gaps_from_max`` for ``(M, C)`` logits, done on
    blocks of rows in two reused scratch buffers: each of the dozen elementwise
    passes then reads and writes memory that is still in the cache, and no
    temporary the size of the input is allocated. Returns

    - ``exps``: ``exp(x - m)`` per entry, corrected, 1 at the maximum (kept for backward);
    - ``log1p_s``: ``log1p(s)`` per row, ``(M, 1)``, NaN where ``m`` is not finite (in float64
      ``s`` is summed exactly and log1p corrected, as in the normalisers);
    - ``target_gap``, ``target_error``: ``gap`` and its rounding ``error`` at the target;
    - ``gap_sum``: ``sum_c w[c] * (x[c] - m)`` per row, for label smoothing (else None).
    """
    n_rows, n_classes = logits.shape
    if n_classes == 0:  # every target is ignored: nothing to normalise
        zeros = logits.new_zeros(n_rows)
        return logits.new_zeros(logits.shape), zeros[:, None], zeros, zeros, zeros
    exps = torch.empty_like(logits)
    maxima, s = logits.new_empty(n_rows, 1), logits.new_empty(n_rows, 1)
    s_error = logits.new_empty(n_rows, 1) if logits.dtype == torch.float64 else None
    target_gap, target_error = logits.new_empty(n_rows, 1), logits.new_empty(n_rows, 1)
    gap_sum = logits.new_empty(n_rows) if smoothing > 0 else None
    block = max(1, _BLOCK_ELEMENTS // n_classes)
    gap_buffer = logits.new_empty(min(block, n_rows), n_classes)
    scratch_buffer = torch.empty_like(gap_buffer)
    for start in range(0, n_rows, block):
        rows = slice(start, start + block)
        x, e = logits[rows], exps[rows]
        gap, scratch = gap_buffer[: x.shape[0]], scratch_buffer[: x.shape[0]]
        m = torch.amax(x, dim=1, keepdim=True, out=maxima[rows])
        torch.sub(x, m, out=gap)
        # TwoSum (see normalisers.gap_error): the rounding error of the gap, into e.
        torch.add(gap, m, out=e)
        torch.sub(gap, e, out=scratch)
        torch.sub(x, e, out=e)
        e.sub_(scratch.add_(m)).nan_to_num_(0.0, 0.0, 0.0)
        column = target[rows, None]
        torch.gather(gap, 1, column, out=target_gap[rows])
        torch.gather(e, 1, column, out=target_error[rows])
        if smoothing > 0:
            shifted = torch.add(gap, e, out=scratch)
            gap_sum[rows] = (shifted if weight is None else shifted.mul_(weight)).sum(dim=1)
        torch.exp(gap, out=scratch)
        torch.addcmul(scratch, scratch, e, out=e)  # exp(gap) * (1 + error)
        # s leaves out one maximal entry: sign(gap) is -1 below the maximum, 0 at it.
        signs = gap.sign_()
        terms = torch.mul(e, signs, out=scratch).neg_()
        extra_maxima = n_classes - 1 + signs.sum(dim=1, keepdim=True)
        if s_error is None:
            torch.add(terms.sum(dim=1, keepdim=True), extra_maxima, out=s[rows])
        else:  # float64: s + s_error exact to double-double (see normalisers.row_sums)
            below_max, below_max_error = row_sums(terms)
            s[rows], extra_error = two_sum(below_max, extra_maxima)
            s_error[rows] = below_max_error + extra_error
    if s_error is not None:  # log1p(s + s_error) = log1p(s) + s_error / (1 + s), to first order
        s_error = (s_error / (1 + s)).nan_to_num_(0.0, 0.0, 0.0)
    log1p_s = s.log1p_()
    if s_error is not None:
        log1p_s += s_error
    # A row whose maximum is +inf, or that is all -inf, is NaN, as in PyTorch.
    log1p_s.masked_fill_(~maxima.isfinite(), math.nan)
    return exps, log1p_s, target_gap[:, 0], target_error[:, 0], gap_sum


class _CrossEntropyWithIndices(torch.autograd.Function):
    """Cross-entropy of ``(M, C)`` logits and ``(M,)`` class indices, analytic backward.

    ``loss_i = (1 - eps) * w[t_i] * (-log p_i[t_i]) + (eps / C) * sum_c w[c] * (-log p_i[c])``
    (0 for ignored rows), so with ``g_i = d reduced / d loss_i``

        d / d logits[i, j] = g_i * ((1 - eps) * w[t_i] + eps * sum(w) / C) * p_i[j]
                             - g_i * (1 - eps) * w[t_i] * [j == t_i] - g_i * eps * w[j] / C,

    which is ``g_i * (p_i - one_hot(t_i))`` without weights or smoothing. The
    forward keeps ``exp(x - m)`` and the backward scales it into the gradient in
    place, so a forward and backward allocate one array the size of the logits.
    Differentiable once: for second derivatives, compose ``nll_loss(log_softmax(x))``.
    """

    @staticmethod
    def forward(ctx, logits, target, ignored, weight, label_smoothing, reduction):
        n_rows, n_classes = logits.shape
        eps = label_smoothing
        share = eps / n_classes if n_classes else math.nan  # no classes: NaN, as PyTorch
        parts = _softmax_parts(logits, target, weight, eps)
        exps, log1p_s, target_gap, target_error, gap_sum = parts
        log_p_target = (target_error - log1p_s[:, 0]) + target_gap  # as in log_softmax
        w_target = logits.new_ones(n_rows) if weight is None else weight[target]
        w_target = w_target.masked_fill(ignored, 0)
        loss = (-(w_target * log_p_target)).masked_fill(ignored, 0)
        if eps > 0:  # sum_c w[c] log p[c] = sum_c w[c] (x[c] - m) - sum(w) log1p(s)
            total_class_weight = n_classes if weight is None else weight.sum()
            smooth = (total_class_weight * log1p_s[:, 0] - gap_sum).masked_fill(ignored, 0)
            loss = (1 - eps) * loss + share * smooth
        total_weight = w_target.sum()
        if reduction == "mean":
            loss = loss.sum() / total_weight
        elif reduction == "sum":
            loss = loss.sum()
        ctx.save_for_backward(logits, log1p_s, log_p_target, target, ignored, w_target, weight)
        ctx.exps = exps  # not saved for autograd: the backward overwrites it
        ctx.eps, ctx.share, ctx.reduction, ctx.total_weight = eps, share, reduction, total_weight
        ctx.loss = loss.detach()
        return loss

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output):
        logits, log1p_s, log_p_target, target, ignored, w_target, weight = ctx.saved_tensors
        eps, n_classes = ctx.eps, logits.shape[1]
        if n_classes == 0:  # no classes, every target ignored: the loss is constant
            grad_weight = torch.zeros_like(weight) if ctx.needs_input_grad[3] else None
            return torch.zeros_like(logits), None, None, grad_weight, None, None
        if ctx.reduction == "mean":
            grad_output = grad_output / ctx.total_weight
        g = grad_output.expand(logits.shape[0]).masked_fill(ignored, 0)  # d reduced / d loss_i
        grad_logits = grad_weight = None
        if ctx.needs_input_grad[0]:
            exps, ctx.exps = ctx.exps, None
            if exps is None:  # a second backward (retain_graph=True): recompute
                exps = _softmax_parts(logits, target, weight, 0.0)[0]
            total_class_weight = n_classes if weight is None else weight.sum()
            nll_part = g * (1 - eps) * w_target
            smooth_part = g * ctx.share
            p_coefficient = (nll_part + smooth_part * total_class_weight)[:, None]
            grad_logits = exps.mul_(p_coefficient / log1p_s.exp())  # p = exps / (1 + s)
            grad_logits.scatter_add_(1, target[:, None], -nll_part[:, None])
            if eps > 0:
                grad_logits -= smooth_part[:, None] * (1 if weight is None else weight)
        if ctx.needs_input_grad[3]:
            grad_weight = _cross_entropy_weight_grad(
                ctx, g, grad_output, logits, log_p_target, target, ignored, ctx.loss
            )
        return grad_logits, None, None, grad_weight, None, None


def _cross_entropy_weight_grad(ctx, g, grad_output, logits, log_p_target, target, ignored, loss):
    """d reduced / d weight[c] for ``_CrossEntropyWithIndices`` (PyTorch gives none).

    ``sum_i g_i * ((1 - eps) * [t_i == c] * l_i + (eps / C) * l_i[c])`` with
    ``l = -log p``; for 'mean' (``loss = S / D``, ``D = sum_i w[t_i]``) also minus
    ``grad / D * loss * count_c``, ``count_c`` the non-ignored targets of class c.
    """
    eps, n_classes = ctx.eps, logits.shape[1]
    picked = torch.where(ignored, 0, -g * log_p_target)
    grad_weight = logits.new_zeros(n_classes).index_add_(0, target, (1 - eps) * picked)
    if eps > 0:
        log_p = log_softmax(logits, 1)
        spread = torch.where(ignored[:, None], 0, -g[:, None] * log_p)
        grad_weight += ctx.share * spread.sum(dim=0)
    if ctx.reduction == "mean":
        counts = torch.bincount(target[~ignored], minlength=n_classes).to(logits.dtype)
        grad_weight -= grad_output * loss * counts  # grad_output is already grad / D
    return grad_weight


def cross_entropy(
    input, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0
):
    r"""Cross-entropy between softmax(input) and the target (Chapters 2, 3 and 6).

    With :math:`\log p_{n,k}` = ``log_softmax(input, dim)``, :math:`C` classes,
    :math:`\varepsilon` = ``label_smoothing`` and :math:`w_k` the class weight (1
    without ``weight``):

    - class indices :math:`y_n`:
      :math:`\ell_n = -(1 - \varepsilon)\, w_{y_n} \log p_{n, y_n}
      - \frac{\varepsilon}{C} \sum_k w_k \log p_{n,k}`, 0 where :math:`y_n` is
      ``ignore_index``; 'mean' divides the sum by :math:`\sum_n w_{y_n}` over the
      examples not ignored;
    - class probabilities :math:`q_{n,k}` (a float target of the input's shape):
      :math:`\ell_n = -\sum_k w_k\, q'_{n,k} \log p_{n,k}` with
      :math:`q' = (1 - \varepsilon)\, q + \varepsilon / C`; 'mean' divides by the
      number of examples.

    Args:
        input: logits, ``(C,)``, ``(N, C)`` or ``(N, C, d1, ..., dk)``.
        target: int64 class indices (the input's shape without dim C) or float class
            probabilities (the input's shape).
        weight: optional ``(C,)`` weight per class, same dtype as ``input``.
        ignore_index: a class index to skip (class-index targets only).
        reduction: 'none', 'mean' or 'sum'.
        label_smoothing: ``eps`` in [0, 1], the share of the target spread over all classes.

    With class indices the gradient is the closed form ``softmax - one_hot`` (Chapter
    4), also with respect to ``weight``, which PyTorch does not differentiate.
    """
    x, compute_dtype = as_float_tensor("input", input)
    check_reduction(reduction)
    check_in_closed_interval("label_smoothing", label_smoothing, 0.0, 1.0)
    dim = class_dim(x.ndim)
    n_classes = x.shape[dim]
    w = _class_weight(weight, x, compute_dtype)
    if isinstance(target, torch.Tensor) and target.is_floating_point():
        return _cross_entropy_with_probabilities(
            x, compute_dtype, target, w, ignore_index, reduction, label_smoothing
        )
    indices, ignored = _class_indices(target, x.shape, ignore_index)
    rows = x.to(compute_dtype).movedim(dim, -1).reshape(indices.numel(), n_classes)
    loss = _CrossEntropyWithIndices.apply(
        rows, indices.reshape(-1), ignored.reshape(-1), w, float(label_smoothing), reduction
    )
    if reduction == "none":
        loss = loss.reshape(indices.shape)
    return loss.to(x.dtype)


def _cross_entropy_with_probabilities(x, compute_dtype, q, w, ignore_index, reduction, eps):
    """``cross_entropy`` for class-probability targets, differentiated by autograd."""
    if ignore_index != -100:
        raise ValueError(
            f"ignore_index={ignore_index} needs class-index targets; "
            "target holds class probabilities"
        )
    check_probability_target_shape(x.shape, q.shape)
    q, _ = as_float_tensor("target", q)
    out_dtype = torch.promote_types(x.dtype, q.dtype)
    dim = class_dim(x.ndim)
    log_p = log_softmax(x.to(compute_dtype), dim)
    q = q.to(torch.promote_types(compute_dtype, q.dtype))
    n_classes = x.shape[dim]
    if eps > 0:
        q = q * (1 - eps) + (eps / n_classes if n_classes else math.nan)
    terms = q * log_p
    if w is not None:
        terms = terms * w.reshape((-1,) + (1,) * (x.ndim - dim - 1))
    loss = reduce_loss(-terms.sum(dim=dim), reduction)
    if reduction == "mean" and n_classes == 0:
        loss = torch.full_like(loss, math.nan)  # PyTorch divides by numel / C = 0 / 0
    return loss.to(out_dtype)


def _check_probabilities(name, p):
    """Raise ValueError unless every entry of ``p`` is in [0, 1] (NaN is refused too)."""
    bad = ~((p >= 0) & (p <= 1))
    if bad.any():
        where = tuple(int(i) for i in bad.nonzero()[0])
        raise ValueError(
            f"{name} of binary_cross_entropy must hold probabilities in [0, 1]; "
            f"got {p[where].item()} at index {where}"
        )


def _elementwise_weight(name, weight, input_shape, compute_dtype):
    """Check an optional weight that broadcasts to the input's shape."""
    if weight is None:
        return None
    weight, _ = as_float_tensor(name, weight)
    check_broadcasts_to(name, weight.shape, input_shape)
    return weight.to(compute_dtype)


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    r"""Binary cross-entropy between probabilities and targets (Chapter 7).

    Elementwise :math:`\ell = -w\,\bigl(q \log p + (1 - q) \log(1 - p)\bigr)` for a
    predicted probability :math:`p`, a target :math:`q \in [0, 1]` and a weight
    :math:`w` (1 without ``weight``), each log clamped at -100 as in PyTorch, so a
    confident mistake costs at most 100, never inf. Where a
    log is clamped its derivative is 0 (PyTorch instead uses ``(p - q) / max(p (1 - p),
    1e-12)``, so the two differ at p = 0 and p = 1 only).

    Args:
        input: predicted probabilities :math:`p` in [0, 1], any shape.
        target: target probabilities :math:`q` in [0, 1], same shape and dtype as
            ``input``.
        weight: optional weight that broadcasts to the input's shape.
        reduction: 'none', 'mean' or 'sum'.
    """
    p, compute_dtype = as_float_tensor("input", input)
    y, _ = as_float_tensor("target", target)
    check_reduction(reduction)
    check_same_shape("target", y.shape, p.shape)
    if y.dtype != p.dtype:
        raise TypeError(f"target must have the input's dtype {p.dtype}; got {y.dtype}")
    _check_probabilities("input", p)
    _check_probabilities("target", y)
    w = _elementwise_weight("weight", weight, p.shape, compute_dtype)
    out_dtype = p.dtype
    p, y = p.to(compute_dtype), y.to(compute_dtype)
    # The inner where keeps autograd away from log(0): its infinite derivative would
    # turn the zero gradient of the clamp into 0 * inf = NaN.
    log_p = torch.where(p > 0, torch.where(p > 0, p, 1).log(), -math.inf).clamp(min=-100)
    log_not_p = torch.where(p < 1, torch.where(p < 1, -p, 0).log1p(), -math.inf).clamp(min=-100)
    loss = -(y * log_p + (1 - y) * log_not_p)
    if w is not None:
        loss = loss * w
    return reduce_loss(loss, reduction).to(out_dtype)


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean", pos_weight=None):
    r"""Binary cross-entropy of sigmoid(input), computed from the logits (Chapter 7).

    Elementwise, for a logit :math:`x`, a target :math:`q`, a weight :math:`w` and a
    positive-class weight :math:`a` (``pos_weight``; both 1 when not given):

    .. math::

        \ell = -w\,\bigl(a\, q \log \sigma(x) + (1 - q) \log(1 - \sigma(x))\bigr)
              = w\,\bigl((1 - q)\, x - (1 + (a - 1)\, q) \log \sigma(x)\bigr),

    computed in the second form with
    :math:`\log \sigma(x) = \min(x, 0) - \log(1 + e^{-|x|})`, which never overflows.

    Args:
        input: logits :math:`x`, any shape.
        target: :math:`q`, same shape as ``input`` (usually in [0, 1]; not checked, as
            PyTorch).
        weight: optional weight that broadcasts to the input's shape.
        reduction: 'none', 'mean' or 'sum'.
        pos_weight: optional weight of the positive term, broadcast along the last
            dim (one per class in multi-label problems).
    """
    x, _ = as_float_tensor("input", input)
    y, _ = as_float_tensor("target", target)
    check_reduction(reduction)
    check_same_shape("target", y.shape, x.shape)
    out_dtype = torch.promote_types(x.dtype, y.dtype)
    compute_dtype = torch.promote_types(out_dtype, torch.float32)
    w = _elementwise_weight("weight", weight, x.shape, compute_dtype)
    pw = _elementwise_weight("pos_weight", pos_weight, x.shape, compute_dtype)
    x, y = x.to(compute_dtype), y.to(compute_dtype)
    # minimum() shares the gradient at a tie and d|x|/dx = 0 at 0, so the
    # derivative at x = 0 comes out right: 1/2 - 0 = 1 - sigmoid(0).
    log_sigmoid = torch.minimum(x, torch.zeros_like(x)) - (-x.abs()).exp().log1p()
    positive_weight = 1 if pw is None else 1 + (pw - 1) * y
    loss = (1 - y) * x - positive_weight * log_sigmoid
    if w is not None:
        loss = loss * w
    return reduce_loss(loss, reduction).to(out_dtype)


def kl_div(input, target, reduction="mean", log_target=False):
    r"""Kullback-Leibler divergence :math:`\mathrm{KL}(q \,\|\, p)` of the model's
    distribution :math:`p` from the target :math:`q` (Chapter 2).

    ``input`` holds :math:`\log p` and ``target`` holds :math:`q` (or :math:`\log q`
    with ``log_target=True``). Elementwise :math:`\ell = q\,(\log q - \log p)`, 0
    where :math:`q = 0`. 'batchmean' divides the sum by the batch size
    ``input.shape[0]``, which gives the KL divergence per example; 'mean' divides by
    the number of elements, as PyTorch does.

    Args:
        input: the model's log-probabilities :math:`\log p`; broadcasts with ``target``.
        target: the target probabilities :math:`q` (or :math:`\log q` if ``log_target``).
        reduction: 'none', 'batchmean', 'mean' or 'sum'.
        log_target: whether ``target`` holds log-probabilities.
    """
    x, _ = as_float_tensor("input", input)
    t, _ = as_float_tensor("target", target)
    check_kl_reduction(reduction)
    out_dtype = torch.promote_types(x.dtype, t.dtype)
    compute_dtype = torch.promote_types(out_dtype, torch.float32)
    broadcast_shapes("input", x.shape, "target", t.shape)
    batch_size = x.shape[0] if x.ndim else 1
    x, t = x.to(compute_dtype), t.to(compute_dtype)
    if log_target:
        loss = t.exp() * (t - x)
    else:
        loss = torch.xlogy(t, t) - t * x  # xlogy(0, 0) = 0: the 0 log 0 = 0 convention
    if reduction == "batchmean":
        loss = loss.sum() / batch_size
    else:
        loss = reduce_loss(loss, reduction)
    return loss.to(out_dtype)
