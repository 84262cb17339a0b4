"""Du, Zhai, Póczos & Singh (2018, arXiv 1810.02054), §6 / Figure 1: gradient descent in the lazy regime.

Setup of the paper's synthetic experiment: n = 1000 points uniform on the unit sphere of R^d, d = 1000, labels
y_i ~ N(0, 1), the model f = m^{-1/2} sum_r a_r relu(w_r . x) with a_r = +-1 fixed and w_r(0) ~ N(0, I),
full-batch gradient descent on (1/2)|u - y|^2, for several widths m. Reported, per width and iteration: the
loss, the fraction of the mn activation patterns 1{w_r . x_i >= 0} that changed since initialisation, and
max_r |w_r(k) - w_r(0)|; per width: the observed per-step rate of |u - y|^2 against Thm 4.1's 1 - eta lambda0/2,
|H(0) - H_inf| (Lemma 3.1) and |H(K) - H(0)| (Lemma 3.2). The paper's trends: larger m converges faster, fewer
patterns change, and the weights move less (max movement ~ 1/sqrt(m)).

Choices (ours; the widths, step and iteration count are not taken from the paper): widths m = 250, 1000, 4000;
step eta = 1/lambda_max(H_inf) (Thm 4.1's eta = O(lambda0/n^2) would be ~1e-8 here: the theorem's constants,
printed below via mf.ntk.du_bounds, are far from practice); K = 60 iterations, enough to reach ~1e-12 of the
initial loss. n and d are the paper's: the full run takes ~35 s single-threaded (``--threads 1``, the default;
with 2 BLAS threads on a loaded machine it took 3.5 min); GD on m = 4000 is the bulk. ``--quick`` scales down
to n = d = 100, m = 50, 200, 800, 40 iterations (a few seconds).

Usage: python analyses/du2018.py [--quick] [--out DIR] [--seed S] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def _blas_threads(argv):
    """Apply ``--threads`` before numpy is imported (it has no effect once numpy is loaded)."""
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("--threads", type=int, default=1)
    n = ap.parse_known_args(argv)[0].threads
    if n is not None:
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(n)


if __name__ == "__main__":
    _blas_threads(sys.argv[1:])

import numpy as np

import mfsym as mf

HERE = Path(__file__).resolve().parent


def parse(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="n = d = 100, small widths (seconds)")
    ap.add_argument("--out", type=Path, default=HERE / "out", help="directory for the figure (default analyses/out)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1,
                    help="BLAS threads, set before numpy is imported (default 1: on a busy shared machine "
                         "multithreaded BLAS is several times slower; use 2 on an idle one)")
    return ap.parse_args(argv)


def main(argv=None) -> dict:
    args = parse(argv)
    if args.quick:
        n = d = 100
        widths, steps = (50, 200, 800), 40
    else:
        n = d = 1000
        widths, steps = (250, 1000, 4000), 60
    rng = np.random.default_rng(args.seed)
    X = rng.standard_normal((n, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = rng.standard_normal(n)

    H = mf.ntk.gram(X)
    lam0 = mf.ntk.smallest_eigenvalue(H)
    lam_max = float(np.linalg.eigvalsh(H)[-1])
    eta = 1.0 / lam_max
    bounds = mf.ntk.du_bounds(lam0, n, delta=0.1, y=y)
    print(f"Du et al. (2018) lazy regime: n = {n}, d = {d}, lambda0 = {lam0:.4f}, lambda_max = {lam_max:.4f}, "
          f"eta = 1/lambda_max = {eta:.4f}, {steps} iterations")
    print(f"theory (delta = 0.1, constants of mf.ntk.DuConstants): Thm 4.1 needs m >= {bounds.width_gd:.2e}, "
          f"eta <= {bounds.eta:.2e}; Thm 3.2 (flow) m >= {bounds.width_flow:.2e}; Lemma 3.1 m >= {bounds.width_gram:.2e}")

    runs = []
    header = ("m", "obs.rate", "1-eta.l0/2", "kernel", "worst", "bound", "patterns", "max|dw|", "sqrt(m)max|dw|",
              "|H0-Hinf|", "|HK-H0|", "lmin(H0)")
    print(("{:>7} " + "{:>11} " * (len(header) - 1)).format(*header))
    for k, m in enumerate(widths):
        run = mf.ntk.train_du(X, y, m, eta=eta, steps=steps, seed=args.seed + 1 + k, gram_inf=H)
        runs.append(run)
        print(f"{m:>7} {run.observed_rate:>11.4f} {run.predicted_rate:>11.4f} {run.kernel_rate:>11.4f} "
              f"{run.worst_step_ratio:>11.4f} {run.bound_holds!s:>11} {run.pattern_changes[-1]:>11.4f} "
              f"{run.max_movement[-1]:>11.4f} {np.sqrt(m) * run.max_movement[-1]:>11.3f} "
              f"{run.gram_init_error:>11.4f} {run.gram_drift:>11.4f} {run.lambda_min_init:>11.4f}")

    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / ("du2018_quick.png" if args.quick else "du2018.png")
    _figure(runs, path, n, d)
    print(f"figure: {path}")
    return {"lambda0": lam0, "eta": eta, "bounds": bounds, "runs": [r.summary() for r in runs], "figure": str(path)}


def _figure(runs, path, n, d):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 3, figsize=(14, 4))
    for run in runs:
        k = np.arange(run.losses.size)
        ax[0].semilogy(k, run.losses / run.losses[0], label=f"m = {run.m}")
        ax[1].plot(k, run.pattern_changes, label=f"m = {run.m}")
        ax[2].plot(k, run.max_movement, label=f"m = {run.m}")
    r = runs[0]
    k = np.arange(r.losses.size)
    ax[0].semilogy(k, r.predicted_rate**k, "k--", label=r"$(1-\eta\lambda_0/2)^k$ (Thm 4.1)")
    ax[0].set(xlabel="iteration k", ylabel=r"$\|u(k)-y\|^2/\|u(0)-y\|^2$", title="(a) convergence",
              ylim=(1e-16, 2))
    ax[1].set(xlabel="iteration k", ylabel="fraction of patterns changed", title="(b) activation pattern changes")
    ax[2].set(xlabel="iteration k", ylabel=r"$\max_r\|w_r(k)-w_r(0)\|$", title="(c) distance from initialisation")
    for a in ax:
        a.legend(fontsize=8)
    fig.suptitle(f"Du et al. (2018) lazy regime, n = {n}, d = {d}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main(sys.argv[1:])
