"""Particle (mean-field) gradient flow and stationary points of $F(\\theta_1..\\theta_m) = L(\\mu)$ (docs/mathematics.md, first variation and flow).

:func:`flow` integrates $\\dot\\theta_j = -\\mathrm{sign}(c_j)\\nabla_\\theta J_\\mu(\\theta_j)$ with fixed masses;
:func:`stationary` refines a measure to a point where $\\nabla_\\theta J_\\mu(\\theta_j) = 0$ for every particle
with $c_j \\ne 0$, with the exact particle gradient and Hessian of :class:`~mfsym.problem.Problem`.

References
----------
Chizat & Bach 2018 (arXiv 1805.09545), §2: particle gradient flow, its mean-field limit.
Nocedal & Wright, *Numerical Optimization* (2006), §4 (trust regions) and §3.1 (backtracking).
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.optimize as spo
import scipy.sparse.linalg as spla

from ._errors import DataError, MeasureError
from ._jax import JaxSampleBackend  # the class only: jax itself is imported when a JAX backend is built
from ._progress import progress as progress_bar
from ._types import FloatArray
from ._validate import positive_int
from .measure import Measure
from .problem import Problem

__all__ = ["Trajectory", "flow", "stationary"]

logger = logging.getLogger(__name__)  # diagnostics; progress goes to "mfsym.progress"

TARGETS = ("minimum", "saddle", "any")
DENSE_LIMIT = 3000  # largest m*p for which stationary() forms the dense particle Hessian


@dataclass(frozen=True)
class Trajectory:
    """A particle flow: one entry per accepted step, the initial state first.

    Attributes
    ----------
    losses : (K+1,) array
        $L(\\mu_{t_k})$; ``losses[0]`` is the loss of the initial measure.
    times : (K+1,) array
        Flow times $t_k$ (``times[0] = 0``).
    velocity_norms : (K+1,) array
        $\\max_{j: c_j \\ne 0} |\\nabla_\\theta J_{\\mu_{t_k}}(\\theta_j)|$, the stationarity residual at $t_k$.
    measure : Measure
        The final measure (same masses as the initial one).
    snapshots : (S, m, p) array
        Particles at the recorded steps ``snapshot_steps`` (every ``record_every`` steps, plus the last).
    snapshot_steps : (S,) int array
        Indices into ``times``/``losses`` of the snapshots.
    stopped : str
        ``"steps"`` (all steps done), ``"velocity"`` (velocity norm <= ``tol``), ``"stalled"`` (the
        adaptive step fell below ``min_dt`` without decreasing the loss) or ``"diverged"`` (a fixed
        step produced a non-finite loss; the last finite state is kept).
    rejected : int
        Number of rejected trial steps (adaptive mode).
    """

    losses: FloatArray
    times: FloatArray
    velocity_norms: FloatArray
    measure: Measure
    snapshots: FloatArray
    snapshot_steps: np.ndarray
    stopped: str
    rejected: int = 0

    @property
    def snapshot_times(self) -> FloatArray:
        """Flow times of the snapshots ``(S,)``."""
        return self.times[self.snapshot_steps]

    def _repr_html_(self) -> str:
        from ._display import trajectory_html

        return trajectory_html(self)

    def __repr__(self) -> str:
        return (f"Trajectory({len(self.times) - 1} steps to t = {self.times[-1]:.4g}, loss {self.losses[0]:.4g} -> "
                f"{self.losses[-1]:.4g}, |v| {self.velocity_norms[-1]:.3g}, stopped: {self.stopped})")


# ---------------------------------------------------------------------------------------------- validation
def _problem(prob: Any) -> Problem:
    if not isinstance(prob, Problem):
        raise DataError(f"prob: expected an mf.Problem, got {type(prob).__name__}")
    return prob


def _positive_float(value: Any, name: str, allow_zero: bool = False) -> float:
    ok = not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))
    if ok:
        value = float(value)
        ok = np.isfinite(value) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        raise MeasureError(f"{name}: expected a finite number {'>= 0' if allow_zero else '> 0'}, got {value!r}")
    return value


def _flag(value: Any, name: str, allow_none: bool = False) -> bool | None:
    if value is None and allow_none:
        return None
    if not isinstance(value, (bool, np.bool_)):
        raise MeasureError(f"{name}: expected True or False{' or None' if allow_none else ''}, got {value!r}")
    return bool(value)


# ---------------------------------------------------------------------------------------------- flow
def flow(prob: Problem, mu: Measure, steps: int, dt: float = 0.1, *, adaptive: bool = True, tol: float = 0.0,
         record_every: int | None = None, min_dt: float | None = None, progress: bool | None = None) -> Trajectory:
    """Particle gradient flow $\\dot\\theta_j = -\\mathrm{sign}(c_j)\\,\\nabla_\\theta J_\\mu(\\theta_j)$, masses fixed.

    This is the gradient flow of $F(\\theta_1..\\theta_m) = L(\\sum_j c_j\\delta_{\\theta_j})$ in the metric
    $\\sum_j |c_j|\\,|\\dot\\theta_j|^2$, so $\\frac{d}{dt}L = -\\sum_j |c_j|\\,|\\nabla J_\\mu(\\theta_j)|^2 \\le 0$;
    with $c_j = 1/m$ it is $\\dot\\theta = -m\\nabla F$ and tends to the Wasserstein gradient flow
    $\\partial_t\\mu = \\mathrm{div}(\\mu\\nabla J_\\mu)$ as $m \\to \\infty$ (Chizat & Bach 2018, §2).
    Particles with $c_j = 0$ do not act on the model; they move as **test particles** in the field,
    with sign $+1$ (the frozen-field escape dynamics of docs/mathematics.md, escaping sets). An output bias
    $\\beta$ (``mu.offset``) flows with them, $\\dot\\beta = -\\partial_\\beta L = -\\frac1n\\sum_i r_i$.

    Time stepping is explicit Euler, $\\theta_j \\leftarrow \\theta_j - h\\,\\mathrm{sign}(c_j)\\nabla J_\\mu(\\theta_j)$.
    With ``adaptive=True`` (default) a trial step is accepted only if the loss does not increase and
    is finite; otherwise $h$ is halved and the step retried. After an accepted step $h$ doubles, up to
    ``dt``. So the recorded losses never increase, and with a ``dt`` that is stable the run is plain
    Euler with step ``dt``. With ``adaptive=False`` every step has length ``dt`` (the run stops with
    ``stopped="diverged"`` if the loss becomes non-finite).

    Parameters
    ----------
    prob : Problem
    mu : Measure
        Initial measure $\\sum_j c_j \\delta_{\\theta_j}$ (not modified).
    steps : int
        Maximum number of accepted steps (>= 1).
    dt : float
        Step length, and the largest step in adaptive mode (> 0).
    adaptive : bool
        Backtracking step control (see above).
    tol : float
        Stop when $\\max_{j: c_j \\ne 0} |\\nabla J_\\mu(\\theta_j)| \\le$ ``tol`` (>= 0; 0 stops only at an
        exact zero).
    record_every : int or None
        Keep a particle snapshot every ``record_every`` accepted steps (the initial and final states
        are always kept; None keeps only those two).
    min_dt : float or None
        Smallest adaptive step before the run stops as ``"stalled"`` (default ``dt * 2**-40``).
    progress : bool or None
        A progress report (tqdm bar on a terminal or in a notebook, else ``logging`` lines; see
        ``mfsym._progress``) with the step, time, loss and velocity norm. None: only on a terminal or in a
        notebook.

    Returns
    -------
    Trajectory
        ``.losses`` (initial loss first), ``.times``, ``.velocity_norms``, ``.measure`` (final),
        ``.snapshots``, ``.stopped``.
    """
    prob = _problem(prob)
    mu = prob._measure(mu)
    steps = positive_int(steps, "steps", MeasureError)
    dt = _positive_float(dt, "dt")
    adaptive = _flag(adaptive, "adaptive")
    tol = _positive_float(tol, "tol", allow_zero=True)
    record_every = None if record_every is None else positive_int(record_every, "record_every", MeasureError)
    min_dt = dt * 2.0**-40 if min_dt is None else _positive_float(min_dt, "min_dt")
    progress = _flag(progress, "progress", allow_none=True)

    c = mu.masses
    sign = np.where(c < 0, -1.0, 1.0)[:, None]
    live = c != 0
    # an output bias is one more row of the state, with velocity -mean residual (weight 1 in the metric)
    biased = mu.offset is not None

    def at(P: FloatArray) -> Measure:
        return Measure(mu.family, P[:-1], c, P[-1, :mu.family.out_dim]) if biased else Measure(mu.family, P, c)

    def loss_at(P: FloatArray) -> float:
        if not np.all(np.isfinite(P)):
            return np.inf
        return prob.loss(at(P))

    def grad_at(P: FloatArray) -> tuple[FloatArray, float]:
        nu = at(P)
        G = prob.grad_potential(nu, nu.particles)
        vn = float(np.max(np.linalg.norm(G[live], axis=1))) if live.any() else 0.0
        if biased:
            gb = np.zeros((1, mu.family.p))
            gb[0, :mu.family.out_dim] = prob.offset_gradient(nu)
            G = np.vstack([G, gb])
            vn = max(vn, float(np.linalg.norm(gb)))
        return G, vn

    if biased:
        sign = np.vstack([sign, [[1.0]]])
        P = np.vstack([mu.particles, np.zeros((1, mu.family.p))])
        P[-1, :mu.family.out_dim] = mu.offset
    else:
        P = mu.particles.copy()
    fused = isinstance(prob.backend, JaxSampleBackend)
    if fused:  # one compiled call per trial step: the state stays a JAX array, loss and velocity in one pass
        trial = prob.backend.flow_step(c, biased, prob.reg)
        P, sign = prob.backend.to_device(P), prob.backend.to_device(sign)
        P, L, G, vn = trial(P, prob.backend.to_device(np.zeros(P.shape)), 0.0, sign)
        L, vn = float(L), float(vn)
    else:
        L = loss_at(P)
        G, vn = grad_at(P)
    losses, times, vnorms = [L], [0.0], [vn]
    snaps, snap_steps = [np.array(P)], [0]
    t, h, k, rejected, stopped = 0.0, dt, 0, 0, "steps"
    bar = progress_bar(total=steps, desc="mf.flow", enabled=progress)
    try:
        while k < steps:
            if vn <= tol:
                stopped = "velocity"
                break
            step = None if fused else sign * G
            while True:
                if fused:
                    P_new, L_new, G_new, vn_new = trial(P, G, h, sign)
                    L_new = float(L_new)
                else:
                    P_new = P - h * step
                    L_new = loss_at(P_new)
                if not adaptive or L_new <= L:
                    break
                rejected += 1
                h *= 0.5
                if h < min_dt:
                    stopped = "stalled"
                    break
            if stopped == "stalled":
                break
            if not np.isfinite(L_new):
                stopped = "diverged"
                break
            P, L, t, k = P_new, L_new, t + h, k + 1
            G, vn = (G_new, float(vn_new)) if fused else grad_at(P)
            losses.append(L)
            times.append(t)
            vnorms.append(vn)
            if record_every is not None and k % record_every == 0:
                snaps.append(np.array(P))
                snap_steps.append(k)
            if adaptive:
                h = min(dt, 2.0 * h)
            bar.update(1)
            if k % 25 == 0 or k == steps:  # formatting the postfix every step would cost more than tiny steps
                bar.set_postfix(t=t, loss=L, v=vn, refresh=False)
    finally:
        bar.close()
    P = np.array(P)
    if snap_steps[-1] != k:
        snaps.append(P.copy())
        snap_steps.append(k)
    final, snaps = (at(P), [s[:-1] for s in snaps]) if biased else (mu.copy(particles=P), snaps)
    return Trajectory(np.array(losses), np.array(times), np.array(vnorms), final, np.stack(snaps),
                      np.array(snap_steps, dtype=int), stopped, rejected)


# ---------------------------------------------------------------------------------------------- stationary points
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

    def fun(self, y):
        return self.prob.loss(self.measure(y))

    def grad(self, y):
        nu = self.measure(y)
        return (self.prob.particle_gradient(nu) / self.root).ravel()

    def residual(self, y) -> float:
        nu = self.measure(y)
        return float(np.max(np.linalg.norm(self.prob.grad_potential(nu, nu.particles), axis=1)))

    def hess(self, y):
        s = np.repeat(1.0 / self.root[:, 0], self.shape[1])
        return self.prob.particle_hessian(self.measure(y)) * s[:, None] * s[None, :]

    def hessp(self, y, v):
        V = v.reshape(self.shape) / self.root
        return (self.prob.hvp(self.measure(y), V) / self.root).ravel()


class _NewtonSolver:
    """Damped Newton steps on $\\nabla F = 0$ that ignore the (near-)null space of the Hessian.

    With $H = \\sum_i \\lambda_i v_i v_i^\\top$ and damping $\\nu \\ge 0$ (Levenberg-Marquardt on the
    gradient: $\\min_\\delta |g + H\\delta|^2 + \\nu^2|\\delta|^2$, Nocedal & Wright §10.3),
    $\\delta = -\\sum_i v_i\\, \\lambda_i (v_i^\\top g)/(\\lambda_i^2 + \\nu^2)$; for ``target="minimum"`` the
    saddle-free step $\\delta = -\\sum_i v_i (v_i^\\top g)/(|\\lambda_i| + \\nu)$. A direction with
    $|\\lambda_i| \\ll \\nu$ (a symmetry) gets a negligible step instead of a huge one. Matrix-free: LSQR
    with ``damp`` $= \\nu$ on Hessian-vector products.
    """

    def __init__(self, obj: _Objective, y: FloatArray, target: str, dense: bool):
        self.g, self.target, self.dense = obj.grad(y), target, dense
        if dense:
            self.lam, self.V = np.linalg.eigh(obj.hess(y))
            self.scale = max(float(np.max(np.abs(self.lam))), 1e-300)
            self.Vg = self.V.T @ self.g
        else:
            n = y.size
            self.op = spla.LinearOperator((n, n), matvec=lambda v: obj.hessp(y, v), rmatvec=lambda v: obj.hessp(y, v),
                                          dtype=float)
            self.scale = max(float(np.linalg.norm(obj.hessp(y, self.g)) / max(np.linalg.norm(self.g), 1e-300)), 1e-300)

    def step(self, nu: float) -> FloatArray:
        if self.dense:
            lam = self.lam
            f = 1.0 / (np.abs(lam) + nu) if self.target == "minimum" else lam / (lam**2 + nu**2)
            return -self.V @ (f * self.Vg)
        return spla.lsqr(self.op, -self.g, damp=nu, atol=1e-14, btol=1e-14, iter_lim=20 * self.g.size)[0]


def stationary(prob: Problem, mu: Measure, target: str = "minimum", *, tol: float = 1e-10, max_iter: int = 100,
               dense: bool | None = None, progress: bool | None = None) -> Measure:
    """Refine ``mu`` to a stationary point: $\\nabla_\\theta J_\\mu(\\theta_j) = 0$ for every $c_j \\ne 0$.

    Masses are kept; particles with $c_j = 0$ do not enter $F$ and are returned unchanged; an output bias
    (``mu.offset``) is optimised with the particles (profiled: it is always at its optimum given them). The
    particles are moved in the mass-weighted coordinates $y_j = \\sqrt{|c_j|}\\theta_j$ (the metric of
    :func:`flow`), with the exact particle gradient and Hessian (docs/mathematics.md, Hessians):

    * ``target="minimum"``: a trust-region method (scipy ``trust-exact`` on the dense Hessian when
      $m p \\le 3000$; Nocedal & Wright §4), else L-BFGS, then damped saddle-free Newton polishing
      $\\delta \\approx -|H|^{+} g$ (matrix-free: LSQR on Hessian-vector products).
    * ``target="saddle"`` / ``"any"``: Newton on $\\nabla F = 0$, $\\delta = -H^{+}g$, which converges to the
      nearby stationary point of any index; ``"saddle"`` also warns when the point found has no
      negative curvature.

    The pseudo-inverse drops eigenvalues below $10^{-11}\\max|\\lambda|$, so the null directions that
    symmetries create (permuted or duplicated particles, the relu rescaling $(a, w) \\to (ta, w/t)$) do
    not spoil the steps; each step is backtracked until $|\\nabla_y F|$ decreases. Non-convergence is
    not an error: a ``RuntimeWarning`` is issued and the best point found is returned — check
    ``prob.residual(result)``.

    Parameters
    ----------
    prob : Problem
    mu : Measure
        Starting point (not modified).
    target : {"minimum", "saddle", "any"}
    tol : float
        Stop when $\\max_{j: c_j \\ne 0}|\\nabla_\\theta J(\\theta_j)| \\le$ ``tol`` (> 0).
    max_iter : int
        Maximum number of Newton iterations (and 20x that for the trust-region phase).
    dense : bool or None
        Use the dense particle Hessian; default when $m p \\le 3000$.
    progress : bool or None
        A progress report counting the iterations (with the residual in the Newton phase); None: only on
        a terminal or in a notebook.

    Returns
    -------
    Measure
        The refined measure (same family and masses); its residual is ``prob.residual(result)``.
    """
    prob = _problem(prob)
    mu = prob._measure(mu)
    if not isinstance(target, str) or target not in TARGETS:
        raise MeasureError(f"target: expected one of {TARGETS}, got {target!r}")
    tol = _positive_float(tol, "tol")
    max_iter = positive_int(max_iter, "max_iter", MeasureError)
    dense = _flag(dense, "dense", allow_none=True)
    progress = _flag(progress, "progress", allow_none=True)
    if not (mu.masses != 0).any():
        return mu.copy()
    obj = _Objective(prob, mu)
    if dense is None:
        dense = obj.shape[0] * obj.shape[1] <= DENSE_LIMIT
    y = obj.y0()
    bar = progress_bar(desc="mf.stationary", enabled=progress)
    count = lambda *_: bar.update(1)  # noqa: E731 - scipy's per-iteration callback

    if target == "minimum" and obj.residual(y) > tol:
        gtol = tol * float(np.sqrt(np.sum(np.abs(obj.c))))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", (RuntimeWarning, spo.OptimizeWarning))
            res = None
            if dense:
                try:
                    res = spo.minimize(obj.fun, y, jac=obj.grad, hess=obj.hess, method="trust-exact",
                                       options={"gtol": gtol, "maxiter": 20 * max_iter}, callback=count)
                except (ValueError, np.linalg.LinAlgError) as exc:
                    # trust-exact's subproblem can produce NaN near converged, singular minima
                    # (e.g. relu population minima); fall back to L-BFGS, then Newton polishing below
                    logger.debug("stationary: trust-exact failed (%s: %s); L-BFGS instead", type(exc).__name__, exc)
                    res = None
            if res is None:  # scipy's trust-krylov can feed NaN to hessp on singular Hessians; L-BFGS is robust
                res = spo.minimize(obj.fun, y, jac=obj.grad, method="L-BFGS-B",
                                   options={"gtol": gtol, "ftol": 1e-15, "maxiter": 50 * max_iter}, callback=count)
        if np.all(np.isfinite(res.x)) and obj.fun(res.x) <= obj.fun(y):
            y = res.x

    g = obj.grad(y)
    r = obj.residual(y)
    F = obj.fun(y)
    nu_rel = 1e-10  # damping relative to the Hessian scale; adapted as in Levenberg-Marquardt
    for _ in range(max_iter):
        if r <= tol:
            break
        solver = _NewtonSolver(obj, y, target, dense)
        gn, accepted = np.linalg.norm(g), False
        for _ in range(40):
            y_new = y + solver.step(nu_rel * solver.scale)
            if np.all(np.isfinite(y_new)):
                g_new = obj.grad(y_new)
                F_new = obj.fun(y_new)
                ok = np.linalg.norm(g_new) < gn
                if target == "minimum":
                    ok = ok and F_new <= F + 1e-12 * max(1.0, abs(F))
                if ok:
                    accepted = True
                    break
            nu_rel = max(nu_rel, 1e-14) * 4.0
        if not accepted:
            break
        nu_rel = nu_rel / 8.0
        y, g, F = y_new, g_new, F_new
        r = obj.residual(y)
        bar.set_postfix(residual=r, refresh=False)
        bar.update(1)

    bar.close()
    logger.debug("stationary: residual %.3g after the trust-region phase and Newton polishing (tol %.3g)", r, tol)
    out = obj.full(y)
    if r > tol:
        warnings.warn(f"stationary: residual max_j |grad J(theta_j)| = {r:.3g} > tol = {tol:.3g} after the "
                      f"iteration limit or a failed line search (target={target!r}); returning the best point. "
                      "Try more iterations, a better start (e.g. mf.flow first) or a larger tol.",
                      RuntimeWarning, stacklevel=2)
    elif target == "saddle" and dense:
        lam = np.linalg.eigvalsh(obj.hess(y))
        lam_min = float(lam[0])
        if lam_min >= -1e-9 * max(1.0, float(np.max(np.abs(lam)))):
            warnings.warn(f"stationary: target='saddle' converged to a stationary point without negative "
                          f"curvature (smallest Hessian eigenvalue {lam_min:.3g}); it may be a minimum.",
                          RuntimeWarning, stacklevel=2)
    return out
