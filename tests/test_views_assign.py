"""Assignments through a view or proxy write into the owner or raise (never a silent no-op)."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

from stonerimg import ImageArray, ImageFile, ImageStack


def _stack(dtype=np.float64):
    return ImageStack(np.arange(3 * 4 * 5, dtype=dtype).reshape(3, 4, 5))


def test_frame_image_assignment_writes_into_the_stack():
    stack = _stack()
    new = np.full((4, 5), 7.5)
    stack[1].image = new
    np.testing.assert_array_equal(stack.data[1], new)  # the issue: this did nothing
    np.testing.assert_array_equal(stack.data[0], np.arange(20.0).reshape(4, 5))  # other frames untouched
    frame = stack[2]
    frame.image = ImageArray(np.zeros((4, 5)), metadata={"note": "zeroed"})
    assert stack.merged_metadata(2)["note"] == "zeroed" and frame.metadata["note"] == "zeroed"
    assert np.shares_memory(frame.data, stack.data)  # the document still shows the frame


def test_frame_image_assignment_that_cannot_fit_raises():
    stack = _stack(np.uint8)
    with pytest.raises(ValueError, match=r"shape \(2, 2\).*\(4, 5\)"):
        stack[0].image = np.zeros((2, 2), np.uint8)
    with pytest.raises(TypeError, match="float64 pixels into the stack's uint8"):
        stack[0].image = np.full((4, 5), 0.5)
    with pytest.raises(TypeError, match="would change their values"):
        stack[0] = np.full((4, 5), 300)  # int64 values beyond uint8: refused, not wrapped
    stack[0] = np.full((4, 5), 200)  # int64 values that fit are written
    assert stack.data[0].tolist() == [[200] * 5] * 4
    np.testing.assert_array_equal(stack.data[1], np.arange(20, 40).reshape(4, 5))


def test_frame_mask_metadata_filename_write_into_the_stack():
    stack = _stack()
    mask = np.zeros((4, 5), bool)
    mask[1, 2] = True
    stack[0].mask = mask
    np.testing.assert_array_equal(np.ma.getmaskarray(stack.image)[0], mask)
    assert not np.ma.getmaskarray(stack.image)[1:].any()
    stack[0].metadata = {"field": 3.0}
    assert stack.merged_metadata(0)["field"] == 3.0 and "field" not in stack.merged_metadata(1)
    stack[1].filename = "/data/b.tif"
    assert stack[1].filename == "/data/b.tif"


def test_each_mask_sets_every_frame():
    stack = _stack()
    mask = np.eye(4, 5, dtype=bool)
    stack.each.mask = mask
    np.testing.assert_array_equal(np.ma.getmaskarray(stack.image), np.broadcast_to(mask, (3, 4, 5)))
    with pytest.raises(AttributeError, match=r"each.colour = \.\.\..*image, mask, metadata, filename"):
        stack.each.colour = "red"


def test_a_copy_of_a_frame_is_not_a_view_any_more():
    stack = _stack()
    for twin in (copy.copy(stack[0]), copy.deepcopy(stack[0]), stack[0].clone, pickle.loads(pickle.dumps(stack[0]))):
        twin.image = np.zeros((2, 2))
        assert twin.shape == (2, 2)
    np.testing.assert_array_equal(stack.data[0], np.arange(20.0).reshape(4, 5))
    result = stack[0] + 1  # a new document, not a view
    result.image = np.zeros((1, 1))
    assert stack.shape == (3, 4, 5)


def test_functions_on_a_frame_document_still_work():
    stack = _stack()
    frame = stack[0]
    assert frame.crop(1).shape == (2, 3)  # a new shape: the document holds it
    assert stack.shape == (3, 4, 5)
    doc = ImageFile(np.zeros((3, 3)))
    doc.image = np.ones((2, 2))  # a plain document is no view
    assert doc.shape == (2, 2)


def test_folder_each_mask_sets_and_keeps_every_document(tmp_path):
    from stonerimg import ImageFolder

    for i in range(3):
        ImageArray(np.full((4, 5), i, np.uint8)).save(tmp_path / f"f{i}.tif")
    folder = ImageFolder(tmp_path, cache_size=0)  # nothing cached: only pinning keeps a change
    mask = np.eye(4, 5, dtype=bool)
    folder.each.mask = mask
    for doc in folder:
        np.testing.assert_array_equal(np.ma.getmaskarray(doc.image), mask)
    with pytest.raises(AttributeError, match=r"each.colour = \.\.\."):
        folder.each.colour = "red"


def test_folder_document_assignment_is_kept_when_the_cache_drops_it(tmp_path):
    from stonerimg import ImageFolder

    for i in range(3):
        ImageArray(np.full((4, 5), i, np.uint8)).save(tmp_path / f"f{i}.tif")
    folder = ImageFolder(tmp_path, cache_size=1)
    folder[0].image = np.full((2, 2), 9, np.uint8)
    folder[1].mask = np.eye(4, 5, dtype=bool)
    for i in (2, 1, 2):  # cycle the one-place cache
        folder[i]
    assert folder[0].data.tolist() == [[9, 9], [9, 9]]  # was lost once the cache dropped it
    assert np.ma.getmaskarray(folder[1].image).sum() == 4
    np.testing.assert_array_equal(folder[2].data, np.full((4, 5), 2))  # untouched files stay as on disk
