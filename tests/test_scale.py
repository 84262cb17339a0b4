"""Matrix-free curvature and certificates that scale.

Ground truths: the dense kernels (``Family.jacobian`` / ``hessian_contract`` through the base-class
defaults), central finite differences, python-flint balls at 128-300 bits for the float-rigorous
bounds, and an independent dense construction of the symmetry directions.
"""

from __future__ import annotations

import flint
import numpy as np
import pytest

import mfsym as mf
from conftest import random_problem
from mfsym._ball import precision
from mfsym._enclose import BallProblem
from mfsym.families import Family, Homogeneous, OutputLinear
from mfsym.stability import _certificates as C
from mfsym.stability import _floatbound as FB
from mfsym.stability import spectrum, symmetries


def _points(fam, seed=0, Q=3, n=4):
    rng = np.random.default_rng(seed)
    T = 0.8 * rng.standard_normal((Q, fam.p))
    X = 0.8 * rng.standard_normal((n,) + fam.input_shape)
    U = rng.standard_normal((n, fam.out_dim))
    V = rng.standard_normal((Q, fam.p))
    return T, X, U, V


# ---------------------------------------------------------------------------- matrix-free kernels
def test_jvp_and_hvp_match_dense_kernels(family):
    """The structured jvp / hvp_contract / hvp_and_vjp equal the contractions of the dense Jacobian and Hessian."""
    T, X, U, V = _points(family)
    U2 = np.random.default_rng(9).standard_normal(U.shape)
    np.testing.assert_allclose(family.jvp(T, X, V), Family.jvp(family, T, X, V), rtol=1e-11, atol=1e-12)
    H_dense = np.einsum("qab,qb->qa", family.hessian_contract(T, X, U), V)
    np.testing.assert_allclose(family.hvp_contract(T, X, U, V), H_dense, rtol=1e-10, atol=1e-11)
    np.testing.assert_allclose(family.hvp_and_vjp(T, X, U, V, U2), H_dense + family.vjp(T, X, U2),
                               rtol=1e-10, atol=1e-11)
    np.testing.assert_allclose(family.hvp_and_vjp(T, X, U, V, None), H_dense, rtol=1e-10, atol=1e-11)


def test_jvp_and_hvp_match_finite_differences(family):
    """jvp = d/dt phi(theta + t v), hvp_contract = d/dt vjp(theta + t v, U), by central differences."""
    T, X, U, V = _points(family, seed=3)
    h = 1e-6
    fd_jvp = (family.phi(T + h * V, X) - family.phi(T - h * V, X)) / (2 * h)
    np.testing.assert_allclose(family.jvp(T, X, V), fd_jvp, rtol=1e-5, atol=1e-7)
    fd_hvp = (family.vjp(T + h * V, X, U) - family.vjp(T - h * V, X, U)) / (2 * h)
    np.testing.assert_allclose(family.hvp_contract(T, X, U, V), fd_hvp, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("reg", [0.0, 0.3])
def test_problem_hvp_matches_dense_hessian_and_finite_differences(reg):
    fam = mf.families.sigmoid(d=3, outputs=2, bias=True)
    prob, mu = random_problem(fam, n=7, m=4, seed=1)
    prob = mf.Problem(fam, prob.data, reg=reg)
    V = np.random.default_rng(2).standard_normal(mu.particles.shape)
    Hv = prob.hvp(mu, V)
    np.testing.assert_allclose(Hv.ravel(), prob.particle_hessian(mu) @ V.ravel(), rtol=1e-10, atol=1e-12)
    h = 1e-6
    g = lambda P: prob.particle_gradient(mu.copy(particles=P))  # noqa: E731
    fd = (g(mu.particles + h * V) - g(mu.particles - h * V)) / (2 * h)
    np.testing.assert_allclose(Hv, fd, rtol=1e-6, atol=1e-8)
    assert prob.meanfield_hessian(mu, V) == pytest.approx(float(np.sum(V * Hv)), rel=1e-12)


def test_hvp_at_width_never_forms_per_particle_hessians(monkeypatch):
    """At width 2000 the particle HVP goes through jvp/hvp_and_vjp only (a dense Hessian would fail here)."""
    fam = mf.families.relu(d=20)

    def forbidden(*args, **kwargs):
        raise AssertionError("hessian_contract/jacobian called by the HVP")

    monkeypatch.setattr(type(fam), "hessian_contract", forbidden)
    monkeypatch.setattr(type(fam), "jacobian", forbidden)
    rng = np.random.default_rng(0)
    prob = mf.Problem(fam, mf.Samples(rng.standard_normal((300, 20)), rng.standard_normal((300, 1))))
    mu = mf.Measure(fam, fam.random_particles(2000, seed=1), np.full(2000, 1 / 2000))
    V = rng.standard_normal(mu.particles.shape)
    Hv = prob.hvp(mu, V)
    # an independent check on a random subset: H v restricted to particle j via finite differences of F
    h = 1e-6
    g = lambda P: prob.particle_gradient(mu.copy(particles=P))  # noqa: E731
    fd = (g(mu.particles + h * V) - g(mu.particles - h * V)) / (2 * h)
    scale = np.abs(fd).max()
    assert np.max(np.abs(Hv - fd)) <= 1e-5 * scale


# ---------------------------------------------------------------------------- symmetries
def _dense_symmetries(prob, mu, rtol=1e-9):
    """The textbook construction (every generator as a dense column, then an SVD): the reference."""
    fam, (m, p), P, c = prob.family, mu.particles.shape, mu.particles, mu.masses
    cols = []

    def emb(j, v):
        out = np.zeros(m * p)
        out[j * p:(j + 1) * p] = v
        return out

    for j in np.flatnonzero(c == 0):
        cols += [emb(j, e) for e in np.eye(p)]
    live = np.flatnonzero(c != 0)
    if isinstance(fam, OutputLinear) and isinstance(fam, Homogeneous) and fam.degree >= 2:
        outer = fam.block_slice(fam.outer)
        for j in live:
            u = -P[j] / (fam.degree - 1)
            u[outer] = P[j, outer]
            cols.append(emb(j, u))
    outer_idx = np.arange(p)[fam.block_slice(fam.outer)]
    inner = np.setdiff1d(np.arange(p), outer_idx)
    for a in live:
        for b in live:
            if b <= a:
                continue
            if np.linalg.norm(P[a, inner] - P[b, inner]) <= rtol * max(1, np.linalg.norm(P[a, inner])):
                cols += [emb(b, np.eye(p)[k] / c[b]) - emb(a, np.eye(p)[k] / c[a]) for k in outer_idx]
            if np.linalg.norm(P[a] - P[b]) <= rtol * max(1, np.linalg.norm(P[a])):
                cols.append(emb(b, P[b] / c[b]) - emb(a, P[a] / c[a]))
    A = np.stack(cols, axis=1)
    U, s, _ = np.linalg.svd(A, full_matrices=False)
    return U[:, : int(np.sum(s > 1e-10 * s[0]))]


def test_sparse_symmetries_span_the_dense_construction():
    fam = mf.families.relu(d=2)
    rng = np.random.default_rng(0)
    P = rng.standard_normal((9, fam.p))
    P[3] = P[1]  # identical particles (same theta)
    P[5, 1:] = P[1, 1:]  # same inner weights, other output: a group of three for the output split
    P[7] = P[6]
    c = rng.uniform(0.2, 1.0, 9)
    c[8] = 0.0  # a dead particle
    data, _ = mf.datasets.teacher_student(fam, m_teacher=2, n=10, seed=0)
    prob = mf.Problem(fam, data)
    mu = mf.Measure(fam, P, c)
    sym = symmetries(prob, mu)
    B = sym.basis
    np.testing.assert_allclose(B.T @ B, np.eye(sym.dim), atol=1e-12)
    R = _dense_symmetries(prob, mu)
    assert sym.dim == R.shape[1]
    np.testing.assert_allclose(B @ B.T, R @ R.T, atol=1e-10)
    v = rng.standard_normal(B.shape[0])
    np.testing.assert_allclose(sym.project_out(v), v - R @ (R.T @ v), atol=1e-10)
    assert {k for k, _, _ in sym.kinds} == {"zero-mass", "rescaling", "identical-particles"}


def test_symmetries_at_width_are_sparse():
    """Width 5000: one rescaling direction per particle, O(m p) nonzeros, a unit basis."""
    fam = mf.families.relu(d=10)
    rng = np.random.default_rng(1)
    prob = mf.Problem(fam, mf.Samples(rng.standard_normal((20, 10)), rng.standard_normal((20, 1))))
    mu = mf.Measure(fam, fam.random_particles(5000, seed=2), np.full(5000, 2e-4))
    sym = symmetries(prob, mu)
    assert sym.dim == 5000 and sym.sparse.nnz == 5000 * fam.p
    norms = np.sqrt(np.asarray(sym.sparse.multiply(sym.sparse).sum(axis=0))).ravel()
    np.testing.assert_allclose(norms, 1.0, rtol=1e-12)


def test_lanczos_with_symmetries_matches_dense():
    """A relu point with rescalings and a duplicated particle: Lanczos on S-perp equals dense eigh on S-perp."""
    fam = mf.families.relu(d=2)
    data, _ = mf.datasets.teacher_student(fam, m_teacher=3, n=30, seed=2)
    prob = mf.Problem(fam, data)
    P = fam.random_particles(12, seed=3)
    P[4] = P[2]
    mu = mf.Measure(fam, P, np.full(12, 1 / 12))
    d = spectrum(prob, mu, method="dense", k=2)
    lz = spectrum(prob, mu, method="lanczos", k=2)
    assert d.symmetries.dim == lz.symmetries.dim == 13
    scale = abs(d.lambda_max)
    np.testing.assert_allclose(lz.eigenvalues, d.eigenvalues, atol=1e-7 * scale)
    assert abs(lz.lambda_max - d.lambda_max) <= 1e-8 * scale
    assert lz.lambda_min_full <= lz.lambda_min + 1e-12


# ---------------------------------------------------------------------------- float-rigorous bounds
def _exact(a):
    return [flint.arb(float(v)) for v in np.ravel(a)]


def test_fball_products_and_sums_enclose_exact_values():
    """Matrix products, sums, elementwise products and relu, against exact ball arithmetic at 300 bits,
    including catastrophic cancellation (float result 0, exact value 1)."""
    rng = np.random.default_rng(0)
    A = rng.standard_normal((5, 40)) * np.exp(rng.uniform(-20, 20, (5, 40)))
    B = rng.standard_normal((40, 3))
    A[0, :3], B[:3, 0] = [1e16, 1.0, -1e16], [1.0, 1.0, 1.0]
    A[0, 3:], B[3:, 0] = 0.0, 0.0
    Ab = FB.FBall.exact(A, 1e-3)
    C = Ab @ FB.FBall.exact(B)
    assert C.mid[0, 0] == 0.0  # the float product lost the 1 ...
    with precision(300):
        for i in range(5):
            for j in range(3):
                lo = sum((flint.arb(float(A[i, k])) * flint.arb(float(B[k, j])) for k in range(40)), flint.arb(0))
                rad = sum((flint.arb(1e-3) * abs(flint.arb(float(B[k, j]))) for k in range(40)), flint.arb(0))
                assert C.lower()[i, j] <= lo - rad and lo + rad <= C.upper()[i, j]  # ... the enclosure did not
        x = rng.standard_normal(50) * 1e8
        x[:2] = [1e20, -1e20]
        s = FB.FBall.exact(x).sum(axis=0)
        ref = sum(_exact(x), flint.arb(0))
        assert float(s.lower()) <= ref <= float(s.upper())
        y = FB.FBall.exact(rng.standard_normal(50), 1e-9) * FB.FBall.exact(rng.standard_normal(50))
        assert np.all(y.rad > 0)
        r = FB.FBall(np.array([-1.0, 1.0, 1e-12]), np.array([0.5, 0.5, 1e-11])).relu()
        assert r.mid[0] == 0 and r.rad[0] == 0 and r.mid[1] == 1.0
        assert r.lower()[2] <= 0.0 and r.upper()[2] >= 1.1e-11


@pytest.mark.parametrize("make", [lambda: mf.families.relu(d=3), lambda: mf.families.relu(d=2, outputs=0, bias=True),
                                  lambda: mf.families.relu(d=2, outputs=2, bias=True)],
                         ids=["relu", "relu-fixed-bias", "relu-2-outputs"])
@pytest.mark.parametrize("reg", [0.0, 0.25])
def test_float_rigorous_bounds_contain_the_ball_values(make, reg):
    fam = make()
    rng = np.random.default_rng(4)
    X, Y = rng.standard_normal((9,) + fam.input_shape), rng.standard_normal((9, fam.out_dim))
    prob = mf.Problem(fam, mf.Samples(X, Y), reg=reg)
    c = rng.uniform(0.2, 1.0, 5)
    c[2] = 0.0
    mu = mf.Measure(fam, rng.standard_normal((5, fam.p)), c)
    V = rng.standard_normal(mu.particles.shape)
    W, wb = prob.stationarity_weights(mu)
    with precision(128):
        for radius in (0.0, 1e-7):
            fp = FB.FloatProblem(prob, mu.particles, mu.masses, radius)
            bp = BallProblem(prob, mu.particles, mu.masses, radius)
            for (lo, hi), ball in ((fp.quadratic_form(V), bp.quadratic_form(V)),
                                   (fp.relative_residual(W), bp.relative_residual(W, wb))):
                assert lo <= hi
                if radius == 0:  # 128-bit balls are essentially exact: their midpoint lies inside
                    assert lo <= ball.mid() <= hi
                    assert hi - lo <= 1e-10 * max(1.0, abs(float(ball.mid())))  # and the bound is tight
                else:  # both enclose the same set over the box: they intersect
                    assert lo <= ball.upper() and ball.lower() <= hi
        assert prob.meanfield_hessian(mu, V) == pytest.approx(float(fp.quadratic_form(V)[0]), rel=1e-6)


def test_float_rigorous_kink_is_undecided_and_other_families_are_not_supported():
    fam = mf.families.relu(d=2, outputs=0, bias=True)
    X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    prob = mf.Problem(fam, mf.Samples(X, np.ones((3, 1))))
    mu = mf.Measure(fam, np.array([[1.0, 2.0, -1.0]]), [1.0])  # z = w.x + b = 0 at the first sample
    with pytest.raises(FB.FloatUndecided, match="kink"):
        FB.FloatProblem(prob, mu.particles, mu.masses).quadratic_form(np.ones((1, 3)))
    sig = mf.families.sigmoid(d=2)
    assert FB.supports(mf.Problem(sig, mf.Samples(X, np.ones((3, 1))))) is None
    assert FB.method_for(mf.Problem(sig, mf.Samples(X, np.ones((3, 1)))), mf.Measure(sig, np.ones((1, sig.p)))) == "arb"


# ---------------------------------------------------------------------------- certificates at scale
@pytest.fixture(scope="module")
def float_saddle():
    """A relu saddle (width 2, Newton on grad F = 0) checked with the float-rigorous path forced on (as at scale)."""
    fam = mf.families.relu(d=2)
    data, _ = mf.datasets.teacher_student(fam, m_teacher=3, n=30, seed=4)
    prob = mf.Problem(fam, data)
    mu = mf.stationary(prob, mf.Measure(fam, fam.random_particles(2, seed=14), [0.5, 0.5]), target="saddle", tol=1e-12)
    old = FB.FLOAT_ABOVE
    FB.FLOAT_ABOVE = 0
    try:
        rep = mf.check(prob, mu)
        yield prob, mu, rep
    finally:
        FB.FLOAT_ABOVE = old


def test_float_rigorous_certificate_verifies_and_rejects_tampering(float_saddle, monkeypatch):
    import copy
    import json

    prob, mu, rep = float_saddle
    monkeypatch.setattr(FB, "FLOAT_ABOVE", 0)
    cert = rep.certificate
    st = next(c for c in cert["claims"] if c["name"] == "stationarity")
    assert st["method"] == "float-rigorous" and st["outcome"] == "proved"
    assert rep.finite_width.classification == "strict-saddle" and rep.finite_width.certified
    curv = [c for c in cert["claims"] if c["name"].startswith("negative-curvature")]
    assert len(curv) == 2 and all(c["method"] == "float-rigorous" and c["outcome"] == "proved" for c in curv)
    assert mf.verify(cert) is True
    for claim in cert["claims"]:
        if claim.get("method") != "float-rigorous" or claim["enclosure"] is None:
            continue
        i = cert["claims"].index(claim)
        bad = copy.deepcopy(cert)
        bad["claims"][i]["method"] = "arb"
        assert mf.verify(bad) is False
        bad = copy.deepcopy(cert)
        lo, hi = (float.fromhex(v) for v in claim["enclosure"])
        bad["claims"][i]["enclosure"] = [(lo - 10 * (hi - lo + abs(lo))).hex(), hi.hex()]
        assert mf.verify(bad) is False
        bad = copy.deepcopy(cert)
        bad["claims"][i]["outcome"] = "refuted" if claim["outcome"] == "proved" else "proved"
        assert mf.verify(bad) is False
    assert mf.verify(json.dumps(cert)) is True


def test_float_rigorous_and_arb_claims_agree(float_saddle, monkeypatch):
    """The same claims in balls (128 bits) and float-rigorously: same outcomes, intersecting enclosures."""
    prob, mu, rep = float_saddle
    for claim in rep.certificate["claims"]:
        if claim["name"] not in ("stationarity", "negative-curvature", "negative-curvature-box"):
            continue
        monkeypatch.setattr(FB, "FLOAT_ABOVE", 10**9)
        with precision(128):
            arb = C._recompute(prob, mu, claim, rep.certificate["claims"])
        assert arb["method"] == "arb" and arb["outcome"] == claim["outcome"]
        if claim["enclosure"] is not None:
            (l1, h1), (l2, h2) = ([float.fromhex(v) for v in e] for e in (claim["enclosure"], arb["enclosure"]))
            assert l1 <= h2 and l2 <= h1


def test_positive_definite_at_scale_is_undecided_with_its_dimension():
    fam = mf.families.relu(d=3)
    rng = np.random.default_rng(0)
    prob = mf.Problem(fam, mf.Samples(rng.standard_normal((10, 3)), rng.standard_normal((10, 1))))
    m = C.PD_LIMIT // fam.p + 1
    mu = mf.Measure(fam, fam.random_particles(m, seed=1), np.full(m, 1 / m))
    sym = symmetries(prob, mu)
    claims = C.positive_definite_claims(prob, mu, sym.sparse, 1.0, 0.1, 1e-3)
    assert [c["outcome"] for c in claims] == ["undecided", "undecided"]
    assert "symmetry_basis" not in claims[0] and claims[0]["symmetry_dim"] == sym.dim == m
    assert "dense" in claims[0]["reason"]
    assert C._recompute(prob, mu, claims[0], claims)["outcome"] == "undecided"
    assert C._recompute(prob, mu, claims[1], claims)["outcome"] == "undecided"
    bad = {**claims[0], "symmetry_dim": sym.dim - 1}
    assert C._recompute(prob, mu, bad, [bad, claims[1]])["outcome"] == "refuted"
