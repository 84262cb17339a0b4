"""A sympy LaTeX printer for paper notation: $x^\\top$, $I_k$, named functions, indicators."""

from __future__ import annotations

from typing import Any

import sympy as sp
from sympy.core.function import AppliedUndef
from sympy.printing.latex import LatexPrinter
from sympy.printing.precedence import PRECEDENCE


class PaperPrinter(LatexPrinter):
    """LaTeX in vector notation.

    ``names`` maps sympy atoms (Symbol, MatrixSymbol) to their LaTeX; ``functions`` maps undefined
    function classes (e.g. the placeholder for $\\sigma'$) to their LaTeX name.
    """

    def __init__(self, names: dict[Any, str] | None = None, functions: dict[Any, str] | None = None):
        super().__init__({"mat_symbol_style": "plain", "fold_short_frac": False, "mat_delim": "("})
        self.names = dict(names or {})
        self.functions = dict(functions or {})

    def _print_Symbol(self, expr, style="plain"):
        if expr in self.names:
            return self.names[expr]
        return super()._print_Symbol(expr, style=style)

    def _print_MatrixSymbol(self, expr):
        if expr in self.names:
            return self.names[expr]
        return super()._print_MatrixSymbol(expr)

    def _print_Transpose(self, expr):
        arg = expr.arg
        s = self._print(arg)
        if not isinstance(arg, (sp.MatrixSymbol, sp.Symbol)):
            s = rf"\left({s}\right)"
        elif "^" in s:
            s = "{" + s + "}"
        return s + r"^{\top}"

    def _print_Identity(self, expr):
        return rf"I_{{{self._print(expr.rows)}}}"

    def _print_ZeroMatrix(self, expr):
        return "0"

    def _print_Heaviside(self, expr, exp=None):
        out = rf"\mathbf{{1}}\left[{self._print(expr.args[0])} > 0\right]"
        return out if exp is None else rf"{out}^{{{exp}}}"

    def _print_Max(self, expr, exp=None):
        args = expr.args
        if len(args) == 2 and sp.S.Zero in args:
            other = args[0] if args[1] == 0 else args[1]
            out = rf"\left({self._print(other)}\right)_{{+}}"
            return out if exp is None else rf"{out}^{{{exp}}}"
        return super()._print_Max(expr, exp)

    def _print_KroneckerProduct(self, expr):
        return r" \otimes ".join(self.parenthesize(a, PRECEDENCE["Mul"]) for a in expr.args)

    def _print_DiagMatrix(self, expr):
        return rf"\operatorname{{diag}}\left({self._print(expr.args[0])}\right)"

    def _print_Function(self, expr, exp=None):
        if isinstance(expr, AppliedUndef) and expr.func in self.functions:
            name = self.functions[expr.func]
            args = ", ".join(self._print(a) for a in expr.args)
            out = rf"{name}\left({args}\right)"
            return out if exp is None else rf"{out}^{{{exp}}}"
        return super()._print_Function(expr, exp)

    def _print_MatMul(self, expr):
        # scalar factors first, no explicit multiplication sign, parenthesised sums
        args = list(expr.args)
        scal = [a for a in args if not getattr(a, "is_Matrix", False)]
        mats = [a for a in args if getattr(a, "is_Matrix", False)]
        coeff = sp.Mul(*scal)
        parts = []
        for a in mats:
            s = self._print(a)
            if isinstance(a, (sp.MatAdd, sp.KroneckerProduct)):
                s = rf"\left({s}\right)"
            parts.append(s)
        body = " ".join(parts)
        if coeff == 1:
            return body
        if coeff == -1:
            return "- " + body
        c = self._print(coeff)
        if isinstance(coeff, sp.Add):
            c = rf"\left({c}\right)"
        return c + " " + body


def to_latex(expr: Any, printer: PaperPrinter) -> str:
    """Print ``expr`` (a sympy expression, matrix expression or explicit Matrix)."""
    return printer.doprint(expr)
