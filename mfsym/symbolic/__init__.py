"""Derivation engine and LaTeX rendering (DESIGN §2, "Symbolic engine")."""

from ._derivation import Derivation as Derivation
from ._derivation import derive as derive

__all__ = ["Derivation", "derive"]
