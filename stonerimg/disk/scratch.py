"""Scratch disk images: :func:`empty`, :func:`zeros`, :func:`like` and :func:`stack_on_disk`."""

from __future__ import annotations

import numbers
from collections.abc import Mapping

import numpy as np

from ..array import ImageArray
from ..imagefile import ImageFile
from ..metadata import Metadata
from ..stack import ImageStack, _as_2d_image, _difference
from .backends import _check_int, _scratch_backend
from .image import DiskImageFile
from .stack import DiskImageStack


def _shape_tuple(shape) -> tuple[int, ...]:
    if isinstance(shape, (numbers.Integral, np.integer)):
        shape = (shape,)
    shape = tuple(shape)
    if len(shape) not in (2, 3):
        raise ValueError(f"shape: a disk image is 2-D (y, x) or a 3-D stack (n, y, x), not {shape}")
    return tuple(_check_int(n, "shape") for n in shape)


def empty(shape, dtype=np.float64, on_disk: bool = True, *, metadata: Mapping | None = None):
    """Make a new image of ``shape`` (``(y, x)``, or ``(n, y, x)`` for a stack).

    Parameters
    ----------
    shape : tuple of int
        NumPy order: ``(rows, cols)`` gives an :class:`~stonerimg.ImageFile`,
        ``(frames, rows, cols)`` an :class:`~stonerimg.ImageStack`.
    dtype : dtype, default float64
    on_disk : bool, default True
        Put the pixels in a scratch file in :data:`stonerimg.config.disk_image_dir`
        (removed when the image is closed, garbage-collected or the interpreter
        exits; :meth:`save` keeps it).  ``False`` gives an ordinary in-memory image.
    metadata : mapping, optional

    Returns
    -------
    DiskImageFile or DiskImageStack (or ImageFile / ImageStack in memory), opened ``"r+"``.
    The scratch file is sparse, so its pixels read as zero.
    """
    shape = _shape_tuple(shape)
    if not on_disk:
        data = np.empty(shape, dtype)
        return ImageFile(data, metadata=metadata) if len(shape) == 2 else ImageStack(data, metadata=metadata)
    backend = _scratch_backend(shape, dtype)
    if len(shape) == 2:
        image = DiskImageFile.__new__(DiskImageFile)
        image._disk_init(backend, metadata, filename=backend.path)
        return image
    return DiskImageStack._on_backend(backend, metadata)


def zeros(shape, dtype=np.float64, on_disk: bool = True, *, metadata: Mapping | None = None):
    """Like :func:`empty`, with every pixel zero."""
    image = empty(shape, dtype, on_disk, metadata=metadata)
    if not on_disk:
        np.asarray(image)[...] = 0  # a scratch file already reads as zeros
    return image


def like(image, on_disk: bool = True, *, dtype=None, copy: bool = False):
    """Make a new image of the shape, dtype and metadata of ``image``.

    Parameters
    ----------
    image : ImageFile, ImageArray, ImageStack or array
    on_disk : bool, default True
        A scratch disk image (see :func:`empty`) or an in-memory one.
    dtype : dtype, optional
        Instead of the image's.
    copy : bool, default False
        Copy the pixels too (frame by frame for a stack); else all are zero.
    """
    if isinstance(image, ImageStack):
        shape, source_dtype, metadata = image.shape, image.dtype, image.metadata.copy()
    elif isinstance(image, (ImageFile, ImageArray)):
        shape, source_dtype, metadata = image.shape, image.dtype, image.metadata.copy()
    else:
        array = np.asarray(image)
        shape, source_dtype, metadata = array.shape, array.dtype, None
    new = zeros(shape, source_dtype if dtype is None else dtype, on_disk, metadata=metadata)
    if isinstance(image, ImageStack):
        new._records = [r.copy() for r in image.frame_metadata]
        new._filenames = list(image.filenames)
    if copy:
        if len(shape) == 3:
            for i in range(shape[0]):  # one frame at a time
                new[i] = np.asarray(np.ma.getdata(image[i]) if not isinstance(image, ImageStack) else image[i])
        else:
            new[...] = np.asarray(np.ma.getdata(image))
    return new


def stack_on_disk(images, *, metadata: Mapping | None = None) -> DiskImageStack:
    """Write images one at a time into a new scratch disk stack (what ``ImageFolder.as_stack(on_disk=True)`` does).

    Parameters
    ----------
    images : sized iterable
        2-D images (ImageFile, ImageArray, arrays or paths) of one shape; only
        one is held at a time.  Its length is an upper bound (a folder that
        skips bad files gives fewer).  Frame 0 sets the dtype; a later frame whose
        dtype does not cast safely to it is an error.
    metadata : mapping, optional
        Shared metadata; each frame's record keeps what differs from it.

    Returns
    -------
    DiskImageStack
        Open ``"r+"``; a masked frame's mask goes to a second scratch file.
    """
    n = len(images)
    backend = mask_backend = None
    shared = Metadata(metadata or {})
    records, filenames, classes = [], [], []
    try:
        for i, item in enumerate(images):
            if i >= n:
                raise ValueError(f"frame {i}: the source gave more images than its length, {n}")
            pixels, frame_mask, md, filename, cls = _as_2d_image(item, f"frame {i}")
            if backend is None:
                backend = _scratch_backend((n, *pixels.shape), pixels.dtype)
            elif pixels.shape != backend.shape[1:]:
                raise ValueError(f"frame {i}: its shape {pixels.shape} differs from frame 0's {backend.shape[1:]}")
            elif not np.can_cast(pixels.dtype, backend.dtype, "safe"):
                raise ValueError(
                    f"frame {i}: its dtype {pixels.dtype} does not fit frame 0's {backend.dtype}; "
                    "convert the images first (e.g. folder.each.convert(...))"
                )
            backend.write(i, slice(None), slice(None), pixels)
            if frame_mask is not None:
                if mask_backend is None:
                    mask_backend = _scratch_backend((n, *pixels.shape), bool)
                mask_backend.write(i, slice(None), slice(None), frame_mask)
            records.append(_difference(md, shared))
            filenames.append(filename)
            classes.append(cls)
    except BaseException:
        for scratch in (backend, mask_backend):
            if scratch is not None:
                scratch.close()
        raise
    if backend is None:
        raise ValueError("no images to stack")
    backend.flush()
    mask = None
    if mask_backend is not None:
        mask_backend.flush()
        mask = mask_backend.full()
    stack = DiskImageStack._on_backend(backend, shared, records, filenames, classes, mask=mask)
    stack.__dict__["_mask_backend"] = mask_backend
    stack.__dict__["_stop"] = len(records)  # a folder that skipped bad files gives fewer than its length
    return stack
