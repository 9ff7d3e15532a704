"""What a person sees: the STXM image drawn the instrument's way up, with a physical scale bar.

Set ``STONERIMG_DOC_SCREENSHOTS=1`` to also write the window's screenshot to
``doc/_static/napari-stxm.png`` (the picture on the doc/napari.md page).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

import stonerimg
from stonerimg.formats.stxm import STXMImage
from stonerimg.napari._reader import camera, scale_bar

DOC_PICTURE = Path(__file__).resolve().parents[2] / "doc" / "_static" / "napari-stxm.png"


def _grey(picture: np.ndarray) -> np.ndarray:
    return np.asarray(picture[..., :3], dtype=float).mean(axis=-1)


def _drawn_box(grey: np.ndarray, level: float) -> tuple[slice, slice]:
    rows = np.flatnonzero((grey > level).sum(axis=1) > grey.shape[1] // 4)
    cols = np.flatnonzero((grey > level).sum(axis=0) > grey.shape[0] // 4)
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def test_stxm_window_with_scale_bar(make_napari_viewer, stxm_dir, tmp_path):
    viewer = make_napari_viewer(show=True)
    viewer.window.resize(1100, 700)
    (layer,) = viewer.open(str(stxm_dir / "Sample_Image_2017-10-15_100.hdf5"), plugin="stonerimg")
    viewer.reset_view()
    canvas = viewer.screenshot(canvas_only=True, flash=False)
    window = viewer.screenshot(canvas_only=False, flash=False)
    import imageio.v3 as iio

    iio.imwrite(tmp_path / "napari-stxm.png", window)
    if os.environ.get("STONERIMG_DOC_SCREENSHOTS"):
        iio.imwrite(DOC_PICTURE, window)
    assert scale_bar(viewer).visible
    grey = _grey(canvas)
    rows, cols = _drawn_box(grey, 20)
    # the scale bar: white ticks and text in the black margin right of the image, near the bottom
    corner = grey[int(0.85 * grey.shape[0]) :, cols.stop + 5 :]
    assert corner.size and (corner > 200).sum() > 50
    # the bar's text is a physical length (the calibration's µm, napari writes it compactly) and the bar
    # is that long on screen: its length in canvas pixels over the zoom (pixels per µm)
    import pint

    qt_canvas = viewer.window._qt_viewer.canvas
    (visual,) = qt_canvas._viewer_overlay_to_visual[scale_bar(viewer)]
    text = visual.node.text.text
    length = pint.get_application_registry().Quantity(text.replace("µ", "u")).to("um").magnitude
    assert text.endswith(("nm", "µm"))
    assert np.isclose(visual._current_length / camera(viewer).zoom, length, rtol=1e-6)


def test_stxm_is_drawn_y_up(make_napari_viewer, tmp_path):
    """Row 0 of an STXM image (the highest stage y) is at the top of the screen, as the instrument shows it."""
    data = np.zeros((60, 80))
    data[:15] = 1000.0  # a bright band along the highest stage positions
    image = stonerimg.ImageArray(data, metadata={"polarization": 1.0, "title": "band"})
    image.set_calibration((0.1, -0.1), units="µm", offset=(5.0, 20.0))
    STXMImage(image).save(tmp_path / "band.hdf5")
    viewer = make_napari_viewer(show=True)
    (layer,) = viewer.open(str(tmp_path / "band.hdf5"), plugin="stonerimg")
    assert layer.scale[0] < 0  # world y is the stage y, decreasing down the rows
    viewer.reset_view()
    grey = _grey(viewer.screenshot(canvas_only=True, flash=False))
    band = np.flatnonzero((grey > 128).sum(axis=1) > grey.shape[1] // 4)
    assert band.size
    height = grey.shape[0]
    assert band.max() < height / 2  # the band is in the upper half of the canvas
    assert grey[int(0.75 * height), grey.shape[1] // 2] < 64  # and the lower part of the image is dark
