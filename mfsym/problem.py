"""The mean-field problem $L(\\mu) = R(f_\\mu) + \\int V\\,d\\mu$ and its numeric derivatives (docs/mathematics.md)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._backend import LOSSES, Backend, SampleBackend
from ._errors import DataError, MeasureError
from ._types import FloatArray
from ._validate import as_float_array
from .data import Samples
from .families import Family
from .measure import Measure
from .population import GaussianTeacher


class Problem:
    """A family, data and a loss: $L(\\mu) = R(f_\\mu) + \\int \\frac{\\lambda}{2}|\\theta|^2 d\\mu(\\theta)$.

    Parameters
    ----------
    family : Family
    data : Samples or GaussianTeacher
        Finite samples, or a Gaussian population with a teacher measure.
    loss : {"square", "logistic"}
        $\\ell(f, y) = \\frac12|f - y|^2$ (default) or $\\log(1 + e^{-yf})$ (scalar, labels $\\pm 1$).
    reg : float
        Weight decay $\\lambda \\ge 0$: $V(\\theta) = \\frac{\\lambda}{2}|\\theta|^2$.
    """

    def __init__(self, family: Family, data: Any, loss: str = "square", reg: float = 0.0):
        if not isinstance(family, Family):
            raise DataError(f"family: expected an mfsym Family, got {type(family).__name__}")
        if loss not in LOSSES:
            raise DataError(f"loss: expected one of {LOSSES}, got {loss!r}")
        if isinstance(reg, bool) or not isinstance(reg, (int, float, np.floating, np.integer)) or not np.isfinite(reg) or reg < 0:
            raise DataError(f"reg: expected a finite number >= 0, got {reg!r}")
        self.family, self.data, self.loss_name, self.reg = family, data, loss, float(reg)
        if isinstance(data, Samples):
            data.bind(family)
            self.backend: Backend = SampleBackend(family, data, loss)
        elif isinstance(data, GaussianTeacher):
            self.backend = data.make_backend(family, loss)
        else:
            raise DataError(f"data: expected mf.Samples or mf.GaussianTeacher, got {type(data).__name__}")

    # ------------------------------------------------------------------ validation
    def _measure(self, mu: Any) -> Measure:
        if not isinstance(mu, Measure):
            raise MeasureError(f"mu: expected an mf.Measure, got {type(mu).__name__}")
        if mu.family.p != self.family.p or mu.family.blocks != self.family.blocks:
            raise MeasureError(f"mu: its family has blocks {mu.family.blocks}, the problem's has {self.family.blocks}")
        if mu.family is not self.family and mu.family.signature != self.family.signature:
            raise MeasureError(f"mu: its family is {mu.family!r}, the problem's is {self.family!r}")
        if self.reg > 0 and np.any(mu.masses < 0):
            raise MeasureError("mu: a regulariser (reg > 0) needs nonnegative masses: with signed masses "
                               "the penalty of the integral of V against mu is unbounded below; got "
                               f"{int(np.sum(mu.masses < 0))} negative mass(es)")
        return mu

    @staticmethod
    def _direction(mu: Measure, V: Any, name: str) -> FloatArray:
        V = as_float_array(V, name, MeasureError, ndim=2)
        if V.shape != mu.particles.shape:
            raise MeasureError(f"{name}: expected shape {mu.particles.shape} (one row per particle), got {V.shape}")
        return V

    def _queries(self, thetas: Any) -> FloatArray:
        return self.family.check_thetas(thetas)

    # ------------------------------------------------------------------ values
    def loss(self, mu: Measure) -> float:
        """$L(\\mu)$."""
        mu = self._measure(mu)
        val = self.backend.risk(mu.particles, mu.masses)
        if self.reg:
            val += 0.5 * self.reg * float(mu.masses @ np.sum(mu.particles**2, axis=1))
        return val

    def output_residual(self, mu: Measure) -> FloatArray:
        """$r_i = \\partial_f \\ell(f_\\mu(x_i), y_i)$ ``(n, k)`` (sample data only)."""
        mu = self._measure(mu)
        if not isinstance(self.backend, SampleBackend):
            raise DataError("output_residual: only defined for sample data (mf.Samples)")
        return self.backend.residual(mu.particles, mu.masses)

    def prediction(self, mu: Measure, X: Any | None = None) -> FloatArray:
        """$f_\\mu(x)$ at ``X`` ``(n, *input_shape)`` (default: the samples) -> ``(n, k)``."""
        mu = self._measure(mu)
        if X is None:
            if not isinstance(self.backend, SampleBackend):
                raise DataError("prediction: pass X for population data")
            return self.backend.prediction(mu.particles, mu.masses)
        X = as_float_array(X, "X", DataError)
        if X.shape[1:] != self.family.input_shape:
            raise DataError(f"X: expected shape (n, {self.family.input_shape}), got {X.shape}")
        return np.einsum("q,qnk->nk", mu.masses, self.family.phi(mu.particles, X))

    def _potential(self, mu: Measure, thetas: Any, order: int):
        mu, T = self._measure(mu), self._queries(thetas)
        J, G, H = self.backend.potential(mu.particles, mu.masses, T, order)
        if self.reg:
            J = J + 0.5 * self.reg * np.sum(T**2, axis=1)
            if G is not None:
                G = G + self.reg * T
            if H is not None:
                H = H + self.reg * np.eye(self.family.p)[None]
        return J, G, H

    def first_variation(self, mu: Measure, thetas: Any) -> FloatArray:
        """$J_\\mu(\\theta_q) = \\delta L / \\delta\\mu$ at ``thetas`` ``(Q, p)`` -> ``(Q,)``."""
        return self._potential(mu, thetas, 0)[0]

    def grad_potential(self, mu: Measure, thetas: Any) -> FloatArray:
        """$\\nabla_\\theta J_\\mu(\\theta_q)$ -> ``(Q, p)``."""
        return self._potential(mu, thetas, 1)[1]

    def velocity(self, mu: Measure, thetas: Any) -> FloatArray:
        """$v_\\mu(\\theta_q) = -\\nabla_\\theta J_\\mu(\\theta_q)$ -> ``(Q, p)``."""
        return -self.grad_potential(mu, thetas)

    def hessian_potential(self, mu: Measure, thetas: Any) -> FloatArray:
        """$\\nabla^2_\\theta J_\\mu(\\theta_q)$ -> ``(Q, p, p)``."""
        return self._potential(mu, thetas, 2)[2]

    def residual(self, mu: Measure) -> float:
        """Stationarity residual $\\max_{j: c_j \\ne 0} |\\nabla J_\\mu(\\theta_j)|$."""
        mu = self._measure(mu)
        G = self.grad_potential(mu, mu.particles)
        live = mu.masses != 0
        return float(np.max(np.linalg.norm(G[live], axis=1))) if live.any() else 0.0

    # ------------------------------------------------------------------ particle objective F(θ_1..θ_m)
    def particle_gradient(self, mu: Measure) -> FloatArray:
        """$\\partial F / \\partial\\theta_j = c_j \\nabla J_\\mu(\\theta_j)$ -> ``(m, p)``."""
        mu = self._measure(mu)
        return mu.masses[:, None] * self.grad_potential(mu, mu.particles)

    def particle_hessian(self, mu: Measure) -> FloatArray:
        """Dense $\\partial^2 F/\\partial\\theta_j\\partial\\theta_l = \\delta_{jl} c_j \\nabla^2 J(\\theta_j)
        + c_j c_l M(\\theta_j, \\theta_l)$ -> ``(m p, m p)``."""
        mu = self._measure(mu)
        m, p, c = mu.m, self.family.p, mu.masses
        Hj = self.hessian_potential(mu, mu.particles)
        M = self.backend.interaction(mu.particles, c)
        H = np.einsum("j,jalb,l->jalb", c, M, c)
        idx = np.arange(m)
        H[idx, :, idx, :] += c[:, None, None] * Hj
        H = H.reshape(m * p, m * p)
        return 0.5 * (H + H.T)

    def hvp(self, mu: Measure, V: Any) -> FloatArray:
        """Particle Hessian-vector product $H v$ for ``V`` ``(m, p)`` -> ``(m, p)``."""
        mu = self._measure(mu)
        V = self._direction(mu, V, "V")
        c = mu.masses
        Hj = self.hessian_potential(mu, mu.particles)
        out = c[:, None] * np.einsum("jab,jb->ja", Hj, V)
        out += c[:, None] * self.backend.interaction_matvec(mu.particles, c, c[:, None] * V)
        return out

    def meanfield_hessian(self, mu: Measure, U: Any) -> float:
        """Wasserstein Hessian quadratic form $\\int u^\\top\\nabla^2 J u\\,d\\mu + \\langle \\int\\nabla\\varphi u\\,d\\mu,
        \\partial^2\\ell \\int\\nabla\\varphi u\\,d\\mu\\rangle$ for a velocity field sampled at the particles ``U`` ``(m, p)``."""
        mu = self._measure(mu)
        U = self._direction(mu, U, "U")
        return float(np.sum(U * self.hvp(mu, U)))

    def __repr__(self) -> str:
        return f"Problem({self.family!r}, {self.data!r}, loss={self.loss_name!r}, reg={self.reg})"
