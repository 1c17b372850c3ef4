"""The CUDA backend: the whole MD step on an NVIDIA GPU, the atoms' arrays resident on the device.

``backend = "cuda"`` in a deck's ``[md]`` table (or ``echemmd run --backend cuda``) runs a
:class:`echemmd.gpu.simulation.CudaSimulation`: the same force field, integrator and observers as
the CPU backend, built from the same deck, with positions, velocities, forces, charges and the
neighbour list kept on the device between steps. The host sees a few scalars per step (the
displacement that decides a list rebuild, the state check, the kinetic energy a thermostat
needs, the CG scalars) and the arrays only when an observer (thermo, trajectory, checkpoint) is
due.

Layers, as on the CPU: ``kernels.cuda`` (kernels) <- ``gpu.neighbors``, ``gpu.terms`` (physics)
<- ``gpu.forcefield``, ``gpu.integrators``, ``gpu.simulation`` (engine).
"""

from echemmd.gpu.support import require_cuda

__all__ = ["require_cuda"]
