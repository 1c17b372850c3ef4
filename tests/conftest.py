"""Test-session set-up shared by every test module.

CUDA kernels run in numba's CUDA simulator unless ``ECHEMMD_TEST_CUDA=gpu`` asks for the real
device: CI has no GPU, and the simulator (``NUMBA_ENABLE_CUDASIM=1``) must be chosen before numba
is first imported, which is why it is set here rather than in the CUDA test modules.
"""

import os

if os.environ.get("ECHEMMD_TEST_CUDA", "sim") != "gpu":
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"
