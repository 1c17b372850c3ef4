"""Launch geometry, device-function compilation and the kernel registry of the CUDA kernels."""

import numpy as np
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

    ``signature`` is a numba signature string, e.g. ``"void(float64[:, ::1], int64)"``, or a list
    of them for a kernel launched with several argument types (one body for float64 and float32
    scratch, say: each is registered, named by its position); the kernel itself still compiles
    for whatever argument types it is launched with.
    """

    def wrap(fn):
        name = f"{fn.__module__}.{fn.__name__}"
        if isinstance(signature, str):
            REGISTRY.append((name, fn, signature))
        else:
            for k, sig in enumerate(signature):
                REGISTRY.append((f"{name}[{k}]", fn, sig))
        return cuda.jit(fn)

    return wrap


def is_device_array(a):
    """Whether ``a`` is a numba device array (also under the simulator, which has no ``is_cuda_array``)."""
    return hasattr(a, "copy_to_host")


def to_device(a, dtype=None):
    """``a`` as a device array: device arrays pass through, anything else is copied (C-contiguous, ``dtype``)."""
    if is_device_array(a):
        return a
    return cuda.to_device(np.ascontiguousarray(a, dtype=dtype))
