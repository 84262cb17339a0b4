"""Model families: one module each, declared against the contract of :class:`Family`."""

from ._base import Componentwise as Componentwise
from ._base import Family as Family
from ._base import Homogeneous as Homogeneous
from ._base import OutputLinear as OutputLinear
from .attention import attention as attention
from .custom import from_expr as from_expr
from .deconvolution import deconvolution as deconvolution
from .erf import erf as erf
from .relu import relu as relu
from .sigmoid import sigmoid as sigmoid
from .tanh import tanh as tanh
from ._registry import by_name as by_name

__all__ = ["Family", "Homogeneous", "OutputLinear", "Componentwise",
           "relu", "sigmoid", "tanh", "erf", "attention", "deconvolution", "from_expr", "by_name"]
