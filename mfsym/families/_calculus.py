r"""Block-level calculus of an inner map $\psi(\eta; x)$ at generic dimension, and the numeric kernels
compiled from it.

Each inner map kind states, once, for one sample $i$ and a weight $g$ (a scalar when $q = 1$, else a
$q$-vector):

* ``definitions`` -- the named intermediates (pre-activations, $\sigma(z)$, softmax $p$, ...): a generic
  sympy atom, its LaTeX, and either its formula ``expr`` in earlier atoms or, for a primitive (an
  activation, a softmax, a kernel product), its concrete value ``build``, its numeric value and its tangent;
* ``value`` -- $\psi$; ``jac[B]`` -- $\partial\psi/\partial B$ ($q \times |B|$); ``grad[B]`` --
  $\nabla_B (g^\top\psi)$ (shaped like $B$); ``hess[B, B']`` -- $\nabla^2_{B B'} (g^\top\psi)$
  ($|B| \times |B'|$), blocks flattened row-major as in :meth:`Family.pack`;

as sympy (matrix) expressions in generic-dimension symbols. The same formulas are

* rendered as LaTeX by :mod:`mfsym.symbolic` (the derivation of a paper),
* made explicit by :func:`concretize` at concrete sizes (the componentwise neuron, the ball programs of
  the certificates), and
* compiled into the numeric kernels by :class:`Kernels` (values, Jacobians, vector-Jacobian products,
  contracted Hessians; Jacobian- and Hessian-vector products as forward-mode tangents of the value and of
  the gradient).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import sympy as sp
from sympy.core.function import AppliedUndef

from .._types import FloatArray
from ._compile import AtomSpec, Env, Program

d_, k_, T_, q_ = sp.symbols("d k T q", integer=True, positive=True)


@dataclass
class Definition:
    """A named intermediate ``atom`` (LaTeX ``latex``).

    ``expr``: its formula in earlier atoms (then ``build`` follows from it); a primitive gives ``build``
    (``env -> concrete sympy value``), ``numeric`` (``env -> array``, ``env`` the compiled evaluation) and
    ``tangent`` (``dot -> formula`` of its forward derivative, ``dot(atom)`` the tangent of an atom).
    ``inline``: expanded where it is used instead of computed (matrices per sample, such as
    $\\operatorname{diag}(p) - pp^\\top$)."""

    atom: Any
    latex: str
    build: Callable[[dict], Any] | None = None
    note: str = ""
    expr: Any = None
    numeric: Callable | None = None
    tangent: Callable | None = None
    inline: bool = False


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
    #: undefined function -> (numeric(env, applied) -> array, its derivative: another function, 0 or None)
    numeric_functions: dict[Any, tuple[Callable, Any]] = field(default_factory=dict)
    #: the numeric input -> {input atom: array}
    numeric_inputs: Callable[[FloatArray], dict] | None = None

    def input_table(self, x: sp.Matrix) -> dict:
        """Map the generic input atoms to the concrete input ``x`` (column vector or token matrix)."""
        raise NotImplementedError

    def concrete(self, params: dict[str, Any], x: sp.Matrix) -> dict:
        """Concrete values of every atom and intermediate for parameters ``params`` and input ``x``."""
        env: dict = {self.blocks[k]: v for k, v in params.items()}
        env.update(self.input_table(x))
        for dfn in self.definitions:
            env[dfn.atom] = self.build(dfn, env)
        return env

    def build(self, dfn: Definition, env: dict) -> Any:
        if dfn.build is not None:
            return dfn.build(env)
        val = concretize(dfn.expr, env, self.concrete_functions, self.dims)
        return val[0, 0] if _shape(dfn.atom) == (1, 1) else val

    def componentwise(self, params: dict[str, Any], x: sp.Matrix) -> sp.Matrix:
        """$\\psi$ at concrete sizes, from the formula of the value (the componentwise ground truth)."""
        return concretize(self.value, self.concrete(params, x), self.concrete_functions, self.dims)


def _im(m: Any) -> Any:
    return sp.ImmutableMatrix(m) if isinstance(m, sp.MatrixBase) else m


def _shape(e: Any) -> tuple:
    return tuple(e.shape) if isinstance(e, (sp.MatrixExpr, sp.MatrixBase)) else (1, 1)


def concretize(expr: Any, env: dict, functions: dict[Any, Callable], dims: dict[Any, int]) -> sp.Matrix:
    """Explicit ``sympy.Matrix`` of a generic expression, given concrete values of its atoms."""
    e = sp.sympify(expr)
    table = {key: _im(val) for key, val in env.items()}
    e = e.xreplace(table)
    e = e.xreplace(dims) if dims else e
    if isinstance(e, (sp.MatrixExpr, sp.MatrixBase)) or e.has(sp.Trace):
        e = e.doit()
    if functions:
        e = e.replace(lambda t: isinstance(t, AppliedUndef) and t.func in functions,
                      lambda t: functions[t.func](*t.args))
    if isinstance(e, (sp.MatrixBase, sp.MatrixExpr)):
        return sp.Matrix(e.as_explicit() if isinstance(e, sp.MatrixExpr) else e)
    return sp.Matrix([[e]])


class Kernels:
    """The numeric kernels of an inner map, compiled from its calculus (:mod:`._compile`).

    ``block_shapes``: the concrete shapes of the blocks in packing order. Every method is vectorised
    over ``Q`` parameter vectors ``eta`` ``(Q, p)`` and ``n`` inputs ``X``; weights ``W`` are ``(Q, n, q)``,
    directions ``V`` ``(Q, p)`` (the shapes of :class:`~._inner.InnerMap`).
    """

    def __init__(self, calc: InnerCalculus, block_shapes: dict[str, tuple[int, ...]]):
        self.calc = calc
        self.shapes = block_shapes
        self.sizes = {k: int(np.prod(s, dtype=int)) for k, s in block_shapes.items()}
        specs = {calc.blocks[k]: AtomSpec("block", "q", _shape(calc.blocks[k])) for k in block_shapes}
        specs.update({a: AtomSpec("input", "n", _shape(a)) for a in calc.inputs})
        specs[calc.g] = AtomSpec("weight", "qn", _shape(calc.g))
        for dfn in calc.definitions + calc.weight_definitions:
            specs[dfn.atom] = AtomSpec("def", "qn", _shape(dfn.atom), dfn.expr, dfn.numeric, dfn.tangent, dfn.inline)
        self.program = Program(specs, calc.numeric_functions, calc.dims)
        P = self.program
        self.value_f = P.expand(calc.value)
        self.jvp_f = P.tangent(calc.value)
        self.jac_f = {k: P.expand(calc.jac[k]) for k in block_shapes}
        self.grad_f = {k: P.expand(calc.grad[k]) for k in block_shapes}
        self.hvp_f = {k: P.tangent(calc.grad[k]) for k in block_shapes}
        self.hess_f = {key: P.expand(val) for key, val in calc.hess.items()}
        self.directions = {k: P.tangent_atom(calc.blocks[k]) for k in block_shapes}

    # ------------------------------------------------------------------ environments
    def _blocks(self, eta: FloatArray, tangent: bool = False) -> dict:
        out, start, Q = {}, 0, eta.shape[0]
        for k, shape in self.shapes.items():
            size = self.sizes[k]
            arr = eta[:, start:start + size].reshape((Q,) + tuple(shape))
            out[self.directions[k] if tangent else self.calc.blocks[k]] = arr
            start += size
        return out

    def _weight(self, W: FloatArray) -> FloatArray:
        # the weight's generic shape decides its axes (a q-vector keeps its axis even when q = 1)
        return W if isinstance(self.calc.g, sp.MatrixSymbol) else W[..., 0]

    def env(self, eta: FloatArray, X: FloatArray, W: FloatArray | None = None, V: FloatArray | None = None) -> Env:
        values = self._blocks(eta)
        values.update(self.calc.numeric_inputs(X))
        if W is not None:
            values[self.calc.g] = self._weight(W)
        if V is not None:
            values.update(self._blocks(V, tangent=True))
        return Env(self.program, values, eta.shape[0], X.shape[0])

    def _zero(self, env: Env, shape: tuple) -> FloatArray:
        return np.zeros(shape)

    # ------------------------------------------------------------------ kernels
    def value(self, env: Env) -> FloatArray:
        val = self.program.evaluate(self.value_f, env, "qn")
        return self._per_sample(val, env)

    def jvp(self, env: Env) -> FloatArray:
        return self._per_sample(self.program.evaluate(self.jvp_f, env, "qn"), env)

    def _per_sample(self, val, env: Env) -> FloatArray:
        if val is None:
            return np.zeros((env.Q, env.n, self.calc.q))
        return val.reshape(env.Q, env.n, self.calc.q)

    def jacobian(self, env: Env) -> FloatArray:
        parts = []
        for k in self.shapes:
            val = self.program.evaluate(self.jac_f[k], env, "qn")
            parts.append(np.zeros((env.Q, env.n, self.calc.q, self.sizes[k])) if val is None
                         else val.reshape(env.Q, env.n, self.calc.q, self.sizes[k]))
        return np.concatenate(parts, axis=-1)

    def _per_block(self, formulas: dict, env: Env) -> FloatArray:
        parts = []
        for k in self.shapes:
            val = self.program.evaluate(formulas[k], env, "q")
            parts.append(np.zeros((env.Q, self.sizes[k])) if val is None else val.reshape(env.Q, self.sizes[k]))
        return np.concatenate(parts, axis=-1) if len(parts) > 1 else parts[0]

    def vjp(self, env: Env) -> FloatArray:
        return self._per_block(self.grad_f, env)

    def hvp(self, env: Env) -> FloatArray:
        return self._per_block(self.hvp_f, env)

    def hessian(self, env: Env) -> FloatArray:
        names = list(self.shapes)
        offs = np.cumsum([0] + [self.sizes[k] for k in names])
        p = int(offs[-1])
        H = np.zeros((env.Q, p, p))
        for (a, b), terms in self.hess_f.items():
            val = self.program.evaluate(terms, env, "q")
            if val is None:
                continue
            ia, ib = names.index(a), names.index(b)
            blk = val.reshape(env.Q, self.sizes[a], self.sizes[b])
            H[:, offs[ia]:offs[ia + 1], offs[ib]:offs[ib + 1]] = blk
            if a != b:
                H[:, offs[ib]:offs[ib + 1], offs[ia]:offs[ia + 1]] = np.swapaxes(blk, 1, 2)
        return H
