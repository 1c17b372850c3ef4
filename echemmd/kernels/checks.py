"""Numba kernels for the per-step state checks of a simulation (one pass over the arrays)."""

import math

from numba import njit


@njit(cache=True)
def force_check(forces, positions):
    """Finiteness of forces and positions and the largest force component, in one pass.

    Parameters
    ----------
    forces, positions : float64 (N, 3)
        eV/Å, Å.

    Returns
    -------
    bad_atom : int
        First atom with a non-finite force or position, -1 if none.
    fmax : float
        Largest |force component|, eV/Å (over the atoms before ``bad_atom``).
    fmax_atom : int
        Its atom (0 for no atoms).
    """
    fmax = 0.0
    fmax_atom = 0
    for i in range(forces.shape[0]):
        for k in range(3):
            f = forces[i, k]
            if not (math.isfinite(f) and math.isfinite(positions[i, k])):
                return i, fmax, fmax_atom
            a = abs(f)
            if a > fmax:
                fmax = a
                fmax_atom = i
    return -1, fmax, fmax_atom
