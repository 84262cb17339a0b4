"""Inner maps $\\psi(\\eta; x)$ and their block-level chain rule, written once per kind of map.

Three kinds cover the built-in families:

* :class:`Ridge` -- $\\psi = \\sigma(w^\\top x + b)$ (scalar), any activation $\\sigma$ given as a
  sympy expression; sympy takes its derivatives, which are then evaluated elementwise.
* :class:`SoftmaxAttention` -- $\\psi(W; X) = X^\\top \\mathrm{softmax}(X W x_q)$ with $x_q$ the last
  token (Petit, Poon & Peyré 2026, multi-head attention).
* :class:`SeparableKernel` -- $\\psi(t; x) = \\prod_j \\kappa(x_j - t_j)$ (sparse-spike deconvolution,
  Chizat & Bach 2018, §4).

Each provides values, Jacobians, vector-Jacobian products and contracted Hessians vectorised over
``Q`` parameters and ``n`` inputs, plus its componentwise sympy expression at concrete sizes.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import scipy.special as sps
import sympy as sp

from .._types import FloatArray

Z = sp.Symbol("z", real=True)
S = sp.Symbol("s", real=True)
U = sp.Symbol("u", real=True)

#: lambdify modules of every numeric kernel compiled from sympy (step and erf as numpy/scipy ufuncs)
NUMERIC_MODULES = [{"Heaviside": lambda z, h0=0.0: np.where(np.asarray(z) > 0, 1.0, np.where(np.asarray(z) < 0, 0.0, h0)),
                    "erf": sps.erf, "erfc": sps.erfc, "softplus": lambda u: np.logaddexp(0.0, u), "expit": sps.expit}, "numpy"]
_NUMERIC = NUMERIC_MODULES


def _broadcast(fn: Callable, *args: FloatArray) -> FloatArray:
    out = fn(*args)
    return np.broadcast_to(np.asarray(out, dtype=float), np.broadcast(*args).shape)


_ENTIRE = (sp.exp, sp.sin, sp.cos, sp.tanh, sp.erf, sp.atan, sp.sinh, sp.cosh, sp.erfc)


def _entire(val: sp.Expr, var: sp.Symbol) -> bool:
    """A sufficient syntactic test of continuity on all of R: sums, products, non-negative integer powers,
    positive constants to powers of $z$, and compositions of entire functions, of polynomials."""
    for node in sp.preorder_traversal(val):
        if isinstance(node, sp.Pow) and node.base.has(var):
            if not (node.exp.is_Integer and node.exp >= 0):
                return False
        elif isinstance(node, sp.Pow) and node.exp.has(var) and not node.base.is_positive:
            return False
        elif isinstance(node, sp.Function) and not isinstance(node, _ENTIRE):
            return False
    return True


def _tidy(e: sp.Expr) -> sp.Expr:
    """The shortest of cheap rational normal forms (``simplify`` costs seconds on exponentials)."""
    forms = [e]
    for fn in (sp.factor, sp.cancel, sp.together):
        try:
            forms.append(fn(e))
        except (TypeError, ValueError, NotImplementedError, sp.PolynomialError):
            pass
    return min(forms, key=sp.count_ops)


def _piece_bounded(val: sp.Expr, var: sp.Symbol, where: sp.Set) -> bool | None:
    """Whether ``val`` is bounded on the interval(s) ``where``: True / False (an infinite limit) / None."""
    from sympy.calculus.util import continuous_domain

    if where.is_empty:
        return True
    if not val.has(var):
        return bool(val.is_finite) if val.is_finite is not None else None
    intervals = list(where.args) if isinstance(where, sp.Union) else [where]
    for iv in intervals:
        if isinstance(iv, sp.FiniteSet):
            if any(not val.subs(var, pt).is_finite for pt in iv):
                return None
            continue
        if not isinstance(iv, sp.Interval):
            return None
        closed = sp.Interval(iv.start, iv.end)   # the closure, intersected with the reals below
        closed = closed.intersect(sp.S.Reals)
        if not _entire(val, var):
            try:
                if not closed.is_subset(continuous_domain(val, var, closed)):
                    return None
            except NotImplementedError:
                return None
        for end, side in ((iv.end, "-"), (iv.start, "+")):
            if end.is_infinite:
                lim = sp.limit(val, var, end)
                if lim.is_infinite or lim in (sp.oo, -sp.oo, sp.zoo):
                    return False
                if isinstance(lim, sp.AccumBounds) or not lim.is_finite or lim.has(sp.Limit):
                    return None   # an oscillating or unevaluated limit is not a saturation: undecided
    return True


def prove_bounded(expr: sp.Expr, var: sp.Symbol) -> tuple[bool | None, str]:
    r"""Decide whether a univariate $f$ is bounded on $\mathbb{R}$: ``(True | False | None, reason)``.

    Piecewise functions (``Max``, ``Abs``, ``Heaviside``, ``Piecewise``) are split into their pieces;
    a piece is bounded when it is continuous on the closure of its interval and has finite limits at
    the infinite ends (compact pieces are then bounded by continuity). An infinite limit proves the
    function unbounded; anything sympy cannot settle is ``None`` (not proved either way). A bounded
    function without limits at infinity (``sin``) is ``None`` too: the output-linear theory's search over
    the compactified parameter space needs the limits.
    """
    try:
        e = sp.piecewise_fold(expr.rewrite(sp.Piecewise))
        pieces = e.args if isinstance(e, sp.Piecewise) else ((e, sp.true),)
        remaining: sp.Set = sp.S.Reals
        verdicts = []
        for val, cond in pieces:
            where = remaining if cond is sp.true else cond.as_set().intersect(remaining)
            remaining = remaining - where
            verdicts.append(_piece_bounded(val, var, where))
            if remaining.is_empty:
                break
    except (NotImplementedError, TypeError, ValueError, AttributeError) as exc:
        return None, f"sympy could not decide the boundedness of {expr} ({type(exc).__name__})"
    if False in verdicts:
        return False, f"{sp.sstr(expr)} has an infinite limit: it grows without bound"
    if all(v is True for v in verdicts):
        return True, f"{sp.sstr(expr)} is continuous on each piece with finite limits at infinity (proved by sympy)"
    return None, f"the boundedness of {sp.sstr(expr)} could not be proved"


_W = sp.Wild("_W")
_N = sp.Wild("_N", properties=[lambda k: k.is_Integer and k.is_negative])
_SOFTPLUS = sp.Function("softplus")
_EXPIT = sp.Function("expit")
_STABLE = {"softplus": lambda u: np.logaddexp(0.0, u), "expit": sps.expit}


def stabilize(expr: sp.Expr) -> sp.Expr:
    """Rewrite overflow-prone forms for numerics: $\\log(1 + e^u) \\to \\mathrm{softplus}(u)$ and
    $e^u/(1 + e^u)$, $1/(1 + e^{-u}) \\to \\mathrm{expit}(u)$ (same values, no overflow at large $|u|$)."""
    e = sp.sympify(expr)
    e = e.replace(sp.log(1 + sp.exp(_W)), _SOFTPLUS(_W))
    e = e.replace(sp.exp(_W) * (sp.exp(_W) + 1) ** _N, _EXPIT(_W) * _EXPIT(-_W) ** (-_N - 1))
    e = e.replace((sp.exp(_W) + 1) ** _N, _EXPIT(-_W) ** (-_N))
    return e


def numeric_function(expr: sp.Expr, var: sp.Symbol) -> Callable[[FloatArray], FloatArray]:
    """A vectorised float function of one variable from a sympy expression (stabilised, Dirac terms dropped)."""
    clean = stabilize(sp.sympify(expr).replace(sp.DiracDelta, lambda *a: sp.S.Zero))
    f = sp.lambdify(var, clean, modules=[_STABLE] + NUMERIC_MODULES)
    return lambda z: _broadcast(f, np.asarray(z, dtype=float))


@dataclass(frozen=True, eq=False)
class Activation:
    """A scalar nonlinearity $\\sigma(z)$ declared by its sympy expression.

    Derivatives are taken by sympy, Dirac terms of piecewise-linear activations dropped (they
    vanish almost everywhere), and, where ``self_subs`` is given, rewritten in terms of
    $s = \\sigma(z)$ (e.g. $\\sigma' = s(1 - s)$ for the logistic sigmoid). Numerically $s$ comes from
    the stable primitive ``numeric``.
    """

    name: str
    symbol: str  # LaTeX name of the function
    expr: sp.Expr
    numeric: Callable[[FloatArray], FloatArray]
    self_subs: tuple[tuple[sp.Expr, sp.Expr], ...] = ()
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def bounded(self) -> tuple[bool | None, str]:
        """:func:`prove_bounded` of $\\sigma$ (cached)."""
        if "bounded" not in self._cache:
            self._cache["bounded"] = prove_bounded(self.expr, Z)
        return self._cache["bounded"]

    def derivative(self, order: int) -> sp.Expr:
        """$\\sigma^{(order)}$ as an expression in $z$ and $s = \\sigma(z)$."""
        key = ("d", order)
        if key not in self._cache:
            e = sp.diff(self.expr, Z, order) if order else self.expr
            e = e.replace(sp.DiracDelta, lambda *a: sp.S.Zero)
            if order and self.self_subs:
                e = sp.factor(sp.simplify(e.subs(dict(self.self_subs))))
                e = sp.simplify(e)
            elif order:
                e = _tidy(e)
            self._cache[key] = e
        return self._cache[key]

    def derivative_in_z(self, order: int) -> sp.Expr:
        """$\\sigma^{(order)}(z)$ as an expression of $z$ alone."""
        return self.derivative(order).subs(S, self.expr)

    def evaluate(self, z: FloatArray, order: int) -> list[FloatArray]:
        """$[\\sigma(z), \\sigma'(z), \\dots, \\sigma^{(order)}(z)]$ from a single evaluation of $s = \\sigma(z)$."""
        self.numeric_derivatives(order)
        s = self.numeric(z)
        return [s] + [_broadcast(self._cache[("f", k)], z, s) for k in range(1, order + 1)]

    def numeric_derivatives(self, order: int = 2) -> list[Callable[[FloatArray], FloatArray]]:
        """Vectorised callables $[\\sigma, \\sigma', \\dots]$ of a float array."""
        key = ("n", order)
        if key not in self._cache:
            fns = [self.numeric]
            for k in range(1, order + 1):
                f = self._cache.setdefault(("f", k), sp.lambdify((Z, S), stabilize(self.derivative(k)), modules=_NUMERIC))
                fns.append(lambda z, f=f: _broadcast(f, z, self.numeric(z)))
            self._cache[key] = fns
        return self._cache[key]


class InnerMap(abc.ABC):
    """$\\psi(\\eta; x) \\in \\mathbb{R}^q$; ``blocks`` are the blocks of $\\eta$ in packing order."""

    blocks: dict[str, tuple[int, ...]]
    dim: int
    input_shape: tuple[int, ...]

    @property
    def p(self) -> int:
        return int(sum(np.prod(s, dtype=int) for s in self.blocks.values()))

    def boundedness(self) -> tuple[bool | None, str]:
        """Whether $\\sup_\\eta |\\psi(\\eta; x)| < \\infty$ for each $x$: ``(True | False | None, reason)``."""
        return None, "no bound is known for this inner map"

    @abc.abstractmethod
    def value(self, eta: FloatArray, X: FloatArray) -> FloatArray:
        """``(Q, p_eta)``, ``(n, ...)`` -> ``(Q, n, q)``."""

    @abc.abstractmethod
    def jacobian(self, eta: FloatArray, X: FloatArray) -> FloatArray:
        """-> ``(Q, n, q, p_eta)``."""

    @abc.abstractmethod
    def vjp(self, eta: FloatArray, X: FloatArray, W: FloatArray) -> FloatArray:
        """$\\sum_i \\partial_\\eta\\psi(\\eta_q; x_i)^\\top w_{qi}$ for ``W`` ``(Q, n, q)`` -> ``(Q, p_eta)``."""

    @abc.abstractmethod
    def hessian_contract(self, eta: FloatArray, X: FloatArray, W: FloatArray) -> FloatArray:
        """$\\sum_i \\sum_j w_{qij} \\nabla^2_\\eta \\psi_j(\\eta_q; x_i)$ -> ``(Q, p_eta, p_eta)``."""

    def value_and_vjp(self, eta: FloatArray, X: FloatArray, W: FloatArray) -> tuple[FloatArray, FloatArray]:
        """``(value(eta, X), vjp(eta, X, W))``; maps override it to share work between the two."""
        return self.value(eta, X), self.vjp(eta, X, W)

    def jvp(self, eta: FloatArray, X: FloatArray, V: FloatArray) -> FloatArray:
        """$\\partial_\\eta\\psi(\\eta_q; x_i)\\, v_q$ for directions ``V`` ``(Q, p_eta)`` -> ``(Q, n, q)``."""
        return np.einsum("qnjp,qp->qnj", self.jacobian(eta, X), V, optimize=True)

    def hvp_contract(self, eta: FloatArray, X: FloatArray, W: FloatArray, V: FloatArray) -> FloatArray:
        """$\\sum_i \\sum_j w_{qij} \\nabla^2_\\eta \\psi_j(\\eta_q; x_i)\\, v_q$ -> ``(Q, p_eta)``."""
        return np.einsum("qab,qb->qa", self.hessian_contract(eta, X, W), V, optimize=True)

    def value_and_jvp(self, eta: FloatArray, X: FloatArray, V: FloatArray) -> tuple[FloatArray, FloatArray]:
        """``(value(eta, X), jvp(eta, X, V))``; maps override it to share work between the two."""
        return self.value(eta, X), self.jvp(eta, X, V)

    def hvp_parts(self, eta: FloatArray, X: FloatArray, W: FloatArray, V: FloatArray,
                  W2: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        """``(hvp_contract(eta, X, W, V), value(eta, X), jvp(eta, X, V), vjp(eta, X, W2))``: what the block
        chain rule's Hessian-vector product needs from the inner map; maps override it to share one evaluation."""
        return self.hvp_contract(eta, X, W, V), self.value(eta, X), self.jvp(eta, X, V), self.vjp(eta, X, W2)

    @abc.abstractmethod
    def componentwise(self, params: dict[str, sp.Matrix], x: sp.Matrix) -> sp.Matrix:
        """$\\psi$ as a ``(q, 1)`` sympy Matrix in the given component symbols."""


class Ridge(InnerMap):
    """$\\psi(w, b; x) = \\sigma(w^\\top x + b)$; the bias is handled by augmenting $x$ with a 1."""

    def __init__(self, activation: Activation, d: int, bias: bool, names: tuple[str, str] = ("w", "b")):
        self.activation, self.d, self.bias = activation, d, bias
        self.blocks = {names[0]: (d,), **({names[1]: ()} if bias else {})}
        self.dim = 1
        self.input_shape = (d,)

    def boundedness(self):
        ok, why = self.activation.bounded()
        return ok, f"psi = sigma(w.x + b) with sigma(z) = {sp.sstr(self.activation.expr)}: {why}"

    def _aug(self, X: FloatArray) -> FloatArray:
        return np.concatenate([X, np.ones((X.shape[0], 1))], axis=1) if self.bias else X

    def preactivation(self, eta: FloatArray, X: FloatArray) -> FloatArray:
        """$z_{qi} = w_q^\\top x_i + b_q$: ``(Q, n)``."""
        return eta @ self._aug(X).T

    def value(self, eta, X):
        return self.activation.numeric(self.preactivation(eta, X))[..., None]

    def jacobian(self, eta, X):
        Xa = self._aug(X)
        d1 = self.activation.numeric_derivatives(1)[1](self.preactivation(eta, X))
        return (d1[..., None] * Xa[None])[:, :, None, :]

    def vjp(self, eta, X, W):
        return self.value_and_vjp(eta, X, W)[1]

    def value_and_vjp(self, eta, X, W):
        # one preactivation and one evaluation of sigma serve both psi and sigma' (benchmarks/bench_kernels.py)
        Xa = self._aug(X)
        s, d1 = self.activation.evaluate(eta @ Xa.T, 1)
        return s[..., None], (W[..., 0] * d1) @ Xa

    def hessian_contract(self, eta, X, W):
        Xa = self._aug(X)
        d2 = self.activation.numeric_derivatives(2)[2](eta @ Xa.T)
        h = W[..., 0] * d2
        return np.einsum("qn,ni,nj->qij", h, Xa, Xa, optimize=True)

    def jvp(self, eta, X, V):
        # sigma'(z) (v^T x~): one preactivation, never the (Q, n, p) Jacobian
        Xa = self._aug(X)
        d1 = self.activation.numeric_derivatives(1)[1](eta @ Xa.T)
        return (d1 * (V @ Xa.T))[..., None]

    def hvp_contract(self, eta, X, W, V):
        # sum_i w_qi sigma''(z_qi) (v_q^T x~_i) x~_i: the forward derivative of vjp along v (Pearlmutter 1994)
        Xa = self._aug(X)
        d2 = self.activation.numeric_derivatives(2)[2](eta @ Xa.T)
        return (W[..., 0] * d2 * (V @ Xa.T)) @ Xa

    def value_and_jvp(self, eta, X, V):
        Xa = self._aug(X)
        s, d1 = self.activation.evaluate(eta @ Xa.T, 1)
        return s[..., None], (d1 * (V @ Xa.T))[..., None]

    def hvp_parts(self, eta, X, W, V, W2):
        # one preactivation, one evaluation of sigma and its two derivatives for the three products
        Xa = self._aug(X)
        s, d1, d2 = self.activation.evaluate(eta @ Xa.T, 2)
        zd = V @ Xa.T
        return (W[..., 0] * d2 * zd) @ Xa, s[..., None], (d1 * zd)[..., None], (W2[..., 0] * d1) @ Xa

    def componentwise(self, params, x):
        z = (params["w"].T * x)[0, 0] + (params["b"] if self.bias else 0)
        return sp.Matrix([self.activation.expr.subs(Z, z)])


class SoftmaxAttention(InnerMap):
    """$\\psi(W; X) = X^\\top p$, $p = \\mathrm{softmax}(s)$, $s_t = x_t^\\top W x_q$, $x_q$ the last token."""

    def __init__(self, d: int, tokens: int):
        self.d, self.tokens = d, tokens
        self.blocks = {"W": (d, d)}
        self.dim = d
        self.input_shape = (tokens, d)

    def boundedness(self):
        return True, "psi = X^T softmax(.) is a convex combination of the tokens: |psi| <= max_t |x_t| for every W"

    def softmax(self, eta: FloatArray, X: FloatArray) -> FloatArray:
        """Attention weights $p_{qit}$: ``(Q, n, T)``."""
        d = self.d
        Wm = eta.reshape(-1, d, d)
        v = np.einsum("qde,ne->qnd", Wm, X[:, -1, :], optimize=True)
        s = np.einsum("ntd,qnd->qnt", X, v, optimize=True)
        s = s - s.max(axis=-1, keepdims=True)
        e = np.exp(s)
        return e / e.sum(axis=-1, keepdims=True)

    def value(self, eta, X):
        return np.einsum("qnt,ntd->qnd", self.softmax(eta, X), X, optimize=True)

    def jacobian(self, eta, X):
        p = self.softmax(eta, X)
        psi = np.einsum("qnt,ntd->qnd", p, X, optimize=True)
        # X^T (diag p - p p^T) X = sum_t p_t x_t x_t^T - psi psi^T
        C = np.einsum("qnt,ntj,nta->qnja", p, X, X, optimize=True) - psi[..., :, None] * psi[..., None, :]
        J = np.einsum("qnja,nb->qnjab", C, X[:, -1, :], optimize=True)
        return J.reshape(J.shape[0], J.shape[1], self.d, self.d * self.d)

    def vjp(self, eta, X, W):
        p = self.softmax(eta, X)
        e = np.einsum("ntd,qnd->qnt", X, W, optimize=True)
        g = p * (e - np.sum(p * e, axis=-1, keepdims=True))
        G = np.einsum("qnt,nta->qna", g, X, optimize=True)
        return np.einsum("qna,nb->qab", G, X[:, -1, :], optimize=True).reshape(eta.shape[0], -1)

    def hessian_contract(self, eta, X, W):
        p = self.softmax(eta, X)
        psi = np.einsum("qnt,ntd->qnd", p, X, optimize=True)
        e = np.einsum("ntd,qnd->qnt", X, W, optimize=True)
        pc = p * (e - np.sum(p * e, axis=-1, keepdims=True))
        G = np.einsum("qnt,nta->qna", pc, X, optimize=True)
        # X^T M X with M = diag(pc) - pc p^T - p pc^T
        C = (np.einsum("qnt,nta,ntc->qnac", pc, X, X, optimize=True)
             - G[..., :, None] * psi[..., None, :] - psi[..., :, None] * G[..., None, :])
        xq = X[:, -1, :]
        H = np.einsum("qnac,nb,ne->qabce", C, xq, xq, optimize=True)
        return H.reshape(eta.shape[0], self.d * self.d, self.d * self.d)

    def jvp(self, eta, X, V):
        # ds_t = x_t^T V x_q, dp = p * (ds - <p, ds>), dpsi = X^T dp
        p = self.softmax(eta, X)
        Vm = V.reshape(-1, self.d, self.d)
        ds = np.einsum("ntd,qde,ne->qnt", X, Vm, X[:, -1, :], optimize=True)
        dp = p * (ds - np.sum(p * ds, axis=-1, keepdims=True))
        return np.einsum("qnt,ntd->qnd", dp, X, optimize=True)

    def hvp_contract(self, eta, X, W, V):
        # forward derivative of vjp along V: g_t = p_t (e_t - <p, e>) with e_t = x_t^T w fixed, so
        # dg_t = dp_t (e_t - <p, e>) - p_t <dp, e>
        p = self.softmax(eta, X)
        Vm = V.reshape(-1, self.d, self.d)
        ds = np.einsum("ntd,qde,ne->qnt", X, Vm, X[:, -1, :], optimize=True)
        dp = p * (ds - np.sum(p * ds, axis=-1, keepdims=True))
        e = np.einsum("ntd,qnd->qnt", X, W, optimize=True)
        dg = dp * (e - np.sum(p * e, axis=-1, keepdims=True)) - p * np.sum(dp * e, axis=-1, keepdims=True)
        G = np.einsum("qnt,nta->qna", dg, X, optimize=True)
        return np.einsum("qna,nb->qab", G, X[:, -1, :], optimize=True).reshape(eta.shape[0], -1)

    def componentwise(self, params, x):
        Wm, Xm = params["W"], x
        xq = Xm[self.tokens - 1, :].T
        s = [(Xm[t, :] * Wm * xq)[0, 0] for t in range(self.tokens)]
        den = sum(sp.exp(st) for st in s)
        p = sp.Matrix([sp.exp(st) / den for st in s])
        return Xm.T * p


class SeparableKernel(InnerMap):
    """$\\psi(t; x) = \\prod_{j=1}^d \\kappa(x_j - t_j)$ for a 1-D profile $\\kappa(u)$ (sympy expression)."""

    def __init__(self, profile: sp.Expr, d: int, numeric: Callable | None = None, name: str = "t"):
        self.profile, self.d = profile, d
        self.blocks = {name: (d,)}
        self.dim = 1
        self.input_shape = (d,)
        derivs = [sp.lambdify(U, sp.diff(profile, U, k), modules=_NUMERIC) for k in range(3)]
        self._k = [lambda u, f=f: _broadcast(f, u) for f in derivs]
        if numeric is not None:
            self._k[0] = numeric

    def boundedness(self):
        if sp.periodicity(self.profile, U) is not None:
            return True, (f"psi = prod_j kappa(x_j - t_j) with the periodic kappa(u) = {sp.sstr(self.profile)}: t lives "
                          "on the torus, a compact set on which the continuous psi is bounded")
        ok, why = prove_bounded(self.profile, U)
        return ok, f"psi = prod_j kappa(x_j - t_j) with kappa(u) = {sp.sstr(self.profile)}: {why}"

    def _parts(self, eta, X):
        u = X[None, :, :] - eta[:, None, :]
        return [k(u) for k in self._k]

    @staticmethod
    def _prod_except(k0: FloatArray, skip: tuple[int, ...]) -> FloatArray:
        keep = [j for j in range(k0.shape[-1]) if j not in skip]
        return np.prod(k0[..., keep], axis=-1) if keep else np.ones(k0.shape[:-1])

    def value(self, eta, X):
        k0 = self._k[0](X[None, :, :] - eta[:, None, :])
        return np.prod(k0, axis=-1)[..., None]

    def jacobian(self, eta, X):
        k0, k1, _ = self._parts(eta, X)
        J = np.stack([-k1[..., j] * self._prod_except(k0, (j,)) for j in range(self.d)], axis=-1)
        return J[:, :, None, :]

    def vjp(self, eta, X, W):
        return np.einsum("qnj,qn->qj", self.jacobian(eta, X)[:, :, 0, :], np.broadcast_to(W[..., 0], (eta.shape[0], X.shape[0])))

    def hessian_contract(self, eta, X, W):
        k0, k1, k2 = self._parts(eta, X)
        Q, n, d = k0.shape
        H = np.empty((Q, n, d, d))
        for j in range(d):
            H[:, :, j, j] = k2[..., j] * self._prod_except(k0, (j,))
            for l in range(j + 1, d):
                H[:, :, j, l] = H[:, :, l, j] = k1[..., j] * k1[..., l] * self._prod_except(k0, (j, l))
        return np.einsum("qnjl,qn->qjl", H, np.broadcast_to(W[..., 0], (Q, n)))

    def jvp(self, eta, X, V):
        k0, k1, _ = self._parts(eta, X)
        out = sum(-k1[..., j] * V[:, j, None] * self._prod_except(k0, (j,)) for j in range(self.d))
        return out[..., None]

    def hvp_contract(self, eta, X, W, V):
        # (sum_i w_i Hess psi_i v)_j without the (Q, n, d, d) Hessian: one (Q, n) term per pair (j, l)
        k0, k1, k2 = self._parts(eta, X)
        w = np.broadcast_to(W[..., 0], k0.shape[:2])
        out = np.empty(eta.shape)
        for j in range(self.d):
            acc = k2[..., j] * V[:, j, None] * self._prod_except(k0, (j,))
            for l in range(self.d):
                if l != j:
                    acc = acc + k1[..., j] * k1[..., l] * V[:, l, None] * self._prod_except(k0, (j, l))
            out[:, j] = np.sum(w * acc, axis=1)
        return out

    def componentwise(self, params, x):
        t = params[next(iter(self.blocks))]
        return sp.Matrix([sp.prod([self.profile.subs(U, x[j] - t[j]) for j in range(self.d)])])
