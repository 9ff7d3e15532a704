"""NeXus and plain HDF5 files through h5py.

:func:`load` reads the image a NeXus file declares: the ``signal`` of an ``NXdata``
group (found by following the ``default`` attributes, then breadth-first), with the
physical calibration from its ``axes``.  A plain HDF5 file loads when it holds exactly
one dataset of two or more dimensions; ``signal="path/in/file"`` chooses one
explicitly.  The file is opened read-only and always closed.

Two helpers are shared with the instrument loaders built on HDF5 (STXM):
:func:`decode_text`, which turns any byte string into text without ever failing, and
:func:`hdf5_metadata`, which flattens a group into :class:`~stonerimg.Metadata`.

Metadata keys
-------------
:func:`hdf5_metadata` names every item by its path relative to the group it is
given, with ``/`` replaced by ``.``:

- a dataset ``collection/polarization/value`` is ``collection.polarization.value``;
- an attribute ``units`` of that dataset is ``collection.polarization.value@units``;
- an attribute ``NX_class`` of the sub-group ``collection`` is ``collection.NX_class``
  (the key the Stoner package used), or ``collection@NX_class`` when the group also
  has a member called ``NX_class``;
- an attribute of the group itself is its bare name (``NX_class``).

:func:`load` adds the file's root attributes as ``file.<name>``, the path of the
dataset it loaded as ``hdf5.signal``, the calibration as ``calibration.{x,y}.*`` and
the values of unevenly spaced axes as ``axes.<name>``.
"""

from __future__ import annotations

import logging
import math
from collections import deque

import numpy as np

from ..errors import FormatMismatch
from ..imagefile import ImageFile
from ..metadata import Metadata
from ._axis import even_spacing
from ._hdf5 import open_hdf5
from ._limits import check_dataset
from ._text import decode_text, normalise_units

__all__ = ["decode_text", "hdf5_metadata", "load", "normalise_units"]

logger = logging.getLogger(__name__)

#: Datasets with more elements than this are left out of the metadata.
MAX_METADATA_SIZE = 100_000
#: Datasets taking more bytes than this (e.g. 100 000 strings of 64 KiB) are left out of the metadata.
MAX_METADATA_BYTES = 16 << 20
#: Datasets (and attributes) with more dimensions than this are left out of the metadata.
MAX_METADATA_NDIM = 1
#: Objects :func:`hdf5_metadata` visits at most (a guard against pathological link graphs).
MAX_METADATA_OBJECTS = 1_000_000

_NUMERIC_KINDS = "biufc"
_SKIP = object()  # a value with no metadata form


# --------------------------------------------------------------------------- values


def _record_value(record):
    """Convert a compound (struct) value to a dict of its convertible fields."""
    names = getattr(getattr(record, "dtype", None), "names", None)
    if not names:
        return _SKIP
    fields = {}
    for name in names:
        value = _metadata_value(record[name])
        if value is not _SKIP:
            fields[str(name)] = value
    return fields or _SKIP


def _array_value(array: np.ndarray):
    if array.dtype.fields is not None:
        return _record_value(array.reshape(-1)[0]) if array.size == 1 else _SKIP
    if array.size == 1:
        return _metadata_value(array.reshape(-1)[0])
    if array.ndim > MAX_METADATA_NDIM or array.size > MAX_METADATA_SIZE:
        return _SKIP
    kind = array.dtype.kind
    if kind in _NUMERIC_KINDS:
        return array
    if kind in "SU":
        return [decode_text(item) for item in array.tolist()]
    if kind == "O":
        items = [_metadata_value(item) for item in array.tolist()]
        return items if all(isinstance(item, str) for item in items) else _SKIP
    return _SKIP


def _metadata_value(value):
    """Convert a value h5py returned into a metadata value, or ``_SKIP``."""
    if isinstance(value, (bytes, bytearray, str)):  # numpy.bytes_ and numpy.str_ too
        return decode_text(value)
    if isinstance(value, np.ndarray):
        return _array_value(value)
    if isinstance(value, np.void):
        return _record_value(value)
    if isinstance(value, np.generic):
        return value if value.dtype.kind in _NUMERIC_KINDS else _SKIP
    if isinstance(value, (bool, int, float, complex)):
        return value
    return _SKIP  # h5py.Empty, references, anything else


# --------------------------------------------------------------------------- walking


def _nx_class(obj) -> str:
    try:
        return decode_text(obj.attrs.get("NX_class", "")).strip()
    except Exception:
        return ""


def _attribute(obj, name):
    """Read one attribute, or ``None`` if it cannot be read."""
    try:
        return obj.attrs.get(name)
    except Exception as err:
        logger.debug("skipped attribute %r of %s: %s", name, getattr(obj, "name", "?"), err)
        return None


def _member_names(group) -> list[str]:
    try:
        return list(group.keys())
    except Exception:
        return []


def _member(h5py, group, name, *, external: bool = False):
    """Return member ``name`` of ``group``; None if dangling, unreadable or (unless asked) an external link."""
    try:
        link = group.get(name, getlink=True)
        if link is None or (isinstance(link, h5py.ExternalLink) and not external):
            return None
        return group.get(name)
    except Exception as err:
        logger.debug("skipped link %r in %s: %s", name, getattr(group, "name", "?"), err)
        return None


def _name(raw: bytes):
    """Decode a link or attribute name as h5py does (UTF-8, else the bytes themselves)."""
    try:
        return raw.decode("utf8")
    except UnicodeDecodeError:
        return raw


class _Walk:
    """One pass over an HDF5 tree with h5py's low-level API, collecting datasets and attributes.

    h5py's object layer (``Group.get``, ``AttributeManager``, ``Dataset.__getitem__``)
    costs about half a millisecond per object; the same reads through object ids
    (``h5o``/``h5a``/``h5d``), into arrays allocated here, give the same values and
    types in a fraction of the time.  Every object is visited once, by address: a group
    reached again through another link (or a link back up the tree) is not walked again,
    so a file whose groups link twice to the next costs its size, not 2**depth; a dataset
    reached again is recorded under the new key from what was read the first time.
    """

    def __init__(self, h5py, metadata: Metadata):
        self.h5a, self.h5o, self.h5s, self.h5t = h5py.h5a, h5py.h5o, h5py.h5s, h5py.h5t
        self.followed = (h5py.h5l.TYPE_HARD, h5py.h5l.TYPE_SOFT)  # not external or user-defined links
        self.dataset_type, self.group_type = h5py.h5d.DatasetID, h5py.h5g.GroupID
        self.metadata = metadata
        self.visited: set = set()
        self.datasets: dict = {}
        self.budget = MAX_METADATA_OBJECTS

    @staticmethod
    def address(oid) -> int:
        """Return the object's identity: h5py hashes (and compares) ids by file and object number."""
        return hash(oid)  # a TypeError where the object's header cannot be read

    def members(self, gid) -> list:
        """``[(raw name, name, link type)]`` of a group's members, in name order; ``[]`` if unreadable."""
        found = []

        def add(raw, info):
            found.append((raw, _name(raw), info.type))

        try:
            gid.links.iterate(add, info=True)
        except Exception:
            return []
        return found

    def attributes(self, oid) -> list:
        """``[(name, value)]`` of the attributes of ``oid`` that have a metadata form."""
        found = []
        try:
            count = self.h5a.get_num_attrs(oid)
        except Exception:
            return found
        for index in range(count):
            try:
                attr = self.h5a.open(oid, index=index)
                name = _name(attr.name)
                value = self.read_attribute(attr)
            except Exception as err:
                logger.debug("skipped attribute %d of an HDF5 object: %s", index, err)
                continue
            value = _metadata_value(value)
            if value is not _SKIP:
                found.append((name, value))
        return found

    def read_attribute(self, attr):
        """Read an attribute as ``h5py.AttributeManager`` does (same values, same types)."""
        shape = attr.shape
        if shape is None:  # a null dataspace
            return None
        dtype = attr.dtype
        if dtype.kind in _NUMERIC_KINDS and dtype.subdtype is None:
            array = np.empty(shape, dtype=dtype)
            attr.read(array)
            return array[()] if array.ndim == 0 else array
        htype = self.h5t.py_create(dtype)
        if dtype.subdtype is not None:
            dtype, subshape = dtype.subdtype
            shape = shape + subshape
        array = np.zeros(shape, dtype=dtype)
        attr.read(array, mtype=htype)
        string = self.h5t.check_string_dtype(dtype)
        if string and string.length is None:  # variable-length strings: str, as h5py gives them
            array = np.array([b.decode("utf-8", "surrogateescape") for b in array.flat], dtype=dtype).reshape(
                array.shape
            )
        return array[()] if array.ndim == 0 else array

    def read_dataset(self, did):
        """Read a small dataset as ``dataset[()]`` does, or ``_SKIP``."""
        shape = did.shape
        if shape is None:  # a null dataspace (h5py.Empty)
            return _SKIP
        size = math.prod(shape)
        if size != 1 and (len(shape) > MAX_METADATA_NDIM or size > MAX_METADATA_SIZE):
            return _SKIP
        try:
            dtype = did.dtype  # built anew by h5py on each access: once
        except Exception as err:  # an unreadable type
            logger.debug("skipped an HDF5 dataset: %s", err)
            return _SKIP
        if size * dtype.itemsize > MAX_METADATA_BYTES:
            return _SKIP
        try:
            numeric = dtype.kind in _NUMERIC_KINDS and dtype.subdtype is None
            array = np.empty(shape, dtype=dtype) if numeric else np.zeros(shape, dtype=dtype)
            if size:
                all_ = self.h5s.ALL
                did.read(all_, all_, array, None if numeric else self.h5t.py_create(dtype))
        except Exception as err:  # missing filter, unreadable type, truncated data...
            logger.debug("skipped an HDF5 dataset: %s", err)
            return _SKIP
        return _metadata_value(array[()] if array.ndim == 0 else array)

    def put(self, key: str, separator: str, attributes: list, members=()) -> None:
        metadata = self.metadata
        for name, value in attributes:
            joined = f"{key}@{name}" if name in members or separator == "@" else f"{key}{separator}{name}"
            metadata[joined] = value

    def collect(self, gid, start: str, names: list) -> None:
        """Add every dataset and attribute below the group ``gid`` (keys starting ``start``)."""
        h5o, followed, metadata = self.h5o, self.followed, self.metadata
        for raw, name, link_type in names:
            if self.budget <= 0:
                return
            self.budget -= 1
            if link_type not in followed:
                continue
            try:
                oid = h5o.open(gid, raw)  # follows soft links; a dangling one raises
                where = hash(oid)
            except Exception as err:
                logger.debug("skipped link %r: %s", name, err)
                continue
            key = f"{start}{name}"
            if isinstance(oid, self.dataset_type):
                items = self.datasets.get(where)
                if items is None:
                    items = self.datasets[where] = (self.read_dataset(oid), self.attributes(oid))
                value, attributes = items
                if value is not _SKIP:
                    metadata[key] = value
                for attribute, value in attributes:
                    metadata[f"{key}@{attribute}"] = value
            elif isinstance(oid, self.group_type):
                if where in self.visited:  # reached before, by another link or a link back up the tree
                    continue
                self.visited.add(where)
                members = self.members(oid)
                self.put(key, ".", self.attributes(oid), {n for _, n, _ in members})
                self.collect(oid, f"{key}.", members)


def hdf5_metadata(group, prefix="") -> Metadata:
    r"""Flatten an HDF5 group into metadata with dotted keys.

    Parameters
    ----------
    group : h5py.Group or h5py.File
        The group to read, recursively.  Soft and hard links are followed; external
        links, dangling links and links back up the tree are skipped.  Each object
        is read once: a group reached by a second link is not walked again (its
        items keep the keys of the first path), and a dataset reached by a second
        link is recorded under that key too, from its first read.
    prefix : str, optional
        A key prefix for every item (``"raw"`` gives ``raw.collection...``; a ``.``
        is added if it does not end with one).

    Returns
    -------
    Metadata
        Every attribute of ``group`` and every dataset and attribute below it:

        - dataset ``a/b/c`` as ``a.b.c``; its attribute ``units`` as ``a.b.c@units``;
        - attribute ``n`` of a sub-group ``a/b`` as ``a.b.n`` (as the Stoner package
          named them), or ``a.b@n`` when ``a/b`` also has a member called ``n``;
        - attribute ``n`` of ``group`` itself as ``n`` (``@n`` on such a clash).

        Byte strings are decoded with :func:`decode_text`; one-element arrays become
        scalars (NumPy scalars for numbers); 1-D numeric arrays stay NumPy arrays;
        arrays of strings become lists of ``str``; a one-element compound value
        becomes a dict of its fields.  Datasets and attributes of two or more
        dimensions or more than :data:`MAX_METADATA_SIZE` elements, empty
        (null) datasets and values with no metadata form (object references,
        variable-length arrays, compound arrays, opaque data) are left out, as
        is anything that cannot be read: this never fails on odd data.

    Examples
    --------
    >>> import h5py, io, numpy as np
    >>> with h5py.File(io.BytesIO(), "w") as f:
    ...     f["collection/polarization/value"] = np.array([0.2])
    ...     f["collection/polarization/value"].attrs["units"] = b"\xb5m"
    ...     f["collection"].attrs["NX_class"] = b"NXcollection"
    ...     md = hdf5_metadata(f)
    >>> md["collection.polarization.value"], md["collection.polarization.value@units"], md["collection.NX_class"]
    (np.float64(0.2), 'µm', 'NXcollection')
    """
    import h5py

    start = prefix if not prefix or prefix.endswith(".") else f"{prefix}."
    metadata = Metadata()
    walk = _Walk(h5py, metadata)
    gid = group.id
    walk.visited.add(walk.address(gid))
    members = walk.members(gid)
    own_key, names = start[:-1], {n for _, n, _ in members}
    for name, value in walk.attributes(gid):
        metadata[f"{own_key}@{name}" if name in names else f"{start}{name}"] = value
    walk.collect(gid, start, members)
    return metadata


def _breadth_first(h5py, root):
    """Yield ``(path, object)`` for every group and dataset once, breadth-first, in file order."""
    seen = {root.id}
    queue = deque([("", root)])
    while queue:
        path, group = queue.popleft()
        for name in _member_names(group):
            obj = _member(h5py, group, name)
            if obj is None or obj.id in seen:
                continue
            seen.add(obj.id)
            child = f"{path}/{name}"
            yield child, obj
            if isinstance(obj, h5py.Group):
                queue.append((child, obj))


# --------------------------------------------------------------------------- NeXus


def _names(value) -> list[str]:
    """Split an ``axes`` attribute (array of names or ``"y:x"`` text) into a list of names."""
    if value is None:
        return []
    if isinstance(value, np.ndarray) and value.size > 1:
        return [decode_text(item).strip() for item in value.reshape(-1).tolist()]
    text = decode_text(value).strip().strip("[]")
    separator = ":" if ":" in text else ","
    return [part.strip().strip("'\"") for part in text.split(separator)] if text else []


def _as_int(value) -> int | None:
    try:
        array = np.asarray(value).reshape(-1)
        if array.size != 1:
            return None
        item = array[0]
        return int(float(decode_text(item))) if array.dtype.kind in "SUO" else int(item)
    except (TypeError, ValueError, OverflowError):
        return None


def _is_image(h5py, obj, min_side: int = 1) -> bool:
    """Whether ``obj`` is a numeric dataset of 2 or more dimensions, the last two at least ``min_side`` long."""
    return (
        isinstance(obj, h5py.Dataset)
        and obj.shape is not None
        and len(obj.shape) >= 2
        and min(obj.shape[-2:]) >= min_side
        and obj.size > 0
        and obj.dtype.kind in _NUMERIC_KINDS
        and obj.dtype.fields is None
    )


def _describe(obj) -> str:
    shape = "x".join(str(n) for n in obj.shape) if obj.shape is not None else "empty"
    return f"{obj.name} ({shape} {obj.dtype})"


def _nxdata_signal(h5py, group):
    """Return the signal dataset of an NXdata group (``signal`` attribute, or a dataset with ``signal=1``)."""
    name = _attribute(group, "signal")
    if name is not None:
        target = _member(h5py, group, decode_text(name).strip(), external=True)
        return target if isinstance(target, h5py.Dataset) else None
    for member in _member_names(group):
        obj = _member(h5py, group, member, external=True)
        if isinstance(obj, h5py.Dataset) and _as_int(_attribute(obj, "signal")) == 1:
            return obj
    return None


def _nxdata_groups(h5py, root):
    """NXdata groups: those the ``default`` attributes name first, then all the others breadth-first."""
    seen = set()
    node = root
    for _ in range(8):  # root -> entry -> (subentry ->) data
        name = _attribute(node, "default")
        target = _member(h5py, node, decode_text(name).strip()) if name is not None else None
        if not isinstance(target, h5py.Group):
            break
        if _nx_class(target) == "NXdata":
            seen.add(target.id)
            yield target
            break
        node = target
    for _, obj in _breadth_first(h5py, root):
        if isinstance(obj, h5py.Group) and obj.id not in seen and _nx_class(obj) == "NXdata":
            yield obj


def _axis_names(h5py, group, signal) -> list[str | None]:
    """Return the axis dataset name for each dimension of ``signal`` (None where there is none)."""
    ndim = len(signal.shape)
    dims: list[str | None] = [None] * ndim
    listed = _names(_attribute(group, "axes"))
    if not listed:
        listed = _names(_attribute(signal, "axes"))  # the older convention, on the signal itself
    for position, name in enumerate(listed):
        if name in ("", "."):
            continue
        # NeXus 2014: <name>_indices gives the dimension; else the position in a full list does
        index = _as_int(_attribute(group, f"{name}_indices"))
        if index is None and len(listed) == ndim:
            index = position
        if index is not None and -ndim <= index < ndim:
            dims[index] = name
    if not listed:  # the oldest convention: axis datasets carry axis=<1-based dimension>
        primary: set[int] = set()
        for member in _member_names(group):
            obj = _member(h5py, group, member)
            if not isinstance(obj, h5py.Dataset):
                continue
            axis = _as_int(_attribute(obj, "axis"))
            if axis is None or not 1 <= axis <= ndim or (axis - 1) in primary:
                continue
            dims[axis - 1] = member
            if _as_int(_attribute(obj, "primary")) == 1:
                primary.add(axis - 1)
    return dims


def _uniform(values: np.ndarray, length: int) -> tuple[float, float] | None:
    """``(step, first)`` of evenly spaced axis values (points or bin edges), else None."""
    points = values.astype(float).reshape(-1)
    if points.size == length + 1:  # bin edges: the pixel centres are midway
        points = (points[:-1] + points[1:]) / 2
    if points.size != length or length < 2:
        return None
    eps = np.finfo(values.dtype).eps if values.dtype.kind == "f" else np.finfo(float).eps
    return even_spacing(points, rtol=1e-4, eps=float(eps))


def _calibrate(h5py, group, signal, metadata: Metadata) -> None:
    """Fill ``calibration.{x,y}`` (or ``axes.<name>``) from the NXdata axes of the last two dimensions."""
    dims = _axis_names(h5py, group, signal)
    metadata["hdf5.axes"] = [name or "." for name in dims]
    ndim = len(signal.shape)
    for axis, dim in (("y", ndim - 2), ("x", ndim - 1)):
        name = dims[dim]
        obj = _member(h5py, group, name, external=True) if name else None
        if not isinstance(obj, h5py.Dataset) or obj.shape is None or obj.dtype.kind not in "iuf":
            continue
        if obj.size > signal.shape[dim] + 1:  # not an axis of this signal (and perhaps huge)
            continue
        try:
            values = np.asarray(obj[()])
        except Exception as err:
            logger.debug("axis %s of %s unreadable: %s", name, signal.name, err)
            continue
        calibration = _uniform(values, signal.shape[dim])
        if calibration is None:
            if values.ndim <= 1 and 0 < values.size <= MAX_METADATA_SIZE:
                metadata[f"axes.{name}"] = values.reshape(-1)
            continue
        metadata[f"calibration.{axis}.scale"], metadata[f"calibration.{axis}.offset"] = calibration
        metadata[f"calibration.{axis}.units"] = normalise_units(_attribute(obj, "units"))


# --------------------------------------------------------------------------- loading


def _entry_of(h5py, root, dataset):
    """Return the top-level NXentry group holding ``dataset``, or None."""
    top = (dataset.name or "").strip("/").split("/")[0]
    group = _member(h5py, root, top) if top else None
    return group if isinstance(group, h5py.Group) and _nx_class(group) == "NXentry" else None


def _file_metadata(h5py, root, entry) -> Metadata:
    metadata = Metadata()
    walk = _Walk(h5py, metadata)
    walk.put("file", ".", walk.attributes(root.id))
    if entry is not None:
        metadata.update(hdf5_metadata(entry))
    else:
        walk.visited.add(walk.address(root.id))
        walk.collect(root.id, "", walk.members(root.id))
    return metadata


def _explicit(h5py, root, signal: str):
    """Return the dataset (and its NXdata group, if any) that ``signal=`` names."""
    try:
        obj = root.get(signal)
    except Exception as err:
        raise FormatMismatch(f"signal={signal!r} cannot be opened: {err}") from err
    if obj is None:
        raise FormatMismatch(f"signal={signal!r}: there is no such dataset in the file")
    if isinstance(obj, h5py.Group):
        dataset = _nxdata_signal(h5py, obj)
        if dataset is None:
            raise FormatMismatch(f"signal={signal!r} is a group without a NeXus signal; name a dataset")
        return dataset, obj
    if not _is_image(h5py, obj):
        raise FormatMismatch(f"signal={signal!r} is {_describe(obj)}: not a numeric dataset of 2 or more dimensions")
    parent = obj.parent
    return obj, parent if _nx_class(parent) == "NXdata" else None


def _find(h5py, root):
    """Return the dataset to load and its NXdata group (None for plain HDF5), or decline saying why."""
    notes = []
    for group in _nxdata_groups(h5py, root):
        dataset = _nxdata_signal(h5py, group)
        if dataset is None:
            notes.append(f"NXdata {group.name} has no signal dataset")
        elif not _is_image(h5py, dataset):
            notes.append(f"NeXus signal {_describe(dataset)} is not an image")
        else:
            return dataset, group
    # a 1 x n dataset is how MATLAB and others store scalars and vectors, not an image
    images = [obj for _, obj in _breadth_first(h5py, root) if _is_image(h5py, obj, min_side=2)]
    if len(images) == 1:
        return images[0], None
    why = f" ({'; '.join(notes)})" if notes else ""
    if not images:
        raise FormatMismatch(f"HDF5 file with no 2-D dataset (no image of at least 2 x 2 values) in it{why}")
    shown = ", ".join(_describe(obj) for obj in images[:20]) + (", ..." if len(images) > 20 else "")
    raise FormatMismatch(
        f"HDF5 file with {len(images)} datasets of 2 or more dimensions and no NeXus signal to choose "
        f"between them{why}: {shown}; pass signal='<path in file>' to load one"
    )


def _read(h5py, root, signal):
    dataset, group = _find(h5py, root) if signal is None else _explicit(h5py, root, signal)
    check_dataset(root.filename, dataset)
    data = np.asarray(dataset[()])
    metadata = _file_metadata(h5py, root, _entry_of(h5py, root, dataset))
    metadata["hdf5.signal"] = dataset.name
    if group is not None:
        _calibrate(h5py, group, dataset, metadata)
    return data, metadata


def load(path, *, signal=None) -> ImageFile:
    """Read the image of a NeXus file, or the only image of a plain HDF5 file.

    Parameters
    ----------
    path : str or os.PathLike
        The HDF5 file, opened read-only.
    signal : str, optional
        Path in the file of the dataset to load (or of an NXdata group, whose
        signal is loaded).  Without it: the ``signal`` of the first ``NXdata``
        group (following the NeXus ``default`` attributes, then breadth-first)
        that is a numeric array of 2 or more dimensions, or else the one such
        dataset of the file (not counting those with a last dimension of 1).

    Returns
    -------
    ImageFile
        The data exactly as stored, ``(rows, cols) = (y, x)`` never transposed, with
        the metadata described in this module's documentation.

    Raises
    ------
    stonerimg.errors.FormatMismatch
        If the file is not HDF5, cannot be read, holds no dataset of 2 or more
        dimensions, or holds several and no NeXus signal (pass ``signal=``).
    PermissionError, FileNotFoundError
        If the file cannot be opened.
    """
    import h5py

    handle = open_hdf5(path)
    try:
        with handle:
            data, metadata = _read(h5py, handle, signal)
    except (FormatMismatch, PermissionError, FileNotFoundError):
        raise
    except (OSError, RuntimeError, KeyError) as err:
        raise FormatMismatch(f"HDF5 file that cannot be read: {type(err).__name__}: {err}") from err
    return ImageFile(data, metadata=metadata)
