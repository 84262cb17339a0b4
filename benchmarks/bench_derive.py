"""Derive + instantiate (structured, generic dimension) vs naive componentwise sympy gradient + Hessian.

Prints a table: per family and size d, the time of ``mf.derive`` plus ``Derivation.instantiate`` at
one symbolic input (explicit matrices of every formula), the time of the naive approach (expanded
``family.componentwise().expr``: sympy Jacobian and per-output Hessian in the flat parameters), and
their ratio, all measured in this run. ``--quick`` uses d = 2, 3.
"""

from __future__ import annotations

import argparse
import time

import sympy as sp

import mfsym as mf

FAMILIES = {
    "relu": lambda d: mf.families.relu(d=d, bias=True),
    "sigmoid": lambda d: mf.families.sigmoid(d=d, outputs=2),
    "tanh": lambda d: mf.families.tanh(d=d),
    "erf": lambda d: mf.families.erf(d=d),
    "attention": lambda d: mf.families.attention(d=d, outputs=2, tokens=3),
    "deconvolution": lambda d: mf.families.deconvolution(d=d),
}


def structured(fam) -> float:
    t0 = time.perf_counter()
    der = mf.derive(fam)
    der.instantiate([fam.componentwise().x])
    return time.perf_counter() - t0


def naive(fam) -> float:
    t0 = time.perf_counter()
    cw = fam.componentwise()
    cw.expr.jacobian(cw.theta)
    for c in range(cw.expr.shape[0]):
        sp.hessian(cw.expr[c], cw.theta)
    return time.perf_counter() - t0


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    sizes = (2, 3) if args.quick else (2, 3, 4)
    print(f"{'family':<14}{'d':>3}{'p':>5}{'derive+inst [s]':>17}{'naive [s]':>12}{'naive/structured':>18}")
    for name, make in FAMILIES.items():
        for d in sizes:
            fam = make(d)
            ts, tn = structured(fam), naive(fam)
            print(f"{name:<14}{d:>3}{fam.p:>5}{ts:>17.3f}{tn:>12.3f}{tn / ts:>18.2f}")


if __name__ == "__main__":
    main()
