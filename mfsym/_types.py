"""Array aliases used in annotations and docstrings.

Shapes are written in docstrings: ``(m, p)`` particles, ``(m,)`` masses, ``(n, *input_shape)``
inputs, ``(n, k)`` targets, ``(Q, p)`` query parameters.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
Particles = FloatArray  # (m, p)
Masses = FloatArray  # (m,)
Inputs = FloatArray  # (n, *input_shape)
Targets = FloatArray  # (n, k)
