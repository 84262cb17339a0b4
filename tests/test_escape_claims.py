"""Escaping sets as certificate claims (mfsym/meanfield/_escape.py, docs/certificates.md, escaping-set claims).

Every proved region is checked independently in floats: points drawn in the cap (or the eta-ball and the
direction cap) satisfy the set's inequality with the stated margin, and the frozen flow grows the homogeneous
variable at the stated rate there. Tampering with any field of the claim makes ``mf.verify`` return False;
at global minimizers no region is ever proved.
"""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

import mfsym as mf
from mfsym.meanfield import _escape

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def _hex(claim, key):
    return float.fromhex(claim[key])


def _cap_points(centre, alpha, n, rng):
    """Unit vectors at angle <= alpha from ``centre`` (uniform angle, including the rim)."""
    u = centre / np.linalg.norm(centre)
    V = rng.standard_normal((n, u.size))
    V -= np.outer(V @ u, u)
    V /= np.linalg.norm(V, axis=1, keepdims=True)
    beta = alpha * np.sqrt(rng.uniform(size=n))
    beta[: n // 10] = alpha  # the rim, where the bound is tightest
    return np.cos(beta)[:, None] * u + np.sin(beta)[:, None] * V


@pytest.fixture(scope="module")
def relu_unstable():
    # relu with trained outputs, inner dimension p = 7 (no box cover): mu = delta_0 is stationary (phi = 0 and
    # grad J = 0 at theta = 0), residual r = -y, and J < 0 somewhere on the sphere
    rng = np.random.default_rng(3)
    fam = mf.families.relu(d=6, outputs=1)
    X, Y = rng.standard_normal((20, 6)), rng.standard_normal(20)
    prob = mf.Problem(fam, mf.Samples(X, Y))
    mu = mf.Measure(fam, np.zeros((1, 7)), [1.0])
    rep = mf.check(prob, mu, restarts=4)
    return prob, mu, rep


def _escaping_claims(rep):
    return [c for c in rep.certificate["claims"] if c["name"] == "escaping-set"]


def test_cap_claim_is_true_where_it_says(relu_unstable):
    prob, mu, rep = relu_unstable
    assert rep.verdict == "unstable"
    (claim,) = _escaping_claims(rep)
    assert claim["outcome"] == "proved" and claim["region"] == "spherical-cap" and claim["kind"] == "homogeneous"
    (s,) = rep.mean_field.escaping_sets
    assert s.certified and s.claim is claim
    c, alpha, margin = _hex(claim, "level"), _hex(claim, "angle"), _hex(claim, "margin")
    assert 0 < alpha <= 0.5 and margin > 0 and _hex(claim, "threshold") == -c
    assert c == pytest.approx(s.level)
    centre = mf.stability._certificates.decode(claim["witness"], "w")
    T = _cap_points(centre, alpha, 4000, np.random.default_rng(0))
    J = prob.first_variation(mu, T)
    assert np.max(J) <= -c - margin * (1 - 1e-6)
    # a cap twice as wide is no longer inside the set everywhere, or the claim would have been larger: the
    # schedule returns the first proved radius, so only check that the certified bound is not vacuous
    assert np.max(J) > -c - 10 * (margin + c)
    # q = 2 (trained outputs): the frozen flow d theta/dt = -grad J gives d|theta|/dt = -2|theta| J >= 2c|theta|
    assert claim["growth"] == "exponential" and _hex(claim, "growth_rate") == pytest.approx(2 * c)
    for r in (0.5, 2.0):
        vel = -prob.grad_potential(mu, r * T)
        rate = np.sum(T * vel, axis=1)  # d|theta|/dt along theta = r T
        assert np.all(rate >= 2 * c * r * (1 - 1e-9))


def test_cap_claim_verifies_and_every_edit_fails(relu_unstable):
    prob, mu, rep = relu_unstable
    cert = json.loads(json.dumps(rep.certificate))
    assert cert["mean_field_search"]["escaping"] is True
    assert mf.verify(cert) is True
    idx = next(i for i, c in enumerate(cert["claims"]) if c["name"] == "escaping-set")
    claim = cert["claims"][idx]
    edits = {"angle": (2 * _hex(claim, "angle")).hex(), "margin": (2 * _hex(claim, "margin")).hex(),
             "growth_rate": (1.0).hex(), "statement": claim["statement"] + " ", "radius": (0.1).hex()}
    for key, val in edits.items():
        bad = copy.deepcopy(cert)
        bad["claims"][idx][key] = val
        assert mf.verify(bad) is False, key
    deleted = copy.deepcopy(cert)
    del deleted["claims"][idx]
    assert mf.verify(deleted) is False  # verify re-builds the sets: a missing claim is noticed
    flag = copy.deepcopy(cert)
    flag["mean_field_search"]["escaping"] = False
    assert mf.verify(flag) is False
    with pytest.raises(mf.MfsymError, match="angle"):
        bad = copy.deepcopy(cert)
        bad["claims"][idx]["angle"] = (3.0).hex()
        mf.verify(bad)


def test_output_linear_ball_claim_any_inner_dimension():
    # sigmoid with vector outputs (k = 2, so the direction cap of A has a positive angle) and inner dimension
    # 5 (w in R^4 and a bias: no box cover); mu = zero outer block is stationary with r = -y
    rng = np.random.default_rng(1)
    fam = mf.families.sigmoid(d=4, outputs=2, bias=True)
    X, Y = rng.standard_normal((15, 4)), rng.standard_normal((15, 2))
    prob = mf.Problem(fam, mf.Samples(X, Y))
    blocks = fam.unpack(fam.random_particles(2, seed=0))
    blocks[fam.outer] = np.zeros_like(blocks[fam.outer])
    mu = mf.Measure(fam, fam.pack(**blocks))
    sets = mf.meanfield.escaping_sets(prob, mu)
    assert len(sets) == 1 and sets[0].certified
    claim = sets[0].claim
    assert claim["outcome"] == "proved" and claim["region"] == "eta-ball"
    c, r, alpha = _hex(claim, "level"), _hex(claim, "radius"), _hex(claim, "angle")
    assert r > 0 and alpha > 0
    st = mf.meanfield.structure(prob)
    w = mf.stability._certificates.decode(claim["witness"], "w")
    Uw, eta_w = w[st.outer_cols], w[st.inner_cols]
    rng = np.random.default_rng(5)
    n = 3000
    D = rng.standard_normal((n, eta_w.size))
    D *= (r * rng.uniform(size=n) ** (1 / eta_w.size) / np.linalg.norm(D, axis=1))[:, None]
    D[: n // 10] *= r / np.linalg.norm(D[: n // 10], axis=1, keepdims=True)  # the boundary sphere
    U = _cap_points(Uw, alpha, n, rng)
    T = np.zeros((n, fam.p))
    T[:, st.outer_cols], T[:, st.inner_cols] = U, eta_w + D
    J = prob.first_variation(mu, T)  # = <U, G(eta)> (output-linear, |U| = 1)
    assert np.max(J) <= -c * (1 - 1e-9)
    # d|A|/dt = -<A/|A|, grad_A J> = -<U, G> >= c for positive masses
    vel = -prob.grad_potential(mu, T)
    assert np.all(np.sum(U * vel[:, st.outer_cols], axis=1) >= c * (1 - 1e-9))
    assert _hex(claim, "growth_rate") == pytest.approx(c) and claim["growth"] == "linear"


def _ss18(k):
    fam = mf.families.relu(d=k, outputs=0)
    return mf.Problem(fam, mf.GaussianTeacher(fam, mf.Measure(fam, np.eye(k), np.ones(k))))


def test_safran_shamir_spurious_minimum_is_unstable_with_a_certified_cap():
    # Safran & Shamir 2018 (arXiv 1712.08968), k = n = 8: the spurious family of loss 0.021508 (their
    # Results/newExp-8-8.mat, WbadNew); found here by their GD protocol from 30 starts
    k = 8
    prob = _ss18(k)
    c = mf.census(prob, k, 30, init="ss18", masses=np.ones(k), seed=0, tol=1e-7, progress=False, check=False)
    bad = [e for e in c.minima if e.loss > 1e-3]
    assert bad and bad[0].loss == pytest.approx(0.021508, abs=1e-6)
    mu = mf.Measure(prob.family, c.endpoints[bad[0].starts[0]], np.ones(k))
    rep = mf.check(prob, mu, restarts=6)
    assert rep.verdict == "unstable"
    (claim,) = _escaping_claims(rep)
    assert claim["outcome"] == "proved" and _hex(claim, "angle") > 0 and _hex(claim, "margin") > 0
    assert claim["growth"] == "linear"  # outputs fixed: q = 1, d|w|/dt >= c
    centre = mf.stability._certificates.decode(claim["witness"], "w")
    T = _cap_points(centre, _hex(claim, "angle"), 500, np.random.default_rng(1))
    assert np.max(prob.first_variation(mu, T)) < -_hex(claim, "level")
    assert mf.verify(rep.certificate) is True
    bad_cert = copy.deepcopy(rep.certificate)
    i = rep.certificate["claims"].index(claim)
    bad_cert["claims"][i]["angle"] = (4 * _hex(claim, "angle")).hex()
    assert mf.verify(bad_cert) is False


def test_no_escaping_claim_at_a_global_minimizer():
    # W = I is Safran & Shamir's global minimum: J = 0 identically, so no region can be proved inside K_c
    k = 6
    prob = _ss18(k)
    mu = mf.Measure(prob.family, np.eye(k), np.ones(k))
    rep = mf.check(prob, mu, restarts=3)
    assert rep.verdict == "global-minimizer" and not _escaping_claims(rep)
    rng = np.random.default_rng(0)
    for w in rng.standard_normal((6, k)):
        for alpha in (0.3, 1e-3):
            cl = _escape.claim(prob, mu, "homogeneous", -1, 1e-12, w / np.linalg.norm(w), 0.0, alpha)
            assert cl["outcome"] != "proved"
    # a sample teacher = student problem, both classes
    for fam in (mf.families.relu(d=3, outputs=1), mf.families.sigmoid(d=2, outputs=2)):
        data, teacher = mf.datasets.teacher_student(fam, m_teacher=2, n=10, seed=2)
        prob = mf.Problem(fam, data)
        st = mf.meanfield.structure(prob)
        for w in fam.random_particles(5, seed=3):
            cl = _escape.claim(prob, teacher, st.kind, -1, 1e-12, _escape.norm_centre(st.kind, st, w), 0.1, 0.1)
            assert cl["outcome"] != "proved", cl


def test_discontinuous_neurons_use_the_direct_enclosure_only():
    import sympy as sp

    w = sp.MatrixSymbol("w", 2, 1)
    x = sp.MatrixSymbol("x", 2, 1)
    a = sp.Symbol("a")
    z = (w.T * x)[0, 0]
    step = mf.families.from_expr(a * sp.Heaviside(z) * z, params={"a": (), "w": (2,)}, inputs={"x": (2,)})
    smooth = mf.families.from_expr(a * sp.tanh(z), params={"a": (), "w": (2,)}, inputs={"x": (2,)})
    X = np.random.default_rng(0).standard_normal((5, 2))
    assert _escape._discontinuous(mf.Problem(step, mf.Samples(X, X[:, :1])))
    assert not _escape._discontinuous(mf.Problem(smooth, mf.Samples(X, X[:, :1])))
