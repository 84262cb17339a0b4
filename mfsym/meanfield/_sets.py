"""Escaping active sets of a non-global stationary measure (docs/mathematics.md, escaping sets).

* output-linear: $K_c = \\{(A, \\eta): A \\ne 0,\\ \\langle A, G(\\eta)\\rangle < -c|A|_F\\}$ for positive
  masses ($\\langle A, G\\rangle > c|A|_F$ for negative masses, both sets for signed masses), whose
  $\\eta$-section is the super-level set $\\{|G| > c\\}$; along the flow of particles of that sign
  ($\\dot A = -\\mathrm{sign}(c_j) G$, docs/mathematics.md, first variation and flow) $|A|$ grows at least linearly at rate $c$;
* q-homogeneous: $K_c$ = cone over $\\{\\hat\\theta \\in S^{p-1}: J(\\hat\\theta) < -c\\}$ (or $> c$ for
  negative masses); by Euler's identity $\\frac{d}{dt}|\\theta| = -q|\\theta|^{q-1}J(\\hat\\theta) \\ge qc|\\theta|^{q-1}$.

Reported with each set: the level $c$, the growth rate, the regularity margin
$\\kappa = \\min |\\nabla|G||$ (or $\\min|\\nabla_S J|$) over the level set, boundedness, the connected
components (networkx graph of grid cells or samples), the $C^1$ perturbation size
$\\delta = \\min(\\kappa, c)$ and whether the set is a *candidate* or *certified* by ball arithmetic.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any

import flint
import networkx as nx
import numpy as np
from flint import arb

from .._errors import CertificateError, MeasureError
from .._types import FloatArray
from .._progress import progress as progress_bar
from .._validate import bool_arg, positive_float, seed_arg
from ..measure import Measure
from ..problem import Problem
from .._ball import box_balls
from ._cover import Enclosure, certify_cells
from ._gap import Gap, ball_points, inner_scale, sphere_points
from ._gap import gap as compute_gap
from ._potential import ReducedPotential, cone_sign
from . import _escape


@dataclass(frozen=True)
class EscapingSet:
    """An escaping active set $K_c$ (docs/mathematics.md, escaping sets) with its robustness data.

    ``sign`` is -1 for $\\{J < -c\\}$-type sets (particles of positive mass escape) and +1 for
    $\\{J > c\\}$ (negative masses); for output-linear families these read
    $\\langle A, G\\rangle < -c|A|_F$ and $\\langle A, G\\rangle > c|A|_F$, and the growth rate holds for the
    flow $\\dot\\theta = -\\mathrm{sign}(c_j)\\nabla J$ of particles with $\\mathrm{sign}(c_j) = -$``sign``.
    ``components`` is a networkx graph whose nodes are the cells (grid boxes or samples) forming the set,
    with attributes ``center``, ``lo``, ``hi``, ``value``.
    ``certified`` is True when every box of the cover was proven inside the set by ball arithmetic
    (inner dimension <= 3), or when ``claim`` -- an ``escaping-set`` certificate claim: a spherical cap
    (homogeneous) or a ball in $\\eta$ (output-linear) around the witness on which the set's inequality is
    proved, any dimension (:mod:`mfsym.meanfield._escape`) -- is proved; otherwise the set is a sampled
    candidate and ``certificate['reason']`` says why. ``mf.check`` puts ``claim`` in the certificate, and
    there a set is called certified only through its claim.
    """

    level: float
    kind: str
    witness: np.ndarray
    growth_rate: float
    growth: str
    margin: float
    bounded: bool | None
    components: nx.Graph = field(repr=False)
    n_components: int
    perturbation: float
    certified: bool
    sign: int = -1
    method: str = ""
    certificate: dict = field(default_factory=dict, repr=False)
    notes: tuple[str, ...] = ()
    claim: dict | None = field(default=None, repr=False)
    _rp: Any = field(default=None, repr=False, compare=False)

    def _repr_html_(self) -> str:
        from .._display import escaping_set_html

        return escaping_set_html(self)

    def __repr__(self) -> str:
        return (f"EscapingSet(c={self.level:.4g}, {self.kind}, {self.growth} rate {self.growth_rate:.4g}, "
                f"{self.n_components} component(s), {'certified' if self.certified else 'candidate'})")

    def contains(self, thetas: Any) -> np.ndarray:
        """Membership of full parameters ``(Q, p)`` in $K_c$ (evaluated numerically)."""
        T = self._rp.family.check_thetas(thetas)
        return membership(self._rp, T, self.level, self.sign)

    def homogeneous_norm(self, thetas: Any) -> np.ndarray:
        """The growing variable: $|A|_F$ (output-linear) or $|\\theta|$ (homogeneous), ``(Q,)``."""
        T = self._rp.family.check_thetas(thetas)
        if self.kind == "output-linear":
            return np.linalg.norm(self._rp.split(T)[0], axis=1)
        return np.linalg.norm(T, axis=1)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary: numbers, counts and node lists (no Graph object)."""
        comps = sorted((sorted(c) for c in nx.connected_components(self.components)), key=len, reverse=True)
        nodes = list(self.components.nodes)
        index = {v: i for i, v in enumerate(nodes)}

        def num(x):
            return x if (x is None or math.isfinite(x)) else str(x)
        from .._display import named_blocks

        return {"level": self.level, "kind": self.kind, "sign": self.sign, "witness": self.witness.tolist(),
                "witness_blocks": None if self._rp is None else named_blocks(self._rp.family, self.witness),
                "growth_rate": num(self.growth_rate), "growth": self.growth, "margin": num(self.margin),
                "bounded": self.bounded, "n_components": self.n_components, "perturbation": num(self.perturbation),
                "certified": self.certified, "method": self.method, "notes": list(self.notes),
                "certificate": {k: v for k, v in self.certificate.items()}, "claim": self.claim,
                "nodes": [np.asarray(self.components.nodes[v]["center"]).tolist() for v in nodes],
                "component_sizes": [len(c) for c in comps],
                "components": [[index[v] for v in c] for c in comps]}


def membership(rp: ReducedPotential, T: FloatArray, c: float, sign: int) -> np.ndarray:
    """$\\mathrm{sign}\\,\\langle A, G(\\eta)\\rangle > c|A|$ with $A \\ne 0$, or $\\mathrm{sign}\\,J(\\hat\\theta) > c$."""
    if rp.kind == "output-linear":
        U, eta = rp.split(T)
        G = rp.G(eta).reshape(len(T), -1)
        nA = np.linalg.norm(U, axis=1)
        return (nA > 0) & (sign * np.sum(U * G, axis=1) > c * nA)
    nr = np.linalg.norm(T, axis=1)
    out = np.zeros(len(T), dtype=bool)
    ok = nr > 0
    J = rp.J(T[ok] / nr[ok, None])
    out[ok] = (J > c) if sign > 0 else (J < -c)
    return out


# ---------------------------------------------------------------------------- shared machinery
def _grid(lo: float, hi: float, d: int, N: int):
    edges = np.linspace(lo, hi, N + 1)
    idx = np.array(list(itertools.product(range(N), repeat=d)), dtype=int)
    return idx, edges[idx], edges[idx + 1]


def _grid_graph(idx: np.ndarray, keep: np.ndarray, N: int, lo, hi, centers, values) -> nx.Graph:
    d = idx.shape[1]
    Gr = nx.Graph()
    kept = {tuple(i): j for j, i in enumerate(idx) if keep[j]}
    for key, j in kept.items():
        Gr.add_node(key, center=centers[j], lo=lo[j], hi=hi[j], value=float(values[j]))
    for key in kept:
        for ax in range(d):
            nb = list(key)
            nb[ax] += 1
            if tuple(nb) in kept:
                Gr.add_edge(key, tuple(nb))
    return Gr


def _grid_pairs(idx: np.ndarray, inside: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Face-adjacent (inside, outside) cell pairs, as row indices ``(P, 2)``."""
    pos = {tuple(i): j for j, i in enumerate(idx) if valid[j]}
    pairs = []
    for key, j in pos.items():
        for ax in range(idx.shape[1]):
            for step in (-1, 1):
                nb = list(key)
                nb[ax] += step
                jn = pos.get(tuple(nb))
                if jn is not None and inside[j] and not inside[jn]:
                    pairs.append((j, jn))
    return np.array(pairs, dtype=int).reshape(-1, 2)


def _sample_graph(pts: FloatArray, inside: np.ndarray, values: FloatArray, member, k: int = 8) -> nx.Graph:
    """k-nearest-neighbour graph of the inside samples; an edge needs its midpoint inside too."""
    P = pts[inside]
    Gr = nx.Graph()
    for j, x in enumerate(P):
        Gr.add_node(j, center=x, lo=x, hi=x, value=float(values[inside][j]))
    if len(P) > 1:
        D = np.linalg.norm(P[:, None] - P[None], axis=2)
        nbr = np.argsort(D, axis=1)[:, 1:k + 1]
        a = np.repeat(np.arange(len(P)), nbr.shape[1])
        b = nbr.ravel()
        mid_ok = member(0.5 * (P[a] + P[b]))
        for i, j, ok in zip(a, b, mid_ok):
            if ok:
                Gr.add_edge(int(i), int(j))
    return Gr


def _bisect(fun, a: FloatArray, b: FloatArray, iters: int = 40) -> FloatArray:
    """Points where ``fun`` (True inside) switches along segments a (inside) -> b (outside)."""
    for _ in range(iters):
        m = 0.5 * (a + b)
        ins = fun(m)
        a = np.where(ins[:, None], m, a)
        b = np.where(ins[:, None], b, m)
    return 0.5 * (a + b)


def _growth(kind: str, degree: int | None, c: float) -> tuple[float, str]:
    if kind == "output-linear":
        return c, "linear"
    q = int(degree)
    return q * c, {1: "linear", 2: "exponential"}.get(q, "finite-time")


# ---------------------------------------------------------------------------- output-linear
def _output_linear_set(rp: ReducedPotential, g: Gap, c: float, sign: int, rng, certify: bool,
                       resolution: int | None) -> EscapingSet:
    s = rp.structure
    d = len(s.inner_cols)
    scale = inner_scale(rp)
    eta_w = g.eta
    R = 3.0 * scale
    if eta_w is not None and np.all(np.isfinite(eta_w)):
        R = float(min(max(R, 1.25 * np.max(np.abs(eta_w))), 200.0 * scale))
    notes = []

    def member(E):
        return rp.norm_G(E) > c

    if d <= 3:
        N = resolution or {1: 400, 2: 48, 3: 14}[d]
        idx, lo, hi = _grid(-R, R, d, N)
        centers = 0.5 * (lo + hi)
        vals = rp.norm_G(centers)
        inside = vals > c
        pairs = _grid_pairs(idx, inside, np.ones(len(idx), bool))
        graph = _grid_graph(idx, inside, N, lo, hi, centers, vals)
        on_edge = np.any((idx[inside] == 0) | (idx[inside] == N - 1))
        how = f"grid of {N}^{d} cells on [-{R:.3g}, {R:.3g}]^{d}"
    else:
        pts = np.concatenate([ball_points(3000, d, scale, rng), eta_w[None]])
        vals = rp.norm_G(pts)
        inside = vals > c
        Din = np.linalg.norm(pts[inside][:, None] - pts[~inside][None], axis=2) if inside.any() and (~inside).any() else None
        pairs = np.zeros((0, 2), int)
        if Din is not None:
            ii, oo = np.nonzero(inside)[0], np.nonzero(~inside)[0]
            near = np.argmin(Din, axis=1)
            pairs = np.stack([ii, oo[near]], axis=1)
        graph = _sample_graph(pts, inside, vals, member)
        centers, lo, hi, on_edge = pts, pts, pts, False
        how = f"{len(pts)} compactified-ball samples, 8-NN graph"
    # regularity margin on the level set |G| = c
    if len(pairs):
        P = _bisect(member, centers[pairs[:, 0]], centers[pairs[:, 1]])
        nrm, grad = rp.grad_norm_G(P)
        kappa = float(np.min(np.linalg.norm(grad, axis=1)))
        n_level = len(P)
    else:
        kappa, n_level = float("nan"), 0
    # boundedness from the limits at infinity
    if np.isfinite(g.infinity_value):
        bounded = bool(g.infinity_value <= c)
    else:
        bounded = None
    if on_edge:
        notes.append(f"the sampled set touches the boundary of the box [-{R:.3g}, {R:.3g}]^{d}")
    if bounded is False:
        notes.append("the super-level set reaches infinity (a direction with |G_inf| > c); the margin is "
                     "measured on the part inside the box (|G| saturates, so gradients decay at infinity)")
    certified, cert, graph = _certify_cover(
        rp, certify, d, f"inner dimension {d}", inside, graph,
        lambda enc: _certify_grid(rp, idx, lo, hi, centers, vals, inside, N, c,
                                  lambda a, z: _decide_G(enc, s, a, z, c), lambda E: rp.grad_norm_G(E)[1]))
    rate, growth = _growth("output-linear", None, c)
    kappa_ok = kappa if np.isfinite(kappa) else float("nan")
    # the gap's witness has A = -G/|G| (sign -1); the sign +1 set (negative masses) takes A = +G/|G|, so that
    # d|A|/dt = -sign(c_j) <A/|A|, G> = |G| > c for a particle of mass sign(c_j) = -sign
    wit = np.array(g.witness, dtype=float)
    if sign != g.sign:
        wit[s.outer_cols] = -wit[s.outer_cols]
    certified, cert, claim = _with_claim(rp, certify, "output-linear", sign, c, wit, scale, certified, cert,
                                         "ball in eta")
    return EscapingSet(level=c, kind="output-linear", witness=wit, growth_rate=rate,
                       growth=growth, margin=kappa_ok, bounded=bounded, components=graph,
                       n_components=nx.number_connected_components(graph),
                       perturbation=float(min(kappa_ok, c)) if np.isfinite(kappa_ok) else float("nan"),
                       certified=certified, sign=sign,
                       method=f"{how}; margin: min |grad |G|| over {n_level} bisected level-set points",
                       certificate=cert, notes=tuple(notes), claim=claim, _rp=rp)


def _with_claim(rp, certify, kind, sign, c, wit, scale, certified, cert, region):
    """Add the any-dimension region claim (:mod:`._escape`) to the cover's outcome."""
    if not certify:
        return certified, cert, None
    claim = _escape.search(rp.prob, rp.mu, kind, sign, c, wit, scale)
    cert = dict(cert)
    cert["cover_certified"] = bool(certified)
    if claim is None:
        cert["claim"] = "no usable witness"
        return certified, cert, None
    proved = claim["outcome"] == "proved"
    cert["claim"] = claim["outcome"]
    if proved:
        size = (f"angular radius {float.fromhex(claim['angle']):.3g}" if kind == "homogeneous" else
                f"radius {float.fromhex(claim['radius']):.3g}")
        cert["reason"] = (f"{cert.get('reason', '')}; a {region} around the witness ({size}) is proved inside the "
                          "set (arb, claim 'escaping-set')").lstrip("; ")
    else:
        cert["reason"] = f"{cert.get('reason', '')}; {region} claim {claim['outcome']}: {claim['reason']}".lstrip("; ")
    return bool(certified or proved), cert, claim


def _decide_G(enc: Enclosure, s, a, z, c) -> bool | None:
    Gb = enc.G(s.outer_cols, s.inner_cols, s.k, s.q, box_balls(a, z))
    c2 = arb(float(c)) ** 2
    lower = sum((x.abs_lower().lower() ** 2 for x in Gb), arb(0))
    upper = sum((x.abs_upper().upper() ** 2 for x in Gb), arb(0))
    if lower > c2:
        return True
    if upper < c2:
        return False
    return None


def _certify_cover(rp, certify, dim, what, inside, graph, run):
    """``(certified, certificate dict, graph)``: ``run(enclosure)`` proves the box cover when asked and
    feasible (dimension <= 3); otherwise the set stays a sampled candidate and ``graph`` is kept."""
    if certify and dim <= 3 and inside.any():
        try:
            enc = Enclosure(rp.prob, rp.mu)
        except CertificateError as exc:
            return False, {"reason": str(exc)}, graph
        return run(enc)
    if dim > 3:
        return False, {"reason": f"{what} > 3: sampled candidate only"}, graph
    return False, {"reason": "not attempted"}, graph


def _certify_grid(rp, idx, lo, hi, centers, vals, inside, N, c, decide, grad_fn):
    """Prove the inequality on the cells that sit inside by a Lipschitz buffer; keep only proven cells."""
    gn = np.linalg.norm(grad_fn(centers[inside]), axis=1)
    Lip = 1.5 * float(np.max(gn)) if len(gn) else 0.0
    half_diag = 0.5 * float(np.linalg.norm(hi[0] - lo[0]))
    cand = inside & (vals > c + Lip * half_diag)
    if not cand.any():
        cand = inside
    rows = np.nonzero(cand)[0]
    status, evals = certify_cells(lo[rows], hi[rows], decide, max_depth=3)
    proved = np.zeros(len(idx), bool)
    proved[rows[status == 1]] = True
    n_undec, n_ref = int(np.sum(status == -1)), int(np.sum(status == 0))
    ok = bool(n_undec == 0 and n_ref == 0 and proved.any())
    cert = {"cells": int(len(rows)), "proved": int(proved.sum()), "undecided": n_undec, "refuted": n_ref,
            "box_evaluations": int(evals), "precision_bits": flint.ctx.prec,
            "reason": "every cell of the cover proven inside the set (arb)" if ok else
            f"{n_undec} undecided and {n_ref} refuted cells out of {len(rows)}: candidate only"}
    if ok:
        graph = _grid_graph(idx, proved, N, lo, hi, centers, vals)
    else:
        graph = _grid_graph(idx, inside, N, lo, hi, centers, vals)
    return ok, cert, graph


# ---------------------------------------------------------------------------- homogeneous
def _homogeneous_set(rp: ReducedPotential, g: Gap, c: float, sign: int, rng, certify: bool,
                     resolution: int | None) -> EscapingSet:
    p, q = rp.family.p, rp.structure.degree

    def score(U):  # > c inside
        J = rp.J(U / np.linalg.norm(U, axis=1, keepdims=True))
        return J if sign > 0 else -J

    def member(U):
        return score(U) > c

    notes = []
    if p <= 3:
        N = resolution or {1: 46, 2: 64, 3: 22}[p]
        idx, lo, hi = _grid(-1.15, 1.15, p, N)
        rmin = np.sqrt(np.sum(np.where((lo <= 0) & (hi >= 0), 0.0, np.minimum(lo**2, hi**2)), axis=1))
        rmax = np.sqrt(np.sum(np.maximum(lo**2, hi**2), axis=1))
        shell = (rmin <= 1.0) & (rmax >= 1.0) & (rmin > 0)
        centers = 0.5 * (lo + hi)
        vals = np.full(len(idx), -np.inf)
        vals[shell] = score(centers[shell])
        inside = shell & (vals > c)
        pairs = _grid_pairs(idx, inside, shell)
        graph = _grid_graph(idx, inside, N, lo, hi, centers, vals)
        how = f"grid of {N}^{p} cells meeting the unit sphere"
    else:
        pts = sphere_points(4096, p, rng)
        vals = score(pts)
        inside = vals > c
        ii, oo = np.nonzero(inside)[0], np.nonzero(~inside)[0]
        pairs = np.zeros((0, 2), int)
        if len(ii) and len(oo):
            near = np.argmin(np.linalg.norm(pts[ii][:, None] - pts[oo][None], axis=2), axis=1)
            pairs = np.stack([ii, oo[near]], axis=1)
        graph = _sample_graph(pts, inside, vals, member)
        centers = pts
        how = f"{len(pts)} Sobol points on the sphere, 8-NN graph"
    if len(pairs):
        P = _bisect(member, centers[pairs[:, 0]], centers[pairs[:, 1]])
        P /= np.linalg.norm(P, axis=1, keepdims=True)
        kappa = float(np.min(np.linalg.norm(rp.sphere(P)[1], axis=1)))
        n_level = len(P)
    else:
        kappa, n_level = float("nan"), 0
        notes.append("no level-set crossing found: the set may be the whole sphere")
    certified, cert, graph = _certify_cover(
        rp, certify, p, f"dimension {p}", inside, graph,
        lambda enc: _certify_grid(rp, idx, lo, hi, centers, vals, inside, N, c,
                                  lambda a, z: _decide_sphere(enc, a, z, c, q, sign), lambda U: rp.sphere(U)[1]))
    wit = np.asarray(g.witness, float)
    if g.sign != sign:  # signed masses: the other-sign set gets its own witness
        wit = centers[np.nonzero(inside)[0][np.argmax(vals[inside])]]
        wit = wit / np.linalg.norm(wit)
    certified, cert, claim = _with_claim(rp, certify, "homogeneous", sign, c, wit, 1.0, certified, cert,
                                         "spherical cap")
    rate, growth = _growth("homogeneous", q, c)
    return EscapingSet(level=c, kind="homogeneous", witness=wit, growth_rate=rate, growth=growth, margin=kappa,
                       bounded=None, components=graph, n_components=nx.number_connected_components(graph),
                       perturbation=float(min(kappa, c)) if np.isfinite(kappa) else float("nan"),
                       certified=certified, sign=sign,
                       method=f"{how}; margin: min |grad_S J| over {n_level} bisected level-set points; "
                              f"the set is a cone (bounded=None), its section on the sphere is described",
                       certificate=cert, notes=tuple(notes), claim=claim, _rp=rp)


def _decide_sphere(enc: Enclosure, a, z, c, q, sign) -> bool | None:
    """$J(\\hat\\theta) \\in J(B)\\,[|B|_{max}^{-q}, |B|_{min}^{-q}]$ on the cone over box $B$ (q-homogeneity)."""
    balls = box_balls(a, z)
    lo2 = arb(0)
    hi2 = arb(0)
    for b, x, y in zip(balls, a, z):
        lb, ub = b.lower(), b.upper()
        if not (lb <= 0 and ub >= 0):
            m = lb if abs(float(x)) <= abs(float(y)) else ub
            lo2 = lo2 + m * m
        hi2 = hi2 + (lb * lb if abs(float(x)) >= abs(float(y)) else ub * ub)
    lo2 = lo2.lower()
    if not lo2 > 0:
        return None
    rlo, rhi = lo2.sqrt(), hi2.upper().sqrt()
    inv = (1 / rhi**q).union(1 / rlo**q)
    Jh = enc.J(balls) * inv
    val = Jh if sign > 0 else -Jh
    if val > arb(float(c)):
        return True
    if val < arb(float(c)):
        return False
    return None


# ---------------------------------------------------------------------------- public
def _levels(level: Any, known: str) -> list[float]:
    """``level`` as a non-empty list of finite positive floats (``known``: how to describe $s^*$ so far)."""
    raw = list(level) if isinstance(level, (list, tuple)) or (isinstance(level, np.ndarray) and level.ndim == 1) \
        else [level]
    if not raw:
        raise MeasureError(f"level: expected a number, a non-empty list of numbers or None, got {level!r}")
    out = []
    for c in raw:
        if isinstance(c, bool) or not isinstance(c, (int, float, np.floating, np.integer)) or not (0 < c < math.inf):
            raise MeasureError(f"level: expected numbers in (0, s*) with s* = {known}, got {c!r}")
        out.append(float(c))
    return out


def escaping_sets(prob: Problem, mu: Measure, level: float | list[float] | None = None, *,
                  seed: int | np.random.Generator | None = 0, gap: Gap | None = None, certify: bool = True,
                  resolution: int | None = None, tol: float = 1e-8,
                  progress: bool | None = None) -> list[EscapingSet]:
    r"""Escaping active sets of $\mu$ (docs/mathematics.md, escaping sets), one per level (and per sign for signed masses).

    Parameters
    ----------
    prob, mu
        The problem and a (stationary, non-global) measure $\mu_\infty$.
    level : float, list of floats or None
        Levels $c \in (0, s^*)$; default $c = s^*/2$, moved to $0.4 s^*$ ... when $c$ is not a regular
        value of the sampled level set. Finiteness and $c > 0$ are checked before the gap is computed.
    seed : int >= 0, Generator or None
    gap : Gap, optional
        A precomputed :func:`gap` result (else computed with ``seed``).
    certify : bool
        ``True`` or ``False`` (no truthy values): try to prove the set's inequalities by ball arithmetic on a
        box cover (dimension <= 3), and in any dimension on a cap (homogeneous) or a ball in $\eta$
        (output-linear) around the witness (``EscapingSet.claim``).
    resolution : int, optional
        Grid cells per axis of the cover.
    tol : float
        A finite number $\ge 0$; gaps at or below ``tol`` mean "global": no set is returned.
    progress : bool or None
        A progress report counting the sets built (and the gap search when ``gap`` is not given); None:
        only on a terminal or in a notebook.

    Returns
    -------
    list of EscapingSet
        Empty when the gap is below ``tol`` or the class is general.

    References
    ----------
    Chizat & Bach 2018 (arXiv 1805.09545), §3.3 (escape from non-optimal stationary points);
    Petit, Poon & Peyré 2026 (arXiv 2605.10775), escaping active sets (bounded nonlinearities, vector outputs).
    """
    if not isinstance(prob, Problem):
        raise MeasureError(f"prob: expected an mf.Problem, got {type(prob).__name__}")
    mu = prob._measure(mu)
    if gap is not None and not isinstance(gap, Gap):
        raise MeasureError(f"gap: expected a meanfield.Gap, got {type(gap).__name__}")
    if resolution is not None and (isinstance(resolution, bool) or not isinstance(resolution, (int, np.integer))
                                   or resolution < 2):
        raise MeasureError(f"resolution: expected an integer >= 2, got {resolution!r}")
    seed = seed_arg(seed, "seed", MeasureError, allow_none=True)
    certify = bool_arg(certify, "certify", MeasureError)
    tol = positive_float(tol, "tol", MeasureError, allow_zero=True)
    progress = bool_arg(progress, "progress", MeasureError, allow_none=True)
    # levels are checked up front (finite and > 0); c < s* once the gap is known
    known = f"{float(gap.value):.6g} (the gap)" if gap is not None else "the gap"
    levels = None if level is None else _levels(level, known)
    g = gap if gap is not None else compute_gap(prob, mu, seed=seed, progress=progress)
    rng = np.random.default_rng(seed)
    if g.kind == "general" or not g.value > tol:
        return []
    rp = ReducedPotential(prob, mu)
    sv = float(g.value)
    if levels is None:
        levels, auto = [0.5 * sv], True
    else:
        auto = False
        for c in levels:
            if not c < sv:
                raise MeasureError(f"level: expected numbers in (0, s*) with s* = {sv:.6g} (the gap), got {c!r}")
    out, bar = [], progress_bar(desc="mf.meanfield.escaping_sets", enabled=progress)
    for c in levels:
        if g.kind == "output-linear":
            # |G| > c is the eta-section of both signs' sets: one set per sign present among the masses
            s = cone_sign(mu)
            signs = [-1] if s == -1 else [1] if s == 1 else [-1, 1]
            make = lambda c, sign: _output_linear_set(rp, g, c, sign, rng, certify, resolution)  # noqa: E731
        else:
            s = cone_sign(mu)
            signs = [-1] if s == -1 else [1] if s == 1 else [sg for sg, ext in ((-1, -g.min_J), (1, g.max_J)) if ext > c]
            make = lambda c, sign: _homogeneous_set(rp, g, c, sign, rng, certify, resolution)  # noqa: E731
        for sign in signs:
            es = make(c, sign)
            if auto and not (es.margin > 1e-8 * max(1.0, sv)):
                for f in (0.4, 0.6, 0.3, 0.7):
                    alt = make(f * sv, sign)
                    if alt.margin > 1e-8 * max(1.0, sv):
                        es = alt
                        break
            out.append(es)
            bar.update(1)
    bar.close()
    return out
