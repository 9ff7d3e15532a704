"""The one size policy: no allocation larger than what a file can justify.

A damaged or hostile header can declare any size.  Before a loader allocates
what a file declares it calls :func:`check_declared`, which refuses (with a
:class:`~stonerimg.FormatError` naming the declared size and the limit) a size

- larger than the bytes that hold it times the largest expansion its
  compression can give (:data:`EXPANSION`: 1 for raw bytes, 1032 for deflate,
  ...; a compression with no known bound is held only to the ceiling), or
- larger than the ceiling :data:`stonerimg.config.max_image_bytes` (for data
  read into memory; lazily opened images stay in their file).

Compressed metadata is inflated by :func:`inflate`, which stops at the size the
value declares.  HDF5 datasets go through :func:`check_dataset` (a dataset
that was never written, holding only its fill value, is refused rather than
materialised).
"""

from __future__ import annotations

import os
import zlib

from ..errors import FormatError

__all__ = ["EXPANSION", "check_dataset", "check_declared", "describe_bytes", "inflate"]

#: The largest number of bytes one stored byte can become, by compression.
#: Deflate tops out at 1032:1 (258-byte matches in codes of at least 2 bits);
#: TIFF LZW at 4096 bytes per 12-bit code; PackBits at 128 bytes per 2; LZF at
#: 264 bytes per 3; HDF5's n-bit and scale-offset filters at 64 (1 bit per 8 bytes).
EXPANSION = {"none": 1, "deflate": 1033, "lzw": 2731, "packbits": 64, "lzf": 88, "bits": 64}

#: TIFF compression tag values -> :data:`EXPANSION` keys (others have no known bound).
TIFF_COMPRESSION = {1: "none", 5: "lzw", 8: "deflate", 32946: "deflate", 32773: "packbits"}

#: HDF5 filter ids -> :data:`EXPANSION` keys (shuffle and checksums do not change the size).
HDF5_FILTERS = {1: "deflate", 2: "none", 3: "none", 5: "bits", 6: "bits", 32000: "lzf"}


def describe_bytes(count: int) -> str:
    """``"8.0 GiB (8589934592 bytes)"``: a size a person reads and the exact number."""
    value, unit = float(count), "bytes"
    for name in ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if value < 1024:
            break
        value, unit = value / 1024, name
    return f"{count} bytes" if unit == "bytes" else f"{value:.1f} {unit} ({count} bytes)"


def ceiling() -> int:
    """Return :data:`stonerimg.config.max_image_bytes`, checked."""
    from .. import config

    limit = config.max_image_bytes
    if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
        raise ValueError(f"stonerimg.config.max_image_bytes: must be a positive int, not {limit!r}")
    return limit


def check_declared(
    path,
    declared: int,
    *,
    what: str = "the image",
    stored: int | None = None,
    compression: str | None = "none",
    in_memory: bool = True,
) -> None:
    """Refuse ``declared`` bytes that the file cannot justify, before they are allocated.

    Parameters
    ----------
    path : str or os.PathLike
        The file (named in the error).
    declared : int
        The bytes the file's header asks for.
    what : str
        What is declared, for the message (``"page 3"``, ``"dataset /entry/data"``).
    stored : int, optional
        The bytes of the file that hold it (default: the whole file).
    compression : str or None
        A key of :data:`EXPANSION`, or None for a compression with no known bound
        (then only the ceiling applies).
    in_memory : bool, default True
        Whether the data will be read into memory (then the ceiling applies too).

    Raises
    ------
    stonerimg.FormatError
        Naming the declared size and the limit it exceeds.
    """
    declared = int(declared)
    if compression is not None:
        if stored is None:
            stored = os.path.getsize(path)
        bound = EXPANSION[compression]
        if declared > int(stored) * bound:
            how = "uncompressed" if bound == 1 else f"{compression}-compressed, at most {bound}:1"
            raise FormatError(
                path,
                reason=f"{what} declares {describe_bytes(declared)}, more than the {describe_bytes(int(stored))} "
                f"that hold it can give ({how}): a truncated or damaged file",
            )
    if in_memory and declared > ceiling():
        raise FormatError(
            path,
            reason=f"{what} declares {describe_bytes(declared)}, more than the limit of {describe_bytes(ceiling())} "
            "(stonerimg.config.max_image_bytes)",
        )


def check_dataset(path, dataset, *, what: str | None = None, in_memory: bool = True) -> None:
    """Apply :func:`check_declared` to an HDF5 dataset from its storage (never reading it).

    A dataset with no storage at all (never written: every element is its fill
    value) is refused, not materialised.
    """
    what = what or f"dataset {dataset.name}"
    shape = dataset.shape
    if shape is None:
        return
    declared = dataset.dtype.itemsize
    for n in shape:
        declared *= int(n)
    if declared == 0:
        return
    plist = dataset.id.get_create_plist()
    from h5py import h5d

    if plist.get_layout() == h5d.VIRTUAL:
        check_declared(path, declared, what=what, compression=None, in_memory=in_memory)
        return
    external = plist.get_external_count()
    if external:
        stored = sum(min(int(plist.get_external(i)[2]), declared) for i in range(external))
        check_declared(path, declared, what=what, stored=stored, in_memory=in_memory)
        return
    stored = dataset.id.get_storage_size()
    if stored == 0:
        raise FormatError(
            path,
            reason=f"{what} declares {describe_bytes(declared)} but was never written (it holds only its fill value)",
        )
    compression = "none"
    for i in range(plist.get_nfilters()):
        code = plist.get_filter(i)[0]
        kind = HDF5_FILTERS.get(code)
        if kind is None:
            compression = None
            break
        if kind != "none":
            compression = kind if compression == "none" else None  # two compressions: no simple bound
    check_declared(path, declared, what=what, stored=stored, compression=compression, in_memory=in_memory)


def inflate(data: bytes, expected: int, *, what: str = "a compressed value") -> bytes:
    """Inflate zlib ``data`` into at most ``expected`` bytes (the size the value declares).

    Raises
    ------
    ValueError
        If the data inflate to more (or less) than ``expected`` bytes, or
        ``expected`` is beyond :data:`stonerimg.config.max_image_bytes`.
    zlib.error
        If the data are not zlib.
    """
    if expected > ceiling():
        raise ValueError(
            f"{what} declares {describe_bytes(expected)}, more than the limit of {describe_bytes(ceiling())} "
            "(stonerimg.config.max_image_bytes)"
        )
    inflater = zlib.decompressobj()
    raw = inflater.decompress(data, expected + 1)
    if len(raw) > expected or inflater.unconsumed_tail:
        raise ValueError(f"{what} inflates to more than the {expected} bytes it declares")
    if len(raw) < expected:
        raise ValueError(f"{what} inflates to {len(raw)} bytes, not the {expected} it declares")
    return raw
