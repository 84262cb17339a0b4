"""The registry of built-in families: each family file registers its factory once, by name.

Every table that needs family names -- the command line (``mfsym derive``), spec files, certificates
(which rebuild a family from its name and options) -- reads :data:`REGISTRY`; nothing else lists
families. A new family is one module in this package whose factory is decorated with :func:`register`
(the package imports every public module it holds).
"""

from __future__ import annotations

import functools
import inspect
import numbers
from dataclasses import dataclass, field
from typing import Any, Callable

from .._errors import FamilyError
from ._base import Family


@dataclass(frozen=True)
class Entry:
    """One registered family.

    ``options`` are the factory's keyword options a user may set (command line, spec files);
    ``defaults`` the sizes ``mfsym derive`` uses when an option is not given; ``requires`` maps an
    option to the ``(option, value)`` it belongs to (e.g. a kernel-specific width).
    """

    name: str
    factory: Callable[..., Family]
    options: tuple[str, ...]
    defaults: dict[str, Any] = field(default_factory=dict)
    requires: dict[str, tuple[str, Any]] = field(default_factory=dict)
    summary: str = ""


REGISTRY: dict[str, Entry] = {}


def _jsonable(value: Any) -> Any:
    if isinstance(value, (bool, str)) or value is None:
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    return str(value)


def register(name: str, *, defaults: dict[str, Any] | None = None,
             requires: dict[str, tuple[str, Any]] | None = None) -> Callable:
    """Register a family factory under ``name``; the families it builds remember their options.

    The factory's keyword parameters are the family's options. Each family built through the
    registered factory gets ``registry_name`` and ``options`` (the bound arguments, defaults
    applied), which is what certificates store to rebuild it.
    """

    def decorate(factory: Callable[..., Family]) -> Callable[..., Family]:
        if name in REGISTRY:
            raise FamilyError(f"family {name!r} is registered twice")
        sig = inspect.signature(factory)

        @functools.wraps(factory)
        def build(*args: Any, **kwargs: Any) -> Family:
            fam = factory(*args, **kwargs)
            try:
                bound = sig.bind(*args, **kwargs)
            except TypeError:  # pragma: no cover - the factory call above raised already
                return fam
            bound.apply_defaults()
            fam.registry_name = name
            fam.options = {k: _jsonable(v) for k, v in bound.arguments.items()}
            return fam

        doc = (inspect.getdoc(factory) or "").strip().splitlines()
        REGISTRY[name] = Entry(name, build, tuple(sig.parameters), dict(defaults or {}), dict(requires or {}),
                               doc[0] if doc else "")
        return build

    return decorate


def by_name(name: str, **options: Any) -> Family:
    """Build a registered family from its name and keyword options (``d``, ``outputs``, ``bias``, ...)."""
    if name not in REGISTRY:
        raise FamilyError(f"family: expected one of {sorted(REGISTRY)}, got {name!r}")
    entry = REGISTRY[name]
    unknown = sorted(set(options) - set(entry.options))
    if unknown:
        raise FamilyError(f"family {name!r}: unknown options {unknown}; it takes {list(entry.options)}")
    try:
        return entry.factory(**options)
    except TypeError as exc:
        raise FamilyError(f"family {name!r}: bad options {options} ({exc})") from None
