r"""Data generators and known non-global stationary configurations.

Generators return ``(Samples, ground-truth Measure)``:

* :func:`teacher_student` -- labels $y = \sum_t c^*_t \varphi(\theta^*_t; x)$ (+ noise) for any family;
* :func:`deconvolution` -- the sparse-spike setting $y(x) = \sum_k a^*_k \kappa(x - t^*_k)$
  (Chizat & Bach 2018, §4).

Known non-global stationary points (for analyses and tests), each a :class:`~mfsym.measure.Measure`
polished until the stationarity residual $\max_j |\nabla J_\mu(\theta_j)|$ is small:

* :func:`width_one_fit` -- the best single neuron;
* :func:`collapsed` -- $m$ equal particles, optimised jointly as one;
* :func:`underwidth_minima` -- local minima of a width-$m$ model from many random starts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.optimize as so

from ._errors import DataError, MeasureError
from ._types import FloatArray
from ._validate import as_float_array, bool_arg, check_allocation, positive_float, positive_int, seed_arg
from .data import Samples
from .families import Family
from .families import SeparableKernel
from .measure import Measure
from .problem import Problem

__all__ = ["teacher_student", "deconvolution", "width_one_fit", "collapsed", "underwidth_minima", "LocalMinimum"]


def _nonneg(value: Any, name: str) -> float:
    return positive_float(value, name, DataError, allow_zero=True)


def _data_size(family: Family, n: int, m: int, name: str, points: str | None = None) -> None:
    """Refuse, before allocating, a data set that cannot be held: inputs ``(n, *input_shape)``, the teacher's
    features ``(m, n, k)`` (counted three times: pre-activations, features, the weighted sum) and labels."""
    k = max(family.out_dim, 1)
    nbytes = 8.0 * (n * math.prod(family.input_shape) + 3.0 * m * n * k + n * k + m * family.p)
    what = (f"the data set ({points or f'n = {n} samples'} of shape {family.input_shape}, labelled by {m} "
            f"teacher neuron{'s' if m != 1 else ''})")
    check_allocation(nbytes, name, what, DataError)


def _seed(seed: Any) -> np.random.Generator:
    return np.random.default_rng(seed_arg(seed, "seed", DataError))


def teacher_student(family: Family, teacher: Measure | None = None, *, m_teacher: int = 3, n: int = 200,
                    inputs: str = "gaussian", noise: float = 0.0, seed: int = 0,
                    scale: float = 1.0) -> tuple[Samples, Measure]:
    r"""Samples $x_i$ and labels $y_i = \sum_t c^*_t \varphi(\theta^*_t; x_i) + \varepsilon_i$.

    Parameters
    ----------
    family : Family
    teacher : Measure, optional
        Default: ``m_teacher`` particles with i.i.d. $N(0, \mathrm{scale}^2)$ entries, masses $1/m^*$.
    n : int
        Number of samples.
    inputs : {"gaussian", "sphere"}
        $x \sim N(0, I)$, or uniform on the unit sphere (each token normalised, for token inputs).
    noise : float
        Standard deviation of the Gaussian label noise $\varepsilon_i$.
    seed : int >= 0 or Generator
        Seeds the teacher, the inputs and the noise.

    Returns
    -------
    (Samples, Measure) : the data and the teacher measure.
    """
    if not isinstance(family, Family):
        raise DataError(f"family: expected an mfsym Family, got {type(family).__name__}")
    n = positive_int(n, "n", DataError)
    noise, scale = _nonneg(noise, "noise"), _nonneg(scale, "scale")
    if inputs not in ("gaussian", "sphere"):
        raise DataError(f"inputs: expected 'gaussian' or 'sphere', got {inputs!r}")
    rng = _seed(seed)
    if teacher is None:
        m_teacher = positive_int(m_teacher, "m_teacher", DataError)
        _data_size(family, n, m_teacher, "n" if n >= m_teacher else "m_teacher")
        teacher = Measure(family, family.random_particles(m_teacher, rng, scale))
    elif not isinstance(teacher, Measure):
        raise DataError(f"teacher: expected an mf.Measure or None, got {type(teacher).__name__}")
    elif teacher.family.blocks != family.blocks:
        raise DataError(f"teacher: its family has blocks {teacher.family.blocks}, expected {family.blocks}")
    _data_size(family, n, teacher.m, "n")
    X = rng.standard_normal((n,) + family.input_shape)
    if inputs == "sphere":
        X /= np.linalg.norm(X, axis=-1, keepdims=True)
    Y = np.einsum("t,tnk->nk", teacher.masses, family.phi(teacher.particles, X))
    if noise:
        Y = Y + noise * rng.standard_normal(Y.shape)
    return Samples(X, Y).bind(family), teacher


def deconvolution(family: Family, spikes: Any = None, amplitudes: Any = None, *, m_spikes: int = 3, n: int = 64,
                  grid: bool = True, noise: float = 0.0, seed: int = 0,
                  min_separation: float | None = None) -> tuple[Samples, Measure]:
    r"""Sparse-spike deconvolution: $y(x) = \sum_k a^*_k\,\kappa(x - t^*_k) + \varepsilon$ on $[0, 1)^d$.

    Parameters
    ----------
    family : Family
        A :func:`mfsym.families.deconvolution` family (blocks ``a`` ``()`` and ``t`` ``(d,)``).
    spikes : array ``(m, d)``, optional
        Positions $t^*_k$; default ``m_spikes`` uniform points on $[0, 1)^d$ at least ``min_separation``
        apart in torus distance (default $1/(4 m)$).
    amplitudes : array ``(m,)``, optional
        $a^*_k$; default random signs times $U(0.5, 1.5)$.
    n : int
        Points per axis on the regular grid $\{0, 1/n, \dots\}^d$ (``grid=True``), or the number of
        uniform random points (``grid=False``).
    noise : float
        Standard deviation of the Gaussian observation noise.
    seed : int >= 0 or Generator

    Returns
    -------
    (Samples, Measure) : the observations and the ground truth $\sum_k \delta_{(a^*_k, t^*_k)}$ (masses 1).

    References
    ----------
    Chizat & Bach 2018 (arXiv 1805.09545), §5; Candès & Fernandez-Granda 2014.
    """
    if not isinstance(family, Family) or not isinstance(getattr(family, "inner_map", None), SeparableKernel):
        raise DataError(f"family: expected an mf.families.deconvolution family, got {family!r}")
    d = family.input_shape[0]
    n = positive_int(n, "n", DataError)
    noise = _nonneg(noise, "noise")
    grid = bool_arg(grid, "grid", DataError)
    rng = _seed(seed)
    if spikes is None:
        m = positive_int(m_spikes, "m_spikes", DataError)
        sep = 1.0 / (4 * m) if min_separation is None else _nonneg(min_separation, "min_separation")
        T = np.empty((0, d))
        for _ in range(10000):
            if T.shape[0] == m:
                break
            cand = rng.uniform(0.0, 1.0, d)
            gap = np.abs(T - cand)
            if T.shape[0] == 0 or np.min(np.linalg.norm(np.minimum(gap, 1 - gap), axis=1)) >= sep:
                T = np.vstack([T, cand])
        if T.shape[0] < m:
            raise DataError(f"min_separation: could not place {m} spikes {sep} apart in [0, 1)^{d}")
    else:
        T = as_float_array(spikes, "spikes", DataError, ndim=(1, 2))
        T = T[:, None] if T.ndim == 1 and d == 1 else T
        if T.ndim != 2 or T.shape[1] != d:
            raise DataError(f"spikes: expected shape (m, {d}), got {np.shape(spikes)}")
        if T.shape[0] == 0:
            raise DataError(f"spikes: expected at least one spike, an array of shape (m, {d}) with m >= 1, "
                            f"got shape {np.shape(spikes)}")
        m = T.shape[0]
    _data_size(family, n ** d if grid else n, m, "n",
               f"{n}^{d} grid points" if grid else None)
    if amplitudes is None:
        amp = rng.choice([-1.0, 1.0], m) * rng.uniform(0.5, 1.5, m)
    else:
        amp = as_float_array(amplitudes, "amplitudes", DataError, ndim=1)
        if amp.shape != (m,):
            raise DataError(f"amplitudes: expected shape ({m},) to match {m} spikes, got {amp.shape}")
    if grid:
        axes = np.meshgrid(*([np.arange(n) / n] * d), indexing="ij")
        X = np.stack([ax.ravel() for ax in axes], axis=1)
    else:
        X = rng.uniform(0.0, 1.0, (n, d))
    truth = Measure.from_blocks(family, np.ones(m), a=amp, t=T)
    Y = np.einsum("t,tnk->nk", truth.masses, family.phi(truth.particles, X))
    if noise:
        Y = Y + noise * rng.standard_normal(Y.shape)
    return Samples(X, Y).bind(family), truth


# ---------------------------------------------------------------------- stationary configurations
@dataclass(frozen=True)
class LocalMinimum:
    """A local minimum of the width-$m$ loss: the measure, $L(\\mu)$, the residual and $\\lambda_{\\min}$ of
    the particle Hessian (``converged``: residual below the requested tolerance)."""

    measure: Measure
    loss: float
    residual: float
    min_eigenvalue: float
    converged: bool


def _check_problem(prob: Any) -> Problem:
    if not isinstance(prob, Problem):
        raise DataError(f"prob: expected an mf.Problem, got {type(prob).__name__}")
    return prob


def _masses(masses: Any, m: int) -> FloatArray:
    if masses is None:
        return np.full(m, 1.0 / m)
    c = as_float_array(masses, "masses", MeasureError, ndim=1)
    if c.shape != (m,) or np.any(c == 0):
        raise MeasureError(f"masses: expected {m} nonzero masses, got shape {c.shape} with values {c}")
    return c


def _polish(prob: Problem, mu: Measure, tol: float, maxiter: int = 2000) -> Measure:
    """L-BFGS on $F(\\theta_1..\\theta_m) = L(\\mu)$, then Newton steps on $\\nabla F = 0$ (least-squares
    steps, accepted when $|\\nabla F|$ decreases) until the residual is below ``tol``."""
    shape, c = mu.particles.shape, mu.masses

    def fg(x):
        nu = mu.copy(particles=x.reshape(shape))
        return prob.loss(nu), prob.particle_gradient(nu).ravel()

    res = so.minimize(fg, mu.particles.ravel(), jac=True, method="L-BFGS-B",
                      options={"maxiter": maxiter, "gtol": 1e-12, "ftol": 1e-15})
    nu = mu.copy(particles=res.x.reshape(shape))
    for _ in range(30):
        if prob.residual(nu) < tol:
            break
        g = prob.particle_gradient(nu).ravel()
        H = prob.particle_hessian(nu)
        step = np.linalg.lstsq(H, g, rcond=1e-12)[0]
        gnorm, t = np.linalg.norm(g), 1.0
        for _ in range(12):
            trial = nu.copy(particles=(nu.particles.ravel() - t * step).reshape(shape))
            if np.linalg.norm(prob.particle_gradient(trial)) < gnorm and prob.loss(trial) <= prob.loss(nu) + 1e-12:
                break
            t /= 2
        else:
            break
        nu = trial
    return Measure(mu.family, nu.particles, c)


def _best_of(prob: Problem, masses: FloatArray, starts: int, rng: np.random.Generator, scale: float,
             tol: float) -> list[Measure]:
    fam = prob.family
    return [_polish(prob, Measure(fam, fam.random_particles(masses.size, rng, scale), masses), tol)
            for _ in range(starts)]


def width_one_fit(prob: Problem, *, mass: float = 1.0, starts: int = 8, seed: int = 0, scale: float = 1.0,
                  tol: float = 1e-8) -> Measure:
    r"""The best single neuron $\mu = c\,\delta_\theta$, $\theta \in \arg\min_\theta L(c\,\delta_\theta)$.

    Minimised from ``starts`` random starts ($N(0, \mathrm{scale}^2)$ entries, seeded), each polished until
    the stationarity residual is below ``tol`` (a finite number $\ge 0$); the one with the lowest loss is
    returned. When the data need more than one neuron, it is a non-global stationary point of the
    mean-field problem (Chizat & Bach 2018, §3: a stationary measure that is not a minimizer).
    """
    prob = _check_problem(prob)
    c = _masses(np.array([mass], dtype=float) if not isinstance(mass, np.ndarray) else mass, 1)
    tol = _nonneg(tol, "tol")
    found = _best_of(prob, c, positive_int(starts, "starts", DataError), _seed(seed), _nonneg(scale, "scale"), tol)
    return min(found, key=prob.loss)


def collapsed(prob: Problem, m: int, *, masses: Any = None, starts: int = 8, seed: int = 0, scale: float = 1.0,
              tol: float = 1e-8) -> Measure:
    r"""$m$ equal particles $\theta_1 = \dots = \theta_m = \theta$, with $\theta$ optimised jointly.

    $L(\sum_j c_j \delta_\theta) = L((\sum_j c_j)\delta_\theta)$, so $\theta$ is the best single neuron with
    mass $\sum_j c_j$ (:func:`width_one_fit`); every particle then has $\nabla J_\mu(\theta) = 0$.
    Gradient flows started from collapsed measures stay collapsed, which is why they are a standard
    example of non-global stationary points.
    """
    prob = _check_problem(prob)
    m = positive_int(m, "m", DataError)
    c = _masses(masses, m)
    if c.sum() == 0:
        raise MeasureError("masses: the total mass of a collapsed configuration must be nonzero")
    one = width_one_fit(prob, mass=float(c.sum()), starts=starts, seed=seed, scale=scale, tol=tol)
    return Measure(prob.family, np.repeat(one.particles, m, axis=0), c)


def underwidth_minima(prob: Problem, m: int, *, starts: int = 10, seed: int = 0, masses: Any = None,
                      scale: float = 1.0, tol: float = 1e-8) -> list[LocalMinimum]:
    r"""Local minima of the width-$m$ loss $F(\theta_1..\theta_m)$ from ``starts`` random starts.

    Each start is minimised (L-BFGS, then Newton polishing of $\nabla F = 0$); results are deduplicated
    (same loss to $10^{-9}$ and same particles up to permutation) and sorted by loss. With $m$ below
    the teacher's width these are the under-width teacher-student minima of Safran & Shamir 2018.

    Returns
    -------
    list of LocalMinimum, lowest loss first.
    """
    prob = _check_problem(prob)
    m = positive_int(m, "m", DataError)
    c = _masses(masses, m)
    tol = _nonneg(tol, "tol")
    found = _best_of(prob, c, positive_int(starts, "starts", DataError), _seed(seed), _nonneg(scale, "scale"), tol)
    out: list[LocalMinimum] = []
    for mu in sorted(found, key=prob.loss):
        loss = prob.loss(mu)
        key = mu.particles[np.lexsort(mu.particles.T[::-1])]
        if any(abs(o.loss - loss) <= 1e-9 * max(1.0, abs(loss)) and
               np.allclose(o.measure.particles[np.lexsort(o.measure.particles.T[::-1])], key, atol=1e-5)
               for o in out):
            continue
        r = prob.residual(mu)
        lam = float(np.linalg.eigvalsh(prob.particle_hessian(mu))[0])
        out.append(LocalMinimum(mu, loss, r, lam, r < tol))
    return out
