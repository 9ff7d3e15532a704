"""Calibration of TIFFs from ImageJ, DigitalMicrograph and microscope vendors, and written by us.

References: the TIFF tags and ImageJ/vendor metadata read with tifffile directly, and
RosettaSciIO's TIFF reader and writer.  The DigitalMicrograph, FEI and Zeiss files are made
here (with RosettaSciIO's writer, or tifffile's ``extratags`` holding the tags those
programs write), as no sample files of theirs are in the shared data.
"""

from __future__ import annotations

import numpy as np
import pytest

import stonerimg
from stonerimg import ImageArray

from .helpers import assert_same_pixels, assert_same_value

tifffile = pytest.importorskip("tifffile")


def calibration(document) -> dict:
    return {k[len("calibration.") :]: v for k, v in document.metadata.items() if k.startswith("calibration.")}


# ---------------------------------------------------------------- ImageJ


def test_real_imagej_file(sample_data):
    path = sample_data / "tiff" / "test_loading_image_saved_with_imageJ.tif"
    if not path.is_file():
        pytest.skip("tiff/test_loading_image_saved_with_imageJ.tif is not in the sample data")
    document = stonerimg.load(path)
    with tifffile.TiffFile(path) as tif:
        numerator, denominator = tif.pages.first.tags["XResolution"].value
        assert tif.imagej_metadata["unit"] == "micron"
        pixels = tif.asarray()
    assert document.calibration.x.scale == denominator / numerator == pytest.approx(0.16867, abs=1e-5)
    assert document.calibration.x.units == document.calibration.y.units == "µm"
    assert_same_pixels(pixels, document.data)
    from rsciio.tiff import file_reader

    axes = file_reader(str(path))[0]["axes"]
    assert [a["scale"] for a in axes] == [document.calibration.y.scale, document.calibration.x.scale]


def test_imagej_stack_with_spacing(tmp_path):
    path = tmp_path / "stack.tif"
    data = np.arange(3 * 4 * 5, dtype=np.float32).reshape(3, 4, 5)
    tifffile.imwrite(
        path, data, imagej=True, resolution=(1 / 0.5, 1 / 0.25), metadata={"unit": "um", "spacing": 2.5, "axes": "ZYX"}
    )
    document = stonerimg.load(path)
    assert_same_pixels(data, document.data)
    assert calibration(document) == {
        "x.scale": 0.5,
        "x.offset": 0.0,
        "x.units": "µm",
        "y.scale": 0.25,
        "y.offset": 0.0,
        "y.units": "µm",
        "z.scale": 2.5,
        "z.offset": 0.0,
        "z.units": "µm",
    }


def test_imagej_origins(tmp_path):
    path = tmp_path / "origin.tif"
    tifffile.imwrite(
        path,
        np.zeros((4, 5), np.uint8),
        imagej=True,
        resolution=(10.0, 10.0),
        metadata={"unit": "nm", "xorigin": 3.0, "yorigin": -2.0},
    )
    cal = stonerimg.load(path).calibration
    assert cal.x == (0.1, -0.1 * 3.0, "nm") and cal.y == (0.1, 0.1 * 2.0, "nm")


@pytest.mark.parametrize("metadata", [{}, {"unit": "pixel"}])
def test_imagej_without_scale_is_uncalibrated(tmp_path, metadata):
    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, np.zeros((4, 5), np.uint16), imagej=True, metadata=metadata)
    document = stonerimg.load(path)
    assert calibration(document) == {}
    assert document.calibration.x == (1.0, 0.0, "px")


def test_dots_per_inch_are_not_a_calibration(tmp_path):
    path = tmp_path / "print.tif"
    tifffile.imwrite(path, np.zeros((4, 5), np.uint8), resolution=(300, 300), resolutionunit="INCH")
    assert calibration(stonerimg.load(path)) == {}


# ---------------------------------------------------------------- written by us


def test_saved_calibration_is_in_the_resolution_tags(tmp_path):
    image = ImageArray(np.arange(20, dtype=np.float32).reshape(4, 5), metadata={"sample": "Py"})
    image.set_calibration((0.25, 0.5), units="µm", offset=(1.0, -2.0))
    path = tmp_path / "cal.tif"
    image.save(path)
    with tifffile.TiffFile(path) as tif:
        tags = tif.pages.first.tags
        assert tags["ResolutionUnit"].value == 3  # centimetres
        x_num, x_den = tags["XResolution"].value
        y_num, y_den = tags["YResolution"].value
    assert x_den / x_num * 1e4 == pytest.approx(0.25, rel=1e-6)  # cm per pixel -> µm
    assert y_den / y_num * 1e4 == pytest.approx(0.5, rel=1e-6)
    from rsciio.tiff import file_reader  # RosettaSciIO reads resolution tags in cm as µm

    axes = file_reader(str(path), force_read_resolution=True)[0]["axes"]
    assert [a["units"] for a in axes] == ["µm", "µm"]
    assert [a["scale"] for a in axes] == pytest.approx([0.5, 0.25], rel=1e-6)
    again = stonerimg.load(path)  # our own metadata still comes back exactly
    assert_same_value(dict(image.metadata), dict(again.metadata), "metadata")


def test_no_resolution_tags_for_other_units(tmp_path):
    image = ImageArray(np.zeros((4, 5), np.uint8))
    image.set_calibration(0.2, units="1/nm")
    image.save(tmp_path / "reciprocal.tif")
    with tifffile.TiffFile(tmp_path / "reciprocal.tif") as tif:
        assert tif.pages.first.tags["ResolutionUnit"].value == 1  # none
    assert stonerimg.load(tmp_path / "reciprocal.tif").calibration.x == (0.2, 0.0, "1/nm")


# ---------------------------------------------------------------- DigitalMicrograph TIFFs


def test_tiff_written_with_digitalmicrograph_tags_by_rosettasciio(tmp_path):
    from rsciio.tiff import file_reader, file_writer

    data = np.arange(12, dtype=np.float32).reshape(3, 4)
    axes = [
        {"name": "y", "size": 3, "scale": 0.5, "offset": 1.0, "units": "nm", "navigate": False},
        {"name": "x", "size": 4, "scale": 0.25, "offset": -2.0, "units": "µm", "navigate": False},
    ]
    path = tmp_path / "dm.tif"
    file_writer(str(path), {"data": data, "axes": axes, "metadata": {}, "original_metadata": {}})
    document = stonerimg.load(path)
    with tifffile.TiffFile(path) as tif:
        tags = tif.pages.first.tags
        assert tags.valueof(65009) == 0.25 and tags.valueof(65004) == "nm"
    assert document.calibration.x == (0.25, -2.0, "µm")
    assert document.calibration.y == (0.5, 1.0, "nm")
    assert document.metadata["tiff.writer"] == "DigitalMicrograph"
    direct = file_reader(str(path))[0]["axes"]  # in NumPy order
    assert [(a["scale"], a["offset"]) for a in direct] == [(0.5, 1.0), (0.25, -2.0)]


def test_digitalmicrograph_intensity_and_latin1_units(tmp_path):
    path = tmp_path / "dm.tif"
    extratags = [
        (65003, "B", 3, b"\xb5m\x00", False),  # Latin-1 micro sign, as DigitalMicrograph writes it
        (65004, "s", 0, "um", False),
        (65009, "d", 1, 0.125, False),
        (65010, "d", 1, 0.125, False),
        (65022, "s", 0, "counts", False),
        (65025, "d", 1, 2.0, False),
    ]
    tifffile.imwrite(path, np.zeros((3, 4), np.uint16), extratags=extratags)
    cal = calibration(stonerimg.load(path))
    assert cal["x.units"] == cal["y.units"] == "µm" and cal["x.scale"] == 0.125
    assert (cal["intensity.scale"], cal["intensity.offset"], cal["intensity.units"]) == (2.0, 0.0, "counts")


# ---------------------------------------------------------------- vendor TIFFs


FEI_TEXT = """[User]
Date=12/06/2019
User=operator
[Beam]
HV=5000
Spot=3
[Scan]
PixelWidth=2.5e-09
PixelHeight=2.5e-09
Dwelltime=3e-06
[Image]
ResolutionX=5
ResolutionY=4
"""


def test_fei_tiff(tmp_path):
    path = tmp_path / "fei.tif"
    tifffile.imwrite(
        path, np.zeros((4, 5), np.uint8), resolution=(72, 72), extratags=[(34682, "s", 0, FEI_TEXT, False)]
    )
    with tifffile.TiffFile(path) as tif:
        fei = tif.fei_metadata
    assert fei["Scan"]["PixelWidth"] == 2.5e-9
    document = stonerimg.load(path)
    md = document.metadata
    assert document.calibration.x.units == "nm" and document.calibration.x.scale == pytest.approx(2.5)
    assert document.calibration.x.scale * 1e-9 == pytest.approx(fei["Scan"]["PixelWidth"])
    assert md["fei.Beam.HV"] == fei["Beam"]["HV"] and md["fei.User.User"] == "operator"
    assert md["microscope.voltage"] == 5000.0 and md["tiff.writer"] == "FEI"
    from rsciio.tiff import file_reader

    axes = file_reader(str(path))[0]["axes"]
    assert [a["scale"] for a in axes] == pytest.approx([2.5e-9, 2.5e-9]) and axes[0]["units"] == "m"


ZEISS_TEXT = """
0
0
0
1.5e-09
AP_IMAGE_PIXEL_SIZE
Image Pixel Size = 1.5 nm
AP_ACTUALKV
EHT = 10.00 kV
SV_USER_NAME
User Name = someone
"""


def test_zeiss_sem_tiff(tmp_path):
    path = tmp_path / "zeiss.tif"
    tifffile.imwrite(path, np.zeros((4, 5), np.uint8), extratags=[(34118, "s", 0, ZEISS_TEXT, False)])
    with tifffile.TiffFile(path) as tif:
        sem = tif.sem_metadata
    assert sem["ap_image_pixel_size"] == ("Image Pixel Size", 1.5, "nm")
    document = stonerimg.load(path)
    md = document.metadata
    assert document.calibration.x == (1.5, 0.0, "nm") and document.calibration.y == (1.5, 0.0, "nm")
    assert md["sem.ap_image_pixel_size"] == 1.5 and md["sem.ap_image_pixel_size.units"] == "nm"
    assert md["sem.sv_user_name"] == "someone"
    assert md["microscope.voltage"] == 10000.0


def test_lazy_open_gets_the_vendor_calibration(tmp_path):
    lazy = pytest.importorskip("stonerimg.disk")
    path = tmp_path / "fei.tif"
    tifffile.imwrite(path, np.arange(20, dtype=np.uint8).reshape(4, 5), extratags=[(34682, "s", 0, FEI_TEXT, False)])
    with lazy.open(path) as image:
        assert image.calibration.x.units == "nm" and image.calibration.x.scale == pytest.approx(2.5)
