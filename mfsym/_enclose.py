"""Ball enclosures of the particle objective and its derivatives from exact symbolic formulas.

The neuron's componentwise sympy expression (``family.componentwise()``) is differentiated exactly
by sympy -- gradient, Hessian and the directional derivatives $\\frac{d}{dt}\\varphi(\\theta + tv)$,
$\\frac{d^2}{dt^2}\\varphi(\\theta + tv)$ at $t = 0$ -- and the results are evaluated in python-flint
ball arithmetic (:mod:`._ball`). For samples and the square loss (docs/mathematics.md):

* $r_i = \\sum_j c_j \\varphi(\\theta_j; x_i) - y_i$, enclosed from all particles;
* $J_\\mu(\\theta) = \\frac1n\\sum_i \\langle r_i, \\varphi(\\theta; x_i)\\rangle + \\frac\\lambda2|\\theta|^2$;
* $v^\\top H v = \\sum_j c_j\\big[\\frac1n\\sum_i\\langle r_i, D^2_v\\varphi(\\theta_j; x_i)\\rangle + \\lambda|v_j|^2\\big]
  + \\frac1n\\sum_i\\big|\\sum_j c_j D_v\\varphi(\\theta_j; x_i)\\big|^2$;
* the full Hessian $H = \\mathrm{diag}_j(c_j\\nabla^2 J(\\theta_j)) + B B^\\top / n$ with
  $B_{(j,a),(i,k)} = c_j\\,\\partial_a\\varphi_k(\\theta_j; x_i)$, as an ``arb_mat``.

An output bias $\\beta$ (``offset``) enters $r_i$ as exact floats, and $\\partial_\\beta L = \\frac1n\\sum_i r_i$
joins the stationarity residual. With ``profiled=True`` the bias is at its optimum $\\beta^*(\\theta)$, enclosed
with the particles (so uniformly over a box): $r_i$ is centred, $r_i = e_i - \\frac1n\\sum_l e_l$ with
$e_i = \\sum_j c_j\\varphi(\\theta_j; x_i) - y_i$, and the curvature is that of $\\min_\\beta F$, the Schur
complement $H - b b^\\top$ with $b = \\frac1n\\sum_i B_{\\cdot,(i,\\cdot)}$ (and $v^\\top H v - |b^\\top v|^2$).

Particles given as balls (midpoint and radius) give enclosures valid uniformly over the box.
Gaussian populations with a closed-form kernel (:class:`PopulationBallProblem`) have the same enclosures;
other losses and Monte Carlo populations raise :class:`~._ball.Undecided` with the reason.
"""

from __future__ import annotations

import weakref

import flint
import numpy as np
import sympy as sp

from ._errors import CertificateError
from .families import NeuronFamily
from .symbolic import Derivation
from .data import Samples
from .population import GaussianTeacher, closed_form_population
from ._ball import Program, Undecided
from ._popball import pair_balls

_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


class FamilyPrograms:
    """Ball programs for one family's neuron and its exact derivatives (compiled lazily, cached).

    For a structured family (:class:`~mfsym.families.NeuronFamily`: built-in, or recognised by
    ``from_expr``) the expressions are the derivation's own formulas (:class:`~mfsym.symbolic.Derivation`,
    instantiated at the family's sizes): the chain rule the LaTeX shows is the one the certificates
    evaluate. A componentwise family's neuron is differentiated by sympy.
    """

    def __init__(self, family):
        self.family = family
        cw = family.componentwise()
        self.theta, self.x = list(cw.theta), list(cw.x)
        self.expr = [sp.sympify(e) for e in cw.expr]
        self.k, self.p = len(self.expr), len(self.theta)
        self._progs: dict[str, Program] = {}
        self._first_derivs: list[list[sp.Expr]] | None = None
        self.structured = isinstance(family, NeuronFamily)
        self._inst: dict | None = None

    def _formulas(self) -> dict:
        """The derivation's phi, Jacobian and omega-weighted Hessian blocks at the family's sizes."""
        if self._inst is None:
            D = Derivation(self.family)
            keys = [key for key in D.formulas if key[0] in ("phi", "jac", "hess")]
            self._omega = [sp.Symbol(f"_omega{c}", real=True) for c in range(self.k)]
            self._inst = D.instantiate([self.x], omega=self._omega, keys=keys)
            blocks = list(self.family.blocks)
            self._jac = sp.Matrix.hstack(*[self._inst[("jac", b)] for b in blocks])
            sizes = [self._inst[("jac", b)].shape[1] for b in blocks]
            H = sp.zeros(self.p, self.p)
            start = {b: sum(sizes[:i]) for i, b in enumerate(blocks)}
            for i1, b1 in enumerate(blocks):
                for b2 in blocks[i1:]:
                    blk = self._inst.get(("hess", b1, b2))
                    if blk is None:
                        continue
                    r0, c0 = start[b1], start[b2]
                    for r in range(blk.shape[0]):
                        for c in range(blk.shape[1]):
                            H[r0 + r, c0 + c] = blk[r, c]
                            H[c0 + c, r0 + r] = blk[r, c]
            self._H = H
        return self._inst

    def _hess_of_output(self, c: int) -> sp.Matrix:
        self._formulas()
        unit = {w: (1 if i == c else 0) for i, w in enumerate(self._omega)}
        return self._H.xreplace(unit)

    def _program(self, key: str) -> Program:
        if key in self._progs:
            return self._progs[key]
        th, x = self.theta, self.x
        if self.structured:
            prog = self._structured_program(key)
        elif key == "value":
            prog = Program(self.expr, th + x)
        elif key == "grad":
            exprs = list(self.expr) + [d for row in self._first() for d in row]
            prog = Program(exprs, th + x)
        elif key == "hess":
            # differentiate the first derivatives once each: sympy's multi-variable diff(e, a, b) is ~100x
            # slower on softmax expressions (it canonicalises through factor_terms)
            exprs = [sp.diff(d1, th[b]) for d in self._first() for a, d1 in enumerate(d) for b in range(a, self.p)]
            prog = Program(exprs, th + x)
        elif key == "dir":
            v = list(sp.symbols(f"_v0:{self.p}", real=True))
            t = sp.Symbol("_t", real=True)
            shifted = [e.subs({s: s + t * vs for s, vs in zip(th, v)}, simultaneous=True) for e in self.expr]
            first = [sp.diff(e, t) for e in shifted]
            d1 = [e.subs(t, 0) for e in first]
            d2 = [sp.diff(e, t).subs(t, 0) for e in first]
            prog = Program(d1 + d2, th + v + x)
        else:  # pragma: no cover
            raise CertificateError(f"program: unknown key {key}")
        self._progs[key] = prog
        return prog

    def _structured_program(self, key: str) -> Program:
        th, x = self.theta, self.x
        inst = self._formulas()
        phi = list(inst[("phi",)])
        if key == "value":
            return Program(phi, th + x)
        if key == "grad":
            return Program(phi + list(self._jac), th + x)      # Matrix is row-major: [c][a]
        if key == "hess":
            exprs = []
            for c in range(self.k):
                Hc = self._hess_of_output(c)
                exprs += [Hc[a, b] for a in range(self.p) for b in range(a, self.p)]
            return Program(exprs, th + x)
        if key == "dir":
            v = sp.Matrix(list(sp.symbols(f"_v0:{self.p}", real=True)))
            d1 = list(self._jac * v)
            d2 = [(v.T * (self._hess_of_output(c) * v))[0, 0] for c in range(self.k)]
            return Program(d1 + d2, th + list(v) + x)
        raise CertificateError(f"program: unknown key {key}")  # pragma: no cover

    def _first(self) -> list[list[sp.Expr]]:
        r"""$\partial\varphi_c/\partial\theta_a$ as ``[c][a]`` (computed once)."""
        if self._first_derivs is None:
            self._first_derivs = [[sp.diff(e, t) for t in self.theta] for e in self.expr]
        return self._first_derivs

    def value(self, th, x):
        return self._program("value")(th + x)

    def grad(self, th, x):
        """``(phi (k,), grad (k*p,) row-major by output)``."""
        out = self._program("grad")(th + x)
        return out[:self.k], out[self.k:]

    def hess_upper(self, th, x):
        return self._program("hess")(th + x)

    def directional(self, th, v, x):
        out = self._program("dir")(th + v + x)
        return out[:self.k], out[self.k:]


def programs(family) -> FamilyPrograms:
    """The cached :class:`FamilyPrograms` of ``family``."""
    try:
        return _CACHE[family]
    except KeyError:
        fp = FamilyPrograms(family)
        _CACHE[family] = fp
        return fp


def balls(vec, rad: float = 0.0) -> list:
    """Exact balls of a float vector (optionally all with radius ``rad``)."""
    if rad:
        r = float(rad)
        return [flint.arb(float(v), r) for v in vec]
    return [flint.arb(float(v)) for v in vec]


class BallProblem:
    """Enclosures for a problem with sample data and the square loss, at a given precision.

    Parameters
    ----------
    prob : Problem
    particles : (m, p) array, masses : (m,) array
    radius : float
        Every particle coordinate ranges over ``[x - radius, x + radius]`` (0: the point itself).
    offset : (k,) array or None
        The output bias $\\beta$, added to the prediction as exact floats.
    profiled : bool
        Put the bias at its optimum $\\beta^*(\\theta)$ instead (curvature of $\\min_\\beta F$; see the module).
    """

    def __init__(self, prob, particles, masses, radius: float = 0.0, offset=None, profiled: bool = False):
        if not isinstance(prob.data, Samples):
            raise Undecided(f"ball enclosures need sample data; {type(prob.data).__name__} exposes no "
                            "symbolic kernel usable here")
        if prob.loss_name != "square":
            raise Undecided(f"ball enclosures are implemented for the square loss, not {prob.loss_name!r}")
        self.prob, self.fp = prob, programs(prob.family)
        self.m, self.p = particles.shape
        self.k = self.fp.k
        X = prob.data.X.reshape(prob.data.n, -1)
        self.n = X.shape[0]
        self.X = [balls(row) for row in X]
        self.Y = prob.data.Y
        self.c = [flint.arb(float(v)) for v in masses]
        self.masses = masses
        self.P = [balls(row, radius) for row in particles]
        self.reg = flint.arb(float(prob.reg))
        self.inv_n = flint.arb(1) / self.n
        self.offset = None if offset is None else [flint.arb(float(v)) for v in offset]  # exact binary values
        self.profiled = bool(profiled) and offset is not None
        self._r = None

    # ------------------------------------------------------------------ residuals
    def residuals(self) -> list[list]:
        """$r_i$ ``(n, k)`` balls from all particles."""
        if self._r is None:
            r = []
            for i in range(self.n):
                f = [flint.arb(0)] * self.k
                for j in range(self.m):
                    if self.masses[j] == 0:
                        continue
                    val = self.fp.value(self.P[j], self.X[i])
                    f = [f[a] + self.c[j] * val[a] for a in range(self.k)]
                r.append([f[a] - flint.arb(float(self.Y[i, a])) for a in range(self.k)])
            if self.profiled:  # beta*(theta) = -mean_i e_i: centre the residuals
                mean = [sum((ri[a] for ri in r), flint.arb(0)) * self.inv_n for a in range(self.k)]
                r = [[ri[a] - mean[a] for a in range(self.k)] for ri in r]
            elif self.offset is not None:
                r = [[ri[a] + self.offset[a] for a in range(self.k)] for ri in r]
            self._r = r
        return self._r

    def loss(self):
        """$L(\\mu) = \\frac1{2n}\\sum_i |r_i|^2 + \\sum_j c_j\\frac\\lambda2|\\theta_j|^2$."""
        r = self.residuals()
        tot = sum((sum((v * v for v in ri), flint.arb(0)) for ri in r), flint.arb(0)) * self.inv_n / 2
        if self.prob.reg:
            tot += sum((self.c[j] * sum((t * t for t in self.P[j]), flint.arb(0)) for j in range(self.m)),
                       flint.arb(0)) * self.reg / 2
        return tot

    # ------------------------------------------------------------------ potential
    def potential(self, theta_balls) -> flint.arb:
        """$J_\\mu(\\theta)$ at a ball vector."""
        r = self.residuals()
        acc = flint.arb(0)
        for i in range(self.n):
            val = self.fp.value(theta_balls, self.X[i])
            for a in range(self.k):
                acc += r[i][a] * val[a]
        acc = acc * self.inv_n
        if self.prob.reg:
            acc += self.reg * sum((t * t for t in theta_balls), flint.arb(0)) / 2
        return acc

    def grad_potential(self, theta_balls) -> list:
        """$\\nabla J_\\mu(\\theta)$ ``(p,)`` balls."""
        r = self.residuals()
        g = [flint.arb(0)] * self.p
        for i in range(self.n):
            _, gr = self.fp.grad(theta_balls, self.X[i])
            for a in range(self.k):
                ra = r[i][a]
                row = gr[a * self.p:(a + 1) * self.p]
                g = [g[b] + ra * row[b] for b in range(self.p)]
        g = [gb * self.inv_n for gb in g]
        if self.prob.reg:
            g = [g[b] + self.reg * theta_balls[b] for b in range(self.p)]
        return g

    def offset_gradient(self) -> list:
        """$\\partial_\\beta L = \\frac1n\\sum_i r_i$ ``(k,)`` balls (the mean residual)."""
        r = self.residuals()
        return [sum((ri[a] for ri in r), flint.arb(0)) * self.inv_n for a in range(self.k)]

    def particle_gradient_norm(self):
        """$\\max_{j: c_j\\ne0} |\\nabla J_\\mu(\\theta_j)|$ and $|\\nabla F|$ (balls); with an output bias
        $|\\partial_\\beta L|$ joins both (the larger of the maximum, and a term of the norm)."""
        worst, total = flint.arb(0), flint.arb(0)
        for j in range(self.m):
            if self.masses[j] == 0:
                continue
            g = self.grad_potential(self.P[j])
            sq = sum((gb * gb for gb in g), flint.arb(0))
            worst = worst.max(sq.nonnegative_part().sqrt())
            total += self.c[j] * self.c[j] * sq
        if self.offset is not None:
            sq = sum((gb * gb for gb in self.offset_gradient()), flint.arb(0))
            worst = worst.max(sq.nonnegative_part().sqrt())
            total += sq
        tot = total.nonnegative_part().sqrt()
        return worst, tot

    def relative_residual(self, W, w_offset: float):
        """$\\max(\\max_{j,B} W_{jB}|\\nabla_B J_\\mu(\\theta_j)|,\\ w_\\beta|\\partial_\\beta L|)$ as a ball, for float
        weights ``W`` ``(m, blocks)`` (``Problem.stationarity_weights``), entering as exact binary values."""
        fam = self.prob.family
        slices = [fam.block_slice(key) for key in fam.blocks]
        worst = flint.arb(0)
        for j in range(self.m):
            if self.masses[j] == 0:
                continue
            g = self.grad_potential(self.P[j])
            for b, s in enumerate(slices):
                sq = sum((gb * gb for gb in g[s]), flint.arb(0))
                worst = worst.max(flint.arb(float(W[j, b])) * sq.nonnegative_part().sqrt())
        if self.offset is not None:
            sq = sum((gb * gb for gb in self.offset_gradient()), flint.arb(0))
            worst = worst.max(flint.arb(float(w_offset)) * sq.nonnegative_part().sqrt())
        return worst

    # ------------------------------------------------------------------ curvature
    def quadratic_form(self, V) -> flint.arb:
        """$v^\\top H v$ for a direction ``V`` ``(m, p)`` of floats (exact)."""
        r = self.residuals()
        vb = [balls(row) for row in V]
        inter = [[flint.arb(0)] * self.k for _ in range(self.n)]
        pot = flint.arb(0)
        for j in range(self.m):
            if self.masses[j] == 0 or not np.any(V[j]):
                continue
            acc = flint.arb(0)
            for i in range(self.n):
                d1, d2 = self.fp.directional(self.P[j], vb[j], self.X[i])
                for a in range(self.k):
                    acc += r[i][a] * d2[a]
                    inter[i][a] += self.c[j] * d1[a]
            acc = acc * self.inv_n
            if self.prob.reg:
                acc += self.reg * sum((t * t for t in vb[j]), flint.arb(0))
            pot += self.c[j] * acc
        quad = sum((sum((t * t for t in row), flint.arb(0)) for row in inter), flint.arb(0)) * self.inv_n
        if self.profiled:  # minus |b^T v|^2, b^T v = (1/n) sum_i sum_j c_j D_v phi(theta_j; x_i)
            bv = [sum((row[a] for row in inter), flint.arb(0)) * self.inv_n for a in range(self.k)]
            quad -= sum((t * t for t in bv), flint.arb(0))
        return pot + quad

    def hessian(self) -> flint.arb_mat:
        """The particle Hessian ``(m p, m p)`` as a ball matrix."""
        r = self.residuals()
        m, p, k, n = self.m, self.p, self.k, self.n
        N = m * p
        B = flint.arb_mat(N, n * k)
        H = flint.arb_mat(N, N)
        tri = [(a, b) for a in range(p) for b in range(a, p)]
        for j in range(m):
            if self.masses[j] == 0:
                continue
            blk = [[flint.arb(0)] * p for _ in range(p)]
            for i in range(n):
                _, gr = self.fp.grad(self.P[j], self.X[i])
                for a in range(k):
                    for b in range(p):
                        B[j * p + b, i * k + a] = self.c[j] * gr[a * p + b]
                hu = self.fp.hess_upper(self.P[j], self.X[i])
                for a in range(k):
                    ra = r[i][a]
                    base = a * len(tri)
                    for t, (u, w) in enumerate(tri):
                        blk[u][w] += ra * hu[base + t]
            for u, w in tri:
                val = self.c[j] * blk[u][w] * self.inv_n
                if u == w and self.prob.reg:
                    val += self.c[j] * self.reg
                H[j * p + u, j * p + w] = val
                H[j * p + w, j * p + u] = val
        G = B * B.transpose()
        if self.profiled:  # the Schur complement over the bias: minus b b^T, b = (1/n) sum_i B[:, (i, .)]
            b = flint.arb_mat(N, k)
            for row in range(N):
                for a in range(k):
                    b[row, a] = sum((B[row, i * k + a] for i in range(n)), flint.arb(0)) * self.inv_n
            return H + G * self.inv_n - b * b.transpose()
        return H + G * self.inv_n


class PopulationBallProblem:
    """Enclosures for a Gaussian population with a closed-form kernel (relu arc-cosine, erf arcsin).

    $J_\\mu(\\theta) = \\sum_s \\omega_s K(\\theta, \\theta_s) + \\frac\\lambda2|\\theta|^2$ over the student particles
    ($\\omega_j = c_j$) and the teacher's ($\\omega = -c^*_t$), $K(\\theta, \\theta') = (a^\\top a')\\,k(w, w')$ enclosed
    by :func:`mfsym._popball.pair_balls` (the sympy closed forms of :mod:`mfsym.population`, $1/\\sin t$
    cancelled); the particle Hessian $H_{jl} = \\delta_{jl}\\,c_j\\nabla^2 J_\\mu(\\theta_j) + c_j c_l\\,
    \\nabla_\\theta\\nabla_{\\theta'}^\\top K(\\theta_j, \\theta_l)$. A particle's interaction with itself
    ($K(\\theta_j, \\theta_j)$, where relu's generic formula is $0/0$) is evaluated in exact form at the same point,
    also when the particles are balls (enclosures uniform over the box; the teacher is exact).
    """

    def __init__(self, prob, particles, masses, radius: float = 0.0):
        if not closed_form_population(prob):
            raise Undecided("this population is integrated by Monte Carlo (or the student and teacher families "
                            "differ): no ball-arithmetic kernel")
        self.prob, self.family = prob, prob.family
        self.m, self.p = particles.shape
        self.masses = masses
        self.c = [flint.arb(float(v)) for v in masses]
        self.P = [balls(row, radius) for row in particles]
        T = prob.data.teacher
        self.T = [balls(row) for row in T.particles]
        self.ct = [flint.arb(float(v)) for v in T.masses]
        self.reg = flint.arb(float(prob.reg))
        self.offset = None  # no output bias for populations (Problem refuses one)
        self.profiled = False

    def _sources(self, theta):
        """``(weight, source balls or None for theta itself, student index or None)`` for every source."""
        for j in range(self.m):
            if self.masses[j] != 0:
                yield self.c[j], (None if theta is self.P[j] else self.P[j]), j
        for t in range(len(self.T)):
            yield -self.ct[t], self.T[t], None

    def potential(self, theta_balls) -> flint.arb:
        """$J_\\mu(\\theta)$ at a ball vector (a particle's own list ``self.P[j]``: its self-term exactly)."""
        acc = flint.arb(0)
        for w, src, _ in self._sources(theta_balls):
            acc += w * pair_balls(self.family, theta_balls, src, 0)["K"]
        if self.prob.reg:
            acc += self.reg * sum((t * t for t in theta_balls), flint.arb(0)) / 2
        return acc

    def grad_potential(self, theta_balls) -> list:
        """$\\nabla J_\\mu(\\theta)$ ``(p,)`` balls."""
        g = [flint.arb(0)] * self.p
        for w, src, _ in self._sources(theta_balls):
            gb = pair_balls(self.family, theta_balls, src, 1)["g"]
            g = [g[b] + w * gb[b] for b in range(self.p)]
        if self.prob.reg:
            g = [g[b] + self.reg * theta_balls[b] for b in range(self.p)]
        return g

    particle_gradient_norm = BallProblem.particle_gradient_norm
    relative_residual = BallProblem.relative_residual

    def _blocks(self):
        """``{j: (c_j grad^2 J(theta_j), {l: c_j c_l x(theta_j, theta_l)})}`` for the particles of nonzero mass."""
        p, out = self.p, {}
        for j in range(self.m):
            if self.masses[j] == 0:
                continue
            hj = [[flint.arb(0)] * p for _ in range(p)]
            cross = {}
            for w, src, l in self._sources(self.P[j]):
                pb = pair_balls(self.family, self.P[j], src, 2)
                hj = [[hj[a][b] + w * pb["h"][a][b] for b in range(p)] for a in range(p)]
                if l is not None:
                    f = self.c[j] * self.c[l]
                    cross[l] = [[f * pb["x"][a][b] for b in range(p)] for a in range(p)]
            diag = [[self.c[j] * (hj[a][b] + (self.reg if a == b and self.prob.reg else 0)) for b in range(p)]
                    for a in range(p)]
            out[j] = (diag, cross)
        return out

    def quadratic_form(self, V) -> flint.arb:
        """$v^\\top H v$ for a direction ``V`` ``(m, p)`` of floats (exact)."""
        vb = [balls(row) for row in V]
        acc = flint.arb(0)
        for j, (diag, cross) in self._blocks().items():
            for l, X in list(cross.items()) + [(j, diag)]:
                for a in range(self.p):
                    if V[j, a] == 0:
                        continue
                    acc += vb[j][a] * sum((X[a][b] * vb[l][b] for b in range(self.p) if V[l, b] != 0), flint.arb(0))
        return acc

    def hessian(self) -> flint.arb_mat:
        """The particle Hessian ``(m p, m p)`` as a ball matrix."""
        p = self.p
        H = flint.arb_mat(self.m * p, self.m * p)
        for j, (diag, cross) in self._blocks().items():
            cross[j] = [[cross[j][a][b] + diag[a][b] for b in range(p)] for a in range(p)]
            for l, X in cross.items():
                for a in range(p):
                    for b in range(p):
                        H[j * p + a, l * p + b] = X[a][b]
        return H


def ball_problem(prob, particles, masses, radius: float = 0.0, offset=None, profiled: bool = False):
    """The enclosure object for ``prob``'s data: samples (with an output bias ``offset``, optionally profiled)
    or a closed-form Gaussian population (no output bias)."""
    if isinstance(prob.data, Samples):
        return BallProblem(prob, particles, masses, radius, offset, profiled)
    if offset is not None:
        raise Undecided("an output bias is supported for sample data only")
    if isinstance(prob.data, GaussianTeacher):
        return PopulationBallProblem(prob, particles, masses, radius)
    raise Undecided(f"no ball-arithmetic enclosure for data of type {type(prob.data).__name__}")
