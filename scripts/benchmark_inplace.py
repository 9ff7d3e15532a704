"""Time ImageFile methods that write their result into the existing buffer, next to the plain calls.

An ``ImageFile`` method whose result has the image's shape and dtype copies the result back
into the image's buffer (``np.copyto``, one pass over the pixels) so that views and
memory-mapped files see it.  For each function the script prints the median time of

- ``plain``: the NumPy / scikit-image call that does the numerical work;
- ``ImageArray``: the functional method (a new image; metadata, mask and history);
- ``ImageFile``: the in-place method (the same plus the copy back);
- ``copy back``: ``np.copyto`` of one image into another of the same size, alone;

and the ratios ``ImageFile / plain`` and ``ImageFile / ImageArray``.  The runs are interleaved
(``scripts/_timing.py``) so a change of load hits every column alike.

Run: ``python scripts/benchmark_inplace.py [--size N] [--repeats N]``
"""

import argparse

import numpy as np
from _timing import interleaved_medians
from scipy import ndimage
from skimage import filters

import stonerimg


def cases(data):
    """``(name, plain call, ImageFile call, ImageArray call)`` for each function."""
    doc = stonerimg.ImageFile(data.copy(), metadata={f"item{i}": float(i) for i in range(100)})
    image = stonerimg.ImageArray(data, metadata=doc.metadata)

    def plain_normalise():
        low, high = data.min(), data.max()
        return (data - low) / (high - low) * 2 - 1

    return [
        ("normalise", plain_normalise, lambda: doc.normalise(), lambda: image.normalise()),
        (
            "clip_intensity",
            lambda: np.clip(data, 0.2, 0.8),
            lambda: doc.clip_intensity(limits=(0.2, 0.8)),
            lambda: image.clip_intensity(limits=(0.2, 0.8)),
        ),
        (
            "filter_image",
            lambda: filters.gaussian(data, sigma=2, preserve_range=True),
            lambda: doc.filter_image(2),
            lambda: image.filter_image(2),
        ),
        (
            "translate",
            lambda: ndimage.shift(data, (-1.2, 3.3), order=3, mode="grid-wrap"),
            lambda: doc.translate((3.3, -1.2)),
            lambda: image.translate((3.3, -1.2)),
        ),
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[: args.size, : args.size]
    data = np.sin(xx / 37.0) * np.cos(yy / 23.0) + 0.1 * rng.standard_normal((args.size, args.size))
    target = np.empty_like(data)
    (t_copy,) = interleaved_medians([lambda: np.copyto(target, data)], args.repeats)

    print(f"{args.size} x {args.size} float64 image ({data.nbytes / 2**20:.0f} MiB); median of {args.repeats} runs")
    print(f"copy back alone (np.copyto): {t_copy * 1000:.2f} ms")
    header = f"{'function':<16}{'plain':>11}{'ImageArray':>12}{'ImageFile':>11}{'File/plain':>12}{'File/Array':>12}"
    print(header)
    for name, plain, in_place, functional in cases(data):
        t_plain, t_array, t_file = interleaved_medians([plain, functional, in_place], args.repeats)
        print(
            f"{name:<16}{t_plain * 1000:9.2f}ms{t_array * 1000:10.2f}ms{t_file * 1000:9.2f}ms"
            f"{t_file / t_plain:12.2f}{t_file / t_array:12.2f}"
        )


if __name__ == "__main__":
    main()
