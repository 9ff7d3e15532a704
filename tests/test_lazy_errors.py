"""Pixel access on a lazily opened image of a damaged file: a FormatError naming the file and the region."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

import stonerimg
from stonerimg import FormatError


def _damage(path, offset: int, length: int) -> None:
    raw = bytearray(path.read_bytes())
    raw[offset : offset + length] = b"\xff" * length
    path.write_bytes(bytes(raw))


def test_damaged_compressed_tiff_page(tmp_path):
    path = tmp_path / "stack.tif"
    rng = np.random.default_rng(0)
    with tifffile.TiffWriter(path) as tif:
        for _ in range(4):
            tif.write(rng.integers(0, 60000, (32, 32), dtype=np.uint16), compression="zlib", metadata=None)
    with tifffile.TiffFile(path) as tif:
        pages = list(tif.pages)
        assert len(pages) == 4
        offset = pages[1].dataoffsets[0]
    _damage(path, offset, 16)
    with stonerimg.open(path) as stack:  # the header is fine: open succeeds
        assert np.asarray(stack[0]).shape == (32, 32)  # and the intact page reads
        with pytest.raises(FormatError) as info:
            np.asarray(stack[1])
    message = str(info.value)
    assert str(path) in message and "frames 1:2" in message
    with pytest.raises(Exception) as raw:  # what tifffile itself raises is not a FormatError
        tifffile.imread(path, key=1)
    assert not isinstance(raw.value, FormatError)


def test_damaged_hdf5_chunk(tmp_path):
    h5py = pytest.importorskip("h5py")
    path = tmp_path / "image.h5"
    with h5py.File(path, "w") as f:
        data = f.create_dataset(
            "image", data=np.arange(64 * 64, dtype=np.float64).reshape(64, 64), chunks=(16, 16), compression="gzip"
        )
        offset = data.id.get_chunk_info(5).byte_offset
    _damage(path, offset, 8)
    with stonerimg.open(path) as image:  # the metadata are fine: open succeeds
        with pytest.raises(FormatError) as info:
            np.asarray(image.image[16:32, 16:32])
    message = str(info.value)
    assert str(path) in message and "frames 0:1 of the opened image failed: OSError" in message
    with h5py.File(path) as f, pytest.raises(OSError):  # h5py's own error, without the file's name
        f["image"][()]
