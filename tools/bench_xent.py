"""Time cross-entropy, forward and backward, in float32 on the CPU.

    .venv/bin/python tools/bench_xent.py [--repeat R] [--quick] [--threads T]

For each size (N, C), (4096, 1000) and (512, 50257), four implementations compute
the mean cross-entropy of random logits against random class indices, and its
gradient with respect to the logits:

- naive:      softmax, then log, in torch ops; autograd for the gradient;
- xent.numpy: ``xent.numpy.cross_entropy``, then ``xent.grad.cross_entropy_grad``;
- xent.torch: ``xent.torch.cross_entropy`` and ``.backward()`` (its autograd.Function);
- PyTorch:    ``torch.nn.functional.cross_entropy`` and ``.backward()``.

Timing: every round runs each implementation once, starting with a different one
each round, so that a busy spell on a shared machine hits them all alike. The table
gives the median of the rounds and its ratio to PyTorch's median in the same run.
The gradient is allocated anew every time, as after ``zero_grad(set_to_none=True)``.

Peak memory: each implementation runs once more in a fresh Python process, after a
small warm-up, and the table gives the memory it needed beyond its inputs: for
xent.numpy the peak that ``tracemalloc`` traced (NumPy reports its arrays to it);
for the torch ones, whose allocations tracemalloc does not see, the growth of the
process's peak resident set (Linux VmHWM, reset through /proc/self/clear_refs just
before the run). Both count the gradient, which outlives the run.

This is a benchmark, not a test: it prints a Markdown table and exits. --quick
runs smaller sizes, (512, 1000) and (64, 50257), with 3 rounds.
"""

import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc

import numpy as np
import torch
import torch.nn.functional as F
import xent.numpy as xn
import xent.torch as xt

try:
    from xent.grad import cross_entropy_grad
except ImportError:  # the closed form lives in xent.grad; without it, write it out here
    cross_entropy_grad = None

IMPLEMENTATIONS = ["naive", "xent.numpy", "xent.torch", "PyTorch"]
GOALS = {"xent.torch": 1.2, "xent.numpy": 3.0}  # at most this many times PyTorch's time (issue 14)


def numpy_gradient(x, t):
    """Mean cross-entropy's gradient, softmax - one_hot over N, if xent.grad is missing."""
    grad = xn.softmax(x, 1)
    grad[np.arange(len(t)), t] -= 1
    return grad / len(t)


def make_inputs(n, c, seed=0):
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, c, generator=generator) * 3
    target = torch.randint(0, c, (n,), generator=generator)
    return logits, target


def run(implementation, logits, target):
    """One forward and backward pass; returns (loss, gradient) as NumPy values."""
    if implementation == "xent.numpy":
        x, t = logits.numpy(), target.numpy()
        loss = xn.cross_entropy(x, t)
        grad = cross_entropy_grad(x, t) if cross_entropy_grad else numpy_gradient(x, t)
        return float(loss), grad
    x = logits.detach().requires_grad_()  # a leaf without a gradient yet
    if implementation == "naive":
        exps = x.exp()
        p = exps / exps.sum(dim=1, keepdim=True)
        loss = -p.gather(1, target[:, None]).log().mean()
    elif implementation == "xent.torch":
        loss = xt.cross_entropy(x, target)
    else:
        loss = F.cross_entropy(x, target)
    loss.backward()
    return loss.item(), x.grad.numpy()


def time_all(n, c, rounds):
    """{implementation: [seconds per round]}, the rounds interleaved."""
    logits, target = make_inputs(n, c)
    for implementation in IMPLEMENTATIONS:  # warm-up, not timed
        run(implementation, logits, target)
    times = {implementation: [] for implementation in IMPLEMENTATIONS}
    for r in range(rounds):
        order = IMPLEMENTATIONS[r % 4 :] + IMPLEMENTATIONS[: r % 4]
        for implementation in order:
            gc.collect()
            start = time.perf_counter()
            run(implementation, logits, target)
            times[implementation].append(time.perf_counter() - start)
    return times


def check_agreement(n, c):
    """Largest differences from PyTorch's loss and gradient, per implementation."""
    logits, target = make_inputs(n, c, seed=1)
    loss, grad = run("PyTorch", logits, target)
    report = {}
    for implementation in IMPLEMENTATIONS[:-1]:
        other_loss, other_grad = run(implementation, logits, target)
        report[implementation] = (abs(other_loss - loss), float(np.abs(other_grad - grad).max()))
    return report


def resident_kib(field):
    """A field of /proc/self/status (VmRSS, VmHWM) in KiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def measure_memory(implementation, n, c):
    """Peak extra memory of one run, in bytes, and how it was measured (in this process)."""
    run(implementation, *make_inputs(64, 16))  # warm-up: load kernels, start autograd
    logits, target = make_inputs(n, c)
    gc.collect()
    if implementation == "xent.numpy":
        tracemalloc.start()
        result = run(implementation, logits, target)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        del result
        return peak, "tracemalloc peak"
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")  # reset VmHWM to the current resident set
    before = resident_kib("VmRSS")
    result = run(implementation, logits, target)
    peak = resident_kib("VmHWM") - before
    del result
    return peak * 1024, "peak RSS growth"


def memory_in_subprocess(implementation, n, c, threads):
    """Run measure_memory in a fresh interpreter, so earlier runs leave nothing behind."""
    command = [sys.executable, __file__, "--memory-of", implementation, str(n), str(c)]
    command += ["--threads", str(threads)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        return None, f"failed: {result.stderr.strip().splitlines()[-1:]}"
    peak, method = json.loads(result.stdout)
    return peak, method


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15, help="timed rounds per size")
    parser.add_argument("--quick", action="store_true", help="small sizes, 3 rounds")
    parser.add_argument(
        "--threads", type=int, default=torch.get_num_threads(), help="torch intra-op threads"
    )
    parser.add_argument("--memory-of", nargs=3, help=argparse.SUPPRESS)  # internal
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.memory_of:
        implementation, n, c = args.memory_of
        print(json.dumps(measure_memory(implementation, int(n), int(c))))
        return

    sizes = [(512, 1000), (64, 50257)] if args.quick else [(4096, 1000), (512, 50257)]
    rounds = 3 if args.quick else args.repeat
    load_before = os.getloadavg()
    print(
        f"torch {torch.__version__} ({args.threads} threads), numpy {np.__version__}, "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"load average {load_before[0]:.2f} at the start"
    )
    if cross_entropy_grad is None:
        print("xent.grad.cross_entropy_grad is missing: xent.numpy's gradient is written out here")
    print(f"{rounds} interleaved rounds per size; float32; mean reduction\n")

    rows, verdicts = [], []
    for n, c in sizes:
        agreement = check_agreement(min(n, 256), c)
        times = time_all(n, c, rounds)
        medians = {name: statistics.median(values) for name, values in times.items()}
        for implementation in IMPLEMENTATIONS:
            ratio = medians[implementation] / medians["PyTorch"]
            peak, method = memory_in_subprocess(implementation, n, c, args.threads)
            memory = "?" if peak is None else f"{peak / 2**20:.0f}"
            loss_gap, grad_gap = agreement.get(implementation, (0.0, 0.0))
            rows.append(
                f"| ({n}, {c}) | {implementation} | {medians[implementation] * 1e3:.1f} "
                f"| {min(times[implementation]) * 1e3:.1f} | {ratio:.2f} | {memory} ({method}) "
                f"| {loss_gap:.1e} / {grad_gap:.1e} |"
            )
            if implementation in GOALS:
                met = "met" if ratio <= GOALS[implementation] else "MISSED"
                verdicts.append(
                    f"- ({n}, {c}) {implementation}: {ratio:.2f} x PyTorch "
                    f"(goal <= {GOALS[implementation]}): {met}"
                )

    print(
        "| (N, C) | implementation | median ms | fastest ms | x PyTorch "
        "| peak extra memory, MiB | vs PyTorch: loss / grad |"
    )
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print("\nGoals\n" + "\n".join(verdicts))
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
