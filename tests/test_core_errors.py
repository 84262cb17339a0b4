"""Bad input to the core (families, samples, measures, problems) raises named MfsymError subclasses."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import mfsym as mf


@pytest.mark.parametrize("call, match", [
    (lambda: mf.families.relu(d=0), "d: expected an integer >= 1, got 0"),
    (lambda: mf.families.relu(d=-3), "d: expected an integer >= 1, got -3"),
    (lambda: mf.families.relu(d=2.0), "d: expected an integer"),
    (lambda: mf.families.sigmoid(d=2, outputs=-1), "outputs: expected an integer >= 0"),
    (lambda: mf.families.sigmoid(d=2, bias="yes"), "bias: expected True or False"),
    (lambda: mf.families.attention(d=2, outputs=0, tokens=3), "outputs: expected an integer >= 1"),
    (lambda: mf.families.attention(d=2, outputs=1, tokens=0), "tokens"),
    (lambda: mf.families.deconvolution(kernel="box"), "kernel: expected 'gaussian' or 'dirichlet'"),
    (lambda: mf.families.deconvolution(width=-1), "width: expected a positive number"),
    (lambda: mf.families.deconvolution(kernel="dirichlet", cutoff=0), "cutoff"),
    (lambda: mf.families.by_name("gelu", d=2), "family: expected one of"),
    (lambda: mf.families.from_expr(sp.Symbol("u") * sp.Symbol("q"), params={"u": ()}, inputs={"x": ()}),
     r"symbols \['q'\] are neither params"),
    (lambda: mf.families.from_expr(sp.Symbol("u"), params={"u": (0,)}, inputs={"x": ()}), "expected a tuple of positive ints"),
    (lambda: mf.families.from_expr(sp.Symbol("u"), params={}, inputs={"x": ()}), "params: expected a non-empty dict"),
])
def test_family_arguments(call, match):
    with pytest.raises(mf.FamilyError, match=match):
        call()


def test_pack_errors_name_the_block():
    fam = mf.families.sigmoid(d=2)
    with pytest.raises(mf.FamilyError, match=r"w: expected shape \(m, 2\) with the particle index m first"):
        fam.pack(a=np.ones((3, 1)), w=np.ones((3, 3)), b=np.ones(3))
    with pytest.raises(mf.FamilyError, match=r"a: .*got \(3,\); reshape it with a.reshape\(-1, 1\)"):
        fam.pack(a=np.ones(3), w=np.ones((3, 2)), b=np.ones(3))
    with pytest.raises(mf.FamilyError, match=r"w: .*got \(2, 3\); transpose it"):   # a PyTorch (out, in) weight
        fam.pack(a=np.ones((3, 1)), w=np.ones((2, 3)), b=np.ones(3))
    with pytest.raises(mf.FamilyError, match="missing"):
        fam.pack(a=np.ones((3, 1)), w=np.ones((3, 2)))
    with pytest.raises(mf.FamilyError, match="leading dimension 2 differs"):
        fam.pack(a=np.ones((3, 1)), w=np.ones((2, 2)), b=np.ones(3))
    with pytest.raises(mf.FamilyError, match="finite"):
        fam.pack(a=np.ones((3, 1)), w=np.full((3, 2), np.nan), b=np.ones(3))


@pytest.mark.parametrize("X, Y, match", [
    (np.ones((4, 2)), np.ones(3), "Y: expected 4 labels"),
    (np.array([[1.0, np.nan]]), np.ones(1), "X: expected finite values"),
    (np.ones((4, 2)), np.array([1, 2, np.inf, 4]), "Y: expected finite values"),
    (np.ones(4), np.ones(4), r"X: expected shape \(n, d\)"),
    (np.ones((0, 2)), np.ones(0), "at least one sample"),
    ("data.npz", np.ones(1), "X: expected a real numeric array"),
    (np.ones((2, 2)) + 1j, np.ones(2), "X: expected real values, got complex"),
])
def test_samples_validation(X, Y, match):
    with pytest.raises(mf.DataError, match=match):
        mf.Samples(X, Y)


def test_dimension_mismatch_names_both_numbers():
    fam = mf.families.relu(d=3)
    with pytest.raises(mf.DataError, match=r"d = 3.*d = 2"):
        mf.Problem(fam, mf.Samples(np.ones((5, 2)), np.ones(5)))
    with pytest.raises(mf.DataError, match="2 outputs but the labels have 1"):
        mf.Problem(mf.families.relu(d=2, outputs=2), mf.Samples(np.ones((5, 2)), np.ones(5)))


def test_problem_arguments():
    fam = mf.families.relu(d=2)
    data = mf.Samples(np.ones((5, 2)), np.ones(5))
    with pytest.raises(mf.DataError, match="loss: expected one of"):
        mf.Problem(fam, data, loss="hinge")
    with pytest.raises(mf.DataError, match="reg: expected a finite number >= 0"):
        mf.Problem(fam, data, reg=-1.0)
    with pytest.raises(mf.DataError, match="logistic loss expects labels"):
        mf.Problem(fam, data.__class__(np.ones((5, 2)), 0.5 * np.ones(5)), loss="logistic")
    with pytest.raises(mf.DataError, match="data: expected mf.Samples"):
        mf.Problem(fam, (np.ones((5, 2)), np.ones(5)))


def test_measure_validation(tmp_path):
    fam = mf.families.relu(d=2)
    with pytest.raises(mf.MeasureError, match="at least one particle"):
        mf.Measure(fam, np.zeros((0, 3)))
    with pytest.raises(mf.MeasureError, match=r"expected shape \(m, 3\)"):
        mf.Measure(fam, np.zeros((4, 2)))
    with pytest.raises(mf.MeasureError, match=r"masses: expected shape \(4,\)"):
        mf.Measure(fam, np.zeros((4, 3)), np.ones(3))
    with pytest.raises(mf.MeasureError, match="finite"):
        mf.Measure(fam, np.zeros((4, 3)), [1, 1, np.nan, 1])
    prob = mf.Problem(fam, mf.Samples(np.ones((5, 2)), np.ones(5)))
    with pytest.raises(mf.MeasureError, match="mu: expected an mf.Measure"):
        prob.loss(np.zeros((4, 3)))
    other = mf.Measure(mf.families.relu(d=3), np.zeros((2, 4)))
    with pytest.raises(mf.MeasureError, match="its family has blocks"):
        prob.loss(other)
    with pytest.raises(mf.FamilyError, match=r"thetas: expected shape \(Q, 3\)"):
        prob.first_variation(mf.Measure(fam, np.zeros((1, 3))), np.zeros((2, 2)))
    with pytest.raises(mf.MeasureError, match="could not read a measure"):
        mf.Measure.load(fam, tmp_path / "missing.npz")


def test_measure_roundtrip(tmp_path):
    fam = mf.families.sigmoid(d=2, outputs=2)
    mu = mf.Measure(fam, fam.random_particles(4, seed=3), [0.5, -0.25, 1.0, 0.0])
    mu.save(tmp_path / "mu.npz")
    back = mf.Measure.load(fam, tmp_path / "mu.npz")
    np.testing.assert_array_equal(back.particles, mu.particles)
    np.testing.assert_array_equal(back.masses, mu.masses)
    assert back.blocks["a"].shape == (4, 2) and back.blocks["b"].shape == (4,)


def test_measure_of_another_family_with_equal_blocks_is_rejected():
    relu, sig = mf.families.relu(d=3), mf.families.sigmoid(d=3, bias=False)
    assert relu.blocks == sig.blocks
    prob = mf.Problem(relu, mf.Samples(np.ones((4, 3)), np.ones(4)))
    with pytest.raises(mf.MeasureError, match="its family is .*sigmoid.* the problem's is .*relu"):
        prob.loss(mf.Measure(sig, np.zeros((2, 4))))
    prob.loss(mf.Measure(mf.families.relu(d=3), np.zeros((2, 4))))  # an equal family built again is fine


def test_regulariser_with_signed_masses_is_rejected():
    fam = mf.families.relu(d=2, outputs=0)
    prob = mf.Problem(fam, mf.Samples(np.ones((4, 2)), np.ones(4)), reg=1.0)
    with pytest.raises(mf.MeasureError, match="reg > 0.*nonnegative masses"):
        prob.loss(mf.Measure(fam, np.ones((2, 2)), [1.0, -1.0]))


def test_load_rejects_a_measure_saved_for_another_family(tmp_path):
    mf.Measure(mf.families.sigmoid(d=3, bias=False), np.zeros((2, 4))).save(tmp_path / "mu.npz")
    with pytest.raises(mf.MeasureError, match="family 'sigmoid', expected 'relu'"):
        mf.Measure.load(mf.families.relu(d=3), tmp_path / "mu.npz")
