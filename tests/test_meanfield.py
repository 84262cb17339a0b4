"""Mean-field optimality (gap) and escaping active sets, against independent computations (docs/mathematics.md, global optimality and escaping sets)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.optimize as so
import sympy as sp

import mfsym as mf


def _stationary(prob, fam, P0, masses):
    """L-BFGS on the particle objective F = L(mu) (stand-in for mf.stationary)."""
    m = len(masses)

    def f(x):
        mu = mf.Measure(fam, x.reshape(m, -1), masses)
        return prob.loss(mu), prob.particle_gradient(mu).ravel()
    r = so.minimize(f, P0.ravel(), jac=True, method="L-BFGS-B",
                    options={"gtol": 1e-13, "ftol": 1e-16, "maxiter": 5000})
    return mf.Measure(fam, r.x.reshape(m, -1), masses)


def _fibonacci(N):
    i = np.arange(N) + 0.5
    phi = np.arccos(1 - 2 * i / N)
    th = np.pi * (1 + 5**0.5) * i
    return np.stack([np.cos(th) * np.sin(phi), np.sin(th) * np.sin(phi), np.cos(phi)], 1)


# ---------------------------------------------------------------------------- homogeneous
def test_custom_u2x_gap_is_one():
    # phi(u; x) = u^2 x, one sample x = 1, y = 1, mu = delta_0: r = -1, J(u) = -u^2, gap = 1
    u, x = sp.symbols("u x")
    fam = mf.families.from_expr(u**2 * x, params={"u": ()}, inputs={"x": ()})
    prob = mf.Problem(fam, mf.Samples(np.array([[1.0]]), np.array([1.0])))
    mu = mf.Measure(fam, np.zeros((1, 1)), np.array([1.0]))
    g = mf.meanfield.gap(prob, mu)
    assert g.kind == "homogeneous"
    assert g.value == pytest.approx(1.0, abs=1e-12)
    assert abs(g.witness[0]) == pytest.approx(1.0)
    assert prob.first_variation(mu, g.witness[None])[0] == pytest.approx(-g.value)
    (s,) = mf.meanfield.escaping_sets(prob, mu, level=0.5, gap=g)
    # q = 2: d|u|/dt >= 2c|u| (exponential), and J = -1 < -c on the whole sphere {-1, +1}: two components
    assert s.growth == "exponential" and s.growth_rate == pytest.approx(1.0)
    assert s.n_components == 2
    assert s.certified, s.certificate
    json.dumps(s.to_dict())
    json.dumps(g.to_dict())


def _arccos_kernel(W, v):
    """E[relu(w.x) relu(v.x)], x ~ N(0, I) (Cho & Saul 2009), written independently of mfsym."""
    nw, nv = np.linalg.norm(W, axis=1), np.linalg.norm(v)
    t = np.arccos(np.clip(W @ v / (nw * nv), -1, 1))
    return nw * nv * (np.sin(t) + (np.pi - t) * np.cos(t)) / (2 * np.pi)


def test_relu_population_teacher_student_gap_matches_independent_sphere_minimum():
    d = 3
    fam = mf.families.relu(d=d, outputs=0)
    teacher = mf.Measure(fam, np.eye(d), np.ones(d))
    prob = mf.Problem(fam, mf.GaussianTeacher(fam, teacher))
    # one student neuron alpha (1,1,1): by symmetry stationary when J(w_s) = 0 (Euler, degree 1)
    e = np.ones(d) / np.sqrt(d)
    Jr = lambda a: prob.first_variation(mf.Measure(fam, [a * e], [1.0]), [a * e])[0]  # noqa: E731
    alpha = so.brentq(Jr, 0.1, 5.0, xtol=1e-15)
    mu = mf.Measure(fam, [alpha * e], [1.0])
    assert prob.residual(mu) < 1e-10
    g = mf.meanfield.gap(prob, mu, samples=2048, restarts=8)

    def J_ind(U):  # r(x) = f_mu(x) - y(x): J(w) = K(w, w_s) - sum_k K(w, e_k)
        return _arccos_kernel(U, alpha * e) - sum(_arccos_kernel(U, np.eye(d)[k]) for k in range(d))
    U = _fibonacci(200_000)
    vals = J_ind(U)
    best = U[np.argmin(vals)]
    res = so.minimize(lambda z: J_ind((z / np.linalg.norm(z))[None])[0], best, method="Nelder-Mead",
                      options={"xatol": 1e-12, "fatol": 1e-15, "maxiter": 4000})
    ref = -min(vals.min(), res.fun)
    assert ref > 0.01  # a spurious, non-global stationary point
    assert g.value == pytest.approx(ref, rel=1e-3)
    assert np.linalg.norm(g.witness) == pytest.approx(1.0)
    assert J_ind(g.witness[None])[0] == pytest.approx(-g.value, rel=1e-6)
    sets = mf.meanfield.escaping_sets(prob, mu, gap=g, resolution=12)
    assert sets and sets[0].growth_rate == pytest.approx(sets[0].level)  # q = 1: linear, rate c
    # population: no arb box cover, but the cap around the witness is proved (the escaping-set claim)
    assert "sample data" in sets[0].certificate["reason"] and not sets[0].certificate["cover_certified"]
    assert sets[0].certified and sets[0].claim["outcome"] == "proved"


def test_relu_trained_outputs_min_is_half_max_h():
    # docs/mathematics.md, global optimality: theta = (a, w): min_{sphere} J = -1/2 max_{|w|=1} |h(w)|, h(w) = (1/n) sum r_i relu(w.x_i)
    rng = np.random.default_rng(1)
    fam = mf.families.relu(d=2, outputs=1)
    X, Y = rng.standard_normal((12, 2)), rng.standard_normal(12)
    prob = mf.Problem(fam, mf.Samples(X, Y))
    mu = mf.Measure(fam, 0.7 * rng.standard_normal((3, 3)))
    g = mf.meanfield.gap(prob, mu, samples=1024, restarts=6)
    r = prob.output_residual(mu)[:, 0]
    # exact max of |h| on the circle: h is linear (v_S . w) on each activation cone, so the max is at a
    # kink (w orthogonal to some x_i) or at +-v_S/|v_S| for a pattern S met on a fine grid
    t = np.linspace(0, 2 * np.pi, 20_001)
    W = np.stack([np.cos(t), np.sin(t)], 1)
    patterns = np.unique(W @ X.T > 0, axis=0)
    vS = patterns.astype(float) @ (r[:, None] * X) / len(r)
    kinks = np.concatenate([X[:, ::-1] * [1, -1], X[:, ::-1] * [-1, 1]])
    cands = np.concatenate([W, kinks, vS, -vS])
    cands = cands[np.linalg.norm(cands, axis=1) > 0]
    cands /= np.linalg.norm(cands, axis=1, keepdims=True)
    h = np.maximum(cands @ X.T, 0) @ r / len(r)
    assert g.value == pytest.approx(0.5 * np.abs(h).max(), rel=1e-9)


def test_signed_masses_use_max_abs_J():
    rng = np.random.default_rng(2)
    fam = mf.families.relu(d=2, outputs=0)
    X, Y = rng.standard_normal((10, 2)), rng.standard_normal(10)
    prob = mf.Problem(fam, mf.Samples(X, Y))
    mu = mf.Measure(fam, rng.standard_normal((4, 2)), [0.5, -0.5, 0.3, -0.2])
    g = mf.meanfield.gap(prob, mu, samples=512, restarts=4)
    t = np.linspace(0, 2 * np.pi, 200_001)
    J = prob.first_variation(mu, np.stack([np.cos(t), np.sin(t)], 1))
    assert g.value == pytest.approx(np.abs(J).max(), rel=1e-6)
    assert np.sign(prob.first_variation(mu, g.witness[None])[0]) == g.sign


# ---------------------------------------------------------------------------- output-linear
@pytest.fixture(scope="module")
def sigmoid_problem():
    fam = mf.families.sigmoid(d=1, outputs=2, bias=True)
    X = np.linspace(-2, 2, 9)[:, None]
    Y = np.stack([np.sin(2 * X[:, 0]), np.cos(3 * X[:, 0])], 1)
    prob = mf.Problem(fam, mf.Samples(X, Y))
    mu = _stationary(prob, fam, fam.random_particles(2, seed=1), np.full(2, 0.5))
    return prob, mu


def test_reduced_potential_G_equals_feature_formula(sigmoid_problem):
    prob, mu = sigmoid_problem
    rp = mf.meanfield.reduced_potential(prob, mu)
    E = np.random.default_rng(0).standard_normal((7, 2))
    r = prob.output_residual(mu)
    psi = prob.family.feature(E, prob.data.X)
    ref = np.einsum("nk,qnj->qkj", r, psi) / prob.data.n
    np.testing.assert_allclose(rp(E), ref, rtol=1e-12, atol=1e-14)
    assert r"G_\mu(\eta)" in rp.latex()


def test_sigmoid_vector_outputs_gap_at_infinity(sigmoid_problem):
    prob, mu = sigmoid_problem
    assert prob.residual(mu) < 1e-8
    g = mf.meanfield.gap(prob, mu, seed=0)
    # independent: step limits 1{x > tau} / 1{x < tau} over every threshold between sorted samples
    x = prob.data.X[:, 0]
    r = prob.output_residual(mu)
    xs = np.sort(x)
    taus = np.concatenate([[xs[0] - 1], 0.5 * (xs[1:] + xs[:-1]), [xs[-1] + 1]])
    sup_inf = max(np.linalg.norm(r[side].sum(0)) / len(x) for tau in taus for side in (x > tau, x < tau))
    # finite: dense grid of (w, b)
    rp = mf.meanfield.reduced_potential(prob, mu)

    def finite(R):
        w, b = np.meshgrid(np.linspace(-R, R, 401), np.linspace(-R, R, 401))
        return rp.norm_G(np.stack([w.ravel(), b.ravel()], 1)).max()
    # the supremum is only approached at infinity: finite maxima increase with the radius towards it
    assert finite(5) < finite(20) < finite(60) < sup_inf
    assert sup_inf - finite(5) > 1e-3
    assert g.at_infinity and g.direction is not None
    assert g.value == pytest.approx(sup_inf, rel=1e-9)
    J_w = prob.first_variation(mu, g.witness[None])[0]
    assert -J_w >= 0.99 * g.value and -J_w <= g.value * (1 + 1e-12)
    assert np.linalg.norm(g.witness[:2]) == pytest.approx(1.0)
    sets = mf.meanfield.escaping_sets(prob, mu, gap=g)
    assert len(sets) == 1 and sets[0].growth_rate > 0 and sets[0].bounded is False
    s = sets[0]
    assert 0 < s.level < g.value and s.margin > 0 and s.perturbation == pytest.approx(min(s.margin, s.level))
    assert s.contains(g.witness[None])[0]
    json.dumps(s.to_dict())


def test_certified_cells_really_satisfy_the_inequality():
    # a bounded, well-resolved set: sigmoid, scalar output, few samples; every certified cell is checked densely
    fam = mf.families.sigmoid(d=1, outputs=1, bias=True)
    X = np.array([[-1.0], [0.0], [1.0]])
    prob = mf.Problem(fam, mf.Samples(X, np.array([0.0, 1.0, 0.0])))
    mu = mf.Measure(fam, [[0.0, 0.0, 0.0]], [1.0])  # f = 0: r = -y, G(w, b) = -sigma(b)/3
    g = mf.meanfield.gap(prob, mu)
    (s,) = mf.meanfield.escaping_sets(prob, mu, level=0.5 * g.value, gap=g, resolution=24)
    assert s.certified, s.certificate
    rng = np.random.default_rng(0)
    rp = mf.meanfield.reduced_potential(prob, mu)
    for node in s.components.nodes:
        lo, hi = s.components.nodes[node]["lo"], s.components.nodes[node]["hi"]
        pts = lo + (hi - lo) * rng.uniform(size=(50, 2))
        assert np.all(rp.norm_G(pts) > s.level)
    # the certification is three-valued: a level above the supremum gets no proven cell
    with pytest.raises(mf.MfsymError, match="level"):
        mf.meanfield.escaping_sets(prob, mu, level=2 * g.value, gap=g)


def test_attention_head_gap_and_escaping_set():
    rng = np.random.default_rng(3)
    fam = mf.families.attention(d=1, outputs=1, tokens=4)
    X = rng.standard_normal((10, 4, 1))
    Y = rng.standard_normal(10)
    prob = mf.Problem(fam, mf.Samples(X, Y))
    mu = _stationary(prob, fam, 0.5 * fam.random_particles(1, seed=2), np.ones(1))
    assert prob.residual(mu) < 1e-8
    g = mf.meanfield.gap(prob, mu)
    # independent: G(W) = (1/n) sum_i r_i x_i^T softmax(W x_i x_q) on a dense grid + hard-max limits W -> +-inf
    r = prob.output_residual(mu)[:, 0]
    Xs, xq = X[:, :, 0], X[:, -1, 0]

    def G_ind(Ws):
        s = Ws[:, None, None] * Xs[None] * xq[None, :, None]
        p = np.exp(s - s.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        return (p * Xs[None]).sum(-1) @ r / len(r)
    Ws = np.linspace(-80, 80, 400_001)
    lim = []
    for sgn in (1, -1):
        sc = sgn * Xs * xq[:, None]
        hard = (sc == sc.max(1, keepdims=True)) / (sc == sc.max(1, keepdims=True)).sum(1, keepdims=True)
        lim.append(abs((hard * Xs).sum(1) @ r / len(r)))
    ref = max(np.abs(G_ind(Ws)).max(), *lim)
    assert ref > 1e-3
    assert g.value == pytest.approx(ref, rel=1e-6)
    assert prob.first_variation(mu, g.witness[None])[0] == pytest.approx(-g.value, rel=1e-2)
    sets = mf.meanfield.escaping_sets(prob, mu, gap=g)
    assert sets and sets[0].growth_rate == pytest.approx(sets[0].level) and sets[0].n_components >= 1


def test_general_class_and_global_point():
    fam = mf.families.sigmoid(d=1, outputs=0, bias=True)
    prob = mf.Problem(fam, mf.Samples(np.array([[0.5], [-0.5]]), np.array([0.2, 0.1])))
    mu = mf.Measure(fam, [[0.3, 0.1]])
    g = mf.meanfield.gap(prob, mu, samples=256, restarts=3)
    assert g.kind == "general" and g.value >= 0 and g.min_J <= g.max_J
    assert mf.meanfield.escaping_sets(prob, mu, gap=g) == []


def test_escape_simulation_grows_inside_the_set(sigmoid_problem):
    prob, mu = sigmoid_problem
    sets = mf.meanfield.escaping_sets(prob, mu, certify=False)
    sim = mf.meanfield.simulate_escape(prob, mu, sets, steps=200, dt=0.2, light=32, seed=0)
    assert sim.mass_in_set[0, -1] > 0
    assert sim.norm_in_set[0, -1] > sim.norm_in_set[0, 0]
    # |A| grows at least at rate c (up to the perturbation of the flow by the light mass)
    assert sim.measured_rate[0] >= 0.9 * sim.predicted_rate[0]


def _norm_rate(prob, mu, T, mass_sign):
    """d|A|/dt = <A/|A|, dA/dt> for particles of mass sign ``mass_sign`` (flow of docs/mathematics.md, first variation and flow), A = column 0."""
    vel = -mass_sign * prob.grad_potential(mu, T)          # d theta/dt = -sign(c) grad J
    A = T[:, :1]
    return np.sum(A * vel[:, :1], axis=1) / np.linalg.norm(A, axis=1)


def test_output_linear_sets_follow_the_sign_of_the_masses():
    # reviewer's case: tanh, one particle of mass -1 at 0 (f = 0, stationary). Negative masses flow along
    # +grad J, so the escaping set is <A, G> > c|A| and |A| must grow there at rate >= c.
    fam = mf.families.by_name("tanh", d=1, outputs=1, bias=False)
    prob = mf.Problem(fam, mf.Samples(np.array([[1.0], [2.0]]), np.array([[1.0], [0.5]])))
    mu = mf.Measure(fam, np.zeros((1, 2)), np.array([-1.0]))
    assert prob.residual(mu) == 0
    g = mf.meanfield.gap(prob, mu)
    (s,) = mf.meanfield.escaping_sets(prob, mu, gap=g)
    assert s.sign == 1 and s.certified and s.growth_rate == pytest.approx(s.level)
    w = np.asarray(s.witness)[None]
    assert s.contains(w)[0]
    assert _norm_rate(prob, mu, w, -1.0)[0] > s.level       # the reviewer's d|A|/dt = -0.75 is now +0.75
    # every sampled point of the set: the negative-mass flow grows |A| faster than c, the positive one shrinks it
    rng = np.random.default_rng(0)
    T = np.concatenate([rng.uniform(-3, 3, (4000, 1)), rng.uniform(-4, 4, (4000, 1))], 1)
    ins = s.contains(T)
    assert ins.sum() > 100 and not ins.all()
    assert np.all(_norm_rate(prob, mu, T[ins], -1.0) > s.level)
    assert np.all(_norm_rate(prob, mu, T[ins], 1.0) < -s.level)
    # the escape simulation (negative light masses) measures the predicted rate inside the set
    sim = mf.meanfield.simulate_escape(prob, mu, [s], steps=100, dt=0.2, light=16, seed=0)
    assert np.all(sim.measure.masses[1:] < 0) and sim.mass_in_set[0, -1] > 0
    assert sim.measured_rate[0] >= 0.9 * sim.predicted_rate[0]
    # signed masses: both sets, each with its own witness and growth for its own particles
    mu2 = mf.Measure(fam, np.array([[0.3, 0.5], [0.3, 0.5]]), np.array([1.0, -1.0]))   # f = 0 again
    sets = mf.meanfield.escaping_sets(prob, mu2, certify=False)
    assert sorted(x.sign for x in sets) == [-1, 1]
    for x in sets:
        wx = np.asarray(x.witness)[None]
        assert x.contains(wx)[0] and _norm_rate(prob, mu2, wx, -x.sign)[0] > x.level
        assert _norm_rate(prob, mu2, wx, x.sign)[0] < -x.level
    # positive masses keep the sign -1 set
    mu3 = mf.Measure(fam, np.zeros((1, 2)), np.array([1.0]))
    (s3,) = mf.meanfield.escaping_sets(prob, mu3, certify=False)
    assert s3.sign == -1 and _norm_rate(prob, mu3, np.asarray(s3.witness)[None], 1.0)[0] > s3.level


def test_arb_floats_enter_with_all_their_bits_and_precision_is_recorded():
    import flint

    from mfsym._ball import compile_expr as compile_arb

    x = sp.Symbol("x")
    e = sp.Float("0.1", 40)                       # 133 bits: float(e) would round it to 53
    r = sp.Rational(e)
    exact = flint.arb(flint.fmpq(int(r.p), int(r.q)))
    assert not flint.arb(float(e)).contains(exact)
    assert compile_arb(e * x, [x])([flint.arb(1)]).contains(exact)
    # the escaping-set certificate records the working precision actually used
    fam = mf.families.sigmoid(d=1, outputs=1, bias=True)
    prob = mf.Problem(fam, mf.Samples(np.array([[-1.0], [0.0], [1.0]]), np.array([0.0, 1.0, 0.0])))
    mu = mf.Measure(fam, [[0.0, 0.0, 0.0]], [1.0])
    old = flint.ctx.prec
    try:
        flint.ctx.prec = 96
        (s,) = mf.meanfield.escaping_sets(prob, mu, resolution=8)
    finally:
        flint.ctx.prec = old
    assert s.certified and s.certificate["precision_bits"] == 96


def test_plot_landscape_writes_png(sigmoid_problem, tmp_path):
    prob, mu = sigmoid_problem
    sets = mf.meanfield.escaping_sets(prob, mu, certify=False)
    fig = mf.meanfield.plot_landscape(prob, mu, sets=sets, path=tmp_path / "land.png", resolution=40)
    assert (tmp_path / "land.png").stat().st_size > 1000 and fig.axes


def test_bad_input_raises_mfsym_errors(sigmoid_problem):
    prob, mu = sigmoid_problem
    with pytest.raises(mf.MfsymError, match="restarts"):
        mf.meanfield.gap(prob, mu, restarts=0)
    with pytest.raises(mf.MfsymError, match="prob"):
        mf.meanfield.gap("not a problem", mu)
    with pytest.raises(mf.MfsymError, match="points"):
        mf.meanfield.reduced_potential(prob, mu)(np.zeros((3, 5)))


def test_docs_page_runs(tmp_path, monkeypatch):
    import re
    from pathlib import Path

    src = (Path(__file__).resolve().parents[1] / "docs" / "meanfield.md").read_text()
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    exec(compile("\n".join(re.findall(r"```python\n(.*?)```", src, re.S)), "docs/meanfield.md", "exec"), ns)
    assert ns["g"].at_infinity and (tmp_path / "landscape.png").exists()
