"""How a disk image reaches its pixels: raw/memmap, HDF5 and TIFF-page backends, and scratch files."""

from __future__ import annotations

import logging
import mmap
import numbers
import os
import tempfile
import weakref

import numpy as np

from .. import config
from ..errors import FormatError

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
def _span(part) -> str:
    if isinstance(part, slice):
        start = "" if part.start is None else part.start
        stop = "" if part.stop is None else part.stop
        return f"{start}:{stop}" + ("" if part.step in (None, 1) else f":{part.step}")
    return repr(part)


def _reading(method, name: str):
    """Wrap a backend's reading method so that whatever the library under it raises is a FormatError.

    The error names the file and the region asked for: a damaged file that
    opened lazily fails at its first pixel access with the same kind of error
    ``stonerimg.load`` gives, never tifffile's or h5py's own.
    """

    def reading(self, *args):
        try:
            return method(self, *args)
        except FormatError:
            raise
        except Exception as err:
            if name == "read":
                z, rows, cols = args
                region = f"frame {z}, rows {_span(rows)}, columns {_span(cols)}"
            elif name == "frames":
                region = f"frames {args[0]}:{args[1]}"
            else:
                region = "all its pixels"
            raise FormatError(
                self.path, reason=f"reading {region} of the opened image failed: {type(err).__name__}: {err}"
            ) from err

    reading.__name__, reading.__doc__, reading.__wrapped__ = method.__name__, method.__doc__, method
    return reading


class _Backend:
    """Pixels of an ``(n, y, x)`` array kept in a file, presented in the orientation ``load`` gives.

    Every subclass's ``frames``, ``read`` and ``full`` are wrapped (:func:`_reading`)
    so that a failure to read is a :class:`~stonerimg.FormatError` naming the file
    and the region.
    """

    shape: tuple[int, int, int]
    dtype: np.dtype
    path: str
    mode: str = "r"
    kind: str = ""
    scratch: bool = False
    _finalizer = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name in ("frames", "read", "full"):
            if name in cls.__dict__:
                setattr(cls, name, _reading(cls.__dict__[name], name))

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


# ---------------------------------------------------------------- checked arguments
def _check_int(value, name: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)) or value < minimum:
        raise ValueError(f"{name}: must be an int >= {minimum}, not {value!r}")
    return int(value)


# ---------------------------------------------------------------- scratch files
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
