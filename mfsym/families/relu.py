"""Two-layer ReLU network neuron (Chizat & Bach 2018, §2.2; Safran & Shamir 2018)."""

from __future__ import annotations

from ._activations import RELU
from ._neuron import NeuronFamily
from ._ridge import ridge_family
from ._registry import register


@register("relu", defaults={"d": 2})
def relu(d: int, outputs: int = 1, bias: bool = False) -> NeuronFamily:
    r"""ReLU neurons $\varphi(a, w, b; x) = a\,\max(0, w^\top x + b)$.

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
    A family with blocks ``a`` (if outputs > 0), ``w`` ``(d,)``, ``b`` ``()`` (if bias), positively
    homogeneous of degree 2 (trained outputs) or 1 (``outputs=0``) in $\theta$.

    References
    ----------
    Chizat & Bach 2018 (arXiv 1805.09545), §2.2 and §3.3 (2-homogeneous case).
    """
    return ridge_family(RELU, d, outputs, bias, degree=1,
                        references=("Chizat & Bach 2018, arXiv 1805.09545, §2.2",
                                    "Safran & Shamir 2018, arXiv 1712.08968"))
