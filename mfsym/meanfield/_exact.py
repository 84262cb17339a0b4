r"""Exact global search for piecewise-linear potentials: ridge neurons $\sigma(w^\top x + b)$ on samples with
$\sigma(z) = \alpha z$ for $z \ge 0$ and $\gamma z$ for $z \le 0$ (relu: $\alpha = 1, \gamma = 0$) in the
homogeneous class (docs/mathematics.md, exact search for piecewise-linear potentials).

With $\tilde x_i$ the (bias-augmented) samples and $\eta$ the inner parameters,
$\sigma(z) = \gamma z + (\alpha - \gamma)\,\mathrm{relu}(z)$, so every scalar potential met here has the form
$$P(\eta) = g_0^\top\eta + \sum_i w_i\,\mathrm{relu}(\tilde x_i^\top\eta),$$
positively 1-homogeneous and linear on each cone of constant activation pattern:

* ``outputs=0`` ($q = 1$): $J_\mu = P$ with $w_i = (\alpha - \gamma) r_i / n$, $g_0 = \frac\gamma n\sum_i r_i\tilde x_i$;
* a trained output block $a \in \mathbb{R}^k$ ($q = 2$): $J_\mu(a, \eta) = \langle a, h(\eta)\rangle + \frac\lambda2|\theta|^2$
  with $h_c = P_c$ built from the residual column $r_{\cdot c}$, and
  $\min_{|\theta| = 1} J_\mu = -\frac12\max_{|\eta| = 1}|h(\eta)| + \frac\lambda2$.

**Relation to the sphere.** Let $m_2 = \min_{|\eta|_2 = 1} P$ and $m_\infty = \min_{|\eta|_\infty \le 1} P$ in
$\mathbb{R}^D$. By homogeneity $m_\infty = \min(0, \min_{|u|_\infty = 1} P(u))$ and $P(u) = |u|_2 P(u/|u|_2)$
with $1 \le |u|_2 \le \sqrt D$ on $|u|_\infty = 1$; hence $m_\infty \le \min(0, m_2)$ (take
$u = \hat u/|\hat u|_\infty$ at a sphere minimiser $\hat u$: $P(u) = m_2/|\hat u|_\infty$) and, if $m_2 < 0$,
$m_\infty \ge \sqrt D\, m_2$. So $\operatorname{sign} m_2 = \operatorname{sign} m_\infty$, and a lower bound
$m_\infty \ge -\epsilon$ proves $m_2 \ge -\epsilon$. For $q = 2$, $|h(\eta)|_2 \le \sqrt k\,|h(\eta)|_\infty$ and
$|h(\eta)|_\infty \le \max_{c,\pm}\max_{|u|_\infty\le1}\pm h_c(u)$ for $|\eta|_2 = 1$.

**The search.** A minimum of $P$ over $|\eta|_\infty \le 1$ that is negative is attained on the boundary, so
each of the $2D$ facets $\{\eta_j = \pm1\}$ is searched by branch and bound over activation patterns: a
node fixes the sign of some pre-activations $z_i = \tilde x_i^\top\eta$; the linear program of the node
(solved by HiGHS, ``scipy.optimize.linprog``) has the exact epigraph $t_i \ge \max(0, z_i)$ for $w_i > 0$ and
the triangle $t_i \le \rho_i(z_i - l_i)$, $\rho_i \ge u_i/(u_i - l_i)$, for $w_i < 0$ with $z_i \in [l_i, u_i]$
on the facet, so its value is a lower bound of $P$ on the node; a node whose neurons are all fixed is
exact. Branching splits $z_i \ge 0$ / $z_i \le 0$ (the mixed-integer program with binary pattern
variables, branched explicitly).

**Rigour.** The LP solver's numbers are not trusted: a node's bound is recomputed from its dual vector $y$
in ball arithmetic (Neumaier & Shcherbina 2004, safe bounds for linear programs): for $y \ge 0$ on
$Ax \le b$ and any $v$ on $Ex = e$, $c^\top x \ge \sum_j \min(r_j l_j, r_j u_j) - y^\top b - v^\top e$ with
$r = c + A^\top y + E^\top v$ for every $x$ in the box $[l, u]$ satisfying the constraints. An infeasible
node is discarded only when a phase-one dual proves it empty the same way. The coefficients $w_i, g_0$
are balls enclosing the true residuals (``BallProblem.residuals``); floats enter as exact binary values.

References
----------
A. Neumaier, O. Shcherbina, *Safe bounds in linear and mixed-integer linear programming*,
Math. Program. 99 (2004) 283-296. Chizat & Bach 2018 (arXiv 1805.09545), §3.3 (homogeneous optimality).
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field

import flint
import numpy as np
import scipy.optimize as so
import sympy as sp

from .._ball import Undecided, precision
from .._types import FloatArray
from ..data import Samples
from ..families import Ridge
from ..families import Z

#: size limits of the exact search: samples n and inner dimension D (= d + bias)
MAX_SAMPLES = 400
MAX_INNER_DIM = 40
#: linear programs per call (all facets and sub-problems together): the certificate's claim, and the search
#: inside ``gap`` (about 10-30 ms each)
NODE_LIMIT = 1000
SEARCH_LIMIT = 600
#: ball precision of the safe bounds (bits)
BITS = 128

_LINPROG = {"method": "highs", "options": {"presolve": True, "primal_feasibility_tolerance": 1e-10,
                                           "dual_feasibility_tolerance": 1e-10}}


@dataclass(frozen=True)
class Piecewise:
    """$\\sigma(z) = \\alpha z$ ($z \\ge 0$), $\\gamma z$ ($z \\le 0$): the slopes as rationals."""

    alpha: sp.Rational
    gamma: sp.Rational


def slopes(expr: sp.Expr) -> Piecewise | None:
    """The slopes of a positively 1-homogeneous piecewise-linear $\\sigma$ (kink at 0), or None.

    Decided by sympy on the two half-lines: $\\sigma(t)/t$ and $-\\sigma(-t)/t$ for a positive symbol $t$ must
    be rational constants (so $\\sigma$ is linear on each half-line through 0)."""
    t = sp.Symbol("t_pl", positive=True)
    try:
        a = sp.nsimplify(sp.simplify(expr.subs(Z, t) / t))
        g = sp.nsimplify(sp.simplify(-expr.subs(Z, -t) / t))
    except (TypeError, ValueError, AttributeError):
        return None
    if not (a.is_Rational and g.is_Rational) or a == g:
        return None
    return Piecewise(sp.Rational(a), sp.Rational(g))


def applicable(prob) -> tuple[Piecewise | None, str]:
    """``(slopes, "")`` when the exact search applies to ``prob``, else ``(None, reason)``.

    It applies to a homogeneous ridge family on samples with the square loss whose activation is
    piecewise linear (decided from the activation's expression, never from the family's name), within
    :data:`MAX_SAMPLES` and :data:`MAX_INNER_DIM`."""
    from ._potential import structure

    fam = prob.family
    inner = getattr(fam, "inner_map", None)
    if not isinstance(inner, Ridge):
        return None, "not a ridge neuron sigma(w.x + b)"
    if not isinstance(prob.data, Samples):
        return None, "population data (the exact search needs samples)"
    if structure(prob).kind != "homogeneous":
        return None, "not in the homogeneous class"
    if prob.loss_name != "square":
        return None, f"the residual enclosures need the square loss, not {prob.loss_name!r}"
    pl = slopes(inner.activation.expr)
    if pl is None:
        return None, f"sigma(z) = {sp.sstr(inner.activation.expr)} is not piecewise linear with a kink at 0"
    n, D = prob.data.n, inner.d + int(inner.bias)
    if n > MAX_SAMPLES or D > MAX_INNER_DIM:
        return None, (f"size limit of the exact search: n = {n} samples (limit {MAX_SAMPLES}), inner dimension "
                      f"{D} (limit {MAX_INNER_DIM})")
    return pl, ""


# ---------------------------------------------------------------------------- the scalar sub-problems
@dataclass
class Scalar:
    """$P(\\eta) = g_0^\\top\\eta + \\sum_i w_i\\,\\mathrm{relu}(\\tilde x_i^\\top\\eta)$ with ball coefficients."""

    Xa: FloatArray            # (n, D)
    w: list                   # n arb balls
    g0: list                  # D arb balls
    label: str

    def mid(self) -> tuple[FloatArray, FloatArray]:
        return (np.array([float(v.mid()) for v in self.w]), np.array([float(v.mid()) for v in self.g0]))

    def value(self, eta: FloatArray) -> float:
        """$P(\\eta)$ in floats at the coefficient midpoints (for the search only)."""
        w, g0 = self.mid()
        return float(g0 @ eta + w @ np.maximum(self.Xa @ eta, 0.0))


def scalars(prob, mu, pl: Piecewise) -> tuple[list[Scalar], dict]:
    """The scalar potentials $\\pm P$ whose minima over the $\\ell^\\infty$ ball bound the gap, and the layout."""
    from .._enclose import ball_problem
    from ._potential import cone_sign

    fam = prob.family
    inner = fam.inner_map
    Xa = inner._aug(prob.data.X.reshape(prob.data.n, -1))
    bp = ball_problem(prob, mu.particles, mu.masses, offset=mu.offset)
    R = bp.residuals()  # (n, k) balls
    n, k = len(R), len(R[0])
    alpha = flint.arb(flint.fmpq(int(pl.alpha.p), int(pl.alpha.q)))
    gamma = flint.arb(flint.fmpq(int(pl.gamma.p), int(pl.gamma.q)))
    inv_n = flint.arb(1) / n
    outer = getattr(fam, "outer", None)
    q = 2 if outer is not None else 1
    s = cone_sign(mu)
    out = []
    for c in range(k):
        w = [R[i][c] * (alpha - gamma) * inv_n for i in range(n)]
        g0 = [sum((R[i][c] * flint.arb(float(Xa[i, j])) for i in range(n)), flint.arb(0)) * gamma * inv_n
              for j in range(Xa.shape[1])]
        senses = (1, -1) if (q == 2 or s == 0) else ((1,) if s == -1 else (-1,))
        for e in senses:
            ee = flint.arb(e)
            out.append(Scalar(Xa, [ee * v for v in w], [ee * v for v in g0], f"{'+' if e > 0 else '-'}h_{c}"))
    layout = {"q": q, "k": k, "cone_sign": s}
    if q == 2:
        sl = fam.block_slice(outer)
        layout["outer"] = np.arange(sl.start, sl.stop)
    layout["inner"] = np.array([i for i in range(fam.p) if "outer" not in layout or i not in layout["outer"]])
    return out, layout


# ---------------------------------------------------------------------------- rigorous bounds
def _up(x: float) -> float:
    return float(np.nextafter(np.nextafter(x, np.inf), np.inf))


def _down(x: float) -> float:
    return float(np.nextafter(np.nextafter(x, -np.inf), -np.inf))


def _safe_bound(c: list, A: FloatArray, b: list, E: FloatArray, e: list, lo: FloatArray, hi: FloatArray,
                y: FloatArray, v: FloatArray) -> flint.arb:
    """A ball containing a rigorous lower bound of $c^\\top x$ over $\\{Ax \\le b, Ex = e, lo \\le x \\le hi\\}$
    from any multipliers $y \\ge 0$, $v$ (Neumaier & Shcherbina 2004); the bound is its lower endpoint."""
    y = np.maximum(np.nan_to_num(y, nan=0.0, posinf=0.0, neginf=0.0), 0.0)
    v = np.nan_to_num(v, nan=0.0, posinf=0.0, neginf=0.0)
    N = len(c)
    r = list(c)
    rows = [(A, y), (E, v)]
    for M, mult in rows:
        for i in np.nonzero(mult)[0]:
            yi = flint.arb(float(mult[i]))
            for j in np.nonzero(M[i])[0]:
                r[j] = r[j] + yi * flint.arb(float(M[i, j]))
    tot = flint.arb(0)
    for j in range(N):
        a, bb = r[j] * flint.arb(float(lo[j])), r[j] * flint.arb(float(hi[j]))
        tot += a.min(bb)
    for M, mult, rhs in ((A, y, b), (E, v, e)):
        for i in np.nonzero(mult)[0]:
            tot -= flint.arb(float(mult[i])) * rhs[i]
    return tot


def _lower(ball: flint.arb) -> float:
    if not ball.is_finite():
        return -math.inf
    lo = ball.lower()
    return _down(float(lo.mid()) - float(lo.rad()))


@dataclass
class _Node:
    key: float
    order: int
    signs: np.ndarray = field(compare=False)

    def __lt__(self, other):
        return (self.key, self.order) < (other.key, other.order)


@dataclass
class Search:
    """Result of the branch and bound on one scalar potential over $|\\eta|_\\infty \\le 1$.

    ``lower``: rigorous lower bound of the minimum (``-inf`` when incomplete); ``best``/``eta``: the best point
    found (float value at the coefficient midpoints); ``nodes``: linear programs solved; ``complete``."""

    label: str
    lower: float
    best: float
    eta: FloatArray
    nodes: int
    complete: bool


def minimise(P: Scalar, threshold: float, budget: int, early: bool = False) -> Search:
    r"""Branch and bound for $\min_{|\eta|_\infty \le 1} P$ (module docstring), pruning nodes whose safe bound
    is $\ge \min(-\text{threshold}, \text{best} - 10^{-9}|\text{best}|)$: the result is the minimum to that
    accuracy, or a proof that it is $\ge -$``threshold``. ``early``: stop (incomplete) at the first point below
    $-$``threshold``, when only the proof is wanted."""
    Xa = P.Xa
    n, D = Xa.shape
    w_mid, _ = P.mid()
    absX = np.abs(Xa)
    best, best_eta = 0.0, np.zeros(D)
    lowest = math.inf
    nodes, complete, order = 0, True, 0
    for j in range(D):
        for s in (1.0, -1.0):
            # facet eta_j = s: z_i in [l_i, u_i] (outward rounded)
            rest = np.array([_up(math.fsum(np.delete(absX[i], j))) for i in range(n)])  # correctly rounded, then up
            l = np.array([_down(s * Xa[i, j] - rest[i]) for i in range(n)])
            u = np.array([_up(s * Xa[i, j] + rest[i]) for i in range(n)])
            heap = [_Node(-math.inf, order, np.zeros(n, dtype=int))]
            while heap:
                node = heapq.heappop(heap)
                level = min(-threshold, best - 1e-9 * abs(best))
                if node.key >= level:
                    lowest = min(lowest, node.key)
                    continue
                if nodes >= budget:
                    complete = False
                    heap.clear()
                    break
                nodes += 1
                bound, eta, split = _node(P, w_mid, Xa, l, u, j, s, node.signs)
                if eta is not None:
                    val = P.value(eta)
                    if val < best:
                        best, best_eta = val, eta
                    if early and best < -threshold:
                        complete = False
                        heap.clear()
                        break
                level = min(-threshold, best - 1e-9 * abs(best))
                if bound >= level or split is None:
                    lowest = min(lowest, bound)
                    continue
                for sg in (1, -1):
                    child = node.signs.copy()
                    child[split] = sg
                    order += 1
                    heapq.heappush(heap, _Node(bound, order, child))
            if not complete:
                break
        if not complete:
            break
    lower = min(lowest, 0.0) if complete else -math.inf
    return Search(P.label, lower, best, best_eta, nodes, complete)


def _node(P: Scalar, w_mid, Xa, l, u, j: int, s: float, signs: np.ndarray):
    """One node: ``(rigorous lower bound, LP point or None, neuron to split or None)``."""
    n, D = Xa.shape
    act = (l >= 0) | (signs > 0)
    dead = ((u <= 0) | (signs < 0)) & ~act
    free = ~act & ~dead  # a weight whose ball straddles 0 keeps its epigraph: the true (z, relu z) stays feasible
    F = np.nonzero(free)[0]
    nz = len(F)
    # variables x = (eta (D), z_F (nz), t_F (nz)); E: z_F - X_F eta = 0
    N = D + 2 * nz
    cvec = [flint.arb(0)] * N
    for jj in range(D):
        cvec[jj] = P.g0[jj]
    for i in np.nonzero(act)[0]:
        wi = P.w[i]
        for jj in range(D):
            if Xa[i, jj] != 0:
                cvec[jj] = cvec[jj] + wi * flint.arb(float(Xa[i, jj]))
    for k, i in enumerate(F):
        cvec[D + nz + k] = P.w[i]
    E = np.zeros((nz, N))
    for k, i in enumerate(F):
        E[k, :D] = -Xa[i]
        E[k, D + k] = 1.0
    e = [flint.arb(0)] * nz
    rows, rhs = [], []
    for i in np.nonzero((signs != 0))[0]:  # branched signs: s_i z_i >= 0 (on eta)
        r = np.zeros(N)
        r[:D] = -signs[i] * Xa[i]
        rows.append(r)
        rhs.append(flint.arb(0))
    rho = {}
    for k, i in enumerate(F):
        if w_mid[i] > 0:  # z_i - t_i <= 0
            r = np.zeros(N)
            r[D + k], r[D + nz + k] = 1.0, -1.0
            rows.append(r)
            rhs.append(flint.arb(0))
        else:  # t_i - rho z_i <= -rho l_i with rho >= u/(u - l), rho <= 1
            rr = min(1.0, _up(_up(u[i] / (u[i] - l[i]))))  # two roundings, four ulps up: rho >= u / (u - l)
            rho[i] = rr
            r = np.zeros(N)
            r[D + k], r[D + nz + k] = -rr, 1.0
            rows.append(r)
            rhs.append(-flint.arb(rr) * flint.arb(float(l[i])))
    A = np.array(rows) if rows else np.zeros((0, N))
    lo = np.concatenate([np.full(D, -1.0), l[F], np.zeros(nz)])
    hi = np.concatenate([np.full(D, 1.0), u[F], np.maximum(u[F], 0.0)])
    lo[j] = hi[j] = s
    cmid = np.array([float(v.mid()) for v in cvec])
    b_mid = np.array([float(v.mid()) for v in rhs]) if rhs else None
    res = so.linprog(cmid, A_ub=A if len(rows) else None, b_ub=b_mid, A_eq=E if nz else None,
                     b_eq=np.zeros(nz) if nz else None, bounds=list(zip(lo, hi)), **_LINPROG)
    if res.status == 2:  # infeasible: prove it (phase one) or keep the node open
        if _proved_empty(A, rhs, E, e, lo, hi):
            return math.inf, None, None
        ball = _safe_bound(cvec, A, rhs, E, e, lo, hi, np.zeros(len(rows)), np.zeros(nz))
        return _lower(ball), None, _first_split(F, w_mid)
    if res.status != 0:
        ball = _safe_bound(cvec, A, rhs, E, e, lo, hi, np.zeros(len(rows)), np.zeros(nz))
        return _lower(ball), None, _first_split(F, w_mid)
    y = -res.ineqlin.marginals if len(rows) else np.zeros(0)
    v = -res.eqlin.marginals if nz else np.zeros(0)
    ball = _safe_bound(cvec, A, rhs, E, e, lo, hi, y, v)
    eta = np.clip(res.x[:D], -1.0, 1.0)
    eta[j] = s
    # split the negative-weight neuron whose relaxation is most violated at the LP point
    split, worst = None, 0.0
    for k, i in enumerate(F):
        if w_mid[i] < 0:
            gapv = -w_mid[i] * (res.x[D + nz + k] - max(res.x[D + k], 0.0))
            if split is None or gapv > worst:
                split, worst = int(i), gapv
    return _lower(ball), eta, split


def _first_split(F, w_mid):
    neg = [int(i) for i in F if w_mid[i] < 0]
    return neg[0] if neg else None


def _proved_empty(A, rhs, E, e, lo, hi) -> bool:
    """Phase one: $\\min 1^\\top s$ s.t. $Ax - s \\le b$; a safe bound $> 0$ of its dual proves the node empty."""
    m = A.shape[0]
    if m == 0:
        return False
    N = A.shape[1]
    A1 = np.concatenate([A, -np.eye(m)], axis=1)
    E1 = np.concatenate([E, np.zeros((E.shape[0], m))], axis=1) if E.shape[0] else None
    c1 = np.concatenate([np.zeros(N), np.ones(m)])
    big = 1e6
    res = so.linprog(c1, A_ub=A1, b_ub=np.array([float(v.mid()) for v in rhs]), A_eq=E1,
                     b_eq=np.zeros(E.shape[0]) if E.shape[0] else None,
                     bounds=list(zip(lo, hi)) + [(0.0, big)] * m, **_LINPROG)
    if res.status != 0:
        return False
    y = np.minimum(np.maximum(-res.ineqlin.marginals, 0.0), 1.0)
    v = -res.eqlin.marginals if E.shape[0] else np.zeros(0)
    cb = [flint.arb(0)] * N + [flint.arb(1)] * m
    ball = _safe_bound(cb, A1, rhs, E1 if E1 is not None else np.zeros((0, N + m)), e,
                       np.concatenate([lo, np.zeros(m)]), np.concatenate([hi, np.zeros(m)]), y, v)
    # with s fixed to 0 the bound is over the original constraint set: > 0 means no x satisfies them
    return _lower(ball) > 0


# ---------------------------------------------------------------------------- the gap
@dataclass
class ExactResult:
    """The exact search on all sub-problems: a rigorous upper bound ``upper`` of the gap (``inf`` if any
    sub-problem was incomplete), the sub-searches, and the layout (``q``, ``k``, ``cone_sign``)."""

    upper: float
    searches: list
    layout: dict
    reg: float
    threshold: float = 0.0

    @property
    def complete(self) -> bool:
        return all(s.complete for s in self.searches)

    @property
    def nodes(self) -> int:
        return sum(s.nodes for s in self.searches)


def gap_upper(searches: list, layout: dict, reg: float) -> float:
    """Rigorous upper bound of the gap from the sub-problems' lower bounds (module docstring)."""
    if not all(s.complete for s in searches):
        return math.inf
    with precision(BITS):
        M = flint.arb(max(0.0, max(-s.lower for s in searches)))
        if layout["q"] == 2:
            U = M * flint.arb(layout["k"]).sqrt() / 2
            if layout["cone_sign"] == -1 and reg:
                U = U - flint.arb(float(reg)) / 2
        else:
            U = M
        hi = float(U.mid() + U.rad())
    return max(0.0, _up(hi))


def exact_search(prob, mu, pl: Piecewise, threshold: float, budget: int = NODE_LIMIT,
                 early: bool = False) -> ExactResult:
    """Run :func:`minimise` on every sub-problem with prune level ``threshold`` (expressed on the gap)."""
    with precision(BITS):
        subs, layout = scalars(prob, mu, pl)
    # a gap bound t needs sub-problem bounds 2t/sqrt(k) (q = 2) or t (q = 1)
    t = threshold if layout["q"] == 1 else 2 * threshold / math.sqrt(layout["k"])
    out, left = [], budget
    with precision(BITS):
        for P in subs:
            r = minimise(P, t, max(1, left), early)
            out.append(r)
            left -= r.nodes
            if not r.complete:
                break
    return ExactResult(gap_upper(out, layout, prob.reg), out, layout, float(prob.reg), t)


def witnesses(prob, mu, res: ExactResult) -> list[tuple[np.ndarray, int]]:
    """Unit-sphere witnesses $(\\hat\\theta, \\text{sense})$ from the best point of every sub-problem
    (sense +1: a point where $J$ is low; -1: where it is high)."""
    L = res.layout
    out = []
    for S in res.searches:
        if not np.any(S.eta):
            continue
        eta = S.eta / np.linalg.norm(S.eta)
        sign = 1 if S.label.startswith("+") else -1
        if L["q"] == 1:
            theta = np.zeros(prob.family.p)
            theta[L["inner"]] = eta
            out.append((theta, sign))
        else:
            c = int(S.label.split("_")[1])
            a = np.zeros(L["k"])
            a[c] = float(sign)  # J = a_c h_c < 0 where +h_c (sign +1) or -h_c (sign -1) is low
            theta = np.zeros(prob.family.p)
            flip = -1.0 if L["cone_sign"] == 1 else 1.0  # negative masses: J high, a -> -a
            theta[L["outer"]] = flip * a / math.sqrt(2)
            theta[L["inner"]] = eta / math.sqrt(2)
            out.append((theta, int(flip)))
    return out


def describe(res: ExactResult) -> str:
    """One line on what the exact search did."""
    if not res.complete:
        low = min((s.best for s in res.searches), default=0.0)
        if low < -res.threshold:
            return ("exact search over activation patterns: found a point of the l-inf ball where J < 0 (polished "
                    "on the sphere); no upper bound")
        return ("exact search over activation patterns: incomplete at its limit of linear programs, no certified "
                "bound")
    return (f"exact search over activation patterns (branch and bound, HiGHS LPs with safe dual bounds on the "
            f"l-inf ball, {len(res.searches)} sub-problem(s)): certified gap <= {res.upper:.2e}")


def exact_gap(rp, g):
    """The homogeneous gap ``g`` of the numerical search, completed by the exact search where it applies.

    The best sub-problem points, polished on the unit sphere, replace the numerical witness when they
    give a larger gap; ``extras["exact"]`` holds the certified upper bound of the gap
    (``upper``, ``inf`` when the search is incomplete), and ``method`` says what was done (or why not)."""
    import dataclasses

    from ._gap import _polish_piecewise, _sphere_local

    prob, mu = rp.prob, rp.mu
    pl, why = applicable(prob)
    if pl is None:
        return dataclasses.replace(g, method=f"{g.method}; no exact search ({why})")
    try:
        res = exact_search(prob, mu, pl, SEARCH_TOL * _scale(prob, mu), budget=SEARCH_LIMIT, early=True)
    except Undecided as exc:  # no residual enclosure: the numerical search stands
        return dataclasses.replace(g, method=f"{g.method}; no exact search ({exc})")
    s = g.extras.get("cone_sign", -1)
    value, witness, sign = g.value, g.witness, g.sign
    Jmin, Jmax = g.min_J, g.max_J
    for theta, sense in witnesses(prob, mu, res):
        u, v = _sphere_local(rp, float(sense), theta)
        u, v = _polish_piecewise(rp, float(sense), u, rp.structure.degree)
        Jmin, Jmax = min(Jmin, v), max(Jmax, v)
        cand = {-1: -v, 1: v, 0: abs(v)}[s]
        if (s == 0 or (sense > 0) == (s == -1)) and cand > value:
            value, witness, sign = cand, u, (-1 if v < 0 else 1)
    extras = {**g.extras, "exact": {"upper": res.upper, "complete": res.complete, "nodes": res.nodes}}
    return dataclasses.replace(g, value=max(0.0, float(value)), finite_value=max(0.0, float(value)), witness=witness,
                               sign=sign, min_J=Jmin, max_J=Jmax, method=f"{g.method}; {describe(res)}",
                               extras=extras)


#: resolution of the search inside ``gap``, relative to the scale of |J| on the l-inf ball: it stops at the first
#: point below -SEARCH_TOL * scale (then polished on the sphere), or proves there is none
SEARCH_TOL = 1e-9


def _scale(prob, mu) -> float:
    r"""$\frac1n\sum_i |r_i|\,|\tilde x_i|_1$ (a bound on $|J|$ over the $\ell^\infty$ ball, up to the slopes)."""
    Xa = prob.family.inner_map._aug(prob.data.X.reshape(prob.data.n, -1))
    r = prob.backend.residual(mu.particles, mu.masses, mu.offset)
    return float(np.mean(np.linalg.norm(r, axis=1) * np.abs(Xa).sum(axis=1))) + 1e-300


__all__ = ["exact_gap", "applicable", "exact_search", "slopes", "witnesses", "describe", "gap_upper", "Undecided"]
