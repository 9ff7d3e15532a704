"""Time the folder statistics of ``stonerimg._frames`` next to a plain Pillow + NumPy loop.

On the Kerr PNGs of ``../shared/data/kerr/fields`` (or ``--folder``), as the
median of several interleaved runs (ABAB), each side reading every file again:

- ``ImageFolder(folder, "*.png").mean()`` against a plain loop: ``PIL.Image.open``,
  ``numpy.asarray`` and a float64 running sum (goal <= 1.2x);
- ``ImageFolder(folder, "*.png").stddev()`` (one pass, West's algorithm) against
  a plain two-pass computation: one loop for the mean, a second loop (reading
  the files again) for the sum of squared deviations (goal <= 1.3x).

Prints the medians, the ratios and the largest difference of the results, and
the time ``stonerimg.load`` alone takes for the files (the part of the ratio that
is the loader's, not the statistics').

Run: ``python scripts/benchmark_frames.py [--folder DIR] [--repeats N]``
"""

import argparse
from pathlib import Path

import numpy as np
from _timing import interleaved_medians
from PIL import Image

from stonerimg import ImageFolder, load

HERE = Path(__file__).resolve().parent


def read(path):
    with Image.open(path) as im:
        return np.asarray(im)


def plain_mean(files):
    total = np.zeros(read(files[0]).shape)
    for path in files:
        total += read(path)
    return total / len(files)


def plain_stddev(files):
    mean = plain_mean(files)
    squares = np.zeros(mean.shape)
    for path in files:
        squares += (read(path) - mean) ** 2
    return np.sqrt(squares / (len(files) - 1))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", default=str(HERE.parent / ".." / "shared" / "data" / "kerr" / "fields"))
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    files = sorted(Path(args.folder).glob("*.png"))
    if not files:
        raise SystemExit(f"no PNG files in {args.folder}")
    shape = read(files[0]).shape
    print(f"{len(files)} files of {shape[1]} x {shape[0]} in {args.folder}")
    results = {}

    def ours(kind):
        def run():
            folder = ImageFolder(args.folder, "*.png")  # a new folder: every file is read again
            results[kind] = getattr(folder, kind)().data

        return run

    def plain(kind):
        def run():
            results[f"plain {kind}"] = plain_mean(files) if kind == "mean" else plain_stddev(files)

        return run

    def loads():
        for path in files:
            load(path)

    def pillow():
        for path in files:
            read(path)

    t_load, t_pillow = interleaved_medians([loads, pillow], args.repeats)
    print(f"loading alone: stonerimg.load {t_load * 1e3:.1f} ms, Pillow {t_pillow * 1e3:.1f} ms")
    for kind, goal in (("mean", 1.2), ("stddev", 1.3)):
        t_ours, t_plain = interleaved_medians([ours(kind), plain(kind)], args.repeats)
        diff = float(np.max(np.abs(results[kind] - results[f"plain {kind}"])))
        print(
            f"{kind:7s} ImageFolder {t_ours * 1e3:7.1f} ms   plain loop {t_plain * 1e3:7.1f} ms   "
            f"ratio {t_ours / t_plain:.2f}x (goal <= {goal}x)   max |difference| {diff:.2g}"
        )


if __name__ == "__main__":
    main()
