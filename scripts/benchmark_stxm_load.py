"""Time loading the 100 x 100 PolLux STXM file with stonerimg next to h5py alone.

The h5py reference reads the same things stonerimg does: the image, the stage and
interferometer positions, the beam monitor, and every attribute and 0-D/1-D
dataset below ``entry1`` (the metadata).  Prints medians and the ratio; the goal
is stonerimg within 1.5x of h5py.

Run: ``python scripts/benchmark_stxm_load.py [path-to-file] [--repeats N]``
"""

import argparse
import os
from pathlib import Path

import h5py
import numpy as np
from _timing import median_seconds

import stonerimg

DEFAULT = Path(os.environ.get("STONERIMG_SAMPLE_DATA", Path(__file__).parents[2] / "shared" / "data"))
DEFAULT = DEFAULT / "stxm" / "Sample_Image_2017-10-15_100.hdf5"


def h5py_only(path):
    items = {}
    with h5py.File(path, "r") as f:
        entry = f["entry1"]
        image = entry["counter0/data"][()]
        for name in ("counter0/sample_x", "counter0/sample_y", "control/data"):
            items[name] = entry[name][()]
        for name in ("instrument/sample_x/data", "instrument/sample_y/data"):
            items[name] = entry[name][()].reshape(image.shape)

        def visit(name, obj):
            for key, value in obj.attrs.items():
                items[f"{name}@{key}"] = value
            if isinstance(obj, h5py.Dataset) and obj.ndim <= 1:
                items[name] = obj[()]

        entry.visititems(visit)
    return image, items


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", default=DEFAULT, type=Path)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    if not args.path.is_file():
        raise SystemExit(f"no STXM file at {args.path}; pass its path")
    stonerimg.load(args.path)  # warm up imports and the file cache
    h5py_only(args.path)
    ours = median_seconds(lambda: stonerimg.load(args.path), args.repeats)
    reference = median_seconds(lambda: h5py_only(args.path), args.repeats)
    document = stonerimg.load(args.path)
    image, items = h5py_only(args.path)
    assert np.array_equal(document.data, image[::-1])
    print(f"{args.path.name}: {document.shape}, {len(document.metadata)} metadata items ({len(items)} read by h5py)")
    print(f"median of {args.repeats}")
    print(f"  stonerimg.load  {ours * 1000:8.2f} ms")
    print(f"  h5py alone      {reference * 1000:8.2f} ms")
    print(f"  ratio           {ours / reference:8.2f}x  (goal <= 1.5x)")


if __name__ == "__main__":
    main()
