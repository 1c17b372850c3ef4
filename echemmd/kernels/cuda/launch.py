"""Launch geometry, device-function compilation and the kernel registry of the CUDA kernels."""

from numba import cuda

#: Threads per block of the one-dimensional launches (a multiple of the 32-thread warp).
THREADS = 128

#: Every CUDA kernel as (qualified name, Python function, signature), for the offline PTX check
#: (:mod:`echemmd.kernels.cuda.ptx`); filled by :func:`kernel`.
REGISTRY = []


def blocks(n, threads=THREADS):
    """Blocks of ``threads`` threads that cover ``n`` work items (at least one)."""
    return max(1, (int(n) + threads - 1) // threads)


def device(fn):
    """Compile plain scalar math (shared with the CPU kernels) as a CUDA device function."""
    return cuda.jit(device=True)(fn)


def kernel(signature):
    """Decorator: a lazily compiled CUDA kernel, registered with ``signature`` for the PTX check.

    ``signature`` is a numba signature string, e.g. ``"void(float64[:, ::1], int64)"``; the
    kernel itself still compiles for whatever argument types it is launched with.
    """

    def wrap(fn):
        REGISTRY.append((f"{fn.__module__}.{fn.__name__}", fn, signature))
        return cuda.jit(fn)

    return wrap
