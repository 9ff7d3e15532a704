"""gridimage: re-sampling from measured positions onto the nominal grid."""

import numpy as np
import pytest
from scipy.interpolate import griddata

from stonerimg import ImageArray
from stonerimg.funcs import gridimage


def jittered(shape=(20, 30), jitter=0.2, seed=3):
    """A linear ramp measured at jittered positions, with nominal and actual grids in metadata."""
    rng = np.random.default_rng(seed)
    gy, gx = np.mgrid[: shape[0], : shape[1]].astype(float)
    ax = gx + rng.uniform(-jitter, jitter, shape)
    ay = gy + rng.uniform(-jitter, jitter, shape)
    values = 2.0 * ax - 3.0 * ay + 5.0
    return ImageArray(values, metadata={"sample_x": gx, "sample_y": gy, "actual_x": ax, "actual_y": ay})


def test_linear_ramp_is_recovered_on_the_grid():
    image = jittered()
    result = image.gridimage()
    expected = 2.0 * image["sample_x"] - 3.0 * image["sample_y"] + 5.0
    inside = ~np.ma.getmaskarray(result)
    assert inside.sum() > 0.8 * image.size
    np.testing.assert_allclose(result.data[inside], expected[inside], atol=1e-9)


def test_matches_scipy_griddata_called_directly():
    image = jittered()
    points = np.column_stack([image["actual_x"].ravel(), image["actual_y"].ravel()])
    for method in ("linear", "cubic", "nearest"):
        expected = griddata(points, image.data.ravel(), (image["sample_x"], image["sample_y"]), method=method)
        result = gridimage(image, method=method)
        inside = ~np.isnan(expected)
        np.testing.assert_allclose(result.data[inside], expected[inside])
        np.testing.assert_array_equal(np.ma.getmaskarray(result), ~inside)


def test_outside_points_masked_or_filled():
    image = jittered()
    masked = image.gridimage()
    filled = image.gridimage(fill_value=-1.0)
    outside = np.ma.getmaskarray(masked)
    assert outside.any()
    assert np.all(filled.data[outside] == -1.0)
    assert not np.ma.getmaskarray(filled).any()


def test_idempotent_and_records_the_new_positions():
    image = jittered()
    once = image.gridimage(fill_value=0.0)
    np.testing.assert_array_equal(once["actual_x"], image["sample_x"])
    twice = once.gridimage(fill_value=0.0)
    np.testing.assert_allclose(twice.data, once.data, atol=1e-9)
    assert image["actual_x"] is not once["actual_x"]  # the input is unchanged
    assert once["history"] == ["gridimage(fill_value=0.0)"]


def test_explicit_points_and_grid():
    image = jittered()
    plain = ImageArray(image.data)
    result = plain.gridimage(
        points=(image["actual_x"], image["actual_y"]), xi=(image["sample_x"], image["sample_y"]), fill_value=0.0
    )
    np.testing.assert_allclose(result.data, image.gridimage(fill_value=0.0).data)


def test_errors_name_the_parameter():
    with pytest.raises(ValueError, match="points"):
        ImageArray(np.ones((4, 4))).gridimage()
    image = jittered()
    with pytest.raises(ValueError, match="points"):
        image.gridimage(points=(np.ones((2, 2)), np.ones((2, 2))))
    with pytest.raises(ValueError, match="2-D"):
        ImageArray(np.ones((2, 3, 4))).gridimage()
