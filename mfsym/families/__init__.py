"""Model families: one module each, declared against the contract of :class:`Family`.

Every public module of this package is a family declaration that registers its factory
(:func:`register`); the package imports them all, so a new family is one file.
"""

import importlib as _importlib
import pkgutil as _pkgutil

from ._base import BoundedFeature as BoundedFeature
from ._base import Componentwise as Componentwise
from ._base import Family as Family
from ._base import Homogeneous as Homogeneous
from ._base import OutputLinear as OutputLinear
from ._activations import ERF as ERF
from ._activations import RELU as RELU
from ._activations import SIGMOID as SIGMOID
from ._activations import TANH as TANH
from ._calculus import Definition as Definition
from ._calculus import InnerCalculus as InnerCalculus
from ._calculus import Kernels as Kernels
from ._calculus import concretize as concretize
from ._calculus import d_ as d_
from ._calculus import k_ as k_
from ._inner import S as S
from ._inner import U as U
from ._inner import Z as Z
from ._inner import Activation as Activation
from ._inner import prove_bounded as prove_bounded
from ._inner import stabilize as stabilize
from ._inner import InnerMap as InnerMap
from ._inner import Ridge as Ridge
from ._inner import SeparableKernel as SeparableKernel
from ._inner import SoftmaxAttention as SoftmaxAttention
from ._neuron import NeuronFamily as NeuronFamily
from ._neuron import make_family as make_family
from ._registry import REGISTRY as REGISTRY
from ._registry import Entry as Entry
from ._registry import by_name as by_name
from ._registry import register as register
from .custom import from_expr as from_expr

for _info in _pkgutil.iter_modules(__path__):
    if not _info.name.startswith("_") and _info.name != "custom":
        _importlib.import_module(f"{__name__}.{_info.name}")
globals().update({_name: _entry.factory for _name, _entry in REGISTRY.items()})

__all__ = ["Family", "Homogeneous", "OutputLinear", "BoundedFeature", "Componentwise", "from_expr", "by_name",
           "register", "REGISTRY", *REGISTRY]
