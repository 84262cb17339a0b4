"""Mean-field escape simulation: the numerical counterpart of the escape theorem (docs/mathematics.md, escaping sets).

From $\\mu_0 = \\mu_\\infty + \\varepsilon\\nu$, with $\\nu$ light particles of full support, run the
particle flow $\\dot\\theta_j = -\\mathrm{sign}(c_j)\\nabla J_{\\mu_t}(\\theta_j)$ (explicit Euler) and
follow, inside each escaping set, the light mass and the growth of the homogeneous variable
($|A|_F$ for output-linear families, $|\\theta|$ for homogeneous ones).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._errors import MeasureError
from ..dynamics import flow
from ..measure import Measure
from ..problem import Problem
from ._gap import inner_scale
from ._potential import ReducedPotential, cone_sign
from ._sets import EscapingSet, escaping_sets


@dataclass(frozen=True)
class EscapeSimulation:
    """Result of :func:`simulate_escape`; per-set arrays have a leading set axis ``(S, R)``.

    ``mass_in_set[s, r]``: fraction of the light mass inside set ``s`` at record ``r``;
    ``norm_in_set[s, r]``: mean growing variable of the light particles inside; ``measured_rate[s]``:
    slope of that mean (of its log for exponential growth) over the second half of the run, for the
    light particles inside at every record of that half; ``predicted_rate[s]`` the set's growth rate.
    """

    times: np.ndarray
    losses: np.ndarray
    mass_in_set: np.ndarray
    norm_in_set: np.ndarray
    measured_rate: np.ndarray
    predicted_rate: np.ndarray
    growth: tuple[str, ...]
    light_trajectories: np.ndarray = field(repr=False)
    measure: Measure = field(repr=False)
    sets: tuple[EscapingSet, ...] = field(repr=False, default=())
    method: str = ""

    def _repr_html_(self) -> str:
        from .._display import simulation_html

        return simulation_html(self)

    def __repr__(self) -> str:
        ends = ", ".join(f"{m:.3g}" for m in self.mass_in_set[:, -1]) if self.mass_in_set.size else "none"
        return f"EscapeSimulation({len(self.times)} records, {len(self.predicted_rate)} set(s), final mass inside: {ends})"


def simulate_escape(prob: Problem, mu: Measure, sets: list[EscapingSet] | None = None, *, light: int = 64,
                    light_mass: float = 1e-3, spread: float = 1.0, steps: int = 400, dt: float = 0.05,
                    record_every: int = 10, seed: int = 0) -> EscapeSimulation:
    r"""Run the mean-field flow from $\mu_\infty$ plus a light full-support perturbation.

    Parameters
    ----------
    prob, mu
        Problem and stationary measure $\mu_\infty$.
    sets : list of EscapingSet, optional
        Default: :func:`escaping_sets` of ``mu``.
    light : int
        Number of light particles, drawn i.i.d. $N(0, \mathrm{spread}^2 I)$ (inner blocks scaled by the
        particles' inner scale), total mass ``light_mass`` (signs alternate for signed-mass families).
    steps, dt, record_every : int, float, int
        Explicit Euler steps of $\dot\theta_j = -\mathrm{sign}(c_j)\nabla J_{\mu_t}(\theta_j)$.
    seed : int

    Returns
    -------
    EscapeSimulation

    References
    ----------
    Chizat & Bach 2018 (arXiv 1805.09545), Thm 3.3 and §4 (particle simulations).
    """
    if not isinstance(prob, Problem):
        raise MeasureError(f"prob: expected an mf.Problem, got {type(prob).__name__}")
    mu = prob._measure(mu)
    for name, v in (("light", light), ("steps", steps), ("record_every", record_every)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise MeasureError(f"{name}: expected an integer >= 1, got {v!r}")
    for name, v in (("light_mass", light_mass), ("spread", spread), ("dt", dt)):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.floating)) or not np.isfinite(v) or v <= 0:
            raise MeasureError(f"{name}: expected a finite number > 0, got {v!r}")
    if sets is None:
        sets = escaping_sets(prob, mu, seed=seed, certify=False)
    rp = ReducedPotential(prob, mu)
    rng = np.random.default_rng(seed)
    fam = prob.family
    L = np.asarray(spread * rng.standard_normal((light, fam.p)))
    if rp.kind == "output-linear":
        L[:, rp.structure.inner_cols] *= inner_scale(rp)
    sgn = cone_sign(mu)
    signs = np.full(light, -1.0 if sgn == 1 else 1.0)
    if sgn == 0:
        signs = np.where(np.arange(light) % 2 == 0, 1.0, -1.0)
    P = np.concatenate([mu.particles, L])
    c = np.concatenate([mu.masses, signs * light_mass / light])
    m = mu.m
    S = len(sets)
    traj = flow(prob, Measure(fam, P, c, mu.offset), steps=steps, dt=dt, adaptive=False, record_every=record_every)
    if traj.stopped == "diverged":
        raise MeasureError(f"dt: the Euler flow diverged after {len(traj.times) - 1} steps; use a smaller dt than {dt}")
    P = traj.measure.particles
    times = traj.snapshot_times
    losses = traj.losses[traj.snapshot_steps]
    traj_a = traj.snapshots[:, m:, :]
    mass, norms, inside_hist = [[] for _ in range(S)], [[] for _ in range(S)], [[] for _ in range(S)]
    with np.errstate(over="ignore", invalid="ignore"):
        for L_ in traj_a:
            for k, es in enumerate(sets):
                ins = es.contains(L_) & (np.sign(c[m:]) == -es.sign)
                inside_hist[k].append(ins)
                mass[k].append(float(ins.mean()))
                nv = es.homogeneous_norm(L_)
                norms[k].append(float(nv[ins].mean()) if ins.any() else float("nan"))
    times_a = np.asarray(times)
    measured = np.full(S, np.nan)
    for k, es in enumerate(sets):
        H = np.array(inside_hist[k])
        half = len(times_a) // 2
        keep = H[half:].all(axis=0)
        if keep.sum() and len(times_a) - half >= 2:
            nv = np.array([es.homogeneous_norm(T_)[keep] for T_ in traj_a[half:]]).mean(axis=1)
            y = np.log(nv) if es.growth == "exponential" else nv
            measured[k] = float(np.polyfit(times_a[half:], y, 1)[0])
    return EscapeSimulation(times=times_a, losses=np.array(losses), mass_in_set=np.array(mass).reshape(S, -1),
                            norm_in_set=np.array(norms).reshape(S, -1), measured_rate=measured,
                            predicted_rate=np.array([es.growth_rate for es in sets]),
                            growth=tuple(es.growth for es in sets), light_trajectories=traj_a,
                            measure=Measure(fam, P, c, traj.measure.offset), sets=tuple(sets),
                            method=f"mf.flow (explicit Euler, fixed step), {steps} steps of dt={dt}, {light} light particles of total mass "
                                   f"{light_mass} (N(0, {spread}^2))")
