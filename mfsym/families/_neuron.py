"""The generic neuron $\\varphi = A\\,\\psi(\\eta; x)$ (or $\\psi$ alone) and its block-level chain rule.

Written once for every inner map (:mod:`._inner`): with $A \\in \\mathbb{R}^{k \\times q}$,

* $\\nabla_A \\sum_i u_i^\\top \\varphi_i = \\sum_i u_i \\psi_i^\\top$,
* $\\nabla_\\eta \\sum_i u_i^\\top \\varphi_i = \\sum_i \\partial_\\eta\\psi_i^\\top (A^\\top u_i)$,
* the $(A, A)$ Hessian block vanishes, the $(A, \\eta)$ block is $\\sum_i u_i \\otimes \\partial_\\eta \\psi_i$.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from .._errors import FamilyError
from .._validate import positive_int
from ._base import Componentwise, Family, with_capabilities
from ._inner import InnerMap


class NeuronFamily(Family):
    """$\\varphi(\\theta; x) = A\\,\\psi(\\eta; x)$ with output block ``outer`` (or $\\psi$ when ``outer`` is None)."""

    def __init__(self, name: str, inner: InnerMap, outer: str | None, outputs: int,
                 references: tuple[str, ...] = (), degree: int | None = None, scalar_outer: bool = False,
                 **settings):
        self.name = name
        self.inner_map = inner
        self.outer = outer
        self.inner = tuple(inner.blocks)
        self.references = references
        self.settings = settings
        q = inner.dim
        if outer is None:
            blocks = dict(inner.blocks)
            out_dim = q
        else:
            shape = () if scalar_outer else (outputs,) if q == 1 else (outputs, q)
            blocks = {outer: shape, **inner.blocks}
            out_dim = outputs
        if degree is not None:
            self.degree = degree
        self._q = q
        self._kq = 0 if outer is None else outputs * q
        super().__init__(blocks, inner.input_shape, out_dim)

    # ------------------------------------------------------------------ helpers
    def _split(self, thetas):
        Q = thetas.shape[0]
        A = None if self.outer is None else thetas[:, : self._kq].reshape(Q, self.out_dim, self._q)
        return A, thetas[:, self._kq:]

    def feature(self, etas, X):
        """$\\psi(\\eta_q; x_i)$ for inner parameters ``(Q, p_eta)`` -> ``(Q, n, q)``."""
        return self.inner_map.value(np.asarray(etas, dtype=float), X)

    # ------------------------------------------------------------------ kernels
    def phi(self, thetas, X):
        A, eta = self._split(thetas)
        psi = self.inner_map.value(eta, X)
        return psi if A is None else np.einsum("qkj,qnj->qnk", A, psi, optimize=True)

    def jacobian(self, thetas, X):
        A, eta = self._split(thetas)
        Jpsi = self.inner_map.jacobian(eta, X)
        if A is None:
            return Jpsi
        Q, n = Jpsi.shape[:2]
        J = np.zeros((Q, n, self.out_dim, self.p))
        psi = self.inner_map.value(eta, X)
        for c in range(self.out_dim):
            J[:, :, c, c * self._q:(c + 1) * self._q] = psi
        J[..., self._kq:] = np.einsum("qkj,qnjp->qnkp", A, Jpsi, optimize=True)
        return J

    def _inner_weights(self, A, U, Q):
        if A is None:
            return np.broadcast_to(U[None], (Q,) + U.shape)
        return np.einsum("qkj,nk->qnj", A, U, optimize=True)

    def vjp(self, thetas, X, U):
        A, eta = self._split(thetas)
        W = self._inner_weights(A, U, thetas.shape[0])
        if A is None:
            return self.inner_map.vjp(eta, X, W)
        psi, g_eta = self.inner_map.value_and_vjp(eta, X, W)
        g_A = np.einsum("nk,qnj->qkj", U, psi, optimize=True).reshape(thetas.shape[0], -1)
        return np.concatenate([g_A, g_eta], axis=1)

    def hessian_contract(self, thetas, X, U):
        A, eta = self._split(thetas)
        Q = thetas.shape[0]
        H_ee = self.inner_map.hessian_contract(eta, X, self._inner_weights(A, U, Q))
        if A is None:
            return H_ee
        H = np.zeros((Q, self.p, self.p))
        kq = self._kq
        H[:, kq:, kq:] = H_ee
        cross = np.einsum("nc,qnjp->qcjp", U, self.inner_map.jacobian(eta, X), optimize=True).reshape(Q, kq, -1)
        H[:, :kq, kq:] = cross
        H[:, kq:, :kq] = np.swapaxes(cross, 1, 2)
        return H

    def jvp(self, thetas, X, V):
        """$D\\varphi(\\theta_q; x_i)[v_q] = V_A\\psi + A\\,\\partial_\\eta\\psi\\, v_\\eta$ -> ``(Q, n, k)``."""
        A, eta = self._split(thetas)
        VA, Veta = self._split(V)
        if A is None:
            return self.inner_map.jvp(eta, X, Veta)
        psi, dpsi = self.inner_map.value_and_jvp(eta, X, Veta)
        # batched matmuls, (Q, n, q) x (Q, q, k): no einsum path search per call
        return np.matmul(psi, VA.transpose(0, 2, 1)) + np.matmul(dpsi, A.transpose(0, 2, 1))

    def hvp_contract(self, thetas, X, U, V):
        """$\\sum_{i,c} u_{ic}\\nabla^2\\varphi_c(\\theta_q; x_i)\\, v_q$ without a $p \\times p$ Hessian -> ``(Q, p)``.

        The forward derivative of :meth:`vjp` along $v = (V_A, v_\\eta)$: the $A$ rows are
        $\\sum_i u_i (\\partial_\\eta\\psi_i v_\\eta)^\\top$, the $\\eta$ rows
        $\\sum_i \\nabla^2_\\eta\\langle A^\\top u_i, \\psi_i\\rangle v_\\eta + \\partial_\\eta\\psi_i^\\top V_A^\\top u_i$.
        """
        A, eta = self._split(thetas)
        VA, Veta = self._split(V)
        Q = thetas.shape[0]
        if A is None:
            return self.inner_map.hvp_contract(eta, X, self._inner_weights(A, U, Q), Veta)
        return self.hvp_and_vjp(thetas, X, U, V, None)

    def hvp_and_vjp(self, thetas, X, U, V, U2):
        """``hvp_contract(thetas, X, U, V) + vjp(thetas, X, U2)`` from one evaluation of the inner map
        (``U2`` None: the first term alone); both are linear in the inner map's weights."""
        A, eta = self._split(thetas)
        VA, Veta = self._split(V)
        Q = thetas.shape[0]
        if A is None:
            W = self._inner_weights(A, U, Q)
            W2 = self._inner_weights(None, U2 if U2 is not None else np.zeros_like(U), Q)
            h_eta, _, _, g = self.inner_map.hvp_parts(eta, X, W, Veta, W2)
            return h_eta + g
        # inner weights A^T u_i as batched matmuls (n, k) x (Q, k, q) -> (Q, n, q)
        W = np.matmul(U, A)
        W2 = np.matmul(U, VA) if U2 is None else np.matmul(U, VA) + np.matmul(U2, A)
        h_eta, psi, dpsi, g = self.inner_map.hvp_parts(eta, X, W, Veta, W2)
        h_A = np.matmul(U.T, dpsi)
        if U2 is not None:
            h_A = h_A + np.matmul(U2.T, psi)
        return np.concatenate([h_A.reshape(Q, -1), h_eta + g], axis=1)

    # ------------------------------------------------------------------ symbolic ground truth
    def componentwise(self):
        if getattr(self, "_declared", None) is not None:
            return self._declared
        params, theta = {}, []
        for key, shape in self.blocks.items():
            if shape == ():
                s = sp.Symbol(key, real=True)
                params[key], flat = s, [s]
            elif len(shape) == 1:
                m = sp.Matrix(shape[0], 1, lambda i, _: sp.Symbol(f"{key}_{i}", real=True))
                params[key], flat = m, list(m)
            else:
                m = sp.Matrix(*shape, lambda i, j: sp.Symbol(f"{key}_{i}{j}", real=True))
                params[key], flat = m, list(m)  # row-major, as numpy reshape
            theta += flat
        if len(self.input_shape) == 1:
            x = sp.Matrix(self.input_shape[0], 1, lambda i, _: sp.Symbol(f"x_{i}", real=True))
        else:
            x = sp.Matrix(*self.input_shape, lambda i, j: sp.Symbol(f"X_{i}{j}", real=True))
        psi = self.inner_map.componentwise(params, x)
        if self.outer is None:
            expr = psi
        else:
            A = params[self.outer]
            A = sp.Matrix([A]) if not isinstance(A, sp.MatrixBase) else A
            A = A.reshape(self.out_dim, self._q)
            expr = A * psi
        return Componentwise(params, {"x": x}, expr, theta, list(x))


def make_family(name: str, inner: InnerMap, outputs: int, outer: str = "a", degree: int | None = None,
                references: tuple[str, ...] = (), scalar_outer: bool = False, declared: Componentwise | None = None,
                **settings) -> NeuronFamily:
    """Build a :class:`NeuronFamily` whose capability types follow from ``outputs``, ``degree`` and the map.

    ``outputs = 0`` drops the output block (the masses carry the sign); ``degree`` is the homogeneity
    degree of $\\psi$ in $\\eta$ (None when $\\psi$ is not homogeneous); a trained output block adds 1.
    :class:`BoundedFeature` is added when the inner map proves $\\psi$ bounded
    (:meth:`InnerMap.boundedness`). ``declared``: the user's componentwise neuron, for a family
    recognised from :func:`~mfsym.families.from_expr` (kept as its componentwise ground truth).
    """
    outputs = positive_int(outputs, "outputs", FamilyError, minimum=0)
    has_outer = outputs > 0
    total = None if degree is None else degree + (1 if has_outer else 0)
    bounded, reason = inner.boundedness() if has_outer else (None, "")
    cls = with_capabilities(NeuronFamily, has_outer, total is not None, bounded is True)
    fam = cls(name, inner, outer if has_outer else None, outputs, references=references, degree=total,
              scalar_outer=scalar_outer, **settings)
    fam.bound_reason = reason
    fam._declared = declared
    return fam
