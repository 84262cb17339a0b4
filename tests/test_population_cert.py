"""Population curvature enclosures (PopulationBallProblem) and the certificates that rest on them: the ball
Hessian, gradient and potential against finite differences of the float loss (an independent computation),
uniformity over boxes, certified strict-local-min on Safran & Shamir's spurious minimum (k = 6), certified
strict-saddle (the global minimum W = I: tests/test_analyses.py, ss18_certified --quick)."""

import json
from pathlib import Path

import flint
import numpy as np
import pytest

import mfsym as mf
from mfsym._ball import Undecided, precision
from mfsym._enclose import ball_problem

SS18 = Path(__file__).resolve().parents[1] / "analyses" / "data" / "ss18_minima.json"


def _problem(fam, k=3, reg=0.0):
    teacher = mf.Measure(fam, fam.random_particles(k, seed=1), np.full(k, 0.5))
    return mf.Problem(fam, mf.GaussianTeacher(fam, teacher), reg=reg)


FAMILIES = {"relu": lambda: mf.families.relu(d=3), "relu-fixed": lambda: mf.families.relu(d=3, outputs=0),
            "erf": lambda: mf.families.erf(d=3, bias=False)}


def _mid(M):
    return np.array([[float(M[i, j].mid()) for j in range(M.ncols())] for i in range(M.nrows())])


@pytest.mark.parametrize("name", list(FAMILIES))
def test_ball_hessian_matches_finite_differences(name):
    """Hessian, particle gradient and potential vs central differences of prob.loss; two identical particles
    exercise the self/parallel pairs (relu's generic formula is 0/0 there)."""
    fam = FAMILIES[name]()
    prob = _problem(fam, reg=0.01 if name == "erf" else 0.0)
    P = fam.random_particles(3, seed=2)
    P = np.vstack([P, P[:1]])  # particle 3 equals particle 0
    c = np.array([0.3, 0.2, 0.5, 0.1])
    mu = mf.Measure(fam, P, c)
    with precision(128):
        bp = ball_problem(prob, P, c)
        H = _mid(bp.hessian())
        G = np.array([[float(g.mid()) for g in bp.grad_potential(bp.P[j])] for j in range(mu.m)]) * c[:, None]
        J = np.array([float(bp.potential(bp.P[j]).mid()) for j in range(mu.m)])
        V = np.random.default_rng(0).standard_normal(P.shape)
        q = float(bp.quadratic_form(V).mid())
    x0, h = P.ravel(), 1e-4

    def F(x):
        return prob.loss(mf.Measure(fam, x.reshape(P.shape), c))

    N = x0.size
    E = np.eye(N) * h
    G_fd = np.array([(F(x0 + E[i]) - F(x0 - E[i])) / (2 * h) for i in range(N)])
    H_fd = np.array([[(F(x0 + E[i] + E[j]) - F(x0 + E[i] - E[j]) - F(x0 - E[i] + E[j]) + F(x0 - E[i] - E[j]))
                      / (4 * h * h) for j in range(N)] for i in range(N)])
    assert np.abs(G.ravel() - G_fd).max() < 1e-8
    assert np.abs(H - H_fd).max() < 2e-5
    assert q == pytest.approx(V.ravel() @ H @ V.ravel(), abs=1e-12)
    # J_mu(theta_j) = dF/dc_j (the first variation), by differences in the masses
    dc = 1e-6
    J_fd = [(prob.loss(mf.Measure(fam, P, c + dc * np.eye(4)[j])) - prob.loss(mf.Measure(fam, P, c - dc * np.eye(4)[j])))
            / (2 * dc) for j in range(4)]
    assert np.abs(J - np.asarray(J_fd)).max() < 1e-8


@pytest.mark.parametrize("name", ["relu", "erf"])
def test_ball_hessian_is_uniform_over_the_box(name):
    fam = FAMILIES[name]()
    prob = _problem(fam)
    P = fam.random_particles(3, seed=3)
    c = np.array([0.4, 0.3, 0.3])
    r = 1e-3
    with precision(96):
        Hb = ball_problem(prob, P, c, radius=r).hessian()
        rng = np.random.default_rng(4)
        for _ in range(5):
            Q = P + rng.uniform(-r, r, P.shape)
            Hq = ball_problem(prob, Q, c).hessian()
            assert all(Hb[i, j].contains(Hq[i, j]) for i in range(Hb.nrows()) for j in range(Hb.ncols()))
    assert max(float(Hb[i, j].rad()) for i in range(Hb.nrows()) for j in range(Hb.ncols())) < 0.1  # O(r) wide


def _ss18(k, n):
    e = next(e for e in json.loads(SS18.read_text())["minima"] if (e["k"], e["n"]) == (k, n))
    fam = mf.families.relu(d=k, outputs=0)
    prob = mf.Problem(fam, mf.GaussianTeacher(fam, mf.Measure(fam, np.eye(k), np.ones(k))))
    return prob, mf.Measure(fam, np.array(e["W"]).T.copy(), np.ones(n))


def test_ss18_spurious_minimum_certified_strict_local_min():
    """Safran & Shamir 2018, Table 1, k = n = 6: loss 0.025081 (their Results/newExp-6-6.mat representative)."""
    prob, mu = _ss18(6, 6)
    rep = mf.check(prob, mu, refine=True, escaping=False)
    assert prob.loss(mu) == pytest.approx(0.025081, abs=1e-6)
    assert rep.verdict == "unstable"
    assert rep.finite_width.classification == "strict-local-min" and rep.finite_width.certified
    claims = {c["name"]: c for c in rep.certificate["claims"]}
    assert claims["stationarity"]["outcome"] == "proved"
    assert claims["positive-definite"]["outcome"] == "proved" and claims["residual-covered"]["outcome"] == "proved"
    assert claims["non-globality"]["outcome"] == "proved"
    assert mf.verify(rep.certificate) is True
    # a radius too small to cover the stationarity residual must fail verification
    cert = json.loads(json.dumps(rep.certificate))
    pd = next(c for c in cert["claims"] if c["name"] == "positive-definite")
    pd["radius"] = (float.fromhex(pd["radius"]) * 1e-6).hex()
    assert mf.verify(cert) is False


def test_population_saddle_certified():
    """All neurons equal (the symmetric critical point of the identity teacher, k = 3): negative curvature."""
    k = 3
    fam = mf.families.relu(d=k, outputs=0)
    prob = mf.Problem(fam, mf.GaussianTeacher(fam, mf.Measure(fam, np.eye(k), np.ones(k))))
    # on the line W = alpha * ones the gradient is along ones: the critical alpha by a 1-D Newton on dF/dalpha
    alpha = 0.6
    for _ in range(30):
        mu = mf.Measure(fam, np.full((k, k), alpha), np.ones(k))
        g = prob.particle_gradient(mu).sum()
        hh = prob.particle_hessian(mu).sum()
        alpha -= g / hh
    mu = mf.Measure(fam, np.full((k, k), alpha), np.ones(k))
    assert np.abs(prob.particle_gradient(mu)).max() < 1e-13
    rep = mf.check(prob, mu, escaping=False)
    assert rep.finite_width.classification == "strict-saddle" and rep.finite_width.certified
    names = {c["name"]: c["outcome"] for c in rep.certificate["claims"]}
    assert names["negative-curvature"] == "proved" and names["negative-curvature-box"] == "proved"
    assert mf.verify(rep.certificate) is True


def test_dead_relu_particle_is_undecided_not_wrong():
    """A live particle at w = 0: relu's kernel is not differentiable there; the enclosure says so."""
    fam = mf.families.relu(d=2)
    prob = _problem(fam, k=2)
    P = np.array([[1.0, 0.0, 0.0], [0.5, 1.0, -0.2]])
    with precision(64):
        bp = ball_problem(prob, P, np.array([0.5, 0.5]))
        J0 = prob.first_variation(mf.Measure(fam, P, np.array([0.5, 0.5])), P[:1])[0]
        assert J0 == 0 and bp.potential(bp.P[0]).contains(flint.arb(0))
        with pytest.raises(Undecided, match="contains 0"):
            bp.hessian()


def test_positive_definite_claim_is_sharp_not_overclaiming():
    """The claim H(box) + sigma S S^T >= lambda I at W = I (k = 3, lambda_min = 1/4 - 1/(2 pi)): proved just below
    the true lambda_min with a tiny box, never proved just above it, undecided (not refuted) when the box is too
    wide."""
    from mfsym.stability import _certificates as C
    from mfsym.stability._spectrum import symmetries

    k = 3
    fam = mf.families.relu(d=k, outputs=0)
    prob = mf.Problem(fam, mf.GaussianTeacher(fam, mf.Measure(fam, np.eye(k), np.ones(k))))
    mu = mf.Measure(fam, np.eye(k), np.ones(k))
    S = symmetries(prob, mu).basis
    lam = 0.25 - 1 / (2 * np.pi)
    assert np.linalg.eigvalsh(prob.particle_hessian(mu))[0] == pytest.approx(lam, abs=1e-12)
    with precision(128):
        def outcome(l, r):
            return C.positive_definite_claims(prob, mu, S, 2.0, l, r)[0]["outcome"]
        assert outcome(lam * (1 - 1e-6), 1e-12) == "proved"
        assert outcome(lam * (1 + 1e-6), 1e-12) != "proved"
        assert outcome(lam * 0.5, 1e-3) == "proved"
        # too wide a box is no proof, and no refutation either: H(theta_hat) itself is positive definite
        assert outcome(lam * 0.5, 0.05) == "undecided"


def test_erf_population_minimum_certified():
    """erf (Williams' arcsin kernel), trained output weights: a width-one fit of a 4-neuron teacher is a certified
    strict local minimum with the stationarity residual enclosed, and verify re-proves it."""
    fam = mf.families.erf(d=3, bias=False)
    prob = _problem(fam, k=4)
    mu = mf.datasets.width_one_fit(prob, starts=2, seed=0, tol=1e-12)
    rep = mf.check(prob, mu, escaping=False)
    claims = {c["name"]: c["outcome"] for c in rep.certificate["claims"]}
    assert claims["stationarity"] == "proved"
    assert rep.finite_width.classification == "strict-local-min" and rep.finite_width.certified
    assert mf.verify(rep.certificate) is True
