"""Tests for stonerimg.funcs.intensity.

References are computed independently: scikit-image's public ``img_as_*`` functions
and ``dtype_limits`` called directly on the same data, NumPy (``np.clip``,
``np.maximum``, ``np.quantile``, ``np.nanmin``) and closed forms evaluated with
Python integers (no overflow).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import skimage.util as sku

import stonerimg
from stonerimg import ConversionWarning, ImageArray, ImageFile, funcs

try:  # private in scikit-image, the only public door to uniform quantisation
    from skimage.util.dtype import _convert as _sk_convert
except ImportError:  # pragma: no cover - depends on the installed scikit-image
    _sk_convert = None


# ------------------------------------------------------------------ helpers
def _sample(dtype, nonneg=False, shape=(6, 7), seed=0):
    """Deterministic data spanning the type's range (extremes included)."""
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    n = shape[0] * shape[1]
    if dtype.kind == "b":
        return (np.arange(n) % 3 == 0).reshape(shape)
    if dtype.kind == "f":
        fixed = [-1.0, -0.5, -1e-3, 0.0, 0.25, 0.5, 0.999, 1.0]
        values = np.concatenate([fixed, rng.uniform(-1, 1, n - len(fixed))])
        if nonneg:
            values = np.abs(values)
        return values.astype(dtype).reshape(shape)
    info = np.iinfo(dtype)
    low = 0 if nonneg else int(info.min)
    fixed = [low, int(info.max), 0, 1, int(info.max) // 2, int(info.max) // 2 + 1, 255, 256]
    fixed = [v for v in fixed if low <= v <= info.max]
    values = np.concatenate([fixed, rng.integers(low, int(info.max), n - len(fixed), endpoint=True)])
    return values.astype(dtype).reshape(shape)


def _quiet(func, *args, **kwargs):
    """Call ``func`` with every warning silenced (references and set-ups)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return func(*args, **kwargs)


def _assert_image_equal(result, expected):
    assert isinstance(result, ImageArray)
    expected = np.asarray(expected)
    assert result.dtype == expected.dtype, f"dtype {result.dtype} != {expected.dtype}"
    assert result.shape == expected.shape
    np.testing.assert_array_equal(np.asarray(result.data), expected)


def _record(func, *args, **kwargs):
    """Call ``func`` recording every warning; return ``(result, [messages])``.

    Every warning must be a ConversionWarning.
    """
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        result = func(*args, **kwargs)
    assert all(issubclass(w.category, ConversionWarning) for w in record), [str(w.message) for w in record]
    return result, [str(w.message) for w in record]


def _call_no_warn(func, *args, **kwargs):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("error")
        result = func(*args, **kwargs)
    assert record == []
    return result


# ----------------------------------------------- convert vs scikit-image
SK_TARGETS = {
    "float64": (np.float64, sku.img_as_float),
    "float32": (np.float32, sku.img_as_float32),
    "uint8": (np.uint8, sku.img_as_ubyte),
    "uint16": (np.uint16, sku.img_as_uint),
    "int16": (np.int16, sku.img_as_int),
    "bool": (np.bool_, sku.img_as_bool),
}
SK_INPUTS = [np.uint8, np.uint16, np.int16, np.float32, np.float64, np.bool_]


def _sk_reference(data, target):
    dtype, func = SK_TARGETS[target]
    ref = _quiet(func, data)
    if ref.dtype != np.dtype(dtype):
        # img_as_float keeps float32 as float32; convert(.., float64) asks for float64 explicitly
        ref = _quiet(sku.img_as_float64, data)
    assert ref.dtype == np.dtype(dtype)
    return ref


@pytest.mark.parametrize("nonneg", [False, True], ids=["full-range", "non-negative"])
@pytest.mark.parametrize("target", list(SK_TARGETS))
@pytest.mark.parametrize("in_dtype", SK_INPUTS, ids=lambda d: np.dtype(d).name)
def test_convert_matches_skimage_img_as(in_dtype, target, nonneg):
    data = _sample(in_dtype, nonneg=nonneg)
    expected = _sk_reference(data, target)
    result = _quiet(funcs.convert, data, SK_TARGETS[target][0])
    _assert_image_equal(result, expected)


@pytest.mark.skipif(_sk_convert is None, reason="skimage.util.dtype._convert not available")
@pytest.mark.parametrize("nonneg", [False, True], ids=["full-range", "non-negative"])
@pytest.mark.parametrize("target", list(SK_TARGETS))
@pytest.mark.parametrize("in_dtype", SK_INPUTS, ids=lambda d: np.dtype(d).name)
def test_convert_uniform_matches_skimage(in_dtype, target, nonneg):
    data = _sample(in_dtype, nonneg=nonneg)
    dtype = SK_TARGETS[target][0]
    expected = _quiet(_sk_convert, data, dtype, uniform=True)
    result = _quiet(funcs.convert, data, dtype, uniform=True)
    _assert_image_equal(result, expected)


def test_convert_uniform_differs_from_default_rounding():
    data = np.array([[0.0, 0.3, 0.5, 0.7, 1.0]])
    default = np.asarray(_quiet(funcs.convert, data, np.uint8))
    uniform = np.asarray(_quiet(funcs.convert, data, np.uint8, uniform=True))
    np.testing.assert_array_equal(default, np.rint(data * 255).astype(np.uint8))
    np.testing.assert_array_equal(uniform, np.clip(np.floor(data * 256), 0, 255).astype(np.uint8))


def test_convert_uint8_examples_by_hand():
    data = np.array([[0, 128, 255]], np.uint8)
    _assert_image_equal(funcs.convert(data, np.uint16), np.array([[0, 128 * 257, 65535]], np.uint16))
    _assert_image_equal(funcs.convert(data, np.float64), data / 255.0)
    _assert_image_equal(funcs.convert(data, np.int16), np.array([[0, 128 * 257 // 2, 32767]], np.int16))


# ------------------------------------------- wide integer targets: closed forms
def _ints(values, dtype):
    return np.array([values], dtype=dtype)


CLOSED_FORMS = [
    pytest.param(np.uint8, np.uint32, [0, 1, 127, 128, 254, 255], lambda x: x * ((2**32 - 1) // 255), id="u8-u32"),
    pytest.param(np.uint8, np.uint64, [0, 1, 128, 255], lambda x: x * ((2**64 - 1) // 255), id="u8-u64"),
    pytest.param(np.uint16, np.uint32, [0, 1, 256, 65535], lambda x: x * 65537, id="u16-u32"),
    pytest.param(np.uint16, np.uint64, [0, 1, 256, 65535], lambda x: x * ((2**64 - 1) // 65535), id="u16-u64"),
    pytest.param(np.uint8, np.int32, [0, 1, 128, 255], lambda x: x * ((2**32 - 1) // 255) // 2, id="u8-i32"),
    pytest.param(np.uint16, np.int32, [0, 1, 32768, 65535], lambda x: x * 65537 // 2, id="u16-i32"),
    pytest.param(np.int16, np.int32, [-32768, -1, 0, 1, 32767], lambda x: (x + 32768) * 65537 - 2**31, id="i16-i32"),
    pytest.param(
        np.int16,
        np.int64,
        [-32768, -1, 0, 1, 32767],
        lambda x: (x + 32768) * ((2**64 - 1) // 65535) - 2**63,
        id="i16-i64",
    ),
    pytest.param(
        np.int16,
        np.uint32,
        [-32768, -1, 0, 1, 255, 256, 32766, 32767],
        lambda x: max(x, 0) * ((2**45 - 1) // (2**15 - 1)) // 2**13,
        id="i16-u32",
    ),
    pytest.param(np.uint32, np.uint8, [0, 1, 2**24, 2**32 - 1], lambda x: x // 2**24, id="u32-u8"),
    pytest.param(np.uint32, np.uint16, [0, 65535, 65536, 2**32 - 1], lambda x: x // 2**16, id="u32-u16"),
    pytest.param(np.uint16, np.uint8, [0, 255, 256, 511, 65535], lambda x: x // 256, id="u16-u8-divides"),
    pytest.param(np.uint16, np.uint8, [0, 17, 200, 255], lambda x: x, id="u16-u8-values-fit"),
    pytest.param(np.int32, np.int16, [-(2**31), -1, 0, 2**31 - 1], lambda x: x // 2**16, id="i32-i16"),
]


@pytest.mark.parametrize(("in_dtype", "out_dtype", "values", "formula"), CLOSED_FORMS)
def test_convert_integer_closed_forms(in_dtype, out_dtype, values, formula):
    data = _ints(values, in_dtype)
    expected = np.array([[formula(int(v)) for v in values]], dtype=out_dtype)
    _assert_image_equal(_quiet(funcs.convert, data, out_dtype), expected)


@pytest.mark.parametrize(
    ("out_dtype", "formula"),
    [
        (np.uint32, lambda x: np.rint(x * (2.0**32 - 1))),
        (np.int32, lambda x: np.clip(np.rint(x * (2.0**32 - 1) / 2 - 0.5), -(2**31), 2**31 - 1)),
        (np.uint64, lambda x: np.rint(x * (2.0**64 - 1))),
    ],
    ids=["f64-u32", "f64-i32", "f64-u64"],
)
def test_convert_float_to_wide_int_closed_form(out_dtype, formula):
    data = np.array([[0.0, 1e-6, 0.25, 0.5, 0.75]])
    if np.dtype(out_dtype).kind == "i":
        data = np.concatenate([data, -data], axis=1)
    expected = formula(data).astype(out_dtype)
    _assert_image_equal(_quiet(funcs.convert, data, out_dtype), expected)


@pytest.mark.parametrize(
    ("in_dtype", "divisor"), [(np.int32, 2**31 - 1), (np.uint32, 2**32 - 1), (np.int8, 127), (np.uint8, 255)]
)
def test_convert_int_to_float_divides_by_type_max(in_dtype, divisor):
    info = np.iinfo(in_dtype)
    data = _ints([info.min, -1 if info.min < 0 else 0, 0, 1, info.max // 3, info.max], in_dtype)
    expected = np.maximum(data.astype(np.float64) / divisor, -1.0)
    result = funcs.convert(data, np.float64)
    assert result.dtype == np.float64
    np.testing.assert_allclose(np.asarray(result), expected, rtol=1e-15)
    assert result.min() >= -1.0 and result.max() == 1.0


@pytest.mark.parametrize("in_dtype", [np.uint8, np.uint16, np.int16, np.int32])
@pytest.mark.parametrize("out_dtype", [np.float32, np.float64])
def test_convert_normalise_false_keeps_integer_values(in_dtype, out_dtype):
    data = _sample(in_dtype)
    result = funcs.convert(data, out_dtype, normalise=False)
    _assert_image_equal(result, data.astype(out_dtype))


def test_convert_float_outside_range_clipped_with_warning():
    data = np.array([[-2.0, -1.0, 0.5, 1.0, 3.0]])
    result, messages = _record(funcs.convert, data, np.int16)
    assert any("clipped" in m for m in messages)
    _assert_image_equal(result, _quiet(sku.img_as_int, np.clip(data, -1, 1)))
    assert result[0, 0] == -32768 and result[0, -1] == 32767
    result, messages = _record(funcs.convert, data, np.uint8)
    assert any("clipped" in m for m in messages)
    _assert_image_equal(result, _quiet(sku.img_as_ubyte, np.clip(data, 0, 1)))


def test_convert_float_inside_range_to_int_warns_only_precision():
    _, messages = _record(funcs.convert, np.array([[-1.0, 0.0, 1.0]]), np.int16)
    assert messages and all("precision" in m for m in messages)


def test_convert_nan_becomes_zero_for_integers():
    data = np.array([[np.nan, 0.5, 1.0]])
    result = _quiet(funcs.convert, data, np.uint8)
    np.testing.assert_array_equal(np.asarray(result), [[0, 128, 255]])


@pytest.mark.parametrize(
    ("data", "dtype"),
    [
        pytest.param(np.array([[0, 300, 65535]], np.uint16), np.uint8, id="uint16-uint8"),
        pytest.param(np.array([[0, 100, 200]], np.uint16), np.uint8, id="uint16-uint8-values-fit"),
        pytest.param(np.array([[0.0, 0.5, 1.0]]), np.uint8, id="float64-uint8"),
        pytest.param(np.array([[0.0, 0.5, 1.0]]), np.float32, id="float64-float32"),
        pytest.param(np.array([[0.0, 0.5, 1.0]], np.float32), np.int16, id="float32-int16"),
        pytest.param(np.array([[0, 5]], np.uint8), np.int8, id="uint8-int8"),
    ],
)
def test_convert_warns_on_precision_loss(data, dtype):
    with pytest.warns(ConversionWarning, match="precision"):
        funcs.convert(data, dtype)


@pytest.mark.parametrize("dtype", [np.uint16, np.uint8, np.uint32])
def test_convert_warns_on_sign_loss(dtype):
    data = np.array([[-5, 0, 1000]], np.int16)
    result, messages = _record(funcs.convert, data, dtype)
    assert any("sign" in m for m in messages)
    assert result[0, 0] == 0


@pytest.mark.parametrize("dtype", [np.uint16, np.uint8])
def test_convert_non_negative_int_to_unsigned_has_no_sign_warning(dtype):
    _, messages = _record(funcs.convert, np.array([[0, 5, 1000]], np.int16), dtype)
    assert not any("sign" in m for m in messages)


def test_convert_negative_float_to_unsigned_warns_sign_loss():
    result, messages = _record(funcs.convert, np.array([[-0.5, 0.5]]), np.uint8)
    assert any("sign" in m for m in messages)
    assert result[0, 0] == 0


@pytest.mark.parametrize(
    ("data", "dtype"),
    [
        pytest.param(np.array([[0, 255]], np.uint8), np.uint16, id="uint8-uint16"),
        pytest.param(np.array([[0, 255]], np.uint8), np.uint32, id="uint8-uint32"),
        pytest.param(np.array([[0, 255]], np.uint8), np.int16, id="uint8-int16"),
        pytest.param(np.array([[0, 255]], np.uint8), np.float64, id="uint8-float64"),
        pytest.param(np.array([[0, 255]], np.uint8), np.float32, id="uint8-float32"),
        pytest.param(np.array([[-5, 5]], np.int16), np.int32, id="int16-int32"),
        pytest.param(np.array([[-5, 5]], np.int16), np.float64, id="int16-float64"),
        pytest.param(np.array([[0.0, 1.0]], np.float32), np.float64, id="float32-float64"),
        pytest.param(np.array([[True, False]]), np.uint8, id="bool-uint8"),
        pytest.param(np.array([[0.0, 1.0]]), np.float64, id="same-dtype"),
    ],
)
def test_convert_lossless_widening_does_not_warn(data, dtype):
    result = _call_no_warn(funcs.convert, data, dtype)
    assert result.dtype == np.dtype(dtype)


@pytest.mark.parametrize("dtype", [np.uint8, np.float64, np.int16])
def test_convert_keeps_mask_and_metadata(dtype):
    data = np.array([[0.0, 0.25], [0.5, 1.0]])
    mask = np.array([[True, False], [False, True]])
    im = ImageArray(data, mask=mask, metadata={"sample": "Py", "energy": 706.5})
    result = _quiet(im.convert, dtype)
    assert result.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(np.ma.getmaskarray(result), mask)
    assert result["sample"] == "Py" and result["energy"] == 706.5
    assert result.metadata is not im.metadata
    if np.dtype(dtype) != data.dtype:
        # a converted image owns its mask
        result.mask[0, 1] = True
        assert not im.mask[0, 1]


def test_convert_same_dtype_shares_memory_unless_force_copy():
    data = np.array([[0.0, 0.5, 1.0]])
    im = ImageArray(data, metadata={"a": 1})
    same = im.convert(np.float64)
    assert np.shares_memory(same, data)
    assert same is not im
    assert same["history"] == ["convert(numpy.float64)"]
    assert "history" not in im.metadata
    copied = im.convert(np.float64, force_copy=True)
    assert not np.shares_memory(copied, data)
    np.testing.assert_array_equal(np.asarray(copied), data)
    assert copied["a"] == 1


def test_convert_other_dtype_is_new_memory():
    data = np.array([[0, 255]], np.uint8)
    result = funcs.convert(data, np.uint16)
    assert not np.shares_memory(result, data)


def test_convert_unsupported_dtype_raises():
    with pytest.raises(ValueError, match="dtype"):
        funcs.convert(np.array([[1.0, 2.0]]), np.complex128)
    with pytest.raises(ValueError, match="dtype"):
        funcs.convert(np.array([[1 + 1j]]), np.float64)


# ---------------------------------------------------------------- asfloat
def test_asfloat_uint8_normalised():
    data = np.array([[0, 51, 255]], np.uint8)
    result = funcs.asfloat(data)
    _assert_image_equal(result, data / 255.0)
    assert result[0, 2] == 1.0


def test_asfloat_normalise_false_keeps_values():
    data = np.array([[0, 51, 255]], np.uint8)
    _assert_image_equal(funcs.asfloat(data, normalise=False), np.array([[0.0, 51.0, 255.0]]))


@pytest.mark.parametrize("in_dtype", [np.uint8, np.uint16, np.int16, np.bool_])
def test_asfloat_integers_match_skimage(in_dtype):
    data = _sample(in_dtype)
    _assert_image_equal(funcs.asfloat(data), _quiet(sku.img_as_float64, data))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_asfloat_float_input_unchanged(dtype):
    data = np.array([[-2.0, 0.5, 3.0]], dtype)
    result = funcs.asfloat(data)
    _assert_image_equal(result, data)


def test_asfloat_clip_and_clip_negative():
    data = np.array([[-2.0, -0.5, 0.5, 3.0]])
    _assert_image_equal(funcs.asfloat(data, clip=True), np.clip(data, -1, 1))
    _assert_image_equal(funcs.asfloat(data, clip_negative=True), np.clip(data, 0, 1))
    _assert_image_equal(funcs.asfloat(data, clip=True, clip_negative=True), np.clip(data, 0, 1))
    ints = np.array([[-32768, -100, 0, 32767]], np.int16)
    _assert_image_equal(funcs.asfloat(ints, clip_negative=True), np.clip(np.maximum(ints / 32767, -1), 0, 1))


# ------------------------------------------------------------------ asint
@pytest.mark.parametrize("in_dtype", [np.uint8, np.float64, np.float32, np.bool_])
def test_asint_default_uint16_matches_skimage(in_dtype):
    data = _sample(in_dtype, nonneg=True)
    result = _quiet(funcs.asint, data)
    assert result.dtype == np.uint16
    _assert_image_equal(result, _quiet(sku.img_as_uint, data))


def test_asint_given_dtype():
    data = np.array([[0.0, 0.5, 1.0]])
    result = _quiet(funcs.asint, data, np.uint8)
    _assert_image_equal(result, _quiet(sku.img_as_ubyte, data))
    result = _quiet(funcs.asint, data, dtype=np.int16)
    _assert_image_equal(result, _quiet(sku.img_as_int, data))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.bool_, np.complex64])
def test_asint_non_integer_dtype_raises(dtype):
    with pytest.raises(ValueError, match="dtype"):
        funcs.asint(np.array([[0, 1]], np.uint8), dtype)


def test_asint_history_has_one_entry():
    result = ImageArray(np.array([[0, 255]], np.uint8)).asint()
    assert result["history"] == ["asint()"]


# ------------------------------------------------------------ dtype_limits
LIMIT_DTYPES = [np.bool_, np.uint8, np.uint16, np.uint32, np.int8, np.int16, np.int32, np.int64]
LIMIT_DTYPES += [np.float16, np.float32, np.float64]


@pytest.mark.parametrize("clip_negative", [False, True])
@pytest.mark.parametrize("dtype", LIMIT_DTYPES, ids=lambda d: np.dtype(d).name)
def test_dtype_limits_matches_skimage(dtype, clip_negative):
    data = np.zeros((2, 3), dtype)
    expected = sku.dtype_limits(data, clip_negative=clip_negative)
    assert funcs.dtype_limits(data, clip_negative=clip_negative) == expected
    assert ImageArray(data).dtype_limits(clip_negative=clip_negative) == expected
    assert ImageFile(data).dtype_limits(clip_negative=clip_negative) == expected


@pytest.mark.parametrize("dtype", LIMIT_DTYPES, ids=lambda d: np.dtype(d).name)
def test_dtype_limits_default_clips_negative(dtype):
    data = np.zeros((2, 3), dtype)
    assert funcs.dtype_limits(data) == sku.dtype_limits(data, clip_negative=True)


def test_dtype_limits_by_hand():
    assert funcs.dtype_limits(np.zeros((2, 2), np.int16), clip_negative=False) == (-32768, 32767)
    assert funcs.dtype_limits(np.zeros((2, 2), np.int16)) == (0, 32767)
    assert funcs.dtype_limits(np.zeros((2, 2)), clip_negative=False) == (-1, 1)


# ---------------------------------------------------------- clip_intensity
def _floats():
    return np.array([[-3.0, -1.0, -0.5, 0.0, 0.3, 1.0, 2.5], [np.inf, -np.inf, 0.9, -0.9, 1.0001, -1.0001, 0.1]])


def test_clip_intensity_float_default():
    data = _floats()
    _assert_image_equal(funcs.clip_intensity(data), np.clip(data, -1, 1))


def test_clip_intensity_clip_negative():
    data = _floats()
    _assert_image_equal(funcs.clip_intensity(data, clip_negative=True), np.clip(data, 0, 1))


@pytest.mark.parametrize("limits", [(-0.5, 0.5), (0.0, 2.0), (0.3, 0.3), (-10, 10)])
def test_clip_intensity_explicit_limits(limits):
    data = _floats()
    _assert_image_equal(funcs.clip_intensity(data, limits=limits), np.clip(data, *limits))


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.int32])
def test_clip_intensity_integers(dtype):
    data = _sample(dtype)
    info = np.iinfo(dtype)
    _assert_image_equal(funcs.clip_intensity(data), np.clip(data, info.min, info.max))
    _assert_image_equal(funcs.clip_intensity(data, clip_negative=True), np.clip(data, 0, info.max))
    _assert_image_equal(funcs.clip_intensity(data, limits=(10, 100)), np.clip(data, 10, 100))


def test_clip_intensity_low_above_high_raises():
    with pytest.raises(ValueError, match="limits"):
        funcs.clip_intensity(_floats(), limits=(0.5, -0.5))


def test_clip_intensity_keeps_mask():
    mask = np.zeros((2, 7), bool)
    mask[0, 0] = True
    result = ImageArray(_floats(), mask=mask).clip_intensity()
    np.testing.assert_array_equal(np.ma.getmaskarray(result), mask)


# ---------------------------------------------------------------- clip_neg
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int64, np.float32, np.float64])
def test_clip_neg_matches_np_maximum(dtype):
    data = _sample(dtype)
    if np.dtype(dtype).kind == "f":
        data = data * 3
    _assert_image_equal(funcs.clip_neg(data), np.maximum(data, np.zeros((), dtype)))


def test_clip_neg_keeps_nan_and_large_values():
    data = np.array([[np.nan, -1.0, 2.0, -np.inf, np.inf]])
    result = funcs.clip_neg(data)
    np.testing.assert_array_equal(np.asarray(result), [[np.nan, 0.0, 2.0, 0.0, np.inf]])


# --------------------------------------------------------------- normalise
def _normalised(x, low, high, scale=(-1.0, 1.0)):
    return (x - low) / (high - low) * (scale[1] - scale[0]) + scale[0]


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.float32, np.float64])
def test_normalise_default_scale(dtype):
    data = _sample(dtype, seed=3)
    result = funcs.normalise(data)
    assert result.dtype == np.float64
    x = data.astype(np.float64)
    np.testing.assert_allclose(np.asarray(result), _normalised(x, x.min(), x.max()), rtol=1e-12, atol=1e-12)
    assert result.min() == pytest.approx(-1.0) and result.max() == pytest.approx(1.0)


@pytest.mark.parametrize("scale", [(0.0, 1.0), (0.0, 255.0), (-5.0, 5.0), (1.0, -1.0)])
def test_normalise_given_scale(scale):
    data = np.array([[2.0, 4.0, 6.0], [3.0, 5.0, 10.0]])
    result = funcs.normalise(data, scale=scale)
    np.testing.assert_allclose(np.asarray(result), _normalised(data, 2.0, 10.0, scale))


def test_normalise_docstring_example():
    assert ImageArray(np.array([[2.0, 4.0, 6.0]])).normalise().tolist() == [[-1.0, 0.0, 1.0]]


def test_normalise_sample_box_sets_range_only():
    rng = np.random.default_rng(7)
    data = rng.normal(size=(20, 30))
    result = funcs.normalise(data, sample=(5, 15, 2, 8))
    region = data[2:8, 5:15]
    expected = _normalised(data, region.min(), region.max())
    assert result.shape == data.shape
    np.testing.assert_allclose(np.asarray(result), expected, rtol=1e-12, atol=1e-12)
    # outside the sample values are not clipped
    assert result.max() > 1.0 or result.min() < -1.0


def test_normalise_sample_box_other_forms():
    rng = np.random.default_rng(8)
    data = rng.normal(size=(20, 100))
    region = data[2:18, 10:90]  # a 10% border
    np.testing.assert_allclose(
        np.asarray(funcs.normalise(data, sample=0.1)), _normalised(data, region.min(), region.max()), rtol=1e-12
    )
    im = ImageArray(data, metadata={"roi": (0, 50, 0, 10)})
    region = data[0:10, 0:50]
    np.testing.assert_allclose(np.asarray(im.normalise(sample="roi")), _normalised(data, region.min(), region.max()))


@pytest.mark.parametrize("limits", [(0.1, 0.9), (0.0, 0.95), (0.02, 1.0), (0.25, 0.75)])
def test_normalise_limits_are_cdf_fractions(limits):
    rng = np.random.default_rng(11)
    data = rng.standard_cauchy(size=(30, 40))  # heavy outliers
    low, high = np.quantile(data, limits)
    expected = np.clip(_normalised(data, low, high), -1.0, 1.0)
    result = funcs.normalise(data, limits=limits)
    np.testing.assert_allclose(np.asarray(result), expected, rtol=1e-12, atol=1e-12)


def test_normalise_limits_with_scale_clips_to_scale():
    rng = np.random.default_rng(12)
    data = rng.normal(size=(10, 10))
    low, high = np.quantile(data, [0.1, 0.9])
    result = funcs.normalise(data, scale=(0.0, 100.0), limits=(0.1, 0.9))
    np.testing.assert_allclose(np.asarray(result), np.clip(_normalised(data, low, high, (0, 100)), 0, 100))


@pytest.mark.parametrize("limits", [(0.5, 0.2), (0.3, 0.3), (-0.1, 0.9), (0.1, 1.5)])
def test_normalise_bad_limits_raise(limits):
    with pytest.raises(ValueError, match="limits"):
        funcs.normalise(np.arange(12.0).reshape(3, 4), limits=limits)


def test_normalise_masked_pixels_excluded_and_unchanged():
    data = np.array([[0.0, 1.0, 2.0], [3.0, 4.0, 1000.0]])
    mask = np.array([[False, False, False], [False, False, True]])
    im = ImageArray(data, mask=mask)
    result = im.normalise()
    unmasked = data[~mask]
    expected = _normalised(data, unmasked.min(), unmasked.max())
    expected[mask] = data[mask]
    np.testing.assert_allclose(np.asarray(result.data), expected)
    np.testing.assert_array_equal(np.ma.getmaskarray(result), mask)


def test_normalise_scale_masked():
    data = np.array([[0.0, 1.0, 2.0], [3.0, 4.0, 8.0]])
    mask = np.array([[False, False, False], [False, False, True]])
    result = ImageArray(data, mask=mask).normalise(scale_masked=True)
    # the range still comes from the unmasked pixels (0..4); the masked one is scaled too
    np.testing.assert_allclose(np.asarray(result.data), _normalised(data, 0.0, 4.0))
    assert result.data[1, 2] == pytest.approx(3.0)


def test_normalise_limits_ignore_masked_pixels():
    rng = np.random.default_rng(5)
    data = rng.normal(size=(10, 10))
    mask = data > 1.0
    low, high = np.quantile(data[~mask], [0.1, 0.9])
    result = ImageArray(data, mask=mask).normalise(limits=(0.1, 0.9))
    expected = np.clip(_normalised(data, low, high), -1, 1)
    expected[mask] = data[mask]
    np.testing.assert_allclose(np.asarray(result.data), expected, rtol=1e-12, atol=1e-12)


def test_normalise_ignores_nan():
    data = np.array([[np.nan, 2.0, 4.0], [6.0, np.nan, 3.0]])
    result = funcs.normalise(data)
    expected = _normalised(data, np.nanmin(data), np.nanmax(data))
    np.testing.assert_allclose(np.asarray(result), expected)
    assert np.isnan(result[0, 0]) and np.isnan(result[1, 1])


@pytest.mark.parametrize(
    "data",
    [np.full((3, 4), 5.0), np.full((3, 4), 7, np.uint8), np.array([[np.nan, 2.0, 2.0]])],
    ids=["float", "uint8", "nan-and-flat"],
)
def test_normalise_flat_image_raises(data):
    with pytest.raises(ValueError, match="normalise|value"):
        funcs.normalise(data)


def test_normalise_all_masked_raises():
    im = ImageArray(np.arange(6.0).reshape(2, 3), mask=np.ones((2, 3), bool))
    with pytest.raises(ValueError):
        im.normalise()


def test_normalise_flat_sample_raises():
    data = np.arange(20.0 * 30).reshape(20, 30)
    data[:5, :5] = 1.0
    with pytest.raises(ValueError):
        funcs.normalise(data, sample=(0, 5, 0, 5))


# -------------------------------------------------------------------- span
@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float32, np.float64])
def test_span_plain(dtype):
    data = _sample(dtype, seed=4)
    low, high = funcs.span(data)
    assert (low, high) == (data.min(), data.max())
    assert ImageArray(data).span() == (data.min(), data.max())


@pytest.mark.parametrize("dtype", [np.uint16, np.int32, np.float64])
def test_span_excludes_masked(dtype):
    data = _sample(dtype, seed=5)
    mask = np.zeros(data.shape, bool)
    mask[data == data.max()] = True
    mask[data == data.min()] = True
    mask[2, 3] = True
    im = ImageArray(data, mask=mask)
    expected = (np.nanmin(data[~mask]), np.nanmax(data[~mask]))
    assert im.span() == expected
    assert funcs.span(im) == expected
    assert ImageFile(im).span() == expected


def test_span_excludes_nan_and_masked():
    data = np.array([[np.nan, -9.0, 2.0], [4.0, 50.0, np.nan]])
    mask = np.array([[False, True, False], [False, True, False]])
    im = ImageArray(data, mask=mask)
    low, high = im.span()
    assert (low, high) == (np.nanmin(data[~mask]), np.nanmax(data[~mask])) == (2.0, 4.0)
    assert not np.isnan(low) and not np.isnan(high)


@pytest.mark.parametrize(
    "im",
    [
        ImageArray(np.arange(6.0).reshape(2, 3), mask=np.ones((2, 3), bool)),
        ImageArray(np.full((2, 3), np.nan)),
        ImageArray(np.array([[np.nan, 1.0]]), mask=np.array([[False, True]])),
    ],
    ids=["all-masked", "all-nan", "nan-or-masked"],
)
def test_span_nothing_left_raises(im):
    with pytest.raises(ValueError):
        im.span()


def test_imagefile_span_returns_tuple_and_leaves_image():
    data = np.array([[1.0, 5.0, 9.0]])
    f = ImageFile(data)
    image = f.image
    assert f.span() == (1.0, 9.0)
    assert f.image is image
    np.testing.assert_array_equal(np.asarray(f.image), data)
    assert "history" not in f.metadata


# ---------------------------------------------------------------- im_scale
def test_im_scale_8_to_16_is_exact():
    data = np.arange(256, dtype=np.uint8).reshape(16, 16)
    result = funcs.im_scale(data, 8, 16)
    _assert_image_equal(result, data.astype(np.uint16) * 257)
    assert result.max() == 65535


def test_im_scale_16_to_8():
    data = np.array([[0, 255, 256, 1000, 65535]], np.uint16)
    with pytest.warns(ConversionWarning, match="precision"):
        result = funcs.im_scale(data, 16, 8)
    _assert_image_equal(result, (data // 256).astype(np.uint8))


def test_im_scale_12_to_16_non_multiple():
    values = [0, 1, 2, 100, 2047, 2048, 4094, 4095]
    data = np.array([values], np.uint16)
    # scale up to 24 bits (a multiple of 12), then down to 16
    expected = np.array([[v * ((2**24 - 1) // (2**12 - 1)) // 2**8 for v in values]], np.uint16)
    result = funcs.im_scale(data, 12, 16)
    _assert_image_equal(result, expected)
    assert result[0, -1] == 65535


def test_im_scale_8_to_32():
    data = np.array([[0, 1, 255]], np.uint8)
    result = funcs.im_scale(data, 8, 32)
    _assert_image_equal(result, np.array([[0, 16843009, 2**32 - 1]], np.uint32))


def test_im_scale_non_negative_signed_input():
    # plain Python integers give NumPy's default signed integer type
    data = np.array([[0, 1, 128, 255]])
    result = funcs.im_scale(data, 8, 16)
    np.testing.assert_array_equal(np.asarray(result), [[0, 257, 128 * 257, 65535]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.bool_])
def test_im_scale_non_integer_raises(dtype):
    with pytest.raises(ValueError, match="integer"):
        funcs.im_scale(np.zeros((2, 2), dtype), 8, 16)


def test_im_scale_bad_bit_counts_raise():
    with pytest.raises(ValueError):
        funcs.im_scale(np.zeros((2, 2), np.uint8), 0, 16)
    with pytest.raises(ValueError):
        funcs.im_scale(np.zeros((2, 2), np.uint8), 8, 65)


# ------------------------------------- every function: the three entry points
def _masked(data):
    mask = np.zeros(data.shape, bool)
    mask[0, 1] = True
    return mask


# name, args, kwargs, input data, reference(data) for the result's values
IMAGE_SPECS = [
    pytest.param(
        "convert",
        (np.float64,),
        {},
        _sample(np.uint8),
        lambda d: _quiet(sku.img_as_float64, d),
        id="convert",
    ),
    pytest.param(
        "convert",
        (np.uint16,),
        {"force_copy": True},
        _sample(np.uint8),
        lambda d: _quiet(sku.img_as_uint, d),
        id="convert-uint16",
    ),
    pytest.param("asfloat", (), {}, _sample(np.uint16), lambda d: d / 65535.0, id="asfloat"),
    pytest.param(
        "asfloat", (), {"normalise": False}, _sample(np.int16), lambda d: d.astype(np.float64), id="asfloat-raw"
    ),
    pytest.param("asint", (), {}, _sample(np.uint8), lambda d: d.astype(np.uint16) * 257, id="asint"),
    pytest.param("clip_intensity", (), {}, 2 * _sample(np.float64), lambda d: np.clip(d, -1, 1), id="clip_intensity"),
    pytest.param(
        "clip_intensity",
        (),
        {"limits": (-0.2, 0.4)},
        _sample(np.float32),
        lambda d: np.clip(d, np.float32(-0.2), np.float32(0.4)),
        id="clip_intensity-limits",
    ),
    pytest.param("clip_neg", (), {}, _sample(np.int16), lambda d: np.maximum(d, np.int16(0)), id="clip_neg"),
    pytest.param(
        "normalise",
        (),
        {"scale": (0.0, 1.0)},
        _sample(np.float64),
        lambda d: (d - d.min()) / (d.max() - d.min()),
        id="normalise",
    ),
    pytest.param("im_scale", (8, 16), {}, _sample(np.uint8), lambda d: d.astype(np.uint16) * 257, id="im_scale"),
]


@pytest.mark.parametrize(("name", "args", "kwargs", "data", "reference"), IMAGE_SPECS)
def test_function_entry_points(name, args, kwargs, data, reference):
    func = getattr(stonerimg.funcs, name)
    expected = np.asarray(reference(data))
    original = data.copy()
    metadata = {"sample": "Py", "history": ["load(scan.tif)"]}

    # 1. plain function on a plain ndarray
    result = _call_no_warn(func, data, *args, **kwargs)
    assert isinstance(result, ImageArray)
    assert result.dtype == expected.dtype
    np.testing.assert_allclose(np.asarray(result.data), expected, rtol=1e-6)
    np.testing.assert_array_equal(data, original)
    assert len(result["history"]) == 1 and result["history"][0].startswith(f"{name}(")

    # 2. ImageArray method
    im = ImageArray(data, mask=_masked(data), metadata=metadata)
    md_before = dict(im.metadata)
    result = _call_no_warn(getattr(im, name), *args, **kwargs)
    assert isinstance(result, ImageArray)
    assert result is not im
    unmasked = ~_masked(data)  # normalise leaves masked pixels as they are
    np.testing.assert_allclose(np.asarray(result.data)[unmasked], expected[unmasked], rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(im.data), original)
    assert dict(im.metadata) == md_before
    assert im["history"] == ["load(scan.tif)"]
    assert result["sample"] == "Py"
    assert result["history"][:-1] == ["load(scan.tif)"] and len(result["history"]) == 2
    assert result["history"][-1].startswith(f"{name}(")
    np.testing.assert_array_equal(np.ma.getmaskarray(result), _masked(data))
    # the function, the method and the registry are the same object
    assert getattr(ImageArray, name) is func
    assert stonerimg.funcs.registered()[name] is func

    # 3. ImageFile method: in place, returns self
    f = ImageFile(data.copy(), metadata=metadata)
    returned = _call_no_warn(getattr(f, name), *args, **kwargs)
    assert returned is f
    assert isinstance(f.image, ImageArray)
    np.testing.assert_allclose(np.asarray(f.image.data), expected, rtol=1e-6)
    assert f["sample"] == "Py"
    assert f.metadata["history"] == ["load(scan.tif)", result["history"][-1]]


@pytest.mark.parametrize(
    ("name", "kwargs", "data", "expected"),
    [
        ("span", {}, np.array([[3.0, -1.0, 8.0]]), (-1.0, 8.0)),
        ("span", {}, np.array([[3, 200, 7]], np.uint8), (3, 200)),
        ("dtype_limits", {}, np.zeros((2, 2), np.int16), (0, 32767)),
        ("dtype_limits", {"clip_negative": False}, np.zeros((2, 2), np.int16), (-32768, 32767)),
    ],
)
def test_tuple_functions_entry_points(name, kwargs, data, expected):
    func = getattr(stonerimg.funcs, name)
    original = data.copy()
    assert func(data, **kwargs) == expected
    np.testing.assert_array_equal(data, original)
    im = ImageArray(data, metadata={"sample": "Py"})
    assert getattr(im, name)(**kwargs) == expected
    assert dict(im.metadata) == {"sample": "Py"}
    f = ImageFile(data, metadata={"sample": "Py"})
    out = getattr(f, name)(**kwargs)
    assert isinstance(out, tuple) and out == expected
    assert isinstance(f.image, ImageArray)
    np.testing.assert_array_equal(np.asarray(f.image), original)
    assert "history" not in f.metadata


def test_imagefile_methods_chain():
    data = np.array([[0, 64, 128, 255]], np.uint8)
    f = ImageFile(data)
    assert f.asfloat().normalise(scale=(0.0, 1.0)).clip_intensity() is f
    np.testing.assert_allclose(np.asarray(f.image), data / 255.0)
    assert [h.split("(")[0] for h in f.metadata["history"]] == ["asfloat", "normalise", "clip_intensity"]
