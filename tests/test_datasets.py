"""Data generators and known non-global stationary configurations."""

from __future__ import annotations

import numpy as np
import pytest

import mfsym as mf
from mfsym import datasets


@pytest.mark.parametrize("inputs", ["gaussian", "sphere"])
def test_teacher_student_labels_are_the_teacher_model(inputs):
    fam = mf.families.sigmoid(d=3, outputs=2, bias=True)
    S, teacher = datasets.teacher_student(fam, m_teacher=4, n=50, inputs=inputs, seed=3)
    assert S.X.shape == (50, 3) and S.Y.shape == (50, 2) and teacher.m == 4
    assert np.allclose(S.Y, mf.Problem(fam, S).prediction(teacher, S.X), atol=1e-14)
    if inputs == "sphere":
        assert np.allclose(np.linalg.norm(S.X, axis=1), 1.0)
    S2, t2 = datasets.teacher_student(fam, m_teacher=4, n=50, inputs=inputs, seed=3)
    assert np.array_equal(S.X, S2.X) and np.array_equal(teacher.particles, t2.particles)
    S3, _ = datasets.teacher_student(fam, m_teacher=4, n=50, inputs=inputs, seed=4)
    assert not np.array_equal(S.X, S3.X)


def test_teacher_student_given_teacher_noise_and_token_inputs():
    fam = mf.families.attention(d=2, outputs=1, tokens=3)
    teacher = mf.Measure(fam, fam.random_particles(2, seed=1))
    S, t = datasets.teacher_student(fam, teacher, n=400, noise=0.1, seed=0)
    assert t is teacher and S.X.shape == (400, 3, 2)
    resid = S.Y - mf.Problem(fam, S).prediction(teacher, S.X)
    assert 0.08 < resid.std() < 0.12  # the requested noise level
    with pytest.raises(mf.DataError, match="inputs"):
        datasets.teacher_student(fam, inputs="cube")
    with pytest.raises(mf.DataError, match="teacher"):
        datasets.teacher_student(mf.families.relu(d=2), teacher)
    with pytest.raises(mf.DataError, match="noise"):
        datasets.teacher_student(fam, noise=-1.0)


def test_deconvolution_signal_is_the_spike_train():
    fam = mf.families.deconvolution(d=1, kernel="dirichlet", cutoff=3)
    S, truth = datasets.deconvolution(fam, m_spikes=3, n=40, seed=2)
    assert S.X.shape == (40, 1) and truth.m == 3 and np.allclose(truth.masses, 1.0)
    a, t = truth.blocks["a"], truth.blocks["t"][:, 0]
    kappa = lambda u: 1 + 2 * sum(np.cos(2 * np.pi * w * u) for w in range(1, 4))  # noqa: E731
    y = sum(a[k] * kappa(S.X[:, 0] - t[k]) for k in range(3))
    assert np.allclose(S.Y[:, 0], y, atol=1e-12)
    gap = np.abs(t[:, None] - t[None, :])
    torus = np.minimum(gap, 1 - gap)[~np.eye(3, dtype=bool)]
    assert np.min(torus) >= 1 / 12  # default separation 1/(4 m)
    assert np.all((np.abs(a) >= 0.5) & (np.abs(a) <= 1.5))
    fam2 = mf.families.deconvolution(d=2, width="1/4")
    S2, truth2 = datasets.deconvolution(fam2, spikes=[[0.2, 0.3], [0.7, 0.6]], amplitudes=[1.0, -0.5], n=5,
                                        grid=False, noise=0.01, seed=0)
    assert S2.X.shape == (5, 2) and np.allclose(truth2.blocks["a"], [1.0, -0.5])
    with pytest.raises(mf.DataError, match="amplitudes"):
        datasets.deconvolution(fam2, spikes=[[0.2, 0.3]], amplitudes=[1.0, 2.0])
    with pytest.raises(mf.DataError, match="family"):
        datasets.deconvolution(mf.families.relu(d=1))


@pytest.fixture(scope="module")
def relu_population():
    """Safran & Shamir's setting: f = sum of relu(w_i.x), teacher w*_i = e_i, x ~ N(0, I_3)."""
    fam = mf.families.relu(d=3, outputs=0)
    teacher = mf.Measure(fam, np.eye(3), np.ones(3))
    return mf.Problem(fam, mf.GaussianTeacher(fam, teacher))


def test_width_one_fit_is_stationary_and_not_global(relu_population):
    prob = relu_population
    mu = datasets.width_one_fit(prob, seed=0)
    assert mu.m == 1 and prob.residual(mu) < 1e-8
    assert prob.loss(mu) > 1e-2  # one neuron cannot fit three orthogonal ones
    # by symmetry the best single neuron points along (1, 1, 1)
    w = mu.particles[0]
    assert np.allclose(w / np.linalg.norm(w), np.ones(3) / np.sqrt(3), atol=1e-6)
    # it is not global: J < 0 somewhere on the sphere (a teacher direction), the relu q=1 criterion
    assert np.min(prob.first_variation(mu, np.eye(3))) < 0


def test_collapsed_configuration_is_stationary_but_a_saddle_of_the_width_m_loss(relu_population):
    prob = relu_population
    mu = datasets.collapsed(prob, 3, masses=np.ones(3))
    assert np.all(mu.particles == mu.particles[0]) and prob.residual(mu) < 1e-8
    one = datasets.width_one_fit(prob, mass=3.0)
    assert abs(prob.loss(mu) - prob.loss(one)) < 1e-12
    assert np.linalg.eigvalsh(prob.particle_hessian(mu))[0] < -0.1  # splitting the particles decreases the loss


def test_underwidth_minima_are_polished_sorted_local_minima(relu_population):
    prob = relu_population
    found = datasets.underwidth_minima(prob, 2, masses=np.ones(2), starts=4, seed=1)
    assert found and all(isinstance(f, datasets.LocalMinimum) for f in found)
    losses = [f.loss for f in found]
    assert losses == sorted(losses) and losses[0] > 1e-3  # two neurons cannot fit three
    for f in found:
        assert f.converged and f.residual < 1e-8 and prob.residual(f.measure) == f.residual
        assert f.min_eigenvalue > -1e-8
        assert abs(prob.loss(f.measure) - f.loss) == 0.0
    fam = mf.families.erf(d=2, bias=True)
    S, _ = datasets.teacher_student(fam, m_teacher=3, n=30, seed=0)
    sample_prob = mf.Problem(fam, S)
    best = datasets.underwidth_minima(sample_prob, 1, starts=2, seed=0)[0]
    assert best.residual < 1e-8 and best.loss > 0
    with pytest.raises(mf.DataError, match="prob"):
        datasets.underwidth_minima("not a problem", 2)
    with pytest.raises(mf.MeasureError, match="masses"):
        datasets.collapsed(prob, 2, masses=[1.0, 0.0])
