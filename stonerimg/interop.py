"""Conversions to and from xarray and HyperSpy, keeping calibration, mask and metadata.

Four plain functions, image first:

- :func:`to_xarray` / :func:`from_xarray`: an :class:`xarray.DataArray` with dims
  ``("y", "x")`` (a stack: ``("frame", "y", "x")``) whose coordinates come from the
  calibration, with the metadata as attributes and the mask as a ``mask`` coordinate;
- :func:`to_hyperspy` / :func:`from_hyperspy`: a HyperSpy ``Signal2D`` whose axes carry
  the calibration and whose ``original_metadata`` holds the metadata (a stack has one
  navigation axis).

The pixels are shared, not copied, both ways (for in-memory NumPy data).  Round trips
give back equal data, mask, metadata and calibration.  Coordinates and axes win over
the metadata's ``calibration.*`` items when the two disagree (after the DataArray or
the signal has been cropped, say).  xarray and HyperSpy are imported only when these
functions are called; HyperSpy is an optional extra.
"""

from __future__ import annotations

import importlib
import math
import os
from collections.abc import Mapping

import numpy as np

from .array import ImageArray
from .errors import warn_user
from .imagefile import ImageFile
from .metadata import Metadata, flat_items
from .stack import ImageStack

__all__ = ["from_hyperspy", "from_xarray", "to_hyperspy", "to_xarray"]

#: Attribute that holds the lossless JSON of the metadata (``to_xarray(..., serialisable=True)``).
JSON_ATTR = "stonerimg_metadata"
#: Name of the stack dimension (xarray) and navigation axis (HyperSpy).
FRAME = "frame"
#: Coordinates with a meaning of their own, never turned into metadata items.
_RESERVED = frozenset({FRAME, "x", "y", "mask", "filename", "frame_metadata"})
#: Node of a HyperSpy signal's ``metadata`` where :func:`to_hyperspy` keeps what HyperSpy has no place for.
HYPERSPY_NODE = "stonerimg"
#: Key of a node's own value in the metadata tree given to HyperSpy (``a`` when ``a.b`` is a key too).
_OWN_VALUE = "value_"
#: Frame dimensions whose evenly spaced coordinate is the ``calibration.z`` of a stack.
_Z_DIMS = (FRAME, "z")


# ---------------------------------------------------------------- shared helpers
def _require(module: str, purpose: str, install: str):
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(f"{purpose} needs {module.split('.')[0]}, which is not installed: {install}") from err


def _source(image, where: str = "image") -> tuple[ImageArray, list[Metadata] | None, list[str] | None]:
    """Return ``(pixels, frame records or None, frame file names or None)`` of what can be converted."""
    if isinstance(image, ImageStack):
        return image.image, list(image.frame_metadata), list(image.filenames)
    if isinstance(image, ImageFile):
        image = image.image
    elif isinstance(image, np.ndarray) and not isinstance(image, ImageArray):
        image = ImageArray(image)
    elif not isinstance(image, ImageArray):
        raise TypeError(
            f"{where}: an ImageArray, ImageFile, ImageStack or NumPy array is needed, not a {type(image).__name__}"
        )
    if image.ndim not in (2, 3):
        raise ValueError(f"{where}: a 2-D (y, x) image or a 3-D (frame, y, x) stack is needed, not shape {image.shape}")
    return image, None, None


def _mask_of(image: ImageArray) -> np.ndarray | None:
    """Return a copy of the image's mask, or None when no pixel is masked."""
    mask = np.ma.getmask(image)
    if mask is np.ma.nomask or not mask.any():
        return None
    return np.array(mask, dtype=bool, copy=True)


def _has_calibration(metadata: Mapping, axis: str) -> bool:
    return any(key.startswith(f"calibration.{axis}.") for key in metadata)


def _calibrate(image: ImageArray, axis: str, *, scale=None, offset=None, units=None) -> None:
    """Make ``calibration.{axis}.*`` say ``scale``, ``offset`` and ``units``, leaving items that already agree.

    ``None`` leaves that item as it is.  Values within rounding of the present ones
    (a scale recomputed from coordinates) keep the present, exact, values.
    """
    current = image._axis_calibration(axis)
    md = image.metadata
    if scale is not None and not math.isclose(scale, current.scale, rel_tol=1e-9):
        md[f"calibration.{axis}.scale"] = float(scale)
    step = abs(current.scale if scale is None else scale)
    if offset is not None and not math.isclose(offset, current.offset, rel_tol=1e-9, abs_tol=1e-9 * step):
        md[f"calibration.{axis}.offset"] = float(offset)
    if units is not None and units != current.units:
        md[f"calibration.{axis}.units"] = str(units)


def _uncalibrate(image: ImageArray, axis: str, coordinates, units, what: str) -> None:
    """Record coordinates that are not evenly spaced, drop the axis' scale and offset, and warn."""
    from .formats.rsciio import _plain

    md = image.metadata
    md.pop(f"calibration.{axis}.scale", None)
    md.pop(f"calibration.{axis}.offset", None)
    if units is not None:
        md[f"calibration.{axis}.units"] = str(units)
    md[f"coordinates.{axis}"] = _plain(np.asarray(coordinates))
    warn_user(
        f"{what} is not evenly spaced (or not numeric), so it gives no pixel size: the image's {axis} axis is "
        f"left without scale and offset, and the coordinates are kept in metadata['coordinates.{axis}']"
    )


def _linear(values) -> tuple[float | None, float] | None:
    """``(scale, offset)`` of evenly spaced coordinates (scale None for one value), or None."""
    c = np.asarray(values)
    if c.ndim != 1 or c.size == 0 or c.dtype.kind not in "iuf":
        return None
    c = c.astype(float)
    if not np.all(np.isfinite(c)):
        return None
    if c.size == 1:
        return None, float(c[0])
    step = (c[-1] - c[0]) / (c.size - 1)
    if step == 0 or not np.allclose(c, c[0] + step * np.arange(c.size), rtol=0, atol=1e-6 * abs(step)):
        return None
    return float(step), float(c[0])


def _tree(metadata: Metadata, slug=None) -> dict:
    """Return :meth:`Metadata.tree` with a node's own value under ``"value_"`` (HDF5 has no empty names).

    ``slug(key)`` gives the attribute name HyperSpy's tree browser makes of a key: keys
    of one node that it would spell alike (``"a b"`` and ``"a_b"``) merge there, or
    fail, so all but the first get a numbered suffix.
    """

    def rename(node: dict) -> dict:
        out: dict = {}
        taken: set = set()
        for key, value in node.items():
            key = _OWN_VALUE if key == "" else key
            if slug is not None:
                unique, n = key, 1
                while slug(unique) in taken:
                    n += 1
                    unique = f"{key} ({n})"
                taken.add(slug(unique))
                key = unique
            out[key] = rename(value) if isinstance(value, dict) else value
        return out

    return rename(metadata.tree())


def _merge_new(metadata: Metadata, items: Mapping, *trees: Mapping) -> None:
    """Add the items whose key is not in ``metadata`` nor in any of the metadata trees ``trees``."""
    from .formats.rsciio import _plain

    known = set(metadata)
    for tree in trees:
        known.update(key for key, _ in flat_items(tree, own=_OWN_VALUE))
    for key, value in items.items():
        if key not in known:
            metadata[key] = _plain(value)


def _scalar(value):
    """Return a 0-d array or NumPy scalar as a value the metadata codec stores."""
    from .formats.rsciio import _plain

    return _plain(np.asarray(value)[()])


def _finish(
    image: ImageArray,
    cls,
    records: list[Metadata] | None,
    filenames: list[str] | None,
    what: str,
):
    """Turn an ImageArray into the requested class: ``None`` picks ImageArray (2-D) or ImageStack (3-D)."""
    if cls is None:
        cls = ImageStack if image.ndim == 3 else ImageArray
    if not isinstance(cls, type) or not issubclass(cls, (ImageArray, ImageFile, ImageStack)):
        raise TypeError(f"cls: must be ImageArray, ImageFile or ImageStack (or a subclass), not {cls!r}")
    n = image.shape[0]
    if issubclass(cls, ImageStack):
        if image.ndim != 3:
            raise ValueError(f"cls: an ImageStack needs a 3-D {what}, not one of shape {image.shape}")
        records = records if records is not None else [Metadata() for _ in range(n)]
        filenames = filenames if filenames is not None else [""] * n
        return cls._new(image, records, filenames, [ImageFile] * n)
    if records is not None and any(records):
        warn_user(f"the per-frame metadata of the {what} is dropped: make an ImageStack (cls=None) to keep it")
    if issubclass(cls, ImageFile):
        doc = cls(image)
        doc.image = image  # the same ImageArray, not a view with copied metadata
        return doc
    return image if cls is ImageArray else image.view(cls)


def _decode(value, what: str) -> Metadata:
    """Read a stored record: JSON text written by :meth:`Metadata.to_json`, or a mapping."""
    if isinstance(value, Mapping):
        return Metadata(value)
    if not isinstance(value, (str, bytes)):
        raise ValueError(f"{what}: a stored metadata record must be JSON text or a mapping, not {type(value).__name__}")
    try:
        return Metadata.from_json(value)
    except ValueError as err:
        raise ValueError(f"{what}: its stored metadata cannot be read: {err}") from err


def _records_from_json(items, n: int, what: str) -> list[Metadata] | None:
    records = [_decode(item, what) for item in items]
    if len(records) != n:
        warn_user(f"the {what} holds {len(records)} frame records for {n} frames: the records are dropped")
        return None
    return records


# ---------------------------------------------------------------- xarray
def to_xarray(image, *, serialisable: bool = False):
    """Make an :class:`xarray.DataArray` of an image or a stack, sharing its pixels.

    Parameters
    ----------
    image : ImageArray, ImageFile, ImageStack or numpy.ndarray
        A 2-D image or a 3-D stack of frames.
    serialisable : bool, default False
        Store the metadata as one JSON text attribute (``"stonerimg_metadata"``),
        and each frame's record as JSON text, so that :meth:`xarray.DataArray.to_netcdf`
        (or zarr) can write the DataArray.  By default the attributes are the
        metadata items themselves, with their Python values.

    Returns
    -------
    xarray.DataArray
        - dims ``("y", "x")``, or ``("frame", "y", "x")`` for a stack or a 3-D image;
        - coordinates ``x`` and ``y``: ``offset + scale * index`` from
          ``calibration.{x,y}.*`` (pixel indices when uncalibrated), with the units in
          the coordinate's ``attrs["units"]``; a ``frame`` coordinate only where the
          metadata has ``calibration.z.*``;
        - ``attrs``: the (shared) metadata, one attribute per dotted key;
        - coordinate ``mask`` (bool, same dims as the data) when a pixel is masked;
        - for a stack, coordinate ``frame_metadata`` along ``frame`` holding each
          frame's own record, coordinate ``filename`` when frames came from files,
          and one coordinate per item that every frame record has as a number,
          bool or string (e.g. ``field``), for selecting and plotting;
        - ``name``: ``metadata["title"]`` if set, and ``encoding["source"]``: the
          file name.

    Raises
    ------
    TypeError
        If ``image`` is not an image, stack or array.
    ValueError
        If it is neither 2-D nor 3-D.
    ImportError
        If xarray is not installed.

    Notes
    -----
    The pixels are not copied: the DataArray wraps the image's buffer, masked pixels
    included, so ``da.where(~da.mask)`` gives NaN where the image is masked.

    Examples
    --------
    >>> import numpy as np
    >>> from stonerimg import ImageArray
    >>> im = ImageArray(np.zeros((2, 3)), metadata={"sample": "Py"}).set_calibration(0.5, "nm")
    >>> da = to_xarray(im)
    >>> da.dims, da.x.values.tolist(), da.x.attrs["units"], da.attrs["sample"]
    (('y', 'x'), [0.0, 0.5, 1.0], 'nm', 'Py')
    """
    xr = _require("xarray", "to_xarray", "pip install xarray")
    pixels, records, filenames = _source(image)
    md = pixels.metadata
    dims = ("y", "x") if pixels.ndim == 2 else (FRAME, "y", "x")
    coords: dict = {}
    for axis, size in zip("yx", pixels.shape[-2:], strict=True):
        cal = pixels._axis_calibration(axis)
        coords[axis] = (axis, cal.to_physical(np.arange(size)), {"units": cal.units})
    if pixels.ndim == 3 and _has_calibration(md, "z"):
        cal = pixels._axis_calibration("z")
        coords[FRAME] = (FRAME, cal.to_physical(np.arange(pixels.shape[0])), {"units": cal.units})
    mask = _mask_of(pixels)
    if mask is not None:
        coords["mask"] = (dims, mask)
    if records is not None:
        coords["frame_metadata"] = (FRAME, _record_column(records, serialisable))
        coords.update(_common_items(records))
        if any(filenames):
            coords["filename"] = (FRAME, np.array(filenames, dtype=str))
    attrs = {JSON_ATTR: md.to_json()} if serialisable else dict(md)
    title = md.get("title")
    da = xr.DataArray(
        np.asarray(pixels.data), dims=dims, coords=coords, attrs=attrs, name=str(title) if title else None
    )
    if pixels.filename:
        da.encoding["source"] = pixels.filename
    return da


def _record_column(records: list[Metadata], serialisable: bool) -> np.ndarray:
    if serialisable:
        return np.array([r.to_json() for r in records], dtype=str)
    column = np.empty(len(records), dtype=object)
    for i, record in enumerate(records):
        column[i] = record.copy()
    return column


def _common_items(records: list[Metadata]) -> dict:
    """Coordinates along ``frame`` for the items every record holds as numbers, bools or strings of one kind."""
    if not records:
        return {}
    coords = {}
    for key in records[0]:
        if key in _RESERVED or not all(key in r for r in records):
            continue
        values = [r[key] for r in records]
        kinds = {_kind(v) for v in values}
        if len(kinds) == 1 and None not in kinds:
            coords[key] = (FRAME, np.array(values))
    return coords


def _kind(value) -> str | None:
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, (int, float, np.integer, np.floating)):
        return "number"
    if isinstance(value, str):
        return "str"
    return None


def from_xarray(data_array, *, cls=None):
    """Make an image (or a stack) from an :class:`xarray.DataArray`, sharing its pixels.

    Parameters
    ----------
    data_array : xarray.DataArray
        A 2-D or 3-D DataArray: one made by :func:`to_xarray`, or any other.  When it
        has dimensions named ``x`` and ``y`` they become the last two axes (in that
        order: ``(..., y, x)``); otherwise the last two dimensions are taken as
        ``(y, x)``, and a third as the frames.
    cls : type, optional
        What to make: :class:`~stonerimg.ImageArray`, :class:`~stonerimg.ImageFile`,
        :class:`~stonerimg.ImageStack` or a subclass.  Default: an ImageArray for
        2-D data, an ImageStack for 3-D.

    Returns
    -------
    ImageArray, ImageFile or ImageStack
        - pixels: the DataArray's values (not copied when they are a NumPy array);
        - metadata: the attributes (the JSON of a serialisable DataArray, then any
          attribute it does not hold), then any scalar coordinate (such as the
          ``frame_metadata`` and per-frame items of one frame selected from a stack);
        - calibration: from evenly spaced ``x`` and ``y`` coordinates (and a ``frame``
          or ``z`` coordinate of a stack), with their ``attrs["units"]``; where they
          agree with the ``calibration.*`` attributes those are kept as they are;
        - mask: from a ``mask`` coordinate;
        - a stack's frame records: from ``frame_metadata``, and every other
          coordinate along the frame dimension becomes an item of each frame's record.

    Raises
    ------
    TypeError
        If ``data_array`` is not a DataArray, or ``cls`` is not an image class.
    ValueError
        If it is neither 2-D nor 3-D, or ``cls`` is an ImageStack and it is 2-D.

    Warns
    -----
    UserWarning
        When the ``x`` or ``y`` coordinates are not evenly spaced (the axis then has no
        scale and offset, and the coordinates are kept in ``metadata["coordinates.x"]``),
        or when other coordinates are left out.

    Examples
    --------
    >>> import numpy as np
    >>> import xarray as xr
    >>> da = xr.DataArray(np.zeros((2, 3)), dims=("y", "x"), coords={"x": [10.0, 12.0, 14.0]})
    >>> da.x.attrs["units"] = "µm"
    >>> im = from_xarray(da)
    >>> im.shape, im.calibration.x
    ((2, 3), AxisCalibration(scale=2.0, offset=10.0, units='µm'))
    """
    xr = _require("xarray", "from_xarray", "pip install xarray")
    if not isinstance(data_array, xr.DataArray):
        raise TypeError(f"data_array: an xarray.DataArray is needed, not a {type(data_array).__name__}")
    da = data_array
    if da.ndim not in (2, 3):
        raise ValueError(
            f"data_array: a 2-D (y, x) or 3-D (frame, y, x) DataArray is needed, not one with dims {da.dims}"
        )
    if "x" in da.dims and "y" in da.dims:
        da = da.transpose(..., "y", "x")
    frame_dim = da.dims[0] if da.ndim == 3 else None
    ydim, xdim = da.dims[-2:]
    what = f"DataArray {da.name!r}" if da.name is not None else "DataArray"

    attrs = {str(k): v for k, v in da.attrs.items()}
    text = attrs.pop(JSON_ATTR, None)
    md = _decode(text, what) if text is not None else Metadata()
    for key, value in attrs.items():
        if key not in md:
            md[key] = value

    mask = None
    filename = da.encoding.get("source", "")
    records: list[Metadata] | None = None
    filenames: list[str] | None = None
    per_frame: dict = {}
    scalars: dict = {}
    left_out = []
    for name, coord in da.coords.items():
        name = str(name)
        if name in (xdim, ydim, frame_dim):
            continue
        if name == "mask" and coord.dims == da.dims:
            mask = np.array(coord.to_numpy(), dtype=bool, copy=True)
        elif coord.ndim == 0:
            scalars[name] = coord.to_numpy()
        elif frame_dim is not None and coord.dims == (frame_dim,):
            per_frame[name] = coord.to_numpy()
        else:
            left_out.append(name)
    if left_out:
        warn_user(f"the coordinates {left_out} of the {what} have no place in an image and are left out")

    record = scalars.pop("frame_metadata", None)
    if record is not None:
        record = record[()]
        md.update(_decode(record, what))
    if "filename" in scalars:
        filename = str(scalars.pop("filename")[()])
    for name, value in scalars.items():
        if name not in _RESERVED and name not in md:
            md[name] = _scalar(value)

    if frame_dim is not None:
        n = da.shape[0]
        if "frame_metadata" in per_frame:
            records = _records_from_json(per_frame.pop("frame_metadata").tolist(), n, what)
        if "filename" in per_frame:
            filenames = [str(f) for f in per_frame.pop("filename").tolist()]
        if frame_dim in da.indexes and not (frame_dim in _Z_DIMS and _linear(da[frame_dim].to_numpy())):
            per_frame[str(frame_dim)] = da[frame_dim].to_numpy()
        if per_frame:
            records = records if records is not None else [Metadata() for _ in range(n)]
            for name, values in per_frame.items():
                for record_i, value in zip(records, values, strict=True):
                    if name not in record_i:
                        record_i[name] = _scalar(value)

    image = ImageArray(da.to_numpy(), mask=np.ma.nomask if mask is None else mask, metadata=md)
    image.filename = filename
    z_dim = frame_dim if frame_dim in _Z_DIMS else None
    for axis, dim in (("x", xdim), ("y", ydim), ("z", z_dim)):
        if dim is None or dim not in da.indexes:
            continue
        coordinate = da[dim]
        units = coordinate.attrs.get("units")
        units = str(units) if units is not None else None
        linear = _linear(coordinate.to_numpy())
        if linear is not None:
            _calibrate(image, axis, scale=linear[0], offset=linear[1], units=units)
        elif axis != "z":
            _uncalibrate(image, axis, coordinate.to_numpy(), units, f"the {dim!r} coordinate of the {what}")
    if da.name is not None and str(da.name) != image.title:
        image.metadata["title"] = str(da.name)
    return _finish(image, cls, records, filenames, what)


# ---------------------------------------------------------------- HyperSpy
def _hyperspy_slug():
    slugify = importlib.import_module("hyperspy.misc.utils").slugify
    return lambda key: slugify(key, valid_variable_name=True)


def _hyperspy_axis(name: str, size: int, image: ImageArray, axis: str) -> dict:
    cal = image._axis_calibration(axis)
    spec = {"name": name, "size": size, "scale": cal.scale, "offset": cal.offset, "units": cal.units}
    if axis == "z" and not _has_calibration(image.metadata, "z"):
        del spec["units"]  # frames are not pixels: leave HyperSpy's "undefined"
    return spec


def to_hyperspy(image):
    """Make a HyperSpy ``Signal2D`` of an image (or a stack), sharing its pixels.

    Parameters
    ----------
    image : ImageArray, ImageFile, ImageStack or numpy.ndarray
        A 2-D image or a 3-D stack of frames.

    Returns
    -------
    hyperspy.signals.Signal2D
        (``ComplexSignal2D`` for complex pixels.)  The signal axes are ``x`` and ``y``
        with the calibration's scale, offset and units; HyperSpy lists signal axes x
        first, so a ``(20, 100)`` image has signal shape ``(100, 20)``.  A stack has
        one navigation axis, ``frame`` (calibrated from ``calibration.z.*`` if set).

        - ``original_metadata``: the (shared) metadata as a tree split at the dots;
        - ``metadata.General.title``: the image's title (and ``original_filename``);
        - ``metadata.stonerimg``: what HyperSpy has no place for: the lossless JSON
          of the metadata (``metadata_json``), the ``mask`` when a pixel is masked,
          the ``filename``, and a stack's ``frame_metadata`` (one JSON text per
          frame) and ``filenames``.

    Raises
    ------
    TypeError
        If ``image`` is not an image, stack or array.
    ValueError
        If it is neither 2-D nor 3-D.
    ImportError
        If HyperSpy is not installed.

    Examples
    --------
    >>> import numpy as np
    >>> from stonerimg import ImageArray
    >>> im = ImageArray(np.zeros((20, 100))).set_calibration(0.25, "nm")
    >>> signal = to_hyperspy(im)
    >>> signal.axes_manager.signal_shape, signal.axes_manager["x"].units
    ((100, 20), 'nm')
    """
    signals = _require("hyperspy.signals", "to_hyperspy", "pip install hyperspy")
    pixels, records, filenames = _source(image)
    md = pixels.metadata
    axes = [_hyperspy_axis(axis, size, pixels, axis) for axis, size in zip("yx", pixels.shape[-2:], strict=True)]
    if pixels.ndim == 3:
        axes.insert(0, _hyperspy_axis(FRAME, pixels.shape[0], pixels, "z"))
    node: dict = {"metadata_json": md.to_json()}
    mask = _mask_of(pixels)
    if mask is not None:
        node["mask"] = mask
    general = {"title": pixels.title}
    if pixels.filename:
        node["filename"] = pixels.filename
        general["original_filename"] = os.path.basename(pixels.filename)
    if records is not None:
        node["frame_metadata"] = [r.to_json() for r in records]
        if any(filenames):
            node["filenames"] = list(filenames)
    kind = signals.ComplexSignal2D if np.iscomplexobj(pixels) else signals.Signal2D
    return kind(
        np.asarray(pixels.data),
        axes=axes,
        metadata={"General": general, HYPERSPY_NODE: node},
        original_metadata=_tree(md, _hyperspy_slug()),
    )


def _units_of(axis) -> str | None:
    units = getattr(axis, "units", None)
    if not isinstance(units, str) or units.strip().lower() in ("", "<undefined>", "undefined"):
        return None
    return units


def from_hyperspy(signal, *, cls=None):
    """Make an image (or a stack) from a HyperSpy signal, sharing its pixels.

    Parameters
    ----------
    signal : hyperspy.signal.BaseSignal
        A signal of 2-D data (an image) or 3-D data (a stack of images; the first
        array axis is the frames): one made by :func:`to_hyperspy`, or any other
        (``hyperspy.api.load(...)``).  A lazy signal is computed.
    cls : type, optional
        What to make: :class:`~stonerimg.ImageArray`, :class:`~stonerimg.ImageFile`,
        :class:`~stonerimg.ImageStack` or a subclass.  Default: an ImageArray for
        2-D data, an ImageStack for 3-D.

    Returns
    -------
    ImageArray, ImageFile or ImageStack
        - calibration: from the axes (x is the last array axis, y the one before, z
          the frames); items of the metadata that agree with them are kept as they are;
        - metadata from a signal made by :func:`to_hyperspy`: the lossless copy it
          stored, plus any item added to ``original_metadata`` since (the stored copy
          wins for items it holds); the mask and frame records it stored;
        - metadata from any other signal: ``original_metadata`` flattened to dotted
          keys, HyperSpy's own ``metadata`` under ``hyperspy.*``, ``title`` from
          ``General.title`` and the file name from ``tmp_parameters``.

    Raises
    ------
    TypeError
        If ``signal`` is not a HyperSpy signal, or ``cls`` is not an image class.
    ValueError
        If its data is neither 2-D nor 3-D.
    ImportError
        If HyperSpy is not installed.

    Warns
    -----
    UserWarning
        For an axis that is not uniform (the coordinates are kept in
        ``metadata["coordinates.x"]``), or a stored mask or frame records that no
        longer fit the data (after cropping in HyperSpy): they are dropped.
    """
    base = _require("hyperspy.signal", "from_hyperspy", "pip install hyperspy")
    if not isinstance(signal, base.BaseSignal):
        raise TypeError(f"signal: a HyperSpy signal is needed, not a {type(signal).__name__}")
    data = signal.data
    if hasattr(data, "compute"):  # a lazy signal's dask array
        data = data.compute()
    data = np.asarray(data)
    title = signal.metadata.get_item("General.title", "")
    what = f"signal {title!r}" if title else "signal"
    if data.ndim not in (2, 3):
        raise ValueError(f"signal: 2-D (y, x) or 3-D (frame, y, x) data is needed, not shape {data.shape}")
    axes = sorted(
        (*signal.axes_manager.navigation_axes, *signal.axes_manager.signal_axes), key=lambda a: a.index_in_array
    )
    original = signal.original_metadata.as_dictionary()
    hs_md = signal.metadata.as_dictionary()
    node = hs_md.pop(HYPERSPY_NODE, None)
    node = node if isinstance(node, Mapping) and "metadata_json" in node else None
    records = filenames = None
    mask = None
    if node is not None:
        md = _decode(node["metadata_json"], what)
        # items added in HyperSpy: keys of original_metadata that the stored copy does not explain
        _merge_new(md, dict(flat_items(original, own=_OWN_VALUE)), _tree(md, _hyperspy_slug()))
        filename = str(node.get("filename", ""))
        if node.get("mask") is not None:
            mask = np.array(node["mask"], dtype=bool, copy=True)
            if mask.shape != data.shape:
                warn_user(f"the mask stored with the {what} has shape {mask.shape}, not {data.shape}: it is dropped")
                mask = None
        if data.ndim == 3 and node.get("frame_metadata") is not None:
            records = _records_from_json(list(node["frame_metadata"]), data.shape[0], what)
            if records is not None and node.get("filenames") is not None:
                filenames = [str(f) for f in node["filenames"]]
    else:
        from .formats.rsciio import _plain

        md = Metadata({key: _plain(value) for key, value in flat_items(original)})
        md.update({f"hyperspy.{key}": _plain(value) for key, value in flat_items(hs_md)})
        title = hs_md.get("General", {}).get("title")
        if isinstance(title, str) and title:
            md["title"] = title
        tmp = signal.tmp_parameters
        filename = ""
        if tmp.has_item("filename"):
            filename = os.path.join(
                str(tmp.get_item("folder", "")), str(tmp.get_item("filename")) + str(tmp.get_item("extension", ""))
            )

    image = ImageArray(data, mask=np.ma.nomask if mask is None else mask, metadata=md)
    image.filename = filename
    letters = ("z", "y", "x")[-data.ndim :]
    for axis, letter in zip(axes, letters, strict=True):
        units = _units_of(axis)
        if getattr(axis, "is_uniform", True):
            _calibrate(image, letter, scale=float(axis.scale), offset=float(axis.offset), units=units)
        else:
            _uncalibrate(image, letter, axis.axis, units, f"the {letter} axis of the {what}")
    title = hs_md.get("General", {}).get("title")
    if node is not None and isinstance(title, str) and title and title != image.title:
        image.metadata["title"] = title
    return _finish(image, cls, records, filenames, what)
