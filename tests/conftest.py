"""Shared fixtures: every family the conformance suite runs over."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import mfsym as mf


def _custom():
    u, x = sp.symbols("u x")
    return mf.families.from_expr(u**2 * sp.sin(x) + u * x, params={"u": ()}, inputs={"x": ()}, name="custom-poly")


def _custom_vec():
    w = sp.MatrixSymbol("w", 2, 1)
    x = sp.MatrixSymbol("x", 2, 1)
    a = sp.Symbol("a")
    return mf.families.from_expr(a * sp.tanh((w.T * x)[0, 0]), params={"a": (), "w": (2,)}, inputs={"x": (2,)},
                                 name="custom-tanh")


FAMILIES = {
    "relu": lambda: mf.families.relu(d=3),
    "relu-fixed-bias": lambda: mf.families.relu(d=2, outputs=0, bias=True),
    "sigmoid-vec": lambda: mf.families.sigmoid(d=2, outputs=2, bias=True),
    "tanh": lambda: mf.families.tanh(d=2),
    "erf": lambda: mf.families.erf(d=2, bias=False),
    "attention": lambda: mf.families.attention(d=2, outputs=2, tokens=3),
    "deconv-gauss": lambda: mf.families.deconvolution(d=1, width="1/2"),
    "deconv-dirichlet-2d": lambda: mf.families.deconvolution(d=2, kernel="dirichlet", cutoff=2),
    "custom-poly": _custom,
    "custom-tanh": _custom_vec,
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
