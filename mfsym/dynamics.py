"""Particle (mean-field) gradient flow and stationary points of $F(\\theta_1..\\theta_m) = L(\\mu)$ (docs/mathematics.md, first variation and flow).

:func:`flow` integrates $\\dot\\theta_j = -\\mathrm{sign}(c_j)\\nabla_\\theta J_\\mu(\\theta_j)$ with fixed masses;
:func:`stationary` (implemented in ``mfsym._stationary``, re-exported here) refines a measure to a point where
$\\nabla_\\theta J_\\mu(\\theta_j) = 0$ for every particle with $c_j \\ne 0$, matrix-free.

References
----------
Chizat & Bach 2018 (arXiv 1805.09545), §2: particle gradient flow, its mean-field limit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._errors import DataError, MeasureError
from ._jax import JaxSampleBackend  # the class only: jax itself is imported when a JAX backend is built
from ._progress import progress as progress_bar
from ._stationary import StationaryInfo, stationary
from ._types import FloatArray
from ._validate import bool_arg, positive_float, positive_int
from .measure import Measure
from .problem import Problem

__all__ = ["StationaryInfo", "Trajectory", "flow", "stationary"]

logger = logging.getLogger(__name__)  # diagnostics; progress goes to "mfsym.progress"



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
    dt = positive_float(dt, "dt", MeasureError)
    adaptive = bool_arg(adaptive, "adaptive", MeasureError)
    tol = positive_float(tol, "tol", MeasureError, allow_zero=True)
    record_every = None if record_every is None else positive_int(record_every, "record_every", MeasureError)
    min_dt = dt * 2.0**-40 if min_dt is None else positive_float(min_dt, "min_dt", MeasureError)
    progress = bool_arg(progress, "progress", MeasureError, allow_none=True)

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
