"""The global-optimality gap of docs/mathematics.md, global optimality by a global search over a compactified parameter space.

* output-linear: $s^* = \\sup_\\eta |G_\\mu(\\eta)|_F$ over $\\mathbb{R}^{d_\\eta}$ **and its limits at
  infinity** $G_\\infty(\\omega) = \\lim_{t\\to\\infty} G_\\mu(t\\omega)$ (sigmoid/tanh/erf: step features
  $\\sigma(t\\,\\omega^\\top\\tilde x) \\to \\sigma(\\pm\\infty)$; softmax: hard max);
* q-homogeneous: $-\\min_{|\\theta|=1} J_\\mu$ (positive masses), $\\max_{|\\theta| = 1} J_\\mu$ (negative
  masses), $\\max_{|\\theta|=1}|J_\\mu|$ (both signs);
* general: $\\max(0, -\\min J_\\mu)$ over a box around the particles, with no global claim.

The search: a scrambled-Sobol space-filling sample of the compactified space (ball with radial map
$r = s\\tan(\\tfrac{\\pi}{2}u)$, sphere of directions at infinity, or the unit sphere), then multistart
L-BFGS-B from the best diverse samples and random points, then a piece-wise polish for piecewise
linear (relu) neurons. For ridge neurons on samples the directions at infinity are enumerated through
the hyperplane arrangement $\\{\\omega^\\top\\tilde x_i = 0\\}$ (probing every cell around every vertex).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.optimize as so
from scipy.stats import norm, qmc

from .._errors import MeasureError
from .._types import FloatArray
from .._progress import activate, tick
from .._progress import progress as progress_bar
from .._validate import bool_arg, positive_int, seed_arg
from ..data import Samples
from ..families import Ridge
from ..measure import Measure
from ..problem import Problem
from ._potential import ReducedPotential, cone_sign


@dataclass(frozen=True)
class Gap:
    """The global-optimality gap of $\\mu$ (docs/mathematics.md, global optimality) and where it is attained.

    ``value`` $\\ge 0$ (``inf`` when $G$ is unbounded); ``witness`` a full parameter vector ``(p,)`` with
    $J_\\mu(\\text{witness}) \\approx$ ``sign * value``; ``at_infinity`` whether the supremum is only
    approached as $|\\eta| \\to \\infty$ (then ``direction`` is the limiting unit direction of $\\eta$ and
    the witness a finite point far along it within 1% of the supremum); ``method`` how the search ran.
    """

    value: float
    kind: str
    witness: np.ndarray | None
    sign: int = -1
    at_infinity: bool = False
    direction: np.ndarray | None = None
    method: str = ""
    eta: np.ndarray | None = None
    finite_value: float = float("nan")
    infinity_value: float = float("nan")
    min_J: float = float("nan")
    max_J: float = float("nan")
    note: str = ""
    extras: dict = field(default_factory=dict, compare=False, repr=False)
    blocks: dict | None = field(default=None, compare=False, repr=False)  # the witness by block name

    def _repr_html_(self) -> str:
        from .._display import gap_html

        return gap_html(self)

    def __repr__(self) -> str:
        where = "" if self.blocks is None else ", witness " + ", ".join(f"{k}={v}" for k, v in _short(self.blocks))
        return f"Gap({self.value:.4g}, {self.kind}{', at infinity' if self.at_infinity else ''}{where})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary (arrays as lists, non-finite floats as strings)."""
        def f(x):
            if x is None:
                return None
            if isinstance(x, np.ndarray):
                return [f(v) for v in x.tolist()]
            if isinstance(x, float) and not math.isfinite(x):
                return str(x)
            return x
        return {"value": f(float(self.value)), "kind": self.kind, "witness": f(self.witness), "sign": int(self.sign),
                "at_infinity": bool(self.at_infinity), "direction": f(self.direction), "method": self.method,
                "eta": f(self.eta), "finite_value": f(float(self.finite_value)),
                "infinity_value": f(float(self.infinity_value)), "min_J": f(float(self.min_J)),
                "max_J": f(float(self.max_J)), "note": self.note, "witness_blocks": self.blocks}


def _short(blocks: dict) -> list[tuple[str, str]]:
    from .._display import vector

    return [(k, vector(v, 3)) for k, v in blocks.items()]


# ---------------------------------------------------------------------------- sampling helpers
def sphere_points(N: int, d: int, rng: np.random.Generator) -> FloatArray:
    """``N`` scrambled-Sobol points on $S^{d-1}$ (Gaussian map then normalisation)."""
    if d == 1:
        return np.array([[1.0], [-1.0]])[np.arange(N) % 2]
    m = max(1, int(math.ceil(math.log2(max(N, 2)))))
    u = qmc.Sobol(d, scramble=True, seed=rng).random_base2(m)[:N]
    z = norm.ppf(np.clip(u, 1e-12, 1 - 1e-12))
    return z / np.linalg.norm(z, axis=1, keepdims=True)


def ball_points(N: int, d: int, scale: float, rng: np.random.Generator) -> FloatArray:
    """``N`` points of the compactified ball: direction Sobol, radius $s\\tan(\\frac\\pi2 u)$, $u \\le 0.95$."""
    dirs = sphere_points(N, d, rng)
    u = rng.uniform(0, 0.95, N) ** (1.0 / max(d, 1))
    return dirs * (scale * np.tan(0.5 * np.pi * u))[:, None]


def diverse_best(points: FloatArray, scores: FloatArray, k: int, min_dist: float) -> list[int]:
    """Indices of the ``k`` lowest ``scores`` whose points are pairwise at least ``min_dist`` apart."""
    order = np.argsort(scores)
    chosen: list[int] = []
    for i in order:
        if not np.isfinite(scores[i]):
            continue
        if all(np.linalg.norm(points[i] - points[j]) >= min_dist for j in chosen):
            chosen.append(int(i))
        if len(chosen) >= k:
            break
    return chosen


def _lbfgs(fun, x0, bounds=None, maxiter=200):
    with np.errstate(over="ignore", invalid="ignore", under="ignore", divide="ignore"):
        res = so.minimize(fun, x0, jac=True, method="L-BFGS-B", bounds=bounds,
                          options={"maxiter": maxiter, "gtol": 1e-12, "ftol": 1e-15})
    return res.x, float(res.fun)


def _check(prob, mu, restarts, samples, seed):
    if not isinstance(prob, Problem):
        raise MeasureError(f"prob: expected an mf.Problem, got {type(prob).__name__}")
    mu = prob._measure(mu)
    positive_int(restarts, "restarts", MeasureError, minimum=1)
    positive_int(samples, "samples", MeasureError, minimum=16)
    seed_arg(seed, "seed", MeasureError, allow_none=True)
    return mu


# ---------------------------------------------------------------------------- homogeneous
def _sphere_local(rp: ReducedPotential, sense: float, x0: FloatArray) -> tuple[FloatArray, float]:
    def fun(x):
        r = np.linalg.norm(x)
        J, rg = rp.sphere(x[None])
        return sense * float(J[0]), sense * rg[0] / r
    x, _ = _lbfgs(fun, x0, maxiter=300)
    u = x / np.linalg.norm(x)
    return u, float(rp.sphere(u[None])[0][0])


def _polish_piecewise(rp: ReducedPotential, sense: float, u: FloatArray, degree: int, iters: int = 8):
    """Exact minimiser of the active piece's model on the sphere, accepted only if it improves.

    On one activation pattern of a piecewise-linear neuron, Euler's identity makes $J$ linear
    ($J = \\nabla J\\cdot\\theta$, degree 1) or quadratic ($J = \\frac12\\theta^\\top\\nabla^2 J\\,\\theta$,
    degree 2), whose extrema on the sphere are $\\mp\\nabla J/|\\nabla J|$ or extreme eigenvectors.
    """
    best = float(rp.sphere(u[None])[0][0])
    for _ in range(iters):
        if degree == 1:
            g = rp.prob.grad_potential(rp.mu, u[None])[0]
            if np.linalg.norm(g) == 0:
                break
            cands = [-sense * g / np.linalg.norm(g)]
        elif degree == 2:
            H = rp.prob.hessian_potential(rp.mu, u[None])[0]
            w, V = np.linalg.eigh(0.5 * (H + H.T))
            v = V[:, 0] if sense > 0 else V[:, -1]
            cands = [v, -v]
        else:
            break
        vals = [float(rp.sphere(c[None])[0][0]) for c in cands]
        i = int(np.argmin([sense * v for v in vals]))
        if sense * vals[i] < sense * best - 1e-15:
            u, best = cands[i], vals[i]
        else:
            break
    return u, best


def homogeneous_gap(rp: ReducedPotential, restarts: int, samples: int, rng: np.random.Generator) -> Gap:
    """Gap of a q-homogeneous family on the unit sphere, with the sign rule of docs/mathematics.md, global optimality."""
    p, deg = rp.family.p, rp.structure.degree
    s = cone_sign(rp.mu)
    pts = sphere_points(samples, p, rng)
    J = rp.sphere(pts)[0]
    live = rp.mu.particles[rp.mu.masses != 0]
    live = live[np.linalg.norm(live, axis=1) > 0]
    found = {}
    for sense in ((1.0,) if s == -1 else (-1.0,) if s == 1 else (1.0, -1.0)):
        idx = diverse_best(pts, sense * J, max(1, restarts - restarts // 3), 0.2)
        starts = [pts[i] for i in idx] + list(sphere_points(restarts // 3 + 1, p, rng))
        starts += [q / np.linalg.norm(q) for q in live[:4]]
        best_u, best_v = None, np.inf
        for x0 in starts:
            tick()
            u, v = _sphere_local(rp, sense, np.asarray(x0, float))
            u, v = _polish_piecewise(rp, sense, u, deg)
            if sense * v < best_v:
                best_u, best_v = u, sense * v
        found[sense] = (best_u, -best_v)  # value of -min J (sense +1) or max J (sense -1)
    sense = max(found, key=lambda k: found[k][1])
    u, val = found[sense]
    rule = {-1: "positive masses: -min J", 1: "negative masses: max J", 0: "signed masses: max |J|"}[s]
    method = (f"unit sphere S^{p - 1}: {len(pts)} scrambled-Sobol samples, {len(starts)} L-BFGS starts per sense "
              f"({rule}), piecewise polish (degree {deg})")
    Jmin = min(float(J.min()), -found[1.0][1]) if 1.0 in found else float(J.min())
    Jmax = max(float(J.max()), found[-1.0][1]) if -1.0 in found else float(J.max())
    return Gap(value=max(0.0, float(val)), kind="homogeneous", witness=u, sign=-1 if sense > 0 else 1,
               method=method, finite_value=max(0.0, float(val)), min_J=Jmin, max_J=Jmax,
               note=rp.structure.note, extras={"cone_sign": s, "degree": deg})


# ---------------------------------------------------------------------------- output-linear
def inner_scale(rp: ReducedPotential) -> float:
    """A length scale for $\\eta$: the largest inner norm among live particles (at least 1)."""
    live = rp.mu.particles[rp.mu.masses != 0]
    if live.size == 0:
        return 1.0
    return float(max(1.0, np.max(np.linalg.norm(live[:, rp.structure.inner_cols], axis=1))))


def _arrangement_directions(rp: ReducedPotential, budget: int, rng: np.random.Generator) -> FloatArray | None:
    """Directions probing every cell of $\\{\\omega^\\top \\tilde x_i = 0\\}$ around every vertex (ridge on samples)."""
    fam = rp.family
    inner = getattr(fam, "inner_map", None)
    if not isinstance(inner, Ridge) or not isinstance(rp.prob.data, Samples):
        return None
    Xa = inner._aug(rp.prob.data.X)
    Xa = Xa[np.linalg.norm(Xa, axis=1) > 0]
    d = Xa.shape[1]
    if d == 1:
        return np.array([[1.0], [-1.0]])
    n = Xa.shape[0]
    combos = math.comb(n, d - 1)
    if combos * 2 ** d > budget:
        return None
    out = []
    signs = np.array(list(itertools.product((-1.0, 1.0), repeat=d - 1)))
    for S in itertools.combinations(range(n), d - 1):
        A = Xa[list(S)]
        _, sv, Vt = np.linalg.svd(A, full_matrices=True)
        if sv[-1] < 1e-12 * max(1.0, sv[0]):
            continue
        v = Vt[-1]
        # displacement directions that give every sign pattern on the tight rows
        D = np.linalg.lstsq(A, signs.T, rcond=None)[0].T
        D /= np.linalg.norm(D, axis=1, keepdims=True)
        other = np.delete(Xa, list(S), axis=0)
        gaps = np.abs(other @ v) / np.linalg.norm(other, axis=1) if len(other) else np.array([1.0])
        eps = 0.25 * max(float(gaps.min()), 1e-9)
        for sgn in (1.0, -1.0):
            P = sgn * v[None] + eps * D
            out.append(P / np.linalg.norm(P, axis=1, keepdims=True))
    return np.concatenate(out) if out else None


def _limit_values(rp: ReducedPotential, dirs: FloatArray, T: float) -> tuple[FloatArray, FloatArray, FloatArray]:
    """$|G(T\\omega)|$, $|G(2T\\omega)|$ and $G(T\\omega)$ for directions ``dirs``."""
    G1 = rp.G(T * dirs).reshape(len(dirs), -1)
    G2 = rp.G(2 * T * dirs).reshape(len(dirs), -1)
    return np.linalg.norm(G1, axis=1), np.linalg.norm(G2, axis=1), G1


def output_linear_gap(rp: ReducedPotential, restarts: int, samples: int, rng: np.random.Generator) -> Gap:
    """$\\sup_\\eta |G_\\mu(\\eta)|_F$ over $\\mathbb{R}^{d}$ and its limits at infinity."""
    s = rp.structure
    d = len(s.inner_cols)
    scale = inner_scale(rp)
    R_box = 20.0 * scale
    T = 1e8 * scale
    # --- at infinity: directions (arrangement cells when available, else Sobol) + local refinement
    arr = _arrangement_directions(rp, budget=max(4 * samples, 20000), rng=rng)
    dirs = sphere_points(samples, d, rng)
    how_inf = f"{len(dirs)} Sobol directions"
    if arr is not None:
        dirs = np.concatenate([arr, dirs])
        how_inf = f"{len(arr)} hyperplane-arrangement cell probes + " + how_inf
    n1, n2, _ = _limit_values(rp, dirs, T)
    ok = np.isfinite(n1) & np.isfinite(n2) & (np.abs(n2 - n1) <= 1e-6 * (1.0 + n1))
    unbounded = np.isfinite(n1) & np.isfinite(n2) & (n2 > 1.5 * n1 + 1e-12)
    if np.any(unbounded):
        i = int(np.argmax(np.where(unbounded, n2, -np.inf)))
        om = dirs[i]
        eta = T * om
        return _finish(rp, eta, float("inf"), True, om, f"{how_inf}: |G(t omega)| grows without bound", np.inf, np.inf)
    sup_inf, om_best = -np.inf, None
    if np.any(ok):
        vals = np.where(ok, n1, -np.inf)
        for i in diverse_best(dirs, -vals, 3, 0.05):
            om, v = dirs[i], vals[i]
            step = 0.2
            for _ in range(25):  # derivative-free hill climbing on the sphere of directions
                cand = om[None] + step * rng.standard_normal((12, d))
                cand /= np.linalg.norm(cand, axis=1, keepdims=True)
                c1, c2, _ = _limit_values(rp, cand, T)
                good = np.isfinite(c1) & (np.abs(c2 - c1) <= 1e-6 * (1 + c1))
                c1 = np.where(good, c1, -np.inf)
                j = int(np.argmax(c1))
                if c1[j] > v + 1e-14:
                    om, v = cand[j], c1[j]
                else:
                    step *= 0.5
            if v > sup_inf:
                sup_inf, om_best = float(v), om
    # --- finite: space-filling compactified ball + multistart L-BFGS-B in the box
    pts = ball_points(samples, d, scale, rng)
    live = rp.mu.particles[rp.mu.masses != 0][:, s.inner_cols]
    pts = np.concatenate([pts, live])
    vals = rp.norm_G(pts)
    vals = np.where(np.isfinite(vals), vals, -np.inf)
    idx = diverse_best(pts, -vals, max(1, restarts - restarts // 3), 0.1 * scale)
    starts = [pts[i] for i in idx] + list(ball_points(restarts // 3 + 1, d, scale, rng))
    if om_best is not None:
        starts.append(0.25 * R_box * om_best)

    def fun(x):
        nrm, g = rp.grad_norm_G(x[None])
        return -0.5 * float(nrm[0]) ** 2, -float(nrm[0]) * g[0]

    bounds = [(-R_box, R_box)] * d
    best_int, eta_int, best_bd, eta_bd = -np.inf, None, -np.inf, None
    for x0 in starts:
        tick()
        x, _ = _lbfgs(fun, np.clip(x0, -R_box, R_box), bounds)
        v = float(rp.norm_G(x[None])[0])
        if not np.isfinite(v):
            continue
        if np.max(np.abs(x)) < 0.999 * R_box and not _saturated(rp, x, T):
            if v > best_int:
                best_int, eta_int = v, x
        elif v > best_bd:
            best_bd, eta_bd = v, x
    if best_int < vals.max():
        i = int(np.argmax(vals))
        if np.max(np.abs(pts[i])) < 0.999 * R_box and not _saturated(rp, pts[i], T):
            best_int, eta_int = float(vals[i]), pts[i]
    method = (f"output-linear, eta in R^{d}: {len(pts)} compactified-ball samples (radius s tan(pi u/2), s={scale:.3g}), "
              f"{len(starts)} L-BFGS-B starts in the box |eta|_inf <= {R_box:.3g}; at infinity: {how_inf} "
              f"(limit G(t omega), t={T:.1e}, checked at 2t) + hill climbing on the sphere")
    tol = 1e-9 * max(1.0, abs(best_int) if np.isfinite(best_int) else 1.0) + 1e-12
    if sup_inf > best_int + tol:
        eta = _far_witness(rp, om_best, sup_inf, scale)
        return _finish(rp, eta, sup_inf, True, om_best, method, best_int, sup_inf)
    if eta_int is None:  # nothing interior: fall back to the boundary of the box
        return _finish(rp, eta_bd, best_bd, False, None, method, best_bd, sup_inf)
    return _finish(rp, eta_int, best_int, False, None, method, best_int, sup_inf)


def _saturated(rp: ReducedPotential, eta: FloatArray, T: float) -> bool:
    """Whether $G(\\eta)$ already equals its ray limit $G_\\infty(\\eta/|\\eta|)$ (to 1e-9): such a point
    only approximates a limit at infinity, it is not a finite maximiser."""
    nrm = float(np.linalg.norm(eta))
    if nrm == 0:
        return False
    G0 = rp.G(eta[None]).reshape(-1)
    Gi = rp.G((T / nrm) * eta[None]).reshape(-1)
    if not (np.all(np.isfinite(G0)) and np.all(np.isfinite(Gi))):
        return False
    return bool(np.linalg.norm(G0 - Gi) <= 1e-9 * (1.0 + np.linalg.norm(G0)))


def _far_witness(rp: ReducedPotential, om: FloatArray, target: float, scale: float) -> FloatArray:
    """A finite point $t\\omega$ with $|G(t\\omega)| \\ge 0.99\\,$``target`` (doubling $t$)."""
    ts = scale * 2.0 ** np.arange(0, 60)
    vals = rp.norm_G(ts[:, None] * om[None])
    good = np.nonzero(vals >= 0.99 * target)[0]
    i = int(good[0]) if len(good) else int(np.nanargmax(vals))
    return ts[i] * om


def _finish(rp, eta, value, at_inf, om, method, finite_value, inf_value) -> Gap:
    s = rp.structure
    Gv = rp.G(eta[None]).reshape(-1)
    nrm = float(np.linalg.norm(Gv))
    U = -Gv / nrm if nrm > 0 else np.zeros_like(Gv)
    theta = rp.theta(U[None], eta[None])[0]
    return Gap(value=float(max(0.0, value)), kind="output-linear", witness=theta, sign=-1, at_infinity=bool(at_inf),
               direction=None if om is None else np.asarray(om, float), method=method, eta=np.asarray(eta, float),
               finite_value=float(finite_value), infinity_value=float(inf_value), note=s.note,
               extras={"scale": inner_scale(rp)})


# ---------------------------------------------------------------------------- general
def general_gap(rp: ReducedPotential, restarts: int, samples: int, rng: np.random.Generator) -> Gap:
    """$\\max(0, -\\min J_\\mu)$ over the box $|\\theta|_\\infty \\le 2\\max(1, |\\theta_j|)$ (no global claim)."""
    p = rp.family.p
    live = rp.mu.particles[rp.mu.masses != 0]
    R = 2.0 * float(max(1.0, np.max(np.abs(live)) if live.size else 1.0))
    m = max(1, int(math.ceil(math.log2(samples))))
    pts = (2 * qmc.Sobol(p, scramble=True, seed=rng).random_base2(m) - 1) * R
    J = rp.J(pts)
    out = {}
    for sense in (1.0, -1.0):
        idx = diverse_best(pts, sense * J, restarts, 0.1 * R)

        def fun(x, sense=sense):
            Jv, g, _ = rp.prob._potential(rp.mu, x[None], 1)
            return sense * float(Jv[0]), sense * g[0]
        best = (None, np.inf)
        for i in idx:
            tick()
            x, f = _lbfgs(fun, pts[i], [(-R, R)] * p)
            if f < best[1]:
                best = (x, f)
        out[sense] = best
    x, fmin = out[1.0]
    method = f"general class: box |theta|_inf <= {R:.3g}, {len(pts)} Sobol samples, {len(idx)} L-BFGS-B starts per sense"
    return Gap(value=max(0.0, -fmin), kind="general", witness=x, sign=-1, method=method, finite_value=max(0.0, -fmin),
               min_J=fmin, max_J=-out[-1.0][1], note=rp.structure.note,
               extras={"grad_norm_at_min": float(np.linalg.norm(rp.prob.grad_potential(rp.mu, x[None])[0]))})


def _offset_condition(prob: Problem, mu: Measure, g: Gap) -> Gap:
    r"""Add the output bias's optimality condition $\frac1n\sum_i r_i = 0$ to the gap."""
    db = float(np.linalg.norm(prob.offset_gradient(mu)))
    extras = {**g.extras, "offset_gradient": db}
    if not db > g.value:
        return dataclasses.replace(g, extras=extras)
    note = (g.note + "; " if g.note else "") + (f"the output bias is not optimal: |mean residual| = {db:.3e} exceeds "
                                                f"the family's gap {g.value:.3e}")
    return dataclasses.replace(g, value=db, note=note, extras=extras)


def gap(prob: Problem, mu: Measure, *, seed: int | np.random.Generator | None = 0, restarts: int = 12,
        samples: int = 4096, progress: bool | None = None) -> Gap:
    r"""The global-optimality gap of $\mu$ (docs/mathematics.md, global optimality) by a global search.

    Parameters
    ----------
    prob : Problem
    mu : Measure
        Usually a stationary point.
    seed : int >= 0, Generator or None
        Seeds the Sobol scrambling and the random starts (None: fresh OS entropy, not reproducible).
    restarts : int
        Local (L-BFGS) runs per search.
    samples : int
        Size of the space-filling sample of the compactified space.
    progress : bool or None
        A progress report counting the local searches; None: only on a terminal or in a notebook.

    Returns
    -------
    Gap
        ``value`` $= \sup_\eta|G_\mu(\eta)|_F$ (output-linear, limits at infinity included),
        $-\min_{|\theta|=1}J_\mu$ / $\max J_\mu$ / $\max|J_\mu|$ (homogeneous, by the masses' signs),
        or $\max(0, -\min J_\mu)$ over a box (general); ``witness``, ``at_infinity``, ``method``.
        With a trained output bias $\beta$ (``mu.offset``) the problem is convex in $(\mu, \beta)$ jointly, and
        a global minimizer also needs $\partial_\beta L = \frac1n\sum_i r_i = 0$: ``value`` is the larger of the
        family's gap and $|\frac1n\sum_i r_i|$ (``extras["offset_gradient"]``).

    References
    ----------
    Chizat & Bach 2018 (arXiv 1805.09545), Prop. 3.3 / §3.3 (homogeneous optimality);
    Petit, Poon & Peyré 2026 (arXiv 2605.10775) (bounded nonlinearities, vector outputs, attention).
    """
    mu = _check(prob, mu, restarts, samples, seed)
    progress = bool_arg(progress, "progress", MeasureError, allow_none=True)
    rng = np.random.default_rng(seed)
    rp = ReducedPotential(prob, mu)
    search = {"homogeneous": homogeneous_gap, "output-linear": output_linear_gap}.get(rp.kind, general_gap)
    with activate(progress_bar(desc="mf.meanfield.gap", enabled=progress)):
        g = search(rp, restarts, samples, rng)
    if rp.kind == "homogeneous":  # piecewise-linear potentials: exact search over activation patterns
        from ._exact import exact_gap

        g = exact_gap(rp, g)
    if mu.offset is not None:
        g = _offset_condition(prob, mu, g)
    if g.witness is None:
        return g
    from .._display import named_blocks

    return dataclasses.replace(g, blocks=named_blocks(prob.family, g.witness))
