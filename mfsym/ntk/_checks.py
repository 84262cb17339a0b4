"""Input checks of the ntk layer: validate before converting; never ``assert``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._errors import DataError, MfsymError
from .._types import FloatArray
from .._validate import as_float_array, positive_int

Seed = int | np.random.Generator


def rng_from(seed: Any, name: str = "seed") -> np.random.Generator:
    """A numpy Generator from an integer seed >= 0 or a Generator (used as is, so calls share its stream)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise DataError(f"{name}: expected an integer >= 0 or a numpy.random.Generator, got {seed!r}")
    return np.random.default_rng(int(seed))


def positive_float(value: Any, name: str, *, allow_zero: bool = False, error: type[MfsymError] = DataError) -> float:
    """A finite real number > 0 (>= 0 with ``allow_zero``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise error(f"{name}: expected a real number, got {value!r}")
    v = float(value)
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise error(f"{name}: expected a finite number {'>=' if allow_zero else '>'} 0, got {value!r}")
    return v


def probability(value: Any, name: str) -> float:
    """A number in the open interval (0, 1)."""
    v = positive_float(value, name)
    if v >= 1:
        raise DataError(f"{name}: expected a probability in (0, 1), got {value!r}")
    return v


def choice(value: Any, name: str, options: Sequence[str], error: type[MfsymError] = DataError) -> str:
    """One of the string ``options``."""
    if not isinstance(value, str) or value not in options:
        raise error(f"{name}: expected one of {list(options)}, got {value!r}")
    return value


def count(value: Any, name: str, minimum: int = 1) -> int:
    """An integer >= ``minimum`` (widths, steps, sample counts)."""
    return positive_int(value, name, DataError, minimum=minimum)


def inputs(X: Any, name: str = "X") -> FloatArray:
    """Inputs ``(n, d)``: real, finite, at least one row and one column, no zero row."""
    arr = as_float_array(X, name, DataError, ndim=2)
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise DataError(f"{name}: expected shape (n, d) with n, d >= 1, got {arr.shape}")
    sq = np.einsum("ij,ij->i", arr, arr)
    zero = np.flatnonzero(sq == 0)
    if zero.size:
        raise DataError(f"{name}: row {int(zero[0])} is zero ({zero.size} zero row(s)); the Gram matrix then has a "
                        f"zero row and lambda0 = 0 -- drop such inputs")
    return arr


def unit_rows(X: FloatArray, normalize: Any, unit_tol: Any, name: str = "X") -> tuple[FloatArray, FloatArray]:
    """Apply the unit-norm convention of Du et al. (2018, §3: $\\|x_i\\|_2 = 1$); return ``(X, |x_i|^2)``.

    ``normalize=True`` rescales the rows; otherwise rows must have norm 1 within ``unit_tol``
    (``unit_tol=None`` accepts any norms: the closed forms below hold for general norms).
    """
    if not isinstance(normalize, (bool, np.bool_)):
        raise DataError(f"normalize: expected True or False, got {normalize!r}")
    sq = np.einsum("ij,ij->i", X, X)
    if normalize:
        X = X / np.sqrt(sq)[:, None]
        return X, np.einsum("ij,ij->i", X, X)
    if unit_tol is not None:
        tol = positive_float(unit_tol, "unit_tol")
        dev = np.abs(np.sqrt(sq) - 1.0)
        i = int(np.argmax(dev))
        if dev[i] > tol:
            raise DataError(f"{name}: expected unit-norm rows (Du et al. 2018 assume |x_i| = 1), but row {i} has norm "
                            f"{math.sqrt(sq[i]):.6g} (deviation {dev[i]:.2e} > unit_tol={tol:g}); pass normalize=True to "
                            f"rescale the rows, or unit_tol=None to use the general-norm formulas")
    return X, sq
