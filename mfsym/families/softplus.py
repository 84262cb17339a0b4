r"""Two-layer network neuron with the softplus activation $\log(1 + e^z)$ (Dugas et al. 2001)."""

from __future__ import annotations

import numpy as np
import sympy as sp

from ._inner import Z, Activation
from ._neuron import NeuronFamily
from ._registry import register
from ._ridge import ridge_family

SOFTPLUS = Activation("softplus", r"\operatorname{softplus}", sp.log(1 + sp.exp(Z)), lambda z: np.logaddexp(0.0, z))


@register("softplus", defaults={"d": 2})
def softplus(d: int, outputs: int = 1, bias: bool = True) -> NeuronFamily:
    r"""Neurons $\varphi(a, w, b; x) = a\,\log(1 + e^{w^\top x + b})$: a smooth relu that grows without bound.

    Not homogeneous and not bounded, so the family is in the general class (no global claim).

    References
    ----------
    Dugas, Bengio, Bélisle, Nadeau & Garcia 2001, *Incorporating second-order functional knowledge for
    better option pricing* (NeurIPS), the softplus unit.
    """
    return ridge_family(SOFTPLUS, d, outputs, bias, degree=None,
                        references=("Dugas et al. 2001, NeurIPS (softplus)",))
