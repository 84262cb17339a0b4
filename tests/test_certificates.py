"""Ball-arithmetic bridge, enclosures and certificates: verify accepts, tampering is rejected (docs/certificates.md)."""

from __future__ import annotations

import copy
import json
import math

import flint
import numpy as np
import pytest
import sympy as sp

import mfsym as mf
from mfsym._ball import Program, Undecided, precision
from mfsym.stability._certificates import curvature_claim
from mfsym._enclose import BallProblem, balls


def test_program_matches_mpmath_and_is_honest():
    x, y = sp.symbols("x y", real=True)
    exprs = [sp.exp(-x) / (1 + sp.exp(-x)), sp.erf(x * y) + sp.tanh(y), sp.Rational(1, 3) * sp.pi * x ** 2,
             sp.atan2(y, x), sp.sqrt(x ** 2 + y ** 2), sp.Max(0, x - y)]
    prog = Program(exprs, [x, y])
    with precision(200):
        out = prog([flint.arb(0.75), flint.arb(-1.25)])
    ref = [math.exp(-0.75) / (1 + math.exp(-0.75)), math.erf(-0.9375) + math.tanh(-1.25), math.pi * 0.75 ** 2 / 3,
           math.atan2(-1.25, 0.75), math.hypot(0.75, -1.25), 2.0]
    for o, r in zip(out, ref):
        assert o.contains(flint.arb(r).mid()) or abs(float(o.mid()) - r) < 1e-15
        assert o.rad() < 1e-50
    # a kink inside the ball: Heaviside gives the hull [0, 1], DiracDelta refuses to decide
    h = Program([sp.Heaviside(x)], [x])([flint.arb(0, 0.1)])[0]
    assert h.contains(0) and h.contains(1)
    with pytest.raises(Undecided):
        Program([sp.DiracDelta(x)], [x])([flint.arb(0, 0.1)])
    assert Program([sp.DiracDelta(x)], [x])([flint.arb(0.2, 0.1)])[0] == 0


def test_precision_context_restores():
    before = flint.ctx.prec
    with precision(300):
        assert flint.ctx.prec == 300
    assert flint.ctx.prec == before
    with pytest.raises(mf.CertificateError, match="precision"):
        with precision(10):
            pass


@pytest.mark.parametrize("make", [lambda: mf.families.relu(d=2), lambda: mf.families.sigmoid(d=2, outputs=2),
                                  lambda: mf.families.erf(d=2, bias=False)])
def test_enclosures_contain_float_values(make):
    fam = make()
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((6, 2)), rng.standard_normal((6, fam.out_dim))
    prob = mf.Problem(fam, mf.Samples(X, Y), reg=0.05)
    mu = mf.Measure(fam, rng.standard_normal((3, fam.p)), rng.uniform(0.2, 1, 3))
    V = rng.standard_normal(mu.particles.shape)
    th = rng.standard_normal(fam.p)
    with precision(128):
        bp = BallProblem(prob, mu.particles, mu.masses)
        H = prob.particle_hessian(mu)
        checks = [(bp.potential(balls(th)), prob.first_variation(mu, th[None])[0]),
                  (bp.quadratic_form(V), V.ravel() @ H @ V.ravel()), (bp.loss(), prob.loss(mu))]
        checks += list(zip(bp.grad_potential(balls(th)), prob.grad_potential(mu, th[None])[0]))
        Hb = bp.hessian()
        checks += [(Hb[i, j], H[i, j]) for i in range(H.shape[0]) for j in range(H.shape[0])]
    for b, v in checks:
        assert abs(float(b.mid()) - v) <= 1e-12 * max(1.0, abs(v))


@pytest.fixture(scope="module")
def cert():
    fam = mf.families.relu(d=2)
    data, _ = mf.datasets.teacher_student(fam, m_teacher=3, n=25, seed=1)
    prob = mf.Problem(fam, data)
    mu = mf.datasets.width_one_fit(prob, starts=3, seed=0, tol=1e-12)
    rep = mf.check(prob, mu)
    assert rep.verdict == "unstable"
    return json.loads(json.dumps(rep.certificate))


def _claim(c, name):
    return next(x for x in c["claims"] if x["name"] == name)


def test_certificate_verifies_and_round_trips(cert):
    assert mf.verify(cert) is True
    assert mf.verify(json.dumps(cert)) is True
    assert {c["name"] for c in cert["claims"]} >= {"stationarity", "non-globality", "positive-definite",
                                                    "residual-covered"}
    assert all(c["outcome"] == "proved" for c in cert["claims"])
    assert cert["mfsym_version"] == mf.__version__ and cert["precision_bits"] >= 53


def _bump(hexval, factor=1.0 + 1e-6):
    return (float.fromhex(hexval) * factor + 1e-12).hex()


TAMPERS = {
    "data value": lambda c: c["problem"]["data"]["Y"]["hex"].__setitem__(0, _bump(c["problem"]["data"]["Y"]["hex"][0])),
    "particle": lambda c: c["problem"]["measure"]["particles"]["hex"].__setitem__(1, _bump(c["problem"]["measure"]["particles"]["hex"][1])),
    "witness": lambda c: _claim(c, "non-globality")["witness"]["hex"].__setitem__(1, _bump(_claim(c, "non-globality")["witness"]["hex"][1])),
    "claimed enclosure": lambda c: _claim(c, "non-globality")["enclosure"].__setitem__(1, _bump(_claim(c, "non-globality")["enclosure"][1], 0.5)),
    "lambda lower": lambda c: _claim(c, "positive-definite").__setitem__("lambda_lower", _bump(_claim(c, "positive-definite")["lambda_lower"], 0.9)),
    "threshold": lambda c: _claim(c, "stationarity").__setitem__("threshold", (1e-3).hex()),
    "verdict": lambda c: c.__setitem__("verdict", "global-minimizer"),
    "outcome": lambda c: _claim(c, "non-globality").__setitem__("outcome", "undecided"),
}


@pytest.mark.parametrize("what", sorted(TAMPERS))
def test_tampered_certificate_rejected(cert, what):
    bad = copy.deepcopy(cert)
    TAMPERS[what](bad)
    if what in ("data value", "particle"):
        # re-sign the inputs as a forger would: the recomputed claims must still fail
        from mfsym.stability._certificates import inputs_digest
        bad["inputs_sha256"] = inputs_digest(bad)
    assert mf.verify(bad) is False


def test_malformed_certificate_raises(cert):
    with pytest.raises(mf.CertificateError, match="claims"):
        mf.verify({k: v for k, v in cert.items() if k != "claims"})
    with pytest.raises(mf.CertificateError, match="JSON"):
        mf.verify("{not json")
    bad = copy.deepcopy(cert)
    bad["problem"]["measure"]["particles"]["hex"][0] = "zz"
    from mfsym.stability._certificates import inputs_digest as digest
    bad["inputs_sha256"] = digest(bad)
    with pytest.raises(mf.CertificateError, match="particles"):
        mf.verify(bad)
    bad = copy.deepcopy(cert)
    bad["problem"]["family"] = {"name": "custom", "expr_srepr": "__import__('os')", "params": {}, "inputs": {}}
    bad["inputs_sha256"] = digest(bad)
    with pytest.raises(mf.CertificateError, match="unexpected"):
        mf.verify(bad)


def test_negative_curvature_point_and_box():
    """A random (non-stationary) point of a sigmoid problem: a bottom eigenvector with a clearly negative
    eigenvalue is certified at the point and uniformly on a small box, and refuted for -H's top vector."""
    fam = mf.families.sigmoid(d=2, outputs=1)
    data, _ = mf.datasets.teacher_student(fam, m_teacher=3, n=30, seed=0)
    prob = mf.Problem(fam, data)
    mu = mf.Measure(fam, 2 * fam.random_particles(4, seed=3))
    w, V = np.linalg.eigh(prob.particle_hessian(mu))
    assert w[0] < -1e-3
    v = V[:, 0].reshape(mu.particles.shape)
    with precision(128):
        assert curvature_claim(prob, mu, v, 0.0)["outcome"] == "proved"
        assert curvature_claim(prob, mu, v, 1e-6)["outcome"] == "proved"
        assert curvature_claim(prob, mu, V[:, -1].reshape(mu.particles.shape), 0.0)["outcome"] == "refuted"
        assert curvature_claim(prob, mu, v, 10.0)["outcome"] != "proved"
