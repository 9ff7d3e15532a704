"""Deprecated alias of :mod:`stonerimg.disk` (kept for one release).

Disk-backed images moved to the :mod:`stonerimg.disk` package; this module only
re-exports its public names.  Use ``stonerimg.open``, ``stonerimg.empty`` /
``zeros`` / ``like`` or ``stonerimg.disk`` instead.
"""

import warnings

from .disk import *  # noqa: F403 - re-exported names
from .disk import __all__  # noqa: F401
from .disk.openers import open_nexus, open_npy, open_stxm, open_tiff  # noqa: F401 - the registry's old targets

warnings.warn(
    "stonerimg.lazy is deprecated and will be removed in the next release; use stonerimg.disk "
    "(or stonerimg.open, stonerimg.empty/zeros/like)",
    DeprecationWarning,
    stacklevel=2,
)
