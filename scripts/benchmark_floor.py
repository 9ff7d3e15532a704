"""Every "speed at the floor" ratio: stonerimg next to the plain library code a user would write.

Each line times one stonerimg operation and the hand-written NumPy / SciPy / h5py /
tifffile / Pillow code doing the same work, interleaved (one of each per round, ABAB...),
and prints the median and range (min-max) of each side, the ratio of the medians and
the range of the per-round ratios, next to the goal (issue 17).  Memory lines give
tracemalloc peaks instead of times; the import line gives the time stonerimg adds to
``import numpy`` in fresh interpreters.

The two sides are checked to agree before they are timed.  Sample files come from
``$STONERIMG_SAMPLE_DATA`` (default ``../shared/data`` beside the checkout).

Run: ``python scripts/benchmark_floor.py [--repeats N] [--copies N] [--only NAME ...]``
(about two minutes with the defaults on two cores).  Where OpenBLAS is pinned to an
older kernel (``OPENBLAS_CORETYPE``), unset it and ``OPENBLAS_L2_SIZE`` for this command
alone to time NumPy's own kernels.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
from _timing import interleaved_times
from benchmark_functions import plain_radial_profile  # the plain references the other benchmarks use
from benchmark_stxm_load import h5py_only as plain_stxm

DATA = Path(os.environ.get("STONERIMG_SAMPLE_DATA", Path(__file__).parents[2] / "shared" / "data"))
STXM = DATA / "stxm" / "Sample_Image_2017-10-15_100.hdf5"
KERR_FIELDS = DATA / "kerr" / "fields"


# ----------------------------------------------------------------------------- reporting
class Report:
    """Collects and prints one line per goal."""

    def __init__(self):
        self.rows = []
        print(
            f"{'operation':<40}{'stonerimg':>27}{'plain':>27}{'ratio':>8}{'(rounds)':>17}  {'goal':<18}verdict",
            flush=True,
        )

    def times(self, name, ours, plain, goal, *, unit="ms", scale=1e3):
        """Print medians/ranges of two lists of interleaved measurements and their ratio against ``goal``."""
        ratios = [a / b for a, b in zip(ours, plain, strict=True)]
        ratio = statistics.median(ours) / statistics.median(plain)
        self._line(
            name, _spread(ours, scale, unit), _spread(plain, scale, unit), ratio, ratios, f"<= {goal}x", ratio <= goal
        )

    def difference(self, name, ours, plain, goal_ms):
        """Print ``ours - plain`` (in ms) against an absolute goal."""
        extra = [1e3 * (a - b) for a, b in zip(ours, plain, strict=True)]
        added = 1e3 * (statistics.median(ours) - statistics.median(plain))
        print(
            f"{name:<40}{_spread(ours, 1e3, 'ms'):>27}{_spread(plain, 1e3, 'ms'):>27}"
            f"{added:+6.0f}ms [{min(extra):+.0f}, {max(extra):+.0f}]  {'<= +' + str(goal_ms) + ' ms':<18}"
            f"{'met' if added <= goal_ms else 'NOT met'}",
            flush=True,
        )

    def absolute(self, name, ours, goal_s):
        """Print a time against an absolute goal (no plain side)."""
        median = statistics.median(ours)
        print(
            f"{name:<40}{_spread(ours, 1e3, 'ms'):>27}{'':>27}{'':>8}{'':>17}  {'<= ' + str(goal_s * 1e3) + ' ms':<18}"
            f"{'met' if median <= goal_s else 'NOT met'}",
            flush=True,
        )

    def speedup(self, name, one, two, goal):
        """Print how much faster ``two`` is than ``one`` (>= goal)."""
        ratios = [a / b for a, b in zip(one, two, strict=True)]
        ratio = statistics.median(one) / statistics.median(two)
        self._line(name, _spread(two, 1e3, "ms"), _spread(one, 1e3, "ms"), ratio, ratios, f">= {goal}x", ratio >= goal)

    def _line(self, name, ours, plain, ratio, ratios, goal, met):
        print(
            f"{name:<40}{ours:>27}{plain:>27}{ratio:8.2f}{f'[{min(ratios):.2f}-{max(ratios):.2f}]':>17}  {goal:<18}"
            f"{'met' if met else 'NOT met'}",
            flush=True,
        )


def _spread(values, scale, unit):
    med, low, high = statistics.median(values) * scale, min(values) * scale, max(values) * scale
    digits = 1 if med >= 10 else 2 if med >= 1 else 3
    return f"{med:.{digits}f} [{low:.{digits}f}-{high:.{digits}f}]{unit}"


def looped(func, n):
    """A function calling ``func`` ``n`` times, for operations of microseconds."""

    def run():
        for _ in range(n):
            func()

    return run


def per_call(times, n):
    return [t / n for t in times]


# ----------------------------------------------------------------------------- cases
def bench_crop(report, repeats):
    import stonerimg

    rng = np.random.default_rng(0)
    data = rng.random((2048, 2048))
    image = stonerimg.ImageArray(data, metadata={f"item{i}": float(i) for i in range(700)})
    assert np.array_equal(image.crop(10).data, data[10:-10, 10:-10])
    n = 200
    ours, plain = interleaved_times(
        [looped(lambda: image.crop(10), n), looped(lambda: data[10:-10, 10:-10], n)], repeats
    )
    report.times("crop(10) vs NumPy view (us)", per_call(ours, n), per_call(plain, n), 10, unit="us", scale=1e6)
    ours, plain = interleaved_times(
        [looped(lambda: image[10:-10, 10:-10], n), looped(lambda: data[10:-10, 10:-10], n)], repeats
    )
    report.times("image[a:b, c:d] vs NumPy view (us)", per_call(ours, n), per_call(plain, n), 10, unit="us", scale=1e6)


def plain_level(data, valid=None):
    """Plane fit by numpy.linalg.lstsq on the (valid) pixels, subtracted from every pixel."""
    rows, cols = data.shape
    y, x = np.mgrid[:rows, :cols]
    design = np.column_stack([np.ones(data.size), x.ravel(), y.ravel()])
    if valid is None:
        coefs, *_ = np.linalg.lstsq(design, data.ravel(), rcond=None)
    else:
        keep = valid.ravel()
        coefs, *_ = np.linalg.lstsq(design[keep], data.ravel()[keep], rcond=None)
    return data - (design @ coefs).reshape(data.shape)


def bench_level(report, repeats):
    import stonerimg

    rng = np.random.default_rng(1)
    rows = cols = 2048
    y, x = np.mgrid[:rows, :cols]
    data = 1e-4 * x - 2e-4 * y + 0.3 + 0.01 * rng.standard_normal((rows, cols))
    image = stonerimg.ImageArray(data)
    masked_out = (x - 700) ** 2 + (y - 900) ** 2 < 300**2
    masked = stonerimg.ImageArray(data, mask=masked_out)
    for ours_image, valid in ((image, None), (masked, ~masked_out)):
        ref = plain_level(data, valid)
        got = ours_image.level_image(mode=None).data
        offset = np.mean(ref[valid] if valid is not None else ref) - np.mean(got[valid] if valid is not None else got)
        assert np.allclose(got + offset, ref, atol=1e-9), "level_image and lstsq disagree"
    ours, plain = interleaved_times([lambda: image.level_image(mode=None), lambda: plain_level(data)], repeats)
    report.times("level_image plane 2048^2, no mask", ours, plain, 1.2)
    ours, plain = interleaved_times(
        [lambda: masked.level_image(mode=None), lambda: plain_level(data, ~masked_out)], repeats
    )
    report.times("level_image plane 2048^2, masked", ours, plain, 1.5)


def bench_radial(report, repeats):
    import stonerimg
    from stonerimg.funcs import fourier

    data = np.random.default_rng(2).random((2048, 2048))
    image = stonerimg.ImageArray(data)
    mean, _, count = plain_radial_profile(data)
    profile = fourier.radial_profile(image)
    assert np.array_equal(profile.count[: len(count)], count) and np.allclose(profile.mean[: len(mean)], mean)
    ours, plain = interleaved_times([lambda: image.radial_profile(), lambda: plain_radial_profile(data)], repeats)
    report.times("radial_profile 2048^2 vs bincount", ours, plain, 0.45)
    report.absolute("radial_profile 2048^2", ours, 0.060)


def bench_stxm(report, repeats):
    import stonerimg

    if not STXM.is_file():
        print(f"stxm: no sample file at {STXM}; skipped")
        return
    document = stonerimg.load(STXM)
    image, _ = plain_stxm(STXM)
    assert np.array_equal(document.data, image[::-1])
    ours, plain = interleaved_times([lambda: stonerimg.load(STXM), lambda: plain_stxm(STXM)], repeats)
    report.times("STXM load vs h5py visititems walk", ours, plain, 0.6)


def _jsonable(value):
    if isinstance(value, np.ndarray | np.generic):
        return value.tolist()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def plain_convert(paths, out):
    """The plain loop: the h5py walk, then tifffile writes the image with the metadata as JSON."""
    import tifffile

    for path in paths:
        image, items = plain_stxm(path)
        tifffile.imwrite(out / (path.stem + ".tif"), image[::-1], description=json.dumps(items, default=_jsonable))


def bench_convert(report, repeats, copies):
    from stonerimg.folder import ImageFolder

    if not STXM.is_file():
        print(f"convert: no sample file at {STXM}; skipped")
        return
    with tempfile.TemporaryDirectory(prefix="stonerimg-floor-") as tmp:
        tmp = Path(tmp)
        source = tmp / "in"
        source.mkdir()
        paths = []
        for i in range(copies):
            paths.append(source / f"copy_{i:04d}.hdf5")
            shutil.copyfile(STXM, paths[-1])
        folder = ImageFolder(source, "*.hdf5")
        outputs = iter(range(10**6))

        def fresh():
            out = tmp / f"out{next(outputs)}"
            out.mkdir()
            return out

        def run(func):
            def timed():
                out = fresh()
                func(out)
                shutil.rmtree(out)

            return timed

        ours0, plain, ours1, ours2 = interleaved_times(
            [
                run(lambda out: folder.convert(out, "tiff", workers=0, progress=False)),
                run(lambda out: plain_convert(paths, out)),
                run(lambda out: folder.convert(out, "tiff", workers=1, progress=False)),
                run(lambda out: folder.convert(out, "tiff", workers=2, progress=False)),
            ],
            repeats,
        )
    report.times(f"convert {copies} STXM copies, per file", per_call(ours0, copies), per_call(plain, copies), 0.7)
    report.speedup(f"convert {copies} copies, workers 2 vs 1", ours1, ours2, 1.7)


# CPU time of the import in a fresh interpreter: on a shared machine the wall time also counts
# the time other jobs hold the cores, and the import is one thread reading cached files
IMPORT_TIMER = "import time; t = time.process_time(); import {module}; print(time.process_time() - t)"


# with bytecode, as a pip install leaves the package (PYTHONDONTWRITEBYTECODE would compile every module anew)
IMPORT_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def cold_import(module):
    out = subprocess.run(
        [sys.executable, "-c", IMPORT_TIMER.format(module=module)],
        capture_output=True,
        text=True,
        check=True,
        env=IMPORT_ENV,
    )
    return float(out.stdout)


def bench_import(report, repeats):
    cold_import("stonerimg")  # writes the bytecode of a source checkout
    numpy_s, ours_s = [], []
    for _ in range(repeats):  # ABAB: each round one fresh interpreter of each
        numpy_s.append(cold_import("numpy"))
        ours_s.append(cold_import("stonerimg"))
    report.difference("import stonerimg vs numpy (CPU time)", ours_s, numpy_s, 40)


def traced_peak(func):
    """Peak of the memory newly allocated (tracemalloc) while ``func`` runs, in bytes."""
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        func()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def plain_drift(ref, moved):
    from scipy import ndimage
    from skimage.registration import phase_cross_correlation

    shift = phase_cross_correlation(ref, moved, upsample_factor=50, normalization=None)[0]
    return ndimage.shift(moved, shift, order=3, mode="nearest")


def bench_drift(report, repeats):
    from scipy import ndimage

    import stonerimg

    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[:1024, :1024]
    base = np.sin(xx / 37.0) * np.cos(yy / 23.0) + 0.1 * rng.standard_normal((1024, 1024))
    ref_data = base.copy()
    moved_data = ndimage.shift(base, (-1.62, 3.27), order=3, mode="nearest")
    ref, moved = stonerimg.ImageArray(ref_data), stonerimg.ImageArray(moved_data)
    assert np.allclose(moved.correct_drift(ref).data, plain_drift(ref_data, moved_data), atol=1e-6)
    ours, plain = [], []
    for _ in range(repeats):
        ours.append(traced_peak(lambda: moved.correct_drift(ref)))
        plain.append(traced_peak(lambda: plain_drift(ref_data, moved_data)))
    report.times("correct_drift 1024^2 extra memory (MB)", ours, plain, 1.2, unit="MB", scale=1e-6)


def plain_png(path):
    """Pillow reads the pixels and the text chunks."""
    from PIL import Image

    with Image.open(path) as picture:
        picture.load()
        return np.array(picture), dict(picture.text)


def bench_kerr(report, repeats):
    import stonerimg

    files = sorted(KERR_FIELDS.glob("*.png"))
    if not files:
        print(f"kerr: no PNG files in {KERR_FIELDS}; skipped")
        return
    path = files[0]
    pixels, _ = plain_png(path)
    assert np.array_equal(stonerimg.load(path).data, pixels)
    n = 20
    ours, plain = interleaved_times(
        [looped(lambda: stonerimg.load(path), n), looped(lambda: plain_png(path), n)], repeats
    )
    report.times("Kerr PNG load vs Pillow + text", per_call(ours, n), per_call(plain, n), 1.1)

    def plain_mean():
        total = None
        for file in files:
            with __import__("PIL.Image").Image.open(file) as picture:
                pixels = np.asarray(picture, dtype=np.float64)
            total = pixels if total is None else total + pixels
        return total / len(files)

    def plain_std():
        mean = plain_mean()
        squares = np.zeros_like(mean)
        for file in files:
            with __import__("PIL.Image").Image.open(file) as picture:
                squares += (np.asarray(picture, dtype=np.float64) - mean) ** 2
        return np.sqrt(squares / (len(files) - 1))

    def folder():
        return stonerimg.ImageFolder(KERR_FIELDS, "*.png")

    assert np.allclose(folder().mean().data, plain_mean())
    assert np.allclose(folder().stddev().data, plain_std())
    ours, plain = interleaved_times([lambda: folder().mean(), plain_mean], repeats)
    report.times(f"folder mean of {len(files)} Kerr PNGs", ours, plain, 1.2)
    ours, plain = interleaved_times([lambda: folder().stddev(), plain_std], repeats)
    report.times(f"folder stddev of {len(files)} Kerr PNGs", ours, plain, 1.3)


CASES = {
    "crop": bench_crop,
    "level": bench_level,
    "radial": bench_radial,
    "stxm": bench_stxm,
    "convert": bench_convert,
    "import": bench_import,
    "drift": bench_drift,
    "kerr": bench_kerr,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="rounds of each comparison (>= 7 for the report)")
    parser.add_argument("--copies", type=int, default=20, help="copies of the STXM file to convert (the issue: 200)")
    parser.add_argument("--only", nargs="*", choices=sorted(CASES), help="the comparisons to run")
    args = parser.parse_args()
    print(
        f"{os.cpu_count()} CPU(s), numpy {np.__version__}, "
        f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '-')}; "
        f"{args.repeats} interleaved rounds; median [min-max]",
        flush=True,
    )
    report = Report()
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for name, bench in CASES.items():
            if args.only and name not in args.only:
                continue
            if name == "convert":
                bench(report, args.repeats, args.copies)
            else:
                bench(report, args.repeats)
    print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
