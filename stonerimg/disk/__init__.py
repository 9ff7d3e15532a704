"""Disk-backed images: open a file instead of loading it, and scratch images larger than memory.

:func:`open` gives an :class:`~stonerimg.ImageFile` (2-D) or an
:class:`~stonerimg.ImageStack` (3-D, ``(n, y, x)``) whose pixels stay in the file:

- NPY, uncompressed TIFF (single or multi-page, BigTIFF too) and contiguous
  uncompressed HDF5 datasets (NeXus, STXM) are mapped with :class:`numpy.memmap`:
  the pixels are the file's bytes, never copied;
- chunked or compressed HDF5 datasets are read through h5py, only the chunks a
  request needs;
- compressed TIFF pages are decoded one plane at a time, when asked for.

A disk image is a context manager; :meth:`DiskImage.close` (or the end of the
``with`` block, also on an exception) releases every handle and mapping it holds.
Using a closed image raises :class:`ValueError`.  Arrays a script took from the
image (``im.data``, ``stack[3].image``) are NumPy views of the mapping and keep
it alive, as NumPy views always do.

:func:`empty`, :func:`zeros` and :func:`like` make *scratch* disk images in
:data:`stonerimg.config.disk_image_dir`: an ``.npy`` file removed when the image
is closed, garbage-collected or the interpreter exits, unless it was saved.

:func:`open_raw` maps raw C-order pixels at a byte offset of any file; format
readers build on it.

The package, by concern:

- :mod:`~stonerimg.disk.backends`: how pixels are reached (raw/memmap, HDF5,
  TIFF pages) and the scratch ``.npy`` files;
- :mod:`~stonerimg.disk.image`: :class:`DiskImage` / :class:`DiskImageFile`;
- :mod:`~stonerimg.disk.stack`: :class:`DiskImageStack`;
- :mod:`~stonerimg.disk.scratch`: :func:`empty`, :func:`zeros`, :func:`like`
  and :func:`stack_on_disk`;
- :mod:`~stonerimg.disk.openers`: :func:`open`, :func:`open_raw` and the
  NPY, TIFF, NeXus and STXM openers of the format registry.

``stonerimg.lazy`` is its old name, a deprecated alias kept for one release.
"""

from .image import DiskImage, DiskImageFile
from .openers import open, open_raw  # noqa: A004 - stonerimg.open is public by design
from .scratch import empty, like, stack_on_disk, zeros
from .stack import DiskImageStack

__all__ = [
    "DiskImage",
    "DiskImageFile",
    "DiskImageStack",
    "empty",
    "like",
    "open",
    "open_raw",
    "stack_on_disk",
    "zeros",
]
