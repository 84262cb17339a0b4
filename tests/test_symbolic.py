"""Structured derivations equal the expanded componentwise sympy ones (docs/derivations.md)."""

from __future__ import annotations

import pytest
import sympy as sp

import mfsym as mf
from conftest import FAMILIES

TOL = 1e-30  # both sides are evaluated to 50 significant digits at random rational points


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_structured_equals_componentwise(name):
    fam = FAMILIES[name]()
    d = mf.derive(fam)
    # attention's ground truth (softmax Hessians) is the slow one: one sample keeps the suite fast
    res = d.check_against_componentwise(n=1 if name == "attention" else 2, seed=1)
    keys = set(res)
    blocks = list(fam.blocks)
    for b in blocks:
        assert ("jac", b) in keys and ("grad_J", b) in keys
    for i, b1 in enumerate(blocks):
        for b2 in blocks[i:]:
            assert ("hess_J", b1, b2) in keys
            assert ("interaction", b1, b2) in keys
    if isinstance(fam, mf.families.OutputLinear):
        assert ("G",) in keys and ("J=<A,G>",) in keys
    if isinstance(fam, mf.families.Homogeneous):
        assert ("euler",) in keys
    bad = {k: v for k, v in res.items() if not v < TOL}
    assert not bad, bad


def test_check_detects_a_wrong_formula():
    d = mf.derive(mf.families.sigmoid(d=2, outputs=2, bias=True))
    f = d.formulas[("hess", "w", "b")]
    f.expr = 2 * f.expr
    res = d.check_against_componentwise(seed=3)
    assert res[("hess", "w", "b")] > 1e-3
    assert res[("jac", "w")] < TOL


def test_logistic_interaction_term():
    d = mf.derive(mf.families.tanh(d=2), loss="logistic")
    res = d.check_against_componentwise(seed=2)
    assert max(res.values()) < TOL
    assert d.ell1 != d.ell1.subs(d._fy[1], 0)  # residual depends on the label


def test_instantiate_shapes_and_symbols():
    fam = mf.families.attention(d=2, outputs=2, tokens=3)
    d = mf.derive(fam)
    X = [[sp.Rational(j + 1, 5) for j in range(6)]]
    out = d.instantiate(X)
    assert out[("hess_J", "W", "W")].shape == (4, 4)
    assert out[("jac", "V")].shape == (2, 4)
    assert out[("G",)].shape == (2, 2)
    free = {s.name for s in out[("grad_J", "W")].free_symbols}
    assert {"r_00", "r_01"} <= free and "W_00" in free


def test_relu_second_derivative_vanishes_generically():
    d = mf.derive(mf.families.relu(d=2))
    assert d.formulas[("hess", "w", "w")].expr.is_ZeroMatrix


def test_bad_input():
    with pytest.raises(mf.MfsymError, match="loss"):
        mf.derive(mf.families.relu(d=2), loss="hinge")
    with pytest.raises(mf.MfsymError, match="logistic"):
        mf.derive(mf.families.sigmoid(d=2, outputs=2), loss="logistic")
    with pytest.raises(mf.MfsymError, match="family"):
        mf.derive("relu")
    d = mf.derive(mf.families.relu(d=2))
    with pytest.raises(mf.MfsymError, match="R"):
        d.instantiate([[1, 2]], R=[[1], [2]])
