"""Finite measures $\\mu = \\sum_j c_j \\delta_{\\theta_j}$ over a family's parameter space."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ._errors import MeasureError
from ._types import FloatArray, Masses, Particles
from ._validate import as_float_array, read_npz, writable_path
from .families import Family


def masses_arg(masses: Any, m: int) -> Masses:
    """Validated masses ``(m,)``; None gives the mean-field normalisation $c_j = 1/m$."""
    if masses is None:
        return np.full(m, 1.0 / m)
    c = as_float_array(masses, "masses", MeasureError, ndim=1)
    if c.shape != (m,):
        raise MeasureError(f"masses: expected shape ({m},) to match {m} particles, got {c.shape}")
    return c


class Measure:
    """Particles $\\theta_1..\\theta_m$ ``(m, p)`` with real masses $c_1..c_m$ ``(m,)`` (default $1/m$).

    Signed masses stand for fixed output signs (Du et al. 2018); families with trained outputs use
    positive masses. The model is $f_\\mu(x) = \\sum_j c_j \\varphi(\\theta_j; x)$, plus a trained output
    bias $\\beta$ ``(k,)`` when ``offset`` is given: $f_{\\mu,\\beta}(x) = \\sum_j c_j\\varphi(\\theta_j; x) + \\beta$
    (``offset=None``: no output bias, the default).
    """

    def __init__(self, family: Family, particles: Any, masses: Any = None, offset: Any = None):
        if not isinstance(family, Family):
            raise MeasureError(f"family: expected an mfsym Family, got {type(family).__name__}")
        self.family = family
        P = as_float_array(particles, "particles", MeasureError, ndim=2)
        if P.shape[0] == 0:
            raise MeasureError("particles: expected at least one particle, got an empty array of shape "
                               f"{P.shape}")
        if P.shape[1] != family.p:
            raise MeasureError(f"particles: expected shape (m, {family.p}) for family {family.name} "
                               f"with blocks {family.blocks}, got {P.shape}")
        m = P.shape[0]
        c = masses_arg(masses, m)
        self.particles: Particles = P
        self.masses: Masses = c
        self.offset: FloatArray | None = None
        if offset is not None:
            b = as_float_array(offset, "offset", MeasureError, ndim=(0, 1)).reshape(-1)
            if b.shape != (family.out_dim,):
                raise MeasureError(f"offset: expected the output bias of shape ({family.out_dim},) for a family with "
                                   f"{family.out_dim} output(s), got shape {np.shape(offset)}")
            self.offset = b

    @classmethod
    def from_blocks(cls, family: Family, masses: Any = None, offset: Any = None, **blocks: Any) -> "Measure":
        """Build a measure from per-block arrays with a leading particle dimension m (and an output bias)."""
        try:
            P = family.pack(**blocks)
        except Exception as exc:
            raise MeasureError(str(exc)) from None
        return cls(family, P, masses, offset)

    @property
    def m(self) -> int:
        """Number of particles."""
        return self.particles.shape[0]

    @property
    def blocks(self) -> dict[str, FloatArray]:
        """Block views ``{name: (m, *shape)}``."""
        return self.family.unpack(self.particles)

    def copy(self, particles: Any = None, masses: Any = None, offset: Any = None) -> "Measure":
        """A new measure of the same family (and output bias), optionally with new particles, masses or bias."""
        if offset is None and self.offset is not None:
            offset = self.offset.copy()
        return Measure(self.family, self.particles.copy() if particles is None else particles,
                       self.masses.copy() if masses is None else masses, offset)

    def total_mass(self) -> float:
        """$\\sum_j c_j$."""
        return float(self.masses.sum())

    def save(self, path: str | Path) -> None:
        """Write particles and masses (and block names for reference) to an ``.npz`` file."""
        writable_path(path, "path", MeasureError)
        extra = {} if self.offset is None else {"offset": self.offset}
        np.savez(path, particles=self.particles, masses=self.masses,
                 blocks=np.array(list(self.family.blocks)), family=np.array(self.family.name), **extra)

    @classmethod
    def load(cls, family: Family, path: str | Path) -> "Measure":
        """Read a measure written by :meth:`save` (or any ``.npz`` with ``particles`` and ``masses``, or
        with one array per block and ``masses``). A file without ``masses`` is refused: the default
        $1/m$ of :meth:`from_blocks` would scale a trained network down $m$-fold without a word."""
        data = read_npz(path, "path", MeasureError, what="a measure")
        masses, offset = data.get("masses"), data.get("offset")
        saved = str(data["family"]) if "family" in data else None
        if saved is not None and saved != family.name:
            raise MeasureError(f"path: {str(path)!r} holds a measure of family {saved!r}, expected {family.name!r}")
        unknown = sorted(set(data) - {"particles", "masses", "offset", "blocks", "family"} - set(family.blocks))
        if unknown:  # e.g. a bias 'b' for a family without one: never dropped silently
            raise MeasureError(f"path: {str(path)!r} has array(s) {unknown} that family {family.name} (blocks "
                               f"{list(family.blocks)}) does not have; expected 'particles', 'masses', 'offset' or "
                               "one array per block")
        if masses is None and ("particles" in data or all(k in data for k in family.blocks)):
            raise MeasureError(f"path: {str(path)!r} has no 'masses' array; add one: np.ones(m) for a trained network "
                               "whose output weights carry its scale, np.full(m, 1/m) for the mean-field normalisation "
                               "(docs/conventions.md)")
        if "particles" in data:
            return cls(family, data["particles"], masses, offset)
        if all(k in data for k in family.blocks):
            return cls.from_blocks(family, masses, offset, **{k: data[k] for k in family.blocks})
        raise MeasureError(f"path: {str(path)!r} has arrays {sorted(data)}; expected 'particles' (and 'masses') "
                           f"or one array per block {list(family.blocks)}")

    def __repr__(self) -> str:
        bias = "" if self.offset is None else f", output bias {np.array2string(self.offset, precision=4)}"
        return f"Measure({self.family.name}, m={self.m}, total mass {self.total_mass():.4g}{bias})"
