r"""Chizat & Bach 2018: particle gradient flow on teacher-student networks and sparse deconvolution.

Reproduces the experiments of Chizat & Bach 2018 (arXiv 1805.09545), §4:

* **Teacher-student** (their Fig. 3): a teacher with $m_0$ neurons, students of $m$ particles
  trained by the particle gradient flow $\dot\theta_j = -\nabla J_\mu(\theta_j)$ (masses $1/m$; docs/mathematics.md,
  first variation and flow); the excess loss at the end of the run against $m$, for two input dimensions $d$.
  relu (2-homogeneous, $\varphi = a\max(0, w^\top x)$) on the Gaussian population
  (:class:`mf.GaussianTeacher`, closed-form kernel), sigmoid ($\varphi = a\,\sigma(w^\top x + b)$) on
  $n$ samples. The teacher is realisable, so the minimum is 0 and the loss is the excess loss.
  Published trend: the excess loss is large for $m \lesssim m_0$ and falls to ~0 (up to the finite
  run time) once $m$ exceeds a threshold of order $m_0$, the threshold growing with $d$.
* **Sparse deconvolution** (their Fig. 2): spikes $\sum_k a^*_k\delta_{t^*_k}$ observed through a
  Gaussian kernel on a grid of $[0, 1)$, particles initialised at zero weight on a uniform grid of
  positions; the particle trajectories in the $(t, a)$ plane concentrate on the spikes.

Run: ``python analyses/chizat_bach2018.py [--quick] [--out DIR] [--seed S]``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import mfsym as mf  # noqa: E402


def teacher_measure(fam, m0: int, d: int, rng: np.random.Generator, sigmoid: bool) -> mf.Measure:
    """$m_0$ neurons with unit-norm directions (scaled by 3 for sigmoid), masses $1/m_0$."""
    W = rng.standard_normal((m0, d))
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    if sigmoid:
        a = 2.0 * rng.choice([-1.0, 1.0], (m0, 1))
        return mf.Measure.from_blocks(fam, np.full(m0, 1.0 / m0), a=a, w=3.0 * W, b=np.zeros(m0))
    return mf.Measure.from_blocks(fam, np.full(m0, 1.0 / m0), a=np.ones((m0, 1)), w=W)


def excess_losses(kind: str, d: int, m0: int, ms: list[int], seeds: list[int], steps: int, n: int) -> np.ndarray:
    """Final loss of the particle flow, ``(len(seeds), len(ms))``; the teacher is realisable (min 0)."""
    out = np.empty((len(seeds), len(ms)))
    for i, seed in enumerate(seeds):
        rng = np.random.default_rng(seed)
        if kind == "relu":
            fam = mf.families.relu(d=d, outputs=1)
            prob = mf.Problem(fam, mf.GaussianTeacher(fam, teacher_measure(fam, m0, d, rng, False)))
            dt = 1.0
        else:
            fam = mf.families.sigmoid(d=d, outputs=1, bias=True)
            data, _ = mf.datasets.teacher_student(fam, teacher_measure(fam, m0, d, rng, True), n=n, seed=seed)
            prob = mf.Problem(fam, data)
            dt = 2.0
        for j, m in enumerate(ms):
            P = fam.random_particles(m, rng, 1.0)
            P[:, fam.block_slice("w")] /= np.sqrt(d)  # w ~ N(0, I/d), a ~ N(0, 1)
            traj = mf.flow(prob, mf.Measure(fam, P), steps=steps, dt=dt, tol=1e-9)
            out[i, j] = traj.losses[-1]
    return out


def deconvolution(m: int, steps: int, seed: int, out: Path) -> dict:
    """Sparse deconvolution with a Gaussian kernel (width 1/20), 4 spikes, particles from zero weight."""
    fam = mf.families.deconvolution(d=1, kernel="gaussian", width="1/20")
    data, truth = mf.datasets.deconvolution(fam, m_spikes=4, n=100, seed=seed, min_separation=0.15)
    prob = mf.Problem(fam, data)
    P = np.zeros((m, 2))
    P[:, 1] = (np.arange(m) + 0.5) / m
    traj = mf.flow(prob, mf.Measure(fam, P), steps=steps, dt=1.0, record_every=max(1, steps // 200))
    final = traj.measure.blocks
    a, t = final["a"], final["t"][:, 0]
    ts, amps = truth.blocks["t"][:, 0], truth.blocks["a"]
    # recovered spike: the particles within 0.05 of t*_k; amplitude sum_j c_j a_j, position weighted by |c_j a_j|
    rec_pos, rec_amp = [], []
    for tk in ts:
        near = np.abs(t - tk) < 0.05
        w = np.abs(a[near]) / m
        rec_amp.append(float(np.sum(a[near]) / m))
        rec_pos.append(float(np.sum(w * t[near]) / np.sum(w)) if w.sum() > 0 else float("nan"))
    far_mass = float(np.sum(np.abs(a[np.min(np.abs(t[:, None] - ts[None, :]), axis=1) >= 0.05])) / m)
    S = traj.snapshots
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for j in range(m):
        axes[0].plot(S[:, j, 1], S[:, j, 0], "-", lw=0.8, color="C0", alpha=0.7)
    axes[0].plot(S[-1, :, 1], S[-1, :, 0], "o", ms=3, color="C0", label="particles at the end")
    for k, tk in enumerate(ts):
        axes[0].axvline(tk, color="r", ls="--", lw=0.8, label="spike positions $t^*_k$" if k == 0 else None)
    axes[0].set_xlabel("position t")
    axes[0].set_ylabel("particle weight a (mass 1/m)")
    axes[0].set_title(f"Particle trajectories from a = 0, m = {m}")
    axes[0].legend(fontsize=8)
    x = np.arange(len(ts))
    axes[1].bar(x - 0.2, amps, 0.4, label=r"$a^*_k$")
    axes[1].bar(x + 0.2, rec_amp, 0.4, label=r"$\sum_{|t_j - t^*_k| < 0.05} a_j / m$")
    axes[1].set_xticks(x, [f"{tk:.3f}" for tk in ts])
    axes[1].set_xlabel("spike position")
    axes[1].set_ylabel("amplitude")
    axes[1].legend(fontsize=8)
    axes[2].semilogy(traj.times[1:], traj.losses[1:])
    axes[2].set_xlabel("flow time")
    axes[2].set_ylabel("loss")
    fig.tight_layout()
    path = out / "deconvolution_trajectories.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return {"loss_initial": float(traj.losses[0]), "loss_final": float(traj.losses[-1]), "time": float(traj.times[-1]),
            "spikes": ts.tolist(), "amplitudes": amps.tolist(), "recovered_positions": rec_pos,
            "recovered_amplitudes": rec_amp, "position_error": float(np.nanmax(np.abs(np.array(rec_pos) - ts))),
            "amplitude_error": float(np.max(np.abs(np.array(rec_amp) - amps))), "mass_away_from_spikes": far_mass,
            "figure": str(path)}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="d = 5, m in {2, 8, 32}, one seed, short runs (< 30 s)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "out" / "chizat_bach2018"))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    m0 = 5
    if args.quick:
        dims, ms, seeds, steps, n, dec_m, dec_steps = [5], [2, 8, 32], [args.seed], 300, 200, 20, 400
    else:
        dims, ms, seeds, steps, n, dec_m, dec_steps = [5, 20], [1, 2, 4, 8, 16, 32, 64], \
            [args.seed + s for s in range(3)], 2000, 400, 40, 4000
    t0 = time.perf_counter()
    curves: dict[str, dict[int, list[float]]] = {}
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, kind in zip(axes, ("relu", "sigmoid")):
        curves[kind] = {}
        for d in dims:
            L = excess_losses(kind, d, m0, ms, seeds, steps, n)
            med = np.median(L, axis=0)
            curves[kind][d] = med.tolist()
            ax.loglog(ms, np.maximum(med, 1e-12), "o-", label=f"d = {d}")
            if len(seeds) > 1:
                ax.fill_between(ms, np.maximum(L.min(0), 1e-12), np.maximum(L.max(0), 1e-12), alpha=0.2)
        ax.axvline(m0, color="gray", ls=":", label=f"teacher width m0 = {m0}")
        ax.set_xlabel("number of particles m")
        ax.set_ylabel("excess loss after the flow")
        ax.set_title(f"{kind} teacher-student ({'population' if kind == 'relu' else f'n = {n} samples'})")
        ax.legend(fontsize=8)
    fig.tight_layout()
    ts_path = out / "teacher_student_excess_loss.png"
    fig.savefig(ts_path, dpi=110)
    plt.close(fig)
    t_ts = time.perf_counter() - t0
    dec = deconvolution(dec_m, dec_steps, args.seed + 3, out)

    print(f"Chizat & Bach 2018 teacher-student: m0 = {m0}, {steps} flow steps, median over seeds {seeds}  "
          f"({t_ts:.0f} s)")
    print(f"{'activation':>10} {'d':>3} " + " ".join(f"{'m=' + str(m):>9}" for m in ms))
    for kind in curves:
        for d in dims:
            print(f"{kind:>10} {d:>3} " + " ".join(f"{v:>9.2e}" for v in curves[kind][d]))
    print(f"\nsparse deconvolution (Gaussian kernel, width 1/20, m = {dec_m}): loss {dec['loss_initial']:.4g} -> "
          f"{dec['loss_final']:.3g} at t = {dec['time']:.4g}")
    print(f"{'spike':>6} {'t*':>8} {'t rec':>8} {'a*':>8} {'a rec':>8}")
    for k, (t_, tr, a_, ar) in enumerate(zip(dec["spikes"], dec["recovered_positions"], dec["amplitudes"],
                                             dec["recovered_amplitudes"])):
        print(f"{k:>6} {t_:>8.4f} {tr:>8.4f} {a_:>8.4f} {ar:>8.4f}")
    print(f"max position error {dec['position_error']:.2e}, max amplitude error {dec['amplitude_error']:.2e}, "
          f"|weight| away from the spikes {dec['mass_away_from_spikes']:.2e}")
    return {"m": ms, "dims": dims, "m0": m0, "excess_loss": curves, "deconvolution": dec,
            "figures": [str(ts_path), dec["figure"]]}


if __name__ == "__main__":
    main()
