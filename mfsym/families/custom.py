"""A custom neuron from a sympy expression, with its homogeneity class detected symbolically."""

from __future__ import annotations

from typing import Any

import numpy as np
import sympy as sp

from .._errors import FamilyError
from ._base import Componentwise, Family, with_capabilities


def _components(name: str, shape: tuple[int, ...]) -> tuple[Any, list[sp.Symbol]]:
    if shape == ():
        s = sp.Symbol(name, real=True)
        return s, [s]
    if len(shape) == 1:
        m = sp.Matrix(shape[0], 1, lambda i, _: sp.Symbol(f"{name}_{i}", real=True))
    elif len(shape) == 2:
        m = sp.Matrix(*shape, lambda i, j: sp.Symbol(f"{name}_{i}{j}", real=True))
    else:
        raise FamilyError(f"{name}: expected a shape (), (d,) or (r, c), got {shape}")
    return m, list(m)


def _check_shapes(spec: Any, what: str) -> dict[str, tuple[int, ...]]:
    if not isinstance(spec, dict) or not spec:
        raise FamilyError(f"{what}: expected a non-empty dict mapping names to shapes, got {spec!r}")
    out = {}
    for key, shape in spec.items():
        if not isinstance(key, str) or not key.isidentifier():
            raise FamilyError(f"{what}: names must be identifiers, got {key!r}")
        if not isinstance(shape, tuple) or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in shape):
            raise FamilyError(f"{what}[{key!r}]: expected a tuple of positive ints such as () or (3,), got {shape!r}")
        out[key] = shape
    return out


def _pull_positive(expr: sp.Matrix, t: sp.Symbol) -> sp.Matrix:
    """Move powers of the positive symbol ``t`` out of ``Max``/``Min``/``Heaviside``/``sign``."""

    def pull(e):
        args = [sp.factor_terms(sp.expand(a)) for a in e.args]
        powers = set()
        stripped = []
        for a in args:
            if a == 0:
                stripped.append(a)
                continue
            c, k = a.as_coeff_exponent(t)
            if c.has(t):
                return e
            powers.add(k)
            stripped.append(c)
        if len(powers) != 1:
            return e
        k = powers.pop()
        if isinstance(e, (sp.Heaviside, sp.sign)):
            return type(e)(*stripped)
        return type(e)(*stripped) * t**k

    return expr.replace(lambda e: isinstance(e, (sp.Max, sp.Min, sp.Heaviside, sp.sign)), pull)


class CustomFamily(Family):
    """A neuron $\\varphi(\\theta; x)$ given componentwise; kernels are lambdified sympy derivatives."""

    def __init__(self, expr: Any, params: dict, inputs: dict, name: str = "custom", references: tuple[str, ...] = ()):
        params = _check_shapes(params, "params")
        inputs = _check_shapes(inputs, "inputs")
        if set(params) & set(inputs):
            raise FamilyError(f"params and inputs share names {sorted(set(params) & set(inputs))}")
        if isinstance(expr, (list, tuple)):
            expr = sp.Matrix(expr)
        try:
            expr = sp.sympify(expr)
        except sp.SympifyError:
            raise FamilyError(f"expr: expected a sympy expression or Matrix, got {expr!r}") from None
        if not isinstance(expr, (sp.Expr, sp.MatrixBase)):
            raise FamilyError(f"expr: expected a sympy expression or column Matrix, got {type(expr).__name__}")
        if isinstance(expr, sp.MatrixBase):
            expr = sp.Matrix(expr)
            if expr.shape[1] != 1:
                expr = expr.reshape(expr.shape[0] * expr.shape[1], 1)
        else:
            expr = sp.Matrix([expr])
        self.name, self.references = name, tuple(references)
        sym_params, sym_inputs, theta, xs = {}, {}, [], []
        for key, shape in params.items():
            sym_params[key], flat = _components(key, shape)
            theta += flat
        for key, shape in inputs.items():
            sym_inputs[key], flat = _components(key, shape)
            xs += flat
        expr = self._rename(expr, {**sym_params, **sym_inputs})
        unknown = {str(s) for s in expr.free_symbols} - {str(s) for s in theta + xs}
        if unknown:
            raise FamilyError(f"expr: symbols {sorted(unknown)} are neither params {list(params)} nor inputs {list(inputs)}")
        self._cw = Componentwise(sym_params, sym_inputs, expr, theta, xs)
        input_shape = next(iter(inputs.values())) if len(inputs) == 1 and len(next(iter(inputs.values()))) else (len(xs),)
        super().__init__(params, input_shape, expr.shape[0])
        self._compile()
        self._detect()

    @staticmethod
    def _rename(expr: sp.Matrix, table: dict[str, Any]) -> sp.Matrix:
        subs: dict = {}
        for s in expr.free_symbols:
            if str(s) in table and not isinstance(table[str(s)], sp.MatrixBase):
                subs[s] = table[str(s)]
            else:
                for key, val in table.items():
                    if isinstance(val, sp.MatrixBase) and str(s) in {str(v) for v in val}:
                        subs[s] = next(v for v in val if str(v) == str(s))
        expr = expr.subs(subs)
        msyms = {m for m in expr.atoms(sp.MatrixSymbol)}
        for ms in msyms:
            if ms.name in table and isinstance(table[ms.name], sp.MatrixBase):
                if ms.shape != table[ms.name].shape:
                    raise FamilyError(f"expr: MatrixSymbol {ms.name} has shape {ms.shape}, expected {table[ms.name].shape}")
                expr = expr.subs(ms, table[ms.name])
        return sp.Matrix(expr.doit())

    def _compile(self) -> None:
        cw = self._cw
        args = cw.theta + cw.x
        grad = cw.expr.jacobian(cw.theta)
        hess = [sp.hessian(cw.expr[c], cw.theta) for c in range(self.out_dim)]
        self._f = sp.lambdify(args, list(cw.expr), modules="numpy")
        self._g = sp.lambdify(args, list(grad), modules="numpy")
        self._h = sp.lambdify(args, [e for H in hess for e in H], modules="numpy")

    def _eval(self, fn, thetas: np.ndarray, X: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        Q, n = thetas.shape[0], X.shape[0]
        Xf = X.reshape(n, -1)
        args = [thetas[:, j][:, None] for j in range(self.p)] + [Xf[:, j][None, :] for j in range(Xf.shape[1])]
        vals = [np.broadcast_to(np.asarray(v, dtype=float), (Q, n)) for v in fn(*args)]
        return np.stack(vals, axis=-1).reshape((Q, n) + shape)

    def phi(self, thetas, X):
        return self._eval(self._f, thetas, X, (self.out_dim,))

    def jacobian(self, thetas, X):
        return self._eval(self._g, thetas, X, (self.out_dim, self.p))

    def vjp(self, thetas, X, U):
        return np.einsum("qnkp,nk->qp", self.jacobian(thetas, X), U)

    def hessian_contract(self, thetas, X, U):
        return np.einsum("qnkij,nk->qij", self._eval(self._h, thetas, X, (self.out_dim, self.p, self.p)), U)

    def jvp(self, thetas, X, V):
        return np.einsum("qnkp,qp->qnk", self.jacobian(thetas, X), V)

    def hvp_contract(self, thetas, X, U, V):
        # the Hessian-vector product sum_b d2 phi_c / d theta_a d theta_b v_b, lambdified once with v as
        # symbols: (Q, n, k, p) values instead of the (Q, n, k, p, p) Hessian
        fn = self.__dict__.get("_hv")
        if fn is None:
            cw = self._cw
            v = list(sp.symbols(f"_hv0:{self.p}", real=True))
            grad = cw.expr.jacobian(cw.theta)
            rows = [sum((sp.diff(grad[c, a], cw.theta[b]) * v[b] for b in range(self.p)), sp.S.Zero)
                    for c in range(self.out_dim) for a in range(self.p)]
            fn = self._hv = sp.lambdify(cw.theta + v + cw.x, rows, modules="numpy")
        Q, n = thetas.shape[0], X.shape[0]
        Xf = X.reshape(n, -1)
        args = ([thetas[:, j][:, None] for j in range(self.p)] + [V[:, j][:, None] for j in range(self.p)]
                + [Xf[:, j][None, :] for j in range(Xf.shape[1])])
        vals = np.stack([np.broadcast_to(np.asarray(r, dtype=float), (Q, n)) for r in fn(*args)], axis=-1)
        return np.einsum("qnka,nk->qa", vals.reshape(Q, n, self.out_dim, self.p), U)

    def componentwise(self) -> Componentwise:
        return self._cw

    @property
    def signature(self) -> tuple:
        return super().signature + (sp.srepr(self._cw.expr),)

    # ------------------------------------------------------------------ homogeneity
    def _detect(self) -> None:
        """Set ``degree`` (positive homogeneity in $\\theta$) and ``outer`` (an output-linear block)."""
        cw, t = self._cw, sp.Symbol("t", positive=True)
        self._degree = None
        rng = np.random.default_rng(0)
        th0 = rng.standard_normal((1, self.p))
        x0 = rng.standard_normal((3,) + self.input_shape)
        v1, v2 = self.phi(th0, x0), self.phi(2 * th0, x0)
        nz = np.abs(v1) > 1e-8
        if nz.any():
            ratios = np.log2(np.abs(v2[nz] / v1[nz]))
            q = int(round(float(np.median(ratios))))
            if np.allclose(ratios, q, atol=1e-6) and q >= 1:
                scaled = _pull_positive(cw.expr.subs({s: t * s for s in cw.theta}, simultaneous=True), t)
                if (scaled - t**q * cw.expr).applyfunc(lambda e: sp.simplify(sp.expand(e))).is_zero_matrix:
                    self._degree = q
        self._outer = None
        for key, shape in self.blocks.items():
            if shape not in ((), (self.out_dim,)) or (shape == () and self.out_dim != 1):
                continue
            comps = cw.params[key] if shape else sp.Matrix([cw.params[key]])
            J = cw.expr.jacobian(list(comps))
            psi = sp.simplify(J[0, 0])
            expected = sp.eye(self.out_dim) * psi
            if (J - expected).applyfunc(sp.simplify).is_zero_matrix and not (psi.free_symbols & set(comps)):
                if (cw.expr - J * sp.Matrix(list(comps))).applyfunc(sp.simplify).is_zero_matrix:
                    self._outer, self._psi = key, psi
                    break


def from_expr(expr: Any, params: dict[str, tuple[int, ...]], inputs: dict[str, tuple[int, ...]],
              name: str = "custom", references: tuple[str, ...] = ()) -> Family:
    r"""A custom neuron $\varphi(\theta; x)$ from a sympy expression.

    Parameters
    ----------
    expr : sympy expression, list or column Matrix
        The neuron, in terms of the parameter and input names. A scalar (shape ``()``) is the plain
        ``sympy.Symbol`` of that name; a block of shape ``(d,)`` is a ``MatrixSymbol(name, d, 1)`` or
        the symbols ``name_0 … name_{d-1}``; ``(r, c)``: ``MatrixSymbol(name, r, c)`` or ``name_ij``.
    params, inputs : dict[str, tuple]
        Ordered block shapes of the parameters and of the input.

    Returns
    -------
    A family whose capability types are detected symbolically: :class:`Homogeneous` with ``degree``
    $q$ when $\varphi(t\theta) = t^q\varphi(\theta)$ for $t > 0$; :class:`OutputLinear` when
    $\varphi$ is $a\,\psi(\eta; x)$ for a scalar or ``(k,)`` block $a$.
    """
    fam = CustomFamily(expr, params, inputs, name=name, references=references)
    cls = with_capabilities(CustomFamily, fam._outer is not None, fam._degree is not None)
    fam.__class__ = cls
    if fam._degree is not None:
        fam.degree = fam._degree
    if fam._outer is not None:
        fam.outer = fam._outer
        fam.inner = tuple(k for k in fam.blocks if k != fam._outer)
        rest = [s for key in fam.inner for s in (list(fam._cw.params[key]) if fam.blocks[key] else [fam._cw.params[key]])]
        f = sp.lambdify(rest + fam._cw.x, fam._psi, modules="numpy")
        outer_cols = fam.block_slice(fam._outer)

        def feature(etas, X, f=f, n_rest=len(rest)):
            etas = np.asarray(etas, dtype=float)
            Xf = X.reshape(X.shape[0], -1)
            args = [etas[:, j][:, None] for j in range(n_rest)] + [Xf[:, j][None, :] for j in range(Xf.shape[1])]
            return np.broadcast_to(np.asarray(f(*args), dtype=float), (etas.shape[0], X.shape[0]))[..., None].copy()

        fam.feature = feature
        fam._outer_cols = outer_cols
    return fam
