"""Time stonerimg's fft and radial_profile on a 2048 x 2048 float64 image next to plain NumPy.

- ``fft`` (magnitude, shifted) against ``numpy.fft.fftshift(np.abs(numpy.fft.fft2(x)))``;
  the goal is a ratio <= 1.2 (``stonerimg.funcs.fourier.fft`` uses ``scipy.fft.fft2``
  on every core).  The call through the ``ImageArray`` method, which adds the history
  entry, is timed too.
- ``radial_profile`` over all angles (mean, std and count in 1-pixel bins) against a
  plain ``np.bincount`` implementation of the same (one-pass mean and count only, no
  std, no mask handling); the goal is <= 60 ms.

Each figure is the median of several runs after one warm-up.  Prints medians and ratios.

Run: ``python scripts/benchmark_fourier.py [--size N] [--repeats N]``
"""

import argparse
import os

import numpy as np
from _timing import median_seconds

import stonerimg
from stonerimg.funcs import fourier


def numpy_fft(data):
    return np.fft.fftshift(np.abs(np.fft.fft2(data)))


def numpy_radial_mean(data):
    """Mean and count in 1-pixel rings about the image centre: the bare minimum with np.bincount."""
    rows, cols = data.shape
    y, x = np.ogrid[:rows, :cols]
    r = np.sqrt((x - (cols - 1) / 2) ** 2 + (y - (rows - 1) / 2) ** 2).astype(np.intp).ravel()
    count = np.bincount(r)
    return np.bincount(r, weights=data.ravel()) / count, count


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()

    data = np.random.default_rng(0).random((args.size, args.size))
    image = stonerimg.ImageArray(data)
    print(f"{args.size} x {args.size} float64, median of {args.repeats} runs, {os.cpu_count()} CPU(s)")

    # the results must agree before the times mean anything
    assert np.allclose(fourier.fft(image).data, numpy_fft(data))
    mean, count = numpy_radial_mean(data)
    profile = fourier.radial_profile(image)
    assert np.array_equal(profile.count[: len(count)], count) and np.allclose(profile.mean[: len(mean)], mean)

    t_np_fft = median_seconds(lambda: numpy_fft(data), args.repeats)
    t_fft = median_seconds(lambda: fourier.fft(image), args.repeats)
    t_fft_method = median_seconds(lambda: image.fft(), args.repeats)
    print(f"numpy fft2 + fftshift + abs      {1e3 * t_np_fft:8.1f} ms")
    print(f"stonerimg fft(image)             {1e3 * t_fft:8.1f} ms   ratio {t_fft / t_np_fft:.2f} (goal <= 1.2)")
    print(f"stonerimg image.fft()            {1e3 * t_fft_method:8.1f} ms   ratio {t_fft_method / t_np_fft:.2f}")

    t_np_rp = median_seconds(lambda: numpy_radial_mean(data), args.repeats)
    t_rp = median_seconds(lambda: fourier.radial_profile(image), args.repeats)
    t_rp_sector = median_seconds(lambda: fourier.radial_profile(image, angle=(0.0, np.pi / 2)), args.repeats)
    print(f"np.bincount mean + count         {1e3 * t_np_rp:8.1f} ms")
    print(
        f"stonerimg radial_profile         {1e3 * t_rp:8.1f} ms   ratio {t_rp / t_np_rp:.2f} "
        f"(goal <= 60 ms: {'met' if t_rp <= 0.060 else 'NOT met'})"
    )
    print(f"stonerimg radial_profile sector  {1e3 * t_rp_sector:8.1f} ms")


if __name__ == "__main__":
    main()
