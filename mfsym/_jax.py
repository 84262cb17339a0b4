"""The JAX array backend: ``mf.Problem(family, samples, backend="jax")`` (``pip install mfsym[jax]``).

The forward map $\\varphi(\\theta; x)$ is built once in ``jax.numpy`` from the family's own declaration:
the inner map's kind (a ridge $\\sigma(w^\\top x + b)$, a separable kernel $\\prod_j\\kappa(x_j - t_j)$, softmax
attention with a merged or factored score matrix) with the activation's or profile's sympy expression
lambdified for JAX, and the block chain rule $A\\,\\psi(\\eta; x)$ of the output-linear neurons; any other
family (a :func:`~mfsym.families.from_expr` neuron, another kind of inner map) by its componentwise sympy
expression, lambdified. Every derivative (the particle gradient, the velocity, the Hessian-vector product
as a jvp of the gradient, the interaction kernel) is then JAX's automatic differentiation of that one
forward map, jit-compiled (XLA) with the particles, masses, directions and data as arguments (a new shape
compiles once; nothing is constant-folded).

JAX is imported when the first JAX-backed problem is built, never by ``import mfsym``, and that switches
JAX's float64 mode on for the process (``jax_enable_x64``): mfsym's numerics are float64 throughout.
"""

from __future__ import annotations

import functools
import weakref

import numpy as np
import sympy as sp

from ._backend import SampleBackend
from ._errors import FamilyError
from ._validate import optional_import
from .families import NeuronFamily, Ridge, SeparableKernel, SoftmaxAttention, U, Z, stabilize
from .families.factored_attention import FactoredAttention


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
_STRUCTURED = (Ridge, SeparableKernel, SoftmaxAttention, FactoredAttention)


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
    if isinstance(inner, (SoftmaxAttention, FactoredAttention)):
        d, softmax = inner.d, require_jax().nn.softmax

        def scores(eta, X):  # s_qit = x_it^T W_q x_iT with W = eta, or K^T Q (factored, rank r)
            if isinstance(inner, SoftmaxAttention):
                return jnp.einsum("ntd,qde,ne->qnt", X, eta.reshape(-1, d, d), X[:, -1, :])
            r = inner.rank
            K, Qm = eta[:, : r * d].reshape(-1, r, d), eta[:, r * d:].reshape(-1, r, d)
            return jnp.einsum("ntd,qrd,qnr->qnt", X, K, jnp.einsum("qre,ne->qnr", Qm, X[:, -1, :]))

        def attention(eta, X):  # psi = X^T softmax(scores)
            return jnp.einsum("qnt,ntd->qnd", softmax(scores(eta, X), axis=-1), X)

        return attention
    raise FamilyError(f"backend: 'jax' has no structured forward map for the inner map {type(inner).__name__}")


def forward(family):
    r"""The neuron $\varphi = A\,\psi(\eta; x)$ in jax.numpy from the family's declaration, as its two factors:
    ``parts(P (Q, p), X (n, ...)) -> (A (Q, k, q) or None, psi (Q, n, q))`` (None: $\varphi = \psi$).

    A :class:`~mfsym.families.NeuronFamily` whose inner map is a ridge, a separable kernel or softmax attention
    (merged or factored)
    gets the structured map and its block chain rule; any other family (a :func:`~mfsym.families.from_expr`
    neuron, another inner map) its componentwise sympy expression at its concrete sizes, lambdified.
    The factors are kept apart so that every sum over particles and samples is one contraction."""
    if isinstance(family, NeuronFamily) and isinstance(family.inner_map, _STRUCTURED):
        psi = _inner_forward(family.inner_map)
        if family.outer is None:
            return lambda P, X: (None, psi(P, X))
        kq = family.block_slice(family.outer).stop    # the output block comes first
        k, q = family.out_dim, family.inner_map.dim
        return lambda P, X: (P[:, :kq].reshape(-1, k, q), psi(P[:, kq:], X))
    jnp = require_jax().numpy
    cw = family.componentwise()
    f = jax_function(cw.theta + cw.x, list(cw.expr))
    p = family.p

    def componentwise(P, X):
        Xf = X.reshape(X.shape[0], -1)
        args = [P[:, j, None] for j in range(p)] + [Xf[None, :, j] for j in range(Xf.shape[1])]
        shape = (P.shape[0], X.shape[0])
        return None, jnp.stack([jnp.broadcast_to(v, shape) for v in f(*args)], axis=-1)

    return componentwise


# ---------------------------------------------------------------------------------------------- kernels
_KERNELS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def kernels(family, loss: str) -> dict:
    """The jit-compiled kernels of ``family`` and ``loss``, built once per family object (problems on the same
    family share their compiled code; sizes are read from the array shapes when a call is traced)."""
    per_family = _KERNELS.setdefault(family, {})
    if loss in per_family:
        return per_family[loss]
    jax = require_jax()
    jnp = jax.numpy
    parts = forward(family)
    k, logistic = family.out_dim, loss == "logistic"

    def phi(P, X):  # (Q, n, k), for the per-particle derivatives only
        A, psi = parts(P, X)
        return psi if A is None else jnp.einsum("qkj,qnj->qnk", A, psi)

    # the sums over particles and samples are 2-D contractions, one per component j of psi (XLA makes each a
    # matrix product; a 3-D einsum over (Q, n, q) arrays measured 3-4x slower: benchmarks/bench_hvp.py)
    def predict(P, c, off, X):  # f_mu = sum_q c_q A_q psi_q (n, k)
        A, psi = parts(P, X)
        if A is None:
            return jnp.stack([c @ psi[:, :, j] for j in range(psi.shape[-1])], axis=-1) + off
        cA = c[:, None, None] * A
        return sum(jnp.einsum("qk,qn->nk", cA[:, :, j], psi[:, :, j]) for j in range(psi.shape[-1])) + off

    def first_variation(T, Un, X):  # J(theta_q) = sum_i <u_i, A_q psi(eta_q; x_i)>: (Q,)
        A, psi = parts(T, X)
        if A is None:
            return sum(psi[:, :, j] @ Un[:, j] for j in range(psi.shape[-1]))
        return sum(jnp.sum((A[:, :, j] @ Un.T) * psi[:, :, j], axis=1) for j in range(psi.shape[-1]))

    def velocity(T, Un, X):  # grad J(theta_q) (Q, p): J(theta_q) depends on theta_q alone
        return jax.grad(lambda T: jnp.sum(first_variation(T, Un, X)))(T)

    def risk(f, Y):
        if logistic:
            return jnp.mean(jnp.logaddexp(0.0, -Y * f))
        return 0.5 * jnp.sum((f - Y) ** 2) / Y.shape[0]

    def objective(P, c, off, X, Y):  # F(theta_1..theta_m) = R(f_mu)
        return risk(predict(P, c, off, X), Y)

    def values(P, c, off, X, Y):  # f_mu (n, k), R(f_mu), and dR/df = r / n (n, k)
        f = predict(P, c, off, X)
        R, Un = jax.value_and_grad(risk)(f, Y)
        return f, R, Un

    def curvature(P, c, off, X, Y):  # the (n, k) diagonal of d^2 l / d f^2 = n d^2 R / d f^2
        f = predict(P, c, off, X)
        return Y.shape[0] * jax.grad(lambda f: jnp.sum(jax.grad(risk)(f, Y)))(f)

    def potential(T, Un, X):  # J and its gradient: (Q,), (Q, p)
        J, pull = jax.vjp(lambda T: first_variation(T, Un, X), T)
        return J, pull(jnp.ones_like(J))[0]

    def hessian(T, Un, X):
        return jax.vmap(jax.hessian(lambda t: jnp.sum(phi(t[None], X)[0] * Un)))(T)

    def hvp(P, c, off, V, X, Y):  # Pearlmutter: the forward derivative of the particle gradient
        return jax.jvp(lambda Q: jax.grad(objective)(Q, c, off, X, Y), (P,), (V,))[1]

    def interaction(P, c, off, X, Y):
        Jac = jax.vmap(jax.jacfwd(lambda t: phi(t[None], X)[0]))(P)     # (m, n, k, p)
        D = curvature(P, c, off, X, Y) / Y.shape[0]
        return jnp.einsum("jnka,nk,lnkb->jalb", Jac, D, Jac)

    def interaction_matvec(P, c, off, V, X, Y):  # sum_l M(theta_j, theta_l) v_l = grad J_w(theta_j), w = D (Jac v)
        t = jax.jvp(lambda Q: predict(Q, jnp.ones_like(c), jnp.zeros_like(off), X), (P,), (V,))[1]
        return velocity(P, curvature(P, c, off, X, Y) / Y.shape[0] * t, X)

    def flow_trial(P, G, h, sign, c, reg, X, Y, biased):
        """The Euler trial ``P - h sign G`` and, at it, the loss, the velocity field and its norm (one forward
        and one backward pass); ``P`` holds one more row, the output bias, when ``biased``."""
        P = P - h * (sign * G)
        m = c.shape[0]
        Pp = P[:m]
        off = P[m, :k] if biased else jnp.zeros(k)
        L, Un = jax.value_and_grad(risk)(predict(Pp, c, off, X), Y)
        G = velocity(Pp, jax.lax.stop_gradient(Un), X) + reg * Pp
        L = L + 0.5 * reg * jnp.sum(c * jnp.sum(Pp**2, axis=1))
        vn = jnp.max(jnp.where(c != 0, jnp.linalg.norm(G, axis=1), 0.0), initial=0.0)
        if biased:
            gb = jnp.zeros((1, P.shape[1])).at[0, :k].set(jnp.sum(Un, axis=0))
            G = jnp.concatenate([G, gb], axis=0)
            vn = jnp.maximum(vn, jnp.linalg.norm(gb))
        return P, jnp.where(jnp.all(jnp.isfinite(P)), L, jnp.inf), G, vn

    jit = jax.jit
    fns = {"values": jit(values), "curvature": jit(curvature),
           "potential0": jit(first_variation), "potential1": jit(potential),
           "hessian": jit(hessian), "hvp": jit(hvp), "interaction": jit(interaction),
           "interaction_matvec": jit(interaction_matvec), "flow_trial": jit(flow_trial, static_argnames="biased")}
    per_family[loss] = fns
    return fns


# ---------------------------------------------------------------------------------------------- backend
class JaxSampleBackend(SampleBackend):
    """Empirical averages over :class:`~mfsym.data.Samples`, every kernel a jit-compiled JAX function of one
    forward map (see the module docstring); results are returned as numpy arrays."""

    def __init__(self, family, data, loss: str):
        super().__init__(family, data, loss)
        jax = require_jax()
        self._jax = jax
        self._fn = kernels(family, loss)
        self._Xj, self._Yj = jax.numpy.asarray(self.X), jax.numpy.asarray(self.Y)

    # ------------------------------------------------------------------ helpers
    def _off(self, offset):
        return np.zeros(self.family.out_dim) if offset is None else np.asarray(offset, dtype=float)

    def _call(self, name, *args):
        return np.array(self._fn[name](*args))

    # ------------------------------------------------------------------ Backend
    def prediction(self, P, c, offset=None):
        return np.array(self._fn["values"](P, c, self._off(offset), self._Xj, self._Yj)[0])

    def residual(self, P, c, offset=None):
        return self.n * np.array(self._fn["values"](P, c, self._off(offset), self._Xj, self._Yj)[2])

    def curvature(self, P, c, offset=None):
        return self._call("curvature", P, c, self._off(offset), self._Xj, self._Yj)

    def risk(self, P, c, offset=None):
        return float(self._fn["values"](P, c, self._off(offset), self._Xj, self._Yj)[1])

    def potential(self, P, c, T, order, offset=None):
        Un = self._fn["values"](P, c, self._off(offset), self._Xj, self._Yj)[2]
        Q, p = T.shape[0], self.family.p
        # XLA fuses the (Q, n, p) products that the numpy kernels chunk for: a chunk holds about 2^24 (Q, n)
        # entries (2^24 / p with the Hessian), and a last short chunk is padded with copies of a row (no
        # recompilation for its shape; the copies' values are dropped)
        rows = max(1, (1 << 24) // (self.n * (4 + self.family.out_dim) * (p if order >= 2 else 1)))
        out = {"J": [], "G": [], "H": []}
        for start in range(0, Q, rows):
            Ts = T[start:start + rows]
            short = Ts.shape[0]
            if Q > rows and short < rows:
                Ts = np.concatenate([Ts, np.repeat(Ts[:1], rows - short, axis=0)])
            if order == 0:
                out["J"].append(np.asarray(self._fn["potential0"](Ts, Un, self._Xj))[:short])
            else:
                J, G = self._fn["potential1"](Ts, Un, self._Xj)
                out["J"].append(np.asarray(J)[:short])
                out["G"].append(np.asarray(G)[:short])
            if order >= 2:
                out["H"].append(np.asarray(self._fn["hessian"](Ts, Un, self._Xj))[:short])
        empty = {"J": (0,), "G": (0, p), "H": (0, p, p)}

        def join(key):
            return np.concatenate(out[key]) if out[key] else np.empty(empty[key])

        return join("J"), (join("G") if order >= 1 else None), (join("H") if order >= 2 else None)

    def hvp(self, P, c, V, offset=None):
        return self._call("hvp", P, c, self._off(offset), V, self._Xj, self._Yj)

    def interaction(self, P, c):
        return self._call("interaction", P, c, self._off(None), self._Xj, self._Yj)

    def interaction_matvec(self, P, c, V):
        return self._call("interaction_matvec", P, c, self._off(None), V, self._Xj, self._Yj)

    # ------------------------------------------------------------------ the particle flow
    def flow_step(self, c, biased: bool, reg: float):
        """The compiled explicit-Euler step of :func:`mfsym.dynamics.flow` on the state ``P`` (the particles, plus
        one row holding the output bias when ``biased``): ``trial(P, G, h, sign) -> (P - h sign G, L, G, vn)``
        at the new state, in one call; ``trial(P, 0, 0, sign)`` evaluates the start."""
        jnp = self._jax.numpy
        fn, cj, X, Y = self._fn["flow_trial"], jnp.asarray(c), self._Xj, self._Yj
        return lambda P, G, h, sign: fn(P, G, h, sign, cj, reg, X, Y, biased=biased)

    def to_device(self, A):
        """``A`` as a JAX array (float64)."""
        return self._jax.numpy.asarray(A)
