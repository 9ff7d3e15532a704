"""Tests for rotate, translate, translate_limits and the CW/CCW/flip properties.

References are independent: ``skimage.transform.rotate`` (degrees, counter-clockwise) and
``scipy.ndimage.shift`` called directly on the same data, and closed forms (``np.roll``,
``np.rot90``, ``np.fliplr``/``np.flipud``, boxes worked out by hand).  Most images are
non-square (80 x 300) so a swap of x and y cannot pass unnoticed.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
from scipy import ndimage
from skimage import transform

from stonerimg import ImageArray, ImageFile
from stonerimg.funcs import geometry

ROWS, COLS = 80, 300


def _data(rows=ROWS, cols=COLS, seed=0, dtype=np.float64):
    """Smooth but asymmetric data plus noise: no two pixels alike, nothing symmetric."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:rows, 0:cols]
    data = np.sin(x / 17.0) + 0.5 * np.cos(y / 7.0) + 0.01 * x + 0.1 * rng.random((rows, cols))
    if np.dtype(dtype).kind in "ui":
        data = (data - data.min()) / np.ptp(data) * min(np.iinfo(dtype).max, 1000)
    return data.astype(dtype)


def _mask(shape, seed=1):
    rng = np.random.default_rng(seed)
    mask = np.zeros(shape, dtype=bool)
    mask[..., 10:20, 30:60] = True
    return mask | (rng.random(shape) < 0.05)


def _sk_rotate(data, angle, **kwargs):
    """The reference rotation: ours is clockwise in radians, scikit-image's counter-clockwise in degrees."""
    kwargs.setdefault("preserve_range", True)
    return transform.rotate(data, -np.rad2deg(angle), **kwargs)


def _sk_outside(shape, angle, **kwargs):
    """Pixels that take any part of the fill value: where a rotated image of ones is below 1."""
    ones = transform.rotate(np.ones(shape), -np.rad2deg(angle), order=1, mode="constant", cval=0.0, **kwargs)
    return ones < 1 - 1e-9


def _nd_outside(shape, tx, ty):
    ones = ndimage.shift(np.ones(shape), (ty, tx), order=1, mode="grid-constant", cval=0.0)
    return ones < 1 - 1e-9


def _snapshot(image):
    return (
        np.array(image.data, copy=True),
        np.array(np.ma.getmaskarray(image), copy=True),
        copy.deepcopy(dict(image.metadata)),
    )


def _assert_unchanged(image, snapshot):
    data, mask, metadata = snapshot
    np.testing.assert_array_equal(image.data, data)
    np.testing.assert_array_equal(np.ma.getmaskarray(image), mask)
    assert dict(image.metadata) == metadata


# ====================================================================== rotate
ANGLES = [0.3, -1.1, np.pi / 2, 2.5, np.pi]


@pytest.mark.parametrize("angle", ANGLES)
@pytest.mark.parametrize("resize", [False, True])
@pytest.mark.parametrize("order", [0, 1, 3])
@pytest.mark.parametrize("shape", [(ROWS, COLS), (33, 33)])
def test_rotate_equals_skimage_rotate(angle, resize, order, shape):
    data = _data(*shape)
    result = geometry.rotate(data, angle, resize=resize, order=order)
    expected = _sk_rotate(data, angle, resize=resize, order=order)
    assert result.shape == expected.shape
    np.testing.assert_array_equal(result.data, expected)


@pytest.mark.parametrize("angle", [0.3, -1.1, np.pi / 2, 2.5])
@pytest.mark.parametrize(("resize", "center"), [(False, None), (True, None), (False, (40.5, 20.0)), (False, (250, 70))])
def test_rotate_masks_exactly_the_pixels_filled_from_outside(angle, resize, center):
    data = _data()
    result = ImageArray(data).rotate(angle, resize=resize, center=center, cval=-5.0)
    outside = _sk_outside(data.shape, angle, resize=resize, center=center)
    assert outside.any() or (resize and angle == np.pi / 2)  # a quarter turn with resize fits exactly
    np.testing.assert_array_equal(np.ma.getmaskarray(result), outside)
    # pixels wholly outside hold the fill value; no unmasked pixel has any of it
    ones = transform.rotate(np.ones(data.shape), -np.rad2deg(angle), resize=resize, center=center, cval=0.0)
    np.testing.assert_array_equal(result.data[ones == 0], -5.0)
    assert np.all(np.asarray(result.data)[~outside] > -5.0 + 1)


def test_rotate_center_is_x_then_y():
    data = np.zeros((ROWS, COLS))
    data[20, 250] = 1.0  # x = 250, y = 20
    turned = ImageArray(data).rotate(1.0, center=(250, 20), order=0)
    # rotating about the dot leaves it where it was; (20, 250) as (x, y) would move it off the image
    assert turned[20, 250] == 1.0
    np.testing.assert_array_equal(turned.data, _sk_rotate(data, 1.0, center=(250, 20), order=0))
    swapped = ImageArray(data).rotate(1.0, center=(20, 250), order=0)
    assert swapped.data.max() == 0.0


@pytest.mark.parametrize("shape", [(7, 7), (8, 8), (9, 15)])
def test_rotate_positive_angle_is_clockwise_on_screen(shape):
    rows, cols = shape
    data = np.zeros(shape)
    cy, cx = (rows - 1) // 2, (cols - 1) // 2
    data[cy, cx + 2] = 1.0  # right of the centre (on the pixel grid when the size is odd)
    centre = (cx, cy)
    turned = ImageArray(data).rotate(np.pi / 2, center=centre, order=0)
    assert turned[cy + 2, cx] == 1.0  # right went to the bottom: clockwise with row 0 at the top
    back = ImageArray(data).rotate(-np.pi / 2, center=centre, order=0)
    assert back[cy - 2, cx] == 1.0
    # the mapping to scikit-image: rotate(angle) == skimage.transform.rotate(-degrees(angle))
    np.testing.assert_array_equal(turned.data, transform.rotate(data, -90, center=centre, order=0))


@pytest.mark.parametrize("size", [32, 33])
def test_rotate_quarter_turns_of_a_square_equal_cw_and_ccw(size):
    data = _data(size, size)
    im = ImageArray(data)
    cw, ccw = im.rotate(np.pi / 2), im.rotate(-np.pi / 2)
    np.testing.assert_allclose(cw.data, im.CW.data, atol=1e-12)
    np.testing.assert_allclose(ccw.data, im.CCW.data, atol=1e-12)
    np.testing.assert_allclose(cw.data, np.rot90(data, -1), atol=1e-12)
    assert np.ma.getmask(cw) is np.ma.nomask  # nothing came from outside
    np.testing.assert_allclose(im.rotate(np.pi).data, np.rot90(data, 2), atol=1e-12)


def test_rotate_non_square_by_zero_and_quarter_turn():
    data = _data()
    same = ImageArray(data).rotate(0)
    assert same.shape == (ROWS, COLS)
    np.testing.assert_array_equal(same.data, data)
    assert np.ma.getmask(same) is np.ma.nomask
    turned = ImageArray(data).rotate(np.pi / 2, resize=True)
    assert turned.shape == (COLS, ROWS)
    assert turned.geometry == (ROWS, COLS)
    np.testing.assert_allclose(turned.data, np.rot90(data, -1), atol=1e-12)
    assert not np.ma.getmaskarray(turned).any()
    cut = ImageArray(data).rotate(np.pi / 2)  # no resize: the shape stays, the sides are filled
    assert cut.shape == (ROWS, COLS)
    np.testing.assert_array_equal(np.ma.getmaskarray(cut), _sk_outside(data.shape, np.pi / 2))


def test_rotate_non_square_rotate_back_recovers_the_image():
    y, x = np.mgrid[0:ROWS, 0:COLS]
    data = np.sin(x / 17.0) + 0.5 * np.cos(y / 7.0) + 0.01 * x  # smooth: interpolation is nearly exact
    there = ImageArray(data).rotate(0.2, order=3)
    back = there.rotate(-0.2, order=3)
    assert back.shape == (ROWS, COLS)
    core = np.s_[30:-30, 40:-40]
    assert not np.ma.getmaskarray(back)[core].any()
    np.testing.assert_allclose(back.data[core], data[core], atol=0.01)
    assert np.ma.getmaskarray(back)[0, 0]  # the corner went out and came back as fill


@pytest.mark.parametrize("mode", ["edge", "symmetric", "reflect", "wrap"])
def test_rotate_other_modes_match_skimage_and_mask_nothing(mode):
    data = _data()
    result = ImageArray(data).rotate(0.7, mode=mode)
    np.testing.assert_array_equal(result.data, _sk_rotate(data, 0.7, mode=mode))
    assert np.ma.getmask(result) is np.ma.nomask


@pytest.mark.parametrize(
    ("alias", "mode"),
    [
        ("nearest", "edge"),
        ("mirror", "reflect"),
        ("grid-mirror", "symmetric"),
        ("grid-wrap", "wrap"),
        ("grid-constant", "constant"),
    ],
)
def test_rotate_accepts_scipy_mode_names(alias, mode):
    im = ImageArray(_data())
    a, b = im.rotate(0.7, mode=alias), im.rotate(0.7, mode=mode)
    np.testing.assert_array_equal(a.data, b.data)
    np.testing.assert_array_equal(np.ma.getmaskarray(a), np.ma.getmaskarray(b))


@pytest.mark.parametrize("angle", [0.3, 2.2])
def test_rotate_rotates_the_mask_by_nearest_neighbour(angle):
    data, mask = _data(), _mask((ROWS, COLS))
    result = ImageArray(data, mask=mask).rotate(angle)
    moved = transform.rotate(mask.astype(float), -np.rad2deg(angle), order=0, cval=1.0) > 0.5
    np.testing.assert_array_equal(np.ma.getmaskarray(result), moved | _sk_outside(data.shape, angle))
    np.testing.assert_array_equal(result.data, _sk_rotate(data, angle))  # data under the mask still moved


def test_rotate_quarter_turn_moves_the_mask_like_rot90():
    data, mask = _data(40, 40), _mask((40, 40))
    result = ImageArray(data, mask=mask).rotate(np.pi / 2, mode="wrap")
    np.testing.assert_array_equal(np.ma.getmaskarray(result), np.rot90(mask, -1))


def test_rotate_mask_follows_mode_wrap():
    data, mask = _data(), _mask((ROWS, COLS))
    result = ImageArray(data, mask=mask).rotate(0.3, mode="wrap")
    moved = transform.rotate(mask.astype(float), -np.rad2deg(0.3), order=0, mode="wrap") > 0.5
    np.testing.assert_array_equal(np.ma.getmaskarray(result), moved)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32, np.float32, np.float64])
def test_rotate_dtypes(dtype):
    data = _data(dtype=dtype)
    nearest = ImageArray(data).rotate(0.5, order=0)
    assert nearest.dtype == dtype
    np.testing.assert_array_equal(nearest.data, transform.rotate(data, -np.rad2deg(0.5), order=0))
    linear = ImageArray(data).rotate(0.5)
    assert linear.dtype == (np.float32 if dtype == np.float32 else np.float64)
    np.testing.assert_allclose(linear.data, _sk_rotate(data, 0.5), rtol=1e-6)
    if np.dtype(dtype).kind in "ui":  # the values are kept, not scaled
        assert linear.max() > 1.5


def test_rotate_preserve_range_false_scales_integers_like_skimage():
    data = _data(dtype=np.uint16)
    result = ImageArray(data).rotate(0.5, preserve_range=False)
    expected = transform.rotate(data, -np.rad2deg(0.5))
    np.testing.assert_allclose(result.data, expected)
    assert result.max() <= 1.0


def test_rotate_bool_image_defaults_to_nearest_and_refuses_interpolation():
    data = _data() > 0.5
    result = ImageArray(data).rotate(0.5)
    assert result.dtype == bool
    np.testing.assert_array_equal(result.data, transform.rotate(data, -np.rad2deg(0.5)))
    with pytest.raises(ValueError, match="order"):
        ImageArray(data).rotate(0.5, order=1)


@pytest.mark.parametrize("clip", [True, False])
def test_rotate_clip_passes_through(clip):
    data = np.zeros((40, 60))
    data[:, 30:] = 1.0  # a step: cubic interpolation overshoots
    result = ImageArray(data).rotate(0.3, order=3, mode="edge", clip=clip)
    expected = _sk_rotate(data, 0.3, order=3, mode="edge", clip=clip)
    np.testing.assert_array_equal(result.data, expected)
    assert bool(result.max() > 1.0) == (not clip)


@pytest.mark.parametrize("resize", [False, True])
def test_rotate_stack_rotates_each_frame(resize):
    stack = np.stack([_data(40, 70, seed=s) for s in range(3)])
    mask = _mask(stack.shape)
    result = ImageArray(stack, mask=mask).rotate(0.6, resize=resize)
    assert result.ndim == 3 and len(result) == 3
    for frame in range(3):
        expected = _sk_rotate(stack[frame], 0.6, resize=resize)
        np.testing.assert_array_equal(result.data[frame], expected)
        single = ImageArray(stack[frame], mask=mask[frame]).rotate(0.6, resize=resize)
        np.testing.assert_array_equal(np.ma.getmaskarray(result)[frame], np.ma.getmaskarray(single))


def test_rotate_non_contiguous_input():
    data = _data(80, 600)[:, ::2]
    assert not data.flags.c_contiguous
    np.testing.assert_array_equal(geometry.rotate(data, 0.4).data, _sk_rotate(np.ascontiguousarray(data), 0.4))
    np.testing.assert_array_equal(geometry.rotate(data.T, 0.4).data, _sk_rotate(np.ascontiguousarray(data.T), 0.4))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"angle": float("nan")}, ValueError, "angle"),
        ({"angle": "90"}, TypeError, "angle"),
        ({"angle": 1.0, "mode": "bogus"}, ValueError, "mode"),
        ({"angle": 1.0, "order": 6}, ValueError, "order"),
        ({"angle": 1.0, "order": 1.5}, ValueError, "order"),
        ({"angle": 1.0, "center": (1, 2, 3)}, TypeError, "center"),
        ({"angle": 1.0, "center": (1, float("inf"))}, ValueError, "center"),
        ({"angle": 1.0, "cval": "zero"}, TypeError, "cval"),
    ],
)
def test_rotate_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        ImageArray(_data()).rotate(**kwargs)


# =================================================================== translate
SCIPY_MODES = [
    ("wrap", "grid-wrap"),
    ("constant", "grid-constant"),
    ("reflect", "mirror"),
    ("symmetric", "reflect"),
    ("edge", "nearest"),
]


@pytest.mark.parametrize("shift", [(2.5, 1.25), (-7.3, 0.0), (0.4, -3.6)])
@pytest.mark.parametrize(("mode", "nd_mode"), SCIPY_MODES)
@pytest.mark.parametrize("order", [0, 1, 3])
def test_translate_equals_ndimage_shift(shift, mode, nd_mode, order):
    data = _data()
    tx, ty = shift
    result = geometry.translate(data, shift, order=order, mode=mode, cval=0.5)
    expected = ndimage.shift(data, (ty, tx), order=order, mode=nd_mode, cval=0.5)
    np.testing.assert_allclose(result.data, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("shift", [(5, -3), (-17, 41), (0, 0), (300, 80), (-301, 7)])
@pytest.mark.parametrize("order", [0, 1, 3])
def test_translate_whole_pixels_wraps_like_np_roll(shift, order):
    data = _data()
    result = ImageArray(data).translate(shift, order=order)
    np.testing.assert_array_equal(result.data, np.roll(data, (shift[1], shift[0]), axis=(0, 1)))
    assert np.ma.getmask(result) is np.ma.nomask
    # and scipy's periodic spline shift agrees
    np.testing.assert_allclose(result.data, ndimage.shift(data, shift[::-1], order=order, mode="grid-wrap"), atol=1e-12)


@pytest.mark.parametrize("shift", [(5, -3), (-17, 41), (0, 0), (299, 0), (400, 0)])
def test_translate_whole_pixels_constant_equals_slicing(shift):
    data = _data()
    tx, ty = shift
    result = ImageArray(data).translate(shift, mode="constant", cval=-1.0)
    expected = np.full_like(data, -1.0)
    if abs(tx) < COLS and abs(ty) < ROWS:
        expected[max(ty, 0) : ROWS + min(ty, 0), max(tx, 0) : COLS + min(tx, 0)] = data[
            max(-ty, 0) : ROWS + min(-ty, 0), max(-tx, 0) : COLS + min(-tx, 0)
        ]
    np.testing.assert_array_equal(result.data, expected)
    np.testing.assert_array_equal(np.ma.getmaskarray(result), expected == -1.0)
    # scipy's spline agrees to its prefilter's precision near the fill
    np.testing.assert_allclose(result.data, ndimage.shift(data, (ty, tx), mode="grid-constant", cval=-1.0), atol=1e-6)


def test_translate_positive_x_moves_right_positive_y_moves_down():
    data = _data()
    right = ImageArray(data).translate((3, 0), mode="constant")
    np.testing.assert_array_equal(right.data[:, 3:], data[:, :-3])
    down = ImageArray(data).translate((0, 4), mode="constant")
    np.testing.assert_array_equal(down.data[4:], data[:-4])
    assert right.shape == down.shape == (ROWS, COLS)


@pytest.mark.parametrize("shift", [(2.5, 1.25), (-7.3, 0.0), (3, -2), (0.4, -3.6), (1e-9, 0)])
@pytest.mark.parametrize("order", [0, 1, 3])
def test_translate_constant_masks_the_pixels_filled_from_outside(shift, order):
    data = _data()
    result = ImageArray(data).translate(shift, mode="constant", order=order)
    outside = _nd_outside(data.shape, *shift)
    np.testing.assert_array_equal(np.ma.getmaskarray(result), outside)
    xmin, xmax, ymin, ymax = geometry.translate_limits(data, shift)
    inside = np.zeros_like(outside)
    inside[ymin:ymax, xmin:xmax] = True
    np.testing.assert_array_equal(outside, ~inside)


def test_translate_cval_defaults_to_mean_of_unmasked_pixels():
    data, mask = _data(), _mask((ROWS, COLS))
    data = np.where(mask, 1e6, data)  # masked pixels must not count
    result = ImageArray(data, mask=mask).translate((4, 0), mode="constant")
    expected = data[~mask].mean()
    np.testing.assert_allclose(result.data[:, :4], expected)
    assert result.data[:, :4].max() < 100
    unmasked = ImageArray(_data()).translate((2.5, 0), mode="constant", order=1)
    np.testing.assert_allclose(unmasked.data[:, 0], _data().mean())


def test_translate_fractional_shift_moves_the_mask_by_nearest_neighbour():
    data, mask = _data(), _mask((ROWS, COLS))
    result = ImageArray(data, mask=mask).translate((2.3, -4.6))
    moved = ndimage.shift(mask.astype(np.uint8), (-4.6, 2.3), order=0, mode="grid-wrap") > 0
    np.testing.assert_array_equal(np.ma.getmaskarray(result), moved)
    constant = ImageArray(data, mask=mask).translate((2.3, -4.6), mode="constant")
    moved_c = ndimage.shift(mask.astype(np.uint8), (-4.6, 2.3), order=0, mode="grid-constant", cval=1) > 0
    np.testing.assert_array_equal(np.ma.getmaskarray(constant), moved_c | _nd_outside(data.shape, 2.3, -4.6))


def test_translate_whole_pixels_rolls_the_mask():
    data, mask = _data(), _mask((ROWS, COLS))
    result = ImageArray(data, mask=mask).translate((7, 3))
    np.testing.assert_array_equal(np.ma.getmaskarray(result), np.roll(mask, (3, 7), axis=(0, 1)))


def test_translate_add_metadata():
    im = ImageArray(_data(), metadata={"sample": "Py"})
    result = im.translate((2.5, -3), add_metadata=True)
    assert result["translation"] == (2.5, -3.0)
    assert result["translation_limits"] == (3, COLS, 0, ROWS - 3)
    assert result["sample"] == "Py"
    assert "translation" not in im.translate((2.5, -3)).metadata
    # the stored shift can be read back by key
    assert result.translate_limits("translation") == (3, COLS, 0, ROWS - 3)


def test_translate_shift_from_metadata_key():
    data = _data()
    im = ImageArray(data, metadata={"drift": (5, -3)})
    np.testing.assert_array_equal(im.translate("drift").data, np.roll(data, (-3, 5), axis=(0, 1)))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32, np.float32, np.float64])
def test_translate_dtypes(dtype):
    data = _data(dtype=dtype)
    nearest = ImageArray(data).translate((2.4, 1.6), order=0)
    assert nearest.dtype == dtype
    np.testing.assert_array_equal(nearest.data, ndimage.shift(data, (1.6, 2.4), order=0, mode="grid-wrap"))
    cubic = ImageArray(data).translate((2.4, 1.6))
    assert cubic.dtype == (np.float32 if dtype == np.float32 else np.float64)
    reference = ndimage.shift(data.astype(np.float64), (1.6, 2.4), order=3, mode="grid-wrap")
    np.testing.assert_allclose(cubic.data, reference, rtol=1e-5, atol=1e-3)
    whole = ImageArray(data).translate((2, 1), order=1)
    assert whole.dtype == cubic.dtype
    np.testing.assert_array_equal(whole.data, np.roll(data, (1, 2), axis=(0, 1)).astype(whole.dtype))


def test_translate_bool_image():
    data = _data() > 0.5
    result = ImageArray(data).translate((2.4, 1.6), order=0, mode="constant")
    assert result.dtype == bool
    expected = ndimage.shift(data.astype(np.uint8), (1.6, 2.4), order=0, mode="grid-constant", cval=data.mean()) > 0
    np.testing.assert_array_equal(result.data[3:, 3:], expected[3:, 3:])
    with pytest.raises(ValueError, match="order"):
        ImageArray(data).translate((1.5, 0))


@pytest.mark.parametrize("shift", [(2.5, -1.5), (4, 2)])
def test_translate_stack_shifts_each_frame(shift):
    stack = np.stack([_data(40, 70, seed=s) for s in range(3)])
    mask = _mask(stack.shape)
    result = ImageArray(stack, mask=mask).translate(shift, mode="constant", cval=0.0)
    for frame in range(3):
        expected = ndimage.shift(stack[frame], shift[::-1], order=3, mode="grid-constant", cval=0.0)
        np.testing.assert_allclose(result.data[frame], expected, atol=1e-12)
        single = ImageArray(stack[frame], mask=mask[frame]).translate(shift, mode="constant", cval=0.0)
        np.testing.assert_array_equal(np.ma.getmaskarray(result)[frame], np.ma.getmaskarray(single))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"translation": (1,)}, TypeError, "translation"),
        ({"translation": 3}, TypeError, "translation"),
        ({"translation": (1, float("nan"))}, ValueError, "translation"),
        ({"translation": ("a", 1)}, TypeError, "translation"),
        ({"translation": "nokey"}, ValueError, "translation"),
        ({"translation": (1, 2), "mode": "bogus"}, ValueError, "mode"),
        ({"translation": (1, 2), "order": -1}, ValueError, "order"),
        ({"translation": (1, 2), "cval": "x"}, TypeError, "cval"),
    ],
)
def test_translate_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        ImageArray(_data()).translate(**kwargs)


# ============================================================ translate_limits
@pytest.mark.parametrize(
    ("shift", "reverse", "box"),
    [
        ((0, 0), False, (0, COLS, 0, ROWS)),
        ((3, -2), False, (3, COLS, 0, ROWS - 2)),
        ((3, -2), True, (0, COLS - 3, 2, ROWS)),
        ((-10, 5), False, (0, COLS - 10, 5, ROWS)),
        ((2.5, 0.2), False, (3, COLS, 1, ROWS)),
        ((-2.5, -0.2), False, (0, COLS - 3, 0, ROWS - 1)),
        ((COLS + 5, 0), False, (COLS, COLS, 0, ROWS)),
        ((0, -(ROWS + 5)), False, (0, COLS, 0, 0)),
    ],
)
def test_translate_limits_closed_form(shift, reverse, box):
    result = geometry.translate_limits(np.zeros((ROWS, COLS)), shift, reverse=reverse)
    assert result == box
    assert isinstance(result, tuple) and all(type(v) is int for v in result)


def test_translate_limits_crop_holds_only_original_pixels():
    data = _data()
    moved = ImageArray(data).translate((7, -4), mode="constant")
    box = moved.translate_limits((7, -4))
    kept = moved.crop(box)
    assert not np.ma.getmaskarray(kept).any()
    np.testing.assert_array_equal(kept.data, data[4:, : COLS - 7])
    # reverse=True gives the source box of the same pixels in the original image
    xmin, xmax, ymin, ymax = ImageArray(data).translate_limits((7, -4), reverse=True)
    np.testing.assert_array_equal(kept.data, data[ymin:ymax, xmin:xmax])


def test_translate_limits_from_metadata_and_on_imagefile():
    doc = ImageFile(ImageArray(np.zeros((ROWS, COLS)), metadata={"translation": (3, -2)}))
    before = _snapshot(doc.image)
    assert doc.translate_limits("translation") == (3, COLS, 0, ROWS - 2)
    assert doc.translate_limits((3, -2), True) == (0, COLS - 3, 2, ROWS)
    _assert_unchanged(doc.image, before)
    assert "history" not in doc.metadata


def test_translate_limits_of_a_stack_uses_the_frame_shape():
    assert geometry.translate_limits(np.zeros((4, ROWS, COLS)), (3, -2)) == (3, COLS, 0, ROWS - 2)


# ====================================================== common image behaviour
CALLS = [
    ("rotate", (0.3,), {}),
    ("rotate", (np.pi / 2,), {"resize": True}),
    ("translate", ((2.5, -1.5),), {"mode": "constant"}),
    ("translate", ((4, 2),), {"add_metadata": True}),
]


@pytest.mark.parametrize(("name", "args", "kwargs"), CALLS)
def test_metadata_kept_history_once_input_unchanged(name, args, kwargs):
    im = ImageArray(_data(), mask=_mask((ROWS, COLS)), metadata={"sample": "Py", "history": ["load()"]})
    im.set_calibration(0.5, "um")
    before = _snapshot(im)
    result = getattr(im, name)(*args, **kwargs)
    _assert_unchanged(im, before)
    assert result["sample"] == "Py"
    assert result.calibration == im.calibration
    assert result["history"][:-1] == ["load()"]
    assert result["history"][-1].startswith(f"{name}(")
    assert result.metadata is not im.metadata


@pytest.mark.parametrize(("name", "args", "kwargs"), CALLS)
def test_function_method_and_imagefile_agree(name, args, kwargs):
    data = _data()
    plain = getattr(geometry, name)(data, *args, **kwargs)
    method = getattr(ImageArray(data), name)(*args, **kwargs)
    doc = ImageFile(ImageArray(data.copy()))
    returned = getattr(doc, name)(*args, **kwargs)
    assert returned is doc
    for result in (plain, method, doc.image):
        assert isinstance(result, ImageArray)
        np.testing.assert_array_equal(result.data, plain.data)
        np.testing.assert_array_equal(np.ma.getmaskarray(result), np.ma.getmaskarray(plain))
    assert len(doc.metadata["history"]) == 1


def test_real_kerr_image(kerr_dir):
    image = ImageFile.load(kerr_dir / "kermit.png").image
    data = np.asarray(image.data)
    assert data.shape[0] != data.shape[1]
    turned = image.rotate(0.05)
    np.testing.assert_array_equal(turned.data, _sk_rotate(data, 0.05))
    assert turned.dtype == np.float64 and turned.max() > 1.5  # 16-bit counts kept, not scaled
    moved = image.translate((1.5, -2.25))
    np.testing.assert_allclose(moved.data, ndimage.shift(data.astype(float), (-2.25, 1.5), mode="grid-wrap"), atol=1e-9)
    assert turned.metadata.keys() >= image.metadata.keys() - {"history"}


# ============================================== CW, CCW, flip_h, flip_v (properties)
FLIPS = [
    ("CW", lambda a: np.rot90(a, -1, axes=(-2, -1))),
    ("CCW", lambda a: np.rot90(a, 1, axes=(-2, -1))),
    ("flip_h", lambda a: a[..., ::-1]),
    ("flip_v", lambda a: a[..., ::-1, :]),
]


@pytest.mark.parametrize(("name", "reference"), FLIPS)
@pytest.mark.parametrize("shape", [(ROWS, COLS), (3, 20, 50)])
def test_quarter_turns_and_mirrors(name, reference, shape):
    data = np.arange(np.prod(shape), dtype=float).reshape(shape)
    mask = _mask(shape)
    im = ImageArray(data, mask=mask, metadata={"sample": "Py"})
    before = _snapshot(im)
    result = getattr(im, name)
    np.testing.assert_array_equal(result.data, reference(data))
    np.testing.assert_array_equal(np.ma.getmaskarray(result), reference(mask))
    assert result.shape == reference(data).shape
    assert result["sample"] == "Py"
    assert not np.shares_memory(result.data, data)
    _assert_unchanged(im, before)


def test_flips_match_numpy_fliplr_flipud_and_rot90_on_non_square():
    data = _data()
    im = ImageArray(data)
    np.testing.assert_array_equal(im.flip_h.data, np.fliplr(data))
    np.testing.assert_array_equal(im.flip_v.data, np.flipud(data))
    assert im.CW.shape == im.CCW.shape == (COLS, ROWS)
    np.testing.assert_array_equal(im.CW.data, np.rot90(data, -1))
    np.testing.assert_array_equal(im.CW.CCW.data, data)
    # clockwise on screen: the top-left pixel goes to the top-right
    assert im.CW[0, -1] == data[0, 0]
    assert im.CCW[-1, 0] == data[0, 0]


@pytest.mark.parametrize("name", ["CW", "CCW"])
def test_quarter_turns_swap_calibration(name):
    im = ImageArray(_data())
    im.set_calibration((0.5, 2.0), "nm")
    turned = getattr(im, name)
    assert turned.pixel_size == (2.0, 0.5)
    assert im.pixel_size == (0.5, 2.0)


@pytest.mark.parametrize(("name", "reference"), FLIPS)
def test_quarter_turns_and_mirrors_on_imagefile(name, reference):
    data = _data()
    doc = ImageFile(ImageArray(data, metadata={"sample": "Py"}))
    result = getattr(doc, name)
    assert isinstance(result, ImageFile) and result is not doc
    np.testing.assert_array_equal(result.image.data, reference(data))
    np.testing.assert_array_equal(doc.image.data, data)
    assert result.metadata["sample"] == "Py"
