"""Benchmark of the spatial backends: ``fast`` vs PyTorch, and ``fast`` vs ``naive``.

Run::

    python -m tinytorch_ref.bench [--threads N] [--repeats R] [--batch B] [--naive-batch B]

What is measured (float32, forward + backward, upstream gradient fixed and random):

* on the SimpleCNN shapes at batch 64 (``--batch`` changes it) -- conv1
  x(64,3,32,32) * w(32,3,3,3) pad 1, conv2 x(64,32,16,16) * w(64,32,3,3) pad 1,
  2x2 max pooling of (64,32,32,32) and (64,64,16,16) -- our ``fast`` functions
  against ``torch.nn.functional`` (``conv2d`` / ``max_pool2d`` + ``backward``),
  the two timed alternately ``R`` times (taking turns at going first) so
  that a noisy machine slows both alike.  The table shows the best
  wall-clock time (median in brackets) and the ratio fast / torch of the
  best times, by wall clock and by process CPU time.  With one thread the
  CPU time is the wall time minus the time the OS gave to other processes,
  so on a shared machine it is the steadier measure and the verdict uses
  it; with more threads the verdict uses wall clock;
* the minor page faults per call of each side (median): a fault is the
  kernel handing a fresh zeroed page to an allocation glibc's malloc served
  with ``mmap``.  They depend on what ran before in the process, so the
  cases run in a fixed order (conv1 first) and the counts are printed next
  to the times;
* ``naive`` against ``fast`` on the same shapes, both at the same batch
  (default 64, as above; ``naive`` then takes about a minute in all, so it
  runs once, ``fast`` best of ``R``).

numpy's BLAS and torch use the same number of threads, 1 unless ``--threads``
says otherwise (threadpoolctl limits the BLAS; without threadpoolctl the
script re-runs itself with OMP/OPENBLAS/MKL_NUM_THREADS set before numpy
loads); the header lists the thread pools threadpoolctl sees.  Targets: fast
conv fwd+bwd <= 1.5x torch's time; fast >= 100x naive.

float32 is the dtype of the course's training (``train_digits``), and the one
torch's CPU convolution is optimised for (oneDNN); in float64 torch falls back
to a slower generic im2col path, which would flatter ``fast``.

The exit code is 0 whatever the result: this is a report, not a test.

torch is only a yardstick here: it is imported inside :func:`_torch_runners`,
never by the package itself.
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from typing import NamedTuple

import numpy as np

from .spatial import fast, naive

CONV_TARGET = 1.5       # fast / torch, conv fwd+bwd
NAIVE_TARGET = 100.0    # naive / fast

# name, kind, input shape, weight shape or pool kernel
CASES = [
    ("conv1", "conv", (64, 3, 32, 32), (32, 3, 3, 3)),
    ("conv2", "conv", (64, 32, 16, 16), (64, 32, 3, 3)),
    ("maxpool1", "pool", (64, 32, 32, 32), (2, 2)),
    ("maxpool2", "pool", (64, 64, 16, 16), (2, 2)),
]


def _describe(kind, x_shape, param) -> str:
    x = "x(" + ",".join(map(str, x_shape)) + ")"
    if kind == "conv":
        return f"{x} w(" + ",".join(map(str, param)) + ") pad 1"
    return f"{x} {param[0]}x{param[1]} stride 2"


def _make_inputs(kind, x_shape, param, rng):
    x = rng.standard_normal(x_shape, dtype=np.float32)
    if kind == "conv":
        w = (rng.standard_normal(param, dtype=np.float32) * np.sqrt(2.0 / np.prod(param[1:]))).astype(np.float32)
        b = rng.standard_normal(param[0], dtype=np.float32)
        out_shape = (x_shape[0], param[0], x_shape[2], x_shape[3])
        arrays = (x, w, b)
    else:
        out_shape = (x_shape[0], x_shape[1], x_shape[2] // param[0], x_shape[3] // param[1])
        arrays = (x,)
    dout = rng.standard_normal(out_shape, dtype=np.float32)
    return arrays, dout


def _numpy_runner(backend, kind, arrays, dout, param):
    """A zero-argument callable doing forward + backward with ``backend``."""
    if kind == "conv":
        x, w, b = arrays

        def run():
            out, cache = backend.conv2d_forward(x, w, b, (1, 1), (1, 1))
            backend.conv2d_backward(dout, cache)
    else:
        (x,) = arrays

        def run():
            out, cache = backend.maxpool2d_forward(x, param, param, (0, 0))
            backend.maxpool2d_backward(dout, cache)
    return run


def _torch_runners(threads):
    """Import torch lazily (benchmark only), set its threads, return (factory, version)."""
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(threads)

    def factory(kind, arrays, dout, param):
        tensors = [torch.from_numpy(a.copy()).requires_grad_(True) for a in arrays]
        grad = torch.from_numpy(dout.copy())

        def run():
            for t in tensors:
                t.grad = None
            if kind == "conv":
                out = F.conv2d(tensors[0], tensors[1], tensors[2], stride=1, padding=1)
            else:
                out = F.max_pool2d(tensors[0], param, param)
            out.backward(grad)
        return run

    return factory, torch.__version__


def _minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


class _Timing(NamedTuple):
    """One call: wall-clock seconds, process CPU seconds, minor page faults."""

    wall: float
    cpu: float
    faults: int


def _time(fn) -> _Timing:
    faults, wall, cpu = _minor_faults(), time.perf_counter(), time.process_time()
    fn()
    return _Timing(time.perf_counter() - wall, time.process_time() - cpu, _minor_faults() - faults)


def _fmt_ms(seconds: float) -> str:
    return f"{seconds * 1e3:8.2f}"


def _thread_pools() -> str:
    """The native thread pools loaded (numpy's BLAS, torch's OpenMP, ...) and their sizes, per threadpoolctl."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return ""
    return ", ".join(f"{pool['internal_api']} ({pool['prefix']}) = {pool['num_threads']}" for pool in threadpool_info())


def _limit_threads(threads):
    """Context manager limiting numpy's BLAS (and OpenMP) pools, or None without threadpoolctl."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    return threadpool_limits(limits=threads)


def run(threads: int = 1, repeats: int = 15, naive_batch: int = 64, naive_repeats: int = 1, batch: int = 64,
        controlled_by: str = "threadpoolctl") -> None:
    factory, torch_version = _torch_runners(threads)   # import torch first so its pools get limited too
    limiter = _limit_threads(threads)
    if limiter is None:
        limiter = _NullContext()
    rng = np.random.default_rng(0)
    with limiter:
        basis = "cpu" if threads == 1 else "wall"
        print("tinytorch_ref.bench: spatial ops, float32, forward + backward")
        print(f"numpy {np.__version__}, torch {torch_version}; threads: numpy BLAS = {threads} "
              f"({controlled_by}), torch = {threads}")
        pools = _thread_pools()
        if pools:
            print(f"thread pools in use: {pools}")
        print(f"fast vs torch at batch {batch}: {repeats} alternating repeats after a warm-up; times in ms, "
              "best (median) wall clock")
        print("ratios = best fast / best torch, by wall clock and by process CPU time; with 1 thread CPU time is")
        print("the wall time minus the time the OS spent running other processes, so the verdict uses it;")
        print("faults = minor page faults per call (median), fast / torch")
        print(f"(verdict basis here: {basis})")
        print()
        header = (f"{'op':9s} {'shapes':34s} {'fast ms':>17s} {'torch ms':>17s} "
                  f"{'wall':>6s} {'cpu':>6s} {'faults':>11s}  target")
        print(header)
        print("-" * len(header))
        for name, kind, x_shape, param in CASES:
            x_shape = (batch,) + x_shape[1:]
            arrays, dout = _make_inputs(kind, x_shape, param, rng)
            ours = _numpy_runner(fast, kind, arrays, dout, param)
            theirs = factory(kind, arrays, dout, param)
            ours(), theirs()                     # warm-up (allocator, BLAS buffers, oneDNN primitives)
            t_ours, t_theirs = [], []
            for repeat in range(repeats):
                if repeat % 2 == 0:
                    t_ours.append(_time(ours))
                    t_theirs.append(_time(theirs))
                else:
                    t_theirs.append(_time(theirs))
                    t_ours.append(_time(ours))
            wall_ours, cpu_ours, faults_ours = zip(*t_ours)
            wall_theirs, cpu_theirs, faults_theirs = zip(*t_theirs)
            faults = f"{statistics.median(faults_ours):.0f}/{statistics.median(faults_theirs):.0f}"
            ratio = {"wall": min(wall_ours) / min(wall_theirs), "cpu": min(cpu_ours) / min(cpu_theirs)}
            if kind == "conv":
                verdict = f"<= {CONV_TARGET}x " + ("PASS" if ratio[basis] <= CONV_TARGET else "FAIL")
            else:
                verdict = "(none, reported)"
            print(f"{name:9s} {_describe(kind, x_shape, param):34s} "
                  f"{_fmt_ms(min(wall_ours))} ({statistics.median(wall_ours) * 1e3:6.1f}) "
                  f"{_fmt_ms(min(wall_theirs))} ({statistics.median(wall_theirs) * 1e3:6.1f}) "
                  f"{ratio['wall']:6.2f} {ratio['cpu']:6.2f} {faults:>11s}  {verdict}")

        print()
        print(f"fast vs naive: both measured at batch {naive_batch}; "
              f"best {basis} time, naive best of {naive_repeats}, fast best of {max(repeats, 5)}")
        header = f"{'op':9s} {'naive ms':>10s} {'fast ms':>9s} {'speedup':>9s}  target"
        print(header)
        print("-" * len(header))
        for name, kind, x_shape, param in CASES:
            small = (naive_batch,) + x_shape[1:]
            arrays, dout = _make_inputs(kind, small, param, rng)
            slow = _numpy_runner(naive, kind, arrays, dout, param)
            quick = _numpy_runner(fast, kind, arrays, dout, param)
            quick()
            t_slow = min(getattr(_time(slow), basis) for _ in range(naive_repeats))
            t_quick = min(getattr(_time(quick), basis) for _ in range(max(repeats, 5)))
            speedup = t_slow / t_quick
            verdict = f">= {NAIVE_TARGET:.0f}x " + ("PASS" if speedup >= NAIVE_TARGET else "FAIL")
            print(f"{name:9s} {t_slow * 1e3:10.1f} {t_quick * 1e3:9.3f} {speedup:8.0f}x  {verdict}")


class _NullContext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tinytorch_ref.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1,
                        help="threads for numpy's BLAS and for torch (default 1)")
    parser.add_argument("--repeats", type=int, default=15, help="timed repeats per op (default 15)")
    parser.add_argument("--batch", type=int, default=64,
                        help="batch for the fast-vs-torch table (default 64, the targets' setting)")
    parser.add_argument("--naive-batch", type=int, default=64, help="batch for the naive comparison (default 64)")
    parser.add_argument("--naive-repeats", type=int, default=1, help="naive repeats (default 1: about a minute)")
    args = parser.parse_args(argv)
    if min(args.threads, args.repeats, args.batch, args.naive_batch, args.naive_repeats) < 1:
        parser.error("--threads, --repeats, --batch, --naive-batch and --naive-repeats must be >= 1")

    try:
        import threadpoolctl  # noqa: F401
        controlled_by = "threadpoolctl"
    except ImportError:
        if os.environ.get("TINYTORCH_BENCH_CHILD") != "1":
            # numpy is already loaded with its default pool size: re-run with the
            # thread variables set before anything imports numpy.
            env = dict(os.environ, TINYTORCH_BENCH_CHILD="1")
            for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
                env[var] = str(args.threads)
            subprocess.run([sys.executable, "-m", "tinytorch_ref.bench", *(argv if argv is not None else sys.argv[1:])],
                           env=env, check=False)
            return 0
        controlled_by = "OMP/OPENBLAS/MKL_NUM_THREADS"
    run(args.threads, args.repeats, args.naive_batch, args.naive_repeats, args.batch, controlled_by)
    return 0


if __name__ == "__main__":
    sys.exit(main())
