"""The matrix-free stationary-point solver (mfsym._stationary): the Krylov pieces against dense linear algebra,
the symmetry projector and the Gauss-Newton product against their dense constructions, convergence with
symmetric (singular) Hessians in both modes, the displacement bound and what the run reports."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

import mfsym as mf
from mfsym import _stationary as S
from mfsym.stability._check import _displacement

FIX = Path(__file__).parent / "fixtures"


def teacher_student(fam, teacher_particles, n=30, seed=0, offset=None):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n,) + fam.input_shape)
    teacher = mf.Measure(fam, np.asarray(teacher_particles, float), np.ones(len(teacher_particles)))
    Y = mf.Problem(fam, mf.Samples(X, np.zeros((n, fam.out_dim)))).prediction(teacher)
    return mf.Problem(fam, mf.Samples(X, Y + (0.0 if offset is None else offset)))


@pytest.fixture(scope="module")
def relu2():
    """A relu width-2 student of a width-2 teacher, started 0.1 away from it (rescaling symmetry at every point;
    the samples stay off the kinks, so the minimum is a smooth one)."""
    fam = mf.families.relu(d=2)
    T = np.array([[1.0, 1.0, 0.3], [0.8, -0.4, 1.0]])
    prob = teacher_student(fam, T, n=25, seed=3)
    P = T * [[2.0, 1.0, 1.0]] + 0.1 * np.random.default_rng(5).standard_normal(T.shape)
    return prob, mf.Measure(fam, P, [0.5, 0.5])


# ------------------------------------------------------------------------------------------ Krylov pieces
def test_steihaug_matches_the_exact_trust_region_subproblem():
    rng = np.random.default_rng(0)
    Q = np.linalg.qr(rng.standard_normal((12, 12)))[0]
    g = rng.standard_normal(12)
    # positive definite: inside a large region the step is Newton's
    H = Q @ np.diag(np.linspace(0.5, 4.0, 12)) @ Q.T
    s, Hs, how = S._steihaug(lambda v: H @ v, g, 1e3, 1e-12, 100)
    assert how == "interior"
    np.testing.assert_allclose(s, -np.linalg.solve(H, g), rtol=1e-9)
    np.testing.assert_allclose(Hs, H @ s, rtol=1e-9, atol=1e-12)
    # a small region: the step is on its boundary and decreases the model at least as much as the Cauchy point
    s, Hs, how = S._steihaug(lambda v: H @ v, g, 0.1, 1e-12, 100)
    assert how == "boundary" and np.linalg.norm(s) == pytest.approx(0.1, rel=1e-12)
    model = lambda x: g @ x + 0.5 * x @ H @ x  # noqa: E731
    cauchy = -0.1 * g / np.linalg.norm(g)
    assert model(s) <= model(cauchy) + 1e-15
    # indefinite: negative curvature leads to the boundary, with a model value below zero
    H2 = Q @ np.diag(np.linspace(-1.0, 3.0, 12)) @ Q.T
    s, _, how = S._steihaug(lambda v: H2 @ v, g, 2.0, 1e-12, 100)
    assert how in ("negative", "boundary") and np.linalg.norm(s) == pytest.approx(2.0, rel=1e-12)
    assert g @ s + 0.5 * s @ H2 @ s < 0


def test_projector_removes_the_relu_rescaling_in_mass_weighted_coordinates(relu2):
    prob, mu = relu2
    mu = mu.copy(masses=[0.3, 0.7])
    obj = S._Objective(prob, mu)
    y = obj.y0()
    nu = obj.measure(y)
    proj = S._Projector(obj, nu)
    assert proj.dim == 2  # one rescaling generator per particle
    # the generators (a_j, -w_j) in theta, i.e. sqrt(c_j) (a_j, -w_j) in y, are removed
    U = np.zeros_like(mu.particles)
    U[:, 0], U[:, 1:] = mu.particles[:, 0], -mu.particles[:, 1:]
    for j in range(2):
        e = np.zeros_like(U)
        e[j] = U[j] * obj.root[j, 0]
        assert np.linalg.norm(proj(e.ravel())) < 1e-12 * np.linalg.norm(e)
    v = np.random.default_rng(1).standard_normal(y.size)
    w = np.random.default_rng(2).standard_normal(y.size)
    np.testing.assert_allclose(proj(proj(v)), proj(v), atol=1e-14)  # idempotent
    assert abs(proj(v) @ w - v @ proj(w)) < 1e-12  # symmetric in the y metric
    # F is invariant along the generators, so its gradient is already in the complement
    g = obj.grad(y)
    np.testing.assert_allclose(proj(g), g, atol=1e-13 * np.linalg.norm(g))


@pytest.mark.parametrize("case", ["sigmoid-vector", "tanh-bias", "relu-reg"])
def test_gauss_newton_product_matches_the_dense_interaction(case):
    if case == "sigmoid-vector":
        fam = mf.families.sigmoid(d=2, outputs=2)
        rng = np.random.default_rng(0)
        X = rng.standard_normal((20, 2))
        prob, offset = mf.Problem(fam, mf.Samples(X, rng.standard_normal((20, 2)))), None
    elif case == "tanh-bias":
        fam = mf.families.tanh(d=2)
        prob, offset = teacher_student(fam, [[1.0, 1.0, 0.5, 0.2]], n=15, offset=0.3), [0.1]
    else:
        fam = mf.families.relu(d=2)
        prob = teacher_student(fam, [[1.0, 1.0, 0.3], [1.0, -0.4, 1.0]], n=15)
        prob, offset = mf.Problem(fam, prob.data, reg=0.05), None
    mu = mf.Measure(fam, fam.random_particles(3, seed=1), [0.2, 0.3, 0.5], offset=offset)
    obj = S._Objective(prob, mu)
    nu = obj.measure(obj.y0())
    c = nu.masses
    m, p = nu.particles.shape
    # independent: the dense interaction M(theta_j, theta_l) of the backend, scaled to y, plus the bias Schur
    # complement and the regulariser; G = H - (potential part) as a check of the split
    M = prob.backend.interaction(nu.particles, c)
    G = np.einsum("j,jalb,l->jalb", c, M, c).reshape(m * p, m * p)
    if nu.offset is not None:
        Bc = prob._bias_coupling(nu)
        G = G - Bc @ Bc.T
    G = G + prob.reg * np.diag(np.repeat(c, p))
    H = prob.particle_hessian(nu)
    Hj = prob.hessian_potential(nu, nu.particles) - prob.reg * np.eye(p)[None]
    pot = np.zeros((m * p, m * p))
    for j in range(m):
        pot[j * p:(j + 1) * p, j * p:(j + 1) * p] = c[j] * Hj[j]
    np.testing.assert_allclose(G + pot, H, atol=1e-12 * np.max(np.abs(H)))
    d = np.repeat(1.0 / obj.root[:, 0], p)
    Gy = G * d[:, None] * d[None, :]
    v = np.random.default_rng(4).standard_normal(m * p)
    np.testing.assert_allclose(obj.ggnp(nu, v), Gy @ v, atol=1e-12 * np.abs(Gy).max() * np.abs(v).max())
    assert np.linalg.eigvalsh(Gy)[0] > -1e-12 * np.abs(Gy).max()  # positive semidefinite


# ------------------------------------------------------------------------------------------ convergence
def test_relu_rescaling_converges_in_both_modes_to_the_same_point(relu2):
    prob, mu = relu2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        near = mf.stationary(prob, mu, tol=1e-6, gauss_newton=False)  # close to a minimum; polish in both modes
        a, ia = mf.stationary(prob, near, tol=1e-11, dense=True, gauss_newton=False, info=True)
        b, ib = mf.stationary(prob, near, tol=1e-11, dense=False, gauss_newton=False, info=True)
    for out, info in ((a, ia), (b, ib)):
        assert prob.residual(out) <= 1e-11 and info.converged and info.residual == pytest.approx(prob.residual(out))
        assert info.residuals[0] == pytest.approx(prob.residual(near), rel=1e-12)
        assert np.all(np.diff(info.losses) <= 1e-15 * abs(info.losses[0]))  # a minimum search never goes uphill
    assert "dense" in ia.method and "Hessian-vector" in ib.method and ib.products > 0
    # the functions agree; the particles agree up to the rescaling orbit (compare a * w, which it leaves alone)
    assert prob.loss(a) == pytest.approx(prob.loss(b), rel=1e-10, abs=1e-15)
    aw = a.particles[:, :1] * a.particles[:, 1:]
    bw = b.particles[:, :1] * b.particles[:, 1:]
    np.testing.assert_allclose(aw, bw, atol=1e-6)


@pytest.mark.parametrize("family", ["sigmoid-vector", "attention"])
def test_flow_endpoints_reach_a_tight_residual_matrix_free(family):
    if family == "sigmoid-vector":
        fam = mf.families.sigmoid(d=3, outputs=2)
        data, _ = mf.datasets.teacher_student(fam, m_teacher=2, n=60, seed=1)
    else:
        fam = mf.families.attention(d=2, outputs=1, tokens=3)
        data, _ = mf.datasets.teacher_student(fam, m_teacher=2, n=40, seed=1)
    prob = mf.Problem(fam, data)
    mu = mf.flow(prob, mf.Measure(fam, fam.random_particles(3, seed=2)), steps=300, dt=1.0).measure
    for gauss_newton in (False, True):
        out, info = mf.stationary(prob, mu, tol=1e-10, dense=False if gauss_newton is False else None,
                                  gauss_newton=gauss_newton, info=True)
        assert info.status == "converged" and prob.residual(out) <= 1e-10
        assert info.loss <= info.loss_start and info.loss_change == pytest.approx(info.loss - info.loss_start)
        assert info.displacement == pytest.approx(_displacement(prob, mu, out), rel=1e-9)
        assert np.all(np.diff(info.losses) <= 1e-15 * abs(info.losses[0]))
        if gauss_newton is False:
            assert "Hessian-vector products" in info.method and "fitted values" not in info.method
        else:  # width 3: more fitted values than parameters; forced, Gauss-Newton starts, Newton finishes if it must
            assert info.method.startswith("Gauss-Newton on the fitted values")


def test_saddle_matrix_free_on_a_split_minimum():
    """A width-1 minimum split into two half-mass particles is a stationary point of width 2 with negative
    curvature; target='any' returns it from a perturbed start, matrix-free as well as dense."""
    fam = mf.families.tanh(d=2)
    prob = teacher_student(fam, [[1.0, 1.5, 0.5, 0.0], [1.0, -0.5, 1.5, 0.3]], seed=0)
    one = mf.stationary(prob, mf.Measure(fam, 0.5 * fam.random_particles(1, seed=10), [1.0]))
    P2 = np.vstack([one.particles, one.particles])
    start = mf.Measure(fam, P2 + 0.05 * np.random.default_rng(0).standard_normal(P2.shape), [0.5, 0.5])
    for dense in (True, False):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            sad, info = mf.stationary(prob, start, target="saddle", dense=dense, info=True)
        assert prob.residual(sad) < 1e-9 and info.lambda_min is not None and info.lambda_min < -1e-3
        assert prob.loss(sad) == pytest.approx(prob.loss(one), rel=1e-8)


# ------------------------------------------------------------------------------------------ the bound
@pytest.fixture(scope="module")
def torch_net():
    pytest.importorskip("safetensors")
    with np.load(FIX / "tanh_data.npz") as z:
        X, Y = z["X"], z["Y"]
    return [mf.from_state_dict(FIX / name, X, Y, activation="tanh")
            for name in ("tanh_net.safetensors", "tanh_net_float32.safetensors")]


def test_a_converged_net_is_polished_within_a_tiny_displacement(torch_net):
    """The PyTorch fixtures (float64, and the same weights in float32): the polished point is within 1e-3 of
    the weight scale, and the displacement, loss change and residual path are reported."""
    for prob, mu in torch_net:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            out, info = mf.stationary(prob, mu, tol=1e-9, max_move=1e-3, info=True)
        move = _displacement(prob, mu, out)
        assert move <= 1e-3 and info.displacement == pytest.approx(move, rel=1e-9, abs=1e-15)
        assert info.status in ("converged", "max-move")
        assert info.residuals[0] == prob.residual(mu) and info.losses[0] == prob.loss(mu)
        assert info.residual == pytest.approx(prob.residual(out), rel=1e-6)
        assert abs(info.loss_change) <= 1e-6 * max(info.loss_start, 1e-12) + 1e-12
        if info.converged:
            assert prob.residual(out) <= 1e-9
        else:
            assert info.wanted_move > 1e-3 and "bound" in info.message
    prob, mu = torch_net[0]  # the float64 net converges inside the bound
    out, info = mf.stationary(prob, mu, tol=1e-9, max_move=1e-3, info=True)
    assert info.converged and info.displacement < 1e-3


def test_max_move_stops_at_the_bound_and_says_so(relu2):
    prob, mu = relu2
    assert prob.residual(mu) > 1e-2
    with pytest.warns(RuntimeWarning, match="max-move"):
        out, info = mf.stationary(prob, mu, max_move=1e-2, info=True)
    assert info.status == "max-move" and not info.converged
    assert _displacement(prob, mu, out) <= 1e-2 and info.wanted_move > 1e-2
    assert prob.loss(out) <= prob.loss(mu)
    assert "would move" in info.message and f"{info.wanted_move:.3g}" in info.message
    d = info.to_dict()
    assert d["status"] == "max-move" and d["residuals"][0] == pytest.approx(prob.residual(mu))
    # unbounded, the same start converges, further away
    out2, info2 = mf.stationary(prob, mu, info=True)
    assert info2.converged and info2.displacement > 1e-2


def test_budget_and_zero_masses_are_reported(relu2):
    prob, mu = relu2
    with pytest.warns(RuntimeWarning, match="max-iter"):
        out, info = mf.stationary(prob, mu, max_iter=2, info=True)
    assert info.status == "max-iter" and info.iterations == 2 and len(info.residuals) <= 3
    dead = mu.copy(masses=[0.0, 0.0])
    out, info = mf.stationary(prob, dead, info=True)
    assert info.converged and np.array_equal(out.particles, dead.particles)


@pytest.mark.parametrize("kwargs", [{"max_move": 0.0}, {"max_move": -1.0}, {"max_move": float("inf")},
                                    {"info": "yes"}, {"max_iter": 1.5}])
def test_bad_arguments(relu2, kwargs):
    prob, mu = relu2
    with pytest.raises(mf.MfsymError, match=next(iter(kwargs))):
        mf.stationary(prob, mu, **kwargs)


def test_a_minimum_search_that_stalls_at_a_relu_kink_is_finished_by_the_dense_fallback():
    # a relu flow endpoint where the Krylov trust region stalls at 4e-7 (a sample on a kink); the dense
    # trust-exact + saddle-free Newton fallback reaches the zero-loss point
    fam = mf.families.relu(d=2)
    data, _ = mf.datasets.teacher_student(fam, m_teacher=3, n=40, seed=1)
    prob = mf.Problem(fam, data)
    traj = mf.flow(prob, mf.Measure(fam, fam.random_particles(6, seed=2), np.full(6, 1 / 6)), steps=100, dt=0.5)
    mu, info = mf.stationary(prob, traj.measure, gauss_newton=False, info=True)
    assert info.status == "converged" and prob.residual(mu) <= 1e-10
    assert "dense fallback" in info.method
    with pytest.warns(RuntimeWarning, match="stalled|max-move"):
        mf.stationary(prob, traj.measure, max_move=0.05, gauss_newton=False)  # the fallback never leaves the bound
    # 40 fitted values, 24 parameters: by default no Gauss-Newton phase; forced, it reaches a zero-loss point too
    mu, info = mf.stationary(prob, traj.measure, info=True)
    assert "fitted values" not in info.method
    mu, info = mf.stationary(prob, traj.measure, gauss_newton=True, info=True)
    assert info.status == "converged" and prob.residual(mu) <= 1e-10 and prob.loss(mu) < 1e-20
    assert info.method.startswith("Gauss-Newton on the fitted values")


# ------------------------------------------------------------------------------------------ Gauss-Newton phase
@pytest.mark.parametrize("shape", [(6, 15), (15, 6), (8, 20)])
def test_min_norm_step_is_minus_the_pseudo_inverse_times_the_residuals(shape):
    rng = np.random.default_rng(7)
    A = rng.standard_normal(shape)
    if shape == (8, 20):  # wide and rank 5: the least-squares solution of least norm
        A = rng.standard_normal((8, 5)) @ rng.standard_normal((5, 20))
    e = rng.standard_normal(shape[0])
    np.testing.assert_allclose(S._min_norm_step(A, e), -np.linalg.pinv(A, rcond=1e-10) @ e, atol=1e-8)


@pytest.mark.parametrize("offset", [None, [0.3, -0.2]])
def test_fit_system_is_the_jacobian_of_the_residuals(offset):
    """A against central differences of the residuals e(y) (the profiled ones with an output bias), and
    F = |e|^2 / 2n, grad_y F = A^T e / n."""
    fam = mf.families.tanh(d=2, outputs=2)
    P = fam.random_particles(3, seed=4)
    prob = teacher_student(fam, P[:2], n=12, seed=1, offset=None if offset is None else np.asarray(offset))
    mu = mf.Measure(fam, P, [0.5, -0.3, 0.8], None if offset is None else np.zeros(2))
    obj = S._Objective(prob, mu)
    y = obj.y0()
    nu = obj.measure(y)
    A, e = obj.fit_system(nu)
    n = prob.data.n
    assert A.shape == (n * 2, y.size) and prob.loss(nu) == pytest.approx(0.5 * e @ e / n, rel=1e-12)
    np.testing.assert_allclose(obj.grad(y), A.T @ e / n, atol=1e-13)
    h, fd = 1e-6, np.empty_like(A)
    for i in range(y.size):
        d = np.zeros_like(y)
        d[i] = h
        fd[:, i] = (obj.fit_system(obj.measure(y + d))[1] - obj.fit_system(obj.measure(y - d))[1]) / (2 * h)
    np.testing.assert_allclose(A, fd, atol=1e-8)


@pytest.mark.parametrize("offset", [None, [0.3, -0.2]])
def test_fit_operator_is_the_formed_jacobian(offset):
    fam = mf.families.tanh(d=2, outputs=2)
    P = fam.random_particles(3, seed=4)
    prob = teacher_student(fam, P[:2], n=12, seed=1, offset=None if offset is None else np.asarray(offset))
    obj = S._Objective(prob, mf.Measure(fam, P, [0.5, -0.3, 0.8], None if offset is None else np.zeros(2)))
    nu = obj.measure(obj.y0())
    A, e = obj.fit_system(nu)
    op, e2 = obj.fit_operator(nu)
    rng = np.random.default_rng(2)
    v, u = rng.standard_normal(A.shape[1]), rng.standard_normal(A.shape[0])
    np.testing.assert_allclose(e2, e, atol=1e-15)
    np.testing.assert_allclose(op.matvec(v), A @ v, atol=1e-13)
    np.testing.assert_allclose(op.rmatvec(u), A.T @ u, atol=1e-13)
    K, e3 = obj.fit_gram(nu)
    np.testing.assert_allclose(K, A @ A.T, atol=1e-12 * np.abs(K).max())
    np.testing.assert_allclose(e3, e, atol=1e-15)


def test_nystrom_pcg_solves_an_ill_conditioned_gram_system():
    rng = np.random.default_rng(3)
    N = 80
    Q = np.linalg.qr(rng.standard_normal((N, N)))[0]
    lam = np.logspace(2, -6, N)  # condition number 1e8, decaying like a Jacobian's Gram matrix
    K = (Q * lam) @ Q.T
    e = rng.standard_normal(N)
    exact = Q @ ((Q.T @ e) / lam)
    z, res = S._nystrom_pcg(lambda v: K @ v, e, 1e-12, 2000, np.random.default_rng(0))
    assert np.linalg.norm(res) <= 1e-12 * np.linalg.norm(e) * 1.01   # the recursive residual met the tolerance
    assert np.linalg.norm(e - K @ z) <= 1e-6 * np.linalg.norm(e)     # the true one, to rounding (|K| |z| eps)
    assert np.linalg.norm(z - exact) <= 1e-6 * np.linalg.norm(exact)


def test_forced_gauss_newton_on_a_tall_problem_matrix_free_uses_lsqr():
    fam = mf.families.tanh(d=2)
    data, _ = mf.datasets.teacher_student(fam, m_teacher=2, n=30, seed=0)
    prob = mf.Problem(fam, data)
    mu = mf.flow(prob, mf.Measure(fam, fam.random_particles(2, seed=3)), steps=200, dt=1.0).measure
    out, info = mf.stationary(prob, mu, tol=1e-10, gauss_newton=True, dense=False, info=True)
    assert info.converged and prob.residual(out) <= 1e-10 and "LSQR" in info.method


def test_gauss_newton_converges_quadratically_to_an_interpolating_minimum():
    """Over-parameterised (n k = 40 fitted values, m p = 48 parameters) from a flow endpoint: the Hessian at the
    zero-loss minimum is singular (a manifold of minima), Gauss-Newton reaches it alone, quadratically."""
    fam = mf.families.sigmoid(d=3, outputs=2)
    data, _ = mf.datasets.teacher_student(fam, m_teacher=2, n=20, seed=1)
    prob = mf.Problem(fam, data)
    mu = mf.flow(prob, mf.Measure(fam, fam.random_particles(8, seed=2)), steps=200, dt=2.0).measure
    assert prob.residual(mu) > 1e-5
    out, info = mf.stationary(prob, mu, tol=1e-12, info=True)
    assert info.converged and prob.residual(out) <= 1e-12 and prob.loss(out) < 1e-20
    assert info.method.startswith("Gauss-Newton") and "trust-region" not in info.method
    assert info.products <= info.iterations  # one vjp per step (A^T z), no Hessian-vector product
    assert np.all(np.diff(info.losses) < 0)
    L = info.losses
    assert L[-1] <= 1e-6 * L[-2] and L[-2] <= 1e-3 * L[-3]  # the last steps square the loss's scale
    lsqr, linfo = mf.stationary(prob, mu, tol=1e-12, dense=False, info=True)  # matrix-free: preconditioned CG
    assert linfo.converged and "preconditioned CG" in linfo.method and linfo.products > 0
    assert prob.loss(lsqr) < 1e-20 and linfo.iterations <= 4 * info.iterations  # inexact steps: more of them
    with pytest.warns(RuntimeWarning, match="max-iter"):  # Newton alone: linear convergence to the manifold
        nl, ninfo = mf.stationary(prob, mu, tol=1e-12, gauss_newton=False, max_iter=5 * info.iterations, info=True)
    assert not ninfo.converged and ninfo.residual > 1e3 * info.residual


def test_gauss_newton_hands_over_to_newton_at_a_minimum_of_nonzero_loss():
    """Fewer parameters than fitted values and noisy labels: the minimum has loss > 0, Gauss-Newton (forced: by
    default it runs only on over-parameterised nets) converges linearly there; the trust-region Newton method
    finishes, at the minimum Newton alone finds."""
    fam = mf.families.tanh(d=2)
    data, _ = mf.datasets.teacher_student(fam, m_teacher=3, n=60, noise=0.3, seed=3)
    prob = mf.Problem(fam, data)
    mu = mf.flow(prob, mf.Measure(fam, fam.random_particles(2, seed=1)), steps=300, dt=1.0).measure
    ref = mf.stationary(prob, mu, tol=1e-11, gauss_newton=False)
    start = ref.copy(particles=ref.particles * (1 + 1e-3 * np.random.default_rng(0).standard_normal(ref.particles.shape)))
    out, info = mf.stationary(prob, start, tol=1e-11, gauss_newton=True, info=True)
    assert info.converged and prob.residual(out) <= 1e-11 and prob.loss(out) > 1e-3
    assert "Gauss-Newton on the fitted values" in info.method and "then trust-region" in info.method
    assert prob.loss(out) == pytest.approx(prob.loss(ref), rel=1e-10)
    np.testing.assert_allclose(prob.prediction(out), prob.prediction(ref), atol=1e-6)  # the same minimum
    assert "fitted values" not in mf.stationary(prob, start, tol=1e-11, info=True)[1].method  # not by default


@pytest.mark.parametrize("make, kwargs, match", [
    ("logistic", {"gauss_newton": True}, "square loss"),
    ("reg", {"gauss_newton": True}, "reg = 0"),
    ("plain", {"gauss_newton": True, "target": "saddle"}, "minimum search"),
    ("plain", {"gauss_newton": "yes"}, "gauss_newton"),
])
def test_gauss_newton_bad_arguments(make, kwargs, match):
    fam = mf.families.tanh(d=2)
    data, _ = mf.datasets.teacher_student(fam, m_teacher=2, n=20, seed=0)
    if make == "logistic":
        data = mf.Samples(data.X, np.where(data.Y >= np.median(data.Y), 1.0, -1.0))
    prob = mf.Problem(fam, data, loss="logistic" if make == "logistic" else "square", reg=0.1 if make == "reg" else 0.0)
    with pytest.raises(mf.MfsymError, match=match):
        mf.stationary(prob, mf.Measure(fam, fam.random_particles(2, seed=0)), **kwargs)


def test_a_gauss_newton_start_that_does_not_converge_costs_nothing():
    """Duplicated relu neurons without bias, over-parameterised: Gauss-Newton stops on a kink at loss 5e-6 and
    the Newton method from there stalls; Newton from the given point converges, and that result is returned."""
    fam = mf.families.relu(d=2)
    data, _ = mf.datasets.teacher_student(fam, m_teacher=2, n=10, seed=0)
    prob = mf.Problem(fam, data)
    P = fam.random_particles(6, seed=2)
    mu = mf.flow(prob, mf.Measure(fam, np.vstack([P, P])), steps=50, dt=1.0).measure
    out, info = mf.stationary(prob, mu, info=True)
    ref, rinfo = mf.stationary(prob, mu, gauss_newton=False, info=True)
    assert info.converged and prob.residual(out) <= 1e-10 and "from the given point again" in info.method
    np.testing.assert_array_equal(out.particles, ref.particles)  # the Newton run, exactly
    assert info.iterations > rinfo.iterations and info.residuals[0] == rinfo.residuals[0]
    with pytest.warns(RuntimeWarning, match="max-iter"):
        _, binfo = mf.stationary(prob, mu, max_iter=5, info=True)  # the budget covers both runs
    assert binfo.iterations <= 5
