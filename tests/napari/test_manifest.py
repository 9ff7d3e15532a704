"""The manifest: valid for npe2, found through the entry point, and its reader covers every registered format."""

from __future__ import annotations

import functools
import importlib.metadata
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import stonerimg
from stonerimg import formats
from stonerimg.napari import _reader, _writer
from tests.test_plugin_example import plugin, plugin_installed  # noqa: F401 - fixtures

MANIFEST = Path(stonerimg.__file__).parent / "napari" / "napari.yaml"


def test_npe2_validate_passes():
    npe2_cli = Path(sys.executable).with_name("npe2")
    command = [str(npe2_cli)] if npe2_cli.exists() else [sys.executable, "-m", "npe2"]
    out = subprocess.run([*command, "validate", "stonerimg"], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "valid" in out.stdout


def test_entry_point_names_the_shipped_manifest():
    import npe2

    (entry,) = [e for e in importlib.metadata.entry_points(group="napari.manifest") if e.name == "stonerimg"]
    assert entry.value == "stonerimg.napari:napari.yaml"
    manifest = npe2.PluginManifest.from_file(MANIFEST)
    assert manifest.name == "stonerimg"
    found = npe2.PluginManifest.from_distribution("stonerimg")
    assert found.contributions == manifest.contributions


@functools.cache
def _plugin_manager():
    import npe2

    pm = npe2.PluginManager.instance()
    pm.discover()
    return pm


def _stonerimg_reads(path: str) -> bool:
    return any(r.plugin_name == "stonerimg" for r in _plugin_manager().iter_compatible_readers([path]))


def test_every_registered_extension_is_claimed():
    extensions = {ext for fmt in formats.available() for ext in fmt["extensions"]}
    assert {".hdf5", ".png", ".dm3", ".xim", ".tif", ".npy"} <= extensions
    assert [ext for ext in sorted(extensions) if not _stonerimg_reads(f"/data/scan{ext}")] == []
    assert [ext for ext in sorted(extensions) if not _stonerimg_reads(f"/data/SCAN{ext.upper()}")] == []


def test_a_format_plugins_extension_is_claimed_and_read(plugin, tmp_path):  # noqa: F811 - the fixture
    assert ".csv" in formats.get("csvimage").extensions
    assert _stonerimg_reads(str(tmp_path / "scan.csv"))
    image = stonerimg.ImageArray(np.arange(12.0).reshape(3, 4), metadata={"title": "from a plugin"})
    image.set_calibration(0.5, units="nm")
    path = stonerimg.save(image, tmp_path / "scan.csv")
    reader = _reader.get_reader(str(path))
    assert reader is not None
    ((data, kwargs, kind),) = reader(str(path))
    assert kind == "image"
    np.testing.assert_array_equal(data, image.data)
    assert kwargs["name"] == "from a plugin"
    assert kwargs["scale"] == (0.5, 0.5)
    assert kwargs["units"] == ("nm", "nm")


def test_a_csv_file_that_no_format_reads_is_declined(plugin, tmp_path):  # noqa: F811 - the fixture
    table = tmp_path / "points.csv"
    table.write_text("index,axis-0,axis-1\n0,1.0,2.0\n")
    assert _reader.get_reader(str(table)) is None  # napari's own CSV reader is left to open it


@pytest.mark.parametrize("name", ["notes.txt", "data.hdf5", "empty.tif"])
def test_files_without_a_candidate_format_are_declined(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"" if name.startswith("empty") else b"plain text, no image here\n")
    assert _reader.get_reader(str(path)) is None


def test_folders_and_missing_files_are_declined(tmp_path):
    assert _reader.get_reader(str(tmp_path)) is None
    assert _reader.get_reader(str(tmp_path / "missing.tif")) is None
    assert _reader.get_reader(42) is None


def test_every_writer_extension_saves_through_the_registry():
    import npe2

    manifest = npe2.PluginManifest.from_file(MANIFEST)
    (writer,) = manifest.contributions.writers
    assert tuple(writer.filename_extensions) == _writer.WRITER_EXTENSIONS
    savers = {ext for fmt in formats.available() if fmt["saves"] for ext in fmt["extensions"]}
    assert set(_writer.WRITER_EXTENSIONS) <= savers
