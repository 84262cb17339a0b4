"""Float-rigorous enclosures: numpy float64 with a priori rounding-error bounds (no ball arithmetic).

Where python-flint balls are too slow (the stationarity residual and $v^\\top H v$ cost
$O(m n p)$ scalar ball operations), the same quantities are computed in float64 with numpy and each
result is given a radius that provably covers every rounding error, in the midpoint-radius interval
arithmetic of Rump (1999). The model (IEEE 754 binary64, round to nearest, $u = 2^{-53}$, underflow
unit $\\eta = 2^{-1074}$): $\\mathrm{fl}(a \\circ b) = (a \\circ b)(1 + \\delta) + \\epsilon$ with
$|\\delta| \\le u$, $|\\epsilon| \\le \\eta$ (Higham 2002, §2.2); a length-$K$ dot product computed in any
order (BLAS blocking, FMA) has $|\\mathrm{fl}(a^\\top b) - a^\\top b| \\le \\gamma_K |a|^\\top|b| + K\\eta$,
$\\gamma_K = Ku / (1 - Ku)$ (Higham 2002, Thm 3.5 and §3.1 with underflow). Each computed radius is
itself rounded upwards by :func:`_up` (a factor covering the roundings of its own evaluation, then one
ulp). Nothing here calls a libm function whose error is not bounded by the model: the kernels are
written for activations built from $+, -, \\times$, $\\max(0, \\cdot)$ (relu) and the Heaviside step;
other families return ``None`` from :func:`supports` and keep the ball-arithmetic path.

References
----------
S. M. Rump, "Fast and parallel interval arithmetic", BIT 39 (1999) 534-554 (midpoint-radius products).
N. J. Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed., SIAM 2002, ch. 2-3 ($\\gamma_n$).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp

from .._types import FloatArray
from ..families import NeuronFamily, Ridge, Z

U = 2.0**-53  # unit roundoff of binary64, round to nearest
ETA = 2.0**-1074  # smallest subnormal: the absolute error of a product that underflows


class FloatUndecided(Exception):
    """A float-rigorous evaluation met a point it cannot decide (e.g. a relu kink inside the enclosure)."""


def gamma(n: int) -> float:
    """$\\gamma_n = n u / (1 - n u)$, rounded up (Higham 2002, Lemma 3.1)."""
    nu = n * U
    if nu >= 0.5:
        raise FloatUndecided(f"gamma_{n}: n u >= 1/2, the a priori bound does not apply")
    return float(np.nextafter(nu / (1.0 - nu) * (1.0 + 4 * U), np.inf))


def _up(x: FloatArray, ops: int = 4) -> FloatArray:
    """An upper bound of the exact value of a nonnegative float expression evaluated with ``ops``
    roundings: $\\mathrm{fl}(x)(1 + u)^{ops} + ops\\,\\eta \\le$ the result (one ulp more after rounding)."""
    factor = 1.0 + 2.0 * (ops + 2) * U  # exactly representable; (1+u)^ops (1+u) <= factor for small ops
    return np.nextafter(np.asarray(x, dtype=float) * factor + (ops + 2) * ETA, np.inf)


@dataclass(frozen=True)
class FBall:
    """Midpoint-radius enclosures ``[mid - rad, mid + rad]`` of arrays of reals (``rad >= 0``)."""

    mid: FloatArray
    rad: FloatArray

    @staticmethod
    def exact(x, rad: float = 0.0) -> "FBall":
        """Floats taken exactly (with an optional common radius, e.g. a box of particles)."""
        x = np.asarray(x, dtype=float)
        return FBall(x, np.full(x.shape, float(rad)))

    def mag(self) -> FloatArray:
        """An upper bound of $|x|$ over the ball."""
        return _up(np.abs(self.mid) + self.rad, 1)

    def lower(self) -> FloatArray:
        """A lower bound of every point of the ball."""
        return np.nextafter(self.mid - self.rad, -np.inf)

    def upper(self) -> FloatArray:
        """An upper bound of every point of the ball."""
        return np.nextafter(self.mid + self.rad, np.inf)

    def __add__(self, other: "FBall") -> "FBall":
        mid = self.mid + other.mid
        return FBall(mid, _up(self.rad + other.rad + U * np.abs(mid), 3))

    def __sub__(self, other: "FBall") -> "FBall":
        mid = self.mid - other.mid
        return FBall(mid, _up(self.rad + other.rad + U * np.abs(mid), 3))

    def __mul__(self, other: "FBall") -> "FBall":
        """Elementwise product (broadcasting)."""
        mid = self.mid * other.mid
        rad = (np.abs(self.mid) * other.rad + self.rad * (np.abs(other.mid) + other.rad) + U * np.abs(mid))
        return FBall(mid, _up(rad + ETA, 8))

    def scale(self, t: float) -> "FBall":
        """Multiplication by an exact float ``t``."""
        mid = self.mid * t
        return FBall(mid, _up(self.rad * abs(t) + U * np.abs(mid) + ETA, 3))

    def divide(self, n: int) -> "FBall":
        """Division by a positive integer ``n`` (exact as a float)."""
        mid = self.mid / n
        return FBall(mid, _up(self.rad / n + U * np.abs(mid) + ETA, 3))

    def __matmul__(self, other: "FBall") -> "FBall":
        """Matrix product: $|\\mathrm{fl}(A_m B_m) - A_m B_m| \\le \\gamma_K\\, |A_m||B_m| / (1-\\gamma_K) + K\\eta$ from the
        computed $\\mathrm{fl}(|A_m||B_m|)$, plus the radii $|A_m| B_r + A_r(|B_m| + B_r)$ (Rump 1999, Thm 2.1)."""
        K = self.mid.shape[-1]
        g = gamma(K + 2)
        mid = self.mid @ other.mid
        absA = np.abs(self.mid)
        err = absA @ np.abs(other.mid)
        # exact |A||B| <= fl(|A||B|) / (1 - g), and g / (1 - g) <= 2 g, 1 / (1 - g) <= 1 + 2 g for g <= 1/2
        rad = err * (2.0 * g)
        if np.any(other.rad):
            rad = rad + (absA @ other.rad) * (1.0 + 2.0 * g)
        if np.any(self.rad):
            rad = rad + (self.rad @ (np.abs(other.mid) + other.rad)) * (1.0 + 2.0 * g)
        return FBall(mid, _up(rad + (K + 2) * ETA, 8))

    def sum(self, axis: int) -> "FBall":
        """Sum along ``axis`` ($\\gamma_{K-1}$ recursive-summation bound, any order)."""
        K = self.mid.shape[axis]
        g = gamma(K + 1)
        mid = self.mid.sum(axis=axis)
        rad = self.rad.sum(axis=axis) * (1.0 + 2.0 * g) + np.abs(self.mid).sum(axis=axis) * (2.0 * g)
        return FBall(mid, _up(rad, 6))

    def relu(self) -> "FBall":
        """$\\max(0, x)$: exact where the sign is decided, the hull $[0, x_{hi}]$ where the ball straddles 0."""
        lo, hi = self.lower(), self.upper()
        pos, neg = lo > 0, hi < 0
        mid = np.where(pos, self.mid, np.where(neg, 0.0, hi / 2))
        rad = np.where(pos, self.rad, np.where(neg, 0.0, _up(hi / 2, 1)))
        return FBall(mid, rad)

    def step(self) -> "FBall":
        """Heaviside $1[x > 0]$: 1 or 0 where decided, $[0, 1]$ where the ball straddles 0 (as the ball bridge)."""
        lo, hi = self.lower(), self.upper()
        pos, neg = lo > 0, hi < 0
        und = ~(pos | neg)
        return FBall(np.where(pos, 1.0, np.where(neg, 0.0, 0.5)), np.where(und, 0.5, 0.0))

    def straddles_zero(self) -> np.ndarray:
        """Where the ball contains 0 (undecided sign)."""
        return ~((self.lower() > 0) | (self.upper() < 0))

    def norm_bounds(self, axis: int) -> tuple[FloatArray, FloatArray]:
        """Lower and upper bounds of the Euclidean norm along ``axis``."""
        K = self.mid.shape[axis]
        hi_sq = _up(np.sum(self.mag() ** 2, axis=axis), 2 * K + 2)
        lo_el = np.nextafter(np.maximum(np.abs(self.mid) - self.rad, 0.0), -np.inf).clip(min=0.0)
        # computed sum of squares >= exact (1 - gamma_{2K}); one more rounding of the product, then an ulp down
        lo_sq = np.nextafter(np.sum(lo_el**2, axis=axis) * (1.0 - 2.0 * gamma(2 * K + 2)), -np.inf).clip(min=0.0)
        return np.nextafter(np.sqrt(lo_sq), -np.inf).clip(min=0.0), np.nextafter(np.sqrt(hi_sq), np.inf)


# ---------------------------------------------------------------------------- supported problems
@dataclass(frozen=True)
class ReluModel:
    """The neuron $\\varphi_c = a_c\\,\\max(0, w^\\top x + b)$ (``outer`` columns) or $\\max(0, w^\\top x + b)$."""

    outer: slice | None
    inner: slice
    bias: bool
    k: int


def supports(prob, mu=None) -> ReluModel | None:
    """The float-rigorous model of ``prob`` when it has one: sample data, the square loss and a ridge
    family whose activation is $\\max(0, z)$ (checked on its sympy expression); ``None`` otherwise."""
    from ..data import Samples

    fam = prob.family
    if not isinstance(prob.data, Samples) or prob.loss_name != "square":
        return None
    if mu is not None and getattr(mu, "offset", None) is not None:
        return None
    if not isinstance(fam, NeuronFamily) or not isinstance(fam.inner_map, Ridge):
        return None
    if sp.simplify(fam.inner_map.activation.expr - sp.Max(0, Z)) != 0:
        return None
    outer = fam.block_slice(fam.outer) if fam.outer is not None else None
    eta0 = outer.stop if outer is not None else 0
    return ReluModel(outer, slice(eta0, fam.p), bool(fam.inner_map.bias), fam.out_dim)


class FloatProblem:
    """Float-rigorous residuals, $\\nabla J_\\mu$ at the particles and $v^\\top H v$ for a relu network.

    Parameters
    ----------
    prob : Problem
        With sample data, the square loss and a relu ridge family (:func:`supports`).
    particles : (m, p) array, masses : (m,) array
    radius : float
        Every particle coordinate ranges over ``[x - radius, x + radius]`` (0: the point itself).
    """

    def __init__(self, prob, particles, masses, radius: float = 0.0):
        model = supports(prob)
        if model is None:
            raise FloatUndecided("no float-rigorous kernel for this family, loss or data")
        self.model, self.prob = model, prob
        X = prob.data.X.reshape(prob.data.n, -1)
        self.n = X.shape[0]
        self.Xa = np.concatenate([X, np.ones((self.n, 1))], axis=1) if model.bias else X
        self.Y = FBall.exact(prob.data.Y)
        self.live = np.flatnonzero(np.asarray(masses) != 0)
        P = np.asarray(particles, dtype=float)[self.live]
        self.c = FBall.exact(np.asarray(masses, dtype=float)[self.live])
        self.P = FBall.exact(P, radius)
        self.reg = float(prob.reg)
        W = FBall(self.P.mid[:, model.inner], self.P.rad[:, model.inner])
        self.Z = W @ FBall.exact(self.Xa.T)  # (m, n) preactivations
        self.S = self.Z.relu()
        self.A = (FBall(self.P.mid[:, model.outer], self.P.rad[:, model.outer]) if model.outer is not None
                  else FBall.exact(np.ones((P.shape[0], model.k))))  # (m, k)
        cA = self.A * FBall(self.c.mid[:, None], self.c.rad[:, None])
        F = FBall(self.S.mid.T, self.S.rad.T) @ cA  # (n, k) network output
        self.R = F - self.Y  # residuals r_i = f(x_i) - y_i

    def grad_potential(self) -> FBall:
        """$\\nabla J_\\mu(\\theta_j)$ at the live particles: ``(m_live, p)`` enclosures."""
        md = self.model
        Rn = self.R.divide(self.n)
        blocks = []
        if md.outer is not None:
            blocks.append(self.S @ Rn)  # (m, k): sum_i s_ji r_ic / n
        H = self.Z.step()
        AR = self.A @ FBall(Rn.mid.T, Rn.rad.T)  # (m, n): sum_c a_jc r_ic / n
        blocks.append((H * AR) @ FBall.exact(self.Xa))  # (m, p_eta)
        G = FBall(np.concatenate([b.mid for b in blocks], axis=1), np.concatenate([b.rad for b in blocks], axis=1))
        if self.reg:
            G = G + self.P.scale(self.reg)
        return G

    def relative_residual(self, W: FloatArray) -> tuple[float, float]:
        """Bounds ``(lo, hi)`` of $\\max_{j,B} W_{jB}|\\nabla_B J_\\mu(\\theta_j)|$ for float weights ``W``
        ``(m, blocks)`` taken exactly (``Problem.stationarity_weights``; live particles only)."""
        if self.live.size == 0:
            return 0.0, 0.0
        fam = self.prob.family
        G = self.grad_potential()
        Wl = np.asarray(W, dtype=float)[self.live]
        lo_all, hi_all = [], []
        for b, key in enumerate(fam.blocks):
            s = fam.block_slice(key)
            lo, hi = FBall(G.mid[:, s], G.rad[:, s]).norm_bounds(axis=1)
            lo_all.append(np.nextafter(Wl[:, b] * lo, -np.inf).clip(min=0.0))
            hi_all.append(np.nextafter(Wl[:, b] * hi, np.inf))
        return float(np.max(lo_all)), float(np.max(hi_all))

    def stationarity(self) -> tuple[float, float]:
        """Bounds ``(lo, hi)`` of $\\max_{j: c_j\\ne0}|\\nabla J_\\mu(\\theta_j)|$."""
        if self.live.size == 0:
            return 0.0, 0.0
        lo, hi = self.grad_potential().norm_bounds(axis=1)
        return float(lo.max()), float(hi.max())

    def quadratic_form(self, V: FloatArray) -> tuple[float, float]:
        """Bounds ``(lo, hi)`` of $v^\\top H v$ for a direction ``V`` ``(m, p)`` of floats (taken exactly).

        $v^\\top H v = \\sum_j c_j[\\frac1n\\sum_i\\langle r_i, D^2_v\\varphi_{ji}\\rangle + \\lambda|v_j|^2]
        + \\frac1n\\sum_i|\\sum_j c_j D_v\\varphi_{ji}|^2$ with $D_v\\varphi_c = \\dot a_c s + a_c h\\,\\dot z$,
        $D^2_v\\varphi_c = 2\\dot a_c h\\,\\dot z$ ($s = \\max(0, z)$, $h = 1[z > 0]$, $\\dot z = \\dot w^\\top x$);
        the relu's Dirac term is 0 where the sign of $z$ is decided and undecided otherwise.
        """
        md = self.model
        V = np.asarray(V, dtype=float)[self.live]
        moving = np.any(V != 0, axis=1)
        if np.any(self.Z.straddles_zero()[moving]):
            raise FloatUndecided("a relu kink lies inside the enclosure of a preactivation (DiracDelta at a ball "
                                 "containing 0)")
        Vw = FBall.exact(V[:, md.inner])
        Vb = FBall.exact(V[:, md.outer]) if md.outer is not None else None
        Zd = Vw @ FBall.exact(self.Xa.T)  # (m, n) directional preactivations
        H = self.Z.step()
        HZd = H * Zd
        cc = FBall(self.c.mid[:, None], self.c.rad[:, None])
        # D_v phi_{j i c} = Va_jc s_ji + a_jc h_ji zdot_ji; interaction t_ic = sum_j c_j D_v phi_{jic}
        CA = self.A * cc
        T = FBall(HZd.mid.T, HZd.rad.T) @ CA
        if Vb is not None:
            T = T + FBall(self.S.mid.T, self.S.rad.T) @ (Vb * cc)
        quad = (T * T).sum(axis=1).sum(axis=0).divide(self.n)
        total = quad
        if Vb is not None:
            # sum_j c_j (1/n) sum_i <r_i, 2 Va_j> h_ji zdot_ji
            Rn = self.R.divide(self.n)
            VR = (Vb * cc) @ FBall(Rn.mid.T, Rn.rad.T)  # (m, n): sum_c c_j Va_jc r_ic / n
            total = total + (VR * HZd).sum(axis=1).sum(axis=0).scale(2.0)
        if self.reg:
            vsq = (FBall.exact(V) * FBall.exact(V)).sum(axis=1)
            total = total + (vsq * self.c).sum(axis=0).scale(self.reg)
        return float(total.lower()), float(total.upper())


# ---------------------------------------------------------------------------- policy
#: above this many (live particle, sample) pairs a supported problem is enclosed float-rigorously; below it
#: python-flint balls (tighter, and the reference the float bounds are tested against) are used
FLOAT_ABOVE = 20_000


def method_for(prob, mu) -> str:
    """``"float-rigorous"`` for a supported problem (:func:`supports`) above :data:`FLOAT_ABOVE` pairs, else ``"arb"``."""
    from ..data import Samples

    if not isinstance(prob.data, Samples) or supports(prob, mu) is None:
        return "arb"
    live = int(np.count_nonzero(np.asarray(mu.masses) != 0))
    return "float-rigorous" if live * prob.data.n > FLOAT_ABOVE else "arb"


def as_ball(lo: float, hi: float):
    """A python-flint ball containing ``[lo, hi]`` (midpoint exact, radius rounded up)."""
    import flint

    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise FloatUndecided("a float-rigorous bound overflowed")
    mid = 0.5 * lo + 0.5 * hi
    rad = float(np.nextafter(max(hi - mid, mid - lo), np.inf))
    return flint.arb(mid, rad)
