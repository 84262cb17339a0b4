r"""Census of spurious minima of the relu teacher-student population loss, with Safran & Shamir 2018's protocol.

Setting (Safran & Shamir 2018, *Spurious local minima are common in two-layer ReLU neural networks*,
arXiv 1712.08968, §2 and §4): student and teacher $x \mapsto \sum_{i=1}^k \max(0, w_i^\top x)$ with
output weights fixed to 1, $k = n$ neurons, teacher weights the identity $V = I_k$, $x \sim N(0, I_k)$,
square loss $L(W) = \tfrac12\mathbb{E}_x[(\sum_i [w_i^\top x]_+ - \sum_i [v_i^\top x]_+)^2]$ in closed
form (:class:`mf.GaussianTeacher`, arc-cosine kernel). In mfsym: ``relu(d=k, outputs=0)`` with unit
masses.

Protocol, as in their code (github.com/ItaySafran/OneLayerGDconvergence, ``GD_code/findBadMinima.m`` and
``GD_code/findMinimum.m``): start ``W = randn(d, k)/sqrt(d)`` (``init="ss18"``); gradient descent with
step 0.1 on $L$ (their ``stepsize/(2*pi)`` times the $2\pi$-scaled gradient); stop when the largest
per-neuron gradient norm of the $2\pi$-scaled gradient is $\le 10^{-9}$, i.e.
$\max_j |\nabla_{w_j} L| \le 10^{-9}/(2\pi)$; a run whose scaled gradient norm exceeds $10^4$ restarts
from its start with half the step; a run is *spurious* when its loss is $\ge 10^{-3}$
(``bad_minima_value_bound``). ``mf.census`` runs the starts of a ``k`` in batches, each one batched computation,
groups the endpoints up to neuron and input-coordinate permutations (the identity teacher is invariant
under joint row/column permutations of $W$, as in their ``Verify_minima_code/uniqueCritPoints.m``) and
checks each distinct endpoint with ``mf.check``.

Published numbers (``PUBLISHED``), from the anchor's own result files
``Results/newExp-k-k.mat`` of the same repository (see its ``Results/readme.txt``): out of 1000 GD runs
per $k$, the number of runs in each family of spurious minima (variable ``magnitude``) and one
representative per family (``WbadNew``), whose loss we evaluate with their ``GD_code/objval.m``
formula. The rates are compared with a two-sided Fisher exact test on the 2x2 table (ours vs theirs,
spurious vs not); the smallest spurious losses with theirs.

Run: ``python analyses/spurious_census.py [--k 6 7 8] [--starts 1000] [--seed 0] [--scheduler ADDR|local]
[--batch 100] [--json out.json] [--out DIR] [--quick] [--progress]``.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import scipy.stats as st

import mfsym as mf

#: Safran & Shamir 2018, github.com/ItaySafran/OneLayerGDconvergence, Results/newExp-k-k.mat (k = n):
#: {k: [(loss of the family representative WbadNew(:,:,i) by GD_code/objval.m, runs in the family
#: (magnitude(i)) out of 1000)]}, read with scipy.io.loadmat.
PUBLISHED: dict[int, list[tuple[float, int]]] = {
    6: [(0.025081, 3)],
    7: [(0.023203, 55)],
    8: [(0.021508, 126)],
    9: [(0.020014, 213), (0.037489, 5)],
    10: [(0.018702, 312), (0.035327, 34)],
    11: [(0.017547, 383), (0.033348, 71), (0.054476, 1)],
    12: [(0.016524, 427), (0.031551, 135), (0.045458, 17), (0.054341, 2), (0.060872, 2), (0.066466, 2)],
}
PUBLISHED_RUNS = 1000
SPURIOUS_LOSS = 1e-3  # bad_minima_value_bound, GD_code/findBadMinima.m
STEP = 0.1  # stepsize, GD_code/findBadMinima.m
GRAD_TOL = 1e-9 / (2 * math.pi)  # gradnorm_target = 1e-9 on the 2*pi-scaled gradient, GD_code/findMinimum.m
DIVERGE = 1e4 / (2 * math.pi)  # "gradnorm > 10^4 % Divergence", GD_code/findMinimum.m


def problem(k: int) -> mf.Problem:
    """Safran & Shamir's population problem: relu student of width k, identity teacher, x ~ N(0, I_k)."""
    fam = mf.families.relu(d=k, outputs=0)
    return mf.Problem(fam, mf.GaussianTeacher(fam, mf.Measure(fam, np.eye(k), np.ones(k))))


def run_k(k: int, starts: int, seed: int, client, progress: bool | None, batch: int = 100) -> mf.Census:
    """The census of one k with Safran & Shamir's protocol (``client``: None, "local" or a scheduler address)."""
    return mf.census(problem(k), k, starts, init="ss18", masses=np.ones(k), seed=seed, method="gd", dt=STEP,
                     tol=GRAD_TOL, diverge=DIVERGE, max_steps=10**6, batch=batch, client=client, progress=progress)


def compare(k: int, c: mf.Census) -> dict:
    """Our rate and smallest spurious loss vs the published ones (Fisher exact test)."""
    n = int(np.sum(c.status != "not-run"))
    ours = int(np.sum(c.losses >= SPURIOUS_LOSS))
    pub = PUBLISHED.get(k)
    theirs = sum(r for _, r in pub) if pub else None
    sp = [e for e in c.minima if e.loss >= SPURIOUS_LOSS]
    out = {"k": k, "runs": n, "spurious": ours, "rate": ours / n if n else float("nan"),
           "published_spurious": theirs, "published_rate": None if theirs is None else theirs / PUBLISHED_RUNS,
           "fisher_p": None, "min_loss": min((e.loss for e in sp), default=None),
           "published_min_loss": None if not pub else min(v for v, _ in pub),
           "families": len(sp), "published_families": None if not pub else len(pub),
           "unconverged": int(np.sum((c.status != "converged") & (c.status != "not-run"))),
           "max_residual": float(np.nanmax(c.residuals)), "max_steps": int(np.max(c.steps)),
           "minima": [{"k": k, "loss": e.loss, "count": e.count, "residual": e.residual, "verdict": e.verdict,
                       "classification": e.finite_width, "finite_width_certified": e.finite_width_certified,
                       "certified_nonglobal": e.nonglobal_certified,
                       "lambda_min": (e.report.finite_width.lambda_min
                                      if e.report is not None and e.report.finite_width is not None else float("nan")),
                       "gap": (e.report.mean_field.gap if e.report is not None and e.report.mean_field is not None
                               else float("nan")),
                       "escape_rate": _escape_rate(e)} for e in sp],
           "global": [{"loss": e.loss, "count": e.count, "verdict": e.verdict} for e in c.minima
                      if e.loss < SPURIOUS_LOSS],
           "seconds": c.seconds}
    if theirs is not None:
        out["fisher_p"] = float(st.fisher_exact([[ours, n - ours], [theirs, PUBLISHED_RUNS - theirs]])[1])
    return out


def _escape_rate(e) -> float:
    mfd = None if e.report is None else e.report.mean_field
    return float(mfd.escaping_sets[0].growth_rate) if mfd is not None and mfd.escaping_sets else float("nan")


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k", type=int, nargs="+", default=None, help="widths k = n (default 6..12)")
    ap.add_argument("--starts", type=int, default=None, help="runs per k (default 1000; --quick: 40)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scheduler", default=None, help="dask scheduler address, or 'local' for a 2-worker LocalCluster")
    ap.add_argument("--json", default=None, help="write the results (with certificates) to this file")
    ap.add_argument("--out", default=str(Path(__file__).parent / "out" / "spurious_census"))
    ap.add_argument("--quick", action="store_true", help="k in {6, 9}, 40 starts each (< 1 min)")
    ap.add_argument("--batch", type=int, default=100, help="starts per batch (one Dask task each; the table does "
                    "not depend on it)")
    ap.add_argument("--progress", action="store_true", help="progress reports (off a terminal as log lines)")
    args = ap.parse_args(argv)
    ks = args.k or ([6, 9] if args.quick else list(range(6, 13)))
    starts = args.starts or (40 if args.quick else PUBLISHED_RUNS)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    rows, censuses = [], {}
    client = cluster = None
    if args.scheduler is not None:  # one client for every k
        from dask.distributed import Client, LocalCluster

        if args.scheduler == "local":
            cluster = LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0")
        client = Client(cluster if cluster is not None else args.scheduler)
    try:
        for k in ks:
            c = run_k(k, starts, args.seed, client, True if args.progress else None, args.batch)
            censuses[k] = c
            rows.append(compare(k, c))
            r = rows[-1]
            print(f"k = {k}: {r['spurious']}/{r['runs']} spurious, flows {c.seconds['flows']:.0f} s, "
                  f"checks {c.seconds['checks']:.0f} s", flush=True)
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    total = time.perf_counter() - t0

    print(f"\nSafran & Shamir 2018 census: relu k = n, identity teacher, x ~ N(0, I_k); init randn(d,k)/sqrt(d), "
          f"GD step {STEP}, stop at max_j |grad_j L| <= 1e-9/(2 pi), spurious if loss >= {SPURIOUS_LOSS:g}; "
          f"{starts} starts per k, seed {args.seed}; {total:.0f} s")
    print(f"{'k':>3} {'runs':>5} {'spurious':>8} {'rate %':>7} {'S&S %':>6} {'Fisher p':>9} {'families':>8} "
          f"{'S&S fam':>7} {'min loss':>9} {'S&S min':>9} {'unconv':>6} {'flows s':>8} {'checks s':>8}")
    for r in rows:
        pr = "" if r["published_rate"] is None else f"{100 * r['published_rate']:.1f}"
        fp = "" if r["fisher_p"] is None else f"{r['fisher_p']:.3f}"
        ml = "" if r["min_loss"] is None else f"{r['min_loss']:.6f}"
        pm = "" if r["published_min_loss"] is None else f"{r['published_min_loss']:.6f}"
        print(f"{r['k']:>3} {r['runs']:>5} {r['spurious']:>8} {100 * r['rate']:>7.1f} {pr:>6} {fp:>9} "
              f"{r['families']:>8} {str(r['published_families'] or ''):>7} {ml:>9} {pm:>9} {r['unconverged']:>6} "
              f"{r['seconds']['flows']:>8.0f} {r['seconds']['checks']:>8.0f}")
    minima = [m for r in rows for m in r["minima"]]
    print(f"\n{'k':>3} {'loss':>10} {'runs':>5} {'finite width':>17} {'fw cert':>7} {'lambda_min':>10} {'verdict':>10} "
          f"{'gap':>9} {'non-global cert':>15} {'escape c':>9}")
    for m in minima:
        print(f"{m['k']:>3} {m['loss']:>10.6f} {m['count']:>5} {str(m['classification']):>17} "
              f"{'yes' if m['finite_width_certified'] else 'no':>7} {m['lambda_min']:>10.3g} {str(m['verdict']):>10} "
              f"{m['gap']:>9.4g} {'yes' if m['certified_nonglobal'] else 'no':>15} {m['escape_rate']:>9.3g}")

    figures = []
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(no figure: matplotlib is not installed; pip install mfsym[plot])")
    else:
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        rate = np.array([r["rate"] for r in rows])
        se = np.sqrt(rate * (1 - rate) / np.array([r["runs"] for r in rows]))
        axes[0].errorbar(ks, 100 * rate, yerr=100 * se, fmt="o-", label=f"mf.census ({starts} starts per k)")
        pk = [k for k in ks if k in PUBLISHED]
        axes[0].plot(pk, [100 * sum(r for _, r in PUBLISHED[k]) / PUBLISHED_RUNS for k in pk], "s--",
                     label="Safran & Shamir 2018 (1000 runs)")
        axes[0].set_xlabel("k = n")
        axes[0].set_ylabel("% runs at a spurious minimum")
        axes[0].legend()
        for m in minima:
            axes[1].plot(m["k"], m["loss"], "o", ms=3 + 2 * math.log1p(m["count"]), color="C0", alpha=0.7)
        for k in pk:
            axes[1].plot([k] * len(PUBLISHED[k]), [v for v, _ in PUBLISHED[k]], "x", color="C1")
        axes[1].set_xlabel("k = n")
        axes[1].set_ylabel("loss of each distinct spurious minimum (x: S&S)")
        fig.tight_layout()
        path = out / "spurious_census.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        figures.append(str(path))

    result = {"k": ks, "starts_per_k": starts, "runs": [r["runs"] for r in rows],
              "fraction_spurious": [r["rate"] for r in rows], "rows": rows, "minima": minima,
              "n_spurious_runs": int(sum(m["count"] for m in minima)),
              "all_unstable": bool(minima) and all(m["verdict"] == "unstable" for m in minima),
              "max_residual": float(max(r["max_residual"] for r in rows)), "seconds": total, "figures": figures}
    if args.json:
        full = {**result, "census": {str(k): json.loads(c.to_json(indent=None)) for k, c in censuses.items()}}
        Path(args.json).write_text(json.dumps(full, indent=1, default=str))
    return result


if __name__ == "__main__":
    main()
