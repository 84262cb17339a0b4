"""Ball-arithmetic enclosures of the reduced potentials over boxes (python-flint ``arb``), docs/certificates.md.

The neuron is the family's expanded componentwise sympy expression, compiled once into closures on
``arb`` balls (constants enter as exact rationals, floats as exact binary values; no finite
differences). ``Max``/``Min``/``Abs``/``Heaviside``/``sign`` and even powers get tight interval
rules; ``exp``, ``tanh``, ``erf``, ``sin``... use arb's own rigorous enclosures.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import sympy as sp
from flint import arb

from .._errors import CertificateError
from ..stability._ball import _constant

ArbFn = Callable[[list], arb]


def _lo(x: arb) -> arb:
    return x.lower()


def _hi(x: arb) -> arb:
    return x.upper()


def _max(a: arb, b: arb) -> arb:
    if a >= b:
        return a
    if b >= a:
        return b
    return (_lo(a) if _lo(a) >= _lo(b) else _lo(b)).union(_hi(a) if _hi(a) >= _hi(b) else _hi(b))


def _min(a: arb, b: arb) -> arb:
    return -_max(-a, -b)


def _abs(a: arb) -> arb:
    if a >= 0:
        return a
    if a <= 0:
        return -a
    m = -_lo(a) if -_lo(a) >= _hi(a) else _hi(a)
    return arb(0).union(m)


def _pow_int(a: arb, n: int) -> arb:
    if n < 0:
        return 1 / _pow_int(a, -n)
    if n % 2 == 0:
        return _abs(a) ** n
    return a**n


def _step(a: arb, at0: arb) -> arb:
    if a > 0:
        return arb(1)
    if a < 0:
        return arb(0)
    return arb(0).union(arb(1)).union(at0)


_FUNCS = {
    sp.exp: lambda a: a.exp(),
    sp.tanh: lambda a: a.tanh(),
    sp.erf: lambda a: a.erf(),
    sp.sin: lambda a: a.sin(),
    sp.cos: lambda a: a.cos(),
    sp.atan: lambda a: a.atan(),
    sp.log: lambda a: a.log(),
    sp.Abs: _abs,
    sp.sign: lambda a: arb(1) if a > 0 else arb(-1) if a < 0 else arb(-1).union(arb(1)),
}


def compile_arb(expr: sp.Expr, symbols: list[sp.Symbol]) -> ArbFn:
    """Compile ``expr`` into ``f(values) -> arb`` with ``values`` a list of arb balls for ``symbols``."""
    index = {s: i for i, s in enumerate(symbols)}

    def build(e) -> ArbFn:
        if e in index:
            i = index[e]
            return lambda v: v[i]
        if e.is_Rational:
            c = arb(int(e.p)) / int(e.q)
            return lambda v: c
        if e.is_Float:  # a float written in the expression enters as its exact binary value (all its bits)
            c = _constant(e)
            return lambda v: c
        if e is sp.pi:
            c = arb.pi()
            return lambda v: c
        if e is sp.E:
            c = arb(1).exp()
            return lambda v: c
        if isinstance(e, sp.Add):
            fs = [build(a) for a in e.args]
            def add(v, fs=fs):
                out = fs[0](v)
                for f in fs[1:]:
                    out = out + f(v)
                return out
            return add
        if isinstance(e, sp.Mul):
            fs = [build(a) for a in e.args]
            def mul(v, fs=fs):
                out = fs[0](v)
                for f in fs[1:]:
                    out = out * f(v)
                return out
            return mul
        if isinstance(e, sp.Pow):
            b, x = e.args
            fb = build(b)
            if x.is_Integer:
                n = int(x)
                return lambda v: _pow_int(fb(v), n)
            if x == sp.Rational(1, 2):
                return lambda v: fb(v).sqrt()
            if x == sp.Rational(-1, 2):
                return lambda v: 1 / fb(v).sqrt()
            fx = build(x)
            return lambda v: (fx(v) * fb(v).log()).exp()
        if isinstance(e, (sp.Max, sp.Min)):
            fs = [build(a) for a in e.args]
            op = _max if isinstance(e, sp.Max) else _min
            def mm(v, fs=fs, op=op):
                out = fs[0](v)
                for f in fs[1:]:
                    out = op(out, f(v))
                return out
            return mm
        if isinstance(e, sp.Heaviside):
            fa = build(e.args[0])
            at0 = build(e.args[1]) if len(e.args) > 1 else (lambda v: arb(1) / 2)
            return lambda v: _step(fa(v), at0(v))
        for fn, rule in _FUNCS.items():
            if isinstance(e, fn):
                fa = build(e.args[0])
                return lambda v, rule=rule, fa=fa: rule(fa(v))
        raise CertificateError(f"expr: no ball-arithmetic rule for {type(e).__name__} in {e}")

    return build(sp.sympify(expr))


def box_balls(lo: np.ndarray, hi: np.ndarray) -> list[arb]:
    """Balls enclosing the box $[lo, hi]$ (midpoint and radius rounded outward by arb)."""
    mid = 0.5 * (lo + hi)
    rad = 0.5 * (hi - lo) * (1 + 1e-12) + 1e-300
    out = []
    for m, r, a, b in zip(mid, rad, lo, hi):
        ball = arb(float(m), float(r))
        if not (ball.lower() <= float(a) and ball.upper() >= float(b)):  # defensive: widen to the exact box
            ball = arb(float(a)).union(arb(float(b)))
        out.append(ball)
    return out


class Enclosure:
    """Enclosures of $\\varphi$ and of the residuals $r_i$ for a sample problem with the square loss.

    ``phi[c]`` is $\\varphi_c(\\theta; x)$ compiled in (theta..., x...); ``r[i][c]`` the ball of $r_{ic}$
    computed from every particle of $\\mu$ (masses and particles as exact binary floats).
    """

    def __init__(self, prob, mu):
        from ..data import Samples

        if not isinstance(prob.data, Samples):
            raise CertificateError("prob: ball-arithmetic enclosures need sample data (mf.Samples)")
        if prob.loss_name != "square":
            raise CertificateError(f"prob: enclosures are implemented for the square loss, got {prob.loss_name!r}")
        fam = prob.family
        cw = fam.componentwise()
        self.symbols = list(cw.theta) + list(cw.x)
        self.phi = [compile_arb(cw.expr[c], self.symbols) for c in range(fam.out_dim)]
        self.cw, self.fam, self.prob = cw, fam, prob
        X = prob.data.X.reshape(prob.data.n, -1)
        self.X = [[arb(float(v)) for v in row] for row in X]
        Y = prob.data.Y
        self.r = []
        for i, xi in enumerate(self.X):
            f = [arb(0)] * fam.out_dim
            for th, cj in zip(mu.particles, mu.masses):
                if cj == 0:
                    continue
                args = [arb(float(t)) for t in th] + xi
                f = [f[c] + arb(float(cj)) * self.phi[c](args) for c in range(fam.out_dim)]
            self.r.append([f[c] - arb(float(Y[i, c])) for c in range(fam.out_dim)])
        self.n = len(self.X)
        self.reg = prob.reg

    def J(self, theta: list[arb]) -> arb:
        """$J_\\mu$ over the box ``theta`` (list of balls): $\\frac1n\\sum_i\\langle r_i,\\varphi(\\theta; x_i)\\rangle + \\frac\\lambda2|\\theta|^2$."""
        tot = arb(0)
        for xi, ri in zip(self.X, self.r):
            args = theta + xi
            for c, f in enumerate(self.phi):
                tot = tot + ri[c] * f(args)
        tot = tot / self.n
        if self.reg:
            reg = arb(float(self.reg))
            tot = tot + reg / 2 * sum((_pow_int(t, 2) for t in theta), arb(0))
        return tot

    def G(self, outer_cols, inner_cols, k: int, q: int, eta: list[arb]) -> list[arb]:
        """Entries $G_{cj}$ over the box ``eta``, from $G_{cj} = J(E_{cj}, \\eta)$ (no regulariser)."""
        p = self.fam.p
        out = []
        for c in range(k):
            for j in range(q):
                theta = [arb(0)] * p
                for col, val in zip(inner_cols, eta):
                    theta[col] = val
                theta[outer_cols[c * q + j]] = arb(1)
                tot = arb(0)
                for xi, ri in zip(self.X, self.r):
                    tot = tot + ri[c] * self.phi[c](theta + xi)
                out.append(tot / self.n)
        return out


def certify_cells(lo: np.ndarray, hi: np.ndarray, decide: Callable[[np.ndarray, np.ndarray], bool | None],
                  max_depth: int = 3) -> tuple[np.ndarray, int]:
    """Prove ``decide`` on every box ``[lo_b, hi_b]`` (bisecting undecided boxes up to ``max_depth``).

    ``decide(lo, hi)`` is three-valued: True (proved), False (refuted), None (undecided).
    Returns per-box status (1 proved, 0 refuted somewhere, -1 undecided somewhere) and the number of
    box evaluations.
    """
    status = np.empty(len(lo), dtype=int)
    evals = 0
    for b in range(len(lo)):
        stack = [(lo[b], hi[b], 0)]
        st = 1
        while stack:
            a, z, depth = stack.pop()
            res = decide(a, z)
            evals += 1
            if res is True:
                continue
            if res is False:
                st = 0
                break
            if depth >= max_depth:
                st = -1
                break
            k = int(np.argmax(z - a))
            m = 0.5 * (a[k] + z[k])
            z1, a2 = z.copy(), a.copy()
            z1[k], a2[k] = m, m
            stack += [(a, z1, depth + 1), (a2, z, depth + 1)]
        status[b] = st
    return status, evals
