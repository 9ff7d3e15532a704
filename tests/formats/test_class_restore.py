"""An STXMImage or KerrImage saved as TIFF, NPY or HDF5 comes back as its class (by registered name)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

import stonerimg
from stonerimg import ImageFile
from stonerimg.formats import _payload
from stonerimg.formats.kerr import KerrImage
from stonerimg.formats.stxm import STXMImage

STXM = "stxm/Sample_Image_2017-10-15_100.hdf5"


@pytest.mark.parametrize("suffix", [".tif", ".npy", ".hdf5"])
def test_stxm_image_round_trip_keeps_its_class_and_xmcd(sample_data, tmp_path, suffix):
    original = stonerimg.load(sample_data / STXM)
    assert type(original) is STXMImage
    path = tmp_path / f"copy{suffix}"
    original.save(path)
    again = stonerimg.load(path)
    assert type(again) is STXMImage
    assert again.polarization == original.polarization
    np.testing.assert_array_equal(again.data, original.data)
    # the // XMCD operator of STXMImage works on the reloaded image
    other = original.clone
    other.metadata["collection.polarization.value"] = -original.metadata["collection.polarization.value"]
    if "polarization" in other.metadata:
        other.metadata["polarization"] = -other.metadata["polarization"]
    xmcd = again // other
    a, b = np.asarray(again.data, float), np.asarray(other.data, float)
    expected = (a - b) / (a + b) if again.polarization > 0 else (b - a) / (a + b)
    np.testing.assert_allclose(np.asarray(getattr(xmcd, "data", xmcd)), expected, rtol=1e-12)


@pytest.mark.parametrize("suffix", [".tif", ".npy", ".png"])
def test_kerr_image_round_trip_keeps_its_class(sample_data, tmp_path, suffix):
    original = stonerimg.load(sample_data / "kerr/kermit.png")
    assert type(original) is KerrImage
    path = tmp_path / f"copy{suffix}"
    original.save(path)
    again = stonerimg.load(path)
    assert type(again) is KerrImage
    np.testing.assert_array_equal(again.data, original.data)


def test_the_class_is_recorded_by_format_name_in_the_file(sample_data, tmp_path):
    stonerimg.load(sample_data / STXM).save(tmp_path / "a.tif")
    with tifffile.TiffFile(tmp_path / "a.tif") as tif:
        recorded = json.loads(tif.pages.first.description)
    assert recorded["format"] == "stxm"
    stonerimg.ImageFile(np.zeros((2, 2))).save(tmp_path / "plain.tif")
    with tifffile.TiffFile(tmp_path / "plain.tif") as tif:
        assert "format" not in json.loads(tif.pages.first.description)
    assert type(stonerimg.load(tmp_path / "plain.tif")) is ImageFile


def test_unknown_or_foreign_names_give_a_plain_image(tmp_path):
    image = stonerimg.ImageArray(np.arange(6.0).reshape(2, 3))
    for name in ("os:system", "nosuchformat", "tiff", "../stxm", 5):
        token = _payload.saving_document_format.set(name)
        try:
            image.save(tmp_path / "x.tif")
        finally:
            _payload.saving_document_format.reset(token)
        again = stonerimg.load(tmp_path / "x.tif")
        assert type(again) is ImageFile  # only a registered format's ImageFile subclass is ever used
    assert _payload.recorded_class("stxm", ImageFile) is STXMImage
    assert _payload.recorded_class("kerr", STXMImage) is STXMImage  # must be the loader's class or a subclass


def test_lazy_open_restores_the_class(sample_data, tmp_path):
    stonerimg.load(sample_data / STXM).save(tmp_path / "a.npy")
    with stonerimg.open(tmp_path / "a.npy") as disk:
        assert isinstance(disk, STXMImage)
