"""Zero copy and memory layout: sharing, in-place ImageFile methods, geometry, interpretations, padding, dask.

Every check is against NumPy itself: ``np.shares_memory`` for sharing, the functional
form (or a plain NumPy expression) for values, ``tracemalloc`` for what a routine allocates.
"""

from __future__ import annotations

import re
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import stonerimg
from stonerimg import ImageArray, ImageFile, ImageStack, funcs

DOC = Path(__file__).resolve().parents[1] / "doc" / "memory.md"


def _image(shape=(40, 56), seed=0):
    return np.random.default_rng(seed).random(shape)


# ============================================================ zero copy
class TestZeroCopy:
    def test_wrapping_an_array(self):
        data = _image()
        for obj in (ImageArray(data), ImageFile(data).image, ImageFile(data).data):
            assert np.shares_memory(obj, data)

    def test_wrapping_a_masked_array_shares_data_and_mask(self):
        data = _image()
        masked = np.ma.MaskedArray(data, mask=data > 0.5)
        im = ImageArray(masked)
        assert np.shares_memory(im.data, data)
        assert np.shares_memory(im.mask, masked.mask)

    def test_wrapping_an_image_or_document_shares(self):
        data = _image()
        im = ImageArray(data, metadata={"a": 1})
        again = ImageArray(im)
        doc = ImageFile(im)
        assert np.shares_memory(again, data) and np.shares_memory(doc.image, data)
        assert again.metadata is not im.metadata and doc.metadata is not im.metadata

    def test_slices_and_crop_are_views(self):
        data = _image()
        im = ImageArray(data)
        assert np.shares_memory(im[3:9, ::2], data)
        crop = im.crop((2, 30, 5, 20))
        assert_array_equal(crop, data[5:20, 2:30])
        assert np.shares_memory(crop, data)
        assert np.shares_memory(funcs.crop(data, 4), data)
        assert not np.shares_memory(im.crop((2, 30, 5, 20), copy=True), data)

    def test_slices_and_crop_share_the_mask(self):
        data = _image()
        im = ImageArray(data, mask=data > 0.5)
        for view in (im[2:9, 4:], im.crop(2)):
            assert np.shares_memory(np.ma.getmask(view), np.ma.getmask(im))
            assert np.shares_memory(view.data, data)

    def test_crop_of_a_stack_is_a_view(self):
        data = _image((3, 20, 30))
        crop = ImageArray(data).crop((2, 12, 4, 9))
        assert crop.shape == (3, 5, 10)
        assert np.shares_memory(crop, data)

    def test_imagefile_crop_is_a_view(self):
        data = _image()
        doc = ImageFile(data).crop(3)
        assert np.shares_memory(doc.image, data)
        assert_array_equal(doc.data, data[3:-3, 3:-3])

    def test_stack_frame_is_a_view(self):
        data = _image((4, 10, 12))
        stack = ImageStack(data)
        frame = stack[2]
        assert isinstance(frame, ImageFile)
        assert np.shares_memory(frame.image, data) and np.shares_memory(frame.data, data[2])
        frame.image[0, 0] = -5.0
        assert data[2, 0, 0] == -5.0

    def test_imagefile_image_is_the_same_object(self):
        data = _image()
        doc = ImageFile(data)
        assert doc.image is doc.image
        assert np.shares_memory(doc.image, data)

    def test_asarray_round_trip(self):
        data = _image()
        im = ImageArray(data)
        plain = np.asarray(im)
        assert type(plain) is np.ndarray and np.shares_memory(plain, data)
        back = ImageArray(plain)
        assert np.shares_memory(back, data)
        assert np.shares_memory(np.asarray(ImageFile(data)), data)
        assert np.shares_memory(np.asarray(ImageFile(data), copy=False), data)
        assert not np.shares_memory(np.asarray(ImageFile(data), copy=True), data)

    def test_asarray_refuses_a_conversion_without_copy(self):
        with pytest.raises(ValueError, match="copy"):
            np.asarray(ImageFile(_image()), dtype=np.float32, copy=False)

    def test_non_contiguous_input_is_wrapped_as_it_is(self):
        buffer = np.zeros((5, 40, 72))
        view = buffer[:4, :32, :64]
        im = ImageArray(view)
        assert im.strides == buffer.strides and not im.flags["C_CONTIGUOUS"]
        assert np.shares_memory(im, buffer)
        transposed = ImageArray(buffer[0].T)
        assert np.shares_memory(transposed, buffer) and transposed.shape == (72, 40)


# ============================================================ in place
def _doc_table() -> dict[str, tuple[str, str]]:
    """``{function: (float64 cell, uint16 cell)}`` from the table in doc/memory.md."""
    rows = re.findall(r"^\| `(\w+)` \| ([^|]+?) \| ([^|]+?) \|", DOC.read_text(encoding="utf-8"), re.MULTILINE)
    return {name: (f.strip(), u.strip()) for name, f, u in rows if name in funcs.registered()}


def _reference_pair(shape):
    """A textured reference and the same texture moved by (2, -1) pixels."""
    from scipy import ndimage

    rng = np.random.default_rng(3)
    ref = ndimage.gaussian_filter(rng.random(shape), 2)
    return ref, np.roll(ref, (-1, 2), axis=(0, 1))


def _calls(name: str, data: np.ndarray):
    """``(args, kwargs, metadata)`` that make ``name`` do real work on ``data``."""
    shape = data.shape
    ref, _moved = _reference_pair(shape)
    gy, gx = np.mgrid[: shape[0], : shape[1]].astype(float)
    return {
        "adjust_contrast": ((), {}, {}),
        "align": ((ref,), {"method": "phase"}, {}),
        "apply": ((np.sqrt,), {}, {}),
        "asfloat": ((), {}, {}),
        "asint": ((), {}, {}),
        "clip_intensity": ((), {"limits": (0.2, 0.8)} if data.dtype.kind == "f" else {}, {}),
        "clip_neg": ((), {}, {}),
        "convert": ((np.float32,), {}, {}),
        "correct_drift": ((ref,), {}, {}),
        "crop": ((3,), {}, {}),
        "denoise": ((0.1,), {"max_num_iter": 5}, {}),
        "fft": ((), {}, {}),
        "filter_image": ((1,), {}, {}),
        "gridimage": ((), {}, {"actual_x": gx + 0.1, "actual_y": gy, "sample_x": gx, "sample_y": gy}),
        "im_scale": ((16, 8), {}, {}),
        "level_image": ((), {}, {}),
        "normalise": ((), {}, {}),
        "quantize": (([0.0, 0.5, 1.0],), {}, {}),
        "radial_coordinates": ((), {}, {}),
        "remove_outliers": ((), {}, {}),
        "rotate": ((0.3,), {}, {}),
        "sgolay2d": ((5,), {}, {}),
        "subtract_image": ((np.full(shape, 0.25),), {}, {}),
        "threshold_minmax": ((), {}, {}),
        "translate": (((1.5, -2.0),), {}, {}),
    }.get(name)


def _typed(dtype):
    ref, moved = _reference_pair((48, 64))
    if np.dtype(dtype).kind == "u":
        return (moved * 60000).astype(dtype)
    return moved.astype(dtype)


def test_doc_table_covers_every_registered_function():
    table = _doc_table()
    assert set(table) == set(funcs.registered())
    cells = {c for pair in table.values() for c in pair}
    assert cells <= {"yes", "no", "—", "n/a"}


@pytest.mark.parametrize("dtype, column", [(np.float64, 0), (np.uint16, 1)], ids=["float64", "uint16"])
@pytest.mark.parametrize("name", sorted(funcs.registered()))
def test_doc_table_matches_behaviour(name, dtype, column):
    """Each row of the table in doc/memory.md, checked: in place exactly when it says so."""
    expected = _doc_table()[name][column]
    data = _typed(dtype)
    call = _calls(name, data)
    if expected == "—":
        assert call is None  # the function gives no image: nothing to write
        return
    args, kwargs, metadata = call
    original = data.copy()
    doc = ImageFile(data, metadata=metadata)
    if expected == "n/a":
        with pytest.raises((ValueError, TypeError)):
            getattr(doc, name)(*args, **kwargs)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stonerimg.ConversionWarning)
        functional = getattr(ImageArray(original.copy(), metadata=metadata), name)(*args, **kwargs)
        assert getattr(doc, name)(*args, **kwargs) is doc
    assert_array_equal(doc.data, functional.data)  # same values as the functional form
    assert doc.dtype == functional.dtype
    in_place = np.shares_memory(doc.image, data) and doc.shape == original.shape
    assert in_place == (expected == "yes")
    if expected == "yes":
        assert_array_equal(data, functional.data)  # the wrapped array holds the result
    elif name != "crop":
        assert_array_equal(data, original)  # a new buffer: the old one untouched


class TestInPlace:
    def test_views_see_the_change_and_history_is_kept(self):
        data = _image()
        doc = ImageFile(data, metadata={"sample": "Py"})
        view = data[5:10, 3:8]
        other = ImageArray(data)
        expected = ImageArray(data.copy()).normalise(scale=(0, 1))
        assert doc.normalise(scale=(0, 1)) is doc
        assert np.shares_memory(doc.image, data)
        assert_array_equal(data, expected.data)
        assert_array_equal(view, expected.data[5:10, 3:8])
        assert_array_equal(other, expected.data)
        assert doc.metadata["history"] == ["normalise(scale=(0, 1))"]
        assert doc.metadata["sample"] == "Py"
        assert "history" not in other.metadata  # other views keep their own metadata

    def test_chained_calls_stay_in_one_buffer(self):
        data = _image()
        expected = ImageArray(data.copy()).filter_image(1).clip_intensity(limits=(0.3, 0.6)).normalise()
        doc = ImageFile(data).filter_image(1).clip_intensity(limits=(0.3, 0.6)).normalise()
        assert np.shares_memory(doc.image, data)
        assert_allclose(data, expected.data, rtol=0, atol=0)
        assert len(doc.metadata["history"]) == 3

    def test_previous_image_object_is_a_view_with_old_metadata(self):
        data = _image()
        doc = ImageFile(data, metadata={"step": 0})
        before = doc.image
        doc.clip_neg()
        assert doc.image is not before
        assert np.shares_memory(before, doc.image)
        assert "history" not in before.metadata and doc.metadata["history"] == ["clip_neg()"]

    def test_memory_mapped_file_sees_the_change(self, tmp_path):
        path = tmp_path / "frame.f32"
        values = (_image((32, 48)) * 10).astype(np.float32)
        values.tofile(path)
        mapped = np.memmap(path, dtype=np.float32, mode="r+", shape=values.shape)
        doc = ImageFile(mapped)
        assert doc.is_disk_image
        doc.clip_intensity(limits=(2, 5))
        assert doc.is_disk_image
        mapped.flush()
        del doc, mapped
        assert_array_equal(np.fromfile(path, dtype=np.float32).reshape(values.shape), np.clip(values, 2, 5))

    def test_read_only_buffer_gets_a_new_array(self, tmp_path):
        path = tmp_path / "frame.f64"
        values = _image((16, 24))
        values.tofile(path)
        mapped = np.memmap(path, dtype=np.float64, mode="r", shape=values.shape)
        doc = ImageFile(mapped).clip_intensity(limits=(0.2, 0.4))
        assert not np.shares_memory(doc.image, mapped)
        assert_array_equal(doc.data, np.clip(values, 0.2, 0.4))
        assert_array_equal(np.fromfile(path, dtype=np.float64).reshape(values.shape), values)
        readonly = values.copy()
        readonly.flags.writeable = False
        doc = ImageFile(readonly).clip_neg()
        assert not np.shares_memory(doc.image, readonly)

    def test_new_shape_or_dtype_gets_a_new_array(self):
        data = _image()
        original = data.copy()
        doc = ImageFile(data).rotate(0.3, resize=True)
        assert doc.shape != data.shape and not np.shares_memory(doc.image, data)
        with pytest.warns(stonerimg.ConversionWarning):
            doc = ImageFile(data).convert(np.float32)
        assert doc.dtype == np.float32 and not np.shares_memory(doc.image, data)
        assert_array_equal(data, original)

    def test_argument_sharing_the_buffer_is_not_overwritten(self):
        data = _image()
        original = data.copy()
        doc = ImageFile(data)
        own = doc.image
        doc.subtract_image(own)
        assert not np.shares_memory(doc.image, data)
        assert_array_equal(data, original)
        doc = ImageFile(data)
        doc.subtract_image(ImageFile(data[::-1]))  # another document on the same buffer
        assert_array_equal(data, original)

    def test_a_result_overlapping_the_buffer_is_copied_correctly(self):
        data = np.arange(30.0).reshape(5, 6)
        original = data.copy()
        doc = ImageFile(data).apply(lambda a: a[::-1, ::-1])  # a reversed view of the same memory
        assert np.shares_memory(doc.image, data)
        assert_array_equal(data, original[::-1, ::-1])

    def test_broadcast_buffer_is_never_written(self):
        row = np.arange(6.0)
        broad = np.lib.stride_tricks.as_strided(row, shape=(4, 6), strides=(0, 8))
        doc = ImageFile(broad).normalise()
        assert_array_equal(row, np.arange(6.0))
        assert not np.shares_memory(doc.image, row)

    def test_mask_written_into_the_mask_buffer(self):
        data = _image((20, 30))
        mask = np.zeros(data.shape, bool)
        mask[2:5, 4:9] = True
        reference = ImageArray(np.ma.MaskedArray(data.copy(), mask=mask.copy())).translate(
            (3, 0), mode="constant", cval=0.0
        )
        doc = ImageFile(np.ma.MaskedArray(data, mask=mask))
        doc.translate((3, 0), mode="constant", cval=0.0)  # a whole-pixel shift: the mask moves, the edge is masked
        assert np.shares_memory(doc.image, data) and np.shares_memory(doc.image.mask, mask)
        assert_array_equal(mask, np.ma.getmaskarray(reference))
        assert_array_equal(data, reference.data)
        assert mask[2:5, 7:12].all() and mask[:, :3].all()

    def test_mask_cleared_in_place(self):
        data = _image((10, 12))
        mask = np.zeros(data.shape, bool)
        mask[0, 0] = True
        doc = ImageFile(np.ma.MaskedArray(data, mask=mask))
        doc.apply(lambda a: a * 2)  # apply keeps the mask
        assert mask[0, 0]
        from stonerimg.funcs._binding import image_function, registered

        name = "_test_layout_unmask"
        if name not in registered():

            @image_function(name=name)
            def _unmask(image):
                """Return the pixels with no mask."""
                return image._derive(np.asarray(image.data) + 0.0, keep_mask=False)

        getattr(doc, name)()
        assert not mask.any()  # the shared mask buffer was cleared
        assert not np.ma.getmaskarray(doc.image).any()

    def test_new_mask_on_an_unmasked_image(self):
        data = _image((10, 12))
        doc = ImageFile(data).translate((2, 0), mode="constant", cval=0.0)
        assert np.shares_memory(doc.image, data)
        assert np.ma.getmaskarray(doc.image)[:, :2].all()
        assert_array_equal(data[:, 2:], _image((10, 12))[:, :-2])

    def test_stack_frame_method_changes_the_stack(self):
        data = _image((3, 8, 10))
        original = data.copy()
        stack = ImageStack(data)
        stack[1].clip_intensity(limits=(0.25, 0.75))
        assert_array_equal(data[1], np.clip(original[1], 0.25, 0.75))
        assert_array_equal(data[0], original[0])
        assert_array_equal(data[2], original[2])

    def test_functional_forms_never_change_their_input(self):
        data = _image()
        original = data.copy()
        im = ImageArray(data)
        for call in (
            lambda: im.normalise(),
            lambda: funcs.normalise(data),
            lambda: im.filter_image(1),
            lambda: funcs.clip_intensity(data, limits=(0.2, 0.3)),
            lambda: im.rotate(0.5),
        ):
            result = call()
            assert not np.shares_memory(result, data)
        assert_array_equal(data, original)


# ============================================================ disk images
class TestIsDiskImage:
    def test_memmap_and_views(self, tmp_path):
        path = tmp_path / "a.npy"
        np.save(path, _image((8, 10)))
        mapped = np.load(path, mmap_mode="r")
        im = ImageArray(mapped)
        assert im.is_disk_image and im[2:5].is_disk_image and im.crop(1).is_disk_image
        assert ImageFile(mapped).is_disk_image
        assert ImageArray(np.asarray(mapped)).is_disk_image  # a plain ndarray view of the map

    def test_mmap_buffer(self, tmp_path):
        import mmap

        path = tmp_path / "raw.bin"
        _image((4, 6)).tofile(path)

        def mapped_flag(buffer) -> bool:
            return ImageArray(np.frombuffer(buffer, dtype=np.float64).reshape(4, 6)).is_disk_image

        with open(path, "r+b") as handle, mmap.mmap(handle.fileno(), 0) as buffer:
            assert mapped_flag(buffer)
        assert not mapped_flag(bytearray(path.read_bytes()))

    def test_memory_images_and_copies(self, tmp_path):
        path = tmp_path / "a.npy"
        np.save(path, _image((8, 10)))
        mapped = np.load(path, mmap_mode="r")
        assert not ImageArray(_image()).is_disk_image
        assert not ImageFile(_image()).is_disk_image
        assert not ImageArray(mapped).clone.is_disk_image
        assert not ImageArray(mapped).normalise().is_disk_image


# ============================================================ geometry
class TestGeometry:
    def test_dm_example(self):
        im = ImageArray.from_geometry(100, 20)
        assert im.shape == (20, 100) and im.geometry == (100, 20)
        assert_array_equal(im, np.zeros((20, 100)))
        assert im.dtype == np.float64 and im.flags["C_CONTIGUOUS"]

    def test_three_d_dtype_fill_metadata(self):
        im = ImageArray.from_geometry(100, 20, 10, dtype=np.uint16, fill=7, metadata={"sample": "Py"})
        assert im.shape == (10, 20, 100) and im.geometry == (100, 20, 10)
        assert_array_equal(im, np.full((10, 20, 100), 7, np.uint16))
        assert im.dtype == np.uint16 and im["sample"] == "Py"

    def test_geometry_of_any_array_is_its_reversed_shape(self):
        for shape in [(3, 5), (2, 3, 5), (4, 2, 3, 5)]:
            assert ImageArray(np.zeros(shape)).geometry == tuple(reversed(shape))
            assert ImageArray.from_geometry(*reversed(shape[-3:])).shape == shape[-3:]

    def test_x_varies_fastest_in_memory(self):
        im = ImageArray.from_geometry(4, 3)
        im[...] = np.arange(12).reshape(3, 4)
        flat = np.asarray(im).ravel(order="K")
        assert_array_equal(flat[:4], [0, 1, 2, 3])  # the first row: x = 0..3 at y = 0

    @pytest.mark.parametrize(
        "args, error, match",
        [
            ((2.5, 3), TypeError, "size_x"),
            ((2, "3"), TypeError, "size_y"),
            ((2, 3, True), TypeError, "size_z"),
            ((-1, 3), ValueError, "size_x"),
            ((2, 3, -4), ValueError, "size_z"),
        ],
    )
    def test_bad_sizes(self, args, error, match):
        with pytest.raises(error, match=match):
            ImageArray.from_geometry(*args)


# ============================================================ interpretations
class TestAsRgb:
    def test_channels_last_is_a_view(self):
        data = np.arange(5 * 6 * 3, dtype=np.uint8).reshape(5, 6, 3)
        rgb = ImageArray(data, metadata={"a": 1}).as_rgb()
        assert rgb.shape == (5, 6, 3) and np.shares_memory(rgb, data)
        assert_array_equal(rgb, data)
        assert rgb["a"] == 1

    @pytest.mark.parametrize("channels", [3, 4])
    def test_channels_first_moves_them_last(self, channels):
        data = np.random.default_rng(1).random((channels, 5, 6))
        rgb = ImageArray(data).as_rgb()
        assert rgb.shape == (5, 6, channels) and np.shares_memory(rgb, data)
        assert_array_equal(rgb, np.moveaxis(data, 0, -1))

    def test_stack_of_colour_images(self):
        data = np.zeros((2, 5, 6, 4), np.float32)
        assert ImageArray(data).as_rgb().shape == (2, 5, 6, 4)

    def test_explicit_channel_axis(self):
        data = np.random.default_rng(1).random((3, 5, 3))
        assert_array_equal(ImageArray(data).as_rgb(), data)  # last axis tried first
        assert_array_equal(ImageArray(data).as_rgb(channel_axis=0), np.moveaxis(data, 0, -1))
        with pytest.raises(ValueError, match="channel_axis"):
            ImageArray(data).as_rgb(channel_axis=1)

    def test_mask_moves_with_the_channels(self):
        data = np.zeros((3, 4, 5))
        mask = np.zeros(data.shape, bool)
        mask[1, 2, 3] = True
        rgb = ImageArray(data, mask=mask).as_rgb()
        assert np.ma.getmaskarray(rgb)[2, 3, 1]

    @pytest.mark.parametrize(
        "shape, dtype, error, match",
        [
            ((5, 6), np.uint8, ValueError, r"2-D array of shape \(5, 6\)"),
            ((5, 6, 2), np.uint8, ValueError, r"shape \(5, 6, 2\)"),
            ((5, 6, 7), np.float64, ValueError, "3 or 4"),
            ((5, 6, 3), bool, TypeError, "dtype bool"),
            ((5, 6, 3), np.complex128, TypeError, "complex128"),
        ],
    )
    def test_refusals(self, shape, dtype, error, match):
        with pytest.raises(error, match=match):
            ImageArray(np.zeros(shape, dtype)).as_rgb()


class TestAsBinary:
    def test_bool_is_a_view(self):
        data = np.random.default_rng(2).random((6, 7)) > 0.5
        binary = ImageArray(data).as_binary()
        assert binary.dtype == bool and np.shares_memory(binary, data)
        assert_array_equal(binary, data)

    @pytest.mark.parametrize("dtype", [np.uint8, np.int8])
    def test_eight_bit_zero_one_is_a_bool_view(self, dtype):
        data = (np.random.default_rng(2).random((6, 7)) > 0.5).astype(dtype)
        binary = ImageArray(data).as_binary()
        assert binary.dtype == bool and np.shares_memory(binary, data)
        assert_array_equal(binary, data != 0)
        data[0, 0] = 1
        assert binary[0, 0]  # the same bytes

    def test_padded_eight_bit_view(self):
        buffer = np.zeros((8, 16), np.uint8)
        buffer[:6, :10] = np.eye(6, 10, dtype=np.uint8)
        binary = ImageArray(buffer[:6, :10]).as_binary()
        assert np.shares_memory(binary, buffer)
        assert_array_equal(binary, np.eye(6, 10, dtype=bool))

    def test_mask_kept(self):
        data = np.eye(4, dtype=np.uint8)
        mask = np.zeros((4, 4), bool)
        mask[0, 1] = True
        assert_array_equal(np.ma.getmaskarray(ImageArray(data, mask=mask).as_binary()), mask)

    @pytest.mark.parametrize(
        "values, dtype, match",
        [([0, 255], np.uint8, "from 0 to 255"), ([0, 2], np.uint8, "from 0 to 2"), ([-1, 1], np.int8, "from -1 to 1")],
    )
    def test_other_eight_bit_values_refused(self, values, dtype, match):
        with pytest.raises(ValueError, match=match):
            ImageArray(np.array([values], dtype)).as_binary()

    @pytest.mark.parametrize("dtype", [np.uint16, np.int32, np.float64])
    def test_other_dtypes_refused(self, dtype):
        with pytest.raises(TypeError, match=str(np.dtype(dtype))):
            ImageArray(np.zeros((2, 2), dtype)).as_binary()


class TestAsLabel:
    @pytest.mark.parametrize("dtype", [np.uint16, np.uint32, np.dtype(">u2")])
    def test_unsigned_16_32_are_views(self, dtype):
        data = np.arange(12).reshape(3, 4).astype(dtype)
        labels = ImageArray(data).as_label()
        assert np.shares_memory(labels, data) and labels.dtype == np.dtype(dtype)

    @pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.int32, np.int64, np.uint64, np.float32, bool])
    def test_other_dtypes_refused(self, dtype):
        with pytest.raises(TypeError, match=rf"dtype {np.dtype(dtype)} \(shape \(3, 4\)\)"):
            ImageArray(np.zeros((3, 4), dtype)).as_label()


# ============================================================ non-contiguous input
def _padded(n=8, rows=48, cols=64, seed=4):
    """A (n, rows, cols) view with padding at the end of every row and plane."""
    buffer = np.random.default_rng(seed).random((n + 1, rows + 5, cols + 7))
    view = buffer[:n, :rows, :cols]
    assert not view.flags["C_CONTIGUOUS"]
    return view


PADDED_CALLS = {
    "normalise": ((), {}),
    "clip_intensity": ((), {"limits": (0.2, 0.7)}),
    "adjust_contrast": ((), {}),
    "remove_outliers": ((), {}),
    "quantize": (([0.0, 0.5, 1.0],), {}),
    "filter_image": ((1.5,), {}),
    "denoise": ((0.1,), {"max_num_iter": 10}),
    "rotate": ((0.4,), {}),
    "translate": (((1.5, -2.25),), {}),
    "threshold_minmax": ((0.2, 0.6), {}),
    "crop": ((3,), {}),
    "convert": ((np.float32,), {}),
}


@pytest.mark.parametrize("name", sorted(PADDED_CALLS))
def test_padded_volume_gives_the_contiguous_result(name):
    view = _padded()
    contiguous = np.ascontiguousarray(view)
    args, kwargs = PADDED_CALLS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stonerimg.ConversionWarning)
        on_view = getattr(ImageArray(view), name)(*args, **kwargs)
        on_copy = getattr(ImageArray(contiguous), name)(*args, **kwargs)
    assert_array_equal(on_view.data, on_copy.data)
    assert_array_equal(np.ma.getmaskarray(on_view), np.ma.getmaskarray(on_copy))


@pytest.mark.parametrize("name", sorted(PADDED_CALLS))
def test_padded_volume_in_place_on_a_document(name):
    view = _padded()
    buffer = view.base
    outside = buffer.copy()
    args, kwargs = PADDED_CALLS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stonerimg.ConversionWarning)
        expected = getattr(ImageArray(np.ascontiguousarray(view)), name)(*args, **kwargs)
        doc = getattr(ImageFile(view), name)(*args, **kwargs)
    assert_array_equal(doc.data, expected.data)
    padding = np.ones(buffer.shape, bool)
    padding[: view.shape[0], : view.shape[1], : view.shape[2]] = False
    assert_array_equal(buffer[padding], outside[padding])  # the padding bytes are never written


def _extra_peak(func, arrays) -> list[int]:
    """Peak bytes NumPy allocates during ``func(array)`` for each array (after one warm-up call)."""
    peaks = []
    for array in arrays:
        func(array)
        tracemalloc.start()
        try:
            func(array)
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
    return peaks


@pytest.mark.parametrize("name", ["denoise", "filter_image", "rotate", "translate", "remove_outliers", "normalise"])
def test_padded_volume_copies_at_most_a_plane_more(name):
    """A padded (n, y, x) view costs at most ~one plane more than a contiguous copy, never a volume."""
    view = _padded(n=8, rows=128, cols=128)
    contiguous = np.ascontiguousarray(view)
    args, kwargs = PADDED_CALLS[name]
    peaks = _extra_peak(lambda a: getattr(ImageArray(a), name)(*args, **kwargs), [view, contiguous])
    plane = contiguous[0].nbytes
    # a whole-volume copy would add 8 planes; NumPy's iterator buffers (64 KiB) are half a plane here
    assert peaks[0] <= peaks[1] + 2 * plane, (peaks, plane)


def test_denoise_stack_holds_one_output_volume():
    view = _padded(n=8, rows=128, cols=128)
    peak = _extra_peak(lambda a: ImageArray(a).denoise(0.1, max_num_iter=3), [view])[0]
    one_plane = _extra_peak(lambda a: ImageArray(a).denoise(0.1, max_num_iter=3), [view[0]])[0]
    # the output volume, the solver's work for one plane and the previous plane's result; stacking a list of
    # planes (as before) needed a second volume
    assert peak <= view.nbytes + one_plane + 1.5 * view[0].nbytes, (peak, view.nbytes, one_plane)


def test_masked_filter_on_a_stack_works_frame_by_frame():
    view = _padded(n=8, rows=128, cols=128)
    mask = view > 0.9
    peak = _extra_peak(lambda a: ImageArray(a, mask=mask).filter_image(2), [view])[0]
    # output + one frame's filled copy, weights and quotient; the whole-stack normalised convolution took 4 volumes
    assert peak <= view.nbytes + 8 * view[0].nbytes, (peak, view.nbytes)
    on_copy = ImageArray(np.ascontiguousarray(view), mask=mask).filter_image(2)
    assert_array_equal(ImageArray(view, mask=mask).filter_image(2).data, on_copy.data)
    single = ImageArray(view[3], mask=mask[3]).filter_image(2)
    assert_array_equal(on_copy.data[3], single.data)  # a frame of a stack is filtered as an image on its own


# ============================================================ dask
class TestDask:
    def test_to_dask_shares_the_buffer(self):
        data = _image((6, 10))
        lazy = ImageArray(data).to_dask()
        data[0, 0] = 123.0  # a change after to_dask shows in the computation
        computed = lazy.compute()
        assert computed[0, 0] == 123.0
        assert_array_equal(computed, data)

    def test_chunks_and_values(self):
        data = _image((4, 6, 8))
        lazy = ImageFile(data).to_dask(chunks=(1, -1, -1))
        assert lazy.chunks == ((1, 1, 1, 1), (6,), (8,))
        assert lazy.dtype == data.dtype and lazy.shape == data.shape
        assert_allclose(lazy.mean(axis=0).compute(), data.mean(axis=0))

    def test_chunks_are_views_of_the_buffer(self):
        data = _image((4, 6, 8))
        lazy = ImageArray(data).to_dask(chunks=(1, -1, -1))
        block = lazy.blocks[2].compute(scheduler="sync")
        assert_array_equal(block, data[2:3])

    def test_memmap_is_not_read_up_front(self, tmp_path):
        path = tmp_path / "big.npy"
        np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=(64, 256, 256))[:] = 1.0
        mapped = np.load(path, mmap_mode="r")
        im = ImageArray(mapped)
        tracemalloc.start()
        try:
            lazy = im.to_dask(chunks=(1, -1, -1))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < mapped.nbytes / 64  # less than one plane (dask.array.from_array would copy 32 MiB)
        assert float(lazy[5].sum().compute()) == 256 * 256

    def test_masked_image_gives_a_masked_dask_array(self):
        import dask.array as da

        data = _image((5, 7))
        mask = data > 0.6
        lazy = ImageArray(data, mask=mask).to_dask(chunks=(2, 7))
        computed = lazy.compute()
        assert isinstance(computed, np.ma.MaskedArray)
        assert_array_equal(computed.mask, mask)
        assert_allclose(float(lazy.mean().compute()), np.ma.MaskedArray(data, mask=mask).mean())
        assert_array_equal(da.ma.getmaskarray(lazy).compute(), mask)

    def test_from_dask(self):
        import dask.array as da

        darr = da.arange(24.0, chunks=5).reshape(4, 6) * 2
        im = ImageArray.from_dask(darr, metadata={"sample": "Py"})
        assert isinstance(im, ImageArray) and im["sample"] == "Py"
        assert_array_equal(im, np.arange(24.0).reshape(4, 6) * 2)

    def test_from_dask_keeps_a_mask(self):
        import dask.array as da

        data = np.arange(12.0).reshape(3, 4)
        mask = data % 5 == 0
        masked = da.ma.masked_array(da.from_array(data, chunks=2), mask=da.from_array(mask, chunks=2))
        im = ImageArray.from_dask(masked)
        assert_array_equal(np.ma.getmaskarray(im), mask)
        assert_array_equal(im.data, data)

    def test_round_trip(self):
        data = _image((4, 6))
        im = ImageArray(data, metadata={"a": 1})
        back = ImageArray.from_dask(im.to_dask(chunks=2), metadata=im.metadata)
        assert_array_equal(back, data) and back["a"] == 1
        assert not np.shares_memory(back, data)  # computed into new memory

    @pytest.mark.parametrize("value", [np.zeros((2, 2)), [[1, 2]], None])
    def test_from_dask_refuses_other_objects(self, value):
        with pytest.raises(TypeError, match="darr"):
            ImageArray.from_dask(value)
