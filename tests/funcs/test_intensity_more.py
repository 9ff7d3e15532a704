"""Tests for the contrast functions of stonerimg.funcs.intensity.

adjust_contrast, quantize, remove_outliers, threshold_minmax and subtract_image are
checked against independent references computed on the same data:
``skimage.exposure.rescale_intensity``, ``np.percentile``, ``np.quantile``,
``np.digitize``, ``np.clip`` and closed forms.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
from skimage.exposure import rescale_intensity

from stonerimg import ImageArray, ImageFile
from stonerimg.funcs import intensity

NAMES = ["adjust_contrast", "quantize", "remove_outliers", "threshold_minmax", "subtract_image"]


# ------------------------------------------------------------------ helpers
def _data(dtype=np.float64, shape=(80, 300), seed=0):
    """Deterministic non-square data on the dtype's natural scale."""
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return rng.random(shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(max(int(info.min), 0), int(info.max), shape, endpoint=True).astype(dtype)


def _snapshot(im: ImageArray):
    return (
        np.array(im.data, copy=True),
        np.ma.getmaskarray(im).copy(),
        copy.deepcopy(dict(im.metadata)),
    )


def _assert_unchanged(im: ImageArray, snap):
    data, mask, metadata = snap
    np.testing.assert_array_equal(np.asarray(im.data), data)
    np.testing.assert_array_equal(np.ma.getmaskarray(im), mask)
    assert dict(im.metadata) == metadata


def _call_args(name, shape):
    """Arguments that make each function do real work on an image of ``shape``."""
    background = np.full(shape, 0.5)
    return {
        "adjust_contrast": ((0.1, 0.9),),
        "quantize": ([0.0, 1.0, 2.0],),
        "remove_outliers": ((0.05, 0.95),),
        "threshold_minmax": (0.2, 0.8),
        "subtract_image": (background,),
    }[name]


def _reference(name, data):
    """The expected result for ``_call_args`` on unmasked float ``data``."""
    if name == "adjust_contrast":
        return rescale_intensity(data, in_range=tuple(np.percentile(data, [10, 90])))
    if name == "quantize":
        inner = np.linspace(data.min(), data.max(), 4)[1:-1]
        return np.array([0.0, 1.0, 2.0])[np.digitize(data, inner, right=True)]
    if name == "remove_outliers":
        return np.clip(data, *np.quantile(data, [0.05, 0.95]))
    if name == "threshold_minmax":
        return (data > 0.2) & (data < 0.8)
    return np.clip(16 * (data - 0.5) + 0.5, 0, 1)


# ------------------------------------------------------------------ common behaviour
@pytest.mark.parametrize("name", NAMES)
def test_exported_and_bound(name):
    assert name in intensity.__all__
    assert callable(getattr(ImageArray, name))
    assert callable(getattr(ImageFile, name))


@pytest.mark.parametrize("name", NAMES)
def test_plain_ndarray_function(name):
    data = _data()
    result = getattr(intensity, name)(data, *_call_args(name, data.shape))
    assert isinstance(result, ImageArray)
    assert result.shape == (80, 300)
    np.testing.assert_allclose(np.asarray(result.data), _reference(name, data), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_method_keeps_metadata_history_and_input(name):
    data = _data()
    im = ImageArray(data, metadata={"sample": "Py", "history": ["load()"]})
    snap = _snapshot(im)
    result = getattr(im, name)(*_call_args(name, data.shape))
    _assert_unchanged(im, snap)
    assert result is not im
    assert result["sample"] == "Py"
    assert result.metadata is not im.metadata
    assert len(result["history"]) == 2
    assert result["history"][0] == "load()"
    assert result["history"][1].startswith(f"{name}(")
    np.testing.assert_allclose(np.asarray(result.data), _reference(name, data), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_imagefile_in_place(name):
    data = _data()
    doc = ImageFile(data.copy(), metadata={"sample": "Py"})
    original = doc.image
    snap = _snapshot(original)
    returned = getattr(doc, name)(*_call_args(name, data.shape))
    assert returned is doc
    assert doc.image is not original
    expected = _reference(name, data)
    if expected.shape == data.shape and expected.dtype == data.dtype:
        # same shape and dtype: written into the buffer (doc/memory.md); the old object keeps its metadata
        assert np.shares_memory(doc.image, original)
        np.testing.assert_allclose(np.asarray(original.data), expected, rtol=1e-12, atol=1e-12)
        assert dict(original.metadata) == snap[2]
    else:
        _assert_unchanged(original, snap)
    assert doc.image["sample"] == "Py"
    assert len(doc.image["history"]) == 1
    np.testing.assert_allclose(np.asarray(doc.image.data), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_mask_kept(name):
    data = _data()
    mask = np.zeros(data.shape, bool)
    mask[10:20, 200:260] = True
    im = ImageArray(data, mask=mask)
    snap = _snapshot(im)
    result = getattr(im, name)(*_call_args(name, data.shape))
    _assert_unchanged(im, snap)
    np.testing.assert_array_equal(np.ma.getmaskarray(result), mask)
    assert np.ma.getmask(result) is not np.ma.getmask(im)


# ------------------------------------------------------------------ adjust_contrast
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32, np.float64])
@pytest.mark.parametrize("lims", [(0.1, 0.9), (0.0, 1.0), (0.02, 0.5)])
def test_adjust_contrast_percentiles_match_skimage(dtype, lims):
    data = _data(dtype)
    result = ImageArray(data).adjust_contrast(lims)
    vmin, vmax = result["adjust_contrast"]
    assert isinstance(result["adjust_contrast"], tuple)
    np.testing.assert_allclose((vmin, vmax), np.percentile(data, np.array(lims) * 100), rtol=1e-12)
    expected = rescale_intensity(data, in_range=(vmin, vmax))
    assert result.dtype == data.dtype
    np.testing.assert_array_equal(np.asarray(result.data), expected)
    # and the same as from limits found independently (one count for integer rounding)
    independent = rescale_intensity(data, in_range=tuple(np.percentile(data, np.array(lims) * 100)))
    np.testing.assert_allclose(
        np.asarray(result.data, float), independent.astype(float), atol=1 if data.dtype.kind == "u" else 1e-6
    )


@pytest.mark.parametrize("lims", [(0.2, 0.7), (-0.5, 0.5), (0, 3)])
def test_adjust_contrast_absolute(lims):
    data = _data() * 2 - 0.5
    result = intensity.adjust_contrast(data, lims, percent=False)
    assert result["adjust_contrast"] == (float(lims[0]), float(lims[1]))
    np.testing.assert_array_equal(np.asarray(result.data), rescale_intensity(data, in_range=lims))


def test_adjust_contrast_output_range():
    data = np.linspace(-1, 1, 21).reshape(3, 7)
    positive = ImageArray(data).adjust_contrast((0.0, 0.5), percent=False)
    assert (positive.min(), positive.max()) == (0.0, 1.0)
    negative = ImageArray(data).adjust_contrast((-0.5, 0.5), percent=False)
    assert (negative.min(), negative.max()) == (-1.0, 1.0)
    ints = ImageArray((data * 100 + 100).astype(np.uint16)).adjust_contrast()
    assert ints.dtype == np.uint16 and ints.max() == 65535 and ints.min() == 0


def test_adjust_contrast_ignores_masked_and_nan():
    data = _data()
    mask = np.zeros(data.shape, bool)
    mask[:, :30] = True
    data[:, :30] = 1e6  # huge values, all masked
    data[5, 100] = np.nan
    im = ImageArray(data, mask=mask)
    result = im.adjust_contrast((0.1, 0.9))
    good = data[~mask & np.isfinite(data)]
    np.testing.assert_allclose(result["adjust_contrast"], np.percentile(good, [10, 90]), rtol=1e-12)
    assert "adjust_contrast" not in im.metadata
    assert np.isnan(result.data[5, 100])


def test_adjust_contrast_not_transposed():
    data = np.tile(np.linspace(0, 1, 300), (80, 1))
    result = ImageArray(data).adjust_contrast((0.25, 0.75), percent=False)
    assert result.shape == (80, 300)
    np.testing.assert_array_equal(result.data[:, :75], 0.0)
    np.testing.assert_array_equal(result.data[:, -75:], 1.0)


@pytest.mark.parametrize(
    ("lims", "percent", "error", "match"),
    [
        ((0.9, 0.1), True, ValueError, "lims"),
        ((-0.1, 0.5), True, ValueError, "lims"),
        ((0.1, 1.5), True, ValueError, "lims"),
        ((0.1, 0.5, 0.9), True, ValueError, "lims"),
        (0.5, True, ValueError, "lims"),
        ("ab", True, TypeError, "lims"),
        ((2.0, 1.0), False, ValueError, "lims"),
        ((1.0, 1.0), False, ValueError, "lims"),
        ((0.0, np.inf), False, ValueError, "lims"),
    ],
)
def test_adjust_contrast_bad_lims(lims, percent, error, match):
    with pytest.raises(error, match=match):
        intensity.adjust_contrast(_data(), lims, percent=percent)


def test_adjust_contrast_flat_or_empty():
    with pytest.raises(ValueError, match="no contrast"):
        intensity.adjust_contrast(np.ones((4, 5)))
    with pytest.raises(ValueError, match="masked"):
        ImageArray(np.ones((4, 5)), mask=np.ones((4, 5), bool)).adjust_contrast()
    with pytest.raises(ValueError, match="image"):
        intensity.adjust_contrast(np.ones((4, 5), complex))


def test_adjust_contrast_real_kerr_image(kerr_dir):
    doc = ImageFile(kerr_dir / "kermit.png")
    data = np.asarray(doc.image.data).copy()
    assert doc.adjust_contrast() is doc
    limits = np.percentile(data, [10, 90])
    np.testing.assert_allclose(doc.image["adjust_contrast"], limits, rtol=1e-12)
    assert doc.image.dtype == data.dtype and doc.image.shape == data.shape
    np.testing.assert_array_equal(np.asarray(doc.image.data), rescale_intensity(data, in_range=tuple(limits)))


# ------------------------------------------------------------------ quantize
@pytest.mark.parametrize("output", [[0, 1], [-1.0, 0.0, 1.0], [10, 20, 30, 40, 50]])
@pytest.mark.parametrize("dtype", [np.uint16, np.float32, np.float64])
def test_quantize_default_levels_equal_bands(output, dtype):
    data = _data(dtype)
    result = ImageArray(data).quantize(output)
    inner = np.linspace(float(data.min()), float(data.max()), len(output) + 1)[1:-1]
    expected = np.asarray(output)[np.digitize(data, inner, right=True)]
    np.testing.assert_array_equal(np.asarray(result.data), expected)
    # each band is (nearly) as populated as uniform data allows, extremes included
    assert result.data[data == data.min()].tolist() == [output[0]] * int((data == data.min()).sum())
    assert result.data[data == data.max()].tolist() == [output[-1]] * int((data == data.max()).sum())


def test_quantize_boundaries():
    data = _data()
    result = intensity.quantize(data, [1, 2, 3], levels=[0.3, 0.6])
    expected = np.array([1, 2, 3])[np.digitize(data, [0.3, 0.6], right=True)]
    np.testing.assert_array_equal(np.asarray(result.data), expected)
    assert result.dtype == np.float64  # float images keep their dtype


def test_quantize_band_edges_leave_outside_pixels():
    data = np.array([[0.0, 0.1, 0.2, 0.25, 0.3, 0.5, 0.7, 0.71, 0.9]])
    result = intensity.quantize(data, [-1.0, 1.0], levels=[0.1, 0.25, 0.7])
    # first band [0.1, 0.25], second (0.25, 0.7]; outside: unchanged
    np.testing.assert_array_equal(result.data, [[0.0, -1.0, -1.0, -1.0, 1.0, 1.0, 1.0, 0.71, 0.9]])


def test_quantize_masked_ignored_and_kept():
    data = _data()
    mask = np.zeros(data.shape, bool)
    mask[0, :] = True
    data[0, :] = np.linspace(-100, 100, data.shape[1])  # masked extremes must not set the bands
    im = ImageArray(data, mask=mask)
    result = im.quantize([0.0, 1.0])
    good = data[~mask]
    middle = (good.min() + good.max()) / 2
    expected = np.where(data > middle, 1.0, 0.0)
    expected[mask] = data[mask]
    np.testing.assert_array_equal(np.asarray(result.data), expected)
    np.testing.assert_array_equal(np.ma.getmaskarray(result), mask)


def test_quantize_nan_stays():
    data = _data()
    data[3, 7] = np.nan
    result = intensity.quantize(data, [0.0, 1.0])
    assert np.isnan(result.data[3, 7])
    assert np.isfinite(np.delete(result.data.ravel(), 3 * 300 + 7)).all()


@pytest.mark.parametrize(
    ("dtype", "output", "expected"),
    [
        (np.uint16, [0, 1, 2], np.uint16),
        (np.uint8, [0, 300], np.int64),
        (np.uint8, [0.5, 1.5], np.float64),
        (np.uint8, [0.0, 255.0], np.uint8),
        (np.float32, [0.0, 0.5], np.float32),
        (np.float32, [0.1, 0.2], np.float64),
    ],
)
def test_quantize_dtype(dtype, output, expected):
    result = intensity.quantize(_data(dtype, shape=(6, 9)), output)
    assert result.dtype == expected
    assert set(np.unique(result.data)) <= {np.asarray(output).astype(expected)[i] for i in range(len(output))}


@pytest.mark.parametrize(
    ("output", "levels", "match"),
    [
        ([], None, "output"),
        ([[0, 1], [2, 3]], None, "output"),
        (["a", "b"], None, "output"),
        ([0, 1, 2], [0.5], "levels"),
        ([0, 1, 2], [0.1, 0.2, 0.3], "levels"),
        ([0, 1, 2], [0.6, 0.3], "levels"),
        ([0, 1], [[0.5]], "levels"),
        ([0, 1], ["x"], "levels"),
    ],
)
def test_quantize_bad_arguments(output, levels, match):
    with pytest.raises(ValueError, match=match):
        intensity.quantize(_data(shape=(4, 6)), output, levels=levels)


# ------------------------------------------------------------------ remove_outliers
@pytest.mark.parametrize("percentiles", [(0.01, 0.99), (0.1, 0.8), (0.0, 0.5)])
def test_remove_outliers_clips_at_quantiles(percentiles):
    data = _data() * 10
    data[0, 0], data[-1, -1] = -1e4, 1e4
    result = ImageArray(data).remove_outliers(percentiles)
    np.testing.assert_array_equal(np.asarray(result.data), np.clip(data, *np.quantile(data, percentiles)))


def test_remove_outliers_integer_keeps_dtype():
    data = _data(np.uint16)
    result = intensity.remove_outliers(data, (0.05, 0.95))
    low, high = np.rint(np.quantile(data, [0.05, 0.95])).astype(int)
    assert result.dtype == np.uint16
    np.testing.assert_array_equal(np.asarray(result.data), np.clip(data, low, high))


def test_remove_outliers_replace_value_and_pair():
    data = _data()
    low, high = np.quantile(data, [0.1, 0.9])
    nan = intensity.remove_outliers(data, (0.1, 0.9), replace=np.nan)
    np.testing.assert_array_equal(np.asarray(nan.data), np.where((data < low) | (data > high), np.nan, data))
    pair = intensity.remove_outliers(data, (0.1, 0.9), replace=(-1, 2))
    np.testing.assert_array_equal(np.asarray(pair.data), np.where(data < low, -1, np.where(data > high, 2, data)))
    ints = intensity.remove_outliers(_data(np.uint8), (0.1, 0.9), replace=(0, 255))
    assert ints.dtype == np.uint8


@pytest.mark.parametrize("replace", [None, 0.0])
def test_remove_outliers_masked_not_counted_nor_replaced(replace):
    data = _data()
    mask = np.zeros(data.shape, bool)
    mask[:, -20:] = True
    data[:, -20:] = 50.0  # masked: would move the upper quantile, must stay 50
    result = ImageArray(data, mask=mask).remove_outliers((0.1, 0.9), replace=replace)
    low, high = np.quantile(data[~mask], [0.1, 0.9])
    fill = (low, high) if replace is None else (0.0, 0.0)
    expected = np.where(data < low, fill[0], np.where(data > high, fill[1], data))
    expected[mask] = 50.0
    np.testing.assert_array_equal(np.asarray(result.data), expected)
    np.testing.assert_array_equal(np.ma.getmaskarray(result), mask)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"percentiles": (0.9, 0.1)}, ValueError, "percentiles"),
        ({"percentiles": (0.1, 1.1)}, ValueError, "percentiles"),
        ({"percentiles": 0.1}, ValueError, "percentiles"),
        ({"replace": (1, 2, 3)}, ValueError, "replace"),
        ({"replace": "x"}, ValueError, "replace"),
    ],
)
def test_remove_outliers_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        intensity.remove_outliers(_data(shape=(5, 7)), **kwargs)


@pytest.mark.parametrize("replace", [np.nan, 0.5, -1, 300, (0, 1.5)])
def test_remove_outliers_replace_must_fit_integer_dtype(replace):
    with pytest.raises(ValueError, match="replace.*uint8"):
        intensity.remove_outliers(_data(np.uint8, shape=(5, 7)), replace=replace)


# ------------------------------------------------------------------ threshold_minmax
@pytest.mark.parametrize(("low", "high"), [(0.1, 0.9), (0.25, 0.5), (-1.0, 0.3)])
def test_threshold_minmax_float(low, high):
    data = _data()
    data[0, :4] = [low, high, (low + high) / 2, 2.0]  # the thresholds themselves are excluded
    result = ImageArray(data).threshold_minmax(low, high)
    assert result.dtype == bool
    np.testing.assert_array_equal(np.asarray(result.data), (data > low) & (data < high))
    assert result.data[0, :4].tolist() == [False, False, True, False]


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.uint32])
def test_threshold_minmax_integer_on_type_scale(dtype):
    data = _data(dtype)
    result = intensity.threshold_minmax(data, 0.25, 0.75)
    scaled = data / float(np.iinfo(dtype).max)
    np.testing.assert_array_equal(np.asarray(result.data), (scaled > 0.25) & (scaled < 0.75))


def test_threshold_minmax_signed_integer():
    data = np.array([[-128, -64, 0, 64, 127]], np.int8)
    result = intensity.threshold_minmax(data, -0.6, 0.6)
    assert result.data.tolist() == [[False, True, True, True, False]]


def test_threshold_minmax_imagefile_becomes_bool():
    doc = ImageFile(_data(), metadata={"sample": "Py"})
    assert doc.threshold_minmax() is doc
    assert doc.image.dtype == bool
    assert doc.image["sample"] == "Py"
    assert doc.image["history"] == ["threshold_minmax()"]


@pytest.mark.parametrize(
    ("low", "high", "error"),
    [(0.9, 0.1, ValueError), (0.5, 0.5, ValueError), ("a", 0.5, TypeError), (0.1, np.nan, ValueError)],
)
def test_threshold_minmax_bad_thresholds(low, high, error):
    with pytest.raises(error, match="thresh"):
        intensity.threshold_minmax(_data(shape=(3, 4)), low, high)


# ------------------------------------------------------------------ subtract_image
@pytest.mark.parametrize(
    ("contrast", "clip", "offset"),
    [(16, True, 0.5), (1, False, 0.0), (4.5, True, 0.2), (-2, False, 1.0)],
)
def test_subtract_image_float_closed_form(contrast, clip, offset):
    image, background = _data(seed=1), _data(seed=2)
    result = intensity.subtract_image(image, background, contrast, clip, offset)
    expected = contrast * (image - background) + offset
    if clip:
        expected = np.clip(expected, 0, 1)
    assert result.dtype == np.float64
    np.testing.assert_allclose(np.asarray(result.data), expected, rtol=1e-12, atol=1e-15)


def test_subtract_image_integer_same_normalisation():
    image, background = _data(np.uint16, seed=1), _data(np.uint16, seed=2)
    result = ImageArray(image).subtract_image(background, contrast=2, clip=False, offset=0)
    expected = 2 * (image / 65535.0 - background / 65535.0)
    np.testing.assert_allclose(np.asarray(result.data), expected, rtol=1e-6, atol=1e-7)
    mixed = ImageArray(_data(np.uint8, seed=1)).subtract_image(np.full((80, 300), 0.5))
    expected = np.clip(16 * (_data(np.uint8, seed=1) / 255.0 - 0.5) + 0.5, 0, 1)
    np.testing.assert_allclose(np.asarray(mixed.data), expected, rtol=1e-6, atol=1e-7)


def test_subtract_image_float32_stays_float32():
    image, background = _data(np.float32, seed=1), _data(np.float32, seed=2)
    assert intensity.subtract_image(image, background).dtype == np.float32


@pytest.mark.parametrize("kind", ["ndarray", "ImageArray", "ImageFile", "masked"])
def test_subtract_image_background_kinds_and_masks(kind):
    image, background = _data(seed=1), _data(seed=2)
    image_mask = np.zeros(image.shape, bool)
    image_mask[:5, :] = True
    back_mask = np.zeros(image.shape, bool)
    back_mask[:, -7:] = True
    back = {
        "ndarray": background,
        "ImageArray": ImageArray(background, mask=back_mask, metadata={"role": "bg"}),
        "ImageFile": ImageFile(background, mask=back_mask),
        "masked": np.ma.array(background, mask=back_mask),
    }[kind]
    back_image = back.image if isinstance(back, ImageFile) else back
    back_snap = _snapshot(ImageArray(back_image))
    im = ImageArray(image, mask=image_mask, metadata={"sample": "Py"})
    result = im.subtract_image(back)
    expected_mask = image_mask | (back_mask if kind != "ndarray" else False)
    np.testing.assert_array_equal(np.ma.getmaskarray(result), expected_mask)
    np.testing.assert_allclose(np.asarray(result.data), np.clip(16 * (image - background) + 0.5, 0, 1))
    assert result["sample"] == "Py" and "role" not in result.metadata
    _assert_unchanged(ImageArray(back_image), back_snap)
    assert not np.ma.getmaskarray(im)[:, -7:][5:].any()  # the image's own mask is not changed


@pytest.mark.parametrize(
    ("background", "error", "match"),
    [
        (np.zeros((300, 80)), ValueError, "background.*shape"),
        (np.zeros((80, 299)), ValueError, "background.*shape"),
        ([[0.0] * 300] * 80, TypeError, "background"),
        (0.5, TypeError, "background"),
    ],
)
def test_subtract_image_bad_background(background, error, match):
    with pytest.raises(error, match=match):
        intensity.subtract_image(_data(), background)


@pytest.mark.parametrize(("kwargs", "error"), [({"contrast": "big"}, TypeError), ({"offset": np.inf}, ValueError)])
def test_subtract_image_bad_numbers(kwargs, error):
    with pytest.raises(error, match=next(iter(kwargs))):
        intensity.subtract_image(_data(shape=(3, 4)), np.zeros((3, 4)), **kwargs)
