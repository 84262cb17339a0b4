"""Sparse-spike deconvolution (Chizat & Bach 2018, §4; Candès & Fernandez-Granda 2014)."""

from __future__ import annotations

import numbers

import sympy as sp

from .._errors import FamilyError
from .._validate import bounded_int, family_size, positive_int
from ._inner import U, SeparableKernel
from ._neuron import NeuronFamily, make_family
from ._registry import register

MAX_CUTOFF = 200  # largest Dirichlet cutoff: the symbolic kernel has 2N + 1 terms


@register("deconvolution", defaults={"d": 2},
          requires={"width": ("kernel", "gaussian"), "cutoff": ("kernel", "dirichlet")})
def deconvolution(d: int = 1, kernel: str = "gaussian", width: float | str = "1/5", cutoff: int = 5) -> NeuronFamily:
    r"""Spikes $\varphi(a, t; x) = a\,\kappa(x - t)$ observed through a convolution kernel.

    Kernels (separable over the $d$ coordinates, $\kappa(u) = \prod_j k(u_j)$):

    * ``"gaussian"``: $k(u) = \exp(-u^2 / (2 s^2))$ with $s$ = ``width`` (a rational string or number);
    * ``"dirichlet"``: $k(u) = 1 + 2\sum_{\omega=1}^{N} \cos(2\pi\omega u)$ on the torus, $N$ = ``cutoff``.

    Parameters
    ----------
    d : int
        Dimension of the spike positions ``t`` ``(d,)``.
    kernel : {"gaussian", "dirichlet"}
    width : float or str
        Gaussian width $s > 0$; strings such as ``"1/5"`` enter sympy exactly.
    cutoff : int
        Dirichlet cutoff frequency $N \ge 1$.

    Returns
    -------
    An output-linear family with blocks ``a`` ``()`` ($A = a$) and ``t`` ``(d,)`` ($\eta = t$).

    References
    ----------
    Chizat & Bach 2018 (arXiv 1805.09545), §4 (case studies: sparse deconvolution).
    """
    d = positive_int(d, "d", FamilyError)
    family_size({"d": d}, 1 + d, d, FamilyError)
    if kernel == "gaussian":
        if isinstance(width, bool) or not isinstance(width, (numbers.Real, str)):
            raise FamilyError(f"width: expected a positive number or rational string, got {width!r}")
        try:
            s = sp.Rational(width) if isinstance(width, str) else sp.nsimplify(width, rational=True)
        except (TypeError, ValueError, sp.SympifyError):
            raise FamilyError(f"width: expected a positive number or rational string, got {width!r}") from None
        if not s.is_positive:
            raise FamilyError(f"width: expected a positive number, got {width!r}")
        profile = sp.exp(-U**2 / (2 * s**2))
        settings = {"kernel": kernel, "width": str(s)}
    elif kernel == "dirichlet":
        N = bounded_int(cutoff, "cutoff", FamilyError, 1, MAX_CUTOFF,
                        why="the kernel is written out as 2N + 1 cosines: building it takes about 9 s at N = 200 "
                            "and over a minute at N = 1000")
        profile = 1 + 2 * sum(sp.cos(2 * sp.pi * w * U) for w in range(1, N + 1))
        settings = {"kernel": kernel, "cutoff": N}
    else:
        raise FamilyError(f"kernel: expected 'gaussian' or 'dirichlet', got {kernel!r}")
    return make_family("deconvolution", SeparableKernel(profile, d), 1, outer="a",
                       references=("Chizat & Bach 2018, arXiv 1805.09545, §4",), scalar_outer=True, d=d, **settings)
