"""Time to a stationary point (residual max_j |grad J(theta_j)| <= 1e-10) from a flow endpoint, as ratios measured
in one run.

The problem (the one `mf.check(refine=True)` meets on a trained net): a sigmoid student with 3 outputs (d = 5,
masses 1/m) of a width-4 sigmoid teacher, n = 200 samples (600 fitted values), trained by `mf.flow` for 1000
steps of dt = 5 from random particles, then polished. At width 10 the net has fewer parameters (90) than fitted
values, at widths 100 and 1000 (900 and 9000 parameters) more: its nearby stationary points are then on the
zero-loss manifold, where the Hessian is singular.

* baseline: scipy.optimize.minimize(method="trust-krylov") and ("trust-ncg") on the particle objective
  F(theta_1..theta_m), driven by a jitted JAX HVP (jvp of grad) when JAX is installed, else a torch autograd
  HVP, else mfsym's own Problem.hvp; gtol = 1e-10 / m on |grad F| (max_j |grad J| = m max_j |dF/dtheta_j|, so
  that 1e-10 is implied), at most 2000 iterations;
* measured: mf.stationary(prob, mu, tol=1e-10) (numpy kernels; Gauss-Newton on the fitted values when there are
  no more of them than parameters, else trust-region Newton).

Each row gives both wall times, the ratio mfsym / baseline and the residual each reached (a run that stops above
1e-10 is marked). JAX and torch are imported here only; they are not dependencies of mfsym.

`--sweep`: small flow endpoints (relu, sigmoid with 2 outputs, tanh, attention; 3 seeds; widths 3, 10, 20 against
30, 12, 15 samples, so both more and fewer parameters than fitted values), the default mf.stationary against
gauss_newton=False (Newton alone), max_iter 300: status, residual and time of each.

Run: python benchmarks/bench_stationary.py [--quick | --sweep]   (--quick: widths 4 and 20, d = 3, 2 outputs, n = 20)
"""

from __future__ import annotations

import sys
import time
import warnings

import numpy as np
import scipy.optimize as spo

import mfsym as mf


def problem(m, d=5, k=3, n=200, steps=1000, seed=0):
    """The flow endpoint of a width-m sigmoid student of a width-4 teacher."""
    fam = mf.families.sigmoid(d=d, outputs=k)
    data, _ = mf.datasets.teacher_student(fam, m_teacher=4, n=n, seed=seed)
    prob = mf.Problem(fam, data)
    mu = mf.Measure(fam, fam.random_particles(m, seed=seed + 1))
    return prob, mf.flow(prob, mu, steps=steps, dt=5.0, progress=False).measure


def peer_hvp(prob, mu):
    """(name, loss_and_grad(x), hvp(x, v)) on the flat particles, by JAX, torch or mfsym."""
    X, Y, c = prob.data.X, prob.data.Y, mu.masses
    shape, (n, k), d = mu.particles.shape, Y.shape, X.shape[1]
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        jax = None
    if jax is not None:
        jax.config.update("jax_enable_x64", True)
        Xj, Yj, cj = jnp.asarray(X), jnp.asarray(Y), jnp.asarray(c)

        def loss(x):
            P = x.reshape(shape)
            f = jax.nn.sigmoid(Xj @ P[:, k:k + d].T + P[:, k + d]) @ (cj[:, None] * P[:, :k])
            return 0.5 * jnp.sum((f - Yj) ** 2) / n

        vg = jax.jit(jax.value_and_grad(loss))
        hv = jax.jit(lambda x, v: jax.jvp(jax.grad(loss), (x,), (v,))[1])

        def fg(x):
            val, g = vg(jnp.asarray(x))
            return float(val), np.asarray(g)

        return "JAX (jit)", fg, lambda x, v: np.asarray(hv(jnp.asarray(x), jnp.asarray(v)))
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        Xt, Yt, ct = torch.tensor(X), torch.tensor(Y), torch.tensor(c)

        def loss(P):
            f = torch.sigmoid(Xt @ P[:, k:k + d].T + P[:, k + d]) @ (ct[:, None] * P[:, :k])
            return 0.5 * torch.sum((f - Yt) ** 2) / n

        def fg(x):
            P = torch.tensor(x.reshape(shape), requires_grad=True)
            val = loss(P)
            (g,) = torch.autograd.grad(val, P)
            return float(val), g.numpy().ravel()

        def hvp(x, v):
            P = torch.tensor(x.reshape(shape), requires_grad=True)
            (g,) = torch.autograd.grad(loss(P), P, create_graph=True)
            return torch.autograd.grad(g, P, grad_outputs=torch.tensor(v.reshape(shape)))[0].numpy().ravel()

        return "torch autograd", fg, hvp

    def fg(x):
        if not np.all(np.isfinite(x)):
            return float("nan"), np.full_like(x, np.nan)
        nu = mu.copy(particles=x.reshape(shape))
        return prob.loss(nu), prob.particle_gradient(nu).ravel()

    def hvp(x, v):  # scipy's trust-krylov may probe with non-finite vectors; mfsym rejects those, a peer returns NaN
        if not (np.all(np.isfinite(x)) and np.all(np.isfinite(v))):
            return np.full_like(v, np.nan)
        return prob.hvp(mu.copy(particles=x.reshape(shape)), v.reshape(shape)).ravel()

    return "mfsym Problem.hvp", fg, hvp


def main(quick: bool = False) -> None:
    widths, kw = ((4, 20), dict(d=3, k=2, n=20, steps=200)) if quick else ((10, 100, 1000), {})
    print(f"{'width':>6s} {'params':>7s} {'fitted':>6s} {'baseline':38s} {'s':>8s} {'residual':>9s} "
          f"{'mf.stationary':>14s} {'s':>8s} {'residual':>9s} {'ratio':>7s}", flush=True)
    for m in widths:
        prob, mu = problem(m, **kw)
        name, fg, hvp = peer_hvp(prob, mu)
        x0 = mu.particles.ravel()
        fg(x0), hvp(x0, x0)  # compile / warm up outside the timing
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            star, info = mf.stationary(prob, mu, tol=1e-10, info=True, progress=False)
        t_mf = time.perf_counter() - t0
        r_mf = prob.residual(star)
        how = "Gauss-Newton" if info.method.startswith("Gauss-Newton") else "Newton"
        for method in ("trust-krylov", "trust-ncg"):
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = spo.minimize(fg, x0, jac=True, hessp=hvp, method=method,
                                   options={"gtol": 1e-10 / m, "maxiter": 2000})
            t_peer = time.perf_counter() - t0
            ok = np.all(np.isfinite(res.x))
            r_peer = prob.residual(mu.copy(particles=res.x.reshape(mu.particles.shape))) if ok else float("nan")
            mark = "".join(f" ({who} not reached)" for who, r in (("baseline", r_peer), ("mf", r_mf)) if not r <= 1e-10)
            print(f"{m:6d} {mu.particles.size:7d} {prob.data.Y.size:6d} {'scipy ' + method + ', ' + name + ' HVP':38s} "
                  f"{t_peer:8.3f} {r_peer:9.1e} {'':14s} {t_mf:8.3f} {r_mf:9.1e} {t_mf / t_peer:7.3f}{mark}  "
                  f"[mf: {info.status}, {how}, {info.iterations} steps; scipy: {res.nit} iterations]", flush=True)


def sweep() -> None:
    families = {"relu": lambda: mf.families.relu(d=3), "sigmoid2": lambda: mf.families.sigmoid(d=3, outputs=2),
                "tanh": lambda: mf.families.tanh(d=2), "attention": lambda: mf.families.attention(d=2, outputs=1, tokens=3)}
    print(f"{'family':10s} {'seed':>4s} {'m':>3s} {'fitted':>6s} {'params':>6s} | default: status, residual, s | "
          "Newton alone: status, residual, s", flush=True)
    for name, make in families.items():
        fam = make()
        for seed in range(3):
            for m, n in ((3, 30), (10, 12), (20, 15)):
                data, _ = mf.datasets.teacher_student(fam, m_teacher=2, n=n, seed=seed)
                prob = mf.Problem(fam, data)
                mu = mf.flow(prob, mf.Measure(fam, fam.random_particles(m, seed=seed + 5)), steps=100, dt=1.0,
                             progress=False).measure
                cells = []
                for gauss_newton in (None, False):
                    t0 = time.perf_counter()
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", RuntimeWarning)
                        out, info = mf.stationary(prob, mu, info=True, progress=False, gauss_newton=gauss_newton,
                                                  max_iter=300)
                    cells.append(f"{info.status:9s} {prob.residual(out):8.1e} {time.perf_counter() - t0:6.2f}")
                print(f"{name:10s} {seed:4d} {m:3d} {prob.data.Y.size:6d} {m * fam.p:6d} | {cells[0]} | {cells[1]}",
                      flush=True)


if __name__ == "__main__":
    if "--sweep" in sys.argv:
        sweep()
    else:
        main(quick="--quick" in sys.argv)
