"""The derivation engine: loss, first variation, velocity, Hessians and reduced potentials of a family.

Written once against the family contract: the neuron level $\\varphi = A\\,\\psi(\\eta; x)$
(docs/mathematics.md, global optimality) dispatches on the capability types and on the shape of the output block; the inner map's
calculus (:meth:`InnerMap.calculus`) is stated by its kind (ridge / softmax attention / separable kernel).
Custom families from :func:`mfsym.families.from_expr` have concrete sizes only and are derived
componentwise.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import sympy as sp

from .._errors import DataError, FamilyError
from ..families import Family, Homogeneous, NeuronFamily, OutputLinear
from ..families import InnerCalculus, concretize, d_, k_
from ._latex import document, equations
from .._printer import PaperPrinter

LOSSES = ("square", "logistic")


@dataclass
class Formula:
    """One derived quantity: ``lhs`` (LaTeX) $=$ ``expr`` (sympy, generic dimension).

    ``mean``: the right-hand side is $\\frac1n\\sum_{i=1}^n$ ``expr`` with the weight $\\omega = r_i$.
    ``shape``: the concrete shape ``(rows, cols)`` of the explicit matrix.
    """

    key: tuple
    lhs: str
    expr: Any
    shape: tuple[int, int]
    mean: bool = False


def _size(shape: tuple[int, ...]) -> int:
    out = 1
    for s in shape:
        out *= s
    return out


def _flat(val: Any) -> list:
    return list(val) if isinstance(val, sp.MatrixBase) else [val]


class Derivation:
    """The symbolic derivation of a family's mean-field quantities (docs/mathematics.md).

    Attributes
    ----------
    family : Family
    loss : {"square", "logistic"}
    formulas : dict[tuple, Formula]
        Keys ``("phi",)``, ``("jac", B)`` ($\\partial\\varphi/\\partial B$), ``("hess", B, B')``
        ($\\nabla^2_{BB'}(\\omega^\\top\\varphi)$), ``("grad_J", B)``, ``("hess_J", B, B')`` and, for
        output-linear families, ``("G",)``; blocks ``B`` as in ``family.blocks``.
    homogeneity : str
        The homogeneity class (``family.homogeneity``).

    Notes
    -----
    Use :meth:`latex` for the document, :meth:`instantiate` for explicit matrices at the family's
    sizes and :meth:`check_against_componentwise` to compare them with the expanded componentwise
    sympy neuron.
    """

    def __init__(self, family: Family, loss: str = "square", output_bias: bool = False):
        if not isinstance(output_bias, bool):
            raise FamilyError(f"output_bias: expected True or False, got {output_bias!r}")
        self.output_bias = output_bias
        if not isinstance(family, Family):
            raise FamilyError(f"family: expected an mfsym Family, got {type(family).__name__}")
        if loss not in LOSSES:
            raise FamilyError(f"loss: expected one of {LOSSES}, got {loss!r}")
        if loss == "logistic" and family.out_dim != 1:
            raise FamilyError(f"loss: 'logistic' needs a scalar-output family, {family.name} has {family.out_dim} outputs")
        self.family, self.loss = family, loss
        self.homogeneity = family.homogeneity
        self.k = family.out_dim
        self._cw = family.componentwise()
        self.calc: InnerCalculus | None = None
        if isinstance(family, NeuronFamily):
            self.calc = family.inner_map.calculus()
            self._build_structured()
        else:
            self._build_componentwise()
        self._build_potential()
        self._build_loss()

    # ================================================================== structured (generic dimension)
    def _build_structured(self) -> None:
        fam, calc = self.family, self.calc
        k, q = self.k, calc.q
        self.outer = fam.outer
        self._scalar_weight = k == 1 and q == 1
        self.omega = sp.Symbol("omega", real=True) if self._scalar_weight else sp.MatrixSymbol("omega", k_, 1)
        self.r = sp.Symbol("r_i", real=True) if self._scalar_weight else sp.MatrixSymbol("r_i", k_, 1)
        names = dict(calc.names)
        names.update(calc.overrides)
        names.update({self.omega: r"\omega", self.r: "r_i"})
        psi, g = calc.value, calc.g
        if self.outer is None:
            kind, A = "none", None
        elif q == 1 and k == 1:
            kind, A = "scalar", sp.Symbol(self.outer, real=True)
        elif q == 1:
            kind, A = "vector", sp.MatrixSymbol(self.outer, k_, 1)
        else:
            kind, A = "matrix", sp.MatrixSymbol(self.outer, k_, d_)
        self.kind, self.A = kind, A
        if A is not None:
            names[A] = self.outer
        om = self.omega
        jpsi = calc.jac
        if kind == "none":
            phi, g_def = psi, om
        elif kind == "scalar":
            phi, g_def = A * psi, A * om
        elif kind == "vector":
            phi, g_def = psi * A, (A.T * om)
        else:
            phi, g_def = A * psi, A.T * om
        self.g_def = g_def
        self.printer = PaperPrinter(names, calc.functions)
        self.functions, self.dims = dict(calc.concrete_functions), dict(calc.dims)
        self.dims[k_] = k
        blocks = list(fam.blocks)
        inner = [b for b in blocks if b != self.outer]
        F: dict[tuple, Formula] = {}
        shp = {b: _size(s) for b, s in fam.blocks.items()}
        F[("phi",)] = Formula(("phi",), r"\varphi_i = \varphi\left(\theta; x_i\right)", phi, (k, 1))
        grads, hess, jacs = {}, {}, {}
        if A is not None:
            a = self.outer
            if kind == "scalar":
                jacs[a], grads[a] = psi, om * psi
            elif kind == "vector":
                jacs[a], grads[a] = psi * sp.Identity(k_), psi * om
            else:
                jacs[a], grads[a] = sp.KroneckerProduct(sp.Identity(k_), psi.T), om * psi.T
            hess[(a, a)] = sp.ZeroMatrix(shp[a], shp[a])
            for b in inner:
                hess[(a, b)] = (sp.KroneckerProduct(om, jpsi[b]) if kind == "matrix" else om * jpsi[b])
        for b in inner:
            jacs[b] = jpsi[b] if A is None else A * jpsi[b]
            grads[b] = calc.grad[b]
        for (b1, b2), h in calc.hess.items():
            hess[(b1, b2)] = h
        for b in blocks:
            F[("jac", b)] = Formula(("jac", b), rf"\frac{{\partial \varphi_i}}{{\partial {self._blk(b)}}}", jacs[b], (k, shp[b]))
        for i1, b1 in enumerate(blocks):
            for b2 in blocks[i1:]:
                h = hess.get((b1, b2))
                if h is None:
                    continue
                F[("hess", b1, b2)] = Formula(("hess", b1, b2), rf"\nabla^2_{{{self._blk(b1)}\, {self._blk(b2)}}}\left(\omega^{{\top}} \varphi_i\right)",
                                              h, (shp[b1], shp[b2]))
        for b in blocks:
            F[("grad_u", b)] = Formula(("grad_u", b), rf"\nabla_{{{b}}}\left(\omega^{{\top}} \varphi_i\right)",
                                       grads[b], (shp[b], 1))
        self.formulas = F

    def _blk(self, b: str) -> str:
        shape = self.family.blocks[b]
        return rf"\operatorname{{vec}}({b})" if len(shape) == 2 else b

    def _env(self, P: dict, x: Any, omega: Any) -> dict:
        """Concrete values of every generic atom for parameters ``P``, one input ``x`` and weight ``omega``."""
        if self.calc is None:
            env = dict(zip(self._cw.x, list(sp.Matrix(x))))
            if self.k == 1:
                env[self.omega] = omega
            else:
                env.update(dict(zip(self._omega_list, list(omega))))
            return env
        calc, env = self.calc, {}
        for name, atom in calc.blocks.items():
            env[atom] = P[name]
        if self.A is not None:
            val = P[self.outer]
            env[self.A] = _flat(val)[0] if self.kind == "scalar" else val
        env.update(calc.input_table(x))
        env[self.omega] = omega
        for dfn in calc.definitions:
            env[dfn.atom] = calc.build(dfn, env)
        gval = concretize(self.g_def, env, {}, self.dims)
        env[calc.g] = gval[0, 0] if calc.q == 1 else gval
        for dfn in calc.weight_definitions:
            env[dfn.atom] = calc.build(dfn, env)
        return env

    # ================================================================== componentwise (custom families)
    def _build_componentwise(self) -> None:
        fam, cw, k = self.family, self._cw, self.k
        self.kind, self.A = ("scalar" if isinstance(fam, OutputLinear) else "none"), None
        self.outer = fam.outer if isinstance(fam, OutputLinear) else None
        self.omega = sp.Symbol("omega", real=True)
        self._omega_list = [sp.Symbol(f"omega_{c}", real=True) for c in range(k)]
        om = self.omega if k == 1 else sp.Matrix(self._omega_list)
        self.r = sp.Symbol("r_i", real=True)
        self.printer = PaperPrinter({self.omega: r"\omega"}, {})
        self.functions, self.dims, self.g_def = {}, {}, None
        phi = cw.expr
        F: dict[tuple, Formula] = {}
        F[("phi",)] = Formula(("phi",), r"\varphi(\theta; x)", phi, (k, 1))
        syms = {b: _flat(cw.params[b]) for b in fam.blocks}
        u_phi = (om.T * phi)[0, 0] if k > 1 else om * phi[0, 0]
        blocks = list(fam.blocks)
        for b in blocks:
            F[("jac", b)] = Formula(("jac", b), rf"\frac{{\partial \varphi}}{{\partial {b}}}",
                                    sp.simplify(phi.jacobian(syms[b])), (k, len(syms[b])))
            F[("grad_u", b)] = Formula(("grad_u", b), rf"\nabla_{{{b}}}\left(\omega^{{\top}} \varphi\right)",
                                       sp.simplify(sp.Matrix([u_phi]).jacobian(syms[b]).T), (len(syms[b]), 1))
        for i1, b1 in enumerate(blocks):
            for b2 in blocks[i1:]:
                H = sp.Matrix(len(syms[b1]), len(syms[b2]), lambda r, c: sp.diff(u_phi, syms[b1][r], syms[b2][c]))
                F[("hess", b1, b2)] = Formula(("hess", b1, b2), rf"\nabla^2_{{{b1}\, {b2}}}\left(\omega^{{\top}} \varphi\right)",
                                              sp.simplify(H), H.shape)
        self.formulas = F

    # ================================================================== J, Hessian, reduced potential
    def _build_potential(self) -> None:
        F = self.formulas
        blocks = list(self.family.blocks)
        for b in blocks:
            f = F[("grad_u", b)]
            F[("grad_J", b)] = Formula(("grad_J", b), rf"\nabla_{{{b}}} J_\mu(\theta)", f.expr, f.shape, mean=True)
        for key in [kk for kk in F if kk[0] == "hess"]:
            f = F[key]
            F[("hess_J",) + key[1:]] = Formula(("hess_J",) + key[1:],
                                               rf"\nabla^2_{{{self._blk_any(key[1])}\, {self._blk_any(key[2])}}} J_\mu(\theta)",
                                               f.expr, f.shape, mean=True)
        if isinstance(self.family, OutputLinear):
            a = self.family.outer
            f = F[("grad_u", a)]
            shape = self.family.blocks[a]
            rows = (self.k, _size(shape) // self.k) if len(shape) == 2 else (_size(shape) or 1, 1)
            F[("G",)] = Formula(("G",), r"G_\mu(\eta)", f.expr, rows, mean=True)

    def _blk_any(self, b: str) -> str:
        return self._blk(b) if self.calc is not None else b

    def _build_loss(self) -> None:
        f, y = sp.symbols("f_i y_i", real=True)
        if self.loss == "square":
            self.ell = sp.Rational(1, 2) * (f - y) ** 2
        else:
            self.ell = sp.log(1 + sp.exp(-y * f))
        tidy = sp.simplify if self.loss == "logistic" else sp.expand   # the square loss needs no simplify
        self.ell1 = tidy(sp.diff(self.ell, f))
        ell2 = tidy(sp.diff(self.ell, f, 2))
        self.ell2 = sp.simplify(ell2.subs(y**2, 1)) if self.loss == "logistic" else ell2
        self._fy = (f, y)

    # ================================================================== explicit matrices
    def _params(self, rename: dict | None = None) -> dict:
        P = dict(self._cw.params)
        if rename:
            P = {k: (v.xreplace(rename) if hasattr(v, "xreplace") else v) for k, v in P.items()}
        return P

    def instantiate(self, X: list, R: list | None = None, omega: Any = None,
                    rename: dict | None = None, keys: Any = None) -> dict[tuple, sp.Matrix]:
        r"""Explicit matrices of every formula at the family's concrete sizes.

        Parameters
        ----------
        X : list of n inputs
            Each a flat sequence (or sympy Matrix) of ``prod(family.input_shape)`` entries, row-major.
        R : list of n residuals, optional
            $r_i \in \mathbb{R}^k$ (sequences of k entries); default symbols ``r_{i,c}``.
        omega : sequence of k entries, optional
            The weight $\omega$ of the per-sample Hessians $\nabla^2(\omega^\top\varphi)$; default symbols.
        rename : dict, optional
            Substitution applied to the componentwise parameter symbols (a second particle).
        keys : iterable of formula keys, optional
            Only these formulas (default: all).

        Returns
        -------
        dict mapping each formula key to a ``sympy.Matrix`` of shape ``formula.shape`` (gradients as
        column vectors, blocks flattened row-major) in the componentwise parameter symbols.
        """
        k, n = self.k, len(X)
        if R is None:
            R = [[sp.Symbol(f"r_{i}{c}", real=True) for c in range(k)] for i in range(n)]
        if omega is None:
            omega = [sp.Symbol(f"omega_{c}", real=True) for c in range(k)]
        if len(R) != n:
            raise FamilyError(f"R: expected {n} residuals (one per input), got {len(R)}")
        P = self._params(rename)
        scalar = self._scalar_weight if self.calc is not None else k == 1
        wrap = (lambda v: list(v)[0]) if scalar else (lambda v: sp.Matrix(list(v)))
        env0 = self._env(P, X[0], wrap(omega))
        envs = [self._env(P, X[i], wrap(R[i])) for i in range(n)]
        if self.calc is None and rename:
            for env in [env0] + envs:
                env.update(rename)
        out = {}
        for key, f in self.formulas.items():
            if keys is not None and key not in keys:
                continue
            if f.mean:
                val = sum((self._concrete(f, env) for env in envs), sp.zeros(*f.shape)) / n
            else:
                val = self._concrete(f, env0)
            out[key] = val
        return out

    def _concrete(self, f: Formula, env: dict) -> sp.Matrix:
        if self.calc is None:
            e = f.expr.xreplace(env)
            M = sp.Matrix(e) if isinstance(e, sp.MatrixBase) else sp.Matrix([[e]])
        else:
            M = concretize(f.expr, env, self.functions, self.dims)
        if M.shape != f.shape:
            M = M.reshape(*f.shape)
        return M

    def check_against_componentwise(self, n: int = 2, seed: int = 0, digits: int = 50) -> dict[tuple, float]:
        r"""Largest absolute difference between every structured formula and its componentwise ground truth.

        The ground truth is the ``sympy`` derivative of the expanded neuron ``family.componentwise().expr``
        (docs/derivations.md); both sides are evaluated at a random rational point (inputs, residuals, weights,
        parameters, masses) to ``digits`` significant digits. Extra keys: ``("euler",)`` checks
        $\theta^\top\nabla J = q J$ for homogeneous families, ``("J=<A,G>",)`` checks
        $J = \langle A, G\rangle_F$ for output-linear ones, and ``("interaction", B, B')`` the
        particle Hessian's interaction term against $\partial^2 F / \partial\theta_1\partial\theta_2$.

        Returns
        -------
        dict mapping keys to floats (0 up to rounding at ``digits`` digits when the formulas are right).
        """
        rng = random.Random(seed)
        rat = lambda: sp.Rational(Fraction(rng.randint(-90, 90), rng.randint(40, 100)))  # noqa: E731
        cw, fam, k = self._cw, self.family, self.k
        nx = len(cw.x)
        X = [[rat() for _ in range(nx)] for _ in range(n)]
        R = [[rat() for _ in range(k)] for _ in range(n)]
        om = [rat() for _ in range(k)]
        theta_val = {s: rat() for s in cw.theta}
        rename = {s: sp.Symbol(f"{s.name}__2", real=True) for s in cw.theta}
        theta2_val = {rename[s]: rat() for s in cw.theta}
        c1, c2 = rat(), rat()
        if self.loss == "logistic":
            ys = [[sp.Integer(rng.choice((-1, 1)))] for _ in range(n)]
        else:
            ys = [[rat() for _ in range(k)] for _ in range(n)]

        def num(M):
            return sp.Matrix(M).xreplace(point).evalf(digits)

        def diff(Ma, Mb):
            D = (num(Ma) - num(Mb))
            return float(max((abs(v) for v in D), default=0))

        structured = self.instantiate(X, R, om)
        point = {**theta_val, **theta2_val}
        pf = {s: sp.Float(v, digits + 10) for s, v in point.items()}   # truth side: high-precision floats

        def d1(expr, a):
            """Exact first derivative at the point (all other symbols substituted first, for speed)."""
            e = sp.sympify(expr).xreplace({s: v for s, v in pf.items() if s != a})
            return sp.diff(e, a).xreplace({a: pf[a]})

        def d2(expr, a, b):
            e = sp.sympify(expr).xreplace({s: v for s, v in pf.items() if s not in (a, b)})
            return sp.diff(sp.diff(e, a), b).xreplace({a: pf[a], b: pf[b]})  # chained: much faster than diff(e, a, b)

        phis = [cw.expr.xreplace(dict(zip(cw.x, xi))) for xi in X]
        syms = {b: _flat(cw.params[b]) for b in fam.blocks}
        omv = sp.Matrix(om)
        u_phi = (omv.T * phis[0])[0, 0]
        J = sum(((sp.Matrix(R[i]).T * phis[i])[0, 0] for i in range(n)), sp.S.Zero) / n
        out: dict[tuple, float] = {}
        for key, f in self.formulas.items():
            kind = key[0]
            if kind == "phi":
                truth = phis[0]
            elif kind == "jac":
                s1 = syms[key[1]]
                truth = sp.Matrix(k, len(s1), lambda c, a: d1(phis[0][c], s1[a]))
            elif kind in ("grad_u", "grad_J"):
                expr = u_phi if kind == "grad_u" else J
                truth = sp.Matrix([d1(expr, s) for s in syms[key[1]]])
            elif kind in ("hess", "hess_J"):
                expr = u_phi if kind == "hess" else J
                s1, s2 = syms[key[1]], syms[key[2]]
                truth = sp.Matrix(len(s1), len(s2), lambda a, b: d2(expr, s1[a], s2[b]))
            elif kind == "G":
                truth = sp.Matrix([d1(J, s) for s in syms[fam.outer]]).reshape(*f.shape)
            else:  # pragma: no cover - every key is handled above
                continue
            out[key] = diff(structured[key], truth)
        if isinstance(fam, OutputLinear):
            A = sp.Matrix(syms[fam.outer])
            G = structured[("G",)].reshape(len(A), 1)
            out[("J=<A,G>",)] = diff(sp.Matrix([J]), A.T * G)
        if isinstance(fam, Homogeneous):
            grad = sp.Matrix([d1(J, s) for s in cw.theta])
            th = sp.Matrix([point[s] for s in cw.theta])
            out[("euler",)] = diff(th.T * grad, sp.Matrix([fam.degree * J]))
        # particle Hessian interaction term: d^2 F / d theta_1 d theta_2 = c1 c2 (1/n) sum_i Jac_1^T l'' Jac_2
        f_sym, y_sym = self._fy
        phis2 = [p.xreplace(rename) for p in phis]
        Floss = sum((self.ell.subs({f_sym: c1 * phis[i][c] + c2 * phis2[i][c], y_sym: ys[i][c]})
                     for i in range(n) for c in range(k)), sp.S.Zero) / n
        jk = [("jac", b) for b in fam.blocks]
        inst1 = [self.instantiate([X[i]], [R[i]], om, keys=jk) for i in range(n)]
        inst2 = [self.instantiate([X[i]], [R[i]], om, rename=rename, keys=jk) for i in range(n)]
        for b1 in fam.blocks:
            for b2 in fam.blocks:
                s1, s2 = syms[b1], [rename[s] for s in syms[b2]]
                truth = sp.Matrix(len(s1), len(s2), lambda a, b: d2(Floss, s1[a], s2[b]))
                acc = sp.zeros(len(s1), len(s2))
                for i in range(n):
                    fi = c1 * phis[i] + c2 * phis2[i]
                    w2 = self.ell2.subs({f_sym: fi[0], y_sym: ys[i][0]}) if self.loss == "logistic" else 1
                    acc += w2 * inst1[i][("jac", b1)].T * inst2[i][("jac", b2)]
                out[("interaction", b1, b2)] = diff(truth, c1 * c2 * acc / n)
        return out

    # ================================================================== LaTeX
    def latex(self) -> str:
        """A complete ``article`` document (compiles with pdflatex), from the loss to the reduced potential."""
        return document(self)

    def math(self) -> str:
        """The equations alone (no preamble), as used by :meth:`_repr_latex_`."""
        return equations(self)

    def _repr_latex_(self) -> str:
        return self.math()

    def to_tex(self, path: Any) -> None:
        """Write :meth:`latex` to ``path``.

        Raises
        ------
        DataError
            If ``path`` cannot be written (missing directory, no permission, ...).
        """
        text = self.latex()
        try:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as exc:
            raise DataError(f"path: cannot write {str(path)!r} ({exc.strerror or exc})") from None

    def __repr__(self) -> str:
        return f"Derivation({self.family!r}, loss={self.loss!r}, {len(self.formulas)} formulas)"


def derive(family: Family, loss: str = "square", output_bias: bool = False) -> Derivation:
    r"""Derive the mean-field quantities of ``family`` symbolically (docs/mathematics.md and docs/derivations.md).

    Parameters
    ----------
    family : Family
        A built-in family (derived at generic dimension, in vector notation) or a custom one from
        :func:`mfsym.families.from_expr` (derived componentwise at its concrete sizes).
    loss : {"square", "logistic"}
        $\ell(f, y) = \frac12|f - y|^2$ or $\log(1 + e^{-yf})$ (scalar outputs).
    output_bias : bool
        The model has a trained output bias $\beta$, $f_{\mu,\beta} = \int\varphi\,d\mu + \beta$ (``Measure.offset``):
        the residuals include it, and the derivation adds $\partial_\beta L = \frac1n\sum_i r_i$ and the joint
        optimality condition.

    Returns
    -------
    Derivation
        With ``.latex()``, ``.to_tex(path)``, ``_repr_latex_``, ``.instantiate(...)`` and
        ``.check_against_componentwise()``.

    References
    ----------
    Chizat & Bach 2018 (arXiv 1805.09545), §2; Petit, Poon & Peyré 2026 (arXiv 2605.10775).
    """
    return Derivation(family, loss, output_bias)
