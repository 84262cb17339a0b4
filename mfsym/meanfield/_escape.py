"""Certified pieces of escaping sets in any inner dimension: a cap or a ball around the witness (docs/certificates.md).

For a stationary $\\mu$ and a level $c > 0$ the escaping set $K_c$ (docs/mathematics.md, escaping sets)
is open, and forward-invariant for the frozen flow $\\dot\\theta = -\\mathrm{sign}(c_j)\\nabla J_\\mu$ of
particles of mass sign $-s$ (``sign`` $s$). A claim proves that an explicit region lies in it:

* homogeneous (degree $q$): the spherical cap $C = \\{\\hat\\theta \\in S^{p-1}: \\angle(\\hat\\theta, \\omega) \\le
  \\alpha\\}$ ($\\alpha \\le \\pi/2$) satisfies $\\sup_C (-s J) < -c$, so the cone over $C$ lies in $K_c$;
* output-linear: $\\{(A, \\eta): |\\eta - \\eta_w|_2 \\le r,\\ A \\ne 0,\\ \\angle(A, U_w) \\le \\alpha\\}$ satisfies
  $\\sup (-s\\langle A/|A|, G(\\eta)\\rangle) < -c$ ($\\alpha = 0$ when $A$ is a scalar: the half-line).

The supremum is enclosed in balls from the exact derivative formulas (:mod:`mfsym._enclose`), by the
mean-value form around the centre $u = \\omega/|\\omega|$: for $\\hat\\theta$ in the cap,
$\\hat\\theta - u = u(\\cos\\beta - 1) + v\\sin\\beta$ with $v \\perp u$, $\\beta \\le \\alpha$, the segment lies in
the ball $|\\xi - u| \\le 2\\sin(\\alpha/2)$, and
$J(\\hat\\theta) \\le J(u) + \\sin\\alpha\\,\\sup|P_u\\nabla J| + (1 - \\cos\\alpha)\\sup|u^\\top\\nabla J|$ over the box
containing that ball ($P_u$ projects orthogonally to $u$). It is intersected with the direct enclosure
of $J$ over the box, and the direct enclosure alone is used when the neuron (or the population kernel) has
a discontinuous primitive (``Heaviside``, ``sign``, ``Piecewise``): the mean-value form needs $J$
continuous and its derivative enclosed wherever it exists.
"""

from __future__ import annotations

import math

import flint
import numpy as np
import sympy as sp

from .._ball import Undecided
from .._enclose import ball_problem
from ..data import Samples

#: halvings of the region's radius before the claim is left undecided
BUDGET = 10
#: bisection steps that enlarge the first proved region towards the failed one twice its size
REFINE = 3
#: first angular radius of a cap (radians) and of the direction cap of an output-linear claim
ALPHA0 = 0.5
#: first radius of an eta-ball, relative to the inner length scale
RADIUS0 = 0.25


def _discontinuous(prob) -> bool:
    """Whether the neuron (or the population kernel) contains a primitive with jumps."""
    if isinstance(prob.data, Samples):
        exprs = prob.family.componentwise().expr
        exprs = list(exprs) if isinstance(exprs, (list, tuple, sp.MatrixBase)) else [exprs]
    else:
        exprs = [prob.data.kernel_expr(components=True)[0]]
    jumps = (sp.Heaviside, sp.sign, sp.Piecewise, sp.DiracDelta, sp.floor, sp.ceiling)
    return any(sp.sympify(e).has(*jumps) for e in exprs)


def _unit(u) -> flint.arb:
    """The ball $[-1, 1]$."""
    return flint.arb(0, 1) * u


def _norm_upper(vec) -> flint.arb:
    """An upper bound of the Euclidean norm of a ball vector (as an exact ball)."""
    sq = sum(((abs(v).upper()) ** 2 for v in vec), flint.arb(0))
    return sq.upper().sqrt().upper()


def _box(centre, rad):
    """Balls containing $[x - r, x + r]$ around each ball of ``centre`` (``rad`` a ball, $\\ge 0$)."""
    return [x + _unit(rad) for x in centre]


def cap_bound(bp, omega: np.ndarray, alpha: float, sign: int, continuous: bool) -> flint.arb:
    """A ball containing $-s J(\\hat\\theta)$ for every $\\hat\\theta$ of the cap $\\angle(\\hat\\theta, \\omega) \\le \\alpha$."""
    w = [flint.arb(float(v)) for v in omega]
    nrm = sum((x * x for x in w), flint.arb(0)).sqrt()
    u = [x / nrm for x in w]
    a = flint.arb(float(alpha))
    chord = 2 * (a / 2).sin()
    box = _box(u, chord)
    s = -int(sign)
    direct = s * bp.potential(box)   # J over the box that contains the cap
    if not continuous:
        return direct
    Ju = s * bp.potential(u)
    g = bp.grad_potential(box)
    dot = sum((ui * gi for ui, gi in zip(u, g)), flint.arb(0))
    Pg = [gi - ui * dot for ui, gi in zip(u, g)]
    inc = a.sin() * _norm_upper(Pg) + (1 - a.cos()) * abs(dot).upper()
    mv = Ju + _unit(inc)
    return _intersect(mv, direct)


def _intersect(a: flint.arb, b: flint.arb) -> flint.arb:
    """The tighter ball containing $a \\cap b$ (both enclose the same quantity)."""
    lo = a.lower() if a.lower() >= b.lower() else b.lower()
    hi = a.upper() if a.upper() <= b.upper() else b.upper()
    if not lo <= hi:  # disjoint enclosures of one quantity cannot happen; keep the first rather than guess
        return a
    return lo.union(hi)


def ball_bound(bp, st, theta_w: np.ndarray, radius: float, alpha: float, sign: int, continuous: bool) -> flint.arb:
    """A ball containing $-s\\langle U, G(\\eta)\\rangle$ for $|\\eta - \\eta_w|_2 \\le r$ and unit $U$ within angle
    $\\alpha$ of $U_w$ (the outer block of ``theta_w``, normalised)."""
    outer, inner = list(st.outer_cols), list(st.inner_cols)
    U = [flint.arb(float(theta_w[c])) for c in outer]
    nU = sum((x * x for x in U), flint.arb(0)).sqrt()
    U = [x / nU for x in U]
    eta = [flint.arb(float(theta_w[c])) for c in inner]
    r = flint.arb(float(radius))
    ebox = _box(eta, r)
    p = len(theta_w)
    s = -int(sign)

    def theta(outer_vals, inner_vals):
        th = [flint.arb(0)] * p
        for c, v in zip(outer, outer_vals):
            th[c] = v
        for c, v in zip(inner, inner_vals):
            th[c] = v
        return th

    h0 = bp.potential(theta(U, ebox))  # <U_w, G(eta)> over the box, directly
    if continuous:
        g = bp.grad_potential(theta(U, ebox))
        mv = bp.potential(theta(U, eta)) + _unit(r * _norm_upper([g[c] for c in inner]))
        h0 = _intersect(mv, h0)
    if alpha == 0 or len(outer) == 1:
        return s * h0
    # U = U_w cos(beta) + V sin(beta), V unit and orthogonal to U_w, beta <= alpha
    G = []
    for c in range(len(outer)):
        unit = [flint.arb(1) if i == c else flint.arb(0) for i in range(len(outer))]
        G.append(bp.potential(theta(unit, ebox)))
    PG = [Gi - Ui * h0 for Gi, Ui in zip(G, U)]
    a = flint.arb(float(alpha))
    cosb = a.cos().lower().union(flint.arb(1))
    return s * (cosb * h0) + _unit(a.sin() * _norm_upper(PG))


def enclose(prob, mu, kind: str, st, sign: int, centre: np.ndarray, radius: float, alpha: float,
            bp=None) -> flint.arb:
    """The ball of the claim's quantity over its region (raises :class:`~mfsym._ball.Undecided`); ``bp`` a
    ball problem of ``prob`` and ``mu`` already built (:func:`mfsym._enclose.ball_problem`)."""
    bp = ball_problem(prob, mu.particles, mu.masses, offset=mu.offset) if bp is None else bp
    continuous = not _discontinuous(prob)
    if kind == "homogeneous":
        return cap_bound(bp, centre, alpha, sign, continuous)
    return ball_bound(bp, st, centre, radius, alpha, sign, continuous)


def schedule(kind: str, st, centre: np.ndarray, scale: float):
    """The regions tried, largest first: ``(radius, alpha)`` pairs, each half the previous one."""
    multi = kind == "output-linear" and len(st.outer_cols) > 1
    for k in range(BUDGET + 1):
        f = 0.5 ** k
        if kind == "homogeneous":
            yield 0.0, ALPHA0 * f
        else:
            yield RADIUS0 * scale * f, (ALPHA0 * f if multi else 0.0)


def norm_centre(kind: str, st, witness: np.ndarray) -> np.ndarray:
    """The centre as stated: the unit direction (homogeneous) or the witness with a unit outer block."""
    w = np.asarray(witness, dtype=float).copy()
    if kind == "homogeneous":
        return w / np.linalg.norm(w)
    outer = list(st.outer_cols)
    w[outer] = w[outer] / np.linalg.norm(w[outer])
    return w


def usable_witness(kind: str, st, witness) -> bool:
    """A finite witness whose normalised part is non-zero."""
    w = np.asarray(witness, dtype=float)
    if w.ndim != 1 or not np.all(np.isfinite(w)):
        return False
    part = w if kind == "homogeneous" else w[list(st.outer_cols)]
    return bool(np.linalg.norm(part) > 0) and math.isfinite(float(np.linalg.norm(part)))


def _statement(kind: str, sign: int) -> str:
    """What a proved claim states (numbers in the claim's fields)."""
    val = "J_mu(theta)" if sign < 0 else "-J_mu(theta)"
    if kind == "homogeneous":
        return (f"for every unit theta with angle(theta, witness) <= angle: {val} < -level (enclosure of its "
                "supremum over the cap < threshold = -level); so the cone over this cap lies in K_c, c = level, "
                "which is forward-invariant for the frozen flow of particles of mass sign -sign, on which "
                "d|theta|/dt >= q c |theta|^(q-1) (growth_rate = q c); margin = -level - sup: K_c keeps the cap for "
                "every potential within margin of J_mu in sup norm on it")
    val = "<U, G_mu(eta)>" if sign < 0 else "-<U, G_mu(eta)>"
    return (f"for every eta with |eta - eta_witness|_2 <= radius and every unit U within angle of the witness's "
            f"outer block: {val} < -level; so {{(A, eta): A = t U, t > 0}} lies in K_c, c = level, which is "
            "forward-invariant for the frozen flow of particles of mass sign -sign, on which d|A|/dt >= c "
            "(growth_rate = c); margin = -level - sup")


def claim(prob, mu, kind: str, sign: int, level: float, centre: np.ndarray, radius: float, alpha: float,
          bp=None) -> dict:
    """The ``escaping-set`` claim for the stated region, enclosed from scratch (docs/certificates.md)."""
    from ..stability import _certificates as C
    from ._potential import structure
    from ._sets import _growth

    st = structure(prob)
    rate, growth = _growth(kind, st.degree, level)
    if kind == "homogeneous":  # fields the region does not use are 0, so that no field is inert
        radius = 0.0
    elif len(st.outer_cols) == 1:
        alpha = 0.0
    data = {"kind": kind, "sign": int(sign), "level": C._hexf(level), "witness": C.encode(centre),
            "region": "spherical-cap" if kind == "homogeneous" else "eta-ball", "radius": C._hexf(radius),
            "angle": C._hexf(alpha), "growth": growth, "growth_rate": C._hexf(rate), "method": "arb"}
    st_text = _statement(kind, sign)
    try:
        ball = enclose(prob, mu, kind, st, sign, centre, radius, alpha, bp)
    except Undecided as exc:
        return C._claim("escaping-set", st_text, "<", -level, None, reason=str(exc), margin=C._hexf(0.0), **data)
    margin = 0.0
    if ball < flint.arb(-float(level)):
        lo = float.fromhex(C.to_interval_hex(flint.arb(-float(level)) - ball.upper())[0])
        margin = max(0.0, lo)
    return C._claim("escaping-set", st_text, "<", -level, ball, margin=C._hexf(margin), **data)


def search(prob, mu, kind: str, sign: int, level: float, witness, scale: float = 1.0) -> dict | None:
    """The largest region of the schedule whose claim is proved, else the last one tried (None: no witness)."""
    from ._potential import structure

    st = structure(prob)
    if st.kind != kind or not usable_witness(kind, st, witness):
        return None
    centre = norm_centre(kind, st, witness)
    try:
        bp = ball_problem(prob, mu.particles, mu.masses, offset=mu.offset)
    except Undecided:
        bp = None  # no enclosure for this problem at all: one claim says why
    last, failed = None, None
    for radius, alpha in schedule(kind, st, centre, scale):
        last = claim(prob, mu, kind, sign, level, centre, radius, alpha, bp)
        if bp is None:
            return last
        if last["outcome"] == "proved":
            if failed is None:
                return last
            # bisect between the proved region and the failed one twice its size (REFINE steps)
            lo, hi = 1.0, 2.0
            for _ in range(REFINE):
                f = 0.5 * (lo + hi)
                trial = claim(prob, mu, kind, sign, level, centre, radius * f, alpha * f, bp)
                if trial["outcome"] == "proved":
                    lo, last = f, trial
                else:
                    hi = f
            return last
        failed = last
    last["reason"] = (f"no region proved within {BUDGET} halvings of the radius: {last['reason']}")
    return last


__all__ = ["cap_bound", "ball_bound", "enclose", "schedule", "norm_centre", "usable_witness", "claim", "search"]
