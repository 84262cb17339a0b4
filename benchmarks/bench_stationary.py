"""Time to a stationary point (residual max_j |grad J(theta_j)| <= 1e-10), as ratios measured in one run.

The problem: a sigmoid student (d = 2, scalar output, masses 1/m) of a width-m sigmoid teacher with label noise
0.01, n = 5000 samples (more fitted values than parameters at every width, so the minimum has nonzero loss),
started at the teacher with every weight moved by 5%. At widths 10, 100, 1000:

* baseline: scipy.optimize.minimize(method="trust-krylov") and ("trust-ncg") on the particle objective
  F(theta_1..theta_m), driven by a jitted JAX HVP (jvp of grad) when JAX is installed, else a torch autograd
  HVP, else mfsym's own Problem.hvp; gtol = 1e-10 / m on |grad F| (so that max_j |grad J| = m max_j |dF/dtheta_j|
  <= 1e-10 is implied);
* measured: mf.stationary(prob, mu, tol=1e-10) (numpy kernels, matrix-free above m p = 1000).

Each row gives both wall times, the ratio mfsym / baseline and the residual each reached (a baseline that stops
above 1e-10 is marked). JAX and torch are imported here only; they are not dependencies of mfsym.

Run: python benchmarks/bench_stationary.py [--quick]   (--quick: widths 5 and 10, n = 200)
"""

from __future__ import annotations

import sys
import time
import warnings

import numpy as np
import scipy.optimize as spo

import mfsym as mf


def problem(m, n, seed=0):
    """A width-m sigmoid teacher (masses 1/m) with label noise 0.01, the student started at the teacher moved by
    5% of its weights: the polishing regime of check(refine=True), with a minimum nearby."""
    fam = mf.families.sigmoid(d=2)
    teacher = mf.Measure(fam, fam.random_particles(m, seed=seed))
    data, _ = mf.datasets.teacher_student(fam, teacher, n=n, noise=0.01, seed=seed)
    rng = np.random.default_rng(seed + 1)
    start = teacher.particles * (1 + 0.05 * rng.standard_normal(teacher.particles.shape))
    return mf.Problem(fam, data), teacher.copy(particles=start)


def peer_hvp(prob, mu):
    """(name, loss_and_grad(x), hvp(x, v)) on the flat particles, by JAX, torch or mfsym."""
    X, Y, c = prob.data.X, prob.data.Y, mu.masses
    shape = mu.particles.shape
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
            f = (cj * P[:, 0]) @ jax.nn.sigmoid(P[:, 1:3] @ Xj.T + P[:, 3:4])
            return 0.5 * jnp.mean((f[:, None] - Yj) ** 2)

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
            f = (ct * P[:, 0]) @ torch.sigmoid(P[:, 1:3] @ Xt.T + P[:, 3:4])
            return 0.5 * torch.mean((f[:, None] - Yt) ** 2)

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
        nu = mu.copy(particles=x.reshape(shape))
        return prob.loss(nu), prob.particle_gradient(nu).ravel()

    return "mfsym Problem.hvp", fg, lambda x, v: prob.hvp(mu.copy(particles=x.reshape(shape)), v.reshape(shape)).ravel()


def main(quick: bool = False) -> None:
    widths, n = ((5, 10), 200) if quick else ((10, 100, 1000), 5000)
    print(f"{'width':>6s} {'params':>7s} {'baseline':38s} {'s':>8s} {'residual':>9s} {'mf.stationary':>14s} "
          f"{'s':>8s} {'residual':>9s} {'ratio':>7s}", flush=True)
    for m in widths:
        prob, mu = problem(m, n)
        name, fg, hvp = peer_hvp(prob, mu)
        x0 = mu.particles.ravel()
        fg(x0), hvp(x0, x0)  # compile / warm up outside the timing
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            star, info = mf.stationary(prob, mu, tol=1e-10, info=True, progress=False)
        t_mf = time.perf_counter() - t0
        r_mf = prob.residual(star)
        for method in ("trust-krylov", "trust-ncg"):
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = spo.minimize(fg, x0, jac=True, hessp=hvp, method=method,
                                   options={"gtol": 1e-10 / m, "maxiter": 2000})
            t_peer = time.perf_counter() - t0
            r_peer = prob.residual(mu.copy(particles=res.x.reshape(mu.particles.shape)))
            mark = "" if r_peer <= 1e-10 else " (not reached)"
            print(f"{m:6d} {mu.particles.size:7d} {'scipy ' + method + ', ' + name + ' HVP':38s} {t_peer:8.3f} "
                  f"{r_peer:9.1e} {'':14s} {t_mf:8.3f} {r_mf:9.1e} {t_mf / t_peer:7.2f}{mark}  "
                  f"[mf: {info.status}, {info.iterations} steps, {info.products} products]", flush=True)


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
