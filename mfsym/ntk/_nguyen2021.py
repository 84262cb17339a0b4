"""Q. Nguyen (2021, arXiv 2101.09612): deep relu networks with one wide layer.

Network (standard parameterisation, the paper's eq. (1)): $f_0 = x$, $f_l = \\mathrm{relu}(W_l^\\top f_{l-1})$ for
$l = 1..L-1$, $f_L = W_L^\\top f_{L-1}$, $W_l \\in \\mathbb R^{n_{l-1}\\times n_l}$, all layers trained by gradient
descent on $\\Phi = \\frac12\\|F_L - y\\|^2$. Feature matrices $F_l = [f_l(x_1), \\dots, f_l(x_N)]^\\top \\in
\\mathbb R^{N\\times n_l}$. The wide layer is the last hidden one, $n_{L-1} \\ge N$: since $f_L$ is linear in
$W_L$, $\\|\\nabla_{W_L}\\Phi\\|^2 = \\|F_{L-1}^\\top(F_L - y)\\|^2 \\ge \\sigma_{\\min}(F_{L-1})^2\\,2\\Phi$, so the
smallest singular value $\\lambda_F = \\sigma_{\\min}(F_{L-1})$ at initialisation, and its persistence along the
trajectory (the paper tracks only the last hidden layer's output, using the Lipschitz property of relu),
controls the linear rate. $\\sigma_{\\min}$ of an $N\\times n$ matrix means its $N$-th singular value
($\\sqrt{\\lambda_{\\min}(FF^\\top)}$), which is 0 when $n < N$.

Initialisation schemes implemented: i.i.d. $(W_l)_{ij} \\sim \\mathcal N(0, s_l^2)$ with
``standard`` $s_l^2 = 1$ (as in Jacot et al. and Nguyen, Mondelli & Montúfar 2021), ``lecun``
$s_l^2 = 1/n_{l-1}$, ``he`` $s_l^2 = 2/n_{l-1}$. The paper's linear/quadratic/cubic width regimes come from how
such Gaussian initialisations are scaled across layers (its §4); those exact per-layer scalings are not
reproduced here. Relu is positively homogeneous, so for a fixed draw the schemes change $F_l$ only by the
factor $\\prod_{j\\le l}s_j$: $\\sigma_{\\min}(F_l)/\\prod_j s_j$ does not depend on the scheme.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg as sla

from .._errors import DataError, FamilyError
from .._types import FloatArray
from .._validate import as_float_array
from . import _checks as ck
from ._gram import _relu_closed

SCHEMES = ("standard", "lecun", "he")


def _hidden(hidden: Any) -> tuple[int, ...]:
    if isinstance(hidden, (int, np.integer)) or not isinstance(hidden, Sequence) or len(hidden) < 1:
        raise FamilyError(f"hidden: expected a non-empty sequence of hidden widths (n_1, ..., n_(L-1)), got {hidden!r}")
    return tuple(ck.count(h, f"hidden[{i}]") for i, h in enumerate(hidden))


def init_variances(d: int, hidden: Sequence[int], scheme: str = "he") -> list[float]:
    """Entry variances $s_l^2$ of $W_1, \\dots, W_L$ for ``scheme`` (fan-in $n_{l-1}$; output width 1)."""
    scheme = ck.choice(scheme, "scheme", SCHEMES, FamilyError)
    fan_in = [d, *hidden]
    return [{"standard": 1.0, "lecun": 1.0 / f, "he": 2.0 / f}[scheme] for f in fan_in]


def init_deep(d: int, hidden: Sequence[int], *, scheme: str = "he", seed: ck.Seed = 0) -> list[FloatArray]:
    """Gaussian initialisation $W_1..W_L$ (shapes $(n_{l-1}, n_l)$, $n_0 = d$, $n_L = 1$).

    Draws standard normals layer by layer from one Generator, then scales them by $s_l$, so that two
    schemes with the same seed give the same underlying draw.
    """
    d = ck.count(d, "d")
    hidden = _hidden(hidden)
    rng = ck.rng_from(seed)
    widths = [d, *hidden, 1]
    var = init_variances(d, hidden, scheme)
    return [math.sqrt(v) * rng.standard_normal((widths[l], widths[l + 1])) for l, v in enumerate(var)]


def _weights(weights: Any, d: int) -> list[FloatArray]:
    if not isinstance(weights, (list, tuple)) or len(weights) < 2:
        raise DataError(f"weights: expected a list [W_1, ..., W_L] of at least two matrices, got {type(weights).__name__}")
    out = []
    prev = d
    for l, W in enumerate(weights, start=1):
        W = as_float_array(W, f"weights[{l - 1}]", DataError, ndim=2)
        if W.shape[0] != prev:
            raise DataError(f"weights[{l - 1}]: expected {prev} rows (width of layer {l - 1}), got shape {W.shape}")
        prev = W.shape[1]
        out.append(W)
    if prev != 1:
        raise DataError(f"weights[-1]: expected a single output column, got shape {out[-1].shape}")
    return out


def deep_features(X: Any, weights: Sequence[Any]) -> list[FloatArray]:
    """Feature matrices $[F_0 = X, F_1, \\dots, F_{L-1}, F_L]$ (the last is the output, shape ``(N, 1)``)."""
    X = ck.inputs(X)
    Ws = _weights(weights, X.shape[1])
    F = [X]
    for W in Ws[:-1]:
        F.append(np.maximum(F[-1] @ W, 0.0))
    F.append(F[-1] @ Ws[-1])
    return F


def sigma_min(F: Any) -> float:
    """$N$-th singular value of an $N\\times n$ matrix ($\\sqrt{\\lambda_{\\min}(FF^\\top)}$; 0 when $n < N$)."""
    F = as_float_array(F, "F", DataError, ndim=2)
    N, n = F.shape
    if n < N:
        return 0.0
    return float(np.linalg.svd(F, compute_uv=False)[N - 1])


def deep_ntk(X: Any, weights: Sequence[Any]) -> FloatArray:
    """Empirical NTK $JJ^\\top = \\sum_{l=1}^{L}(F_{l-1}F_{l-1}^\\top)\\circ(\\Delta_l\\Delta_l^\\top)$ of all layers.

    $\\Delta_l = \\partial f_L/\\partial g_l$ for the pre-activations $g_l = W_l^\\top f_{l-1}$ ($\\Delta_L = 1$,
    $\\Delta_l = (\\Delta_{l+1}W_{l+1}^\\top)\\circ 1\\{g_l > 0\\}$, relu'(0) = 0 as in Nguyen 2021). The $l = L$
    term is $F_{L-1}F_{L-1}^\\top$, so $\\lambda_{\\min}(JJ^\\top) \\ge \\lambda_F^2$.
    """
    X = ck.inputs(X)
    Ws = _weights(list(weights), X.shape[1])
    F, D = _forward_backward(X, Ws)
    K = np.zeros((X.shape[0], X.shape[0]))
    for l in range(len(Ws)):
        K += (F[l] @ F[l].T) * (D[l] @ D[l].T)
    return K


def _forward_backward(X: FloatArray, Ws: list[FloatArray]) -> tuple[list[FloatArray], list[FloatArray]]:
    """Features $F_0..F_L$ and backward signals $\\Delta_1..\\Delta_L$ (``D[l]`` pairs with ``Ws[l]``)."""
    F = [X]
    for W in Ws[:-1]:
        F.append(np.maximum(F[-1] @ W, 0.0))
    F.append(F[-1] @ Ws[-1])
    D = [np.ones((X.shape[0], 1))]
    for l in range(len(Ws) - 2, -1, -1):  # layer l+1 in 1-based terms
        D.insert(0, (D[0] @ Ws[l + 1].T) * (F[l + 1] > 0))
    return F, D


def wide_layer_limit(F_prev: Any, variance: float) -> float:
    """$\\lim_{n_k\\to\\infty}\\sigma_{\\min}(F_k)/\\sqrt{n_k}$ given the previous layer's features, i.e.
    $\\sqrt{\\lambda_{\\min}(s_k^2\\,\\kappa_1(F_{k-1}))}$ with $\\kappa_1$ the degree-1 arc-cosine kernel
    $\\mathbb E_w[\\mathrm{relu}(w^\\top f_i)\\mathrm{relu}(w^\\top f_j)]$ (Cho & Saul 2009): the columns of $F_k$ are
    i.i.d. given $F_{k-1}$, so $F_kF_k^\\top/n_k \\to s_k^2\\kappa_1$ almost surely."""
    F_prev = as_float_array(F_prev, "F_prev", DataError, ndim=2)
    var = ck.positive_float(variance, "variance")
    sq = np.einsum("ij,ij->i", F_prev, F_prev)
    if F_prev.shape[0] < 1 or np.any(sq == 0):  # a sample whose features are all 0 stays 0: sigma_min = 0
        return 0.0
    K, _, _, _ = _relu_closed(F_prev, sq, hidden=False, output=True)
    lam = float(sla.eigvalsh(K, subset_by_index=[0, 0])[0])
    return math.sqrt(max(var * lam, 0.0))


@dataclass(frozen=True)
class SigmaMinCurve:
    """$\\sigma_{\\min}(F_{L-1})$ at initialisation against the wide layer's width.

    ``sigma`` has shape ``(repeats, len(widths))``; ``normalized`` is ``sigma`` divided by
    $\\sqrt{n_{L-1}}\\prod_{l\\le L-1}s_l$, i.e. $\\sigma_{\\min}/\\sqrt{n_{L-1}}$ for the same draw under the standard
    Gaussian scheme (scheme-free, see the module docstring); ``limit`` is its large-width value given the
    layers below (:func:`wide_layer_limit`, one per repeat).
    """

    N: int
    widths: tuple[int, ...]
    scheme: str
    sigma: FloatArray
    normalized: FloatArray
    limit: FloatArray

    def median(self) -> FloatArray:
        """Median of ``normalized`` over repeats, per width."""
        return np.median(self.normalized, axis=0)


def sigma_min_curve(X: Any, widths: Sequence[int], *, hidden_before: Sequence[int] = (), scheme: str = "he",
                    seed: ck.Seed = 0, repeats: int = 3) -> SigmaMinCurve:
    """Smallest singular value of the wide layer's feature matrix at initialisation, for several widths.

    Network $d \\to$ ``hidden_before`` $\\to n_{L-1}$ (the wide layer, each of ``widths``) $\\to 1$. Nguyen (2021)
    needs $n_{L-1} \\ge N$: below it $F_{L-1}$ has rank $< N$ and $\\sigma_{\\min} = 0$; above it
    $\\sigma_{\\min}/\\sqrt{n_{L-1}}$ rises towards :func:`wide_layer_limit` (like $1 - \\sqrt{N/n}$ for a Gaussian
    matrix, Bai & Yin 1993).

    Parameters
    ----------
    X : (N, d) array
    widths : sequence of int
        Widths $n_{L-1}$ of the wide layer.
    hidden_before : sequence of int
        Widths of the hidden layers below it (may be empty: then $L = 2$).
    scheme : {"standard", "lecun", "he"}
    seed : int or numpy.random.Generator
    repeats : int
        Independent initialisations per width (layers below are redrawn too).

    Returns
    -------
    SigmaMinCurve
    """
    X = ck.inputs(X)
    N, d = X.shape
    if isinstance(widths, (int, np.integer)) or not isinstance(widths, Sequence) or len(widths) < 1:
        raise DataError(f"widths: expected a non-empty sequence of widths, got {widths!r}")
    widths = tuple(ck.count(w, f"widths[{i}]") for i, w in enumerate(widths))
    before = tuple(ck.count(h, f"hidden_before[{i}]") for i, h in enumerate(hidden_before))
    repeats = ck.count(repeats, "repeats")
    rng = ck.rng_from(seed)
    var = init_variances(d, [*before, 1], scheme)  # entry variances of W_1 .. W_(L-1), then the output layer
    below_scale = math.sqrt(math.prod(var[:len(before)]))  # F_(L-2) = below_scale x (its standard-Gaussian version)
    sig = np.empty((repeats, len(widths)))
    lim = np.empty(repeats)
    for r in range(repeats):
        Fprev = X
        for h, v in zip(before, var):
            Fprev = np.maximum(Fprev @ (math.sqrt(v) * rng.standard_normal((Fprev.shape[1], h))), 0.0)
        v = var[len(before)]
        lim[r] = wide_layer_limit(Fprev, 1.0) / below_scale
        for k, w in enumerate(widths):
            sig[r, k] = sigma_min(np.maximum(Fprev @ (math.sqrt(v) * rng.standard_normal((Fprev.shape[1], w))), 0.0))
    norm = sig / (np.sqrt(np.array(widths, dtype=float)) * below_scale * math.sqrt(var[len(before)]))[None, :]
    return SigmaMinCurve(N, widths, scheme, sig, norm, lim)


@dataclass(frozen=True)
class DeepRun:
    """Gradient descent on a deep relu network (all layers trained); arrays indexed by iteration.

    ``lambda_F`` $= \\sigma_{\\min}(F_{L-1})$ at initialisation and ``lambda_F_final`` at the end;
    ``ntk_min``/``ntk_max`` the extreme eigenvalues of the empirical NTK $JJ^\\top$ at initialisation.
    """

    hidden: tuple[int, ...]
    scheme: str
    eta: float
    losses: FloatArray
    lambda_F: float
    lambda_F_final: float
    ntk_min: float
    ntk_max: float
    floor: float = 1e-24

    @property
    def pl_rate(self) -> float:
        """$1 - \\eta\\lambda_F^2/2$: first-order per-step factor of $\\Phi$ from the last layer's gradient alone,
        if $\\sigma_{\\min}(F_{L-1})$ stays $\\ge \\lambda_F/2$ along the run (the invariant of the paper's proof)."""
        return 1.0 - self.eta * self.lambda_F**2 / 2

    @property
    def kernel_rate(self) -> float:
        """$\\max((1 - \\eta\\lambda_{\\min})^2, (1 - \\eta\\lambda_{\\max})^2)$ for the empirical NTK at initialisation."""
        return max((1 - self.eta * self.ntk_min) ** 2, (1 - self.eta * self.ntk_max) ** 2)

    @property
    def observed_rate(self) -> float:
        """Geometric-mean per-step factor of $\\Phi$ down to ``floor`` times its initial value."""
        above = np.flatnonzero(self.losses >= self.floor * self.losses[0])
        K = int(above[-1])
        return float((self.losses[K] / self.losses[0]) ** (1.0 / K)) if K > 0 else float("nan")

    @property
    def time_exponent(self) -> float:
        """Observed $\\kappa$ in $\\Phi \\approx e^{-\\kappa t}\\Phi(0)$ with time $t = \\eta k$: $-\\log(\\text{observed rate})/\\eta$.

        Step-size free, so comparable across widths (in the standard parameterisation $\\lambda_{\\max}(JJ^\\top)$,
        hence the stable step, scales with the width)."""
        return -math.log(self.observed_rate) / self.eta

    @property
    def late_exponent(self) -> float:
        """Like :attr:`time_exponent` but over the last third of the usable iterations (closer to the linear rate)."""
        above = np.flatnonzero(self.losses >= self.floor * self.losses[0])
        K = int(above[-1])
        k0 = (2 * K) // 3
        if K - k0 < 1:
            return float("nan")
        return -math.log(self.losses[K] / self.losses[k0]) / ((K - k0) * self.eta)

    @property
    def pl_exponent(self) -> float:
        """$\\lambda_F^2/2$: the exponent guaranteed for gradient flow while $\\sigma_{\\min}(F_{L-1}) \\ge \\lambda_F/2$."""
        return self.lambda_F**2 / 2

    @property
    def kernel_exponent(self) -> float:
        """$2\\lambda_{\\min}(JJ^\\top)$ at initialisation: the slowest exponent of the linearised flow."""
        return 2 * self.ntk_min

    def summary(self) -> dict[str, float]:
        """The run's numbers as a flat dict."""
        return {"wide": self.hidden[-1], "eta": self.eta, "lambda_F": self.lambda_F,
                "lambda_F_final": self.lambda_F_final, "ntk_min": self.ntk_min, "ntk_max": self.ntk_max,
                "observed_rate": self.observed_rate, "pl_rate": self.pl_rate, "kernel_rate": self.kernel_rate,
                "time_exponent": self.time_exponent, "late_exponent": self.late_exponent, "pl_exponent": self.pl_exponent,
                "kernel_exponent": self.kernel_exponent, "initial_loss": float(self.losses[0]),
                "final_loss": float(self.losses[-1])}


def train_deep(X: Any, y: Any, hidden: Sequence[int], *, scheme: str = "he", steps: int = 200,
               eta: float | None = None, step_factor: float = 1.0, seed: ck.Seed = 0,
               weights: Sequence[Any] | None = None) -> DeepRun:
    """Full-batch gradient descent on all layers of $f_L = W_L^\\top\\mathrm{relu}(\\cdots\\mathrm{relu}(W_1^\\top x))$.

    Loss $\\Phi = \\frac12\\sum_i(f_L(x_i) - y_i)^2$; Nguyen (2021) proves linear convergence when the last hidden
    layer has width $\\ge N$ and $\\lambda_F = \\sigma_{\\min}(F_{L-1}(0))$ is large enough compared with the initial
    loss. Default step $\\eta = $ ``step_factor``$/\\lambda_{\\max}(JJ^\\top)$ at initialisation.

    Parameters
    ----------
    X : (N, d) array
    y : (N,) array
    hidden : sequence of int
        $(n_1, \\dots, n_{L-1})$; the last one is the wide layer.
    scheme : {"standard", "lecun", "he"}
    steps : int
    eta : float, optional
    step_factor : float
    seed : int or numpy.random.Generator
    weights : list of arrays, optional
        Initial $[W_1, \\dots, W_L]$ instead of a random draw.

    Returns
    -------
    DeepRun
    """
    X = ck.inputs(X)
    N, d = X.shape
    y = as_float_array(y, "y", DataError, ndim=1)
    if y.shape != (N,):
        raise DataError(f"y: expected shape ({N},) to match X {X.shape}, got {y.shape}")
    hidden = _hidden(hidden)
    scheme = ck.choice(scheme, "scheme", SCHEMES, FamilyError)
    steps = ck.count(steps, "steps")
    if weights is None:
        Ws = init_deep(d, hidden, scheme=scheme, seed=seed)
    else:
        Ws = [W.copy() for W in _weights(list(weights), d)]
        if tuple(W.shape[1] for W in Ws[:-1]) != hidden:
            raise DataError(f"weights: hidden widths {[W.shape[1] for W in Ws[:-1]]} do not match hidden={hidden}")
    F, D = _forward_backward(X, Ws)
    K0 = sum((F[l] @ F[l].T) * (D[l] @ D[l].T) for l in range(len(Ws)))
    ev = np.linalg.eigvalsh(K0)
    if eta is None:
        eta = ck.positive_float(step_factor, "step_factor") / ev[-1]
    eta = ck.positive_float(eta, "eta")
    lam_F = sigma_min(F[-2])
    losses = np.empty(steps + 1)
    for k in range(steps + 1):
        r = F[-1][:, 0] - y
        losses[k] = 0.5 * float(r @ r)
        if k == steps:
            break
        grads = [F[l].T @ (D[l] * r[:, None]) for l in range(len(Ws))]
        for W, g in zip(Ws, grads):
            W -= eta * g
        F, D = _forward_backward(X, Ws)
    return DeepRun(hidden, scheme, float(eta), losses, lam_F, sigma_min(F[-2]), float(ev[0]), float(ev[-1]))
