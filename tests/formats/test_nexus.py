"""NeXus/HDF5: signal and axes, plain HDF5, odd data, text decoding, real PolLux files, bad input.

Every expected value is read independently with h5py (or built by the test) and compared
with what ``stonerimg`` loaded.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import h5py
import numpy as np
import pytest

import stonerimg
from stonerimg import FormatError, ImageFile, Metadata
from stonerimg.errors import FormatMismatch
from stonerimg.formats import nexus
from stonerimg.formats.nexus import decode_text, hdf5_metadata, normalise_units

from .helpers import assert_same_pixels, assert_same_value, sha256

MICRO = "\u00b5"  # MICRO SIGN, as the library writes units
GREEK_MU = "\u03bc"  # GREEK SMALL LETTER MU, as UTF-8 files often write them
STXM_FILES = ["Sample_Image_2017-10-15_100.hdf5", "Pollux-STXM Image.hdf5"]


def pixels(shape=(30, 80), dtype=np.float32) -> np.ndarray:
    """Distinct values everywhere, so a transposed or flipped image cannot pass."""
    return (np.arange(int(np.prod(shape))).reshape(shape) * 1.5 - 7).astype(dtype)


def write_nexus(path, data, x, y, *, axes_style="bytes", x_units=b"nm", y_units=b"nm", signal_name="counts"):
    """A NeXus file: NXroot/NXentry 'entry'/NXdata 'data' with a signal and axes 'y', 'x'."""
    with h5py.File(path, "w") as f:
        f.attrs["NX_class"] = b"NXroot"
        f.attrs["creator"] = "test_nexus"
        entry = f.create_group("entry")
        entry.attrs["NX_class"] = b"NXentry"
        entry["title"] = np.array([b"a test scan"])
        entry["sample/temperature"] = np.array([4.2])
        entry["sample/temperature"].attrs["units"] = b"K"
        entry["sample"].attrs["NX_class"] = "NXsample"
        group = entry.create_group("data")
        group.attrs["NX_class"] = b"NXdata"
        group[signal_name] = data
        group[signal_name].attrs["units"] = b"counts"
        group["x"], group["y"] = x, y
        if x_units is not None:
            group["x"].attrs["units"] = x_units
        if y_units is not None:
            group["y"].attrs["units"] = y_units
        if axes_style == "old":  # signal=1 on the dataset, "y:x" axes on the dataset
            group[signal_name].attrs["signal"] = 1
            group[signal_name].attrs["axes"] = b"y:x"
            return
        group.attrs["signal"] = signal_name.encode() if axes_style == "bytes" else signal_name
        if axes_style == "bytes":
            group.attrs["axes"] = np.array([b"y", b"x"])
        elif axes_style == "str":
            group.attrs["axes"] = ["y", "x"]
        elif axes_style == "indices":  # NeXus 2014: the order of 'axes' is not the dimension order here
            group.attrs["axes"] = ["x", "y"]
            group.attrs["x_indices"] = np.array([1], dtype=np.uint32)
            group.attrs["y_indices"] = np.array([0], dtype=np.uint32)
        elif axes_style == "x only":
            group.attrs["axes"] = [".", "x"]
        elif axes_style == "colon":
            group.attrs["axes"] = "y:x"
        else:
            raise ValueError(axes_style)


def read_dataset(path, name):
    with h5py.File(path, "r") as f:
        return f[name][()]


def calibration_keys(document) -> dict:
    return {k: v for k, v in document.metadata.items() if k.startswith("calibration.")}


# --------------------------------------------------------------------------- text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"\xb5m", MICRO + "m"),  # Latin-1 micro sign
        (b"\xce\xbcm", GREEK_MU + "m"),  # UTF-8 Greek mu, kept as it is
        (np.bytes_(b"\xc2\xb5m"), MICRO + "m"),  # UTF-8 micro sign
        (np.array([b"NXstxm"]), "NXstxm"),
        (np.array(b"NXentry"), "NXentry"),
        (np.array([b"\xb5rad"], dtype=object), MICRO + "rad"),
        (np.array([b"a", b"b"]), "a\nb"),
        (b"padded\x00\x00", "padded"),
        (bytearray(b"mm"), "mm"),
        ("\udcb5m", MICRO + "m"),  # h5py's surrogateescape decoding of b"\xb5m"
        (b"\xff\xfe", "\xff\xfe"),
        ("plain", "plain"),
        (None, ""),
        (3, "3"),
    ],
)
def test_decode_text(value, expected):
    result = decode_text(value)
    assert type(result) is str
    assert result == expected


def test_decode_text_never_raises():
    class Hostile:
        def __str__(self):
            raise RuntimeError("no")

        def __repr__(self):
            raise RuntimeError("no")

    assert decode_text(Hostile()) == ""


@pytest.mark.parametrize("raw", [b"\xb5m", b"\xce\xbcm", "um", " \xb5m ", "micron"])
def test_normalise_units_gives_the_micro_sign(raw):
    assert normalise_units(raw) == MICRO + "m"


def test_normalise_units_keeps_other_units():
    assert normalise_units(b" nm ") == "nm"
    assert normalise_units(b" ") == ""
    assert normalise_units(None) == ""


# --------------------------------------------------------------------------- NeXus


@pytest.mark.parametrize("axes_style", ["bytes", "str", "indices", "colon", "old"])
def test_signal_and_uniform_axes(tmp_path, axes_style):
    data = pixels((30, 80))
    x = 1.5 + 0.25 * np.arange(80)
    y = -2.0 + 0.5 * np.arange(30)
    path = tmp_path / "scan.nxs"
    write_nexus(path, data, x, y, axes_style=axes_style)
    document = stonerimg.load(path, fmt="nexus")
    assert type(document) is ImageFile and document.format == "nexus"
    expected = read_dataset(path, "entry/data/counts")
    assert_same_pixels(expected, document.data)
    assert document.shape == (30, 80) == (len(y), len(x))  # never transposed
    assert document.geometry == (80, 30)
    md = document.metadata
    assert md["calibration.x.scale"] == pytest.approx(0.25)
    assert md["calibration.x.offset"] == pytest.approx(1.5)
    assert md["calibration.y.scale"] == pytest.approx(0.5)
    assert md["calibration.y.offset"] == pytest.approx(-2.0)
    assert md["calibration.x.units"] == md["calibration.y.units"] == "nm"
    assert document.calibration.x.to_physical(79) == pytest.approx(x[-1])
    assert document.calibration.y.to_physical(29) == pytest.approx(y[-1])
    assert md["hdf5.signal"] == "/entry/data/counts"
    assert md["hdf5.axes"] == ["y", "x"]
    assert not any(k.startswith("axes.") for k in md)


def test_metadata_of_a_nexus_file(tmp_path):
    path = tmp_path / "scan.nxs"
    x, y = np.arange(80.0), np.arange(30.0)
    write_nexus(path, pixels(), x, y)
    md = stonerimg.load(path, fmt="nexus").metadata
    assert md["file.NX_class"] == "NXroot"
    assert md["file.creator"] == "test_nexus"
    assert md["NX_class"] == "NXentry"
    assert md["title"] == "a test scan"
    assert md["sample.temperature"] == 4.2 and isinstance(md["sample.temperature"], np.float64)
    assert md["sample.temperature@units"] == "K"
    assert md["sample.NX_class"] == "NXsample"
    assert md["data.NX_class"] == "NXdata"
    assert md["data.signal"] == "counts"
    assert md["data.counts@units"] == "counts"  # attributes of the (2-D, left out) signal are kept
    assert "data.counts" not in md
    assert_same_value(x, md["data.x"], "data.x")
    assert_same_value(y, md["data.y"], "data.y")
    assert Metadata.from_json(md.to_json()) == md


def test_dot_means_no_axis(tmp_path):
    path = tmp_path / "scan.nxs"
    write_nexus(path, pixels(), 10 + 2.0 * np.arange(80), np.arange(30.0), axes_style="x only")
    md = stonerimg.load(path, fmt="nexus").metadata
    assert md["calibration.x.scale"] == pytest.approx(2.0) and md["calibration.x.offset"] == pytest.approx(10)
    assert not any(k.startswith("calibration.y.") for k in md)
    assert md["hdf5.axes"] == [".", "x"]


def test_non_uniform_axis_is_kept_as_values(tmp_path):
    path = tmp_path / "scan.nxs"
    x = np.linspace(0, 1, 80) ** 2
    y = 5.0 - 0.1 * np.arange(30)  # decreasing: a negative scale
    write_nexus(path, pixels(), x, y)
    md = stonerimg.load(path, fmt="nexus").metadata
    assert_same_value(read_dataset(path, "entry/data/x"), md["axes.x"], "axes.x")
    assert not any(k.startswith("calibration.x.") for k in md)
    assert md["calibration.y.scale"] == pytest.approx(-0.1)
    assert md["calibration.y.offset"] == pytest.approx(5.0)
    assert "axes.y" not in md


def test_bin_edges_give_the_pixel_centres(tmp_path):
    path = tmp_path / "scan.nxs"
    write_nexus(path, pixels(), 0.5 * np.arange(81), 3.0 * np.arange(31))
    md = stonerimg.load(path, fmt="nexus").metadata
    assert md["calibration.x.scale"] == pytest.approx(0.5) and md["calibration.x.offset"] == pytest.approx(0.25)
    assert md["calibration.y.scale"] == pytest.approx(3.0) and md["calibration.y.offset"] == pytest.approx(1.5)


def test_axis_of_the_wrong_length_is_ignored(tmp_path):
    path = tmp_path / "scan.nxs"
    write_nexus(path, pixels(), np.arange(50.0), np.arange(30.0))
    md = stonerimg.load(path, fmt="nexus").metadata
    assert not any(k.startswith("calibration.x.") for k in md)
    assert "axes.x" in md and md["calibration.y.scale"] == pytest.approx(1.0)


@pytest.mark.parametrize("raw", [b"\xb5m", b"\xce\xbcm", "\u00b5m".encode()])
def test_micron_units_in_any_encoding(tmp_path, raw):
    path = tmp_path / "scan.nxs"
    write_nexus(path, pixels(), np.arange(80.0), np.arange(30.0), x_units=raw, y_units=None)
    md = stonerimg.load(path, fmt="nexus").metadata
    assert md["calibration.x.units"] == MICRO + "m"
    assert md["calibration.y.units"] == ""  # calibrated, but the file gives no units
    with h5py.File(path, "r") as f:  # the raw attribute is decoded as it is
        assert md["data.x@units"] == decode_text(f["entry/data/x"].attrs["units"])
    assert md["data.x@units"] in (MICRO + "m", GREEK_MU + "m")


def test_old_style_signal_attribute_chooses_among_datasets(tmp_path):
    path = tmp_path / "old.nxs"
    write_nexus(path, pixels(), 0.1 * np.arange(80), 0.2 * np.arange(30), axes_style="old")
    with h5py.File(path, "a") as f:
        f["entry/data/background"] = -pixels()  # another 2-D dataset, not the signal
    document = stonerimg.load(path, fmt="nexus")
    assert_same_pixels(read_dataset(path, "entry/data/counts"), document.data)
    assert document["calibration.x.scale"] == pytest.approx(0.1)
    assert document["calibration.y.scale"] == pytest.approx(0.2)


def test_oldest_axis_attributes(tmp_path):
    path = tmp_path / "oldest.nxs"
    with h5py.File(path, "w") as f:
        group = f.create_group("entry/data")
        f["entry"].attrs["NX_class"] = "NXentry"
        group.attrs["NX_class"] = "NXdata"
        group["z"] = pixels((6, 9))
        group["z"].attrs["signal"] = np.int32(1)
        group["cols"] = 4.0 * np.arange(9)
        group["cols"].attrs["axis"] = np.int32(2)
        group["rows"] = 7.0 * np.arange(6)
        group["rows"].attrs["axis"] = np.int32(1)
    md = stonerimg.load(path, fmt="nexus").metadata
    assert md["calibration.x.scale"] == pytest.approx(4.0)
    assert md["calibration.y.scale"] == pytest.approx(7.0)
    assert md["hdf5.axes"] == ["rows", "cols"]


def test_default_attributes_choose_the_entry(tmp_path):
    path = tmp_path / "two.nxs"
    with h5py.File(path, "w") as f:
        for name, scale in (("entry1", 1), ("entry2", 2)):
            group = f.create_group(f"{name}/plot")
            f[name].attrs["NX_class"] = "NXentry"
            f[name].attrs["default"] = "plot"
            group.attrs.update({"NX_class": "NXdata", "signal": "image"})
            group["image"] = pixels((4, 5)) * scale
        f.attrs["default"] = "entry2"
    document = stonerimg.load(path, fmt="nexus")
    assert_same_pixels(read_dataset(path, "entry2/plot/image"), document.data)
    assert document["hdf5.signal"] == "/entry2/plot/image"
    assert document["NX_class"] == "NXentry" and document["default"] == "plot"


def test_a_1d_signal_is_passed_over_for_an_image(tmp_path):
    path = tmp_path / "mixed.nxs"
    with h5py.File(path, "w") as f:
        f.create_group("entry").attrs["NX_class"] = "NXentry"
        for name, data in (("a_spectrum", np.arange(50.0)), ("b_image", pixels((5, 7)))):
            group = f.create_group(f"entry/{name}")
            group.attrs.update({"NX_class": "NXdata", "signal": "signal"})
            group["signal"] = data
    document = stonerimg.load(path, fmt="nexus")
    assert document["hdf5.signal"] == "/entry/b_image/signal"
    assert_same_pixels(read_dataset(path, "entry/b_image/signal"), document.data)


def test_only_a_1d_signal_is_no_image(tmp_path):
    path = tmp_path / "spectrum.nxs"
    with h5py.File(path, "w") as f:
        group = f.create_group("entry/data")
        f["entry"].attrs["NX_class"] = "NXentry"
        group.attrs.update({"NX_class": "NXdata", "signal": "y", "axes": "x"})
        group["y"], group["x"] = np.arange(50.0) ** 2, np.arange(50.0)
    with pytest.raises(FormatError, match="no 2-D dataset") as info:
        stonerimg.load(path, fmt="nexus")
    assert "spectrum.nxs" in str(info.value) and "/entry/data/y" in str(info.value)


def test_stack_signal_keeps_its_frames(tmp_path):
    path = tmp_path / "stack.nxs"
    with h5py.File(path, "w") as f:
        group = f.create_group("entry/data")
        f["entry"].attrs["NX_class"] = "NXentry"
        group.attrs.update({"NX_class": "NXdata", "signal": "frames", "axes": ["energy", "y", "x"]})
        group["frames"] = pixels((3, 4, 5), np.uint16)
        group["energy"], group["y"], group["x"] = [700.0, 705.0, 712.0], 2.0 * np.arange(4), 3.0 * np.arange(5)
    document = stonerimg.load(path, fmt="nexus")
    assert document.shape == (3, 4, 5)
    assert_same_pixels(read_dataset(path, "entry/data/frames"), document.data)
    assert document["calibration.x.scale"] == pytest.approx(3.0)
    assert document["calibration.y.scale"] == pytest.approx(2.0)


def test_signal_in_an_external_file(tmp_path):
    detector = tmp_path / "detector_000001.h5"
    with h5py.File(detector, "w") as f:
        f["data"] = pixels((6, 8), np.uint16)
    path = tmp_path / "master.nxs"
    with h5py.File(path, "w") as f:
        group = f.create_group("entry/data")
        f["entry"].attrs["NX_class"] = "NXentry"
        group.attrs.update({"NX_class": "NXdata", "signal": "frame", "axes": ["y", "x"]})
        group["frame"] = h5py.ExternalLink(detector.name, "/data")
        group["y"], group["x"] = 0.5 * np.arange(6), 0.25 * np.arange(8)
    document = stonerimg.load(path, fmt="nexus")
    assert_same_pixels(read_dataset(detector, "data"), document.data)
    assert document["calibration.x.scale"] == pytest.approx(0.25)
    with h5py.File(detector, "a"), h5py.File(path, "a"):  # both closed again
        pass


# --------------------------------------------------------------------------- plain HDF5


def write_plain(path, images: dict):
    with h5py.File(path, "w") as f:
        f.attrs["operator"] = "me"
        f["settings/gain"] = 2.5
        f["settings/gain"].attrs["units"] = "dB"
        f["settings"].attrs["version"] = np.int64(3)
        f["settings/channels"] = np.array([b"A", b"B"])
        f["trace"] = np.arange(10, dtype=np.int16)
        f["settings/scalar"] = np.full((1, 1), 9.0)  # as MATLAB stores a number: not an image
        f["settings/row"] = np.arange(5.0).reshape(1, 5)  # nor is a 1 x n row
        for name, data in images.items():
            f[name] = data


def test_plain_hdf5_with_one_image(tmp_path):
    path = tmp_path / "plain.h5"
    write_plain(path, {"results/frame": pixels((12, 17), np.int32)})
    document = stonerimg.load(path, fmt="nexus")
    assert_same_pixels(read_dataset(path, "results/frame"), document.data)
    md = document.metadata
    assert md["hdf5.signal"] == "/results/frame"
    assert md["file.operator"] == "me"
    assert md["settings.gain"] == 2.5 and md["settings.gain@units"] == "dB"
    assert md["settings.version"] == 3
    assert md["settings.channels"] == ["A", "B"]
    assert md["settings.scalar"] == 9.0 and "settings.row" not in md
    assert_same_value(np.arange(10, dtype=np.int16), md["trace"], "trace")
    assert "results.frame" not in md
    assert not any(k.startswith("calibration.") for k in md)


def test_two_images_need_signal(tmp_path):
    path = tmp_path / "two.h5"
    write_plain(path, {"first": pixels((4, 5)), "group/second": pixels((6, 7))})
    with pytest.raises(FormatError, match="signal=") as info:
        stonerimg.load(path, fmt="nexus")
    message = str(info.value)
    assert "two.h5" in message and "/first" in message and "/group/second" in message
    with h5py.File(path, "a"):  # the loader closed the file
        pass


@pytest.mark.parametrize("name", ["first", "/group/second"])
def test_signal_chooses_the_dataset(tmp_path, name):
    path = tmp_path / "two.h5"
    write_plain(path, {"first": pixels((4, 5)), "group/second": pixels((6, 7)) * 3})
    document = stonerimg.load(path, fmt="nexus", signal=name)
    assert_same_pixels(read_dataset(path, name), document.data)
    assert document["hdf5.signal"] == "/" + name.lstrip("/")


def test_signal_can_name_an_nxdata_group(tmp_path):
    path = tmp_path / "scan.nxs"
    write_nexus(path, pixels(), np.arange(80.0), 2 * np.arange(30.0))
    document = stonerimg.load(path, fmt="nexus", signal="entry/data")
    assert_same_pixels(read_dataset(path, "entry/data/counts"), document.data)
    assert document["calibration.y.scale"] == pytest.approx(2.0)


@pytest.mark.parametrize(("name", "why"), [("nothing/here", "no such dataset"), ("trace", "not a numeric dataset")])
def test_signal_that_is_not_an_image(tmp_path, name, why):
    path = tmp_path / "plain.h5"
    write_plain(path, {"frame": pixels((4, 5))})
    with pytest.raises(FormatError, match=why) as info:
        stonerimg.load(path, fmt="nexus", signal=name)
    assert name in str(info.value)


def test_no_image_in_the_file(tmp_path):
    path = tmp_path / "numbers.h5"
    write_plain(path, {"table": np.array([(1, 2.0)], dtype=[("a", "i4"), ("b", "f8")])})
    with pytest.raises(FormatError, match="no 2-D dataset") as info:
        stonerimg.load(path, fmt="nexus")
    assert "numbers.h5" in str(info.value)
    with pytest.raises(FormatError, match="no 2-D dataset"):
        stonerimg.load(path)  # every format tried; the nexus reason is in the list


# --------------------------------------------------------------------------- odd data


def write_odd(path):
    """A file with every awkward kind of item next to one good image."""
    with h5py.File(path, "w") as f:
        f["image"] = pixels((5, 6))
        odd = f.create_group("odd")
        odd.attrs["label"] = b"\xb5-metal"
        odd.attrs["empty"] = h5py.Empty("f8")
        odd.attrs["grid"] = np.ones((2, 2))
        odd.attrs["names"] = np.array([b"a", b"\xb5"])
        odd.attrs["when"] = "2024-01-02T03:04:05"
        record = np.dtype([("x", "f8"), ("name", "S4"), ("n", "i2")])
        odd["record"] = np.array([(1.5, b"ab", 7)], dtype=record)
        odd["records"] = np.array([(1.5, b"ab", 7), (2.5, b"cd", 8)], dtype=record)
        odd["objects"] = np.array([b"x", b"yz"], dtype=object)
        odd.create_dataset("vlen_text", data=["\u00e9t\u00e9", "hiver"], dtype=h5py.string_dtype())
        odd.create_dataset("ragged", (2,), dtype=h5py.vlen_dtype(np.int32))
        odd["ragged"][0] = [1, 2, 3]
        odd["ragged"][1] = [4]
        refs = odd.create_dataset("refs", (2,), dtype=h5py.ref_dtype)
        refs[0] = f["image"].ref
        odd.create_dataset("null", data=h5py.Empty("f4"))
        odd["nothing"] = np.zeros(0)
        odd["flags"] = np.array([True, False, True])
        odd["half"] = np.float16(0.5)
        odd["big_endian"] = np.arange(4, dtype=">i4")
        odd["complex"] = np.array([1 + 2j, 3 - 4j])
        odd["long"] = np.arange(100_001, dtype=np.uint8)
        odd["matrix"] = np.ones((1, 3))  # 2-D: not metadata, and too thin to be an image
        odd["one_by_one"] = np.full((1, 1), 9.0)
        odd["opaque"] = np.void(b"\x00\x01")
        odd["dangling"] = h5py.SoftLink("/does/not/exist")
        odd["elsewhere"] = h5py.ExternalLink("missing_file.h5", "/data")
        odd["loop"] = h5py.SoftLink("/odd")  # a link back up the tree
        odd["hard_loop"] = odd  # a hard link back up the tree
        odd["alias"] = h5py.SoftLink("/odd/half")
        clash = odd.create_group("clash")
        clash.attrs["member"] = "the attribute"
        clash["member"] = "the dataset"


def expected_odd() -> dict:
    return {
        "odd.label": MICRO + "-metal",
        "odd.names": ["a", MICRO],
        "odd.when": "2024-01-02T03:04:05",
        "odd.record": {"x": np.float64(1.5), "name": "ab", "n": np.int16(7)},
        "odd.objects": ["x", "yz"],
        "odd.vlen_text": ["\u00e9t\u00e9", "hiver"],
        "odd.nothing": np.zeros(0),
        "odd.flags": np.array([True, False, True]),
        "odd.half": np.float16(0.5),
        "odd.alias": np.float16(0.5),
        "odd.big_endian": np.arange(4, dtype=">i4"),
        "odd.complex": np.array([1 + 2j, 3 - 4j]),
        "odd.one_by_one": np.float64(9.0),
        "odd.clash@member": "the attribute",
        "odd.clash.member": "the dataset",
    }


def test_hdf5_metadata_survives_odd_data(tmp_path):
    path = tmp_path / "odd.h5"
    write_odd(path)
    with h5py.File(path, "r") as f:
        md = hdf5_metadata(f)
        assert_same_value(expected_odd(), dict(md), "metadata")
        assert hdf5_metadata(f["odd"], prefix="raw").keys() == {k.replace("odd.", "raw.", 1) for k in md}
        assert hdf5_metadata(f["odd"], prefix="raw.") == hdf5_metadata(f["odd"], prefix="raw")
    assert Metadata.from_json(md.to_json()) == md


def test_loading_a_file_with_odd_data(tmp_path):
    path = tmp_path / "odd.h5"
    write_odd(path)
    document = stonerimg.load(path, fmt="nexus")
    assert_same_pixels(read_dataset(path, "image"), document.data)
    expected = expected_odd()
    assert {k: v for k, v in document.metadata.items() if k.startswith("odd.")}.keys() == expected.keys()
    document.metadata.to_json()  # everything kept is encodable


def test_own_attributes_and_prefix(tmp_path):
    path = tmp_path / "attrs.h5"
    with h5py.File(path, "w") as f:
        f.attrs["NX_class"] = "NXroot"
        f.attrs["clash"] = 1
        f["clash"] = 2
        f["sub/value"] = 3
        f["sub"].attrs["kind"] = b"sub"
    with h5py.File(path, "r") as f:
        assert hdf5_metadata(f) == {"NX_class": "NXroot", "@clash": 1, "clash": 2, "sub.kind": "sub", "sub.value": 3}
        assert hdf5_metadata(f, prefix="file") == {
            "file.NX_class": "NXroot",
            "file@clash": 1,
            "file.clash": 2,
            "file.sub.kind": "sub",
            "file.sub.value": 3,
        }


# --------------------------------------------------------------------------- read-only, closed


def test_read_only_file_loads_and_is_unchanged(tmp_path):
    path = tmp_path / "locked.nxs"
    write_nexus(path, pixels(), np.arange(80.0), np.arange(30.0))
    os.chmod(path, 0o444)
    before = sha256(path), os.stat(path).st_mtime_ns
    document = stonerimg.load(path, fmt="nexus")
    assert_same_pixels(read_dataset(path, "entry/data/counts"), document.data)
    assert (sha256(path), os.stat(path).st_mtime_ns) == before
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o444


def test_file_is_closed_after_loading(tmp_path):
    path = tmp_path / "scan.nxs"
    write_nexus(path, pixels(), np.arange(80.0), np.arange(30.0))
    stonerimg.load(path, fmt="nexus")
    with h5py.File(path, "a") as f:  # HDF5 refuses read-write while a read-only handle is open
        f.attrs["touched"] = 1


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs a non-root POSIX user")
def test_unreadable_file_is_a_permission_error(tmp_path):
    path = tmp_path / "secret.h5"
    write_plain(path, {"frame": pixels((4, 5))})
    os.chmod(path, 0)
    with pytest.raises(PermissionError):
        nexus.load(path)


def test_permission_error_is_not_a_decline(tmp_path, monkeypatch):
    path = tmp_path / "scan.nxs"
    write_nexus(path, pixels(), np.arange(80.0), np.arange(30.0))

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(h5py, "File", refuse)
    with pytest.raises(PermissionError):
        stonerimg.load(path, fmt="nexus")


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        nexus.load(tmp_path / "absent.h5")


def test_module_imports_h5py_only_when_used():
    code = "import sys, stonerimg.formats.nexus as n; n.decode_text(b'x'); print('h5py' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --------------------------------------------------------------------------- real PolLux files


@pytest.fixture(params=STXM_FILES)
def stxm_file(request, sample_data):
    path = sample_data / "stxm" / request.param
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return path


def independent_keys(entry) -> set:
    """The keys hdf5_metadata promises, from a plain walk over every link (hard links seen at each path)."""
    keys = set(entry.attrs)

    def visit(group, start):
        for name, obj in group.items():
            key = f"{start}{name}"
            if isinstance(obj, h5py.Dataset):
                if obj.ndim <= 1 or obj.size == 1:
                    keys.add(key)
                keys.update(f"{key}@{a}" for a in obj.attrs)
            else:
                keys.update(f"{key}.{a}" for a in obj.attrs)
                visit(obj, f"{key}.")

    visit(entry, "")
    return keys


def test_real_stxm_metadata(stxm_file):
    with h5py.File(stxm_file, "r") as f:
        entry = f["entry1"]
        md = hdf5_metadata(entry)
        assert set(md) == independent_keys(entry)
        polarization = entry["collection/polarization/value"][0]
        x_units = entry["counter0/sample_x"].attrs.get("units")
        energy = entry["counter0/energy"][()]
    assert md["collection.polarization.value"] == polarization
    assert md["definition"] == "NXstxm"
    assert md["counter0.signal"] == "data"
    assert md["counter0.axes"] == ["sample_y", "sample_x"]
    assert md["counter0.energy"] == energy[0]
    assert not any(isinstance(v, bytes) for v in md.values())
    if stxm_file.name == "Sample_Image_2017-10-15_100.hdf5":
        # ~700 datasets and group attributes (the items the Stoner package kept), plus dataset attributes
        assert 650 <= sum("@" not in k for k in md) <= 800
        assert 300 <= sum("@" in k for k in md) <= 500
        assert md["collection.polarization.value"] == 0.2
        assert md["counter0.sample_x@units"] == decode_text(x_units) == GREEK_MU + "m"  # UTF-8 in the file
        assert md["collection.ring_x_min.value@units"] == MICRO + "m"  # Latin-1 in the file
        assert md["collection.polarization.value@units"] == " "
        assert isinstance(md["instrument.sample_x.data"], np.ndarray) and md["instrument.sample_x.data"].size == 10000
        assert "instrument.sample_x.data_detail" not in md  # 2-D
    assert Metadata.from_json(md.to_json()) == md


def test_real_stxm_loads_the_nxdata_signal(stxm_file):
    document = stonerimg.load(stxm_file, fmt="nexus")
    with h5py.File(stxm_file, "r") as f:
        expected = f["entry1/counter0/data"][()]
        x = f["entry1/counter0/sample_x"][()]
        y = f["entry1/counter0/sample_y"][()]
        polarization = f["entry1/collection/polarization/value"][0]
    assert type(document) is ImageFile and document.format == "nexus"
    assert_same_pixels(expected, document.data)
    assert document.shape == (len(y), len(x))
    md = document.metadata
    assert md["hdf5.signal"] == "/entry1/counter0/data"
    assert md["calibration.x.scale"] == pytest.approx((x[-1] - x[0]) / (len(x) - 1))
    assert md["calibration.x.offset"] == pytest.approx(x[0])
    assert md["calibration.y.scale"] == pytest.approx((y[-1] - y[0]) / (len(y) - 1))
    assert md["calibration.y.offset"] == pytest.approx(y[0])
    assert md["collection.polarization.value"] == polarization
    assert md["file.NeXus_version"].startswith("4.4")
    if stxm_file.name == "Sample_Image_2017-10-15_100.hdf5":
        assert md["calibration.x.units"] == md["calibration.y.units"] == MICRO + "m"
        assert md["file.NX_class"] == "NXroot"


# --------------------------------------------------------------------------- bad input


@pytest.fixture
def real_copy(tmp_path, sample_data):
    source = sample_data / "stxm" / STXM_FILES[0]
    if not source.is_file():
        pytest.skip(f"{source} not found")
    return source.read_bytes()


@pytest.mark.parametrize("fraction", [0.0005, 0.01, 0.3, 0.5, 0.9, 0.999])
def test_truncated_file_is_a_format_error(tmp_path, real_copy, fraction):
    path = tmp_path / "cut.h5"
    path.write_bytes(real_copy[: int(len(real_copy) * fraction)])
    for kwargs in ({"fmt": "nexus"}, {}):
        with pytest.raises(FormatError) as info:
            stonerimg.load(path, **kwargs)
        assert "cut.h5" in str(info.value)
    assert "nexus" in [name for name, _ in info.value.attempts]


def test_truncated_file_gives_h5pys_reason(tmp_path, real_copy):
    path = tmp_path / "cut.h5"
    path.write_bytes(real_copy[: len(real_copy) // 2])
    with pytest.raises(FormatMismatch, match="not a readable HDF5 file: .*truncated"):
        nexus.load(path)


def test_empty_file_is_a_format_error(tmp_path):
    path = tmp_path / "empty.h5"
    path.write_bytes(b"")
    with pytest.raises(FormatError, match="empty.h5"):
        stonerimg.load(path)
    with pytest.raises(FormatMismatch, match="not a readable HDF5 file"):
        nexus.load(path)


def test_text_file_named_h5(tmp_path):
    path = tmp_path / "notes.h5"
    path.write_text("this is not HDF5\n" * 10)
    with pytest.raises(FormatError, match="notes.h5"):
        stonerimg.load(path)
    with pytest.raises(FormatError, match=r"notes.h5(.|\n)*nexus: not a readable HDF5 file"):
        stonerimg.load(path, fmt="nexus")


def test_copy_of_a_real_file_loads_like_the_original(tmp_path, real_copy, sample_data):
    path = tmp_path / "copy.hdf5"
    path.write_bytes(real_copy)
    original = stonerimg.load(sample_data / "stxm" / STXM_FILES[0], fmt="nexus")
    copy = stonerimg.load(path, fmt="nexus")
    assert_same_pixels(np.asarray(original.data), copy.data)
    assert copy.metadata == original.metadata
