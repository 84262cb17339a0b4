"""Q. Nguyen (2021, arXiv 2101.09612): deep relu networks need only one wide layer, of width ~ N.

Network f_l = relu(W_l^T f_{l-1}) (l < L), f_L = W_L^T f_{L-1}, standard parameterisation, all layers trained;
the wide layer is the last hidden one. Two experiments:

1. sigma_min(F_{L-1}) at initialisation against its width n_{L-1}, for N samples: it is exactly 0 below N (rank
   deficiency) and, normalised by sqrt(n_{L-1}), rises past N towards its large-width value given the layers
   below (mf.ntk.wide_layer_limit: the degree-1 arc-cosine kernel of the previous layer's features). Relu
   features are nonnegative, so a few wide-layer neurons are dead on every sample and the transition sits
   slightly above N. The He scheme is used; the standard-Gaussian and LeCun schemes give the same normalised
   values for the same draw (relu is positively homogeneous), which the script checks and prints.
2. Gradient descent on all layers for several widths of the wide layer, step eta = 1/(2 lambda_max) of the
   empirical NTK JJ^T at initialisation (which grows with the width in the standard parameterisation), each
   width run for the same time horizon t = eta k (so runs are comparable). Reported: the observed per-step
   linear rate, the exponent kappa in Phi ~ exp(-kappa t) over the run and over its last third, the
   gradient-flow guarantee lambda_F^2/2 (from the last layer's gradient alone while sigma_min(F_{L-1}) stays
   >= lambda_F/2; it is vacuous below N), and 2 lambda_min(JJ^T) at initialisation (the linearised slowest
   exponent; the observed one is larger: with narrow layers below, training is not lazy and the NTK grows).

Sizes (ours): layers d -> 64 -> 64 -> n_{L-1} -> 1 on points uniform on the unit sphere of R^32, labels
y ~ N(0, 1). Part 1: N = 256, n_{L-1}/N in {0.25, 0.5, 0.75, 1, 1.25, 1.5, 2, 4, 8}, 4 initialisations each.
Part 2 (scaled down for time): the first 128 points, n_{L-1}/N in {0.5, 1, 2, 4}, horizon 800 steps of the
narrowest width (the widest takes ~8x more). ~20 s single-threaded (``--threads 1``, the default). ``--quick``:
N = 64 points in R^16, layers 32, 32, fewer widths, 2 initialisations, horizon 300 steps (seconds).

Usage: python analyses/nguyen2021.py [--quick] [--out DIR] [--seed S] [--threads N]
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
    ap.add_argument("--quick", action="store_true", help="N = 64, d = 16 (seconds)")
    ap.add_argument("--out", type=Path, default=HERE / "out", help="directory for the figure (default analyses/out)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1,
                    help="BLAS threads, set before numpy is imported (default 1: the products here are small and a busy machine makes multithreaded BLAS much slower)")
    return ap.parse_args(argv)


def main(argv=None) -> dict:
    args = parse(argv)
    if args.quick:
        N, d, before = 64, 16, (32, 32)
        ratios, repeats = (0.5, 1.0, 1.5, 2.0, 4.0), 2
        N_gd, gd_ratios, horizon = 64, (0.5, 1.0, 2.0, 4.0), 300
    else:
        N, d, before = 256, 32, (64, 64)
        ratios, repeats = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 4.0, 8.0), 4
        N_gd, gd_ratios, horizon = 128, (0.5, 1.0, 2.0, 4.0), 800
    rng = np.random.default_rng(args.seed)
    X = rng.standard_normal((N, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = rng.standard_normal(N)
    widths = [max(1, round(r * N)) for r in ratios]

    curve = mf.ntk.sigma_min_curve(X, widths, hidden_before=before, scheme="he", seed=args.seed + 1, repeats=repeats)
    std = mf.ntk.sigma_min_curve(X, widths, hidden_before=before, scheme="standard", seed=args.seed + 1,
                                 repeats=repeats)
    scheme_gap = float(np.max(np.abs(std.normalized - curve.normalized)))
    med = curve.median()
    print(f"Nguyen (2021): N = {N}, layers {d} -> {' -> '.join(map(str, before))} -> n_wide -> 1, scheme he, "
          f"{repeats} initialisations per width")
    print(f"large-width limit of sigma_min/sqrt(n) (given the layers below): "
          f"{np.median(curve.limit):.4f} (min {curve.limit.min():.4f}, max {curve.limit.max():.4f})")
    print(f"standard-Gaussian vs He scheme, same draws: max |difference of normalised sigma_min| = {scheme_gap:.1e}")
    print(f"{'n_wide':>7} {'n/N':>6} {'sigma_min (median)':>19} {'sigma_min/sqrt(n)':>18}")
    for k, w in enumerate(widths):
        print(f"{w:>7} {w / N:>6.2f} {np.median(curve.sigma[:, k]):>19.4e} {med[k]:>18.4f}")

    runs = []
    Xg, yg = X[:N_gd], y[:N_gd]
    T = None
    print(f"\ngradient descent on N = {N_gd} points, all layers, eta = 1/(2 lambda_max(NTK(0))), common horizon:")
    print(f"{'n_wide':>7} {'steps':>6} {'eta':>9} {'lambda_F':>9} {'lam_F end':>9} {'obs.rate':>9} {'1-eta.lF^2/2':>12} "
          f"{'kappa':>8} {'kappa late':>10} {'lF^2/2':>9} {'2lmin(K0)':>9} {'final/init':>10}")
    for k, r in enumerate(gd_ratios):
        w = max(1, round(r * N_gd))
        hidden = (*before, w)
        W0 = mf.ntk.init_deep(d, hidden, scheme="he", seed=args.seed + 10 + k)
        eta = 0.5 / float(np.linalg.eigvalsh(mf.ntk.deep_ntk(Xg, W0))[-1])
        T = horizon * eta if T is None else T
        steps = int(np.ceil(T / eta))
        run = mf.ntk.train_deep(Xg, yg, hidden, scheme="he", steps=steps, eta=eta, weights=W0)
        runs.append(run)
        print(f"{w:>7} {steps:>6} {run.eta:>9.2e} {run.lambda_F:>9.4f} {run.lambda_F_final:>9.4f} "
              f"{run.observed_rate:>9.5f} {run.pl_rate:>12.6f} {run.time_exponent:>8.3f} {run.late_exponent:>10.3f} "
              f"{run.pl_exponent:>9.4f} {run.kernel_exponent:>9.4f} {run.losses[-1] / run.losses[0]:>10.2e}")

    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / ("nguyen2021_quick.png" if args.quick else "nguyen2021.png")
    _figure(curve, runs, N, N_gd, path)
    print(f"figure: {path}")
    return {"N": N, "widths": widths, "normalized_median": med.tolist(), "limit": curve.limit.tolist(),
            "scheme_gap": scheme_gap, "N_gd": N_gd, "runs": [r.summary() for r in runs], "figure": str(path)}


def _figure(curve, runs, N, N_gd, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 3, figsize=(14, 4))
    ratio = np.array(curve.widths) / N
    for r in range(curve.normalized.shape[0]):
        ax[0].plot(ratio, curve.normalized[r], "o", color="C0", alpha=0.4, ms=4)
    ax[0].plot(ratio, curve.median(), "-", color="C0", label="median over initialisations")
    ax[0].axhline(np.median(curve.limit), color="k", ls="--", label="large-width limit")
    ax[0].axvline(1.0, color="gray", ls=":", label="width = N")
    ax[0].set(xscale="log", xlabel=r"$n_{L-1}/N$", ylabel=r"$\sigma_{\min}(F_{L-1})/\sqrt{n_{L-1}}$ (scheme-free)",
              title="(a) wide layer at initialisation")
    for run in runs:
        t = run.eta * np.arange(run.losses.size)
        ax[1].semilogy(t, run.losses / run.losses[0], label=fr"$n_{{L-1}}$ = {run.hidden[-1]}")
    ax[1].set(xlabel=r"time $t = \eta k$", ylabel=r"$\Phi(t)/\Phi(0)$", title=f"(b) gradient descent, N = {N_gd}")
    w = [run.hidden[-1] / N_gd for run in runs]
    ax[2].plot(w, [run.time_exponent for run in runs], "o-", label=r"observed $\kappa$ (whole run)")
    ax[2].plot(w, [run.late_exponent for run in runs], "o:", label=r"observed $\kappa$ (last third)")
    ax[2].plot(w, [run.kernel_exponent for run in runs], "s--", label=r"$2\lambda_{\min}(JJ^\top)$ at init")
    ax[2].plot(w, [max(run.pl_exponent, 1e-6) for run in runs], "^:", label=r"$\lambda_F^2/2$ (guarantee; 0 below N, drawn at $10^{-6}$)")
    ax[2].axvline(1.0, color="gray", ls=":")
    ax[2].set(xscale="log", yscale="log", xlabel=r"$n_{L-1}/N$", ylabel=r"exponent in $\Phi \sim e^{-\kappa t}$",
              title="(c) convergence exponents")
    from matplotlib.ticker import FixedLocator, NullLocator, StrMethodFormatter

    for a, ticks in ((ax[0], ratio), (ax[2], w)):
        a.xaxis.set_major_locator(FixedLocator(list(ticks)))
        a.xaxis.set_minor_locator(NullLocator())
        a.xaxis.set_major_formatter(StrMethodFormatter("{x:g}"))
    ax[0].legend(fontsize=8, loc="center right")
    for a in ax[1:]:
        a.legend(fontsize=8)
    fig.suptitle(f"Nguyen (2021): one wide layer, N = {N}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main(sys.argv[1:])
