"""Benchmark of exact linear + cross-entropy for large vocabularies, and of vocab-parallel traffic.

Run with ``make bench`` or ``.venv/bin/python tools/bench_scale.py`` (a few minutes). On the CPU,
in float32, forward and backward (gradients of the hidden states and of the weight), it compares

- naive: ``F.cross_entropy(F.linear(h, W), t)``, which holds the ``N x V`` logits and their
  gradient;
- PyTorch's chunked path: ``F.linear_cross_entropy(h, W, t, options=LinearCrossEntropyOptions())``
  (any ``options`` object turns chunking on; the default resolves on the CPU in float32 to
  ``chunking_method='aspect_ratio:2'``, blocks of rows with the whole vocabulary, gradients
  computed during the forward);
- ``xent.scale.linear_cross_entropy`` with its default chunk (vocabulary columns, online
  log-sum-exp, recomputation in the backward);

for ``N = 4096, d = 512, V = 32768`` and ``N = 256, d = 512, V = 128256`` (a small ``N``:
PyTorch's heuristic gives its chunked path blocks of one row there, each an update of the whole
weight gradient, which takes about 25 s per step on this machine).

**Memory** is measured for each method and size in a fresh Python process, so that nothing
another method did (allocator caches, freed pages kept by malloc) is counted. The process makes
the inputs, then resets the kernel's peak-RSS counter (writing 5 to ``/proc/self/clear_refs``
resets ``VmHWM``), reads its RSS, runs one forward and backward, and reports ``VmHWM`` minus that
RSS: the peak extra resident memory of the step, gradients included, as the operating system
sees it. As a cross-check the step runs under ``torch.profiler`` with ``profile_memory=True``
(its own buffers are small), whose allocation and free events, replayed in time order, give the
peak bytes of live CPU tensors during the step. The RSS is the larger by what ``malloc`` keeps
after a free (blocks below its mmap threshold stay in its heap) and by the profiler's buffers.

**Time** is measured in one process per size: after a warm-up of each method on a small
problem (so that one-time initialisation is not timed), 3 rounds (2 for the large ``V``) in
which every method runs once at full size, in an order that rotates from round to round; the
median per method is reported. On one thread (``torch.set_num_threads(1)``), and as CPU time
(``time.process_time``), with the wall time beside it: the machine's two cores are shared with
other work, which stretches the wall time of whatever runs while it is busy (by 50% and more)
but hardly the CPU time of a single-threaded process; the ratios are of CPU times.

The second part runs ``xent.scale.run_vocab_parallel`` on 2 gloo processes and prints the
bytes passed to collectives per rank and step, measured and computed, next to the bytes of
all-gathering the logits.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

# This checkout's package first, whichever copy of xent the environment has installed.
CODE = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "code")
sys.path.insert(0, os.path.abspath(CODE))

SIZES = [(4096, 512, 32768, 3), (256, 512, 128256, 2)]  # N, d, V, timed rounds
METHODS = ["naive", "pytorch chunked", "xent.scale"]
MIB = 2**20


def make_inputs(n_rows, d, n_classes, seed=0):
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(n_rows, d, generator=g).requires_grad_(True)
    w = (torch.randn(n_classes, d, generator=g) / d**0.5).requires_grad_(True)
    t = torch.randint(n_classes, (n_rows,), generator=g)
    return h, w, t


def step(method, h, w, t):
    """One forward and backward; leaves the gradients in h.grad and w.grad."""
    h.grad = w.grad = None
    if method == "naive":
        loss = F.cross_entropy(F.linear(h, w), t)
    elif method == "pytorch chunked":
        loss = F.linear_cross_entropy(h, w, t, options=torch.nn.LinearCrossEntropyOptions())
    else:
        from xent.scale import linear_cross_entropy

        loss = linear_cross_entropy(h, w, t)
    loss.backward()
    return float(loss.detach())


def chunk_description(method, n_rows, d, n_classes):
    if method == "pytorch chunked":
        resolved = torch.nn.LinearCrossEntropyOptions()._adjust(
            num_batches=n_rows,
            in_features=d,
            num_classes=n_classes,
            dtype=torch.float32,
            device=torch.device("cpu"),
        )
        return f"{resolved.batch_chunk_size} rows x {n_classes} classes"
    if method == "xent.scale":
        from xent.scale import default_chunk_size

        return f"{n_rows} rows x {default_chunk_size(n_rows, n_classes)} classes"
    return f"{n_rows} rows x {n_classes} classes (all)"


def _status_kib(field):
    text = open("/proc/self/status").read()  # noqa: SIM115 (a one-line read)
    return int(re.search(rf"^{field}:\s+(\d+) kB", text, flags=re.M).group(1))


def measure_memory(method, n_rows, d, n_classes):
    """In this (fresh) process: peak extra RSS of one step, and the profiler's tensor peak."""
    from torch.profiler import ProfilerActivity, profile

    torch.set_num_threads(1)
    h, w, t = make_inputs(n_rows, d, n_classes)
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        with open("/proc/self/clear_refs", "w") as f:  # reset VmHWM to the current RSS
            f.write("5")
        before = _status_kib("VmRSS")
        step(method, h, w, t)
        rss_extra = (_status_kib("VmHWM") - before) * 1024
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    live = peak = 0
    for e in sorted(events, key=lambda e: e.start_ns()):
        live += e.nbytes()
        peak = max(peak, live)
    return {"rss_extra": rss_extra, "tensor_peak": peak}


def measure_time(n_rows, d, n_classes, rounds):
    """In this process: median CPU seconds and wall seconds of each method, interleaved rounds."""
    torch.set_num_threads(1)
    warm = make_inputs(64, d, 1024)
    losses = {m: step(m, *warm) for m in METHODS}  # warm-up, and a check that they agree
    spread = max(losses.values()) - min(losses.values())
    assert spread < 1e-5 * abs(losses["naive"]), losses
    h, w, t = make_inputs(n_rows, d, n_classes)
    cpu, wall = {m: [] for m in METHODS}, {m: [] for m in METHODS}
    for r in range(rounds):
        for i in range(len(METHODS)):
            method = METHODS[(i + r) % len(METHODS)]
            start_cpu, start_wall = time.process_time(), time.perf_counter()
            step(method, h, w, t)
            cpu[method].append(time.process_time() - start_cpu)
            wall[method].append(time.perf_counter() - start_wall)
    return {m: [statistics.median(cpu[m]), statistics.median(wall[m])] for m in METHODS}


def in_fresh_process(*args):
    env = dict(os.environ, XENT_NO_PROGRESS="1")
    out = subprocess.run(
        [sys.executable, __file__, *map(str, args)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def report_size(n_rows, d, n_classes, rounds):
    print(
        f"\nN = {n_rows}, d = {d}, V = {n_classes}: float32, forward + backward, 1 thread "
        f"(logits alone: {n_rows * n_classes * 4 / MIB:.0f} MiB; gradients of h and W: "
        f"{(n_rows + n_classes) * d * 4 / MIB:.0f} MiB)"
    )
    memory = {m: in_fresh_process("--memory", m, n_rows, d, n_classes) for m in METHODS}
    times = in_fresh_process("--time", n_rows, d, n_classes, rounds)
    naive_m, naive_p, naive_t = (
        memory["naive"]["rss_extra"],
        memory["naive"]["tensor_peak"],
        times["naive"][0],
    )
    header = (
        f"{'method':<16}{'chunk':>32}{'CPU s':>8}{'x naive':>9}{'wall s':>8}"
        f"{'peak RSS MiB':>14}{'x naive':>9}{'tensors MiB':>13}{'x naive':>9}"
    )
    print(header)
    print("-" * len(header))
    for m in METHODS:
        rss, tensors, (seconds, wall) = memory[m]["rss_extra"], memory[m]["tensor_peak"], times[m]
        print(
            f"{m:<16}{chunk_description(m, n_rows, d, n_classes):>32}{seconds:>8.2f}"
            f"{seconds / naive_t:>9.2f}{wall:>8.2f}{rss / MIB:>14.0f}{rss / naive_m:>9.3f}"
            f"{tensors / MIB:>13.0f}{tensors / naive_p:>9.3f}"
        )
    ours, theirs = memory["xent.scale"], memory["pytorch chunked"]
    ratio = times["xent.scale"][0] / times["pytorch chunked"][0]
    print(
        f"xent.scale / PyTorch chunked: peak RSS {ours['rss_extra'] / theirs['rss_extra']:.2f}x, "
        f"tensors {ours['tensor_peak'] / theirs['tensor_peak']:.2f}x, CPU time {ratio:.2f}x "
        f"(medians of {rounds} rounds)"
    )


def report_vocab_parallel(n_rows=4096, n_classes=32768):
    from xent.scale import run_vocab_parallel

    r = run_vocab_parallel(2, n_rows, n_classes, dtype=torch.float32)
    print(
        f"\nVocabulary-parallel cross-entropy, 2 gloo processes, N = {n_rows}, V = {n_classes} "
        f"split {list(r.splits)}, float32, one forward + backward:"
    )
    print(f"  collectives on rank 0: {', '.join(f'{n} {b} B' for n, b in r.collectives)}")
    print(
        f"  bytes per rank: measured {list(r.measured_bytes)}, computed {r.formula_bytes} "
        f"({r.formula})"
    )
    print(
        f"  all-gathering the logits instead: N * V * 4 = {r.all_gather_logits_bytes} B "
        f"({r.all_gather_logits_bytes / r.formula_bytes:.0f}x more)"
    )
    print(
        f"  loss on each rank {[round(x, 6) for x in r.losses]}; max |difference| from one "
        f"process: loss {r.max_loss_difference:.1e}, gradient {r.max_grad_difference:.1e}"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memory", nargs=4, metavar=("METHOD", "N", "D", "V"))
    parser.add_argument("--time", nargs=4, type=int, metavar=("N", "D", "V", "ROUNDS"))
    parser.add_argument("--rounds", type=int, help="timed rounds for every size")
    args = parser.parse_args()
    if args.memory:
        method, *size = args.memory
        print(json.dumps(measure_memory(method, *map(int, size))))
        return
    if args.time:
        print(json.dumps(measure_time(*args.time)))
        return
    started = time.perf_counter()
    print(
        f"torch {torch.__version__}, {os.cpu_count()} CPUs; memory in fresh processes "
        "(peak RSS above the inputs; tensors: profiler peak of live tensor bytes)"
    )
    for *size, rounds in SIZES:
        report_size(*size, args.rounds or rounds)
    report_vocab_parallel()
    print(f"\n(total {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
