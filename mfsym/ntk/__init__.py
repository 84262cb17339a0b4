"""Lazy (NTK) regime: Du et al. (2018) and Nguyen (2021) quantities (docs/ntk.md).

* Gram matrices: :func:`gram` ($H^\\infty$, closed forms for relu/erf, quadrature otherwise; ``trained="both"``
  for the full two-layer NTK), :func:`lambda0`, :func:`finite_gram` ($H(t)$), :func:`gram_monte_carlo`,
  :func:`parallel_pairs`; symbolic: :func:`derive_gram`, :func:`gram_latex`.
* Du et al. (arXiv 1810.02054): :func:`du_bounds` / :class:`DuConstants` (Thms 3.2, 4.1 with explicit
  constants), :func:`train_du` (gradient descent with the diagnostics of their Figure 1).
* Nguyen (arXiv 2101.09612): :func:`sigma_min_curve`, :func:`wide_layer_limit`, :func:`deep_ntk`,
  :func:`train_deep`.
"""

from ._activations import Activation as Activation
from ._du2018 import DuBounds as DuBounds
from ._du2018 import DuConstants as DuConstants
from ._du2018 import DuRun as DuRun
from ._du2018 import du_bounds as du_bounds
from ._du2018 import du_predict as du_predict
from ._du2018 import train_du as train_du
from ._gram import MonteCarloGram as MonteCarloGram
from ._gram import ParallelInputsWarning as ParallelInputsWarning
from ._gram import finite_gram as finite_gram
from ._gram import gram as gram
from ._gram import gram_monte_carlo as gram_monte_carlo
from ._gram import lambda0 as lambda0
from ._gram import parallel_pairs as parallel_pairs
from ._gram import smallest_eigenvalue as smallest_eigenvalue
from ._nguyen2021 import DeepRun as DeepRun
from ._nguyen2021 import SigmaMinCurve as SigmaMinCurve
from ._nguyen2021 import deep_features as deep_features
from ._nguyen2021 import deep_ntk as deep_ntk
from ._nguyen2021 import init_deep as init_deep
from ._nguyen2021 import init_variances as init_variances
from ._nguyen2021 import sigma_min as sigma_min
from ._nguyen2021 import sigma_min_curve as sigma_min_curve
from ._nguyen2021 import train_deep as train_deep
from ._nguyen2021 import wide_layer_limit as wide_layer_limit
from ._symbolic import GramDerivation as GramDerivation
from ._symbolic import derive_gram as derive_gram
from ._symbolic import gram_latex as gram_latex
