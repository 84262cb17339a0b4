"""Matrix-free curvature and certificates at scale, as ratios measured in one run.

1. Particle HVP of a relu net at the Du et al. size (d = 100, n = 1000, m = 1000: 10^5 parameters):
   mfsym's matrix-free HVP against its own particle gradient (how many gradient evaluations an HVP costs),
   the dense per-particle-Hessian HVP it replaces, and torch / JAX HVPs when installed; with JAX, also the
   HVP of mfsym's JAX backend (``mf.Problem(..., backend="jax")``) against the hand-written jitted JAX HVP.
2. Bottom eigenvalue: mfsym's Lanczos (spectrum) against JAX HVP + scipy eigsh when JAX is installed, on the
   numpy backend and on the JAX backend.
3. `mf.check` time against width (10, 100, 1000, 10^4) on a relu teacher (d = 10, n = 1000).
4. Certified v^T H v < 0 at N ~ 3000: python-flint balls against the float-rigorous bound.

Run: python benchmarks/bench_hvp.py [--quick] [--sections=1,2]   (--quick: small sizes, the smoke test of
tests/; --sections: only the numbered parts)
"""

from __future__ import annotations

import sys
import time

import numpy as np

import mfsym as mf
from mfsym._ball import precision
from mfsym._enclose import BallProblem
from mfsym.stability import spectrum
from mfsym.stability._floatbound import FloatProblem


def best(fn, repeat=3):
    """Best wall time of ``repeat`` calls (a loaded machine only ever slows a run down) and the last value."""
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return out, min(times)


def relu_problem(d, n, m, seed=0):
    fam = mf.families.relu(d=d)
    rng = np.random.default_rng(seed)
    prob = mf.Problem(fam, mf.Samples(rng.standard_normal((n, d)), rng.standard_normal((n, 1))))
    mu = mf.Measure(fam, fam.random_particles(m, seed=seed + 1) / np.sqrt(d), np.full(m, 1.0 / m))
    return prob, mu


def dense_hvp(prob, mu, V):
    """The HVP this replaces: every per-particle Hessian formed, then contracted."""
    c = mu.masses
    H = prob.hessian_potential(mu, mu.particles)
    out = c[:, None] * np.einsum("jab,jb->ja", H, V)
    return out + c[:, None] * prob.backend.interaction_matvec(mu.particles, c, c[:, None] * V)


def torch_hvp(prob, mu):
    try:
        import torch
    except ImportError:
        return None
    X = torch.tensor(prob.data.X)
    Y = torch.tensor(prob.data.Y)
    c = torch.tensor(mu.masses)
    P = torch.tensor(mu.particles, requires_grad=True)

    def loss(P):
        f = (c * P[:, 0]) @ torch.relu(P[:, 1:] @ X.T)
        return 0.5 * torch.mean((f[:, None] - Y) ** 2)

    def hvp(V):
        g = torch.autograd.grad(loss(P), P, create_graph=True)[0]
        return torch.autograd.grad(g, P, grad_outputs=torch.tensor(V))[0].numpy()

    return hvp


def jax_hvp(prob, mu):
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)
    args = [jnp.asarray(a) for a in (mu.particles, prob.data.X, prob.data.Y, mu.masses)]

    def loss(P, X, Y, c):
        f = (c * P[:, 0]) @ jax.nn.relu(P[:, 1:] @ X.T)
        return 0.5 * jnp.mean((f[:, None] - Y) ** 2)

    # every array an argument of the jitted function: nothing can be constant-folded at compile time
    fn = jax.jit(lambda V, P, X, Y, c: jax.jvp(lambda Q: jax.grad(loss)(Q, X, Y, c), (P,), (V,))[1])
    return lambda V: np.asarray(fn(jnp.asarray(V), *args))


def jax_problem(prob):
    """The same problem on mfsym's JAX backend (None without JAX)."""
    try:
        import jax  # noqa: F401
    except ImportError:
        return None
    return mf.Problem(prob.family, prob.data, loss=prob.loss_name, reg=prob.reg, backend="jax")


class Rows(list):
    """The table, each row printed as soon as it is measured (a long run shows its progress)."""

    def append(self, row) -> None:
        super().append(row)
        case, bname, tb, mname, tm, note = row
        ratio = tm / tb if tb == tb and tb > 0 else float("nan")
        print(f"{case:46s} {bname:30s} {tb:9.4f} {mname:30s} {tm:9.4f} {ratio:9.2f}  {note}", flush=True)


def main(quick: bool = False, sections: tuple[int, ...] = (1, 2, 3, 4)) -> None:
    print(f"{'case':46s} {'baseline':30s} {'s':>9s} {'measured':30s} {'s':>9s} {'ratio':>9s}  note", flush=True)
    rows = Rows()
    if 1 in sections:
        hvp_rows(rows, quick)
    if 2 in sections:
        eigen_rows(rows, quick)
    if 3 in sections:
        check_rows(rows, quick)
    if 4 in sections:
        certified_rows(rows, quick)


def hvp_rows(rows, quick):
    """1. HVP at 10^5 parameters."""
    d, n, m = (10, 100, 100) if quick else (100, 1000, 1000)
    prob, mu = relu_problem(d, n, m)
    V = np.random.default_rng(7).standard_normal(mu.particles.shape)
    Hv, t_hvp = best(lambda: prob.hvp(mu, V))
    _, t_grad = best(lambda: prob.particle_gradient(mu))
    rows.append((f"HVP, relu d={d} n={n} m={m} ({mu.particles.size} params)", "particle gradient", t_grad,
                 "mfsym HVP (matrix-free)", t_hvp, "HVP / gradient"))
    ref, t_dense = best(lambda: dense_hvp(prob, mu, V), repeat=1)
    err = float(np.max(np.abs(ref - Hv)) / np.max(np.abs(ref)))
    rows.append(("", "mfsym HVP (matrix-free)", t_hvp, "dense per-particle Hessians", t_dense,
                 f"dense / matrix-free; max rel. difference {err:.1e}"))
    t_peer = {}
    for name, make in (("torch autograd HVP", torch_hvp), ("JAX jvp-of-grad HVP (jit)", jax_hvp)):
        fn = make(prob, mu)
        if fn is None:
            rows.append(("", name, float("nan"), "mfsym HVP", t_hvp, "not installed"))
            continue
        fn(V)  # compile / warm up
        out, t_peer[name] = best(lambda: fn(V))
        err = float(np.max(np.abs(out - Hv)) / np.max(np.abs(Hv)))  # F(theta_1..m) = L: the same Hessian
        rows.append(("", name, t_peer[name], "mfsym HVP", t_hvp, f"mfsym / peer; max rel. difference {err:.1e}"))
    pj = jax_problem(prob)
    if pj is not None:
        pj.hvp(mu, V)  # compile
        Hj, t_jhvp = best(lambda: pj.hvp(mu, V))
        _, t_jgrad = best(lambda: pj.particle_gradient(mu))
        err = float(np.max(np.abs(Hj - Hv)) / np.max(np.abs(Hv)))
        rows.append(("", "JAX jvp-of-grad HVP (jit)", t_peer["JAX jvp-of-grad HVP (jit)"], "mfsym HVP, JAX backend",
                     t_jhvp, f"mfsym / peer; max rel. difference to numpy backend {err:.1e}"))
        rows.append(("", "particle gradient, JAX backend", t_jgrad, "mfsym HVP, JAX backend", t_jhvp,
                     "HVP / gradient"))


def eigen_rows(rows, quick):
    """2. bottom eigenvalue: Lanczos vs JAX HVP + eigsh."""
    d2, n2, m2 = (10, 100, 100) if quick else (10, 1000, 1000)
    prob2, mu2 = relu_problem(d2, n2, m2, seed=3)
    sp, t_spec = best(lambda: spectrum(prob2, mu2, k=1, method="lanczos"), repeat=1)
    fn = jax_hvp(prob2, mu2)
    if fn is None:
        rows.append((f"bottom eigenvalue, relu m={m2} ({mu2.particles.size} params)", "JAX HVP + eigsh", float("nan"),
                     "mf.stability.spectrum", t_spec, f"not installed; lambda_min = {sp.lambda_min:.4g}"))
    else:
        import scipy.sparse.linalg as spla

        N = mu2.particles.size
        S = sp.symmetries.sparse
        op = spla.LinearOperator((N, N), dtype=float, matvec=lambda v: (
            (lambda w: w - S @ (S.T @ w))(fn((v - S @ (S.T @ v)).reshape(mu2.particles.shape)).ravel())))
        fn(np.zeros(mu2.particles.shape))
        t0 = time.perf_counter()
        lam_jax = float(spla.eigsh(op, k=1, which="SA", tol=1e-8, return_eigenvectors=False)[0])
        t_jax = time.perf_counter() - t0
        rows.append((f"bottom eigenvalue, relu m={m2} ({N} params)", "JAX HVP + eigsh (S-perp)", t_jax,
                     "mf.stability.spectrum", t_spec,
                     f"lambda_min {sp.lambda_min:.6g} vs {lam_jax:.6g}; {sp.method}"))
        pj2 = jax_problem(prob2)
        prob2.hvp(mu2, np.zeros(mu2.particles.shape))
        pj2.hvp(mu2, np.zeros(mu2.particles.shape))  # compile
        spj, t_specj = best(lambda: spectrum(pj2, mu2, k=1, method="lanczos"), repeat=1)
        t_sym = best(lambda: mf.stability.symmetries(pj2, mu2), repeat=1)[1]
        rows.append(("", "JAX HVP + eigsh (S-perp)", t_jax, "spectrum, JAX backend", t_specj,
                     f"lambda_min {spj.lambda_min:.6g}; symmetries {t_sym:.2f} s of it; {spj.method}"))


def check_rows(rows, quick):
    """3. check time vs width."""
    widths = (10,) if quick else (10, 100, 1000, 10000)
    base = None
    for w in widths:
        fam = mf.families.relu(d=10)
        # n above 400 skips the gap's exact search, as at the size (n = 1000)
        data, teacher = mf.datasets.teacher_student(fam, m_teacher=w, n=500 if quick else 1000, seed=0)
        p3 = mf.Problem(fam, data)
        rep, t_check = best(lambda: mf.check(p3, teacher), repeat=1)
        base = base or (w, t_check)
        st = next(c for c in rep.certificate["claims"] if c["name"] == "stationarity")
        rows.append((f"check, width {w} relu ({teacher.particles.size} params)", f"check at width {base[0]}", base[1],
                     f"check at width {w}", t_check,
                     f"{rep.verdict.value}; stationarity {st['outcome']} ({st['method']}); "
                     f"{rep.finite_width.classification if rep.finite_width else '-'}"))


def certified_rows(rows, quick):
    """4. certified curvature: balls vs float-rigorous."""
    m4, n4 = (30, 20) if quick else (273, 100)
    prob4, mu4 = relu_problem(10, n4, m4, seed=5)
    V4 = np.random.default_rng(8).standard_normal(mu4.particles.shape)
    (lo, hi), t_float = best(lambda: FloatProblem(prob4, mu4.particles, mu4.masses).quadratic_form(V4))
    with precision(128):
        ball, t_ball = best(lambda: BallProblem(prob4, mu4.particles, mu4.masses).quadratic_form(V4), repeat=1)
    rows.append((f"certified v^T H v, N = {mu4.particles.size}", "float-rigorous bound", t_float,
                 "python-flint balls (128 bits)", t_ball,
                 f"balls / float; widths {hi - lo:.1e} vs {2 * float(ball.rad()):.1e}"))


if __name__ == "__main__":
    picked = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--sections=")), "1,2,3,4")
    main(quick="--quick" in sys.argv, sections=tuple(int(x) for x in picked.split(",")))
