"""Tests for stonerimg.funcs.filters.

References are independent of the code under test: scikit-image and SciPy
called directly on the same data (``denoise_tv_chambolle``, ``gaussian``,
``ndimage.gaussian_filter``, ``signal.savgol_filter``), least-squares fits
solved with ``numpy.linalg.lstsq`` / ``numpy.polyfit`` window by window, and
closed forms (planes and quadratics, whose fits and derivatives are exact).
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
from scipy import ndimage, signal
from skimage import filters as skfilters
from skimage import restoration
from skimage.util import img_as_float

import stonerimg
from stonerimg import ImageArray, ImageFile
from stonerimg.funcs import filters

ROWS, COLS = 37, 53  # non-square: a transposition would show


# ------------------------------------------------------------------ helpers
def _noise(shape=(ROWS, COLS), seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "u":
        return rng.integers(0, np.iinfo(dtype).max, shape, endpoint=True).astype(dtype)
    return rng.random(shape).astype(dtype)


def _grid(shape=(ROWS, COLS)):
    """``(x, y)`` pixel coordinates: x the column index, y the row index (increasing down)."""
    y, x = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    return x, y


def _snapshot(image: ImageArray):
    return (
        np.array(image.data, copy=True),
        np.array(np.ma.getmaskarray(image), copy=True),
        copy.deepcopy(dict(image.metadata)),
    )


def _assert_unchanged(image: ImageArray, snapshot):
    data, mask, metadata = snapshot
    np.testing.assert_array_equal(np.asarray(image.data), data)
    np.testing.assert_array_equal(np.ma.getmaskarray(image), mask)
    assert set(image.metadata) == set(metadata)
    for key, value in metadata.items():
        np.testing.assert_array_equal(image.metadata[key], value)


def _window_fit(data, good, row, col, points, poly):
    """Independent reference: lstsq fit of total degree ``poly`` to the good pixels of one window.

    Returns ``(value, d/dx, d/dy)`` at the window centre (x = column, y = row).
    """
    half = points // 2
    oy, ox = np.mgrid[-half : half + 1, -half : half + 1]
    window = data[row - half : row + half + 1, col - half : col + half + 1]
    use = good[row - half : row + half + 1, col - half : col + half + 1]
    terms = [(d - j, j) for d in range(poly + 1) for j in range(d + 1)]
    design = np.stack([(ox[use] ** px) * (oy[use] ** py) for px, py in terms], axis=1).astype(float)
    coefs = np.linalg.lstsq(design, window[use], rcond=None)[0]
    return coefs[0], coefs[terms.index((1, 0))] if poly else 0.0, coefs[terms.index((0, 1))] if poly else 0.0


# ---------------------------------------------------- every function, every door
CALLS = [
    ("denoise", {"weight": 0.2}),
    ("filter_image", {"sigma": 1.5}),
    ("sgolay2d", {"points": 5, "poly": 2}),
    ("level_image", {"poly_vert": 1, "poly_horiz": 2, "mode": None}),
]


@pytest.mark.parametrize(("name", "kwargs"), CALLS)
def test_function_method_and_file_agree(name, kwargs):
    data = _noise()
    func = getattr(filters, name)
    from_function = func(data, **kwargs)
    image = ImageArray(data.copy(), metadata={"sample": "Py"})
    from_method = getattr(image, name)(**kwargs)
    document = ImageFile(data.copy(), metadata={"sample": "Py"})
    returned = getattr(document, name)(**kwargs)
    assert isinstance(from_function, ImageArray)
    assert isinstance(from_method, ImageArray)
    assert returned is document
    assert from_method.shape == (ROWS, COLS)
    np.testing.assert_array_equal(from_function, from_method)
    np.testing.assert_array_equal(document.image, from_method)
    assert from_method["sample"] == "Py"
    assert from_method["history"] == [from_method["history"][0]]
    assert from_method["history"][0].startswith(f"{name}(")
    assert document.image["history"] == from_method["history"]


@pytest.mark.parametrize(("name", "kwargs"), CALLS)
def test_input_unchanged_and_history_appended_once(name, kwargs):
    mask = np.zeros((ROWS, COLS), bool)
    mask[3:6, 7:12] = True
    image = ImageArray(_noise(), mask=mask, metadata={"sample": "Py", "history": ["load()"]})
    before = _snapshot(image)
    result = getattr(image, name)(**kwargs)
    _assert_unchanged(image, before)
    assert result["history"][:-1] == ["load()"]
    assert len(result["history"]) == 2
    assert result["sample"] == "Py"
    np.testing.assert_array_equal(np.ma.getmaskarray(result), mask)
    assert not np.shares_memory(np.asarray(result.data), np.asarray(image.data))


def test_stonerimg_import_stays_light():
    # the filters import scikit-image and SciPy only when called
    import subprocess
    import sys

    code = "import sys, stonerimg; print(any(m.split('.')[0] in ('scipy', 'skimage') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ------------------------------------------------------------------- denoise
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weight", [0.05, 0.3])
def test_denoise_float_matches_skimage(dtype, weight):
    data = _noise(dtype=dtype)
    result = filters.denoise(data, weight=weight)
    expected = restoration.denoise_tv_chambolle(data, weight=weight)
    assert result.dtype == expected.dtype == dtype
    np.testing.assert_allclose(result, expected, rtol=1e-6 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_denoise_integers_keep_their_values(dtype):
    data = _noise(dtype=dtype)
    weight = 0.1 * np.iinfo(dtype).max  # in counts, like the data
    result = filters.denoise(data, weight=weight)
    assert result.dtype == np.float64
    expected = restoration.denoise_tv_chambolle(data.astype(np.float64), weight=weight)
    np.testing.assert_allclose(result, expected, rtol=1e-9)
    assert float(result.max()) > 1.0  # not rescaled onto [0, 1]
    # scikit-image's rescaling is one asfloat() away
    scaled = ImageArray(data).asfloat().denoise(weight=0.1)
    np.testing.assert_allclose(scaled, restoration.denoise_tv_chambolle(img_as_float(data), weight=0.1), atol=1e-9)


def test_denoise_passes_options_and_reduces_noise():
    rng = np.random.default_rng(3)
    clean = np.zeros((ROWS, COLS))
    clean[:, COLS // 2 :] = 1.0
    noisy = clean + rng.normal(0.0, 0.2, clean.shape)
    few = filters.denoise(noisy, weight=0.2, max_num_iter=3)
    np.testing.assert_allclose(few, restoration.denoise_tv_chambolle(noisy, weight=0.2, max_num_iter=3), rtol=1e-12)
    assert np.std(filters.denoise(noisy, weight=0.2) - clean) < 0.5 * np.std(noisy - clean)


def test_denoise_masked_pixels_take_part_and_mask_is_kept():
    data = _noise()
    mask = np.zeros(data.shape, bool)
    mask[10:15, 20:30] = True
    data[mask] = 5.0
    result = ImageArray(data, mask=mask).denoise(weight=0.1)
    np.testing.assert_allclose(result.data, restoration.denoise_tv_chambolle(data, weight=0.1), rtol=1e-12)
    np.testing.assert_array_equal(result.mask, mask)


def test_denoise_stack_frame_by_frame():
    stack = np.stack([_noise(seed=s) for s in range(3)])
    result = filters.denoise(stack, weight=0.1)
    assert result.shape == stack.shape
    for frame, out in zip(stack, result, strict=True):
        np.testing.assert_allclose(out, restoration.denoise_tv_chambolle(frame, weight=0.1), rtol=1e-12)


@pytest.mark.parametrize("weight", [0, -1.0, float("nan"), True, "strong"])
def test_denoise_bad_weight(weight):
    with pytest.raises(ValueError, match="weight"):
        filters.denoise(_noise(), weight=weight)


def test_denoise_refuses_channel_axis():
    with pytest.raises(TypeError, match="channel_axis"):
        filters.denoise(_noise(), channel_axis=0)


# --------------------------------------------------------------- filter_image
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.uint16])
@pytest.mark.parametrize("sigma", [0.5, 2, 4.0])
def test_filter_image_matches_skimage_without_mask(dtype, sigma):
    data = _noise(dtype=dtype)
    result = filters.filter_image(data, sigma=sigma)
    expected = skfilters.gaussian(data, sigma=sigma, preserve_range=True)
    assert result.dtype == expected.dtype
    np.testing.assert_allclose(result, expected, rtol=1e-6 if dtype == np.float32 else 1e-12)


def test_filter_image_sigma_pair_is_x_then_y():
    data = _noise()
    result = filters.filter_image(data, sigma=(3.0, 0.0))  # blur along x (columns) only
    np.testing.assert_allclose(result, ndimage.gaussian_filter1d(data, 3.0, axis=1, mode="nearest"), rtol=1e-12)
    both = filters.filter_image(data, sigma=(1.0, 2.5))
    np.testing.assert_allclose(both, skfilters.gaussian(data, sigma=(2.5, 1.0), preserve_range=True), rtol=1e-12)


def test_filter_image_passes_options():
    data = _noise()
    result = filters.filter_image(data, sigma=2, mode="constant", cval=0.5, truncate=2.0)
    expected = skfilters.gaussian(data, sigma=2, mode="constant", cval=0.5, truncate=2.0, preserve_range=True)
    np.testing.assert_allclose(result, expected, rtol=1e-12)


def _normalised_convolution(data, mask, sigma, **kwargs):
    """Reference: gaussian(data * w) / gaussian(w) with SciPy directly (weights 1 beyond the edge)."""
    weights = (~mask).astype(float)
    cval = kwargs.pop("cval", 0.0)
    num = ndimage.gaussian_filter(np.where(mask, 0.0, data), sigma, cval=cval, **kwargs)
    den = ndimage.gaussian_filter(weights, sigma, cval=1.0, **kwargs)
    return num / den


@pytest.mark.parametrize("sigma", [1.0, 2.5])
@pytest.mark.parametrize("mode", ["nearest", "reflect", "constant"])
def test_filter_image_masked_is_normalised_convolution(sigma, mode):
    data = _noise()
    mask = np.zeros(data.shape, bool)
    mask[5:9, 10:20] = True
    mask[0, :4] = True
    mask[20, 40] = True
    result = ImageArray(data, mask=mask).filter_image(sigma=sigma, mode=mode)
    expected = _normalised_convolution(data, mask, sigma, mode=mode)
    np.testing.assert_allclose(result.data[~mask], expected[~mask], rtol=1e-12)
    np.testing.assert_allclose(result.data[mask], expected[mask], rtol=1e-12)  # masked: fit from neighbours
    np.testing.assert_array_equal(result.mask, mask)


def test_filter_image_masked_pixels_do_not_leak():
    data = _noise()
    mask = np.zeros(data.shape, bool)
    mask[12:16, 22:27] = True
    clean = ImageArray(data.copy(), mask=mask).filter_image(sigma=2)
    spiked = data.copy()
    spiked[mask] = 1e9
    spiked[13, 23] = np.nan
    dirty = ImageArray(spiked, mask=mask).filter_image(sigma=2)
    np.testing.assert_allclose(dirty.data[~mask], clean.data[~mask], rtol=1e-12)
    assert np.isfinite(dirty.data[~mask]).all()
    plain = filters.filter_image(spiked, sigma=2)  # without the mask the spike leaks
    assert np.nanmax(np.abs(plain[~mask] - clean.data[~mask])) > 1e3


def test_filter_image_masked_block_out_of_reach_keeps_its_values():
    data = _noise()
    mask = np.zeros(data.shape, bool)
    mask[5:30, 5:45] = True
    result = ImageArray(data, mask=mask).filter_image(sigma=1, truncate=2.0)
    assert result.data[17, 25] == data[17, 25]
    assert np.isfinite(result.data).all()


def test_filter_image_stack_filters_each_frame():
    stack = np.stack([_noise(seed=s) for s in range(3)])
    result = filters.filter_image(stack, sigma=1.5)
    for frame, out in zip(stack, result, strict=True):
        np.testing.assert_allclose(out, skfilters.gaussian(frame, sigma=1.5, preserve_range=True), rtol=1e-12)


@pytest.mark.parametrize(
    ("sigma", "error"), [(-1, ValueError), ((1, -2), ValueError), (float("inf"), ValueError), ("wide", TypeError)]
)
def test_filter_image_bad_sigma(sigma, error):
    with pytest.raises(error, match="sigma"):
        filters.filter_image(_noise(), sigma=sigma)


@pytest.mark.parametrize("option", ["preserve_range", "channel_axis"])
def test_filter_image_refuses_options_it_sets(option):
    with pytest.raises(TypeError, match=option):
        filters.filter_image(_noise(), sigma=1, **{option: None})


# ------------------------------------------------------------------- sgolay2d
@pytest.mark.parametrize(("points", "poly"), [(5, 1), (7, 2), (9, 3), (15, 1)])
def test_sgolay2d_matches_window_lstsq_in_the_interior(points, poly):
    data = _noise(seed=4)
    smooth = filters.sgolay2d(data, points=points, poly=poly)
    dx = filters.sgolay2d(data, points=points, poly=poly, derivative="x")
    dy = filters.sgolay2d(data, points=points, poly=poly, derivative="y")
    good = np.ones(data.shape, bool)
    half = points // 2
    for row, col in [(half, half), (ROWS // 2, COLS // 3), (ROWS - half - 1, COLS - half - 1)]:
        value, slope_x, slope_y = _window_fit(data, good, row, col, points, poly)
        assert smooth[row, col] == pytest.approx(value, rel=1e-9, abs=1e-12)
        assert dx[row, col] == pytest.approx(slope_x, rel=1e-9, abs=1e-12)
        assert dy[row, col] == pytest.approx(slope_y, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize(("points", "poly"), [(5, 2), (11, 3), (9, 1)])
def test_sgolay2d_on_x_only_data_is_savgol_filter(points, poly):
    # for data that depends on x only, the 2-D total-degree fit is the 1-D Savitzky-Golay fit
    row = _noise(shape=(1, COLS), seed=5)[0]
    data = np.tile(row, (ROWS, 1))
    half = points // 2
    interior = slice(half, -half)
    smooth = filters.sgolay2d(data, points=points, poly=poly)
    expected = signal.savgol_filter(row, points, poly)
    np.testing.assert_allclose(smooth[:, interior], np.tile(expected, (ROWS, 1))[:, interior], atol=1e-12)
    dx = filters.sgolay2d(data, points=points, poly=poly, derivative="x")
    expected = signal.savgol_filter(row, points, poly, deriv=1)
    np.testing.assert_allclose(dx[:, interior], np.tile(expected, (ROWS, 1))[:, interior], atol=1e-12)
    dy = filters.sgolay2d(data, points=points, poly=poly, derivative="y")
    np.testing.assert_allclose(dy, 0.0, atol=1e-12)


@pytest.mark.parametrize("poly", [2, 3])
def test_sgolay2d_reproduces_a_quadratic_away_from_the_edges(poly):
    x, y = _grid()
    surface = 0.3 * x**2 - 0.2 * x * y + 0.1 * y**2 + 2 * x - 3 * y + 5
    points = 7
    half = points // 2
    inner = (slice(half, -half), slice(half, -half))
    smooth = filters.sgolay2d(surface, points=points, poly=poly)
    np.testing.assert_allclose(smooth[inner], surface[inner], rtol=1e-10)
    dx = filters.sgolay2d(surface, points=points, poly=poly, derivative="x")
    dy = filters.sgolay2d(surface, points=points, poly=poly, derivative="y")
    np.testing.assert_allclose(dx[inner], (0.6 * x - 0.2 * y + 2)[inner], atol=1e-9)
    np.testing.assert_allclose(dy[inner], (-0.2 * x + 0.2 * y - 3)[inner], atol=1e-9)


@pytest.mark.parametrize(("a", "b"), [(1.5, -0.7), (-2.0, 0.0), (0.0, 3.25)])
@pytest.mark.parametrize("points", [3, 9, 15])
def test_sgolay2d_plane_derivatives_everywhere(a, b, points):
    x, y = _grid()
    plane = a * x + b * y + 4.0  # y is the row index, increasing down
    dx = filters.sgolay2d(plane, points=points, derivative="x")
    dy = filters.sgolay2d(plane, points=points, derivative="y")
    np.testing.assert_allclose(dx, a, atol=1e-9)
    np.testing.assert_allclose(dy, b, atol=1e-9)
    np.testing.assert_allclose(filters.sgolay2d(plane, points=points), plane, atol=1e-9)
    both = filters.sgolay2d(plane, points=points, derivative="both")
    assert both.shape == (2, ROWS, COLS)
    np.testing.assert_allclose(both[0], a, atol=1e-9)
    np.testing.assert_allclose(both[1], b, atol=1e-9)


def test_sgolay2d_both_keeps_metadata_and_stacks_the_mask():
    mask = np.zeros((ROWS, COLS), bool)
    mask[4, 6] = True
    image = ImageArray(_noise(), mask=mask, metadata={"sample": "Py"})
    both = image.sgolay2d(points=5, derivative="both")
    assert both["sample"] == "Py"
    assert both["history"] == ["sgolay2d(points=5, derivative='both')"]
    np.testing.assert_array_equal(both.mask, np.stack([mask, mask]))
    np.testing.assert_allclose(both.data[0], image.sgolay2d(points=5, derivative="x").data, atol=1e-12)
    np.testing.assert_allclose(both.data[1], image.sgolay2d(points=5, derivative="y").data, atol=1e-12)


def test_sgolay2d_masked_pixels_are_left_out_of_the_fits():
    data = _noise(seed=6)
    mask = np.zeros(data.shape, bool)
    mask[15:18, 20:26] = True
    mask[30, 8] = True
    spiked = data.copy()
    spiked[mask] = 1e6
    points, poly = 7, 2
    image = ImageArray(spiked, mask=mask)
    smooth = image.sgolay2d(points=points, poly=poly)
    dx = image.sgolay2d(points=points, poly=poly, derivative="x")
    dy = image.sgolay2d(points=points, poly=poly, derivative="y")
    np.testing.assert_array_equal(smooth.mask, mask)
    assert np.abs(smooth.data).max() < 10
    for row, col in [(14, 21), (16, 23), (19, 27), (30, 8), (28, 10), (5, 40)]:
        value, slope_x, slope_y = _window_fit(spiked, ~mask, row, col, points, poly)
        assert smooth.data[row, col] == pytest.approx(value, rel=1e-8, abs=1e-10)
        assert dx.data[row, col] == pytest.approx(slope_x, rel=1e-8, abs=1e-10)
        assert dy.data[row, col] == pytest.approx(slope_y, rel=1e-8, abs=1e-10)
    # far from the mask the result is the plain filter's
    plain = filters.sgolay2d(data, points=points, poly=poly)
    np.testing.assert_allclose(smooth.data[:10, :], plain[:10, :], atol=1e-12)


def test_sgolay2d_masked_quadratic_still_exact():
    x, y = _grid()
    surface = 0.05 * x**2 + 0.02 * x * y - 0.03 * y**2 + x - y
    mask = np.zeros(surface.shape, bool)
    mask[10:14, 20:25] = True
    dirty = surface.copy()
    dirty[mask] = -1e9
    result = ImageArray(dirty, mask=mask).sgolay2d(points=7, poly=2)
    np.testing.assert_allclose(result.data[3:-3, 3:-3], surface[3:-3, 3:-3], rtol=1e-9, atol=1e-9)


def test_sgolay2d_nan_does_not_spread():
    data = _noise()
    data[20, 30] = np.nan
    result = filters.sgolay2d(data, points=5)
    assert np.isfinite(result).all()
    assert not np.ma.is_masked(result)
    value, _, _ = _window_fit(data, np.isfinite(data), 21, 31, 5, 1)
    assert result[21, 31] == pytest.approx(value, rel=1e-9)


def test_sgolay2d_undetermined_windows_become_nan_and_masked():
    data = _noise()
    mask = np.zeros(data.shape, bool)
    mask[5:30, 5:45] = True
    mask[17, 25] = False  # an island: one good pixel cannot fix a plane
    result = ImageArray(data, mask=mask).sgolay2d(points=5, poly=1)
    assert np.isnan(result.data[17, 25])
    assert result.mask[17, 25]
    assert np.isfinite(result.data[~result.mask]).all()
    assert result.mask[mask].all()


@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
def test_sgolay2d_dtypes(dtype):
    data = _noise(dtype=dtype)
    result = filters.sgolay2d(data, points=5)
    assert result.dtype == (np.float32 if dtype == np.float32 else np.float64)
    expected = filters.sgolay2d(data.astype(np.float64), points=5)
    np.testing.assert_allclose(result, expected, rtol=1e-6 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"points": 4}, ValueError, "points: must be odd"),
        ({"points": 3, "poly": 3}, ValueError, "points"),
        ({"points": 5.0}, TypeError, "points"),
        ({"poly": -1}, ValueError, "poly"),
        ({"poly": 0, "derivative": "x"}, ValueError, "poly"),
        ({"derivative": "z"}, ValueError, "derivative"),
        ({"points": 75}, ValueError, "points"),
    ],
)
def test_sgolay2d_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        filters.sgolay2d(_noise(), **kwargs)


def test_sgolay2d_needs_2d():
    with pytest.raises(ValueError, match="2-D"):
        filters.sgolay2d(np.zeros((2, 10, 10)), points=3)


def test_sgolay2d_window_of_one_is_identity():
    data = _noise()
    np.testing.assert_allclose(filters.sgolay2d(data, points=1, poly=0), data, rtol=1e-12)


# ---------------------------------------------------------------- level_image
def _stoner_level_reference(data, poly_vert, poly_horiz):
    """Stoner's algorithm for an unmasked image: fits to the column and row averages."""
    rows, cols = data.shape
    p_horiz = np.polyfit(np.arange(cols), data.mean(axis=0), poly_horiz)
    p_horiz[-1] -= data.mean()
    p_vert = np.polyfit(np.arange(rows), data.mean(axis=1), poly_vert)
    p_vert[-1] -= data.mean()
    return p_vert, p_horiz


def test_level_image_tilted_plane_plus_quadratic_is_flat():
    x, y = _grid()
    a, b, q = 0.01, -0.02, 3e-4
    background = a * x + b * y + q * (x - 20) ** 2
    data = background - background.mean()  # zero mean: levelled to zero
    result = filters.level_image(data, poly_vert=1, poly_horiz=2, mode=None)
    np.testing.assert_allclose(result, 0.0, atol=1e-12)
    p_h, p_v = result["poly_horiz_subtract"], result["poly_vert_subtract"]
    assert p_h.shape == (3,) and p_v.shape == (2,)
    np.testing.assert_allclose(p_h[:2], [q, a - 40 * q], rtol=1e-9)
    assert p_v[0] == pytest.approx(b, rel=1e-9)
    # each subtracted polynomial averages zero, so the mean level stays
    assert np.polyval(p_h, x).mean() == pytest.approx(0.0, abs=1e-12)
    assert np.polyval(p_v, y).mean() == pytest.approx(0.0, abs=1e-12)
    offset = filters.level_image(data + 0.25, poly_horiz=2, mode=None)
    np.testing.assert_allclose(offset, 0.25, atol=1e-12)


@pytest.mark.parametrize(("poly_vert", "poly_horiz"), [(1, 1), (2, 3), (0, 2), (3, 0)])
def test_level_image_without_mask_matches_stoner_fits(poly_vert, poly_horiz):
    data = _noise(seed=7)
    result = filters.level_image(data, poly_vert=poly_vert, poly_horiz=poly_horiz, mode=None)
    p_vert, p_horiz = _stoner_level_reference(data, max(poly_vert, 1), max(poly_horiz, 1))
    if poly_vert == 0:
        p_vert = np.zeros(1)
    if poly_horiz == 0:
        p_horiz = np.zeros(1)
    np.testing.assert_allclose(result["poly_vert_subtract"], p_vert, rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(result["poly_horiz_subtract"], p_horiz, rtol=1e-7, atol=1e-12)
    x, y = _grid()
    np.testing.assert_allclose(result, data - np.polyval(p_vert, y) - np.polyval(p_horiz, x), atol=1e-12)


def test_level_image_masked_outliers_do_not_affect_the_fit():
    x, y = _grid()
    data = 0.02 * x - 0.01 * y + 5e-4 * x**2
    mask = np.zeros(data.shape, bool)
    mask[2:9, 3:30] = True  # an uneven mask: column averages would be biased
    mask[30, 50] = True
    dirty = data.copy()
    dirty[mask] = 1e4
    result = ImageArray(dirty, mask=mask).level_image(poly_horiz=2, mode=None)
    flat = result.data[~mask]
    assert np.ptp(flat) < 1e-10
    assert flat.mean() == pytest.approx(data[~mask].mean(), rel=1e-12)
    np.testing.assert_allclose(result["poly_horiz_subtract"][:2], [5e-4, 0.02], rtol=1e-9)
    assert result["poly_vert_subtract"][0] == pytest.approx(-0.01, rel=1e-9)
    np.testing.assert_array_equal(result.mask, mask)
    # masked pixels are levelled too
    expected = dirty[mask] - np.polyval(result["poly_vert_subtract"], y[mask])
    np.testing.assert_allclose(
        result.data[mask], expected - np.polyval(result["poly_horiz_subtract"], x[mask]), rtol=1e-12
    )


def test_level_image_nan_left_out_of_the_fit():
    x, y = _grid()
    data = 0.3 * x - 0.1 * y
    data[4, 5] = np.nan
    result = filters.level_image(data, mode=None)
    assert np.isnan(result[4, 5])
    finite = np.isfinite(data)
    assert np.ptp(np.asarray(result)[finite]) < 1e-10


@pytest.mark.parametrize("box", [(0, 20, None, None), (0.0, 0.4, 0, 37), (5, 25, 10, 30)])
def test_level_image_box_restricts_the_fit(box):
    x, y = _grid()
    data = np.where(x < 26, 0.05 * x + 0.01 * y, 3.0 - 0.2 * x)  # a different tilt on the right
    result = filters.level_image(data, box=box, mode=None)
    assert result.shape == data.shape
    np.testing.assert_allclose(result["poly_horiz_subtract"][0], 0.05, rtol=1e-9)
    np.testing.assert_allclose(result["poly_vert_subtract"][0], 0.01, rtol=1e-9)
    # whole-image coordinates: the box's region is flat at its own mean, the rest is not
    xmin, xmax, ymin, ymax = stonerimg.funcs.parse_box(ImageArray(data), box)
    region = np.asarray(result)[ymin:ymax, xmin:xmax]
    np.testing.assert_allclose(region, data[ymin:ymax, xmin:xmax].mean(), atol=1e-10)
    assert np.ptp(np.asarray(result)[:, 30:]) > 1.0
    whole = filters.level_image(data, mode=None)
    assert whole["poly_horiz_subtract"][0] != pytest.approx(0.05, rel=1e-3)


def test_level_image_box_from_metadata():
    x, y = _grid()
    data = np.where(x < 26, 0.05 * x, -0.2 * x)
    image = ImageArray(data, metadata={"roi": (0, 20, 0, 37)})
    assert image.level_image(box="roi", mode=None)["poly_horiz_subtract"][0] == pytest.approx(0.05)


def test_level_image_non_square_orientation():
    y, x = np.mgrid[0:20, 0:70].astype(float)
    data = 0.004 * x  # tilted along x only, on a wide image
    result = filters.level_image(data, mode=None)
    assert result.shape == (20, 70)
    assert result["poly_horiz_subtract"][0] == pytest.approx(0.004)
    assert result["poly_vert_subtract"][0] == pytest.approx(0.0, abs=1e-15)
    tall = filters.level_image(data.T.copy(), mode=None)  # the same tilt along y of a tall image
    assert tall["poly_vert_subtract"][0] == pytest.approx(0.004)
    assert tall["poly_horiz_subtract"][0] == pytest.approx(0.0, abs=1e-15)


def test_level_image_given_poly_is_subtracted_as_it_is():
    data = _noise()
    x, y = _grid()
    p_vert, p_horiz = [0.001, -0.02, 0.3], [0.01, 0.1]
    result = filters.level_image(data, poly=(p_vert, p_horiz), mode=None)
    np.testing.assert_allclose(result, data - np.polyval(p_vert, y) - np.polyval(p_horiz, x), rtol=1e-12)
    np.testing.assert_array_equal(result["poly_vert_subtract"], p_vert)
    np.testing.assert_array_equal(result["poly_horiz_subtract"], p_horiz)
    only_x = filters.level_image(data, poly=(None, p_horiz), mode=None)
    np.testing.assert_allclose(only_x, data - np.polyval(p_horiz, x), rtol=1e-12)
    np.testing.assert_array_equal(only_x["poly_vert_subtract"], [0.0])


def test_level_image_recorded_poly_levels_another_image_the_same_way():
    x, y = _grid()
    background = 0.02 * x - 0.03 * y + 1e-4 * x**2
    first = filters.level_image(background + _noise() * 0.01, poly_horiz=2, mode=None)
    recorded = (first["poly_vert_subtract"], first["poly_horiz_subtract"])
    second = filters.level_image(background, poly=recorded, mode=None)
    again = filters.level_image(background + 0.01 * _noise(), poly=recorded, mode=None)
    np.testing.assert_allclose(np.asarray(again) - np.asarray(second), 0.01 * _noise(), atol=1e-12)


def test_level_image_zero_orders_subtract_nothing():
    data = _noise()
    result = filters.level_image(data, poly_vert=0, poly_horiz=0, mode=None)
    np.testing.assert_array_equal(result, data)
    np.testing.assert_array_equal(result["poly_vert_subtract"], [0.0])
    np.testing.assert_array_equal(result["poly_horiz_subtract"], [0.0])


def test_level_image_clip_mode_saturates_to_the_float_range():
    x, y = _grid()
    data = 0.5 * np.sin(x / 3) + 0.1 * x  # levelled: a +-0.5 ripple around the mean
    data = data - data.mean() + 0.8
    with pytest.warns(UserWarning, match="clipped"):
        result = filters.level_image(data, mode="clip")
    raw = filters.level_image(data)
    np.testing.assert_allclose(result, np.clip(raw, -1, 1))
    assert raw.max() > 1.0 and result.max() == 1.0


def test_level_image_clip_mode_quiet_when_nothing_is_clipped():
    x, y = _grid()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = filters.level_image(0.001 * x + 0.5, mode="clip")
    np.testing.assert_allclose(result, 0.5 + 0.001 * (COLS - 1) / 2)


def test_level_image_integer_input():
    x, y = _grid()
    data = (1000 + 20 * x + 5 * y).astype(np.uint16)
    result = filters.level_image(data)
    assert result.dtype == np.float64
    np.testing.assert_allclose(result, data.astype(float).mean(), atol=1e-9)  # in the input's units
    with pytest.warns(UserWarning, match="uint16 range"):
        clipped = filters.level_image(np.full((3, 4), 500, np.uint16), poly=(None, [1000.0, 0.0]), mode="clip")
    np.testing.assert_array_equal(clipped, [[500.0, 0.0, 0.0, 0.0]] * 3)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_level_image_norm_mode(dtype):
    x, y = _grid()
    data = (np.sin(x / 4) + 0.3 * y).astype(dtype)
    mask = np.zeros(data.shape, bool)
    mask[0, 0] = True
    data[0, 0] = 100.0
    result = ImageArray(data, mask=mask).level_image(mode="norm")
    assert result.dtype == dtype
    assert float(result.min()) == pytest.approx(-1.0) and float(result.max()) == pytest.approx(1.0)
    raw = ImageArray(data, mask=mask).level_image(mode=None)
    low, high = raw.min(), raw.max()  # unmasked range
    expected = (raw.data.astype(float) - low) * 2 / (high - low) - 1
    np.testing.assert_allclose(result.data, expected, rtol=1e-5)
    assert "poly_vert_subtract" in result.metadata


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("size", [1e-9, 1.0, 3e4, 1e12])
@pytest.mark.parametrize(("poly_vert", "poly_horiz"), [(1, 1), (2, 3)])
def test_level_image_norm_of_a_flat_result_says_so(dtype, size, poly_vert, poly_horiz):
    # a plane (or a polynomial the fit can take out) leaves only round-off, whose size depends on the
    # CPU's last bits; "flat" is judged against the data's scale, so the refusal cannot depend on them
    x, y = _grid()
    u, v = x / COLS, y / ROWS
    background = 0.7 + 0.3 * u + 0.2 * v + (0.1 * v**2 if poly_vert > 1 else 0) + (0.05 * u**3 if poly_horiz > 2 else 0)
    image = ImageArray((size * background).astype(dtype))
    with pytest.raises(ValueError, match="mode='norm'.*flat.*mode=None"):
        filters.level_image(image, poly_vert=poly_vert, poly_horiz=poly_horiz, mode="norm")
    # the same levelling without norm keeps the (flat) values: the mean level to the dtype's precision
    kept = filters.level_image(image, poly_vert=poly_vert, poly_horiz=poly_horiz, mode=None)
    np.testing.assert_allclose(kept.data, np.mean(image.data, dtype=np.float64), rtol=1e3 * np.finfo(dtype).eps)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("size", [1e-9, 1.0, 1e12])
def test_level_image_norm_of_a_small_real_signal_normalises_it(dtype, size):
    # a signal a million times below the background, but far above round-off, is not "flat"
    x, y = _grid()
    relative = 1e-6 if dtype == np.float64 else 1e-2
    signal = np.sin(x / 3.0) * np.cos(y / 5.0)
    image = ImageArray((size * (1.0 + 0.5 * x / COLS + relative * signal)).astype(dtype))
    result = filters.level_image(image, mode="norm")
    assert result.min() == -1.0
    assert result.max() == 1.0
    # normalised, the levelled signal matches the levelled input pattern (independent reference: the signal)
    reference = signal - signal.mean()
    reference = 2 * (reference - reference.min()) / np.ptp(reference) - 1
    assert np.corrcoef(result.data.ravel(), reference.ravel())[0, 1] > 0.99


def test_level_image_norm_with_masked_noise_looks_only_at_unmasked_pixels():
    x, y = _grid()
    data = 0.3 + 0.01 * x
    mask = np.zeros(data.shape, bool)
    mask[0, :5] = True
    data[0, :5] = 50.0  # a masked spike does not make the unmasked plane "not flat"
    with pytest.raises(ValueError, match="flat"):
        filters.level_image(ImageArray(data, mask=mask), mode="norm")


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"mode": "squash"}, ValueError, "mode"),
        ({"poly_vert": -1}, ValueError, "poly_vert"),
        ({"poly_horiz": 1.5}, TypeError, "poly_horiz"),
        ({"poly_horiz": 4, "box": (0, 3, None, None)}, ValueError, "poly_horiz"),
        ({"poly_vert": 2, "box": (None, None, 0, 2)}, ValueError, "poly_vert"),
        ({"poly": [1.0, 2.0, 3.0]}, ValueError, "poly"),
        ({"poly": ([[1.0]], None)}, ValueError, "poly"),
        ({"box": (0, 0, 0, 0)}, ValueError, "box"),
    ],
)
def test_level_image_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        filters.level_image(_noise(), **kwargs)


def test_level_image_everything_masked_in_the_box():
    mask = np.zeros((ROWS, COLS), bool)
    mask[:10, :10] = True
    with pytest.raises(ValueError, match="no unmasked"):
        ImageArray(_noise(), mask=mask).level_image(box=(0, 10, 0, 10))


def test_level_image_needs_2d():
    with pytest.raises(ValueError, match="2-D"):
        filters.level_image(np.zeros((2, 5, 5)))


# ---------------------------------------------------------------- real data
def test_filters_on_a_kerr_image(kerr_dir):
    document = stonerimg.load(kerr_dir / "kermit.png")
    raw = np.asarray(document.image.data).copy()
    assert raw.shape == (479, 359)
    smooth = document.image.filter_image(sigma=2)
    np.testing.assert_allclose(smooth, skfilters.gaussian(raw, sigma=2, preserve_range=True), rtol=1e-12)
    levelled = document.image.level_image(poly_vert=2, poly_horiz=2, mode=None)
    p_vert, p_horiz = _stoner_level_reference(raw.astype(float), 2, 2)
    np.testing.assert_allclose(levelled["poly_horiz_subtract"], p_horiz, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(levelled["poly_vert_subtract"], p_vert, rtol=1e-6, atol=1e-9)
    returned = document.sgolay2d(points=7, derivative="x")
    assert returned is document
    assert document.image.shape == (479, 359)
    assert document.image["history"][-1] == "sgolay2d(points=7, derivative='x')"
    np.testing.assert_array_equal(np.asarray(stonerimg.load(kerr_dir / "kermit.png").image.data), raw)


@pytest.mark.parametrize(
    ("folder", "name"),
    [
        ("stxm", "Sample_Image_2017-10-15_100.hdf5"),  # counts 1.4e4 .. 4.4e4: clipping gave 1.0 everywhere
        ("kerr", "fields/000_field235_run0_unproccessed.png"),  # uint16: clipping lost ~78 000 pixels
    ],
)
def test_level_image_default_keeps_the_levelled_values_of_real_images(sample_data, folder, name):
    image = stonerimg.load(sample_data / folder / name).image
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no clip warning: nothing is clipped
        result = image.level_image()
    data = np.asarray(image.data, dtype=np.float64)
    rows, cols = data.shape
    # independent reference: the recorded polynomials subtracted with numpy.polyval
    background = (
        np.polyval(result["poly_vert_subtract"], np.arange(rows))[:, None]
        + np.polyval(result["poly_horiz_subtract"], np.arange(cols))[None, :]
    )
    np.testing.assert_allclose(result.data, data - background, rtol=1e-9, atol=1e-9 * np.abs(data).max())
    assert result.mean() == pytest.approx(data.mean(), rel=1e-6)  # the mean level is kept
    if folder == "stxm":
        assert float(result.min()) > 1.0e3 and float(result.max()) > 1.0e4
    else:
        info = np.iinfo(np.asarray(image.data).dtype)
        outside = np.count_nonzero((result.data < info.min) | (result.data > info.max))
        assert outside > 10_000  # values beyond the uint16 range are kept, not saturated
