"""Homogeneity classes and reduced potentials (docs/mathematics.md, global optimality).

* output-linear: $J_\\mu(A, \\eta) = \\langle A, G_\\mu(\\eta)\\rangle_F$ with
  $G_\\mu(\\eta) = \\frac1n\\sum_i r_i \\psi(\\eta; x_i)^\\top \\in \\mathbb{R}^{k\\times q}$;
* q-homogeneous: $J_\\mu$ restricted to the unit sphere $|\\theta| = 1$;
* general: $J_\\mu$ itself.

$G$ is computed from the first variation alone, $G_{cj}(\\eta) = J_\\mu(E_{cj}, \\eta)$ with unit
matrices $E_{cj}$, so every data backend (samples or Gaussian populations) is supported.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp

from .._errors import MeasureError
from .._types import FloatArray
from .._validate import as_float_array
from ..families import BoundedFeature, Homogeneous, OutputLinear
from ..measure import Measure
from ..problem import Problem

KINDS = ("output-linear", "homogeneous", "general")


@dataclass(frozen=True)
class Structure:
    """The homogeneity class of a problem (docs/mathematics.md, global optimality) and the column layout it needs.

    ``outer_cols`` / ``inner_cols`` index the packed parameter (output-linear only); $G$ has shape
    ``(k, q)``; ``degree`` is $q$ for homogeneous families; ``note`` says why a class was downgraded;
    ``reason`` why the class holds (the proof of homogeneity or of the feature's bound, or the note).
    """

    kind: str
    degree: int | None = None
    outer_cols: np.ndarray | None = None
    inner_cols: np.ndarray | None = None
    k: int = 1
    q: int = 1
    note: str = ""
    reason: str = ""

    @property
    def inner_dim(self) -> int:
        """Dimension of the space the reduced potential lives on ($\\eta$, or the sphere's ambient $\\theta$)."""
        return len(self.inner_cols) if self.kind == "output-linear" else -1


def structure(prob: Problem) -> Structure:
    """Detect the class of ``prob`` from its family's capability types (homogeneous takes precedence).

    The output-linear class needs :class:`~mfsym.families.BoundedFeature` (a proved bound on $\\psi$):
    an output-linear neuron whose feature grows without bound, or whose bound is not proved, and that
    has no homogeneity degree, is in the general class, which never gets a global claim.

    With weight decay $\\lambda > 0$ the potential is $J + \\frac\\lambda2|\\theta|^2$: it stays
    2-homogeneous for degree-2 families; every other family is then treated as general.
    """
    fam = prob.family
    if isinstance(fam, Homogeneous):
        if prob.reg == 0 or fam.degree == 2:
            return Structure("homogeneous", degree=int(fam.degree),
                             reason=f"phi(t theta) = t^{fam.degree} phi(theta) for t > 0 (proved symbolically)")
        note = f"weight decay {prob.reg} breaks {fam.degree}-homogeneity"
    elif isinstance(fam, OutputLinear) and not isinstance(fam, BoundedFeature):
        note = ("the output-linear theory needs a bounded feature psi, and "
                + (getattr(fam, "bound_reason", "") or "no bound was proved for this neuron's psi")
                + ": general class (no global claim)")
    elif isinstance(fam, OutputLinear):
        if prob.reg == 0:
            sl = fam.block_slice(fam.outer)
            outer = np.arange(sl.start, sl.stop)
            inner = np.array([i for i in range(fam.p) if not (sl.start <= i < sl.stop)], dtype=int)
            k = fam.out_dim
            return Structure("output-linear", outer_cols=outer, inner_cols=inner, k=k, q=len(outer) // k,
                             reason=f"linear in {fam.outer}; bounded feature: {getattr(fam, 'bound_reason', '')}")
        note = f"weight decay {prob.reg} breaks output-linearity"
    else:
        note = "the family is neither output-linear nor homogeneous"
    return Structure("general", note=note, reason=note)


def cone_sign(mu: Measure) -> int:
    """Sign rule of docs/mathematics.md, global optimality for homogeneous families: -1 (positive masses: minimise $J$),
    +1 (negative masses: maximise $J$), 0 (both signs: $|J|$ must vanish)."""
    live = mu.masses[mu.masses != 0]
    if live.size == 0 or np.all(live > 0):
        return -1
    if np.all(live < 0):
        return 1
    return 0


class ReducedPotential:
    """The reduced potential of $\\mu$: $G_\\mu(\\eta)$ (output-linear), $J_\\mu|_{S^{p-1}}$ (homogeneous) or $J_\\mu$.

    Call it on points ``(Q, d)`` ($d$ = inner dimension for output-linear, $p$ otherwise):
    output-linear returns $G$ ``(Q, k, q)``; homogeneous returns $J(\\theta/|\\theta|)$ ``(Q,)``;
    general returns $J$ ``(Q,)``.
    """

    def __init__(self, prob: Problem, mu: Measure):
        if not isinstance(prob, Problem):
            raise MeasureError(f"prob: expected an mf.Problem, got {type(prob).__name__}")
        self.prob, self.mu = prob, prob._measure(mu)
        self.structure = structure(prob)
        self.kind = self.structure.kind
        self.family = prob.family

    def _repr_html_(self) -> str:
        from .._display import potential_html

        return potential_html(self)

    def __repr__(self) -> str:
        return f"ReducedPotential({self.family.name}, {self.kind}, on points of dimension {self.dim}, m={self.mu.m})"

    # ------------------------------------------------------------------ helpers
    @property
    def dim(self) -> int:
        """Dimension of the points the potential is evaluated at."""
        s = self.structure
        return len(s.inner_cols) if s.kind == "output-linear" else self.family.p

    def _points(self, pts, name="points") -> FloatArray:
        arr = as_float_array(pts, name, MeasureError)
        if arr.ndim == 1:
            arr = arr[None]
        if arr.ndim != 2 or arr.shape[1] != self.dim:
            raise MeasureError(f"{name}: expected shape (Q, {self.dim}) for the {self.kind} reduced potential of "
                               f"{self.family.name}, got {arr.shape}")
        return arr

    def theta(self, U: FloatArray, etas: FloatArray) -> FloatArray:
        """Full parameters with outer block ``U`` ``(Q, k*q)`` and inner block ``etas`` ``(Q, d)``."""
        s = self.structure
        T = np.zeros((etas.shape[0], self.family.p))
        T[:, s.outer_cols] = U
        T[:, s.inner_cols] = etas
        return T

    def split(self, thetas: FloatArray) -> tuple[FloatArray, FloatArray]:
        """``(U, eta)`` columns of full parameters (output-linear)."""
        s = self.structure
        return thetas[:, s.outer_cols], thetas[:, s.inner_cols]

    # ------------------------------------------------------------------ evaluation
    def G(self, etas: FloatArray) -> FloatArray:
        """$G_\\mu(\\eta_Q)$ ``(Q, k, q)`` from $G_{cj} = J_\\mu(E_{cj}, \\eta)$."""
        s = self.structure
        Q, kq = etas.shape[0], s.k * s.q
        E = np.eye(kq)
        T = self.theta(np.repeat(E[None], Q, axis=0).reshape(Q * kq, kq), np.repeat(etas, kq, axis=0))
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            J = self.prob.first_variation(self.mu, T) if np.all(np.isfinite(T)) else np.full(len(T), np.nan)
        return J.reshape(Q, s.k, s.q)

    def norm_G(self, etas: FloatArray) -> FloatArray:
        """$|G_\\mu(\\eta)|_F$ ``(Q,)``."""
        return np.linalg.norm(self.G(etas).reshape(etas.shape[0], -1), axis=1)

    def grad_norm_G(self, etas: FloatArray) -> tuple[FloatArray, FloatArray]:
        """$(|G|, \\nabla_\\eta |G|)$: uses $\\nabla_\\eta |G| = \\nabla_\\eta J(\\hat G, \\eta)$, $\\hat G = G/|G|$."""
        Gv = self.G(etas).reshape(etas.shape[0], -1)
        nrm = np.linalg.norm(Gv, axis=1)
        U = Gv / np.where(nrm > 0, nrm, 1.0)[:, None]
        grad = self.prob.grad_potential(self.mu, self.theta(U, etas))[:, self.structure.inner_cols]
        return nrm, grad

    def J(self, thetas: FloatArray) -> FloatArray:
        """$J_\\mu(\\theta)$ ``(Q,)``."""
        return self.prob.first_variation(self.mu, thetas)

    def sphere(self, thetas: FloatArray) -> tuple[FloatArray, FloatArray]:
        """$J(\\hat\\theta)$ and its Riemannian gradient $(I - \\hat\\theta\\hat\\theta^\\top)\\nabla J(\\hat\\theta)$ at $\\hat\\theta = \\theta/|\\theta|$."""
        u = thetas / np.linalg.norm(thetas, axis=1, keepdims=True)
        J, g, _ = self.prob._potential(self.mu, u, 1)
        rg = g - np.sum(g * u, axis=1, keepdims=True) * u
        return J, rg

    def __call__(self, points) -> FloatArray:
        pts = self._points(points)
        if self.kind == "output-linear":
            return self.G(pts)
        if self.kind == "homogeneous":
            nrm = np.linalg.norm(pts, axis=1)
            if np.any(nrm == 0):
                raise MeasureError("points: the sphere potential needs nonzero points (they are normalised)")
            return self.J(pts / nrm[:, None])
        return self.J(pts)

    # ------------------------------------------------------------------ LaTeX
    def latex(self) -> str:
        """The reduced potential in LaTeX, with the neuron written out at this family's sizes."""
        fam, s = self.family, self.structure
        cw = fam.componentwise()
        loss = r"r_i = \partial_f \ell(f_\mu(x_i), y_i)"
        avg = r"\frac{1}{n}\sum_{i=1}^{n}" if not _is_population(self.prob) else r"\mathbb{E}_{x}"
        if s.kind == "output-linear":
            subs = {}
            outer = cw.params[fam.outer]
            syms = list(outer) if isinstance(outer, sp.MatrixBase) else [outer]
            for idx, sym in enumerate(syms):
                subs[sym] = 1 if idx == 0 else 0
            psi = sp.simplify(cw.expr[0].subs(subs)) if s.q == 1 else None
            if s.q == 1:
                psi_tex = sp.latex(psi)
            else:
                cols = []
                for j in range(s.q):
                    sub_j = {sym: (1 if idx == j else 0) for idx, sym in enumerate(syms)}
                    cols.append(sp.simplify(cw.expr[0].subs(sub_j)))
                psi_tex = sp.latex(sp.Matrix(cols))
            return (rf"G_\mu(\eta) = {avg} r_i\, \psi(\eta; x_i)^\top \in \mathbb{{R}}^{{{s.k}\times {s.q}}},"
                    rf"\quad \psi(\eta; x) = {psi_tex},\quad {loss},"
                    rf"\quad J_\mu(A, \eta) = \langle A, G_\mu(\eta)\rangle_F")
        phi_tex = sp.latex(cw.expr if fam.out_dim > 1 else cw.expr[0])
        reg = rf" + \frac{{{sp.latex(sp.nsimplify(self.prob.reg))}}}{{2}}|\theta|^2" if self.prob.reg else ""
        body = rf"J_\mu(\theta) = {avg} \langle r_i, \varphi(\theta; x_i)\rangle{reg},\quad \varphi(\theta; x) = {phi_tex},\quad {loss}"
        if s.kind == "homogeneous":
            return body + rf",\quad \hat J_\mu = J_\mu|_{{|\theta| = 1}}\ (\varphi(t\theta) = t^{{{s.degree}}}\varphi(\theta))"
        return body


def _is_population(prob: Problem) -> bool:
    from ..data import Samples

    return not isinstance(prob.data, Samples)


def reduced_potential(prob: Problem, mu: Measure) -> ReducedPotential:
    r"""The reduced potential of docs/mathematics.md, global optimality: $G_\mu(\eta)$, $J_\mu$ on the unit sphere, or $J_\mu$.

    Parameters
    ----------
    prob : Problem
    mu : Measure

    Returns
    -------
    ReducedPotential
        Callable on points ``(Q, d)``; ``.latex()`` gives the formula; ``.kind`` the class.

    References
    ----------
    Chizat & Bach 2018 (arXiv 1805.09545), §3 (homogeneous case);
    Petit, Poon & Peyré 2026 (arXiv 2605.10775) (output-linear case, $G_\mu$).
    """
    return ReducedPotential(prob, mu)
