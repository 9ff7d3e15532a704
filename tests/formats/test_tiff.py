"""TIFF: lossless round trips, independent reads with tifffile, foreign, legacy Stoner and real files."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest
import tifffile
from PIL import Image
from PIL.TiffImagePlugin import ImageFileDirectory_v2

import stonerimg
from stonerimg import FormatError, ImageArray

from .helpers import (
    DTYPES,
    a_mask,
    assert_round_trip,
    assert_same_pixels,
    assert_same_value,
    assert_save_leaves_image_unchanged,
    sample_pixels,
)


@pytest.mark.parametrize("masked", [False, True], ids=["nomask", "mask"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_round_trip(tmp_path, dtype, masked):
    assert_round_trip(tmp_path, sample_pixels(dtype), ".tif", "tiff", masked)


@pytest.mark.parametrize("dtype", ["uint8", "int16", "float32", "float64", "complex64"])
def test_stack_round_trip(tmp_path, dtype):
    data = sample_pixels(dtype, shape=(3, 7, 13))
    mask = a_mask(data.shape)
    mask[1] = False
    image = ImageArray(data, mask=mask, metadata={"frames": 3, "energy": np.array([700.0, 705.0, 710.0])})
    image.save(tmp_path / "stack.tif")
    loaded = stonerimg.load(tmp_path / "stack.tif")
    assert loaded.shape == (3, 7, 13)
    assert_same_pixels(data, loaded.data)
    assert np.array_equal(np.ma.getmaskarray(loaded.image), mask)
    assert_same_value({"frames": 3, "energy": np.array([700.0, 705.0, 710.0])}, dict(loaded.metadata))
    with tifffile.TiffFile(tmp_path / "stack.tif") as tif:
        assert len(tif.pages) == 3
        pages = np.stack([page.asarray() for page in tif.pages])
    assert np.array_equal(pages, data, equal_nan=True)


def test_non_square_orientation(tmp_path):
    data = np.arange(7 * 13, dtype=np.uint16).reshape(7, 13)
    ImageArray(data).save(tmp_path / "wide.tif")
    ImageArray(data.T).save(tmp_path / "tall.tif")  # a non-contiguous (Fortran-order) view
    wide, tall = stonerimg.load(tmp_path / "wide.tif"), stonerimg.load(tmp_path / "tall.tif")
    assert wide.shape == (7, 13) and wide.geometry == (13, 7)
    assert tall.shape == (13, 7)
    assert wide.data[0, 12] == 12 and wide.data[6, 0] == 78
    assert_same_pixels(data, wide.data)
    assert_same_pixels(data.T.copy(), tall.data)
    assert tifffile.imread(tmp_path / "wide.tif").shape == (7, 13)
    assert np.array_equal(tifffile.imread(tmp_path / "tall.tif"), data.T)


def test_rgb_round_trip(tmp_path):
    data = np.random.default_rng(3).integers(0, 256, (7, 13, 3), dtype=np.uint8)
    ImageArray(data, metadata={"colour": True}).save(tmp_path / "rgb.tif")
    loaded = stonerimg.load(tmp_path / "rgb.tif")
    assert_same_pixels(data, loaded.data)
    assert loaded.metadata["colour"] is True
    with tifffile.TiffFile(tmp_path / "rgb.tif") as tif:
        assert tif.pages.first.photometric == tifffile.PHOTOMETRIC.RGB
        assert np.array_equal(tif.asarray(), data)


def test_big_endian_pixels(tmp_path):
    data = np.arange(7 * 13, dtype=">u2").reshape(7, 13) * 300
    ImageArray(data).save(tmp_path / "be.tif")
    loaded = stonerimg.load(tmp_path / "be.tif")
    assert loaded.dtype == data.dtype
    assert np.array_equal(loaded.data, data)


def test_saver_kwargs_reach_tifffile(tmp_path):
    data = np.zeros((64, 64), dtype=np.uint16)
    data[10:20, 5:50] = 1234
    ImageArray(data, metadata={"a": 1}).save(tmp_path / "packed.tif", compression="zlib")
    with tifffile.TiffFile(tmp_path / "packed.tif") as tif:
        assert tif.pages.first.compression == tifffile.COMPRESSION.ADOBE_DEFLATE
    loaded = stonerimg.load(tmp_path / "packed.tif")
    assert_same_pixels(data, loaded.data)
    assert loaded.metadata == {"a": 1}


@pytest.mark.parametrize("dtype", ["bool", "uint16", "float64", "complex64"])
def test_save_does_not_change_the_image(tmp_path, dtype):
    image = assert_save_leaves_image_unchanged(tmp_path, sample_pixels(dtype), ".tif")
    assert "ImageArray.dtype" not in image.metadata  # unlike Stoner, saving adds no keys


@pytest.mark.parametrize("dtype", DTYPES)
def test_read_independently_with_tifffile(tmp_path, dtype):
    data = sample_pixels(dtype)
    ImageArray(data, mask=a_mask(data.shape), metadata={"gain": 1.5, "units": "µm"}).save(tmp_path / "x.tif")
    with tifffile.TiffFile(tmp_path / "x.tif") as tif:
        pixels = tif.asarray()
        description = tif.pages.first.description
    if dtype == "bool":
        assert pixels.dtype == np.uint8
        assert np.array_equal(pixels.astype(bool), data)
    else:
        assert pixels.dtype == data.dtype
        assert np.array_equal(pixels, data, equal_nan=data.dtype.kind in "fc")
    document = json.loads(description)
    assert document["stonerimg"] == 1
    assert np.dtype(document["dtype"]) == data.dtype
    assert document["shape"] == [7, 13]
    assert document["metadata"] == {"gain": 1.5, "units": "µm"}
    assert "mask" in document


# --------------------------------------------------------------------------- foreign TIFFs


def test_tifffile_without_description(tmp_path):
    data = sample_pixels("int16")
    tifffile.imwrite(tmp_path / "plain.tif", data, metadata=None)
    with tifffile.TiffFile(tmp_path / "plain.tif") as tif:
        assert tif.pages.first.description == ""
    loaded = stonerimg.load(tmp_path / "plain.tif")
    assert_same_pixels(data, loaded.data)
    assert not np.ma.getmaskarray(loaded.image).any()
    md = loaded.metadata
    assert md["tiff.ImageWidth"] == 13 and type(md["tiff.ImageWidth"]) is int
    assert md["tiff.ImageLength"] == 7 and type(md["tiff.ImageLength"]) is int
    assert md["tiff.BitsPerSample"] == 16
    assert md["tiff.SampleFormat"] == "INT"
    assert "tiff.ImageDescription" not in md
    assert not any(key.startswith("calibration.") for key in md)


def test_tifffile_with_description_and_resolution(tmp_path):
    data = sample_pixels("float32")
    tifffile.imwrite(
        tmp_path / "res.tif",
        data,
        description="sample A, 300 K",
        metadata=None,
        resolution=(2.0, 4.0),
        resolutionunit="CENTIMETER",
    )
    loaded = stonerimg.load(tmp_path / "res.tif")
    assert_same_pixels(data, loaded.data)
    md = loaded.metadata
    assert md["tiff.ImageDescription"] == "sample A, 300 K"
    assert md["calibration.x.scale"] == pytest.approx(0.5)
    assert md["calibration.y.scale"] == pytest.approx(0.25)
    assert md["calibration.x.units"] == md["calibration.y.units"] == "cm"


@pytest.mark.parametrize("how", ["imwrite", "pages"])
def test_multi_page_tifffile_loads_as_stack(tmp_path, how):
    stack = sample_pixels("uint16", shape=(4, 7, 13))
    path = tmp_path / "stack.tif"
    if how == "imwrite":
        tifffile.imwrite(path, stack, photometric="minisblack")
    else:
        with tifffile.TiffWriter(path) as tif:
            for frame in stack:
                tif.write(frame, photometric="minisblack", metadata=None)
    loaded = stonerimg.load(path)
    assert loaded.shape == (4, 7, 13)
    assert_same_pixels(stack, loaded.data)
    assert np.array_equal(loaded.data, tifffile.imread(path))


def test_big_endian_foreign_tiff(tmp_path):
    data = sample_pixels("float32")
    tifffile.imwrite(tmp_path / "mm.tif", data, byteorder=">", metadata=None)
    assert (tmp_path / "mm.tif").read_bytes()[:4] == b"MM\x00*"
    loaded = stonerimg.load(tmp_path / "mm.tif")
    assert np.array_equal(loaded.data, data, equal_nan=True)
    assert loaded.dtype.kind == "f" and loaded.dtype.itemsize == 4


def test_truncated_tiff_is_a_format_error(tmp_path):
    ImageArray(sample_pixels("uint16", shape=(64, 64))).save(tmp_path / "whole.tif")
    raw = (tmp_path / "whole.tif").read_bytes()
    (tmp_path / "cut.tif").write_bytes(raw[:200])
    with pytest.raises(FormatError) as info:
        stonerimg.load(tmp_path / "cut.tif")
    assert "cut.tif" in str(info.value)
    assert [name for name, _ in info.value.attempts] == ["tiff"]


# --------------------------------------------------------------------------- legacy Stoner TIFFs

STONER_ENTRIES = [
    "ImageArray.dtype{String}=float64",
    "Loaded from{String}=C:/x.tif",
    "count{I32}=3",
    "gain{Double Float}=1.5",
    "flag{Boolean}=False",
    "names{List}=['a', 'b']",
    "cfg{Cluster (I32,String)}={'a': 1, 'b': 'x'}",
    "arr{1D Array (Double Float)}=array([1., 2.])",
    "nothing{Void}=None",
]


def stoner_save_tiff(data: np.ndarray, path, entries, *, wrapped=True, forcetype=False) -> None:
    """Write a TIFF the way Stoner's ``save_tiff`` does: Pillow, tag 270 = json.dumps(...)."""
    if forcetype:
        if data.dtype == np.uint8 or data.dtype.kind == "b":
            picture = Image.fromarray(data.astype(np.uint8))
        elif data.dtype.kind in "iu":
            picture = Image.fromarray(data.astype("int32"))
        else:
            picture = Image.fromarray(data.astype(np.float32))
    else:
        try:
            picture = Image.fromarray(data)
        except TypeError:
            picture = Image.fromarray(data.astype("float32"))
    ifd = ImageFileDirectory_v2()
    if wrapped:
        ifd[270] = json.dumps({"type": "ImageArray", "module": "Stoner.Image.core", "metadata": entries})
    else:
        ifd[270] = json.dumps(entries)
    picture.save(path, tiffinfo=ifd)


def check_stoner_metadata(md) -> None:
    expected = {
        "ImageArray.dtype": "float64",
        "Loaded from": "C:/x.tif",
        "count": 3,
        "gain": 1.5,
        "flag": False,
        "names": ["a", "b"],
        "cfg": {"a": 1, "b": "x"},
        "arr": np.array([1.0, 2.0]),
        "nothing": None,
    }
    assert_same_value(expected, {key: md[key] for key in expected}, "stoner metadata")


def legacy_float_pixels() -> np.ndarray:
    # values a float32 holds exactly, since Pillow's mode F stores float32
    return (np.arange(7 * 13).reshape(7, 13) * 0.25 - 10.0).astype(np.float64)


@pytest.mark.parametrize("wrapped", [True, False], ids=["json-object", "bare-list"])
def test_stoner_float64_tiff(tmp_path, wrapped):
    data = legacy_float_pixels()
    path = tmp_path / "stoner.tif"
    stoner_save_tiff(data, path, STONER_ENTRIES, wrapped=wrapped)
    with Image.open(path) as picture:
        assert picture.mode == "F"
        assert json.loads(picture.tag_v2[270]) == (
            {"type": "ImageArray", "module": "Stoner.Image.core", "metadata": STONER_ENTRIES}
            if wrapped
            else STONER_ENTRIES
        )
    loaded = stonerimg.load(path)
    assert loaded.dtype == np.float64
    assert loaded.shape == (7, 13)
    assert np.array_equal(loaded.data, data)
    check_stoner_metadata(loaded.metadata)


@pytest.mark.parametrize("forcetype", [False, True], ids=["pillow-mode", "forcetype-int32"])
def test_stoner_uint16_tiff(tmp_path, forcetype):
    data = (np.arange(7 * 13).reshape(7, 13) * 700).astype(np.uint16)
    entries = ["ImageArray.dtype{String}=uint16", "Loaded from{String}=C:/data/scan.tif", "count{I32}=3"]
    stoner_save_tiff(data, tmp_path / "stoner16.tif", entries, forcetype=forcetype)
    with Image.open(tmp_path / "stoner16.tif") as picture:
        assert picture.mode == ("I" if forcetype else "I;16")
    loaded = stonerimg.load(tmp_path / "stoner16.tif")
    assert loaded.dtype == np.uint16
    assert_same_pixels(data, loaded.data)
    assert_same_value(
        {"ImageArray.dtype": "uint16", "Loaded from": "C:/data/scan.tif", "count": 3},
        {k: loaded.metadata[k] for k in ("ImageArray.dtype", "Loaded from", "count")},
    )


def test_stoner_strings_are_kept_verbatim(tmp_path):
    entries = [
        "ImageArray.dtype{String}=uint8",
        "path{String}=C:\\Data\\run=3\\x.tif",
        'title{String}=Fe₃O₄ "film"',
        "quoted{String}='TEst Image'",
        "equation{String}=a=b+c",
        "plain=no type hint",
    ]
    data = np.arange(7 * 13, dtype=np.uint8).reshape(7, 13)
    stoner_save_tiff(data, tmp_path / "strings.tif", entries)
    loaded = stonerimg.load(tmp_path / "strings.tif")
    assert_same_pixels(data, loaded.data)
    md = loaded.metadata
    assert md["path"] == "C:\\Data\\run=3\\x.tif"
    assert md["title"] == 'Fe₃O₄ "film"'
    assert md["quoted"] == "'TEst Image'"
    assert md["equation"] == "a=b+c"
    assert md["plain"] == "no type hint"


def test_stoner_timestamp(tmp_path):
    """Stoner writes a datetime with the hint ``Timestamp`` and its ``repr`` as the value."""
    when = dt.datetime(2024, 1, 2, 3, 4, 5)
    entries = ["ImageArray.dtype{String}=uint8", f"when{{Timestamp}}={when!r}"]
    assert entries[1] == "when{Timestamp}=datetime.datetime(2024, 1, 2, 3, 4, 5)"
    data = np.arange(7 * 13, dtype=np.uint8).reshape(7, 13)
    stoner_save_tiff(data, tmp_path / "when.tif", entries)
    loaded = stonerimg.load(tmp_path / "when.tif")
    assert_same_value(when, loaded.metadata["when"], "when")


def test_stoner_multi_page_folder_tiff(tmp_path):
    """Stoner's ``ImageFolder.to_tiff``: Pillow ``save_all`` with one metadata list per frame."""
    frames = [(np.arange(7 * 13).reshape(7, 13) + 100 * i).astype(np.uint16) for i in range(3)]
    pictures = [Image.fromarray(frame) for frame in frames]
    ifd = ImageFileDirectory_v2()
    ifd[270] = json.dumps(
        {
            "type": "ImageFolder",
            "module": "Stoner.Image.folders",
            "layout": None,
            "metadata": [["ImageArray.dtype{String}=uint16", f"index{{I32}}={i}"] for i in range(3)],
        }
    )
    pictures[0].save(tmp_path / "folder.tif", save_all=True, append_images=pictures[1:], tiffinfo=ifd)
    assert np.array_equal(tifffile.imread(tmp_path / "folder.tif"), np.stack(frames))
    loaded = stonerimg.load(tmp_path / "folder.tif")
    assert loaded.shape == (3, 7, 13)
    assert_same_pixels(np.stack(frames), loaded.data)


# --------------------------------------------------------------------------- real files


def test_imagej_tiff(sample_data):
    path = sample_data / "tiff" / "test_loading_image_saved_with_imageJ.tif"
    if not path.is_file():
        pytest.skip(f"{path} not in the sample data")
    loaded = stonerimg.load(path)
    reference = tifffile.imread(path)
    assert loaded.dtype == np.float32
    assert loaded.shape == (68, 68)
    assert_same_pixels(reference, loaded.data)
    with tifffile.TiffFile(path) as tif:
        numerator, denominator = tif.pages.first.tags["XResolution"].value
        y_numerator, y_denominator = tif.pages.first.tags["YResolution"].value
        unit = tif.imagej_metadata["unit"]
    assert unit == "micron"
    md = loaded.metadata
    assert md["calibration.x.scale"] == pytest.approx(denominator / numerator)
    assert md["calibration.y.scale"] == pytest.approx(y_denominator / y_numerator)
    assert md["calibration.x.scale"] == pytest.approx(0.16867, abs=1e-5)
    assert md["calibration.x.units"] == md["calibration.y.units"] == "µm"
    assert loaded.calibration.x.scale == pytest.approx(0.16867, abs=1e-5)
    assert loaded.calibration.x.units == "µm"
    assert md["imagej.ImageJ"] == "1.51a"
