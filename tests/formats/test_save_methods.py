"""save, save_tiff, save_png and save_npy as methods of ImageArray and ImageFile."""

import numpy as np
import pytest
import tifffile
from PIL import Image

import stonerimg
from stonerimg import ImageArray, ImageFile


@pytest.mark.parametrize("kind", ["array", "file"])
@pytest.mark.parametrize(
    ("method", "fmt", "reader"),
    [
        ("save_tiff", "tiff", tifffile.imread),
        ("save_png", "png", lambda p: np.asarray(Image.open(p))),
        ("save_npy", "npy", lambda p: np.load(p, allow_pickle=False)),
    ],
)
def test_format_methods_write_that_format_whatever_the_name(tmp_path, kind, method, fmt, reader):
    data = np.arange(35, dtype=np.uint16).reshape(5, 7)
    obj = ImageArray(data, metadata={"gain": 2}) if kind == "array" else ImageFile(data, metadata={"gain": 2})
    target = tmp_path / "saved.img"
    assert getattr(obj, method)(target) is obj  # chainable, unchanged
    np.testing.assert_array_equal(reader(target), data)
    loaded = stonerimg.load(target, fmt=fmt)
    assert loaded["gain"] == 2 and loaded.format == fmt


def test_imagefile_save_defaults_to_its_own_file(tmp_path):
    path = tmp_path / "a.tif"
    ImageArray(np.zeros((3, 4), np.uint8)).save(path)
    document = stonerimg.load(path)
    document.image = document.image + 1
    assert document.save() is document
    np.testing.assert_array_equal(tifffile.imread(path), np.ones((3, 4), np.uint8))
    with pytest.raises(ValueError, match="filename"):
        ImageFile(np.zeros((2, 2))).save()
