"""Tests for stonerimg.funcs.registration: align and correct_drift.

The truth is a known shift made with ``scipy.ndimage.shift`` (or a closed-form
blob placed analytically); results are compared with it, with
``scipy.ndimage.shift`` applied by hand to the recorded shift, and with
``skimage.registration.phase_cross_correlation`` called directly.

Sign convention under test: if ``moving`` is ``ref`` displaced by ``(dx, dy)``
(``moving = ndimage.shift(ref, (dy, dx))``), then ``correct_drift`` records the
drift ``(dx, dy)``, ``drift_shift`` and ``align.shift`` record ``(-dx, -dy)``.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
from scipy import ndimage
from skimage.registration import phase_cross_correlation

import stonerimg
from stonerimg import ImageArray, ImageFile
from stonerimg.funcs import registration
from stonerimg.funcs.registration import align, correct_drift

TRUTH = (3.27, -1.62)  # (dx, dy) in pixels
TOL = 0.05


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def kermit(kerr_dir) -> np.ndarray:
    """The Kerr image as float64 in [0, 1]."""
    image = stonerimg.load(kerr_dir / "kermit.png").image
    return np.asarray(image.data, dtype=np.float64) / 65535.0


def _drift(data: np.ndarray, drift=TRUTH) -> np.ndarray:
    """``data`` displaced by ``drift`` = (dx, dy): features move dx right and dy down."""
    return ndimage.shift(data, (drift[1], drift[0]), order=3, mode="nearest")


def _snapshot(image: ImageArray):
    return (np.array(image.data, copy=True), np.ma.getmaskarray(image).copy(), copy.deepcopy(dict(image.metadata)))


def _assert_unchanged(image: ImageArray, snapshot) -> None:
    data, mask, metadata = snapshot
    np.testing.assert_array_equal(np.asarray(image.data), data)
    np.testing.assert_array_equal(np.ma.getmaskarray(image), mask)
    assert dict(image.metadata) == metadata


def _blobs(shape, centres, sigma=3.0) -> np.ndarray:
    """Gaussian blobs at analytic (x, y) centres (no interpolation involved)."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return sum(np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma**2)) for x, y in centres)


def _smooth_noise(shape, seed=0, sigma=3.0) -> np.ndarray:
    return ndimage.gaussian_filter(np.random.default_rng(seed).standard_normal(shape), sigma)


# ------------------------------------------------------- recovery on real data
@pytest.mark.parametrize("method", ["phase", "scharr"])
@pytest.mark.parametrize("truth", [TRUTH, (-0.45, 2.8)])
def test_align_recovers_known_subpixel_shift(kermit, method, truth):
    ref = ImageArray(kermit)
    moving = ImageArray(_drift(kermit, truth), metadata={"sample": "kermit"})
    out = align(moving, ref, method=method)
    sx, sy = out["align.shift"]
    assert abs(sx + truth[0]) < TOL and abs(sy + truth[1]) < TOL
    assert out["align.method"] == method
    assert 0.0 <= out["align.error"] < 0.2
    # the data is exactly scipy's shift by the recorded amount...
    np.testing.assert_allclose(
        np.asarray(out.data), ndimage.shift(np.asarray(moving.data), (sy, sx), order=3, mode="nearest")
    )
    # ... and agrees with moving it back by the true shift
    back = ndimage.shift(np.asarray(moving.data), (-truth[1], -truth[0]), order=3, mode="nearest")
    assert np.abs(np.asarray(out.data) - back)[10:-10, 10:-10].mean() < 2e-3


@pytest.mark.parametrize("method", ["phase", "scharr"])
def test_correct_drift_recovers_known_subpixel_shift(kermit, method):
    ref = ImageArray(kermit)
    moving = ImageArray(_drift(kermit))
    out = correct_drift(moving, ref, method=method)
    dx, dy = out["correct_drift"]
    assert abs(dx - TRUTH[0]) < TOL and abs(dy - TRUTH[1]) < TOL
    assert out["drift_shift"] == (-dx, -dy)
    assert isinstance(out["correct_drift"], tuple) and isinstance(out["drift_shift"], tuple)
    assert np.isfinite(out["drift_error"])
    np.testing.assert_allclose(
        np.asarray(out.data), ndimage.shift(np.asarray(moving.data), (-dy, -dx), order=3, mode="nearest")
    )


def test_sign_convention_with_analytic_blobs():
    """Blobs placed in closed form: the drift is where they went, the shift brings them back."""
    centres = [(30.0, 20.0), (70.0, 45.0), (110.0, 25.0)]
    dx, dy = 2.4, -1.7
    ref = ImageArray(_blobs((64, 140), centres))
    moving = ImageArray(_blobs((64, 140), [(x + dx, y + dy) for x, y in centres]))
    drift = correct_drift(moving, ref, upsample_factor=100)
    np.testing.assert_allclose(drift["correct_drift"], (dx, dy), atol=0.02)
    aligned = align(moving, ref, method="phase")
    np.testing.assert_allclose(aligned["align.shift"], (-dx, -dy), atol=0.02)
    # the first blob's intensity centroid is back at its reference position
    window = (slice(5, 36), slice(14, 47))
    yy, xx = np.mgrid[window]
    blob = np.asarray(aligned.data)[window]
    centroid = ((xx * blob).sum() / blob.sum(), (yy * blob).sum() / blob.sum())
    np.testing.assert_allclose(centroid, centres[0], atol=0.05)


def test_contrast_reversed_image_registered_by_scharr(kermit):
    ref = ImageArray(kermit)
    reversed_moving = ImageArray(1.0 - _drift(kermit))
    out = align(reversed_moving, ref, method="scharr")
    np.testing.assert_allclose(out["align.shift"], (-TRUTH[0], -TRUTH[1]), atol=TOL)
    # the contrast itself is kept: the result is still the reversed image, moved back
    back = ndimage.shift(np.asarray(reversed_moving.data), (-TRUTH[1], -TRUTH[0]), order=3, mode="nearest")
    assert np.abs(np.asarray(out.data) - back)[10:-10, 10:-10].mean() < 2e-3
    assert np.corrcoef(np.asarray(out.data).ravel(), kermit.ravel())[0, 1] < -0.9
    drift = correct_drift(reversed_moving, ref, method="scharr")
    np.testing.assert_allclose(drift["correct_drift"], TRUTH, atol=TOL)


def test_phase_fast_path_matches_skimage_called_directly(kermit):
    """With no window and no smoothing, the shift is skimage's on the mean-subtracted data."""
    moving = _drift(kermit)
    for normalization in (None, "phase"):
        expected, _error, _phase = phase_cross_correlation(
            kermit - kermit.mean(), moving - moving.mean(), upsample_factor=20, normalization=normalization
        )
        out = align(
            moving,
            kermit,
            method="phase",
            prefilter=False,
            window=None,
            upsample_factor=20,
            normalization=normalization,
        )
        np.testing.assert_allclose(out["align.shift"], (expected[1], expected[0]), atol=1e-9)


# ------------------------------------------------------------------------ box
def test_box_restricts_the_measured_region(kermit):
    moving = _drift(kermit)
    # below row 250 (the annotation bar and more) the image drifted differently
    moving[250:] = _drift(kermit, (-6.2, 5.5))[250:]
    ref, moving = ImageArray(kermit, metadata={"roi": (0, None, 0, 240)}), ImageArray(moving)
    whole = align(moving, ref, method="phase")
    assert np.hypot(*(np.add(whole["align.shift"], TRUTH))) > 0.3  # the bad region spoils it
    for box in [(0, None, 0, 240), (0.0, 1.0, 0.0, 0.5), [None, None, None, 240]]:
        boxed = align(moving, ref, method="phase", box=box)
        np.testing.assert_allclose(boxed["align.shift"], (-TRUTH[0], -TRUTH[1]), atol=TOL)
        assert boxed.shape == moving.shape  # the whole image is shifted
        drift = correct_drift(moving, ref, box=box)
        np.testing.assert_allclose(drift["correct_drift"], TRUTH, atol=TOL)


def test_box_is_the_same_as_measuring_the_cropped_images(kermit):
    moving = ImageArray(_drift(kermit))
    ref = ImageArray(kermit)
    box = (20, 300, 30, 200)
    boxed = align(moving, ref, box=box)
    cropped = align(moving.crop(box), ref.crop(box))
    assert boxed["align.shift"] == cropped["align.shift"]


def test_box_from_metadata_key(kermit):
    moving = ImageArray(_drift(kermit), metadata={"roi": (0, None, 0, 240)})
    out = correct_drift(moving, kermit, box="roi")
    np.testing.assert_allclose(out["correct_drift"], TRUTH, atol=TOL)
    with pytest.raises(ValueError, match="box"):
        correct_drift(moving, kermit, box="missing")


# --------------------------------------------------------------------- masks
@pytest.mark.parametrize("method", ["phase", "scharr"])
def test_masked_pixels_are_ignored(kermit, method):
    block = (slice(150, 260), slice(100, 230))
    garbage = _drift(kermit)
    garbage[block] = np.random.default_rng(1).uniform(0, 20, garbage[block].shape)
    unmasked = align(garbage, kermit, method=method)
    assert np.hypot(*np.add(unmasked["align.shift"], TRUTH)) > 0.2  # garbage spoils an unmasked match
    garbage[block][::7, ::5] = np.nan  # NaN under the mask is fine
    mask = np.zeros(kermit.shape, bool)
    mask[block] = True
    moving = ImageArray(garbage, mask=mask)
    snapshot = _snapshot(moving)
    out = align(moving, kermit, method=method)
    np.testing.assert_allclose(out["align.shift"], (-TRUTH[0], -TRUTH[1]), atol=TOL)
    assert np.isfinite(out["align.error"]) and out["align.error"] < 0.2
    _assert_unchanged(moving, snapshot)
    # the mask moved with the image: it covers the block shifted by the rounded shift,
    # eroded by one pixel, and stays within it dilated by one pixel
    sx, sy = out["align.shift"]
    shifted_block = np.roll(mask, (round(sy), round(sx)), axis=(0, 1))
    square = np.ones((3, 3), bool)
    assert np.all(out.mask[ndimage.binary_erosion(shifted_block, square)])
    assert not np.any(out.mask[~ndimage.binary_dilation(shifted_block, square)])


def test_mask_on_reference_only_and_on_both(kermit):
    mask = np.zeros(kermit.shape, bool)
    mask[40:120, 200:300] = True
    ref_data = kermit.copy()
    ref_data[mask] = 5.0
    ref = ImageArray(ref_data, mask=mask)
    moving = ImageArray(_drift(kermit))
    out = correct_drift(moving, ref)
    np.testing.assert_allclose(out["correct_drift"], TRUTH, atol=TOL)
    assert not np.ma.is_masked(out)  # the reference's mask is not copied to the result
    moving_masked = ImageArray(_drift(kermit), mask=np.roll(mask, 30, axis=1))
    out = align(moving_masked, ref, method="scharr")
    np.testing.assert_allclose(out["align.shift"], (-TRUTH[0], -TRUTH[1]), atol=TOL)


def test_unmasked_nan_raises_but_masked_nan_is_ignored(kermit):
    moving = _drift(kermit)
    moving[10:12, 10:14] = np.nan
    with pytest.raises(ValueError, match=r"image: 8 unmasked pixels .* NaN"):
        align(moving, kermit)
    with pytest.raises(ValueError, match=r"ref: .*NaN"):
        correct_drift(kermit, moving)
    out = correct_drift(np.ma.masked_invalid(moving), kermit)
    np.testing.assert_allclose(out["correct_drift"], TRUTH, atol=TOL)


# ------------------------------------------------------------------ failures
def test_noise_against_constant_image_raises():
    noise = np.random.default_rng(0).standard_normal((64, 64))
    constant = np.full((64, 64), 3.0)
    with pytest.raises(ValueError, match="ref: every unmasked pixel .* equals 3.0"):
        align(noise, constant)
    with pytest.raises(ValueError, match="image: every unmasked pixel"):
        correct_drift(constant, noise)


def test_constant_region_in_box_raises():
    data = _smooth_noise((64, 64))
    data[:20] = 1.0
    with pytest.raises(ValueError, match="nothing to register"):
        correct_drift(data, data, box=(0, None, 0, 20))


def test_all_masked_region_raises():
    data = _smooth_noise((64, 64))
    mask = np.ones(data.shape, bool)
    with pytest.raises(ValueError, match="image: only 0 unmasked pixels"):
        align(ImageArray(data, mask=mask), data)


def test_failure_never_returns_zero_shift(monkeypatch):
    """A non-finite result from the registration library raises instead of giving (0, 0)."""
    import skimage.registration

    def broken(*args, **kwargs):
        return np.array([np.nan, 0.0]), np.nan, np.nan

    monkeypatch.setattr(skimage.registration, "phase_cross_correlation", broken)
    data = _smooth_noise((32, 48))
    with pytest.raises(ValueError, match="registration failed"):
        align(data, data)
    with pytest.raises(ValueError, match="registration failed"):
        correct_drift(data, data)


def test_shift_as_large_as_image_raises(monkeypatch):
    import skimage.registration

    monkeypatch.setattr(
        skimage.registration, "phase_cross_correlation", lambda *a, **k: (np.array([0.0, 60.0]), 0.1, 0.0)
    )
    data = _smooth_noise((32, 48))
    with pytest.raises(ValueError, match="as large as the image"):
        correct_drift(data, data)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"method": "cv2"}, ValueError, "method"),
        ({"upsample_factor": 0}, ValueError, "upsample_factor"),
        ({"upsample_factor": "10"}, TypeError, "upsample_factor"),
        ({"scale": -1}, ValueError, "scale"),
        ({"scale": "2"}, TypeError, "scale"),
        ({"prefilter": "gaussian"}, TypeError, "prefilter"),
        ({"prefilter": -1.0}, ValueError, "prefilter"),
        ({"prefilter": lambda a: a[:-1]}, ValueError, "prefilter"),
        ({"order": 7}, ValueError, "order"),
        ({"mode": "edge"}, ValueError, "mode"),
        ({"moving_mask": None}, TypeError, "moving_mask"),
        ({"box": (10, 5, 0, None)}, ValueError, "box"),
        ({"window": "no-such-window"}, ValueError, "window"),
    ],
)
def test_align_bad_arguments(kwargs, error, match):
    data = _smooth_noise((32, 48))
    with pytest.raises(error, match=match):
        align(data, data, **kwargs)


def test_bad_ref_and_image_shapes():
    data = _smooth_noise((32, 48))
    with pytest.raises(ValueError, match=r"ref: its shape \(48, 32\) differs"):
        align(data, data.T)
    with pytest.raises(ValueError, match="ref: its shape"):
        correct_drift(data, data[:, :-1])
    with pytest.raises(ValueError, match="image: registration needs a 2-D image"):
        correct_drift(np.stack([data, data]), np.stack([data, data]))
    with pytest.raises(TypeError, match="do_shift"):
        correct_drift(data, data, do_shift="no")
    with pytest.raises(ValueError, match="method"):
        correct_drift(data, data, method="chi2_shift")


# --------------------------------------------------------- non-square images
@pytest.mark.parametrize("method", ["phase", "scharr"])
@pytest.mark.parametrize("shape", [(80, 300), (300, 80)])
def test_non_square_image_not_transposed_nor_swapped(method, shape):
    base = _smooth_noise(shape, seed=2)
    dx, dy = -4.6, 1.3
    moving = ImageArray(_drift(base, (dx, dy)))
    out = align(moving, base, method=method)
    assert out.shape == shape
    sx, sy = out["align.shift"]
    assert abs(sx - (-dx)) < 0.1 and abs(sy - (-dy)) < 0.1
    np.testing.assert_allclose(np.asarray(out.data), ndimage.shift(base_of(moving), (sy, sx), mode="nearest"))
    drift = correct_drift(moving, base, method=method)
    assert drift.shape == shape
    np.testing.assert_allclose(drift["correct_drift"], (dx, dy), atol=0.1)
    assert out["translation_limits"] == (int(np.ceil(sx)), shape[1], 0, shape[0] + int(np.floor(sy)))


def base_of(image: ImageArray) -> np.ndarray:
    return np.asarray(image.data)


# ---------------------------------------------------- options: scale, prefilter
@pytest.mark.parametrize(("scale", "tol"), [(0.5, 0.1), (2, TOL), (1, TOL)])
def test_scale_prescales_and_divides_back(kermit, scale, tol):
    out = align(_drift(kermit), kermit, method="phase", scale=scale)
    np.testing.assert_allclose(out["align.shift"], (-TRUTH[0], -TRUTH[1]), atol=tol)


def test_prefilter_callable_float_and_off(kermit):
    calls = []

    def smooth(array):
        calls.append(array.shape)
        return ndimage.uniform_filter(array, 3)

    moving = _drift(kermit)
    out = align(moving, kermit, method="phase", prefilter=smooth)
    assert calls == [kermit.shape, kermit.shape]
    np.testing.assert_allclose(out["align.shift"], (-TRUTH[0], -TRUTH[1]), atol=TOL)
    for prefilter in (False, 2.0):
        out = align(moving, kermit, method="scharr", prefilter=prefilter)
        np.testing.assert_allclose(out["align.shift"], (-TRUTH[0], -TRUTH[1]), atol=TOL)


@pytest.mark.parametrize("window", [None, ("tukey", 0.3), "blackman"])
def test_window_choices(kermit, window):
    out = align(_drift(kermit), kermit, method="scharr", window=window)
    np.testing.assert_allclose(out["align.shift"], (-TRUTH[0], -TRUTH[1]), atol=TOL)


@pytest.mark.parametrize("drift", [(2.4, -1.7), (-3.1, 2.2), (5.3, 0.6)])
def test_windowed_pass_is_unbiased_for_sparse_features(drift):
    """A window fixed on both images pulls these particles' shift towards zero by ~0.1 px; ours must not."""
    centres = [(30.0, 20.0), (70.0, 45.0), (110.0, 25.0)]
    dx, dy = drift
    ref = _blobs((64, 140), centres)
    moving = _blobs((64, 140), [(x + dx, y + dy) for x, y in centres])
    for method in ("phase", "scharr"):
        np.testing.assert_allclose(correct_drift(moving, ref, method=method)["correct_drift"], drift, atol=0.025)
        np.testing.assert_allclose(align(moving, ref, method=method)["align.shift"], (-dx, -dy), atol=0.025)


# -------------------------------------------------- dtype, metadata, history
def test_integer_image_keeps_dtype(kerr_dir):
    ref = stonerimg.load(kerr_dir / "kermit.png").image
    moving = ImageArray(_drift(np.asarray(ref.data)))  # scipy rounds and clips to uint16
    assert moving.dtype == np.uint16
    out = correct_drift(moving, ref)
    assert out.dtype == np.uint16
    np.testing.assert_allclose(out["correct_drift"], TRUTH, atol=TOL)
    dx, dy = out["correct_drift"]
    expected = ndimage.shift(np.asarray(moving.data), (-dy, -dx), order=3, mode="nearest")
    np.testing.assert_array_equal(np.asarray(out.data), expected)


@pytest.mark.parametrize("func", [align, correct_drift])
def test_metadata_kept_history_appended_input_unchanged(kermit, func):
    moving = ImageArray(
        _drift(kermit), metadata={"sample": "Py", "history": ["load(kermit.png)"], "calibration.x.scale": 0.1}
    )
    ref = ImageArray(kermit, metadata={"sample": "reference"})
    before, ref_before = _snapshot(moving), _snapshot(ref)
    out = func(moving, ref)
    assert out["sample"] == "Py" and out["calibration.x.scale"] == 0.1
    assert out["history"][:-1] == ["load(kermit.png)"]
    assert out["history"][-1].startswith(f"{func.__name__}(<image (479, 359) float64>")
    assert len(out["history"]) == 2
    _assert_unchanged(moving, before)
    _assert_unchanged(ref, ref_before)
    assert not np.shares_memory(out, moving)


def test_translation_limits_crop_the_valid_region(kermit):
    out = align(_drift(kermit), kermit, method="phase")
    sx, sy = out["align.shift"]  # about (-3.27, +1.62)
    limits = out["translation_limits"]
    assert limits == (0, 359 + int(np.floor(sx)), int(np.ceil(sy)), 479)
    assert out.crop("translation_limits").shape == (479 - limits[2], limits[1])


def test_constant_mode_masks_pixels_from_outside(kermit):
    moving = ImageArray(_drift(kermit))
    out = correct_drift(moving, kermit, mode="constant", cval=-1.0)
    xmin, xmax, ymin, ymax = out["translation_limits"]
    inside = np.zeros(kermit.shape, bool)
    inside[ymin:ymax, xmin:xmax] = True
    np.testing.assert_array_equal(out.mask, ~inside)
    dx, dy = out["correct_drift"]
    expected = ndimage.shift(np.asarray(moving.data), (-dy, -dx), order=3, mode="constant", cval=-1.0)
    np.testing.assert_allclose(np.asarray(out.data), expected)
    assert not np.ma.is_masked(correct_drift(moving, kermit))  # "nearest" fills with data, unmasked


def test_do_shift_false_only_records(kermit):
    moving = ImageArray(_drift(kermit), metadata={"sample": "Py"})
    before = _snapshot(moving)
    out = correct_drift(moving, kermit, do_shift=False)
    np.testing.assert_array_equal(np.asarray(out.data), np.asarray(moving.data))
    np.testing.assert_allclose(out["correct_drift"], TRUTH, atol=TOL)
    assert "translation_limits" not in out.metadata
    assert out["history"] == ["correct_drift(<array (479, 359) float64>, do_shift=False)"]
    _assert_unchanged(moving, before)


# ------------------------------------------------------- three ways to call
def test_plain_array_method_and_imagefile(kermit):
    moving = _drift(kermit)
    plain = registration.align(moving, kermit, method="phase")
    assert isinstance(plain, ImageArray)
    method = ImageArray(moving).align(kermit, method="phase")
    assert plain["align.shift"] == method["align.shift"]
    np.testing.assert_array_equal(np.asarray(plain.data), np.asarray(method.data))

    doc = ImageFile(moving.copy(), metadata={"sample": "Py"})
    returned = doc.align(ImageFile(kermit), method="phase")
    assert returned is doc
    assert doc.image["align.shift"] == method["align.shift"]
    assert doc.image["sample"] == "Py" and len(doc.image["history"]) == 1
    np.testing.assert_array_equal(np.asarray(doc.image.data), np.asarray(method.data))

    doc = ImageFile(moving.copy())
    assert doc.correct_drift(kermit).correct_drift(kermit) is doc  # chains
    assert len(doc.image["history"]) == 2
    assert np.hypot(*doc.image["correct_drift"]) < TOL  # the second pass finds nothing left
