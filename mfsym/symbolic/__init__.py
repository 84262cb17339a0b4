"""Derivation engine and LaTeX rendering (docs/derivations.md)."""

from ._derivation import Derivation as Derivation
from ._derivation import derive as derive

__all__ = ["Derivation", "derive"]
