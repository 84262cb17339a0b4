"""Property tests (hypothesis) over random families, data and measures for the numeric core."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mfsym as mf

FAMS = {
    "relu": lambda d, k: mf.families.relu(d=d, outputs=k, bias=False),
    "relu0": lambda d, k: mf.families.relu(d=d, outputs=0, bias=True),
    "sigmoid": lambda d, k: mf.families.sigmoid(d=d, outputs=k),
    "tanh": lambda d, k: mf.families.tanh(d=d, outputs=k, bias=False),
    "erf": lambda d, k: mf.families.erf(d=d, outputs=k),
    "attention": lambda d, k: mf.families.attention(d=d, outputs=k, tokens=3),
    "deconvolution": lambda d, k: mf.families.deconvolution(d=d, width="1/2"),
}


@st.composite
def problems(draw):
    name = draw(st.sampled_from(sorted(FAMS)))
    d = draw(st.integers(1, 3))
    k = draw(st.integers(1, 2))
    fam = FAMS[name](d, k)
    n, m = draw(st.integers(1, 6)), draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n,) + fam.input_shape)
    Y = rng.standard_normal((n, fam.out_dim))
    reg = draw(st.sampled_from([0.0, 0.1]))
    signed = reg == 0 and draw(st.booleans())  # a regulariser needs nonnegative masses
    masses = rng.uniform(0.1, 1.0, m) * (rng.choice([-1, 1], m) if signed else 1)
    mu = mf.Measure(fam, 0.7 * rng.standard_normal((m, fam.p)), masses)
    return mf.Problem(fam, mf.Samples(X, Y), reg=reg), mu, rng


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_velocity_is_minus_gradient_of_J(case):
    prob, mu, rng = case
    theta = 0.7 * rng.standard_normal((1, prob.family.p))
    v = prob.velocity(mu, theta)[0]
    h = 1e-6
    for j in range(prob.family.p):
        e = np.zeros_like(theta)
        e[0, j] = h
        fd = (prob.first_variation(mu, theta + e)[0] - prob.first_variation(mu, theta - e)[0]) / (2 * h)
        assert abs(-v[j] - fd) <= 1e-5 * (1 + abs(fd))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_hessians_are_symmetric_and_hvp_consistent(case):
    prob, mu, rng = case
    H = prob.hessian_potential(mu, mu.particles)
    assert np.allclose(H, np.swapaxes(H, 1, 2), atol=1e-12)
    P = prob.particle_hessian(mu)
    V = rng.standard_normal(mu.particles.shape)
    assert np.allclose(P, P.T, atol=1e-12)
    assert np.allclose(prob.hvp(mu, V).ravel(), P @ V.ravel(), atol=1e-10)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_particle_gradient_is_mass_times_potential_gradient(case):
    prob, mu, _ = case
    g = prob.particle_gradient(mu)
    shape = mu.particles.shape
    h = 1e-6
    flat = mu.particles.ravel()
    for j in range(0, flat.size, max(1, flat.size // 5)):
        e = np.zeros_like(flat)
        e[j] = h
        fd = (prob.loss(mu.copy(particles=(flat + e).reshape(shape))) -
              prob.loss(mu.copy(particles=(flat - e).reshape(shape)))) / (2 * h)
        assert abs(g.ravel()[j] - fd) <= 1e-5 * (1 + abs(fd))
