"""Verdicts of mf.check on points whose answer is known independently, and spectra (docs/mathematics.md "Hessians", docs/stability.md)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg as sla

import mfsym as mf
from mfsym.stability import spectrum, symmetries


@pytest.fixture(scope="module")
def relu_min():
    """Best single relu neuron (trained output) for a width-4 relu teacher: a strict local minimum of the
    width-1 loss (modulo the rescaling (a, w) -> (t a, w / t)) that is not a global minimizer."""
    fam = mf.families.relu(d=3)
    data, _ = mf.datasets.teacher_student(fam, m_teacher=4, n=60, seed=0)
    prob = mf.Problem(fam, data)
    mu = mf.datasets.width_one_fit(prob, starts=4, seed=0, tol=1e-12)
    return prob, mu, mf.check(prob, mu)


@pytest.fixture(scope="module")
def sigmoid_min():
    """Width-1 sigmoid student with vector outputs (k = 2) of a width-3 sigmoid teacher."""
    fam = mf.families.sigmoid(d=1, outputs=2, bias=True)
    data, _ = mf.datasets.teacher_student(fam, m_teacher=3, n=40, seed=3, scale=2.0)
    prob = mf.Problem(fam, data)
    mu = mf.datasets.width_one_fit(prob, starts=4, seed=1, tol=1e-12)
    return prob, mu, mf.check(prob, mu)


def fd_hessian(prob, mu, h=1e-4):
    """Central second differences of F = L(mu) in the particle coordinates (independent of the Hessian code)."""
    x0 = mu.particles.ravel()
    N = x0.size

    def F(x):
        return prob.loss(mu.copy(particles=x.reshape(mu.particles.shape)))

    H = np.zeros((N, N))
    E = np.eye(N) * h
    for a in range(N):
        for b in range(a, N):
            H[a, b] = H[b, a] = (F(x0 + E[a] + E[b]) - F(x0 + E[a] - E[b]) - F(x0 - E[a] + E[b])
                                 + F(x0 - E[a] - E[b])) / (4 * h * h)
    return H


def test_relu_strict_local_min_unstable_as_measure(relu_min):
    prob, mu, rep = relu_min
    assert rep.verdict == "unstable"
    assert rep.finite_width.classification == "strict-local-min"
    assert rep.finite_width.certified
    assert rep.mean_field.certified_nonglobal and rep.mean_field.gap > 1e-3
    assert rep.finite_width.symmetry_dim == 1
    assert mf.verify(rep.certificate) is True
    # independent check of non-globality: J at the witness is negative, and adding a little mass there lowers L
    w = rep.mean_field.witness
    assert prob.first_variation(mu, w[None])[0] < 0
    nu = mf.Measure(mu.family, np.vstack([mu.particles, w]), np.append(mu.masses, 1e-3))
    assert prob.loss(nu) < prob.loss(mu)


def test_lambda_min_matches_finite_differences(relu_min):
    prob, mu, rep = relu_min
    H = fd_hessian(prob, mu)
    a, wv = mu.particles[0, :1], mu.particles[0, 1:]
    u = np.concatenate([a, -wv])  # rescaling generator, written independently
    Z = sla.null_space(u[None])
    lam_fd = np.linalg.eigvalsh(Z.T @ H @ Z)[0]
    assert abs(rep.finite_width.lambda_min - lam_fd) <= 0.01 * abs(lam_fd)


def test_sigmoid_vector_output_minimum(sigmoid_min):
    prob, mu, rep = sigmoid_min
    assert prob.residual(mu) < 1e-8
    assert rep.verdict == "unstable"
    assert rep.mean_field.kind == "output-linear"
    assert rep.finite_width.classification == "strict-local-min" and rep.finite_width.certified
    assert rep.finite_width.symmetry_dim == 0
    lam_fd = np.linalg.eigvalsh(fd_hessian(prob, mu))[0]
    assert abs(rep.finite_width.lambda_min - lam_fd) <= 0.01 * abs(lam_fd)
    assert mf.verify(rep.certificate) is True


@pytest.mark.parametrize("family", [lambda: mf.families.relu(d=2), lambda: mf.families.sigmoid(d=2, outputs=1)])
def test_teacher_equals_student_is_never_unstable(family):
    fam = family()
    data, teacher = mf.datasets.teacher_student(fam, m_teacher=2, n=30, seed=4)
    prob = mf.Problem(fam, data)
    rep = mf.check(prob, teacher)
    assert prob.loss(teacher) < 1e-28
    assert rep.verdict == "global-minimizer"
    assert rep.mean_field.gap <= 1e-6
    assert mf.verify(rep.certificate) is True


def test_relu_population_minimum_unstable():
    fam = mf.families.relu(d=3)
    teacher = mf.Measure(fam, fam.random_particles(4, seed=1), np.full(4, 0.25))
    prob = mf.Problem(fam, mf.GaussianTeacher(fam, teacher))
    mu = mf.datasets.width_one_fit(prob, starts=3, seed=0, tol=1e-12)
    rep = mf.check(prob, mu)
    assert rep.verdict == "unstable"
    assert rep.finite_width.classification == "strict-local-min"
    assert rep.finite_width.certified  # the population Hessian is enclosed over a box (mfsym._popball)
    assert mf.verify(rep.certificate) is True


def test_not_stationary():
    fam = mf.families.relu(d=2)
    data, _ = mf.datasets.teacher_student(fam, m_teacher=3, n=20, seed=0)
    prob = mf.Problem(fam, data)
    mu = mf.Measure(fam, fam.random_particles(2, seed=5))
    rep = mf.check(prob, mu)
    assert rep.verdict == "not-stationary"
    assert "mf.stationary" in rep.message
    assert rep.finite_width is None and rep.mean_field is None
    assert mf.verify(rep.certificate) is True


def test_saddle_is_certified():
    """Two copies of the best single neuron, split apart: a duplicated relu neuron whose split direction has
    curvature c vᵀ∇²J v; whatever the numeric class, a strict-saddle report must carry a proved claim."""
    fam = mf.families.tanh(d=1, outputs=1)
    data, _ = mf.datasets.teacher_student(fam, m_teacher=3, n=25, seed=2, scale=2.0)
    prob = mf.Problem(fam, data)
    mu = mf.datasets.collapsed(prob, 2, starts=3, seed=0, tol=1e-12)
    rep = mf.check(prob, mu)
    fw = rep.finite_width
    assert fw is not None and fw.symmetry_dim >= 1  # identical particles detected
    if fw.classification == "strict-saddle":
        assert fw.certified
        assert any(c["name"] == "negative-curvature" and c["outcome"] == "proved" for c in rep.certificate["claims"])
    assert mf.verify(rep.certificate) is True


def test_symmetries_zero_mass_and_identical():
    fam = mf.families.relu(d=2)
    P = np.array([[1.0, 0.5, -0.3], [1.0, 0.5, -0.3], [0.2, -1.0, 0.4]])
    data, _ = mf.datasets.teacher_student(fam, m_teacher=2, n=10, seed=0)
    prob = mf.Problem(fam, data)
    sym = symmetries(prob, mf.Measure(fam, P, [0.5, 0.5, 0.0]))
    kinds = {k for k, _, _ in sym.kinds}
    assert kinds == {"zero-mass", "rescaling", "identical-particles"}
    # zero mass: 3 coords; rescaling: 2 particles; identical relu particles: a-split and ray split, whose span
    # with the rescalings has dimension 2 more
    assert sym.dim == 3 + 2 + 1
    assert np.allclose(sym.basis.T @ sym.basis, np.eye(sym.dim), atol=1e-12)


def test_lanczos_matches_dense():
    fam = mf.families.sigmoid(d=2, outputs=1)
    data, _ = mf.datasets.teacher_student(fam, m_teacher=3, n=40, seed=1)
    prob = mf.Problem(fam, data)
    mu = mf.Measure(fam, fam.random_particles(10, seed=2))
    d = spectrum(prob, mu, method="dense", k=3)
    lz = spectrum(prob, mu, method="lanczos", k=3)
    assert np.allclose(d.eigenvalues, lz.eigenvalues, rtol=1e-6, atol=1e-9)
    assert abs(d.lambda_max - lz.lambda_max) <= 1e-6 * abs(d.lambda_max)
    H = prob.particle_hessian(mu)
    assert abs(np.linalg.eigvalsh(H)[0] - d.lambda_min) <= 1e-10 * np.abs(H).max()


def test_report_outputs(relu_min):
    _, _, rep = relu_min
    import json

    js = json.loads(rep.to_json())
    assert js["verdict"] == "unstable" and js["finite_width"]["classification"] == "strict-local-min"
    tex = rep.latex()
    assert r"\lambda_{\min}" in tex and "unstable" in tex and r"\begin{itemize}" in tex
    assert "verdict: unstable" in str(rep)


def test_bad_input():
    fam = mf.families.relu(d=2)
    data, teacher = mf.datasets.teacher_student(fam, m_teacher=2, n=10, seed=0)
    prob = mf.Problem(fam, data)
    with pytest.raises(mf.MfsymError, match="tol"):
        mf.check(prob, teacher, tol=-1.0)
    with pytest.raises(mf.MfsymError, match="mu"):
        mf.check(prob, "not a measure")
    with pytest.raises(mf.MfsymError, match="method"):
        spectrum(prob, teacher, method="qr")
