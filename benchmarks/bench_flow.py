"""Speed of one particle-flow step against a hand-written numpy Euler step, in the same run (ratios).

Sigmoid family, $m = 10^4$ particles, $n = 10^3$ samples, $d = 10$. The baseline step computes
$s = \\sigma(WX^\\top + b)$ once, the residual, the loss and the velocity from it, and moves the particles
(explicit Euler, the loss recorded each step). ``mf.flow`` is timed over ``--steps`` steps, fixed-step
(``adaptive=False``) and adaptive (a trial loss per step); the per-step time excludes nothing (its
initial loss and velocity are amortised over the steps).

With JAX installed, also the JAX backend (``mf.Problem(..., backend="jax")``) against a hand-written
jitted JAX Euler loop in the same run: one compiled ``value_and_grad`` step per iteration, the loss read
back each step as ``mf.flow`` does (both compiled once before timing; the baseline is given every array as
an argument, so nothing is constant-folded).

Usage: ``python benchmarks/bench_flow.py [--repeats 3] [--steps 5] [--threads N] [--quick]``.
"""

from __future__ import annotations

import sys

from bench_kernels import parse_args

ARGS = parse_args(sys.argv[1:]) if __name__ == "__main__" else None

import numpy as np  # noqa: E402

import mfsym as mf  # noqa: E402
from bench_kernels import blas_threads, hand_residual, hand_velocity_from, median_time, sigmoid_problem, table  # noqa: E402


def hand_flow(P, c, X, Y, steps, dt):
    """``steps`` explicit Euler steps of $\\dot\\theta_j = -\\mathrm{sign}(c_j)\\nabla J(\\theta_j)$, losses recorded."""
    P = P.copy()
    sign = np.where(c < 0, -1.0, 1.0)[:, None]
    losses = []
    for _ in range(steps):
        r, s = hand_residual(P, c, X, Y)
        losses.append(0.5 * np.mean(r**2))
        P += dt * sign * hand_velocity_from(P, s, r, X)[0]
    losses.append(0.5 * np.mean(hand_residual(P, c, X, Y)[0] ** 2))
    return P, np.array(losses)


def jax_hand_flow(fam, X, Y):
    """A hand-written jitted JAX Euler loop for packed sigmoid particles ``(a, w, b)`` (None without JAX)."""
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)
    d = X.shape[1]
    Xj, Yj = jnp.asarray(X), jnp.asarray(Y)

    def loss(P, c, X, Y):
        f = (c * P[:, 0]) @ jax.nn.sigmoid(P[:, 1:d + 1] @ X.T + P[:, d + 1][:, None])
        return 0.5 * jnp.mean((f - Y) ** 2)

    @jax.jit
    def step(P, c, dt, X, Y):
        L, g = jax.value_and_grad(loss)(P, c, X, Y)
        return P - dt * g / c[:, None], L      # theta_j -= dt grad J(theta_j) = dt dF/dtheta_j / c_j

    def run(P, c, steps, dt):
        P, c, losses = jnp.asarray(P), jnp.asarray(c), []
        for _ in range(steps):
            P, L = step(P, c, dt, Xj, Yj)
            losses.append(float(L))
        losses.append(float(loss(P, c, Xj, Yj)))
        return np.asarray(P), np.array(losses)

    return run


def main(args):
    scale = 10 if args.quick else 1
    n, d, m, steps, dt = 1000 // scale, 10, 10_000 // scale, 5, 0.5
    fam, X, Y, prob = sigmoid_problem(n, d)
    mus = [mf.Measure(fam, fam.random_particles(m, seed=s)) for s in (1, 2)]
    P_ref, L_ref = hand_flow(mus[0].particles, mus[0].masses, X, Y, steps, dt)
    tr = mf.flow(prob, mus[0], steps, dt, adaptive=False)
    err = max(np.max(np.abs(tr.measure.particles - P_ref)), np.max(np.abs(tr.losses - L_ref)))
    if not err < 1e-10:
        raise SystemExit(f"flow mismatch {err:.3g}")
    cyc = [(mu,) for mu in mus]
    t_ref = median_time(lambda mu: hand_flow(mu.particles, mu.masses, X, Y, steps, dt), cyc, args.repeats) / steps
    t_fix = median_time(lambda mu: mf.flow(prob, mu, steps, dt, adaptive=False), cyc, args.repeats) / steps
    t_ada = median_time(lambda mu: mf.flow(prob, mu, steps, dt), cyc, args.repeats) / steps
    rows = [(f"flow step (fixed dt), m={m}, n={n}, d={d}", t_ref, t_fix),
            (f"flow step (adaptive), m={m}, n={n}, d={d}", t_ref, t_ada)]
    table(rows, f"mf.flow per step vs hand-written Euler (median of {args.repeats} runs of {steps} steps; "
                f"BLAS threads: {blas_threads()})")
    hand = jax_hand_flow(fam, X, Y)
    if hand is None:
        print("\nJAX not installed: the JAX backend rows are skipped")
        return rows
    pj = mf.Problem(fam, prob.data, backend="jax")
    jsteps = 4 * steps
    P_ref, L_ref = hand(mus[0].particles, mus[0].masses, jsteps, dt)          # compiles the baseline
    tr = mf.flow(pj, mus[0], jsteps, dt, adaptive=False)                      # compiles the backend
    err = max(np.max(np.abs(tr.measure.particles - P_ref)), np.max(np.abs(tr.losses - L_ref)))
    if not err < 1e-10:
        raise SystemExit(f"JAX flow mismatch {err:.3g}")
    mf.flow(pj, mus[0], 2, dt)
    t_hand = median_time(lambda mu: hand(mu.particles, mu.masses, jsteps, dt), cyc, args.repeats) / jsteps
    t_jfix = median_time(lambda mu: mf.flow(pj, mu, jsteps, dt, adaptive=False), cyc, args.repeats) / jsteps
    t_jada = median_time(lambda mu: mf.flow(pj, mu, jsteps, dt), cyc, args.repeats) / jsteps
    jrows = [(f"JAX backend flow step (fixed dt), m={m}, n={n}", t_hand, t_jfix),
             (f"JAX backend flow step (adaptive), m={m}, n={n}", t_hand, t_jada),
             (f"numpy flow step (fixed dt) vs jitted JAX", t_hand, t_fix)]
    table(jrows, f"mf.flow per step vs a hand-written jitted JAX loop (median of {args.repeats} runs of {jsteps} "
                 f"steps; max difference {err:.1e})")
    return rows + jrows


if __name__ == "__main__":
    sys.exit(main(ARGS) and 0)
