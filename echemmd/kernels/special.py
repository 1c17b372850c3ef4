"""Special functions for the pair kernels, written once as plain Python scalars.

:func:`erfc_exp` returns erfc(x) and exp(-x^2) together with a single call of ``exp``:
every real-space Ewald pair needs both (the potential and its derivative), and libm's
``erf`` + ``exp`` cost two calls (each spilling the loop's live registers) and twice the
arithmetic. The rational approximations are W. J. Cody's (Math. Comp. 23 (1969) 631,
coefficients of the SPECFUN routine CALERF), near-minimax to 18 digits on each interval:

* x <= 0.46875: erf(x) = x P4(x^2) / Q4(x^2), erfc = 1 - erf;
* 0.46875 < x <= 4: erfc(x) = exp(-x^2) P8(x) / Q8(x);
* x > 4: erfc(x) = exp(-x^2) (1/sqrt(pi) - z P5(z) / Q5(z)) / x, z = 1 / x^2.

Measured against 50-digit mpmath (tests/test_special.py): relative error <= 4e-15 for
x < 6, absolute error <= 2.3e-16 everywhere (x^2 is rounded before ``exp``: the relative
error grows as x^2 eps, on values below 1e-15 there).
Compiled with ``njit(inline="always")`` for the CPU kernels; CUDA kernels compile the same
function as a device function.
"""

import math

from numba import njit

_A = (3.16112374387056560, 113.864154151050156, 377.485237685302021, 3209.37758913846947,
      0.185777706184603153)
_B = (23.6012909523441209, 244.024637934444173, 1282.61652607737228, 2844.23683343917062)
_C = (0.564188496988670089, 8.88314979438837594, 66.1191906371416295, 298.635138197400131,
      881.95222124176909, 1712.04761263407058, 2051.07837782607147, 1230.33935479799725,
      2.15311535474403846e-8)
_D = (15.7449261107098347, 117.693950891312499, 537.181101862009858, 1621.38957456669019,
      3290.79923573345963, 4362.61909014324716, 3439.36767414372164, 1230.33935480374942)
_P = (0.305326634961232344, 0.360344899949804439, 0.125781726111229246, 0.0160837851487422766,
      6.58749161529837803e-4, 0.0163153871373020978)
_Q = (2.56852019228982242, 1.87295284992346047, 0.527905102951428412, 0.0605183413124413191,
      0.00233520497626869185)
_ONE_OVER_SQRT_PI = 0.56418958354775628695


def erfc_exp(x):
    """erfc(x) and exp(-x^2) for x >= 0, with one ``exp``.

    Parameters
    ----------
    x : float
        Argument, >= 0 (dimensionless).

    Returns
    -------
    erfc : float
    gauss : float
        exp(-x^2).
    """
    x2 = x * x
    gauss = math.exp(-x2)
    if x <= 0.46875:
        num = (((_A[4] * x2 + _A[0]) * x2 + _A[1]) * x2 + _A[2]) * x2 + _A[3]
        den = (((x2 + _B[0]) * x2 + _B[1]) * x2 + _B[2]) * x2 + _B[3]
        return 1.0 - x * num / den, gauss
    if x <= 4.0:
        num = _C[8] * x
        den = x
        for k in range(7):
            num = (num + _C[k]) * x
            den = (den + _D[k]) * x
        return gauss * (num + _C[7]) / (den + _D[7]), gauss
    z = 1.0 / x2
    num = _P[5] * z
    den = z
    for k in range(4):
        num = (num + _P[k]) * z
        den = (den + _Q[k]) * z
    return gauss * (_ONE_OVER_SQRT_PI - z * (num + _P[4]) / (den + _Q[4])) / x, gauss


_erfc_exp = njit(inline="always")(erfc_exp)
