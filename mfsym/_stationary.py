"""Stationary points of the particle objective $F(\\theta_1..\\theta_m) = L(\\sum_j c_j\\delta_{\\theta_j})$, matrix-free.

:func:`stationary` refines a measure to a point where $\\nabla_\\theta J_\\mu(\\theta_j) = 0$ for every particle
with $c_j \\ne 0$ (docs/dynamics.md, stationary points). Every iteration costs one gradient and a Krylov solve on
Hessian-vector products (``Problem.hvp``, a few gradients each); the particle Hessian is formed only for
$m p \\le$ :data:`DENSE_LIMIT`, where one dense Hessian is cheaper than the products a Krylov solve takes.

* minima: a trust-region Newton method whose subproblem is solved by truncated conjugate gradients
  (Steihaug 1983; Nocedal & Wright 2006, Algorithm 7.2) — negative curvature leads to the region's boundary;
* saddles and any index: Levenberg-Marquardt on $\\nabla F = 0$ with damping proportional to $|\\nabla F|$
  (Fan & Yuan 2005: quadratic also at non-isolated solutions), each step by LSQR (Paige & Saunders 1982) on
  the same products.
* where the Hessian model of a minimum search meets negative curvature, the generalised Gauss-Newton model
  (Schraudolph 2002) is tried too and the better trial kept.

Symmetry directions (zero-mass particles, the relu rescaling $(a, w) \\to (ta, w/t)$, identical particles) are
projected out of the minimum search (the damping of Levenberg-Marquardt handles them for saddles) with the sparse
basis of :func:`mfsym.stability.symmetries` (time linear in $m$); a dead relu
neuron has zero gradient and zero Hessian rows, so a Krylov solve started at zero never moves it.

References
----------
T. Steihaug, *The conjugate gradient method and trust regions in large scale optimization*, SIAM J. Numer.
Anal. 20 (1983). C. C. Paige & M. A. Saunders, *Solution of sparse indefinite systems of linear equations*,
SIAM J. Numer. Anal. 12 (1975); *LSQR*, ACM TOMS 8 (1982). J. Fan & Y. Yuan, *On the quadratic convergence of
the Levenberg-Marquardt method without nonsingularity assumption*, Computing 74 (2005). D.-H. Li, M. Fukushima,
L. Qi & N. Yamashita, *Regularized Newton methods for convex minimization problems with singular solutions*,
Comput. Optim. Appl. 28 (2004). N. Schraudolph, *Fast curvature matrix-vector products*, Neural Comput. 14
(2002). S. C. Eisenstat & H. F. Walker, *Choosing the forcing terms in an inexact Newton method*, SIAM J.
Sci. Comput. 17 (1996). Nocedal & Wright, *Numerical Optimization* (2006), §4, §7.1, §10.3.
"""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sps
import scipy.sparse.linalg as spla

from ._errors import DataError, MeasureError
from ._progress import progress as progress_bar
from ._types import FloatArray
from ._backend import Backend, SampleBackend, _chunks
from ._validate import bool_arg, positive_float, positive_int
from .measure import Measure
from .problem import Problem

__all__ = ["StationaryInfo", "stationary", "displacement"]

logger = logging.getLogger(__name__)  # one DEBUG line per Newton step; progress goes to "mfsym.progress"

TARGETS = ("minimum", "saddle", "any")
#: largest $m p$ for which the particle Hessian is formed (once per iteration; the Krylov solves then use it)
DENSE_LIMIT = 1000
#: Krylov iterations per Newton step (each one Hessian-vector product)
KRYLOV_LIMIT = 300
#: below this size (m p), a minimum search on the formed Hessian that stalls is finished by the dense fallback
#: (:func:`_dense_polish`)
FALLBACK_LIMIT = 3000
#: the Newton shift sigma = SHIFT h |g_k| / |g_0| (h the Hessian scale; Li, Fukushima, Qi & Yamashita 2004)
SHIFT = 1e-4
#: the largest relative Krylov tolerance (a loose solve gives Cauchy-like steps that the trust region cannot use)
FORCING_MAX = 1e-2
#: with more fitted values than parameters (``gauss_newton=True``), the Gauss-Newton phase forms the Jacobian of
#: the fitted values when it has at most this many entries ($n k \times m p$; 8 bytes each) and $m p \le$
#: GN_GRAM_LIMIT
GN_LIMIT = 3 * 10**7
#: the largest Gram matrix of the Jacobian eigendecomposed per Gauss-Newton step ($A A^\top$, $n k \times n k$,
#: for over-parameterised nets, accumulated over blocks of particles whatever $m$); above it, preconditioned
#: conjugate gradients on jvp/vjp products
GN_GRAM_LIMIT = 5000
#: the Gauss-Newton phase hands over to Newton when $F$ fell by less than 10% over its last 5 steps (a minimum of
#: nonzero loss, to which Gauss-Newton converges only linearly)
GN_SLOW = (5, 0.9)
#: a Gauss-Newton step is accepted when F falls by this fraction of the decrease its model predicts; after
#: GN_FAILS rejections in a row the Newton trust region takes over
GN_ACCEPT, GN_FAILS = 1e-4, 30
#: Krylov iterations per matrix-free Gauss-Newton step (each one jvp and one vjp over the particles), and the rank
#: of the randomized Nystrom preconditioner of the conjugate gradients on $A A^\top$ (as many products again)
GN_KRYLOV, GN_SKETCH = 1000, 200
#: Gram eigenvalues below GRAM_CUT max(n k, m p) eps lambda_max are rounding and get no Gauss-Newton step
GRAM_CUT = 100.0
STATUSES = ("converged", "max-move", "max-iter", "stalled")
_EPS = np.finfo(float).eps


@dataclass(frozen=True)
class StationaryInfo:
    """What :func:`stationary` did: why it stopped, the residual, loss and displacement paths.

    Attributes
    ----------
    status : str
        ``"converged"`` (residual <= ``tol``), ``"max-move"`` (the next Newton step would leave the
        ``max_move`` bound: the returned point is the last one inside it), ``"max-iter"`` (the iteration
        budget is spent) or ``"stalled"`` (no step lowered the merit function any more).
    residuals : (K+1,) array
        $\\max_{j: c_j \\ne 0}|\\nabla J(\\theta_j)|$ (``Problem.residual``) at the start and after each accepted step
        (with an output bias the steps keep it at its optimum, so after the first step $\\partial_\\beta L = 0$).
    losses : (K+1,) array
        $L(\\mu)$ along the same path.
    displacements : (K+1,) array
        Displacement from the start along the path (see :func:`displacement`).
    max_move : float or None
        The bound on the displacement (None: unbounded).
    wanted_move : float or None
        With ``status="max-move"``: the displacement the rejected Newton step would have reached.
    iterations : int
        Accepted and rejected Newton steps.
    products : int
        Hessian-vector products (dense: matrix-vector products with the formed Hessian), and the jvp and vjp
        products of the Gauss-Newton phase (one vjp per step through the Gram matrix, none on the formed
        Jacobian, two per Krylov iteration when matrix-free).
    method : str
    seconds : float
    message : str
        One line for a report.
    """

    status: str
    target: str
    tol: float
    residuals: FloatArray
    losses: FloatArray
    displacements: FloatArray
    max_move: float | None
    wanted_move: float | None
    iterations: int
    products: int
    method: str
    seconds: float
    message: str
    lambda_min: float | None = field(default=None)

    @property
    def converged(self) -> bool:
        """True when the residual reached ``tol``."""
        return self.status == "converged"

    @property
    def residual(self) -> float:
        """Residual of the returned point."""
        return float(self.residuals[-1])

    @property
    def residual_start(self) -> float:
        return float(self.residuals[0])

    @property
    def loss(self) -> float:
        return float(self.losses[-1])

    @property
    def loss_start(self) -> float:
        return float(self.losses[0])

    @property
    def loss_change(self) -> float:
        """$L(\\text{returned}) - L(\\text{start})$."""
        return float(self.losses[-1] - self.losses[0])

    @property
    def displacement(self) -> float:
        """Displacement of the returned point from the start."""
        return float(self.displacements[-1])

    def to_dict(self) -> dict:
        """JSON-able summary (the paths as lists)."""
        return {"status": self.status, "converged": self.converged, "target": self.target, "tol": self.tol,
                "residual": self.residual, "residual_start": self.residual_start, "loss": self.loss,
                "loss_start": self.loss_start, "loss_change": self.loss_change, "displacement": self.displacement,
                "max_move": self.max_move, "wanted_move": self.wanted_move, "iterations": self.iterations,
                "products": self.products, "method": self.method, "seconds": self.seconds,
                "residuals": [float(v) for v in self.residuals], "losses": [float(v) for v in self.losses],
                "displacements": [float(v) for v in self.displacements], "lambda_min": self.lambda_min,
                "message": self.message}

    def __repr__(self) -> str:
        return f"StationaryInfo({self.status}: {self.message})"


# ---------------------------------------------------------------------------------------------- validation
# ---------------------------------------------------------------------------------------------- displacement
def displacement(prob: Problem, before: Measure, after: Measure) -> float:
    """$\\max_{j: c_j \\ne 0,\\,B} |\\Delta\\theta_{j,B}| / s_B$ (and $|\\Delta\\beta| / S$): the move of ``after`` from
    ``before`` in units of the weight scale of each block ($s_B$ and the label scale $S$ of
    ``Problem.weight_scales(before)``), the same whichever way masses and output weights share a factor."""
    scales, S = prob.weight_scales(before)
    return _Mover(prob, before, scales, S)(after.particles, after.offset)


class _Mover:
    """The displacement of :func:`displacement` from a fixed start, evaluated many times."""

    def __init__(self, prob: Problem, start: Measure, scales: FloatArray, S: float):
        fam = prob.family
        self.live = start.masses != 0
        self.P0, self.b0, self.S = start.particles[self.live], start.offset, S
        self.slices = [fam.block_slice(k) for k in fam.blocks]
        self.scales = scales

    def __call__(self, P: FloatArray, offset: FloatArray | None, live_only: bool = False) -> float:
        D = (P if live_only else P[self.live]) - self.P0
        out = 0.0
        if D.size:
            for s, sB in zip(self.slices, self.scales):
                out = max(out, float(np.max(np.linalg.norm(D[:, s], axis=1))) / sB)
        if self.b0 is not None and offset is not None:
            out = max(out, float(np.linalg.norm(offset - self.b0)) / self.S)
        return out


# ---------------------------------------------------------------------------------------------- the objective
class _Objective:
    """$F$ restricted to the particles with $c_j \\ne 0$, in the mass-weighted coordinates
    $y_j = \\sqrt{|c_j|}\\,\\theta_j$ (the metric of the flow), so that $\\nabla_y F = \\sqrt{|c_j|}\\,
    \\mathrm{sign}(c_j)\\nabla J(\\theta_j)$ and $\\nabla^2_y F = D^{-1/2} \\nabla^2 F D^{-1/2}$.

    With an output bias the objective is profiled, $\\tilde F(\\theta) = \\min_\\beta F(\\theta, \\beta)$: every measure
    carries $\\beta^*(\\theta)$ (``Problem.profiled_offset``), so $\\partial_\\beta F = 0$ throughout, $\\nabla\\tilde F =
    \\nabla_\\theta F$ there and the Hessian is the Schur complement that ``Problem.particle_hessian`` returns."""

    def __init__(self, prob: Problem, mu: Measure):
        self.prob, self.mu = prob, mu
        self.live = mu.masses != 0
        self.c = mu.masses[self.live]
        self.root = np.sqrt(np.abs(self.c))[:, None]
        self.shape = (int(self.live.sum()), mu.family.p)
        self.sub = Measure(mu.family, mu.particles[self.live], self.c, mu.offset)
        self.products = 0
        backend = prob.backend
        # the Gauss-Newton product needs the interaction (sample data, or a backend that provides it)
        self.ggn_available = isinstance(backend, SampleBackend) or type(backend).interaction_matvec is not \
            Backend.interaction_matvec

    def _profiled(self, nu: Measure) -> Measure:
        return nu if nu.offset is None else nu.copy(offset=self.prob.profiled_offset(nu))

    def measure(self, y: FloatArray) -> Measure:
        return self._profiled(self.sub.copy(particles=y.reshape(self.shape) / self.root))

    def full(self, y: FloatArray) -> Measure:
        P = self.mu.particles.copy()
        P[self.live] = y.reshape(self.shape) / self.root
        return self._profiled(self.mu.copy(particles=P))

    def y0(self) -> FloatArray:
        return (self.sub.particles * self.root).ravel()

    def fun(self, y: FloatArray) -> float:
        return self.prob.loss(self.measure(y))

    def fun_grad(self, y: FloatArray) -> tuple[Measure, float, FloatArray, float]:
        """The measure, $F$, $\\nabla_y F$ and the residual $\\max_j |\\nabla J(\\theta_j)| = \\max_j |g_j| / \\sqrt{|c_j|}$."""
        nu = self.measure(y)
        F = self.prob.loss(nu)
        G = self.prob.particle_gradient(nu) / self.root
        r = float(np.max(np.linalg.norm(G, axis=1) / self.root[:, 0]))
        return nu, F, G.ravel(), r

    def grad(self, y: FloatArray) -> FloatArray:
        return self.fun_grad(y)[2]

    def residual(self, y: FloatArray) -> float:
        return self.fun_grad(y)[3]

    def hess(self, y: FloatArray) -> FloatArray:
        s = np.repeat(1.0 / self.root[:, 0], self.shape[1])
        return self.prob.particle_hessian(self.measure(y)) * s[:, None] * s[None, :]

    def ggnp(self, nu: Measure, v: FloatArray) -> FloatArray:
        """Generalised Gauss-Newton product $G v$, $G_{jl} = c_j c_l M(\\theta_j, \\theta_l)$ (the interaction part of
        the particle Hessian, $\\succeq 0$ for a convex loss; Schraudolph 2002), in $y$, for sample data: a jvp
        and a vjp over the particles, as in ``SampleBackend.hvp`` without the potential part."""
        self.products += 1
        prob, c = self.prob, nu.masses
        V = c[:, None] * (v.reshape(self.shape) / self.root)
        backend = prob.backend
        P = nu.particles
        if type(backend).interaction_matvec is SampleBackend.interaction_matvec:
            fam, X = prob.family, backend.X
            t = np.zeros((backend.n, fam.out_dim))
            for s in _chunks(P.shape[0], backend._per_row):
                t += np.einsum("qnk->nk", fam.jvp(P[s], X, V[s]))
            W = backend.curvature(P, c, nu.offset) * t / backend.n
            out = np.empty_like(P)
            for s in _chunks(P.shape[0], backend._per_row):
                out[s] = fam.vjp(P[s], X, W)
        else:
            out = backend.interaction_matvec(P, c, V)
        out = c[:, None] * out
        if nu.offset is not None:  # the profiled objective: the Schur complement, as in Problem.hvp
            Bc = prob._bias_coupling(nu)
            out = out - (Bc @ (Bc.T @ (v.reshape(self.shape) / self.root).ravel())).reshape(out.shape)
        if prob.reg:
            out = out + prob.reg * c[:, None] * (v.reshape(self.shape) / self.root)
        return (out / self.root).ravel()

    def fit_size(self) -> tuple[int, int] | None:
        """$(n k, m p)$, the shape of the fitted values' Jacobian, when the Gauss-Newton phase applies (sample data,
        the square loss, no regulariser: a stationary point of $F$ where that Jacobian has full row rank is a
        zero of the residuals); None otherwise."""
        prob = self.prob
        if not isinstance(prob.backend, SampleBackend) or prob.loss_name != "square" or prob.reg:
            return None
        return prob.backend.n * prob.family.out_dim, self.shape[0] * self.shape[1]

    def fit_system(self, nu: Measure) -> tuple[FloatArray, FloatArray]:
        """The residuals $e = f_\\nu(x_i) - y_i$ ``(n k,)`` and their Jacobian in $y$, $\\partial e_{ia} / \\partial
        y_{jb} = \\mathrm{sign}(c_j)\\sqrt{|c_j|}\\,\\partial\\varphi_a(\\theta_j; x_i) / \\partial\\theta_{jb}$ ``(n k, m p)``,
        so that $F = |e|^2 / 2n$ and $\\nabla_y F = A^\\top e / n$. With an output bias (profiled) both have their
        sample mean removed: $e \\to \\Pi e$, $A \\to \\Pi A$, the residuals of $\\min_\\beta F$."""
        m, p = self.shape
        A = np.empty((self._fit_rows(), m * p))
        for s, block in self._fit_blocks(nu):
            A[:, s.start * p:s.stop * p] = block
        return A, self._fit_residuals(nu)

    def fit_gram(self, nu: Measure) -> tuple[FloatArray, FloatArray]:
        """$K = A A^\\top$ ``(n k, n k)`` accumulated over blocks of particles (the Jacobian $A$ of
        :meth:`fit_system` is never stored whole: memory $(n k)^2$ whatever $m$) and the residuals $e$."""
        K = np.zeros((self._fit_rows(),) * 2)
        for _, block in self._fit_blocks(nu):
            K += block @ block.T
        return K, self._fit_residuals(nu)

    def _fit_rows(self) -> int:
        return self.prob.backend.n * self.prob.family.out_dim

    def _fit_blocks(self, nu: Measure):
        """The columns of $A$ for consecutive blocks of particles: ``(slice, (n k, q p))``, about 64 MB each."""
        backend, fam = self.prob.backend, self.prob.family
        m, p = self.shape
        N = self._fit_rows()
        w = np.sign(self.c) * self.root[:, 0]
        for s in _chunks(m, N * p + backend._per_row, budget=1 << 23):
            J = np.transpose(fam.jacobian(nu.particles[s], backend.X), (1, 2, 0, 3)) * w[s, None]  # (n, k, q, p)
            if nu.offset is not None:
                J -= J.mean(axis=0, keepdims=True)
            yield s, J.reshape(N, -1)

    def _fit_residuals(self, nu: Measure) -> FloatArray:
        e = self.prob.backend.residual(nu.particles, nu.masses, nu.offset)
        if nu.offset is not None:
            e = e - e.mean(axis=0, keepdims=True)
        return e.ravel()

    def fit_operator(self, nu: Measure) -> tuple[spla.LinearOperator, FloatArray]:
        """:meth:`fit_system` matrix-free: $A$ as a LinearOperator (a product $A v$ is a jvp over the particles,
        $A^\\top u$ a vjp; each one pass, no Jacobian stored) and the residuals $e$."""
        backend, fam = self.prob.backend, self.prob.family
        m, p = self.shape
        n, k = backend.n, fam.out_dim
        w = (np.sign(self.c) * self.root[:, 0])[:, None]
        P, X, centred = nu.particles, backend.X, nu.offset is not None

        def matvec(v):
            self.products += 1
            V = w * np.asarray(v).reshape(m, p)
            out = np.zeros((n, k))
            for s in _chunks(m, backend._per_row):
                out += np.einsum("qnk->nk", fam.jvp(P[s], X, V[s]))
            return (out - out.mean(axis=0) if centred else out).ravel()

        def rmatvec(u):
            self.products += 1
            U = np.asarray(u).reshape(n, k)
            U = U - U.mean(axis=0) if centred else U
            out = np.empty((m, p))
            for s in _chunks(m, backend._per_row):
                out[s] = fam.vjp(P[s], X, U)
            return (w * out).ravel()

        op = spla.LinearOperator((n * k, m * p), matvec=matvec, rmatvec=rmatvec, dtype=float)
        return op, self._fit_residuals(nu)

    def hessp(self, y: FloatArray, v: FloatArray, nu: Measure | None = None) -> FloatArray:
        self.products += 1
        V = v.reshape(self.shape) / self.root
        return (self.prob.hvp(self.measure(y) if nu is None else nu, V) / self.root).ravel()


class _Projector:
    """Orthogonal projector (in the $y$ metric) onto the complement of the symmetry directions at a point.

    The sparse basis $S$ of :func:`mfsym.stability.symmetries` is orthonormal in $\\theta$; in $y = D^{1/2}\\theta$
    it becomes $S_y = D^{1/2} S$, whose Gram matrix $S_y^\\top S_y$ is block diagonal (one block per particle or
    group of identical particles) and is factorised sparsely: $P v = v - S_y (S_y^\\top S_y)^{-1} S_y^\\top v$
    costs $O(m p)$.
    """

    def __init__(self, obj: _Objective, nu: Measure):
        from .stability import symmetries  # stability builds on dynamics: imported where it is used

        sym = symmetries(obj.prob, nu)
        self.dim = sym.dim
        self.kinds = sym.kinds
        if self.dim:
            D = sps.diags(np.repeat(obj.root[:, 0], obj.shape[1]))
            self.S = sps.csc_matrix(D @ sym.sparse)
            self.solve = spla.factorized(sps.csc_matrix(self.S.T @ self.S))

    def __call__(self, v: FloatArray) -> FloatArray:
        """$P v$ for ``v`` ``(N,)`` or ``(N, r)``."""
        if not self.dim:
            return v
        return v - self.S @ self.solve(self.S.T @ v)


class _Identity:
    """No projection."""

    dim = 0

    def __call__(self, v: FloatArray) -> FloatArray:
        return v


# ---------------------------------------------------------------------------------------------- Krylov solvers
def _steihaug(matvec, g: FloatArray, radius: float, rtol: float, maxiter: int):
    """Truncated CG for $\\min_s g^\\top s + \\frac12 s^\\top H s$, $|s| \\le$ ``radius`` (Nocedal & Wright, Alg. 7.2).

    Returns ``(s, Hs, how)``: ``Hs`` accumulated from the CG recurrences (no extra product), ``how`` one of
    "interior" (the CG tolerance or the iteration limit was met inside), "boundary", "negative" (a direction of
    non-positive curvature led to the boundary).
    """
    s = np.zeros_like(g)
    Hs = np.zeros_like(g)
    r = g.copy()
    d = -r
    rr = float(r @ r)
    stop = rtol * np.sqrt(rr)
    for it in range(1, maxiter + 1):
        Hd = matvec(d)
        dHd = float(d @ Hd)
        if dHd <= 0.0:  # no positive curvature along d: to the boundary
            tau = _to_boundary(s, d, radius)
            return s + tau * d, Hs + tau * Hd, "negative"
        alpha = rr / dHd
        s_next = s + alpha * d
        if np.linalg.norm(s_next) >= radius:
            tau = _to_boundary(s, d, radius)
            return s + tau * d, Hs + tau * Hd, "boundary"
        s, Hs = s_next, Hs + alpha * Hd
        r = r + alpha * Hd
        rr_new = float(r @ r)
        if np.sqrt(rr_new) <= stop:
            return s, Hs, "interior"
        d = -r + (rr_new / rr) * d
        rr = rr_new
    return s, Hs, "interior"


def _gram_solve(K: FloatArray, b: FloatArray, width: int) -> FloatArray:
    """$K^+ b$ for a Gram matrix $K$ (symmetric positive semidefinite) of a matrix with ``width`` columns, its
    eigenvalues below :data:`GRAM_CUT` $\\max(n, \\mathrm{width})\\,\\epsilon\\,\\lambda_{\\max}$ (rounding) dropped."""
    w, U = np.linalg.eigh(K)
    keep = w > GRAM_CUT * max(K.shape[0], width) * _EPS * max(float(w[-1]), 1e-300)
    return U[:, keep] @ ((U[:, keep].T @ b) / w[keep])


def _nystrom_pcg(K, e: FloatArray, rtol: float, maxiter: int, rng: np.random.Generator) -> tuple[FloatArray, FloatArray]:
    """Solve $K z = e$ for a positive (semi)definite $K$ given by products, by conjugate gradients preconditioned
    with a randomized Nystrom approximation $K \\approx U \\Lambda U^\\top$ of rank :data:`GN_SKETCH` (Frangella,
    Tropp & Udell, *Randomized Nystrom preconditioning*, SIAM J. Matrix Anal. Appl. 44, 2023, Alg. 2.1 and
    §5 with $\\mu = 0$): $P^{-1} = \\lambda_r U\\Lambda^{-1}U^\\top + (I - UU^\\top)$ maps the top of the spectrum
    onto $\\lambda_r$. Returns $z$ and the residual $e - K z$ (stopped at $|e - Kz| \\le$ ``rtol`` $|e|$ or after
    ``maxiter`` products beyond the sketch's)."""
    N = e.size
    r = min(GN_SKETCH, max(N - 1, 1))
    Om = np.linalg.qr(rng.standard_normal((N, r)))[0]
    Y = np.column_stack([K(Om[:, i]) for i in range(r)])
    shift = np.sqrt(N) * _EPS * max(float(np.linalg.norm(Y, 2)), 1e-300)
    Y += shift * Om
    try:
        C = np.linalg.cholesky(0.5 * (Om.T @ Y + Y.T @ Om))
        U, sv, _ = np.linalg.svd(np.linalg.solve(C, Y.T).T, full_matrices=False)
        lam = sv**2 - shift
        U, lam = U[:, lam > 0], lam[lam > 0]
    except np.linalg.LinAlgError:  # no usable sketch: plain conjugate gradients
        U, lam = np.zeros((N, 0)), np.ones(0)
    low = float(lam[-1]) if lam.size else 1.0

    def precondition(v):
        c = U.T @ v
        return v + U @ ((low / lam - 1.0) * c)

    z, res = np.zeros(N), e.copy()
    stop = rtol * float(np.linalg.norm(e))
    t = precondition(res)
    d, rt = t.copy(), float(res @ t)
    for _ in range(maxiter):
        if float(np.linalg.norm(res)) <= stop or rt <= 0:
            break
        Kd = K(d)
        dKd = float(d @ Kd)
        if dKd <= 0:
            break
        a = rt / dKd
        z += a * d
        res -= a * Kd
        t = precondition(res)
        rt_new = float(res @ t)
        d = t + (rt_new / rt) * d
        rt = rt_new
    return z, res


def _min_norm_step(A: FloatArray, e: FloatArray) -> FloatArray:
    """The Gauss-Newton step $s = -A^+ e$: the shortest $s$ minimising $|e + A s|$, through the eigendecomposition
    of the smaller Gram matrix ($A A^\\top$ when $A$ is wide, then $s = -A^\\top (A A^\\top)^{-1} e$; else $A^\\top A$),
    the eigenvalues below $c\\,\\max(A.\\mathrm{shape})\\,\\epsilon\\,\\lambda_{\\max}$ ($c$ = :data:`GRAM_CUT`, above the Gram
    matrix's rounding level) dropped, so that directions lost in rounding get no step."""
    N, M = A.shape
    if N <= M:
        return -(A.T @ _gram_solve(A @ A.T, e, M))
    return -_gram_solve(A.T @ A, A.T @ e, N)


def _to_boundary(s: FloatArray, d: FloatArray, radius: float) -> float:
    """$\\tau \\ge 0$ with $|s + \\tau d| = $ ``radius``."""
    a, b, c = float(d @ d), 2.0 * float(s @ d), float(s @ s) - radius**2
    if a == 0:
        return 0.0
    return (-b + np.sqrt(max(b * b - 4 * a * c, 0.0))) / (2 * a)


# ---------------------------------------------------------------------------------------------- the solver
class _Solver:
    """One run of :func:`stationary`: the iterate, its paths, the budget, the bound."""

    def __init__(self, obj: _Objective, target: str, tol: float, max_iter: int, dense: bool,
                 mover: _Mover, max_move: float | None, bar: Any, gauss_newton: bool = False):
        self.obj, self.target, self.tol, self.max_iter, self.dense = obj, target, tol, max_iter, dense
        self.gauss_newton, self.gn_steps, self.newton_iterations = gauss_newton, 0, 0
        self.fit_mode = "gram"  # how the Gauss-Newton steps are solved: "gram", "formed" or "lsqr" (see stationary)
        self.mover, self.max_move, self.bar = mover, max_move, bar
        self.y = obj.y0()
        self.nu, self.F, self.g, self.r = obj.fun_grad(self.y)
        self.g0 = float(np.linalg.norm(self.g))
        self.residuals, self.losses, self.moves = [self.r], [self.F], [0.0]
        self.iterations, self.wanted, self.status = 0, None, None
        self.H = None  # the projected dense Hessian at the iterate (dense mode)
        self.h = None  # the Hessian scale (see _scale)

    # -- helpers -----------------------------------------------------------------------------------
    def _move(self, y: FloatArray, nu: Measure) -> float:
        return self.mover(y.reshape(self.obj.shape) / self.obj.root, nu.offset, live_only=True)

    def _operator(self):
        """The projected Hessian $P H P$ at the iterate, as a function, and the projector (the identity for the
        Levenberg-Marquardt iteration, whose damping already keeps the steps along symmetry orbits short: there a
        projection would forbid the moves along an orbit that lead to its degenerate end, e.g. $a_j \\to 0$)."""
        proj = _Projector(self.obj, self.nu) if self.target == "minimum" else _Identity()
        self.H = None
        if self.dense:
            H = self.obj.hess(self.y)
            self.obj.products += 1
            if proj.dim:
                H = proj(proj(H).T)
            self.H = H = 0.5 * (H + H.T)

            def matvec(v):
                self.obj.products += 1
                return H @ v
        else:
            def matvec(v):
                return proj(self.obj.hessp(self.y, proj(v), self.nu))
        return matvec, proj

    def _cap(self) -> int:
        """Krylov iterations per step: a product with the formed Hessian is cheap, and in floating point a Krylov
        solve may need a few times the dimension; on products, :data:`KRYLOV_LIMIT`."""
        n = self.y.size
        return 4 * n + 20 if self.dense else min(2 * n + 20, KRYLOV_LIMIT)

    def _forcing(self, gn: float) -> float:
        """Relative Krylov tolerance $\\eta_k = \\min(1/2, |g_k| / |g_0|)$ (quadratic forcing; Eisenstat & Walker 1996)."""
        return float(np.clip(gn / max(self.g0, 1e-300), 1e-12, FORCING_MAX))

    def _accept(self, y, nu, F, g, r, move) -> None:
        self.y, self.nu, self.F, self.g, self.r = y, nu, F, g, r
        self.residuals.append(r)
        self.losses.append(F)
        self.moves.append(move)
        self.bar.set_postfix(residual=r, loss=F, move=move, refresh=False)
        self.bar.update(1)

    def _trial(self, s: FloatArray):
        y = self.y + s
        if not np.all(np.isfinite(y)):
            return None
        nu, F, g, r = self.obj.fun_grad(y)
        if not (np.isfinite(F) and np.all(np.isfinite(g))):
            return None
        return y, nu, F, g, r, self._move(y, nu)

    def _finished(self) -> bool:
        """Set ``status`` to "converged" (residual <= tol) or "max-iter" (budget spent) when either holds."""
        if self.r <= self.tol:
            self.status = "converged"
        elif self.iterations >= self.max_iter:
            self.status = "max-iter"
        return self.status is not None

    def _too_far(self, move: float) -> bool:
        return self.max_move is not None and move > self.max_move

    # -- minima: trust region, Steihaug-CG ------------------------------------------------------------
    def minimum(self) -> None:
        """Trust-region Newton-CG. Where the Hessian model meets negative curvature, the generalised Gauss-Newton
        model (positive semidefinite) is tried as well and the better trial kept: near an interpolating minimum
        the negative curvature is the $O(|r|)$ residual term, and the Gauss-Newton step (Levenberg-Marquardt)
        converges quadratically to the zero-residual manifold, while at a strict minimum of nonzero loss the
        Newton model has no negative curvature and Newton's step is taken."""
        if self.gauss_newton:
            self.fit_phase()
            if self.status is not None:
                return
        radius = max(0.5 * float(np.linalg.norm(self.y)), 1e-3)
        cap = self._cap()
        fails = 0
        ggn = self.obj.ggn_available
        while self.status is None:
            if self._finished():
                break
            matvec, proj = self._operator()
            g = proj(self.g)
            gn = float(np.linalg.norm(g))
            if gn == 0.0:  # the gradient lies in the symmetry directions: F cannot decrease to first order
                self.status = "stalled"
                break
            # regularised Newton (Li, Fukushima, Qi & Yamashita 2004): CG on H + sigma I with sigma proportional
            # to |g|, so that near-null directions (symmetries not exact at this point) get short steps and the
            # convergence to a non-isolated minimum stays fast; the ratio test uses the unshifted model
            sigma = self._scale(matvec, proj) * SHIFT * min(1.0, gn / max(self.g0, 1e-300))
            eta = self._forcing(gn)
            models = [lambda v: matvec(v) + sigma * v]
            if ggn:
                models.append(lambda v: proj(self.obj.ggnp(self.nu, proj(v))) + sigma * v)
            while True:
                self.iterations += 1
                self.newton_iterations += 1
                best = None
                for k, model in enumerate(models):
                    s, Hs, how = _steihaug(model, g, radius, eta, cap)
                    pred = -(float(g @ s) + 0.5 * float(s @ Hs) - 0.5 * sigma * float(s @ s))
                    cand = self._judge(s, pred, how, radius)
                    logger.debug("stationary: %s step |s| %.3g (radius %.3g, %s), rho %.3g, sigma %.3g",
                                 ("Newton", "Gauss-Newton")[k], float(np.linalg.norm(s)), radius, how,
                                 cand["rho"], sigma)
                    if best is None or (cand["ok"] and (not best["ok"] or cand["F"] < best["F"])):
                        best = cand
                    if k == 0 and how != "negative":  # a positive-definite Newton model: nothing to compare
                        break
                if best["far"]:
                    if best["how"] == "interior":  # the model's own minimiser lies beyond the bound
                        self.wanted, self.status = max(self.wanted or 0.0, best["move"]), "max-move"
                        return
                    radius = 0.25 * best["norm"]
                    fails += 1
                    if fails > 60 or radius <= 1e-15 * max(1.0, float(np.linalg.norm(self.y))):
                        self.wanted, self.status = max(self.wanted or 0.0, best["move"]), "max-move"
                        return
                    continue
                if best["ok"]:
                    fails = 0
                    if best["rho"] > 0.75 and best["how"] != "interior":
                        radius *= 2.0
                    elif best["rho"] < 0.25:
                        radius = 0.25 * best["norm"]
                    self._accept(*best["trial"])
                    break
                fails += 1
                radius = 0.25 * best["norm"]
                if fails > 60 or radius <= 1e-15 * max(1.0, float(np.linalg.norm(self.y))):
                    self.status = "stalled"
                    return
                if self.iterations >= self.max_iter:
                    self.status = "max-iter"
                    return

    def fit_phase(self) -> None:
        """Gauss-Newton on the fitted values (square loss, sample data): $s = -A^+ e$, the minimum-norm solution of
        the linearised residuals $e + A s = 0$ (:meth:`_Objective.fit_system` and :func:`_min_norm_step`, or
        matrix-free :meth:`_Objective.fit_operator` and :func:`_nystrom_pcg` on $A A^\\top z = e$; :meth:`_fit_step`),
        shortened to a trust radius (at most half of $|y|$; halved on a rejection, never shrunk on a success) and
        accepted when it lowers $F$ inside the bound.

        Where the fitted values can be matched ($A$ of full row rank, $n k < m p$: the over-parameterised case),
        the stationary points nearby are zeros of $e$ and this is Newton's method for an underdetermined system:
        quadratic convergence to the zero-loss manifold, at any degeneracy of the Hessian there (its null space is
        the manifold's tangent space, which the minimum-norm step never enters; Ben-Israel 1966), and through the
        kinks of piecewise-smooth neurons (the semismooth Newton method, Qi & Sun 1993: $A$ is an element of the
        generalised Jacobian). A damped step would be slow there: the Hessian eigenvalues along the residuals run
        down to $10^{-10}$ of the largest. Where it cannot ($F$ falls by less than 10 % over 5 steps: a minimum of
        nonzero loss) or no length lowers $F$, the run goes on with the trust-region Newton method."""
        history = [self.F]
        radius = top = max(0.5 * float(np.linalg.norm(self.y)), 1e-3)  # no step longer than half the point
        n, e0 = self.obj.prob.backend.n, None
        while self.status is None:
            if self._finished():
                return
            s, As, e, e0 = self._fit_step(e0)
            sn, accepted = float(np.linalg.norm(s)), False
            for _ in range(GN_FAILS):
                self.iterations += 1
                t = min(1.0, radius / sn) if sn > 0 else 0.0
                pred = (float(e @ e) - float(np.sum((e + t * As) ** 2))) / (2 * n)
                cand = self._judge(t * s, pred, "boundary" if t < 1 else "interior", radius, accept=GN_ACCEPT)
                logger.debug("stationary: Gauss-Newton step |s| %.3g (length %.3g, radius %.3g), rho %.3g, loss %.3g",
                             sn, t, radius, cand["rho"], cand["F"])
                if cand["ok"]:  # never shrunk on success: the kinks of a relu keep rho near 0.3 at any length
                    if cand["rho"] > 0.25 and t < 1:
                        radius = min(4.0 * radius, top)
                    self._accept(*cand["trial"])
                    self.gn_steps, accepted = self.gn_steps + 1, True
                    break
                if cand["far"]:  # how far the whole Gauss-Newton step goes (toward the zero-loss point)
                    full = self._move(self.y + s, self.nu) if t < 1 else cand["move"]
                    self.wanted = max(self.wanted or 0.0, full, cand["move"])
                radius = 0.5 * t * sn
                if self.iterations >= self.max_iter or radius <= 1e-15 * max(1.0, float(np.linalg.norm(self.y))):
                    break
            if not accepted:  # no Gauss-Newton step lowers F: the Newton trust region takes over
                logger.debug("stationary: no Gauss-Newton step lowers the loss; to Newton")
                return
            history.append(self.F)
            k, factor = GN_SLOW
            if len(history) > k and history[-1] > factor * history[-1 - k]:
                logger.debug("stationary: Gauss-Newton converges slowly (a minimum of nonzero loss); to Newton")
                return

    def _fit_step(self, e0: float | None) -> tuple[FloatArray, FloatArray, FloatArray, float | None]:
        """The Gauss-Newton step $s = -A^+ e$ at the iterate, $A s$, the residuals $e$ and $|e_0|$ (the first
        residuals' norm, for the Krylov forcing term), by the phase's ``fit_mode`` (see :func:`_fit_mode`)."""
        obj, mode = self.obj, self.fit_mode
        if mode == "gram":  # s = -A^T K^+ e, A^T z one vjp pass; A s = -K z
            K, e = obj.fit_gram(self.nu)
            z = _gram_solve(K, e, self.y.size)
            return -obj.fit_operator(self.nu)[0].rmatvec(z), -(K @ z), e, e0
        if mode == "formed":
            A, e = obj.fit_system(self.nu)
            s = _min_norm_step(A, e)
            return s, A @ s, e, e0
        op, e = obj.fit_operator(self.nu)
        e0 = float(np.linalg.norm(e)) if e0 is None else e0
        eta = float(np.clip(np.linalg.norm(e) / max(e0, 1e-300), 1e-12, FORCING_MAX))
        if mode == "pcg":  # K z = e matrix-free, K v = A (A^T v)
            z, res = _nystrom_pcg(lambda v: op.matvec(op.rmatvec(v)), e, eta, GN_KRYLOV,
                                  np.random.default_rng(self.gn_steps))
            return -op.rmatvec(z), -(e - res), e, e0
        # LSQR from 0: the minimum-norm solution; stopped on |e + A s| <= eta |e| (btol), not on |A^T(e + A s)|
        # (atol: met early where e lies along the small singular values of A, which the step must resolve)
        s = spla.lsqr(op, -e, atol=1e-14, btol=eta, iter_lim=GN_KRYLOV)[0]
        return s, op.matvec(s), e, e0

    def _judge(self, s: FloatArray, pred: float, how: str, radius: float, accept: float = 1e-4) -> dict:
        """Evaluate a trust-region trial: its ratio of actual to predicted decrease and whether it is acceptable.
        Where $F$ cannot resolve the predicted decrease (near convergence), a lower $|\\nabla F|$ decides."""
        out = {"ok": False, "rho": float("nan"), "F": np.inf, "how": how, "norm": float(np.linalg.norm(s)),
               "far": False, "move": 0.0, "trial": None}
        trial = self._trial(s)
        if trial is None:
            return out
        y, nu, F, gt, r, move = trial
        out.update(F=F, move=move, trial=trial, far=self._too_far(move))
        if out["far"]:
            return out
        noise = 1e3 * _EPS * max(abs(self.F), abs(F), 1e-300)
        if pred > noise:
            out["rho"] = (self.F - F) / pred
            out["ok"] = out["rho"] > accept
        else:
            out["rho"] = 1.0
            out["ok"] = F <= self.F + noise and np.linalg.norm(gt) < np.linalg.norm(self.g)
        return out

    # -- any index: Levenberg-Marquardt on grad F = 0 ---------------------------------------------------
    def any_index(self) -> None:
        """$s = \\arg\\min |g + H s|^2 + \\mu |s|^2$ with $\\mu = \\lambda_k h^2 |g_k|/|g_0|$ ($h$ the Hessian scale):
        the Levenberg-Marquardt method with $\\mu \\propto |\\nabla F|$, which converges quadratically also to
        non-isolated stationary points (Fan & Yuan 2005); $\\lambda_k$ follows the ratio of actual to predicted
        decrease of $|\\nabla F|^2$."""
        n = self.y.size
        cap = self._cap()
        lam = 1e-8
        while self.status is None:
            if self._finished():
                break
            matvec, proj = self._operator()
            op = spla.LinearOperator((n, n), matvec=matvec, rmatvec=matvec, dtype=float)
            g = proj(self.g)
            gn = float(np.linalg.norm(g))
            h = self._scale(matvec, proj)
            rel = gn / max(self.g0, 1e-300)
            eta = self._forcing(gn)
            while True:
                self.iterations += 1
                mu = lam * h * h * min(rel, 1.0)
                out = spla.lsqr(op, -g, damp=np.sqrt(mu), atol=eta, btol=eta, iter_lim=cap)
                s, fit = out[0], float(out[3])
                pred = gn**2 - fit**2
                trial = self._trial(s)
                ok, rho = False, 0.0
                if trial is not None:
                    y, nu, F, gt, r, move = trial
                    if self._too_far(move):  # a damped step is shorter than Newton's: the point lies beyond the bound
                        self.wanted, self.status = move, "max-move"
                        return
                    gt_n = float(np.linalg.norm(proj(gt)))
                    rho = (gn**2 - gt_n**2) / pred if pred > 0 else -1.0
                    ok = rho > 1e-4
                logger.debug("stationary: Levenberg-Marquardt step |s| %.3g, lambda %.3g, mu %.3g, rho %.3g, %s",
                             float(np.linalg.norm(s)), lam, mu, rho, "accepted" if ok else "rejected")
                if ok:
                    self._accept(y, nu, F, gt, r, move)
                    lam = max(lam / 4.0, 1e-8) if rho > 0.75 else (lam * 4.0 if rho < 0.25 else lam)
                    break
                lam = max(lam, 1e-8) * 16.0
                if lam > 1e16:
                    self.status = "stalled"
                    return
                if self.iterations >= self.max_iter:
                    self.status = "max-iter"
                    return

    def _scale(self, matvec, proj) -> float:
        """The Hessian scale $h = |H v| / |v|$ for a fixed random $v$ (the root-mean-square eigenvalue, in
        expectation; one product), measured at the first step and kept."""
        if self.h is None:
            v = proj(np.random.default_rng(0).standard_normal(self.y.size))
            vn = float(np.linalg.norm(v))
            self.h = max(float(np.linalg.norm(matvec(v))) / vn, 1e-300) if vn > 0 else 1.0
        return self.h

    # -- the saddle check ---------------------------------------------------------------------------------
    def bottom_curvature(self) -> float | None:
        """Smallest eigenvalue of $P H P$ (dense), or the smallest Ritz value of a short Lanczos run (an upper
        bound on it); None when the short run gives nothing."""
        matvec, proj = self._operator()
        n = self.y.size
        if self.H is not None:
            return float(np.linalg.eigvalsh(self.H)[0])
        op = spla.LinearOperator((n, n), matvec=matvec, dtype=float)
        v0 = proj(np.random.default_rng(0).standard_normal(n))
        try:
            vals = spla.eigsh(op, k=1, which="SA", v0=v0, ncv=min(n, 25), maxiter=4, tol=1e-6,
                              return_eigenvectors=False)
        except spla.ArpackNoConvergence as exc:
            vals = exc.eigenvalues
        return float(np.min(vals)) if len(vals) else None


# ---------------------------------------------------------------------------------------------- the public entry
def stationary(prob: Problem, mu: Measure, target: str = "minimum", *, tol: float = 1e-10, max_iter: int = 500,
               max_move: float | None = None, dense: bool | None = None, gauss_newton: bool | None = None,
               progress: bool | None = None, info: bool = False) -> Measure | tuple[Measure, StationaryInfo]:
    """Refine ``mu`` to a stationary point: $\\nabla_\\theta J_\\mu(\\theta_j) = 0$ for every $c_j \\ne 0$.

    Masses are kept; particles with $c_j = 0$ do not enter $F$ and are returned unchanged; an output bias
    (``mu.offset``) is optimised with the particles (profiled: it is always at its optimum given them). The
    particles move in the mass-weighted coordinates $y_j = \\sqrt{|c_j|}\\theta_j$ (the metric of :func:`flow`):

    * ``target="minimum"``: with sample data, the square loss and $n k \\le m p$, first Gauss-Newton on the fitted values
      (minimum-norm steps $-A^+ e$ on the residuals' Jacobian: quadratic convergence to a zero-loss minimum of an
      over-parameterised net, whose Hessian is singular there); where that converges slowly (a minimum of
      nonzero loss), trust-region Newton, the subproblem solved by truncated CG (Steihaug) on Hessian-vector
      products (if the run does not converge, Newton again from ``mu`` with the rest of the budget, the better
      kept); every accepted step lowers $F$ (or, where $F$ cannot resolve the change, $|\\nabla F|$);
    * ``"saddle"`` / ``"any"``: Levenberg-Marquardt on $\\nabla F = 0$ (damping $\\propto |\\nabla F|$, LSQR on
      Hessian-vector products); converges to the nearby stationary point of any index. ``"saddle"`` warns
      when the point found shows no negative curvature.

    Symmetry directions are projected out with a sparse basis (see the module docstring); the particle Hessian
    is formed only when $m p \\le$ :data:`DENSE_LIMIT` (1000); a minimum search on the formed Hessian that stalls
    (with $m p \\le$ :data:`FALLBACK_LIMIT`, 3000, under ``dense=True``) is finished by :func:`_dense_polish`.
    Non-convergence is not an error: a ``RuntimeWarning`` is issued and the best point found is returned.

    Parameters
    ----------
    prob : Problem
    mu : Measure
        Starting point (not modified).
    target : {"minimum", "saddle", "any"}
    tol : float
        Stop when $\\max_{j: c_j \\ne 0}|\\nabla_\\theta J(\\theta_j)| \\le$ ``tol`` (> 0).
    max_iter : int
        Newton steps (accepted or rejected), each one Krylov solve of at most 300 Hessian-vector products
        (dense: $4mp + 20$ products with the formed Hessian).
    max_move : float or None
        Bound on the displacement from ``mu`` (:func:`displacement`: per block, relative to its weight scale).
        A Newton step that would leave it ends the run with ``status="max-move"``; the point returned is the
        last one inside the bound, and ``info.wanted_move`` says how far the step would have gone.
    dense : bool or None
        Form the particle Hessian (default: when $m p \\le 1000$) and, in the Gauss-Newton phase, the Gram matrix
        or Jacobian of the fitted values (default: see ``gauss_newton``; False: Krylov solves on jvp/vjp products).
    gauss_newton : bool or None
        The Gauss-Newton phase of a minimum search (on the $n k \\times m p$ Jacobian of the fitted values).
        None (default): when it applies (sample data, square loss, ``reg = 0``), the net is over-parameterised
        (no more fitted values $n k$ than parameters $m p$: the stationary points nearby are then zeros of the
        residuals); each step through the $n k \\times n k$ Gram matrix $A A^\\top$ (accumulated over blocks of
        particles: memory $(n k)^2$ whatever $m$) when $n k \\le$ :data:`GN_GRAM_LIMIT` (5000), else a
        Nystrom-preconditioned CG solve on jvp/vjp products; True: also with more fitted values than parameters
        (the least-squares Gauss-Newton step); False: Newton only.
    progress : bool or None
        A progress report, one update per Newton step with the residual, loss and displacement; None: only on
        a terminal or in a notebook.
    info : bool
        Also return a :class:`StationaryInfo` (status, residual/loss/displacement paths, products, message).

    Returns
    -------
    Measure, or (Measure, StationaryInfo) with ``info=True``
        The refined measure (same family and masses).
    """
    if not isinstance(prob, Problem):
        raise DataError(f"prob: expected an mf.Problem, got {type(prob).__name__}")
    mu = prob._measure(mu)
    if not isinstance(target, str) or target not in TARGETS:
        raise MeasureError(f"target: expected one of {TARGETS}, got {target!r}")
    tol = positive_float(tol, "tol", MeasureError)
    max_iter = positive_int(max_iter, "max_iter", MeasureError)
    max_move = None if max_move is None else positive_float(max_move, "max_move", MeasureError)
    dense = bool_arg(dense, "dense", MeasureError, allow_none=True)
    progress = bool_arg(progress, "progress", MeasureError, allow_none=True)
    info = bool_arg(info, "info", MeasureError)
    gauss_newton = bool_arg(gauss_newton, "gauss_newton", MeasureError, allow_none=True)
    if gauss_newton and target != "minimum":
        raise MeasureError(f"gauss_newton: the Gauss-Newton phase is part of a minimum search, not target={target!r}")
    start = time.perf_counter()
    if not (mu.masses != 0).any():
        out = mu.copy()
        rep = StationaryInfo("converged", target, tol, np.zeros(1), np.array([prob.loss(mu)]), np.zeros(1),
                             max_move, None, 0, 0, "nothing to do (every mass is zero)", 0.0,
                             "every mass is zero: F does not depend on the particles; nothing moved")
        return (out, rep) if info else out
    obj = _Objective(prob, mu)
    n = obj.shape[0] * obj.shape[1]
    dense_arg = dense
    if dense is None:
        dense = n <= DENSE_LIMIT
    fit = obj.fit_size()
    if gauss_newton and fit is None:
        raise MeasureError("gauss_newton: the Gauss-Newton phase needs sample data, the square loss and reg = 0; "
                           f"this problem has {type(prob.data).__name__} data, loss {prob.loss_name!r}, reg {prob.reg}")
    if gauss_newton is None:
        gauss_newton = target == "minimum" and fit is not None and fit[0] <= fit[1]
    # the Jacobian of the fitted values is formed below a size (dense=True/False forces either way), as the Hessian
    fit_mode = None if not fit else _fit_mode(fit, dense_arg)
    scales, S = prob.weight_scales(mu)
    mover = _Mover(prob, mu, scales, S)
    bar = progress_bar(desc="mf.stationary", enabled=progress)
    try:
        solver = _run(obj, target, tol, max_iter, dense, mover, max_move, bar, gauss_newton, fit_mode, dense)
        left = max_iter - solver.iterations
        if gauss_newton and solver.status != "converged" and target == "minimum" and left > 0:
            # a Gauss-Newton start that did not lead to convergence (e.g. a sample on a relu kink it cannot
            # cross) must not cost the Newton method's result: Newton again from the given point with the rest of
            # the budget, the better result kept
            retry = _run(obj, target, tol, left, dense, mover, max_move, bar, False, fit_mode, dense)
            retry.iterations += solver.iterations
            if retry.status == "converged" or retry.r < solver.r:
                retry.retried = solver.gn_steps
                solver = retry
        lam = solver.bottom_curvature() if target == "saddle" and solver.status == "converged" else None
    finally:
        bar.close()
    # the path starts at the measure as given (its bias not yet profiled); without an accepted step it is returned
    # unchanged, bit for bit (the round trip through the mass-weighted coordinates would move it by an ulp)
    solver.residuals[0], solver.losses[0] = prob.residual(mu), prob.loss(mu)
    out = obj.full(solver.y) if len(solver.residuals) > 1 else mu.copy()
    if solver.status == "converged" and len(solver.residuals) == 1 and solver.residuals[0] > tol:
        out = obj.full(solver.y)  # only the profiled bias was missing: that is the step
        solver.residuals.append(prob.residual(out))
        solver.losses.append(prob.loss(out))
        solver.moves.append(0.0)
    moves = np.array(solver.moves)
    moves[-1] = mover(out.particles, out.offset)  # the returned point exactly (its bias profiled)
    kind = "dense Hessian" if dense else "Hessian-vector products"
    fallback = "; then the dense fallback (trust-exact, saddle-free Newton)" if getattr(solver, "fallback", False) else ""
    parts = []
    if getattr(solver, "retried", None) is not None:
        parts.append(f"Gauss-Newton on the fitted values ({solver.retried} steps accepted) did not converge; "
                     "from the given point again")
    if solver.gauss_newton:
        parts.append(f"Gauss-Newton on the fitted values (minimum-norm steps {_FIT_MODES[fit_mode]}, "
                     f"{solver.gn_steps} accepted)")
    if target != "minimum":
        parts.append(f"Levenberg-Marquardt on grad F (LSQR) on {kind}, symmetry directions damped")
    elif solver.newton_iterations or not solver.gauss_newton:
        parts.append(f"trust-region Newton-CG (Steihaug), Gauss-Newton where negative curvature, on {kind}, "
                     "symmetry directions projected out")
    method = "; then ".join(parts) + fallback
    status = solver.status
    rep = StationaryInfo(status, target, tol, np.array(solver.residuals), np.array(solver.losses), moves, max_move,
                         solver.wanted, solver.iterations, obj.products, method, time.perf_counter() - start,
                         _message(status, solver, moves[-1], max_move, tol, target), lam)
    if status != "converged":
        warnings.warn(f"stationary: residual max_j |grad J(theta_j)| = {rep.residual:.3g} > tol = {tol:.3g} "
                      f"({status}: {rep.message}); returning the best point. Try more iterations (max_iter), a better "
                      "start (e.g. mf.flow first), a larger tol or max_move.", RuntimeWarning, stacklevel=2)
    elif lam is not None and lam >= -1e-9 * max(1.0, abs(lam)):
        warnings.warn(f"stationary: target='saddle' converged to a stationary point without negative curvature "
                      f"(smallest Hessian eigenvalue {lam:.3g}); it may be a minimum.", RuntimeWarning, stacklevel=2)
    return (out, rep) if info else out


def _run(obj: _Objective, target: str, tol: float, max_iter: int, dense: bool, mover: _Mover,
         max_move: float | None, bar: Any, gauss_newton: bool, fit_mode: str | None, fallback: bool) -> _Solver:
    """One solve from the given point: the iteration of ``target``, then, for a minimum search that stalled with
    $m p \\le$ :data:`FALLBACK_LIMIT`, the dense fallback (:func:`_dense_polish`) when ``fallback`` (the Hessian is
    formed: $m p \\le$ :data:`DENSE_LIMIT` by default, or ``dense=True``)."""
    solver = _Solver(obj, target, tol, max_iter, dense, mover, max_move, bar, gauss_newton)
    solver.fit_mode = fit_mode
    if target == "minimum":
        solver.minimum()
    else:
        solver.any_index()
    n = obj.shape[0] * obj.shape[1]
    if target == "minimum" and solver.status == "stalled" and n <= FALLBACK_LIMIT and fallback:
        # from the given point first (the Krylov path may have walked onto a kink it cannot leave), then
        # from where it stalled; the best point inside the bound is kept
        for y in (_dense_polish(obj, obj.y0(), tol, max_iter), _dense_polish(obj, solver.y, tol, max_iter)):
            r = obj.residual(y)
            nu_y = obj.full(y)
            move = mover(nu_y.particles, nu_y.offset)
            if r < solver.r and (max_move is None or move <= max_move):
                break
        if r < solver.r and (max_move is None or move <= max_move):
            solver.residuals.append(r)
            solver.losses.append(obj.fun(y))
            solver.moves.append(move)
            solver.y, solver.r = y, r
            solver.fallback = True
            if r <= tol:
                solver.status = "converged"
    return solver


_FIT_MODES = {"gram": "from the Gram matrix of the fitted values' Jacobian", "formed": "from the formed Jacobian",
              "pcg": "by Nystrom-preconditioned CG on jvp/vjp products", "lsqr": "by LSQR on jvp/vjp products"}


def _fit_mode(fit: tuple[int, int], dense: bool | None) -> str:
    """How the Gauss-Newton phase solves its steps, for $(n k, m p)$ = ``fit``: over-parameterised ($n k \\le m p$)
    through the $n k \\times n k$ Gram matrix accumulated over blocks of particles ("gram", any $m$) when
    $n k \\le$ :data:`GN_GRAM_LIMIT`, else (or with ``dense=False``) by preconditioned conjugate gradients on it
    ("pcg"); with more fitted values than parameters through the formed Jacobian ("formed") when it has at most
    :data:`GN_LIMIT` entries and $m p \\le$ :data:`GN_GRAM_LIMIT`, else (or with ``dense=False``) by LSQR."""
    N, M = fit
    if N <= M:
        return "gram" if dense or (dense is None and N <= GN_GRAM_LIMIT) else "pcg"
    return "formed" if dense or (dense is None and N * M <= GN_LIMIT and M <= GN_GRAM_LIMIT) else "lsqr"


def _dense_polish(obj: _Objective, y: FloatArray, tol: float, max_iter: int) -> FloatArray:
    """The dense fallback for a minimum search that stalled (small problems): scipy's ``trust-exact`` on the
    formed Hessian, then damped saddle-free Newton steps $\\delta = -\\sum_i v_i (v_i^\\top g)/(|\\lambda_i| + \\nu)$
    on its eigen-decomposition (a symmetry, $|\\lambda_i| \\ll \\nu$, gets a negligible step), each accepted only
    when it lowers both $|\\nabla F|$ and $F$. It gets through kinks of piecewise-linear neurons where the
    Krylov trust region stalls."""
    import scipy.optimize as spo

    gtol = tol * float(np.sqrt(np.sum(np.abs(obj.c))))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (RuntimeWarning, spo.OptimizeWarning))
        try:
            res = spo.minimize(obj.fun, y, jac=obj.grad, hess=obj.hess, method="trust-exact",
                               options={"gtol": gtol, "maxiter": 20 * max_iter})
            if np.all(np.isfinite(res.x)) and obj.fun(res.x) <= obj.fun(y):
                y = res.x
        except (ValueError, np.linalg.LinAlgError) as exc:   # NaN in the subproblem near singular minima
            logger.debug("stationary fallback: trust-exact failed (%s)", exc)
    g, r, F, nu_rel = obj.grad(y), obj.residual(y), obj.fun(y), 1e-10
    for _ in range(max_iter):
        if r <= tol:
            break
        lam, V = np.linalg.eigh(obj.hess(y))
        scale, Vg, gn = max(float(np.max(np.abs(lam))), 1e-300), V.T @ g, np.linalg.norm(g)
        for _ in range(40):
            y_new = y - V @ (Vg / (np.abs(lam) + nu_rel * scale))
            if np.all(np.isfinite(y_new)):
                g_new, F_new = obj.grad(y_new), obj.fun(y_new)
                if np.linalg.norm(g_new) < gn and F_new <= F + 1e-12 * max(1.0, abs(F)):
                    break
            nu_rel = max(nu_rel, 1e-14) * 4.0
        else:
            break
        nu_rel /= 8.0
        y, g, F = y_new, g_new, F_new
        r = obj.residual(y)
    return y


def _message(status: str, solver: _Solver, move: float, max_move: float | None, tol: float, target: str) -> str:
    r0, r1, L0, L1 = solver.residuals[0], solver.residuals[-1], solver.losses[0], solver.losses[-1]
    path = (f"residual {r0:.3g} -> {r1:.3g}, loss {L0:.10g} -> {L1:.10g} ({L1 - L0:+.3g}), moved {move:.3g} "
            f"(relative to the weight scale) in {len(solver.residuals) - 1} step(s)")
    if status == "converged":
        return f"converged: {path}"
    if status == "max-move":
        return (f"stopped at the bound: the next step toward a stationary point would move {solver.wanted:.3g} > max_move {max_move:g} "
                f"with the residual still above tol {tol:.3g}; returned the last point inside the bound ({path})")
    if status == "max-iter":
        return f"iteration budget spent (max_iter {solver.max_iter}): {path}"
    return f"stalled (no step lowered the {'loss' if target == 'minimum' else 'gradient norm'} any more): {path}"
