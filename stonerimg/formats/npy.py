"""NumPy ``.npy`` files, with metadata and mask in a sidecar.

The pixels are a plain ``.npy`` file any NumPy reads; our JSON document
(metadata, dtype, shape, mask) goes beside it in ``<name>.npy.json``.  Both are
written atomically, and loading never unpickles (``allow_pickle=False``).
A ``.npy`` file without a sidecar loads as a bare image.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import FormatMismatch
from ..imagefile import ImageFile
from . import atomic_path
from ._limits import check_declared
from ._payload import decode_payload, encode_payload


def sidecar(path) -> Path:
    """Return the metadata sidecar of ``path``: ``<name>.npy.json``."""
    path = Path(path)
    return path.with_name(path.name + ".json")


def save(image, path, **kwargs) -> None:
    """Write the pixels to ``path`` and the metadata to its sidecar (both atomically); takes no options."""
    if kwargs:
        raise TypeError(f"NPY save: takes no options, not {', '.join(sorted(kwargs))}")
    with atomic_path(path) as temp, atomic_path(sidecar(path)) as temp_json:
        with open(temp, "wb") as handle:
            np.save(handle, np.asarray(image.data), allow_pickle=False)
        temp_json.write_text(encode_payload(image), encoding="ascii")


def _check_header(path, *, in_memory: bool = True) -> None:
    """Refuse a file whose header describes more data than the file holds or the limit allows (before allocating it)."""
    from numpy.lib import format as npy_format

    with open(path, "rb") as handle:
        try:
            version = npy_format.read_magic(handle)
        except ValueError:
            return  # not .npy (perhaps .npz): np.load says what it is
        try:
            read_header = npy_format.read_array_header_1_0 if version == (1, 0) else npy_format.read_array_header_2_0
            shape, _fortran, dtype = read_header(handle)
        except ValueError as err:
            raise FormatMismatch(f"a damaged .npy header: {err}") from err
        size = Path(path).stat().st_size - handle.tell()
    expected = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if not dtype.hasobject:
        check_declared(path, expected, what=f"its header ({shape} {dtype})", stored=size, in_memory=in_memory)


def load(path, **kwargs) -> ImageFile:
    """Read a ``.npy`` file (never unpickling) and its sidecar if there is one."""
    _check_header(path)
    try:
        data = np.load(path, allow_pickle=False)
    except ValueError as err:
        raise FormatMismatch(f"not a readable .npy array: {err}") from err
    if not isinstance(data, np.ndarray):
        data.close()
        raise FormatMismatch("holds several arrays (an .npz archive), not one image")
    side = sidecar(path)
    if side.is_file():
        data, metadata, mask = decode_payload(side.read_text(encoding="ascii"), data)
        return ImageFile(data, mask=np.ma.nomask if mask is None else mask, metadata=metadata)
    return ImageFile(data)
