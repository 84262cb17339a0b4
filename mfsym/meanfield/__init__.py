"""Mean-field optimality and escaping active sets (docs/mathematics.md, global optimality and escaping sets).

``gap`` measures how far a measure is from global optimality (with limits at infinity),
``escaping_sets`` builds the escaping active sets of a non-global stationary point,
``simulate_escape`` runs the mean-field flow from a perturbed stationary point, and
``plot_landscape`` draws the reduced potential for inner dimension at most 2.
"""

from ._gap import Gap as Gap
from ._gap import gap as gap
from ._plot import plot_landscape as plot_landscape
from ._potential import ReducedPotential as ReducedPotential
from ._potential import Structure as Structure
from ._potential import cone_sign as cone_sign
from ._potential import structure as structure
from ._potential import reduced_potential as reduced_potential
from ._sets import EscapingSet as EscapingSet
from ._sets import escaping_sets as escaping_sets
from ._simulate import EscapeSimulation as EscapeSimulation
from ._simulate import simulate_escape as simulate_escape

__all__ = ["Gap", "gap", "ReducedPotential", "reduced_potential", "EscapingSet", "escaping_sets",
           "EscapeSimulation", "simulate_escape", "plot_landscape"]
