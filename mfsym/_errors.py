"""The one small hierarchy of errors raised for misuse."""

from __future__ import annotations


class MfsymError(Exception):
    """Base of every error mfsym raises for bad input."""


class FamilyError(MfsymError, ValueError):
    """A family was declared or used with invalid arguments."""


class DataError(MfsymError, ValueError):
    """Data (samples, populations, inputs) are malformed or do not fit the family."""


class MeasureError(MfsymError, ValueError):
    """A measure (particles and masses) is malformed or does not fit the family."""


class CertificateError(MfsymError, ValueError):
    """A certificate or spec file is malformed."""


class DependencyError(MfsymError, ImportError):
    """An optional dependency (an extra such as ``mfsym[plot]``) is needed and not installed."""
