"""image.draw: scikit-image's shapes and Stoner's, drawn in place with history."""

import numpy as np
import pytest
from skimage import draw

import stonerimg
from stonerimg import ImageArray


def test_circle_fills_the_pixels_of_skimage_disk():
    im = ImageArray(np.zeros((200, 200)))
    result = im.draw.circle(10, 100, 10, value=1)
    assert result is im
    rr, cc = draw.disk((10, 100), 10, shape=(200, 200))
    assert im.sum() == len(rr)
    expected = np.zeros((200, 200))
    expected[rr, cc] = 1
    np.testing.assert_array_equal(im.data, expected)
    assert im["history"] == ["draw.circle(10, 100, 10, value=1)"]


@pytest.mark.parametrize(
    ("name", "args", "reference"),
    [
        ("line", (3, 4, 40, 30), lambda: draw.line(3, 4, 40, 30)),
        ("polygon", ([2, 30, 40], [5, 10, 45]), lambda: draw.polygon([2, 30, 40], [5, 10, 45], shape=(50, 60))),
        ("disk", ((25, 30), 12), lambda: draw.disk((25, 30), 12, shape=(50, 60))),
        ("ellipse", (25, 30, 10, 20), lambda: draw.ellipse(25, 30, 10, 20, shape=(50, 60))),
        ("circle_perimeter", (25, 30, 30), lambda: draw.circle_perimeter(25, 30, 30, shape=(50, 60))),
        ("ellipse_perimeter", (25, 30, 10, 20), lambda: draw.ellipse_perimeter(25, 30, 10, 20, shape=(50, 60))),
    ],
)
def test_skimage_shapes_match_skimage(name, args, reference):
    im = ImageArray(np.zeros((50, 60), dtype=np.uint8))
    getattr(im.draw, name)(*args, value=7)
    expected = np.zeros((50, 60), dtype=np.uint8)
    expected[reference()] = 7
    np.testing.assert_array_equal(im.data, expected)


def test_line_beyond_the_image_is_clipped_not_wrapped():
    im = ImageArray(np.zeros((10, 10)))
    im.draw.line(5, -5, 5, 20, value=2)
    assert im.data[5].tolist() == [2.0] * 10 and im.sum() == 20


def test_antialiased_line_blends_by_coverage():
    im = ImageArray(np.full((20, 20), 10.0))
    im.draw.line_aa(2, 1, 15, 17, value=110)
    rr, cc, weight = draw.line_aa(2, 1, 15, 17)
    np.testing.assert_allclose(im.data[rr, cc], 10 * (1 - weight) + 110 * weight)


def _polygon(corners, shape):
    return draw.polygon(corners[:, 0], corners[:, 1], shape=shape)


@pytest.mark.parametrize("angle", [0.0, np.radians(30), -1.1])
def test_rectangle_is_the_turned_polygon_through_its_corners(angle):
    r, c, w, h = 40.0, 50.0, 30.0, 12.0
    im = ImageArray(np.zeros((100, 120)))
    im.draw.rectangle(r, c, w, h, angle=angle, value=3)
    corners = np.array([[r - h / 2, c - w / 2], [r - h / 2, c + w / 2], [r + h / 2, c + w / 2], [r + h / 2, c - w / 2]])
    turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    corners = (corners - [r, c]) @ turn.T + [r, c]
    expected = np.zeros((100, 120))
    expected[_polygon(corners, (100, 120))] = 3
    np.testing.assert_array_equal(im.data, expected)
    if angle == 0:  # w along the columns, h along the rows
        rows, cols = np.nonzero(im.data)
        assert (rows.min(), rows.max(), cols.min(), cols.max()) == (34, 46, 35, 65)


def test_square_and_rectangle_perimeter():
    a = ImageArray(np.zeros((60, 60)))
    b = ImageArray(np.zeros((60, 60)))
    a.draw.square(30, 30, 20, angle=0.3)
    b.draw.rectangle(30, 30, 20, 20, angle=0.3)
    np.testing.assert_array_equal(a.data, b.data)
    outline = ImageArray(np.zeros((60, 60)))
    outline.draw.rectangle_perimeter(30, 30, 20, 10)
    rr, cc = draw.polygon_perimeter([25, 25, 35, 35], [20, 40, 40, 20], shape=(60, 60), clip=True)
    expected = np.zeros((60, 60))
    expected[rr, cc] = 1
    np.testing.assert_array_equal(outline.data, expected)


def test_annulus_and_its_inverse():
    shape = (80, 90)
    outer = np.zeros(shape, bool)
    outer[draw.disk((40, 45), 30, shape=shape)] = True
    inner = np.zeros(shape, bool)
    inner[draw.disk((40, 45), 12, shape=shape)] = True
    ring = outer & ~inner
    im = ImageArray(np.zeros(shape))
    im.draw.annulus(40, 45, 12, 30, value=5)
    np.testing.assert_array_equal(im.data, np.where(ring, 5.0, 0.0))
    inverted = ImageArray(np.zeros(shape))
    inverted.draw.annulus(40, 45, 30, 12, value=5)
    np.testing.assert_array_equal(inverted.data, np.where(ring, 0.0, 5.0))


def test_imagefile_draws_in_place_and_chains(stxm_dir):
    doc = stonerimg.load(stxm_dir / "Sample_Image_2017-10-15_100.hdf5")
    before = doc.image.data.copy()
    buffer = doc.image
    peak = float(before.max()) * 2
    assert doc.draw.circle(50, 50, 5, value=peak) is doc
    assert doc.image is buffer  # in place
    rr, cc = draw.disk((50, 50), 5, shape=before.shape)
    expected = before.copy()
    expected[rr, cc] = peak
    np.testing.assert_array_equal(doc.data, expected)
    assert doc["history"][-1] == f"draw.circle(50, 50, 5, value={peak!r})"


def test_drawing_keeps_the_mask_and_draws_on_every_frame():
    stack = ImageArray(np.zeros((3, 10, 10)), mask=np.zeros((3, 10, 10), bool))
    stack.mask[:, 0, 0] = True
    stack.draw.rectangle(0, 0, 4, 4, value=1)
    assert (stack.data[:, 0, 0] == 1).all() and stack.mask[:, 0, 0].all()
    np.testing.assert_array_equal(stack.data[0], stack.data[2])


def test_read_only_image_refuses_to_be_drawn_on():
    data = np.zeros((10, 10))
    data.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        ImageArray(data).draw.circle(5, 5, 2)
