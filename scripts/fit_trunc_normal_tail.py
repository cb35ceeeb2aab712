"""Fit the far-tail quantile polynomial ``_TAIL_G`` of ``initializers/_truncated_normal.py``.

Run ``python scripts/fit_trunc_normal_tail.py``. For :math:`p = \\Phi(x)` with :math:`w = \\sqrt{-\\ln p}` in
``[W_MIN, W_MAX]``, :math:`\\Phi^{-1}(p) = g(t) - \\sqrt2\\,w` with :math:`t = 1/w` and :math:`g` smooth and small.
:math:`g` is fitted as a polynomial in ``t``, minimax in float32 ulps of :math:`\\Phi^{-1}(p)` (Chebyshev basis,
iteratively reweighted least squares against scipy's ``ndtri``), and printed constant term first, with its error
in float64.
"""

from __future__ import annotations

import sys

import numpy as np
from scipy import special

W_MIN, W_MAX = 3.9, 9.4  # p from 2.5e-7 down to 5e-39: the float32 far tail beyond 5.1σ
DEGREE = 7


def fit(degree: int = DEGREE, points: int = 40_000) -> tuple[np.ndarray, float]:
    """Monomial coefficients of g in t (constant first) and the largest error in float32 ulps."""
    w = np.linspace(W_MIN, W_MAX, points)
    x = special.ndtri(np.exp(-w * w))
    g = x + np.sqrt(2.0) * w
    ulp = np.spacing(np.abs(x).astype(np.float32)).astype(np.float64)
    t = 1.0 / w
    lo, hi = t.min(), t.max()
    basis = np.polynomial.chebyshev.chebvander((2.0 * t - lo - hi) / (hi - lo), degree)
    weight = 1.0 / ulp
    for _ in range(60):
        cheb, *_ = np.linalg.lstsq(basis * weight[:, None], g * weight, rcond=None)
        error = np.abs(basis @ cheb - g) / ulp
        weight = weight * (1.0 + error / error.max())
    series = np.polynomial.Chebyshev(cheb, domain=[lo, hi])
    monomial = series.convert(kind=np.polynomial.Polynomial, domain=[-1.0, 1.0], window=[-1.0, 1.0]).coef
    evaluated = np.polyval(monomial[::-1], t) - np.sqrt(2.0) * w
    return monomial, float(np.max(np.abs(evaluated - x) / ulp))


if __name__ == "__main__":
    coefficients, error = fit()
    sys.stdout.write("_TAIL_G = (" + ", ".join(repr(float(c)) for c in coefficients) + ")\n")
    sys.stdout.write(f"largest error: {error:.3f} float32 ulp\n")
