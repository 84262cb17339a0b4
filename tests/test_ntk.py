"""Lazy regime (mfsym.ntk): H^inf against independent computations, theorem quantities, GD runs, analyses.

Independent references used here: mpmath at 50 digits of the arc-cosine closed forms (inner products summed
exactly from the float inputs); Monte Carlo over w with standard errors; quadrature (trapezoid, Gauss--Hermite,
mpmath) against the erf closed form; sympy's own integration (``derive_gram``); explicit loops; finite
differences for gradients and Jacobians.
"""

from __future__ import annotations

import importlib.util
import itertools
import math
import shutil
import subprocess
import warnings
from pathlib import Path

import mpmath as mp
import numpy as np
import pytest

from mfsym import DataError, FamilyError, MfsymError, ntk

ROOT = Path(__file__).resolve().parents[1]


def sphere(n, d, seed):
    X = np.random.default_rng(seed).standard_normal((n, d))
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def hard_inputs():
    """Unit rows with a near-duplicate pair (angle ~1e-7) and a near-antipodal pair (~1e-9)."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((8, 5))
    X[3] = X[2] + 1e-7 * rng.standard_normal(5)
    X[5] = -X[4] + 1e-9 * rng.standard_normal(5)
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def mp_relu(X, both):
    """50-digit arc-cosine kernels: g (pi - theta)/(2 pi) [+ |x||y| (sin t + (pi - t) cos t)/(2 pi)]."""
    n = len(X)
    H = np.empty((n, n))
    with mp.workdps(50):
        R = [[mp.mpf(float(v)) for v in x] for x in X]
        for i in range(n):
            for j in range(n):
                g = mp.fsum(a * b for a, b in zip(R[i], R[j]))
                a, b = mp.fsum(v * v for v in R[i]), mp.fsum(v * v for v in R[j])
                t = mp.acos(max(min(g / mp.sqrt(a * b), 1), -1))
                v = g * (mp.pi - t) / (2 * mp.pi)
                if both:
                    v += mp.sqrt(a * b) * (mp.sin(t) + (mp.pi - t) * mp.cos(t)) / (2 * mp.pi)
                H[i, j] = float(v)
    return H


# ------------------------------------------------------------------------------------------ closed forms
@pytest.mark.parametrize("trained", ["hidden", "both"])
def test_relu_closed_form_to_mpmath(trained):
    X = hard_inputs()
    H = ntk.gram(X, trained=trained, on_parallel="ignore")
    assert np.max(np.abs(H - mp_relu(X, trained == "both"))) < 1e-13
    assert np.array_equal(H, H.T)
    # general norms (unit_tol=None): the same formulas with g and |x_i||x_j|
    Y = X * np.random.default_rng(2).uniform(0.3, 3.0, (len(X), 1))
    assert np.max(np.abs(ntk.gram(Y, trained=trained, unit_tol=None, on_parallel="ignore")
                         - mp_relu(Y, trained == "both"))) < 1e-12


def test_relu_inputs_exercise_the_stable_form():
    """The one-line arccos formula loses ~1e-10 on these inputs; gram (atan2 + Kahan) does not."""
    X = hard_inputs()
    G = X @ X.T
    naive = G * (np.pi - np.arccos(np.clip(G, -1, 1))) / (2 * np.pi)
    assert np.max(np.abs(naive - mp_relu(X, False))) > 1e-11


@pytest.mark.parametrize("trained", ["hidden", "both"])
@pytest.mark.parametrize("method", ["trapezoid", "gauss-hermite"])
def test_erf_closed_form_against_quadrature(trained, method):
    X = sphere(12, 4, 3)
    Y = X * np.random.default_rng(4).uniform(0.3, 2.5, (12, 1))
    for Z, kw in ((X, {}), (Y, {"unit_tol": None})):
        closed = ntk.gram(Z, "erf", trained=trained, **kw)
        quad = ntk.gram(Z, "erf", trained=trained, method=method, **kw)
        tol = 1e-10 if method == "trapezoid" or Z is X else 1e-7  # Gauss-Hermite converges slowly for |x| > 1
        assert np.max(np.abs(closed - quad)) < tol


@pytest.mark.parametrize("activation, trained", [("relu", "hidden"), ("relu", "both"), ("erf", "hidden"),
                                                 ("erf", "both")])
def test_sympy_derivation_matches_gram(activation, trained):
    der = ntk.derive_gram(activation, trained)
    X = sphere(20, 6, 5)
    rho = np.clip(X @ X.T, -1.0, 1.0)
    np.fill_diagonal(rho, 1.0)  # acos of a rounded 1 - eps is ~1e-8: the diagonal is exactly rho = 1
    assert np.max(np.abs(der.numeric()(rho) - ntk.gram(X, activation, trained=trained))) < 1e-12
    assert der.steps[-1].value == der.result


def test_sympy_results_are_the_published_forms():
    import sympy as sp

    r = ntk.derive_gram("relu").result
    assert sp.simplify(r - ntk._symbolic.RHO * (sp.pi - sp.acos(ntk._symbolic.RHO)) / (2 * sp.pi)) == 0
    e = ntk.derive_gram("erf", "both").result
    rho = ntk._symbolic.RHO
    target = 4 * rho / (sp.pi * sp.sqrt(9 - 4 * rho**2)) + 2 * sp.asin(2 * rho / 3) / sp.pi
    assert sp.simplify(e - target) == 0


@pytest.mark.parametrize("activation, trained", [("relu", "hidden"), ("relu", "both"), ("erf", "hidden"),
                                                 ("erf", "both"), ("tanh", "hidden"), ("sigmoid", "both")])
def test_gram_matches_monte_carlo(activation, trained):
    X = sphere(6, 4, 6)
    H = ntk.gram(X, activation, trained=trained)
    mc = ntk.gram_monte_carlo(X, activation, trained=trained, samples=100_000, seed=7)
    assert np.max(mc.stderr) < 5e-3  # the comparison below has teeth
    assert np.all(np.abs(mc.mean - H) <= 5 * mc.stderr + 1e-12)


def test_quadrature_rules_and_mpmath_agree_for_tanh():
    X = sphere(10, 3, 8)
    trap = ntk.gram(X, "tanh")
    gh = ntk.gram(X, "tanh", method="gauss-hermite", nodes=200)
    assert np.max(np.abs(trap - gh)) < 1e-11
    ref = ntk.gram(X[:2], "tanh", method="mpmath")  # one 2-D mpmath quadrature + two 1-D (diagonal)
    assert np.max(np.abs(ref - trap[:2, :2])) < 1e-11


def test_callable_derivative_and_activation_object():
    X = sphere(7, 3, 9)
    d_tanh = lambda z: 1.0 / np.cosh(z) ** 2
    assert np.max(np.abs(ntk.gram(X, d_tanh) - ntk.gram(X, "tanh"))) < 1e-12
    act = ntk.Activation("mytanh", d_tanh, function=np.tanh)
    assert np.max(np.abs(ntk.gram(X, act, trained="both") - ntk.gram(X, "tanh", trained="both"))) < 1e-12


@pytest.mark.parametrize("activation", ["relu", "erf", "tanh", "sigmoid"])
def test_gram_symmetric_psd_and_lambda0(activation):
    X = sphere(40, 5, 10)
    H = ntk.gram(X, activation)
    assert np.array_equal(H, H.T)
    ev = np.linalg.eigvalsh(H)
    assert ev[0] > 1e-8  # no parallel inputs: positive definite (Du et al. Thm 3.1 for relu)
    assert ntk.lambda0(X, activation) == pytest.approx(ev[0], rel=1e-10, abs=1e-13)


def test_finite_gram_explicit_sum_and_convergence():
    rng = np.random.default_rng(11)
    X = sphere(5, 3, 12)
    W = rng.standard_normal((7, 3))
    a = rng.choice([-1.0, 1.0], 7)
    H = np.zeros((5, 5))
    for i in range(5):
        for j in range(5):
            H[i, j] = sum(a[r] ** 2 * (X[i] @ X[j]) * (W[r] @ X[i] >= 0) * (W[r] @ X[j] >= 0) for r in range(7)) / 7
    assert np.max(np.abs(ntk.finite_gram(W, X, a) - H)) < 1e-14
    Hinf = ntk.gram(X)
    errs = [np.linalg.norm(ntk.finite_gram(rng.standard_normal((m, 3)), X) - Hinf, 2) for m in (100, 10_000)]
    assert errs[1] < errs[0] / 3  # O(1/sqrt(m)) (Du et al. Lemma 3.1)


# ------------------------------------------------------------------------------------------ input checks
def test_parallel_inputs_reported():
    X = sphere(6, 3, 13)
    Xp = np.vstack([X, X[1], -X[4]])
    pairs = ntk.parallel_pairs(Xp)
    assert sorted(map(tuple, pairs)) == [(1, 6), (4, 7)]
    assert ntk.parallel_pairs(X).shape == (0, 2)
    with pytest.warns(ntk.ParallelInputsWarning, match=r"\(1, 6\)"):
        H = ntk.gram(Xp)
    assert abs(np.linalg.eigvalsh(H)[0]) < 1e-12  # two equal rows: lambda0 = 0
    with pytest.raises(DataError, match="parallel"):
        ntk.gram(Xp, on_parallel="raise")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ntk.gram(X)
        ntk.gram(Xp, on_parallel="ignore")


def test_normalize_flag():
    X = sphere(5, 3, 14) * np.arange(1, 6)[:, None]
    with pytest.raises(DataError, match=r"X: expected unit-norm rows.*row 4 has norm 5 .*normalize=True"):
        ntk.gram(X)
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    assert np.max(np.abs(ntk.gram(X, normalize=True) - ntk.gram(Xn))) < 1e-15


BAD = [
    (lambda: ntk.gram(np.array([[1.0, np.nan]])), DataError, "X: expected finite values"),
    (lambda: ntk.gram(np.ones(3)), DataError, r"X: expected an array with 2 dimensions, got shape \(3,\)"),
    (lambda: ntk.gram(np.zeros((2, 3))), DataError, "X: row 0 is zero"),
    (lambda: ntk.gram(np.empty((0, 3))), DataError, r"X: expected shape \(n, d\)"),
    (lambda: ntk.gram(sphere(3, 2, 0), "softplus"), FamilyError, "activation: expected one of"),
    (lambda: ntk.gram(sphere(3, 2, 0), 3), FamilyError, "activation: expected a name"),
    (lambda: ntk.gram(sphere(3, 2, 0), "tanh", method="closed-form"), DataError, "method: no closed form"),
    (lambda: ntk.gram(sphere(3, 2, 0), method="simpson"), DataError, "method: expected one of"),
    (lambda: ntk.gram(sphere(3, 2, 0), trained="output"), DataError, "trained: expected one of"),
    (lambda: ntk.gram(sphere(3, 2, 0), lambda z: z, trained="both"), FamilyError, "needs sigma itself"),
    (lambda: ntk.gram(sphere(3, 2, 0), lambda z: 1.0), FamilyError, "must map a float array"),
    (lambda: ntk.gram(sphere(3, 2, 0), unit_tol=-1.0), DataError, "unit_tol: expected a finite number > 0"),
    (lambda: ntk.gram(sphere(3, 2, 0), normalize="yes"), DataError, "normalize: expected True or False"),
    (lambda: ntk.gram(sphere(3, 2, 0), "tanh", nodes=1), DataError, "nodes: expected an integer >= 2"),
    (lambda: ntk.gram(sphere(3, 2, 0), on_parallel="log"), DataError, "on_parallel: expected one of"),
    (lambda: ntk.gram_monte_carlo(sphere(3, 2, 0), samples=1), DataError, "samples: expected an integer >= 2"),
    (lambda: ntk.gram_monte_carlo(sphere(3, 2, 0), seed=-1), DataError, "seed: expected an integer >= 0"),
    (lambda: ntk.finite_gram(np.ones((4, 3)), sphere(3, 2, 0)), DataError, r"W: expected shape \(m, d\)"),
    (lambda: ntk.finite_gram(np.ones((4, 2)), sphere(3, 2, 0), a=np.ones(3)), DataError, r"a: expected shape \(4,\)"),
    (lambda: ntk.smallest_eigenvalue(np.array([[1.0, 2.0], [0.0, 1.0]])), DataError, "H: expected a symmetric"),
    (lambda: ntk.train_du(sphere(4, 3, 0), np.ones(4), 0, eta=0.1, steps=3), DataError, "m: expected an integer >= 1, got 0"),
    (lambda: ntk.train_du(sphere(4, 3, 0), np.ones(4), 5, eta=-0.1, steps=3), DataError, "eta: expected a finite number > 0"),
    (lambda: ntk.train_du(sphere(4, 3, 0), np.ones(4), 5, eta=0.1, steps=0), DataError, "steps: expected an integer >= 1"),
    (lambda: ntk.train_du(sphere(4, 3, 0), np.ones(3), 5, eta=0.1, steps=3), DataError, r"y: expected shape \(4,\)"),
    (lambda: ntk.train_du(sphere(4, 3, 0), np.ones(4), 5, eta=0.1, steps=3, W0=np.ones((5, 2))), DataError,
     r"W0: expected shape \(5, 3\)"),
    (lambda: ntk.train_du(sphere(4, 3, 0), np.ones(4), 2, eta=0.1, steps=3, a=[1.0, 0.5]), DataError, "entries \\+-1"),
    (lambda: ntk.train_du(sphere(4, 3, 0), np.ones(4), 2, eta=0.1, steps=3, seed=1.5), DataError, "seed: expected"),
    (lambda: ntk.du_bounds(0.0, 10), DataError, "lambda0: expected a finite number > 0"),
    (lambda: ntk.du_bounds(0.1, 10, delta=1.0), DataError, r"delta: expected a probability in \(0, 1\)"),
    (lambda: ntk.du_bounds(0.1, 10, y=np.ones(3)), DataError, r"y: expected shape \(10,\)"),
    (lambda: ntk.DuConstants(step=0.4), DataError, "DuConstants.step: Thm 4.1"),
    (lambda: ntk.DuConstants(radius=1.0), DataError, "DuConstants.radius: Lemma 3.2"),
    (lambda: ntk.DuConstants(delta_split=(0.5, 0.5, 0.5)), DataError, "DuConstants.delta_split"),
    (lambda: ntk.init_deep(3, [4, 5], scheme="xavier"), FamilyError, "scheme: expected one of"),
    (lambda: ntk.init_deep(3, 4), FamilyError, "hidden: expected a non-empty sequence"),
    (lambda: ntk.init_deep(3, [4, 0]), DataError, r"hidden\[1\]: expected an integer >= 1"),
    (lambda: ntk.sigma_min_curve(sphere(4, 3, 0), []), DataError, "widths: expected a non-empty sequence"),
    (lambda: ntk.train_deep(sphere(4, 3, 0), np.ones(4), (5,), steps=2, step_factor=0), DataError, "step_factor"),
    (lambda: ntk.deep_features(sphere(4, 3, 0), [np.ones((2, 5)), np.ones((5, 1))]), DataError,
     r"weights\[0\]: expected 3 rows"),
    (lambda: ntk.derive_gram("tanh"), FamilyError, "activation: expected one of"),
]


@pytest.mark.parametrize("call, error, match", BAD)
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match) as info:
        call()
    assert isinstance(info.value, MfsymError)


# ------------------------------------------------------------------------------------------ LaTeX
def test_latex_strings():
    tex = ntk.gram_latex("relu")
    assert r"\begin{align*}" in tex and r"\mathbf{1}\{z \ge 0\}" in tex and r"\arccos" in tex
    assert r"\frac{\pi - \theta}{2 \pi}" in tex
    assert r"\sqrt{9 - 4 \rho^{2}}" in ntk.gram_latex("erf")


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")
def test_latex_compiles(tmp_path):
    body = "\n\n".join(ntk.gram_latex(a, t) for a in ("relu", "erf") for t in ("hidden", "both"))
    tex = tmp_path / "ntk.tex"
    tex.write_text("\\documentclass{article}\n\\usepackage{amsmath,amssymb}\n\\begin{document}\n" + body
                   + "\n\\end{document}\n")
    out = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", tex.name], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stdout[-2000:]
    assert (tmp_path / "ntk.pdf").stat().st_size > 0
    path = ntk.derive_gram("erf").to_tex(tmp_path / "erf.tex")
    assert subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", path.name], cwd=tmp_path,
                          capture_output=True, timeout=120, check=False).returncode == 0


# ------------------------------------------------------------------------------------------ Du et al. theory
def test_du_bounds_explicit_values():
    n, lam, delta = 10, 0.5, 0.3
    y = np.linspace(-1, 1, n)
    b = ntk.du_bounds(lam, n, delta=delta, y=y)
    c = ntk.DuConstants()
    d1 = d2 = d3 = delta / 3
    rho0 = (y @ y + n / 2) / d3
    R = math.sqrt(2 * math.pi) / 32 * d2 * lam / n**2
    assert c.radius == pytest.approx(math.sqrt(2 * math.pi) / 32)
    assert b.residual_sq == pytest.approx(rho0)
    assert b.radius == pytest.approx(R)
    assert b.width_gram == pytest.approx(8 * n**2 * math.log(2 * n**2 / d1) / lam**2)
    assert b.width_flow == pytest.approx(4 * n * rho0 / (R * lam) ** 2)
    assert b.width_gd == pytest.approx(16 * n * rho0 / (R * lam) ** 2)
    assert b.eta == pytest.approx(0.25 * lam / n**2)
    assert b.rate_gd == pytest.approx(1 - b.eta * lam / 2)
    assert b.movement(int(b.width_gd) + 1) < b.radius  # Thm 4.1's R' < R at the stated width


def test_du_bounds_have_the_paper_shape():
    """m = Omega(n^6 / (lambda0^4 delta^3)), eta = O(lambda0 / n^2) (Du et al. Thms 3.2, 4.1), |y_i| <= C."""
    base = ntk.du_bounds(0.2, 100, delta=0.1)
    assert ntk.du_bounds(0.2, 200, delta=0.1).width_flow / base.width_flow == pytest.approx(64, rel=1e-12)
    assert ntk.du_bounds(0.1, 100, delta=0.1).width_flow / base.width_flow == pytest.approx(16, rel=1e-12)
    assert ntk.du_bounds(0.2, 100, delta=0.05).width_flow / base.width_flow == pytest.approx(8, rel=1e-12)
    assert ntk.du_bounds(0.2, 200, delta=0.1).eta / base.eta == pytest.approx(0.25)
    assert base.width_gd == pytest.approx(4 * base.width_flow)


# ------------------------------------------------------------------------------------------ Du et al. GD
def test_du_gradient_step_matches_finite_differences():
    rng = np.random.default_rng(15)
    X, y = sphere(3, 2, 16), rng.standard_normal(3)
    W0, a = rng.standard_normal((4, 2)), np.array([1.0, -1.0, 1.0, -1.0])
    eta = 1e-3

    def loss(W):
        return 0.5 * np.sum((ntk.du_predict(W, a, X) - y) ** 2)

    G = np.zeros_like(W0)
    for idx in np.ndindex(W0.shape):
        E = np.zeros_like(W0)
        E[idx] = 1e-6
        G[idx] = (loss(W0 + E) - loss(W0 - E)) / 2e-6
    run = ntk.train_du(X, y, 4, eta=eta, steps=1, W0=W0, a=a, record_gram=False)
    assert run.losses[0] == pytest.approx(loss(W0), rel=1e-14)
    assert run.losses[1] == pytest.approx(loss(W0 - eta * G), rel=1e-8)
    assert run.max_movement[1] == pytest.approx(eta * np.max(np.linalg.norm(G, axis=1)), rel=1e-6)


def test_du_run_trends_and_theorem():
    X = sphere(40, 40, 17)
    y = np.random.default_rng(18).standard_normal(40)
    H = ntk.gram(X)
    eta = 1.0 / np.linalg.eigvalsh(H)[-1]
    runs = [ntk.train_du(X, y, m, eta=eta, steps=30, seed=19 + k, gram_inf=H) for k, m in enumerate((50, 800))]
    for run in runs:
        assert run.bound_holds and run.worst_step_ratio <= run.predicted_rate
        assert np.all(np.diff(run.losses) < 0)
    small, large = runs
    assert large.pattern_changes[-1] < small.pattern_changes[-1] / 2
    assert large.max_movement[-1] < small.max_movement[-1] / 2  # ~ 1/sqrt(m): factor 4 expected
    assert large.gram_init_error < small.gram_init_error and large.gram_drift < small.gram_drift
    assert large.observed_rate < small.observed_rate
    again = ntk.train_du(X, y, 50, eta=eta, steps=30, seed=19, gram_inf=H)
    assert np.array_equal(again.losses, small.losses)
    gen = ntk.train_du(X, y, 50, eta=eta, steps=30, seed=np.random.default_rng(19), gram_inf=H)
    assert np.array_equal(gen.losses, small.losses)


# ------------------------------------------------------------------------------------------ Nguyen 2021
def _flat(Ws):
    return np.concatenate([W.ravel() for W in Ws])


def _unflat(theta, Ws):
    out, k = [], 0
    for W in Ws:
        out.append(theta[k:k + W.size].reshape(W.shape))
        k += W.size
    return out


def test_deep_ntk_equals_finite_difference_jacobian():
    X = sphere(4, 3, 20)
    Ws = ntk.init_deep(3, (4, 5), scheme="he", seed=21)
    theta = _flat(Ws)
    J = np.empty((4, theta.size))
    for p in range(theta.size):
        e = np.zeros_like(theta)
        e[p] = 1e-6
        J[:, p] = (ntk.deep_features(X, _unflat(theta + e, Ws))[-1][:, 0]
                   - ntk.deep_features(X, _unflat(theta - e, Ws))[-1][:, 0]) / 2e-6
    K = ntk.deep_ntk(X, Ws)
    assert np.max(np.abs(K - J @ J.T)) < 1e-6 * np.max(np.abs(K))
    F = ntk.deep_features(X, Ws)
    assert np.linalg.eigvalsh(K)[0] >= np.linalg.eigvalsh(F[-2] @ F[-2].T)[0] - 1e-12  # K >= F_{L-1} F_{L-1}^T


def test_train_deep_first_step_is_the_ntk_quadratic_form():
    X = sphere(6, 3, 22)
    y = np.random.default_rng(23).standard_normal(6)
    Ws = ntk.init_deep(3, (5, 8), seed=24)
    r = ntk.deep_features(X, Ws)[-1][:, 0] - y
    eta = 1e-7
    run = ntk.train_deep(X, y, (5, 8), weights=Ws, eta=eta, steps=1)
    decrease = run.losses[0] - run.losses[1]
    assert decrease == pytest.approx(eta * r @ ntk.deep_ntk(X, Ws) @ r, rel=1e-4)  # Phi' = -|grad|^2 = -r^T K r


def test_sigma_min_transition_and_scheme_invariance():
    X = sphere(32, 8, 25)
    widths = [16, 32, 48, 64, 128, 2048]
    curves = {s: ntk.sigma_min_curve(X, widths, hidden_before=(16,), scheme=s, seed=26, repeats=2)
              for s in ("he", "lecun", "standard")}
    he = curves["he"]
    for s in ("lecun", "standard"):
        assert np.max(np.abs(curves[s].normalized - he.normalized)) < 1e-10 * np.max(he.normalized)
    med = he.median()
    assert np.all(he.sigma[:, :1] == 0.0)  # width < N: rank deficient
    assert med[1] < 1e-8 * med[-1]  # width = N: singular up to dead neurons (features are >= 0)
    assert np.all(np.diff(med[2:]) > 0)
    assert 0.7 * np.median(he.limit) < med[-1] < 1.05 * np.median(he.limit)


def test_train_deep_converges_and_respects_guarantee():
    X = sphere(16, 4, 27)
    y = np.random.default_rng(28).standard_normal(16)
    run = ntk.train_deep(X, y, (16, 64), steps=1000, step_factor=0.5, seed=29)
    assert run.lambda_F > 0 and run.losses[-1] < 1e-2 * run.losses[0]
    assert run.observed_rate < 1 and run.time_exponent >= run.pl_exponent
    assert run.ntk_min >= run.lambda_F**2 - 1e-12


# ------------------------------------------------------------------------------------------ analyses
def _load(name):
    spec = importlib.util.spec_from_file_location(f"_analysis_{name}", ROOT / "analyses" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_analysis_du2018_quick(tmp_path, capsys):
    res = _load("du2018").main(["--quick", "--out", str(tmp_path)])
    assert Path(res["figure"]).stat().st_size > 10_000
    assert "lambda0" in capsys.readouterr().out
    runs = res["runs"]
    for key in ("pattern_change", "max_movement", "gram_init_error", "observed_rate"):
        vals = [r[key] for r in runs]
        assert all(b < a for a, b in itertools.pairwise(vals)), (key, vals)  # decreasing in m
    assert all(r["bound_holds"] and r["observed_rate"] < r["predicted_rate"] for r in runs)


def test_analysis_nguyen2021_quick(tmp_path, capsys):
    res = _load("nguyen2021").main(["--quick", "--out", str(tmp_path)])
    assert Path(res["figure"]).stat().st_size > 10_000
    assert "sigma_min" in capsys.readouterr().out
    N, med = res["N"], np.array(res["normalized_median"])
    below = np.array(res["widths"]) <= N
    assert np.all(med[below] < 1e-8) and np.all(med[~below] > 0.05)
    assert np.all(np.diff(med[~below]) > 0) and med[-1] < 1.05 * max(res["limit"])
    assert res["scheme_gap"] < 1e-10
    for r in res["runs"]:
        assert r["final_loss"] < 1e-2 * r["initial_loss"] and r["time_exponent"] >= r["pl_exponent"]
