"""The JAX array backend: ``mf.Problem(family, samples, backend="jax")`` (``pip install mfsym[jax]``).

The forward map $\\varphi(\\theta; x)$ is built once in ``jax.numpy`` from the family's own declaration:
the inner map's kind (a ridge $\\sigma(w^\\top x + b)$, a separable kernel $\\prod_j\\kappa(x_j - t_j)$, softmax
attention) with the activation's or profile's sympy expression lambdified for JAX, the block chain rule
$A\\,\\psi(\\eta; x)$ of the output-linear neurons, or the componentwise sympy expression of a
:func:`~mfsym.families.from_expr` neuron. Every derivative (the particle gradient, the velocity, the
Hessian-vector product as a jvp of the gradient, the interaction kernel) is then JAX's automatic
differentiation of that one forward map, jit-compiled (XLA) with the particles, masses, directions and
data as arguments (a new shape compiles once; nothing is constant-folded).

JAX is imported when the first JAX-backed problem is built, never by ``import mfsym``, and that switches
JAX's float64 mode on for the process (``jax_enable_x64``): mfsym's numerics are float64 throughout.
"""

from __future__ import annotations

import functools

import numpy as np
import sympy as sp

from ._backend import SampleBackend, _chunks
from ._errors import FamilyError
from ._validate import optional_import
from .families import NeuronFamily, Ridge, SeparableKernel, SoftmaxAttention, U, Z
from .families._inner import stabilize
from .families.custom import CustomFamily


@functools.lru_cache(maxsize=None)
def require_jax():
    """Import JAX (one line naming the extra when it is missing) and switch its float64 mode on."""
    jax = optional_import("jax", "jax", "the JAX backend (backend='jax')")
    jax.config.update("jax_enable_x64", True)
    return jax


@functools.lru_cache(maxsize=None)
def _modules() -> tuple:
    jax = require_jax()
    jnp = jax.numpy

    def heaviside(z, h0=0.0):  # the numpy kernels' step: 0 at the origin unless a value is given
        return jnp.where(z > 0, 1.0, jnp.where(z < 0, 0.0, h0))

    # ties of max/min go to the first argument (sympy's Max(0, z): the derivative at z = 0 is 0, as the
    # numpy kernels' Heaviside(0) = 0), never jnp.maximum's half-and-half subgradient
    table = {"Heaviside": heaviside, "maximum": lambda a, b: jnp.where(b > a, b, a),
             "minimum": lambda a, b: jnp.where(b < a, b, a), "erf": jax.scipy.special.erf,
             "erfc": jax.scipy.special.erfc, "softplus": jax.nn.softplus, "expit": jax.nn.sigmoid}
    return (table, "jax")


def jax_function(args: list, exprs):
    """``sympy.lambdify(args, exprs, modules="jax")`` of stabilised expressions (softplus/expit rewritten, Dirac
    terms dropped: they vanish almost everywhere)."""
    single = not isinstance(exprs, (list, tuple))
    clean = [stabilize(sp.sympify(e).replace(sp.DiracDelta, lambda *a: sp.S.Zero)) for e in ([exprs] if single else exprs)]
    return sp.lambdify(args, clean[0] if single else clean, modules=list(_modules()))


# ---------------------------------------------------------------------------------------------- forward maps
def _inner_forward(inner):
    """$\\psi(\\eta_q; x_i)$ of an inner map in jax.numpy: ``(Q, p_eta)``, ``(n, ...)`` -> ``(Q, n, q)``."""
    jnp = require_jax().numpy
    if isinstance(inner, Ridge):
        sigma = jax_function([Z], inner.activation.expr)

        def ridge(eta, X):
            z = eta[:, : inner.d] @ X.T
            if inner.bias:
                z = z + eta[:, inner.d, None]
            return jnp.broadcast_to(sigma(z), z.shape)[..., None]

        return ridge
    if isinstance(inner, SeparableKernel):
        kappa = jax_function([U], inner.profile)

        def kernel(eta, X):
            u = X[None, :, :] - eta[:, None, :]
            return jnp.prod(jnp.broadcast_to(kappa(u), u.shape), axis=-1)[..., None]

        return kernel
    if isinstance(inner, SoftmaxAttention):
        d = inner.d

        def attention(eta, X):  # psi = X^T softmax(X W x_q), x_q the last token
            s = jnp.einsum("ntd,qde,ne->qnt", X, eta.reshape(-1, d, d), X[:, -1, :])
            p = jax_softmax(s)
            return jnp.einsum("qnt,ntd->qnd", p, X)

        jax_softmax = require_jax().nn.softmax
        return attention
    raise FamilyError(f"backend: 'jax' has no forward map for the inner map {type(inner).__name__}; "
                      "use backend='numpy'")


def forward(family):
    """$\\varphi(\\theta_q; x_i)$ in jax.numpy from the family's declaration: ``(Q, p)``, ``(n, ...)`` -> ``(Q, n, k)``."""
    jnp = require_jax().numpy
    if isinstance(family, NeuronFamily):
        psi = _inner_forward(family.inner_map)
        if family.outer is None:
            return psi
        kq = family.block_slice(family.outer).stop    # the output block comes first
        k, q = family.out_dim, family.inner_map.dim

        def neuron(P, X):  # A psi(eta; x), A = (k, q)
            A = P[:, :kq].reshape(-1, k, q)
            return jnp.einsum("qkj,qnj->qnk", A, psi(P[:, kq:], X))

        return neuron
    if isinstance(family, CustomFamily):
        cw = family.componentwise()
        f = jax_function(cw.theta + cw.x, list(cw.expr))
        p = family.p

        def custom(P, X):
            Xf = X.reshape(X.shape[0], -1)
            args = [P[:, j, None] for j in range(p)] + [Xf[None, :, j] for j in range(Xf.shape[1])]
            shape = (P.shape[0], X.shape[0])
            return jnp.stack([jnp.broadcast_to(v, shape) for v in f(*args)], axis=-1)

        return custom
    raise FamilyError(f"backend: 'jax' builds the forward map of a NeuronFamily or a from_expr family, got "
                      f"{type(family).__name__}; use backend='numpy'")


# ---------------------------------------------------------------------------------------------- backend
class JaxSampleBackend(SampleBackend):
    """Empirical averages over :class:`~mfsym.data.Samples`, every kernel a jit-compiled JAX function of one
    forward map (see the module docstring); results are returned as numpy arrays."""

    def __init__(self, family, data, loss: str):
        super().__init__(family, data, loss)
        jax = require_jax()
        jnp = jax.numpy
        self._jax = jax
        phi = forward(family)
        self._Xj, self._Yj = jnp.asarray(self.X), jnp.asarray(self.Y)
        k, n, logistic = family.out_dim, self.n, loss == "logistic"

        def risk(f, Y):
            if logistic:
                return jnp.mean(jnp.logaddexp(0.0, -Y * f))
            return 0.5 * jnp.sum((f - Y) ** 2) / n

        def predict(P, c, off, X):
            return jnp.einsum("q,qnk->nk", c, phi(P, X)) + off

        def objective(P, c, off, X, Y):  # F(theta_1..theta_m) = R(f_mu)
            return risk(predict(P, c, off, X), Y)

        def residual(P, c, off, X, Y):  # r_i / n = d R / d f_i
            return jax.grad(risk)(predict(P, c, off, X), Y)

        def curvature(P, c, off, X, Y):  # the (n, k) diagonal of d^2 R / d f^2, times n
            f = predict(P, c, off, X)
            return n * jax.grad(lambda f: jnp.sum(jax.grad(risk)(f, Y)))(f)

        def potential(T, Un, X):  # J(theta_q) = sum_i <u_i, phi(theta_q; x_i)>: (Q,), (Q, p)
            vals, pull = jax.vjp(lambda T: phi(T, X), T)
            return jnp.einsum("qnk,nk->q", vals, Un), pull(jnp.broadcast_to(Un, vals.shape))[0]

        def hessian(T, Un, X):
            one = lambda t: jnp.sum(phi(t[None], X)[0] * Un)  # noqa: E731
            return jax.vmap(jax.hessian(one))(T)

        def hvp(P, c, off, V, X, Y):  # Pearlmutter: the forward derivative of the particle gradient
            return jax.jvp(lambda Q: jax.grad(objective)(Q, c, off, X, Y), (P,), (V,))[1]

        def interaction(P, c, off, X, Y):
            Jac = jax.vmap(jax.jacfwd(lambda t: phi(t[None], X)[0]))(P)     # (m, n, k, p)
            D = curvature(P, c, off, X, Y) / n
            return jnp.einsum("jnka,nk,lnkb->jalb", Jac, D, Jac)

        def interaction_matvec(P, c, off, V, X, Y):
            t = jax.jvp(lambda Q: predict(Q, jnp.ones_like(c), jnp.zeros_like(off), X), (P,), (V,))[1]
            D = curvature(P, c, off, X, Y) / n
            vals, pull = jax.vjp(lambda Q: phi(Q, X), P)
            return pull(jnp.broadcast_to(D * t, vals.shape))[0]

        jit = jax.jit
        self._fn = {"predict": jit(predict), "objective": jit(objective), "residual": jit(residual),
                    "curvature": jit(curvature), "potential0": jit(lambda T, Un, X: jnp.einsum("qnk,nk->q", phi(T, X), Un)),
                    "potential1": jit(potential), "hessian": jit(hessian), "hvp": jit(hvp),
                    "interaction": jit(interaction), "interaction_matvec": jit(interaction_matvec)}
        self._phi, self._risk, self._k = phi, risk, k

    # ------------------------------------------------------------------ helpers
    def _off(self, offset):
        return np.zeros(self.family.out_dim) if offset is None else np.asarray(offset, dtype=float)

    def _call(self, name, *args):
        return np.array(self._fn[name](*args))

    # ------------------------------------------------------------------ Backend
    def prediction(self, P, c, offset=None):
        return self._call("predict", P, c, self._off(offset), self._Xj)

    def residual(self, P, c, offset=None):
        return self.n * self._call("residual", P, c, self._off(offset), self._Xj, self._Yj)

    def curvature(self, P, c, offset=None):
        return self._call("curvature", P, c, self._off(offset), self._Xj, self._Yj)

    def risk(self, P, c, offset=None):
        return float(self._fn["objective"](P, c, self._off(offset), self._Xj, self._Yj))

    def potential(self, P, c, T, order, offset=None):
        Un = self._fn["residual"](P, c, self._off(offset), self._Xj, self._Yj)
        Q, p = T.shape[0], self.family.p
        J = np.empty(Q)
        G = np.empty((Q, p)) if order >= 1 else None
        H = np.empty((Q, p, p)) if order >= 2 else None
        for s in _chunks(Q, self._per_row * (1 + (p if order >= 2 else 0))):
            if order == 0:
                J[s] = self._fn["potential0"](T[s], Un, self._Xj)
            else:
                J[s], G[s] = self._fn["potential1"](T[s], Un, self._Xj)
            if order >= 2:
                H[s] = self._fn["hessian"](T[s], Un, self._Xj)
        return J, G, H

    def hvp(self, P, c, V, offset=None):
        return self._call("hvp", P, c, self._off(offset), V, self._Xj, self._Yj)

    def interaction(self, P, c):
        return self._call("interaction", P, c, self._off(None), self._Xj, self._Yj)

    def interaction_matvec(self, P, c, V):
        return self._call("interaction_matvec", P, c, self._off(None), V, self._Xj, self._Yj)

    # ------------------------------------------------------------------ the particle flow
    def flow_step(self, c, biased: bool, reg: float):
        """Jitted explicit-Euler pieces of :func:`mfsym.dynamics.flow` on the state ``P`` (the particles, plus
        one row holding the output bias when ``biased``): ``(start, trial)`` with ``start(P) -> (L, G, vn)``
        and ``trial(P, G, h, sign) -> (P - h sign G, L, G, vn)`` at the new state, all in one compiled call
        (loss, velocity field and its norm from one forward and one backward pass)."""
        jax = self._jax
        jnp = jax.numpy
        k, m = self.family.out_dim, c.shape[0]
        cj = jnp.asarray(c)
        live = jnp.asarray(c != 0)
        X, Y, phi, risk = self._Xj, self._Yj, self._phi, self._risk

        def terms(P):
            Pp = P[:m]
            off = P[m, :k] if biased else jnp.zeros(k)
            vals, pull = jax.vjp(lambda Q: phi(Q, X), Pp)
            f = jnp.einsum("q,qnk->nk", cj, vals) + off
            L, Un = jax.value_and_grad(risk)(f, Y)
            G = pull(jnp.broadcast_to(Un, vals.shape))[0]
            if reg:
                L = L + 0.5 * reg * jnp.sum(cj * jnp.sum(Pp**2, axis=1))
                G = G + reg * Pp
            norms = jnp.where(live, jnp.linalg.norm(G, axis=1), 0.0)
            vn = jnp.max(norms) if m else jnp.zeros(())
            if biased:
                gb = jnp.zeros((1, P.shape[1])).at[0, :k].set(jnp.sum(Un, axis=0))
                G = jnp.concatenate([G, gb], axis=0)
                vn = jnp.maximum(vn, jnp.linalg.norm(gb))
            return jnp.where(jnp.all(jnp.isfinite(P)), L, jnp.inf), G, vn

        def trial(P, G, h, sign):
            P_new = P - h * (sign * G)
            return (P_new,) + terms(P_new)

        return jax.jit(terms), jax.jit(trial)

    def to_device(self, A):
        """``A`` as a JAX array (float64)."""
        return self._jax.numpy.asarray(A)
