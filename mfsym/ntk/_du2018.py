"""Du, Zhai, Póczos & Singh (2018, arXiv 1810.02054): explicit theorem quantities and gradient descent.

Model (their eq. (1)): $f(W, a, x) = m^{-1/2}\\sum_{r=1}^m a_r\\,\\mathrm{relu}(w_r^\\top x)$, $a_r \\in \\{\\pm1\\}$
fixed, $w_r(0) \\sim \\mathcal N(0, I)$, loss $\\frac12\\|u - y\\|^2$ with $u_i = f(W, a, x_i)$, unit inputs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.linalg as sla

from .._errors import DataError
from .._types import FloatArray
from .._validate import as_float_array
from . import _checks as ck
from ._gram import finite_gram, gram, smallest_eigenvalue

_SQRT_2PI = math.sqrt(2 * math.pi)


@dataclass(frozen=True)
class DuConstants:
    """Every constant of Du et al.'s width/step/rate statements, made explicit.

    The paper gives Lemma 3.1 ($m = \\Omega(n^2\\log(n/\\delta)/\\lambda_0^2)$), Lemma 3.2 ($R = c\\delta\\lambda_0/n^2$
    "for some small positive constant $c$"), Thm 3.2 / Thm 4.1 ($m = \\Omega(n^6/(\\lambda_0^4\\delta^3))$) and
    Thm 4.1 ($\\eta = O(\\lambda_0/n^2)$) without numerical constants; it also spends the failure probability
    $\\delta$ several times. The defaults are the values we obtain by following the proofs with explicit
    constants (derivation in :func:`du_bounds`); they are sufficient, not optimal.

    Attributes
    ----------
    hoeffding : float, default 8
        Lemma 3.1: $m \\ge$ ``hoeffding`` $\\cdot n^2\\log(2n^2/\\delta_1)/\\lambda_0^2$ gives
        $\\|H(0) - H^\\infty\\|_2 \\le \\lambda_0/4$ (Hoeffding on entries in an interval of length $|x_i^\\top x_j| \\le 1$,
        a union bound over $n^2$ entries, $\\|\\cdot\\|_2 \\le \\|\\cdot\\|_F$). Unspecified in the paper.
    radius : float, default $\\sqrt{2\\pi}/32$
        Lemma 3.2's $c$ in $R = c\\,\\delta_2\\lambda_0/n^2$. Lemma 3.2 needs $4c/\\sqrt{2\\pi} \\le 1/4$; Thm 4.1's
        one-step bound needs $(4c/\\sqrt{2\\pi})(1 + n^{-1/2}) + $ ``step`` $\\le 1/2$. Unspecified in the paper.
    step : float, default 1/4
        Thm 4.1's step $\\eta = $ ``step`` $\\cdot\\lambda_0/n^2$. Unspecified in the paper ("$O(\\lambda_0/n^2)$").
    delta_split : (float, float, float), default (1/3, 1/3, 1/3)
        Shares of $\\delta$ given to (Lemma 3.1's Hoeffding event, Lemma 3.2's Markov bound on the number of
        sign flips, the Markov bound on $\\|y - u(0)\\|^2$), so that everything holds with probability $1 - \\delta$.
    """

    hoeffding: float = 8.0
    radius: float = _SQRT_2PI / 32
    step: float = 0.25
    delta_split: tuple[float, float, float] = (1 / 3, 1 / 3, 1 / 3)

    def __post_init__(self) -> None:
        for name in ("hoeffding", "radius", "step"):
            ck.positive_float(getattr(self, name), f"DuConstants.{name}")
        split = self.delta_split
        if (not isinstance(split, tuple) or len(split) != 3
                or not all(isinstance(s, (int, float)) and 0 < s for s in split) or sum(split) > 1 + 1e-12):
            raise DataError(f"DuConstants.delta_split: expected three positive shares summing to <= 1, got {split!r}")
        if 4 * self.radius / _SQRT_2PI > 0.25:
            raise DataError(f"DuConstants.radius: Lemma 3.2 needs 4c/sqrt(2 pi) <= 1/4, i.e. c <= "
                            f"{_SQRT_2PI / 16:.4f}, got {self.radius!r}")
        if 8 * self.radius / _SQRT_2PI + self.step > 0.5:
            raise DataError(f"DuConstants.step: Thm 4.1's one-step bound needs 8c/sqrt(2 pi) + step <= 1/2 "
                            f"(c = radius = {self.radius:.4f}), got step={self.step!r}")


@dataclass(frozen=True)
class DuBounds:
    """The width, step and rate that Du et al.'s Theorems 3.2 and 4.1 guarantee, with explicit constants.

    With probability at least $1 - \\delta$ over the initialisation: gradient flow with $m \\ge$ ``width_flow``
    satisfies $\\|u(t) - y\\|^2 \\le e^{-\\lambda_0 t}\\|u(0) - y\\|^2$ (Thm 3.2); gradient descent with step
    ``eta`` and $m \\ge$ ``width_gd`` satisfies $\\|u(k) - y\\|^2 \\le$ ``rate_gd``$^k\\,\\|u(0) - y\\|^2$ (Thm 4.1),
    every $w_r$ staying within ``radius`` of $w_r(0)$.
    """

    n: int
    lambda0: float
    delta: float
    residual_sq: float  # bound on |y - u(0)|^2 (Markov, prob. 1 - delta_3)
    radius: float  # R of Lemma 3.2
    width_gram: float  # Lemma 3.1
    width_flow: float  # Thm 3.2
    width_gd: float  # Thm 4.1
    eta: float  # Thm 4.1
    constants: DuConstants = field(repr=False)

    @property
    def rate_gd(self) -> float:
        """Per-step factor $1 - \\eta\\lambda_0/2$ of $\\|u(k) - y\\|^2$ (Thm 4.1)."""
        return 1.0 - self.eta * self.lambda0 / 2

    @property
    def rate_flow(self) -> float:
        """Exponent $\\lambda_0$ of $\\|u(t) - y\\|^2 \\le e^{-\\lambda_0 t}\\|u(0) - y\\|^2$ (Thm 3.2)."""
        return self.lambda0

    def movement(self, m: int, discrete: bool = True) -> float:
        """$R'$ for width m: bound on $\\max_r\\|w_r - w_r(0)\\|$ (Lemma 3.3: $2\\sqrt n\\|y - u(0)\\|/(\\sqrt m\\lambda_0)$; Cor. 4.1: $4\\sqrt n\\ldots$)."""
        m = ck.count(m, "m")
        return (4.0 if discrete else 2.0) * math.sqrt(self.n * self.residual_sq / m) / self.lambda0


def du_bounds(lambda0: float, n: int, *, delta: float = 0.1, y: Any = None, label_bound: float = 1.0,
              constants: DuConstants | None = None) -> DuBounds:
    """Width, step size and rate of Du et al. (2018), Thm 3.2 (gradient flow) and Thm 4.1 (gradient descent).

    The paper's shapes are $m = \\Omega(n^6/(\\lambda_0^4\\delta^3))$, $\\eta = O(\\lambda_0/n^2)$ and
    $\\|u(k) - y\\|^2 \\le (1 - \\eta\\lambda_0/2)^k\\|u(0) - y\\|^2$. Following the proofs with explicit constants
    (:class:`DuConstants`; $\\delta_1, \\delta_2, \\delta_3$ its split of $\\delta$):

    * Lemma 3.1: $m_{\\mathrm{gram}} = 8 n^2\\log(2n^2/\\delta_1)/\\lambda_0^2$.
    * Lemma 3.2: $R = c\\,\\delta_2\\lambda_0/n^2$; since $P(|w^\\top x_i| < R) \\le 2R/\\sqrt{2\\pi}$, Markov gives
      $\\sum_{i,r}1\\{\\text{sign of } w_r^\\top x_i \\text{ can flip}\\} \\le 2mnR/(\\sqrt{2\\pi}\\delta_2)$, hence
      $\\|H - H(0)\\|_2 \\le 4n^2R/(\\sqrt{2\\pi}\\delta_2) \\le \\lambda_0/4$.
    * $\\mathbb E\\|y - u(0)\\|^2 = \\|y\\|^2 + n\\,\\mathbb E[\\mathrm{relu}(z)^2] = \\|y\\|^2 + n/2$; Markov:
      $\\|y - u(0)\\|^2 \\le (\\|y\\|^2 + n/2)/\\delta_3 =: \\rho_0^2$ (``residual_sq``).
    * Thm 3.2: Lemma 3.3's $R' = 2\\sqrt n\\rho_0/(\\sqrt m\\lambda_0) < R$, i.e. $m > 4n\\rho_0^2/(R^2\\lambda_0^2)$.
    * Thm 4.1: Cor. 4.1's $R' = 4\\sqrt n\\rho_0/(\\sqrt m\\lambda_0) < R$, i.e. $m > 16n\\rho_0^2/(R^2\\lambda_0^2)$; the
      one-step bound $\\|y - u(k+1)\\|^2 \\le [1 - \\eta\\lambda_0 + \\eta\\lambda_0\\frac{4c}{\\sqrt{2\\pi}}(1 + n^{-1/2}) +
      \\eta^2n^2]\\|y - u(k)\\|^2$ is $\\le (1 - \\eta\\lambda_0/2)\\|\\cdot\\|^2$ for $\\eta = c_\\eta\\lambda_0/n^2$.

    With $\\|y\\|^2 \\le nC^2$ the flow width is $4n^6(C^2 + 1/2)/(c^2\\delta_2^2\\delta_3\\lambda_0^4)$: the
    paper's $n^6/(\\lambda_0^4\\delta^3)$.

    Parameters
    ----------
    lambda0 : float
        $\\lambda_{\\min}(H^\\infty) > 0$ (:func:`lambda0`).
    n : int
        Number of samples.
    delta : float in (0, 1)
        Failure probability.
    y : (n,) array, optional
        Labels; when given $\\|y\\|^2$ is used, otherwise $n C^2$ with $C$ = ``label_bound`` ($|y_i| \\le C$, the
        paper's assumption).
    constants : DuConstants, optional

    Returns
    -------
    DuBounds
    """
    lam = ck.positive_float(lambda0, "lambda0")
    n = ck.count(n, "n")
    delta = ck.probability(delta, "delta")
    c = DuConstants() if constants is None else constants
    if not isinstance(c, DuConstants):
        raise DataError(f"constants: expected a DuConstants, got {type(c).__name__}")
    if y is None:
        ysq = n * ck.positive_float(label_bound, "label_bound", allow_zero=True) ** 2
    else:
        y = as_float_array(y, "y", DataError, ndim=1)
        if y.shape != (n,):
            raise DataError(f"y: expected shape ({n},), got {y.shape}")
        ysq = float(y @ y)
    d1, d2, d3 = (s * delta for s in c.delta_split)
    residual_sq = (ysq + n / 2) / d3
    R = c.radius * d2 * lam / n**2
    width_gram = c.hoeffding * n**2 * math.log(2 * n**2 / d1) / lam**2
    width_flow = max(width_gram, 4 * n * residual_sq / (R * lam) ** 2)
    width_gd = max(width_gram, 16 * n * residual_sq / (R * lam) ** 2)
    return DuBounds(n, lam, delta, residual_sq, R, width_gram, width_flow, width_gd, c.step * lam / n**2, c)


def du_predict(W: Any, a: Any, X: Any) -> FloatArray:
    """$u_i = m^{-1/2}\\sum_r a_r\\,\\mathrm{relu}(w_r^\\top x_i)$ (Du et al. 2018, eq. (1)); ``W`` (m, d), ``a`` (m,), ``X`` (n, d)."""
    W = as_float_array(W, "W", DataError, ndim=2)
    a = as_float_array(a, "a", DataError, ndim=1)
    X = ck.inputs(X)
    if W.shape[1] != X.shape[1] or a.shape != (W.shape[0],) or W.shape[0] < 1:
        raise DataError(f"W, a: expected shapes (m, {X.shape[1]}) and (m,), got {W.shape} and {a.shape}")
    return np.maximum(X @ W.T, 0.0) @ a / math.sqrt(W.shape[0])


@dataclass(frozen=True)
class DuRun:
    """One gradient-descent run on the Du et al. model; arrays are indexed by iteration $k = 0..K$.

    ``losses`` $\\frac12\\|u(k) - y\\|^2$; ``pattern_changes`` the fraction of the $mn$ patterns
    $1\\{w_r(k)^\\top x_i \\ge 0\\}$ that differ from $k = 0$; ``max_movement`` $\\max_r\\|w_r(k) - w_r(0)\\|$
    (Du et al. §6, the three panels of their Figure 1); ``gram_init_error`` $\\|H(0) - H^\\infty\\|_2$
    (Lemma 3.1), ``gram_drift`` $\\|H(K) - H(0)\\|_2$ (Lemma 3.2), ``lambda_min_init`` $\\lambda_{\\min}(H(0))$.
    """

    m: int
    eta: float
    lambda0: float
    lambda_max: float  # of H^infinity
    losses: FloatArray
    pattern_changes: FloatArray
    max_movement: FloatArray
    lambda_min_init: float
    gram_init_error: float
    gram_drift: float
    floor: float = 1e-24

    @property
    def predicted_rate(self) -> float:
        """$1 - \\eta\\lambda_0/2$: Thm 4.1's per-step factor of $\\|u - y\\|^2$ (proved for $\\eta = O(\\lambda_0/n^2)$)."""
        return 1.0 - self.eta * self.lambda0 / 2

    @property
    def kernel_rate(self) -> float:
        """$\\max_i(1 - \\eta\\lambda_i)^2$ over the spectrum of $H^\\infty$: the worst per-step factor of the linearised
        (infinite-width) dynamics $u(k+1) - y = (I - \\eta H^\\infty)(u(k) - y)$."""
        return max((1 - self.eta * self.lambda0) ** 2, (1 - self.eta * self.lambda_max) ** 2)

    @property
    def _usable(self) -> int:
        """Last iteration whose loss is above ``floor`` times the initial loss (rounding takes over below)."""
        above = np.flatnonzero(self.losses >= self.floor * self.losses[0])
        return int(above[-1])

    @property
    def observed_rate(self) -> float:
        """Geometric-mean per-step factor $(L_K/L_0)^{1/K}$, $K$ the last iteration above the rounding floor."""
        K = self._usable
        return float((self.losses[K] / self.losses[0]) ** (1.0 / K)) if K > 0 else float("nan")

    @property
    def worst_step_ratio(self) -> float:
        """$\\max_k L_{k+1}/L_k$ over the usable iterations (Thm 4.1 bounds it by ``predicted_rate``)."""
        K = self._usable
        return float(np.max(self.losses[1:K + 1] / self.losses[:K])) if K > 0 else float("nan")

    @property
    def bound_holds(self) -> bool:
        """Whether $L_k \\le (1 - \\eta\\lambda_0/2)^k L_0$ at every usable iteration (Thm 4.1's conclusion)."""
        K = self._usable
        k = np.arange(K + 1)
        return bool(np.all(self.losses[:K + 1] <= self.predicted_rate**k * self.losses[0] * (1 + 1e-9)))

    def summary(self) -> dict[str, float]:
        """The run's numbers as a flat dict (for printing and JSON)."""
        return {"m": self.m, "eta": self.eta, "lambda0": self.lambda0, "observed_rate": self.observed_rate,
                "predicted_rate": self.predicted_rate, "kernel_rate": self.kernel_rate,
                "worst_step_ratio": self.worst_step_ratio, "bound_holds": self.bound_holds,
                "initial_loss": float(self.losses[0]), "final_loss": float(self.losses[-1]), "pattern_change": float(self.pattern_changes[-1]),
                "max_movement": float(self.max_movement[-1]), "lambda_min_init": self.lambda_min_init,
                "gram_init_error": self.gram_init_error, "gram_drift": self.gram_drift}


def train_du(X: Any, y: Any, m: int, *, eta: float, steps: int, seed: ck.Seed = 0, W0: Any = None, a: Any = None,
             gram_inf: Any = None, normalize: bool = False, unit_tol: float | None = 1e-8,
             record_gram: bool = True) -> DuRun:
    """Gradient descent on Du et al.'s two-layer relu model, recording their diagnostics.

    $w_r(k+1) = w_r(k) - \\eta\\,\\partial_{w_r}\\frac12\\|u - y\\|^2$ with
    $\\partial_{w_r} = m^{-1/2} a_r\\sum_i (u_i - y_i)1\\{w_r^\\top x_i \\ge 0\\}x_i$ (Du et al. 2018, eqs. (2), (3));
    $a_r \\in \\{\\pm1\\}$ stays fixed. Thm 4.1 proves $\\|u(k) - y\\|^2 \\le (1 - \\eta\\lambda_0/2)^k\\|u(0) - y\\|^2$ for
    $\\eta \\le c_\\eta\\lambda_0/n^2$ and $m$ as in :func:`du_bounds`; in practice much larger steps work
    ($\\eta < 2/\\lambda_{\\max}(H^\\infty)$ is the linearised stability limit).

    Parameters
    ----------
    X : (n, d) array
        Unit-norm inputs (see :func:`gram` for ``normalize``/``unit_tol``).
    y : (n,) array
    m : int
        Width.
    eta : float
        Step size.
    steps : int
        Number $K$ of iterations.
    seed : int or numpy.random.Generator
        Draws $W(0)$ (``(m, d)`` standard normal) then $a$ (uniform signs), unless given as ``W0``/``a``.
    gram_inf : (n, n) array, optional
        Precomputed $H^\\infty$ (saves recomputing it across widths).
    record_gram : bool
        Compute $H(0)$ and $H(K)$ (two $O(n^2 m)$ products) for ``gram_init_error``/``gram_drift``/``lambda_min_init``.

    Returns
    -------
    DuRun
    """
    X = ck.inputs(X)
    X, _ = ck.unit_rows(X, normalize, unit_tol)
    n, d = X.shape
    y = as_float_array(y, "y", DataError, ndim=1)
    if y.shape != (n,):
        raise DataError(f"y: expected shape ({n},) to match X {X.shape}, got {y.shape}")
    m = ck.count(m, "m")
    eta = ck.positive_float(eta, "eta")
    steps = ck.count(steps, "steps")
    rng = ck.rng_from(seed)
    if W0 is None:
        W0 = rng.standard_normal((m, d))
    else:
        W0 = as_float_array(W0, "W0", DataError, ndim=2)
        if W0.shape != (m, d):
            raise DataError(f"W0: expected shape ({m}, {d}), got {W0.shape}")
    if a is None:
        a = rng.choice(np.array([-1.0, 1.0]), size=m)
    else:
        a = as_float_array(a, "a", DataError, ndim=1)
        if a.shape != (m,) or not np.all(np.abs(a) == 1):
            raise DataError(f"a: expected shape ({m},) with entries +-1 (Du et al.), got shape {a.shape}")
    if gram_inf is None:
        Hinf = gram(X, "relu", unit_tol=None)
    else:
        Hinf = as_float_array(gram_inf, "gram_inf", DataError, ndim=2)
        if Hinf.shape != (n, n):
            raise DataError(f"gram_inf: expected shape ({n}, {n}), got {Hinf.shape}")
    lam0 = smallest_eigenvalue(Hinf, "gram_inf")
    lam_max = float(sla.eigvalsh(Hinf, subset_by_index=[n - 1, n - 1])[0])

    W = W0.copy()
    scale = 1.0 / math.sqrt(m)
    losses = np.empty(steps + 1)
    changes = np.empty(steps + 1)
    moves = np.empty(steps + 1)
    S0 = None
    for k in range(steps + 1):
        Z = X @ W.T
        S = Z >= 0
        if S0 is None:
            S0 = S
        r = (np.maximum(Z, 0.0) @ a) * scale - y
        losses[k] = 0.5 * float(r @ r)
        changes[k] = np.count_nonzero(S != S0) / S.size
        diff = W - W0
        moves[k] = math.sqrt(float(np.max(np.einsum("rd,rd->r", diff, diff))))
        if k < steps:
            grad = (S * r[:, None]).T @ X  # (m, d): sum_i r_i 1{w_r . x_i >= 0} x_i
            W -= (eta * scale) * a[:, None] * grad
    if record_gram:
        H0 = finite_gram(W0, X)
        HK = finite_gram(W, X)
        init_err = float(np.linalg.norm(H0 - Hinf, 2))
        drift = float(np.linalg.norm(HK - H0, 2))
        lam_init = smallest_eigenvalue(H0, "H(0)")
    else:
        init_err = drift = lam_init = float("nan")
    return DuRun(m, eta, lam0, lam_max, losses, changes, moves, lam_init, init_err, drift)
