"""RosettaSciIO adapter: real DigitalMicrograph files, files written by RosettaSciIO, bad input.

Every expected value comes from RosettaSciIO (or NumPy) called directly on the same file.
DM files are read natively first (format ``dm``); here ``fmt="digitalmicrograph"`` picks the adapter.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys

import numpy as np
import pytest

import stonerimg
from stonerimg import FormatError, ImageFile, Metadata
from stonerimg.errors import FormatMismatch
from stonerimg.formats import RSCIIO_FORMATS
from stonerimg.formats import rsciio as adapter

from .helpers import assert_same_pixels, assert_same_value, sha256

rsciio = pytest.importorskip("rsciio")

TEST_2D = {1: "int16", 2: "float32", 6: "uint8", 7: "int32", 10: "uint16"}


def read_directly(path, index=0):
    """What RosettaSciIO's DigitalMicrograph reader itself gives for ``path``."""
    from rsciio.digitalmicrograph import file_reader

    return file_reader(str(path))[index]


def leaves(tree, prefix):
    """Dotted paths of every leaf of a nested dict (an empty dict counts as a leaf)."""
    found = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            found.update(leaves(value, f"{prefix}.{key}"))
        else:
            found[f"{prefix}.{key}"] = value
    return found


# ---------------------------------------------------------------- the module


def test_import_does_not_import_rsciio_or_dask():
    code = (
        "import sys, stonerimg, stonerimg.formats.rsciio as m\n"
        "assert callable(m.load_digitalmicrograph)\n"
        "heavy = ('rsciio', 'dask', 'h5py')\n"
        "print(' '.join(k for k in sys.modules if k.split('.')[0] in heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


@pytest.mark.parametrize("name", sorted(RSCIIO_FORMATS))
def test_every_table_entry_has_a_loader_and_an_installed_reader(name):
    loader = getattr(adapter, f"load_{name}")
    assert loader.__name__ == f"load_{name}"
    assert f"load_{name}" in adapter.__all__
    fmt = stonerimg.formats.get(name)
    assert fmt.load == f"stonerimg.formats.rsciio:load_{name}"
    extensions, plugin = RSCIIO_FORMATS[name]
    assert plugin in loader.__doc__
    assert set(fmt.extensions) == set(extensions) and set(fmt.extensions.values()) == {40}
    assert plugin in [p["name"] for p in rsciio.IO_PLUGINS]


# ---------------------------------------------------------------- real DigitalMicrograph files


def test_stem_image(dm_dir):
    path = dm_dir / "test_STEM_image.dm3"
    before = sha256(path)
    doc = stonerimg.load(path, fmt="digitalmicrograph")
    direct = read_directly(path)
    assert type(doc) is ImageFile and doc.format == "digitalmicrograph"
    assert doc.shape == (68, 68) and doc.dtype == np.uint32
    assert_same_pixels(direct["data"], doc.data)
    cal = doc.calibration
    assert cal.x.scale == pytest.approx(0.24854, abs=1e-5) and cal.x.units == "nm"
    assert cal.y.scale == pytest.approx(0.24854, abs=1e-5) and cal.y.units == "nm"
    y_axis, x_axis = sorted(direct["axes"], key=lambda a: a["index_in_array"])
    assert (cal.x.scale, cal.x.offset) == (x_axis["scale"], x_axis["offset"])
    assert (cal.y.scale, cal.y.offset) == (y_axis["scale"], y_axis["offset"])
    assert sha256(path) == before


def test_diffraction_pattern(dm_dir):
    path = dm_dir / "test_diffraction_pattern.dm3"
    doc = stonerimg.load(path, fmt="digitalmicrograph")
    assert doc.shape == (87, 87) and doc.dtype == np.int32
    assert_same_pixels(read_directly(path)["data"], doc.data)
    assert doc.calibration.x.scale == pytest.approx(0.17443, abs=1e-5)
    assert doc.calibration.x.units == "1/nm" and doc.calibration.y.units == "1/nm"


@pytest.mark.parametrize("code", sorted(TEST_2D))
def test_data_types_and_orientation(dm_dir, code):
    path = dm_dir / f"test-2D-{code}.dm3"
    doc = stonerimg.load(path, fmt="digitalmicrograph")
    assert doc.dtype == np.dtype(TEST_2D[code])
    assert_same_pixels(np.array([[1, 2], [3, 4]], dtype=TEST_2D[code]), doc.data)
    assert_same_pixels(read_directly(path)["data"], doc.data)
    # uncalibrated axes (empty units) give a scale of 1 and no units, so the image reads as pixels
    assert "calibration.x.units" not in doc.metadata
    assert doc.calibration.x.units == "px" and doc.calibration.x.scale == 1.0


def test_spectrum_image_keeps_every_axis(dm_dir):
    path = dm_dir / "EELS_SI.dm4"
    doc = stonerimg.load(path, fmt="digitalmicrograph")
    direct = read_directly(path)
    assert doc.ndim == 3 and doc.dtype == np.float32
    assert doc.shape == direct["data"].shape
    assert_same_pixels(direct["data"], doc.data)
    md = doc.metadata
    for axis in direct["axes"]:
        i = axis["index_in_array"]
        assert md[f"axes.{i}.name"] == axis["name"]
        assert md[f"axes.{i}.size"] == axis["size"] == doc.shape[i]
        assert md[f"axes.{i}.scale"] == axis["scale"]
        assert md[f"axes.{i}.offset"] == axis["offset"]
        assert md[f"axes.{i}.units"] == axis["units"]
        assert md[f"axes.{i}.navigate"] is axis["navigate"]
    assert md["axes.0.name"] == "Energy loss" and md["axes.0.units"] == "eV"
    # the last two array axes are the image plane
    assert md["calibration.y.scale"] == md["axes.1.scale"] and md["calibration.x.units"] == md["axes.2.units"]
    assert md["rsciio.Signal.signal_type"] == "EELS"


def test_metadata_keeps_every_original_item_and_rsciio_metadata(dm_dir):
    path = dm_dir / "test_STEM_image.dm3"
    doc = stonerimg.load(path, fmt="digitalmicrograph")
    direct = read_directly(path)
    original = leaves(direct["original_metadata"], "original")
    assert {k for k in doc.metadata if k.startswith("original.")} == set(original)
    key = "original.ImageList.TagGroup0.ImageData.Calibrations.Dimension.TagGroup0.Scale"
    assert doc.metadata[key] == original[key]
    assert doc.metadata["original.ImageList.TagGroup0.ImageData.Calibrations.Dimension.TagGroup0.Units"] == "nm"
    for key, value in leaves(direct["metadata"], "rsciio").items():
        assert doc.metadata[key] == value
    # the reader's mapping fills RosettaSciIO's normalised keys, as HyperSpy would
    voltage = original["original.ImageList.TagGroup0.ImageTags.Microscope Info.Voltage"]
    assert doc.metadata["rsciio.Acquisition_instrument.TEM.beam_energy"] == voltage / 1e3
    assert doc.metadata["rsciio.reader"] == "DigitalMicrograph"
    assert doc.metadata["rsciio.signals"] == len(rsciio.digitalmicrograph.file_reader(str(path)))
    assert doc.title == direct["metadata"]["General"]["title"]


@pytest.mark.parametrize(
    "name", ["test_STEM_image.dm3", "test_diffraction_pattern.dm3", "EELS_SI.dm4", "test-2D-2.dm3"]
)
def test_metadata_round_trips_through_tiff(dm_dir, tmp_path, name):
    doc = stonerimg.load(dm_dir / name, fmt="digitalmicrograph")
    doc.save(tmp_path / "copy.tif")
    again = stonerimg.load(tmp_path / "copy.tif")
    assert again.format == "tiff"
    assert_same_pixels(doc.data, again.data)
    assert_same_value(dict(doc.metadata), dict(again.metadata), "metadata")
    assert Metadata.from_json(doc.metadata.to_json()) == doc.metadata


def test_fmt_chooses_the_format_whatever_the_extension(dm_dir, tmp_path):
    copy = tmp_path / "stem.bin"
    shutil.copyfile(dm_dir / "test_STEM_image.dm3", copy)
    assert stonerimg.load(copy).format == "dm"  # the native reader knows it by its first bytes
    doc = stonerimg.load(copy, fmt="digitalmicrograph")
    assert doc.format == "digitalmicrograph" and doc.shape == (68, 68)
    assert_same_pixels(read_directly(dm_dir / "test_STEM_image.dm3")["data"], doc.data)


def test_index_and_reader_options(dm_dir):
    path = dm_dir / "test_STEM_image.dm3"
    assert_same_pixels(
        stonerimg.load(path, fmt="digitalmicrograph", index=0).data,
        stonerimg.load(path, fmt="digitalmicrograph", index=-1).data,
    )
    assert_same_pixels(read_directly(path)["data"], stonerimg.load(path, fmt="digitalmicrograph", order="C").data)
    with pytest.raises(FormatError, match="index: the file holds 1 signal"):
        stonerimg.load(path, fmt="digitalmicrograph", index=1)
    with pytest.raises(TypeError, match="unknown option 'colour' for format 'digitalmicrograph'; it accepts index, "):
        stonerimg.load(path, fmt="digitalmicrograph", colour="red")
    with pytest.raises(TypeError, match="did you mean 'ordr' -> 'order'"):
        stonerimg.load(path, fmt="digitalmicrograph", ordr="C")
    with pytest.raises(FormatError, match="lazy: not supported"):
        stonerimg.load(path, fmt="digitalmicrograph", lazy=True)
    with pytest.raises(TypeError, match="index: must be an integer"):
        adapter.load_digitalmicrograph(path, index="0")


# ---------------------------------------------------------------- bad input


def _assert_format_error(path, formats=("digitalmicrograph",)):
    with pytest.raises(FormatError) as caught:
        stonerimg.load(path, fmt="digitalmicrograph")
    assert caught.value.filename == str(path)
    assert str(path) in str(caught.value)
    assert [name for name, _ in caught.value.attempts if name in formats] == list(formats)
    return caught.value


def test_text_file_named_dm3(tmp_path):
    path = tmp_path / "notes.dm3"
    path.write_text("these are my notes, not a micrograph\n")
    error = _assert_format_error(path)
    assert "DigitalMicrograph reader cannot read it" in str(error)
    with pytest.raises(FormatMismatch, match="DigitalMicrograph"):
        adapter.load_digitalmicrograph(path)


def test_empty_dm3(tmp_path):
    path = tmp_path / "empty.dm3"
    path.write_bytes(b"")
    with pytest.raises(FormatError, match="empty") as caught:
        stonerimg.load(path, fmt="digitalmicrograph")
    assert caught.value.filename == str(path)
    with pytest.raises(FormatMismatch):
        adapter.load_digitalmicrograph(path)


@pytest.mark.parametrize("fraction", [0.0001, 0.001, 0.01, 0.1, 0.3, 0.5, 0.9, 0.999])
def test_truncated_dm3(dm_dir, tmp_path, fraction):
    data = (dm_dir / "test_STEM_image.dm3").read_bytes()
    path = tmp_path / "cut.dm3"
    path.write_bytes(data[: max(1, int(len(data) * fraction))])
    _assert_format_error(path)
    with pytest.raises(FormatMismatch):
        adapter.load_digitalmicrograph(path)


def test_missing_rosettasciio_names_the_extra(dm_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "rsciio", None)  # makes ``import rsciio`` fail
    with pytest.raises(ImportError, match=r"pip install stonerimg\[em\]"):
        adapter.load_digitalmicrograph(dm_dir / "test_STEM_image.dm3")
    with pytest.raises(FormatError, match=r"pip install stonerimg\[em\]"):
        stonerimg.load(dm_dir / "test_STEM_image.dm3", fmt="digitalmicrograph")


# ---------------------------------------------------------------- files written by RosettaSciIO


def _signal(data, axes, title="tiny"):
    return {
        "data": data,
        "axes": axes,
        "metadata": {"General": {"title": title}, "Signal": {"signal_type": ""}},
        "original_metadata": {},
        "attributes": {"_lazy": False},
    }


def _axis(name, size, scale, offset, units, index, navigate=False):
    return {
        "name": name,
        "size": size,
        "scale": scale,
        "offset": offset,
        "units": units,
        "navigate": navigate,
        "index_in_array": index,
    }


IMAGE_AXES = [_axis("y", 12, 0.5, 1.0, "nm", 0), _axis("x", 10, 0.25, -2.0, "nm", 1)]


def test_emd_written_by_rosettasciio(tmp_path):
    from rsciio.emd import file_reader, file_writer

    data = np.arange(120, dtype=np.float32).reshape(12, 10)
    path = tmp_path / "tiny.emd"
    file_writer(str(path), _signal(data, IMAGE_AXES))
    before = (sha256(path), path.stat().st_mtime_ns)
    doc = stonerimg.load(path)
    assert (sha256(path), path.stat().st_mtime_ns) == before  # HDF5 opened read-only
    assert doc.format == "emd"
    assert_same_pixels(file_reader(str(path))[0]["data"], doc.data)
    assert_same_pixels(data, doc.data)
    assert doc.calibration.x == (0.25, -2.0, "nm") and doc.calibration.y == (0.5, 1.0, "nm")


def test_semper_image_and_spectrum(tmp_path):
    from rsciio.semper import file_writer

    data = np.arange(120, dtype=np.float32).reshape(12, 10)
    file_writer(str(tmp_path / "image.unf"), _signal(data, IMAGE_AXES))
    doc = stonerimg.load(tmp_path / "image.unf")
    assert doc.format == "semper"
    assert_same_pixels(data, doc.data)
    assert doc.calibration.x == (0.25, -2.0, "nm")

    spectrum = np.linspace(0, 1, 5, dtype=np.float32)
    file_writer(str(tmp_path / "spectrum.unf"), _signal(spectrum, [_axis("Energy", 5, 2.0, 100.0, "eV", 0)]))
    with pytest.raises(FormatError, match="holds no image"):
        stonerimg.load(tmp_path / "spectrum.unf")
    row = stonerimg.load(tmp_path / "spectrum.unf", index=0)
    assert row.shape == (1, 5)
    assert_same_pixels(spectrum[None], row.data)
    assert row.calibration.x == (2.0, 100.0, "eV")
    assert row.metadata["axes.1.size"] == 5 and "axes.0.size" not in row.metadata


def test_blockfile_keeps_four_dimensions(tmp_path):
    from rsciio.blockfile import file_reader, file_writer

    data = (np.arange(2 * 3 * 8 * 8) % 251).astype(np.uint8).reshape(2, 3, 8, 8)
    axes = [
        _axis("y", 2, 1.5, 0.0, "nm", 0, navigate=True),
        _axis("x", 3, 1.5, 0.0, "nm", 1, navigate=True),
        _axis("ky", 8, 0.1, 0.0, "cm", 2),
        _axis("kx", 8, 0.1, 0.0, "cm", 3),
    ]
    path = tmp_path / "scan.blo"
    file_writer(str(path), _signal(data, axes))
    doc = stonerimg.load(path)
    direct = file_reader(str(path))[0]
    assert doc.format == "blockfile" and doc.shape == (2, 3, 8, 8)
    assert_same_pixels(direct["data"], doc.data)
    assert [doc.metadata[f"axes.{i}.navigate"] for i in range(4)] == [a["navigate"] for a in direct["axes"]]
    assert doc.calibration.x == (direct["axes"][3]["scale"], direct["axes"][3]["offset"], "cm")


# ---------------------------------------------------------------- what a reader may hand back


@pytest.fixture
def fake_reader(monkeypatch):
    """Make the DigitalMicrograph loader use a stand-in reader returning the given signals."""
    returned = []

    def reader(filename, lazy=False):
        if isinstance(returned[0], Exception):
            raise returned[0]
        return returned[0]

    monkeypatch.setattr(adapter, "_file_reader", lambda plugin: (reader, "test"))
    return returned


def test_odd_metadata_values_become_codec_safe(tmp_path, fake_reader):
    path = tmp_path / "fake.dm3"
    path.write_bytes(b"DM")
    record = np.zeros((), dtype=[("a", "<i4"), ("b", "S4")])
    record["a"], record["b"] = 7, b"ok"
    original = {
        "text": b"name\x00\x00",
        "binary": b"\xff\xfe\x00",
        "numpy text": np.str_("x"),
        "record": record,
        "records": np.zeros(2, dtype=[("v", "<f4")]),
        "strings": np.array(["a", "b"]),
        "objects": np.array([1, "two"], dtype=object),
        "when": dt.time(12, 30),
        "day": dt.date(2020, 1, 2),
        "scalar": np.float32(1.5),
        "mixed": [1, b"b", (np.int16(3), None)],
        "set": {3},
        "thing": object(),
        "empty": {},
    }
    fake_reader.append([{"data": np.ones(3), "axes": []}, {"data": np.ones((2, 3)), "original_metadata": original}])
    doc = adapter.load_digitalmicrograph(path)
    md = doc.metadata
    assert doc.shape == (2, 3) and md["rsciio.signal_index"] == 1 and md["rsciio.signals"] == 2
    assert md["original.text"] == "name" and md["original.binary"] == b"\xff\xfe\x00"
    assert md["original.numpy text"] == "x" and type(md["original.numpy text"]) is str
    assert md["original.record"] == {"a": np.int32(7), "b": "ok"}
    assert md["original.strings"] == ["a", "b"] and md["original.objects"] == [1, "two"]
    assert md["original.when"] == "12:30:00" and md["original.day"] == dt.date(2020, 1, 2)
    assert_same_value(np.float32(1.5), md["original.scalar"])
    assert_same_value([1, "b", (np.int16(3), None)], md["original.mixed"])
    assert md["original.set"] == [3] and md["original.thing"].startswith("<object")
    assert md["original.empty"] == {}
    assert Metadata.from_json(md.to_json()) == md


def test_non_uniform_axis_and_colour_and_mapped_data(tmp_path, fake_reader):
    path = tmp_path / "fake.dm3"
    path.write_bytes(b"DM")
    mapped = tmp_path / "pixels.raw"
    rgba = np.zeros((2, 3), dtype=[("R", "u1"), ("G", "u1"), ("B", "u1"), ("A", "u1")])
    rgba["G"] = 9
    rgba.tofile(mapped)
    pixels = np.memmap(mapped, dtype=rgba.dtype, mode="r", shape=(2, 3))
    energies = np.array([1.0, 2.0, 4.0])
    axes = [
        {"name": "y", "size": 2, "scale": 0.5, "offset": 0.0, "units": "<undefined>", "navigate": False},
        {"name": "Energy", "size": 3, "axis": energies, "units": "eV", "navigate": False},
    ]
    fake_reader.append([{"data": pixels, "axes": axes, "metadata": {}, "original_metadata": {}}])
    doc = adapter.load_digitalmicrograph(path)
    assert doc.shape == (2, 3, 4) and doc.dtype == np.uint8
    assert_same_pixels(np.stack([rgba[c] for c in "RGBA"], axis=-1), doc.data)
    assert (doc.data[..., 1] == 9).all() and (doc.data[..., 0] == 0).all()
    assert not np.shares_memory(doc.data, pixels) and doc.data.flags.writeable
    md = doc.metadata
    assert_same_value(energies, md["axes.Energy"])
    assert "calibration.x.scale" not in md and md["calibration.y.scale"] == 0.5
    assert "calibration.y.units" not in md and "axes.0.units" not in md
    assert md["axes.2.name"] == "channel" and md["axes.2.size"] == 4


def test_any_reader_error_declines(tmp_path, fake_reader):
    path = tmp_path / "fake.dm3"
    path.write_bytes(b"DM")
    fake_reader.append(RuntimeError("boom"))
    with pytest.raises(FormatMismatch, match="RuntimeError: boom"):
        adapter.load_digitalmicrograph(path)
    fake_reader[0] = []
    with pytest.raises(FormatMismatch, match="found no data"):
        adapter.load_digitalmicrograph(path)
    fake_reader[0] = [{"data": np.array(["a", "b"]).reshape(1, 2)}]
    with pytest.raises(FormatMismatch, match="not numeric"):
        adapter.load_digitalmicrograph(path)


def test_functional_axis_gives_no_calibration(tmp_path, fake_reader):
    path = tmp_path / "fake.dm3"
    path.write_bytes(b"DM")
    axes = [
        {"name": "y", "size": 2, "scale": 0.5, "offset": 1.0, "units": "nm", "navigate": False},
        {"name": "x", "size": 3, "expression": "a / (x + 1)", "a": 2.0, "units": "nm", "navigate": False},
    ]
    fake_reader.append([{"data": np.zeros((2, 3), np.int8), "axes": axes}])
    md = adapter.load_digitalmicrograph(path).metadata
    assert md["axes.1.expression"] == "a / (x + 1)"
    assert "calibration.x.scale" not in md and "axes.1.scale" not in md
    assert (md["calibration.y.scale"], md["calibration.y.offset"], md["calibration.y.units"]) == (0.5, 1.0, "nm")
