"""Tests for stonerimg.funcs.plotting (Agg backend, no display).

References: the image's own data, mask and ``extent``; ``np.histogram`` of
``np.ma.compressed`` pixels; closed forms for the cumulative distribution.
"""

from __future__ import annotations

import copy
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402 - after choosing the backend
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.image import AxesImage  # noqa: E402
from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar  # noqa: E402

from stonerimg import ImageArray, ImageFile, funcs  # noqa: E402
from stonerimg.funcs.plotting import hist, imshow, plot_histogram  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _image(shape=(80, 300), masked=True, **metadata):
    rng = np.random.default_rng(0)
    data = rng.normal(10.0, 2.0, shape)
    mask = np.zeros(shape, bool)
    if masked:
        mask[5:9, 20:40] = True
    return ImageArray(data, mask=mask, metadata=metadata)


def _scalebars(ax):
    return [a for a in ax.artists if isinstance(a, AnchoredSizeBar)]


# ----------------------------------------------------------------- imshow
@pytest.mark.parametrize("shape", [(80, 300), (300, 80), (17, 17)])
def test_imshow_data_extent_and_mask(shape):
    im = _image(shape).set_calibration((0.5, 0.25), "µm", offset=(3.0, -1.0))
    artist = imshow(im, figure=Figure())
    assert isinstance(artist, AxesImage)
    shown = artist.get_array()
    assert shown.shape == shape  # never transposed
    np.testing.assert_array_equal(np.asarray(shown.data), np.asarray(im.data))
    np.testing.assert_array_equal(np.ma.getmaskarray(shown), np.ma.getmaskarray(im))
    assert tuple(artist.get_extent()) == pytest.approx(im.extent)
    left, right, bottom, top = artist.get_extent()
    assert right - left == pytest.approx(shape[1] * 0.5) and bottom - top == pytest.approx(shape[0] * 0.25)
    assert artist.axes.get_xlabel() == "x (µm)"
    assert artist.axes.get_ylabel() == "y (µm)"


def test_imshow_uncalibrated_axes_are_pixels():
    im = _image((4, 6), masked=False)
    artist = imshow(im, figure=Figure())
    assert tuple(artist.get_extent()) == (-0.5, 5.5, 3.5, -0.5)
    assert artist.axes.get_xlabel() == "x (px)"
    assert not np.ma.getmaskarray(artist.get_array()).any()


def test_imshow_nan_pixels_are_masked():
    data = np.arange(12.0).reshape(3, 4)
    data[1, 2] = np.nan
    artist = imshow(ImageArray(data), figure=Figure())
    assert np.flatnonzero(np.ma.getmaskarray(artist.get_array())).tolist() == [6]


def test_imshow_origin_lower_flips_extent():
    im = _image((4, 6), masked=False).set_calibration(2.0, "nm")
    artist = imshow(im, figure=Figure(), origin="lower")
    left, right, bottom, top = im.extent
    assert tuple(artist.get_extent()) == pytest.approx((left, right, top, bottom))
    artist = imshow(im, figure=Figure(), extent=(0, 1, 0, 1))
    assert tuple(artist.get_extent()) == (0, 1, 0, 1)


@pytest.mark.parametrize(
    ("metadata", "filename", "title", "expected"),
    [
        ({"title": "sample A"}, "", None, "sample A"),
        ({}, "/data/run/scan_0012.png", None, "scan_0012.png"),
        ({}, "", None, ""),
        ({"title": "sample A"}, "", False, ""),
        ({"title": "sample A"}, "", "custom", "custom"),
    ],
)
def test_imshow_title(metadata, filename, title, expected):
    im = _image((4, 6), **metadata)
    im.filename = filename
    artist = imshow(im, figure=Figure(), title=title)
    assert artist.axes.get_title() == expected


def test_imshow_title_args_cmap_kwargs_and_show_axis():
    im = _image((4, 6), title="T")
    artist = imshow(im, figure=Figure(), title_args={"fontsize": 7}, cmap="viridis", vmin=0, vmax=20)
    assert artist.axes.title.get_fontsize() == 7
    assert artist.get_cmap().name == "viridis"
    assert artist.get_clim() == (0, 20)
    assert artist.axes.axison
    assert artist.get_cmap().get_bad()[3] == 0  # masked pixels drawn transparent
    hidden = imshow(im, figure=Figure(), show_axis=False)
    assert not hidden.axes.axison
    assert imshow(im, figure=Figure()).get_cmap().name == "gray"


def test_imshow_figure_and_ax_without_pyplot():
    im = _image((4, 6))
    fig = Figure()
    artist = imshow(im, figure=fig)
    assert artist.figure is fig
    ax = Figure().add_subplot()
    assert imshow(im, ax=ax).axes is ax
    assert plt.get_fignums() == []
    with pytest.raises(ValueError, match="ax"):
        imshow(im, figure=fig, ax=ax)


def test_imshow_figure_semantics_with_pyplot():
    im = _image((4, 6))
    plt.plot([0, 1])
    previous = plt.gcf()
    first = imshow(im)  # None: a new figure, never the previous plot
    assert first.figure is not previous and first.figure is plt.gcf()
    assert len(previous.axes[0].images) == 0
    second = imshow(im)
    assert second.figure is not first.figure and len(plt.get_fignums()) == 3
    current = imshow(im, figure="current")
    assert current.figure is second.figure and len(second.figure.axes[0].images) == 2
    new = imshow(im, figure="new")
    assert new.figure is not current.figure
    numbered = imshow(im, figure=42)
    assert numbered.figure.number == 42
    with pytest.raises(TypeError, match="figure"):
        imshow(im, figure=1.5)


def test_imshow_scalebar():
    im = _image((80, 300)).set_calibration(0.5, "µm")  # 150 µm wide: a fifth is 30, the bar 20 µm
    artist = imshow(im, figure=Figure(), scalebar=True)
    (bar,) = _scalebars(artist.axes)
    assert bar.txt_label.get_text() == "20 µm"
    assert bar.size_bar.get_children()[0].get_width() == pytest.approx(20.0)
    fixed = imshow(im, figure=Figure(), scalebar=2.5)
    (bar,) = _scalebars(fixed.axes)
    assert bar.txt_label.get_text() == "2.5 µm"
    assert _scalebars(imshow(im, figure=Figure()).axes) == []
    with pytest.raises(ValueError, match="scalebar"):
        imshow(im, figure=Figure(), scalebar=-1)


def test_imshow_scalebar_avoids_burned_in_text():
    im = _image((100, 200), masked=False).set_calibration(0.1, "µm")
    for band, expected in [
        (None, "lower right"),
        ((90, 100), "upper right"),  # a text band along the bottom (a Kerr annotation band)
        ((0, 10), "lower right"),  # a band along the top
        ((0, 100), "lower right"),  # text everywhere: the default
    ]:
        if band is not None:
            im.metadata["annotation.band"] = band
        (bar,) = _scalebars(imshow(im, figure=Figure(), scalebar=True).axes)
        assert bar.loc == {"lower right": 4, "lower left": 3, "upper right": 1}[expected], band
    im.metadata["annotation.band"] = (90, 100)
    (bar,) = _scalebars(imshow(im, figure=Figure(), scalebar=True, origin="lower").axes)
    assert bar.loc == 4  # the band is at the top of the axes now: the bar goes to the bottom


def test_imshow_scalebar_label_for_people():
    im = _image((80, 300), masked=False).set_calibration(0.0010000000000000009, "µm")  # 0.3 µm wide
    (bar,) = _scalebars(imshow(im, figure=Figure(), scalebar=True).axes)
    assert bar.txt_label.get_text() == "50 nm"
    assert bar.size_bar.get_children()[0].get_width() == pytest.approx(0.05)


def test_imshow_colorbar():
    im = _image((20, 30), masked=False)
    im.metadata["calibration.intensity.units"] = "counts"
    figure = Figure()
    artist = imshow(im, figure=figure, colorbar=True)
    assert len(figure.axes) == 2 and figure.axes[1].get_ylabel() == "counts"
    assert figure.axes[1].collections or figure.axes[1].images  # the colour bar of this artist
    assert artist.colorbar is not None
    other = Figure()
    imshow(im, figure=other, colorbar="intensity (a.u.)")
    assert other.axes[1].get_ylabel() == "intensity (a.u.)"
    assert len(Figure().axes) == 0 and len(imshow(im, figure=Figure()).figure.axes) == 1


def test_imshow_bindings_and_input_unchanged():
    im = _image((80, 300), title="x").set_calibration(0.5, "nm")
    before = copy.deepcopy(im)
    artist = im.imshow(figure=Figure())
    assert isinstance(artist, AxesImage)
    np.testing.assert_array_equal(np.asarray(im.data), np.asarray(before.data))
    np.testing.assert_array_equal(np.ma.getmaskarray(im), np.ma.getmaskarray(before))
    assert dict(im.metadata) == dict(before.metadata)
    doc = ImageFile(im)
    image = doc.image
    from_file = doc.imshow(figure=Figure())
    assert isinstance(from_file, AxesImage)
    assert doc.image is image
    plain = funcs.plotting.imshow(np.arange(6.0).reshape(2, 3), figure=Figure())
    np.testing.assert_array_equal(plain.get_array(), np.arange(6.0).reshape(2, 3))


def test_imshow_boolean_and_not_2d():
    artist = imshow(np.eye(3, dtype=bool), figure=Figure())
    np.testing.assert_array_equal(artist.get_array(), np.eye(3))
    with pytest.raises(ValueError, match="2-D"):
        imshow(np.zeros((2, 3, 4)), figure=Figure())


# ------------------------------------------------------------------- hist
@pytest.mark.parametrize("bins", [5, 30, np.linspace(0, 20, 7)])
def test_hist_counts_unmasked_pixels(bins):
    im = _image((80, 300))
    counts, edges, _patches = hist(im, bins)
    expected_counts, expected_edges = np.histogram(np.ma.compressed(im), bins)
    np.testing.assert_array_equal(counts, expected_counts)
    np.testing.assert_allclose(edges, expected_edges)
    assert counts.sum() == 80 * 300 - 4 * 20


def test_hist_ax_kwargs_and_nan():
    data = np.array([[1.0, 2.0, np.nan], [2.0, 3.0, 100.0]])
    im = ImageArray(data, mask=[[False, False, False], [False, False, True]])
    ax = Figure().add_subplot()
    counts, _edges, _patches = im.hist(bins=3, range=(0.5, 3.5), ax=ax)
    np.testing.assert_array_equal(counts, [1, 2, 1])
    assert len(ax.patches) == 3
    assert plt.get_fignums() == []
    counts, _edges, _patches = ImageFile(im).hist(bins=3, range=(0.5, 3.5), density=True)
    np.testing.assert_allclose(counts, [0.25, 0.5, 0.25])


def test_hist_of_nothing_raises():
    im = ImageArray(np.ones((2, 2)), mask=np.ones((2, 2), bool))
    with pytest.raises(ValueError, match="no unmasked"):
        hist(im)
    with pytest.raises(ValueError, match="no unmasked"):
        plot_histogram(im)


# ---------------------------------------------------------- plot_histogram
def test_plot_histogram_two_axes_and_cumulative():
    im = _image((80, 300), title="run 7")
    before = copy.deepcopy(im)
    fig = plot_histogram(im, bins=64)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 2
    main, twin = fig.axes
    counts, edges = np.histogram(np.ma.compressed(im), bins=64)
    stairs = main.patches[0].get_data()
    np.testing.assert_array_equal(stairs.values, counts)
    np.testing.assert_allclose(stairs.edges, edges)
    line = twin.lines[0]
    np.testing.assert_allclose(line.get_xdata(), edges)
    np.testing.assert_allclose(line.get_ydata(), np.concatenate([[0], np.cumsum(counts)]) / counts.sum())
    assert main.get_title() == "run 7"
    assert dict(im.metadata) == dict(before.metadata)


def test_plot_histogram_bindings_and_figure():
    im = _image((20, 30))
    target = Figure()
    assert plot_histogram(im, 16, figure=target) is target
    assert plt.get_fignums() == []
    fig = ImageFile(im).plot_histogram()
    assert isinstance(fig, Figure) and plt.get_fignums() == [fig.number]
    assert len(fig.axes[0].patches[0].get_data().values) == 256
    with pytest.raises(TypeError, match="figure"):
        plot_histogram(im, figure=3)


def test_import_does_not_load_matplotlib():
    code = (
        "import sys, stonerimg, stonerimg.funcs.plotting\n"
        "print(' '.join(m for m in ('matplotlib', 'skimage', 'scipy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_kerr_annotation_band_keeps_the_scale_bar_clear(kerr_dir):
    import stonerimg

    real = stonerimg.load(kerr_dir / "im2_noannotations.png")
    assert "annotation.band" not in real.metadata
    annotated = stonerimg.load(kerr_dir / "kermit.png")  # the software's text band along the bottom
    first, stop = annotated.metadata["annotation.band"]
    assert stop == annotated.shape[0] and first > annotated.shape[0] // 2
    (bar,) = _scalebars(annotated.imshow(figure=Figure(), scalebar=True).axes)
    assert bar.loc == 1  # upper right, away from the band along the bottom
    (bar,) = _scalebars(real.imshow(figure=Figure(), scalebar=True).axes)
    assert bar.loc == 4
