"""The formula compiler behind the numeric kernels, against sympy's explicit matrices.

Each formula below is evaluated twice: compiled (einsum terms over batched atoms) and as an explicit
sympy matrix at concrete sizes (``concretize``), for every (parameter, sample) pair; its forward-mode
tangent is checked against a central difference of the compiled value.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from sympy.matrices.expressions.diagonal import DiagMatrix

from mfsym.families import concretize
from mfsym.families._compile import AtomSpec, CompileError, Env, Program

d, T, r = sp.symbols("d T r", integer=True, positive=True)
DIMS = {d: 3, T: 4, r: 2}
A, B = sp.MatrixSymbol("A", r, d), sp.MatrixSymbol("B", d, d)      # blocks (batch q)
b = sp.Symbol("b", real=True)                                     # a scalar block
x, X = sp.MatrixSymbol("x", d, 1), sp.MatrixSymbol("X", T, d)      # inputs (batch n)
g = sp.MatrixSymbol("g", d, 1)                                    # a weight (batch qn)
z, p = sp.MatrixSymbol("z", T, 1), sp.MatrixSymbol("p", T, 1)      # intermediates

FORMULAS = [
    A * x,
    sp.Trace(x.T * B.T * B * x) + b,
    sp.KroneckerProduct(A * x, x.T) * sp.KroneckerProduct(B, x.T),
    X.T * DiagMatrix(z) * X * g,
    X.T * (DiagMatrix(p) - p * p.T) * X,
    sp.KroneckerProduct(sp.Identity(r), g * x.T) + 2 * sp.KroneckerProduct(A * x * x.T * A.T, g * x.T),
    sp.Trace(A.T * A) * b**2 * x,
    sp.Trace(z.T * z) - 3 * b,
]


def _program():
    specs = {A: AtomSpec("block", "q", (r, d)), B: AtomSpec("block", "q", (d, d)), b: AtomSpec("block", "q", (1, 1)),
             x: AtomSpec("input", "n", (d, 1)), X: AtomSpec("input", "n", (T, d)), g: AtomSpec("weight", "qn", (d, 1)),
             z: AtomSpec("def", "qn", (T, 1), expr=X * B * x + b * X * x),
             p: AtomSpec("def", "qn", (T, 1), numeric=lambda env: np.tanh(env[z]))}   # a primitive
    return Program(specs, {}, DIMS)


def _values(rng, Q=2, n=3):
    vals = {A: rng.standard_normal((Q, 2, 3)), B: rng.standard_normal((Q, 3, 3)), b: rng.standard_normal(Q),
            x: rng.standard_normal((n, 3)), X: rng.standard_normal((n, 4, 3)), g: rng.standard_normal((Q, n, 3))}
    return vals, Q, n


def _explicit(expr, vals, q, i):
    env = {A: sp.Matrix(vals[A][q]), B: sp.Matrix(vals[B][q]), b: sp.Float(vals[b][q], 30),
           x: sp.Matrix(vals[x][i]), X: sp.Matrix(vals[X][i]), g: sp.Matrix(vals[g][q, i])}
    zz = concretize(X * B * x + b * X * x, env, {}, DIMS)
    env[z] = zz
    env[p] = zz.applyfunc(sp.tanh)
    return np.array(concretize(expr, env, {}, DIMS).evalf(30), dtype=float)


@pytest.mark.parametrize("k", range(len(FORMULAS)))
def test_compiled_formula_equals_the_explicit_matrix(k):
    expr = FORMULAS[k]
    prog = _program()
    vals, Q, n = _values(np.random.default_rng(k))
    out = prog.evaluate(prog.expand(expr), Env(prog, vals, Q, n), "qn")
    summed = prog.evaluate(prog.expand(expr), Env(prog, vals, Q, n), "q")
    for q in range(Q):
        acc = 0
        for i in range(n):
            ref = _explicit(expr, vals, q, i)
            np.testing.assert_allclose(out[q, i].reshape(ref.shape), ref, rtol=1e-12, atol=1e-12)
            acc = acc + ref
        np.testing.assert_allclose(summed[q].reshape(acc.shape), acc, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("k", [0, 1, 2, 3, 6, 7])
def test_tangent_is_the_directional_derivative(k):
    expr = FORMULAS[k]
    prog = _program()
    rng = np.random.default_rng(10 + k)
    vals, Q, n = _values(rng)
    dirs = {blk: rng.standard_normal(np.shape(vals[blk])) for blk in (A, B, b)}
    tangent = {prog.tangent_atom(blk): v for blk, v in dirs.items()}
    got = prog.evaluate(prog.tangent(expr), Env(prog, {**vals, **tangent}, Q, n), "qn")
    h = 1e-6

    def at(s):
        moved = {**vals, **{blk: vals[blk] + s * dirs[blk] for blk in dirs}}
        return prog.evaluate(prog.expand(expr), Env(prog, moved, Q, n), "qn")

    fd = (at(h) - at(-h)) / (2 * h)
    np.testing.assert_allclose(got, fd, rtol=1e-6, atol=1e-7)


def test_formulas_outside_the_language_are_refused():
    prog = _program()
    with pytest.raises(CompileError):
        prog.expand(sp.exp(b) * x)        # a function of an atom that no primitive declares
    with pytest.raises(CompileError):
        prog.expand(sp.Inverse(B))
