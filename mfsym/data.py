"""Data: finite samples $(x_i, y_i)$; Gaussian populations live in :mod:`mfsym.population`."""

from __future__ import annotations

from typing import Any


from ._errors import DataError
from ._types import FloatArray
from ._validate import as_float_array


class Samples:
    """Samples $(x_i, y_i)_{i=1..n}$: ``X`` ``(n, *input_shape)``, ``Y`` ``(n, k)`` (or ``(n,)`` for $k = 1$)."""

    def __init__(self, X: Any, Y: Any):
        X = as_float_array(X, "X", DataError)
        Y = as_float_array(Y, "Y", DataError, ndim=(1, 2))
        if X.ndim < 2:
            raise DataError(f"X: expected shape (n, d) or (n, tokens, d), got {X.shape}")
        if X.shape[0] == 0:
            raise DataError(f"X: expected at least one sample, got shape {X.shape}")
        if Y.shape[0] != X.shape[0]:
            raise DataError(f"Y: expected {X.shape[0]} labels to match X's {X.shape[0]} samples, got shape {Y.shape}")
        self.X: FloatArray = X
        self.Y: FloatArray = Y if Y.ndim == 2 else Y[:, None]

    @property
    def n(self) -> int:
        """Number of samples."""
        return self.X.shape[0]

    def bind(self, family) -> "Samples":
        """Check that the inputs and labels fit ``family``; returns self."""
        if self.X.shape[1:] != family.input_shape:
            raise DataError(f"X: family {family.name} expects inputs of shape {family.input_shape} "
                            f"(d = {family.input_shape[-1]}), but the samples have shape {self.X.shape[1:]} "
                            f"(d = {self.X.shape[-1]})")
        if self.Y.shape[1] != family.out_dim:
            raise DataError(f"Y: family {family.name} has {family.out_dim} outputs but the labels have "
                            f"{self.Y.shape[1]} columns (shape {self.Y.shape})")
        return self

    def __repr__(self) -> str:
        return f"Samples(n={self.n}, x shape {self.X.shape[1:]}, k={self.Y.shape[1]})"
