"""Families by name, for the command line and spec files."""

from __future__ import annotations

from typing import Any, Callable

from .._errors import FamilyError
from ._base import Family
from .attention import attention
from .deconvolution import deconvolution
from .erf import erf
from .relu import relu
from .sigmoid import sigmoid
from .tanh import tanh

FACTORIES: dict[str, Callable[..., Family]] = {
    "relu": relu, "sigmoid": sigmoid, "tanh": tanh, "erf": erf,
    "attention": attention, "deconvolution": deconvolution,
}


def by_name(name: str, **options: Any) -> Family:
    """Build a built-in family from its name and keyword options (``d``, ``outputs``, ``bias``, ...)."""
    if name not in FACTORIES:
        raise FamilyError(f"family: expected one of {sorted(FACTORIES)}, got {name!r}")
    try:
        return FACTORIES[name](**options)
    except TypeError as exc:
        raise FamilyError(f"family {name!r}: bad options {options} ({exc})") from None
