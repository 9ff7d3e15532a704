"""Built-in processors against NumPy/SciPy and stonerimg.funcs, ROI cutting and the sinks."""

import threading

import numpy as np
import pytest
from scipy import ndimage

from stonerimg import ImageArray
from stonerimg.live import (
    BUILTINS,
    ROI,
    LatestImage,
    ScalarTrace,
    Session,
    Waterfall,
    builtin,
    make_frame,
    parse_processor,
)
from stonerimg.live import builtins as fast
from stonerimg.live.sources import SimulatedCamera

RNG = np.random.default_rng(1)
SHAPES = [(32, 40), (33, 40), (32, 41), (33, 41)]


def full_plane_ring_mean(data):
    """Mean |FFT| in rings one frequency step wide about zero frequency, from the full shifted plane."""
    rows, cols = data.shape
    magnitude = np.abs(np.fft.fftshift(np.fft.fft2(data)))
    # radii computed as funcs.fourier documents it (sqrt(Y*Y + X*X) / width in float64): a pixel exactly on a
    # bin edge (e.g. r = 2 steps) falls on the side this rounding puts it
    fy = (1 / rows) * (np.arange(rows) - rows // 2.0)
    fx = (1 / cols) * (np.arange(cols) - cols // 2.0)
    r = np.sqrt(np.add.outer(fy * fy, fx * fx)) / min(1 / rows, 1 / cols)
    index = r.astype(int).ravel()
    return np.bincount(index, weights=magnitude.ravel()) / np.bincount(index)


@pytest.mark.parametrize("shape", SHAPES)
def test_fft_image_and_radial_profile_match_numpy(shape):
    data = RNG.integers(0, 4000, shape).astype(np.uint16)
    frame = make_frame(data, 0)
    expected = np.log1p(np.abs(np.fft.fftshift(np.fft.fft2(data.astype(float)))))
    np.testing.assert_allclose(fast.fft_image(frame), expected, rtol=2e-5)
    profile = fast.fft_radial_profile(frame)
    reference = full_plane_ring_mean(data.astype(float))
    np.testing.assert_allclose(profile[: len(reference)], reference, rtol=1e-4)
    # and the same as the library's own (slower) functions
    funcs = ImageArray(data).fft().radial_profile(centre="origin")
    np.testing.assert_allclose(profile, funcs.mean, rtol=1e-4)


def test_fft_radial_profile_uses_the_calibration_like_funcs():
    image = ImageArray(RNG.random((24, 30)))
    image.set_calibration((0.5, 0.25), "nm")
    frame = make_frame(image, 0)
    funcs = image.fft().radial_profile(centre="origin")
    np.testing.assert_allclose(fast.fft_radial_profile(frame), funcs.mean, rtol=1e-4)


@pytest.mark.parametrize("shape", SHAPES)
def test_radial_profile_matches_funcs(shape):
    data = RNG.random(shape)
    frame = make_frame(data, 0)
    np.testing.assert_allclose(fast.radial_profile(frame), ImageArray(data).radial_profile().mean, rtol=1e-12)
    mask = RNG.random(shape) < 0.2
    masked = ImageArray(data, mask=mask)
    np.testing.assert_allclose(
        fast.radial_profile(make_frame(masked, 0)), masked.radial_profile().mean, rtol=1e-12, equal_nan=True
    )


def test_statistics_line_profile_and_gaussian_match_numpy():
    data = RNG.integers(0, 4000, (30, 50)).astype(np.uint16)
    frame = make_frame(data, 0)
    for op, func in (("mean", np.mean), ("max", np.max), ("min", np.min), ("std", np.std), ("sum", np.sum)):
        assert fast.statistic(frame, op) == pytest.approx(func(data.astype(float)), rel=1e-12)
    np.testing.assert_allclose(fast.line_profile(frame, width=4), data[13:17].mean(axis=0))
    np.testing.assert_allclose(fast.line_profile(frame, direction="y", width=3), data[:, 23:26].mean(axis=1))
    np.testing.assert_allclose(fast.gaussian(frame, 1.5), ndimage.gaussian_filter(data.astype(float), 1.5), rtol=1e-5)
    with pytest.raises(ValueError, match="op"):
        fast.statistic(frame, "median")


def test_mask_roi_leaves_pixels_out_of_statistics():
    data = RNG.random((20, 20))
    mask = np.zeros((20, 20), bool)
    mask[5:9, 3:12] = True
    mask[6, 4] = False
    view = ROI(mask=mask).apply(make_frame(data, 0))
    assert view.shape == (4, 9) and view["roi"] == (3, 5, 9, 4)
    assert fast.statistic(view, "mean") == pytest.approx(data[mask].mean())
    assert fast.statistic(view, "max") == data[mask].max()


def test_centroid_finds_the_simulated_particle():
    camera = SimulatedCamera((120, 160), fps=None, drift=(0.7, 0.3), noise=0, frames=3)
    roi = ROI(40, 20, 100, 90)
    for frame in camera:
        view = roi.apply(frame)
        x, y = fast.centroid(view)
        assert x == pytest.approx(frame["particle.x"], abs=0.3)
        assert y == pytest.approx(frame["particle.y"], abs=0.3)
        # the same weights through scipy.ndimage
        data = view.data.astype(float)
        level = data.min() + 0.5 * (data.max() - data.min())
        cy, cx = ndimage.center_of_mass(np.clip(data - level, 0, None))
        assert (x, y) == pytest.approx((cx + 40, cy + 20), abs=1e-4)


def test_difference_is_the_change_since_the_previous_frame():
    p = builtin("difference")
    a, b = RNG.random((5, 6)), RNG.random((5, 6))
    np.testing.assert_array_equal(p.apply(make_frame(a, 0)), 0)
    np.testing.assert_allclose(p.apply(make_frame(b, 1)), (b - a).astype(np.float32), rtol=1e-6)


def test_spectrum_is_computed_once_per_frame_and_roi():
    data = RNG.random((40, 40))
    frame = make_frame(data, 11)
    before = fast.SPECTRA.computed
    results = []

    def both():
        results.append((fast.fft_image(frame), fast.fft_radial_profile(frame)))

    threads = [threading.Thread(target=both) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert fast.SPECTRA.computed == before + 1
    fast.fft_image(make_frame(data, 12))  # another frame number: computed again
    assert fast.SPECTRA.computed == before + 2
    fast.fft_image(ImageArray(data))  # a writeable array is never cached
    fast.fft_image(ImageArray(data))
    assert fast.SPECTRA.computed == before + 2


def test_builtin_and_parse_processor():
    assert set(BUILTINS) >= {"mean", "max", "centroid", "line_profile", "fft", "fft_radial_profile", "gaussian"}
    p = parse_processor("gaussian(sigma=3)")
    assert (p.name, p.kind) == ("gaussian(sigma=3)", "image")
    two = Session([np.ones((2, 2))], ["gaussian(sigma=1)", "gaussian(sigma=2)"])  # two widths side by side
    assert list(two.sinks) == ["gaussian(sigma=1)", "gaussian(sigma=2)"]
    assert builtin("centroid").columns == ("x", "y")
    assert builtin("mean", label="m2").name == "m2"
    with pytest.raises(ValueError, match="not a built-in processor; choose from mean"):
        builtin("nope")
    with pytest.raises(ValueError, match="unknown option"):
        builtin("mean", sigma=2)
    for text in ("__import__('os')", "gaussian(sigma=x)", "gaussian(2)", "os.system"):
        with pytest.raises(ValueError, match="--process"):
            parse_processor(text)


def test_roi_box_clipping_and_errors():
    frame = make_frame(np.arange(30.0).reshape(5, 6), 0)
    roi = ROI(4, 3, 10, 10)
    view = roi.apply(frame)
    np.testing.assert_array_equal(view, np.arange(30.0).reshape(5, 6)[3:, 4:])
    assert view["roi"] == (4, 3, 2, 2) and np.shares_memory(view.data, frame.data)
    roi.set(7, 0, 2, 2)
    with pytest.raises(ValueError, match="outside"):
        roi.apply(frame)
    with pytest.raises(ValueError, match="w must be"):
        ROI(0, 0, 0, 3)
    with pytest.raises(ValueError, match="either a box"):
        ROI(0, 0, 1, 1, mask=np.ones((2, 2)))
    assert ROI.parse("1, 2,3,4").box == (1, 2, 3, 4)
    with pytest.raises(ValueError, match="x,y,w,h"):
        ROI.parse("1,2,3")
    roi.set(mask=np.ones((3, 3), bool))
    with pytest.raises(ValueError, match="shape"):
        roi.apply(frame)


def test_sinks_ring_buffers():
    trace = ScalarTrace(("x", "y"), capacity=3)
    for i in range(5):
        trace.append(float(i), i, [i, 10 * i])
    data = trace.data()
    assert data.frame.tolist() == [2, 3, 4] and data.values[:, 1].tolist() == [20, 30, 40]
    assert trace.column("x").tolist() == [2, 3, 4] and trace.total == 5
    with pytest.raises(ValueError, match="2 numbers"):
        trace.append(0.0, 0, [1.0])
    waterfall = Waterfall(capacity=2)
    waterfall.append(0.0, 0, [1.0])
    waterfall.append(1.0, 1, [1.0, 2.0, 3.0])
    waterfall.append(2.0, 2, [4.0, 5.0])
    np.testing.assert_array_equal(waterfall.data().rows, [[1, 2, 3], [4, 5, np.nan]])
    np.testing.assert_array_equal(waterfall.latest(), [4, 5])
    latest = LatestImage()
    latest.append(3.0, 9, np.ones((2, 2)))
    assert latest.latest()[:2] == (3.0, 9)


@pytest.mark.parametrize(("shape", "sigma"), [((870, 870), 2.0), ((600, 90), 3.5), ((300, 40), 1.0)])
def test_gaussian_in_bands_of_rows_equals_one_filter_of_the_whole_frame(shape, sigma):
    data = np.random.default_rng(1).integers(0, 4000, shape).astype(np.uint16)
    whole = ndimage.gaussian_filter(data.astype(np.float32), sigma, output=np.float32)
    np.testing.assert_array_equal(fast.gaussian(data, sigma), whole)
