"""Tests for stonerimg.stack.ImageStack.

References are independent of the code under test: NumPy (and numpy.ma) on the
same arrays, tifffile reading the pages of a written file one by one, Pillow
reading the Kerr PNGs, and shifts made with scipy.ndimage.shift.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image
from scipy import ndimage

import stonerimg
from stonerimg import FormatError, ImageArray, ImageFile, Metadata
from stonerimg.formats.kerr import KerrImage
from stonerimg.stack import Hysteresis, ImageStack


# ------------------------------------------------------------------ helpers
def _blobs(shape=(64, 80), centres=((20, 15), (50, 40), (60, 20), (33, 50)), sigma=2.0) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return sum(np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma**2)) for x, y in centres)


def _frames(n=4, shape=(6, 8), dtype=np.float64, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.random((n, *shape)) * 100).astype(dtype)


def _kerr_paths(kerr_dir) -> list[Path]:
    paths = sorted((kerr_dir / "fields").glob("*.png"))
    assert len(paths) == 8
    return paths


@pytest.fixture(scope="module")
def kerr_stack(kerr_dir) -> ImageStack:
    return ImageStack([stonerimg.load(p) for p in _kerr_paths(kerr_dir)])


def _pillow(path) -> tuple[np.ndarray, dict]:
    with Image.open(path) as picture:
        picture.load()
        return np.asarray(picture), dict(picture.text)


# ------------------------------------------------------------------ construction
def test_3d_array_is_wrapped_without_copy():
    data = _frames()
    stack = ImageStack(data)
    assert np.shares_memory(stack.data, data) and np.shares_memory(stack.image, data)
    assert len(stack) == 4 and stack.shape == (4, 6, 8) and stack.frame_shape == (6, 8)
    assert isinstance(stack.image, ImageArray) and stack.image.ndim == 3
    stack.data[2, 1, 1] = -7.0
    assert data[2, 1, 1] == -7.0
    assert stack.frame_metadata == (Metadata(),) * 4 and stack.metadata == {}


def test_3d_image_array_gives_shared_metadata_without_copy():
    data = _frames()
    source = ImageArray(data, metadata={"sample": "Py"})
    stack = ImageStack(source, metadata={"beamline": "X07DA"})
    assert np.shares_memory(stack.data, data)
    assert stack.metadata == {"sample": "Py", "beamline": "X07DA"}
    stack.metadata["extra"] = 1
    assert "extra" not in source.metadata and "beamline" not in source.metadata


def test_non_contiguous_array_is_not_copied():
    data = _frames(6)[::2, :, ::-1]
    stack = ImageStack(data)
    assert np.shares_memory(stack.data, data)
    np.testing.assert_array_equal(stack[1].data, data[1])


@pytest.mark.parametrize("shape", [(6, 8), (2, 3, 6, 8), (5,)])
def test_array_that_is_not_3d_is_rejected(shape):
    with pytest.raises(ValueError, match="3-D"):
        ImageStack(np.zeros(shape))


def test_list_of_images_is_copied_into_one_buffer():
    data = _frames()
    mask = np.zeros((6, 8), bool)
    mask[2, 3] = True
    sources = [
        ImageArray(data[0], metadata={"field": 1.0, "sample": "Py"}),
        ImageFile(ImageArray(data[1], mask=mask, metadata={"field": 2.0})),
        data[2],
        ImageArray(data[3], metadata={"field": 4.0}),
    ]
    stack = ImageStack(sources)
    np.testing.assert_array_equal(stack.data, data)
    assert not any(np.shares_memory(stack.data, d) for d in data)
    assert stack.data.base is None or stack.data.base.ndim == 3  # one buffer
    assert [dict(m) for m in stack.frame_metadata] == [
        {"field": 1.0, "sample": "Py"},
        {"field": 2.0},
        {},
        {"field": 4.0},
    ]
    expected_mask = np.zeros(data.shape, bool)
    expected_mask[1] = mask
    np.testing.assert_array_equal(np.ma.getmaskarray(stack.image), expected_mask)
    # changing the stack leaves the sources alone
    stack.data[0, 0, 0] = -1
    assert sources[0][0, 0] == data[0, 0, 0]


def test_list_dtypes_are_promoted():
    a = np.array([[1, 2]], dtype=np.uint8)
    b = np.array([[0.5, 300.25]], dtype=np.float32)
    stack = ImageStack([a, b])
    assert stack.dtype == np.result_type(np.uint8, np.float32)
    np.testing.assert_array_equal(stack.data, np.stack([a.astype(np.float32), b]))


def test_frame_shape_mismatch_names_the_frame():
    frames = [np.zeros((4, 5)), np.zeros((4, 5)), np.zeros((5, 4))]
    with pytest.raises(ValueError, match=r"frame 2: its shape \(5, 4\) differs from frame 0's \(4, 5\)"):
        ImageStack(frames)
    with pytest.raises(ValueError, match="frame 2"):
        ImageStack(iter(frames))


def test_bad_items_are_named():
    with pytest.raises(TypeError, match="frame 1"):
        ImageStack([np.zeros((2, 2)), {"a": 1}])
    with pytest.raises(ValueError, match="frame 0: a frame must be a 2-D image"):
        ImageStack([np.zeros((2, 2, 2))])
    with pytest.raises(TypeError, match="source"):
        ImageStack(42)
    with pytest.raises(TypeError, match="source"):
        ImageStack({"a": np.zeros((2, 2))})


class _FakeFolder:
    """Folder-like: sized and iterable (not a Sequence), loads on iteration, counts loads."""

    def __init__(self, paths):
        self.paths = list(paths)
        self.loaded = 0

    def __len__(self):
        return len(self.paths)

    def __iter__(self):
        for path in self.paths:
            self.loaded += 1
            yield stonerimg.load(path)


def test_folder_like_iterables_and_paths(tmp_path):
    data = _frames(3, dtype=np.uint16)
    paths = []
    for i, frame in enumerate(data):
        paths.append(tmp_path / f"f{i}.tif")
        stonerimg.save(ImageArray(frame, metadata={"index": i}), paths[-1])
    folder = _FakeFolder(paths)
    from_folder = ImageStack(folder)
    assert folder.loaded == 3
    from_generator = ImageStack(stonerimg.load(p) for p in paths)
    from_paths = ImageStack([str(p) for p in paths])
    for stack in (from_folder, from_generator, from_paths):
        np.testing.assert_array_equal(stack.data, data)
        assert stack.dtype == np.uint16
        assert [m["index"] for m in stack.frame_metadata] == [0, 1, 2]
        assert stack.filenames == tuple(str(p) for p in paths)
        assert stack[2].filename == str(paths[2])


def test_folder_whose_length_is_wrong_still_stacks():
    class Liar:
        def __init__(self, frames, length):
            self.frames, self.length = frames, length

        def __len__(self):
            return self.length

        def __iter__(self):
            return iter(self.frames)

    data = _frames(3)
    np.testing.assert_array_equal(ImageStack(Liar(list(data), 5)).data, data)
    np.testing.assert_array_equal(ImageStack(Liar(list(data), 2)).data, data)


def test_stack_of_stack_shares_pixels_not_metadata():
    stack = ImageStack(_frames(), metadata={"a": 1}, frame_metadata=[{"i": i} for i in range(4)])
    other = ImageStack(stack)
    assert np.shares_memory(other.data, stack.data)
    other.metadata["a"] = 2
    other.metadata_of(0)["i"] = 99
    assert stack.metadata["a"] == 1 and stack.metadata_of(0)["i"] == 0


def test_empty_stack_and_frame_metadata_checks():
    empty = ImageStack()
    assert len(empty) == 0 and list(empty) == []
    with pytest.raises(ValueError, match="no frames"):
        empty.mean()
    with pytest.raises(ValueError, match="frame_metadata"):
        ImageStack(_frames(), frame_metadata=[{}])
    with pytest.raises(TypeError, match="metadata"):
        ImageStack(_frames(), metadata=[1, 2])


# ------------------------------------------------------------------ frames and views
def test_frame_is_an_imagefile_view_with_merged_metadata():
    data = _frames()
    stack = ImageStack(
        data, metadata={"sample": "Py", "field": 0.0}, frame_metadata=[{"field": float(i)} for i in range(4)]
    )
    frame = stack[2]
    assert type(frame) is ImageFile and frame.shape == (6, 8)
    assert np.shares_memory(frame.data, data[2])
    frame.image[0, 0] = 123.0
    frame.data[1, 1] = 456.0
    assert data[2, 0, 0] == 123.0 and data[2, 1, 1] == 456.0
    assert frame.metadata == {"sample": "Py", "field": 2.0}
    # the ImageFile holds a copy of the metadata: its edits stay there ...
    frame.metadata["field"] = -1.0
    assert stack[2]["field"] == 2.0 and stack.metadata_of(2) == {"field": 2.0}
    # ... and the stack's records are changed through metadata_of / frame_metadata
    stack.metadata_of(2)["note"] = "edited"
    stack.frame_metadata[3]["note"] = "also"
    assert stack[2]["note"] == "edited" and stack[-1]["note"] == "also"
    assert stack.merged_metadata(-1) == {"sample": "Py", "field": 3.0, "note": "also"}
    with pytest.raises(IndexError, match="out of range"):
        stack[4]
    with pytest.raises(TypeError, match="metadata"):
        stack["field"]


def test_frame_mask_is_a_view_of_the_stack_mask():
    data = _frames()
    mask = np.zeros(data.shape, bool)
    mask[1, 2, 2] = True
    stack = ImageStack(np.ma.MaskedArray(data, mask=mask))
    frame = stack[1]
    assert bool(frame.mask[2, 2]) and np.shares_memory(frame.mask, stack.mask)
    frame.image[0, 0] = np.ma.masked
    assert bool(stack.mask[1, 0, 0])


def test_iteration_gives_every_frame():
    data = _frames()
    frames = list(ImageStack(data))
    assert len(frames) == 4 and all(isinstance(f, ImageFile) for f in frames)
    for frame, expected in zip(frames, data, strict=True):
        np.testing.assert_array_equal(frame.data, expected)


def test_slice_is_a_stack_view_sharing_pixels_and_records():
    data = _frames(6)
    stack = ImageStack(data, metadata={"s": 1}, frame_metadata=[{"i": i} for i in range(6)])
    view = stack[1:5:2]
    assert isinstance(view, ImageStack) and view.shape == (2, 6, 8)
    assert np.shares_memory(view.data, data)
    np.testing.assert_array_equal(view.data, data[1:5:2])
    assert [m["i"] for m in view.frame_metadata] == [1, 3]
    view.data[1, 0, 0] = -5.0
    assert data[3, 0, 0] == -5.0
    view.metadata_of(0)["seen"] = True
    assert stack.metadata_of(1)["seen"] is True
    view.metadata["s"] = 2  # the shared metadata of a view is its own copy
    assert stack.metadata["s"] == 1
    reversed_view = stack[::-1]
    assert np.shares_memory(reversed_view.data, data) and reversed_view.metadata_of(0)["i"] == 5


@pytest.mark.parametrize("index", [[0, 2, 5], np.array([0, 2, 5]), np.array([1, 0, 1, 0, 0, 1], bool), [-6, 2, -1]])
def test_fancy_index_gives_a_stack_of_copies(index):
    data = _frames(6)
    stack = ImageStack(data, frame_metadata=[{"i": i} for i in range(6)])
    chosen = stack[index]
    assert not np.shares_memory(chosen.data, data)
    np.testing.assert_array_equal(chosen.data, data[[0, 2, 5]])
    assert [m["i"] for m in chosen.frame_metadata] == [0, 2, 5]
    chosen.metadata_of(0)["i"] = 100
    assert stack.metadata_of(0)["i"] == 0


def test_bad_fancy_indices():
    stack = ImageStack(_frames(3))
    with pytest.raises(IndexError):
        stack[[0, 3]]
    with pytest.raises(IndexError, match="boolean"):
        stack[np.array([True, False])]
    with pytest.raises(TypeError):
        stack[[0.5, 1.5]]


def test_setitem_writes_pixels_mask_and_metadata():
    data = _frames()
    stack = ImageStack(data, metadata={"sample": "Py"})
    mask = np.zeros((6, 8), bool)
    mask[0, 0] = True
    new = ImageArray(np.full((6, 8), 3.0), mask=mask, metadata={"sample": "Py", "field": 7.0})
    stack[1] = new
    np.testing.assert_array_equal(data[1], 3.0)  # written into the buffer
    assert stack.metadata_of(1) == {"field": 7.0}  # only what differs from the shared metadata
    assert bool(stack.mask[1, 0, 0]) and not stack.mask[0].any()
    with pytest.raises(ValueError, match="shape"):
        stack[0] = np.zeros((2, 2))
    with pytest.raises(TypeError, match="integer"):
        stack[0:2] = np.zeros((6, 8))


def test_kerr_frames_keep_their_class_and_file(kerr_stack, kerr_dir):
    frame = kerr_stack[3]
    assert isinstance(frame, KerrImage)
    assert frame.filename == str(_kerr_paths(kerr_dir)[3])
    _, text = _pillow(_kerr_paths(kerr_dir)[3])
    assert frame.field == float(text["X-B-2d{Double Float}"])


def test_repr_and_array_protocol():
    stack = ImageStack(_frames(2, (3, 5), np.uint16))
    assert repr(stack) == "ImageStack(2 frames of 3 x 5, dtype=uint16)"
    assert np.asarray(stack).shape == (2, 3, 5) and np.shares_memory(np.asarray(stack), stack.data)


def test_clone_shares_nothing():
    stack = ImageStack(_frames(), metadata={"a": np.arange(3)}, frame_metadata=[{"i": i} for i in range(4)])
    copy = stack.clone
    assert copy == stack and not np.shares_memory(copy.data, stack.data)
    copy.metadata_of(0)["i"] = 9
    copy.data[0, 0, 0] = -1
    assert stack.metadata_of(0)["i"] == 0 and copy != stack


# ------------------------------------------------------------------ TIFF
def _rich_stack(dtype=np.float32) -> ImageStack:
    data = _frames(3, (5, 7), dtype=dtype) if dtype is not bool else _frames(3, (5, 7)) > 50
    mask = np.zeros(data.shape, bool)
    mask[1, 2, 3] = mask[2, 0, 0] = True
    stack = ImageStack(
        np.ma.MaskedArray(data, mask=mask),
        metadata={"sample": "Py", "calibration.x.scale": 0.25, "history": ["made()"]},
        frame_metadata=[
            {"field": -1.5, "when": dt.datetime(2024, 5, 1, 12, 30)},
            {"field": 0.0, "roi": (1, 2, 3, 4), "c": 1 + 2j, "arr": np.arange(4, dtype=np.int16)},
            {"field": 1.5, "nan": float("nan"), "bytes": b"\x00\x01"},
        ],
    )
    stack._filenames = ["a.png", "", "c.png"]
    return stack


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8, np.uint16, np.int16, np.int32, bool])
def test_tiff_round_trip_is_equal(tmp_path, dtype):
    stack = _rich_stack(dtype)
    path = stack.to_tiff(tmp_path / "stack.tif")
    back = ImageStack.from_tiff(path)
    assert back == stack
    assert back.dtype == stack.dtype
    np.testing.assert_array_equal(np.ma.getmaskarray(back.image), np.ma.getmaskarray(stack.image))
    assert back.filenames == ("a.png", "", "c.png")
    assert ImageStack(str(path)) == stack  # a path as the source


def test_tiff_pages_read_independently_with_tifffile(tmp_path):
    stack = _rich_stack(np.float32)
    path = stack.to_tiff(tmp_path / "stack.tif")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stack.tif"]  # no temporary left behind
    with tifffile.TiffFile(path) as tif:
        pages = list(tif.pages)
        assert len(pages) == 3
        for i, page in enumerate(pages):
            np.testing.assert_array_equal(page.asarray(), np.asarray(stack.data[i]))
            doc = json.loads(page.description)
            frame = doc["stonerimg.stack"]
            assert frame["frame"] == i and frame["frames"] == 3
            assert Metadata.from_json(json.dumps(frame["metadata"])) == stack.metadata_of(i)
        first = json.loads(pages[0].description)
        assert first["dtype"] == np.dtype(np.float32).str and first["shape"] == [3, 5, 7]
        assert Metadata.from_json(json.dumps(first["metadata"])) == stack.metadata
        assert "mask" in first and all("mask" not in json.loads(p.description) for p in pages[1:])
        assert all("metadata" not in json.loads(p.description) for p in pages[1:])


def test_stack_tiff_loads_as_one_3d_image(tmp_path):
    stack = _rich_stack(np.uint16)
    path = stack.to_tiff(tmp_path / "stack.tif")
    image = stonerimg.load(path)
    assert image.shape == (3, 5, 7) and image.dtype == np.uint16
    np.testing.assert_array_equal(image.data, stack.data)
    np.testing.assert_array_equal(np.ma.getmaskarray(image.image), np.ma.getmaskarray(stack.image))
    assert image.metadata == stack.metadata


def test_real_kerr_stack_round_trips(kerr_stack, tmp_path):
    back = ImageStack.from_tiff(kerr_stack.to_tiff(tmp_path / "kerr.tif", compression="zlib"))
    assert back == kerr_stack
    assert back.frame_metadata[5]["X-B-2d"] == kerr_stack.frame_metadata[5]["X-B-2d"]
    np.testing.assert_array_equal(back.fields, kerr_stack.fields)


def test_plain_multipage_tiff_is_a_plain_stack(tmp_path):
    data = _frames(4, (9, 11), np.uint16)
    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, data, photometric="minisblack")
    stack = ImageStack.from_tiff(path)
    np.testing.assert_array_equal(stack.data, data)
    assert stack.dtype == np.uint16 and np.ma.getmask(stack.image) is np.ma.nomask
    assert stack.metadata["tiff.ImageWidth"] == 11  # tags every page shares


def test_plain_tiff_pages_with_own_descriptions(tmp_path):
    path = tmp_path / "described.tif"
    data = _frames(3, (4, 4), np.float32)
    with tifffile.TiffWriter(path) as tif:
        for i, frame in enumerate(data):
            tif.write(frame, description=f"frame number {i}", metadata=None)
    stack = ImageStack.from_tiff(path)
    np.testing.assert_array_equal(stack.data, data)
    assert [m["tiff.ImageDescription"] for m in stack.frame_metadata] == [f"frame number {i}" for i in range(3)]


def test_plain_tiff_pages_of_different_shapes_name_the_page(tmp_path):
    path = tmp_path / "mixed.tif"
    with tifffile.TiffWriter(path) as tif:
        tif.write(np.zeros((4, 4), np.uint8))
        tif.write(np.zeros((4, 5), np.uint8))
    with pytest.raises(ValueError, match=r"page 1 has shape \(4, 5\)"):
        ImageStack.from_tiff(path)


def test_single_stonerimg_image_tiff_is_one_frame(tmp_path):
    image = ImageArray(np.arange(12, dtype=np.int16).reshape(3, 4), metadata={"sample": "Py"})
    path = tmp_path / "one.tif"
    stonerimg.save(image, path)
    stack = ImageStack.from_tiff(path)
    assert stack.shape == (1, 3, 4)
    np.testing.assert_array_equal(stack.data[0], image.data)
    assert stack[0]["sample"] == "Py"


def test_tiff_errors_and_atomic_write(tmp_path):
    with pytest.raises(FileNotFoundError):
        ImageStack.from_tiff(tmp_path / "missing.tif")
    junk = tmp_path / "junk.tif"
    junk.write_bytes(b"not a tiff at all" * 10)
    with pytest.raises(FormatError, match="junk.tif"):
        ImageStack.from_tiff(junk)
    with pytest.raises(ValueError, match="no frames"):
        ImageStack().to_tiff(tmp_path / "empty.tif")
    target = tmp_path / "keep.tif"
    target.write_bytes(b"old contents")
    with pytest.raises(Exception):  # noqa: B017 - any failure of the writer
        _rich_stack().to_tiff(target, compression="no-such-codec")
    assert target.read_bytes() == b"old contents"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.tif", "keep.tif"]


# ------------------------------------------------------------------ drift correction
DRIFTS = [(0.0, 0.0), (2.3, -1.4), (-3.7, 0.6), (1.15, 2.85), (-0.45, -2.2)]  # (dx, dy) of each frame


def _drifted_stack() -> tuple[ImageStack, np.ndarray]:
    ref = _blobs()
    frames = [ndimage.shift(ref, (dy, dx), order=3, mode="nearest") for dx, dy in DRIFTS]
    return ImageStack(frames, metadata={"sample": "dots"}), ref


def test_correct_drifts_recovers_known_shifts():
    stack, ref = _drifted_stack()
    buffer = stack.data
    reference_before = stack.data[0].copy()
    assert stack.correct_drifts() is stack
    assert stack.data is buffer or np.shares_memory(stack.data, buffer)  # in place
    np.testing.assert_array_equal(stack.data[0], reference_before)  # the reference frame is not touched
    for i, (dx, dy) in enumerate(DRIFTS):
        record = stack.metadata_of(i)
        drift = np.array(record["correct_drift"])
        assert np.all(np.abs(drift - (dx, dy)) < 0.1), (i, drift)
        np.testing.assert_allclose(record["drift_shift"], -drift)
        assert 0.0 <= record["drift_error"] < 0.2
        # every frame now lies on the reference, away from the edges filled by "nearest"
        xmin, xmax, ymin, ymax = stack.metadata["translation_limits"]
        inner = (slice(ymin + 2, ymax - 2), slice(xmin + 2, xmax - 2))
        assert np.max(np.abs(stack.data[i][inner] - ref[inner])) < 0.02
    limits = stack.metadata["translation_limits"]
    expected = (
        int(np.ceil(max(-dx for dx, _ in DRIFTS))),
        80 + int(np.floor(min(-dx for dx, _ in DRIFTS))),
        int(np.ceil(max(-dy for _, dy in DRIFTS))),
        64 + int(np.floor(min(-dy for _, dy in DRIFTS))),
    )
    assert limits == expected
    assert stack.metadata["history"][-1].startswith("correct_drifts(ref_index=0")
    stack.crop_stack("translation_limits")
    assert stack.frame_shape == (expected[3] - expected[2], expected[1] - expected[0])


def test_correct_drifts_to_another_reference_and_measure_only():
    stack, _ref = _drifted_stack()
    before = stack.data.copy()
    stack.correct_drifts(ref_index=1, do_shift=False, upsample_factor=100)
    np.testing.assert_array_equal(stack.data, before)
    for i, (dx, dy) in enumerate(DRIFTS):
        relative = np.array(stack.metadata_of(i)["correct_drift"])
        np.testing.assert_allclose(relative, (dx - DRIFTS[1][0], dy - DRIFTS[1][1]), atol=0.1)


def test_correct_drifts_on_a_view_changes_the_parent():
    stack, _ref = _drifted_stack()
    view = stack[:3]
    view.correct_drifts(box=(5, 75, 5, 60))
    assert "correct_drift" in stack.metadata_of(2)  # shared records
    assert abs(stack.metadata_of(2)["correct_drift"][0] - DRIFTS[2][0]) < 0.1


def test_correct_drifts_failure_names_the_frame_and_changes_nothing():
    stack, _ref = _drifted_stack()
    frames = [*list(np.asarray(stack.data)), np.full((64, 80), 0.5)]
    stack = ImageStack(frames)
    before = stack.data.copy()
    with pytest.raises(ValueError, match="frame 5"):
        stack.correct_drifts()
    np.testing.assert_array_equal(stack.data, before)
    assert all("correct_drift" not in m for m in stack.frame_metadata)
    with pytest.raises(TypeError, match="unexpected"):
        stack.correct_drifts(bogus=1)
    with pytest.raises(IndexError):
        stack.correct_drifts(ref_index=6)


def test_correct_drifts_on_a_real_kerr_frame(kerr_stack):
    ref = np.asarray(kerr_stack.data[0], dtype=np.float64) / 65535.0
    drift = (1.6, -0.7)
    moved = ndimage.shift(ref, (drift[1], drift[0]), order=3, mode="nearest")
    stack = ImageStack([ref, moved]).correct_drifts(upsample_factor=100)
    assert np.all(np.abs(np.array(stack.metadata_of(1)["correct_drift"]) - drift) < 0.1)


# ------------------------------------------------------------------ crop, subtract, convert
def test_crop_stack_is_a_view_and_moves_calibration_offsets():
    data = _frames(3, (20, 30))
    stack = ImageStack(
        data,
        metadata={"calibration.x.scale": 0.5, "calibration.y.scale": 2.0},
        frame_metadata=[{}, {"calibration.x.offset": 10.0}, {"calibration.y.scale": 3.0}],
    )
    parent_view = stack[:]
    assert stack.crop_stack(4, 24, 2, 12) is stack
    assert stack.shape == (3, 10, 20) and np.shares_memory(stack.data, data)
    np.testing.assert_array_equal(stack.data, data[:, 2:12, 4:24])
    assert stack.metadata["calibration.x.offset"] == 2.0 and stack.metadata["calibration.y.offset"] == 4.0
    assert stack[1].calibration.x.offset == 12.0  # its own offset moved by 4 px * 0.5
    assert stack[2].calibration.y.offset == 6.0  # its own scale: 2 px * 3.0
    assert stack[0].calibration.x.offset == 2.0
    assert parent_view.metadata_of(1)["calibration.x.offset"] == 10.0  # the records of a view are not changed
    assert parent_view.shape == (3, 20, 30)


@pytest.mark.parametrize(
    ("box", "expected"),
    [
        (2, (slice(2, 18), slice(2, 28))),
        (0.1, (slice(2, 18), slice(3, 27))),
        ((None, 10, 5, None), (slice(5, 20), slice(0, 10))),
    ],
)
def test_crop_stack_box_forms(box, expected):
    data = _frames(2, (20, 30))
    stack = ImageStack(data).crop_stack(box)
    np.testing.assert_array_equal(stack.data, data[(slice(None), *expected)])
    copied = ImageStack(data).crop_stack(box, copy=True)
    assert not np.shares_memory(copied.data, data)
    with pytest.raises(TypeError, match="one box or 4"):
        ImageStack(data).crop_stack(1, 2)


def test_subtract_frame_index_from_an_integer_stack():
    data = _frames(3, (4, 5), np.uint16)
    stack = ImageStack(data).subtract(0)
    assert stack.dtype == np.float64
    np.testing.assert_array_equal(stack.data, data.astype(np.float64) - data[0].astype(np.float64))
    np.testing.assert_array_equal(data, _frames(3, (4, 5), np.uint16))  # the integer source is untouched
    assert stack.metadata["history"] == ["subtract(0)"]


def test_subtract_image_in_place_with_its_mask():
    data = _frames(3, (4, 5), np.float32)
    expected = data - np.float32(2.5)
    mask = np.zeros((4, 5), bool)
    mask[1, 1] = True
    stack = ImageStack(data).subtract(ImageArray(np.full((4, 5), 2.5), mask=mask))
    assert np.shares_memory(stack.data, data) and stack.dtype == np.float32
    np.testing.assert_allclose(stack.data, expected, rtol=1e-6)
    assert np.ma.getmaskarray(stack.image)[:, 1, 1].all() and np.ma.getmaskarray(stack.image).sum() == 3
    with pytest.raises(ValueError, match="background"):
        stack.subtract(np.zeros((2, 2)))
    with pytest.raises(TypeError, match="background"):
        stack.subtract("background.png")


def test_convert_and_asfloat_act_on_the_whole_stack():
    data = _frames(3, (4, 5), np.uint16)
    from skimage.util import img_as_float, img_as_ubyte

    stack = ImageStack(data, metadata={"sample": "Py"})
    assert stack.asfloat() is stack
    np.testing.assert_allclose(stack.data, img_as_float(data))
    assert stack.metadata["sample"] == "Py" and stack.metadata["history"][-1].startswith("asfloat(")
    with pytest.warns(stonerimg.ConversionWarning, match="precision"):
        stack.convert(np.uint8)
    assert stack.dtype == np.uint8
    np.testing.assert_array_equal(stack.data, img_as_ubyte(img_as_float(data)))
    assert len(stack) == 3 and stack.frame_shape == (4, 5)


# ------------------------------------------------------------------ statistics
def _masked_stack():
    data = _frames(5, (6, 7))
    mask = np.zeros(data.shape, bool)
    mask[0, 1, 1] = mask[3, 1, 1] = mask[2, 4, 5] = True
    mask[:, 0, 0] = True  # a pixel masked in every frame
    return ImageStack(np.ma.MaskedArray(data, mask=mask), metadata={"sample": "Py"}), np.ma.MaskedArray(data, mask=mask)


def test_mean_is_mask_aware():
    stack, reference = _masked_stack()
    mean = stack.mean()
    assert isinstance(mean, ImageFile) and mean.shape == (6, 7)
    expected = reference.mean(axis=0)
    np.testing.assert_allclose(mean.data[~expected.mask], expected.compressed())
    assert bool(mean.mask[0, 0]) and mean.mask.sum() == 1
    assert mean.data[1, 1] == pytest.approx(np.mean(reference.data[[1, 2, 4], 1, 1]))
    assert mean["sample"] == "Py" and mean["stack.frames"] == 5 and mean["history"] == ["mean()"]


def test_average_with_weights_is_mask_aware():
    stack, reference = _masked_stack()
    weights = [1.0, 2.0, 0.5, 3.0, 1.0]
    result = stack.average(weights=weights)
    expected = np.ma.average(reference, axis=0, weights=weights)
    np.testing.assert_allclose(result.data[~expected.mask], expected.compressed())
    w = np.array(weights)[[1, 2, 4]]
    assert result.data[1, 1] == pytest.approx(np.sum(w * reference.data[[1, 2, 4], 1, 1]) / w.sum())
    np.testing.assert_allclose(stack.average().data, stack.mean().data)
    with pytest.raises(ValueError, match="weights"):
        stack.average(weights=[1, 2])
    with pytest.raises(ValueError, match="weights"):
        stack.average(weights=[0, 0, 0, 0, 0])


def test_stddev_and_stderr_are_mask_aware():
    stack, reference = _masked_stack()
    for ddof in (0, 1):
        expected = reference.std(axis=0, ddof=ddof)
        np.testing.assert_allclose(stack.stddev(ddof=ddof).data[~expected.mask], expected.compressed())
    err = stack.stderr()
    count = reference.count(axis=0)
    expected = reference.std(axis=0, ddof=1) / np.sqrt(count)
    np.testing.assert_allclose(err.data[~err.mask], np.ma.getdata(expected)[~err.mask])
    assert bool(err.mask[0, 0])


def test_statistics_are_float64_for_every_dtype():
    data = np.array([[[1, 2]], [[2, 2]]], dtype=np.uint16)
    assert ImageStack(data).mean().dtype == np.float64
    assert ImageStack(data).mean().data.tolist() == [[1.5, 2.0]]
    # one rule for stacks and folders (stonerimg._frames): sums and results in float64
    assert ImageStack(data.astype(np.float32)).mean().dtype == np.float64
    assert ImageStack(data.astype(np.float32)).stddev().dtype == np.float64


# ------------------------------------------------------------------ montage
def test_montage_layout_and_padding():
    data = _frames(5, (3, 4), np.uint16)
    grid = ImageStack(data, metadata={"sample": "Py"}).montage(columns=3, pad=1, fill=7)
    assert grid.shape == (2 * 3 + 1, 3 * 4 + 2) and grid.dtype == np.uint16
    for i in range(5):
        r, c = divmod(i, 3)
        np.testing.assert_array_equal(grid.data[r * 4 : r * 4 + 3, c * 5 : c * 5 + 4], data[i])
        assert grid["montage.origins"][i] == (c * 5, r * 4)
    empty_cell = grid.data[4:7, 10:14]
    assert np.all(empty_cell == 7) and grid.mask[4:7, 10:14].all()
    assert grid.mask[3].all() and grid.mask[:, 4].all()  # the padding is masked
    assert grid.mask.sum() == grid.size - data.size
    assert grid["montage.columns"] == 3 and grid["montage.rows"] == 2 and grid["sample"] == "Py"


def test_montage_defaults_and_errors():
    data = _frames(5, (3, 4))
    grid = ImageStack(data).montage()
    assert grid.shape == (2 * 3, 3 * 4)
    np.testing.assert_array_equal(ImageStack(data[:1]).montage().data, data[0])
    assert ImageStack(data).montage(columns=10).shape == (3, 5 * 4)
    for bad in ({"columns": 0}, {"pad": -1}, {"columns": 1.5}):
        with pytest.raises(ValueError):
            ImageStack(data).montage(**bad)


def test_montage_keeps_frame_masks():
    stack, reference = _masked_stack()
    grid = stack.montage(columns=5)
    np.testing.assert_array_equal(grid.mask, np.hstack(list(reference.mask)))


# ------------------------------------------------------------------ each
def test_each_image_function_changes_every_frame():
    data = _frames(3, (20, 30))
    stack = ImageStack(data, metadata={"sample": "Py"})
    assert stack.each.crop(10, 25, 5, 15) is stack
    assert stack.shape == (3, 10, 15)
    np.testing.assert_array_equal(stack.data, data[:, 5:15, 10:25])
    assert all(m["history"] == ["crop(10, 25, 5, 15)"] for m in stack.frame_metadata)
    assert stack[0]["sample"] == "Py" and "sample" not in stack.metadata_of(0)
    assert "crop" in dir(stack.each) and "normalise" in dir(stack.each)


def test_each_in_place_writes_into_the_buffer():
    data = _frames(3)
    expected = data * 2
    stack = ImageStack(data)
    stack.each(lambda frame: frame.image * 2)
    assert np.shares_memory(stack.data, data)
    np.testing.assert_array_equal(data, expected)

    def clip_in_place(frame, limit):
        frame.data[frame.data > limit] = limit  # returns None: the frame was changed in place

    stack.each(clip_in_place, 50.0)
    np.testing.assert_array_equal(stack.data, np.minimum(expected, 50.0))


def test_each_changing_dtype_gives_a_new_buffer():
    data = _frames(2, (4, 4), np.uint16)
    stack = ImageStack(data).each.asfloat()
    assert stack.dtype == np.float64 and not np.shares_memory(stack.data, data)
    np.testing.assert_allclose(stack.data, data / 65535.0)


def test_each_shape_mismatch_names_the_frame_and_keeps_the_stack():
    data = _frames(3, (10, 10))
    stack = ImageStack(data)
    stack.metadata_of(1)["i"] = 1
    with pytest.raises(ValueError, match="frame 1: came out with shape"):
        stack.each(lambda frame: frame.image[: 5 + frame.metadata.get("i", 0)])
    np.testing.assert_array_equal(stack.data, data)
    assert stack.shape == (3, 10, 10)


def test_each_non_image_results_are_returned():
    data = _frames(3)
    stack = ImageStack(data)
    spans = stack.each.span()
    assert spans == [(d.min(), d.max()) for d in data]
    assert stack.each(lambda frame: float(frame.data.sum())) == pytest.approx(list(data.sum(axis=(1, 2))))
    with pytest.raises(AttributeError, match="no_such_function"):
        stack.each.no_such_function()
    with pytest.raises(TypeError, match="callable"):
        stack.each(3)
    with pytest.raises(TypeError, match="frame 1"):
        stack.each(lambda frame: frame if frame.data[0, 0] != data[1, 0, 0] else "oops")
    with pytest.raises(ValueError, match="frame 0"):
        stack.each.crop(100)  # the error of the image function, with the frame named


def test_each_keeps_masks():
    stack, reference = _masked_stack()
    stack.each.crop(1)
    np.testing.assert_array_equal(np.ma.getmaskarray(stack.image), reference.mask[:, 1:-1, 1:-1])


# ------------------------------------------------------------------ Kerr
def test_kerr_fields_and_hysteresis_from_real_files(kerr_stack, kerr_dir):
    pixels, fields = [], []
    for path in _kerr_paths(kerr_dir):
        data, text = _pillow(path)
        pixels.append(data)
        fields.append(float(text["X-B-2d{Double Float}"]))
    np.testing.assert_array_equal(kerr_stack.fields, fields)
    loop = kerr_stack.hysteresis()
    assert isinstance(loop, Hysteresis) and len(loop) == 8 and loop.units == "Oe"
    np.testing.assert_array_equal(loop.field, fields)
    np.testing.assert_allclose(loop.intensity, [np.mean(p, dtype=np.float64) for p in pixels], rtol=1e-12)
    np.testing.assert_allclose(loop.to_numpy(), np.column_stack([fields, loop.intensity]))
    with pytest.raises(ValueError):
        loop.field[0] = 0.0  # read-only results


def test_hysteresis_with_mask_and_box(kerr_stack, kerr_dir):
    pixels = np.stack([_pillow(p)[0] for p in _kerr_paths(kerr_dir)]).astype(np.float64)
    mask = np.zeros(kerr_stack.frame_shape, bool)
    mask[:256] = True  # leave out the top half
    np.testing.assert_allclose(kerr_stack.hysteresis(mask=mask).intensity, pixels[:, 256:].mean(axis=(1, 2)))
    box = (100, 300, 50, 150)
    np.testing.assert_allclose(kerr_stack.hysteresis(box=box).intensity, pixels[:, 50:150, 100:300].mean(axis=(1, 2)))
    with pytest.raises(ValueError, match="mask"):
        kerr_stack.hysteresis(mask=np.zeros((3, 3), bool))
    with pytest.raises(TypeError, match="mask"):
        kerr_stack.hysteresis(mask=np.zeros(kerr_stack.frame_shape))


def test_hysteresis_ignores_masked_pixels_and_missing_fields():
    data = np.array([[[1.0, 100.0]], [[3.0, 5.0]]])
    stack = ImageStack(
        np.ma.MaskedArray(data, mask=[[[False, True]], [[True, True]]]), frame_metadata=[{"field": 2.0}, {}]
    )
    loop = stack.hysteresis()
    assert loop.intensity[0] == 1.0 and np.isnan(loop.intensity[1])
    assert loop.field[0] == 2.0 and np.isnan(loop.field[1]) and loop.units == ""


def test_hysteresis_plot(kerr_stack):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    loop = kerr_stack.hysteresis()
    ax = loop.plot()
    x, y = ax.lines[0].get_data()
    np.testing.assert_array_equal(x, loop.field)
    np.testing.assert_array_equal(y, loop.intensity)
    assert ax.get_xlabel() == "field (Oe)"
    plt.close(ax.figure)


# ------------------------------------------------------------------ import cost
def test_importing_the_stack_module_stays_light():
    heavy = ("matplotlib", "tifffile", "dask", "skimage", "scipy", "h5py", "tqdm", "pandas")
    code = (
        "import sys, stonerimg.stack\n"
        f"print(' '.join(m for m in {heavy!r} if m in sys.modules or any(k.startswith(m + '.') for k in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


# ------------------------------------------------------------------ disk-backed and read-only buffers
def test_memmap_is_wrapped_and_read_only_buffers_are_copied_before_changes(tmp_path):
    data = _frames(3, (6, 8), np.float32)
    path = tmp_path / "frames.raw"
    data.tofile(path)
    writable = np.memmap(path, dtype=np.float32, mode="r+", shape=data.shape)
    stack = ImageStack(writable)
    assert np.shares_memory(stack.data, writable)
    stack[1] = np.zeros((6, 8), np.float32)
    writable.flush()
    np.testing.assert_array_equal(np.fromfile(path, np.float32).reshape(data.shape)[1], 0.0)
    del stack, writable

    read_only = np.memmap(path, dtype=np.float32, mode="r", shape=data.shape)
    stack = ImageStack(read_only)
    with pytest.raises(ValueError, match="read-only"):
        stack[0] = np.zeros((6, 8))
    before = np.array(read_only)
    stack.subtract(np.ones((6, 8), np.float32))
    assert stack.dtype == np.float32 and not np.shares_memory(stack.data, read_only)
    np.testing.assert_allclose(stack.data, before - 1)
    np.testing.assert_array_equal(read_only, before)  # the file is not changed


def test_3d_image_saved_by_stonerimg_reads_as_a_stack(tmp_path):
    image = ImageArray(_frames(3, (4, 5), np.uint16), metadata={"sample": "Py"})
    path = tmp_path / "cube.tif"
    stonerimg.save(image, path)
    stack = ImageStack.from_tiff(path)
    np.testing.assert_array_equal(stack.data, image.data)
    assert stack.metadata == {"sample": "Py"} and len(stack) == 3


def test_save_writes_the_multi_page_tiff_and_refuses_other_formats(tmp_path):
    stack = ImageStack(np.arange(24.0).reshape(2, 3, 4), frame_metadata=[{"field": 1.0}, {"field": 2.0}])
    assert stack.save(tmp_path / "s.tif") is stack
    back = ImageStack.from_tiff(tmp_path / "s.tif")
    assert back == stack and [m["field"] for m in back.frame_metadata] == [1.0, 2.0]
    stack.save(tmp_path / "named.dat", fmt="tiff")
    assert ImageStack.from_tiff(tmp_path / "named.dat") == stack
    for name, fmt in (("s.npy", None), ("s.png", None), ("t.tif", "png")):
        with pytest.raises(ValueError, match="multi-page TIFF"):
            stack.save(tmp_path / name, fmt=fmt)
        assert not (tmp_path / name).exists()
