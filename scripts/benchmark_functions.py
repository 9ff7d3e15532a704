"""Time every image function on a 2048 x 2048 float64 image next to the plain call it is built on.

For each function the script prints the median time of the ``ImageArray`` method (which
carries metadata, mask and history) and of the plain NumPy / SciPy / scikit-image call that
does the same numerical work, and their ratio.  The goal is that the metadata layer costs
no more than 10 % (ratio <= 1.10) wherever the work itself dominates; for functions that
take microseconds (a crop is a view) the absolute overhead is what matters.

Run: ``python scripts/benchmark_functions.py [--size N] [--repeats N] [--only NAME ...]``

``gridimage`` is not timed at this size (a Delaunay triangulation of 4 million points takes
minutes in SciPy too); ``scripts/benchmark_fourier.py`` and ``scripts/benchmark_registration.py``
time ``fft``/``radial_profile`` and ``correct_drift`` against their goals in more detail.
"""

import argparse
import warnings

import numpy as np
from _timing import median_seconds
from scipy import ndimage, signal
from skimage import exposure, filters, measure, restoration, transform, util
from skimage.registration import phase_cross_correlation

import stonerimg
from stonerimg import ConversionWarning


def plain_level(data):
    rows, cols = data.shape
    y, x = np.mgrid[:rows, :cols]
    design = np.column_stack([np.ones(data.size), x.ravel(), y.ravel()])
    coefs, *_ = np.linalg.lstsq(design, data.ravel(), rcond=None)
    return data - (design @ coefs).reshape(data.shape)


def plain_radial_profile(data):
    rows, cols = data.shape
    y, x = np.indices(data.shape)
    r = np.hypot(x - (cols - 1) / 2, y - (rows - 1) / 2).astype(int).ravel()
    count = np.bincount(r)
    mean = np.bincount(r, data.ravel()) / np.maximum(count, 1)
    sq = np.bincount(r, data.ravel() ** 2) / np.maximum(count, 1)
    return mean, np.sqrt(np.maximum(sq - mean**2, 0)), count


def cases(image, data, background, unit, ref, moved):
    """(name, stonerimg call, plain call, repeats factor) for every function."""
    levels3 = np.array([0.0, 1.0, 2.0])
    sg_kernel = np.ones((15, 15)) / 225.0  # a 15-point, first-order 2-D Savitzky-Golay smoothing kernel
    return [
        ("crop", lambda: image.crop(10), lambda: data[10:-10, 10:-10], 1),
        ("convert float32", lambda: image.convert(np.float32), lambda: data.astype(np.float32), 1),
        ("asint", lambda: unit.asint(), lambda: util.img_as_uint(np.asarray(unit.data)), 1),
        ("normalise", lambda: image.normalise(), lambda: (data - data.min()) / (data.max() - data.min()) * 2 - 1, 1),
        ("clip_intensity", lambda: image.clip_intensity(), lambda: np.clip(data, -1, 1), 1),
        ("clip_neg", lambda: image.clip_neg(), lambda: np.maximum(data, 0), 1),
        ("span", lambda: image.span(), lambda: (data.min(), data.max()), 1),
        (
            "adjust_contrast",
            lambda: image.adjust_contrast(),
            lambda: exposure.rescale_intensity(data, in_range=tuple(np.quantile(data, [0.1, 0.9]))),
            1,
        ),
        (
            "remove_outliers",
            lambda: image.remove_outliers(),
            lambda: np.clip(data, *np.quantile(data, [0.01, 0.99])),
            1,
        ),
        ("threshold_minmax", lambda: unit.threshold_minmax(), lambda: (unit.data > 0.1) & (unit.data < 0.9), 1),
        (
            "quantize",
            lambda: image.quantize([0.0, 1.0, 2.0]),
            lambda: levels3[np.searchsorted(np.linspace(data.min(), data.max(), 4)[1:-1], data)],
            1,
        ),
        (
            "subtract_image",
            lambda: unit.subtract_image(background),
            lambda: np.clip(16 * (unit.data - background) + 0.5, 0, 1),
            1,
        ),
        (
            "rotate",
            lambda: image.rotate(0.3),
            lambda: transform.rotate(data, -np.rad2deg(0.3), order=1, preserve_range=True),
            0.5,
        ),
        (
            "translate",
            lambda: image.translate((3.3, -1.2)),
            lambda: ndimage.shift(data, (-1.2, 3.3), order=3, mode="grid-wrap"),
            0.5,
        ),
        ("filter_image", lambda: image.filter_image(2), lambda: filters.gaussian(data, 2, preserve_range=True), 1),
        (
            "denoise",
            lambda: unit.denoise(0.1),
            lambda: restoration.denoise_tv_chambolle(np.asarray(unit.data), weight=0.1),
            0.2,
        ),
        ("sgolay2d", lambda: image.sgolay2d(15, 1), lambda: signal.fftconvolve(data, sg_kernel, mode="same"), 0.5),
        ("level_image", lambda: image.level_image(mode=None), lambda: plain_level(data), 0.5),
        ("fft", lambda: image.fft(), lambda: np.fft.fftshift(np.abs(np.fft.fft2(data))), 1),
        ("radial_profile", lambda: image.radial_profile(), lambda: plain_radial_profile(data), 1),
        (
            "profile_line",
            lambda: image.profile_line((0, 0), (2047, 2047)),
            lambda: measure.profile_line(data, (0, 0), (2047, 2047)),
            1,
        ),
        (
            "correct_drift (1024)",
            lambda: moved.correct_drift(ref),
            lambda: ndimage.shift(
                np.asarray(moved.data),
                phase_cross_correlation(
                    np.asarray(ref.data), np.asarray(moved.data), upsample_factor=50, normalization=None
                )[0],
                order=3,
                mode="nearest",
            ),
            0.5,
        ),
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--only", nargs="*", help="names of the functions to time")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[: args.size, : args.size]
    data = np.sin(xx / 37.0) * np.cos(yy / 23.0) + 0.1 * rng.standard_normal((args.size, args.size))
    image = stonerimg.ImageArray(data, metadata={f"item{i}": float(i) for i in range(700)})
    unit_data = (data - data.min()) / (data.max() - data.min())
    unit = stonerimg.ImageArray(unit_data, metadata=image.metadata)
    background = np.full_like(unit_data, 0.5)
    half = args.size // 2
    ref = stonerimg.ImageArray(data[:half, :half].copy())
    moved = stonerimg.ImageArray(ndimage.shift(data, (-1.62, 3.27), order=3, mode="nearest")[:half, :half])

    print(f"{args.size} x {args.size} float64 image with 700 metadata items; median of up to {args.repeats} runs")
    print(f"{'function':<22}{'stonerimg':>12}{'plain':>12}{'ratio':>8}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConversionWarning)
        warnings.simplefilter("ignore", UserWarning)
        for name, ours, plain, factor in cases(image, data, background, unit, ref, moved):
            if args.only and name.split()[0] not in args.only:
                continue
            repeats = max(3, int(args.repeats * factor))
            t_ours = median_seconds(ours, repeats)
            t_plain = median_seconds(plain, repeats)
            print(f"{name:<22}{t_ours * 1000:10.2f}ms{t_plain * 1000:10.2f}ms{t_ours / t_plain:8.2f}")


if __name__ == "__main__":
    main()
