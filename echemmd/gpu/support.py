"""Whether the CUDA backend can run here, and errors that say why not."""

from __future__ import annotations

import contextlib
import os

from echemmd.errors import InputError, SimulationError

INSTALL_HINT = "install the GPU extra: pip install -e \".[cuda]\" (numba-cuda and the CUDA 12 compiler wheels)"


def simulator() -> bool:
    """Whether numba's CUDA simulator is on (``NUMBA_ENABLE_CUDASIM=1``): kernels run as Python, for tests."""
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")


def require_cuda(where: str = "backend = \"cuda\"") -> None:
    """Raise a clear InputError when numba-cuda is missing or no CUDA GPU is visible.

    Parameters
    ----------
    where : str
        What asked for the GPU (a deck key, a command-line option), for the message.
    """
    try:
        from numba import cuda
    except ImportError as exc:  # numba without its CUDA target
        raise InputError(f"{where} needs numba's CUDA target, which is not importable ({exc}); {INSTALL_HINT}") from None
    if simulator():
        return
    try:
        available = cuda.is_available()
    except Exception as exc:  # noqa: BLE001 - a broken driver or toolkit: report it as it is
        raise InputError(f"{where}: the CUDA driver could not be initialised ({type(exc).__name__}: {exc}); "
                         f"{INSTALL_HINT}, and check `nvidia-smi`") from None
    if not available:
        raise InputError(f"{where}: no CUDA GPU is visible to numba (numba.cuda.is_available() is False); check "
                         "`nvidia-smi` and CUDA_VISIBLE_DEVICES, or run with backend = \"cpu\"")


def device_name() -> str:
    """Name and compute capability of the current device ("simulator" under NUMBA_ENABLE_CUDASIM)."""
    if simulator():
        return "numba CUDA simulator"
    from numba import cuda

    dev = cuda.get_current_device()
    name = dev.name.decode() if isinstance(dev.name, bytes) else str(dev.name)
    return f"{name} (compute capability {dev.compute_capability[0]}.{dev.compute_capability[1]})"


def free_memory() -> tuple:
    """(free, total) device memory in bytes, or (0, 0) when it cannot be asked."""
    if simulator():
        return 0, 0
    try:
        from numba import cuda

        return cuda.current_context().get_memory_info()
    except Exception:  # noqa: BLE001
        return 0, 0


@contextlib.contextmanager
def out_of_memory_as_error(what: str, n_atoms: int):
    """Turn a device allocation failure into a SimulationError that says how much was free."""
    try:
        yield
    except Exception as exc:  # numba raises CudaAPIError / driver errors; match on the message
        text = f"{type(exc).__name__}: {exc}"
        if "OUT_OF_MEMORY" in text.upper() or "out of memory" in text:
            free, total = free_memory()
            raise SimulationError(f"the GPU ran out of memory in {what} for {n_atoms} atoms ({text}); "
                                  f"free {free / 2**30:.2f} of {total / 2**30:.2f} GiB: use fewer atoms, a "
                                  "shorter cutoff or skin, or a larger GPU") from None
        raise


class StageTimer:
    """Wall time per named stage of a device step, for benchmarks (off by default: no synchronisation).

    When enabled, each ``with timer("name"):`` block synchronises the device before and after, so
    the time is the stage's own; the totals and call counts accumulate in :attr:`totals`.
    """

    def __init__(self, enabled: bool = False):
        self.enabled = bool(enabled)
        self.totals = {}
        self.calls = {}

    @contextlib.contextmanager
    def __call__(self, name: str):
        if not self.enabled:
            yield
            return
        import time

        from numba import cuda

        cuda.synchronize()
        t0 = time.perf_counter()
        try:
            yield
        finally:
            cuda.synchronize()
            self.totals[name] = self.totals.get(name, 0.0) + time.perf_counter() - t0
            self.calls[name] = self.calls.get(name, 0) + 1

    def reset(self) -> None:
        self.totals.clear()
        self.calls.clear()


#: The timer every device stage reports to (``TIMER.enabled = True`` in a benchmark).
TIMER = StageTimer()
