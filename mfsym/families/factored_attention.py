r"""Attention heads with factored key and query matrices, $W = K^\top Q$ of rank $r$."""

from __future__ import annotations

import sympy as sp

from .._errors import FamilyError
from .._validate import family_size, positive_int
from ._calculus import InnerCalculus, T_, d_
from ._inner import InnerMap, softmax_head, token_table
from ._neuron import NeuronFamily, make_family
from ._registry import register

r_ = sp.Symbol("r", integer=True, positive=True)


class FactoredAttention(InnerMap):
    r"""$\psi(K, Q; X) = X^\top \mathrm{softmax}(X K^\top Q x_q)$, $K, Q \in \mathbb{R}^{r \times d}$."""

    def __init__(self, d: int, tokens: int, rank: int, names: tuple[str, str] = ("K", "Q")):
        self.d, self.tokens, self.rank = d, tokens, rank
        self.blocks = {names[0]: (rank, d), names[1]: (rank, d)}
        self.dim = d
        self.input_shape = (tokens, d)

    def boundedness(self):
        return True, "psi = X^T softmax(.) is a convex combination of the tokens: |psi| <= max_t |x_t| for every K, Q"

    @classmethod
    def candidates(cls, blocks, input_shape):
        shapes = list(blocks.values())
        if len(input_shape) == 2 and len(shapes) == 2 and shapes[0] == shapes[1] and len(shapes[0]) == 2 \
                and shapes[0][1] == input_shape[1]:
            return [cls(input_shape[1], input_shape[0], shapes[0][0], names=tuple(blocks))]
        return []

    def _calculus(self) -> InnerCalculus:
        r"""Scores $z_i = X_i K^\top u_i$ with the query's code $u_i = Q x_{i,T}$; $z_i$ is bilinear in $(K, Q)$:
        $\partial z_i/\partial K = u_i^\top \otimes X_i$, $\partial z_i/\partial Q = X_i K^\top \otimes x_{i,T}^\top$ and
        the only second derivative, $\partial^2 (\rho_i^\top z_i)/\partial K \partial Q = I_r \otimes X_i^\top \rho_i x_{i,T}^\top$."""
        kn, qn = self.blocks
        K, Qm = sp.MatrixSymbol(kn, r_, d_), sp.MatrixSymbol(qn, r_, d_)
        head = softmax_head(sp.MatrixSymbol("X_i", T_, d_), scores=lambda X, xq: X * K.T * Qm * xq,
                            scores_latex=rf"X_i {kn}^{{\top}} {qn} x_{{i,T}}", q=d_)
        X, xq, g, p, D, M, rho = head.X, head.xq, head.g, head.p, head.D, head.M, head.rho
        Jk, Jq = sp.KroneckerProduct(xq.T * Qm.T, X), sp.KroneckerProduct(X * K.T, xq.T)    # dz/dK, dz/dQ
        Jkt, Jqt = sp.KroneckerProduct(Qm * xq, X.T), sp.KroneckerProduct(K * X.T, xq)      # their transposes
        jac = {kn: X.T * D * Jk, qn: X.T * D * Jq}
        grad = {kn: Qm * xq * rho.T * X, qn: K * X.T * rho * xq.T}
        hess = {(kn, kn): Jkt * M * Jk,
                (kn, qn): Jkt * M * Jq + sp.KroneckerProduct(sp.Identity(r_), X.T * rho * xq.T),
                (qn, qn): Jqt * M * Jq}
        names = {K: kn, Qm: qn, **head.names}
        calc = InnerCalculus({kn: K, qn: Qm}, {b: rf"{b} \in \mathbb{{R}}^{{r \times d}}" for b in (kn, qn)},
                             [X, xq], r"X_i \in \mathbb{R}^{T \times d}", g, X.T * p, r"X_i^{\top} p_i", jac, grad, hess,
                             head.definitions, head.weight_definitions, names, {}, {},
                             {d_: self.d, T_: self.tokens, r_: self.rank}, self.d, "factored attention",
                             numeric_inputs=lambda Xn: {X: Xn, xq: Xn[:, -1, :]})
        calc.input_table = token_table(self.tokens, self.d, X, xq)
        return calc


@register("factored_attention", defaults={"d": 2, "outputs": 1, "tokens": 3, "rank": 1})
def factored_attention(d: int, outputs: int, tokens: int, rank: int) -> NeuronFamily:
    r"""Attention heads $\varphi(V, K, Q; X) = V X^\top \mathrm{softmax}(X K^\top Q x_q)$ with key and query
    matrices $K, Q \in \mathbb{R}^{r \times d}$ (the merged $W = K^\top Q$ has rank $\le r$).

    Parameters
    ----------
    d : int
        Token dimension.
    outputs : int
        Output dimension $k$ (the value block ``V``, ``(k, d)``).
    tokens : int
        Number of tokens $T$ per input; the query is the last one.
    rank : int
        Rank $r$ of the key-query product.

    References
    ----------
    Vaswani et al. 2017 (scaled dot-product attention, keys and queries); Petit, Poon & Peyré 2026
    (arXiv 2605.10775), the mean-field limit of multi-head attention.
    """
    d = positive_int(d, "d", FamilyError)
    outputs = positive_int(outputs, "outputs", FamilyError)
    tokens = positive_int(tokens, "tokens", FamilyError)
    rank = positive_int(rank, "rank", FamilyError)
    family_size({"d": d, "outputs": outputs, "tokens": tokens, "rank": rank}, outputs * d + 2 * rank * d,
                tokens * d, FamilyError)
    return make_family("factored-attention", FactoredAttention(d, tokens, rank), outputs, outer="V",
                       references=("Vaswani et al. 2017", "Petit, Poon & Peyré 2026, arXiv 2605.10775"),
                       d=d, tokens=tokens, rank=rank)
