"""Layers saved through the plugin's writer load back with pixels, mask, metadata, calibration and history."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import tifffile
from numpy.testing import assert_allclose, assert_array_equal

import stonerimg


def _save(viewer, path, layers):
    import napari

    written = napari.save_layers(str(path), layers, plugin="stonerimg")
    assert written == [str(path)]
    return stonerimg.load(path)


@pytest.mark.parametrize("suffix", [".tif", ".npy", ".hdf5"])
def test_stxm_layer_round_trips(make_napari_viewer, stxm_dir, tmp_path, suffix):
    viewer = make_napari_viewer()
    (layer,) = viewer.open(str(stxm_dir / "Sample_Image_2017-10-15_100.hdf5"), plugin="stonerimg")
    layer.metadata["history"] = ["level_image(poly_vert=1, poly_horiz=1)"]
    loaded = _save(viewer, tmp_path / f"out{suffix}", [layer])
    assert_array_equal(loaded.data, np.asarray(layer.data))
    cal = loaded.image.calibration
    assert_allclose([cal.y.scale, cal.x.scale], layer.scale, rtol=1e-12)
    assert_allclose([cal.y.offset, cal.x.offset], layer.translate, rtol=1e-12)
    assert (cal.x.units, cal.y.units) == ("µm", "µm")
    assert loaded.metadata["history"] == ["level_image(poly_vert=1, poly_horiz=1)"]
    assert loaded.metadata["collection.Girder_Rx.name"] == layer.metadata["collection.Girder_Rx.name"]
    assert loaded.metadata["title"] == layer.name


def test_image_with_mask_and_moved_layer(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    data = np.random.default_rng(1).normal(size=(20, 30)).astype(np.float32)
    image = viewer.add_image(data, name="scan", scale=(0.5, 0.25), translate=(3.0, -2.0), units=("nm", "nm"))
    image.metadata["sample"] = "Py disc"
    mask = np.zeros(data.shape, np.uint8)
    mask[2:5, 10:20] = 1
    labels = viewer.add_labels(mask, name="scan mask")
    loaded = _save(viewer, tmp_path / "masked.tif", [image, labels])
    assert_array_equal(np.ma.getmaskarray(loaded.image), mask != 0)
    assert_array_equal(loaded.data, data)
    assert loaded.dtype == np.float32
    cal = loaded.image.calibration
    assert (cal.x.scale, cal.y.scale, cal.x.offset, cal.y.offset) == (0.25, 0.5, -2.0, 3.0)
    assert cal.x.units == "nm"
    assert loaded.metadata["sample"] == "Py disc"
    # the TIFF itself, read by tifffile: the pixels as they were
    assert_array_equal(tifffile.imread(tmp_path / "masked.tif"), data)


def test_hdf5_is_an_nxstxm_file(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    layer = viewer.add_image(np.arange(12.0).reshape(3, 4), name="tiny", scale=(-0.5, 0.5), translate=(10, 20))
    _save(viewer, tmp_path / "tiny.hdf5", [layer])
    with h5py.File(tmp_path / "tiny.hdf5", "r") as handle:
        assert handle["entry1/definition"][0] == b"NXstxm"
        assert_allclose(handle["entry1/counter0/sample_x"][()], [20, 20.5, 21, 21.5])
        assert_array_equal(handle["entry1/counter0/data"][()], np.arange(12.0).reshape(3, 4)[::-1])


def test_stack_layer_keeps_its_stack_axis(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    data = np.random.default_rng(2).random((3, 4, 5))
    layer = viewer.add_image(data, name="energies", scale=(0.5, 1, 1), translate=(700, 0, 0), axis_labels="eyx")
    layer.units = ("eV", "pixel", "pixel")
    loaded = _save(viewer, tmp_path / "stack.npy", [layer])
    assert_array_equal(loaded.data, data)
    assert loaded.metadata["calibration.z.scale"] == 0.5
    assert loaded.metadata["calibration.z.offset"] == 700
    assert loaded.metadata["calibration.z.units"] == "eV"
    assert loaded.metadata["calibration.x.units"] == "px"


def test_writer_refuses_what_it_cannot_save(tmp_path):
    from stonerimg.napari._writer import write_layers

    image = (np.zeros((2, 2)), {"name": "a"}, "image")
    with pytest.raises(ValueError, match="one Image layer"):
        write_layers(str(tmp_path / "two.tif"), [image, image])
    with pytest.raises(ValueError, match="points"):
        write_layers(str(tmp_path / "pts.tif"), [image, (np.zeros((1, 2)), {}, "points")])
    with pytest.raises(ValueError, match=r"saves \.tif"):
        write_layers(str(tmp_path / "x.png"), [image])
    with pytest.raises(ValueError, match="mask: the Labels layer has shape"):
        write_layers(str(tmp_path / "m.tif"), [image, (np.zeros((3, 3), np.uint8), {}, "labels")])
    assert list(tmp_path.iterdir()) == []
