"""Exact search for piecewise-linear potentials (mfsym/meanfield/_exact.py, docs/mathematics.md): the slopes are
read from the activation, the branch and bound's bounds are rigorous and match an independent enumeration,
and the adversarial dead-neuron / small-cap problems get no false claim."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.optimize as so
import sympy as sp

import mfsym as mf
from mfsym.meanfield import _exact as EX


def adversarial(d: int, seed: int, cap: bool = True, stretch: float = 1.02):
    """relu(outputs=0, bias=True) with positive masses, two live neurons and one dead neuron, stationary by
    construction: the residual e vanishes on every sample a live neuron sees and is > 0 elsewhere, except
    (``cap=True``) at one sample placed just beyond an idle one, where e < 0 -- so J < 0 only on the thin
    cap of directions that see that sample and not its neighbour. Returns ``(prob, mu, X, e)``."""
    rng = np.random.default_rng(seed)
    n = 3 * d + 6
    fam = mf.families.relu(d=d, outputs=0, bias=True)
    X = rng.standard_normal((n, d))
    W, B = rng.standard_normal((2, d)), np.array([-1.0, -1.2])
    idle = np.nonzero(~((X @ W.T + B) > -1e-9).any(axis=1))[0]
    far = idle[np.argmax(np.linalg.norm(X[idle], axis=1))]
    X = np.concatenate([X, stretch * X[far][None]])
    seen = ((X @ W.T + B) > -1e-9).any(axis=1)
    e = np.where(seen, 0.0, rng.uniform(0.05, 0.2, len(X)))
    if cap:
        e[-1] = -0.5 * e[far]
    dead = np.r_[-np.ones(d), -(np.abs(X).sum(axis=1).max() + 1.0)]  # w.x + b < 0 on every sample
    mu = mf.Measure(fam, np.concatenate([np.c_[W, B], dead[None]]), np.array([0.4, 0.3, 0.3]))
    f = mf.Problem(fam, mf.Samples(X, np.zeros((len(X), 1)))).prediction(mu)
    return mf.Problem(fam, mf.Samples(X, f - e[:, None])), mu, X, e


def cap_exists(X: np.ndarray, e: np.ndarray) -> bool:
    """Independent ground truth: an LP finds eta with z_i <= 0 wherever e_i > 0 and z_i > 0 where e_i < 0
    (then J(eta) = sum_{e_i < 0} e_i z_i / n < 0)."""
    Xa = np.c_[X, np.ones(len(X))]
    neg = np.nonzero(e < 0)[0]
    if not len(neg):
        return False
    res = so.linprog(-Xa[neg].sum(axis=0), A_ub=Xa[e > 0], b_ub=np.zeros(int((e > 0).sum())),
                     bounds=[(-1, 1)] * Xa.shape[1], method="highs")
    return res.status == 0 and -res.fun > 1e-9


def test_slopes_are_read_from_the_activation():
    z = sp.Symbol("z", real=True)
    from mfsym.families._inner import Z

    assert EX.slopes(sp.Max(0, Z)) == EX.Piecewise(sp.Integer(1), sp.Integer(0))
    assert EX.slopes(sp.Max(Z, Z / 10)) == EX.Piecewise(sp.Integer(1), sp.Rational(1, 10))
    assert EX.slopes(sp.Abs(Z)) == EX.Piecewise(sp.Integer(1), sp.Integer(-1))
    assert EX.slopes(Z) is None                       # linear: no kink
    assert EX.slopes(1 / (1 + sp.exp(-Z))) is None    # smooth
    assert EX.slopes(sp.Max(0, Z - 1)) is None        # kink away from 0: not homogeneous
    del z


def test_applicability_by_structure_not_name():
    X = np.random.default_rng(0).standard_normal((8, 2))
    Y = np.ones((8, 1))
    relu = mf.Problem(mf.families.relu(d=2, outputs=0, bias=True), mf.Samples(X, Y))
    assert EX.applicable(relu)[0] is not None
    sig = mf.Problem(mf.families.sigmoid(d=2), mf.Samples(X, Y))
    assert EX.applicable(sig)[0] is None
    w, x = sp.MatrixSymbol("w", 2, 1), sp.MatrixSymbol("x", 2, 1)
    a, b = sp.symbols("a b")
    z = (w.T * x)[0, 0] + b
    leaky = mf.families.from_expr(a * sp.Max(z, z / 4), params={"a": (), "w": (2,), "b": ()}, inputs={"x": (2,)},
                                  name="mine")
    pl, why = EX.applicable(mf.Problem(leaky, mf.Samples(X, Y)))
    assert pl is not None and pl.gamma == sp.Rational(1, 4), why


def _exact_square_min(P: EX.Scalar) -> float:
    """min over the l-inf ball of a 2-d PL potential: its minimum on the square's boundary is at a vertex or where
    a line x_i.eta = 0 crosses an edge (P is linear between those points) -- an independent enumeration."""
    Xa = P.Xa
    w, g0 = P.mid()
    pts = [np.array(v, float) for v in ((1, 1), (1, -1), (-1, 1), (-1, -1))]
    for x in Xa:
        for j in (0, 1):
            for s in (1.0, -1.0):
                if x[1 - j] != 0:
                    eta = np.zeros(2)
                    eta[j] = s
                    eta[1 - j] = -s * x[j] / x[1 - j]
                    if abs(eta[1 - j]) <= 1:
                        pts.append(eta)
    vals = [g0 @ p + w @ np.maximum(Xa @ p, 0) for p in pts]
    return min(0.0, float(min(vals)))


@pytest.mark.parametrize("seed", range(4))
def test_branch_and_bound_matches_enumeration_in_2d(seed):
    import flint

    rng = np.random.default_rng(seed)
    n = 9
    Xa = rng.standard_normal((n, 2))
    w = rng.standard_normal(n)
    g0 = 0.3 * rng.standard_normal(2)
    P = EX.Scalar(Xa, [flint.arb(float(v)) for v in w], [flint.arb(float(v)) for v in g0], "+h_0")
    truth = _exact_square_min(P)
    r = EX.minimise(P, 1e-12, 4000)
    assert r.complete
    assert r.lower <= truth + 1e-14          # a lower bound
    assert r.lower >= truth - 1e-9 * max(1.0, abs(truth))   # and tight
    assert abs(r.best - truth) <= 1e-9 * max(1.0, abs(truth))


def test_safe_bound_is_a_lower_bound_for_any_multipliers():
    import flint

    rng = np.random.default_rng(3)
    A = rng.standard_normal((6, 4))
    b = rng.uniform(0.5, 1.0, 6)
    c = rng.standard_normal(4)
    lo, hi = -np.ones(4), np.ones(4)
    res = so.linprog(c, A_ub=A, b_ub=b, bounds=list(zip(lo, hi)), method="highs")
    E = np.zeros((0, 4))
    for trial in range(20):
        y = np.abs(rng.standard_normal(6)) * (trial > 0)
        if trial == 1:
            y = -res.ineqlin.marginals
        ball = EX._safe_bound([flint.arb(float(v)) for v in c], A, [flint.arb(float(v)) for v in b], E, [], lo, hi,
                              y, np.zeros(0))
        assert EX._lower(ball) <= res.fun + 1e-15
        if trial == 1:  # the optimal duals give the optimum
            assert EX._lower(ball) >= res.fun - 1e-9


def test_sphere_relation_sandwich():
    """m_inf <= m_2 <= m_inf / sqrt(D) (module docstring), checked against dense sphere sampling in 3-d."""
    import flint

    rng = np.random.default_rng(5)
    Xa = rng.standard_normal((7, 3))
    w = rng.standard_normal(7)
    P = EX.Scalar(Xa, [flint.arb(float(v)) for v in w], [flint.arb(0.0)] * 3, "+h_0")
    r = EX.minimise(P, 1e-12, 4000)
    U = rng.standard_normal((200000, 3))
    U /= np.linalg.norm(U, axis=1, keepdims=True)
    m2 = float(np.min(np.maximum(U @ Xa.T, 0) @ w))
    assert r.lower <= m2 + 1e-12
    assert m2 <= r.best / math.sqrt(3) + 1e-9 * abs(r.best) if r.best < 0 else m2 >= -1e-12


D_VALUES = (2, 6)


@pytest.mark.parametrize("d", D_VALUES)
def test_adversarial_small_cap_never_global(d):
    prob, mu, X, e = adversarial(d, seed=d)
    assert cap_exists(X, e)
    assert prob.relative_residual(mu) <= 1e-12  # stationary by construction
    # the cap is small: a tiny fraction of the sphere
    U = np.random.default_rng(0).standard_normal((20000, d + 1))
    U /= np.linalg.norm(U, axis=1, keepdims=True)
    frac = float(np.mean(prob.first_variation(mu, U) < 0))
    assert frac < 0.02
    rep = mf.check(prob, mu, escaping=False, restarts=3)
    assert rep.verdict == "unstable"
    ng = next(c for c in rep.certificate["claims"] if c["name"] == "non-globality")
    assert ng["outcome"] == "proved"
    assert "exact search over activation patterns" in rep.mean_field.method
    assert mf.verify(rep.certificate) is True


@pytest.mark.parametrize("d", D_VALUES)
def test_adversarial_without_cap_is_certified_global(d):
    prob, mu, X, e = adversarial(d, seed=d, cap=False)
    assert not cap_exists(X, e) and np.all(e >= 0)  # J >= 0 everywhere: truly global
    rep = mf.check(prob, mu, escaping=False, restarts=3)
    assert rep.verdict == "global-minimizer"
    ex = next(c for c in rep.certificate["claims"] if c["name"] == "exact-global")
    assert ex["outcome"] == "proved"
    assert "certified (exact MILP)" in rep.mean_field.method
    assert any("certified (exact MILP)" in r for r in rep.reasons)
    assert mf.verify(rep.certificate) is True


def test_no_false_claims_over_the_generator():
    """The campaign in small: caps of several widths and seeds; every verdict checked against the LP truth."""
    false = 0
    for d, seed, stretch in ((2, 11, 1.01), (4, 12, 1.05), (3, 14, 1.1)):
        for cap in (True, False):
            prob, mu, X, e = adversarial(d, seed, cap=cap, stretch=stretch)
            truth_global = not cap_exists(X, e)
            v = mf.check(prob, mu, escaping=False, restarts=3).verdict
            false += (v == "global-minimizer" and not truth_global) or (v == "unstable" and truth_global)
    assert false == 0


def test_trained_outputs_teacher_student():
    """q = 2 (relu with a trained output): an exact fit is certified global; the reduction -1/2 max|h| holds."""
    fam = mf.families.relu(d=2, outputs=1)
    X = np.random.default_rng(1).standard_normal((12, 2))
    W = np.array([[1.0, 0.5, 0.2], [-0.7, 0.3, -1.1]])  # a, w
    mu = mf.Measure(fam, W, np.array([0.5, 0.5]))
    Y = mf.Problem(fam, mf.Samples(X, np.zeros((12, 1)))).prediction(mu)
    prob = mf.Problem(fam, mf.Samples(X, Y))
    rep = mf.check(prob, mu, escaping=False, restarts=3)
    assert rep.verdict == "global-minimizer"
    assert [c["outcome"] for c in rep.certificate["claims"] if c["name"] == "exact-global"] == ["proved"]
    # perturb the labels: not global; the exact bound dominates the sphere gap found numerically
    prob2 = mf.Problem(fam, mf.Samples(X, Y + 0.1 * np.sin(np.arange(12))[:, None]))
    g = mf.meanfield.gap(prob2, mu, restarts=3)
    full = EX.exact_search(prob2, mu, EX.applicable(prob2)[0], 1e-9)  # run to the minimum, not stopped early
    assert full.complete and 0 < g.value <= full.upper * (1 + 1e-9)
    # -min_{|theta|=1} J = 1/2 max_{|eta|=1} |h|: dense check of the value found
    U = np.random.default_rng(2).standard_normal((40000, 2))
    U /= np.linalg.norm(U, axis=1, keepdims=True)
    T = np.c_[np.ones(len(U)), U]
    h = prob2.first_variation(mu, T)
    assert g.value >= 0.5 * np.max(np.abs(h)) - 1e-9


def test_size_limit_falls_back_with_a_reason(monkeypatch):
    prob, mu, X, e = adversarial(2, seed=2, cap=False)
    monkeypatch.setattr(EX, "MAX_SAMPLES", 5)
    g = mf.meanfield.gap(prob, mu)
    assert "no exact search (size limit of the exact search: n =" in g.method and "exact" not in g.extras
    rep = mf.check(prob, mu, escaping=False, restarts=3)
    assert rep.verdict == "global-minimizer"
    assert not any(c["name"] == "exact-global" for c in rep.certificate["claims"])
    assert any("numerical evidence" in r for r in rep.reasons)
