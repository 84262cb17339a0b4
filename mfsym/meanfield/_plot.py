"""Figures of the reduced potential for inner dimension <= 2 (matplotlib, Agg canvas, no pyplot state)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .._errors import MeasureError
from ..measure import Measure
from ..problem import Problem
from ._gap import Gap, inner_scale
from ._potential import ReducedPotential


def plot_landscape(prob: Problem, mu: Measure, *, sets: list | None = None, simulation: Any = None,
                   gap: Gap | None = None, radius: float | None = None, resolution: int = 160,
                   path: str | Path | None = None) -> Figure:
    r"""Draw $|G_\mu(\eta)|_F$ (output-linear, $\dim\eta \le 2$) or $J_\mu$ on the unit circle/sphere ($p \le 3$).

    Overlays: the level set $\{|G| = c\}$ (or $J = \mp c$) of each escaping set, the particles of
    $\mu_\infty$ (their $\eta$ or directions), the gap witness, and the light particles' escape
    trajectories from an :class:`EscapeSimulation`.

    Returns
    -------
    matplotlib.figure.Figure
        Also written to ``path`` when given.
    """
    if not isinstance(prob, Problem):
        raise MeasureError(f"prob: expected an mf.Problem, got {type(prob).__name__}")
    rp = ReducedPotential(prob, mu)
    fig = Figure(figsize=(6.4, 4.8))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    sets = list(sets or [])
    live = rp.mu.particles[rp.mu.masses != 0]
    if rp.kind == "output-linear":
        d = len(rp.structure.inner_cols)
        R = radius or 3.0 * inner_scale(rp)
        cols = rp.structure.inner_cols
        if d == 1:
            e = np.linspace(-R, R, 4 * resolution)[:, None]
            ax.plot(e[:, 0], rp.norm_G(e), "k-", label=r"$|G_\mu(\eta)|$")
            for s in sets:
                ax.axhline(s.level, color="C1", ls="--", label=f"level c = {s.level:.3g}")
            ax.plot(live[:, cols[0]], rp.norm_G(live[:, cols]), "o", color="C0", label=r"particles of $\mu_\infty$")
            ax.set_xlabel(r"$\eta$")
        elif d == 2:
            g1 = np.linspace(-R, R, resolution)
            E = np.stack(np.meshgrid(g1, g1, indexing="xy"), -1).reshape(-1, 2)
            Z = rp.norm_G(E).reshape(resolution, resolution)
            im = ax.imshow(Z, origin="lower", extent=(-R, R, -R, R), cmap="viridis", aspect="auto")
            fig.colorbar(im, ax=ax, label=r"$|G_\mu(\eta)|_F$")
            for s in sets:
                ax.contour(g1, g1, Z, levels=[s.level], colors="w", linestyles="--")
            ax.plot(live[:, cols[0]], live[:, cols[1]], "o", color="C1", mec="k", label=r"particles of $\mu_\infty$")
            if simulation is not None:
                T = simulation.light_trajectories[:, :, cols]
                for j in range(T.shape[1]):
                    ax.plot(T[:, j, 0], T[:, j, 1], "-", color="w", lw=0.6, alpha=0.6)
            if gap is not None and gap.eta is not None and np.max(np.abs(gap.eta)) <= R:
                ax.plot(*gap.eta, "r*", ms=12, label="gap witness")
            ax.set_xlim(-R, R)
            ax.set_ylim(-R, R)
            ax.set_xlabel(r"$\eta_1$")
            ax.set_ylabel(r"$\eta_2$")
        else:
            raise MeasureError(f"prob: plot_landscape draws inner dimension <= 2, this family's is {d}")
    elif rp.kind == "homogeneous":
        p = rp.family.p
        if p == 2:
            t = np.linspace(0, 2 * np.pi, 8 * resolution)
            U = np.stack([np.cos(t), np.sin(t)], 1)
            ax.plot(t, rp.J(U), "k-", label=r"$J_\mu(\cos t, \sin t)$")
            for s in sets:
                ax.axhline(s.sign * s.level, color="C1", ls="--", label=f"level {s.sign * s.level:.3g}")
            ang = np.mod(np.arctan2(live[:, 1], live[:, 0]), 2 * np.pi)
            ax.plot(ang, rp(live), "o", color="C0", label=r"directions of $\mu_\infty$")
            ax.set_xlabel("angle t")
        elif p == 3:
            ph = np.linspace(-np.pi, np.pi, 2 * resolution)
            th = np.linspace(0, np.pi, resolution)
            PH, TH = np.meshgrid(ph, th)
            U = np.stack([np.sin(TH) * np.cos(PH), np.sin(TH) * np.sin(PH), np.cos(TH)], -1).reshape(-1, 3)
            Z = rp.J(U).reshape(TH.shape)
            im = ax.imshow(Z, origin="lower", extent=(-np.pi, np.pi, 0, np.pi), cmap="viridis", aspect="auto")
            fig.colorbar(im, ax=ax, label=r"$J_\mu(\hat\theta)$")
            for s in sets:
                ax.contour(ph, th, Z, levels=[s.sign * s.level], colors="w", linestyles="--")
            u = live / np.linalg.norm(live, axis=1, keepdims=True)
            ax.plot(np.arctan2(u[:, 1], u[:, 0]), np.arccos(np.clip(u[:, 2], -1, 1)), "o", color="C1", mec="k")
            ax.set_xlabel("azimuth")
            ax.set_ylabel("polar angle")
        else:
            raise MeasureError(f"prob: plot_landscape draws the sphere for p <= 3, this family has p = {p}")
    else:
        raise MeasureError("prob: plot_landscape needs an output-linear or homogeneous family (general class given)")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", fontsize=8)
    ax.set_title(f"{rp.family.name}: {rp.kind} reduced potential")
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig
