r"""Gaussian populations $x \sim N(0, I_d)$ with labels from a teacher measure (docs/mathematics.md, model and loss).

For two-layer ridge families without bias the pair kernel
$K(\theta, \theta') = \mathbb{E}[\varphi(\theta; x)^\top \varphi(\theta'; x)] = (a^\top a')\,k(w, w')$
has a closed form in the invariants $\alpha = |w|^2$, $\beta = |w'|^2$, $\gamma = w^\top w'$:

* relu (arc-cosine kernel, Cho & Saul 2009; Safran & Shamir 2018, eq. (3)):
  $k = \frac{|w||w'|}{2\pi}(\sin t + (\pi - t)\cos t)$, $t = \angle(w, w')$;
* erf, with the family's activation $\mathrm{erf}(z)$ (Williams 1997):
  $k = \frac{2}{\pi}\arcsin\frac{2\gamma}{\sqrt{(1 + 2\alpha)(1 + 2\beta)}}$.

Everything the :class:`~mfsym.problem.Problem` needs follows from $K$ (square loss):
$R = \frac12 \sum_{s,s'} \omega_s \omega_{s'} K(\theta_s, \theta_{s'})$ over the student particles
(weights $c_j$) and the teacher particles (weights $-c^*_t$), $J_\mu(\theta) = \sum_s \omega_s
K(\theta_s, \theta)$ and $M(\theta, \theta') = \nabla_\theta \nabla_{\theta'}^\top K$. sympy takes the
partial derivatives of $k$ in $(\alpha, \beta, \gamma)$; the chain rule to the vectors is written once
(generic dimension). For relu the Hessians are regrouped in the frame
$e_1 = w/|w|$, $e_2 = w'_\perp/|w'_\perp|$ where sympy cancels the $1/\sin t$ singularities, so
parallel and equal particles are evaluated exactly. Other families fall back to a fixed Monte Carlo
sample (explicit ``mc_samples`` and ``seed``).
"""

from __future__ import annotations

import functools

import numpy as np
import sympy as sp

from ._backend import Backend, SampleBackend
from ._errors import DataError
from ._types import FloatArray
from ._validate import positive_int
from .data import Samples
from .families import Family
from .families import ERF, RELU, Activation, Ridge
from .measure import Measure

__all__ = ["GaussianTeacher"]

# invariants of a pair (w, w'): alpha = |w|^2, beta = |w'|^2, gamma = w.w', and s = sqrt(alpha beta - gamma^2)
_A, _B, _S = sp.symbols("alpha beta s", positive=True)
_C = sp.Symbol("gamma", real=True)
_DISC = _A * _B - _C**2
_PARTIALS = {"a": (_A,), "b": (_B,), "c": (_C,), "aa": (_A, _A), "ab": (_A, _B), "ac": (_A, _C),
             "bc": (_B, _C), "cc": (_C, _C)}
_NUMPY = [{"atan2": np.arctan2}, "numpy"]


def _in_s(expr: sp.Expr) -> sp.Expr:
    """Replace powers of $\\alpha\\beta - \\gamma^2$ by powers of the symbol $s$ (computed stably)."""
    return expr.replace(lambda e: e.is_Pow and sp.expand(e.base - _DISC) == 0, lambda e: _S ** (2 * e.exp))


def _simplify(expr: sp.Expr) -> sp.Expr:
    expr = _in_s(sp.simplify(expr))
    return sp.simplify(sp.simplify(expr).subs(_C**2, _A * _B - _S**2))


class _RidgeGaussianKernel:
    """$k(w, w') = \\mathbb{E}_{x \\sim N(0, I)}[\\sigma(w^\\top x)\\sigma(w'^\\top x)]$ from its sympy closed form.

    ``frame=True`` evaluates the Hessians in the frame $(e_1, e_2)$ (needed when $k$ is not twice
    differentiable in $\\gamma$ at parallel vectors, as for relu); ``zero_at_origin=True`` sets every
    derivative to 0 where $w = 0$ or $w' = 0$ (relu, whose derivative at 0 the family takes as 0).
    """

    def __init__(self, name: str, expr: sp.Expr, reference: str, frame: bool, zero_at_origin: bool):
        self.name, self.expr, self.reference = name, expr, reference
        self.frame, self.zero_at_origin = frame, zero_at_origin

    @functools.cached_property
    def partials(self) -> dict[str, sp.Expr]:
        """$k$ and its partial derivatives in $(\\alpha, \\beta, \\gamma)$, written with $s$."""
        out = {"k": _in_s(self.expr)}
        simplify = _simplify if self.frame else (lambda e: _in_s(sp.simplify(e)))
        out.update({key: simplify(sp.diff(self.expr, *v)) for key, v in _PARTIALS.items()})
        return out

    @functools.cached_property
    def frame_coefficients(self) -> dict[str, sp.Expr]:
        """Coefficients of the gradient and Hessians in the frame $e_1 = \\hat w$, $e_2 = \\hat w'_\\perp$.

        With $w = \\sqrt\\alpha\\, e_1$, $w' = (\\gamma/\\sqrt\\alpha) e_1 + r e_2$, $r = s/\\sqrt\\alpha$:
        $\\nabla_w k = g_1 e_1 + g_2 e_2$, $\\nabla^2_w k = 2k_\\alpha I + \\sum h_{ij} e_i e_j^\\top$,
        $\\nabla_w\\nabla_{w'}^\\top k = k_\\gamma I + \\sum x_{ij} e_i e_j^\\top$.
        """
        P = self.partials
        sa = sp.sqrt(_A)
        r = _S / sa
        raw = {
            "g1": 2 * P["a"] * sa + P["c"] * _C / sa, "g2": P["c"] * r,
            "h11": 4 * _A * P["aa"] + 4 * _C * P["ac"] + _C**2 / _A * P["cc"],
            "h12": (2 * P["ac"] * sa + P["cc"] * _C / sa) * r, "h22": P["cc"] * r**2,
            "x11": 4 * P["ab"] * _C + 2 * P["ac"] * _A + 2 * P["bc"] * _C**2 / _A + P["cc"] * _C,
            "x12": (4 * P["ab"] * sa + 2 * P["bc"] * _C / sa) * r,
            "x21": (2 * P["bc"] * _C / sa + P["cc"] * sa) * r, "x22": 2 * P["bc"] * r**2,
        }
        return {key: _simplify(e) for key, e in raw.items()}

    @functools.cached_property
    def _numeric(self) -> dict:
        exprs = dict(self.partials)
        if self.frame:
            exprs.update(self.frame_coefficients)
        return {key: sp.lambdify((_A, _B, _C, _S), e, modules=_NUMPY) for key, e in exprs.items()}

    def _f(self, key: str, *args: FloatArray) -> FloatArray:
        return np.broadcast_to(np.asarray(self._numeric[key](*args), dtype=float), args[0].shape)

    def evaluate(self, W: FloatArray, V: FloatArray, order: int, cross: bool = False) -> dict[str, FloatArray]:
        """$k(w_q, v_s)$ ``(Q, S)``; with ``order`` >= 1 ``"g"`` = $\\nabla_w k$ ``(Q, S, d)``; with order 2
        ``"h"`` = $\\nabla^2_w k$ ``(Q, S, d, d)``; with ``cross`` ``"x"`` = $\\nabla_w\\nabla_v^\\top k$."""
        d = W.shape[1]
        nw, nv = np.linalg.norm(W, axis=1), np.linalg.norm(V, axis=1)
        live = (nw[:, None] > 0) & (nv[None, :] > 0)
        a = np.broadcast_to((nw**2)[:, None], live.shape)
        b = np.broadcast_to((nv**2)[None, :], live.shape)
        c = W @ V.T
        # e1 = w/|w|; v_perp = v - (v.e1) e1; s = |w| |v_perp| (no cancellation in a*b - c^2)
        e1 = np.divide(W, nw[:, None], out=np.zeros_like(W), where=nw[:, None] > 0)
        vperp = V[None, :, :] - (e1 @ V.T)[:, :, None] * e1[:, None, :]
        r = np.linalg.norm(vperp, axis=2)
        s = nw[:, None] * r
        if self.zero_at_origin:  # evaluate on safe values, then zero the masked entries
            a, b = np.where(live, a, 1.0), np.where(live, b, 1.0)
            c, s = np.where(live, c, 0.0), np.where(live, s, 1.0)
        args = (a, b, c, s)
        mask = live if self.zero_at_origin else np.ones(live.shape, dtype=bool)
        out = {"k": np.where(mask, self._f("k", *args), 0.0)}
        if order < 1 and not cross:
            return out
        E1 = np.broadcast_to(e1[:, None, :], vperp.shape)
        E2 = np.divide(vperp, r[..., None], out=np.zeros_like(vperp), where=r[..., None] > 0)
        ww, vv = W[:, None, :], V[None, :, :]
        I = np.eye(d)

        def outer(x, y):
            return x[..., :, None] * y[..., None, :]

        def coef(key):
            return np.where(mask, self._f(key, *args), 0.0)[..., None]

        if self.frame:
            out["g"] = coef("g1") * E1 + coef("g2") * E2
        else:
            out["g"] = 2 * coef("a") * ww + coef("c") * vv
        if order >= 2:
            if self.frame:
                out["h"] = (2 * coef("a")[..., None] * I + coef("h11")[..., None] * outer(E1, E1)
                            + coef("h12")[..., None] * (outer(E1, E2) + outer(E2, E1))
                            + coef("h22")[..., None] * outer(E2, E2))
            else:
                out["h"] = (2 * coef("a")[..., None] * I + 4 * coef("aa")[..., None] * outer(ww, ww)
                            + 2 * coef("ac")[..., None] * (outer(ww, vv) + outer(vv, ww))
                            + coef("cc")[..., None] * outer(vv, vv))
        if cross:
            if self.frame:
                out["x"] = (coef("c")[..., None] * I + coef("x11")[..., None] * outer(E1, E1)
                            + coef("x12")[..., None] * outer(E1, E2) + coef("x21")[..., None] * outer(E2, E1)
                            + coef("x22")[..., None] * outer(E2, E2))
            else:
                out["x"] = (coef("c")[..., None] * I + 4 * coef("ab")[..., None] * outer(ww, vv)
                            + 2 * coef("ac")[..., None] * outer(ww, ww) + 2 * coef("bc")[..., None] * outer(vv, vv)
                            + coef("cc")[..., None] * outer(vv, ww))
        return out


def _relu_kernel_expr() -> sp.Expr:
    s = sp.sqrt(_DISC)
    return (s + (sp.pi - sp.atan2(s, _C)) * _C) / (2 * sp.pi)


def _erf_kernel_expr() -> sp.Expr:
    return 2 / sp.pi * sp.asin(2 * _C / sp.sqrt((1 + 2 * _A) * (1 + 2 * _B)))


#: Closed-form Gaussian kernels, keyed by the activation object of the ridge families.
CLOSED_FORMS: dict[Activation, _RidgeGaussianKernel] = {
    RELU: _RidgeGaussianKernel("relu", _relu_kernel_expr(), "Cho & Saul 2009 (arc-cosine kernel of degree 1); "
                               "Safran & Shamir 2018, arXiv 1712.08968, eq. (3)", frame=True, zero_at_origin=True),
    ERF: _RidgeGaussianKernel("erf", _erf_kernel_expr(), "Williams 1997, Computing with infinite networks, eq. (11)",
                              frame=False, zero_at_origin=False),
}


def _closed_form(family: Family) -> _RidgeGaussianKernel | None:
    """The closed-form kernel of ``family`` (a bias-free relu/erf ridge family), or None."""
    inner = getattr(family, "inner_map", None)
    if not isinstance(inner, Ridge) or inner.bias or inner.activation not in CLOSED_FORMS:
        return None
    if getattr(family, "outer", None) not in (None, "a"):
        return None
    return CLOSED_FORMS[inner.activation]


def _split(family: Family, P: FloatArray) -> tuple[FloatArray | None, FloatArray]:
    """Output weights ``(Q, k)`` (None when fixed to 1) and inner weights ``(Q, d)``."""
    W = P[:, family.block_slice("w")]
    return (P[:, family.block_slice("a")] if family.outer is not None else None), W


class GaussianPopulationBackend(Backend):
    """Square-loss population integrals for $x \\sim N(0, I_d)$ from a closed-form pair kernel."""

    def __init__(self, family: Family, kernel: _RidgeGaussianKernel, teacher: Measure):
        self.family, self.kernel = family, kernel
        self.A_t, self.W_t = _split(teacher.family, teacher.particles)
        if self.A_t is None:
            self.A_t = np.ones((teacher.m, 1))
        self.c_t = teacher.masses

    def _sources(self, P, c):
        A, W = _split(self.family, P)
        A = np.ones((P.shape[0], 1)) if A is None else A
        return np.vstack([A, self.A_t]), np.vstack([W, self.W_t]), np.concatenate([c, -self.c_t])

    def risk(self, P, c):
        A, W, om = self._sources(P, c)
        K = (A @ A.T) * self.kernel.evaluate(W, W, 0)["k"]
        return float(0.5 * om @ K @ om)

    def potential(self, P, c, T, order):
        fam = self.family
        A, W, om = self._sources(P, c)
        Aq, Wq = _split(fam, T)
        AA = np.ones((T.shape[0], A.shape[0])) if Aq is None else Aq @ A.T
        ev = self.kernel.evaluate(Wq, W, order)
        J = (ev["k"] * AA) @ om
        G = H = None
        sw = fam.block_slice("w")
        if order >= 1:
            G = np.zeros(T.shape)
            G[:, sw] = np.einsum("qs,qs,qsd->qd", AA, np.broadcast_to(om, AA.shape), ev["g"], optimize=True)
            if Aq is not None:
                G[:, fam.block_slice("a")] = (ev["k"] * om) @ A
        if order >= 2:
            H = np.zeros(T.shape + (fam.p,))
            H[:, sw, sw] = np.einsum("qs,s,qsde->qde", AA, om, ev["h"], optimize=True)
            if Aq is not None:
                sa = fam.block_slice("a")
                aw = np.einsum("s,si,qsd->qid", om, A, ev["g"], optimize=True)
                H[:, sa, sw] = aw
                H[:, sw, sa] = np.swapaxes(aw, 1, 2)
        return J, G, H

    def interaction(self, P, c):
        fam = self.family
        A, W = _split(fam, P)
        m = P.shape[0]
        ev = self.kernel.evaluate(W, W, 1, cross=True)
        M = np.zeros((m, fam.p, m, fam.p))
        sw = fam.block_slice("w")
        AA = np.ones((m, m)) if A is None else A @ A.T
        M[:, sw, :, sw] = np.transpose(AA[..., None, None] * ev["x"], (0, 2, 1, 3))
        if A is not None:
            sa = fam.block_slice("a")
            k = A.shape[1]
            M[:, sa, :, sa] = np.transpose(ev["k"][..., None, None] * np.eye(k), (0, 2, 1, 3))
            # d/dw_j d/da_l [(a_j.a_l) k(w_j, w_l)] = grad_w k(w_j, w_l) a_j^T
            wa = np.einsum("jld,ji->jdli", ev["g"], A)
            M[:, sw, :, sa] = wa
            M[:, sa, :, sw] = np.transpose(wa, (2, 3, 0, 1))
        return M


class GaussianTeacher:
    r"""Population data $x \sim N(0, I_d)$, $y(x) = \sum_t c^*_t \varphi(\theta^*_t; x)$ (square loss).

    Closed-form kernels for bias-free relu and erf families (arc-cosine and arcsin kernels, with
    gradients and Hessians derived by sympy); other families use a fixed Monte Carlo sample of
    ``mc_samples`` Gaussian inputs drawn with ``seed``, so the objective is deterministic.

    Parameters
    ----------
    family : Family
        The teacher's family; the student family of the Problem must share its inputs and outputs.
    teacher_measure : Measure
        The teacher $\mu^* = \sum_t c^*_t \delta_{\theta^*_t}$ (blocks equal to ``family``'s).
    mc_samples : int, optional
        Monte Carlo sample size; required when no closed form applies.
    seed : int
        Seed ($\ge 0$) of the Monte Carlo inputs.
    method : {"auto", "closed", "mc"}
        Force the closed form or the Monte Carlo fallback ("auto": closed form when available).

    References
    ----------
    Safran & Shamir 2018 (arXiv 1712.08968), §3; Cho & Saul 2009; Williams 1997.
    """

    def __init__(self, family: Family, teacher_measure: Measure, *, mc_samples: int | None = None, seed: int = 0,
                 method: str = "auto"):
        if not isinstance(family, Family):
            raise DataError(f"family: expected an mfsym Family, got {type(family).__name__}")
        if not isinstance(teacher_measure, Measure):
            raise DataError(f"teacher_measure: expected an mf.Measure, got {type(teacher_measure).__name__}")
        if teacher_measure.family.blocks != family.blocks or teacher_measure.family.input_shape != family.input_shape:
            raise DataError(f"teacher_measure: its family has blocks {teacher_measure.family.blocks} and inputs "
                            f"{teacher_measure.family.input_shape}; expected the teacher family's {family.blocks} "
                            f"and {family.input_shape}")
        if method not in ("auto", "closed", "mc"):
            raise DataError(f"method: expected 'auto', 'closed' or 'mc', got {method!r}")
        if mc_samples is not None:
            mc_samples = positive_int(mc_samples, "mc_samples", DataError)
        seed = positive_int(seed, "seed", DataError, minimum=0)  # an int, not a Generator: it is stored and shown
        self.family, self.teacher, self.mc_samples, self.seed, self.method = family, teacher_measure, mc_samples, seed, method
        self.kernel = _closed_form(family)
        if method == "closed" and self.kernel is None:
            raise DataError(f"method: 'closed' needs a bias-free relu or erf family, got {family!r}")
        if method == "mc" and mc_samples is None:
            raise DataError("mc_samples: method 'mc' needs mc_samples (an integer >= 1)")

    @property
    def d(self) -> int:
        """Input dimension."""
        return self.family.input_shape[-1]

    def _mc_samples(self, reason: str) -> Samples:
        if self.mc_samples is None:
            raise DataError(f"mc_samples: {reason}, so the population is estimated by Monte Carlo; pass "
                            "mc_samples=<int> (and seed) to GaussianTeacher")
        X = self.family.random_inputs(self.mc_samples, seed=self.seed)
        Y = np.zeros((X.shape[0], self.family.out_dim))
        for start in range(0, X.shape[0], 1 << 16):
            sl = slice(start, start + (1 << 16))
            Y[sl] = np.einsum("t,tnk->nk", self.teacher.masses, self.family.phi(self.teacher.particles, X[sl]))
        return Samples(X, Y)

    def samples(self) -> Samples:
        """The fixed Monte Carlo sample (inputs and teacher labels) used by the fallback."""
        return self._mc_samples("samples() was asked for")

    def make_backend(self, family: Family, loss: str) -> Backend:
        """The backend of ``Problem(family, self, loss)``: closed form if available, else Monte Carlo."""
        if loss != "square":
            raise DataError(f"loss: Gaussian populations support the square loss only, got {loss!r}")
        if family.input_shape != self.family.input_shape:
            raise DataError(f"family: {family.name} takes inputs of shape {family.input_shape} (d = "
                            f"{family.input_shape[-1]}) but the teacher's inputs have shape {self.family.input_shape} "
                            f"(d = {self.d})")
        if family.out_dim != self.family.out_dim:
            raise DataError(f"family: {family.name} has {family.out_dim} outputs but the teacher has {self.family.out_dim}")
        kernel = _closed_form(family)
        if self.method != "mc" and kernel is not None and kernel is self.kernel:
            return GaussianPopulationBackend(family, kernel, self.teacher)
        if self.method == "closed":
            raise DataError(f"method: no closed form for student {family!r} with teacher {self.family!r}")
        reason = (f"no closed-form Gaussian kernel for {family.name} (closed forms: bias-free relu and erf)"
                  if kernel is None else f"the student ({family.name}) and teacher ({self.family.name}) kernels differ")
        return SampleBackend(family, self._mc_samples(reason).bind(family), loss)

    # ------------------------------------------------------------------ symbolic
    def _need_kernel(self) -> _RidgeGaussianKernel:
        if self.kernel is None:
            raise DataError(f"family: no closed-form Gaussian kernel for {self.family!r} (closed forms: bias-free "
                            "relu and erf)")
        return self.kernel

    def kernel_expr(self, components: bool = False) -> tuple[sp.Expr, tuple]:
        r"""The pair kernel as a sympy expression.

        ``components=False``: $k(\alpha, \beta, \gamma)$ with $\alpha = |w|^2$, $\beta = |w'|^2$,
        $\gamma = w^\top w'$; returns ``(expr, (alpha, beta, gamma))``.
        ``components=True``: $K(\theta, \theta') = (a^\top a')\,k$ in the components of $\theta$ and
        $\theta'$ (packing order, concrete $d$); returns ``(expr, (theta_symbols, theta_prime_symbols))``.
        """
        kern = self._need_kernel()
        if not components:
            return kern.expr, (_A, _B, _C)
        fam = self.family
        th = [sp.Symbol(f"{k}_{i}", real=True) for k, sh in fam.blocks.items() for i in range(int(np.prod(sh, dtype=int)))]
        tp = [sp.Symbol(f"{s.name}'", real=True) for s in th]
        sw, w, wp = fam.block_slice("w"), None, None
        w, wp = sp.Matrix(th[sw]), sp.Matrix(tp[sw])
        k = kern.expr.subs({_A: (w.T * w)[0], _B: (wp.T * wp)[0], _C: (w.T * wp)[0]}, simultaneous=True)
        if fam.outer is not None:
            sa = fam.block_slice("a")
            k = (sp.Matrix(th[sa]).T * sp.Matrix(tp[sa]))[0] * k
        return k, (tuple(th), tuple(tp))

    def latex(self) -> str:
        r"""LaTeX (an ``align*`` block for amsmath): population loss, kernel, first variation, its gradient."""
        kern = self._need_kernel()
        nw, nv = sp.symbols(r"|w| |w'|", positive=True)
        ip = sp.Symbol(r"w^{\top} w'", real=True)
        t = sp.Symbol("t", positive=True)
        angle = any(e.has(_S) for e in kern.partials.values())

        def show(e):  # with s present (relu), write it with the angle t = angle(w, w')
            if angle:
                e = e.subs(sp.atan2(_S, _C), t).subs({_S: nw * nv * sp.sin(t), _C: nw * nv * sp.cos(t)})
            return sp.latex(sp.simplify(e.subs({_A: nw**2, _B: nv**2, _C: ip})))

        k, ka, kc = show(kern.partials["k"]), show(kern.partials["a"]), show(kern.partials["c"])
        out = self.family.outer is not None
        A = r"(a^{\top} a')\," if out else ""
        As = r"(a_s^{\top} a)\," if out else ""
        lines = [
            r"L(\mu) &= \frac{1}{2}\,\mathbb{E}_{x \sim N(0, I_d)}\big|f_\mu(x) - y(x)\big|^2"
            r" = \frac{1}{2}\sum_{s, s'} \omega_s \omega_{s'} K(\theta_s, \theta_{s'}),"
            r" \quad \omega = (c_1, \dots, c_m, -c^*_1, \dots, -c^*_{m^*}),",
            rf"K(\theta, \theta') &= \mathbb{{E}}\big[\varphi(\theta; x)^{{\top}} \varphi(\theta'; x)\big] = {A}k(w, w'),",
            rf"k(w, w') &= {k},",
            r"J_\mu(\theta) &= \sum_{j} c_j K(\theta_j, \theta) - \sum_{r} c^*_r K(\theta^*_r, \theta)"
            r" = \sum_s \omega_s K(\theta_s, \theta),",
            rf"\nabla_w J_\mu(\theta) &= \sum_s \omega_s {As}\big(2 k_\alpha(w, w_s)\, w + k_\gamma(w, w_s)\, w_s\big),",
        ]
        if out:
            lines.append(r"\nabla_a J_\mu(\theta) &= \sum_s \omega_s\, k(w, w_s)\, a_s,")
        lines.append(rf"k_\alpha &= \frac{{\partial k}}{{\partial |w|^2}} = {ka}, \qquad "
                     rf"k_\gamma = \frac{{\partial k}}{{\partial (w^{{\top}} w')}} = {kc}"
                     + (r", \qquad t = \angle(w, w')." if angle else "."))
        return "\\begin{align*}\n" + " \\\\\n".join(lines) + "\n\\end{align*}\n"

    def __repr__(self) -> str:
        how = f"closed form ({self.kernel.name})" if self.kernel is not None and self.method != "mc" else \
            f"Monte Carlo (n={self.mc_samples}, seed={self.seed})"
        return f"GaussianTeacher({self.family.name}, d={self.d}, m*={self.teacher.m}, {how})"


def closed_form_population(prob) -> bool:
    """Whether ``prob`` integrates a Gaussian population with the teacher's closed-form kernel (same
    family blocks for student and teacher), the only populations that ball arithmetic encloses."""
    return (isinstance(prob.data, GaussianTeacher) and isinstance(prob.backend, GaussianPopulationBackend)
            and prob.family.blocks == prob.data.family.blocks)
