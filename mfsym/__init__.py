"""mfsym: symbolic-numeric toolkit for the training dynamics of wide shallow models.

The public API; everything not re-exported here is internal and may move.
"""

from . import datasets as datasets
from . import families as families
from . import meanfield as meanfield
from . import ntk as ntk
from . import plot as plot
from . import stability as stability
from . import symbolic as symbolic
from ._errors import CertificateError as CertificateError
from ._errors import DataError as DataError
from ._errors import FamilyError as FamilyError
from ._errors import MeasureError as MeasureError
from ._errors import MfsymError as MfsymError
from .census import Census as Census
from .census import census as census
from .data import Samples as Samples
from .dynamics import StationaryInfo as StationaryInfo
from .dynamics import flow as flow
from .dynamics import stationary as stationary
from .loaders import from_state_dict as from_state_dict
from .loaders import from_torch as from_torch
from .measure import Measure as Measure
from .population import GaussianTeacher as GaussianTeacher
from .problem import Problem as Problem
from .stability import check as check
from .stability import verify as verify
from .symbolic import derive as derive

from ._version import __version__ as __version__
