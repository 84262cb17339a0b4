"""Input checks shared by the public constructors: validate before converting."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._errors import MfsymError


def as_float_array(value: Any, name: str, error: type[MfsymError], ndim: int | tuple[int, ...] | None = None) -> np.ndarray:
    """Return ``value`` as a float64 array after checking it is real, finite and of the right rank."""
    if isinstance(value, (str, bytes)) or value is None:
        raise error(f"{name}: expected a real numeric array, got {type(value).__name__}")
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise error(f"{name}: expected a real numeric array, could not convert ({exc})") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise error(f"{name}: expected a real numeric array, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise error(f"{name}: expected real values, got complex dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else ndim
        if arr.ndim not in allowed:
            raise error(f"{name}: expected an array with {' or '.join(map(str, allowed))} dimensions, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise error(f"{name}: expected finite values, got {bad} NaN/inf entr{'y' if bad == 1 else 'ies'}")
    return arr


def positive_int(value: Any, name: str, error: type[MfsymError], minimum: int = 1) -> int:
    """Check that ``value`` is an integer (not a bool or float) at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise error(f"{name}: expected an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise error(f"{name}: expected an integer >= {minimum}, got {value}")
    return int(value)


def positive_float(value: Any, name: str, error: type[MfsymError], allow_zero: bool = False) -> float:
    """Check that ``value`` is a finite real number (not a bool or string) ``> 0``, or ``>= 0`` with ``allow_zero``."""
    ok = not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))
    if ok:
        value = float(value)
        ok = bool(np.isfinite(value)) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        raise error(f"{name}: expected a finite number {'>= 0' if allow_zero else '> 0'}, got {value!r}")
    return value


def bool_arg(value: Any, name: str, error: type[MfsymError], allow_none: bool = False) -> bool | None:
    """Check that ``value`` is ``True`` or ``False`` (or ``None`` with ``allow_none``); no truthiness coercion."""
    if value is None and allow_none:
        return None
    if not isinstance(value, (bool, np.bool_)):
        raise error(f"{name}: expected True or False{' or None' if allow_none else ''}, got {value!r}")
    return bool(value)


def seed_arg(value: Any, name: str, error: type[MfsymError],
             allow_none: bool = False) -> int | np.random.Generator | None:
    """Check a seed for ``np.random.default_rng``: an integer ``>= 0`` or a numpy Generator (or ``None`` with
    ``allow_none``, meaning fresh OS entropy); a Generator is returned as is, an integer as ``int``."""
    if value is None and allow_none:
        return None
    if isinstance(value, np.random.Generator):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        what = "an integer >= 0, a numpy.random.Generator or None" if allow_none else \
            "an integer >= 0 or a numpy.random.Generator"
        raise error(f"{name}: expected {what}, got {value!r}")
    return int(value)


def optional_import(module: str, extra: str, what: str):
    """Import the optional ``module`` (for ``what``), or raise one line naming the extra that provides it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        from ._errors import DependencyError

        raise DependencyError(f"{what} need the optional package {module.split('.')[0]!r}: "
                              f"pip install mfsym[{extra}]") from None
