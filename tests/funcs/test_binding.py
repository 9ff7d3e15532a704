"""Tests for stonerimg.funcs._binding: @image_function, history entries and apply()."""

from __future__ import annotations

import inspect
import itertools
import warnings

import numpy as np
import pytest
import skimage.filters
import skimage.transform
from numpy.testing import assert_allclose, assert_array_equal
from scipy import ndimage

import stonerimg
import stonerimg.funcs._binding as binding
from stonerimg import ImageArray, ImageFile, funcs

FUNC_NAMES = [
    "crop",
    "convert",
    "asfloat",
    "asint",
    "dtype_limits",
    "clip_intensity",
    "clip_neg",
    "normalise",
    "span",
    "im_scale",
    "apply",
]


def _without_first(func):
    sig = inspect.signature(inspect.unwrap(func))
    return sig.replace(parameters=list(sig.parameters.values())[1:])


@pytest.fixture
def image():
    data = np.linspace(0.0, 1.0, 30).reshape(5, 6)
    return ImageArray(data, mask=data > 0.9, metadata={"sample": "Py", "energy": 780.0})


_counter = itertools.count()


@pytest.fixture
def unique_name():
    """A fresh method name; removed from both classes and the registry afterwards."""
    name = f"_test_binding_func_{next(_counter)}"
    yield name
    for cls in (ImageArray, ImageFile):
        if name in cls.__dict__:
            delattr(cls, name)
    binding._REGISTRY.pop(name, None)
    assert not hasattr(ImageArray, name) and not hasattr(ImageFile, name)


# --------------------------------------------------------------------------- binding


class TestBinding:
    @pytest.mark.parametrize("name", FUNC_NAMES)
    def test_in_dir_of_both_classes(self, name):
        assert name in dir(ImageArray)
        assert name in dir(ImageFile)
        assert name in dir(ImageArray(np.zeros((2, 2))))
        assert name in dir(ImageFile(np.zeros((2, 2))))
        assert name in funcs.registered()

    @pytest.mark.parametrize("name", FUNC_NAMES)
    def test_signature_without_image_parameter(self, name):
        func = getattr(funcs, name)
        expected = _without_first(func)
        assert inspect.signature(getattr(ImageArray(np.zeros((2, 2))), name)) == expected
        assert inspect.signature(getattr(ImageFile(np.zeros((2, 2))), name)) == expected
        assert "image" not in expected.parameters

    @pytest.mark.parametrize("name", FUNC_NAMES)
    def test_docstring_and_name(self, name):
        original = inspect.unwrap(getattr(funcs, name))
        assert original.__doc__ and len(original.__doc__) > 10
        assert getattr(ImageArray, name).__doc__ == original.__doc__
        assert getattr(ImageFile, name).__doc__ == original.__doc__
        assert getattr(ImageArray, name).__name__ == original.__name__
        assert getattr(ImageFile, name).__name__ == original.__name__

    def test_registered_returns_a_copy(self):
        reg = funcs.registered()
        reg.pop("crop")
        assert "crop" in funcs.registered()

    def test_plain_function_accepts_ndarray(self):
        arr = np.arange(20.0).reshape(4, 5)
        result = funcs.crop(arr, 1)
        assert isinstance(result, ImageArray)
        assert_array_equal(result, arr[1:-1, 1:-1])
        assert np.shares_memory(result, arr)

    def test_register_new_function(self, unique_name):
        def add_offset(image, offset: float = 1.0, *, scale: float = 2.0) -> ImageArray:
            """Add an offset, then scale."""
            return image._derive((np.asarray(image.data) + offset) * scale)

        returned = stonerimg.image_function(add_offset, name=unique_name)
        assert unique_name in dir(ImageArray) and unique_name in dir(ImageFile)
        assert unique_name in funcs.registered()
        data = np.arange(6.0).reshape(2, 3)
        im = ImageArray(data, metadata={"a": 1})
        result = getattr(im, unique_name)(3.0, scale=0.5)
        assert isinstance(result, ImageArray)
        assert_array_equal(result.data, (data + 3.0) * 0.5)
        assert result["a"] == 1
        assert result["history"] == [f"{unique_name}(3.0, scale=0.5)"]
        assert_array_equal(returned(data, 1.0).data, (data + 1.0) * 2.0)
        # ImageFile: in place, returns itself
        f = ImageFile(data.copy())
        assert getattr(f, unique_name)() is f
        assert_array_equal(f.data, (data + 1.0) * 2.0)
        # signature and docstring
        expected = _without_first(add_offset)
        assert inspect.signature(getattr(im, unique_name)) == expected
        assert inspect.signature(getattr(f, unique_name)) == expected
        assert getattr(ImageArray, unique_name).__doc__ == "Add an offset, then scale."
        assert getattr(ImageFile, unique_name).__doc__ == "Add an offset, then scale."

    def test_register_as_decorator_with_name(self, unique_name):
        @stonerimg.image_function(name=unique_name)
        def mean_value(image):
            """Mean of the pixels."""
            return float(np.mean(image.data))

        data = np.arange(6.0).reshape(2, 3)
        assert getattr(ImageArray(data), unique_name)() == 2.5
        f = ImageFile(data)
        assert getattr(f, unique_name)() == 2.5  # non-image result returned as it is
        assert "history" not in f.metadata

    def test_returning_another_argument_does_not_modify_it(self, unique_name):
        def pick_second(image, other):
            """Return the second image."""
            return other

        stonerimg.image_function(pick_second, name=unique_name)
        first = ImageArray(np.zeros((2, 2)), metadata={"which": 1})
        second = ImageArray(np.ones((2, 2)), metadata={"which": 2})
        result = getattr(first, unique_name)(second)
        assert result["which"] == 2 and len(result["history"]) == 1
        assert second.metadata == {"which": 2}
        assert first.metadata == {"which": 1}

    def test_register_duplicate_name_rejected(self, unique_name):
        crop_before = ImageArray.__dict__["crop"]
        file_crop_before = ImageFile.__dict__["crop"]
        registry_before = funcs.registered()["crop"]

        def crop(image):
            return image

        with pytest.raises(ValueError, match="crop"):
            stonerimg.image_function(crop)
        with pytest.raises(ValueError, match="already"):
            stonerimg.image_function(lambda image: image, name="normalise")
        assert ImageArray.__dict__["crop"] is crop_before
        assert ImageFile.__dict__["crop"] is file_crop_before
        assert funcs.registered()["crop"] is registry_before

        stonerimg.image_function(lambda image: image, name=unique_name)
        first = funcs.registered()[unique_name]
        with pytest.raises(ValueError, match=unique_name):
            stonerimg.image_function(lambda image: image * 2, name=unique_name)
        assert funcs.registered()[unique_name] is first


# --------------------------------------------------------------------------- history

HISTORY_CALLS = [
    ("crop", (1,), {}, "crop(1)"),
    ("crop", (1, 5, None, 0.5), {"copy": True}, "crop(1, 5, None, 0.5, copy=True)"),
    ("convert", (np.float32,), {}, "convert(numpy.float32)"),
    ("asfloat", (), {"clip": True}, "asfloat(clip=True)"),
    ("asint", (np.uint16,), {}, "asint(numpy.uint16)"),
    ("asint", (), {}, "asint()"),
    ("clip_intensity", (), {"limits": (0.2, 0.8)}, "clip_intensity(limits=(0.2, 0.8))"),
    ("clip_neg", (), {}, "clip_neg()"),
    ("normalise", (), {"scale": (0, 1)}, "normalise(scale=(0, 1))"),
    ("apply", (ndimage.gaussian_filter,), {"sigma": 2}, "gaussian_filter, sigma=2)"),
]


def _call(obj, name, args, kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stonerimg.ConversionWarning)
        return getattr(obj, name)(*args, **kwargs)


class TestHistory:
    @pytest.mark.parametrize("name, args, kwargs, text", HISTORY_CALLS, ids=[c[0] for c in HISTORY_CALLS])
    def test_one_readable_entry(self, image, name, args, kwargs, text):
        before = image.metadata.copy()
        result = _call(image, name, args, kwargs)
        history = result.metadata["history"]
        assert isinstance(history, list) and len(history) == 1
        entry = history[0]
        assert isinstance(entry, str)
        assert entry.startswith(f"{name}(") and entry.endswith(")")
        assert entry.endswith(text) if name == "apply" else entry == text
        # the input is never changed
        assert image.metadata == before
        assert "history" not in image.metadata
        assert result.metadata is not image.metadata

    @pytest.mark.parametrize("name, args, kwargs, text", HISTORY_CALLS, ids=[c[0] for c in HISTORY_CALLS])
    def test_appends_to_existing_history(self, image, name, args, kwargs, text):
        old = ["loaded(scan.tif)", "crop(2)"]
        image["history"] = old
        result = _call(image, name, args, kwargs)
        assert result["history"][:2] == ["loaded(scan.tif)", "crop(2)"]
        assert len(result["history"]) == 3
        assert image["history"] is old
        assert old == ["loaded(scan.tif)", "crop(2)"]

    @pytest.mark.parametrize("name, args, kwargs, text", HISTORY_CALLS, ids=[c[0] for c in HISTORY_CALLS])
    def test_imagefile_one_entry_per_call(self, image, name, args, kwargs, text):
        f = ImageFile(image)
        assert _call(f, name, args, kwargs) is f
        assert len(f.metadata["history"]) == 1
        _call(f, "clip_neg", (), {})
        assert len(f.metadata["history"]) == 2
        assert f.metadata["history"][-1] == "clip_neg()"
        assert "history" not in image.metadata

    def test_nested_calls_append_one(self, image):
        # asint calls convert, asfloat(clip=True) calls clip_intensity
        result = _call(image, "asint", (np.uint8,), {})
        assert result["history"] == ["asint(numpy.uint8)"]
        result = ImageArray(np.arange(6, dtype=np.uint8).reshape(2, 3)).asfloat(clip=True)
        assert result["history"] == ["asfloat(clip=True)"]

    def test_chain_accumulates(self, image):
        result = image.crop(1).normalise().clip_neg()
        assert result["history"] == ["crop(1)", "normalise()", "clip_neg()"]
        assert "history" not in image.metadata

    @pytest.mark.parametrize("call", [lambda im: im.convert(im.dtype), lambda im: im.asfloat()])
    def test_identity_result_does_not_touch_input(self, image, call):
        result = call(image)
        assert result is not image
        assert len(result["history"]) == 1
        assert "history" not in image.metadata

    def test_non_image_results_add_no_history(self, image):
        assert isinstance(image.span(), tuple)
        assert image.dtype_limits() == (0, 1)
        assert image.dtype_limits(clip_negative=False) == (-1, 1)
        assert image.apply(np.mean) == pytest.approx(np.mean(image.data))
        assert "history" not in image.metadata

    def test_failed_call_leaves_state_clean(self, image):
        with pytest.raises(ValueError):
            image.crop(1000)
        with pytest.raises(ValueError):
            image.asint(np.float32)
        assert "history" not in image.metadata
        # a following call is an outer call again and records its entry
        assert image.crop(1)["history"] == ["crop(1)"]

    def test_threads_record_one_entry_each(self, image):
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(lambda _: image.asfloat(clip=True).crop(1), range(32)))
        for result in results:
            assert result["history"] == ["asfloat(clip=True)", "crop(1)"]
        assert "history" not in image.metadata

    def test_image_argument_described(self, image):
        other = ImageArray(np.zeros((5, 6)))
        result = image.apply(np.add, other)
        entry = result["history"][0]
        assert "(5, 6)" in entry and "float64" in entry
        assert len(entry) < 200

    def test_long_argument_shortened(self, image):
        result = image.apply(lambda d, text: d, "x" * 1000)
        assert len(result["history"][0]) < 300


# --------------------------------------------------------------------------- apply


class TestApply:
    @pytest.mark.parametrize(
        "func, kwargs",
        [
            (skimage.filters.gaussian, {"sigma": 2}),
            (skimage.filters.gaussian, {"sigma": 1, "mode": "reflect"}),
            (ndimage.gaussian_filter, {"sigma": 1.5}),
            (ndimage.median_filter, {"size": 3}),
        ],
        ids=["skimage-gaussian", "skimage-gaussian-reflect", "ndimage-gaussian", "ndimage-median"],
    )
    @pytest.mark.parametrize("dtype", [np.float64, np.float32, np.uint8])
    def test_equals_direct_call(self, func, kwargs, dtype):
        rng = np.random.default_rng(42)
        data = (rng.random((16, 20)) * 200).astype(dtype)
        mask = np.zeros(data.shape, bool)
        mask[3:6, 4:9] = True
        im = ImageArray(data, mask=mask, metadata={"sample": "Py", "calibration.x.scale": 0.5})
        im.note = "kept"
        expected = func(data.copy(), **kwargs)
        result = im.apply(func, **kwargs)
        assert isinstance(result, ImageArray)
        assert result.dtype == expected.dtype
        assert_allclose(result.data, expected)
        assert_array_equal(np.ma.getmaskarray(result), mask)
        assert result["sample"] == "Py" and result["calibration.x.scale"] == 0.5
        assert result.note == "kept"
        assert_array_equal(im.data, data)  # input unchanged
        assert "history" not in im.metadata

    def test_apply_on_imagefile(self):
        data = np.random.default_rng(3).random((10, 12))
        f = ImageFile(data.copy(), mask=data > 0.95, metadata={"a": 1})
        assert f.apply(ndimage.gaussian_filter, 2) is f
        assert_allclose(f.data, ndimage.gaussian_filter(data, 2))
        assert_array_equal(np.ma.getmaskarray(f.image), data > 0.95)
        assert f.metadata["a"] == 1

    def test_mask_is_a_copy(self, image):
        result = image.apply(ndimage.gaussian_filter, 1)
        result.mask[0, 0] = True
        assert not np.ma.getmaskarray(image)[0, 0]

    @pytest.mark.parametrize("func", [np.mean, np.max, lambda d: float(d.std()), lambda d: d.shape])
    def test_scalar_result_returned(self, image, func):
        result = image.apply(func)
        expected = func(np.asarray(image.data))
        assert not isinstance(result, ImageArray)
        assert result == expected
        assert type(result) is type(expected)

    def test_shape_changing_result(self, image):
        data = np.asarray(image.data)
        expected = skimage.transform.rescale(data, 0.5)
        result = image.apply(skimage.transform.rescale, 0.5)
        assert isinstance(result, ImageArray)
        assert result.shape == expected.shape != image.shape
        assert_allclose(result.data, expected)
        assert not np.ma.getmaskarray(result).any()
        assert result["sample"] == "Py"

    def test_plain_data_passed(self, image):
        seen = []

        def record(d):
            seen.append(d)
            return d * 2

        image.apply(record)
        assert type(seen[0]) is np.ndarray
        assert np.shares_memory(seen[0], image)

    def test_extra_args_passed(self, image):
        result = image.apply(np.add, 1.5)
        assert_allclose(result.data, np.asarray(image.data) + 1.5)

    @pytest.mark.parametrize("bad", [None, 3, "gaussian", np.zeros(3)])
    def test_not_callable(self, image, bad):
        with pytest.raises(TypeError, match="callable"):
            image.apply(bad)
        with pytest.raises(TypeError, match="callable"):
            ImageFile(image).apply(bad)
