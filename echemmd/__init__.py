"""echemmd: molecular dynamics for machine-learning potentials at electrochemical interfaces."""

import os

__version__ = "0.1.0"

# OpenBLAS/MKL worker threads busy-wait after every call and take the cores that Numba's
# parallel kernels run on next: a training step was measured 2.8x slower with them. echemmd's
# own BLAS calls are tiny (3x3 cells, short vectors), so one BLAS thread loses nothing. The
# variables only act if numpy is not loaded yet; threadpoolctl (when installed) also limits a
# BLAS that is already loaded. A user who sets the variables keeps their choice.
for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
try:
    from threadpoolctl import threadpool_limits as _limits

    if all(os.environ.get(v) == "1" for v in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")):
        _limits(1, user_api="blas")
except Exception:  # noqa: BLE001 - optional and best effort: no threadpoolctl, an unknown BLAS
    pass

from echemmd.system import System  # noqa: E402

__all__ = ["System", "__version__"]
