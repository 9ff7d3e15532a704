"""A small DM3/DM4 writer for the tests and the benchmark (not a public feature of stonerimg).

It writes the tag tree as the public descriptions of the format give it (and as
DigitalMicrograph's own files in the sample data show it): a header, then nested tag
groups; ``ImageList`` with a thumbnail and the image; ``Thumbnails`` naming the thumbnail.
Pixel arrays are written with DigitalMicrograph's element types, so RosettaSciIO reads
these files too and the tests can compare both readers on them.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

#: NumPy dtype -> (ImageData.DataType, tag element type code).
DATA_TYPES = {
    "int16": (1, 2),
    "float32": (2, 6),
    "complex64": (3, None),
    "uint8": (6, 10),
    "int32": (7, 3),
    "int8": (9, 9),
    "uint16": (10, 4),
    "uint32": (11, 5),
    "float64": (12, 7),
    "complex128": (13, None),
    "bool": (14, 8),
}
_CODES = {"h": 2, "i": 3, "H": 4, "I": 5, "f": 6, "d": 7, "?": 8, "b": 9, "B": 10, "q": 11, "Q": 12}


class Struct(tuple):
    """A DM struct value: a tuple of simple values with their struct characters."""

    def __new__(cls, chars: str, values):
        obj = super().__new__(cls, values)
        obj.chars = chars
        return obj


class Array:
    """A DM array of simple elements (or of structs, with ``struct_chars``), or a text (``text=``)."""

    def __init__(self, values=None, *, text: str | None = None, struct_chars: str | None = None):
        self.text = text
        self.values = values
        self.struct_chars = struct_chars


class RawString(bytes):
    """A DM string tag (type 18) holding these bytes as they are (any encoding)."""


class Zeros:
    """Pixels of ``shape`` and ``dtype``, all zero, left as a hole in the file (sparse: nothing is written)."""

    def __init__(self, shape, dtype):
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.count = int(np.prod(self.shape))


class _Hole(int):
    """So many bytes of zeros in the parts of a file."""


def _length(parts) -> int:
    return sum(int(p) if isinstance(p, _Hole) else len(p) for p in parts)


class _Writer:
    def __init__(self, version: int, little: bool):
        self.version = version
        self.word = ">Q" if version == 4 else ">I"
        self.endian = "<" if little else ">"

    def words(self, *values) -> bytes:
        return b"".join(struct.pack(self.word, v) for v in values)

    def data(self, value) -> tuple[list, bytes]:
        """Type codes and bytes of one value."""
        e = self.endian
        if isinstance(value, RawString):
            return [18, len(value)], bytes(value)
        if isinstance(value, Struct):
            codes = [15, 0, len(value.chars)]
            for c in value.chars:
                codes += [0, _CODES[c]]
            return codes, struct.pack(e + value.chars, *value)
        if isinstance(value, bool):
            return [8], struct.pack(e + "?", value)
        if isinstance(value, int):
            return [3], struct.pack(e + "i", value)
        if isinstance(value, float):
            return [7], struct.pack(e + "d", value)
        if isinstance(value, str):  # DigitalMicrograph writes text as arrays of UTF-16 code units
            value = Array(text=value)
        if isinstance(value, np.generic):
            return [_CODES[value.dtype.char]], np.asarray(value).astype(value.dtype.newbyteorder(e)).tobytes()
        if isinstance(value, Zeros):
            return [20, _CODES[value.dtype.char], value.count], _Hole(value.count * value.dtype.itemsize)
        if isinstance(value, Array):
            if value.text is not None:
                raw = value.text.encode("utf-16-le" if e == "<" else "utf-16-be")
                return [20, 4, len(raw) // 2], raw
            if value.struct_chars is not None:
                codes = [20, 15, 0, len(value.struct_chars)]
                for c in value.struct_chars:
                    codes += [0, _CODES[c]]
                rows = b"".join(struct.pack(e + value.struct_chars, *row) for row in value.values)
                return [*codes, len(value.values)], rows
            array = np.asarray(value.values)
            return [20, _CODES[array.dtype.char], array.size], array.astype(array.dtype.newbyteorder(e)).tobytes()
        raise TypeError(f"cannot write {type(value).__name__}")

    def tag(self, label: str, value) -> list:
        """The parts (bytes, or holes of zeros) of one tag."""
        name = label.encode("latin-1")
        if isinstance(value, (dict, list)):
            kind, body = 20, self.group(value)
        else:
            codes, raw = self.data(value)
            kind, body = 21, [b"%%%%" + self.words(len(codes)) + self.words(*codes), raw]
        size = struct.pack(">Q", _length(body)) if self.version == 4 else b""
        return [struct.pack(">BH", kind, len(name)) + name + size, *body]

    def group(self, content) -> list:
        items = list(content.items()) if isinstance(content, dict) else [("", v) for v in content]
        parts = [b"\x01\x00" + self.words(len(items))]
        for key, value in items:
            parts += self.tag(key, value)
        return parts


def _image_group(data, calibration, units, tags: dict, name: str, rgba=False, packed_width=None) -> dict:
    """One ``ImageList`` entry for ``data`` (NumPy order), with DM dimensions X, Y, Z."""
    if isinstance(data, Zeros):
        data_type, dims, pixels = DATA_TYPES[data.dtype.name][0], list(reversed(data.shape)), data
    elif rgba:  # (..., 4) R, G, B, A bytes: stored as one 4-byte element per pixel, B, G, R, A
        data_type, dims = 23, list(reversed(data.shape[:-1]))
        bgra = np.ascontiguousarray(data[..., [2, 1, 0, 3]], dtype=np.uint8)
        pixels = Array(bgra.view("<u4").reshape(-1))
    elif packed_width is not None:  # the stored half plane of an FFT: (..., X/2 + 1) complex
        data_type = 27 if data.dtype == np.complex64 else 28
        dims = [packed_width, *reversed(data.shape[:-1])]
        real = np.float32 if data.dtype == np.complex64 else np.float64
        pixels = Array(np.ascontiguousarray(data).view(real).reshape(-1))
    else:
        data_type, element = DATA_TYPES[np.dtype(data.dtype).name]
        dims = list(reversed(data.shape))
    flat = None if isinstance(data, Zeros) else np.ascontiguousarray(data).reshape(-1)
    if isinstance(data, Zeros) or rgba or packed_width is not None:
        pass
    elif element is None:  # complex: an array of (real, imaginary) structs
        chars = "ff" if data.dtype == np.complex64 else "dd"
        pixels = Array([(v.real, v.imag) for v in flat.tolist()], struct_chars=chars)
    elif data.dtype == bool:
        pixels = Array(flat.astype(bool))
    else:
        pixels = Array(flat)
    dimension = []
    for n in range(len(dims)):
        scale, origin = calibration[n] if n < len(calibration) else (1.0, 0.0)
        dimension.append({"Origin": float(origin), "Scale": float(scale), "Units": units[n] if n < len(units) else ""})
    return {
        "ImageData": {
            "Calibrations": {
                "Brightness": {"Origin": 0.0, "Scale": 1.0, "Units": ""},
                "Dimension": dimension,
                "DisplayCalibratedUnits": 1,
            },
            "Data": pixels,
            "DataType": data_type,
            "Dimensions": [np.uint32(d) for d in dims],
            "PixelDepth": int(data.dtype.itemsize),
        },
        "ImageTags": tags,
        "Name": name,
        "UniqueID": {"0": 7},
    }


def write_dm(
    path,
    data,
    *,
    version: int = 3,
    little: bool = True,
    calibration=(),
    units=(),
    tags: dict | None = None,
    name: str = "written",
    thumbnail: bool = True,
    extra_root: dict | None = None,
    rgba: bool = False,
    packed_width: int | None = None,
) -> Path:
    """Write ``data`` (NumPy order; 1-D, 2-D or 3-D) as a DM3 or DM4 file.

    ``calibration`` gives ``(scale, origin)`` per DM dimension (X first) and ``units``
    their units; ``tags`` become the image's ``ImageTags``.  With ``thumbnail`` an 8 x 8
    uint8 thumbnail is ``ImageList`` entry 0 and the image entry 1, as DigitalMicrograph
    saves them.  ``rgba`` writes ``(..., 4)`` uint8 R, G, B, A pixels as an RGB image
    (DataType 23); ``packed_width`` writes complex ``data`` as the stored half plane of a
    packed-complex FFT (DataType 27/28) of that full width.
    """
    writer = _Writer(version, little)
    data = data if isinstance(data, Zeros) else np.asarray(data)
    images = []
    if thumbnail:
        small = (np.arange(64) % 251).astype(np.uint8).reshape(8, 8)
        images.append(_image_group(small, (), (), {}, ""))
    images.append(_image_group(data, calibration, units, tags or {}, name, rgba, packed_width))
    root = {"ApplicationBounds": Struct("iiii", (0, 0, 768, 1024))}
    root.update(extra_root or {})
    root["ImageList"] = images
    if thumbnail:
        root["Thumbnails"] = [{"ImageIndex": 0, "SourceSize_Pixels": Struct("ii", (191, 191))}]
    body = writer.group(root)
    length = struct.pack(">Q" if version == 4 else ">I", (_length(body) + 4) % 2 ** (64 if version == 4 else 32))
    header = struct.pack(">I", version) + length + struct.pack(">I", 1 if little else 0)
    path = Path(path)
    with open(path, "wb") as handle:
        for part in [header, *body, b"\x00" * (16 if version == 4 else 8)]:
            if isinstance(part, _Hole):
                handle.seek(int(part), 1)
            else:
                handle.write(part)
    return path
