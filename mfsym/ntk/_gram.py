"""The infinite-width Gram matrix $H^\\infty$ of Du et al. (2018), its finite-width and Monte Carlo versions.

For $w \\sim \\mathcal N(0, I_d)$ the pair $(u, v) = (w^\\top x_i, w^\\top x_j)$ is centred Gaussian with
covariance $\\begin{pmatrix} a & g \\\\ g & b\\end{pmatrix}$, $a = |x_i|^2$, $b = |x_j|^2$, $g = x_i^\\top x_j$, so
every entry is a two-dimensional Gaussian expectation:

$$H^\\infty_{ij} = g\\,\\mathbb E[\\sigma'(u)\\sigma'(v)] \\qquad \\text{(Du et al. 2018, eq. (4) / Thm 3.1)},$$

and, when the output layer is trained too, the full two-layer NTK adds $K_{ij} = \\mathbb E[\\sigma(u)\\sigma(v)]$.
Closed forms (derived symbolically in :mod:`mfsym.ntk._symbolic`), with $\\theta$ the angle between
$x_i$ and $x_j$:

* relu: $H^\\infty_{ij} = g(\\pi - \\theta)/(2\\pi)$, $K_{ij} = |x_i||x_j|(\\sin\\theta + (\\pi - \\theta)\\cos\\theta)/(2\\pi)$
  (arc-cosine kernels of degree 0 and 1, Cho & Saul 2009);
* erf: $H^\\infty_{ij} = \\frac{4g}{\\pi}\\,[(1 + 2a)(1 + 2b) - 4g^2]^{-1/2}$,
  $K_{ij} = \\frac{2}{\\pi}\\arcsin\\frac{2g}{\\sqrt{(1 + 2a)(1 + 2b)}}$ (Williams 1997).

Everything else goes through quadrature over $(z_1, z_2) \\sim \\mathcal N(0, I_2)$ with
$u = \\sqrt a\\,z_1$, $v = (g/\\sqrt a) z_1 + \\sqrt{b - g^2/a}\\, z_2$.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import mpmath as mp
import numpy as np
import scipy.linalg as sla
from numpy.polynomial.hermite_e import hermegauss

from .._errors import DataError
from .._types import FloatArray
from .._validate import as_float_array
from . import _checks as ck
from ._activations import Activation, resolve

TRAINED = ("hidden", "both")
METHODS = ("auto", "closed-form", "trapezoid", "gauss-hermite", "mpmath")
_BLOCK = 1 << 18  # elements per row block of the closed forms (2 MB temporaries stay in cache)
_NEAR = 1e-3  # sin(theta) below which an angle is recomputed from the vectors (Kahan's half-angle form)
_DEFAULT_NODES = {"trapezoid": 73, "gauss-hermite": 120}
_TRAP_HALF_WIDTH = 9.0  # P(|z| > 9) < 2e-19


class ParallelInputsWarning(UserWarning):
    """Two inputs are parallel (same or opposite direction): Du et al.'s Assumption 3.1 fails."""


# ---------------------------------------------------------------------------------------------- helpers
def _kahan(X: FloatArray, nrm: FloatArray, i: np.ndarray, j: np.ndarray) -> tuple[FloatArray, FloatArray]:
    """$(\\pi - \\theta_{ij}, \\sin\\theta_{ij})$ from $\\hat x_i \\mp \\hat x_j$, accurate for (anti)parallel pairs.

    $|\\hat x_i - \\hat x_j| = 2\\sin(\\theta/2)$ and $|\\hat x_i + \\hat x_j| = 2\\cos(\\theta/2)$, so
    $\\pi - \\theta = 2\\,\\mathrm{atan2}(|\\hat x_i + \\hat x_j|, |\\hat x_i - \\hat x_j|)$ and
    $\\sin\\theta = |\\hat x_i - \\hat x_j|\\,|\\hat x_i + \\hat x_j| / 2$ (W. Kahan, "How futile are mindless
    assessments of roundoff in floating-point computation?", 2006).
    """
    A = X[i] / nrm[i, None]
    B = X[j] / nrm[j, None]
    dif = np.linalg.norm(A - B, axis=1)
    sm = np.linalg.norm(A + B, axis=1)
    return 2.0 * np.arctan2(sm, dif), 0.5 * dif * sm


def _pairs_upper(mask: np.ndarray, start: int) -> tuple[np.ndarray, np.ndarray]:
    r, c = np.nonzero(mask)
    r = r + start
    keep = c > r
    return r[keep], c[keep]


def _relu_closed(X: FloatArray, sq: FloatArray, hidden: bool = True,
                 output: bool = False) -> tuple[FloatArray, np.ndarray, np.ndarray, FloatArray]:
    """relu closed forms, blocked over rows: $H^\\infty$ (``hidden``) and/or the arc-cosine kernel of degree 1
    (``output``, $\\mathbb E[\\mathrm{relu}(u)\\mathrm{relu}(v)]$); returns ``(H, i, j, sin)`` with the near-parallel pairs."""
    n = X.shape[0]
    nrm = np.sqrt(sq)
    unit = bool(np.max(np.abs(nrm - 1.0)) <= 4 * np.finfo(float).eps)
    G = X @ X.T  # BLAS syrk: exactly symmetric, so the elementwise maps below keep H symmetric
    inv = 1.0 / nrm
    rows = max(1, _BLOCK // n)
    near_i, near_j = [], []
    scale = 1.0 / (2.0 * np.pi)
    for start in range(0, n, rows):
        stop = min(n, start + rows)
        g = G[start:stop]
        c = g if unit else g * inv[start:stop, None] * inv[None, :]
        s = np.subtract(1.0, c)
        t = np.add(1.0, c)
        s *= t
        np.maximum(s, 0.0, out=s)
        np.sqrt(s, out=s)  # sin(theta); its relative error is that of c, large only near |c| = 1
        i, j = _pairs_upper(s < _NEAR, start)
        near_i.append(i)
        near_j.append(j)
        np.negative(c, out=t)
        np.arctan2(s, t, out=t)  # pi - theta, by atan2(sin theta, -cos theta)
        t *= g  # g (pi - theta), common to both kernels
        if hidden and output:
            t *= 2.0
        if output:
            s *= nrm[start:stop, None] * nrm[None, :]
            t += s
        np.multiply(t, scale, out=g)
    i = np.concatenate(near_i)
    j = np.concatenate(near_j)
    phi, sin = _kahan(X, nrm, i, j)
    gij = np.einsum("kd,kd->k", X[i], X[j])
    val = (hidden + output) * gij * phi + (nrm[i] * nrm[j] * sin if output else 0.0)
    G[i, j] = G[j, i] = val * scale
    G[np.diag_indices(n)] = 0.5 * sq * (hidden + output)  # theta = 0 exactly: both kernels are |x_i|^2 / 2
    return G, i, j, sin


def _near_parallel(X: FloatArray, G: FloatArray, sq: FloatArray) -> tuple[np.ndarray, np.ndarray, FloatArray]:
    """Pairs ``i < j`` with $\\sin\\theta_{ij} < 10^{-3}$ (screened on $g^2$, then recomputed from the vectors)."""
    n = X.shape[0]
    rows = max(1, _BLOCK // n)
    I, J = [], []
    for start in range(0, n, rows):
        stop = min(n, start + rows)
        g = G[start:stop]
        i, j = _pairs_upper(g * g > (1.0 - 2 * _NEAR**2) * (sq[start:stop, None] * sq[None, :]), start)
        I.append(i)
        J.append(j)
    i, j = np.concatenate(I), np.concatenate(J)
    _, sin = _kahan(X, np.sqrt(sq), i, j)
    return i, j, sin


def _erf_closed(X: FloatArray, sq: FloatArray, both: bool) -> tuple[FloatArray, np.ndarray, np.ndarray, FloatArray]:
    """erf closed forms, blocked over rows; returns ``(H, i, j, sin)`` with the near-parallel pairs."""
    n = X.shape[0]
    G = X @ X.T
    p = 1.0 + 2.0 * sq
    rows = max(1, _BLOCK // n)
    I, J = [], []
    for start in range(0, n, rows):
        stop = min(n, start + rows)
        g = G[start:stop]
        i, j = _pairs_upper(g * g > (1.0 - 2 * _NEAR**2) * (sq[start:stop, None] * sq[None, :]), start)
        I.append(i)
        J.append(j)
        pp = p[start:stop, None] * p[None, :]
        den = pp - 4.0 * g * g  # >= 1 + 2a + 2b > 0 by Cauchy-Schwarz
        out = (4.0 / np.pi) * g / np.sqrt(den)
        if both:
            out += (2.0 / np.pi) * np.arcsin(np.clip(2.0 * g / np.sqrt(pp), -1.0, 1.0))
        g[...] = out
    i, j = np.concatenate(I), np.concatenate(J)
    _, sin = _kahan(X, np.sqrt(sq), i, j)
    return G, i, j, sin


def _rule(method: str, nodes: int) -> tuple[FloatArray, FloatArray]:
    """Nodes and weights for $\\mathbb E f(z)$, $z \\sim \\mathcal N(0, 1)$.

    ``trapezoid``: equispaced on $[-9, 9]$; exponentially convergent for integrands analytic in a strip
    (Trefethen & Weideman, *The exponentially convergent trapezoidal rule*, SIAM Rev. 56, 2014) -- with
    $h = 1/4$ we measure ~1e-14 for tanh and sigmoid, whose $\\sigma'$ has poles at distance $\\pi/2$ and $\\pi$
    from the real axis. ``gauss-hermite``: probabilists' Gauss--Hermite; exact for polynomials of degree
    $< 2K$, but only $\\exp(-c\\sqrt K)$ convergence for such poles (we measure ~1e-12 at $K = 120$ for tanh).
    """
    if method == "trapezoid":
        z = np.linspace(-_TRAP_HALF_WIDTH, _TRAP_HALF_WIDTH, nodes)
        h = z[1] - z[0] if nodes > 1 else 2 * _TRAP_HALF_WIDTH
        return z, h * np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    z, w = hermegauss(nodes)
    return z, w / math.sqrt(2 * math.pi)


def _quadrature(X: FloatArray, sq: FloatArray, act: Activation, both: bool, method: str, nodes: int) -> FloatArray:
    """$g\\,\\mathbb E[\\sigma'(u)\\sigma'(v)]$ (+ $\\mathbb E[\\sigma(u)\\sigma(v)]$) by a tensor-product rule, per pair."""
    n = X.shape[0]
    G = X @ X.T
    z, w = _rule(method, nodes)
    K = z.size
    iu, ju = np.triu_indices(n)
    nrm = np.sqrt(sq)
    Fd = act.derivative(nrm[:, None] * z[None, :]) * w  # (n, K): w_k sigma'(|x_i| z_k)
    Ff = act.function(nrm[:, None] * z[None, :]) * w if both else None
    out = np.empty(iu.size)
    chunk = max(1, (1 << 21) // (K * K))
    for s in range(0, iu.size, chunk):
        i, j = iu[s:s + chunk], ju[s:s + chunk]
        g = G[i, j]
        beta = g / nrm[i]
        gamma = np.sqrt(np.maximum(sq[j] - beta * beta, 0.0))
        V = beta[:, None, None] * z[None, :, None] + gamma[:, None, None] * z[None, None, :]  # (P, K, K)
        inner = act.derivative(V) @ w  # (P, K)
        val = g * np.einsum("pk,pk->p", Fd[i], inner)
        if both:
            val += np.einsum("pk,pk->p", Ff[i], act.function(V) @ w)
        out[s:s + chunk] = val
    H = np.empty((n, n))
    H[iu, ju] = out
    H[ju, iu] = out
    return H


def _mp_expect(h: Callable, sa, beta, gamma, c, pts):
    """$\\mathbb E[h(\\sqrt a z_1) h(\\beta z_1 + \\gamma z_2)]$ by mpmath Gauss--Legendre (1-D when $\\gamma = 0$)."""
    if gamma == 0:  # parallel pair
        return mp.quad(lambda s: h(sa * s) * h(beta * s) * mp.exp(-s * s / 2) * mp.sqrt(c), pts,
                       method="gauss-legendre")
    return mp.quad(lambda s, t: h(sa * s) * h(beta * s + gamma * t) * mp.exp(-(s * s + t * t) / 2) * c, pts, pts,
                   method="gauss-legendre")


def _mpmath(X: FloatArray, sq: FloatArray, act: Activation, both: bool, dps: int) -> FloatArray:
    """Reference values: mpmath Gauss--Legendre on $[-9, 9]^2$ (split at 0) at ``dps`` digits, per pair."""
    f = act.derivative_mp
    F = act.function_mp
    if f is None or (both and F is None):
        raise DataError(f"method: 'mpmath' needs mpmath versions of activation {act.name!r} "
                        f"(Activation.derivative_mp{'/function_mp' if both else ''}); use method='trapezoid'")
    n = X.shape[0]
    H = np.empty((n, n))
    with mp.workdps(dps):
        c = 1 / (2 * mp.pi)
        pts = [-9, 0, 9]
        rows = [[mp.mpf(float(v)) for v in x] for x in X]
        for i in range(n):
            a = mp.fsum(v * v for v in rows[i])
            sa = mp.sqrt(a)
            for j in range(i, n):
                g = mp.fsum(p * q for p, q in zip(rows[i], rows[j]))
                beta = g / sa
                gamma = mp.sqrt(max(mp.fsum(v * v for v in rows[j]) - beta * beta, mp.mpf(0)))

                val = g * _mp_expect(f, sa, beta, gamma, c, pts)
                if both:
                    val += _mp_expect(F, sa, beta, gamma, c, pts)
                H[i, j] = H[j, i] = float(val)
    return H


# ---------------------------------------------------------------------------------------------- public
def parallel_pairs(X: Any, tol: float = 1e-10) -> np.ndarray:
    """Index pairs ``(i, j)``, ``i < j``, of inputs that are parallel or anti-parallel.

    A pair is reported when $\\sin\\theta_{ij} \\le$ ``tol``, $\\theta_{ij}$ computed from the vectors (stable
    near 0 and $\\pi$). Du et al. (2018, Thm 3.1) prove $\\lambda_0 > 0$ when no two inputs are parallel;
    two inputs in the same direction make two rows of $H^\\infty$ equal, so $\\lambda_0 = 0$.

    Parameters
    ----------
    X : (n, d) array
    tol : float, default 1e-10

    Returns
    -------
    (k, 2) int array
    """
    X = ck.inputs(X)
    tol = ck.positive_float(tol, "tol")
    sq = np.einsum("ij,ij->i", X, X)
    i, j, sin = _near_parallel(X, X @ X.T, sq)
    keep = sin <= tol
    return np.stack([i[keep], j[keep]], axis=1).astype(int)


def _report_parallel(pairs: np.ndarray, on_parallel: str) -> None:
    if not pairs.size or on_parallel == "ignore":
        return
    shown = ", ".join(f"({i}, {j})" for i, j in pairs[:5]) + (" ..." if len(pairs) > 5 else "")
    msg = (f"X: {len(pairs)} pair(s) of parallel or anti-parallel inputs {shown}; Du et al. (2018) Assumption 3.1 "
           f"fails (lambda0 may be 0 and Theorems 3.2/4.1 do not apply)")
    if on_parallel == "raise":
        raise DataError(msg + "; remove duplicate directions or pass on_parallel='warn'")
    warnings.warn(msg, ParallelInputsWarning, stacklevel=3)


def gram(X: Any, activation: str | Activation | Callable = "relu", *, trained: str = "hidden",
         normalize: bool = False, unit_tol: float | None = 1e-8, method: str = "auto", nodes: int | None = None,
         dps: int = 15, on_parallel: str = "warn", parallel_tol: float = 1e-10) -> FloatArray:
    """Infinite-width Gram matrix $H^\\infty_{ij} = \\mathbb E_{w \\sim \\mathcal N(0, I)}[x_i^\\top x_j\\,\\sigma'(w^\\top x_i)\\sigma'(w^\\top x_j)]$.

    Du et al. (2018, arXiv 1810.02054), eq. (4) and Thm 3.1; for relu and unit inputs
    $H^\\infty_{ij} = x_i^\\top x_j\\,(\\pi - \\arccos(x_i^\\top x_j))/(2\\pi)$, evaluated as
    $\\pi - \\theta = \\mathrm{atan2}(\\sin\\theta, -\\cos\\theta)$ with the angle of near-(anti)parallel pairs
    ($\\sin\\theta < 10^{-3}$) recomputed from $\\hat x_i \\mp \\hat x_j$, so that entries keep ~1e-15 absolute
    accuracy where $\\arccos$ of a rounded inner product loses half the digits.

    Parameters
    ----------
    X : (n, d) array
        Inputs, one per row. By default rows must have unit norm (Du et al., §3).
    activation : {"relu", "erf", "tanh", "sigmoid"}, :class:`Activation` or callable
        A bare callable is taken to be $\\sigma'$ (vectorised over float arrays).
    trained : {"hidden", "both"}
        ``"hidden"``: $H^\\infty$ (output signs $a_r$ fixed, as in Du et al.). ``"both"``: the full two-layer
        NTK $H^\\infty + K$, $K_{ij} = \\mathbb E[\\sigma(w^\\top x_i)\\sigma(w^\\top x_j)]$, of
        $f = m^{-1/2}\\sum_r a_r\\sigma(w_r^\\top x)$ with $\\mathbb E a_r^2 = 1$, when $a$ is trained as well.
    normalize : bool
        Rescale rows to unit norm first.
    unit_tol : float or None
        Allowed deviation of $|x_i|$ from 1 when ``normalize`` is False; ``None`` accepts any norms (all the
        formulas hold for general norms).
    method : {"auto", "closed-form", "trapezoid", "gauss-hermite", "mpmath"}
        ``auto`` is the closed form for relu/erf, the trapezoid rule otherwise. Quadrature of relu (a step
        $\\sigma'$) converges only at first order -- use the closed form.
    nodes : int, optional
        Nodes per dimension (default 73 for the trapezoid rule, 120 for Gauss--Hermite, scaled up by
        $\\max_i |x_i|$ when rows are longer than 1).
    dps : int
        Working precision of ``method="mpmath"`` (slow: ~1 s per pair; for reference values at small n).
    on_parallel : {"warn", "raise", "ignore"}
        What to do when two inputs are (anti)parallel within ``parallel_tol`` (see :func:`parallel_pairs`):
        a :class:`ParallelInputsWarning`, a :class:`~mfsym.DataError`, or nothing.

    Returns
    -------
    (n, n) array, symmetric positive semi-definite.

    References
    ----------
    Du, Zhai, Póczos & Singh, *Gradient descent provably optimizes over-parameterized neural networks*, ICLR 2019.
    Cho & Saul, *Kernel methods for deep learning*, NIPS 2009. Williams, *Computing with infinite networks*, NIPS 1997.
    """
    X = ck.inputs(X)
    trained = ck.choice(trained, "trained", TRAINED)
    method = ck.choice(method, "method", METHODS)
    on_parallel = ck.choice(on_parallel, "on_parallel", ("warn", "raise", "ignore"))
    ptol = ck.positive_float(parallel_tol, "parallel_tol")
    both = trained == "both"
    act = resolve(activation, need_function=both)
    if method == "auto":
        method = "closed-form" if act.closed_form else "trapezoid"
    if method == "closed-form" and not act.closed_form:
        raise DataError(f"method: no closed form for activation {act.name!r} (closed forms: relu, erf); "
                        f"use method='trapezoid', 'gauss-hermite' or 'mpmath'")
    dps = ck.count(dps, "dps", minimum=10)
    X, sq = ck.unit_rows(X, normalize, unit_tol)
    if method in _DEFAULT_NODES:
        if nodes is None:  # sigma'(|x| z) narrows as |x| grows: keep the step h |x| <= 1/4
            grow = max(1.0, float(np.sqrt(np.max(sq))))
            nodes = _DEFAULT_NODES[method] if grow == 1.0 else 1 + 2 * math.ceil((_DEFAULT_NODES[method] // 2) * grow)
        nodes = ck.count(nodes, "nodes", minimum=2)

    if method == "closed-form" and act.name == "relu":
        H, i, j, sin = _relu_closed(X, sq, True, both)
    elif method == "closed-form":
        H, i, j, sin = _erf_closed(X, sq, both)
    else:
        if method == "mpmath":
            H = _mpmath(X, sq, act, both, dps)
        else:
            H = _quadrature(X, sq, act, both, method, nodes)
        i, j, sin = _near_parallel(X, X @ X.T, sq)
    keep = sin <= ptol
    _report_parallel(np.stack([i[keep], j[keep]], axis=1), on_parallel)
    return H


def smallest_eigenvalue(H: Any, name: str = "H") -> float:
    """$\\lambda_{\\min}$ of a symmetric matrix (LAPACK ``syevr`` restricted to the first eigenvalue)."""
    H = as_float_array(H, name, DataError, ndim=2)
    if H.shape[0] != H.shape[1] or H.shape[0] < 1:
        raise DataError(f"{name}: expected a square (n, n) matrix, got shape {H.shape}")
    scale = max(1.0, float(np.max(np.abs(H))))
    if np.max(np.abs(H - H.T)) > 1e-12 * scale:
        raise DataError(f"{name}: expected a symmetric matrix, max |H - H^T| = {np.max(np.abs(H - H.T)):.2e}")
    return float(sla.eigvalsh(H, subset_by_index=[0, 0])[0])


def lambda0(X: Any, activation: str | Activation | Callable = "relu", **gram_options: Any) -> float:
    """$\\lambda_0 = \\lambda_{\\min}(H^\\infty)$ (Du et al. 2018, Assumption 3.1); ``gram_options`` go to :func:`gram`.

    Du et al. (Thm 3.1): $\\lambda_0 > 0$ for relu when no two inputs are parallel. It sets the rate
    $1 - \\eta\\lambda_0/2$ of Thm 4.1 and enters every width bound (see :func:`du_bounds`).
    """
    return smallest_eigenvalue(gram(X, activation, **gram_options), "gram")


def finite_gram(W: Any, X: Any, a: Any = None, activation: str | Activation | Callable = "relu", *,
                trained: str = "hidden") -> FloatArray:
    """Finite-width Gram $H_{ij} = \\frac1m\\sum_r a_r^2\\,x_i^\\top x_j\\,\\sigma'(w_r^\\top x_i)\\sigma'(w_r^\\top x_j)$.

    Du et al. (2018, eq. (5)): for relu and $a_r \\in \\{\\pm1\\}$, $H_{ij}(t) = \\frac1m\\sum_r x_i^\\top x_j
    1\\{w_r(t)^\\top x_i \\ge 0, w_r(t)^\\top x_j \\ge 0\\}$, the kernel of $du/dt = -H(t)(u - y)$. With
    ``trained="both"`` adds $\\frac1m\\sum_r \\sigma(w_r^\\top x_i)\\sigma(w_r^\\top x_j)$. With $w_r$ i.i.d.
    $\\mathcal N(0, I)$ this is an unbiased estimate of :func:`gram` (Du et al., Lemma 3.1).

    Parameters
    ----------
    W : (m, d) array
    X : (n, d) array (any norms)
    a : (m,) array, optional
        Output weights (default all ones; only $a_r^2$ enters).

    Returns
    -------
    (n, n) array
    """
    W = as_float_array(W, "W", DataError, ndim=2)
    X = ck.inputs(X)
    if W.shape[0] < 1 or W.shape[1] != X.shape[1]:
        raise DataError(f"W: expected shape (m, d) = (m >= 1, {X.shape[1]}) to match X {X.shape}, got {W.shape}")
    m = W.shape[0]
    if a is None:
        a2 = np.ones(m)
    else:
        a = as_float_array(a, "a", DataError, ndim=1)
        if a.shape != (m,):
            raise DataError(f"a: expected shape ({m},) to match W {W.shape}, got {a.shape}")
        a2 = a * a
    trained = ck.choice(trained, "trained", TRAINED)
    act = resolve(activation, need_function=trained == "both")
    n = X.shape[0]
    S = np.zeros((n, n))
    K = np.zeros((n, n))
    chunk = max(1, (1 << 22) // n)
    for s in range(0, m, chunk):
        Z = X @ W[s:s + chunk].T
        D = act.derivative(Z)
        S += (D * a2[s:s + chunk]) @ D.T
        if trained == "both":
            F = act.function(Z)
            K += F @ F.T
    H = (X @ X.T) * S / m
    if trained == "both":
        H += K / m
    return H


@dataclass(frozen=True)
class MonteCarloGram:
    """Monte Carlo estimate of $H^\\infty$: entrywise ``mean`` and ``stderr`` over ``samples`` draws of $w$."""

    mean: FloatArray
    stderr: FloatArray
    samples: int


def gram_monte_carlo(X: Any, activation: str | Activation | Callable = "relu", *, samples: int = 100_000,
                     seed: ck.Seed = 0, trained: str = "hidden", normalize: bool = False,
                     unit_tol: float | None = 1e-8) -> MonteCarloGram:
    """Monte Carlo estimate of :func:`gram` over $w \\sim \\mathcal N(0, I_d)$, with standard errors.

    Each draw gives $Y^{(r)}_{ij} = x_i^\\top x_j\\sigma'(w_r^\\top x_i)\\sigma'(w_r^\\top x_j)$ (+ $\\sigma\\sigma$ for
    ``trained="both"``); returns the entrywise sample mean and $\\mathrm{sd}/\\sqrt{M}$. An independent check
    of the closed forms and quadratures (cost $O(M n^2)$: meant for small n).

    Parameters
    ----------
    X : (n, d) array
    samples : int
        Number $M$ of draws of $w$.
    seed : int or numpy.random.Generator

    Returns
    -------
    MonteCarloGram
    """
    X = ck.inputs(X)
    M = ck.count(samples, "samples", minimum=2)
    rng = ck.rng_from(seed)
    trained = ck.choice(trained, "trained", TRAINED)
    both = trained == "both"
    act = resolve(activation, need_function=both)
    X, _ = ck.unit_rows(X, normalize, unit_tol)
    n, d = X.shape
    G = X @ X.T
    s1 = np.zeros((n, n))
    s2 = np.zeros((n, n))
    batch = max(1, min(M, (1 << 20) // max(n, d)))
    done = 0
    while done < M:
        b = min(batch, M - done)
        Z = X @ rng.standard_normal((d, b))
        D = act.derivative(Z)
        if both:
            F = act.function(Z)
            # Y = G * D_i D_j + F_i F_j;  Y^2 = G^2 D_i^2 D_j^2 + 2 G D_iF_i D_jF_j + F_i^2 F_j^2
            s1 += G * (D @ D.T) + F @ F.T
            s2 += G * G * ((D * D) @ (D * D).T) + 2 * G * ((D * F) @ (D * F).T) + (F * F) @ (F * F).T
        else:
            s1 += G * (D @ D.T)
            s2 += G * G * ((D * D) @ (D * D).T)
        done += b
    mean = s1 / M
    var = np.maximum(s2 / M - mean * mean, 0.0) * M / (M - 1)
    return MonteCarloGram(mean, np.sqrt(var / M), M)
