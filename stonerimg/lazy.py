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
"""

from __future__ import annotations

import builtins
import errno
import json
import logging
import mmap
import numbers
import os
import shutil
import tempfile
import uuid
import weakref
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np

from . import config
from .array import ImageArray
from .errors import FormatError, FormatMismatch
from .formats._payload import read_payload, unpack_mask
from .imagefile import ImageFile
from .metadata import Metadata
from .stack import ImageStack, _append_history, _as_2d_image, _difference, _frame_index, _history_entry

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

logger = logging.getLogger(__name__)

_MODES = ("r", "r+")


# ---------------------------------------------------------------- helpers
def _check_mode(mode) -> str:
    if mode not in _MODES:
        raise ValueError(f"mode: must be 'r' (read-only) or 'r+' (read and write), not {mode!r}")
    return mode


def _row_slice(rows: slice, size: int, flip: bool) -> tuple[slice, bool]:
    """Turn a slice over the presented rows into one over the file's rows (and whether to reverse the result)."""
    if not flip:
        return rows, False
    chosen = range(size)[rows]
    if len(chosen) == 0:
        return slice(0, 0), False
    first, last = chosen[0], chosen[-1]
    step = abs(chosen.step)
    low, high = size - 1 - max(first, last), size - 1 - min(first, last)
    return slice(low, high + 1, step), chosen.step > 0


def _remove_file(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
    except OSError as err:  # still mapped elsewhere on some platforms
        logger.warning("could not remove the scratch disk image %s: %s", path, err)


# ---------------------------------------------------------------- backends
class _Backend:
    """Pixels of an ``(n, y, x)`` array kept in a file, presented in the orientation ``load`` gives."""

    shape: tuple[int, int, int]
    dtype: np.dtype
    path: str
    mode: str = "r"
    kind: str = ""
    scratch: bool = False
    _finalizer = None

    @property
    def frame_bytes(self) -> int:
        return self.shape[1] * self.shape[2] * self.dtype.itemsize

    @property
    def nbytes(self) -> int:
        return self.shape[0] * self.frame_bytes

    def frames(self, start: int, stop: int) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def read(self, z: int, rows: slice, cols: slice) -> np.ndarray:
        """Return a new in-memory array of one frame's region."""
        return np.array(self.frames(z, z + 1)[0, rows, cols], copy=True)

    def full(self) -> np.ndarray:
        """Return the whole ``(n, y, x)`` array (a mapping for raw files, else read into memory)."""
        return self.frames(0, self.shape[0])

    def write(self, z: int, rows, cols, value) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def flush(self) -> None:
        """Write changes through to the file."""

    def close(self) -> None:
        """Release handles and mappings; remove a scratch file."""
        if self._finalizer is not None:
            self._finalizer()

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_full", None)
        state.pop("_finalizer", None)
        state.pop("_handle", None)
        state.pop("_cache", None)
        state.pop("_whole", None)
        state["scratch"] = False  # a copy in another process never removes the file
        return state


class _RawBackend(_Backend):
    """Raw pixels at a byte offset, frame ``i`` at ``offset + i * stride``; mapped with numpy.memmap."""

    kind = "memmap"

    def __init__(self, path, offset, dtype, shape, mode="r", *, stride=None, flip=False):
        self.path = os.fspath(path)
        self.offset = int(offset)
        self.dtype = np.dtype(dtype)
        self.shape = tuple(int(n) for n in shape)
        self.mode = mode
        self.stride = self.frame_bytes if stride is None else int(stride)
        self.flip = bool(flip)
        self._full = None

    def _map(self, start: int, stop: int) -> np.ndarray:
        n, rows, cols = self.shape
        k = stop - start
        if k <= 0 or self.frame_bytes == 0:
            return np.zeros((max(k, 0), rows, cols), self.dtype)
        offset = self.offset + start * self.stride
        if self.stride == self.frame_bytes:
            array = np.memmap(self.path, dtype=self.dtype, mode=self.mode, offset=offset, shape=(k, rows, cols))
        else:  # pages with tags between them: one mapping, strided frames
            span = (k - 1) * self.stride + self.frame_bytes
            raw = np.memmap(self.path, dtype=np.uint8, mode=self.mode, offset=offset, shape=(span,))
            item = self.dtype.itemsize
            array = np.ndarray((k, rows, cols), self.dtype, buffer=raw, strides=(self.stride, cols * item, item))
        return array[:, ::-1, :] if self.flip else array

    def frames(self, start: int, stop: int) -> np.ndarray:
        if self._full is None and self.nbytes <= config.max_map_bytes:
            self._full = self._map(0, self.shape[0])
        if self._full is not None:
            return self._full[start:stop]
        return self._map(start, stop)

    def full(self) -> np.ndarray:
        if self._full is None:
            self._full = self._map(0, self.shape[0])
        return self._full

    def read(self, z: int, rows: slice, cols: slice) -> np.ndarray:
        frames = self.frames(z, z + 1)
        if self._full is None and isinstance(rows, slice) and (rows.step or 1) > 1:
            # a fresh mapping read sparsely: without the kernel's fault-around, each fault maps only its page
            base = frames
            while base is not None and not isinstance(base, np.memmap):
                base = base.base
            if base is not None and hasattr(mmap, "MADV_RANDOM"):
                base._mmap.madvise(mmap.MADV_RANDOM)
        return np.array(frames[0, rows, cols], copy=True)

    def write(self, z, rows, cols, value) -> None:
        view = self.frames(z, z + 1)[0]
        view[rows, cols] = value

    def flush(self) -> None:
        if self.mode == "r+" and self._full is not None:
            base = self._full
            while base is not None and not isinstance(base, np.memmap):
                base = base.base
            if base is not None:
                base.flush()

    def close(self) -> None:
        self.flush()
        self._full = None
        super().close()


class _HDF5Backend(_Backend):
    """A chunked (or compressed) HDF5 dataset read through h5py: only the chunks a request touches."""

    kind = "hdf5"

    def __init__(self, path, name: str, shape, dtype, mode="r", *, flip=False):
        self.path = os.fspath(path)
        self.name = name
        self.mode = mode
        self.flip = bool(flip)
        self.dtype = np.dtype(dtype)
        self.two_d = len(shape) == 2
        self.shape = (1, *shape) if self.two_d else tuple(shape)

    def _dataset(self):
        handle = self.__dict__.get("_handle")
        if handle is None:
            import h5py

            handle = h5py.File(self.path, self.mode)
            self._handle = handle
        return handle[self.name]

    def _key(self, z, rows, cols):
        return (rows, cols) if self.two_d else (z, rows, cols)

    def frames(self, start: int, stop: int) -> np.ndarray:
        dataset = self._dataset()
        if self.two_d:
            data = dataset[()][None][start:stop]
        else:
            data = dataset[start:stop]
        data = data[:, ::-1, :] if self.flip else data
        data.flags.writeable = False
        return data

    def read(self, z, rows, cols) -> np.ndarray:
        if self.two_d and z != 0:
            raise IndexError(f"z={z}: the image has one plane")
        file_rows, reverse = _row_slice(rows, self.shape[1], self.flip)
        data = self._dataset()[self._key(z, file_rows, cols)]
        return np.ascontiguousarray(data[::-1]) if reverse else data

    def write(self, z, rows, cols, value) -> None:
        region = np.empty((1, self.shape[1], self.shape[2]), dtype=np.uint8)[0, rows, cols].shape
        value = np.broadcast_to(np.asarray(value, dtype=self.dtype), region)
        if isinstance(rows, slice):
            file_rows, reverse = _row_slice(rows, self.shape[1], self.flip)
            if reverse:
                value = value[::-1]
        else:
            file_rows = self.shape[1] - 1 - int(rows) if self.flip else int(rows)
        self._dataset()[self._key(z, file_rows, cols)] = value

    def flush(self) -> None:
        handle = self.__dict__.get("_handle")
        if handle is not None and self.mode == "r+":
            handle.flush()

    def close(self) -> None:
        handle = self.__dict__.pop("_handle", None)
        if handle is not None:
            handle.close()
        super().close()


class _TiffPagesBackend(_Backend):
    """Compressed TIFF pages, decoded one at a time when asked for (the last one kept)."""

    kind = "tiff pages"

    def __init__(self, path, shape, dtype):
        self.path = os.fspath(path)
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.mode = "r"

    def _tiff(self):
        handle = self.__dict__.get("_handle")
        if handle is None:
            import tifffile

            handle = tifffile.TiffFile(self.path)
            self._handle = handle
        return handle

    def _page(self, z: int) -> np.ndarray:
        cache = self.__dict__.get("_cache")
        if cache is not None and cache[0] == z:
            return cache[1]
        tif = self._tiff()
        if len(tif.pages) == self.shape[0]:
            data = tif.pages[z].asarray()
        else:  # all planes in one page (planar samples): decode it once
            whole = self.__dict__.get("_whole")
            if whole is None:
                whole = self._whole = tif.series[0].asarray().reshape(self.shape)
            data = whole[z]
        data = np.asarray(data).reshape(self.shape[1:]).astype(self.dtype, copy=False)
        data.flags.writeable = False
        self._cache = (z, data)
        return data

    def frames(self, start: int, stop: int) -> np.ndarray:
        out = np.empty((max(stop - start, 0), *self.shape[1:]), self.dtype)
        for i, z in enumerate(range(start, stop)):
            out[i] = self._page(z)
        out.flags.writeable = False
        return out

    def read(self, z, rows, cols) -> np.ndarray:
        return np.array(self._page(z)[rows, cols], copy=True)

    def write(self, z, rows, cols, value) -> None:
        raise ValueError(f"{self.path}: a compressed TIFF cannot be changed in place")

    def close(self) -> None:
        handle = self.__dict__.pop("_handle", None)
        self.__dict__.pop("_cache", None)
        self.__dict__.pop("_whole", None)
        if handle is not None:
            handle.close()
        super().close()


class _FrameSource:
    """What ``dask.array.from_array`` slices: frames ``start:stop`` of a backend, picklable."""

    def __init__(self, backend: _Backend, start: int = 0, stop: int | None = None):
        self.backend = backend
        self.start = start
        self.stop = backend.shape[0] if stop is None else stop
        self.shape = (self.stop - self.start, *backend.shape[1:])
        self.dtype = backend.dtype
        self.ndim = 3

    def __getitem__(self, key):
        key = key if isinstance(key, tuple) else (key,)
        key = key + (slice(None),) * (3 - len(key))
        frames = range(self.start, self.stop)[key[0]]
        if isinstance(frames, int):
            return self.backend.frames(frames, frames + 1)[0][key[1:]]
        if len(frames) == 0:
            return np.zeros((0, *self.shape[1:]), self.dtype)[(slice(None), *key[1:])]
        if frames.step == 1:
            return self.backend.frames(frames.start, frames.start + len(frames))[(slice(None), *key[1:])]
        return np.stack([self.backend.frames(z, z + 1)[0][key[1:]] for z in frames])


# ---------------------------------------------------------------- plane access
def _check_int(value, name: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)) or value < minimum:
        raise ValueError(f"{name}: must be an int >= {minimum}, not {value!r}")
    return int(value)


def _pair(value, name: str, minimum: int) -> tuple[int, int]:
    if isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, bool):
        value = (value, value)
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(f"{name}: must be a pair (x, y), not {value!r}")
    return _check_int(value[0], f"{name}[0]", minimum), _check_int(value[1], f"{name}[1]", minimum)


def _plane_region(frame_shape, size, offset, stride) -> tuple[slice, slice]:
    """``(rows, cols)`` slices for :meth:`load_plane`, checked against the frame."""
    height, width = frame_shape
    x0, y0 = _pair(offset, "offset", 0)
    sx, sy = _pair(stride, "stride", 1)
    if x0 >= width or y0 >= height:
        raise ValueError(f"offset: ({x0}, {y0}) is outside the {width} x {height} plane")
    if size is None:
        w, h = -(-(width - x0) // sx), -(-(height - y0) // sy)
    else:
        w, h = _pair(size, "size", 1)
        if x0 + (w - 1) * sx >= width or y0 + (h - 1) * sy >= height:
            raise ValueError(
                f"size: {w} x {h} pixels from ({x0}, {y0}) every ({sx}, {sy}) reach beyond the {width} x {height} plane"
            )
    return slice(y0, y0 + (h - 1) * sy + 1, sy), slice(x0, x0 + (w - 1) * sx + 1, sx)


def _plane_image(data: np.ndarray, metadata: Mapping, rows: slice, cols: slice, args: dict) -> ImageArray:
    """Wrap a region read by ``load_plane`` with metadata whose calibration fits it."""
    image = ImageArray(data, metadata=metadata)
    md = image.metadata
    for axis, sl in (("x", cols), ("y", rows)):
        scale = float(md.get(f"calibration.{axis}.scale", 1.0))
        if f"calibration.{axis}.scale" in md or sl.start or sl.step != 1:
            md[f"calibration.{axis}.offset"] = float(md.get(f"calibration.{axis}.offset", 0.0)) + sl.start * scale
            md[f"calibration.{axis}.scale"] = scale * sl.step
    _append_history(md, _history_entry("load_plane", (), args))
    return image


def _check_zct(z, c, t, planes: int) -> int:
    if c != 0 or t != 0:
        raise ValueError(f"c={c!r}, t={t!r}: the image has no channel or time axis (use z for the frame)")
    return _frame_index(_check_int(z, "z"), planes) if planes else _check_int(z, "z")


# ---------------------------------------------------------------- the disk ImageFile
class DiskImage:
    """What every disk-backed :class:`~stonerimg.ImageFile` has (a mixin; see :func:`open`).

    The pixels stay in the file: ``.image`` is an :class:`~stonerimg.ImageArray`
    over a :class:`numpy.memmap` of it (or, for compressed and chunked files, the
    plane read when first used).  Image functions work as on any ImageFile; with
    ``mode="r"`` their results are new in-memory images and the file never changes.
    """

    def __init__(self, *args, **kwargs):
        raise TypeError(
            f"{type(self).__name__} is made by stonerimg.open(), stonerimg.lazy.open_raw() or "
            "stonerimg.empty()/zeros()/like(), not called directly"
        )

    def _disk_init(self, backend: _Backend, metadata: Mapping | None, mask=None, filename="") -> None:
        self.__dict__["_backend"] = backend
        self.__dict__["_md"] = Metadata(metadata or {})
        self.__dict__["_mask0"] = mask
        self.__dict__["_fname"] = os.fspath(filename or backend.path)
        self.__dict__["_live"] = None
        self.__dict__["_closed"] = False
        if backend.kind == "memmap":
            self._load_live()

    def _load_live(self) -> ImageArray:
        backend = self.__dict__["_backend"]
        data = backend.frames(0, 1)[0] if backend.kind == "memmap" else backend.full()[0]
        mask = self.__dict__["_mask0"]
        image = ImageArray(data, mask=np.ma.nomask if mask is None else mask)
        image._metadata = self.__dict__["_md"]
        image._filename = self.__dict__["_fname"]
        self.__dict__["_live"] = image
        self.__dict__["_first"] = image
        return image

    # -- state
    def _check_open(self) -> None:
        if self.__dict__.get("_closed", True):
            raise ValueError(f"the disk image {self.__dict__.get('_fname', '')!r} is closed")

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self.__dict__.get("_closed", True)

    @property
    def mode(self) -> str:
        """``"r"`` (read-only) or ``"r+"`` (writes go to the file)."""
        return self.__dict__["_backend"].mode

    def _file_backed(self) -> bool:
        """Whether ``.image`` still shows the file's pixels (not an in-memory result that replaced them)."""
        live = self.__dict__["_live"]
        first = self.__dict__.get("_first")
        if live is None or live is first:
            return True
        return first is not None and live.shape == first.shape and np.shares_memory(live.data, first.data)

    @property
    def is_disk_image(self) -> bool:
        """True while the pixels are in the file (False once an image function replaced them in memory)."""
        self._check_open()
        return self._file_backed()

    @property
    def is_scratch(self) -> bool:
        """True for a scratch image whose file is removed when it is closed or collected."""
        return self.__dict__["_backend"].scratch

    def close(self) -> None:
        """Write pending changes, release the file and every mapping this image holds (a scratch file is removed).

        Closing twice is harmless.  Arrays taken from the image before keep
        their mapping alive as NumPy views do; nothing else is left open.
        """
        if self.__dict__.get("_closed", True):
            return
        self.__dict__["_closed"] = True
        self.__dict__["_live"] = self.__dict__["_first"] = None
        self.__dict__["_backend"].close()

    def __enter__(self):
        self._check_open()
        return self

    def __exit__(self, *exc_info):
        self.close()
        return False

    # -- the image and its cheap properties
    @property
    def _image(self) -> ImageArray:
        self._check_open()
        live = self.__dict__["_live"]
        if live is None:
            live = self._load_live()
        return live

    @_image.setter
    def _image(self, value) -> None:
        self._check_open()
        self.__dict__["_live"] = value

    @property
    def metadata(self) -> Metadata:
        """The image's metadata (available without reading the pixels)."""
        self._check_open()
        live = self.__dict__["_live"]
        return live.metadata if live is not None else self.__dict__["_md"]

    @metadata.setter
    def metadata(self, value: Mapping) -> None:
        self._check_open()
        if not isinstance(value, Mapping):
            raise TypeError(f"metadata must be a mapping, not {type(value).__name__}")
        live = self.__dict__["_live"]
        if live is not None:
            live.metadata = value
        else:
            self.__dict__["_md"] = Metadata(value)

    @property
    def filename(self) -> str:
        """The file the image is in."""
        self._check_open()
        live = self.__dict__["_live"]
        return live.filename if live is not None else self.__dict__["_fname"]

    @filename.setter
    def filename(self, value) -> None:
        self._check_open()
        self.__dict__["_fname"] = "" if value is None else os.fspath(value)
        if self.__dict__["_live"] is not None:
            self.__dict__["_live"].filename = value

    def _frame_shape(self) -> tuple[int, ...]:
        live = self.__dict__["_live"]
        return live.shape if live is not None else self.__dict__["_backend"].shape[1:]

    shape = property(lambda self: (self._check_open(), self._frame_shape())[1], doc="Shape, ``(rows, cols)``.")
    ndim = property(lambda self: len(self.shape), doc="Number of array dimensions.")
    size = property(lambda self: int(np.prod(self.shape)), doc="Number of pixels.")
    geometry = property(lambda self: tuple(reversed(self.shape)), doc="``(size_x, size_y)``.")

    @property
    def dtype(self) -> np.dtype:
        """Data type of the pixels."""
        self._check_open()
        live = self.__dict__["_live"]
        return live.dtype if live is not None else self.__dict__["_backend"].dtype

    def __copy__(self):
        """Return an ordinary in-memory document of the same class on the same image (results are not disk images)."""
        base = type(self).__bases__[-1]
        new = base.__new__(base)
        new.__dict__["_image"] = self._image
        if "format" in self.__dict__:
            new.format = self.__dict__["format"]
        return new

    def __repr__(self):
        state = "closed" if self.closed else f"mode={self.mode!r}, shape={self.shape}, dtype={self.dtype}"
        return f"{type(self).__name__}({self.__dict__.get('_fname', '')!r}, {state})"

    # -- reading and writing planes
    def load_plane(self, z: int = 0, c: int = 0, t: int = 0, size=None, offset=(0, 0), stride=(1, 1)) -> ImageArray:
        """Read a (sub-sampled) region of the image into memory, reading only the bytes it needs.

        Parameters
        ----------
        z, c, t : int, default 0
            The plane; a single image has only ``z=c=t=0``.
        size : (int, int), optional
            ``(w, h)``: how many pixels the result has along x and y (default:
            as many as fit from ``offset`` to the edge with ``stride``).
        offset : (int, int), default (0, 0)
            ``(x, y)`` of the first pixel read.
        stride : int or (int, int), default (1, 1)
            ``(sx, sy)``: the step between pixels read.

        Returns
        -------
        ImageArray
            An ordinary in-memory image of shape ``(h, w)``, with the metadata
            and a calibration scaled by the stride and moved by the offset.

        Raises
        ------
        ValueError
            If the region does not fit in the plane, or the image is closed.
        """
        self._check_open()
        _check_zct(z, c, t, 1)
        if z != 0:
            raise ValueError(f"z={z}: a single image has only plane 0")
        rows, cols = _plane_region(self.shape[-2:], size, offset, stride)
        if self._file_backed():
            data = self.__dict__["_backend"].read(0, rows, cols)
        else:  # an image function replaced the pixels in memory
            data = np.array(self.__dict__["_live"].data[rows, cols], copy=True)
        args = {"z": z, "size": (data.shape[1], data.shape[0]), "offset": offset, "stride": stride}
        return _plane_image(data, self.metadata, rows, cols, args)

    def _check_writable(self) -> None:
        self._check_open()
        if self.mode != "r+":
            raise ValueError(f"{self.filename}: the disk image is open read-only (mode='r'); open it with mode='r+'")

    def write_pixel(self, value, x: int, y: int, z: int = 0, c: int = 0, t: int = 0) -> None:
        """Write one pixel into the file (``mode="r+"`` only).

        Raises
        ------
        ValueError
            If the image is open read-only, closed, or ``(x, y, z)`` is outside it.
        """
        self._check_writable()
        _check_zct(z, c, t, 1)
        rows, cols = self.shape[-2:]
        x, y = _check_int(x, "x"), _check_int(y, "y")
        if z != 0 or x >= cols or y >= rows:
            raise ValueError(f"(x, y, z) = ({x}, {y}, {z}) is outside the {cols} x {rows} image")
        if self.__dict__["_backend"].kind == "memmap":
            self[y, x] = value
        else:
            self._check_file_backed()
            self.__dict__["_backend"].write(0, y, x, value)
            self.__dict__["_live"] = self.__dict__["_first"] = None  # read again when next used

    def _check_file_backed(self) -> None:
        if not self._file_backed():
            raise ValueError(f"{self.filename}: the image was replaced in memory; its pixels are no longer the file's")

    def __setitem__(self, index, value):
        if isinstance(index, str):
            self.metadata[index] = value
            return
        self._check_writable()
        self._check_file_backed()
        backend = self.__dict__["_backend"]
        image = self._image
        if backend.kind == "memmap":
            image[index] = value
            return
        changed = np.array(image.data, copy=True)
        changed[index] = value
        backend.write(0, slice(None), slice(None), changed)
        self.__dict__["_live"] = self.__dict__["_first"] = None  # read again when next used

    def flush(self) -> None:
        """Make sure every change is in the file."""
        self._check_open()
        self.__dict__["_backend"].flush()

    def _take_result(self, result: ImageArray, inputs=()) -> None:
        """Hold an image function's result; with ``mode="r+"`` one of the image's shape and dtype goes into the file.

        A mapped file is written through its mapping by :class:`~stonerimg.ImageFile`;
        an HDF5 dataset read through h5py is written here, then read back when next used.
        """
        backend = self.__dict__["_backend"]
        fits = result.shape == self.shape and result.dtype == self.dtype
        if backend.kind != "hdf5" or self.mode != "r+" or not fits or not self._file_backed():
            return super()._take_result(result, inputs)
        backend.write(0, slice(None), slice(None), np.ma.getdata(result))
        mask = np.ma.getmask(result)
        self.__dict__.update(_md=result.metadata, _mask0=None if mask is np.ma.nomask else np.array(mask))
        self.__dict__["_live"] = self.__dict__["_first"] = None

    def save(self, filename=None, *, fmt: str | None = None, **kwargs):
        """Save the image; a scratch image saved as ``.npy`` is moved into place (no copy on the same disk).

        After that move the image is backed by the saved file and is no longer
        scratch (closing it keeps the file).  Any other target is written by
        the format registry, as :meth:`stonerimg.ImageFile.save` does.
        """
        self._check_open()
        if filename is not None and _persist(self, filename, fmt):
            return self
        return super().save(filename, fmt=fmt, **kwargs)


def _maps_file(image) -> bool:
    base = np.ma.getdata(image)
    while base is not None and not isinstance(base, np.memmap):
        base = base.base
    return base is not None


class DiskImageFile(DiskImage, ImageFile):
    """An :class:`~stonerimg.ImageFile` whose pixels stay in a file (see :class:`DiskImage`)."""


_DISK_CLASSES: dict[type, type] = {ImageFile: DiskImageFile}


def _disk_class(cls: type) -> type:
    """Return the disk-backed variant of an ImageFile (or ImageStack) subclass, made once."""
    if issubclass(cls, (DiskImage, DiskImageStack)):
        return cls
    if cls not in _DISK_CLASSES:
        base = DiskImage if issubclass(cls, ImageFile) else DiskImageStack
        _DISK_CLASSES[cls] = type(f"Disk{cls.__name__}", (base, cls), {"__module__": cls.__module__})
    return _DISK_CLASSES[cls]


# ---------------------------------------------------------------- the disk stack
class DiskImageStack(ImageStack):
    """An :class:`~stonerimg.ImageStack` whose frames stay in a file.

    Frames are read (or mapped) when used.  :meth:`mean`, :meth:`average`,
    :meth:`~stonerimg.ImageStack.drift_corrected_mean`, :meth:`to_dask`,
    :meth:`load_plane` and ``each`` stream over windows of at most
    :data:`stonerimg.config.block_bytes`, so they work on stacks larger than
    memory (and than a capped address space).  Other stack methods use
    :attr:`data`, the whole stack as one :class:`numpy.memmap` (or read into
    memory for compressed and chunked files).

    ``stack.each.<function>()`` writes results of the stack's shape and dtype
    back into the file with ``mode="r+"``; otherwise the stack moves onto a new
    scratch disk image holding the results, frame by frame.  In-place stack
    operations (:meth:`~stonerimg.ImageStack.correct_drifts`, :meth:`subtract`)
    on a ``mode="r"`` stack first move it onto a scratch copy: the opened file
    is never changed with ``mode="r"``.  Copies (``clone``, selections by a list
    of frames, arithmetic results) are ordinary in-memory stacks.
    """

    # -- construction
    def __init__(self, *args, **kwargs):
        raise TypeError(
            f"{type(self).__name__} is made by stonerimg.open(), stonerimg.empty()/zeros()/like() or "
            "ImageFolder.as_stack(on_disk=True), not called directly"
        )

    @classmethod
    def _new(cls, image, records, filenames, classes) -> ImageStack:
        """Make an ordinary in-memory stack (of the class this disk class extends): copies, clones, selections."""
        return cls.__bases__[-1]._new(image, records, filenames, classes)

    @classmethod
    def _on_backend(cls, backend, metadata=None, records=None, filenames=None, classes=None, mask=None):
        n = backend.shape[0]
        stack = cls.__new__(cls)
        stack.__dict__.update(
            _backend=backend,
            _shared=Metadata(metadata or {}),
            _records=list(records) if records is not None else [Metadata() for _ in range(n)],
            _filenames=list(filenames) if filenames is not None else [backend.path] * n,
            _classes=list(classes) if classes is not None else [ImageFile] * n,
            _frame_mask=mask,
            _live=None,
            _detached=False,
            _closed=False,
            _owner=True,
            _start=0,
            _stop=n,
        )
        return stack

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called (on this stack or the stack it is a slice of)."""
        if self.__dict__.get("_closed", True):
            return True
        parent = self.__dict__.get("_parent")
        return parent is not None and parent() is not None and parent().closed

    def _live_backend(self) -> _Backend:
        if self.closed:
            raise ValueError(f"the disk stack {self.__dict__['_backend'].path!r} is closed")
        return self.__dict__["_backend"]

    @property
    def mode(self) -> str:
        """``"r"`` (read-only) or ``"r+"`` (writes go to the file)."""
        return self.__dict__["_backend"].mode

    @property
    def is_disk_image(self) -> bool:
        """True while the frames are in a file (False once an operation gave the stack an in-memory buffer)."""
        self._live_backend()
        return not self.__dict__["_detached"] or _maps_file(self.__dict__["_live"])

    @property
    def is_scratch(self) -> bool:
        """True for a scratch stack whose file is removed when it is closed or collected."""
        return self.__dict__["_backend"].scratch

    @property
    def filename(self) -> str:
        """The file that holds the pixels (``filenames`` says where each frame came from)."""
        return self._live_backend().path

    @property
    def frame_metadata(self) -> tuple[Metadata, ...]:
        """Each frame's own record (the items that differ from the shared metadata); edits change the stack."""
        self._live_backend()
        return tuple(self._records)

    @property
    def filenames(self) -> tuple[str, ...]:
        """The file each frame came from."""
        self._live_backend()
        return tuple(self._filenames)

    def metadata_of(self, index: int) -> Metadata:
        """Return frame ``index``'s own record; changing it changes the stack."""
        self._live_backend()
        return super().metadata_of(index)

    def close(self) -> None:
        """Write pending changes and release the file, its mappings (and a scratch file).

        A slice of a stack shares its parent's file: closing the slice only
        marks it closed; closing the parent closes both.
        """
        if self.__dict__.get("_closed", True):
            return
        self.__dict__["_closed"] = True
        self.__dict__["_live"] = self.__dict__["_frame_mask"] = None
        if self.__dict__["_owner"]:
            self._release()

    def _release(self) -> None:
        self.__dict__["_backend"].close()
        mask_backend = self.__dict__.pop("_mask_backend", None)
        if mask_backend is not None:
            mask_backend.close()

    def __enter__(self):
        self._live_backend()
        return self

    def __exit__(self, *exc_info):
        self.close()
        return False

    # -- the buffer
    def _frames(self, start: int, stop: int) -> np.ndarray:
        offset = self.__dict__["_start"]
        return self._live_backend().frames(offset + start, offset + stop)

    @property
    def _image(self) -> ImageArray:
        backend = self._live_backend()
        live = self.__dict__["_live"]
        if live is None:
            start, stop = self.__dict__["_start"], self.__dict__["_stop"]
            data = backend.full()[start:stop]
            mask = self.__dict__["_frame_mask"]
            live = ImageArray(data, mask=np.ma.nomask if mask is None else mask[start:stop])
            live._metadata = self.__dict__["_shared"]
            self.__dict__["_live"] = live
        return live

    @_image.setter
    def _image(self, value) -> None:
        self._live_backend()
        if value is self.__dict__["_live"]:
            return
        self.__dict__["_live"] = value
        self.__dict__["_shared"] = value.metadata
        self.__dict__["_detached"] = True

    @property
    def metadata(self) -> Metadata:
        """The shared metadata, which every frame inherits."""
        self._live_backend()
        return self.__dict__["_shared"]

    @metadata.setter
    def metadata(self, value: Mapping) -> None:
        self._live_backend()
        if not isinstance(value, Mapping):
            raise TypeError(f"metadata must be a mapping, not {type(value).__name__}")
        self.__dict__["_shared"] = Metadata(value)
        if self.__dict__["_live"] is not None:
            self.__dict__["_live"]._metadata = self.__dict__["_shared"]

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(n, y, x)``: number of frames, rows, columns."""
        backend = self._live_backend()
        if self.__dict__["_detached"]:
            return self.__dict__["_live"].shape
        return (self.__dict__["_stop"] - self.__dict__["_start"], *backend.shape[1:])

    @property
    def frame_shape(self) -> tuple[int, int]:
        """``(y, x)`` of every frame."""
        return self.shape[1:]

    @property
    def dtype(self) -> np.dtype:
        """Data type of the pixels."""
        backend = self._live_backend()
        return self.__dict__["_live"].dtype if self.__dict__["_detached"] else backend.dtype

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self):
        if self.closed:
            return f"{type(self).__name__}({self.__dict__['_backend'].path!r}, closed)"
        n, rows, cols = self.shape
        return f"{type(self).__name__}({n} frames of {rows} x {cols}, dtype={self.dtype}, mode={self.mode!r})"

    # -- frames
    def _frame(self, i: int) -> ImageFile:
        if self.__dict__["_detached"]:
            return super()._frame(i)
        data = self._frames(i, i + 1)[0]
        mask = self.__dict__["_frame_mask"]
        view = ImageArray(data, mask=np.ma.nomask if mask is None else mask[self.__dict__["_start"] + i])
        doc = self._classes[i](view)
        doc.metadata = self.merged_metadata(i)
        doc.filename = self._filenames[i]
        return doc

    def __getitem__(self, index):
        """Frame ``i`` as an ImageFile over the file, or a slice of the stack on the same file."""
        if isinstance(index, slice) and not self.__dict__["_detached"]:
            positions = range(len(self))[index]
            if positions.step != 1:
                return super().__getitem__(index)
            child = type(self)._on_backend(
                self._live_backend(),
                self.metadata.copy(),
                [self._records[i] for i in positions],
                [self._filenames[i] for i in positions],
                [self._classes[i] for i in positions],
                self.__dict__["_frame_mask"],
            )
            start = self.__dict__["_start"] + positions.start
            child.__dict__.update(_owner=False, _parent=weakref.ref(self), _start=start, _stop=start + len(positions))
            return child
        return super().__getitem__(index)

    def __setitem__(self, index, value):
        """Write an image into frame ``index`` of the file (``mode="r+"``)."""
        if self.__dict__["_detached"]:
            return super().__setitem__(index, value)
        self._check_writable()
        if not isinstance(index, (numbers.Integral, np.integer)) or isinstance(index, bool):
            raise TypeError(f"index: frames are written one at a time by integer index, not {index!r}")
        i = _frame_index(index, len(self))
        pixels, _mask, md, filename, _cls = _as_2d_image(value, "value")
        if pixels.shape != self.frame_shape:
            raise ValueError(f"value: its shape {pixels.shape} differs from the stack's frames {self.frame_shape}")
        self._live_backend().write(self.__dict__["_start"] + i, slice(None), slice(None), pixels)
        if isinstance(value, (ImageArray, ImageFile)):
            self._records[i] = _difference(md, self.metadata)
            self._filenames[i] = filename

    def _check_writable(self) -> None:
        self._live_backend()
        if self.mode != "r+":
            raise ValueError(
                f"{self.__dict__['_backend'].path}: the disk stack is open read-only (mode='r'); open it with mode='r+'"
            )

    def write_pixel(self, value, x: int, y: int, z: int = 0, c: int = 0, t: int = 0) -> None:
        """Write one pixel of frame ``z`` into the file (``mode="r+"`` only).

        Raises
        ------
        ValueError
            If the stack is open read-only, closed, or ``(x, y, z)`` is outside it.
        """
        self._check_writable()
        z = _check_zct(z, c, t, len(self))
        rows, cols = self.frame_shape
        x, y = _check_int(x, "x"), _check_int(y, "y")
        if x >= cols or y >= rows:
            raise ValueError(f"(x, y) = ({x}, {y}) is outside the {cols} x {rows} frames")
        if self.__dict__["_detached"]:
            raise ValueError("the stack was given an in-memory buffer; its pixels are no longer the file's")
        self._live_backend().write(self.__dict__["_start"] + z, y, x, value)

    def flush(self) -> None:
        """Make sure every change is in the file."""
        self._live_backend().flush()

    def load_plane(self, z: int = 0, c: int = 0, t: int = 0, size=None, offset=(0, 0), stride=(1, 1)) -> ImageArray:
        """Read a (sub-sampled) region of frame ``z`` into memory, reading only the bytes it needs.

        See :meth:`DiskImage.load_plane`.
        """
        if self.__dict__["_detached"]:
            return super().load_plane(z, c, t, size=size, offset=offset, stride=stride)
        z = _check_zct(z, c, t, len(self))
        rows, cols = _plane_region(self.frame_shape, size, offset, stride)
        data = self._live_backend().read(self.__dict__["_start"] + z, rows, cols)
        args = {"z": z, "size": (data.shape[1], data.shape[0]), "offset": offset, "stride": stride}
        return _plane_image(data, self.merged_metadata(z), rows, cols, args)

    # -- streaming
    def _blocks(self, rows=slice(None), cols=slice(None)) -> Iterator[tuple[int, np.ndarray]]:
        if self.__dict__["_detached"]:
            yield from super()._blocks(rows, cols)
            return
        n = len(self)
        step = max(1, config.block_bytes // max(1, self._live_backend().frame_bytes))
        for start in range(0, n, step):
            stop = min(n, start + step)
            yield start, self._frames(start, stop)[:, rows, cols]

    def _masked_blocks(self):
        # the statistics and montage of ImageStack (stonerimg._frames) read the frames through here
        if self.__dict__["_detached"]:
            yield from super()._masked_blocks()
            return
        mask = self.__dict__["_frame_mask"]
        offset = self.__dict__["_start"]
        for start, block in self._blocks():
            if mask is None:
                yield start, block, None
            else:
                yield start, block, mask[offset + start : offset + start + len(block)]

    def _apply_each(self, call):
        if self.__dict__["_detached"]:
            return super()._apply_each(call)
        n = len(self)
        target: _Backend | None = None
        mask_target: _Backend | None = None  # the results' masks, if any is masked
        in_place = False
        records, others = [], []
        for i in range(n):
            doc = self._frame(i)
            try:
                out = call(doc)
            except (ValueError, TypeError) as err:
                raise (ValueError if isinstance(err, ValueError) else TypeError)(f"frame {i}: {err}") from err
            result = doc if out is None else out
            if not isinstance(result, (ImageFile, np.ndarray)):
                if target is not None:
                    raise TypeError(f"frame {i}: the function gave a {type(result).__name__}, not an image")
                others.append(result)
                continue
            if others:
                raise TypeError("frame 0: the function gave something that is not an image")
            image = result.image if isinstance(result, ImageFile) else result
            pixels = np.asarray(np.ma.getdata(image))
            if pixels.ndim != 2:
                raise ValueError(f"frame {i}: the result has shape {pixels.shape}, not that of a 2-D image")
            if target is None:
                in_place = pixels.shape == self.frame_shape and pixels.dtype == self.dtype and self.mode == "r+"
                if in_place:
                    target = self._live_backend()
                else:
                    target = _scratch_backend((n, *pixels.shape), pixels.dtype)
            else:
                problem = ""
                if pixels.shape != target.shape[1:]:
                    problem = f"came out with shape {pixels.shape}, frame 0 with {target.shape[1:]}; "
                    problem += "every frame must keep one shape"
                elif not np.can_cast(pixels.dtype, target.dtype, "same_kind"):
                    problem = f"came out as {pixels.dtype}, frame 0 as {target.dtype}"
                if problem:
                    for scratch in (None if in_place else target, mask_target):
                        if scratch is not None:
                            scratch.close()
                    raise ValueError(f"frame {i}: {problem}")
            z = (self.__dict__["_start"] + i) if in_place else i
            if not (in_place and np.shares_memory(pixels, target.frames(z, z + 1))):
                target.write(z, slice(None), slice(None), pixels)
            mask = np.ma.getmask(image)
            if mask is not np.ma.nomask and mask.any():
                if mask_target is None:
                    mask_target = _scratch_backend((n, *pixels.shape), bool)
                mask_target.write(i, slice(None), slice(None), np.asarray(mask))
            md = image.metadata if isinstance(image, ImageArray) else self.merged_metadata(i)
            records.append(md)
        if target is None:
            return others
        if not in_place:
            self._move_to(target)
        if self.__dict__["_owner"]:  # the results' masks replace the frames' masks
            old = self.__dict__.pop("_mask_backend", None)
            if old is not None:
                old.close()
            self.__dict__["_mask_backend"] = mask_target
            self.__dict__["_frame_mask"] = None if mask_target is None else mask_target.full()
        elif mask_target is not None:
            mask_target.close()
            logger.warning("the masks of the results on a slice of a disk stack are not kept")
        self._records = [_difference(md, self.metadata) for md in records]
        return self

    def _ensure_writeable(self) -> None:
        """Move a stack on a read-only file onto a scratch copy (frame by frame) before an in-place operation."""
        if self.__dict__["_detached"] or self.mode == "r+":
            return super()._ensure_writeable()
        logger.info("%s is open read-only: the stack moves onto a scratch copy", self._live_backend().path)
        n = len(self)
        scratch = _scratch_backend(self.shape, self.dtype)
        for start, block in self._blocks():
            for k, frame in enumerate(block):
                scratch.write(start + k, slice(None), slice(None), frame)
        mask = self.__dict__["_frame_mask"]
        mask = None if mask is None else np.array(mask[self.__dict__["_start"] : self.__dict__["_start"] + n])
        self._move_to(scratch)
        self.__dict__["_frame_mask"] = mask

    def subtract(self, background) -> ImageStack:
        """Subtract a background from every frame; see :meth:`ImageStack.subtract`.

        A disk stack of integers first becomes float64 frame by frame (on a
        scratch disk image, as a read-only one does), then the difference is
        taken in that file.
        """
        if not self.__dict__["_detached"]:
            if self.dtype.kind != "f":
                self._apply_each(lambda doc: doc.image.astype(np.float64))
            self._ensure_writeable()
        return super().subtract(background)

    def _move_to(self, backend: _Backend) -> None:
        """Put the stack onto another (scratch) backend, closing the old one if this stack owned it."""
        if self.__dict__["_owner"]:
            self._release()
        self.__dict__.update(
            _backend=backend, _live=None, _owner=True, _parent=None, _start=0, _stop=backend.shape[0], _frame_mask=None
        )

    # -- dask and saving
    def to_dask(self, chunks=None):
        """Return the stack as a :class:`dask.array.Array` reading the file (no copy).

        Parameters
        ----------
        chunks : optional
            Dask chunks; default: as many whole frames per chunk as fit in
            :data:`stonerimg.config.block_bytes`.
        """
        if self.__dict__["_detached"]:
            return super().to_dask(chunks)
        import dask.array as da

        backend = self._live_backend()
        if chunks is None:
            chunks = (max(1, config.block_bytes // max(1, backend.frame_bytes)), -1, -1)
        source = _FrameSource(backend, self.__dict__["_start"], self.__dict__["_stop"])
        name = f"stonerimg-disk-{uuid.uuid4().hex}"
        return da.from_array(source, chunks=chunks, name=name, meta=np.empty((0, 0, 0), backend.dtype))

    def save(self, filename, *, fmt: str | None = None, **kwargs):
        """Save the stack: a scratch stack saved as ``.npy`` is moved into place, anything else via :meth:`to_tiff`.

        Per-frame metadata is kept by the TIFF form; the ``.npy`` form keeps
        the shared metadata (in its ``.npy.json`` sidecar).
        """
        self._live_backend()
        if _persist(self, filename, fmt):
            return self
        return super().save(filename, fmt=fmt, **kwargs)


# ---------------------------------------------------------------- scratch images
def _scratch_backend(shape, dtype) -> _RawBackend:
    """Make a zero-filled ``.npy`` file in the disk-image folder, removed when closed or collected."""
    from numpy.lib import format as npy_format

    dtype = np.dtype(dtype)
    if dtype.hasobject or dtype.kind not in "biufc":
        raise TypeError(f"dtype: a disk image holds numbers, not {dtype}")
    shape = tuple(_check_int(n, "shape") for n in shape)
    folder = config.get_disk_image_dir()
    handle, path = tempfile.mkstemp(dir=folder, prefix="stonerimg-", suffix=".npy")
    try:
        with os.fdopen(handle, "r+b") as out:
            header = {"descr": npy_format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape}
            npy_format.write_array_header_2_0(out, header)
            offset = out.tell()
            out.truncate(offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize)  # sparse: reads as zeros
    except BaseException:
        _remove_file(path)
        raise
    backend = _RawBackend(path, offset, dtype, shape if len(shape) == 3 else (1, *shape), "r+")
    backend.scratch = True
    backend._finalizer = weakref.finalize(backend, _remove_file, path)
    return backend


_move = os.replace  # a rename; tests replace it to act as if the target were on another disk


def _persist(image, filename, fmt) -> bool:
    """Move a scratch image's ``.npy`` file to ``filename`` (and write its sidecar); False if not applicable."""
    from .formats import atomic_path
    from .formats._payload import encode_payload
    from .formats.npy import sidecar

    backend = image.__dict__["_backend"]
    path = Path(os.fspath(filename))
    if not backend.scratch or fmt not in (None, "npy") or (fmt is None and path.suffix.lower() != ".npy"):
        return False
    if isinstance(image, ImageStack) and (image.__dict__["_detached"] or not image.__dict__["_owner"]):
        return False
    if isinstance(image, DiskImage) and image._image is not image.__dict__["_first"]:
        return False
    backend.flush()
    shape = backend.shape if isinstance(image, ImageStack) else backend.shape[1:]
    document = _Described(backend.dtype, shape, image.metadata)
    with atomic_path(sidecar(path)) as temp_json:
        temp_json.write_text(encode_payload(document), encoding="ascii")
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(backend.path, 0o666 & ~umask)
    try:
        _move(backend.path, path)
    except OSError as err:
        if err.errno != errno.EXDEV:
            raise
        with atomic_path(path) as temp:
            shutil.copyfile(backend.path, temp)
        return True  # copied to another disk: the image stays on its scratch file
    backend._finalizer.detach()
    backend.path = str(path)
    backend.scratch = False
    if isinstance(image, DiskImage):
        image.filename = str(path)
    return True


class _Described:
    """The few attributes :func:`encode_payload` reads, for a stack too large to wrap."""

    def __init__(self, dtype, shape, metadata):
        self.dtype, self.shape, self.metadata = np.dtype(dtype), tuple(shape), metadata


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


# ---------------------------------------------------------------- opening
def open_raw(path, *, offset: int, dtype, shape: tuple, mode: str = "r", metadata=None, cls=None):
    """Open raw C-order pixels starting at byte ``offset`` of ``path`` as a disk image (numpy.memmap).

    Parameters
    ----------
    path : str or os.PathLike
    offset : int
        Byte offset of the first pixel.
    dtype : dtype
        Pixel type, with its byte order (``"<u2"``, ``">f4"``, ...).
    shape : tuple of int
        ``(y, x)`` for one image, ``(n, y, x)`` for a stack (NumPy order).
    mode : {"r", "r+"}
        ``"r+"`` lets writes go to the file.
    metadata : mapping, optional
        The image's (the stack's shared) metadata.
    cls : type, optional
        The :class:`~stonerimg.ImageFile` subclass of the image (or of a stack's
        frames), or an :class:`~stonerimg.ImageStack` subclass for a stack.

    Returns
    -------
    DiskImageFile or DiskImageStack
        A context manager; :meth:`~DiskImage.close` releases the file.

    Raises
    ------
    ValueError
        If the file is too short for the pixels, or an argument is invalid.
    """
    mode = _check_mode(mode)
    shape = _shape_tuple(shape)
    dtype = np.dtype(dtype)
    offset = _check_int(offset, "offset")
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(2, "No such file", path)
    needed = offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if os.path.getsize(path) < needed:
        raise ValueError(
            f"{path}: {shape} pixels of {dtype} from byte {offset} need {needed} bytes, the file has fewer"
        )
    backend = _RawBackend(path, offset, dtype, shape if len(shape) == 3 else (1, *shape), mode)
    return _document(backend, len(shape), metadata, cls)


def _document(backend: _Backend, ndim: int, metadata, cls=None, mask=None, records=None, filenames=None):
    """Wrap a backend as a disk ImageFile (``ndim`` 2) or a disk stack (``ndim`` 3)."""
    if ndim == 2:
        klass = _disk_class(cls if cls is not None else ImageFile)
        if not issubclass(klass, DiskImage):
            raise TypeError(f"cls: a 2-D image needs an ImageFile subclass, not {cls.__name__}")
        doc = klass.__new__(klass)
        doc._disk_init(backend, metadata, mask=mask)
        return doc
    frame_cls = ImageFile
    stack_cls = DiskImageStack
    if cls is not None and issubclass(cls, ImageStack):
        stack_cls = _disk_class(cls)
    elif cls is not None:
        frame_cls = cls
    n = backend.shape[0]
    return stack_cls._on_backend(
        backend, metadata, records=records, filenames=filenames, classes=[frame_cls] * n, mask=mask
    )


def _check_payload_fits(path, dtype, shape, file_dtype, file_shape) -> tuple[int, ...]:
    if np.dtype(dtype) != np.dtype(file_dtype).newbyteorder("=") and np.dtype(dtype) != np.dtype(file_dtype):
        raise FormatMismatch(
            f"its pixels are stored as {file_dtype} for a {dtype} image: cannot be opened lazily, load() it instead"
        )
    if int(np.prod(shape)) != int(np.prod(file_shape)):
        raise FormatMismatch(f"its recorded shape {shape} does not fit the {file_shape} pixels in the file")
    return shape


def _image_shape(path, shape) -> tuple[int, ...]:
    shape = tuple(int(n) for n in shape)
    if len(shape) == 1:
        shape = (1, *shape)
    if len(shape) not in (2, 3):
        raise FormatMismatch(
            f"its pixels have shape {shape}; open() gives 2-D images and 3-D stacks (n, y, x): load() it instead"
        )
    return shape


def open_npy(path, mode: str = "r", **kwargs):
    """Open a ``.npy`` file as a disk image (memmap; its ``.npy.json`` sidecar gives the metadata)."""
    from numpy.lib import format as npy_format

    from .formats.npy import _check_header, sidecar

    _check_header(path)
    with builtins.open(path, "rb") as handle:
        try:
            version = npy_format.read_magic(handle)
            read = npy_format.read_array_header_1_0 if version == (1, 0) else npy_format.read_array_header_2_0
            shape, fortran, dtype = read(handle)
        except ValueError as err:
            raise FormatMismatch(f"not a readable .npy array: {err}") from err
        offset = handle.tell()
    if dtype.hasobject or dtype.kind not in "biufc":
        raise FormatMismatch(f"its pixels are {dtype}, not numbers")
    shape = _image_shape(path, shape)
    if fortran and len(shape) > 1 and int(np.prod(shape[1:])) > 1 and shape[0] > 1:
        raise FormatMismatch("it is stored in Fortran order: cannot be opened lazily, load() it instead")
    metadata, mask = Metadata(), None
    side = sidecar(path)
    if side.is_file():
        try:
            p_dtype, p_shape, metadata, bits, _doc = read_payload(side.read_text(encoding="ascii"))
        except (ValueError, KeyError, TypeError) as err:
            raise FormatMismatch(f"its sidecar {side.name} is malformed: {err}") from err
        shape = _image_shape(path, _check_payload_fits(path, p_dtype, p_shape, dtype, shape))
        mask = unpack_mask(bits, shape)
    backend = _RawBackend(path, offset, dtype, shape if len(shape) == 3 else (1, *shape), _check_mode(mode))
    return _document(backend, len(shape), metadata, mask=mask)


def _tiff_metadata(tif, page, dtype) -> Metadata:
    """Return the metadata ``stonerimg.load`` gives a TIFF that is not ours (tags, ImageJ, Stoner items, calibration).

    Raises FormatMismatch for a Stoner file whose recorded dtype differs from the
    stored one (``load`` converts it; a mapping cannot).
    """
    from .formats._payload import stoner_dtype
    from .formats.tiff import foreign_metadata

    metadata, from_stoner = foreign_metadata(tif, page)
    if from_stoner:
        recorded = stoner_dtype(metadata, np.empty(0, dtype)).dtype
        if recorded != dtype:
            raise FormatMismatch(
                f"the Stoner package recorded {recorded} pixels, stored as {dtype}: cannot be opened lazily, "
                "load() it instead"
            )
    return metadata


def _tiff_layout(tif, n_pages: int):
    """``(offset, stride)`` when every page is one uncompressed, contiguous block at an even spacing, else None."""
    pages = [tif.pages[i] for i in range(n_pages)]
    offsets = []
    for page in pages:
        if page.compression != 1 or not page.is_contiguous or page.fillorder != 1:
            return None
        offsets.append(page.dataoffsets[0])
    steps = np.diff(offsets)
    if steps.size and (np.any(steps != steps[0]) or steps[0] < pages[0].nbytes):
        return None
    return offsets[0], int(steps[0]) if steps.size else None


def open_tiff(path, mode: str = "r", **kwargs):
    """Open a TIFF (one image or a stack of pages) as a disk image.

    Uncompressed pages evenly spaced in the file (as tifffile, ImageJ and
    :meth:`ImageStack.to_tiff` write them, BigTIFF too) are memory-mapped;
    compressed pages are decoded one plane at a time when asked for.
    """
    import tifffile

    from .formats._payload import is_payload
    from .formats.tiff import _check_size
    from .stack import _STACK_KEY

    mode = _check_mode(mode)
    try:
        tif = tifffile.TiffFile(path)
    except tifffile.TiffFileError as err:
        raise FormatMismatch(f"not a readable TIFF file: {err}") from err
    with tif:
        _check_size(tif, os.path.getsize(path))
        series = tif.series[0]
        page = tif.pages.first
        if series.dtype is None or series.dtype.kind not in "biufc":
            raise FormatMismatch(f"its pixels are {series.dtype}: cannot be opened lazily, load() it instead")
        if len(series.shape) > 3 or (len(series.shape) == 3 and series.axes[-1] == "S"):
            raise FormatMismatch(
                f"its pixels have shape {series.shape} ({series.axes}): open() gives 2-D images and 3-D stacks; "
                "load() it instead"
            )
        shape = _image_shape(path, series.shape)
        frames = 1 if len(shape) == 2 else shape[0]
        description = page.description or ""
        records, filenames, mask = None, None, None
        if is_payload(description):
            try:
                p_dtype, p_shape, metadata, bits, doc = read_payload(description)
            except (ValueError, KeyError, TypeError) as err:
                raise FormatMismatch(f"the stonerimg description of page 0 is malformed: {err}") from err
            file_dtype = np.uint8 if p_dtype.kind == "b" else series.dtype
            shape = _image_shape(path, _check_payload_fits(path, p_dtype, p_shape, file_dtype, shape))
            mask = unpack_mask(bits, shape)
            frames = 1 if len(shape) == 2 else shape[0]
            if _STACK_KEY in doc:
                records, filenames = [], []
                for i in range(frames):
                    frame = json.loads(tif.pages[i].description)[_STACK_KEY]
                    records.append(Metadata.from_json(json.dumps(frame["metadata"])))
                    filenames.append(str(frame.get("filename", "")) or os.fspath(path))
            dtype = np.dtype(p_dtype)
        else:
            dtype = series.dtype
            metadata = _tiff_metadata(tif, page, dtype)
        pages = len(tif.pages)
        layout = _tiff_layout(tif, frames) if pages >= frames else None
        byteorder = tif.byteorder
    if layout is not None:
        offset, stride = layout
        file_dtype = dtype.newbyteorder(byteorder) if dtype.itemsize > 1 else dtype
        backend: _Backend = _RawBackend(
            path, offset, file_dtype, shape if len(shape) == 3 else (1, *shape), mode, stride=stride
        )
    else:
        if mode == "r+":
            raise ValueError(f"{path}: its pages are compressed (or scattered): it cannot be opened with mode='r+'")
        backend = _TiffPagesBackend(path, shape if len(shape) == 3 else (1, *shape), dtype)
    return _document(backend, len(shape), metadata, mask=mask, records=records, filenames=filenames)


def _hdf5_backend(path, dataset, mode: str, flip: bool = False) -> _Backend:
    """Map a contiguous uncompressed dataset; read others through h5py.

    A dataset reached through an external link lives in another file (one the
    ``external`` policy allowed): the backend reads that file.
    """
    path = dataset.file.filename
    offset = dataset.id.get_offset() if dataset.chunks is None and dataset.external is None else None
    shape = _image_shape(path, dataset.shape)
    if offset is not None and not dataset._filters:
        return _RawBackend(path, offset, dataset.dtype, shape if len(shape) == 3 else (1, *shape), mode, flip=flip)
    return _HDF5Backend(path, dataset.name, dataset.shape, dataset.dtype, mode, flip=flip)


def open_nexus(path, mode: str = "r", *, signal=None, **kwargs):
    """Open the image of a NeXus (or plain HDF5) file as a disk image, choosing it as ``stonerimg.load`` does."""
    import h5py

    from .formats import nexus
    from .formats._hdf5 import open_hdf5

    mode = _check_mode(mode)
    with open_hdf5(path) as root:
        dataset, group = nexus._find(h5py, root) if signal is None else nexus._explicit(h5py, root, signal)
        if len(dataset.shape) > 3:
            raise FormatMismatch(
                f"its signal {dataset.name} has shape {dataset.shape}: open() gives 2-D images and 3-D stacks; "
                "load() it instead"
            )
        metadata = nexus._file_metadata(h5py, root, nexus._entry_of(h5py, root, dataset))
        metadata["hdf5.signal"] = dataset.name
        if group is not None:
            nexus._calibrate(h5py, group, dataset, metadata)
        backend = _hdf5_backend(path, dataset, "r")
        ndim = 2 if len(dataset.shape) <= 2 else 3
    if mode == "r+":
        backend = _reopen_writable(path, backend)
    return _document(backend, ndim, metadata)


def _reopen_writable(path, backend: _Backend) -> _Backend:
    """Return the backend in mode r+ (its caller has just opened the file with open_hdf5, which checked its heaps)."""
    if isinstance(backend, _RawBackend):
        backend.mode = "r+"
        return backend
    shape = backend.shape[1:] if backend.two_d else backend.shape
    return _HDF5Backend(path, backend.name, shape, backend.dtype, "r+", flip=backend.flip)


def open_stxm(path, mode: str = "r", **kwargs):
    """Open a PolLux STXM file as a disk :class:`~stonerimg.formats.stxm.STXMImage` (row 0 = highest y, as loaded).

    The metadata is what :func:`stonerimg.load` gives; the pixels stay in the
    file, seen through a view with the rows reversed.
    """
    from .formats import stxm
    from .formats._hdf5 import open_hdf5

    mode = _check_mode(mode)
    if kwargs.get("regrid") or kwargs.get("bcn"):
        raise ValueError(f"{path}: regrid and bcn compute a new image; use stonerimg.load() for them")
    mask = None
    with open_hdf5(path) as root:
        saved = root.get("entry1")
        if saved is not None and stxm._PAYLOAD_ATTR in saved.attrs:  # saved by stonerimg: our metadata and mask
            dataset = saved["counter0/data"]
            try:
                dtype, shape, metadata, bits, _ = read_payload(str(saved.attrs[stxm._PAYLOAD_ATTR]))
            except (ValueError, KeyError, TypeError) as err:
                raise FormatMismatch(f"its stonerimg metadata is malformed: {err}") from err
            if dataset.ndim != 2 or dataset.shape != shape or dataset.dtype != dtype:
                raise FormatMismatch(
                    f"its counter0/data ({dataset.shape} {dataset.dtype}) is not the image it records "
                    f"({shape} {dtype}): load() it instead"
                )
            mask = unpack_mask(bits, shape)
        else:
            dataset, metadata = stxm._pollux_metadata(root)
        backend = _hdf5_backend(path, dataset, "r", flip=True)
    if mode == "r+":
        backend = _reopen_writable(path, backend)
    return _document(backend, 2, metadata, cls=stxm.STXMImage, mask=mask)


def open(
    path, mode: str = "r", *, fmt: str | None = None, cls: type | None = None, external: str | None = None, **kwargs
):  # noqa: A001
    """Open an image file with its pixels left in the file (a disk image).

    The format is chosen as :func:`stonerimg.load` chooses it; only formats
    that can open lazily are tried (``stonerimg.formats.available()`` lists
    them with ``lazy=True``).

    Parameters
    ----------
    path : str or os.PathLike
    mode : {"r", "r+"}, default "r"
        ``"r"`` never changes the file (writes raise :class:`ValueError`);
        ``"r+"`` lets :meth:`~DiskImage.write_pixel`, slice assignment and
        in-place image functions write into it.
    fmt : str, optional
        Use only the format of this name.
    cls : type, optional
        Try only formats giving this :class:`~stonerimg.ImageFile` subclass.
    external : {"below", "none", "any"}, optional
        Where an HDF5 file may keep data outside itself, as for
        :func:`stonerimg.load` (default :data:`stonerimg.config.external`).
    **kwargs
        Passed to the format's ``open`` (e.g. ``signal=`` for NeXus).

    Returns
    -------
    DiskImageFile (or a disk subclass such as the STXM one) or DiskImageStack
        A 2-D image or a 3-D ``(n, y, x)`` stack; a context manager.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    stonerimg.FormatError
        If no format can open the file lazily (naming the formats that can), or
        every one that tried failed (with each reason).
    """
    from .formats._hdf5 import using_external

    with using_external(external):
        return _open(path, mode, fmt, cls, kwargs)


def _open(path, mode, fmt, cls, kwargs):
    from .formats import _all_formats, _first_that_works, _head, _resolve, candidates, get

    mode = _check_mode(mode)
    path = Path(os.fspath(path))
    head = _head(path)
    tried = [get(fmt)] if fmt is not None else candidates(path, head, cls)
    lazy = [f for f in tried if f.open is not None]
    able = sorted(f.name for f in _all_formats().values() if f.open is not None)
    if not lazy:
        found = ", ".join(f.name for f in tried) or "no format"
        raise FormatError(
            path,
            reason=(
                f"it is read by {found}, which cannot open lazily (formats that can: {', '.join(able)}); "
                "use stonerimg.load() to read it into memory"
            ),
        )
    attempts: list[tuple[str, str]] = []
    document = _first_that_works(lazy, lambda f: _resolve(f.open)(path, mode=mode, **kwargs), attempts, path)
    if document is not None:
        if isinstance(document, DiskImage):
            document.filename = str(path)
        return document
    raise FormatError(path, attempts, reason="no format could open it lazily")


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
