"""CUDA twins of the CPU kernels in :mod:`echemmd.kernels`.

Each module here mirrors one CPU kernel module (``neighbors``, ``pair``, ``ewald``,
``descriptors``, ``network``, ...): a host function with the CPU kernel's name and
parameters launches one or more ``numba.cuda`` kernels on device arrays and returns
device arrays. The scalar math (cutoffs, pair potentials, activations, erfc) is not
rewritten: the plain Python functions of the CPU modules are compiled a second time
as CUDA device functions with :func:`echemmd.kernels.cuda.launch.device`.

Importing these modules needs ``numba.cuda`` (numba's own, or the ``numba-cuda``
package of the ``cuda`` extra) but no GPU; launching needs a GPU or
``NUMBA_ENABLE_CUDASIM=1`` (numba's simulator: slow, for tests on small inputs).
Every kernel is registered with an explicit signature so that
``python -m echemmd.kernels.cuda.ptx`` compiles all of them to PTX without a GPU.
"""
