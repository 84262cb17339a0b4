"""Shared constructor of the two-layer ridge families $a\\,\\sigma(w^\\top x + b)$."""

from __future__ import annotations

from .._errors import FamilyError
from .._validate import family_size, positive_int
from ._inner import Activation, Ridge
from ._neuron import NeuronFamily, make_family


def ridge_family(activation: Activation, d: int, outputs: int, bias: bool, degree: int | None,
                 references: tuple[str, ...]) -> NeuronFamily:
    """Validate the arguments and build the family $\\varphi = a\\,\\sigma(w^\\top x + b)$."""
    d = positive_int(d, "d", FamilyError)
    outputs = positive_int(outputs, "outputs", FamilyError, minimum=0)
    if not isinstance(bias, bool):
        raise FamilyError(f"bias: expected True or False, got {bias!r}")
    family_size({"d": d, "outputs": outputs}, outputs + d + int(bias), d, FamilyError)
    return make_family(activation.name, Ridge(activation, d, bias), outputs, outer="a", degree=degree,
                       references=references, d=d, bias=bias)
