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
import scipy.sparse as sps

from .._errors import MeasureError
from .._types import FloatArray
from ..families import Homogeneous, OutputLinear
from ..measure import Measure

DENSE_LIMIT = 3000
#: Lanczos budget: Hessian-vector products per spectrum (each about two particle-gradient passes)
LANCZOS_STEPS = 400


@dataclass(frozen=True)
class Symmetries:
    """Symmetry directions of $F$ at a point: an orthonormal basis ``(N, s)`` and what spans it.

    ``sparse`` holds the basis as a ``scipy.sparse`` CSC matrix: every direction lives on one particle
    or one group of identical particles, so the basis has $O(m p)$ nonzeros and is built in time linear
    in $m$; ``basis`` is its dense form (for small problems). ``kinds`` lists ``(kind, particles,
    count)`` with kind in {"zero-mass", "rescaling", "identical-particles"}.
    """

    sparse: sps.csc_matrix
    kinds: tuple[tuple[str, tuple[int, ...], int], ...]
    group_action: bool  # True when every direction comes from an exact group action (no identical particles)

    @property
    def basis(self) -> FloatArray:
        """The orthonormal basis as a dense ``(N, s)`` array."""
        return self.sparse.toarray()

    @property
    def dim(self) -> int:
        """Dimension $s$ of the span."""
        return int(self.sparse.shape[1])

    def project_out(self, v: FloatArray) -> FloatArray:
        """$v - S S^\\top v$ (the component of ``v`` ``(N,)`` or ``(N, r)`` orthogonal to the span), $O(mp)$."""
        return v - self.sparse @ (self.sparse.T @ v) if self.dim else v

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
        "dense (eigh)" or "lanczos (N Hessian-vector products, ...)", with "not converged" when it did not.
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

    def _repr_html_(self) -> str:
        from .._display import spectrum_html

        return spectrum_html(self)

    def __repr__(self) -> str:
        return (f"Spectrum({self.classification}, lambda_min {self.lambda_min:.4g}, lambda_max {self.lambda_max:.4g}, "
                f"{self.symmetries.dim} symmetry direction(s), {self.method})")

    def to_dict(self) -> dict:
        """JSON-able summary."""
        return {"lambda_min": self.lambda_min, "lambda_max": self.lambda_max,
                "lambda_min_full": self.lambda_min_full, "bottom": [float(v) for v in self.eigenvalues],
                "symmetry_dim": self.symmetries.dim, "symmetries": self.symmetries.to_dict(),
                "method": self.method, "classification": self.classification, "tol": self.tol}


def _groups(points: FloatArray, idx: np.ndarray, rtol: float = 1e-9) -> list[list[int]]:
    """Groups (size >= 2) of indices whose points coincide up to ``rtol`` (relative to $\\max(1, |\\theta|)$).

    Points are sorted by their projection on a fixed unit vector $u$; since $|u^\\top(a - b)| \\le |a - b|$,
    only neighbours within the tolerance in that order are compared: $O(m \\log m)$ for distinct points.
    """
    if idx.size < 2:
        return []
    pts = points[idx]
    scale = np.maximum(1.0, np.linalg.norm(pts, axis=1))
    u = np.random.default_rng(20240613).standard_normal(pts.shape[1])
    u /= np.linalg.norm(u)
    proj = pts @ u
    order = np.argsort(proj, kind="stable")
    # a coordinate rounding in proj adds at most 2 p eps |a| (|u| = 1); widen the window by that much
    window = rtol * float(scale.max()) + 4 * pts.shape[1] * np.finfo(float).eps * float(np.abs(pts).max(initial=0.0) + 1)
    groups, used = [], np.zeros(idx.size, dtype=bool)
    for pos, a in enumerate(order):
        if used[a]:
            continue
        grp = [a]
        for b in order[pos + 1:]:
            if proj[b] - proj[a] > window:
                break
            if not used[b] and np.linalg.norm(pts[a] - pts[b]) <= rtol * max(scale[a], scale[b]):
                grp.append(b)
        if len(grp) > 1:
            used[grp] = True
            groups.append(sorted(int(idx[g]) for g in grp))
    return groups


def symmetries(prob, mu: Measure, rtol: float = 1e-9) -> Symmetries:
    """The exact symmetry directions of the particle objective at ``mu`` (see the module docstring).

    Built from the family's structure in time linear in $m$: each direction is supported on one particle
    (zero mass, rescaling) or on one group of identical particles, and is orthonormalised within its
    support only; the result is a sparse ``(N, s)`` basis, never a dense null space.
    """
    fam = prob.family
    m, p = mu.particles.shape
    P, c = mu.particles, mu.masses
    # local columns per support: support (tuple of particles) -> list of (len(support) * p,) vectors
    local: dict[tuple[int, ...], list[FloatArray]] = {}
    kinds: list[tuple[str, tuple[int, ...], int]] = []
    dead = np.flatnonzero(c == 0)
    for j in dead:
        local[(int(j),)] = list(np.eye(p))
    if dead.size:
        kinds.append(("zero-mass", tuple(int(j) for j in dead), int(dead.size) * p))
    live = np.flatnonzero(c != 0)
    group_action = True
    if isinstance(fam, OutputLinear) and isinstance(fam, Homogeneous) and fam.degree >= 2 and not prob.reg and live.size:
        outer = fam.block_slice(fam.outer)
        Xr = fam.random_inputs(12, seed=12345)
        Ugen = -P[live] / (fam.degree - 1)
        Ugen[:, outer] = P[live][:, outer]
        # the generator is exact when phi(theta_j; x) does not move along it (checked on 12 random inputs)
        Jac = fam.jacobian(P[live], Xr)  # (live, 12, k, p), one batched call
        moved = np.linalg.norm(np.einsum("qnkp,qp->qnk", Jac, Ugen).reshape(live.size, -1), axis=1)
        scale = np.linalg.norm(Jac.reshape(live.size, -1), axis=1) * np.linalg.norm(Ugen, axis=1) + 1e-300
        count = []
        for q, j in enumerate(live):
            if np.linalg.norm(Ugen[q]) != 0 and moved[q] <= 1e-9 * scale[q]:
                local.setdefault((int(j),), []).append(Ugen[q])
                count.append(int(j))
        if count:
            kinds.append(("rescaling", tuple(count), len(count)))
    if live.size > 1 and not prob.reg:
        merged: dict[tuple[int, ...], list[tuple[int, FloatArray]]] = {}  # group -> (particle, p-vector) pieces
        if isinstance(fam, OutputLinear):
            outer_idx = np.arange(p)[fam.block_slice(fam.outer)]
            inner_cols = np.setdiff1d(np.arange(p), outer_idx)
            for grp in _groups(P[:, inner_cols], live, rtol):
                first = grp[0]
                for j in grp[1:]:
                    for a in outer_idx:
                        merged.setdefault(tuple(grp), []).append(
                            [(j, np.eye(p)[a] / c[j]), (first, -np.eye(p)[a] / c[first])])
                kinds.append(("identical-particles", tuple(grp), (len(grp) - 1) * len(outer_idx)))
                group_action = False
        if isinstance(fam, Homogeneous):
            for grp in _groups(P, live, rtol):
                first = grp[0]
                for j in grp[1:]:
                    merged.setdefault(tuple(grp), []).append([(j, P[j] / c[j]), (first, -P[first] / c[first])])
                kinds.append(("identical-particles", tuple(grp), len(grp) - 1))
                group_action = False
        # a group's support is the union of its particles: fold the single-particle columns of its members in
        supports = _merge_supports([set(g) for g in merged])
        for sup in supports:
            sup_t = tuple(sorted(sup))
            pos = {j: k for k, j in enumerate(sup_t)}
            vecs = []
            for j in sup_t:
                for v in local.pop((j,), []):
                    w = np.zeros(len(sup_t) * p)
                    w[pos[j] * p:(pos[j] + 1) * p] = v
                    vecs.append(w)
            for grp, pieces in merged.items():
                if set(grp) <= sup:
                    for piece in pieces:
                        w = np.zeros(len(sup_t) * p)
                        for j, v in piece:
                            w[pos[j] * p:(pos[j] + 1) * p] += v
                        vecs.append(w)
            local[sup_t] = vecs
    rows, cols, vals = [], [], []
    ncol = 0
    for sup in sorted(local):
        vecs = local[sup]
        if not vecs:
            continue
        A = np.stack(vecs, axis=1)
        U, sv, _ = np.linalg.svd(A, full_matrices=False)
        rank = int(np.sum(sv > 1e-10 * sv[0])) if sv.size and sv[0] > 0 else 0
        idx = (np.asarray(sup)[:, None] * p + np.arange(p)[None, :]).ravel()
        for r in range(rank):
            nz = np.flatnonzero(U[:, r])
            rows.append(idx[nz])
            cols.append(np.full(nz.size, ncol))
            vals.append(U[nz, r])
            ncol += 1
    if ncol == 0:
        return Symmetries(sps.csc_matrix((m * p, 0)), tuple(kinds), group_action)
    S = sps.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(m * p, ncol))
    return Symmetries(S, tuple(kinds), group_action)


def _merge_supports(sets: list[set[int]]) -> list[set[int]]:
    """Unions of overlapping particle sets (the identical-particle groups of the two kinds may overlap)."""
    out: list[set[int]] = []
    for s in sets:
        s = set(s)
        keep = []
        for t in out:
            if t & s:
                s |= t
            else:
                keep.append(t)
        out = keep + [s]
    return out


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

    Dense (``numpy.linalg.eigh``) when $N = m p \\le$ ``dense_limit`` (3000), otherwise Lanczos with full
    reorthogonalisation (:func:`lanczos`) on matrix-free Hessian-vector products (``Problem.hvp``, two
    particle passes each): one Krylov space in $S^\\perp$ gives the bottom and the top, at most
    :data:`LANCZOS_STEPS` products. Symmetry directions $S$ (:func:`symmetries`, sparse) are removed by
    working on $S^\\perp$ (dense: an orthonormal complement; Lanczos: every vector projected, $O(mp)$).
    An unconverged Lanczos run says so in ``method``; it is never classified "strict-local-min" (a Ritz
    value is only an upper bound on $\\lambda_{min}$), while a Ritz value below $-$``tol``$\\,|\\lambda|_{max}$
    shows a negative eigenvalue either way.

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
    use_dense = method == "dense" or (method == "auto" and N <= dense_limit)
    if use_dense:
        S = sym.basis
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

    kk = max(1, min(k, N - sym.dim))
    theta, vecs, resid, steps = lanczos(lambda v: sym.project_out(hv(sym.project_out(v))), N,
                                        sym.project_out(rng.standard_normal(N)), kk, tol, LANCZOS_STEPS)
    lam_top = float(theta[-1])
    scale = max(abs(float(theta[0])), abs(lam_top), 1e-300)
    converged = bool(np.all(resid[:kk] <= tol * scale))
    # the full space (symmetry directions included): a short run, an upper bound on the true bottom
    full, _, _, _ = lanczos(hv, N, rng.standard_normal(N), 1, tol, min(LANCZOS_STEPS, 30))
    lam = theta[:kk]
    method = f"lanczos ({steps} Hessian-vector products, full reorthogonalisation)"
    cls = classify(float(lam[0]), lam_top, tol)
    if not converged:
        worst = float(np.max(resid[:kk]))
        method += f"; not converged: Ritz residual {worst:.2e} > {tol:g} |lambda|_max"
        if cls == "strict-local-min":
            # a Ritz value is a Rayleigh quotient, an upper bound on lambda_min: below -tol |lambda|_max it shows
            # a negative eigenvalue converged or not, but a positive one proves nothing until converged
            cls = "degenerate"
    return Spectrum(lam, vecs[:, :kk], float(lam[0]), lam_top, min(float(full[0]), float(lam[0])), sym, method,
                    cls, tol)


def lanczos(matvec, N: int, v0: FloatArray, k: int, tol: float, steps: int):
    """Lanczos with full reorthogonalisation (Golub & Van Loan 2013, §10.1) for the ``k`` smallest and the
    largest eigenvalue of a symmetric operator, stopped when their Ritz residuals $|\\beta_j s_{ji}|$ fall
    below ``tol`` times the spectral scale, or after ``steps`` products.

    Returns ``(theta, vectors, residuals, steps)``: Ritz values ascending (the largest last), the ``k``
    bottom Ritz vectors ``(N, k)``, the residual norms of the ``k`` bottom values (each has an eigenvalue
    within its residual: Parlett 1998, Thm 4.5.1) and the number of products taken.
    """
    steps = max(1, min(int(steps), N))
    Q = np.zeros((steps + 1, N))
    alpha, beta = np.zeros(steps), np.zeros(steps)
    nrm = np.linalg.norm(v0)
    if nrm == 0:
        return np.zeros(1), np.zeros((N, 1)), np.zeros(1), 0
    Q[0] = v0 / nrm
    j = 0
    for j in range(steps):
        w = matvec(Q[j])
        alpha[j] = Q[j] @ w
        w -= Q[: j + 1].T @ (Q[: j + 1] @ w)  # full reorthogonalisation, twice is enough (Kahan)
        w -= Q[: j + 1].T @ (Q[: j + 1] @ w)
        beta[j] = np.linalg.norm(w)
        if (j + 1) % 10 == 0 or beta[j] == 0 or j + 1 == steps:
            theta, S = sla.eigh_tridiagonal(alpha[: j + 1], beta[:j])
            res = np.abs(beta[j] * S[-1, :])
            scale = max(abs(theta[0]), abs(theta[-1]), 1e-300)
            kk = min(k, theta.size)
            if beta[j] == 0 or (theta.size > kk and np.all(res[:kk] <= tol * scale) and res[-1] <= tol * scale):
                break
        if beta[j] == 0:
            break
        Q[j + 1] = w / beta[j]
    theta, S = sla.eigh_tridiagonal(alpha[: j + 1], beta[:j])
    kk = min(k, theta.size)
    res = np.abs(beta[j] * S[-1, :kk])
    return theta, Q[: j + 1].T @ S[:, :kk], res, j + 1
