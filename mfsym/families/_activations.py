"""The activations of the built-in ridge families, each declared once by its sympy expression."""

from __future__ import annotations

import numpy as np
import scipy.special as sps
import sympy as sp

from ._inner import S, Z, Activation

RELU = Activation("relu", r"\mathrm{relu}", sp.Max(0, Z), lambda z: np.maximum(z, 0.0))
SIGMOID = Activation("sigmoid", r"\sigma", 1 / (1 + sp.exp(-Z)), sps.expit, ((sp.exp(-Z), (1 - S) / S),))
TANH = Activation("tanh", r"\tanh", sp.tanh(Z), np.tanh, ((sp.tanh(Z), S),))
ERF = Activation("erf", r"\mathrm{erf}", sp.erf(Z), sps.erf)
