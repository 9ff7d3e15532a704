"""The native DigitalMicrograph reader (stonerimg.formats.dm).

Expected values come from RosettaSciIO's reader called directly on the same files, from
the arrays written into DM files by tests/formats/dm_writer.py, or from closed forms.
"""

from __future__ import annotations

import builtins
import datetime as dt
import re
import shutil
import struct
import warnings

import numpy as np
import pytest

import stonerimg
from stonerimg import FormatError, ImageFile, ImageStack
from stonerimg.errors import FormatMismatch
from stonerimg.formats import dm

from .dm_writer import DATA_TYPES, RawString, Zeros, write_dm
from .helpers import assert_same_pixels, sha256

TEST_2D = {1: "int16", 2: "float32", 6: "uint8", 7: "int32", 10: "uint16"}
REAL_FILES = ["test_STEM_image.dm3", "test_diffraction_pattern.dm3", "EELS_SI.dm4"] + [
    f"test-2D-{code}.dm3" for code in TEST_2D
]


def rsciio_read(path):
    """RosettaSciIO's own reading of ``path`` (its first signal)."""
    reader = pytest.importorskip("rsciio.digitalmicrograph")
    return reader.file_reader(str(path))[0]


def leaves(tree, prefix=""):
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            yield from leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def as_array(document) -> np.ndarray:
    return np.asarray(document.data)


# ---------------------------------------------------------------- real files against RosettaSciIO


@pytest.mark.parametrize("name", REAL_FILES)
def test_real_file_matches_rosettasciio(dm_dir, name):
    path = dm_dir / name
    before = sha256(path)
    document = stonerimg.load(path)
    direct = rsciio_read(path)
    assert document.format == "dm"
    assert_same_pixels(np.asarray(direct["data"]), as_array(document))
    md = document.metadata
    axes = sorted(direct["axes"], key=lambda a: a["index_in_array"])
    for axis, letter in zip(reversed(axes), "xyz", strict=False):  # the last NumPy axis is DM's X
        assert md[f"calibration.{letter}.scale"] == axis["scale"]
        assert md[f"calibration.{letter}.offset"] == axis["offset"]
        assert md.get(f"calibration.{letter}.units", "") == axis["units"]
    assert md["title"] == direct["metadata"]["General"]["title"]
    assert sha256(path) == before


@pytest.mark.parametrize("code", sorted(TEST_2D))
def test_small_files_count_up_in_numpy_order(dm_dir, code):
    document = stonerimg.load(dm_dir / f"test-2D-{code}.dm3")
    assert type(document) is ImageFile
    assert_same_pixels(np.array([[1, 2], [3, 4]], dtype=TEST_2D[code]), document.data)
    assert document.metadata["dm.data_type"] == code
    assert "calibration.x.units" not in document.metadata  # uncalibrated: the axis reads as pixels


def test_stem_image(dm_dir):
    document = stonerimg.load(dm_dir / "test_STEM_image.dm3")
    assert document.shape == (68, 68) and document.dtype == np.uint32 and document.geometry == (68, 68)
    md = document.metadata
    assert document.calibration.x.scale == pytest.approx(0.24854, abs=1e-5)
    assert document.calibration.x.units == document.calibration.y.units == "nm"
    origin = md["ImageList.1.ImageData.Calibrations.Dimension.0.Origin"]
    scale = md["ImageList.1.ImageData.Calibrations.Dimension.0.Scale"]
    assert (origin, md["calibration.x.offset"]) == (-207.0, -origin * scale)
    assert md["ImageList.1.ImageTags.Microscope Info.Voltage"] == 200000.0
    assert md["microscope.voltage"] == 200000.0 and md["microscope.voltage.units"] == "V"
    assert md["microscope.magnification"] == md["ImageList.1.ImageTags.Microscope Info.Indicated Magnification"]
    assert md["microscope.camera_length"] == 135.0 and md["microscope.camera_length.units"] == "mm"
    assert md["microscope.name"] == "FEI Titan"
    # the acquisition time: DataBar strings "8/8/2016" and "4:26:37 PM", and Windows FILETIME ticks
    assert md["microscope.acquisition_date"] == dt.date(2016, 8, 8)
    assert md["microscope.acquisition_time"] == "16:26:37"
    ticks = md["ImageList.1.ImageTags.DataBar.Acquisition Time (OS)"]
    expected = dt.datetime(1601, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(seconds=ticks / 1e7)
    assert abs(md["microscope.acquired"] - expected) < dt.timedelta(milliseconds=1)
    assert md["dm.image_index"] == 1 and md["Thumbnails.0.ImageIndex"] == 0  # entry 0 is the thumbnail


def test_spectrum_image_is_a_3d_image_and_its_frames_a_stack(dm_dir):
    document = stonerimg.load(dm_dir / "EELS_SI.dm4")
    direct = rsciio_read(dm_dir / "EELS_SI.dm4")
    assert type(document) is ImageFile  # one rule for every format (doc/formats.md)
    assert document.shape == (2048, 2, 2) == direct["data"].shape  # DM 2 x 2 x 2048 -> (Z, Y, X)
    md = document.metadata
    assert md["dm.dimensions"] == (2, 2, 2048)
    assert md["calibration.z.units"] == "eV" and md["calibration.z.offset"] == 300.0
    assert md["calibration.x.units"] == "µm"
    assert_same_pixels(direct["data"], document.data)
    frames = ImageStack(dm_dir / "EELS_SI.dm4")
    assert len(frames) == 2048 and frames.metadata["calibration.z.units"] == "eV"
    assert_same_pixels(direct["data"], frames.data)


def test_every_tag_is_kept_under_its_dotted_path(dm_dir):
    """Each item of RosettaSciIO's tag tree is in our metadata with the same value."""
    for name in ("test_STEM_image.dm3", "EELS_SI.dm4", "test-2D-1.dm3"):
        document = stonerimg.load(dm_dir / name)
        md = document.metadata
        index = md["dm.image_index"]
        compared = 0
        for key, value in leaves(rsciio_read(dm_dir / name)["original_metadata"]):
            if key == "root" or ".ImageData.Data." in key:
                continue
            ours = re.sub(r"(^|\.)(?:TagGroup|Data)(\d+)(?=\.|$)", r"\1\2", key)
            if ours.startswith("ImageList.0"):  # RosettaSciIO keeps only the image it read
                ours = f"ImageList.{index}" + ours[len("ImageList.0") :]
            if ours not in md:  # RosettaSciIO drops dots from labels
                candidates = [k for k in md if k.replace(".", "") == ours.replace(".", "")]
                assert len(candidates) == 1, key
                ours = candidates[0]
            mine = md[ours]
            if isinstance(mine, np.ndarray):
                # RosettaSciIO reads octets (type 10) as signed bytes
                expected = np.asarray(value)
                got = mine.astype(np.int8) if mine.dtype == np.uint8 else mine
                assert np.array_equal(got, expected), key
            elif value == []:  # an empty text
                assert mine in ("", {}) or len(mine) == 0, key
            else:
                assert mine == value, key
            compared += 1
        assert compared > 90


# ---------------------------------------------------------------- written files


def sample(dtype: str, shape) -> np.ndarray:
    size = int(np.prod(shape))
    if dtype == "bool":
        return (np.arange(size) % 3 == 0).reshape(shape)
    values = np.arange(size) * 7 % 23 - 5
    if dtype.startswith("u"):
        values = np.abs(values) + np.iinfo(dtype).max - 30
    data = values.astype(dtype)
    if dtype.startswith("complex"):
        data = data + 1j * np.arange(size)[::-1].astype(dtype)
    return data.reshape(shape)


SHAPES = {"1-D": (9,), "2-D": (5, 7), "3-D": (3, 4, 6)}


@pytest.mark.parametrize("version", [3, 4])
@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("dtype", list(DATA_TYPES))
def test_written_file_of_every_type_and_shape(tmp_path, version, shape, dtype):
    data = sample(dtype, SHAPES[shape])
    calibration = [(0.5, 4.0), (0.25, -2.0), (2.0, 1.0)]
    path = write_dm(tmp_path / f"w.dm{version}", data, version=version, calibration=calibration, units=["nm"] * 3)
    document = stonerimg.load(path)
    expected = data.reshape(1, -1) if data.ndim == 1 else data
    assert type(document) is ImageFile  # 3-D too: one rule for every format (doc/formats.md)
    assert_same_pixels(expected, document.data)
    md = document.metadata
    for n, letter in enumerate("xyz"[: data.ndim]):
        scale, origin = calibration[n]
        assert md[f"calibration.{letter}.scale"] == scale
        assert md[f"calibration.{letter}.offset"] == -origin * scale
    direct = rsciio_read(path)  # RosettaSciIO agrees on pixels and axes
    assert_same_pixels(data, np.asarray(direct["data"]))
    for axis, letter in zip(sorted(direct["axes"], key=lambda a: -a["index_in_array"]), "xyz", strict=False):
        assert (md[f"calibration.{letter}.scale"], md[f"calibration.{letter}.offset"]) == (
            axis["scale"],
            axis["offset"],
        )


@pytest.mark.parametrize("version", [3, 4])
@pytest.mark.parametrize("dtype", ["int16", "uint32", "float64", "complex64", "bool"])
def test_big_endian_files(tmp_path, version, dtype):
    """Files from a big-endian machine (byte-order flag 0): values read in that order, native dtype."""
    data = sample(dtype, (4, 5))
    path = write_dm(tmp_path / f"be.dm{version}", data, version=version, little=False, tags={"Gain": 2.5})
    document = stonerimg.load(path)
    assert_same_pixels(data, document.data)
    assert document.dtype.isnative
    assert document.metadata["ImageList.1.ImageTags.Gain"] == 2.5


def test_four_dimensions(tmp_path):
    data = sample("float32", (2, 3, 4, 5))
    path = write_dm(tmp_path / "4d.dm4", data, version=4, calibration=[(1.0, 0.0)] * 4, units=["a", "b", "c", "d"])
    document = stonerimg.load(path)
    assert type(document) is ImageFile and document.shape == (2, 3, 4, 5)
    assert_same_pixels(data, document.data)
    assert [document.metadata[f"calibration.{a}.units"] for a in "xyzw"] == ["a", "b", "c", "d"]
    assert_same_pixels(data, np.asarray(rsciio_read(path)["data"]))


def test_rgba_is_a_last_axis_of_four_channels(tmp_path):
    rgba = (np.arange(3 * 5 * 4) * 11 % 256).astype(np.uint8).reshape(3, 5, 4)
    path = write_dm(tmp_path / "colour.dm3", rgba, rgba=True)
    document = stonerimg.load(path)
    assert type(document) is ImageFile
    assert_same_pixels(rgba, document.data)
    direct = rsciio_read(path)["data"]  # a structured R, G, B, A array
    assert_same_pixels(np.stack([direct[c] for c in "RGBA"], axis=-1), document.data)
    with pytest.raises(FormatError, match="cannot be mapped"):
        dm.data_block(path)


@pytest.mark.parametrize("dtype", ["complex64", "complex128"])
@pytest.mark.parametrize("width", [8, 9])
def test_packed_complex_fft(tmp_path, dtype, width):
    columns = width // 2 + 1
    half = (np.arange(4 * columns) + 1j * (np.arange(4 * columns)[::-1] - 3)).astype(dtype).reshape(4, columns)
    path = write_dm(tmp_path / "fft.dm4", half, version=4, packed_width=width)
    document = stonerimg.load(path)
    assert document.shape == (4, width) and document.dtype == np.dtype(dtype)
    full = np.asarray(document.data)
    assert_same_pixels(half[:, ::-1], full[:, :columns])  # stored from the Nyquist column down to zero
    assert_same_pixels(np.conj(half[:, 1 : width - columns + 1]), full[:, columns:])
    if width % 2 == 0:  # RosettaSciIO unpacks even widths the same way
        assert_same_pixels(np.asarray(rsciio_read(path)["data"]), full)


def test_units_in_other_encodings(tmp_path):
    data = sample("uint8", (2, 3))
    path = write_dm(tmp_path / "units.dm3", data, calibration=[(0.1, 0), (0.2, 0)], units=[RawString(b"\xb5m"), "um"])
    document = stonerimg.load(path)
    assert document.calibration.x.units == "µm" and document.calibration.y.units == "µm"


def test_normalised_microscope_items_and_dates(tmp_path):
    tags = {
        "Microscope Info": {"Voltage": 300000.0, "Indicated Magnification": 5000.0, "STEM Camera Length": 40.0},
        "Session Info": {"Operator": "Ada", "Specimen": "Fe3O4 film", "Microscope": "ARM"},
        "DataBar": {"Acquisition Date": "25.12.2023", "Acquisition Time": "07:05:09", "Exposure Time (s)": 0.5},
    }
    document = stonerimg.load(write_dm(tmp_path / "tags.dm3", sample("int16", (3, 3)), tags=tags))
    md = document.metadata
    assert md.group("microscope") == {
        "voltage": 300000.0,
        "voltage.units": "V",
        "magnification": 5000.0,
        "camera_length": 40.0,
        "camera_length.units": "mm",
        "exposure": 0.5,
        "exposure.units": "s",
        "name": "ARM",
        "operator": "Ada",
        "specimen": "Fe3O4 film",
        "acquisition_date": dt.date(2023, 12, 25),
        "acquisition_time": "07:05:09",
        "acquired_local": dt.datetime(2023, 12, 25, 7, 5, 9),
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("8/8/2016", dt.date(2016, 8, 8)),
        ("7/9/2014", dt.date(2014, 7, 9)),  # DigitalMicrograph's US default: month first
        ("25/12/2023", dt.date(2023, 12, 25)),  # the first number cannot be a month
        ("25.12.2023", dt.date(2023, 12, 25)),
        ("2023-12-25", dt.date(2023, 12, 25)),
        ("31/02/2020", None),
        ("yesterday", None),
    ],
)
def test_dates_without_the_locale(text, expected):
    assert dm._parse_date(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4:26:37 PM", dt.time(16, 26, 37)),
        ("12:00:01 AM", dt.time(0, 0, 1)),
        ("23:59", dt.time(23, 59)),
        ("25:00", None),
    ],
)
def test_times_without_the_locale(text, expected):
    assert dm._parse_time(text) == expected


def test_load_all_and_index(tmp_path):
    data = sample("float32", (6, 7))
    path = write_dm(tmp_path / "two.dm3", data)
    thumbnail, image = dm.load_all(path)
    assert thumbnail.metadata["dm.thumbnail"] is True and thumbnail.shape == (8, 8)
    assert image.metadata["dm.thumbnail"] is False
    assert_same_pixels(data, image.data)
    assert_same_pixels(thumbnail.data, stonerimg.load(path, index=0).data)
    with pytest.raises(FormatError, match="index: no image 5"):
        stonerimg.load(path, index=5)


# ---------------------------------------------------------------- the registry


def test_registry_prefers_the_native_reader_and_sniffs(dm_dir, tmp_path):
    fmt = stonerimg.formats.get("dm")
    assert fmt.extensions[".dm3"] < stonerimg.formats.get("digitalmicrograph").extensions[".dm3"]
    assert {f["name"]: f["lazy"] for f in stonerimg.formats.available()}["dm"] is True
    copy = tmp_path / "stem.bin"
    shutil.copyfile(dm_dir / "test_STEM_image.dm3", copy)
    assert stonerimg.load(copy).format == "dm"  # found by its first bytes, whatever the extension
    fallback = stonerimg.load(dm_dir / "test_STEM_image.dm3", fmt="digitalmicrograph")
    assert_same_pixels(fallback.data, stonerimg.load(dm_dir / "test_STEM_image.dm3").data)
    assert dm.sniff((dm_dir / "EELS_SI.dm4").read_bytes()[:64])
    assert not dm.sniff(b"II*\x00" + bytes(60)) and not dm.sniff(b"\x00\x00\x00\x03")


# ---------------------------------------------------------------- lazy


def test_data_block_and_lazy_open(tmp_path):
    data = sample("uint16", (5, 6, 7))
    path = write_dm(tmp_path / "stack.dm4", data, version=4, calibration=[(0.5, 1.0)], units=["nm"])
    offset, dtype, shape, metadata = dm.data_block(path)
    assert shape == (5, 6, 7) and dtype == np.dtype("<u2")
    raw = np.fromfile(path, dtype=dtype, count=data.size, offset=offset).reshape(shape)
    assert_same_pixels(data, raw)
    assert metadata["calibration.x.units"] == "nm"
    lazy = pytest.importorskip("stonerimg.disk")
    with stonerimg.open(path) as stack:
        assert stack.format == "dm"
        assert stack.shape == (5, 6, 7) and stack.metadata["calibration.x.offset"] == -0.5
        assert_same_pixels(data[3], np.asarray(stack.load_plane(3)))
        assert_same_pixels(data, np.asarray(stack.data))
    with dm.open(write_dm(tmp_path / "image.dm3", data[0])) as image:
        assert image.shape == (6, 7)
        assert_same_pixels(data[0], np.asarray(image.data))
    with lazy.open(write_dm(tmp_path / "big-endian.dm3", data[1], little=False)) as image:
        assert image.dtype == np.dtype(">u2")  # mapped as the file holds them
        assert np.array_equal(data[1], np.asarray(image.data))
    with lazy.open(write_dm(tmp_path / "spectrum.dm4", data[0, 0], version=4)) as image:
        assert image.shape == (1, 7)
        assert_same_pixels(data[0, 0][None], np.asarray(image.data))
    with lazy.open(write_dm(tmp_path / "4d.dm4", data.reshape(5, 1, 6, 7), version=4)) as stack:
        assert stack.shape == (5, 6, 7)  # the W * Z planes
        assert_same_pixels(data, np.asarray(stack.data))
    rgba = write_dm(tmp_path / "colour.dm3", np.zeros((2, 3, 4), np.uint8), rgba=True)
    with pytest.raises(FormatError, match="cannot be mapped"):
        lazy.open(rgba)


def test_data_block_reads_only_the_tags(tmp_path, monkeypatch):
    """Locating the pixels of a 480 MB file reads no more than the window of tags."""
    data = Zeros((120, 1000, 1000), np.float32)  # a sparse file: the pixels are a hole
    path = write_dm(tmp_path / "big.dm4", data, version=4)
    assert path.stat().st_size > 120 * 1000 * 1000 * 4
    read = []
    real_open = builtins.open

    class Counting:
        def __init__(self, handle):
            self.handle = handle

        def read(self, n=-1):
            chunk = self.handle.read(n)
            read.append(len(chunk))
            return chunk

        def __getattr__(self, name):
            return getattr(self.handle, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

    monkeypatch.setattr(builtins, "open", lambda *a, **k: Counting(real_open(*a, **k)))
    offset, dtype, shape, _ = dm.data_block(path)
    monkeypatch.undo()
    assert shape == (120, 1000, 1000) and dtype == np.float32
    assert sum(read) <= 2 * dm._WINDOW < path.stat().st_size / 50


# ---------------------------------------------------------------- bad input


def good_file(tmp_path, version=3):
    return write_dm(tmp_path / f"good.dm{version}", sample("int16", (4, 5)), version=version, tags={"A": {"B": 1.5}})


def expect_error(path, match=None):
    with pytest.raises(FormatError) as info:
        stonerimg.load(path)
    assert str(path) in str(info.value)
    reasons = dict(info.value.attempts)
    assert "dm" in reasons
    if match:
        assert re.search(match, reasons["dm"]), reasons["dm"]
    # not a DM file: declined; a damaged DM file: refused, so no slower reader is tried after it
    with pytest.raises((FormatMismatch, FormatError)):
        dm.load(path)
    return reasons["dm"]


@pytest.mark.parametrize("version", [3, 4])
def test_truncated_anywhere(tmp_path, version):
    raw = good_file(tmp_path, version).read_bytes()
    path = tmp_path / f"cut.dm{version}"
    end_of_pixels = raw.find(b"ImageTags", raw.find(b"ImageTags") + 1)  # the image's tags follow its pixels
    for cut in list(range(0, 200, 7)) + list(range(200, end_of_pixels, 53)):
        path.write_bytes(raw[:cut])
        if cut == 0:
            continue
        expect_error(path)


def _patch(raw: bytes, marker: bytes, delta: int, value: bytes) -> bytes:
    at = raw.index(marker) + delta
    return raw[:at] + value + raw[at + len(value) :]


def test_corrupted_size_fields(tmp_path):
    raw = good_file(tmp_path).read_bytes()
    path = tmp_path / "bad.dm3"
    cases = {
        # the root's tag count (after the 12-byte header and the two flags)
        "root tag count": (raw[:14] + struct.pack(">I", 0xFFFFFFF0) + raw[18:], "claims .* tags"),
        # the length of the Data array: the third type code (20, element type, length)
        "array length": (_patch(raw, b"Data%%%%", 20, struct.pack(">I", 0x7FFFFFFF)), "claims .* bytes"),
        "type-code count": (_patch(raw, b"DataType%%%%", 12, struct.pack(">I", 0xFFFFFF)), "type codes"),
        "unknown tag kind": (_patch(raw, b"\x00\x11ApplicationBounds", -1, b"\x63"), "unknown kind 99"),
        "unknown type code": (_patch(raw, b"DataType%%%%", 16, struct.pack(">I", 77)), "does not know"),
        "lost marker": (_patch(raw, b"DataType%%%%", 8, b"%%x%"), "marker"),
    }
    for name, (damaged, match) in cases.items():
        assert damaged != raw and len(damaged) == len(raw), name
        path.write_bytes(damaged)
        expect_error(path, match)


def test_dimensions_that_do_not_fit_the_data(tmp_path):
    raw = good_file(tmp_path).read_bytes()
    at = raw.index(b"Dimensions")
    first = raw.index(struct.pack("<I", 5), at)  # X = 5
    path = tmp_path / "dims.dm3"
    path.write_bytes(raw[:first] + struct.pack("<I", 50000) + raw[first + 4 :])
    expect_error(path, "need .* bytes but its Data tag holds 40")


def test_nesting_bomb(tmp_path):
    """Groups nested 10000 deep: an error, not a RecursionError or a crash."""
    depth = 10_000
    group = b"\x01\x00" + struct.pack(">I", 1) + b"\x14\x00\x01g"
    raw = struct.pack(">III", 3, 0, 1) + group * depth + b"\x01\x00" + struct.pack(">I", 0)
    path = tmp_path / "deep.dm3"
    path.write_bytes(raw)
    expect_error(path, "nested deeper")


def test_dm4_unknown_metadata_type_is_skipped_with_a_warning(tmp_path):
    data = sample("int16", (4, 5))
    raw = write_dm(tmp_path / "w.dm4", data, version=4, tags={"Odd": 1.5, "Next": 2.5}).read_bytes()
    # Odd is a double (one type code, 7): make it type 99, which no DM version writes
    at = raw.index(b"Odd") + 3 + 8 + 4 + 8
    assert struct.unpack(">Q", raw[at : at + 8])[0] == 7
    path = tmp_path / "odd.dm4"
    path.write_bytes(raw[:at] + struct.pack(">Q", 99) + raw[at + 8 :])
    with pytest.warns(UserWarning, match=r"ImageTags\.Odd: unknown type.*skipped"):
        document = stonerimg.load(path)
    assert_same_pixels(data, document.data)
    assert "ImageList.1.ImageTags.Odd" not in document.metadata
    assert document.metadata["ImageList.1.ImageTags.Next"] == 2.5
    with warnings.catch_warnings():  # the same damage in DM3, which records no sizes, stops the load
        warnings.simplefilter("error")
        raw3 = write_dm(tmp_path / "w.dm3", data, tags={"Odd": 1.5}).read_bytes()
        at = raw3.index(b"Odd") + 3 + 4 + 4
        path3 = tmp_path / "odd.dm3"
        path3.write_bytes(raw3[:at] + struct.pack(">I", 99) + raw3[at + 4 :])
        expect_error(path3, "does not know")


def test_not_dm_files(tmp_path):
    path = tmp_path / "notes.dm3"
    path.write_text("these are my notes, not a micrograph, but long enough\n")
    assert "not a dm signature" in expect_error(path)
    stonerimg.save(np.zeros((3, 3), np.uint8), tmp_path / "image.tif")
    (tmp_path / "image.tif").rename(tmp_path / "image.dm4")
    assert stonerimg.load(tmp_path / "image.dm4").format == "tiff"
    with pytest.raises(FormatError, match="directory"):
        dm.data_block(tmp_path)
    with pytest.raises(FileNotFoundError):
        dm.load_all(tmp_path / "missing.dm3")


def test_old_packed_complex_falls_back_to_rosettasciio(tmp_path):
    """DataType 5 (the FFT layout of old DigitalMicrograph versions) is declined; RosettaSciIO reads it."""
    raw = write_dm(tmp_path / "w.dm3", sample("float32", (4, 4))).read_bytes()
    at = raw.rindex(b"DataType%%%%") + 8 + 4 + 4 + 4  # after the marker, the count and the type code (3: long)
    assert struct.unpack("<i", raw[at : at + 4])[0] == 2
    path = tmp_path / "old-fft.dm3"
    path.write_bytes(raw[:at] + struct.pack("<i", 5) + raw[at + 4 :])
    with pytest.raises(FormatMismatch, match="DataType 5"):
        dm.load(path)
    document = stonerimg.load(path)
    assert document.format == "digitalmicrograph" and document.dtype == np.complex64
    assert_same_pixels(np.asarray(rsciio_read(path)["data"]), document.data)
