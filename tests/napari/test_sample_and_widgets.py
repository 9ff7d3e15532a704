"""Sample data from the File > Open Sample menu, and each docked widget run on real and sample data."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import stonerimg
from stonerimg.demo import TRUE_DRIFT, synthetic_pair


def _widget(viewer, name):
    _, widget = viewer.window.add_plugin_dock_widget("stonerimg", name)
    return widget


def _click(widget, text):
    (button,) = [w for w in widget if getattr(w, "text", None) == text]
    button.native.click()


def test_xmcd_pair_sample_is_the_demo_pair(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample("stonerimg", "xmcd_pair")
    plus, minus = synthetic_pair()
    assert [layer.metadata["polarization"] for layer in viewer.layers] == [1.0, -1.0]
    assert_array_equal(viewer.layers[0].data, plus.data)
    assert_array_equal(viewer.layers[1].data, minus.data)
    assert_allclose(viewer.layers[0].scale, [0.05, 0.05])
    assert tuple(f"{u:~C}" for u in viewer.layers[0].units) == ("µm", "µm")


def test_kerr_sample_is_a_16_bit_calibrated_domain_image(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample("stonerimg", "kerr_domains")
    (layer,) = viewer.layers
    assert layer.data.dtype == np.uint16
    assert layer.name == "synthetic Kerr domains"
    assert_allclose(layer.scale, [0.258186, 0.258186])
    # two kinds of domain: the levelled intensity is bimodal with about 4 % contrast
    levelled = stonerimg.ImageArray(layer.data.astype(float)).level_image(poly_vert=2, poly_horiz=2, mode=None)
    values = np.asarray(levelled).ravel()
    low, high = np.percentile(values, [10, 90])
    assert 0.04 * 30000 < high - low < 0.12 * 30000


def test_xmcd_widget_gives_the_ratio_and_history(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample("stonerimg", "xmcd_pair")
    widget = _widget(viewer, "XMCD map")
    _click(widget, "XMCD map")
    assert len(viewer.layers) == 3
    result = viewer.layers[-1]
    p, m = (viewer.layers[i].data.astype(float) for i in (0, 1))
    assert_allclose(result.data, (p - m) / (p + m), rtol=1e-12)
    assert result.metadata["history"][-1] == "xmcd(plus // minus)"
    assert result.name == "XMCD synthetic STXM, polarization +1 // synthetic STXM, polarization -1"


def test_drift_widget_finds_the_demo_drift(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample("stonerimg", "xmcd_pair")
    widget = _widget(viewer, "Drift correction")
    image, reference, method = widget[0], widget[1], widget[2]
    image.value = viewer.layers[1]
    reference.value = viewer.layers[0]
    method.value = "scharr"  # the magnetic contrast reverses with the polarization: register on edges
    _click(widget, "Correct drift")
    result = viewer.layers[-1]
    assert result.name == "synthetic STXM, polarization -1 drift corrected"
    assert_allclose(result.metadata["correct_drift"], TRUE_DRIFT, atol=0.1)
    assert result.metadata["history"][-1].startswith("correct_drift(")


def test_drift_widget_on_a_stack_registers_every_frame(make_napari_viewer):
    from scipy import ndimage

    plus, _ = synthetic_pair(shape=(64, 80), drift=(0, 0))
    shifts = [(0.0, 0.0), (1.5, -0.5), (-2.0, 1.0)]
    frames = np.stack([ndimage.shift(plus.data, (dy, dx), order=3, mode="nearest") for dx, dy in shifts])
    viewer = make_napari_viewer()
    viewer.add_image(frames, name="drifting")
    widget = _widget(viewer, "Drift correction")
    widget[0].value = viewer.layers[0]
    _click(widget, "Correct drift")
    result = viewer.layers[-1]
    found = [record["correct_drift"] for record in result.metadata["frame_metadata"]]
    assert_allclose(found, shifts, atol=0.1)
    assert result.metadata["history"][-1].startswith("correct_drifts(")


def test_level_widget_matches_level_image(make_napari_viewer, stxm_dir):
    viewer = make_napari_viewer()
    (layer,) = viewer.open(str(stxm_dir / "Sample_Image_2017-10-15_100.hdf5"), plugin="stonerimg")
    widget = _widget(viewer, "Level image")
    widget[1].value = 2  # poly_vert
    _click(widget, "Level")
    result = viewer.layers[-1]
    expected = stonerimg.load(stxm_dir / "Sample_Image_2017-10-15_100.hdf5").image.level_image(poly_vert=2, mode=None)
    assert_allclose(result.data, expected.data, rtol=1e-12)
    assert np.ptp(result.data) > 1000  # counts stay counts: nothing clipped to [-1, 1]
    assert result.metadata["history"][-1] == "level_image(poly_vert=2, poly_horiz=1, mode=None)"
    assert_allclose(result.scale, layer.scale)
    assert_allclose(result.translate, layer.translate)


def test_fft_widget_plots_the_radial_profile(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample("stonerimg", "kerr_domains")
    widget = _widget(viewer, "FFT radial profile")
    _click(widget, "FFT and radial profile")
    spectrum = viewer.layers[-1]
    image = stonerimg.ImageArray(viewer.layers[0].data).set_calibration(0.258186, units="µm")
    expected = image.fft(remove_dc=True, window="hann")
    assert_allclose(spectrum.data, expected.data, rtol=1e-9)
    assert spectrum.metadata["history"][-1].startswith("fft(")
    profile = expected.radial_profile(centre="origin")
    (line,) = widget.axes.get_lines()
    x, y = line.get_data()
    assert_allclose(x, profile.r)
    assert_allclose(y, profile.mean, rtol=1e-9)
    assert "1/µm" in widget.axes.get_xlabel()
    assert widget.native.isAncestorOf(widget.canvas)  # the plot is in the docked widget


@pytest.mark.parametrize("name", ["Drift correction", "XMCD map", "Level image", "FFT radial profile"])
def test_widget_choices_follow_the_layers(make_napari_viewer, name):
    viewer = make_napari_viewer()
    widget = _widget(viewer, name)
    assert widget[0].choices in ((), (None,))
    viewer.open_sample("stonerimg", "xmcd_pair")
    assert [c.name for c in widget[0].choices if c is not None] == [layer.name for layer in viewer.layers]
