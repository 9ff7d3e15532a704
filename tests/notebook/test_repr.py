"""The HTML and PNG reprs, read as a parser reads them: sections, key facts, escaping, never raising, no file read."""

from __future__ import annotations

import io
from html.parser import HTMLParser

import numpy as np
import pytest
from PIL import Image

import stonerimg
from stonerimg import ImageArray, ImageFile, ImageFolder, ImageStack, Metadata
from stonerimg.formats import Format, KeyFact, key_facts, register, unregister
from stonerimg.notebook import repr as nbrepr


class _Page(HTMLParser):
    """Collect the fact table rows, the images and the <details> summaries of a repr."""

    def __init__(self, text):
        super().__init__()
        self.rows, self.images, self.summaries, self._cell, self._where = {}, [], [], None, []
        self._th = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs)
        if tag in ("th", "td", "summary"):
            self._cell = [tag, ""]

    def handle_endtag(self, tag):
        if self._cell is None or tag != self._cell[0]:
            return
        kind, text = self._cell
        self._cell = None
        if kind == "th":
            self._th = text
        elif kind == "td" and self._th is not None:
            self.rows.setdefault(self._th, text)
            self._th = None
        elif kind == "summary":
            self.summaries.append(text)

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[1] += data


def _png_size(data: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(data)).size


# ----------------------------------------------------------- key facts per format
def test_stxm_key_facts_and_calibration_for_people(stxm_dir):
    document = stonerimg.load(stxm_dir / "Sample_Image_2017-10-15_100.hdf5")
    assert document.metadata["calibration.x.scale"] != 0.015  # float noise in the file: 0.015000000000000138
    rows = _Page(document._repr_html_()).rows
    assert rows["pixel size"] == "15 nm/px"
    assert rows["field of view"] == "1.5 µm × 1.5 µm"
    assert rows["energy"] == f"{document.metadata['energy']:.6g} eV" == "781.493 eV"
    assert rows["polarization"] == "0.2"
    assert rows["dwell"] == "10 ms" and document.metadata["counter0.count_time"] == 0.01
    assert rows["scan type"] == "sample image"
    # the facts come before the metadata; "file.HDF5_Version" is not a fact
    assert "file.HDF5_Version" not in rows


def test_dm_key_facts(dm_dir):
    document = stonerimg.load(dm_dir / "test_STEM_image.dm3")
    rows = _Page(document._repr_html_()).rows
    assert rows["voltage"] == "200 kV" and document.metadata["microscope.voltage"] == 200000.0
    assert rows["magnification"] == "225000×"
    assert rows["camera length"] == "135 mm"
    assert rows["mode"] == "SCANNING"
    assert rows["pixel size"] == "0.248538 nm/px"
    diffraction = _Page(stonerimg.load(dm_dir / "test_diffraction_pattern.dm3")._repr_html_()).rows
    assert diffraction["exposure"] == "0.2 s" and diffraction["mode"] == "DIFFRACTION"
    assert diffraction["pixel size"] == "0.174433 1/nm/px"


def test_kerr_key_facts(kerr_dir):
    document = stonerimg.load(kerr_dir / "im2_noannotations.png")
    rows = _Page(document._repr_html_()).rows
    assert rows["field"] == f"{document.metadata['field']:.6g} Oe"
    assert rows["averaging"] == str(document.metadata["Images to Average"])
    assert rows["pixel size"] == "0.258186 µm/px"


def test_tiff_imagej_key_facts(sample_data):
    path = sample_data / "tiff" / "test_loading_image_saved_with_imageJ.tif"
    if not path.exists():
        pytest.skip("no ImageJ TIFF in the sample data")
    rows = _Page(stonerimg.load(path)._repr_html_()).rows
    assert rows["ImageJ"] == "1.51a" and rows["ImageJ unit"] == "micron"
    assert rows["pixel size"] == "0.168675 µm/px"


def test_a_third_party_format_declares_its_facts():
    fmt = Format(
        name="test-facts",
        extensions={".tfx": 10},
        load=lambda path: None,
        key_facts=(KeyFact("temperature", ("sample.T", "T"), "K"), KeyFact("gain", "gain")),
    )
    register(fmt)
    try:
        md = Metadata({"T": 4.2, "gain": 3, "other": 1})
        assert key_facts(md, "test-facts") == [("temperature", 4.2, "K"), ("gain", 3, "")]
        md["sample.T"] = 300.0
        md["sample.T.units"] = "mK"
        assert key_facts(md, "test-facts")[0] == ("temperature", 300.0, "mK")
        document = ImageFile(np.zeros((3, 3)), metadata=md)
        document.format = "test-facts"
        assert _Page(document._repr_html_()).rows["temperature"] == "300 mK"
    finally:
        unregister("test-facts")


def test_an_image_made_in_memory_shows_the_facts_any_format_declares():
    image = ImageArray(np.zeros((4, 4)), metadata={"energy": 707.71925, "field": 12.5, "field.units": "mT"})
    rows = _Page(image._repr_html_()).rows
    assert rows["energy"] == "707.719 eV" and rows["field"] == "12.5 mT"


# ----------------------------------------------------------- thumbnails
@pytest.mark.parametrize(
    ("shape", "scale", "expected"),
    [((100, 100), (1.0, 1.0), (256, 256)), ((40, 100), (1.0, 1.0), (256, 102)), ((100, 100), (30.0, 10.0), (256, 85))],
)
def test_png_thumbnail_has_the_physical_aspect(shape, scale, expected):
    image = ImageArray(np.random.default_rng(0).random(shape)).set_calibration(scale, "nm")
    assert _png_size(image._repr_png_()) == expected
    rows, cols = shape
    width, height = expected
    assert width / height == pytest.approx(cols * scale[0] / (rows * scale[1]), rel=0.01)


def test_units_of_different_prefixes_still_give_the_physical_aspect():
    image = ImageArray(np.zeros((10, 10)))
    image.set_calibration(2.0, "nm", axis="x").set_calibration(0.001, "µm", axis="y")
    assert nbrepr.display_aspect(image.shape, image.calibration) == pytest.approx(2.0)
    image.set_calibration(1.0, "eV", axis="y")  # different quantities: fall back to pixels
    assert nbrepr.display_aspect(image.shape, image.calibration) == 1.0


def test_html_thumbnail_size_is_fixed_from_the_aspect():
    image = ImageArray(np.zeros((50, 200)))
    page = _Page(image._repr_html_())
    (img,) = page.images
    assert (img["width"], img["height"]) == ("192", "48")
    assert "width:192px;height:48px" in img["style"]


# ----------------------------------------------------------- sections
def test_metadata_tree_groups_by_dotted_prefix():
    md = Metadata({"a.b.c": 1, "a.b.d": 2, "a.e": 3, "f": 4, "history": ["crop(1)"]})
    page = _Page(ImageArray(np.zeros((3, 3)), metadata=md)._repr_html_())
    assert page.summaries[0] == "metadata (4 items)"
    assert "a (3)" in page.summaries and "b (2)" in page.summaries
    assert page.summaries[-1] == "history (1 steps)"


def test_history_lists_each_step():
    image = ImageArray(np.random.default_rng(0).random((20, 20))).crop(2, 18, 2, 18).normalise()
    text = image._repr_html_()
    assert text.count("<li>") == len(image.metadata["history"]) == 2


def test_everything_is_escaped():
    image = ImageArray(np.zeros((3, 3)), metadata={"<b>key": "<img src=x onerror=alert(1)>", "title": "<i>t"})
    text = image._repr_html_()
    assert "<img src=x" not in text and "<b>key" not in text and "<i>t" not in text
    assert "&lt;img src=x onerror=alert(1)&gt;" in text


def test_a_broken_thumbnail_degrades_to_text(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("no pixels today")

    monkeypatch.setattr(nbrepr, "thumbnail", broken)
    text = ImageArray(np.zeros((3, 3)), metadata={"energy": 700.0})._repr_html_()
    assert "no preview: RuntimeError: no pixels today" in text
    assert _Page(text).rows["energy"] == "700 eV"
    assert ImageArray(np.zeros((3, 3)))._repr_png_() is None


def test_a_repr_never_raises(monkeypatch):
    monkeypatch.setattr(nbrepr, "_summary_rows", lambda *a, **k: 1 / 0)
    text = ImageFile(np.zeros((3, 3)))._repr_html_()
    assert text.startswith("<pre>ImageFile(") and "ZeroDivisionError" in text


def test_stack_repr_shows_a_strip_and_its_length():
    stack = ImageStack(np.random.default_rng(0).random((20, 8, 16)))
    page = _Page(stack._repr_html_())
    assert len(page.images) == 8
    assert page.rows["frames"] == "20 (8 shown)"
    width, height = _png_size(stack._repr_png_())
    assert width == 8 * 128 + 7 * 2 and height == 64


def test_folder_repr_reads_no_file(kerr_dir, monkeypatch):
    folder = ImageFolder(kerr_dir / "fields", pattern="*.png")
    document = folder[2]
    reads = []
    monkeypatch.setattr(folder, "_load", lambda index: reads.append(index))
    page = _Page(folder._repr_html_())
    assert reads == []
    assert page.rows["files"] == "8" and page.rows["loaded"].startswith("1 ")
    text = folder._repr_html_()
    assert text.count("not loaded") == 7
    assert f"{document.metadata['field']:.6g} Oe" in text


def test_profile_reprs_plot_and_describe():
    image = ImageArray(np.tile(np.linspace(0, 1, 50), (50, 1))).set_calibration(0.02, "µm")
    profile = image.profile_line((0, 25), (49, 25))
    page = _Page(profile._repr_html_())
    assert page.rows["samples"] == str(len(profile))
    assert page.rows["length"] == f"0 µm … {profile.distance.max():.6g} µm" == "0 µm … 0.98 µm"
    assert _png_size(profile._repr_png_()) == (400, 260)
    radial = image.radial_profile()
    page = _Page(radial._repr_html_())
    assert page.rows["bins"] == str(len(radial)) and page.rows["pixels"] == str(int(radial.count.sum()))


def test_metadata_repr_opens_its_tree():
    md = Metadata({"calibration.x.scale": 0.5, "calibration.x.units": "nm", "energy": 700.0})
    text = md._repr_html_()
    assert "<details class='si-metadata' open>" in text
    assert _Page(text).rows["energy"] == "700 eV"
