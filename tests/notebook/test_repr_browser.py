"""The HTML reprs as a person sees them: rendered by headless Chromium, measured in the page.

Each sample format's repr is put in a page (with the stylesheet rule JupyterLab and
many themes apply to images, ``img {max-width: 100%; height: auto}``), and the
rendered thumbnail's width/height is compared with the image's physical aspect
ratio computed here from its calibration.  Screenshots go to ``$STONERIMG_SCREENSHOTS``
(the committed ones in ``doc/_static/screenshots`` were made that way) or a temporary folder.
"""

from __future__ import annotations

import html
import io
import os
from pathlib import Path

import numpy as np
import pytest

import stonerimg
from stonerimg import ImageArray, ImageFolder, ImageStack

from .browser import save_screenshot, start_chromium, stop_chromium

SAMPLES = {
    "stxm": "stxm/Sample_Image_2017-10-15_100.hdf5",
    "stxm-tiny": "stxm/Pollux-STXM Image.hdf5",
    "kerr": "kerr/kermit.png",
    "dm": "dm/test_STEM_image.dm3",
    "dm-diffraction": "dm/test_diffraction_pattern.dm3",
    "tiff": "tiff/test_loading_image_saved_with_imageJ.tif",
    "maximus": "maximus/MPI_210127021/MPI_210127021.hdr",
}

#: What many notebook front ends apply to images in output cells.
FRONTEND_CSS = "img { max-width: 100%; height: auto; } table { width: auto; }"


@pytest.fixture(scope="module")
def browser():
    driver = start_chromium()
    yield driver
    stop_chromium(driver)


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = os.environ.get("STONERIMG_SCREENSHOTS")
    return Path(folder) if folder else tmp_path_factory.mktemp("screenshots")


def _show(browser, tmp_path: Path, fragment: str, width: str = "auto"):
    page = tmp_path / "page.html"
    page.write_text(
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<style>body{{margin:12px;background:#fff}} {FRONTEND_CSS}</style></head>"
        f"<body><div id='cell' style='display:inline-block;width:{width}'>{fragment}</div></body></html>",
        encoding="utf-8",
    )
    browser.get(page.as_uri())
    return browser.find_element("id", "cell")


def _rendered_aspects(browser, selector: str = "img.si-thumb") -> list[float]:
    sizes = browser.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0]))"
        ".map(e => {const r = e.getBoundingClientRect(); return [r.width, r.height];});",
        selector,
    )
    assert sizes, f"no {selector} in the page"
    return [w / h for w, h in sizes]


def _physical_aspect(image) -> float:
    """Width/height in physical units, from the calibration (both axes in one unit in these files)."""
    cal = image.calibration
    assert cal.x.units == cal.y.units
    rows, cols = image.shape[-2:]
    return cols * abs(cal.x.scale) / (rows * abs(cal.y.scale))


def _not_blank(png_bytes: bytes) -> float:
    from PIL import Image

    return float(np.asarray(Image.open(io.BytesIO(png_bytes)).convert("L"), dtype=float).std())


@pytest.mark.parametrize("name", list(SAMPLES))
def test_sample_repr_thumbnail_keeps_the_physical_aspect(name, browser, sample_data, tmp_path, shots):
    path = sample_data / SAMPLES[name]
    if not path.exists():
        pytest.skip(f"{path} is not in the sample data")
    document = stonerimg.load(path)
    cell = _show(browser, tmp_path, document._repr_html_())
    aspects = _rendered_aspects(browser)  # one thumbnail, or one per plane of a 3-D scan
    assert len(aspects) == (document.shape[0] if document.ndim == 3 else 1)
    assert all(aspect == pytest.approx(_physical_aspect(document), rel=0.02) for aspect in aspects)
    # the thumbnail has its own size (longest side 192 px), whatever the height of the table beside it
    width, height = browser.execute_script(
        "const r = document.querySelector('img.si-thumb').getBoundingClientRect(); return [r.width, r.height];"
    )
    assert max(width, height) == pytest.approx(96 if document.ndim == 3 else 192, abs=0.5)
    shot = save_screenshot(browser, cell, shots / f"repr-{name}.png")
    assert _not_blank(shot.read_bytes()) > 5


def test_non_square_pixels_show_in_physical_units(browser, tmp_path):
    data = np.random.default_rng(0).random((100, 100))
    image = ImageArray(data).set_calibration((30.0, 10.0), "nm")  # pixels 3 times wider than tall
    _show(browser, tmp_path, image._repr_html_())
    (aspect,) = _rendered_aspects(browser)
    assert aspect == pytest.approx(3.0, rel=0.02)


def test_the_thumbnail_keeps_its_aspect_at_any_table_length(browser, tmp_path):
    image = ImageArray(np.arange(100 * 40, dtype=float).reshape(40, 100))  # 100 x 40 px, uncalibrated
    for items in (0, 5, 200):
        image.metadata.update({f"item{i}": i for i in range(items)})
        _show(browser, tmp_path, image._repr_html_().replace("<details class='si-metadata'>", "<details open>"))
        (aspect,) = _rendered_aspects(browser)
        assert aspect == pytest.approx(2.5, rel=0.02), items


def test_stack_strip_frames_keep_the_aspect_and_say_the_length(browser, tmp_path, shots):
    frames = np.random.default_rng(1).random((12, 30, 60))
    stack = ImageStack(frames)
    cell = _show(browser, tmp_path, stack._repr_html_())
    aspects = _rendered_aspects(browser)
    assert len(aspects) == 8 and all(a == pytest.approx(2.0, rel=0.02) for a in aspects)
    assert "12 frames" in cell.text
    save_screenshot(browser, cell, shots / "repr-stack.png")


def test_folder_table_shows_what_is_loaded_without_reading(browser, kerr_dir, tmp_path, shots):
    folder = ImageFolder(kerr_dir / "fields", pattern="*.png")
    folder[1]  # only this file is read
    cell = _show(browser, tmp_path, folder._repr_html_())
    rows = browser.execute_script(
        "return Array.from(document.querySelectorAll('table.si-files tbody tr')).map(r => r.innerText);"
    )
    assert len(rows) == len(folder) == 8
    assert "not loaded" in rows[0] and "not loaded" not in rows[1]
    assert "Oe" in rows[1] and "nm/px" in rows[1] or "µm/px" in rows[1]
    save_screenshot(browser, cell, shots / "repr-folder.png")


def test_metadata_tree_is_collapsible_and_escaped(browser, tmp_path):
    image = ImageArray(np.zeros((4, 4)), metadata={"a.b.c": "<script>x</script>", "a.d": 1, "e": 2})
    _show(browser, tmp_path, image._repr_html_())
    details = browser.find_element("css selector", "details.si-metadata")
    assert not details.get_attribute("open")
    details.find_element("tag name", "summary").click()
    assert details.get_attribute("open") and "a (2)" in details.text
    browser.execute_script("document.querySelectorAll('details').forEach(d => d.open = true)")
    assert "<script>x</script>" in details.text  # shown as text, not run
    assert browser.execute_script("return document.querySelectorAll('script').length") == 0
    assert html.escape("<script>") in image._repr_html_()
