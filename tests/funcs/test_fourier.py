"""Tests for stonerimg.funcs.fourier: fft, radial_coordinates, radial_profile.

References are independent: NumPy's ``numpy.fft`` and ``np.hypot``/``np.arctan2`` on
``np.mgrid`` coordinates, ``scipy.signal.get_window`` and ``scipy.ndimage.gaussian_filter``
called directly, closed forms (a cosine grating's frequency, the ring average of a
Gaussian) and a brute-force radial profile that selects each bin with a boolean mask
and calls ``np.mean``/``np.std`` (the way the Stoner package does it).
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import ndimage, signal

from stonerimg import ImageArray, ImageFile
from stonerimg.funcs import fourier
from stonerimg.funcs.fourier import RadialProfile

SHAPES = [(32, 32), (80, 300), (33, 20), (17, 51)]


# ------------------------------------------------------------------ helpers
def _random(shape, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).random(shape).astype(dtype)


def _grid(shape, centre=None, pixel_size=(1.0, 1.0)):
    """Physical offsets (gx, gy) of every pixel from ``centre`` (x, y) in pixels."""
    rows, cols = shape
    if centre is None:
        centre = ((cols - 1) / 2, (rows - 1) / 2)
    y, x = np.mgrid[:rows, :cols].astype(float)
    return pixel_size[0] * (x - centre[0]), pixel_size[1] * (y - centre[1])


def _brute_profile(data, mask, edges, select):
    """Mean, std and count of the unmasked pixels in each bin (boolean selection per bin)."""
    gx, gy, keep = select
    r = np.hypot(gx, gy)
    means, stds, counts = [], [], []
    for k, (low, high) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
        upper = r <= high if k == len(edges) - 2 else r < high
        chosen = (r >= low) & upper & keep & ~mask
        values = data[chosen]
        counts.append(values.size)
        means.append(values.mean() if values.size else np.nan)
        stds.append(values.std() if values.size else np.nan)
    return np.array(means), np.array(stds), np.array(counts)


def _snapshot(image):
    return (np.array(image.data, copy=True), np.ma.getmaskarray(image).copy(), copy.deepcopy(dict(image.metadata)))


def _assert_unchanged(image, snapshot):
    data, mask, metadata = snapshot
    assert_array_equal(np.asarray(image.data), data)
    assert_array_equal(np.ma.getmaskarray(image), mask)
    assert dict(image.metadata) == metadata


# ======================================================================== fft
class TestFFT:
    @pytest.mark.parametrize("shape", SHAPES)
    @pytest.mark.parametrize("shift", [True, False])
    def test_magnitude_matches_numpy(self, shape, shift):
        data = _random(shape)
        expected = np.abs(np.fft.fft2(data))
        if shift:
            expected = np.fft.fftshift(expected)
        result = fourier.fft(data, shift=shift)
        assert isinstance(result, ImageArray)
        assert result.shape == shape
        assert result.dtype == np.float64
        assert_allclose(np.asarray(result.data), expected, rtol=1e-10, atol=1e-10)

    @pytest.mark.parametrize("shape", SHAPES)
    def test_phase_and_complex_match_numpy(self, shape):
        data = _random(shape, seed=1)
        reference = np.fft.fftshift(np.fft.fft2(data))
        complex_result = fourier.fft(data, phase=None)
        assert complex_result.dtype == np.complex128
        assert_allclose(np.asarray(complex_result.data), reference, rtol=1e-10, atol=1e-10)
        phase = np.asarray(fourier.fft(data, phase=True).data)
        # compare on the unit circle so that +pi and -pi agree
        assert_allclose(np.exp(1j * phase), np.exp(1j * np.angle(reference)), atol=1e-9)
        assert np.all(np.abs(phase) <= np.pi)

    @pytest.mark.parametrize(
        ("dtype", "expected_dtype", "rtol"),
        [
            (np.uint16, np.float64, 1e-10),
            (np.int8, np.float64, 1e-10),
            (np.float32, np.float32, 1e-4),
            (bool, np.float64, 1e-10),
        ],
    )
    def test_dtypes(self, dtype, expected_dtype, rtol):
        raw = _random((24, 40), seed=2)
        data = (raw > 0.5) if dtype is bool else (raw * 100).astype(dtype)
        result = fourier.fft(data)
        assert result.dtype == expected_dtype
        expected = np.fft.fftshift(np.abs(np.fft.fft2(data.astype(np.float64))))
        assert_allclose(np.asarray(result.data), expected, rtol=rtol, atol=rtol * expected.max())

    @pytest.mark.parametrize("shape", [(64, 64), (48, 100), (81, 45)])
    @pytest.mark.parametrize("scale", [1.0, 0.25])
    def test_cosine_grating_peaks_at_reciprocal_period(self, shape, scale):
        rows, cols = shape
        period_px = {64: 8, 100: 10, 45: 9}[cols]
        gx, gy = _grid(shape, centre=(0, 0))
        image = ImageArray(np.cos(2 * np.pi * gx / period_px))
        if scale != 1.0:
            image.set_calibration(scale, units="nm")
        spectrum = image.fft()
        cal = spectrum.calibration
        data = np.asarray(spectrum.data)
        peaks = np.argwhere(data > 0.25 * data.max())  # (row, col)
        assert len(peaks) == 2
        freq_x = sorted(cal.x.to_physical(peaks[:, 1]).tolist())
        freq_y = cal.y.to_physical(peaks[:, 0])
        period = period_px * scale
        assert_allclose(freq_x, [-1 / period, 1 / period], rtol=1e-12)
        assert_allclose(freq_y, 0.0, atol=1e-12)
        assert cal.x.units == cal.y.units == ("1/nm" if scale != 1.0 else "1/px")
        # the peak height of a unit cosine is half the number of pixels
        assert_allclose(data[peaks[:, 0], peaks[:, 1]], rows * cols / 2, rtol=1e-9)

    def test_grating_along_y_on_non_square_image(self):
        gx, gy = _grid((60, 200), centre=(0, 0))
        image = ImageArray(np.cos(2 * np.pi * gy / 5))
        image.set_calibration((2.0, 0.5), units="um")
        spectrum = image.fft()
        data = np.asarray(spectrum.data)
        rows, cols = np.unravel_index(np.argsort(data, axis=None)[-2:], data.shape)
        assert_allclose(sorted(spectrum.calibration.y.to_physical(rows).tolist()), [-1 / 2.5, 1 / 2.5])
        assert_allclose(spectrum.calibration.x.to_physical(cols), 0.0, atol=1e-12)
        assert spectrum.calibration.x.scale == pytest.approx(1 / (200 * 2.0))
        assert spectrum.calibration.y.scale == pytest.approx(1 / (60 * 0.5))

    @pytest.mark.parametrize("shape", [(16, 16), (15, 21)])
    @pytest.mark.parametrize("shift", [True, False])
    def test_zero_frequency_is_at_calibrated_zero(self, shape, shift):
        data = np.ones(shape)
        spectrum = fourier.fft(data, shift=shift)
        row, col = np.unravel_index(np.argmax(spectrum.data), shape)
        cal = spectrum.calibration
        assert float(cal.x.to_physical(col)) == 0.0
        assert float(cal.y.to_physical(row)) == 0.0
        expected = (shape[0] // 2, shape[1] // 2) if shift else (0, 0)
        assert (row, col) == expected
        # the frequencies match numpy.fft.fftfreq
        freqs = np.fft.fftfreq(shape[1])
        if shift:
            freqs = np.fft.fftshift(freqs)
            assert_allclose(cal.x.to_physical(np.arange(shape[1])), freqs, atol=1e-15)
        else:
            half = (shape[1] + 1) // 2  # k < N / 2; from the Nyquist pixel on, numpy says negative
            assert_allclose(cal.x.to_physical(np.arange(half)), freqs[:half], atol=1e-15)

    @pytest.mark.parametrize(
        ("units", "expected"), [("nm", "1/nm"), ("1/nm", "nm"), ("px", "1/px"), ("m s", "1/(m s)")]
    )
    def test_reciprocal_units(self, units, expected):
        image = ImageArray(np.ones((4, 4)))
        image.set_calibration(1.0, units=units)
        assert image.fft().calibration.x.units == expected

    def test_fft_twice_restores_direct_calibration(self):
        image = ImageArray(_random((16, 20)))
        image.set_calibration(0.5, units="nm")
        twice = image.fft().fft()
        assert twice.calibration.x.units == "nm"
        assert twice.calibration.x.scale == pytest.approx(0.5)

    def test_remove_dc(self):
        data = _random((40, 30), seed=3) + 5.0
        result = fourier.fft(data, remove_dc=True)
        expected = np.fft.fftshift(np.abs(np.fft.fft2(data - data.mean())))
        assert_allclose(np.asarray(result.data), expected, atol=1e-9)
        assert result.data[20, 15] < 1e-9
        assert fourier.fft(data).data[20, 15] > 1000

    def test_masked_pixels_filled_with_unmasked_mean(self):
        data = _random((32, 48), seed=4)
        mask = np.zeros(data.shape, bool)
        mask[5:12, 30:40] = True
        image = ImageArray(data, mask=mask)
        filled = np.where(mask, data[~mask].mean(), data)
        result = image.fft(phase=None)
        assert_allclose(np.asarray(result.data), np.fft.fftshift(np.fft.fft2(filled)), atol=1e-9)
        assert not np.ma.is_masked(result)
        dc_removed = image.fft(remove_dc=True, shift=False)
        assert_allclose(np.asarray(dc_removed.data), np.abs(np.fft.fft2(filled - filled.mean())), atol=1e-9)
        assert dc_removed.data[0, 0] < 1e-9

    @pytest.mark.parametrize("window", ["hann", "blackman", ("tukey", 0.3)])
    @pytest.mark.parametrize("shape", [(32, 32), (20, 50)])
    def test_window_is_separable_scipy_window(self, window, shape):
        data = _random(shape, seed=5)
        win = np.outer(signal.get_window(window, shape[0]), signal.get_window(window, shape[1]))
        expected = np.fft.fftshift(np.abs(np.fft.fft2(data * win)))
        assert_allclose(np.asarray(fourier.fft(data, window=window).data), expected, atol=1e-10)

    def test_window_array_and_leakage(self):
        x = np.arange(64)
        data = np.tile(np.cos(2 * np.pi * x / 9.3), (64, 1))  # not periodic in the image: leaks
        win = np.outer(np.hanning(64), np.hanning(64))
        assert_allclose(
            np.asarray(fourier.fft(data, window=win).data), np.fft.fftshift(np.abs(np.fft.fft2(data * win))), atol=1e-10
        )
        plain = np.asarray(fourier.fft(data).data)
        windowed = np.asarray(fourier.fft(data, window="hann").data)
        # far from the peaks, the window suppresses the leakage by orders of magnitude
        assert windowed[32, 0:10].max() / windowed.max() < 1e-2 * plain[32, 0:10].max() / plain.max()

    @pytest.mark.parametrize("gaussian", [1.5, (2.0, 0.5)])
    @pytest.mark.parametrize("phase", [False, None])
    def test_gaussian_blur_with_wrap(self, gaussian, phase):
        data = _random((30, 44), seed=6)
        reference = np.fft.fftshift(np.fft.fft2(data))
        if phase is False:
            reference = np.abs(reference)
        sigma = (gaussian, gaussian) if np.isscalar(gaussian) else gaussian
        expected = ndimage.gaussian_filter(reference, sigma=(sigma[1], sigma[0]), mode="wrap")
        result = fourier.fft(data, phase=phase, gaussian=gaussian)
        assert_allclose(np.asarray(result.data), expected, atol=1e-10)

    @pytest.mark.parametrize(
        ("kwargs", "error", "match"),
        [
            ({"phase": "yes"}, TypeError, "phase"),
            ({"gaussian": -1}, ValueError, "gaussian"),
            ({"gaussian": (1, 2, 3)}, ValueError, "gaussian"),
            ({"gaussian": object()}, ValueError, "gaussian"),
            ({"window": "no-such-window"}, ValueError, "window"),
            ({"window": np.ones((3, 3))}, ValueError, "window"),
            ({"window": 3}, TypeError, "window"),
        ],
    )
    def test_bad_arguments(self, kwargs, error, match):
        with pytest.raises(error, match=match):
            fourier.fft(np.ones((8, 10)), **kwargs)

    def test_bad_images(self):
        with pytest.raises(ValueError, match="2-D"):
            fourier.fft(np.ones((2, 4, 4)))
        with pytest.raises(ValueError, match="masked"):
            fourier.fft(ImageArray(np.ones((4, 4)), mask=np.ones((4, 4), bool)))

    def test_metadata_history_and_input_unchanged(self):
        mask = np.zeros((20, 30), bool)
        mask[2, 3] = True
        image = ImageArray(_random((20, 30)), mask=mask, metadata={"sample": "Py", "history": ["load()"]})
        image.set_calibration(0.1, units="um")
        before = _snapshot(image)
        result = image.fft(remove_dc=True, window="hann", gaussian=1)
        _assert_unchanged(image, before)
        assert result["sample"] == "Py"
        assert result["history"][:-1] == ["load()"]
        assert result["history"][-1].startswith("fft(")
        assert len(result["history"]) == 2
        assert not np.shares_memory(result, image)

    def test_image_file_method_in_place(self):
        data = _random((16, 24))
        f = ImageFile(data.copy())
        assert f.fft(shift=False) is f
        assert_allclose(np.asarray(f.image.data), np.abs(np.fft.fft2(data)), atol=1e-10)
        assert f.image["history"] == ["fft(shift=False)"]

    def test_real_kerr_image(self, kerr_dir):
        image = ImageFile.load(kerr_dir / "kermit.png").image
        data = np.asarray(image.data, dtype=np.float64)
        result = image.fft()
        assert result.shape == image.shape
        assert_allclose(np.asarray(result.data), np.fft.fftshift(np.abs(np.fft.fft2(data))), rtol=1e-9, atol=1e-6)


# =========================================================== radial_coordinates
class TestRadialCoordinates:
    @pytest.mark.parametrize("shape", SHAPES)
    @pytest.mark.parametrize("centre", [None, (3, 7.5), (-2.0, 40)])
    def test_radius_angle_and_complex(self, shape, centre):
        gx, gy = _grid(shape, centre)
        image = ImageArray(np.zeros(shape))
        r = image.radial_coordinates(centre=centre)
        assert r.shape == shape
        assert_allclose(np.asarray(r.data), np.hypot(gx, gy), rtol=1e-14)
        theta = image.radial_coordinates(centre=centre, angle=True)
        assert_allclose(np.asarray(theta.data), np.arctan2(gy, gx), rtol=1e-14)
        z = image.radial_coordinates(centre=centre, angle=None)
        assert z.dtype.kind == "c"
        assert_allclose(np.abs(z.data), np.hypot(gx, gy), rtol=1e-14, atol=1e-14)
        assert_allclose(np.asarray(z.data), gx + 1j * gy)

    def test_angle_convention(self):
        image = ImageArray(np.zeros((5, 5)))
        theta = np.asarray(image.radial_coordinates(angle=True).data)
        assert theta[2, 4] == 0.0  # +x
        assert theta[4, 2] == pytest.approx(np.pi / 2)  # +y: the row below the centre
        assert theta[2, 0] == pytest.approx(np.pi)  # -x
        assert theta[0, 2] == pytest.approx(-np.pi / 2)

    def test_pixel_size_from_calibration_and_explicit(self):
        shape = (12, 30)
        image = ImageArray(np.zeros(shape))
        image.set_calibration((0.5, 2.0), units="nm")
        gx, gy = _grid(shape, pixel_size=(0.5, 2.0))
        assert_allclose(np.asarray(image.radial_coordinates().data), np.hypot(gx, gy))
        gx, gy = _grid(shape, pixel_size=(3.0, 3.0))
        assert_allclose(np.asarray(image.radial_coordinates(pixel_size=3).data), np.hypot(gx, gy))
        assert_allclose(np.asarray(image.radial_coordinates(pixel_size=(3, 3)).data), np.hypot(gx, gy))

    def test_centre_origin_and_partial_centre(self):
        image = ImageArray(np.zeros((10, 16)))
        image.set_calibration(0.5, offset=(-2.0, -1.0), units="um")  # physical 0 at pixel (4, 2)
        gx, gy = _grid((10, 16), centre=(4, 2), pixel_size=(0.5, 0.5))
        assert_allclose(np.asarray(image.radial_coordinates(centre="origin").data), np.hypot(gx, gy))
        gx, gy = _grid((10, 16), centre=(7.5, 3), pixel_size=(0.5, 0.5))
        assert_allclose(np.asarray(image.radial_coordinates(centre=(None, 3)).data), np.hypot(gx, gy))

    def test_mask_metadata_and_input(self):
        mask = np.zeros((6, 8), bool)
        mask[1, 1] = True
        image = ImageArray(np.arange(48.0).reshape(6, 8), mask=mask, metadata={"sample": "Py"})
        before = _snapshot(image)
        result = image.radial_coordinates(angle=True)
        _assert_unchanged(image, before)
        assert result["sample"] == "Py"
        assert result["history"] == ["radial_coordinates(angle=True)"]
        assert_array_equal(np.ma.getmaskarray(result), mask)

    def test_image_file_and_plain_array(self):
        f = ImageFile(np.zeros((4, 6)))
        assert f.radial_coordinates(centre=(0, 0)) is f
        assert f.image[3, 5] == pytest.approx(np.hypot(3, 5))
        assert fourier.radial_coordinates(np.zeros((4, 6)), centre=(0, 0))[3, 5] == pytest.approx(np.hypot(3, 5))

    @pytest.mark.parametrize(
        ("kwargs", "error", "match"),
        [
            ({"angle": "yes"}, TypeError, "angle"),
            ({"centre": 3}, TypeError, "centre"),
            ({"centre": "middle"}, ValueError, "centre"),
            ({"centre": (1, "a")}, TypeError, "centre"),
            ({"pixel_size": 0}, ValueError, "pixel_size"),
            ({"pixel_size": (1, 2, 3)}, TypeError, "pixel_size"),
            ({"pixel_size": "1"}, TypeError, "pixel_size"),
        ],
    )
    def test_bad_arguments(self, kwargs, error, match):
        with pytest.raises(error, match=match):
            fourier.radial_coordinates(np.zeros((4, 4)), **kwargs)

    def test_mismatched_units(self):
        image = ImageArray(np.zeros((4, 4)))
        image.set_calibration(1.0, units="nm", axis="x")
        image.set_calibration(1.0, units="um", axis="y")
        with pytest.raises(ValueError, match="pixel_size"):
            image.radial_coordinates()
        assert image.radial_coordinates(pixel_size=1).shape == (4, 4)


# ================================================================ radial_profile
class TestRadialProfile:
    @pytest.mark.parametrize("shape", SHAPES)
    @pytest.mark.parametrize("centre", [None, (5, 3), (0.3, 60.2)])
    def test_matches_brute_force(self, shape, centre):
        data = _random(shape, seed=7)
        profile = fourier.radial_profile(data, centre=centre)
        gx, gy = _grid(shape, centre)
        furthest = np.hypot(gx, gy).max()
        edges = profile.edges
        assert edges[0] == 0.0
        assert_allclose(np.diff(edges), 1.0)
        assert edges[-2] <= furthest < edges[-1]
        mean, std, count = _brute_profile(data, np.zeros(shape, bool), edges, (gx, gy, np.ones(shape, bool)))
        assert_array_equal(profile.count, count)
        assert profile.count.sum() == data.size
        assert_allclose(profile.mean, mean, rtol=1e-12, equal_nan=True)
        assert_allclose(profile.std, std, rtol=1e-9, atol=1e-12, equal_nan=True)
        assert_allclose(profile.r, (edges[:-1] + edges[1:]) / 2)
        assert profile.r_units == "px"

    def test_gaussian_matches_closed_form(self):
        sigma = 12.0
        shape = (201, 201)
        gx, gy = _grid(shape)
        image = ImageArray(np.exp(-(gx**2 + gy**2) / (2 * sigma**2)))
        profile = image.radial_profile(r=np.arange(0, 90, 3.0))
        a, b = profile.edges[:-1], profile.edges[1:]
        # mean of exp(-r^2 / 2 s^2) over the annulus a <= r < b
        closed = 2 * sigma**2 * (np.exp(-(a**2) / (2 * sigma**2)) - np.exp(-(b**2) / (2 * sigma**2))) / (b**2 - a**2)
        assert_allclose(profile.mean, closed, atol=1e-2)  # pixels sample each annulus unevenly
        # with 1-pixel bins the bin mean is the Gaussian at the bins' mean pixel radius (np.histogram)
        fine = image.radial_profile()
        r = np.hypot(gx, gy)
        counts, _ = np.histogram(r, bins=fine.edges)
        sums, _ = np.histogram(r, bins=fine.edges, weights=r)
        inner = (fine.r < 60) & (counts > 0)
        mean_r = sums[inner] / counts[inner]
        assert_allclose(fine.mean[inner], np.exp(-(mean_r**2) / (2 * sigma**2)), atol=2e-3)

    @pytest.mark.parametrize("shape", [(128, 128), (90, 160)])
    def test_sharp_annulus_peaks_at_its_radius(self, shape):
        gx, gy = _grid(shape)
        radius = 30.0
        image = ImageArray(((np.hypot(gx, gy) >= radius) & (np.hypot(gx, gy) < radius + 1)).astype(float))
        profile = image.radial_profile()
        assert profile.r[np.argmax(profile.mean)] == pytest.approx(radius + 0.5)
        assert profile.mean.max() == 1.0

    def test_cosine_rings_and_calibration(self):
        shape = (150, 150)
        scale, period = 2.5, 40.0  # nm per pixel, ring period in nm
        gx, gy = _grid(shape, pixel_size=(scale, scale))
        image = ImageArray(np.cos(2 * np.pi * np.hypot(gx, gy) / period))
        image.set_calibration(scale, units="nm")
        profile = image.radial_profile(r=1.0)  # 1 nm bins
        assert profile.r_units == "nm"
        assert_allclose(np.diff(profile.edges), 1.0)
        assert profile.edges[-1] >= np.hypot(gx, gy).max()
        filled = profile.count > 0
        # maxima of cos(2 pi r / L) at r = L, 2L, 3L
        peaks = [
            profile.r[filled][np.argmax(np.where(np.abs(profile.r[filled] - k * period) < 5, profile.mean[filled], -2))]
            for k in (1, 2, 3)
        ]
        assert_allclose(peaks, [period, 2 * period, 3 * period], atol=1.0)
        # mean follows the cosine within the spread of r in a bin
        assert_allclose(profile.mean[filled], np.cos(2 * np.pi * profile.r[filled] / period), atol=0.2)

    def test_calibrated_default_bins_are_one_pixel(self):
        image = ImageArray(_random((40, 60)))
        image.set_calibration((0.2, 0.5), units="um")
        profile = image.radial_profile()
        assert profile.r_units == "um"
        assert_allclose(np.diff(profile.edges), 0.2)
        gx, gy = _grid((40, 60), pixel_size=(0.2, 0.5))
        mean, std, count = _brute_profile(
            np.asarray(image.data), np.zeros((40, 60), bool), profile.edges, (gx, gy, np.ones((40, 60), bool))
        )
        assert_array_equal(profile.count, count)
        assert_allclose(profile.mean, mean, equal_nan=True)
        explicit = image.radial_profile(pixel_size=(0.2, 0.5))
        assert explicit.r_units == ""
        assert_allclose(explicit.mean, profile.mean, equal_nan=True)

    def test_masked_half_gives_the_same_profile(self):
        shape = (64, 96)
        gx, gy = _grid(shape)
        data = np.cos(np.hypot(gx, gy) / 4) + 0.1 * gy**2 / 100  # mirror-symmetric about the vertical axis
        mask = gx < 0
        full = fourier.radial_profile(data)
        half = fourier.radial_profile(ImageArray(data, mask=mask))
        assert_array_equal(half.count * 2, full.count)
        assert_allclose(half.mean, full.mean, rtol=1e-12, equal_nan=True)
        assert_allclose(half.std, full.std, rtol=1e-9, atol=1e-12, equal_nan=True)
        # and masking the other half changes nothing either
        other = fourier.radial_profile(ImageArray(data, mask=~mask))
        assert_allclose(other.mean, full.mean, rtol=1e-12, equal_nan=True)

    def test_masked_values_do_not_leak(self):
        data = _random((30, 30), seed=8)
        mask = np.zeros(data.shape, bool)
        mask[::3, ::2] = True
        poisoned = data.copy()
        poisoned[mask] = 1e12
        profile = fourier.radial_profile(ImageArray(poisoned, mask=mask))
        gx, gy = _grid(data.shape)
        mean, std, count = _brute_profile(data, mask, profile.edges, (gx, gy, np.ones(data.shape, bool)))
        assert_array_equal(profile.count, count)
        assert_allclose(profile.mean, mean, equal_nan=True)
        assert_allclose(profile.std, std, rtol=1e-9, atol=1e-12, equal_nan=True)

    @pytest.mark.parametrize(
        ("sector", "centre_angle"),
        [
            ((-np.pi / 4, np.pi / 4), 0.0),  # around +x
            ((3 * np.pi / 4, 5 * np.pi / 4), np.pi),  # around -x, wrapping through pi
            ((np.pi / 4, 3 * np.pi / 4), np.pi / 2),  # around +y: the lower half on a default display
            ((-3 * np.pi / 4, -np.pi / 4), -np.pi / 2),  # around -y
        ],
    )
    @pytest.mark.parametrize("shape", [(120, 120), (100, 160)])
    def test_sector_on_an_image_that_depends_on_angle(self, sector, centre_angle, shape):
        gx, gy = _grid(shape)
        r = np.hypot(gx, gy)
        data = np.cos(np.arctan2(gy, gx) - centre_angle)  # 1 along the sector's middle, -1 opposite
        profile = fourier.radial_profile(data, angle=sector)
        theta = np.arctan2(gy, gx)
        in_sector = np.mod(theta - sector[0], 2 * np.pi) <= sector[1] - sector[0]
        mean, _, count = _brute_profile(data, np.zeros(shape, bool), profile.edges, (gx, gy, in_sector | (r == 0)))
        assert_array_equal(profile.count, count)
        assert_allclose(profile.mean, mean, equal_nan=True)
        # closed form: the mean of cos over a sector of half-width h is sin(h) / h
        filled = (profile.count > 0) & (profile.r > 20) & (profile.r < min(shape) / 2)
        assert filled.sum() > 20
        assert_allclose(profile.mean[filled], np.sin(np.pi / 4) / (np.pi / 4), atol=0.03)
        # the whole image averages to zero at every radius inside it
        everything = fourier.radial_profile(data)
        assert np.all(np.abs(everything.mean[filled]) < 0.02)

    @pytest.mark.parametrize("direction", [0.0, np.pi, np.pi / 2, 0.7, -2.3])
    def test_single_direction_is_a_one_pixel_strip(self, direction):
        shape = (81, 101)
        gx, gy = _grid(shape)
        data = gx * np.cos(direction) + gy * np.sin(direction)  # distance along the direction
        profile = fourier.radial_profile(data, angle=direction)
        filled = profile.count > 0
        # along the ray the value is the distance itself, within half a pixel across it
        assert_allclose(profile.mean[filled], profile.r[filled], atol=0.75)
        assert profile.count.max() <= 3
        if direction in (0.0, np.pi / 2):
            # axis-aligned: exactly one pixel per bin out to the edge
            reach = 50 if direction == 0.0 else 40
            assert_array_equal(profile.count[: reach + 1], 1)
            assert profile.count[reach + 1 :].sum() == 0
        opposite = fourier.radial_profile(data, angle=direction + np.pi)
        assert_allclose(opposite.mean[opposite.count > 0], -opposite.r[opposite.count > 0], atol=0.75)

    def test_full_circle_sector_is_everything(self):
        data = _random((20, 24), seed=9)
        full = fourier.radial_profile(data)
        circle = fourier.radial_profile(data, angle=(-1.0, -1.0 + 2 * np.pi))
        assert_array_equal(circle.count, full.count)
        assert_allclose(circle.mean, full.mean, equal_nan=True)

    @pytest.mark.parametrize(
        "edges",
        [np.array([0.0, 1.5, 4.0, 10.0, 11.0, 30.0]), np.arange(3.0, 20.0, 2.5), np.geomspace(0.5, 25, 12)],
    )
    def test_custom_edges(self, edges):
        shape = (40, 50)
        data = _random(shape, seed=10)
        profile = fourier.radial_profile(data, r=edges, centre=(12, 30))
        gx, gy = _grid(shape, centre=(12, 30))
        mean, std, count = _brute_profile(data, np.zeros(shape, bool), edges, (gx, gy, np.ones(shape, bool)))
        assert_array_equal(profile.edges, edges)
        assert_array_equal(profile.count, count)
        assert_allclose(profile.mean, mean, equal_nan=True)
        assert_allclose(profile.std, std, rtol=1e-9, atol=1e-12, equal_nan=True)
        hist, _ = np.histogram(np.hypot(gx, gy), bins=edges)
        assert_array_equal(profile.count, hist)

    def test_last_edge_is_inclusive_and_empty_bins_are_nan(self):
        data = np.arange(9.0).reshape(3, 3)
        profile = fourier.radial_profile(data, r=[0.0, 0.5, 0.9, 1.0])
        assert profile.count.tolist() == [1, 0, 4]
        assert np.isnan(profile.mean[1]) and np.isnan(profile.std[1])
        assert profile.mean[2] == pytest.approx((1 + 3 + 5 + 7) / 4)

    def test_std_is_accurate_for_a_large_offset(self):
        rng = np.random.default_rng(11)
        data = 1e8 + rng.normal(0, 1e-3, (64, 64))
        profile = fourier.radial_profile(data, r=[0, 10, 20, 30])
        gx, gy = _grid(data.shape)
        _, std, _ = _brute_profile(data, np.zeros(data.shape, bool), profile.edges, (gx, gy, np.ones(data.shape, bool)))
        assert_allclose(profile.std, std, rtol=1e-4)

    def test_fft_rings_with_origin_centre(self):
        shape = (128, 128)
        gx, gy = _grid(shape)
        image = ImageArray(np.cos(2 * np.pi * np.hypot(gx, gy) / 8.0))
        image.set_calibration(0.5, units="nm")  # ring period 4 nm
        spectrum = image.fft(remove_dc=True, window="hann")
        profile = spectrum.radial_profile(centre="origin")
        assert profile.r_units == "1/nm"
        assert profile.r[np.argmax(profile.mean)] == pytest.approx(1 / 4.0, abs=np.diff(profile.edges)[0])

    def test_result_object(self):
        data = _random((10, 12))
        profile = fourier.radial_profile(ImageArray(data, metadata={"sample": "Py"}))
        assert isinstance(profile, RadialProfile)
        with pytest.raises(dataclasses.FrozenInstanceError):
            profile.r_units = "nm"
        table = profile.to_numpy()
        assert table.shape == (len(profile), 4)
        assert_array_equal(table[:, 0], profile.r)
        assert_array_equal(table[:, 1], profile.mean)
        assert_array_equal(table[:, 3], profile.count)
        assert profile.metadata["sample"] == "Py"
        assert profile.count.dtype.kind == "i"

    def test_plot(self):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        image = ImageArray(_random((20, 20)))
        image.set_calibration(0.5, units="nm")
        profile = image.radial_profile()
        ax = profile.plot()
        try:
            assert_allclose(ax.lines[0].get_xdata(), profile.r)
            assert_allclose(ax.lines[0].get_ydata(), profile.mean)
            assert ax.get_xlabel() == "r (nm)"
            fig, own = plt.subplots()
            assert profile.plot(ax=own, color="red") is own
        finally:
            plt.close("all")

    @pytest.mark.parametrize("dtype", [np.uint16, np.float32, bool])
    def test_dtypes(self, dtype):
        raw = _random((25, 31), seed=12)
        data = (raw > 0.5) if dtype is bool else (raw * 1000).astype(dtype)
        profile = fourier.radial_profile(data)
        gx, gy = _grid(data.shape)
        mean, _, count = _brute_profile(
            data.astype(np.float64), np.zeros(data.shape, bool), profile.edges, (gx, gy, np.ones(data.shape, bool))
        )
        assert_array_equal(profile.count, count)
        assert_allclose(profile.mean, mean, rtol=1e-12, equal_nan=True)

    def test_input_unchanged_and_methods(self):
        mask = np.zeros((12, 16), bool)
        mask[0, :4] = True
        image = ImageArray(_random((12, 16)), mask=mask, metadata={"history": ["load()"]})
        before = _snapshot(image)
        as_method = image.radial_profile(angle=(-3.0, -1.6))  # the upper left, where the mask is
        _assert_unchanged(image, before)
        f = ImageFile(image)
        from_file = f.radial_profile(angle=(-3.0, -1.6))
        assert isinstance(from_file, RadialProfile)
        assert f.image is image or np.shares_memory(f.image, image)
        _assert_unchanged(f.image, before)
        assert_allclose(from_file.mean, as_method.mean, equal_nan=True)
        plain = fourier.radial_profile(np.asarray(image.data), angle=(-3.0, -1.6))
        assert plain.count.sum() > as_method.count.sum()  # the mask is only on the ImageArray

    @pytest.mark.parametrize(
        ("kwargs", "error", "match"),
        [
            ({"angle": "all"}, TypeError, "angle"),
            ({"angle": (1.0, 0.5)}, ValueError, "angle"),
            ({"angle": (0.0, 1.0, 2.0)}, TypeError, "angle"),
            ({"angle": float("nan")}, ValueError, "angle"),
            ({"r": [3.0, 2.0, 4.0]}, ValueError, "r"),
            ({"r": [1.0]}, ValueError, "r"),
            ({"r": -1.0}, ValueError, "r"),
            ({"r": [[0, 1], [2, 3]]}, ValueError, "r"),
            ({"pixel_size": -0.0}, ValueError, "pixel_size"),
        ],
    )
    def test_bad_arguments(self, kwargs, error, match):
        with pytest.raises(error, match=match):
            fourier.radial_profile(np.ones((8, 8)), **kwargs)

    def test_bad_images(self):
        with pytest.raises(TypeError, match="dtype"):
            fourier.radial_profile(np.ones((4, 4), complex))
        with pytest.raises(ValueError, match="2-D"):
            fourier.radial_profile(np.ones((2, 4, 4)))
        with pytest.raises(ValueError, match="empty"):
            fourier.radial_profile(np.ones((0, 4)))
        single = fourier.radial_profile(np.full((1, 1), 3.0))
        assert single.count.tolist() == [1] and single.mean.tolist() == [3.0] and single.std.tolist() == [0.0]


class TestSharedRingBins:
    """One cached implementation of the rings serves radial_profile and the live processors (issue 17)."""

    def test_bins_are_cached_per_shape_centre_and_edges(self):
        from stonerimg.funcs.fourier import ring_bins

        first = ring_bins(40, 50, 24.5, 19.5, 1.0, 1.0, None)
        assert ring_bins(40, 50, 24.5, 19.5, 1.0, 1.0, None)[0] is first[0]
        assert ring_bins(40, 50, 20.0, 19.5, 1.0, 1.0, None)[0] is not first[0]
        assert not first[0].flags.writeable and not first[1].flags.writeable

    def test_a_mask_or_an_edited_result_leaves_the_cache_alone(self):
        rng = np.random.default_rng(5)
        data = rng.random((60, 70))
        mask = rng.random(data.shape) < 0.3
        plain = ImageArray(data)
        masked = ImageArray(data, mask=mask)
        first = plain.radial_profile()
        first.edges[...] = -1  # results are the caller's own arrays
        first.count[...] = 0
        masked.radial_profile()
        again = plain.radial_profile()
        ys, xs = np.indices(data.shape)
        r = np.hypot(xs - 34.5, ys - 29.5).astype(int).ravel()
        count = np.bincount(r)
        assert_array_equal(again.count, count)
        assert_allclose(again.mean, np.bincount(r, data.ravel()) / count)
        keep = ~mask.ravel()
        expected = np.bincount(r[keep], data.ravel()[keep], minlength=count.size)
        with np.errstate(invalid="ignore"):
            assert_allclose(masked.radial_profile().mean, expected / np.bincount(r[keep], minlength=count.size))
        assert np.all(again.edges >= 0)

    @pytest.mark.parametrize("masked", [False, True])
    def test_live_and_funcs_give_the_same_profile(self, masked):
        from stonerimg.live.builtins import radial_profile as live_profile

        rng = np.random.default_rng(6)
        data = rng.random((33, 48)).astype(np.float32)
        frame = ImageArray(data, mask=(rng.random(data.shape) < 0.2) if masked else np.ma.nomask)
        assert_allclose(live_profile(frame), frame.radial_profile().mean, rtol=1e-6, equal_nan=True)

    @pytest.mark.parametrize("shape", [(1, 6), (2, 2), (7, 9), (8, 10), (9, 8), (33, 33)])
    @pytest.mark.parametrize("dtype", [np.uint16, np.float32, np.float64])
    def test_about_the_middle_the_quarters_are_folded_exactly(self, shape, dtype):
        # mirrored pixels share their bin: the profile about the middle sums four quarters (issue 17)
        data = (_random(shape, seed=8) * 1000).astype(dtype)
        pixel_size = (0.5, 0.25)
        edges = [0.0, 0.3, 0.7, 1.5, 3.0, 6.0]
        profile = fourier.radial_profile(data, r=edges, pixel_size=pixel_size)
        gx, gy = _grid(shape, pixel_size=pixel_size)
        mean, std, count = _brute_profile(
            data.astype(np.float64), np.zeros(shape, bool), np.array(edges), (gx, gy, np.ones(shape, bool))
        )
        assert_array_equal(profile.count, count)
        assert_allclose(profile.mean, mean, rtol=1e-12, equal_nan=True)
        assert_allclose(profile.std, std, rtol=1e-9, atol=1e-9, equal_nan=True)
