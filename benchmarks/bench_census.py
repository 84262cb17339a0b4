"""``mf.census`` flows against a hand-written batched numpy GD on the closed-form loss, in the same run (ratios).

Safran & Shamir 2018's problem at $k = 8$: relu student of width $k$, identity teacher, $x \\sim N(0, I_k)$,
starts ``randn(d, k)/sqrt(d)``, gradient descent with step 0.1 until $\\max_j |\\nabla_{w_j} L| \\le
10^{-9}/(2\\pi)$ (their GD_code/findMinimum.m; github.com/ItaySafran/OneLayerGDconvergence). The baseline is
their gradient formula written directly in numpy over a leading start axis (arccos angles,
$\\nabla_{w} L = \\frac1{2\\pi}\\sum_s \\pm(|w_s|\\sin t\\,\\hat w + (\\pi - t) w_s)$), freezing each start when it
stops. ``mf.census`` runs the same starts in one batch (``check=False``: the flows only) and must reach
the same endpoints; the ratio is census time / baseline time, in elapsed and in CPU seconds. Reported also: the time per step with
every start active, and the spurious runs each found.

Usage: ``python benchmarks/bench_census.py [--starts 300] [--k 8] [--repeats 1] [--quick]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import mfsym as mf


def hand_gd(W: np.ndarray, step: float, gtol: float, max_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Batched GD on Safran & Shamir's closed-form loss, neurons as rows: ``W`` ``(S, k, d)``, teacher $I$."""
    S, k, d = W.shape
    V = np.eye(k, d)
    W = W.copy()
    active = np.ones(S, bool)
    steps = np.zeros(S, int)
    nv = np.linalg.norm(V, axis=1)
    Vh = V / nv[:, None]
    for _ in range(max_steps):
        Wa = W[active]
        nw = np.linalg.norm(Wa, axis=2)
        Wh = Wa / nw[..., None]
        tww = np.arccos(np.clip(Wh @ np.swapaxes(Wh, 1, 2), -1, 1))
        tvw = np.arccos(np.clip(Wh @ Vh.T, -1, 1))
        g = (((np.sin(tww) * nw[:, None, :]).sum(2) - (np.sin(tvw) * nv).sum(2))[..., None] * Wh
             + (np.pi - tww) @ Wa - (np.pi - tvw) @ V) / (2 * np.pi)
        gn = np.sqrt(np.max(np.sum(g**2, axis=2), axis=1))
        idx = np.flatnonzero(active)
        stop = gn <= gtol
        move = idx[~stop]
        W[move] = Wa[~stop] - step * g[~stop]
        steps[move] += 1
        active[idx[stop]] = False
        if not active.any():
            break
    return W, steps


def hand_loss(W: np.ndarray) -> np.ndarray:
    """Safran & Shamir's objval.m over a leading start axis."""
    k = W.shape[1]
    V = np.eye(k)

    def K(A, B):
        na, nb = np.linalg.norm(A, axis=-1), np.linalg.norm(B, axis=-1)
        t = np.arccos(np.clip((A / na[..., None]) @ np.swapaxes(B / nb[..., None], -1, -2), -1, 1))
        return na[..., :, None] * nb[..., None, :] * (np.sin(t) + (np.pi - t) * np.cos(t))

    return (K(W, W).sum((-1, -2)) / 2 - K(W, V).sum((-1, -2)) + K(V, V).sum() / 2) / (2 * np.pi)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--starts", type=int, default=300)
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="k = 6, 40 starts")
    args = ap.parse_args(argv)
    k, S = (6, 40) if args.quick else (args.k, args.starts)
    fam = mf.families.relu(d=k, outputs=0)
    prob = mf.Problem(fam, mf.GaussianTeacher(fam, mf.Measure(fam, np.eye(k), np.ones(k))))
    gtol, step, max_steps = 1e-9 / (2 * np.pi), 0.1, 10**6
    opts = dict(init="ss18", masses=np.ones(k), dt=step, tol=gtol, max_steps=max_steps, check=False,
                progress=False, batch=S)
    mf.census(prob, k, 2, **opts)  # warm-up: lambdify the closed form once

    rows = []
    for r in range(args.repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        c = mf.census(prob, k, S, seed=r, **opts)
        t_census = (time.perf_counter() - w0, time.process_time() - c0)
        # the same starts (census draws start i from SeedSequence(seed).spawn(S)[i]), neurons as rows
        W0 = np.stack([np.random.default_rng(ss).standard_normal((k, k)) / np.sqrt(k)
                       for ss in np.random.SeedSequence(r).spawn(S)])
        w0, c0 = time.perf_counter(), time.process_time()
        W, steps = hand_gd(W0, step, gtol, max_steps)
        t_hand = (time.perf_counter() - w0, time.process_time() - c0)
        rows.append((r, t_hand, t_census, float(np.max(np.abs(W - c.endpoints))),
                     int(np.sum(hand_loss(W) >= 1e-3)), int(np.sum(c.losses >= 1e-3)), int(np.max(steps))))

    # 200 steps with every start active (the census time includes drawing the starts and grouping the
    # endpoints, amortised over the steps)
    n1 = 200
    W0 = np.stack([np.random.default_rng(ss).standard_normal((k, k)) / np.sqrt(k)
                   for ss in np.random.SeedSequence(99).spawn(S)])
    c0 = time.process_time()
    hand_gd(W0, step, 0.0, n1)
    t_hand1 = (time.process_time() - c0) / n1
    c0 = time.process_time()
    mf.census(prob, k, S, seed=99, **{**opts, "tol": 1e-300, "max_steps": n1})
    t_census1 = (time.process_time() - c0) / n1

    print(f"census flows vs hand-written batched numpy GD (Safran & Shamir 2018, k = {k}, {S} starts, "
          f"step {step}, stop at max_j |grad_j L| <= {gtol:.3g})")
    print("wall: elapsed seconds; cpu: this process's CPU seconds (steadier on a shared machine)")
    print(f"{'seed':>4} {'numpy wall':>10} {'census wall':>11} {'ratio':>6} {'numpy cpu':>9} {'census cpu':>10} "
          f"{'ratio':>6} {'max |dW|':>9} {'spurious numpy':>15} {'spurious census':>16} {'max steps':>9}")
    for seed, th, tc, dw, sh, sc, ms in rows:
        print(f"{seed:>4} {th[0]:>10.2f} {tc[0]:>11.2f} {tc[0] / th[0]:>6.2f} {th[1]:>9.2f} {tc[1]:>10.2f} "
              f"{tc[1] / th[1]:>6.2f} {dw:>9.1e} {sh:>15} {sc:>16} {ms:>9}")
    print(f"cpu per step over {n1} steps, all {S} starts active: numpy {1e3 * t_hand1:.2f} ms, census "
          f"{1e3 * t_census1:.2f} ms, ratio {t_census1 / t_hand1:.2f}")
    return rows


if __name__ == "__main__":
    main()
