"""Spectra of the particle Hessian and its symmetry directions (docs/mathematics.md "Hessians", docs/stability.md).

The particle objective is $F(\\theta_1..\\theta_m) = L(\\sum_j c_j\\delta_{\\theta_j})$ with the masses
held fixed; its Hessian is
$\\partial^2 F/\\partial\\theta_j\\partial\\theta_l = \\delta_{jl} c_j \\nabla^2 J_\\mu(\\theta_j)
+ c_j c_l M(\\theta_j, \\theta_l)$. $F$ is constant along exact symmetry directions, which make the
Hessian singular at every critical point and must be factored out before a minimum can be called
strict:

* **zero mass**: a particle with $c_j = 0$ does not enter $F$ (all its $p$ coordinates);
* **rescaling**: for an output-linear family with $\\psi$ homogeneous of degree $q - 1 \\ge 1$
  (relu with trained outputs), $\\varphi(tA, t^{-1/(q-1)}\\eta) = \\varphi(A, \\eta)$, generator
  $(A_j, -\\eta_j/(q-1))$ at each particle;
* **identical particles**: output-linear particles sharing $\\eta$ can redistribute their outputs
  ($\\sum_j c_j\\,dA_j = 0$ leaves $f_\\mu$ unchanged); homogeneous particles sharing $\\theta$ can
  exchange mass along the ray ($\\theta_j \\to s_j\\theta$, $\\sum_j c_j\\,ds_j = 0$).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.linalg as sla
import scipy.sparse.linalg as spla

from .._errors import MeasureError
from .._types import FloatArray
from ..families import Homogeneous, OutputLinear
from ..measure import Measure

DENSE_LIMIT = 3000


@dataclass(frozen=True)
class Symmetries:
    """Symmetry directions of $F$ at a point: an orthonormal ``basis`` ``(N, s)`` and what spans it.

    ``kinds`` lists ``(kind, particles, count)`` with kind in {"zero-mass", "rescaling",
    "identical-particles"}.
    """

    basis: FloatArray
    kinds: tuple[tuple[str, tuple[int, ...], int], ...]
    group_action: bool  # True when every direction comes from an exact group action (no identical particles)

    @property
    def dim(self) -> int:
        """Dimension $s$ of the span."""
        return int(self.basis.shape[1])

    def to_dict(self) -> dict:
        """JSON-able summary (without the basis)."""
        return {"dim": self.dim, "group_action": self.group_action,
                "kinds": [{"kind": k, "particles": list(p), "count": c} for k, p, c in self.kinds]}


@dataclass(frozen=True)
class Spectrum:
    """Bottom and top of the particle Hessian spectrum, on the complement of the symmetry directions.

    Attributes
    ----------
    eigenvalues : (k,) array
        Smallest eigenvalues of $H$ restricted to the complement $S^\\perp$ (ascending).
    eigenvectors : (N, k) array
        Matching unit eigenvectors (in $S^\\perp$), $N = m p$.
    lambda_min, lambda_max : float
        Extreme eigenvalues of $H$ on $S^\\perp$.
    lambda_min_full : float
        Smallest eigenvalue of $H$ on the whole space (0 at a critical point with symmetries).
    symmetries : Symmetries
    method : str
        "dense (eigh)" or "lanczos (eigsh on Hessian-vector products)".
    classification : str
        Numeric: "strict-local-min", "strict-saddle" or "degenerate" (``tol`` relative to $|\\lambda|_{max}$).
    """

    eigenvalues: FloatArray
    eigenvectors: FloatArray
    lambda_min: float
    lambda_max: float
    lambda_min_full: float
    symmetries: Symmetries
    method: str
    classification: str
    tol: float = field(default=1e-8)

    def to_dict(self) -> dict:
        """JSON-able summary."""
        return {"lambda_min": self.lambda_min, "lambda_max": self.lambda_max,
                "lambda_min_full": self.lambda_min_full, "bottom": [float(v) for v in self.eigenvalues],
                "symmetry_dim": self.symmetries.dim, "symmetries": self.symmetries.to_dict(),
                "method": self.method, "classification": self.classification, "tol": self.tol}


def _embed(m: int, p: int, j: int, vec: FloatArray) -> FloatArray:
    out = np.zeros(m * p)
    out[j * p:(j + 1) * p] = vec
    return out


def _groups(points: FloatArray, idx: np.ndarray, rtol: float = 1e-9) -> list[list[int]]:
    """Groups (size >= 2) of indices whose points coincide up to ``rtol``."""
    if idx.size < 2:
        return []
    pts = points[idx]
    scale = np.maximum(1.0, np.linalg.norm(pts, axis=1))
    order = np.lexsort(pts.T[::-1])
    groups, used = [], set()
    for a_pos, a in enumerate(order):
        if a in used:
            continue
        grp = [a]
        for b in order[a_pos + 1:]:
            if b in used:
                continue
            if np.linalg.norm(pts[a] - pts[b]) <= rtol * max(scale[a], scale[b]):
                grp.append(b)
        if len(grp) > 1:
            used.update(grp)
            groups.append(sorted(int(idx[g]) for g in grp))
    return groups


def symmetries(prob, mu: Measure, rtol: float = 1e-9) -> Symmetries:
    """The exact symmetry directions of the particle objective at ``mu`` (see the module docstring)."""
    fam = prob.family
    m, p = mu.particles.shape
    P, c = mu.particles, mu.masses
    cols: list[FloatArray] = []
    kinds: list[tuple[str, tuple[int, ...], int]] = []
    dead = np.flatnonzero(c == 0)
    for j in dead:
        for a in range(p):
            cols.append(_embed(m, p, int(j), np.eye(p)[a]))
    if dead.size:
        kinds.append(("zero-mass", tuple(int(j) for j in dead), int(dead.size) * p))
    live = np.flatnonzero(c != 0)
    group_action = True
    if isinstance(fam, OutputLinear) and isinstance(fam, Homogeneous) and fam.degree >= 2 and not prob.reg:
        outer = fam.block_slice(fam.outer)
        Xr = fam.random_inputs(12, seed=12345)
        count = []
        for j in live:
            u = -P[j] / (fam.degree - 1)
            u[outer] = P[j, outer]
            if np.linalg.norm(u) == 0:
                continue
            Jac = fam.jacobian(P[j:j + 1], Xr)[0]  # (n, k, p)
            scale = np.linalg.norm(Jac) * np.linalg.norm(u) + 1e-300
            if np.linalg.norm(Jac @ u) <= 1e-9 * scale:
                cols.append(_embed(m, p, int(j), u))
                count.append(int(j))
        if count:
            kinds.append(("rescaling", tuple(count), len(count)))
    if live.size > 1 and not prob.reg:
        if isinstance(fam, OutputLinear):
            outer = fam.block_slice(fam.outer)
            inner_cols = np.setdiff1d(np.arange(p), np.arange(p)[outer])
            for grp in _groups(P[:, inner_cols], live, rtol):
                first = grp[0]
                for j in grp[1:]:
                    for a in np.arange(p)[outer]:
                        v = np.zeros(m * p)
                        v[j * p + a] = 1.0 / c[j]
                        v[first * p + a] = -1.0 / c[first]
                        cols.append(v)
                kinds.append(("identical-particles", tuple(grp), (len(grp) - 1) * len(np.arange(p)[outer])))
                group_action = False
        if isinstance(fam, Homogeneous):
            for grp in _groups(P, live, rtol):
                first = grp[0]
                for j in grp[1:]:
                    v = _embed(m, p, j, P[j] / c[j]) - _embed(m, p, first, P[first] / c[first])
                    cols.append(v)
                kinds.append(("identical-particles", tuple(grp), len(grp) - 1))
                group_action = False
    if not cols:
        return Symmetries(np.zeros((m * p, 0)), tuple(kinds), True)
    A = np.stack(cols, axis=1)
    U, s, _ = np.linalg.svd(A, full_matrices=False)
    rank = int(np.sum(s > 1e-10 * s[0]))
    return Symmetries(U[:, :rank], tuple(kinds), group_action)


def classify(lam_min: float, lam_max: float, tol: float) -> str:
    """Numeric classification from the transverse spectrum."""
    scale = max(abs(lam_min), abs(lam_max), 1e-300)
    if lam_min > tol * scale:
        return "strict-local-min"
    if lam_min < -tol * scale:
        return "strict-saddle"
    return "degenerate"


def spectrum(prob, mu: Measure, k: int = 6, method: str = "auto", tol: float = 1e-8,
             dense_limit: int = DENSE_LIMIT, seed: int = 0) -> Spectrum:
    """Spectrum of the particle Hessian of $F(\\theta_1..\\theta_m) = L(\\sum_j c_j\\delta_{\\theta_j})$.

    Dense (``numpy.linalg.eigh``) when $N = m p \\le$ ``dense_limit``, otherwise Lanczos
    (``scipy.sparse.linalg.eigsh``) on Hessian-vector products: the top of the spectrum directly,
    the bottom as the top of $\\lambda_{max} I - H$. Symmetry directions $S$ (:func:`symmetries`) are
    removed by working on $S^\\perp$ (dense: an orthonormal complement; Lanczos: $P H P + \\sigma S S^\\top$
    with $\\sigma$ above the spectrum).

    Parameters
    ----------
    prob : Problem
    mu : Measure
    k : int
        Number of bottom eigenpairs returned.
    method : {"auto", "dense", "lanczos"}
    tol : float
        Relative threshold of the numeric classification.
    dense_limit : int
    seed : int
        Seed of the Lanczos start vector.

    Returns
    -------
    Spectrum

    References
    ----------
    docs/mathematics.md, Hessians (particle Hessian); Safran & Shamir 2018 (arXiv 1712.08968), §4 (spectra at spurious minima).
    """
    if method not in ("auto", "dense", "lanczos"):
        raise MeasureError(f"method: expected 'auto', 'dense' or 'lanczos', got {method!r}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise MeasureError(f"k: expected a positive integer, got {k!r}")
    mu = prob._measure(mu)
    m, p = mu.particles.shape
    N = m * p
    sym = symmetries(prob, mu)
    S = sym.basis
    use_dense = method == "dense" or (method == "auto" and N <= dense_limit)
    if use_dense:
        H = prob.particle_hessian(mu)
        full = np.linalg.eigvalsh(H)
        if sym.dim:
            Z = sla.null_space(S.T) if sym.dim < N else np.zeros((N, 0))
            K = Z.T @ H @ Z
        else:
            Z, K = np.eye(N), H
        if K.shape[0] == 0:
            return Spectrum(np.zeros(0), np.zeros((N, 0)), 0.0, 0.0, float(full[0]), sym, "dense (eigh)", "degenerate", tol)
        w, V = np.linalg.eigh(0.5 * (K + K.T))
        kk = min(k, w.size)
        vecs = Z @ V[:, :kk]
        return Spectrum(w[:kk], vecs, float(w[0]), float(w[-1]), float(full[0]), sym, "dense (eigh)",
                        classify(float(w[0]), float(w[-1]), tol), tol)
    rng = np.random.default_rng(seed)
    shape = mu.particles.shape

    def hv(v):
        return prob.hvp(mu, np.asarray(v, dtype=float).reshape(shape)).ravel()

    def proj(v):
        return v - S @ (S.T @ v) if sym.dim else v

    Hop = spla.LinearOperator((N, N), matvec=lambda v: proj(hv(proj(v))), dtype=float)
    v0 = proj(rng.standard_normal(N))
    lam_top = float(spla.eigsh(Hop, k=1, which="LA", v0=v0, tol=1e-10, return_eigenvectors=False)[0])
    lam_bot_full = float(spla.eigsh(spla.LinearOperator((N, N), matvec=hv, dtype=float), k=1, which="SA",
                                    v0=rng.standard_normal(N), tol=1e-8, maxiter=20 * N,
                                    return_eigenvectors=False)[0])
    shift = abs(lam_top) + abs(lam_bot_full) + 1.0
    # bottom of H on S^perp = shift - top of (shift I - P H P) on S^perp; S itself is sent to 0
    Bop = spla.LinearOperator((N, N), matvec=lambda v: proj(shift * proj(v) - proj(hv(proj(v)))), dtype=float)
    kk = min(k, N - sym.dim - 1) if N - sym.dim > 1 else 1
    w, V = spla.eigsh(Bop, k=kk, which="LA", v0=v0, tol=1e-12, maxiter=50 * N)
    order = np.argsort(-w)
    lam = shift - w[order]
    V = V[:, order]
    return Spectrum(lam, V, float(lam[0]), lam_top, min(lam_bot_full, float(lam[0])), sym,
                    "lanczos (eigsh on Hessian-vector products)", classify(float(lam[0]), lam_top, tol), tol)
