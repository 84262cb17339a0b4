"""A user's own neuron (``from_expr``) against the built-in family of the same shape, measured in one run.

Rows: derive + LaTeX time of ``from_expr(a*log(1+exp(w.x+b)))`` (softplus, recognised as a ridge) vs the
built-in sigmoid at the same d; velocity time of the custom softplus vs the built-in sigmoid, and of
``from_expr(a*Max(0, w.x))`` vs the built-in relu, on 2,000 particles x 1,000 samples (d = 10); and the
componentwise path (a neuron that is not a ridge) for scale. Every time is the best of a few repeats;
ratios are custom / built-in. ``--quick`` uses 200 particles x 200 samples.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import sympy as sp

import mfsym as mf


def best(fn, repeats: int = 3) -> float:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return min(out)


def custom(d: int, kind: str):
    w, x = sp.MatrixSymbol("w", d, 1), sp.MatrixSymbol("x", d, 1)
    a, b = sp.symbols("a b")
    z = (w.T * x)[0, 0]
    if kind == "softplus":
        return mf.families.from_expr(a * sp.log(1 + sp.exp(z + b)), params={"a": (), "w": (d,), "b": ()},
                                     inputs={"x": (d,)}, name="my-softplus")
    if kind == "relu":
        return mf.families.from_expr(a * sp.Max(0, z), params={"a": (), "w": (d,)}, inputs={"x": (d,)}, name="my-relu")
    return mf.families.from_expr(a * sp.tanh(w[0] * x[0]) * sp.tanh(z), params={"a": (), "w": (d,)},
                                 inputs={"x": (d,)}, name="not-a-ridge")


def velocity_time(fam, m: int, n: int, d: int) -> float:
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((n, d)), rng.standard_normal((n, 1))
    prob = mf.Problem(fam, mf.Samples(X, Y))
    mu = mf.Measure(fam, fam.random_particles(m, seed=1))
    P = mu.particles
    prob.velocity(mu, P)
    return best(lambda: prob.velocity(mu, P))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    d = 10
    m, n = (200, 200) if args.quick else (2000, 1000)

    def derive_custom():
        mf.derive(custom(d, "softplus")).latex()

    t_custom = best(derive_custom, 1)
    t_builtin = best(lambda: mf.derive(mf.families.sigmoid(d=d)).latex(), 1)
    print(f"{'quantity':<46}{'custom [s]':>12}{'built-in [s]':>14}{'ratio':>8}")
    print(f"{'derive+latex softplus vs sigmoid (d=10)':<46}{t_custom:>12.3f}{t_builtin:>14.3f}{t_custom / t_builtin:>8.2f}")
    vc = velocity_time(custom(d, "softplus"), m, n, d)
    vb = velocity_time(mf.families.sigmoid(d=d), m, n, d)
    print(f"{f'velocity softplus vs sigmoid ({m}x{n})':<46}{vc:>12.4f}{vb:>14.4f}{vc / vb:>8.2f}")
    vc = velocity_time(custom(d, "relu"), m, n, d)
    vb = velocity_time(mf.families.relu(d=d), m, n, d)
    print(f"{f'velocity Max(0,w.x) vs relu ({m}x{n})':<46}{vc:>12.4f}{vb:>14.4f}{vc / vb:>8.2f}")
    mm, nn = (50, 50) if args.quick else (200, 200)
    vc = velocity_time(custom(d, "other"), mm, nn, d)
    vb = velocity_time(mf.families.tanh(d=d, bias=False), mm, nn, d)
    print(f"{f'velocity componentwise vs tanh ({mm}x{nn})':<46}{vc:>12.4f}{vb:>14.4f}{vc / vb:>8.2f}")


if __name__ == "__main__":
    main()
