"""The abstract family contract: blocks, neuron map, homogeneity class, references.

A family is a neuron map $\\varphi(\\theta; x) \\in \\mathbb{R}^k$ with parameters
$\\theta \\in \\mathbb{R}^p$ made of named blocks. Numeric kernels are vectorised over
``Q`` query parameters and ``n`` inputs; every derivative a kernel returns is with respect to the
flattened parameter vector, in the order of :attr:`Family.blocks`.
"""

from __future__ import annotations

import abc
import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp

from .._errors import DataError, FamilyError
from .._types import FloatArray
from .._validate import as_float_array, check_allocation, positive_int


@dataclass(frozen=True)
class Componentwise:
    """An expanded componentwise sympy neuron at concrete sizes: the ground truth of the tests.

    ``params`` maps each block name to a sympy Matrix (or Symbol for a scalar block) of the same
    shape; ``inputs`` does the same for the input; ``expr`` is the ``(k, 1)`` neuron; ``theta`` is
    the flat list of parameter symbols in packing order, ``x`` the flat list of input symbols.
    """

    params: dict[str, Any]
    inputs: dict[str, Any]
    expr: sp.Matrix
    theta: list[sp.Symbol]
    x: list[sp.Symbol]


class Homogeneous:
    """Capability: $\\varphi(t\\theta; x) = t^q \\varphi(\\theta; x)$ for $t > 0$ (attribute ``degree`` = q)."""

    degree: int


class OutputLinear:
    """Capability: $\\varphi(\\theta; x) = A\\,\\psi(\\eta; x)$, linear in the output block ``outer``.

    ``outer`` names the block $A$ (shape ``(k, q)``, or ``(k,)`` when $q = 1$); ``inner`` lists the
    blocks of $\\eta$; :meth:`feature` evaluates $\\psi$.
    """

    outer: str
    inner: tuple[str, ...]

    def feature(self, etas: FloatArray, X: FloatArray) -> FloatArray:  # pragma: no cover - abstract
        """$\\psi(\\eta_q; x_i)$ for inner parameters ``etas`` (Q, p_eta): returns (Q, n, q)."""
        raise NotImplementedError


class BoundedFeature:
    r"""Capability of an output-linear family: $\sup_\eta |\psi(\eta; x)| < \infty$ for every input, proved.

    Only then does the output-linear optimality theory (the sup of $|G_\mu|$, limits at infinity)
    apply; ``bound_reason`` says how the bound was proved.
    """

    bound_reason: str


class Family(abc.ABC):
    """A neuron family $\\varphi(\\theta; x) \\in \\mathbb{R}^k$ (abstract).

    Attributes
    ----------
    name : str
        Short name used by the command line and in reports.
    blocks : dict[str, tuple[int, ...]]
        Ordered per-particle block shapes; the packed parameter is their concatenation.
    input_shape : tuple[int, ...]
        Shape of one input $x_i$: ``(d,)`` or ``(tokens, d)``.
    out_dim : int
        Output dimension $k$.
    references : tuple[str, ...]
        The works whose equations the family implements.
    """

    name: str = "family"
    references: tuple[str, ...] = ()

    def __init__(self, blocks: dict[str, tuple[int, ...]], input_shape: tuple[int, ...], out_dim: int):
        self.blocks = dict(blocks)
        self.input_shape = tuple(input_shape)
        self.out_dim = int(out_dim)
        self._slices: dict[str, slice] = {}
        start = 0
        for key, shape in self.blocks.items():
            size = math.prod(shape)
            self._slices[key] = slice(start, start + size)
            start += size
        self.p = start

    # ------------------------------------------------------------------ packing
    def pack(self, **blocks: Any) -> FloatArray:
        """Concatenate blocks with a leading dimension Q into a ``(Q, p)`` array."""
        missing = [k for k in self.blocks if k not in blocks]
        extra = [k for k in blocks if k not in self.blocks]
        if missing or extra:
            raise FamilyError(
                f"pack: expected blocks {list(self.blocks)}, got {sorted(blocks)}"
                + (f" (missing {missing})" if missing else "")
                + (f" (unknown {extra})" if extra else "")
            )
        parts, Q = [], None
        for key, shape in self.blocks.items():
            arr = as_float_array(blocks[key], key, FamilyError)
            if arr.ndim != len(shape) + 1 or arr.shape[1:] != shape:
                want = "(m" + "".join(f", {s}" for s in shape) + ")"
                hint = ""
                if arr.ndim >= 1 and arr.size == arr.shape[0] * math.prod(shape):
                    hint = f"; reshape it with {key}.reshape{want.replace('(m', '(-1')}"   # e.g. (m,) for a (1,) block
                elif arr.ndim == 2 and arr.shape[::-1][1:] == shape:
                    hint = f"; transpose it ({key}.T): a PyTorch weight is (out, in), the particles come first"
                raise FamilyError(f"{key}: expected shape {want} with the particle index "
                                  f"m first (one row per neuron), got {arr.shape}{hint}")
            if Q is None:
                Q = arr.shape[0]
            elif arr.shape[0] != Q:
                raise FamilyError(f"{key}: leading dimension {arr.shape[0]} differs from the other blocks' {Q}")
            parts.append(arr.reshape(arr.shape[0], -1))
        return np.concatenate(parts, axis=1)

    def unpack(self, thetas: Any) -> dict[str, FloatArray]:
        """Split ``(Q, p)`` parameters into blocks with a leading dimension Q."""
        arr = self.check_thetas(thetas)
        return {k: arr[:, s].reshape((arr.shape[0],) + self.blocks[k]) for k, s in self._slices.items()}

    def check_thetas(self, thetas: Any, name: str = "thetas") -> FloatArray:
        """Validate a ``(Q, p)`` parameter array for this family."""
        arr = as_float_array(thetas, name, FamilyError, ndim=2)
        if arr.shape[1] != self.p:
            raise FamilyError(f"{name}: expected shape (Q, {self.p}) for family {self.name} with blocks "
                              f"{self.blocks}, got {arr.shape}")
        return arr

    def check_inputs(self, X: Any, name: str = "X") -> FloatArray:
        """Validate inputs ``(n, *input_shape)`` for this family."""
        arr = as_float_array(X, name, DataError)
        if arr.ndim != len(self.input_shape) + 1 or arr.shape[1:] != self.input_shape:
            raise DataError(f"{name}: expected shape (n, {', '.join(map(str, self.input_shape))}) for family "
                            f"{self.name}, got {arr.shape}")
        return arr

    @property
    def signature(self) -> tuple:
        """What identifies the family: two families with equal signatures define the same neuron map."""
        settings = tuple(sorted((k, repr(v)) for k, v in getattr(self, "settings", {}).items()))
        return (self.name, tuple(self.blocks.items()), self.input_shape, self.out_dim, settings)

    def block_slice(self, name: str) -> slice:
        """Columns of block ``name`` in the packed parameter."""
        if name not in self._slices:
            raise FamilyError(f"block: expected one of {list(self.blocks)}, got {name!r}")
        return self._slices[name]

    # ------------------------------------------------------------------ numeric kernels
    @abc.abstractmethod
    def phi(self, thetas: FloatArray, X: FloatArray) -> FloatArray:
        """$\\varphi(\\theta_q; x_i)$: ``(Q, p)``, ``(n, *input_shape)`` -> ``(Q, n, k)``."""

    @abc.abstractmethod
    def jacobian(self, thetas: FloatArray, X: FloatArray) -> FloatArray:
        """$\\partial\\varphi_c/\\partial\\theta$: -> ``(Q, n, k, p)``."""

    @abc.abstractmethod
    def vjp(self, thetas: FloatArray, X: FloatArray, U: FloatArray) -> FloatArray:
        """$\\sum_i \\nabla_\\theta\\varphi(\\theta_q; x_i)^\\top u_i$ for weights ``U`` ``(n, k)`` -> ``(Q, p)``."""

    @abc.abstractmethod
    def hessian_contract(self, thetas: FloatArray, X: FloatArray, U: FloatArray) -> FloatArray:
        """$\\sum_i \\sum_c u_{ic} \\nabla^2_\\theta \\varphi_c(\\theta_q; x_i)$ -> ``(Q, p, p)``."""

    def jvp(self, thetas: FloatArray, X: FloatArray, V: FloatArray) -> FloatArray:
        """$\\nabla_\\theta\\varphi(\\theta_q; x_i)\\, v_q$ for directions ``V`` ``(Q, p)`` -> ``(Q, n, k)``.

        Dense default through :meth:`jacobian`; the structured families override it matrix-free.
        """
        return np.einsum("qnkp,qp->qnk", self.jacobian(thetas, X), V, optimize=True)

    def hvp_contract(self, thetas: FloatArray, X: FloatArray, U: FloatArray, V: FloatArray) -> FloatArray:
        """$\\sum_i \\sum_c u_{ic} \\nabla^2_\\theta \\varphi_c(\\theta_q; x_i)\\, v_q$ -> ``(Q, p)``.

        Dense default through :meth:`hessian_contract`; the structured families override it with a
        forward derivative of :meth:`vjp` (Pearlmutter 1994), never a per-particle $p \\times p$ Hessian.
        """
        return np.einsum("qab,qb->qa", self.hessian_contract(thetas, X, U), V, optimize=True)

    def hvp_and_vjp(self, thetas: FloatArray, X: FloatArray, U: FloatArray, V: FloatArray,
                    U2: FloatArray | None) -> FloatArray:
        """``hvp_contract(thetas, X, U, V) + vjp(thetas, X, U2)`` (``U2`` None: the first term) -> ``(Q, p)``;
        the particle HVP needs both at the same particles, which families can share one pass for."""
        out = self.hvp_contract(thetas, X, U, V)
        return out if U2 is None else out + self.vjp(thetas, X, U2)

    @abc.abstractmethod
    def componentwise(self) -> Componentwise:
        """The expanded componentwise sympy neuron at this family's concrete sizes."""

    # ------------------------------------------------------------------ misc
    def random_particles(self, m: int, seed: int | np.random.Generator | None = 0, scale: float = 1.0) -> FloatArray:
        """``m`` particles with i.i.d. $N(0, \\mathrm{scale}^2)$ entries (``(m, p)``), seeded."""
        m = positive_int(m, "m", FamilyError)
        check_allocation(8.0 * m * self.p, "m", f"{m} particles of {self.p} parameters", FamilyError)
        rng = np.random.default_rng(seed)
        return scale * rng.standard_normal((m, self.p))

    def random_inputs(self, n: int, seed: int | np.random.Generator | None = 0) -> FloatArray:
        """``n`` standard Gaussian inputs ``(n, *input_shape)``, seeded."""
        n = positive_int(n, "n", FamilyError)
        check_allocation(8.0 * n * math.prod(self.input_shape), "n", f"{n} inputs of shape {self.input_shape}",
                         FamilyError)
        rng = np.random.default_rng(seed)
        return rng.standard_normal((n,) + self.input_shape)

    @property
    def homogeneity(self) -> str:
        """A short description of the homogeneity class."""
        parts = []
        if isinstance(self, OutputLinear):
            parts.append(f"output-linear in {self.outer}" + (", bounded feature" if isinstance(self, BoundedFeature)
                                                             else ", unbounded or unproved feature"))
        if isinstance(self, Homogeneous):
            parts.append(f"{self.degree}-homogeneous")
        return ", ".join(parts) or "general"

    def __repr__(self) -> str:
        blocks = ", ".join(f"{k}{v}" for k, v in self.blocks.items())
        return f"{type(self).__name__}({self.name}: {blocks}; input {self.input_shape}; k={self.out_dim}; {self.homogeneity})"


@functools.lru_cache(maxsize=None)
def with_capabilities(base: type, output_linear: bool, homogeneous: bool, bounded: bool = False) -> type:
    """The subclass of ``base`` that also carries the capability types asked for."""
    bases: tuple[type, ...] = (base,)
    if output_linear:
        bases += (OutputLinear,)
    if output_linear and bounded:
        bases += (BoundedFeature,)
    if homogeneous:
        bases += (Homogeneous,)
    if len(bases) == 1:
        return base
    name = "".join(b.__name__ for b in bases[1:]) + base.__name__
    return type(name, bases, {"__module__": base.__module__, "__doc__": base.__doc__})
