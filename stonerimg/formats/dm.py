"""Gatan DigitalMicrograph DM3 and DM4 files, read natively.

A DM file is a tree of tags after a 12-byte (DM3) or 16-byte (DM4) header:

- header: version (3 or 4, big-endian uint32), the length of the tag tree (uint32 in
  DM3, uint64 in DM4) and a byte-order flag (1: the values in the tags are
  little-endian, 0: big-endian);
- a tag group: a "sorted" byte, an "open" byte and the number of tags (uint32 /
  uint64, big-endian), then the tags;
- a tag: its kind (20 = group, 21 = data), the length of its label (uint16) and the
  label; in DM4 the number of bytes that follow (uint64); then a group, or ``%%%%``,
  the length of an "info" array of type codes (uint32 / uint64), the info array and
  the value.  The structure is big-endian; the values use the file's byte order.

Every tag goes into the metadata under its dotted path
(``ImageList.1.ImageTags.Microscope Info.Voltage``); unnamed entries of a list are
numbered from 0.  ``ImageList`` holds the images: ``ImageData.Data`` (the pixels,
X fastest), ``DataType``, ``Dimensions`` (X, Y, Z, ...) and ``Calibrations``.  The
pixel arrays are not read while the tree is parsed, only located, so opening a file
of many gigabytes reads just its tags (:func:`data_block`, :func:`open`).

Robustness: every count and size read from the file is checked against the bytes
that are left before it is used, the nesting depth is limited, and each step of the
parser consumes bytes, so a damaged file ends in :class:`~stonerimg.errors.FormatMismatch`
(a :class:`~stonerimg.FormatError` from :func:`stonerimg.load`), never a hang or a
huge allocation.  A DM4 tag of an unknown type that is only metadata is skipped with
a warning (DM4 records its size); in DM3 it cannot be skipped and stops the load.
"""

from __future__ import annotations

import builtins
import datetime as _dt
import functools
import math
import os
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import FormatError, FormatMismatch, warn_user
from ..imagefile import ImageFile
from ..metadata import Metadata
from ._text import decode_text, normalise_units

__all__ = ["DMImage", "data_block", "load", "load_all", "open", "sniff"]

#: The tag tree is read through a window of this many bytes (a small file in one read).
_WINDOW = 1 << 22
#: Deepest nesting of tag groups accepted (real files nest fewer than 15 levels).
_MAX_DEPTH = 64

#: Type codes of single values: code -> struct/NumPy character.
_SIMPLE = {2: "h", 3: "i", 4: "H", 5: "I", 6: "f", 7: "d", 8: "?", 9: "b", 10: "B", 11: "q", 12: "Q"}
_STRUCT, _STRING, _ARRAY = 15, 18, 20

#: ``ImageData.DataType`` -> (NumPy dtype of the stored elements, what they become).
_DATA_TYPES = {
    1: ("i2", "int16"),
    2: ("f4", "float32"),
    3: ("c8", "complex64"),
    5: ("f4", "packed complex64 (old FFT layout)"),
    6: ("u1", "uint8"),
    7: ("i4", "int32"),
    8: ("u1", "RGB"),
    9: ("i1", "int8"),
    10: ("u2", "uint16"),
    11: ("u4", "uint32"),
    12: ("f8", "float64"),
    13: ("c16", "complex128"),
    14: ("u1", "bool"),
    23: ("u1", "RGBA"),
    27: ("c8", "packed complex64"),
    28: ("c16", "packed complex128"),
}
_RGB_TYPES = (8, 23)
_PACKED_TYPES = (27, 28)
_AXES = "xyzw"


class _DamagedError(Exception):
    """The tag tree is damaged at some byte (internal; becomes FormatMismatch)."""


# ---------------------------------------------------------------- sniffing


def sniff(head: bytes) -> bool:
    """Tell from the first bytes whether a file is a DM3 or DM4 file (version and byte-order flag)."""
    if len(head) < 16:
        return False
    version = struct.unpack_from(">I", head)[0]
    if version == 3:
        order = struct.unpack_from(">I", head, 8)[0]
    elif version == 4:
        order = struct.unpack_from(">I", head, 12)[0]
    else:
        return False
    return order in (0, 1)


# ---------------------------------------------------------------- the tag tree


@dataclass
class _Block:
    """Where an image's pixels are in the file (found while parsing, not read)."""

    offset: int
    nbytes: int


@dataclass
class _Tree:
    version: int
    little: bool
    size: int
    tags: dict = field(default_factory=dict)  # dotted path -> value
    blocks: dict = field(default_factory=dict)  # "ImageList.<i>" -> _Block
    warnings: list = field(default_factory=list)


_BH = struct.Struct(">BH")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")


class _Parser:
    """Walk the tag tree of an open file, reading through a window of bytes."""

    def __init__(self, handle, size: int):
        self.handle = handle
        self.size = size
        self.window = b""
        self.start = 0
        self.pos = 0

    # -- bytes
    def _load(self, n: int) -> int:
        """Make ``n`` bytes at ``pos`` available in the window; return their index in it."""
        index = self.pos - self.start
        if 0 <= index and index + n <= len(self.window):
            return index
        if n < 0 or self.pos + n > self.size:
            raise _DamagedError(f"needs {n} bytes at byte {self.pos}, beyond the end of the {self.size}-byte file")
        self.handle.seek(self.pos)
        self.window = self.handle.read(max(n, _WINDOW))
        self.start = self.pos
        if len(self.window) < n:
            raise _DamagedError(f"the file ended at byte {self.pos + len(self.window)} while reading")
        return 0

    def unpack(self, packer: struct.Struct):
        index = self._load(packer.size)
        self.pos += packer.size
        return packer.unpack_from(self.window, index)

    def take(self, n: int) -> bytes:
        index = self._load(n)
        self.pos += n
        return self.window[index : index + n]

    def skip(self, n: int) -> None:
        if n < 0 or self.pos + n > self.size:
            raise _DamagedError(f"claims {n} bytes at byte {self.pos}, more than the {self.size}-byte file holds")
        self.pos += n

    def left(self) -> int:
        return self.size - self.pos

    # -- the tree
    def parse(self) -> _Tree:
        if self.size < 16:
            raise FormatMismatch("too short for a DigitalMicrograph file")
        (version,) = self.unpack(_U32)
        if version not in (3, 4):
            raise FormatMismatch(f"not a DM3/DM4 file (version field {version})")
        self.dm4 = version == 4
        self.word = _U64 if self.dm4 else _U32
        self.unpack(self.word)  # the declared length of the tree: not needed, often inexact
        (order,) = self.unpack(_U32)
        if order not in (0, 1):
            raise FormatMismatch(f"not a DM{version} file (byte-order flag {order})")
        tree = _Tree(version=version, little=bool(order), size=self.size)
        self.tree = tree
        self.endian = "<" if order else ">"
        try:
            self.group("", 0)
        except _DamagedError as err:
            raise FormatMismatch(f"truncated or damaged DM{version} file: {err}") from None
        return tree

    def count(self, what: str, path: str) -> int:
        (n,) = self.unpack(self.word)
        if n > self.size - self.pos:
            raise _DamagedError(f"{path or 'the root group'} claims {n} {what}, more than the bytes left")
        return n

    def group(self, path: str, depth: int) -> None:
        if depth > _MAX_DEPTH:
            raise _DamagedError(f"tag groups nested deeper than {_MAX_DEPTH} levels at {path}")
        self.skip(2)  # the "sorted" and "open" flags
        ntags = self.count("tags", path)
        if ntags == 0 and path:
            self.tree.tags[path] = {}
        prefix = f"{path}." if path else ""
        unnamed = 0
        dm4 = self.dm4
        for _ in range(ntags):
            kind, length = self.unpack(_BH)
            if length:
                label = self.take(length)
                try:
                    name = label.decode("utf-8")
                except UnicodeDecodeError:
                    name = label.decode("latin-1")
            else:
                name = str(unnamed)
                unnamed += 1
            dotted = prefix + name
            end = None
            if dm4:
                (tag_size,) = self.unpack(_U64)
                if tag_size > self.size - self.pos:
                    raise _DamagedError(f"tag {dotted} claims {tag_size} bytes, more than the file holds")
                end = self.pos + tag_size
            if kind == 21:
                self.data(dotted, end)
            elif kind == 20:
                self.group(dotted, depth + 1)
            else:
                raise _DamagedError(f"tag {dotted} at byte {self.pos} has an unknown kind {kind} (not 20 or 21)")

    def data(self, path: str, end: int | None) -> None:
        if self.take(4) != b"%%%%":
            raise _DamagedError(f"tag {path} lacks its '%%%%' marker at byte {self.pos - 4}")
        ninfo = self.count("type codes", path)
        info = self.take(ninfo * self.word.size)
        try:
            spec, nbytes = _spec_of(info, self.dm4)
        except (ValueError, IndexError, RecursionError) as err:
            if end is None:  # DM3 does not record the size: nothing after this tag can be found
                raise _DamagedError(f"tag {path} has a type this reader does not know ({err})") from None
            self.tree.warnings.append(f"tag {path}: unknown type ({err}); skipped")
            self.skip(end - self.pos)
            return
        if nbytes > self.size - self.pos:
            raise _DamagedError(f"tag {path} claims {nbytes} bytes, more than the {self.left()} bytes left in the file")
        if spec[0] == "array" and path.endswith(".ImageData.Data"):
            self.tree.blocks[path[: -len(".ImageData.Data")]] = _Block(self.pos, nbytes)
            self.skip(nbytes)
        else:
            index = self._load(nbytes)
            self.tree.tags[path] = _decode(spec, self.window, index, self.endian)
            self.pos += nbytes
        if end is not None and self.pos != end:
            if not self.pos <= end <= self.size:
                raise _DamagedError(f"tag {path} declares a size that does not match its type")
            self.pos = end


@functools.lru_cache(maxsize=512)
def _spec_of(info: bytes, dm4: bool):
    """Return the parsed type of a data tag and its size in bytes, from its raw type codes (cached: few differ)."""
    codes = struct.unpack(f">{len(info) // (8 if dm4 else 4)}{'Q' if dm4 else 'I'}", info)
    if not codes:
        raise ValueError("no type codes")
    spec, used = _type_spec(codes, 0)
    if used != len(codes):
        raise ValueError(f"{len(codes) - used} type codes left over")
    return spec, _nbytes(spec)


def _type_spec(info: tuple, i: int, depth: int = 0):
    """Parse the type codes of a data tag from ``info[i]``: return (spec, index after it)."""
    if depth > 8:
        raise ValueError("types nested too deeply")
    code = info[i]
    if code in _SIMPLE:
        return ("simple", _SIMPLE[code]), i + 1
    if code == _STRING:
        return ("string", info[i + 1]), i + 2
    if code == _STRUCT:
        nfields = info[i + 2]
        if nfields > len(info):
            raise ValueError(f"a struct of {nfields} fields")
        fields = []
        j = i + 3
        for _ in range(nfields):
            if info[j + 1] not in _SIMPLE:
                raise ValueError(f"struct field of type {info[j + 1]}")
            fields.append(_SIMPLE[info[j + 1]])
            j += 2
        return ("struct", "".join(fields)), j
    if code == _ARRAY:
        element, j = _type_spec(info, i + 1, depth + 1)
        return ("array", element, info[j]), j + 1
    raise ValueError(f"type code {code}")


def _nbytes(spec) -> int:
    kind = spec[0]
    if kind in ("simple", "struct"):
        return struct.calcsize("<" + spec[1])
    if kind == "string":
        return spec[1]
    return _nbytes(spec[1]) * spec[2]


def _decode(spec, buffer, index: int, endian: str):
    """Return the value of a data tag (Python scalars, tuples, text, NumPy arrays)."""
    kind = spec[0]
    if kind == "simple":
        return struct.unpack_from(endian + spec[1], buffer, index)[0]
    if kind == "struct":
        return struct.unpack_from(endian + spec[1], buffer, index)
    if kind == "string":
        return decode_text(bytes(buffer[index : index + spec[1]]))
    element, length = spec[1], spec[2]
    if element[0] == "simple":
        if element[1] == "H":  # DM keeps text as arrays of UTF-16 code units
            raw = bytes(buffer[index : index + 2 * length])
            return raw.decode("utf-16-le" if endian == "<" else "utf-16-be", errors="replace").rstrip("\x00")
        array = np.frombuffer(buffer, dtype=endian + element[1], count=length, offset=index)
        array = array.astype(array.dtype.newbyteorder("="))
        array.flags.writeable = False  # stored as it is by Metadata (which copies writeable arrays)
        return array
    if element[0] == "struct":
        if length == 0 or _nbytes(element) == 0:
            return []
        dtype = np.dtype([(f"f{k}", endian + c) for k, c in enumerate(element[1])])
        return [tuple(v) for v in np.frombuffer(buffer, dtype=dtype, count=length, offset=index).tolist()]
    size = _nbytes(element)
    if size == 0:  # elements of no bytes (empty texts): nothing to read, however many are claimed
        return []
    return [_decode(element, buffer, index + k * size, endian) for k in range(length)]


def _parse(path: Path) -> _Tree:
    size = os.path.getsize(path)
    with builtins.open(path, "rb") as handle:
        tree = _Parser(handle, size).parse()
    for message in tree.warnings:
        warn_user(f"{path}: {message}")
    return tree


# ---------------------------------------------------------------- images


@dataclass(frozen=True)
class DMImage:
    """One image of a DM file, located but not read.

    Attributes
    ----------
    index : int
        Its position in ``ImageList``.
    offset, nbytes : int
        Where its pixels are in the file.
    data_type : int
        DigitalMicrograph's ``DataType`` code.
    dims : tuple of int
        Its size in DigitalMicrograph's order (X, Y, Z, ...).
    dtype : numpy.dtype
        Of the stored elements, in the file's byte order.
    shape : tuple of int
        Of the stored elements, NumPy order (``dims`` reversed).
    thumbnail : bool
        Whether the file lists it as a thumbnail.
    """

    index: int
    offset: int
    nbytes: int
    data_type: int
    dims: tuple
    dtype: np.dtype
    shape: tuple
    thumbnail: bool


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _images(tree: _Tree) -> list[DMImage]:
    thumbnails = {
        v for k, v in tree.tags.items() if k.startswith("Thumbnails.") and k.endswith(".ImageIndex") and _is_int(v)
    }
    found = []
    for name, block in tree.blocks.items():
        if not re.fullmatch(r"ImageList\.\d+", name):
            continue
        index = int(name.split(".")[1])
        data_type = tree.tags.get(f"{name}.ImageData.DataType")
        dims = []
        k = 0
        while f"{name}.ImageData.Dimensions.{k}" in tree.tags:
            dims.append(tree.tags[f"{name}.ImageData.Dimensions.{k}"])
            k += 1
        if not _is_int(data_type) or data_type not in _DATA_TYPES:
            raise FormatMismatch(f"image {index} has DataType {data_type!r}, which this reader does not know")
        if not dims or not all(_is_int(d) and d >= 0 for d in dims):
            raise FormatMismatch(f"image {index} has no valid Dimensions ({dims})")
        element, _ = _DATA_TYPES[data_type]
        dtype = np.dtype(element).newbyteorder("<" if tree.little else ">")
        if data_type in _RGB_TYPES:
            dtype = np.dtype("u1")
        shape = tuple(reversed(dims))
        if data_type in _RGB_TYPES:
            shape = (*shape, 4)
        elif data_type in _PACKED_TYPES:
            shape = (*shape[:-1], shape[-1] // 2 + 1)
        needed = math.prod(shape) * dtype.itemsize
        if needed != block.nbytes:
            raise FormatMismatch(
                f"image {index}: Dimensions {' x '.join(map(str, dims))} of DataType {data_type} need {needed} bytes "
                f"but its Data tag holds {block.nbytes}"
            )
        found.append(
            DMImage(index, block.offset, block.nbytes, data_type, tuple(dims), dtype, shape, index in thumbnails)
        )
    return sorted(found, key=lambda image: image.index)


def _main_image(images: list[DMImage]) -> DMImage:
    """Return the image DigitalMicrograph shows: the largest that is not a thumbnail (the last of equals)."""
    if not images:
        raise FormatMismatch("the file holds no image (no ImageList entry with ImageData.Data)")
    shown = [image for image in images if not image.thumbnail] or images
    return max(reversed(shown), key=lambda image: image.nbytes)


def _pick(images: list[DMImage], index) -> DMImage:
    if index is None:
        return _main_image(images)
    for image in images:
        if image.index == index:
            return image
    raise ValueError(f"index: no image {index!r} in ImageList (it holds {[i.index for i in images]})")


# ---------------------------------------------------------------- metadata


def _float(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _calibration(tags: dict, image: DMImage, into: dict) -> None:
    """``calibration.<x|y|z|w>.*`` from ``ImageData.Calibrations.Dimension.<n>``: offset = -origin * scale."""
    base = f"ImageList.{image.index}.ImageData.Calibrations"
    for n, axis in enumerate(_AXES[: len(image.dims)]):
        scale = _float(tags.get(f"{base}.Dimension.{n}.Scale", 1.0))
        origin = _float(tags.get(f"{base}.Dimension.{n}.Origin", 0.0))
        if scale is None or origin is None:
            continue
        into[f"calibration.{axis}.scale"] = scale
        into[f"calibration.{axis}.offset"] = -origin * scale
        units = normalise_units(tags.get(f"{base}.Dimension.{n}.Units", ""))
        if units:
            into[f"calibration.{axis}.units"] = units
    scale = _float(tags.get(f"{base}.Brightness.Scale", 1.0))
    origin = _float(tags.get(f"{base}.Brightness.Origin", 0.0))
    if scale is not None and origin is not None:
        into["calibration.intensity.scale"] = scale
        into["calibration.intensity.offset"] = -origin * scale
        units = normalise_units(tags.get(f"{base}.Brightness.Units", ""))
        if units:
            into["calibration.intensity.units"] = units


_FILETIME_EPOCH = _dt.datetime(1601, 1, 1, tzinfo=_dt.timezone.utc)


def _parse_date(text: str) -> _dt.date | None:
    """Read a date as DigitalMicrograph writes it in the machine's short format, without the locale.

    ``2016-08-08`` (ISO), ``8.8.2016`` (day first), ``8/8/2016`` (month first, DM's US default,
    unless the first number cannot be a month).
    """
    numbers = [int(n) for n in re.findall(r"\d{1,9}", text)]
    if len(numbers) != 3:
        return None
    a, b, c = numbers
    try:
        if a > 31:
            return _dt.date(a, b, c)
        year = c + 2000 if c < 100 else c
        if "." in text or "-" in text or a > 12:
            return _dt.date(year, b, a)
        return _dt.date(year, a, b)
    except ValueError:
        return None


def _parse_time(text: str) -> _dt.time | None:
    """``4:26:37 PM`` or ``16:26:37`` without the locale (AM/PM recognised by those letters only)."""
    match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AaPp][Mm])?\s*", text)
    if not match:
        return None
    hour, minute, second = int(match[1]), int(match[2]), int(match[3] or 0)
    if match[4]:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if match[4].lower() == "pm" else 0)
    try:
        return _dt.time(hour, minute, second)
    except ValueError:
        return None


#: Normalised microscope items: key -> (paths under ImageTags, tried in turn; units).
_MICROSCOPE = {
    "voltage": (("Microscope Info.Voltage",), "V"),
    "magnification": (("Microscope Info.Indicated Magnification", "Microscope Info.Actual Magnification"), None),
    "camera_length": (("Microscope Info.STEM Camera Length", "Microscope Info.Camera Length"), "mm"),
    "mode": (("Microscope Info.Operation Mode", "Microscope Info.Imaging Mode"), None),
    "exposure": (
        (
            "DataBar.Exposure Time (s)",
            "Acquisition.Parameters.High Level.Exposure (s)",
            "EELS.Acquisition.Integration time (s)",
        ),
        "s",
    ),
    "name": (("Session Info.Microscope", "Microscope Info.Name", "Microscope Info.Microscope"), None),
    "operator": (("Session Info.Operator", "Microscope Info.Operator"), None),
    "specimen": (("Session Info.Specimen", "Microscope Info.Specimen"), None),
}


def _microscope(tags: dict, image: DMImage, into: dict) -> None:
    base = f"ImageList.{image.index}.ImageTags."
    for key, (paths, units) in _MICROSCOPE.items():
        for path in paths:
            value = tags.get(base + path)
            if isinstance(value, str):
                value = value.strip()
                if value and units is None:
                    into[f"microscope.{key}"] = value
                    break
            elif units is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
                into[f"microscope.{key}"] = float(value)
                into[f"microscope.{key}.units"] = units
                break
            elif key == "magnification" and _float(value) is not None:
                into["microscope.magnification"] = float(value)
                break
    filetime = _float(tags.get(base + "DataBar.Acquisition Time (OS)"))
    if filetime is not None and 0 < filetime < 1e18:  # 100-ns ticks since 1601 (Windows FILETIME), UTC
        into["microscope.acquired"] = _FILETIME_EPOCH + _dt.timedelta(microseconds=filetime / 10)
    date, time = tags.get(base + "DataBar.Acquisition Date"), tags.get(base + "DataBar.Acquisition Time")
    day = _parse_date(date) if isinstance(date, str) else None
    clock = _parse_time(time) if isinstance(time, str) else None
    if day is not None:
        into["microscope.acquisition_date"] = day
    if clock is not None:
        into["microscope.acquisition_time"] = clock.isoformat()
    if day is not None and clock is not None:
        into["microscope.acquired_local"] = _dt.datetime.combine(day, clock)


def _metadata(tree: _Tree, image: DMImage) -> Metadata:
    flat = dict(tree.tags)
    flat["dm.version"] = tree.version
    flat["dm.image_index"] = image.index
    flat["dm.data_type"] = image.data_type
    flat["dm.dimensions"] = image.dims
    name = tree.tags.get(f"ImageList.{image.index}.Name")
    if isinstance(name, str) and name:
        flat["title"] = name
    _calibration(tree.tags, image, flat)
    _microscope(tree.tags, image, flat)
    return Metadata(flat)


# ---------------------------------------------------------------- pixels


def _read_pixels(path: Path, image: DMImage) -> np.ndarray:
    if image.data_type == 5:
        raise FormatMismatch(
            f"image {image.index} is an old packed-complex FFT (DataType 5), which this reader does not unpack; "
            "RosettaSciIO (format 'digitalmicrograph') reads it"
        )
    count = image.nbytes // image.dtype.itemsize
    with builtins.open(path, "rb") as handle:
        handle.seek(image.offset)
        raw = np.fromfile(handle, dtype=image.dtype, count=count)
    if raw.size != count:
        raise FormatMismatch(f"the file ends inside the pixels of image {image.index}")
    return _pixels(raw.reshape(image.shape), image)


def _pixels(raw: np.ndarray, image: DMImage) -> np.ndarray:
    """Turn stored elements into the image: native byte order, bool, RGBA channels, unpacked FFTs."""
    if raw.dtype.byteorder not in ("=", "|"):
        raw = raw.astype(raw.dtype.newbyteorder("="))
    if image.data_type == 14:
        return raw != 0
    if image.data_type in _RGB_TYPES:
        return np.ascontiguousarray(raw[..., [2, 1, 0, 3]])  # stored B, G, R, A -> R, G, B, A
    if image.data_type in _PACKED_TYPES:
        return _unpack_half_plane(raw, image.dims[0])
    return raw


def _unpack_half_plane(half: np.ndarray, width: int) -> np.ndarray:
    """Return the full X-wide spectrum from the ``X/2 + 1`` columns DM stores (Hermitian symmetry).

    The stored columns hold the frequencies from the Nyquist column down to zero; the
    other half is their complex conjugate, as RosettaSciIO unpacks them.
    """
    full = np.empty((*half.shape[:-1], width), dtype=half.dtype)
    n = half.shape[-1]
    full[..., :n] = half[..., ::-1]
    full[..., n:] = np.conj(half[..., 1 : width - n + 1])
    return full


# ---------------------------------------------------------------- documents


def _document(data: np.ndarray, metadata: Metadata, image: DMImage, stack: bool):
    if data.ndim == 3 and stack and image.data_type not in _RGB_TYPES:
        from ..stack import ImageStack

        return ImageStack(data, metadata=metadata)
    return ImageFile(data, metadata=metadata)


def _checked_path(path) -> Path:
    path = Path(os.fspath(path))
    if not path.exists():
        raise FileNotFoundError(2, "No such file", str(path))
    if path.is_dir():
        raise FormatError(path, reason="it is a directory, not a file")
    return path


def load(path, *, index: int | None = None, stack: bool = True):
    """Read a DM3/DM4 file: the main image (or image ``index`` of ``ImageList``) and every tag.

    Parameters
    ----------
    path : str or os.PathLike
        The file (opened read-only).
    index : int, optional
        Position in ``ImageList`` of the image to read (thumbnails included); by
        default the image DigitalMicrograph shows: the largest non-thumbnail image.
    stack : bool, default True
        Return a 3-D image as an :class:`~stonerimg.ImageStack` (``(Z, Y, X)``);
        False gives an :class:`~stonerimg.ImageFile` holding the 3-D array.

    Returns
    -------
    ImageFile or ImageStack
        The pixels in NumPy order (a DM image X x Y is ``(Y, X)``), every tag under
        its dotted path, ``calibration.*``, ``microscope.*`` and ``dm.*``.

    Raises
    ------
    stonerimg.errors.FormatMismatch
        If the file is not a DM file or is damaged (``stonerimg.load`` reports a FormatError).
    """
    path = Path(os.fspath(path))
    tree = _parse(path)
    image = _pick(_images(tree), index)
    data = _read_pixels(path, image)
    return _document(data, _metadata(tree, image), image, stack)


def load_all(path, *, stack: bool = True) -> list:
    """Read every image of ``ImageList`` (thumbnails too, each with ``dm.thumbnail``), in file order.

    Raises
    ------
    stonerimg.FormatError
        If the file is not a DM file or is damaged.
    """
    path = _checked_path(path)
    try:
        tree = _parse(path)
        images = _images(tree)
        documents = []
        for image in images:
            document = _document(_read_pixels(path, image), _metadata(tree, image), image, stack)
            document.metadata["dm.thumbnail"] = image.thumbnail
            document.filename = str(path)
            documents.append(document)
    except FormatMismatch as err:
        raise FormatError(path, [("dm", str(err))]) from None
    return documents


def _locate(path: Path, index) -> tuple[int, np.dtype, tuple, Metadata]:
    tree = _parse(path)
    image = _pick(_images(tree), index)
    if image.data_type in (*_RGB_TYPES, *_PACKED_TYPES, 5):
        raise FormatMismatch(
            f"image {image.index} (DataType {image.data_type}, {_DATA_TYPES[image.data_type][1]}) "
            "is stored in a layout that cannot be mapped; load it instead"
        )
    dtype = np.dtype(bool) if image.data_type == 14 else image.dtype
    return image.offset, dtype, image.shape, _metadata(tree, image)


def data_block(path, *, index: int | None = None) -> tuple[int, np.dtype, tuple, Metadata]:
    """Locate the pixels of the main image (or image ``index``) without reading them.

    Only the tag tree is read, so this is fast however large the file.

    Returns
    -------
    (offset, dtype, shape, metadata)
        Byte offset of the pixels, their dtype (in the file's byte order), their shape
        in NumPy order (``(Z, Y, X)`` for a DM stack X x Y x Z) and the metadata.

    Raises
    ------
    stonerimg.FormatError
        If the file is not a DM file, is damaged, or its pixels cannot be mapped as
        they are (RGB, packed-complex FFT): load those with :func:`load`.
    """
    path = _checked_path(path)
    try:
        return _locate(path, index)
    except FormatMismatch as err:
        raise FormatError(path, [("dm", str(err))]) from None


def open(path, mode: str = "r", *, index: int | None = None):  # noqa: A001 - the registry's name for lazy opening
    """Open the main image (or image ``index``) disk-backed: the pixels are mapped, not read.

    Parameters
    ----------
    path : str or os.PathLike
        The DM3/DM4 file.
    mode : {"r", "r+"}
        ``"r"`` never changes the file; ``"r+"`` lets writes to the pixels go to it.
    index : int, optional
        Position in ``ImageList``.

    Returns
    -------
    ImageFile or ImageStack
        From :func:`stonerimg.lazy.open_raw`: a 1-D image is a 1 x N image, a 3-D
        image a stack ``(Z, Y, X)``, a 4-D image a stack of its ``W * Z`` planes
        (``dm.dimensions`` keeps the DM sizes).

    Raises
    ------
    stonerimg.errors.FormatMismatch
        If the file is not a DM file, is damaged or cannot be mapped (the registry's
        :func:`stonerimg.lazy.open` reports a FormatError); :func:`data_block` says why.
    """
    from ..lazy import open_raw

    offset, dtype, shape, metadata = _locate(Path(os.fspath(path)), index)
    if len(shape) == 1:
        shape = (1, *shape)
    elif len(shape) > 3:
        shape = (math.prod(shape[:-2]), *shape[-2:])
    return open_raw(path, offset=offset, dtype=dtype, shape=shape, mode=mode, metadata=metadata)
