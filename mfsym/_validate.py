"""Input checks shared by the public constructors: validate before converting (STYLE §6)."""

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
