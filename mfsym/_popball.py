r"""Ball enclosures of the closed-form Gaussian-population kernels and their derivatives (python-flint arb).

The formulas are the sympy ones of :mod:`mfsym.population` (one source): the partial derivatives of
$k(\alpha, \beta, \gamma)$, $\alpha = |u|^2$, $\beta = |v|^2$, $\gamma = u^\top v$, and for relu the Hessian
coefficients in the frame $e_1 = u/|u|$, $e_2 = v_\perp/|v_\perp|$, $v_\perp = v - (v^\top e_1)e_1$, in which
sympy cancels every $1/\sin t$ (:attr:`~mfsym.population._RidgeGaussianKernel.frame_coefficients`). They
are compiled once into ball programs (:class:`~mfsym._ball.Program`) whose inputs are the invariants
$(\alpha, \beta, \gamma, s, t)$, with $s = \sqrt{\alpha\beta - \gamma^2} = |u||v_\perp|$ and
$t = \angle(u, v) = \operatorname{atan2}(s, \gamma)$ computed here without cancellation:

* $|v_\perp|$ from the orthogonal component (not from $\alpha\beta - \gamma^2$), clamped to $[0, |v|]$, and
  $\gamma$ clamped to $[-|u||v|, |u||v|]$ (the cosine of the angle in $[-1, 1]$);
* $t = \arctan(s/\gamma)$ for $\gamma > 0$, $\pi - \arctan(s/|\gamma|)$ for $\gamma < 0$ (no branch cut at
  $s = 0$: near-parallel and near-antiparallel pairs have finite, tight enclosures), clamped to $[0, \pi]$;
* $e_2$ entries clamped to $[-1, 1]$ (the whole interval when $|v_\perp|$ is not provably $> 0$): every
  term in $e_2$ carries a coefficient that vanishes with $s$, so the enclosure stays rigorous and tight;
* the self-interaction $k(u, u)$ (``v=None``: the same point in both arguments, as in $K(\theta_j, \theta_j)$)
  in exact form: $\gamma = \alpha = \beta$ the same ball, $s = t = 0$ exact (for relu $k = |u|^2/2$,
  $\nabla_u k = u/2$, $\nabla^2_u k = 0$, $\nabla_u\nabla_v^\top k = I/2$), where the generic formula is $0/0$.

relu is not differentiable at $u = 0$ or $v = 0$: there the value is enclosed by $0 \le k \le |u||v|/2$ and
derivatives raise :class:`~mfsym._ball.Undecided`.
"""

from __future__ import annotations

import functools
from typing import Sequence

import flint
import sympy as sp

from ._ball import Program, Undecided
from ._errors import CertificateError

__all__ = ["kernel_balls", "pair_balls", "kernel_kind"]

_T = sp.Symbol("t", nonnegative=True)
_GENERIC2 = ("aa", "ab", "ac", "bc", "cc")
_FRAME2 = ("h11", "h12", "h22", "x11", "x12", "x21", "x22")


def _kernels() -> dict:
    from .population import CLOSED_FORMS

    return {kern.name: kern for kern in CLOSED_FORMS.values()}


def kernel_kind(family) -> str | None:
    """``"relu"`` or ``"erf"`` for a family with a closed-form Gaussian kernel, else None."""
    from .population import _closed_form

    kern = _closed_form(family)
    return None if kern is None else kern.name


@functools.lru_cache(maxsize=None)
def _program(kind: str, order: int, same: bool = False) -> tuple[Program, tuple[str, ...]]:
    """The ball program of the keys needed at ``order`` (inputs alpha, beta, gamma, s, t); ``same``: on the
    diagonal $u = v$, simplified exactly by sympy with $\\beta = \\gamma = \\alpha$, $s = t = 0$."""
    from .population import _A, _B, _C, _S

    kernels = _kernels()
    if kind not in kernels:
        raise CertificateError(f"kind: expected one of {sorted(kernels)}, got {kind!r}")
    kern = kernels[kind]
    exprs = dict(kern.partials)
    keys = ["k"] + (["a", "b", "c"] if order >= 1 else [])
    if order >= 2:
        if kern.frame:
            exprs.update(kern.frame_coefficients)
            keys += list(_FRAME2)
        else:
            keys += list(_GENERIC2)
    out = [sp.sympify(exprs[key]).subs(sp.atan2(_S, _C), _T) for key in keys]
    if same:
        out = [sp.simplify(e.subs({_S: 0, _T: 0}).subs({_B: _A, _C: _A})) for e in out]
    return Program(out, [_A, _B, _C, _S, _T]), tuple(keys)


def _dot(x: Sequence, y: Sequence) -> flint.arb:
    return sum((a * b for a, b in zip(x, y)), flint.arb(0))


def _angle(s: flint.arb, gamma: flint.arb) -> flint.arb:
    """$\\operatorname{atan2}(s, \\gamma)$ for $s \\ge 0$, without the branch cut at $s = 0$, in $[0, \\pi]$."""
    pi = flint.arb.pi()
    if gamma > 0:
        t = (s / gamma).atan()
    elif gamma < 0:
        t = pi - (s / (-gamma)).atan()
    elif s > 0:
        t = flint.arb.atan2(s, gamma)
    else:
        raise Undecided("angle of a pair whose invariants s and gamma both contain 0 (a zero vector in the box)")
    return t.intersection(pi / 2 + flint.arb(0, 1) * pi / 2)


def _clamp(x: flint.arb, lo: flint.arb, hi: flint.arb) -> flint.arb:
    """``x`` intersected with the interval ``[lo, hi]`` (known to contain the true value)."""
    return x.intersection(lo.union(hi))


def kernel_balls(kind: str, u: Sequence[flint.arb], v: Sequence[flint.arb] | None = None, order: int = 0) -> dict:
    r"""The Gaussian kernel $k(u, v) = \mathbb{E}_{x\sim N(0, I)}[\sigma(u^\top x)\sigma(v^\top x)]$ and its
    derivatives as balls valid for every point of the ball vectors ``u``, ``v``.

    Parameters
    ----------
    kind : {"relu", "erf"}
        The closed form (arc-cosine kernel of degree 1; Williams' arcsin kernel for ``erf``).
    u, v : sequences of ``flint.arb`` of length d
        The first (differentiated) and second argument; ``v=None``: the same point as ``u`` (self-interaction).
    order : {0, 1, 2}

    Returns
    -------
    dict
        ``"k"``: arb; order >= 1: ``"g"`` $= \nabla_u k$, ``"gv"`` $= \nabla_v k$ (lists of d arb); order 2:
        ``"h"`` $= \nabla^2_u k$, ``"x"`` $= \nabla_u \nabla_v^\top k$ ($x_{ab} = \partial^2 k/\partial u_a
        \partial v_b$), d x d nested lists. For ``v=None`` the derivatives are in each argument separately,
        evaluated on the diagonal.
    """
    if order not in (0, 1, 2):
        raise CertificateError(f"order: expected 0, 1 or 2, got {order!r}")
    u = list(u)
    d = len(u)
    same = v is None
    v = u if same else list(v)
    if len(v) != d:
        raise CertificateError(f"v: expected {d} balls like u, got {len(v)}")
    relu = kind == "relu"
    alpha = _dot(u, u)
    if same:
        beta = gamma = alpha
        s = t = flint.arb(0)
    else:
        beta, gamma = _dot(v, v), _dot(u, v)
    nu, nv = alpha.nonnegative_part().sqrt(), beta.nonnegative_part().sqrt()
    if relu and not (nu > 0 and nv > 0):
        if order == 0:  # 0 <= k <= |u||v|/2 (Cauchy-Schwarz, E relu(u.x)^2 = |u|^2/2)
            return {"k": flint.arb(0).union(flint.arb((nu * nv).upper()) / 2)}
        raise Undecided("relu kernel: a ball of weights contains 0 (the kernel is not differentiable there)")
    e1 = e2 = None
    if not same:
        if relu:
            e1 = [ui / nu for ui in u]
            c1 = _dot(v, e1)
            vp = [vi - c1 * ei for vi, ei in zip(v, e1)]
            rp = _clamp(_dot(vp, vp).nonnegative_part().sqrt(), flint.arb(0), flint.arb(nv.upper()))
            s = nu * rp
            gamma = _clamp(gamma, -flint.arb((nu * nv).upper()), flint.arb((nu * nv).upper()))
            one = flint.arb(0, 1)
            e2 = [_clamp(x / rp, -flint.arb(1), flint.arb(1)) for x in vp] if rp > 0 else [one] * d
        else:
            s = (alpha * beta - gamma * gamma).nonnegative_part().sqrt()  # unused by the erf formulas
        t = _angle(s, gamma) if relu else flint.arb(0)
    prog, keys = _program(kind, order, same)
    P = dict(zip(keys, prog([alpha, beta, gamma, s, t])))
    out = {"k": P["k"]}
    if order == 0:
        return out
    out["g"] = [2 * P["a"] * ui + P["c"] * vi for ui, vi in zip(u, v)]
    out["gv"] = [2 * P["b"] * vi + P["c"] * ui for ui, vi in zip(u, v)]
    if order == 1:
        return out
    zero = flint.arb(0)
    eye = [[flint.arb(1) if i == j else zero for j in range(d)] for i in range(d)]
    if relu:
        if same:  # every frame coefficient is an exact 0 at s = t = 0: only the identity terms remain
            h = [[2 * P["a"] * eye[i][j] for j in range(d)] for i in range(d)]
            x = [[P["c"] * eye[i][j] for j in range(d)] for i in range(d)]
        else:
            h = [[2 * P["a"] * eye[i][j] + P["h11"] * e1[i] * e1[j] + P["h12"] * (e1[i] * e2[j] + e2[i] * e1[j])
                  + P["h22"] * e2[i] * e2[j] for j in range(d)] for i in range(d)]
            x = [[P["c"] * eye[i][j] + P["x11"] * e1[i] * e1[j] + P["x12"] * e1[i] * e2[j]
                  + P["x21"] * e2[i] * e1[j] + P["x22"] * e2[i] * e2[j] for j in range(d)] for i in range(d)]
            for i in range(d):  # e2_i^2 in [0, 1], also when e2 is unknown
                sq = _clamp(e2[i] * e2[i], zero, flint.arb(1))
                h[i][i] = 2 * P["a"] + P["h11"] * e1[i] * e1[i] + 2 * P["h12"] * e1[i] * e2[i] + P["h22"] * sq
                x[i][i] = P["c"] + P["x11"] * e1[i] * e1[i] + (P["x12"] + P["x21"]) * e1[i] * e2[i] + P["x22"] * sq
    else:
        h = [[2 * P["a"] * eye[i][j] + 4 * P["aa"] * u[i] * u[j] + 2 * P["ac"] * (u[i] * v[j] + v[i] * u[j])
              + P["cc"] * v[i] * v[j] for j in range(d)] for i in range(d)]
        x = [[P["c"] * eye[i][j] + 4 * P["ab"] * u[i] * v[j] + 2 * P["ac"] * u[i] * u[j] + 2 * P["bc"] * v[i] * v[j]
              + P["cc"] * v[i] * u[j] for j in range(d)] for i in range(d)]
    out["h"], out["x"] = h, x
    return out


def pair_balls(family, theta: Sequence[flint.arb], src: Sequence[flint.arb] | None = None, order: int = 0) -> dict:
    r"""The pair kernel $K(\theta, \theta') = (a^\top a')\,k(w, w')$ of a bias-free relu/erf ridge family (packed
    coordinates, ``p`` of them) and its derivatives, as balls.

    Parameters
    ----------
    family : Family
        A family with a closed-form Gaussian kernel (output weights ``a`` optional).
    theta, src : sequences of ``flint.arb`` of length p
        $\theta$ (differentiated) and $\theta'$; ``src=None``: $\theta' = \theta$, the same point.
    order : {0, 1, 2}

    Returns
    -------
    dict
        ``"K"``; order >= 1: ``"g"`` $= \nabla_\theta K$, ``"gs"`` $= \nabla_{\theta'} K$ (p); order 2: ``"h"``
        $= \nabla^2_\theta K$ and ``"x"`` $= \nabla_\theta\nabla_{\theta'}^\top K$ (p x p nested lists).
    """
    kind = kernel_kind(family)
    if kind is None:
        raise CertificateError(f"family: no closed-form Gaussian kernel for {family!r}")
    theta = list(theta)
    same = src is None
    src = theta if same else list(src)
    p = family.p
    if len(theta) != p or len(src) != p:
        raise CertificateError(f"theta, src: expected {p} balls each, got {len(theta)} and {len(src)}")
    sw = family.block_slice("w")
    iw = list(range(p))[sw]
    kb = kernel_balls(kind, theta[sw], None if same else src[sw], order)
    zero = flint.arb(0)
    if family.outer is None:
        aa, ia, a, a2 = flint.arb(1), [], [], []
    else:
        ia = list(range(p))[family.block_slice(family.outer)]
        a, a2 = [theta[i] for i in ia], [src[i] for i in ia]
        aa = _dot(a, a2)
    out = {"K": aa * kb["k"]}
    if order == 0:
        return out
    g, gs = [zero] * p, [zero] * p
    for n, i in enumerate(iw):
        g[i], gs[i] = aa * kb["g"][n], aa * kb["gv"][n]
    for n, i in enumerate(ia):
        g[i], gs[i] = kb["k"] * a2[n], kb["k"] * a[n]
    out["g"], out["gs"] = g, gs
    if order == 1:
        return out
    h = [[zero] * p for _ in range(p)]
    x = [[zero] * p for _ in range(p)]
    for n1, i in enumerate(iw):
        for n2, j in enumerate(iw):
            h[i][j] = aa * kb["h"][n1][n2]
            x[i][j] = aa * kb["x"][n1][n2]
    for n1, i in enumerate(ia):
        x[i][i] = kb["k"]
        for n2, j in enumerate(iw):
            # d2K/da_i dw_j = a'_i dk/dw_j; d2K/dw_j da'_i = a_i dk/dw_j; d2K/da_i dw'_j = a'_i dk/dw'_j
            h[i][j] = h[j][i] = a2[n1] * kb["g"][n2]
            x[j][i] = a[n1] * kb["g"][n2]
            x[i][j] = a2[n1] * kb["gv"][n2]
    out["h"], out["x"] = h, x
    return out
