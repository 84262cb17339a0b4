"""``mf.meanfield.plot_landscape``: a lazy wrapper, so that ``import mfsym`` never imports matplotlib."""

from __future__ import annotations

from typing import Any


def plot_landscape(prob: Any, mu: Any, **options: Any) -> Any:
    """Draw the reduced potential (inner dimension <= 2); see :func:`mfsym.plot.plot_landscape`."""
    from ..plot import plot_landscape as draw

    return draw(prob, mu, **options)
