"""Tests for stonerimg.funcs.profiles.

References: ``skimage.measure.profile_line`` called directly on the same data with the
``(x, y) -> (row, col)`` conversion done by hand, NumPy indexing of rows and columns,
``np.linspace``/``np.hypot`` closed forms, and an independent nearest-neighbour test of
which samples touch a masked pixel.
"""

from __future__ import annotations

import copy
import dataclasses
import subprocess
import sys

import numpy as np
import pytest
import skimage.measure

from stonerimg import ImageArray, ImageFile, funcs
from stonerimg.funcs.profiles import Profile, profile_line


def _data(shape=(80, 300), seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    values = rng.random(shape)
    if np.dtype(dtype).kind in "ui":
        return (values * 200).astype(dtype)
    return values.astype(dtype)


def _sk(data, src, dst, **kwargs):
    """scikit-image's profile with (x, y) points converted to (row, col)."""
    kwargs.setdefault("mode", "constant")
    return skimage.measure.profile_line(data, (src[1], src[0]), (dst[1], dst[0]), **kwargs)


LINES = [
    ((0, 10), (299, 10)),  # along a row of the 80 x 300 image
    ((7, 0), (7, 79)),  # along a column
    ((3, 5), (250, 70)),  # oblique
    ((290, 75), (12, 2)),  # oblique, backwards
    ((100, 40), (100, 40)),  # a single point
]


# ------------------------------------------------------- against scikit-image
@pytest.mark.parametrize(("src", "dst"), LINES)
@pytest.mark.parametrize("linewidth", [1, 3])
@pytest.mark.parametrize("order", [None, 0, 3])
def test_matches_skimage_float(src, dst, linewidth, order):
    data = _data()
    result = profile_line(ImageArray(data), src, dst, linewidth=linewidth, order=order)
    expected = _sk(data, src, dst, linewidth=linewidth, order=order)
    assert isinstance(result, Profile)
    assert result.value.shape == expected.shape
    np.testing.assert_allclose(result.value, expected, rtol=1e-12, atol=1e-12)
    n = len(expected)
    np.testing.assert_allclose(result.x, np.linspace(src[0], dst[0], n))
    np.testing.assert_allclose(result.y, np.linspace(src[1], dst[1], n))
    assert not result.mask.any()


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, bool])
@pytest.mark.parametrize("mode", ["constant", "nearest", "reflect", "wrap"])
@pytest.mark.parametrize("order", [0, 1, 2])
def test_integer_images_interpolate_in_float(dtype, mode, order):
    data = _data((40, 90), dtype=np.uint8) if dtype is not bool else _data((40, 90)) > 0.5
    data = data.astype(dtype)
    src, dst = (-3, 2), (95, 38)  # leaves the image on both sides: the boundary mode matters
    result = profile_line(data, src, dst, linewidth=5, order=order, mode=mode, cval=7.5, constrain=False)
    expected = _sk(data.astype(np.float64), src, dst, linewidth=5, order=order, mode=mode, cval=7.5)
    np.testing.assert_allclose(result.value, expected, rtol=1e-12, atol=1e-9)
    assert result.value.dtype.kind == "f"


def test_default_order_of_a_boolean_image_is_nearest():
    data = _data((30, 40)) > 0.5
    result = profile_line(data, (0, 3), (39, 20))
    np.testing.assert_array_equal(result.value, _sk(data, (0, 3), (39, 20), order=0).astype(float))


@pytest.mark.parametrize("reduce_func", [np.max, np.median, np.sum])
def test_kwargs_go_to_skimage(reduce_func):
    data = _data()
    result = profile_line(data, (3, 5), (250, 70), linewidth=4, reduce_func=reduce_func)
    np.testing.assert_allclose(result.value, _sk(data, (3, 5), (250, 70), linewidth=4, reduce_func=reduce_func))


@pytest.mark.parametrize("mode", ["constant", "nearest", "mirror"])
def test_unconstrained_line_uses_mode_and_cval(mode):
    data = _data((20, 30))
    src, dst = (-5, 3), (40, 12)
    result = profile_line(data, src, dst, mode=mode, cval=-2.0, constrain=False)
    np.testing.assert_allclose(result.value, _sk(data, src, dst, mode=mode, cval=-2.0))
    assert result.x[0] == -5 and result.x[-1] == 40


# ------------------------------------------------------- geometry and (x, y)
def test_non_square_row_and_column():
    data = _data((80, 300))
    im = ImageArray(data)
    row = im.profile_line((0, 10), (299, 10))
    assert len(row) == 300
    np.testing.assert_array_equal(row.value, data[10])
    np.testing.assert_array_equal(row.y, np.full(300, 10.0))
    column = im.profile_line(x=7)
    assert len(column) == 80
    np.testing.assert_array_equal(column.value, data[:, 7])
    np.testing.assert_array_equal(column.x, np.full(80, 7.0))
    np.testing.assert_array_equal(im.profile_line(y=33).value, data[33])


@pytest.mark.parametrize(("shape", "expected_row"), [((81, 300), 40.0), ((80, 300), 39.5), ((3, 7), 1.0)])
def test_the_centre_row_between_rows_is_interpolated(shape, expected_row):
    data = _data(shape)
    result = profile_line(data, (0.0, expected_row), (shape[1] - 1.0, expected_row))
    assert len(result) == shape[1]
    np.testing.assert_array_equal(result.y, np.full(shape[1], expected_row))
    np.testing.assert_array_equal(result.x, np.arange(shape[1], dtype=float))
    lower, upper = int(np.floor(expected_row)), int(np.ceil(expected_row))
    np.testing.assert_allclose(result.value, (data[lower] + data[upper]) / 2)


def test_constrain_clips_the_line_keeping_its_direction():
    data = _data((80, 300))
    horizontal = profile_line(data, (-50, 10), (349, 10))
    assert (horizontal.x[0], horizontal.x[-1]) == (0.0, 299.0)
    np.testing.assert_array_equal(horizontal.value, data[10])
    # the diagonal y = x from (-10, -10) to (100, 100) stays on y = x: it starts at (0, 0) and ends at (79, 79)
    diagonal = profile_line(data, (-10, -10), (100, 100))
    np.testing.assert_allclose(diagonal.x, diagonal.y)
    assert diagonal.x[0] == 0 and diagonal.x[-1] == pytest.approx(79)
    np.testing.assert_allclose(diagonal.value, _sk(data, (0, 0), (79, 79)))


def test_line_missing_the_image_raises():
    with pytest.raises(ValueError, match="does not cross"):
        profile_line(_data((20, 30)), (-10, -5), (40, -5))


# ------------------------------------------------------------- calibration
def test_floats_are_physical_coordinates():
    data = _data((80, 300))
    im = ImageArray(data).set_calibration(0.5, "nm")
    physical = im.profile_line((10.0, 5.0), (100.0, 20.0))  # nm: pixels (20, 10) to (200, 40)
    pixels = im.profile_line((20, 10), (200, 40))
    np.testing.assert_array_equal(physical.value, pixels.value)
    np.testing.assert_allclose(physical.x, pixels.x)
    assert physical.x[0] == 20.0 and physical.y[-1] == 40.0
    np.testing.assert_allclose(physical.value, _sk(data, (20, 10), (200, 40)))


def test_integral_float_is_still_physical_and_offsets_apply():
    data = _data((80, 300))
    im = ImageArray(data).set_calibration((0.5, 2.0), "um", offset=(100.0, -10.0))
    result = im.profile_line((110.0, 10.0), (120.0, 10.0))  # x: (110-100)/0.5 = 20 .. 40, y: (10+10)/2 = 10
    assert (result.x[0], result.x[-1], result.y[0]) == (20.0, 40.0, 10.0)
    np.testing.assert_array_equal(result.value, data[10, 20:41])


def test_int_and_float_coordinates_mix_per_axis():
    data = _data((80, 300))
    im = ImageArray(data).set_calibration(0.25, "mm")
    result = im.profile_line((10, 2.5), (50, 2.5))  # columns 10..50 (pixels) on row 2.5 mm = 10
    np.testing.assert_array_equal(result.value, data[10, 10:51])


def test_no_scale_reads_floats_as_pixels():
    data = _data((80, 300))
    im = ImageArray(data).set_calibration(0.5, "nm")
    result = im.profile_line((10.0, 5.0), (20.0, 5.0), no_scale=True)
    np.testing.assert_array_equal(result.value, data[5, 10:21])
    assert result.units == "px"
    np.testing.assert_allclose(result.distance, np.arange(11.0))


def test_uncalibrated_floats_are_subpixel_positions():
    data = _data((20, 30))
    result = profile_line(data, (2.5, 3.0), (12.5, 3.0))
    np.testing.assert_allclose(result.value, _sk(data, (2.5, 3.0), (12.5, 3.0)))
    assert result.units == "px"


def test_distance_in_physical_units():
    im = ImageArray(_data((80, 300))).set_calibration((0.5, 2.0), "nm")
    horizontal = im.profile_line((0, 10), (299, 10))
    np.testing.assert_allclose(horizontal.distance, 0.5 * np.arange(300))
    assert horizontal.units == "nm"
    oblique = im.profile_line((3, 5), (250, 70))
    expected = np.hypot((oblique.x - 3) * 0.5, (oblique.y - 5) * 2.0)
    np.testing.assert_allclose(oblique.distance, expected)
    assert oblique.distance[-1] == pytest.approx(np.hypot(247 * 0.5, 65 * 2.0))


def test_distance_with_different_units_per_axis():
    im = ImageArray(_data((80, 300)))
    im.set_calibration(0.5, "um", axis="x").set_calibration(3.0, "eV", axis="y")
    assert im.profile_line((0, 10), (10, 10)).units == "um"
    vertical = im.profile_line((4, 0), (4, 10))
    assert vertical.units == "eV"
    np.testing.assert_allclose(vertical.distance, 3.0 * np.arange(11))
    oblique = im.profile_line((0, 0), (30, 40))
    assert oblique.units == "px"
    assert oblique.distance[-1] == pytest.approx(50.0)


# ------------------------------------------------------------------- masks
def _touches_mask(mask, xs, ys):
    """Independent reference: a sample is masked if a masked pixel is among its 2 x 2 neighbours."""
    out = []
    for x, y in zip(xs, ys, strict=True):
        rows = {int(np.floor(y)), int(np.ceil(y))}
        cols = {int(np.floor(x)), int(np.ceil(x))}
        out.append(any(0 <= r < mask.shape[0] and 0 <= c < mask.shape[1] and mask[r, c] for r in rows for c in cols))
    return np.array(out)


def test_masked_crossing_gives_nan():
    data = _data((80, 300))
    mask = np.zeros(data.shape, bool)
    mask[:, 100] = True
    mask[30:40, 200] = True  # not on row 10
    im = ImageArray(data, mask=mask)
    result = im.profile_line((0, 10), (299, 10))
    assert np.flatnonzero(result.mask).tolist() == [100]
    assert np.isnan(result.value[100])
    keep = np.arange(300) != 100
    np.testing.assert_array_equal(result.value[keep], data[10][keep])


@pytest.mark.parametrize(("src", "dst"), [((3, 5), (250, 70)), ((290, 75), (12, 2)), ((0, 40), (299, 40))])
def test_masked_samples_match_neighbour_reference(src, dst):
    rng = np.random.default_rng(3)
    data = _data((80, 300))
    mask = rng.random(data.shape) < 0.02
    im = ImageArray(data, mask=mask)
    result = im.profile_line(src, dst)
    expected = _touches_mask(mask, result.x, result.y)
    np.testing.assert_array_equal(result.mask, expected)
    np.testing.assert_array_equal(np.isnan(result.value), expected)
    reference = _sk(data, src, dst)
    np.testing.assert_array_equal(result.value[~expected], reference[~expected])


def test_mask_across_the_line_width():
    data = _data((80, 300))
    mask = np.zeros(data.shape, bool)
    mask[12, 50] = True  # two rows away from the line: inside a 5-pixel width, outside a 3-pixel one
    im = ImageArray(data, mask=mask)
    assert not im.profile_line((0, 10), (299, 10), linewidth=3).mask.any()
    assert np.flatnonzero(im.profile_line((0, 10), (299, 10), linewidth=5).mask).tolist() == [50]


def test_all_false_mask_and_integer_masked_image():
    data = _data((80, 300), dtype=np.uint16)
    im = ImageArray(data, mask=np.zeros(data.shape, bool))
    result = im.profile_line((0, 10), (299, 10))
    assert not result.mask.any()
    mask = np.zeros(data.shape, bool)
    mask[10, 7] = True
    result = ImageArray(data, mask=mask).profile_line((0, 10), (299, 10))
    assert np.flatnonzero(np.isnan(result.value)).tolist() == [7]


# ----------------------------------------------------- binding and contract
def test_bindings_and_input_unchanged():
    data = _data((80, 300))
    mask = np.zeros(data.shape, bool)
    mask[5, 5] = True
    im = ImageArray(data, mask=mask, metadata={"sample": "Py", "history": ["made"]}).set_calibration(0.5, "nm")
    before = copy.deepcopy(im)
    from_func = funcs.profiles.profile_line(im, (0, 5), (299, 5))
    from_method = im.profile_line((0, 5), (299, 5))
    np.testing.assert_array_equal(from_func.value, from_method.value)
    np.testing.assert_array_equal(np.asarray(im.data), np.asarray(before.data))
    np.testing.assert_array_equal(np.ma.getmaskarray(im), np.ma.getmaskarray(before))
    assert dict(im.metadata) == dict(before.metadata)
    assert from_method.metadata["sample"] == "Py"
    assert from_method.metadata is not im.metadata
    assert from_method.metadata["history"] == ["made"]  # no history entry: the result is not an image


def test_imagefile_returns_the_profile():
    data = _data((80, 300))
    doc = ImageFile(ImageArray(data))
    image_before = doc.image
    result = doc.profile_line((0, 10), (299, 10))
    assert isinstance(result, Profile)
    assert doc.image is image_before
    np.testing.assert_array_equal(result.value, data[10])


def test_plain_ndarray():
    data = _data((20, 30))
    result = funcs.profiles.profile_line(data, (0, 1), (29, 1))
    np.testing.assert_array_equal(result.value, data[1])


def test_profile_object():
    result = profile_line(_data((20, 30)), (0, 1), (29, 1))
    table = result.to_numpy()
    assert table.shape == (30, 4)
    np.testing.assert_array_equal(table[:, 0], result.x)
    np.testing.assert_array_equal(table[:, 1], result.y)
    np.testing.assert_array_equal(table[:, 2], result.distance)
    np.testing.assert_array_equal(table[:, 3], result.value)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.units = "nm"


def test_profile_plot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    im = ImageArray(_data((20, 30))).set_calibration(0.5, "nm")
    result = im.profile_line((0, 1), (29, 1))
    fig = Figure()
    ax = fig.add_subplot()
    line = result.plot(ax=ax, color="r")
    assert line.axes is ax
    np.testing.assert_array_equal(line.get_xdata(), result.distance)
    np.testing.assert_array_equal(line.get_ydata(), result.value)
    assert ax.get_xlabel() == "distance (nm)"
    assert plt.get_fignums() == []
    line = result.plot()
    assert plt.get_fignums() == [line.figure.number]
    again = result.plot()  # a new figure each time, never over the previous plot
    assert again.figure is not line.figure and len(line.axes.lines) == 1
    plt.close("all")


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"src": (0, 0)}, ValueError, "src, dst"),
        ({"dst": (0, 0)}, ValueError, "src, dst"),
        ({"src": (0, 0), "dst": (5,)}, TypeError, "dst"),
        ({"src": "ab", "dst": (1, 1)}, TypeError, "src"),
        ({"src": (0, None), "dst": (1, 1)}, TypeError, "src"),
        ({"src": (True, 0), "dst": (1, 1)}, TypeError, "src"),
        ({"src": (0.0, np.nan), "dst": (1, 1)}, ValueError, "src"),
        ({"linewidth": 0}, ValueError, "linewidth"),
        ({"linewidth": 1.5}, ValueError, "linewidth"),
        ({"order": 6}, ValueError, "order"),
        ({"mode": "edge"}, ValueError, "mode"),
        ({"reduce_func": None}, ValueError, "reduce_func"),
        ({"x": 3, "y": 4}, ValueError, "x, y"),
        ({"x": 3, "src": (0, 0), "dst": (1, 1)}, ValueError, "x, y"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        profile_line(_data((20, 30)), **kwargs)


def test_not_2d_raises():
    with pytest.raises(ValueError, match="2-D"):
        profile_line(np.zeros((2, 3, 4)))


# ---------------------------------------------------------------- real data
def test_kerr_image(kerr_dir):
    doc = ImageFile.load(kerr_dir / "kermit.png")
    data = np.asarray(doc.image.data)
    rows, cols = data.shape
    result = doc.profile_line((0, rows // 2), (cols - 1, rows // 2))
    assert len(result) == cols
    np.testing.assert_allclose(result.value, data[rows // 2].astype(float))
    oblique = doc.profile_line((10, 20), (cols - 30, rows - 40), linewidth=3)
    reference = _sk(data.astype(float), (10, 20), (cols - 30, rows - 40), linewidth=3)
    np.testing.assert_allclose(oblique.value, reference, rtol=1e-12)


def test_import_does_not_load_skimage_or_matplotlib():
    code = (
        "import sys, stonerimg.funcs.profiles\n"
        "print(' '.join(m for m in ('skimage', 'matplotlib', 'scipy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
