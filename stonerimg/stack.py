"""ImageStack: many frames of one shape in one ``(n, y, x)`` array, with per-frame metadata.

An :class:`ImageStack` holds a single masked buffer (a 3-D
:class:`~stonerimg.ImageArray`), a :class:`~stonerimg.Metadata` record for each
frame and a shared :class:`~stonerimg.Metadata` for the whole stack.  What a
frame "says" is its record laid over the shared metadata: a frame record holds
only what differs from the shared items.

Copies and views
    ``ImageStack(array_3d)`` wraps the array without copying it; ``stack[i]`` is
    an :class:`~stonerimg.ImageFile` whose pixels are a view on frame ``i``;
    ``stack[a:b]`` is a stack that shares the buffer, the mask and the frame
    records of its parent (its shared metadata is a copy).  A list of images
    is copied into one new buffer.

In place
    Stack operations (:meth:`ImageStack.correct_drifts`,
    :meth:`~ImageStack.crop_stack`, :meth:`~ImageStack.subtract`,
    :meth:`~ImageStack.convert`, ``stack.each.<function>()``) change the stack
    and return it, so they chain, as the methods of :class:`~stonerimg.ImageFile`
    do.  They write into the buffer when the frames keep their shape and dtype
    (views of the stack see the change) and give the stack a new buffer otherwise.
"""

from __future__ import annotations

import copy as _copy
import dataclasses
import json
import logging
import numbers
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Sized
from pathlib import Path
from typing import Any

import numpy as np

from .array import ImageArray
from .funcs._binding import describe, registered
from .imagefile import ImageFile
from .metadata import Metadata, _values_equal

__all__ = ["Hysteresis", "ImageStack"]

logger = logging.getLogger(__name__)

#: Key of the per-page JSON document in a stack's TIFF, and its version.
_STACK_KEY = "stonerimg.stack"
_STACK_VERSION = 1


# ---------------------------------------------------------------- helpers
def _history_entry(name: str, args: tuple = (), kwargs: Mapping | None = None) -> str:
    parts = [describe(a) for a in args] + [f"{k}={describe(v)}" for k, v in (kwargs or {}).items()]
    return f"{name}({', '.join(parts)})"


def _append_history(metadata: Metadata, entry: str) -> None:
    history = list(metadata.get("history", []))
    history.append(entry)
    metadata["history"] = history


def _difference(metadata: Mapping, shared: Mapping) -> Metadata:
    """Return the items of ``metadata`` that the shared metadata does not already hold (with that value)."""
    record = Metadata()
    for key, value in metadata.items():
        if key not in shared or not _values_equal(value, shared[key]):
            record[key] = value
    return record


def _split_common(records: Sequence[Mapping]) -> tuple[Metadata, list[Metadata]]:
    """Split records into the items every record holds with one value, and the rest of each."""
    if not records:
        return Metadata(), []
    first = records[0]
    common = Metadata({k: v for k, v in first.items() if all(k in r and _values_equal(v, r[k]) for r in records[1:])})
    return common, [_difference(r, common) for r in records]


def _frame_index(index, n: int) -> int:
    i = int(index)
    if not -n <= i < n:
        raise IndexError(f"frame index {i} is out of range for a stack of {n} frames")
    return i + n if i < 0 else i


def _as_2d_image(item, where: str) -> tuple[np.ndarray, np.ndarray | None, Mapping, str, type]:
    """Return ``(data, mask or None, metadata, filename, ImageFile class)`` of one frame source."""
    cls: type = ImageFile
    if isinstance(item, (str, os.PathLike)):
        from .formats import load

        item = load(item)
    if isinstance(item, ImageFile):
        cls = type(item)
        item = item.image
    if isinstance(item, ImageArray):
        metadata, filename = item.metadata, item.filename
    elif isinstance(item, np.ndarray):
        metadata, filename = {}, ""
    else:
        raise TypeError(f"{where}: an ImageFile, ImageArray, NumPy array or file path, not a {type(item).__name__}")
    if item.ndim != 2:
        raise ValueError(f"{where}: a frame must be a 2-D image, not one of shape {item.shape}")
    if item.dtype.kind not in "biufc":
        raise TypeError(f"{where}: cannot stack pixels of dtype {item.dtype}")
    mask = np.ma.getmask(item)
    mask = np.asarray(mask) if mask is not np.ma.nomask and mask.any() else None
    return np.asarray(np.ma.getdata(item)), mask, metadata, filename, cls


def _is_folder(source) -> bool:
    from .folder import ImageFolder

    return isinstance(source, ImageFolder)


def _check_weights(weights, n: int) -> np.ndarray:
    w = np.asarray(weights, dtype=float)
    if w.shape != (n,):
        raise ValueError(f"weights: need one weight per frame, shape ({n},), not {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0) or not w.sum() > 0:
        raise ValueError("weights: must be finite, non-negative and not all zero")
    return w


# ---------------------------------------------------------------- each
class _Each:
    """Apply a function to every frame: ``stack.each.crop(10)``, ``stack.each(func)``.

    Attribute access gives the registered image functions (and the public
    methods of the frames' :class:`~stonerimg.ImageFile` class); calling it
    applies any callable to the :class:`~stonerimg.ImageFile` of each frame.
    """

    def __init__(self, stack: ImageStack):
        self._stack = stack

    def __call__(self, func: Callable, *args, **kwargs):
        """Apply ``func(frame, *args, **kwargs)`` to every frame (an ImageFile view); see :meth:`ImageStack.each`."""
        if not callable(func):
            raise TypeError(f"func: must be callable, not {type(func).__name__}")
        return self._stack._apply_each(lambda doc: func(doc, *args, **kwargs))

    def _method_names(self) -> set[str]:
        names = set(registered())
        for cls in set(self._stack._classes):
            names.update(n for n in dir(cls) if not n.startswith("_") and callable(getattr(cls, n, None)))
        return names

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in registered() and not all(
            callable(getattr(cls, name, None)) and not isinstance(getattr(cls, name, None), type)
            for cls in set(self._stack._classes) or {ImageFile}
        ):
            raise AttributeError(
                f"each.{name}: no image function or ImageFile method of that name (see stonerimg.funcs.registered())"
            )

        function = registered().get(name)

        def method(*args, **kwargs):
            if function is not None:  # the functional form: a frame is not written before every frame has succeeded
                return self._stack._apply_each(lambda doc: function(doc, *args, **kwargs))
            return self._stack._apply_each(lambda doc: getattr(doc, name)(*args, **kwargs))

        method.__name__ = name
        method.__doc__ = f"Apply ``{name}`` to every frame in place; return the stack (or a list of the results)."
        return method

    def __dir__(self):
        return sorted(self._method_names())

    def __repr__(self):
        return f"<each of {self._stack!r}>"


# ---------------------------------------------------------------- results
@dataclasses.dataclass(frozen=True, eq=False)
class Hysteresis:
    """Mean intensity of each frame of a stack against the applied field.

    Attributes
    ----------
    field : numpy.ndarray
        The field of each frame (metadata ``field``; NaN where unknown).
    intensity : numpy.ndarray
        The mean of each frame's unmasked pixels inside the region used.
    units : str
        The field's units (metadata ``field.units``), or ``""``.
    """

    field: np.ndarray
    intensity: np.ndarray
    units: str = ""

    def __post_init__(self):
        field = np.array(self.field, dtype=float, copy=True).reshape(-1)
        intensity = np.array(self.intensity, dtype=float, copy=True).reshape(-1)
        if field.shape != intensity.shape:
            raise ValueError(f"field and intensity differ in length ({field.size} and {intensity.size})")
        field.flags.writeable = intensity.flags.writeable = False
        object.__setattr__(self, "field", field)
        object.__setattr__(self, "intensity", intensity)

    def __len__(self) -> int:
        return self.field.size

    def to_numpy(self) -> np.ndarray:
        """Return an ``(n, 2)`` array of ``(field, intensity)`` rows."""
        return np.column_stack([self.field, self.intensity])

    def plot(self, ax=None, **kwargs):
        """Plot intensity against field with matplotlib; return the axes.

        Parameters
        ----------
        ax : matplotlib.axes.Axes, optional
            Where to draw (default: a new figure).
        **kwargs
            Passed to :meth:`matplotlib.axes.Axes.plot` (default ``marker="o"``).
        """
        if ax is None:
            import matplotlib.pyplot as plt

            _, ax = plt.subplots()
        kwargs.setdefault("marker", "o")
        ax.plot(self.field, self.intensity, **kwargs)
        ax.set_xlabel(f"field ({self.units})" if self.units else "field")
        ax.set_ylabel("mean intensity")
        return ax

    def __repr__(self):
        units = f", units={self.units!r}" if self.units else ""
        return f"Hysteresis({len(self)} points{units})"


# ---------------------------------------------------------------- the stack
class ImageStack:
    """Frames of one shape in a single ``(n, y, x)`` masked array, with per-frame and shared metadata.

    Parameters
    ----------
    source : array_like, ImageArray, ImageStack, iterable or path, optional
        - a 3-D NumPy array or :class:`~stonerimg.ImageArray`: wrapped **without
          copying** (the ImageArray's metadata becomes the shared metadata);
        - another :class:`ImageStack`: a new stack on the same buffer, with
          copies of its metadata;
        - an :class:`~stonerimg.ImageFolder`, or the path of a directory (read
          as ``ImageFolder(path)``): its images, one at a time, with the
          folder's errors policy (files left out are in :attr:`skipped`);
        - a list (or any iterable) of 2-D images,
          :class:`~stonerimg.ImageFile` objects, arrays or file paths, all of one
          shape: copied into one new buffer (dtypes are promoted to a common
          one); each image's metadata and file name become that frame's;
        - the path of a multi-page TIFF file: read with :meth:`from_tiff`;
        - nothing: an empty stack.
    metadata : mapping, optional
        Shared metadata (updates what the source brings).
    frame_metadata : sequence of mappings, optional
        One mapping per frame, laid over what the source brings for that frame.

    Raises
    ------
    ValueError
        If a frame's shape differs from frame 0's (the message names the frame),
        an array is not 3-D, or ``frame_metadata`` has the wrong length.
    TypeError
        If an item of the source is not an image.

    Notes
    -----
    A frame record holds the items that differ from the shared metadata;
    ``stack[i].metadata`` is the shared metadata with frame ``i``'s record laid
    over it.  Masked pixels are ignored by every statistic (:meth:`mean`,
    :meth:`average`, :meth:`stddev`, :meth:`hysteresis`).

    Examples
    --------
    >>> import numpy as np
    >>> data = np.arange(24.0).reshape(2, 3, 4)
    >>> stack = ImageStack(data, metadata={"sample": "Py"})
    >>> len(stack), stack.shape, np.shares_memory(stack.data, data)
    (2, (2, 3, 4), True)
    >>> frame = stack[1]
    >>> frame[0, 0] = -1.0  # a view: the stack sees it
    >>> float(data[1, 0, 0]), frame["sample"]
    (-1.0, 'Py')
    """

    #: The files left out when the stack was made from a folder (see :meth:`ImageFolder.as_stack
    #: <stonerimg.ImageFolder.as_stack>`), with their reasons.
    skipped: tuple = ()

    def __init__(
        self,
        source=None,
        *,
        metadata: Mapping | None = None,
        frame_metadata: Sequence[Mapping] | None = None,
    ):
        records: list[Metadata]
        if source is None:
            image = ImageArray(np.zeros((0, 0, 0)))
            records, filenames, classes = [], [], []
        elif isinstance(source, ImageStack):
            image = source._image.view(type(source._image))
            records = [r.copy() for r in source._records]
            filenames, classes = list(source._filenames), list(source._classes)
        elif isinstance(source, (str, os.PathLike)) or _is_folder(source):
            if not _is_folder(source) and os.path.isdir(source):
                from .folder import ImageFolder

                source = ImageFolder(source)
            loaded = source.as_stack() if _is_folder(source) else type(self).from_tiff(source)
            image, records = loaded._image, loaded._records
            filenames, classes = loaded._filenames, loaded._classes
            self.skipped = loaded.skipped
        elif isinstance(source, np.ndarray) or (isinstance(source, ImageFile) and source.ndim == 3):
            if isinstance(source, ImageFile):
                source = source.image
            if source.ndim != 3:
                raise ValueError(
                    f"source: an array for a stack must be 3-D (n, y, x), not of shape {source.shape}; "
                    "pass a list to stack 2-D images"
                )
            if source.dtype.kind not in "biufc":
                raise TypeError(f"source: cannot stack pixels of dtype {source.dtype}")
            image = source if isinstance(source, ImageArray) else ImageArray(source)
            image = image.view(type(image)) if image is source else image  # own metadata, same pixels
            n = image.shape[0]
            records, filenames, classes = [Metadata() for _ in range(n)], [""] * n, [ImageFile] * n
        elif isinstance(source, (Mapping, bytes, bytearray)) or not isinstance(source, Iterable):
            raise TypeError(
                f"source: an ImageStack needs a 3-D array, an iterable of images or a TIFF path, "
                f"not a {type(source).__name__}"
            )
        else:
            image, records, filenames, classes = self._from_images(source, metadata)
        self._image = image
        if metadata is not None:
            if not isinstance(metadata, Mapping):
                raise TypeError(f"metadata: must be a mapping, not {type(metadata).__name__}")
            self._image.metadata.update(metadata)
        if frame_metadata is not None:
            if isinstance(frame_metadata, (Mapping, str)) or len(frame_metadata) != len(records):
                raise ValueError(f"frame_metadata: need one mapping per frame ({len(records)})")
            for i, extra in enumerate(frame_metadata):
                if not isinstance(extra, Mapping):
                    raise TypeError(f"frame_metadata[{i}]: must be a mapping, not {type(extra).__name__}")
                records[i].update(extra)
        self._records = records
        self._filenames = filenames
        self._classes = classes

    @staticmethod
    def _from_images(source: Iterable, metadata: Mapping | None):
        """Copy an iterable of 2-D images into one buffer.

        When the source knows its length (a list, a folder), the buffer is made
        at the first frame and filled frame by frame, so a lazy folder need not
        hold every image at once.
        """
        expected = len(source) if isinstance(source, Sized) else None
        shared = Metadata(metadata or {})
        data: np.ndarray | None = None
        buffered: list[np.ndarray] = []
        masks: dict[int, np.ndarray] = {}
        records, filenames, classes = [], [], []
        shape: tuple[int, ...] = (0, 0)
        for i, item in enumerate(source):
            pixels, frame_mask, md, filename, cls = _as_2d_image(item, f"frame {i}")
            if i == 0:
                shape = pixels.shape
            elif pixels.shape != shape:
                raise ValueError(f"frame {i}: its shape {pixels.shape} differs from frame 0's {shape}")
            if expected is not None and i < expected:
                if data is None:
                    data = np.empty((expected, *shape), dtype=pixels.dtype)
                elif not np.can_cast(pixels.dtype, data.dtype, "safe"):
                    data = data.astype(np.result_type(data.dtype, pixels.dtype))
                data[i] = pixels
            else:
                buffered.append(pixels)
            if frame_mask is not None:
                masks[i] = frame_mask
            records.append(_difference(md, shared))
            filenames.append(filename)
            classes.append(cls)
        n = len(records)
        if data is None:
            dtype = np.result_type(*(b.dtype for b in buffered)) if buffered else np.float64
            data = np.empty((n, *shape), dtype=dtype)
        elif data.shape[0] != n:  # the source yielded more or fewer items than its len() said
            grown = np.empty((n, *shape), dtype=np.result_type(data.dtype, *(b.dtype for b in buffered)))
            kept = min(n, data.shape[0])
            grown[:kept] = data[:kept]
            data = grown
        for offset, pixels in enumerate(buffered):
            data[n - len(buffered) + offset] = pixels
        image = ImageArray(data)
        if masks:
            mask = np.zeros(data.shape, bool)
            for i, frame_mask in masks.items():
                mask[i] = frame_mask
            image._set_mask_fast(mask)
        return image, records, filenames, classes

    @classmethod
    def _new(cls, image: ImageArray, records, filenames, classes) -> ImageStack:
        stack = cls.__new__(cls)
        stack._image = image
        stack._records = list(records)
        stack._filenames = list(filenames)
        stack._classes = list(classes)
        return stack

    # ------------------------------------------------------------ the buffer
    @property
    def image(self) -> ImageArray:
        """The ``(n, y, x)`` :class:`~stonerimg.ImageArray`; its metadata is the shared metadata."""
        return self._image

    @property
    def data(self) -> np.ndarray:
        """The pixels as a plain ``(n, y, x)`` NumPy array (a view, masked pixels included)."""
        return self._image.data

    @property
    def mask(self):
        """The ``(n, y, x)`` mask (``numpy.ma.nomask`` when nothing is masked)."""
        return self._image.mask

    @mask.setter
    def mask(self, value):
        self._image.mask = value

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(n, y, x)``: number of frames, rows, columns."""
        return self._image.shape

    @property
    def frame_shape(self) -> tuple[int, int]:
        """``(y, x)`` of every frame."""
        return self._image.shape[1:]

    @property
    def dtype(self) -> np.dtype:
        """Data type of the pixels."""
        return self._image.dtype

    @property
    def metadata(self) -> Metadata:
        """The shared metadata, which every frame inherits."""
        return self._image.metadata

    @metadata.setter
    def metadata(self, value: Mapping):
        self._image.metadata = value

    @property
    def frame_metadata(self) -> tuple[Metadata, ...]:
        """Each frame's own record (the items that differ from the shared metadata); edits change the stack."""
        return tuple(self._records)

    def metadata_of(self, index: int) -> Metadata:
        """Return frame ``index``'s own record; changing it changes the stack (see :meth:`merged_metadata`)."""
        return self._records[_frame_index(index, len(self))]

    def merged_metadata(self, index: int) -> Metadata:
        """Return a copy of the shared metadata with frame ``index``'s record laid over it."""
        merged = self.metadata.copy()
        merged.update(self._records[_frame_index(index, len(self))])
        return merged

    @property
    def filenames(self) -> tuple[str, ...]:
        """The file each frame came from (``""`` for frames made in memory)."""
        return tuple(self._filenames)

    def show(self, **kwargs):
        """Browse the frames with widgets: see :func:`stonerimg.notebook.viewer.show`."""
        from .notebook.viewer import show

        return show(self, **kwargs)

    def __len__(self) -> int:
        return self._image.shape[0]

    def __array__(self, dtype=None, copy=None):
        if copy:
            return np.array(self._image.data, dtype=dtype, copy=True)
        return np.asarray(self._image.data, dtype=dtype)

    def __repr__(self):
        n, rows, cols = self.shape
        return f"{type(self).__name__}({n} frames of {rows} x {cols}, dtype={self.dtype})"

    def _repr_html_(self) -> str:
        """Return the notebook view: a strip of frames, the length, shared metadata (see stonerimg.notebook)."""
        from .notebook.repr import stack_html

        return stack_html(self)

    def _repr_png_(self) -> bytes | None:
        """Return a PNG strip of up to eight frames."""
        from .notebook.repr import stack_png

        return stack_png(self)

    def __eq__(self, other):
        if not isinstance(other, ImageStack):
            return NotImplemented
        a, b = self._image, other._image
        return (
            a.shape == b.shape
            and a.dtype == b.dtype
            and _values_equal(np.asarray(a.data), np.asarray(b.data))
            and np.array_equal(np.ma.getmaskarray(a), np.ma.getmaskarray(b))
            and a.metadata == b.metadata
            and all(x == y for x, y in zip(self._records, other._records, strict=True))
        )

    __hash__ = None

    @property
    def clone(self) -> ImageStack:
        """A deep copy: pixels, mask and all metadata, sharing no memory with this stack."""
        return type(self)._new(
            self._image.clone, [_copy.deepcopy(r) for r in self._records], self._filenames, self._classes
        )

    # ------------------------------------------------------------ frames
    def _frame(self, i: int) -> ImageFile:
        view = self._image[i]
        doc = self._classes[i](view)
        doc.metadata = self.merged_metadata(i)
        doc.filename = self._filenames[i]
        return doc

    def __getitem__(self, index):
        """Frame ``i`` as an :class:`~stonerimg.ImageFile` view, or a sub-stack.

        An integer gives an ImageFile whose pixels (and mask, where the stack
        has one) are a view on that frame, and whose metadata is a *copy* of
        the shared metadata with the frame's record laid over it (change the
        stack's metadata with :meth:`metadata_of`).  A slice gives a stack that
        shares the buffer and the frame records; a sequence of integers or a
        boolean array gives a stack of copies.
        """
        n = len(self)
        if isinstance(index, (numbers.Integral, np.integer)) and not isinstance(index, bool):
            return self._frame(_frame_index(index, n))
        if isinstance(index, slice):
            positions = range(n)[index]
            return type(self)._new(
                self._image[index],
                [self._records[i] for i in positions],
                [self._filenames[i] for i in positions],
                [self._classes[i] for i in positions],
            )
        if isinstance(index, str):
            raise TypeError(f"index: use stack.metadata[{index!r}] or stack.merged_metadata(i)[{index!r}] for metadata")
        try:
            chosen = np.asarray(index)
        except (TypeError, ValueError) as err:
            raise TypeError(f"index: cannot select frames with {index!r}") from err
        if chosen.dtype == bool:
            if chosen.shape != (n,):
                raise IndexError(f"index: a boolean selection needs {n} values, not {chosen.shape}")
            chosen = np.flatnonzero(chosen)
        if chosen.ndim != 1 or (chosen.size and chosen.dtype.kind not in "iu"):
            raise TypeError(f"index: frames are selected by an int, a slice or a 1-D sequence of ints, not {index!r}")
        positions = [_frame_index(i, n) for i in chosen.tolist()]
        image = self._image[positions] if positions else ImageArray(np.zeros((0, *self.frame_shape), self.dtype))
        image.metadata = self._image.metadata.copy()
        return type(self)._new(
            image,
            [self._records[i].copy() for i in positions],
            [self._filenames[i] for i in positions],
            [self._classes[i] for i in positions],
        )

    def __setitem__(self, index, value):
        """Write an image into frame ``index``: its pixels, mask and (for images) metadata."""
        if not isinstance(index, (numbers.Integral, np.integer)) or isinstance(index, bool):
            raise TypeError(f"index: frames are written one at a time by integer index, not {index!r}")
        i = _frame_index(index, len(self))
        pixels, frame_mask, md, filename, _cls = _as_2d_image(value, "value")
        if pixels.shape != self.frame_shape:
            raise ValueError(f"value: its shape {pixels.shape} differs from the stack's frames {self.frame_shape}")
        self._check_writeable()
        self._image.data[i] = pixels
        self._set_frame_mask(i, frame_mask)
        if isinstance(value, (ImageArray, ImageFile)):
            self._records[i] = _difference(md, self._image.metadata)
            self._filenames[i] = filename

    def __iter__(self) -> Iterator[ImageFile]:
        for i in range(len(self)):
            yield self._frame(i)

    def _check_writeable(self) -> None:
        if not self._image.data.flags.writeable:
            raise ValueError("the stack's pixel buffer is read-only; make a writeable copy with stack.clone")

    def _ensure_writeable(self) -> None:
        """Give a stack on a read-only buffer (a read-only memmap, say) a writeable copy of it."""
        if not self._image.data.flags.writeable:
            logger.info("the stack's buffer is read-only: working on a copy")
            self._image = self._image.copy()

    def _set_frame_mask(self, i: int, frame_mask: np.ndarray | None) -> None:
        mask = self._image._mask
        if mask is np.ma.nomask:
            if frame_mask is None:
                return
            mask = np.zeros(self.shape, bool)
            self._image._set_mask_fast(mask)
        mask[i] = False if frame_mask is None else frame_mask

    # ------------------------------------------------------------ each
    @property
    def each(self) -> _Each:
        """Apply an image function (or any callable) to every frame, in place.

        ``stack.each.crop(10)`` calls the image function ``crop`` on every frame
        (any registered image function, or a public method of the frames'
        :class:`~stonerimg.ImageFile` class); ``stack.each(func, *args)`` calls
        ``func(frame, *args)`` with each frame as an ImageFile and uses what it
        returns (an ImageFile, an ImageArray or a 2-D array; ``None`` means the
        ImageFile it was given, changed in place).

        Every frame must come out with one shape, else :class:`ValueError`
        (naming the frame) and the stack is left as it was.  Results of the
        stack's own shape and dtype are written into the buffer; otherwise the
        stack gets a new buffer.  Each frame's record becomes the items of its
        result's metadata that differ from the shared metadata (the history of
        the function included).  A function whose results are not images
        (``stack.each.span()``) leaves the stack alone and gives the list of
        results.

        Examples
        --------
        >>> import numpy as np
        >>> stack = ImageStack(np.arange(2 * 6 * 8, dtype=float).reshape(2, 6, 8))
        >>> stack.each.crop(1).shape
        (2, 4, 6)
        >>> stack.each(lambda frame: frame.image * 2).data[0, 0].tolist()
        [18.0, 20.0, 22.0, 24.0, 26.0, 28.0]
        >>> np.array(stack.each.span()).tolist()  # not images: a list of the results
        [[18.0, 76.0], [114.0, 172.0]]
        """
        return _Each(self)

    def _apply_each(self, call: Callable[[ImageFile], Any]):
        results = []
        for i in range(len(self)):
            doc = self._frame(i)
            try:
                out = call(doc)
            except (ValueError, TypeError) as err:
                raise (ValueError if isinstance(err, ValueError) else TypeError)(f"frame {i}: {err}") from err
            results.append(doc if out is None else out)
        is_image = [isinstance(r, (ImageFile, np.ndarray)) for r in results]
        if not any(is_image):
            return results
        if not all(is_image):
            bad = is_image.index(False)
            raise TypeError(f"frame {bad}: the function gave a {type(results[bad]).__name__}, not an image")
        frames = []
        for i, result in enumerate(results):
            image = result.image if isinstance(result, ImageFile) else result
            if image.ndim != 2:
                raise ValueError(f"frame {i}: the result has shape {image.shape}, not that of a 2-D image")
            md = image.metadata if isinstance(image, ImageArray) else self.merged_metadata(i)
            frames.append((image, md))
        first = frames[0][0].shape
        for i, (image, _md) in enumerate(frames):
            if image.shape != first:
                raise ValueError(
                    f"frame {i}: came out with shape {image.shape}, frame 0 with {first}; "
                    "every frame must keep one shape"
                )
        self._commit([f[0] for f in frames])
        shared = self._image.metadata
        self._records = [_difference(md, shared) for _image, md in frames]
        return self

    def _commit(self, images: Sequence) -> None:
        """Store one 2-D result per frame: in the buffer when shape and dtype allow, else in a new buffer."""
        n = len(images)
        dtype = np.result_type(*(np.asarray(np.ma.getdata(im)).dtype for im in images)) if n else self.dtype
        shape = (n, *images[0].shape) if n else self.shape
        masks = [np.ma.getmask(im) for im in images]
        masked = any(m is not np.ma.nomask and m.any() for m in masks)
        in_place = shape == self.shape and dtype == self.dtype and self._image.data.flags.writeable
        if in_place:
            buffer = self._image.data
            for i, im in enumerate(images):
                buffer[i] = np.ma.getdata(im)  # NumPy copies through a temporary where the two overlap
            if masked or self._image._mask is not np.ma.nomask:
                for i, m in enumerate(masks):
                    self._set_frame_mask(i, None if m is np.ma.nomask else np.asarray(m))
            return
        buffer = np.empty(shape, dtype=dtype)
        for i, im in enumerate(images):
            buffer[i] = np.ma.getdata(im)
        image = self._image._derive(buffer, keep_mask=False)
        if masked:
            mask = np.zeros(shape, bool)
            for i, m in enumerate(masks):
                if m is not np.ma.nomask:
                    mask[i] = m
            image._set_mask_fast(mask)
        self._image = image

    # ------------------------------------------------------------ whole-stack operations
    def convert(self, dtype, **kwargs) -> ImageStack:
        """Convert every frame to ``dtype`` with :func:`~stonerimg.funcs.convert` (in place); return the stack.

        Keyword arguments go to :func:`~stonerimg.funcs.convert` (``uniform``,
        ``normalise``, ``force_copy``).  The stack gets a new buffer unless the
        dtype is already right.

        Examples
        --------
        >>> import numpy as np
        >>> stack = ImageStack(np.array([[[0, 255]], [[51, 102]]], dtype=np.uint8))
        >>> stack.convert(np.float64).data.tolist()
        [[[0.0, 1.0]], [[0.2, 0.4]]]
        """
        from .funcs.intensity import convert

        self._image = convert(self._image, dtype, **kwargs)
        return self

    def asfloat(self, normalise: bool = True, clip: bool = False, clip_negative: bool = False) -> ImageStack:
        """Convert the stack to floating point with :func:`~stonerimg.funcs.asfloat` (in place); return it.

        Integers are divided by their type's maximum unless ``normalise=False``.
        """
        from .funcs.intensity import asfloat

        self._image = asfloat(self._image, normalise=normalise, clip=clip, clip_negative=clip_negative)
        return self

    def crop_stack(self, *box, copy: bool = False) -> ImageStack:
        """Crop every frame to one box (in place: the stack becomes a view); return the stack.

        Parameters
        ----------
        *box
            Any box form :func:`~stonerimg.funcs.parse_box` accepts, as one
            argument or four (``crop_stack(10)``, ``crop_stack((0, 100, 0, 50))``,
            ``crop_stack("translation_limits")`` reads the box from the shared
            metadata, e.g. after :meth:`correct_drifts`).
        copy : bool, default False
            Copy the cropped pixels into a new buffer instead of viewing the old one.

        Notes
        -----
        Calibration offsets (shared or per frame) move so that physical
        coordinates stay the same, as :func:`~stonerimg.funcs.crop` does.

        Examples
        --------
        >>> import numpy as np
        >>> data = np.zeros((3, 20, 30))
        >>> stack = ImageStack(data).crop_stack(5, 25, 0, 10)
        >>> stack.shape, np.shares_memory(stack.data, data)
        ((3, 10, 20), True)
        """
        from .funcs.geometry import parse_box

        if len(box) == 1:
            box = box[0]
        elif len(box) not in (0, 4):
            raise TypeError(f"crop_stack takes one box or 4 coordinates, not {len(box)} arguments")
        xmin, xmax, ymin, ymax = parse_box(self._image, box)
        cropped = self._image[:, ymin:ymax, xmin:xmax]
        if copy:
            cropped = cropped.copy()
        shared = cropped.metadata
        records = [r.copy() for r in self._records]  # a parent sharing these records is not cropped
        for axis, start in (("x", xmin), ("y", ymin)):
            if not start:
                continue
            scale_key, offset_key = f"calibration.{axis}.scale", f"calibration.{axis}.offset"
            for record in records:
                if scale_key in record or offset_key in record:
                    merged_scale = record.get(scale_key, shared.get(scale_key))
                    if merged_scale is not None:
                        old = record.get(offset_key, shared.get(offset_key, 0.0))
                        record[offset_key] = float(old) + start * float(merged_scale)
            if scale_key in shared:
                shared[offset_key] = float(shared.get(offset_key, 0.0)) + start * float(shared[scale_key])
        _append_history(shared, _history_entry("crop_stack", (box,), {"copy": copy} if copy else None))
        self._image = cropped
        self._records = records
        return self

    #: Crop every frame to one box (in place); the same call as ``ImageFile.crop`` and
    #: :meth:`ImageFolder.crop <stonerimg.ImageFolder.crop>`.  ``crop_stack`` is its other name.
    crop = crop_stack

    def subtract(self, background) -> ImageStack:
        """Subtract a background from every frame (in place); return the stack.

        Parameters
        ----------
        background : int, ImageFile, ImageArray or numpy.ndarray
            An image of the frames' shape, or the index of a frame of this stack
            (that frame then becomes zero).

        Notes
        -----
        The difference is taken in the stack's own units (no rescaling): a
        float stack is changed in its buffer; an integer or bool stack (or one
        on a read-only buffer) gets a new ``float64`` buffer.  Pixels masked in the background are masked in
        every frame.

        Examples
        --------
        >>> import numpy as np
        >>> stack = ImageStack(np.array([[[5, 7]], [[6, 9]]], dtype=np.uint16))
        >>> stack.subtract(0).data.tolist()
        [[[0.0, 0.0]], [[1.0, 2.0]]]
        """
        if isinstance(background, (numbers.Integral, np.integer)) and not isinstance(background, bool):
            i = _frame_index(background, len(self))
            back = np.array(self._image.data[i], dtype=np.float64)
            back_mask = np.ma.getmask(self._image[i])
            back_mask = back_mask if back_mask is np.ma.nomask else np.array(back_mask, dtype=bool)
            what: Any = background
        else:
            if not isinstance(background, (np.ndarray, ImageFile)):
                raise TypeError(
                    "background: a frame index, an ImageFile, an ImageArray or an array, "
                    f"not {type(background).__name__}"
                )
            image = background.image if isinstance(background, ImageFile) else background
            if image.shape != self.frame_shape:
                raise ValueError(f"background: its shape {image.shape} differs from the frames' {self.frame_shape}")
            if image.dtype.kind not in "biuf":
                raise TypeError(f"background: cannot subtract pixels of dtype {image.dtype}")
            back = np.asarray(np.ma.getdata(image), dtype=np.float64)
            back_mask = np.ma.getmask(image)
            what = image
        if self.dtype.kind == "f" and self._image.data.flags.writeable:
            self._image.data[...] -= back
        else:
            image = self._image._derive(self._image.data.astype(self._float_dtype()), keep_mask=False)
            image.data[...] -= back
            if self._image._mask is not np.ma.nomask:
                image._set_mask_fast(np.array(self._image._mask, dtype=bool, copy=True))
            self._image = image
        if back_mask is not np.ma.nomask and np.any(back_mask):
            mask = self._image._mask
            if mask is np.ma.nomask:
                mask = np.zeros(self.shape, bool)
                self._image._set_mask_fast(mask)
            mask |= np.asarray(back_mask, dtype=bool)
        _append_history(self._image.metadata, _history_entry("subtract", (what,)))
        return self

    def _bare_frame(self, i: int) -> ImageArray:
        """Frame ``i`` as an ImageArray view without metadata (what a registration reads)."""
        frame = self._image[i]
        frame.metadata = {}
        return frame

    def align(
        self,
        ref=0,
        *,
        method: str | None = None,
        box=None,
        upsample_factor: int | None = None,
        function: str = "align",
        **kwargs,
    ) -> ImageStack:
        """Register every frame onto a reference frame or image, in place; return the stack (Stoner's call).

        The same call as :meth:`ImageFolder.align <stonerimg.ImageFolder.align>`;
        both run :func:`stonerimg._frames.register_frames`.

        Parameters
        ----------
        ref : int or image, default 0
            A frame of the stack (its index) or an image of the frames' shape.
        method : {"scharr", "phase"}, optional
            What is correlated (default: the function's, ``"scharr"`` for
            ``align``, ``"phase"`` for ``correct_drift``).
        box : optional
            The region in which the shift is measured (any form
            :func:`~stonerimg.funcs.parse_box` accepts); the whole frame moves.
        upsample_factor : int, optional
            The shift is found to ``1 / upsample_factor`` of a pixel (default:
            the function's, 100 for ``align``).
        function : {"align", "correct_drift"}, default "align"
            :func:`~stonerimg.funcs.registration.align` or
            :func:`~stonerimg.funcs.registration.correct_drift`.
        **kwargs
            Passed to the function (``order``, ``mode``, ``prefilter``, ...).

        Returns
        -------
        ImageStack
            Each frame's record holds what the function records: ``align.shift``
            (the ``(x, y)`` shift applied), ``align.error``, ``align.method`` (or
            ``correct_drift``/``drift_shift``/``drift_error``) and
            ``translation_limits``; the shared metadata holds
            ``translation_limits``, the box valid in every frame.

        Raises
        ------
        ValueError
            If a frame cannot be registered (naming the frame); every frame is
            registered before any is written, so the stack is then unchanged.

        Examples
        --------
        >>> import numpy as np
        >>> from scipy import ndimage
        >>> yy, xx = np.mgrid[:64, :80]
        >>> ref = sum(np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / 8.0) for x, y in [(20, 15), (50, 40), (60, 20)])
        >>> stack = ImageStack([ref, ndimage.shift(ref, (-1.4, 2.3))])  # frame 1 moved x + 2.3, y - 1.4
        >>> np.round(stack.align(0, method="phase").metadata_of(1)["align.shift"], 2).tolist()
        [-2.3, 1.4]
        """
        from ._frames import Policy, reference_image, register_frames

        self._check_not_empty("align")
        if isinstance(ref, (numbers.Integral, np.integer)) and not isinstance(ref, bool):
            reference = reference_image(self._image[_frame_index(ref, len(self))])
        else:
            reference = reference_image(ref)
        options = {k: v for k, v in (("method", method), ("upsample_factor", upsample_factor)) if v is not None}
        if box is not None:
            options["box"] = box
        results = register_frames(
            [(f"frame {i}", lambda i=i: self._bare_frame(i)) for i in range(len(self))],
            reference,
            function=function,
            policy=Policy("raise", function),
            **options,
            **kwargs,
        )
        images = [result for _, result in results]
        self._ensure_writeable()
        self._commit(images)
        keys = ("align.shift", "align.error", "align.method", "correct_drift", "drift_shift", "drift_error")
        xmin, xmax, ymin, ymax = self._image.max_box
        for record, image in zip(self._records, images, strict=True):
            record.update({k: image.metadata[k] for k in keys if k in image.metadata})
            limits = image.metadata.get("translation_limits")
            if limits is not None:
                record["translation_limits"] = limits
                xmin, xmax, ymin, ymax = (
                    max(xmin, limits[0]),
                    min(xmax, limits[1]),
                    max(ymin, limits[2]),
                    min(ymax, limits[3]),
                )
        shared = self._image.metadata
        shared["translation_limits"] = (int(xmin), int(xmax), int(ymin), int(ymax))
        ref_text = ref if isinstance(ref, (numbers.Integral, np.integer)) else "image"
        _append_history(shared, _history_entry("align", (ref_text,), {**options, "function": function, **kwargs}))
        return self

    def correct_drifts(
        self,
        ref_index: int = 0,
        box=None,
        upsample_factor: int = 50,
        method: str = "phase",
        *,
        do_shift: bool = True,
        **kwargs,
    ) -> ImageStack:
        """Register every frame to frame ``ref_index`` with :func:`~stonerimg.funcs.correct_drift` (in place).

        Parameters
        ----------
        ref_index : int, default 0
            The frame taken as having no drift.
        box : optional
            Region used to measure the drift (any form
            :func:`~stonerimg.funcs.parse_box` accepts); the whole frame is shifted.
        upsample_factor : int, default 50
            The drift is found to ``1 / upsample_factor`` of a pixel.
        method : {"phase", "scharr"}, default "phase"
            See :func:`~stonerimg.funcs.correct_drift`.
        do_shift : bool, default True
            Shift the frames back; ``False`` only measures and records.
        **kwargs
            ``order``, ``mode`` and ``cval`` of the interpolation
            (:func:`scipy.ndimage.shift`).

        Returns
        -------
        ImageStack
            The stack, each frame's record holding ``correct_drift`` (its drift
            ``(dx, dy)`` relative to the reference, in pixels), ``drift_shift``
            (``(-dx, -dy)``, the shift applied), ``drift_error`` and
            ``translation_limits``; the shared metadata holds
            ``translation_limits``, the box valid in *every* frame (so
            ``stack.crop_stack("translation_limits")`` keeps only pixels that
            came from inside every frame).

        Raises
        ------
        ValueError
            If a frame cannot be registered (the message names the frame).
            Every drift is measured before any frame is moved, so a failure
            leaves the stack as it was.

        Notes
        -----
        The frames are shifted in the buffer (views of the stack see them
        move); a stack on a read-only buffer is first given a copy.

        Examples
        --------
        >>> import numpy as np
        >>> from scipy import ndimage
        >>> yy, xx = np.mgrid[:64, :80]
        >>> ref = sum(np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / 8.0) for x, y in [(20, 15), (50, 40), (60, 20)])
        >>> stack = ImageStack([ref, ndimage.shift(ref, (-1.4, 2.3))])  # frame 1 drifted x + 2.3, y - 1.4
        >>> np.round(stack.correct_drifts().metadata_of(1)["correct_drift"], 2).tolist()
        [2.3, -1.4]
        """
        from ._frames import Policy, register_frames
        from .funcs.registration import _shift_image, _translation_limits

        n = len(self)
        ref_index = _frame_index(ref_index, n)
        ref = self._image[ref_index].copy()
        ref.metadata = {}
        interpolation = {k: kwargs.pop(k) for k in ("order", "mode", "cval") if k in kwargs}
        if kwargs:
            raise TypeError(f"correct_drifts got unexpected keyword arguments: {', '.join(sorted(kwargs))}")
        others = [i for i in range(n) if i != ref_index]
        results = register_frames(
            [(f"frame {i}", lambda i=i: self._bare_frame(i)) for i in others],
            ref,
            function="correct_drift",
            policy=Policy("raise", "correct_drifts"),
            box=box,
            upsample_factor=upsample_factor,
            do_shift=False,
            method=method,
            **interpolation,
        )
        measured = [((0.0, 0.0), (0.0, 0.0), 0.0)] * n  # (drift, shift, error) of each frame
        for position, result in results:
            md = result.metadata
            measured[others[position]] = (
                tuple(md["correct_drift"]),
                tuple(md["drift_shift"]),
                float(md["drift_error"]),
            )
        if do_shift:
            self._ensure_writeable()
        xmin, xmax, ymin, ymax = self._image.max_box
        for i, (drift, shift, error) in enumerate(measured):
            record = self._records[i]
            record["correct_drift"] = drift
            record["drift_shift"] = shift
            record["drift_error"] = error
            if not do_shift:
                continue
            limits = _translation_limits(self.frame_shape, shift)
            record["translation_limits"] = limits
            xmin, xmax, ymin, ymax = (
                max(xmin, limits[0]),
                min(xmax, limits[1]),
                max(ymin, limits[2]),
                min(ymax, limits[3]),
            )
            if shift == (0.0, 0.0):
                continue
            moved = _shift_image(
                self._image[i],
                shift,
                order=interpolation.get("order", 3),
                mode=interpolation.get("mode", "nearest"),
                cval=interpolation.get("cval", 0.0),
            )
            self._image.data[i] = moved.data
            moved_mask = np.ma.getmask(moved)
            self._set_frame_mask(i, None if moved_mask is np.ma.nomask else np.asarray(moved_mask))
        shared = self._image.metadata
        if do_shift:
            shared["translation_limits"] = (int(xmin), int(xmax), int(ymin), int(ymax))
        options = {"ref_index": ref_index, "box": box, "upsample_factor": upsample_factor, "method": method}
        if not do_shift:
            options["do_shift"] = False
        _append_history(shared, _history_entry("correct_drifts", (), {**options, **interpolation}))
        return self

    #: Another name for :meth:`correct_drifts` (the name of the image function it applies to every frame).
    correct_drift = correct_drifts

    # ------------------------------------------------------------ statistics
    def _masked(self) -> np.ma.MaskedArray:
        """Return the buffer as a plain masked array (no ImageArray overhead in NumPy's reductions)."""
        return np.ma.MaskedArray(self._image.data, mask=self._image._mask, copy=False)

    def _result(self, data, name: str, kwargs: Mapping | None = None) -> ImageFile:
        data = np.ma.asarray(data)
        image = ImageArray(np.ma.getdata(data), metadata=self.metadata)
        mask = np.ma.getmask(data)
        if mask is not np.ma.nomask and mask.any():
            image._set_mask_fast(np.array(mask, dtype=bool))
        image.metadata["stack.frames"] = len(self)
        _append_history(image.metadata, _history_entry(name, (), kwargs))
        return ImageFile(image)

    def _float_dtype(self) -> np.dtype:
        return self.dtype if self.dtype.kind == "f" else np.dtype(np.float64)

    def _check_not_empty(self, what: str) -> None:
        if len(self) == 0:
            raise ValueError(f"{what}: the stack has no frames")

    def _masked_blocks(self) -> Iterator[tuple[int, np.ndarray, np.ndarray | None]]:
        """Yield ``(first frame, (k, y, x) pixels, their (k, y, x) mask or None)`` over the frames."""
        mask = self._image._mask
        for start, block in self._blocks():
            yield start, block, None if mask is np.ma.nomask else mask[start : start + len(block)]

    def _statistic(self, accumulator, name: str, weights=None, kwargs: Mapping | None = None):
        """Stream every frame into ``accumulator`` (:mod:`stonerimg._frames`); return it."""
        self._check_not_empty(name)
        for start, block, mask in self._masked_blocks():
            for k, frame in enumerate(block):
                weight = 1.0 if weights is None else weights[start + k]
                accumulator.add(frame, None if mask is None else mask[k], weight)
        return accumulator

    def _statistic_image(self, values, masked, name: str, kwargs: Mapping | None = None) -> ImageFile:
        from ._frames import statistic_image

        metadata = Metadata(self.metadata)
        metadata["stack.frames"] = len(self)
        return statistic_image(values, masked, metadata=metadata, history=_history_entry(name, (), kwargs))

    def mean(self) -> ImageFile:
        """Return the mean of the frames, pixel by pixel, ignoring masked pixels.

        Pixels masked in every frame stay masked.  The result is float64 (as
        every statistic of a stack or a folder), summed frame by frame, so a
        disk stack is read one window at a time.

        Examples
        --------
        >>> import numpy as np
        >>> ImageStack(np.array([[[1, 2]], [[3, 6]]])).mean().data.tolist()
        [[2.0, 4.0]]
        """
        from ._frames import RunningMean

        values, masked = self._statistic(RunningMean(), "mean").result()
        return self._statistic_image(values, masked, "mean")

    def average(self, weights=None) -> ImageFile:
        """Return the weighted mean of the frames (one weight per frame), ignoring masked pixels.

        Parameters
        ----------
        weights : sequence of float, optional
            Non-negative weight of each frame; ``None`` gives :meth:`mean`.

        Examples
        --------
        >>> import numpy as np
        >>> ImageStack(np.array([[[1.0, 2.0]], [[3.0, 6.0]]])).average(weights=[3, 1]).data.tolist()
        [[1.5, 3.0]]
        """
        from ._frames import RunningMean

        if weights is None:
            return self.mean()
        self._check_not_empty("average")
        w = _check_weights(weights, len(self))
        values, masked = self._statistic(RunningMean(), "average", w).result()
        return self._statistic_image(values, masked, "average", {"weights": w.tolist()})

    def stddev(self, ddof: int = 1) -> ImageFile:
        """Return the standard deviation of the frames, pixel by pixel, ignoring masked pixels.

        Parameters
        ----------
        ddof : int, default 1
            Delta degrees of freedom: ``1`` the sample standard deviation (as
            :meth:`ImageFolder.stddev <stonerimg.ImageFolder.stddev>`), ``0``
            NumPy's default.  Pixels with fewer than ``ddof + 1`` unmasked
            values are masked.

        Examples
        --------
        >>> import numpy as np
        >>> ImageStack(np.array([[[1.0]], [[2.0]], [[6.0]]])).stddev().data.round(4).tolist()
        [[2.6458]]
        """
        from ._frames import RunningVariance

        values, masked = self._statistic(RunningVariance(), "stddev").std(ddof)
        return self._statistic_image(values, masked, "stddev", {"ddof": ddof})

    def stderr(self, ddof: int = 1) -> ImageFile:
        """Return the standard error of the mean, ``stddev(ddof) / sqrt(count)``, per pixel; masked pixels ignored."""
        from ._frames import RunningVariance

        values, masked = self._statistic(RunningVariance(), "stderr").std(ddof, error=True)
        return self._statistic_image(values, masked, "stderr", {"ddof": ddof})

    def montage(
        self,
        *,
        columns: int | None = None,
        size: int | None = None,
        gap: int = 0,
        fill=0,
        normalise: bool = False,
        pad: int | None = None,
    ) -> ImageFile:
        """Lay the frames out in a grid, row by row, for a quick look.

        The same call, defaults and result as :meth:`ImageFolder.montage
        <stonerimg.ImageFolder.montage>`.

        Parameters
        ----------
        columns : int, optional
            Frames per row (default ``ceil(sqrt(n))``).
        size : int or None, default None
            Shrink each frame (every n-th pixel) until its longer side is at
            most ``size`` pixels; ``None`` keeps them whole.
        gap : int, default 0
            Pixels between neighbouring frames (``pad`` is another name for it).
        fill : scalar, default 0
            Value of the gaps and of the empty cells after the last frame;
            those pixels are also masked.
        normalise : bool, default False
            Scale each frame to 0..1 between its 0.5 and 99.5 percentiles (the
            result is then float64).

        Returns
        -------
        ImageFile
            Of shape ``(rows * y + (rows - 1) * gap, columns * x + (columns - 1) * gap)``,
            the stack's dtype and the shared metadata, with ``montage.columns``,
            ``montage.rows``, ``montage.grid``, ``montage.names`` (the frames'
            file names) and ``montage.origins`` (the ``(x, y)`` of each frame's
            top-left pixel) added.

        Examples
        --------
        >>> import numpy as np
        >>> grid = ImageStack(np.arange(3 * 2 * 2).reshape(3, 2, 2)).montage(columns=2, gap=1, fill=-1)
        >>> grid.data.tolist()
        [[0, 1, -1, 4, 5], [2, 3, -1, 6, 7], [-1, -1, -1, -1, -1], [8, 9, -1, -1, -1], [10, 11, -1, -1, -1]]
        """
        from ._frames import check_montage, montage, montage_tile

        if pad is not None:
            gap = pad
        columns, size, gap, normalise = check_montage(columns, size, gap, normalise)
        self._check_not_empty("montage")
        tiles = []
        for start, block, mask in self._masked_blocks():
            for k, frame in enumerate(block):
                image = frame if mask is None else np.ma.MaskedArray(frame, mask=mask[k], copy=False)
                tiles.append((self._filenames[start + k], montage_tile(image, size=size, normalise=normalise)))
        options = {"columns": columns, "size": size, "gap": gap, "normalise": normalise}
        return montage(
            tiles,
            columns=columns,
            gap=gap,
            fill=fill,
            metadata=self.metadata,
            history=_history_entry("montage", (), options),
        )

    # ------------------------------------------------------------ streaming, planes, dask
    def _blocks(self, rows=slice(None), cols=slice(None)) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(first frame, (k, rows, cols) view)`` over the frames, a few at a time.

        In memory these are views of the buffer; a disk stack maps (or reads)
        one window of at most :data:`stonerimg.config.block_bytes` at a time.
        """
        from . import config

        data = self._image.data
        step = max(1, config.block_bytes // max(1, data[:1].nbytes))
        for start in range(0, len(self), step):
            yield start, data[start : start + step, rows, cols]

    def drift_corrected_mean(
        self,
        box=None,
        ref_index: int = 0,
        upsample_factor: int = 20,
        method: str = "phase",
        *,
        order: int = 3,
        mode: str = "nearest",
    ) -> ImageFile:
        """Average a region of every frame after moving it back by its drift; the stack is not changed.

        Each frame's region is registered to the same region of frame
        ``ref_index`` with :func:`~stonerimg.funcs.correct_drift`, shifted
        back and added up, streaming over the frames (a disk stack is read one
        window at a time and never changed).  For float frames this equals
        ``stack.clone.crop_stack(box).correct_drifts(ref_index, ...).mean()``
        without the copy.

        Parameters
        ----------
        box : optional
            The region (any form :func:`~stonerimg.funcs.parse_box` accepts;
            default the whole frame).
        ref_index : int, default 0
            The frame taken as having no drift.
        upsample_factor : int, default 20
            The drift is found to ``1 / upsample_factor`` of a pixel.
        method : {"phase", "scharr"}, default "phase"
            See :func:`~stonerimg.funcs.correct_drift`.
        order, mode
            Interpolation of the shift (:func:`scipy.ndimage.shift`).

        Returns
        -------
        ImageFile
            The mean region in float64 (masks are not used), its metadata
            holding ``drifts`` (the ``(dx, dy)`` of each frame, in pixels) and
            ``box``.

        Examples
        --------
        >>> import numpy as np
        >>> from scipy import ndimage
        >>> yy, xx = np.mgrid[:48, :48]
        >>> ref = np.exp(-((xx - 20) ** 2 + (yy - 24) ** 2) / 18.0)
        >>> stack = ImageStack([ref, ndimage.shift(ref, (0, 3)), ndimage.shift(ref, (-2, 0))])
        >>> average = stack.drift_corrected_mean(box=(8, 40, 8, 40))
        >>> np.round(average.metadata["drifts"], 1).tolist()
        [[0.0, 0.0], [3.0, 0.0], [0.0, -2.0]]
        >>> average.shape
        (32, 32)
        """
        from .funcs.geometry import parse_box
        from .funcs.registration import correct_drift

        self._check_not_empty("drift_corrected_mean")
        n = len(self)
        ref_index = _frame_index(ref_index, n)
        reference = self._frame(ref_index)
        xmin, xmax, ymin, ymax = parse_box(reference.image, box)
        rows, cols = slice(ymin, ymax), slice(xmin, xmax)
        ref = np.array(reference.data[rows, cols], dtype=np.float64)
        del reference
        total = np.zeros(ref.shape, np.float64)
        drifts = np.zeros((n, 2))
        for start, block in self._blocks(rows, cols):
            for k, region in enumerate(block):
                moved = correct_drift(
                    ImageArray(np.asarray(region, dtype=np.float64)),
                    ref,
                    upsample_factor=upsample_factor,
                    method=method,
                    order=order,
                    mode=mode,
                )
                drifts[start + k] = moved.metadata["correct_drift"]
                total += moved.data
        options = {"box": (xmin, xmax, ymin, ymax), "ref_index": ref_index, "upsample_factor": upsample_factor}
        result = self._result(total / n, "drift_corrected_mean", options)
        result.metadata["drifts"] = drifts + 0.0  # no negative zeros
        result.metadata["box"] = (xmin, xmax, ymin, ymax)
        return result

    def load_plane(self, z: int = 0, c: int = 0, t: int = 0, size=None, offset=(0, 0), stride=(1, 1)) -> ImageArray:
        """Copy a (sub-sampled) region of frame ``z`` into a new in-memory image.

        Parameters
        ----------
        z : int, default 0
            The frame.
        c, t : int, default 0
            Channel and time (a stack has neither: only 0).
        size : (int, int), optional
            ``(w, h)``: pixels of the result along x and y (default: as many as
            fit from ``offset`` to the edge with ``stride``).
        offset : (int, int), default (0, 0)
            ``(x, y)`` of the first pixel.
        stride : int or (int, int), default (1, 1)
            ``(sx, sy)``: the step between pixels read.

        Returns
        -------
        ImageArray
            Of shape ``(h, w)``, with frame ``z``'s metadata and a calibration
            scaled by the stride and moved by the offset.  A disk stack reads
            only the bytes it needs.

        Examples
        --------
        >>> import numpy as np
        >>> stack = ImageStack(np.arange(2 * 4 * 6).reshape(2, 4, 6))
        >>> stack.load_plane(1, offset=(1, 0), stride=(2, 2)).data.tolist()
        [[25, 27, 29], [37, 39, 41]]
        """
        from .lazy import _check_zct, _plane_image, _plane_region

        z = _check_zct(z, c, t, len(self))
        rows, cols = _plane_region(self.frame_shape, size, offset, stride)
        data = np.array(self._image.data[z, rows, cols], copy=True)
        args = {"z": z, "size": (data.shape[1], data.shape[0]), "offset": offset, "stride": stride}
        return _plane_image(data, self.merged_metadata(z), rows, cols, args)

    def to_dask(self, chunks=None):
        """Return the pixels as a :class:`dask.array.Array` over the buffer (no copy).

        Parameters
        ----------
        chunks : optional
            Dask chunks (default ``"auto"``; a disk stack defaults to whole
            frames, as many per chunk as fit in :data:`stonerimg.config.block_bytes`).

        Examples
        --------
        >>> import numpy as np
        >>> stack = ImageStack(np.ones((4, 3, 2)))
        >>> stack.to_dask(chunks=(2, 3, 2)).sum().compute()
        np.float64(24.0)
        """
        # not dask.array.from_array(array): since dask 2024.12 it copies the array (and hashes it)
        return self._image.to_dask("auto" if chunks is None else chunks)

    # ------------------------------------------------------------ Kerr stacks
    @property
    def fields(self) -> np.ndarray:
        """The applied field of each frame (metadata ``field``, as :class:`KerrImage` fills it; NaN if absent)."""
        values = []
        for i in range(len(self)):
            value = self._records[i].get("field", self.metadata.get("field"))
            ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
            values.append(float(value) if ok else np.nan)
        return np.array(values, dtype=float)

    def hysteresis(self, mask=None, *, box=None) -> Hysteresis:
        """Mean intensity of each frame against the applied field.

        Parameters
        ----------
        mask : array_like of bool, optional
            Pixels to leave out, ``True`` = excluded as in :mod:`numpy.ma` (and
            Stoner): one ``(y, x)`` mask for every frame or an ``(n, y, x)``
            mask.  The stack's own masked pixels are always left out.
        box : optional
            Use only the pixels in this box (any form
            :func:`~stonerimg.funcs.parse_box` accepts).

        Returns
        -------
        Hysteresis
            ``field`` (:attr:`fields`), ``intensity`` (the mean of each frame's
            unmasked pixels, NaN for a frame with none) and the field's units.

        Examples
        --------
        >>> import numpy as np
        >>> stack = ImageStack(np.array([[[1.0, 3.0]], [[2.0, 6.0]]]), frame_metadata=[{"field": -5.0}, {"field": 5.0}])
        >>> loop = stack.hysteresis()
        >>> loop.to_numpy().tolist()
        [[-5.0, 2.0], [5.0, 4.0]]
        >>> stack.hysteresis(mask=np.array([[False, True]])).intensity.tolist()
        [1.0, 2.0]
        """
        from .funcs.geometry import box_to_slices

        rows, cols = box_to_slices(self._image, box)
        masked = self._masked()[:, rows, cols]
        if mask is not None:
            extra = np.asarray(mask)
            if extra.dtype != bool:
                raise TypeError(f"mask: must be a boolean array (True = left out), not of dtype {extra.dtype}")
            if extra.shape not in (self.frame_shape, self.shape):
                raise ValueError(
                    f"mask: its shape {extra.shape} is neither the frames' {self.frame_shape} nor {self.shape}"
                )
            extra = extra[..., rows, cols]
            masked = np.ma.MaskedArray(masked.data, mask=np.ma.getmaskarray(masked) | extra, copy=False)
        count = masked.count(axis=(1, 2))
        with np.errstate(invalid="ignore", divide="ignore"):
            sums = np.ma.getdata(masked.sum(axis=(1, 2), dtype=np.float64))
            intensity = np.where(count > 0, sums / np.maximum(count, 1), np.nan)
        units = ""
        if len(self):
            value = self.merged_metadata(0).get("field.units", "")
            units = value if isinstance(value, str) else ""
        return Hysteresis(self.fields, intensity, units)

    # ------------------------------------------------------------ TIFF
    def save(self, filename, *, fmt: str | None = None, **kwargs) -> ImageStack:
        """Save the stack as a multi-page TIFF with every frame's metadata (see :meth:`to_tiff`).

        Parameters
        ----------
        filename : str or os.PathLike
            A ``.tif``/``.tiff`` file (or any name with ``fmt="tiff"``).
        fmt : {"tiff", None}
            The only format that holds a stack with its per-frame metadata.
        **kwargs
            Passed to :meth:`to_tiff`.

        Raises
        ------
        ValueError
            For another format or extension.
        """
        path = Path(os.fspath(filename))
        if fmt not in (None, "tiff") or (fmt is None and path.suffix.lower() not in (".tif", ".tiff")):
            raise ValueError(
                f"filename: a stack of {len(self)} frames is saved as a multi-page TIFF (.tif), not {path.name!r}"
                + (f" (fmt={fmt!r})" if fmt else "")
            )
        self.to_tiff(path, **kwargs)
        return self

    def to_tiff(self, filename, **kwargs) -> Path:
        """Write the stack as one multi-page TIFF (atomically), every frame's metadata kept.

        Each page holds one frame in the stack's dtype (bool as 8-bit) and a
        JSON image description ``{"stonerimg.stack": {"frame": i, "metadata":
        ..., "filename": ...}}`` with that frame's record (lossless
        :class:`~stonerimg.Metadata` encoding).  The first page's description
        is also a complete stonerimg image document for the whole ``(n, y, x)``
        array (its dtype, shape, shared metadata and mask), so
        :func:`stonerimg.load` reads the file as one 3-D image.

        Parameters
        ----------
        filename : str or os.PathLike
            The file to write.
        **kwargs
            Passed to :meth:`tifffile.TiffWriter.write` (e.g. ``compression="zlib"``).

        Returns
        -------
        pathlib.Path
            The file written.
        """
        import tifffile

        from .formats import atomic_path
        from .formats._payload import encode_payload

        n = len(self)
        if n == 0:
            raise ValueError(f"filename: cannot write a stack with no frames to {os.fspath(filename)!r}")
        data = np.asarray(self._image.data)
        pages = data.view(np.uint8) if data.dtype == bool else data
        whole = json.loads(encode_payload(self._image))
        kwargs.setdefault("photometric", "minisblack")
        path = Path(os.fspath(filename))
        with atomic_path(path) as temp, tifffile.TiffWriter(temp, bigtiff=pages.nbytes > 2**32 - 2**25) as tif:
            for i in range(n):
                frame = {
                    "version": _STACK_VERSION,
                    "frame": i,
                    "frames": n,
                    "metadata": self._records[i].to_jsonable(),
                    "filename": self._filenames[i],
                }
                doc = {**whole, _STACK_KEY: frame} if i == 0 else {_STACK_KEY: frame}
                # " : " keeps tifffile from taking page 0's '"shape":' for its own "shaped" layout, which
                # assumes the pages' data are contiguous (they are not: each page has its own tags)
                text = json.dumps(doc, allow_nan=False, separators=(", ", " : "))
                tif.write(pages[i], description=text, metadata=None, **kwargs)
        return path

    @classmethod
    def from_tiff(cls, filename) -> ImageStack:
        """Read a multi-page TIFF as a stack (opened read-only).

        A file written by :meth:`to_tiff` comes back equal: pixels, dtype, mask,
        shared and per-frame metadata, file names.  A single stonerimg image
        becomes a stack of one frame (or of its planes, if 3-D).  Any other
        TIFF gives one frame per page, the TIFF tags (and page descriptions)
        every page shares as shared metadata and the rest per frame;
        multi-page files from the Stoner package keep each frame's metadata.

        Raises
        ------
        FileNotFoundError
            If the file does not exist.
        ValueError
            If the pages differ in shape (naming the page), are not 2-D, or our
            description does not fit the pages.
        stonerimg.FormatError
            If the file is not a readable TIFF.
        """
        import tifffile

        from .errors import FormatError
        from .formats._payload import decode_payload, is_payload, stoner_dtype, stoner_metadata
        from .formats.tiff import _stoner_frames, _tags_metadata

        path = Path(os.fspath(filename))
        if not path.is_file():
            raise FileNotFoundError(2, "No such file", str(path))
        try:
            with tifffile.TiffFile(path) as tif:
                pages = list(tif.pages)
                if not pages:
                    raise FormatError(path, reason="the TIFF has no pages")
                descriptions = [page.description or "" for page in pages]
                first = descriptions[0]
                ours = is_payload(first)
                shape = pages[0].shape
                for i, page in enumerate(pages):
                    if len(page.shape) != 2 and not ours:
                        raise ValueError(f"{path}: page {i} has shape {page.shape}, not that of a 2-D frame")
                    if page.shape != shape:
                        raise ValueError(f"{path}: page {i} has shape {page.shape}, page 0 {shape}")
                raw = np.empty((len(pages), *shape), dtype=pages[0].dtype)
                for i, page in enumerate(pages):
                    raw[i] = page.asarray()
                if ours:
                    return cls._from_our_tiff(path, raw, descriptions, decode_payload)
                records = []
                for i, page in enumerate(pages):
                    md = _tags_metadata(page)
                    if descriptions[i]:
                        md["tiff.ImageDescription"] = descriptions[i]
                    records.append(md)
                stoner = _stoner_frames(first)
                if stoner is not None and len(stoner) == len(pages):
                    for record, entries in zip(records, stoner, strict=True):
                        record.update(stoner_metadata(entries))
                        record.pop("tiff.ImageDescription", None)
                    raw = stoner_dtype(records[0], raw)
        except tifffile.TiffFileError as err:
            raise FormatError(path, [("tiff", f"not a readable TIFF file: {err}")]) from err
        shared, frames = _split_common(records)
        stack = cls(raw, metadata=shared)
        stack._records = frames
        stack._filenames = [str(path)] * len(frames)
        return stack

    @classmethod
    def _from_our_tiff(cls, path: Path, raw: np.ndarray, descriptions: list[str], decode_payload) -> ImageStack:
        try:
            first = json.loads(descriptions[0])
            data, shared, mask = decode_payload(descriptions[0], raw)
        except ValueError as err:
            raise ValueError(f"{path}: the stonerimg description of page 0 is malformed: {err}") from err
        if _STACK_KEY not in first:  # an image saved by stonerimg.save: one frame (or its planes)
            if data.ndim == 2:
                data = data[None]
                mask = None if mask is None else mask[None]
                stack = cls(data, frame_metadata=[shared])
            else:
                stack = cls(data.reshape(-1, *data.shape[-2:]), metadata=shared)
                mask = None if mask is None else mask.reshape(stack.shape)
            if mask is not None:
                stack._image._set_mask_fast(mask)
            stack._filenames = [str(path)] * len(stack)
            return stack
        if data.ndim != 3 or data.shape[0] != len(descriptions):
            raise ValueError(f"{path}: the description records shape {data.shape} for {len(descriptions)} pages")
        records, filenames = [], []
        for i, text in enumerate(descriptions):
            try:
                frame = json.loads(text)[_STACK_KEY]
                if frame.get("frame") != i:
                    raise ValueError(f"it says it is frame {frame.get('frame')!r}")
                records.append(Metadata.from_json(json.dumps(frame["metadata"])))
                filenames.append(str(frame.get("filename", "")))
            except (ValueError, KeyError, TypeError, AttributeError) as err:
                raise ValueError(f"{path}: the stack description of page {i} is malformed: {err}") from err
        stack = cls(data, metadata=shared)
        stack._records = records
        stack._filenames = filenames
        if mask is not None:
            stack._image._set_mask_fast(mask)
        return stack
