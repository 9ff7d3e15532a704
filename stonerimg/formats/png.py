"""PNG through Pillow.

PNG holds bool, 8-bit and 16-bit greyscale and 8-bit RGB/RGBA pixels; saving
any other dtype raises ``ValueError`` rather than silently rescaling.  Our
metadata, dtype and mask travel in one compressed iTXt chunk named
``stonerimg``.  Text chunks written by other software (NI IMAQ Vision, the
Stoner package) are loaded as metadata, typed by their ``Name{Type}`` hints.
"""

from __future__ import annotations

import os
import struct

import numpy as np

from ..errors import FormatMismatch
from ..imagefile import ImageFile
from . import atomic_path
from ._payload import PAYLOAD_KEY, encode_payload, payload_document, typed_text_metadata

_SAVABLE = (np.dtype(bool), np.dtype(np.uint8), np.dtype(np.uint16))


def _pixels_for_png(data: np.ndarray) -> np.ndarray:
    native = data.dtype.newbyteorder("=")
    if data.ndim == 2 and native in _SAVABLE:
        return data.astype(native, copy=False)
    if data.ndim == 3 and data.shape[-1] in (3, 4) and data.dtype == np.uint8:
        return data
    raise ValueError(
        f"image: PNG holds bool, uint8 or uint16 greyscale and uint8 RGB(A) images, not a {data.shape} "
        f"{data.dtype} image; save it as .tif or .npy, or convert it first (e.g. image.asint(np.uint16))"
    )


_PILLOW_PNG_OPTIONS = frozenset({"optimize", "compress_level", "dpi", "icc_profile", "exif", "transparency"})


def save(image, path, **kwargs) -> None:
    """Write ``image`` to ``path`` as a PNG (atomically).

    Keyword arguments are Pillow's PNG options: ``optimize``, ``compress_level``,
    ``dpi``, ``icc_profile``, ``exif``, ``transparency``; anything else is a TypeError
    (Pillow itself would ignore it silently).
    """
    unknown = sorted(set(kwargs) - _PILLOW_PNG_OPTIONS)
    if unknown:
        raise TypeError(
            f"PNG save: unknown option(s) {', '.join(unknown)}; it takes {', '.join(sorted(_PILLOW_PNG_OPTIONS))}"
        )
    from PIL import Image, PngImagePlugin

    data = _pixels_for_png(np.ascontiguousarray(image.data))
    if data.dtype == np.uint16:
        picture = Image.frombuffer("I;16", (data.shape[1], data.shape[0]), data.tobytes(), "raw", "I;16", 0, 1)
    else:
        picture = Image.fromarray(data)
    info = PngImagePlugin.PngInfo()
    info.add_itxt(PAYLOAD_KEY, encode_payload(image), zip=True)
    with atomic_path(path) as temp:
        picture.save(temp, format="PNG", pnginfo=info, **kwargs)


def _pixels_from(picture) -> np.ndarray:
    mode = picture.mode
    if mode == "P":
        picture = picture.convert("RGBA" if "transparency" in picture.info else "RGB")
    elif mode in ("I;16B", "I;16L"):
        return np.array(picture).astype(np.uint16, copy=False)  # I;16 is native uint16 already
    data = np.array(picture)
    if mode == "1":
        data = data.astype(bool)
    return data


def _check_declared_size(source: PngSource, picture) -> None:
    """Refuse a PNG whose header declares more pixels than its compressed data could hold, before decoding."""
    from ._limits import check_declared

    path = source.path
    bits = {"1": 1, "L": 8, "P": 8, "LA": 16, "PA": 16, "RGB": 24, "RGBA": 32, "I;16": 16, "I;16B": 16, "I": 32}
    width, height = picture.size
    stored = source.stored
    raw = height * ((width * bits.get(picture.mode, 64) + 7) // 8 + 1)  # the filter byte of each row
    what = f"its {width} x {height} {picture.mode} image"
    check_declared(path, raw, what=what, stored=stored, compression="deflate", in_memory=False)
    check_declared(path, width * height * 4, what=what, compression=None)  # Pillow's own buffer


_CHUNK_HEAD = struct.Struct(">I4s")  # a chunk's length and type
_TEXT_CHUNKS = (b"tEXt", b"iTXt", b"zTXt")

#: A PNG up to this size has its chunk headers read in one read (larger ones: header by header).
READ_WHOLE_BYTES = 32 << 20
#: How many bytes of each text chunk :attr:`PngSource.texts` keeps (the keyword and the start of the text).
TEXT_HEAD_BYTES = 256
#: How many text chunks :attr:`PngSource.texts` keeps (the checks before decoding look no further).
MAX_TEXT_HEADS = 10_000


class PngSource:
    """The chunk table of one PNG file, walked once per load and shared by the checks before decoding.

    Attributes
    ----------
    path : path
        The file (Pillow decodes it from there).
    stored : int
        Bytes of compressed image data (the IDAT chunks), for the declared-size check.
    texts : list of bytes
        The first :data:`TEXT_HEAD_BYTES` of each text chunk (at most :data:`MAX_TEXT_HEADS`),
        for formats that recognise a PNG from its text keywords (Kerr).
    """

    __slots__ = ("path", "stored", "texts")

    def __init__(self, path):
        self.path = path
        self.stored = 0
        self.texts: list[bytes] = []
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size <= READ_WHOLE_BYTES:
                self._walk_bytes(handle.read(size), size)
                return
            for kind, offset, length in _chunk_headers(handle, size):
                if kind == b"IDAT":
                    self.stored += length
                elif kind in _TEXT_CHUNKS and len(self.texts) < MAX_TEXT_HEADS:
                    handle.seek(offset)
                    self.texts.append(handle.read(min(length, TEXT_HEAD_BYTES)))

    def _walk_bytes(self, whole: bytes, size: int) -> None:
        """Walk the chunk headers of ``whole`` (the file's bytes; ``size`` its size when opened), inline for speed."""
        unpack = _CHUNK_HEAD.unpack_from
        texts = self.texts
        stored = 0
        position = 8
        end = min(size, len(whole)) - 8  # a header must fit in what was read
        while position <= end:
            length, kind = unpack(whole, position)
            if kind == b"IDAT":
                stored += min(length, size - 8 - position)  # a chunk cut short counts what the file holds
            elif kind in _TEXT_CHUNKS and len(texts) < MAX_TEXT_HEADS:
                texts.append(whole[position + 8 : position + 8 + min(length, TEXT_HEAD_BYTES)])
            position += 12 + length
        self.stored = stored


def _chunk_headers(handle, size: int):
    """Yield ``(type, offset, length)`` of every chunk of a file too large to read whole, header by header."""
    position = 8
    while position + 8 <= size:
        handle.seek(position)
        head = handle.read(8)
        if len(head) < 8:
            return
        length, kind = _CHUNK_HEAD.unpack(head)
        yield kind, position + 8, min(length, max(0, size - position - 8))
        position += 12 + length


def load(path) -> ImageFile:
    """Read a PNG file with its text chunks."""
    return read(PngSource(path))


def read(source: PngSource) -> ImageFile:
    """Read the PNG of ``source`` (a :class:`PngSource`: its chunk table already walked) with its text chunks."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(source.path, formats=["PNG"]) as picture:
            _check_declared_size(source, picture)
            picture.load()
            text = dict(getattr(picture, "text", {}))
            data = _pixels_from(picture)
    except UnidentifiedImageError as err:
        raise FormatMismatch("not a PNG file") from err
    if PAYLOAD_KEY in text:
        return payload_document(text.pop(PAYLOAD_KEY), data)
    return ImageFile(data, metadata=typed_text_metadata(text.items()))
