"""Activations of the lazy-regime kernels: $\\sigma$ and $\\sigma'$ in numpy (vectorised) and mpmath.

Conventions (shared with ``mf.families``): ``relu`` is $\\max(z, 0)$ with $\\sigma'(z) = 1\\{z \\ge 0\\}$
(Du et al. 2018, §2; the value at 0 is immaterial, a null set under any Gaussian); ``erf`` is
$\\mathrm{erf}(z)$ (not $\\mathrm{erf}(z/\\sqrt2)$); ``sigmoid`` is the logistic function; ``tanh``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import mpmath as mp
import numpy as np
import scipy.special as sps

from .._errors import FamilyError
from .._types import FloatArray

ArrayFn = Callable[[FloatArray], FloatArray]


@dataclass(frozen=True)
class Activation:
    """A scalar activation $\\sigma$ given by its derivative (all $H^\\infty$ needs) and optionally itself.

    ``derivative``/``function`` act elementwise on float arrays; the ``*_mp`` versions take an mpmath
    number (needed only by ``method="mpmath"``). ``closed_form`` marks activations whose Gaussian
    expectations mfsym knows in closed form (relu, erf); ``smooth`` is False when $\\sigma'$ jumps
    (quadrature rules then converge only at first order).
    """

    name: str
    derivative: ArrayFn
    function: ArrayFn | None = None
    derivative_mp: Callable | None = None
    function_mp: Callable | None = None
    closed_form: bool = False
    smooth: bool = True


def _relu_d(z: FloatArray) -> FloatArray:
    return (np.asarray(z) >= 0).astype(np.float64)


def _tanh_d(z: FloatArray) -> FloatArray:
    e = np.exp(-2.0 * np.abs(z))  # sech^2 z = 4 e^{-2|z|} / (1 + e^{-2|z|})^2, no overflow
    return 4.0 * e / (1.0 + e) ** 2


def _sigmoid_d(z: FloatArray) -> FloatArray:
    return sps.expit(z) * sps.expit(-z)


def _erf_d(z: FloatArray) -> FloatArray:
    return (2.0 / np.sqrt(np.pi)) * np.exp(-np.square(z))


RELU = Activation("relu", _relu_d, lambda z: np.maximum(z, 0.0),
                  lambda z: mp.mpf(1) if z >= 0 else mp.mpf(0), lambda z: max(z, mp.mpf(0)),
                  closed_form=True, smooth=False)
ERF = Activation("erf", _erf_d, sps.erf, lambda z: 2 / mp.sqrt(mp.pi) * mp.exp(-z * z), mp.erf, closed_form=True)
TANH = Activation("tanh", _tanh_d, np.tanh, lambda z: mp.sech(z) ** 2, mp.tanh)
SIGMOID = Activation("sigmoid", _sigmoid_d, sps.expit,
                     lambda z: 1 / (4 * mp.cosh(z / 2) ** 2), lambda z: 1 / (1 + mp.exp(-z)))

ACTIVATIONS: dict[str, Activation] = {a.name: a for a in (RELU, ERF, TANH, SIGMOID)}


def resolve(activation: str | Activation | Callable, *, need_function: bool = False) -> Activation:
    """Turn the ``activation`` argument into an :class:`Activation` (a bare callable is $\\sigma'$)."""
    if isinstance(activation, Activation):
        act = activation
    elif isinstance(activation, str):
        if activation not in ACTIVATIONS:
            raise FamilyError(f"activation: expected one of {sorted(ACTIVATIONS)}, an ntk.Activation or a callable "
                              f"derivative sigma', got {activation!r}")
        act = ACTIVATIONS[activation]
    elif callable(activation):
        act = Activation(getattr(activation, "__name__", "custom"), activation, derivative_mp=activation)
    else:
        raise FamilyError(f"activation: expected a name, an ntk.Activation or a callable sigma', "
                          f"got {type(activation).__name__}")
    probe = np.linspace(-2.0, 2.0, 5)
    for label, fn in (("derivative", act.derivative), ("function", act.function)):
        if fn is None:
            continue
        try:
            with np.errstate(all="ignore"):
                out = np.asarray(fn(probe), dtype=float)
        except Exception as exc:  # noqa: BLE001 - any failure of user code is reported as misuse
            raise FamilyError(f"activation: {label} of {act.name!r} failed on a float array ({exc!r}); it must be "
                              f"vectorised over numpy arrays") from None
        if out.shape != probe.shape or not np.all(np.isfinite(out)):
            raise FamilyError(f"activation: {label} of {act.name!r} must map a float array of shape (5,) to finite "
                              f"values of the same shape, got shape {out.shape}")
    if need_function and act.function is None:
        raise FamilyError(f"activation: trained='both' needs sigma itself, but activation {act.name!r} gives only "
                          f"sigma'; pass ntk.Activation(name, derivative=..., function=...)")
    return act
