"""Kerr defect masks on the real Kerr images (kerr/fields), against scikit-image and NumPy called directly."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.feature import blob_doh, corner_fast
from skimage.restoration import denoise_tv_chambolle

import stonerimg


@pytest.fixture(scope="module")
def raw(kerr_dir):
    return stonerimg.load(kerr_dir / "fields" / "000_field235_run0_unproccessed.png")


def test_defect_mask_is_bright_pixels_or_grown_spots(raw):
    mask, extra = raw.defect_mask(return_extra=True)
    assert mask.dtype == bool and mask.shape == raw.shape
    levelled = np.asarray(extra["levelled"].data)
    assert levelled.min() == 0.0 and levelled.max() == 1.0
    np.testing.assert_array_equal(extra["bright_mask"], levelled > 0.6)
    np.testing.assert_array_equal(extra["corners"], corner_fast(levelled, threshold=0.05))
    np.testing.assert_array_equal(mask, extra["bright_mask"] | extra["spot_mask"])
    points = np.rint(extra["points"][:, :2]).astype(int)
    assert len(points) > 0 and extra["spot_mask"][points[:, 0], points[:, 1]].all()
    assert 0 < mask.mean() < 0.2
    # the image is not changed, and the mask goes straight to .mask
    assert raw.image.mask is np.ma.nomask or not raw.image.mask.any()
    masked = raw.clone
    masked.mask = mask
    np.testing.assert_array_equal(masked.image.mask, mask)


def test_defect_mask_radius_and_threshold(raw):
    _, tight = raw.defect_mask(radius=0, return_extra=True)
    _, wide = raw.defect_mask(radius=3, return_extra=True)
    centres = np.rint(tight["points"][:, :2]).astype(int)
    assert tight["spot_mask"].sum() == len({tuple(p) for p in centres})  # radius 0: the centre pixels only
    assert (wide["spot_mask"] >= tight["spot_mask"]).all() and wide["spot_mask"].sum() > 5 * tight["spot_mask"].sum()
    assert raw.defect_mask(thresh=0.9).sum() < raw.defect_mask(thresh=0.5).sum()
    with pytest.raises(ValueError, match="radius"):
        raw.defect_mask(radius=-1)
    with pytest.raises(ValueError, match="2-D"):
        stonerimg.ImageArray(np.zeros((2, 3, 4))).defect_mask()


def test_defect_mask_spots_are_skimage_blobs_of_the_corner_response(raw):
    mask, extra = raw.defect_mask(radius=2, return_extra=True)
    levelled = np.asarray(extra["levelled"].data)
    blobs = blob_doh(corner_fast(levelled, threshold=0.05), min_sigma=1, max_sigma=20, num_sigma=3, threshold=0.01)
    np.testing.assert_array_equal(extra["points"], blobs)
    yy, xx = np.mgrid[: raw.shape[0], : raw.shape[1]]
    expected = np.zeros(raw.shape, bool)
    for y, x in np.rint(blobs[:, :2]):
        expected |= (yy - y) ** 2 + (xx - x) ** 2 <= 4
    np.testing.assert_array_equal(extra["spot_mask"], expected)


def test_defect_mask_subtract_image_matches_skimage(kerr_dir):
    files = sorted((kerr_dir / "fields").glob("*.png"))
    first, last = (stonerimg.load(p).asfloat() for p in (files[0], files[-1]))
    difference = (last.image - first.image) * 20
    mask, extra = difference.defect_mask_subtract_image(return_extra=True)
    denoised = denoise_tv_chambolle(np.asarray(difference.data), weight=0.1)
    np.testing.assert_allclose(np.asarray(extra["denoised"].data), denoised, atol=1e-12)
    expected = (denoised > 0.25) & (denoised < 0.9)
    assert mask.dtype == bool and 0 < expected.sum()
    np.testing.assert_array_equal(mask, expected)
    narrower = difference.defect_mask_subtract_image(threshmin=0.5)
    assert (narrower <= mask).all() and narrower.sum() < mask.sum()
    difference.mask = mask
    assert difference.mask.sum() == mask.sum()
