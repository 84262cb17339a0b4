r"""Census of spurious minima of the relu teacher-student population loss (Safran & Shamir 2018).

Setting (Safran & Shamir 2018, arXiv 1712.08968, §2 and §4): student and teacher
$x \mapsto \sum_{i=1}^k \max(0, w_i^\top x)$ with output weights fixed to 1, $k = n$ neurons, teacher
weights the identity $V = I_k$ (orthonormal), $x \sim N(0, I_k)$, square loss
$L(W) = \tfrac12\mathbb{E}_x[(\sum_i [w_i^\top x]_+ - \sum_i [v_i^\top x]_+)^2]$ evaluated in closed
form (:class:`mf.GaussianTeacher`, arc-cosine kernel). In mfsym this is the family
``relu(d=k, outputs=0)`` with unit masses (the masses are the fixed output weights).

For every $k$ the script runs many random starts (Xavier-uniform $w_{ij} \sim U(\pm\sqrt{3/k})$),
minimises $F(W) = L(W)$ with L-BFGS on the exact population gradient, polishes each end point with
``mf.stationary`` and calls a run *spurious* when its loss is above ``1e-8`` (the global minimum is
0). Each distinct spurious minimum (distinct loss value, i.e. one orbit of the permutation symmetry)
is then passed to ``mf.check``: its finite-width classification (strict local minimum or not) and its
mean-field verdict, which should be "unstable" — a finite-width local minimum that is not a minimizer
of the infinite-width problem, with a certified witness $\hat\theta$ on the unit sphere where
$J_\mu(\hat\theta) < 0$ (docs/mathematics.md "Homogeneity classes and global optimality", docs/stability.md).

Compared against Safran & Shamir 2018 (arXiv 1712.08968), whose abstract states that "the
probability of hitting such local minima is quite high, and increasing with the network size" (their
Table 1 gives the rates per k for gradient descent from Xavier starts; its numbers could not be
checked against the paper here, so none are quoted: ``PUBLISHED_PERCENT`` is left empty until someone
transcribes them from the PDF with the table reference).

Run: ``python analyses/spurious_census.py [--quick] [--out DIR] [--seed S] [--budget SECONDS]``.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import scipy.optimize as so  # noqa: E402

import mfsym as mf  # noqa: E402

#: Safran & Shamir 2018 (arXiv 1712.08968), Table 1, rows k = n: % of runs ending at a spurious minimum.
#: Empty on purpose: fill it only from the paper itself (values recalled from memory are not a source).
PUBLISHED_PERCENT: dict[int, float] = {}
SPURIOUS_LOSS = 1e-8


def problem(k: int) -> mf.Problem:
    """The population problem of Safran & Shamir: relu student of width k, identity teacher, x ~ N(0, I_k)."""
    fam = mf.families.relu(d=k, outputs=0)
    teacher = mf.Measure(fam, np.eye(k), np.ones(k))
    return mf.Problem(fam, mf.GaussianTeacher(fam, teacher))


def train(prob: mf.Problem, k: int, rng: np.random.Generator) -> mf.Measure:
    """One Xavier-uniform start, L-BFGS on the population loss, then ``mf.stationary`` polishing of
    the spurious end points."""
    fam, c = prob.family, np.ones(k)
    bound = np.sqrt(6.0 / (2 * k))

    def fg(x):
        mu = mf.Measure(fam, x.reshape(k, k), c)
        return prob.loss(mu), prob.particle_gradient(mu).ravel()

    x0 = rng.uniform(-bound, bound, (k, k)).ravel()
    res = so.minimize(fg, x0, jac=True, method="L-BFGS-B", options={"maxiter": 10000, "gtol": 1e-12, "ftol": 1e-16})
    mu = mf.Measure(fam, res.x.reshape(k, k), c)
    if prob.loss(mu) <= SPURIOUS_LOSS:
        return mu  # a global minimum (loss 0); nothing to certify
    # Workaround: mf.stationary's trust-exact step can raise ValueError (NaN in scipy's cho_solve) at
    # points that are already stationary to ~1e-9; keep the L-BFGS point then (its residual is reported).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            return mf.stationary(prob, mu, target="minimum", tol=1e-11)
        except ValueError:
            return mu


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="k in {6, 9}, a few starts (< 30 s)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "out" / "spurious_census"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--budget", type=float, default=None,
                    help="seconds for the training rounds (default 480 full, none in quick mode)")
    ap.add_argument("--ks", type=int, nargs="+", default=None)
    ap.add_argument("--max-starts", type=int, default=None)
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ks = args.ks or ([6, 9] if args.quick else list(range(6, 13)))
    max_starts = args.max_starts or (10 if args.quick else 10**6)
    budget = args.budget if args.budget is not None else (None if args.quick else 480.0)
    rng = np.random.default_rng(args.seed)
    probs = {k: problem(k) for k in ks}
    runs: dict[int, list[mf.Measure]] = {k: [] for k in ks}
    losses: dict[int, list[float]] = {k: [] for k in ks}
    residuals: dict[int, list[float]] = {k: [] for k in ks}

    # Rounds of one start per k, so every k gets the same number of starts; stop when the budget is spent.
    t0 = time.perf_counter()
    rounds = 0
    while rounds < max_starts and (budget is None or time.perf_counter() - t0 < budget):
        for k in ks:
            mu = train(probs[k], k, rng)
            runs[k].append(mu)
            losses[k].append(probs[k].loss(mu))
            residuals[k].append(probs[k].residual(mu))
        rounds += 1
    t_train = time.perf_counter() - t0

    # Distinct spurious minima (one per loss value = one permutation orbit), each checked by mf.check.
    t1 = time.perf_counter()
    minima = []
    for k in ks:
        L = np.array(losses[k])
        spurious = np.flatnonzero(L > SPURIOUS_LOSS)
        reps: list[dict] = []
        for i in spurious:
            hit = next((r for r in reps if abs(r["loss"] - L[i]) <= 1e-7 * max(1.0, L[i])), None)
            if hit is not None:
                hit["count"] += 1
                continue
            rep = mf.check(probs[k], runs[k][i], seed=args.seed)
            fw, mfd = rep.finite_width, rep.mean_field
            sets = mfd.escaping_sets if mfd is not None else []
            reps.append({"k": k, "loss": float(L[i]), "count": 1, "residual": float(rep.residual),
                         "classification": fw.classification if fw else None,
                         "lambda_min": fw.lambda_min if fw else float("nan"),
                         "verdict": rep.verdict.value, "gap": mfd.gap if mfd else float("nan"),
                         "certified_nonglobal": bool(mfd.certified_nonglobal) if mfd else False,
                         "escape_rate": sets[0].growth_rate if sets else float("nan")})
        minima.extend(reps)
    t_check = time.perf_counter() - t1

    n_runs = [len(losses[k]) for k in ks]
    frac = [float(np.mean(np.array(losses[k]) > SPURIOUS_LOSS)) for k in ks]
    print(f"Safran & Shamir 2018 census: relu k = n, identity teacher, x ~ N(0, I_k), seed {args.seed}")
    print(f"training {t_train:.0f} s ({rounds} starts per k), checks {t_check:.0f} s")
    print(f"{'k':>3} {'runs':>5} {'spurious %':>10} {'S&S 2018 %':>10} {'max resid':>10}  spurious losses")
    for k, n, f in zip(ks, n_runs, frac):
        sp = sorted({round(m["loss"], 6) for m in minima if m["k"] == k})
        pub = PUBLISHED_PERCENT.get(k, float("nan"))
        print(f"{k:>3} {n:>5} {100 * f:>10.1f} {pub:>10.1f} {max(residuals[k]):>10.1e}  {sp}")
    print(f"\n{'k':>3} {'loss':>10} {'runs':>5} {'finite width':>17} {'lambda_min':>10} {'verdict':>10} "
          f"{'gap':>9} {'certified':>9} {'escape c':>9}")
    for m in minima:
        print(f"{m['k']:>3} {m['loss']:>10.6f} {m['count']:>5} {str(m['classification']):>17} {m['lambda_min']:>10.3g} "
              f"{m['verdict']:>10} {m['gap']:>9.4g} {str(m['certified_nonglobal']):>9} {m['escape_rate']:>9.3g}")

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    axes[0].plot(ks, [100 * f for f in frac], "o-", label=f"mfsym ({rounds} starts per k)")
    pk = [k for k in ks if k in PUBLISHED_PERCENT]
    if pk:
        axes[0].plot(pk, [PUBLISHED_PERCENT[k] for k in pk], "s--", label="Safran & Shamir 2018, Table 1")
    axes[0].set_xlabel("k = n")
    axes[0].set_ylabel("% runs at a spurious minimum")
    axes[0].legend()
    for k in ks:
        L = np.array(losses[k])
        L = L[L > SPURIOUS_LOSS]
        axes[1].plot(np.full(L.size, k) + np.random.default_rng(k).uniform(-0.15, 0.15, L.size), L, ".", alpha=0.6)
    axes[1].set_xlabel("k = n")
    axes[1].set_ylabel("loss at the spurious minimum")
    axes[1].set_title("every one: verdict " + ", ".join(sorted({m["verdict"] for m in minima})) if minima else "")
    fig.tight_layout()
    fig_path = out / "spurious_census.png"
    fig.savefig(fig_path, dpi=110)
    plt.close(fig)
    return {"k": ks, "runs": n_runs, "starts_per_k": rounds, "fraction_spurious": frac,
            "published_percent": {k: PUBLISHED_PERCENT.get(k) for k in ks}, "minima": minima,
            "n_spurious_runs": int(sum(m["count"] for m in minima)),
            "all_unstable": bool(minima) and all(m["verdict"] == "unstable" for m in minima),
            "max_residual": float(max(max(r) for r in residuals.values())),
            "seconds": {"train": t_train, "check": t_check}, "figures": [str(fig_path)]}


if __name__ == "__main__":
    main()
