"""ImageFile: a document around one ImageArray, with in-place chainable methods."""

from __future__ import annotations

import copy as _copy
import operator
import os
from collections.abc import Mapping

import numpy as np

from .array import ImageArray
from .metadata import Metadata, _values_equal

__all__ = ["ImageFile"]


def _operand(other):
    return other.image if isinstance(other, ImageFile) else other


def _binary(op, reflected: bool = False):
    def method(self, other):
        other = _operand(other)
        result = op(other, self.image) if reflected else op(self.image, other)
        return self._new_like(result)

    method.__name__ = f"__{'r' if reflected else ''}{op.__name__.strip('_')}__"
    method.__doc__ = f"Return a new image: ``{op.__name__}`` applied to the pixels, metadata kept."
    return method


class ImageFile:
    """One image and its metadata, as loaded from (or saved to) a file.

    Image functions are methods that work **in place** and return the
    ImageFile, so they chain::

        ImageFile("scan.tif").crop(10).normalise().save("scan-norm.tif")

    A result of the image's shape and dtype is written into the existing pixel
    buffer (when it is writeable), so the array the document was made from, its
    other views and a memory-mapped file see it; any other result becomes the new
    :attr:`image` (see the user guide page ``memory.md``).  Functions whose result
    is not an image (:func:`~stonerimg.funcs.intensity.span`) return that result
    instead.

    Parameters
    ----------
    source : path, array_like, ImageArray or ImageFile, optional
        A path is loaded through the format registry (see :meth:`load`); anything
        else is passed to :class:`~stonerimg.ImageArray` with ``**kwargs``, so a
        NumPy array is wrapped without copying.
    **kwargs
        Options for the loader (with a path) or for :class:`~stonerimg.ImageArray`.
    """

    #: Name of the registered format the image was loaded with (``""`` if made in memory).
    format: str = ""

    def __init__(self, source=None, **kwargs):
        if isinstance(source, (str, os.PathLike)):
            loaded = type(self).load(source, **kwargs)
            self.__dict__.update(loaded.__dict__)
        else:
            self.image = ImageArray(source, **kwargs)

    @classmethod
    def load(cls, filename, *, fmt: str | None = None, **kwargs) -> ImageFile:
        """Load a file through the format registry.

        Parameters
        ----------
        filename : str or os.PathLike
            The file to read (opened read-only).
        fmt : str, optional
            Use only the registered format of this name.
        **kwargs
            Passed to the format's loader.

        Returns
        -------
        ImageFile
            An instance of the class the successful format returns; ``SomeSubclass.load``
            tries only formats that return ``SomeSubclass`` (or a subclass of it).

        Raises
        ------
        FileNotFoundError
            If the file does not exist.
        stonerimg.FormatError
            If no format could read it (the message lists every format tried and why).
        """
        from .formats import load

        return load(filename, fmt=fmt, cls=cls, **kwargs)

    def save(self, filename=None, *, fmt: str | None = None, **kwargs) -> ImageFile:
        """Save the image (atomically) and return the ImageFile.

        Parameters
        ----------
        filename : str or os.PathLike, optional
            Target file; defaults to :attr:`filename`.  The format is chosen from
            the extension unless ``fmt`` names one.
        fmt : str, optional
            Name of a registered format that can save.
        """
        if filename is None:
            filename = self.filename
            if not filename:
                raise ValueError("filename: this image has no file name; pass one to save()")
        self.image.save(filename, fmt=fmt, **kwargs)
        return self

    def save_tiff(self, filename=None, **kwargs) -> ImageFile:
        """Save as TIFF whatever the extension; return the ImageFile."""
        return self.save(filename, fmt="tiff", **kwargs)

    def save_png(self, filename=None, **kwargs) -> ImageFile:
        """Save as PNG whatever the extension; return the ImageFile."""
        return self.save(filename, fmt="png", **kwargs)

    def save_npy(self, filename=None, **kwargs) -> ImageFile:
        """Save as NumPy ``.npy`` with a metadata sidecar; return the ImageFile."""
        return self.save(filename, fmt="npy", **kwargs)

    # ------------------------------------------------------------------ the image
    @property
    def image(self) -> ImageArray:
        """The :class:`~stonerimg.ImageArray` this document holds."""
        return self._image

    @image.setter
    def image(self, value):
        self._image = value if isinstance(value, ImageArray) else ImageArray(value)

    def _take_result(self, result: ImageArray, inputs=()) -> None:
        """Hold the result of an image function, in the existing buffer when it fits.

        When ``result`` has the shape and dtype of :attr:`image` and the image's
        buffer is writeable, its pixels (and mask) are copied into that buffer, so
        every view of it, the array the image was made from and a memory-mapped
        file see the change; :attr:`image` becomes a new view of the buffer with
        the result's metadata (the previous ImageArray object is just another view
        now, with its old metadata).  Otherwise, and when one of the call's other
        arguments (``inputs``) shares that buffer (it must not change under the
        caller), :attr:`image` becomes ``result``.  Subclasses that keep pixels
        elsewhere (disk images) override this.
        """
        current = self._image
        if not _writes_in_place(current, result) or any(_overlaps(current, other) for other in inputs):
            self.image = result
            return
        target, source = current.data, result.data
        if not _same_memory(target, source):
            np.copyto(target, source)
        image = current.view(type(current))  # same pixels and mask buffer
        _copy_mask(image, np.ma.getmask(result))
        image._metadata = result._metadata
        image._filename = result._filename
        image.__dict__.update({k: v for k, v in result.__dict__.items() if not k.startswith("_")})
        self._image = image

    def _new_like(self, image) -> ImageFile:
        new = _copy.copy(self)
        new.image = image
        return new

    @property
    def metadata(self) -> Metadata:
        """The image's metadata."""
        return self._image.metadata

    @metadata.setter
    def metadata(self, value: Mapping):
        self._image.metadata = value

    @property
    def data(self) -> np.ndarray:
        """The pixel data as a plain NumPy array (a view, masked pixels included)."""
        return self._image.data

    @property
    def mask(self):
        """The image's mask."""
        return self._image.mask

    @mask.setter
    def mask(self, value):
        self._image.mask = value

    @property
    def draw(self):
        """Draw shapes into the pixels, in place; each call returns this ImageFile (see ``ImageArray.draw``)."""
        from .notebook.draw import image_draw

        return image_draw(self._image, self)

    def select(self, kind: str = "box", **kwargs):
        """Pick a region with the mouse: see :func:`stonerimg.notebook.select.select`."""
        return self._image.select(kind, **kwargs)

    def show(self, **kwargs):
        """Browse the image with widgets: see :func:`stonerimg.notebook.viewer.show`."""
        return self._image.show(**kwargs)

    @property
    def filename(self) -> str:
        """The file the image was loaded from, or ``""``."""
        return self._image.filename

    @filename.setter
    def filename(self, value):
        self._image.filename = value

    shape = property(lambda self: self._image.shape, doc="Shape of the pixel array, ``(rows, cols)``.")
    dtype = property(lambda self: self._image.dtype, doc="Data type of the pixels.")
    ndim = property(lambda self: self._image.ndim, doc="Number of array dimensions.")
    size = property(lambda self: self._image.size, doc="Number of pixels.")
    geometry = property(lambda self: self._image.geometry, doc=ImageArray.geometry.__doc__)
    aspect = property(lambda self: self._image.aspect, doc=ImageArray.aspect.__doc__)
    centre = property(lambda self: self._image.centre, doc=ImageArray.centre.__doc__)
    max_box = property(lambda self: self._image.max_box, doc=ImageArray.max_box.__doc__)
    calibration = property(lambda self: self._image.calibration, doc=ImageArray.calibration.__doc__)
    pixel_size = property(lambda self: self._image.pixel_size, doc=ImageArray.pixel_size.__doc__)
    extent = property(lambda self: self._image.extent, doc=ImageArray.extent.__doc__)

    @property
    def is_disk_image(self) -> bool:
        """True when the pixels live in a file (see :attr:`ImageArray.is_disk_image`)."""
        return self._image.is_disk_image

    def to_dask(self, chunks="auto"):
        """Wrap the pixels as a dask array without copying them; see :meth:`ImageArray.to_dask`."""
        return self._image.to_dask(chunks=chunks)

    to_xarray = ImageArray.to_xarray
    to_hyperspy = ImageArray.to_hyperspy
    from_xarray = classmethod(ImageArray.from_xarray.__func__)
    from_hyperspy = classmethod(ImageArray.from_hyperspy.__func__)

    @property
    def title(self) -> str:
        """``metadata["title"]`` if set, else the file's base name."""
        return self._image.title

    @title.setter
    def title(self, value):
        self._image.title = value

    def set_calibration(self, scale, units=None, offset=0.0, axis="xy") -> ImageFile:
        """Set the physical pixel size in place; see :meth:`ImageArray.set_calibration`."""
        self._image.set_calibration(scale, units=units, offset=offset, axis=axis)
        return self

    # Properties that give a new, transformed document
    clone = property(lambda self: self._new_like(self._image.clone), doc="A deep copy sharing no memory.")
    flip_h = property(lambda self: self._new_like(self._image.flip_h), doc="A copy mirrored left to right.")
    flip_v = property(lambda self: self._new_like(self._image.flip_v), doc="A copy mirrored top to bottom.")
    CW = property(lambda self: self._new_like(self._image.CW), doc="A copy rotated 90 degrees clockwise.")
    CCW = property(lambda self: self._new_like(self._image.CCW), doc="A copy rotated 90 degrees anticlockwise.")

    # --------------------------------------------------------- indexing & numpy
    def __getitem__(self, index):
        return self._image[index]

    def __setitem__(self, index, value):
        self._image[index] = value

    def __delitem__(self, index):
        del self._image[index]

    def __array__(self, dtype=None, copy=None):
        data = self._image.data
        if copy:
            return np.array(data, dtype=dtype, copy=True)
        return np.asarray(data, dtype=dtype, copy=copy)  # copy=False refuses a dtype conversion, as NumPy does

    # --------------------------------------------------------------- arithmetic
    __add__ = _binary(operator.add)
    __radd__ = _binary(operator.add, reflected=True)
    __sub__ = _binary(operator.sub)
    __rsub__ = _binary(operator.sub, reflected=True)
    __mul__ = _binary(operator.mul)
    __rmul__ = _binary(operator.mul, reflected=True)
    __truediv__ = _binary(operator.truediv)
    __rtruediv__ = _binary(operator.truediv, reflected=True)

    def __neg__(self):
        return self._new_like(-self._image)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        """Run NumPy ufuncs on the image, so ``np.sin(doc)`` and ``array + doc`` give ImageFiles.

        A reduction gives what it gives on the image: ``np.sum(doc)`` a number,
        ``np.add.reduce(doc, axis=0)`` a 1-D :class:`ImageArray`; only 2-D and
        larger results become ImageFiles.
        """
        inputs = tuple(_operand(i) for i in inputs)
        if "out" in kwargs:
            kwargs["out"] = tuple(_operand(o) for o in kwargs["out"])
        result = getattr(ufunc, method)(*inputs, **kwargs)
        if not isinstance(result, ImageArray):
            return result
        if result.ndim == 0:
            return result[()]
        return self._new_like(result) if result.ndim >= 2 else result

    def __invert__(self):
        """Invert the intensity as ``skimage.util.invert`` does.

        ``not`` for bool, ``max - x`` for unsigned, ``-1 - x`` for signed integers
        and ``1 - x`` for floats.
        """
        image = self._image
        data = np.asarray(image.data)
        kind = data.dtype.kind
        if kind in "bi":
            inverted = ~data
        elif kind == "u":
            inverted = np.iinfo(data.dtype).max - data
        else:
            inverted = 1 - data  # a Python int keeps float32 as float32
        return self._new_like(image._derive(inverted))

    def __eq__(self, other):
        if not isinstance(other, ImageFile):
            return NotImplemented
        a, b = self._image, other._image
        if a.shape != b.shape or not _values_equal(np.asarray(a.data), np.asarray(b.data)):
            return False
        if not np.array_equal(np.ma.getmaskarray(a), np.ma.getmaskarray(b)):
            return False
        return a.metadata == b.metadata

    __hash__ = None

    # ------------------------------------------------------------------- display
    def __repr__(self):
        name = f"{self.filename!r}, " if self.filename else ""
        return f"{type(self).__name__}({name}shape={self.shape}, dtype={self.dtype})"

    def _repr_png_(self) -> bytes | None:
        """Return a PNG thumbnail at the image's physical aspect ratio (see :mod:`stonerimg.notebook.repr`)."""
        from .notebook.repr import image_png

        return image_png(self)

    def _repr_html_(self) -> str:
        """Return the notebook view: thumbnail, key facts, calibration, metadata tree, history."""
        from .notebook.repr import image_html

        return image_html(self)


def _writes_in_place(current: ImageArray, result: ImageArray) -> bool:
    """Whether ``result`` can be copied into ``current``'s buffer: same shape and dtype, writeable, no aliasing."""
    if result is current or result.shape != current.shape or result.dtype != current.dtype:
        return False
    data = current.data
    if not data.flags.writeable:
        return False
    # a stride of 0 (np.broadcast_to, stride tricks) makes several pixels one byte range
    return all(stride != 0 for stride, n in zip(data.strides, data.shape, strict=True) if n > 1)


def _overlaps(image: ImageArray, other) -> bool:
    """Whether ``other`` (any argument of an image function) may share pixels with ``image``."""
    if isinstance(other, ImageFile):
        other = other.image
    return isinstance(other, np.ndarray) and np.may_share_memory(image.data, other)


def _same_memory(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two arrays of one shape and dtype are exactly the same pixels (copying one to the other is a no-op)."""
    return a.__array_interface__["data"][0] == b.__array_interface__["data"][0] and a.strides == b.strides


def _copy_mask(current: ImageArray, mask) -> None:
    """Give ``current`` the mask ``mask`` (``nomask`` or a bool array of its shape), in its own mask buffer if any."""
    own = current._mask
    if own is np.ma.nomask:
        if mask is not np.ma.nomask and mask.any():
            current._set_mask_fast(np.array(mask, dtype=bool, copy=True))
        return
    if not own.flags.writeable or own.shape != current.shape:
        current._set_mask_fast(np.zeros(current.shape, bool) if mask is np.ma.nomask else np.array(mask, bool))
    elif mask is np.ma.nomask:
        own.fill(False)
    elif not _same_memory(own, mask):
        np.copyto(own, mask)
