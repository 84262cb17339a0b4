"""Determinism (issue 7, item 3): every random choice takes a seed; the same seed gives the same report.

Reports contain no wall-clock fields (checked below), so ``Report.to_json()`` is compared whole, byte for
byte. "Different seeds differ where randomness matters": the gap search's scrambled-Sobol sample and
random starts depend on the seed, so witnesses differ at the float level while the supremum agrees.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import mfsym as mf


@pytest.fixture(scope="module")
def relu_unstable():
    fam = mf.families.relu(d=2)
    data, _ = mf.datasets.teacher_student(fam, m_teacher=3, n=25, seed=1)
    prob = mf.Problem(fam, data)
    return prob, mf.datasets.width_one_fit(prob, starts=3, seed=0, tol=1e-12)


@pytest.fixture(scope="module")
def sigmoid_unstable():
    fam = mf.families.sigmoid(d=1, outputs=2)
    data, _ = mf.datasets.teacher_student(fam, m_teacher=3, n=20, seed=3, scale=2.0)
    prob = mf.Problem(fam, data)
    return prob, mf.datasets.width_one_fit(prob, starts=3, seed=0, tol=1e-12)


def _walk(obj, path=""):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield f"{path}.{k}", v
            yield from _walk(v, f"{path}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _walk(v, f"{path}[{i}]")


@pytest.mark.parametrize("which", ["relu_unstable", "sigmoid_unstable"])
def test_check_same_seed_same_report(request, which):
    prob, mu = request.getfixturevalue(which)
    a = mf.check(prob, mu, seed=7)
    b = mf.check(prob, mu, seed=7)
    assert a.verdict.value == "unstable" and a.mean_field.escaping_sets  # randomness is exercised
    keys = {p.rsplit(".", 1)[-1].lower() for p, _ in _walk(a.to_dict())}
    assert not keys & {"time", "times", "seconds", "elapsed", "wall", "timestamp", "date"}  # nothing to drop
    assert a.to_json() == b.to_json()
    assert json.dumps(a.certificate, sort_keys=True) == json.dumps(b.certificate, sort_keys=True)
    assert a.latex() == b.latex() and a.summary() == b.summary()


def test_check_different_seeds_same_verdict_different_search(relu_unstable):
    prob, mu = relu_unstable
    a, b = mf.check(prob, mu, seed=0), mf.check(prob, mu, seed=1)
    assert a.verdict == b.verdict == "unstable"
    assert a.mean_field.gap == pytest.approx(b.mean_field.gap, rel=1e-6)  # the same supremum ...
    assert a.to_json() != b.to_json()  # ... found along a seeded path (the report records it)
    assert mf.verify(a.certificate) is True and mf.verify(b.certificate) is True


def test_population_check_is_deterministic():
    fam = mf.families.relu(d=3)
    teacher = mf.Measure(fam, fam.random_particles(3, seed=1), np.full(3, 1 / 3))
    prob = mf.Problem(fam, mf.GaussianTeacher(fam, teacher))
    mu = mf.datasets.width_one_fit(prob, starts=2, seed=0, tol=1e-10)
    assert mf.check(prob, mu, seed=3, escaping=False).to_json() == mf.check(prob, mu, seed=3, escaping=False).to_json()


def test_gap_same_seed_same_result_different_seed_different_witness(sigmoid_unstable):
    prob, mu = sigmoid_unstable
    g1, g2 = mf.meanfield.gap(prob, mu, seed=5), mf.meanfield.gap(prob, mu, seed=5)
    assert g1.to_dict() == g2.to_dict()
    g3 = mf.meanfield.gap(prob, mu, seed=np.random.default_rng(5))  # a Generator with the same seed
    assert g3.to_dict() == g1.to_dict()
    g4 = mf.meanfield.gap(prob, mu, seed=6)
    assert g4.value == pytest.approx(g1.value, rel=1e-6)
    assert not np.array_equal(g4.witness, g1.witness)


def test_escaping_sets_same_seed_same_sets(relu_unstable):
    prob, mu = relu_unstable
    g = mf.meanfield.gap(prob, mu, seed=2)
    a = mf.meanfield.escaping_sets(prob, mu, gap=g, seed=2)
    b = mf.meanfield.escaping_sets(prob, mu, gap=g, seed=2)
    assert a and json.dumps([s.to_dict() for s in a]) == json.dumps([s.to_dict() for s in b])


def test_flow_and_stationary_are_reproducible(sigmoid_unstable):
    prob, mu = sigmoid_unstable
    start = mu.copy(particles=mu.particles + 0.1 * np.random.default_rng(0).standard_normal(mu.particles.shape))
    t1 = mf.flow(prob, start, steps=30, dt=0.5, record_every=5)
    t2 = mf.flow(prob, start, steps=30, dt=0.5, record_every=5)
    for key in ("losses", "times", "velocity_norms", "snapshots", "snapshot_steps"):
        assert np.array_equal(getattr(t1, key), getattr(t2, key)), key
    assert np.array_equal(t1.measure.particles, t2.measure.particles) and t1.rejected == t2.rejected
    s1, s2 = mf.stationary(prob, start), mf.stationary(prob, start)
    assert np.array_equal(s1.particles, s2.particles)


@pytest.mark.parametrize("make", [
    lambda s: mf.datasets.teacher_student(mf.families.relu(d=3), m_teacher=3, n=30, noise=0.1, seed=s),
    lambda s: mf.datasets.teacher_student(mf.families.sigmoid(d=2, outputs=2), n=20, inputs="sphere", seed=s),
    lambda s: mf.datasets.teacher_student(mf.families.attention(d=2, outputs=1, tokens=3), n=10, seed=s),
    lambda s: mf.datasets.deconvolution(mf.families.deconvolution(d=1), m_spikes=3, n=32, grid=False, noise=0.01,
                                        seed=s),
])
def test_dataset_generators_same_seed_same_data(make):
    (d1, t1), (d2, t2), (d3, t3) = make(4), make(4), make(5)
    assert np.array_equal(d1.X, d2.X) and np.array_equal(d1.Y, d2.Y)
    assert np.array_equal(t1.particles, t2.particles) and np.array_equal(t1.masses, t2.masses)
    assert not np.array_equal(d1.Y, d3.Y)
    (g1, _), (g2, _) = make(np.random.default_rng(4)), make(np.random.default_rng(4))
    assert np.array_equal(g1.Y, g2.Y)


def test_stationary_configurations_same_seed_same_measure():
    fam = mf.families.tanh(d=1)
    data, _ = mf.datasets.teacher_student(fam, m_teacher=3, n=15, seed=2, scale=2.0)
    prob = mf.Problem(fam, data)
    a = mf.datasets.width_one_fit(prob, starts=3, seed=11)
    b = mf.datasets.width_one_fit(prob, starts=3, seed=11)
    assert np.array_equal(a.particles, b.particles)
    m1 = mf.datasets.underwidth_minima(prob, 2, starts=3, seed=4)
    m2 = mf.datasets.underwidth_minima(prob, 2, starts=3, seed=4)
    assert [x.loss for x in m1] == [x.loss for x in m2]
    assert all(np.array_equal(x.measure.particles, y.measure.particles) for x, y in zip(m1, m2))
    c1 = mf.datasets.collapsed(prob, 2, starts=2, seed=1)
    assert np.array_equal(c1.particles, mf.datasets.collapsed(prob, 2, starts=2, seed=1).particles)


def test_monte_carlo_population_is_seeded():
    fam = mf.families.sigmoid(d=2)
    teacher = mf.Measure(fam, fam.random_particles(2, seed=0))
    mu = mf.Measure(fam, fam.random_particles(2, seed=1))

    def loss(seed):
        return mf.Problem(fam, mf.GaussianTeacher(fam, teacher, mc_samples=200, seed=seed)).loss(mu)

    assert loss(3) == loss(3)
    assert loss(3) != loss(4)


def test_family_random_draws_are_seeded():
    fam = mf.families.erf(d=2)
    assert np.array_equal(fam.random_particles(4, seed=9), fam.random_particles(4, seed=9))
    assert not np.array_equal(fam.random_particles(4, seed=9), fam.random_particles(4, seed=10))
    assert np.array_equal(fam.random_inputs(5, seed=2), fam.random_inputs(5, seed=2))
