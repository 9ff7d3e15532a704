"""Settings of stonerimg that a script may change.

Set them as attributes of this module::

    import stonerimg
    stonerimg.config.disk_image_dir = "/scratch/me"   # scratch disk images go here

Attributes
----------
disk_image_dir : str
    The folder where scratch disk images (:func:`stonerimg.empty` with
    ``on_disk=True``, :func:`stonerimg.zeros`, :func:`stonerimg.like`, results of
    image functions on disk stacks) are created.  Default: the environment
    variable ``STONERIMG_DISK_IMAGE_DIR`` if set, else the system temp folder
    (:func:`tempfile.gettempdir`).
block_bytes : int
    How many bytes of frames a disk stack maps at once when it streams over its
    frames (:meth:`~stonerimg.ImageStack.mean`, ``each``, ...).  Default 64 MiB.
max_map_bytes : int
    A disk stack up to this size is mapped whole once and every frame is a view
    of that one mapping; a larger stack maps windows of at most
    :data:`block_bytes` as it goes, so it also works where the address space is
    limited.  Default 1 GiB.
external : {"below", "none", "any"}
    Where HDF5 files may keep their data outside themselves (external links,
    external raw storage, virtual datasets): ``"below"`` (the default) reads it
    only from regular files in the file's own folder or below it; ``"none"``
    refuses every such file; ``"any"`` reads whatever file the HDF5 file names
    (a file from someone else can then make the library read any file you can
    read: use it only for files you trust).  ``load``, ``open`` and the command
    line (``--external``) take the same option for one call.  See :doc:`/safety`.
max_image_bytes : int
    The most memory one image (or one item of metadata) read from a file may
    take.  A file declaring more is refused with a :class:`~stonerimg.FormatError`
    naming the declared size and this limit, before anything is allocated.
    Default: a quarter of the machine's physical memory (1 GiB where that
    cannot be found).
"""

from __future__ import annotations

import os
import tempfile

__all__ = ["block_bytes", "disk_image_dir", "external", "get_disk_image_dir", "max_image_bytes", "max_map_bytes"]

disk_image_dir: str = os.environ.get("STONERIMG_DISK_IMAGE_DIR") or tempfile.gettempdir()
block_bytes: int = 64 << 20
max_map_bytes: int = 1 << 30
external: str = "below"


def _physical_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return 4 << 30


max_image_bytes: int = _physical_memory() // 4


def get_disk_image_dir() -> str:
    """Return :data:`disk_image_dir`, checked to be an existing folder.

    Raises
    ------
    ValueError
        If it is not an existing folder (the message names it).
    """
    folder = os.fspath(disk_image_dir)
    if not os.path.isdir(folder):
        raise ValueError(f"stonerimg.config.disk_image_dir: {folder!r} is not an existing folder")
    return folder
