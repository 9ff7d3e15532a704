"""Tests for stonerimg.imagefile.ImageFile."""

from __future__ import annotations

import base64
import io
import operator
import re

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from PIL import Image
from scipy import ndimage
from skimage.util import invert

import stonerimg
from stonerimg import ImageArray, ImageFile, Metadata


@pytest.fixture
def arr():
    return np.arange(1.0, 21.0).reshape(4, 5)


@pytest.fixture
def imf(arr):
    return ImageFile(arr, metadata={"sample": "Py", "energy": 780.0})


# --------------------------------------------------------------------------- pass-through


class TestPassThrough:
    def test_image(self, imf, arr):
        assert isinstance(imf.image, ImageArray)
        assert np.shares_memory(imf.image, arr)
        assert_array_equal(imf.image, arr)

    def test_metadata_is_the_images(self, imf):
        assert imf.metadata is imf.image.metadata
        assert isinstance(imf.metadata, Metadata)
        imf.metadata["new"] = 1
        assert imf.image["new"] == 1
        imf["other"] = 2
        assert imf.image.metadata["other"] == 2
        assert imf["sample"] == "Py"
        del imf["other"]
        assert "other" not in imf.image.metadata

    def test_metadata_setter(self, imf):
        imf.metadata = {"x": 1}
        assert imf.image.metadata == {"x": 1}
        with pytest.raises(TypeError, match="mapping"):
            imf.metadata = 5

    def test_data(self, imf, arr):
        assert type(imf.data) is np.ndarray
        assert np.shares_memory(imf.data, arr)
        assert_array_equal(imf.data, arr)

    def test_mask(self, imf, arr):
        assert not np.ma.getmaskarray(imf.image).any()
        imf.mask = arr > 10
        assert_array_equal(np.ma.getmaskarray(imf.image), arr > 10)
        assert_array_equal(imf.mask, arr > 10)

    def test_filename(self, imf):
        assert imf.filename == ""
        imf.filename = "scan.tif"
        assert imf.image.filename == "scan.tif"
        assert imf.title == "scan.tif"

    def test_properties(self, imf):
        assert imf.shape == (4, 5)
        assert imf.dtype == np.float64
        assert imf.ndim == 2 and imf.size == 20
        assert imf.geometry == (5, 4)
        assert imf.centre == (2.0, 1.5)
        assert imf.max_box == (0, 5, 0, 4)
        assert imf.set_calibration(0.5, "nm") is imf
        assert imf.pixel_size == (0.5, 0.5)
        assert imf.calibration.x.units == "nm"

    def test_indexing(self, imf, arr):
        assert imf[1, 2] == arr[1, 2]
        imf[0, 0] = -5
        assert arr[0, 0] == -5

    def test_array_protocol(self, imf, arr):
        assert_array_equal(np.asarray(imf), arr)
        assert np.shares_memory(np.asarray(imf), arr)

    def test_from_imagearray_and_imagefile(self, imf, arr):
        other = ImageFile(imf.image)
        assert np.shares_memory(other.data, arr)
        third = ImageFile(imf)
        assert np.shares_memory(third.data, arr)
        assert third.metadata == imf.metadata

    def test_empty(self):
        assert ImageFile().shape == (0, 0)


# --------------------------------------------------------------------------- loading


class TestLoad:
    @pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float32])
    @pytest.mark.parametrize("loader", ["init", "load"])
    def test_npy(self, tmp_path, dtype, loader):
        arr = (np.arange(12) * 3).reshape(3, 4).astype(dtype)
        path = tmp_path / "plain.npy"
        np.save(path, arr)
        f = ImageFile(path) if loader == "init" else ImageFile.load(path)
        assert isinstance(f, ImageFile)
        assert f.dtype == dtype
        assert_array_equal(f.data, arr)
        assert f.filename == str(path)
        assert f.title == "plain.npy"

    @pytest.mark.parametrize("dtype", [np.uint16, np.float64])
    @pytest.mark.parametrize("loader", ["init", "load"])
    def test_tif_saved_with_stonerimg(self, tmp_path, dtype, loader):
        arr = np.arange(12).reshape(3, 4).astype(dtype)
        mask = arr > 9
        path = tmp_path / "saved.tif"
        stonerimg.save(ImageArray(arr, mask=mask, metadata={"k": 1.5, "lst": [1, (2, 3)]}), path)
        f = ImageFile(str(path)) if loader == "init" else ImageFile.load(str(path))
        assert f.dtype == dtype
        assert_array_equal(f.data, arr)
        assert f.metadata["k"] == 1.5 and f.metadata["lst"] == [1, (2, 3)]
        assert f.filename == str(path)

    def test_save_roundtrip(self, tmp_path, imf):
        path = tmp_path / "out.npy"
        assert imf.save(path) is imf
        back = ImageFile.load(path)
        assert_array_equal(back.data, imf.data)
        assert back.metadata["sample"] == "Py"

    def test_missing(self, tmp_path):
        with pytest.raises(FileNotFoundError):
            ImageFile(tmp_path / "none.tif")
        with pytest.raises(FileNotFoundError):
            ImageFile.load(tmp_path / "none.npy")

    def test_real_kerr_png(self, kerr_dir):
        path = kerr_dir / "im2_noannotations.png"
        if not path.is_file():
            pytest.skip(f"{path} not present")
        f = ImageFile(path)
        with Image.open(path) as ref:
            expected = np.asarray(ref)
        assert f.shape == expected.shape
        assert_array_equal(f.data, expected)
        assert f.filename == str(path)


# --------------------------------------------------------------------------- in-place methods


def _int_image():
    return np.arange(20, dtype=np.uint8).reshape(4, 5) * 10


METHOD_CALLS = [
    ("crop", (1,), {}),
    ("crop", (1, 4, 0, 3), {"copy": True}),
    ("normalise", (), {}),
    ("normalise", (), {"scale": (0.0, 1.0)}),
    ("convert", (np.float32,), {}),
    ("asfloat", (), {}),
    ("asint", (np.uint16,), {}),
    ("clip_intensity", (), {"limits": (20, 100)}),
    ("clip_neg", (), {}),
    ("im_scale", (8, 16), {}),
    ("apply", (ndimage.uniform_filter,), {"size": 3}),
]


class TestInPlaceMethods:
    @pytest.mark.parametrize("name, args, kwargs", METHOD_CALLS, ids=[c[0] for c in METHOD_CALLS])
    def test_method_is_in_place_and_returns_self(self, name, args, kwargs):
        arr = _int_image()
        f = ImageFile(arr.copy(), metadata={"sample": "Py"})
        old_image = f.image
        expected = getattr(ImageArray(arr.copy()), name)(*args, **kwargs)
        result = getattr(f, name)(*args, **kwargs)
        assert result is f
        assert isinstance(f.image, ImageArray)
        assert f.image is not old_image
        assert f.dtype == expected.dtype
        assert_array_equal(f.data, expected.data)
        assert f.metadata["sample"] == "Py"
        assert f.metadata["history"] == expected.metadata["history"]

    def test_chain(self, arr):
        f = ImageFile(arr)
        result = f.crop(1).normalise()
        assert result is f
        assert f.shape == (2, 3)
        inner = arr[1:-1, 1:-1]
        assert_allclose(f.data, (inner - inner.min()) / (inner.max() - inner.min()) * 2 - 1)
        assert len(f.metadata["history"]) == 2

    def test_span_returns_tuple(self, arr):
        f = ImageFile(arr, mask=arr > 15)
        before = f.image
        result = f.span()
        assert isinstance(result, tuple)
        assert result == (1.0, 15.0)
        assert f.image is before
        assert "history" not in f.metadata

    def test_dtype_limits_returns_tuple(self):
        f = ImageFile(np.zeros((2, 2), np.int8))
        assert f.dtype_limits(clip_negative=False) == (-128, 127)
        assert f.dtype == np.int8

    def test_apply_scalar_returned(self, imf, arr):
        assert imf.apply(np.sum) == arr.sum()
        assert_array_equal(imf.data, arr)


# --------------------------------------------------------------------------- arithmetic


OPS = [operator.add, operator.sub, operator.mul, operator.truediv]


def _operand(kind, arr):
    if kind == "number":
        return 2.5, 2.5
    other = np.linspace(1.0, 3.0, arr.size).reshape(arr.shape)
    if kind == "array":
        return other, other
    return ImageFile(other, metadata={"right": True}), other


class TestArithmetic:
    @pytest.mark.parametrize("op", OPS, ids=lambda o: o.__name__)
    @pytest.mark.parametrize("kind", ["number", "array", "imagefile"])
    @pytest.mark.parametrize("side", ["left", "right"])
    def test_binary(self, imf, arr, op, kind, side):
        other, other_data = _operand(kind, arr)
        md_before = imf.metadata.copy()
        arr_before = arr.copy()
        result = op(imf, other) if side == "left" else op(other, imf)
        expected = op(arr_before, other_data) if side == "left" else op(other_data, arr_before)
        assert isinstance(result, ImageFile), f"{type(result).__name__} returned"
        assert result is not imf and result is not other
        assert_allclose(result.data, expected)
        # metadata kept (as a copy, from the image on the left if both are images), operands unchanged
        if kind == "imagefile" and side == "right":
            assert result.metadata == {"right": True}
        else:
            assert result.metadata == md_before
        assert result.metadata is not imf.metadata
        assert_array_equal(arr, arr_before)
        assert imf.metadata == md_before
        assert not np.shares_memory(result.data, arr)
        if kind == "imagefile":
            assert other.metadata == {"right": True}
            assert_array_equal(other.data, other_data)
            assert result.metadata is not other.metadata

    def test_result_metadata_independent(self, imf):
        result = imf + 1
        result.metadata["changed"] = True
        assert "changed" not in imf.metadata

    def test_mask_carried(self, arr):
        f = ImageFile(arr, mask=arr > 18)
        assert_array_equal(np.ma.getmaskarray((f * 2).image), arr > 18)

    def test_negation(self, imf, arr):
        arr_before = arr.copy()
        result = -imf
        assert isinstance(result, ImageFile) and result is not imf
        assert_array_equal(result.data, -arr_before)
        assert result.metadata == imf.metadata and result.metadata is not imf.metadata
        assert_array_equal(arr, arr_before)

    @pytest.mark.parametrize(
        "data",
        [
            np.array([[0, 1, 127, 255]], dtype=np.uint8),
            np.array([[0, 1, 30000, 65535]], dtype=np.uint16),
            np.array([[-32768, -1, 0, 32767]], dtype=np.int16),
            np.array([[-128, -1, 0, 127]], dtype=np.int8),
            np.array([[0, 1, 2**31, 2**32 - 1]], dtype=np.uint32),
            np.array([[True, False, False, True]]),
            np.array([[0.0, 0.25, 1.0, -0.5]], dtype=np.float32),
            np.array([[0.0, 0.25, 1.0, 2.0]], dtype=np.float64),
        ],
        ids=lambda d: str(d.dtype),
    )
    def test_invert_matches_skimage(self, data):
        original = data.copy()
        f = ImageFile(data, metadata={"a": 1})
        result = ~f
        expected = invert(original)
        assert isinstance(result, ImageFile) and result is not f
        assert result.dtype == expected.dtype
        assert_array_equal(result.data, expected)
        assert result.metadata == {"a": 1}
        assert_array_equal(f.data, original)


class TestEquality:
    def test_equal(self, imf):
        assert imf == imf.clone
        assert not (imf != imf.clone)
        assert imf == ImageFile(imf.data.copy(), metadata=dict(imf.metadata))

    def test_nan_data_equal(self):
        a = np.array([[np.nan, 1.0]])
        assert ImageFile(a) == ImageFile(a.copy())

    def test_data_differs(self, imf):
        other = imf.clone
        other[0, 0] = 1000.0
        assert imf != other
        assert not (imf == other)

    def test_mask_differs(self, imf, arr):
        other = imf.clone
        other.mask = arr > 10
        assert imf != other

    def test_metadata_differs(self, imf):
        other = imf.clone
        other.metadata["sample"] = "Co"
        assert imf != other
        other = imf.clone
        other.metadata["extra"] = None
        assert imf != other

    def test_shape_and_dtype_differ(self, imf, arr):
        assert imf != ImageFile(arr[:2], metadata=dict(imf.metadata))
        assert imf != ImageFile(arr.astype(np.float32), metadata=dict(imf.metadata))

    def test_other_types(self, imf, arr):
        assert (imf == "text") is False
        assert (imf == 5) is False


# --------------------------------------------------------------------------- notebook display


def _open_png(data: bytes):
    assert isinstance(data, bytes)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    img = Image.open(io.BytesIO(data))
    img.load()
    assert img.format == "PNG"
    return img


DISPLAY_CASES = {
    "small": np.arange(20.0).reshape(4, 5),
    "large": np.random.default_rng(0).random((600, 300)),
    "wide-uint16": np.arange(2000, dtype=np.uint16).reshape(2, 1000),
    "stack": np.random.default_rng(1).random((3, 40, 50)),
    "all-nan": np.full((8, 9), np.nan),
    "empty": np.zeros((0, 0)),
    "bool": np.eye(6, dtype=bool),
}


@pytest.mark.parametrize("case", list(DISPLAY_CASES))
class TestDisplay:
    def test_repr_png(self, case):
        data = DISPLAY_CASES[case]
        img = _open_png(ImageFile(data)._repr_png_())
        assert max(img.size) <= 256
        assert min(img.size) >= 1
        if case == "small":  # a tiny image is enlarged (nearest neighbour) to a visible thumbnail of its aspect
            assert img.size == (256, 205)

    def test_repr_html(self, case):
        data = DISPLAY_CASES[case]
        f = ImageFile(data, metadata={"sample_name": "Permalloy"})
        text = f._repr_html_()
        assert isinstance(text, str)
        match = re.search(r"<img[^>]*src=['\"]data:image/png;base64,([A-Za-z0-9+/=]+)['\"]", text)
        assert match, text[:200]
        _open_png(base64.b64decode(match.group(1)))
        assert str(data.shape) in text
        assert str(data.dtype) in text
        assert "sample_name" in text and "Permalloy" in text

    def test_display_does_not_change_image(self, case):
        data = DISPLAY_CASES[case]
        f = ImageFile(data.copy(), metadata={"a": 1})
        f._repr_html_()
        assert_array_equal(f.data, data)
        assert f.metadata == {"a": 1}


def test_repr_png_scales_intensity():
    data = np.zeros((10, 10))
    data[:, 5:] = 1.0
    img = np.asarray(_open_png(ImageFile(data)._repr_png_()))  # enlarged to 256 x 256, nearest neighbour
    assert img.shape == (256, 256)
    assert img[:, :128].max() == 0
    assert img[:, 128:].min() == 255


def test_repr_html_escapes_metadata():
    f = ImageFile(np.zeros((3, 3)), metadata={"<script>alert(1)</script>": "<b>bold</b>"})
    text = f._repr_html_()
    assert "<script>" not in text and "<b>bold</b>" not in text
    assert "&lt;script&gt;" in text


def test_reductions_give_numbers_and_arrays_not_documents():
    data = np.arange(6.0).reshape(2, 3)
    doc = ImageFile(data)
    total = np.sum(doc)
    assert not isinstance(total, ImageFile) and total == data.sum()
    columns = np.add.reduce(doc, axis=0)
    assert not isinstance(columns, ImageFile) and columns.tolist() == data.sum(axis=0).tolist()
    assert isinstance(np.sin(doc), ImageFile) and isinstance(np.add.accumulate(doc, axis=0), ImageFile)
