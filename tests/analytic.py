"""Analytic Green's-function solutions of ``m u_tt - lap(u) = delta(x) w(t)`` in a constant
medium, for comparison with the finite-difference kernels."""
import numpy as np
from scipy import integrate


def ricker_function(f0, delay):
    def w(t):
        arg = (np.pi * f0 * (t - delay)) ** 2
        return (1 - 2 * arg) * np.exp(-arg)
    return w


def green_3d(w, r, c, t):
    """``u = w(t - r/c) / (4 pi r)``."""
    return w(t - r / c) / (4 * np.pi * r)


def green_2d(w, r, c, t):
    """``u = 1/(2 pi) int_{r/c}^{t} w(t - tau) / sqrt(tau^2 - r^2/c^2) dtau``, written with
    ``tau = (r/c) cosh(s)`` so the integrand has no singularity."""
    a = r / c
    out = np.zeros_like(t)
    for i, ti in enumerate(t):
        if ti > a:
            out[i] = integrate.quad(lambda s: w(ti - a * np.cosh(s)), 0,
                                    np.arccosh(ti / a), limit=200)[0] / (2 * np.pi)
    return out
