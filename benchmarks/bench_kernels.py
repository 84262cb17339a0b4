"""Speed of the sample kernels against hand-written numpy, measured in the same run (ratios, not seconds).

Cases (sigmoid family $a\\,\\sigma(w^\\top x + b)$, $d = 10$, $n = 10^3$ Gaussian samples):

1. the velocity $-\\nabla J_\\mu(\\theta_j)$ of all $m = 10^4$ particles of $\\mu$ (this includes computing
   the residual $r_i = f_\\mu(x_i) - y_i$ from the particles);
2. $J_\\mu$ and the velocity at $Q = 10^5$ query points for a measure of 100 particles.

The baseline is the direct numpy code one would write for this one family (``z = W X^T + b``,
``expit``, the residual, two matmuls); for the $10^5$ queries it is chunked by $10^3$ queries (8 MB
temporaries instead of 800 MB). Every timing is the median of ``--repeats`` runs, alternating between two
particle sets so that no call can reuse the previous one's prediction.

Usage: ``python benchmarks/bench_kernels.py [--repeats 5] [--threads N]`` (``--threads`` sets the BLAS
thread count before numpy is imported; on a busy machine ``--threads 1`` gives steadier numbers).
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None, help="BLAS threads (set before importing numpy)")
    ap.add_argument("--quick", action="store_true", help="10x smaller sizes (a smoke test)")
    args = ap.parse_args(argv)
    if args.threads is not None:
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(args.threads)
    return args


ARGS = parse_args() if __name__ == "__main__" else None

import numpy as np  # noqa: E402  (after the thread settings)
import scipy.special as sps  # noqa: E402

import mfsym as mf  # noqa: E402


def median_time(fn, args_cycle, repeats):
    """Median wall time of ``fn(*args)`` over ``repeats`` calls, cycling through ``args_cycle``."""
    times = []
    for i in range(repeats):
        args = args_cycle[i % len(args_cycle)]
        t0 = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def sigmoid_problem(n, d, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    Y = rng.standard_normal(n)
    fam = mf.families.sigmoid(d=d)
    return fam, X, Y, mf.Problem(fam, mf.Samples(X, Y))


def hand_residual(P, c, X, Y):
    """$r_i = \\sum_j c_j a_j \\sigma(w_j^\\top x_i + b_j) - y_i$ for packed sigmoid particles ``(a, w, b)``."""
    d = X.shape[1]
    s = sps.expit(P[:, 1:d + 1] @ X.T + P[:, d + 1][:, None])
    return (c * P[:, 0]) @ s - Y, s


def hand_velocity_from(T, s, r, X):
    """$-\\nabla J$ at ``T`` given $s = \\sigma(z)$ ``(Q, n)`` and the residual ``r`` ``(n,)``."""
    n = X.shape[0]
    ga = s @ r / n
    h = (T[:, 0][:, None] * s * (1.0 - s)) * r[None] / n
    return -np.concatenate([ga[:, None], h @ X, h.sum(axis=1)[:, None]], axis=1), ga


def hand_velocity(P, c, X, Y):
    """Velocity of the particles of $\\mu$ itself (one pass: the prediction and the gradient share $s$)."""
    r, s = hand_residual(P, c, X, Y)
    return hand_velocity_from(P, s, r, X)[0]


def hand_queries(T, P, c, X, Y, chunk=1_000):
    """$J_\\mu$ and $-\\nabla J_\\mu$ at ``T`` ``(Q, p)``, chunked over queries."""
    d = X.shape[1]
    r = hand_residual(P, c, X, Y)[0]
    J, V = np.empty(T.shape[0]), np.empty_like(T)
    for s0 in range(0, T.shape[0], chunk):
        Tc = T[s0:s0 + chunk]
        s = sps.expit(Tc[:, 1:d + 1] @ X.T + Tc[:, d + 1][:, None])
        V[s0:s0 + chunk], ga = hand_velocity_from(Tc, s, r, X)
        J[s0:s0 + chunk] = Tc[:, 0] * ga
    return J, V


def table(rows, title):
    print(f"\n{title}")
    print(f"{'case':<48} {'numpy (s)':>10} {'mfsym (s)':>10} {'ratio':>7}")
    for name, t_ref, t_mf in rows:
        print(f"{name:<48} {t_ref:>10.4f} {t_mf:>10.4f} {t_mf / t_ref:>7.2f}")


def blas_threads():
    return os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS") or "default"


def main(args):
    scale = 10 if args.quick else 1
    n, d, m, Q = 1000 // scale, 10, 10_000 // scale, 100_000 // scale
    fam, X, Y, prob = sigmoid_problem(n, d)
    rows = []

    # 1. velocity of all particles of mu
    mus = [mf.Measure(fam, fam.random_particles(m, seed=s)) for s in (1, 2)]
    for mu in mus:  # same numbers first
        err = np.max(np.abs(prob.velocity(mu, mu.particles) - hand_velocity(mu.particles, mu.masses, X, Y)))
        if not err < 1e-12:
            raise SystemExit(f"velocity mismatch {err:.3g}")
    t_ref = median_time(lambda mu: hand_velocity(mu.particles, mu.masses, X, Y), [(mu,) for mu in mus], args.repeats)
    t_mf = median_time(lambda mu: prob.velocity(mu, mu.particles), [(mu,) for mu in mus], args.repeats)
    rows.append((f"velocity, m={m} particles, n={n}, d={d}", t_ref, t_mf))

    # 2. J and velocity at Q query points
    small = [mf.Measure(fam, fam.random_particles(100, seed=s)) for s in (3, 4)]
    T = fam.random_particles(Q, seed=5)
    J_ref, V_ref = hand_queries(T, small[0].particles, small[0].masses, X, Y)
    errJ = np.max(np.abs(prob.first_variation(small[0], T) - J_ref))
    errV = np.max(np.abs(prob.velocity(small[0], T) - V_ref))
    if not (errJ < 1e-12 and errV < 1e-12):
        raise SystemExit(f"query mismatch J {errJ:.3g} v {errV:.3g}")
    cyc = [(mu,) for mu in small]
    t_ref = median_time(lambda mu: hand_queries(T, mu.particles, mu.masses, X, Y), cyc, args.repeats)
    t_J = median_time(lambda mu: prob.first_variation(mu, T), cyc, args.repeats)
    t_V = median_time(lambda mu: prob.velocity(mu, T), cyc, args.repeats)
    rows.append((f"J alone, Q={Q} queries, n={n}, d={d}", t_ref, t_J))
    rows.append((f"velocity (+J), Q={Q} queries, n={n}, d={d}", t_ref, t_V))
    table(rows, f"mfsym sample kernels vs hand-written numpy (median of {args.repeats}; BLAS threads: {blas_threads()})")
    return rows


if __name__ == "__main__":
    sys.exit(main(ARGS) and 0)
