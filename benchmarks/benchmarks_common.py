"""What every benchmark records about the machine it ran on."""

import os
import platform
import sys


def machine() -> dict:
    """Python, Numba and NumPy versions, platform, cores and Numba threads."""
    import numba
    import numpy as np

    return {"python": sys.version.split()[0], "numba": numba.__version__, "numpy": np.__version__,
            "platform": platform.platform(), "processor": platform.processor(), "cpu_count": os.cpu_count(),
            "numba_threads": numba.get_num_threads()}
