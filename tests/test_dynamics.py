"""Particle flow and stationary points (mfsym.dynamics): monotonicity, the energy identity, the stopping
rule, convergence to minima and saddles with symmetric (singular) Hessians, and argument checks."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pytest

import mfsym as mf


def teacher_student(fam, teacher_particles, n=30, seed=0):
    """Labels $y_i = f_{\\nu}(x_i)$ of a teacher measure $\\nu$ with unit masses, Gaussian inputs."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n,) + fam.input_shape)
    teacher = mf.Measure(fam, np.asarray(teacher_particles, float), np.ones(len(teacher_particles)))
    Y = mf.Problem(fam, mf.Samples(X, np.zeros((n, fam.out_dim)))).prediction(teacher)
    return mf.Problem(fam, mf.Samples(X, Y))


@pytest.fixture(scope="module")
def sigmoid_prob():
    fam = mf.families.sigmoid(d=2)
    return teacher_student(fam, [[2.0, 3.0, 0.5, 0.0], [-1.5, -1.0, 2.5, 0.3]], n=40)


@pytest.fixture(scope="module")
def student(sigmoid_prob):
    fam = sigmoid_prob.family
    return mf.Measure(fam, fam.random_particles(20, seed=1))


def min_eig(prob, mu):
    return float(np.linalg.eigvalsh(prob.particle_hessian(mu))[0])


# ------------------------------------------------------------------------------------------------ flow
def test_flow_small_step_never_increases_loss(sigmoid_prob, student):
    P0 = student.particles.copy()
    tr = mf.flow(sigmoid_prob, student, steps=200, dt=0.5, adaptive=False)
    assert tr.losses[0] == pytest.approx(sigmoid_prob.loss(student), rel=1e-14)
    assert tr.times[0] == 0.0 and tr.times[-1] == pytest.approx(100.0)
    assert len(tr.losses) == len(tr.times) == len(tr.velocity_norms) == 201
    assert np.all(np.diff(tr.losses) <= 0.0)
    assert tr.losses[-1] < 0.2 * tr.losses[0]
    assert tr.stopped == "steps"
    assert sigmoid_prob.loss(tr.measure) == pytest.approx(tr.losses[-1], rel=1e-12)
    np.testing.assert_array_equal(tr.measure.masses, student.masses)
    np.testing.assert_array_equal(student.particles, P0)  # input untouched
    assert tr.velocity_norms[0] == pytest.approx(sigmoid_prob.residual(student), rel=1e-12)


def test_adaptive_step_keeps_large_steps_monotone(sigmoid_prob, student):
    # a fixed step this large is unstable ...
    fixed = mf.flow(sigmoid_prob, student, steps=100, dt=40.0, adaptive=False)
    assert np.any(np.diff(fixed.losses) > 0)
    # ... the backtracking control rejects the steps that would increase the loss
    tr = mf.flow(sigmoid_prob, student, steps=100, dt=40.0)
    assert tr.rejected > 0
    assert np.all(np.diff(tr.losses) <= 0.0)
    assert np.all(np.diff(tr.times) <= 40.0 + 1e-12)


def test_fixed_step_is_explicit_euler_with_signs_and_test_particles():
    """θ_j <- θ_j - dt sign(c_j) ∇J(θ_j); zero-mass particles move with sign +1 and do not act."""
    fam = mf.families.relu(d=2, outputs=0, bias=True)
    prob = teacher_student(fam, [[1.0, 0.5, 0.2], [-0.5, 1.0, -0.1]], n=25, seed=3)
    P = fam.random_particles(4, seed=7)
    mu = mf.Measure(fam, P, [0.4, -0.3, 0.0, 0.5])
    tr = mf.flow(prob, mu, steps=3, dt=0.05, adaptive=False)
    Q = P.copy()
    sign = np.array([1.0, -1.0, 1.0, 1.0])[:, None]
    for _ in range(3):
        Q = Q + 0.05 * sign * prob.velocity(mu.copy(particles=Q), Q)
    np.testing.assert_allclose(tr.measure.particles, Q, rtol=0, atol=1e-14)
    assert not np.allclose(Q[2], P[2])  # the test particle moved
    # dropping the zero-mass particle changes nothing for the others
    mu3 = mf.Measure(fam, P[[0, 1, 3]], [0.4, -0.3, 0.5])
    tr3 = mf.flow(prob, mu3, steps=3, dt=0.05, adaptive=False)
    np.testing.assert_allclose(tr3.measure.particles, Q[[0, 1, 3]], rtol=0, atol=1e-14)
    np.testing.assert_allclose(tr3.losses, tr.losses, rtol=1e-14)


def test_energy_identity():
    """dL/dt = -Σ_j |c_j| |∇J(θ_j)|² along the flow (signed masses), checked on a tiny Euler step."""
    fam = mf.families.tanh(d=2)
    prob = teacher_student(fam, [[1.0, 1.5, 0.5, 0.0]], n=20, seed=2)
    mu = mf.Measure(fam, fam.random_particles(5, seed=4), [0.3, -0.2, 0.25, 0.4, -0.1])
    h = 1e-6
    tr = mf.flow(prob, mu, steps=1, dt=h, adaptive=False)
    G = prob.grad_potential(mu, mu.particles)
    rate = -np.sum(np.abs(mu.masses) * np.sum(G**2, axis=1))
    assert (tr.losses[1] - tr.losses[0]) / h == pytest.approx(rate, rel=1e-4)


def test_velocity_stopping_rule(sigmoid_prob, student):
    tol = 2e-3
    tr = mf.flow(sigmoid_prob, student, steps=5000, dt=2.0, tol=tol)
    assert tr.stopped == "velocity"
    assert tr.velocity_norms[-1] <= tol < tr.velocity_norms[-2]
    assert len(tr.times) - 1 < 5000
    assert sigmoid_prob.residual(tr.measure) == pytest.approx(tr.velocity_norms[-1], rel=1e-12)


def test_snapshots_and_progress(sigmoid_prob, student, capsys, caplog):
    with caplog.at_level(logging.DEBUG, logger="mfsym.progress"):  # a short run logs its summary at DEBUG
        tr = mf.flow(sigmoid_prob, student, steps=25, dt=0.5, record_every=10, progress=True)
    assert list(tr.snapshot_steps) == [0, 10, 20, 25]
    assert tr.snapshots.shape == (4, student.m, student.family.p)
    np.testing.assert_array_equal(tr.snapshots[0], student.particles)
    np.testing.assert_array_equal(tr.snapshots[-1], tr.measure.particles)
    np.testing.assert_allclose(tr.snapshot_times, tr.times[[0, 10, 20, 25]])
    assert any(r.getMessage().startswith("mf.flow: 25/25") for r in caplog.records)
    mf.flow(sigmoid_prob, student, steps=3, dt=0.5, progress=False)
    assert capsys.readouterr().err == ""


# ------------------------------------------------------------------------------------------------ stationary
@pytest.mark.parametrize("which", ["sigmoid", "relu"])
def test_width_one_student_reaches_a_minimum(which):
    if which == "sigmoid":
        fam = mf.families.sigmoid(d=2)
        prob = teacher_student(fam, [[1.0, 1.5, 0.5, 0.0], [1.0, -0.5, 1.5, 0.3]], seed=1)
    else:  # the relu rescaling (a, w) -> (ta, w/t) makes the Hessian singular at every point
        fam = mf.families.relu(d=2)
        prob = teacher_student(fam, [[1.0, 1.0, 0.3], [1.0, -0.4, 1.0]], seed=1)
    mu = mf.Measure(fam, 0.5 * fam.random_particles(1, seed=11), [1.0])
    assert prob.residual(mu) > 1e-2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        star = mf.stationary(prob, mu, target="minimum")
    assert isinstance(star, mf.Measure)
    assert prob.residual(star) < 1e-8
    assert prob.loss(star) < prob.loss(mu)
    lam = np.linalg.eigvalsh(prob.particle_hessian(star))
    assert lam[0] > -1e-8 * lam[-1]  # a minimum, not a saddle
    np.testing.assert_array_equal(star.masses, mu.masses)


@pytest.fixture(scope="module")
def tanh_split():
    """A tanh width-1 minimum, duplicated into two half-mass particles: a strict saddle of width 2."""
    fam = mf.families.tanh(d=2)
    prob = teacher_student(fam, [[1.0, 1.5, 0.5, 0.0], [1.0, -0.5, 1.5, 0.3]], seed=0)
    one = mf.stationary(prob, mf.Measure(fam, 0.5 * fam.random_particles(1, seed=10), [1.0]))
    return prob, one


def test_saddle_target_finds_the_split_saddle(tanh_split):
    prob, one = tanh_split
    fam = one.family
    P2 = np.vstack([one.particles, one.particles])
    start = mf.Measure(fam, P2 + 0.05 * np.random.default_rng(0).standard_normal(P2.shape), [0.5, 0.5])
    assert prob.residual(start) > 1e-3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sad = mf.stationary(prob, start, target="saddle")
    assert prob.residual(sad) < 1e-8
    assert min_eig(prob, sad) < -1e-2  # negative curvature: a strict saddle
    assert prob.loss(sad) == pytest.approx(prob.loss(one), rel=1e-8)  # the split width-1 point
    # "minimum" from the same start leaves the saddle and lowers the loss
    low = mf.stationary(prob, start, target="minimum")
    assert prob.residual(low) < 1e-8
    assert prob.loss(low) < prob.loss(one) - 1e-3
    assert min_eig(prob, low) > -1e-8


def test_duplicated_and_zero_mass_particles(tanh_split):
    """Exactly duplicated particles and a zero-mass particle: singular Hessian, still converges."""
    prob, one = tanh_split
    fam = one.family
    rng = np.random.default_rng(5)
    base = one.particles[0] + 0.1 * rng.standard_normal(fam.p)
    extra = fam.random_particles(1, seed=9)[0]
    mu = mf.Measure(fam, np.vstack([base, base, extra]), [0.5, 0.5, 0.0])
    for target in ("minimum", "any"):
        star = mf.stationary(prob, mu, target=target)
        assert prob.residual(star) < 1e-8
        np.testing.assert_array_equal(star.particles[2], extra)  # the zero-mass particle is left alone
        np.testing.assert_array_equal(star.masses, mu.masses)


def test_nonconvergence_warns_and_returns_best(sigmoid_prob, student):
    with pytest.warns(RuntimeWarning, match="residual"):
        out = mf.stationary(sigmoid_prob, student, target="any", max_iter=1, tol=1e-300)
    assert isinstance(out, mf.Measure)
    assert sigmoid_prob.residual(out) <= sigmoid_prob.residual(student)


# ------------------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("kwargs", [
    {"steps": 0}, {"steps": 2.0}, {"steps": True}, {"dt": 0.0}, {"dt": -1.0}, {"dt": float("nan")},
    {"dt": float("inf")}, {"dt": "0.1"}, {"tol": -1.0}, {"record_every": 0}, {"adaptive": "yes"},
    {"progress": 1}, {"min_dt": 0.0},
])
def test_flow_rejects_bad_arguments(sigmoid_prob, student, kwargs):
    args = {"steps": 2, "dt": 0.1, **kwargs}
    with pytest.raises(mf.MfsymError, match=next(iter(kwargs))):
        mf.flow(sigmoid_prob, student, **args)


@pytest.mark.parametrize("kwargs", [{"target": "max"}, {"target": None}, {"tol": 0.0}, {"tol": float("nan")},
                                    {"max_iter": 0}, {"dense": "auto"}])
def test_stationary_rejects_bad_arguments(sigmoid_prob, student, kwargs):
    with pytest.raises(mf.MfsymError, match=next(iter(kwargs))):
        mf.stationary(sigmoid_prob, student, **kwargs)


def test_wrong_problem_or_measure(sigmoid_prob, student):
    other = mf.Measure(mf.families.relu(d=3), np.ones((2, 4)))
    for fn in (lambda p, m: mf.flow(p, m, 2), lambda p, m: mf.stationary(p, m)):
        with pytest.raises(mf.DataError, match="prob"):
            fn("not a problem", student)
        with pytest.raises(mf.MeasureError, match="mu"):
            fn(sigmoid_prob, other)
        with pytest.raises(mf.MeasureError, match="mu"):
            fn(sigmoid_prob, student.particles)


# ------------------------------------------------------------------------------------------------ docs
def test_docs_examples_run():
    """Every python block of docs/dynamics.md runs, in order, in one namespace."""
    import pathlib
    import re

    text = (pathlib.Path(__file__).parents[1] / "docs" / "dynamics.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) >= 4
    ns: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for block in blocks:
            exec(compile(block, "docs/dynamics.md", "exec"), ns)
