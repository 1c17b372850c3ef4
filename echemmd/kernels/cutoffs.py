"""Cutoff functions of n2p2 and their derivatives, written once as plain Python.

Every function here is scalar math on floats with no Python objects, so the
same source compiles with ``numba.njit(inline="always")`` for the CPU kernels
(the ``_``-prefixed names below) and with ``numba.cuda.jit(device=True)`` for
CUDA kernels.

The definitions follow n2p2 (``CutoffFunction.cpp`` and ``CoreFunction.h``),
so that symmetry functions read from an n2p2 model give n2p2's numbers. With
the outer cutoff r_c and the inner cutoff r_ci = alpha r_c (0 <= alpha < 1):

    f_c(r) = 1                            for r <  r_ci
    f_c(r) = f(x), x = (r - r_ci) / (r_c - r_ci)   for r_ci <= r < r_c
    f_c(r) = 0                            for r >= r_c

with the core f(x) of each type (n2p2's type number in brackets):

* ``hard`` (0): f = 1 (a step at r_c).
* ``cos`` (1): f(x) = (cos(pi x) + 1) / 2.
* ``tanhu`` (2): f_c(r) = tanh^3(1 - r / r_c), *not* normalised (f_c(0) ~ 0.44)
  and without an inner cutoff: n2p2 ignores alpha for this type.
* ``tanh`` (3): the same times 1 / tanh^3(1), so f_c(0) = 1; alpha ignored.
* ``exp`` (4): f(x) = e exp(1 / (x^2 - 1)) (C-infinity at r_c).
* ``poly1`` (5): f(x) = (2x - 3) x^2 + 1 (C1).
* ``poly2`` (6): f(x) = ((15 - 6x) x - 10) x^3 + 1 (C2).
* ``poly3`` (7): f(x) = (x (x (20x - 70) + 84) - 35) x^4 + 1 (C3).
* ``poly4`` (8): f(x) = (x (x ((315 - 70x) x - 540) + 420) - 126) x^5 + 1 (C4).

Distances in Å; derivatives d f_c / d r in 1/Å.
"""

import math

import numpy as np
from numba import njit

HARD = 0
COS = 1
TANHU = 2
TANH = 3
EXP = 4
POLY1 = 5
POLY2 = 6
POLY3 = 7
POLY4 = 8

#: n2p2 names of the cutoff types -> n2p2's type numbers (as in ``cutoff_type T`` of input.nn).
CUTOFF_TYPES = {
    "hard": HARD,
    "cos": COS,
    "tanhu": TANHU,
    "tanh": TANH,
    "exp": EXP,
    "poly1": POLY1,
    "poly2": POLY2,
    "poly3": POLY3,
    "poly4": POLY4,
}

#: Types whose inner cutoff alpha n2p2 applies (it ignores alpha for hard, tanhu and tanh).
USES_ALPHA = (COS, EXP, POLY1, POLY2, POLY3, POLY4)

# 1 / tanh(1)^3 written as n2p2 writes it, ((e + 1/e) / (e - 1/e))^3, so f_c(0) = 1 for "tanh".
_E = math.exp(1.0)
TANH_PRE = ((_E + 1.0 / _E) / (_E - 1.0 / _E)) ** 3


def cutoff_fdf(kind, r, r_c, alpha):
    """Cutoff function f_c(r) and its derivative, n2p2 definitions.

    Type-generic: every constant is converted to the type of ``r`` (``real(...)`` below), so a
    float32 ``r``, ``r_c`` and ``alpha`` give float32 arithmetic and results (the CUDA backend's
    mixed precision) and float64 ones the float64 code, bit for bit. (In Numba a bare literal is
    float64 and would promote float32 arithmetic to float64.)

    Parameters
    ----------
    kind : int
        n2p2 cutoff type number, 0..8 (see the module docstring).
    r : float (float64 or float32)
        Distance, Å.
    r_c : float, the type of ``r``
        Outer cutoff, Å (f_c = 0 for r >= r_c).
    alpha : float, the type of ``r``
        Inner cutoff as a fraction of r_c, 0 <= alpha < 1; f_c = 1 below
        alpha r_c (ignored by hard, tanhu and tanh, as in n2p2).

    Returns
    -------
    f : float, the type of ``r``
        f_c(r), dimensionless.
    dfdr : float, the type of ``r``
        d f_c / d r, 1/Å.
    """
    real = type(r)
    zero = real(0.0)
    one = real(1.0)
    if r >= r_c:
        return zero, zero
    if kind == TANHU or kind == TANH:
        t = math.tanh(one - r / r_c)
        t2 = t * t
        pre = real(TANH_PRE) if kind == TANH else one
        return pre * t * t2, real(3.0) * pre * t2 * (t2 - one) / r_c
    if kind == HARD:
        return one, zero
    r_ci = alpha * r_c
    if r < r_ci:
        return one, zero
    # The core f(x) is written inline (no call to another plain function) so the
    # same source compiles for the CPU and as a CUDA device function.
    w = one / (r_c - r_ci)
    x = (r - r_ci) * w
    if kind == COS:
        half = real(0.5)
        pi = real(math.pi)
        return half * (math.cos(pi * x) + one), -half * pi * w * math.sin(pi * x)
    if kind == POLY2:
        x2 = x * x
        return ((real(15.0) - real(6.0) * x) * x - real(10.0)) * x * x2 + one, w * x2 * (
            (real(60.0) - real(30.0) * x) * x - real(30.0))
    if kind == POLY1:
        return (real(2.0) * x - real(3.0)) * x * x + one, w * x * (real(6.0) * x - real(6.0))
    if kind == POLY3:
        x2 = x * x
        return ((x * (x * (real(20.0) * x - real(70.0)) + real(84.0)) - real(35.0)) * x2 * x2 + one,
                w * x2 * x * (x * (x * (real(140.0) * x - real(420.0)) + real(420.0)) - real(140.0)))
    if kind == POLY4:
        x4 = x * x
        x4 = x4 * x4
        return ((x * (x * ((real(315.0) - real(70.0) * x) * x - real(540.0)) + real(420.0)) - real(126.0)) * x * x4
                + one,
                w * x4 * (x * (x * ((real(2520.0) - real(630.0) * x) * x - real(3780.0)) + real(2520.0))
                          - real(630.0)))
    if kind == EXP:
        # f(x) = e exp(1 / (x^2 - 1)): 1 at x = 0 and flat to all orders at x = 1.
        t = one / (x * x - one)
        e = real(_E) * math.exp(t)
        return e, -real(2.0) * w * x * t * t * e
    # Unknown numbers never reach here (the Python layer validates them); behave as hard.
    return one, zero


_cutoff_fdf = njit(inline="always")(cutoff_fdf)


@njit(cache=True)
def cutoff_values(kind, r, r_c, alpha):
    """Vectorised :func:`cutoff_fdf` over an array of distances.

    Parameters
    ----------
    kind : int
        n2p2 cutoff type number.
    r : float64 (M,)
        Distances, Å.
    r_c : float
        Outer cutoff, Å.
    alpha : float
        Inner cutoff fraction.

    Returns
    -------
    f : float64 (M,)
        f_c(r).
    dfdr : float64 (M,)
        d f_c / d r, 1/Å.
    """
    f = np.empty(r.shape[0])
    df = np.empty(r.shape[0])
    for m in range(r.shape[0]):
        f[m], df[m] = _cutoff_fdf(kind, r[m], r_c, alpha)
    return f, df
