"""image.mask: NumPy's mask as before, plus Stoner's helpers that write into the image's mask."""

import copy
import io
import pickle

import numpy as np
import pytest
from PIL import Image
from skimage import draw
from skimage.filters import threshold_otsu

import stonerimg
from stonerimg import ImageArray
from stonerimg.notebook.mask import ImageMask
from stonerimg.notebook.selection import Selection


@pytest.fixture(params=["stxm", "kerr"])
def real(request, stxm_dir, kerr_dir):
    path = stxm_dir / "Sample_Image_2017-10-15_100.hdf5" if request.param == "stxm" else kerr_dir / "kermit.png"
    return stonerimg.load(path)


def _mean_by_hand(data, mask):
    return np.ma.MaskedArray(np.asarray(data, dtype=float), mask=mask).mean()


def test_helpers_change_the_mean_exactly_as_the_same_mask_set_by_hand(real):
    data = real.image.data.copy()
    rows, cols = data.shape
    r, c, w, h = rows / 2, cols / 3, cols / 4, rows / 5
    real.mask.draw.rectangle(r, c, w, h)
    by_hand = np.zeros(data.shape, bool)
    by_hand[
        draw.polygon([r - h / 2, r - h / 2, r + h / 2, r + h / 2], [c - w / 2, c + w / 2, c + w / 2, c - w / 2])
    ] = True
    np.testing.assert_array_equal(np.ma.getmaskarray(real.image), by_hand)
    assert real.image.mean() == _mean_by_hand(data, by_hand)
    real.mask.invert()
    assert real.image.mean() == _mean_by_hand(data, ~by_hand)
    real.mask.clear()
    assert real.image.mean() == _mean_by_hand(data, np.zeros_like(by_hand))
    level = float(np.percentile(data, 70))
    real.mask.threshold(level)
    assert real.image.mean() == _mean_by_hand(data, data > level)
    assert 0 < real.mask.sum() < data.size
    assert real["history"][-4:] == [
        f"mask.draw.rectangle({r!r}, {c!r}, {w!r}, {h!r})",
        "mask.invert()",
        "mask.clear()",
        f"mask.threshold({level!r})",
    ]


def test_threshold_defaults_to_otsu(real):
    data = real.image.data.copy()
    real.mask.threshold()
    np.testing.assert_array_equal(real.mask, data > threshold_otsu(data))


def test_the_mask_stays_numpys_mask():
    data = np.arange(12.0).reshape(3, 4)
    im = ImageArray(data, mask=data > 8)
    assert isinstance(im.mask, np.ndarray) and im.mask.dtype == bool
    assert np.shares_memory(im.mask, np.ma.getmask(im))
    np.testing.assert_array_equal(im.mask, data > 8)
    assert type(~im.mask) is np.ndarray and type(im.mask & True) is np.ndarray
    assert int(im.mask.sum()) == 3 and type(im.mask[1:]) is ImageMask
    im.mask[0, 0] = True
    assert np.ma.getmask(im)[0, 0] and im.sum() == data[~((data > 8) | (np.arange(12).reshape(3, 4) == 0))].sum()
    im.mask |= data < 2
    assert np.ma.getmask(im)[0, 1]
    im.mask = False
    assert not np.ma.getmaskarray(im).any()
    again = pickle.loads(pickle.dumps(im))
    np.testing.assert_array_equal(np.ma.getmaskarray(again), np.ma.getmaskarray(im))
    clone = copy.deepcopy(im)
    clone.mask[1, 1] = True
    assert not im.mask[1, 1]  # a copy has its own mask


def test_an_unmasked_image_gets_a_mask_on_the_first_write_and_refuses_silent_ones():
    im = ImageArray(np.zeros((4, 5)))
    view = im.mask
    assert not view.any() and np.ma.getmask(im) is np.ma.nomask  # reading makes no mask
    with pytest.raises(ValueError, match="read-only"):
        view[1:3][0, 0] = True  # a slice of the placeholder cannot be written: it would be lost
    view[2, 3] = True
    assert view[2, 3] and np.ma.getmask(im)[2, 3] and np.shares_memory(view, np.ma.getmask(im))
    assert int(np.ma.count_masked(im)) == 1


def test_mask_assignment_takes_images_selections_and_checks_the_shape(stxm_dir):
    doc = stonerimg.load(stxm_dir / "Sample_Image_2017-10-15_100.hdf5")
    other = ImageArray(np.zeros((100, 100), np.uint8))
    other[10:20, 30:40] = 1
    doc.mask = other
    np.testing.assert_array_equal(np.ma.getmaskarray(doc.image), other.data != 0)
    doc.mask = Selection("box", (100, 100), points=[(25, 25), (75, 50)])
    expected = np.zeros((100, 100), bool)
    expected[25:50, 25:75] = True
    np.testing.assert_array_equal(doc.mask, expected)
    doc.mask = doc.mask.image  # a mask's image goes back
    np.testing.assert_array_equal(doc.mask, expected)
    with pytest.raises(ValueError, match=r"shape \(7,\) does not fit an image of shape \(100, 100\)"):
        doc.mask = np.zeros(7, bool)
    with pytest.raises(ValueError, match="selection was made on a"):
        doc.mask = Selection("box", (10, 10), points=[(1, 1), (5, 5)])


def test_rotate_turns_the_mask_clockwise():
    im = ImageArray(np.zeros((11, 11)))
    im.mask[2:5, 1:9] = True
    before = np.array(im.mask)
    im.mask.rotate(np.pi / 2)
    np.testing.assert_array_equal(im.mask, np.rot90(before, k=-1))
    assert im["history"][-1] == f"mask.rotate({np.pi / 2!r})"


def test_mask_draw_value_false_unmasks_and_image_is_a_copy():
    im = ImageArray(np.ones((20, 20)))
    im.mask.draw.circle(10, 10, 8)
    im.mask.draw.circle(10, 10, 3, value=False)
    ring = np.zeros((20, 20), bool)
    ring[draw.disk((10, 10), 8, shape=(20, 20))] = True
    ring[draw.disk((10, 10), 3, shape=(20, 20))] = False
    np.testing.assert_array_equal(im.mask, ring)
    picture = im.mask.image
    assert isinstance(picture, ImageArray) and picture.dtype == bool
    picture[...] = False
    assert im.mask.sum() == ring.sum()


def test_readable_repr_and_png():
    im = ImageArray(np.zeros((4, 6)))
    im.mask[1:3, 2:4] = True
    text = repr(im.mask)
    assert text.splitlines() == [
        "ImageMask: 4 of 24 pixels masked (16.7 %), shape (4, 6)",
        "......",
        "..##..",
        "..##..",
        "......",
    ]
    big = ImageArray(np.zeros((1000, 2000)))
    big.mask[:, :1000] = True
    lines = repr(big.mask).splitlines()[1:]
    assert len(lines) <= 16 and max(map(len, lines)) <= 48 and lines[0] == "#" * 24 + "." * 24
    decoded = np.asarray(Image.open(io.BytesIO(im.mask._repr_png_())))
    np.testing.assert_array_equal(decoded != 0, np.ma.getmaskarray(im))


def test_a_copied_mask_keeps_its_own_helpers():
    im = ImageArray(np.arange(9.0).reshape(3, 3))
    loose = im.mask.copy()
    loose.invert()
    assert loose.all() and not im.mask.any()
    with pytest.raises(TypeError, match="not the mask of an image"):
        loose.threshold(3)
