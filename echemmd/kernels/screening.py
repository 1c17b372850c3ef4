"""Screened short-range Coulomb of Gaussian charges (n2p2's ``screen_electrostatics``).

    E_scr = -sum_{pairs, r < r_out} (1 - f_s(r)) k_e q_i q_j erf(r / gamma_ij) / r

with f_s = 0 below r_in, 1 above r_out and, in between (x = (r - r_in)/(r_out - r_in)),
``kind`` 0: x^3 (10 - 15 x + 6 x^2) (POLY2 core) or ``kind`` 1: (1 - cos(pi x)) / 2 (COS
core). Added to an unswitched Ewald sum it removes the Coulomb a network already learned.
Scalar math written once, compiled with ``njit(inline="always")``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from echemmd.kernels.neighbors import _pair_vector
from echemmd.kernels.special import _erfc_exp

TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def screening(r, r_in, r_out, kind):
    """f_s(r) and df_s/dr (1/Å) for the POLY2 (kind 0) or COS (kind 1) transition."""
    if r >= r_out:
        return 1.0, 0.0
    if r <= r_in:
        return 0.0, 0.0
    width = r_out - r_in
    x = (r - r_in) / width
    if kind == 1:
        return 0.5 * (1.0 - math.cos(math.pi * x)), 0.5 * math.pi * math.sin(math.pi * x) / width
    x2 = x * x
    return x2 * x * (10.0 - 15.0 * x + 6.0 * x2), 30.0 * x2 * (1.0 - x) * (1.0 - x) / width


_screening = njit(inline="always")(screening)


@njit(cache=True)
def screened_pairs(positions, cell, charges, sigma, first, neighbors, shifts, r_in, r_out, kind, ke):
    """Energy (eV), potential dE/dq (V), forces (eV/Å) and virial (eV) of E_scr over a full list.

    Parameters
    ----------
    positions, cell : float64 arrays, Å
    charges : float64 (N,), e
    sigma : float64 (N,), Gaussian widths, Å (0: point charge)
    first, neighbors, shifts : full neighbour list (every pair listed from both atoms)
    r_in, r_out : float, Å
    kind : int, 0 POLY2, 1 COS
    ke : float, Coulomb constant, eV Å / e^2

    Returns
    -------
    energy : float
    phi : float64 (N,)
    forces : float64 (N, 3)
    virial : float64 (3, 3), W_ab = -sum_pairs dE/dr d_a d_b / r
    """
    n = charges.shape[0]
    phi = np.zeros(n)
    forces = np.zeros((n, 3))
    virial = np.zeros((3, 3))
    energy = 0.0
    r2max = r_out * r_out
    for i in range(n):
        qi = charges[i]
        for q in range(first[i], first[i + 1]):
            j = neighbors[q]
            d0, d1, d2 = _pair_vector(positions, cell, i, j, shifts[q])
            r2 = d0 * d0 + d1 * d1 + d2 * d2
            if r2 >= r2max or r2 == 0.0:
                continue
            r = math.sqrt(r2)
            s, ds = _screening(r, r_in, r_out, kind)
            gamma = math.sqrt(2.0 * (sigma[i] * sigma[i] + sigma[j] * sigma[j]))
            if gamma > 0.0:
                ca, ga = _erfc_exp(r / gamma)
                a = 1.0 - ca
                da = TWO_OVER_SQRT_PI / gamma * ga
            else:
                a = 1.0
                da = 0.0
            # Pair kernel k(r) = -(1 - s) a / r and dk/dr; each pair is met twice: factor 1/2.
            k = -(1.0 - s) * a / r
            dk = (ds * a - (1.0 - s) * da) / r - k / r
            qj = charges[j]
            energy += 0.5 * ke * qi * qj * k
            phi[i] += ke * qj * k
            g = 0.5 * ke * qi * qj * dk / r  # dE/dr / r for this half
            # d = r_j - r_i: dE/dr_j = g d, dE/dr_i = -g d.
            forces[i, 0] += g * d0
            forces[i, 1] += g * d1
            forces[i, 2] += g * d2
            forces[j, 0] -= g * d0
            forces[j, 1] -= g * d1
            forces[j, 2] -= g * d2
            virial[0, 0] -= g * d0 * d0
            virial[1, 1] -= g * d1 * d1
            virial[2, 2] -= g * d2 * d2
            virial[0, 1] -= g * d0 * d1
            virial[0, 2] -= g * d0 * d2
            virial[1, 2] -= g * d1 * d2
    virial[1, 0] = virial[0, 1]
    virial[2, 0] = virial[0, 2]
    virial[2, 1] = virial[1, 2]
    return energy, phi, forces, virial
