r"""Bounded nonlinearities (Petit, Poon & Peyré 2026): non-global stationary points, escape, discretisation.

Reproduces, for the two models of Petit, Poon & Peyré 2026 (arXiv 2605.10775):

1. **Two-layer sigmoid network with vector outputs**, $\varphi(a, w, b; x) = a\,\sigma(wx + b)$,
   $a \in \mathbb{R}^2$, on samples of a 3-neuron teacher; and **multi-head attention**, one head
   $\varphi(V, W; X) = V X^\top\mathrm{softmax}(X W x_q)$ per particle, on samples of a 3-head teacher.
   For each: a non-global stationary point (the best width-one model, ``mf.datasets.width_one_fit``),
   its finite-width classification (``mf.check``: a strict local minimum of the width-1 loss), the
   mean-field gap $s^* = \sup_\eta |G_\mu(\eta)|_F$ (``mf.meanfield.gap``; whether it is attained only at
   infinity, where sigmoid features become steps and the softmax a hard max), the escaping active set
   $K_c$ at $c = s^*/2$ (``mf.meanfield.escaping_sets``: level, growth rate, margin $\kappa$, bounded or
   not, certified or candidate), and the mean-field escape (``mf.meanfield.simulate_escape``): the light
   mass inside $K_c$ grows, its $|A|_F$ grows at rate $\ge c$ and the loss falls below the stationary value.
2. **Well-posedness / discretisation stability** (sub-Gaussian initialisation): flows of $m$ i.i.d.
   $N(0, I)$ particles against a reference flow of $M$ particles, same Euler step, at fixed times:
   $|L(\mu^m_t) - L(\mu^M_t)|$ and $W_2(\mu^m_t, \mu^M_t)$. $W_2$ between the uniform clouds is exact:
   each of the $m$ particles is replicated $M/m$ times and the optimal assignment is computed with
   ``scipy.optimize.linear_sum_assignment`` (Birkhoff: for uniform measures with $m \mid M$ an optimal
   plan is a permutation of the replicated cloud). The claim shown numerically: both shrink as $m$ grows,
   and $W_2(\mu^m_t, \mu^M_t) / W_2(\mu^m_0, \mu^M_0)$ stays bounded on $[0, T]$.

Run: ``python analyses/bounded_nonlinearities.py [--quick] [--out DIR] [--seed S]``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy.optimize import linear_sum_assignment  # noqa: E402

import mfsym as mf  # noqa: E402


def sigmoid_problem() -> mf.Problem:
    """Vector-output sigmoid network on 25 grid points of [-2, 2], labels of a 3-neuron teacher."""
    fam = mf.families.sigmoid(d=1, outputs=2, bias=True)
    teacher = mf.Measure.from_blocks(fam, np.ones(3), a=np.array([[1.0, 0.5], [-1.0, 1.0], [0.5, -1.0]]),
                                     w=np.array([[2.0], [-2.0], [3.0]]), b=np.array([1.0, 1.0, -2.0]))
    X = np.linspace(-2, 2, 25)[:, None]
    Y = np.einsum("t,tnk->nk", teacher.masses, fam.phi(teacher.particles, X))
    return mf.Problem(fam, mf.Samples(X, Y))


def attention_problem(seed: int) -> mf.Problem:
    """Single-output attention heads, d = 2, 3 tokens, 40 samples of a 3-head teacher."""
    fam = mf.families.attention(d=2, outputs=1, tokens=3)
    data, _ = mf.datasets.teacher_student(fam, m_teacher=3, n=40, seed=seed, scale=1.5)
    return mf.Problem(fam, data)


def escape_study(name: str, prob: mf.Problem, seed: int, quick: bool, full_check: bool) -> dict:
    """Non-global stationary point, its classification, gap, escaping set and escape simulation."""
    t0 = time.perf_counter()
    mu = mf.datasets.width_one_fit(prob, starts=4, seed=seed)
    search = {"restarts": 6, "samples": 1024} if quick else {"restarts": 12, "samples": 4096}
    g = mf.meanfield.gap(prob, mu, seed=seed, **search)
    sets = mf.meanfield.escaping_sets(prob, mu, gap=g, seed=seed, certify=not quick)
    if full_check:
        rep = mf.check(prob, mu, seed=seed, restarts=search["restarts"])
        classification, lam_min = rep.finite_width.classification, rep.finite_width.lambda_min
        verdict, certified_fw = rep.verdict.value, rep.finite_width.certified
    else:  # quick: the finite-width spectrum only (the mean-field side is computed above)
        spec = mf.stability.spectrum(prob, mu, seed=seed)
        classification, lam_min, verdict, certified_fw = spec.classification, spec.lambda_min, "not run", False
    sim = mf.meanfield.simulate_escape(prob, mu, sets, steps=200 if quick else 800, dt=0.05, light=64,
                                       record_every=20, seed=seed)
    s = sets[0] if sets else None
    res = {"name": name, "loss": prob.loss(mu), "residual": prob.residual(mu), "classification": classification,
           "finite_width_certified": bool(certified_fw), "lambda_min": float(lam_min), "verdict": verdict,
           "gap": float(g.value), "gap_at_infinity": bool(g.at_infinity), "gap_finite_value": float(g.finite_value),
           "gap_infinity_value": float(g.infinity_value), "gap_direction": None if g.direction is None else
           np.asarray(g.direction).tolist(),
           "level": s.level if s else float("nan"), "growth_rate": s.growth_rate if s else float("nan"),
           "margin": s.margin if s else float("nan"), "bounded": s.bounded if s else None,
           "n_components": s.n_components if s else 0, "set_certified": bool(s.certified) if s else False,
           "escape_times": sim.times.tolist(), "escape_mass": sim.mass_in_set[0].tolist() if sets else [],
           "escape_norm": sim.norm_in_set[0].tolist() if sets else [],
           "measured_rate": float(sim.measured_rate[0]) if sets else float("nan"),
           "escape_losses": sim.losses.tolist(), "seconds": time.perf_counter() - t0}
    res["_objects"] = (mu, g, sets, sim)
    return res


def w2_uniform(A: np.ndarray, B: np.ndarray) -> float:
    """Exact $W_2$ between uniform clouds ``A (m, p)`` and ``B (M, p)`` with $m \\mid M$ (assignment)."""
    R = np.repeat(A, B.shape[0] // A.shape[0], axis=0)
    C = ((R[:, None, :] - B[None, :, :]) ** 2).sum(-1)
    i, j = linear_sum_assignment(C)
    return float(np.sqrt(C[i, j].mean()))


def discretisation(prob: mf.Problem, ms: list[int], M: int, seeds: list[int], T: float, dt: float,
                   n_times: int) -> dict:
    """$|L(\\mu^m_t) - L(\\mu^M_t)|$ and $W_2(\\mu^m_t, \\mu^M_t)$ at ``n_times`` + 1 fixed times, mean over seeds."""
    fam = prob.family
    steps = int(round(T / dt))
    every = steps // n_times

    def run(m, rng):
        mu = mf.Measure(fam, rng.standard_normal((m, fam.p)))
        tr = mf.flow(prob, mu, steps=steps, dt=dt, adaptive=False, record_every=every)
        return tr.snapshots, tr.losses[tr.snapshot_steps], tr.snapshot_times

    dL = np.zeros((len(seeds), len(ms), n_times + 1))
    W = np.zeros_like(dL)
    ref_loss = np.zeros((len(seeds), n_times + 1))
    for s, seed in enumerate(seeds):
        rng = np.random.default_rng(seed)
        S_ref, L_ref, times = run(M, rng)
        ref_loss[s] = L_ref
        for i, m in enumerate(ms):
            S, L, _ = run(m, rng)
            dL[s, i] = np.abs(L - L_ref)
            W[s, i] = [w2_uniform(S[r], S_ref[r]) for r in range(n_times + 1)]
    return {"times": times.tolist(), "m": ms, "M": M, "loss_gap": dL.mean(0).tolist(), "w2": W.mean(0).tolist(),
            "w2_ratio_max": (W / W[:, :, :1]).max(axis=(0, 2)).tolist(), "reference_loss": ref_loss.mean(0).tolist()}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller searches, no mf.check on attention (< 60 s)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "out" / "bounded_nonlinearities"))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    quick = args.quick
    sig = sigmoid_problem()
    studies = [escape_study("sigmoid, vector outputs (k=2)", sig, args.seed, quick, full_check=True),
               escape_study("multi-head attention (d=2, T=3)", attention_problem(args.seed), args.seed, quick,
                            full_check=not quick)]
    figures = []
    mu, g, sets, sim = studies[0]["_objects"]
    path = out / "sigmoid_vector_landscape.png"
    mf.meanfield.plot_landscape(sig, mu, sets=sets, simulation=sim, gap=g, path=path)
    figures.append(str(path))
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for st in studies:
        axes[0].plot(st["escape_times"], st["escape_mass"], "o-", label=st["name"])
        axes[1].plot(st["escape_times"], st["escape_norm"], "o-", label=st["name"])
        L = np.array(st["escape_losses"])
        axes[2].plot(st["escape_times"], L - st["loss"], "o-", label=st["name"])
    axes[0].set_ylabel(r"light mass fraction in $K_c$")
    axes[1].set_ylabel(r"mean $|A|_F$ of the light particles in $K_c$")
    axes[2].set_ylabel(r"$L(\mu_t) - L(\mu_\infty)$")
    for ax in axes:
        ax.set_xlabel("flow time")
        ax.legend(fontsize=7)
    fig.tight_layout()
    path = out / "escape.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    figures.append(str(path))

    t0 = time.perf_counter()
    if quick:
        disc = discretisation(sig, [8, 32, 128], 256, [args.seed + s for s in range(8)], T=2.0, dt=0.05, n_times=4)
    else:
        disc = discretisation(sig, [8, 16, 32, 64, 128, 256], 1024, [args.seed + s for s in range(10)], T=4.0,
                              dt=0.05, n_times=4)
    t_disc = time.perf_counter() - t0
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for r, t in enumerate(disc["times"]):
        axes[0].loglog(disc["m"], [row[r] for row in disc["loss_gap"]], "o-", label=f"t = {t:.2g}")
        axes[1].loglog(disc["m"], [row[r] for row in disc["w2"]], "o-", label=f"t = {t:.2g}")
    ms = np.array(disc["m"], dtype=float)
    axes[0].loglog(ms, disc["loss_gap"][0][-1] * np.sqrt(ms[0] / ms), "k:", label=r"$m^{-1/2}$")
    axes[0].set_ylabel(r"$|L(\mu^m_t) - L(\mu^M_t)|$")
    axes[1].set_ylabel(r"$W_2(\mu^m_t, \mu^M_t)$ (exact, assignment)")
    for ax in axes:
        ax.set_xlabel(f"m (reference M = {disc['M']})")
        ax.legend(fontsize=7)
    fig.tight_layout()
    path = out / "discretisation.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    figures.append(str(path))

    print("Petit, Poon & Peyre 2026: non-global stationary points (best width-one model) and their escape")
    keys = [("loss", "L(mu_inf)", ".4g"), ("residual", "residual", ".1e"), ("classification", "finite width", ""),
            ("finite_width_certified", "  certified", ""), ("lambda_min", "lambda_min", ".3g"),
            ("verdict", "mf.check verdict", ""), ("gap", "gap s*", ".4g"), ("gap_at_infinity", "  at infinity", ""),
            ("gap_finite_value", "  sup over finite eta", ".4g"), ("gap_infinity_value", "  sup at infinity", ".4g"),
            ("level", "level c", ".4g"), ("growth_rate", "growth rate", ".4g"), ("measured_rate", "measured |A| rate", ".4g"),
            ("margin", "margin kappa", ".3g"), ("bounded", "bounded", ""), ("n_components", "components", ""),
            ("set_certified", "set certified", ""), ("seconds", "seconds", ".0f")]
    print(f"{'':>22} " + " ".join(f"{st['name'][:30]:>31}" for st in studies))
    for key, label, fmt in keys:
        print(f"{label:>22} " + " ".join(f"{format(st[key], fmt):>31}" for st in studies))
    for st in studies:
        print(f"{st['name']}: escape mass in K_c " + " ".join(f"{v:.3f}" for v in st["escape_mass"][::2])
              + f"; loss {st['escape_losses'][0]:.6g} -> {st['escape_losses'][-1]:.6g}")
    print(f"\ndiscretisation ({t_disc:.0f} s): sigmoid vector outputs, N(0, I) init, reference M = {disc['M']}, "
          f"Euler dt = 0.05")
    print(f"{'m':>5} " + " ".join(f"{'dL t=' + format(t, '.2g'):>10}" for t in disc["times"]) + " "
          + " ".join(f"{'W2 t=' + format(t, '.2g'):>10}" for t in disc["times"]) + f" {'max W2t/W20':>12}")
    for i, m in enumerate(disc["m"]):
        print(f"{m:>5} " + " ".join(f"{v:>10.2e}" for v in disc["loss_gap"][i]) + " "
              + " ".join(f"{v:>10.3f}" for v in disc["w2"][i]) + f" {disc['w2_ratio_max'][i]:>12.3f}")
    for st in studies:
        st.pop("_objects")
    return {"studies": studies, "discretisation": disc, "figures": figures}


if __name__ == "__main__":
    main()
