"""image.show(), stack.show(), folder.show(): the widget viewer, driven through its widgets on Agg."""

import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.backend_bases import MouseEvent  # noqa: E402

import stonerimg  # noqa: E402
from stonerimg import ImageArray, ImageFolder, ImageStack  # noqa: E402

pytest.importorskip("ipywidgets", reason="the viewer needs the notebook extra")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def stxm(stxm_dir):
    return stonerimg.load(stxm_dir / "Sample_Image_2017-10-15_100.hdf5")


def test_image_viewer_shows_calibrated_pixels_with_percentile_contrast(stxm):
    viewer = stxm.show()
    data = np.asarray(stxm.data, dtype=float)
    np.testing.assert_array_equal(viewer.artist.get_array(), data)
    assert viewer.artist.get_extent() == list(stxm.image.extent)
    np.testing.assert_allclose(viewer.artist.get_clim(), np.percentile(data, (0.5, 99.5)))
    assert viewer.slider is None and viewer.ax.get_xlabel() == "x (µm)"
    viewer.contrast.value = "absolute"
    viewer.limits.value = (20000.0, 30000.0)
    assert viewer.artist.get_clim() == (20000.0, 30000.0)
    viewer.cmap.value = "viridis"
    assert viewer.artist.get_cmap().name == "viridis"


def test_cursor_readout_is_in_physical_units(stxm):
    viewer = stxm.show()
    cal = stxm.image.calibration
    col, row = 37, 62
    x, y = cal.x.to_physical(col), cal.y.to_physical(row)
    canvas = viewer.figure.canvas
    canvas.draw()
    px, py = viewer.ax.transData.transform((x, y))
    canvas.callbacks.process("motion_notify_event", MouseEvent("motion_notify_event", canvas, px, py))
    text = viewer.readout.value
    assert f"x = {x:.6g} µm, y = {y:.6g} µm (pixel {col}, {row})" in text
    assert text.endswith(f"{stxm.data[row, col]:.6g}")


def test_folder_viewer_loads_each_file_when_shown_with_its_facts(kerr_dir, monkeypatch):
    folder = ImageFolder(kerr_dir / "fields", pattern="*.png")
    loaded = []
    original = ImageFolder._load
    monkeypatch.setattr(ImageFolder, "_load", lambda self, i: loaded.append(i) or original(self, i))
    viewer = folder.show()
    assert loaded == [0] and viewer.slider.max == len(folder) - 1 == 7
    viewer.slider.value = 5
    assert loaded == [0, 5]
    reference = stonerimg.load(folder.files[5])
    np.testing.assert_array_equal(viewer.artist.get_array(), reference.data.astype(float))
    assert f"<th style='text-align:left'>field</th><td>{reference['field']:.6g} Oe</td>" in viewer.facts.value
    assert viewer.label.value == f"6 of 8: {folder.names[5]}"


def test_stack_and_3d_array_viewers_step_through_frames():
    frames = np.random.default_rng(1).random((4, 12, 16))
    for obj in (ImageStack(frames), ImageArray(frames)):
        viewer = obj.show()
        viewer.slider.value = 2
        np.testing.assert_array_equal(viewer.artist.get_array(), frames[2])
        assert viewer.index == 2


def test_selector_in_the_viewer(stxm):
    viewer = stxm.show()
    viewer.tool.value = "box"
    sel = viewer.selection
    assert sel.ax is viewer.ax
    canvas = viewer.figure.canvas
    canvas.draw()
    cal = stxm.image.calibration

    def at(name, col, row):
        px, py = viewer.ax.transData.transform((cal.x.to_physical(col), cal.y.to_physical(row)))
        canvas.callbacks.process(name, MouseEvent(name, canvas, px, py, button=1))

    at("button_press_event", 10, 20)
    at("motion_notify_event", 30, 40)
    at("motion_notify_event", 60, 70)
    at("button_release_event", 60, 70)
    assert sel.box == (10, 60, 20, 70)
    viewer.tool.value = "none"
    assert viewer.selection is None


def test_masked_pixels_are_blank_in_the_viewer():
    im = ImageArray(np.arange(20.0).reshape(4, 5))
    im.mask[1, 2] = True
    viewer = im.show()
    blank = np.ma.getmaskarray(np.ma.masked_invalid(viewer.artist.get_array()))
    assert blank[1, 2] and blank.sum() == 1


def test_without_ipywidgets_a_static_figure_names_the_extra(stxm, monkeypatch):
    monkeypatch.setitem(sys.modules, "ipywidgets", None)
    with pytest.warns(UserWarning, match=r'static figure of the first frame; pip install "stonerimg\[notebook\]"'):
        figure = stxm.show()
    assert isinstance(figure, matplotlib.figure.Figure)
    np.testing.assert_array_equal(figure.axes[0].images[0].get_array(), stxm.data)
