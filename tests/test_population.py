"""Gaussian populations: closed-form relu/erf kernels against independent quadrature, Monte Carlo of the
family's own kernels, finite differences and the componentwise sympy kernel."""

from __future__ import annotations

import shutil
import subprocess

import mpmath
import numpy as np
import pytest
import sympy as sp

import mfsym as mf

CLOSED = {
    "relu": lambda: mf.families.relu(d=3),
    "relu-fixed": lambda: mf.families.relu(d=3, outputs=0),
    "relu-vec": lambda: mf.families.relu(d=2, outputs=2),
    "erf": lambda: mf.families.erf(d=3, bias=False),
    "erf-fixed": lambda: mf.families.erf(d=2, outputs=0, bias=False),
    "erf-vec": lambda: mf.families.erf(d=2, outputs=2, bias=False),
}


def _setup(fam, seed=0, m=3, mt=2):
    rng = np.random.default_rng(seed)
    signed = fam.outer is None
    teacher = mf.Measure(fam, rng.standard_normal((mt, fam.p)), rng.uniform(0.4, 1.0, mt))
    masses = rng.uniform(0.3, 1.0, m) * (np.where(np.arange(m) % 2, -1, 1) if signed else 1)
    mu = mf.Measure(fam, rng.standard_normal((m, fam.p)), masses)
    return teacher, mu, rng


# ---------------------------------------------------------------- independent references (mpmath)
def _angle(w, v):
    with mpmath.workdps(40):
        w, v = [mpmath.mpf(float(x)) for x in w], [mpmath.mpf(float(x)) for x in v]
        nw, nv = mpmath.sqrt(sum(x * x for x in w)), mpmath.sqrt(sum(x * x for x in v))
        cos = sum(x * y for x, y in zip(w, v)) / (nw * nv)
        return nw, nv, mpmath.acos(max(min(cos, 1), -1))


def relu_kernel_quad(w, v):
    """E[relu(w.x) relu(v.x)] by quadrature of the angular integral in the plane of w and v:
    (1/pi)|w||v| int max(cos f, 0) max(cos(f - t), 0) df (the radial integral is int r^3 e^{-r^2/2} = 2)."""
    nw, nv, t = _angle(w, v)
    with mpmath.workdps(30):
        f = lambda p: max(mpmath.cos(p), 0) * max(mpmath.cos(p - t), 0)  # noqa: E731
        pts = sorted({-mpmath.pi / 2, t - mpmath.pi / 2, mpmath.pi / 2, t + mpmath.pi / 2, 3 * mpmath.pi / 2})
        return float(nw * nv * mpmath.quad(f, pts) / mpmath.pi)


def erf_kernel_quad(w, v):
    """E[erf(w.x) erf(v.x)] = E_z[erf(|w| z) erf(b1 z / sqrt(1 + 2 b2^2))] with v.x = b1 z + b2 z',
    using E_z'[erf(mu + s z')] = erf(mu / sqrt(1 + 2 s^2)); the 1-D integral by mpmath quadrature."""
    nw, nv, t = _angle(w, v)
    with mpmath.workdps(30):
        b1, b2 = nv * mpmath.cos(t), nv * mpmath.sin(t)
        g = lambda z: mpmath.erf(nw * z) * mpmath.erf(b1 * z / mpmath.sqrt(1 + 2 * b2**2)) * mpmath.npdf(z)  # noqa: E731
        return float(mpmath.quad(g, [-mpmath.inf, 0, mpmath.inf]))


def independent_risk(fam, mu, teacher, kq):
    _, W = _blocks(fam, mu.particles)
    A, W = _blocks(fam, np.vstack([mu.particles, teacher.particles]))
    om = np.concatenate([mu.masses, -teacher.masses])
    total = 0.0
    for i in range(len(om)):
        for j in range(len(om)):
            total += om[i] * om[j] * float(A[i] @ A[j]) * kq(W[i], W[j])
    return 0.5 * total


def _blocks(fam, P):
    B = fam.unpack(P)
    A = B["a"].reshape(P.shape[0], -1) if "a" in B else np.ones((P.shape[0], 1))
    return A, B["w"]


@pytest.mark.parametrize("name,kq", [("relu", relu_kernel_quad), ("erf", erf_kernel_quad)])
def test_kernel_matches_quadrature_including_degenerate_pairs(name, kq):
    fam = CLOSED[name + "-fixed"]()
    d = fam.p
    rng = np.random.default_rng(3)
    w = rng.standard_normal(d)
    perp = rng.standard_normal(d)
    perp -= (perp @ w) / (w @ w) * w
    pairs = [(w, rng.standard_normal(d)), (w, 2.5 * w), (w, -0.7 * w), (w, w + 1e-7 * perp), (w, perp),
             (w, -w + 1e-6 * perp), (0.1 * w, 3 * rng.standard_normal(d))]
    for a, b in pairs:
        teacher = mf.Measure(fam, b[None], [1.0])
        prob = mf.Problem(fam, mf.GaussianTeacher(fam, teacher))
        zero = mf.Measure(fam, np.zeros((1, d)), [0.0])
        J = -prob.first_variation(zero, a[None])[0]  # J = -sum_t c*_t k(w*_t, w)
        assert abs(J - kq(a, b)) < 1e-12 * max(1.0, abs(J)), (a, b)


@pytest.mark.parametrize("name,kq", [("relu", relu_kernel_quad), ("relu-vec", relu_kernel_quad),
                                     ("erf", erf_kernel_quad), ("erf-vec", erf_kernel_quad)])
def test_population_loss_matches_independent_closed_form(name, kq):
    fam = CLOSED[name]()
    teacher, mu, _ = _setup(fam, seed=1)
    prob = mf.Problem(fam, mf.GaussianTeacher(fam, teacher))
    assert abs(prob.loss(mu) - independent_risk(fam, mu, teacher, kq)) < 1e-9


def _batch_se(values):
    """Mean and batch-means standard error of per-batch estimates (rows)."""
    values = np.asarray(values)
    return values.mean(axis=0), values.std(axis=0, ddof=1) / np.sqrt(values.shape[0])


@pytest.mark.parametrize("name", ["relu", "relu-fixed", "erf", "erf-vec"])
def test_population_agrees_with_monte_carlo_of_the_family_neuron(name):
    """1e6 Gaussian inputs through the family's own phi / vjp / jacobian / hessian_contract kernels;
    every closed-form quantity within 5 batch-means standard errors."""
    fam = CLOSED[name]()
    teacher, mu, rng = _setup(fam, seed=2)
    prob = mf.Problem(fam, mf.GaussianTeacher(fam, teacher))
    T = rng.standard_normal((2, fam.p))
    P = np.vstack([mu.particles, teacher.particles])
    om = np.concatenate([mu.masses, -teacher.masses])
    batches = {"loss": [], "J": [], "G": [], "M": [], "H": []}
    for b in range(20):
        X = fam.random_inputs(50_000, seed=100 + b)
        r = np.einsum("s,snk->nk", om, fam.phi(P, X))
        n = X.shape[0]
        batches["loss"].append(0.5 * np.mean(np.sum(r**2, axis=1)))
        batches["J"].append(np.einsum("qnk,nk->q", fam.phi(T, X), r) / n)
        batches["G"].append(fam.vjp(T, X, r / n))
        Jac = fam.jacobian(mu.particles[:2], X)
        batches["M"].append(np.einsum("jnka,lnkb->jalb", Jac, Jac, optimize=True) / n)
        if name.startswith("erf"):  # relu's Hessian is a Dirac mass on w.x = 0: no sample estimate
            batches["H"].append(fam.hessian_contract(T, X, r / n))
    closed = {"loss": prob.loss(mu), "J": prob.first_variation(mu, T), "G": prob.grad_potential(mu, T),
              "M": prob.backend.interaction(mu.particles[:2], mu.masses[:2]), "H": prob.hessian_potential(mu, T)}
    for key, vals in batches.items():
        if not vals:
            continue
        mean, se = _batch_se(vals)
        assert np.all(np.abs(closed[key] - mean) <= 5 * se + 1e-12), (key, closed[key] - mean, se)
        assert np.max(se) < 0.02  # the comparison has teeth


@pytest.mark.parametrize("name", sorted(CLOSED))
def test_derivatives_match_finite_differences(name):
    fam = CLOSED[name]()
    teacher, mu, rng = _setup(fam, seed=4)
    prob = mf.Problem(fam, mf.GaussianTeacher(fam, teacher))
    T = rng.standard_normal((3, fam.p))
    T[2] = 1.7 * mu.particles[0]  # a query parallel to a particle (and its w-block)
    h, E = 1e-6, np.eye(fam.p)
    G, H = prob.grad_potential(mu, T), prob.hessian_potential(mu, T)
    Gfd = np.stack([(prob.first_variation(mu, T + h * e) - prob.first_variation(mu, T - h * e)) / (2 * h) for e in E], 1)
    Hfd = np.stack([(prob.grad_potential(mu, T + h * e) - prob.grad_potential(mu, T - h * e)) / (2 * h) for e in E], 2)
    assert np.max(np.abs(G - Gfd)) < 1e-7
    assert np.max(np.abs(H - Hfd)) < 1e-6
    assert np.max(np.abs(H - np.swapaxes(H, 1, 2))) < 1e-12
    # the particle Hessian (potential Hessian + interaction M) against differences of the particle gradient
    m, p = mu.particles.shape
    Hp = prob.particle_hessian(mu)
    cols = []
    for i in range(m * p):
        dP = np.zeros(m * p)
        dP[i] = h
        gp = prob.particle_gradient(mu.copy(particles=mu.particles + dP.reshape(m, p)))
        gm = prob.particle_gradient(mu.copy(particles=mu.particles - dP.reshape(m, p)))
        cols.append(((gp - gm) / (2 * h)).ravel())
    assert np.max(np.abs(Hp - np.array(cols).T)) < 1e-6
    V = rng.standard_normal((m, p))
    assert np.allclose(prob.hvp(mu, V).ravel(), Hp @ V.ravel(), atol=1e-12)


def test_relu_collapsed_parallel_and_zero_particles_are_finite_and_smooth():
    """Equal, antiparallel and zero particles: the relu frame formulas have no 0/0 (sympy cancelled 1/sin t)."""
    fam = mf.families.relu(d=3)
    rng = np.random.default_rng(5)
    th = rng.standard_normal(fam.p)
    teacher = mf.Measure(fam, np.vstack([th, -th]), [1.0, 0.5])
    P = np.vstack([th, th, 2 * th, np.zeros(fam.p)])
    mu = mf.Measure(fam, P, [0.2, 0.3, 0.1, 0.4])
    prob = mf.Problem(fam, mf.GaussianTeacher(fam, teacher))
    Hp = prob.particle_hessian(mu)
    assert np.all(np.isfinite(Hp))
    # M(theta, theta) w-block = E[1{w.x>0} x x^T] (a.a) = (a.a) I / 2 at equal particles
    M = prob.backend.interaction(P, mu.masses)
    sw, a = fam.block_slice("w"), fam.unpack(th[None])["a"][0]
    assert np.allclose(M[0, sw, 1, sw], (a @ a) * np.eye(3) / 2, atol=1e-14)
    # the Hessian of J at a particle parallel to the teacher: continuous across the parallel point
    T = np.vstack([th, th + 1e-9 * rng.standard_normal(fam.p)])
    H = prob.hessian_potential(mu, T)
    assert np.max(np.abs(H[0] - H[1])) < 1e-6


def test_kernel_expr_componentwise_is_the_ground_truth_of_the_numeric_kernels():
    fam = mf.families.erf(d=2, outputs=1, bias=False)
    rng = np.random.default_rng(6)
    src, th = rng.standard_normal(fam.p), rng.standard_normal(fam.p)
    gt = mf.GaussianTeacher(fam, mf.Measure(fam, src[None], [1.0]))
    K, (x, xp) = gt.kernel_expr(components=True)
    sub = {**dict(zip(x, th)), **dict(zip(xp, src))}
    prob = mf.Problem(fam, gt)
    zero = mf.Measure(fam, np.zeros((1, fam.p)), [0.0])
    J, G, H = (f(zero, th[None])[0] for f in (prob.first_variation, prob.grad_potential, prob.hessian_potential))
    assert abs(-J - float(K.evalf(30, subs=sub))) < 1e-14
    g = np.array([float(sp.diff(K, s).evalf(30, subs=sub)) for s in x])
    assert np.allclose(-G, g, atol=1e-13)
    h = np.array([[float(sp.diff(K, s, t).evalf(30, subs=sub)) for t in x] for s in x])
    assert np.allclose(-H, h, atol=1e-13)
    k, (alpha, beta, gamma) = mf.GaussianTeacher(mf.families.relu(d=2, outputs=0),
                                                 mf.Measure(mf.families.relu(d=2, outputs=0), [[1.0, 0.0]])).kernel_expr()
    # orthogonal unit vectors: k = 1/(2 pi)
    assert sp.simplify(k.subs({alpha: 1, beta: 1, gamma: 0}) - 1 / (2 * sp.pi)) == 0


@pytest.mark.parametrize("name", ["relu", "erf-fixed"])
def test_latex_compiles(name, tmp_path):
    fam = CLOSED[name]()
    teacher, _, _ = _setup(fam)
    tex = mf.GaussianTeacher(fam, teacher).latex()
    assert r"\begin{align*}" in tex and "J_" in tex and r"\nabla_w J" in tex
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex not installed")
    doc = "\\documentclass{article}\n\\usepackage{amsmath,amssymb}\n\\begin{document}\n" + tex + "\\end{document}\n"
    (tmp_path / "k.tex").write_text(doc)
    res = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "k.tex"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout[-2000:]


def test_monte_carlo_fallback_is_explicit_seeded_and_matches_samples():
    fam = mf.families.sigmoid(d=2, outputs=1, bias=True)
    teacher, mu, _ = _setup(fam)
    with pytest.raises(mf.DataError, match="mc_samples"):
        mf.Problem(fam, mf.GaussianTeacher(fam, teacher))
    with pytest.raises(mf.DataError, match="closed"):
        mf.GaussianTeacher(fam, teacher, method="closed")
    gt = mf.GaussianTeacher(fam, teacher, mc_samples=2000, seed=7)
    a, b = mf.Problem(fam, gt), mf.Problem(fam, mf.GaussianTeacher(fam, teacher, mc_samples=2000, seed=7))
    assert a.loss(mu) == b.loss(mu)
    c = mf.Problem(fam, mf.GaussianTeacher(fam, teacher, mc_samples=2000, seed=8))
    assert a.loss(mu) != c.loss(mu)
    S = gt.samples()
    assert np.allclose(a.loss(mu), mf.Problem(fam, S).loss(mu), atol=0)
    assert np.allclose(S.Y, np.einsum("t,tnk->nk", teacher.masses, fam.phi(teacher.particles, S.X)))


def test_errors_name_the_argument_and_values():
    fam = mf.families.relu(d=3)
    teacher, mu, _ = _setup(fam)
    gt = mf.GaussianTeacher(fam, teacher)
    with pytest.raises(mf.DataError, match="square"):
        mf.Problem(fam, gt, loss="logistic")
    with pytest.raises(mf.DataError, match=r"d = 4.*d = 3"):
        mf.Problem(mf.families.relu(d=4), gt)
    with pytest.raises(mf.DataError, match="teacher_measure"):
        mf.GaussianTeacher(mf.families.relu(d=4), teacher)
    with pytest.raises(mf.DataError, match="mc_samples"):
        mf.GaussianTeacher(fam, teacher, mc_samples=0)
    with pytest.raises(mf.DataError, match="outputs"):
        mf.Problem(mf.families.relu(d=3, outputs=2), gt)
    # a student with a different activation needs Monte Carlo
    with pytest.raises(mf.DataError, match="mc_samples"):
        mf.Problem(mf.families.erf(d=3, bias=False), gt)
