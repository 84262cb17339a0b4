"""Block-level calculus of the inner maps $\\psi(\\eta; x)$, at generic dimension, written once per kind.

Each calculus exposes, for one sample $i$ and a weight $g$ (a scalar when $q = 1$, else a
$q$-vector),

* ``definitions`` -- the named intermediates (pre-activations, $\\sigma'$, softmax $p$, ...), each as
  a generic sympy object, its LaTeX and a builder of its concrete value;
* ``value`` -- $\\psi$; ``jac[B]`` -- $\\partial\\psi/\\partial B$ ($q \\times |B|$);
  ``grad[B]`` -- $\\nabla_B (g^\\top\\psi)$ (shaped like $B$); ``hess[B, B']`` --
  $\\nabla^2_{B B'} (g^\\top\\psi)$ ($|B| \\times |B'|$), blocks flattened row-major as in
  :meth:`Family.pack`;

as sympy (matrix) expressions in generic-dimension symbols. :func:`concretize` turns any of them
into an explicit ``sympy.Matrix`` at the family's concrete sizes, which is what the tests compare with
the expanded componentwise ground truth.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import sympy as sp
from sympy.core.function import AppliedUndef

from ..families import S, U, Z, Ridge, SeparableKernel, SoftmaxAttention
from ._printer import PaperPrinter

d_, k_, T_, q_ = sp.symbols("d k T q", integer=True, positive=True)


@dataclass
class Definition:
    """A named intermediate: ``atom`` := ``display`` (LaTeX ``latex``), concrete value ``build(env)``."""

    atom: Any
    latex: str
    build: Callable[[dict], Any]
    note: str = ""


@dataclass
class InnerCalculus:
    """Generic-dimension formulas of one inner map (see module docstring)."""

    blocks: dict[str, Any]            # block name -> generic symbol (Symbol or MatrixSymbol)
    block_latex: dict[str, str]       # block name -> "w \\in \\mathbb{R}^{d}"
    inputs: list[Any]                 # generic input atoms of sample i
    input_latex: str
    g: Any                            # generic weight (Symbol when q = 1, else MatrixSymbol (q, 1))
    value: Any
    value_latex: str                  # LaTeX of psi's definition
    jac: dict[str, Any]
    grad: dict[str, Any]
    hess: dict[tuple[str, str], Any]
    definitions: list[Definition]
    weight_definitions: list[Definition]   # intermediates that depend on g (built after g)
    names: dict[Any, str] = field(default_factory=dict)
    functions: dict[Any, str] = field(default_factory=dict)
    concrete_functions: dict[Any, Callable] = field(default_factory=dict)
    dims: dict[Any, int] = field(default_factory=dict)
    q: int = 1
    name: str = ""
    remarks: list[str] = field(default_factory=list)
    overrides: dict[Any, str] = field(default_factory=dict)

    def input_table(self, x: sp.Matrix) -> dict:
        """Map the generic input atoms to the concrete input ``x`` (column vector or token matrix)."""
        raise NotImplementedError


def _im(m: Any) -> Any:
    return sp.ImmutableMatrix(m) if isinstance(m, sp.MatrixBase) else m


def concretize(expr: Any, env: dict, functions: dict[Any, Callable], dims: dict[Any, int]) -> sp.Matrix:
    """Explicit ``sympy.Matrix`` of a generic expression, given concrete values of its atoms."""
    e = sp.sympify(expr)
    table = {key: _im(val) for key, val in env.items()}
    e = e.xreplace(table)
    e = e.xreplace(dims) if dims else e
    if isinstance(e, sp.MatrixExpr) or isinstance(e, sp.MatrixBase):
        e = e.doit()
    if functions:
        e = e.replace(lambda t: isinstance(t, AppliedUndef) and t.func in functions,
                      lambda t: functions[t.func](*t.args))
    if isinstance(e, (sp.MatrixBase, sp.MatrixExpr)):
        return sp.Matrix(e.as_explicit() if isinstance(e, sp.MatrixExpr) else e)
    return sp.Matrix([[e]])


# ---------------------------------------------------------------------------------------------- ridge
def ridge(inner: Ridge) -> InnerCalculus:
    r"""$\psi = \sigma(z_i)$, $z_i = w^\top x_i + b$; $\sigma', \sigma''$ from sympy, in terms of $s_i = \sigma(z_i)$."""
    act = inner.activation
    wn, bn = (list(inner.blocks) + ["b"])[:2]
    w, x = sp.MatrixSymbol(wn, d_, 1), sp.MatrixSymbol("x_i", d_, 1)
    b = sp.Symbol(bn, real=True)
    z, s, g = sp.Symbol("z_i", real=True), sp.Symbol("s_i", real=True), sp.Symbol("g_i", real=True)
    f1, f2 = sp.Function("dsigma1"), sp.Function("dsigma2")
    sym = act.symbol
    d1, d2 = act.derivative(1), act.derivative(2)
    functions = {f1: sym + "'", f2: sym + "''"}
    concrete_functions = {f1: sp.Lambda(Z, act.derivative_in_z(1)), f2: sp.Lambda(Z, act.derivative_in_z(2))}
    names = {x: "x_i", w: wn, z: "z_i", s: "s_i", g: "g_i"}
    printer_subs = {Z: z, S: s}
    bias = inner.bias
    blocks = {wn: w, **({bn: b} if bias else {})}
    block_latex = {wn: rf"{wn} \in \mathbb{{R}}^{{d}}", **({bn: rf"{bn} \in \mathbb{{R}}"} if bias else {})}

    def z_build(env):
        val = (env[w].T * env[x])[0, 0]
        return val + (env[b] if bias else 0)

    lat = lambda e: PaperPrinter().doprint(e.subs(printer_subs))  # noqa: E731  (scalar calculus, by sympy)
    defs = [
        Definition(z, rf"{wn}^{{\top}} x_i" + (f" + {bn}" if bias else ""), z_build, "pre-activation"),
        Definition(s, rf"{sym}\left(z_i\right)", lambda env: act.expr.subs(Z, env[z]), "activation"),
    ]
    zero2 = d2 == 0
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
    piecewise = (sp.Heaviside, sp.Piecewise, sp.sign, sp.Abs, sp.Max, sp.Min)
    if zero2 or d2.has(*piecewise):
        remarks[-1] += r" \quad \text{(almost everywhere)}"
    if d1.has(*piecewise):
        remarks[1] += r" \quad \text{(almost everywhere)}"

    calc = InnerCalculus(blocks, block_latex, [x], r"x_i \in \mathbb{R}^{d}", g, s, rf"{sym}\left(z_i\right)",
                         jac, grad, hess, defs, [], names, functions, concrete_functions, {}, 1, "ridge", remarks)
    calc.input_table = lambda xv: {x: sp.Matrix(xv).reshape(inner.d, 1)}
    calc.dims = {d_: inner.d}
    return calc


# ---------------------------------------------------------------------------------------------- attention
def attention(inner: SoftmaxAttention) -> InnerCalculus:
    r"""$\psi = X_i^\top p_i$, $p_i = \mathrm{softmax}(z_i)$, $z_i = X_i W x_{i,T}$, $D_i = \mathrm{diag}(p_i) - p_i p_i^\top$."""
    W = sp.MatrixSymbol("W", d_, d_)
    X, xq = sp.MatrixSymbol("X_i", T_, d_), sp.MatrixSymbol("xq_i", d_, 1)
    z, p = sp.MatrixSymbol("z_i", T_, 1), sp.MatrixSymbol("p_i", T_, 1)
    D, M = sp.MatrixSymbol("D_i", T_, T_), sp.MatrixSymbol("M_i", T_, T_)
    g, rho = sp.MatrixSymbol("g_i", d_, 1), sp.MatrixSymbol("rho_i", T_, 1)
    names = {W: "W", X: "X_i", xq: r"x_{i,T}", z: "z_i", p: "p_i", D: "D_i", M: "M_i", g: "g_i",
             rho: r"\rho_i"}
    Tn = inner.tokens

    def softmax(env):
        zz = env[z]
        e = zz.applyfunc(sp.exp)
        return e / sum(e)

    defs = [
        Definition(z, r"X_i W x_{i,T} \in \mathbb{R}^{T}", lambda env: env[X] * env[W] * env[xq],
                   r"scores of the query $x_{i,T}$"),
        Definition(p, r"\operatorname{softmax}\left(z_i\right), \quad p_{it} = \frac{e^{z_{it}}}{\sum_{t'=1}^{T} e^{z_{it'}}}",
                   softmax, "attention weights"),
        Definition(D, r"\frac{\partial p_i}{\partial z_i} = \operatorname{diag}\left(p_i\right) - p_i p_i^{\top}",
                   lambda env: sp.diag(*list(env[p])) - env[p] * env[p].T, "softmax Jacobian"),
    ]
    wdefs = [
        Definition(rho, r"D_i X_i g_i = \nabla_{z_i}\left(g_i^{\top} X_i^{\top} p_i\right)"
                   r" = p_i \circ \left(X_i g_i - \left(p_i^{\top} X_i g_i\right) \mathbf{1}\right)",
                   lambda env: env[D] * env[X] * env[g]),
        Definition(M, r"\nabla^2_{z_i}\left(g_i^{\top} X_i^{\top} p_i\right) = \operatorname{diag}\left(\rho_i\right) - \rho_i p_i^{\top} - p_i \rho_i^{\top}",
                   lambda env: sp.diag(*list(env[rho])) - env[rho] * env[p].T - env[p] * env[rho].T),
    ]
    C = X.T * D * X
    jac = {"W": sp.KroneckerProduct(C, xq.T)}
    grad = {"W": X.T * D * X * g * xq.T}
    hess = {("W", "W"): sp.KroneckerProduct(X.T * M * X, xq * xq.T)}
    calc = InnerCalculus({"W": W}, {"W": r"W \in \mathbb{R}^{d \times d}"}, [X, xq],
                         r"X_i \in \mathbb{R}^{T \times d}", g, X.T * p, r"X_i^{\top} p_i", jac, grad, hess,
                         defs, wdefs, names, {}, {}, {}, inner.d, "attention",
                         [r"\frac{\partial \psi_i}{\partial W_{ab}} = \left(X_i^{\top} D_i X_i\right)_{:,a} \left(x_{i,T}\right)_b",
                          r"\frac{\partial^2 \left(g_i^{\top}\psi_i\right)}{\partial W_{ab}\, \partial W_{ce}} = "
                          r"\left(X_i^{\top} M_i X_i\right)_{ac} \left(x_{i,T}\right)_b \left(x_{i,T}\right)_e"])

    def table(xv):
        Xm = sp.Matrix(xv).reshape(Tn, inner.d)
        return {X: Xm, xq: Xm[Tn - 1, :].T}

    calc.input_table = table
    calc.dims = {d_: inner.d, T_: Tn}
    return calc


# ---------------------------------------------------------------------------------------------- kernel
def kernel(inner: SeparableKernel) -> InnerCalculus:
    r"""$\psi = \kappa_i = \prod_l \kappa(\Delta_{il})$, $\Delta_i = x_i - t$; log-derivative form when $\kappa'/\kappa$ is linear."""
    tn = next(iter(inner.blocks))
    t, x = sp.MatrixSymbol(tn, d_, 1), sp.MatrixSymbol("x_i", d_, 1)
    Delta = sp.MatrixSymbol("Delta_i", d_, 1)
    kap, g = sp.Symbol("kappa_i", real=True), sp.Symbol("g_i", real=True)
    prof = inner.profile
    k1, k2 = sp.diff(prof, U), sp.diff(prof, U, 2)
    rho1 = sp.simplify(k1 / prof)
    rho2 = sp.simplify(k2 / prof)
    c1 = sp.simplify(rho1 / U)
    c2 = sp.simplify(rho2 - rho1**2)
    names = {t: tn, x: "x_i", Delta: r"\Delta_i", kap: r"\kappa_i", g: "g_i"}
    dd = inner.d
    ku = sp.Symbol("u", real=True)

    def kap_build(env):
        dv = env[Delta]
        return sp.prod([prof.subs(U, dv[j]) for j in range(dd)])

    defs = [Definition(Delta, rf"x_i - {tn} \in \mathbb{{R}}^{{d}}", lambda env: env[x] - env[t], "offset of the spike"),
            Definition(kap, r"\prod_{l=1}^{d} \kappa\left(\Delta_{il}\right)", kap_build, "kernel value")]
    remarks = [rf"\kappa(u) = {sp.latex(prof.subs(U, ku))}",
               rf"\kappa'(u) = {sp.latex(sp.factor(k1).subs(U, ku))}",
               rf"\kappa''(u) = {sp.latex(sp.factor(k2).subs(U, ku))}"]
    linear = not c1.has(U) and not c2.has(U) and c1 != 0
    if linear:
        # kappa'/kappa = c1 u  =>  grad_t psi = -c1 kappa Delta,  hess = kappa (c1^2 Delta Delta^T + c2 I)
        jac = {tn: -c1 * kap * Delta.T}
        grad = {tn: -c1 * g * kap * Delta}
        hess = {(tn, tn): g * kap * (c1**2 * Delta * Delta.T + c2 * sp.Identity(d_))}
        remarks.append(rf"\frac{{\kappa'(u)}}{{\kappa(u)}} = {sp.latex(rho1.subs(U, ku))}, \qquad "
                       rf"\frac{{\kappa''(u)}}{{\kappa(u)}} = {sp.latex(sp.expand(rho2).subs(U, ku))}")
        overrides = {}
    else:
        # product form, written entrywise
        jac = {tn: sp.MatrixSymbol("Jt_i", 1, d_)}
        grad = {tn: sp.MatrixSymbol("gt_i", d_, 1)}
        hess = {(tn, tn): sp.MatrixSymbol("Ht_i", d_, d_)}
        overrides = {
            jac[tn]: r"\left(-\kappa'\left(\Delta_{ij}\right) \prod_{l \neq j} \kappa\left(\Delta_{il}\right)\right)_{j=1}^{d}",
            grad[tn]: r"- g_i \left(\kappa'\left(\Delta_{ij}\right) \prod_{l \neq j} \kappa\left(\Delta_{il}\right)\right)_{j=1}^{d}",
            hess[(tn, tn)]: r"g_i \left(\begin{cases} \kappa''\left(\Delta_{ij}\right) \prod_{m \neq j} \kappa\left(\Delta_{im}\right) & j = l \\"
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
                                                  else k1.subs(U, dv[j]) * k1.subs(U, dv[l]) * part(dv, j, (j, l))))

        defs += [Definition(jac[tn], "", jt),
                 Definition(hess[(tn, tn)], "", lambda env: env[g] * ht(env))]
        defs_w = [Definition(grad[tn], "", lambda env: env[g] * jt(env).T)]
    calc = InnerCalculus({tn: t}, {tn: rf"{tn} \in \mathbb{{R}}^{{d}}"}, [x], r"x_i \in \mathbb{R}^{d}", g, kap,
                         r"\kappa_i", jac, grad, hess, defs if linear else defs[:3], [] if linear else defs_w + [defs[3]],
                         names, {}, {}, {}, 1, "kernel", remarks)
    calc.overrides = overrides
    calc.input_table = lambda xv: {x: sp.Matrix(xv).reshape(dd, 1)}
    calc.dims = {d_: dd}
    return calc


def inner_calculus(inner: Any) -> InnerCalculus:
    """Dispatch on the kind of inner map (never on the family name)."""
    if isinstance(inner, Ridge):
        return ridge(inner)
    if isinstance(inner, SoftmaxAttention):
        return attention(inner)
    if isinstance(inner, SeparableKernel):
        return kernel(inner)
    raise TypeError(f"no block calculus for inner map {type(inner).__name__}")
