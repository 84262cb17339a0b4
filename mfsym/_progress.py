"""Progress reports for the long phases (``stationary``, ``check``, ``gap``, ``escaping_sets``, ``flow``).

``progress(...)`` returns an object with the tqdm interface that the library uses — ``update(n)``,
``set_postfix(**kw)``, ``set_description(desc)``, ``close()``, iteration and use as a context manager:

- a ``tqdm.auto`` bar (a widget in notebooks, a bar on a terminal) when tqdm is installed, the report is
  enabled and stderr is a terminal or a notebook (``pip install mfsym[progress]``);
- a line-per-update report through the ``logging`` module (logger ``mfsym.progress``, level INFO, at most
  one line every 2 s) when the report is enabled but tqdm is missing or stderr is a file or a pipe (a log,
  CI), where a redrawn bar would leave ``\\r`` garbage; if no logging handler is configured
  the lines go to stderr (plain lines, never ``\\r``, so they read well in logs and notebooks);
- a silent object when disabled; it still logs one DEBUG line with the count and the time on ``close``.

``enabled=None`` (the default of every ``progress=`` switch) means: on when stderr is a terminal or the code
runs in a Jupyter kernel, off otherwise; the environment variable ``MFSYM_PROGRESS=0``/``1`` overrides the
automatic choice (never an explicit True/False).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import sys
import time
from typing import Any, Iterable, Iterator

from ._errors import MfsymError

logger = logging.getLogger("mfsym.progress")

_LOG_EVERY = 2.0  # seconds between two lines of the logging fallback

#: the report of the phase running now (set by :func:`activate`); nested calls tick it instead of opening
#: their own report
_CURRENT: contextvars.ContextVar = contextvars.ContextVar("mfsym_progress", default=None)


def _in_notebook() -> bool:
    """True inside a Jupyter (ipykernel) session, where stderr is not a terminal but a widget can be shown."""
    if "ipykernel" not in sys.modules:
        return False
    shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def _interactive() -> bool:
    """True when stderr is a terminal or the code runs in a notebook: where a redrawn bar reads well."""
    stream = sys.stderr
    try:
        tty = bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):  # closed or replaced streams
        tty = False
    return tty or _in_notebook()


def auto_enabled() -> bool:
    """Whether a report with ``enabled=None`` is shown: ``MFSYM_PROGRESS``, else terminal or notebook."""
    env = os.environ.get("MFSYM_PROGRESS", "").strip().lower()
    if env in ("0", "false", "no", "off"):
        return False
    if env in ("1", "true", "yes", "on"):
        return True
    return _interactive()


def _format_postfix(postfix: dict[str, Any]) -> str:
    parts = []
    for key, value in postfix.items():
        if isinstance(value, float):
            value = f"{value:.4g}"
        parts.append(f"{key}={value}")
    return ", ".join(parts)


class _Report:
    """The dependency-free progress object: silent, or one line per update through ``logging``."""

    def __init__(self, iterable: Iterable | None, total: int | None, desc: str, shown: bool):
        self.iterable, self.total, self.desc, self.shown = iterable, total, desc, shown
        self.n, self.postfix, self.closed = 0, {}, False
        self.start = self.last = time.perf_counter()

    # -- the tqdm interface -------------------------------------------------------------------------
    def __iter__(self) -> Iterator:
        if self.iterable is None:
            raise MfsymError("progress: iterating needs an iterable, got None")
        try:
            for item in self.iterable:
                yield item
                self.update(1)
        finally:
            self.close()

    def __enter__(self) -> "_Report":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.perf_counter()
        if self.shown and now - self.last >= _LOG_EVERY:
            self.last = now
            self._emit(logging.INFO, self._line(now))

    def set_postfix(self, ordered_dict: dict | None = None, refresh: bool = True, **kwargs: Any) -> None:
        self.postfix = {**(ordered_dict or {}), **kwargs}

    def set_description(self, desc: str | None = None, refresh: bool = True) -> None:
        self.desc = desc or ""

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        now = time.perf_counter()
        if self.shown and now - self.start >= _LOG_EVERY:
            self._emit(logging.INFO, self._line(now) + " done")
        else:
            logger.debug("%s", self._line(now) + " done")

    # -- helpers ------------------------------------------------------------------------------------
    def _line(self, now: float) -> str:
        count = f"{self.n}/{self.total}" if self.total is not None else f"{self.n}"
        extra = _format_postfix(self.postfix)
        return f"{self.desc or 'mfsym'}: {count} ({now - self.start:.0f} s){', ' + extra if extra else ''}"

    @staticmethod
    def _emit(level: int, line: str) -> None:
        if logger.hasHandlers():
            logger.log(level, "%s", line)
        else:  # nobody configured logging: a plain line on stderr, so an explicit progress=True is seen
            stream = sys.stderr
            if stream is not None:
                stream.write(line + "\n")
                stream.flush()


def progress(iterable: Iterable | None = None, *, total: int | None = None, desc: str = "",
             enabled: bool | None = None) -> Any:
    """A tqdm-like progress report over ``iterable`` (or updated by hand with ``update(n)``).

    Parameters
    ----------
    iterable : iterable or None
        What to iterate over; ``None`` for a report driven by ``update``.
    total : int or None
        The expected number of updates (``len(iterable)`` when it has one).
    desc : str
        The label shown before the count.
    enabled : bool or None
        True: show it; False: silent; None: show it on a terminal or in a notebook (see the module docstring).

    Returns
    -------
    A ``tqdm.auto.tqdm`` when tqdm is installed and the report is shown on a terminal or in a notebook, else a dependency-free object with
    the same methods (``update``, ``set_postfix``, ``set_description``, ``close``, iteration, ``with``).
    """
    if enabled is not None and not isinstance(enabled, bool):
        raise MfsymError(f"progress: expected True, False or None, got {enabled!r}")
    if total is None and iterable is not None and hasattr(iterable, "__len__"):
        total = len(iterable)
    if enabled is None and _CURRENT.get() is not None:  # inside another report (gap within check): stay quiet
        enabled = False
    shown = auto_enabled() if enabled is None else enabled
    if shown and _interactive():  # off a terminal (a log file, CI) plain lines read better than a bar
        try:
            from tqdm.auto import tqdm
        except ImportError:
            pass
        else:
            return tqdm(iterable, total=total, desc=desc or None, leave=False, dynamic_ncols=True)
    return _Report(iterable, total, desc, shown)


@contextlib.contextmanager
def activate(report: Any) -> Iterator[Any]:
    """Make ``report`` the current one for :func:`phase` and :func:`tick` (and quiet nested reports); close it
    on exit."""
    token = _CURRENT.set(report)
    start = time.perf_counter()
    try:
        yield report
    finally:
        _CURRENT.reset(token)
        report.close()
        logger.debug("%s finished in %.2f s", getattr(report, "desc", "") or "mfsym", time.perf_counter() - start)


def phase(name: str) -> None:
    """Start the phase ``name`` of the current report: one step of its total, the name in its description."""
    report = _CURRENT.get()
    logger.debug("phase: %s", name)
    if report is not None:
        report.set_postfix(phase=name, refresh=False)
        report.update(1)


def tick(n: int = 1, **postfix: Any) -> None:
    """Advance the current report by ``n`` (a local search done, an iteration), with optional numbers."""
    report = _CURRENT.get()
    if report is not None:
        if postfix:
            report.set_postfix(refresh=False, **postfix)
        report.update(n)
