"""ImageArray: a masked NumPy array that carries its own metadata."""

from __future__ import annotations

import copy as _copy
import mmap
import numbers
import os
import sys
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np

from .metadata import Metadata

__all__ = ["AxisCalibration", "Calibration", "ImageArray"]


class AxisCalibration(NamedTuple):
    """Physical calibration of one image axis: ``physical = offset + scale * pixel``."""

    scale: float = 1.0
    offset: float = 0.0
    units: str = "px"

    def to_physical(self, pixel):
        """Convert pixel coordinates (scalar or array) to physical coordinates."""
        return self.offset + self.scale * np.asarray(pixel, dtype=float)


class Calibration(NamedTuple):
    """The calibration of both axes of an image, ``(x, y)``."""

    x: AxisCalibration
    y: AxisCalibration


def _private(name: str) -> bool:
    return name.startswith("_")


class ImageArray(np.ma.MaskedArray):
    """A 2-D (or N-D) masked array with metadata.

    Parameters
    ----------
    source : array_like, ImageArray, ImageFile, str or os.PathLike, optional
        The pixel data.  A NumPy array (or another :class:`ImageArray`, or an
        :class:`~stonerimg.ImageFile`) is wrapped **without copying** unless ``copy``
        is true or ``dtype`` asks for a conversion; a list is converted; a path is
        loaded through the format registry.  Nothing gives an empty ``(0, 0)``
        image, and 1-D data becomes a single row.
    mask : array_like of bool, optional
        Pixels to ignore in statistics.  Combined with the mask of a masked source
        only when no mask is given here.
    metadata : mapping, optional
        Metadata items; they update (a copy of) the source's metadata.
    dtype : dtype, optional
        Data type of the pixels (a conversion copies).
    copy : bool, default False
        Copy the data instead of sharing it.
    asfloat : bool, default False
        Convert to floating point with :func:`~stonerimg.funcs.intensity.asfloat`.

    Notes
    -----
    Arrays are in NumPy order ``(row, col) = (y, x)``; every user-facing
    coordinate is ``(x, y)``.  Views and slices share memory with their parent
    but each image has its own metadata dictionary (a shallow copy is made when
    a view or a result is created; :attr:`clone` copies everything deeply).

    Examples
    --------
    >>> import numpy as np
    >>> data = np.zeros((20, 100))
    >>> im = ImageArray(data, metadata={"sample": "Py"})
    >>> np.shares_memory(im, data), im.geometry, im["sample"]
    (True, (100, 20), 'Py')
    """

    def __new__(  # noqa: D102 - documented in the class docstring
        cls,
        source=None,
        *,
        mask=np.ma.nomask,
        metadata: Mapping | None = None,
        dtype=None,
        copy: bool = False,
        asfloat: bool = False,
        **kwargs,
    ):
        base_metadata: Mapping = {}
        filename = ""
        attrs: dict = {}
        if source is None:
            source = np.zeros((0, 0), dtype=dtype or np.float64)
        elif isinstance(source, (str, os.PathLike)):
            from .imagefile import ImageFile

            source = ImageFile.load(source).image
        elif _is_imagefile(source):
            source = source.image
        if isinstance(source, ImageArray):
            base_metadata = source._metadata
            filename = source._filename
            attrs = {k: v for k, v in source.__dict__.items() if not _private(k)}
        elif isinstance(source, (Mapping, set, frozenset)) or isinstance(source, (bytes, bytearray)):
            raise ValueError(f"cannot make an image from a {type(source).__name__}")
        elif not isinstance(source, np.ndarray):
            try:
                source = np.asarray(source)
            except (TypeError, ValueError) as err:
                raise ValueError(f"cannot make an image from {type(source).__name__}: {err}") from err
            if source.dtype.hasobject:
                raise ValueError(f"cannot make an image from a {type(source).__name__}: its values are not numbers")
        keep_mask = mask is np.ma.nomask
        obj = super().__new__(cls, source, mask=mask, dtype=dtype, copy=copy, keep_mask=keep_mask, **kwargs)
        obj._forget_memmap()
        if obj.ndim < 2:
            obj = obj.reshape((1, -1))
        obj._metadata = Metadata(base_metadata)
        if metadata is not None:
            if not isinstance(metadata, Mapping):
                raise TypeError(f"metadata must be a mapping, not {type(metadata).__name__}")
            obj._metadata.update(metadata)
        obj._filename = filename
        obj.__dict__.update(attrs)
        if asfloat:
            obj = obj.asfloat()
        return obj

    # ---------------------------------------------------------------- numpy hooks
    def _update_from(self, obj):  # noqa: D102 - numpy's hook
        """Carry metadata, file name and user attributes to views and results."""
        super()._update_from(obj)
        if self._baseclass is not np.ndarray:
            self._forget_memmap()
        if isinstance(obj, ImageArray):
            self._borrow(obj)
            d = self.__dict__
            d["_filename"] = obj.__dict__.get("_filename", "")
            for key, value in obj.__dict__.items():
                if key[0] != "_":
                    d[key] = value
        else:
            source_md = None if type(obj) is np.ndarray else getattr(obj, "_metadata", None)
            d = self.__dict__
            if source_md is None:
                d.pop("_meta_own", None)  # an empty one when first read
            else:
                d["_meta_own"] = source_md.copy()
            d["_meta_src"] = None
            d["_meta_todo"] = ()
            d["_filename"] = "" if source_md is None else getattr(obj, "_filename", "")

    # ------------------------------------------------------- copy-on-write metadata
    # An image made from another (a view, a slice, a result) reads the other's metadata
    # dictionary until either changes: ``_meta_own`` is its own dictionary (absent while
    # borrowing), ``_meta_src`` the dictionary it reads, ``_meta_todo`` the history
    # entries not yet formatted.  Any access through ``_metadata`` makes the image's own
    # copy first, and the lender copies into every borrower before it changes (see
    # Metadata._release), so no two images ever share a dictionary observably.
    def _borrow(self, other: ImageArray) -> None:
        """Read ``other``'s metadata (and its pending history) until one of them changes."""
        d, od = self.__dict__, other.__dict__
        source = od.get("_meta_own")
        todo = od.get("_meta_todo", ())
        if source is None:
            source = od.get("_meta_src")
        if source is None:
            source = other._metadata
            todo = ()
        if d.get("_meta_own") is None and d.get("_meta_src") is source:
            d["_meta_todo"] = todo
            return
        d.pop("_meta_own", None)
        d["_meta_src"] = source
        d["_meta_todo"] = todo
        source._lend(self)

    def _own_metadata(self, source=None) -> Metadata:
        """Make this image's own copy of the metadata it borrows (``source``: only if borrowed from it)."""
        d = self.__dict__
        md = d.get("_meta_own")
        if md is not None:
            return md
        borrowed = d.get("_meta_src")
        if source is not None and borrowed is not source:
            return md
        md = d.setdefault("_meta_own", Metadata() if borrowed is None else borrowed.copy())
        d["_meta_src"] = None  # (setdefault: of two threads copying at once, one copy wins for both)
        return md

    @property
    def _metadata(self) -> Metadata:
        d = self.__dict__
        md = d.get("_meta_own")
        if md is None:
            md = self._own_metadata()
        if d.get("_meta_todo"):
            self._format_history(md)
        return md

    @_metadata.setter
    def _metadata(self, value: Metadata) -> None:
        d = self.__dict__
        d["_meta_own"] = value
        d["_meta_src"] = None
        d["_meta_todo"] = ()

    def _peek_metadata(self) -> Mapping:
        """Return the metadata as it reads now, without copying it: never change what this returns."""
        d = self.__dict__
        md = d.get("_meta_own")
        if md is None:
            md = d.get("_meta_src")
        if md is None or d.get("_meta_todo"):
            return self._metadata
        return md

    def _add_history(self, entry) -> None:
        """Append a history entry: a string, or ``(name, args, kwargs)`` formatted when the metadata is read."""
        d = self.__dict__
        d["_meta_todo"] = (*d.get("_meta_todo", ()), entry)

    def _format_history(self, md: Metadata) -> None:
        from .funcs._binding import _history_entry

        d = self.__dict__
        todo = d.pop("_meta_todo", ())  # taken once, also by two threads at once
        if not todo:
            return
        history = list(md.get("history", []))
        history.extend(e if isinstance(e, str) else _history_entry(*e) for e in todo)
        md["history"] = history

    def _forget_memmap(self) -> None:
        """Keep a mapped file's ``numpy.memmap`` out of this image's attributes.

        MaskedArray copies the attributes of the array it wraps (for a memmap: the
        open ``mmap``, ``filename``, ``offset``, ``mode``) into every view, and makes
        ``.data`` a memmap again; the map would then travel into copies and pickles
        (which fail on it).  The pixels stay mapped: the memmap remains the base of
        the buffer (see :attr:`is_disk_image`), and ``.data`` is a plain ``ndarray``.
        """
        if isinstance(self._baseclass, type) and issubclass(self._baseclass, np.memmap):
            self._baseclass = np.ndarray
            for store in (self.__dict__, self.__dict__.get("_optinfo", {}), self.__dict__.get("_basedict", {})):
                for key in ("_mmap", "filename", "offset", "mode"):
                    store.pop(key, None)

    def __reduce__(self):
        func, args, state = super().__reduce__()
        attrs = {k: v for k, v in self.__dict__.items() if not _private(k)}
        return func, args, (state, dict(self._metadata), attrs, self._filename)

    def __setstate__(self, state):
        base, metadata, attrs, filename = state
        super().__setstate__(base)
        self._metadata = Metadata(metadata)
        self.__dict__.update(attrs)
        self._filename = filename

    def _derive(self, data, *, keep_mask: bool = True) -> ImageArray:
        """Wrap a computed array as a new image like this one.

        The new image gets a copy of this image's metadata, its attributes and,
        when the shape is unchanged, a copy of its mask.
        """
        result = np.asarray(data).view(type(self))
        result._borrow(self)
        result._filename = self._filename
        result.__dict__.update({k: v for k, v in self.__dict__.items() if not _private(k)})
        if keep_mask and self._mask is not np.ma.nomask and result.shape == self.shape:
            result._set_mask_fast(np.array(self._mask, dtype=bool, copy=True))
        return result

    def _set_mask_fast(self, mask: np.ndarray) -> None:
        """Install a boolean mask of this image's shape without the copy the ``mask`` setter makes."""
        # MaskedArray's setter copies through ``.flat`` (about 12 ms for 2048 x 2048)
        self._mask = mask
        self._sharedmask = False

    def save(self, filename=None, *, fmt: str | None = None, **kwargs) -> ImageArray:
        """Save the image atomically through the format registry and return it unchanged.

        ``filename`` defaults to :attr:`filename` (the file the image came from),
        as :meth:`ImageFile.save` does.  The format is chosen from the extension
        unless ``fmt`` names one; see :func:`stonerimg.save`.
        """
        from .formats import save

        if filename is None:
            filename = self.filename
            if not filename:
                raise ValueError("filename: this image has no file name; pass one to save()")
        save(self, filename, fmt=fmt, **kwargs)
        return self

    def save_tiff(self, filename, **kwargs) -> ImageArray:
        """Save as TIFF whatever the extension (see :func:`stonerimg.save`); return the image."""
        return self.save(filename, fmt="tiff", **kwargs)

    def save_png(self, filename, **kwargs) -> ImageArray:
        """Save as PNG whatever the extension (see :func:`stonerimg.save`); return the image."""
        return self.save(filename, fmt="png", **kwargs)

    def save_npy(self, filename, **kwargs) -> ImageArray:
        """Save as NumPy ``.npy`` with a metadata sidecar (see :func:`stonerimg.save`); return the image."""
        return self.save(filename, fmt="npy", **kwargs)

    # ------------------------------------------------------------ metadata access
    def __getitem__(self, index):
        if isinstance(index, str):
            return self._metadata[index]
        return super().__getitem__(index)

    def __setitem__(self, index, value):
        if isinstance(index, str):
            self._metadata[index] = value
        else:
            super().__setitem__(index, value)

    def __delitem__(self, index):
        if isinstance(index, str):
            del self._metadata[index]
        else:
            super().__delitem__(index)

    # ------------------------------------------------- mask, drawing, selecting
    @property
    def mask(self):
        """The mask (True = ignored), with Stoner's helpers: see :class:`~stonerimg.notebook.mask.ImageMask`.

        Assign a bool array, an image (its non-zero pixels) or a
        :class:`~stonerimg.notebook.selection.Selection` (its inside).
        """
        if sys._getframe(1).f_globals.get("__name__", "").startswith("numpy."):
            # NumPy's own code (comparisons, cumsum, putmask) gets NumPy's mask, ``nomask`` included:
            # an ImageMask of an unmasked image would make it build and combine a mask of False values
            return self._mask.view()
        from .notebook.mask import ImageMask

        return ImageMask.of(self)

    @mask.setter
    def mask(self, value):
        from .notebook.selection import as_mask

        np.ma.MaskedArray.mask.fset(self, as_mask(value, self.shape))

    @property
    def draw(self):
        """Draw shapes into the pixels, in place: see :class:`~stonerimg.notebook.draw.DrawProxy`."""
        from .notebook.draw import image_draw

        return image_draw(self, self)

    def select(self, kind: str = "box", **kwargs):
        """Pick a region with the mouse: see :func:`stonerimg.notebook.select.select`."""
        from .notebook.select import select

        return select(self, kind, **kwargs)

    def show(self, **kwargs):
        """Browse the image (frames of a stack) with widgets: see :func:`stonerimg.notebook.viewer.show`."""
        from .notebook.viewer import show

        return show(self, **kwargs)

    @property
    def metadata(self) -> Metadata:
        """The image's metadata (a :class:`~stonerimg.Metadata` of dotted keys)."""
        return self._metadata

    @metadata.setter
    def metadata(self, value: Mapping):
        if not isinstance(value, Mapping):
            raise TypeError(f"metadata must be a mapping, not {type(value).__name__}")
        self._metadata = Metadata(value)

    @property
    def filename(self) -> str:
        """The file the image was loaded from, or ``""``."""
        return self._filename

    @filename.setter
    def filename(self, value):
        self._filename = "" if value is None else os.fspath(value)

    @property
    def title(self) -> str:
        """``metadata["title"]`` if set, else the file's base name, else ``""``."""
        title = self._metadata.get("title")
        if title:
            return str(title)
        return os.path.basename(self._filename)

    @title.setter
    def title(self, value: str):
        self._metadata["title"] = str(value)

    # ------------------------------------------------------------------ geometry
    @property
    def geometry(self) -> tuple[int, ...]:
        """Size in instrument order: ``(size_x, size_y)`` or ``(size_x, size_y, size_z)``.

        This is :attr:`shape` reversed: instrument software (DigitalMicrograph,
        IPSDK) names the fastest-varying axis first, NumPy names it last, so a
        100 x 20 image is a ``(20, 100)`` array.  :meth:`from_geometry` goes the
        other way.
        """
        return tuple(reversed(self.shape))

    @classmethod
    def from_geometry(
        cls,
        size_x: int,
        size_y: int,
        size_z: int | None = None,
        *,
        dtype=float,
        fill=0,
        metadata: Mapping | None = None,
    ) -> ImageArray:
        """Make a new image from sizes given x first, as instrument software gives them.

        Parameters
        ----------
        size_x, size_y : int
            Width (pixels per row) and height (rows) of the image.
        size_z : int, optional
            Number of planes; the array is then ``(size_z, size_y, size_x)``.
        dtype : dtype, default float
            Data type of the pixels.
        fill : number, default 0
            Value of every pixel (zeros are allocated lazily by the operating system).
        metadata : mapping, optional
            Metadata of the new image.

        Returns
        -------
        ImageArray
            A C-contiguous image of shape ``(size_y, size_x)`` or
            ``(size_z, size_y, size_x)``: its :attr:`geometry` is the sizes given.

        Raises
        ------
        TypeError
            If a size is not an integer.
        ValueError
            If a size is negative.

        Examples
        --------
        >>> im = ImageArray.from_geometry(100, 20)  # a 100 x 20 DigitalMicrograph image
        >>> im.shape, im.geometry
        ((20, 100), (100, 20))
        >>> ImageArray.from_geometry(100, 20, 10, dtype="uint16", fill=7).shape
        (10, 20, 100)
        """
        sizes = {"size_x": size_x, "size_y": size_y}
        if size_z is not None:
            sizes["size_z"] = size_z
        for name, value in sizes.items():
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise TypeError(f"{name}: must be an int, not {type(value).__name__}")
            if value < 0:
                raise ValueError(f"{name}: must be >= 0, not {value}")
        shape = tuple(int(v) for v in reversed(sizes.values()))
        dtype = np.dtype(dtype)
        data = np.zeros(shape, dtype=dtype) if np.all(np.asarray(fill) == 0) else np.full(shape, fill, dtype=dtype)
        return cls(data, metadata=metadata)

    @property
    def aspect(self) -> float:
        """Width over height."""
        return self.shape[-1] / self.shape[-2]

    @property
    def centre(self) -> tuple[float, float]:
        """``(x, y)`` of the centre of the image in pixel coordinates (pixel centres at integers)."""
        return ((self.shape[-1] - 1) / 2, (self.shape[-2] - 1) / 2)

    @property
    def max_box(self) -> tuple[int, int, int, int]:
        """The whole image as a box ``(xmin, xmax, ymin, ymax)``."""
        return (0, self.shape[-1], 0, self.shape[-2])

    @property
    def clone(self) -> ImageArray:
        """A deep copy: data, mask, metadata and attributes, sharing no memory."""
        return _copy.deepcopy(self)

    @property
    def flip_h(self) -> ImageArray:
        """A copy mirrored left to right."""
        return self[..., ::-1].copy()

    @property
    def flip_v(self) -> ImageArray:
        """A copy mirrored top to bottom."""
        return self[..., ::-1, :].copy()

    @property
    def CW(self) -> ImageArray:  # noqa: N802 - the name Stoner users know
        """A copy rotated 90 degrees clockwise (x and y calibrations swap)."""
        return self._rot90(-1)

    @property
    def CCW(self) -> ImageArray:  # noqa: N802
        """A copy rotated 90 degrees counter-clockwise (x and y calibrations swap)."""
        return self._rot90(1)

    def _rot90(self, k: int) -> ImageArray:
        result = np.rot90(self, k=k, axes=(-2, -1)).copy()
        md = result._metadata
        x_items = {k[len("calibration.x.") :]: md.pop(k) for k in list(md) if k.startswith("calibration.x.")}
        y_items = {k[len("calibration.y.") :]: md.pop(k) for k in list(md) if k.startswith("calibration.y.")}
        md.update({f"calibration.y.{k}": v for k, v in x_items.items()})
        md.update({f"calibration.x.{k}": v for k, v in y_items.items()})
        return result

    # ----------------------------------------------------------- interpretations
    def as_rgb(self, channel_axis: int | None = None) -> ImageArray:
        """Interpret the array as a colour image: a view with the 3 or 4 channels last.

        Parameters
        ----------
        channel_axis : {None, 0, -1}
            Where the colour channels are.  ``None`` looks at the last axis first
            (NumPy, scikit-image and matplotlib keep channels last), then at the
            first (as IPSDK and many microscopes do); pass ``0`` for a stack of 3 or
            4 frames ``(3, y, x)`` whose width happens to be 3 or 4.

        Returns
        -------
        ImageArray
            A view sharing memory with this image (no copy), of shape
            ``(..., y, x, channels)``, with a copy of the metadata.  Channels moved
            from the first axis give a non-contiguous view.

        Raises
        ------
        ValueError
            If the array is not at least 3-D, or the channel axis does not have 3
            or 4 entries (the message names the shape).
        TypeError
            If the pixels are not real numbers (bool, complex).

        Examples
        --------
        >>> import numpy as np
        >>> planes = np.zeros((3, 4, 5), np.uint8)  # channels first
        >>> rgb = ImageArray(planes).as_rgb()
        >>> rgb.shape, np.shares_memory(rgb, planes)
        ((4, 5, 3), True)
        """
        shape = self.shape
        if self.ndim < 3:
            raise ValueError(
                f"a {self.ndim}-D array of shape {shape} is not a colour image: "
                "as_rgb needs 3 or 4 channels on the first or last axis"
            )
        if self.dtype.kind not in "uif":
            raise TypeError(f"as_rgb needs real pixel values, not dtype {self.dtype} (shape {shape})")
        if channel_axis is None:
            candidates = [a for a in (self.ndim - 1, 0) if shape[a] in (3, 4)]
            if not candidates:
                raise ValueError(
                    f"an array of shape {shape} is not a colour image: neither its first nor its last axis "
                    "has 3 or 4 channels"
                )
            axis = candidates[0]
        else:
            if isinstance(channel_axis, bool) or channel_axis not in (0, -1, self.ndim - 1):
                raise ValueError(f"channel_axis: must be None, 0 or -1, not {channel_axis!r}")
            axis = channel_axis % self.ndim
            if shape[axis] not in (3, 4):
                raise ValueError(
                    f"an array of shape {shape} has {shape[axis]} entries on axis {channel_axis}, "
                    "not 3 or 4 colour channels"
                )
        return self.view(type(self)) if axis == self.ndim - 1 else np.moveaxis(self, axis, -1)

    def as_binary(self) -> ImageArray:
        """Interpret the array as a binary (bool) image without copying it.

        A bool image qualifies, and so does an 8-bit integer image (``uint8`` or
        ``int8``) holding only 0 and 1: its bytes are already NumPy bools, so the
        result is a bool *view* of the same memory.  An 8-bit image of 0 and 255
        (a typical PNG mask) does not qualify, because its bytes are not bools:
        make a bool copy with ``image != 0``.

        Returns
        -------
        ImageArray
            A bool view sharing memory with this image, with a copy of the metadata
            and the mask.

        Raises
        ------
        TypeError
            If the dtype is neither bool nor an 8-bit integer.
        ValueError
            If an 8-bit image holds values other than 0 and 1.

        Examples
        --------
        >>> import numpy as np
        >>> data = np.array([[0, 1], [1, 0]], np.uint8)
        >>> binary = ImageArray(data).as_binary()
        >>> binary.dtype, np.shares_memory(binary, data)
        (dtype('bool'), True)
        """
        if self.dtype.kind == "b":
            return self.view(type(self))
        if self.dtype.kind not in "iu" or self.dtype.itemsize != 1:
            raise TypeError(
                f"as_binary needs a bool or 8-bit integer image, not dtype {self.dtype} (shape {self.shape}); "
                "make a bool copy with a comparison, e.g. image > threshold"
            )
        data = np.asarray(self.data)
        if data.size and int(data.view(np.uint8).max()) > 1:  # negative int8 values become >= 128
            raise ValueError(
                f"an 8-bit image of shape {self.shape} is binary only when it holds 0 and 1; this one "
                f"holds values from {int(data.min())} to {int(data.max())}: make a bool copy with image != 0"
            )
        return self.view(np.bool_)

    def as_label(self) -> ImageArray:
        """Interpret the array as a label image (unsigned 16- or 32-bit integers), without copying.

        Returns
        -------
        ImageArray
            A view sharing memory with this image, with a copy of the metadata.

        Raises
        ------
        TypeError
            If the dtype is not ``uint16`` or ``uint32`` (signed integers, such as
            the ``int64`` labels of :func:`skimage.measure.label`, need
            ``image.astype(np.uint32)``, a copy).

        Examples
        --------
        >>> import numpy as np
        >>> labels = np.array([[0, 1], [2, 2]], np.uint16)
        >>> np.shares_memory(ImageArray(labels).as_label(), labels)
        True
        """
        if self.dtype.kind != "u" or self.dtype.itemsize not in (2, 4):
            raise TypeError(
                f"as_label needs unsigned 16- or 32-bit integers, not dtype {self.dtype} (shape {self.shape}); "
                "convert with image.astype(np.uint32) (a copy)"
            )
        return self.view(type(self))

    # ------------------------------------------------------------------- storage
    @property
    def is_disk_image(self) -> bool:
        """True when the pixels live in a memory-mapped file (a :class:`numpy.memmap` or an ``mmap``).

        Found by following the chain of ``.base`` arrays (and buffers) from the
        pixel data, so views and slices of a mapped file count too; a copy of a
        memmap (which NumPy still types ``memmap``) does not.
        """
        obj = self.data
        while obj is not None:
            if isinstance(obj, mmap.mmap) or (isinstance(obj, np.memmap) and obj._mmap is not None):
                return True
            obj = obj.obj if isinstance(obj, memoryview) else getattr(obj, "base", None)
        return False

    def to_dask(self, chunks="auto"):
        """Wrap the pixels as a :class:`dask.array.Array`, without copying them.

        Parameters
        ----------
        chunks : int, tuple, str or dict, default "auto"
            Chunk sizes, as :func:`dask.array.from_array` takes them
            (``(1, -1, -1)`` gives one chunk per plane of a stack).

        Returns
        -------
        dask.array.Array
            Its chunks are slices of this image's buffer, read when computed: a
            memory-mapped image is read from the file chunk by chunk, and later
            changes to the image show in later computations.  When the image has
            a mask, a masked dask array (:mod:`dask.array.ma`) whose chunks are
            :class:`numpy.ma.MaskedArray`.  Metadata is not carried (use
            :meth:`from_dask` with ``metadata=`` to come back).

        Notes
        -----
        :func:`dask.array.from_array` copies any array it is given (since dask
        2024.12, dask issue #11850), which would read a whole memory-mapped file
        into memory; the buffer is therefore handed to dask through a small
        slicing adapter.  Graph names are random, so the data is never hashed.

        Examples
        --------
        >>> import numpy as np
        >>> im = ImageArray(np.arange(12.0).reshape(3, 4))
        >>> lazy = im.to_dask(chunks=(1, 4))
        >>> lazy.chunks, float(lazy.sum().compute())
        (((1, 1, 1), (4,)), 66.0)
        """
        import dask.array as da

        def wrap(array, chunks):
            empty = np.empty((0,) * array.ndim, dtype=array.dtype)
            return da.from_array(_DaskSource(array), chunks=chunks, name=False, meta=empty)

        data = wrap(self.data, chunks)
        if self._mask is np.ma.nomask:
            return data
        mask = wrap(self._mask, data.chunks)
        return da.ma.masked_array(data, mask=mask)

    def to_xarray(self, *, serialisable: bool = False):
        """Make an :class:`xarray.DataArray` sharing the pixels; see :func:`stonerimg.interop.to_xarray`."""
        from .interop import to_xarray

        return to_xarray(self, serialisable=serialisable)

    @classmethod
    def from_xarray(cls, data_array):
        """Make an image from an :class:`xarray.DataArray`; see :func:`stonerimg.interop.from_xarray`."""
        from .interop import from_xarray

        return from_xarray(data_array, cls=cls)

    def to_hyperspy(self):
        """Make a HyperSpy ``Signal2D`` sharing the pixels; see :func:`stonerimg.interop.to_hyperspy`."""
        from .interop import to_hyperspy

        return to_hyperspy(self)

    @classmethod
    def from_hyperspy(cls, signal):
        """Make an image from a HyperSpy signal; see :func:`stonerimg.interop.from_hyperspy`."""
        from .interop import from_hyperspy

        return from_hyperspy(signal, cls=cls)

    @classmethod
    def from_dask(cls, darr, metadata: Mapping | None = None) -> ImageArray:
        """Compute a dask array and wrap the result as an image.

        Parameters
        ----------
        darr : dask.array.Array
            The array to compute (a masked dask array keeps its mask).
        metadata : mapping, optional
            Metadata of the new image.

        Returns
        -------
        ImageArray
            A new in-memory image holding the computed values.

        Raises
        ------
        TypeError
            If ``darr`` is not a dask array.

        Examples
        --------
        >>> import dask.array as da
        >>> im = ImageArray.from_dask(da.ones((2, 3), chunks=1) * 2, metadata={"sample": "Py"})
        >>> im.tolist(), im["sample"]
        ([[2.0, 2.0, 2.0], [2.0, 2.0, 2.0]], 'Py')
        """
        import dask.array as da

        if not isinstance(darr, da.Array):
            raise TypeError(f"darr: from_dask needs a dask.array.Array, not a {type(darr).__name__}")
        return cls(darr.compute(), metadata=metadata)

    # --------------------------------------------------------------- calibration
    def _axis_calibration(self, axis: str) -> AxisCalibration:
        md = self._metadata
        return AxisCalibration(
            float(md.get(f"calibration.{axis}.scale", 1.0)),
            float(md.get(f"calibration.{axis}.offset", 0.0)),
            str(md.get(f"calibration.{axis}.units", "px")),
        )

    @property
    def calibration(self) -> Calibration:
        """Physical scale of each axis read from ``calibration.{x,y}.{scale,offset,units}``.

        Missing items default to a scale of 1, an offset of 0 and units of ``"px"``.
        """
        return Calibration(self._axis_calibration("x"), self._axis_calibration("y"))

    def set_calibration(self, scale, units: str | None = None, offset=0.0, axis: str = "xy") -> ImageArray:
        """Set the physical pixel size (in place) and return the image.

        Parameters
        ----------
        scale : float or (float, float)
            Physical size of one pixel; a pair gives ``(x, y)``.
        units : str, optional
            Physical units, e.g. ``"nm"``.
        offset : float or (float, float), default 0
            Physical coordinate of the centre of pixel 0.
        axis : {"xy", "x", "y"}
            Which axes to set.
        """
        if axis not in ("xy", "x", "y"):
            raise ValueError(f"axis must be 'xy', 'x' or 'y', not {axis!r}")
        scales = np.broadcast_to(np.asarray(scale, dtype=float), (2,))
        offsets = np.broadcast_to(np.asarray(offset, dtype=float), (2,))
        for i, name in enumerate("xy"):
            if name in axis:
                self._metadata[f"calibration.{name}.scale"] = float(scales[i])
                self._metadata[f"calibration.{name}.offset"] = float(offsets[i])
                if units is not None:
                    self._metadata[f"calibration.{name}.units"] = str(units)
        return self

    @property
    def pixel_size(self) -> tuple[float, float]:
        """``(x, y)`` physical size of a pixel (1 when uncalibrated)."""
        cal = self.calibration
        return (cal.x.scale, cal.y.scale)

    @property
    def extent(self) -> tuple[float, float, float, float]:
        """``(left, right, bottom, top)`` in physical units, as ``matplotlib.imshow`` wants it."""
        cal = self.calibration
        rows, cols = self.shape[-2:]
        return (
            float(cal.x.to_physical(-0.5)),
            float(cal.x.to_physical(cols - 0.5)),
            float(cal.y.to_physical(rows - 0.5)),
            float(cal.y.to_physical(-0.5)),
        )

    # ------------------------------------------------------------------- display
    def _repr_html_(self) -> str | None:
        """Return the notebook view: thumbnail, key facts, calibration, metadata tree, history (None below 2-D)."""
        from .notebook.repr import image_html

        return image_html(self)

    def _repr_png_(self) -> bytes | None:
        """Return a PNG thumbnail at the image's physical aspect ratio."""
        from .notebook.repr import image_png

        return image_png(self)


class _DaskSource:
    """Hand an array to :func:`dask.array.from_array` as something it slices but does not copy."""

    __slots__ = ("array", "dtype", "ndim", "shape")

    def __init__(self, array: np.ndarray):
        self.array = array
        self.shape, self.dtype, self.ndim = array.shape, array.dtype, array.ndim

    def __getitem__(self, index):
        return np.asarray(self.array[index])


def _is_imagefile(obj) -> bool:
    from .imagefile import ImageFile

    return isinstance(obj, ImageFile)
