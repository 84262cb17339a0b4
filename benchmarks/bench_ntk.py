"""Speed of ``mf.ntk.gram`` against the one-line numpy closed form, measured in the same run (ratios).

Cases (n = 4000 inputs uniform on the unit sphere of R^d, d = 10, 100, 1000):

1. relu, unit rows: ``mf.ntk.gram(X)`` (input checks, atan2 form, Kahan recomputation of near-parallel pairs,
   parallel-input report) against ``G = X @ X.T; G * (pi - arccos(clip(G, -1, 1))) / (2 pi)``;
2. relu, rows of random length (``unit_tol=None``) against the same one-liner with ``G / (|x_i| |x_j|)`` inside
   the arccos;
3. erf, unit rows, against ``4 G / (pi sqrt(9 - 4 G^2))``.

The issue's target is case 1 at n = 4000: at most 3x the one-liner. Every timing is the median of
``--repeats`` runs, baseline and gram alternating. ``max|diff|`` is the largest entrywise difference between
the two (the one-liner loses accuracy near |cos| = 1; see tests/test_ntk.py for accuracy against mpmath).

Usage: ``python benchmarks/bench_ntk.py [--repeats 5] [--threads N] [--quick]`` (``--threads`` sets the BLAS
thread count before numpy is imported; ``--quick`` uses n = 400).
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
    ap.add_argument("--quick", action="store_true", help="n = 400 (a smoke test)")
    args = ap.parse_args(argv)
    if args.threads is not None:
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(args.threads)
    return args


ARGS = parse_args() if __name__ == "__main__" else None

import numpy as np

import mfsym as mf


def relu_unit(X):
    G = X @ X.T
    return G * (np.pi - np.arccos(np.clip(G, -1, 1))) / (2 * np.pi)


def relu_general(X):
    G = X @ X.T
    nrm = np.sqrt(np.diag(G))
    return G * (np.pi - np.arccos(np.clip(G / np.outer(nrm, nrm), -1, 1))) / (2 * np.pi)


def erf_unit(X):
    G = X @ X.T
    return 4 * G / (np.pi * np.sqrt(9 - 4 * G * G))


def median_pair(base, ours, repeats):
    """Median wall times of ``base()`` and ``ours()``, alternating, plus the last outputs."""
    tb, to = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        hb = base()
        tb.append(time.perf_counter() - t)
        t = time.perf_counter()
        ho = ours()
        to.append(time.perf_counter() - t)
    return float(np.median(tb)), float(np.median(to)), hb, ho


def main(args) -> list[dict]:
    n = 400 if args.quick else 4000
    rng = np.random.default_rng(0)
    rows = []
    print(f"mf.ntk.gram vs one-line numpy closed form, n = {n}, median of {args.repeats} "
          f"(BLAS threads: {os.environ.get('OPENBLAS_NUM_THREADS', 'default')})")
    print(f"{'case':<22} {'d':>5} {'numpy [s]':>10} {'gram [s]':>10} {'ratio':>7} {'max|diff|':>10}")
    for d in (10, 100, 1000):
        X = rng.standard_normal((n, d))
        U = X / np.linalg.norm(X, axis=1, keepdims=True)
        R = U * rng.uniform(0.5, 2.0, (n, 1))
        cases = [("relu, unit rows", lambda U=U: relu_unit(U), lambda U=U: mf.ntk.gram(U)),
                 ("relu, general norms", lambda R=R: relu_general(R), lambda R=R: mf.ntk.gram(R, unit_tol=None)),
                 ("erf, unit rows", lambda U=U: erf_unit(U), lambda U=U: mf.ntk.gram(U, "erf"))]
        for name, base, ours in cases:
            tb, to, hb, ho = median_pair(base, ours, args.repeats)
            rows.append({"case": name, "d": d, "numpy": tb, "gram": to, "ratio": to / tb,
                         "diff": float(np.max(np.abs(hb - ho)))})
            r = rows[-1]
            print(f"{name:<22} {d:>5} {tb:>10.3f} {to:>10.3f} {r['ratio']:>7.2f} {r['diff']:>10.1e}")
    worst = max(r["ratio"] for r in rows if r["case"] == "relu, unit rows")
    print(f"worst ratio for relu with unit rows (target <= 3): {worst:.2f}")
    return rows


if __name__ == "__main__":
    main(ARGS)
    sys.exit(0)
