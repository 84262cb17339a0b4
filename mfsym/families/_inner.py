"""Inner maps $\\psi(\\eta; x)$, each kind declared once by its generic-dimension calculus.

Three kinds cover the built-in families:

* :class:`Ridge` -- $\\psi = \\sigma(w^\\top x + b)$ (scalar), any activation $\\sigma$ given as a
  sympy expression; sympy takes its derivatives, which are then evaluated elementwise.
* :class:`SoftmaxAttention` -- $\\psi(W; X) = X^\\top \\mathrm{softmax}(X W x_q)$ with $x_q$ the last
  token (Petit, Poon & Peyré 2026, multi-head attention).
* :class:`SeparableKernel` -- $\\psi(t; x) = \\prod_j \\kappa(x_j - t_j)$ (sparse-spike deconvolution,
  Chizat & Bach 2018, §4).

A kind states its blocks, its inputs and its calculus (:class:`~._calculus.InnerCalculus`: named
intermediates, $\\psi$, $\\partial\\psi$, $\\nabla(g^\\top\\psi)$, $\\nabla^2(g^\\top\\psi)$ in vector notation). From that
one statement come the LaTeX derivation (:mod:`mfsym.symbolic`), the componentwise neuron and the ball
programs of the certificates (:func:`~._calculus.concretize`), and the numeric kernels -- values, Jacobians,
vector-Jacobian products, contracted Hessians, Jacobian- and Hessian-vector products, vectorised over
``Q`` parameters and ``n`` inputs -- compiled by :class:`~._calculus.Kernels`.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import scipy.special as sps
import sympy as sp
from sympy.matrices.expressions.diagonal import DiagMatrix

from .._printer import PaperPrinter
from .._types import FloatArray
from ._calculus import Definition, InnerCalculus, Kernels, T_, d_

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

    def numeric_derivative(self, order: int) -> Callable[[FloatArray, FloatArray], FloatArray]:
        """$\\sigma^{(order)}$ as a vectorised function of $(z, s)$ with $s = \\sigma(z)$ (no re-evaluation of $\\sigma$)."""
        key = ("f", order)
        if key not in self._cache:
            self._cache[key] = sp.lambdify((Z, S), stabilize(self.derivative(order)), modules=_NUMERIC)
        f = self._cache[key]
        return lambda z, s: _broadcast(f, z, s)

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
    """$\\psi(\\eta; x) \\in \\mathbb{R}^q$; ``blocks`` are the blocks of $\\eta$ in packing order.

    A kind implements :meth:`calculus`; every numeric kernel below is compiled from it. Shapes: parameters
    ``eta`` ``(Q, p_eta)``, inputs ``X`` ``(n, ...)``, weights ``W`` ``(Q, n, q)``, directions ``V`` ``(Q, p_eta)``.
    """

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
    def _calculus(self) -> InnerCalculus:
        """The generic-dimension calculus of this map (built once, see :meth:`calculus`)."""

    @classmethod
    def candidates(cls, blocks: dict[str, tuple[int, ...]], input_shape: tuple[int, ...]) -> list["InnerMap"]:
        """The maps of this kind with exactly these blocks (names and shapes, in order) and this input shape:
        what :func:`~mfsym.families.from_expr` compares a user's neuron with, exactly. None by default."""
        return []

    def calculus(self) -> InnerCalculus:
        """The generic-dimension calculus (:class:`~._calculus.InnerCalculus`) of this map, cached."""
        if getattr(self, "_calc", None) is None:
            self._calc = self._calculus()
        return self._calc

    @property
    def kernels(self) -> Kernels:
        """The numeric kernels compiled from :meth:`calculus`."""
        if getattr(self, "_kernels", None) is None:
            self._kernels = Kernels(self.calculus(), self.blocks)
        return self._kernels

    def _env(self, eta, X, W=None, V=None):
        f = lambda a: None if a is None else np.asarray(a, dtype=float)  # noqa: E731
        return self.kernels.env(f(eta), f(X), f(W), f(V))

    def value(self, eta: FloatArray, X: FloatArray) -> FloatArray:
        """``(Q, p_eta)``, ``(n, ...)`` -> ``(Q, n, q)``."""
        return self.kernels.value(self._env(eta, X))

    def jacobian(self, eta: FloatArray, X: FloatArray) -> FloatArray:
        """-> ``(Q, n, q, p_eta)``."""
        return self.kernels.jacobian(self._env(eta, X))

    def vjp(self, eta: FloatArray, X: FloatArray, W: FloatArray) -> FloatArray:
        """$\\sum_i \\partial_\\eta\\psi(\\eta_q; x_i)^\\top w_{qi}$ -> ``(Q, p_eta)``."""
        return self.kernels.vjp(self._env(eta, X, W))

    def hessian_contract(self, eta: FloatArray, X: FloatArray, W: FloatArray) -> FloatArray:
        """$\\sum_i \\sum_j w_{qij} \\nabla^2_\\eta \\psi_j(\\eta_q; x_i)$ -> ``(Q, p_eta, p_eta)``."""
        return self.kernels.hessian(self._env(eta, X, W))

    def value_and_vjp(self, eta: FloatArray, X: FloatArray, W: FloatArray) -> tuple[FloatArray, FloatArray]:
        """``(value(eta, X), vjp(eta, X, W))`` from one evaluation of the intermediates."""
        env = self._env(eta, X, W)
        return self.kernels.value(env), self.kernels.vjp(env)

    def jvp(self, eta: FloatArray, X: FloatArray, V: FloatArray) -> FloatArray:
        """$\\partial_\\eta\\psi(\\eta_q; x_i)\\, v_q$ -> ``(Q, n, q)``: the tangent of $\\psi$ along $v$."""
        return self.kernels.jvp(self._env(eta, X, V=V))

    def hvp_contract(self, eta: FloatArray, X: FloatArray, W: FloatArray, V: FloatArray) -> FloatArray:
        """$\\sum_i \\sum_j w_{qij} \\nabla^2_\\eta \\psi_j(\\eta_q; x_i)\\, v_q$ -> ``(Q, p_eta)``: the tangent of the
        vector-Jacobian product along $v$ (Pearlmutter 1994), never a $p \\times p$ Hessian."""
        return self.kernels.hvp(self._env(eta, X, W, V))

    def value_and_jvp(self, eta: FloatArray, X: FloatArray, V: FloatArray) -> tuple[FloatArray, FloatArray]:
        """``(value(eta, X), jvp(eta, X, V))`` from one evaluation of the intermediates."""
        env = self._env(eta, X, V=V)
        return self.kernels.value(env), self.kernels.jvp(env)

    def hvp_parts(self, eta: FloatArray, X: FloatArray, W: FloatArray, V: FloatArray,
                  W2: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        """``(hvp_contract(eta, X, W, V), value(eta, X), jvp(eta, X, V), vjp(eta, X, W2))``: what the block
        chain rule's Hessian-vector product needs, from one evaluation of the weight-free intermediates."""
        K = self.kernels
        env = self._env(eta, X, W, V)
        env2 = env.fork({self.calculus().g: K._weight(np.asarray(W2, dtype=float))})
        return K.hvp(env), K.value(env), K.jvp(env), K.vjp(env2)

    def componentwise(self, params: dict[str, sp.Matrix], x: sp.Matrix) -> sp.Matrix:
        """$\\psi$ as a ``(q, 1)`` sympy Matrix in the given component symbols (from the calculus' value)."""
        calc = self.calculus()
        return calc.componentwise({k: v for k, v in params.items() if k in calc.blocks}, x)


_PIECEWISE = (sp.Heaviside, sp.Piecewise, sp.sign, sp.Abs, sp.Max, sp.Min)


class Ridge(InnerMap):
    """$\\psi(w, b; x) = \\sigma(w^\\top x + b)$ for an :class:`Activation` $\\sigma$."""

    def __init__(self, activation: Activation, d: int, bias: bool, names: tuple[str, str] = ("w", "b")):
        self.activation, self.d, self.bias = activation, d, bias
        self.blocks = {names[0]: (d,), **({names[1]: ()} if bias else {})}
        self.dim = 1
        self.input_shape = (d,)

    def boundedness(self):
        ok, why = self.activation.bounded()
        return ok, f"psi = sigma(w.x + b) with sigma(z) = {sp.sstr(self.activation.expr)}: {why}"

    def _aug(self, X: FloatArray) -> FloatArray:
        """The inputs with a column of ones when there is a bias (``(n, d + 1)``): $z = \\tilde x^\\top (w, b)$."""
        return np.concatenate([X, np.ones((X.shape[0], 1))], axis=1) if self.bias else X

    def preactivation(self, eta: FloatArray, X: FloatArray) -> FloatArray:
        """$z_{qi} = w_q^\\top x_i + b_q$: ``(Q, n)``."""
        return eta @ self._aug(X).T

    def _calculus(self) -> InnerCalculus:
        r"""$\psi = \sigma(z_i)$, $z_i = w^\top x_i + b$; $\sigma', \sigma''$ from sympy, in terms of $s_i = \sigma(z_i)$."""
        act = self.activation
        wn, bn = (list(self.blocks) + ["b"])[:2]
        w, x = sp.MatrixSymbol(wn, d_, 1), sp.MatrixSymbol("x_i", d_, 1)
        b = sp.Symbol(bn, real=True)
        z, s, g = sp.Symbol("z_i", real=True), sp.Symbol("s_i", real=True), sp.Symbol("g_i", real=True)
        f1, f2 = sp.Function("dsigma1"), sp.Function("dsigma2")
        sym = act.symbol
        d1, d2 = act.derivative(1), act.derivative(2)
        zero2 = d2 == 0
        functions = {f1: sym + "'", f2: sym + "''"}
        concrete_functions = {f1: sp.Lambda(Z, act.derivative_in_z(1)), f2: sp.Lambda(Z, act.derivative_in_z(2))}
        n1, n2 = act.numeric_derivative(1), act.numeric_derivative(2)
        numeric_functions = {f1: (lambda env, ap: n1(env[z], env[s]), 0 if zero2 else f2),
                             f2: (lambda env, ap: n2(env[z], env[s]), None)}
        names = {x: "x_i", w: wn, z: "z_i", s: "s_i", g: "g_i"}
        bias = self.bias
        blocks = {wn: w, **({bn: b} if bias else {})}
        block_latex = {wn: rf"{wn} \in \mathbb{{R}}^{{d}}", **({bn: rf"{bn} \in \mathbb{{R}}"} if bias else {})}
        lat = lambda e: PaperPrinter().doprint(e.subs({Z: z, S: s}))  # noqa: E731  (scalar calculus, by sympy)
        defs = [
            Definition(z, rf"{wn}^{{\top}} x_i" + (f" + {bn}" if bias else ""), note="pre-activation",
                       expr=sp.Trace(w.T * x) + (b if bias else 0)),
            Definition(s, rf"{sym}\left(z_i\right)", lambda env: act.expr.subs(Z, env[z]), "activation",
                       numeric=lambda env: act.numeric(env[z]), tangent=lambda dot: f1(z) * dot(z)),
        ]
        D1 = f1(z)
        D2 = sp.S.Zero if zero2 else f2(z)
        jac = {wn: D1 * x.T}
        grad = {wn: g * D1 * x}
        hess = {(wn, wn): g * D2 * x * x.T if not zero2 else sp.ZeroMatrix(d_, d_)}
        if bias:
            jac[bn] = D1
            grad[bn] = g * D1
            hess[(wn, bn)] = g * D2 * x if not zero2 else sp.ZeroMatrix(d_, 1)
            hess[(bn, bn)] = g * D2
        remarks = [rf"{sym}\left(z_i\right) = {lat(act.expr)}",
                   rf"{sym}'\left(z_i\right) = {lat(d1)}", rf"{sym}''\left(z_i\right) = {lat(d2)}"]
        if zero2 or d2.has(*_PIECEWISE):
            remarks[-1] += r" \quad \text{(almost everywhere)}"
        if d1.has(*_PIECEWISE):
            remarks[1] += r" \quad \text{(almost everywhere)}"
        calc = InnerCalculus(blocks, block_latex, [x], r"x_i \in \mathbb{R}^{d}", g, s, rf"{sym}\left(z_i\right)",
                             jac, grad, hess, defs, [], names, functions, concrete_functions, {d_: self.d}, 1, "ridge",
                             remarks, numeric_functions=numeric_functions, numeric_inputs=lambda X: {x: X})
        calc.input_table = lambda xv: {x: sp.Matrix(xv).reshape(self.d, 1)}
        return calc


def softmax(z: FloatArray) -> FloatArray:
    """Softmax over the last axis, shifted by the maximum (no overflow)."""
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@dataclass
class SoftmaxHead:
    """The atoms and definitions every softmax-attention calculus shares (:func:`softmax_head`)."""

    X: sp.MatrixSymbol
    xq: sp.MatrixSymbol
    g: sp.MatrixSymbol
    z: sp.MatrixSymbol
    p: sp.MatrixSymbol
    D: sp.MatrixSymbol
    rho: sp.MatrixSymbol
    M: sp.MatrixSymbol
    names: dict
    definitions: list
    weight_definitions: list


def softmax_head(X_i: sp.MatrixSymbol, scores: Callable, scores_latex: str, q) -> SoftmaxHead:
    r"""$\psi_i = X_i^\top p_i$, $p_i = \mathrm{softmax}(z_i)$ with the scores $z_i$ = ``scores(X_i, x_{i,T})``:
    the intermediates $z_i, p_i, D_i = \mathrm{diag}(p_i) - p_i p_i^\top$ and, for a weight $g_i$,
    $\rho_i = D_i X_i g_i = \nabla_{z_i}(g_i^\top\psi_i)$, $M_i = \nabla^2_{z_i}(g_i^\top\psi_i)$."""
    T, d = X_i.shape
    X, xq = X_i, sp.MatrixSymbol("xq_i", d, 1)
    z, p = sp.MatrixSymbol("z_i", T, 1), sp.MatrixSymbol("p_i", T, 1)
    D, M = sp.MatrixSymbol("D_i", T, T), sp.MatrixSymbol("M_i", T, T)
    g, rho = sp.MatrixSymbol("g_i", q, 1), sp.MatrixSymbol("rho_i", T, 1)
    names = {X: "X_i", xq: r"x_{i,T}", z: "z_i", p: "p_i", D: "D_i", M: "M_i", g: "g_i", rho: r"\rho_i"}

    def softmax_build(env):
        e = env[z].applyfunc(sp.exp)
        return e / sum(e)

    defs = [
        Definition(z, scores_latex + r" \in \mathbb{R}^{T}", note=r"scores of the query $x_{i,T}$", expr=scores(X, xq)),
        Definition(p, r"\operatorname{softmax}\left(z_i\right), \quad p_{it} = \frac{e^{z_{it}}}{\sum_{t'=1}^{T} e^{z_{it'}}}",
                   softmax_build, "attention weights", numeric=lambda env: softmax(env[z]), tangent=lambda dot: D * dot(z)),
        Definition(D, r"\frac{\partial p_i}{\partial z_i} = \operatorname{diag}\left(p_i\right) - p_i p_i^{\top}",
                   lambda env: sp.diag(*list(env[p])) - env[p] * env[p].T, "softmax Jacobian",
                   expr=DiagMatrix(p) - p * p.T, inline=True),
    ]
    wdefs = [
        Definition(rho, r"D_i X_i g_i = \nabla_{z_i}\left(g_i^{\top} X_i^{\top} p_i\right)"
                   r" = p_i \circ \left(X_i g_i - \left(p_i^{\top} X_i g_i\right) \mathbf{1}\right)",
                   lambda env: env[D] * env[X] * env[g], expr=D * X * g),
        Definition(M, r"\nabla^2_{z_i}\left(g_i^{\top} X_i^{\top} p_i\right) = \operatorname{diag}\left(\rho_i\right) - \rho_i p_i^{\top} - p_i \rho_i^{\top}",
                   lambda env: sp.diag(*list(env[rho])) - env[rho] * env[p].T - env[p] * env[rho].T,
                   expr=DiagMatrix(rho) - rho * p.T - p * rho.T, inline=True),
    ]
    return SoftmaxHead(X, xq, g, z, p, D, rho, M, names, defs, wdefs)


def token_table(tokens: int, d: int, X: sp.MatrixSymbol, xq: sp.MatrixSymbol) -> Callable:
    """The input table of a token matrix: $X_i$ and its last token $x_{i,T}$ as the query."""

    def table(xv):
        Xm = sp.Matrix(xv).reshape(tokens, d)
        return {X: Xm, xq: Xm[tokens - 1, :].T}

    return table


class SoftmaxAttention(InnerMap):
    """$\\psi(W; X) = X^\\top p$, $p = \\mathrm{softmax}(s)$, $s_t = x_t^\\top W x_q$, $x_q$ the last token."""

    def __init__(self, d: int, tokens: int, name: str = "W"):
        self.d, self.tokens = d, tokens
        self.blocks = {name: (d, d)}
        self.dim = d
        self.input_shape = (tokens, d)

    def boundedness(self):
        return True, "psi = X^T softmax(.) is a convex combination of the tokens: |psi| <= max_t |x_t| for every W"

    @classmethod
    def candidates(cls, blocks, input_shape):
        shapes = list(blocks.values())
        if len(input_shape) == 2 and shapes == [(input_shape[1],) * 2]:
            return [cls(input_shape[1], input_shape[0], name=next(iter(blocks)))]
        return []

    def _calculus(self) -> InnerCalculus:
        r"""$\psi = X_i^\top p_i$, $p_i = \mathrm{softmax}(z_i)$, $z_i = X_i W x_{i,T}$, $D_i = \mathrm{diag}(p_i) - p_i p_i^\top$."""
        wn = next(iter(self.blocks))
        W = sp.MatrixSymbol(wn, d_, d_)
        head = softmax_head(X_i=sp.MatrixSymbol("X_i", T_, d_), scores=lambda X, xq: X * W * xq,
                            scores_latex=rf"X_i {wn} x_{{i,T}}", q=d_)
        X, xq, g, p, D, M = head.X, head.xq, head.g, head.p, head.D, head.M
        names = {W: wn, **head.names}
        defs, wdefs, Tn = head.definitions, head.weight_definitions, self.tokens
        C = X.T * D * X
        jac = {wn: sp.KroneckerProduct(C, xq.T)}
        grad = {wn: X.T * D * X * g * xq.T}
        hess = {(wn, wn): sp.KroneckerProduct(X.T * M * X, xq * xq.T)}
        calc = InnerCalculus({wn: W}, {wn: rf"{wn} \in \mathbb{{R}}^{{d \times d}}"}, [X, xq],
                             r"X_i \in \mathbb{R}^{T \times d}", g, X.T * p, r"X_i^{\top} p_i", jac, grad, hess,
                             defs, wdefs, names, {}, {}, {d_: self.d, T_: Tn}, self.d, "attention",
                             [r"\frac{\partial \psi_i}{\partial W_{ab}} = \left(X_i^{\top} D_i X_i\right)_{:,a} \left(x_{i,T}\right)_b",
                              r"\frac{\partial^2 \left(g_i^{\top}\psi_i\right)}{\partial W_{ab}\, \partial W_{ce}} = "
                              r"\left(X_i^{\top} M_i X_i\right)_{ac} \left(x_{i,T}\right)_b \left(x_{i,T}\right)_e"],
                             numeric_inputs=lambda Xn: {X: Xn, xq: Xn[:, -1, :]})
        calc.input_table = token_table(Tn, self.d, X, xq)
        return calc


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

    @staticmethod
    def _prod_except(k0: FloatArray, skip: tuple[int, ...]) -> FloatArray:
        keep = [j for j in range(k0.shape[-1]) if j not in skip]
        return np.prod(k0[..., keep], axis=-1) if keep else np.ones(k0.shape[:-1])

    def _entrywise(self, Delta: FloatArray) -> tuple[FloatArray, FloatArray]:
        """$(\\partial_t \\kappa_i, \\nabla^2_t \\kappa_i)$ entrywise from the profile's derivatives at $\\Delta_i$."""
        k0, k1, k2 = (k(Delta) for k in self._k)
        d = self.d
        J = np.stack([-k1[..., j] * self._prod_except(k0, (j,)) for j in range(d)], axis=-1)
        H = np.empty(k0.shape + (d,))
        for j in range(d):
            H[..., j, j] = k2[..., j] * self._prod_except(k0, (j,))
            for l in range(j + 1, d):
                H[..., j, l] = H[..., l, j] = k1[..., j] * k1[..., l] * self._prod_except(k0, (j, l))
        return J, H

    def _calculus(self) -> InnerCalculus:
        r"""$\psi = \kappa_i = \prod_l \kappa(\Delta_{il})$, $\Delta_i = x_i - t$; log-derivative form when $\kappa'/\kappa$ is linear."""
        tn = next(iter(self.blocks))
        t, x = sp.MatrixSymbol(tn, d_, 1), sp.MatrixSymbol("x_i", d_, 1)
        Delta = sp.MatrixSymbol("Delta_i", d_, 1)
        kap, g = sp.Symbol("kappa_i", real=True), sp.Symbol("g_i", real=True)
        prof = self.profile
        k1, k2 = sp.diff(prof, U), sp.diff(prof, U, 2)
        rho1 = sp.simplify(k1 / prof)
        rho2 = sp.simplify(k2 / prof)
        c1 = sp.simplify(rho1 / U)
        c2 = sp.simplify(rho2 - rho1**2)
        names = {t: tn, x: "x_i", Delta: r"\Delta_i", kap: r"\kappa_i", g: "g_i"}
        dd = self.d
        ku = sp.Symbol("u", real=True)

        def kap_build(env):
            dv = env[Delta]
            return sp.prod([prof.subs(U, dv[j]) for j in range(dd)])

        kap_numeric = lambda env: np.prod(self._k[0](env[Delta]), axis=-1)  # noqa: E731
        remarks = [rf"\kappa(u) = {sp.latex(prof.subs(U, ku))}",
                   rf"\kappa'(u) = {sp.latex(sp.factor(k1).subs(U, ku))}",
                   rf"\kappa''(u) = {sp.latex(sp.factor(k2).subs(U, ku))}"]
        Delta_def = Definition(Delta, rf"x_i - {tn} \in \mathbb{{R}}^{{d}}", note="offset of the spike", expr=x - t)
        linear = not c1.has(U) and not c2.has(U) and c1 != 0
        if linear:
            # kappa'/kappa = c1 u  =>  grad_t psi = -c1 kappa Delta,  hess = kappa (c1^2 Delta Delta^T + c2 I)
            defs = [Delta_def, Definition(kap, r"\prod_{l=1}^{d} \kappa\left(\Delta_{il}\right)", kap_build, "kernel value",
                                          numeric=kap_numeric, tangent=lambda dot: c1 * kap * (Delta.T * dot(Delta)))]
            jac = {tn: -c1 * kap * Delta.T}
            grad = {tn: -c1 * g * kap * Delta}
            hess = {(tn, tn): g * kap * (c1**2 * Delta * Delta.T + c2 * sp.Identity(d_))}
            remarks.append(rf"\frac{{\kappa'(u)}}{{\kappa(u)}} = {sp.latex(rho1.subs(U, ku))}, \qquad "
                           rf"\frac{{\kappa''(u)}}{{\kappa(u)}} = {sp.latex(sp.expand(rho2).subs(U, ku))}")
            overrides = {}
        else:
            # product form, written entrywise: J_i = d kappa_i / dt (a row), H_i its Hessian
            Jt, Ht = sp.MatrixSymbol("Jt_i", 1, d_), sp.MatrixSymbol("Ht_i", d_, d_)
            overrides = {
                Jt: r"\left(-\kappa'\left(\Delta_{ij}\right) \prod_{l \neq j} \kappa\left(\Delta_{il}\right)\right)_{j=1}^{d}",
                Ht: r"\left(\begin{cases} \kappa''\left(\Delta_{ij}\right) \prod_{m \neq j} \kappa\left(\Delta_{im}\right) & j = l \\"
                    r" \kappa'\left(\Delta_{ij}\right) \kappa'\left(\Delta_{il}\right) \prod_{m \neq j, l} \kappa\left(\Delta_{im}\right) & j \neq l \end{cases}\right)_{j, l = 1}^{d}",
            }

            def part(dv, j, skip):
                return sp.prod([prof.subs(U, dv[m]) for m in range(dd) if m not in skip])

            def jt(env):
                dv = env[Delta]
                return sp.Matrix(1, dd, lambda _, j: -k1.subs(U, dv[j]) * part(dv, j, (j,)))

            def ht(env):
                dv = env[Delta]
                return sp.Matrix(dd, dd, lambda j, l: (k2.subs(U, dv[j]) * part(dv, j, (j,)) if j == l
                                                      else k1.subs(U, dv[l]) * k1.subs(U, dv[j]) * part(dv, j, (j, l))))

            def entrywise(env, which):
                # J and H from one evaluation of the profile's derivatives; the other is kept for later
                J, H = self._entrywise(env[Delta])
                env.root.values[Ht if which == 0 else Jt] = H if which == 0 else J
                return J if which == 0 else H

            defs = [Delta_def,
                    Definition(kap, r"\prod_{l=1}^{d} \kappa\left(\Delta_{il}\right)", kap_build, "kernel value",
                               numeric=kap_numeric, tangent=lambda dot: Jt * dot(t)),
                    Definition(Jt, "", jt, numeric=lambda env: entrywise(env, 0), tangent=lambda dot: dot(t).T * Ht),
                    Definition(Ht, "", ht, numeric=lambda env: entrywise(env, 1))]
            jac = {tn: Jt}
            grad = {tn: g * Jt.T}
            hess = {(tn, tn): g * Ht}
        calc = InnerCalculus({tn: t}, {tn: rf"{tn} \in \mathbb{{R}}^{{d}}"}, [x], r"x_i \in \mathbb{R}^{d}", g, kap,
                             r"\kappa_i", jac, grad, hess, defs, [], names, {}, {}, {d_: dd}, 1, "kernel", remarks,
                             numeric_inputs=lambda X: {x: X})
        calc.overrides = overrides
        calc.input_table = lambda xv: {x: sp.Matrix(xv).reshape(dd, 1)}
        return calc
