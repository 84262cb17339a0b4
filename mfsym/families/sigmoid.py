"""Two-layer network neuron with the bounded activation sigmoid (Petit, Poon & Peyré 2026)."""

from __future__ import annotations

from ._activations import SIGMOID
from ._neuron import NeuronFamily
from ._ridge import ridge_family
from ._registry import register


@register("sigmoid", defaults={"d": 2})
def sigmoid(d: int, outputs: int = 1, bias: bool = True) -> NeuronFamily:
    r"""Neurons $\varphi(a, w, b; x) = a\,s(w^\top x + b)$ with $s(z) = \sigma(z) = 1/(1 + e^{-z})$.

    Parameters
    ----------
    d : int
        Input dimension.
    outputs : int
        Output dimension $k$ of the block ``a`` ``(k,)``; 0 fixes $a = 1$ (masses carry the sign).
    bias : bool
        Whether a bias block ``b`` ``()`` is trained.

    Returns
    -------
    An output-linear family ($A = a$, $\eta = (w, b)$) when outputs > 0, else a general one.

    References
    ----------
    Petit, Poon & Peyré 2026 (arXiv 2605.10775): bounded nonlinearities, scalar and vector outputs.
    """
    return ridge_family(SIGMOID, d, outputs, bias, degree=None,
                        references=("Petit, Poon & Peyré 2026, arXiv 2605.10775",
                                    "Chizat & Bach 2018, arXiv 1805.09545, §2.2"))
