"""What the safety checks cost: HDF5 guards on a real STXM file and on a large file, and saves.

Each line prints the median time of stonerimg next to the plain library call it wraps
(interleaved runs, see ``_timing.py``) and their ratio:

- ``load`` of the PolLux STXM sample with the default checks vs ``external="any"`` (no
  walk of the links) and vs h5py reading the same items;
- the two HDF5 checks alone on that file: the global-heap scan and the walk for data
  stored outside the file, next to ``h5py.File`` opening and closing it;
- the heap scan of a large HDF5 file (``--large-mb``, default 256) vs reading the file
  once with ``open().read`` in blocks;
- ``save`` to ``.npy`` (temporary file, generation hash, trailer, sidecar) vs
  ``numpy.save``, and to ``.tif`` vs ``tifffile.imwrite``, for a 2048 x 2048 float32 image.

Run: ``python scripts/benchmark_safety.py [--repeats N] [--large-mb M]``
"""

import argparse
import os
import tempfile
from pathlib import Path

import h5py
import numpy as np
import tifffile
from _timing import interleaved_medians
from benchmark_stxm_load import DEFAULT, h5py_only

import stonerimg
from stonerimg.formats._hdf5 import check_external, check_global_heaps


def line(label, ours, reference, reference_label):
    print(
        f"{label:<44} {1e3 * ours:9.2f} ms   {reference_label:<24} {1e3 * reference:9.2f} ms   x{ours / reference:.2f}"
    )


def read_whole(path):
    with open(path, "rb") as handle:
        while handle.read(16 << 20):
            pass


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--large-mb", type=int, default=256)
    args = parser.parse_args()
    n = args.repeats

    if DEFAULT.is_file():
        path = DEFAULT
        checked, unchecked, plain = interleaved_medians(
            [lambda: stonerimg.load(path), lambda: stonerimg.load(path, external="any"), lambda: h5py_only(path)], n
        )
        line("load STXM (all checks)", checked, plain, "h5py reads the same")
        line("load STXM (external='any': no link walk)", unchecked, plain, "h5py reads the same")

        def walk():
            with h5py.File(path, "r") as handle:
                check_external(handle, path, "below")

        def open_close():
            with h5py.File(path, "r"):
                pass

        heaps, links, opened = interleaved_medians([lambda: check_global_heaps(path), walk, open_close], n)
        line("  heap scan alone", heaps, opened, "h5py open + close")
        line("  open + walk for outside data", links, opened, "h5py open + close")
    else:
        print(f"(no STXM sample at {DEFAULT}: its lines are skipped)")

    with tempfile.TemporaryDirectory() as tmp:
        large = Path(tmp) / "large.h5"
        rows = max(1, (args.large_mb << 20) // (4096 * 8))
        with h5py.File(large, "w") as f:
            f.attrs["NX_class"] = "NXroot"
            f["data"] = np.random.default_rng(0).random((rows, 4096))
        size = large.stat().st_size
        scan, plain_read = interleaved_medians([lambda: check_global_heaps(large), lambda: read_whole(large)], 5)
        line(
            f"heap scan of a {size >> 20} MiB file ({size / scan / 2**30:.2f} GiB/s)",
            scan,
            plain_read,
            "read it in blocks",
        )

        image = stonerimg.ImageArray(np.random.default_rng(1).random((2048, 2048), dtype=np.float32))
        data = np.asarray(image.data)
        ours_npy, numpy_npy, ours_tif, plain_tif = interleaved_medians(
            [
                lambda: image.save(os.path.join(tmp, "a.npy")),
                lambda: np.save(os.path.join(tmp, "b.npy"), data),
                lambda: image.save(os.path.join(tmp, "a.tif")),
                lambda: tifffile.imwrite(os.path.join(tmp, "b.tif"), data),
            ],
            max(5, n // 3),
        )
        line("save 2048x2048 float32 .npy (pair, hash)", ours_npy, numpy_npy, "numpy.save")
        line("save 2048x2048 float32 .tif", ours_tif, plain_tif, "tifffile.imwrite")


if __name__ == "__main__":
    main()
