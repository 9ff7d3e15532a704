"""One size policy: no file makes the library allocate more than the file can justify.

Each hostile file of :mod:`tests.formats.hostile` is loaded (and lazily opened) in a child
process under a 2 GiB address-space cap: the answer must be a ``FormatError`` naming the
declared size and the limit, in seconds, never a ``MemoryError`` or a successful load.
"""

from __future__ import annotations

import numpy as np
import pytest

import stonerimg
from stonerimg import FormatError
from stonerimg.formats import _limits
from stonerimg.metadata import Metadata

from . import hostile

pytest.importorskip("h5py")


@pytest.mark.parametrize("call", ["stonerimg.load", "stonerimg.open"])
def test_hdf5_dataset_never_written(tmp_path, call):
    path = hostile.hdf5_never_written(tmp_path)
    assert path.stat().st_size < 4096
    hostile.expect_format_error(path, "never written", "7.6 GiB (8192000000 bytes)", call=call)


@pytest.mark.parametrize("call", ["stonerimg.load", "stonerimg.open"])
def test_hdf5_one_chunk_of_a_huge_dataset(tmp_path, call):
    path = hostile.hdf5_chunk_written(tmp_path)
    message = hostile.expect_format_error(path, "dataset /image declares", "deflate", call=call)
    assert "6400000000 bytes" in message


@pytest.mark.parametrize("call", ["stonerimg.load", "stonerimg.open"])
def test_stxm_position_grid(tmp_path, call):
    path = hostile.stxm_meshgrid(tmp_path)
    assert path.stat().st_size < 64 << 10
    hostile.expect_format_error(path, "declares", call=call)


@pytest.mark.parametrize("call", ["stonerimg.load", "stonerimg.open"])
def test_npy_header(tmp_path, call):
    path = hostile.npy_huge_header(tmp_path)
    hostile.expect_format_error(path, "declares 8.0 TiB", call=call)


@pytest.mark.parametrize("call", ["stonerimg.load", "stonerimg.open"])
def test_npy_header_length(tmp_path, call):
    path = hostile.npy_header_length(tmp_path)
    hostile.expect_format_error(path, "declares 4026531840 bytes of header", call=call)


@pytest.mark.parametrize("call", ["stonerimg.load", "stonerimg.open", "stonerimg.ImageStack.from_tiff"])
def test_tiff_second_page(tmp_path, call):
    path = hostile.tiff_second_page_huge(tmp_path)
    hostile.expect_format_error(path, "page 1", "4232000000 bytes", call=call)


@pytest.mark.parametrize("call", ["stonerimg.load", "stonerimg.open"])
def test_tiff_strip_byte_count(tmp_path, call):
    path = hostile.tiff_strip_byte_count(tmp_path)
    hostile.expect_format_error(path, "strip of 2000000000 bytes", "beyond the end", call=call)


def test_png_idat(tmp_path):
    path = hostile.png_declaring(tmp_path)
    hostile.expect_format_error(path, "12000 x 12000", "deflate")


def test_zlib_metadata_is_inflated_with_a_cap(tmp_path):
    path = hostile.npy_zlib_bomb(tmp_path)
    assert path.with_name("bomb.npy.json").stat().st_size < 2 << 20
    hostile.expect_format_error(path, "inflates to more than the 8 bytes it declares")


def test_encoded_array_beyond_the_ceiling(monkeypatch):
    monkeypatch.setattr(stonerimg.config, "max_image_bytes", 1000)
    text = Metadata({"a": np.zeros(200)}).to_json()
    with pytest.raises(ValueError, match="limit of 1000 bytes"):
        Metadata.from_json(text)


def test_the_ceiling_is_configurable_and_lazy_opens_escape_it(tmp_path, monkeypatch):
    path = tmp_path / "x.npy"
    np.save(path, np.arange(100 * 100, dtype=np.float64).reshape(100, 100))
    monkeypatch.setattr(stonerimg.config, "max_image_bytes", 40_000)
    with pytest.raises(FormatError, match=r"\(80000 bytes\), more than the limit of 39.1 KiB \(40000 bytes\)"):
        stonerimg.load(path)
    with stonerimg.open(path) as image:  # a disk image stays in its file
        assert float(image.image[99, 99]) == 9999.0
    monkeypatch.setattr(stonerimg.config, "max_image_bytes", 80_000)
    assert stonerimg.load(path).shape == (100, 100)


def test_the_default_ceiling_is_a_quarter_of_memory():
    import os

    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert stonerimg.config.max_image_bytes == physical // 4


@pytest.mark.parametrize(("compression", "ratio"), [("deflate", 1033), ("none", 1), ("lzw", 2731), ("packbits", 64)])
def test_compression_bounds(compression, ratio, tmp_path):
    path = tmp_path / "f"
    path.write_bytes(bytes(100))
    _limits.check_declared(path, 100 * ratio, compression=compression)
    with pytest.raises(FormatError, match=f"{100 * ratio + 1} bytes"):
        _limits.check_declared(path, 100 * ratio + 1, compression=compression)


def test_deflate_bound_is_real():
    """The deflate bound holds for the most compressible input there is (zeros at level 9)."""
    import zlib

    data = bytes(64 << 20)
    packed = zlib.compress(data, 9)
    assert len(data) <= len(packed) * _limits.EXPANSION["deflate"]
    assert len(data) > len(packed) * 1000  # and it is not loose


def test_real_files_still_load(sample_data):
    for sub, name in [
        ("stxm", "Sample_Image_2017-10-15_100.hdf5"),
        ("tiff", "test_loading_image_saved_with_imageJ.tif"),
    ]:
        path = sample_data / sub / name
        if path.is_file():
            assert stonerimg.load(path).image.size > 0
