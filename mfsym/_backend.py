"""Data backends: how a Problem integrates over the data (finite samples or a population).

A backend provides the data-fit part $R(f_\\mu)$ and the data part of the first variation
$J_\\mu(\\theta) = \\int \\langle \\partial\\ell(f_\\mu(x), y), \\varphi(\\theta; x)\\rangle$ with its
derivatives, and the interaction kernel $M(\\theta, \\theta') = \\int \\nabla\\varphi(\\theta; x)^\\top
\\partial^2\\ell\\, \\nabla\\varphi(\\theta'; x)$ of the particle Hessian. The regulariser is added by the
Problem.
"""

from __future__ import annotations

import abc

import numpy as np
import scipy.special as sps

from ._errors import DataError
from ._types import FloatArray
from .data import Samples
from .families import OutputLinear

LOSSES = ("square", "logistic")


class Backend(abc.ABC):
    """Integrals over the data for one family and loss."""

    @abc.abstractmethod
    def risk(self, P: FloatArray, c: FloatArray) -> float:
        """$R(f_\\mu)$ for particles ``P`` ``(m, p)`` and masses ``c`` ``(m,)``."""

    @abc.abstractmethod
    def potential(self, P: FloatArray, c: FloatArray, T: FloatArray, order: int) -> tuple:
        """Data part of $J_\\mu$ at ``T`` ``(Q, p)``: ``(J (Q,), grad (Q, p) or None, hess (Q, p, p) or None)``.

        ``order`` 0, 1 or 2 says how many derivatives are wanted.
        """

    @abc.abstractmethod
    def interaction(self, P: FloatArray, c: FloatArray) -> FloatArray:
        """$M(\\theta_j, \\theta_l)$: ``(m, p, m, p)``."""

    def interaction_matvec(self, P: FloatArray, c: FloatArray, V: FloatArray) -> FloatArray:
        """$\\sum_l M(\\theta_j, \\theta_l) v_l$ for ``V`` ``(m, p)`` -> ``(m, p)`` (default: dense)."""
        return np.einsum("jalb,lb->ja", self.interaction(P, c), V)

    def hvp(self, P: FloatArray, c: FloatArray, V: FloatArray) -> FloatArray:
        """Data part of the particle Hessian-vector product: $c_j\\nabla^2 J(\\theta_j) v_j
        + c_j\\sum_l M(\\theta_j, \\theta_l) c_l v_l$ for ``V`` ``(m, p)`` -> ``(m, p)`` (default: dense)."""
        H = self.potential(P, c, P, 2)[2]
        return c[:, None] * (np.einsum("jab,jb->ja", H, V) + self.interaction_matvec(P, c, c[:, None] * V))


def _chunks(Q: int, per_row: int, budget: int = 1 << 20):
    step = max(1, budget // max(per_row, 1))
    for start in range(0, Q, step):
        yield slice(start, min(Q, start + step))


class SampleBackend(Backend):
    """Empirical averages $\\frac1n\\sum_i$ over :class:`~mfsym.data.Samples`."""

    def __init__(self, family, data: Samples, loss: str):
        self.family, self.X, self.Y, self.loss = family, data.X, data.Y, loss
        self.n = data.n
        if loss == "logistic":
            if family.out_dim != 1:
                raise DataError(f"loss: 'logistic' needs a scalar-output family, {family.name} has {family.out_dim} outputs")
            if not np.all(np.isin(self.Y, (-1.0, 1.0))):
                raise DataError("Y: the logistic loss expects labels in {-1, +1}")
        self._per_row = self.n * (family.out_dim + int(np.prod(family.input_shape)) + family.p)

    def prediction(self, P: FloatArray, c: FloatArray, offset: FloatArray | None = None) -> FloatArray:
        """$f_\\mu(x_i)$ (plus the output bias ``offset`` ``(k,)`` if given): ``(n, k)``."""
        # one-entry memo keyed on the values of (P, c): a flow step asks for the loss and then the
        # velocity at the same particles (mfsym.dynamics.flow)
        memo = getattr(self, "_memo", None)
        if memo is not None and np.array_equal(memo[0], P) and np.array_equal(memo[1], c):
            return memo[2].copy() if offset is None else memo[2] + offset
        out = np.zeros((self.n, self.family.out_dim))
        for s in _chunks(P.shape[0], self._per_row):
            out += np.einsum("q,qnk->nk", c[s], self.family.phi(P[s], self.X))
        self._memo = (P.copy(), c.copy(), out.copy())
        return out if offset is None else out + offset

    def residual(self, P: FloatArray, c: FloatArray, offset: FloatArray | None = None) -> FloatArray:
        """$r_i = \\partial_f \\ell(f_\\mu(x_i), y_i)$: ``(n, k)``."""
        f = self.prediction(P, c, offset)
        if self.loss == "square":
            return f - self.Y
        return -self.Y * sps.expit(-self.Y * f)

    def curvature(self, P: FloatArray, c: FloatArray, offset: FloatArray | None = None) -> FloatArray:
        """$\\partial^2_f \\ell$ per sample as a ``(n, k)`` diagonal."""
        if self.loss == "square":
            return np.ones((self.n, self.family.out_dim))
        f = self.prediction(P, c, offset)
        return sps.expit(f) * sps.expit(-f)

    def risk(self, P, c, offset=None):
        f = self.prediction(P, c, offset)
        if self.loss == "square":
            return float(0.5 * np.sum((f - self.Y) ** 2) / self.n)
        return float(np.mean(np.logaddexp(0.0, -self.Y * f)))

    def potential(self, P, c, T, order, offset=None):
        Un = self.residual(P, c, offset) / self.n
        fam, Q = self.family, T.shape[0]
        J = np.empty(Q)
        G = np.empty((Q, fam.p)) if order >= 1 else None
        H = np.empty((Q, fam.p, fam.p)) if order >= 2 else None
        # phi is linear in the output block A, so J = <A, dJ/dA> once the gradient is known (saves a pass)
        outer = fam.block_slice(fam.outer) if isinstance(fam, OutputLinear) and order >= 1 else None
        for s in _chunks(Q, self._per_row * (1 + (fam.p if order >= 2 else 0))):
            if order >= 1:
                G[s] = fam.vjp(T[s], self.X, Un)
            if outer is None:
                J[s] = np.einsum("qnk,nk->q", fam.phi(T[s], self.X), Un)
            else:
                J[s] = np.einsum("qa,qa->q", T[s, outer], G[s, outer])
            if order >= 2:
                H[s] = fam.hessian_contract(T[s], self.X, Un)
        return J, G, H

    def hvp(self, P, c, V, offset=None):
        # matrix-free (Pearlmutter 1994): the interaction is a jvp then a vjp, the potential part a forward
        # derivative of the vjp fused with the interaction vjp (Family.hvp_and_vjp); two passes over the
        # particles, never a (p, p) block per particle
        fam, X = self.family, self.X
        Un = self.residual(P, c, offset) / self.n
        t = np.zeros((self.n, fam.out_dim))
        for s in _chunks(P.shape[0], self._per_row):
            t += np.tensordot(c[s], fam.jvp(P[s], X, V[s]), axes=1)
        Wn = self.curvature(P, c, offset) * t / self.n
        out = np.empty_like(P)
        for s in _chunks(P.shape[0], self._per_row):
            out[s] = fam.hvp_and_vjp(P[s], X, Un, V[s], Wn)
        return c[:, None] * out

    def interaction(self, P, c):
        Jac = self.family.jacobian(P, self.X)  # (m, n, k, p)
        D = self.curvature(P, c) / self.n
        return np.einsum("jnka,nk,lnkb->jalb", Jac, D, Jac, optimize=True)

    def interaction_matvec(self, P, c, V):
        Jac = self.family.jacobian(P, self.X)
        t = np.einsum("lnkb,lb->nk", Jac, V, optimize=True)
        D = self.curvature(P, c) / self.n
        return np.einsum("jnka,nk->ja", Jac, D * t, optimize=True)
