"""ImageStack as a mutable sequence of frames (as Stoner's), on the real Kerr frames; XMCD stacks on STXM files."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import stonerimg
from stonerimg import ImageStack


@pytest.fixture(scope="module")
def kerr_frames(kerr_dir):
    files = sorted((kerr_dir / "fields").glob("*.png"))
    return [stonerimg.load(f) for f in files], [np.asarray(Image.open(f)) for f in files]


def test_append_extend_insert_delete_match_a_list(kerr_frames):
    docs, pixels = kerr_frames
    stack = ImageStack()
    reference = []
    for doc, raw in zip(docs[:3], pixels[:3], strict=True):
        assert stack.append(doc) is stack
        reference.append(raw)
    stack.extend(docs[3:5])
    reference += pixels[3:5]
    stack.insert(1, docs[7])
    reference.insert(1, pixels[7])
    stack.insert(-1, pixels[6])  # a plain array: no metadata of its own
    reference.insert(-1, pixels[6])
    del stack[0]
    del reference[0]
    del stack[2:4]
    del reference[2:4]
    assert len(stack) == len(reference) == len(stack.frame_metadata) == len(stack.filenames)
    np.testing.assert_array_equal(stack.data, np.stack(reference))
    assert stack.merged_metadata(0)["field"] == docs[7]["field"]
    assert stack.filenames[0] == docs[7].filename
    # slicing gives a stack; setting a frame writes it
    part = stack[1:3]
    assert isinstance(part, ImageStack) and len(part) == 2
    np.testing.assert_array_equal(part.data, np.stack(reference[1:3]))
    stack[0] = docs[2]
    np.testing.assert_array_equal(stack.data[0], pixels[2])
    assert stack.merged_metadata(0)["field"] == docs[2]["field"]


def test_addition_makes_new_stacks(kerr_frames):
    docs, pixels = kerr_frames
    first = ImageStack(docs[:2])
    second = ImageStack(docs[2:4])
    both = first + second
    assert len(both) == 4 and len(first) == 2 and not np.shares_memory(both.data, first.data)
    np.testing.assert_array_equal(both.data, np.stack(pixels[:4]))
    more = first + docs[5]
    assert len(more) == 3 and len(first) == 2
    np.testing.assert_array_equal(more.data[2], pixels[5])
    assert [m.get("field") for m in (more.merged_metadata(i) for i in range(3))] == [
        d["field"] for d in (docs[0], docs[1], docs[5])
    ]
    first += docs[6]
    assert len(first) == 3
    with pytest.raises(TypeError):
        first + 1.0  # noqa: B018


def test_frames_of_another_shape_are_refused_with_both_shapes(kerr_frames):
    docs, _ = kerr_frames
    stack = ImageStack(docs[:2])
    with pytest.raises(ValueError, match=r"frame 2: its shape \(10, 10\) differs from the stack's frames \(512, 672\)"):
        stack.append(np.zeros((10, 10)))
    assert len(stack) == 2  # nothing changed


def test_growth_doubles_and_old_views_are_detached_but_valid(kerr_frames):
    docs, pixels = kerr_frames
    stack = ImageStack()
    stores = []
    for i in range(100):
        stack.append(pixels[i % len(pixels)])
        store = stack.__dict__["_store"]
        if not stores or store is not stores[-1]:
            stores.append(store)
    assert len(stores) <= 8  # 1, 2, 4, ..., 128: amortised doubling, not one copy per frame
    assert stack.__dict__["_store"].shape[0] == 128
    frame = stack[99]
    part = stack[:3]
    assert not frame.detached and not part.detached
    stack.append(pixels[0])  # room left: the buffer stays, so do the views
    assert not frame.detached and np.shares_memory(frame.data, stack.data)
    stack.insert(0, pixels[1])  # a new buffer
    assert frame.detached and part.detached
    np.testing.assert_array_equal(frame.data, pixels[99 % len(pixels)])  # still its pixels
    assert not np.shares_memory(frame.data, stack.data)


def test_dtype_promotion_and_masks_on_append(kerr_frames):
    _, pixels = kerr_frames
    stack = ImageStack([pixels[0]])
    assert stack.dtype == np.uint16
    masked = np.ma.MaskedArray(pixels[1].astype(np.float64) / 2, mask=pixels[1] > 2000)
    stack.append(masked)
    assert stack.dtype == np.float64
    np.testing.assert_array_equal(stack.mask[1], pixels[1] > 2000)
    assert not stack.mask[0].any()
    np.testing.assert_array_equal(stack.data[0], pixels[0])


def test_disk_stack_refuses_to_grow(kerr_frames):
    _, pixels = kerr_frames
    stack = stonerimg.empty((2, 4, 4), np.float32, on_disk=True)
    try:
        assert isinstance(stack, ImageStack) and stack.is_disk_image
        with pytest.raises(TypeError, match="fixed number of frames"):
            stack.append(pixels[0][:4, :4])
        with pytest.raises(TypeError, match="fixed number of frames"):
            del stack[0]
        assert len(stack) == 2
    finally:
        stack.close()


def test_xmcd_of_two_stacks_frame_by_frame(stxm_dir):
    plus = stonerimg.load(stxm_dir / "Sample_Image_2017-10-15_100.hdf5")
    assert plus.polarization == 1
    minus = plus.clone
    minus.metadata["polarization"] = -1.0
    minus.image = minus.image * 0.9 + 1.0
    ratio = ImageStack([plus, plus.clone]) // ImageStack([minus, minus.clone])
    p, m = plus.data.astype(np.float64), minus.data.astype(np.float64)
    np.testing.assert_allclose(ratio.data[1], (p - m) / (p + m))
    with pytest.raises(ValueError, match="frame 0: XMCD.*same polarization"):
        ImageStack([plus]) // ImageStack([plus.clone])
    with pytest.raises(ValueError, match="1 and 2 frames"):
        ImageStack([plus]) // ImageStack([minus, minus])
    with pytest.raises(TypeError, match="STXM"):
        ImageStack([np.ones((2, 2))]) // ImageStack([np.ones((2, 2))])


# ------------------------------------------------------------------ the words of an ImageFile
def test_title_geometry_and_calibration_shared_and_per_frame(stxm_dir):
    image = stonerimg.load(stxm_dir / "Sample_Image_2017-10-15_100.hdf5")
    moved = image.clone
    moved.metadata["calibration.x.offset"] = image.image.calibration.x.offset + 5.0
    stack = ImageStack([image, moved])
    assert stack.geometry == (100, 100, 2) == (*image.image.geometry, 2)
    assert stack.title == image.title
    stack.title = "scan"
    assert stack.title == "scan" and stack.metadata["title"] == "scan"
    assert stack.calibration.x.scale == image.image.calibration.x.scale != 1.0  # the frames share it
    assert stack.calibration.x.offset == 0.0  # they do not share this
    assert stack.calibration_of(0).x.offset == image.image.calibration.x.offset
    assert stack.calibration_of(1).x.offset == image.image.calibration.x.offset + 5.0  # the frame's own
    stack.set_calibration(0.25, units="um")
    assert stack.calibration_of(1).x.offset == 0.0 and stack.calibration_of(1).y.scale == 0.25


def test_imshow_one_frame_or_a_montage(kerr_frames):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    docs, pixels = kerr_frames
    stack = ImageStack(docs[:4])
    fig, (left, right) = plt.subplots(1, 2)
    try:
        one = stack.imshow(2, ax=left)
        np.testing.assert_array_equal(np.asarray(one.get_array()), pixels[2])
        grid = stack.imshow(ax=right, columns=2)
        assert np.asarray(grid.get_array()).shape == (2 * 512, 2 * 672)
        with pytest.raises(TypeError, match="montage"):
            stack.imshow(1, columns=2)
    finally:
        plt.close(fig)


def test_each_assignment_sets_every_frame_or_raises(kerr_frames):
    docs, pixels = kerr_frames
    stack = ImageStack(docs[:3])
    defects = pixels[0] > 4000
    stack.each.mask = defects
    assert all(np.array_equal(stack[i].mask, defects) for i in range(3))
    assert stack.mean().mask.sum() == defects.sum()  # left out of the statistics
    stack.each.title = "sweep"
    assert [stack[i].title for i in range(3)] == ["sweep"] * 3
    stack.each.metadata = {"sample": "Py"}
    assert all(stack.merged_metadata(i)["sample"] == "Py" and "field" not in stack[i].metadata for i in range(3))
    with pytest.raises(AttributeError, match="keeps only"):
        stack.each.colour = "red"
    with pytest.raises(ValueError, match="shape"):
        stack.each.mask = np.zeros((3, 3), bool)
