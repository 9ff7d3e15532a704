"""The disk-backed ImageFile: :class:`DiskImage` (plane access, writing, closing, saving)."""

from __future__ import annotations

import builtins
import errno
import numbers
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..array import ImageArray
from ..imagefile import ImageFile
from ..metadata import Metadata
from ..stack import ImageStack, _append_history, _frame_index, _history_entry
from .backends import _Backend, _check_int


# ---------------------------------------------------------------- plane access
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
            f"{type(self).__name__} is made by stonerimg.open(), stonerimg.disk.open_raw() or "
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


# ---------------------------------------------------------------- saving a scratch image: its file moves
_move = os.replace  # a rename; tests replace it to act as if the target were on another disk


def _persist(image, filename, fmt) -> bool:
    """Move a scratch image's ``.npy`` file to ``filename`` (and write its sidecar); False if not applicable."""
    from ..formats import atomic_path, file_mode
    from ..formats._payload import encode_payload
    from ..formats.npy import new_generation, sidecar

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
    generation = new_generation()
    _mark_generation(backend.path, generation)
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    try:
        linked = os.stat(target).st_nlink > 1
    except FileNotFoundError:
        linked = False
    # the pixels first, then the sidecar (the pair's commit), as every NPY save does
    with atomic_path(sidecar(path)) as temp_json:
        temp_json.write_text(encode_payload(document, generation=generation), encoding="ascii")
        if not linked:
            os.chmod(backend.path, file_mode(target))
            try:
                _move(backend.path, target)
            except OSError as err:
                if err.errno != errno.EXDEV:
                    raise
                linked = True
        if linked:  # another disk, or a file with hard links to keep: copy
            with atomic_path(path) as temp:
                shutil.copyfile(backend.path, temp)
    if linked:
        return True  # the image stays on its scratch file
    backend._finalizer.detach()
    backend.path = str(path)
    backend.scratch = False
    if isinstance(image, DiskImage):
        image.filename = str(path)
    return True


def _mark_generation(path, generation: str) -> None:
    """End a scratch ``.npy`` file with the generation trailer (after the array: its mapping does not see it)."""
    from numpy.lib import format as npy_format

    from ..formats.npy import trailer

    with builtins.open(path, "r+b") as handle:
        version = npy_format.read_magic(handle)
        read_header = npy_format.read_array_header_1_0 if version == (1, 0) else npy_format.read_array_header_2_0
        shape, _, dtype = read_header(handle)
        end = handle.tell() + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        handle.truncate(end)  # a trailer of an earlier save goes
        handle.seek(end)
        handle.write(trailer(generation))


class _Described:
    """The few attributes :func:`encode_payload` reads, for a stack too large to wrap."""

    def __init__(self, dtype, shape, metadata):
        self.dtype, self.shape, self.metadata = np.dtype(dtype), tuple(shape), metadata
