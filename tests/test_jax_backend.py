"""The JAX backend (``mf.Problem(..., backend="jax")``) against the numpy backend on every family of the
conformance suite (tests/conftest.py::FAMILIES), to 1e-10 relative: loss, prediction, residual, first
variation, velocity, particle HVP and the particle flow (fixed and adaptive steps, an output bias, weight
decay and a test particle of mass 0); the dense Hessian of the potential and particle Hessian on one family
of each kind (SECOND_ORDER). The numpy kernels are the
independent computation here (hand-derived block chain rule against JAX's autodiff of one forward map);
the JAX HVP is also checked against central differences of its own gradient. Skipped without JAX.

The whole numpy-backend suite can also be run on the JAX backend: ``MFSYM_BACKEND=jax python -m pytest
tests/...`` (tests/conftest.py makes ``backend="jax"`` the default of every sample problem).
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import mfsym as mf
from conftest import FAMILIES, random_problem

jax = pytest.importorskip("jax")
jax.config.update("jax_disable_most_optimizations", True)  # compile time dominates these tiny problems

RTOL = 1e-10
# the dense second-order kernels (Hessian of J, particle Hessian: vmapped Hessians and Jacobians, the longest
# compiles) on one family of each kind of map and output block; everything else on every family
SECOND_ORDER = {"relu-fixed-bias", "sigmoid-vec", "attention", "factored-attention", "deconv-dirichlet-2d",
                "custom-piecewise", "custom-tanh"}


def close(a, b, what):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    scale = max(1.0, float(np.max(np.abs(b)))) if b.size else 1.0
    err = float(np.max(np.abs(a - b))) if b.size else 0.0
    assert a.shape == b.shape and err <= RTOL * scale, f"{what}: JAX vs numpy differ by {err:.2e} (scale {scale:.2e})"


def pair(fam, **kw):
    prob, mu = random_problem(fam, n=6, m=4, seed=1)
    return (mf.Problem(fam, prob.data, backend="numpy", **kw), mf.Problem(fam, prob.data, backend="jax", **kw), mu)


@pytest.fixture(params=sorted(FAMILIES), scope="module")
def problems(request):
    return pair(FAMILIES[request.param]()) + (request.param,)


def test_second_order_kinds_exist():
    assert SECOND_ORDER <= set(FAMILIES)


def test_values_and_derivatives_match_numpy(problems):
    pn, pj, mu, name = problems
    fam = mu.family
    T = 0.7 * np.random.default_rng(3).standard_normal(mu.particles.shape)   # same shape: one compile each
    V = np.random.default_rng(4).standard_normal(mu.particles.shape)
    assert pj.backend_name == "jax" and "jax" in repr(pj)
    close(pj.loss(mu), pn.loss(mu), "loss")
    close(pj.prediction(mu), pn.prediction(mu), "prediction")
    close(pj.output_residual(mu), pn.output_residual(mu), "residual")
    close(pj.first_variation(mu, T), pn.first_variation(mu, T), "first variation")
    close(pj.velocity(mu, T), pn.velocity(mu, T), "velocity")
    close(pj.particle_gradient(mu), pn.particle_gradient(mu), "particle gradient")
    close(pj.hvp(mu, V), pn.hvp(mu, V), "HVP")
    if name in SECOND_ORDER:
        close(pj.hessian_potential(mu, T), pn.hessian_potential(mu, T), "Hessian of J")
        close(pj.particle_hessian(mu), pn.particle_hessian(mu), "particle Hessian")


def test_flow_matches_numpy(problems):
    pn, pj, mu, _ = problems
    nu = mu.copy(masses=np.r_[mu.masses[:-1], 0.0])            # a test particle moves in the field too
    dt = 0.05 / max(1.0, pn.residual(nu))   # steps of at most 0.05: no chaotic amplification of rounding
    for adaptive in (False, True):
        a = mf.flow(pn, nu, 8, dt, adaptive=adaptive, record_every=3)
        b = mf.flow(pj, nu, 8, dt, adaptive=adaptive, record_every=3)
        assert (a.stopped, a.rejected) == (b.stopped, b.rejected)
        close(b.losses, a.losses, "flow losses")
        close(b.velocity_norms, a.velocity_norms, "flow velocity norms")
        close(b.snapshots, a.snapshots, "flow snapshots")
        close(b.times, a.times, "flow times")


def test_bias_reg_and_logistic_match_numpy():
    fam = mf.families.tanh(d=2)
    rng = np.random.default_rng(5)
    X = rng.standard_normal((7, 2))
    mu = mf.Measure(fam, rng.standard_normal((3, fam.p)), rng.uniform(0.2, 1.0, 3), offset=[0.2])
    V = rng.standard_normal(mu.particles.shape)
    for data, loss in ((mf.Samples(X, rng.standard_normal(7)), "square"),
                       (mf.Samples(X, np.sign(rng.standard_normal(7))), "logistic")):
        nu = mu if loss == "square" else mf.Measure(fam, mu.particles, mu.masses)
        pn = mf.Problem(fam, data, loss=loss, reg=0.05)
        pj = mf.Problem(fam, data, loss=loss, reg=0.05, backend="jax")
        close(pj.loss(nu), pn.loss(nu), f"{loss} loss")
        close(pj.particle_gradient(nu), pn.particle_gradient(nu), f"{loss} gradient")
        close(pj.hvp(nu, V), pn.hvp(nu, V), f"{loss} HVP")
        close(pj.particle_hessian(nu), pn.particle_hessian(nu), f"{loss} particle Hessian")
        close(pj.residual(nu), pn.residual(nu), f"{loss} stationarity residual")
        nu = nu.copy(masses=np.r_[nu.masses[:-1], 0.0])
        a, b = mf.flow(pn, nu, 6, 0.5), mf.flow(pj, nu, 6, 0.5)
        close(b.losses, a.losses, f"{loss} flow losses (bias, reg)")
        close(b.measure.particles, a.measure.particles, f"{loss} flow particles")
        if nu.offset is not None:
            close(b.measure.offset, a.measure.offset, "flow output bias")


def test_hvp_is_the_derivative_of_the_gradient():
    fam = mf.families.sigmoid(d=3)
    prob, mu = random_problem(fam, n=9, m=5, seed=2)
    pj = mf.Problem(fam, prob.data, backend="jax")
    V = np.random.default_rng(6).standard_normal(mu.particles.shape)
    h = 1e-5
    fd = (pj.particle_gradient(mu.copy(particles=mu.particles + h * V))
          - pj.particle_gradient(mu.copy(particles=mu.particles - h * V))) / (2 * h)
    Hv = pj.hvp(mu, V)
    assert np.max(np.abs(Hv - fd)) <= 1e-8 * max(1.0, np.max(np.abs(Hv)))


def test_bad_backend_and_population_data_are_one_line_errors():
    fam = mf.families.relu(d=2)
    data = mf.Samples(np.ones((3, 2)), np.ones(3))
    for bad in ("torch", "JAX", ["jax"]):
        with pytest.raises(mf.DataError, match="backend: expected one of"):
            mf.Problem(fam, data, backend=bad)
    teacher = mf.GaussianTeacher(fam, mf.Measure(fam, np.ones((1, fam.p)), [1.0]))
    with pytest.raises(mf.DataError, match="backend: 'jax' supports sample data"):
        mf.Problem(fam, teacher, backend="jax")


def test_missing_jax_names_the_extra(monkeypatch):
    from mfsym import _jax

    _jax.require_jax.cache_clear()
    monkeypatch.setitem(sys.modules, "jax", None)  # import jax now raises ImportError
    try:
        with pytest.raises(mf.MfsymError, match=r"pip install mfsym\[jax\]") as info:
            mf.Problem(mf.families.relu(d=2), mf.Samples(np.ones((3, 2)), np.ones(3)), backend="jax")
        assert "\n" not in str(info.value)
    finally:
        _jax.require_jax.cache_clear()


def test_import_and_the_numpy_backend_never_import_jax():
    code = ("import sys, numpy as np, mfsym as mf; fam = mf.families.relu(d=2); "
            "p = mf.Problem(fam, mf.Samples(np.ones((3, 2)), np.ones(3))); "
            "mf.flow(p, mf.Measure(fam, np.ones((2, fam.p)), [0.5, 0.5]), 2); "
            "assert 'jax' not in sys.modules, 'jax imported'")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]


def test_many_queries_run_in_padded_chunks():
    fam = mf.families.sigmoid(d=3)
    rng = np.random.default_rng(0)
    data = mf.Samples(rng.standard_normal((2000, 3)), rng.standard_normal(2000))
    pn, pj = mf.Problem(fam, data), mf.Problem(fam, data, backend="jax")
    mu = mf.Measure(fam, rng.standard_normal((7, fam.p)))
    T = rng.standard_normal((5000, fam.p))  # chunks of 2^24 / (2000 * 5) = 1677 rows, the last one padded
    close(pj.first_variation(mu, T), pn.first_variation(mu, T), "first variation, 3 chunks")
    close(pj.velocity(mu, T), pn.velocity(mu, T), "velocity, 3 chunks")
    assert pj.velocity(mu, T[:0]).shape == (0, fam.p)


def test_a_jax_certificate_records_its_backend_and_verifies_on_it():
    fam = mf.families.relu(d=2)
    data, teacher = mf.datasets.teacher_student(fam, m_teacher=2, n=40, seed=3)
    rep = mf.check(mf.Problem(fam, data, backend="jax"), teacher)
    cert = rep.certificate
    assert cert["problem"]["backend"] == "jax" and mf.verify(cert) is True
    assert "backend" not in mf.check(mf.Problem(fam, data), teacher).certificate["problem"]
    forged = json.loads(json.dumps(cert))
    forged["problem"]["backend"] = "numpy"          # bound by the inputs digest
    assert mf.verify(forged) is False
    forged["problem"]["backend"] = "cupy"
    assert mf.verify(forged) is False
