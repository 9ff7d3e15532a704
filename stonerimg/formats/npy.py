"""NumPy ``.npy`` files, with metadata and mask in a sidecar.

The pixels are a plain ``.npy`` file any NumPy reads; our JSON document
(metadata, dtype, shape, mask) goes beside it in ``<name>.npy.json``.  Both are
written atomically, and loading never unpickles (``allow_pickle=False``).
A ``.npy`` file without a sidecar loads as a bare image.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import zlib
from pathlib import Path

import numpy as np

from ..errors import FormatError, FormatMismatch
from ..imagefile import ImageFile
from . import atomic_path
from ._limits import check_declared
from ._payload import encode_payload, payload_document


def sidecar(path) -> Path:
    """Return the metadata sidecar of ``path``: ``<name>.npy.json``."""
    path = Path(path)
    return path.with_name(path.name + ".json")


#: Ends every ``.npy`` file stonerimg writes (after the array, where NumPy does not look), then the generation.
TRAILER = b"\n#stonerimg-generation:"
_GENERATION_HEX = 32


def new_generation() -> str:
    """Return a fresh generation id: it ties a pixel file to the sidecar saved with it."""
    return secrets.token_hex(_GENERATION_HEX // 2)


def content_generation(data: np.ndarray, document: str) -> str:
    """Return the generation id of a pair from its content, so the same image always saves to the same bytes."""
    # CRC-32 of the pixels (several GB/s, 4x faster than a cryptographic hash: this is no defence
    # against forgery, only a mark that tells two saves apart) and a hash of everything else
    crc = 0
    flat = np.ascontiguousarray(data).reshape(-1).view(np.uint8)
    for start in range(0, flat.size, 64 << 20):
        crc = zlib.crc32(flat[start : start + (64 << 20)], crc)
    digest = hashlib.blake2b(document.encode("ascii"), digest_size=_GENERATION_HEX // 2)
    digest.update(str((data.dtype.str, data.shape, crc)).encode("ascii"))
    return digest.hexdigest()


def trailer(generation: str) -> bytes:
    """Return the bytes that end a pixel file of ``generation``."""
    return TRAILER + generation.encode("ascii") + b"\n"


def file_generation(path) -> str | None:
    """Return the generation id at the end of a pixel file, or None (a file not saved by stonerimg)."""
    size = len(trailer("0" * _GENERATION_HEX))
    with open(path, "rb") as handle:
        end = handle.seek(0, os.SEEK_END)
        if end < size:
            return None
        handle.seek(end - size)
        tail = handle.read(size)
    if not tail.startswith(TRAILER):
        return None
    return tail[len(TRAILER) : -1].decode("ascii", "replace")


def save(image, path, **kwargs) -> None:
    """Write the pixels to ``path`` and the metadata to its sidecar; takes no options.

    The pair is committed pixels first, then sidecar, and both carry the same
    generation id (a hash of the content: the sidecar's ``"generation"``, the
    pixel file's last line, after the array where NumPy does not read),
    so a reader sees the old pair or the new one: :func:`read_sidecar` finds a
    pair torn by an interrupted save, and reads the new sidecar it left.
    """
    if kwargs:
        raise TypeError(f"NPY save: takes no options, not {', '.join(sorted(kwargs))}")
    if Path(path).is_symlink():  # the pixels go to the file the link names, and the sidecar beside them
        path = Path(os.path.realpath(path))
    data = np.asarray(image.data)
    generation = content_generation(data, encode_payload(image))
    with atomic_path(sidecar(path)) as temp_json, atomic_path(path) as temp:
        temp_json.write_text(encode_payload(image, generation=generation), encoding="ascii")
        with open(temp, "wb") as handle:
            np.save(handle, data, allow_pickle=False)
            handle.write(trailer(generation))


def read_sidecar(path) -> str | None:
    """Return the text of the sidecar that belongs to the pixel file ``path`` (None without a sidecar).

    A sidecar with a ``"generation"`` must match the pixel file's.  When it does
    not (a save was interrupted between its two renames), the new sidecar that
    save left beside it under its temporary name is used if it matches.

    Raises
    ------
    stonerimg.FormatError
        If the pixels and the sidecar come from different saves and no matching
        sidecar is found.
    """
    from . import temp_files

    side = sidecar(path)
    if not side.is_file() and Path(path).is_symlink():  # a link to a pixel file: its sidecar is beside that file
        side = sidecar(os.path.realpath(path))
    if not side.is_file():
        return None
    text = side.read_text(encoding="ascii")
    recorded = _recorded_generation(text)
    if recorded is None:
        return text  # saved before generations were recorded
    actual = file_generation(path)
    if actual == recorded:
        return text
    for pending in temp_files(side):
        try:
            candidate = pending.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError):
            continue
        if actual is not None and _recorded_generation(candidate) == actual:
            return candidate
    raise FormatError(
        path,
        reason=f"its sidecar {side.name} was saved with other pixels (generation {recorded}, the pixels have "
        f"{actual or 'none'}): a save was interrupted or one of the pair was replaced; delete the sidecar to "
        "load the bare pixels",
    )


def _recorded_generation(text: str) -> str | None:
    import json

    try:
        doc = json.loads(text)
    except ValueError:
        return None
    value = doc.get("generation") if isinstance(doc, dict) else None
    return value if isinstance(value, str) else None


#: The longest header NumPy reads (its own ``max_header_size`` default).
MAX_HEADER_BYTES = 10_000


def _check_header(path, *, in_memory: bool = True) -> None:
    """Refuse a file whose header describes more data than the file holds or the limit allows (before allocating it)."""
    from numpy.lib import format as npy_format

    with open(path, "rb") as handle:
        try:
            version = npy_format.read_magic(handle)
        except ValueError:
            return  # not .npy (perhaps .npz): np.load says what it is
        # the header's own length first: NumPy reads that many bytes before it checks them (a MemoryError)
        width = 2 if version == (1, 0) else 4
        length = int.from_bytes(handle.read(width), "little")
        available = os.fstat(handle.fileno()).st_size - handle.tell()
        most = min(available, MAX_HEADER_BYTES)
        if length > most:
            raise FormatError(
                path,
                reason=f"its header declares {length} bytes of header, more than the {most} it may have "
                "(a truncated or damaged file)",
            )
        handle.seek(-width, os.SEEK_CUR)
        try:
            read_header = npy_format.read_array_header_1_0 if version == (1, 0) else npy_format.read_array_header_2_0
            shape, _fortran, dtype = read_header(handle)
        except ValueError as err:
            raise FormatMismatch(f"a damaged .npy header: {err}") from err
        size = Path(path).stat().st_size - handle.tell()
    expected = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if not dtype.hasobject:
        check_declared(path, expected, what=f"its header ({shape} {dtype})", stored=size, in_memory=in_memory)


def load(path) -> ImageFile:
    """Read a ``.npy`` file (never unpickling) and its sidecar if there is one."""
    _check_header(path)
    try:
        data = np.load(path, allow_pickle=False)
    except ValueError as err:
        raise FormatMismatch(f"not a readable .npy array: {err}") from err
    if not isinstance(data, np.ndarray):
        data.close()
        raise FormatMismatch("holds several arrays (an .npz archive), not one image")
    text = read_sidecar(path)
    if text is not None:
        return payload_document(text, data)
    return ImageFile(data)
