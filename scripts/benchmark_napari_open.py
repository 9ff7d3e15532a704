"""How long the napari reader takes to open a large disk stack, and to give napari one frame.

Compares the plugin's reader (``stonerimg.napari._reader.read``: the format registry, a lazy
``stonerimg.open``, a dask array with one frame per chunk, the calibration and the contrast
limits from frame 0) with the plain ways to hand napari a lazy stack: ``numpy.load`` with
``mmap_mode="r"`` wrapped by ``dask.array.from_array`` (which, since dask 2024.12, copies the
array it is given: it reads the whole file), and the bare memory map.  Needs the napari extra.

    python scripts/benchmark_napari_open.py [--gib 1.0] [--repeats 7]
"""

import argparse
import tempfile
from pathlib import Path

import dask.array as da
import numpy as np
from _timing import interleaved_medians

import stonerimg
from stonerimg.napari._reader import read


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=1.0, help="size of the stack file in GiB")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    frame = (1024, 1024)
    n = max(2, int(args.gib * 2**30 / (frame[0] * frame[1] * 4)))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "stack.npy"
        stack = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, *frame))
        for i in range(n):
            stack[i] = i
        stack.flush()
        del stack
        stonerimg.ImageArray(np.zeros((1, 1))).save(Path(folder) / "tiny.npy")  # warms the registry

        def plugin_open():
            return read(str(path))[0][0]

        def plain_open():
            return da.from_array(np.load(path, mmap_mode="r"), chunks=(1, -1, -1))

        def memmap_open():
            return np.load(path, mmap_mode="r")

        stacks = [plugin_open(), plain_open(), memmap_open()]
        middle = n // 2

        def frame_of(lazy):
            return lambda: np.array(lazy[middle])  # a copy: the pixels are read

        opened = interleaved_medians([plugin_open, plain_open, memmap_open], args.repeats)
        frames = interleaved_medians([frame_of(s) for s in stacks], args.repeats)
        assert np.array_equal(frame_of(stacks[0])(), frame_of(stacks[2])())
    size = n * frame[0] * frame[1] * 4 / 2**30
    print(f"stack: {n} frames of {frame[0]} x {frame[1]} float32 ({size:.2f} GiB), medians of {args.repeats}")
    print(f"{'':11s}{'plugin':>10s} {'mmap+dask':>10s} {'mmap':>10s}  (ms; ratios plugin/mmap+dask, plugin/mmap)")
    for label, (plugin, dask_, mmap_) in (("open", opened), ("one frame", frames)):
        print(
            f"{label:11s}{plugin * 1e3:10.2f} {dask_ * 1e3:10.2f} {mmap_ * 1e3:10.2f}"
            f"  {plugin / dask_:.2f}  {plugin / mmap_:.2f}"
        )


if __name__ == "__main__":
    main()
