r"""``mf.census``: many flows from random starts, their distinct endpoints counted and checked.

A census of critical points (Safran & Shamir 2018, arXiv 1712.08968, §4) runs ``starts`` independent
particle flows of one width from random initialisations, to a stated stopping rule, groups the
endpoints that are equal up to the symmetries of the problem and passes one representative of each
group to :func:`mfsym.check`.

* **Flows.** All starts of a batch advance together: the particles are one array ``(S, m, p)`` and
  the loss and $\nabla_\theta J_\mu$ of every start come from one batched computation (closed-form
  Gaussian kernels with a leading start axis for :class:`~mfsym.GaussianTeacher` data; the family's
  Jacobian kernel for samples). The step is the explicit Euler step of ``mf.flow``,
  $\theta_j \leftarrow \theta_j - h\,\mathrm{sign}(c_j)\nabla J_\mu(\theta_j)$ (gradient descent on
  $F(\theta_1..\theta_m) = L(\mu)$ when $c_j = 1$), and a start stops when
  $\max_{j: c_j \ne 0}|\nabla J_\mu(\theta_j)| \le$ ``tol`` (``prob.residual``).
* **Seeds.** Start $i$ draws its initial particles from ``SeedSequence(seed).spawn(starts)[i]``, so
  the table depends on ``seed`` and ``starts`` only: not on the batch size, the number of workers or
  the machine.
* **Symmetries.** Neuron permutations (among particles of equal mass) always; permutations of the
  input coordinates (acting on the ``w`` block of ridge families) when the data are invariant under
  them (detected: a Gaussian teacher whose particle set is permutation invariant, such as Safran &
  Shamir's identity teacher, or samples whose rows are).
* **Distributed.** With ``client=`` a ``dask.distributed`` client, an address or ``"local"``, the
  batches and the checks run as Dask tasks (``pip install mfsym[dask]``).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import scipy.optimize as so
import scipy.special as sps

from ._backend import SampleBackend
from ._errors import DataError, MeasureError, MfsymError
from ._progress import activate
from ._progress import progress as progress_report
from ._types import FloatArray
from ._validate import as_float_array, optional_import, positive_float, positive_int
from .families import OutputLinear
from .families import Ridge
from .measure import Measure, masses_arg
from .population import CLOSED_FORMS, GaussianPopulationBackend
from .problem import Problem

__all__ = ["census", "Census", "Endpoint", "INITS", "METHODS"]


class CensusError(MfsymError, ValueError):
    """A census was asked for with invalid arguments (a :class:`mfsym.MfsymError`)."""


#: Initialisations by name (``init=``); each draws the ``(m, p)`` particles of one start.
INITS = {
    "gaussian": "every entry N(0, 1)",
    "fan-in": "inner-block entries N(0, 1/d) (d = input dimension), output-block entries N(0, 1/m) "
              "(LeCun normal for both layers)",
    "ss18": "Safran & Shamir 2018: W = randn(d, k)/sqrt(d) (OneLayerGDconvergence, GD_code/findBadMinima.m), "
            "i.e. 'fan-in'",
}
#: Time steppers (``method=``).
METHODS = {
    "gd": "fixed step h = dt; a start whose residual exceeds `diverge` (or turns non-finite) restarts from its "
          "initial point with h halved (Safran & Shamir's rule, GD_code/findMinimum.m)",
    "adaptive": "mf.flow's backtracking: a trial step is kept if the loss does not increase, else h halves; "
                "h doubles back up to dt after an accepted step; a start stalls below min_dt = dt 2^-40",
}


# ============================================================================ batched kernels
@functools.lru_cache(maxsize=None)
def _kernel_functions(name: str) -> tuple[Callable, Callable, Callable]:
    """$k$, $\\partial k/\\partial\\alpha$, $\\partial k/\\partial\\gamma$ of the closed form ``name`` as numpy
    functions of $(\\alpha, \\beta, \\gamma, s)$, lambdified from the sympy closed form of mfsym.population."""
    import sympy as sp

    kern = next(k for k in CLOSED_FORMS.values() if k.name == name)
    P = kern.partials
    syms = sorted(set().union(*(P[key].free_symbols for key in ("k", "a", "c"))) - {sp.pi}, key=lambda s: s.name)
    names = {s.name: s for s in syms}
    args = [names.get(n, sp.Symbol(n)) for n in ("alpha", "beta", "gamma", "s")]
    mods = [{"atan2": np.arctan2}, "numpy"]
    return tuple(sp.lambdify(args, P[key], modules=mods) for key in ("k", "a", "c"))


def _pair_invariants(W1: FloatArray, W2: FloatArray, a: FloatArray, b: FloatArray, self_pairs: bool):
    """$\\gamma = w^\\top w'$ and $s = \\sqrt{\\alpha\\beta - \\gamma^2}$ for every pair of a start:
    ``W1`` ``(S, m, d)``, ``W2`` ``(S, M, d)`` with squared norms ``a`` ``(S, m)``, ``b`` ``(S, M)`` -> two ``(S, m, M)`` arrays.

    Where $\\alpha\\beta - \\gamma^2$ cancels ($\\sin^2\\angle(w, w') < 10^{-4}$) $s$ is recomputed as
    $|w|\\,|w' - (w'^\\top\\hat w)\\hat w|$, so parallel pairs get $s$ to rounding, not to $\\sqrt{\\epsilon}$;
    with ``self_pairs`` the first ``m`` sources are ``W1`` itself and $s_{jj} = 0$ exactly.
    """
    g = W1 @ np.swapaxes(W2, 1, 2)
    ab = a[:, :, None] * b[:, None, :]
    s2 = ab - g * g
    near = s2 <= 1e-4 * ab
    s = np.sqrt(np.maximum(s2, 0.0, out=s2), out=s2)
    if self_pairs:
        m = W1.shape[1]
        diag = np.arange(m)
        near[:, diag, diag] = False
        s[:, diag, diag] = 0.0
    near = np.nonzero(near)
    if near[0].size:
        w, v = W1[near[0], near[1]], W2[near[0], near[2]]
        nw = np.sqrt(a[near[0], near[1]])
        e = np.divide(w, nw[:, None], out=np.zeros_like(w), where=nw[:, None] > 0)
        vp = v - np.einsum("qd,qd->q", v, e)[:, None] * e
        s[near] = nw * np.sqrt(np.einsum("qd,qd->q", vp, vp))
    return g, s


class _PopulationKernel:
    """Loss and $\\nabla_\\theta J_\\mu$ of many starts at once for a Gaussian teacher with a closed-form kernel.

    Holds arrays and the kernel's name only (picklable for Dask); the numeric kernel is rebuilt from
    the sympy closed form in each process. $R = \\frac12\\omega^\\top K\\omega$ and
    $J_\\mu(\\theta) = \\sum_s \\omega_s (a^\\top a_s) k(w, w_s)$ as in mfsym.population, with
    $\\nabla_w J = \\sum_s \\omega_s (a^\\top a_s)(2k_\\alpha w + k_\\gamma w_s)$ and
    $\\nabla_a J = \\sum_s \\omega_s k(w, w_s) a_s$.
    """

    def __init__(self, backend: GaussianPopulationBackend, reg: float):
        fam = backend.family
        self.name, self.zero_at_origin = backend.kernel.name, bool(backend.kernel.zero_at_origin)
        self.p, self.sw = fam.p, fam.block_slice("w")
        self.sa = fam.block_slice("a") if fam.outer is not None else None
        self.A_t, self.W_t, self.c_t = (np.array(backend.A_t, dtype=float), np.array(backend.W_t, dtype=float),
                                        np.array(backend.c_t, dtype=float))
        self.reg = float(reg)
        self.b_t = np.sum(self.W_t**2, axis=1)
        K = self._kernel(self.W_t[None], self.W_t[None], "k")[0][0] * (self.A_t @ self.A_t.T)
        self.const = float(0.5 * self.c_t @ K @ self.c_t)

    def _kernel(self, W1, W2, keys, self_pairs=False):
        funcs = dict(zip("kac", _kernel_functions(self.name)))
        a1 = np.einsum("smd,smd->sm", W1, W1)
        if self_pairs:  # W2 = (W1, teacher): reuse |w|^2 (np.broadcast_to costs more than these at small S)
            a2 = np.empty((a1.shape[0], a1.shape[1] + self.b_t.size))
            a2[:, :a1.shape[1]], a2[:, a1.shape[1]:] = a1, self.b_t
        else:
            a2 = np.einsum("smd,smd->sm", W2, W2)
        g, s = _pair_invariants(W1, W2, a1, a2, self_pairs)
        a, b = a1[:, :, None], a2[:, None, :]
        live = None
        if self.zero_at_origin and not ((a1 > 0).all() and (a2 > 0).all()):
            live = (a > 0) & (b > 0)
            a, b = np.where(live, a, 1.0), np.where(live, b, 1.0)
            g, s = np.where(live, g, 0.0), np.where(live, s, 1.0)
        out = [np.asarray(funcs[key](a, b, g, s), dtype=float) for key in keys]
        out = [v if v.shape == g.shape else np.broadcast_to(v, g.shape) for v in out]
        if live is not None:
            out = [np.where(live, v, 0.0) for v in out]
        return out

    def __call__(self, P: FloatArray, c: FloatArray, loss: bool = True) -> tuple[FloatArray | None, FloatArray]:
        """Losses ``(S,)`` (None unless ``loss``) and $\\nabla J_\\mu(\\theta_j)$ ``(S, m, p)`` at ``P`` ``(S, m, p)``."""
        S, m, _ = P.shape
        W = P[..., self.sw]
        src_W = np.empty((S, m + self.W_t.shape[0], W.shape[2]))
        src_W[:, :m], src_W[:, m:] = W, self.W_t
        om = np.concatenate([c, -self.c_t])
        need = ("k", "a", "c") if (loss or self.sa is not None) else ("a", "c")
        vals = dict(zip(need, self._kernel(W, src_W, need, self_pairs=True)))
        if self.sa is None:  # output weights fixed to 1: (a^T a_s) = 1
            AA = None
            ka, kc = vals["a"], vals["c"]
        else:
            A = P[..., self.sa]
            src_A = np.empty((S, m + self.A_t.shape[0], A.shape[2]))
            src_A[:, :m], src_A[:, m:] = A, self.A_t
            AA = A @ np.swapaxes(src_A, 1, 2)  # (S, m, M)
            ka, kc = AA * vals["a"], AA * vals["c"]
        G = np.zeros(P.shape)
        # sum_s om_s (2 k_alpha w + k_gamma w_s), with om folded into the small factors
        G[..., self.sw] = 2 * W * (ka @ om)[..., None] + kc @ (om[:, None] * src_W)
        if self.sa is not None:
            G[..., self.sa] = (vals["k"] * om) @ src_A
        if self.reg:
            G = G + self.reg * P
        if not loss:
            return None, G
        K = vals["k"] if AA is None else AA * vals["k"]
        # R = (c K_ss c - 2 c K_st c* + c* K_tt c*) / 2
        out = (0.5 * np.einsum("sj,j->s", K[:, :, :m] @ c, c) - np.einsum("sj,j->s", K[:, :, m:] @ self.c_t, c)
               + self.const)
        if self.reg:
            out = out + 0.5 * self.reg * np.einsum("smp,smp,m->s", P, P, c)
        return out, G


class _SampleKernel:
    """Loss and $\\nabla_\\theta J_\\mu$ of many starts at once on samples, from the family's batched kernels.

    $f_s(x_i) = \\sum_j c_j \\varphi(\\theta_{sj}; x_i)$ from one ``phi`` call over the ``S m`` particles,
    $\\nabla J_\\mu(\\theta_{sj}) = \\frac1n\\sum_i \\partial_\\theta\\varphi(\\theta_{sj}; x_i)^\\top r_{si}$ from one
    ``jacobian`` call (chunked over starts to bound memory).
    """

    def __init__(self, backend: SampleBackend, reg: float):
        self.family, self.X, self.Y, self.loss_name = backend.family, backend.X, backend.Y, backend.loss
        self.n, self.reg = backend.n, float(reg)

    def __call__(self, P: FloatArray, c: FloatArray, loss: bool = True) -> tuple[FloatArray, FloatArray]:
        """Losses ``(S,)`` and $\\nabla J_\\mu(\\theta_j)$ ``(S, m, p)`` (the loss comes free with the residual)."""
        S, m, p = P.shape
        fam, n, k = self.family, self.n, self.family.out_dim
        per_start = max(1, m * n * k * p)
        step = max(1, (1 << 22) // per_start)
        out, G = np.empty(S), np.empty(P.shape)
        for lo in range(0, S, step):
            hi = min(S, lo + step)
            flat = P[lo:hi].reshape(-1, p)
            f = np.einsum("j,sjnk->snk", c, fam.phi(flat, self.X).reshape(hi - lo, m, n, k))
            if self.loss_name == "square":
                r = f - self.Y
                out[lo:hi] = 0.5 * np.sum(r * r, axis=(1, 2)) / n
            else:
                r = -self.Y * sps.expit(-self.Y * f)
                out[lo:hi] = np.mean(np.logaddexp(0.0, -self.Y * f), axis=(1, 2))
            Jac = fam.jacobian(flat, self.X).reshape(hi - lo, m, n, k, p)
            G[lo:hi] = np.einsum("sjnkp,snk->sjp", Jac, r, optimize=True) / n
        if self.reg:
            out = out + 0.5 * self.reg * np.einsum("smp,smp,m->s", P, P, c)
            G = G + self.reg * P
        return out, G


def _batched_kernel(prob: Problem):
    if isinstance(prob.backend, GaussianPopulationBackend):
        return _PopulationKernel(prob.backend, prob.reg)
    if isinstance(prob.backend, SampleBackend):
        return _SampleKernel(prob.backend, prob.reg)
    raise DataError(f"prob: census needs sample data or a Gaussian teacher, got a {type(prob.backend).__name__} "
                    "backend")


def _residuals(G: FloatArray, live: np.ndarray) -> FloatArray:
    """$\\max_{j: c_j \\ne 0}|\\nabla J(\\theta_j)|$ per start."""
    nrm = np.sqrt(np.einsum("smp,smp->sm", G, G))
    return np.max(nrm[:, live], axis=1) if live.any() else np.zeros(G.shape[0])


# ============================================================================ flows
@dataclass(frozen=True)
class _FlowSettings:
    method: str
    dt: float
    tol: float
    max_steps: int
    diverge: float


def _run_batch(kernel, P0: FloatArray, c: FloatArray, cfg: _FlowSettings) -> dict:
    """Advance every start of ``P0`` ``(S, m, p)`` to the stopping rule; one batched evaluation per step."""
    return (_run_gd if cfg.method == "gd" else _run_adaptive)(kernel, P0, c, cfg)


def _run_gd(kernel, P0: FloatArray, c: FloatArray, cfg: _FlowSettings) -> dict:
    """Fixed-step Euler on the starts still running, kept contiguous (a stopped start is written back and
    dropped), so that a step costs one kernel call and a few array operations, whatever has stopped."""
    S = P0.shape[0]
    sign = np.where(c < 0, -1.0, 1.0)[None, :, None]
    live = c != 0
    min_dt = cfg.dt * 2.0**-40
    P, res, h = P0.copy(), np.empty(S), np.full(S, cfg.dt)
    steps = np.zeros(S, dtype=np.int64)
    status = np.array(["max-steps"] * S, dtype=object)
    idx, Pa, ha = np.arange(S), P0.copy(), h.copy()  # the running starts
    Ga = kernel(Pa, c, loss=False)[1]
    ra = _residuals(Ga, live)
    n = 0  # every running start has taken n steps (a restart does not reset the count)
    with np.errstate(all="ignore"):
        while True:
            gone = np.zeros(idx.size, dtype=bool)
            ok = ra <= cfg.diverge  # False for NaN and inf too
            if not ok.all():  # Safran & Shamir's rule: restart from the initial point with half the step
                r = np.flatnonzero(~ok)
                Pa[r], ha[r] = P0[idx[r]], ha[r] / 2
                Ga[r] = kernel(Pa[r], c, loss=False)[1]
                ra[r] = _residuals(Ga[r], live)
                gone[r] = ha[r] < min_dt
            conv = ra <= cfg.tol
            stop = conv | gone if n < cfg.max_steps else np.ones(idx.size, dtype=bool)
            if stop.any():
                out = idx[stop]
                P[out], res[out], h[out], steps[out] = Pa[stop], ra[stop], ha[stop], n
                status[idx[conv & stop]] = "converged"
                status[idx[gone & ~conv]] = "diverged"
                keep = ~stop
                idx, Pa, Ga, ra, ha = idx[keep], Pa[keep], Ga[keep], ra[keep], ha[keep]
                if idx.size == 0:
                    break
            Pa = Pa - ha[:, None, None] * sign * Ga
            Ga = kernel(Pa, c, loss=False)[1]
            ra = _residuals(Ga, live)
            n += 1
    return {"P": P, "loss": kernel(P, c)[0], "residual": res, "steps": steps, "status": status.astype(str), "h": h}


def _run_adaptive(kernel, P0: FloatArray, c: FloatArray, cfg: _FlowSettings) -> dict:
    """``mf.flow``'s backtracking Euler steps, per start: a trial step is kept if the loss does not increase."""
    S = P0.shape[0]
    P = P0.copy()
    sign = np.where(c < 0, -1.0, 1.0)[None, :, None]
    live = c != 0
    h = np.full(S, cfg.dt)
    steps = np.zeros(S, dtype=np.int64)
    status = np.array(["max-steps"] * S, dtype=object)
    loss, G = kernel(P, c)
    res = _residuals(G, live)
    active = np.ones(S, dtype=bool)
    min_dt = cfg.dt * 2.0**-40
    with np.errstate(all="ignore"):
        while True:
            done = active & (res <= cfg.tol)
            status[done], active[done] = "converged", False
            active &= steps < cfg.max_steps
            idx = np.flatnonzero(active)
            if idx.size == 0:
                break
            trial = P[idx] - h[idx, None, None] * sign * G[idx]
            lt, Gt = kernel(trial, c)
            accept = np.isfinite(lt) & (lt <= loss[idx])
            a = idx[accept]
            P[a], loss[a], G[a] = trial[accept], lt[accept], Gt[accept]
            res[a] = _residuals(Gt[accept], live)
            steps[a] += 1
            h[a] = np.minimum(2 * h[a], cfg.dt)
            rej = idx[~accept]
            h[rej] /= 2
            stalled = rej[h[rej] < min_dt]
            status[stalled], active[stalled] = "stalled", False
    return {"P": P, "loss": loss, "residual": res, "steps": steps, "status": status.astype(str), "h": h}


# ============================================================================ initialisation
def _initial_particles(prob: Problem, width: int, starts: int, init, seed: int) -> FloatArray:
    """``(starts, width, p)``: start $i$ from its own ``SeedSequence(seed).spawn(starts)[i]``."""
    fam = prob.family
    scale = np.ones(fam.p)
    if init in ("fan-in", "ss18"):
        d = fam.input_shape[-1]
        scale[:] = 1 / math.sqrt(d)
        if isinstance(fam, OutputLinear):
            scale[fam.block_slice(fam.outer)] = 1 / math.sqrt(width)
    out = np.empty((starts, width, fam.p))
    for i, ss in enumerate(np.random.SeedSequence(seed).spawn(starts)):
        rng = np.random.default_rng(ss)
        if callable(init):
            arr = as_float_array(init(rng, width), "init(rng, width)", CensusError, ndim=2)
            if arr.shape != (width, fam.p):
                raise CensusError(f"init: the callable returned shape {arr.shape}, expected ({width}, {fam.p})")
            out[i] = arr
        else:
            out[i] = rng.standard_normal((width, fam.p)) * scale
    return out


# ============================================================================ symmetries and dedup
def _coordinate_block(prob: Problem) -> slice | None:
    """The ``w`` block if permuting the input coordinates is a symmetry of the data, else None."""
    fam = prob.family
    inner = getattr(fam, "inner_map", None)
    if not isinstance(inner, Ridge) or len(fam.input_shape) != 1:
        return None
    d = fam.input_shape[0]
    if d < 2:
        return None
    gens = [np.r_[1, 0, 2:d], np.r_[1:d, 0]]  # a transposition and a d-cycle generate S_d
    be = prob.backend
    if isinstance(be, GaussianPopulationBackend):  # x ~ N(0, I) is invariant; the teacher must be too
        rows = np.hstack([be.A_t, be.c_t[:, None]])
        T = be.W_t
        return fam.block_slice("w") if all(_same_multiset(np.hstack([rows, T]), np.hstack([rows, T[:, g]]))
                                           for g in gens) else None
    if isinstance(be, SampleBackend):
        Y = be.Y.reshape(be.n, -1)
        return fam.block_slice("w") if all(_same_multiset(np.hstack([be.X, Y]), np.hstack([be.X[:, g], Y]))
                                           for g in gens) else None
    return None


def _same_multiset(A: FloatArray, B: FloatArray) -> bool:
    """Whether the rows of ``A`` and ``B`` are the same multiset (exactly)."""
    ia, ib = np.lexsort(A.T[::-1]), np.lexsort(B.T[::-1])
    return bool(np.array_equal(A[ia], B[ib]))


def _aligned_distance(A: FloatArray, B: FloatArray, c: FloatArray, wslice: slice | None) -> float:
    """$\\min |A - \\pi B|_F$ over neuron permutations $\\pi$ among equal masses (exact, by linear assignment), and
    over input-coordinate permutations of ``wslice`` (alternating assignments from sorted-coordinate
    signatures: a heuristic, as Safran & Shamir's isPermutation.m; a missed match only splits a family)."""
    big = 1e300
    same_mass = c[:, None] == c[None, :]

    def neurons(Bp):
        C = np.sum((A[:, None, :] - Bp[None, :, :]) ** 2, axis=2)
        C = np.where(same_mass, C, big)
        r, s = so.linear_sum_assignment(C)
        return s, float(C[r, s].sum())

    perm, cost = neurons(B)
    if wslice is None:
        return math.sqrt(cost)
    WA = A[:, wslice]
    best = cost
    # start: match coordinates by their sorted values over neurons (invariant under neuron permutations)
    sigA, sigB = np.sort(WA, axis=0).T, np.sort(B[:, wslice], axis=0).T
    r, q = so.linear_sum_assignment(np.sum((sigA[:, None, :] - sigB[None, :, :]) ** 2, axis=2))
    coords = q[np.argsort(r)]
    for _ in range(8):
        Bc = B.copy()
        Bc[:, wslice] = B[:, wslice][:, coords]
        perm, cost = neurons(Bc)
        best = min(best, cost)
        WB = B[perm][:, wslice]  # neurons aligned; now the best coordinate matching given them
        r, q = so.linear_sum_assignment(np.sum((WA[:, :, None] - WB[:, None, :]) ** 2, axis=0))
        new = q[np.argsort(r)]
        if np.array_equal(new, coords):
            break
        coords = new
    return math.sqrt(best)


def _group(P: FloatArray, loss: FloatArray, status: np.ndarray, c: FloatArray, wslice: slice | None,
           dist_tol: float | None, tol: float, idx: np.ndarray) -> list[tuple[int, list[int], float]]:
    """Groups of equivalent endpoints among starts ``idx`` (in that order): (representative, members, max distance)."""
    groups: list[list] = []
    for i in idx:
        far = dist_tol if dist_tol is not None else max(1e-5 * max(1.0, float(np.linalg.norm(P[i]))), 1e3 * tol)
        for gr in groups:
            j = gr[0]
            if status[j] != status[i] or abs(loss[i] - loss[j]) > 1e-5 * max(1.0, abs(loss[j])):
                continue
            dist = _aligned_distance(P[j], P[i], c, wslice)
            if dist <= far:
                gr[1].append(int(i))
                gr[2] = max(gr[2], dist)
                break
        else:
            groups.append([int(i), [int(i)], 0.0])
    return [tuple(g) for g in groups]


# ============================================================================ results
@dataclass
class Endpoint:
    """One distinct endpoint of a census: a family of runs equal up to the symmetries, and its check."""

    representative: int
    starts: list[int]
    loss: float
    residual: float
    status: str
    measure: Measure
    max_distance: float
    report: Any = None

    @property
    def count(self) -> int:
        """Number of runs that ended in this family."""
        return len(self.starts)

    @property
    def verdict(self) -> str | None:
        """``mf.check``'s verdict ("unstable", "global-minimizer", ...), None when unchecked."""
        return None if self.report is None else self.report.verdict.value

    @property
    def finite_width(self) -> str | None:
        """Finite-width classification ("strict-local-min", "strict-saddle", "degenerate") or None."""
        fw = None if self.report is None else self.report.finite_width
        return None if fw is None else fw.classification

    @property
    def finite_width_certified(self) -> bool:
        fw = None if self.report is None else self.report.finite_width
        return bool(fw is not None and fw.certified)

    @property
    def nonglobal_certified(self) -> bool:
        """Whether $J_\\mu(\\hat\\theta) < 0$ (or $|G| > 0$) at a witness was proved in ball arithmetic."""
        mfd = None if self.report is None else self.report.mean_field
        return bool(mfd is not None and mfd.certified_nonglobal)

    @property
    def certificate(self) -> dict | None:
        return None if self.report is None else self.report.certificate

    def to_dict(self, certificate: bool = True) -> dict:
        rep = self.report
        out = {"representative": self.representative, "count": self.count, "starts": self.starts,
               "loss": self.loss, "residual": self.residual, "status": self.status,
               "max_distance": self.max_distance, "particles": self.measure.particles.tolist(),
               "verdict": self.verdict, "finite_width": self.finite_width,
               "finite_width_certified": self.finite_width_certified,
               "nonglobal_certified": self.nonglobal_certified}
        if rep is not None:
            fw, mfd = rep.finite_width, rep.mean_field
            out.update({"lambda_min": None if fw is None else _num(fw.lambda_min),
                        "gap": None if mfd is None else _num(mfd.gap), "reasons": list(rep.reasons)})
            if certificate:
                out["certificate"] = rep.certificate
        return out


def _num(x: float) -> float | str:
    return float(x) if math.isfinite(x) else str(x)


@dataclass
class Census:
    """The result of :func:`census`.

    Attributes
    ----------
    losses, residuals : (starts,) arrays
        Final loss and stationarity residual of every start, in start order (NaN if not run).
    steps : (starts,) int array
    status : (starts,) str array
        "converged" (residual <= tol), "max-steps", "stalled", "diverged", or "not-run" (interrupted).
    endpoints : (starts, width, p) array
    family : (starts,) int array
        Index into ``minima`` of each start's family (-1 if not run).
    minima : list of Endpoint
        The distinct endpoints, by increasing loss, with counts and checks.
    complete : bool
        False when the run was interrupted: the finished starts are kept, nothing was checked.
    """

    problem: Problem
    width: int
    starts: int
    settings: dict
    losses: FloatArray
    residuals: FloatArray
    steps: np.ndarray
    status: np.ndarray
    endpoints: FloatArray
    family: np.ndarray
    minima: list[Endpoint]
    symmetry: str
    seconds: dict = field(default_factory=dict)
    complete: bool = True

    def fraction(self, loss_above: float) -> float:
        """Fraction of the finished runs whose final loss is $\\ge$ ``loss_above``."""
        done = self.status != "not-run"
        return float(np.mean(self.losses[done] >= loss_above)) if done.any() else float("nan")

    def counts(self) -> dict[str, int]:
        """Runs per verdict of their endpoint ("unchecked" where no check ran)."""
        out: dict[str, int] = {}
        for e in self.minima:
            key = e.verdict or "unchecked"
            out[key] = out.get(key, 0) + e.count
        return out

    def table(self) -> str:
        """The distinct endpoints as a plain-text table (deterministic: no timings)."""
        s = self.settings
        head = (f"census: {self.starts} starts, width {self.width}, init {s['init']!r}, seed {s['seed']}, "
                f"{s['method']} dt={s['dt']:g}, stop at residual <= {s['tol']:.3g} (max {s['max_steps']} steps); "
                f"symmetries: {self.symmetry}"
                + ("" if self.complete else f"; INTERRUPTED: {int(np.sum(self.status != 'not-run'))} runs finished"))
        st = ", ".join(f"{k} {v}" for k, v in sorted(_tally(self.status).items()))
        lines = [head, f"runs: {st}; {len(self.minima)} distinct endpoint(s)",
                 f"{'#':>3} {'runs':>5} {'loss':>12} {'residual':>9} {'status':>9} {'verdict':>16} "
                 f"{'finite width':>16} {'fw cert':>7} {'non-global cert':>15}"]
        for i, e in enumerate(self.minima):
            lines.append(f"{i:>3} {e.count:>5} {e.loss:>12.6g} {e.residual:>9.2e} {e.status:>9} "
                         f"{str(e.verdict):>16} {str(e.finite_width):>16} "
                         f"{'yes' if e.finite_width_certified else 'no':>7} "
                         f"{'yes' if e.nonglobal_certified else 'no':>15}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def to_dict(self, certificates: bool = True) -> dict:
        """JSON-able: settings, per-start results, the distinct endpoints with their checks, timings."""
        return {"width": self.width, "starts": self.starts, "settings": self.settings, "symmetry": self.symmetry,
                "complete": self.complete, "losses": [_num(x) for x in self.losses],
                "residuals": [_num(x) for x in self.residuals], "steps": self.steps.tolist(),
                "status": self.status.tolist(), "family": self.family.tolist(),
                "minima": [e.to_dict(certificates) for e in self.minima], "seconds": self.seconds}

    def to_json(self, indent: int | None = 1, certificates: bool = True) -> str:
        """The census as JSON text."""
        return json.dumps(self.to_dict(certificates), indent=indent)


def _tally(a: np.ndarray) -> dict[str, int]:
    vals, counts = np.unique(a.astype(str), return_counts=True)
    return {str(v): int(n) for v, n in zip(vals, counts)}


# ============================================================================ checkpoints
def _fingerprint(kernel, c, settings: dict, width: int, starts: int, batch: int) -> str:
    h = hashlib.sha256(json.dumps({**settings, "width": width, "starts": starts, "batch": batch}, sort_keys=True,
                                  default=str).encode())
    h.update(np.ascontiguousarray(c).tobytes())
    for key in sorted(vars(kernel)):
        v = vars(kernel)[key]
        if isinstance(v, np.ndarray):
            h.update(key.encode() + np.ascontiguousarray(v).tobytes())
        elif isinstance(v, (int, float, str, bool)) or v is None:
            h.update(f"{key}={v!r}".encode())
        elif key == "family":
            h.update(repr(v.signature).encode())
    return h.hexdigest()


def _load_checkpoint(path: Path, fingerprint: str) -> dict[int, dict]:
    if not path.exists():
        return {}
    with np.load(path, allow_pickle=False) as z:
        if str(z["fingerprint"]) != fingerprint:
            raise CensusError(f"checkpoint: {path} was written by a census with other settings; remove it or pass "
                              "another path")
        out = {}
        for b in z["batches"].tolist():
            out[int(b)] = {key: z[f"{key}_{b}"] for key in ("P", "loss", "residual", "steps", "status", "h")}
        return out


def _save_checkpoint(path: Path, fingerprint: str, done: dict[int, dict]) -> None:
    arrays = {"fingerprint": np.array(fingerprint), "batches": np.array(sorted(done), dtype=np.int64)}
    for b, r in done.items():
        for key, v in r.items():
            arrays[f"{key}_{b}"] = np.asarray(v).astype(str) if key == "status" else np.asarray(v)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


# ============================================================================ dask
def _dask_client(client):
    """(client, owned): ``"local"`` starts a 2-worker LocalCluster, a string is a scheduler address."""
    if not isinstance(client, str) and not hasattr(client, "submit"):
        raise CensusError(f"client: expected None, 'local', a scheduler address or a dask.distributed.Client, got "
                          f"{type(client).__name__}")
    optional_import("dask.distributed", "dask", "census(client=...): distributed runs")
    from dask.distributed import Client, LocalCluster

    if isinstance(client, str):
        if client == "local":
            cluster = LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0")
            return Client(cluster), True
        return Client(client), True
    if isinstance(client, Client):
        return client, False
    raise CensusError(f"client: expected None, 'local', a scheduler address or a dask.distributed.Client, got "
                      f"{type(client).__name__}")


def _check_task(prob, particles, c, options):
    from .stability import check

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return check(prob, Measure(prob.family, particles, c), **options)


def _run_flows(kernel, P0, c, cfg, bounds, dclient, ckpt, fp, progress) -> tuple[dict[int, dict], bool]:
    """Run the batches not in the checkpoint, in process or as Dask tasks: ({batch: result}, complete)."""
    done: dict[int, dict] = _load_checkpoint(ckpt, fp) if ckpt is not None else {}
    todo = [b for b in range(len(bounds)) if b not in done]
    bar = progress_report(total=len(bounds), desc="census batches", enabled=progress)
    bar.update(len(done))
    try:
        if dclient is None:
            for b in todo:
                lo, hi = bounds[b]
                done[b] = _run_batch(kernel, P0[lo:hi], c, cfg)
                bar.update(1)
                if ckpt is not None:
                    _save_checkpoint(ckpt, fp, done)
        elif todo:
            from dask.distributed import as_completed

            kfut = dclient.scatter(kernel, broadcast=True)
            futs = {dclient.submit(_run_batch, kfut, P0[bounds[b][0]:bounds[b][1]], c, cfg, pure=False): b
                    for b in todo}
            for fut in as_completed(list(futs)):
                done[futs[fut]] = fut.result()
                bar.update(1)
                if ckpt is not None:
                    _save_checkpoint(ckpt, fp, done)
    except KeyboardInterrupt:
        kept = sum(bounds[b][1] - bounds[b][0] for b in done)
        warnings.warn(f"census interrupted: {kept} of {bounds[-1][1]} runs kept, none checked (pass checkpoint= "
                      "to resume)", RuntimeWarning, stacklevel=3)
        return done, False
    finally:
        bar.close()
    return done, True


def _assemble(done: dict[int, dict], bounds, starts: int, width: int, p: int):
    """Per-start arrays in start order from the batch results (NaN and "not-run" where missing)."""
    P = np.full((starts, width, p), np.nan)
    losses, residuals = np.full(starts, np.nan), np.full(starts, np.nan)
    steps, status = np.zeros(starts, dtype=np.int64), np.array(["not-run"] * starts, dtype=object)
    for b, r in done.items():
        lo, hi = bounds[b]
        P[lo:hi], losses[lo:hi], residuals[lo:hi] = r["P"], r["loss"], r["residual"]
        steps[lo:hi], status[lo:hi] = r["steps"], np.asarray(r["status"]).astype(str)
    return P, losses, residuals, steps, status.astype(str)


def _run_checks(prob, minima: list[Endpoint], c, options: dict, dclient, progress) -> None:
    """``mf.check`` on each family's representative, in process or as Dask tasks (reports set in place)."""
    with activate(progress_report(total=len(minima), desc="census checks", enabled=progress)) as bar:
        if dclient is None:
            for e in minima:
                e.report = _check_task(prob, e.measure.particles, c, options)
                bar.update(1)
            return
        from dask.distributed import as_completed

        pfut = dclient.scatter(prob, broadcast=True)
        futs = {dclient.submit(_check_task, pfut, e.measure.particles, c, options, pure=False): i
                for i, e in enumerate(minima)}
        for fut in as_completed(list(futs)):
            rep = fut.result()
            rep.problem = prob  # the worker's copy of the problem came back with the report
            minima[futs[fut]].report = rep
            bar.update(1)


# ============================================================================ the census
def census(prob: Problem, width: int, starts: int, *, init: str | Callable = "gaussian", seed: int = 0,
           method: str = "gd", dt: float = 0.1, tol: float = 1e-8, max_steps: int = 100_000,
           masses: Any = None, diverge: float = 1e4, batch: int = 100, dedupe_tol: float | None = None,
           check: bool = True, check_options: dict | None = None, client: Any = None,
           checkpoint: str | os.PathLike | None = None, progress: bool | None = None) -> Census:
    """Run ``starts`` flows of width ``width`` from random starts, group their endpoints up to symmetry, check each.

    Parameters
    ----------
    prob : Problem
        Sample data (square or logistic loss) or a Gaussian teacher with a closed-form kernel.
    width : int
        Number of particles $m$ of every run.
    starts : int
        Number of runs.
    init : str or callable
        One of :data:`INITS` ("gaussian", "fan-in", "ss18"), or ``init(rng, width) -> (width, p)``.
    seed : int
        Start $i$ draws from ``SeedSequence(seed).spawn(starts)[i]``; same seed, same table.
    method : {"gd", "adaptive"}
        The time stepper (:data:`METHODS`); both are explicit Euler steps of ``mf.flow``'s field.
    dt : float
        Step $h$ (the largest step for "adaptive").
    tol : float
        Stop a run when $\\max_{j: c_j \\ne 0}|\\nabla J_\\mu(\\theta_j)| \\le$ ``tol``.
    max_steps : int
        Steps after which a run stops as "max-steps".
    masses : (width,) array, optional
        Masses $c_j$ of every run (default $1/m$; Safran & Shamir's fixed output weights are ``np.ones(k)``).
    diverge : float
        "gd": a residual above this restarts the run with half the step.
    batch : int
        Starts per batch (one batched computation each; one Dask task each).
    dedupe_tol : float, optional
        Two endpoints are one family when their losses agree to $10^{-5}\\max(1, |L|)$ and their distance,
        aligned by the symmetries, is at most ``dedupe_tol`` (default
        $\\max(10^{-5}\\max(1, |\\Theta|_F), 10^3\\,$``tol``$)$: a run stopped at residual ``tol`` lies about
        ``tol``$/\\lambda_{\\min}$ from its critical point).
    check : bool
        Run :func:`mfsym.check` on one representative of each family.
    check_options : dict, optional
        Keyword arguments of :func:`mfsym.check` (default: its own, with ``seed=seed``).
    client : None, "local", str or dask.distributed.Client
        Where the batches and checks run: in process (None), a new 2-worker LocalCluster ("local"), a
        scheduler address, or a client.
    checkpoint : path, optional
        An ``.npz`` file rewritten after each batch; a census with the same settings resumes from it.
    progress : bool or None
        A progress report over the batches, then over the checks (None: on a terminal or in a notebook;
        True: always, as log lines off a terminal; False: never).

    Returns
    -------
    Census

    References
    ----------
    Safran & Shamir 2018 (arXiv 1712.08968), §4; their protocol: github.com/ItaySafran/OneLayerGDconvergence,
    GD_code/findBadMinima.m and findMinimum.m.
    """
    if not isinstance(prob, Problem):
        raise CensusError(f"prob: expected an mf.Problem, got {type(prob).__name__}")
    width = positive_int(width, "width", CensusError)
    starts = positive_int(starts, "starts", CensusError)
    seed = positive_int(seed, "seed", CensusError, minimum=0)
    if not callable(init) and init not in INITS:
        raise CensusError(f"init: expected one of {sorted(INITS)} or a callable init(rng, width), got {init!r}")
    if method not in METHODS:
        raise CensusError(f"method: expected one of {sorted(METHODS)}, got {method!r}")
    dt = positive_float(dt, "dt", CensusError)
    tol = positive_float(tol, "tol", CensusError)
    diverge = positive_float(diverge, "diverge", CensusError)
    if dedupe_tol is not None:
        dedupe_tol = positive_float(dedupe_tol, "dedupe_tol", CensusError)
    max_steps = positive_int(max_steps, "max_steps", CensusError)
    batch = positive_int(batch, "batch", CensusError)
    if not isinstance(check, bool):
        raise CensusError(f"check: expected True or False, got {check!r}")
    if progress is not None and not isinstance(progress, bool):
        raise CensusError(f"progress: expected True, False or None, got {progress!r}")
    if check_options is not None and not isinstance(check_options, dict):
        raise CensusError(f"check_options: expected a dict of mf.check keyword arguments, got "
                          f"{type(check_options).__name__}")
    c = masses_arg(masses, width)
    if prob.reg > 0 and np.any(c < 0):
        raise MeasureError("masses: a regulariser (reg > 0) needs nonnegative masses")
    kernel = _batched_kernel(prob)
    options = {"seed": seed, **(check_options or {})}
    settings = {"init": init if isinstance(init, str) else getattr(init, "__name__", "callable"), "seed": seed,
                "method": method, "dt": dt, "tol": tol, "max_steps": max_steps, "diverge": diverge,
                "dedupe_tol": dedupe_tol, "masses": c.tolist(),
                "check_options": {k: repr(v) for k, v in options.items()}}
    cfg = _FlowSettings(method, dt, tol, max_steps, diverge)
    P0 = _initial_particles(prob, width, starts, init, seed)
    bounds = [(lo, min(starts, lo + batch)) for lo in range(0, starts, batch)]
    ckpt = Path(checkpoint) if checkpoint is not None else None
    fp = _fingerprint(kernel, c, {k: v for k, v in settings.items() if k != "check_options"}, width, starts, batch)
    dclient, owned = _dask_client(client) if client is not None else (None, False)
    try:
        t0 = time.perf_counter()
        done, complete = _run_flows(kernel, P0, c, cfg, bounds, dclient, ckpt, fp, progress)
        t_flow = time.perf_counter() - t0
        P, losses, residuals, steps, status = _assemble(done, bounds, starts, width, prob.family.p)
        t1 = time.perf_counter()
        wslice = _coordinate_block(prob)
        symmetry = "neuron permutations" + (" and input-coordinate permutations" if wslice is not None else "")
        ran = np.flatnonzero(status != "not-run")
        order = ran[np.argsort(losses[ran], kind="stable")]  # the lowest-loss member represents its family
        groups = sorted(_group(P, losses, status, c, wslice, dedupe_tol, tol, order),
                        key=lambda g: (losses[g[0]], g[0]))
        minima = [Endpoint(rep, sorted(members), float(losses[rep]), float(residuals[rep]), str(status[rep]),
                           Measure(prob.family, P[rep], c), float(dist)) for rep, members, dist in groups]
        family = np.full(starts, -1, dtype=np.int64)
        for i, e in enumerate(minima):
            family[e.starts] = i
        t_dedupe = time.perf_counter() - t1
        t2 = time.perf_counter()
        if check and complete and minima:
            _run_checks(prob, minima, c, options, dclient, progress)
        t_check = time.perf_counter() - t2
    finally:
        if owned:
            cluster = getattr(dclient, "cluster", None)
            dclient.close()
            if cluster is not None:
                cluster.close()
    return Census(prob, width, starts, settings, losses, residuals, steps, status, P, family, minima, symmetry,
                  {"flows": t_flow, "dedupe": t_dedupe, "checks": t_check}, complete)
