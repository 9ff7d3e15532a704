"""Small defaults of issue 13: save() without a name, absolute file names, scalar profile end points."""

from __future__ import annotations

import os

import numpy as np
import pytest

import stonerimg
from stonerimg import ImageArray


def test_imagearray_save_without_a_name_saves_to_its_file(tmp_path):
    path = tmp_path / "a.tif"
    ImageArray(np.zeros((2, 3))).save(path)
    image = stonerimg.load(path).image
    image[0, 0] = 5.0
    assert image.save() is image
    assert stonerimg.load(path).data[0, 0] == 5.0
    with pytest.raises(ValueError, match="no file name"):
        ImageArray(np.zeros((2, 2))).save()


def test_filename_is_kept_absolute(tmp_path, monkeypatch):
    ImageArray(np.arange(6.0).reshape(2, 3)).save(tmp_path / "a.npy")
    monkeypatch.chdir(tmp_path)
    document = stonerimg.load("a.npy")
    assert os.path.isabs(document.filename) and document.filename == str(tmp_path / "a.npy")
    with stonerimg.open("a.npy") as disk:
        assert disk.filename == str(tmp_path / "a.npy")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    document.save()  # still the same file after a chdir
    assert not (tmp_path / "elsewhere" / "a.npy").exists()


def test_profile_line_scalar_end_points_are_diagonal_points():
    data = np.arange(100.0).reshape(10, 10)
    image = ImageArray(data)
    scalar = image.profile_line(1, 8)
    pair = image.profile_line((1, 1), (8, 8))
    np.testing.assert_array_equal(scalar.value, pair.value)
    np.testing.assert_allclose(scalar.value[[0, -1]], [data[1, 1], data[8, 8]])
    with pytest.raises(TypeError):
        image.profile_line("1", (8, 8))
