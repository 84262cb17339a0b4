"""One attention head per particle (Petit, Poon & Peyré 2026, multi-head attention)."""

from __future__ import annotations

from .._errors import FamilyError
from .._validate import family_size, positive_int
from ._inner import SoftmaxAttention
from ._neuron import NeuronFamily, make_family
from ._registry import register


@register("attention", defaults={"d": 2, "outputs": 1, "tokens": 3})
def attention(d: int, outputs: int, tokens: int) -> NeuronFamily:
    r"""Attention heads $\varphi(V, W; X) = V X^\top \mathrm{softmax}(X W x_q)$.

    The query $x_q$ is the last token of $X \in \mathbb{R}^{T \times d}$; $W = K^\top Q$ is the merged
    key-query matrix, so the scores are $s_t = x_t^\top W x_q$. A width-$m$ mean-field model is a
    multi-head attention layer with $m$ heads.

    Parameters
    ----------
    d : int
        Token dimension.
    outputs : int
        Output dimension $k$: the value block ``V`` has shape ``(k, d)``.
    tokens : int
        Number of tokens $T$ per input.

    Returns
    -------
    An output-linear family with $A = V$, $\eta = W$, $\psi(W; X) = X^\top \mathrm{softmax}(X W x_q)$.

    References
    ----------
    Petit, Poon & Peyré 2026 (arXiv 2605.10775), multi-head attention section.
    """
    d = positive_int(d, "d", FamilyError)
    outputs = positive_int(outputs, "outputs", FamilyError)
    tokens = positive_int(tokens, "tokens", FamilyError)
    family_size({"d": d, "outputs": outputs, "tokens": tokens}, outputs * d + d * d, tokens * d, FamilyError)
    return make_family("attention", SoftmaxAttention(d, tokens), outputs, outer="V",
                       references=("Petit, Poon & Peyré 2026, arXiv 2605.10775",),
                       d=d, tokens=tokens)
