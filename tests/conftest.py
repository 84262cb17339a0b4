"""Shared fixtures: every family the conformance suite runs over."""

from __future__ import annotations

import functools
import os

import numpy as np
import pytest
import sympy as sp

import mfsym as mf

# MFSYM_BACKEND=jax runs the suite on the JAX backend: a sample problem built without a backend= argument
# gets backend="jax" (tests/test_jax_backend.py compares the two backends directly)
if os.environ.get("MFSYM_BACKEND", "numpy") not in ("numpy", "jax"):
    raise pytest.UsageError(f"MFSYM_BACKEND: expected 'numpy' or 'jax', got {os.environ['MFSYM_BACKEND']!r}")
if os.environ.get("MFSYM_BACKEND") == "jax":
    _problem_init = mf.Problem.__init__

    @functools.wraps(_problem_init)
    def _jax_by_default(self, family, data, loss="square", reg=0.0, backend=None):
        if backend is None:
            backend = "jax" if isinstance(data, mf.Samples) else "numpy"
        _problem_init(self, family, data, loss, reg, backend)

    mf.Problem.__init__ = _jax_by_default


def _custom():
    u, x = sp.symbols("u x")
    return mf.families.from_expr(u**2 * sp.sin(x) + u * x, params={"u": ()}, inputs={"x": ()}, name="custom-poly")


def _custom_vec():
    w = sp.MatrixSymbol("w", 2, 1)
    x = sp.MatrixSymbol("x", 2, 1)
    a = sp.Symbol("a")
    return mf.families.from_expr(a * sp.tanh((w.T * x)[0, 0]), params={"a": (), "w": (2,)}, inputs={"x": (2,)},
                                 name="custom-tanh")


def _ridge_custom(expr_of, params, name, d=2):
    w, x = sp.MatrixSymbol("w", d, 1), sp.MatrixSymbol("x", d, 1)
    z = (w.T * x)[0, 0]
    return mf.families.from_expr(expr_of(z, sp.Symbol("a"), sp.Symbol("b")), params=params, inputs={"x": (d,)}, name=name)


def _custom_piecewise():
    # not a ridge (two different linear forms): the componentwise path, with a Piecewise derivative
    w, x, a = sp.MatrixSymbol("w", 2, 1), sp.MatrixSymbol("x", 2, 1), sp.Symbol("a")
    expr = a * sp.Piecewise((w[0] * x[0], x[1] > 0), (sp.sin(w[1] * x[1]), True))
    return mf.families.from_expr(expr, params={"a": (), "w": (2,)}, inputs={"x": (2,)}, name="custom-piecewise")


def _custom_kernel():
    t, x, a = sp.MatrixSymbol("t", 2, 1), sp.MatrixSymbol("x", 2, 1), sp.Symbol("a")
    expr = a * sp.exp(-((x[0] - t[0]) ** 2 + (x[1] - t[1]) ** 2) * 2)      # a separable Gaussian, width 1/2
    return mf.families.from_expr(expr, params={"a": (), "t": (2,)}, inputs={"x": (2,)}, name="custom-kernel")


def _custom_abs():
    u, x = sp.symbols("u x")
    return mf.families.from_expr(sp.Abs(u) * u * x + u * sp.cos(x), params={"u": ()}, inputs={"x": ()}, name="custom-abs")


FAMILIES = {
    "relu": lambda: mf.families.relu(d=3),
    "relu-fixed-bias": lambda: mf.families.relu(d=2, outputs=0, bias=True),
    "sigmoid-vec": lambda: mf.families.sigmoid(d=2, outputs=2, bias=True),
    "tanh": lambda: mf.families.tanh(d=2),
    "erf": lambda: mf.families.erf(d=2, bias=False),
    "attention": lambda: mf.families.attention(d=2, outputs=2, tokens=3),
    "factored-attention": lambda: mf.families.factored_attention(d=2, outputs=1, tokens=3, rank=1),
    "deconv-gauss": lambda: mf.families.deconvolution(d=1, width="1/2"),
    "deconv-dirichlet-2d": lambda: mf.families.deconvolution(d=2, kernel="dirichlet", cutoff=2),
    "custom-poly": _custom,
    "custom-tanh": _custom_vec,
    "softplus": lambda: mf.families.softplus(d=2),
    "custom-softplus": lambda: _ridge_custom(lambda z, a, b: a * sp.log(1 + sp.exp(z + b)),
                                             {"a": (), "w": (2,), "b": ()}, "custom-softplus"),
    "custom-max": lambda: _ridge_custom(lambda z, a, b: a * sp.Max(0, z), {"a": (), "w": (2,)}, "custom-max"),
    "custom-piecewise": _custom_piecewise,
    "custom-abs": _custom_abs,
    "custom-kernel": _custom_kernel,
}


@pytest.fixture(params=sorted(FAMILIES), scope="module")
def family(request):
    return FAMILIES[request.param]()


def random_problem(fam, n=5, m=3, seed=0):
    """A small sample problem with random data and a random measure for ``fam``."""
    rng = np.random.default_rng(seed)
    X = 0.8 * rng.standard_normal((n,) + fam.input_shape)
    Y = rng.standard_normal((n, fam.out_dim))
    mu = mf.Measure(fam, 0.8 * rng.standard_normal((m, fam.p)), rng.uniform(0.2, 1.0, m))
    return mf.Problem(fam, mf.Samples(X, Y)), mu
