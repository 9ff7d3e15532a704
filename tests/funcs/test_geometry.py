"""Tests for stonerimg.funcs.geometry: crop and box parsing.

Every crop is compared with plain NumPy slicing ``arr[ymin:ymax, xmin:xmax]`` of the
same array (x is the column), with the box limits worked out by hand.
"""

from __future__ import annotations

import numpy as np
import pytest

import stonerimg
from stonerimg import ImageArray, ImageFile
from stonerimg.funcs import crop, parse_box


def _image(rows=20, cols=100, **kwargs):
    """A (rows, cols) float image whose every pixel value is unique: value = 1000 * row + col."""
    arr = (1000.0 * np.arange(rows)[:, None] + np.arange(cols)[None, :]).astype(np.float64)
    return arr, ImageArray(arr, **kwargs)


def _assert_crop_equals(result, expected):
    assert isinstance(result, ImageArray)
    assert result.shape == expected.shape
    np.testing.assert_array_equal(np.asarray(result.data), expected)


# ----------------------------------------------------------------- box forms
# (box, (ymin, ymax, xmin, xmax)) for a 20 (rows) x 100 (cols) image.
BOX_CASES = [
    pytest.param(5, (5, 15, 5, 95), id="int-border"),
    pytest.param(0, (0, 20, 0, 100), id="int-border-zero"),
    pytest.param(0.1, (2, 18, 10, 90), id="float-border-0.1"),
    pytest.param(0.25, (5, 15, 25, 75), id="float-border-0.25"),
    pytest.param((10, 40, 3, 17), (3, 17, 10, 40), id="tuple-ints"),
    pytest.param([10, 40, 3, 17], (3, 17, 10, 40), id="list-ints"),
    pytest.param((-30, -10, -5, -1), (15, 19, 70, 90), id="tuple-negative-ints"),
    pytest.param((None, None, None, None), (0, 20, 0, 100), id="tuple-all-none"),
    pytest.param((None, 50, 4, None), (4, 20, 0, 50), id="tuple-some-none"),
    pytest.param((0.25, 0.75, 0.0, 0.5), (0, 10, 25, 75), id="tuple-fractions"),
    pytest.param((0.0, 1.0, 0.0, 1.0), (0, 20, 0, 100), id="tuple-fractions-whole"),
    pytest.param((10.4, 60.6, 2.2, 17.7), (2, 18, 10, 61), id="tuple-floats-above-one-rounded"),
    pytest.param((0.1, 60, None, 0.5), (0, 10, 10, 60), id="tuple-mixed"),
    pytest.param((1, 1.0, 1, 1.0), (1, 20, 1, 100), id="int-one-is-pixel-float-one-is-edge"),
    pytest.param((), (0, 20, 0, 100), id="empty-tuple-whole"),
    pytest.param(None, (0, 20, 0, 100), id="none-whole"),
]


@pytest.mark.parametrize(("box", "limits"), BOX_CASES)
def test_crop_box_forms_match_numpy_slicing(box, limits):
    arr, im = _image()
    ymin, ymax, xmin, xmax = limits
    _assert_crop_equals(crop(im, box), arr[ymin:ymax, xmin:xmax])
    _assert_crop_equals(im.crop(box), arr[ymin:ymax, xmin:xmax])
    assert parse_box(im, box) == (xmin, xmax, ymin, ymax)


@pytest.mark.parametrize(("box", "limits"), [c for c in BOX_CASES if isinstance(c.values[0], tuple) and c.values[0]])
def test_crop_four_positional_arguments_equal_one_tuple(box, limits):
    arr, im = _image()
    ymin, ymax, xmin, xmax = limits
    _assert_crop_equals(im.crop(*box), arr[ymin:ymax, xmin:xmax])
    _assert_crop_equals(crop(arr, *box), arr[ymin:ymax, xmin:xmax])


def test_crop_none_is_whole_image():
    arr, im = _image()
    _assert_crop_equals(im.crop(None), arr)
    _assert_crop_equals(crop(arr, None), arr)


def test_crop_with_no_box_waits_for_the_mouse_and_refuses_where_it_cannot():
    # Stoner's crop(): a box drawn by hand; on Agg (as in a notebook) nothing can wait
    _, im = _image()
    with pytest.raises(RuntimeError, match=r"crop\(\) waits for a selection.*image.select\('box'\)"):
        im.crop()
    with pytest.raises(RuntimeError, match=r"profile_line\(\) waits for a selection.*image.select\('line'\)"):
        im.profile_line()


def test_crop_stoner_docstring_example():
    arr = np.arange(12).reshape(3, 4)
    result = ImageFile(arr).crop(1, 3, None, None)
    np.testing.assert_array_equal(result.image, [[1, 2], [5, 6], [9, 10]])
    np.testing.assert_array_equal(result.image, arr[:, 1:3])


def test_crop_box_from_metadata_key():
    arr, im = _image(metadata={"roi": (10, 40, 3, 17), "border": 5})
    _assert_crop_equals(im.crop("roi"), arr[3:17, 10:40])
    _assert_crop_equals(im.crop("border"), arr[5:15, 5:95])


def test_crop_box_from_metadata_key_with_list_value():
    arr, im = _image(metadata={"roi": [None, 0.5, 2, -2]})
    _assert_crop_equals(im.crop("roi"), arr[2:18, 0:50])


def test_crop_float_border_of_20x100_image_is_10_percent_of_each_side():
    arr, im = _image(20, 100)
    result = im.crop(0.1)
    assert result.shape == (16, 80)
    assert result.geometry == (80, 16)
    _assert_crop_equals(result, arr[2:18, 10:90])


# ------------------------------------------------------------- orientation
def test_crop_non_square_image_is_never_transposed():
    arr, im = _image(80, 300)
    result = im.crop(10, 250, 5, 60)
    assert result.shape == (55, 240)
    assert result.geometry == (240, 55)
    _assert_crop_equals(result, arr[5:60, 10:250])
    # x runs along the columns: the first row of the crop is row 5, columns 10..249
    np.testing.assert_array_equal(np.asarray(result)[0], 5000.0 + np.arange(10, 250))
    whole = im.crop(None)
    assert whole.shape == (80, 300)


def test_crop_x_is_column_y_is_row():
    arr, im = _image(80, 300)
    result = im.crop(0, 1, 0, 80)  # one column, all rows
    assert result.shape == (80, 1)
    result = im.crop(0, 300, 0, 1)  # one row, all columns
    assert result.shape == (1, 300)


def test_crop_stack_is_cropped_in_last_two_axes():
    stack = np.arange(3 * 20 * 100, dtype=np.float32).reshape(3, 20, 100)
    im = ImageArray(stack)
    result = im.crop(10, 40, 3, 17)
    assert result.shape == (3, 14, 30)
    np.testing.assert_array_equal(np.asarray(result), stack[:, 3:17, 10:40])
    result = im.crop(0.1)
    np.testing.assert_array_equal(np.asarray(result), stack[:, 2:18, 10:90])
    assert np.shares_memory(result, stack)


# ----------------------------------------------------------- views and copies
def test_crop_is_a_view_by_default():
    arr, im = _image()
    result = im.crop(10, 40, 3, 17)
    assert np.shares_memory(result, arr)
    result[0, 0] = -7.0
    assert arr[3, 10] == -7.0
    assert im[3, 10] == -7.0


def test_crop_of_plain_ndarray_is_a_view():
    arr, _ = _image()
    result = crop(arr, 5)
    assert isinstance(result, ImageArray)
    assert np.shares_memory(result, arr)
    result[1, 2] = -1.0
    assert arr[6, 7] == -1.0


def test_crop_copy_shares_no_memory():
    arr, im = _image()
    original = arr.copy()
    result = im.crop(10, 40, 3, 17, copy=True)
    assert not np.shares_memory(result, arr)
    _assert_crop_equals(result, arr[3:17, 10:40])
    result[...] = -1.0
    np.testing.assert_array_equal(arr, original)


def test_crop_mask_is_cropped_along():
    arr, _ = _image()
    mask = np.zeros(arr.shape, bool)
    mask[4, 12] = mask[10, 30] = mask[0, 0] = True
    im = ImageArray(arr, mask=mask)
    for result in (im.crop(10, 40, 3, 17), im.crop(10, 40, 3, 17, copy=True)):
        np.testing.assert_array_equal(np.ma.getmaskarray(result), mask[3:17, 10:40])
        assert np.ma.count_masked(result) == 2
        assert result.mask[1, 2] and result.mask[7, 20]


# -------------------------------------------------------------- calibration
def test_crop_keeps_physical_coordinates():
    arr, im = _image()
    im.set_calibration(0.5, "nm")
    result = im.crop(10, 40, 3, 17)
    assert result["calibration.x.offset"] == pytest.approx(10 * 0.5)
    assert result["calibration.y.offset"] == pytest.approx(3 * 0.5)
    assert result["calibration.x.scale"] == 0.5
    assert result["calibration.x.units"] == "nm"
    # pixel (0, 0) of the crop is pixel (10, 3) of the original, in nm
    assert result.calibration.x.to_physical(0) == pytest.approx(im.calibration.x.to_physical(10))
    assert result.calibration.y.to_physical(0) == pytest.approx(im.calibration.y.to_physical(3))
    # the input keeps its own calibration
    assert im["calibration.x.offset"] == 0.0
    assert im["calibration.y.offset"] == 0.0


def test_crop_moves_a_nonzero_offset_with_separate_scales():
    _, im = _image()
    im.set_calibration((0.5, 2.0), "um", offset=(100.0, -3.0))
    result = im.crop(10, 40, 3, 17, copy=True)
    assert result["calibration.x.offset"] == pytest.approx(100.0 + 10 * 0.5)
    assert result["calibration.y.offset"] == pytest.approx(-3.0 + 3 * 2.0)
    for px in (0, 5, 29):
        assert result.calibration.x.to_physical(px) == pytest.approx(im.calibration.x.to_physical(px + 10))


def test_crop_from_origin_leaves_calibration_alone():
    _, im = _image()
    im.set_calibration(0.5, "nm", offset=1.0)
    result = im.crop(None, 50, None, 10)
    assert result["calibration.x.offset"] == 1.0
    assert result["calibration.y.offset"] == 1.0


def test_crop_uncalibrated_image_gets_no_calibration():
    _, im = _image()
    result = im.crop(10, 40, 3, 17)
    assert not any(k.startswith("calibration.") for k in result.metadata)


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    ("box", "match"),
    [
        pytest.param((10, 10, 0, 5), "box", id="empty-x"),
        pytest.param((0, 5, 7, 7), "box", id="empty-y"),
        pytest.param((40, 10, 0, 5), "box", id="reversed-x"),
        pytest.param((0, 5, 15, 3), "box", id="reversed-y"),
        pytest.param((0.75, 0.25, None, None), "box", id="reversed-fractions"),
        pytest.param((0, 101, 0, 5), "xmax", id="xmax-out-of-range"),
        pytest.param((-101, None, 0, 5), "xmin", id="xmin-negative-out-of-range"),
        pytest.param((0, 5, 0, 21), "ymax", id="ymax-out-of-range"),
        pytest.param((0, 5, 25.0, None), "ymin", id="ymin-float-pixel-out-of-range"),
        pytest.param((-0.5, None, None, None), "xmin", id="negative-float"),
        pytest.param(10, "border", id="int-border-too-big"),
        pytest.param(50, "border", id="int-border-half-width"),
        pytest.param(-1, "border", id="negative-border"),
        pytest.param(0.5, "border", id="float-border-half"),
        pytest.param(0.7, "border", id="float-border-too-big"),
        pytest.param("no_such_key", "no_such_key", id="missing-metadata-key"),
    ],
)
def test_crop_bad_box_raises_value_error(box, match):
    arr, im = _image()
    with pytest.raises(ValueError, match=match):
        im.crop(box)
    with pytest.raises(ValueError, match=match):
        crop(arr, box)


@pytest.mark.parametrize(
    "box",
    [
        pytest.param((0, 5, 0), id="3-tuple"),
        pytest.param((0, 5, 0, 5, 0), id="5-tuple"),
        pytest.param({"xmin": 0, "xmax": 5, "ymin": 0, "ymax": 5}, id="dict"),
        pytest.param({}, id="empty-dict"),
        pytest.param(("0", 5, 0, 5), id="string-coordinate"),
        pytest.param((True, 5, 0, 5), id="bool-coordinate"),
        pytest.param(object(), id="object"),
    ],
)
def test_crop_bad_box_type_raises(box):
    _, im = _image()
    with pytest.raises((TypeError, ValueError), match="box|xmin"):
        im.crop(box)


def test_crop_wrong_number_of_positional_arguments():
    _, im = _image()
    with pytest.raises(TypeError, match="crop"):
        im.crop(1, 2)
    with pytest.raises(TypeError, match="crop"):
        im.crop(1, 2, 3)


def test_crop_metadata_key_holding_a_bad_box_raises():
    _, im = _image(metadata={"roi": (0, 500, 0, 5)})
    with pytest.raises(ValueError, match="xmax"):
        im.crop("roi")


def test_crop_error_leaves_input_unchanged():
    arr, im = _image(metadata={"sample": "Py"})
    before = arr.copy()
    with pytest.raises(ValueError):
        im.crop(0, 500, 0, 5)
    np.testing.assert_array_equal(arr, before)
    assert dict(im.metadata) == {"sample": "Py"}


# ------------------------------------------------------------- ImageFile
def test_imagefile_crop_in_place_returns_self():
    arr, _ = _image()
    f = ImageFile(arr, metadata={"sample": "Py"})
    returned = f.crop(10, 40, 3, 17)
    assert returned is f
    assert isinstance(f.image, ImageArray)
    assert f.shape == (14, 30)
    np.testing.assert_array_equal(np.asarray(f.image), arr[3:17, 10:40])
    assert f["sample"] == "Py"
    assert f.metadata["history"] == ["crop(10, 40, 3, 17)"]


def test_imagefile_crop_chains():
    arr, _ = _image()
    f = ImageFile(arr)
    assert f.crop(5).crop(0.1) is f
    # 20x100 -> border 5 -> 10x90 -> 10% border: 1 row, 9 columns each side
    np.testing.assert_array_equal(np.asarray(f.image), arr[5:15, 5:95][1:9, 9:81])
    assert f.metadata["history"] == ["crop(5)", "crop(0.1)"]


# ------------------------------------------------------- history & metadata
@pytest.mark.parametrize(
    ("args", "kwargs", "entry"),
    [
        ((5,), {}, "crop(5)"),
        ((1, 3, None, None), {}, "crop(1, 3, None, None)"),
        (((10, 40, 3, 17),), {}, "crop((10, 40, 3, 17))"),
        ((0.1,), {"copy": True}, "crop(0.1, copy=True)"),
        ((None,), {}, "crop(None)"),
    ],
)
def test_crop_appends_one_history_entry_and_leaves_input_metadata(args, kwargs, entry):
    arr, im = _image(metadata={"sample": "Py", "history": ["load(x)"]})
    before = dict(im.metadata)
    result = im.crop(*args, **kwargs)
    assert result["history"] == ["load(x)", entry]
    assert result["sample"] == "Py"
    assert dict(im.metadata) == before
    assert im["history"] == ["load(x)"]
    assert result.metadata is not im.metadata


def test_crop_whole_image_returns_new_image_not_input():
    _, im = _image()
    result = im.crop(None)
    assert result is not im
    assert "history" not in im.metadata
    assert result["history"] == ["crop(None)"]


def test_crop_registered_and_bound():
    assert stonerimg.funcs.registered()["crop"] is crop
    assert ImageArray.crop is crop
    assert "crop" in dir(ImageFile)


def test_crop_keeps_dtype():
    for dtype in (np.uint8, np.int16, np.float32, bool):
        arr = np.ones((20, 100), dtype=dtype)
        assert ImageArray(arr).crop(5).dtype == np.dtype(dtype)


# ------------------------------------------------------- issue 13: crop(box=...), boxes outside
def test_crop_box_keyword_is_the_positional_box():
    image = ImageArray(np.arange(48).reshape(6, 8))
    np.testing.assert_array_equal(image.crop(box=(1, 5, 2, None)), np.arange(48).reshape(6, 8)[2:, 1:5])
    np.testing.assert_array_equal(image.crop(box=2), image.crop(2))
    doc = stonerimg.ImageFile(np.arange(48).reshape(6, 8))
    assert doc.crop(box=(0, 4, 0, 3)).shape == (3, 4)
    with pytest.raises(TypeError, match="not both"):
        image.crop(1, box=2)


@pytest.mark.parametrize("box", [(0, 9, 0, 6), (-9, None, None, None), (None, None, 0, 7), (0.5, 10.0, None, None)])
def test_a_box_partly_outside_is_an_error_in_every_box_parameter(box):
    image = ImageArray(np.random.default_rng(0).random((6, 8)))
    for call in (
        lambda: image.crop(box),
        lambda: image.level_image(box=box),
        lambda: image.normalise(sample=box),
    ):
        with pytest.raises(ValueError, match="outside the image"):
            call()
