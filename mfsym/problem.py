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

BACKENDS = ("numpy", "jax")


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
    backend : {"numpy", "jax"}
        Array backend of the data integrals: numpy (default), or jit-compiled JAX (sample data; needs
        ``pip install mfsym[jax]``, switches JAX's float64 mode on; see mfsym._jax and docs/dynamics.md).
    """

    def __init__(self, family: Family, data: Any, loss: str = "square", reg: float = 0.0, backend: str = "numpy"):
        if not isinstance(family, Family):
            raise DataError(f"family: expected an mfsym Family, got {type(family).__name__}")
        if loss not in LOSSES:
            raise DataError(f"loss: expected one of {LOSSES}, got {loss!r}")
        if isinstance(reg, bool) or not isinstance(reg, (int, float, np.floating, np.integer)) or not np.isfinite(reg) or reg < 0:
            raise DataError(f"reg: expected a finite number >= 0, got {reg!r}")
        if not isinstance(backend, str) or backend not in BACKENDS:
            raise DataError(f"backend: expected one of {BACKENDS}, got {backend!r}")
        if backend == "jax" and not isinstance(data, Samples):
            raise DataError(f"backend: 'jax' supports sample data (mf.Samples), got {type(data).__name__}; "
                            "use backend='numpy'")
        self.family, self.data, self.loss_name, self.reg = family, data, loss, float(reg)
        self.backend_name = backend
        if isinstance(data, Samples) and backend == "jax":
            from ._jax import JaxSampleBackend  # imports jax only now

            data.bind(family)
            self.backend: Backend = JaxSampleBackend(family, data, loss)
        elif isinstance(data, Samples):
            data.bind(family)
            self.backend = SampleBackend(family, data, loss)
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
        if mu.offset is not None and not (isinstance(self.backend, SampleBackend) and self.loss_name == "square"):
            raise MeasureError(f"mu: an output bias (offset) is supported for sample data (mf.Samples) with the square "
                               f"loss; this problem has {type(self.data).__name__} data and loss {self.loss_name!r}")
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

    @staticmethod
    def _bias(mu: Measure) -> dict:
        """The backend keyword of the output bias (none without one: population backends take no offset)."""
        return {} if mu.offset is None else {"offset": mu.offset}

    # ------------------------------------------------------------------ values
    def loss(self, mu: Measure) -> float:
        """$L(\\mu)$."""
        mu = self._measure(mu)
        val = self.backend.risk(mu.particles, mu.masses, **self._bias(mu))
        if self.reg:
            val += 0.5 * self.reg * float(mu.masses @ np.sum(mu.particles**2, axis=1))
        return val

    def output_residual(self, mu: Measure) -> FloatArray:
        """$r_i = \\partial_f \\ell(f_\\mu(x_i), y_i)$ ``(n, k)`` (sample data only)."""
        mu = self._measure(mu)
        if not isinstance(self.backend, SampleBackend):
            raise DataError("output_residual: only defined for sample data (mf.Samples)")
        return self.backend.residual(mu.particles, mu.masses, **self._bias(mu))

    def prediction(self, mu: Measure, X: Any | None = None) -> FloatArray:
        """$f_\\mu(x)$ at ``X`` ``(n, *input_shape)`` (default: the samples) -> ``(n, k)``."""
        mu = self._measure(mu)
        if X is None:
            if not isinstance(self.backend, SampleBackend):
                raise DataError("prediction: pass X for population data")
            return self.backend.prediction(mu.particles, mu.masses, **self._bias(mu))
        X = as_float_array(X, "X", DataError)
        if X.shape[1:] != self.family.input_shape:
            raise DataError(f"X: expected shape (n, {self.family.input_shape}), got {X.shape}")
        f = np.einsum("q,qnk->nk", mu.masses, self.family.phi(mu.particles, X))
        return f if mu.offset is None else f + mu.offset

    def _potential(self, mu: Measure, thetas: Any, order: int):
        mu, T = self._measure(mu), self._queries(thetas)
        J, G, H = self.backend.potential(mu.particles, mu.masses, T, order, **self._bias(mu))
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
        """Stationarity residual $\\max_{j: c_j \\ne 0} |\\nabla J_\\mu(\\theta_j)|$ (and $|\\partial_\\beta L|$ with an
        output bias $\\beta$: the larger of the two)."""
        mu = self._measure(mu)
        G = self.grad_potential(mu, mu.particles)
        live = mu.masses != 0
        val = float(np.max(np.linalg.norm(G[live], axis=1))) if live.any() else 0.0
        if mu.offset is not None:
            val = max(val, float(np.linalg.norm(self.offset_gradient(mu))))
        return val

    def offset_gradient(self, mu: Measure) -> FloatArray:
        """$\\partial L/\\partial\\beta = \\frac1n\\sum_i r_i$, the mean residual ``(k,)``: the gradient in an output
        bias $\\beta$ (sample data)."""
        return np.mean(self.output_residual(mu), axis=0)

    def stationarity_weights(self, mu: Measure) -> tuple[FloatArray, float]:
        """Weights of the scale-free stationarity residual :meth:`relative_residual`: ``W`` ``(m, blocks)`` with
        $W_{jB} = |c_j|\\,s_B / S^2$ and $w_\\beta = S / S^2$ (0 without an output bias).

        $s_B$ is the root-mean-square over particles with $c_j \\ne 0$ of $|\\theta_{j,B}|$ (a block that is zero
        everywhere takes the root-mean-square of all coordinates, else 1); $S^2 = 2R(0)$, the loss scale of the
        labels ($\\frac1n\\sum_i|y_i|^2$ for the square loss; 1 if it vanishes).
        """
        mu = self._measure(mu)
        scales, S = self.weight_scales(mu)
        W = np.abs(mu.masses)[:, None] * scales[None, :] / S**2
        W[mu.masses == 0] = 0.0
        return W, (S / S**2 if mu.offset is not None else 0.0)

    def weight_scales(self, mu: Measure) -> tuple[FloatArray, float]:
        """The scales of :meth:`stationarity_weights`: $s_B$ per block ``(blocks,)`` and the label scale $S$."""
        mu = self._measure(mu)
        fam, P, c = self.family, mu.particles, mu.masses
        live = c != 0
        Pl = P[live] if live.any() else P
        everything = float(np.sqrt(np.mean(Pl**2)))
        scales = []
        for key in fam.blocks:
            sB = float(np.sqrt(np.mean(np.sum(Pl[:, fam.block_slice(key)] ** 2, axis=1))))
            scales.append(sB if sB > 0 else (everything if everything > 0 else 1.0))
        S2 = 2.0 * float(self.backend.risk(P, np.zeros_like(c)))
        return np.array(scales), float(np.sqrt(S2)) if S2 > 0 else 1.0

    def relative_residual(self, mu: Measure) -> float:
        """Stationarity residual free of conventions: $\\max(\\max_{j,B} W_{jB}|\\nabla_{\\theta_B} J_\\mu(\\theta_j)|,
        w_\\beta|\\partial_\\beta L|)$ with the weights of :meth:`stationarity_weights`.

        $|c_j|\\,s_B|\\nabla_B J(\\theta_j)| = s_B|\\partial F/\\partial\\theta_{j,B}|$ is the first-order change of the
        loss when block $B$ of particle $j$ moves by its own scale, divided by the loss scale $S^2$: the value
        does not change when the masses and output weights trade a factor ($c \\to c/t$, $a \\to t a$), when
        the inputs are rescaled (with the inner weights), or when labels and outputs are scaled together.
        """
        mu = self._measure(mu)
        W, wb = self.stationarity_weights(mu)
        G = self.grad_potential(mu, mu.particles)
        fam = self.family
        norms = np.stack([np.linalg.norm(G[:, fam.block_slice(k)], axis=1) for k in fam.blocks], axis=1)
        val = float(np.max(W * norms)) if W.size else 0.0
        if mu.offset is not None:
            val = max(val, wb * float(np.linalg.norm(self.offset_gradient(mu))))
        return val

    def profiled_offset(self, mu: Measure) -> FloatArray:
        """The optimal output bias $\\beta^*(\\theta) = \\frac1n\\sum_i (y_i - \\sum_j c_j\\varphi(\\theta_j; x_i))$ ``(k,)``
        (square loss): $\\min_\\beta F(\\theta, \\beta)$ is attained there."""
        mu = self._measure(mu)
        if mu.offset is None:
            raise MeasureError("mu: has no output bias (offset) to profile")
        return mu.offset - self.offset_gradient(mu)

    def _bias_coupling(self, mu: Measure) -> FloatArray:
        """$\\partial^2 F/\\partial\\theta_j\\partial\\beta = \\frac{c_j}{n}\\sum_i\\nabla\\varphi(\\theta_j; x_i)^\\top$ as
        ``(m p, k)`` (square loss, where $\\partial^2 F/\\partial\\beta^2 = I_k$)."""
        fam, X, n = self.family, self.data.X, self.data.n
        cols = []
        for a in range(fam.out_dim):
            U = np.zeros((n, fam.out_dim))
            U[:, a] = 1.0 / n
            cols.append((mu.masses[:, None] * fam.vjp(mu.particles, X, U)).ravel())
        return np.stack(cols, axis=1)

    # ------------------------------------------------------------------ particle objective F(θ_1..θ_m)
    def particle_gradient(self, mu: Measure) -> FloatArray:
        """$\\partial F / \\partial\\theta_j = c_j \\nabla J_\\mu(\\theta_j)$ -> ``(m, p)``."""
        mu = self._measure(mu)
        return mu.masses[:, None] * self.grad_potential(mu, mu.particles)

    def particle_hessian(self, mu: Measure) -> FloatArray:
        """Dense $\\partial^2 F/\\partial\\theta_j\\partial\\theta_l = \\delta_{jl} c_j \\nabla^2 J(\\theta_j)
        + c_j c_l M(\\theta_j, \\theta_l)$ -> ``(m p, m p)``.

        With an output bias $\\beta$: the Hessian of the profiled objective $\\tilde F(\\theta) = \\min_\\beta
        F(\\theta, \\beta)$, i.e. at $\\beta^*(\\theta)$ (:meth:`profiled_offset`) the Schur complement
        $H - B B^\\top$ of the joint Hessian ($B$ = :meth:`_bias_coupling`, $\\partial^2_\\beta F = I$); it has the
        joint Hessian's inertia on the particles, so minima and saddles are classified jointly.
        """
        mu = self._measure(mu)
        if mu.offset is not None:
            mu = mu.copy(offset=self.profiled_offset(mu))
            Bc = self._bias_coupling(mu)
            return self._hessian_at_fixed_bias(mu) - Bc @ Bc.T
        return self._hessian_at_fixed_bias(mu)

    def _hessian_at_fixed_bias(self, mu: Measure) -> FloatArray:
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
        Bc = None
        if mu.offset is not None:  # the profiled Hessian, as in particle_hessian
            mu = mu.copy(offset=self.profiled_offset(mu))
            Bc = self._bias_coupling(mu)
        c = mu.masses
        out = self.backend.hvp(mu.particles, c, V, **self._bias(mu))  # matrix-free for samples (mfsym._backend)
        if Bc is not None:
            out = out - (Bc @ (Bc.T @ V.ravel())).reshape(V.shape)
        if self.reg:
            out = out + self.reg * c[:, None] * V
        return out

    def meanfield_hessian(self, mu: Measure, U: Any) -> float:
        """Wasserstein Hessian quadratic form $\\int u^\\top\\nabla^2 J u\\,d\\mu + \\langle \\int\\nabla\\varphi u\\,d\\mu,
        \\partial^2\\ell \\int\\nabla\\varphi u\\,d\\mu\\rangle$ for a velocity field sampled at the particles ``U`` ``(m, p)``."""
        mu = self._measure(mu)
        U = self._direction(mu, U, "U")
        return float(np.sum(U * self.hvp(mu, U)))

    def __repr__(self) -> str:
        tail = "" if self.backend_name == "numpy" else f", backend={self.backend_name!r}"
        return f"Problem({self.family!r}, {self.data!r}, loss={self.loss_name!r}, reg={self.reg}{tail})"
