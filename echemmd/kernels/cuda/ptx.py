"""Compile every registered CUDA kernel to PTX without a GPU: ``python -m echemmd.kernels.cuda.ptx``.

The simulator (``NUMBA_ENABLE_CUDASIM=1``) runs kernels as Python and checks no types; this
check runs numba's real CUDA front end and NVVM on each kernel at its registered signature, so a
kernel that would not compile on a GPU fails here. It needs libNVVM (the ``nvidia-cuda-nvcc-cu12``
wheel, or a CUDA toolkit) but no driver: numba asks the current device for its compute capability
when it compiles a device function, and that one query is answered with ``--cc`` here.

Exit status 0 when every kernel compiles; prints one line per kernel.
"""

import argparse
import importlib
import os
import pkgutil
import sys
import time
import types


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cc", default="8.0", help="compute capability to compile for (default 8.0)")
    args = parser.parse_args(argv)
    if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0"):
        sys.exit("unset NUMBA_ENABLE_CUDASIM: the simulator compiles nothing")
    cc = tuple(int(x) for x in args.cc.split("."))
    from numba import cuda
    import numba.cuda.dispatcher as dispatcher

    dispatcher.get_current_device = lambda: types.SimpleNamespace(compute_capability=cc)
    import echemmd.kernels.cuda as package
    from echemmd.kernels.cuda.launch import REGISTRY

    for info in pkgutil.iter_modules(package.__path__):
        if info.name not in ("ptx", "launch"):
            importlib.import_module(f"{package.__name__}.{info.name}")
    failed = 0
    for name, fn, signature in REGISTRY:
        t0 = time.perf_counter()
        try:
            ptx, _ = cuda.compile_ptx(fn, signature, cc=cc)
        except Exception as exc:  # report every kernel, then fail
            failed += 1
            print(f"FAIL {name} {signature}: {type(exc).__name__}: {exc}")
            continue
        print(f"ok   {name} ({len(ptx.splitlines())} PTX lines, {time.perf_counter() - t0:.1f} s)")
    print(f"{len(REGISTRY) - failed} of {len(REGISTRY)} kernels compiled for sm_{cc[0]}{cc[1]}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
