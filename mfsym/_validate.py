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
    if arr.dtype == bool:
        raise error(f"{name}: expected a real numeric array, got booleans (dtype bool; convert explicitly, "
                    "e.g. x.astype(float), if 0/1 is meant)")
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
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


def bounded_int(value: Any, name: str, error: type[MfsymError], minimum: int, maximum: int, why: str = "") -> int:
    """Check that ``value`` is an integer in ``[minimum, maximum]``; ``why`` says where the upper bound comes from."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not minimum <= value <= maximum:
        raise error(f"{name}: expected an integer in [{minimum}, {maximum}]{' (' + why + ')' if why else ''}, "
                    f"got {value!r}")
    return int(value)


def tolerance(value: Any, name: str, error: type[MfsymError], maximum: float, why: str) -> float:
    """Check a tolerance: a finite number in ``(0, maximum]``; above ``maximum`` it would decide nothing (``why``)."""
    value = positive_float(value, name, error)
    if value > maximum:
        raise error(f"{name}: expected a tolerance in (0, {maximum:g}] ({why}), got {value!r}")
    return value


# ---------------------------------------------------------------------------------------------- memory
#: vectors of the parameter (and input) size a computation holds at the very least, per particle and sample
#: (features, gradients, Jacobian rows, Hessian-vector products): a family whose vectors cannot be held this
#: many times over cannot be used for any problem
WORKING_VECTORS = 64


def available_memory() -> int:
    """Bytes of memory available now: Linux ``MemAvailable``, else the physical memory, else 8 GiB."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import os

        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return 8 << 30


def format_bytes(n: float) -> str:
    """``1.46 TiB``: a byte count in binary units."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.3g} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.3g} PiB"  # pragma: no cover


def check_allocation(nbytes: float, name: str, what: str, error: type[MfsymError]) -> None:
    """Refuse, before allocating, ``what`` (named by the argument ``name``) when it needs more than the memory."""
    avail = available_memory()
    if nbytes > avail:
        raise error(f"{name}: {what} would need {format_bytes(nbytes)}, more than the {format_bytes(avail)} of "
                    f"memory available on this machine")


def family_size(sizes: dict[str, int], p: int, input_size: int, error: type[MfsymError]) -> None:
    """Refuse a family whose parameter vector (``p``) and input (``input_size``) floats cannot be held
    ``WORKING_VECTORS`` times; the message names the largest of the size arguments ``sizes``."""
    nbytes = 8.0 * (p + input_size) * WORKING_VECTORS
    avail = available_memory()
    if nbytes > avail:
        name = max(sizes, key=lambda k: sizes[k])
        raise error(f"{name}: {name} = {sizes[name]} gives p = {p} parameters and inputs of {input_size} entries; "
                    f"even the smallest problem holds {WORKING_VECTORS} such vectors, {format_bytes(nbytes)}, more "
                    f"than the {format_bytes(avail)} of memory available on this machine")


# ---------------------------------------------------------------------------------------------- files
def read_npz(path: Any, name: str, error: type[MfsymError], what: str = "arrays") -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` file, or one line naming ``name`` when it is missing, corrupt or of another kind."""
    import zipfile
    from pathlib import Path

    if not isinstance(path, (str, Path)):
        raise error(f"{name}: expected a path to an .npz file, got {type(path).__name__}")
    p = Path(path)
    where = f"{name}: could not read {what} from {str(p)!r}"
    if p.is_dir():
        raise error(f"{where}: it is a directory, expected an .npz file")
    try:
        with open(p, "rb") as fh:
            magic = fh.read(6)
    except OSError as exc:
        raise error(f"{where} ({exc.strerror or exc})") from None
    if magic.startswith(b"\x93NUMPY"):
        raise error(f"{where}: it is a single-array .npy file; expected an .npz archive of named arrays (np.savez)")
    if not magic.startswith(b"PK"):
        raise error(f"{where}: it is not an .npz archive (np.savez writes one)")
    try:
        with np.load(p, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise error(f"{where}: it holds object arrays (pickled data), which are not loaded for safety; "
                        "expected numeric arrays") from None
        raise error(f"{where}: corrupt .npz archive ({exc})") from None
    except (OSError, EOFError, KeyError, zipfile.BadZipFile, zipfile.LargeZipFile) as exc:
        raise error(f"{where}: corrupt .npz archive ({type(exc).__name__}: {exc})") from None


def writable_path(path: Any, name: str, error: type[MfsymError]):
    """Check, before any work, that ``path`` can be written: a file name whose directory exists and is writable."""
    import os
    from pathlib import Path

    if not isinstance(path, (str, Path)) or str(path) == "":
        raise error(f"{name}: expected a file name (str or Path), got {path!r}")
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    if p.is_dir():
        raise error(f"{name}: {str(p)!r} is a directory, expected a file name")
    if not parent.is_dir():
        raise error(f"{name}: cannot write {str(p)!r}: the directory {str(parent)!r} does not exist")
    if not os.access(parent, os.W_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise error(f"{name}: cannot write {str(p)!r}: permission denied")
    return p
