"""Device buffers kept from call to call, so that an MD step allocates no device memory.

A device allocation (``cuMemAlloc``) costs tens of microseconds, and numba frees device memory in
batches with ``cuMemFree``, which waits for the whole device: a step that allocates its
temporaries (60 buffers for a network + Ewald step before this module) pays both every step,
which is the whole cost of a step at 1e3 atoms. The host functions of the CUDA kernel modules take
an optional ``workspace``: without one they allocate as before (pure functions, for tests and
one-off calls); the engine's device terms each own a :class:`Workspace` and pass it, and a buffer
is then allocated on the first step and reused after.

A buffer handed out under a name is the same memory on every call with that name: a result kept
across two calls that share a workspace and a name is overwritten by the second. The engine gives
each term its own workspace, and separate ones where a term's results must outlive a second call
(the Ewald term's energy terms and the charge solver's potentials).
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda

from echemmd.kernels.cuda.launch import THREADS, blocks, kernel

#: Factor by which a buffer whose leading dimension grew (a neighbour list after a rebuild) is
#: made larger than asked, so that a list growing by a few entries does not reallocate every time.
GROWTH = 1.25


class Workspace:
    """Named device buffers, reused while the shape (or a smaller leading dimension) and dtype fit.

    Examples
    --------
    >>> ws = Workspace()
    >>> a = ws.array("rows", (100, 7))       # allocated
    >>> b = ws.array("rows", (100, 7))       # the same memory
    >>> c = ws.array("rows", (80, 7))        # a view of its first 80 rows
    """

    def __init__(self):
        self._buffers = {}
        self.allocations = 0  #: device allocations made so far (for tests and benchmarks)

    def array(self, name, shape, dtype=np.float64):
        """A device array of ``shape`` and ``dtype`` (contents undefined) kept under ``name``.

        A buffer with the same trailing dimensions and at least the leading one is reused (its
        first rows, a C-contiguous view); otherwise a new one replaces it, ``GROWTH`` times larger
        in its leading dimension when it replaces a smaller one.
        """
        shape = tuple(int(s) for s in np.atleast_1d(shape))
        dtype = np.dtype(dtype)
        have = self._buffers.get(name)
        same_kind = have is not None and have.dtype == dtype and tuple(have.shape[1:]) == shape[1:]
        if same_kind and have.shape[0] >= shape[0]:
            return have if have.shape[0] == shape[0] else have[:shape[0]]
        lead = max(shape[0], int(math.ceil(GROWTH * have.shape[0]))) if same_kind else shape[0]
        buffer = cuda.device_array((max(lead, 1),) + shape[1:], dtype=dtype)
        self._buffers[name] = buffer
        self.allocations += 1
        return buffer[:shape[0]] if buffer.shape[0] != shape[0] else buffer

    def zeros(self, name, shape, dtype=np.float64):
        """:meth:`array` filled with zeros on the device (no host copy)."""
        a = self.array(name, shape, dtype)
        fill(a, 0)
        return a

    @property
    def nbytes(self) -> int:
        """Bytes held by the buffers."""
        return int(sum(b.nbytes for b in self._buffers.values()))

    def clear(self):
        """Drop every buffer (numba frees the memory when nothing else refers to it)."""
        self._buffers.clear()


def empty(workspace, name, shape, dtype=np.float64):
    """``workspace.array(name, shape, dtype)``, or a fresh device array without a workspace."""
    if workspace is None:
        return cuda.device_array(shape, dtype=dtype)
    return workspace.array(name, shape, dtype)


def zeros(workspace, name, shape, dtype=np.float64):
    """As :func:`empty`, filled with zeros on the device."""
    a = empty(workspace, name, shape, dtype)
    fill(a, 0)
    return a


def upload(workspace, name, host, dtype=None):
    """A host array on the device: copied into the workspace's buffer ``name`` (no allocation once
    it exists), or into a fresh device array without a workspace."""
    host = np.ascontiguousarray(host, dtype=dtype)
    if workspace is None:
        return cuda.to_device(host)
    a = workspace.array(name, host.shape if host.ndim else (1,), host.dtype)
    a.copy_to_device(host.reshape(a.shape))
    return a


@kernel("void(float64[::1], float64)")
def _fill_float(a, value):
    k = cuda.grid(1)
    if k < a.shape[0]:
        a[k] = value


@kernel("void(int64[::1], int64)")
def _fill_int(a, value):
    k = cuda.grid(1)
    if k < a.shape[0]:
        a[k] = value


def fill(a, value):
    """a[...] = value for a C-contiguous float64 or int64 device array."""
    flat = a.reshape(a.size)
    if flat.size == 0:
        return a
    if a.dtype == np.float64:
        _fill_float[blocks(flat.size), THREADS](flat, float(value))
    elif a.dtype == np.int64:
        _fill_int[blocks(flat.size), THREADS](flat, int(value))
    else:
        raise TypeError(f"fill: float64 or int64 arrays only, got {a.dtype}")
    return a
