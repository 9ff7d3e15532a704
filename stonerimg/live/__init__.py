"""Live processing: turn a stream of frames into scalars, profiles and images while acquisition goes on.

::

    from stonerimg.live import Session, SimulatedCamera, builtin

    camera = SimulatedCamera((870, 870), fps=50, drift=(0.2, 0.1))
    with Session(camera, ["mean", "centroid", "fft_radial_profile"], roi=(100, 100, 600, 600)) as session:
        session.record("run.h5")
        session.show(block=True)          # until the window is closed
    print(session.stats().table())

- sources (:mod:`~stonerimg.live.sources`): :class:`SimulatedCamera`,
  :class:`DirectoryWatcher`, :class:`FileStack`, :class:`ArraySource`;
- :class:`ROI`: a box ``(x, y, w, h)`` or a mask, changeable while running;
- :class:`Processor`: a function with a kind (``"scalar"``, ``"profile"``, ``"image"``)
  that chooses its sink (:class:`ScalarTrace`, :class:`Waterfall`, :class:`LatestImage`);
  :data:`BUILTINS` / :func:`builtin`: fast ready-made processors;
- :class:`Session`: acquisition that never waits on processing, latest-wins mailboxes,
  per-processor statistics, :meth:`Session.record` (HDF5) and :meth:`Session.show` (matplotlib).

This package is not imported by ``import stonerimg``; h5py and matplotlib are imported
only when recording or showing.
"""

from .builtins import BUILTINS, builtin, parse_processor
from .display import LiveView
from .processor import KINDS, Processor
from .recording import Recorder
from .roi import ROI
from .session import ProcessorError, ProcessorStats, Session, SessionStats
from .sinks import LatestImage, ScalarTrace, Waterfall
from .sources import ArraySource, DirectoryWatcher, FileStack, FrameSource, SimulatedCamera, make_frame

__all__ = [
    "BUILTINS",
    "KINDS",
    "ROI",
    "ArraySource",
    "DirectoryWatcher",
    "FileStack",
    "FrameSource",
    "LatestImage",
    "LiveView",
    "Processor",
    "ProcessorError",
    "ProcessorStats",
    "Recorder",
    "ScalarTrace",
    "Session",
    "SessionStats",
    "SimulatedCamera",
    "Waterfall",
    "builtin",
    "make_frame",
    "parse_processor",
]
