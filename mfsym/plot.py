"""Figures (matplotlib, optional: ``pip install mfsym[plot]``); imported only when a plot is asked for.

Every function returns a ``matplotlib.figure.Figure`` drawn on its own Agg canvas (no pyplot state, so
nothing leaks between calls; a notebook shows the returned figure) and writes it to ``path`` when given.

- :func:`plot_trajectory` — loss and velocity norm against flow time, and the particles' paths;
- :func:`plot_escape` — light mass inside each escaping set, and its growing variable, over time;
- :func:`plot_first_variation` — $|G_\\mu|$ or $J_\\mu$ on a 2-D slice through the gap witness, for any
  inner dimension;
- :func:`plot_spectrum` — the particle-Hessian eigenvalues, symmetry directions marked;
- :func:`plot_landscape` — the reduced potential over the whole inner space (inner dimension <= 2).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ._errors import MeasureError, MfsymError
from ._validate import optional_import, positive_float, positive_int
from .measure import Measure
from .problem import Problem

__all__ = ["plot_trajectory", "plot_escape", "plot_first_variation", "plot_spectrum", "plot_landscape"]


# ---------------------------------------------------------------------------------------------- helpers
def _require() -> None:
    """Fail first, in one line, when matplotlib is missing (before any other check or computation)."""
    optional_import("matplotlib", "plot", "plots")


def _figure(rows: int = 1, cols: int = 1, size: tuple[float, float] = (6.4, 4.8)):
    """A Figure on its own Agg canvas, and its axes (a flat list)."""
    _require()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(rows, cols, k + 1) for k in range(rows * cols)]
    return fig, axes


def _grid_args(prob, mu, resolution, radius, path):
    """The validated arguments of a plot on a grid of the reduced potential, and that potential."""
    from .meanfield import ReducedPotential

    prob = _problem(prob)
    resolution = positive_int(resolution, "resolution", MfsymError, minimum=5)
    if radius is not None:
        radius = positive_float(radius, "radius", MfsymError)
    return prob, resolution, radius, _output_path(path), ReducedPotential(prob, mu)


def _output_path(path: Any) -> Path | None:
    """Check ``path`` before drawing: a string or Path whose directory exists (the figure is written last)."""
    if path is None:
        return None
    if not isinstance(path, (str, Path)):
        raise MfsymError(f"path: expected a file name (str or Path), got {type(path).__name__}")
    p = Path(path)
    if not p.parent.is_dir():
        raise MfsymError(f"path: the directory {str(p.parent)!r} of {str(p)!r} does not exist")
    return p


def _finish(fig, ax_legend, path: Path | None):
    for ax in ax_legend:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="best", fontsize=8)
    if path is not None:
        try:
            fig.savefig(path, dpi=110)
        except (OSError, ValueError) as exc:
            raise MfsymError(f"path: cannot write the figure to {str(path)!r} ({exc})") from None
    return fig


def _problem(prob: Any) -> Problem:
    if not isinstance(prob, Problem):
        raise MeasureError(f"prob: expected an mf.Problem, got {type(prob).__name__}")
    return prob


def _column_labels(family) -> list[str]:
    """Names of the parameter columns: ``a``, ``w[0]``, ``w[1]``, ... from the family's blocks."""
    labels = []
    for name, shape in family.blocks.items():
        size = int(np.prod(shape)) if shape else 1
        labels += [name] if size == 1 and not shape else [f"{name}[{i}]" for i in range(size)]
    return labels


# ---------------------------------------------------------------------------------------------- trajectory
def plot_trajectory(traj: Any, *, columns: tuple[int, int] | None = None, path: str | Path | None = None):
    r"""Loss and velocity norm of a :class:`~mfsym.dynamics.Trajectory` against flow time, and the particle paths.

    Parameters
    ----------
    traj : Trajectory
        The result of :func:`mfsym.flow`.
    columns : (int, int), optional
        The two parameter columns the paths are drawn in (default: the first two inner columns, else 0, 1);
        for $p = 1$ the single column is drawn against time.
    path : str or Path, optional
        Where to write the figure.

    Returns
    -------
    matplotlib.figure.Figure
        Left: $L(\mu_t)$ and $\max_j|\nabla J_{\mu_t}(\theta_j)|$ (log scale); right: the snapshots' paths
        (start o, end x; the marker size follows the mass).
    """
    _require()
    from .dynamics import Trajectory

    if not isinstance(traj, Trajectory):
        raise MfsymError(f"traj: expected an mf.flow Trajectory, got {type(traj).__name__}")
    path = _output_path(path)
    fam = traj.measure.family
    p = fam.p
    labels = _column_labels(fam)
    if columns is None:
        inner = _inner_columns(fam)
        columns = tuple(inner[:2]) if len(inner) >= 2 else (0, 1)
    if p >= 2:
        if (not isinstance(columns, (tuple, list)) or len(columns) != 2
                or not all(isinstance(c, (int, np.integer)) and not isinstance(c, bool) and 0 <= c < p for c in columns)
                or columns[0] == columns[1]):
            raise MfsymError(f"columns: expected two distinct column indices in [0, {p}), got {columns!r}")
    fig, (ax_l, ax_p) = _figure(1, 2, (10.5, 4.2))
    fig.get_layout_engine().set(wspace=0.08)
    t = np.asarray(traj.times)
    losses = np.asarray(traj.losses, dtype=float)
    ax_l.plot(t, losses, "C0-", label=r"loss $L(\mu_t)$")
    if np.all(losses > 0):
        ax_l.set_yscale("log")
    ax_l.set_xlabel("flow time t")
    ax_l.set_ylabel("loss", color="C0")
    ax_v = ax_l.twinx()
    v = np.asarray(traj.velocity_norms, dtype=float)
    ax_v.semilogy(t, np.where(v > 0, v, np.nan), "C3--", label=r"$\max_j |\nabla J_{\mu_t}(\theta_j)|$")
    ax_v.set_ylabel("velocity norm", color="C3")
    ax_l.set_title(f"flow: {len(t) - 1} steps, stopped: {traj.stopped}")
    S = np.asarray(traj.snapshots)
    masses = np.abs(traj.measure.masses)
    size = 4 + 30 * masses / masses.max() if masses.max() > 0 else np.full(len(masses), 8.0)
    if p == 1:
        ts = traj.snapshot_times
        for j in range(S.shape[1]):
            ax_p.plot(ts, S[:, j, 0], "-", lw=0.8, color=f"C{j % 10}")
        ax_p.set_xlabel("flow time t")
        ax_p.set_ylabel(labels[0])
    else:
        c0, c1 = int(columns[0]), int(columns[1])
        for j in range(S.shape[1]):
            col = f"C{j % 10}"
            ax_p.plot(S[:, j, c0], S[:, j, c1], "-", lw=0.8, color=col, alpha=0.8)
            ax_p.plot(S[0, j, c0], S[0, j, c1], "o", ms=np.sqrt(size[j]), mfc="none", color=col)
            ax_p.plot(S[-1, j, c0], S[-1, j, c1], "x", ms=np.sqrt(size[j]) + 2, color=col)
        ax_p.set_xlabel(labels[c0])
        ax_p.set_ylabel(labels[c1])
    ax_p.set_title(f"{S.shape[1]} particles, {S.shape[0]} snapshots (o start, x end)")
    lines = ax_l.get_legend_handles_labels()
    lines2 = ax_v.get_legend_handles_labels()
    ax_l.legend(lines[0] + lines2[0], lines[1] + lines2[1], loc="upper right", fontsize=8)
    return _finish(fig, [], path)


def _inner_columns(family) -> list[int]:
    from .families import OutputLinear

    if isinstance(family, OutputLinear):
        sl = family.block_slice(family.outer)
        return [c for c in range(family.p) if not (sl.start <= c < sl.stop)]
    return list(range(family.p))


# ---------------------------------------------------------------------------------------------- escape
def plot_escape(sim: Any, *, path: str | Path | None = None):
    r"""Light mass inside each escaping set, and the mean growing variable there, against flow time.

    Parameters
    ----------
    sim : EscapeSimulation
        The result of :func:`mfsym.meanfield.simulate_escape`.
    path : str or Path, optional

    Returns
    -------
    matplotlib.figure.Figure
        Left: fraction of the light mass in $K_c$; right: mean $|A|_F$ or $|\theta|$ of the light particles
        inside, with the line of the set's predicted growth rate (log scale for exponential growth).
    """
    _require()
    from .meanfield import EscapeSimulation

    if not isinstance(sim, EscapeSimulation):
        raise MfsymError(f"sim: expected an mf.meanfield.simulate_escape result, got {type(sim).__name__}")
    path = _output_path(path)
    fig, (ax_m, ax_n) = _figure(1, 2, (10.0, 4.2))
    t = np.asarray(sim.times)
    if sim.mass_in_set.shape[0] == 0:
        ax_m.text(0.5, 0.5, "no escaping set", ha="center", va="center", transform=ax_m.transAxes)
    for k in range(sim.mass_in_set.shape[0]):
        level = sim.sets[k].level if k < len(sim.sets) else float("nan")
        ax_m.plot(t, sim.mass_in_set[k], f"C{k}-", label=f"set {k} (c = {level:.3g})")
        nv = sim.norm_in_set[k]
        ax_n.plot(t, nv, f"C{k}-", label=f"set {k}: measured rate {sim.measured_rate[k]:.3g}")
        ok = np.isfinite(nv)
        if ok.any():  # the predicted growth from the last half's first point
            half = np.flatnonzero(ok)[len(np.flatnonzero(ok)) // 2]
            rate = sim.predicted_rate[k]
            ts = t[half:]
            pred = (nv[half] * np.exp(rate * (ts - t[half])) if sim.growth[k] == "exponential"
                    else nv[half] + rate * (ts - t[half]))
            ax_n.plot(ts, pred, f"C{k}:", label=f"predicted lower bound, rate {rate:.3g}")
        if sim.growth[k] == "exponential":
            ax_n.set_yscale("log")
    ax_m.set_ylim(-0.02, 1.02)
    ax_m.set_xlabel("flow time t")
    ax_m.set_ylabel("fraction of the light mass in the set")
    ax_m.set_title("escaping mass")
    ax_n.set_xlabel("flow time t")
    ax_n.set_ylabel("mean growing variable inside")
    ax_n.set_title("growth inside the set")
    return _finish(fig, [ax_m, ax_n], path)


# ---------------------------------------------------------------------------------------------- first variation
def plot_first_variation(prob: Problem, mu: Measure, *, gap: Any = None, directions: Any = None,
                         radius: float | None = None, resolution: int = 81, seed: int = 0,
                         path: str | Path | None = None):
    r"""The reduced potential on the 2-D slice $\hat\eta + s\,u + t\,v$ through the gap witness, any inner dimension.

    Output-linear families: $|G_\mu(\eta)|_F$ over the inner variable $\eta$ (the witness's $\hat\eta$ is the
    argmax); homogeneous: $J_\mu$ on the unit sphere at $(\hat\theta + s u + t v)/|\cdot|$; general: $J_\mu$.

    Parameters
    ----------
    prob, mu
        The problem and the measure.
    gap : Gap, optional
        A :func:`mfsym.meanfield.gap` result (default: computed with ``seed``); its witness is the centre.
    directions : (2, d) array, optional
        The slice's two directions in the plotted space (orthonormalised); default: toward the nearest
        particle of $\mu$ and a second, orthogonal, coordinate direction.
    radius : float, optional
        Half-width of the slice (default: twice the witness-particle distance, at least the inner scale).
    resolution : int
        Grid points per side.
    seed : int
        Seed of the gap search when ``gap`` is not given.
    path : str or Path, optional

    Returns
    -------
    matplotlib.figure.Figure
        The slice (a curve when the plotted space is 1-D), the witness (red star) and the particles
        projected on the plane (their distance to the plane is not drawn).
    """
    _require()
    from .meanfield._gap import Gap, inner_scale
    from .meanfield._gap import gap as gap_search

    prob, resolution, radius, path, rp = _grid_args(prob, mu, resolution, radius, path)
    g = gap_search(prob, mu, seed=seed) if gap is None else gap
    if not isinstance(g, Gap):
        raise MfsymError(f"gap: expected an mf.meanfield.gap result, got {type(g).__name__}")
    if g.witness is None:
        raise MfsymError("gap: the gap search returned no witness to slice through")
    live = rp.mu.particles[rp.mu.masses != 0]
    if rp.kind == "output-linear":
        cols = list(rp.structure.inner_cols)
        centre = np.asarray(g.witness, dtype=float)[cols]
        pts = live[:, cols]
        scale = inner_scale(rp)
        label, what = r"$|G_\mu(\eta)|_F$", r"\eta"
        def values(Q):  # noqa: E306
            return rp.norm_G(Q)
    else:
        centre = np.asarray(g.witness, dtype=float)
        pts = live
        if rp.kind == "homogeneous":
            centre = centre / np.linalg.norm(centre)
            pts = pts / np.linalg.norm(pts, axis=1, keepdims=True)
            scale, label = 1.0, r"$J_\mu(\theta/|\theta|)$"
        else:
            scale, label = max(1.0, float(np.max(np.abs(live)))) if live.size else 1.0, r"$J_\mu(\theta)$"
        what = r"\theta"
        def values(Q):  # noqa: E306
            if rp.kind == "homogeneous":
                Q = Q / np.linalg.norm(Q, axis=1, keepdims=True)
            return rp.J(Q)
    d = centre.size
    U = _slice_directions(centre, pts, d, directions)
    if radius is None:  # the nearest particle inside the picture
        dist = np.linalg.norm(pts - centre, axis=1).min() if len(pts) else scale
        radius = float(max(1.25 * dist, scale)) if rp.kind != "homogeneous" else float(np.clip(1.25 * dist, 0.5, 2.0))
    fig, (ax,) = _figure()
    s = np.linspace(-radius, radius, resolution if U.shape[0] == 2 else 8 * resolution)
    coords = (pts - centre) @ U.T if len(pts) else np.zeros((0, U.shape[0]))
    if U.shape[0] == 1:
        Q = centre + s[:, None] * U[0]
        ax.plot(s, values(Q), "k-", label=label)
        ax.plot([0.0], values(centre[None]), "r*", ms=12, label="gap witness")
        ax.set_xlabel(f"s along the slice through ${what}$")
    else:
        S_, T_ = np.meshgrid(s, s, indexing="xy")
        Q = centre + S_.reshape(-1, 1) * U[0] + T_.reshape(-1, 1) * U[1]
        with np.errstate(invalid="ignore", divide="ignore"):
            Z = values(Q).reshape(S_.shape)
        im = ax.imshow(Z, origin="lower", extent=(-radius, radius, -radius, radius), cmap="viridis",
                       aspect="auto")
        fig.colorbar(im, ax=ax, label=label)
        if np.isfinite(Z).any() and np.nanmax(Z) > np.nanmin(Z):
            ax.contour(s, s, Z, levels=8, colors="w", linewidths=0.5, alpha=0.6)
        near = np.all(np.abs(coords) <= radius, axis=1)
        if near.any():
            ax.plot(coords[near, 0], coords[near, 1], "o", color="C1", mec="k", ms=5,
                    label=r"particles of $\mu$ (projected)")
        far = ", far along a direction at infinity" if g.at_infinity else ""
        ax.plot([0.0], [0.0], "r*", ms=14, label=f"gap witness (gap {g.value:.3g}{far})")
        ax.set_xlim(-radius, radius)
        ax.set_ylim(-radius, radius)
        ax.set_xlabel("s (direction u)" if directions is not None else "s (u: toward the nearest particle)")
        ax.set_ylabel("t (direction v)" if directions is not None else "t (v: a coordinate axis, orthogonalised)")
    ax.set_title(f"{rp.family.name}: {rp.kind}, slice of ${what}\\in\\mathbb{{R}}^{{{d}}}$ through the witness",
                 fontsize=10)
    return _finish(fig, [ax], path)


def _slice_directions(centre: np.ndarray, pts: np.ndarray, d: int, directions: Any) -> np.ndarray:
    """Orthonormal ``(min(d, 2), d)`` slice directions: given, or toward the nearest particle + a coordinate."""
    if d == 1:
        return np.ones((1, 1))
    if directions is not None:
        from ._validate import as_float_array

        D = as_float_array(directions, "directions", MfsymError, ndim=2)
        if D.shape != (2, d):
            raise MfsymError(f"directions: expected shape (2, {d}) (two directions of the plotted space), got {D.shape}")
    else:
        first = None
        if len(pts):
            diff = pts - centre
            k = int(np.argmin(np.linalg.norm(diff, axis=1)))
            if np.linalg.norm(diff[k]) > 1e-9 * max(1.0, np.linalg.norm(centre)):
                first = diff[k]
        if first is None:
            first = np.eye(d)[0]
        first = first / np.linalg.norm(first)
        second = np.eye(d)[int(np.argmin(np.abs(first)))]
        D = np.stack([first, second])
    Qm, R = np.linalg.qr(D.T)
    if abs(R[1, 1]) < 1e-12 * max(1.0, abs(R[0, 0])):
        raise MfsymError("directions: expected two linearly independent directions")
    return Qm.T * np.sign(np.diag(R))[:, None]


# ---------------------------------------------------------------------------------------------- spectrum
def plot_spectrum(spec: Any, prob: Problem | None = None, mu: Measure | None = None, *,
                  path: str | Path | None = None):
    r"""The particle-Hessian eigenvalues with the symmetry directions marked.

    Parameters
    ----------
    spec : Spectrum or Report
        From :func:`mfsym.stability.spectrum` (or a :func:`mfsym.check` report, its finite-width spectrum).
    prob, mu : optional
        With them and $m p \le 3000$ the whole spectrum of $H$ is drawn, each eigenvalue coloured by the
        fraction of its eigenvector inside the symmetry span $S$; without them, the bottom eigenvalues on
        $S^\perp$ and $\dim S$ symmetry directions at 0.
    path : str or Path, optional

    Returns
    -------
    matplotlib.figure.Figure
        Eigenvalues against their index (symlog scale); $\lambda_{\min}$ and $\lambda_{\max}$ on $S^\perp$ as lines.
    """
    _require()
    from .stability import Report, Spectrum

    if isinstance(spec, Report):
        if spec.finite_width is None:
            raise MfsymError("spec: this report has no finite-width spectrum (the point was not stationary)")
        prob = spec.problem if prob is None else prob
        spec = spec.finite_width.spectrum
    if not isinstance(spec, Spectrum):
        raise MfsymError(f"spec: expected an mf.stability.spectrum result or an mf.check report, "
                         f"got {type(spec).__name__}")
    path = _output_path(path)
    B = spec.symmetries.basis
    fig, (ax,) = _figure(size=(7.0, 4.4))
    full = prob is not None and mu is not None
    if full:
        prob = _problem(prob)
        mu = prob._measure(mu)
        N = mu.particles.size
        if N > 3000:
            raise MfsymError(f"mu: the full spectrum needs the dense Hessian, m p = {N} > 3000; "
                             "call plot_spectrum(spec) without prob, mu")
        if B.shape[0] != N:
            raise MfsymError(f"mu: the spectrum is of a point with m p = {B.shape[0]}, this measure has {N}")
        lam, V = np.linalg.eigh(prob.particle_hessian(mu))
        inside = np.sum((B.T @ V) ** 2, axis=0) if B.size else np.zeros(len(lam))
        sc = ax.scatter(np.arange(len(lam)), lam, c=inside, cmap="coolwarm", vmin=0, vmax=1, s=18,
                        edgecolors="k", linewidths=0.3)
        fig.colorbar(sc, ax=ax, label="fraction of the eigenvector in the symmetry span S")
    else:
        k = len(spec.eigenvalues)
        s_dim = spec.symmetries.dim
        ax.plot(np.arange(s_dim), np.zeros(s_dim), "o", color="C3", label=f"{s_dim} symmetry direction(s) (0)")
        ax.plot(s_dim + np.arange(k), spec.eigenvalues, "o", color="C0", label=r"bottom eigenvalues on $S^\perp$")
    ax.axhline(spec.lambda_min, color="C0", ls="--", lw=0.8, label=rf"$\lambda_{{\min}}$ on $S^\perp$ = {spec.lambda_min:.3g}")
    ax.axhline(spec.lambda_max, color="C2", ls=":", lw=0.8, label=rf"$\lambda_{{\max}}$ = {spec.lambda_max:.3g}")
    ax.axhline(0.0, color="k", lw=0.5)
    top = max(abs(spec.lambda_min), abs(spec.lambda_max), 1e-300)
    ax.set_yscale("symlog", linthresh=max(1e-3 * top, abs(spec.lambda_min) / 2, 1e-12))
    ax.set_xlabel("index (ascending)")
    ax.set_ylabel("eigenvalue of the particle Hessian")
    kinds = ", ".join(f"{c} {k}" for k, _, c in spec.symmetries.kinds) or "none"
    ax.set_title(f"{spec.classification} ({spec.method}); symmetries: {kinds}", fontsize=9)
    return _finish(fig, [ax], path)


# ---------------------------------------------------------------------------------------------- landscape
def plot_landscape(prob: Problem, mu: Measure, *, sets: list | None = None, simulation: Any = None,
                   gap: Any = None, radius: float | None = None, resolution: int = 160,
                   path: str | Path | None = None):
    r"""Draw $|G_\mu(\eta)|_F$ (output-linear, $\dim\eta \le 2$) or $J_\mu$ on the unit circle/sphere ($p \le 3$).

    Overlays: the level set $\{|G| = c\}$ (or $J = \mp c$) of each escaping set, the particles of
    $\mu_\infty$ (their $\eta$ or directions), the gap witness, and the light particles' escape
    trajectories from an :class:`EscapeSimulation`. For larger inner dimensions use
    :func:`plot_first_variation` (a slice through the witness).

    Returns
    -------
    matplotlib.figure.Figure
        Also written to ``path`` when given.
    """
    _require()
    from .meanfield._gap import inner_scale

    prob, resolution, radius, path, rp = _grid_args(prob, mu, resolution, radius, path)
    sets = list(sets or [])
    if rp.kind == "output-linear" and len(rp.structure.inner_cols) > 2:
        raise MeasureError(f"prob: plot_landscape draws inner dimension <= 2, this family's is "
                           f"{len(rp.structure.inner_cols)}; use mfsym.plot.plot_first_variation for a slice")
    if rp.kind == "homogeneous" and rp.family.p not in (2, 3):
        raise MeasureError(f"prob: plot_landscape draws the sphere for p = 2 or 3, this family has p = {rp.family.p}; "
                           "use mfsym.plot.plot_first_variation for a slice")
    if rp.kind == "general":
        raise MeasureError("prob: plot_landscape needs an output-linear or homogeneous family (general class given); "
                           "use mfsym.plot.plot_first_variation")
    fig, (ax,) = _figure()
    live = rp.mu.particles[rp.mu.masses != 0]
    if rp.kind == "output-linear":
        cols = rp.structure.inner_cols
        R = radius or 3.0 * inner_scale(rp)
        if len(cols) == 1:
            e = np.linspace(-R, R, 4 * resolution)[:, None]
            ax.plot(e[:, 0], rp.norm_G(e), "k-", label=r"$|G_\mu(\eta)|$")
            for s in sets:
                ax.axhline(s.level, color="C1", ls="--", label=f"level c = {s.level:.3g}")
            ax.plot(live[:, cols[0]], rp.norm_G(live[:, cols]), "o", color="C0", label=r"particles of $\mu_\infty$")
            ax.set_xlabel(r"$\eta$")
        else:
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
        else:
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
    ax.set_title(f"{rp.family.name}: {rp.kind} reduced potential")
    return _finish(fig, [ax], path)
