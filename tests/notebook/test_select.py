"""Selectors driven with matplotlib's own events (press, motion, release, keys) on Agg, on real files.

Each selection is compared with the same geometry given by hand.  Events are placed
in data coordinates computed from pixel positions through the shown image's extent,
so the STXM image (calibrated in µm) checks the conversion back to pixels.
"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.backend_bases import KeyEvent, MouseEvent  # noqa: E402
from skimage import draw  # noqa: E402

import stonerimg  # noqa: E402
from stonerimg.notebook import select as select_module  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def stxm(stxm_dir):
    return stonerimg.load(stxm_dir / "Sample_Image_2017-10-15_100.hdf5")


@pytest.fixture
def kerr(kerr_dir):
    return stonerimg.load(kerr_dir / "kermit.png")


class Driver:
    """Send mouse and key events to the canvas of a selection, at pixel positions of the image."""

    def __init__(self, sel):
        self.ax = sel.ax
        self.canvas = self.ax.figure.canvas
        self.artist = self.ax.images[-1]
        self.canvas.draw()

    def data(self, px, py):
        left, right, bottom, top = self.artist.get_extent()
        rows, cols = self.artist.get_array().shape[:2]
        x = left + (px + 0.5) / cols * (right - left)
        y0, y1 = (top, bottom) if self.artist.origin == "upper" else (bottom, top)
        return x, y0 + (py + 0.5) / rows * (y1 - y0)

    def mouse(self, name, px, py, button=1):
        x, y = self.ax.transData.transform(self.data(px, py))
        self.canvas.callbacks.process(name, MouseEvent(name, self.canvas, x, y, button=button))

    def key(self, key, px=0, py=0):
        x, y = self.ax.transData.transform(self.data(px, py))
        self.canvas.callbacks.process("key_press_event", KeyEvent("key_press_event", self.canvas, key, x, y))

    def drag(self, start, end, steps=4):
        self.mouse("button_press_event", *start)
        for t in np.linspace(0, 1, steps + 1)[1:]:
            self.mouse("motion_notify_event", start[0] + t * (end[0] - start[0]), start[1] + t * (end[1] - start[1]))
        self.mouse("button_release_event", *end)

    def click(self, px, py):
        self.mouse("motion_notify_event", px, py)
        self.mouse("button_press_event", px, py)
        self.mouse("button_release_event", px, py)


def test_a_dragged_box_crops_like_the_same_box_by_hand(stxm):
    assert stxm.shape == (100, 100) and stxm.image.calibration.x.units != "px"  # shown in physical units
    sel = stxm.image.select("box")
    assert sel.is_empty and not sel.done
    Driver(sel).drag((25, 25), (75, 50))
    assert sel.box == (25, 75, 25, 50)
    cropped = stxm.image.crop(sel)
    assert cropped.shape == (25, 50)
    by_hand = stxm.image.crop((25, 75, 25, 50))
    np.testing.assert_array_equal(cropped.data, by_hand.data)
    assert cropped.metadata["calibration.x.offset"] == by_hand.metadata["calibration.x.offset"]
    Driver(sel).key("enter")
    assert sel.done and stxm.crop(sel).shape == (25, 50)  # the ImageFile, in place


def test_box_selection_feeds_align_level_image_and_the_mask(kerr):
    image = kerr.image
    sel = image.select("box")
    Driver(sel).drag((40.2, 30.4), (250.3, 200.1))
    box = (40, 250, 30, 200)
    assert sel.box == box
    np.testing.assert_array_equal(
        image.level_image(box=sel, mode=None).data, image.level_image(box=box, mode=None).data
    )
    shifted = image.translate((3, -2))
    assert shifted.align(image, box=sel)["align.shift"] == shifted.align(image, box=box)["align.shift"]
    image.mask = sel
    expected = np.zeros(image.shape, bool)
    expected[30:200, 40:250] = True
    np.testing.assert_array_equal(image.mask, expected)
    assert image.mean() == np.ma.MaskedArray(image.data, expected).mean()


def test_a_dragged_line_gives_the_profile_of_the_same_line_by_hand(kerr):
    sel = kerr.image.select("line")
    Driver(sel).drag((10, 20), (300, 200))
    (x0, y0), (x1, y1) = sel.line
    np.testing.assert_allclose([x0, y0, x1, y1], [10, 20, 300, 200], atol=1e-9)
    by_mouse = kerr.image.profile_line(sel)
    by_hand = kerr.image.profile_line((10, 20), (300, 200))
    np.testing.assert_allclose(by_mouse.value, by_hand.value, rtol=1e-9)
    assert sel.mask[20, 10] and sel.mask[200, 300] and sel.mask.sum() == len(draw.line(20, 10, 200, 300)[0])


def test_a_clicked_polygon_masks_its_inside(stxm):
    corners = [(10, 10), (80, 20), (60, 90), (15, 70)]
    sel = stxm.image.select("polygon")
    driver = Driver(sel)
    for corner in [*corners, corners[0]]:  # clicking the first vertex again closes it
        driver.click(*corner)
    np.testing.assert_allclose(sel.vertices, corners, atol=1e-9)
    expected = np.zeros((100, 100), bool)
    cols, rows = np.array(corners, float).T
    expected[draw.polygon(rows, cols, shape=(100, 100))] = True
    np.testing.assert_array_equal(sel.mask, expected)
    data = stxm.image.data.copy()
    stxm.mask = sel
    assert stxm.image.mean() == np.ma.MaskedArray(data, expected).mean()


def test_a_dragged_ellipse_masks_the_ellipse_in_its_box(kerr):
    sel = kerr.image.select("ellipse")
    Driver(sel).drag((100, 50), (300, 150))
    expected = np.zeros(kerr.shape, bool)
    expected[draw.ellipse(100, 200, 50, 100, shape=kerr.shape)] = True
    np.testing.assert_array_equal(sel.mask, expected)
    assert sel.box == (100, 300, 50, 150) and sel.centre == pytest.approx((200, 100))


def test_a_clicked_point_centres_the_radial_profile(stxm):
    sel = stxm.image.select("point")
    Driver(sel).click(40, 60)
    assert sel.points == [pytest.approx((40, 60))]
    by_mouse = stxm.image.radial_profile(centre=sel)
    by_hand = stxm.image.radial_profile(centre=(40, 60))
    np.testing.assert_allclose(by_mouse.mean, by_hand.mean, rtol=1e-9)


def test_disconnect_keeps_the_geometry_and_stops_listening(stxm):
    sel = stxm.image.select("box")
    driver = Driver(sel)
    driver.drag((25, 25), (75, 50))
    sel.disconnect()
    driver.drag((5, 5), (10, 10))
    driver.key("escape")
    assert sel.box == (25, 75, 25, 50) and not sel.cancelled
    assert not any(patch.get_visible() for patch in sel.ax.patches)  # the rectangle is gone


def test_selection_on_axes_drawn_with_origin_lower(stxm):
    fig, ax = plt.subplots()
    stxm.image.imshow(ax=ax, origin="lower")
    sel = stxm.image.select("box", ax=ax)
    assert sel.ax is ax and len(ax.images) == 1  # drawn on the image already shown
    Driver(sel).drag((10, 60), (30, 90))
    assert sel.box == (10, 30, 60, 90)


def test_escape_cancels_and_an_empty_selection_says_so(stxm):
    sel = stxm.image.select("box")
    driver = Driver(sel)
    driver.drag((25, 25), (75, 50))
    driver.key("escape")
    assert sel.cancelled and sel.is_empty
    with pytest.raises(ValueError, match="box selection is empty.*cancelled"):
        stxm.image.crop(sel)
    with pytest.raises(ValueError, match="kind: must be one of"):
        stxm.image.select("lasso")


def test_blocking_forms_refuse_where_they_would_hang(stxm):
    with pytest.raises(RuntimeError, match=r"non-interactive matplotlib backend 'agg'.*image.select\('polygon'\)"):
        stxm.mask.select()
    with pytest.raises(RuntimeError, match=r"image.select\('box'\)"):
        select_module.wait_for_selection(stxm.image, "box", what="crop()")


def _scripted_event_loop(monkeypatch, script):
    """Pretend the backend is interactive; the event loop plays ``script(driver)`` once."""
    monkeypatch.setattr(select_module, "_cannot_wait", lambda: None)
    played = []

    def loop(self, timeout=0):
        if not played:
            played.append(True)
            script(Driver(_latest[0]))

    _latest = []
    original = select_module.select

    def remember(*args, **kwargs):
        _latest.append(original(*args, **kwargs))
        return _latest[-1]

    monkeypatch.setattr(select_module, "select", remember)
    monkeypatch.setattr(plt.Figure, "show", lambda self, *a, **k: None, raising=False)
    from matplotlib.backend_bases import FigureCanvasBase

    monkeypatch.setattr(FigureCanvasBase, "start_event_loop", loop)


def test_mask_select_waits_for_enter_and_switches_shape_with_keys(stxm, monkeypatch):
    def script(driver):
        driver.key("c")  # switch the polygon to a circle/ellipse
        driver.drag((20, 30), (60, 50))
        driver.key("enter")

    _scripted_event_loop(monkeypatch, script)
    stxm.mask.select()
    expected = np.zeros((100, 100), bool)
    expected[draw.ellipse(40, 40, 10, 20, shape=(100, 100))] = True
    np.testing.assert_array_equal(stxm.mask, expected)
    assert stxm["history"][-1] == "mask.select('ellipse')"


def test_waiting_for_a_box_then_escape_leaves_the_mask(stxm, monkeypatch):
    def script(driver):
        driver.drag((20, 30), (60, 50))
        driver.key("escape")

    _scripted_event_loop(monkeypatch, script)
    sel = select_module.wait_for_selection(stxm.image, "box")
    assert sel.cancelled and not stxm.mask.any()
