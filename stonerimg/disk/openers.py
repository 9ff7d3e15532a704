"""Opening files as disk images: :func:`open`, :func:`open_raw` and the per-format openers (NPY, TIFF, NeXus, STXM)."""

from __future__ import annotations

import builtins
import json
import os
from pathlib import Path

import numpy as np

from ..errors import FormatError, FormatMismatch
from ..formats._payload import read_payload, recorded_class, unpack_mask
from ..imagefile import ImageFile
from ..metadata import Metadata
from ..stack import ImageStack
from .backends import _Backend, _check_int, _check_mode, _HDF5Backend, _RawBackend, _TiffPagesBackend
from .image import DiskImage, DiskImageFile
from .scratch import _shape_tuple
from .stack import DiskImageStack

_DISK_CLASSES: dict[type, type] = {ImageFile: DiskImageFile}


def _disk_class(cls: type) -> type:
    """Return the disk-backed variant of an ImageFile (or ImageStack) subclass, made once."""
    if issubclass(cls, (DiskImage, DiskImageStack)):
        return cls
    if cls not in _DISK_CLASSES:
        base = DiskImage if issubclass(cls, ImageFile) else DiskImageStack
        _DISK_CLASSES[cls] = type(f"Disk{cls.__name__}", (base, cls), {"__module__": cls.__module__})
    return _DISK_CLASSES[cls]


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


def open_npy(path, mode: str = "r"):
    """Open a ``.npy`` file as a disk image (memmap; its ``.npy.json`` sidecar gives the metadata)."""
    from numpy.lib import format as npy_format

    from ..formats.npy import _check_header, read_sidecar, sidecar

    _check_header(path, in_memory=False)
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
    metadata, mask, cls = Metadata(), None, None
    text = read_sidecar(path)
    if text is not None:
        try:
            p_dtype, p_shape, metadata, bits, doc = read_payload(text)
            cls = recorded_class(doc.get("format"), ImageFile)
        except (ValueError, KeyError, TypeError) as err:
            raise FormatMismatch(f"its sidecar {sidecar(path).name} is malformed: {err}") from err
        shape = _image_shape(path, _check_payload_fits(path, p_dtype, p_shape, dtype, shape))
        mask = unpack_mask(bits, shape)
    backend = _RawBackend(path, offset, dtype, shape if len(shape) == 3 else (1, *shape), _check_mode(mode))
    return _document(backend, len(shape), metadata, cls, mask=mask)


def _tiff_metadata(tif, page, dtype) -> Metadata:
    """Return the metadata ``stonerimg.load`` gives a TIFF that is not ours (tags, ImageJ, Stoner items, calibration).

    Raises FormatMismatch for a Stoner file whose recorded dtype differs from the
    stored one (``load`` converts it; a mapping cannot).
    """
    from ..formats._payload import stoner_dtype
    from ..formats.tiff import foreign_metadata

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


def open_tiff(path, mode: str = "r"):
    """Open a TIFF (one image or a stack of pages) as a disk image.

    Uncompressed pages evenly spaced in the file (as tifffile, ImageJ and
    :meth:`ImageStack.to_tiff` write them, BigTIFF too) are memory-mapped;
    compressed pages are decoded one plane at a time when asked for.
    """
    import tifffile

    from ..formats._payload import is_payload
    from ..formats.tiff import _check_size
    from ..stack import _STACK_KEY

    mode = _check_mode(mode)
    try:
        tif = tifffile.TiffFile(path)
    except tifffile.TiffFileError as err:
        raise FormatMismatch(f"not a readable TIFF file: {err}") from err
    with tif:
        _check_size(tif, os.path.getsize(path), in_memory=False)
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
        records, filenames, mask, cls = None, None, None, None
        if is_payload(description):
            try:
                p_dtype, p_shape, metadata, bits, doc = read_payload(description)
                cls = recorded_class(doc.get("format"), ImageFile)
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
    return _document(backend, len(shape), metadata, cls, mask=mask, records=records, filenames=filenames)


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


def open_nexus(path, mode: str = "r", *, signal=None):
    """Open the image of a NeXus (or plain HDF5) file as a disk image, choosing it as ``stonerimg.load`` does."""
    import h5py

    from ..formats import nexus
    from ..formats._hdf5 import open_hdf5
    from ..formats._limits import check_dataset

    mode = _check_mode(mode)
    with open_hdf5(path) as root:
        dataset, group = nexus._find(h5py, root) if signal is None else nexus._explicit(h5py, root, signal)
        if len(dataset.shape) > 3:
            raise FormatMismatch(
                f"its signal {dataset.name} has shape {dataset.shape}: open() gives 2-D images and 3-D stacks; "
                "load() it instead"
            )
        check_dataset(path, dataset, in_memory=False)
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


def open_stxm(path, mode: str = "r", *, regrid=False, bcn: bool = False):
    """Open a PolLux STXM file as a disk :class:`~stonerimg.formats.stxm.STXMImage` (row 0 = highest y, as loaded).

    The metadata is what :func:`stonerimg.load` gives; the pixels stay in the
    file, seen through a view with the rows reversed.
    """
    from ..formats import stxm
    from ..formats._hdf5 import open_hdf5
    from ..formats._limits import check_dataset

    mode = _check_mode(mode)
    if regrid or bcn:
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
            check_dataset(path, dataset, in_memory=False)
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
        Passed to the format's ``open`` (e.g. ``signal=`` for NeXus); an option
        the chosen format does not take is a TypeError naming it and the options
        that format accepts.

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
    from ..formats._hdf5 import using_external

    with using_external(external):
        return _open(path, mode, fmt, cls, kwargs)


def _open(path, mode, fmt, cls, kwargs):
    from ..formats import _all_formats, _head, _resolve, _try_formats, candidates, get

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
    document = _try_formats(
        lazy,
        "open",
        path,
        kwargs,
        attempts,
        lambda f, options: _resolve(f.open)(path, mode=mode, **options),
        fmt is None,
    )
    if document is not None:
        if isinstance(document, DiskImage):
            document.filename = str(path.absolute())
        return document
    raise FormatError(path, attempts, reason="no format could open it lazily")
