"""Builders of small hostile files (the regression corpus the safety tests make for themselves).

Each builder writes one file of a few KB into a given folder and returns its path.
:func:`run_capped` loads files in a child interpreter under a 2 GiB address-space cap
and a time limit, so an allocation or a hang fails only the test that asked.
"""

from __future__ import annotations

import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np

#: The address-space cap of the child process (the issue's contract: 2 GiB).
ADDRESS_SPACE = 2 << 30


def run_capped(code: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
    """Run ``code`` in a child Python under :data:`ADDRESS_SPACE` and ``timeout`` seconds."""
    prelude = f"import resource; resource.setrlimit(resource.RLIMIT_AS, ({ADDRESS_SPACE}, {ADDRESS_SPACE}))\n"
    return subprocess.run(
        [sys.executable, "-c", prelude + code], capture_output=True, text=True, timeout=timeout, check=False
    )


def expect_format_error(path, *needles, call: str = "stonerimg.load", options: str = "") -> str:
    """Assert ``call(path)`` raises FormatError (containing every needle) in a capped child; return its message."""
    code = (
        "import sys, stonerimg\n"
        "try:\n"
        f"    {call}({str(path)!r}{options})\n"
        "except stonerimg.FormatError as err:\n"
        "    print(str(err))\n"
        "else:\n"
        "    sys.exit('no FormatError')\n"
    )
    result = run_capped(code)
    assert result.returncode == 0, result.stdout + result.stderr
    for needle in needles:
        assert needle in result.stdout, result.stdout
    assert "MemoryError" not in result.stdout
    return result.stdout


# --------------------------------------------------------------------------- HDF5


def hdf5_never_written(folder: Path, shape=(32_000, 32_000)) -> Path:
    """1.4 KB declaring a 32 000 x 32 000 float64 dataset that was never written (8 GB of fill value)."""
    import h5py

    path = folder / "never_written.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("image", shape, "<f8")
    return path


def hdf5_chunk_written(folder: Path, shape=(40_000, 40_000)) -> Path:
    """A gzip-chunked 40 000 x 40 000 float32 dataset of which one chunk was written."""
    import h5py

    path = folder / "one_chunk.h5"
    with h5py.File(path, "w") as f:
        data = f.create_dataset("image", shape, "<f4", chunks=(64, 64), compression="gzip")
        data[:64, :64] = 1.0
    return path


def stxm_meshgrid(folder: Path, n: int = 60_000) -> Path:
    """An NXstxm file whose compressed sample_x, sample_y of ``n`` points each ask for an n x n grid."""
    import h5py

    path = folder / "meshgrid.hdf5"
    with h5py.File(path, "w") as f:
        entry = f.create_group("entry1")
        entry["definition"] = np.array([b"NXstxm"])
        counter = entry.create_group("counter0")
        counter.create_dataset("data", (n, n), "<f4", chunks=(64, 64), compression="gzip")
        counter.create_dataset("sample_x", data=np.zeros(n), compression="gzip")
        counter.create_dataset("sample_y", data=np.zeros(n), compression="gzip")
    return path


def hdf5_double_linked_groups(folder: Path, depth: int = 14) -> Path:
    """Groups each linked twice to the next: 2**depth paths to the last one, ``depth`` + 1 objects."""
    import h5py

    path = folder / "double_links.h5"
    with h5py.File(path, "w") as f:
        groups = [f.create_group(f"g{i}") for i in range(depth + 1)]
        for a, b in zip(groups, groups[1:], strict=False):
            a["left"] = b
            a["right"] = b
        groups[-1]["image"] = np.ones((4, 4))
        for g in groups:
            g.attrs["note"] = "x"
    return path


# --------------------------------------------------------------------------- NPY / TIFF / PNG


def npy_huge_header(folder: Path, shape=(1 << 20, 1 << 20)) -> Path:
    """A .npy whose header declares ``shape`` float64 (8 TiB) over 16 bytes of data."""
    path = folder / "huge.npy"
    header = repr({"descr": "<f8", "fortran_order": False, "shape": shape}).encode()
    header += b" " * (63 - (10 + len(header)) % 64) + b"\n"
    path.write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + bytes(16))
    return path


def _patch_tag(path: Path, page: int, code: int, value: int) -> None:
    """Overwrite the (inline) value of tag ``code`` of page ``page`` of a TIFF file."""
    import tifffile

    with tifffile.TiffFile(path) as tif:
        tag = tif.pages[page].tags[code]
        offset, dtype = tag.valueoffset, tag.dtype
    fmt = {3: "<H", 4: "<I", 16: "<Q"}[int(dtype)]
    raw = bytearray(path.read_bytes())
    raw[offset : offset + struct.calcsize(fmt)] = struct.pack(fmt, value)
    path.write_bytes(bytes(raw))


def tiff_second_page_huge(folder: Path) -> Path:
    """Two 8 x 8 pages; the second declares 46 000 x 46 000 (the check used to look at the first series only)."""
    import tifffile

    path = folder / "second_page.tif"
    with tifffile.TiffWriter(path) as tif:
        tif.write(np.ones((8, 8), np.uint16), contiguous=False)
        tif.write(np.ones((8, 8), np.uint16), contiguous=False)
    _patch_tag(path, 1, 256, 46_000)  # ImageWidth
    _patch_tag(path, 1, 257, 46_000)  # ImageLength
    _patch_tag(path, 1, 278, 46_000)  # RowsPerStrip: one strip
    return path


def tiff_strip_byte_count(folder: Path) -> Path:
    """An 8 x 8 TIFF whose strip byte count says 2 GB (tifffile would allocate it to read the strip)."""
    import tifffile

    path = folder / "strip.tif"
    tifffile.imwrite(path, np.ones((8, 8), np.uint16))
    _patch_tag(path, 0, 279, 2_000_000_000)  # StripByteCounts
    return path


def png_declaring(folder: Path, width: int = 12_000, height: int = 12_000) -> Path:
    """A 4 x 4 PNG whose header says ``width`` x ``height`` (its IDAT holds a few bytes)."""
    from PIL import Image

    path = folder / "idat.png"
    Image.fromarray(np.ones((4, 4), np.uint8)).save(path)
    raw = bytearray(path.read_bytes())
    ihdr = raw.find(b"IHDR")
    raw[ihdr + 4 : ihdr + 12] = struct.pack(">II", width, height)
    raw[ihdr + 17 : ihdr + 21] = struct.pack(">I", zlib.crc32(bytes(raw[ihdr : ihdr + 17])))
    path.write_bytes(bytes(raw))
    return path


def npy_zlib_bomb(folder: Path, inflated: int = 1 << 30) -> Path:
    """A .npy whose sidecar holds a 1-element ``ndarray`` value whose zlib payload inflates to ``inflated`` bytes."""
    import base64

    from stonerimg import ImageArray
    from stonerimg.formats._payload import encode_payload

    path = folder / "bomb.npy"
    np.save(path, np.zeros((2, 2)))
    deflater = zlib.compressobj(9)
    block = bytes(1 << 20)
    payload = b"".join(deflater.compress(block) for _ in range(inflated >> 20)) + deflater.flush()
    text = encode_payload(ImageArray(np.zeros((2, 2)), metadata={"bomb": np.zeros(1)}))
    start = text.index('"zlib_base64": "') + len('"zlib_base64": "')
    end = text.index('"', start)
    text = text[:start] + base64.b64encode(payload).decode("ascii") + text[end:]
    (folder / "bomb.npy.json").write_text(text, encoding="ascii")
    return path


def maximus_repeated_names(folder: Path, repeats: int = 100_000) -> str:
    """The text of a MAXYMUS header that repeats one name ``repeats`` times (renaming used to be quadratic)."""
    return "Item = 1;\n" * repeats


def png_long_literals(folder: Path, count: int = 40, size: int = 900_000) -> Path:
    """A small PNG of ``count`` compressed typed text chunks, each a literal of ``size`` characters."""
    from PIL import Image, PngImagePlugin

    path = folder / "literals.png"
    info = PngImagePlugin.PngInfo()
    literal = "[" + ",".join(["1.5"] * (size // 4)) + "]"
    for i in range(count):
        info.add_itxt(f"value{i}{{Cluster (1)}}", literal, zip=True)
    Image.fromarray(np.ones((4, 4), np.uint8)).save(path, pnginfo=info)
    return path


def dm_damaged(folder: Path) -> Path:
    """A DM3 file cut after its header: the native reader sees it is damaged in milliseconds."""
    from .dm_writer import write_dm

    path = write_dm(folder / "good.dm3", np.arange(20, dtype=np.int16).reshape(4, 5))
    cut = folder / "cut.dm3"
    cut.write_bytes(path.read_bytes()[:40])
    return cut


def npy_header_length(folder: Path) -> Path:
    """A version-2 .npy whose 4-byte header length says 4 GB (NumPy would allocate it before checking)."""
    path = folder / "header_length.npy"
    header = b"{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }\n"
    path.write_bytes(b"\x93NUMPY\x02\x00" + struct.pack("<I", 0xF000_0000) + header + bytes(16))
    return path
