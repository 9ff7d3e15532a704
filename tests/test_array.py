"""Tests for stonerimg.array.ImageArray."""

from __future__ import annotations

import copy
import datetime
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import stonerimg
from stonerimg import AxisCalibration, Calibration, ImageArray, ImageFile, Metadata


@pytest.fixture
def data():
    return np.arange(20.0).reshape(4, 5)


@pytest.fixture
def image(data):
    im = ImageArray(data, mask=data > 16, metadata={"sample": "Py", "nested": [1, [2, 3]], "arr": np.arange(3)})
    im.note = "x"
    return im


def _mask(im):
    return np.ma.getmaskarray(im)


# --------------------------------------------------------------------------- constructor


class TestConstructor:
    def test_nothing_gives_empty_2d(self):
        im = ImageArray()
        assert im.shape == (0, 0)
        assert im.ndim == 2
        assert isinstance(im.metadata, Metadata) and len(im.metadata) == 0

    def test_ndarray_shares_memory(self, data):
        im = ImageArray(data)
        assert type(im) is ImageArray
        assert np.shares_memory(im, data)
        data[1, 2] = -7.0
        assert im[1, 2] == -7.0
        im[0, 0] = 42.0
        assert data[0, 0] == 42.0

    def test_same_dtype_keyword_shares_memory(self, data):
        assert np.shares_memory(ImageArray(data, dtype=data.dtype), data)

    def test_copy_true_does_not_share(self, data):
        im = ImageArray(data, copy=True)
        assert not np.shares_memory(im, data)
        assert_array_equal(im, data)
        data[0, 0] = 99
        assert im[0, 0] == 0

    @pytest.mark.parametrize("dtype", [np.float32, np.int32, np.uint8])
    def test_dtype_change_copies(self, data, dtype):
        im = ImageArray(data, dtype=dtype)
        assert im.dtype == dtype
        assert not np.shares_memory(im, data)
        assert_array_equal(im, data.astype(dtype))

    def test_list(self):
        im = ImageArray([[1, 2, 3], [4, 5, 6]])
        assert im.shape == (2, 3)
        assert im.dtype == np.asarray([[1]]).dtype
        assert_array_equal(im, [[1, 2, 3], [4, 5, 6]])

    def test_imagearray_shares_memory_but_not_metadata(self, image):
        image.filename = "scan.tif"
        other = ImageArray(image)
        assert np.shares_memory(other, image)
        assert other.metadata == image.metadata
        assert other.metadata is not image.metadata
        other["sample"] = "Co"
        other["new"] = 1
        assert image["sample"] == "Py" and "new" not in image.metadata
        assert other.note == "x"
        assert other.filename == "scan.tif"
        assert_array_equal(_mask(other), _mask(image))

    def test_imagefile_shares_memory(self, data):
        f = ImageFile(data, metadata={"a": 1})
        im = ImageArray(f)
        assert np.shares_memory(im, f.image)
        assert np.shares_memory(im, data)
        assert im.metadata == {"a": 1}
        im["a"] = 2
        assert f.metadata["a"] == 1

    @pytest.mark.parametrize("as_path", [str, Path])
    def test_path_loads(self, tmp_path, as_path):
        arr = np.arange(12, dtype=np.int16).reshape(3, 4)
        path = tmp_path / "small.npy"
        np.save(path, arr)
        im = ImageArray(as_path(path))
        assert isinstance(im, ImageArray)
        assert im.dtype == np.int16
        assert_array_equal(im, arr)
        assert os.path.samefile(im.filename, path)

    def test_missing_file(self, tmp_path):
        with pytest.raises(FileNotFoundError):
            ImageArray(tmp_path / "missing.npy")
        with pytest.raises(FileNotFoundError):
            ImageArray(str(tmp_path / "missing.tif"))

    def test_one_d_becomes_single_row(self):
        arr = np.arange(7.0)
        im = ImageArray(arr)
        assert im.shape == (1, 7)
        assert np.shares_memory(im, arr)
        assert ImageArray([1, 2, 3]).shape == (1, 3)

    def test_mask_keyword(self, data):
        mask = data > 10
        im = ImageArray(data, mask=mask)
        assert_array_equal(_mask(im), mask)
        assert im.sum() == data[~mask].sum()

    def test_mask_of_masked_source_kept(self, data):
        src = np.ma.masked_array(data, mask=data > 15)
        im = ImageArray(src)
        assert_array_equal(_mask(im), data > 15)
        assert np.shares_memory(im, data)

    def test_mask_keyword_replaces_source_mask(self, data):
        src = np.ma.masked_greater(data, 15)
        im = ImageArray(src, mask=data < 2)
        assert_array_equal(_mask(im), data < 2)

    def test_metadata_keyword(self, image):
        im = ImageArray(image, metadata={"extra": 2, "sample": "Co"})
        assert im["extra"] == 2 and im["sample"] == "Co"
        assert im["nested"] == [1, [2, 3]]
        assert "extra" not in image.metadata and image["sample"] == "Py"
        assert isinstance(im.metadata, Metadata)

    def test_metadata_keyword_dict_is_copied(self, data):
        md = {"a": 1}
        im = ImageArray(data, metadata=md)
        im["a"] = 2
        assert md == {"a": 1}

    @pytest.mark.parametrize(
        "dtype, value, expected",
        [(np.uint8, 255, 1.0), (np.uint8, 0, 0.0), (np.uint16, 65535, 1.0), (np.bool_, True, 1.0)],
    )
    def test_asfloat_keyword(self, dtype, value, expected):
        im = ImageArray(np.full((2, 2), value, dtype=dtype), asfloat=True)
        assert im.dtype.kind == "f"
        assert_array_equal(im, np.full((2, 2), expected))

    def test_asfloat_keeps_float(self):
        arr = np.array([[0.25, 3.0]], dtype=np.float32)
        im = ImageArray(arr, asfloat=True)
        assert im.dtype == np.float32
        assert_array_equal(im, arr)

    @pytest.mark.parametrize(
        "source",
        [{"a": 1}, {1, 2}, frozenset({1}), object(), [[1, 2], [3]], b"bytes"],
        ids=["dict", "set", "frozenset", "object", "ragged", "bytes"],
    )
    def test_bad_source(self, source):
        with pytest.raises(ValueError, match="image"):
            ImageArray(source)

    @pytest.mark.parametrize("bad", [5, "text", [("a", 1)], np.zeros(2)])
    def test_metadata_keyword_not_mapping(self, data, bad):
        with pytest.raises(TypeError, match="mapping"):
            ImageArray(data, metadata=bad)

    @pytest.mark.parametrize("bad", [5, "text", [("a", 1)], None])
    def test_metadata_setter_not_mapping(self, image, bad):
        before = image.metadata.copy()
        with pytest.raises(TypeError, match="mapping"):
            image.metadata = bad
        assert image.metadata == before

    def test_metadata_setter_mapping(self, image):
        md = {"b": 2}
        image.metadata = md
        assert isinstance(image.metadata, Metadata)
        assert image.metadata == {"b": 2}
        image["c"] = 3
        assert md == {"b": 2}


# --------------------------------------------------------------------------- indexing


class TestIndexing:
    def test_string_get_set_del(self, image):
        assert image["sample"] == "Py"
        image["energy"] = 780.0
        assert image.metadata["energy"] == 780.0
        del image["energy"]
        assert "energy" not in image.metadata
        with pytest.raises(KeyError):
            image["energy"]
        with pytest.raises(KeyError):
            del image["energy"]

    def test_other_indices_are_array_indexing(self, image, data):
        assert image[1, 2] == data[1, 2]
        assert_array_equal(image[1], data[1])
        assert_array_equal(image[:, 3], data[:, 3])
        assert_array_equal(image[1:3, ::2], data[1:3, ::2])
        sel = data > 5
        assert_array_equal(image[sel].data, data[sel])
        image[0, 0] = 100.0
        assert data[0, 0] == 100.0
        image[1] = -1.0
        assert_array_equal(data[1], -1.0)

    def test_array_item_assignment_leaves_metadata(self, image):
        before = image.metadata.copy()
        image[0:2, 0:2] = 0
        assert image.metadata == before


# --------------------------------------------------------------------------- attributes & metadata copies


def _derived(im):
    return {
        "view": im.view(),
        "slice": im[1:3, 1:],
        "transpose": im.T,
        "reshape": im.reshape(2, 10),
        "sin": np.sin(im),
        "add": im + 1,
        "radd": 1 + im,
        "mul_image": im * im,
        "copy": im.copy(),
        "clone": im.clone,
        "crop": im.crop(1),
        "flip_h": im.flip_h,
        "CW": im.CW,
        "pickle": pickle.loads(pickle.dumps(im)),
        "deepcopy": copy.deepcopy(im),
        "copy.copy": copy.copy(im),
        "astype": im.astype(np.float32),
        "neg": -im,
        "pow": im**2,
        "ma.sqrt": np.ma.sqrt(im),
    }


DERIVED = ["view", "slice", "transpose", "reshape", "sin", "add", "radd", "mul_image", "copy", "clone", "crop",
           "flip_h", "CW", "pickle", "deepcopy", "copy.copy", "astype", "neg", "pow", "ma.sqrt"]  # fmt: skip


class TestAttributesAndMetadataCopies:
    @pytest.mark.parametrize("kind", DERIVED)
    def test_user_attribute_survives(self, image, kind):
        derived = _derived(image)[kind]
        assert isinstance(derived, ImageArray)
        assert derived.note == "x"

    @pytest.mark.parametrize("kind", DERIVED)
    def test_metadata_kept(self, image, kind):
        derived = _derived(image)[kind]
        assert derived["sample"] == "Py"
        assert derived["nested"] == [1, [2, 3]]

    @pytest.mark.parametrize("kind", DERIVED)
    def test_metadata_not_shared(self, image, kind):
        derived = _derived(image)[kind]
        assert derived.metadata is not image.metadata
        derived["sample"] = "Co"
        derived["added"] = True
        assert image["sample"] == "Py"
        assert "added" not in image.metadata
        image["later"] = 1
        assert "later" not in derived.metadata

    def test_ufunc_values(self, image, data):
        assert_array_equal(np.sin(image).data, np.sin(data))
        visible = ~(data > 16)
        assert_array_equal((image + 1).data[visible], data[visible] + 1)
        assert_array_equal(_mask(image + 1), data > 16)
        assert_array_equal((image * image).data[visible], data[visible] ** 2)

    def test_pickle_keeps_everything(self, image, data):
        image.filename = "scan.tif"
        image["when"] = datetime.datetime(2020, 1, 2, 3, 4)
        back = pickle.loads(pickle.dumps(image))
        assert type(back) is ImageArray
        assert_array_equal(back.data, data)
        assert_array_equal(_mask(back), data > 16)
        assert back.metadata == image.metadata
        assert isinstance(back.metadata, Metadata)
        assert back.note == "x"
        assert back.filename == "scan.tif"

    @pytest.mark.parametrize("protocol", range(2, pickle.HIGHEST_PROTOCOL + 1))
    def test_pickle_protocols(self, image, protocol):
        back = pickle.loads(pickle.dumps(image, protocol=protocol))
        assert_array_equal(back.data, image.data)
        assert back.note == "x" and back["sample"] == "Py"

    def test_pickle_of_slice(self, image, data):
        back = pickle.loads(pickle.dumps(image[2:, 1:3]))
        assert_array_equal(back.data, data[2:, 1:3])
        assert_array_equal(_mask(back), (data > 16)[2:, 1:3])
        assert back.note == "x"

    def test_view_and_slice_share_memory(self, image):
        assert np.shares_memory(image[1:3], image)
        assert np.shares_memory(image.view(), image)

    def test_clone_is_deep(self, image, data):
        image.tags = ["a"]
        c = image.clone
        assert type(c) is ImageArray
        assert_array_equal(c.data, data)
        assert_array_equal(_mask(c), _mask(image))
        assert c.metadata == image.metadata
        assert not np.shares_memory(c.data, image.data)
        assert not np.shares_memory(np.ma.getmaskarray(c), np.ma.getmaskarray(image))
        # nested containers in metadata and attributes are copies
        c["nested"][1].append(4)
        c["arr"][0] = 99
        c.tags.append("b")
        assert image["nested"] == [1, [2, 3]]
        assert_array_equal(image["arr"], [0, 1, 2])
        assert image.tags == ["a"]
        c[0, 0] = -1
        c.mask[0, 1] = True
        assert data[0, 0] == 0 and not _mask(image)[0, 1]


# --------------------------------------------------------------------------- properties


class TestProperties:
    def test_filename_default_and_set(self, data):
        im = ImageArray(data)
        assert im.filename == ""
        im.filename = Path("/some/dir/scan.tif")
        assert im.filename == os.fspath(Path("/some/dir/scan.tif"))
        im.filename = None
        assert im.filename == ""

    def test_title(self, data):
        im = ImageArray(data)
        assert im.title == ""
        im.filename = os.path.join("some", "dir", "scan.tif")
        assert im.title == "scan.tif"
        im["title"] = "My scan"
        assert im.title == "My scan"
        im.title = "Other"
        assert im["title"] == "Other"

    @pytest.mark.parametrize("shape", [(20, 100), (7, 3), (1, 1), (5, 20, 100)])
    def test_geometry_aspect_centre_max_box(self, shape):
        im = ImageArray(np.zeros(shape))
        h, w = shape[-2:]
        assert im.aspect == pytest.approx(w / h)
        assert im.centre == ((w - 1) / 2, (h - 1) / 2)
        assert im.max_box == (0, w, 0, h)
        assert im.geometry == tuple(reversed(shape))

    def test_geometry_examples(self):
        assert ImageArray(np.zeros((20, 100))).geometry == (100, 20)
        assert ImageArray(np.zeros((3, 20, 100))).geometry == (100, 20, 3)

    @pytest.mark.parametrize("attr, reference", [("flip_h", np.fliplr), ("flip_v", np.flipud)])
    def test_flips(self, image, data, attr, reference):
        flipped = getattr(image, attr)
        assert_array_equal(flipped.data, reference(data))
        assert_array_equal(_mask(flipped), reference(data > 16))
        assert not np.shares_memory(flipped, image)
        assert flipped["sample"] == "Py"
        assert_array_equal(image.data, data)  # input unchanged

    def test_flips_on_stack(self):
        stack = np.arange(60).reshape(3, 4, 5)
        im = ImageArray(stack)
        assert_array_equal(im.flip_h, stack[..., ::-1])
        assert_array_equal(im.flip_v, stack[:, ::-1, :])

    @pytest.mark.parametrize("attr, k", [("CW", -1), ("CCW", 1)])
    def test_rotations(self, image, data, attr, k):
        image.set_calibration((0.5, 2.0), units="nm", offset=(10.0, -3.0))
        image["calibration.x.units"] = "um"
        rotated = getattr(image, attr)
        assert rotated.shape == (5, 4)
        assert_array_equal(rotated.data, np.rot90(data, k=k))
        assert_array_equal(_mask(rotated), np.rot90(data > 16, k=k))
        assert not np.shares_memory(rotated, image)
        cal = rotated.calibration
        assert cal.x == AxisCalibration(2.0, -3.0, "nm")
        assert cal.y == AxisCalibration(0.5, 10.0, "um")
        assert image.calibration.x == AxisCalibration(0.5, 10.0, "um")  # input unchanged
        assert rotated["sample"] == "Py"

    def test_cw_then_ccw_is_identity(self, image, data):
        assert_array_equal(image.CW.CCW.data, data)
        assert_array_equal(image.CW.CW.CW.CW.data, data)

    def test_rotations_on_stack(self):
        stack = np.arange(60).reshape(3, 4, 5)
        assert_array_equal(ImageArray(stack).CW, np.rot90(stack, k=-1, axes=(1, 2)))

    def test_calibration_defaults(self, data):
        im = ImageArray(data)
        assert im.calibration == Calibration(AxisCalibration(1.0, 0.0, "px"), AxisCalibration(1.0, 0.0, "px"))
        assert im.pixel_size == (1.0, 1.0)
        assert im.extent == (-0.5, 4.5, 3.5, -0.5)

    def test_set_calibration(self, data):
        im = ImageArray(data)
        assert im.set_calibration(0.25, "nm") is im
        assert im["calibration.x.scale"] == 0.25 and im["calibration.y.scale"] == 0.25
        assert im["calibration.x.units"] == "nm"
        assert im.pixel_size == (0.25, 0.25)
        im.set_calibration((0.5, 2.0), offset=(1.0, 3.0))
        assert im.calibration.x == AxisCalibration(0.5, 1.0, "nm")
        assert im.calibration.y == AxisCalibration(2.0, 3.0, "nm")
        im.set_calibration(7.0, "um", axis="x")
        assert im.calibration.x == AxisCalibration(7.0, 0.0, "um")
        assert im.calibration.y == AxisCalibration(2.0, 3.0, "nm")

    def test_set_calibration_bad_axis(self, data):
        with pytest.raises(ValueError, match="axis"):
            ImageArray(data).set_calibration(1.0, axis="z")

    def test_calibration_from_metadata(self, data):
        im = ImageArray(
            data, metadata={"calibration.x.scale": 2, "calibration.y.offset": -1, "calibration.y.units": "m"}
        )
        assert im.calibration.x == AxisCalibration(2.0, 0.0, "px")
        assert im.calibration.y == AxisCalibration(1.0, -1.0, "m")

    def test_extent_closed_form(self, data):
        im = ImageArray(data)  # 4 rows, 5 columns
        sx, ox, sy, oy = 0.5, 10.0, 2.0, -3.0
        im.set_calibration((sx, sy), offset=(ox, oy))
        expected = (ox - 0.5 * sx, ox + 4.5 * sx, oy + 3.5 * sy, oy - 0.5 * sy)
        assert im.extent == pytest.approx(expected)
        assert_array_equal(im.calibration.x.to_physical([0, 4]), [ox, ox + 4 * sx])


# --------------------------------------------------------------------------- non-contiguous input


def _non_contiguous():
    base = np.arange(600.0).reshape(20, 30) ** 1.5
    return {"transposed": (base, base.T), "strided": (base, base[::2, ::3]), "negative": (base, base[::-1, 5:25])}


@pytest.mark.parametrize("kind", list(_non_contiguous()))
class TestNonContiguous:
    def test_accepted_without_copy(self, kind):
        base, view = _non_contiguous()[kind]
        im = ImageArray(view)
        assert np.shares_memory(im, base)
        assert not im.flags.c_contiguous
        assert_array_equal(im, view)

    def test_processing(self, kind, tmp_path):
        from scipy import ndimage

        base, view = _non_contiguous()[kind]
        ref = np.ascontiguousarray(view)
        im = ImageArray(view)
        assert_array_equal(im.crop(1).data, ref[1:-1, 1:-1])
        expected = (ref - ref.min()) / (ref.max() - ref.min()) * 2 - 1
        np.testing.assert_allclose(im.normalise().data, expected, atol=1e-12)
        assert_array_equal(im.flip_h.data, np.fliplr(ref))
        assert_array_equal(im.CW.data, np.rot90(ref, k=-1))
        np.testing.assert_allclose(im.apply(ndimage.uniform_filter, size=3).data, ndimage.uniform_filter(ref, size=3))
        path = tmp_path / "nc.npy"
        stonerimg.save(im, path)
        assert_array_equal(np.load(path), ref)
        assert_array_equal(ImageArray(path).data, ref)
        assert_array_equal(base, np.arange(600.0).reshape(20, 30) ** 1.5)  # input unchanged


class TestCopyOnWriteMetadata:
    """Views and results read their source's metadata until either changes (issue 17): never observably shared."""

    MUTATIONS = {
        "setitem": lambda md: md.__setitem__("sample", "Co"),
        "delitem": lambda md: md.__delitem__("sample"),
        "pop": lambda md: md.pop("sample"),
        "popitem": lambda md: md.popitem(),
        "update": lambda md: md.update({"sample": "Co"}),
        "ior": lambda md: md.__ior__({"added": 1}),
        "setdefault": lambda md: md.setdefault("added", 1),
        "clear": lambda md: md.clear(),
    }

    @pytest.mark.parametrize("mutation", MUTATIONS)
    @pytest.mark.parametrize("kind", DERIVED)
    def test_source_changed_before_the_derived_image_is_read(self, image, kind, mutation):
        before = dict(image.metadata)
        derived = _derived(image)[kind]
        self.MUTATIONS[mutation](image.metadata)
        after = {k: v for k, v in derived.metadata.items() if k != "history"}
        assert Metadata(after) == Metadata(before)

    @pytest.mark.parametrize("mutation", MUTATIONS)
    def test_chain_of_views(self, image, mutation):
        before = dict(image.metadata)
        child = image[1:, 1:]
        grandchild = child[1:, 1:]
        md = child.metadata  # the child takes its own copy; the grandchild still reads the parent's
        self.MUTATIONS[mutation](image.metadata)
        assert dict(grandchild.metadata) == before
        self.MUTATIONS[mutation](md)
        assert dict(grandchild.metadata) == before

    def test_derived_image_changed_first(self, image):
        views = [image[i:, :] for i in range(3)]
        views[0]["sample"] = "Co"
        assert image["sample"] == "Py"
        assert [v["sample"] for v in views] == ["Co", "Py", "Py"]

    def test_history_formatted_when_read_equals_the_eager_entry(self, image):
        cropped = image.crop(1, -1, None, 2).crop(0.1)
        assert cropped["history"] == ["crop(1, -1, None, 2)", "crop(0.1)"]
        box = [1, -1, None, 2]  # a mutable argument is formatted at once
        cropped = image.crop(box)
        box[0] = 2
        assert cropped["history"] == ["crop([1, -1, None, 2])"]

    def test_many_short_lived_views_do_not_accumulate(self, image):
        for _ in range(5000):
            image[1:, 1:]
        assert len(image.metadata._borrowers) < 128

    def test_metadata_pickles_and_copies_without_its_borrowers(self, image):
        view = image[1:, :]
        md = pickle.loads(pickle.dumps(image.metadata))
        assert md == image.metadata and md._borrowers is None
        assert copy.deepcopy(image.metadata) == image.metadata
        image["sample"] = "Co"
        assert view["sample"] == "Py"
