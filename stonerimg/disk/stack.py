"""The disk-backed ImageStack: :class:`DiskImageStack`, whose frames stay in a file."""

from __future__ import annotations

import logging
import numbers
import uuid
import weakref
from collections.abc import Iterator, Mapping

import numpy as np

from .. import config
from ..array import ImageArray
from ..imagefile import ImageFile
from ..metadata import Metadata
from ..stack import ImageStack, _as_2d_image, _difference, _frame_index
from .backends import _Backend, _check_int, _FrameSource, _scratch_backend
from .image import _check_zct, _maps_file, _persist, _plane_image, _plane_region

logger = logging.getLogger(__name__)


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
