"""A custom neuron from a sympy expression, with its homogeneity class detected symbolically."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import sympy as sp

from .._errors import FamilyError
from ._base import Componentwise, Family, with_capabilities
from ._inner import NUMERIC_MODULES, U, Z, Activation, InnerMap, Ridge, SeparableKernel, numeric_function
from ._neuron import make_family


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


def _is_zero(e: Any) -> bool:
    """An exact zero test, cheapest first: structural, expanded, then ``simplify``."""
    e = sp.sympify(e)
    if e == 0:
        return True
    try:
        if sp.expand(e) == 0:
            return True
    except (TypeError, ValueError, NotImplementedError):
        pass
    return sp.simplify(e) == 0


def _lambdify(args: list, exprs: list):
    """Vectorised numpy callables of derivative formulas; Dirac terms of piecewise neurons (which vanish
    almost everywhere) are dropped, ``Heaviside`` is the numpy step, ``erf`` scipy's."""
    single = not isinstance(exprs, (list, tuple))
    clean = [sp.sympify(e).replace(sp.DiracDelta, lambda *a: sp.S.Zero) for e in ([exprs] if single else exprs)]
    return sp.lambdify(args, clean[0] if single else clean, modules=NUMERIC_MODULES)


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
        if isinstance(expr, sp.MatrixExpr):          # V * X.T * p written with MatrixSymbols: its entries
            expr = sp.Matrix(expr.as_explicit())
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
        """Lambdify the neuron now; its derivatives are compiled on first use (:meth:`_g`, :meth:`_h`)."""
        self._args = self._cw.theta + self._cw.x
        self._f = _lambdify(self._args, list(self._cw.expr))

    @functools.cached_property
    def _g(self):
        return _lambdify(self._args, list(self._cw.expr.jacobian(self._cw.theta)))

    @functools.cached_property
    def _h(self):
        hess = [sp.hessian(self._cw.expr[c], self._cw.theta) for c in range(self.out_dim)]
        return _lambdify(self._args, [e for H in hess for e in H])

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
            fn = self._hv = _lambdify(cw.theta + v + cw.x, rows)
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
        """Set ``outer`` (an output-linear block); the degree is detected by :meth:`_detect_degree`."""
        self._degree = None
        self._detect_outer()

    def _detect_degree(self) -> None:
        """Set ``degree`` (positive homogeneity in $\\theta$, proved symbolically after a numeric screen)."""
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
    def _detect_outer(self) -> None:
        cw = self._cw
        self._outer = None
        for key, shape in self.blocks.items():
            if shape not in ((), (self.out_dim,)) or (shape == () and self.out_dim != 1):
                continue
            comps = cw.params[key] if shape else sp.Matrix([cw.params[key]])
            J = cw.expr.jacobian(list(comps))
            psi = J[0, 0]
            if psi.free_symbols & set(comps):
                psi = sp.simplify(psi)
            expected = sp.eye(self.out_dim) * psi
            if all(_is_zero(e) for e in J - expected) and not (psi.free_symbols & set(comps)):
                if all(_is_zero(e) for e in cw.expr - J * sp.Matrix(list(comps))):
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
    When the neuron has the ridge shape $\varphi = a\,\sigma(w^\top x + b)$ (output block first, then
    ``w`` ``(d,)``, then an optional scalar bias, any univariate $\sigma$ including ``Max``, ``Abs``,
    ``Heaviside`` and ``Piecewise``), a :class:`~mfsym.families.NeuronFamily` with the
    :class:`~mfsym.families.Ridge` inner map -- the same kernels, derivation in vector notation and
    certificates as the built-in ridge families. Otherwise a componentwise family whose capability
    types are detected symbolically: :class:`Homogeneous` with ``degree`` $q$ when
    $\varphi(t\theta) = t^q\varphi(\theta)$ for $t > 0$; :class:`OutputLinear` when
    $\varphi$ is $a\,\psi(\eta; x)$ for a scalar or ``(k,)`` block $a$ (its optimality theory
    applies only when $\psi$ is proved bounded, which the componentwise path never does).
    """
    fam = CustomFamily(expr, params, inputs, name=name, references=references)
    structured = recognise_ridge(fam) or recognise_kernel(fam) or recognise_by_match(fam)
    if structured is not None:
        return structured
    fam._detect_degree()
    cls = with_capabilities(CustomFamily, fam._outer is not None, fam._degree is not None)
    fam.__class__ = cls
    if fam._degree is not None:
        fam.degree = fam._degree
    if fam._outer is not None:
        fam.outer = fam._outer
        fam.inner = tuple(k for k in fam.blocks if k != fam._outer)
        rest = [s for key in fam.inner for s in (list(fam._cw.params[key]) if fam.blocks[key] else [fam._cw.params[key]])]
        f = _lambdify(rest + fam._cw.x, fam._psi)
        outer_cols = fam.block_slice(fam._outer)

        def feature(etas, X, f=f, n_rest=len(rest)):
            etas = np.asarray(etas, dtype=float)
            Xf = X.reshape(X.shape[0], -1)
            args = [etas[:, j][:, None] for j in range(n_rest)] + [Xf[:, j][None, :] for j in range(Xf.shape[1])]
            return np.broadcast_to(np.asarray(f(*args), dtype=float), (etas.shape[0], X.shape[0]))[..., None].copy()

        fam.feature = feature
        fam._outer_cols = outer_cols
    return fam


# ---------------------------------------------------------------------------------------------- structure
def _sigma_degree(sigma: sp.Expr) -> int | None:
    """The degree $q \\ge 1$ with $\\sigma(tz) = t^q\\sigma(z)$ for every $t > 0$, proved by sympy, or None."""
    t = sp.Symbol("t", positive=True)
    z = Z
    f = numeric_function(sigma, Z)
    pts = np.array([-1.7, -0.6, 0.45, 1.3, 2.9])
    with np.errstate(all="ignore"):
        v1, v2 = f(pts), f(2 * pts)
    nz = np.isfinite(v1) & np.isfinite(v2) & (np.abs(v1) > 1e-12)
    if not nz.any():
        return None
    ratios = np.log2(np.abs(v2[nz] / v1[nz]))
    q = int(round(float(np.median(ratios))))
    if q < 1 or not np.allclose(ratios, q, atol=1e-9) or not np.allclose(v2[~nz], 0) or not np.allclose(v1[~nz], 0):
        return None
    scaled = _pull_positive(sp.Matrix([sigma.subs(z, t * z)]), t)[0]
    for q in (q,):
        try:
            if sp.simplify(sp.expand(scaled - t**q * sigma)) == 0:
                return q
        except (TypeError, ValueError, NotImplementedError):
            return None
    return None


def _as_ridge(fam: "CustomFamily") -> tuple | None:
    """``(sigma(z), w name, b name or None)`` when $\\psi = \\sigma(w^\\top x + b)$ exactly, else None."""
    cw = fam._cw
    if len(cw.inputs) != 1:
        return None
    xval = next(iter(cw.inputs.values()))
    if not isinstance(xval, sp.MatrixBase) or xval.shape[1] != 1:
        return None
    d = xval.shape[0]
    outer = fam._outer
    if outer is not None:
        psi = fam._psi
    elif fam.out_dim == 1:
        psi = cw.expr[0]
    else:
        return None
    names = list(fam.blocks)
    inner = names[1:] if outer is not None else names
    if outer is not None and names[0] != outer:
        return None          # the packing order must be the family's: output block first
    if not inner or fam.blocks[inner[0]] != (d,) or len(inner) > 2 or (len(inner) == 2 and fam.blocks[inner[1]] != ()):
        return None
    w = cw.params[inner[0]]
    b = cw.params[inner[1]] if len(inner) == 2 else None
    lin = sum((w[i] * xval[i] for i in range(d)), sp.S.Zero)
    # an exact change of variables: b = z - w.x (or x_0 = (z - sum_{i>0} w_i x_i) / w_0) leaves psi a
    # function of z alone exactly when psi depends on (w, b, x) only through w.x + b
    if b is not None:
        sigma = psi.subs(b, Z - lin)
    else:
        sigma = psi.subs(xval[0], (Z - (lin - w[0] * xval[0])) / w[0])
    sigma = sp.sympify(sigma)
    if sigma.free_symbols - {Z}:
        return None   # (no simplify: on a neuron of another shape it can run for minutes)
    if b is None and _differs_at_zero_weight(psi, sigma, w, xval, lin):
        return None
    return sigma, inner[0], (inner[1] if b is not None else None)


def _differs_at_zero_weight(psi, sigma, w, x, lin) -> bool:
    """The bias-free change of variables divides by $w_0$: compare the two forms at $w_0 = 0$ exactly."""
    subs = {w[0]: 0}
    for i in range(1, len(w)):
        subs[w[i]] = sp.Rational(i + 1, 3)
    for i in range(len(x)):
        subs[x[i]] = sp.Rational(2 * i + 1, 5)
    try:
        lhs = sp.nsimplify(psi.subs(subs))
        rhs = sp.nsimplify(sigma.subs(Z, lin.subs(subs)))
        return sp.simplify(lhs - rhs) != 0
    except (TypeError, ValueError, NotImplementedError):
        return True


def recognise_ridge(fam: "CustomFamily") -> Family | None:
    """The ridge family equivalent to a parsed custom neuron, or None when it has another shape."""
    found = _as_ridge(fam)
    if found is None:
        return None
    sigma, wname, bname = found
    act = Activation(fam.name, r"\sigma", sigma, numeric_function(sigma, Z))
    ridge = Ridge(act, fam.blocks[wname][0], bname is not None, names=(wname, bname or "b"))
    outer = fam._outer
    k = fam.out_dim if outer is not None else 0
    return make_family(fam.name, ridge, k, outer=outer or "a", degree=_sigma_degree(sigma), references=fam.references,
                       scalar_outer=outer is not None and fam.blocks[outer] == (), declared=fam._cw,
                       expr=sp.srepr(fam._cw.expr))


def recognise_kernel(fam: "CustomFamily") -> Family | None:
    """The separable-kernel family $a\\prod_j\\kappa(x_j - t_j)$ equivalent to a parsed custom neuron, or None.

    Exact tests: $\\psi(t; t + u)$ is free of $t$ (translation invariance) and equals
    $\\prod_j \\kappa(u_j)$ with $\\kappa(u) = \\psi(u e_1)/\\kappa(0)^{d-1}$, $\\kappa(0) = \\psi(0)^{1/d} > 0$.
    """
    cw = fam._cw
    outer = fam._outer
    if outer is None or fam.out_dim != 1 or len(cw.inputs) != 1:
        return None
    xval = next(iter(cw.inputs.values()))
    names = list(fam.blocks)
    if not isinstance(xval, sp.MatrixBase) or xval.shape[1] != 1 or names[0] != outer or len(names) != 2:
        return None
    d = xval.shape[0]
    tn = names[1]
    if fam.blocks[tn] != (d,):
        return None
    t = cw.params[tn]
    u = sp.symbols(f"_u0:{d}", real=True)
    shifted = sp.sympify(fam._psi).subs({xval[j]: t[j] + u[j] for j in range(d)}, simultaneous=True)
    if shifted.free_symbols - set(u):
        return None
    c = shifted.subs({uj: 0 for uj in u})
    if not (c.is_number and c.is_positive):
        return None
    k0 = c ** sp.Rational(1, d)
    profile = shifted.subs({u[j]: (U if j == 0 else 0) for j in range(d)}) / k0 ** (d - 1)
    product = sp.Mul(*[profile.subs(U, u[j]) for j in range(d)])
    try:
        if not _is_zero(sp.expand(shifted - product, power_exp=True)):
            return None
    except (TypeError, ValueError, NotImplementedError):
        return None
    kernel = SeparableKernel(sp.nsimplify(profile) if profile.has(sp.Float) else profile, d, name=tn)
    return make_family(fam.name, kernel, 1, outer=outer, references=fam.references,
                       scalar_outer=fam.blocks[outer] == (), declared=fam._cw, expr=sp.srepr(fam._cw.expr))


def _kinds(cls=InnerMap) -> list[type]:
    out = []
    for sub in cls.__subclasses__():
        out += [sub] + _kinds(sub)
    return out


def _matrix_outer(expr: sp.Matrix, A: sp.Matrix) -> sp.Matrix | None:
    """$\\psi$ with $\\varphi = A\\psi$ exactly and $\\psi$ free of $A$ (a ``(k, q)`` output block), or None."""
    psi = sp.Matrix([sp.diff(expr[0], A[0, j]) for j in range(A.shape[1])])
    if psi.free_symbols & set(A):
        return None
    if not all(sp.expand(e) == 0 for e in expr - A * psi):
        return None
    return psi


def _same_function(a: sp.Matrix, b: sp.Matrix, symbols: list) -> bool:
    """Exact equality of two expressions: a numeric screen at a rational point (30 digits), then ``expand``.
    Equal values that ``expand`` cannot prove equal are not taken as a match (the neuron stays componentwise)."""
    if a.shape != b.shape:
        return False
    point = {s: sp.Rational(3 * i + 1, 7 + 2 * i) * (-1) ** i for i, s in enumerate(symbols)}
    try:
        if any(abs(sp.N((x - y).subs(point), 30)) > 1e-25 for x, y in zip(a, b)):
            return False
        return all(sp.expand(x - y) == 0 for x, y in zip(a, b))
    except (TypeError, ValueError, NotImplementedError):
        return False


def recognise_by_match(fam: "CustomFamily") -> Family | None:
    """A structured family whose inner map (an :class:`InnerMap` kind offering :meth:`~InnerMap.candidates`:
    softmax attention, factored attention, ...) is exactly the user's $\\psi$, with the output block
    first (a ``(k, q)`` matrix) or absent; None when no kind matches."""
    cw = fam._cw
    if len(cw.inputs) != 1:
        return None
    xval = next(iter(cw.inputs.values()))
    names = list(fam.blocks)
    options = []
    first = fam.blocks[names[0]]
    if len(first) == 2 and first[0] == fam.out_dim and len(names) > 1:
        psi = _matrix_outer(cw.expr, cw.params[names[0]])
        if psi is not None:
            options.append((names[0], psi, names[1:]))
    options.append((None, cw.expr, names))
    for outer, psi, inner in options:
        blocks = {k: fam.blocks[k] for k in inner}
        for kind in _kinds():
            for cand in kind.candidates(blocks, fam.input_shape):
                if cand.dim != psi.shape[0]:
                    continue
                ref = cand.componentwise({k: cw.params[k] for k in inner}, xval)
                if _same_function(psi, ref, cw.theta + cw.x):
                    k = fam.out_dim if outer is not None else 0
                    return make_family(fam.name, cand, k, outer=outer or "A", references=fam.references,
                                       declared=fam._cw, expr=sp.srepr(fam._cw.expr))
    return None
