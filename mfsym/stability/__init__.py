"""Spectra, certificates, ``check`` and ``verify`` (docs/mathematics.md "Hessians", docs/stability.md, docs/certificates.md).

* :func:`spectrum` -- the particle Hessian's spectrum on the complement of its symmetry directions
  (dense, or Lanczos on Hessian-vector products);
* :func:`check` -- the verdict on a measure ("global-minimizer", "unstable", "not-stationary",
  "inconclusive"), with the finite-width classification and a certificate;
* :func:`verify` -- recompute a certificate's inequalities in ball arithmetic.
"""

from ._certificates import Outcome as Outcome
from ._certificates import verify as verify
from ._check import FiniteWidth as FiniteWidth
from ._check import MeanField as MeanField
from ._check import Report as Report
from ._check import Verdict as Verdict
from ._check import check as check
from ._spectrum import Spectrum as Spectrum
from ._spectrum import Symmetries as Symmetries
from ._spectrum import spectrum as spectrum
from ._spectrum import symmetries as symmetries

__all__ = ["check", "verify", "Report", "Verdict", "Outcome", "FiniteWidth", "MeanField", "spectrum", "Spectrum",
           "Symmetries", "symmetries"]
