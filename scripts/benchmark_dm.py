"""Time DigitalMicrograph reading: a folder of DM3 files, and opening a large DM4 stack lazily.

1. A folder of ``--copies`` (200) copies of the STEM image ``test_STEM_image.dm3``, loaded
   file by file with ``stonerimg.load`` (native reader) and with RosettaSciIO's
   ``file_reader`` (what the ``digitalmicrograph`` adapter calls).  Goal: stonerimg >= 3x faster.
2. One generated DM4 stack of ``--gib`` GiB (float32, a sparse file: its pixels are a hole, so
   making it is instant) opened with ``stonerimg.open`` and with RosettaSciIO's
   ``file_reader(lazy=True)``.  Goal: stonerimg < 50 ms.  The file is deleted afterwards.

Prints medians (``scripts/_timing.py``) and ratios.

Run: ``python scripts/benchmark_dm.py [--copies 200] [--gib 2] [--repeats 5] [--folder-repeats 5]``
"""

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
from _timing import interleaved_medians

import stonerimg

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "formats"))
from dm_writer import Zeros, write_dm  # noqa: E402 - the test writer, not a public feature

DATA = Path(os.environ.get("STONERIMG_SAMPLE_DATA", Path(__file__).parents[2] / "shared" / "data"))
STEM = DATA / "dm" / "test_STEM_image.dm3"


def folder_benchmark(copies: int, repeats: int) -> None:
    from rsciio.digitalmicrograph import file_reader

    with tempfile.TemporaryDirectory(prefix="stonerimg-dm-") as tmp:
        files = []
        for i in range(copies):
            files.append(Path(tmp) / f"stem_{i:03d}.dm3")
            shutil.copyfile(STEM, files[-1])
        ours = stonerimg.load(files[0])
        theirs = file_reader(str(files[0]))[0]
        assert np.array_equal(ours.data, theirs["data"]) and ours.format == "dm"

        def native():
            return [stonerimg.load(path) for path in files]

        def rosettasciio():
            return [file_reader(str(path)) for path in files]

        def adapter():
            return [stonerimg.load(path, fmt="digitalmicrograph") for path in files]

        t_native, t_rsciio, t_adapter = interleaved_medians([native, rosettasciio, adapter], repeats)
    print(f"folder of {copies} copies of {STEM.name} ({ours.shape}, {len(ours.metadata)} metadata items)")
    print(f"median of {repeats}")
    print(f"  stonerimg.load (native dm)         {t_native * 1000:9.1f} ms  ({t_native / copies * 1000:.2f} ms/file)")
    print(f"  RosettaSciIO file_reader            {t_rsciio * 1000:9.1f} ms  ({t_rsciio / copies * 1000:.2f} ms/file)")
    print(f"  stonerimg via RosettaSciIO adapter  {t_adapter * 1000:9.1f} ms")
    print(f"  ratio RosettaSciIO / native         {t_rsciio / t_native:9.2f}x  (goal >= 3x)")


def lazy_benchmark(gib: float, repeats: int) -> None:
    from rsciio.digitalmicrograph import file_reader

    frames = max(1, int(gib * 2**30 / (1024 * 1024 * 4)))
    with tempfile.TemporaryDirectory(prefix="stonerimg-dm4-") as tmp:
        path = write_dm(Path(tmp) / "stack.dm4", Zeros((frames, 1024, 1024), np.float32), version=4)
        size = path.stat().st_size

        def native():
            with stonerimg.open(path) as stack:
                return stack.shape

        def rosettasciio():
            return file_reader(str(path), lazy=True)[0]["data"].shape

        assert native() == rosettasciio() == (frames, 1024, 1024)
        t_native, t_rsciio = interleaved_medians([native, rosettasciio], repeats)
        with stonerimg.open(path) as stack:
            plane = np.asarray(stack.load_plane(frames - 1))
        assert plane.shape == (1024, 1024) and not plane.any()
    print(f"lazy open of a {size / 2**30:.2f} GiB DM4 stack ({frames} x 1024 x 1024 float32)")
    print(f"median of {repeats}")
    print(f"  stonerimg.open                      {t_native * 1000:9.2f} ms  (goal < 50 ms)")
    print(f"  RosettaSciIO file_reader(lazy=True) {t_rsciio * 1000:9.2f} ms")
    print(f"  ratio RosettaSciIO / native         {t_rsciio / t_native:9.2f}x")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=200)
    parser.add_argument("--gib", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--folder-repeats", type=int, default=5)
    args = parser.parse_args()
    if not STEM.is_file():
        raise SystemExit(f"no {STEM}; set STONERIMG_SAMPLE_DATA")
    folder_benchmark(args.copies, args.folder_repeats)
    lazy_benchmark(args.gib, args.repeats)


if __name__ == "__main__":
    main()
