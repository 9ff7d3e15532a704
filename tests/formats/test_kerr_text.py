"""Kerr images: the annotation band found from the pixels, escaped strings as the instrument wrote them."""

from __future__ import annotations

import numpy as np
import pytest

import stonerimg
from stonerimg.formats.kerr import KerrImage, text_band, unescape_layers


def test_crop_text_finds_the_band_of_the_479_by_359_layout(kerr_dir):
    doc = stonerimg.load(kerr_dir / "kermit.png")
    assert doc.shape == (479, 359) and doc["annotation.band"] == (436, 479)
    above = np.asarray(doc.data)[:436].copy()
    doc.crop_text()
    assert doc.shape == (436, 359)  # was left at 479 rows
    np.testing.assert_array_equal(doc.data, above)
    # the rows left are the picture: (almost) no pure black pixel in any of them
    assert (np.asarray(doc.data) == 0).mean(axis=1).max() < 0.05
    assert "annotation.band" not in doc.metadata


def test_crop_text_leaves_an_image_without_a_band(kerr_dir):
    doc = stonerimg.load(kerr_dir / "im2_noannotations.png")
    assert "annotation.band" not in doc.metadata
    before = np.asarray(doc.data).copy()
    doc.crop_text()
    np.testing.assert_array_equal(doc.data, before)


def test_standard_annotated_layout_and_a_synthetic_band():
    picture = np.full((554, 672), 30000, np.uint16)
    picture[512:] = 0
    picture[520:530, 10:200] = 40000  # grey text
    assert text_band(picture) == (512, 554)
    doc = KerrImage(picture)
    doc.crop_text()
    assert doc.shape == (512, 672)
    assert text_band(np.zeros((100, 100))) is None  # a dark image is not a band


def test_scale_bar_is_not_drawn_over_the_band(kerr_dir):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    doc = stonerimg.load(kerr_dir / "kermit.png")
    ax = doc.image.imshow(scalebar=True).axes
    fig = ax.figure
    fig.canvas.draw()
    bars = [a for a in ax.artists if type(a).__name__ == "AnchoredSizeBar"]
    assert len(bars) == 1
    # where the bar is drawn, in image rows (through the calibration): above the band
    bbox = bars[0].get_window_extent(fig.canvas.get_renderer())
    (_x0, y_a), (_x1, y_b) = ax.transData.inverted().transform([(bbox.x0, bbox.y0), (bbox.x1, bbox.y1)])
    cal = doc.image.calibration.y
    rows = [(y - cal.offset) / cal.scale for y in (y_a, y_b)]
    assert max(rows) < 436, rows
    plt.close(fig)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("\\\"\\\\\\\\\\\\\\\\\\'TEst\\\\\\\\\\\\\\\\\\ Image\\\\\\\\\\\\\\\\\\'\\\"", "TEst Image"),
        ("\\'KermitPNGFile\\'", "KermitPNGFile"),
        ("\\'\\'", ""),
        ("\\'S\\:\\\\\\Equipment\\'", "S:\\Equipment"),
        ("12:48:07\\09Starting up\\0D\\0A", "12:48:07\\09Starting up\\0D\\0A"),  # not wrapped: as it is
        ("'TEst Image'", "'TEst Image'"),  # plain quotes the instrument may have written: kept
        ("None", "None"),
    ],
)
def test_unescape_layers(raw, expected):
    assert unescape_layers(raw) == expected


def test_escaped_strings_of_kermit_come_back_as_written(kerr_dir):
    metadata = stonerimg.load(kerr_dir / "kermit.png").metadata
    assert metadata["Comment:"] == "TEst Image"
    assert metadata["Version"] == "National Instruments IMAQ Vision 8.6.0"
    assert metadata["BNC:Channel"] == "[Dev1/ao0,Dev1/ao1]"
    assert metadata["File name"] == "kermit"
    # the log keeps the instrument's own codes, written as in a file that was never re-saved
    plain = stonerimg.load(kerr_dir / "im2_noannotations.png").metadata["Message Log"]
    assert plain.startswith("12:48:07\\09Starting up\\0D\\0A")
    assert metadata["Message Log"].startswith("20:47:12\\09Starting up\\0D\\0A20:47:12\\09Image processor started.")
