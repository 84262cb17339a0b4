"""Ball enclosures of the Gaussian-population kernels (mfsym._popball) against independent computations:
mpmath closed forms at 40 digits, mpmath central finite differences, sympy's own differentiation of the
packed pair kernel, and sampled points of boxes."""

import flint
import mpmath
import numpy as np
import pytest
import sympy as sp

import mfsym as mf
from mfsym._ball import Undecided, precision
from mfsym._errors import CertificateError
from mfsym._popball import kernel_balls, pair_balls


def _k_mp(kind, u, v):
    """The closed form written independently in mpmath (Cho & Saul 2009 eq. (6) with n = 1; Williams 1997 eq. (11))."""
    u, v = [mpmath.mpf(x) for x in u], [mpmath.mpf(x) for x in v]
    a, b, c = (mpmath.fsum(x * y for x, y in zip(p, q)) for p, q in ((u, u), (v, v), (u, v)))
    if kind == "relu":
        nu, nv = mpmath.sqrt(a), mpmath.sqrt(b)
        t = mpmath.acos(max(-1, min(1, c / (nu * nv))))
        return nu * nv / (2 * mpmath.pi) * (mpmath.sin(t) + (mpmath.pi - t) * mpmath.cos(t))
    return 2 / mpmath.pi * mpmath.asin(2 * c / mpmath.sqrt((1 + 2 * a) * (1 + 2 * b)))


def _fd(kind, u, v, same=False):
    """Gradient, Hessian and cross Hessian by central differences of the mpmath value (step 1e-12)."""
    h = mpmath.mpf("1e-12")
    d = len(u)

    def f(x, y):
        return _k_mp(kind, x, x if same else y)

    def shift(x, i, s):
        x = [mpmath.mpf(t) for t in x]
        x[i] += s
        return x

    def ku(x):  # k(x, v) with the second argument held (self: held at u)
        return _k_mp(kind, x, v)

    g = [(ku(shift(u, i, h)) - ku(shift(u, i, -h))) / (2 * h) for i in range(d)]
    H = [[(ku(shift(shift(u, i, h), j, h)) - ku(shift(shift(u, i, h), j, -h)) - ku(shift(shift(u, i, -h), j, h))
           + ku(shift(shift(u, i, -h), j, -h))) / (4 * h * h) for j in range(d)] for i in range(d)]
    X = [[(_k_mp(kind, shift(u, i, h), shift(v, j, h)) - _k_mp(kind, shift(u, i, h), shift(v, j, -h))
           - _k_mp(kind, shift(u, i, -h), shift(v, j, h)) + _k_mp(kind, shift(u, i, -h), shift(v, j, -h)))
          / (4 * h * h) for j in range(d)] for i in range(d)]
    return g, H, X


def _b(x, r=0.0):
    return [flint.arb(float(t), r) if r else flint.arb(float(t)) for t in x]


def _near(ball, val, tol):
    return abs(float(ball.mid()) - float(val)) <= tol + float(ball.rad())


@pytest.fixture(autouse=True, scope="module")
def _mp():
    with mpmath.workdps(40):
        yield


CASES = {"generic": lambda u, r: r.standard_normal(u.size), "near-parallel": lambda u, r: 1.7 * u + 1e-7 * r.standard_normal(u.size),
         "near-antiparallel": lambda u, r: -0.6 * u + 1e-7 * r.standard_normal(u.size)}


@pytest.mark.parametrize("kind", ["relu", "erf"])
@pytest.mark.parametrize("case", list(CASES))
def test_value_and_derivatives_match_mpmath(kind, case):
    rng = np.random.default_rng(1)
    u = rng.standard_normal(3)
    v = CASES[case](u, rng)
    with precision(128):
        kb = kernel_balls(kind, _b(u), _b(v), 2)
    assert _near(kb["k"], _k_mp(kind, u, v), 1e-36) and float(kb["k"].rad()) < 1e-25
    g, H, X = _fd(kind, u, v)
    for i in range(3):
        assert _near(kb["g"][i], g[i], 1e-9)
        for j in range(3):
            assert _near(kb["h"][i][j], H[i][j], 1e-6)
            assert _near(kb["x"][i][j], X[i][j], 1e-6)
            assert float(kb["h"][i][j].rad()) < 1e-15  # 1/sin t cancelled: tight even at t ~ 1e-7
    gv = _fd(kind, v, u)[0]  # grad in the second argument = grad of k(v, u) in its first
    assert all(_near(kb["gv"][i], gv[i], 1e-9) for i in range(3))


@pytest.mark.parametrize("kind", ["relu", "erf"])
def test_self_interaction_exact(kind):
    """k(u, u): relu k = |u|^2/2, grad u/2, Hessian 0, cross Hessian I/2 (the generic formula is 0/0 there)."""
    u = np.array([0.3, -1.1, 0.7])
    with precision(128):
        kb = kernel_balls(kind, _b(u), None, 2)
        if kind == "relu":
            assert kb["k"].contains(sum(t * t for t in _b(u)) / 2) and float(kb["k"].rad()) < 1e-30
            assert all(kb["h"][i][j] == 0 for i in range(3) for j in range(3))
            assert all(kb["x"][i][j].contains(flint.arb(0.5 if i == j else 0)) for i in range(3) for j in range(3))
    g, H, X = _fd(kind, u, u)
    for i in range(3):
        assert _near(kb["g"][i], g[i], 1e-9)
        for j in range(3):
            # one-sided curvature of relu's k(., u) at u: the Hessian is continuous there, FD error ~ h
            assert _near(kb["h"][i][j], H[i][j], 1e-5)
            assert _near(kb["x"][i][j], X[i][j], 1e-5)


@pytest.mark.parametrize("kind", ["relu", "erf"])
@pytest.mark.parametrize("same", [False, True])
def test_box_encloses_sampled_points(kind, same):
    """Boxes of half-width 1e-3 (including a near-parallel pair and the same point in both arguments)."""
    rng = np.random.default_rng(2)
    u = rng.standard_normal(3)
    v = 1.2 * u + 1e-4 * rng.standard_normal(3)
    r = 1e-3
    with precision(128):
        kb = kernel_balls(kind, _b(u, r), None if same else _b(v, r), 2)
        for _ in range(20):
            uu = u + rng.uniform(-r, r, 3)
            vv = uu if same else v + rng.uniform(-r, r, 3)
            pt = kernel_balls(kind, _b(uu), None if same else _b(vv), 2)
            assert kb["k"].contains(pt["k"])
            for i in range(3):
                assert kb["g"][i].contains(pt["g"][i]) and kb["gv"][i].contains(pt["gv"][i])
                for j in range(3):
                    assert kb["h"][i][j].contains(pt["h"][i][j]) and kb["x"][i][j].contains(pt["x"][i][j])
    assert max(float(kb["h"][i][j].rad()) for i in range(3) for j in range(3)) < 0.1


@pytest.mark.parametrize("name", ["relu", "erf"])
def test_pair_kernel_matches_sympy_packed(name):
    """pair_balls with output weights vs sympy's differentiation of K(theta, theta') in components."""
    opts = {"bias": False} if name == "erf" else {}
    fam = mf.families.by_name(name, d=2, outputs=2, **opts)
    teacher = mf.GaussianTeacher(fam, mf.Measure(fam, np.array([[1.0, -0.5, 0.8, 0.3]]), np.ones(1)))
    K, (th, tp) = teacher.kernel_expr(components=True)
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal(fam.p), rng.standard_normal(fam.p)
    args = list(th) + list(tp)
    grad = [sp.diff(K, s) for s in args]
    exprs = [K] + grad + [sp.diff(g, s) for g in grad[:fam.p] for s in args]
    vals = sp.lambdify(args, exprs, "mpmath")(*[mpmath.mpf(float(t)) for t in np.concatenate([x, y])])
    p = fam.p
    with precision(128):
        pb = pair_balls(fam, _b(x), _b(y), 2)
    assert _near(pb["K"], vals[0], 1e-30)
    for i in range(p):
        assert _near(pb["g"][i], vals[1 + i], 1e-30) and _near(pb["gs"][i], vals[1 + p + i], 1e-30)
        for j in range(p):
            assert _near(pb["h"][i][j], vals[1 + 2 * p + 2 * p * i + j], 1e-30)
            assert _near(pb["x"][i][j], vals[1 + 2 * p + 2 * p * i + p + j], 1e-30)


def test_relu_zero_vector_and_bad_arguments():
    with precision(64):
        kb = kernel_balls("relu", _b([0.0, 1e-3], 1e-2), _b([1.0, 2.0]), 0)
        assert kb["k"].contains(0) and float(kb["k"].lower()) >= -1e-9  # [0, |u||v|/2] up to the radius rounding
        for w in ([0.0, 1e-3], [1e-2, -1e-2], [-5e-3, 1e-2]):  # values at points of the box
            assert kb["k"].contains(flint.arb(mpmath.nstr(_k_mp("relu", w, [1.0, 2.0]), 15)))
        with pytest.raises(Undecided, match="contains 0"):
            kernel_balls("relu", _b([0.0, 1e-3], 1e-2), _b([1.0, 2.0]), 1)
        with pytest.raises(CertificateError, match="order"):
            kernel_balls("relu", _b([1.0]), _b([1.0]), 3)
        with pytest.raises(CertificateError, match="kind"):
            kernel_balls("tanh", _b([1.0]), _b([1.0]), 0)
