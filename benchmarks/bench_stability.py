"""Speed of the stability layer, as ratios against float baselines measured in the same run.

1. Certified negative curvature for a 3000 x 3000 particle Hessian (sigmoid, p = 5, m = 600, n = 50):
   ball-arithmetic v^T H v from the exact symbolic directional derivatives, against the float HVP.
2. mf.check end to end on a width-100 relu problem (p = 4, n = 200; the teacher itself), against its float parts
   (dense spectrum + gap search).

Run: python benchmarks/bench_stability.py [--quick]
"""

from __future__ import annotations

import sys
import time

import numpy as np

import mfsym as mf
from mfsym.stability import spectrum
from mfsym._ball import precision
from mfsym.stability._certificates import curvature_claim


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main(quick: bool = False) -> None:
    rows = []
    m = 120 if quick else 600
    fam = mf.families.sigmoid(d=3, outputs=1, bias=True)
    data, _ = mf.datasets.teacher_student(fam, m_teacher=5, n=50, seed=0)
    prob = mf.Problem(fam, data)
    mu = mf.Measure(fam, 1.5 * fam.random_particles(m, seed=1))
    N = mu.particles.size
    sp_, t_spec = timed(lambda: spectrum(prob, mu, k=1, method="lanczos"))
    v = sp_.eigenvectors[:, 0].reshape(mu.particles.shape)
    _, t_hvp = timed(lambda: float(np.sum(v * prob.hvp(mu, v))))
    with precision(128):
        claim, t_ball = timed(lambda: curvature_claim(prob, mu, v, 0.0))
    rows.append((f"negative curvature, N = {N}", "float HVP v^T H v", t_hvp, "ball v^T H v (128 bits)", t_ball,
                 f"{claim['outcome']}; lambda = {sp_.lambda_min:.3g}; Lanczos {t_spec:.2f} s"))
    mw = 30 if quick else 100
    fam = mf.families.relu(d=3)
    data, mu = mf.datasets.teacher_student(fam, m_teacher=mw, n=200, seed=0)  # exact interpolation: global
    prob = mf.Problem(fam, data)
    _, t_float = timed(lambda: (spectrum(prob, mu), mf.meanfield.gap(prob, mu)))
    rep, t_check = timed(lambda: mf.check(prob, mu))
    rows.append((f"check, width {mw} relu (N = {mu.particles.size})", "spectrum + gap (float)", t_float,
                 "mf.check (with certificates)", t_check,
                 f"{rep.verdict.value}; {rep.finite_width.classification if rep.finite_width else '-'} "
                 f"({'certified' if rep.finite_width and rep.finite_width.certified else 'numerical'})"))
    print(f"{'case':40s} {'baseline':28s} {'s':>8s} {'measured':32s} {'s':>8s} {'ratio':>8s}  result")
    for case, bname, tb, mname, tm, note in rows:
        print(f"{case:40s} {bname:28s} {tb:8.3f} {mname:32s} {tm:8.3f} {tm / tb:8.1f}  {note}")


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
