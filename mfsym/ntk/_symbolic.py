"""Symbolic derivation (sympy) of the closed-form lazy-regime kernels, rendered as LaTeX.

For unit inputs with $\\rho = x_i^\\top x_j = \\cos\\theta$, write $(u, v) = (w^\\top x_i, w^\\top x_j) =
(z_1, \\rho z_1 + \\sqrt{1 - \\rho^2}\\, z_2)$ with $z \\sim \\mathcal N(0, I_2)$. sympy then does:

* relu: the derivative $\\sigma' = $ Heaviside, and in polar coordinates $z = r(\\cos\\varphi, \\sin\\varphi)$
  the integrals over the wedge $\\{u \\ge 0, v \\ge 0\\} = \\{\\varphi \\in [\\theta - \\pi/2, \\pi/2]\\}$ (the set
  where $\\cos\\varphi \\ge 0$ and $\\cos(\\varphi - \\theta) \\ge 0$) of the radial Gaussian density;
* erf: $\\sigma'(z) = 2e^{-z^2}/\\sqrt\\pi$ by differentiation, then the two Gaussian integrals in $z_2$ and
  $z_1$ (the $z_1$ exponent's coefficient is checked positive by sympy before $\\int e^{-A z^2} = \\sqrt{\\pi/A}$
  is used); the output-layer kernel by Price's theorem $\\partial_\\rho \\mathbb E[\\sigma(u)\\sigma(v)] =
  \\mathbb E[\\sigma'(u)\\sigma'(v)]$ from $\\rho = 0$, where it is $\\mathbb E[\\mathrm{erf}(z)]^2 = 0$.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import sympy as sp
from sympy.printing.latex import LatexPrinter

from .._errors import FamilyError
from .._types import FloatArray
from . import _checks as ck

RHO = sp.Symbol("rho", real=True)
_THETA = sp.Symbol("theta", positive=True)
_R = sp.Symbol("r", nonnegative=True)
_PHI = sp.Symbol("varphi", real=True)
_Z = sp.Symbol("z", real=True)
_Z1, _Z2 = sp.symbols("z_1 z_2", real=True)
_S = sp.Symbol("s", positive=True)  # sqrt(1 - rho^2)
_T = sp.Symbol("t", real=True)


class _Printer(LatexPrinter):
    """sympy's LaTeX with the step function written $\\mathbf{1}\\{z \\ge 0\\}$ (sympy prints $\\theta(z)$)."""

    def _print_Heaviside(self, expr, exp=None):
        tex = r"\mathbf{1}\{" + self._print(expr.args[0]) + r" \ge 0\}"
        return tex if exp is None else f"{tex}^{{{exp}}}"


def _tex(expr: sp.Expr) -> str:
    return _Printer({"inv_trig_style": "full"}).doprint(expr)


@dataclass(frozen=True)
class Step:
    """One line of a derivation: ``lhs`` (LaTeX) $=$ ``expr`` (sympy, possibly an unevaluated integral) $=$ ``value``."""

    lhs: str
    expr: sp.Expr
    value: sp.Expr


@dataclass(frozen=True)
class GramDerivation:
    """Closed form of $H^\\infty_{ij}$ (or the full NTK) for unit inputs, as a function of $\\rho = x_i^\\top x_j$."""

    activation: str
    trained: str
    steps: tuple[Step, ...]
    result: sp.Expr

    def latex(self) -> str:
        """An ``align*`` environment (amsmath) with every step; paste into a paper."""
        lines = []
        for st in self.steps:
            rhs = _tex(st.expr)
            val = _tex(st.value)
            lines.append(f"{st.lhs} &= {rhs}" + ("" if rhs == val else f" \\\\\n  &= {val}"))
        head = (r"% unit inputs, \rho = x_i^\top x_j = \cos\theta;  (u, v) = (z_1, \rho z_1 + \sqrt{1-\rho^2} z_2),"
                r" z \sim N(0, I_2)")
        return head + "\n\\begin{align*}\n  " + " \\\\\n  ".join(lines) + "\n\\end{align*}"

    def _repr_latex_(self) -> str:
        return "$" + _tex(self.result) + "$"

    def to_tex(self, path: str | Path) -> Path:
        """Write a standalone LaTeX document (article, amsmath, amssymb) with :meth:`latex`."""
        path = Path(path)
        path.write_text("\\documentclass{article}\n\\usepackage{amsmath,amssymb}\n\\begin{document}\n"
                        + self.latex() + "\n\\end{document}\n")
        return path

    def numeric(self) -> Callable[[FloatArray], FloatArray]:
        """The result as a vectorised numpy function of $\\rho$ (``sympy.lambdify``)."""
        return sp.lambdify(RHO, self.result, modules="numpy")


def _gaussian_2d(integrand: sp.Expr) -> sp.Expr:
    """$\\mathbb E$ over $(z_1, z_2) \\sim \\mathcal N(0, I_2)$ of ``integrand`` = (constant) $e^{-\\text{quadratic}}$."""
    phi2 = sp.exp(-(_Z1**2 + _Z2**2) / 2) / (2 * sp.pi)
    inner = sp.simplify(sp.integrate(integrand * phi2, (_Z2, -sp.oo, sp.oo), conds="none"))
    pref, gauss = inner.as_independent(_Z1, as_Add=False)
    if not isinstance(gauss, sp.exp):  # pragma: no cover - guards the shape the derivation relies on
        raise FamilyError(f"internal: expected a Gaussian in z_1 after the z_2 integral, got {inner}")
    A = sp.factor(sp.simplify(-gauss.args[0] / _Z1**2))
    if A.has(_Z1) or A.is_positive is not True:  # pragma: no cover
        raise FamilyError(f"internal: could not prove the z_1 Gaussian coefficient {A} positive")
    a = sp.Symbol("A", positive=True)
    outer = sp.integrate(sp.exp(-a * _Z1**2), (_Z1, -sp.oo, sp.oo))
    return sp.simplify(pref * outer.subs(a, A))


@functools.cache
def _derive(activation: str, trained: str) -> GramDerivation:
    steps = []
    if activation == "relu":
        d = sp.diff(sp.Max(0, _Z), _Z).replace(sp.DiracDelta, lambda *a: sp.S.Zero)
        steps.append(Step(r"\sigma'(z)", sp.Derivative(sp.Max(0, _Z), _Z), d))
        dens = _R * sp.exp(-_R**2 / 2) / (2 * sp.pi)
        P = sp.Integral(dens, (_R, 0, sp.oo), (_PHI, _THETA - sp.pi / 2, sp.pi / 2))
        Pv = sp.simplify(P.doit())
        steps.append(Step(r"\mathbb{E}[\sigma'(u)\sigma'(v)] = \mathbb{P}[u \ge 0, v \ge 0]", P, Pv))
        result = RHO * Pv.subs(_THETA, sp.acos(RHO))
        if trained == "both":
            K = sp.Integral(_R**2 * sp.cos(_PHI) * sp.cos(_PHI - _THETA) * dens,
                            (_R, 0, sp.oo), (_PHI, _THETA - sp.pi / 2, sp.pi / 2))
            Kv = sp.simplify(K.doit())
            steps.append(Step(r"\mathbb{E}[\sigma(u)\sigma(v)]", K, Kv))
            result = result + Kv.subs(_THETA, sp.acos(RHO))
    else:  # erf
        d = sp.diff(sp.erf(_Z), _Z)
        steps.append(Step(r"\sigma'(z)", sp.Derivative(sp.erf(_Z), _Z), d))
        integrand = d.subs(_Z, _Z1) * d.subs(_Z, RHO * _Z1 + _S * _Z2)
        E = _gaussian_2d(integrand).subs(_S, sp.sqrt(1 - RHO**2))
        E = sp.simplify(sp.radsimp(E))
        shown = sp.Integral(integrand.subs(_S, sp.sqrt(1 - RHO**2)) * sp.exp(-(_Z1**2 + _Z2**2) / 2) / (2 * sp.pi),
                            (_Z2, -sp.oo, sp.oo), (_Z1, -sp.oo, sp.oo))
        steps.append(Step(r"\mathbb{E}[\sigma'(u)\sigma'(v)]", shown, E))
        result = RHO * E
        if trained == "both":
            mean = sp.integrate(sp.erf(_Z) * sp.exp(-_Z**2 / 2) / sp.sqrt(2 * sp.pi), (_Z, -sp.oo, sp.oo))
            K = sp.Integral(E.subs(RHO, _T), (_T, 0, RHO)) + mean**2
            Kv = sp.simplify(K.doit())
            steps.append(Step(r"\mathbb{E}[\sigma(u)\sigma(v)]", K, Kv))
            result = result + Kv
    label = r"H^\infty_{ij}" if trained == "hidden" else r"H^\infty_{ij} + K_{ij}"
    steps.append(Step(label, result, result))
    return GramDerivation(activation, trained, tuple(steps), result)


def derive_gram(activation: str = "relu", trained: str = "hidden") -> GramDerivation:
    """Derive the closed form of $H^\\infty$ (``trained="both"``: plus the output-layer kernel) with sympy.

    Results (unit inputs, $\\rho = x_i^\\top x_j$): relu $\\rho(\\pi - \\arccos\\rho)/(2\\pi)$ [+
    $(\\sqrt{1-\\rho^2} + (\\pi - \\arccos\\rho)\\rho)/(2\\pi)$]; erf $4\\rho/(\\pi\\sqrt{9 - 4\\rho^2})$ [+
    $\\frac2\\pi\\arcsin(2\\rho/3)$]. Du et al. (2018, eq. (4)); Cho & Saul (2009); Williams (1997).
    Cached: the erf derivation takes a few seconds the first time.

    Parameters
    ----------
    activation : {"relu", "erf"}
    trained : {"hidden", "both"}

    Returns
    -------
    GramDerivation
        ``.result`` (sympy, in ``RHO``), ``.steps``, ``.latex()``, ``.to_tex(path)``, ``.numeric()``.
    """
    activation = ck.choice(activation, "activation", ("relu", "erf"), FamilyError)
    trained = ck.choice(trained, "trained", ("hidden", "both"), FamilyError)
    return _derive(activation, trained)


def gram_latex(activation: str = "relu", trained: str = "hidden") -> str:
    """LaTeX (``align*``) of the derivation of :func:`derive_gram`; needs ``amsmath`` and ``amssymb``."""
    return derive_gram(activation, trained).latex()

