"""Box covers of the reduced potentials, proved cell by cell with the shared ball engine.

The enclosures are those of every certificate (:mod:`mfsym._enclose`: the neuron's exact derivative
formulas compiled into ball programs); this module only adds the box bookkeeping of the mean-field
escaping-set covers: $J_\\mu$ and $G_\\mu$ over boxes, and the bisection that proves a three-valued
decision on every cell.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from flint import arb

from .._ball import Undecided
from .._errors import CertificateError
from .._enclose import ball_problem
from ..data import Samples


class Enclosure:
    """$J_\\mu$ and $G_\\mu$ over boxes (lists of balls), from every particle of $\\mu$ (exact binary floats)."""

    def __init__(self, prob, mu):
        if not isinstance(prob.data, Samples):   # population kernels are singular on the cover's diagonal
            raise CertificateError("prob: ball-arithmetic enclosures need sample data (mf.Samples)")
        try:
            self._bp = ball_problem(prob, mu.particles, mu.masses, offset=mu.offset)
        except Undecided as exc:
            raise CertificateError(f"prob: no ball-arithmetic enclosure ({exc})") from None
        self.fam, self.prob = prob.family, prob

    def J(self, theta: list[arb]) -> arb:
        """$J_\\mu$ over the box ``theta``: $\\frac1n\\sum_i\\langle r_i,\\varphi(\\theta; x_i)\\rangle + \\frac\\lambda2|\\theta|^2$."""
        return self._bp.potential(theta)

    def G(self, outer_cols, inner_cols, k: int, q: int, eta: list[arb]) -> list[arb]:
        """Entries $G_{cj}$ over the box ``eta``, from $G_{cj} = J(E_{cj}, \\eta)$ (output-linear: no regulariser)."""
        out = []
        for c in range(k):
            for j in range(q):
                theta = [arb(0)] * self.fam.p
                for col, val in zip(inner_cols, eta):
                    theta[col] = val
                theta[outer_cols[c * q + j]] = arb(1)
                out.append(self._bp.potential(theta))
        return out


def certify_cells(lo: np.ndarray, hi: np.ndarray, decide: Callable[[np.ndarray, np.ndarray], bool | None],
                  max_depth: int = 3) -> tuple[np.ndarray, int]:
    """Prove ``decide`` on every box ``[lo_b, hi_b]`` (bisecting undecided boxes up to ``max_depth``).

    ``decide(lo, hi)`` is three-valued: True (proved), False (refuted), None (undecided; an
    :class:`~mfsym._ball.Undecided` raised inside counts as None). Returns per-box status (1 proved,
    0 refuted somewhere, -1 undecided somewhere) and the number of box evaluations.
    """
    status = np.empty(len(lo), dtype=int)
    evals = 0
    for b in range(len(lo)):
        stack = [(lo[b], hi[b], 0)]
        st = 1
        while stack:
            a, z, depth = stack.pop()
            try:
                res = decide(a, z)
            except Undecided:
                res = None
            evals += 1
            if res is True:
                continue
            if res is False:
                st = 0
                break
            if depth >= max_depth:
                st = -1
                break
            k = int(np.argmax(z - a))
            m = 0.5 * (a[k] + z[k])
            z1, a2 = z.copy(), a.copy()
            z1[k], a2[k] = m, m
            stack += [(a, z1, depth + 1), (a2, z, depth + 1)]
        status[b] = st
    return status, evals
