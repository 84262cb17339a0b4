r"""Safran & Shamir's spurious minima, certified: strict local minima at width n, unstable as measures.

Setting (Safran & Shamir 2018, *Spurious local minima are common in two-layer ReLU neural networks*,
arXiv 1712.08968, §2 and §4): student $x \mapsto \sum_{i=1}^n [w_i^\top x]_+$ (output weights 1), teacher
$\sum_{i=1}^k [e_i^\top x]_+$, $x \sim N(0, I_k)$, square loss in closed form (:class:`mf.GaussianTeacher`,
arc-cosine kernel). Their Table 1 lists the spurious minima their gradient-descent runs reached for
$k = n$ and $n = k + 1$ and proves each a local minimum (exact Hessian, eigenvalue error bounds, a
third-derivative bound for the ball that holds a true minimum; ``Verify_minima_code/minimum.m``).

Here each family representative of their result files (``analyses/data/ss18_minima.json``, copied
exactly from ``Results/newExp-k-n.mat`` of github.com/ItaySafran/OneLayerGDconvergence; provenance in
the file) is polished by ``mf.check(..., refine=True)`` and checked. The finite-width certificate encloses
the population Hessian over a box around the point in ball arithmetic (which replaces their explicit
third-derivative bound) and covers the stationarity residual; ``mf.verify`` re-proves every claim from
the certificate alone. The global minimum $W = I$ is checked at every $k$ (Hessian spectrum
$\lambda_{min} = 1/4 - 1/(2\pi)$, Safran & Shamir §4).

Run: ``python analyses/ss18_certified.py [--k 6 7 ...] [--no-escaping] [--seed 0] [--out DIR] [--json FILE]
[--quick]``.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

import mfsym as mf

DATA = Path(__file__).parent / "data" / "ss18_minima.json"
#: the eigenvalue 1/4 - 1/(2 pi) of the Hessian at W = I (Safran & Shamir 2018, §4)
GLOBAL_LAMBDA = 0.25 - 1 / (2 * math.pi)


def problem(k: int) -> mf.Problem:
    """Relu student (output weights 1), identity teacher of width k, x ~ N(0, I_k)."""
    fam = mf.families.relu(d=k, outputs=0)
    return mf.Problem(fam, mf.GaussianTeacher(fam, mf.Measure(fam, np.eye(k), np.ones(k))))


def load(path: Path = DATA) -> list[dict]:
    """The family representatives ``{k, n, family, runs, W (k, n)}``."""
    return json.loads(Path(path).read_text())["minima"]


def certify(prob: mf.Problem, W: np.ndarray, escaping: bool, seed: int = 0) -> dict:
    """Check the point with columns ``W`` (k, n) and verify its certificate; the numbers of one row."""
    fam = prob.family
    mu = mf.Measure(fam, np.ascontiguousarray(W.T), np.ones(W.shape[1]))
    t0 = time.perf_counter()
    rep = mf.check(prob, mu, refine=True, escaping=escaping, seed=seed)
    t1 = time.perf_counter()
    verified = mf.verify(rep.certificate)
    t2 = time.perf_counter()
    fw = rep.finite_width
    claims = {c["name"]: c["outcome"] for c in rep.certificate["claims"]}
    sets = rep.mean_field.escaping_sets if rep.mean_field is not None else []
    return {"loss_published_point": prob.loss(mu), "verdict": rep.verdict,
            "classification": None if fw is None else fw.classification,
            "finite_width_certified": bool(fw is not None and fw.certified),
            "lambda_min": float("nan") if fw is None else fw.lambda_min,
            "nonglobal_certified": claims.get("non-globality") == "proved",
            "escaping_certified": any(s.certified for s in sets), "escaping_sets": len(sets),
            "gap": float("nan") if rep.mean_field is None else rep.mean_field.gap,
            "residual_covered": claims.get("residual-covered"), "verified": verified,
            "check_s": t1 - t0, "verify_s": t2 - t1, "reasons": rep.reasons}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k", type=int, nargs="+", default=None, help="targets k (default: every k in the data)")
    ap.add_argument("--no-escaping", action="store_true", help="skip the escaping sets (faster)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the checks' global search")
    ap.add_argument("--out", default=str(Path(__file__).parent / "out" / "ss18_certified"),
                    help="directory of ss18_certified.json")
    ap.add_argument("--json", default=None, help="also write the rows to this file")
    ap.add_argument("--quick", action="store_true", help="k = n = 6 and its W = I only (~20 s)")
    args = ap.parse_args(argv)
    minima = load()
    if args.quick:
        minima = [e for e in minima if (e["k"], e["n"]) == (6, 6)]
    elif args.k:
        minima = [e for e in minima if e["k"] in args.k]
    escaping = not args.no_escaping and not args.quick
    t0 = time.perf_counter()
    rows, globals_ = [], []
    probs: dict[int, mf.Problem] = {}
    for e in minima:
        k, n = e["k"], e["n"]
        prob = probs.setdefault(k, problem(k))
        row = {"k": k, "n": n, "family": e["family"], "runs": e["runs"],
               **certify(prob, np.array(e["W"], dtype=float), escaping, args.seed)}
        rows.append(row)
        print(f"k = {k}, n = {n}, family {e['family']}: {row['verdict']}, {row['classification']} "
              f"({'certified' if row['finite_width_certified'] else 'numerical'}), lambda_min {row['lambda_min']:.4g}, "
              f"check {row['check_s']:.1f} s, verify {row['verify_s']:.1f} s", flush=True)
    for k in sorted(probs):
        prob = probs[k]
        mu = mf.Measure(prob.family, np.eye(k), np.ones(k))
        rep = mf.check(prob, mu, escaping=False)
        ev = np.linalg.eigvalsh(prob.particle_hessian(mu))
        globals_.append({"k": k, "verdict": rep.verdict, "lambda_min": rep.finite_width.lambda_min,
                         "certified": rep.finite_width.certified,
                         "multiplicity": int(np.sum(np.abs(ev - GLOBAL_LAMBDA) < 1e-9)),
                         "verified": mf.verify(rep.certificate)})
    total = time.perf_counter() - t0

    print(f"\nSafran & Shamir 2018 spurious minima (their family representatives, polished by check(refine=True)); "
          f"escaping sets {'on' if escaping else 'off'}; {total:.0f} s")
    print(f"{'k':>3} {'n':>3} {'families':>8} {'S&S runs':>8} {'strict-min cert':>15} {'unstable':>8} "
          f"{'non-global cert':>15} {'escaping cert':>13} {'verify':>6} {'min lambda':>10} {'check s':>8} {'verify s':>8}")
    for kn in dict.fromkeys((r["k"], r["n"]) for r in rows):
        rs = [r for r in rows if (r["k"], r["n"]) == kn]
        print(f"{kn[0]:>3} {kn[1]:>3} {len(rs):>8} {sum(r['runs'] for r in rs):>8} "
              f"{sum(r['finite_width_certified'] and r['classification'] == 'strict-local-min' for r in rs):>15} "
              f"{sum(r['verdict'] == 'unstable' for r in rs):>8} {sum(r['nonglobal_certified'] for r in rs):>15} "
              f"{sum(r['escaping_certified'] for r in rs):>13} {sum(r['verified'] for r in rs):>6} "
              f"{min(r['lambda_min'] for r in rs):>10.3g} {np.mean([r['check_s'] for r in rs]):>8.1f} "
              f"{np.mean([r['verify_s'] for r in rs]):>8.1f}")
    print(f"\nW = I (global minimum): lambda_min vs 1/4 - 1/(2 pi) = {GLOBAL_LAMBDA:.6f}")
    for g in globals_:
        print(f"  k = {g['k']:>2}: {g['verdict']}, lambda_min {g['lambda_min']:.6f} (x{g['multiplicity']}), "
              f"finite width {'certified' if g['certified'] else 'numerical'}, verify {g['verified']}")
    out = {"rows": rows, "global": globals_, "seconds": total, "escaping": escaping}
    outdir = Path(args.out)
    outdir.mkdir(parents=True, exist_ok=True)
    for path in [outdir / "ss18_certified.json"] + ([Path(args.json)] if args.json else []):
        path.write_text(json.dumps(out, indent=1, default=str))
    return out


if __name__ == "__main__":
    main()
