"""erfc and exp(-x^2) with one exp (kernels.special) against scipy and libm."""

import math

import numpy as np
import pytest
from numba import njit
from scipy import special

from echemmd.kernels.special import _erfc_exp, erfc_exp


@njit(cache=True)
def _evaluate(xs):
    out = np.empty((xs.shape[0], 2))
    for i in range(xs.shape[0]):
        out[i, 0], out[i, 1] = _erfc_exp(xs[i])
    return out


def _grid():
    rng = np.random.default_rng(7)
    breaks = np.array([0.46875, 4.0])
    near = (breaks[:, None] + np.array([-1e-12, 0.0, 1e-12])[None, :]).ravel()
    return np.sort(np.concatenate([np.linspace(0.0, 8.0, 4001), rng.uniform(0.0, 27.0, 3000), near, [1e-300, 1e-9]]))


def test_erfc_matches_scipy_to_a_few_ulp():
    x = _grid()
    got = _evaluate(x)
    ref = special.erfc(x)
    small = x < 6.0
    rel = np.abs(got[:, 0] - ref) / ref
    assert rel[small].max() < 8e-15
    assert np.abs(got[:, 0] - ref).max() < 5e-16
    # The plain Python twin gives the same numbers as the compiled one.
    py = np.array([erfc_exp(v)[0] for v in x[::37]])
    np.testing.assert_array_equal(py, got[::37, 0])


def test_gauss_is_exp_of_minus_x_squared():
    x = _grid()
    got = _evaluate(x)
    # libm's exp (math.exp), the function the kernel calls: numpy's own SIMD exp (AVX-512 builds)
    # differs from libm by 1 ulp on some inputs, so it is no oracle for bit equality.
    np.testing.assert_array_equal(got[:, 1], np.array([math.exp(-v * v) for v in x]))


def test_erfc_is_continuous_at_the_interval_breaks():
    for b in (0.46875, 4.0):
        lo, hi = np.nextafter(b, 0.0), np.nextafter(b, 10.0)
        points = np.array([lo, b, hi])
        v = _evaluate(points)[:, 0]
        ref = special.erfc(points)
        # Each side of the break agrees with the reference (no jump between the two formulas).
        np.testing.assert_allclose(v, ref, rtol=8e-15, atol=0.0)


@pytest.mark.parametrize("x", [0.0, 0.1, 0.5, 1.0, 2.5, 3.9, 4.1, 5.0])
def test_erf_complement(x):
    c, _ = erfc_exp(x)
    assert abs((1.0 - c) - math.erf(x)) < 4e-16
