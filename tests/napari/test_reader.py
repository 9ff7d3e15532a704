"""Files opened in a real napari viewer through the plugin: calibration, units, names, metadata, contrast, masks."""

from __future__ import annotations

import glob
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile
from numpy.testing import assert_allclose, assert_array_equal

import stonerimg
from stonerimg.formats.stxm import STXMImage
from stonerimg.napari._reader import camera, scale_bar

SAMPLES = [
    "stxm/Sample_Image_2017-10-15_100.hdf5",
    "stxm/Pollux-STXM Image.hdf5",
    "kerr/kermit.png",
    "kerr/im2_noannotations.png",
    "dm/test_STEM_image.dm3",
    "dm/test_diffraction_pattern.dm3",
    "dm/test-2D-1.dm3",
    "dm/EELS_SI.dm4",
    "tiff/test_loading_image_saved_with_imageJ.tif",
    "maximus/MPI_210127021/MPI_210127021.hdr",
    "maximus/MPI_210127021/MPI_210127021_a000.xim",
]


def _open(viewer, path):
    layers = viewer.open(str(path), plugin="stonerimg")
    assert layers, f"nothing opened from {path}"
    return layers


def _units(layer) -> tuple[str, ...]:
    return tuple(f"{u:~C}" for u in layer.units)


@pytest.mark.parametrize("name", SAMPLES)
def test_each_sample_opens_calibrated(make_napari_viewer, sample_data, name):
    path = sample_data / name
    if not path.exists():
        pytest.skip(f"{name} is not in {sample_data}")
    viewer = make_napari_viewer()
    (layer,) = _open(viewer, path)
    loaded = stonerimg.load(path)
    image = loaded.image
    cal = image.calibration
    assert layer.data.shape == image.shape
    assert_array_equal(np.asarray(layer.data[(0,) * (layer.ndim - 2)]), np.asarray(image.data[(0,) * (image.ndim - 2)]))
    assert_allclose(layer.scale[-2:], [cal.y.scale, cal.x.scale], rtol=1e-12)
    assert_allclose(layer.translate[-2:], [cal.y.offset, cal.x.offset], rtol=1e-12)
    expected = tuple("pixel" if u == "px" else u for u in (cal.y.units, cal.x.units))
    assert _units(layer)[-2:] == expected
    assert layer.axis_labels[-2:] == ("y", "x")
    # the whole metadata, every key and value
    assert set(layer.metadata) - {"frame_metadata"} == set(loaded.metadata)
    assert layer.metadata.get("title") == loaded.metadata.get("title")
    assert layer.name.startswith(loaded.metadata.get("title") or Path(name).stem)
    # robust contrast: the 0.5 and 99.5 percentiles of the first frame
    first = np.asarray(image.data[(0,) * (image.ndim - 2)], dtype=float)
    assert_allclose(layer.contrast_limits, np.percentile(first[np.isfinite(first)], [0.5, 99.5]), rtol=1e-9)


def test_stxm_calibration_is_the_stage_positions_in_the_file(make_napari_viewer, stxm_dir):
    path = stxm_dir / "Sample_Image_2017-10-15_100.hdf5"
    with h5py.File(path, "r") as handle:
        sample_x = np.asarray(handle["entry1/counter0/sample_x"][()], dtype=float)
        sample_y = np.asarray(handle["entry1/counter0/sample_y"][()], dtype=float)
        counts = np.asarray(handle["entry1/counter0/data"][()])
    viewer = make_napari_viewer()
    (layer,) = _open(viewer, path)
    assert _units(layer) == ("µm", "µm")
    # y up: row 0 of the layer is the highest sample_y, and world y is the stage y
    assert_allclose(layer.translate, [sample_y.max(), sample_x[0]], rtol=1e-12)
    assert_allclose(layer.scale, [-(sample_y[1] - sample_y[0]), sample_x[1] - sample_x[0]], rtol=1e-6)
    assert_array_equal(layer.data, counts[::-1])
    # the pixel at row r, column c sits at the stage position of that scan point
    world = layer.data_to_world((10, 20))
    assert_allclose(world, [sample_y[::-1][10], sample_x[20]], rtol=1e-9)
    assert tuple(camera(viewer).orientation2d) == ("up", "right")
    assert scale_bar(viewer).visible


def test_imagej_tiff_pixel_size_is_the_resolution_tag(make_napari_viewer, sample_data):
    path = sample_data / "tiff" / "test_loading_image_saved_with_imageJ.tif"
    with tifffile.TiffFile(path) as tif:
        numerator, denominator = tif.pages[0].tags["XResolution"].value
    viewer = make_napari_viewer()
    (layer,) = _open(viewer, path)
    assert_allclose(layer.scale, [denominator / numerator] * 2, rtol=1e-6)
    assert _units(layer) == ("µm", "µm")
    assert tuple(camera(viewer).orientation2d) == ("down", "right")


def test_dm_stack_axis_is_the_energy_loss(make_napari_viewer, dm_dir):
    viewer = make_napari_viewer()
    (layer,) = _open(viewer, dm_dir / "EELS_SI.dm4")
    loaded = stonerimg.load(dm_dir / "EELS_SI.dm4")
    assert layer.axis_labels == ("energy", "y", "x")
    assert _units(layer)[0] == "eV"
    assert layer.scale[0] == loaded.metadata["calibration.z.scale"]
    assert layer.translate[0] == loaded.metadata["calibration.z.offset"]


def _add(viewer, layers):
    for data, kwargs, kind in layers:
        viewer._add_layer_from_data(data, kwargs, kind)
    return viewer.layers


def test_evenly_spaced_energies_name_and_scale_the_stack_axis(make_napari_viewer):
    from stonerimg.napari._layers import layers_from

    energies = [700.0, 700.5, 701.0, 701.5]
    stack = stonerimg.ImageStack(
        np.zeros((4, 5, 6)), metadata={"energy.units": "eV"}, frame_metadata=[{"energy": e} for e in energies]
    )
    (layer,) = _add(make_napari_viewer(), layers_from(stack))
    assert layer.axis_labels == ("energy", "y", "x")
    assert _units(layer)[0] == "eV"
    assert (layer.scale[0], layer.translate[0]) == (0.5, 700.0)


def test_measured_kerr_fields_keep_the_frame_axis(make_napari_viewer, kerr_dir):
    from stonerimg.napari._layers import layers_from

    files = sorted(glob.glob(str(kerr_dir / "fields" / "*.png")))[:4]
    stack = stonerimg.ImageStack([stonerimg.load(f) for f in files])
    assert np.ptp(np.diff(stack.fields)) > 0.01  # the measured fields are not evenly spaced
    (layer,) = _add(make_napari_viewer(), layers_from(stack))
    assert layer.axis_labels == ("frame", "y", "x")
    assert (layer.scale[0], layer.translate[0]) == (1.0, 0.0)
    assert [m["field"] for m in layer.metadata["frame_metadata"]] == list(stack.fields)


def test_mask_opens_as_a_labels_layer(make_napari_viewer, tmp_path):
    mask = np.zeros((30, 40), bool)
    mask[5:9, 10:30] = True
    image = stonerimg.ImageArray(np.random.default_rng(0).random((30, 40)), mask=mask, metadata={"title": "masked"})
    image.set_calibration(0.1, units="µm")
    path = image.save(tmp_path / "masked.tif").filename or tmp_path / "masked.tif"
    viewer = make_napari_viewer()
    layers = _open(viewer, tmp_path / "masked.tif")
    assert [type(la).__name__ for la in layers] == ["Image", "Labels"]
    image_layer, labels = layers
    assert_array_equal(labels.data != 0, mask)
    assert labels.name == "masked mask"
    assert_allclose(labels.scale, image_layer.scale)
    assert_allclose(labels.translate, image_layer.translate)
    # contrast limits ignore the masked pixels
    assert_allclose(image_layer.contrast_limits, np.percentile(image.data[~mask], [0.5, 99.5]))
    del path


def test_xmcd_pair_opened_together_gives_the_xmcd_map(make_napari_viewer, tmp_path):
    from stonerimg.demo import synthetic_pair

    plus, minus = synthetic_pair(shape=(40, 50), drift=(0.0, 0.0))
    paths = []
    for name, im in (("plus.hdf5", plus), ("minus.hdf5", minus)):
        STXMImage(im).save(tmp_path / name)
        paths.append(str(tmp_path / name))
    viewer = make_napari_viewer()
    layers = viewer.open(paths, plugin="stonerimg", stack=True)
    assert len(layers) == 3
    ratio = layers[-1]
    p, m = plus.data.astype(float), minus.data.astype(float)
    assert_allclose(ratio.data, (p - m) / (p + m), rtol=1e-12)
    assert ratio.name.startswith("XMCD")
    assert "xmcd(plus // minus)" in ratio.metadata["history"]


def test_xmcd_partner_opened_later_is_offered(make_napari_viewer, tmp_path):
    from napari.utils.notifications import notification_manager

    from stonerimg.demo import synthetic_pair

    plus, minus = synthetic_pair(shape=(40, 50), drift=(0.0, 0.0))
    for name, im in (("plus.hdf5", plus), ("minus.hdf5", minus)):
        STXMImage(im).save(tmp_path / name)
    viewer = make_napari_viewer()
    seen = []
    notification_manager.notification_ready.connect(seen.append)
    try:
        _open(viewer, tmp_path / "plus.hdf5")
        assert seen == []
        _open(viewer, tmp_path / "minus.hdf5")
    finally:
        notification_manager.notification_ready.disconnect(seen.append)
    offers = [n for n in seen if "XMCD pair" in n.message]
    assert len(offers) == 1
    ((label, action),) = offers[0].actions
    assert label == "Show XMCD map"
    action()
    p, m = plus.data.astype(float), minus.data.astype(float)
    assert len(viewer.layers) == 3
    assert_allclose(viewer.layers[-1].data, (p - m) / (p + m), rtol=1e-12)
